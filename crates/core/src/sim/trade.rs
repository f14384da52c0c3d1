//! Market allocation, one commodity at a time: sellers offer their stock, aggregated by
//! exporting country; buyers are served by priority tier, first from home (the model's home
//! bias), then from abroad pro-rata, weighted by what policy allows and what tariffs cost.
//!
//! This is the engine's hot loop. Who trades what is resolved to flat tables ([`Links`])
//! when the topology changes; each step fills per-slot buffers once per commodity (request,
//! need, cover, country, stage), and the passes borrow the fields they need one by one. A
//! commodity that no policy touches takes the open path: every buyer weighs the exporters
//! alike, so a tier's import pass has a closed form (`import_open`); under policies, weights,
//! licences and quotas apply flow by flow (`import_ruled`).

use super::*;

/// Marks a buyer slot that is not a facility (no stage to count dependency for).
const NO_STAGE: usize = usize::MAX;
/// An index that does not apply (no facility, no stockpile, no single stock entry).
const NONE: usize = usize::MAX;

/// Who trades one commodity, resolved to indices when the topology changes so that every
/// pass reads flat tables. Buyers are in serving order: by priority, then node.
#[derive(Debug, Clone, Default)]
pub(super) struct Links {
    pub(super) sellers: Vec<SellerLink>,
    pub(super) buyers: Vec<BuyerLink>,
    /// The sellers' countries, ascending, once each: the exporters a rule can matter for.
    pub(super) seller_countries: Vec<CountryId>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct SellerLink {
    pub(super) country: CountryId,
    pub(super) market: usize,
    /// The node's stock of the commodity's form starts at `base`; `stock` is its element.
    pub(super) base: usize,
    pub(super) stock: usize,
    pub(super) facility: usize,
    pub(super) stockpile: usize,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct BuyerLink {
    pub(super) node: usize,
    pub(super) country: CountryId,
    pub(super) market: usize,
    pub(super) priority: i32,
    /// As for sellers; `stock` is NONE for a mixed form (the whole vector counts).
    pub(super) base: usize,
    pub(super) stock: usize,
    /// Index into `on_order`.
    pub(super) order: usize,
    pub(super) stage: usize,
    /// Cover the buyer aims to hold, in steps of use.
    pub(super) cover: f64,
    pub(super) need: NeedOf,
}

/// Where a buyer's use of the commodity per step comes from.
#[derive(Debug, Clone, Copy)]
pub(super) enum NeedOf {
    /// A plant's plan × its recipe's share of the element ÷ recovery (the plan itself for a
    /// mixed input).
    Plant {
        f: FacilityId,
        r: RecipeId,
        e: Option<ElemId>,
        recovery: f64,
    },
    /// A sector buyer's part of the sector's need, × the element's share of its mix.
    Sector {
        sector: SectorId,
        share: f64,
        mix: Option<f64>,
    },
    /// A plant that plans nothing of this commodity (a mine; a throughput plant's
    /// element-resolved input).
    Nothing,
    /// A stockpile buys toward its target at its rate, not to a use.
    Stockpile(StockpileId),
}

impl Sim {
    /// The trading tables, from who buys and sells what.
    pub(super) fn build_links(&mut self) {
        let m = &self.model;
        let (nf, ne, nc) = (m.forms.len(), m.elements.len(), m.commodities.len());
        let weeks_to_steps = 7.0 / m.step_days as f64;
        self.links = (0..nc)
            .map(|c| {
                let com = m.commodities[c];
                let place = |n: usize| {
                    let base = (n * nf + com.form) * ne;
                    (base, com.element.map_or(NONE, |e| base + e))
                };
                let sellers = self.sellers_of[c]
                    .iter()
                    .map(|&n| {
                        let node = &self.nodes[n];
                        let (base, stock) = place(n);
                        SellerLink {
                            country: node.country,
                            market: m.countries[node.country].market,
                            base,
                            stock,
                            facility: match node.kind {
                                NodeKind::Facility(f) => f,
                                _ => NONE,
                            },
                            stockpile: match node.kind {
                                NodeKind::Stockpile(sp) => sp,
                                _ => NONE,
                            },
                        }
                    })
                    .collect();
                let buyers = self.buyers_of[c]
                    .iter()
                    .map(|&n| {
                        let node = &self.nodes[n];
                        let (base, stock) = place(n);
                        let (need, cover, stage) = match node.kind {
                            NodeKind::Facility(f) => {
                                let fac = &m.facilities[f];
                                let need = match fac.process {
                                    Process::Convert(r) => {
                                        let empty = self.composition[r].is_empty();
                                        match com.element {
                                            Some(_) if empty => NeedOf::Nothing,
                                            e => NeedOf::Plant {
                                                f,
                                                r,
                                                e,
                                                recovery: m.recipes[r].recovery.max(1e-9),
                                            },
                                        }
                                    }
                                    Process::Mine(_) => NeedOf::Nothing,
                                };
                                (need, fac.cover_weeks * weeks_to_steps, fac.stage)
                            }
                            NodeKind::Buyer { sector, share } => {
                                let sec = &m.sectors[sector];
                                let need = NeedOf::Sector {
                                    sector,
                                    share,
                                    mix: com.element.map(|e| sec.mix[e]),
                                };
                                (need, sec.cover_weeks * weeks_to_steps, NO_STAGE)
                            }
                            NodeKind::Stockpile(sp) => (NeedOf::Stockpile(sp), 0.0, NO_STAGE),
                        };
                        BuyerLink {
                            node: n,
                            country: node.country,
                            market: m.countries[node.country].market,
                            priority: node.priority,
                            base,
                            stock,
                            order: n * nc + c,
                            stage,
                            cover,
                            need,
                        }
                    })
                    .collect();
                let mut seller_countries: Vec<CountryId> = self.sellers_of[c]
                    .iter()
                    .map(|&n| self.nodes[n].country)
                    .collect();
                seller_countries.sort_unstable();
                seller_countries.dedup();
                Links {
                    sellers,
                    buyers,
                    seller_countries,
                }
            })
            .collect();
    }
}

impl Sim {
    pub(super) fn trade(&mut self) {
        let nc = self.model.commodities.len();
        let nmk = self.model.markets.len();
        let year = self.date().year();
        let spy = self.model.steps_per_year();
        self.year_frac = {
            let d = self.date();
            let y0 = Date::from_ymd(d.year(), 1, 1)
                .map(|x| x.days())
                .unwrap_or(d.days());
            ((d.days() - y0) as f64 / 365.25 + 1.0 / spy).min(1.0)
        };
        for q in &mut self.quotas {
            if q.2 != year {
                *q = (q.0, 0.0, year);
            }
        }
        // Exporters fill their dearest orders first: what a shared quota is spent on.
        let mut trade_order = std::mem::take(&mut self.scratch.trade_order);
        {
            let s = &mut self.scratch;
            for c in 0..nc {
                s.dearest[c] = (0..nmk)
                    .map(|mk| self.price[mk * nc + c])
                    .fold(0.0, f64::max);
            }
            let dearest = &s.dearest;
            trade_order
                .sort_unstable_by(|&a, &b| dearest[b].total_cmp(&dearest[a]).then(a.cmp(&b)));
        }
        for &c in &trade_order {
            self.trade_commodity(c);
        }
        self.scratch.trade_order = trade_order;
    }

    fn trade_commodity(&mut self, c: CommodityId) {
        let links = std::mem::take(&mut self.links[c]);
        if !links.buyers.is_empty() && !links.sellers.is_empty() {
            self.trade_links(c, &links);
        }
        self.links[c] = links;
    }

    fn trade_links(&mut self, c: CommodityId, links: &Links) {
        let total_supply = self.gather_offers(c, &links.sellers);
        let total_request = self.gather_requests(c, &links.buyers);
        // Sellers' unsold stock and buyers' cover feed the price update either way.
        if total_supply > 0.0 && total_request > 0.0 {
            let s = &mut self.scratch;
            s.avail.copy_from_slice(&s.supply);
            let buyers = &links.buyers;
            // Tiers of equal priority, highest first.
            let mut start = 0;
            while start < buyers.len() {
                let pr = buyers[start].priority;
                let mut end = start;
                while end < buyers.len() && buyers[end].priority == pr {
                    end += 1;
                }
                // A tier that asks for nothing (stockpiles not buying, say) has nothing to do.
                if self.scratch.request[start..end].iter().any(|&r| r > 0.0) {
                    self.home_pass(start..end);
                    self.import_passes(c, buyers, start..end);
                }
                start = end;
            }
            self.settle(c, links);
        }
        self.note_market_state(c, &links.buyers);
    }

    /// Sellers' offers of `c`, summed by exporting country (with their element mix for a
    /// mixed form). Returns the total on offer.
    fn gather_offers(&mut self, c: CommodityId, sellers: &[SellerLink]) -> f64 {
        let m = &self.model;
        let ne = m.elements.len();
        let spy = m.steps_per_year();
        let mixed = m.commodities[c].element.is_none();
        let stock = &self.stock;
        let s = &mut self.scratch;
        s.active.clear();
        s.supply.fill(0.0);
        s.drawn.fill(0.0);
        s.delayed.fill(0.0);
        if mixed {
            s.comp.fill(0.0);
        }
        for (k, l) in sellers.iter().enumerate() {
            let offer = if mixed || l.stockpile != NONE {
                let held = &stock[l.base..l.base + ne];
                let have = if mixed {
                    held.iter().sum()
                } else {
                    stock[l.stock]
                };
                s.held[k] = have;
                if l.stockpile != NONE {
                    // A stockpile releases at its rate, spread over its holding's mix.
                    let rate = self.stockpile_release[l.stockpile] / spy;
                    let h: f64 = held.iter().sum();
                    let share = if !mixed && h > 0.0 { have / h } else { 1.0 };
                    have.min(rate * share)
                } else {
                    have
                }
            } else {
                stock[l.stock]
            };
            s.offer[k] = offer;
            let x = l.country;
            if offer > 0.0 && s.supply[x] == 0.0 {
                s.active.push(x);
            }
            s.supply[x] += offer;
            if mixed && offer > 0.0 {
                let held = &stock[l.base..l.base + ne];
                let total = s.held[k];
                for e in 0..ne {
                    s.comp[x * ne + e] += offer * held[e] / total;
                }
            }
        }
        s.supply.iter().sum()
    }

    /// Each buyer's request for `c` this step, with the need and cover it was computed from
    /// (licences and the price update read them again). Returns the total requested.
    fn gather_requests(&mut self, c: CommodityId, buyers: &[BuyerLink]) -> f64 {
        let mut total = 0.0;
        for (slot, l) in buyers.iter().enumerate() {
            let need = self.link_need(l);
            let (r, held) = self.link_request(l, c, need);
            self.scratch.bought[slot] = held;
            let s = &mut self.scratch;
            s.request[slot] = r;
            s.need[slot] = need;
            s.cover[slot] = l.cover;
            s.buyer_country[slot] = l.country;
            s.buyer_stage[slot] = l.stage;
            s.got[slot] = 0.0;
            s.licensed[slot] = 0.0;
            s.received[slot] = false;
            total += r;
        }
        total
    }

    /// A buyer's use of its commodity this step (t).
    pub(super) fn link_need(&self, l: &BuyerLink) -> f64 {
        match l.need {
            NeedOf::Plant {
                f,
                r,
                e: Some(e),
                recovery,
            } => self.plan[f] * self.composition[r][e] / recovery,
            NeedOf::Plant { f, e: None, .. } => self.plan[f],
            NeedOf::Sector { sector, share, mix } => {
                let base = self.sec_need[sector] * share;
                match mix {
                    Some(mix) => base * mix,
                    None => base,
                }
            }
            NeedOf::Nothing | NeedOf::Stockpile(_) => 0.0,
        }
    }

    /// What a buyer asks for this step (t), net of what it holds and has on order, given
    /// its `need`; and what it holds.
    pub(super) fn link_request(&self, l: &BuyerLink, c: CommodityId, need: f64) -> (f64, f64) {
        let ne = self.model.elements.len();
        let held = if l.stock == NONE {
            self.stock[l.base..l.base + ne].iter().sum()
        } else {
            self.stock[l.stock]
        };
        let on_order = self.on_order[l.order];
        let request = match l.need {
            NeedOf::Stockpile(sp) => {
                // Toward the target, no faster than the buying rate, in the holding's mix.
                let e = self.model.commodities[c].element;
                let share = e.map_or(1.0, |e| self.holding_share[sp * ne + e]);
                let rate = self.stockpile_buy[sp] / self.model.steps_per_year();
                let want = (self.stockpile_target[sp] * share - held)
                    .max(0.0)
                    .min(rate * share);
                (want - on_order).max(0.0)
            }
            _ => (need * (1.0 + l.cover) - (held + on_order)).max(0.0),
        };
        (request, held)
    }

    /// Home pass: a share of each request offered to sellers at home, pro-rata.
    fn home_pass(&mut self, tier: std::ops::Range<usize>) {
        let home_bias = self.model.behaviour.home_bias;
        let s = &mut self.scratch;
        s.claims.fill(0.0);
        for slot in tier.clone() {
            s.claims[s.buyer_country[slot]] += s.request[slot] * home_bias;
        }
        s.weights.fill(0.0);
        for &x in &s.active {
            s.weights[x] = if s.claims[x] > 0.0 {
                (s.avail[x] / s.claims[x]).min(1.0)
            } else {
                0.0
            };
        }
        for slot in tier {
            let x = s.buyer_country[slot];
            let q = s.request[slot] * home_bias * s.weights[x];
            if q > 0.0 {
                s.got[slot] += q;
                s.avail[x] -= q;
                s.drawn[x] += q;
            }
        }
    }

    /// Import pass, twice so unfilled claims can move to other exporters. Each buyer
    /// spreads what it still wants over exporters by weight (what is on offer × what policy
    /// allows × the tariff factor); each exporter then fills its claims pro-rata. Only
    /// exporters with something left take part.
    fn import_passes(
        &mut self,
        c: CommodityId,
        buyers: &[BuyerLink],
        tier: std::ops::Range<usize>,
    ) {
        let s = &mut self.scratch;
        s.live.clear();
        for &x in &s.active {
            if s.avail[x] > 1e-12 {
                s.live.push(x);
            }
        }
        if self.open[c] {
            self.import_open(c, tier);
        } else {
            self.import_ruled(c, buyers, tier);
        }
    }

    /// The import pass when no policy touches the commodity. Every buyer then weighs the
    /// exporters alike, by what they have on offer, and claims on each exporter are pro-rata
    /// to its offer: every exporter fills the same share of its claims, all of them when
    /// there is enough, else as much as it has. One pass settles it, in closed form: each
    /// buyer gets the same share of what it wants, each exporter gives the same share of
    /// what it offers, and flows split by buyer country.
    fn import_open(&mut self, c: CommodityId, tier: std::ops::Range<usize>) {
        let m = &self.model;
        let (nx, nf) = (m.countries.len(), m.forms.len());
        let form = m.commodities[c].form;
        let s = &mut self.scratch;
        let wsum: f64 = s.live.iter().map(|&x| s.avail[x]).sum();
        // What the tier still wants, in total and by buyer country.
        s.want_by_country.fill(0.0);
        s.tier_countries.clear();
        let mut total = 0.0;
        for slot in tier.clone() {
            let want = s.request[slot] - s.got[slot];
            if want <= 1e-12 {
                s.want[slot] = 0.0;
                continue;
            }
            s.want[slot] = want;
            let bx = s.buyer_country[slot];
            if s.want_by_country[bx] == 0.0 {
                s.tier_countries.push(bx);
            }
            s.want_by_country[bx] += want;
            total += want;
        }
        if total <= 0.0 || wsum <= 0.0 {
            return;
        }
        // Share of each buyer's want that is met, and of each exporter's offer that goes.
        let fill = (wsum / total).min(1.0);
        let drawn_share = (total * fill / wsum).min(1.0);
        s.weights.fill(0.0);
        for &x in &s.live {
            let offer_share = s.avail[x] / wsum;
            s.weights[x] = offer_share;
            let drawn = s.avail[x] * drawn_share;
            s.avail[x] -= drawn;
            s.drawn[x] += drawn;
            // An exporter serves every buyer country but its own.
            let home = s.want_by_country[x];
            s.exports[x * nf + form] += (total - home) * fill * offer_share;
            let row = &mut s.pair[x * nx..(x + 1) * nx];
            for &bx in &s.tier_countries {
                if bx != x {
                    row[bx] += s.want_by_country[bx] * fill * offer_share;
                }
            }
        }
        // Each buyer country imports from every exporter but itself (its own offer share
        // is zero unless it exports).
        for &bx in &s.tier_countries {
            s.imports[bx * nf + form] += s.want_by_country[bx] * fill * (1.0 - s.weights[bx]);
        }
        // Buyers' receipts; facilities count what came from abroad.
        for slot in tier {
            let want = s.want[slot];
            if want <= 0.0 {
                continue;
            }
            let got = want * fill;
            s.got[slot] += got;
            let stage = s.buyer_stage[slot];
            if stage != NO_STAGE {
                let bx = s.buyer_country[slot];
                s.dep_foreign[stage * nx + bx] += got * (1.0 - s.weights[bx]);
            }
        }
    }

    /// The import pass under policies: weights per buyer and exporter from the rules, with
    /// licences (approval share and delay) and quotas applied flow by flow.
    fn import_ruled(&mut self, c: CommodityId, buyers: &[BuyerLink], tier: std::ops::Range<usize>) {
        let Sim {
            model,
            step,
            rules,
            rule_offset,
            quotas,
            policies,
            year_frac,
            pending,
            on_order,
            scratch: s,
            ..
        } = self;
        let nx = model.countries.len();
        let nf = model.forms.len();
        let nc = model.commodities.len();
        let rules = &rules[rule_offset[c]..];
        let com = model.commodities[c];
        let mut live = std::mem::take(&mut s.live);
        let mut order = std::mem::take(&mut s.order);
        for _round in 0..2 {
            if live.is_empty() {
                break;
            }
            order.clear();
            for &x in &live {
                s.claims[x] = 0.0;
            }
            for slot in tier.clone() {
                let want = s.request[slot] - s.got[slot];
                if want <= 1e-12 {
                    continue;
                }
                let row = slot * nx;
                let bx = s.buyer_country[slot];
                let mut wsum = 0.0;
                for &x in &live {
                    let w = if x == bx {
                        s.avail[x]
                    } else {
                        let rule = &rules[row + x];
                        let cap = match rule.quota {
                            None => s.avail[x],
                            Some(qi) => quota_cap(s.avail[x], quotas[qi], policies, *year_frac),
                        };
                        cap * rule.allow * rule.tariff
                    };
                    s.wmat[row + x] = w;
                    wsum += w;
                }
                if wsum <= 0.0 {
                    continue;
                }
                s.wsum[slot] = wsum;
                for &x in &live {
                    s.claims[x] += want * s.wmat[row + x] / wsum;
                }
                order.push(slot);
            }
            if order.is_empty() {
                break;
            }
            // Claims become each exporter's fill ratio.
            let mut short = false;
            for &x in &live {
                s.claims[x] = if s.claims[x] > 0.0 {
                    (s.avail[x] / s.claims[x]).min(1.0)
                } else {
                    0.0
                };
                short |= s.claims[x] < 1.0 && s.claims[x] > 0.0 || s.avail[x] <= 0.0;
            }
            for &slot in &order {
                let b = buyers[slot].node;
                let bx = s.buyer_country[slot];
                let want = s.request[slot] - s.got[slot];
                let row = slot * nx;
                let wsum = s.wsum[slot];
                for &x in &live {
                    let w = s.wmat[row + x];
                    if w <= 0.0 {
                        continue;
                    }
                    let mut q = (want * w / wsum * s.claims[x]).min(s.avail[x]);
                    let rule = rules[row + x];
                    if x != bx {
                        // Only the approved share of licensed orders ships, and licences
                        // are granted against normal use, not restocking. Across both
                        // rounds: the cap is on the step's total.
                        if rule.allow < 1.0 {
                            let room = (rule.allow * s.need[slot] - s.licensed[slot]).max(0.0);
                            q = (q * rule.allow).min(room);
                            s.licensed[slot] += q;
                        }
                        if let Some(qi) = rule.quota {
                            q = q.min(quota_cap(s.avail[x], quotas[qi], policies, *year_frac));
                        } else {
                            q = q.min(s.avail[x]);
                        }
                    }
                    if q <= 0.0 {
                        continue;
                    }
                    s.got[slot] += q;
                    s.avail[x] -= q;
                    s.drawn[x] += q;
                    if x == bx {
                        continue;
                    }
                    if let Some(qi) = rule.quota {
                        quotas[qi].1 += q;
                    }
                    // A foreign flow: export and import totals count it whether it arrives
                    // now or waits in the licence queue.
                    s.exports[x * nf + com.form] += q;
                    s.imports[bx * nf + com.form] += q;
                    s.pair[x * nx + bx] += q;
                    if s.buyer_stage[slot] != NO_STAGE {
                        s.dep_foreign[s.buyer_stage[slot] * nx + bx] += q;
                    }
                    if rule.delay > 0 {
                        hold(s, pending, *step + rule.delay as usize, b, x, c, com, q);
                        on_order[b * nc + c] += q;
                        // Not delivered now: take it back out of the immediate receipts.
                        s.got[slot] -= q;
                        s.delayed[x] += q;
                    }
                }
            }
            if !short {
                break;
            }
            live.retain(|&x| s.avail[x] > 1e-12);
        }
        s.live = live;
        s.order = order;
    }

    /// Moves what was allocated: sellers in each exporter give up the drawn share of their
    /// offer; buyers receive what they got (the delayed part already sits in `pending`).
    fn settle(&mut self, c: CommodityId, links: &Links) {
        let m = &self.model;
        let (ne, nc, nx) = (m.elements.len(), m.commodities.len(), m.countries.len());
        let mixed = m.commodities[c].element.is_none();
        let stock = &mut self.stock;
        let s = &mut self.scratch;
        // Sellers.
        for (k, l) in links.sellers.iter().enumerate() {
            let x = l.country;
            let supply = s.supply[x];
            if supply <= 0.0 || s.drawn[x] <= 0.0 {
                continue;
            }
            let frac = (s.drawn[x] / supply).min(1.0);
            let give = s.offer[k] * frac;
            if give <= 0.0 {
                continue;
            }
            if mixed {
                // Nothing has touched the seller's stock since its offer was summed.
                let held = &mut stock[l.base..l.base + ne];
                let total = s.held[k];
                for e in 0..ne {
                    held[e] -= give * held[e] / total;
                }
            } else {
                stock[l.stock] -= give;
            }
            if l.facility != NONE {
                s.sold[l.facility] += give;
                s.sold_c[l.market * nc + c] += give;
            }
        }
        // The pooled composition of what was delivered now (not held by licences).
        if mixed {
            s.pool.fill(0.0);
            let now_total: f64 = (0..nx).map(|x| s.drawn[x] - s.delayed[x]).sum();
            if now_total > 0.0 {
                for x in 0..nx {
                    let dx = s.drawn[x] - s.delayed[x];
                    if dx > 0.0 {
                        for e in 0..ne {
                            s.pool[e] += (dx / now_total) * s.comp[x * ne + e] / s.supply[x];
                        }
                    }
                }
            }
        }
        // Buyers. Delayed shipments' dependency still counts when they arrive.
        for (slot, l) in links.buyers.iter().enumerate() {
            let q = s.got[slot];
            if l.stage != NO_STAGE {
                s.dep_total[l.stage * nx + l.country] += q.max(0.0);
            }
            s.got[slot] = 0.0;
            s.received[slot] = q > 0.0;
            if q <= 0.0 {
                continue;
            }
            if mixed {
                // The received vector mixes the exporters' compositions in the
                // proportions drawn: every buyer gets the pooled mix.
                for e in 0..ne {
                    stock[l.base + e] += q * s.pool[e];
                }
            } else {
                stock[l.stock] += q;
            }
        }
    }

    /// Buyers' cover and sellers' unsold stock for this commodity, by market.
    fn note_market_state(&mut self, c: CommodityId, buyers: &[BuyerLink]) {
        let m = &self.model;
        let (ne, nc) = (m.elements.len(), m.commodities.len());
        let s = &mut self.scratch;
        for (slot, l) in buyers.iter().enumerate() {
            // A holding of a mixed form is summed again only if something arrived (or, for
            // a stockpile, if it may also have sold).
            let held = if l.stock != NONE {
                self.stock[l.stock]
            } else if s.received[slot] || matches!(l.need, NeedOf::Stockpile(_)) {
                self.stock[l.base..l.base + ne].iter().sum()
            } else {
                s.bought[slot]
            };
            let have = held + self.on_order[l.order];
            let target = s.need[slot] * s.cover[slot].max(1.0);
            s.buyer_target[l.market * nc + c] += target;
            s.buyer_have[l.market * nc + c] += have.min(target);
        }
    }
}

/// Puts an approved shipment in the licence queue: the buyer receives it at `arrive`. A
/// mixed form is queued element by element in the exporter's offered mix.
#[allow(clippy::too_many_arguments)]
fn hold(
    s: &Scratch,
    pending: &mut Vec<Shipment>,
    arrive: usize,
    node: usize,
    exporter: CountryId,
    commodity: CommodityId,
    com: Commodity,
    q: f64,
) {
    let shipment = |elem, qty| Shipment {
        arrive,
        node,
        exporter,
        form: com.form,
        elem,
        commodity,
        qty,
    };
    match com.element {
        Some(e) => pending.push(shipment(e, q)),
        None => {
            let ne = s.pool.len();
            let total = s.supply[exporter];
            for e in 0..ne {
                let part = q * s.comp[exporter * ne + e] / total;
                if part > 0.0 {
                    pending.push(shipment(e, part));
                }
            }
        }
    }
}

//! Market allocation, one commodity at a time: sellers offer their stock, aggregated by
//! exporting country; buyers are served by priority tier, first from home (the model's home
//! bias), then from abroad pro-rata, weighted by what policy allows and what tariffs cost.
//!
//! This is the engine's hot loop, so it works on per-slot tables filled once per commodity
//! (request, need, cover, country, stage) and borrows the fields it needs one by one. A
//! commodity that no policy touches takes the open path: every buyer weighs the exporters
//! alike, so the weights are computed once per round instead of once per buyer.

use super::*;

/// Marks a buyer slot that is not a facility (no stage to count dependency for).
const NO_STAGE: usize = usize::MAX;

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
        if self.buyers_of[c].is_empty() || self.sellers_of[c].is_empty() {
            return;
        }
        let total_supply = self.gather_offers(c);
        let total_request = self.gather_requests(c);
        // Sellers' unsold stock and buyers' cover feed the price update either way.
        if total_supply > 0.0 && total_request > 0.0 {
            let s = &mut self.scratch;
            s.avail.copy_from_slice(&s.supply);
            let buyers = std::mem::take(&mut self.buyers_of[c]);
            // Tiers of equal priority, highest first.
            let mut start = 0;
            while start < buyers.len() {
                let pr = self.nodes[buyers[start]].priority;
                let mut end = start;
                while end < buyers.len() && self.nodes[buyers[end]].priority == pr {
                    end += 1;
                }
                self.home_pass(start..end);
                self.import_passes(c, &buyers, start..end);
                start = end;
            }
            self.buyers_of[c] = buyers;
            self.settle(c);
        }
        self.note_market_state(c);
    }

    /// Sellers' offers of `c`, summed by exporting country (with their element mix for a
    /// mixed form). Returns the total on offer.
    fn gather_offers(&mut self, c: CommodityId) -> f64 {
        let Sim {
            model,
            nodes,
            stock,
            sellers_of,
            stockpile_release,
            scratch: s,
            ..
        } = self;
        let (nf, ne) = (model.forms.len(), model.elements.len());
        let spy = model.steps_per_year();
        let com = model.commodities[c];
        s.active.clear();
        s.supply.fill(0.0);
        s.drawn.fill(0.0);
        s.delayed.fill(0.0);
        if com.element.is_none() {
            s.comp.fill(0.0);
        }
        for &n in &sellers_of[c] {
            let base = (n * nf + com.form) * ne;
            let held = &stock[base..base + ne];
            let have = match com.element {
                Some(e) => held[e],
                None => held.iter().sum(),
            };
            let offer = match nodes[n].kind {
                NodeKind::Stockpile(sp) => {
                    let rate = stockpile_release[sp] / spy;
                    let share = {
                        let h: f64 = held.iter().sum();
                        match com.element {
                            Some(_) if h > 0.0 => have / h,
                            _ => 1.0,
                        }
                    };
                    have.min(rate * share)
                }
                _ => have,
            };
            s.offer[n] = offer;
            let x = nodes[n].country;
            if offer > 0.0 && s.supply[x] == 0.0 {
                s.active.push(x);
            }
            s.supply[x] += offer;
            if com.element.is_none() && offer > 0.0 {
                let total: f64 = held.iter().sum();
                for e in 0..ne {
                    s.comp[x * ne + e] += offer * held[e] / total;
                }
            }
        }
        s.supply.iter().sum()
    }

    /// Each buyer's request for `c` this step, with the need and cover it was computed from
    /// (licences and the price update read them again). Returns the total requested.
    fn gather_requests(&mut self, c: CommodityId) -> f64 {
        let nc = self.model.commodities.len();
        let mut total = 0.0;
        for slot in 0..self.buyers_of[c].len() {
            let n = self.buyers_of[c][slot];
            let node = self.nodes[n];
            let (need, cover) = self.node_need_cover(n, c);
            let r = if let NodeKind::Stockpile(_) = node.kind {
                self.request(n, c)
            } else {
                let have = self.node_commodity_stock(n, c) + self.on_order[n * nc + c];
                (need * (1.0 + cover) - have).max(0.0)
            };
            let stage = match node.kind {
                NodeKind::Facility(f) => self.model.facilities[f].stage,
                _ => NO_STAGE,
            };
            let s = &mut self.scratch;
            s.request[slot] = r;
            s.need[slot] = need;
            s.cover[slot] = cover;
            s.buyer_country[slot] = node.country;
            s.buyer_stage[slot] = stage;
            s.got[slot] = 0.0;
            s.licensed[slot] = 0.0;
            total += r;
        }
        total
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
    fn import_passes(&mut self, c: CommodityId, buyers: &[usize], tier: std::ops::Range<usize>) {
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
    /// exporters alike (by what they have on offer), so one tonne of want draws the same
    /// from each exporter whoever wants it: the pass works on the tier's total want and its
    /// split by buyer country, not buyer by exporter.
    fn import_open(&mut self, c: CommodityId, tier: std::ops::Range<usize>) {
        let m = &self.model;
        let (nx, nf) = (m.countries.len(), m.forms.len());
        let form = m.commodities[c].form;
        let s = &mut self.scratch;
        let mut live = std::mem::take(&mut s.live);
        for _round in 0..2 {
            if live.is_empty() {
                break;
            }
            let wsum: f64 = live.iter().map(|&x| s.avail[x]).sum();
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
                break;
            }
            // Each exporter's fill ratio, and what one tonne of want draws from it.
            let mut short = false;
            let mut per_want = 0.0;
            s.weights.fill(0.0);
            for &x in &live {
                let claim = total * s.avail[x] / wsum;
                let ratio = if claim > 0.0 {
                    (s.avail[x] / claim).min(1.0)
                } else {
                    0.0
                };
                short |= ratio < 1.0 && ratio > 0.0 || s.avail[x] <= 0.0;
                s.weights[x] = s.avail[x] * ratio / wsum;
                per_want += s.weights[x];
            }
            // Exporters' draws, and the foreign flows by buyer country.
            for &x in &live {
                let g = s.weights[x];
                let drawn = (total * g).min(s.avail[x]);
                s.avail[x] -= drawn;
                s.drawn[x] += drawn;
                for &bx in &s.tier_countries {
                    if bx != x {
                        let flow = s.want_by_country[bx] * g;
                        s.exports[x * nf + form] += flow;
                        s.imports[bx * nf + form] += flow;
                        s.pair[x * nx + bx] += flow;
                    }
                }
            }
            // Buyers' receipts; facilities count what came from abroad.
            for slot in tier.clone() {
                let want = s.want[slot];
                if want <= 0.0 {
                    continue;
                }
                s.got[slot] += want * per_want;
                let stage = s.buyer_stage[slot];
                if stage != NO_STAGE {
                    let bx = s.buyer_country[slot];
                    s.dep_foreign[stage * nx + bx] += want * (per_want - s.weights[bx]).max(0.0);
                }
            }
            if !short {
                break;
            }
            live.retain(|&x| s.avail[x] > 1e-12);
        }
        s.live = live;
    }

    /// The import pass under policies: weights per buyer and exporter from the rules, with
    /// licences (approval share and delay) and quotas applied flow by flow.
    fn import_ruled(&mut self, c: CommodityId, buyers: &[usize], tier: std::ops::Range<usize>) {
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
                let b = buyers[slot];
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
    fn settle(&mut self, c: CommodityId) {
        let Sim {
            model: m,
            nodes,
            stock,
            buyers_of,
            sellers_of,
            scratch: s,
            ..
        } = self;
        let com = m.commodities[c];
        let (nf, ne, nc) = (m.forms.len(), m.elements.len(), m.commodities.len());
        let nx = m.countries.len();
        // Sellers.
        for &n in &sellers_of[c] {
            let x = nodes[n].country;
            let supply = s.supply[x];
            if supply <= 0.0 || s.drawn[x] <= 0.0 {
                continue;
            }
            let frac = (s.drawn[x] / supply).min(1.0);
            let give = s.offer[n] * frac;
            if give <= 0.0 {
                continue;
            }
            let base = (n * nf + com.form) * ne;
            match com.element {
                Some(e) => stock[base + e] -= give,
                None => {
                    let held = &mut stock[base..base + ne];
                    let total: f64 = held.iter().sum();
                    for e in 0..ne {
                        held[e] -= give * held[e] / total;
                    }
                }
            }
            if let NodeKind::Facility(f) = nodes[n].kind {
                s.sold[f] += give;
                s.sold_c[m.countries[x].market * nc + c] += give;
            }
        }
        // The pooled composition of what was delivered now (not held by licences).
        if com.element.is_none() {
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
        for (slot, &b) in buyers_of[c].iter().enumerate() {
            let q = s.got[slot];
            if s.buyer_stage[slot] != NO_STAGE {
                s.dep_total[s.buyer_stage[slot] * nx + s.buyer_country[slot]] += q.max(0.0);
            }
            s.got[slot] = 0.0;
            if q <= 0.0 {
                continue;
            }
            let base = (b * nf + com.form) * ne;
            match com.element {
                Some(e) => stock[base + e] += q,
                None => {
                    // The received vector mixes the exporters' compositions in the
                    // proportions drawn: every buyer gets the pooled mix.
                    for e in 0..ne {
                        stock[base + e] += q * s.pool[e];
                    }
                }
            }
        }
    }

    /// Buyers' cover and sellers' unsold stock for this commodity, by market.
    fn note_market_state(&mut self, c: CommodityId) {
        let nc = self.model.commodities.len();
        for slot in 0..self.buyers_of[c].len() {
            let n = self.buyers_of[c][slot];
            let have = self.node_commodity_stock(n, c) + self.on_order[n * nc + c];
            let s = &mut self.scratch;
            let mk = self.model.countries[s.buyer_country[slot]].market;
            let target = s.need[slot] * s.cover[slot].max(1.0);
            s.buyer_target[mk * nc + c] += target;
            s.buyer_have[mk * nc + c] += have.min(target);
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

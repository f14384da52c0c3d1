//! Market allocation, one commodity at a time: sellers offer their stock, aggregated by
//! exporting country; buyers are served by priority tier, first from home (the model's home
//! bias), then from abroad pro-rata, weighted by what policy allows and what tariffs cost.
//! Where users come in several tiers, a shortage is met use first: every tier's use, then
//! every tier's restocking ([`Phase`]).
//!
//! This is the engine's hot loop. Who trades what is resolved to flat tables ([`Links`])
//! when the topology changes; each step fills per-slot buffers once per commodity (request,
//! need, cover, country, stage), and the passes borrow the fields they need one by one. A
//! commodity that no policy touches takes the open path: every buyer weighs the exporters
//! alike, so each pass settles by country in closed form (`trade_open`); under policies,
//! weights, licences and quotas apply flow by flow (`trade_ruled`).

use super::*;

/// Marks a buyer slot that is not a facility (no stage to count dependency for).
pub(super) const NO_STAGE: usize = usize::MAX;
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
    /// The passes of the market, in serving order: buyers of equal priority (a tier),
    /// highest first, each with its slots and buyer countries (a range of `tier_country`);
    /// where users come in several tiers, every one's use is served before any one's
    /// restocking (see [`phases_of`]).
    pub(super) phases: Vec<Phase>,
    /// How many tiers there are (as many passes as phases unless a tier is split).
    pub(super) tiers: usize,
    /// Each tier's buyer countries, once each (and again for a tier's restocking pass); and
    /// each buyer slot's entry in its tier's first range.
    pub(super) tier_country: Vec<CountryId>,
    pub(super) slot_tc: Vec<usize>,
    /// Some seller is a stockpile (which may release as needed, after the market).
    pub(super) stockpile_sells: bool,
    /// Some buyer is a stockpile (what it asks for and gets is summed for the notes).
    pub(super) stockpile_buys: bool,
    /// Some buyer is a separator with spare lines (the market notes its backlog for it).
    pub(super) spare_buys: bool,
    /// What contracts delivered to each buyer slot this step (`Sim::deliver_contracts`).
    pub(super) contracted: Vec<f64>,
}

#[derive(Debug, Clone)]
pub(super) struct Tier {
    pub(super) slots: std::ops::Range<usize>,
    pub(super) countries: std::ops::Range<usize>,
}

/// One pass of a market: a tier's buyers asking for a part of their request. `shift` moves
/// a slot's `slot_tc` entry to this pass's range of `tier_country`.
#[derive(Debug, Clone)]
pub(super) struct Phase {
    pub(super) slots: std::ops::Range<usize>,
    pub(super) countries: std::ops::Range<usize>,
    pub(super) shift: usize,
    pub(super) part: Part,
}

/// What part of its request a buyer asks for in a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    /// All of it: use and restocking together, pro-rata.
    Whole,
    /// Up to a step's use: what it asks for, no more than its use this step.
    Use,
    /// The rest: what refills its cover.
    Restock,
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
    /// Steps of output the seller keeps as cover for its buyers: `seller_cover_weeks` for a
    /// metal or magnet plant (it makes to order from stock), 1 for a mine, a throughput
    /// plant or a stockpile (what they hold is what they offer now).
    pub(super) hold: f64,
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
        let seller_cover = (m.behaviour.seller_cover_weeks * weeks_to_steps).max(1.0);
        self.links = (0..nc)
            .map(|c| {
                let com = m.commodities[c];
                let place = |n: usize| {
                    let base = (n * nf + com.form) * ne;
                    (base, com.element.map_or(NONE, |e| base + e))
                };
                let sellers: Vec<SellerLink> = self.sellers_of[c]
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
                            hold: match node.kind {
                                NodeKind::Facility(f) => match m.facilities[f].process {
                                    Process::Convert(r) if !self.composition[r].is_empty() => {
                                        seller_cover
                                    }
                                    _ => 1.0,
                                },
                                _ => 1.0,
                            },
                        }
                    })
                    .collect();
                let buyers: Vec<BuyerLink> = self.buyers_of[c]
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
                let (tiers, mut tier_country, slot_tc) = tiers_of(&buyers);
                let phases = phases_of(&buyers, &tiers, &mut tier_country);
                let mut seller_countries: Vec<CountryId> = self.sellers_of[c]
                    .iter()
                    .map(|&n| self.nodes[n].country)
                    .collect();
                seller_countries.sort_unstable();
                seller_countries.dedup();
                let stockpile_sells = sellers.iter().any(|l| l.stockpile != NONE);
                let stockpile_buys =
                    (buyers.iter()).any(|l| matches!(l.need, NeedOf::Stockpile(_)));
                let spare_buys = (buyers.iter()).any(|l| {
                    matches!(l.need, NeedOf::Plant { f, e: None, .. }
                        if self.model.facilities[f].spare_lines)
                });
                Links {
                    stockpile_sells,
                    stockpile_buys,
                    spare_buys,
                    contracted: vec![0.0; buyers.len()],
                    sellers,
                    buyers,
                    seller_countries,
                    tiers: tiers.len(),
                    phases,
                    tier_country,
                    slot_tc,
                }
            })
            .collect();
    }
}

/// What a licensed buyer may take in a step: its use, plus what it wants beyond that spread
/// over `steps` (a review's length), so a change of terms fills a pipeline over weeks.
pub(super) fn spread(need: f64, want: f64, steps: f64) -> f64 {
    need + (want - need).max(0.0) / steps.max(1.0)
}

/// How much a buyer's cover weighs in the price update: for a plant, the share of its plan
/// its sales would call for without the hold (1 unless it holds a plan through a shortage,
/// `Sim::smooth_sales`); 1 for everyone else.
fn price_weight_of(weights: &[f64], l: &BuyerLink) -> f64 {
    match l.need {
        NeedOf::Plant { f, .. } => weights[f],
        _ => 1.0,
    }
}

/// What an exporter offers abroad first: what it holds beyond its home buyers' cover. A
/// plant that makes to order keeps `hold` steps of its sales in stock; the share of that
/// stock which covers its buyers at home (`hold` times what they drew this step, `home`,
/// and `hold` times what home buyers of lower priority will draw after this tier, `later`)
/// is offered abroad only once every exporter's export offer is spoken for (a seller that
/// keeps no cover, `hold` 1, offers everything at once; under policies `later` is not
/// counted, see `import_ruled`). So importers
/// split their orders as the exporters' flows abroad, not as their stocks: an export-only
/// plant (Korat, Ellesmere Port) is not starved by a large one whose stock mostly covers its
/// home market, whichever tier its home buyers are served in. Under a shortage every offer
/// is drawn in full, as before.
pub(super) fn export_offer(avail: f64, hold: f64, home: f64, later: f64) -> f64 {
    if hold <= 1.0 {
        // A mine, a throughput plant or a stockpile offers all it holds.
        return avail;
    }
    (avail - (hold - 1.0) * home - hold * later).clamp(0.0, avail)
}

/// A buyer whose imports wait for a licence orders that much further ahead: its pipeline
/// is part of what it aims to hold.
#[derive(Clone, Copy)]
pub(super) struct Lead {
    /// The longest review, in steps: how long its first licensed orders take.
    pub steps: usize,
    /// The pipeline it aims to hold, in steps of its use: a review's worth of what the
    /// licence passes (each review times its approval share), for the part of its supply
    /// that waits on it. A licence passes at most its share of a step's use, so a buyer
    /// aiming at a whole review of use would never reach it and would ask for the rest
    /// every step, bidding prices up as if short: a licence approving 5% priced China's
    /// magnets outside it at twice what a ban did (2026-11-30). And a licence on one
    /// exporter among several holds up only what that one ships: a buyer that ordered a
    /// whole review of its use ahead had the rest delivered at once by the exporters not
    /// under review, as stock (Malaysia's licence with full approval and a 13-week review
    /// drew 13 weeks of Japan's oxide use out of China in weeks, and left China's own
    /// metal plants without oxide: engine review, 2026-12-02).
    pub pipeline: f64,
}

/// The [`Lead`] of the buyer in `slot` from the `exporters` (bar its own country, and
/// `skip`, whose deliveries pass without review) that may ship to it; `seen` is what each
/// country had on offer at the last market, by which the buyer's supply is shared among
/// them (its home and `skip` included, with none under review). With nothing seen (the
/// first step), the whole supply counts as under the longest review.
pub(super) fn licence_lead(
    rules: &[Rule],
    nx: usize,
    slot: usize,
    home: CountryId,
    exporters: &[CountryId],
    skip: Option<CountryId>,
    seen: &[f64],
) -> Lead {
    let mut lead = Lead {
        steps: 0,
        pipeline: 0.0,
    };
    let (mut held_up, mut total, mut longest) = (0.0, 0.0, 0.0f64);
    for &x in exporters {
        let r = &rules[slot * nx + x];
        if x == home || Some(x) == skip {
            total += seen[x];
        } else if r.allow > 0.0 {
            lead.steps = lead.steps.max(r.delay as usize);
            longest = longest.max(r.delay as f64 * r.allow);
            held_up += r.delay as f64 * r.allow * seen[x];
            total += seen[x];
        }
    }
    lead.pipeline = if total > 0.0 {
        held_up / total
    } else {
        longest
    };
    lead
}

/// Buyers (in serving order) grouped into tiers of equal priority, with each tier's buyer
/// countries and each slot's place among them.
fn tiers_of(buyers: &[BuyerLink]) -> (Vec<Tier>, Vec<CountryId>, Vec<usize>) {
    let mut tiers = Vec::new();
    let mut tier_country: Vec<CountryId> = Vec::new();
    let mut slot_tc = vec![0; buyers.len()];
    let mut start = 0;
    while start < buyers.len() {
        let end = start
            + buyers[start..]
                .iter()
                .take_while(|b| b.priority == buyers[start].priority)
                .count();
        let first = tier_country.len();
        for slot in start..end {
            let x = buyers[slot].country;
            slot_tc[slot] = match tier_country[first..].iter().position(|&y| y == x) {
                Some(k) => first + k,
                None => {
                    tier_country.push(x);
                    tier_country.len() - 1
                }
            };
        }
        tiers.push(Tier {
            slots: start..end,
            countries: first..tier_country.len(),
        });
        start = end;
    }
    (tiers, tier_country, slot_tc)
}

/// The passes of a market. Priority is for use: where buyers that use the commodity (plants,
/// sectors) come in several tiers, each of them asks for up to a step's use first, highest
/// tier first, and for its restocking only once every tier's use has been served, again
/// highest first; the tiers below (government stockpiles) come last. So a defence buyer
/// refilling its cover after a control ends does not take the motor makers' use for the
/// week (the rule of rated orders: they are for use, not for building stock), and end users
/// refill their cover ahead of the plants below them. With one tier of users, each tier is
/// one pass, use and restocking together.
fn phases_of(
    buyers: &[BuyerLink],
    tiers: &[Tier],
    tier_country: &mut Vec<CountryId>,
) -> Vec<Phase> {
    let uses = |t: &Tier| {
        buyers[t.slots.clone()]
            .iter()
            .any(|b| matches!(b.need, NeedOf::Plant { .. } | NeedOf::Sector { .. }))
    };
    if tiers.is_empty() {
        return Vec::new();
    }
    let lowest = tiers.iter().rposition(uses).unwrap_or(0);
    let pass = |t: &Tier, part| Phase {
        slots: t.slots.clone(),
        countries: t.countries.clone(),
        shift: 0,
        part,
    };
    if lowest == 0 {
        return tiers.iter().map(|t| pass(t, Part::Whole)).collect();
    }
    let mut phases: Vec<Phase> = tiers[..=lowest]
        .iter()
        .map(|t| pass(t, Part::Use))
        .collect();
    for t in &tiers[..=lowest] {
        // Its own copy of the tier's countries: the open path keeps figures per pass.
        let start = tier_country.len();
        tier_country.extend_from_within(t.countries.clone());
        phases.push(Phase {
            slots: t.slots.clone(),
            countries: start..tier_country.len(),
            shift: start - t.countries.start,
            part: Part::Restock,
        });
    }
    phases.extend(tiers[lowest + 1..].iter().map(|t| pass(t, Part::Whole)));
    phases
}

/// The part a pass asks for on the open path: as built under a shortage; where supply fills
/// every request, a tier's use pass asks for all of it and its restocking pass is skipped.
fn pass_part(part: Part, split: bool) -> Option<Part> {
    match (split, part) {
        (true, part) => Some(part),
        (false, Part::Restock) => None,
        (false, _) => Some(Part::Whole),
    }
}

impl Sim {
    /// What the buyer in `slot` asks for in a pass of `part` (its request, and the part of
    /// it for this step's use, are in `Scratch::request` and `Scratch::use_now`).
    fn ask(s: &Scratch, slot: usize, part: Part) -> f64 {
        match part {
            Part::Whole => s.request[slot],
            Part::Use => s.use_now[slot],
            Part::Restock => s.request[slot] - s.use_now[slot],
        }
    }

    pub(super) fn trade(&mut self) {
        let nc = self.model.commodities.len();
        let nmk = self.model.markets.len();
        self.quota_year();
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
        // Each commodity's links are read, not changed, while it trades: out of `self` once
        // for the step (not moved out and back for each commodity).
        let links = std::mem::take(&mut self.links);
        for &c in &trade_order {
            self.trade_commodity(c, &links[c]);
        }
        self.links = links;
        self.scratch.trade_order = trade_order;
        self.note_quotas_held();
    }

    /// Where quotas stand this step: the share of the year gone by its end, and a new
    /// year's allowance when the year turns. A year's tonnes are paced by its steps (each
    /// step one 52nd or 53rd), so the step that straddles New Year gets a full step's share,
    /// not the days left of the old year. (Contracts, delivered before the markets, and the
    /// markets both read it.)
    pub(super) fn quota_year(&mut self) {
        let year = self.date().year();
        let (before, steps) = self.model.year_steps(self.step);
        self.year_frac = ((before + 1) as f64 / steps as f64).min(1.0);
        for q in &mut self.quotas {
            if q.year != year {
                (q.used, q.year) = (0.0, year);
            }
        }
    }

    fn trade_commodity(&mut self, c: CommodityId, links: &Links) {
        self.scratch.backlog[c] = 0.0;
        if !links.buyers.is_empty() && !links.sellers.is_empty() {
            self.trade_links(c, links);
            // (Read by the next step's licensed buyers: `licence_lead`.)
            let nx = self.model.countries.len();
            for &x in &links.seller_countries {
                self.supply_seen[c * nx + x] = self.scratch.supply[x];
            }
            if links.stockpile_buys {
                for (slot, l) in links.buyers.iter().enumerate() {
                    if let NeedOf::Stockpile(sp) = l.need {
                        self.stockpile_asked[sp] += self.scratch.asked[slot];
                    }
                }
            }
            if links.stockpile_sells && links.sellers.iter().any(|l| self.releases_as_needed(l)) {
                self.release_as_needed(c, links);
            }
        }
    }

    fn releases_as_needed(&self, l: &SellerLink) -> bool {
        l.stockpile != NONE
            && self.stockpile_as_needed[l.stockpile]
            && self.stockpile_release[l.stockpile] > 0.0
    }

    /// Stockpiles that release as needed, once the market has cleared: each gives its
    /// country's buyers (in serving order) what they still lack for this step's use, up to
    /// its rate over all it holds. A reserve of last resort, delivered to whoever is short,
    /// not sold into the market: it displaces no other supply, nobody abroad gets it, and a
    /// buyer the market served (one that only rebuilds its cover) gets none. It is paid the
    /// market price.
    fn release_as_needed(&mut self, c: CommodityId, links: &Links) {
        let ne = self.model.elements.len();
        let nc = self.model.commodities.len();
        let spy = self.model.steps_per_year();
        let com = self.model.commodities[c];
        let kg_per_t = 1000.0 / self.model.forms[com.form].re_share;
        for l in &links.sellers {
            if !self.releases_as_needed(l) {
                continue;
            }
            let sp = l.stockpile;
            for b in &links.buyers {
                if b.country != l.country || matches!(b.need, NeedOf::Stockpile(_)) {
                    continue;
                }
                let left = self.stockpile_release[sp] / spy - self.scratch.released[sp];
                let have = if l.stock == NONE {
                    lane_sum(&self.stock[l.base..l.base + ne])
                } else {
                    self.stock[l.stock]
                };
                if left <= NOISE || have <= NOISE {
                    break;
                }
                let need = self.link_need(b);
                let held = if b.stock == NONE {
                    lane_sum(&self.stock[b.base..b.base + ne])
                } else {
                    self.stock[b.stock]
                };
                let q = (need - held).min(left).min(have);
                if q <= NOISE {
                    continue;
                }
                if l.stock == NONE {
                    // A mixed form moves in the holding's mix.
                    let part = q / have;
                    for e in 0..ne {
                        let moved = self.stock[l.base + e] * part;
                        self.stock[l.base + e] -= moved;
                        self.stock[b.base + e] += moved;
                    }
                } else {
                    self.stock[l.stock] -= q;
                    self.stock[b.stock] += q;
                }
                self.scratch.released[sp] += q;
                self.stockpile_released[sp] += q;
                self.policy_cost[l.country] -= self.price[l.market * nc + c] * q * kg_per_t;
            }
        }
    }

    fn trade_links(&mut self, c: CommodityId, links: &Links) {
        let supply = self.gather_offers(c, links);
        if self.open[c] {
            self.trade_open(c, links, supply);
        } else if self.quota_only[c] && self.quotas_slack(c, links) {
            // Quotas alone, none of which could hold anything back this step: the open
            // path, exactly as without them, with what it ships counted against them.
            let s = &mut self.scratch;
            s.pair_before.copy_from_slice(&s.pair);
            self.trade_open(c, links, supply);
            self.charge_quotas(c, links);
        } else {
            self.trade_ruled(c, links, supply);
        }
    }

    /// Whether every quota on a commodity's exporters has room for all they have on offer
    /// (so none can hold anything back this step, whoever buys), and reaches whole
    /// countries (what it counts is then read from the trade between countries).
    fn quotas_slack(&self, c: CommodityId, links: &Links) -> bool {
        let m = &self.model;
        let (nx, ne) = (m.countries.len(), m.elements.len());
        let rules = &self.rules[self.rule_offset[c]..];
        let s = &self.scratch;
        let mixed = m.commodities[c].element.is_none();
        (links.seller_countries.iter()).all(|&x| {
            let mix = mixed.then(|| &s.comp[x * ne..(x + 1) * ne]);
            (0..links.buyers.len()).all(|slot| {
                rules[slot * nx + x].quota.iter().all(|qi| {
                    let p = &self.policies[self.quotas[qi].policy];
                    let room = quota_cap(
                        f64::INFINITY,
                        self.quotas[qi],
                        &self.policies,
                        self.year_frac,
                        mix,
                    );
                    p.to.firms.is_empty() && p.exempt.firms.is_empty() && room >= s.supply[x]
                })
            })
        })
    }

    /// Counts what the open path shipped of `c` against the quotas on its exporters: each
    /// quota the tonnes that went to the countries it reaches (`pair` less `pair_before`).
    fn charge_quotas(&mut self, c: CommodityId, links: &Links) {
        let m = &self.model;
        let (nx, ne) = (m.countries.len(), m.elements.len());
        let rules = &self.rules[self.rule_offset[c]..];
        let mixed = m.commodities[c].element.is_none();
        let s = &mut self.scratch;
        // (`quota_fill` marks the quotas already charged for this commodity.)
        s.quota_fill.fill(0.0);
        for &x in &links.seller_countries {
            for slot in 0..links.buyers.len() {
                for qi in rules[slot * nx + x].quota.iter() {
                    if s.quota_fill[qi] > 0.0 {
                        continue;
                    }
                    s.quota_fill[qi] = 1.0;
                    let p = &self.policies[self.quotas[qi].policy];
                    let shipped: f64 = (0..nx)
                        .filter(|&bx| bx != x && p.reaches(m, bx, None))
                        .map(|bx| s.pair[x * nx + bx] - s.pair_before[x * nx + bx])
                        .sum();
                    let mix = mixed.then(|| &s.comp[x * ne..(x + 1) * ne]);
                    self.quotas[qi].used += shipped * quota_share(p, mix);
                }
            }
        }
    }

    /// A commodity no policy touches. Every buyer then weighs the exporters alike, by what
    /// they have on offer, and claims on each exporter are pro-rata to its offer, so a
    /// tier's allocation has a closed form at the level of countries: each buyer in a
    /// country gets the same share of its request at home, and every buyer of the tier the
    /// same share of what it still wants from abroad. Two passes over the buyers (what they
    /// ask; what they get), two over the sellers (what they offer; what they give).
    fn trade_open(&mut self, c: CommodityId, links: &Links, total_supply: f64) {
        let ntc = links.tier_country.len();
        let mut total_request = 0.0;
        self.scratch.req_tc[..ntc].fill(0.0);
        for (slot, l) in links.buyers.iter().enumerate() {
            let need = self.link_need(l);
            let (r, held) = self.link_request(l, c, need, 0.0, 0.0);
            let s = &mut self.scratch;
            s.request[slot] = r;
            s.asked[slot] = r;
            s.use_now[slot] = need.min(r);
            s.need[slot] = need;
            s.bought[slot] = held;
            s.got[slot] = 0.0;
            s.req_tc[links.slot_tc[slot]] += r;
            total_request += r;
        }
        // Where what is on offer fills every request, each tier gets all it asks for in
        // any order: its use and restocking are served in one pass (as summed above).
        // Under a shortage, where users come in several tiers, each asks for its use first.
        let split = total_supply < total_request && links.phases.len() > links.tiers;
        if split {
            let s = &mut self.scratch;
            s.req_tc[..ntc].fill(0.0);
            for p in &links.phases {
                for slot in p.slots.clone() {
                    s.req_tc[links.slot_tc[slot] + p.shift] += Self::ask(s, slot, p.part);
                }
            }
        }
        let trading = total_supply > 0.0 && total_request > 0.0;
        if trading {
            let home_bias = self.model.behaviour.home_bias;
            let s = &mut self.scratch;
            s.avail.copy_from_slice(&s.supply);
            // What each exporter's home buyers will claim at home, over all tiers.
            for (j, &x) in links.tier_country.iter().enumerate() {
                if s.supply[x] > 0.0 {
                    s.home_later[x] += s.req_tc[j] * home_bias;
                }
            }
            for (t, phase) in links.phases.iter().enumerate() {
                if pass_part(phase.part, split).is_some() {
                    self.open_tier(c, links, t, phase);
                }
            }
            self.give(c, links);
        }
        self.receive_open(c, links, trading, split);
        self.note_backlog(c, links, total_supply, false);
    }

    /// One pass of the open market (a tier, or its use or restocking), by country: the home
    /// share first, then imports.
    fn open_tier(&mut self, c: CommodityId, links: &Links, t: usize, tier: &Phase) {
        let m = &self.model;
        let (nx, nf) = (m.countries.len(), m.forms.len());
        let form = m.commodities[c].form;
        let home_bias = m.behaviour.home_bias;
        let s = &mut self.scratch;
        let countries = &links.tier_country[tier.countries.clone()];
        let tc = tier.countries.clone();
        s.tier_fill[t] = 0.0;
        // Home: each country's sellers fill its buyers' home share pro-rata.
        for (j, &bx) in tc.clone().zip(countries) {
            let claims = s.req_tc[j] * home_bias;
            let fill = if claims > 0.0 {
                (s.avail[bx] / claims).min(1.0)
            } else {
                0.0
            };
            s.home_tc[j] = fill;
            s.home_later[bx] = (s.home_later[bx] - claims).max(0.0);
            let q = claims * fill;
            if q > 0.0 {
                s.avail[bx] -= q;
                s.drawn[bx] += q;
                s.home_drawn[bx] += q;
            }
            s.want_tc[j] = s.req_tc[j] - q;
            s.share_tc[j] = 0.0;
        }
        // Imports: what is left on offer, by exporter, and its export offer; what the tier
        // still wants.
        s.live.clear();
        let (mut wsum, mut esum) = (0.0, 0.0);
        for &x in &s.active {
            if s.avail[x] > 1e-12 {
                s.live.push(x);
                wsum += s.avail[x];
                let e = export_offer(s.avail[x], s.hold[x], s.home_drawn[x], s.home_later[x]);
                s.export_w[x] = e;
                esum += e;
            }
        }
        let total: f64 = s.want_tc[tc.clone()].iter().sum();
        if total <= 1e-12 || wsum <= 0.0 {
            return;
        }
        let fill = (wsum / total).min(1.0);
        s.tier_fill[t] = fill;
        // Export offers are drawn first, pro-rata; then, if the tier wants more, what the
        // exporters keep for their home buyers, pro-rata. `export_w` becomes each
        // exporter's draw.
        let (first, rest) = if total <= esum {
            (total / esum, 0.0)
        } else if wsum > esum {
            (1.0, ((total - esum) / (wsum - esum)).min(1.0))
        } else {
            (1.0, 0.0)
        };
        let mut dsum = 0.0;
        for &x in &s.live {
            let e = s.export_w[x];
            let d = e * first + (s.avail[x] - e) * rest;
            s.export_w[x] = d;
            dsum += d;
        }
        if dsum <= 0.0 {
            return;
        }
        // A buyer country's own share of the draw is what it does not import.
        for (j, &bx) in tc.clone().zip(countries) {
            if s.avail[bx] > 1e-12 {
                s.share_tc[j] = s.export_w[bx] / dsum;
            }
        }
        for &x in &s.live {
            let drawn = s.export_w[x].min(s.avail[x]);
            let offer_share = drawn / dsum;
            s.avail[x] -= drawn;
            s.drawn[x] += drawn;
            // An exporter serves every buyer country but its own.
            let row = &mut s.pair[x * nx..(x + 1) * nx];
            let mut home = 0.0;
            for (j, &bx) in tc.clone().zip(countries) {
                if bx == x {
                    home = s.want_tc[j];
                } else {
                    let q = s.want_tc[j] * fill * offer_share;
                    row[bx] += q;
                    s.pair_form[(x * nx + bx) * nf + form] += q;
                }
            }
            s.exports[x * nf + form] += (total - home) * fill * offer_share;
        }
        for (j, &bx) in tc.zip(countries) {
            s.imports[bx * nf + form] += s.want_tc[j] * fill * (1.0 - s.share_tc[j]);
        }
    }

    /// Open market receipts: each buyer's home share and import share, into its stock; then
    /// its cover for the price update.
    fn receive_open(&mut self, c: CommodityId, links: &Links, trading: bool, split: bool) {
        let m = &self.model;
        let (ne, nc, nx) = (m.elements.len(), m.commodities.len(), m.countries.len());
        let home_bias = m.behaviour.home_bias;
        let ease = super::ease_rate(&m.behaviour, m.step_days);
        let mixed = m.commodities[c].element.is_none();
        let kg_per_t = 1000.0 / m.forms[m.commodities[c].form].re_share;
        let stock = &mut self.stock;
        let s = &mut self.scratch;
        for (t, phase) in links.phases.iter().enumerate() {
            if !trading {
                break;
            }
            let Some(part) = pass_part(phase.part, split) else {
                continue;
            };
            for slot in phase.slots.clone() {
                let l = &links.buyers[slot];
                let j = links.slot_tc[slot] + phase.shift;
                let r = Self::ask(s, slot, part);
                let home = r * home_bias * s.home_tc[j];
                let import = (r - home) * s.tier_fill[t];
                let got = home + import;
                s.got[slot] += got;
                if l.stage != NO_STAGE {
                    s.dep_foreign[l.stage * nx + l.country] += import * (1.0 - s.share_tc[j]);
                    s.dep_total[l.stage * nx + l.country] += got;
                }
                if got > 0.0 {
                    if mixed {
                        for (h, p) in stock[l.base..l.base + ne].iter_mut().zip(&s.pool) {
                            *h += got * p;
                        }
                    } else {
                        stock[l.stock] += got;
                    }
                    // A government stockpile pays the market price for what it buys.
                    if let NeedOf::Stockpile(sp) = l.need {
                        self.policy_cost[l.country] +=
                            self.price[l.market * nc + c] * got * kg_per_t;
                        self.stockpile_got[sp] += got;
                    }
                }
            }
        }
        // Each buyer's cover, for the price update.
        for (slot, l) in links.buyers.iter().enumerate() {
            let got = s.got[slot];
            let held = if l.stock != NONE {
                stock[l.stock]
            } else if got > 0.0 || matches!(l.need, NeedOf::Stockpile(_)) {
                lane_sum(&stock[l.base..l.base + ne])
            } else {
                s.bought[slot]
            };
            let cover = Cover::of(l, held, l.cover, &self.on_order, &self.price_weight);
            let at = l.market * nc + c;
            tally_cover(s, &mut self.ease[l.order], slot, at, cover, ease);
        }
    }

    /// A commodity under policies: buyer by exporter, with licences and quotas.
    fn trade_ruled(&mut self, c: CommodityId, links: &Links, total_supply: f64) {
        let total_request = self.gather_requests(c, links);
        // Sellers' unsold stock and buyers' cover feed the price update either way.
        if total_supply > 0.0 && total_request > 0.0 {
            // Under tariffs alone, as on the open path: use and restocking are served apart
            // only under a shortage, and exporters keep back stock for their home buyers in
            // tiers still to be served, so a slight tariff changes who sells to whom only
            // slightly where supply is ample. Under a quantity control (ban, licence, quota),
            // always apart, and only the cover of home buyers served so far is kept
            // (`import_ruled`).
            let like_open = self.arbitraged[c];
            let split = !like_open || total_supply < total_request;
            let s = &mut self.scratch;
            s.avail.copy_from_slice(&s.supply);
            s.keep_later = like_open;
            if s.keep_later {
                let home_bias = self.model.behaviour.home_bias;
                for slot in 0..links.buyers.len() {
                    let x = s.buyer_country[slot];
                    if s.supply[x] > 0.0 {
                        s.home_later[x] += s.request[slot] * home_bias;
                    }
                }
            }
            // Tiers of equal priority, highest first (where users come in several tiers,
            // each asks for its use, then later for its restocking: `phases_of`). A pass that
            // asks for nothing (stockpiles not buying, say) has nothing to do. The passes
            // read `request`: a use pass sets it to the use, and the restocking pass puts
            // the whole back (what the use pass got counts toward it).
            for phase in &links.phases {
                let slots = phase.slots.clone();
                let s = &mut self.scratch;
                let Some(part) = pass_part(phase.part, split) else {
                    continue;
                };
                if part != Part::Whole {
                    for slot in slots.clone() {
                        std::mem::swap(&mut s.request[slot], &mut s.use_now[slot]);
                    }
                }
                if slots
                    .clone()
                    .any(|slot| s.request[slot] - s.got[slot] > 0.0)
                {
                    self.home_pass(slots.clone());
                    self.import_ruled(c, &links.buyers, slots.clone(), 0..2);
                    self.divert(c, &links.buyers, slots.clone());
                    self.import_ruled(c, &links.buyers, slots, 2..3);
                }
            }
            self.give(c, links);
            self.note_backlog(c, links, total_supply, true);
            self.receive(c, links);
        } else {
            self.note_backlog(c, links, total_supply, true);
        }
        self.note_market_state(c, &links.buyers);
    }

    /// What a buyer's spare lines run this step (0 but for a separator's `spare_lines`).
    fn spare_of(&self, l: &BuyerLink) -> f64 {
        match l.need {
            NeedOf::Plant { f, e: None, .. } => self.spare_run[f],
            _ => 0.0,
        }
    }

    /// What the market left on offer unsold, in steps of its buyers' use
    /// (`Scratch::backlog`; a market that did not trade, where contracts met every need,
    /// drew nothing: all it offered is left), and which plants got all they asked for of a
    /// mixed input (`Sim::fed`; under a control, what waits on a licence counts as got).
    fn note_backlog(&mut self, c: CommodityId, links: &Links, supply: f64, ruled: bool) {
        // Read only by separators with spare lines: no work in the other markets.
        if !links.spare_buys {
            return;
        }
        let Sim {
            scratch: s, fed, ..
        } = self;
        let given: f64 = links.seller_countries.iter().map(|&x| s.drawn[x]).sum();
        let need: f64 = s.need[..links.buyers.len()].iter().sum();
        s.backlog[c] = if need > NOISE {
            ((supply - given) / need).max(0.0)
        } else {
            0.0
        };
        for (slot, l) in links.buyers.iter().enumerate() {
            if let NeedOf::Plant { f, e: None, .. } = l.need {
                let got = s.got[slot] + if ruled { s.queued[slot] } else { 0.0 };
                fed[f] = got >= s.asked[slot] * (1.0 - 1e-9);
            }
        }
    }

    /// Sellers' offers of `c`, summed by exporting country (with their element mix for a
    /// mixed form). Returns the total on offer.
    fn gather_offers(&mut self, c: CommodityId, links: &Links) -> f64 {
        let (sellers, seller_countries) = (&links.sellers, &links.seller_countries);
        let m = &self.model;
        let ne = m.elements.len();
        let spy = m.steps_per_year();
        let mixed = m.commodities[c].element.is_none();
        let stock = &self.stock;
        let s = &mut self.scratch;
        s.active.clear();
        // Only the last commodity's exporters hold anything: clear those, not every country.
        for &x in &s.offered {
            s.supply[x] = 0.0;
            s.drawn[x] = 0.0;
            s.delayed[x] = 0.0;
            s.home_drawn[x] = 0.0;
            s.home_later[x] = 0.0;
            s.hold[x] = 0.0;
        }
        s.offered.clear();
        s.offered.extend_from_slice(seller_countries);
        // Offered mixes are summed and read for mixed forms only.
        if mixed {
            for &x in seller_countries {
                s.comp[x * ne..(x + 1) * ne].fill(0.0);
            }
        }
        for (k, l) in sellers.iter().enumerate() {
            let offer = if mixed || l.stockpile != NONE {
                let held = &stock[l.base..l.base + ne];
                let have = if mixed {
                    lane_sum(held)
                } else {
                    stock[l.stock]
                };
                s.held[k] = have;
                if l.stockpile != NONE {
                    // A stockpile releases at its rate, spread over its holding's mix.
                    let rate = self.stockpile_release[l.stockpile] / spy;
                    let h = lane_sum(held);
                    let share = if !mixed && h > 0.0 { have / h } else { 1.0 };
                    if self.stockpile_as_needed[l.stockpile] {
                        // A reserve of last resort is not in the market (`release_as_needed`).
                        0.0
                    } else {
                        have.min(rate * share)
                    }
                } else {
                    have
                }
            } else {
                stock[l.stock]
            };
            // A stock rounded a hair below zero offers nothing: a negative offer would keep
            // its country's supply off zero, and the country out of `active` (so out of the
            // import weights, and its own share read as over one: negative imports). Nor does
            // a stock of rounding noise: a subnormal one (1e-320 t) overflows the pooled mix
            // it is divided into.
            let offer = if offer > NOISE { offer } else { 0.0 };
            s.offer[k] = offer;
            let x = l.country;
            if offer > 0.0 && s.supply[x] == 0.0 {
                s.active.push(x);
            }
            s.supply[x] += offer;
            s.hold[x] = s.hold[x].max(l.hold);
            if mixed && offer > 0.0 {
                let held = &stock[l.base..l.base + ne];
                let scale = offer / s.held[k];
                for (c, h) in s.comp[x * ne..(x + 1) * ne].iter_mut().zip(held) {
                    *c += scale * h;
                }
            }
        }
        // Who has the good on offer, for which controls can segment its markets.
        if self.controls {
            let nx = self.model.countries.len();
            for &x in &self.scratch.active {
                self.offered_at[c * nx + x] = Some(self.step);
            }
        }
        lane_sum(&self.scratch.supply)
    }

    /// Each buyer's request for `c` this step, with the need and cover it was computed from
    /// (licences and the price update read them again). Returns the total requested.
    fn gather_requests(&mut self, c: CommodityId, links: &Links) -> f64 {
        let buyers = &links.buyers;
        let mut total = 0.0;
        let nx = self.model.countries.len();
        let rules = &self.rules[self.rule_offset[c]..];
        let seen = &self.supply_seen[c * nx..(c + 1) * nx];
        for (slot, l) in buyers.iter().enumerate() {
            let need = self.link_need(l);
            let lead = licence_lead(rules, nx, slot, l.country, &self.scratch.active, None, seen);
            let contracted = links.contracted[slot];
            let (r, held) = self.link_request(l, c, need, lead.pipeline, contracted);
            let bridge = if lead.steps > 0 && !matches!(l.need, NeedOf::Stockpile(_)) {
                // It aims to keep its cover, not only to last: what the licence will pass
                // after the review holds its stock where the wait left it (a buyer that
                // drew its cover down through a 90% licence's first review never rebuilt
                // it, and bid magnets outside China up 2.1x for years, against 1.1x at
                // 100%, 2026-11-30). What a contract delivers needs no cover of its own.
                let keep = l.cover * (need - contracted).max(0.0);
                self.bridge_of(l.order, need, held - keep, lead.steps)
            } else {
                0.0
            };
            // A buyer asks the market for at least the gap it must bridge this step, though
            // its pipeline covers its target: that arrives too late.
            let r = r.max(bridge);
            let s = &mut self.scratch;
            s.bought[slot] = held;
            s.bridge[slot] = bridge;
            s.request[slot] = r;
            s.asked[slot] = r;
            s.use_now[slot] = need.min(r);
            s.need[slot] = need;
            // Cover the price update weighs it against, pipeline included.
            s.cover[slot] = l.cover + lead.pipeline;
            s.buyer_country[slot] = l.country;
            s.buyer_stage[slot] = l.stage;
            s.got[slot] = 0.0;
            s.licensed[slot] = 0.0;
            s.queued[slot] = 0.0;
            s.received[slot] = false;
            total += r;
        }
        total
    }

    /// What a buyer waiting on a licence's review lacks this step to keep its cover until
    /// its orders arrive: over each horizon up to the review, the use that `spare` (its
    /// stock above its cover target) and the arrivals due before then fall short of, spread
    /// over that horizon; the most of these (at most a step's use). A review just begun, or
    /// terms raised so that more will come only a review on, leave such a gap; the buyer
    /// scrambles for it where it can be had now, as buyers outside China did in April
    /// 2025: it asks the market for at least the gap, and `divert` serves gaps first.
    fn bridge_of(&self, order: usize, need: f64, spare: f64, review: usize) -> f64 {
        let ring = self.due_ring;
        if ring == 0 {
            return 0.0;
        }
        let due = &self.due[order * ring..(order + 1) * ring];
        let (mut came, mut most) = (0.0, 0.0f64);
        for k in 1..=review.min(ring - 1) {
            let short = need * k as f64 - spare - came;
            most = most.max(short / k as f64);
            came += due[(self.step + k) % ring];
        }
        most.clamp(0.0, need)
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
            // Its usual rate: what spare lines run on a backlog is asked for on top
            // (`link_request`), not held as cover.
            NeedOf::Plant { f, e: None, .. } => self.plan[f] - self.spare_run[f],
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
    /// its `need`, the review it waits on (`lead`, steps) and what contracts delivered it
    /// this step; and what it holds.
    pub(super) fn link_request(
        &self,
        l: &BuyerLink,
        c: CommodityId,
        need: f64,
        lead: f64,
        contracted: f64,
    ) -> (f64, f64) {
        let ne = self.model.elements.len();
        let held = if l.stock == NONE {
            lane_sum(&self.stock[l.base..l.base + ne])
        } else {
            self.stock[l.stock]
        };
        let on_order = self.on_order[l.order];
        let request = match l.need {
            NeedOf::Stockpile(sp) => {
                // Toward the target (what is on order counts), no faster than the buying
                // rate, in the holding's mix. With a licence's review, a pipeline of that
                // many steps' buying is on order and does not hold back this step's.
                let e = self.model.commodities[c].element;
                let share = e.map_or(1.0, |e| self.holding_share[sp * ne + e]);
                let rate = self.stockpile_buy[sp] / self.model.steps_per_year() * share;
                let to_target = self.stockpile_target[sp] * share - held - on_order;
                let this_step = rate - (on_order - rate * lead).max(0.0);
                to_target.min(this_step).max(0.0)
            }
            // A buyer holds a licence's pipeline for what it buys in the market: what a
            // contract delivers this step passes without the review, so it needs no
            // pipeline (or the market's delayed orders would displace the contract).
            _ if contracted > 0.0 => {
                (need * (1.0 + l.cover) + (need - contracted).max(0.0) * lead + self.spare_of(l)
                    - (held + on_order))
                    .max(0.0)
            }
            _ => (need * (1.0 + l.cover + lead) + self.spare_of(l) - (held + on_order)).max(0.0),
        };
        // A holding at its target leaves a difference of rounding noise, not an order.
        let request = if request > NOISE { request } else { 0.0 };
        (request, held)
    }

    /// Home pass: a share of each request offered to sellers at home, pro-rata.
    fn home_pass(&mut self, tier: std::ops::Range<usize>) {
        let home_bias = self.model.behaviour.home_bias;
        let nx = self.model.countries.len();
        let s = &mut self.scratch;
        // What each buyer still wants, never below 0, and what is left on offer, never
        // below 0: a difference of rounding noise (a want of -1e-16 beside one of 1e-16, an
        // offer of -2e-16) would otherwise make a share of ±1e16 and move tonnes.
        let want = |s: &Scratch, slot: usize| (s.request[slot] - s.got[slot]).max(0.0);
        s.claims.fill(0.0);
        for slot in tier.clone() {
            s.claims[s.buyer_country[slot]] += want(s, slot) * home_bias;
        }
        s.weights.fill(0.0);
        for &x in &s.active {
            s.weights[x] = if s.claims[x] > 0.0 {
                (s.avail[x].max(0.0) / s.claims[x]).min(1.0)
            } else {
                0.0
            };
        }
        if s.keep_later {
            for &x in &s.active {
                s.home_later[x] = (s.home_later[x] - s.claims[x]).max(0.0);
            }
        }
        for slot in tier {
            let x = s.buyer_country[slot];
            let q = want(s, slot) * home_bias * s.weights[x];
            s.took[slot * nx..(slot + 1) * nx].fill(0.0);
            if q > 0.0 {
                s.got[slot] += q;
                s.avail[x] -= q;
                s.drawn[x] += q;
                s.home_drawn[x] += q;
                s.took[slot * nx + x] = q;
            }
        }
    }

    /// The import pass under policies, twice so unfilled claims can move to other
    /// exporters. Each buyer spreads what it still wants over exporters by weight (what is
    /// on offer × what policy allows × the tariff factor); each exporter then fills its
    /// claims pro-rata. Licences (approval share and delay) and quotas apply flow by flow.
    fn import_ruled(
        &mut self,
        c: CommodityId,
        buyers: &[BuyerLink],
        tier: std::ops::Range<usize>,
        rounds: std::ops::Range<usize>,
    ) {
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
            policy_cost,
            price,
            due,
            due_ring,
            scratch: s,
            ..
        } = self;
        let nx = model.countries.len();
        let nf = model.forms.len();
        let nc = model.commodities.len();
        let rules = &rules[rule_offset[c]..];
        let com = model.commodities[c];
        let kg_per_t = 1000.0 / model.forms[com.form].re_share;
        let (ne, mixed) = (model.elements.len(), com.element.is_none());
        // Only exporters with something left take part.
        let mut live = std::mem::take(&mut s.live);
        live.clear();
        live.extend(s.active.iter().filter(|&&x| s.avail[x] > 1e-12));
        // Under a licence an exporter keeps back only the cover of home buyers served so
        // far: reserving its later tiers' too sends a higher tier's orders all to the
        // exporter a licence then cuts, and the refused share never reaches the others'
        // stocks (French defence, served first, lost Japan's magnets under a China-wide
        // licence). Without one, as on the open path (`keep_later`).
        for &x in &live {
            let later = if s.keep_later { s.home_later[x] } else { 0.0 };
            s.export_w[x] = export_offer(s.avail[x], s.hold[x], s.home_drawn[x], later);
        }
        let mut order = std::mem::take(&mut s.order);
        // Licences pass a step's use first (round 0); what they refuse, and the stock a
        // buyer rebuilds, go to suppliers that deliver now (round 1), then to diversion
        // (`divert`, between the calls); only then does a licence at full approval take
        // what none of those supplied, to arrive after its review (round 2). Queued
        // first, a full approval's restocking took the licensed exporter's supply that
        // diversion swaps.
        for round in rounds {
            if live.is_empty() {
                break;
            }
            order.clear();
            for &x in &live {
                s.claims[x] = 0.0;
            }
            // What the buyers each quota reaches still want in all: a quota with room for it
            // cannot bind in this round, and leaves its exporter's offer whole (capped at its
            // room, a quota with a week's allowance only, as each year begins, turned buyers
            // from an exporter it would never have held back: a 1 Mt/yr quota on China's
            // oxide cut its exports 16% in the first week of a year).
            if !quotas.is_empty() {
                s.quota_want.fill(0.0);
                for slot in tier.clone() {
                    let want = (s.request[slot] - s.got[slot] - s.queued[slot]).max(0.0);
                    for &x in &live {
                        for qi in rules[slot * nx + x].quota.iter() {
                            s.quota_want[qi] += want;
                        }
                    }
                }
            }
            for slot in tier.clone() {
                let want = s.request[slot] - s.got[slot] - s.queued[slot];
                if want <= 1e-12 {
                    continue;
                }
                let row = slot * nx;
                let bx = s.buyer_country[slot];
                // Orders go by the exporters' export offers first (`export_offer`); the
                // second round, or a buyer no export offer reaches, by all they have left.
                let mut wsum = 0.0;
                for by_export in [round == 0, false] {
                    wsum = 0.0;
                    for &x in &live {
                        let offer = if by_export { s.export_w[x] } else { s.avail[x] };
                        let w = if x == bx {
                            // (Round 2 is the full approvals' alone.)
                            if round < 2 {
                                offer
                            } else {
                                0.0
                            }
                        } else {
                            let rule = &rules[row + x];
                            let mix = mixed.then(|| &s.comp[x * ne..(x + 1) * ne]);
                            // Each quota judged by its own buyers' wants: only one with less
                            // room than they want caps the offer.
                            let cap = (rule.quota.iter()).fold(offer, |cap, qi| {
                                let room =
                                    quota_cap(f64::INFINITY, quotas[qi], policies, *year_frac, mix);
                                if room >= s.quota_want[qi] {
                                    cap
                                } else {
                                    cap.min(room)
                                }
                            });
                            // A licence decides on a step's application once (what it
                            // refused is ordered from the others in the second round), and
                            // passes no more than its room.
                            let licensed = rule.allow < 1.0 || rule.delay > 0;
                            let full = rule.allow >= 1.0 && rule.delay > 0;
                            let room = |rebuild| {
                                let done = s.licensed[slot];
                                licence_room(s, &buyers[slot], slot, rule, done, rebuild)
                            };
                            let closed = match round {
                                0 => licensed && room(false) <= 0.0,
                                1 => licensed,
                                _ => !full || room(true) <= 0.0,
                            };
                            if closed {
                                0.0
                            } else {
                                cap * rule.allow * rule.tariff
                            }
                        };
                        s.wmat[row + x] = w;
                        wsum += w;
                    }
                    if wsum > 0.0 || !by_export {
                        break;
                    }
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
            let (mut short, mut refused) = (false, false);
            for &x in &live {
                s.claims[x] = if s.claims[x] > 0.0 {
                    (s.avail[x] / s.claims[x]).min(1.0)
                } else {
                    0.0
                };
                short |= s.claims[x] < 1.0 && s.claims[x] > 0.0 || s.avail[x] <= 0.0;
            }
            let capped = share_quota_room(
                s,
                Flows {
                    rules,
                    quotas,
                    policies,
                    year_frac: *year_frac,
                    nx,
                    ne,
                    mixed,
                    rebuild: round > 0,
                },
                buyers,
                &order,
                &live,
            );
            for &slot in &order {
                let b = buyers[slot].node;
                let bx = s.buyer_country[slot];
                let want = s.request[slot] - s.got[slot] - s.queued[slot];
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
                        // are granted against normal use: a step's use, plus, at full
                        // approval under a review, the stock and pipeline the buyer is
                        // short of spread over the review's length (a change of terms
                        // fills the pipeline over weeks, not in one week's orders). A
                        // government stockpile has no use: its purchases are licensed as
                        // ordered, at the approval share. Across both rounds: the cap is
                        // on the step's total.
                        if rule.allow < 1.0 || rule.delay > 0 {
                            let room = licence_room(
                                s,
                                &buyers[slot],
                                slot,
                                &rule,
                                s.licensed[slot],
                                round > 0,
                            );
                            let asked = q;
                            q = (q * rule.allow).min(room);
                            s.licensed[slot] += q;
                            // What a licence refused is ordered again from the others.
                            refused |= q < asked;
                        }
                        // A quota's room goes to the flows it caps pro-rata.
                        q *= rule
                            .quota
                            .iter()
                            .map(|qi| s.quota_fill[qi])
                            .fold(1.0, f64::min);
                        let mix = mixed.then(|| &s.comp[x * ne..(x + 1) * ne]);
                        q = q.min(quota_room(
                            rule.quota, s.avail[x], quotas, policies, *year_frac, mix,
                        ));
                    }
                    if q <= 0.0 {
                        continue;
                    }
                    s.got[slot] += q;
                    s.avail[x] -= q;
                    s.drawn[x] += q;
                    s.took[row + x] += q;
                    if x == bx {
                        continue;
                    }
                    let mix = mixed.then(|| &s.comp[x * ne..(x + 1) * ne]);
                    quota_spend(rule.quota, q, quotas, policies, mix);
                    // A foreign flow: export and import totals count it whether it arrives
                    // now or waits in the licence queue.
                    s.exports[x * nf + com.form] += q;
                    s.imports[bx * nf + com.form] += q;
                    s.pair[x * nx + bx] += q;
                    s.pair_form[(x * nx + bx) * nf + com.form] += q;
                    if s.buyer_stage[slot] != NO_STAGE {
                        s.dep_foreign[s.buyer_stage[slot] * nx + bx] += q;
                    }
                    // The importer collects its duty on the flow's value at its price.
                    if rule.duty > 0.0 && pays_duty(&buyers[slot]) {
                        let value = price[buyers[slot].market * nc + c] * q * kg_per_t;
                        policy_cost[bx] -= value * rule.duty;
                    }
                    if rule.delay > 0 {
                        let arrive = *step + rule.delay as usize;
                        hold(s, pending, arrive, b, x, c, com, q);
                        on_order[b * nc + c] += q;
                        due[(b * nc + c) * *due_ring + arrive % *due_ring] += q;
                        // Not delivered now: take it back out of the immediate receipts,
                        // but count it in the buyer's supply for dependency, as its
                        // foreign share was (both when ordered).
                        s.got[slot] -= q;
                        s.took[row + x] -= q;
                        s.queued[slot] += q;
                        s.delayed[x] += q;
                        if s.buyer_stage[slot] != NO_STAGE {
                            s.dep_total[s.buyer_stage[slot] * nx + bx] += q;
                        }
                    }
                }
            }
            // What a quota held back is ordered from the others, as a licence's refusal is.
            if !short && !refused && !capped {
                break;
            }
            live.retain(|&x| s.avail[x] > 1e-12);
        }
        s.live = live;
        s.order = order;
    }

    /// Trade diversion. A buyer that a control keeps from an exporter with supply left (a
    /// ban, a refused share, a licence's wait) gets what buyers of its tier, in other
    /// countries or other firms, received from suppliers it may use, up to the `diversion`
    /// share of it; those buyers take the controlled exporter's supply instead. Under a ban
    /// on the US, Chinese magnets go to Japan and Japan's own to the US. Each new route
    /// carries what its rule lets through: a ban, a licence's wait or a quota on it closes
    /// it, an approval share or a tariff scales it. Every buyer ends the step with what it
    /// had or more. The blocked buyers share what can be re-routed pro-rata to what they
    /// still want (a trial pass finds how much that is), and a last pass gives what is left
    /// to those who can still use it. Trade, imports, exports and dependency follow the
    /// new routes.
    fn divert(&mut self, c: CommodityId, buyers: &[BuyerLink], tier: std::ops::Range<usize>) {
        let share = self.model.behaviour.diversion;
        if share <= 0.0 {
            return;
        }
        let nx = self.model.countries.len();
        let s = &mut self.scratch;
        let (took, slots) = (tier.start * nx..tier.end * nx, tier.clone());
        for v in &mut s.took[took.clone()] {
            *v *= share;
        }
        // Buyers bridging a licence's review are served first: what they lack is use,
        // what the others still want is mostly stock.
        if s.bridge[slots.clone()].iter().any(|&b| b > 0.0) {
            self.divert_round(c, buyers, tier.clone(), true);
        }
        self.divert_round(c, buyers, tier, false);
    }

    /// One round of [`Sim::divert`]: a trial pass on copies, then the real one with each
    /// want scaled to the fill, then what is left to whoever can still take it. With
    /// `bridges`, only what buyers lack to bridge a review.
    fn divert_round(
        &mut self,
        c: CommodityId,
        buyers: &[BuyerLink],
        tier: std::ops::Range<usize>,
        bridges: bool,
    ) {
        let nx = self.model.countries.len();
        let s = &mut self.scratch;
        let (took, slots) = (tier.start * nx..tier.end * nx, tier.clone());
        s.wmat[took.clone()].copy_from_slice(&s.took[took.clone()]);
        s.weights.copy_from_slice(&s.avail);
        s.wsum[slots.clone()].copy_from_slice(&s.got[slots.clone()]);
        s.bridge_trial[slots.clone()].copy_from_slice(&s.bridge[slots.clone()]);
        // Each buyer's sources as the round begins, and no buyer judged reached yet: both
        // hold for the round's three passes.
        s.sources.clear();
        for b in slots.clone() {
            s.sources_at[b] = s.sources.len();
            for y in 0..nx {
                if s.wmat[b * nx + y] > 1e-12 {
                    s.sources.push(y);
                }
            }
            s.reached[b] = 0;
        }
        s.sources_at[slots.end] = s.sources.len();
        let (moved, wanted) = self.divert_pass(c, buyers, tier.clone(), 1.0, false, bridges);
        let s = &mut self.scratch;
        s.took[took.clone()].copy_from_slice(&s.wmat[took]);
        s.avail.copy_from_slice(&s.weights);
        s.got[slots.clone()].copy_from_slice(&s.wsum[slots.clone()]);
        s.bridge[slots.clone()].copy_from_slice(&s.bridge_trial[slots]);
        if moved > 0.0 && wanted > 0.0 {
            let fill = (moved / wanted).min(1.0);
            self.divert_pass(c, buyers, tier.clone(), fill, true, bridges);
            // Whatever the shares left unused goes to whoever can still take it.
            self.divert_pass(c, buyers, tier, 1.0, true, bridges);
        }
    }

    /// One pass of [`Sim::divert`], each blocked buyer in turn taking `fill` of what it
    /// still wants; with `route`, the flows are counted. Returns what moved and what the
    /// blocked buyers some route reaches wanted.
    fn divert_pass(
        &mut self,
        c: CommodityId,
        buyers: &[BuyerLink],
        tier: std::ops::Range<usize>,
        fill: f64,
        route: bool,
        bridges: bool,
    ) -> (f64, f64) {
        let Sim {
            model,
            rules,
            rule_offset,
            policy_cost,
            price,
            scratch: s,
            quotas,
            policies,
            year_frac,
            ..
        } = self;
        let (nx, nf, nc) = (
            model.countries.len(),
            model.forms.len(),
            model.commodities.len(),
        );
        let form = model.commodities[c].form;
        let kg_per_t = 1000.0 / model.forms[form].re_share;
        let rules = &rules[rule_offset[c]..];
        // What a new route from `x` to the buyer in `slot` lets through, 0 to 1.
        let open = |slot: usize, x: CountryId, home: CountryId| {
            let r = &rules[slot * nx + x];
            if x == home {
                1.0
            } else if r.delay > 0 || !r.quota.is_empty() {
                0.0
            } else {
                r.allow * r.tariff
            }
        };
        let (mut moved, mut wanted) = (0.0, 0.0);
        for b in tier.clone() {
            let bx = s.buyer_country[b];
            // What it still wants, and the gap its licensed orders arrive too late for.
            let ordered = if bridges {
                0.0
            } else {
                (s.request[b] - s.got[b] - s.queued[b]).max(0.0)
            };
            // (Its open orders include the gap when its pipeline already meets its target.)
            let full = if bridges {
                s.bridge[b]
            } else {
                ordered.max(s.bridge[b])
            };
            // An exporter with supply left that a policy keeps from b, wholly or in part: a
            // ban, a licence, or a quota whose room is spent (a quota of 0 keeps as a ban).
            let kept = |x: CountryId| {
                let r = &rules[b * nx + x];
                let spent = || {
                    let room =
                        quota_room(r.quota, f64::INFINITY, quotas, policies, *year_frac, None);
                    room <= NOISE
                };
                x != bx && (r.allow < 1.0 || r.delay > 0 || (!r.quota.is_empty() && spent()))
            };
            let blocked = |x: CountryId, s: &Scratch| kept(x) && s.avail[x] > 1e-12;
            if full <= 1e-12 || !s.active.iter().any(|&x| blocked(x, s)) {
                continue;
            }
            // Only a buyer some route reaches counts toward the shares: judged on the step's
            // untouched offers and receipts (`weights` and `sources` hold them), so that
            // buyers served first in the trial do not hide the routes of those after them;
            // once a round.
            if s.reached[b] == 0 {
                let reached = s.active.iter().any(|&x| {
                    kept(x)
                        && s.weights[x] > 1e-12
                        && tier.clone().any(|b2| {
                            let h2 = s.buyer_country[b2];
                            let from = &s.sources[s.sources_at[b2]..s.sources_at[b2 + 1]];
                            b2 != b
                                && open(b2, x, h2) > 0.0
                                && from.iter().any(|&y| y != x && open(b, y, bx) > 0.0)
                        })
                });
                s.reached[b] = if reached { 2 } else { 1 };
            }
            if s.reached[b] == 1 {
                continue;
            }
            wanted += full;
            let mut want = full * fill;
            for k in 0..s.active.len() {
                let x = s.active[k];
                if want <= 1e-12 {
                    break;
                }
                if !blocked(x, s) {
                    continue;
                }
                for b2 in tier.clone() {
                    let h2 = s.buyer_country[b2];
                    let to_b2 = open(b2, x, h2);
                    if b2 == b || to_b2 <= 0.0 {
                        continue;
                    }
                    for k in s.sources_at[b2]..s.sources_at[b2 + 1] {
                        let y = s.sources[k];
                        let t = s.took[b2 * nx + y];
                        let to_b = if y == x { 0.0 } else { open(b, y, bx) };
                        if t <= 1e-12 || to_b <= 0.0 {
                            continue;
                        }
                        // A route that lets a share through uses up that much more of
                        // what b2 can release.
                        let through = to_b * to_b2;
                        let q = (t * through).min(want).min(s.avail[x]);
                        s.took[b2 * nx + y] = (t - q / through).max(0.0);
                        s.avail[x] -= q;
                        s.got[b] += q;
                        want -= q;
                        moved += q;
                        if route {
                            s.drawn[x] += q;
                            // b2's supply from y now goes to b; b2 takes as much from x.
                            let (st, st2) = (s.buyer_stage[b], s.buyer_stage[b2]);
                            // Each flow pays the duty its buyer's importer levies on it (a
                            // government stockpile pays none to its own government).
                            let mut flow = |from: CountryId, slot: usize, q: f64, stage: usize| {
                                let to = s.buyer_country[slot];
                                if from != to {
                                    s.pair[from * nx + to] += q;
                                    s.pair_form[(from * nx + to) * nf + form] += q;
                                    s.exports[from * nf + form] += q;
                                    s.imports[to * nf + form] += q;
                                    if stage != NO_STAGE {
                                        s.dep_foreign[stage * nx + to] += q;
                                    }
                                    let duty = rules[slot * nx + from].duty;
                                    if duty > 0.0 && pays_duty(&buyers[slot]) {
                                        let mk = model.countries[to].market;
                                        policy_cost[to] -= price[mk * nc + c] * q * kg_per_t * duty;
                                    }
                                }
                            };
                            flow(y, b2, -q, st2);
                            flow(y, b, q, st);
                            flow(x, b2, q, st2);
                        }
                        if want <= 1e-12 || s.avail[x] <= 1e-12 {
                            break;
                        }
                    }
                    if want <= 1e-12 || s.avail[x] <= 1e-12 {
                        break;
                    }
                }
            }
            // What came beyond its open orders bridges the wait.
            let brought = full * fill - want.max(0.0);
            s.bridge[b] = (s.bridge[b] - (brought - ordered).max(0.0)).max(0.0);
        }
        (moved, wanted)
    }

    /// Sellers in each exporter give up the drawn share of their offer; for a mixed form,
    /// the pooled composition of what is delivered now.
    fn give(&mut self, c: CommodityId, links: &Links) {
        let m = &self.model;
        let (ne, nc) = (m.elements.len(), m.commodities.len());
        let element = m.commodities[c].element;
        let mixed = element.is_none();
        let stock = &mut self.stock;
        let s = &mut self.scratch;
        // Each exporter's sellers give the same share of their offer.
        for &x in &links.seller_countries {
            let (supply, drawn) = (s.supply[x], s.drawn[x]);
            s.claims[x] = if supply > 0.0 && drawn > 0.0 {
                (drawn / supply).min(1.0)
            } else {
                0.0
            };
        }
        for (k, l) in links.sellers.iter().enumerate() {
            let give = s.offer[k] * s.claims[l.country];
            if give <= 0.0 {
                continue;
            }
            if mixed {
                // Nothing has touched the seller's stock since its offer was summed.
                let keep = 1.0 - give / s.held[k];
                for h in &mut stock[l.base..l.base + ne] {
                    *h *= keep;
                }
            } else {
                stock[l.stock] -= give;
            }
            if l.facility != NONE {
                s.sold[l.facility] += give;
                s.sold_c[l.market * nc + c] += give;
                if let Some(e) = element {
                    s.sold_e[l.facility * ne + e] += give;
                }
            }
            // What a government stockpile sells earns its price back.
            if l.stockpile != NONE {
                self.stockpile_released[l.stockpile] += give;
                let kg = give * 1000.0 / m.forms[m.commodities[c].form].re_share;
                self.policy_cost[l.country] -= self.price[l.market * nc + c] * kg;
            }
        }
        // The pooled composition of what was delivered now (not held by licences).
        if mixed {
            s.pool.fill(0.0);
            // Countries without sellers drew nothing: summing over the sellers' countries
            // (ascending) adds the same terms in the same order.
            let exporters = &links.seller_countries;
            let now_total: f64 = exporters.iter().map(|&x| s.drawn[x] - s.delayed[x]).sum();
            if now_total > 0.0 {
                for &x in exporters {
                    let dx = s.drawn[x] - s.delayed[x];
                    if dx > 0.0 {
                        let scale = dx / now_total / s.supply[x];
                        for (p, c) in s.pool.iter_mut().zip(&s.comp[x * ne..(x + 1) * ne]) {
                            *p += scale * c;
                        }
                    }
                }
            }
        }
    }

    /// Buyers receive what they got (the delayed part already sits in `pending`).
    fn receive(&mut self, c: CommodityId, links: &Links) {
        let m = &self.model;
        let (ne, nx, nc) = (m.elements.len(), m.countries.len(), m.commodities.len());
        let mixed = m.commodities[c].element.is_none();
        let kg_per_t = 1000.0 / m.forms[m.commodities[c].form].re_share;
        let stock = &mut self.stock;
        let s = &mut self.scratch;
        // What arrives now counts toward dependency (delayed shipments counted when ordered).
        for (slot, l) in links.buyers.iter().enumerate() {
            let q = s.got[slot];
            if l.stage != NO_STAGE {
                s.dep_total[l.stage * nx + l.country] += q.max(0.0);
            }
            // A stockpile's order is met by what it gets now and what waits on a review.
            if let NeedOf::Stockpile(sp) = l.need {
                self.stockpile_got[sp] += q.max(0.0) + s.queued[slot];
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
            // A government stockpile pays the market price for what it buys.
            if matches!(l.need, NeedOf::Stockpile(_)) {
                self.policy_cost[l.country] += self.price[l.market * nc + c] * q * kg_per_t;
            }
        }
    }

    /// Buyers' cover and sellers' unsold stock for this commodity, by market.
    fn note_market_state(&mut self, c: CommodityId, buyers: &[BuyerLink]) {
        let m = &self.model;
        let (ne, nc) = (m.elements.len(), m.commodities.len());
        let ease = super::ease_rate(&m.behaviour, m.step_days);
        let s = &mut self.scratch;
        for (slot, l) in buyers.iter().enumerate() {
            // A holding of a mixed form is summed again only if something arrived (or, for
            // a stockpile, if it may also have sold).
            let held = if l.stock != NONE {
                self.stock[l.stock]
            } else if s.received[slot] || matches!(l.need, NeedOf::Stockpile(_)) {
                lane_sum(&self.stock[l.base..l.base + ne])
            } else {
                s.bought[slot]
            };
            let cover = Cover::of(l, held, s.cover[slot], &self.on_order, &self.price_weight);
            let at = l.market * nc + c;
            tally_cover(s, &mut self.ease[l.order], slot, at, cover, ease);
        }
    }
}

/// A buyer's cover, as the price update weighs it: what it holds, that and what it has on
/// order, its cover target in steps of use, and its weight in the price.
struct Cover {
    held: f64,
    have: f64,
    weeks: f64,
    weight: f64,
}

impl Cover {
    fn of(l: &BuyerLink, held: f64, weeks: f64, on_order: &[f64], weights: &[f64]) -> Cover {
        Cover {
            held,
            have: held + on_order[l.order],
            weeks,
            weight: price_weight_of(weights, l),
        }
    }
}

/// Adds the buyer in `slot` to the cover tally of its market and commodity (index `at` of
/// `buyer_target`, `buyer_have`), against the target its bid answers to (`felt_target`).
fn tally_cover(s: &mut Scratch, ease: &mut f64, slot: usize, at: usize, c: Cover, rate: f64) {
    let need = s.need[slot];
    let target = felt_target(ease, c.have, c.held, need * c.weeks.max(1.0), need, rate);
    s.buyer_target[at] += target * c.weight;
    s.buyer_have[at] += c.have.min(target) * c.weight;
}

/// The cover target a buyer's price bid answers to: its target times the share of it the
/// buyer has come to count as normal (`cover_adapt_weeks`, shipped off: `rate`, the share
/// of the gap closed in a step, is then 0 and the target is whole). Switched on, a buyer
/// held below its target while it still has a step's use in stock comes, over months, to
/// count that cover as normal, and stops bidding the price up for the rest (it still
/// orders it, and takes any surplus): a market whose stocks cannot be rebuilt, because
/// supply lost is never made up or a quota passes only use, does not climb for a year on
/// stock it will not get. A buyer that runs out bids at full strength; one back at its
/// target counts the whole target again over the same months.
fn felt_target(ease: &mut f64, have: f64, held: f64, target: f64, need: f64, rate: f64) -> f64 {
    if target > NOISE && held >= need {
        let cover = (have / target).min(1.0);
        *ease += (cover - *ease) * rate;
    }
    target * *ease
}

/// What a licence still passes to the buyer in `slot` this step: the approval share of what
/// it is granted against, less what it has `licensed` already. Against a step's use; with
/// `rebuild` (the import pass's last round), a full approval under a review also passes
/// the stock and pipeline the buyer lacks, spread over the review. (A stockpile asks for
/// no more than a step's buying.) Passing restocking at the approval share of the share
/// below full approval was tried on 2026-11-30 and not kept: a buyer's stock gap comes
/// back every step the licence refuses use, so a 50% licence on magnets with a 7-day
/// review passed ~98% of China's usual exports. Buyers keep their cover through the
/// first review instead (`gather_requests`).
fn licence_room(
    s: &Scratch,
    buyer: &BuyerLink,
    slot: usize,
    rule: &Rule,
    licensed: f64,
    rebuild: bool,
) -> f64 {
    let granted = if matches!(buyer.need, NeedOf::Stockpile(_)) {
        s.request[slot]
    } else if rebuild && rule.delay > 0 && rule.allow >= 1.0 {
        spread(s.need[slot], s.request[slot], rule.delay as f64)
    } else {
        s.need[slot]
    };
    (rule.allow * granted - licensed).max(0.0)
}

/// The rules of one commodity's flows (buyer slot × exporter), the quotas they name, and
/// where the year stands.
#[derive(Clone, Copy)]
struct Flows<'a> {
    rules: &'a [Rule],
    quotas: &'a [QuotaUse],
    policies: &'a [Policy],
    year_frac: f64,
    nx: usize,
    ne: usize,
    /// The commodity is a mixed form (its flows carry the exporter's offered mix).
    mixed: bool,
    /// The round lets a licence at full approval pass stock rebuilding (`licence_room`).
    rebuild: bool,
}

/// Shares each quota's room among the flows it caps in a round of the import pass,
/// pro-rata to what each would ship (after its licence): `quota_fill[qi]` becomes the
/// share of its flows a quota lets through. Buyers of a tier are not served first come,
/// first served: under a cap on China's magnets, a country's industrial motor makers get
/// the same share of their orders as its EV makers. Returns whether a quota holds
/// anything back (its buyers then order from others in the next round).
fn share_quota_room(
    s: &mut Scratch,
    book: Flows,
    buyers: &[BuyerLink],
    order: &[usize],
    live: &[CountryId],
) -> bool {
    if book.quotas.is_empty() {
        return false;
    }
    let (nx, ne) = (book.nx, book.ne);
    s.quota_fill.fill(0.0);
    for &slot in order {
        let bx = s.buyer_country[slot];
        let want = s.request[slot] - s.got[slot] - s.queued[slot];
        let row = slot * nx;
        let mut licensed = s.licensed[slot];
        for &x in live {
            let w = s.wmat[row + x];
            if x == bx || w <= 0.0 {
                continue;
            }
            let rule = &book.rules[row + x];
            let mut q = (want * w / s.wsum[slot] * s.claims[x]).min(s.avail[x]);
            if rule.allow < 1.0 || rule.delay > 0 {
                let room = licence_room(s, &buyers[slot], slot, rule, licensed, book.rebuild);
                q = (q * rule.allow).min(room);
                licensed += q;
            }
            let mix = book.mixed.then(|| &s.comp[x * ne..(x + 1) * ne]);
            for qi in rule.quota.iter() {
                let p = &book.policies[book.quotas[qi].policy];
                s.quota_fill[qi] += q * quota_share(p, mix);
            }
        }
    }
    quota_fills(
        &mut s.quota_fill,
        book.quotas,
        book.policies,
        book.year_frac,
    )
}

/// Whether a buyer pays its country's import duty: a government stockpile does not (its
/// government would pay itself).
fn pays_duty(l: &BuyerLink) -> bool {
    !matches!(l.need, NeedOf::Stockpile(_))
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
        held: false,
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

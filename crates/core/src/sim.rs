//! The engine: a deterministic, fixed-step simulation of a model.
//!
//! State is plain data in flat arrays indexed by dense ids. [`Sim::step`] runs the phases of
//! [`PHASES`] in their fixed order (licence arrivals, per-step plans and needs, mining,
//! offtakes and contracts, market allocation, conversion, consumption, prices, policy costs,
//! demand responses, record); each phase is a function of its own, and market allocation
//! has a module of its own (`trade`). Nothing in the step loop allocates (a test counts):
//! every buffer is sized at construction, or when a policy, a built facility or a sector that
//! starts recycling changes the tables, which is an event, not a step.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use std::sync::Arc;

use crate::date::Date;
use crate::model::*;
use crate::policy::{Policy, PolicyKind};
use crate::series::Series;

mod trade;

/// A buying node: a facility's input side, a sector's buyer (one per named firm), or a
/// government stockpile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NodeKind {
    Facility(FacilityId),
    Buyer { sector: SectorId, share: f64 },
    Stockpile(StockpileId),
}

#[derive(Debug, Clone, Copy)]
pub struct Node {
    pub kind: NodeKind,
    pub country: CountryId,
    pub firm: Option<FirmId>,
    pub priority: i32,
}

/// How a flow from one exporter to one buyer of one commodity is treated.
#[derive(Debug, Clone, Copy)]
struct Rule {
    /// Share of the buyer's orders that can be placed and approved (0 = banned).
    allow: f64,
    /// Steps an approved licence takes.
    delay: u32,
    /// Weight factor from tariffs, (1 + t)^-elasticity.
    tariff: f64,
    /// The duty the importer levies on the flow's value: the tariffs compounded.
    duty: f64,
    /// The quotas that cap this flow (each must have room), as indices into `quotas`.
    quota: QuotaSet,
}

const OPEN: Rule = Rule {
    allow: 1.0,
    delay: 0,
    tariff: 1.0,
    duty: 0.0,
    quota: QuotaSet::NONE,
};

/// How many export quotas can cap one flow at once. The script host refuses a quota beyond
/// this many of one exporter in force at the same time.
pub const QUOTAS_PER_FLOW: usize = 3;

/// Up to [`QUOTAS_PER_FLOW`] export quotas over one flow (a total and a sub-quota for some
/// elements, say), without allocating: indices into `Sim::quotas`, unused slots `u32::MAX`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QuotaSet([u32; QUOTAS_PER_FLOW]);

impl QuotaSet {
    const NONE: QuotaSet = QuotaSet([u32::MAX; QUOTAS_PER_FLOW]);

    fn is_empty(self) -> bool {
        self.0[0] == u32::MAX
    }

    fn add(&mut self, qi: usize) {
        if let Some(slot) = self.0.iter_mut().find(|s| **s == u32::MAX) {
            *slot = qi as u32;
        }
    }

    fn iter(self) -> impl Iterator<Item = usize> {
        self.0
            .into_iter()
            .take_while(|&s| s != u32::MAX)
            .map(|s| s as usize)
    }
}

/// Material on its way from an exporter to a buyer (held by a licence).
#[derive(Debug, Clone, Copy)]
struct Shipment {
    arrive: usize,
    node: usize,
    exporter: CountryId,
    form: FormId,
    elem: ElemId,
    commodity: CommodityId,
    qty: f64,
    /// A ban (or an entity listing) reached it while it waited: it stays in the queue until
    /// the control lifts, and its buyer no longer counts it on order.
    held: bool,
}

/// A price floor: `payer` tops up sales of `commodity` by `facility` to `floor` $/kg.
#[derive(Debug, Clone)]
pub struct PriceFloor {
    pub facility: FacilityId,
    pub commodity: CommodityId,
    pub floor: f64,
    pub payer: CountryId,
    pub end: Option<usize>,
}

/// An offtake: a government buys `share` of a facility's output into its stockpile, at the
/// market price, before the market sees it.
#[derive(Debug, Clone)]
pub struct Offtake {
    pub facility: FacilityId,
    pub stockpile: StockpileId,
    pub share: f64,
    pub payer: CountryId,
}

/// A supply contract: `share` of a facility's new output goes to the buyers in `country`
/// that want it (captive supply, offtake agreements), before the open market sees it; with
/// `firm`, only to that firm's plants there and its subsidiaries' (a firm's own feed).
#[derive(Debug, Clone)]
pub struct Contract {
    pub facility: FacilityId,
    pub country: CountryId,
    pub share: f64,
    pub firm: Option<FirmId>,
    /// Tonnes delivered under it so far this run.
    pub delivered: f64,
}

/// A per-tonne production subsidy paid by a government to a facility.
#[derive(Debug, Clone)]
pub struct Subsidy {
    pub facility: FacilityId,
    pub per_kg: f64,
    pub payer: CountryId,
    pub end: Option<usize>,
}

/// A stochastic disruption: each step, with probability `p`, `facility` loses `share`
/// of its capacity for `steps` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomOutage {
    pub facility: FacilityId,
    pub probability: f64,
    pub share: f64,
    pub steps: usize,
}

/// Running totals per form and element for the mass balance.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Initial stock (including stockpiles) per `[form][element]`.
    pub initial: Vec<f64>,
    /// Mined, converted out, scrap returned.
    pub inflow: Vec<f64>,
    /// Converted in, consumed by sectors.
    pub outflow: Vec<f64>,
}

/// A quota in force: its policy and the tonnes it has counted in `year`.
#[derive(Debug, Clone, Copy)]
pub(super) struct QuotaUse {
    pub(super) policy: usize,
    pub(super) used: f64,
    pub(super) year: i32,
}

/// A whole run's state: what is where, prices, policies and the record.
#[derive(Debug, Clone)]
pub struct Sim {
    pub model: Arc<Model>,
    year_frac: f64,
    pub step: usize,
    pub nodes: Vec<Node>,
    /// Node of each facility and each stockpile.
    fac_node: Vec<usize>,
    sp_node: Vec<usize>,
    /// `[node][form][element]`, tonnes of rare earth.
    pub stock: Vec<f64>,
    /// `[node][commodity]`, tonnes ordered and not yet arrived.
    on_order: Vec<f64>,
    /// `[node][commodity][step % due_ring]`: tonnes on order due to arrive at that step,
    /// the buyer's arrival profile over the longest review in force (see `bridge`).
    due: Vec<f64>,
    /// Steps the arrival profile spans: one more than the longest wait of any shipment
    /// or review in force (0 until the rules are first built, when nothing waits).
    due_ring: usize,
    /// `[node][commodity]`, the share of its cover target a buyer has come to count as
    /// normal (1 at start): see `felt_target`.
    ease: Vec<f64>,
    pending: Vec<Shipment>,
    /// `[market][commodity]`, $/kg.
    pub price: Vec<f64>,
    /// Per market × commodity: log of price over its anchor, the state prices move in
    /// (`price` is its exponential, kept for readers).
    log_price: Vec<f64>,
    /// Its exponential: price over anchor, what demand and plants respond to.
    price_ratio: Vec<f64>,
    /// Per facility: capacity multiplier from levers (expand, close), outage share and end.
    pub capacity_mult: Vec<f64>,
    /// Per facility: closed by a lever (`close`; `reopen` restores it with the multiplier
    /// it had).
    pub closed: Vec<bool>,
    /// Per facility, this step: capacity, planned output, smoothed sales (t RE/step).
    cap_now: Vec<f64>,
    plan: Vec<f64>,
    sales_ema: Vec<f64>,
    /// Per facility: it has had output to sell since it last came on line (a plant that
    /// starts, or restarts, with its inputs cut off has learned nothing about its sales).
    offered_yet: Vec<bool>,
    /// Per facility: it has had output to sell at some time in the run (or at its start).
    sold_before: Vec<bool>,
    /// Per facility: its smoothed sales when an outage cut its capacity below them (0 when
    /// none is in force): what it plans on again once its capacity is back.
    before_outage: Vec<f64>,
    /// Per facility: what its sales called for this step, before its margin cut it.
    wanted: Vec<f64>,
    /// Per facility: its smoothed sales as if its plan never held (see `smooth_sales`), and
    /// the share of its input needs that its buying weighs in the price update: that over
    /// the held figure while a control keeps it from its inputs (1 otherwise), so a plan held
    /// through a ban orders but does not pin the price its neighbours pay.
    sales_free: Vec<f64>,
    price_weight: Vec<f64>,
    /// Per facility: it made less than its sales called for last step, for want of inputs or
    /// of margin, so what it sold since says what it had, not what its buyers wanted; and
    /// whether inputs were what it lacked.
    starved: Vec<bool>,
    short_of_inputs: Vec<bool>,
    /// Per facility: its capacity now (cut by an outage, a closure of lines) is below what
    /// its sales and cover call for, so it sells what it can make, not what is wanted.
    capped: Vec<bool>,
    /// Per facility making a mixed product (magnets): its output's price index as its
    /// buyers have come to see it, smoothed over `qualify_weeks` (see `prepare`).
    qualified_price: Vec<f64>,
    /// Per facility: a control keeps it from some supplier of an input (set with the rules).
    controlled: Vec<bool>,
    /// Per facility: what its spare lines run this step above its usual rate (t/step; a
    /// separator with `spare_lines` working off a backlog, 0 for every other plant). Its
    /// buyers' links read the usual rate for cover and prices, and ask for this on top.
    spare_run: Vec<f64>,
    /// Per facility: at its last market it got all it asked for of its mixed input (a
    /// separator kept short, by a control or a shortage, works off no backlog).
    fed: Vec<bool>,
    run_rate: Vec<f64>,
    /// Per sector, this step: need (t RE/step) and growth factor.
    sec_need: Vec<f64>,
    sec_growth: Vec<f64>,
    /// Per facility: scripted outages (`disrupt`, up to four at once) and the random one,
    /// each a share offline until a step. They are independent causes: their effects
    /// multiply.
    outage: Vec<[(f64, usize); OUTAGE_SLOTS]>,
    random_outage: Vec<(f64, usize)>,
    ramp_stretch: Vec<f64>,
    /// Where each facility's ramp stood when its length last changed (a technology ban
    /// stretching it, a lever): months from its start, and the share of capacity reached
    /// then. The ramp goes on from there at its new pace; (0, 0) until it changes.
    ramp_anchor: Vec<(f64, f64)>,
    /// Per sector: demand multiplier (shocks), growth, substitution state, thrift.
    pub demand_mult: Vec<f64>,
    pub growth: Vec<f64>,
    /// Per sector: the growth factor when its rate last changed, and the years since the
    /// start it changed at: demand compounds at the new rate from there.
    growth_from: Vec<(f64, f64)>,
    pub substituted: Vec<f64>,
    /// Per sector: the substitution a script decided (`substitute`), below which the
    /// price-driven response does not take it back.
    pub substituted_floor: Vec<f64>,
    /// Per sector: the output its demand would have made over the run so far, in its units
    /// (what output lost is a share of; it grows with growth and demand shocks).
    pub output_potential: Vec<f64>,
    recycle_rate: Vec<f64>,
    /// Per recipe: composition (levers may thrift Dy and Tb).
    pub composition: Vec<Vec<f64>>,
    /// Per recipe: composition before endogenous thrifting (levers change this one).
    base_composition: Vec<Vec<f64>>,
    /// The recipes' compositions as the model gives them, and per element the share of it
    /// scripts keep (`thrift`, 1 = untouched): `base_composition` is the one cut by the other.
    model_composition: Vec<Vec<f64>>,
    thrift_kept: Vec<f64>,
    /// Per fixed-proportion recipe: the elements its composition has. Thrifting moves
    /// shares among them and never adds one, so conversion need look at no other.
    recipe_elements: Vec<Vec<ElemId>>,
    /// Per throughput recipe (no fixed composition: separation, recycling): the element
    /// weights its margin is reckoned with, the typical make-up of what it takes in.
    throughput_weights: Vec<Vec<f64>>,
    /// Per market and commodity: the separation and recycling recipes its plants there take
    /// it in with (a whole concentrate, or scrap). Its price would climb without end against
    /// a lasting feed shortage; it stops rising once none would earn it back.
    bidders: Vec<Vec<RecipeId>>,
    /// Per market and commodity: for a mixed product made to a recipe (magnets), the
    /// recipe its plants there make it by, whose inputs' prices its own follows (see
    /// `update_prices`).
    makers: Vec<Option<RecipeId>>,
    /// Per recipe and thrifted element: how far the element's share has been cut (0..max).
    thrifted: Vec<Vec<f64>>,
    pub policies: Vec<Policy>,
    rules_dirty: bool,
    /// Some contract delivered this step (`Links::contracted` holds what).
    contracted_any: bool,
    /// A control on an element still reaches a mixed form only through what its sellers
    /// hold, made before a thrift took the element out: the rules are rebuilt each step
    /// until the holdings no longer carry it (see `rebuild_rules`).
    content_lingers: bool,
    /// `rule_offset[c]` + buyer slot × countries + exporter.
    rules: Vec<Rule>,
    rule_offset: Vec<usize>,
    /// Per commodity: no policy in force changes any of its flows (the fast path).
    open: Vec<bool>,
    /// Per commodity: no quantity control (ban, licence, quota) on any flow, so arbitrage
    /// pulls its markets' prices together (tariffs alone do not stop it), and its market is
    /// worked out as the open path would (`trade_ruled`).
    arbitraged: Vec<bool>,
    buyers_of: Vec<Vec<usize>>,
    sellers_of: Vec<Vec<usize>>,
    /// Per commodity: its sellers and buyers as the trading passes read them.
    links: Vec<trade::Links>,
    /// The quotas in force (see [`QuotaUse`]).
    quotas: Vec<QuotaUse>,
    /// What decides whether a control segments a commodity's markets (`classify_markets`),
    /// each remembered for `SEGMENT_MEMORY_YEARS`: per policy, the last step a quota ran
    /// out of room (a quota that replaces one like it, as the 2010 replay's each January,
    /// takes over its predecessor's); per commodity and exporter, the last step the
    /// exporter had some of it on offer. And the sets the markets were last classified by
    /// (`quota_binds` per quota, as `quotas`).
    quota_ran_out: Vec<Option<usize>>,
    offered_at: Vec<Option<usize>>,
    /// What each exporter had of each commodity on offer at the last step's market (per
    /// commodity × country): the share of a buyer's supply a licence's review holds up,
    /// which sets the pipeline it orders ahead ([`trade::licence_lead`]).
    supply_seen: Vec<f64>,
    quota_binds: Vec<bool>,
    offering: Vec<bool>,
    /// Some control is in force (else every market is open and none is classified).
    controls: bool,
    /// Per commodity: its rules on its exporters are quotas and nothing else (it may trade
    /// on the open path while none of them can bind: `quotas_slack`).
    quota_only: Vec<bool>,
    /// Per stockpile: buy rate, release rate (t/yr) and target holding (t).
    pub stockpile_buy: Vec<f64>,
    pub stockpile_release: Vec<f64>,
    pub stockpile_target: Vec<f64>,
    /// Per stockpile: its release is a reserve of last resort, given after the market to
    /// its country's buyers still short of this step's use, not sold at its rate whatever
    /// the market (see `trade::Sim::release_as_needed`).
    pub stockpile_as_needed: Vec<bool>,
    /// Per stockpile: tonnes (of rare-earth content, as every flow) it asked the markets for
    /// and tonnes they gave it, over the run, what waits on a licence's review included (a
    /// buying order the sellers could not fill is said, not left to be found).
    pub stockpile_asked: Vec<f64>,
    pub stockpile_got: Vec<f64>,
    /// Per stockpile: tonnes (of rare-earth content) it released over the run, sold at its
    /// rate or given as needed.
    pub stockpile_released: Vec<f64>,
    /// Per sector: the prices its price response reads (see `sector_price_ratio`).
    baskets: Vec<(bool, Vec<(usize, f64)>)>,
    /// Per element: its priced forms in every market (indices into `price`), the moves that
    /// drive thrifting.
    element_prices: Vec<Vec<usize>>,
    /// Per sector of a separated material: the elements it uses, with their shares.
    sector_mix: Vec<Vec<(ElemId, f64)>>,
    /// Per stockpile and element: the element's share of the starting holding.
    holding_share: Vec<f64>,
    /// Per facility × element: all it has made, and what of that its offtakes had seen when
    /// they last took (offtakes take their share of new output).
    made_total: Vec<f64>,
    offtake_seen: Vec<f64>,
    pub floors: Vec<PriceFloor>,
    pub subsidies: Vec<Subsidy>,
    pub offtakes: Vec<Offtake>,
    pub contracts: Vec<Contract>,
    pub outages: Vec<RandomOutage>,
    /// The seed of the run's random stream.
    pub seed: u64,
    /// Cumulative policy cost by paying country, $.
    pub policy_cost: Vec<f64>,
    pub ledger: Ledger,
    pub series: Series,
    rng: ChaCha8Rng,
    cols: Cols,
    scratch: Scratch,
}

/// The series every run of a model records, and where each quantity goes.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    series: Series,
    cols: Cols,
}

/// Series columns, resolved once so recording writes by index.
#[derive(Debug, Clone, Default)]
struct Cols {
    price: Vec<Option<usize>>,
    /// Facilities' output (a facility built by a lever gets a column at the end).
    facility_output: Vec<usize>,
    /// Blocks declared one after another, each in the order of its scratch array: the
    /// first column of each (stage × country production, mine output by element, exports
    /// and imports by country × form).
    production: usize,
    mine_element: usize,
    exports: usize,
    imports: usize,
    /// Trade by country pair, all forms: (index into `Scratch::pair`, column), for every
    /// pair of two countries (a country's own use is not trade).
    trade_pair: Vec<(usize, usize)>,
    /// Trade by country pair and form, for the routes some seller and buyer could use:
    /// (index into `Scratch::pair_form`, column).
    trade_form: Vec<(usize, usize)>,
    sector_shortfall: Vec<usize>,
    region_shortfall: Vec<usize>,
    output_lost: Vec<usize>,
    demand: Vec<usize>,
    substitution: Vec<usize>,
    cover: Vec<usize>,
    stockpile: Vec<usize>,
    dependency: Vec<usize>,
    hhi: Vec<usize>,
    licence_queue: Vec<usize>,
    licence_arrivals: Vec<usize>,
    policy_cost: Vec<usize>,
}

/// Per-step working buffers.
#[derive(Debug, Clone, Default)]
struct Scratch {
    offer: Vec<f64>,
    /// Per element: what an offtake takes this step (zero between offtakes).
    offtaken: Vec<f64>,
    /// The ruled market in progress has tariffs only: its exporters keep back stock for home
    /// buyers in tiers still to be served (`home_later`), as on the open path.
    keep_later: bool,
    /// Per quota in force: what a round of a market's import pass asks of it, then the
    /// share of that its room allows (`Sim::share_quota_room`).
    quota_fill: Vec<f64>,
    /// `pair` before a commodity's market, for what it shipped (`charge_quotas`).
    pair_before: Vec<f64>,
    /// Per quota: what the buyers it reaches still want in a round of imports.
    quota_want: Vec<f64>,
    /// Per facility × element: its holding of its output before this step's contracts.
    contract_base: Vec<f64>,
    supply: Vec<f64>,
    avail: Vec<f64>,
    comp: Vec<f64>,
    drawn: Vec<f64>,
    delayed: Vec<f64>,
    /// Per exporter: what its buyers at home drew in the home passes; the steps of output
    /// its sellers keep as cover (1 for throughput plants, mines and stockpiles); and its
    /// export offer, what it holds beyond its home buyers' cover (see `trade::export_offer`).
    home_drawn: Vec<f64>,
    /// Per exporting country, what its home buyers in tiers still to be served will claim
    /// at home this step: stock it holds for them is not offered abroad first either. Kept
    /// on the open path only (under a policy the import pass does not read it).
    home_later: Vec<f64>,
    hold: Vec<f64>,
    export_w: Vec<f64>,
    /// The countries the last commodity traded had sellers in: the only entries of
    /// `supply`, `drawn`, `delayed`, `home_drawn`, `home_later`, `hold` and `comp` that are
    /// not zero between commodities.
    offered: Vec<CountryId>,
    /// Per buyer slot of the commodity being traded: its request, the need and cover it
    /// came from, its country, and its stage if it is a facility.
    request: Vec<f64>,
    /// Per buyer slot: its whole request as asked (the passes swap `request` with `use_now`).
    asked: Vec<f64>,
    /// Per buyer slot: the part of its request for this step's use (no more than its use),
    /// asked for first where users come in several tiers (`trade::Part`).
    use_now: Vec<f64>,
    need: Vec<f64>,
    cover: Vec<f64>,
    buyer_country: Vec<usize>,
    buyer_stage: Vec<usize>,
    /// Per buyer slot: its holding when it ordered, and whether anything arrived since.
    bought: Vec<f64>,
    received: Vec<bool>,
    /// Per seller slot: its holding of the commodity when it offered.
    held: Vec<f64>,
    /// The open path, per pass × buyer country (`Links::tier_country`): what its buyers
    /// request, the share filled at home, what they still want from abroad, and the
    /// country's own share of what was on offer abroad. Per pass: the import fill.
    req_tc: Vec<f64>,
    home_tc: Vec<f64>,
    want_tc: Vec<f64>,
    share_tc: Vec<f64>,
    tier_fill: Vec<f64>,
    /// Per buyer slot: what it has received so far this step.
    got: Vec<f64>,
    /// Per country: claims on its sellers (then their fill ratio), and a weight: the home
    /// fill ratio in the home pass, an exporter's share of what is on offer in the open
    /// import pass.
    claims: Vec<f64>,
    weights: Vec<f64>,
    /// Per stockpile: what it released as needed this step, over all the commodities it
    /// holds (its rate caps the sum).
    released: Vec<f64>,
    /// Per facility: this step's output (t); per stage × country production.
    output: Vec<f64>,
    production: Vec<f64>,
    mine_element: Vec<f64>,
    /// Per country × form: exports and imports this step; per country pair: all forms, and
    /// by form (`(exporter × nx + importer) × nf + form`).
    exports: Vec<f64>,
    imports: Vec<f64>,
    pair: Vec<f64>,
    pair_form: Vec<f64>,
    /// Per stage × country: input received from abroad and in total (for dependency).
    dep_foreign: Vec<f64>,
    dep_total: Vec<f64>,
    /// Per facility: quantity of its output sold this step (for floors), by commodity slot.
    sold: Vec<f64>,
    sector_need: Vec<f64>,
    sector_used: Vec<f64>,
    sector_lost: Vec<f64>,
    region_need: Vec<f64>,
    region_used: Vec<f64>,
    cover_have: Vec<f64>,
    cover_need: Vec<f64>,
    /// Per market × commodity: buyers' target and actual stock, sellers' unsold and output.
    buyer_target: Vec<f64>,
    buyer_have: Vec<f64>,
    /// Per market × commodity: what facilities made and sold this step.
    made: Vec<f64>,
    sold_c: Vec<f64>,
    /// Per facility × element: what it sold this step of goods traded element by element
    /// (what a price floor on one of them pays on).
    sold_e: Vec<f64>,
    queue_by_exporter: Vec<f64>,
    /// Per exporter: licensed tonnes that cleared and arrived this step.
    arrived: Vec<f64>,
    order: Vec<usize>,
    /// Exporters with something to offer of the commodity being traded.
    active: Vec<usize>,
    /// Exporters with supply left for the import pass.
    live: Vec<usize>,
    /// Per buyer slot × exporter: order weights this round, and their sum per slot.
    wmat: Vec<f64>,
    wsum: Vec<f64>,
    /// Element shares of a mixed commodity's pooled delivery.
    pool: Vec<f64>,
    /// Per buyer slot: licensed tonnes approved so far this step (licences cap the total).
    licensed: Vec<f64>,
    /// Per buyer slot: tonnes ordered this step that wait in the licence queue.
    queued: Vec<f64>,
    /// Per buyer slot: what a buyer waiting on a licence's review lacks this step to last
    /// until more arrives (`Sim::bridge_of`, from its arrival profile in `Sim::due`). It
    /// asks the market for at least this, and trade diversion serves it first (what it
    /// brings is taken off); `bridge_trial` keeps it over diversion's trial pass.
    bridge: Vec<f64>,
    bridge_trial: Vec<f64>,
    /// Per buyer slot × exporter: what the slot received now from each exporter in its
    /// tier's passes, and may give up to a blocked buyer (trade diversion).
    took: Vec<f64>,
    /// Trade diversion's round, per buyer slot: the exporters it had received from when
    /// the round began (`sources[sources_at[slot]..sources_at[slot + 1]]`, ascending: what
    /// it can give up only shrinks over the round), and whether some route reaches it
    /// (0 not yet judged, 1 no, 2 yes).
    sources: Vec<CountryId>,
    sources_at: Vec<usize>,
    reached: Vec<u8>,
    /// Per market × element: summed log price moves of its priced forms, and their count.
    elem_lp: Vec<f64>,
    elem_n: Vec<f64>,
    /// Per market and commodity: no plant that bids for it would earn it back at its price.
    unpaid: Vec<bool>,
    /// Per market and commodity: the log of where its inputs' prices put it (0 but for a
    /// mixed product made to a recipe; `update_prices`).
    cost_lp: Vec<f64>,
    /// Per commodity traded freely in more than one market: its mean log price across them.
    market_lp: Vec<Option<f64>>,
    /// Per commodity whose markets arbitrage joins: buyers' cover held and targeted, output
    /// made and sold, summed over its markets (`update_prices`).
    world_scarcity: Vec<(f64, f64, f64, f64)>,
    /// Commodities in trading order: dearest first, so quotas go to the most valuable.
    trade_order: Vec<usize>,
    /// Per commodity: its dearest price across markets (the trading order's key).
    dearest: Vec<f64>,
    /// Per commodity, from its last market: what was left on offer unsold, in steps of its
    /// buyers' use (noted only where a separator with spare lines buys, 0 elsewhere): a
    /// backlog such a separator works off if its own market served it in full (`Sim::fed`).
    backlog: Vec<f64>,
    /// Per recipe × market: the margin factor and the step (+1) it was computed for.
    margins: Vec<(usize, f64)>,
}

/// The phases of a step, in order, with the names `chokepoint bench --phases` prints.
#[allow(clippy::type_complexity)]
pub const PHASES: [(&str, fn(&mut Sim)); 16] = [
    ("rules", Sim::refresh_rules),
    ("clear", Sim::clear_step_totals),
    ("random events", Sim::random_events),
    ("licence arrivals", Sim::arrivals),
    ("plans and needs", Sim::prepare),
    ("mining", Sim::mine),
    ("offtakes", Sim::offtake),
    ("contracts", Sim::deliver_contracts),
    ("markets", Sim::trade),
    ("sales smoothing", Sim::smooth_sales),
    ("conversion", Sim::convert),
    ("consumption", Sim::consume),
    ("prices", Sim::update_prices),
    ("policy costs", Sim::pay_policies),
    ("demand response", Sim::update_demand),
    ("record", Sim::record),
];

impl Sim {
    /// A fresh run of `model` with `seed` for stochastic events.
    pub fn new(model: &Arc<Model>, seed: u64) -> Sim {
        let model = Arc::clone(model);
        let nf = model.forms.len();
        let ne = model.elements.len();
        let nc = model.commodities.len();
        let nx = model.countries.len();
        let nmk = model.markets.len();

        let mut nodes = Vec::new();
        for (i, f) in model.facilities.iter().enumerate() {
            nodes.push(Node {
                kind: NodeKind::Facility(i),
                country: f.country,
                firm: f.firm,
                priority: 0,
            });
        }
        for (i, s) in model.sectors.iter().enumerate() {
            let named: f64 = s.firms.iter().map(|(_, x)| x).sum();
            for &(firm, share) in &s.firms {
                nodes.push(Node {
                    kind: NodeKind::Buyer { sector: i, share },
                    country: s.country,
                    firm: Some(firm),
                    priority: s.priority,
                });
            }
            if named < 1.0 - 1e-9 {
                nodes.push(Node {
                    kind: NodeKind::Buyer {
                        sector: i,
                        share: 1.0 - named,
                    },
                    country: s.country,
                    firm: None,
                    priority: s.priority,
                });
            }
        }
        for (i, s) in model.stockpiles.iter().enumerate() {
            nodes.push(Node {
                kind: NodeKind::Stockpile(i),
                country: s.country,
                firm: None,
                priority: -1,
            });
        }
        let nn = nodes.len();
        let mut stock = vec![0.0; nn * nf * ne];
        for (n, node) in nodes.iter().enumerate() {
            if let NodeKind::Stockpile(s) = node.kind {
                let sp = &model.stockpiles[s];
                for e in 0..ne {
                    stock[(n * nf + sp.form) * ne + e] = sp.holding[e];
                }
            }
        }
        let mut price = model.prices.clone();
        price.resize(nmk * nc, 0.0);
        let composition: Vec<Vec<f64>> = model
            .recipes
            .iter()
            .map(|r| r.composition.clone())
            .collect();
        let thrifted = model
            .recipes
            .iter()
            .map(|r| vec![0.0; r.thrift.len()])
            .collect();
        // A model's policies act from the step containing their dates, as a script's do.
        let policies = (model.policies.iter())
            .map(|p| Policy {
                start: model.step_start(p.start),
                end: p.end.map(|e| model.step_start(e)),
                ..p.clone()
            })
            .collect();
        let nfac = model.facilities.len();
        let nsec = model.sectors.len();
        let nsp = model.stockpiles.len();
        let mut sim = Sim {
            step: 0,
            fac_node: (0..nfac).collect(),
            sp_node: Vec::new(),
            nodes,
            stock,
            on_order: vec![0.0; nn * nc],
            due: Vec::new(),
            due_ring: 0,
            ease: vec![1.0; nn * nc],
            pending: Vec::with_capacity(4096),
            log_price: vec![0.0; price.len()],
            price_ratio: vec![1.0; price.len()],
            price,
            capacity_mult: vec![1.0; nfac],
            closed: vec![false; nfac],
            cap_now: vec![0.0; nfac],
            plan: vec![0.0; nfac],
            sales_ema: vec![0.0; nfac],
            offered_yet: vec![false; nfac],
            sold_before: vec![false; nfac],
            before_outage: vec![0.0; nfac],
            wanted: vec![0.0; nfac],
            sales_free: vec![0.0; nfac],
            price_weight: vec![1.0; nfac],
            starved: vec![false; nfac],
            capped: vec![false; nfac],
            qualified_price: vec![1.0; nfac],
            short_of_inputs: vec![false; nfac],
            controlled: vec![false; nfac],
            spare_run: vec![0.0; nfac],
            fed: vec![true; nfac],
            run_rate: vec![1.0; nfac],
            sec_need: vec![0.0; nsec],
            sec_growth: vec![1.0; nsec],
            outage: vec![[(0.0, 0); OUTAGE_SLOTS]; nfac],
            random_outage: vec![(0.0, 0); nfac],
            ramp_stretch: vec![1.0; nfac],
            ramp_anchor: vec![(0.0, 0.0); nfac],
            demand_mult: vec![1.0; nsec],
            growth: model.sectors.iter().map(|s| s.growth).collect(),
            growth_from: vec![(1.0, 0.0); nsec],
            substituted: vec![0.0; nsec],
            substituted_floor: vec![0.0; nsec],
            output_potential: vec![0.0; nsec],
            recycle_rate: model.sectors.iter().map(|s| s.recycle_rate).collect(),
            recipe_elements: composition
                .iter()
                .map(|c| (0..c.len()).filter(|&e| c[e] > 0.0).collect())
                .collect(),
            base_composition: composition.clone(),
            model_composition: composition.clone(),
            thrift_kept: vec![1.0; model.elements.len()],
            throughput_weights: Vec::new(),
            bidders: Vec::new(),
            makers: Vec::new(),
            composition,
            thrifted,
            policies,
            rules_dirty: true,
            contracted_any: false,
            content_lingers: false,
            rules: Vec::new(),
            rule_offset: Vec::new(),
            open: Vec::new(),
            arbitraged: Vec::new(),
            buyers_of: Vec::new(),
            sellers_of: Vec::new(),
            links: Vec::new(),
            quotas: Vec::new(),
            quota_ran_out: Vec::new(),
            offered_at: Vec::new(),
            supply_seen: vec![0.0; nc * nx],
            quota_binds: Vec::new(),
            offering: Vec::new(),
            controls: false,
            quota_only: Vec::new(),
            stockpile_buy: vec![0.0; nsp],
            stockpile_release: vec![0.0; nsp],
            stockpile_target: vec![0.0; nsp],
            stockpile_as_needed: vec![false; nsp],
            stockpile_asked: vec![0.0; nsp],
            stockpile_got: vec![0.0; nsp],
            stockpile_released: vec![0.0; nsp],
            baskets: Sim::price_baskets(&model),
            element_prices: (0..model.elements.len())
                .map(|e| {
                    let nc = model.commodities.len();
                    (0..model.prices.len())
                        .filter(|&i| {
                            model.prices[i] > 0.0 && model.commodities[i % nc].element == Some(e)
                        })
                        .collect()
                })
                .collect(),
            sector_mix: model
                .sectors
                .iter()
                .map(|sec| {
                    let used = sec.mix.iter().enumerate().filter(|(_, &x)| x > 0.0);
                    used.map(|(e, &x)| (e, x)).collect()
                })
                .collect(),
            made_total: vec![0.0; nfac * model.elements.len()],
            offtake_seen: vec![0.0; nfac * model.elements.len()],
            holding_share: model
                .stockpiles
                .iter()
                .flat_map(|sp| {
                    let total: f64 = sp.holding.iter().sum();
                    sp.holding.iter().map(move |&h| {
                        if total > 0.0 {
                            h / total
                        } else {
                            1.0 / ne as f64
                        }
                    })
                })
                .collect(),
            floors: Vec::new(),
            subsidies: Vec::new(),
            offtakes: Vec::new(),
            contracts: model
                .contracts
                .iter()
                .map(|c| Contract {
                    facility: c.facility,
                    country: c.country,
                    share: c.share,
                    firm: c.firm,
                    delivered: 0.0,
                })
                .collect(),
            outages: Vec::new(),
            policy_cost: vec![0.0; nx],
            ledger: Ledger::default(),
            series: Series::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            seed,
            cols: Cols::default(),
            scratch: Scratch::default(),
            model,
            year_frac: 0.0,
        };
        sim.sp_node = (0..sim.model.stockpiles.len())
            .map(|k| {
                sim.nodes
                    .iter()
                    .position(|n| n.kind == NodeKind::Stockpile(k))
                    .unwrap_or(0)
            })
            .collect();
        sim.build_topology();
        sim.scratch.margins = vec![(0, 0.0); sim.model.recipes.len() * sim.model.markets.len()];
        sim.throughput_weights = (0..sim.model.recipes.len())
            .map(|r| {
                let rec = &sim.model.recipes[r];
                if !sim.composition[r].is_empty() {
                    return Vec::new();
                }
                let typical = sim.typical_composition(rec.input);
                let used = |e: usize| rec.converts.get(e).copied().unwrap_or(false);
                (0..typical.len())
                    .map(|e| if used(e) { typical[e] } else { 0.0 })
                    .collect()
            })
            .collect();
        for f in 0..sim.model.facilities.len() {
            sim.sales_ema[f] = sim.compute_capacity(f);
            sim.sales_free[f] = sim.sales_ema[f];
        }
        sim.prepare();
        sim.warm_start();
        sim.prepare();
        sim.ledger = Ledger {
            initial: sim.totals_by_form_element(),
            inflow: vec![0.0; nf * ne],
            outflow: vec![0.0; nf * ne],
        };
        sim.declare_series();
        sim.size_scratch();
        sim
    }

    pub fn date(&self) -> Date {
        self.model.date_of(self.step)
    }

    /// The date of the last simulated step (the model's start before any step).
    pub fn last_date(&self) -> Date {
        self.model.date_of(self.step.saturating_sub(1))
    }

    /// Steps left before the model's end.
    pub fn steps_left(&self) -> usize {
        self.model.horizon_steps().saturating_sub(self.step)
    }

    fn nfe(&self) -> (usize, usize) {
        (self.model.forms.len(), self.model.elements.len())
    }

    /// Who buys and who sells each commodity. Rebuilt when a facility is added.
    fn build_topology(&mut self) {
        let m = &self.model;
        let nc = m.commodities.len();
        let ne = m.elements.len();
        let nf = m.forms.len();
        let mut buyers_of = vec![Vec::new(); nc];
        let mut sellers_of = vec![Vec::new(); nc];
        // Elements that can exist in this world: mined, held, or made by a fixed recipe. A
        // link in an element nobody can ever hold (Pm) would only trade zeros every step.
        let mut present = vec![false; ne];
        for (e, p) in present.iter_mut().enumerate() {
            *p = m.deposits.iter().any(|d| d.distribution[e] > 0.0)
                || self
                    .composition
                    .iter()
                    .any(|c| c.get(e).is_some_and(|&x| x > 0.0))
                || self.stock.iter().skip(e).step_by(ne).any(|&q| q != 0.0);
        }
        let holds = |n: usize, form: FormId, e: usize| self.stock[(n * nf + form) * ne + e] != 0.0;
        for (n, node) in self.nodes.iter().enumerate() {
            match node.kind {
                NodeKind::Facility(f) => {
                    let fac = &m.facilities[f];
                    let out = fac.output_form(m);
                    for e in 0..ne {
                        // Sell only what the plant can make: fixed-proportion plants make the
                        // elements of their composition (thrifting never adds one), others
                        // the elements their recipe converts; or what it already holds.
                        let makes = match fac.process {
                            Process::Convert(r) if !self.composition[r].is_empty() => {
                                self.composition[r][e] > 0.0
                            }
                            Process::Mine(d) => m.deposits[d].distribution[e] > 0.0,
                            Process::Convert(r) => m.recipes[r].converts[e] && present[e],
                        } || holds(n, out, e);
                        let c = m.commodity(out, Some(e));
                        if (makes || m.forms[out].mixed) && sellers_of[c].last() != Some(&n) {
                            sellers_of[c].push(n);
                        }
                    }
                    if let Process::Convert(r) = fac.process {
                        let rec = &m.recipes[r];
                        let input = rec.input;
                        for e in 0..ne {
                            let wanted = if self.composition[r].is_empty() {
                                rec.converts[e]
                            } else {
                                self.composition[r][e] > 0.0
                            };
                            let c = m.commodity(input, Some(e));
                            if (wanted || m.forms[input].mixed) && buyers_of[c].last() != Some(&n) {
                                buyers_of[c].push(n);
                            }
                        }
                    }
                }
                NodeKind::Buyer { sector, .. } => {
                    let s = &m.sectors[sector];
                    for e in 0..ne {
                        if m.forms[s.material].mixed || s.mix[e] > 0.0 {
                            let c = m.commodity(s.material, Some(e));
                            if buyers_of[c].last() != Some(&n) {
                                buyers_of[c].push(n);
                            }
                        }
                    }
                    // Sectors that recycle sell their scrap (and any they still hold).
                    if let Some(scrap) = self.scrap_form() {
                        let c = m.commodity(scrap, None);
                        let base = (n * m.forms.len() + scrap) * ne;
                        let holds = self.stock[base..base + ne].iter().any(|&q| q != 0.0);
                        if (self.recycle_rate[sector] != 0.0 || holds)
                            && sellers_of[c].last() != Some(&n)
                        {
                            sellers_of[c].push(n);
                        }
                    }
                }
                NodeKind::Stockpile(s) => {
                    // A stockpile buys in its holding's mix and sells what it holds.
                    let form = m.stockpiles[s].form;
                    for e in 0..ne {
                        let c = m.commodity(form, Some(e));
                        let trades = self.holding_share[s * ne + e] > 0.0 || holds(n, form, e);
                        if trades && buyers_of[c].last() != Some(&n) {
                            buyers_of[c].push(n);
                            sellers_of[c].push(n);
                        }
                    }
                }
            }
        }
        let mut bidders = vec![Vec::new(); m.markets.len() * nc];
        let mut makers = vec![None; m.markets.len() * nc];
        for fac in &m.facilities {
            if let Process::Convert(r) = fac.process {
                let (input, output) = (m.recipes[r].input, m.recipes[r].output);
                let mk = m.countries[fac.country].market;
                // (Recyclers bid scrap up only to their break-even too: with China's magnet
                // demand cut by nine-tenths, scrap rose to 8.6x while recycling stopped,
                // above the oxides it makes: analyst review, 2026-12-01.)
                if m.forms[input].mixed && self.composition[r].is_empty() {
                    let key = mk * nc + m.commodity(input, None);
                    if !bidders[key].contains(&r) {
                        bidders[key].push(r);
                    }
                }
                if m.forms[output].mixed && !self.composition[r].is_empty() {
                    makers[mk * nc + m.commodity(output, None)].get_or_insert(r);
                }
            }
        }
        self.bidders = bidders;
        self.makers = makers;
        // Serve higher priority first; within a priority, node order (stable, deterministic).
        for b in &mut buyers_of {
            let nodes = &self.nodes;
            b.sort_by_key(|&n| (-nodes[n].priority, n));
        }
        self.buyers_of = buyers_of;
        self.sellers_of = sellers_of;
        self.build_links();
        self.rules_dirty = true;
    }

    /// Starts every buyer with its target cover in stock, so a run begins in the steady
    /// flow of a working chain rather than with empty warehouses.
    fn warm_start(&mut self) {
        let m = Arc::clone(&self.model);
        let (nf, ne) = (m.forms.len(), m.elements.len());
        // Fixed-proportion plants start with their output cover in stock.
        let cover = m.behaviour.seller_cover_weeks * 7.0 / m.step_days as f64;
        for f in 0..m.facilities.len() {
            if let Process::Convert(r) = m.facilities[f].process {
                if !self.composition[r].is_empty() {
                    let base = (self.fac_node[f] * nf + m.recipes[r].output) * ne;
                    for e in 0..ne {
                        self.stock[base + e] = self.sales_ema[f] * cover * self.composition[r][e];
                    }
                    // A plant in business has its working stock: its sales set its plan.
                    self.offered_yet[f] = self.sales_ema[f] > 0.0;
                    self.sold_before[f] = self.offered_yet[f];
                }
            }
        }
        let comps: Vec<Vec<f64>> = (0..nf).map(|f| self.mixed_composition(f, nf)).collect();
        // Throughput plants (separators, recyclers) convert after the markets: in a running
        // chain, what they sell this step is what they made last step. Start them with that
        // step's output, or the first step's markets find nothing to buy from them.
        for f in 0..m.facilities.len() {
            if let Process::Convert(r) = m.facilities[f].process {
                let rec = &m.recipes[r];
                if self.composition[r].is_empty() {
                    let made = self.plan[f] * rec.recovery;
                    let base = (self.fac_node[f] * nf + rec.output) * ne;
                    let feed = &comps[rec.input];
                    for e in 0..ne {
                        if rec.converts[e] {
                            self.stock[base + e] = made * feed[e];
                        }
                    }
                }
            }
        }
        for c in 0..m.commodities.len() {
            let com = m.commodities[c];
            for k in 0..self.links[c].buyers.len() {
                let l = self.links[c].buyers[k];
                if matches!(l.need, trade::NeedOf::Stockpile(_)) {
                    continue;
                }
                let target = self.link_need(&l) * l.cover;
                let base = l.base;
                match com.element {
                    Some(e) => self.stock[base + e] = target,
                    None => {
                        for e in 0..ne {
                            self.stock[base + e] = target * comps[com.form][e];
                        }
                    }
                }
            }
        }
    }

    /// The element shares of a mixed form as the chain makes it: producers' outputs
    /// weighted by capacity (for scrap, what the recycling sectors use).
    /// (`depth` bounds the walk up a chain of mixed forms: a magnet pressed from an alloy
    /// that was itself made to a recipe.)
    fn mixed_composition(&self, form: FormId, depth: usize) -> Vec<f64> {
        let m = &self.model;
        let ne = m.elements.len();
        let mut comp = vec![0.0; ne];
        for fac in &m.facilities {
            let w = fac.capacity * fac.utilisation;
            match fac.process {
                Process::Mine(d) if form == m.deposits[d].form => {
                    for e in 0..ne {
                        comp[e] += w * m.deposits[d].distribution[e];
                    }
                }
                Process::Convert(r) if m.recipes[r].output == form => {
                    let mix = self.made_mix(r, depth);
                    for e in 0..ne {
                        comp[e] += w * mix[e];
                    }
                }
                _ => {}
            }
        }
        if comp.iter().sum::<f64>() <= 0.0 {
            for sec in &m.sectors {
                if sec.recycle_rate > 0.0 && sec.material != form && m.forms[sec.material].mixed {
                    let inner = self.mixed_composition_of_producers(sec.material);
                    for e in 0..ne {
                        comp[e] += sec.demand * inner[e];
                    }
                }
            }
        }
        let total: f64 = comp.iter().sum();
        if total > 0.0 {
            comp.iter_mut().for_each(|x| *x /= total);
        }
        comp
    }

    fn mixed_composition_of_producers(&self, form: FormId) -> Vec<f64> {
        let m = &self.model;
        let ne = m.elements.len();
        let mut comp = vec![0.0; ne];
        for fac in &m.facilities {
            if let Process::Convert(r) = fac.process {
                if m.recipes[r].output == form {
                    let mix = self.made_mix(r, m.forms.len());
                    for e in 0..ne {
                        comp[e] += fac.capacity * mix[e];
                    }
                }
            }
        }
        let total: f64 = comp.iter().sum();
        if total > 0.0 {
            comp.iter_mut().for_each(|x| *x /= total);
        }
        comp
    }

    /// The element shares recipe `r` makes a mixed form in: its composition, or, for one
    /// that converts what it is fed from a mixed form made in the chain (a magnet pressed
    /// from an alloy), its feed's mix over the elements it converts. None (all 0) for a
    /// single-element output, or once `depth` runs out.
    fn made_mix(&self, r: RecipeId, depth: usize) -> Vec<f64> {
        let m = &self.model;
        let rec = &m.recipes[r];
        if !m.forms[rec.output].mixed {
            return vec![0.0; m.elements.len()];
        }
        if !self.composition[r].is_empty() {
            return self.composition[r].clone();
        }
        let feeds = m.forms[rec.input].mixed && rec.input != rec.output && depth > 0;
        let made = |fac: &Facility| matches!(fac.process, Process::Convert(q) if m.recipes[q].output == rec.input);
        if !feeds || !m.facilities.iter().any(made) {
            // (Ore and scrap: what a separator or recycler makes is counted from its
            // sources elsewhere.)
            return vec![0.0; m.elements.len()];
        }
        let mut mix = self.mixed_composition(rec.input, depth - 1);
        for (x, &on) in mix.iter_mut().zip(&rec.converts) {
            if !on {
                *x = 0.0;
            }
        }
        let total: f64 = mix.iter().sum();
        if total > 0.0 {
            mix.iter_mut().for_each(|x| *x /= total);
        }
        mix
    }

    fn scrap_form(&self) -> Option<FormId> {
        self.model.forms.iter().position(|f| f.id == "scrap")
    }

    /// The series every run of `m` records from its start (a lever that builds a plant adds
    /// its own during the run).
    pub fn model_series(m: &Model) -> &Series {
        &m.cache.0.get_or_init(|| Sim::layout(m)).series
    }

    /// How many series a run records, and the bytes its table of them takes (every series
    /// at every step), before it runs.
    pub fn recorded_size(m: &Model) -> (usize, f64) {
        let layout = m.cache.0.get_or_init(|| Sim::layout(m));
        let width = layout.series.width();
        (width, width as f64 * (m.horizon_steps() + 1) as f64 * 8.0)
    }

    /// The run's series table: the model's shared layout, with room for every step.
    fn declare_series(&mut self) {
        let layout = self.model.cache.0.get_or_init(|| Sim::layout(&self.model));
        self.series = layout.series.clone();
        self.cols = layout.cols.clone();
        self.series.reserve(self.model.horizon_steps() + 1);
    }

    /// Names every series the engine records, in a fixed order.
    fn layout(m: &Model) -> Layout {
        let mut series = Series::new();
        let s = &mut series;
        let mut cols = Cols::default();
        let nc = m.commodities.len();
        for (mk, mname) in m.markets.iter().enumerate() {
            for c in 0..nc {
                cols.price.push(
                    (m.prices[mk * nc + c] > 0.0)
                        .then(|| s.declare("price", &format!("{mname}/{}", m.commodity_name(c)))),
                );
            }
        }
        // A block of new, consecutive columns: its first.
        fn block(s: &mut Series, metric: &str, keys: impl Iterator<Item = String>) -> usize {
            let first = s.names.len();
            for (i, key) in keys.enumerate() {
                let col = s.declare(metric, &key);
                assert_eq!(col, first + i, "series {metric}[{key}] declared twice");
            }
            first
        }
        let by_country_form: Vec<String> = m
            .countries
            .iter()
            .flat_map(|x| m.forms.iter().map(|f| format!("{}/{}", x.id, f.id)))
            .collect();
        cols.production = block(
            s,
            "production",
            m.stages
                .iter()
                .flat_map(|st| m.countries.iter().map(move |x| format!("{st}/{}", x.id))),
        );
        for f in &m.facilities {
            cols.facility_output.push(s.declare("output", &f.id));
        }
        cols.mine_element = block(
            s,
            "mine_output",
            m.elements.iter().map(|e| e.symbol.clone()),
        );
        cols.exports = block(s, "exports", by_country_form.iter().cloned());
        cols.imports = block(s, "imports", by_country_form.into_iter());
        let nx = m.countries.len();
        for (x, a) in m.countries.iter().enumerate() {
            for (y, b) in m.countries.iter().enumerate().filter(|&(y, _)| y != x) {
                let col = s.declare("trade", &format!("{}>{}", a.id, b.id));
                cols.trade_pair.push((x * nx + y, col));
            }
        }
        for (x, y, f) in trade_routes(m) {
            let col = s.declare("trade_by_form", &route_key(m, x, y, f));
            cols.trade_form.push((route_index(m, x, y, f), col));
        }
        for sec in &m.sectors {
            cols.sector_shortfall.push(s.declare("shortfall", &sec.id));
            cols.output_lost.push(s.declare("output_lost", &sec.id));
            cols.demand.push(s.declare("demand", &sec.id));
            cols.substitution.push(s.declare("substitution", &sec.id));
        }
        for x in &m.countries {
            for f in &m.forms {
                let key = format!("{}/{}", f.id, x.id);
                cols.region_shortfall.push(s.declare("shortfall", &key));
                cols.cover.push(s.declare("cover_weeks", &key));
            }
        }
        for sp in &m.stockpiles {
            cols.stockpile.push(s.declare("stockpile", &sp.id));
        }
        for st in &m.stages {
            for x in &m.countries {
                cols.dependency
                    .push(s.declare("dependency", &format!("{st}/{}", x.id)));
            }
        }
        for st in &m.stages {
            cols.hhi.push(s.declare("hhi", st));
        }
        for x in &m.countries {
            cols.licence_queue.push(s.declare("licence_queue", &x.id));
            cols.licence_arrivals
                .push(s.declare("licence_arrivals", &x.id));
            cols.policy_cost.push(s.declare("policy_cost", &x.id));
        }
        Layout { series, cols }
    }

    fn size_scratch(&mut self) {
        let m = &self.model;
        let nn = self.nodes.len();
        let nx = m.countries.len();
        let nf = m.forms.len();
        let ne = m.elements.len();
        let nst = m.stages.len();
        let nmc = m.markets.len() * m.commodities.len();
        let nsec = m.sectors.len();
        let z = |n: usize| vec![0.0; n];
        self.scratch = Scratch {
            offer: z(nn),
            offtaken: z(ne),
            keep_later: false,
            quota_fill: z(self.quotas.len()),
            quota_want: z(self.quotas.len()),
            contract_base: z(m.facilities.len() * ne),
            supply: z(nx),
            avail: z(nx),
            comp: z(nx * ne),
            drawn: z(nx),
            delayed: z(nx),
            home_drawn: z(nx),
            home_later: z(nx),
            hold: z(nx),
            export_w: z(nx),
            offered: Vec::with_capacity(nx),
            request: z(nn),
            asked: z(nn),
            use_now: z(nn),
            need: z(nn),
            cover: z(nn),
            buyer_country: vec![0; nn],
            buyer_stage: vec![0; nn],
            bought: z(nn),
            received: vec![false; nn],
            held: z(nn),
            req_tc: z(2 * nn),
            home_tc: z(2 * nn),
            want_tc: z(2 * nn),
            share_tc: z(2 * nn),
            tier_fill: z(2 * nn),
            got: z(nn),
            claims: z(nx),
            weights: z(nx),
            released: z(m.stockpiles.len()),
            output: z(m.facilities.len()),
            production: z(nst * nx),
            mine_element: z(ne),
            exports: z(nx * nf),
            imports: z(nx * nf),
            pair: z(nx * nx),
            pair_form: z(nx * nx * nf),
            pair_before: z(nx * nx),
            dep_foreign: z(nst * nx),
            dep_total: z(nst * nx),
            sold: z(m.facilities.len()),
            sector_need: z(nsec),
            sector_used: z(nsec),
            sector_lost: z(nsec),
            region_need: z(nx * nf),
            region_used: z(nx * nf),
            cover_have: z(nx * nf),
            cover_need: z(nx * nf),
            buyer_target: z(nmc),
            buyer_have: z(nmc),
            made: z(nmc),
            sold_c: z(nmc),
            sold_e: z(m.facilities.len() * ne),
            queue_by_exporter: z(nx),
            arrived: z(nx),
            order: Vec::with_capacity(nn),
            active: Vec::with_capacity(nx),
            live: Vec::with_capacity(nx),
            wmat: z(nn * nx),
            sources: Vec::with_capacity(nn * nx),
            sources_at: vec![0; nn + 1],
            reached: vec![0; nn],
            wsum: z(nn),
            pool: z(ne),
            licensed: z(nn),
            queued: z(nn),
            bridge: z(nn),
            bridge_trial: z(nn),
            took: z(nn * nx),
            elem_lp: z(m.markets.len() * ne),
            elem_n: z(m.markets.len() * ne),
            unpaid: vec![false; m.markets.len() * m.commodities.len()],
            cost_lp: vec![0.0; m.markets.len() * m.commodities.len()],
            market_lp: vec![None; m.commodities.len()],
            world_scarcity: vec![(0.0, 0.0, 0.0, 0.0); m.commodities.len()],
            trade_order: (0..m.commodities.len()).collect(),
            dearest: z(m.commodities.len()),
            backlog: z(m.commodities.len()),
            margins: vec![(0, 0.0); m.recipes.len() * m.markets.len()],
        };
    }

    /// Total stock (and material in transit) per `[form][element]`.
    pub fn totals_by_form_element(&self) -> Vec<f64> {
        let (nf, ne) = self.nfe();
        let mut t = vec![0.0; nf * ne];
        for n in 0..self.nodes.len() {
            for i in 0..nf * ne {
                t[i] += self.stock[n * nf * ne + i];
            }
        }
        for s in &self.pending {
            t[s.form * ne + s.elem] += s.qty;
        }
        t
    }

    // ---------------------------------------------------------------- lever hooks

    /// Takes `share` of a facility's capacity offline until step `until`, on top of any
    /// outage already running (overlapping outages multiply: 50% and 50% leave 25%). A share
    /// of 0 ends the facility's scripted outages. A facility holds at most `OUTAGE_SLOTS`
    /// scripted outages at once: with that many running, nothing changes and the step the
    /// first of them ends is returned as the error.
    /// Whether facility `f` has a disruption running now.
    pub fn outage_running(&self, f: FacilityId) -> bool {
        self.outage[f].iter().any(|s| self.step < s.1)
    }

    pub fn set_outage(&mut self, f: FacilityId, share: f64, until: usize) -> Result<(), usize> {
        let step = self.step;
        let slots = &mut self.outage[f];
        if share <= 0.0 {
            *slots = [(0.0, 0); OUTAGE_SLOTS];
            return Ok(());
        }
        match slots.iter_mut().find(|s| step >= s.1) {
            Some(free) => {
                *free = (share, until);
                Ok(())
            }
            None => Err(slots.iter().map(|s| s.1).min().unwrap_or(step)),
        }
    }

    /// Starts (or replaces) offtakes of facility `f`: they take their share of what it makes
    /// from now on.
    pub fn offtakes_changed(&mut self, f: FacilityId) {
        let ne = self.model.elements.len();
        let range = f * ne..(f + 1) * ne;
        self.offtake_seen[range.clone()].copy_from_slice(&self.made_total[range]);
    }

    /// What facility `f` has made so far this run, tonnes of rare earth.
    /// What facility `f` has made of element `e` since the run's start, t of rare earth.
    pub fn made_of(&self, f: FacilityId, e: ElemId) -> f64 {
        self.made_total[f * self.model.elements.len() + e]
    }

    pub fn made_by(&self, f: FacilityId) -> f64 {
        let ne = self.model.elements.len();
        self.made_total[f * ne..(f + 1) * ne].iter().sum()
    }

    /// Sets a sector's annual growth rate from now on: demand keeps the level it has
    /// reached and compounds at `rate` from here.
    pub fn set_growth(&mut self, s: SectorId, rate: f64) {
        let years = self.step as f64 / self.model.steps_per_year();
        self.growth_from[s] = (self.growth_factor(s, years), years);
        self.growth[s] = rate;
    }

    /// A sector's growth factor `years` after the start.
    fn growth_factor(&self, s: SectorId, years: f64) -> f64 {
        let (base, from) = self.growth_from[s];
        if self.growth[s] == 0.0 {
            base
        } else {
            base * (1.0 + self.growth[s]).powf(years - from)
        }
    }

    /// Changes a facility's ramp length (months from its start to full capacity).
    /// (Counted from its start, as the lever says: unlike a technology ban's stretch, it
    /// redraws the whole ramp.)
    pub fn set_ramp(&mut self, f: FacilityId, months: f64) {
        Arc::make_mut(&mut self.model).facilities[f].ramp_months = months;
        self.ramp_anchor[f] = (0.0, 0.0);
    }

    /// Notes how far facility `f` has ramped by now, before a technology ban's stretch of
    /// its ramp changes: the months already ramped keep the pace they had (a ban lifted does
    /// not undo the ramp it slowed).
    fn reanchor_ramp(&mut self, f: FacilityId) {
        let fac = &self.model.facilities[f];
        let date = self.date();
        if date <= fac.start {
            return;
        }
        let months = (date.days() - fac.start.days()) as f64 / 30.4375;
        let len = fac.ramp_months * self.ramp_stretch[f];
        let (at, reached) = self.ramp_anchor[f];
        let now = if len > 0.0 {
            (reached + (months - at) / len).clamp(0.0, 1.0)
        } else {
            1.0
        };
        self.ramp_anchor[f] = (months, now);
    }

    /// What a stockpile holds now, t of its form.
    pub fn stockpile_holding(&self, s: StockpileId) -> f64 {
        holding(
            &self.stock,
            &self.model,
            self.sp_node[s],
            self.model.stockpiles[s].form,
        )
    }

    /// Adds tonnes (of the form's unit) to a stockpile at once, in its holding's mix.
    pub fn stockpile_fill(&mut self, s: StockpileId, tonnes: f64) {
        let m = Arc::clone(&self.model);
        let (nf, ne) = self.nfe();
        let n = self.stockpile_node(s);
        let form = m.stockpiles[s].form;
        let comp = {
            let h = &m.stockpiles[s].holding;
            let t: f64 = h.iter().sum();
            if t > 0.0 {
                h.iter().map(|x| x / t).collect()
            } else {
                self.mixed_composition(form, self.model.forms.len())
            }
        };
        for e in 0..ne {
            let add = tonnes * m.forms[form].re_share * comp[e];
            self.stock[(n * nf + form) * ne + e] += add;
            self.ledger.initial[form * ne + e] += add;
        }
    }

    fn stockpile_node(&self, s: StockpileId) -> usize {
        self.sp_node[s]
    }

    /// Recipes that use element `e` use `factor` of it from now on; its share goes to the
    /// recipe's other elements in proportion.
    /// The share of element `e` scripts keep in the model's recipes (`thrift`; 1 = untouched).
    pub fn thrift_kept(&self, e: ElemId) -> f64 {
        self.thrift_kept[e]
    }

    pub fn thrift(&mut self, e: ElemId, factor: f64) {
        // Relative to the model's recipes: thrifting Dy to 0.5 twice is 0.5, not 0.25.
        self.thrift_kept[e] = factor;
        for (base, model) in self
            .base_composition
            .iter_mut()
            .zip(&self.model_composition)
        {
            base.clone_from(model);
            for (x, &kept) in self.thrift_kept.iter().enumerate() {
                if kept != 1.0 {
                    cut_share(base, x, 1.0 - kept);
                }
            }
        }
        for r in 0..self.composition.len() {
            self.apply_thrift(r);
        }
        self.build_topology();
    }

    /// The recipe's working composition: its base with the endogenous thrift cuts applied.
    fn apply_thrift(&mut self, r: RecipeId) {
        let comp = &mut self.composition[r];
        comp.clear();
        comp.extend_from_slice(&self.base_composition[r]);
        for (k, &(e, _)) in self.model.recipes[r].thrift.iter().enumerate() {
            cut_share(comp, e, self.thrifted[r][k]);
        }
    }

    /// Adds a facility like `template` with a new id, capacity (t/yr of its output form),
    /// start and ramp. An event, not a step: arrays grow here.
    pub fn add_facility_like(
        &mut self,
        template: FacilityId,
        id: &str,
        capacity: f64,
        start: Date,
        ramp_months: f64,
    ) {
        let (country, firm) = {
            let fac = &self.model.facilities[template];
            (fac.country, fac.firm)
        };
        self.add_facility_at(template, id, capacity, start, ramp_months, country, firm);
    }

    /// As [`Sim::add_facility_like`], in `country` and owned by `firm` (a plant like one
    /// abroad). The caller keeps a mine where its deposit is.
    #[allow(clippy::too_many_arguments)]
    pub fn add_facility_at(
        &mut self,
        template: FacilityId,
        id: &str,
        capacity: f64,
        start: Date,
        ramp_months: f64,
        country: CountryId,
        firm: Option<FirmId>,
    ) {
        let model = Arc::make_mut(&mut self.model);
        let mut fac = model.facilities[template].clone();
        let re_share = model.forms[fac.capacity_form(model)].re_share;
        fac.country = country;
        fac.firm = firm;
        fac.id = id.to_string();
        fac.name = id.to_string();
        fac.capacity = capacity * re_share;
        fac.start = start;
        fac.end = None;
        fac.ramp_months = ramp_months;
        let node = Node {
            kind: NodeKind::Facility(model.facilities.len()),
            country: fac.country,
            firm: fac.firm,
            priority: 0,
        };
        model.facilities.push(fac);
        let col = self.series.declare_late("output", id);
        self.cols.facility_output.push(col);
        // A plant in a country that had none of its kind opens routes to and from it.
        for (x, y, f) in trade_routes(&self.model) {
            self.declare_route(x, y, f);
        }
        let (nf, ne) = self.nfe();
        let nc = self.model.commodities.len();
        self.nodes.push(node);
        self.fac_node.push(self.nodes.len() - 1);
        self.stock.extend(std::iter::repeat_n(0.0, nf * ne));
        self.on_order.extend(std::iter::repeat_n(0.0, nc));
        self.due
            .extend(std::iter::repeat_n(0.0, nc * self.due_ring));
        self.ease.extend(std::iter::repeat_n(1.0, nc));
        self.capacity_mult.push(1.0);
        self.closed.push(false);
        self.run_rate.push(1.0);
        self.cap_now.push(0.0);
        self.plan.push(0.0);
        self.sales_ema.push(0.0);
        self.offered_yet.push(false);
        self.sold_before.push(false);
        self.before_outage.push(0.0);
        self.wanted.push(0.0);
        self.sales_free.push(0.0);
        self.price_weight.push(1.0);
        self.starved.push(false);
        self.capped.push(false);
        self.qualified_price.push(1.0);
        self.short_of_inputs.push(false);
        self.controlled.push(false);
        self.spare_run.push(0.0);
        self.fed.push(true);
        self.outage.push([(0.0, 0); OUTAGE_SLOTS]);
        let ne = self.model.elements.len();
        self.made_total.extend(std::iter::repeat_n(0.0, ne));
        self.offtake_seen.extend(std::iter::repeat_n(0.0, ne));
        self.random_outage.push((0.0, 0));
        self.ramp_stretch.push(1.0);
        self.ramp_anchor.push((0.0, 0.0));
        self.build_topology();
        self.fit_scratch();
    }

    /// The column of trade from `x` to `y` in form `f` (`trade_by_form`), declared now if
    /// no seller and buyer could use the route when the run began: it has carried nothing
    /// so far (an event, not a step: the table is re-laid).
    pub fn declare_route(&mut self, x: CountryId, y: CountryId, f: FormId) -> usize {
        let key = route_key(&self.model, x, y, f);
        if let Some(col) = self.series.find("trade_by_form", &key) {
            return col;
        }
        let col = self.series.declare_late("trade_by_form", &key);
        let i = route_index(&self.model, x, y, f);
        self.scratch.pair_form[i] = 0.0;
        self.cols.trade_form.push((i, col));
        col
    }

    /// Sets the share of a sector's use that comes back as scrap. A sector that starts
    /// recycling becomes a seller of scrap (an event: the trading tables are rebuilt).
    pub fn set_recycle_rate(&mut self, s: SectorId, rate: f64) {
        let was = self.recycle_rate[s];
        self.recycle_rate[s] = rate;
        if was == 0.0 && rate != 0.0 {
            self.build_topology();
            self.fit_scratch();
        }
    }

    /// Grows the per-node and per-facility buffers after the topology grew.
    fn fit_scratch(&mut self) {
        let nn = self.nodes.len();
        let nfac = self.model.facilities.len();
        let nx = self.model.countries.len();
        let s = &mut self.scratch;
        for v in [
            &mut s.offer,
            &mut s.request,
            &mut s.asked,
            &mut s.use_now,
            &mut s.need,
            &mut s.cover,
            &mut s.got,
            &mut s.wsum,
            &mut s.licensed,
            &mut s.queued,
            &mut s.bought,
            &mut s.held,
        ] {
            v.resize(nn, 0.0);
        }
        // (A tier's restocking pass has its own copy of the tier's buyer countries.)
        for v in [
            &mut s.req_tc,
            &mut s.home_tc,
            &mut s.want_tc,
            &mut s.share_tc,
            &mut s.tier_fill,
        ] {
            v.resize(2 * nn, 0.0);
        }
        s.received.resize(nn, false);
        s.buyer_country.resize(nn, 0);
        s.buyer_stage.resize(nn, 0);
        s.output.resize(nfac, 0.0);
        s.sold.resize(nfac, 0.0);
        s.sold_e.resize(nfac * self.model.elements.len(), 0.0);
        s.contract_base
            .resize(nfac * self.model.elements.len(), 0.0);
        s.order.reserve(nn);
        s.wmat.resize(nn * nx, 0.0);
        s.took.resize(nn * nx, 0.0);
        s.sources.reserve((nn * nx).saturating_sub(s.sources.len()));
        s.sources_at.resize(nn + 1, 0);
        s.reached.resize(nn, 0);
    }

    // ---------------------------------------------------------------- policies (data)

    /// Adds a policy; it takes effect from the step containing its start date, and ends
    /// with the step before the one containing its end.
    pub fn add_policy(&mut self, mut p: Policy) -> usize {
        p.start = self.model.step_start(p.start);
        p.end = p.end.map(|e| self.model.step_start(e));
        self.policies.push(p);
        self.rules_dirty = true;
        self.policies.len() - 1
    }

    /// Ends, from `date`, every policy for which `pred` holds; returns how many it ended.
    pub fn end_policies(&mut self, date: Date, pred: impl Fn(&Policy) -> bool) -> usize {
        let mut n = 0;
        for p in &mut self.policies {
            if p.in_force(date) && pred(p) {
                p.end = Some(date);
                n += 1;
            }
        }
        self.rules_dirty = true;
        n
    }

    /// Marks trade rules for rebuilding (after a lever changes compositions or policies).
    pub fn touch(&mut self) {
        self.rules_dirty = true;
    }

    fn policy_window_changes(&self, date: Date) -> bool {
        let next = date.add_days(self.model.step_days as i32);
        self.policies.iter().any(|p| {
            (p.start > date && p.start <= next) || p.end.is_some_and(|e| e > date && e <= next)
        })
    }

    /// Rebuilds the per-commodity, per-buyer, per-exporter trade rules from the policies in
    /// force. Runs only when policies change, never in the steady loop.
    fn rebuild_rules(&mut self) {
        let date = self.date();
        let m = &self.model;
        let nx = m.countries.len();
        let nc = m.commodities.len();
        let mut offsets = Vec::with_capacity(nc);
        let mut total = 0;
        for c in 0..nc {
            offsets.push(total);
            total += self.buyers_of[c].len() * nx;
        }
        // The table is rebuilt in place: policies change often in a scripted run.
        let mut rules = std::mem::take(&mut self.rules);
        rules.clear();
        rules.resize(total, OPEN);
        let mut quotas: Vec<QuotaUse> = Vec::new();
        let active: Vec<usize> = (0..self.policies.len())
            .filter(|&i| self.policies[i].in_force(date))
            .collect();
        // Ramp stretch from technology bans.
        let mut stretch = vec![1.0; m.facilities.len()];
        for &pi in &active {
            let p = &self.policies[pi];
            if p.kind == PolicyKind::TechBan {
                for (f, fac) in m.facilities.iter().enumerate() {
                    if Some(fac.country) != p.exporter
                        && fac.start >= p.start
                        && p.reaches(m, fac.country, fac.firm)
                        && tech_ban_covers(m, p, f)
                    {
                        stretch[f] = m.behaviour.tech_ban_ramp_factor;
                    }
                }
            }
            if let PolicyKind::ExportQuota { tonnes_per_year } = p.kind {
                // A quota imposed during a year allows its rate from then on, not the
                // share of the year already gone: it starts as if that share were spent.
                let begun = || {
                    let (before, steps) = m.year_steps(self.step);
                    let gone = before as f64 / steps as f64;
                    QuotaUse {
                        policy: pi,
                        used: tonnes_per_year * gone,
                        year: date.year(),
                    }
                };
                let prev = self.quotas.iter().find(|q| q.policy == pi);
                quotas.push(prev.copied().unwrap_or_else(begun));
            }
        }
        let mut typical: Vec<Vec<f64>> = (0..m.forms.len())
            .map(|f| {
                if m.forms[f].mixed {
                    self.typical_composition(f)
                } else {
                    Vec::new()
                }
            })
            .collect();
        // Mixed forms some recipe makes: what a content rule can reach.
        let manufactured: Vec<bool> = (0..m.forms.len())
            .map(|f| m.forms[f].mixed && m.recipes.iter().any(|r| r.output == f))
            .collect();
        // Goods made before a thrift took an element out still carry it: a control on the
        // element keeps reaching them while their sellers' holdings carry a tenth or more of
        // the share the model's recipes put in (re-checked every step until they do not).
        let mut lingers = false;
        for f in (0..m.forms.len()).filter(|&f| manufactured[f]) {
            for e in 0..m.elements.len() {
                let made_with = (0..m.recipes.len())
                    .filter(|&r| m.recipes[r].output == f)
                    .map(|r| self.model_composition[r].get(e).copied().unwrap_or(0.0))
                    .fold(0.0, f64::max);
                if typical[f][e] > 1e-12 || made_with <= 0.0 {
                    continue;
                }
                // What the exporters that control the element hold (all of them for a
                // content rule, which reaches what others make with the element too).
                let controls = |x: CountryId| {
                    active.iter().any(|&pi| {
                        let p = &self.policies[pi];
                        let reaches = matches!(p.kind, PolicyKind::ContentRule { .. })
                            || p.exporter.is_none_or(|ex| ex == x);
                        p.elements != 0 && p.covers_element(e) && p.covers_form(f) && reaches
                    })
                };
                let held = self.held_share(f, e, controls);
                if held > 0.1 * made_with {
                    typical[f][e] = held;
                    lingers = true;
                }
            }
        }
        self.content_lingers = lingers;
        for c in 0..nc {
            let com = m.commodities[c];
            let covered = |p: &Policy| -> bool {
                if !p.covers_form(com.form) {
                    return false;
                }
                match com.element {
                    Some(e) => p.covers_element(e),
                    None => {
                        // A mixed form is reached when it contains a covered element at or
                        // above the rule's threshold (any content for other controls).
                        let threshold = match p.kind {
                            PolicyKind::ContentRule { threshold, .. } => threshold,
                            _ => 0.0,
                        };
                        let comp = &typical[com.form];
                        p.elements == 0
                            || (0..m.elements.len())
                                .any(|e| p.covers_element(e) && comp[e] > threshold.max(1e-12))
                    }
                }
            };
            // Which policies reach this commodity at all (once, not per buyer and exporter).
            let reaching: Vec<usize> = active
                .iter()
                .copied()
                .filter(|&pi| covered(&self.policies[pi]))
                .collect();
            if reaching.is_empty() {
                continue;
            }
            for (slot, &b) in self.buyers_of[c].iter().enumerate() {
                let buyer = self.nodes[b];
                for x in 0..nx {
                    let r = &mut rules[offsets[c] + slot * nx + x];
                    // The tariff on this flow: one on every exporter ("*") and one on this
                    // exporter stack; of each, the last pulled applies (an importer's own
                    // tariff after its group's replaces it for the importer, not adds to it).
                    let mut rates = [None, None];
                    for &pi in &reaching {
                        let p = &self.policies[pi];
                        let foreign = buyer.country != x;
                        match p.kind {
                            PolicyKind::Tariff { rate } => {
                                if foreign
                                    && p.exporter.is_none_or(|e| e == x)
                                    && p.reaches(m, buyer.country, buyer.firm)
                                {
                                    rates[usize::from(p.exporter.is_some())] = Some(rate);
                                }
                            }
                            _ if p.exporter != Some(x)
                                && !matches!(p.kind, PolicyKind::ContentRule { .. }) => {}
                            PolicyKind::ExportBan => {
                                if foreign && p.reaches(m, buyer.country, buyer.firm) {
                                    r.allow = 0.0;
                                }
                            }
                            PolicyKind::EntityList => {
                                if foreign
                                    && p.to.reaches(m, buyer.country, buyer.firm)
                                    && !p.exempt.reaches(m, buyer.country, buyer.firm)
                                {
                                    r.allow = 0.0;
                                }
                            }
                            PolicyKind::ExportLicence {
                                approval,
                                delay_steps,
                            } => {
                                if foreign && p.reaches(m, buyer.country, buyer.firm) {
                                    r.allow *= approval;
                                    r.delay = r.delay.max(delay_steps);
                                }
                            }
                            PolicyKind::ExportQuota { .. } => {
                                if foreign && p.reaches(m, buyer.country, buyer.firm) {
                                    if let Some(qi) = quotas.iter().position(|q| q.policy == pi) {
                                        r.quota.add(qi);
                                    }
                                }
                            }
                            PolicyKind::ContentRule {
                                approval,
                                delay_steps,
                                ..
                            } => {
                                // Re-exports by third countries of items made with the
                                // controlling country's elements need its licence: made
                                // goods (a recipe's mixed output, such as magnets), not ore
                                // mined there or scrap.
                                if foreign
                                    && p.exporter != Some(x)
                                    && p.exporter != Some(buyer.country)
                                    && manufactured[com.form]
                                    && p.reaches(m, buyer.country, buyer.firm)
                                {
                                    r.allow *= approval;
                                    r.delay = r.delay.max(delay_steps);
                                }
                            }
                            PolicyKind::TechBan => {}
                        }
                    }
                    for rate in rates.into_iter().flatten() {
                        r.tariff *= (1.0 + rate).powf(-m.behaviour.tariff_elasticity);
                        r.duty = (1.0 + r.duty) * (1.0 + rate) - 1.0;
                    }
                }
            }
        }
        // Room in the licence queue for everything these rules can hold at once: each held
        // flow (buyer, exporter) queues at most one shipment per element per import round,
        // for `delay` steps. Sized here, at the event, so the steps never grow it.
        let mut room = 0;
        for c in 0..nc {
            let per_flow = if m.commodities[c].element.is_none() {
                2 * m.elements.len()
            } else {
                2
            };
            for slot in 0..self.buyers_of[c].len() {
                for &x in &self.links[c].seller_countries {
                    let delay = rules[offsets[c] + slot * nx + x].delay as usize;
                    room += per_flow * delay;
                }
            }
        }
        self.pending.reserve(room);
        // Plants a control keeps from some supplier of an input (a ban, a refused share, a
        // review): see `price_weight`.
        let mut controlled = vec![false; m.facilities.len()];
        for c in 0..nc {
            for (slot, &n) in self.buyers_of[c].iter().enumerate() {
                if let NodeKind::Facility(f) = self.nodes[n].kind {
                    controlled[f] |= self.links[c].seller_countries.iter().any(|&x| {
                        let r = &rules[offsets[c] + slot * nx + x];
                        x != self.nodes[n].country && (r.allow < 1.0 || r.delay > 0)
                    });
                }
            }
        }
        self.controlled = controlled;
        self.rules = rules;
        self.rule_offset = offsets;
        self.scratch.quota_fill.resize(quotas.len(), 0.0);
        self.scratch.quota_want.resize(quotas.len(), 0.0);
        self.quotas = quotas;
        self.inherit_quota_records(date);
        // Who has what on offer now (a plant built or started since the last trade).
        self.offered_at.resize(nc * nx, None);
        for c in 0..nc {
            for l in &self.links[c].sellers {
                if self.offer_held(l) > NOISE {
                    self.offered_at[c * nx + l.country] = Some(self.step);
                }
            }
        }
        self.controls = !active.is_empty();
        self.update_segmenting();
        self.classify_markets();
        for f in 0..stretch.len() {
            if stretch[f] != self.ramp_stretch[f] {
                self.reanchor_ramp(f);
            }
        }
        self.ramp_stretch = stretch;
        self.rules_dirty = false;
        self.release_reviewed();
        self.rebuild_due();
    }

    /// The buyers' arrival profiles, afresh from the licence queue, over the longest review
    /// in force or wait queued (rules change only at events, never in the steady loop).
    fn rebuild_due(&mut self) {
        let nc = self.model.commodities.len();
        let longest = (self.rules.iter().map(|r| r.delay as usize))
            .chain(
                self.pending
                    .iter()
                    .map(|p| p.arrive.saturating_sub(self.step)),
            )
            .max()
            .unwrap_or(0);
        // (At least one slot: a shipment released to arrive this step is due now.)
        self.due_ring = longest + 1;
        self.due.clear();
        self.due.resize(self.on_order.len() * self.due_ring, 0.0);
        for p in self.pending.iter().filter(|p| !p.held) {
            let at = (p.node * nc + p.commodity) * self.due_ring + p.arrive % self.due_ring;
            self.due[at] += p.qty;
        }
    }

    /// Shipments waiting on a licence's review that the rules now in force let through
    /// sooner (the licence lifted, or its review shortened) arrive by then: an exporter
    /// free to ship sends what it had waiting, and buyers whose pipeline holds those orders
    /// are not left short until the old review ends. (One now banned is held when it is
    /// due: see `arrivals`.)
    fn release_reviewed(&mut self) {
        let nx = self.model.countries.len();
        for i in 0..self.pending.len() {
            let sh = self.pending[i];
            let Some(slot) = self.buyers_of[sh.commodity]
                .iter()
                .position(|&b| b == sh.node)
            else {
                continue;
            };
            let rule = &self.rules[self.rule_offset[sh.commodity] + slot * nx + sh.exporter];
            let by = self.step + rule.delay as usize;
            if rule.allow > 0.0 && by < sh.arrive {
                self.pending[i].arrive = by;
            }
        }
    }

    /// The share of element `e` in what the sellers of mixed form `form` in the countries
    /// `from` picks hold, all together, stockpiles aside (0 when they hold only rounding
    /// noise).
    fn held_share(&self, form: FormId, e: ElemId, from: impl Fn(CountryId) -> bool) -> f64 {
        let m = &self.model;
        let (nf, ne) = (m.forms.len(), m.elements.len());
        let (mut part, mut total) = (0.0, 0.0);
        for &n in &self.sellers_of[m.commodity(form, None)] {
            // A government stockpile's holding is not traded as goods are made: what it
            // bought before a thrift would hold the control on for good.
            let stockpile = matches!(self.nodes[n].kind, NodeKind::Stockpile(_));
            if !stockpile && from(self.nodes[n].country) {
                let base = (n * nf + form) * ne;
                part += self.stock[base + e];
                total += lane_sum(&self.stock[base..base + ne]);
            }
        }
        if total > NOISE {
            part / total
        } else {
            0.0
        }
    }

    /// The element shares a mixed form typically carries: what its producers put in it.
    fn typical_composition(&self, form: FormId) -> Vec<f64> {
        let m = &self.model;
        let ne = m.elements.len();
        let mut comp = vec![0.0; ne];
        for fac in &m.facilities {
            match fac.process {
                Process::Mine(d) if form == m.deposits[d].form => {
                    for e in 0..ne {
                        comp[e] = f64::max(comp[e], m.deposits[d].distribution[e]);
                    }
                }
                Process::Convert(r) if m.recipes[r].output == form => {
                    for e in 0..ne {
                        let c = self.composition[r].get(e).copied().unwrap_or(1.0);
                        comp[e] = f64::max(comp[e], c);
                    }
                }
                _ => {}
            }
        }
        comp
    }

    // ---------------------------------------------------------------- the step

    /// Advances one step: the phases in their fixed order.
    pub fn step(&mut self) {
        for (_, phase) in PHASES {
            phase(self);
        }
        self.end_step();
    }

    /// One step, adding each phase's wall time to `times` (in the order of [`PHASES`]).
    pub fn step_timed(&mut self, times: &mut [std::time::Duration; PHASES.len()]) {
        for ((_, phase), time) in PHASES.iter().zip(times.iter_mut()) {
            let t = std::time::Instant::now();
            phase(self);
            *time += t.elapsed();
        }
        self.end_step();
    }

    /// Policies in force changed (or a control reaches goods only through old holdings):
    /// rebuild the trade rules before anything trades. A quota that began or ceased to bind
    /// changes which markets it segments.
    fn refresh_rules(&mut self) {
        if self.rules_dirty || self.content_lingers {
            self.rebuild_rules();
        } else if self.controls && self.update_segmenting() {
            self.classify_markets();
        }
    }

    /// What a seller holds of its commodity to offer (its stock of the element, or of the
    /// whole mixed form).
    fn offer_held(&self, l: &trade::SellerLink) -> f64 {
        if l.stock == usize::MAX {
            let ne = self.model.elements.len();
            lane_sum(&self.stock[l.base..l.base + ne])
        } else {
            self.stock[l.stock]
        }
    }

    /// What decides, this step, whether controls segment each commodity's markets: which
    /// exporters have had it on offer, and whether a quota on it has run out of room,
    /// within the last `SEGMENT_MEMORY_YEARS`. Returns whether any of it changed since the
    /// markets were last classified.
    fn update_segmenting(&mut self) -> bool {
        let memory = (self.model.steps_per_year() * SEGMENT_MEMORY_YEARS).round() as usize;
        let step = self.step;
        let recent =
            |at: &Option<usize>| at.is_some_and(|s| step.saturating_sub(s) <= memory.max(1));
        self.offering.resize(self.offered_at.len(), false);
        self.quota_binds.resize(self.quotas.len(), false);
        let mut changed = false;
        for (now, at) in (self.offering.iter_mut()).zip(&self.offered_at) {
            changed |= recent(at) != *now;
            *now = recent(at);
        }
        for (now, q) in (self.quota_binds.iter_mut()).zip(&self.quotas) {
            let binds = recent(&self.quota_ran_out[q.policy]);
            changed |= binds != *now;
            *now = binds;
        }
        changed
    }

    /// A quota imposed now in place of one just ended on the same exporter and goods, of at
    /// most twice its tonnes (a year's quota renewed, as the 2010 replay's each January),
    /// takes over its record of running out: it is the same constraint, and its markets
    /// stay segmented instead of coupling for the week before it runs out again. A much
    /// larger one (a cap of 10 Mt after one of 5,000 t) starts with none.
    fn inherit_quota_records(&mut self, date: Date) {
        self.quota_ran_out.resize(self.policies.len(), None);
        let since = date.add_days(-(self.model.step_days as i32));
        let tonnes = |p: &Policy| match p.kind {
            PolicyKind::ExportQuota { tonnes_per_year } => Some(tonnes_per_year),
            _ => None,
        };
        for qi in 0..self.quotas.len() {
            let pi = self.quotas[qi].policy;
            let new = &self.policies[pi];
            if self.quota_ran_out[pi].is_some() || new.start < since {
                continue;
            }
            let Some(t) = tonnes(new) else { continue };
            let before = (0..self.policies.len()).filter(|&pj| pj != pi).find(|&pj| {
                let old = &self.policies[pj];
                old.end.is_some_and(|e| e >= since && e <= date)
                    && tonnes(old).is_some_and(|o| t <= 2.0 * o)
                    && (old.exporter, old.elements, old.forms)
                        == (new.exporter, new.elements, new.forms)
                    && old.to == new.to
                    && old.exempt == new.exempt
                    && self.quota_ran_out[pj].is_some()
            });
            if let Some(pj) = before {
                self.quota_ran_out[pi] = self.quota_ran_out[pj];
            }
        }
    }

    /// Notes the quotas whose room this step's trade used up (run after the markets; who
    /// had what on offer is noted as the offers are gathered).
    pub(super) fn note_quotas_held(&mut self) {
        for q in &self.quotas {
            let room = quota_cap(f64::INFINITY, *q, &self.policies, self.year_frac, None);
            let PolicyKind::ExportQuota { tonnes_per_year } = self.policies[q.policy].kind else {
                continue;
            };
            // Out of room: within a millionth of a step's allowance.
            if room <= tonnes_per_year / self.model.steps_per_year() * 1e-6 {
                self.quota_ran_out[q.policy] = Some(self.step);
            }
        }
    }

    /// Which commodities trade on the open path and which have their markets arbitraged.
    /// Any rule on an exporter of a commodity keeps it off the open path, which applies
    /// none (a plant that starts selling is reached from its first tonne). Only a quantity
    /// control (a ban, a licence, a quota that has run out of room) on an exporter that has
    /// had the good on offer segments its markets: one on an exporter with none of it
    /// (Korea's oxide, a plant still being built) or a quota with room to spare holds
    /// nothing back, and traders arbitrage across it as across no control at all. A tariff
    /// moves orders between suppliers but leaves prices arbitraged, so a slight one moves
    /// them slightly (the model prices no duty).
    fn classify_markets(&mut self) {
        let nx = self.model.countries.len();
        let nc = self.model.commodities.len();
        let (links, rules, offsets) = (&self.links, &self.rules, &self.rule_offset);
        let rules_on = |c: usize, x: usize| {
            (0..self.buyers_of[c].len()).map(move |slot| &rules[offsets[c] + slot * nx + x])
        };
        let live_rules =
            |c: usize| (links[c].seller_countries.iter()).flat_map(move |&x| rules_on(c, x));
        let (offering, binds) = (&self.offering, &self.quota_binds);
        // (In place: the markets are classified again within the step loop, as a quota
        // runs out or an exporter's stock comes and goes.)
        self.arbitraged.resize(nc, true);
        self.open.resize(nc, true);
        self.quota_only.resize(nc, false);
        for c in 0..nc {
            self.arbitraged[c] = (links[c].seller_countries.iter())
                .filter(|&&x| offering.get(c * nx + x).copied().unwrap_or(false))
                .flat_map(|&x| rules_on(c, x))
                .all(|r| {
                    r.allow == 1.0
                        && r.delay == 0
                        && r.quota
                            .iter()
                            .all(|qi| !binds.get(qi).copied().unwrap_or(false))
                });
            let untaxed =
                |r: &Rule| r.allow == 1.0 && r.delay == 0 && r.tariff == 1.0 && r.duty == 0.0;
            self.open[c] = live_rules(c).all(|r| untaxed(r) && r.quota.is_empty());
            self.quota_only[c] = !self.open[c] && live_rules(c).all(untaxed);
        }
    }

    fn end_step(&mut self) {
        if self.policy_window_changes(self.date()) {
            self.rules_dirty = true;
        }
        self.step += 1;
    }

    /// Runs every step that starts on or before `date`, or to the model's end.
    pub fn run_until(&mut self, date: Date) {
        while self.step < self.model.horizon_steps() && self.date() <= date {
            self.step();
        }
    }

    /// Whether anyone in `country` buys goods of `form`: a plant taking it as input, a
    /// sector using it, a stockpile holding it.
    pub fn anyone_buys(&self, country: CountryId, form: FormId) -> bool {
        (0..self.model.commodities.len())
            .filter(|&c| self.model.commodities[c].form == form)
            .any(|c| {
                self.buyers_of[c]
                    .iter()
                    .any(|&b| self.nodes[b].country == country)
            })
    }

    /// Whether any plant in `country` makes `form`, a stockpile there holds it, or (for
    /// scrap) a sector there could recycle into it: whether it could ever sell any.
    pub fn anyone_sells(&self, country: CountryId, form: FormId) -> bool {
        traders(&self.model).0[country * self.model.forms.len() + form]
    }

    /// Sizes of the run's tables, for benchmarks and diagnostics.
    pub fn shape(&self) -> String {
        let pairs: usize = self.buyers_of.iter().map(Vec::len).sum();
        let sellers: usize = self.sellers_of.iter().map(Vec::len).sum();
        format!(
            "{} nodes, {} commodities, {} buyer links, {} seller links, {} series",
            self.nodes.len(),
            self.model.commodities.len(),
            pairs,
            sellers,
            self.series.width()
        )
    }

    pub fn run_to_end(&mut self) {
        while self.step < self.model.horizon_steps() {
            self.step();
        }
    }

    fn clear_step_totals(&mut self) {
        let s = &mut self.scratch;
        for v in [
            &mut s.output,
            &mut s.production,
            &mut s.mine_element,
            &mut s.exports,
            &mut s.imports,
            &mut s.pair,
            &mut s.dep_foreign,
            &mut s.dep_total,
            &mut s.sold,
            &mut s.sector_need,
            &mut s.sector_used,
            &mut s.sector_lost,
            &mut s.region_need,
            &mut s.region_used,
            &mut s.cover_have,
            &mut s.cover_need,
            &mut s.buyer_target,
            &mut s.buyer_have,
            &mut s.made,
            &mut s.arrived,
            &mut s.sold_c,
            &mut s.sold_e,
            &mut s.released,
        ] {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
        // Only routes carry trade by form (`trade_routes`): clear those, not every pair.
        for &(i, _) in &self.cols.trade_form {
            s.pair_form[i] = 0.0;
        }
    }

    /// Stochastic outages, from the run's own seeded stream.
    fn random_events(&mut self) {
        for o in &self.outages {
            let draw = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            if draw < o.probability {
                // An event during another extends it (at the larger share); one after the
                // last has ended starts afresh.
                let slot = &mut self.random_outage[o.facility];
                let until = self.step + o.steps;
                *slot = if self.step < slot.1 {
                    (slot.0.max(o.share), slot.1.max(until))
                } else {
                    (o.share, until)
                };
            }
        }
    }

    /// Licensed shipments that have cleared arrive at their buyers.
    ///
    /// A shipment waits on its review at the exporter, not yet cleared: one that a ban or
    /// an entity listing now reaches is held there when it falls due, until the control
    /// lifts (it stays in the licence queue; its buyer stops counting on it). Without this
    /// a ban let through every tonne already waiting: ~320 t of Dy goods reached Germany
    /// in the four weeks after a ban on it (review 2026-12-01).
    fn arrivals(&mut self) {
        let (nf, ne) = self.nfe();
        let nc = self.model.commodities.len();
        let nx = self.model.countries.len();
        let step = self.step;
        let mut i = 0;
        while i < self.pending.len() {
            let s = self.pending[i];
            if s.arrive <= step && self.banned(s.commodity, s.node, s.exporter, nx) {
                self.pending[i].arrive = step + 1;
                if !s.held {
                    self.pending[i].held = true;
                    self.no_longer_due(&s);
                }
                i += 1;
                continue;
            }
            if s.arrive <= step {
                self.stock[(s.node * nf + s.form) * ne + s.elem] += s.qty;
                // A government stockpile pays for a licensed delivery when it arrives.
                if let NodeKind::Stockpile(_) = self.nodes[s.node].kind {
                    let m = &self.model;
                    let x = self.nodes[s.node].country;
                    let price = self.price[m.countries[x].market * nc + s.commodity];
                    self.policy_cost[x] += price * s.qty / m.forms[s.form].re_share * 1000.0;
                }
                self.scratch.arrived[s.exporter] += s.qty;
                if !s.held {
                    self.no_longer_due(&s);
                }
                self.pending.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// A shipment arrives, or is held: its buyer no longer counts it on order, nor due.
    fn no_longer_due(&mut self, s: &Shipment) {
        let at = s.node * self.model.commodities.len() + s.commodity;
        let o = &mut self.on_order[at];
        *o = (*o - s.qty).max(0.0);
        let d = &mut self.due[at * self.due_ring + s.arrive % self.due_ring];
        *d = (*d - s.qty).max(0.0);
    }

    /// Per exporter: tonnes in its licence queue that a ban or entity listing holds (they
    /// count in trade when ordered, and arrive only if the control lifts).
    pub fn held_in_queue(&self) -> Vec<(CountryId, f64)> {
        let mut out: Vec<(CountryId, f64)> = Vec::new();
        for sh in self.pending.iter().filter(|sh| sh.held) {
            match out.iter_mut().find(|(x, _)| *x == sh.exporter) {
                Some((_, q)) => *q += sh.qty,
                None => out.push((sh.exporter, sh.qty)),
            }
        }
        out.sort_by_key(|&(x, _)| x);
        out
    }

    /// Whether the rules in force bar `exporter` from shipping `commodity` to buyer `node`
    /// at all (a ban, an entity listing, a licence approving nothing).
    fn banned(&self, commodity: CommodityId, node: usize, exporter: CountryId, nx: usize) -> bool {
        let slots = &self.buyers_of[commodity];
        slots.iter().position(|&b| b == node).is_some_and(|slot| {
            self.rules[self.rule_offset[commodity] + slot * nx + exporter].allow <= 0.0
        })
    }

    /// Effective capacity of a facility this step, tonnes of RE per step.
    pub fn capacity_now(&self, f: FacilityId) -> f64 {
        self.cap_now[f]
    }

    /// A facility's capacity at the current step, computed afresh (for tests and tools).
    pub fn capacity_now_at(&self, f: FacilityId) -> f64 {
        self.compute_capacity(f)
    }

    /// A facility's capacity at the last simulated step, t of RE per step.
    pub fn capacity_last(&self, f: FacilityId) -> f64 {
        self.capacity_on(f, self.last_date(), self.step.saturating_sub(1))
    }

    fn compute_capacity(&self, f: FacilityId) -> f64 {
        self.capacity_on(f, self.date(), self.step)
    }

    fn capacity_on(&self, f: FacilityId, date: Date, step: usize) -> f64 {
        let fac = &self.model.facilities[f];
        if date < fac.start || fac.end.is_some_and(|e| date >= e) {
            return 0.0;
        }
        let months = (date.days() - fac.start.days()) as f64 / 30.4375;
        let step_months = self.model.step_days as f64 / 30.4375;
        // On the ramp's present pace from where it stood when that pace was set.
        let len = fac.ramp_months * self.ramp_stretch[f];
        let (at, reached) = self.ramp_anchor[f];
        let from = months - at + reached * len;
        let ramp = ramp_over(from, from + step_months, len);
        let up = |(lost, until): (f64, usize)| if step < until { 1.0 - lost } else { 1.0 };
        let scripted: f64 = self.outage[f].iter().map(|&s| up(s)).product();
        let outage = scripted * up(self.random_outage[f]);
        let open = if self.closed[f] { 0.0 } else { 1.0 };
        fac.capacity * fac.utilisation * ramp * outage * self.capacity_mult[f] * open
            / self.model.steps_per_year()
    }

    /// How much of its plan a plant of recipe `r` in market `mk` runs given its margin: full
    /// while its inputs cost less than its output sells for, nothing once they cost
    /// `curtail_band` more. Input cost starts at `input_cost_share` of the output's value.
    /// Metal, magnet and recycling plants run at this share; separators run flat out but
    /// stop bidding their concentrate up once it reaches nothing.
    fn margin_factor(&self, mk: usize, r: RecipeId) -> f64 {
        let b = &self.model.behaviour;
        let rec = &self.model.recipes[r];
        let comp = self.weights_of(r);
        let input = self.price_index(mk, rec.input, |e| comp[e] / rec.recovery.max(1e-9), comp);
        let output = self.output_price_index(mk, r);
        let cost_share = b.input_cost_share * input / output.max(1e-9);
        ((1.0 + b.curtail_band - cost_share) / b.curtail_band.max(1e-9)).clamp(0.0, 1.0)
    }

    /// A recipe's element weights: its composition, or for a throughput plant (recycling)
    /// what its feed typically carries.
    fn weights_of(&self, r: RecipeId) -> &[f64] {
        match &self.composition[r] {
            c if c.is_empty() => &self.throughput_weights[r],
            c => c,
        }
    }

    /// What a converting facility makes, priced in its market against the start prices (1
    /// at start; 1 for a mine): the move its margin is reckoned on.
    pub fn output_price_move(&self, f: FacilityId) -> f64 {
        let fac = &self.model.facilities[f];
        match fac.process {
            Process::Convert(r) => {
                self.output_price_index(self.model.countries[fac.country].market, r)
            }
            Process::Mine(_) => 1.0,
        }
    }

    /// What recipe `r` makes, priced in market `mk` against its start prices (1 at start).
    fn output_price_index(&self, mk: usize, r: RecipeId) -> f64 {
        let comp = self.weights_of(r);
        self.price_index(mk, self.model.recipes[r].output, |e| comp[e], comp)
    }

    /// A form's price in market `mk` over its start price: a mixed form's own ratio, or the
    /// elements' prices weighted by `per_elem` (over the elements `comp` holds).
    fn price_index(
        &self,
        mk: usize,
        form: FormId,
        per_elem: impl Fn(usize) -> f64,
        comp: &[f64],
    ) -> f64 {
        let m = &self.model;
        let nc = m.commodities.len();
        let (mut now, mut then) = (0.0, 0.0);
        if m.forms[form].mixed {
            let c = m.commodity(form, None);
            let p0 = m.prices[mk * nc + c];
            return if p0 > 0.0 {
                self.price_ratio[mk * nc + c]
            } else {
                1.0
            };
        }
        for e in 0..comp.len() {
            let c = m.commodity(form, Some(e));
            let p0 = m.prices[mk * nc + c];
            if comp[e] > 0.0 && p0 > 0.0 {
                now += per_elem(e) * self.price[mk * nc + c];
                then += per_elem(e) * p0;
            }
        }
        if then > 0.0 {
            now / then
        } else {
            1.0
        }
    }

    /// A plant an outage holds below its sales remembers them, and plans on them again when
    /// its capacity is back. Buyers split their orders by what exporters offer, so while it
    /// made a tenth, it was offered a tenth, and a plan that followed would keep that share
    /// for good: a six-month 90% outage left LCM's metal plant at ~73 t/yr five years on,
    /// against ~415 without it and ~245 after a total stop (2026-11-30). Its plan then
    /// rebuilds its working stock and its offer; if the orders do not come back, its unsold
    /// output teaches it what its buyers want, as ever.
    fn recall_sales(&mut self, f: FacilityId, cap: f64) {
        let was = self.cap_now[f];
        if cap < was && cap < self.sales_ema[f] && self.before_outage[f] <= 0.0 {
            self.before_outage[f] = self.sales_ema[f];
        }
        let before = self.before_outage[f];
        if before > 0.0 && cap >= before {
            self.sales_ema[f] = self.sales_ema[f].max(before);
            self.before_outage[f] = 0.0;
        }
    }

    /// Per-step quantities every later phase reads: capacities, production plans, sector
    /// needs. Computed once here so the phases do not repeat the arithmetic.
    fn prepare(&mut self) {
        let m = Arc::clone(&self.model);
        let cover = m.behaviour.seller_cover_weeks * 7.0 / m.step_days as f64;
        let alpha = 1.0 / (m.behaviour.order_smoothing_weeks * 7.0 / m.step_days as f64).max(1.0);
        let qualify = match m.behaviour.qualify_weeks {
            w if w > 0.0 => 1.0 / (w * 7.0 / m.step_days as f64).max(1.0),
            _ => 0.0,
        };
        let (nf, ne) = (m.forms.len(), m.elements.len());
        let scrap = self.scrap_form();
        for f in 0..m.facilities.len() {
            let cap = self.compute_capacity(f);
            // A plant coming on line offers its whole output until its sales say otherwise.
            if self.cap_now[f] <= 0.0 && cap > 0.0 {
                // Until it has something to sell, its sales say nothing (see smooth_sales).
                self.offered_yet[f] = false;
            }
            if !self.offered_yet[f] {
                // Its plan follows its capacity (up the ramp, or down) until its first sales.
                self.sales_ema[f] = cap;
                self.sales_free[f] = cap;
            }
            self.recall_sales(f, cap);
            self.cap_now[f] = cap;
            // Plants adjust their run rate to margins over the smoothing horizon. The margin
            // depends on the recipe and the market only: once per step each.
            let run_rate = |sim: &mut Sim, r: RecipeId| {
                let mk = m.countries[m.facilities[f].country].market;
                let key = r * m.markets.len() + mk;
                let target = match sim.scratch.margins[key] {
                    (at, margin) if at == sim.step + 1 => margin,
                    _ => {
                        let margin = sim.margin_factor(mk, r);
                        sim.scratch.margins[key] = (sim.step + 1, margin);
                        margin
                    }
                };
                sim.run_rate[f] += alpha * (target - sim.run_rate[f]);
                sim.run_rate[f]
            };
            // Fixed-proportion plants (metals, magnets) make what their buyers take, plus
            // what refills their own output cover; recyclers run at capacity while their
            // margin holds; mines and separators run flat out (a separator with spare lines
            // above that, on a backlog).
            self.plan[f] = match m.facilities[f].process {
                Process::Convert(r) if !self.composition[r].is_empty() => {
                    let out = m.recipes[r].output;
                    let base = (self.fac_node[f] * nf + out) * ne;
                    let stock = &self.stock[base..base + ne];
                    // A product traded element by element (an alloy of two metals) is
                    // covered as far as its scarcest element goes: a surplus of one its
                    // buyers take less of (a Dy its magnet makers thrift) is no cover for
                    // the other. A mixed product is one good: its whole holding.
                    let held = if m.forms[out].mixed {
                        lane_sum(stock)
                    } else {
                        (self.recipe_elements[r].iter())
                            .map(|&e| stock[e] / self.composition[r][e])
                            .fold(f64::INFINITY, f64::min)
                            .min(lane_sum(stock))
                    };
                    let sales = self.sales_ema[f];
                    let refill = if cover > 0.0 {
                        (sales * cover - held) / cover
                    } else {
                        0.0
                    };
                    // A plant's utilisation is its usual rate. Plants making a product traded
                    // element by element (metal and alloy: electrolysis cells, run well below
                    // nameplate) bring in their spare lines, which cost more to run, as their
                    // output's price rises above its start (all of them at 1 +
                    // `spare_line_band`), so an outage's drawdown is rebuilt. Makers of a mixed
                    // product (magnet lines) bring theirs in on their price as their buyers
                    // have come to see it, over `qualify_weeks` (a buyer qualifies a new
                    // source, or more of a plant's output, over months): a short control is
                    // over before they come in, lasting demand growth brings them.
                    let fac = &m.facilities[f];
                    let mk = m.countries[fac.country].market;
                    let mixed = m.forms[out].mixed;
                    // (Followed every step, or the smoothing would skip the steps in between;
                    // with `qualify_weeks` 0 it stays 1.)
                    if mixed && qualify > 0.0 {
                        let now = self.output_price_index(mk, r);
                        let q = &mut self.qualified_price[f];
                        *q += qualify * (now - *q);
                    }
                    let top = if sales + refill > cap {
                        let index = match mixed {
                            true => self.qualified_price[f],
                            false => self.output_price_index(mk, r),
                        };
                        let band = m.behaviour.spare_line_band.max(1e-9);
                        let dear = ((index - 1.0) / band).clamp(0.0, 1.0);
                        cap + (cap / fac.utilisation.max(1e-9) - cap) * dear
                    } else {
                        cap
                    };
                    self.wanted[f] = (sales + refill).clamp(0.0, top);
                    self.capped[f] = sales + refill > top * (1.0 + 1e-9);
                    self.wanted[f] * run_rate(self, r)
                }
                // Recyclers buy scrap only while recovering it pays: with no scrap on offer
                // their demand would otherwise bid its price to the model's ceiling.
                Process::Convert(r) if Some(m.recipes[r].input) == scrap => cap * run_rate(self, r),
                // A separator with spare lines works off a backlog of feed left on offer
                // (a ban's stock at the mine, released): above its usual rate by the share
                // of a step's use the market left unsold, all of them from a whole step's.
                Process::Convert(r) if m.facilities[f].spare_lines => {
                    let fac = &m.facilities[f];
                    let c = m.commodity(m.recipes[r].input, None);
                    // Only a plant its market served in full: one kept short has no backlog
                    // it can reach.
                    // (None before the first market: the start's plans are made before. A
                    // millionth of a step's use is rounding, not a backlog.)
                    let left = self.scratch.backlog.get(c).copied().unwrap_or(0.0);
                    let backlog = if left > 1e-6 && self.fed[f] {
                        left.min(1.0)
                    } else {
                        0.0
                    };
                    self.spare_run[f] = (cap / fac.utilisation.max(1e-9) - cap) * backlog;
                    cap + self.spare_run[f]
                }
                Process::Convert(_) => cap,
                Process::Mine(_) => cap,
            };
        }
        for s in 0..m.sectors.len() {
            let ratio = self.sector_price_ratio(s);
            let sec = &m.sectors[s];
            let years = self.step as f64 / m.steps_per_year();
            let growth = self.growth_factor(s, years);
            let elastic = if ratio > 0.0 && ratio != 1.0 && sec.elasticity != 0.0 {
                ratio.powf(sec.elasticity)
            } else {
                1.0
            };
            self.sec_growth[s] = growth;
            self.sec_need[s] =
                sec.demand * growth * self.demand_mult[s] * elastic * (1.0 - self.substituted[s])
                    / m.steps_per_year();
        }
    }

    /// Mines produce their deposit's whole element vector: co-production.
    fn mine(&mut self) {
        let Sim {
            model: m,
            stock,
            ledger,
            scratch: s,
            fac_node,
            cap_now,
            made_total,
            ..
        } = self;
        let (nf, ne, nx, nc) = (
            m.forms.len(),
            m.elements.len(),
            m.countries.len(),
            m.commodities.len(),
        );
        for (f, fac) in m.facilities.iter().enumerate() {
            let Process::Mine(d) = fac.process else {
                continue;
            };
            let form = m.deposits[d].form;
            let q = cap_now[f];
            if q <= 0.0 {
                continue;
            }
            let mk = m.countries[fac.country].market;
            let held = &mut stock[(fac_node[f] * nf + form) * ne..][..ne];
            let made = &mut s.made[mk * nc..(mk + 1) * nc];
            for (e, &share) in m.deposits[d].distribution.iter().enumerate() {
                let x = q * share;
                held[e] += x;
                made_total[f * ne + e] += x;
                ledger.inflow[form * ne + e] += x;
                s.mine_element[e] += x;
                made[m.commodity(form, Some(e))] += x;
            }
            s.output[f] += q;
            s.production[fac.stage * nx + fac.country] += q;
        }
    }

    /// Offtakes move their share of a facility's new output into a government stockpile,
    /// paid at the facility's market price.
    fn offtake(&mut self) {
        if self.offtakes.is_empty() && self.contracts.is_empty() {
            return;
        }
        let m = Arc::clone(&self.model);
        let (nf, ne, nc) = (m.forms.len(), m.elements.len(), m.commodities.len());
        self.quota_year();
        // Offtakes and contracts each take their share of what the facility holds before
        // any of them takes: a 50% offtake and a 50% contract get half each.
        let held = self
            .offtakes
            .iter()
            .map(|o| o.facility)
            .chain(self.contracts.iter().map(|c| c.facility));
        for f in held {
            let form = m.facilities[f].output_form(&m);
            let from = (self.fac_node[f] * nf + form) * ne;
            self.scratch.contract_base[f * ne..(f + 1) * ne]
                .copy_from_slice(&self.stock[from..from + ne]);
        }
        for k in 0..self.offtakes.len() {
            let o = self.offtakes[k].clone();
            let fac = &m.facilities[o.facility];
            let form = fac.output_form(&m);
            let from = (self.fac_node[o.facility] * nf + form) * ne;
            let node = self.sp_node[o.stockpile];
            let to = (node * nf + form) * ne;
            let (x, y) = (fac.country, m.stockpiles[o.stockpile].country);
            let mk = m.countries[x].market;
            let nx = m.countries.len();
            let mixed = m.forms[form].mixed;
            // Across a border, export controls apply as to any purchase, and export quotas
            // count what it takes. (One rule for a mixed form, one per element otherwise.)
            let rule_of = |sim: &Sim, c: CommodityId| match sim.buyers_of[c]
                .iter()
                .position(|&b| b == node)
            {
                Some(slot) if x != y => sim.rules[sim.rule_offset[c] + slot * nx + x],
                _ => OPEN,
            };
            // What it takes of each element: a share of what the plant made since the last
            // offtake, not of the stock it holds; and only of what the stockpile holds (an
            // NdPr oxide stockpile takes no La from a separator).
            let mut take = std::mem::take(&mut self.scratch.offtaken);
            for e in 0..ne {
                let i = o.facility * ne + e;
                let fresh = self.made_total[i] - self.offtake_seen[i];
                self.offtake_seen[i] = self.made_total[i];
                if !mixed && self.holding_share[o.stockpile * ne + e] <= 0.0 {
                    continue;
                }
                let rule = rule_of(self, m.commodity(form, Some(e)));
                let q = (fresh * rule.allow * o.share).min(self.stock[from + e]);
                take[e] = if mixed {
                    q.max(0.0)
                } else {
                    let q = q.min(quota_room(
                        rule.quota,
                        q,
                        &self.quotas,
                        &self.policies,
                        self.year_frac,
                        None,
                    ));
                    quota_spend(
                        rule.quota,
                        q.max(0.0),
                        &mut self.quotas,
                        &self.policies,
                        None,
                    );
                    q.max(0.0)
                };
            }
            // A mixed form is one good: its quotas count the whole draw by its content, and
            // what they hold back is held back of every element alike (a magnet is not taken
            // apart to pass an element quota).
            let total = lane_sum(&take);
            if mixed && total > 0.0 {
                let rule = rule_of(self, m.commodity(form, None));
                let (quotas, year_frac) = (&mut self.quotas, self.year_frac);
                let room = quota_room(
                    rule.quota,
                    total,
                    quotas,
                    &self.policies,
                    year_frac,
                    Some(&take),
                );
                let scale = (room / total).clamp(0.0, 1.0);
                quota_spend(
                    rule.quota,
                    total * scale,
                    quotas,
                    &self.policies,
                    Some(&take),
                );
                take.iter_mut().for_each(|q| *q *= scale);
            }
            for e in 0..ne {
                let q = std::mem::take(&mut take[e]);
                if q <= 0.0 {
                    continue;
                }
                let c = m.commodity(form, Some(e));
                self.stock[from + e] -= q;
                self.stock[to + e] += q;
                let price = self.price[mk * nc + c];
                self.policy_cost[o.payer] += price * q / m.forms[form].re_share * 1000.0;
                // A sale like any other: the plant plans on it, it is no glut, and across a
                // border it is trade.
                self.scratch.sold[o.facility] += q;
                self.scratch.sold_c[mk * nc + c] += q;
                self.scratch.sold_e[o.facility * ne + e] += q;
                if x != y {
                    self.scratch.exports[x * nf + form] += q;
                    self.scratch.imports[y * nf + form] += q;
                    self.scratch.pair[x * nx + y] += q;
                    self.scratch.pair_form[(x * nx + y) * nf + form] += q;
                }
            }
            self.scratch.offtaken = take;
        }
    }

    /// Contracts deliver their share of a facility's output to the buyers in the contract's
    /// country, pro-rata to what they want, within what policy allows.
    fn deliver_contracts(&mut self) {
        if self.contracted_any {
            for links in &mut self.links {
                links.contracted.fill(0.0);
            }
            self.contracted_any = false;
        }
        if self.contracts.is_empty() {
            return;
        }
        let m = Arc::clone(&self.model);
        let (nf, ne, nx) = (m.forms.len(), m.elements.len(), m.countries.len());
        self.quota_year();
        // Each contract's share is of what the facility held before offtakes and contracts
        // took (`offtake` noted it): two contracts of 50% get half each, whichever was
        // signed first. Under export quotas, a first pass sums what every contract asks of
        // each quota, so that the room is shared pro-rata over all of them, not taken in
        // the order they were signed.
        self.scratch.quota_fill.fill(0.0);
        let passes: &[bool] = if self.quotas.is_empty() {
            &[true]
        } else {
            &[false, true]
        };
        for &deliver in passes {
            if deliver && passes.len() > 1 {
                quota_fills(
                    &mut self.scratch.quota_fill,
                    &self.quotas,
                    &self.policies,
                    self.year_frac,
                );
            }
            for ck in 0..self.contracts.len() {
                let ct = self.contracts[ck].clone();
                let fac = &m.facilities[ct.facility];
                let form = fac.output_form(&m);
                let from = (self.fac_node[ct.facility] * nf + form) * ne;
                let held_before =
                    &self.scratch.contract_base[ct.facility * ne..(ct.facility + 1) * ne];
                let x = fac.country;
                // One commodity for a mixed form, one per element otherwise (no allocation here).
                let mixed = m.forms[form].mixed;
                for k in 0..if mixed { 1 } else { ne } {
                    let elem = (!mixed).then_some(k);
                    let c = m.commodity(form, elem);
                    let available: f64 = match elem {
                        Some(e) => (held_before[e] * ct.share).min(self.stock[from + e]),
                        None => (lane_sum(held_before) * ct.share)
                            .min(lane_sum(&self.stock[from..from + ne])),
                    };
                    if available <= 0.0 {
                        continue;
                    }
                    // What the contract's buyers want, as far as policy lets them have it.
                    let mut wanted = 0.0;
                    for (slot, &b) in self.buyers_of[c].iter().enumerate() {
                        if !self.contract_reaches(&ct, b) {
                            continue;
                        }
                        let allow = if x == ct.country {
                            1.0
                        } else {
                            self.rules[self.rule_offset[c] + slot * nx + x].allow
                        };
                        // Its target counts the licensed pipeline it waits on from other
                        // exporters of the commodity (the contract's own passes without the
                        // review): it holds that on order, and wants no less for it. What it
                        // lacks beyond a step's use comes spread over the review, as a licence
                        // passes it: a contract delivers now, and would otherwise fill the
                        // whole pipeline target with stock in one week.
                        let links = &self.links[c];
                        let l = &links.buyers[slot];
                        let rules = &self.rules[self.rule_offset[c]..];
                        let lead = trade::licence_lead(
                            rules,
                            nx,
                            slot,
                            l.country,
                            &links.seller_countries,
                            Some(x),
                            &self.supply_seen[c * nx..(c + 1) * nx],
                        );
                        let need = self.link_need(l);
                        let l_contracted = links.contracted[slot];
                        let r = self.link_request(l, c, need, lead.pipeline, l_contracted).0;
                        let r = match l.need {
                            trade::NeedOf::Stockpile(_) => r,
                            _ => r.min(trade::spread(need, r, lead.steps as f64)),
                        } * allow;
                        self.scratch.request[slot] = r;
                        wanted += r;
                    }
                    if wanted <= 0.0 {
                        continue;
                    }
                    // An export quota counts contracted tonnes too, each buyer's by the quotas
                    // on its own flow (a quota may reach some of the contract's buyers and not
                    // others), its room shared pro-rata; a mixed form by its covered content.
                    let q_total = available.min(wanted);
                    let cross = x != ct.country;
                    if !deliver {
                        let mix = elem.is_none().then(|| &self.stock[from..from + ne]);
                        for slot in 0..self.buyers_of[c].len() {
                            let b = self.buyers_of[c][slot];
                            if cross && self.contract_reaches(&ct, b) {
                                let q = q_total * self.scratch.request[slot] / wanted;
                                let rule = &self.rules[self.rule_offset[c] + slot * nx + x];
                                for qi in rule.quota.iter() {
                                    let share =
                                        quota_share(&self.policies[self.quotas[qi].policy], mix);
                                    self.scratch.quota_fill[qi] += q * share;
                                }
                            }
                        }
                        continue;
                    }
                    for slot in 0..self.buyers_of[c].len() {
                        let b = self.buyers_of[c][slot];
                        if !self.contract_reaches(&ct, b) {
                            continue;
                        }
                        let mut q = q_total * self.scratch.request[slot] / wanted;
                        if cross {
                            let quota = self.rules[self.rule_offset[c] + slot * nx + x].quota;
                            let fill = quota.iter().map(|qi| self.scratch.quota_fill[qi]);
                            q *= fill.fold(1.0, f64::min);
                            let mix = elem.is_none().then(|| &self.stock[from..from + ne]);
                            let room = quota_room(
                                quota,
                                q,
                                &self.quotas,
                                &self.policies,
                                self.year_frac,
                                mix,
                            );
                            q = q.min(room);
                            quota_spend(quota, q, &mut self.quotas, &self.policies, mix);
                        }
                        if q <= 0.0 {
                            continue;
                        }
                        let to = (b * nf + form) * ne;
                        match elem {
                            Some(e) => {
                                self.stock[from + e] -= q;
                                self.stock[to + e] += q;
                            }
                            None => {
                                // The holding's mix as it is now: each buyer gets all of its q.
                                let scale = q / lane_sum(&self.stock[from..from + ne]);
                                for e in 0..ne {
                                    let part = self.stock[from + e] * scale;
                                    self.stock[from + e] -= part;
                                    self.stock[to + e] += part;
                                }
                            }
                        }
                        // A plant's contracted input counts toward its stage's dependency as
                        // any purchase does: bought abroad when it crosses a border.
                        let stage = self.links[c].buyers[slot].stage;
                        if stage != trade::NO_STAGE {
                            let i = stage * nx + ct.country;
                            self.scratch.dep_total[i] += q;
                            if cross {
                                self.scratch.dep_foreign[i] += q;
                            }
                        }
                        if ct.country != x {
                            self.scratch.exports[x * nf + form] += q;
                            self.scratch.imports[ct.country * nf + form] += q;
                            self.scratch.pair[x * nx + ct.country] += q;
                            self.scratch.pair_form[(x * nx + ct.country) * nf + form] += q;
                            // A tariff does not move contracted tonnes, but they pay its duty.
                            let duty = self.rules[self.rule_offset[c] + slot * nx + x].duty;
                            let stockpile = matches!(self.nodes[b].kind, NodeKind::Stockpile(_));
                            if duty > 0.0 && !stockpile {
                                let mk = m.countries[ct.country].market;
                                let value = self.price[mk * m.commodities.len() + c] * q * 1000.0
                                    / m.forms[form].re_share;
                                self.policy_cost[ct.country] -= value * duty;
                            }
                        }
                        self.links[c].contracted[slot] += q;
                        self.contracted_any = true;
                        self.contracts[ck].delivered += q;
                        self.scratch.sold[ct.facility] += q;
                        let mk = m.countries[x].market;
                        self.scratch.sold_c[mk * m.commodities.len() + c] += q;
                        if let Some(e) = m.commodities[c].element {
                            let ne = m.elements.len();
                            self.scratch.sold_e[ct.facility * ne + e] += q;
                        }
                    }
                }
            }
        }
    }

    /// Whether contract `ct` delivers to buyer node `b`: a buyer in its country, and one of
    /// its firm's plants there (or a subsidiary's) if it names a firm.
    fn contract_reaches(&self, ct: &Contract, b: usize) -> bool {
        let node = &self.nodes[b];
        node.country == ct.country
            && ct.firm.is_none_or(|firm| match node.kind {
                NodeKind::Facility(f) => (self.model.facilities[f].firm)
                    .is_some_and(|own| self.model.firm_within(own, firm)),
                _ => false,
            })
    }

    /// A sector's consumption need this step, tonnes of RE: base demand × growth × shocks ×
    /// price response × (1 − substitution).
    pub fn sector_need(&self, s: SectorId) -> f64 {
        self.sec_need[s]
    }

    /// Current over starting price of what a sector buys, in its market.
    fn sector_price_ratio(&self, s: SectorId) -> f64 {
        let ratio = |i: usize| self.price_ratio[i];
        let (mixed, basket) = &self.baskets[s];
        if *mixed {
            return basket.first().map_or(1.0, |&(i, _)| ratio(i));
        }
        let mut num = 0.0;
        let mut den = 0.0;
        for &(i, w) in basket {
            num += w * ratio(i);
            den += w;
        }
        if den > 0.0 {
            num / den
        } else {
            1.0
        }
    }

    /// What each sector buys, as price indices in its market with their weights in its mix
    /// (priced commodities only), and whether it buys one mixed commodity.
    fn price_baskets(m: &Model) -> Vec<(bool, Vec<(usize, f64)>)> {
        let nc = m.commodities.len();
        m.sectors
            .iter()
            .map(|sec| {
                let mk = m.countries[sec.country].market;
                let priced = |c: usize| (m.prices[mk * nc + c] > 0.0).then_some(mk * nc + c);
                if m.forms[sec.material].mixed {
                    let c = m.commodity(sec.material, None);
                    (true, priced(c).map(|i| (i, 1.0)).into_iter().collect())
                } else {
                    let basket = (0..m.elements.len())
                        .filter(|&e| sec.mix[e] > 0.0)
                        .filter_map(|e| {
                            priced(m.commodity(sec.material, Some(e))).map(|i| (i, sec.mix[e]))
                        })
                        .collect();
                    (false, basket)
                }
            })
            .collect()
    }

    /// Plants' sales are smoothed over the model's order-smoothing horizon; their plans
    /// follow the smoothed figure.
    fn smooth_sales(&mut self) {
        let steps = self.model.behaviour.order_smoothing_weeks * 7.0 / self.model.step_days as f64;
        let alpha = 1.0 / steps.max(1.0);
        let cover = self.model.behaviour.seller_cover_weeks * 7.0 / self.model.step_days as f64;
        let (nf, ne) = self.nfe();
        for f in 0..self.sales_ema.len() {
            if !self.offered_yet[f] {
                // A new plant whose inputs are cut off (a ban as it comes on line) had
                // nothing to sell: it keeps planning on its capacity, and so starts when its
                // inputs come, instead of waiting for sales it cannot make. A new plant that
                // makes to order first builds its working stock (its output cover at
                // capacity): buyers split their orders by what exporters offer, and a plant
                // that let a week's sales set its plan would keep the sliver of the market
                // its first week's output won. (A plant back from an outage or a closure
                // has sold before: its first output sets it going again, as it always did,
                // so an outage does not leave it with a bigger share than it had.)
                let form = self.model.facilities[f].output_form(&self.model);
                let base = (self.fac_node[f] * nf + form) * ne;
                let held = lane_sum(&self.stock[base..base + ne]);
                let stocked = match self.model.facilities[f].process {
                    Process::Convert(r)
                        if !self.composition[r].is_empty() && !self.sold_before[f] =>
                    {
                        held >= cover * self.cap_now[f] && held > NOISE
                    }
                    _ => self.scratch.sold[f] > NOISE || held > NOISE,
                };
                if !stocked {
                    continue;
                }
                self.offered_yet[f] = true;
                self.sold_before[f] = true;
            }
            let sold = self.scratch.sold[f];
            self.sales_free[f] += alpha * (sold - self.sales_free[f]);
            // A plant short of inputs, curtailed on its margin, or held below its sales by
            // its capacity (an outage of part of it) that sold out sold what it had, not what
            // its buyers wanted: its plan holds until it makes what its sales call for (else
            // it would plan less, buy less and wind down for good, or come back from a 90%
            // outage planning on the tenth it made). One left with unsold output has learnt
            // what its buyers want.
            let held_back = self.starved[f] || self.capped[f];
            let hold = held_back && sold < self.sales_ema[f] && {
                let form = self.model.facilities[f].output_form(&self.model);
                let base = (self.fac_node[f] * nf + form) * ne;
                lane_sum(&self.stock[base..base + ne]) <= sold.max(NOISE)
            };
            if !hold {
                self.sales_ema[f] += alpha * (sold - self.sales_ema[f]);
            }
            self.price_weight[f] =
                if self.short_of_inputs[f] && self.controlled[f] && self.sales_ema[f] > NOISE {
                    (self.sales_free[f] / self.sales_ema[f]).clamp(0.0, 1.0)
                } else {
                    1.0
                };
        }
    }

    /// Facilities convert their inputs by recipe, within capacity and available inputs.
    fn convert(&mut self) {
        let (nf, ne) = self.nfe();
        let nx = self.model.countries.len();
        for f in 0..self.model.facilities.len() {
            let Process::Convert(r) = self.model.facilities[f].process else {
                continue;
            };
            self.starved[f] = false;
            self.short_of_inputs[f] = false;
            let cap = self.plan[f];
            if cap <= 0.0 {
                self.starved[f] = !self.composition[r].is_empty() && self.wanted[f] > NOISE;
                continue;
            }
            let mk = self.model.countries[self.model.facilities[f].country].market;
            let nc = self.model.commodities.len();
            let rec = &self.model.recipes[r];
            let (fi, fo, recovery) = (rec.input, rec.output, rec.recovery);
            let node = self.fac_node[f];
            let ib = (node * nf + fi) * ne;
            let ob = (node * nf + fo) * ne;
            let comp = &self.composition[r];
            let mut produced = 0.0;
            if comp.is_empty() {
                // Convert whatever vector is in stock, up to capacity (throughput).
                let mut total = 0.0;
                for e in 0..ne {
                    if rec.converts[e] {
                        total += self.stock[ib + e];
                    }
                }
                if total <= 0.0 {
                    continue;
                }
                let ratio = (cap / total).min(1.0);
                for e in 0..ne {
                    let used = self.stock[ib + e] * ratio;
                    if used == 0.0 {
                        continue;
                    }
                    if !rec.converts[e] {
                        // Processing a share of the feed takes that share of every element:
                        // what the recipe does not separate leaves as a residue (light-only
                        // separators sold their SEG/HRE remainder on, unseparated).
                        self.stock[ib + e] -= used;
                        self.ledger.outflow[fi * ne + e] += used;
                        continue;
                    }
                    let out = used * recovery;
                    self.stock[ib + e] -= used;
                    self.stock[ob + e] += out;
                    self.made_total[f * ne + e] += out;
                    self.ledger.outflow[fi * ne + e] += used;
                    self.ledger.inflow[fo * ne + e] += out;
                    self.scratch.made[mk * nc + self.model.commodity(fo, Some(e))] += out;
                    produced += out;
                }
            } else {
                // Fixed proportions: the scarcest input limits output.
                let mut out = cap;
                let elements = &self.recipe_elements[r];
                for &e in elements {
                    if comp[e] > 0.0 {
                        out = out.min(self.stock[ib + e] * recovery / comp[e]);
                    }
                }
                self.starved[f] = out < self.wanted[f] * (1.0 - 1e-9);
                self.short_of_inputs[f] = out < cap * (1.0 - 1e-9);
                if out <= 0.0 {
                    continue;
                }
                for &e in elements {
                    if comp[e] <= 0.0 {
                        continue;
                    }
                    let made = comp[e] * out;
                    let used = (made / recovery).min(self.stock[ib + e]);
                    self.stock[ib + e] -= used;
                    self.stock[ob + e] += made;
                    self.made_total[f * ne + e] += made;
                    self.ledger.outflow[fi * ne + e] += used;
                    self.ledger.inflow[fo * ne + e] += made;
                    self.scratch.made[mk * nc + self.model.commodity(fo, Some(e))] += made;
                }
                produced = out;
            }
            let fac = &self.model.facilities[f];
            self.scratch.output[f] += produced;
            self.scratch.production[fac.stage * nx + fac.country] += produced;
        }
    }

    /// Sectors use what they hold; the shortfall is output lost. Part of what is used comes
    /// back as scrap.
    fn consume(&mut self) {
        let (nf, ne) = self.nfe();
        let scrap = self.scrap_form();
        let Sim {
            model: m,
            nodes,
            stock,
            ledger,
            scratch: s,
            sec_need,
            sec_growth,
            demand_mult,
            recycle_rate,
            sector_mix,
            output_potential,
            substituted,
            ..
        } = self;
        let years_per_step = m.step_days as f64 / 365.25;
        for (n, node) in nodes.iter().enumerate() {
            let NodeKind::Buyer { sector, share } = node.kind else {
                continue;
            };
            let sec = &m.sectors[sector];
            let form = sec.material;
            let need = sec_need[sector] * share;
            let base = (n * nf + form) * ne;
            let mut used_total = 0.0;
            // Scrap comes back only where the sector recycles.
            let rate = recycle_rate[sector];
            let scrap = scrap.filter(|_| rate != 0.0);
            let mut take = |e: usize, u: f64, stock: &mut [f64]| {
                stock[base + e] -= u;
                ledger.outflow[form * ne + e] += u;
                if let Some(sf) = scrap {
                    let back = u * rate;
                    stock[(n * nf + sf) * ne + e] += back;
                    ledger.inflow[sf * ne + e] += back;
                }
            };
            if m.forms[form].mixed {
                let have = lane_sum(&stock[base..base + ne]);
                let use_ = need.min(have);
                if use_ > 0.0 {
                    let ratio = use_ / have;
                    for e in 0..ne {
                        let u = stock[base + e] * ratio;
                        // Most of a magnet's elements are absent: nothing to take.
                        if u != 0.0 {
                            take(e, u, stock);
                        }
                    }
                    used_total = use_;
                }
            } else {
                for &(e, mix) in &sector_mix[sector] {
                    let want = need * mix;
                    if want <= 0.0 {
                        continue;
                    }
                    let u = want.min(stock[base + e]);
                    take(e, u, stock);
                    used_total += u;
                }
            }
            s.sector_need[sector] += need;
            s.sector_used[sector] += used_total;
            // The growth factor `prepare` computed for this step.
            let units_rate = sec.units * share * sec_growth[sector] * demand_mult[sector];
            output_potential[sector] += units_rate * years_per_step;
            if need > 0.0 {
                // A need met to the last bits loses nothing (`short_of`), however many units
                // the sector counts. Units made with a substitute need none of it: only the
                // rest can be lost.
                let needing = units_rate * (1.0 - substituted[sector]);
                s.sector_lost[sector] += needing * short_of(used_total, need);
            }
            let nx_f = sec.country * nf + form;
            s.region_need[nx_f] += need;
            s.region_used[nx_f] += used_total;
        }
    }

    /// Prices respond to buyers' cover shortfall and sellers' unsold stock, and revert
    /// slowly to their anchor; they stay within the model's bounds.
    fn update_prices(&mut self) {
        let m = &self.model;
        let b = &m.behaviour;
        let dt = 1.0 / m.steps_per_year();
        let (nc, ne) = (m.commodities.len(), m.elements.len());
        let (lo, hi) = (b.price_min_ratio.ln(), b.price_max_ratio.ln());
        // At last step's prices: would any separator still earn its concentrate back?
        for i in 0..self.price.len() {
            let bidders = &self.bidders[i];
            let unpaid = !bidders.is_empty()
                && bidders
                    .iter()
                    .all(|&r| self.margin_factor(i / nc, r) <= 0.0);
            self.scratch.unpaid[i] = unpaid;
        }
        let s = &mut self.scratch;
        s.elem_lp.iter_mut().for_each(|v| *v = 0.0);
        s.elem_n.iter_mut().for_each(|v| *v = 0.0);
        // A freely traded commodity's average log price across the markets that price it:
        // arbitrage pulls each market toward it. And its scarcity is the world's: buyers'
        // cover and makers' unsold output pooled across those markets. Arbitrage would
        // carry a good to the market that bids for it; a market's own shortfall alone held
        // China's magnets at ~0.4x the price outside China for years under an even 30% rise
        // in EV demand, with no control anywhere (analyst review, 2026-12-01).
        for c in 0..nc {
            let (mut sum, mut n) = (0.0, 0.0);
            let (mut have, mut target, mut made, mut sold) = (0.0, 0.0, 0.0, 0.0);
            if self.arbitraged[c] {
                for mk in 0..m.markets.len() {
                    let i = mk * nc + c;
                    if m.prices[i] > 0.0 {
                        sum += self.log_price[i];
                        n += 1.0;
                        // Separators that would not earn a concentrate back bid nothing
                        // for it (`unpaid`), here or in the pool: their shortfall drove a
                        // concentrate's price in a market with no buyers of it to the cap
                        // (clay concentrate outside China, after a Kachin outage).
                        if !s.unpaid[i] {
                            have += s.buyer_have[i];
                            target += s.buyer_target[i];
                        }
                        made += s.made[i];
                        sold += s.sold_c[i];
                    }
                }
            }
            s.market_lp[c] = if n > 1.0 { Some(sum / n) } else { None };
            s.world_scarcity[c] = (have, target, made, sold);
        }
        for i in 0..self.price.len() {
            let p0 = m.prices[i];
            if p0 <= 0.0 {
                continue;
            }
            if let Some(e) = m.commodities[i % nc].element {
                let k = (i / nc) * ne + e;
                s.elem_lp[k] += self.log_price[i];
                s.elem_n[k] += 1.0;
            }
        }
        // A magnet's price rests where its inputs put it: its start price with the
        // rare-earth share of its cost moved as the inputs' prices have (`cost_index`), in
        // the cheapest of its makers' markets (a market its imports could serve
        // is not held up by dear inputs at home: under a licence on China's metals, Japan's
        // makers pay 40x for Dy while China's magnets still sell outside China). Without
        // it, magnets stayed at their start price while a cut at Bayan Obo put China's Nd
        // oxide at 1.7x (2026-11-30).
        let nmk = m.markets.len();
        for c in 0..nc {
            let mut cheapest = f64::INFINITY;
            for mk in 0..nmk {
                if let Some(r) = self.makers.get(mk * nc + c).copied().flatten() {
                    cheapest = cheapest.min(self.cost_index(mk, r));
                }
            }
            for mk in 0..nmk {
                let i = mk * nc + c;
                // (A product nobody buys any more has no cost to rest on: it falls on its
                // glut.)
                let wanted = self.scratch.buyer_target[i] > NOISE && m.prices[i] > 0.0;
                self.scratch.cost_lp[i] = if cheapest.is_finite() && wanted {
                    cheapest.ln()
                } else {
                    0.0
                };
            }
        }
        for i in 0..self.price.len() {
            let p0 = m.prices[i];
            if p0 <= 0.0 {
                continue;
            }
            let s = &self.scratch;
            let (have, target, made, sold) = match s.market_lp[i % nc] {
                Some(_) => s.world_scarcity[i % nc],
                None => (s.buyer_have[i], s.buyer_target[i], s.made[i], s.sold_c[i]),
            };
            let short = if target > NOISE {
                (1.0 - have / target).clamp(0.0, 1.0)
            } else {
                0.0
            };
            // Separators bid a concentrate up only while separating it still pays.
            let short = if s.unpaid[i] { 0.0 } else { short };
            // Share of this step's output that found no buyer.
            let glut = if made > NOISE {
                (1.0 - sold / made).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let lp = self.log_price[i];
            // Forms of one element are linked by cheap conversion: each is pulled toward the
            // element's average move across its priced forms in this market.
            let mk = i / nc;
            let link = match m.commodities[i % nc].element {
                Some(e) if s.elem_n[mk * ne + e] > 1.0 => {
                    lp - s.elem_lp[mk * ne + e] / s.elem_n[mk * ne + e]
                }
                _ => 0.0,
            };
            let gap = s.market_lp[i % nc].map_or(0.0, |mean| lp - mean);
            let d = dt
                * (b.price_rise * short
                    - b.price_fall * glut
                    - b.price_reversion * (lp - self.scratch.cost_lp[i])
                    - b.form_coupling * link
                    - b.market_coupling * gap);
            let next = (lp + d).clamp(lo, hi);
            self.log_price[i] = next;
            self.price_ratio[i] = next.exp();
            self.price[i] = p0 * self.price_ratio[i];
        }
    }

    /// What recipe `r`'s output costs to make in market `mk` against its start price, with
    /// only its rare-earth inputs' prices moving: their share of the output's value at the
    /// model's start prices (~0.5 for NdFeB from metal in world-2024, ~1% for SmCo, whose
    /// Sm is cheap) moved as their prices have. (`input_cost_share`, the tuned share the
    /// margins use, would pass a 15% fall in Sm metal on as 9% off SmCo.)
    fn cost_index(&self, mk: usize, r: RecipeId) -> f64 {
        let m = &self.model;
        let nc = m.commodities.len();
        let rec = &m.recipes[r];
        let comp = self.weights_of(r);
        let out_p0 = m.prices[mk * nc + m.commodity(rec.output, None)];
        let (mut now, mut then) = (0.0, 0.0);
        for (e, &w) in comp.iter().enumerate().filter(|(_, w)| **w > 0.0) {
            let element = (!m.forms[rec.input].mixed).then_some(e);
            let i = mk * nc + m.commodity(rec.input, element);
            now += w * self.price[i];
            then += w * m.prices[i];
        }
        if out_p0 <= 0.0 || then <= 0.0 {
            return 1.0;
        }
        // $ of input per t of the output's rare earth, against the output's $ per t.
        let per_t = |p: f64| p / m.forms[rec.input].re_share / rec.recovery.max(1e-9);
        let share = (per_t(then) / (out_p0 / m.forms[rec.output].re_share)).clamp(0.0, 1.0);
        1.0 - share + share * now / then
    }

    /// Governments pay for price floors and subsidies on what their facilities sold.
    fn pay_policies(&mut self) {
        let m = &self.model;
        let nc = m.commodities.len();
        let (step, date, ne) = (self.step, self.date(), m.elements.len());
        // A floor lapses with its lever's end, or with the plant (its `end` in the model),
        // and pays nothing while a lever has the plant closed (it sells off stock then).
        let closed = &self.closed;
        let live = |fl: &&PriceFloor| {
            fl.end.is_none_or(|e| step < e)
                && m.facilities[fl.facility].end.is_none_or(|e| date < e)
                && !closed[fl.facility]
        };
        for (i, fl) in self.floors.iter().enumerate().filter(|(_, fl)| live(fl)) {
            let mk = m.countries[m.facilities[fl.facility].country].market;
            // Floors under the same sales stack: each payer tops up from the next floor
            // below its own (or the market), so two governments do not pay the same gap.
            let base = self
                .floors
                .iter()
                .enumerate()
                .filter(|(j, o)| {
                    *j != i
                        && live(o)
                        && (o.facility, o.commodity) == (fl.facility, fl.commodity)
                        && (o.floor < fl.floor || (o.floor == fl.floor && *j < i))
                })
                .map(|(_, o)| o.floor)
                .fold(self.price[mk * nc + fl.commodity], f64::max);
            if base < fl.floor {
                // What it sold of the floored good: of one element, that element's sales
                // (a separator's unsold co-products are no part of them).
                let sold = match m.commodities[fl.commodity].element {
                    Some(e) => self.scratch.sold_e[fl.facility * ne + e],
                    None => self.scratch.sold[fl.facility],
                };
                // $/kg × t × 1000 kg/t, in the form's unit.
                let re_share = m.forms[m.commodities[fl.commodity].form].re_share;
                self.policy_cost[fl.payer] += (fl.floor - base) * sold / re_share * 1000.0;
            }
        }
        for sb in &self.subsidies {
            if sb.end.is_some_and(|e| step >= e) {
                continue;
            }
            // Output is t of rare earth: per kg of the output form, as floors are paid.
            let form = m.facilities[sb.facility].output_form(m);
            let kg = self.scratch.output[sb.facility] / m.forms[form].re_share * 1000.0;
            self.policy_cost[sb.payer] += sb.per_kg * kg;
        }
    }

    /// Demand responds with lags: sectors substitute away from dear materials, and recipes
    /// thrift dear elements (grain-boundary diffusion cuts Dy in magnets).
    fn update_demand(&mut self) {
        let m = Arc::clone(&self.model);
        let steps_per_month = m.steps_per_year() / 12.0;
        for s in 0..m.sectors.len() {
            let sub = m.sectors[s].substitution;
            if sub.max <= 0.0 {
                continue;
            }
            let ratio = self.sector_price_ratio(s);
            let target = if ratio > sub.trigger { sub.max } else { 0.0 };
            let target = target.max(self.substituted_floor[s]);
            let lag = (sub.lag_months * steps_per_month).max(1.0);
            self.substituted[s] += (target - self.substituted[s]) / lag;
        }
        for (r, rec) in m.recipes.iter().enumerate() {
            if rec.thrift.is_empty() {
                continue;
            }
            for (k, &(e, t)) in rec.thrift.iter().enumerate() {
                // The element's dearest move, in any market and any priced form, drives
                // thrifting: magnet makers watch the Dy price, quoted mostly for oxide, and
                // metal is a few weeks' conversion away from it.
                let ratio = self.element_prices[e]
                    .iter()
                    .map(|&i| self.price_ratio[i])
                    .fold(0.0, f64::max);
                // A ratchet: magnet makers that have adopted a leaner grade keep it.
                if ratio > t.trigger {
                    let lag = (t.lag_months * steps_per_month).max(1.0);
                    self.thrifted[r][k] += (t.max - self.thrifted[r][k]) / lag;
                }
            }
            self.apply_thrift(r);
        }
    }

    fn record(&mut self) {
        let date = self.date();
        let m = &self.model;
        let nx = m.countries.len();
        let nf = m.forms.len();
        let ne = m.elements.len();
        let spy = m.steps_per_year();
        let weeks_per_step = m.step_days as f64 / 7.0;
        // Licence queue by exporter.
        let s = &mut self.scratch;
        s.queue_by_exporter.iter_mut().for_each(|x| *x = 0.0);
        for sh in &self.pending {
            s.queue_by_exporter[sh.exporter] += sh.qty;
        }
        // Cover by country and form (sectors and facility inputs).
        for n in 0..self.nodes.len() {
            let node = self.nodes[n];
            let (form, need) = match node.kind {
                NodeKind::Buyer { sector, share } => {
                    (m.sectors[sector].material, self.sector_need(sector) * share)
                }
                NodeKind::Facility(f) => match m.facilities[f].process {
                    Process::Convert(r) => (m.recipes[r].input, self.capacity_now(f)),
                    Process::Mine(_) => continue,
                },
                NodeKind::Stockpile(_) => continue,
            };
            let base = (n * nf + form) * ne;
            let have = lane_sum(&self.stock[base..base + ne]);
            self.scratch.cover_have[node.country * nf + form] += have;
            self.scratch.cover_need[node.country * nf + form] += need;
        }
        let cols = &self.cols;
        let row = self.series.push_row(date);
        let s = &self.scratch;
        for (i, col) in cols.price.iter().enumerate() {
            if let Some(col) = col {
                row[*col] = self.price[i];
            }
        }
        // Flows per step, recorded as annual rates.
        for (f, &col) in cols.facility_output.iter().enumerate() {
            row[col] = s.output[f] * spy;
        }
        for &(i, col) in &cols.trade_pair {
            row[col] = s.pair[i] * spy;
        }
        for &(i, col) in &cols.trade_form {
            row[col] = s.pair_form[i] * spy;
        }
        for (first, flows) in [
            (cols.production, &s.production),
            (cols.mine_element, &s.mine_element),
            (cols.exports, &s.exports),
            (cols.imports, &s.imports),
        ] {
            for (v, x) in row[first..first + flows.len()].iter_mut().zip(flows) {
                *v = x * spy;
            }
        }
        for sec in 0..m.sectors.len() {
            let need = s.sector_need[sec];
            row[cols.sector_shortfall[sec]] = if need > 0.0 {
                short_of(s.sector_used[sec], need)
            } else {
                0.0
            };
            row[cols.output_lost[sec]] = s.sector_lost[sec];
            row[cols.demand[sec]] = need * spy;
            row[cols.substitution[sec]] = self.substituted[sec];
        }
        for i in 0..nx * nf {
            row[cols.region_shortfall[i]] = if s.region_need[i] > 0.0 {
                short_of(s.region_used[i], s.region_need[i])
            } else {
                0.0
            };
            // (A need of rounding noise, a plant shrunk to nothing, has no cover to speak of.)
            row[cols.cover[i]] = if s.cover_need[i] > NOISE {
                s.cover_have[i] / s.cover_need[i] * weeks_per_step
            } else {
                0.0
            };
        }
        for (k, &col) in cols.stockpile.iter().enumerate() {
            row[col] = holding(&self.stock, m, self.sp_node[k], m.stockpiles[k].form);
        }
        for i in 0..m.stages.len() * nx {
            row[cols.dependency[i]] = if s.dep_total[i] > 0.0 {
                (s.dep_foreign[i] / s.dep_total[i]).min(1.0)
            } else {
                0.0
            };
        }
        for st in 0..m.stages.len() {
            let total: f64 = (0..nx).map(|x| s.production[st * nx + x]).sum();
            row[cols.hhi[st]] = if total > 0.0 {
                (0..nx)
                    .map(|x| {
                        let sh = 100.0 * s.production[st * nx + x] / total;
                        sh * sh
                    })
                    .sum()
            } else {
                0.0
            };
        }
        for x in 0..nx {
            row[cols.licence_queue[x]] = s.queue_by_exporter[x];
            row[cols.licence_arrivals[x]] = s.arrived[x] * spy;
            row[cols.policy_cost[x]] = self.policy_cost[x];
        }
    }

    /// Checks the mass balance of every form and element: stock now equals stock at start
    /// plus inflows minus outflows. Returns the worst relative error.
    pub fn mass_balance_error(&self) -> f64 {
        let now = self.totals_by_form_element();
        let l = &self.ledger;
        let mut worst: f64 = 0.0;
        for i in 0..now.len() {
            let expect = l.initial[i] + l.inflow[i] - l.outflow[i];
            let scale = l.initial[i].abs() + l.inflow[i].abs() + l.outflow[i].abs();
            if scale > 0.0 {
                worst = worst.max((now[i] - expect).abs() / scale);
            }
        }
        worst
    }
}

/// The routes goods of a form could take between two countries: from a country with a
/// seller of the form (a plant making it, a stockpile holding it, a sector whose scrap it
/// is) to another with a buyer (a plant using it, a sector, a stockpile), by exporter,
/// importer, then form. Trade by form is recorded for these alone: a few hundred of the
/// countries² × forms a table of every pair would hold, nearly all of them zero always.
fn trade_routes(m: &Model) -> Vec<(CountryId, CountryId, FormId)> {
    let (nx, nf) = (m.countries.len(), m.forms.len());
    let (sells, buys) = traders(m);
    let mut routes = Vec::new();
    for x in 0..nx {
        for y in (0..nx).filter(|&y| y != x) {
            for f in 0..nf {
                if sells[x * nf + f] && buys[y * nf + f] {
                    routes.push((x, y, f));
                }
            }
        }
    }
    routes
}

/// Per country × form: whether something there could sell the form (a plant making it, a
/// stockpile holding it, a sector whose scrap it is), and whether something could buy it (a
/// plant using it, a sector, a stockpile).
fn traders(m: &Model) -> (Vec<bool>, Vec<bool>) {
    let (nx, nf) = (m.countries.len(), m.forms.len());
    let mut sells = vec![false; nx * nf];
    let mut buys = vec![false; nx * nf];
    for fac in &m.facilities {
        sells[fac.country * nf + fac.output_form(m)] = true;
        if let Some(input) = fac.input_form(m) {
            buys[fac.country * nf + input] = true;
        }
    }
    for sp in &m.stockpiles {
        sells[sp.country * nf + sp.form] = true;
        buys[sp.country * nf + sp.form] = true;
    }
    let scrap = m.forms.iter().position(|f| f.id == "scrap");
    for sec in &m.sectors {
        buys[sec.country * nf + sec.material] = true;
        if let Some(scrap) = scrap {
            sells[sec.country * nf + scrap] = true;
        }
    }
    (sells, buys)
}

/// The key of a route's `trade_by_form` series: `CN>US/magnet:NdFeB`.
pub fn route_key(m: &Model, x: CountryId, y: CountryId, f: FormId) -> String {
    format!(
        "{}>{}/{}",
        m.countries[x].id, m.countries[y].id, m.forms[f].id
    )
}

/// The route a `trade_by_form` key names (`CN>US/magnet:NdFeB`), whether or not a run
/// records it; or why it names none of the model's, in words for an error.
pub fn route_of(m: &Model, key: &str) -> Result<(CountryId, CountryId, FormId), String> {
    let shape = || {
        format!(
            "'{key}' is not a route: a trade_by_form key is EXPORTER>IMPORTER/FORM, such as \
             'CN>US/magnet:NdFeB' (metric 'trade' keeps all forms together, as 'CN>US')"
        )
    };
    let (pair, form) = key.split_once('/').ok_or_else(shape)?;
    let (a, b) = pair.split_once('>').ok_or_else(shape)?;
    if b.contains('>') || form.contains('/') {
        return Err(shape());
    }
    let country = |s: &str| {
        m.country_id(s)
            .map_err(|e| m.wrong_kind(s, "country").unwrap_or(e))
    };
    let (x, y) = (country(a)?, country(b)?);
    if x == y {
        return Err(format!(
            "'{a}' is both exporter and importer: trade is between two countries (a country's \
             own use is in production, shortfall and cover)"
        ));
    }
    match form_problem(m, form) {
        Some(why) => Err(why),
        None => Ok((x, y, m.form_id(form)?)),
    }
}

/// Why `form` is not one of the model's forms, for a series kept by form: an element's
/// commodity (`oxide:Dy`) says to give its form; a form's own name without its kind
/// (`ndfeb`) is pointed to it.
pub fn form_problem(m: &Model, form: &str) -> Option<String> {
    let err = m.form_id(form).err()?;
    if let Some((f, e)) = form.split_once(':') {
        if m.form_id(f).is_ok() && m.element_id(e).is_ok() {
            return Some(format!(
                "'{form}' is a commodity: trade is kept by form, so give '{f}' (all its elements)"
            ));
        }
    }
    let named = (m.forms.iter()).find(|f| {
        f.id.split_once(':')
            .is_some_and(|(_, name)| name.eq_ignore_ascii_case(form))
    });
    Some(match named {
        Some(f) => format!("unknown form '{form}' (did you mean '{}'?)", f.id),
        None => err,
    })
}

fn route_index(m: &Model, x: CountryId, y: CountryId, f: FormId) -> usize {
    (x * m.countries.len() + y) * m.forms.len() + f
}

/// What node `n` holds of `form`, t of the form's unit (a stockpile's holding).
fn holding(stock: &[f64], m: &Model, n: usize, form: FormId) -> f64 {
    let (nf, ne) = (m.forms.len(), m.elements.len());
    let base = (n * nf + form) * ne;
    lane_sum(&stock[base..base + ne]) / m.forms[form].re_share
}

/// Whether a technology ban's `elements` and `forms` reach facility `f`: a plant whose
/// input or output form is covered, handling a covered element (a mine: its deposit has it;
/// a plant: its recipe makes or converts it). A ban naming neither reaches every plant.
fn tech_ban_covers(m: &Model, p: &Policy, f: FacilityId) -> bool {
    let (forms, handles): ([FormId; 2], Box<dyn Fn(usize) -> bool + '_>) =
        match m.facilities[f].process {
            Process::Mine(d) => (
                [m.deposits[d].form, m.deposits[d].form],
                Box::new(move |e| m.deposits[d].distribution.get(e).is_some_and(|&x| x > 0.0)),
            ),
            Process::Convert(r) => {
                let rec = &m.recipes[r];
                ([rec.input, rec.output], Box::new(move |e| rec.handles(e)))
            }
        };
    let form_ok = p.forms == 0 || forms.iter().any(|&x| p.covers_form(x));
    let elem_ok =
        p.elements == 0 || (0..m.elements.len()).any(|e| p.covers_element(e) && handles(e));
    form_ok && elem_ok
}

/// How long a control keeps segmenting a good's markets after it last could hold some back
/// (years): after the exporter last had the good on offer, or a quota on it last ran out
/// of room. Traders price a quota's rent while they expect it to bind again, a quarter
/// ahead (assumed); the same quarter keeps an exporter whose stock touches nothing now and
/// then from switching its markets' coupling week by week.
const SEGMENT_MEMORY_YEARS: f64 = 0.25;

/// How many scripted outages of one facility can run at once (`disrupt` refuses a fifth).
pub const OUTAGE_SLOTS: usize = 4;

/// Tonnes per step below which a quantity is the rounding residue of arithmetic on real
/// flows, not a flow: a request or an output this small sends no market signal. (A share of
/// two such residues, say unsold over made, can be anything from 0 to 1.)
pub(crate) const NOISE: f64 = 1e-9;

/// The share of `need` that `used` left unmet, with rounding noise (a need met to the last
/// bits but one) read as none: a shortfall of 4e-16 is no shortfall.
fn short_of(used: f64, need: f64) -> f64 {
    let short = 1.0 - used / need;
    if short > 1e-12 {
        short
    } else {
        0.0
    }
}

/// The share of its capacity a plant ramping up linearly over `len` months has, on average,
/// between `from` and `to` months after its start: a step's mean, so a ramp shorter than a
/// step gives most of the first step's capacity rather than none of it (a ramp of zero
/// gives all of it, and the two meet as the ramp shrinks).
fn ramp_over(from: f64, to: f64, len: f64) -> f64 {
    if len <= 0.0 || from >= len {
        return 1.0;
    }
    // What the ramp has delivered by `t` months, in months of full capacity.
    let done = |t: f64| {
        let t = t.max(0.0);
        if t <= len {
            t * t / (2.0 * len)
        } else {
            len / 2.0 + (t - len)
        }
    };
    if to <= from {
        return (from / len).clamp(0.0, 1.0);
    }
    ((done(to) - done(from)) / (to - from)).clamp(0.0, 1.0)
}

/// A sum in four independent lanes: a short vector's sum (a holding's element vector, say)
/// without one long chain of dependent additions. The order is fixed, so the result is
/// deterministic; it differs from a left-to-right sum only in the last bits.
fn lane_sum(xs: &[f64]) -> f64 {
    let mut lanes = [0.0; 4];
    let mut chunks = xs.chunks_exact(4);
    for c in &mut chunks {
        for (l, x) in lanes.iter_mut().zip(c) {
            *l += x;
        }
    }
    let tail: f64 = chunks.remainder().iter().sum();
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + tail
}

/// Cuts `share` of element `e`'s part of a composition and gives it to the other elements
/// in proportion, so the composition still sums to one.
fn cut_share(comp: &mut [f64], e: ElemId, share: f64) {
    if comp.is_empty() || comp[e] <= 0.0 || share <= 0.0 {
        return;
    }
    let cut = comp[e] * share;
    let rest: f64 = comp.iter().sum::<f64>() - comp[e];
    if rest <= 0.0 {
        return;
    }
    comp[e] -= cut;
    for (i, x) in comp.iter_mut().enumerate() {
        if i != e {
            *x += cut * *x / rest;
        }
    }
}

/// What an exporter may still ship under all the quotas of a flow (`avail` under none).
/// `mix` is the flow's element vector (any scale) for a mixed form, None for one element.
fn quota_room(
    set: QuotaSet,
    avail: f64,
    quotas: &[QuotaUse],
    policies: &[Policy],
    year_frac: f64,
    mix: Option<&[f64]>,
) -> f64 {
    set.iter().fold(avail, |room, qi| {
        quota_cap(room, quotas[qi], policies, year_frac, mix)
    })
}

/// Turns what was asked of each quota (`fill[qi]`, tonnes it counts) into the share of it
/// the quota's room allows. Returns whether any quota holds something back.
fn quota_fills(fill: &mut [f64], quotas: &[QuotaUse], policies: &[Policy], year_frac: f64) -> bool {
    let mut capped = false;
    for (qi, fill) in fill.iter_mut().enumerate() {
        let asked = *fill;
        let room = quota_cap(f64::INFINITY, quotas[qi], policies, year_frac, None);
        *fill = if asked > room { room / asked } else { 1.0 };
        capped |= asked > room + NOISE;
    }
    capped
}

/// Counts `q` t of a flow against each of its quotas, by what each quota covers.
fn quota_spend(
    set: QuotaSet,
    q: f64,
    quotas: &mut [QuotaUse],
    policies: &[Policy],
    mix: Option<&[f64]>,
) {
    for qi in set.iter() {
        quotas[qi].used += q * quota_share(&policies[quotas[qi].policy], mix);
    }
}

/// What an exporter may still ship under a quota: no more than the elapsed share of the
/// year's tonnes, less what it has shipped (quotas are paced through the year).
fn quota_cap(
    avail: f64,
    quota: QuotaUse,
    policies: &[Policy],
    year_frac: f64,
    mix: Option<&[f64]>,
) -> f64 {
    let pi = quota.policy;
    match policies[pi].kind {
        PolicyKind::ExportQuota { tonnes_per_year } => {
            let room = (tonnes_per_year * year_frac - quota.used).max(0.0);
            match quota_share(&policies[pi], mix) {
                share if share > 0.0 => avail.min(room / share),
                _ => avail,
            }
        }
        _ => avail,
    }
}

/// The part of a flow's tonnes a quota counts: all of it, unless the quota names elements
/// and the flow is a mixed form, whose covered elements alone count (a Dy quota counts a
/// magnet's Dy, not its Nd).
fn quota_share(policy: &Policy, mix: Option<&[f64]>) -> f64 {
    match mix {
        Some(v) if policy.elements != 0 => {
            let total: f64 = v.iter().sum();
            if total > 0.0 {
                let covered: f64 = (v.iter().enumerate())
                    .filter(|&(e, _)| policy.covers_element(e))
                    .map(|(_, x)| x)
                    .sum();
                covered / total
            } else {
                1.0
            }
        }
        _ => 1.0,
    }
}

/// The share of the gap between a buyer's cover and its felt target closed in a step
/// (read each step: a script's `behaviour` may set it before the clock moves).
pub(crate) fn ease_rate(b: &Behaviour, step_days: u32) -> f64 {
    if b.cover_adapt_weeks > 0.0 {
        (step_days as f64 / 7.0 / b.cover_adapt_weeks).min(1.0)
    } else {
        0.0
    }
}

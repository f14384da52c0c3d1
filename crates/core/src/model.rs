//! The resolved model: every entity in a `Vec`, referenced by dense index. Built by
//! [`crate::load::load`] from a checked model file; read-only while the engine runs.

use crate::date::Date;
use crate::element::ReGroup;
use crate::error::did_you_mean;
use crate::policy::Policy;

pub type ElemId = usize;
pub type FormId = usize;
pub type StageId = usize;
pub type RecipeId = usize;
pub type CountryId = usize;
pub type MarketId = usize;
pub type FirmId = usize;
pub type DepositId = usize;
pub type FacilityId = usize;
pub type SectorId = usize;
pub type StockpileId = usize;
pub type GroupId = usize;
pub type CommodityId = usize;

#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    pub title: String,
    pub url: String,
    pub status: String,
}

#[derive(Debug, Clone)]
pub struct Element {
    pub symbol: String,
    pub name: String,
    pub number: u8,
    pub group: Option<ReGroup>,
}

#[derive(Debug, Clone)]
pub struct Form {
    pub id: String,
    pub name: String,
    /// Traded as a whole vector (concentrate, magnets) rather than one product per element.
    pub mixed: bool,
    /// Tonnes of rare earth per tonne of the form's unit (1 for REO-basis forms).
    pub re_share: f64,
}

#[derive(Debug, Clone)]
pub struct Recipe {
    pub id: String,
    pub stage: StageId,
    pub input: FormId,
    pub output: FormId,
    pub recovery: f64,
    /// Shares of each element in the output (sums to 1), for fixed-proportion recipes
    /// (metals, magnets); empty when the recipe converts whatever vector it is fed.
    pub composition: Vec<f64>,
    /// Elements converted; the others are not bought. All true when unrestricted.
    pub converts: Vec<bool>,
    /// Elements whose share the recipe thrifts when their input price rises.
    pub thrift: Vec<(ElemId, Substitution)>,
}

impl Recipe {
    /// The form a plant's capacity is stated in: its output for a fixed-proportion recipe
    /// (metals, magnets), its input for one that converts whatever it is fed (separation,
    /// recycling: throughput).
    pub fn capacity_form(&self) -> FormId {
        if self.composition.is_empty() {
            self.input
        } else {
            self.output
        }
    }

    /// Whether the recipe makes or converts element `e`: its composition has some, or, for
    /// one without a composition (separation, recycling), it converts `e`.
    pub fn handles(&self, e: ElemId) -> bool {
        if self.composition.is_empty() {
            self.converts.get(e).copied().unwrap_or(false)
        } else {
            self.composition.get(e).is_some_and(|&x| x > 0.0)
        }
    }
}

#[derive(Debug, Clone)]
pub struct Country {
    pub id: String,
    pub name: String,
    pub market: MarketId,
}

#[derive(Debug, Clone)]
pub struct Firm {
    pub id: String,
    pub name: String,
    pub country: CountryId,
    pub parent: Option<FirmId>,
}

#[derive(Debug, Clone)]
pub struct Deposit {
    pub id: String,
    pub name: String,
    pub country: CountryId,
    /// Share of each element in the deposit's REO, normalised to sum to 1.
    pub distribution: Vec<f64>,
    /// The mixed form its mines produce (`concentrate` unless the deposit names another:
    /// an ion-adsorption clay's mixed carbonate is not a bastnaesite concentrate).
    pub form: FormId,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Process {
    Mine(DepositId),
    Convert(RecipeId),
}

#[derive(Debug, Clone)]
pub struct Facility {
    pub id: String,
    pub name: String,
    pub firm: Option<FirmId>,
    pub country: CountryId,
    pub stage: StageId,
    pub process: Process,
    /// Nameplate output in tonnes of rare earth per year.
    pub capacity: f64,
    pub utilisation: f64,
    pub start: Date,
    pub end: Option<Date>,
    pub ramp_months: f64,
    pub cover_weeks: f64,
    /// A separator that brings in its capacity above `utilisation`, up to nameplate, while
    /// its feed is left on offer unsold (a backlog: stock a ban held at the mine, released).
    /// Others run at their usual rate.
    pub spare_lines: bool,
}

impl Facility {
    pub fn output_form(&self, model: &Model) -> FormId {
        match self.process {
            Process::Mine(d) => model.deposits[d].form,
            Process::Convert(r) => model.recipes[r].output,
        }
    }

    /// The form its capacity is stated in (see [`Recipe::capacity_form`]).
    pub fn capacity_form(&self, model: &Model) -> FormId {
        match self.process {
            Process::Mine(d) => model.deposits[d].form,
            Process::Convert(r) => model.recipes[r].capacity_form(),
        }
    }

    pub fn input_form(&self, model: &Model) -> Option<FormId> {
        match self.process {
            Process::Mine(_) => None,
            Process::Convert(r) => Some(model.recipes[r].input),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Substitution {
    pub max: f64,
    pub lag_months: f64,
    pub trigger: f64,
}

#[derive(Debug, Clone)]
pub struct Sector {
    pub id: String,
    pub name: String,
    pub country: CountryId,
    pub material: FormId,
    /// Demand shares by element for separated forms; empty for mixed forms.
    pub mix: Vec<f64>,
    /// Demand at the model's start, tonnes of rare earth per year.
    pub demand: f64,
    pub growth: f64,
    pub units: f64,
    pub unit: String,
    pub elasticity: f64,
    pub substitution: Substitution,
    pub priority: i32,
    pub cover_weeks: f64,
    pub recycle_rate: f64,
    /// Named buyers and their shares of the sector's demand; the rest is unnamed.
    pub firms: Vec<(FirmId, f64)>,
}

#[derive(Debug, Clone)]
pub struct Stockpile {
    pub id: String,
    pub name: String,
    pub country: CountryId,
    pub form: FormId,
    /// Holding at start, tonnes of rare earth per element.
    pub holding: Vec<f64>,
    pub target_days: f64,
}

/// A share of a facility's output contracted to buyers in one country (only to one firm's
/// plants there, with its subsidiaries', if `firm` is set).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContractSpec {
    pub facility: FacilityId,
    pub country: CountryId,
    pub share: f64,
    pub firm: Option<FirmId>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub firms: Vec<FirmId>,
    pub countries: Vec<CountryId>,
}

/// A traded product: a separated form of one element, or a mixed form as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commodity {
    pub form: FormId,
    pub element: Option<ElemId>,
}

/// Every behavioural parameter of the engine. No constant in the engine is hidden from the
/// model file: each field here is read from `behaviour:` with its source.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Log-price rise per year per unit of buyers' inventory shortfall against target.
    pub price_rise: f64,
    /// Log-price fall per year per unit share of this step's output left unsold.
    pub price_fall: f64,
    /// Pull of the log-price back to its long-run anchor, per year.
    pub price_reversion: f64,
    /// Prices stay within [min, max] × their starting price.
    pub price_min_ratio: f64,
    pub price_max_ratio: f64,
    /// Weeks of sales that metal and magnet plants keep in stock as output cover.
    pub seller_cover_weeks: f64,
    /// Import shares move as (1 + tariff)^-elasticity.
    pub tariff_elasticity: f64,
    /// Ramps of facilities abroad are stretched by this factor under a technology export ban.
    pub tech_ban_ramp_factor: f64,
    /// Share of a buyer's request offered first to sellers in its own country.
    pub home_bias: f64,
    /// Weeks over which plants smooth their sales when planning output.
    pub order_smoothing_weeks: f64,
    /// Pull per year of each form's log price toward its element's average across forms.
    pub form_coupling: f64,
    /// Pull per year of a freely traded commodity's log price toward its average across
    /// markets (arbitrage); a policy on the commodity cuts it.
    pub market_coupling: f64,
    /// Share of a metal or magnet plant's output value its inputs cost at start prices.
    pub input_cost_share: f64,
    /// Plants run fully while inputs cost no more than output value, and stop once they
    /// cost this share more.
    pub curtail_band: f64,
    /// Metal plants bring in their spare lines (up to nameplate) as their output's price
    /// rises above its start: all of them at 1 + this (magnet makers as `qualify_weeks`
    /// lets them).
    pub spare_line_band: f64,
    /// Share of what third-country buyers receive that they give up to buyers an export
    /// control blocks, taking the controlling exporter's supply instead (trade diversion).
    pub diversion: f64,
    /// Weeks over which a buyer held below its cover target (with a step's use still in
    /// stock) comes to count that cover as normal in its price bid; 0: never.
    pub cover_adapt_weeks: f64,
    /// Weeks for buyers to qualify a magnet maker's spare lines: they run as its output's
    /// price smoothed over this is up (`spare_line_band`); 0: never.
    pub qualify_weeks: f64,
}

impl Behaviour {
    /// Names, in file order, with a one-line meaning for `check` and the docs.
    pub const PARAMS: [(&'static str, &'static str); 18] = [
        (
            "price_rise",
            "log-price rise per year per unit of buyers' cover shortfall",
        ),
        (
            "price_fall",
            "log-price fall per year per unit share of output left unsold",
        ),
        (
            "price_reversion",
            "pull of log-price to its anchor per year",
        ),
        (
            "price_min_ratio",
            "lowest price as a multiple of the start price",
        ),
        (
            "price_max_ratio",
            "highest price as a multiple of the start price",
        ),
        (
            "seller_cover_weeks",
            "weeks of sales metal and magnet plants keep as output cover",
        ),
        (
            "tariff_elasticity",
            "import share ~ (1 + tariff)^-elasticity",
        ),
        (
            "tech_ban_ramp_factor",
            "ramp stretch abroad under a technology export ban",
        ),
        (
            "home_bias",
            "share of a request offered first to domestic sellers",
        ),
        (
            "order_smoothing_weeks",
            "weeks over which plants smooth sales to plan output",
        ),
        (
            "form_coupling",
            "pull of each form's log price toward its element's average, per year",
        ),
        (
            "market_coupling",
            "pull of a freely traded commodity's log price toward its average across markets, per year",
        ),
        (
            "input_cost_share",
            "share of a plant's output value its inputs cost at start prices",
        ),
        (
            "curtail_band",
            "plants stop once inputs cost this share more than output value",
        ),
        (
            "diversion",
            "share of third-country supply re-routed to buyers an export control blocks",
        ),
        (
            "spare_line_band",
            "metal plants run all their spare lines once their output's price is up this share",
        ),
        (
            "cover_adapt_weeks",
            "weeks over which buyers held below their cover target come to bid as if it were normal (0: never)",
        ),
        (
            "qualify_weeks",
            "weeks for buyers to qualify a magnet maker's spare lines, which follow its output's price smoothed over them (0: never)",
        ),
    ];

    /// The parameters' values, in the order of [`Self::PARAMS`].
    pub fn values(&self) -> [f64; 18] {
        [
            self.price_rise,
            self.price_fall,
            self.price_reversion,
            self.price_min_ratio,
            self.price_max_ratio,
            self.seller_cover_weeks,
            self.tariff_elasticity,
            self.tech_ban_ramp_factor,
            self.home_bias,
            self.order_smoothing_weeks,
            self.form_coupling,
            self.market_coupling,
            self.input_cost_share,
            self.curtail_band,
            self.diversion,
            self.spare_line_band,
            self.cover_adapt_weeks,
            self.qualify_weeks,
        ]
    }

    /// Checks a value for parameter `name` at this step length: within its range, and for a
    /// pull toward a target, no more than closes the whole gap in one step.
    pub fn check(name: &str, value: f64, step_days: u32) -> Result<f64, String> {
        let (lo, hi) = match name {
            "price_min_ratio" => (0.001, 1.0),
            "price_max_ratio" => (1.0, 1000.0),
            "home_bias" | "diversion" => (0.0, 1.0),
            "tech_ban_ramp_factor" => (1.0, 100.0),
            // Under two weeks, weekly plans follow the last week's sales alone and switch
            // plants on and off.
            "order_smoothing_weeks" => (2.0, 520.0),
            "input_cost_share" => (0.01, 1.0),
            "curtail_band" | "spare_line_band" => (0.01, 10.0),
            "cover_adapt_weeks" | "qualify_weeks" => (0.0, 520.0),
            _ => (0.0, 1000.0),
        };
        let value = crate::load::check_range(value, lo, hi)?;
        // A pull toward a target, applied once a step, overshoots and swings once a step's
        // share of it passes the whole gap.
        let pull = matches!(
            name,
            "price_reversion" | "form_coupling" | "market_coupling"
        );
        let most = 365.25 / step_days as f64;
        if pull && value > most {
            return Err(format!(
                "{value}/yr would close more than the whole gap in one {step_days}-day step (prices would swing): with this step length (the header's `step_days`) it may be at most {}/yr",
                (most * 1000.0).floor() / 1000.0
            ));
        }
        Ok(value)
    }

    /// Sets parameter `name`, checked as a model file's value is.
    pub fn set(&mut self, name: &str, value: f64, step_days: u32) -> Result<(), String> {
        let i = Self::PARAMS
            .iter()
            .position(|(n, _)| *n == name)
            .ok_or_else(|| {
                let hint = crate::error::did_you_mean(name, Self::PARAMS.iter().map(|(n, _)| *n));
                format!("unknown behaviour parameter '{name}'{hint}")
            })?;
        let mut v = self.values();
        v[i] = Self::check(name, value, step_days)?;
        let next = Behaviour::from_values(&v);
        next.check_pulls(step_days)?;
        *self = next;
        Ok(())
    }

    /// The three pulls on a price act together in a step: their sum, not each alone, must
    /// not close more than the whole gap in one step, or prices swing each step.
    pub fn check_pulls(&self, step_days: u32) -> Result<(), String> {
        let sum = self.price_reversion + self.form_coupling + self.market_coupling;
        let most = 365.25 / step_days as f64;
        if sum > most {
            return Err(format!(
                "price_reversion {} + form_coupling {} + market_coupling {} = {}/yr: pulling one \
                 price together, they would close more than the whole gap in one {step_days}-day \
                 step (prices would swing each step): with this step length their sum may be \
                 at most {}/yr",
                crate::series::fmt_num(self.price_reversion),
                crate::series::fmt_num(self.form_coupling),
                crate::series::fmt_num(self.market_coupling),
                crate::series::fmt_num(sum),
                (most * 1000.0).floor() / 1000.0
            ));
        }
        Ok(())
    }

    pub fn from_values(v: &[f64; 18]) -> Behaviour {
        Behaviour {
            price_rise: v[0],
            price_fall: v[1],
            price_reversion: v[2],
            price_min_ratio: v[3],
            price_max_ratio: v[4],
            seller_cover_weeks: v[5],
            tariff_elasticity: v[6],
            tech_ban_ramp_factor: v[7],
            home_bias: v[8],
            order_smoothing_weeks: v[9],
            form_coupling: v[10],
            market_coupling: v[11],
            input_cost_share: v[12],
            curtail_band: v[13],
            diversion: v[14],
            spare_line_band: v[15],
            cover_adapt_weeks: v[16],
            qualify_weeks: v[17],
        }
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub title: String,
    pub start: Date,
    pub end: Date,
    pub step_days: u32,
    pub seed: u64,
    pub sources: Vec<Source>,
    pub elements: Vec<Element>,
    pub forms: Vec<Form>,
    pub stages: Vec<String>,
    pub recipes: Vec<Recipe>,
    pub countries: Vec<Country>,
    pub markets: Vec<String>,
    pub firms: Vec<Firm>,
    pub deposits: Vec<Deposit>,
    pub facilities: Vec<Facility>,
    pub sectors: Vec<Sector>,
    pub stockpiles: Vec<Stockpile>,
    pub groups: Vec<Group>,
    pub policies: Vec<Policy>,
    pub contracts: Vec<ContractSpec>,
    pub behaviour: Behaviour,
    pub commodities: Vec<Commodity>,
    /// First commodity of each form (mixed forms have one, separated forms one per element).
    pub commodity_base: Vec<CommodityId>,
    /// Starting price per market and commodity, $/kg of the form's unit: `[market][commodity]`.
    pub prices: Vec<f64>,
    /// Where its items were written, for warnings about them.
    pub places: Places,
    /// What the engine derives from the model once and every run shares.
    pub(crate) cache: EngineCache,
}

/// What `check` (and every command that loads a model) warns of: a model that loads but
/// will not do what its author likely meant; where the item it is about was written, if
/// it is about one (a facility, sector, recipe or deposit).
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub place: Option<String>,
    pub message: String,
}

impl Warning {
    fn at(place: Option<&str>, message: String) -> Warning {
        Warning {
            place: place.map(str::to_string),
            message,
        }
    }

    fn of(message: String) -> Warning {
        Warning {
            place: None,
            message,
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.place {
            Some(p) => write!(f, "{p}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Where each facility, sector, recipe and deposit of a model was written: the place and
/// path its errors would name (`models/plants.yaml:12:5: facilities[3]`). Empty for a
/// model built in code, and for facilities a script adds.
#[derive(Debug, Clone, Default)]
pub struct Places {
    pub facilities: Vec<String>,
    pub sectors: Vec<String>,
    pub recipes: Vec<String>,
    pub deposits: Vec<String>,
}

impl Places {
    fn of(list: &[String], i: usize) -> Option<&str> {
        list.get(i).map(String::as_str)
    }
}

/// The engine's per-model cache (the series layout), filled on first use. A clone of the
/// model starts empty: a changed model gets its own.
#[derive(Default)]
pub(crate) struct EngineCache(pub(crate) std::sync::OnceLock<crate::sim::Layout>);

impl Clone for EngineCache {
    fn clone(&self) -> Self {
        EngineCache::default()
    }
}

impl std::fmt::Debug for EngineCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EngineCache")
    }
}

/// Looks up an id by name in a list, with a did-you-mean on failure.
pub fn find_id<'a, T>(
    what: &str,
    items: &'a [T],
    name: &str,
    key: impl Fn(&'a T) -> &'a str,
) -> Result<usize, String> {
    items.iter().position(|x| key(x) == name).ok_or_else(|| {
        let hint = did_you_mean(name, items.iter().map(&key));
        // With nothing close, a short list is worth naming whole.
        if hint.is_empty() && !items.is_empty() && items.len() <= 12 {
            let all: Vec<&str> = items.iter().map(&key).collect();
            return format!("unknown {what} '{name}' (the model's: {})", all.join(", "));
        }
        format!("unknown {what} '{name}'{hint}")
    })
}

impl Model {
    pub fn steps_per_year(&self) -> f64 {
        365.25 / self.step_days as f64
    }

    /// The step index of a date (the step that contains it), which may be negative or past
    /// the horizon; callers check the range.
    pub fn step_of(&self, date: Date) -> i64 {
        (date.days() - self.start.days()).div_euclid(self.step_days as i32) as i64
    }

    pub fn date_of(&self, step: usize) -> Date {
        self.start.add_days((step * self.step_days as usize) as i32)
    }

    /// The first day of the step containing `date` (a date before the start is kept): what
    /// a dated change acts from, as a script's `at(date, ...)` does.
    pub fn step_start(&self, date: Date) -> Date {
        match usize::try_from(self.step_of(date)) {
            Ok(step) => self.date_of(step),
            Err(_) => date,
        }
    }

    /// Where a step stands in its calendar year (the year its first day is in): how many of
    /// the year's steps come before it, and how many steps start in that year (52 or 53
    /// weekly), counting steps before the model's start as if it had run then. Quotas pace
    /// a year's tonnes by these, so every step of a year has an equal share.
    pub fn year_steps(&self, step: usize) -> (usize, usize) {
        let d = self.date_of(step);
        let sd = self.step_days.max(1) as i64;
        let first = |year: i32| {
            let jan1 = Date::from_ymd(year, 1, 1).map_or(d.days(), |x| x.days());
            // The first step on or after 1 January: ceil((jan1 - start) / sd).
            -((self.start.days() as i64 - jan1 as i64).div_euclid(sd))
        };
        let (k0, k1) = (first(d.year()), first(d.year() + 1));
        (
            (step as i64 - k0).max(0) as usize,
            (k1 - k0).max(1) as usize,
        )
    }

    /// Number of steps from start to end inclusive.
    pub fn horizon_steps(&self) -> usize {
        (self.step_of(self.end) + 1).max(1) as usize
    }

    pub fn commodity(&self, form: FormId, element: Option<ElemId>) -> CommodityId {
        let base = self.commodity_base[form];
        match (self.forms[form].mixed, element) {
            (false, Some(e)) => base + e,
            _ => base,
        }
    }

    /// Whether facility `f` makes commodity `c`: its output form, and for a single element,
    /// one its deposit holds or its recipe makes.
    pub fn makes(&self, f: FacilityId, c: CommodityId) -> bool {
        let fac = &self.facilities[f];
        let com = self.commodities[c];
        com.form == fac.output_form(self)
            && match (com.element, fac.process) {
                (None, _) => true,
                (Some(e), Process::Mine(d)) => self.deposits[d].distribution[e] > 0.0,
                (Some(e), Process::Convert(r)) => {
                    let rec = &self.recipes[r];
                    if rec.composition.is_empty() {
                        rec.converts[e]
                    } else {
                        rec.composition[e] > 0.0
                    }
                }
            }
    }

    /// What a valid model may still get wrong, for `check` to print: inputs no facility
    /// makes and no stockpile holds (the plants that need them will never run), plants
    /// whose years lie outside the model's, mines away from their deposits,
    /// commodities facilities make that have no start price in a market (margins, bids
    /// and thrifting read them as unpriced), and mines whose form nothing takes in.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut out = Vec::new();
        let (facility_at, sector_at, recipe_at, deposit_at) = (
            |i: usize| Places::of(&self.places.facilities, i),
            |i: usize| Places::of(&self.places.sectors, i),
            |i: usize| Places::of(&self.places.recipes, i),
            |i: usize| Places::of(&self.places.deposits, i),
        );
        // (A plant of no capacity makes nothing: `capacity: 0` is no maker.)
        let made_or_held = |c: CommodityId| {
            (0..self.facilities.len())
                .any(|f| self.makes(f, c) && self.facilities[f].capacity > 0.0)
                || self.stockpiles.iter().any(|sp| {
                    let com = self.commodities[c];
                    sp.form == com.form
                        && match com.element {
                            Some(e) => sp.holding[e] > 0.0,
                            None => sp.holding.iter().any(|&x| x > 0.0),
                        }
                })
        };
        for (r, rec) in self.recipes.iter().enumerate() {
            let users: Vec<&str> = (self.facilities.iter())
                .filter(|f| f.process == Process::Convert(r))
                .map(|f| f.id.as_str())
                .collect();
            if users.is_empty() {
                continue;
            }
            let needs: Vec<CommodityId> = if rec.composition.is_empty() {
                vec![self.commodity(rec.input, None)]
            } else {
                (0..self.elements.len())
                    .filter(|&e| rec.composition[e] > 0.0)
                    .map(|e| self.commodity(rec.input, Some(e)))
                    .collect()
            };
            // An element no deposit holds is made only from what plants start with.
            let found = |e: ElemId| {
                self.deposits.iter().any(|d| d.distribution[e] > 0.0)
                    || self.stockpiles.iter().any(|sp| sp.holding[e] > 0.0)
            };
            for &c in &needs {
                let Some(e) = self.commodities[c].element else {
                    continue;
                };
                if made_or_held(c) && !found(e) {
                    out.push(Warning::at(
                        recipe_at(r),
                        format!(
                            "recipe '{}' needs {}, and no deposit holds {}: {} can run only on the \
                             stocks the chain starts with, then never",
                            rec.id,
                            self.commodity_name(c),
                            self.elements[e].symbol,
                            users.join(", ")
                        ),
                    ));
                }
            }
            for c in needs.into_iter().filter(|&c| !made_or_held(c)) {
                // Scrap comes from sectors that recycle, not from a facility.
                if self.forms[self.commodities[c].form].id == "scrap" {
                    continue;
                }
                out.push(Warning::at(
                    recipe_at(r),
                    format!(
                        "recipe '{}' needs {} and no facility makes it nor stockpile holds it: {} \
                         will never run",
                        rec.id,
                        self.commodity_name(c),
                        users.join(", ")
                    ),
                ));
            }
        }
        // A recipe without a composition converts whatever it is fed, up to capacity, as a
        // separator does: right for ore and scrap, not for a good made to order from another
        // (a magnet pressed from an alloy made in the chain).
        for (r, rec) in self.recipes.iter().enumerate() {
            let made_to_recipe = |q: &Recipe| q.output == rec.input && !q.composition.is_empty();
            let fed_by_chain = self.facilities.iter().any(
                |f| matches!(f.process, Process::Convert(q) if made_to_recipe(&self.recipes[q])),
            );
            let runs = self
                .facilities
                .iter()
                .any(|f| matches!(f.process, Process::Convert(q) if self.recipes[q].id == rec.id));
            if runs
                && rec.composition.is_empty()
                && self.forms[rec.output].mixed
                && self.forms[rec.input].mixed
                && fed_by_chain
            {
                out.push(Warning::at(
                    recipe_at(r),
                    format!(
                        "recipe '{}' makes {} from {} with no composition: its plants run at their \
                         capacity on whatever {} they hold (capacity is their feed), as separators \
                         do, not to their sales; to make {} to order, give the recipe a \
                         composition and a single-element input (metal)",
                        rec.id,
                        self.forms[rec.output].id,
                        self.forms[rec.input].id,
                        self.forms[rec.input].id,
                        self.forms[rec.output].id
                    ),
                ));
            }
        }
        for (si, sec) in self.sectors.iter().enumerate() {
            // A separated material by the elements of its mix; a mixed one whole.
            let needs: Vec<CommodityId> = if self.forms[sec.material].mixed {
                vec![self.commodity(sec.material, None)]
            } else {
                (0..self.elements.len())
                    .filter(|&e| sec.mix.get(e).is_some_and(|&x| x > 0.0))
                    .map(|e| self.commodity(sec.material, Some(e)))
                    .collect()
            };
            // An element no deposit holds is never made, whatever a plant could do.
            let found = |e: ElemId| {
                self.deposits.iter().any(|d| d.distribution[e] > 0.0)
                    || self.stockpiles.iter().any(|sp| sp.holding[e] > 0.0)
            };
            let missing: Vec<String> = (needs.into_iter())
                .filter(|&c| {
                    !made_or_held(c) || self.commodities[c].element.is_some_and(|e| !found(e))
                })
                .map(|c| self.commodity_name(c))
                .collect();
            if sec.demand > 0.0 && !missing.is_empty() {
                out.push(Warning::at(
                    sector_at(si),
                    format!(
                        "sector '{}' uses {}, which no facility makes nor stockpile holds: it will \
                         be wholly short of it, and with no seller its price never moves",
                        sec.id,
                        missing.join(", ")
                    ),
                ));
            }
            if sec.recycle_rate > 0.0 && !self.forms.iter().any(|f| f.id == "scrap") {
                out.push(Warning::at(
                    sector_at(si),
                    format!(
                        "sector '{}' has a recycle_rate but the model has no `scrap` form: what it \
                         returns is lost (models/README: \"Forms the engine knows by id\")",
                        sec.id
                ),
                ));
            }
        }
        // Flows within a thousand times the engine's rounding tolerance (a billionth of a
        // tonne a step) are read as noise: a model stated in such small numbers gives noise.
        let tiny = |per_year: f64| per_year > 0.0 && per_year / self.steps_per_year() < 1e-6;
        for (si, sec) in (self.sectors.iter().enumerate()).filter(|(_, s)| tiny(s.demand)) {
            out.push(Warning::at(
                sector_at(si),
                format!(
                    "sector '{}' needs {} t of rare earths a year, under a millionth of a tonne a \
                     step: flows this small are within the engine's rounding tolerance, so its \
                     results are noise (state the model's quantities in tonnes)",
                    sec.id,
                    crate::error::shown(sec.demand)
                ),
            ));
        }
        for (f, fac) in
            (self.facilities.iter().enumerate()).filter(|(_, f)| tiny(f.capacity * f.utilisation))
        {
            out.push(Warning::at(
                facility_at(f),
                format!(
                    "facility '{}' makes {} t a year, under a millionth of a tonne a step: flows \
                     this small are within the engine's rounding tolerance, so its results are \
                     noise (state the model's quantities in tonnes)",
                    fac.id,
                    crate::error::shown(fac.capacity * fac.utilisation)
                ),
            ));
        }
        // Magnets hold iron and boron (or cobalt) too: read as pure rare earth, every tonne
        // of them stands for ~3 of a real magnet's. (An alloy of rare earths alone is pure.)
        for (r, rec) in self.recipes.iter().enumerate() {
            let form = &self.forms[rec.output];
            let made = (self.facilities.iter()).any(|f| f.process == Process::Convert(r));
            let magnet = form.id.to_lowercase().contains("magnet");
            if made && magnet && form.mixed && form.re_share >= 1.0 {
                out.push(Warning::of(format!(
                    "form '{}' has no re_share below 1: its tonnes are read as pure rare earth \
                     (a sintered NdFeB magnet is ~30% rare earth; set `re_share`)",
                    form.id
                )));
            }
        }
        if self.step_days != 7 {
            out.push(Warning::of(format!(
                "its steps are {} day{} long (`step_days`): the behavioural parameters were \
                 calibrated at weekly steps (models/README, \"Behavioural parameters\"), so \
                 prices and shortfalls respond differently at other step lengths (a shock's \
                 price peak can differ several-fold)",
                self.step_days,
                if self.step_days == 1 { "" } else { "s" }
            )));
        }
        // Demand grows without bound as prices fall: at the model's price floor a steep
        // elasticity multiplies it many times, and shortfalls are measured against that.
        for (si, sec) in self.sectors.iter().enumerate() {
            let most = self.behaviour.price_min_ratio.powf(sec.elasticity);
            if sec.elasticity < 0.0 && most > 10.0 {
                out.push(Warning::at(
                    sector_at(si),
                    format!(
                        "sector '{}': with elasticity {} and prices at the model's floor ({}× \
                         start, price_min_ratio) its demand would be {} times its base, and its \
                         shortfall and output lost are measured against that (models/README, known \
                         limits of demand)",
                        sec.id,
                        crate::series::fmt_num(sec.elasticity),
                        crate::series::fmt_num(self.behaviour.price_min_ratio),
                        crate::series::fmt_num((most * 10.0).round() / 10.0)
                    ),
                ));
            }
        }
        // A trigger is a multiple of the start price: one below 1 is met at start prices,
        // so demand moves away (or plants thrift) with no shock at all. (The engine acts
        // above the trigger: one of exactly 1 waits for a rise.)
        let at_start = |t: f64| t < 1.0;
        for (si, sec) in (self.sectors.iter().enumerate()).filter(|(_, s)| s.substitution.max > 0.0)
        {
            if at_start(sec.substitution.trigger) {
                out.push(Warning::at(
                    sector_at(si),
                    format!(
                        "sector '{}': substitution.trigger is {}, a multiple of the start price, \
                         so it is met at start prices and up to {}% of its demand moves away with \
                         no shock at all (a rise of half is 1.5, not 0.5)",
                        sec.id,
                        crate::series::fmt_num(sec.substitution.trigger),
                        crate::series::fmt_num(sec.substitution.max * 100.0)
                    ),
                ));
            }
        }
        for (r, rec) in self.recipes.iter().enumerate() {
            for (e, t) in rec.thrift.iter().filter(|(_, t)| t.max > 0.0) {
                if at_start(t.trigger) {
                    out.push(Warning::at(
                        recipe_at(r),
                        format!(
                            "recipe '{}': thrift of {} has trigger {}, a multiple of the start \
                             price, so it is met at start prices and plants thrift with no shock \
                             at all (a rise of half is 1.5, not 0.5)",
                            rec.id,
                            self.elements[*e].symbol,
                            crate::series::fmt_num(t.trigger)
                        ),
                    ));
                }
            }
        }
        // Plants that keep less than a step's output for their buyers run in alternate
        // steps: the chain stalls and users fall short with no shock at all.
        let cover_days = self.behaviour.seller_cover_weeks * 7.0;
        if cover_days < self.step_days as f64 {
            out.push(Warning::of(format!(
                "behaviour seller_cover_weeks is {} weeks, less than one {}-day step: metal and \
                 magnet plants keep less than a step's output for their buyers, so they run in \
                 alternate steps and users fall short with no shock at all; set it to a step or \
                 more ({} weeks)",
                crate::series::fmt_num(self.behaviour.seller_cover_weeks),
                self.step_days,
                crate::series::fmt_num((self.step_days as f64 / 7.0 * 100.0).ceil() / 100.0)
            )));
        }
        for (f, fac) in self.facilities.iter().enumerate() {
            // A plant runs in the steps that begin while it is open: one open for less than
            // a step may hold none.
            let first = self.step_of(fac.start).max(0);
            let first = if self.date_of(first as usize) < fac.start {
                first + 1
            } else {
                first
            };
            let first_date = self.date_of(first as usize);
            if fac.start <= self.end && fac.end.is_some_and(|e| e > self.start && first_date >= e) {
                out.push(Warning::at(
                    facility_at(f),
                    format!(
                        "facility '{}' is open from {} to {}, and no step begins then (steps of {} \
                         days from {}): it never runs",
                        fac.id,
                    fac.start,
                    fac.end.map(|e| e.to_string()).unwrap_or_default(),
                    self.step_days,
                    self.start
                ),
                ));
            }
            // A plant outside the model's years is most often a mistyped date.
            if fac.start > self.end {
                out.push(Warning::at(
                    facility_at(f),
                    format!(
                        "facility '{}' starts on {}, after the model ends ({}): it never runs here",
                        fac.id, fac.start, self.end
                    ),
                ));
            } else if let Some(end) = fac.end.filter(|&e| e <= self.start) {
                out.push(Warning::at(
                    facility_at(f),
                    format!(
                        "facility '{}' ends on {end}, by the model's start ({}): it never runs \
                         here",
                        fac.id, self.start
                    ),
                ));
            }
            if let Process::Mine(d) = fac.process {
                let dep = &self.deposits[d];
                if dep.country != fac.country {
                    out.push(Warning::at(
                        facility_at(f),
                        format!(
                            "facility '{}' in {} mines deposit '{}', which is in {}: a mine is \
                             where its deposit is (check the facility's `country` or its \
                             `deposit`)",
                            fac.id,
                            self.countries[fac.country].id,
                            dep.id,
                            self.countries[dep.country].id
                        ),
                    ));
                }
            }
        }
        let nc = self.commodities.len();
        // An element no deposit holds (Pm) is never made, whatever a separator could do.
        let exists = |e: usize| {
            self.deposits.iter().any(|d| d.distribution[e] > 0.0)
                || self.stockpiles.iter().any(|sp| sp.holding[e] > 0.0)
        };
        for c in 0..nc {
            let made = (0..self.facilities.len()).any(|f| self.makes(f, c));
            if !made || self.commodities[c].element.is_some_and(|e| !exists(e)) {
                continue;
            }
            // Only where a plant reads it: one there makes it or takes its form in.
            let read_in = |mk: usize| {
                (0..self.facilities.len()).any(|f| {
                    let fac = &self.facilities[f];
                    self.countries[fac.country].market == mk
                        && (self.makes(f, c)
                            || matches!(fac.process, Process::Convert(r)
                                if self.recipes[r].input == self.commodities[c].form))
                })
            };
            for (mk, name) in self.markets.iter().enumerate() {
                if self.prices[mk * nc + c] <= 0.0 && read_in(mk) {
                    out.push(Warning::of(format!(
                        "{} has no start price in market {name}: plants read its margin as \
                         unpriced there (add it to `prices:`)",
                        self.commodity_name(c)
                    )));
                }
            }
        }
        // A plant of no capacity makes nothing and sells nothing: a placeholder, or a zero
        // typed for a figure still to find (a script's `build` of 0 is refused).
        for (f, fac) in (self.facilities.iter().enumerate()).filter(|(_, f)| f.capacity <= 0.0) {
            out.push(Warning::at(
                facility_at(f),
                format!(
                    "facility '{}' has capacity 0, so it never makes anything (leave it out, or \
                     give the capacity it will have: `start` and `ramp_months` say when)",
                    fac.id
                ),
            ));
        }
        // Spare lines that more than double a separator's usual rate: a `utilisation` of
        // 0.0001 reads as a plant idle in normal times that runs at nameplate on any backlog.
        for (f, fac) in (self.facilities.iter().enumerate())
            .filter(|(_, f)| f.spare_lines && f.utilisation < 0.5)
        {
            out.push(Warning::at(
                facility_at(f),
                format!(
                    "facility {}: its spare lines run it at up to {:.1}x its usual rate \
                     (utilisation {}) while feed is left unsold: is `utilisation` its usual share \
                     of nameplate?",
                    fac.id,
                    1.0 / fac.utilisation,
                    fac.utilisation
                ),
            ));
        }
        // A deposit's form that no plant takes in and no sector uses: its mines' output
        // piles up unsold (a form of its own that no separation recipe names, say).
        for (d, dep) in self.deposits.iter().enumerate() {
            let mined = (self.facilities.iter()).any(|f| f.process == Process::Mine(d));
            let taken = (self.facilities.iter()).any(
                |f| matches!(f.process, Process::Convert(r) if self.recipes[r].input == dep.form),
            ) || self.sectors.iter().any(|s| s.material == dep.form);
            if mined && !taken {
                out.push(Warning::at(
                    deposit_at(d),
                    format!(
                        "deposit {}: its mines make {}, which no plant takes in and no sector \
                         uses: their output piles up unsold (a recipe with `input: {}` takes it)",
                        dep.id, self.forms[dep.form].id, self.forms[dep.form].id
                    ),
                ));
            }
        }
        out
    }

    pub fn commodity_name(&self, c: CommodityId) -> String {
        let com = self.commodities[c];
        match com.element {
            Some(e) => format!("{}:{}", self.forms[com.form].id, self.elements[e].symbol),
            None => self.forms[com.form].id.clone(),
        }
    }

    pub fn element_id(&self, s: &str) -> Result<ElemId, String> {
        find_id("element", &self.elements, s, |e| &e.symbol).map_err(|e| {
            // Its name, where its symbol goes ("dysprosium" for "Dy"); or a symbol in the
            // wrong case ("dy").
            let named = (self.elements.iter()).find(|x| {
                x.name.eq_ignore_ascii_case(s.trim()) || x.symbol.eq_ignore_ascii_case(s.trim())
            });
            match named {
                Some(x) => format!(
                    "unknown element '{s}' ({} is '{}': elements go by their symbol, as \
                     chemistry writes it)",
                    x.name, x.symbol
                ),
                None => e,
            }
        })
    }
    pub fn form_id(&self, s: &str) -> Result<FormId, String> {
        find_id("form", &self.forms, s, |f| &f.id)
    }
    pub fn country_id(&self, s: &str) -> Result<CountryId, String> {
        find_id("country", &self.countries, s, |c| &c.id).map_err(|e| {
            match (self.wrong_kind(s, "country"), self.country_hint(s)) {
                (Some(kind), _) => kind,
                (None, Some(hint)) => format!("unknown country '{s}' ({hint})"),
                (None, None) => e,
            }
        })
    }

    /// Whether `id` names anything in the model: a country, firm, group, sector, facility,
    /// stockpile, element, form, market, stage or commodity.
    pub fn names(&self, id: &str) -> bool {
        self.countries.iter().any(|x| x.id == id)
            || self.firms.iter().any(|x| x.id == id)
            || self.groups.iter().any(|x| x.id == id)
            || self.sectors.iter().any(|x| x.id == id)
            || self.facilities.iter().any(|x| x.id == id)
            || self.stockpiles.iter().any(|x| x.id == id)
            || self.elements.iter().any(|x| x.symbol == id)
            || self.forms.iter().any(|x| x.id == id)
            || self.markets.iter().any(|x| x == id)
            || self.stages.iter().any(|x| x == id)
            || (0..self.commodities.len()).any(|c| self.commodity_name(c) == id)
    }

    const KINDS: [&'static str; 10] = [
        "country",
        "group",
        "firm",
        "facility",
        "sector",
        "stockpile",
        "market",
        "stage",
        "form",
        "element",
    ];

    /// Whether `s` is an id of `kind` in the model (a form with its element, `oxide:Dy`,
    /// counts as a form).
    fn is_kind(&self, s: &str, kind: &str) -> bool {
        match kind {
            "country" => self.countries.iter().any(|x| x.id == s),
            "firm" => self.firms.iter().any(|x| x.id == s),
            "group" => self.groups.iter().any(|x| x.id == s),
            "facility" => self.facilities.iter().any(|x| x.id == s),
            "sector" => self.sectors.iter().any(|x| x.id == s),
            "stockpile" => self.stockpiles.iter().any(|x| x.id == s),
            "market" => self.markets.iter().any(|x| x == s),
            "stage" => self.stages.iter().any(|x| x == s),
            "form" => {
                self.forms.iter().any(|x| x.id == s)
                    || s.rsplit_once(':').is_some_and(|(f, e)| {
                        self.forms.iter().any(|x| x.id == f)
                            && self.elements.iter().any(|x| x.symbol == e)
                    })
            }
            "element" => self.elements.iter().any(|x| x.symbol == s),
            _ => false,
        }
    }

    /// What kind of id `s` is, if the model has it (the first kind, in the order of
    /// [`Model::wrong_kind`]'s list).
    pub fn kind_of(&self, s: &str) -> Option<&'static str> {
        Self::KINDS.into_iter().find(|k| self.is_kind(s, k))
    }

    /// For an id not of the kind `wanted` but of another the model has ("G7" where a
    /// country was meant, a firm where a facility was): what it is, in place of "unknown"
    /// and a did-you-mean to some other id.
    pub fn wrong_kind(&self, s: &str, wanted: &str) -> Option<String> {
        let kind = Self::KINDS
            .into_iter()
            .find(|k| *k != wanted && self.is_kind(s, k))?;
        let a = |k: &str| {
            if k.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            }
        };
        let mut text = format!("'{s}' is {} {kind}, not {} {wanted}", a(kind), a(wanted));
        if kind == "group" {
            let g = self.groups.iter().find(|g| g.id == s)?;
            let members: Vec<&str> = (g.countries.iter().map(|&c| self.countries[c].id.as_str()))
                .chain(g.firms.iter().map(|&f| self.firms[f].id.as_str()))
                .collect();
            let shown = match members.len() {
                0..=8 => members.join(", "),
                n => format!("{}, … ({n} in all)", members[..8].join(", ")),
            };
            text.push_str(&format!(
                ": here one {wanted} goes, and a group's members are {shown}"
            ));
        }
        Some(text)
    }

    /// For a country written by name ("China") or by a common non-ISO code ("UK"): which
    /// id it goes by in this model.
    pub fn country_hint(&self, s: &str) -> Option<String> {
        // Common names that are not ISO codes.
        const ALIASES: [(&str, &str); 5] = [
            ("UK", "GB"),
            ("BRITAIN", "GB"),
            ("ENGLAND", "GB"),
            ("USA", "US"),
            ("UAE", "AE"),
        ];
        let alias = ALIASES
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(s))
            .and_then(|(_, id)| self.countries.iter().find(|c| c.id == *id));
        let named = || {
            self.countries.iter().find(|c| {
                c.name.eq_ignore_ascii_case(s)
                    || c.name
                        .split(|ch: char| !ch.is_alphanumeric())
                        .next()
                        .is_some_and(|w| w.eq_ignore_ascii_case(s))
            })
        };
        alias
            .or_else(named)
            .map(|c| format!("countries go by id: {} is '{}'", c.name, c.id))
    }
    pub fn firm_id(&self, s: &str) -> Result<FirmId, String> {
        find_id("firm", &self.firms, s, |f| &f.id)
            .map_err(|e| self.wrong_kind(s, "firm").unwrap_or(e))
    }
    pub fn facility_id(&self, s: &str) -> Result<FacilityId, String> {
        find_id("facility", &self.facilities, s, |f| &f.id)
            .map_err(|e| self.wrong_kind(s, "facility").unwrap_or(e))
    }
    pub fn sector_id(&self, s: &str) -> Result<SectorId, String> {
        find_id("sector", &self.sectors, s, |x| &x.id)
            .map_err(|e| self.wrong_kind(s, "sector").unwrap_or(e))
    }
    pub fn group_id(&self, s: &str) -> Result<GroupId, String> {
        find_id("group", &self.groups, s, |g| &g.id)
            .map_err(|e| self.wrong_kind(s, "group").unwrap_or(e))
    }
    pub fn stockpile_id(&self, s: &str) -> Result<StockpileId, String> {
        find_id("stockpile", &self.stockpiles, s, |g| &g.id)
            .map_err(|e| self.wrong_kind(s, "stockpile").unwrap_or(e))
    }
    pub fn stage_id(&self, s: &str) -> Result<StageId, String> {
        find_id("stage", &self.stages, s, |g| g)
    }
    pub fn market_id(&self, s: &str) -> Result<MarketId, String> {
        find_id("market", &self.markets, s, |g| g).map_err(|e| {
            // A country where a market was meant: say which market it trades in.
            match self.countries.iter().find(|c| c.id == s) {
                Some(c) => format!(
                    "'{s}' is a country, not a market: it trades in {} (markets: {})",
                    self.markets[c.market],
                    self.markets.join(", ")
                ),
                // find_id names a short list whole already.
                None if e.contains("(the model's: ") => e,
                None => format!("{e} (markets: {})", self.markets.join(", ")),
            }
        })
    }
    pub fn recipe_id(&self, s: &str) -> Result<RecipeId, String> {
        find_id("recipe", &self.recipes, s, |r| &r.id)
    }
    pub fn deposit_id(&self, s: &str) -> Result<DepositId, String> {
        find_id("deposit", &self.deposits, s, |r| &r.id)
    }

    /// Whether `firm` is `target` or one of its subsidiaries (the affiliate rule).
    pub fn firm_within(&self, firm: FirmId, target: FirmId) -> bool {
        let mut f = Some(firm);
        let mut hops = 0;
        while let Some(x) = f {
            if x == target {
                return true;
            }
            hops += 1;
            if hops > self.firms.len() {
                return false;
            }
            f = self.firms[x].parent;
        }
        false
    }

    /// The plants of `firm` (or a subsidiary) in `country` whose recipe takes `form`: what a
    /// contract to the firm there can deliver to.
    pub fn firm_plants(
        &self,
        firm: FirmId,
        country: CountryId,
        form: FormId,
    ) -> impl Iterator<Item = FacilityId> + '_ {
        (0..self.facilities.len()).filter(move |&f| {
            let p = &self.facilities[f];
            p.country == country
                && p.firm.is_some_and(|own| self.firm_within(own, firm))
                && matches!(p.process, Process::Convert(r) if self.recipes[r].input == form)
        })
    }

    /// Annual output capacity × utilisation by stage and country at `date`, for shares.
    pub fn capacity_by_stage_country(&self, date: Date) -> Vec<Vec<f64>> {
        let mut out = vec![vec![0.0; self.countries.len()]; self.stages.len()];
        for f in &self.facilities {
            let running = f.start <= date && f.end.is_none_or(|e| e > date);
            if running {
                let months = (date.days() - f.start.days()) as f64 / 30.4375;
                let ramp = if f.ramp_months > 0.0 {
                    (months / f.ramp_months).clamp(0.0, 1.0)
                } else {
                    1.0
                };
                out[f.stage][f.country] += f.capacity * f.utilisation * ramp;
            }
        }
        out
    }
}

//! Queries: any recorded metric as a series, with peak, mean, current value and value at a
//! date.

use chokepoint_core::model::{CommodityId, Model};
use rhai::plugin::*;

use std::sync::{Arc, Mutex, Weak};

use chokepoint_core::Date;

use crate::args::Res;
use crate::host::{err, Host};

/// A recorded series: a view onto the run's record, read in place (no copy), so a trigger
/// can query every step at little cost. It is live: a series taken before the clock moves
/// reads the steps run since, and a window (`between`) the steps that fall in its dates.
/// It holds the run weakly: a view kept in a closure does not keep the run alive.
#[derive(Clone)]
pub struct SeriesView {
    /// The run's series names (shared, not copied): the view's is `names[col]`.
    names: Arc<Vec<(String, String)>>,
    host: Weak<Mutex<Host>>,
    col: usize,
    /// The dates asked for, when the view is a window (`between`).
    window: Option<(Date, Date)>,
}

impl std::fmt::Debug for SeriesView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name())
    }
}

impl SeriesView {
    /// `metric[key]`, for messages.
    pub fn name(&self) -> String {
        let (metric, key) = &self.names[self.col];
        format!("{metric}[{key}]")
    }

    /// Runs `f` on the run this view belongs to, if it is still going.
    fn with_host<T>(&self, f: impl FnOnce(&Host) -> T) -> Res<T> {
        self.with_host_mut(|h| f(h))
    }

    fn with_host_mut<T>(&self, f: impl FnOnce(&mut Host) -> T) -> Res<T> {
        let h = self
            .host
            .upgrade()
            .ok_or_else(|| err(format!("{}: the run it belongs to has ended", self.name())))?;
        let mut h = h.lock().unwrap_or_else(|e| e.into_inner());
        Ok(f(&mut h))
    }

    /// The steps of the record this view covers now.
    fn steps(&self, dates: &[Date]) -> std::ops::Range<usize> {
        match self.window {
            None => 0..dates.len(),
            Some((a, b)) => {
                let lo = dates.partition_point(|&d| d < a);
                let hi = dates.partition_point(|&d| d <= b);
                lo..hi.max(lo)
            }
        }
    }

    /// Reads the recorded values (and their dates) of the window.
    pub fn read<T>(&self, f: impl FnOnce(&[Date], &mut dyn Iterator<Item = f64>) -> T) -> Res<T> {
        self.with_host(|h| {
            let s = &h.sim.series;
            let col = self.col;
            let steps = self.steps(&s.dates);
            let dates = &s.dates[steps.clone()];
            let mut it = steps.map(|t| s.get(t, col));
            f(dates, &mut it)
        })
    }

    /// The latest value of the window, read directly.
    pub fn last_value(&self) -> Res<f64> {
        self.with_host(|h| {
            let steps = self.steps(&h.sim.series.dates);
            h.sim.series.get(steps.end.saturating_sub(1), self.col)
        })
    }

    /// How many steps the view covers now.
    pub fn steps_now(&self) -> Res<usize> {
        self.with_host(|h| self.steps(&h.sim.series.dates).len())
    }

    /// The sub-window whose dates lie in `[a, b]` (within this one's, for a window).
    pub fn window(&self, a: Date, b: Date) -> SeriesView {
        let (a, b) = match self.window {
            Some((a0, b0)) => (a.max(a0), b.min(b0)),
            None => (a, b),
        };
        SeriesView {
            names: self.names.clone(),
            host: self.host.clone(),
            col: self.col,
            window: Some((a, b)),
        }
    }

    /// The model's step length, in days.
    pub fn step_days(&self) -> Res<i32> {
        self.with_host(|h| h.sim.model.step_days as i32)
    }
}

/// Who counts as using a form in a country, for [`note_no_users`].
enum Users {
    /// Sectors (a shortfall is theirs).
    Sectors,
    /// Anyone buying it: sectors, plants taking it as input, stockpiles.
    Buyers,
    /// Anyone selling it: plants making it, stockpiles, sectors whose scrap it is.
    Sellers,
}

/// A query of a form in a country where nobody uses it reads 0 throughout, so an
/// expectation on it holds whatever happens: said once, as a note.
fn note_no_users(
    ctx: &NativeCallContext,
    call: &'static str,
    form: &str,
    country: &str,
    users: Users,
) -> Res<()> {
    let handle = crate::host::host(ctx)?;
    let mut h = handle.lock();
    let m = &h.sim.model;
    let (Ok(f), Ok(c)) = (m.form_id(form), m.country_id(country)) else {
        return Ok(());
    };
    if h.users_checked.contains(&(call, f, c)) {
        return Ok(());
    }
    h.users_checked.push((call, f, c));
    let m = &h.sim.model;
    let used = match users {
        Users::Sectors => (m.sectors.iter()).any(|s| s.country == c && s.material == f),
        Users::Buyers => h.sim.anyone_buys(c, f),
        Users::Sellers => h.sim.anyone_sells(c, f),
    };
    if !used {
        let (who, uses) = match users {
            Users::Sectors => ("no sector", "uses"),
            Users::Buyers => ("nobody (no sector, plant or stockpile)", "uses"),
            Users::Sellers => ("nothing (no plant, stockpile or recycling sector)", "sells"),
        };
        // As the call was written: imports take the country first.
        let args = match call {
            "imports" | "exports" => format!("\"{country}\", \"{form}\""),
            _ => format!("\"{form}\", \"{country}\""),
        };
        let note = format!(
            "note: {call}({args}): {who} in {country} {uses} {form} in {}, so it is 0 throughout \
             and an expectation on it tests nothing",
            m.name
        );
        // Checked once per query (`users_checked`), so said once.
        h.output.push(note);
    }
    Ok(())
}

/// A query of a stage in a country (`production`, `dependency`) or of a pair of countries
/// (`trade`): kept (once each) for the run's end, which notes those that read 0 throughout
/// because nothing in the model does what they count (no plant of the stage there, nothing
/// one country could sell the other), plants built during the run included. One note for
/// all of them: a loop over countries makes many.
fn keep_for_idle_check(ctx: &NativeCallContext, call: &'static str, a: &str, b: &str) -> Res<()> {
    let handle = crate::host::host(ctx)?;
    let mut h = handle.lock();
    let m = &h.sim.model;
    let ids = match call {
        "trade" => (m.country_id(a).ok()).zip(m.country_id(b).ok()),
        _ => (m.stage_id(a).ok()).zip(m.country_id(b).ok()),
    };
    if let Some((a, b)) = ids {
        if !h.idle_queried.contains(&(call, a, b)) {
            h.idle_queried.push((call, a, b));
        }
    }
    Ok(())
}

/// A form and a country given the other way round to a query that takes the country first
/// (`imports`, `exports`; `shortfall` and `cover` take the form first): says so.
fn swapped(m: &Model, call: &str, country: &str, form: &str) -> Res<()> {
    if m.country_id(form).is_err() {
        return Ok(());
    }
    // The form it was given, or the form of an element's commodity (`oxide:Dy`).
    let given = match m.form_id(country) {
        Ok(_) => Some((country, "")),
        Err(_) => country
            .split_once(':')
            .filter(|(f, e)| m.form_id(f).is_ok() && m.element_id(e).is_ok())
            .map(|(f, _)| (f, " (it is kept by form, not by element)")),
    };
    if let Some((f, kept)) = given {
        return Err(err(format!(
            "{call} takes the country first, then the form{kept}: {call}(\"{form}\", \"{f}\") \
             (shortfall and cover take the form first)"
        )));
    }
    Ok(())
}

/// Resolves a commodity name: `oxide:Dy` (separated form and element) or `magnet:NdFeB`.
pub fn commodity(m: &Model, name: &str) -> Res<CommodityId> {
    // Looked up without building an error: triggers resolve names every step.
    if let Some(f) = m.forms.iter().position(|f| f.id == name) {
        if m.forms[f].mixed {
            return Ok(m.commodity(f, None));
        }
        return Err(err(format!(
            "form '{name}' is priced per element: write '{name}:Dy'"
        )));
    }
    let Some((form, elem)) = name.rsplit_once(':') else {
        return Err(err(m.form_id(name).err().unwrap_or_default()));
    };
    let f = m.form_id(form).map_err(err)?;
    let e = m.element_id(elem).map_err(err)?;
    Ok(m.commodity(f, Some(e)))
}

/// As [`fetch`], for a key written in parts (`ROW`, `/`, `oxide:Dy`): the key is put
/// together in a buffer the thread keeps, since triggers look series up every step.
pub fn fetch_parts(ctx: &NativeCallContext, metric: &str, parts: &[&str]) -> Res<SeriesView> {
    thread_local! {
        static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    KEY.with_borrow_mut(|key| {
        key.clear();
        parts.iter().for_each(|p| key.push_str(p));
        fetch(ctx, metric, key)
    })
}

/// Trade by form is recorded for the routes some seller and buyer could use when the run
/// began (`trade_routes` in the engine). A query of another route of the model's gets a
/// series of its own from now on (it has carried nothing so far; a plant a lever builds may
/// open it): the run's end notes it if it never carried anything. A key that names no
/// route is refused, saying why.
fn open_route(ctx: &NativeCallContext, key: &str) -> Res<()> {
    let handle = crate::host::host(ctx)?;
    let mut h = handle.lock();
    if h.sim.series.find("trade_by_form", key).is_some() {
        return Ok(());
    }
    let m = &h.sim.model;
    let (x, y, f) = chokepoint_core::sim::route_of(m, key)
        .map_err(|why| err(format!("metric 'trade_by_form' has no key '{key}': {why}")))?;
    h.sim.declare_route(x, y, f);
    h.routes_queried.push(key.to_string());
    Ok(())
}

pub fn fetch(ctx: &NativeCallContext, metric: &str, key: &str) -> Res<SeriesView> {
    if metric == "trade_by_form" {
        open_route(ctx, key)?;
    }
    let handle = crate::host::host(ctx)?;
    let h = handle.lock();
    let s = &h.sim.series;
    let col = s.find(metric, key).ok_or_else(|| {
        let keys = s.keys(metric);
        if keys.is_empty() {
            let hint = chokepoint_core::error::did_you_mean(metric, s.metrics());
            err(format!("unknown metric '{metric}'{hint}"))
        } else {
            // A part of the key that is an id of another kind ("EU", a group, where a
            // country goes): say what it is, not a did-you-mean to some other country.
            // (Only a part no key of the metric has: a form or a stage is a part of many.)
            let m = &h.sim.model;
            let parts: std::collections::HashSet<&str> =
                keys.iter().flat_map(|k| k.split(['/', '>'])).collect();
            // What goes at each place of the key: the kind of the metric's own keys' part
            // there (a country in `CN/oxide`, a form in `magnet:NdFeB/US`).
            let len = key.split(['/', '>']).count();
            // The kind most of them have there (an id may be of two kinds: `metal` is a
            // form and a stage).
            let wanted = |i: usize| {
                let mut counts: Vec<(&str, usize)> = Vec::new();
                let kinds = (keys.iter())
                    .filter(|k| k.split(['/', '>']).count() == len)
                    .filter_map(|k| k.split(['/', '>']).nth(i))
                    .filter_map(|p| m.kind_of(p));
                for kind in kinds {
                    match counts.iter_mut().find(|(k, _)| *k == kind) {
                        Some(c) => c.1 += 1,
                        None => counts.push((kind, 1)),
                    }
                }
                // A tie goes to the kind seen first.
                (counts.iter().rev())
                    .max_by_key(|(_, n)| *n)
                    .map_or("country", |(k, _)| *k)
            };
            // A key of more parts than any of the metric's (`KR/magnet:NdFeB` for `demand`,
            // kept by sector alone): say what its keys are made of. (One of fewer is shown
            // the keys holding its parts, below.)
            if keys.iter().all(|k| k.split(['/', '>']).count() < len) {
                // Each shape of key the metric has (`shortfall` has sector and form/country
                // keys), with one of its keys.
                let mut shapes: Vec<(String, &str)> = Vec::new();
                for k in &keys {
                    let shape: String = (k.split_inclusive(['/', '>']))
                        .map(|p| {
                            let id = p.trim_end_matches(['/', '>']);
                            format!("{}{}", m.kind_of(id).unwrap_or("id"), &p[id.len()..])
                        })
                        .collect();
                    if !shapes.iter().any(|(s, _)| *s == shape) {
                        shapes.push((shape, k));
                    }
                }
                let said: Vec<String> = (shapes.iter())
                    .map(|(shape, k)| match shape.contains(['/', '>']) {
                        true => format!("{shape} (such as '{k}')"),
                        false => format!("a {shape} (such as '{k}')"),
                    })
                    .collect();
                return err(format!(
                    "metric '{metric}' has no key '{key}': its keys are {}",
                    said.join(" or ")
                ));
            }
            let wrong = (key.split(['/', '>']).enumerate())
                .filter(|(_, p)| !parts.contains(p))
                .find_map(|(i, p)| m.wrong_kind(p, wanted(i)));
            match wrong {
                Some(what) => {
                    let duty = if what.contains(" is a group") {
                        " (series are kept by country: a group's tariff duty, for one, goes to \
                         its members' policy_cost)"
                    } else {
                        ""
                    };
                    err(format!(
                        "metric '{metric}' has no key '{key}': {what}{duty}"
                    ))
                }
                None => {
                    // A part the model has nowhere (a misspelt sector or country): name that
                    // part, with the nearest the metric is kept by.
                    let unknown = (key.split(['/', '>']).enumerate())
                        .find(|(_, p)| !parts.contains(p) && !m.names(p));
                    match unknown {
                        Some((i, p)) => {
                            // Few ids go there (stages, forms, markets): name them all.
                            let mut there: Vec<&str> = (keys.iter())
                                .filter(|k| k.split(['/', '>']).count() == len)
                                .filter_map(|k| k.split(['/', '>']).nth(i))
                                .collect();
                            there.sort_unstable();
                            there.dedup();
                            let hint = match chokepoint_core::error::did_you_mean(
                                p,
                                parts.iter().copied(),
                            ) {
                                h if h.is_empty() && !there.is_empty() && there.len() <= 12 => {
                                    format!(
                                        " (the {} here is one of: {})",
                                        wanted(i),
                                        there.join(", ")
                                    )
                                }
                                h if h.is_empty() => {
                                    " (`chokepoint check MODEL --ids` lists its ids)".to_string()
                                }
                                h => h,
                            };
                            err(format!(
                                "metric '{metric}' has no key '{key}': the model has no '{p}'{hint}"
                            ))
                        }
                        None => {
                            // An element's commodity (`oxide:Dy`) where the metric is kept by
                            // form (`oxide`): say so, not a did-you-mean in the key's syntax.
                            let by_form = (key.split(['/', '>'])).find_map(|p| {
                                let (form, _) = p.split_once(':')?;
                                (!parts.contains(p) && parts.contains(form)).then_some((p, form))
                            });
                            if let Some((p, form)) = by_form {
                                let shown = key.replacen(p, form, 1);
                                return err(format!(
                                    "metric '{metric}' has no key '{key}': it is kept by form, \
                                     not by element: give '{form}', not '{p}' (its key \
                                     '{shown}')"
                                ));
                            }
                            let hint = match chokepoint_core::error::did_you_mean(
                                key,
                                keys.iter().copied(),
                            ) {
                                // Ids the model has, in a shape the metric does not keep
                                // (`CN` where it keeps `CN/oxide`): show its keys with them.
                                h if h.is_empty() => {
                                    let mine: Vec<&str> = key.split(['/', '>']).collect();
                                    let has_all = |k: &str| {
                                        let theirs: Vec<&str> = k.split(['/', '>']).collect();
                                        mine.iter().all(|p| theirs.contains(p))
                                    };
                                    let with: Vec<&str> =
                                        keys.iter().copied().filter(|k| has_all(k)).collect();
                                    let shown = match with.is_empty() {
                                        true => keys.clone(),
                                        false => with,
                                    };
                                    let like: Vec<String> =
                                        (shown.iter().take(3)).map(|k| format!("'{k}'")).collect();
                                    format!(" (its keys read like {}, …)", like.join(", "))
                                }
                                h => h,
                            };
                            err(format!("metric '{metric}' has no key '{key}'{hint}"))
                        }
                    }
                }
            }
        }
    })?;
    Ok(SeriesView {
        names: s.names.clone(),
        host: Arc::downgrade(&handle.0),
        col,
        window: None,
    })
}

/// Whether `s` is a window of dates inside the model's horizon that the clock has not
/// reached (or any series, before the first step), read by a rule as the clock runs (a
/// `when` condition, a strategy, an action due at the start). Its
/// statistics are then NaN: no value yet, so any comparison with it is false and the
/// condition waits. At the top level, such a window is an error, as any empty one is.
pub fn not_yet(s: &SeriesView) -> Res<bool> {
    let none = match s.window {
        // A whole series before the first step is recorded: an action due at the start
        // (an `every` set up before the clock first moves) reads no value yet, as a rule
        // reads a window not reached.
        None => s.with_host(|h| h.driving && h.sim.series.dates.is_empty())?,
        Some((a, _)) => s.with_host(|h| {
            let m = &h.sim.model;
            h.driving
                && a >= m.start
                && a <= m.end
                && h.sim.series.dates.last().is_none_or(|&d| d < a)
        })?,
    };
    if none {
        note_no_value(s)?;
    }
    Ok(none)
}

/// An action (not a rule's condition, which waits on it by design) read a figure with no
/// value yet: NaN, which every comparison calls false, so a claim or a decision on it is
/// made on nothing, whatever it says. Said once a series.
pub fn note_no_value(s: &SeriesView) -> Res<()> {
    let name = s.name();
    s.with_host_mut(|h| {
        if !h.driving || h.in_condition.is_some() || h.in_strategy {
            return;
        }
        let on = h.running_due.unwrap_or_else(|| h.sim.last_date());
        let head = format!("note: an action read {name} before it had a value");
        if !h.noted.insert(head.clone()) {
            return;
        }
        h.output.push(format!(
            "{head} (on {on}): it reads NaN, which every comparison calls false, so an \
             expectation or decision on it rests on nothing. An action runs before its step \
             is recorded: one due in the run's first step reads no figure, and none reads a \
             window or date the clock has not reached"
        ));
    })
}

/// A window read at the top level that ends after the run's last step: its figures are of
/// the part run so far, which a claim about the whole window may not mean (a `run_until`
/// shortened, and "never short through 2029" still passes on five weeks). Said once.
fn note_window_past_the_run(s: &SeriesView) -> Res<()> {
    let Some((a, b)) = s.window else {
        return Ok(());
    };
    let name = s.name();
    s.with_host_mut(|h| {
        let Some(&last) = h.sim.series.dates.last() else {
            return;
        };
        let step = h.sim.model.step_days as i32;
        let covered = last.add_days(step - 1);
        // (A run at the model's end could go no further: its window is all there is.)
        if h.driving || b <= covered || h.sim.step >= h.sim.model.horizon_steps() {
            return;
        }
        let weeks = h
            .sim
            .series
            .dates
            .iter()
            .filter(|&&d| d >= a && d <= b)
            .count();
        let note = format!(
            "note: between({name}, {a}, {b}) ends after the run's last step ({last} to \
             {covered}): its figures are of the {weeks} step{} run so far in it, not the whole \
             window",
            if weeks == 1 { "" } else { "s" }
        );
        if h.noted.insert(note.clone()) {
            h.output.push(note);
        }
    })
}

/// The date of the first step whose value meets `test` ("" if none), for `first_above` and
/// `first_below`.
fn first_where(
    s: &mut SeriesView,
    level: f64,
    name: &str,
    test: impl Fn(f64) -> bool,
) -> Res<String> {
    if !level.is_finite() {
        return Err(err(format!("{name}: the level must be a finite number")));
    }
    if not_yet(s)? {
        return Ok(String::new());
    }
    s.read(|dates, v| {
        (dates.iter())
            .find(|_| v.next().is_some_and(&test))
            .map(|d| d.to_string())
            .unwrap_or_default()
    })
}

pub fn nonempty(s: &SeriesView) -> Res<()> {
    if s.steps_now()? > 0 {
        note_window_past_the_run(s)?;
        return Ok(());
    }
    Err(err(match s.window {
        Some((a, b)) => format!(
            "{} has no values between {a} and {b}: no simulated step falls in that window",
            s.name()
        ),
        None => format!(
            "{} has no values yet: run the simulation first (run_until or step)",
            s.name()
        ),
    }))
}

#[export_module]
pub mod query_api {
    use super::nonempty;
    use super::{commodity, fetch, fetch_parts, SeriesView};
    use crate::args::{Num, Res};
    use crate::host::{err, host};
    use rhai::Array;

    /// Any recorded metric by name and key. Metrics: price, production, output, mine_output,
    /// exports, imports, trade, trade_by_form, shortfall, output_lost, demand, substitution, cover_weeks,
    /// stockpile, dependency, hhi, licence_queue, licence_arrivals, policy_cost (keys as in
    /// series.csv, e.g. `metric("trade", "CN>US")`; the REPL's `:keys METRIC` lists them).
    /// Tonnages are of rare-earth content (REO basis), flows in t/yr, demand included;
    /// `stockpile` alone is in its form's own unit (t of magnets for a magnet stockpile).
    ///
    /// ```rhai
    /// step(1);
    /// let s = metric("hhi", "magnet");
    /// expect(peak(s) > 5000.0, "magnets are concentrated");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn metric(ctx: NativeCallContext, name: &str, key: &str) -> Res<SeriesView> {
        fetch(&ctx, name, key)
    }

    /// Price of a commodity ("oxide:Dy", "magnet:NdFeB") in a market, $/kg.
    ///
    /// ```rhai
    /// step(1);
    /// expect(current(price("oxide:Dy", "ROW")) > 100.0, "Dy is dear");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn price(ctx: NativeCallContext, commodity_name: &str, market: &str) -> Res<SeriesView> {
        fetch_parts(&ctx, "price", &[market, "/", commodity_name]).or_else(|missing| {
            // Say which name is wrong, if one is.
            let h = host(&ctx)?;
            let h = h.lock();
            commodity(&h.sim.model, commodity_name)?;
            h.sim.model.market_id(market).map_err(err)?;
            // Both are the model's: the commodity has no price there (Pm, which no deposit
            // yields, has none), not a misspelling.
            if h.sim
                .series
                .keys("price")
                .iter()
                .any(|k| k.starts_with(&format!("{market}/")))
            {
                return Err(err(format!(
                    "price: {commodity_name} has no price in market {market}: the model sets \
                     it no starting price (`prices:`), so none is recorded (`:keys price` in \
                     the REPL, or series.csv, lists the prices it keeps)"
                )));
            }
            Err(missing)
        })
    }

    /// Production of a stage in a country, t/yr (RE basis).
    ///
    /// ```rhai
    /// step(1);
    /// expect(current(production("mine", "CN")) > 100000.0, "China mines most");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn production(ctx: NativeCallContext, stage: &str, country: &str) -> Res<SeriesView> {
        let view = fetch_parts(&ctx, "production", &[stage, "/", country])?;
        keep_for_idle_check(&ctx, "production", stage, country)?;
        Ok(view)
    }

    /// Output of one facility, t/yr (RE basis).
    ///
    /// ```rhai
    /// step(1);
    /// expect(current(output("mountain-pass-mine")) > 0.0, "Mountain Pass runs");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn output(ctx: NativeCallContext, facility: &str) -> Res<SeriesView> {
        fetch(&ctx, "output", facility)
    }

    /// A facility's working capacity at the last simulated step, t/yr of rare earth: its
    /// nameplate × utilisation, after ramps, outages and levers.
    ///
    /// ```rhai
    /// step(1);
    /// expect(capacity("mountain-pass-mine") > 40000.0, "Mountain Pass runs at ~45 kt/yr");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn capacity(ctx: NativeCallContext, facility: &str) -> Res<f64> {
        let h = host(&ctx)?;
        let h = h.lock();
        let f = h.sim.model.facility_id(facility).map_err(err)?;
        Ok(h.sim.capacity_last(f) * h.sim.model.steps_per_year())
    }

    /// What a facility has made of one element since the run's start, t of rare earth
    /// (a mine's in its concentrate, a separator's as oxide, a metal plant's as metal, a
    /// magnet plant's in its magnets): the element by plant that `output` sums. Read it at
    /// two dates for what was made between them.
    ///
    /// ```rhai
    /// let before = made("cn-separation-clay", "Dy");
    /// run_until("2024-12-30");
    /// let dy = made("cn-separation-clay", "Dy") - before;
    /// expect(dy > 1000.0 && dy < 2500.0, "China's clay separators make ~1,800 t of Dy oxide a year");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn made(ctx: NativeCallContext, facility: &str, element: &str) -> Res<f64> {
        let h = host(&ctx)?;
        let h = h.lock();
        let f = h.sim.model.facility_id(facility).map_err(err)?;
        let e = h.element(element)?;
        Ok(h.sim.made_of(f, e))
    }

    /// Unmet share (0..1) of a sector's need.
    ///
    /// ```rhai
    /// step(1);
    /// expect(current(shortfall("ev-us")) < 0.5, "EVs supplied");
    /// ```
    #[rhai_fn(name = "shortfall", return_raw)]
    pub fn shortfall_sector(ctx: NativeCallContext, sector: &str) -> Res<SeriesView> {
        fetch(&ctx, "shortfall", sector).or_else(|missing| {
            // A form alone: its shortfall is kept by country.
            let h = host(&ctx)?;
            let h = h.lock();
            if h.sim.model.form_id(sector).is_ok() {
                return Err(err(format!(
                    "shortfall of a form is kept by country: shortfall(\"{sector}\", \"US\"); \
                     one argument is a sector's (shortfall(\"ev-us\"))"
                )));
            }
            Err(missing)
        })
    }

    /// Unmet share (0..1) of all sectors using a form in a country.
    ///
    /// ```rhai
    /// step(1);
    /// expect(current(shortfall("magnet:NdFeB", "US")) < 0.5, "US magnets supplied");
    /// ```
    #[rhai_fn(name = "shortfall", return_raw)]
    pub fn shortfall_region(ctx: NativeCallContext, form: &str, country: &str) -> Res<SeriesView> {
        let view = fetch_parts(&ctx, "shortfall", &[form, "/", country])?;
        note_no_users(&ctx, "shortfall", form, country, Users::Sectors)?;
        Ok(view)
    }

    /// End-use output lost by a sector (its units per year: vehicles, MW, aircraft).
    ///
    /// ```rhai
    /// step(1);
    /// expect(current(output_lost("ev-us")) >= 0.0, "none lost yet");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn output_lost(ctx: NativeCallContext, sector: &str) -> Res<SeriesView> {
        fetch(&ctx, "output_lost", sector)
    }

    /// Exports of a country of a form, t/yr of rare-earth content (REO basis: a tonne of
    /// NdFeB magnets counts 0.31 t), as every flow is.
    ///
    /// ```rhai
    /// step(1);
    /// expect(current(exports("CN", "magnet:NdFeB")) > 0.0, "China exports magnets");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn exports(ctx: NativeCallContext, country: &str, form: &str) -> Res<SeriesView> {
        let view = fetch_parts(&ctx, "exports", &[country, "/", form]).or_else(|missing| {
            // Say which name is wrong, if one is.
            let h = host(&ctx)?;
            let h = h.lock();
            swapped(&h.sim.model, "exports", country, form)?;
            h.sim.model.country_id(country).map_err(err)?;
            Err(missing)
        })?;
        note_no_users(&ctx, "exports", form, country, Users::Sellers)?;
        Ok(view)
    }

    /// Imports of a country of a form, t/yr of rare-earth content (REO basis: a tonne of
    /// NdFeB magnets counts 0.31 t), as every flow is.
    ///
    /// ```rhai
    /// step(1);
    /// expect(current(imports("US", "magnet:NdFeB")) > 0.0, "the US imports magnets");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn imports(ctx: NativeCallContext, country: &str, form: &str) -> Res<SeriesView> {
        let view = fetch_parts(&ctx, "imports", &[country, "/", form]).or_else(|missing| {
            // Say which name is wrong, if one is.
            let h = host(&ctx)?;
            let h = h.lock();
            swapped(&h.sim.model, "imports", country, form)?;
            h.sim.model.country_id(country).map_err(err)?;
            Err(missing)
        })?;
        note_no_users(&ctx, "imports", form, country, Users::Buyers)?;
        Ok(view)
    }

    /// Trade from one country to another, all forms, t/yr of rare-earth content (REO
    /// basis: a tonne of NdFeB magnets counts 0.31 t), as every flow is. For one form,
    /// `trade(exporter, importer, form)`.
    ///
    /// ```rhai
    /// step(1);
    /// expect(current(trade("CN", "US")) > 0.0, "China ships to the US");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn trade(ctx: NativeCallContext, exporter: &str, importer: &str) -> Res<SeriesView> {
        if exporter == importer {
            return Err(err(format!(
                "trade: '{exporter}' is both exporter and importer: trade is between two \
                 countries (a country's own use is in production, shortfall and cover)"
            )));
        }
        let view = fetch_parts(&ctx, "trade", &[exporter, ">", importer]).or_else(|missing| {
            // Say which name is wrong, if one is.
            let h = host(&ctx)?;
            let h = h.lock();
            let m = &h.sim.model;
            if m.country_id(exporter).is_ok() && m.form_id(importer).is_ok() {
                return Err(err(format!(
                    "trade(exporter, importer) is between two countries, all forms: \
                     {exporter}'s exports of {importer} are exports(\"{exporter}\", \
                     \"{importer}\"), one route's trade(\"{exporter}\", \"US\", \"{importer}\")"
                )));
            }
            h.sim.model.country_id(exporter).map_err(err)?;
            h.sim.model.country_id(importer).map_err(err)?;
            Err(missing)
        })?;
        keep_for_idle_check(&ctx, "trade", exporter, importer)?;
        Ok(view)
    }

    /// Trade from one country to another in one form, t/yr of rare-earth content: what
    /// `trade(exporter, importer)` sums over forms. Forms are the model's (world-2024's:
    /// concentrate, clay-concentrate, oxide, metal, magnet:NdFeB, magnet:SmCo, scrap); trade
    /// is kept by form, not by element (`oxide`, not `oxide:Dy`). Series `trade_by_form`,
    /// key `CN>US/magnet:NdFeB`, recorded for the routes some seller and buyer could use; a
    /// route nobody uses reads 0, and the run's end says so.
    ///
    /// ```rhai
    /// step(1);
    /// expect(current(trade("CN", "US", "magnet:NdFeB")) > 0.0, "China ships the US magnets");
    /// ```
    #[rhai_fn(name = "trade", return_raw)]
    pub fn trade_by_form(
        ctx: NativeCallContext,
        exporter: &str,
        importer: &str,
        form: &str,
    ) -> Res<SeriesView> {
        {
            // Say which name is wrong, if one is: the countries, then the form.
            let h = host(&ctx)?;
            let h = h.lock();
            let m = &h.sim.model;
            if m.country_id(exporter).is_err()
                && m.form_id(exporter).is_ok()
                && m.country_id(form).is_ok()
            {
                return Err(err(format!(
                    "trade takes the exporter, the importer, then the form: \
                     trade(\"{importer}\", \"{form}\", \"{exporter}\")"
                )));
            }
            for c in [exporter, importer] {
                if let Err(e) = m.country_id(c) {
                    return Err(err(m.wrong_kind(c, "country").unwrap_or(e)));
                }
            }
            if exporter == importer {
                return Err(err(format!(
                    "trade: '{exporter}' is both exporter and importer: trade is between two \
                     countries (a country's own use is in production, shortfall and cover)"
                )));
            }
            if let Some(why) = chokepoint_core::sim::form_problem(m, form) {
                return Err(err(format!("trade: {why}")));
            }
        }
        fetch_parts(&ctx, "trade_by_form", &[exporter, ">", importer, "/", form])
    }

    /// Import share (0..1) of a stage's inputs in a country.
    ///
    /// ```rhai
    /// step(2);
    /// expect(current(dependency("magnet", "JP")) >= 0.0, "a share");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn dependency(ctx: NativeCallContext, stage: &str, country: &str) -> Res<SeriesView> {
        let view = fetch_parts(&ctx, "dependency", &[stage, "/", country])?;
        // (0 where no plant of the stage is there: not "none of it imported".)
        keep_for_idle_check(&ctx, "dependency", stage, country)?;
        Ok(view)
    }

    /// Herfindahl–Hirschman index (0..10000) of a stage's production by country.
    ///
    /// ```rhai
    /// step(1);
    /// expect(current(hhi("separation")) > 5000.0, "separation is concentrated");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn hhi(ctx: NativeCallContext, stage: &str) -> Res<SeriesView> {
        fetch(&ctx, "hhi", stage)
    }

    /// Weeks of cover held by users of a form in a country.
    ///
    /// ```rhai
    /// step(1);
    /// expect(current(cover("magnet:NdFeB", "US")) > 1.0, "some weeks of magnets");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cover(ctx: NativeCallContext, form: &str, country: &str) -> Res<SeriesView> {
        let view = fetch_parts(&ctx, "cover_weeks", &[form, "/", country])?;
        note_no_users(&ctx, "cover", form, country, Users::Buyers)?;
        Ok(view)
    }

    /// Tonnes held by a stockpile in its form's own unit (magnets: t of product, as
    /// `stockpile_fill` and `stockpile_release` take them), not of rare-earth content.
    ///
    /// ```rhai
    /// step(1);
    /// expect(current(stockpile("us-nds-ndfeb")) >= 0.0, "a holding");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn stockpile(ctx: NativeCallContext, id: &str) -> Res<SeriesView> {
        fetch(&ctx, "stockpile", id)
    }

    /// Tonnes of an exporter's shipments held in licence queues.
    ///
    /// ```rhai
    /// step(1);
    /// expect(current(licence_queue("CN")) == 0.0, "no licences yet");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn licence_queue(ctx: NativeCallContext, exporter: &str) -> Res<SeriesView> {
        fetch(&ctx, "licence_queue", exporter)
    }

    /// An exporter's licensed shipments that cleared their review and arrived, t/yr (at
    /// the step's rate; tonnes held are `licence_queue`).
    ///
    /// ```rhai
    /// export_licence("CN", #{ approval: 1.0, delay_days: 14 });
    /// run_until("2024-03-01");
    /// expect(current(licence_arrivals("CN")) > 0.0, "shipments arrive after the review");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn licence_arrivals(ctx: NativeCallContext, exporter: &str) -> Res<SeriesView> {
        fetch(&ctx, "licence_arrivals", exporter)
    }

    /// Cumulative net cost to a country's government of what it does in the market, $:
    /// price floors, subsidies, offtakes and its stockpiles' purchases, less what its
    /// stockpiles sell and the duty its tariffs collect (on its buyers' imports, not on its
    /// stockpiles' purchases). (`stockpile_fill` is a holding put in place, not a purchase.)
    ///
    /// A running total, so `current` is the whole cost so far; receipts are below 0, and
    /// their largest is `low`. (A sweep's runs.csv and `compare` read it their own way:
    /// there its `peak` is its largest in size, receipts' most negative, and its `mean` its
    /// rate per year.)
    ///
    /// ```rhai
    /// step(1);
    /// expect(current(policy_cost("US")) == 0.0, "nothing spent");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn policy_cost(ctx: NativeCallContext, country: &str) -> Res<SeriesView> {
        fetch(&ctx, "policy_cost", country)
    }

    /// The largest value of a series.
    ///
    /// ```rhai
    /// step(3);
    /// expect(peak(hhi("mine")) > 0.0, "a peak");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn peak(s: &mut SeriesView) -> Res<f64> {
        if not_yet(s)? {
            return Ok(f64::NAN);
        }
        nonempty(s)?;
        s.read(|_, v| v.fold(f64::MIN, f64::max))
    }

    /// The smallest value of a series.
    ///
    /// ```rhai
    /// step(3);
    /// expect(low(hhi("mine")) > 0.0, "a low");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn low(s: &mut SeriesView) -> Res<f64> {
        if not_yet(s)? {
            return Ok(f64::NAN);
        }
        nonempty(s)?;
        s.read(|_, v| v.fold(f64::MAX, f64::min))
    }

    /// The date of the first step at which a series is at or above `level` ("" if it never
    /// is): when a shortfall starts, a price first doubles. Dates compare as text.
    ///
    /// ```rhai
    /// export_ban("CN", #{ forms: ["magnet:NdFeB"] });
    /// run_until("2024-06-01");
    /// let short = first_above(shortfall("magnet:NdFeB", "US"), 0.05);
    /// expect(short != "" && short < "2024-04-01", "US magnet users 5% short within weeks");
    /// expect(first_above(shortfall("magnet:NdFeB", "CN"), 0.05) == "", "China's are not");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn first_above(s: &mut SeriesView, level: Num) -> Res<String> {
        // A whole number is a level too (300, not only 300.0).
        let level = crate::args::number(&level, "level")?;
        first_where(s, level, "first_above", |x| x >= level)
    }

    /// The date of the first step at which a series is at or below `level` ("" if it never
    /// is): when a price falls back, a cover runs out.
    ///
    /// ```rhai
    /// export_ban("CN", #{ forms: ["magnet:NdFeB"] });
    /// run_until("2024-06-01");
    /// expect(first_below(cover("magnet:NdFeB", "US"), 1.0) != "", "US magnet cover runs out");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn first_below(s: &mut SeriesView, level: Num) -> Res<String> {
        // A whole number is a level too (300, not only 300.0).
        let level = crate::args::number(&level, "level")?;
        first_where(s, level, "first_below", |x| x <= level)
    }

    /// The mean of a series.
    ///
    /// ```rhai
    /// step(3);
    /// expect(mean(hhi("mine")) > 0.0, "a mean");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn mean(s: &mut SeriesView) -> Res<f64> {
        if not_yet(s)? {
            return Ok(f64::NAN);
        }
        nonempty(s)?;
        s.read(|dates, v| v.sum::<f64>() / dates.len() as f64)
    }

    /// The latest value of a series.
    ///
    /// ```rhai
    /// step(3);
    /// expect(current(hhi("mine")) > 0.0, "now");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn current(s: &mut SeriesView) -> Res<f64> {
        if not_yet(s)? {
            return Ok(f64::NAN);
        }
        nonempty(s)?;
        s.last_value()
    }

    /// The value at the step containing `date`.
    ///
    /// ```rhai
    /// run_until("2024-03-01");
    /// expect(value_at(hhi("mine"), "2024-02-01") > 0.0, "then");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn value_at(s: &mut SeriesView, date: &str) -> Res<f64> {
        let d = chokepoint_core::Date::parse(date).map_err(err)?;
        let name = s.name();
        let step = s.step_days()?;
        // In a rule the clock runs, a date within the horizon it has not reached has no
        // value yet (NaN: a comparison with it is false and the rule waits), as a window
        // not reached has none.
        let waiting = s.with_host(|h| {
            let m = &h.sim.model;
            h.driving
                && d >= m.start
                && d <= m.end
                && (h.sim.series.dates.last()).is_none_or(|&x| d.days() >= x.days() + step)
        })?;
        if waiting {
            super::note_no_value(s)?;
            return Ok(f64::NAN);
        }
        s.read(|dates, v| match dates.iter().rposition(|&x| x <= d) {
            // The last value stands for its own step only, not for the time after it.
            Some(i) if i + 1 == dates.len() && d.days() >= dates[i].days() + step => {
                Err(err(format!(
                    "{name} has no value at {d}: its last value is for the step of {}",
                    dates[i]
                )))
            }
            Some(i) => Ok(v.nth(i).unwrap_or(0.0)),
            None => Err(err(format!(
                "{name} has no value at {d}: it starts at {}",
                dates
                    .first()
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "no date (nothing recorded yet)".into())
            ))),
        })?
    }

    /// The part of a series between two dates (inclusive): the steps that start from
    /// `from` to `to` (a window shorter than a step may hold none).
    ///
    /// ```rhai
    /// run_until("2024-06-01");
    /// expect(peak(between(hhi("mine"), "2024-02-01", "2024-03-01")) > 0.0, "window");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn between(s: &mut SeriesView, from: &str, to: &str) -> Res<SeriesView> {
        let a = chokepoint_core::Date::parse(from).map_err(err)?;
        let b = chokepoint_core::Date::parse(to).map_err(err)?;
        if b < a {
            return Err(err(format!(
                "between: the window ends ({b}) before it starts ({a})"
            )));
        }
        Ok(s.window(a, b))
    }

    /// The sum of a series' values (e.g. weekly rates add to a total × weeks).
    ///
    /// ```rhai
    /// step(2);
    /// expect(total(hhi("mine")) > 0.0, "sum");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn total(s: &mut SeriesView) -> Res<f64> {
        // A total of no values is not 0: an expectation written before the run would pass.
        if not_yet(s)? {
            return Ok(f64::NAN);
        }
        nonempty(s)?;
        s.read(|_, v| v.sum())
    }

    /// The series' values as an array of numbers.
    ///
    /// ```rhai
    /// step(2);
    /// expect(values(hhi("mine")).len() == 2, "two steps");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn values(s: &mut SeriesView) -> Res<Array> {
        s.read(|_, v| v.map(Dynamic::from).collect())
    }

    #[rhai_fn(global, name = "to_string")]
    pub fn to_string(s: &mut SeriesView) -> String {
        match s.steps_now() {
            Ok(n) => format!("{} ({n} values)", s.name()),
            Err(_) => format!("{} (its run has ended)", s.name()),
        }
    }
}

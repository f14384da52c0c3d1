//! Capacity: disrupt, close, expand, change ramps, add environmental costs.

use rhai::plugin::*;
use rhai::Map;

use crate::args::{finite, number, Num, Res, Span};
use crate::host::{err, lever};

#[export_module]
pub mod capacity_api {
    use crate::args::{duration_steps, finite, number, Num, Res, Span};
    use crate::host::{err, lever};

    /// Takes `share` (0..1) of a facility's capacity offline for `duration`
    /// ("90d", "6m", "1y" or days). Outages that overlap (another `disrupt`, a
    /// `random_outage`) multiply: 50% and 50% leave 25%; a facility may have four running at
    /// once. A share of 0 ends the facility's disruptions now.
    ///
    /// ```rhai
    /// disrupt("mount-weld-mine", 1.0, "3m");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn disrupt(ctx: NativeCallContext, facility: &str, share: Num, duration: Span) -> Res<()> {
        let share = finite(number(&share, "share")?, "share", 0.0, 1.0)?;
        lever(&ctx, |h| {
            let f = h.live_facility(facility)?;
            // (A share of 0 ends the disruptions: its duration does not matter.)
            let steps = if share == 0.0 {
                duration_steps(&h.sim.model, &duration)?
            } else {
                crate::args::outage_steps(&h.sim.model, &duration)?
            };
            let until = h.sim.step + steps;
            // An outage over before the plant starts does nothing: said (a note, not an
            // error: a script levering each of a plant's parts modelled apart pulls it on
            // the one still to start too).
            let start = h.sim.model.facilities[f].start;
            if share > 0.0 && h.sim.model.step_of(start) >= until as i64 {
                let note = format!(
                    "note: disrupt: {facility} starts on {start}, after this outage ends ({}), \
                     so it does nothing; to disrupt the plant once it runs, pull it then \
                     (`at(\"{start}\", ...)`)",
                    h.sim.model.date_of(until)
                );
                if !h.output.contains(&note) {
                    h.output.push(note);
                }
            }
            // Ending disruptions a facility does not have is no lever pulled.
            if share == 0.0 && !h.sim.outage_running(f) {
                return Ok(());
            }
            if let Err(free_at) = h.sim.set_outage(f, share, until) {
                return Err(err(format!(
                    "disrupt: {facility} already has {} outages running, the most a facility \
                     may have at once; the first ends {} (a share of 0 ends them all)",
                    chokepoint_core::sim::OUTAGE_SLOTS,
                    h.sim.model.date_of(free_at)
                )));
            }
            h.log(
                "disrupt",
                format!(
                    "{facility} loses {:.0}% for {} ({steps} steps, to {})",
                    share * 100.0,
                    if duration.is_string() {
                        duration.to_string()
                    } else {
                        format!("{duration} days")
                    },
                    h.sim.model.date_of(until)
                ),
            );
            Ok(())
        })
    }

    /// Closes a facility until `reopen` is called (closing a closed one changes nothing).
    ///
    /// ```rhai
    /// close("mountain-pass-mine");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn close(ctx: NativeCallContext, facility: &str) -> Res<()> {
        lever(&ctx, |h| {
            let f = h.live_facility(facility)?;
            // Closing a closed plant (a rule that closes it every step) changes nothing.
            if h.sim.closed[f] {
                return Ok(());
            }
            h.sim.closed[f] = true;
            h.log("close", facility.to_string());
            Ok(())
        })
    }

    /// Reopens a closed facility with the capacity it had: expansions and environmental
    /// costs from before the closure still apply.
    ///
    /// ```rhai
    /// close("mountain-pass-mine");
    /// reopen("mountain-pass-mine");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn reopen(ctx: NativeCallContext, facility: &str) -> Res<()> {
        lever(&ctx, |h| {
            let f = h.live_facility(facility)?;
            if !h.sim.closed[f] {
                return Err(err(format!(
                    "reopen: {facility} is open (reopen undoes a close)"
                )));
            }
            h.sim.closed[f] = false;
            h.log("reopen", facility.to_string());
            Ok(())
        })
    }

    /// Multiplies a facility's capacity by `factor` (1.5 = +50%; 0.5 halves it). Calls
    /// compound, within ×0.001 to ×1000 of the model's capacity (`close` shuts a plant),
    /// and no plant grows past 1,000,000 t/yr of rare earth (as `build` allows).
    ///
    /// ```rhai
    /// expand("mp-independence-magnets", 2.0);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn expand(ctx: NativeCallContext, facility: &str, factor: Num) -> Res<()> {
        let factor = finite(number(&factor, "factor")?, "factor", 0.0, 1000.0)?;
        if factor == 0.0 {
            return Err(err(format!(
                "expand: a factor of 0 could never be undone: `close(\"{facility}\")` shuts \
                 the plant and `reopen` brings it back"
            )));
        }
        lever(&ctx, |h| {
            let f = h.live_facility(facility)?;
            // Expansions compound: together they stay within the bound one call has.
            let combined = h.sim.capacity_mult[f] * factor;
            if combined > 1000.0 {
                return Err(err(format!(
                    "expand: {facility}'s expansions would come to ×{} its capacity, and \
                     together they may reach ×1000 at most",
                    crate::api::expect::figure(combined)
                )));
            }
            // Shrinking compounds too: below a thousandth no later expansion could undo it.
            if combined < 1e-3 {
                return Err(err(format!(
                    "expand: {facility}'s expansions would come to ×{} its capacity, below \
                     the ×0.001 they may shrink it to: `close(\"{facility}\")` shuts the plant \
                     and `reopen` brings it back",
                    crate::api::expect::figure(combined)
                )));
            }
            // And a plant, however grown, stays within what `build` allows one.
            let grown = h.sim.model.facilities[f].capacity * combined;
            if grown > 1e6 {
                return Err(err(format!(
                    "expand: {facility} would grow to {grown:.0} t/yr of rare earth, beyond \
                     any plant (the world mines about 390,000 t of rare-earth oxide a year); \
                     at most 1,000,000"
                )));
            }
            h.sim.capacity_mult[f] = combined;
            h.log(
                "expand",
                format!("{facility} × {}", crate::api::expect::figure(factor)),
            );
            if factor > 1.0 {
                super::converted_in_one_country(h, f, "expand");
            }
            Ok(())
        })
    }

    /// Builds a new facility like an existing one (same firm, country, stage and recipe or
    /// deposit) with `capacity` (t/yr, nameplate: it runs at the template's utilisation;
    /// of its output for a mine, metal or magnet plant, and of its feed for a separator or
    /// recycler, which makes that times its recovery), starting after `lead_time` and
    /// ramping over `ramp_months`. Tonnes as the model file gives capacities: of magnets
    /// for a magnet plant, each ~0.31 t of rare earth (its form's `re_share`), where
    /// `capacity()` and every flow read tonnes of rare earth at the plant's utilisation (a
    /// magnet plant built at 5,000 t like one run at 0.8 reads 5,000 × 0.31 × 0.8 = 1,240).
    /// Returns the new facility's id.
    ///
    /// ```rhai
    /// let id = build("mp-independence-magnets", "mp-10x-early", 7000.0, "2y", 18.0);
    /// expect(id == "mp-10x-early", "built");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn build(
        ctx: NativeCallContext,
        like: &str,
        id: &str,
        capacity: Num,
        lead_time: Span,
        ramp_months: Num,
    ) -> Res<String> {
        super::build_with(
            &ctx,
            like,
            id,
            capacity,
            lead_time,
            ramp_months,
            &Map::new(),
        )
    }

    /// A build with options: `country`, where the plant is (a plant like one abroad: its
    /// firm is then none, unless `firm` names one), and `firm`, who owns it (a control on
    /// the firm reaches it). A mine is built where its deposit is: it takes neither.
    ///
    /// ```rhai
    /// build("neo-korat-metal", "eu-metal", 4000.0, "2y", 12.0, #{ country: "DE", firm: "vac-group" });
    /// ```
    #[rhai_fn(name = "build", return_raw)]
    pub fn build_opts(
        ctx: NativeCallContext,
        like: &str,
        id: &str,
        capacity: Num,
        lead_time: Span,
        ramp_months: Num,
        options: Map,
    ) -> Res<String> {
        super::build_with(&ctx, like, id, capacity, lead_time, ramp_months, &options)
    }

    /// Sets how many months a facility takes to reach full capacity from its start date
    /// (counted from that date: a plant running for years is pulled back down the new ramp
    /// if it is longer than the time since).
    ///
    /// ```rhai
    /// ramp("mp-independence-magnets", 36.0);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn ramp(ctx: NativeCallContext, facility: &str, months: Num) -> Res<()> {
        let months = finite(number(&months, "months")?, "months", 0.0, 600.0)?;
        lever(&ctx, |h| {
            let f = h.live_facility(facility)?;
            h.sim.set_ramp(f, months);
            h.log("ramp", format!("{facility} ramps over {months} months"));
            Ok(())
        })
    }

    /// An environmental or compliance cost that takes `share` of a facility's output
    /// (stricter tailings rules, say).
    ///
    /// ```rhai
    /// environmental_cost("lynas-kuantan", 0.1);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn environmental_cost(ctx: NativeCallContext, facility: &str, share: Num) -> Res<()> {
        let share = finite(number(&share, "share")?, "share", 0.0, 1.0)?;
        if share == 1.0 {
            return Err(err(format!(
                "environmental_cost: a share of 1 would take all of {facility}'s output for good \
                 (costs compound, and nothing brings capacity back from nothing): \
                 `close(\"{facility}\")` shuts the plant and `reopen` brings it back"
            )));
        }
        lever(&ctx, |h| {
            let f = h.live_facility(facility)?;
            if share == 0.0 {
                // Costs nothing: no lever pulled (checked after the id, which must be right).
                return Ok(());
            }
            // Costs compound, down to the ×0.001 `expand` may shrink a plant to (a whole
            // share takes it all): a plant costs keep squeezing stays at that floor, with a
            // note, rather than at a capacity of rounding noise.
            let mut left = h.sim.capacity_mult[f] * (1.0 - share);
            if left > 0.0 && left < 1e-3 {
                left = 1e-3;
                let note = format!(
                    "note: environmental_cost: {facility}'s costs compound to ×0.001 of its \
                     capacity, the least levers leave a plant; `close(\"{facility}\")` shuts \
                     it"
                );
                if !h.output.contains(&note) {
                    h.output.push(note);
                }
            }
            h.sim.capacity_mult[f] = left;
            h.log(
                "environmental_cost",
                format!("{facility} loses {:.0}%", share * 100.0),
            );
            Ok(())
        })
    }
}

/// `build`, with its options (none for the four-argument form).
fn build_with(
    ctx: &NativeCallContext,
    like: &str,
    id: &str,
    capacity: Num,
    lead_time: Span,
    ramp_months: Num,
    options: &Map,
) -> Res<String> {
    crate::args::known_options("build", options, &["country", "firm"])?;
    let text = |k: &str| -> Res<Option<String>> {
        options
            .get(k)
            .map(|v| {
                v.clone()
                    .try_cast::<rhai::ImmutableString>()
                    .map(|s| s.to_string())
                    .ok_or_else(|| {
                        err(format!(
                            "build: {k} must be a string, got {}",
                            crate::args::kind(v)
                        ))
                    })
            })
            .transpose()
    };
    let (country, firm) = (text("country")?, text("firm")?);
    let capacity = number(&capacity, "capacity")?;
    // The world mines ~390,000 t of rare-earth oxide a year (facts.md §1): a plant of a
    // million tonnes is a slip of the keyboard, and its orders would bid every input to
    // the model's price cap.
    if capacity.is_finite() && capacity > 1e6 {
        return Err(err(format!(
            "build: capacity {} t/yr is beyond any plant (the world mines about 390,000 t of \
             rare-earth oxide a year); at most 1,000,000",
            chokepoint_core::error::shown(capacity)
        )));
    }
    let capacity = finite(capacity, "capacity", 0.0, 1e6)?;
    if capacity == 0.0 {
        return Err(err(
            "build: capacity must be above 0 t/yr (a plant of none makes nothing)".to_string(),
        ));
    }
    let ramp = finite(
        number(&ramp_months, "ramp_months")?,
        "ramp_months",
        0.0,
        600.0,
    )?;
    if id.trim().is_empty() || id.trim() != id || id.chars().any(char::is_control) {
        return Err(err(format!(
            "build: the new facility's id {id:?} must be plain text: not empty, no control \
             characters, no spaces at either end"
        )));
    }
    if id.contains(['/', '>']) {
        return Err(err(format!(
            "build: the new facility's id '{id}' may not contain '/' or '>' (they separate \
             the parts of series keys such as 'CN>US')"
        )));
    }
    if id.contains([',', '"']) {
        return Err(err(format!(
            "build: the new facility's id '{id}' may not contain ',' or '\"' (as a model's \
             ids may not: it names columns and rows of the CSV files runs and sweeps write)"
        )));
    }
    lever(ctx, |h| {
        let template = h.facility(like)?;
        let built = h.levers.iter().filter(|l| l.name == "build").count();
        if built >= crate::engine::limits::MAX_BUILT {
            return Err(err(format!(
                "build: this run has built {built} facilities, the most one run may (each \
                 rebuilds the trading tables): model a large build-out as fewer, larger \
                 plants, or `expand` existing ones"
            )));
        }
        if h.sim.model.facilities.iter().any(|f| f.id == id) {
            return Err(err(format!("build: a facility '{id}' already exists")));
        }
        // One id, one thing: levers and queries take ids of several kinds.
        let m = &h.sim.model;
        let taken = [
            ("a country", m.countries.iter().any(|x| x.id == id)),
            ("a firm", m.firms.iter().any(|x| x.id == id)),
            ("a group", m.groups.iter().any(|x| x.id == id)),
            ("a sector", m.sectors.iter().any(|x| x.id == id)),
            ("a stockpile", m.stockpiles.iter().any(|x| x.id == id)),
            ("an element", m.elements.iter().any(|x| x.symbol == id)),
            ("a form", m.forms.iter().any(|x| x.id == id)),
            (
                "a commodity",
                (0..m.commodities.len()).any(|c| m.commodity_name(c) == id),
            ),
            ("a market", m.markets.iter().any(|x| x == id)),
            ("a stage", m.stages.iter().any(|x| x == id)),
        ];
        if let Some((kind, _)) = taken.iter().find(|(_, t)| *t) {
            return Err(err(format!(
                "build: '{id}' is already the id of {kind}: give the facility its own"
            )));
        }
        let lead = crate::args::duration_steps_of(&h.sim.model, &lead_time, "lead_time")?;
        if h.sim.step + lead >= h.sim.model.horizon_steps() {
            let why = format!(
                "build: after that lead time {id} would start after the model's end ({})",
                h.sim.model.end
            );
            // Pulled by a rule as the clock runs (a strategy, a late trigger), it is an
            // answer, not a mistake in the script: note it and build nothing.
            if h.driving {
                h.output.push(format!("note: {why}: not built"));
                return Ok(id.to_string());
            }
            return Err(err(why));
        }
        // Where it is and who owns it: the template's, or as the options say.
        let m = &h.sim.model;
        let fac = &m.facilities[template];
        let is_mine = matches!(fac.process, chokepoint_core::model::Process::Mine(_));
        if is_mine && (country.is_some() || firm.is_some()) {
            return Err(err(format!(
                "build: {like} is a mine, which works its deposit in {}: it is built there, \
                 by its own firm (`country` and `firm` are for plants)",
                m.countries[fac.country].id
            )));
        }
        let at = match &country {
            Some(c) => m
                .country_id(c)
                .map_err(|e| err(format!("build: country: {e}")))?,
            None => fac.country,
        };
        let owner = match &firm {
            Some(f) => Some(m.firm_id(f).map_err(|e| err(format!("build: firm: {e}")))?),
            None if at != fac.country => None,
            None => fac.firm,
        };
        let start = h.sim.model.date_of(h.sim.step + lead);
        h.sim
            .add_facility_at(template, id, capacity, start, ramp, at, owner);
        let m = &h.sim.model;
        let placed = match (&country, owner) {
            (None, _) if firm.is_none() => String::new(),
            (_, Some(o)) => format!(" in {}, owned by {}", m.countries[at].id, m.firms[o].id),
            (_, None) => format!(" in {}", m.countries[at].id),
        };
        h.log(
            "build",
            format!("{id} ({capacity} t/yr) like {like}{placed}, from {start}"),
        );
        let built = h.sim.model.facilities.len() - 1;
        converted_in_one_country(h, built, "build");
        Ok(id.to_string())
    })
}

/// More output of a plant whose goods, for some elements, only one other country's plants
/// make into the next form (Lynas's Dy and Tb oxide, which only China makes into metal, in
/// world-2024): under that country's controls the extra output reaches the good's own users
/// only, not a plant elsewhere, so the lever may move nothing the scenario asks about (a
/// doubled Lynas moved the US magnet shortfall by exactly 0, and nothing said why: analyst
/// review, 2026-12-01). Said once, with the plant to build.
fn converted_in_one_country(h: &mut crate::host::Host, f: usize, lever: &str) {
    use chokepoint_core::model::Process;
    let m = std::sync::Arc::clone(&h.sim.model);
    let date = h.sim.date();
    let Process::Convert(r) = m.facilities[f].process else {
        return; // A mine's concentrate goes to separators in several countries.
    };
    let (x, form) = (m.facilities[f].country, m.recipes[r].output);
    let alive = |g: usize| {
        !h.sim.closed.get(g).copied().unwrap_or(false)
            && m.facilities[g].end.is_none_or(|end| end > date)
    };
    // For each element the plant makes, the countries whose plants take it on; those only
    // one other country's take, by that country, each with a plant that takes it.
    let mut by_country: Vec<(usize, Vec<(usize, usize)>)> = Vec::new();
    for e in (0..m.elements.len()).filter(|&e| m.recipes[r].handles(e)) {
        let takers: Vec<usize> = (0..m.facilities.len())
            .filter(|&g| alive(g))
            .filter(|&g| match m.facilities[g].process {
                Process::Convert(q) => m.recipes[q].input == form && m.recipes[q].handles(e),
                Process::Mine(_) => false,
            })
            .collect();
        let mut countries: Vec<usize> = takers.iter().map(|&g| m.facilities[g].country).collect();
        countries.sort_unstable();
        countries.dedup();
        if let ([only], Some(&template)) = (countries.as_slice(), takers.first()) {
            if *only == x {
                continue;
            }
            match by_country.iter_mut().find(|(c, _)| c == only) {
                Some((_, es)) => es.push((e, template)),
                None => by_country.push((*only, vec![(e, template)])),
            }
        }
    }
    let xid = &m.countries[x].id;
    for (c, taken) in by_country {
        let symbols: Vec<&str> = (taken.iter())
            .map(|&(e, _)| m.elements[e].symbol.as_str())
            .collect();
        let mut plants: Vec<&str> = (taken.iter())
            .map(|&(_, t)| m.facilities[t].id.as_str())
            .collect();
        plants.dedup();
        let cid = &m.countries[c].id;
        let Some(&(e, t)) = taken.last() else {
            continue;
        };
        let Process::Convert(q) = m.facilities[t].process else {
            continue;
        };
        let next = m.forms[m.recipes[q].output].id.as_str();
        // Said once a run for each such set: a recycling what-if builds three plants.
        let what = format!(
            "no plant outside {cid} makes {} {} into {next}",
            symbols.join(", "),
            m.forms[form].id
        );
        if h.output.iter().any(|l| l.contains(&what)) {
            continue;
        }
        h.output.push(format!(
            "note: {lever}: {what}, so what more {} makes of them reaches the {}'s own users \
             (not a plant elsewhere that needs them as {next}) wherever {cid}'s controls bind; \
             plants like {} built elsewhere take it: build(\"{}\", \"{}-{next}-{}\", 200.0, \
             \"180d\", 6.0, #{{ country: \"{xid}\" }})",
            m.facilities[f].id,
            m.forms[form].id,
            plants.join(", "),
            m.facilities[t].id,
            xid.to_lowercase(),
            m.elements[e].symbol.to_lowercase(),
        ));
    }
}

//! Time: schedule levers at dates, every period, or when a condition holds; run the clock.

use rhai::plugin::*;

#[export_module]
pub mod time_api {
    use crate::args::{
        calendar_months, date_in, duration_days_of, duration_steps_of, Num, Res, Span,
    };
    use crate::host::{called_without_arguments, err, host, Scheduled, Trigger};
    use crate::runner::advance_within;
    use rhai::{FnPtr, ImmutableString};

    /// Runs `action` when the simulation reaches `date`: at the start of the step containing
    /// it, so it acts from that step's first day (a Monday in world-2024's weekly steps). The
    /// lever log shows the date given here. Actions due in one step run in date order.
    ///
    /// ```rhai
    /// at("2025-04-04", || export_ban("CN", #{ elements: ["Dy"], to: ["US"] }));
    /// run_until("2025-06-01");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn at(ctx: NativeCallContext, date: &str, action: FnPtr) -> Res<()> {
        called_without_arguments(&ctx, "at", "action", &action)?;
        let h = host(&ctx)?;
        let mut h = h.lock();
        let d = date_in(&h.sim.model, date)?;
        let step = h.sim.model.step_of(d).max(0) as usize;
        if step < h.sim.step {
            return Err(err(format!(
                "{d} is in the past: the run has simulated the step containing it (today() is {})",
                h.sim.last_date()
            )));
        }
        h.ensure_running()?;
        // Set up by an action the clock is running, for a day in this same step: it runs
        // now, in this step, not a step late.
        if h.running_due.is_some() && step == h.sim.step {
            drop(h);
            let _ = action.call_within_context::<rhai::Dynamic>(&ctx, ())?;
            return Ok(());
        }
        h.room_to_schedule("at")?;
        let seq = h.next_seq();
        h.schedule.push(Scheduled {
            step,
            action,
            every: 0,
            months: 0,
            origin: d,
            fired: 0,
            due: d,
            seq,
            at: ctx.call_position(),
        });
        Ok(())
    }

    /// Runs `action` now and then every `period` ("4w", "3m", "1y" or days). Whole months
    /// and years follow the calendar: "1m" fires in the step containing the same day of each
    /// month, "1y" each anniversary. A period in days or weeks must be a whole number of
    /// steps (on 7-day steps "10d" is an error: 7 or 14 days, or whole months). Set up inside an `at`
    /// action, it counts from that action's date and its first run is in the same step.
    ///
    /// ```rhai
    /// every("1y", || stockpile_buy("us-nds-ndfeb", 100.0));
    /// run_until("2026-01-01");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn every(ctx: NativeCallContext, period: Span, action: FnPtr) -> Res<()> {
        called_without_arguments(&ctx, "every", "action", &action)?;
        let h = host(&ctx)?;
        let mut h = h.lock();
        h.ensure_running()?;
        h.room_to_schedule("every")?;
        let step_days = h.sim.model.step_days;
        let days = duration_days_of(&period, "period")?;
        let steps = duration_steps_of(&h.sim.model, &period, "period")?;
        if steps == 0 {
            return Err(err(format!(
                "every: the period must be at least one step ({step_days} days), got {days} days"
            )));
        }
        // Days and weeks count in whole steps: "10d" would fire every 7 days, not 10.
        if calendar_months(&period) == 0
            && (days - (steps * step_days as usize) as f64).abs() > 1e-6
        {
            let (below, above) = (
                (days / step_days as f64).floor().max(1.0) as usize * step_days as usize,
                (days / step_days as f64).ceil().max(1.0) as usize * step_days as usize,
            );
            let near = if below == above {
                format!("{below} days")
            } else {
                format!("{below} or {above} days")
            };
            return Err(err(format!(
                "every: a period of {} days is not a whole number of {step_days}-day steps: \
                 use {near}, or whole months or years (\"1m\", \"3m\", \"1y\")",
                chokepoint_core::error::shown(days),
            )));
        }
        let step = h.sim.step;
        let seq = h.next_seq();
        let months = calendar_months(&period);
        // Set up by an `at` (or another `every`) as the clock runs it: it counts from the
        // date that action was due, and its first run is now, in this step, not the next.
        let inside = h.running_due;
        let origin = inside.unwrap_or_else(|| h.sim.model.date_of(step));
        let mut next = Scheduled {
            step,
            action: action.clone(),
            every: steps,
            months,
            origin,
            fired: 0,
            due: origin,
            seq,
            at: ctx.call_position(),
        };
        if inside.is_some() {
            if months > 0 {
                next.fired = 1;
                next.due = origin.add_months(months as i32);
                next.step = (h.sim.model.step_of(next.due).max(0) as usize).max(step + 1);
            } else {
                next.step = step + steps;
                next.due = h.sim.model.date_of(next.step);
            }
            h.schedule.push(next);
            drop(h);
            let _ = action.call_within_context::<rhai::Dynamic>(&ctx, ())?;
            return Ok(());
        }
        h.schedule.push(next);
        Ok(())
    }

    /// Runs `action` once, after the first step at whose end `condition` returns true: its
    /// levers act from the next step.
    ///
    /// ```rhai
    /// export_ban("CN", #{ elements: ["Dy"] });
    /// when(|| current(price("oxide:Dy", "ROW")) > 300.0, || stockpile_release("us-nds-ndfeb", 500.0));
    /// run_until("2025-01-01");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn when(ctx: NativeCallContext, condition: FnPtr, action: FnPtr) -> Res<()> {
        called_without_arguments(&ctx, "when", "condition", &condition)?;
        called_without_arguments(&ctx, "when", "action", &action)?;
        let h = host(&ctx)?;
        let mut h = h.lock();
        h.ensure_running()?;
        h.room_to_watch("when")?;
        h.triggers.push(Trigger {
            condition,
            action,
            once: true,
            fired: false,
            at: ctx.call_position(),
        });
        Ok(())
    }

    /// Runs `action` after every step at whose end `condition` returns true: its levers act
    /// from the next step.
    ///
    /// ```rhai
    /// export_ban("CN", #{ elements: ["Dy", "Tb"], to: ["US"] });
    /// whenever(|| current(shortfall("magnet:NdFeB", "US")) > 0.2, || demand_shock("ev-us", 0.99));
    /// run_until("2025-06-01");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn whenever(ctx: NativeCallContext, condition: FnPtr, action: FnPtr) -> Res<()> {
        called_without_arguments(&ctx, "whenever", "condition", &condition)?;
        called_without_arguments(&ctx, "whenever", "action", &action)?;
        let h = host(&ctx)?;
        let mut h = h.lock();
        h.ensure_running()?;
        h.room_to_watch("whenever")?;
        h.triggers.push(Trigger {
            condition,
            action,
            once: false,
            fired: false,
            at: ctx.call_position(),
        });
        Ok(())
    }

    /// A country's strategy: a function run at every step, which may pull levers.
    ///
    /// ```rhai
    /// strategy(|| if current(price("oxide:Dy", "ROW")) > 250.0 { export_quota("CN", #{ elements: ["Dy"], tonnes_per_year: 500.0 }) });
    /// run_until("2024-03-01");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn strategy(ctx: NativeCallContext, rule: FnPtr) -> Res<()> {
        called_without_arguments(&ctx, "strategy", "rule", &rule)?;
        let h = host(&ctx)?;
        let mut h = h.lock();
        h.ensure_running()?;
        h.room_to_watch("strategy")?;
        h.strategies.push((rule, ctx.call_position()));
        Ok(())
    }

    /// Runs the simulation up to `date` (inclusive of the step containing it), firing
    /// scheduled levers and triggers on the way. Only the script's top level moves the
    /// clock: not an `at`, `every`, `when` or strategy, which run while it moves.
    ///
    /// ```rhai
    /// run_until("2025-12-31");
    /// expect(today() == "2025-12-29", "the clock reached the step containing the date");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn run_until(ctx: NativeCallContext, date: &str) -> Res<()> {
        let handle = host(&ctx)?;
        let target = {
            let h = handle.lock();
            let d = date_in(&h.sim.model, date)?;
            (h.sim.model.step_of(d) + 1).max(0) as usize
        };
        advance_within(&ctx, &handle, target)
    }

    /// Advances the simulation by `n` steps, 0 to 100,000 (no more than are left before the
    /// model's end).
    ///
    /// ```rhai
    /// step(4);
    /// expect(today() == "2024-01-22", "four weekly steps: the last began on 22 January");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn step(ctx: NativeCallContext, n: i64) -> Res<()> {
        let handle = host(&ctx)?;
        if !(0..=100_000).contains(&n) {
            return Err(err(format!(
                "step: n must be between 0 and 100000, got {n}"
            )));
        }
        let (target, left) = {
            let h = handle.lock();
            (h.sim.step + n as usize, h.sim.steps_left())
        };
        if n as usize > left {
            let end = handle.lock().sim.model.end;
            return Err(err(format!(
                "step({n}): only {left} steps are left before the model's end ({end})"
            )));
        }
        advance_within(&ctx, &handle, target)
    }

    /// `step` with a whole number written as a decimal (what `param` returns): `step(4.0)`
    /// is `step(4)`.
    ///
    /// ```rhai
    /// step(param("weeks", 4.0));
    /// ```
    #[rhai_fn(name = "step", return_raw)]
    pub fn step_float(ctx: NativeCallContext, n: f64) -> Res<()> {
        if !n.is_finite() || n.fract() != 0.0 {
            return Err(err(format!(
                "step: n must be a whole number of steps, got {n}"
            )));
        }
        if !(0.0..=100_000.0).contains(&n) {
            return Err(err(format!(
                "step: n must be between 0 and 100000, got {}",
                chokepoint_core::error::shown(n)
            )));
        }
        step(ctx, n.clamp(-1.0, 1e6) as i64)
    }

    /// Runs to the end of the model's horizon. A lever pulled at the top level after it is
    /// an error: it could change nothing.
    ///
    /// ```rhai
    /// run_to_end();
    /// ```
    #[rhai_fn(return_raw)]
    pub fn run_to_end(ctx: NativeCallContext) -> Res<()> {
        let handle = host(&ctx)?;
        let target = handle.lock().sim.model.horizon_steps();
        advance_within(&ctx, &handle, target)
    }

    /// The date of the last simulated step, as `YYYY-MM-DD` (the model's start before the
    /// first step). Inside an `at` or `every` action, which runs before its step, that is
    /// the week before the action's step.
    ///
    /// ```rhai
    /// run_until("2024-12-31");
    /// expect(today() == "2024-12-30", "the last Monday of 2024");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn today(ctx: NativeCallContext) -> Res<ImmutableString> {
        // Triggers ask every step: the text is made once per step.
        let handle = host(&ctx)?;
        let mut h = handle.lock();
        let step = h.sim.step;
        if h.today.0 != step || h.today.1.is_empty() {
            h.today = (step, h.sim.last_date().to_string().into());
        }
        Ok(h.today.1.clone())
    }

    /// Sets one of the model's behavioural parameters for this run (`diversion`,
    /// `home_bias`, `price_rise`, … : models/README, "Behavioural parameters"), checked as
    /// the model file's value is. Only before the clock first moves, so the whole run reads
    /// one value; `seller_cover_weeks` is not among them (the run's opening stocks are
    /// sized by it). With `param`, an assumption becomes something to sweep.
    ///
    /// ```rhai
    /// behaviour("diversion", param("diversion", 0.5));
    /// run_until("2024-03-01");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn behaviour(ctx: NativeCallContext, name: &str, value: Num) -> Res<()> {
        let value = crate::args::number(&value, "value")?;
        let h = host(&ctx)?;
        let mut h = h.lock();
        h.ensure_running()?;
        if h.sim.step > 0 || h.driving {
            return Err(err(format!(
                "behaviour: parameters are set before the clock first moves (the run is at \
                 {}): put behaviour(\"{name}\", ...) at the top of the script",
                h.sim.last_date()
            )));
        }
        if name == "seller_cover_weeks" {
            return Err(err(
                "behaviour: seller_cover_weeks sized the run's opening stocks; set it in the \
                 model file (a file's own behaviour: entry overrides an included one)"
                    .to_string(),
            ));
        }
        let step_days = h.sim.model.step_days;
        let model = std::sync::Arc::make_mut(&mut h.sim.model);
        (model.behaviour.set(name, value, step_days)).map_err(|e| {
            // A value out of range says which parameter it was for.
            err(
                match e.starts_with("unknown") || e.starts_with("price_reversion ") {
                    true => e,
                    false => format!("{name} {e}"),
                },
            )
        })?;
        h.log("behaviour", format!("{name} = {value}"));
        Ok(())
    }

    /// A named parameter: its value from `--set name=value` or a sweep, else `default`.
    ///
    /// ```rhai
    /// let approval = param("approval", 0.3);
    /// expect(approval >= 0.0, "a share");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn param(ctx: NativeCallContext, name: &str, default: Num) -> Res<f64> {
        let d = crate::args::number(&default, "param default")?;
        if !d.is_finite() {
            return Err(err(format!(
                "param(\"{name}\"): the default must be a finite number, got {d}"
            )));
        }
        // `--set NAME=VALUE` must be able to reach it.
        let word = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !word {
            return Err(err(format!(
                "param(\"{name}\"): a parameter's name is a word of letters, digits, _ and - \
                 (starting with a letter), so that --set can name it"
            )));
        }
        let h = host(&ctx)?;
        let mut h = h.lock();
        // One name, one default, however the script is run: a second would be read by half
        // the script.
        if let Some(&before) = h.param_defaults.get(name).filter(|&&b| b != d) {
            return Err(err(format!(
                "param(\"{name}\"): its default is already {} in this script; one \
                 parameter has one default (read it into a variable once)",
                chokepoint_core::error::shown(before)
            )));
        }
        h.param_defaults.insert(name.to_string(), d);
        let v = h.params.get(name).copied().unwrap_or(d);
        h.params_used.insert(name.to_string(), v);
        Ok(v)
    }
}

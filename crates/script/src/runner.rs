//! Driving the clock: before each step, fire the levers that are due; step the engine; then
//! check the triggers' conditions and run the strategies against the step just simulated
//! (what they pull takes effect from the next step).

use rhai::{Dynamic, EvalAltResult, FnPtr, NativeCallContext, Position};

use crate::args::Res;
use crate::host::{err, HostHandle};

/// Advances to `target` from inside a script call (closures run in the script's context).
pub fn advance_within(ctx: &NativeCallContext, handle: &HostHandle, target: usize) -> Res<()> {
    handle.lock().clock_called = true;
    advance(handle, target, &mut |f: &FnPtr| {
        f.call_within_context::<Dynamic>(ctx, ())
    })
}

/// Advances to `target`, calling script closures with `call`. The clock only moves
/// forward: a target the run has passed is a mistake in the story, and an error. So is
/// moving it from inside an action, trigger or strategy, which the clock is already running.
pub fn advance(
    handle: &HostHandle,
    target: usize,
    call: &mut dyn FnMut(&FnPtr) -> Result<Dynamic, Box<EvalAltResult>>,
) -> Res<()> {
    {
        let mut h = handle.lock();
        if h.driving {
            return Err(err(
                "the clock cannot be moved from inside `at`, `every`, `when` or a strategy: \
                 they run while it advances (call run_until, step or run_to_end at the top \
                 level of the script)"
                    .to_string(),
            ));
        }
        h.driving = true;
        h.failed_driving = false;
    }
    // An error raised by an action, trigger or strategy as the clock ran is dated by the
    // step it failed in (not a refusal to move the clock, before any step ran).
    let mut closure_failed = false;
    let result = drive(handle, target, &mut |f| {
        let r = call(f);
        closure_failed |= r.is_err();
        r
    });
    let mut h = handle.lock();
    h.driving = false;
    h.failed_driving = closure_failed && result.is_err();
    result
}

fn drive(
    handle: &HostHandle,
    target: usize,
    call: &mut dyn FnMut(&FnPtr) -> Result<Dynamic, Box<EvalAltResult>>,
) -> Res<()> {
    {
        let h = handle.lock();
        if target < h.sim.step {
            return Err(err(format!(
                "the run is already at {} (the clock only moves forward)",
                h.sim.last_date()
            )));
        }
    }
    let mut due: Vec<(FnPtr, Position, chokepoint_core::Date)> = Vec::new();
    let mut conditions: Vec<(usize, FnPtr, Position)> = Vec::new();
    // What the condition list was built from: it is rebuilt only when that changes.
    let mut watching = None;
    loop {
        due.clear();
        {
            let mut h = handle.lock();
            if let Some(why) = h.stopped() {
                return Err(err(why));
            }
            let horizon = h.sim.model.horizon_steps();
            if h.sim.step >= target.min(horizon) {
                return Ok(());
            }
            let now = h.sim.step;
            if h.schedule.iter().any(|s| s.step <= now) {
                // Due actions in date order, then in the order they were set up; one pass,
                // however many.
                h.schedule.sort_by_key(|s| (s.step, s.due, s.seq));
                let model = std::sync::Arc::clone(&h.sim.model);
                h.schedule.retain_mut(|s| {
                    if s.step > now {
                        return true;
                    }
                    due.push((s.action.clone(), s.at, s.due));
                    s.step = if s.months > 0 {
                        // The step containing the next month-day (or anniversary).
                        s.fired += 1;
                        let months = (s.fired as i64 * s.months as i64).min(i32::MAX as i64);
                        let next = s.origin.add_months(months as i32);
                        s.due = next;
                        (model.step_of(next).max(0) as usize).max(now + 1)
                    } else {
                        s.due = model.date_of(now + s.every);
                        now + s.every
                    };
                    s.every > 0
                });
            }
            let fired = h.triggers.iter().filter(|t| t.once && t.fired).count();
            let now_watching = Some((h.triggers.len(), h.strategies.len(), fired));
            if watching != now_watching {
                watching = now_watching;
                conditions.clear();
                for (k, t) in h.triggers.iter().enumerate() {
                    if !(t.once && t.fired) {
                        conditions.push((k, t.condition.clone(), t.at));
                    }
                }
                conditions.extend(
                    h.strategies
                        .iter()
                        .map(|(f, at)| (usize::MAX, f.clone(), *at)),
                );
            }
        }
        for (k, (f, at, when)) in due.iter().enumerate() {
            // A closure too short to reach the engine's own check still counts: look at the
            // clock every 256 of them.
            if k % 256 == 255 {
                if let Some(why) = handle.lock().stopped() {
                    return Err(err(why));
                }
            }
            handle.lock().running_due = Some(*when);
            let r = call(f);
            handle.lock().running_due = None;
            let _ = r.map_err(|e| placed(by_pointer(f, e, *at), *at))?;
        }
        handle.lock().sim.step();
        // Triggers and strategies look at the step just simulated; what they pull takes
        // effect from the next step.
        for (n, (k, cond, at)) in conditions.iter().enumerate() {
            if n % 256 == 255 {
                if let Some(why) = handle.lock().stopped() {
                    return Err(err(why));
                }
            }
            let name = match *k {
                usize::MAX => None,
                k if handle.lock().triggers[k].once => Some("when"),
                _ => Some("whenever"),
            };
            {
                let mut h = handle.lock();
                h.in_condition = name;
                h.in_strategy = *k == usize::MAX;
            }
            let v = call(cond);
            {
                let mut h = handle.lock();
                h.in_condition = None;
                h.in_strategy = false;
            }
            let v = v.map_err(|e| placed(by_pointer(cond, e, *at), *at))?;
            if *k == usize::MAX {
                // A strategy: run for its levers, whatever it returns.
                continue;
            }
            let fire = v.as_bool().map_err(|_| {
                // Pointed at where the trigger was set up: the closure has no place of its
                // own, and the `run_until` that ran it is not the mistake.
                let name = name.unwrap_or("when");
                let what = format!(
                    "{name}: its condition must return true or false, got {}",
                    crate::args::kind(&v)
                );
                if at.is_none() {
                    err(what)
                } else {
                    Box::new(EvalAltResult::ErrorRuntime(what.into(), *at))
                }
            })?;
            if fire {
                let action = {
                    let mut h = handle.lock();
                    h.triggers[*k].fired = true;
                    h.triggers[*k].action.clone()
                };
                let _ = call(&action).map_err(|e| placed(by_pointer(&action, e, *at), *at))?;
            }
        }
    }
}

/// An action given as a pointer to a lever (`Fn("close").curry("x")`), not a closure,
/// that fails raises its error from no line of the script: the caret would land on the
/// `run_until` or `step` that ran it, under that function's name. Point it at where the
/// action was set up, under the lever's name. (A closure's or a script function's error
/// comes wrapped with its own place.)
fn by_pointer(f: &FnPtr, mut e: Box<EvalAltResult>, at: Position) -> Box<EvalAltResult> {
    if f.is_anonymous() || at.is_none() {
        return e;
    }
    match *e {
        EvalAltResult::ErrorInFunctionCall(..) | EvalAltResult::ErrorInModule(..) => e,
        EvalAltResult::ErrorRuntime(ref msg, _) => {
            let name = f.fn_name();
            let msg = msg.to_string();
            let named = msg
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(':'));
            let msg = match named {
                true => msg,
                false => format!("{name}: {msg}"),
            };
            Box::new(EvalAltResult::ErrorRuntime(
                format!("{msg} (in the action `Fn(\"{name}\")` set up here)").into(),
                at,
            ))
        }
        _ => {
            e.set_position(at);
            e
        }
    }
}

/// A limit hit inside a scheduled closure (an endless loop, runaway recursion, data too
/// large, the time limit) carries no position of its own, so the error would point at the
/// `run_until` that ran it: point it at where the script set the closure up instead.
fn placed(e: Box<EvalAltResult>, at: Position) -> Box<EvalAltResult> {
    let what = match &*e {
        EvalAltResult::ErrorTooManyOperations(_) => {
            "the script ran too many operations (an endless loop?)".to_string()
        }
        EvalAltResult::ErrorStackOverflow(_) => {
            "calls nest too deeply (runaway recursion?)".to_string()
        }
        EvalAltResult::ErrorDataTooLarge(what, _) => format!("{what} grew too large"),
        EvalAltResult::ErrorTerminated(why, _) => format!("stopped: {why}"),
        EvalAltResult::ErrorFunctionNotFound(sig, pos) if sig.starts_with("anon$") => {
            // Where it was set up is a place in the module's text, not this file's.
            return Box::new(EvalAltResult::ErrorRuntime(
                "a closure made inside a module's function (an `at`, `every`, `when` or \
                 strategy there) cannot run later: schedule it in the scenario itself, e.g. \
                 `at(date, || m::act())`"
                    .into(),
                *pos,
            ));
        }
        _ => return e,
    };
    if at.is_none() {
        return e;
    }
    Box::new(EvalAltResult::ErrorRuntime(
        format!("{what}, in the closure set up here").into(),
        at,
    ))
}

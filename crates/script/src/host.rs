//! The host's per-run state: the simulation, the scheduled events and triggers, the levers
//! pulled and the expectations recorded. Scripts reach it through the engine's tag.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chokepoint_core::policy::Targets;
use chokepoint_core::{Date, Model, Sim};
use rhai::{EvalAltResult, FnPtr, NativeCallContext, Position};

/// One expectation: what the script claimed, whether it held, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub message: String,
    pub passed: bool,
    pub detail: String,
    pub line: usize,
    /// The imported module it was written in, when not the scenario itself: `line` is
    /// that module's.
    pub module: Option<String>,
}

impl Expectation {
    /// Where it was written: "line 12", or "line 10 of lib/checks".
    pub fn place(&self) -> String {
        match &self.module {
            Some(m) => format!("line {} of {m}", self.line),
            None => format!("line {}", self.line),
        }
    }
}

/// A lever pulled, for the report's timeline and `:save`.
#[derive(Debug, Clone, PartialEq)]
pub struct LeverCall {
    pub date: Date,
    pub name: String,
    pub summary: String,
    /// Pulled by a scheduled action, trigger or strategy as the clock ran (not by the
    /// script's own lines).
    pub by_rule: bool,
    /// The step it was pulled before: it acts from that step on (if the run gets there).
    pub step: usize,
}

#[derive(Clone)]
pub struct Trigger {
    pub condition: FnPtr,
    pub action: FnPtr,
    pub once: bool,
    pub fired: bool,
    /// Where the script set it (`when(...)`), for errors inside its closures.
    pub at: rhai::Position,
}

#[derive(Clone)]
pub struct Scheduled {
    pub step: usize,
    pub action: FnPtr,
    /// Repeat every this many steps (0: once).
    pub every: usize,
    /// Or repeat every this many calendar months from `origin` (0: not calendar), having
    /// fired `fired` times: "1y" fires on the step containing each anniversary.
    pub months: u32,
    pub origin: chokepoint_core::Date,
    pub fired: u32,
    /// The date it is next due: actions due in one step run in date order, then in the
    /// order they were set up.
    pub due: chokepoint_core::Date,
    pub seq: usize,
    /// Where the script scheduled it, for errors inside its closure.
    pub at: rhai::Position,
}

/// A run's whole state. A clone is a snapshot (the REPL undoes a failed line with one).
#[derive(Clone)]
pub struct Host {
    pub sim: Sim,
    pub schedule: Vec<Scheduled>,
    pub triggers: Vec<Trigger>,
    /// Each strategy's rule, and where the script set it.
    pub strategies: Vec<(FnPtr, rhai::Position)>,
    pub expectations: Vec<Expectation>,
    pub levers: Vec<LeverCall>,
    pub params: BTreeMap<String, f64>,
    pub params_used: BTreeMap<String, f64>,
    /// Each parameter's default as the script gives it.
    pub param_defaults: BTreeMap<String, f64>,
    pub output: Vec<String>,
    /// Bytes `print` and `debug` have put in `output` since it was last emptied, and lines
    /// they printed past `MAX_PRINTED` (not kept: see `Host::print`).
    pub printed: (usize, usize),
    /// When the run stops (`set_deadline`), and the alarm that rings then.
    deadline: Option<Instant>,
    pub alarm: Arc<crate::alarm::Alarm>,
    pub cancel: Arc<AtomicBool>,
    /// `today()` as text, made once per step: (step, text).
    pub today: (usize, rhai::ImmutableString),
    /// The clock is being advanced: scheduled actions, triggers and strategies run inside
    /// that advance and may not move the clock themselves.
    pub driving: bool,
    /// The script called `step`, `run_until` or `run_to_end` (even `step(0)`): it said
    /// where its story ends, and is not run on to the model's end.
    pub clock_called: bool,
    /// While the clock runs an `at` or `every` action: the date it was due, so an `every`
    /// it sets up counts from that date.
    pub running_due: Option<chokepoint_core::Date>,
    /// While the clock checks a `when` or `whenever` condition, which only tests: levers
    /// and schedules are refused there (the action is where they go).
    pub in_condition: Option<&'static str>,
    /// While the clock runs a strategy: a rule, which may wait on a figure not there yet.
    pub in_strategy: bool,
    /// Notes said once a run, by what they are about (the REPL takes the output as it goes,
    /// so the output itself cannot say what was said).
    pub noted: std::collections::BTreeSet<String>,
    /// The functions (closures among them) the scenario's own text defines, when it runs as
    /// a whole script: what the clock can call later. A module's are out of its reach.
    pub script_fns: Option<std::collections::HashSet<String>>,
    /// Notes on plants modelled apart, each with the plant whose lever gave it (`usize::MAX`
    /// once a lever on another of the set took it back).
    pub split_plants: Vec<(String, usize)>,
    /// Notes on a facility a lever call names, said once the call is logged
    /// ([`Host::log`]).
    pub pending_notes: Vec<String>,
    /// The reach (`to`, `exempt`) policies had when they were pulled, by index, for those
    /// `lift_controls` has narrowed since: pulling the same rule again is still the same.
    pub imposed_reach: BTreeMap<usize, (Targets, Targets)>,
    /// Queries of a form in a country already checked for users (`query::note_no_users`):
    /// a trigger asks the same each step.
    pub users_checked: Vec<(&'static str, usize, usize)>,
    /// `trade_by_form` routes the script queried that no run records from its start
    /// (declared when queried): the run's end notes those that carried nothing.
    pub routes_queried: Vec<String>,
    /// Queries of a stage in a country, or of a pair of countries, the run's end checks for
    /// reading 0 because nothing in the model does what they count: (call, stage or
    /// exporter, country or importer).
    pub idle_queried: Vec<(&'static str, usize, usize)>,
    /// The last move of the clock ended in an error (raised by an action or trigger).
    pub failed_driving: bool,
    seq: usize,
}

/// Shared handle to a run's host; clones are cheap and point at the same run.
#[derive(Clone)]
pub struct HostHandle(pub Arc<Mutex<Host>>);

impl HostHandle {
    pub fn new(model: &Arc<Model>, seed: u64, params: BTreeMap<String, f64>) -> HostHandle {
        HostHandle(Arc::new(Mutex::new(Host {
            sim: Sim::new(model, seed),
            schedule: Vec::new(),
            triggers: Vec::new(),
            strategies: Vec::new(),
            expectations: Vec::new(),
            levers: Vec::new(),
            params,
            params_used: BTreeMap::new(),
            param_defaults: BTreeMap::new(),
            output: Vec::new(),
            printed: (0, 0),
            deadline: None,
            alarm: Default::default(),
            cancel: Arc::new(AtomicBool::new(false)),
            today: (usize::MAX, rhai::ImmutableString::new()),
            driving: false,
            clock_called: false,
            running_due: None,
            in_condition: None,
            in_strategy: false,
            noted: Default::default(),
            script_fns: None,
            split_plants: Vec::new(),
            pending_notes: Vec::new(),
            imposed_reach: BTreeMap::new(),
            users_checked: Vec::new(),
            routes_queried: Vec::new(),
            idle_queried: Vec::new(),
            failed_driving: false,
            seq: 0,
        })))
    }

    pub fn lock(&self) -> MutexGuard<'_, Host> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Host {
    pub fn next_seq(&mut self) -> usize {
        self.seq += 1;
        self.seq
    }

    pub fn log(&mut self, name: &str, summary: String) {
        // The notes on what the lever acts on are said once it has been pulled: a call
        // that fails on a later argument says only its error.
        let notes = std::mem::take(&mut self.pending_notes);
        for note in notes {
            if !self.output.contains(&note) {
                self.output.push(note);
            }
        }
        // An `at` or `every` action is logged on the date the script gave it; it acts from
        // the start of the step holding that date.
        let date = self.running_due.unwrap_or_else(|| self.sim.date());
        self.levers.push(LeverCall {
            date,
            name: name.to_string(),
            summary,
            by_rule: self.driving,
            step: self.sim.step,
        });
    }

    /// Levers and schedules need steps left to act on. (A trigger or strategy that pulls
    /// one after the last step is a rule applied as usual, not a mistake in the story.)
    pub fn ensure_running(&self) -> Result<(), Box<EvalAltResult>> {
        if let Some(name) = self.in_condition {
            return Err(err(format!(
                "not in a `{name}` condition, which only tests whether to act (it is checked \
                 every step): pull levers, and schedule, in its action, the second closure"
            )));
        }
        if self.sim.steps_left() == 0 && !self.driving {
            return Err(err(format!(
                "the run has reached the model's end ({}): nothing pulled or scheduled now \
                 can take effect",
                self.sim.last_date()
            )));
        }
        Ok(())
    }

    /// Whether one more condition or strategy may be watched (`MAX_WATCHERS`).
    pub fn room_to_watch(&self, what: &str) -> Result<(), Box<EvalAltResult>> {
        let n = self.triggers.len() + self.strategies.len();
        if n >= crate::engine::limits::MAX_WATCHERS {
            return Err(err(format!(
                "{what}: the run already watches {n} conditions and strategies, the most one \
                 run may (each is checked every step); a `when` or `whenever` set up inside \
                 another's action adds one each time that action runs"
            )));
        }
        Ok(())
    }

    /// Whether one more action may wait for its date (`MAX_SCHEDULED`).
    pub fn room_to_schedule(&self, what: &str) -> Result<(), Box<EvalAltResult>> {
        let n = self.schedule.len();
        if n >= crate::engine::limits::MAX_SCHEDULED {
            return Err(err(format!(
                "{what}: {n} actions already wait for their dates, the most one run may hold"
            )));
        }
        Ok(())
    }

    /// Sets (or clears) the wall-clock limit of what the script does from now on.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
        self.alarm.set(deadline);
    }

    pub fn stopped(&self) -> Option<&'static str> {
        if self.cancel.load(Ordering::Relaxed) {
            return Some("cancelled");
        }
        if self.deadline.is_some_and(|d| Instant::now() > d) {
            return Some(PAST_TIME_LIMIT);
        }
        None
    }
}

/// What a run keeps of what its script prints (for the summary and report.html): past it,
/// lines are counted, not kept, so a script printing in a loop does not fill memory and
/// stop as one holding too much data.
pub const MAX_PRINTED: usize = 16 << 20;

impl Host {
    /// A line the script printed, made fit for a terminal (`shown`) only if kept: kept while
    /// what is kept stays under [`MAX_PRINTED`].
    pub fn print(&mut self, text: &str, shown: impl FnOnce(&str) -> String) {
        if self.output.is_empty() {
            self.printed.0 = 0;
        }
        if self.printed.0 + text.len() > MAX_PRINTED {
            self.printed.1 += 1;
            return;
        }
        let line = shown(text);
        self.printed.0 += line.len();
        self.output.push(line);
    }

    /// The note for lines printed past [`MAX_PRINTED`], if any were (and resets the count).
    pub fn printed_past_limit(&mut self) -> Option<String> {
        let dropped = std::mem::take(&mut self.printed.1);
        (dropped > 0).then(|| {
            format!(
                "note: the script printed more than {} MiB: the {dropped} lines after that \
                 were not kept",
                MAX_PRINTED >> 20
            )
        })
    }
}

/// Why a run stopped when its wall-clock limit passed.
pub const PAST_TIME_LIMIT: &str = "the script ran past its time limit";

/// Runs a lever's body on the locked host: one place for the lookup and the lock.
pub fn lever<T>(
    ctx: &NativeCallContext,
    body: impl FnOnce(&mut Host) -> Result<T, Box<EvalAltResult>>,
) -> Result<T, Box<EvalAltResult>> {
    let handle = host(ctx)?;
    let mut h = handle.lock();
    h.ensure_running()?;
    h.pending_notes.clear();
    let result = body(&mut h);
    // Notes of a call that was not logged (it failed, or changed nothing) are not said,
    // nor kept for the next lever; and one not said is not marked as said.
    let unsaid = std::mem::take(&mut h.pending_notes);
    h.split_plants.retain(|(n, _)| !unsaid.contains(n));
    result
}

impl Host {
    /// Model ids by name, as script errors (with a did-you-mean).
    pub fn facility(&self, name: &str) -> Result<usize, Box<EvalAltResult>> {
        self.sim.model.facility_id(name).map_err(err)
    }
    /// A facility a lever acts on: one the model has already closed (its `end`) would
    /// ignore the lever, so that is an error naming what took over from it. One the model
    /// closes later in the run takes the lever until then, with a note saying so.
    pub fn live_facility(&mut self, name: &str) -> Result<usize, Box<EvalAltResult>> {
        self.pending_notes.clear();
        let f = self.facility(name)?;
        self.note_sibling_plants(f);
        let m = &self.sim.model;
        let Some(end) = m.facilities[f].end else {
            return Ok(f);
        };
        let next = match self.successors(f, end).as_slice() {
            [] => String::new(),
            ids => format!(
                " (the same firm's plants there that start then: {})",
                ids.join(", ")
            ),
        };
        if end <= self.sim.date() {
            let next = next.replace("that start then", "that started then");
            return Err(err(format!(
                "{name} closed on {end} in the model (its `end`), so a lever on it would do nothing{next}"
            )));
        }
        if end <= m.end {
            let note = format!(
                "note: {name} closes on {end} in the model (its `end`): a lever on it acts \
                 until then, not after{next}"
            );
            if !self.pending_notes.contains(&note) {
                self.pending_notes.push(note);
            }
        }
        Ok(f)
    }

    /// A lever on one plant of a firm whose other plant at the same stage and place goes by a
    /// like name (a plant and its expansion, modelled apart: `mp-separation` and
    /// `mp-separation-ramp`) reaches that one only: say so, once for the set.
    fn note_sibling_plants(&mut self, f: usize) {
        let m = &self.sim.model;
        let fac = &m.facilities[f];
        let Some(firm) = fac.firm else {
            return;
        };
        // The words two ids begin with alike: two or more, or all of the shorter one's.
        let alike = |a: &str, b: &str| {
            let (wa, wb): (Vec<&str>, Vec<&str>) = (a.split('-').collect(), b.split('-').collect());
            let n = wa.iter().zip(&wb).take_while(|(x, y)| x == y).count();
            n >= 2 || n == wa.len().min(wb.len())
        };
        let now = self.sim.date();
        let mut set: Vec<&str> = (m.facilities.iter().enumerate())
            // The same work (recipe or deposit): a firm's NdFeB and SmCo lines are two plants.
            .filter(|&(o, x)| o != f && x.firm == Some(firm) && x.process == fac.process)
            .filter(|(_, x)| alike(&x.id, &fac.id))
            .filter(|(_, x)| x.country == fac.country && x.stage == fac.stage)
            // Running at some time from now on, while this one runs.
            .filter(|(_, x)| x.end.is_none_or(|e| e > now && e > fac.start))
            .filter(|(_, x)| fac.end.is_none_or(|e| x.start < e) && x.start <= m.end)
            .map(|(_, x)| x.id.as_str())
            .collect();
        if set.is_empty() {
            return;
        }
        set.push(&fac.id);
        set.sort_unstable();
        let (last, first) = set
            .split_last()
            .map(|(l, f)| (*l, f.join(", ")))
            .unwrap_or_default();
        let note = format!(
            "note: {first} and {last} are one firm's plants ({}, {} in {}), modelled apart: a \
             lever on one does not reach the other{}",
            m.firms[firm].id,
            m.stages[fac.stage],
            m.countries[fac.country].id,
            if set.len() > 2 { "s" } else { "" }
        );
        // A lever on a second plant of the set shows the script knows them apart: the note
        // it no longer needs is taken back (and not given again).
        match self.split_plants.iter().find(|(n, _)| *n == note) {
            None => {
                self.split_plants.push((note.clone(), f));
                self.pending_notes.push(note);
            }
            Some(&(_, first)) if first != f => {
                self.output.retain(|l| *l != note);
                self.split_plants.retain(|(n, _)| *n != note);
                self.split_plants.push((note, usize::MAX));
            }
            Some(_) => {}
        }
    }

    /// The plants of `f`'s firm, country and stage that start within a month of `end`: what
    /// the model has take over from it.
    fn successors(&self, f: usize, end: chokepoint_core::Date) -> Vec<&str> {
        let m = &self.sim.model;
        let fac = &m.facilities[f];
        (m.facilities.iter())
            .filter(|o| fac.firm.is_some() && o.firm == fac.firm)
            .filter(|o| o.country == fac.country && o.stage == fac.stage)
            .filter(|o| (o.start.days() - end.days()).abs() <= 31)
            .map(|o| o.id.as_str())
            .collect()
    }
    pub fn sector(&self, name: &str) -> Result<usize, Box<EvalAltResult>> {
        self.sim.model.sector_id(name).map_err(err)
    }
    pub fn stockpile(&self, name: &str) -> Result<usize, Box<EvalAltResult>> {
        self.sim.model.stockpile_id(name).map_err(err)
    }
    pub fn country(&self, name: &str) -> Result<usize, Box<EvalAltResult>> {
        self.sim.model.country_id(name).map_err(err)
    }
    pub fn element(&self, name: &str) -> Result<usize, Box<EvalAltResult>> {
        self.sim.model.element_id(name).map_err(err)
    }
}

/// The run's host, from the engine's tag.
pub fn host(ctx: &NativeCallContext) -> Result<HostHandle, Box<EvalAltResult>> {
    ctx.tag()
        .and_then(|t| t.clone().try_cast::<HostHandle>())
        .ok_or_else(|| err("this function needs a model: it is not available here"))
}

pub fn err(msg: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        msg.into().into(),
        Position::NONE,
    ))
}

/// A closure handed to `at`, `every`, `when`, `whenever` or `strategy` is called with no
/// arguments: one that declares some is refused where it is handed over, not when the clock
/// first calls it (a `|d| ...` would otherwise fail far away, as a missing function).
pub fn called_without_arguments(
    ctx: &NativeCallContext,
    lever: &str,
    what: &str,
    f: &FnPtr,
) -> Result<(), Box<EvalAltResult>> {
    // The clock calls it from the scenario's own text, where a module's functions (its
    // closures among them) are out of reach: refused here, where the mistake is. (A closure
    // of the scenario's, handed to a module's function that schedules it, is in reach.)
    let in_module = ctx.call_source().filter(|s| !s.is_empty());
    let theirs = || {
        let fns = host(ctx).ok().and_then(|h| h.lock().script_fns.clone());
        fns.is_some_and(|fns| !fns.contains(f.fn_name()))
    };
    if let Some(module) = in_module.filter(|_| theirs()) {
        return Err(err(format!(
            "{lever}: a closure or function of module '{module}' cannot be scheduled from \
             inside it (the clock runs it later, from the scenario, where the module's own \
             functions are out of reach): schedule it in the scenario, e.g. \
             `{lever}(..., || m::act())`"
        )));
    }
    let curried = f.curry().len();
    let name = f.fn_name();
    let mut params: Vec<usize> = (ctx.iter_namespaces())
        .flat_map(|m| m.iter_script_fn_info())
        .filter(|(_, _, n, _, _)| *n == name)
        .map(|(_, _, _, n, _)| n)
        .collect();
    let script_fn = !params.is_empty();
    if !script_fn {
        // `Fn("close")`: a function of the engine's, by its signatures' parameter counts.
        let prefix = format!("{name}(");
        params = (ctx.engine().gen_fn_signatures(true).iter())
            .filter_map(|sig| sig.strip_prefix(&prefix))
            .map(|rest| {
                let args = rest.split(')').next().unwrap_or_default();
                match args.trim() {
                    "" => 0,
                    a => a.matches(',').count() + 1,
                }
            })
            .collect();
    }
    if params.contains(&curried) {
        return Ok(());
    }
    if params.is_empty() {
        return Err(err(format!(
            "{lever}: its {what} names no function '{name}' (write a closure, `|| ...`, or \
             `Fn(\"name\")` of a function defined in the script)"
        )));
    }
    let fewest = params.iter().min().copied().unwrap_or(0);
    Err(err(if curried > fewest && script_fn {
        format!(
            "{lever}: its {what} '{name}' is given {curried} argument{} by `curry`, and takes \
             {fewest}",
            if curried == 1 { "" } else { "s" }
        )
    } else if script_fn {
        format!(
            "{lever}: its {what} is called with no arguments, and this one takes {}: write it \
             as `|| ...`",
            fewest - curried
        )
    } else {
        format!(
            "{lever}: its {what} '{name}' takes {fewest} argument{}, and is called with none: \
             wrap the call in a closure, `|| {name}(...)`",
            if fewest == 1 { "" } else { "s" }
        )
    }))
}

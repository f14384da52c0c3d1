//! chokepoint-script: the Rhai host. Scenario scripts pull policy levers, schedule them in
//! time, query results and state expectations; this crate compiles them once and runs them
//! against a model, sandboxed and within limits.

pub mod alarm;
pub mod api;
pub mod args;
pub mod diag;
pub mod engine;
pub mod host;
pub mod memory;
pub mod reference;
pub mod runner;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chokepoint_core::{Model, Sim};

use rhai::{Dynamic, Scope, AST};

pub use diag::ScriptError;
pub use engine::build_engine;
pub use host::{Expectation, HostHandle, LeverCall};
pub use rhai;

/// A compiled scenario: parse once, run many times (on any thread).
#[derive(Debug, Clone)]
pub struct Scenario {
    pub path: PathBuf,
    pub source: String,
    pub ast: AST,
    pub scripts_root: PathBuf,
    /// The check of the modules it imports, once per model (`check_modules`): a sweep runs
    /// a scenario thousands of times on one model, and reading and parsing its modules
    /// each time cost ~0.7 ms a run.
    modules_checked: Arc<std::sync::Mutex<Option<ModulesChecked>>>,
}

/// The model (by address) a scenario's modules were checked against, and what was found.
type ModulesChecked = (usize, Result<(), ScriptError>);

/// Whether the model has `id` where an id of `kind` is written, for [`Scenario::check_named`]:
/// an error naming the nearest ids of that kind when the model has it nowhere. An id of
/// another kind ("lockheed-martin" as an importer) passes here and gets the function's own
/// message when it runs; so does a facility, which `build` may add.
fn known_id(m: &Model, kind: reference::IdKind, id: &str) -> Result<(), String> {
    use reference::IdKind::*;
    let anywhere = id == "*" || m.names(id);
    if anywhere {
        return Ok(());
    }
    let miss = |what: &str, names: Vec<&str>| {
        let hint = chokepoint_core::error::did_you_mean(id, names);
        Err(format!("unknown {what} '{id}'{hint}"))
    };
    match kind {
        // A run gives its levers labels of its own: not known before it.
        Facility | Label => Ok(()),
        Country => m.country_id(id).map(drop),
        Who | Firm => chokepoint_core::policy::resolve_target(m, id, &mut Default::default()),
        Sector => m.sector_id(id).map(drop),
        Element => m.element_id(id).map(drop),
        Form => m.form_id(id).map(drop),
        Stockpile => m.stockpile_id(id).map(drop),
        Market => m.market_id(id).map(drop),
        Stage => m.stage_id(id).map(drop),
        Group => m.group_id(id).map(drop),
        Behaviour => {
            let names = chokepoint_core::model::Behaviour::PARAMS.map(|(name, _)| name);
            match names.contains(&id) {
                true => Ok(()),
                false => miss("behaviour parameter", names.to_vec()),
            }
        }
        // `oxide:Dyy` misses an element of a form the model has; `oxid:Dy` a commodity.
        Commodity => match id.rsplit_once(':') {
            Some((form, elem)) if m.form_id(form).is_ok() => m.element_id(elem).map(drop),
            _ => {
                let names: Vec<String> = (0..m.commodities.len())
                    .map(|c| m.commodity_name(c))
                    .collect();
                miss("commodity", names.iter().map(String::as_str).collect())
            }
        },
        FormOrSector => miss(
            "form or sector",
            (m.forms.iter().map(|x| x.id.as_str()))
                .chain(m.sectors.iter().map(|x| x.id.as_str()))
                .collect(),
        ),
    }
}

/// Rhai source with its `//` and `/* */` comments blanked (strings kept): a commented-out
/// `param("x", ...)` is not a parameter the script reads.
pub fn without_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('/', Some('/')) => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
                out.push(' ');
            }
            ('"', _) | ('`', _) => {
                quote = Some(c);
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub seed: u64,
    pub params: BTreeMap<String, f64>,
    /// Wall-clock limit for the whole run.
    pub time_limit: Duration,
    pub cancel: Option<Arc<AtomicBool>>,
    /// If the script never moves the clock itself, run to the model's end after it returns,
    /// firing what it scheduled.
    pub finish: bool,
    /// With `finish`, how many steps such a script runs: the model's whole horizon if None
    /// (`chokepoint bench` times a fixed window).
    pub finish_steps: Option<usize>,
    /// Once the script has returned, however far it ran, on to this step (the model's end
    /// at most), firing what it scheduled and the rules it set: a baseline run to the end
    /// of the run it is read against.
    pub drive_to: Option<usize>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            seed: 0,
            params: BTreeMap::new(),
            time_limit: Duration::from_secs(60),
            cancel: None,
            finish: true,
            finish_steps: None,
            drive_to: None,
        }
    }
}

/// What a run produced.
pub struct Outcome {
    pub sim: Sim,
    pub expectations: Vec<Expectation>,
    pub levers: Vec<LeverCall>,
    pub output: Vec<String>,
    pub params: BTreeMap<String, f64>,
    /// What ran but may not be what was meant: an `at` whose date the run never reached.
    pub warnings: Vec<String>,
    /// What the headlines are read against, run over the same steps with the same seed:
    /// the model with none of the script's levers ([`Outcome::with_baseline`]: what the
    /// model does by itself, prices drifting as announced capacity arrives), or the
    /// scenario in `baseline_script`. Only `chokepoint run` sets it.
    pub baseline: Option<Box<Sim>>,
    /// The scenario the baseline ran (`run --baseline`, `// baseline:`); none for the model
    /// with no levers.
    pub baseline_script: Option<PathBuf>,
    /// That scenario's source, with the modules it imports (`Scenario::full_source`).
    pub baseline_source: Option<String>,
}

impl Outcome {
    pub fn failed(&self) -> usize {
        self.expectations.iter().filter(|e| !e.passed).count()
    }

    /// Runs the baseline of a run whose levers acted: `model` (the one the run was given,
    /// before any lever changed it) over as many steps, with the same seed and the run's
    /// `behaviour()` settings (assumptions, not levers: they hold in both). A run none of
    /// whose levers acted (none pulled, only `behaviour()`, or all after its last step) is
    /// its own baseline and gets none.
    pub fn with_baseline(mut self, model: &Arc<Model>) -> Outcome {
        if self.left_out().next().is_some() {
            let mut model = model.clone();
            if self.levers.iter().any(|l| l.name == "behaviour") {
                Arc::make_mut(&mut model).behaviour = self.sim.model.behaviour.clone();
            }
            let mut base = Sim::new(&model, self.sim.seed);
            while base.step < self.sim.step {
                base.step();
            }
            self.baseline = Some(Box::new(base));
        }
        self
    }

    /// The levers a baseline leaves out: those that acted, `behaviour()` settings aside.
    pub fn left_out(&self) -> impl Iterator<Item = &LeverCall> {
        (self.levers.iter()).filter(|l| l.name != "behaviour" && l.step < self.sim.step)
    }
}

impl Scenario {
    /// Reads and compiles a scenario file. Imports resolve under `scripts_root`.
    pub fn load(path: &Path, scripts_root: &Path) -> Result<Scenario, ScriptError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| ScriptError::plain(path, format!("cannot read the script: {e}")))?;
        if meta.is_dir() {
            return Err(ScriptError::plain(path, "is a directory, not a script"));
        }
        if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            return Err(ScriptError::plain(
                path,
                "is a model file (.yaml), not a scenario script (.rhai): pass a model with \
                 --model, and give the command a script",
            ));
        }
        let limit = engine::limits::MAX_SCRIPT_BYTES;
        let too_big = || {
            ScriptError::plain(
                path,
                format!("scripts are limited to {limit} bytes, and this one is larger"),
            )
        };
        if meta.len() > limit {
            return Err(too_big());
        }
        // A device or a pipe reports no size: read no more than the limit allows.
        let bytes = chokepoint_core::load::read_at_most(path, limit)
            .map_err(|e| ScriptError::plain(path, format!("cannot read the script: {e}")))?
            .ok_or_else(too_big)?;
        if let Some(utf16) = chokepoint_core::load::utf16_kind(&bytes) {
            return Err(ScriptError::plain(
                path,
                format!(
                    "the script is {utf16} text (Windows may call it \"Unicode\"), not UTF-8: \
                     save it as UTF-8"
                ),
            ));
        }
        let source = String::from_utf8(bytes).map_err(|e| {
            let place = chokepoint_core::load::bad_utf8_place(&e);
            ScriptError::plain(
                path,
                format!("the script is not UTF-8 text ({place}: save it as UTF-8)"),
            )
        })?;
        // A byte-order mark is not code, and old Mac line ends (a lone CR) are line ends:
        // the header lines must read as the parser's lines do.
        let source = source.strip_prefix('\u{feff}').unwrap_or(&source);
        let source = if source.contains('\r') {
            source.replace("\r\n", "\n").replace('\r', "\n")
        } else {
            source.to_string()
        };
        Scenario::compile(path, &source, scripts_root)
    }

    pub fn compile(
        path: &Path,
        source: &str,
        scripts_root: &Path,
    ) -> Result<Scenario, ScriptError> {
        // Rhai places code by 16-bit line and column: past them, an error or expectation
        // would name a wrong line (65,535) rather than its own.
        const MOST: usize = u16::MAX as usize;
        let lines = source.lines().count();
        if lines > MOST {
            return Err(ScriptError::plain(
                path,
                format!("the script has {lines} lines: a script may have at most {MOST}"),
            ));
        }
        if let Some((i, line)) =
            (source.lines().enumerate()).find(|(_, l)| l.chars().count() > MOST)
        {
            let mut e = ScriptError::plain(
                path,
                format!(
                    "line {} has {} characters: a line may have at most {MOST} (break it up)",
                    i + 1,
                    line.chars().count()
                ),
            );
            e.line = Some(i + 1);
            return Err(e);
        }
        // A control character (a NUL, say) is not script text: Rhai would call it an
        // unexpected '?', with no hint that the file is binary or in another encoding.
        let control = |ch: char| ch.is_control() && !matches!(ch, '\t' | '\n' | '\r');
        if let Some((i, line)) = (source.lines().enumerate()).find(|(_, l)| l.contains(control)) {
            let (at, ch) = (line.chars().enumerate())
                .find(|&(_, ch)| control(ch))
                .unwrap_or((0, ' '));
            let mut e = ScriptError::plain(
                path,
                format!(
                    "the script holds a control character (U+{:04X}) at line {}, column {}: a \
                     script is plain UTF-8 text (is this file binary, or saved as UTF-16?)",
                    ch as u32,
                    i + 1,
                    at + 1
                ),
            );
            e.line = Some(i + 1);
            e.column = Some(at + 1);
            // Shown as a visible symbol (U+2400 on), not sent raw to the terminal.
            let visible = |ch: char| match ch as u32 {
                c if c < 0x20 => char::from_u32(0x2400 + c).unwrap_or('?'),
                0x7f => '\u{2421}',
                _ if control(ch) => '?',
                _ => ch,
            };
            e.source_line = Some(line.chars().map(visible).collect());
            return Err(e);
        }
        // A header line given twice is a mistake to name, not a choice to make silently.
        let mut seen: Vec<&str> = Vec::new();
        for (i, line) in source.lines().enumerate() {
            let t = line.trim();
            let Some(rest) = t.strip_prefix("//") else {
                if t.is_empty() {
                    continue;
                }
                break;
            };
            if let Some((key, _)) = rest.trim().split_once(':') {
                let key = key.trim();
                if ["model", "title"].contains(&key) {
                    if seen.contains(&key) {
                        let mut e = ScriptError::plain(
                            path,
                            format!("the `// {key}:` header is given twice; keep one"),
                        );
                        e.line = Some(i + 1);
                        e.column = Some(1);
                        e.source_line = Some(line.to_string());
                        return Err(e);
                    }
                    seen.push(key);
                }
            }
        }
        // Rhai reads a `/*` never closed as a comment to the end: the rest of the script,
        // its expectations too, would quietly not run.
        if let Some((i, column)) = unclosed_comment(source) {
            let mut e = ScriptError::plain(
                path,
                "this `/*` comment is never closed (`*/`), so everything after it would be \
                 skipped: close it"
                    .to_string(),
            );
            e.line = Some(i + 1);
            e.column = Some(column);
            e.source_line = source.lines().nth(i).map(str::to_string);
            return Err(e);
        }
        // A `// model:` line below the first statement is not read (a header is the comment
        // lines before any code): the run would use world-2024 while the file names another.
        if let Some((i, column, first)) = late_model_line(source) {
            let mut e = ScriptError::plain(
                path,
                format!(
                    "the `// model:` line comes after the script's first statement (line {}), \
                     where it is not read: a script's header is the comment lines before any \
                     code, so move it up",
                    first + 1
                ),
            );
            e.line = Some(i + 1);
            e.column = Some(column);
            e.source_line = source.lines().nth(i).map(str::to_string);
            return Err(e);
        }
        // A header line that nearly names a field (`// model : x`, `// modle: x`) is not
        // read: the run would quietly take the default model.
        if let Some((i, column, typed, key)) = near_header_key(source) {
            let mut e = ScriptError::plain(
                path,
                format!(
                    "`// {typed}:` reads like the `// {key}:` header, but only `// {key}: ...` \
                     (the colon right after the word) is read as one, so this line would be \
                     skipped: write it so, or reword the comment"
                ),
            );
            e.line = Some(i + 1);
            e.column = Some(column);
            e.source_line = source.lines().nth(i).map(str::to_string);
            return Err(e);
        }
        // The horizon says what the run covers: one that does not read as two dates, in
        // order, is a mistake in the file, as an unparsable date elsewhere is. (The header
        // line the run reads: the first.)
        if let Some(h) = header_field(source, "horizon") {
            let why = match horizon_dates(&h) {
                None => Some("is not two dates, 'YYYY-MM-DD to YYYY-MM-DD'"),
                Some((a, b)) if b < a => Some("ends before it starts"),
                _ => None,
            };
            if let Some(why) = why {
                let (i, line) = (source.lines().enumerate())
                    .find(|(_, l)| {
                        let rest = l.trim().trim_start_matches("//").trim_start();
                        (rest.get(..8)).is_some_and(|k| k.eq_ignore_ascii_case("horizon:"))
                    })
                    .unwrap_or((0, ""));
                let mut e =
                    ScriptError::plain(path, format!("the `// horizon:` header '{h}' {why}"));
                e.line = Some(i + 1);
                e.column = Some(line.find(h.as_str()).map_or(1, |c| c + 1));
                e.source_line = Some(line.to_string());
                return Err(e);
            }
        }
        // A baseline named in the header is there (`test` replays no baseline, and would
        // not find a name gone wrong).
        if let Some((i, b)) = header_line(source, "baseline") {
            let dir = path.parent().unwrap_or(Path::new("."));
            let file = dir.join(&b);
            let same = |p: &Path| p.canonicalize().ok();
            let why = match b.as_str() {
                b if b.eq_ignore_ascii_case("none") => None,
                "" => Some("no scenario".to_string()),
                _ if !file.is_file() => Some(format!("'{b}', which is not a file there")),
                _ if file.extension().is_none_or(|x| x != "rhai") => {
                    Some(format!("'{b}', which is not a scenario script (.rhai)"))
                }
                _ if same(&file) == same(path) => Some(format!("'{b}', the scenario itself")),
                _ => None,
            };
            if let Some(named) = why {
                let line = source.lines().nth(i - 1).unwrap_or_default();
                let mut e = ScriptError::plain(
                    path,
                    format!(
                        "the `// baseline:` header names {named}: a path from the script's \
                         directory, or none"
                    ),
                );
                e.line = Some(i);
                e.column = Some(match b.as_str() {
                    "" => line.len() + 1,
                    b => line.find(b).map_or(1, |c| c + 1),
                });
                e.source_line = Some(line.to_string());
                return Err(e);
            }
        }
        let engine = build_engine(None, scripts_root);
        let ast = engine
            .compile(source)
            .map_err(|e| ScriptError::from_parse(path, source, &e))?;
        if let Some((at, why)) = mixed_comparison(&ast) {
            let e = rhai::EvalAltResult::ErrorRuntime(why.into(), at);
            return Err(ScriptError::from_eval(path, source, &e));
        }
        Ok(Scenario {
            path: path.to_path_buf(),
            source: source.to_string(),
            ast,
            scripts_root: scripts_root.to_path_buf(),
            modules_checked: Default::default(),
        })
    }

    /// Whether the script's own text (not its comments) writes `text` as a string literal,
    /// "text" or `text`: a plant it may build under that id, say.
    pub fn writes_literal(&self, text: &str) -> bool {
        let code = without_comments(&self.source);
        code.contains(&format!("\"{text}\"")) || code.contains(&format!("`{text}`"))
    }

    /// The script's text followed by the text of each module it imports by a literal path,
    /// recursively, in the order met: everything of the scenario a run depends on besides
    /// the model and the parameters (what a sweep's shards must share).
    pub fn full_source(&self) -> String {
        let mut out = self.source.clone();
        let mut seen = std::collections::BTreeSet::new();
        let mut queue = literal_imports(&self.source);
        queue.reverse();
        while let Some(module) = queue.pop() {
            if !seen.insert(module.clone()) {
                continue;
            }
            // As the resolver names it: an extension the import has is replaced.
            let mut file = self.scripts_root.join(&module);
            file.set_extension("rhai");
            let text = chokepoint_core::load::read_at_most(&file, engine::limits::MAX_SCRIPT_BYTES)
                .ok()
                .flatten()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            out.push_str(&format!("\n// module {module}\n{text}"));
            let mut more = literal_imports(&text);
            more.reverse();
            queue.extend(more);
        }
        out
    }

    /// The parameter names the scenario (with its modules) reads by a literal
    /// `param("name", ...)`: a `--set` of one of them is meant, even when the run that
    /// checks it never reaches the call (a trigger that did not fire, a branch not taken).
    pub fn literal_params(&self) -> std::collections::BTreeSet<String> {
        param_calls(&self.full_source())
            .into_iter()
            .flatten()
            .collect()
    }

    /// The `// model:` line of the header, if any.
    pub fn model_hint(&self) -> Option<String> {
        header_field(&self.source, "model")
    }

    pub fn title(&self) -> Option<String> {
        header_field(&self.source, "title")
    }

    /// The `// horizon: A to B` header describes the run; the model's start and `run_until`
    /// (or the model's end) decide it. Where they part (a run that starts before or after A,
    /// stops short of B, or runs past it), say so: a reader trusts the header. (One that is
    /// not two dates in order does not compile.)
    fn horizon_disagrees(&self, model: &Model, last: chokepoint_core::Date) -> Vec<String> {
        let Some((a, b)) = header_field(&self.source, "horizon").and_then(|h| horizon_dates(&h))
        else {
            return Vec::new();
        };
        let step_days = model.step_days as i32;
        let mut said = Vec::new();
        // (A date within the first step is that step.)
        if a < model.start || a > model.start.add_days(step_days - 1) {
            said.push(format!(
                "the `// horizon:` header starts on {a}, but the run starts on {}, the start of \
                 the model {} (every run starts there; the header only says it)",
                model.start, model.name
            ));
        }
        let last_day = last.add_days(step_days - 1);
        if b < last || b > last_day {
            said.push(format!(
                "the `// horizon:` header ends on {b}, but the run's last step began on {last} \
                 (run_until decides where a run ends; the header only says it)"
            ));
        }
        said
    }

    /// Checks the ids written as literals where a function takes an id of a kind the model
    /// fixes (countries, firms, groups, sectors, stockpiles, elements, forms, commodities,
    /// markets, stages: a script cannot add to them), in arguments and in options maps
    /// (`to:`, `elements:`), in actions, triggers, strategies and functions: one that never
    /// runs would otherwise never be checked, and a script ported to another model could
    /// pass with ids that model does not have anywhere. (Facilities are not checked: `build`
    /// adds them; nor labels, which a run gives its levers; nor a call of the script's own
    /// function of a lever's name. Nor are ids built at run time, or passed to a module's
    /// functions as arguments; a module's own literals are checked, at its file and line.)
    pub fn check_named(&self, model: &Model) -> Result<(), ScriptError> {
        self.check_named_besides(model, &[])
    }

    /// As [`Scenario::check_named`], with functions defined elsewhere (a REPL session's
    /// earlier inputs: name and arity) counted as the script's own.
    pub fn check_named_besides(
        &self,
        model: &Model,
        also_own: &[(String, usize)],
    ) -> Result<(), ScriptError> {
        self.check_own(model, also_own)?;
        self.check_modules(model)
    }

    /// The script's own text checked (not the modules it imports).
    fn check_own(&self, model: &Model, also_own: &[(String, usize)]) -> Result<(), ScriptError> {
        use reference::IdKind;
        use rhai::{ASTNode, EvalAltResult, Expr, Position, Stmt};
        static PARAMS: std::sync::OnceLock<BTreeMap<String, Vec<Vec<String>>>> =
            std::sync::OnceLock::new();
        let params = PARAMS.get_or_init(|| reference::lever_params(&reference::reference()));
        // The string literals of an argument: itself, or the items of an array (folded into
        // one constant when all are literals: then the array's place stands for each). An
        // option's are labelled as the lever names them ("to[0]: ", "firm: ").
        type Found = (String, Position, IdKind, String);
        fn literals(e: &Expr, kind: IdKind, key: Option<&str>, out: &mut Vec<Found>) {
            let label = |i: Option<usize>| match (key, i) {
                (Some(k), Some(i)) => format!("{k}[{i}]: "),
                (Some(k), None) => format!("{k}: "),
                (None, _) => String::new(),
            };
            match e {
                Expr::StringConstant(s, at) => out.push((s.to_string(), *at, kind, label(None))),
                Expr::Array(items, _) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Expr::StringConstant(s, at) = item {
                            out.push((s.to_string(), *at, kind, label(Some(i))));
                        } else {
                            literals(item, kind, key, out);
                        }
                    }
                }
                Expr::DynamicConstant(v, at) => {
                    let (items, listed) = match v.clone().try_cast::<rhai::Array>() {
                        Some(items) => (items, true),
                        None => (vec![(**v).clone()], false),
                    };
                    for (i, item) in items.into_iter().enumerate() {
                        if let Some(s) = item.try_cast::<rhai::ImmutableString>() {
                            let l = label(listed.then_some(i));
                            out.push((s.to_string(), *at, kind, l));
                        }
                    }
                }
                _ => {}
            }
        }
        let mut found: Option<EvalAltResult> = None;
        // A function of the script's own with a lever's name and arity is the one called.
        let own: Vec<(String, usize)> = (self.ast.iter_functions())
            .map(|f| (f.name.to_string(), f.params.len()))
            .chain(also_own.iter().cloned())
            .collect();
        // Calls at the top level run (or fail with the lever's own, fuller message); those in
        // functions and closures (actions, triggers, strategies) may never run.
        self.ast
            .clone_functions_only()
            .walk(&mut |path: &[ASTNode]| {
                let call = match path.last() {
                    Some(ASTNode::Expr(Expr::FnCall(call, _))) => call,
                    Some(ASTNode::Stmt(Stmt::FnCall(call, _))) => call,
                    _ => return true,
                };
                if !call.namespace.is_empty() {
                    return true;
                }
                let name = call.name.as_str();
                if own.iter().any(|(n, k)| n == name && *k == call.args.len()) {
                    return true;
                }
                // The overload with as many parameters as the call has arguments.
                let Some(names) = (params.get(name).into_iter().flatten())
                    .find(|names| names.len() == call.args.len())
                else {
                    return true;
                };
                let mut ids = Vec::new();
                for (arg, param) in call.args.iter().zip(names) {
                    match arg {
                        Expr::Map(map, _) => {
                            for (key, value) in map.0.iter() {
                                if let Some(kind) = IdKind::of_option(&key.name) {
                                    literals(value, kind, Some(&key.name), &mut ids);
                                }
                            }
                        }
                        // A map of literals only, folded into one constant.
                        Expr::DynamicConstant(v, at) if v.is_map() => {
                            let map = v.clone().cast::<rhai::Map>();
                            for (key, value) in map {
                                if let Some(kind) = IdKind::of_option(&key) {
                                    let value = Expr::DynamicConstant(Box::new(value), *at);
                                    literals(&value, kind, Some(&key), &mut ids);
                                }
                            }
                        }
                        _ => {
                            if let Some(kind) = IdKind::of_param(name, param) {
                                literals(arg, kind, None, &mut ids);
                            }
                        }
                    }
                }
                for (id, at, kind, label) in ids {
                    if let Err(e) = known_id(model, kind, &id) {
                        found = Some(EvalAltResult::ErrorRuntime(
                            format!("{name}: {label}{e}").into(),
                            at,
                        ));
                        return false;
                    }
                }
                // A policy's numbers written as literals (an approval of 1.5) are checked as
                // its ids are: in a trigger that never fires, `test` would pass it.
                if let Some((why, at)) = literal_policy_numbers(model, name, &call.args) {
                    found = Some(EvalAltResult::ErrorRuntime(why.into(), at));
                    return false;
                }
                true
            });
        match found {
            None => Ok(()),
            Some(e) => {
                let mut error = ScriptError::from_eval(&self.path, &self.source, &e);
                error.help = Some(format!(
                    "the ids {} fixes, and numbers written into a policy's options, are checked \
                     before the run in actions, triggers and functions, whether they run or not",
                    model.name
                ));
                Err(error)
            }
        }
    }

    /// The modules the script imports by a literal path, checked as the script is (their
    /// functions' literal ids, at their own file and line): a typo in a library function
    /// the run calls late, or never, is found before the run. A module that cannot be read
    /// or parsed is left to the run, which says so where it imports it.
    fn check_modules(&self, model: &Model) -> Result<(), ScriptError> {
        // Once per model (by its address: the same model runs share).
        let key = model as *const Model as usize;
        let mut checked = self
            .modules_checked
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((_, result)) = checked.as_ref().filter(|(k, _)| *k == key) {
            return result.clone();
        }
        let result = self.check_modules_now(model);
        *checked = Some((key, result.clone()));
        result
    }

    /// [`Scenario::check_modules`], done.
    fn check_modules_now(&self, model: &Model) -> Result<(), ScriptError> {
        let mut seen = std::collections::BTreeSet::new();
        let mut queue = literal_imports(&self.source);
        while let Some(module) = queue.pop() {
            if !seen.insert(module.clone()) {
                continue;
            }
            // As the resolver names it: an extension the import has is replaced.
            let mut file = self.scripts_root.join(&module);
            file.set_extension("rhai");
            let Ok(m) = Scenario::load(&file, &self.scripts_root) else {
                continue;
            };
            queue.extend(literal_imports(&m.source));
            m.check_own(model, &[])?;
        }
        Ok(())
    }

    /// The modules the script imports at its top level, registered under their aliases, so
    /// that actions the clock fires after the script's last line (a script that never moves
    /// the clock runs to the end once it has finished) still reach them, as they would from
    /// an explicit `run_to_end()` at that line. The resolver caches each module: none is
    /// evaluated again.
    fn keep_imports(&self, engine: &mut rhai::Engine) -> Result<(), Box<rhai::EvalAltResult>> {
        use rhai::{Expr, Stmt};
        for stmt in self.ast.statements() {
            let Stmt::Import(x, _) = stmt else { continue };
            let (Expr::StringConstant(path, at), alias) = (&x.0, &x.1) else {
                continue;
            };
            if alias.name.is_empty() {
                continue;
            }
            let module = engine.module_resolver().resolve(engine, None, path, *at)?;
            engine.register_static_module(alias.name.as_str(), module);
        }
        Ok(())
    }

    /// Runs the scenario on `model`.
    pub fn run(&self, model: &Arc<Model>, opts: &RunOptions) -> Result<Outcome, ScriptError> {
        self.check_named(model)?;
        let handle = HostHandle::new(model, opts.seed, opts.params.clone());
        {
            let mut h = handle.lock();
            h.script_fns = Some(
                self.ast
                    .iter_functions()
                    .map(|f| f.name.to_string())
                    .collect(),
            );
            // A limit too far off to represent is no limit.
            h.set_deadline(Instant::now().checked_add(opts.time_limit));
            if let Some(c) = &opts.cancel {
                h.cancel = c.clone();
            }
        }
        let mut engine = build_engine(Some(&handle), &self.scripts_root);
        let mut scope = Scope::new();
        let result = engine.run_ast_with_scope(&mut scope, &self.ast);
        let result = result.and_then(|_| {
            // A script that never moved the clock runs to the model's end; one that did has
            // said where its story ends.
            let (told, step, horizon) = {
                let h = handle.lock();
                (h.clock_called, h.sim.step, h.sim.model.horizon_steps())
            };
            let target = if opts.finish && !told && step == 0 {
                Some(opts.finish_steps.map_or(horizon, |n| n.min(horizon)))
            } else {
                (opts.drive_to)
                    .map(|n| n.min(horizon))
                    .filter(|&n| n > step)
            };
            match target {
                Some(target) => {
                    self.keep_imports(&mut engine)?;
                    runner::advance(&handle, target, &mut |f| {
                        f.call::<Dynamic>(&engine, &self.ast, ())
                    })
                }
                None => Ok(()),
            }
        });
        drop(engine);
        if let Err(e) = result {
            let mut error = ScriptError::from_eval(&self.path, &self.source, &e);
            error.locate_module(&self.scripts_root);
            let mut h = handle.lock();
            let past_limit = h.printed_past_limit();
            error.printed = std::mem::take(&mut h.output);
            error.printed.extend(past_limit);
            // Claims that had already failed are results too: fixing the error must not be
            // how they come to light.
            for e in h.expectations.iter().filter(|e| !e.passed) {
                error.printed.push(format!(
                    "expectation failed before the error: {}: {}{}",
                    e.place(),
                    e.message,
                    if e.detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", e.detail)
                    }
                ));
            }
            // Where in simulated time it failed: an action or trigger fails on a date.
            if h.failed_driving && h.sim.step < h.sim.model.horizon_steps() {
                // An action or trigger failed as its step began.
                error
                    .chain
                    .push(format!("when the run was at the step of {}", h.sim.date()));
            } else if h.sim.step > 0 {
                // The script's own line, once the clock had stopped.
                error.chain.push(format!(
                    "after the run's step of {} (where the clock stopped)",
                    h.sim.last_date()
                ));
            }
            // The stop itself, not another error raised once the deadline had passed.
            error.timed_out = h.stopped() == Some(host::PAST_TIME_LIMIT)
                && error.message.contains(host::PAST_TIME_LIMIT);
            if error.timed_out {
                error.help = Some(format!(
                    "the run may take {} s of wall-clock time (`--time-limit SECONDS` sets it)",
                    opts.time_limit.as_secs_f64()
                ));
            }
            return Err(error);
        }
        let mut host = match Arc::try_unwrap(handle.0) {
            Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()),
            Err(_) => {
                return Err(ScriptError::plain(
                    &self.path,
                    "internal: the run is still referenced",
                ))
            }
        };
        let end = host.sim.last_date();
        // A script that stops the clock before the first step (`step(0)` its only clock
        // call) simulated nothing: its figures are no run's.
        let no_step = (host.sim.step == 0).then(|| {
            format!(
                "the run took no step: the script stopped the clock before the model's first \
                 step ({}), so nothing was simulated and there are no figures to read (`step(0)` \
                 moves the clock by nothing; a script without step or run_until runs to the \
                 model's end)",
                host.sim.date()
            )
        });
        let warnings = no_step
            .into_iter()
            .chain(
                host.schedule
                    .iter()
                    .filter(|s| s.every == 0 && s.months == 0)
                    .map(|s| {
                        let line =
                            s.at.line()
                                .map(|l| format!("line {l}: "))
                                .unwrap_or_default();
                        format!(
                            "{line}the action set up for {} never ran: the run ended on {end}",
                            s.due
                        )
                    }),
            )
            // A lever the script pulls after the last step (after its last `run_until`) is
            // in the log but never acted. (A rule pulling one as the clock's last step ends
            // is a rule applied as usual.)
            .chain(
                host.levers
                    .iter()
                    .filter(|l| l.step >= host.sim.step && !l.by_rule)
                    .map(|l| {
                        format!(
                            "{} ({}) was pulled after the run's last step, {end}: it never acted",
                            l.name, l.summary
                        )
                    }),
            )
            .chain(self.horizon_disagrees(&host.sim.model, end))
            .collect();
        let warnings = collapse_repeats(warnings);
        // One a rule pulled as the clock's last step ended is the rule applied as usual, but
        // it never acted either: said, so a log that counts it is not read as an effect.
        let past_limit = host.printed_past_limit();
        let mut output = host.output;
        output.extend(past_limit);
        // A contract the script signed that never delivered: its buyers were supplied
        // otherwise (it gives up to what they lack), or nobody needed its goods.
        if host.levers.iter().any(|l| l.name == "contract") {
            let m = &host.sim.model;
            let signed = |k: &&chokepoint_core::sim::Contract| {
                !(m.contracts.iter()).any(|c| {
                    (c.facility, c.country, c.firm, c.share)
                        == (k.facility, k.country, k.firm, k.share)
                })
            };
            let made = |f: usize| host.sim.made_by(f) > 0.0;
            for ct in (host.sim.contracts.iter())
                .filter(signed)
                .filter(|k| k.share > 0.0 && k.delivered <= 0.0 && made(k.facility))
            {
                output.push(format!(
                    "note: contract: {} to {} delivered nothing over the run: a contract \
                     gives its buyers up to what they lack, and they lacked nothing (other \
                     supply, another contract, or no plant there running)",
                    m.facilities[ct.facility].id, m.countries[ct.country].id
                ));
            }
        }
        // A stockpile the script set buying that the market could not fill: the order is in
        // the log of levers, and what it bought would otherwise pass for what it ordered.
        if (host.levers.iter())
            .any(|l| matches!(l.name.as_str(), "stockpile_buy" | "stockpile_target"))
        {
            let m = &host.sim.model;
            for (sp, st) in m.stockpiles.iter().enumerate() {
                // In the stockpile's own tonnes, as `stockpile_buy` takes them and its
                // `stockpile` series shows them (the engine counts rare-earth content).
                let own = m.forms[st.form].re_share;
                let (asked, got) = (
                    host.sim.stockpile_asked[sp] / own,
                    host.sim.stockpile_got[sp] / own,
                );
                if asked > 1.0 && got < 0.9 * asked {
                    output.push(format!(
                        "note: stockpile {} got {} t of the {} t it asked the market for over the \
                         run ({:.0}%): it buys what sellers have left after other buyers, at the \
                         market price, and they had no more to spare (its `stockpile` series \
                         shows what it holds)",
                        st.id,
                        whole_tonnes(got),
                        whole_tonnes(asked),
                        100.0 * got / asked
                    ));
                }
            }
        }
        // A stockpile set releasing that released nothing over the run: its goods found no
        // buyer (none was short of them, or nobody in its country uses them). Said once a
        // stockpile, from the engine's count of what left it.
        let mut said_release: Vec<&str> = Vec::new();
        let mut said_ended: Vec<&str> = Vec::new();
        for (i, l) in host.levers.iter().enumerate() {
            if l.name != "stockpile_release" {
                continue;
            }
            let m = &host.sim.model;
            let Some(id) = l.summary.split(' ').next() else {
                continue;
            };
            // A lever on the same stockpile pulled in the same step ends the release before
            // it could sell a tonne (a stockpile buys or sells, not both): that, not a want
            // of buyers, is why nothing left it.
            let ended = (host.levers[i + 1..].iter()).find(|n| {
                n.step == l.step
                    && n.summary.split(' ').next() == Some(id)
                    && ["stockpile_buy", "stockpile_target", "stockpile_release"]
                        .contains(&n.name.as_str())
            });
            if let Some(n) = ended {
                // (`stockpile_target` says so as it is pulled; a later release replaces it;
                // one pulled after the run's last step is said never to act.)
                if n.name == "stockpile_buy" && l.step < host.sim.step && !said_ended.contains(&id)
                {
                    said_ended.push(id);
                    output.push(format!(
                        "note: stockpile_release: {id}'s release from {} was ended the same \
                         step by stockpile_buy, so it sold nothing (a stockpile buys or sells, \
                         not both)",
                        l.date
                    ));
                }
                continue;
            }
            let Some(sp) = m.stockpiles.iter().position(|s| s.id == id) else {
                continue;
            };
            if l.summary.contains("releases 0 t/yr")
                || l.step >= host.sim.step
                || said_release.contains(&id)
                || host.sim.stockpile_released[sp] > 1e-9
            {
                continue;
            }
            said_release.push(id);
            let st = &m.stockpiles[sp];
            output.push(format!(
                "note: stockpile_release: {id} released nothing from {} to the run's end: no \
                 buyer in {} took its {} (none was short of it, or no sector or plant there \
                 uses it)",
                l.date, m.countries[st.country].id, m.forms[st.form].id
            ));
        }
        output.extend(sold_out_early(&host.sim, &host.levers));
        output.extend(rate_bound(&host.sim, &host.levers));
        output.extend(idle_routes(&host.sim, &host.routes_queried));
        output.extend(idle_queries(&host.sim, &host.idle_queried));
        // Goods a ban caught in a licence queue and still holds: counted as traded when
        // ordered, never delivered.
        for (x, q) in host
            .sim
            .held_in_queue()
            .into_iter()
            .filter(|&(_, q)| q > 1e-6)
        {
            output.push(format!(
                "note: {} t waiting in {}'s licence queue were held by a ban or entity listing at \
                 the run's end: they count in trade, exports and imports when ordered, and reach \
                 their buyers only if the control lifts (see licence_queue)",
                whole_tonnes(q),
                host.sim.model.countries[x].id
            ));
        }
        for l in (host.levers.iter()).filter(|l| l.step >= host.sim.step && l.by_rule) {
            output.push(format!(
                "note: {} ({}) was pulled by a rule as the run's last step ended, {end}: it never \
                 acted",
                l.name, l.summary
            ));
        }
        // Nor is it in the log of levers pulled (dated after the run, counted as acting).
        let mut levers = host.levers;
        let steps = host.sim.step;
        levers.retain(|l| !(l.by_rule && l.step >= steps));
        Ok(Outcome {
            sim: host.sim,
            expectations: host.expectations,
            levers,
            output,
            params: host.params_used,
            warnings,
            baseline: None,
            baseline_script: None,
            baseline_source: None,
        })
    }
}

/// A stockpile released at a rate that sold out before its country's users of its form were
/// first short: the release went to the market (abroad too) while nobody needed it, so it
/// was not there for the shortage (a JOGMEC release set with a ban on Japan sold its 560 t
/// in the ten weeks before Japan's magnet users ran short: review, 2026-12-01). Said once a
/// stockpile, from the recorded series.
fn sold_out_early(sim: &Sim, levers: &[crate::host::LeverCall]) -> Vec<String> {
    let (m, series) = (&sim.model, &sim.series);
    let mut out: Vec<String> = Vec::new();
    let mut said: Vec<&str> = Vec::new();
    for l in (levers.iter()).filter(|l| l.name == "stockpile_release") {
        let Some(id) = l.summary.split(' ').next() else {
            continue;
        };
        let Some(sp) = m.stockpiles.iter().position(|s| s.id == id) else {
            continue;
        };
        if l.summary.ends_with("as needed") || l.summary.contains("releases 0 t/yr") {
            continue;
        }
        let (Some(held), true) = (series.find("stockpile", id), !said.contains(&id)) else {
            continue;
        };
        let held = series.column(held);
        let from = l.step.min(held.len());
        let start = held.get(from).copied().unwrap_or(0.0);
        let Some(empty) = (from..held.len()).find(|&i| held[i] <= 1e-6 * start.max(1.0)) else {
            continue;
        };
        let (x, form) = (m.stockpiles[sp].country, m.stockpiles[sp].form);
        // Its country's users of its form: short before the release began (then the
        // release was not early), and next short after it.
        let key = format!("{}/{}", m.forms[form].id, m.countries[x].id);
        let Some(col) = series.find("shortfall", &key) else {
            continue;
        };
        let v = series.column(col);
        if v[..from.min(v.len())].iter().any(|&s| s > 0.01) {
            continue;
        }
        let Some(short) = (from..v.len())
            .find(|&i| v[i] > 0.01)
            .filter(|&i| i > empty)
        else {
            continue;
        };
        said.push(id);
        out.push(format!(
            "note: stockpile_release: {id} sold out by {}, before {}'s users of {} were first \
             short ({}; the shortfall may be of elements it does not hold): a release at a \
             rate sells into the market from when it is set, to buyers abroad too; \
             `stockpile_release(\"{id}\", rate, #{{ as_needed: true }})` keeps it for its \
             country's gaps, or set the release from a `when` on the shortage",
            series.dates[empty], m.countries[x].id, m.forms[form].id, series.dates[short]
        ));
    }
    out
}

/// A stockpile released as needed whose rate, not its holding, limited what it gave: weeks
/// it released its whole rate while its country's users of its form were still short and
/// it held more (a sweep over holdings stuck at one peak shortfall, thousands of tonnes
/// unused, with nothing saying why: analyst review, 2026-12-01). Said once a lever, from
/// the recorded series.
/// Routes of trade by form the script queried that nothing could use when the run began
/// and nothing used by its end: one note naming them (a loop over partners and forms
/// queries many), so an expectation on them is not read as tested.
fn idle_routes(sim: &Sim, queried: &[String]) -> Option<String> {
    let idle: Vec<&str> = (queried.iter())
        .filter(|k| {
            let col = sim.series.find("trade_by_form", k);
            col.is_some_and(|c| sim.series.column(c).iter().all(|&v| v == 0.0))
        })
        .map(String::as_str)
        .collect();
    let shown = match idle.len() {
        0 => return None,
        1..=6 => idle.join(", "),
        n => format!("{}, and {} more", idle[..5].join(", "), n - 5),
    };
    let (n, are, them) = match idle.len() {
        1 => ("a route".to_string(), "it is", "it"),
        n => (format!("{n} routes"), "they are", "them"),
    };
    Some(format!(
        "note: trade by form: the script queried {n} no seller and buyer in {} use ({shown}): \
         {are} 0 throughout, and an expectation on {them} tests nothing (a plant a lever builds \
         in the exporter opens such a route)",
        sim.model.name
    ))
}

/// The stage and pair queries (`production`, `dependency`, `trade`) that read 0 throughout
/// because nothing in the model does what they count, as the run ended (a plant built
/// during it counts): one note naming them, or none.
fn idle_queries(sim: &Sim, queried: &[(&'static str, usize, usize)]) -> Option<String> {
    let m = &sim.model;
    let zero = |metric: &str, key: &str| {
        let col = sim.series.find(metric, key);
        col.is_some_and(|c| sim.series.column(c).iter().all(|&v| v == 0.0))
    };
    let mut idle: Vec<String> = Vec::new();
    for &(call, a, b) in queried {
        // (call, exporter, importer) for `trade`; (call, stage, country) for the others.
        let (key, none) = match call {
            "trade" => {
                let (x, y) = (&m.countries[a].id, &m.countries[b].id);
                let none =
                    !(0..m.forms.len()).any(|f| sim.anyone_sells(a, f) && sim.anyone_buys(b, f));
                (format!("{x}>{y}"), none)
            }
            _ => {
                let none = !(m.facilities.iter()).any(|f| f.stage == a && f.country == b);
                (format!("{}/{}", m.stages[a], m.countries[b].id), none)
            }
        };
        if none && zero(call, &key) {
            idle.push(format!("{call}[{key}]"));
        }
    }
    let shown = match idle.len() {
        0 => return None,
        1..=8 => idle.join(", "),
        n => format!("{}, and {} more", idle[..7].join(", "), n - 7),
    };
    let (are, them) = match idle.len() {
        1 => ("it is", "it"),
        _ => ("they are", "them"),
    };
    Some(format!(
        "note: the script queried what nothing in {} does ({shown}: no plant of that stage in \
         that country, or nothing the one country could sell the other uses): {are} 0 \
         throughout, and an expectation on {them} tests nothing",
        m.name
    ))
}

fn rate_bound(sim: &Sim, levers: &[crate::host::LeverCall]) -> Vec<String> {
    let (m, series) = (&sim.model, &sim.series);
    let spy = m.steps_per_year();
    let mut out: Vec<String> = Vec::new();
    let releases: Vec<&crate::host::LeverCall> = (levers.iter())
        .filter(|l| l.name == "stockpile_release")
        .collect();
    for (n, l) in releases.iter().enumerate() {
        // "{id} releases {t} t/yr, as needed", as the lever logs it.
        let Some((id, rest)) = l.summary.split_once(" releases ") else {
            continue;
        };
        let as_needed = rest.strip_suffix(" t/yr, as needed");
        let Some(rate) = as_needed.and_then(|t| t.parse::<f64>().ok()) else {
            continue;
        };
        let Some(sp) = m.stockpiles.iter().position(|s| s.id == id) else {
            continue;
        };
        let (Some(held), true) = (series.find("stockpile", id), rate > 0.0) else {
            continue;
        };
        let (x, form) = (m.stockpiles[sp].country, m.stockpiles[sp].form);
        let key = format!("{}/{}", m.forms[form].id, m.countries[x].id);
        let Some(short) = series.find("shortfall", &key) else {
            continue;
        };
        let (held, short) = (series.column(held), series.column(short));
        // Until the next release set on it, or the run's end.
        let until = (releases[n + 1..].iter())
            .find(|k| {
                k.summary
                    .split_once(" releases ")
                    .is_some_and(|(k, _)| k == id)
            })
            .map_or(held.len(), |k| k.step.min(held.len()));
        let week = rate / spy;
        let bound: Vec<usize> = (l.step.max(1)..until.min(short.len()))
            .filter(|&i| {
                held[i - 1] - held[i] >= 0.98 * week && held[i] > 0.5 * week && short[i] > 0.01
            })
            .collect();
        let Some(&worst) = bound
            .iter()
            .max_by(|&&a, &&b| short[a].total_cmp(&short[b]))
        else {
            continue;
        };
        let weeks = match bound.len() {
            1 => "1 step".to_string(),
            k => format!("{k} steps"),
        };
        out.push(format!(
            "note: stockpile_release: {id} gave its whole rate, {} t/yr, in {weeks} when {}'s \
             users of {} were still short (up to {:.1}% in the step of {}) and it held more ({} t \
             then): the rate, not the holding, limited what it gave; a higher rate fills more of \
             each step's gap",
            whole_tonnes(rate),
            m.countries[x].id,
            m.forms[form].id,
            100.0 * short[worst],
            series.dates[worst],
            whole_tonnes(held[worst])
        ));
    }
    out
}

/// The first error in the numbers a policy lever's options map gives as literals
/// (`approval`, `delay_days`, `tonnes_per_year`, `threshold`), checked as the lever checks
/// them when it runs, with the place of the bad value.
fn literal_policy_numbers(
    model: &Model,
    lever: &str,
    args: &[rhai::Expr],
) -> Option<(String, rhai::Position)> {
    use rhai::Expr;
    const LEVERS: [&str; 3] = ["export_licence", "export_quota", "content_rule"];
    const NUMBERS: [&str; 4] = ["approval", "delay_days", "tonnes_per_year", "threshold"];
    if !LEVERS.contains(&lever) {
        return None;
    }
    let mut opts = rhai::Map::new();
    let mut at: BTreeMap<String, rhai::Position> = BTreeMap::new();
    for arg in args {
        match arg {
            Expr::DynamicConstant(v, pos) if v.is_map() => {
                for (k, v) in v.clone().cast::<rhai::Map>() {
                    if NUMBERS.contains(&k.as_str()) {
                        at.insert(k.to_string(), *pos);
                        opts.insert(k, v);
                    }
                }
            }
            Expr::Map(map, _) => {
                for (key, value) in map.0.iter() {
                    let literal = value.get_literal_value(None);
                    if let (true, Some(v)) = (NUMBERS.contains(&key.name.as_str()), literal) {
                        at.insert(key.name.to_string(), value.position());
                        opts.insert(key.name.as_str().into(), v);
                    }
                }
            }
            _ => {}
        }
    }
    if at.is_empty() {
        return None;
    }
    let def = match args::policy_def(lever, None, &opts, &NUMBERS) {
        Ok(def) => def,
        // "threshold must be a number, got a string": at the key it names.
        Err(e) => {
            let text = match *e {
                rhai::EvalAltResult::ErrorRuntime(v, _) => v.to_string(),
                other => other.to_string(),
            };
            let key = text.split(' ').next().unwrap_or("");
            let place = at.get(key).or_else(|| at.values().next()).copied()?;
            return Some((format!("{lever}: {text}"), place));
        }
    };
    let errs = chokepoint_core::policy::resolve(model, &def, model.start).err()?;
    let (field, msg) = errs.into_iter().find(|(f, _)| at.contains_key(f))?;
    Some((format!("{lever}: {field}: {msg}"), at[&field]))
}

/// Tonnes to the tonne, in groups of three: 5,079.
fn whole_tonnes(t: f64) -> String {
    let digits = format!("{:.0}", t.max(0.0));
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A comparison of a string with a number, found in the text before anything runs:
/// `today() > 2025` (dates are strings) or `current(x) < "300"`. Rhai answers false, always,
/// so a trigger written so never fires and an expectation never holds, with no word. Where
/// and what to say, if the script has one (in its own text; a module is checked as it
/// loads, and a comparison of values only the run knows is not seen).
pub fn mixed_comparison(ast: &rhai::AST) -> Option<(rhai::Position, String)> {
    use rhai::{ASTNode, Expr};
    fn kind(e: &Expr) -> Option<&'static str> {
        match e {
            Expr::StringConstant(..) | Expr::InterpolatedString(..) => Some("string"),
            Expr::IntegerConstant(..) | Expr::FloatConstant(..) => Some("number"),
            Expr::DynamicConstant(v, _) if v.is_string() => Some("string"),
            Expr::DynamicConstant(v, _) if v.is_int() || v.is_float() => Some("number"),
            Expr::FnCall(call, _) if call.namespace.is_empty() => match call.name.as_str() {
                "today" | "first_above" | "first_below" => Some("string"),
                "current" | "peak" | "low" | "mean" | "value_at" | "param" => Some("number"),
                _ => None,
            },
            _ => None,
        }
    }
    let mut found = None;
    ast.walk(&mut |path: &[ASTNode]| {
        // (A comparison standing as a statement, a closure's whole body, is a call
        // statement.)
        let (call, at) = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, at))) => (call, at),
            Some(ASTNode::Stmt(rhai::Stmt::FnCall(call, at))) => (call, at),
            _ => return true,
        };
        let comparison = ["<", "<=", ">", ">=", "==", "!="].contains(&call.name.as_str());
        if !comparison || call.args.len() != 2 || !call.namespace.is_empty() {
            return true;
        }
        match (kind(&call.args[0]), kind(&call.args[1])) {
            (Some(a), Some(b)) if a != b => {
                found = Some((
                    *at,
                    format!(
                        "a {a} and a {b} never compare (`{}` would always be {}): dates are \
                         strings, so compare a date with a date (today() >= \"2025-01-01\"), \
                         and a number with a number (parse_float(\"300\") reads one from a \
                         string)",
                        call.name,
                        call.name == "!="
                    ),
                ));
                false
            }
            _ => true,
        }
    });
    found
}

/// The paths of `import "…"` statements with a literal path, in order.
pub fn literal_imports(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(i) = rest.find("import") {
        let after = rest[i + "import".len()..].trim_start();
        let starts_word = i == 0 || !rest[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        if starts_word {
            if let Some(lit) = after.strip_prefix('"') {
                if let Some(end) = lit.find('"') {
                    found.push(lit[..end].to_string());
                }
            }
        }
        rest = &rest[i + "import".len()..];
    }
    found
}

/// Reads `// key: value` from the comment block at the top of a script.
/// The two dates of a `// horizon: A to B` header.
fn horizon_dates(h: &str) -> Option<(chokepoint_core::Date, chokepoint_core::Date)> {
    let (a, b) = h.split_once(" to ")?;
    Some((
        chokepoint_core::Date::parse(a.trim()).ok()?,
        chokepoint_core::Date::parse(b.trim()).ok()?,
    ))
}

/// Each `param(` call in `source`, comments aside: its name where it is a literal
/// (`param("name", ...)`), None where the script builds it.
pub fn param_calls(source: &str) -> Vec<Option<String>> {
    let text = without_comments(source);
    let mut calls = Vec::new();
    // Called through a pointer (`Fn("param")`, `call("param", ...)`): its names are the
    // run's to tell, as a built name is.
    if text.contains("\"param\"") || text.contains("`param`") {
        calls.push(None);
    }
    let mut rest = text.as_str();
    while let Some(i) = rest.find("param") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "param".len()..];
        let word = |c: char| c.is_alphanumeric() || c == '_';
        // `param (` is a call too.
        let Some(args) = rest.trim_start().strip_prefix('(') else {
            continue;
        };
        if before.is_some_and(word) || rest.starts_with(word) {
            continue;
        }
        rest = args;
        let arg = rest.trim_start();
        let literal = arg
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '`')
            .and_then(|q| {
                let end = arg[1..].find(q)?;
                let name = &arg[1..1 + end];
                // A literal name is the whole argument: `"thrift_" + e` is built.
                let after = arg[1 + end + 1..].trim_start();
                let whole = after.starts_with(',') || after.starts_with(')');
                (whole && !name.is_empty() && !name.contains(['$', '\\'])).then(|| name.to_string())
            });
        calls.push(literal);
    }
    calls
}

/// How a line of a script reads, comments and strings as Rhai reads them: whether it starts
/// outside any block comment or multi-line string, and whether it holds code.
struct LineRead {
    starts_plain: bool,
    code: bool,
}

/// Each line of `source` as [`LineRead`], and the `/*` comments left open at its end (line
/// from 0, column from 1), outermost first. Block comments nest; a `"` or `'` string ends on
/// its line, a backtick one may span lines.
fn read_lines(source: &str) -> (Vec<LineRead>, Vec<(usize, usize)>) {
    let (mut lines, mut open, mut in_string) = (Vec::new(), Vec::new(), false);
    for (i, line) in source.lines().enumerate() {
        let starts_plain = open.is_empty() && !in_string;
        let b = line.as_bytes();
        let (mut j, mut code) = (0, false);
        while j < b.len() {
            let two = b.get(j..j + 2);
            if in_string {
                in_string = b[j] != b'`';
                j += 1;
            } else if two == Some(b"/*") {
                open.push((i, j + 1));
                j += 2;
            } else if !open.is_empty() {
                if two == Some(b"*/") {
                    open.pop();
                    j += 2;
                } else {
                    j += 1;
                }
            } else if two == Some(b"//") {
                break;
            } else {
                code |= !b[j].is_ascii_whitespace();
                match b[j] {
                    b'`' => in_string = true,
                    // A string or character on one line: skip to its end.
                    q @ (b'"' | b'\'') => {
                        j += 1;
                        while j < b.len() && b[j] != q {
                            j += if b[j] == b'\\' { 2 } else { 1 };
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        lines.push(LineRead { starts_plain, code });
    }
    (lines, open)
}

/// The outermost `/*` comment `source` leaves open at its end, if any: its line (from 0) and
/// column (from 1).
fn unclosed_comment(source: &str) -> Option<(usize, usize)> {
    read_lines(source).1.first().copied()
}

/// A `// model:` comment line below the script's first statement: its line and column (from
/// 0 and 1), and the first statement's line. Lines inside a block comment or a string that
/// spans lines are neither code nor such a comment.
fn late_model_line(source: &str) -> Option<(usize, usize, usize)> {
    let (reads, _) = read_lines(source);
    let first = reads.iter().position(|r| r.code)?;
    (source.lines().zip(&reads).enumerate().skip(first + 1)).find_map(|(i, (line, r))| {
        let t = line.trim_start();
        let rest = t.strip_prefix("//").map(str::trim_start)?;
        let named = (rest.get(..6)).is_some_and(|k| k.eq_ignore_ascii_case("model:"));
        (r.starts_plain && named).then(|| (i, line.len() - t.len() + 1, first))
    })
}

/// The same message said many times (a rule that sets up an action every week, each never
/// run) is said once, with how many times: in its first place.
fn collapse_repeats(said: Vec<String>) -> Vec<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for s in said {
        match at.get(&s) {
            Some(&i) => counts[i].1 += 1,
            None => {
                at.insert(s.clone(), counts.len());
                counts.push((s, 1));
            }
        }
    }
    (counts.into_iter())
        .map(|(s, n)| match n {
            1 => s,
            n => format!("{s} ({n} times)"),
        })
        .collect()
}

/// A header comment line (above the first statement, not in a block comment) whose
/// `word:` is not a header field but nearly is one (`model :`, `modle:`, `Models:`): its
/// line and column (from 0 and 1), the word as typed and the field it resembles.
fn near_header_key(source: &str) -> Option<(usize, usize, String, &'static str)> {
    const FIELDS: [&str; 4] = ["model", "title", "horizon", "baseline"];
    let (reads, _) = read_lines(source);
    let first = reads.iter().position(|r| r.code).unwrap_or(reads.len());
    let lines = source.lines().zip(&reads).enumerate().take(first);
    lines
        .filter(|(_, (_, r))| r.starts_plain)
        .find_map(|(i, (line, _))| {
            let t = line.trim_start();
            let rest = t.strip_prefix("//")?.trim_start();
            let (word, _) = rest.split_once(':')?;
            // A word or two of letters, as a field's name is; not a sentence with a colon.
            if word.is_empty()
                || word.len() > 12
                || !word.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
            {
                return None;
            }
            let typed = word.trim_end();
            let squeezed: String = typed.chars().filter(|c| *c != ' ').collect();
            let lower = squeezed.to_ascii_lowercase();
            if FIELDS.contains(&word.to_ascii_lowercase().as_str()) {
                return None;
            }
            let key = FIELDS.into_iter().find(|f| {
                *f == lower
                    || (lower.len() >= 4
                        && !chokepoint_core::error::did_you_mean(&lower, [*f]).is_empty())
            })?;
            Some((i, line.len() - t.len() + 1, word.to_string(), key))
        })
}

/// A field of the script's header: its comment lines above the first statement
/// (`// key: value`; a block comment among them is skipped, not read).
pub fn header_field(source: &str, key: &str) -> Option<String> {
    header_line(source, key).map(|(_, v)| v)
}

/// As [`header_field`], with the field's line (from 1).
pub fn header_line(source: &str, key: &str) -> Option<(usize, String)> {
    let mut depth = 0usize;
    for (i, line) in source.lines().enumerate() {
        let mut t = line.trim();
        // Past a block comment (nested as Rhai nests them) to what follows it.
        while depth > 0 || t.starts_with("/*") {
            let Some(at) = t.find(['/', '*']) else {
                t = "";
                break;
            };
            let rest = &t[at..];
            if let Some(inner) = rest.strip_prefix("/*") {
                depth += 1;
                t = inner;
            } else if let Some(after) = rest.strip_prefix("*/").filter(|_| depth > 0) {
                depth -= 1;
                t = after.trim_start();
            } else {
                t = &rest[1..];
            }
        }
        if t.is_empty() {
            continue;
        }
        let Some(rest) = t.strip_prefix("//") else {
            break;
        };
        let rest = rest.trim();
        // `// Model:` is the same field as `// model:`.
        let named = (rest.get(..key.len())).is_some_and(|k| k.eq_ignore_ascii_case(key));
        if let Some(v) = named.then(|| rest[key.len()..].strip_prefix(':')).flatten() {
            return Some((i + 1, v.trim().to_string()));
        }
    }
    None
}

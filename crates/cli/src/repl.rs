//! `chokepoint repl`: explore a model step by step. The same engine builder as every run;
//! history, completion of levers and model ids, multi-line input decided by the parser, a
//! chart in the terminal, and `:save` to turn the session into a scenario script.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use chokepoint_core::series::fmt_num;
use chokepoint_core::{Date, Model};
use chokepoint_script::reference::{ids_by_kind, lever_params, IdKind};
use chokepoint_script::rhai::{
    Dynamic, Engine, EvalAltResult, Module, ParseErrorType, Scope, Stmt, AST,
};
use chokepoint_script::{build_engine, runner, HostHandle, ScriptError};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};

use crate::write;

const HELP: &str = "\
Type Rhai statements: levers, queries and expectations (see :levers). A statement that is
not finished (an open brace, a function body) continues on the next line.

  :help                 this text (also :h)
  :levers               the lever reference (signatures)
  :step [N]             advance N steps (default 1), firing what is scheduled
  :run-to DATE          advance to the step containing DATE (YYYY-MM-DD)
  :show METRIC KEY      a series' latest values and statistics, e.g. :show price ROW/oxide:Dy
  :plot METRIC KEY      the series as a chart in the terminal
  :keys METRIC          the keys a metric is recorded for
  :save FILE            write this session's lever calls as a scenario script (a file
                        name may hold spaces, or be quoted or start with ~; :save! FILE
                        replaces a script not saved here)
  :reset                start again from the model's first day
  :quit                 leave (also :q or :exit; Ctrl-D works too)
Tab completes levers, commands and model ids; inside a lever's string argument or option,
only ids of the kind it takes (countries, firms and groups in a ban's `to: [...]`; the
session's policy labels in `lift`), and at a key of a lever's options map (`#{ el`), its
option names. Ctrl-C stops a running evaluation, or drops the input
being typed. A line that sets up actions for later (at, every, when) is tried to the model's
end at once: an action that would fail is reported. A function an earlier input ran cannot
be defined again (a saved script would replay that input with the new body).
History is kept in ~/.chokepoint_history, each input added as it is typed (sessions at
once all keep theirs).
";

struct ReplHelper {
    words: Vec<String>,
    /// What a string argument can name, by kind (`IdKind`): where the cursor is inside a lever's
    /// argument or an option of a known kind, only those ids are offered.
    ids: BTreeMap<IdKind, Vec<String>>,
    /// Each documented function's parameter names, one list per overload.
    params: BTreeMap<String, Vec<Vec<String>>>,
    /// The option keys of each function that takes an options map.
    options: BTreeMap<String, Vec<String>>,
    /// The recorded metrics, each with its keys: what `:show`, `:plot` and `:keys` take.
    metrics: BTreeMap<String, Vec<String>>,
    engine: Engine,
    /// The input last judged unfinished, until a later one is finished: what the line
    /// editor drops when the input ends in the middle of a statement.
    unfinished: std::cell::RefCell<String>,
    /// The labels of the session's policies so far (what `lift` takes), after each input.
    labels: Vec<String>,
}

impl Helper for ReplHelper {}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        // A command's key may pair two countries (`trade CN>US`); in code `>` compares.
        let command_line = before.trim_start().starts_with(':');
        let start = before
            .rfind(|c: char| {
                !(c.is_alphanumeric()
                    || matches!(c, '_' | '-' | ':' | '.' | '/')
                    || (command_line && c == '>'))
            })
            .map(|i| i + before[i..].chars().next().map(char::len_utf8).unwrap_or(1))
            .unwrap_or(0);
        let word = &before[start..];
        // A command's arguments are metrics and their keys, not levers or model ids.
        let args: Vec<&str> = before[..start].split_whitespace().collect();
        let option_keys = self.option_keys(&before[..start]);
        let choices: Vec<&String> = match args.as_slice() {
            [":show" | ":plot" | ":keys"] => self.metrics.keys().collect(),
            [":show" | ":plot", metric] => {
                self.metrics.get(*metric).into_iter().flatten().collect()
            }
            // A file name, a date, a count: nothing of the model's to offer.
            [c, ..] if c.starts_with(':') => return Ok((pos, vec![])),
            // A key of a lever's options map (`export_ban("CN", #{ el`): its options.
            _ if option_keys.is_some() => option_keys.into_iter().flatten().collect(),
            _ if word.is_empty() && !in_string(&before[..start]) => return Ok((pos, vec![])),
            _ => match self.argument_kind(&before[..start]) {
                Some(IdKind::Label) => self.labels.iter().collect(),
                Some(kind) => self.ids.get(&kind).into_iter().flatten().collect(),
                None if word.is_empty() => return Ok((pos, vec![])),
                None => self.words.iter().collect(),
            },
        };
        let command = matches!(args.first(), Some(c) if c.starts_with(':'));
        let mut out: Vec<Pair> = choices
            .into_iter()
            .filter(|w| w.starts_with(word))
            .map(|w| Pair {
                display: w.clone(),
                replacement: w.clone(),
            })
            .collect();
        out.dedup_by(|a, b| a.replacement == b.replacement);
        // In a script line, levers and model ids before series keys (`DE/concentrate`,
        // `DE>AU`), which a script rarely types: `thrift("D` offers Dy second, not twentieth.
        if !command {
            out.sort_by_key(|p| p.replacement.contains(['/', '>']));
        }
        Ok((start, out))
    }
}

/// Whether the text ends inside a string literal ("..." or `...`).
fn in_string(text: &str) -> bool {
    scan(text).1
}

/// Where `text` (a script line up to the cursor) leaves off: the brackets still open, each
/// a call (its function and argument index), an array, or a map (its current key); and
/// whether it ends inside a string.
fn scan(text: &str) -> (Vec<Open>, bool) {
    let mut open: Vec<Open> = Vec::new();
    // The last identifier (or quoted map key) before the text that follows it.
    let mut ident = String::new();
    let mut string = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut gap = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                // A backtick string is raw: a backslash in it is only a backslash.
                '\\' if q != '`' => escaped = true,
                _ if c == q => {
                    quote = None;
                    // A quoted map key (`#{ "to": [...] }`) reads as a bare one.
                    ident = std::mem::take(&mut string);
                    gap = true;
                }
                _ => string.push(c),
            }
            continue;
        }
        // A comment, to the end of the line or to its close.
        if c == '/' && matches!(chars.peek(), Some('/' | '*')) {
            let line = chars.next() == Some('/');
            let mut last = ' ';
            for c in chars.by_ref() {
                if (line && c == '\n') || (!line && last == '*' && c == '/') {
                    break;
                }
                last = c;
            }
            continue;
        }
        match c {
            '"' | '`' | '\'' => {
                quote = Some(c);
                string.clear();
                ident.clear();
                continue;
            }
            '(' => open.push(Open::Call(std::mem::take(&mut ident), 0)),
            '[' => open.push(Open::Array),
            '{' => open.push(Open::Map(None)),
            ')' | ']' | '}' => {
                open.pop();
            }
            ',' => match open.last_mut() {
                Some(Open::Call(_, arg)) => *arg += 1,
                Some(Open::Map(key)) => *key = None,
                _ => {}
            },
            ':' => {
                if let Some(Open::Map(key)) = open.last_mut() {
                    *key = Some(ident.clone());
                }
            }
            _ => {}
        }
        // The last identifier, across spaces (`export_ban (`, `to :`), until other text.
        if c.is_alphanumeric() || c == '_' {
            if gap {
                ident.clear();
                gap = false;
            }
            ident.push(c);
        } else if c.is_whitespace() {
            gap = true;
        } else {
            ident.clear();
        }
    }
    // In a char literal there is nothing to complete.
    (open, matches!(quote, Some('"' | '`')))
}

/// A bracket left open in a script line.
#[derive(Debug)]
enum Open {
    Call(String, usize),
    Array,
    Map(Option<String>),
}

impl ReplHelper {
    /// Where the text ends at a key of an options map passed to a function that takes one
    /// (`tariff("US", "CN", 0.1, #{ ` or `…, label: "x", `), that function's option keys.
    fn option_keys(&self, before: &str) -> Option<&Vec<String>> {
        let (open, in_str) = scan(before);
        match open.as_slice() {
            [.., Open::Call(function, _), Open::Map(None)]
                if !in_str && before.trim_end().ends_with(['{', ',']) =>
            {
                self.options.get(function)
            }
            _ => None,
        }
    }

    /// The kind of id the string the cursor is in names, if the lever or option says: the
    /// third argument of `price_floor`, the `to:` of a ban, an element of `elements: [...]`.
    fn argument_kind(&self, before: &str) -> Option<IdKind> {
        let (open, in_str) = scan(before);
        if !in_str {
            return None;
        }
        // An array takes the kind of what holds it (`to: ["US", "`).
        let holder = open.iter().rev().find(|o| !matches!(o, Open::Array))?;
        match holder {
            Open::Map(Some(key)) => IdKind::of_option(key),
            Open::Map(None) | Open::Array => None,
            Open::Call(function, arg) => self
                .params
                .get(function)?
                .iter()
                .find_map(|names| names.get(*arg))
                .and_then(|param| IdKind::of_param(function, param)),
        }
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        let verdict = self.judge(input);
        *self.unfinished.borrow_mut() = match verdict {
            ValidationResult::Incomplete => input.to_string(),
            _ => String::new(),
        };
        Ok(verdict)
    }
}

impl ReplHelper {
    /// Whether `input` is a whole statement (or command) yet.
    fn judge(&self, input: &str) -> ValidationResult {
        // A command ends the input, even typed on a continuation line.
        if command_line(input).is_some() {
            return ValidationResult::Valid(None);
        }
        if open_block_comment(input) {
            return ValidationResult::Incomplete;
        }
        match self.engine.compile(input) {
            Ok(_) => ValidationResult::Valid(None),
            Err(e) => {
                // Incomplete when the parser ran out of text: keep reading lines.
                let at_end = match e.position().line() {
                    Some(l) => l >= input.lines().count().max(1),
                    None => true,
                };
                // (`fn g()` with its `{` to come on the next line, as `if x` takes it.)
                let incomplete = matches!(
                    e.err_type(),
                    ParseErrorType::UnexpectedEOF
                        | ParseErrorType::MissingToken(..)
                        | ParseErrorType::FnMissingBody(..)
                ) && at_end
                    || matches!(e.err_type(), ParseErrorType::UnknownOperator(_))
                        && input.trim_end().ends_with(['{', '(', '[', ','])
                    || braces_left_open(input)
                    // A backtick string runs over lines: one left open is still being typed.
                    || e.to_string().contains("Open string is not terminated")
                        && input.matches('`').count() % 2 == 1;
                if incomplete && !stray_closer(input) {
                    ValidationResult::Incomplete
                } else {
                    // Let the evaluation report it, with its caret.
                    ValidationResult::Valid(None)
                }
            }
        }
    }
}

/// How many inputs failed in this process: a piped session's exit status says whether
/// every line ran.
static FAILURES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Expectations that failed in the session: piped input with one exits 1, as `run` does.
static EXPECTATIONS_FAILED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn note_failure() {
    FAILURES.fetch_add(1, Ordering::Relaxed);
}

/// An error line for something the user typed, counted for the exit status.
macro_rules! failed {
    ($($t:tt)*) => {{
        note_failure();
        errln!($($t)*);
    }};
}

struct Session {
    model: Arc<Model>,
    model_path: PathBuf,
    scripts_root: PathBuf,
    host: HostHandle,
    engine: Engine,
    scope: Scope<'static>,
    ast: AST,
    /// The session's `import` statements so far: each later line, and each scheduled
    /// closure the clock fires, runs after them, so `t::heavy_ban` stays in reach.
    imports: AST,
    /// What to write on :save: inputs that evaluated without error, and clock moves.
    script: Vec<String>,
    cancel: Arc<AtomicBool>,
    /// What this session last wrote to each file it saved: `:save` replaces a file only if
    /// it still holds that (not one edited since, nor another session's).
    saved: Vec<(PathBuf, String)>,
    /// How many of the run's expectations have been said.
    expectations_said: usize,
    /// With piped input, the line of the stream the input being run began on: its errors
    /// name that line of `<stdin>`, not line 1 of each input.
    stdin_line: Option<usize>,
    /// Wall-clock time each input, clock move or trial may take (`--time-limit`).
    time_limit: Duration,
    /// The terminal's width in columns, where the line editor knows it: `:plot` and
    /// `:keys` fit it (review 2026-12-02: a 60-column terminal broke both). Piped, 98: a
    /// 64-column chart and key lists of 96.
    columns: usize,
    /// The input that defined each of the session's functions and closures (by name and
    /// arity): an error inside one, raised on a later input or as the clock runs, is shown
    /// at its line of that input's text.
    origins: BTreeMap<(String, usize), Arc<Origin>>,
}

/// An input that ran: its text, and with piped input the line of the stream it began on.
struct Origin {
    text: String,
    first: Option<usize>,
}

impl Origin {
    /// `error` (raised in a function this input defined), shown at its place in this
    /// input's text: in the stream, with piped input.
    fn place(&self, mut error: ScriptError, e: &EvalAltResult) -> ScriptError {
        let here = ScriptError::from_eval("<repl>", &self.text, e);
        // (Past the text's end, the place would be its last line: not where it failed.)
        let lines = self.text.lines().count();
        let (Some(line), Some(source_line)) = (here.line, here.source_line) else {
            return error;
        };
        if line > lines {
            return error;
        }
        error.line = Some(self.first.map_or(line, |first| first + line - 1));
        error.column = here.column;
        error.source_line = Some(source_line);
        error.message = here.message;
        if self.first.is_some() {
            error.file = PathBuf::from("<stdin>");
        }
        error
    }
}

impl Session {
    fn new(
        model: Arc<Model>,
        model_path: PathBuf,
        scripts_root: PathBuf,
        cancel: Arc<AtomicBool>,
        time_limit: Duration,
    ) -> Session {
        let host = HostHandle::new(&model, model.seed, BTreeMap::new());
        host.lock().cancel = cancel.clone();
        let engine = build_engine(Some(&host), &scripts_root);
        Session {
            model,
            model_path,
            scripts_root,
            host,
            engine,
            scope: Scope::new(),
            ast: AST::empty(),
            imports: AST::empty(),
            script: Vec::new(),
            cancel,
            saved: Vec::new(),
            expectations_said: 0,
            stdin_line: None,
            time_limit,
            columns: 98,
            origins: BTreeMap::new(),
        }
    }

    /// Starts the wall-clock limit of one input, clock move or trial: past it, the
    /// evaluation stops with an error, as a run does past its `--time-limit`.
    fn arm(&self) {
        (self.host.lock()).set_deadline(Instant::now().checked_add(self.time_limit));
    }

    fn disarm(&self) {
        self.host.lock().set_deadline(None);
    }

    /// Whether the evaluation just stopped stopped at the time limit (said with how to
    /// raise it).
    fn timed_out(&self) -> bool {
        self.host.lock().stopped() == Some(chokepoint_script::host::PAST_TIME_LIMIT)
    }

    fn say_time_limit(&self) {
        errln!(
            "(each input, clock move and trial may take {} s of wall-clock time: `chokepoint \
             repl --time-limit SECONDS` sets it)",
            self.time_limit.as_secs_f64()
        );
    }

    /// The input that defined the innermost script function of an error's call chain,
    /// where it is an earlier input the session knows (for every arity of the name, the
    /// same one): the error's line and column are of that input's text. Not one of `ast`'s
    /// (the input being run), nor a module's (placed in the module's own text).
    fn origin_of(&self, e: &EvalAltResult, ast: Option<&AST>) -> Option<Arc<Origin>> {
        let mut cur = e;
        let mut innermost = None;
        while let EvalAltResult::ErrorInFunctionCall(name, source, next, _) = cur {
            if !source.is_empty() {
                return None;
            }
            innermost = Some(name.as_str());
            cur = next;
        }
        let name = innermost?;
        if ast.is_some_and(|a| a.iter_functions().any(|f| f.name == name)) {
            return None;
        }
        let key = |arity| (name.to_string(), arity);
        let mut defined = self.origins.range(key(0)..=key(usize::MAX)).map(|(_, o)| o);
        let first = defined.next()?;
        defined
            .all(|o| Arc::ptr_eq(o, first))
            .then(|| first.clone())
    }

    /// An error in the input being run, placed in the piped stream it came from.
    fn placed(&self, e: ScriptError) -> ScriptError {
        self.placed_calls(e, &[true])
    }

    /// As [`Session::placed`], where `here[i]` says whether the i-th call of the error's
    /// chain (outermost first) was made from this input's own text: only those lines are
    /// this input's (a call inside a function an earlier input or a module defined is at a
    /// line of that text).
    fn placed_calls(&self, mut e: ScriptError, here: &[bool]) -> ScriptError {
        if let Some(first) = self.stdin_line {
            e.file = PathBuf::from("<stdin>");
            e.line = e.line.map(|l| l + first - 1);
            // A hint naming a line of this input ("the `{` on line 1 is never closed")
            // names it as the stream counts, as the location does.
            if let Some(h) = e.help.as_mut() {
                if let Some((head, rest)) = h.split_once(" on line ") {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(l) = digits.parse::<usize>() {
                        let tail = &rest[digits.len()..];
                        if !tail.starts_with(" of ") {
                            *h = format!("{head} on line {}{tail}", l + first - 1);
                        }
                    }
                }
            }
            let calls = (e.chain.iter_mut()).filter(|c| c.contains(" called at line "));
            for (c, &here) in calls.zip(here.iter().chain(std::iter::repeat(&false))) {
                let Some((head, rest)) = c.split_once(" called at line ") else {
                    continue;
                };
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let Ok(l) = digits.parse::<usize>() else {
                    continue;
                };
                let tail = &rest[digits.len()..];
                *c = match (here, c.contains(" of '")) {
                    // A module's line is of the module's text, as it says.
                    (_, true) => continue,
                    (true, false) => format!("{head} called at line {}{tail}", l + first - 1),
                    // A line of an earlier input's text, not of the stream.
                    (false, false) => {
                        format!("{head} called at line {l} of an earlier input{tail}")
                    }
                };
            }
        }
        e
    }

    /// Says each expectation recorded since the last were said (by a line, or by a rule
    /// as the clock ran), as `run` lists them, and counts those that failed for the exit
    /// status of piped input.
    fn say_expectations(&mut self) {
        let h = self.host.lock();
        // A line undone, or :reset, takes its expectations with it.
        let from = self.expectations_said.min(h.expectations.len());
        for e in &h.expectations[from..] {
            if e.passed {
                outln!(
                    "expectation passed: {}",
                    crate::report::one_line(&e.message)
                );
            } else {
                EXPECTATIONS_FAILED.fetch_add(1, Ordering::Relaxed);
                outln!(
                    "expectation FAILED: {}",
                    crate::report::stated(&e.message, &e.detail)
                );
            }
        }
        self.expectations_said = h.expectations.len();
    }

    /// The `// model:` header naming the session's model as `run` will find it from a
    /// script saved at `f` (which need not exist yet): by its name (`world-2024`, so the
    /// script replays in any checkout of the project), else by the path the session was
    /// given, else absolutely. A relative header that `run` would resolve only from the
    /// current directory serves where the script is saved under it (its replay hint is run
    /// from here).
    fn model_header_for(&self, f: &Path) -> String {
        let this = std::fs::canonicalize(&self.model_path).ok();
        let absolute = (this.clone()).unwrap_or_else(|| self.model_path.clone());
        let absolute = absolute.display().to_string();
        let dir = match f.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let (Ok(dir), Some(file), Some(this)) = (std::fs::canonicalize(dir), f.file_name(), this)
        else {
            return absolute;
        };
        let script = dir.join(file);
        let root = crate::scripts_root(&script);
        let inside = f.is_relative() && !f.starts_with("..");
        let path = &self.model_path;
        let name = (path.parent().and_then(Path::file_name) == Some("models".as_ref())
            && path.extension().is_some_and(|e| e == "yaml"))
        .then(|| path.file_stem()?.to_str().map(String::from))
        .flatten();
        let given = path.is_relative().then(|| path.display().to_string());
        for header in name.into_iter().chain(given) {
            let found = crate::resolve_model(&script, &root, Some(&header));
            if (inside || found.is_absolute())
                && std::fs::canonicalize(&found).is_ok_and(|p| p == this)
            {
                return header;
            }
        }
        absolute
    }

    fn reset(&mut self) {
        let saved = std::mem::take(&mut self.saved);
        *self = Session::new(
            self.model.clone(),
            self.model_path.clone(),
            self.scripts_root.clone(),
            self.cancel.clone(),
            self.time_limit,
        );
        self.saved = saved;
    }

    /// The labels of the policies this session knows (the model's and its own), once each.
    fn labels(&self) -> Vec<String> {
        let h = self.host.lock();
        let mut labels: Vec<String> = (h.sim.policies.iter())
            .map(|p| p.label.clone())
            .filter(|l| !l.is_empty())
            .collect();
        labels.sort();
        labels.dedup();
        labels
    }

    fn flush_output(&self) {
        let mut h = self.host.lock();
        let past_limit = h.printed_past_limit();
        for line in h.output.drain(..).chain(past_limit) {
            outln!("{line}");
        }
    }

    /// The input as it must be written in a saved script, where other statements follow it:
    /// a bare expression (`p` to show p), a map or closure ending in `}`, a trailing `//`
    /// comment and an unclosed `/*` each need a different ending. The parser decides: the
    /// first ending after which another statement both parses and is not swallowed.
    fn as_statement(&self, text: &str) -> String {
        // As typed where another statement can follow it (a `;` after a trailing comment
        // would sit inside it).
        let candidates = [
            Some(text.to_string()),
            Some(format!("{text};")),
            Some(format!("{text}\n;")),
            Some(format!("{text} */\n;")),
        ];
        let follows = |c: &str| {
            self.engine.compile(format!("{c}\n0;")).is_ok()
                && self.engine.compile(format!("{c}\nlet")).is_err()
        };
        candidates
            .into_iter()
            .flatten()
            .find(|c| follows(c))
            .unwrap_or_else(|| format!("{text}\n;"))
    }

    /// The saved lines whose functions `ast` defines again (by name and number of
    /// parameters), to be dropped from a `:save`d script when it runs; an error when such
    /// a line holds more than those definitions, which a saved script could not drop.
    fn superseded_by(&self, ast: &AST) -> Result<Vec<usize>, String> {
        let sig =
            |f: &chokepoint_script::rhai::ScriptFnMetadata| (f.name.to_string(), f.params.len());
        let new: Vec<(String, usize)> = ast.iter_functions().map(|f| sig(&f)).collect();
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let compiled: Vec<Option<AST>> = (self.script.iter())
            .map(|text| self.engine.compile_with_scope(&self.scope, text).ok())
            .collect();
        // The functions redefined, and those defined before that call them, however
        // indirectly: a line that ran any of them ran the old body.
        let mut tainted = new.clone();
        loop {
            let before = tainted.len();
            for old in compiled.iter().flatten() {
                for f in old.iter_functions().map(|f| sig(&f)) {
                    if tainted.contains(&f) || f.0.starts_with("anon$") {
                        continue;
                    }
                    // Its own body, and the closures of its input (they may be its).
                    let mut body = old.clone_functions_only();
                    body.retain_functions(|_, _, n, k| {
                        (n == f.0 && k == f.1) || n.starts_with("anon$")
                    });
                    if calls_any(&body, &tainted).is_some() {
                        tainted.push(f);
                    }
                }
            }
            if tainted.len() == before {
                break;
            }
        }
        let mut lines = Vec::new();
        for (k, text) in self.script.iter().enumerate() {
            let Some(old) = &compiled[k] else {
                continue;
            };
            // A line that ran with the old body would replay with the new one (a script
            // has one definition of a function, the last): refused. (A line that only
            // defines functions ran none of them.)
            // What the input ran: its statements and the closures they set up, not the
            // bodies of functions it defined without calling them.
            let mut ran = old.clone();
            ran.retain_functions(|_, _, n, _| n.starts_with("anon$"));
            let ran_any = !old.statements().is_empty();
            if let Some(name) = calls_any(&ran, &tainted).filter(|_| ran_any) {
                let redefined = &new[0].0;
                let through = match new.iter().any(|(n, _)| *n == name) {
                    true => String::new(),
                    false => format!(" (through {name}())"),
                };
                return Err(format!(
                    "{redefined}() is used by an earlier input (`{}`){through}, which ran with \
                     its present body: a saved scenario would replay that input with the new \
                     one, so give this one another name (or :reset)",
                    text.lines().next().unwrap_or_default()
                ));
            }
            let fns: Vec<(String, usize)> = old.iter_functions().map(|f| sig(&f)).collect();
            let Some((name, n)) = fns.iter().find(|f| new.contains(f)) else {
                continue;
            };
            if !old.statements().is_empty() || fns.iter().any(|f| !new.contains(f)) {
                return Err(format!(
                    "{name}() with {n} parameter{} is already defined, on a line that does \
                     more than define it again here: a saved scenario defines a function \
                     once, so give this one another name (or :reset)",
                    if *n == 1 { "" } else { "s" }
                ));
            }
            lines.push(k);
        }
        Ok(lines)
    }

    /// Modules this session imports that `chokepoint run` would not find for a script
    /// saved at `file` (it looks under the script's `scripts` directory, or beside it).
    fn imports_out_of_reach(&self, file: &Path) -> Vec<String> {
        use chokepoint_script::rhai::{Expr, Stmt};
        let root = crate::import_root(file);
        (self.imports.statements().iter())
            .filter_map(|s| match s {
                Stmt::Import(x, _) => match &x.0 {
                    Expr::StringConstant(p, _) => Some(p.to_string()),
                    _ => None,
                },
                _ => None,
            })
            .filter(|p| !root.join(format!("{p}.rhai")).is_file())
            .collect()
    }

    /// Whether a `// model:` header's value names this session's model: its name, or its
    /// file.
    fn names_session_model(&self, value: &str) -> bool {
        let same_file = |p: &Path| {
            let (a, b) = (
                std::fs::canonicalize(p),
                std::fs::canonicalize(&self.model_path),
            );
            matches!((a, b), (Ok(a), Ok(b)) if a == b)
        };
        value == self.model.name
            || same_file(Path::new(value))
            || same_file(&self.scripts_root.join(value))
    }

    fn eval(&mut self, input: &str) {
        self.cancel.store(false, Ordering::Relaxed);
        // A script's model is its header's; a session's is fixed when it starts (a saved
        // script with the line below its own header is refused by `run`).
        let names_model = |l: &str| {
            let rest = l.trim_start().strip_prefix("//").map(str::trim_start);
            rest.and_then(|r| r.get(..6))
                .is_some_and(|k| k.eq_ignore_ascii_case("model:"))
        };
        // A scenario pasted whole brings its file's header (`// title:`, `// model:`,
        // `// horizon:`): a session's script has its own (`:save` writes it), so they are
        // dropped from the input, and a model line naming the session's own model is
        // accepted (review 2026-12-02: every script in scripts/ was refused).
        let (stripped, named) = drop_header_fields(input);
        let own_model = named.as_deref().is_none_or(|v| self.names_session_model(v));
        let input = stripped.as_str();
        // As `:save` writes it: without the lines a header left blank above it.
        let statement = self.as_statement(input.trim_end().trim_start_matches(['\n', '\r']));
        let header = chokepoint_script::header_line(input, "model").is_some();
        if !own_model || header || input.lines().any(names_model) {
            failed!(
                "error: a `// model:` line does not change the session's model ({}); start \
                 `chokepoint repl --model FILE` for another (the input did not run)",
                self.model_path.display()
            );
            return;
        }
        let ast = match self.engine.compile_with_scope(&self.scope, input) {
            Ok(a) => a,
            Err(e) => {
                note_failure();
                err!(
                    "{}",
                    self.placed(ScriptError::from_parse("<repl>", input, &e))
                );
                // A pasted block is read whole before any of it runs: its statements before
                // the mistake did not run either.
                let lines = (input.lines())
                    .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//"))
                    .count();
                if lines > 1 {
                    // (Piped, the lines before this statement ran: these are its own.)
                    let these = match self.stdin_line {
                        Some(first) => format!(
                            "lines {first}-{} did not run",
                            first + input.lines().count().saturating_sub(1)
                        ),
                        None => format!("none of the {lines} lines ran"),
                    };
                    errln!("({these}: the input is read whole before it runs)");
                }
                return;
            }
        };
        // Definitions typed again as they were (a block recalled from the history): the
        // session has them already, and a saved script has them once.
        if ast.statements().is_empty()
            && ast.iter_functions().next().is_some()
            && self.script.contains(&statement)
        {
            outln!("(already defined, unchanged)");
            return;
        }
        // A `return` or `exit()` at the top level ends a script where it stands: the
        // session would carry on past it, and its saved script stop there (review
        // 2026-12-02). In a function or closure it returns from that, as in a script.
        if let Some(at) = top_level_exit(input, &ast) {
            note_failure();
            let e = chokepoint_script::rhai::EvalAltResult::ErrorRuntime(
                "`return` and `exit()` at the top level would end a saved script here while \
                 the session went on: the REPL has no script to end (:quit leaves; inside a \
                 function or closure, `return` returns from it)"
                    .into(),
                at,
            );
            err!(
                "{}",
                self.placed(ScriptError::from_eval("<repl>", input, &e))
            );
            return;
        }
        // As a script's text is checked before a run: a comparison of a string with a
        // number, and the model's ids in actions that may never fire (`:save` would write a
        // script `run` refuses).
        if let Some((at, why)) = chokepoint_script::mixed_comparison(&ast) {
            note_failure();
            let e = chokepoint_script::rhai::EvalAltResult::ErrorRuntime(why.into(), at);
            err!(
                "{}",
                self.placed(ScriptError::from_eval("<repl>", input, &e))
            );
            return;
        }
        let root = &self.scripts_root;
        if let Ok(sc) = chokepoint_script::Scenario::compile(Path::new("<repl>"), input, root) {
            // The session's own functions, defined on earlier inputs, are its own here too.
            let own: Vec<(String, usize)> = (self.ast.iter_functions())
                .map(|f| (f.name.to_string(), f.params.len()))
                .collect();
            if let Err(e) = sc.check_named_besides(&self.model, &own) {
                note_failure();
                err!("{}", self.placed(e));
                return;
            }
        }
        // A function defined again replaces the first, here as in a script's one text; a
        // saved script may define it only once, so the line that first defined it goes.
        let superseded = match self.superseded_by(&ast) {
            Ok(lines) => lines,
            Err(why) => {
                failed!("error: {why}");
                return;
            }
        };
        // A line that fails is undone whole: what it pulled or defined before the error
        // would otherwise stay in force but never reach a `:save`d script. (A variable a
        // closure has captured is shared with it: the scope's copy holds the cell, not the
        // value, so the values go back by hand.)
        let before = (
            self.host.lock().clone(),
            self.scope.clone(),
            self.ast.clone(),
        );
        let values = SharedValues::of(&self.scope, &self.host);
        // Keep the functions defined so far; run only the new statements, after the
        // session's imports.
        let imported: Vec<Stmt> = (ast.statements().iter())
            .filter(|s| matches!(s, Stmt::Import(..)))
            .cloned()
            .collect();
        self.ast = self.imports.merge(&self.ast).merge(&ast);
        self.arm();
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &self.ast);
        let timed_out = result.is_err() && self.timed_out();
        self.disarm();
        self.ast.clear_statements();
        self.flush_output();
        // An action that fails in the trial of this line: the trial runs every action set
        // up so far, this line's and earlier ones', so the closure may be on either.
        let mut this_line = false;
        // Tried when it sets up an action, or changes what one set up earlier may read: a
        // variable a closure captured, a lever in force (one that uses up a limit the
        // action would need), a function it calls. A line that only reads is not (the
        // trial runs every action to the model's end).
        let (grew, touched) = {
            let h = self.host.lock();
            let grew = h.schedule.len() > before.0.schedule.len()
                || h.triggers.len() > before.0.triggers.len()
                || h.strategies.len() > before.0.strategies.len();
            let touched = h.levers.len() != before.0.levers.len()
                || ast.iter_functions().next().is_some()
                || values.changed();
            (grew, touched)
        };
        let result = match result {
            Ok(v) if !grew && !touched => Ok(v),
            Ok(v) => match self.trial() {
                None => Ok(v),
                Some((e, when)) => {
                    this_line = true;
                    match (grew, made_earlier(&e, &ast)) {
                        (_, false) => errln!(
                            "error: an action this line sets up fails when it runs, on {when} \
                             (as the session stands: if a later line sets up what it needs, \
                             type that one first):"
                        ),
                        (true, true) => errln!(
                            "error: with this line, an action set up on an earlier input fails \
                             when it runs, on {when} (the line is undone):"
                        ),
                        (false, true) => errln!(
                            "error: this line makes an action set up on an earlier input fail \
                             when it runs, on {when} (the line is undone: change that action \
                             first, or :reset):"
                        ),
                    }
                    Err(e)
                }
            },
            e => e,
        };
        match result {
            Ok(v) => {
                if !imported.is_empty() {
                    self.imports = (self.imports).merge(&AST::new(imported, Module::new()));
                }
                let origin = Arc::new(Origin {
                    text: input.to_string(),
                    first: self.stdin_line,
                });
                for f in ast.iter_functions() {
                    let key = (f.name.to_string(), f.params.len());
                    self.origins.insert(key, origin.clone());
                }
                for k in superseded.into_iter().rev() {
                    self.script.remove(k);
                }
                self.script.push(statement);
                // A series shows as `print` shows it, not as its Rust type's name.
                use chokepoint_script::api::query::{query_api, SeriesView};
                match v.clone().try_cast::<SeriesView>() {
                    Some(mut series) => outln!("{}", query_api::to_string(&mut series)),
                    None if !v.is_unit() => outln!("{v}"),
                    None => {}
                }
            }
            // Ctrl-C (a long `step` or `run_to_end`): undone whole, as `:step` is, and said
            // as an interruption, not as an error in some closure.
            Err(_) if self.cancel.swap(false, Ordering::Relaxed) => {
                let (host, scope, ast) = before;
                values.restore();
                *self.host.lock() = host;
                self.scope = scope;
                self.ast = ast;
                errln!(
                    "interrupted: none of it stays, the clock is back at {}",
                    self.today()
                );
            }
            Err(e) => {
                // An error raised in a closure typed on an earlier line carries that line's
                // position: show no source rather than this line with a misplaced caret.
                let mut error = ScriptError::from_eval("<repl>", input, &e);
                // A function or closure an earlier input defined fails at a place in that
                // input's text: the caret would point into this one.
                let mut inner = &*e;
                let mut calls = Vec::new();
                while let chokepoint_script::rhai::EvalAltResult::ErrorInFunctionCall(
                    name,
                    source,
                    next,
                    _,
                ) = inner
                {
                    calls.push((name.as_str(), source.as_str()));
                    inner = next;
                }
                // A script function of this input's own (a module's is placed in the
                // module's text, as `run` does).
                let own = |name: &str| ast.iter_functions().any(|f| f.name == name);
                let elsewhere = (calls.iter())
                    .find(|(name, source)| source.is_empty() && !own(name))
                    .map(|(name, _)| *name);
                // Each call's line is this input's if the call was made from its top level
                // or from inside one of its own functions.
                let here: Vec<bool> = (0..calls.len())
                    .map(|i| i == 0 || (calls[i - 1].1.is_empty() && own(calls[i - 1].0)))
                    .collect();
                // Where the session knows the input that defined the innermost function,
                // the error is shown at its line there (placed after this input's lines).
                let origin = self.origin_of(&e, Some(&ast));
                if let Some(called) = elsewhere {
                    // Its place is in that input's text: name the function, not a place here.
                    error.line = None;
                    error.column = None;
                    error.source_line = None;
                    error.chain.push(match called {
                        f if f.starts_with("anon$") => {
                            "the closure was made on an earlier input".to_string()
                        }
                        f => format!("'{f}' was defined on an earlier input"),
                    });
                } else if error.column.unwrap_or(0)
                    > input
                        .lines()
                        .nth(error.line.unwrap_or(1).saturating_sub(1))
                        .map_or(0, |l| l.chars().count() + 1)
                {
                    error.source_line = None;
                }
                // `global::K` in a function, K a constant of an earlier input: each input
                // is its own evaluation, and Rhai's `global::` holds that evaluation's own
                // constants (a script file, one evaluation, has them all).
                if let chokepoint_script::rhai::EvalAltResult::ErrorVariableNotFound(name, _) =
                    inner
                {
                    let earlier = name.strip_prefix("global::");
                    if earlier.is_some_and(|k| self.scope.is_constant(k).is_some()) {
                        error.help = Some(
                            "in the REPL, a function sees in `global::` only the constants \
                             declared on the input that calls it (each input is run on its \
                             own; a script file is run whole): declare the constant on that \
                             input again, or pass it to the function as an argument"
                                .into(),
                        );
                    }
                }
                let mut error = self.placed_calls(error, &here);
                if let Some(o) = &origin {
                    error = o.place(error, &e);
                }
                note_failure();
                let error = match this_line {
                    true => closure_of_the_trial(error),
                    false => earlier_closure(error),
                };
                err!("{}", error);
                let (host, scope, ast) = before;
                values.restore();
                let changed = {
                    let h = self.host.lock();
                    h.levers.len() != host.levers.len() || h.sim.step != host.sim.step
                };
                *self.host.lock() = host;
                self.scope = scope;
                self.ast = ast;
                if changed {
                    errln!(
                        "(the line failed, so none of it stays: no lever pulled, no step taken)"
                    );
                }
                if timed_out {
                    self.say_time_limit();
                }
            }
        }
    }

    /// Moves the clock to `target`, firing the scheduled closures (after the session's
    /// imports, for a closure that uses an imported module).
    fn drive(&self, target: usize) -> Result<(), Box<chokepoint_script::rhai::EvalAltResult>> {
        let (engine, ast) = (&self.engine, &self.ast);
        let call = (!self.imports.statements().is_empty()).then(|| {
            let call = engine.compile("__chokepoint_scheduled.call()");
            call.map(|c| self.imports.merge(ast).merge(&c))
        });
        runner::advance(&self.host, target, &mut |f| match &call {
            Some(Ok(with_imports)) => {
                let mut scope = Scope::new();
                scope.push("__chokepoint_scheduled", f.clone());
                engine.eval_ast_with_scope::<Dynamic>(&mut scope, with_imports)
            }
            _ => f.call::<Dynamic>(engine, ast, ()),
        })
    }

    /// A line that set up actions for later (`at`, `every`, `when`, a strategy) is tried on
    /// a copy of the session to the model's end: an action that fails when it fires is
    /// reported against this line now, not on a later `:step` that could then never pass
    /// it. Returns the error and the date it struck; the session is left as it was.
    fn trial(&self) -> Option<(Box<chokepoint_script::rhai::EvalAltResult>, Date)> {
        let kept = {
            let h = self.host.lock();
            // (The caller decides which lines are tried: one that sets up an action, and one
            // that changes what an action set up earlier may read, which can break it too
            // and is the one to refuse (review, 2026-12-02: the next line to set anything up
            // was blamed, and `:save` wrote a script that failed). With no action waiting
            // there is nothing to try.)
            let waiting =
                !h.schedule.is_empty() || !h.triggers.is_empty() || !h.strategies.is_empty();
            if !waiting {
                return None;
            }
            h.clone()
        };
        // The closures run for real: what they change in the variables they captured
        // (a counter, a flag) must be as it was for the session's own run.
        let values = SharedValues::of(&self.scope, &self.host);
        self.arm();
        let r = self.drive(usize::MAX);
        let when = self.host.lock().sim.date();
        let timed_out = r.is_err() && self.timed_out();
        // Ctrl-C stops the trial, not the line.
        let cancelled = self.cancel.swap(false, Ordering::Relaxed);
        *self.host.lock() = kept;
        self.disarm();
        values.restore();
        if cancelled {
            errln!(
                "(the trial of the actions set up so far was stopped: the line is kept, untried)"
            );
            return None;
        }
        if timed_out {
            errln!(
                "(the trial of the actions set up so far to the model's end ran past {} s, at {when}: \
                 the line is kept, untried beyond that; `chokepoint repl --time-limit SECONDS` \
                 gives it longer)",
                self.time_limit.as_secs_f64()
            );
            return None;
        }
        r.err().map(|e| (e, when))
    }

    /// Advances the clock outside any script call, firing scheduled closures.
    fn advance(&mut self, target: usize, record: String) {
        self.cancel.store(false, Ordering::Relaxed);
        // Like a failed line, a failed advance is undone whole: the steps it took before a
        // scheduled closure failed would otherwise never reach a `:save`d script.
        let before = self.host.lock().clone();
        let values = SharedValues::of(&self.scope, &self.host);
        let step = before.sim.step;
        self.arm();
        let r = self.drive(target);
        let timed_out = r.is_err() && self.timed_out();
        self.disarm();
        self.flush_output();
        if r.is_err() {
            values.restore();
        }
        match r {
            // A move that took no step (`:step 0`, `:run-to` within the step just run) is
            // not written to a saved script.
            Ok(()) if self.host.lock().sim.step == step => {
                outln!("still at {} (no step taken)", self.today());
            }
            Ok(()) => {
                self.script.push(record);
                // The date is the last step's, run through its week: after the first step it
                // is still the start date, so the count tells the two apart.
                let all = self.host.lock().sim.step;
                let n = all - step;
                outln!(
                    "now at {} ({n} step{} run, {all} in all, the last the week from that date)",
                    self.today(),
                    if n == 1 { "" } else { "s" }
                );
            }
            Err(_) if self.cancel.swap(false, Ordering::Relaxed) => {
                // Ctrl-C: undone whole as a failure is, so a :save replays what is shown.
                *self.host.lock() = before;
                errln!(
                    "interrupted: none of it stays, the clock is back at {}",
                    self.today()
                );
            }
            Err(e) => {
                note_failure();
                let mut error = ScriptError::from_eval("<repl>", "", &e);
                error.source_line = None;
                (error.line, error.column) = (None, None);
                if let Some(o) = self.origin_of(&e, None) {
                    error = o.place(error, &e);
                }
                err!("{}", earlier_closure(error));
                *self.host.lock() = before;
                // The action waits as it was: every later move past its date fails again.
                errln!(
                    "(the command failed, so none of it stays: the clock is at {}; the action \
                     that failed still waits, so no move gets past it: `:reset` starts again \
                     without it, or `:save` the session, take it out, and `chokepoint run` the \
                     script)",
                    self.today()
                );
                if timed_out {
                    self.say_time_limit();
                }
            }
        }
    }

    fn today(&self) -> Date {
        self.host.lock().sim.last_date()
    }

    fn series(&self, metric: &str, key: &str) -> Result<(Vec<Date>, Vec<f64>)> {
        let h = self.host.lock();
        let s = &h.sim.series;
        let col = s.find(metric, key).ok_or_else(|| {
            let keys = s.keys(metric);
            if keys.is_empty() {
                anyhow!(
                    "unknown metric '{metric}'{} (the metrics: {})",
                    chokepoint_core::error::did_you_mean(metric, s.metrics()),
                    s.metrics().join(", ")
                )
            } else {
                // A part of a key (`oxide:Dy` for `ROW/oxide:Dy`, `US` for a country's
                // forms) names the keys that hold it; else the nearest one.
                let holding: Vec<&str> = (keys.iter().copied())
                    .filter(|k| k.split(['/', '>']).any(|part| part == key))
                    .collect();
                if metric == "trade_by_form" {
                    return match chokepoint_core::sim::route_of(&h.sim.model, key) {
                        Err(why) => anyhow!("metric '{metric}' has no key '{key}': {why}"),
                        Ok(_) => anyhow!(
                            "metric '{metric}' has no key '{key}': nothing sells that form \
                             across that border in this run, so none is recorded (it is 0; a \
                             plant a lever builds can open the route)"
                        ),
                    };
                }
                let hint = match holding.len() {
                    0 => chokepoint_core::error::did_you_mean(key, keys.iter().copied()),
                    1..=12 => format!(" (keys with '{key}': {})", holding.join(", ")),
                    n => format!(
                        " ({n} keys hold '{key}', among them {}; :keys {metric} lists all)",
                        holding[..6].join(", ")
                    ),
                };
                anyhow!("metric '{metric}' has no key '{key}'{hint}")
            }
        })?;
        if s.steps == 0 {
            return Err(anyhow!("nothing recorded yet: :step first"));
        }
        Ok((s.dates.clone(), s.column(col)))
    }

    fn command(&mut self, line: &str) -> bool {
        let mut parts = line.split_whitespace();
        let cmd = parts.next().unwrap_or("");
        let args: Vec<&str> = parts.collect();
        // What follows the command, whole: a file name may hold spaces, or be quoted.
        let rest = line.trim_start()[cmd.len()..].trim();
        let most = match cmd {
            ":step" | ":run-to" | ":keys" => 1,
            ":show" | ":plot" => 2,
            ":save" | ":save!" => usize::MAX,
            ":quit" | ":q" | ":exit" | ":help" | ":h" | ":levers" | ":reset" => 0,
            other => {
                failed!("error: unknown command '{other}' (try :help)");
                return true;
            }
        };
        if args.len() > most {
            failed!(
                "error: {cmd} takes {}; '{}' is more than it reads",
                match most {
                    0 => "nothing".to_string(),
                    1 => "one argument".to_string(),
                    n => format!("{n} arguments"),
                },
                args[most..].join(" ")
            );
            return true;
        }
        match cmd {
            ":quit" | ":q" | ":exit" => return false,
            ":help" | ":h" => out!("{HELP}"),
            ":levers" => {
                for d in chokepoint_script::reference::reference() {
                    outln!("  {}", d.signature);
                }
            }
            ":step" => {
                let n = match args.first().map(|a| a.parse::<usize>()) {
                    None => 1,
                    Some(Ok(n)) if n <= 100_000 => n,
                    _ => {
                        failed!("error: :step takes a number of steps (0 to 100000)");
                        return true;
                    }
                };
                // Past the end, the clock stops there, and the saved script says so with
                // the steps that were left (a `step` past the end would not replay).
                let (now, left) = {
                    let h = self.host.lock();
                    (h.sim.step, h.sim.steps_left())
                };
                if left == 0 {
                    failed!(
                        "error: the run has reached the model's end ({})",
                        self.today()
                    );
                    return true;
                }
                if n > left {
                    // Run to the end, as asked, saying it stopped short of the count.
                    outln!(
                        "(only {left} step{} left before the model's end: running {})",
                        if left == 1 { " is" } else { "s are" },
                        if left == 1 { "it" } else { "them" }
                    );
                }
                let n = n.min(left);
                self.advance(now + n, format!("step({n});"));
            }
            ":run-to" => {
                let Some(d) = args.first() else {
                    failed!("error: :run-to takes a date, e.g. :run-to 2025-06-30");
                    return true;
                };
                let last_run = {
                    let h = self.host.lock();
                    (h.sim.step > 0).then(|| h.sim.last_date())
                };
                match Date::parse(d) {
                    // Before the step just run: the clock only moves forward.
                    Ok(date) if last_run.is_some_and(|l| date < l) => failed!(
                        "error: :run-to {date}: the run is already at {} (the clock only moves \
                         forward; :reset starts again)",
                        self.today()
                    ),
                    Ok(date) if date >= self.model.start && date <= self.model.end => {
                        let target = (self.model.step_of(date) + 1).max(0) as usize;
                        self.advance(target, format!("run_until(\"{date}\");"));
                    }
                    Ok(date) => failed!(
                        "error: :run-to {date}: it is outside the model's horizon ({} to {})",
                        self.model.start,
                        self.model.end
                    ),
                    Err(e) => failed!("error: :run-to {d}: {e}"),
                }
            }
            ":show" | ":plot" => {
                let (Some(m), Some(k)) = (args.first(), args.get(1)) else {
                    failed!("error: {cmd} takes a metric and a key, e.g. {cmd} price ROW/oxide:Dy");
                    return true;
                };
                match self.series(m, k) {
                    Ok((dates, v)) if cmd == ":show" => show(m, k, &dates, &v),
                    Ok((dates, v)) => {
                        // (A sector's output lost in its own units: vehicles/yr.)
                        let unit = crate::compare::unit_of(&self.host.lock().sim.model, m, k, "");
                        let title = match unit.as_str() {
                            "" => format!("{m}[{k}]"),
                            unit => format!("{m}[{k}], {unit}"),
                        };
                        // (The chart's axis labels take ~14 columns beside its plot.)
                        let w = self.columns.saturating_sub(16).clamp(8, 64);
                        out!("{}", plot(&title, &dates, &v, w, 14))
                    }
                    Err(e) => failed!("error: {e}"),
                }
            }
            ":keys" => {
                let Some(m) = args.first() else {
                    failed!("error: :keys takes a metric, e.g. :keys shortfall");
                    return true;
                };
                let h = self.host.lock();
                let keys = h.sim.series.keys(m);
                if keys.is_empty() {
                    failed!(
                        "error: unknown metric '{m}'; metrics: {}",
                        h.sim.series.metrics().join(", ")
                    );
                } else {
                    // In lines of a terminal's width (trade_by_form has hundreds of keys).
                    let mut line = String::new();
                    for k in keys {
                        if !line.is_empty() && line.len() + 2 + k.len() > self.columns.max(40) - 2 {
                            outln!("{line}");
                            line.clear();
                        }
                        if !line.is_empty() {
                            line.push_str("  ");
                        }
                        line.push_str(k);
                    }
                    outln!("{line}");
                }
            }
            ":save" | ":save!" => {
                // Quoted as a shell would take it ("a b.rhai" or 'a b.rhai'), and ~ for home.
                let unquoted = (rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
                    .or_else(|| rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
                    .unwrap_or(rest);
                // A quote opened and not closed is a mistake, not part of a file name (a
                // file `"x.rhai` could not be run as the note after a save shows).
                if unquoted.starts_with(['"', '\'']) || unquoted.ends_with(['"', '\'']) {
                    failed!(
                        "error: :save {rest}: a quote is not closed: :save \"my file.rhai\", or \
                         :save my-file.rhai"
                    );
                    return true;
                }
                let home = std::env::var("HOME").ok().filter(|h| !h.is_empty());
                let expanded = match (unquoted, unquoted.strip_prefix("~/"), home) {
                    (_, Some(tail), Some(home)) => format!("{home}/{tail}"),
                    ("~", _, Some(home)) => home,
                    _ => unquoted.to_string(),
                };
                let f = expanded.as_str();
                if f.is_empty() {
                    failed!("error: :save takes a file name, e.g. :save scripts/my-scenario.rhai");
                    return true;
                }
                if Path::new(f).is_dir() {
                    let example = Path::new(f).join("session.rhai");
                    failed!(
                        "error: {f} is a directory: give a file name, e.g. {}",
                        example.display()
                    );
                    return true;
                }
                // Nothing to save (after `:reset`) does not empty a file this session saved.
                if cmd == ":save" && self.script.is_empty() && std::fs::symlink_metadata(f).is_ok()
                {
                    failed!(
                        "error: the session has no statements to save (none since its start or \
                         :reset), so {f} is left as it is (:save! {f} empties it)"
                    );
                    return true;
                }
                // A session's save replaces an earlier save, not a scenario written by hand.
                let key = std::fs::canonicalize(f).unwrap_or_else(|_| PathBuf::from(f));
                let ours = (self.saved.iter()).any(|(p, text)| {
                    *p == key && std::fs::read_to_string(f).is_ok_and(|t| t == *text)
                });
                if cmd == ":save" && std::fs::symlink_metadata(f).is_ok() && !ours {
                    failed!(
                        "error: {f} exists and this session did not write what it holds (a \
                         script by hand, or one edited since): :save! {f} replaces it"
                    );
                    return true;
                }
                let model = self.model_header_for(Path::new(f));
                // A file name with spaces is quoted in the replay hint, as a shell needs.
                let shown = if f.contains(char::is_whitespace) {
                    format!("\"{f}\"")
                } else {
                    f.to_string()
                };
                let mut text = format!(
                    "{SAVED_HEADER}\n// model: {model}\n// saved by chokepoint repl; replay with `chokepoint run {shown}`\n\n",
                );
                for s in &self.script {
                    text.push_str(s);
                    text.push('\n');
                }
                match write::atomic(Path::new(f), text.as_bytes()) {
                    Ok(()) => {
                        let n = self.script.len();
                        outln!("saved {n} input{} to {f}", if n == 1 { "" } else { "s" });
                        // What `run` checks before a run (ids in actions that never fired),
                        // checked here too: the session let them by.
                        let checked = chokepoint_script::Scenario::compile(
                            Path::new(f),
                            &text,
                            &self.scripts_root,
                        )
                        .and_then(|sc| sc.check_named(&self.model));
                        if let Err(e) = checked {
                            errln!(
                                "note: `chokepoint run {shown}` will refuse it as it stands:\n{e}"
                            );
                        }
                        // `test` fails a scenario that checks nothing.
                        if self.host.lock().expectations.is_empty() {
                            errln!(
                                "note: it states no expectations: `chokepoint run {shown}` \
                                 replays it, and `chokepoint test` fails it until it has an \
                                 expect(...) line"
                            );
                        }
                        let lost = self.imports_out_of_reach(Path::new(f));
                        if !lost.is_empty() {
                            errln!(
                                "note: `chokepoint run {shown}` looks for the modules it imports \
                                 under {}, where {} is not: save it in {} (or a folder under \
                                 it), or copy the module there",
                                crate::import_root(Path::new(f)).display(),
                                lost.join(", "),
                                self.scripts_root.display()
                            );
                        }
                        let key = std::fs::canonicalize(f).unwrap_or_else(|_| PathBuf::from(f));
                        self.saved.retain(|(p, _)| *p != key);
                        self.saved.push((key, text));
                    }
                    Err(e) => failed!("error: {e:#}"),
                }
            }
            ":reset" => {
                self.reset();
                outln!("reset to {}", self.model.start);
            }
            other => failed!("error: unknown command '{other}' (try :help)"),
        }
        true
    }
}

/// The values of a scope's variables that closures have captured (shared cells), to put
/// back when what changed them is undone: a failed line, an interrupted or failed clock
/// move, the trial of a line's actions.
struct SharedValues(Vec<(Dynamic, Dynamic)>);

impl SharedValues {
    /// The variables closures have captured: the session's own, and those local to a
    /// function or block that only the closures the clock will run still hold (a `done`
    /// flag of a "fire once" rule), found through the closures' captured values.
    fn of(scope: &Scope, host: &HostHandle) -> SharedValues {
        let mut cells = Vec::new();
        for (_, _, v) in scope.iter_raw() {
            Self::collect(v, &mut cells, 0);
        }
        let h = host.lock();
        let closures = (h.schedule.iter().map(|s| &s.action))
            .chain(h.triggers.iter().flat_map(|t| [&t.condition, &t.action]))
            .chain(h.strategies.iter().map(|(f, _)| f));
        for f in closures {
            for v in f.curry() {
                Self::collect(v, &mut cells, 0);
            }
        }
        SharedValues(cells)
    }

    /// A shared cell's value, and the cells a closure, array or map it holds reaches (as
    /// deep as data can sensibly nest; a closure that captures itself is met again there).
    fn collect(v: &Dynamic, cells: &mut Vec<(Dynamic, Dynamic)>, depth: usize) {
        const DEEPEST: usize = 16;
        const MOST: usize = 100_000;
        if depth > DEEPEST || cells.len() >= MOST {
            return;
        }
        let value = v.flatten_clone();
        if v.is_shared() {
            cells.push((v.clone(), value.clone()));
        }
        let inner: Vec<Dynamic> = if value.is_fnptr() {
            value
                .cast::<chokepoint_script::rhai::FnPtr>()
                .curry()
                .to_vec()
        } else if value.is_array() {
            value.cast::<chokepoint_script::rhai::Array>()
        } else if value.is_map() {
            let map = value.cast::<chokepoint_script::rhai::Map>();
            map.into_values().collect()
        } else {
            Vec::new()
        };
        for x in &inner {
            Self::collect(x, cells, depth + 1);
        }
    }

    /// Whether any of the cells holds another value than when they were read.
    fn changed(&self) -> bool {
        (self.0.iter())
            .any(|(cell, value)| format!("{:?}", cell.flatten_clone()) != format!("{value:?}"))
    }

    fn restore(self) {
        for (mut cell, value) in self.0 {
            if let Some(mut held) = cell.write_lock::<Dynamic>() {
                *held = value;
            }
        }
    }
}

/// The first of `fns` (name, parameters) that `ast` calls, in its statements, functions or
/// closures: by name (`g()`), as a method (`x.g()`), or through a pointer to it (`Fn("g")`,
/// its bare name `a.map(g)`, or its name as a string `a.map("g")`, whatever the arity: a
/// pointer may be called with any). A string given to a lever (a label) is no call.
fn calls_any(ast: &AST, fns: &[(String, usize)]) -> Option<String> {
    use chokepoint_script::rhai::{ASTNode, Expr, FnPtr};
    static LEVERS: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    let levers = LEVERS.get_or_init(|| {
        (chokepoint_script::reference::reference().into_iter())
            .map(|d| d.name)
            .collect()
    });
    let named = |name: &str| fns.iter().any(|(n, _)| n == name);
    let mut found = None;
    ast.walk(&mut |path: &[ASTNode]| {
        let hit = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, _)))
            | Some(ASTNode::Stmt(Stmt::FnCall(call, _))) => {
                let by_name =
                    (fns.iter()).any(|(n, k)| *n == call.name.as_str() && *k == call.args.len());
                (call.namespace.is_empty() && by_name).then(|| call.name.to_string())
            }
            Some(ASTNode::Expr(Expr::MethodCall(call, _))) => {
                named(call.name.as_str()).then(|| call.name.to_string())
            }
            // An argument of a call that is not a lever's.
            Some(ASTNode::Expr(Expr::StringConstant(text, _))) => {
                let to_a_call = match path.iter().rev().nth(1) {
                    Some(ASTNode::Expr(Expr::FnCall(f, _) | Expr::MethodCall(f, _)))
                    | Some(ASTNode::Stmt(Stmt::FnCall(f, _))) => !levers.contains(f.name.as_str()),
                    _ => false,
                };
                (to_a_call && named(text.as_str())).then(|| text.to_string())
            }
            Some(ASTNode::Expr(Expr::Variable(v, ..))) => {
                named(v.1.as_str()).then(|| v.1.to_string())
            }
            Some(ASTNode::Expr(Expr::DynamicConstant(value, _))) => value
                .read_lock::<FnPtr>()
                .map(|p| p.fn_name().to_string())
                .filter(|n| named(n)),
            _ => None,
        };
        let go_on = hit.is_none();
        found = found.take().or(hit);
        go_on
    });
    found
}

/// The input's last line if it is a command (`:step 4`), with the text before it: a line
/// that begins with `:` inside a string still open over lines is part of the string.
fn command_line(input: &str) -> Option<(&str, &str)> {
    let (before, last) = match input.trim_end().rsplit_once('\n') {
        Some((b, l)) => (b, l),
        None => ("", input.trim_end()),
    };
    // A line inside a string or a `/* … */` comment the lines before left open is text.
    let text = in_string(before) || open_block_comment(before);
    (last.trim_start().starts_with(':') && !text).then_some((before, last))
}

/// Whether `input` opens more `{` than it closes, outside strings and comments (a `{` in a
/// string is no block left open).
fn braces_left_open(input: &str) -> bool {
    open_depths(input).0 > 0
}

/// Whether `input` closes a bracket it never opened (`print(1))`): no line to come can
/// make it whole, so it is an error now, not the start of a longer input.
fn stray_closer(input: &str) -> bool {
    open_depths(input).2
}

/// Whether `input` ends inside a `/* … */` comment (they nest), outside strings and line
/// comments: the parser takes such an input as finished, with the rest of it commented out.
fn open_block_comment(input: &str) -> bool {
    open_depths(input).1 > 0
}

/// How many `{` blocks and `/* */` comments `input` leaves open, reading it as Rhai does:
/// nothing inside a string or a comment counts, and block comments nest; and whether a
/// bracket of any kind is closed more often than it was opened.
fn open_depths(input: &str) -> (i64, usize, bool) {
    let b = input.as_bytes();
    let (mut braces, mut comments, mut i) = (0i64, 0usize, 0);
    let (mut depth, mut stray) = (0i64, false);
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let (c, next) = (b[i], b.get(i + 1).copied());
        match quote {
            Some(q) if c == b'\\' && q != b'`' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if comments > 0 && c == b'*' && next == Some(b'/') => {
                comments -= 1;
                i += 1;
            }
            None if c == b'/' && next == Some(b'*') => {
                comments += 1;
                i += 1;
            }
            None if comments > 0 => {}
            None if c == b'/' && next == Some(b'/') => {
                // To the end of the line.
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            None if matches!(c, b'"' | b'`' | b'\'') => quote = Some(c),
            None if c == b'{' => {
                braces += 1;
                depth += 1;
            }
            None if c == b'}' => {
                braces -= 1;
                depth -= 1;
                stray |= depth < 0;
            }
            None if matches!(c, b'(' | b'[') => depth += 1,
            None if matches!(c, b')' | b']') => {
                depth -= 1;
                stray |= depth < 0;
            }
            None => {}
        }
        i += 1;
    }
    (braces, comments, stray)
}

/// The first line of a script `:save` writes.
const SAVED_HEADER: &str = "// title: REPL session";

/// Whether the action that failed in a trial, the closure the clock ran (the outermost
/// call), is one an earlier input made (not one of `ast`'s, the input just typed, nor a
/// module's). What it calls in turn does not decide: a closure of this line may call a
/// function an earlier one defined.
fn made_earlier(e: &chokepoint_script::rhai::EvalAltResult, ast: &AST) -> bool {
    match e {
        chokepoint_script::rhai::EvalAltResult::ErrorInFunctionCall(name, source, ..) => {
            source.is_empty() && !ast.iter_functions().any(|f| f.name == name.as_str())
        }
        _ => false,
    }
}

/// An input with the header fields of its leading comments (`// title:`, `// model:`,
/// `// horizon:`: a scenario's file header, pasted whole) blanked, and the model it named.
fn drop_header_fields(input: &str) -> (String, Option<String>) {
    let mut model = None;
    let mut in_header = true;
    let mut kept = Vec::new();
    for line in input.lines() {
        let t = line.trim();
        if in_header && !t.is_empty() {
            match t.strip_prefix("//").and_then(|r| r.split_once(':')) {
                Some((key, value)) => {
                    let key = key.trim().to_ascii_lowercase();
                    if ["title", "model", "horizon"].contains(&key.as_str()) {
                        if key == "model" {
                            model = Some(value.trim().to_string());
                        }
                        // (Left blank: an error's line stays the line typed.)
                        kept.push("");
                        continue;
                    }
                }
                None if t.starts_with("//") => {}
                None => in_header = false,
            }
        }
        kept.push(line);
    }
    let mut text = kept.join("\n");
    if input.ends_with('\n') {
        text.push('\n');
    }
    (text, model)
}

/// Where an input's own statements (not its functions' or closures' bodies) `return` or
/// call `exit`: read from its text unoptimised (the engine's optimiser drops a `return` that
/// ends the input, which in a saved script is followed by more), else from `ast`.
fn top_level_exit(input: &str, ast: &AST) -> Option<chokepoint_script::rhai::Position> {
    use chokepoint_script::rhai::{ASTFlags, ASTNode, Expr, OptimizationLevel};
    let mut raw = Engine::new_raw();
    raw.set_optimization_level(OptimizationLevel::None);
    let plain = raw.compile(input).ok();
    let ast = plain.as_ref().unwrap_or(ast);
    let mut found = None;
    let mut path = Vec::new();
    for stmt in ast.statements() {
        stmt.walk(&mut path, &mut |nodes: &[ASTNode]| {
            found = match nodes.last() {
                Some(ASTNode::Stmt(Stmt::Return(_, flags, at)))
                    if !flags.contains(ASTFlags::BREAK) =>
                {
                    Some(*at)
                }
                Some(ASTNode::Stmt(Stmt::FnCall(call, at)))
                | Some(ASTNode::Expr(Expr::FnCall(call, at)))
                    if call.name == "exit" && call.namespace.is_empty() =>
                {
                    Some(*at)
                }
                _ => None,
            };
            found.is_none()
        });
        path.clear();
        if found.is_some() {
            break;
        }
    }
    found
}

/// A scheduled closure that failed was typed on an earlier input: its position is in that
/// input, not in the one being shown, so no caret points into the wrong text.
fn earlier_closure(error: ScriptError) -> ScriptError {
    unplaced_closure(error, "in a closure set up on an earlier input")
}

/// A scheduled closure that failed in the trial of the line just typed: it may have been
/// set up on that line or an earlier one (the trial runs them all), so no caret is shown.
fn closure_of_the_trial(error: ScriptError) -> ScriptError {
    unplaced_closure(error, "in a closure set up on this input or an earlier one")
}

/// A failed closure's error, its place ("in the closure set up here") restated as `said`
/// and its caret dropped.
fn unplaced_closure(mut error: ScriptError, said: &str) -> ScriptError {
    if error.message.ends_with("in the closure set up here") {
        error.message = error.message.replace("in the closure set up here", said);
        error.source_line = None;
        error.line = None;
        error.column = None;
    }
    error
}

fn show(m: &str, k: &str, dates: &[Date], v: &[f64]) {
    let peak = v.iter().copied().fold(f64::MIN, f64::max);
    let low = v.iter().copied().fold(f64::MAX, f64::min);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    outln!(
        "{m}[{k}]: {} value{}, low {} mean {} peak {}",
        v.len(),
        if v.len() == 1 { "" } else { "s" },
        fmt_num(low),
        fmt_num(mean),
        fmt_num(peak)
    );
    let from = v.len().saturating_sub(6);
    for i in from..v.len() {
        outln!("  {}  {}", dates[i], fmt_num(v[i]));
    }
}

/// A line chart with block characters, `w` columns by `h` rows.
pub fn plot(title: &str, dates: &[Date], v: &[f64], w: usize, h: usize) -> String {
    let (lo, hi) = v
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    // A move of under a millionth of its level (8.321429 to 8.321428) would fill the axis
    // from top to bottom under two labels that read the same: it is drawn flat.
    let flat = hi - lo <= 1e-6 * hi.abs().max(lo.abs());
    let hi = if flat { lo } else { hi };
    let span = if hi > lo { hi - lo } else { 1.0 };
    let cols = w.min(v.len()).max(1);
    let mut grid = vec![vec![' '; cols]; h];
    let row_of = |y: f64| (((y - lo) / span * (h - 1) as f64).round() as usize).min(h - 1);
    // Each column is filled from zero where the axis holds it (a series below zero hangs
    // from the top: receipts drew their weeks of none as the tallest bars), else from the
    // axis' foot.
    let base = if lo < 0.0 && !flat {
        row_of(0.0_f64.min(hi))
    } else {
        0
    };
    for c in 0..cols {
        // The mean of the values this column covers.
        let a = c * v.len() / cols;
        let b = ((c + 1) * v.len() / cols).max(a + 1);
        // (A mean may round an ulp outside the values it is of: within the axis.)
        let y = (v[a..b].iter().sum::<f64>() / (b - a) as f64).clamp(lo, hi.max(lo));
        let row = row_of(y);
        for r in row.min(base)..=row.max(base) {
            grid[h - 1 - r][c] = if r == row { '█' } else { '│' };
        }
    }
    // A series that never moves has one level, shown once (not as both ends of an axis).
    let mut o = match flat {
        true => format!("{title} (constant at {})\n", fmt_num(lo)),
        false => format!("{title}\n"),
    };
    for (i, row) in grid.iter().enumerate() {
        let label = if i == 0 && !flat {
            crate::report::tick(hi)
        } else if i == h - 1 {
            crate::report::tick(lo)
        } else {
            String::new()
        };
        o.push_str(&format!(
            "{label:>12} ┤{}\n",
            row.iter().collect::<String>()
        ));
    }
    if let (Some(a), Some(b)) = (dates.first(), dates.last()) {
        // The first and last dates under the chart's ends, when it is wide enough for both.
        if cols >= 21 {
            o.push_str(&format!(
                "{:>12}  {a}{:>width$}\n",
                "",
                b.to_string(),
                width = cols - 10
            ));
        } else if w >= 24 {
            o.push_str(&format!("{:>12}  {a} to {b}\n", ""));
        } else {
            // A narrow terminal: one date a line, within its width.
            o.push_str(&format!("{:>12}  {a} to\n{:>12}  {b}\n", "", ""));
        }
    }
    o
}

/// The session's model without --model, and the scripts directory its imports read:
/// `models/world-2024.yaml` here, else in the nearest directory above that holds it (a
/// session started in a project's subfolder, as `run` finds a script's model there), with
/// that project's `scripts/`.
fn default_model() -> Result<(PathBuf, PathBuf)> {
    let named = Path::new("models/world-2024.yaml");
    if named.exists() {
        return Ok((named.to_path_buf(), PathBuf::from("scripts")));
    }
    let cwd = std::env::current_dir().ok();
    let Some(project) = cwd
        .as_deref()
        .and_then(|cwd| cwd.ancestors().find(|a| a.join(named).is_file()))
    else {
        return Err(anyhow!(crate::BadInput(
            "error: no models/world-2024.yaml in the current directory or any above it: start \
             the REPL in a chokepoint project, or name a model with --model FILE"
                .into()
        )));
    };
    errln!(
        "note: the model is {} (none in the current directory)",
        project.join(named).display()
    );
    Ok((project.join(named), project.join("scripts")))
}

pub fn run(model_path: Option<&Path>, time_limit: Duration) -> Result<u8> {
    let (model_path, scripts_root) = match model_path {
        Some(p) => (p.to_path_buf(), PathBuf::from("scripts")),
        None => default_model()?,
    };
    let model_path = model_path.as_path();
    let model = Arc::new(
        chokepoint_core::load(model_path).map_err(|e| anyhow!(crate::BadInput(e.to_string())))?,
    );
    let cancel = Arc::new(AtomicBool::new(false));
    let mut session = Session::new(
        model.clone(),
        model_path.to_path_buf(),
        scripts_root.clone(),
        cancel.clone(),
        time_limit,
    );
    let reference = chokepoint_script::reference::reference();
    let params = lever_params(&reference);
    let options = chokepoint_script::reference::lever_options(&reference, &model);
    let mut words: Vec<String> = reference.into_iter().map(|d| d.name).collect();
    words.extend(
        [
            ":help", ":levers", ":step", ":run-to", ":show", ":plot", ":keys", ":save", ":save!",
            ":reset", ":quit",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let m = &model;
    words.extend(m.elements.iter().map(|x| x.symbol.clone()));
    words.extend(m.countries.iter().map(|x| x.id.clone()));
    words.extend(m.firms.iter().map(|x| x.id.clone()));
    words.extend(m.groups.iter().map(|x| x.id.clone()));
    words.extend(m.facilities.iter().map(|x| x.id.clone()));
    words.extend(m.sectors.iter().map(|x| x.id.clone()));
    words.extend(m.stockpiles.iter().map(|x| x.id.clone()));
    words.extend(m.forms.iter().map(|x| x.id.clone()));
    words.extend(m.markets.iter().cloned());
    words.extend((0..m.commodities.len()).map(|c| m.commodity_name(c)));
    // Metrics and their keys, for :show, :plot and :keys.
    let mut metrics: BTreeMap<String, Vec<String>> = Default::default();
    for (metric, key) in session.host.lock().sim.series.names.iter() {
        // (A country's trade with itself is always 0: no key to offer.)
        if key.split_once('>').is_some_and(|(a, b)| a == b) {
            continue;
        }
        metrics.entry(metric.clone()).or_default().push(key.clone());
        words.push(metric.clone());
        words.push(key.clone());
    }
    words.sort();
    words.dedup();
    let helper = ReplHelper {
        words,
        ids: ids_by_kind(m),
        params,
        options,
        metrics,
        engine: build_engine(None, &scripts_root),
        unfinished: Default::default(),
        labels: session.labels(),
    };
    let config = rustyline::Config::builder().auto_add_history(true).build();
    let mut rl: Editor<ReplHelper, DefaultHistory> =
        Editor::with_config(config).map_err(|e| anyhow!("cannot start the line editor: {e}"))?;
    rl.set_helper(Some(helper));
    // After the editor exists: it takes SIGINT for itself when created, and while it reads a
    // line the terminal is raw (Ctrl-C arrives as a key), so SIGINT only ever comes during an
    // evaluation, where it should cancel. A failure only means Ctrl-C ends the REPL.
    {
        let c = cancel.clone();
        let _ = ctrlc::set_handler(move || c.store(true, Ordering::Relaxed));
    }
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".chokepoint_history"));
    // A history that is not a plain file of sensible size (a link to /dev/zero, a pipe) is
    // not read: it could hang the session or fill its memory.
    let history = history.filter(|h| {
        std::fs::metadata(h).map_or(true, |m| m.is_file() && m.len() <= 4 * 1024 * 1024)
    });
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    outln!(
        "chokepoint repl on {} ({} to {}). :help for commands, :quit to leave.",
        model.title,
        model.start,
        model.end
    );
    // What `check` and `run` warn of in the model bears on every answer here too.
    crate::say_warnings(&model, "the model");
    let (mut bad_reads, mut failure) = (0, None);
    let piped = !std::io::IsTerminal::is_terminal(&std::io::stdin());
    let mut lines_read = 0;
    loop {
        // The date of the last step run; before the first, the clock stands before the
        // start date's week (the first step's date is the start's too).
        let stepped = session.host.lock().sim.step > 0;
        let prompt = match stepped {
            false => format!("before {}> ", session.today()),
            true => format!("{}> ", session.today()),
        };
        match rl.readline(&prompt) {
            Ok(line) => {
                session.stdin_line = piped.then_some(lines_read + 1);
                lines_read += line.lines().count().max(1);
                let mut t = line.trim();
                if t.is_empty() {
                    continue;
                }
                // A command typed on a continuation line ends the input: what comes before it
                // runs first if it is whole (statements pasted with a command after them),
                // and is dropped, as a failure, if it is not.
                if let Some((before, last)) = command_line(t) {
                    if !before.trim().is_empty() {
                        if session.engine.compile(before).is_ok() {
                            session.eval(before);
                        } else {
                            failed!("(the unfinished input before {} is dropped)", last.trim());
                        }
                    }
                    t = last.trim();
                }
                if t.starts_with(':') {
                    if let Some((columns, _)) = rl.dimensions().filter(|_| !piped) {
                        session.columns = usize::from(columns);
                    }
                    if !session.command(t) {
                        break;
                    }
                } else {
                    session.eval(&line);
                }
            }
            // Ctrl-C abandons the input being typed: it is not kept for the end.
            Err(ReadlineError::Interrupted) => {
                if let Some(h) = rl.helper() {
                    h.unfinished.take();
                }
                continue;
            }
            Err(ReadlineError::Eof) => {
                // Input that ends inside a statement (a piped file cut short, say) is
                // reported with the parser's own message rather than dropped unseen.
                let unfinished = rl.helper().map(|h| h.unfinished.take()).unwrap_or_default();
                if !unfinished.trim().is_empty() {
                    session.stdin_line = piped.then_some(lines_read + 1);
                    failed!("error: the input ended inside an unfinished statement");
                    session.eval(&unfinished);
                }
                break;
            }
            // Bytes that are not UTF-8 (a stray paste) lose that line, not the session. A
            // stream that yields nothing else ends it.
            Err(ReadlineError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                lines_read += 1;
                failed!("error: that input is not UTF-8 text; the line is dropped");
                bad_reads += 1;
                if bad_reads > 100 {
                    failure = Some(anyhow!("the input is not UTF-8 text"));
                    break;
                }
                continue;
            }
            Err(e) => {
                failure = Some(anyhow!("the line editor failed: {e}"));
                break;
            }
        }
        bad_reads = 0;
        session.say_expectations();
        // Each input reaches the history file as it is typed, appended under the file's
        // lock: a session killed keeps what it had, and two sessions at once keep both.
        if let Some(h) = &history {
            let _ = rl.append_history(h);
        }
        if let Some(h) = rl.helper_mut() {
            h.labels = session.labels();
        }
    }
    if let Some(h) = &history {
        let _ = rl.append_history(h);
    }
    match failure {
        Some(e) => Err(e),
        // Piped input (a script of REPL lines, in CI say): any line that failed is bad
        // input, exit 2. At a terminal the session itself is the result.
        None if !std::io::IsTerminal::is_terminal(&std::io::stdin())
            && FAILURES.load(Ordering::Relaxed) > 0 =>
        {
            Ok(2)
        }
        // And one whose expectations failed is a failed check, exit 1, as under `run`.
        None if !std::io::IsTerminal::is_terminal(&std::io::stdin())
            && EXPECTATIONS_FAILED.load(Ordering::Relaxed) > 0 =>
        {
            Ok(1)
        }
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::{command_line, open_block_comment, plot};
    use chokepoint_core::Date;

    #[test]
    fn a_command_inside_an_open_comment_or_string_is_text() {
        assert!(command_line(":step 52").is_some());
        assert!(command_line("let a = 1;\n:step 52").is_some());
        assert!(command_line("/* notes for later:\n:step 52").is_none());
        assert!(command_line("/* done */\n:step 52").is_some());
        assert!(command_line("let s = `a\n:step 52").is_none());
    }

    #[test]
    fn a_block_comment_left_open_keeps_the_input_going() {
        for open in [
            "/* note",
            "x /* a /* nested */ b",
            "let a = 1; /* draft\nmore",
        ] {
            assert!(open_block_comment(open), "{open}");
        }
        for closed in [
            "/* note */",
            "x /* a /* nested */ b */",
            "let s = \"/* in a string\";",
            "let a = 1; // a line comment /* here",
            "let c = '/'; let d = '*';",
        ] {
            assert!(!open_block_comment(closed), "{closed}");
        }
    }

    /// A completer knowing `words` and nothing else.
    fn helper_of(words: &[&str]) -> super::ReplHelper {
        super::ReplHelper {
            words: words.iter().map(|w| w.to_string()).collect(),
            ids: Default::default(),
            params: Default::default(),
            options: Default::default(),
            metrics: Default::default(),
            engine: chokepoint_script::build_engine(None, std::path::Path::new("scripts")),
            unfinished: Default::default(),
            labels: Default::default(),
        }
    }

    /// What Tab offers at the end of `line`, in order.
    fn completions(helper: &super::ReplHelper, line: &str) -> Vec<String> {
        use rustyline::completion::Completer as _;
        let history = rustyline::history::DefaultHistory::new();
        let ctx = rustyline::Context::new(&history);
        let (_, pairs) = helper.complete(line, line.len(), &ctx).unwrap();
        pairs.into_iter().map(|p| p.replacement).collect()
    }

    #[test]
    fn a_commands_arguments_complete_to_metrics_and_their_keys() {
        let helper = super::ReplHelper {
            metrics: [
                (
                    "shortfall".to_string(),
                    vec!["magnet:NdFeB/US".into(), "oxide/JP".into()],
                ),
                ("stockpile".to_string(), vec!["us-nds-ndfeb".to_string()]),
                (
                    "trade".to_string(),
                    vec!["CN>JP".into(), "CN>US".into(), "US>CN".into()],
                ),
                (
                    "trade_by_form".to_string(),
                    vec!["CN>US/magnet:NdFeB".into(), "CN>US/oxide".into()],
                ),
            ]
            .into_iter()
            .collect(),
            ..helper_of(&["shenghe", "shortfall", "stockpile_release"])
        };
        let complete = |line: &str| completions(&helper, line);
        // A key that pairs two countries completes past its `>` (it offered nothing).
        assert_eq!(complete(":show trade CN>"), ["CN>JP", "CN>US"]);
        assert_eq!(complete(":plot trade CN>U"), ["CN>US"]);
        // A route's form completes past its `/`.
        assert_eq!(
            complete(":show trade_by_form CN>US/m"),
            ["CN>US/magnet:NdFeB"]
        );
        assert_eq!(
            complete(":plot trade_by_form CN>U"),
            ["CN>US/magnet:NdFeB", "CN>US/oxide"]
        );
        assert_eq!(complete(":keys sh"), ["shortfall"]);
        assert_eq!(complete(":show s"), ["shortfall", "stockpile"]);
        assert_eq!(complete(":plot shortfall magnet"), ["magnet:NdFeB/US"]);
        assert_eq!(
            complete(":show shortfall "),
            ["magnet:NdFeB/US", "oxide/JP"]
        );
        // In script text, every known word.
        assert_eq!(complete("print(sh"), ["shenghe", "shortfall"]);
    }

    fn weeks(n: usize) -> Vec<Date> {
        let start = Date::parse("2024-01-01").unwrap();
        (0..n).map(|i| start.add_days(7 * i as i32)).collect()
    }

    #[test]
    fn a_plot_labels_its_dates_apart_however_few_the_points() {
        let few = plot("p", &weeks(3), &[1.0, 3.0, 2.0], 64, 5);
        assert!(few.ends_with("2024-01-01 to 2024-01-15\n"), "{few}");
        let many = plot("p", &weeks(100), &vec![1.0; 100], 64, 5);
        let last = many.lines().last().unwrap();
        assert!(last.trim_start().starts_with("2024-01-01 "), "{many}");
        assert!(last.ends_with(" 2025-11-24"), "{many}");
        // Every row of the chart is as wide as the chart.
        let widths: Vec<usize> = many
            .lines()
            .skip(1)
            .take(5)
            .map(|l| l.chars().count())
            .collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{many}");
    }

    #[test]
    fn a_script_line_is_offered_levers_and_ids_before_series_keys() {
        let helper = helper_of(&["DE", "DE/concentrate", "DE>AU", "Dy", "demand_shock"]);
        let got = completions(&helper, "thrift(\"D");
        assert_eq!(got, ["DE", "Dy", "DE/concentrate", "DE>AU"]);
    }

    #[test]
    fn an_options_map_key_is_offered_the_levers_options() {
        let reference = chokepoint_script::reference::reference();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let model = chokepoint_core::load::load(&root.join("models/world-2024.yaml")).unwrap();
        let options = chokepoint_script::reference::lever_options(&reference, &model);
        // Every lever that takes an options map states its keys in its doc.
        for (lever, keys) in [
            (
                "export_ban",
                &["elements", "forms", "to", "exempt", "label"][..],
            ),
            (
                "export_licence",
                &[
                    "elements",
                    "forms",
                    "to",
                    "exempt",
                    "label",
                    "approval",
                    "delay_days",
                ],
            ),
            ("tariff", &["elements", "forms", "label"]),
            ("contract", &["firm"]),
            ("stockpile_release", &["as_needed"]),
            ("build", &["country", "firm"]),
            ("entity_list", &["elements", "forms", "exempt", "label"]),
        ] {
            let got: Vec<&str> = options
                .get(lever)
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            assert_eq!(got, keys, "{lever}: {options:?}");
        }
        let helper = super::ReplHelper {
            options,
            params: super::lever_params(&reference),
            ..helper_of(&["electronics-cn", "export_ban"])
        };
        let complete = |line: &str| completions(&helper, line);
        assert_eq!(complete("export_ban(\"CN\", #{ el"), ["elements"]);
        assert_eq!(
            complete("export_ban(\"CN\", #{ to: [\"US\"], la"),
            ["label"]
        );
        assert_eq!(complete("tariff(\"US\", \"CN\", 0.1, #{ f"), ["forms"]);
        // A value is not a key; outside a lever's map, the usual words.
        assert_eq!(complete("let x = #{ el"), ["electronics-cn"]);
        assert_eq!(complete("export_b"), ["export_ban"]);
    }

    #[test]
    fn a_string_argument_is_offered_the_ids_of_its_kind() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let model = chokepoint_core::load::load(&root.join("models/world-2024.yaml")).unwrap();
        let helper = super::ReplHelper {
            ids: super::ids_by_kind(&model),
            params: super::lever_params(&chokepoint_script::reference::reference()),
            labels: vec!["dy-ban".into(), "dy-licence".into(), "magnets".into()],
            ..helper_of(&["US", "us-ndfeb", "usa-thing"])
        };
        let complete = |line: &str| completions(&helper, line);
        // `lift` takes the labels of the session's policies.
        assert_eq!(complete("lift(\"CN\", \"dy"), ["dy-ban", "dy-licence"]);
        // A lever's argument: an element, a country, a stockpile (by the signature).
        // (Not Ce, an element, nor series keys such as CN/oxide.)
        assert_eq!(complete("thrift(\"D"), ["Dy"]);
        assert_eq!(complete("behaviour(\"div"), ["diversion"]);
        assert_eq!(complete("export_ban(\"C"), ["CA", "CN"]);
        let stockpiles: Vec<String> = model.stockpiles.iter().map(|p| p.id.clone()).collect();
        let mut offered = complete("stockpile_release(\"");
        offered.sort();
        let mut all = stockpiles.clone();
        all.sort();
        assert_eq!(offered, all);
        // The second argument, across a nested call and a string with a comma.
        assert_eq!(complete("price_floor(f(\"a,b\"), \"oxide:D"), ["oxide:Dy"]);
        let payer = complete("price_floor(\"mp\", \"oxide:Nd\", 60.0, \"U");
        assert_eq!(payer, ["US"]);
        // An option of a lever's map, inside its array.
        assert_eq!(
            complete("export_ban(\"CN\", #{ elements: [\"Tb\", \"D"),
            ["Dy"]
        );
        let to = complete("export_ban(\"CN\", #{ elements: [\"Dy\"], to: [\"");
        for who in ["US", &model.firms[0].id, &model.groups[0].id] {
            assert!(to.iter().any(|w| w == who), "{who} not in {to:?}");
        }
        assert!(!to.iter().any(|w| w == "Dy" || w.contains('/')), "{to:?}");
        // Forms are forms (not oxide:Dy); an entity list names firms, not countries.
        assert_eq!(
            complete("tariff(\"US\", \"CN\", 0.1, #{ forms: [\"ox"),
            ["oxide"]
        );
        let listed = complete("entity_list(\"CN\", [\"");
        assert!(listed.contains(&model.firms[0].id), "{listed:?}");
        assert!(!listed.iter().any(|w| w == "US"), "{listed:?}");
        // Comments, char literals and quoted keys are read as Rhai reads them.
        assert_eq!(complete("let c = '\"'; thrift(\"T"), ["Tb", "Tm"]);
        assert_eq!(complete("thrift(/* \" */ \"T"), ["Tb", "Tm"]);
        assert_eq!(complete("export_ban(\"CN\", #{ \"elements\": [\"D"), ["Dy"]);
        // Outside a string, or where the kind is unknown, every word.
        assert_eq!(complete("us"), ["us-ndfeb", "usa-thing"]);
        assert_eq!(complete("print(\"us"), ["us-ndfeb", "usa-thing"]);
    }

    #[test]
    fn a_plot_whose_column_mean_rounds_past_the_peak_stays_on_its_axis() {
        // 0.1 + 0.1 + 0.1 is 0.30000000000000004: the mean of three 0.1s is an ulp above
        // the peak, with the low an ulp below it (it panicked with an index past the grid).
        let lo = 0.09999999999999999;
        let p = plot("p", &weeks(6), &[lo, lo, lo, 0.1, 0.1, 0.1], 2, 5);
        // (A move of an ulp is no move: drawn flat at its level.)
        assert!(p.starts_with("p (constant at 0.1)\n"), "{p}");
        // A move the axis can show is drawn to its top.
        let p = plot("p", &weeks(6), &[8.3, 8.3, 8.3, 8.4, 8.4, 8.4], 2, 5);
        assert_eq!(
            p.lines().nth(1).map(|l| l.ends_with('█')),
            Some(true),
            "{p}"
        );
        // One of a ten-millionth is not: 8.321429 to 8.321428 filled the axis under two
        // labels that both read 8.32.
        let p = plot(
            "p",
            &weeks(4),
            &[8.321429, 8.321429, 8.321428, 8.321428],
            4,
            5,
        );
        assert!(p.starts_with("p (constant at 8.321428)\n"), "{p}");
    }

    #[test]
    fn a_plot_fills_from_zero_so_a_series_below_it_hangs_from_the_top() {
        let rows = |p: &str| -> Vec<String> {
            (p.lines().skip(1).take(5))
                .map(|l| l.split('┤').nth(1).unwrap().to_string())
                .collect()
        };
        // Receipts (a policy cost below zero): weeks of none are at the top, not the
        // tallest bars.
        let p = plot("p", &weeks(4), &[0.0, -10.0, -10.0, 0.0], 4, 5);
        let r = rows(&p);
        assert_eq!(r[0], "█││█", "{p}");
        assert_eq!(r[4], " ██ ", "{p}");
        // Either side of zero: up from it and down from it.
        let p = plot("p", &weeks(2), &[-5.0, 5.0], 2, 5);
        assert_eq!(rows(&p), [" █", " │", "││", "│ ", "█ "], "{p}");
        // Above zero, from the axis' foot as before.
        let p = plot("p", &weeks(2), &[1.0, 3.0], 2, 5);
        assert_eq!(rows(&p), [" █", " │", " │", " │", "█│"], "{p}");
        // A narrow chart keeps its dates within its width.
        let p = plot("p", &weeks(40), &vec![1.0; 40], 8, 5);
        assert!(p.lines().all(|l| l.chars().count() <= 27), "{p}");
    }

    #[test]
    fn a_plot_of_a_series_that_never_moves_names_its_level_once() {
        let flat = plot("p", &weeks(10), &[0.0; 10], 64, 5);
        assert!(flat.starts_with("p (constant at 0)\n"), "{flat}");
        let labels: Vec<&str> = (flat.lines().skip(1).take(5))
            .map(|l| l.split('┤').next().unwrap().trim())
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(labels, ["0"], "{flat}");
    }
}

//! chokepoint: run, test, check and document critical-mineral supply-chain scenarios.

/// `println!` and `print!` for results: when the reader closes the pipe (`chokepoint run X
/// --out DIR | head`) the program stops printing instead of panicking on the failed write,
/// finishes what it was asked to do (the files it writes, its locks released), and ends with
/// status 141 as a Unix tool killed by SIGPIPE does.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out(format_args!("{}\n", format_args!($($arg)*)))
    };
}
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out(format_args!($($arg)*))
    };
}
/// `eprintln!` that a closed stderr (`2>&1 | head`) silences instead of panicking.
macro_rules! errln {
    () => {
        $crate::err(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::err(format_args!("{}\n", format_args!($($arg)*)))
    };
}
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::err(format_args!($($arg)*))
    };
}

mod compare;
mod repl;
mod report;
mod sweep;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use chokepoint_core::series::Resolution;
use chokepoint_core::{load, Model};
use chokepoint_script::{Outcome, RunOptions, Scenario};
use clap::{Parser, Subcommand};

/// Each thread's live bytes are counted, so a script that holds too much is stopped on its
/// own run's memory, not on what the process holds for other runs (`chokepoint_script::memory`).
#[global_allocator]
static ALLOCATOR: chokepoint_script::memory::Counting = chokepoint_script::memory::Counting;

/// Simulate critical-mineral supply chains and ask "what if".
#[derive(Parser)]
#[command(name = "chokepoint", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario script and report its results.
    ///
    /// Example: chokepoint run scripts/2025-04-china-licensing.rhai --out out/
    Run {
        /// The scenario script (.rhai).
        script: PathBuf,
        /// Model file (default: the script's `// model:` header, else models/world-2024.yaml).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Write series.csv, summary.json and report.html here, and baseline.csv (the
        /// baseline's series) where the run had a baseline. A run that fails leaves none of
        /// an earlier run's results there: summary.json says it failed, and why. A directory
        /// the failed run made is taken away.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed for stochastic events (default: the model's seed).
        #[arg(long, value_parser = parse_seed, allow_negative_numbers = true)]
        seed: Option<u64>,
        /// Set a script parameter: --set approval=0.3 (repeatable). A name no param() in the
        /// script reads is an error (exit 2), with a did-you-mean; one whose param() the run
        /// never reached (a branch not taken, a trigger that never fired) gets a note.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Time resolution of series.csv: step (also written week), month or year. A month or
        /// year row is the mean of its weekly values (a running total such as policy_cost:
        /// its value at the period's end), so peaks are exact only at step.
        #[arg(long, default_value = "month")]
        resolution: String,
        /// Wall-clock limit for the run, in seconds, and for a scenario run as its baseline;
        /// a run it stops fails (exit 1).
        #[arg(long, default_value_t = 60.0, allow_negative_numbers = true)]
        time_limit: f64,
        /// What the headlines are read against: another scenario run on the same model,
        /// dates, seed and --set values (history without the shock, say), or `none`.
        /// Default: the script's `// baseline:` header (a path from the script's
        /// directory), else the model with none of the script's levers.
        #[arg(long, value_name = "SCRIPT|none")]
        baseline: Option<PathBuf>,
    },
    /// Replay scenario files and check their expectations.
    ///
    /// Example: chokepoint test scripts/ --junit results.xml
    ///
    /// Example: chokepoint test scripts/ --set approval=0.3 --seed 7
    Test {
        /// Scripts or directories of scripts (default: scripts/). What a shell's glob names
        /// beside the scenarios in their directory (a README, lib/, a directory of none) is
        /// passed over with a note; a file that is no .rhai, or a directory that holds none,
        /// named on its own or apart from the rest is an error (exit 2).
        paths: Vec<PathBuf>,
        /// Write a JUnit XML report here (directories on the way are made).
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Set a script parameter in every scenario that reads it: --set approval=0.3
        /// (repeatable), to replay the library under another assumption. A scenario's line
        /// says the values it read; a name no scenario reads is an error (exit 2), with a
        /// did-you-mean.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Seed for stochastic events in every scenario (default: each one's model's seed).
        #[arg(long, value_parser = parse_seed, allow_negative_numbers = true)]
        seed: Option<u64>,
        /// Model file for scripts without a `// model:` header, or whose header names this
        /// file or the model in it (`--model elsewhere/world-2024.yaml`, or `--model
        /// variant.yaml` holding `name: world-2024`, for `// model: world-2024`); another
        /// header wins, and a note after the closing line names the scenarios it kept.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Wall-clock limit for each scenario, in seconds; a scenario it stops fails (exit
        /// 1). (Read by `test` itself, so a bad value replaces a --junit report like any
        /// other bad input.)
        #[arg(long, default_value = "120", allow_hyphen_values = true)]
        time_limit: String,
    },
    /// Validate a model file and print its inventory and production shares.
    ///
    /// Example: chokepoint check models/world-2024.yaml
    Check {
        /// The model file (.yaml).
        model: PathBuf,
        /// Also list the ids scripts use, by kind (elements, forms, stages, markets,
        /// countries, firms, groups, facilities, sectors, stockpiles, commodities).
        #[arg(long)]
        ids: bool,
    },
    /// Explore a model step by step: pull levers, step the clock, plot, save as a script.
    ///
    /// An error never ends the session; each expectation is said as it is checked. With
    /// piped input, the exit status is 2 if any line or command failed, else 1 if an
    /// expectation failed, 0 if all ran and held.
    ///
    /// Example: chokepoint repl --model models/world-2024.yaml
    Repl {
        /// Model file (default: models/world-2024.yaml, here or in the nearest directory
        /// above that holds it).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Wall-clock limit, in seconds, for each input, clock move and trial of a line's
        /// actions to the model's end: past it the input stops with an error and is undone
        /// (a trial stops, its line kept)
        #[arg(
            long,
            default_value_t = 60.0,
            value_name = "SECONDS",
            allow_negative_numbers = true
        )]
        time_limit: f64,
    },
    /// Run a scenario many times over uncertain parameters (Monte Carlo or grid).
    ///
    /// Writes runs.csv (each run's parameters and figures), runs_series.csv (each run's
    /// yearly values), bands.csv (p5/p50/p95 and mean per metric and year, and how many
    /// runs each is from: fewer where some ended before that year), sweep.json (the sweep's
    /// script, model, seed and parameters, which `merge` checks shards against),
    /// summary.json and report.html: fan charts, and each figure against each swept
    /// parameter (what "how large must it be?" reads off).
    ///
    /// Runs that fail the scenario's expectations are results, not errors: the sweep exits 0
    /// and counts them (runs.csv: expectations_failed), so a batch scheduler does not retry
    /// them.
    ///
    /// Monte Carlo draws each parameter uniformly and independently in its range (from a
    /// stream of each run's seed that its random events do not use); a grid spaces points
    /// evenly, both ends included, and each point still has its own seed. Percentiles
    /// interpolate linearly between the sorted runs. A figure's mean is over the run's
    /// weeks; a running total's (policy_cost) is its final value per year of the run.
    ///
    /// Example: chokepoint sweep scripts/2025-04-china-licensing.rhai --runs 1000 --set approval=0.1..0.9 --out out/sweep
    Sweep {
        /// The scenario script (.rhai); its `param(...)` calls read the swept values.
        script: PathBuf,
        /// Number of Monte Carlo runs [default: 100] (a grid sets its own count).
        #[arg(long, conflicts_with = "grid", value_parser = parse_count, allow_negative_numbers = true)]
        runs: Option<usize>,
        /// A parameter range: --set approval=0.1..0.9 (repeatable); --set release=12000
        /// holds one at a value for every run.
        #[arg(long = "set", value_name = "NAME=LO..HI")]
        set: Vec<String>,
        /// Grid instead of Monte Carlo: this many points per swept parameter (runs =
        /// points^parameters; one held at a value is one point).
        #[arg(long, value_parser = parse_count, allow_negative_numbers = true)]
        grid: Option<usize>,
        /// Worker threads (default: one per core; never more than the runs). Results do not
        /// depend on it.
        #[arg(long, value_parser = parse_count, allow_negative_numbers = true)]
        threads: Option<usize>,
        /// Run only shard K of N, K from 0 to N-1 (every N-th run from K); combine with
        /// `chokepoint merge`.
        #[arg(long, value_name = "K/N", allow_hyphen_values = true)]
        shard: Option<String>,
        /// Sweep seed (default: the model's seed).
        #[arg(long, value_parser = parse_seed, allow_negative_numbers = true)]
        seed: Option<u64>,
        /// A series to keep per run, METRIC=KEY, e.g. price=ROW/oxide:Dy or, quoted for the
        /// shell's sake, 'trade_by_form=CN>US/magnet:NdFeB' (repeatable). runs.csv
        /// gets its peak, mean and final value (for a running total such as policy_cost, the
        /// peak is its largest in size, so receipts peak at their most negative, where a
        /// script's `peak()` is the largest value; and the mean is per year of the run); the
        /// bands are of yearly means (running totals: the total at each year's end). Given, they replace the default set (ROW Dy oxide and
        /// NdFeB prices, US NdFeB shortfall, US policy cost). A series the run does not
        /// record is refused before the sweep starts, unless the script names its key (a
        /// plant it builds in some runs only: 0 in the others).
        #[arg(long = "metric", value_name = "METRIC=KEY")]
        metrics: Vec<String>,
        /// Model file (default: the script's header, else models/world-2024.yaml).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Output directory.
        #[arg(long, default_value = "out/sweep")]
        out: PathBuf,
        /// Wall-clock limit for each run, in seconds. A run it stops fails the sweep
        /// (exit 1): no runs are written, and where --out held earlier results, they are
        /// removed and summary.json there says why.
        #[arg(long, default_value_t = 60.0, allow_negative_numbers = true)]
        time_limit: f64,
    },
    /// Combine sweep shards into the result one machine would have written.
    ///
    /// Example: chokepoint merge out/shard-0 out/shard-1 --out out/sweep
    Merge {
        /// Shard directories written by `chokepoint sweep --shard K/N`.
        shards: Vec<PathBuf>,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run two scenarios and show the same figures side by side, with deltas.
    ///
    /// Exits 1 when either scenario fails one of its expectations, as `run` does. Each
    /// figure is a series' peak, mean or final value over the period both runs cover (each
    /// its own when their calendars differ); flows are rates per year, and a running total's
    /// (policy_cost) mean is its final value per year and its peak its largest in size
    /// (receipts at their most negative), as in `sweep`. On one model, a series only one run
    /// records (a plant a lever built) is 0 in the other. One script against itself with
    /// other parameters: the same file twice, with --set-a and --set-b.
    ///
    /// Example: chokepoint compare scripts/baseline-2024.rhai scripts/2025-04-china-licensing.rhai
    ///
    /// Example: chokepoint compare scripts/2025-04-china-licensing.rhai scripts/2025-04-china-licensing.rhai --set-a approval=0.1 --set-b approval=0.9
    Compare {
        /// The first (reference) scenario.
        a: PathBuf,
        /// The second scenario.
        b: PathBuf,
        /// Set a script parameter in both runs: --set approval=0.3 (repeatable). A name
        /// that a script given it never reads is an error (exit 2).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Set a parameter in run A only (over a --set of the same name).
        #[arg(long = "set-a", value_name = "NAME=VALUE")]
        set_a: Vec<String>,
        /// Set a parameter in run B only (over a --set of the same name).
        #[arg(long = "set-b", value_name = "NAME=VALUE")]
        set_b: Vec<String>,
        /// Seed for stochastic events in both runs (default: each model's seed).
        #[arg(long, value_parser = parse_seed, allow_negative_numbers = true)]
        seed: Option<u64>,
        /// Seed for run A only (over --seed): the same scenario on two seeds is
        /// `compare S S --seed-a 1 --seed-b 2`.
        #[arg(long, value_parser = parse_seed, allow_negative_numbers = true)]
        seed_a: Option<u64>,
        /// Seed for run B only (over --seed).
        #[arg(long, value_parser = parse_seed, allow_negative_numbers = true)]
        seed_b: Option<u64>,
        /// Model file for both (default: each script's header, else models/world-2024.yaml).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Write compare.csv and report.html here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// How many of the most-changed figures to list: the answers first, taken in turn:
        /// shortfalls (peak, mean or final; regions before sectors), price peaks, output
        /// lost per year; then the other price and output-lost figures, cover, dependency,
        /// queues, stockpiles and costs; then flows; moves under 1% last. Within each, the
        /// biggest move (in points for a share, else relative). compare.csv has every
        /// figure.
        #[arg(long, default_value_t = 15, value_parser = parse_top, allow_negative_numbers = true)]
        top: u64,
        /// Wall-clock limit for each of the two runs, in seconds; a run it stops fails
        /// (exit 1).
        #[arg(long, default_value_t = 120.0, allow_negative_numbers = true)]
        time_limit: f64,
    },
    /// Time the engine: one run of the model's first ten years, without and with a script.
    ///
    /// Example: chokepoint bench --runs 50 --script tests/bench/levers-20.rhai
    Bench {
        /// Model file (default: the script's `// model:` header, else
        /// models/world-2024.yaml).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Number of timed runs (the median is reported).
        #[arg(long, default_value_t = 20, value_parser = parse_count, allow_negative_numbers = true)]
        runs: usize,
        /// Also time this script over the same ten years and report the ratio.
        #[arg(long)]
        script: Option<PathBuf>,
        /// Also time each phase of the step and print where a run's time goes.
        #[arg(long)]
        phases: bool,
        /// Wall-clock limit for each scripted run, in seconds; a run it stops fails the
        /// bench (exit 1).
        #[arg(
            long,
            default_value_t = 60.0,
            value_name = "SECONDS",
            allow_negative_numbers = true
        )]
        time_limit: f64,
    },
    /// Print the lever reference, generated from the engine itself.
    ///
    /// Example: chokepoint docs --format json
    Docs {
        /// md or json.
        #[arg(long, default_value = "md")]
        format: String,
    },
}

/// Whether a --junit path is, or links to, a scenario or model file (by its extension).
fn junit_names_a_source(j: &Path) -> bool {
    let source = |p: &Path| {
        p.extension()
            .map(|x| x.to_string_lossy().to_lowercase())
            .is_some_and(|x| ["rhai", "yaml", "yml"].contains(&x.as_str()))
    };
    source(j) || std::fs::canonicalize(j).is_ok_and(|t| source(&t))
}

/// Whether `path` holds a JUnit report (XML whose root element is `<testsuites` or
/// `<testsuite`), is empty, or is not there: what `--junit` may write.
fn holds_a_report_or_nothing(path: &Path) -> bool {
    use std::io::Read as _;
    let Ok(file) = std::fs::File::open(path) else {
        return true;
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return true;
    }
    let mut head = Vec::new();
    if file.take(4096).read_to_end(&mut head).is_err() {
        return true;
    }
    let text = String::from_utf8_lossy(&head);
    let mut text = text.trim_start_matches('\u{feff}').trim_start();
    if text.is_empty() {
        return true;
    }
    // Its root element, past the XML declaration and any comments, is the report's (not a
    // test runner's configuration that lists test suites inside another root).
    loop {
        let skip = match text {
            t if t.starts_with("<?") => t.find("?>").map(|e| e + 2),
            t if t.starts_with("<!--") => t.find("-->").map(|e| e + 3),
            _ => break,
        };
        match skip {
            Some(n) => text = text[n..].trim_start(),
            None => return false,
        }
    }
    text.starts_with("<testsuites") || text.starts_with("<testsuite")
}

/// `test ... --junit FILE` whose other arguments do not parse: a report left there by an
/// earlier run would read as this run's pass, so FILE says the run stopped on bad input (as
/// it does for every other bad input). Only a plain file, or a new one in an existing
/// directory, is written.
fn junit_for_bad_arguments(why: &str) {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).and_then(|a| a.to_str()) != Some("test") {
        return;
    }
    let mut file = None;
    for (i, a) in args.iter().enumerate() {
        match a.to_str() {
            // A flag after `--junit` is its missing value, not a file to write.
            Some("--junit") => {
                file = (args.get(i + 1))
                    .filter(|v| !v.to_string_lossy().starts_with('-'))
                    .map(PathBuf::from)
            }
            Some(s) if s.starts_with("--junit=") => file = Some(PathBuf::from(&s[8..])),
            _ => {}
        }
    }
    let Some(j) = file.filter(|j| !j.as_os_str().is_empty() && !j.is_dir()) else {
        return;
    };
    if j.exists() && !j.is_file() {
        return;
    }
    if junit_names_a_source(&j) || !holds_a_report_or_nothing(&j) {
        return;
    }
    let case = (
        PathBuf::from("chokepoint test"),
        std::time::Duration::ZERO,
        report::CaseEnd::Broken(format!("the command line was not valid: {why}")),
    );
    let _ = write::atomic(&j, report::junit(&[case]).as_bytes());
}

/// Rhai catches the panic a script's inconsistent sort comparator causes in the standard
/// library's sort and reports it as the script's error, with its line; the default hook
/// would first print it, with a backtrace, as if chokepoint had crashed.
fn quiet_script_sort_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let text = (p.downcast_ref::<&str>().copied())
            .or_else(|| p.downcast_ref::<String>().map(String::as_str))
            .unwrap_or_default();
        // (Said after all if nothing caught it: a sort of chokepoint's own, see `main`.)
        if !text.contains("comparison function does not correctly implement a total order") {
            default(info);
        }
    }));
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            if code == 2 {
                // clap's own first line ("a value is required for '--time-limit <SECONDS>'
                // but none was supplied"), not only its kind of error.
                let text = e.to_string();
                let first = text.lines().next().unwrap_or_default();
                junit_for_bad_arguments(first.trim_start_matches("error: "));
            }
            return ExitCode::from(code);
        }
    };
    quiet_script_sort_panics();
    // The REPL handles Ctrl-C itself: it cancels an evaluation, not the session.
    if !matches!(cli.command, Command::Repl { .. }) {
        write::clean_up_on_interrupt();
    }
    // Rhai compares, prints and sizes nested arrays and maps by recursion: the command runs
    // on a thread with room for the deepest nesting a script can build within its limits,
    // so deep data is an error or a result, never a stack overflow that aborts the process
    // and leaves its outputs half-made.
    let command = std::sync::Arc::new(std::sync::Mutex::new(Some(cli.command)));
    let spawned =
        (chokepoint_script::engine::limits::script_stacks().into_iter()).find_map(|size| {
            let command = command.clone();
            std::thread::Builder::new()
                .name("chokepoint".into())
                .stack_size(size)
                .spawn(move || {
                    let taken = command.lock().ok().and_then(|mut c| c.take());
                    taken.map(dispatch)
                })
                .ok()
        });
    let result = match spawned {
        Some(h) => match h.join() {
            Ok(Some(r)) => r,
            Ok(None) => Err(anyhow::anyhow!("internal error: the command was not run")),
            // The panic has printed itself (but a sort's, which the hook kept quiet for
            // Rhai to report): clean up, and exit as Rust's own panics do (101).
            Err(payload) => {
                let text = (payload.downcast_ref::<&str>().copied())
                    .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or_default();
                if text.contains("does not correctly implement a total order") {
                    errln!("internal error: a sort was given an inconsistent order (a bug)");
                }
                write::release();
                write::remove_empty_created();
                return ExitCode::from(101);
            }
        },
        // No stack of any of those sizes to be had: run on this thread's.
        None => match command.lock().ok().and_then(|mut c| c.take()) {
            Some(c) => dispatch(c),
            None => Err(anyhow::anyhow!("internal error: the command was not run")),
        },
    };
    write::release();
    if !matches!(result, Ok(0)) {
        write::remove_empty_created();
    }
    if STDOUT_GONE.load(std::sync::atomic::Ordering::Relaxed) {
        return ExitCode::from(141);
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if let Some(f) = e.downcast_ref::<Failed>() {
                err!("{}{}", f.0, if f.0.ends_with('\n') { "" } else { "\n" });
                return ExitCode::from(1);
            }
            match e.downcast_ref::<BadInput>() {
                // Already formatted for people (script diagnostics, model problems).
                // A one-line message about an argument says it is an error, as the others do.
                Some(b) if !b.0.contains('\n') && !b.0.starts_with("error") => {
                    errln!("error: {}", b.0)
                }
                Some(b) => err!("{}{}", b.0, if b.0.ends_with('\n') { "" } else { "\n" }),
                None => errln!("error: {e:#}"),
            }
            ExitCode::from(2)
        }
    }
}

/// Outcomes that are the user's input problems, printed as they are (exit 2).
#[derive(Debug)]
pub struct BadInput(pub String);

/// A run that failed without bad input (its time limit stopped it), printed as it is
/// (exit 1, as a failed expectation).
#[derive(Debug)]
pub struct Failed(pub String);
impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Failed {}
impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadInput {}

fn dispatch(cmd: Command) -> Result<u8> {
    match cmd {
        Command::Check { model, ids } => check(&model, ids),
        Command::Repl { model, time_limit } => {
            check_time_limit(time_limit)?;
            repl::run(model.as_deref(), Duration::from_secs_f64(time_limit))
        }
        Command::Sweep {
            script,
            runs,
            set,
            grid,
            threads,
            shard,
            seed,
            metrics,
            model,
            out,
            time_limit,
        } => run_sweep(
            &script,
            runs,
            &set,
            grid,
            threads,
            shard.as_deref(),
            seed,
            &metrics,
            model.as_deref(),
            &out,
            time_limit,
        ),
        Command::Merge { shards, out } => {
            // Merging into one of the shards would overwrite an input with half a result.
            let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
                (Ok(x), Ok(y)) => x == y,
                _ => a == b,
            };
            if let Some(s) = shards.iter().find(|s| same(s, &out)) {
                return Err(anyhow!(BadInput(format!(
                    "--out {} is one of the shards being merged: write the merge elsewhere",
                    s.display()
                ))));
            }
            write::ready(&out, &sweep::OUTPUTS)?;
            // A merge that fails leaves no earlier one's results to be read as its own.
            let (n, note) = match sweep::merge(&shards, &out) {
                Ok(merged) => merged,
                Err(e) => {
                    let outputs = write::Outputs {
                        dir: out.clone(),
                        files: &sweep::OUTPUTS,
                        scenario: None,
                    };
                    outputs.void(e.to_string().trim_end())?;
                    return Err(e);
                }
            };
            outln!(
                "merged {} {}: {n} runs -> {}",
                shards.len(),
                if shards.len() == 1 { "shard" } else { "shards" },
                out.display()
            );
            if let Some(note) = note {
                errln!("{note}");
            }
            if let Some(table) = sweep::figures_table(&out) {
                out!("{table}");
            }
            let failed = sweep::failed_runs(&out);
            if failed > 0 {
                outln!("{failed} of {n} runs failed expectations (runs.csv: expectations_failed)");
            }
            Ok(0)
        }
        Command::Compare {
            a,
            b,
            set,
            set_a,
            set_b,
            seed,
            seed_a,
            seed_b,
            model,
            out,
            top,
            time_limit,
        } => {
            let top = usize::try_from(top).unwrap_or(usize::MAX);
            check_time_limit(time_limit)?;
            // Each side's parameters: those for both, then its own over them. Bad ones void
            // an earlier comparison in --out, as a failed one does.
            let parsed = parse_sets_of("--set", &set).and_then(|for_both| {
                let side = |flag: &str, own: &[String]| -> Result<BTreeMap<String, f64>> {
                    let mut p = for_both.clone();
                    p.extend(parse_sets_of(flag, own)?);
                    Ok(p)
                };
                Ok((side("--set-a", &set_a)?, side("--set-b", &set_b)?, for_both))
            });
            let (params_a, params_b, for_both) = match parsed {
                Ok(p) => p,
                Err(e) => {
                    if let Some(dir) = &out {
                        let outputs = write::Outputs {
                            dir: dir.clone(),
                            files: &["compare.csv", "report.html"],
                            scenario: None,
                        };
                        outputs.void(&e.to_string())?;
                    }
                    return Err(anyhow!(BadInput(format!("error: {e}"))));
                }
            };
            if let Some(dir) = &out {
                write::ready(dir, &["compare.csv", "report.html"])?;
                write::begin()?;
            }
            // A scenario that fails shows what it printed first, as `run` does.
            let run_one =
                |side: &str, script: &Path, seed: Option<u64>, params: &BTreeMap<String, f64>| {
                    let mut failure = Failure::default();
                    let r = execute(
                        script,
                        ModelArg::Override(model.as_deref()),
                        seed,
                        params.clone(),
                        time_limit,
                        &mut failure,
                    );
                    if r.is_err() {
                        for line in &failure.printed {
                            outln!("{line}");
                        }
                    }
                    r.map_err(|mut e| {
                        // As under `run`: which side, and the values it was given.
                        if !params.is_empty() && failure.ran && !failure.timed_out {
                            let given = (params.iter())
                                .map(|(k, v)| format!("{k}={}", param_text(*v)))
                                .collect::<Vec<_>>()
                                .join(" ");
                            let end = if e.0.ends_with('\n') { "" } else { "\n" };
                            e.0 = format!(
                                "{}{end}  = side {side} ran with {given}: a value given there is \
                             checked where the script uses it",
                                e.0
                            );
                        }
                        (e, failure.timed_out)
                    })
                };
            // A run its time limit stopped failed, as under `run` and `test` (exit 1); the
            // second runs only once the first has.
            let finished = |r: Result<_, (BadInput, bool)>| match r {
                Ok(x) => Ok(x),
                Err((e, true)) => {
                    errln!("{e}");
                    Err(None)
                }
                Err((e, false)) => Err(Some(anyhow!(e))),
            };
            // A comparison that fails leaves no earlier one's files to be read as its own.
            let outputs = out.as_ref().map(|dir| write::Outputs {
                dir: dir.clone(),
                files: &["compare.csv", "report.html"],
                scenario: None,
            });
            let both = finished(run_one("A", &a, seed_a.or(seed), &params_a))
                .and_then(|x| Ok((x, finished(run_one("B", &b, seed_b.or(seed), &params_b))?)));
            // From here an interrupt waits for the comparison's files to be written whole.
            let output = write::output_phase();
            let ((sa, ma, oa), (sb, mb, ob)) = match both {
                Ok(both) => both,
                Err(e) => {
                    if let Some(o) = &outputs {
                        o.void("a scenario failed")?;
                    }
                    return match e {
                        None => Ok(1),
                        Some(e) => Err(e),
                    };
                }
            };
            // A --set a script never reads is a typo, as under `run`: bad input, before
            // anything is written.
            let mut unread = Vec::new();
            for (flag, sc, o, params) in [
                ("--set-a", &sa, &oa, &params_a),
                ("--set-b", &sb, &ob, &params_b),
            ] {
                let written = sc.literal_params();
                for name in params.keys() {
                    if !o.params.contains_key(name) && !written.contains(name) {
                        let flag = if for_both.contains_key(name) {
                            "--set"
                        } else {
                            flag
                        };
                        let known = o.params.keys().chain(&written).map(String::as_str);
                        let hint = chokepoint_core::error::did_you_mean(name, known);
                        unread.push(format!(
                            "error: {flag} {name}: {} never reads param(\"{name}\"){hint}",
                            sc.path.display()
                        ));
                    }
                }
            }
            for (sc, o) in [(&sa, &oa), (&sb, &ob)] {
                if o.sim.series.steps == 0 {
                    unread.push(format!("error: {}: {}", sc.path.display(), sweep::NO_STEPS));
                }
            }
            if !unread.is_empty() {
                unread.sort();
                unread.dedup();
                for u in &unread {
                    errln!("{u}");
                }
                if let Some(o) = &outputs {
                    o.void("a --set a script never reads, or a run of no step")?;
                }
                return Ok(2);
            }
            // What `check` warns of in either model bears on both answers, as under `run`.
            let mut models = vec![&ma];
            if mb.name != ma.name || mb.start != ma.start {
                models.push(&mb);
            }
            for m in models {
                say_warnings(m, &format!("the model {}", m.name));
            }
            // Each said with its side: A and B are often one script with other values.
            for (side, sc, o) in [("A", &sa, &oa), ("B", &sb, &ob)] {
                for w in &o.warnings {
                    errln!("warning: {side}: {}: {w}", sc.path.display());
                }
                for n in o.output.iter().filter(|l| l.starts_with("note: ")) {
                    errln!("{side}: {}: {n}", sc.path.display());
                }
            }
            let base = compare::Bases { a: &ma, b: &mb };
            out!("{}", compare::table(&sa, &oa, &sb, &ob, base, top));
            if let Some(dir) = out {
                compare::write(&dir, &sa, &oa, &sb, &ob, base, top)?;
                outln!("wrote {}, report.html", dir.join("compare.csv").display());
            }
            output.done();
            // As `run`: an expectation that failed in either scenario is exit 1.
            Ok(if oa.failed() + ob.failed() > 0 { 1 } else { 0 })
        }
        Command::Run {
            script,
            model,
            out,
            seed,
            set,
            resolution,
            time_limit,
            baseline,
        } => {
            let res = Resolution::parse(&resolution).map_err(|e| anyhow!(e))?;
            // A bad --set voids an earlier run's results in --out, as a failed run does.
            let params = match parse_sets(&set) {
                Ok(p) => p,
                Err(e) => {
                    if let Some(dir) = &out {
                        write::ready(dir, RUN_FILES)?;
                        run_outputs(dir, &script).void(&e.to_string())?;
                    }
                    return Err(anyhow!(BadInput(format!("error: {e}"))));
                }
            };
            check_time_limit(time_limit)?;
            run(
                &script,
                model.as_deref(),
                out.as_deref(),
                seed,
                params,
                res,
                time_limit,
                baseline.as_deref(),
            )
        }
        Command::Test {
            paths,
            junit,
            set,
            seed,
            model,
            time_limit,
        } => test(
            &paths,
            junit.as_deref(),
            model.as_deref(),
            &set,
            seed,
            &time_limit,
        ),
        Command::Docs { format } => docs(&format),
        Command::Bench {
            model,
            runs,
            script,
            phases,
            time_limit,
        } => bench(
            model.as_deref(),
            runs,
            script.as_deref(),
            phases,
            time_limit,
        ),
    }
}

/// Set once stdout's reader has gone: nothing more is printed, and the program ends with 141.
static STDOUT_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes to stdout; a closed pipe silences the rest (see `outln!`).
pub fn out(args: std::fmt::Arguments) {
    use std::io::Write as _;
    use std::sync::atomic::Ordering;
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|_| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            STDOUT_GONE.store(true, Ordering::Relaxed);
            return;
        }
        errln!("error: cannot write the output: {e}");
        // As a failed command ends: no lock file, no directory it made and left empty.
        drop(stdout);
        write::release();
        write::remove_empty_created();
        std::process::exit(2);
    }
}

/// Writes to stderr; if its reader has gone there is no one left to tell, so nothing is
/// (the exit code still says how the command ended).
pub fn err(args: std::fmt::Arguments) {
    use std::io::Write as _;
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_fmt(args).and_then(|_| stderr.flush());
}

fn parse_sets(sets: &[String]) -> Result<BTreeMap<String, f64>> {
    parse_sets_of("--set", sets)
}

/// `NAME=VALUE` pairs given with `flag` (--set, --set-a, --set-b), named by it in errors.
fn parse_sets_of(flag: &str, sets: &[String]) -> Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for s in sets {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("{flag} {s}: expected NAME=VALUE"))?;
        let v: f64 = v.trim().parse().map_err(|_| match v.contains("..") {
            true => anyhow!(
                "{flag} {s}: '{v}' is a range, and a run takes one value: sweep a range \
                     with `chokepoint sweep SCRIPT --set {s}`"
            ),
            false => anyhow!("{flag} {s}: '{v}' is not a number"),
        })?;
        if !v.is_finite() {
            return Err(anyhow!("{flag} {s}: the value must be finite"));
        }
        let k = k.trim();
        if k.is_empty() {
            return Err(anyhow!("{flag} {s}: the name is empty"));
        }
        if out.insert(k.to_string(), v).is_some() {
            return Err(anyhow!("{flag} {k} is given twice"));
        }
    }
    Ok(out)
}

fn load_model(path: &Path) -> Result<Arc<Model>, BadInput> {
    load(path)
        .map(Arc::new)
        .map_err(|e| BadInput(e.to_string()))
}

fn check(path: &Path, ids: bool) -> Result<u8> {
    let model = match load(path) {
        Ok(m) => m,
        Err(e) => {
            err!("{e}");
            return Ok(2);
        }
    };
    out!("{}", report::inventory(&model, path));
    say_warnings(&model, "the model");
    if ids {
        let m = &model;
        let lists: [(&str, Vec<String>); 11] = [
            (
                "elements",
                m.elements.iter().map(|x| x.symbol.clone()).collect(),
            ),
            ("forms", m.forms.iter().map(|x| x.id.clone()).collect()),
            ("stages", m.stages.clone()),
            ("markets", m.markets.clone()),
            (
                "countries",
                m.countries.iter().map(|x| x.id.clone()).collect(),
            ),
            ("firms", m.firms.iter().map(|x| x.id.clone()).collect()),
            ("groups", m.groups.iter().map(|x| x.id.clone()).collect()),
            (
                "facilities",
                m.facilities.iter().map(|x| x.id.clone()).collect(),
            ),
            ("sectors", m.sectors.iter().map(|x| x.id.clone()).collect()),
            (
                "stockpiles",
                m.stockpiles.iter().map(|x| x.id.clone()).collect(),
            ),
            (
                "commodities",
                (0..m.commodities.len())
                    .map(|c| m.commodity_name(c))
                    .collect(),
            ),
        ];
        for (kind, ids) in lists {
            outln!("{kind}: {}", ids.join(" "));
        }
        // Which firms buy anything: an entity list reaches demand only through them (or
        // their subsidiaries).
        let buying: Vec<String> = (0..m.firms.len())
            .filter_map(|f| {
                // A parent's share includes its subsidiaries' (a listing reaches them), said
                // so: the shares of a parent and its subsidiary are one share, not two.
                let shares: Vec<String> = (m.sectors.iter())
                    .filter_map(|s| {
                        let (mut own, mut through) = (0.0, 0.0);
                        for &(g, x) in s.firms.iter().filter(|&&(g, _)| m.firm_within(g, f)) {
                            if g == f {
                                own += x;
                            } else {
                                through += x;
                            }
                        }
                        let pct = |x: f64| format!("{:.0}%", x * 100.0);
                        match (own > 0.0, through > 0.0) {
                            (_, false) if own > 0.0 => Some(format!("{} {}", s.id, pct(own))),
                            (false, true) => {
                                Some(format!("{} {} through subsidiaries", s.id, pct(through)))
                            }
                            (true, true) => Some(format!(
                                "{} {}, {} of it through subsidiaries",
                                s.id,
                                pct(own + through),
                                pct(through)
                            )),
                            _ => None,
                        }
                    })
                    .collect();
                (!shares.is_empty()).then(|| format!("{} ({})", m.firms[f].id, shares.join(", ")))
            })
            .collect();
        outln!(
            "firms with demand (sector shares; an entity list moves flows through these and through the plants its firms own): {}",
            if buying.is_empty() {
                "none".to_string()
            } else {
                buying.join(", ")
            }
        );
    }
    Ok(0)
}

/// The nearest ancestor of a script named `scripts`, else the script's own directory: the
/// directory its imports resolve from, unless [`import_root`] finds them in a project's
/// `scripts/` above it.
pub(crate) fn scripts_root(script: &Path) -> PathBuf {
    let abs = script
        .canonicalize()
        .unwrap_or_else(|_| script.to_path_buf());
    let mut dir = abs.parent();
    while let Some(d) = dir {
        if d.file_name().is_some_and(|n| n == "scripts") {
            return d.to_path_buf();
        }
        dir = d.parent();
    }
    abs.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The scripts directory a script's imports resolve from: [`scripts_root`], unless the
/// script is outside any `scripts` directory and what it imports is not beside it but is,
/// all of it, under the nearest project `scripts/` above it (an analyst's own folder beside
/// the library: `import "lib/timeline"` from `mine/`).
pub(crate) fn import_root(script: &Path) -> PathBuf {
    let root = scripts_root(script);
    if root.ends_with("scripts") {
        return root;
    }
    let limit = chokepoint_script::engine::limits::MAX_SCRIPT_BYTES;
    let Ok(Some(bytes)) = chokepoint_core::load::read_at_most(script, limit) else {
        return root;
    };
    let code = chokepoint_script::without_comments(&String::from_utf8_lossy(&bytes));
    let imports = chokepoint_script::literal_imports(&code);
    let holds_all = |dir: &Path| {
        imports.iter().all(|m| {
            let mut file = dir.join(m);
            file.set_extension("rhai");
            file.is_file()
        })
    };
    if imports.is_empty() || holds_all(&root) {
        return root;
    }
    (root.ancestors().skip(1))
        .map(|a| a.join("scripts"))
        .find(|dir| dir.is_dir() && holds_all(dir))
        .unwrap_or(root)
}

/// The model for a script: --model, else its header, else the default world.
fn model_for(script: &Scenario, explicit: Option<&Path>) -> PathBuf {
    match explicit {
        Some(p) => p.to_path_buf(),
        None => resolve_model(
            &script.path,
            &script.scripts_root,
            script.model_hint().as_deref(),
        ),
    }
}

/// Where a script at `script` (which need not exist yet) finds the model its header `hint`
/// names, or the default world without one. A relative path is found in the project the
/// script belongs to (the parent of its `scripts` directory), else beside the script (a
/// model kept with its scenarios) or in the nearest directory above it that holds it (a
/// project whose scenarios are kept outside `scripts/`), else from the current directory:
/// a library script reads its own project's model wherever it is run from, not a model of
/// the same name where the command happens to be run.
pub(crate) fn resolve_model(script: &Path, scripts_root: &Path, hint: Option<&str>) -> PathBuf {
    let named = match hint {
        Some(h) if h.ends_with(".yaml") || h.ends_with(".yml") || h.contains('/') => {
            PathBuf::from(h)
        }
        Some(h) => PathBuf::from(format!("models/{h}.yaml")),
        None => PathBuf::from("models/world-2024.yaml"),
    };
    if named.is_absolute() {
        return named;
    }
    if scripts_root.ends_with("scripts") {
        if let Some(project) = scripts_root.parent() {
            let there = project.join(&named);
            if there.exists() {
                return there;
            }
        }
    }
    let dir = match script.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if dir.join(&named).exists() {
        return dir.join(&named);
    }
    let above = dir.canonicalize().ok().and_then(|dir| {
        (dir.ancestors().skip(1))
            .map(|a| a.join(&named))
            .find(|p| p.exists())
    });
    above.unwrap_or(named)
}

/// Says so when --model replaces the model a script's header names (a 2010 replay run on
/// world-2024 fails on its dates, or worse, runs and means something else).
fn note_model_override(script: &Scenario, explicit: &Path) {
    if let Some(hint) = script.model_hint() {
        // The same file is no replacement; another of the same name (an edited copy) is.
        let named = model_for(script, None);
        let same = match (explicit.canonicalize(), named.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => {
                let stem = |s: &Path| s.file_stem().map(|x| x.to_os_string());
                stem(explicit) == stem(Path::new(&hint))
            }
        };
        if !same {
            errln!(
                "note: --model {} replaces the script's `// model: {hint}`",
                explicit.display()
            );
        }
    }
}

/// What `check` warns of in a model, on stderr: each at the place of the item it is about,
/// else as about `whole` (the model as a whole).
pub(crate) fn say_warnings(model: &Model, whole: &str) {
    for w in model.warnings() {
        match &w.place {
            Some(place) => errln!("warning: {place}: {}", w.message),
            None => errln!("warning: {whole}: {}", w.message),
        }
    }
}

/// Loads a script's model, saying where a missing one was looked for.
fn load_model_for(script: &Scenario, explicit: Option<&Path>) -> Result<Arc<Model>, BadInput> {
    let path = model_for(script, explicit);
    if explicit.is_none() && !path.exists() {
        // Point at the header line that named it.
        if let Some((line, hint)) = chokepoint_script::header_line(&script.source, "model") {
            let what = if hint.trim().is_empty() {
                "the `// model:` line names no model".to_string()
            } else {
                format!(
                    "`// model: {hint}` names {}, which was not found",
                    path.display()
                )
            };
            return Err(BadInput(format!(
                "error: {}:{line}: {what} (looked for in the project the script is in, beside \
                 the script, in the directories above it, then from the current directory; a name without '/' or .yaml \
                 means models/NAME.yaml). `run`, `compare`, `sweep` and `bench` take --model FILE \
                 instead; \
                 `test` takes it for scripts without the line or whose line names that file or its model",
                script.path.display()
            )));
        }
        return Err(BadInput(format!(
            "error: {}: no such model file. A script's model is its `// model:` line, else \
             models/world-2024.yaml, looked for in the project the script is in, in the \
             directories above it, then from the current directory. `run`, `compare`, `sweep` and `bench` take \
             --model FILE instead; `test` \
             takes it for scripts without the line or whose line names that file or its model",
            path.display()
        )));
    }
    load_model(&path)
}

fn compile(script: &Path) -> Result<Scenario, BadInput> {
    Scenario::load(script, &import_root(script)).map_err(|e| BadInput(e.to_string()))
}

/// Which model a command's `--model` gives a script.
#[derive(Clone, Copy)]
enum ModelArg<'a> {
    /// The script's `// model:` header unless the user named one (run, compare).
    Override(Option<&'a Path>),
    /// The one named for scripts without a header, or whose header names it (test: a
    /// library of scenarios keeps each on its own model); with the name the file gives its
    /// model, where it loads.
    Fallback(Option<&'a Path>, Option<&'a str>),
}

impl<'a> ModelArg<'a> {
    fn path_for(self, script: &Scenario) -> Option<&'a Path> {
        match self {
            ModelArg::Override(p) => p,
            // ... or whose header names this file (`// model: world-2024` and
            // `--model elsewhere/world-2024.yaml`: a library run from outside the project),
            // or the model in it (`--model my-variant.yaml` holding `name: world-2024`: a
            // library replayed on an edited copy).
            ModelArg::Fallback(p, name) => {
                p.filter(|p| fallback_applies(p, name, script.model_hint().as_deref()))
            }
        }
    }
}

/// Whether `test --model FILE` (whose model is named `name`) runs a scenario whose
/// `// model:` line is `hint`.
fn fallback_applies(file: &Path, name: Option<&str>, hint: Option<&str>) -> bool {
    let Some(hint) = hint else {
        return true;
    };
    let stem = |s: &Path| s.file_stem().map(|x| x.to_string_lossy().into_owned());
    let named = stem(Path::new(hint));
    named == stem(file) || (named.is_some() && named.as_deref() == name)
}

/// A `--time-limit` of `run`, `compare`, `sweep`, `bench` or `repl`: seconds above 0, at
/// most 1e9.
fn check_time_limit(seconds: f64) -> Result<()> {
    if !(MIN_TIME_LIMIT..=1e9).contains(&seconds) {
        return Err(anyhow!(BadInput(format!(
            "--time-limit must be a positive number of seconds, from {MIN_TIME_LIMIT} to 1e9, got {}",
            chokepoint_core::error::shown(seconds)
        ))));
    }
    Ok(())
}

/// The shortest `--time-limit`: a limit of 1e-300 s stopped every step at once.
const MIN_TIME_LIMIT: f64 = 0.001;

/// What a failed run left besides its error: what the script printed before it failed, and
/// whether its time limit stopped it.
#[derive(Default)]
struct Failure {
    printed: Vec<String>,
    timed_out: bool,
    /// The script ran and failed (not its compilation, nor its model's loading): only then
    /// can a `--set` value be what it tripped on.
    ran: bool,
}

fn execute(
    script: &Path,
    model: ModelArg,
    seed: Option<u64>,
    params: BTreeMap<String, f64>,
    time_limit: f64,
    failure: &mut Failure,
) -> Result<(Scenario, Arc<Model>, Outcome), BadInput> {
    let scenario = compile(script)?;
    if let ModelArg::Override(Some(p)) = model {
        note_model_override(&scenario, p);
    }
    let model = load_model_for(&scenario, model.path_for(&scenario))?;
    let opts = RunOptions {
        seed: seed.unwrap_or(model.seed),
        params,
        time_limit: Duration::from_secs_f64(time_limit),
        ..RunOptions::default()
    };
    let outcome = scenario.run(&model, &opts).map_err(|mut e| {
        failure.printed = std::mem::take(&mut e.printed);
        failure.timed_out = e.timed_out;
        failure.ran = true;
        BadInput(e.to_string())
    })?;
    Ok((scenario, model, outcome))
}

/// What a run's headlines are read against.
enum Baseline {
    /// The model with none of the script's levers.
    NoLevers,
    /// Another scenario, run on the same model, dates, seed and --set values.
    Script(PathBuf),
    None,
}

/// The run's baseline: `--baseline`, else the scenario's `// baseline:` header (a path from
/// the scenario's directory), else the model with none of its levers; `none` for none.
fn baseline_from(sc: &Scenario, given: Option<&Path>) -> Result<Baseline, BadInput> {
    let header = chokepoint_script::header_field(&sc.source, "baseline");
    let named = match (given, &header) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(h)) => {
            let dir = sc.path.parent().unwrap_or(Path::new("."));
            // (`Scenario::load` found it there.)
            match h.as_str() {
                h if h.eq_ignore_ascii_case("none") => PathBuf::from("none"),
                h => dir.join(h),
            }
        }
        (None, None) => return Ok(Baseline::NoLevers),
    };
    if named.as_os_str() == "none" {
        return Ok(Baseline::None);
    }
    Ok(Baseline::Script(named))
}

/// Runs the scenario at `path` as a run's baseline: on the run's model (a header naming
/// another is warned of), with the run's `behaviour()` settings unless it sets its own, its
/// seed and --set values, to the run's last step (a script that stops short runs on, what
/// it scheduled and its rules acting; one that runs past the run's end is an error: the
/// baseline covers the run's dates). A baseline its time limit stopped fails the run as the
/// run's own would (`failure.timed_out`).
fn run_baseline(
    path: &Path,
    model: &Arc<Model>,
    run: &Outcome,
    params: BTreeMap<String, f64>,
    time_limit: f64,
    failure: &mut Failure,
) -> Result<(Outcome, String), BadInput> {
    let said = |e: &str| {
        BadInput(format!(
            "error: the baseline {}: {}",
            path.display(),
            e.trim_start_matches("error: ")
        ))
    };
    let sc = compile(path).map_err(|e| said(&e.0))?;
    if let Some(named) = chokepoint_script::header_field(&sc.source, "model") {
        let stem = Path::new(&named)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned());
        if stem.as_deref() != Some(model.name.as_str()) {
            errln!(
                "warning: the baseline {}: its `// model:` header names {named}; it ran on the \
                 run's model, {}",
                path.display(),
                model.name
            );
        }
    }
    let steps = run.sim.step;
    let mut model = model.clone();
    Arc::make_mut(&mut model).behaviour = run.sim.model.behaviour.clone();
    let opts = RunOptions {
        seed: run.sim.seed,
        params,
        time_limit: Duration::from_secs_f64(time_limit),
        finish_steps: Some(steps),
        drive_to: Some(steps),
        ..RunOptions::default()
    };
    let mut base = sc.run(&model, &opts).map_err(|e| {
        failure.timed_out = e.timed_out;
        said(&e.to_string())
    })?;
    if base.sim.step > steps {
        return Err(said(&format!(
            "it runs to {}, past the run's end, {}: a baseline covers the run's dates (end it \
             with run_until(\"{}\") or before)",
            base.sim.last_date(),
            run.sim.last_date(),
            run.sim.last_date()
        )));
    }
    // (At the model's end before the run's: not in a run on the same model.)
    while base.sim.step < steps {
        base.sim.step();
    }
    Ok((base, sc.full_source()))
}

/// What a run's baseline scenario said that bears on reading against it: its warnings
/// (an action set up past the run's end never ran in it) and how its own expectations
/// fared, each line naming it.
fn say_baseline(path: &Path, base: &Outcome) {
    for w in &base.warnings {
        errln!("warning: the baseline {}: {w}", path.display());
    }
    if !base.expectations.is_empty() {
        let failed = base.failed();
        errln!(
            "note: the baseline {}: its expectations: {} passed, {failed} failed",
            path.display(),
            base.expectations.len() - failed
        );
    }
}

/// The files `run --out` writes.
/// (baseline.csv only where the run had a baseline; an earlier run's goes either way.)
const RUN_FILES: &[&str] = &["series.csv", "summary.json", "report.html", "baseline.csv"];

/// A run's results in `dir`: a run that fails leaves none of an earlier run's there to be
/// read as its own; its summary.json says it failed and why (so does one stopped before it
/// wrote its results: see `write::Outputs`).
fn run_outputs(dir: &Path, script: &Path) -> write::Outputs {
    write::Outputs {
        dir: dir.to_path_buf(),
        files: RUN_FILES,
        scenario: Some(script.to_path_buf()),
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    script: &Path,
    model: Option<&Path>,
    out: Option<&Path>,
    seed: Option<u64>,
    params: BTreeMap<String, f64>,
    res: Resolution,
    time_limit: f64,
    baseline: Option<&Path>,
) -> Result<u8> {
    let set: Vec<String> = params.keys().cloned().collect();
    // Said under an error: a value out of range is found where the script uses it, so the
    // error points at the script's line and would read as a fault of the script.
    let given = (params.iter())
        .map(|(k, v)| format!("--set {k}={}", param_text(*v)))
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(dir) = out {
        write::ready(dir, RUN_FILES)?;
        write::unfinished_scenario(script);
        write::begin()?;
    }
    let mut failure = Failure::default();
    let run = execute(
        script,
        ModelArg::Override(model),
        seed,
        params.clone(),
        time_limit,
        &mut failure,
    )
    // (What the headlines are read against.)
    .and_then(|(scenario, model, outcome)| {
        let from = baseline_from(&scenario, baseline)?;
        let (outcome, base_read) = match from {
            Baseline::NoLevers => (outcome.with_baseline(&model), Vec::new()),
            Baseline::Script(path) => {
                let same = |p: &Path| p.canonicalize().ok();
                if same(&path).is_some() && same(&path) == same(&scenario.path) {
                    return Err(BadInput(format!(
                        "error: the baseline {} is the scenario itself: name another (the story \
                         without its shock, say), or none",
                        path.display()
                    )));
                }
                let (base, source) = run_baseline(
                    &path,
                    &model,
                    &outcome,
                    params.clone(),
                    time_limit,
                    &mut failure,
                )?;
                say_baseline(&path, &base);
                let read: Vec<String> = base.params.keys().cloned().collect();
                let outcome = Outcome {
                    baseline: Some(Box::new(base.sim)),
                    baseline_script: Some(path),
                    baseline_source: Some(source),
                    ..outcome
                };
                (outcome, read)
            }
            Baseline::None => (outcome, Vec::new()),
        };
        Ok((scenario, model, outcome, base_read))
    });
    let (scenario, model, outcome, base_read) = match run {
        Ok(x) => x,
        Err(e) => {
            // What the script printed before it failed is often what explains the failure.
            for line in &failure.printed {
                outln!("{line}");
            }
            err!("{e}");
            if !e.0.ends_with('\n') {
                errln!();
            }
            if !given.is_empty() && failure.ran && !failure.timed_out {
                errln!("  = the run had {given}: a value given there is checked where the script uses it");
            }
            if let Some(dir) = out {
                run_outputs(dir, script).void(e.0.trim_end())?;
            }
            // A run its time limit stopped failed, as under `test`: it is slow, not wrong.
            return Ok(if failure.timed_out { 1 } else { 2 });
        }
    };
    // What `check` warns of in the model (a plant that never runs, say) bears on the answer.
    say_warnings(&model, "the model");
    // A --set the script never read is almost always a typo, and the run used the
    // default instead: bad input, as `sweep` has it, before anything is printed or written.
    let written = scenario.literal_params();
    // (A scenario run as the baseline reads them too.)
    let unread: Vec<&String> = set
        .iter()
        .filter(|n| {
            !outcome.params.contains_key(*n) && !written.contains(*n) && !base_read.contains(*n)
        })
        .collect();
    let who = match outcome.baseline_script {
        Some(_) => "neither the script nor its baseline reads",
        None => "the script never reads",
    };
    for name in &unread {
        let known = (outcome.params.keys().chain(&written).chain(&base_read)).map(String::as_str);
        let hint = chokepoint_core::error::did_you_mean(name, known);
        errln!("error: --set {name}: {who} param(\"{name}\"){hint}");
    }
    if !unread.is_empty() {
        if let Some(dir) = out {
            run_outputs(dir, script).void("a --set the script never reads")?;
        }
        return Ok(2);
    }
    for name in (set.iter()).filter(|n| !outcome.params.contains_key(*n) && !base_read.contains(*n))
    {
        errln!("{}", unreached_param(name));
    }
    // The script's own prints are output; the engine's notes on levers are diagnostics, as
    // warnings are, so a piped summary holds what the script and the run said.
    for line in &outcome.output {
        if line.starts_with("note: ") {
            errln!("{line}");
        } else {
            outln!("{line}");
        }
    }
    out!("{}", report::summary_text(&scenario, &model, &outcome));
    for w in &outcome.warnings {
        errln!("warning: {w}");
    }
    if let Some(dir) = out {
        // Everything is made before anything is written; from here an interrupt waits for
        // the new set to be written whole.
        let output = write::output_phase();
        let files = [
            ("series.csv", outcome.sim.series.to_csv(res)),
            (
                "summary.json",
                report::summary_json(&scenario, &model, &outcome, res.name()),
            ),
            (
                "report.html",
                report::html(&scenario, &model, &outcome, res),
            ),
        ];
        // The baseline's series, for the figures and the chart read against it.
        let base = (outcome.baseline.as_deref()).map(|b| ("baseline.csv", b.series.to_csv(res)));
        let files: Vec<(PathBuf, &[u8])> = (files.iter().chain(&base))
            .map(|(name, text)| (dir.join(name), text.as_bytes()))
            .collect();
        write::atomic_set(&files)?;
        output.done();
        outln!(
            "wrote {}, summary.json, report.html{}",
            dir.join("series.csv").display(),
            if base.is_some() { ", baseline.csv" } else { "" }
        );
    }
    Ok(if outcome.failed() > 0 { 1 } else { 0 })
}

/// The text of the scenarios, and of the scripts under their scripts directories they may
/// import: each file there whose name the text read so far holds (`import "lib/feed"`,
/// `"./other.rhai"`; followed through modules to any depth). A scenario not replayed, in
/// scripts/ or a subdirectory, is no module unless a scenario names it: reading the
/// library's other scenarios let `test baseline.rhai --set approval=0.3` replay and pass
/// before the typo was caught (runner review, 2026-12-01). Where an import's name is built
/// (`import "lib/" + x`), every file there is read. None past 20,000 entries or 64 MB (it
/// can then tell nothing).
fn script_texts(scripts: &[PathBuf]) -> Option<String> {
    const MOST: usize = 64 << 20;
    let mut roots: Vec<PathBuf> = scripts.iter().map(|s| import_root(s)).collect();
    roots.sort();
    roots.dedup();
    let mut files: Vec<PathBuf> = scripts.to_vec();
    let named: Vec<PathBuf> = scripts
        .iter()
        .filter_map(|s| s.canonicalize().ok())
        .collect();
    let mut own = String::new();
    // (Comments aside: a name or an `import` in prose is none.)
    let code = |bytes: &[u8]| chokepoint_script::without_comments(&String::from_utf8_lossy(bytes));
    // An import by a built name (`import "lib/" + x`) could be any of them.
    let builds_a_name = |code: &str| {
        code.match_indices("import").any(|(i, _)| {
            let rest = &code[i + "import".len()..];
            rest.starts_with(char::is_whitespace) && !rest.trim_start().starts_with(['"', '`'])
        })
    };
    let mut built = false;
    for s in scripts {
        if let Ok(Some(bytes)) = chokepoint_core::load::read_at_most(s, MOST as u64) {
            let c = code(&bytes);
            built |= builds_a_name(&c);
            own.push_str(&c);
        }
    }
    // A file under the scripts directories is read where the text read so far names it.
    let mut beside: Vec<PathBuf> = Vec::new();
    // (A scenario outside any `scripts` directory has its own directory as its root: a
    // home directory is not walked whole.)
    let mut seen = 0usize;
    for root in &roots {
        let mut dirs = vec![root.clone()];
        while let Some(d) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                seen += 1;
                if seen > 20_000 {
                    return None;
                }
                let p = e.path();
                match e.file_type() {
                    Ok(t) if t.is_dir() => dirs.push(p),
                    Ok(t)
                        if t.is_file()
                            && p.extension().is_some_and(|x| x == "rhai")
                            && !p.canonicalize().is_ok_and(|c| named.contains(&c)) =>
                    {
                        beside.push(p)
                    }
                    _ => {}
                }
            }
        }
    }
    loop {
        if built {
            files.append(&mut beside);
            break;
        }
        let named_here = |p: &PathBuf| {
            p.file_stem()
                .is_some_and(|n| own.contains(n.to_string_lossy().as_ref()))
        };
        let Some(i) = beside.iter().position(named_here) else {
            break;
        };
        let p = beside.swap_remove(i);
        if let Ok(Some(bytes)) = chokepoint_core::load::read_at_most(&p, MOST as u64) {
            let c = code(&bytes);
            built |= builds_a_name(&c);
            own.push_str(&c);
        }
        files.push(p);
    }
    let mut text = String::new();
    for f in files {
        let left = MOST.checked_sub(text.len())?;
        match chokepoint_core::load::read_at_most(&f, left as u64) {
            Ok(Some(bytes)) => {
                text.push_str(&String::from_utf8_lossy(&bytes));
                text.push('\n');
            }
            Ok(None) => return None,
            Err(_) => {}
        }
    }
    Some(text)
}

fn collect_scripts(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let roots: Vec<PathBuf> = if paths.is_empty() {
        vec![PathBuf::from("scripts")]
    } else {
        paths.to_vec()
    };
    let mut out: Vec<PathBuf> = Vec::new();
    for p in roots.iter().cloned() {
        // With no path, `scripts` must be the library's directory (a file of that name is
        // not a scenario to replay).
        if paths.is_empty() && !p.is_dir() {
            return Err(anyhow!(BadInput(
                "scripts/ is not a directory here: with no path, `test` replays the scenarios \
                 in scripts/ under the current directory (run it from the project's root, or \
                 name the scenarios or their directory)"
                    .to_string()
            )));
        }
        // A shell's `scripts/*` names the library's modules and its README too: what is no
        // scenario is passed over, with a word (a directory or file named on its own that
        // holds none is still bad input, below).
        // (Among others in its own directory, as a glob names them: a file or directory
        // named apart from the rest, `test ../typo.rhi scripts/x.rhai`, is meant and must
        // run, or the CI job that names it passes without it: runner review, 2026-12-01.)
        let dir_of = |q: &Path| {
            let d = q.parent().filter(|d| !d.as_os_str().is_empty());
            std::fs::canonicalize(d.unwrap_or(Path::new("."))).ok()
        };
        let named_among_others = (roots.iter()).any(|q| q != &p && dir_of(q) == dir_of(&p));
        if p.is_dir() && p.file_name().is_some_and(|n| n == "lib") {
            errln!(
                "note: {} holds the modules scenarios import, not scenarios: passed over",
                p.display()
            );
            continue;
        }
        let rhai = p
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("rhai"));
        // A module file a shell's `scripts/**/*.rhai` names: a file in a `lib` directory.
        let in_lib = p
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == "lib");
        if p.is_file() && rhai && in_lib {
            if roots.len() == 1 {
                // Named alone, it is meant, and replayed it would fail as a scenario that
                // checks nothing.
                return Err(anyhow!(BadInput(format!(
                    "{} is a module scenarios import (it is in a lib/ directory), not a \
                     scenario: test the scenarios that import it (`chokepoint test {}`)",
                    p.display(),
                    p.parent()
                        .and_then(Path::parent)
                        .filter(|d| !d.as_os_str().is_empty())
                        .unwrap_or(Path::new("."))
                        .display()
                ))));
            }
            errln!(
                "note: {} is a module scenarios import (it is in a lib/ directory), not a \
                 scenario: passed over",
                p.display()
            );
            continue;
        }
        // Not a directory and not a .rhai file (a device such as /dev/null as well).
        if p.exists() && !p.is_dir() && !rhai {
            if !named_among_others {
                return Err(anyhow!(BadInput(format!(
                    "{} is not a scenario (*.rhai): `test` replays .rhai files (`chokepoint \
                     run` runs a script of any name)",
                    p.display()
                ))));
            }
            errln!(
                "note: {} is not a scenario (*.rhai): passed over",
                p.display()
            );
            continue;
        }
        if p.is_dir() {
            let mut files = Vec::new();
            scenarios_under(&p, &mut files)?;
            // A directory with nothing to replay is a mistake (a wrong path in CI, say),
            // not a pass; among others a shell's glob named, it is passed over.
            if files.is_empty() && named_among_others {
                errln!(
                    "note: {} holds no scenario (*.rhai): passed over",
                    p.display()
                );
                continue;
            }
            if files.is_empty() {
                return Err(anyhow!(BadInput(format!(
                    "{} holds no scenario (*.rhai) to replay",
                    p.display()
                ))));
            }
            files.sort();
            out.extend(files);
        } else if p.exists() {
            out.push(p);
        } else {
            return Err(anyhow!(BadInput(format!("{} does not exist", p.display()))));
        }
    }
    if out.is_empty() {
        return Err(anyhow!(BadInput(
            "no scenario (*.rhai) to replay among the paths given".to_string()
        )));
    }
    // A script named twice (a directory and a file in it) runs once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.canonicalize().unwrap_or_else(|_| p.clone())));
    // Named alike however the path was typed (`./scripts`, `scripts//`): a CI system keeps
    // a test's history by its name.
    Ok(out
        .into_iter()
        .map(|p| {
            (p.components())
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect()
        })
        .collect())
}

/// The scenario files under `dir` and its subdirectories, but for `lib` directories: what
/// scenarios import is not a scenario. A link to a directory is not followed (a link back
/// up the tree would never end).
fn scenarios_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let linked = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        if path.is_dir() {
            if !linked && path.file_name().is_some_and(|n| n != "lib") {
                scenarios_under(&path, out)?;
            }
        } else if path
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("rhai"))
        {
            out.push(path);
        }
    }
    Ok(())
}

fn test(
    paths: &[PathBuf],
    junit: Option<&Path>,
    model: Option<&Path>,
    set: &[String],
    seed: Option<u64>,
    time_limit: &str,
) -> Result<u8> {
    let limit: f64 = time_limit.trim().parse().unwrap_or(f64::NAN);
    // Say so before the scenarios run, not after. (A name ending in `/` names a directory,
    // whether or not one is there.)
    let slash = |j: &Path| {
        let t = j.as_os_str().to_string_lossy();
        t.ends_with('/') || t.ends_with(std::path::MAIN_SEPARATOR)
    };
    if let Some(j) = junit.filter(|j| j.is_dir() || slash(j)) {
        return Err(anyhow!(BadInput(format!(
            "error: --junit {}: is a directory; give a file name",
            j.display()
        ))));
    }
    if let Some(dir) = junit
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty() && !d.is_dir())
    {
        // As `--out` does: the directories on the way are made (and taken away again if
        // the command fails), so CI gets its report where it asked.
        if dir.exists() {
            return Err(anyhow!(BadInput(format!(
                "error: --junit: {}",
                write::no_dir(dir)
            ))));
        }
        write::make_dir(dir)
            .map_err(|e| anyhow!(BadInput(format!("error: --junit: {}: {e}", dir.display()))))?;
    }
    // Another command's output directory keeps its files: a report under one of their
    // names would replace one (and a sweep's merge would then refuse the set).
    if let Some(j) = junit {
        let (dir, name) = write::dir_and_name(j);
        let outputs = ["series.csv", "summary.json", "report.html", "compare.csv"];
        let held = ["sweep.json", "series.csv", "compare.csv"]
            .into_iter()
            .find(|f| dir.join(f).is_file());
        if let Some(held) = held
            .filter(|_| outputs.contains(&name.as_str()) || sweep::OUTPUTS.contains(&name.as_str()))
        {
            return Err(anyhow!(BadInput(format!(
                "error: --junit {}: that directory holds another command's output ({held}), \
                 and {name} is one of its files; give the report its own name (results.xml)",
                j.display()
            ))));
        }
    }
    if let Some(j) = junit {
        // The report must not replace a scenario or a model, nor be found unwritable only
        // after every scenario has run. (A report is written through a link: judge what
        // the link names.)
        if junit_names_a_source(j) {
            return Err(anyhow!(BadInput(format!(
                "error: --junit {}: that is a scenario or model file name; give the report its own (results.xml)",
                j.display()
            ))));
        }
        if let Some(stream) = write::std_stream(j) {
            return Err(anyhow!(BadInput(format!(
                "error: --junit {}: that is this command's {stream}, which the report would replace; give it a file of its own (results.xml)",
                j.display()
            ))));
        }
        // A file there already is replaced only if it is a report (an earlier run's): not
        // a README or notes that happen to have the name given.
        if !holds_a_report_or_nothing(j) {
            return Err(anyhow!(BadInput(format!(
                "error: --junit {}: that file exists and is not a JUnit report, so it is left \
                 as it is; give the report its own name (results.xml), or remove the file",
                j.display()
            ))));
        }
        if std::fs::symlink_metadata(j).is_ok() && !j.is_file() {
            return Err(anyhow!(BadInput(format!(
                "error: --junit {}: exists and is not a regular file",
                j.display()
            ))));
        }
        let (dir, _) = write::dir_and_name(j);
        let probe = dir.join(format!(".chokepoint-probe{}", std::process::id()));
        if let Err(e) = std::fs::File::create(&probe) {
            return Err(anyhow!(BadInput(format!(
                "error: --junit {}: cannot write there: {e}",
                j.display()
            ))));
        }
        let _ = std::fs::remove_file(&probe);
        write::lock_report(j)
            .map_err(|e| anyhow!(BadInput(format!("error: --junit {}: {e}", j.display()))))?;
    }
    // The scenarios, the --set values, and the name --model's file gives its model.
    type Checked = (Vec<PathBuf>, BTreeMap<String, f64>, Option<String>);
    let checked = (|| -> Result<Checked> {
        let params = parse_sets(set).map_err(|e| anyhow!(BadInput(format!("error: {e}"))))?;
        if let Some(m) = model.filter(|m| !m.is_file()) {
            return Err(anyhow!(BadInput(format!(
                "error: --model {}: no such model file",
                m.display()
            ))));
        }
        // A model that does not load is bad input whoever would run on it: scenarios whose
        // header names another model would otherwise pass on that one, and the replay on a
        // variant with a slip in it read as green.
        let model_name = match model.map(load) {
            Some(Err(e)) => return Err(anyhow!(BadInput(e.to_string()))),
            Some(Ok(m)) => Some(m.name),
            None => None,
        };
        if !(MIN_TIME_LIMIT..=1e9).contains(&limit) {
            return Err(anyhow!(BadInput(format!(
                "error: --time-limit must be a positive number of seconds, from {MIN_TIME_LIMIT} to 1e9, got {}",
                match time_limit.trim().parse::<f64>() {
                    Ok(x) => chokepoint_core::error::shown(x),
                    Err(_) => format!("'{time_limit}'"),
                }
            ))));
        }
        let scripts = collect_scripts(paths)?;
        // A --set no file names is a typo: said before a library is replayed under it, and
        // whether or not a scenario then fails to compile (one that cannot run is blamed
        // for none of the values, so a typo beside it went unreported).
        let text = match params.is_empty() {
            true => String::new(),
            false => script_texts(&scripts).unwrap_or_default(),
        };
        // (Where a script builds a name, `param("thrift_" + e)`, only the run can tell.)
        let calls = chokepoint_script::param_calls(&text);
        // (Texts that could not be read are for the replay to report.)
        let built = calls.iter().any(Option::is_none) || text.is_empty();
        let mut names: Vec<String> = calls.into_iter().flatten().collect();
        names.sort();
        names.dedup();
        // (A library that reads no parameter at all reads none of these either.)
        for name in params.keys().filter(|_| !built) {
            // (Only a param call reads it: `behaviour("diversion", ...)` names no parameter.)
            if !names.contains(name) {
                let hint =
                    chokepoint_core::error::did_you_mean(name, names.iter().map(String::as_str));
                return Err(anyhow!(BadInput(format!(
                    "error: --set {name}: no scenario, nor a module under their scripts \
                     directory, names param(\"{name}\"){hint}"
                ))));
            }
        }
        Ok((scripts, params, model_name))
    })();
    // A report left from an earlier run would read as this one's results: until this run
    // writes its own, the report says it did not finish (so a run killed in any way leaves
    // a failure, not an old pass).
    let broken_report = |why: String| {
        let case = (
            PathBuf::from("chokepoint test"),
            std::time::Duration::ZERO,
            report::CaseEnd::Broken(why),
        );
        report::junit(&[case])
    };
    // A file named as a scenario is not the report's to replace, even when it is no
    // scenario (`test notes.txt --junit notes.txt`).
    let named = |j: &Path| {
        let j = std::fs::canonicalize(j).ok();
        j.is_some() && paths.iter().any(|p| std::fs::canonicalize(p).ok() == j)
    };
    let (scripts, params, model_name) = match checked {
        Ok(s) => s,
        Err(e) => {
            if let Some(j) = junit.filter(|j| !named(j)) {
                let output = write::output_phase();
                write::atomic(j, broken_report(format!("{e:#}")).as_bytes())?;
                output.done();
            }
            return Err(e);
        }
    };
    // Nor be one of the files this run reads, whatever its name (the report is written
    // before the scenarios run): refused without writing it.
    if let Some(j) = junit.filter(|j| j.exists()) {
        let same = |p: &Path| {
            std::fs::canonicalize(p)
                .ok()
                .is_some_and(|p| std::fs::canonicalize(j).ok() == Some(p))
        };
        if let Some(hit) = (scripts.iter().map(PathBuf::as_path))
            .chain(model)
            .find(|p| same(p))
        {
            return Err(anyhow!(BadInput(format!(
                "error: --junit {}: that is {}, which this run reads; give the report its own \
                 file (results.xml)",
                j.display(),
                hit.display()
            ))));
        }
    }
    if let Some(j) = junit {
        let why = "the test run did not finish (interrupted or killed)".to_string();
        write::atomic(j, broken_report(why).as_bytes())?;
    }
    let (mut passed, mut failed, mut broken) = (0, 0, 0);
    let mut cases = Vec::new();
    // A replay under another assumption or seed says so first, and in every JUnit case
    // that did not pass, so a CI failure can be run again as it ran.
    let set_text = |(n, v): (&String, &f64)| format!("{n}={}", param_text(*v));
    let replayed: Vec<String> = (params.iter())
        .map(|p| format!("--set {}", set_text(p)))
        .chain(seed.map(|s| format!("--seed {s}")))
        .collect();
    let replayed = replayed.join(" ");
    if !replayed.is_empty() {
        outln!("replaying with {replayed}");
    }
    let with_replay = |mut body: String| {
        if !replayed.is_empty() {
            body.push_str(&format!("\nreplayed with {replayed}\n"));
        }
        body
    };
    // The --set names some scenario read (ran, or wrote literally), and every name any
    // scenario reads (for a did-you-mean).
    let mut read: std::collections::BTreeSet<String> = Default::default();
    let mut known: std::collections::BTreeSet<String> = Default::default();
    // The scenarios whose header names the model in --model's file run on the file.
    // Scenarios whose header names another model keep it: said after the closing line.
    let mut kept_own: Vec<String> = Vec::new();
    for s in &scripts {
        let t0 = std::time::Instant::now();
        let mut failure = Failure::default();
        if let Some(file) = model {
            let limit = chokepoint_script::engine::limits::MAX_SCRIPT_BYTES;
            let text = chokepoint_core::load::read_at_most(s, limit).ok().flatten();
            let text = String::from_utf8_lossy(text.as_deref().unwrap_or_default());
            if let Some((_, hint)) = chokepoint_script::header_line(&text, "model") {
                if !fallback_applies(file, model_name.as_deref(), Some(&hint)) {
                    kept_own.push(format!("{} (`// model: {hint}`)", s.display()));
                }
            }
        }
        let model = ModelArg::Fallback(model, model_name.as_deref());
        match execute(s, model, seed, params.clone(), limit, &mut failure) {
            Ok((scenario, model, outcome)) => {
                let written = scenario.literal_params();
                read.extend((params.keys()).filter(|n| written.contains(*n)).cloned());
                known.extend(written.iter().chain(outcome.params.keys()).cloned());
                // The values this scenario ran with, on its line: a replay under another
                // assumption says which scenarios it reached.
                let took: Vec<(&String, &f64)> = (params.iter())
                    .filter(|(n, _)| outcome.params.contains_key(*n))
                    .collect();
                read.extend(took.iter().map(|(n, _)| (*n).clone()));
                let with = match took.is_empty() {
                    true => String::new(),
                    false => {
                        let shown: Vec<String> = took.into_iter().map(set_text).collect();
                        format!("; {}", shown.join(", "))
                    }
                };
                let bad: Vec<_> = outcome.expectations.iter().filter(|e| !e.passed).collect();
                let n = outcome.expectations.len();
                // In a replayed library a scenario that checks nothing, or whose checks
                // were set up for after its end, passes by accident: a failure.
                let mut why: Vec<String> =
                    outcome.warnings.iter().map(|w| format!("  {w}")).collect();
                // A figure read with no value yet in an action, or a window read before the
                // run reached its end, may be what a claim rests on, or only a progress
                // print: said under the scenario's line, for CI logs, not a failure.
                let mut said: Vec<String> = (outcome.output.iter())
                    .filter(|l| {
                        l.starts_with("note: an action read ") || l.starts_with("note: between(")
                    })
                    .cloned()
                    .collect();
                if n == 0 {
                    why.push("  states no expectations: nothing was checked".into());
                }
                // The baseline its header names is run as `run` would: one that cannot (it
                // fails, or runs past the scenario's end) would only show there.
                if let Ok(Baseline::Script(path)) = baseline_from(&scenario, None) {
                    let mut base_failure = Failure::default();
                    let r = run_baseline(
                        &path,
                        &model,
                        &outcome,
                        params.clone(),
                        limit,
                        &mut base_failure,
                    );
                    match r {
                        Err(e) => why.push(format!("  {}", e.0.trim_end())),
                        // What the scenario is read against does not hold by its own
                        // claims: said (as `run` says it), not a failure of this scenario.
                        Ok((base, _)) if base.failed() > 0 => said.push(format!(
                            "note: its baseline {} fails {} of its own {} expectations \
                             (`chokepoint test {}` shows which)",
                            path.display(),
                            base.failed(),
                            base.expectations.len(),
                            path.display()
                        )),
                        Ok(_) => {}
                    }
                }
                let noun = if n == 1 {
                    "expectation"
                } else {
                    "expectations"
                };
                if bad.is_empty() && why.is_empty() {
                    passed += 1;
                    outln!(
                        "ok     {} ({n} {noun}{with})",
                        one_line(&s.display().to_string())
                    );
                    // A value its text reads in a branch this run never took changed nothing.
                    for name in params.keys().filter(|n| !outcome.params.contains_key(*n)) {
                        if written.contains(name) {
                            outln!("  {}", unreached_param(name));
                        }
                    }
                    for l in &said {
                        outln!("  {}", one_line(l));
                    }
                    cases.push((s.clone(), t0.elapsed(), report::CaseEnd::Passed));
                } else {
                    failed += 1;
                    if bad.is_empty() {
                        let with = with.trim_start_matches("; ");
                        match with.is_empty() {
                            true => outln!("FAILED {}", one_line(&s.display().to_string())),
                            false => {
                                outln!("FAILED {} ({with})", one_line(&s.display().to_string()))
                            }
                        }
                    } else {
                        outln!(
                            "FAILED {} ({} of {n} {noun} failed{with})",
                            one_line(&s.display().to_string()),
                            bad.len()
                        );
                    }
                    let mut text = String::new();
                    // One line per failure, whatever a message holds (a newline, an escape
                    // sequence a terminal would act on).
                    let lines = bad
                        .iter()
                        .map(|e| {
                            format!("  {}: {}", e.place(), report::stated(&e.message, &e.detail))
                        })
                        .chain(why)
                        .chain(said.iter().map(|l| format!("  {}", one_line(l))));
                    for line in lines {
                        let line = line.trim_end().to_string();
                        outln!("{line}");
                        text.push_str(&line);
                        text.push('\n');
                    }
                    let text = with_replay(text);
                    cases.push((s.clone(), t0.elapsed(), report::CaseEnd::Failed(text)));
                }
            }
            Err(e) => {
                // A scenario that did not finish cannot tell which values it would have
                // read: none of them is blamed as read by no scenario. Its line gives them
                // all, since it ran under them.
                read.extend(params.keys().cloned());
                let under: Vec<String> = params.iter().map(set_text).collect();
                let under = under.join(", ");
                // The JUnit report has the error first (its message), then what the script
                // printed before it, failed expectations among them.
                let mut body = e.0.clone();
                if !failure.printed.is_empty() {
                    body.push_str("\nbefore the error:\n");
                    for l in failure.printed.iter().flat_map(|p| p.lines()) {
                        body.push_str(&format!("  | {l}\n"));
                    }
                }
                // A scenario its time limit stopped may be sound and only slow: it fails
                // (exit 1), where one that cannot run is bad input (exit 2).
                let body = with_replay(body);
                let name = one_line(&s.display().to_string());
                let end = if failure.timed_out {
                    failed += 1;
                    match under.is_empty() {
                        true => outln!("FAILED {name} (timed out)"),
                        false => outln!("FAILED {name} (timed out; {under})"),
                    }
                    report::CaseEnd::Failed(body)
                } else {
                    broken += 1;
                    match under.is_empty() {
                        true => outln!("ERROR  {name}"),
                        false => outln!("ERROR  {name} ({under})"),
                    }
                    report::CaseEnd::Broken(body)
                };
                // What it printed before it failed, then the error.
                for l in failure.printed.iter().flat_map(|p| p.lines()) {
                    outln!("  | {l}");
                }
                for l in e.0.lines() {
                    outln!("  {l}");
                }
                cases.push((s.clone(), t0.elapsed(), end));
            }
        }
    }
    // The closing line CI reads is `N passed, N failed`; what of the failures could not
    // run at all (bad input) is said after it, as the JUnit report counts errors.
    if broken > 0 {
        outln!(
            "{} passed, {} failed ({broken} of them could not run)",
            passed,
            failed + broken
        );
    } else {
        outln!("{} passed, {} failed", passed, failed + broken);
    }
    // A --model that some scenarios did not run on, because their header names another
    // model: a replay of the library on a variant must not read as all of it on the variant.
    if let (Some(file), false) = (model, kept_own.is_empty()) {
        let name = model_name.as_deref().unwrap_or("the model in it");
        let shown = match kept_own.len() {
            n if n <= 4 => kept_own.join(", "),
            n => format!("{}, and {} more", kept_own[..3].join(", "), n - 3),
        };
        outln!(
            "note: --model {} ({name}) ran the scenarios without a `// model:` line and those \
             whose line names {name}; {} ran on the model their line names: {shown}",
            file.display(),
            match kept_own.len() {
                1 => "1 other".to_string(),
                n => format!("{n} others"),
            }
        );
    }
    // A --set no scenario read is almost always a typo, and every scenario ran its default
    // instead: bad input, said after the closing line, and in the JUnit report.
    let unread: Vec<&String> = params.keys().filter(|n| !read.contains(*n)).collect();
    for name in &unread {
        let hint = chokepoint_core::error::did_you_mean(name, known.iter().map(String::as_str));
        let msg = format!("error: --set {name}: no scenario read param(\"{name}\"){hint}");
        errln!("{msg}");
        let case = (
            PathBuf::from(format!("chokepoint test --set {name}")),
            std::time::Duration::ZERO,
            report::CaseEnd::Broken(msg),
        );
        cases.push(case);
    }
    if let Some(j) = junit {
        let output = write::output_phase();
        write::atomic(j, report::junit(&cases).as_bytes())?;
        output.done();
    }
    Ok(if broken > 0 || !unread.is_empty() {
        2
    } else if failed > 0 {
        1
    } else {
        0
    })
}

/// Text for one line of a terminal: control characters (a newline, an escape) shown as
/// `?`, so a message cannot break the line-per-scenario format or drive the terminal.
use report::one_line;

fn docs(format: &str) -> Result<u8> {
    match format {
        "json" => outln!("{}", chokepoint_script::reference::json()),
        "md" | "markdown" => out!("{}", chokepoint_script::reference::markdown()),
        other => {
            return Err(anyhow!(BadInput(format!(
                "unknown format '{other}' (expected md or json)"
            ))))
        }
    }
    Ok(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A trade key without its `>` is most often one a shell cut at the `>`, reading it as a
/// redirect (`--metric trade=CN>US` runs with `trade=CN` and writes a file `US`).
fn redirect_hint(key: &str) -> &'static str {
    if key.contains('>') {
        ""
    } else {
        " (a shell reads an unquoted > as a redirect: quote the argument, as in \
         --metric 'trade=CN>US')"
    }
}

/// Times `runs` runs of ten model years on one thread, and the same with a script. The two
/// kinds of run alternate, so both see the same machine (frequency, other load).
fn bench(
    model_path: Option<&Path>,
    runs: usize,
    script: Option<&Path>,
    phases: bool,
    time_limit: f64,
) -> Result<u8> {
    check_time_limit(time_limit)?;
    if runs == 0 || runs > 100_000 {
        return Err(anyhow!(BadInput(
            "--runs must be between 1 and 100000".into()
        )));
    }
    let scenario = script.map(compile).transpose()?;
    // Both timings are of one model: the script's own (its header) unless --model names one.
    let model = match &scenario {
        Some(sc) => {
            if let Some(p) = model_path {
                note_model_override(sc, p);
            }
            load_model_for(sc, model_path)?
        }
        None => load_model(model_path.unwrap_or(Path::new("models/world-2024.yaml")))?,
    };
    let until = model.start.add_days(3652).min(model.end);
    // The steps of the timed window: a script ends where the plain run does, so the two
    // time the same steps (one that never moves the clock is run through the window).
    let window = {
        let mut sim = chokepoint_core::Sim::new(&model, 0);
        sim.run_until(until);
        sim.step
    };
    let opts = |seed: u64| RunOptions {
        seed,
        finish_steps: Some(window),
        time_limit: Duration::from_secs_f64(time_limit),
        ..RunOptions::default()
    };
    // A run its time limit stopped failed (exit 1); any other error is the script's.
    let run_scripted = |sc: &Scenario, seed: u64| -> Result<Outcome> {
        let out = sc.run(&model, &opts(seed)).map_err(|e| match e.timed_out {
            true => anyhow!(Failed(e.to_string())),
            false => anyhow!(BadInput(e.to_string())),
        })?;
        if out.sim.step != window {
            return Err(anyhow!(BadInput(format!(
                "error: {} runs to {}, but bench times {} to {until} (ten years, or to the \
                 model's end) with and without it, so it must end there: end it with \
                 run_until(\"{until}\"), or leave the clock to bench (a script that never \
                 moves it runs through the window)",
                sc.path.display(),
                out.sim.last_date(),
                model.start,
            ))));
        }
        Ok(out)
    };
    let mut plain = Vec::with_capacity(runs);
    let mut scripted = Vec::with_capacity(runs);
    let mut levers = 0;
    // Untimed runs of each first: the first runs pay for caches, the allocator's growth and
    // the script engine's set-up, which a median of few runs would count.
    for _ in 0..3 {
        let mut sim = chokepoint_core::Sim::new(&model, 0);
        sim.run_until(until);
        std::hint::black_box(&sim);
        if let Some(sc) = &scenario {
            std::hint::black_box(run_scripted(sc, 0)?);
        }
    }
    for i in 0..runs {
        let t = std::time::Instant::now();
        let mut sim = chokepoint_core::Sim::new(&model, i as u64);
        sim.run_until(until);
        plain.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(&sim);
        if let Some(sc) = &scenario {
            let t = std::time::Instant::now();
            let out = run_scripted(sc, i as u64)?;
            scripted.push(t.elapsed().as_secs_f64() * 1e3);
            levers = out.levers.len();
        }
    }
    let base = median(plain);
    outln!(
        "engine: {} ({}), {} to {}",
        model.name,
        chokepoint_core::Sim::new(&model, 0).shape(),
        model.start,
        until
    );
    outln!(
        "  no script   median {base:8.3} ms per run   {:8.1} runs/s on one thread",
        1e3 / base
    );
    if !scripted.is_empty() {
        let with = median(scripted);
        outln!("  with script median {with:8.3} ms per run   {:8.1} runs/s   ratio {:.3}   ({levers} {} pulled)", 1e3 / with, with / base, if levers == 1 { "lever" } else { "levers" });
    }
    if phases {
        // Separate runs, so the clock reads do not weigh on the figures above.
        use chokepoint_core::sim::PHASES;
        let mut times = [std::time::Duration::ZERO; PHASES.len()];
        for i in 0..runs {
            let mut sim = chokepoint_core::Sim::new(&model, i as u64);
            while sim.steps_left() > 0 && sim.date() <= until {
                sim.step_timed(&mut times);
            }
        }
        let total: f64 = times.iter().map(|t| t.as_secs_f64()).sum();
        outln!("  by phase (mean of {runs} runs, timed step by step):");
        for ((name, _), t) in PHASES.iter().zip(times) {
            let t = t.as_secs_f64();
            outln!(
                "    {name:<18} {:8.3} ms   {:5.1}%",
                t * 1e3 / runs as f64,
                100.0 * t / total.max(f64::MIN_POSITIVE)
            );
        }
    }
    Ok(0)
}

#[allow(clippy::too_many_arguments)]
fn run_sweep(
    script: &Path,
    runs: Option<usize>,
    set: &[String],
    grid: Option<usize>,
    threads: Option<usize>,
    shard: Option<&str>,
    seed: Option<u64>,
    metrics: &[String],
    model: Option<&Path>,
    out: &Path,
    time_limit: f64,
) -> Result<u8> {
    let bad = |m: String| anyhow!(BadInput(m));
    check_time_limit(time_limit)?;
    let limit = Duration::from_secs_f64(time_limit);
    write::ready(out, &sweep::OUTPUTS)?;
    write::unfinished_scenario(script);
    let runs = runs.unwrap_or(100);
    if !(1..=sweep::MAX_RUNS).contains(&runs) {
        return Err(bad("--runs must be between 1 and 10000000".into()));
    }
    if let Some(k) = grid {
        if !(2..=1000).contains(&k) {
            return Err(bad(format!(
                "--grid {k}: must be between 2 and 1000 points per parameter (both ends of \
                 each range and the points between; hold a parameter with --set NAME=VALUE)"
            )));
        }
    }
    if threads == Some(0) || threads.is_some_and(|t| t > 1024) {
        return Err(bad("--threads must be between 1 and 1024".into()));
    }
    let ranges = set
        .iter()
        .map(|s| sweep::Range::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    for (i, r) in ranges.iter().enumerate() {
        if ranges[..i].iter().any(|q| q.name == r.name) {
            return Err(bad(format!("--set {} is given twice", r.name)));
        }
    }
    // In the order of their names, whatever order the flags came in: the same sweep written
    // either way draws the same values, walks its grid alike and writes the same files, so
    // its shards merge (runs.csv's columns and sweep.json followed the flags: runner review,
    // 2026-12-01).
    let mut ranges = ranges;
    ranges.sort_by(|a, b| a.name.cmp(&b.name));
    if grid.is_some() && ranges.iter().all(|r| r.lo == r.hi) {
        return Err(bad(
            "--grid needs a range to walk: add --set NAME=LO..HI".into()
        ));
    }
    let shard = match shard {
        Some(s) => sweep::Shard::parse(s).map_err(bad)?,
        None => sweep::Shard { k: 0, n: 1 },
    };
    // The default figures are world-2024's: on another model, those it lacks give way.
    let defaulted = metrics.is_empty();
    let metrics: Vec<(String, String)> = if defaulted {
        sweep::DEFAULT_METRICS
            .iter()
            .map(|(m, k)| (m.to_string(), k.to_string()))
            .collect()
    } else {
        metrics
            .iter()
            .map(|m| {
                m.split_once('=')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| bad(format!("--metric {m}: expected METRIC=KEY")))
            })
            .collect::<Result<_>>()?
    };
    if let Some(i) = (1..metrics.len()).find(|&i| metrics[..i].contains(&metrics[i])) {
        let (m, k) = &metrics[i];
        return Err(bad(format!("--metric {m}={k} is given twice")));
    }
    let scenario = compile(script)?;
    if let Some(p) = model {
        note_model_override(&scenario, p);
    }
    let model = load_model_for(&scenario, model)?;
    let mut spec = sweep::Spec {
        runs,
        ranges,
        grid,
        seed: seed.unwrap_or(model.seed),
        metrics,
    };
    if spec
        .grid
        .is_some_and(|_| spec.total_runs() > sweep::MAX_RUNS)
    {
        return Err(bad("the grid has more than 10,000,000 points".into()));
    }
    // One process keeps a row of figures per run (1-3 KB) until it writes them.
    let here = spec.total_runs().div_ceil(shard.n);
    if here > 1_000_000 {
        return Err(bad(format!(
            "{} runs on this machine: one process runs at most 1,000,000 (it keeps every \
             run's figures until it writes them); spread them with --shard K/N (N of at least \
             {}) and merge",
            here,
            spec.total_runs().div_ceil(1_000_000)
        )));
    }
    sweep::claim_out(&scenario, &model, &spec, shard, out)?;
    // A swept parameter the script never reads, or a --metric the run does not record,
    // would waste every run: check on one first.
    if !spec.ranges.is_empty() || !spec.metrics.is_empty() {
        let (seed, values) = spec.run_params(0);
        let params: std::collections::BTreeMap<String, f64> = spec
            .ranges
            .iter()
            .zip(values)
            .map(|(r, v)| (r.name.clone(), v))
            .collect();
        // Which run failed and with what values, as the sweep itself says it.
        let shown: Vec<String> = (params.iter())
            .map(|(k, v)| format!("{k}={}", chokepoint_core::series::fmt_num(*v)))
            .chain(std::iter::once(format!("seed {seed}")))
            .collect();
        // The probe runs under the limit the sweep's own runs will have (memory shared
        // among the runs made at once).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let in_shard = (shard.k..spec.total_runs()).step_by(shard.n).count();
        chokepoint_script::engine::limits::set_parallel_runs(
            threads.unwrap_or(cores).min(in_shard.max(1)),
        );
        let probe = scenario
            .run(
                &model,
                &RunOptions {
                    seed,
                    params,
                    time_limit: limit,
                    ..RunOptions::default()
                },
            )
            .map_err(|e| {
                let what = if e.timed_out {
                    "did not finish in its time limit"
                } else {
                    "could not run"
                };
                let text = format!(
                    "error: the sweep's first run {what}: run 0 ({}):\n{e}",
                    shown.join(", ")
                );
                match e.timed_out {
                    true => anyhow!(Failed(text)),
                    false => bad(text),
                }
            });
        let probe = match probe {
            Ok(p) => p,
            Err(e) => {
                // The sweep's runs fail: no earlier sweep's results stay to be read as its.
                let outputs = write::Outputs {
                    dir: out.to_path_buf(),
                    files: &sweep::OUTPUTS,
                    scenario: Some(script.to_path_buf()),
                };
                outputs.void(e.to_string().trim_end())?;
                return Err(e);
            }
        };
        let written = scenario.literal_params();
        for r in &spec.ranges {
            if !probe.params.contains_key(&r.name) && !written.contains(&r.name) {
                let hint = chokepoint_core::error::did_you_mean(
                    &r.name,
                    probe.params.keys().chain(&written).map(String::as_str),
                );
                return Err(bad(format!(
                    "--set {}: the script never reads param(\"{}\"){hint}",
                    r.name, r.name
                )));
            }
        }
        let series = &probe.sim.series;
        if defaulted {
            let kept = sweep::default_metrics_for(series);
            if kept != spec.metrics {
                errln!(
                    "note: the default figures are world-2024's; for this model the sweep \
                     follows {} (name others with --metric METRIC=KEY)",
                    kept.iter()
                        .map(|(m, k)| format!("{m}={k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                spec.metrics = kept;
            }
        }
        for (m, k) in &spec.metrics {
            if series.find(m, k).is_some() {
                continue;
            }
            let keys = series.keys(m);
            // A plant's output the script names itself may be a plant a lever builds in some
            // runs only (only `output` gains keys during a run).
            if m == "output" && scenario.writes_literal(k) && !keys.is_empty() {
                errln!(
                    "note: --metric {m}={k}: the sweep's first run does not record it; runs \
                     that do not (a plant the script builds in some runs only) count it as 0"
                );
                continue;
            }
            // A route no seller and buyer could use when the run began: a plant a lever
            // builds may open it. A key that names no route says why.
            if m == "trade_by_form" {
                if let Err(why) = chokepoint_core::sim::route_of(&model, k) {
                    return Err(bad(format!(
                        "--metric {m}={k}: metric '{m}' has no key '{k}': {why}{}",
                        redirect_hint(k)
                    )));
                }
                errln!(
                    "note: --metric {m}={k}: nothing in the first run sells that form across \
                     that border when it begins; runs that open the route (a plant a lever \
                     builds) record it, the others count it as 0"
                );
                continue;
            }
            let why = if keys.is_empty() {
                let hint = chokepoint_core::error::did_you_mean(m, series.metrics());
                format!("no metric '{m}'{hint}")
            } else {
                let hint = chokepoint_core::error::did_you_mean(k, keys.iter().copied());
                let redirect = if m == "trade" { redirect_hint(k) } else { "" };
                format!("metric '{m}' has no key '{k}'{hint}{redirect}")
            };
            return Err(bad(format!("--metric {m}={k}: {why}")));
        }
    }
    let stats = sweep::sweep(&scenario, &model, &spec, shard, threads, out, limit)?;
    outln!(
        "{} {}{} in {:.2} s: {:.1} runs/s -> {}",
        stats.runs,
        if stats.runs == 1 { "run" } else { "runs" },
        match shard.n {
            1 => String::new(),
            n => format!(" (shard {}/{n})", shard.k),
        },
        stats.elapsed.as_secs_f64(),
        stats.runs as f64 / stats.elapsed.as_secs_f64().max(1e-9),
        out.display()
    );
    if let Some(note) = &stats.note {
        errln!("{note}");
    }
    if let Some(table) = sweep::figures_table(out) {
        out!("{table}");
    }
    // Runs that fail their expectations are a result of the sweep (the share that rides a
    // shock out, say), not an error: said here, counted in runs.csv.
    if stats.failed > 0 {
        outln!(
            "{} of {} runs failed expectations (runs.csv: expectations_failed)",
            stats.failed,
            stats.runs
        );
    }
    Ok(0)
}

/// `compare --top`: how many figures, at least one.
/// A count (runs, points, threads): a whole number; each flag checks its own range after.
fn parse_count(s: &str) -> Result<usize, String> {
    s.trim()
        .parse::<usize>()
        .map_err(|_| format!("'{s}' is not a count (a whole number)"))
}

fn parse_top(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{s}' is not a whole number of at least 1")),
    }
}

/// The note for a `--set` whose `param()` is in the script but was not reached in the run.
fn unreached_param(name: &str) -> String {
    format!(
        "note: --set {name}: the run never reached param(\"{name}\") (in a branch not taken, \
         or an action or trigger that never ran), so the value changed nothing"
    )
}

/// A parameter's value as a scenario's line gives it: plain where that is short, in
/// exponent form where it would run to many digits (1e300, 4.9e-324).
fn param_text(v: f64) -> String {
    if v != 0.0 && !(1e-6..1e15).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// A `--seed`: a whole number from 0 to 2^64 - 1, said so when it is not one.
fn parse_seed(text: &str) -> std::result::Result<u64, String> {
    text.trim().parse::<u64>().map_err(|_| {
        format!(
            "'{text}' is not a seed: a whole number from 0 to {}",
            u64::MAX
        )
    })
}

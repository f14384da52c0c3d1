//! `chokepoint sweep` and `chokepoint merge`: Monte Carlo or grid runs of one scenario over
//! uncertain parameters, in parallel, sharded for batch schedulers, with per-run figures,
//! p5/p50/p95 bands per metric and a report of fan charts and each figure against each
//! swept parameter.
//!
//! Every run's parameters and seed derive from its index alone, results are ordered by run
//! index, and the unsharded sweep writes through the same merge step as sharded ones: the
//! same inputs give byte-identical files on any number of threads or machines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use chokepoint_core::series::{fmt_num, Series};
use chokepoint_core::Model;
use chokepoint_script::{RunOptions, Scenario};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::write;

/// The ChaCha stream a run's Monte Carlo parameters are drawn from (its events use 0).
const PARAM_STREAM: u64 = 1;

/// The columns of runs.csv besides the parameters and figures: no parameter may take
/// their names.
const OWN_COLUMNS: [&str; 5] = [
    "run",
    "seed",
    "expectations_passed",
    "expectations_failed",
    "prices_at_cap",
];

/// A parameter swept between two bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub name: String,
    pub lo: f64,
    pub hi: f64,
}

impl Range {
    /// Parses `name=lo..hi`.
    pub fn parse(s: &str) -> Result<Range, String> {
        let (name, rest) = s
            .split_once('=')
            .ok_or_else(|| format!("--set {s}: expected NAME=LO..HI or NAME=VALUE"))?;
        // Two dots between the ends, once: `0...1` could be 0..0.1 or 0.0..1.
        if rest.contains("...") || rest.matches("..").count() > 1 {
            return Err(format!(
                "--set {s}: expected LO..HI, two dots once between the ends (0..1, 0.5..1.5)"
            ));
        }
        // One value holds the parameter there for every run.
        let (lo, hi) = rest.split_once("..").unwrap_or((rest, rest));
        let num = |x: &str| -> Result<f64, String> {
            x.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("--set {s}: '{x}' is not a finite number"))
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi {
            return Err(format!("--set {s}: the low end is above the high end"));
        }
        if !(hi - lo).is_finite() {
            return Err(format!(
                "--set {s}: the range is wider than a number can hold (at most about 1.8e308 \
                 from end to end)"
            ));
        }
        if name.trim().is_empty() {
            return Err(format!("--set {s}: the parameter needs a name"));
        }
        if let Some(taken) = OWN_COLUMNS.iter().find(|c| **c == name.trim()) {
            return Err(format!(
                "--set {s}: '{taken}' is a column runs.csv has of its own ({}), so a parameter \
                 of that name could not be told from it: rename it in the script's param(){}",
                OWN_COLUMNS.join(", "),
                if *taken == "seed" {
                    " (the sweep's own seed is --seed)"
                } else {
                    ""
                }
            ));
        }
        Ok(Range {
            name: name.trim().to_string(),
            lo,
            hi,
        })
    }
}

/// What to sweep and how.
#[derive(Debug, Clone)]
pub struct Spec {
    pub runs: usize,
    pub ranges: Vec<Range>,
    /// Grid with this many points per parameter instead of Monte Carlo.
    pub grid: Option<usize>,
    pub seed: u64,
    /// Metrics to keep per run, as (metric, key).
    pub metrics: Vec<(String, String)>,
}

/// Shard `k` of `n`: runs `k, k+n, k+2n, …`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl Shard {
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("--shard {s}: expected K/N, e.g. 0/4"))?;
        let k: usize = k
            .trim()
            .parse()
            .map_err(|_| format!("--shard {s}: K is not a whole number from 0 to N-1"))?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("--shard {s}: N is not a whole number of at least 1"))?;
        if n == 0 || k >= n {
            return Err(format!("--shard {s}: need 0 <= K < N"));
        }
        Ok(Shard { k, n })
    }
}

/// Missing shards a merge names before it only counts the rest.
const MISSING_NAMED: usize = 8;

pub const DEFAULT_METRICS: [(&str, &str); 4] = [
    ("price", "ROW/oxide:Dy"),
    ("price", "ROW/magnet:NdFeB"),
    ("shortfall", "magnet:NdFeB/US"),
    ("policy_cost", "US"),
];

/// The figures a sweep follows when none are named: the defaults the model records, or, for
/// a model with none of them, its most telling shortfall (highest peak), price (largest move
/// from its start) and policy cost (largest at the end), judged on a first run's `series`.
pub fn default_metrics_for(series: &Series) -> Vec<(String, String)> {
    let kept: Vec<(String, String)> = DEFAULT_METRICS
        .iter()
        .filter(|(m, k)| series.find(m, k).is_some())
        .map(|(m, k)| (m.to_string(), k.to_string()))
        .collect();
    if !kept.is_empty() {
        return kept;
    }
    let most = |metric: &str, score: &dyn Fn(&[f64]) -> f64| {
        let mut best: Option<(&str, f64)> = None;
        for key in series.keys(metric) {
            let col = series.find(metric, key).map(|c| series.column(c));
            let v = col.as_deref().map_or(0.0, score);
            if best.is_none_or(|(_, b)| v > b) {
                best = Some((key, v));
            }
        }
        best.map(|(k, _)| (metric.to_string(), k.to_string()))
    };
    let peak = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let moved = |v: &[f64]| match v.first() {
        Some(&p0) if p0 > 0.0 => v.iter().map(|p| (p / p0).ln().abs()).fold(0.0, f64::max),
        _ => 0.0,
    };
    let end = |v: &[f64]| v.last().map_or(0.0, |x| x.abs());
    [
        most("shortfall", &peak),
        most("price", &moved),
        most("policy_cost", &end),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Why a run that took no step has no figures (its peak, mean and final value are of nothing).
pub const NO_STEPS: &str = "the run took no step (the script ended before the model's first \
                            step ran): it has no figures to sweep or compare";

/// A run's peak of a figure: its highest value, but for a running total its largest in size,
/// so receipts (a policy cost below 0) peak at their most negative, not at the start's 0.
pub fn peak_of(metric: &str, v: &[f64]) -> f64 {
    if chokepoint_core::series::running_total(metric) {
        (v.iter().copied()).fold(0.0, |a: f64, x| if x.abs() > a.abs() { x } else { a })
    } else {
        v.iter().copied().fold(f64::MIN, f64::max)
    }
}

impl Spec {
    pub fn total_runs(&self) -> usize {
        match self.grid {
            // A grid too large to count is larger than any the runner accepts.
            // A parameter held at one value (NAME=V) is one point, however fine the grid.
            Some(k) => k
                .checked_pow(self.ranges.iter().filter(|r| r.lo < r.hi).count() as u32)
                .unwrap_or(usize::MAX)
                .max(1),
            None => self.runs,
        }
    }

    /// Each run's seed, and its parameters, from `i` alone: a grid point, or uniform draws
    /// in each range (independent, not stratified) from a stream of the seed the run's
    /// events never use. A parameter held at one value is that value.
    pub fn run_params(&self, i: usize) -> (u64, Vec<f64>) {
        let seed = splitmix(self.seed ^ splitmix(i as u64));
        let values = match self.grid {
            Some(k) => {
                let mut rest = i;
                self.ranges
                    .iter()
                    .map(|r| {
                        if r.lo == r.hi {
                            return r.lo;
                        }
                        let j = rest % k;
                        rest /= k;
                        if k > 1 {
                            // To 12 significant digits: a grid point of 0.1..0.9 is 0.3, not
                            // 0.30000000000000004 (the same for every run and machine). The
                            // ends are the range's own, and a range too narrow for 12 digits
                            // keeps its points unrounded (rounding would merge them, or move
                            // them out of it).
                            if j + 1 == k {
                                return r.hi;
                            }
                            if j == 0 {
                                return r.lo;
                            }
                            let step = (r.hi - r.lo) / (k - 1) as f64;
                            let v = r.lo + (r.hi - r.lo) * j as f64 / (k - 1) as f64;
                            let rounded: f64 = format!("{v:.11e}").parse().unwrap_or(v);
                            if (rounded - v).abs() <= step * 1e-6 {
                                rounded
                            } else {
                                v
                            }
                        } else {
                            r.lo
                        }
                    })
                    .collect()
            }
            None => {
                // The run's own stream (0) draws its random events: the parameters come
                // from another, or a parameter and the first outage draw would be one number.
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(PARAM_STREAM);
                // Drawn in the order of their names, whatever order the --set flags came
                // in: the same sweep, written either way, draws the same values. One held
                // at a value (NAME=VALUE) draws nothing: holding a parameter at its
                // default leaves the others' draws as they were without it.
                let mut order: Vec<usize> = (0..self.ranges.len()).collect();
                order.sort_by(|&a, &b| self.ranges[a].name.cmp(&self.ranges[b].name));
                let mut values = vec![0.0; self.ranges.len()];
                for i in order {
                    let r = &self.ranges[i];
                    if r.lo == r.hi {
                        values[i] = r.lo;
                        continue;
                    }
                    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    values[i] = r.lo + (r.hi - r.lo) * u;
                }
                values
            }
        };
        (seed, values)
    }
}

/// The version of [`Spec::run_params`]' draws, recorded in sweep.json.
const SAMPLING: u32 = 2;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Every file a sweep or a merge may write.
pub const OUTPUTS: [&str; 6] = [
    "runs.csv",
    "runs_series.csv",
    "sweep.json",
    "bands.csv",
    "summary.json",
    "report.html",
];

/// One run's rows, already formatted (so sharded and unsharded outputs are the same bytes).
struct RunRows {
    figures: String,
    series: String,
    /// Whether any of its expectations failed.
    failed: bool,
    /// What the run warned of (an action that never ran, say), and its notes on levers.
    warnings: Vec<String>,
    notes: Vec<String>,
    /// The expectations it failed ("line 12: US magnet users ...").
    failed_expectations: Vec<String>,
}

fn header(spec: &Spec) -> String {
    let mut h = format!("{},{}", OWN_COLUMNS[0], OWN_COLUMNS[1]);
    for r in &spec.ranges {
        let _ = write!(h, ",{}", r.name);
    }
    for own in &OWN_COLUMNS[2..] {
        let _ = write!(h, ",{own}");
    }
    for (m, k) in &spec.metrics {
        for stat in ["peak", "mean", "final"] {
            let name = format!("{m}[{k}].{stat}");
            let _ = write!(h, ",{}", chokepoint_core::series::csv_field(&name));
        }
    }
    h.push('\n');
    h
}

/// The sweep's figures as `sweep` prints them when it ends, from the runs.csv in `out`: each
/// figure's peak and mean across runs (p5, p50, p95), and how each moves with each swept
/// parameter (Spearman's rank correlation over the runs: "rises" or "falls" at 0.5 or more
/// in size, more with under 17 runs (`telling_correlation`); "flat" where the runs' values are within a thousandth of its size). Figures that
/// are 0 in every run are left out. None if runs.csv cannot be read.
pub fn figures_table(out: &Path) -> Option<String> {
    let text = std::fs::read_to_string(out.join("runs.csv")).ok()?;
    let (head, rows) = runs_table(&text);
    if rows.is_empty() {
        return None;
    }
    let col = |c: usize| -> Vec<f64> {
        rows.iter()
            .map(|r| r.get(c).copied().unwrap_or(f64::NAN))
            .collect()
    };
    let first_own = head.iter().position(|h| h == "expectations_passed")?;
    // Each swept parameter's name and values, once.
    let params: Vec<(Vec<f64>, &str)> =
        (2..first_own).map(|c| (col(c), head[c].as_str())).collect();
    let figures: Vec<(usize, &str)> = (head.iter().enumerate())
        .filter(|(_, h)| h.contains('[') && (h.ends_with(".peak") || h.ends_with(".mean")))
        .map(|(c, h)| (c, h.as_str()))
        .collect();
    let width = figures
        .iter()
        .map(|(_, h)| h.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let title = match rows.len() {
        1 => "figures of the 1 run".to_string(),
        n => format!("figures across {n} runs"),
    };
    let mut t = format!(
        "{title}{:w$} {:>13} {:>13} {:>13}",
        "",
        "p5",
        "p50",
        "p95",
        w = (width + 2).saturating_sub(title.len())
    );
    for (_, p) in &params {
        let _ = write!(t, "   with {p}");
    }
    t.push('\n');
    // Four or more significant figures: a mean of $250.4 and one of $249.8 read apart.
    let shown = |x: f64| match x.abs() {
        a if a >= 1000.0 => crate::report::thousands(x),
        a if a >= 100.0 => fmt_num((x * 10.0).round() / 10.0),
        _ => fmt_num(crate::compare::round4(x)),
    };
    let (mut left_out, mut untold) = (0, false);
    for (c, name) in figures {
        let v = col(c);
        let mut sorted: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        if sorted.iter().all(|&x| x == 0.0) {
            left_out += 1;
            continue;
        }
        sorted.sort_by(f64::total_cmp);
        let (p5, p50, p95) = (
            percentile(&sorted, 0.05),
            percentile(&sorted, 0.5),
            percentile(&sorted, 0.95),
        );
        let _ = write!(
            t,
            "  {name:<width$} {:>13} {:>13} {:>13}",
            shown(p5),
            shown(p50),
            shown(p95)
        );
        // A figure the runs move by under a thousandth of its size moves with nothing: a
        // rank correlation orders differences of rounding (a Dy price mean from 250.17 to
        // 250.16 "fell (-0.61)" with a stockpile: review 2026-12-02).
        let (lo, hi) = (sorted[0], sorted[sorted.len() - 1]);
        let flat = hi - lo < 1e-3 * lo.abs().max(hi.abs());
        for (values, p) in &params {
            let r = rank_correlation(values, &v);
            let telling = telling_correlation(rows.len());
            let word = match r {
                Some(_) if flat => "flat (<0.1% apart)".to_string(),
                Some(r) if r >= telling => format!("rises ({r:+.2})"),
                Some(r) if r <= -telling => format!("falls ({r:+.2})"),
                Some(r) => {
                    untold |= r.abs() >= 0.5;
                    format!("({r:+.2})")
                }
                None => "-".into(),
            };
            let _ = write!(t, "   {word:<w$}", w = p.len() + 5);
        }
        let kept = t.trim_end().len();
        t.truncate(kept);
        t.push('\n');
    }
    // Few runs order a parameter and a figure alike by chance: 0.6 of five runs says
    // nothing (a parameter no lever read "rose" with a price: review 2026-12-02).
    if untold {
        let _ = writeln!(
            t,
            "  (with {} runs a direction is named only at a correlation of {:.2} or more in \
             size, beyond what chance orders 1 time in 20: more runs tell more)",
            rows.len(),
            telling_correlation(rows.len())
        );
    }
    if left_out > 0 {
        let _ = writeln!(
            t,
            "  ({left_out} more {} 0 in every run: runs.csv has them)",
            if left_out == 1 {
                "figure is"
            } else {
                "figures are"
            }
        );
    }
    Some(t)
}

/// The rank correlation over `runs` runs that names a direction: 0.5 in size, or more where
/// so few runs would reach 0.5 by chance more than 1 time in 20 (two-sided; Spearman's
/// statistic is about normal with variance 1/(n-1) when the two are unrelated). Five runs
/// need 0.98, 20 runs 0.5.
fn telling_correlation(runs: usize) -> f64 {
    let n = runs.max(2) as f64;
    (1.96 / (n - 1.0).sqrt()).max(0.5)
}

/// runs.csv's header fields and its rows as numbers (NaN where a field is not one).
fn runs_table(text: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut lines = text.lines();
    let head = csv_fields(lines.next().unwrap_or_default());
    let rows = lines
        .map(|l| {
            l.split(',')
                .map(|x| x.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    (head, rows)
}

/// Spearman's rank correlation of two columns over the runs where both are numbers (ties
/// take their mean rank); None with fewer than 3 such runs or a column that does not vary.
fn rank_correlation(a: &[f64], b: &[f64]) -> Option<f64> {
    let pairs: Vec<(f64, f64)> = (a.iter().zip(b))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (*x, *y))
        .collect();
    if pairs.len() < 3 {
        return None;
    }
    let ranks = |v: Vec<f64>| -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            let mean = (i + j) as f64 / 2.0;
            for &k in &idx[i..=j] {
                r[k] = mean;
            }
            i = j + 1;
        }
        r
    };
    let ra = ranks(pairs.iter().map(|p| p.0).collect());
    let rb = ranks(pairs.iter().map(|p| p.1).collect());
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

/// A CSV line's fields, quotes undone (runs.csv's header: a key may hold commas or quotes).
fn csv_fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut chars) =
        (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Checks that this shard may write to `out` (it holds no other shard, nor the whole, of
/// the same sweep), then voids the earlier results there: before any run, the probe
/// included, so a sweep killed outright leaves none to be read as its own.
pub fn claim_out(
    scenario: &Scenario,
    model: &Arc<Model>,
    spec: &Spec,
    shard: Shard,
    out: &Path,
) -> Result<()> {
    let this = meta(scenario, model, spec, shard, spec.total_runs());
    other_shard_in(out, &this, shard)?;
    crate::write::begin()
}

/// Runs one scenario over the spec's runs (this shard's share), in parallel.
pub fn sweep(
    scenario: &Scenario,
    model: &Arc<Model>,
    spec: &Spec,
    shard: Shard,
    threads: Option<usize>,
    out: &Path,
    time_limit: Duration,
) -> Result<Stats> {
    let total = spec.total_runs();
    if shard.n > total {
        return Err(anyhow!(crate::BadInput(format!(
            "--shard {}/{}: more shards than the sweep's {total} run{} (some would hold none): \
             use at most {total}",
            shard.k,
            shard.n,
            if total == 1 { "" } else { "s" }
        ))));
    }
    // A sweep that fails from here leaves no earlier sweep's results in `out` to be read as
    // its own (nor does one stopped by Ctrl-C before it writes: `write::ready` registered
    // the directory; files no chokepoint command wrote were refused there before it ran).
    let outputs = write::Outputs {
        dir: out.to_path_buf(),
        files: &OUTPUTS,
        scenario: Some(scenario.path.clone()),
    };
    let mine: Vec<usize> = (shard.k..total).step_by(shard.n).collect();
    // No more threads than runs: the rest would only be started and stopped.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The largest of the scripts' stacks the system grants each worker (see script_stacks).
    let workers = threads.unwrap_or(cores).min(mine.len().max(1));
    chokepoint_script::engine::limits::set_parallel_runs(workers);
    let pool = (chokepoint_script::engine::limits::script_stacks().into_iter())
        .find_map(|size| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(workers)
                .stack_size(size)
                .build()
                .ok()
        })
        .map_or_else(
            || {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(workers)
                    .build()
                    .context("cannot start the worker threads")
            },
            Ok,
        )?;
    let done = AtomicUsize::new(0);
    let show = std::io::stderr().is_terminal();
    let started = Instant::now();
    let results: Vec<Result<RunRows, (String, bool)>> = std::thread::scope(|scope| {
        if show {
            let done = &done;
            let n = mine.len();
            scope.spawn(move || loop {
                let d = done.load(Ordering::Relaxed);
                err!(
                    "\r  sweep {d}/{n} runs ({:.0}%)   ",
                    100.0 * d as f64 / n.max(1) as f64
                );
                if d >= n {
                    // Gone once done: the terminal line is the shell's again.
                    err!("\r\x1b[2K");
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            });
        }
        pool.install(|| {
            mine.par_iter()
                .map(|&i| {
                    let r = one_run(scenario, model, spec, i, time_limit);
                    done.fetch_add(1, Ordering::Relaxed);
                    r
                })
                .collect()
        })
    });
    // A run that cannot run is a mistake in the script for those values: say which, and how
    // many runs it took down. Runs their time limit stopped fail the sweep (exit 1): they
    // are slow, not wrong.
    let broken = results.iter().filter(|r| r.is_err()).count();
    let all_slow = results.iter().all(|r| r.as_ref().err().is_none_or(|e| e.1));
    let mut rows = Vec::with_capacity(results.len());
    if broken > 0 {
        let first = results.iter().find_map(|r| r.as_ref().err());
        let why = first.map_or(String::new(), |(e, _)| e.clone());
        outputs.void(&format!(
            "{broken} of {} runs could not run; the first: {why}",
            mine.len()
        ))?;
    }
    for r in results {
        rows.push(r.map_err(|(e, _)| {
            let text = format!(
                "error: {broken} of {} runs could not run; the first:\n{e}",
                mine.len()
            );
            match all_slow {
                true => anyhow!(crate::Failed(format!(
                    "{text}\n  = help: --time-limit SECONDS sets each run's limit"
                ))),
                false => anyhow!(crate::BadInput(text)),
            }
        })?);
    }
    // What `check` warns of in the model bears on every run, as under `run`.
    crate::say_warnings(model, "the model");
    // What the runs warned of and noted, once each, in a fixed order, with how many runs
    // said it: on stderr, and in sweep.json (so a merge of shards has them all) and the
    // summary and report made from it.
    let mut said = Said::default();
    for (r, &run) in rows.iter().zip(&mine) {
        said.count(run, r);
    }
    said.tell(rows.len());
    let this = said.into_meta(&meta(scenario, model, spec, shard, total));
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut figures = header(spec);
    let mut series = String::from("run,period,metric,key,value\n");
    for r in &rows {
        figures.push_str(&r.figures);
        series.push_str(&r.series);
    }
    let output = write::output_phase();
    let note = write_runs(out, &figures, &series, &this, shard.n == 1)?;
    let elapsed = started.elapsed();
    if shard.n != 1 {
        // A shard's bands come from the merge: any left from an earlier sweep here would
        // describe other runs.
        for f in ["bands.csv", "summary.json", "report.html"] {
            let _ = std::fs::remove_file(out.join(f));
        }
    }
    output.done();
    Ok(Stats {
        runs: rows.len(),
        failed: rows.iter().filter(|r| r.failed).count(),
        elapsed,
        note,
    })
}

pub struct Stats {
    pub runs: usize,
    /// Runs with a failed expectation.
    pub failed: usize,
    pub elapsed: Duration,
    /// Said on stderr once the files are written (bands from fewer than all runs).
    pub note: Option<String>,
}

/// The keys of sweep.json that say where and how a shard's files were written, not what
/// sweep they belong to: left out when shards are compared.
const PER_SHARD: [&str; 6] = [
    "shard",
    "script",
    "runs_digest",
    "series_digest",
    "said",
    "said_digest",
];

/// What a sweep's runs warned of and noted, each with how many runs said it. Lines that
/// differ only in their figures (a stockpile's tonnes in each run) are one entry, shown as
/// the lowest-numbered run said it: a sweep of thousands of runs says a thing once.
#[derive(Default)]
struct Said {
    warnings: BTreeMap<String, Entry>,
    notes: BTreeMap<String, Entry>,
    failed: BTreeMap<String, Entry>,
}

/// One thing the runs said: the text of the lowest-numbered run that said it, that run, how
/// many runs said it, and whether their figures differed.
struct Entry {
    text: String,
    first_run: u64,
    runs: u64,
    varied: bool,
}

/// A line with its figures masked: what groups runs' lines. A figure is a number standing
/// alone (tonnes, a share, a date's parts): not one inside an id (`mp-10x-early`) and not a
/// line number (`line 5`), which tell different things apart.
fn masked(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        // A parameter's name (`param("x 1")`) is kept whole: its digits are no figure.
        if out.ends_with("param(") && chars[i] == '"' {
            if let Some(len) = chars[i + 1..].iter().position(|&c| c == '"') {
                out.extend(&chars[i..i + len + 2]);
                i += len + 2;
                continue;
            }
        }
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len()
            && (chars[j].is_ascii_digit()
                || (matches!(chars[j], ',' | '.')
                    && chars.get(j + 1).is_some_and(|c| c.is_ascii_digit())))
        {
            j += 1;
        }
        let before = i.checked_sub(1).map(|k| chars[k]);
        // A date's month and day follow its year's hyphen; an id's digits follow a letter
        // or a hyphen after one.
        let in_id = match before {
            Some(c) if c.is_alphabetic() || c == '_' => true,
            Some('-') => i < 2 || !chars[i - 2].is_ascii_digit(),
            _ => false,
        } || chars.get(j).is_some_and(|c| c.is_alphabetic() || *c == '_');
        let line_number = out.ends_with("line ");
        if in_id || line_number {
            out.extend(&chars[i..j]);
        } else {
            out.push('#');
        }
        i = j;
    }
    out
}

impl Said {
    /// Adds `text` under its masked form `key`.
    fn add_one(
        map: &mut BTreeMap<String, Entry>,
        key: String,
        text: &str,
        run: u64,
        runs: u64,
        varied: bool,
    ) {
        let e = map.entry(key).or_insert_with(|| Entry {
            text: text.to_string(),
            first_run: run,
            runs: 0,
            varied: false,
        });
        e.runs += runs;
        e.varied |= varied || e.text != text;
        if run < e.first_run {
            (e.text, e.first_run) = (text.to_string(), run);
        }
    }

    /// Adds what run `run` said.
    fn count(&mut self, run: usize, r: &RunRows) {
        for (said, lines) in [
            (&mut self.warnings, &r.warnings),
            (&mut self.notes, &r.notes),
            (&mut self.failed, &r.failed_expectations),
        ] {
            // A run that says a thing twice counts once.
            let mut seen = std::collections::BTreeSet::new();
            for l in lines {
                let key = masked(l);
                if seen.insert(key.clone()) {
                    Self::add_one(said, key, l, run as u64, 1, false);
                }
            }
        }
    }

    /// Adds a shard's record (sweep.json's `said`).
    fn add(&mut self, meta: &serde_json::Value) {
        for (kind, said) in [
            ("warnings", &mut self.warnings),
            ("notes", &mut self.notes),
            ("failed_expectations", &mut self.failed),
        ] {
            for w in meta["said"][kind].as_array().into_iter().flatten() {
                let (Some(text), Some(n)) = (w["text"].as_str(), w["runs"].as_u64()) else {
                    continue;
                };
                let first = w["first_run"].as_u64().unwrap_or(0);
                let varied = w["figures_differ"].as_bool().unwrap_or(false);
                Self::add_one(said, masked(text), text, first, n, varied);
            }
        }
    }

    fn tell(&self, runs: usize) {
        for (kind, said) in [
            ("warning", &self.warnings),
            ("note", &self.notes),
            ("expectation failed", &self.failed),
        ] {
            for e in said.values() {
                errln!("{kind}: {} ({})", e.text, e.counted(runs));
            }
        }
    }

    fn json(&self) -> serde_json::Value {
        let list = |m: &BTreeMap<String, Entry>| -> Vec<serde_json::Value> {
            (m.values())
                .map(|e| {
                    serde_json::json!({
                        "text": e.text,
                        "runs": e.runs,
                        "first_run": e.first_run,
                        "figures_differ": e.varied,
                    })
                })
                .collect()
        };
        serde_json::json!({
            "warnings": list(&self.warnings),
            "notes": list(&self.notes),
            "failed_expectations": list(&self.failed),
        })
    }

    /// sweep.json's text with this record in it.
    fn into_meta(self, meta: &str) -> String {
        let Ok(mut v) = serde_json::from_str::<serde_json::Value>(meta) else {
            return meta.to_string();
        };
        v["said"] = self.json();
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    }
}

impl Entry {
    /// "in 3 of 40 runs", and whose figures are shown where runs' figures differed.
    fn counted(&self, runs: usize) -> String {
        counted(self.runs, runs, self.varied.then_some(self.first_run))
    }
}

/// "in 3 of 40 runs", with "figures as in run 7" where runs' figures differed.
fn counted(n: u64, runs: usize, first: Option<u64>) -> String {
    match first {
        Some(r) => format!("in {n} of {runs} runs; figures as in run {r}, others differ"),
        None => format!("in {n} of {runs} runs"),
    }
}

/// Writes a sweep's (or a merge's) runs.csv, runs_series.csv and sweep.json, sweep.json
/// recording the digests of the other two; and with `whole`, the bands, summary and report
/// made from them. All as one set: a failed write (a full disk) leaves the old set, never a
/// report of one sweep beside the runs of another, nor a lone runs.csv that looks like a
/// shard.
fn write_runs(
    out: &Path,
    figures: &str,
    series: &str,
    meta: &str,
    whole: bool,
) -> Result<Option<String>> {
    let meta = with_digests(meta, figures, series);
    let mut files: Vec<(std::path::PathBuf, Vec<u8>)> = vec![
        (out.join("runs.csv"), figures.as_bytes().to_vec()),
        (out.join("runs_series.csv"), series.as_bytes().to_vec()),
        (out.join("sweep.json"), meta.as_bytes().to_vec()),
    ];
    let mut note = None;
    if whole {
        let done = finish(figures, series, &meta);
        files.push((out.join("bands.csv"), done.bands.into_bytes()));
        files.push((out.join("summary.json"), done.summary.into_bytes()));
        files.push((out.join("report.html"), done.report.into_bytes()));
        note = short_note(&done.short, &done.partial);
    }
    let set: Vec<(std::path::PathBuf, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.clone(), b.as_slice()))
        .collect();
    write::atomic_set(&set)?;
    Ok(note)
}

/// sweep.json with the digests of the runs.csv and runs_series.csv written beside it, and
/// of its own `said` (the notes and failed expectations a merge counts): a merge refuses a
/// shard whose files were changed since.
fn with_digests(meta: &str, figures: &str, series: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(meta) else {
        return meta.to_string();
    };
    v["runs_digest"] = digest(figures.as_bytes()).into();
    v["series_digest"] = digest(series.as_bytes()).into();
    v["said_digest"] = said_digest(&v).into();
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

/// The digest of a sweep.json's `said`, as JSON.
fn said_digest(meta: &serde_json::Value) -> String {
    digest(
        serde_json::to_string(&meta["said"])
            .unwrap_or_default()
            .as_bytes(),
    )
}

/// A digest of a model as loaded (includes and all; comments, layout and the files' paths
/// aside): two runs read the same data only if their digests agree, whatever the model's
/// file is named and wherever the checkout is. (Where each item was written, file and line,
/// is for messages only: it made shards of one sweep run in two checkouts unmergeable.)
pub(crate) fn model_digest(model: &Model) -> String {
    let mut data = model.clone();
    data.places = Default::default();
    digest(format!("{data:?}").as_bytes())
}

/// A 64-bit FNV-1a digest: the same bytes give the same digest on every machine.
pub(crate) fn digest(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{h:016x}")
}

/// Refuses to write a shard over another shard of the same sweep (a batch array given one
/// `--out` for all its tasks): the merge would find only the last.
fn other_shard_in(out: &Path, this: &str, shard: Shard) -> Result<()> {
    let Ok(text) = read_shard_file(&out.join("sweep.json"), 16 << 20) else {
        return Ok(());
    };
    let (Ok(mut there), Ok(mut here)) = (
        serde_json::from_str::<serde_json::Value>(&text),
        serde_json::from_str::<serde_json::Value>(this),
    ) else {
        return Ok(());
    };
    let theirs = there["shard"].as_str().unwrap_or("").to_string();
    let ours = format!("{}/{}", shard.k, shard.n);
    for m in [&mut there, &mut here] {
        for k in PER_SHARD {
            m[k] = serde_json::Value::Null;
        }
    }
    let sharded = |s: &str| s.rsplit_once('/').is_some_and(|(_, n)| n != "1");
    if shard.n <= 1 || theirs == ours || there != here {
        return Ok(());
    }
    let holds = if sharded(&theirs) {
        format!("shard {theirs} of this sweep")
    } else {
        // The whole sweep, unsharded or merged from its shards: a shard written over it
        // would leave a part in place of the whole.
        "this whole sweep (unsharded, or merged from its shards)".to_string()
    };
    Err(anyhow!(crate::BadInput(format!(
        "error: --out {}: it holds {holds}; give each shard its own directory (e.g. --out \
         {}) and combine them with `chokepoint merge`",
        out.display(),
        out.join(format!("shard-{}", shard.k)).display()
    ))))
}

fn meta(scenario: &Scenario, model: &Model, spec: &Spec, shard: Shard, total: usize) -> String {
    // Shards merge only if they ran the same script text on the same model: digests of
    // both (the model as loaded, includes and all).
    let v = serde_json::json!({
        "script": scenario.path.display().to_string(),
        "title": scenario.title(),
        "script_digest": digest(scenario.full_source().as_bytes()),
        // What the report shows as the scenario's source (as `run`'s does).
        "source": scenario.source,
        "model": model.name,
        "model_digest": model_digest(model),
        "runs": total,
        "seed": spec.seed,
        "grid": spec.grid,
        // How runs draw their values: shards drawn one way do not merge with shards drawn
        // another (2: a parameter held at one value draws nothing, 2026-12-02).
        "sampling": SAMPLING,
        "params": spec.ranges.iter().map(|r| serde_json::json!({"name": r.name, "lo": r.lo, "hi": r.hi})).collect::<Vec<_>>(),
        "metrics": spec.metrics.iter().map(|(m, k)| format!("{m}[{k}]")).collect::<Vec<_>>(),
        "shard": format!("{}/{}", shard.k, shard.n),
    });
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

fn one_run(
    scenario: &Scenario,
    model: &Arc<Model>,
    spec: &Spec,
    i: usize,
    time_limit: Duration,
) -> Result<RunRows, (String, bool)> {
    let (seed, values) = spec.run_params(i);
    let params: BTreeMap<String, f64> = spec
        .ranges
        .iter()
        .zip(&values)
        .map(|(r, v)| (r.name.clone(), *v))
        .collect();
    let shown: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", fmt_num(*v)))
        .chain(std::iter::once(format!("seed {seed}")))
        .collect();
    let opts = RunOptions {
        seed,
        params,
        time_limit,
        ..RunOptions::default()
    };
    let out = scenario
        .run(model, &opts)
        .map_err(|e| (format!("run {i} ({}):\n{e}", shown.join(", ")), e.timed_out))?;
    let s = &out.sim.series;
    if s.steps == 0 {
        return Err((format!("run {i} ({}): {NO_STEPS}", shown.join(", ")), false));
    }
    let mut figures = format!("{i},{seed}");
    // Parameters in full (shortest exact form), so a run can be repeated exactly.
    for v in &values {
        let _ = write!(figures, ",{v}");
    }
    let failed = out.failed();
    let at_cap = crate::report::prices_at_cap(model, &out);
    let _ = write!(
        figures,
        ",{},{failed},{at_cap}",
        out.expectations.len() - failed
    );
    let mut series = String::new();
    let mut zeroed = Vec::new();
    for (m, k) in &spec.metrics {
        // A series this run does not record is one a lever adds in other runs (a plant built
        // on a parameter): 0 here, as in its own run before the plant was built. (The
        // sweep's check refused names no run could record.)
        let v = match s.find(m, k) {
            Some(col) => s.column(col),
            None if !s.keys(m).is_empty() => {
                let why = match m.as_str() {
                    "trade_by_form" => "no route across that border in the run",
                    _ => "no such plant in the run",
                };
                zeroed.push(format!(
                    "--metric {m}={k}: not recorded ({why}), counted as 0"
                ));
                vec![0.0; s.steps]
            }
            None => {
                return Err((
                    format!("--metric {m}={k}: the run records no such series"),
                    false,
                ))
            }
        };
        let peak = peak_of(m, &v);
        let last = v.last().copied().unwrap_or(0.0);
        // A running total's mean is per year of the run.
        let mean = chokepoint_core::series::run_mean(m, &v, model.steps_per_year());
        let _ = write!(
            figures,
            ",{},{},{}",
            fmt_num(peak),
            fmt_num(mean),
            fmt_num(last)
        );
        // Yearly means for the bands.
        let mut t = 0;
        while t < v.len() {
            let year = s.dates[t].year();
            let mut e = t;
            while e < v.len() && s.dates[e].year() == year {
                e += 1;
            }
            let value = chokepoint_core::series::aggregate(m, &v[t..e]);
            let _ = writeln!(series, "{i},{year},{m},{k},{}", fmt_num(value));
            t = e;
        }
    }
    figures.push('\n');
    // A swept value this run never reached (in a branch it did not take) changed nothing
    // in it: counted over the runs, as the runs' own notes are.
    let unreached = (spec.ranges.iter())
        .filter(|r| !out.params.contains_key(&r.name))
        .map(|r| crate::unreached_param(&r.name)["note: ".len()..].to_string());
    Ok(RunRows {
        figures,
        series,
        failed: failed > 0,
        warnings: out.warnings.clone(),
        notes: (out.output.iter())
            .filter_map(|l| l.strip_prefix("note: "))
            .map(str::to_string)
            .chain(zeroed)
            .chain(unreached)
            .collect(),
        failed_expectations: (out.expectations.iter())
            .filter(|e| !e.passed)
            .map(|e| format!("{}: {}", e.place(), e.message))
            .collect(),
    })
}

/// Combines shard directories into `out`, exactly as one machine would have written it.
/// The most runs a sweep takes (`--runs`, or a grid's points).
pub const MAX_RUNS: usize = 10_000_000;

/// The largest shard file a merge reads (runs.csv and runs_series.csv of 10 million runs).
const SHARD_FILE_CAP: u64 = 8 << 30;

/// A shard's file, whole: a regular file of at most `cap` bytes (a device or a pipe put in
/// its place is refused, not read without end).
fn read_shard_file(path: &Path, cap: u64) -> Result<String, String> {
    use std::io::Read as _;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown}: not a regular file"));
    }
    if meta.len() > cap {
        return Err(format!(
            "{shown}: {} bytes, over the {cap} a shard writes",
            meta.len()
        ));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(cap + 1).read_to_string(&mut text))
        .map_err(|e| format!("{shown}: {e}"))?;
    if text.len() as u64 > cap {
        return Err(format!("{shown}: grew past the {cap} bytes a shard writes"));
    }
    Ok(text)
}

pub fn merge(shards: &[PathBuf], out: &Path) -> Result<(usize, Option<String>)> {
    if shards.is_empty() {
        return Err(anyhow!(crate::BadInput(
            "merge: name at least one shard directory".into()
        )));
    }
    let mut metas = Vec::new();
    // The sweep.json of the shard with the lowest index as written, for the merge's own
    // (whatever the order the shards are named in, or how each spelled the script's path).
    let mut raw_first: Option<(u64, serde_json::Value)> = None;
    let mut head: Option<String> = None;
    let mut figures: Vec<(usize, String)> = Vec::new();
    let mut series: Vec<(usize, String)> = Vec::new();
    let mut said = Said::default();
    // Every directory named must be there before any is read: a missing one is the
    // mistake to name, not what the first of the others lacks.
    for dir in shards {
        if let Err(e) = std::fs::read_dir(dir) {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "no such directory".to_string(),
                std::io::ErrorKind::PermissionDenied => {
                    "cannot be read (permission denied)".to_string()
                }
                _ if dir.exists() && !dir.is_dir() => {
                    "is a file, not a shard's output directory".to_string()
                }
                _ => format!("cannot be read: {e}"),
            };
            return Err(anyhow!(crate::BadInput(format!(
                "{}: {why}",
                dir.display()
            ))));
        }
    }
    for dir in shards {
        if std::fs::symlink_metadata(dir.join("sweep.json")).is_err() {
            return Err(anyhow!(crate::BadInput(format!(
                "{}: not a sweep's output (it has no sweep.json; `chokepoint sweep SCRIPT \
                 --shard K/N --out DIR` writes one)",
                dir.display()
            ))));
        }
        let read = |f: &str| {
            let cap = if f == "sweep.json" {
                16 << 20
            } else {
                SHARD_FILE_CAP
            };
            read_shard_file(&dir.join(f), cap).map_err(|e| anyhow!(crate::BadInput(e)))
        };
        let meta: serde_json::Value = serde_json::from_str(&read("sweep.json")?).map_err(|e| {
            anyhow!(crate::BadInput(format!(
                "{}: {e}",
                dir.join("sweep.json").display()
            )))
        })?;
        // What the merge sizes itself by must be what a sweep can have written.
        let written = |why: String| {
            anyhow!(crate::BadInput(format!(
                "{}: {why}: not as a sweep writes it (the file was edited or damaged); rerun \
                 this shard",
                dir.join("sweep.json").display()
            )))
        };
        match meta["runs"].as_u64() {
            Some(n) if (1..=MAX_RUNS as u64).contains(&n) => {}
            _ => return Err(written(format!("`runs` is {}", meta["runs"]))),
        }
        // A grid's points per parameter, as `--grid` takes them (a run's parameters are
        // found by dividing by it).
        match &meta["grid"] {
            serde_json::Value::Null => {}
            g if g.as_u64().is_some_and(|g| (1..=1000).contains(&g)) => {}
            g => return Err(written(format!("`grid` is {g}"))),
        }
        let named = meta["shard"].as_str().unwrap_or("");
        match Shard::parse(named) {
            Ok(p) if format!("{}/{}", p.k, p.n) == named => {}
            _ => return Err(written(format!("`shard` is {}", meta["shard"]))),
        }
        // Shards compare by what they ran, not by how the script's path was written where
        // each ran (the digests cover its text and the model).
        let mut m = meta.clone();
        for k in PER_SHARD {
            m[k] = serde_json::Value::Null;
        }
        let shard = meta["shard"].as_str().unwrap_or("").to_string();
        let k = (shard.split('/').next())
            .and_then(|k| k.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        if raw_first.as_ref().is_none_or(|(first, _)| k < *first) {
            raw_first = Some((k, meta.clone()));
        }
        said.add(&meta);
        metas.push((dir.clone(), m, shard));
        let text = read("runs.csv")?;
        let series_text = read("runs_series.csv")?;
        // The files are as the sweep wrote them: a figure edited by hand, or a row added or
        // taken away, would change the bands without a word.
        for (file, body, key) in [
            ("runs.csv", &text, "runs_digest"),
            ("runs_series.csv", &series_text, "series_digest"),
        ] {
            if meta[key].as_str() != Some(digest(body.as_bytes()).as_str()) {
                return Err(anyhow!(crate::BadInput(format!(
                    "{}: {file} is not the file its sweep wrote (sweep.json records another \
                     digest{}); rerun this shard",
                    dir.display(),
                    if meta[key].is_null() {
                        ", or none: it was written by an earlier chokepoint"
                    } else {
                        ""
                    }
                ))));
            }
        }
        // (A shard of an earlier chokepoint has none: its `said` is taken as it is.)
        if !meta["said_digest"].is_null()
            && meta["said_digest"].as_str() != Some(said_digest(&meta).as_str())
        {
            return Err(anyhow!(crate::BadInput(format!(
                "{}: sweep.json's `said` (its failed expectations and notes) is not as its \
                 sweep wrote it (it records another digest); rerun this shard",
                dir.display()
            ))));
        }
        let mut lines = text.lines();
        let h = lines.next().unwrap_or_default().to_string();
        match &head {
            None => head = Some(h),
            // Shards of different sweeps (another script, parameters, seed) are said to be
            // that, below, not as a matter of columns.
            Some(prev) if *prev != h && metas.iter().any(|(_, m, _)| *m != metas[0].1) => break,
            Some(prev) if *prev != h => {
                // Name what differs: a column one shard has and another lacks is most often a
                // shard written by another version of chokepoint.
                let (a, b) = (csv_fields(prev), csv_fields(&h));
                let only = |x: &[String], y: &[String]| -> Vec<String> {
                    x.iter().filter(|c| !y.contains(c)).cloned().collect()
                };
                let (gone, new) = (only(&a, &b), only(&b, &a));
                let what = match (gone.is_empty(), new.is_empty()) {
                    (true, true) => "the same columns in another order".to_string(),
                    _ => format!(
                        "{}{}",
                        if new.is_empty() {
                            String::new()
                        } else {
                            format!("columns the others lack: {}; ", new.join(", "))
                        },
                        if gone.is_empty() {
                            String::new()
                        } else {
                            format!("lacks the others' columns: {}", gone.join(", "))
                        }
                    ),
                };
                return Err(anyhow!(crate::BadInput(format!(
                    "{}: runs.csv columns differ from the other shards ({}): were the shards \
                     run with different versions of chokepoint, or different --metric? Rerun \
                     this shard as the others were",
                    dir.display(),
                    what.trim_end_matches("; ")
                ))));
            }
            _ => {}
        }
        // A shard's rows must be whole, numeric and its own: a merge must not quietly
        // average a damaged file, or one left half-replaced by a killed sweep.
        let width = head.as_deref().map_or(0, |h| h.split(',').count());
        let part = Shard::parse(meta_shard(&metas)).ok();
        let spec = spec_of(&metas[metas.len() - 1].1);
        for l in lines {
            let run = run_of(l, dir)?;
            let cells: Vec<&str> = l.split(',').collect();
            let bad = |why: &str| {
                anyhow!(crate::BadInput(format!(
                    "{}: runs.csv row of run {run} {why}; rerun this shard",
                    dir.display()
                )))
            };
            if cells.len() != width {
                return Err(bad(&format!("has {} fields, not {width}", cells.len())));
            }
            if cells.iter().any(|c| c.parse::<f64>().is_err()) {
                return Err(bad("holds a field that is not a number"));
            }
            if part.is_some_and(|p| run % p.n != p.k) {
                return Err(bad("is not one of this shard's runs"));
            }
            // Its seed and parameters are the ones its sweep.json gives that run.
            if let Some(spec) = &spec {
                let (seed, params) = spec.run_params(run);
                // (A header cut short in a doctored file leaves rows too short to hold them.)
                let same = cells.len() >= 2 + params.len()
                    && cells[1] == seed.to_string()
                    && (params.iter().zip(&cells[2..])).all(|(v, c)| {
                        c.parse::<f64>()
                            .is_ok_and(|x| (x - v).abs() <= 1e-6 * v.abs().max(1.0))
                    });
                if !same {
                    return Err(bad("does not match its sweep.json (seed or parameters)"));
                }
            }
            figures.push((run, format!("{l}\n")));
        }
        for l in series_text.lines().skip(1) {
            let run = run_of(l, dir)?;
            if l.split(',').count() < 5
                || l.rsplit(',')
                    .next()
                    .is_none_or(|v| v.parse::<f64>().is_err())
            {
                return Err(anyhow!(crate::BadInput(format!(
                    "{}: runs_series.csv row of run {run} is damaged; rerun this shard",
                    dir.display()
                ))));
            }
            series.push((run, format!("{l}\n")));
        }
    }
    // Shards must come from the same sweep and cover it exactly once. The odd one out is
    // the shard fewest others agree with, named with what differs (with two, both).
    let first = &metas[0].1;
    if metas.iter().any(|(_, m, _)| m != first) {
        let agree = |m: &serde_json::Value| metas.iter().filter(|(_, o, _)| o == m).count();
        let (odd, (odd_dir, odd_meta, _)) = (metas.iter().enumerate())
            .min_by_key(|(i, (_, m, _))| (agree(m), usize::MAX - i))
            .unwrap_or((0, &metas[0]));
        let (other_dir, other_meta, _) = (metas.iter().enumerate())
            .find(|(i, (_, m, _))| *i != odd && m != odd_meta)
            .map_or(&metas[0], |(_, x)| x);
        let shown = |v: Option<&serde_json::Value>| {
            let t = v.map_or("none".to_string(), |v| v.to_string());
            match t.char_indices().nth(60) {
                Some((i, _)) => format!("{}...", &t[..i]),
                None => t,
            }
        };
        let keys: std::collections::BTreeSet<&String> = (odd_meta.as_object().into_iter())
            .chain(other_meta.as_object())
            .flat_map(|o| o.keys())
            .collect();
        let differs = keys
            .into_iter()
            .find(|k| odd_meta.get(k.as_str()) != other_meta.get(k.as_str()));
        let value = |m: &serde_json::Value, k: &str| shown(m.get(k));
        // The same model files read by another version of chokepoint may load to other
        // data (a field added, a default changed): a digest says so, not which.
        let hint = if differs.is_some_and(|k| k == "model_digest") {
            " (if the model files are the same, the shards were run by different versions \
             of chokepoint: rerun them with one)"
        } else {
            ""
        };
        // With two, either may be the odd one: both are named.
        if metas.len() == 2 {
            let (a, b) = (&metas[0], &metas[1]);
            let what = differs
                .map(|k| {
                    format!(
                        ": sweep.json's `{k}` is {} in {}, {} in {}",
                        value(&a.1, k),
                        a.0.display(),
                        value(&b.1, k),
                        b.0.display()
                    )
                })
                .unwrap_or_default();
            return Err(anyhow!(crate::BadInput(format!(
                "{} and {} are shards of different sweeps{what}{hint}",
                a.0.display(),
                b.0.display()
            ))));
        }
        let what = differs
            .map(|k| {
                format!(
                    ": its sweep.json `{k}` is {}, {}'s is {}",
                    value(odd_meta, k),
                    other_dir.display(),
                    value(other_meta, k)
                )
            })
            .unwrap_or_default();
        return Err(anyhow!(crate::BadInput(format!(
            "{}: a shard of a different sweep{what}{hint}",
            odd_dir.display()
        ))));
    }
    // Every shard must have been cut into the same number of parts, and all of them given.
    let parts: Vec<Option<Shard>> = metas.iter().map(|(_, _, s)| Shard::parse(s).ok()).collect();
    if let Some(Some(a)) = parts.first() {
        if let Some((dir, b)) = metas
            .iter()
            .zip(&parts)
            .find_map(|((d, _, _), p)| p.filter(|b| b.n != a.n).map(|b| (d, b)))
        {
            return Err(anyhow!(crate::BadInput(format!(
                "{}: shard {}/{} of a sweep cut into {} parts, but {} is one of {}",
                dir.display(),
                b.k,
                b.n,
                b.n,
                metas[0].0.display(),
                a.n
            ))));
        }
        let mut ks: Vec<usize> = parts.iter().flatten().map(|p| p.k).collect();
        ks.sort_unstable();
        ks.dedup();
        // Named up to a few (N may be large), then counted.
        let count = a.n - ks.len();
        let missing: Vec<String> = (0..a.n)
            .filter(|k| ks.binary_search(k).is_err())
            .take(MISSING_NAMED)
            .map(|k| format!("{k}/{}", a.n))
            .collect();
        if count > 0 && parts.iter().all(Option::is_some) && ks.len() == parts.len() {
            let (noun, verb) = if count == 1 {
                ("shard", "is")
            } else {
                ("shards", "are")
            };
            let more = match count - missing.len() {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            return Err(anyhow!(crate::BadInput(format!(
                "merge: {noun} {}{more} {verb} missing",
                missing.join(", ")
            ))));
        }
    }
    let mut seen: Vec<&str> = metas.iter().map(|(_, _, s)| s.as_str()).collect();
    seen.sort();
    seen.dedup();
    if seen.len() != metas.len() {
        return Err(anyhow!(crate::BadInput(
            "merge: the same shard is given twice".into()
        )));
    }
    let total = first["runs"].as_u64().unwrap_or(0) as usize;
    figures.sort_by_key(|(r, _)| *r);
    // Series rows of one run stay in their written order (stable sort).
    series.sort_by_key(|(r, _)| *r);
    let runs: Vec<usize> = figures.iter().map(|(r, _)| *r).collect();
    if runs != (0..total).collect::<Vec<_>>() {
        return Err(anyhow!(crate::BadInput(format!(
            "merge: the shards hold {} of the sweep's {total} runs (missing or duplicate shards)",
            runs.len()
        ))));
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut f = head.unwrap_or_default();
    f.push('\n');
    for (_, l) in &figures {
        f.push_str(l);
    }
    let mut s = String::from("run,period,metric,key,value\n");
    for (_, l) in &series {
        s.push_str(l);
    }
    let mut meta = raw_first.map_or_else(|| first.clone(), |(_, m)| m);
    meta["shard"] = serde_json::Value::String("0/1".into());
    said.tell(total);
    meta["said"] = said.json();
    let meta = serde_json::to_string_pretty(&meta).unwrap_or_default() + "\n";
    let output = write::output_phase();
    let note = write_runs(out, &f, &s, &meta, true)?;
    output.done();
    Ok((total, note))
}

/// How many runs in runs.csv failed an expectation.
pub fn failed_runs(dir: &Path) -> usize {
    let Ok(text) = read_shard_file(&dir.join("runs.csv"), SHARD_FILE_CAP) else {
        return 0;
    };
    let mut lines = text.lines();
    let Some(col) = lines
        .next()
        .and_then(|h| h.split(',').position(|c| c == "expectations_failed"))
    else {
        return 0;
    };
    lines
        .filter(|l| {
            l.split(',')
                .nth(col)
                .and_then(|v| v.parse::<usize>().ok())
                .is_some_and(|n| n > 0)
        })
        .count()
}

/// The sweep a sweep.json describes, as far as each run's seed and parameters go.
fn spec_of(meta: &serde_json::Value) -> Option<Spec> {
    let ranges = (meta["params"].as_array()?.iter())
        .map(|p| {
            Some(Range {
                name: p["name"].as_str()?.to_string(),
                lo: p["lo"].as_f64()?,
                hi: p["hi"].as_f64()?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Spec {
        runs: meta["runs"].as_u64()? as usize,
        ranges,
        grid: meta["grid"].as_u64().map(|g| g as usize),
        seed: meta["seed"].as_u64()?,
        metrics: vec![],
    })
}

/// The shard of the last shard read.
fn meta_shard(metas: &[(PathBuf, serde_json::Value, String)]) -> &str {
    metas.last().map_or("", |m| m.2.as_str())
}

fn run_of(line: &str, dir: &Path) -> Result<usize> {
    line.split(',')
        .next()
        .and_then(|x| x.parse().ok())
        .ok_or_else(|| {
            anyhow!(crate::BadInput(format!(
                "{}: a row without a run number: {line}",
                dir.display()
            )))
        })
}

/// Nearest-rank-with-interpolation percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let x = p * (sorted.len() - 1) as f64;
    let i = x.floor() as usize;
    let j = (i + 1).min(sorted.len() - 1);
    sorted[i] + (sorted[j] - sorted[i]) * (x - i as f64)
}

/// From runs.csv, runs_series.csv and sweep.json, the texts of bands.csv, summary.json and
/// report.html.
fn finish(runs: &str, series: &str, meta: &str) -> Finished {
    let total = runs.lines().skip(1).filter(|l| !l.is_empty()).count();
    let mut short = Vec::new();
    let mut by: BTreeMap<(String, String, i32), Vec<f64>> = BTreeMap::new();
    // Each run's last year: a run that ended before others ended within it.
    let mut last: BTreeMap<&str, i32> = BTreeMap::new();
    for l in series.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        if f.len() != 5 {
            continue;
        }
        let (Ok(year), Ok(v)) = (f[1].parse::<i32>(), f[4].parse::<f64>()) else {
            continue;
        };
        let at = last.entry(f[0]).or_insert(year);
        *at = (*at).max(year);
        by.entry((f[2].to_string(), f[3].to_string(), year))
            .or_default()
            .push(v);
    }
    // `runs`: how many runs a period's band is from, fewer than all where some runs ended
    // before it (a script that stops on a condition, or on a parameter).
    let mut bands = String::from("period,metric,key,p5,p50,p95,mean,runs\n");
    let mut fans: Fans = BTreeMap::new();
    for ((m, k, y), mut v) in by {
        v.sort_by(f64::total_cmp);
        let (p5, p50, p95) = (
            percentile(&v, 0.05),
            percentile(&v, 0.5),
            percentile(&v, 0.95),
        );
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let _ = writeln!(
            bands,
            "{y},{m},{k},{},{},{},{},{}",
            fmt_num(p5),
            fmt_num(p50),
            fmt_num(p95),
            fmt_num(mean),
            v.len()
        );
        if v.len() < total && !short.contains(&y) {
            short.push(y);
        }
        fans.entry((m, k)).or_default().push((y, p5, p50, p95));
    }
    let end = last.values().copied().max();
    let mut partial: Vec<i32> = (last.values().copied())
        .filter(|&y| Some(y) != end)
        .collect();
    partial.sort();
    partial.dedup();
    // Figure quantiles across runs.
    let (head_fields, rows) = runs_table(runs);
    let head: Vec<&str> = head_fields.iter().map(String::as_str).collect();
    // How many runs have a figure above 0 in the named column (None: no such column).
    let runs_with = |col: &str| {
        let at = head.iter().position(|h| *h == col)?;
        Some(
            rows.iter()
                .filter(|r| r.get(at).is_some_and(|&x| x > 0.0))
                .count(),
        )
    };
    // Runs in which a price sat at the model's cap: there the level is the cap, not an
    // answer, and so are the bands it is in. (Not known for runs written before runs.csv
    // counted them.)
    let capped = runs_with("prices_at_cap");
    let mut summary = serde_json::Map::new();
    // (A sweep that did not finish leaves one saying `false`, and why: `write::begin`.)
    summary.insert("finished".into(), true.into());
    summary.insert("runs".into(), rows.len().into());
    summary.insert(
        "runs_with_a_price_at_the_cap".into(),
        capped.map_or(serde_json::Value::Null, Into::into),
    );
    let mut cols = serde_json::Map::new();
    // The same quantiles as a table for the report: a peak that yearly bands average away
    // (a few weeks' shortfall in a two-year scenario) shows here.
    let mut table = String::from(
        "<h2>Figures across runs</h2><p>Each run's peak, mean and final value of a figure (a policy cost's peak is its largest in size); their 5th, 50th and 95th percentiles across runs, interpolated between runs (where runs split between two outcomes, a percentile can fall between them). A policy cost below 0 is net receipts (tariff duties and stockpile sales came to more than was spent).</p><table><tr><th>figure</th><th>p5</th><th>p50</th><th>p95</th><th>unit</th></tr>",
    );
    for (c, name) in head.iter().enumerate().skip(2) {
        let mut v: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.get(c).copied())
            .filter(|x| x.is_finite())
            .collect();
        v.sort_by(f64::total_cmp);
        let (p5, p50, p95) = (
            percentile(&v, 0.05),
            percentile(&v, 0.5),
            percentile(&v, 0.95),
        );
        cols.insert(
            name.to_string(),
            serde_json::json!({"p5": p5, "p50": p50, "p95": p95}),
        );
        if name.contains('[') {
            // One row, one rounding: whole numbers once any of the three reaches 100.
            let whole = [p5, p50, p95].iter().any(|x| x.abs() >= 100.0);
            let r = |x: f64| match whole {
                true => crate::report::thousands(x),
                false => fmt_num(crate::compare::round4(x)),
            };
            // The unit: the metric's, per year for a running total's mean (policy cost's
            // mean is dollars a year; below 0, receipts).
            let metric = name.split('[').next().unwrap_or("");
            let unit = chokepoint_core::series::unit(metric);
            let unit = if name.ends_with(".mean") && chokepoint_core::series::running_total(metric)
            {
                format!("{unit}/yr")
            } else {
                unit.to_string()
            };
            let _ = write!(
                table,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                crate::report::esc(name),
                r(p5),
                r(p50),
                r(p95),
                crate::report::esc(&unit)
            );
        }
    }
    table.push_str("</table>");
    summary.insert("figures".into(), serde_json::Value::Object(cols));
    // What was swept, from the sweep's own record, and how many runs failed expectations.
    let meta: serde_json::Value = serde_json::from_str(meta).unwrap_or_default();
    // What the runs warned of and noted, with how many runs said each.
    let empty = serde_json::json!([]);
    let said_of = |kind: &str| meta["said"].get(kind).cloned().unwrap_or(empty.clone());
    summary.insert("warnings".into(), said_of("warnings"));
    summary.insert("notes".into(), said_of("notes"));
    summary.insert("failed_expectations".into(), said_of("failed_expectations"));
    let summary = serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n";
    let mut said_html = String::new();
    for (kind, items) in [
        ("expectation failed", said_of("failed_expectations")),
        ("warning", said_of("warnings")),
        ("note", said_of("notes")),
    ] {
        for w in items.as_array().into_iter().flatten() {
            let first = (w["figures_differ"].as_bool() == Some(true))
                .then(|| w["first_run"].as_u64().unwrap_or(0));
            let _ = write!(
                said_html,
                "<li>{kind}: {} ({})</li>",
                crate::report::esc(w["text"].as_str().unwrap_or("")),
                counted(w["runs"].as_u64().unwrap_or(0), rows.len(), first)
            );
        }
    }
    if !said_html.is_empty() {
        said_html = format!("<h2>What the runs said</h2><ul>{said_html}</ul>");
    }
    let ranges: Vec<String> = meta["params"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let name = p["name"].as_str().unwrap_or("?");
            let (lo, hi) = (
                p["lo"].as_f64().unwrap_or(f64::NAN),
                p["hi"].as_f64().unwrap_or(f64::NAN),
            );
            if lo == hi {
                format!("{name} held at {}", fmt_num(lo))
            } else {
                format!("{name} {}..{}", fmt_num(lo), fmt_num(hi))
            }
        })
        .collect();
    let failed = runs_with("expectations_failed").unwrap_or(0);
    let stated = failed > 0 || runs_with("expectations_passed").unwrap_or(0) > 0;
    let verdict = if stated {
        format!(
            "{failed} of {} run{} failed expectations.",
            rows.len(),
            if rows.len() == 1 { "" } else { "s" }
        )
    } else {
        "The script states no expectations.".to_string()
    };
    let cap_caveat = match capped {
        None => "<p>These runs were written before runs.csv counted prices at the model's cap: \
                 check bands and figures near 40 times a start price (`price_max_ratio`) \
                 against it.</p>"
            .to_string(),
        Some(capped) if capped > 0 => format!(
            "<p><b>Caveat:</b> in {capped} of {} runs a price reached the model's cap \
             (`price_max_ratio` times its start): where a band or figure sits there, it is the \
             cap, not a forecast (runs.csv, column prices_at_cap, says which runs).</p>",
            rows.len()
        ),
        Some(_) => String::new(),
    };
    let how = match meta["grid"].as_u64() {
        Some(k) => format!(
            "a grid of {k} points per swept parameter (its p5, p50 and p95 are over the grid's \
             points, each weighed alike: the spread of outcomes across the ranges, not \
             probabilities)"
        ),
        None => "Monte Carlo".to_string(),
    };
    let about = format!(
        "<p>Scenario <code>{}</code> on model <b>{}</b>: {how}, seed {}. Parameters: {}. \
         {verdict}</p>",
        crate::report::esc(meta["script"].as_str().unwrap_or("?")),
        crate::report::esc(meta["model"].as_str().unwrap_or("?")),
        meta["seed"].as_u64().unwrap_or(0),
        if ranges.is_empty() {
            "none".to_string()
        } else {
            crate::report::esc(&ranges.join(", "))
        },
    );
    // Only parameters that vary get a response chart, or colour another's dots.
    let params: Vec<&str> = (meta["params"].as_array().into_iter().flatten())
        .filter(|p| p["lo"].as_f64() < p["hi"].as_f64())
        .filter_map(|p| p["name"].as_str())
        .collect();
    let response = response_charts(&head, &rows, &params, meta["grid"].as_u64().is_some());
    let about = about + cap_caveat.as_str() + said_html.as_str();
    // The scenario's source ends the page, as `run`'s report does (a sweep of an earlier
    // chokepoint recorded none).
    let source = match meta["source"].as_str() {
        Some(src) => format!(
            "<h2>Scenario source</h2><pre>{}</pre>",
            crate::report::esc(src)
        ),
        None => String::new(),
    };
    let report = fan_report(
        &fans,
        rows.len(),
        meta["title"]
            .as_str()
            .or(meta["script"].as_str())
            .unwrap_or("?"),
        &(about + table.as_str() + response.as_str()),
        &source,
    );
    short.sort_unstable();
    Finished {
        bands,
        summary,
        report,
        short,
        partial,
    }
}

/// The texts `finish` makes, and the periods whose bands are from fewer than all runs.
struct Finished {
    bands: String,
    summary: String,
    report: String,
    short: Vec<i32>,
    /// Years some run ended within, before others ran on: its figure there is its mean
    /// over the weeks it ran.
    partial: Vec<i32>,
}

/// What to tell the user when some runs ended before others: the bands of those periods
/// describe fewer runs.
fn short_note(short: &[i32], partial: &[i32]) -> Option<String> {
    let span = |ys: &[i32]| -> Option<String> {
        let (first, last) = (ys.first()?, ys.last()?);
        Some(match first == last {
            true => first.to_string(),
            false => format!("{first}-{last}"),
        })
    };
    let years = span(short)?;
    // (A run that ended in a year counts in its band at its mean over the weeks it ran: a
    // year's band can mix January-February means with whole years', runner review.)
    let within = match partial.iter().map(|y| y.to_string()).collect::<Vec<_>>() {
        ys if ys.is_empty() => String::new(),
        ys => format!(
            "; and those for {} count the runs that ended within the year at their mean over \
             the weeks they ran",
            ys.join(", ")
        ),
    };
    Some(format!(
        "note: some runs ended before others, so the bands for {years} are from fewer runs \
         (bands.csv's `runs` column says how many){within}"
    ))
}

/// Each figure's peak and mean across runs against each swept parameter: what the answer
/// to "how large must it be?" reads off. One point per run; a line through them, in the
/// parameter's order, when one parameter was swept on a `grid`. (Monte Carlo points fall
/// where they fall: a line from 1,121 t to 1,550 t drew a slope where the answer had a
/// threshold, review 2026-12-02.)
fn response_charts(head: &[&str], rows: &[Vec<f64>], params: &[&str], grid: bool) -> String {
    let mut o = String::new();
    for p in params {
        let Some(pc) = head.iter().position(|h| h == p) else {
            continue;
        };
        // With more parameters, each dot's colour is the next one's value, blue (low) to
        // orange (high), so runs that share an x can be told apart.
        let other = (params.iter())
            .filter(|q| *q != p)
            .find_map(|q| Some((*q, head.iter().position(|h| h == q)?)));
        let shade = other.map(|(_, oc)| {
            let vals = rows.iter().filter_map(|r| r.get(oc).copied());
            let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
            (oc, lo, if hi > lo { hi - lo } else { 1.0 })
        });
        let colour = |r: &[f64]| match shade {
            Some((oc, lo, span)) => {
                let f = ((r.get(oc).copied().unwrap_or(lo) - lo) / span).clamp(0.0, 1.0);
                let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
                format!(
                    "#{:02x}{:02x}{:02x}",
                    mix(27.0, 230.0),
                    mix(108.0, 120.0),
                    mix(168.0, 30.0)
                )
            }
            None => "#1b6ca8".to_string(),
        };
        let key = match other {
            Some((q, _)) => format!(
                " Colour: {}, blue at its lowest, orange at its highest.",
                crate::report::esc(q)
            ),
            None => String::new(),
        };
        let _ = write!(
            o,
            "<h2>Response to {}</h2><p>Each run's figure against its {}.{key}</p>",
            crate::report::esc(p),
            crate::report::esc(p)
        );
        let mut flat: Vec<String> = Vec::new();
        for (fc, name) in head.iter().enumerate() {
            if !(name.ends_with(".peak") || name.ends_with(".mean")) {
                continue;
            }
            let mut pts: Vec<(f64, f64, String)> = (rows.iter())
                .filter_map(|r| Some((*r.get(pc)?, *r.get(fc)?, colour(r))))
                .filter(|(x, y, _)| x.is_finite() && y.is_finite())
                .collect();
            if pts.is_empty() {
                continue;
            }
            // A figure the same in every run does not respond: said in a line, not drawn as
            // a flat line on an axis made up around it.
            if pts.iter().all(|q| q.1 == pts[0].1) {
                flat.push(format!(
                    "{} ({})",
                    crate::report::esc(name),
                    crate::report::tick(pts[0].1)
                ));
                continue;
            }
            pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
            let (w, h, l, r, t, b) = CHART;
            let (ticks, lo, hi) = crate::report::y_axis(pts.iter().map(|p| &p.1));
            let (x0, x1) = (pts[0].0, pts[pts.len() - 1].0);
            let span = if x1 > x0 { x1 - x0 } else { 1.0 };
            // Divided first: a range of 1e307 times the width would overflow.
            let x = |v: f64| l + (v - x0) / span * (w - l - r);
            let y = |v: f64| t + (h - t - b) * (1.0 - (v - lo) / (hi - lo));
            let dots: String = (pts.iter())
                .map(|(a, v, c)| {
                    format!(
                        r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{c}"/>"##,
                        x(*a),
                        y(*v)
                    )
                })
                .collect();
            let line = if params.len() == 1 && grid {
                let pl: Vec<String> = (pts.iter())
                    .map(|(a, v, _)| format!("{:.1},{:.1}", x(*a), y(*v)))
                    .collect();
                format!(
                    r##"<polyline fill="none" stroke="#1b6ca8" stroke-width="1.5" points="{}"/>"##,
                    pl.join(" ")
                )
            } else {
                String::new()
            };
            let label = crate::report::esc(name);
            let against = format!("{label} against {}", crate::report::esc(p));
            // The title says what the figure is in ($/kg, share, t/yr; a running total's
            // mean per year).
            let metric = name.split('[').next().unwrap_or_default();
            let unit = match chokepoint_core::series::unit(metric) {
                "" => String::new(),
                u if name.ends_with(".mean") && chokepoint_core::series::running_total(metric) => {
                    format!(" ({u}/yr)")
                }
                u => format!(" ({u})"),
            };
            let title = format!(
                "{label}{} against {}",
                crate::report::esc(&unit),
                crate::report::esc(p)
            );
            o.push_str(&frame(
                &against,
                &title,
                &(line + dots.as_str()),
                &ticks,
                (crate::report::tick(x0), crate::report::tick(x1)),
            ));
        }
        if !flat.is_empty() {
            let _ = write!(
                o,
                "<p>The same in every run, whatever its {}: {}.</p>",
                crate::report::esc(p),
                flat.join(", ")
            );
        }
    }
    o
}

/// The sweep report's charts: 640×220, a title, the plotted `body`, the y range's ends and
/// the x axis's two end labels.
const CHART: (f64, f64, f64, f64, f64, f64) = (640.0, 220.0, 60.0, 20.0, 24.0, 28.0);

fn frame(aria: &str, title: &str, body: &str, ticks: &[f64], x: (String, String)) -> String {
    let (w, h, l, r, t, b) = CHART;
    let (lo, hi) = (ticks[0], ticks[ticks.len() - 1]);
    let y = |v: f64| t + (h - t - b) * (1.0 - (v - lo) / (hi - lo));
    format!(
        r##"<figure><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{aria}"><text x="{l}" y="16" font-size="13" font-weight="bold">{title}</text>{}{body}<text x="{l}" y="{}" font-size="10" fill="#444">{}</text><text x="{}" y="{}" font-size="10" text-anchor="end" fill="#444">{}</text></svg></figure>"##,
        crate::report::y_ticks_svg(ticks, y, l, w - r),
        h - 8.0,
        x.0,
        w - r,
        h - 8.0,
        x.1,
    )
}

/// Per (metric, key): (year, p5, p50, p95).
type Fans = BTreeMap<(String, String), Vec<(i32, f64, f64, f64)>>;

/// The sweep's page: `about` (what ran, the figures, the responses), the bands, then `end`.
fn fan_report(fans: &Fans, runs: usize, title: &str, about: &str, end: &str) -> String {
    let mut o = format!("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sweep: {}</title><style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}}pre{{background:#f6f6f6;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere}}</style></head><body>", crate::report::esc(title));
    let _ = write!(
        o,
        "<h1>Sweep of {runs} run{}: {}</h1>{about}",
        if runs == 1 { "" } else { "s" },
        crate::report::esc(title)
    );
    // A year's mean averages a shock of weeks away: in a short sweep the figures table
    // (each run's peak) says more than the bands.
    let years = fans.values().map(Vec::len).max().unwrap_or(0);
    if years >= 2 {
        o.push_str("<p>Bands: p5–p95 shaded, p50 line; yearly means of each run (running totals such as policy cost: the total at each year's end).</p>");
    }
    if years < 2 {
        o.push_str("<p>These runs span one calendar year: there is no band to draw through yearly means. The table above gives each figure's p5, p50 and p95 across runs, peaks included.</p>");
        o.push_str(end);
        o.push_str("</body></html>\n");
        return o;
    }
    if years <= 3 {
        let _ = write!(
            o,
            "<p><b>Read with care:</b> these runs span {years} calendar years, so each band is {years} yearly means joined by lines; a shortage of weeks is averaged away in them (a 90% shortfall for a quarter reads as about 20% for its year). The figures table above gives each run's peak.</p>"
        );
    }
    // A figure at zero in every run and year has no band to draw: it is named, not charted.
    let flat = |pts: &Vec<(i32, f64, f64, f64)>| {
        pts.iter().all(|p| p.1 == 0.0 && p.2 == 0.0 && p.3 == 0.0)
    };
    let zero: Vec<String> = (fans.iter())
        .filter(|(_, pts)| flat(pts))
        .map(|((m, k), _)| crate::report::esc(&format!("{m}[{k}]")))
        .collect();
    if !zero.is_empty() {
        let _ = write!(
            o,
            "<p>At zero in every run and every year (not charted): {}.</p>",
            zero.join(", ")
        );
    }
    for ((m, k), pts) in fans.iter().filter(|(_, pts)| !flat(pts)) {
        let (w, h, l, r, t, b) = CHART;
        let (ticks, lo, hi) = crate::report::y_axis(pts.iter().flat_map(|p| [&p.1, &p.3]));
        let n = pts.len().max(2);
        let x = |i: usize| l + (w - l - r) * i as f64 / (n - 1) as f64;
        let y = |v: f64| t + (h - t - b) * (1.0 - (v - lo) / (hi - lo));
        let mut poly: Vec<String> = pts
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.3)))
            .collect();
        poly.extend(
            pts.iter()
                .enumerate()
                .rev()
                .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.1))),
        );
        let mid: Vec<String> = pts
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.2)))
            .collect();
        o.push_str(&frame(
            &format!("{m} {k}"),
            &crate::report::esc(&format!(
                "{m}[{k}] ({})",
                chokepoint_core::series::unit(m)
            )),
            &format!(
                r##"<polygon fill="#1b6ca8" fill-opacity="0.25" points="{}"/><polyline fill="none" stroke="#1b6ca8" stroke-width="2" points="{}"/>"##,
                poly.join(" "),
                mid.join(" ")
            ),
            &ticks,
            (
                pts.first().map(|p| p.0).unwrap_or(0).to_string(),
                pts.last().map(|p| p.0).unwrap_or(0).to_string(),
            ),
        ));
    }
    o.push_str(end);
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn figures_are_masked_but_ids_and_line_numbers_are_not() {
        assert_eq!(
            masked("stockpile us-nds got 2,724 t of the 5,079.5 t (54%)"),
            "stockpile us-nds got # t of the # t (#%)"
        );
        assert_eq!(
            masked("line 7: the action set up for 2024-09-02 never ran"),
            "line 7: the action set up for #-#-# never ran"
        );
        assert_eq!(
            masked("mp-10x-early and jp-metal-dy2 built"),
            "mp-10x-early and jp-metal-dy2 built"
        );
        assert_ne!(masked("line 5: same"), masked("line 7: same"));
        // A quoted name keeps its digits: two parameters are two notes.
        assert_eq!(
            masked(r#"--set x 1: param("x 1") at 2.5"#),
            r#"--set x #: param("x 1") at #"#
        );
        assert_ne!(
            masked(r#"never reached param("x 1")"#),
            masked(r#"never reached param("x 2")"#)
        );
        // Other quotes are text: a figure in them is masked, and a lone one masks on.
        assert_eq!(masked(r#"q "0.25" too big"#), r##"q "#" too big"##);
        assert_eq!(
            masked(r#"a 12" pipe holds 0.5 t"#),
            r##"a #" pipe holds # t"##
        );
    }

    #[test]
    fn a_running_totals_peak_is_its_largest_in_size() {
        assert_eq!(super::peak_of("policy_cost", &[0.0, -5.0, -3.0]), -5.0);
        assert_eq!(super::peak_of("policy_cost", &[0.0, 2.0, 1.0]), 2.0);
        assert_eq!(super::peak_of("shortfall", &[0.0, -5.0, 0.1]), 0.1);
    }

    use super::*;

    #[test]
    fn a_direction_is_named_only_where_the_runs_could_not_order_it_by_chance() {
        assert!((telling_correlation(5) - 0.98).abs() < 1e-9);
        assert_eq!(telling_correlation(20), 0.5);
        assert_eq!(telling_correlation(10_000), 0.5);
        let dir = std::env::temp_dir().join(format!("chokepoint-telling-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Five runs: `a` orders the price perfectly, `b` with two pairs swapped (0.6).
        let table = |rows: &[(f64, f64, f64)]| {
            let mut t = String::from(
                "run,seed,a,b,expectations_passed,expectations_failed,prices_at_cap,\
                 price[ROW/oxide:Dy].peak,price[ROW/oxide:Dy].mean,price[ROW/oxide:Dy].final\n",
            );
            for (i, (a, b, y)) in rows.iter().enumerate() {
                t += &format!("{i},1,{a},{b},1,0,0,{y},{y},{y}\n");
            }
            std::fs::write(dir.join("runs.csv"), t).unwrap();
            figures_table(&dir).unwrap()
        };
        let five = table(&[
            (1.0, 2.0, 10.0),
            (2.0, 1.0, 20.0),
            (3.0, 4.0, 30.0),
            (4.0, 5.0, 40.0),
            (5.0, 3.0, 50.0),
        ]);
        let peak = five.lines().find(|l| l.contains(".peak")).unwrap();
        assert!(
            peak.contains("rises (+1.00)") && peak.contains("(+0.60)"),
            "{five}"
        );
        assert!(!peak.contains("rises (+0.60)"), "{five}");
        assert!(
            five.contains("with 5 runs a direction is named only at a correlation of 0.98"),
            "{five}"
        );
        // Enough runs: 0.63 names a direction, and nothing needs saying.
        let rows: Vec<(f64, f64, f64)> = (0..40)
            .map(|i| {
                let i = i as f64;
                (
                    i,
                    if i as i64 % 6 == 0 { 40.0 - i } else { i },
                    i * 2.0 + 1.0,
                )
            })
            .collect();
        let many = table(&rows);
        let peak = many.lines().find(|l| l.contains(".peak")).unwrap();
        assert!(
            peak.contains("rises (+1.00)") && peak.matches("rises").count() == 2,
            "{many}"
        );
        assert!(!many.contains("a direction is named only"), "{many}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn ranges_and_shards_parse_with_clear_errors() {
        assert_eq!(
            Range::parse("a=0.1..0.9").unwrap(),
            Range {
                name: "a".into(),
                lo: 0.1,
                hi: 0.9
            }
        );
        assert!(Range::parse("a=0.9..0.1").unwrap_err().contains("low end"));
        assert!(Range::parse("a=-1e308..1e308")
            .unwrap_err()
            .contains("wider than a number"));
        // One value holds the parameter there; a grid walks only the others.
        let held = Range::parse("a=0.5").unwrap();
        assert_eq!((held.lo, held.hi), (0.5, 0.5));
        assert!(Range::parse("a").unwrap_err().contains("NAME=VALUE"));
        let spec = Spec {
            runs: 1,
            ranges: vec![held, Range::parse("b=0..1").unwrap()],
            grid: Some(3),
            seed: 1,
            metrics: vec![],
        };
        assert_eq!(spec.total_runs(), 3);
        assert_eq!(spec.run_params(2).1, vec![0.5, 1.0]);
        assert!(Range::parse("a=x..1")
            .unwrap_err()
            .contains("not a finite number"));
        assert!(Range::parse("=0..1").unwrap_err().contains("needs a name"));
        // Three dots, or two ranges, are not one range (`0...1` had read as 0..0.1).
        for bad in ["a=0...1", "a=1..2..3", "a=0....1"] {
            assert!(
                Range::parse(bad).unwrap_err().contains("two dots once"),
                "{bad}"
            );
        }
        assert_eq!(Shard::parse("1/4").unwrap(), Shard { k: 1, n: 4 });
        assert!(Shard::parse("4/4").is_err());
        assert!(Shard::parse("1/0").is_err());
        assert!(Shard::parse("x").is_err());
    }

    #[test]
    fn run_parameters_depend_on_the_index_only() {
        let spec = Spec {
            runs: 10,
            ranges: vec![
                Range {
                    name: "a".into(),
                    lo: 0.0,
                    hi: 1.0,
                },
                Range {
                    name: "b".into(),
                    lo: 5.0,
                    hi: 6.0,
                },
            ],
            grid: None,
            seed: 7,
            metrics: vec![],
        };
        assert_eq!(spec.run_params(3), spec.run_params(3));
        assert_ne!(spec.run_params(3), spec.run_params(4));
        let (_, v) = spec.run_params(9);
        assert!((0.0..=1.0).contains(&v[0]) && (5.0..=6.0).contains(&v[1]));
        let grid = Spec {
            grid: Some(3),
            ..spec
        };
        assert_eq!(grid.total_runs(), 9);
        let huge = Spec {
            grid: Some(2),
            ranges: (0..64).map(|_| grid.ranges[0].clone()).collect(),
            ..grid.clone()
        };
        assert_eq!(
            huge.total_runs(),
            usize::MAX,
            "2^64 points do not wrap to 0"
        );
        assert_eq!(grid.run_params(0).1, vec![0.0, 5.0]);
        assert_eq!(grid.run_params(8).1, vec![1.0, 6.0]);
        assert_eq!(grid.run_params(1).1, vec![0.5, 5.0]);
        // Grid points read as typed: 0.1..0.9 in five gives 0.3, not 0.30000000000000004.
        let five = Spec {
            grid: Some(5),
            ranges: vec![Range::parse("a=0.1..0.9").unwrap()],
            ..grid.clone()
        };
        let points: Vec<f64> = (0..5).map(|i| five.run_params(i).1[0]).collect();
        assert_eq!(points, vec![0.1, 0.3, 0.5, 0.7, 0.9]);
        // A range narrower than 12 digits keeps its points apart and inside it, ends exact.
        let narrow = Spec {
            grid: Some(3),
            ranges: vec![Range::parse("a=0.1000000000001..0.1000000000009").unwrap()],
            ..grid.clone()
        };
        let points: Vec<f64> = (0..3).map(|i| narrow.run_params(i).1[0]).collect();
        assert_eq!(points[0], 0.1000000000001);
        assert_eq!(points[2], 0.1000000000009);
        assert!(points[0] < points[1] && points[1] < points[2], "{points:?}");
        // Both ends exact on a wide range too (12 digits would round the low one down).
        let wide = Spec {
            grid: Some(3),
            ranges: vec![Range::parse("a=0.12345678901249..0.9").unwrap()],
            ..grid.clone()
        };
        assert_eq!(wide.run_params(0).1[0], 0.12345678901249);
    }

    #[test]
    fn a_parameter_may_not_take_a_column_runs_csv_has_of_its_own() {
        for name in OWN_COLUMNS {
            let e = Range::parse(&format!("{name}=0..1")).unwrap_err();
            assert!(e.contains("is a column runs.csv has of its own"), "{e}");
        }
        assert!(Range::parse("seeds=0..1").is_ok());
    }

    #[test]
    fn monte_carlo_parameters_are_independent_of_the_runs_own_random_events() {
        // The engine's first draw of each run (its first random outage) against the run's
        // parameter: they used to be one and the same number.
        let spec = Spec {
            runs: 2000,
            ranges: vec![Range::parse("x=0..1").unwrap()],
            grid: None,
            seed: 11,
            metrics: vec![],
        };
        let pairs: Vec<(f64, f64)> = (0..spec.runs)
            .map(|i| {
                let (seed, p) = spec.run_params(i);
                let mut events = ChaCha8Rng::seed_from_u64(seed);
                let u = (events.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                (p[0], u)
            })
            .collect();
        let n = pairs.len() as f64;
        let (mx, my) = (
            pairs.iter().map(|p| p.0).sum::<f64>() / n,
            pairs.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let cov: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / n;
        let var = |f: fn(&(f64, f64)) -> f64, m: f64| {
            pairs.iter().map(|p| (f(p) - m).powi(2)).sum::<f64>() / n
        };
        let r = cov / (var(|p| p.0, mx) * var(|p| p.1, my)).sqrt();
        assert!(r.abs() < 0.1, "correlation {r}");
    }

    #[test]
    fn response_charts_plot_every_run_and_colour_by_the_other_parameter() {
        let head = ["run", "seed", "a", "b", "x.peak", "x.final"];
        let rows: Vec<Vec<f64>> = (0..4)
            .map(|i| {
                let (a, b) = ((i % 2) as f64, (i / 2) as f64);
                vec![i as f64, 0.0, a, b, a + 10.0 * b, 0.0]
            })
            .collect();
        let one = response_charts(&head, &rows, &["a"], true);
        assert_eq!(one.matches("<figure>").count(), 1, "peaks and means only");
        assert_eq!(one.matches("<circle").count(), 4);
        assert!(one.contains("<polyline") && !one.contains("Colour"));
        // Monte Carlo points are dots alone: a line between two draws is no answer.
        let drawn = response_charts(&head, &rows, &["a"], false);
        assert_eq!(drawn.matches("<circle").count(), 4);
        assert!(!drawn.contains("<polyline"), "{drawn}");
        let two = response_charts(&head, &rows, &["a", "b"], true);
        assert_eq!(two.matches("<figure>").count(), 2, "one per parameter");
        assert!(two.contains("Colour: b, blue at its lowest"), "{two}");
        assert!(two.contains(r##"fill="#1b6ca8""##) && two.contains(r##"fill="#e6781e""##));
        assert!(
            !two.contains("<polyline"),
            "no line through runs of two parameters"
        );
        // A title says what the figure is in.
        let head = [
            "run",
            "seed",
            "a",
            "price[ROW/oxide:Dy].peak",
            "policy_cost[US].mean",
        ];
        let rows: Vec<Vec<f64>> = (0..3)
            .map(|i| vec![i as f64, 0.0, i as f64, 1.0 + i as f64, 2.0 * i as f64])
            .collect();
        let units = response_charts(&head, &rows, &["a"], true);
        assert!(
            units.contains("price[ROW/oxide:Dy].peak ($/kg) against a"),
            "{units}"
        );
        assert!(
            units.contains("policy_cost[US].mean ($/yr) against a"),
            "{units}"
        );
        // A figure the same in every run is said, not drawn on a made-up axis.
        let rows: Vec<Vec<f64>> = (0..3)
            .map(|i| vec![i as f64, 0.0, i as f64, 1.0 + i as f64, 0.0])
            .collect();
        let flat = response_charts(&head, &rows, &["a"], true);
        assert_eq!(flat.matches("<figure>").count(), 1, "{flat}");
        assert!(
            flat.contains("The same in every run, whatever its a: policy_cost[US].mean (0)."),
            "{flat}"
        );
    }

    #[test]
    fn percentiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 0.5), 3.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 1.0), 5.0);
        assert!((percentile(&v, 0.05) - 1.2).abs() < 1e-12);
    }
}

#[cfg(test)]
mod header_tests {
    use super::csv_fields;

    #[test]
    fn a_quoted_header_field_keeps_its_commas_and_quotes() {
        let head = format!(
            "run,seed,{}",
            chokepoint_core::series::csv_field("output[bayan,obo \"mine\"].peak")
        );
        assert_eq!(
            csv_fields(&head),
            ["run", "seed", "output[bayan,obo \"mine\"].peak"]
        );
    }
}

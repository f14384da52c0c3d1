//! `chokepoint compare A B`: the same figures from two scenarios side by side, with deltas,
//! as a table and a report.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use chokepoint_core::series::fmt_num;
use chokepoint_core::{Model, Series};
use chokepoint_script::{Outcome, Scenario};

use crate::write;

/// One compared figure.
/// The unit of a figure (a row's `stat`, or "" for the series a chart draws): the metric's,
/// a sector's own for output lost, and per year for the mean of a running total.
pub(crate) fn unit_of(m: &Model, metric: &str, key: &str, stat: &str) -> String {
    match metric {
        "output_lost" => match m.sectors.iter().find(|s| s.id == key) {
            Some(sec) => format!("{}/yr", sec.unit),
            None => "units/yr".into(),
        },
        _ if stat == "mean" && chokepoint_core::series::running_total(metric) => {
            format!("{}/yr", chokepoint_core::series::unit(metric))
        }
        _ => chokepoint_core::series::unit(metric).into(),
    }
}

#[derive(Clone)]
struct Row {
    metric: String,
    key: String,
    stat: &'static str,
    a: f64,
    b: f64,
}

impl Row {
    /// The unit of the row's figures: the metric's, a sector's own for output lost, and per
    /// year for the mean of a running total (`run_mean`).
    fn unit(&self, m: &Model) -> String {
        unit_of(m, &self.metric, &self.key, self.stat)
    }

    fn delta(&self) -> f64 {
        self.b - self.a
    }
    /// The change in percent; from what shows as zero it is "new", not a percentage of a
    /// rounding error.
    /// A share's (a shortfall's, a dependency's) in points: "-7%" of a 0.19 shortfall reads
    /// as seven points where it is one.
    fn change(&self) -> String {
        if matches!(self.metric.as_str(), "shortfall" | "dependency") {
            points(100.0 * self.delta())
        } else if round4(self.a) != 0.0 {
            percent(100.0 * self.delta() / self.a.abs())
        } else {
            "new".into()
        }
    }
    /// Where the figure ranks in the table before its size: the answers first (shortfalls,
    /// then prices, then output lost), then states, then flows, then any move under 1%.
    /// A shortfall's peak, mean and final are all answers (a shortfall that lasts, or is
    /// still there at the end, is the difference a policy makes, though both runs share a
    /// first week's spike); of prices the peak is, and of output lost the mean (what a
    /// year of the run lost); the others rank with the states.
    fn rank(&self) -> u8 {
        if self.weight() < 0.01 {
            return 5;
        }
        match (self.metric.as_str(), self.stat) {
            ("shortfall", _) => 0,
            ("price", "peak") => 1,
            ("output_lost", "mean") => 2,
            ("price" | "output_lost" | "cover_weeks" | "dependency", _)
            | ("licence_queue" | "policy_cost" | "stockpile" | "hhi" | "substitution", _) => 3,
            _ => 4,
        }
    }
    /// Among shortfalls, a region's (its sectors together, `magnet:NdFeB/US`) before one
    /// sector's.
    fn sector_level(&self) -> bool {
        self.metric == "shortfall" && !self.key.contains('/')
    }
    /// How big the move is: for a share (a shortfall, a dependency) the points it moved, so
    /// a 46-point fall in a small sector's use does not rank above a 60-point rise in a
    /// region's; for anything else the relative change, scaled so a move from zero still
    /// ranks. To six places, so that rounding noise does not decide the order.
    fn weight(&self) -> f64 {
        let share = matches!(self.metric.as_str(), "shortfall" | "dependency");
        let w = if share {
            (self.b - self.a).abs()
        } else {
            (self.b - self.a).abs() / self.a.abs().max(self.b.abs()).max(1e-9)
        };
        (w * 1e6).round() / 1e6
    }
}

fn stats(s: &Series, col: usize, steps: usize, spy: f64) -> [(&'static str, f64); 3] {
    let v = &s.column(col)[..steps.min(s.steps)];
    // As the sweep has them: a running total's peak is its largest in size (receipts peak
    // at their most negative), and its mean is per year.
    let peak = crate::sweep::peak_of(&s.names[col].0, v);
    let mean = chokepoint_core::series::run_mean(&s.names[col].0, v, spy);
    [
        ("peak", peak),
        ("mean", mean),
        ("final", v.last().copied().unwrap_or(0.0)),
    ]
}

/// How many steps the two runs are compared over: their common period when they run on the
/// same calendar (one may end earlier), else each its own run.
fn common_steps(a: &Outcome, b: &Outcome) -> Option<usize> {
    let (da, db) = (&a.sim.series.dates, &b.sim.series.dates);
    let n = da.len().min(db.len());
    (n > 0 && da[..n] == db[..n]).then_some(n)
}

/// What the reader must know about the two runs' periods, if anything.
fn period_note(a: &Outcome, b: &Outcome) -> Option<String> {
    let (ma, mb) = (&a.sim.model, &b.sim.model);
    let (da, db) = ((ma.start, a.sim.last_date()), (mb.start, b.sim.last_date()));
    if ma.name == mb.name && da == db {
        return None;
    }
    Some(match common_steps(a, b) {
        Some(n) => format!(
            "A runs from {} to {}, B from {} to {}: figures are compared over the period both \
             cover, to {}",
            da.0,
            da.1,
            db.0,
            db.1,
            a.sim.series.dates[n - 1]
        ),
        None => format!(
            "A runs on {} from {} to {}, B on {} from {} to {}: figures are compared by series \
             name, each over its own run",
            ma.name, da.0, da.1, mb.name, db.0, db.1
        ),
    })
}

/// Every series either run recorded, with its peak, mean and final value in each. A series
/// only one run records because a lever built its plant is 0 in the other, as in its own
/// run before the plant was built; one the other run's model lacks (another model, or a
/// variant with other countries) is not compared (`one_sided` counts them).
fn rows(a: &Outcome, b: &Outcome, base: Bases) -> Vec<Row> {
    let (sa, sb) = (&a.sim.series, &b.sim.series);
    let (na, nb) = match common_steps(a, b) {
        Some(n) => (n, n),
        None => (sa.steps, sb.steps),
    };
    let zero = [("peak", 0.0), ("mean", 0.0), ("final", 0.0)];
    let pairs = (sa.names.iter().enumerate())
        .map(|(i, (m, k))| (m, k, Some(i), sb.find(m, k)))
        .chain(
            (sb.names.iter().enumerate())
                .filter(|(_, (m, k))| sa.find(m, k).is_none())
                .map(|(j, (m, k))| (m, k, None, Some(j))),
        )
        .filter(|&(m, k, i, j)| i.is_some() && j.is_some() || base.built_by_lever(m, k));
    let mut out = Vec::new();
    for (m, k, i, j) in pairs {
        let xa = i.map_or(zero, |i| stats(sa, i, na, a.sim.model.steps_per_year()));
        let xb = j.map_or(zero, |j| stats(sb, j, nb, b.sim.model.steps_per_year()));
        for n in 0..3 {
            if xa[n].1 != 0.0 || xb[n].1 != 0.0 {
                out.push(Row {
                    metric: m.clone(),
                    key: k.clone(),
                    stat: xa[n].0,
                    a: xa[n].1,
                    b: xb[n].1,
                });
            }
        }
    }
    out
}

/// The models the two scenarios were loaded on, before their levers changed them.
#[derive(Clone, Copy)]
pub struct Bases<'a> {
    pub a: &'a Model,
    pub b: &'a Model,
}

impl Bases<'_> {
    /// Whether a series one run records and the other does not was added during its run (a
    /// plant a lever built), not by its model: neither model records it from its start.
    fn built_by_lever(self, m: &str, k: &str) -> bool {
        use chokepoint_core::Sim;
        let of_model = |model: &Model| Sim::model_series(model).find(m, k).is_some();
        !of_model(self.a) && !of_model(self.b)
    }
}

/// How many series only A's run records and only B's that are not compared (their
/// models differ).
fn one_sided(a: &Outcome, b: &Outcome, base: Bases) -> Option<String> {
    let (sa, sb) = (&a.sim.series, &b.sim.series);
    let only = |x: &Series, y: &Series| {
        (x.names.iter())
            .filter(|(m, k)| y.find(m, k).is_none() && !base.built_by_lever(m, k))
            .count()
    };
    let (oa, ob) = (only(sa, sb), only(sb, sa));
    (oa + ob > 0).then(|| {
        format!(
            "{oa} series only A's model records and {ob} only B's (countries, plants or sectors \
             the other lacks) are not compared"
        )
    })
}

fn top(rows: &[Row], n: usize) -> Vec<&Row> {
    // A figure differs when what the table shows differs: two values that both print as 0
    // are rounding noise, not a change.
    let mut v: Vec<&Row> = rows
        .iter()
        .filter(|r| r.weight() > 1e-9 && round4(r.a) != round4(r.b))
        .collect();
    // Sectors count output lost in their own units: they rank by how far the sector's mean
    // shortfall of its use moved (points), so a small sector's whole loss does not come
    // before a large one's part.
    let moved: std::collections::HashMap<&str, f64> = (rows.iter())
        .filter(|r| r.metric == "shortfall" && r.stat == "mean")
        .map(|r| (r.key.as_str(), r.weight()))
        .collect();
    let size = |r: &Row| match r.metric.as_str() {
        "output_lost" => moved.get(r.key.as_str()).copied().unwrap_or(0.0),
        _ => r.weight(),
    };
    // What an analyst asks first (shortfalls, prices, output lost), then states (cover,
    // dependency, queues, costs), then flows; within each, the biggest relative move, and
    // among equals (every move from zero is 100%) the biggest absolute one. Moves under 1%
    // come last, so rounding-sized price changes do not crowd out a real shift in trade.
    v.sort_by(|x, y| {
        x.rank()
            .cmp(&y.rank())
            .then_with(|| x.sector_level().cmp(&y.sector_level()))
            .then_with(|| size(y).total_cmp(&size(x)))
            .then_with(|| y.delta().abs().total_cmp(&x.delta().abs()))
            .then_with(|| (&x.metric, &x.key, x.stat).cmp(&(&y.metric, &y.key, y.stat)))
    });
    // The answers take turns (the biggest shortfall, price and output-lost moves, then the
    // next of each), so one kind does not fill a short table.
    let mut answers: [Vec<&Row>; 3] = Default::default();
    let mut rest = Vec::new();
    for r in v {
        match r.rank() {
            k @ 0..=2 => answers[k as usize].push(r),
            _ => rest.push(r),
        }
    }
    let longest = answers.iter().map(Vec::len).max().unwrap_or(0);
    let mut out: Vec<&Row> = (0..longest)
        .flat_map(|i| answers.iter().filter_map(move |a| a.get(i).copied()))
        .collect();
    out.extend(rest);
    out.truncate(n);
    out
}

fn name(sc: &Scenario) -> String {
    sc.title().unwrap_or_else(|| sc.path.display().to_string())
}

pub fn table(
    sa: &Scenario,
    a: &Outcome,
    sb: &Scenario,
    b: &Outcome,
    base: Bases,
    n: usize,
) -> String {
    let all = rows(a, b, base);
    let mut o = String::new();
    // Parameters whose values differ between the runs tell them apart (one script run with
    // --set-a and --set-b, say), and so do seeds (--seed-a and --seed-b).
    let differ = |own: &Outcome, other: &Outcome| -> String {
        let seed = own.sim.seed != other.sim.seed;
        let shown: Vec<String> = (own.params.iter())
            .filter(|(k, v)| other.params.get(*k).is_some_and(|o| o != *v))
            .map(|(k, v)| format!("{k}={}", fmt_num(*v)))
            .chain(seed.then(|| format!("seed {}", own.sim.seed)))
            .collect();
        match shown.is_empty() {
            true => String::new(),
            false => format!(" ({})", shown.join(", ")),
        }
    };
    let _ = writeln!(
        o,
        "A: {}{}\nB: {}{}",
        name(sa),
        differ(a, b),
        name(sb),
        differ(b, a)
    );
    // Two models of one name may hold other data (an edited copy), and a model may set
    // policies of its own: a difference the levers would otherwise be credited with.
    let (da, db) = (
        crate::sweep::model_digest(base.a),
        crate::sweep::model_digest(base.b),
    );
    if da != db {
        let _ = writeln!(
            o,
            "  the models differ: A on {} (digest {da}), B on {} (digest {db})",
            base.a.name, base.b.name
        );
    }
    for (side, m, out) in [("A", base.a, a), ("B", base.b, b)] {
        for p in crate::report::model_policies(m, out) {
            let _ = writeln!(o, "  {side}'s model file sets: {p}");
        }
    }
    let _ = writeln!(
        o,
        "  A expectations {} passed, {} failed; B {} passed, {} failed",
        a.expectations.len() - a.failed(),
        a.failed(),
        b.expectations.len() - b.failed(),
        b.failed()
    );
    for (run, out) in [("A", a), ("B", b)] {
        for e in out.expectations.iter().filter(|e| !e.passed) {
            let _ = writeln!(
                o,
                "    {run} FAILED {}: {}",
                e.place(),
                crate::report::stated(&e.message, &e.detail)
            );
        }
    }
    for note in period_note(a, b).into_iter().chain(one_sided(a, b, base)) {
        let _ = writeln!(o, "  note: {note}");
    }
    let changed = top(&all, usize::MAX).len();
    if changed == 0 {
        let _ = writeln!(o, "  {} figures compared: none differs", all.len());
        for line in printed_caveats(a, b) {
            let _ = writeln!(o, "  caveat {line}");
        }
        return o;
    }
    let _ = writeln!(
        o,
        "  {} figures compared, {} differ as the table shows them (to 4 decimal places, whole numbers from 100); the {} that move most, shortfalls (regions, then sectors), peak prices and output lost in turn, then the rest (shares change in points):",
        all.len(),
        changed,
        n.min(changed)
    );
    let _ = writeln!(
        o,
        "  {:<44} {:>6} {:>14} {:>14} {:>14} {:>10}  unit",
        "series", "stat", "A", "B", "B - A", "change"
    );
    for r in top(&all, n) {
        let rel = r.change();
        let _ = writeln!(
            o,
            "  {:<44} {:>6} {:>14} {:>14} {:>14} {:>10}  {}",
            format!("{}[{}]", r.metric, r.key),
            r.stat,
            fmt_num(round4(r.a)),
            fmt_num(round4(r.b)),
            fmt_num(round4(r.delta())),
            rel,
            r.unit(&a.sim.model)
        );
    }
    for line in printed_caveats(a, b) {
        let _ = writeln!(o, "  caveat {line}");
    }
    o
}

/// The caveats as the table prints them: four of each run's, as `run` prints, then how
/// many more (the report lists them all).
fn printed_caveats(a: &Outcome, b: &Outcome) -> Vec<String> {
    let all = caveats(a, b);
    let mut lines = Vec::new();
    for run in ["A: ", "B: "] {
        let side: Vec<&String> = all.iter().filter(|l| l.starts_with(run)).collect();
        lines.extend(side.iter().take(4).map(|l| l.to_string()));
        if side.len() > 4 {
            let more = side.len() - 4;
            let what = if more == 1 { "caveat" } else { "caveats" };
            lines.push(format!(
                "{run}{more} more {what} (all in the report --out writes)"
            ));
        }
    }
    lines
}

/// Prices either run held at one of the model's bounds: a level there is the cap, not a
/// forecast, and a change to or from it says how hard the market was pressed, no more. And
/// metals either run priced below their oxide, as `run` says of each (the table ranks such
/// a price among the movers: review 2026-12-02).
fn caveats(a: &Outcome, b: &Outcome) -> Vec<String> {
    let mut lines = Vec::new();
    for (run, out) in [("A", a), ("B", b)] {
        let m = &out.sim.model;
        for p in crate::report::pinned_prices(m, out) {
            lines.push(format!("{run}: {}", p.text(m.step_days)));
        }
        for below in crate::report::below_input(m, out) {
            lines.push(format!("{run}: {}", below.text(m.step_days)));
        }
    }
    lines
}

/// A change in percent, to whole percents, or finer when it is under one (never "-0%").
fn percent(p: f64) -> String {
    let sign = if p < 0.0 { "-" } else { "+" };
    // Decided on the rounded figure, so 0.96% reads "1%", like 1.04%.
    match p.abs() {
        a if a >= 0.95 => format!("{sign}{a:.0}%"),
        a if a >= 0.05 => format!("{sign}{a:.1}%"),
        _ => format!("{sign}<0.1%"),
    }
}

/// A change of a share in percentage points, to a tenth ("+95.5 pts", never "-0.0 pts").
fn points(p: f64) -> String {
    let sign = if p < 0.0 { "-" } else { "+" };
    match p.abs() {
        a if a >= 0.05 => format!("{sign}{a:.1} pts"),
        _ => format!("{sign}<0.1 pts"),
    }
}

/// A figure as the report's table shows it: as `round4`, with thousands grouped from
/// 1,000 (`6,580,990`, not `6580990`: review 2026-12-02).
fn grouped(x: f64) -> String {
    let r = round4(x);
    if r.abs() < 1000.0 {
        fmt_num(r)
    } else {
        crate::report::thousands(r)
    }
}

/// A figure as tables show it: whole above 100, else to four decimals (files keep full
/// precision).
pub(crate) fn round4(x: f64) -> f64 {
    if x.abs() >= 100.0 {
        x.round()
    } else {
        (x * 1e4).round() / 1e4
    }
}

pub fn write(
    dir: &Path,
    sa: &Scenario,
    a: &Outcome,
    sb: &Scenario,
    b: &Outcome,
    base: Bases,
    n: usize,
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let all = rows(a, b, base);
    let mut csv = String::from("metric,key,stat,a,b,delta,unit\n");
    for r in &all {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{}",
            chokepoint_core::series::csv_field(&r.metric),
            chokepoint_core::series::csv_field(&r.key),
            r.stat,
            fmt_num(r.a),
            fmt_num(r.b),
            fmt_num(r.delta()),
            chokepoint_core::series::csv_field(&r.unit(&a.sim.model))
        );
    }
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Compare: {} and {}</title>",
        esc(&name(sa)),
        esc(&name(sb))
    );
    html.push_str("<style>body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}td:first-child{text-align:left}table.levers td{text-align:left}table.levers td:last-child{white-space:normal}td.date,td.name,td.num{white-space:nowrap}pre{background:#f6f6f6;padding:1em;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere}</style></head><body>");
    let _ = write!(
        html,
        "<h1>Compare: A and B</h1><p><b>A</b> {}<br><b>B</b> {}</p>",
        esc(&name(sa)),
        esc(&name(sb))
    );
    // What each side ran, so the page says how to repeat it.
    for (side, sc, out, m) in [("A", sa, a, base.a), ("B", sb, b, base.b)] {
        let params: Vec<String> = (out.params.iter())
            .map(|(k, v)| format!("{k} = {}", fmt_num(*v)))
            .collect();
        let policies = crate::report::model_policies(m, out);
        let _ = write!(
            html,
            "<p><b>{side}</b>: <code>{}</code> on model {} (digest {}{}), seed {}{}.</p>",
            esc(&sc.path.display().to_string()),
            esc(&out.sim.model.name),
            crate::sweep::model_digest(m),
            if policies.is_empty() {
                String::new()
            } else {
                esc(&format!("; its file sets {}", policies.join("; ")))
            },
            out.sim.seed,
            if params.is_empty() {
                String::new()
            } else {
                esc(&format!("; parameters {}", params.join(", ")))
            }
        );
    }
    for note in period_note(a, b).into_iter().chain(one_sided(a, b, base)) {
        let _ = write!(html, "<p><b>Note:</b> {}</p>", esc(&note));
    }
    // Each side's expectations (what makes `compare` exit 1) and its levers.
    html.push_str("<h2>Expectations and levers</h2>");
    for (side, out) in [("A", a), ("B", b)] {
        let n = out.expectations.len();
        let verdict = if n == 0 {
            "none stated".to_string()
        } else {
            format!("{} passed, {} failed", n - out.failed(), out.failed())
        };
        let _ = write!(
            html,
            "<p><b>{side}</b>: expectations {verdict}; {} lever{} pulled{}</p>",
            out.levers.len(),
            if out.levers.len() == 1 { "" } else { "s" },
            if out.levers.is_empty() { "." } else { ":" }
        );
        html.push_str(&crate::report::levers_table(out));
        let failed: Vec<String> = (out.expectations.iter())
            .filter(|e| !e.passed)
            .map(|e| {
                format!(
                    "<li>FAILED {}: {}</li>",
                    esc(&e.place()),
                    esc(&crate::report::stated(&e.message, &e.detail))
                )
            })
            .collect();
        // What the run warned of and noted, as its own report says it.
        let said: Vec<String> = (out.warnings.iter())
            .map(|w| format!("<li>warning: {}</li>", esc(w)))
            .chain(
                crate::report::notes(out)
                    .iter()
                    .map(|n| format!("<li>note: {}</li>", esc(n))),
            )
            .collect();
        if !failed.is_empty() || !said.is_empty() {
            let _ = write!(html, "<ul>{}{}</ul>", failed.concat(), said.concat());
        }
    }
    let changed = top(&all, usize::MAX).len();
    if changed == 0 {
        let _ = write!(html, "<p>{} figures compared: none differs.</p>", all.len());
    }
    if changed > 0 {
        html.push_str("<table><tr><th>series</th><th>stat</th><th>A</th><th>B</th><th>B − A</th><th>change</th><th>unit</th></tr>");
    }
    let mut charted: Vec<(String, String)> = Vec::new();
    for r in top(&all, n) {
        let _ = write!(
            html,
            "<tr><td>{}[{}]</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.metric),
            esc(&r.key),
            r.stat,
            grouped(r.a),
            grouped(r.b),
            grouped(r.delta()),
            r.change(),
            esc(&r.unit(&a.sim.model))
        );
        let k = (r.metric.clone(), r.key.clone());
        if !charted.contains(&k) && charted.len() < 6 {
            charted.push(k);
        }
    }
    if changed > 0 {
        html.push_str("</table>");
    }
    let caveats = caveats(a, b);
    if !caveats.is_empty() {
        html.push_str("<h2>Caveats</h2><ul>");
        for c in &caveats {
            let _ = write!(html, "<li>{}</li>", esc(c));
        }
        html.push_str("</ul>");
    }
    for (m, k) in charted {
        let unit = unit_of(&a.sim.model, &m, &k, "");
        html.push_str(&overlay(&a.sim.series, &b.sim.series, &m, &k, &unit));
    }
    // What each side ran, as `run`'s report shows its scenario.
    html.push_str("<h2>Scenario sources</h2>");
    for (side, sc) in [("A", sa), ("B", sb)] {
        let _ = write!(
            html,
            "<h3>{side}: <code>{}</code></h3><pre>{}</pre>",
            esc(&sc.path.display().to_string()),
            esc(&sc.source)
        );
    }
    html.push_str("</body></html>\n");
    // One set: an interrupt or a full disk leaves both old or both new.
    write::atomic_set(&[
        (dir.join("compare.csv"), csv.as_bytes()),
        (dir.join("report.html"), html.as_bytes()),
    ])?;
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Both runs' series on one SVG chart: A solid, B dashed.
fn overlay(sa: &Series, sb: &Series, m: &str, k: &str, unit: &str) -> String {
    let (ca, cb) = (sa.find(m, k), sb.find(m, k));
    if ca.is_none() && cb.is_none() {
        return String::new();
    }
    // A series one run does not record (a plant only the other built) is 0 in it, as the
    // table has it.
    let column =
        |s: &Series, c: Option<usize>| c.map_or_else(|| vec![0.0; s.steps], |c| s.column(c));
    let (mut va, mut vb) = (column(sa, ca), column(sb, cb));
    let (mut da, mut db) = (&sa.dates[..], &sb.dates[..]);
    // On one calendar, over the period both cover (as the table compares them); on two
    // (other models), each line at its own dates on an axis spanning both runs.
    let n = da.len().min(db.len());
    if n > 0 && da[..n] == db[..n] {
        va.truncate(n);
        vb.truncate(n);
        (da, db) = (&da[..n], &db[..n]);
    }
    let (ticks, lo, hi) = crate::report::y_axis(va.iter().chain(&vb));
    let (w, h, l, t, b) = (640.0, 200.0, 50.0, 22.0, 20.0);
    let first = da.first().into_iter().chain(db.first()).min().copied();
    let last = da.last().into_iter().chain(db.last()).max().copied();
    let (d0, d1) = match (first, last) {
        (Some(a), Some(z)) => (a, z),
        _ => return String::new(),
    };
    let days = (d1.days() - d0.days()).max(1) as f64;
    let pts = |v: &[f64], dates: &[chokepoint_core::Date]| -> String {
        v.iter()
            .zip(dates)
            .map(|(x, d)| {
                format!(
                    "{:.1},{:.1}",
                    l + (w - l - 10.0) * (d.days() - d0.days()) as f64 / days,
                    t + (h - t - b) * (1.0 - (x - lo) / (hi - lo))
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut span = format!(
        r##"<text x="{l}" y="{}" font-size="10">{d0}</text><text x="{}" y="{}" font-size="10" text-anchor="end">{d1}</text>"##,
        h - 4.0,
        w - 10.0,
        h - 4.0
    );
    // Each new year between, marked and labelled where it clears the two dates at the
    // ends (with only the ends, a lever's date could not be read off: review 2026-12-02).
    let x_at = |d: chokepoint_core::Date| l + (w - l - 10.0) * (d.days() - d0.days()) as f64 / days;
    for year in d0.year() + 1..=d1.year() {
        let Some(jan) = chokepoint_core::Date::from_ymd(year, 1, 1) else {
            continue;
        };
        let x = x_at(jan);
        let _ = write!(
            span,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#bbb"/>"##,
            h - b,
            h - b + 4.0
        );
        if x - l > 70.0 && w - 10.0 - x > 70.0 {
            let _ = write!(
                span,
                r##"<text x="{x:.1}" y="{}" font-size="10" text-anchor="middle">{year}</text>"##,
                h - 4.0
            );
        }
    }
    let y = |x: f64| t + (h - t - b) * (1.0 - (x - lo) / (hi - lo));
    format!(
        r##"<figure><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{m} {k}: A and B"><text x="{l}" y="15" font-size="13" font-weight="bold">{} [{}] ({}; A solid, B dashed)</text>{}<polyline fill="none" stroke="#1b6ca8" stroke-width="1.8" points="{}"/><polyline fill="none" stroke="#c0392b" stroke-width="1.8" stroke-dasharray="5,3" points="{}"/>{span}</svg></figure>"##,
        esc(m),
        esc(k),
        esc(unit),
        crate::report::y_ticks_svg(&ticks, y, l, w - 10.0),
        pts(&va, da),
        pts(&vb, db)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_in_percent_without_a_negative_zero() {
        assert_eq!(percent(-0.001), "-<0.1%");
        assert_eq!(percent(0.3), "+0.3%");
        assert_eq!(percent(-0.97), "-1%");
        assert_eq!(percent(0.94), "+0.9%");
        assert_eq!(percent(-42.4), "-42%");
        assert_eq!(percent(2900.0), "+2900%");
        // A share moves in points: -0.0123 of a 0.1854 shortfall is 1.2 points, not -7%.
        assert_eq!(points(-1.23), "-1.2 pts");
        assert_eq!(points(95.46), "+95.5 pts");
        assert_eq!(points(-0.01), "-<0.1 pts");
    }

    /// The x of each point of the chart's `nth` polyline.
    fn xs(svg: &str, nth: usize) -> Vec<f64> {
        let line = svg.split("<polyline").nth(nth + 1).unwrap();
        let points = line.split("points=\"").nth(1).unwrap();
        let points = &points[..points.find('"').unwrap()];
        (points.split(' '))
            .map(|p| p.split(',').next().unwrap().parse().unwrap())
            .collect()
    }

    fn weekly(from: &str, steps: usize, value: f64) -> Series {
        let mut s = Series::new();
        s.declare("price", "ROW/oxide:Dy");
        let start = chokepoint_core::Date::parse(from).unwrap();
        for i in 0..steps {
            s.push_row(start.add_days(7 * i as i32))[0] = value;
        }
        s
    }

    #[test]
    fn runs_on_two_calendars_are_drawn_each_at_its_own_dates() {
        // A 2010 run of a year beside a 2024 run of a year: each line spans its own year of
        // an axis from 2010 to 2025, not the whole width on the other's dates.
        let (a, b) = (weekly("2010-01-04", 52, 1.0), weekly("2024-01-01", 52, 2.0));
        let svg = overlay(&a, &b, "price", "ROW/oxide:Dy", "$/kg");
        let (xa, xb) = (xs(&svg, 0), xs(&svg, 1));
        assert!(
            svg.contains(">2010-01-04<") && svg.contains(">2024-12-23<"),
            "{svg}"
        );
        assert_eq!((xa[0], *xb.last().unwrap()), (50.0, 630.0));
        assert!(
            *xa.last().unwrap() < 100.0 && xb[0] > 580.0,
            "{xa:?} {xb:?}"
        );
        // On one calendar, the period both cover, over the whole width.
        let (a, b) = (weekly("2024-01-01", 52, 1.0), weekly("2024-01-01", 20, 2.0));
        let svg = overlay(&a, &b, "price", "ROW/oxide:Dy", "$/kg");
        let (xa, xb) = (xs(&svg, 0), xs(&svg, 1));
        assert_eq!((xa.len(), xb.len()), (20, 20));
        assert_eq!((*xa.last().unwrap(), *xb.last().unwrap()), (630.0, 630.0));
    }

    #[test]
    fn figures_that_both_show_as_zero_do_not_differ() {
        let row = |a: f64, b: f64| Row {
            metric: "m".into(),
            key: "k".into(),
            stat: "peak",
            a,
            b,
        };
        let rows = [row(0.0, 1e-12), row(1e-7, 0.0), row(1.0, 2.0)];
        let moved = top(&rows, 10);
        assert_eq!(moved.len(), 1);
        assert_eq!((moved[0].a, moved[0].b), (1.0, 2.0));
    }

    #[test]
    fn the_answers_lead_the_table_in_turn_before_flows_and_rounding() {
        let row = |metric: &str, a: f64, b: f64| Row {
            metric: metric.into(),
            key: "k".into(),
            stat: "peak",
            a,
            b,
        };
        // Devices lost and tonnes traded from zero used to outrank a shortfall from zero
        // (every move from zero is 100%; the bigger number won).
        let rows = [
            row("shortfall", 0.0, 0.9),
            row("trade", 0.0, 300.0),
            row("output_lost", 0.0, 5e7),
            row("output_lost", 0.0, 6e5),
            row("shortfall", 0.0, 0.31),
            row("shortfall", 0.0, 0.2),
            row("price", 49.2, 92.0),
            row("price", 55.0, 55.01),
        ];
        let mut rows = rows.to_vec();
        // A region's shortfall (its sectors together) before a sector's; a shortfall's mean
        // is an answer too, ranked by the points it moved.
        rows[4].key = "magnet:NdFeB/US".into();
        rows.push(Row {
            stat: "mean",
            ..row("shortfall", 0.001, 0.04)
        });
        // Output lost answers as a year's mean, ranked by how far its sector's mean
        // shortfall moved: the sector whose use moved 50 points before the one of 3.
        for (key, lost, moved) in [("big", 6e5, 0.5), ("small", 5e7, 0.03)] {
            rows.push(Row {
                key: key.into(),
                stat: "mean",
                ..row("output_lost", 0.0, lost)
            });
            rows.push(Row {
                key: key.into(),
                stat: "mean",
                ..row("shortfall", 0.0, moved)
            });
        }
        let order: Vec<(&str, f64)> = top(&rows, 10)
            .iter()
            .map(|r| (r.metric.as_str(), r.b))
            .collect();
        assert_eq!(
            order,
            [
                ("shortfall", 0.31),
                ("price", 92.0),
                ("output_lost", 6e5),
                ("shortfall", 0.9),
                ("output_lost", 5e7),
                ("shortfall", 0.5),
                ("shortfall", 0.2),
                ("shortfall", 0.04),
                ("shortfall", 0.03),
                // A peak of output lost is a state, after the answers.
                ("output_lost", 5e7),
            ]
        );
    }
}

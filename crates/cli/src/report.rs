//! What people read: the model inventory, the run summary (text and JSON), the HTML report
//! with inline SVG charts, JUnit XML and the lever reference.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chokepoint_core::series::{fmt_num, Resolution};
use chokepoint_core::{Date, Model, Series};
use chokepoint_script::{Outcome, Scenario};
use serde_json::json;

/// What a run with no expectations says of them (`test` fails such a scenario).
const NONE_STATED: &str =
    "none stated (`chokepoint test` fails a scenario that states none: add expect() lines)";
/// `chokepoint check`: counts and production shares by stage and country.
pub fn inventory(m: &Model, path: &Path) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{} ({}): valid", path.display(), m.title);
    let _ = writeln!(
        o,
        "  horizon   {} to {}, {}-day steps",
        m.start, m.end, m.step_days
    );
    let counts = [
        (m.elements.len(), "element", "elements"),
        (m.forms.len(), "form", "forms"),
        (m.deposits.len(), "deposit", "deposits"),
        (m.facilities.len(), "facility", "facilities"),
        (m.firms.len(), "firm", "firms"),
        (m.sectors.len(), "sector", "sectors"),
        (m.groups.len(), "group", "groups"),
        (m.stockpiles.len(), "stockpile", "stockpiles"),
        (m.sources.len(), "source", "sources"),
    ];
    let listed: Vec<String> = (counts.iter())
        .map(|&(n, one, many)| format!("{n} {}", if n == 1 { one } else { many }))
        .collect();
    let _ = writeln!(o, "  inventory {}", listed.join(", "));
    let caps = m.capacity_by_stage_country(m.start);
    let _ = writeln!(
        o,
        "  production shares at {} (capacity × utilisation):",
        m.start
    );
    for (st, row) in caps.iter().enumerate() {
        let total: f64 = row.iter().sum();
        if total <= 0.0 {
            continue;
        }
        let mut shares: Vec<(usize, f64)> = row
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, v)| *v > 0.0)
            .collect();
        shares.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut parts: Vec<String> = shares
            .iter()
            .take(5)
            .map(|(c, v)| format!("{} {:.1}%", m.countries[*c].id, 100.0 * v / total))
            .collect();
        // The rest in one, so the row reads to 100%.
        if shares.len() > 5 {
            let rest: f64 = shares[5..].iter().map(|(_, v)| v).sum();
            let n = shares.len() - 5;
            let who = if n == 1 { "other" } else { "others" };
            parts.push(format!("{n} {who} {:.1}%", 100.0 * rest / total));
        }
        let _ = writeln!(
            o,
            "    {:<11} {:>9} t/yr RE  {}",
            m.stages[st],
            fmt_num(total.round()),
            parts.join(", ")
        );
    }
    // Contracts shape who gets what before any market: show them.
    if !m.contracts.is_empty() {
        let _ = writeln!(
            o,
            "  contracts (a share of a facility's output, to one country's buyers first):"
        );
        for k in &m.contracts {
            let to = match k.firm {
                Some(f) => format!(
                    "{}, to the plants of {} only",
                    m.countries[k.country].id, m.firms[f].id
                ),
                None => m.countries[k.country].id.clone(),
            };
            let _ = writeln!(
                o,
                "    {:<22} {:>4.0}% to {to}",
                m.facilities[k.facility].id,
                100.0 * k.share
            );
        }
    }
    // Policies the file sets act in every run: a scenario's results include them.
    if !m.policies.is_empty() {
        let _ = writeln!(o, "  policies the model sets (in force in every run):");
        for p in &m.policies {
            let _ = writeln!(o, "    {}", p.describe(m));
        }
    }
    let _ = writeln!(o, "  digest    {}", crate::sweep::model_digest(m));
    o
}

/// A share to rank headlines by: sectors that lose the same share of output (all the
/// users of one material in one country, say) tie, whatever the last bits of rounding say,
/// and then rank by name.
fn rank(share: f64) -> f64 {
    (share * 1e9).round()
}

/// A whole number with thousands separators, as people read a headline: 34,966,604.
pub(crate) fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if v.round() < 0.0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A price in $/kg as a headline reads it: whole dollars from $10, cents under that (La
/// and Ce oxides at $1.30 and $0.65 are not $1 and $1: review 2026-12-02), and two
/// significant figures under a dime (a price of $0.029 is not $0.03 or $0).
fn per_kg(v: f64) -> String {
    if v.abs() < 0.1 && v != 0.0 {
        let decimals = (1 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
        format!("{v:.decimals$}")
    } else if v.abs() < 10.0 && v != 0.0 {
        format!("{v:.2}")
    } else {
        thousands(v)
    }
}

/// Money as a headline reads it: $14,760.3M, or under a million whole dollars ($43,599),
/// so a small cost does not read as $0.0M.
fn dollars(v: f64) -> String {
    if v.abs() < 1e6 {
        format!("${}", thousands(v))
    } else {
        format!("${}M", millions(v))
    }
}

/// Dollars in millions to one decimal, thousands separated: 14,760.3.
fn millions(v: f64) -> String {
    let tenths = (v / 1e5).round();
    format!(
        "{}.{}",
        thousands((tenths / 10.0).trunc()),
        (tenths % 10.0).abs() as i64
    )
}

/// The largest mean of `window` consecutive values (all of them if fewer).
fn worst_window_mean(v: &[f64], window: usize) -> f64 {
    let w = window.clamp(1, v.len().max(1));
    let mut sum: f64 = v.iter().take(w).sum();
    let mut best = sum;
    for i in w..v.len() {
        sum += v[i] - v[i - w];
        best = best.max(sum);
    }
    best / w as f64
}

/// A share as a percentage to one decimal, or to two significant figures below 0.1%
/// (0.042%), so a small loss does not read as none.
fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p.abs() >= 0.095 || p == 0.0 {
        format!("{p:.1}%")
    } else {
        format!("{}%", two_figures(p))
    }
}

/// A small figure to two significant figures (0.0042, 0.31, 4.2).
fn two_figures(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let decimals = (1 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Headline figures of a run: as printed, and as numbers for summary.json.
struct Headline {
    label: String,
    value: String,
    numbers: Vec<(&'static str, serde_json::Value)>,
}

/// The model's start price of a price series `MARKET/commodity`: what "× start" is of (the
/// first recorded row is already a step on).
fn start_price(m: &Model, key: &str) -> Option<f64> {
    let nc = m.commodities.len();
    let (mk, name) = key.split_once('/')?;
    let mk = m.market_id(mk).ok()?;
    let c = (0..nc).find(|&c| m.commodity_name(c) == name)?;
    Some(m.prices[mk * nc + c]).filter(|&p| p > 0.0)
}

/// How far a price moved over a run: its peak and low, as $/kg and multiples of its start,
/// with their dates (the first week at each), and whether the peak was the last week.
struct Move {
    peak: f64,
    times: f64,
    date: String,
    at_end: bool,
    low: f64,
    low_times: f64,
    low_date: String,
    /// The baseline's multiple of the start at the peak's date and at the low's.
    base_at_peak: Option<f64>,
    base_at_low: Option<f64>,
    /// Where the price stood furthest from the baseline's ([`Apart`]).
    from_base: Option<Apart>,
}

/// Where a run's series stood furthest above or below its baseline's at the same date: the
/// run's over the baseline's there (above 1 or below it), and the step.
#[derive(Clone, Copy)]
struct Apart {
    ratio: f64,
    at: usize,
    /// The run's value there.
    price: f64,
}

impl Apart {
    /// How far apart, as a multiple either way (2 for twice the baseline or half of it).
    fn size(self) -> f64 {
        self.ratio.max(1.0 / self.ratio)
    }
}

/// [`Apart`] over the steps where both priced (the first step at the largest gap).
fn apart(run: &[f64], base: &[f64]) -> Option<Apart> {
    (run.iter().zip(base).enumerate())
        .filter(|(_, (r, b))| **r > 0.0 && **b > 0.0)
        .map(|(at, (r, b))| Apart {
            ratio: r / b,
            at,
            price: *r,
        })
        .reduce(|a, b| if b.size() > a.size() { b } else { a })
}

/// A multiple as a headline writes it: one decimal from 1, two figures under it.
fn times_text(v: f64) -> String {
    match v {
        v if v >= 0.995 => format!("{v:.1}"),
        v => two_figures(v),
    }
}

/// A baseline's multiple as a headline adds it: `; baseline 1.2× then` (as the line's own:
/// one decimal from 1, two figures under it).
fn baseline_times(b: Option<f64>) -> String {
    b.map_or(String::new(), |b| {
        format!("; baseline {}× then", times_text(b))
    })
}

/// A key price's low is told from this multiple of its start down.
const FELL: f64 = 0.8;

/// The magnet chain's key prices: always among a run's headlines.
const KEY_PRICES: [&str; 5] = [
    "ROW/oxide:Dy",
    "ROW/oxide:Tb",
    "ROW/oxide:Nd",
    "ROW/magnet:NdFeB",
    "CN/oxide:Dy",
];

fn headlines(m: &Model, out: &Outcome) -> Vec<Headline> {
    let s = &out.sim.series;
    let mut h = Vec::new();
    let mut push =
        |label: String, value: String, numbers: Vec<(&'static str, serde_json::Value)>| {
            h.push(Headline {
                label,
                value,
                numbers,
            })
        };
    // Largest price move in each market for the magnet chain's key commodities, with when
    // it peaked; then the prices that moved most of all the others (Y oxide or Dy metal
    // outside China can run far ahead of these five).
    let last = s.dates.len().saturating_sub(1);
    let base = out.baseline.as_deref();
    // The baseline's value of a series `metric[key]` in the step `i`, where there is one.
    let base_at = |metric: &str, key: &str, i: usize| -> Option<f64> {
        let b = &base?.series;
        Some(b.values[i * b.names.len() + b.find(metric, key)?])
    };
    let moves_of = |key: &str| -> Option<Move> {
        let v = s.column(s.find("price", key)?);
        let first = start_price(m, key).or(v.first().copied())?;
        let (at, peak) =
            (v.iter().copied().enumerate()).reduce(|a, b| if b.1 > a.1 { b } else { a })?;
        let (low_at, low) =
            (v.iter().copied().enumerate()).reduce(|a, b| if b.1 < a.1 { b } else { a })?;
        // The baseline's multiple at the peak's date and at the low's.
        let then = |i: usize| Some(base_at("price", key, i)? / first);
        Some(Move {
            peak,
            times: peak / first,
            date: s.dates[at].to_string(),
            at_end: at == last && last > 0,
            low,
            low_times: low / first,
            low_date: s.dates[low_at].to_string(),
            base_at_peak: then(at),
            base_at_low: then(low_at),
            from_base: base.and_then(|b| apart(&v, &b.series.column(b.series.find("price", key)?))),
        })
    };
    let mut price_line = |key: &str, p: Move| {
        // A price that never left its start has no peak worth dating; one highest in the
        // run's last week was still rising when the run ended.
        let rose = p.times >= 1.05;
        let when = match (rose, p.at_end) {
            (true, true) => format!(", still rising at the run's end, {}", p.date),
            (true, false) => format!(", peak {}", p.date),
            _ => String::new(),
        };
        // A fall is a finding too (a glut, a floor's collapse): its low, when a fifth or
        // more, and, against a baseline, not the baseline's own low (within 5% of it then:
        // Y oxide easing to 0.63× before any lever).
        let fell = p.low_times <= FELL && p.base_at_low.is_none_or(|b| p.low_times <= b * 0.95);
        let low_at_end = p.low_date == s.dates[last].to_string();
        let falling = if low_at_end {
            "still falling at the run's end, "
        } else {
            ""
        };
        let low = if fell {
            format!(
                "; low ${}/kg ({}× start, {falling}{}{})",
                per_kg(p.low),
                two_figures(p.low_times),
                p.low_date,
                baseline_times(p.base_at_low)
            )
        } else {
            String::new()
        };
        // The baseline at the peak, once the price rose (a flat price has no dated peak for
        // "then" to be). Where the levers moved it, how far from the baseline at most, when
        // and at what price (held at its start while the baseline drifted, pushed below it,
        // or, against a worse scenario, kept far under the baseline's own peak).
        let base_peak = if rose {
            baseline_times(p.base_at_peak)
        } else {
            String::new()
        };
        // (Not where the line's own date is the gap's: "then" has said it.)
        let dated = match (rose, fell) {
            (true, _) => p.date.as_str(),
            (false, true) => p.low_date.as_str(),
            _ => "",
        };
        // Nor where the line's own figures already say it: its multiple over the
        // baseline's then within a tenth of the gap's (40× start against a baseline at
        // 1.0× then is ~40× the baseline wherever that was largest).
        let said = match (rose, fell) {
            (true, _) => p.base_at_peak.map(|b| p.times / b),
            (false, true) => p.base_at_low.map(|b| p.low_times / b),
            _ => None,
        };
        let gap = (p.from_base).filter(|a| {
            a.size() >= 1.05
                && s.dates[a.at].to_string() != dated
                && said.is_none_or(|r| (a.ratio / r).ln().abs() >= 1.1_f64.ln())
        });
        let gap_text = gap.map_or(String::new(), |a| {
            format!(
                "; {}× the baseline on {}, at ${}/kg",
                times_text(a.ratio),
                s.dates[a.at],
                per_kg(a.price)
            )
        });
        let mut numbers = vec![
            ("usd_per_kg", json!(p.peak)),
            ("times_start", json!(p.times)),
            ("date", json!(p.date)),
        ];
        if let Some(b) = p.base_at_peak {
            numbers.push(("baseline_times_start", json!(b)));
        }
        if fell {
            numbers.push(("low_usd_per_kg", json!(p.low)));
            numbers.push(("low_times_start", json!(p.low_times)));
            numbers.push(("low_date", json!(p.low_date)));
            if let Some(b) = p.base_at_low {
                numbers.push(("low_baseline_times_start", json!(b)));
            }
        }
        let gap_numbers = (p.from_base).map(|a| {
            [
                ("times_baseline", json!(a.ratio)),
                ("times_baseline_date", json!(s.dates[a.at].to_string())),
            ]
        });
        numbers.extend(gap_numbers.clone().into_iter().flatten());
        if fell && !rose {
            // Only a fall: its low is the finding, and the figures a reader takes first
            // (price, times start, date) are the low's.
            let mut low_numbers = vec![
                ("usd_per_kg", json!(p.low)),
                ("times_start", json!(p.low_times)),
                ("date", json!(p.low_date)),
                ("peak_usd_per_kg", json!(p.peak)),
                ("peak_times_start", json!(p.times)),
                ("peak_date", json!(p.date)),
            ];
            if let Some(b) = p.base_at_low {
                low_numbers.push(("baseline_times_start", json!(b)));
            }
            low_numbers.extend(gap_numbers.into_iter().flatten());
            push(
                format!("low price {key}"),
                format!(
                    "${}/kg ({}× start, {falling}{}{}{gap_text})",
                    per_kg(p.low),
                    two_figures(p.low_times),
                    p.low_date,
                    baseline_times(p.base_at_low)
                ),
                low_numbers,
            );
            return;
        }
        push(
            format!("peak price {key}"),
            format!(
                "${}/kg ({:.1}× start{when}{base_peak}{gap_text}){low}",
                per_kg(p.peak),
                p.times
            ),
            numbers,
        );
    };
    for key in KEY_PRICES {
        if let Some(p) = moves_of(key) {
            price_line(key, p);
        }
    }
    // The others that moved most, up (1.5× or more) or down (to 2/3 or less), or, against
    // a baseline, furthest from it; in a model without world-2024's markets (no key price
    // above), whichever moved most.
    let keyed = KEY_PRICES.iter().any(|k| s.find("price", k).is_some());
    let mut movers: Vec<(String, Move)> = (s.keys("price").into_iter())
        .filter(|k| !KEY_PRICES.contains(k))
        .filter_map(|k| Some((k.to_string(), moves_of(k)?)))
        // Against a baseline, those the levers moved: 1.5× apart from it at some date,
        // however far either moved from its start (Eu oxide falling to 0.4× by itself is
        // no finding of a ban; Gd oxide in China held 1.6× above a falling baseline is).
        .filter(|(_, p)| {
            !keyed
                || match p.from_base {
                    Some(a) => a.size() >= 1.5,
                    None => p.times >= 1.5 || p.low_times <= 1.0 / 1.5,
                }
        })
        .collect();
    // (How far from the baseline where there is one, else from the start.)
    let size = |p: &Move| {
        rank(
            (p.from_base.map(Apart::size))
                .unwrap_or_else(|| p.times.max(1.0 / p.low_times.max(1e-9))),
        )
    };
    movers.sort_by(|a, b| size(&b.1).total_cmp(&size(&a.1)).then(a.0.cmp(&b.0)));
    for (key, p) in movers.into_iter().take(3) {
        price_line(&key, p);
    }
    // Whether a series stood half a point or more from the baseline's at some step (so
    // the levers moved it); any series without a baseline.
    let off_base = |metric: &str, key: &str| {
        let (Some(b), Some(c)) = (base, s.find(metric, key)) else {
            return true;
        };
        let Some(bc) = b.series.find(metric, key) else {
            return true;
        };
        let (run, base) = (s.column(c), b.series.column(bc));
        run.iter().zip(&base).any(|(r, b)| (r - b).abs() >= 0.005)
    };
    let peaks: Vec<(String, f64)> = s
        .keys("shortfall")
        .into_iter()
        .filter(|k| k.contains('/'))
        .filter_map(|k| {
            s.find("shortfall", k)
                .map(|c| (k.to_string(), s.column(c).into_iter().fold(0.0, f64::max)))
        })
        // Under half a percent at its worst is the rounding of a working market (a
        // start-up week), not a finding.
        .filter(|(_, v)| *v >= 0.005)
        .collect();
    // Nor, against a baseline, one the baseline has too (counted, not listed).
    let (mut worst, alike): (Vec<_>, Vec<_>) =
        (peaks.into_iter()).partition(|(k, _)| off_base("shortfall", k));
    worst.sort_by(|a, b| rank(b.1).total_cmp(&rank(a.1)).then(a.0.cmp(&b.0)));
    // A step is a week in the shipped models; a model may set another length.
    let period = match m.step_days {
        7 => "week".to_string(),
        1 => "day".to_string(),
        d => format!("{d}-day step"),
    };
    // When: the first step at its worst, its date, and the baseline's shortfall then; and
    // where it stood furthest from the baseline's, when that was another step (what a
    // scenario kept its users from, against a worse one, is often not at its own peak).
    let first_at = |k: &str, v: f64| {
        let c = s.find("shortfall", k);
        let i = c.and_then(|c| s.column(c).iter().position(|&x| x >= v));
        let date = i.map(|i| s.dates[i].to_string()).unwrap_or_default();
        let gap = (base.zip(c))
            .and_then(|(b, c)| Some((s.column(c), b.series.column(b.series.find("shortfall", k)?))))
            .and_then(|(run, base)| {
                (run.iter().zip(&base).enumerate())
                    .map(|(at, (r, b))| (r - b, at))
                    .reduce(|a, b| if b.0.abs() > a.0.abs() { b } else { a })
            })
            .filter(|&(d, at)| d.abs() >= 0.005 && Some(at) != i);
        let gap = gap.map_or(String::new(), |(d, at)| {
            format!(
                "; {:.1} points {} the baseline on {}",
                d.abs() * 100.0,
                if d > 0.0 { "above" } else { "below" },
                s.dates[at]
            )
        });
        (date, i.and_then(|i| base_at("shortfall", k, i)), gap)
    };
    let base_text =
        |b: Option<f64>| b.map_or(String::new(), |b| format!("; baseline {} then", percent(b)));
    for (k, v) in worst.iter().take(6) {
        let (date, b, gap) = first_at(k, *v);
        let mut numbers = vec![("share", json!(v)), ("date", json!(date))];
        if let Some(b) = b {
            numbers.push(("baseline_share", json!(b)));
        }
        push(
            format!("peak shortfall {k}"),
            format!(
                "{:.1}% ({period} of {date}{}{gap})",
                v * 100.0,
                base_text(b)
            ),
            numbers,
        );
    }
    if let Some(b) = base {
        // What the baseline was short of and the run far less so: what the scenario
        // spared its users (a stockpile against the ban it rides out), up to four.
        let shown: Vec<&str> = worst.iter().take(6).map(|(k, _)| k.as_str()).collect();
        let peak_of = |v: &[f64]| {
            (v.iter().copied().enumerate())
                .fold((0, 0.0), |a, (i, x)| if x > a.1 { (i, x) } else { a })
        };
        let mut spared: Vec<(String, f64, f64, usize)> = (b.series.keys("shortfall").into_iter())
            .filter(|k| k.contains('/') && !shown.contains(k))
            .filter_map(|k| {
                let (at, was) = peak_of(&b.series.column(b.series.find("shortfall", k)?));
                let now = s
                    .find("shortfall", k)
                    .map_or(0.0, |c| peak_of(&s.column(c)).1);
                (was >= 0.005 && now <= was - 0.005).then(|| (k.to_string(), now, was, at))
            })
            .collect();
        spared.sort_by(|a, b| {
            rank(b.2 - b.1)
                .total_cmp(&rank(a.2 - a.1))
                .then(a.0.cmp(&b.0))
        });
        for (k, now, was, at) in spared.into_iter().take(4) {
            let date = s.dates[at].to_string();
            push(
                format!("peak shortfall {k}"),
                format!(
                    "{} at worst; the baseline's {:.1}% ({period} of {date})",
                    percent(now),
                    was * 100.0
                ),
                vec![
                    ("share", json!(now)),
                    ("baseline_share", json!(was)),
                    ("baseline_date", json!(date)),
                ],
            );
        }
    }
    if !alike.is_empty() {
        push(
            "shortfall as in the baseline".into(),
            format!(
                "{} more {} short as in the baseline, within half a point each week (see \
                 baseline.csv)",
                alike.len(),
                if alike.len() == 1 {
                    "region"
                } else {
                    "regions"
                }
            ),
            vec![("regions", json!(alike.len()))],
        );
    }
    // A sector far shorter than its country's users of the form as a whole (a small use
    // the rest of the form's buyers outbid: Gd for US medical imaging at 95% where US oxide
    // users were 8% short): up to two, 10 points or more above its region's peak.
    // (Its peak whether or not it is a headline: one the baseline has too is not.)
    let region_peak = |k: &str| {
        (s.find("shortfall", k)).map_or(0.0, |c| s.column(c).into_iter().fold(0.0, f64::max))
    };
    let mut sectors: Vec<(String, String, f64, f64)> = (m.sectors.iter())
        .filter_map(|sec| {
            let c = s.find("shortfall", &sec.id)?;
            let v = s.column(c).into_iter().fold(0.0, f64::max);
            let region = format!(
                "{}/{}",
                m.forms[sec.material].id, m.countries[sec.country].id
            );
            let whole = region_peak(&region);
            (v >= 0.05 && v >= whole + 0.10 && off_base("shortfall", &sec.id))
                .then(|| (sec.id.clone(), region, v, whole))
        })
        .collect();
    sectors.sort_by(|a, b| rank(b.2).total_cmp(&rank(a.2)).then(a.0.cmp(&b.0)));
    for (k, region, v, whole) in sectors.into_iter().take(2) {
        let (date, b, gap) = first_at(&k, v);
        let mut numbers = vec![
            ("share", json!(v)),
            ("date", json!(date)),
            ("region", json!(region)),
        ];
        if let Some(b) = b {
            numbers.push(("baseline_share", json!(b)));
        }
        push(
            format!("peak shortfall {k}"),
            format!(
                "{:.1}% ({period} of {date}; {region} as a whole {}{}{gap})",
                v * 100.0,
                match whole {
                    w if w < 0.005 => "under 0.5%".to_string(),
                    w => format!("{:.1}%", w * 100.0),
                },
                base_text(b)
            ),
            numbers,
        );
    }
    // Output lost: the six sectors that lost the largest share of their output.
    let years = m.step_days as f64 / 365.25;
    /// A sector's loss: its share of output, the line shown, in units of `unit`, and its
    /// share in the worst twelve months where that says more.
    struct Lost<'a> {
        share: f64,
        id: String,
        text: String,
        units: f64,
        unit: &'a str,
        worst: Option<f64>,
        /// The baseline's share of output lost.
        base: Option<f64>,
    }
    let mut lost: Vec<Lost> = Vec::new();
    // (Sector, the baseline's loss in units and share, its unit, the run's loss.)
    let mut spared: Vec<(String, f64, f64, &str, f64)> = Vec::new();
    let year_steps = m.steps_per_year().round().max(1.0) as usize;
    for (k, sec) in m.sectors.iter().enumerate() {
        if let Some(c) = s.find("output_lost", &sec.id) {
            let v: f64 = s.column(c).iter().sum::<f64>() * years;
            // Of what its demand would have made, growth and shocks included.
            let potential = out.sim.output_potential.get(k).copied().unwrap_or(0.0);
            let share = if potential > 0.0 { v / potential } else { 0.0 };
            // Over a run of years a shock's loss is diluted: its worst twelve months too
            // (the mean shortfall of the sector's use over the worst 52 weeks, which is its
            // share of output lost there but for growth within the year).
            let worst = s
                .find("shortfall", &sec.id)
                .map(|c| s.column(c))
                .filter(|v| v.len() > year_steps + year_steps / 4)
                .map(|v| worst_window_mean(&v, year_steps))
                .filter(|&w| w > share * 1.25 && w >= 0.001);
            // The baseline's share of output lost over the same steps.
            let base_lost = base.and_then(|b| {
                let c = b.series.find("output_lost", &sec.id)?;
                let potential = b.output_potential.get(k).copied().unwrap_or(0.0);
                let v: f64 = b.series.column(c).iter().sum::<f64>() * years;
                Some((v, if potential > 0.0 { v / potential } else { 0.0 }))
            });
            let base_share = base_lost.map(|(_, b)| b);
            // What the baseline lost and the run (almost) none of: spared.
            if let Some((bv, b)) = base_lost.filter(|&(_, b)| b >= 0.0001 && share < 0.0001) {
                spared.push((sec.id.clone(), bv, b, &sec.unit, v));
            }
            // A share of its output, whatever its unit (tonnes, devices, MW), and not one
            // the baseline lost as much of.
            let off = base_share.is_none_or(|b| (share - b).abs() >= 0.0001);
            if share >= 0.0001 && off {
                let worst_text = worst
                    .map(|w| format!(", {} of its use unmet over its worst 12 months", percent(w)))
                    .unwrap_or_default();
                let base_text = base_share
                    .map(|b| format!("; baseline {} of output", percent(b)))
                    .unwrap_or_default();
                lost.push(Lost {
                    share,
                    id: sec.id.clone(),
                    text: format!(
                        "{} {} ({} of output over the run{worst_text}{base_text})",
                        // A small loss keeps two significant figures, not "0 t".
                        if v.abs() < 9.5 {
                            two_figures(v)
                        } else {
                            thousands(v)
                        },
                        sec.unit,
                        percent(share)
                    ),
                    units: v,
                    unit: &sec.unit,
                    worst,
                    base: base_share,
                });
            }
        }
    }
    lost.sort_by(|a, b| {
        rank(b.share)
            .total_cmp(&rank(a.share))
            .then(a.id.cmp(&b.id))
    });
    spared.sort_by(|a, b| rank(b.2).total_cmp(&rank(a.2)).then(a.0.cmp(&b.0)));
    let more = lost.len().saturating_sub(6);
    for Lost {
        share,
        id,
        text,
        units: v,
        unit,
        worst,
        base,
    } in lost.into_iter().take(6)
    {
        let mut numbers = vec![
            ("units", json!(v)),
            ("unit", json!(unit)),
            ("share_of_output", json!(share)),
        ];
        if let Some(w) = worst {
            numbers.push(("share_in_worst_12_months", json!(w)));
        }
        if let Some(b) = base {
            numbers.push(("baseline_share_of_output", json!(b)));
        }
        push(format!("output lost {id}"), text, numbers);
    }
    // Up to four the scenario spared, against a baseline that lost them.
    for (id, bv, b, unit, v) in spared.into_iter().take(4) {
        let figure = |v: f64| match v.abs() < 9.5 {
            true => two_figures(v),
            false => thousands(v),
        };
        push(
            format!("output lost {id}"),
            format!(
                "{} {unit}; the baseline lost {} {unit} ({} of output)",
                figure(v),
                figure(bv),
                percent(b)
            ),
            vec![
                ("units", json!(v)),
                ("unit", json!(unit)),
                ("baseline_units", json!(bv)),
                ("baseline_share_of_output", json!(b)),
            ],
        );
    }
    if more > 0 {
        push(
            "output lost elsewhere".into(),
            format!(
                "{more} more {} (see series.csv, metric output_lost)",
                if more == 1 { "sector" } else { "sectors" }
            ),
            vec![("sectors", json!(more))],
        );
    }
    for (xi, x) in m.countries.iter().enumerate() {
        if let Some(c) = s.find("policy_cost", &x.id) {
            let total = s.column(c);
            let v = total.last().copied().unwrap_or(0.0);
            // A cost that began mid-run reads as its years', not as a mean over the run:
            // each year's, in the line's sense (receipts positive on a receipts line), when
            // there are several.
            let years = by_year(&s.dates, &total);
            let said = |sign: f64| {
                let shown: Vec<String> = (years.iter())
                    .map(|&(y, d)| match d * sign < 0.0 {
                        true => format!("{y} -{}", dollars(-d * sign)),
                        false => format!("{y} {}", dollars(d * sign)),
                    })
                    .collect();
                match shown.len() {
                    0 | 1 => None,
                    _ => Some(shown.join(", ")),
                }
            };
            let by_year_json = json!((years.iter())
                .map(|&(y, d)| json!({ "year": y, "usd": d }))
                .collect::<Vec<_>>());
            if v > 0.0 {
                push(
                    format!("policy cost {}", x.id),
                    match said(1.0) {
                        Some(years) => format!("{} ({years})", dollars(v)),
                        None => dollars(v),
                    },
                    vec![("usd", json!(v)), ("by_year", by_year_json)],
                );
            } else if v < 0.0 {
                // Net of the duty its tariffs collected and what its stockpiles sold (a
                // stockpile put in place and sold off earns more than was spent on it).
                let why = if m.stockpiles.iter().any(|sp| sp.country == xi) {
                    "tariff duties and stockpile sales came to more than it spent; a \
                     stockpile_fill holding costs nothing here"
                } else {
                    "the duty its tariffs collected came to more than it spent"
                };
                let years = said(-1.0).map_or(String::new(), |y| format!("; {y}"));
                push(
                    format!("policy receipts {}", x.id),
                    format!("{} ({why}{years})", dollars(-v)),
                    vec![("usd", json!(v)), ("by_year", by_year_json)],
                );
            }
        }
    }
    h
}

/// A running total's change in each calendar year (each step's change counted in the year
/// the step begins), for the years it changed in by a thousandth of its largest size or
/// more.
fn by_year(dates: &[chokepoint_core::Date], total: &[f64]) -> Vec<(i32, f64)> {
    let mut years: Vec<(i32, f64)> = Vec::new();
    let mut last = 0.0;
    for (d, &v) in dates.iter().zip(total) {
        let y = d.year();
        match years.last_mut() {
            Some((at, sum)) if *at == y => *sum += v - last,
            _ => years.push((y, v - last)),
        }
        last = v;
    }
    let size = total.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
    years.retain(|&(_, d)| d.abs() >= 1e-3 * size && d.abs() >= 1.0);
    years
}

/// A price that sat at one of the model's bounds (`price_max_ratio` or `price_min_ratio`
/// times its start price): its market found no balance there, so the level is the model's
/// cap, not a forecast. Said next to the headlines so nobody quotes it as one. Also a price
/// that rose to `FAR_ABOVE_START` times its start or more without reaching the cap (`bound`
/// "far above start", `ratio` its peak multiple, `from` the peak's date): the model's prices
/// move with how short buyers are and how thin their cover is, so at such multiples they
/// measure a shortage, not what anyone would pay.
pub(crate) struct Pinned {
    key: String,
    bound: &'static str,
    ratio: f64,
    from: String,
    steps: usize,
    /// Separate runs of steps at the bound.
    spells: usize,
}

/// The multiple of its start price from which a price is flagged though below the cap.
const FAR_ABOVE_START: f64 = 10.0;

impl Pinned {
    pub(crate) fn text(&self, step_days: u32) -> String {
        if self.bound == "far above start" {
            return format!(
                "{} rose to {}× its start (peak {}) without reaching the cap: at such multiples \
                 the price measures how short buyers are, not a quote (models/README, known \
                 limits of the price model)",
                self.key,
                tick(self.ratio),
                self.from
            );
        }
        let weeks = self.steps as f64 * step_days as f64 / 7.0;
        let when = if self.spells > 1 {
            format!("in {} spells, the first from {}", self.spells, self.from)
        } else {
            format!("from {}", self.from)
        };
        let weeks = weeks.round();
        let unit = if weeks == 1.0 { "week" } else { "weeks" };
        format!(
            "{} at the model's {}× {} for {} {unit} {when}: no balance there, the level is the cap",
            self.key,
            fmt_num(self.ratio),
            self.bound,
            fmt_num(weeks),
        )
    }
}

/// How many prices sat at the model's ceiling at some time in the run.
pub(crate) fn prices_at_cap(m: &Model, out: &Outcome) -> usize {
    (pinned_by_bound(m, out).iter())
        .filter(|p| p.bound == "ceiling")
        .count()
}

/// summary.json's caveats: each price pinned at a bound, then the one on policy money.
fn caveats_json(m: &Model, out: &Outcome, heads: &[Headline]) -> Vec<serde_json::Value> {
    let pinned = headlines_first(pinned_by_bound(m, out), heads);
    let mut v: Vec<serde_json::Value> = (pinned.iter())
        .map(|p| {
            json!({"series": format!("price[{}]", p.key), "bound": p.bound, "ratio": p.ratio,
                   "from": p.from, "steps": p.steps, "text": p.text(m.step_days)})
        })
        .collect();
    for b in below_input(m, out) {
        v.push(
            json!({"series": format!("price[{}]", b.metal), "bound": "below its oxide",
                      "input": format!("price[{}]", b.oxide), "ratio": b.low, "from": b.at,
                      "steps": b.steps, "text": b.text(m.step_days)}),
        );
    }
    if let Some(c) = money_caveat(heads, &pinned) {
        v.push(json!({"series": "policy_cost", "text": c}));
    }
    v
}

/// Money a government spent or collected is valued at the model's prices, the ones pinned
/// at a bound included: said wherever the figure is (terminal, summary.json, report).
fn money_caveat(heads: &[Headline], pinned: &[Pinned]) -> Option<&'static str> {
    let money = (heads.iter())
        .any(|h| h.label.starts_with("policy cost") || h.label.starts_with("policy receipts"));
    (money && !pinned.is_empty()).then_some(
        "policy costs and receipts are valued at the model's prices, the flagged ones \
         included: read them as a scale, not a sum",
    )
}

/// Prices held at one of the model's bounds, or run far above their start, in the order
/// the summary shows them (see [`headlines_first`]).
pub(crate) fn pinned_prices(m: &Model, out: &Outcome) -> Vec<Pinned> {
    headlines_first(pinned_by_bound(m, out), &headlines(m, out))
}

/// The headline prices' caveats first, so that a headline's caveat is never among those
/// the summary only counts.
fn headlines_first(mut found: Vec<Pinned>, heads: &[Headline]) -> Vec<Pinned> {
    let shown: Vec<&str> = (heads.iter())
        .filter_map(|h| {
            let l = &h.label;
            l.strip_prefix("peak price ")
                .or(l.strip_prefix("low price "))
        })
        .collect();
    // (A stable sort: the bound order within each part.)
    found.sort_by_key(|p| !shown.contains(&p.key.as_str()));
    found
}

/// [`pinned_prices`] at a bound first, then far above start; longest first, then by name.
fn pinned_by_bound(m: &Model, out: &Outcome) -> Vec<Pinned> {
    let s = &out.sim.series;
    // The run's bounds: a scenario may set them (`behaviour`).
    let b = &out.sim.model.behaviour;
    let nc = m.commodities.len();
    let mut found = Vec::new();
    for (mk, market) in m.markets.iter().enumerate() {
        for c in 0..nc {
            let anchor = m.prices[mk * nc + c];
            let key = format!("{market}/{}", m.commodity_name(c));
            let Some(col) = s.find("price", &key).filter(|_| anchor > 0.0) else {
                continue;
            };
            let v = s.column(col);
            let pinned_before = found.len();
            // A bound at 1× is the start price itself: a price resting there (a model whose
            // prices may not fall, or not rise) found its balance, not the model's cap.
            let bounds = [("ceiling", b.price_max_ratio), ("floor", b.price_min_ratio)];
            for (bound, ratio) in bounds.into_iter().filter(|&(_, r)| r != 1.0) {
                // Prices move in log space: at the bound means within rounding of it.
                let lim = anchor * ratio;
                let at = |x: f64| (x / lim - 1.0).abs() <= 1e-9;
                if let Some(first) = v.iter().position(|&x| at(x)) {
                    found.push(Pinned {
                        key: key.clone(),
                        bound,
                        ratio,
                        from: s.dates[first].to_string(),
                        steps: v.iter().filter(|&&x| at(x)).count(),
                        spells: (0..v.len())
                            .filter(|&i| at(v[i]) && (i == 0 || !at(v[i - 1])))
                            .count(),
                    });
                }
            }
            let far = anchor * FAR_ABOVE_START;
            let high = |x: f64| x >= far;
            let peak = (v.iter().copied().enumerate()).reduce(|a, b| if b.1 > a.1 { b } else { a });
            if let Some((at, top)) = peak.filter(|p| high(p.1) && found.len() == pinned_before) {
                found.push(Pinned {
                    key: key.clone(),
                    bound: "far above start",
                    ratio: top / anchor,
                    from: s.dates[at].to_string(),
                    steps: v.iter().filter(|&&x| high(x)).count(),
                    spells: (0..v.len())
                        .filter(|&i| high(v[i]) && (i == 0 || !high(v[i - 1])))
                        .count(),
                });
            }
        }
    }
    let below_cap = |p: &Pinned| p.bound == "far above start";
    found.sort_by(|a, b| {
        (below_cap(a).cmp(&below_cap(b)))
            .then(b.steps.cmp(&a.steps))
            .then(a.key.cmp(&b.key))
    });
    found
}

/// A metal priced below the oxide it is made from, per kg of rare earth, for `steps` steps
/// of the run; at its lowest `low` times the oxide's price (on `at`). No real market holds
/// that for long, but the model's forms of one element follow their own buyers and are
/// pulled together only over about a year (`form_coupling`; models/README, known limits of
/// the price model): the summary says so rather than let a cheap metal read as plenty.
pub(crate) struct BelowInput {
    metal: String,
    oxide: String,
    steps: usize,
    low: f64,
    at: String,
}

/// Why a metal below its oxide is no finding, said once where several are listed.
const BELOW_WHY: &str = "the model couples an element's forms only over about a year, so read \
     the oxide's price as the signal of scarcity (models/README, known limits of the price \
     model)";

impl BelowInput {
    /// The spell alone: which metal, how long, how low.
    fn spell(&self, step_days: u32) -> String {
        let weeks = (self.steps as f64 * step_days as f64 / 7.0).round();
        let unit = if weeks == 1.0 { "week" } else { "weeks" };
        format!(
            "{} below {} (per kg of rare earth) for {} {unit}, at its lowest {}× the oxide's \
             price ({})",
            self.metal,
            self.oxide,
            fmt_num(weeks),
            tick(self.low),
            self.at
        )
    }

    pub(crate) fn text(&self, step_days: u32) -> String {
        format!("{}: {BELOW_WHY}", self.spell(step_days))
    }
}

/// Every metal priced below its own oxide at some step: for each recipe that makes a
/// single-element form from another (a metal from its oxide), element by element, in each
/// market; most steps first, then by name.
pub(crate) fn below_input(m: &Model, out: &Outcome) -> Vec<BelowInput> {
    let s = &out.sim.series;
    let mut found: Vec<BelowInput> = Vec::new();
    for r in &m.recipes {
        let (fi, fo) = (r.input, r.output);
        if m.forms[fi].mixed || m.forms[fo].mixed {
            continue;
        }
        let (re_in, re_out) = (m.forms[fi].re_share, m.forms[fo].re_share);
        for e in (0..r.composition.len()).filter(|&e| r.composition[e] > 0.0) {
            for market in &m.markets {
                let key = |f| format!("{market}/{}", m.commodity_name(m.commodity(f, Some(e))));
                let (metal, oxide) = (key(fo), key(fi));
                if found.iter().any(|b| b.metal == metal) {
                    continue;
                }
                let (Some(a), Some(b)) = (s.find("price", &metal), s.find("price", &oxide)) else {
                    continue;
                };
                let (pm, po) = (s.column(a), s.column(b));
                let ratio = |t: usize| (pm[t] / re_out) / (po[t] / re_in);
                let below: Vec<usize> = (0..pm.len().min(po.len()))
                    .filter(|&t| po[t] > 0.0 && ratio(t) < 1.0 - 1e-9)
                    .collect();
                let lowest = below
                    .iter()
                    .copied()
                    .reduce(|x, y| if ratio(y) < ratio(x) { y } else { x });
                if let Some(t) = lowest {
                    found.push(BelowInput {
                        metal,
                        oxide,
                        steps: below.len(),
                        low: ratio(t),
                        at: s.dates[t].to_string(),
                    });
                }
            }
        }
    }
    found.sort_by(|a, b| b.steps.cmp(&a.steps).then(a.metal.cmp(&b.metal)));
    found
}

/// The summary's one line on metals below their oxide: the longest, and how many more.
fn below_input_line(found: &[BelowInput], step_days: u32) -> Option<String> {
    let first = found.first()?;
    let more = match found.len() - 1 {
        0 => String::new(),
        1 => "; 1 more metal (see summary.json, caveats)".to_string(),
        n => format!("; {n} more metals (see summary.json, caveats)"),
    };
    Some(format!("{}{more}", first.text(step_days)))
}

/// The model file's policies as the run had them: from the step their dates fall in, and
/// ended where a lever lifted them (the run's copy comes first in its list, in order).
/// The levers a run pulled, one row each (date, lever, what it did), or nothing.
pub(crate) fn levers_table(out: &Outcome) -> String {
    let mut o = String::new();
    if !out.levers.is_empty() {
        o.push_str("<table class=\"levers\">");
        for (k, l) in out.levers.iter().enumerate() {
            let _ = write!(
                o,
                "<tr><td class=\"num\">{}</td><td class=\"date\">{}</td><td class=\"name\">{}</td><td>{}</td></tr>",
                k + 1,
                l.date,
                esc(&l.name),
                esc(&l.summary)
            );
        }
        o.push_str("</table>");
    }
    o
}

pub(crate) fn model_policies(m: &Model, out: &Outcome) -> Vec<String> {
    (m.policies.iter().enumerate())
        .map(|(i, p)| {
            let ran = out.sim.policies.get(i).filter(|r| {
                r.kind.name() == p.kind.name() && r.label == p.label && r.exporter == p.exporter
            });
            ran.unwrap_or(p).describe(m)
        })
        .collect()
}

/// What a headline's baseline figure is.
const BASELINE: &str = "the same model (its own policies too), dates, seed and behaviour(), \
     without the script's levers (\"then\": at the headline's date)";

/// What a run's baseline was, where it had one.
fn baseline_said(out: &Outcome) -> Option<String> {
    out.baseline.as_ref()?;
    Some(match &out.baseline_script {
        None => BASELINE.to_string(),
        Some(p) => format!(
            "the scenario {} on the same model, dates, seed and --set values (\"then\": at the \
             headline's date)",
            p.display()
        ),
    })
}

pub fn summary_text(sc: &Scenario, m: &Model, out: &Outcome) -> String {
    let mut o = String::new();
    let title = sc.title().unwrap_or_else(|| sc.path.display().to_string());
    let _ = writeln!(o, "{title}");
    let _ = writeln!(
        o,
        "  model {} | {} to {} | {} lever{} pulled",
        m.name,
        m.start,
        out.sim.last_date(),
        out.levers.len(),
        if out.levers.len() == 1 { "" } else { "s" }
    );
    // Policies the model file sets are levers too, pulled by the model, not the script.
    for p in model_policies(m, out) {
        let _ = writeln!(o, "  {:<38} {p}", "model policy");
    }
    if out.baseline.is_some() {
        let _ = writeln!(
            o,
            "  {:<38} {}",
            "baseline",
            baseline_said(out).unwrap_or_default()
        );
    }
    let heads = headlines(m, out);
    for h in &heads {
        let _ = writeln!(o, "  {:<38} {}", h.label, h.value);
    }
    let pinned = headlines_first(pinned_by_bound(m, out), &heads);
    for p in pinned.iter().take(4) {
        let _ = writeln!(o, "  {:<38} {}", "caveat", p.text(m.step_days));
    }
    if pinned.len() > 4 {
        let _ = writeln!(
            o,
            "  {:<38} {} more {} (see summary.json, caveats)",
            "caveat",
            pinned.len() - 4,
            if pinned.len() == 5 { "price" } else { "prices" }
        );
    }
    if let Some(line) = below_input_line(&below_input(m, out), m.step_days) {
        let _ = writeln!(o, "  {:<38} {line}", "caveat");
    }
    if let Some(c) = money_caveat(&heads, &pinned) {
        let _ = writeln!(o, "  {:<38} {c}", "caveat");
    }
    let n = out.expectations.len();
    let failed = out.failed();
    if n == 0 {
        let _ = writeln!(o, "  expectations: {NONE_STATED}");
    } else {
        let _ = writeln!(
            o,
            "  expectations: {} passed, {} failed",
            n - failed,
            failed
        );
    }
    for e in &out.expectations {
        if !e.passed {
            let _ = writeln!(
                o,
                "    FAILED {}: {}",
                e.place(),
                stated(&e.message, &e.detail)
            );
        }
    }
    o
}

/// How much of what a script printed its report shows: lines, and bytes in all.
const PRINTED_SHOWN: (usize, usize) = (1000, 1 << 20);

/// What the levers noted as they were pulled (a listing that moves no flow, a facility not
/// built), without the `note: ` the terminal shows.
pub(crate) fn notes(out: &Outcome) -> Vec<String> {
    (out.output.iter())
        .filter_map(|l| l.strip_prefix("note: "))
        .map(str::to_string)
        .collect()
}

/// A failed expectation as one line: its message, then what was found (`Dy near 300:
/// 247.3 vs 300 ± 5%`), the two set apart.
pub fn stated(message: &str, detail: &str) -> String {
    match detail.trim() {
        "" => one_line(message),
        d => format!("{}: {}", one_line(message), one_line(d)),
    }
}

/// summary.json: what ran (with the seed, parameters and the series.csv resolution that
/// repeat it), its headlines, caveats, levers and expectations.
pub fn summary_json(sc: &Scenario, m: &Model, out: &Outcome, resolution: &str) -> String {
    let heads = headlines(m, out);
    let v = json!({
        "scenario": sc.path.display().to_string(),
        // (One that did not finish says `false`, and why: `write::begin`.)
        "finished": true,
        "title": sc.title(),
        // The script with the modules it imports, as sweep.json digests it: which text ran.
        "script_digest": crate::sweep::digest(sc.full_source().as_bytes()),
        "model": m.name,
        "model_digest": crate::sweep::model_digest(m),
        "start": m.start.to_string(),
        "end": out.sim.last_date().to_string(),
        "seed": out.sim.seed,
        "params": out.params,
        "resolution": resolution,
        // (None for a run none of whose levers acted, it is its own baseline, or one run
        // with `--baseline none`.)
        "baseline": out.baseline.as_deref().map(|b| json!({
            "description": baseline_said(out),
            "script": out.baseline_script.as_ref().map(|p| p.display().to_string()),
            "script_digest": out.baseline_source.as_ref().map(|t| crate::sweep::digest(t.as_bytes())),
            "seed": b.seed,
            // (Of the model with no levers; another scenario's is its own.)
            "levers_left_out": out.baseline_script.is_none().then(|| out.left_out().count()),
            "series": "baseline.csv",
        })),
        "headlines": heads.iter().map(|h| {
            let mut o = json!({"label": h.label, "value": h.value});
            for (k, v) in &h.numbers {
                o[*k] = v.clone();
            }
            o
        }).collect::<Vec<_>>(),
        "caveats": caveats_json(m, out, &heads),
        "levers": out.levers.iter().map(|l| json!({"date": l.date.to_string(), "lever": l.name, "what": l.summary})).collect::<Vec<_>>(),
        "model_policies": model_policies(m, out),
        "expectations": out.expectations.iter().map(|e| json!({"message": e.message, "passed": e.passed, "detail": e.detail, "line": e.line, "module": e.module})).collect::<Vec<_>>(),
        "warnings": out.warnings,
        "notes": notes(out),
        // Nothing to pass with nothing stated: null, not a vacuous true.
        "passed": if out.expectations.is_empty() { serde_json::Value::Null } else { json!(out.failed() == 0) },
    });
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

/// Text made safe for HTML and XML: markup characters escaped, and the characters XML 1.0
/// cannot hold at all (most control characters, U+FFFE, U+FFFF) shown as U+FFFD.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\t' | '\n' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

/// Line colours, told apart from one another and each dark enough to read on white.
/// (Ten: a prices chart draws up to nine lines, the ninth was the first's colour again.)
const COLORS: [&str; 10] = [
    "#1b6ca8", "#c0392b", "#2e7d32", "#8e44ad", "#b35900", "#00838f", "#5d4037", "#455a64",
    "#ad1457", "#827717",
];

/// A chart axis label: three significant figures at most, with k, M or G for thousands,
/// millions and billions (6.04M, not 6037494.75, which also overflows the margin).
pub fn tick(v: f64) -> String {
    let a = v.abs();
    if a >= 1e12 {
        return format!("{v:.1e}");
    }
    let (x, suffix) = match a {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e4 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let digits = match x.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 0.01 || a == 0.0 => 2,
        _ => 4,
    };
    let text = format!("{x:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    let text = if text == "-0" { "0" } else { text };
    format!("{text}{suffix}")
}

/// The vertical range a chart of `values` needs: from the lowest to the highest, always
/// including 0 (so a series that goes negative, a net receipt, say, is drawn in full).
pub fn y_range<'a>(values: impl IntoIterator<Item = &'a f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for &v in values {
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if hi - lo <= 0.0 {
        hi = lo + 1.0;
    }
    (lo, hi)
}

/// Round tick values spanning `lo..hi`: a step of 1, 2, 2.5 or 5 times a power of ten,
/// about `n` steps, from a multiple of it at or below `lo` to one at or above `hi`.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let range = (hi - lo).abs().max(1e-12);
    let raw = range / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|f| f * mag)
        .find(|&st| st >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag);
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    (first..=last.max(first + 1))
        .map(|k| {
            let v = k as f64 * step;
            // 0.30000000000000004 is 0.3.
            let places = (-(step.log10().floor()) + 2.0).clamp(0.0, 15.0) as i32;
            let scale = 10f64.powi(places);
            let v = (v * scale).round() / scale;
            if v == 0.0 {
                0.0
            } else {
                v
            }
        })
        .collect()
}

/// A tick label for a value on an axis whose ticks are `step` apart: as many decimals as
/// the step needs, so neighbours never print alike (0.0001, 0.0002; not 0.0001 twice).
pub fn tick_at(v: f64, step: f64) -> String {
    if v.abs() >= 1e4 || step >= 1.0 {
        return tick(v);
    }
    let decimals = (-(step.log10().floor())).max(0.0) as usize
        + usize::from((step / 10f64.powf(step.log10().floor()) - 2.5).abs() < 1e-9);
    let text = format!("{v:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" {
        "0".into()
    } else {
        text
    }
}

/// Ticks for a log axis over `lo..hi` (both above 0): 1, 2 and 5 times powers of ten, or
/// the powers alone when the range is wide.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let steps: &[f64] = if b - a > 4 { &[1.0] } else { &[1.0, 2.0, 5.0] };
    let mut out = Vec::new();
    for e in a..=b {
        for &f in steps {
            let v = f * 10f64.powi(e);
            if v >= lo * 0.999 && v <= hi * 1.001 {
                out.push(v);
            }
        }
    }
    out
}

/// The dates to mark on a time axis, as (index into `dates`, label): the first step of each
/// year over a long run; of each quarter (labelled year-month) over one of two years or less.
pub fn date_ticks(dates: &[Date]) -> Vec<(usize, String)> {
    let (Some(first), Some(last)) = (dates.first(), dates.last()) else {
        return Vec::new();
    };
    let quarters = last.days() - first.days() <= 2 * 366;
    let mut out = Vec::new();
    let mut prev: Option<(i32, u32)> = None;
    for (i, d) in dates.iter().enumerate() {
        let (y, m, _) = d.ymd();
        let key = if quarters { (y, (m - 1) / 3) } else { (y, 0) };
        if prev != Some(key) {
            if prev.is_some() || i == 0 {
                let label = if quarters {
                    format!("{y}-{:02}", (m - 1) / 3 * 3 + 1)
                } else {
                    y.to_string()
                };
                out.push((i, label));
            }
            prev = Some(key);
        }
    }
    out
}

/// The date marks under a time axis at height `axis`: a tick at each of `date_ticks`,
/// placed by `x` (an index into `dates`), each label clear of the last.
fn date_marks_svg(dates: &[Date], x: impl Fn(usize) -> f64, axis: f64) -> String {
    let mut o = String::new();
    let mut last_x = f64::MIN;
    for (i, label) in date_ticks(dates) {
        let xi = x(i);
        let _ = write!(
            o,
            r##"<line x1="{xi:.1}" y1="{axis}" x2="{xi:.1}" y2="{}" stroke="#bbb"/>"##,
            axis + 4.0
        );
        if xi - last_x >= 44.0 {
            let _ = write!(
                o,
                r##"<text x="{xi:.1}" y="{}" font-size="10" text-anchor="middle" fill="#444">{label}</text>"##,
                axis + 15.0
            );
            last_x = xi;
        }
    }
    o
}

/// How a chart's vertical axis is drawn.
#[derive(Clone, Copy, PartialEq)]
enum Scale {
    Linear,
    /// Logarithmic when every value is above 0 and they span a factor of 8 or more
    /// (prices as multiples of their start: 0.5× and 40× on one axis).
    LogIfWide,
}

/// A linear axis for `values`: round ticks from a multiple of their step at or below the
/// lowest value (0 at most) to one at or above the highest, and those two ends.
pub fn y_axis<'a>(values: impl IntoIterator<Item = &'a f64>) -> (Vec<f64>, f64, f64) {
    let (lo, hi) = y_range(values);
    let ticks = nice_ticks(lo, hi, 4);
    let (a, z) = (ticks[0], ticks[ticks.len() - 1]);
    (ticks, a, z)
}

/// Tick marks and labels for a vertical axis: a light rule across the plot at each tick
/// (darker at 0), its label left of the plot. `y` places a value; the plot spans `l..right`.
pub fn y_ticks_svg(ticks: &[f64], y: impl Fn(f64) -> f64, l: f64, right: f64) -> String {
    let step = if ticks.len() > 1 {
        ticks[1] - ticks[0]
    } else {
        1.0
    };
    let mut o = String::new();
    for &v in ticks {
        let _ = write!(
            o,
            r##"<line x1="{l}" y1="{yv:.1}" x2="{right}" y2="{yv:.1}" stroke="{}"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end" fill="#444">{}</text>"##,
            if v == 0.0 { "#999" } else { "#eee" },
            l - 4.0,
            y(v) + 3.0,
            tick_at(v, step),
            yv = y(v),
        );
    }
    o
}

/// A line chart of several series (one value per step of `dates`) as an inline SVG: round
/// ticks, the years (or quarters) marked, each line keyed by a swatch in its colour.
fn svg_chart(
    title: &str,
    unit: &str,
    dates: &[Date],
    lines: &[(String, Vec<f64>)],
    scale: Scale,
) -> String {
    let (w, h, l, r, t, b) = (640.0, 260.0, 60.0, 170.0, 28.0, 30.0);
    let n = dates.len().max(2);
    let finite = || {
        lines
            .iter()
            .flat_map(|(_, v)| v)
            .copied()
            .filter(|v| v.is_finite())
    };
    let (min, max) = finite().fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let log = scale == Scale::LogIfWide && min > 0.0 && max / min >= 8.0;
    let (ticks, lo, hi) = if log {
        let (lo, mut hi) = (min * 0.9, max * 1.1);
        // The axis reaches a labelled tick above the highest line (a price at the 40× cap
        // under a top label of 20 could not be read off it).
        let mut ticks = log_ticks(lo, hi);
        if ticks.last().is_some_and(|&t| t < max) {
            let wide = hi.log10().ceil() - lo.log10().floor() > 4.0;
            let steps: &[f64] = if wide { &[1.0] } else { &[1.0, 2.0, 5.0] };
            let e = max.log10().floor() as i32;
            let next = (e..=e + 1)
                .flat_map(|e| steps.iter().map(move |f| f * 10f64.powi(e)))
                .find(|&v| v >= max);
            if let Some(v) = next {
                ticks.push(v);
                hi = v * 1.02;
            }
        }
        (ticks, lo, hi)
    } else {
        y_axis(lines.iter().flat_map(|(_, v)| v))
    };
    let step = if ticks.len() > 1 {
        ticks[1] - ticks[0]
    } else {
        1.0
    };
    let x = |i: usize| l + (w - l - r) * i as f64 / (n - 1) as f64;
    let y = |v: f64| {
        let f = if log {
            (v.max(lo).ln() - lo.ln()) / (hi.ln() - lo.ln())
        } else {
            (v - lo) / (hi - lo)
        };
        t + (h - t - b) * (1.0 - f)
    };
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}: {}">"#,
        esc(title),
        esc(&lines
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(", "))
    );
    let _ = write!(
        o,
        r#"<text x="{l}" y="16" font-size="13" font-weight="bold">{} ({}{})</text>"#,
        esc(title),
        esc(unit),
        if log { ", log scale" } else { "" }
    );
    for &v in &ticks {
        let _ = write!(
            o,
            r##"<line x1="{l}" y1="{yv:.1}" x2="{}" y2="{yv:.1}" stroke="{}"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end" fill="#444">{}</text>"##,
            w - r,
            if v == 0.0 || (log && v == 1.0) {
                "#999"
            } else {
                "#eee"
            },
            l - 4.0,
            y(v) + 3.0,
            if log { tick(v) } else { tick_at(v, step) },
            yv = y(v),
        );
    }
    // Date marks, each label clear of the last.
    o.push_str(&date_marks_svg(dates, x, h - b));
    for (k, (name, values)) in lines.iter().enumerate() {
        let col = COLORS[k % COLORS.len()];
        // Lines past the fourth are dashed: lines that lie on one another stay told apart.
        let dash = if k >= 4 {
            r#" stroke-dasharray="6 3""#
        } else {
            ""
        };
        let pts: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = write!(
            o,
            r#"<polyline fill="none" stroke="{col}" stroke-width="1.8"{dash} points="{}"/>"#,
            pts.join(" ")
        );
        // A run of one step has one value: a line through one point draws nothing.
        if let [v] = values.as_slice() {
            let _ = write!(
                o,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{col}"/>"#,
                x(0),
                y(*v)
            );
        }
        let ly = t + 14.0 * k as f64 + 8.0;
        let shown = legend_label(name);
        let _ = write!(
            o,
            r##"<line x1="{}" y1="{:.1}" x2="{}" y2="{:.1}" stroke="{col}" stroke-width="3"{dash}/><text x="{}" y="{ly}" font-size="11" fill="#222"><title>{}</title>{}</text>"##,
            w - r + 6.0,
            ly - 4.0,
            w - r + 22.0,
            ly - 4.0,
            w - r + 26.0,
            esc(name),
            esc(&shown)
        );
    }
    o.push_str("</svg>");
    o
}

/// A legend entry in its room (~22 characters of the chart's right margin; 24 ran past the
/// SVG's edge: review 2026-12-02), whole in its tooltip. Two keys drawn as one line say
/// their shared part once (`ROW = CN/magnet:NdFeB`, `auto-catalysts-de = -us`), or the
/// cut would keep only the second; a name still too long is cut, its end kept, where keys
/// differ (`…/oxide:Dy`).
fn legend_label(name: &str) -> String {
    const ROOM: usize = 22;
    let mut shown = name.to_string();
    if let Some((a, rest)) = name.split_once(" = ") {
        let (b, more) = match rest.rsplit_once(" (+") {
            Some((b, n)) => (b, format!(" (+{n}")),
            None => (rest, String::new()),
        };
        let suffix = match (a.split_once('/'), b.split_once('/')) {
            (Some((pa, ta)), Some((pb, tb))) if ta == tb => Some(format!("{pa} = {pb}/{ta}{more}")),
            _ => None,
        };
        let prefix = |sep: char| match (a.rsplit_once(sep), b.rsplit_once(sep)) {
            (Some((pa, _)), Some((pb, tb))) if pa == pb => Some(format!("{a} = {sep}{tb}{more}")),
            _ => None,
        };
        if let Some(short) = suffix.or_else(|| prefix('/')).or_else(|| prefix('-')) {
            shown = short;
        }
    }
    let n = shown.chars().count();
    if n > ROOM {
        let tail: String = shown.chars().skip(n - (ROOM - 1)).collect();
        format!("…{tail}")
    } else {
        shown
    }
}

/// Up to `limit` of the metric's series for `keys` that are not all zero, largest peak
/// (up or down) first, with their values.
fn pick(s: &Series, metric: &str, keys: &[String], limit: usize) -> Vec<(String, Vec<f64>)> {
    // A shortfall under half a percent at its worst is the rounding of a working market (a
    // start-up week), as the headlines have it: not drawn as a spike on an axis scaled to it.
    let floor = if metric == "shortfall" { 0.005 } else { 0.0 };
    let mut v: Vec<(String, Vec<f64>, f64)> = keys
        .iter()
        .filter_map(|k| {
            s.find(metric, k).map(|c| {
                let values = s.column(c);
                let peak = values.iter().fold(0.0, |a: f64, v| a.max(v.abs()));
                (k.clone(), values, peak)
            })
        })
        .filter(|x| x.2 > 0.0 && x.2 >= floor)
        .collect();
    v.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    one_line_each(v.into_iter().take(limit).map(|(k, c, _)| (k, c)))
}

/// Series that are one line (two countries' dependency at 1 throughout; a freely traded
/// good's price in China and outside it) drawn once, under both names: drawn apart, the
/// last would hide the first, whose legend entry would have no line to point at.
fn one_line_each(series: impl Iterator<Item = (String, Vec<f64>)>) -> Vec<(String, Vec<f64>)> {
    let mut lines: Vec<(String, Vec<f64>, usize)> = Vec::new();
    for (k, c) in series {
        match lines.iter_mut().find(|l| l.1 == c) {
            Some(l) if l.2 == 1 => (l.0, l.2) = (format!("{} = {k}", l.0), 2),
            Some(l) => l.2 += 1,
            None => lines.push((k, c, 1)),
        }
    }
    (lines.into_iter())
        .map(|(k, c, n)| match n {
            n if n > 2 => (format!("{k} (+{})", n - 2), c),
            _ => (k, c),
        })
        .collect()
}

/// One self-contained page: headline findings, charts, levers, the scenario's source.
pub fn html(sc: &Scenario, m: &Model, out: &Outcome, resolution: Resolution) -> String {
    let s = &out.sim.series;
    let title = sc.title().unwrap_or_else(|| sc.path.display().to_string());
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>",
        esc(&title)
    );
    o.push_str("<style>body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left;overflow-wrap:anywhere}.fail{color:#b00}.pass{color:#070}pre{background:#f6f6f6;padding:1em;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere}figure{margin:1em 0}td.date,td.place,td.pass,td.fail,td.name,td.label,td.num{white-space:nowrap}</style></head><body>");
    let _ = write!(
        o,
        "<h1>{}</h1><p>Model <b>{}</b> (digest {}), {} to {}. Scenario <code>{}</code>.</p>",
        esc(&title),
        esc(&m.title),
        crate::sweep::model_digest(m),
        m.start,
        out.sim.last_date(),
        esc(&sc.path.display().to_string())
    );
    // What the run used, so the page says how to repeat it (the source below shows the
    // defaults, not values given with --set).
    let params: Vec<String> = (out.params.iter())
        .map(|(k, v)| format!("{} = {}", esc(k), chokepoint_core::series::fmt_num(*v)))
        .collect();
    let _ = write!(
        o,
        "<p>{}Seed {}.</p>",
        if params.is_empty() {
            String::new()
        } else {
            format!("Parameters: {}. ", params.join(", "))
        },
        out.sim.seed
    );
    // Whether the scenario held, before any figure: a failed expectation is what a reader
    // of a CI run's page must see first (it was ~1,300 px down: review 2026-12-02).
    let failed = out.failed();
    let stated = out.expectations.len();
    let _ = match (stated, failed) {
        (0, _) => write!(o, "<p>Expectations: {}</p>", esc(NONE_STATED)),
        (n, 0) => write!(
            o,
            "<p class=\"pass\"><b>Expectations: all {n} passed</b> (<a href=\"#expectations\">listed below</a>).</p>"
        ),
        (n, f) => write!(
            o,
            "<p class=\"fail\"><b>Expectations: {f} of {n} FAILED</b> (<a href=\"#expectations\">listed below</a>).</p>"
        ),
    };
    o.push_str("<h2>Headline findings</h2>");
    if out.baseline.is_some() {
        let _ = write!(
            o,
            "<p>Baseline: {}.</p>",
            esc(&baseline_said(out).unwrap_or_default())
        );
    }
    o.push_str("<table>");
    let heads = headlines(m, out);
    for h in &heads {
        let _ = write!(
            o,
            "<tr><td class=\"label\">{}</td><td>{}</td></tr>",
            esc(&h.label),
            esc(&h.value)
        );
    }
    o.push_str("</table>");
    let pinned = headlines_first(pinned_by_bound(m, out), &heads);
    let below = below_input(m, out);
    if !pinned.is_empty() || !below.is_empty() {
        o.push_str("<h2>Caveats</h2><ul>");
        for p in &pinned {
            let _ = write!(o, "<li>{}</li>", esc(&p.text(m.step_days)));
        }
        // Each spell, and why it is no finding once (it ran eight times over in the 2010
        // replay's list).
        match below.as_slice() {
            [one] => {
                let _ = write!(o, "<li>{}</li>", esc(&one.text(m.step_days)));
            }
            many => {
                for b in many {
                    let _ = write!(o, "<li>{}</li>", esc(&b.spell(m.step_days)));
                }
                if !many.is_empty() {
                    let _ = write!(o, "<li>Metals below their oxide: {}</li>", esc(BELOW_WHY));
                }
            }
        }
        if let Some(c) = money_caveat(&heads, &pinned) {
            let _ = write!(o, "<li>{}</li>", esc(c));
        }
        o.push_str("</ul>");
    }
    let (warnings, notes) = (&out.warnings, notes(out));
    if !warnings.is_empty() || !notes.is_empty() {
        o.push_str("<h2>Notes</h2><ul>");
        for w in warnings {
            let _ = write!(o, "<li>warning: {}</li>", esc(w));
        }
        // Under the heading, a note needs no "note:" of its own.
        for n in &notes {
            let _ = write!(o, "<li>{}</li>", esc(n));
        }
        o.push_str("</ul>");
    }
    // What the script printed (its own figures: "recycling outside China: 2,438 t/yr"), as
    // the terminal showed it, the first thousand lines.
    let printed: Vec<&String> = (out.output.iter())
        .filter(|l| !l.starts_with("note: "))
        .collect();
    if !printed.is_empty() {
        o.push_str("<h2>What the script printed</h2><pre>");
        let (mut shown, mut bytes) = (0, 0);
        for l in printed.iter().take(PRINTED_SHOWN.0) {
            bytes += l.len();
            if bytes > PRINTED_SHOWN.1 {
                break;
            }
            let _ = writeln!(o, "{}", esc(l));
            shown += 1;
        }
        o.push_str("</pre>");
        if printed.len() > shown {
            let _ = write!(
                o,
                "<p>and {} more lines (the terminal showed them)</p>",
                printed.len() - shown
            );
        }
    }
    o.push_str("<h2 id=\"expectations\">Expectations</h2>");
    if out.expectations.is_empty() {
        let _ = write!(o, "<p>{}</p>", esc(NONE_STATED));
    }
    o.push_str("<table>");
    for e in &out.expectations {
        let (cls, word) = if e.passed {
            ("pass", "passed")
        } else {
            ("fail", "FAILED")
        };
        let _ = write!(
            o,
            "<tr><td class=\"{cls}\">{word}</td><td class=\"place\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&e.place()),
            esc(&e.message),
            esc(&e.detail)
        );
    }
    o.push_str("</table><h2>Charts</h2>");
    // The file beside the page may hold monthly means: say which the charts plot, or a
    // reader checking a chart's peak against series.csv finds them apart (review).
    let file = match resolution {
        Resolution::Step => "each step's value too",
        Resolution::Month => {
            "their monthly means (the run's --resolution), so a peak there can read lower"
        }
        Resolution::Year => {
            "their yearly means (the run's --resolution), so a peak there can read lower"
        }
    };
    o.push_str(&format!(
        "<p>Every chart plots each step's value (a week's, in the shipped models), as the \
         headline figures read them; series.csv beside this page holds {file}.</p>"
    ));
    // Prices as multiples of their start so dear and cheap elements share an axis: the
    // magnet chain's key prices, and the two others that moved most (up or down).
    let as_multiple = |k: &str, v: &[f64]| -> Vec<f64> {
        let start = start_price(m, k)
            .or(v.iter().copied().find(|&p| p > 0.0))
            .unwrap_or(1.0);
        v.iter().map(|p| p / start).collect()
    };
    let key_prices = [
        "ROW/oxide:Dy",
        "ROW/oxide:Tb",
        "ROW/oxide:Nd",
        "ROW/magnet:NdFeB",
        "CN/oxide:Dy",
        "CN/magnet:NdFeB",
    ];
    let mut price_lines: Vec<(String, Vec<f64>)> = (key_prices.iter())
        .filter_map(|k| {
            Some((
                k.to_string(),
                as_multiple(k, &s.column(s.find("price", k)?)),
            ))
        })
        .collect();
    // The other prices the headlines name (those that moved most, or, against a baseline,
    // furthest from it) are drawn with the key prices. In a model without world-2024's
    // markets none of the key prices is there: its prices that moved most stand in for
    // them, whatever their move.
    let named: Vec<&str> = (heads.iter())
        .filter_map(|h| {
            let l = &h.label;
            l.strip_prefix("peak price ")
                .or(l.strip_prefix("low price "))
        })
        .filter(|k| !key_prices.contains(k))
        .collect();
    let size = |v: &[f64]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
        hi.max(1.0 / lo.max(1e-9))
    };
    if price_lines.is_empty() {
        let mut movers: Vec<(String, Vec<f64>)> = (s.keys("price").into_iter())
            .filter_map(|k| {
                Some((
                    k.to_string(),
                    as_multiple(k, &s.column(s.find("price", k)?)),
                ))
            })
            .collect();
        movers.sort_by(|a, b| size(&b.1).total_cmp(&size(&a.1)).then(a.0.cmp(&b.0)));
        price_lines.extend(movers.into_iter().take(5));
    } else {
        price_lines.extend(named.iter().filter_map(|k| {
            Some((
                k.to_string(),
                as_multiple(k, &s.column(s.find("price", k)?)),
            ))
        }));
    }
    // Against the baseline: each drawn price over the baseline's at the same date, what
    // the levers did to it (the model's own drift divided out).
    let against_base: Vec<(String, Vec<f64>)> = match out.baseline.as_deref() {
        Some(b) => (price_lines.iter())
            .filter_map(|(k, _)| {
                let run = s.column(s.find("price", k)?);
                let base = b.series.column(b.series.find("price", k)?);
                let ratio = (run.iter().zip(&base))
                    .map(|(r, b)| if *b > 0.0 { r / b } else { 1.0 })
                    .collect();
                Some((k.clone(), ratio))
            })
            .collect(),
        None => Vec::new(),
    };
    let mut charts = vec![(
        "Prices".to_string(),
        "multiple of their start price".to_string(),
        one_line_each(price_lines.into_iter()),
        Scale::LogIfWide,
    )];
    if !against_base.is_empty() {
        charts.push((
            "Prices against the baseline".to_string(),
            "ratio to the baseline's price then".to_string(),
            one_line_each(against_base.into_iter()),
            Scale::LogIfWide,
        ));
    }
    let region_keys: Vec<String> = s
        .keys("shortfall")
        .into_iter()
        .filter(|k| k.contains('/'))
        .map(str::to_string)
        .collect();
    charts.push((
        "Shortfall by region".into(),
        "share of need".into(),
        pick(s, "shortfall", &region_keys, 8),
        Scale::Linear,
    ));
    // Sectors count output in their own units (vehicles, devices, t): as a share of what
    // they would have made, which is their shortfall of need, they share an axis.
    let lost_keys: Vec<String> = m.sectors.iter().map(|x| x.id.clone()).collect();
    charts.push((
        "Output lost by sector".into(),
        "share of its output".into(),
        pick(s, "shortfall", &lost_keys, 8),
        Scale::Linear,
    ));
    // Dependency where it matters most: the three largest users outside the chain's main
    // supplier, at the stages whose inputs they buy (not every small plant, all of whose
    // feed is imported).
    let capacity = |k: usize| -> f64 {
        (m.facilities.iter())
            .filter(|f| f.country == k)
            .map(|f| f.capacity)
            .sum()
    };
    // The country with the most capacity (China in the shipped worlds).
    let supplier = (0..m.countries.len()).max_by(|&a, &b| capacity(a).total_cmp(&capacity(b)));
    let mut users: Vec<(f64, &str)> = (m.countries.iter().enumerate())
        // Not the supplier; nor a residual of "other countries".
        .filter(|&(k, x)| Some(k) != supplier && !x.name.to_lowercase().starts_with("other"))
        .map(|(k, x)| {
            let demand: f64 = (m.sectors.iter())
                .filter(|sec| sec.country == k)
                .map(|sec| sec.demand)
                .sum();
            (demand, x.id.as_str())
        })
        .filter(|(d, _)| *d > 0.0)
        .collect();
    users.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let dep_keys: Vec<String> = (users.iter().take(3))
        .flat_map(|(_, x)| m.stages.iter().map(move |st| format!("{st}/{x}")))
        .collect();
    charts.push((
        format!(
            "Import dependency of {}",
            users
                .iter()
                .take(3)
                .map(|u| u.1)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "share of a stage's inputs bought abroad".into(),
        pick(s, "dependency", &dep_keys, 8),
        Scale::Linear,
    ));
    let q_keys: Vec<String> = m.countries.iter().map(|x| x.id.clone()).collect();
    charts.push((
        "Licence queue".into(),
        "t held".into(),
        pick(s, "licence_queue", &q_keys, 4),
        Scale::Linear,
    ));
    charts.push((
        "Policy cost".into(),
        "$ spent to date; below 0, receipts".into(),
        pick(s, "policy_cost", &q_keys, 4),
        Scale::Linear,
    ));
    // The stockpiles whose holding moved (a release, a purchase): what a stockpile
    // scenario asks. None is drawn where every holding stood still.
    let moved_sp: Vec<String> = (m.stockpiles.iter())
        .filter(|sp| {
            s.find("stockpile", &sp.id).is_some_and(|c| {
                let v = s.column(c);
                v.iter().any(|&x| x != v[0])
            })
        })
        .map(|sp| sp.id.clone())
        .collect();
    if !moved_sp.is_empty() {
        charts.push((
            "Stockpiles".into(),
            "t held, each in its own form; magnets in t of product".into(),
            pick(s, "stockpile", &moved_sp, 4),
            Scale::Linear,
        ));
    }
    for (t, unit, lines, scale) in charts {
        // (A run of no step has nothing to draw: `step(0)`. One step's values are dots.)
        if lines.is_empty() || s.dates.is_empty() {
            let why = if s.dates.is_empty() {
                "the run made no step"
            } else if unit.starts_with("share of") && !t.starts_with("Import dependency") {
                "none reached half a percent"
            } else {
                "all zero"
            };
            let _ = write!(
                o,
                "<figure><figcaption>{}: nothing to show ({why})</figcaption></figure>",
                esc(&t)
            );
        } else {
            let _ = write!(
                o,
                "<figure>{}</figure>",
                svg_chart(&t, &unit, &s.dates, &lines, scale)
            );
        }
    }
    o.push_str("<h2>Levers pulled</h2>");
    if !m.policies.is_empty() {
        o.push_str("<p>Set by the model file, before any lever:</p><ul>");
        for p in model_policies(m, out) {
            let _ = write!(o, "<li>{}</li>", esc(&p));
        }
        o.push_str("</ul>");
    }
    if out.levers.is_empty() && m.policies.is_empty() {
        o.push_str("<p>None: the model as it stands.</p>");
    } else if out.levers.is_empty() {
        o.push_str("<p>None by the scenario.</p>");
    } else {
        o.push_str(&timeline_svg(out));
    }
    o.push_str(&levers_table(out));
    // With the modules it imports, each after a `// module` line: the page alone holds
    // what the run ran.
    let _ = write!(
        o,
        "<h2>Scenario source</h2><pre>{}</pre>",
        esc(&sc.full_source())
    );
    // A scenario run as the baseline is part of what the page reads against: its source
    // too (its first line names it).
    if let (Some(path), Some(text)) = (&out.baseline_script, &out.baseline_source) {
        let _ = write!(
            o,
            "<h2>Baseline source</h2><pre>// {}\n{}</pre>",
            esc(&path.display().to_string()),
            esc(text)
        );
    }
    o.push_str("</body></html>\n");
    o
}

/// The levers on a time axis that lines up with the charts' (the same margins and date
/// marks): each a numbered dot, those of one week stacked, the numbers those of the table.
fn timeline_svg(out: &Outcome) -> String {
    let dates = &out.sim.series.dates;
    let (w, l, r) = (640.0, 60.0, 170.0);
    let n = dates.len().max(2);
    let x_of = |d: Date| {
        // The step holding the date, on the charts' scale.
        let i = dates.iter().rposition(|s| *s <= d).unwrap_or(0);
        l + (w - l - r) * i as f64 / (n - 1) as f64
    };
    // Stack the dots that would touch: each on the lowest level free at its spot, up to
    // `MAX_LEVELS`; the rest of a crowded spot is counted in a "+N" above it.
    const MAX_LEVELS: usize = 6;
    let mut placed: Vec<(f64, usize)> = Vec::new();
    let mut dots = Vec::new();
    // Each crowded spot with the levers it counts.
    let mut crowded: Vec<(f64, Vec<usize>)> = Vec::new();
    for (k, lever) in out.levers.iter().enumerate() {
        let x = x_of(lever.date);
        let taken = |lv: usize| {
            placed
                .iter()
                .any(|&(px, pl)| pl == lv && (px - x).abs() < 15.0)
        };
        match (0..MAX_LEVELS).find(|&lv| !taken(lv)) {
            Some(level) => {
                placed.push((x, level));
                dots.push((x, level, k, lever));
            }
            None => match crowded.iter_mut().find(|(cx, _)| (*cx - x).abs() < 15.0) {
                Some(c) => c.1.push(k),
                None => crowded.push((x, vec![k])),
            },
        }
    }
    let levels = dots.iter().map(|d| d.1 + 1).max().unwrap_or(1) + usize::from(!crowded.is_empty());
    let h = 40.0 + 16.0 * levels as f64;
    let axis = h - 24.0;
    let mut o = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="lever timeline: {} levers"><line x1="{l}" y1="{axis}" x2="{}" y2="{axis}" stroke="#555"/>"##,
        out.levers.len(),
        w - r
    );
    o.push_str(&date_marks_svg(
        dates,
        |i| l + (w - l - r) * i as f64 / (n - 1) as f64,
        axis,
    ));
    for (x, level, k, lever) in dots {
        let cy = axis - 10.0 - 16.0 * level as f64;
        let _ = write!(
            o,
            r##"<circle cx="{x:.1}" cy="{cy:.1}" r="7" fill="{}"><title>{} {}: {}</title></circle><text x="{x:.1}" y="{:.1}" font-size="9" text-anchor="middle" fill="#fff">{}</text>"##,
            COLORS[0],
            lever.date,
            esc(&lever.name),
            esc(&lever.summary),
            cy + 3.0,
            k + 1
        );
    }
    for (x, more) in crowded {
        // Its tooltip names each lever it counts, with its own date (the spot may hold
        // neighbouring weeks).
        let named: Vec<String> = (more.iter())
            .map(|&k| {
                let lever = &out.levers[k];
                format!("{} {} {}: {}", k + 1, lever.date, lever.name, lever.summary)
            })
            .collect();
        let _ = write!(
            o,
            r##"<text x="{x:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#222">+{}<title>{}</title></text>"##,
            axis - 10.0 - 16.0 * MAX_LEVELS as f64 + 3.0,
            more.len(),
            esc(&named.join("\n"))
        );
    }
    o.push_str("</svg>");
    o
}

/// How one scenario ended under `chokepoint test`.
pub enum CaseEnd {
    Passed,
    /// Expectations failed: what they said.
    Failed(String),
    /// The scenario could not run (bad script, model or arguments): the error.
    Broken(String),
}

/// Text for an XML attribute: escaped, with line breaks and tabs as character references
/// (an attribute's raw newline reads back as a space).
fn attr(s: &str) -> String {
    esc(s)
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}

/// At most `most` bytes of `s` (at a character boundary), saying how much was left out: a
/// JUnit report is read by CI systems that choke on megabytes of one test's text.
fn capped(s: &str, most: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= most {
        return s.into();
    }
    let mut end = most;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… ({} more bytes: see the command's own output)",
        &s[..end],
        s.len() - end
    )
    .into()
}

pub fn junit(cases: &[(PathBuf, Duration, CaseEnd)]) -> String {
    let count = |f: fn(&CaseEnd) -> bool| cases.iter().filter(|c| f(&c.2)).count();
    let failures = count(|e| matches!(e, CaseEnd::Failed(_)));
    let errors = count(|e| matches!(e, CaseEnd::Broken(_)));
    let total: f64 = cases.iter().map(|c| c.1.as_secs_f64()).sum();
    let mut o = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"chokepoint\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{total:.3}\">\n",
        cases.len()
    );
    for (p, d, end) in cases {
        // A CI system groups cases by class: the scenario's directory.
        let class = p
            .parent()
            .map(|d| d.display().to_string())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| ".".into());
        let _ = write!(
            o,
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            attr(&class),
            attr(&p.display().to_string()),
            d.as_secs_f64()
        );
        match end {
            CaseEnd::Passed => o.push_str("/>\n"),
            CaseEnd::Failed(t) => {
                // The first thing that failed is the message a CI summary shows.
                let first = t
                    .lines()
                    .next()
                    .map(str::trim)
                    .unwrap_or("expectations failed");
                let _ = writeln!(
                    o,
                    "><failure message=\"{}\">{}</failure></testcase>",
                    attr(&capped(first, 1024)),
                    esc(&capped(t, 64 << 10))
                );
            }
            CaseEnd::Broken(t) => {
                let first = t.lines().next().unwrap_or("the scenario could not run");
                let _ = writeln!(
                    o,
                    "><error message=\"{}\">{}</error></testcase>",
                    attr(&capped(first, 1024)),
                    esc(&capped(t, 64 << 10))
                );
            }
        }
    }
    o.push_str("</testsuite>\n");
    o
}

/// A script's text (an expectation's message, a file name) on one terminal line: control
/// characters (a newline, an escape sequence) shown as `?`.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn series_that_are_one_line_are_drawn_once_under_their_names() {
        // Two countries' dependency at 1 throughout: the second drawn hid the first, whose
        // legend entry pointed at no line.
        let mut s = chokepoint_core::Series::new();
        let keys = [
            "magnet/DE",
            "metal/JP",
            "metal/US",
            "magnet/KR",
            "magnet/VN",
        ];
        for k in keys {
            s.declare("dependency", k);
        }
        for w in 0..3 {
            let day = chokepoint_core::Date::parse("2025-01-06")
                .unwrap()
                .add_days(7 * w);
            let row = s.push_row(day);
            row.copy_from_slice(&[1.0, 1.0, 0.5 + 0.1 * w as f64, 1.0, 1.0]);
        }
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let lines = super::pick(&s, "dependency", &keys, 8);
        let names: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
        assert_eq!(
            names,
            ["magnet/DE = magnet/KR (+2)", "metal/US"],
            "{names:?}"
        );
    }

    #[test]
    fn a_long_legend_name_is_cut_to_its_room_and_whole_in_its_tooltip() {
        let dates: Vec<chokepoint_core::Date> = (0..2)
            .map(|i| {
                chokepoint_core::Date::parse("2025-01-06")
                    .unwrap()
                    .add_days(7 * i)
            })
            .collect();
        let long = "a-sector-with-a-very-long-identifier-indeed-ev-us".to_string();
        let lines = vec![(long.clone(), vec![0.1, 0.2])];
        let svg = super::svg_chart("Shortfall", "share", &dates, &lines, super::Scale::Linear);
        assert!(svg.contains(&format!("<title>{long}</title>…")), "{svg}");
        assert!(svg.contains("…entifier-indeed-ev-us</text>"), "{svg}");
    }

    #[test]
    fn two_keys_drawn_as_one_line_say_their_shared_part_once_in_the_legend() {
        use super::legend_label;
        assert_eq!(
            legend_label("ROW/magnet:NdFeB = CN/magnet:NdFeB"),
            "ROW = CN/magnet:NdFeB"
        );
        assert_eq!(
            legend_label("auto-catalysts-de = auto-catalysts-us"),
            "…to-catalysts-de = -us"
        );
        assert_eq!(
            legend_label("ev-us = industrial-us"),
            "ev-us = industrial-us"
        );
        assert_eq!(
            legend_label("magnet/DE = magnet/KR (+2)"),
            "magnet/DE = /KR (+2)"
        );
        assert_eq!(
            legend_label("ROW/oxide:Eu = CN/oxide:Eu (+1)"),
            "ROW = CN/oxide:Eu (+1)"
        );
        assert_eq!(legend_label("ROW/oxide:Dy"), "ROW/oxide:Dy");
        assert!(
            legend_label("a-sector-with-a-very-long-name")
                .chars()
                .count()
                <= 22
        );
    }

    #[test]
    fn a_log_axis_has_a_labelled_tick_above_its_highest_line() {
        let dates: Vec<chokepoint_core::Date> = (0..3)
            .map(|i| {
                chokepoint_core::Date::parse("2025-01-06")
                    .unwrap()
                    .add_days(7 * i)
            })
            .collect();
        let lines = vec![("ROW/magnet:NdFeB".to_string(), vec![0.5, 10.0, 40.0])];
        let svg = super::svg_chart(
            "Prices",
            "multiple",
            &dates,
            &lines,
            super::Scale::LogIfWide,
        );
        assert!(svg.contains(">50<"), "{svg}");
    }

    #[test]
    fn money_in_millions_reads_with_thousands_separators() {
        assert_eq!(millions(14_760_300_000.0), "14,760.3");
        assert_eq!(millions(370_000_000.0), "370.0");
        assert_eq!(millions(1_299_960.0), "1.3");
        assert_eq!(millions(40_000.0), "0.0");
        assert_eq!(dollars(43_598.53), "$43,599");
        assert_eq!(dollars(370_000_000.0), "$370.0M");
    }

    #[test]
    fn prices_per_kg_keep_their_cents_under_ten_dollars() {
        assert_eq!(per_kg(1_968.4), "1,968");
        assert_eq!(per_kg(56.2), "56");
        assert_eq!(per_kg(9.996), "10.00");
        assert_eq!(per_kg(1.304), "1.30");
        assert_eq!(per_kg(0.654), "0.65");
        assert_eq!(per_kg(0.0291), "0.029");
        assert_eq!(per_kg(0.0), "0");
    }
    use super::{
        dollars, junit, millions, per_kg, percent, tick, two_figures, worst_window_mean, CaseEnd,
    };
    use std::path::PathBuf;

    #[test]
    fn the_worst_window_is_the_largest_mean_of_consecutive_values() {
        assert_eq!(worst_window_mean(&[0.0, 1.0, 1.0, 0.0, 0.5], 2), 1.0);
        assert_eq!(worst_window_mean(&[0.0, 0.2, 0.0, 0.6, 0.2], 3), 0.8 / 3.0);
        // Fewer values than the window: their mean.
        assert_eq!(worst_window_mean(&[0.5, 0.1], 52), 0.3);
        assert_eq!(worst_window_mean(&[], 52), 0.0);
    }

    #[test]
    fn small_figures_keep_two_significant_figures() {
        assert_eq!(two_figures(0.004213), "0.0042");
        assert_eq!(two_figures(0.31), "0.31");
        assert_eq!(two_figures(4.25), "4.2");
        assert_eq!(two_figures(9.4), "9.4");
        assert_eq!(two_figures(-0.5), "-0.5");
        assert_eq!(two_figures(0.0), "0");
        assert_eq!(percent(0.123), "12.3%");
        assert_eq!(percent(0.00042), "0.042%");
        assert_eq!(percent(0.0), "0.0%");
    }

    #[test]
    fn junit_names_the_first_failure_and_keeps_line_breaks_in_attributes() {
        use std::time::Duration;
        let cases = vec![
            (
                PathBuf::from("lib/a.rhai"),
                Duration::from_millis(1500),
                CaseEnd::Passed,
            ),
            (
                PathBuf::from("odd\nname.rhai"),
                Duration::from_millis(500),
                CaseEnd::Failed(
                    "  line 4: US short 0.3 is above [0, 0.1]\n  line 9: other\n".into(),
                ),
            ),
        ];
        let x = junit(&cases);
        assert!(x.contains("time=\"2.000\">"), "{x}");
        assert!(x.contains("classname=\"lib\" name=\"lib/a.rhai\""), "{x}");
        assert!(x.contains("name=\"odd&#10;name.rhai\""), "{x}");
        assert!(
            x.contains("failure message=\"line 4: US short 0.3 is above [0, 0.1]\""),
            "{x}"
        );
    }

    #[test]
    fn a_junit_case_of_megabytes_is_cut_to_what_a_ci_system_reads() {
        use std::time::Duration;
        let huge = format!("  line 1: {}\n", "é".repeat(600_000));
        let cases = vec![(
            PathBuf::from("big.rhai"),
            Duration::from_millis(1),
            CaseEnd::Failed(huge.clone()),
        )];
        let x = junit(&cases);
        assert!(x.len() < 70_000, "{}", x.len());
        assert!(x.contains("more bytes: see the command's own output)"));
        assert!(x.starts_with("<?xml") && x.ends_with("</testsuite>\n"));
    }

    #[test]
    fn a_chart_spans_negative_values_and_a_flat_line() {
        assert_eq!(super::y_range(&[-489.0, -10.0, 0.0]), (-489.0, 0.0));
        assert_eq!(super::y_range(&[2.0, 5.0]), (0.0, 5.0));
        assert_eq!(super::y_range(&[0.0, 0.0]), (0.0, 1.0));
        assert_eq!(super::y_range(&[f64::NAN, 3.0]), (0.0, 3.0));
    }

    #[test]
    fn text_for_xml_holds_no_character_xml_refuses() {
        let t = super::esc("a\u{1}b\u{0}c\u{1b}[31m\u{fffe}<&>\"\n");
        assert_eq!(
            t,
            "a\u{fffd}b\u{fffd}c\u{fffd}[31m\u{fffd}&lt;&amp;&gt;&quot;\n"
        );
    }

    #[test]
    fn headline_numbers_carry_thousands_separators() {
        use super::thousands;
        assert_eq!(thousands(34_966_604.4), "34,966,604");
        assert_eq!(thousands(968_332.0), "968,332");
        assert_eq!(thousands(1409.3), "1,409");
        assert_eq!(thousands(356.0), "356");
        assert_eq!(thousands(999.6), "1,000");
        assert_eq!(thousands(0.2), "0");
        assert_eq!(thousands(-12_345.0), "-12,345");
    }

    #[test]
    fn axis_labels_stay_short() {
        assert_eq!(tick(6_037_494.75), "6.04M");
        assert_eq!(tick(3241.2), "3241");
        assert_eq!(tick(810.3), "810");
        assert_eq!(tick(45_000.0), "45k");
        assert_eq!(tick(2.5e9), "2.5G");
        assert_eq!(tick(0.92), "0.92");
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(0.00123), "0.0012");
        for v in [1.0, 12.5, 999.9, 12_345.0, 9.87e8, 1e15] {
            assert!(tick(v).len() <= 6, "{v}: {}", tick(v));
        }
    }
}

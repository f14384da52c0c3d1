//! Metrics recorded every step: a fixed table of named series, filled row by row without
//! allocation, aggregated to months or years and written as tidy CSV.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::date::Date;

/// Series names are `metric` plus `key` (e.g. `price`, `ROW/oxide:Dy`).
#[derive(Debug, Clone)]
pub struct Series {
    /// Shared between runs of one model until a run declares a series of its own.
    pub names: Arc<Vec<(String, String)>>,
    /// Metric, then key, to column (looked up by `&str` without allocating).
    index: Arc<HashMap<String, HashMap<String, usize>>>,
    /// Row-major: `values[step * names.len() + series]`.
    pub values: Vec<f64>,
    pub steps: usize,
    pub dates: Vec<Date>,
}

/// The unit of a metric's values (tonnes are of rare-earth content, REO basis, except a
/// stockpile's holding, in its stockpile's own form; flows are annual rates). `output_lost`
/// is in its sector's own unit (vehicles, MW, ...) per year; an unknown metric has none.
pub fn unit(metric: &str) -> &'static str {
    match metric {
        "price" => "$/kg",
        "shortfall" | "dependency" | "substitution" => "share",
        "cover_weeks" => "weeks",
        "hhi" => "HHI",
        "stockpile" | "licence_queue" => "t",
        "policy_cost" => "$",
        "output_lost" => "units/yr",
        "production" | "mine_output" | "output" | "exports" | "imports" | "trade"
        | "trade_by_form" | "demand" | "licence_arrivals" => "t/yr",
        _ => "",
    }
}

/// Whether a metric is a running total since the start (`policy_cost`): over a period it
/// is read at the period's end, where rates and levels are averaged.
pub fn running_total(metric: &str) -> bool {
    metric == "policy_cost"
}

/// A run's mean of one metric's weekly values: their mean, or for a running total its
/// rate per year of the run (its last value over the run's years), which is what a mean
/// of money spent means.
pub fn run_mean(metric: &str, values: &[f64], steps_per_year: f64) -> f64 {
    let n = values.len().max(1) as f64;
    match values.last() {
        Some(&last) if running_total(metric) => last / (n / steps_per_year),
        _ => values.iter().sum::<f64>() / n,
    }
}

/// A period's value of one metric's weekly values: their mean, or the last for a running
/// total.
pub fn aggregate(metric: &str, values: &[f64]) -> f64 {
    match values.last() {
        Some(&last) if running_total(metric) => last,
        _ => values.iter().sum::<f64>() / values.len().max(1) as f64,
    }
}

/// How CSV rows are aggregated over time: the mean over the period of each week's value,
/// or a running total's value at the period's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Step,
    Month,
    Year,
}

impl Resolution {
    /// The name `parse` reads.
    pub fn name(self) -> &'static str {
        match self {
            Resolution::Step => "step",
            Resolution::Month => "month",
            Resolution::Year => "year",
        }
    }

    pub fn parse(s: &str) -> Result<Resolution, String> {
        match s {
            "step" | "week" => Ok(Resolution::Step),
            "month" => Ok(Resolution::Month),
            "year" => Ok(Resolution::Year),
            _ => Err(format!(
                "unknown resolution '{s}' (expected step, month or year)"
            )),
        }
    }
}

thread_local! {
    /// The table of the last series dropped on this thread, kept for the next run.
    static SPARE: std::cell::Cell<Vec<f64>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Drop for Series {
    fn drop(&mut self) {
        let values = std::mem::take(&mut self.values);
        if values.capacity() > 0 {
            // Keep the larger of this table and the one already kept.
            let _ = SPARE.try_with(|s| {
                let kept = s.take();
                s.set(if kept.capacity() >= values.capacity() {
                    kept
                } else {
                    values
                });
            });
        }
    }
}

impl Series {
    pub fn new() -> Series {
        Series {
            names: Arc::default(),
            index: Arc::default(),
            values: Vec::new(),
            steps: 0,
            dates: Vec::new(),
        }
    }

    /// Declares a series before recording starts; returns its column.
    pub fn declare(&mut self, metric: &str, key: &str) -> usize {
        if let Some(i) = self.find(metric, key) {
            return i;
        }
        let col = self.names.len();
        Arc::make_mut(&mut self.names).push((metric.to_string(), key.to_string()));
        Arc::make_mut(&mut self.index)
            .entry(metric.to_string())
            .or_default()
            .insert(key.to_string(), col);
        col
    }

    /// Adds a series after recording has started (a facility built by a lever): past rows
    /// get zero. Re-lays the table, so it is for events, never for the step loop.
    pub fn declare_late(&mut self, metric: &str, key: &str) -> usize {
        if let Some(i) = self.find(metric, key) {
            return i;
        }
        let w = self.names.len();
        let mut values =
            Vec::with_capacity((self.steps + 1) * (w + 1) + self.values.capacity() / w.max(1));
        for row in 0..self.steps {
            values.extend_from_slice(&self.values[row * w..(row + 1) * w]);
            values.push(0.0);
        }
        self.values = values;
        self.declare(metric, key)
    }

    /// Reserves room for `steps` rows so recording never allocates. A run's table is
    /// megabytes: the thread's last discarded one is reused when it is big enough, so a
    /// sweep or a benchmark does not fault fresh pages in for every run.
    pub fn reserve(&mut self, steps: usize) {
        let need = steps * self.names.len();
        if self.values.is_empty() && self.values.capacity() < need {
            if let Some(mut spare) = SPARE
                .try_with(|s| s.take())
                .ok()
                .filter(|v| v.capacity() >= need)
            {
                spare.clear();
                self.values = spare;
            }
        }
        self.values.reserve(need);
        self.dates.reserve(steps);
    }

    pub fn width(&self) -> usize {
        self.names.len()
    }

    /// Appends a row of zeros for `date` and returns it to be filled.
    pub fn push_row(&mut self, date: Date) -> &mut [f64] {
        let w = self.names.len();
        let start = self.values.len();
        self.values.resize(start + w, 0.0);
        self.dates.push(date);
        self.steps += 1;
        &mut self.values[start..]
    }

    pub fn find(&self, metric: &str, key: &str) -> Option<usize> {
        self.index.get(metric)?.get(key).copied()
    }

    /// Keys recorded for a metric, in declaration order.
    pub fn keys(&self, metric: &str) -> Vec<&str> {
        self.names
            .iter()
            .filter(|(m, _)| m == metric)
            .map(|(_, k)| k.as_str())
            .collect()
    }

    pub fn metrics(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (m, _) in self.names.iter() {
            if !out.contains(&m.as_str()) {
                out.push(m);
            }
        }
        out
    }

    pub fn get(&self, step: usize, col: usize) -> f64 {
        self.values[step * self.names.len() + col]
    }

    /// One series over all recorded steps.
    pub fn column(&self, col: usize) -> Vec<f64> {
        (0..self.steps).map(|s| self.get(s, col)).collect()
    }

    /// Tidy CSV `date,metric,key,value`, aggregated to `res`. Series that stay zero
    /// throughout, as printed (six decimals), are left out to keep files small.
    pub fn to_csv(&self, res: Resolution) -> String {
        let w = self.names.len();
        let live: Vec<usize> = (0..w)
            // (A NaN is never left out: it is a defect to see.)
            .filter(|&c| {
                (0..self.steps).any(|s| {
                    let x = self.get(s, c);
                    x.abs() >= 5e-7 || x.is_nan()
                })
            })
            .collect();
        let mut out = String::from("date,metric,key,value\n");
        let mut s = 0;
        while s < self.steps {
            let period = |d: Date| match res {
                Resolution::Step => d.days(),
                Resolution::Month => d.month_start().days(),
                Resolution::Year => d.year(),
            };
            let p = period(self.dates[s]);
            let mut e = s;
            while e < self.steps && period(self.dates[e]) == p {
                e += 1;
            }
            let label = match res {
                Resolution::Step => self.dates[s].to_string(),
                Resolution::Month => self.dates[s].month_start().to_string(),
                Resolution::Year => format!("{}-01-01", self.dates[s].year()),
            };
            for &c in &live {
                let (m, k) = &self.names[c];
                let value = if running_total(m) {
                    self.get(e - 1, c)
                } else {
                    (s..e).map(|t| self.get(t, c)).sum::<f64>() / (e - s) as f64
                };
                let _ = writeln!(out, "{label},{m},{},{}", csv_field(k), fmt_num(value));
            }
            s = e;
        }
        out
    }
}

impl Default for Series {
    fn default() -> Self {
        Series::new()
    }
}

/// Numbers print with up to 6 significant decimals and no trailing noise, identically on
/// every platform (Rust's float formatting is exact and locale-free).
pub fn fmt_num(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    // Past a quadrillion, in exponent form (1e300, not three hundred digits).
    if x.abs() >= 1e15 {
        return format!("{x:e}");
    }
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_without_noise_and_huge_ones_in_exponent_form() {
        assert_eq!(fmt_num(1.5), "1.5");
        assert_eq!(fmt_num(-0.0000001), "0");
        assert_eq!(fmt_num(123456.1234567), "123456.123457");
        assert_eq!(fmt_num(1e300), "1e300");
        assert_eq!(fmt_num(-2.5e18), "-2.5e18");
        assert_eq!(fmt_num(999_999_999_999_999.0), "999999999999999");
    }

    #[test]
    fn a_series_that_prints_as_zero_throughout_is_left_out() {
        let mut s = Series::new();
        let (tiny, real) = (s.declare("x", "tiny"), s.declare("x", "real"));
        let d = Date::parse("2024-01-01").unwrap();
        for k in 0..3 {
            let row = s.push_row(d.add_days(7 * k));
            row[tiny] = 1e-9;
            row[real] = 1.5;
        }
        let csv = s.to_csv(Resolution::Step);
        assert!(!csv.contains("tiny") && csv.contains("real"), "{csv}");
    }
}

//! Expectations: claims about results that `chokepoint test` and CI check.

use rhai::plugin::*;

use crate::args::Res;
use crate::host::{err, host, Expectation};

pub fn record(ctx: &NativeCallContext, message: &str, passed: bool, detail: String) -> Res<bool> {
    // A failure reads "FAILED line N: <message>" in a CI log: with no message it says
    // nothing of what was claimed.
    // (Zero-width and other invisible characters say nothing either.)
    let invisible = |c: char| {
        c.is_whitespace()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{00ad}')
    };
    if message.chars().all(invisible) {
        return Err(err(format!(
            "{}: the message is empty; say what the claim checks (\"US magnet users are \
             more than 10% short\"), for the line a failure prints",
            ctx.fn_name()
        )));
    }
    let line = ctx.call_position().line().unwrap_or(0);
    let module = ctx
        .call_source()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let handle = host(ctx)?;
    let mut h = handle.lock();
    // Checked by a rule as the clock runs (a `whenever` action, say), an expectation may be
    // recorded many times: each says on which date.
    let detail = if h.driving {
        let on = h.running_due.unwrap_or_else(|| h.sim.last_date());
        let sep = if detail.is_empty() { "" } else { " " };
        format!("{detail}{sep}(checked on {on})")
    } else {
        detail
    };
    h.expectations.push(Expectation {
        message: message.to_string(),
        passed,
        detail,
        line,
        module,
    });
    Ok(passed)
}

#[export_module]
pub mod expect_api {
    use super::record;
    use crate::args::{number, Num, Res};

    /// Records that `condition` should hold. Returns it.
    ///
    /// ```rhai
    /// expect(1 + 1 == 2, "arithmetic works");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn expect(ctx: NativeCallContext, condition: bool, message: &str) -> Res<bool> {
        record(&ctx, message, condition, String::new())
    }

    /// Records that `value` should lie in `[lo, hi]`.
    ///
    /// ```rhai
    /// expect_between(0.3, 0.1, 0.5, "a share in range");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn expect_between(
        ctx: NativeCallContext,
        value: Num,
        lo: Num,
        hi: Num,
        message: &str,
    ) -> Res<bool> {
        let (v, lo, hi) = (
            number(&value, "value")?,
            number(&lo, "lo")?,
            number(&hi, "hi")?,
        );
        if let Some((name, _)) = [("lo", lo), ("hi", hi)]
            .into_iter()
            .find(|(_, b)| b.is_nan())
        {
            // (An infinite bound is an open one: ±1.0 / 0.0 leaves that side unbounded.)
            return Err(err(format!(
                "expect_between: {name} must be a number, got NaN (a 0.0 / 0.0 somewhere)"
            )));
        }
        if lo > hi {
            return Err(err(format!(
                "expect_between: need lo <= hi, got lo {lo} and hi {hi}"
            )));
        }
        // A value the arithmetic puts a rounding error past a bound (0.1 + 0.2 against 0.3)
        // is at the bound.
        // The slack is the bound's own: an infinite value is past any finite bound.
        let slack = |b: f64| BOUND_SLACK * b.abs().max(f64::MIN_POSITIVE);
        // A value no arithmetic on real flows gives (a division by zero) never passes, even
        // against an open bound.
        let ok = v.is_finite() && v >= lo - slack(lo) && v <= hi + slack(hi);
        let verdict = match () {
            _ if ok => "in",
            // (Not "inf is not in [0, inf]": no bound admits a value no flow gives.)
            _ if !v.is_finite() => "is not a finite number (a division by zero?), so not in",
            _ if v < lo => "is below",
            _ if v > hi => "is above",
            _ => "is not in",
        };
        record(
            &ctx,
            message,
            ok,
            format!("{} {verdict} [{}, {}]", figure(v), figure(lo), figure(hi)),
        )
    }

    /// Records that `value` should be within `tolerance` (relative, 0.1 = 10%) of `target`.
    ///
    /// ```rhai
    /// expect_approx(105.0, 100.0, 0.1, "close to 100");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn expect_approx(
        ctx: NativeCallContext,
        value: Num,
        target: Num,
        tolerance: Num,
        message: &str,
    ) -> Res<bool> {
        let (v, t, tol) = (
            number(&value, "value")?,
            number(&target, "target")?,
            number(&tolerance, "tolerance")?,
        );
        if !(tol.is_finite() && (0.0..=1e9).contains(&tol)) {
            return Err(err(format!(
                "expect_approx: tolerance must be a share of the target, 0 or more (0.1 = 10%) and at most 1e9, got {}",
                figure(tol)
            )));
        }
        if !t.is_finite() {
            return Err(err(format!(
                "expect_approx: target must be a finite number, got {t}"
            )));
        }
        if t == 0.0 {
            // A target computed in the run can be 0 in one run of a sweep: a failed
            // expectation that says why, not an error that stops the sweep.
            return record(
                &ctx,
                message,
                v == 0.0,
                format!(
                    "{} vs 0: a tolerance relative to a target of 0 admits only 0 (use \
                     expect_between for a band around 0)",
                    figure(v)
                ),
            );
        }
        let ok = (v - t).abs() <= tol * t.abs() * (1.0 + BOUND_SLACK) + BOUND_SLACK * t.abs();
        record(
            &ctx,
            message,
            ok,
            format!("{} vs {} ± {}%", figure(v), figure(t), figure(tol * 100.0)),
        )
    }
}

/// How far past a bound, relative to the numbers compared, a value is still at the bound:
/// far below any difference a scenario means, well above floating-point rounding.
const BOUND_SLACK: f64 = 1e-9;

/// A number as an expectation's detail shows it: six significant digits, so the figure
/// that decided a verdict is visible (0.00002 is not shown as 0.0000).
pub fn figure(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = (5 - x.abs().log10().floor() as i32).clamp(0, 15) as usize;
    let s = format!("{x:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if x.abs() < 1e-4 || x.abs() >= 1e12 {
        format!("{x:e}")
    } else {
        s
    }
}

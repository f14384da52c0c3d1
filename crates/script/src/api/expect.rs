//! Expectations: claims about results that `chokepoint test` and CI check.

use rhai::plugin::*;

use crate::args::Res;
use crate::host::{err, host, Expectation};

pub fn record(ctx: &NativeCallContext, message: &str, passed: bool, detail: String) -> Res<bool> {
    let line = ctx.call_position().line().unwrap_or(0);
    host(ctx)?.lock().expectations.push(Expectation {
        message: message.to_string(),
        passed,
        detail,
        line,
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
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(err(format!(
                "expect_between: need lo <= hi, got lo {lo} and hi {hi}"
            )));
        }
        let ok = v >= lo && v <= hi;
        let verdict = match () {
            _ if ok => "in",
            _ if v < lo => "is below",
            _ if v > hi => "is above",
            _ => "is not in",
        };
        record(&ctx, message, ok, format!("{v:.4} {verdict} [{lo}, {hi}]"))
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
        if !(tol.is_finite() && tol >= 0.0) {
            return Err(err(format!(
                "expect_approx: tolerance must be a share of the target, 0 or more (0.1 = 10%), got {tol}"
            )));
        }
        if !t.is_finite() {
            return Err(err(format!(
                "expect_approx: target must be a finite number, got {t}"
            )));
        }
        let ok = (v - t).abs() <= tol * t.abs();
        record(
            &ctx,
            message,
            ok,
            format!("{v:.4} vs {t} ± {:.0}%", tol * 100.0),
        )
    }
}

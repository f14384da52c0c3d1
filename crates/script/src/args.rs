//! Turning script values into model ids and policy definitions, with clear errors.

use chokepoint_core::model::Model;
use chokepoint_core::model_file::{PolicyDef, SourceRef};
use chokepoint_core::Date;
use rhai::{Array, Dynamic, EvalAltResult, Map};

use crate::host::err;

pub type Res<T> = Result<T, Box<EvalAltResult>>;

/// A list of names: one string or an array of strings.
pub fn names(v: &Dynamic, what: &str) -> Res<Vec<String>> {
    if let Some(s) = v.clone().try_cast::<rhai::ImmutableString>() {
        return Ok(vec![s.to_string()]);
    }
    if let Some(arr) = v.clone().try_cast::<Array>() {
        return arr
            .into_iter()
            .enumerate()
            .map(|(i, x)| {
                x.clone()
                    .try_cast::<rhai::ImmutableString>()
                    .map(|s| s.to_string())
                    .ok_or_else(|| err(format!("{what}[{i}] must be a string, got {}", kind(&x))))
            })
            .collect();
    }
    Err(err(format!(
        "{what} must be a string or an array of strings, got {}",
        kind(v)
    )))
}

/// A value's type as a script writer knows it: `Series`, `integer`, `string`, not the
/// engine's Rust names.
pub fn kind(v: &Dynamic) -> String {
    plain_type(v.type_name())
}

/// One type name as scripts call it.
pub fn plain_type(name: &str) -> String {
    match name.rsplit("::").next().unwrap_or(name) {
        "SeriesView" => "a Series (current(), peak(), low() or mean() make it a number)",
        "i64" | "i32" | "INT" => "an integer",
        "f64" | "f32" | "FLOAT" => "a number",
        "ImmutableString" | "String" | "string" | "&str" => "a string",
        "bool" => "true or false",
        "Array" | "array" | "Vec<Dynamic>" => "an array",
        "Map" | "map" => "a map",
        "()" => "nothing (a statement, not a value)",
        "FnPtr" | "Fn" => "a function",
        other => return other.to_string(),
    }
    .to_string()
}

/// An engine message with the Rust type names in it made plain (`i64` → `an integer`).
pub fn plain_types(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut token = String::new();
    let is_part = |c: char| c.is_alphanumeric() || c == '_' || c == ':' || c == '&';
    for c in message.chars().chain(std::iter::once('\n')) {
        if is_part(c) {
            token.push(c);
            continue;
        }
        let plain = plain_type(&token);
        let known = plain != token
            && (token.contains("::")
                || ["i64", "f64", "ImmutableString", "FnPtr"].contains(&token.as_str()));
        out.push_str(if known { &plain } else { &token });
        token.clear();
        out.push(c);
    }
    out.pop();
    out
}

pub fn number(v: &Dynamic, what: &str) -> Res<f64> {
    if let Ok(f) = v.as_float() {
        return Ok(f);
    }
    if let Ok(i) = v.as_int() {
        return Ok(i as f64);
    }
    Err(err(format!("{what} must be a number, got {}", kind(v))))
}

pub fn finite(x: f64, what: &str, lo: f64, hi: f64) -> Res<f64> {
    use chokepoint_core::error::shown;
    if !x.is_finite() || x < lo || x > hi {
        return Err(err(format!(
            "{what} must be between {} and {}, got {}",
            shown(lo),
            shown(hi),
            shown(x)
        )));
    }
    Ok(x)
}

/// Refuses an options map with a key `lever` does not take, naming the nearest it does:
/// "contract: unknown option 'frim' (did you mean 'firm'?); the option is firm".
pub fn known_options(lever: &str, opts: &Map, allowed: &[&str]) -> Res<()> {
    match opts.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => {
            let hint = chokepoint_core::error::did_you_mean(k, allowed.iter().copied());
            let which = match allowed {
                [one] => format!("the option is {one}"),
                all => format!("the options are {}", all.join(", ")),
            };
            Err(err(format!("{lever}: unknown option '{k}'{hint}; {which}")))
        }
        None => Ok(()),
    }
}

/// Reads a policy definition from a lever's options map; unknown keys are errors.
pub fn policy_def(
    kind: &str,
    exporter: Option<&str>,
    opts: &Map,
    allowed: &[&str],
) -> Res<PolicyDef> {
    for k in opts.keys() {
        if !allowed.contains(&k.as_str()) {
            let hint = chokepoint_core::error::did_you_mean(k, allowed.iter().copied());
            return Err(err(format!(
                "{kind}: unknown option '{k}'{hint}; options are {}",
                allowed.join(", ")
            )));
        }
    }
    let list =
        |k: &str| -> Res<Option<Vec<String>>> { opts.get(k).map(|v| names(v, k)).transpose() };
    let num = |k: &str| -> Res<Option<f64>> { opts.get(k).map(|v| number(v, k)).transpose() };
    let text = |k: &str| -> Res<Option<String>> {
        opts.get(k)
            .map(|v| {
                v.clone()
                    .try_cast::<rhai::ImmutableString>()
                    .map(|s| s.to_string())
                    .ok_or_else(|| err(format!("{k} must be a string, got {}", self::kind(v))))
            })
            .transpose()
    };
    let label = text("label")?;
    if let Some(l) = &label {
        // `lift` names it again: an empty label, or one with a line break or control
        // character, could not be typed back.
        if l.trim().is_empty() || l.chars().any(char::is_control) || l.trim() != l {
            return Err(err(format!(
                "{kind}: label {l:?} must be plain text: not empty, no line breaks or control \
                 characters, no spaces at either end"
            )));
        }
        // `lift(exporter, "tariff")` ends every tariff: a label must not mean a kind too.
        if chokepoint_core::policy::PolicyKind::NAMES.contains(&l.as_str()) {
            return Err(err(format!(
                "{kind}: label '{l}' is the name of a kind of policy, which `lift` already \
                 ends all of: choose another label"
            )));
        }
    }
    Ok(PolicyDef {
        kind: kind.to_string(),
        exporter: exporter.map(str::to_string),
        importer: text("importer")?,
        elements: list("elements")?,
        forms: list("forms")?,
        to: list("to")?,
        exempt: list("exempt")?,
        approval: num("approval")?,
        delay_days: num("delay_days")?,
        tonnes_per_year: num("tonnes_per_year")?,
        rate: num("rate")?,
        threshold: num("threshold")?,
        start: None,
        end: None,
        label,
        source: SourceRef::None,
        assumption: None,
        calibrated: None,
    })
}

/// Parses a date and checks it lies within the model's horizon.
pub fn date_in(model: &Model, s: &str) -> Res<Date> {
    let d = Date::parse(s).map_err(err)?;
    if d < model.start || d > model.end {
        return Err(err(format!(
            "date {d} is outside the model's horizon ({} to {})",
            model.start, model.end
        )));
    }
    Ok(d)
}

/// A duration such as "90d", "6m", "2y" or a number of days, in steps.
/// Whole calendar months in a duration written in months or years ("3m", "1y"); 0 for
/// anything else (days, weeks, a number, fractions), which counts in steps.
pub fn calendar_months(v: &Dynamic) -> u32 {
    let Some(s) = v.clone().try_cast::<rhai::ImmutableString>() else {
        return 0;
    };
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_alphabetic()).unwrap_or(s.len()));
    let per = match unit {
        "m" => 1,
        "y" => 12,
        _ => return 0,
    };
    num.trim()
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(per))
        .filter(|&m| m <= 1200)
        .unwrap_or(0)
}

pub fn duration_steps(model: &Model, v: &Dynamic) -> Res<usize> {
    duration_steps_of(model, v, "duration")
}

/// [`duration_steps`] of the argument `name` (`lead_time`, `period`), as errors call it.
pub fn duration_steps_of(model: &Model, v: &Dynamic, name: &str) -> Res<usize> {
    Ok((duration_days_of(v, name)? / model.step_days as f64).round() as usize)
}

/// An outage's length in steps: at least one, since a shorter one would do nothing.
pub fn outage_steps(model: &Model, v: &Dynamic) -> Res<usize> {
    let days = duration_days(v)?;
    let steps = (days / model.step_days as f64).round() as usize;
    if steps == 0 {
        return Err(err(format!(
            "duration: {days} days is under half of one {}-day step, so the outage would do \
             nothing; give at least {} days",
            model.step_days,
            model.step_days.div_ceil(2)
        )));
    }
    Ok(steps)
}

/// A duration such as "90d", "6m", "2y" or a number of days, in days (months of 30.4375).
pub fn duration_days(v: &Dynamic) -> Res<f64> {
    duration_days_of(v, "duration")
}

/// [`duration_days`] of the argument `name`, as errors call it.
pub fn duration_days_of(v: &Dynamic, name: &str) -> Res<f64> {
    let days = if let Some(s) = v.clone().try_cast::<rhai::ImmutableString>() {
        let s = s.trim();
        let (num, unit) = s.split_at(s.find(|c: char| c.is_alphabetic()).unwrap_or(s.len()));
        let n: f64 = num.trim().parse().map_err(|_| {
            err(format!(
                "{name}: '{s}' is not a duration (use \"90d\", \"6m\", \"2y\" or days)"
            ))
        })?;
        match unit {
            "d" | "" => n,
            "w" => n * 7.0,
            "m" => n * 30.4375,
            "y" => n * 365.25,
            _ => {
                return Err(err(format!(
                    "{name}: '{s}': unknown unit '{unit}' (use d, w, m or y)"
                )))
            }
        }
    } else {
        number(v, name)?
    };
    if !days.is_finite() || !(0.0..=36525.0).contains(&days) {
        return Err(err(format!(
            "{name} must be between 0 and 100 years, got {days} days"
        )));
    }
    Ok(days)
}

/// A number (integer or float) from a script; named so the lever reference says so.
pub type Num = Dynamic;
/// A name or an array of names (countries, firms, groups, elements).
pub type Names = Dynamic;
/// A duration: "90d", "6w", "3m", "2y", or a number of days.
pub type Span = Dynamic;

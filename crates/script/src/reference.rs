//! The lever reference, read from the engine's own metadata: every documented function with
//! its script-facing signature, its doc text and its runnable examples.

use std::collections::BTreeMap;
use std::path::Path;

use chokepoint_core::Model;

use crate::engine::build_engine;

/// One documented script function.
#[derive(Debug, Clone, PartialEq)]
pub struct LeverDoc {
    pub name: String,
    /// As a script writer reads it: `export_ban(exporter: string, opts: map)`.
    pub signature: String,
    /// The doc comment, without the `///` markers.
    pub text: String,
}

impl LeverDoc {
    /// The ```` ```rhai ```` blocks of the doc text.
    pub fn examples(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = self.text.as_str();
        while let Some(i) = rest.find("```rhai") {
            let body = &rest[i + 7..];
            let Some(end) = body.find("```") else { break };
            out.push(body[..end].trim_start_matches('\n').to_string());
            rest = &body[end + 3..];
        }
        out
    }
}

/// Every documented function, sorted by signature.
pub fn reference() -> Vec<LeverDoc> {
    let engine = build_engine(None, Path::new("scripts"));
    let mut out = Vec::new();
    let json = engine.gen_fn_metadata_to_json(false).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    for f in v["functions"].as_array().into_iter().flatten() {
        let Some(comments) = f["docComments"].as_array().filter(|d| !d.is_empty()) else {
            continue;
        };
        let text: String = comments
            .iter()
            .filter_map(|c| c.as_str())
            .flat_map(str::lines)
            .map(|l| {
                let l = l.trim_start().trim_start_matches("///");
                format!("{}\n", l.strip_prefix(' ').unwrap_or(l))
            })
            .collect();
        out.push(LeverDoc {
            name: f["name"].as_str().unwrap_or_default().to_string(),
            signature: script_types(f["signature"].as_str().unwrap_or_default()),
            text,
        });
    }
    out.sort_by(|a, b| a.signature.cmp(&b.signature));
    out
}

/// The option keys of each function that takes an options map, as its doc states them
/// ("with options: `elements` and `forms` …, `label` …", or "Options: …"): the backticked
/// names from there to the end of that paragraph, bar what else the doc names there: other
/// functions (`lift`), the function's own parameters (`country`), and the model's forms
/// (`concentrate`).
pub fn lever_options(reference: &[LeverDoc], model: &Model) -> BTreeMap<String, Vec<String>> {
    let functions: Vec<&str> = reference.iter().map(|d| d.name.as_str()).collect();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in reference.iter().filter(|d| d.signature.contains(": map")) {
        let params = param_names(&d.signature);
        let named = |w: &str| {
            functions.contains(&w)
                || params.iter().any(|p| p == w)
                || model.forms.iter().any(|f| f.id == w)
        };
        let lower = d.text.to_ascii_lowercase();
        let Some(at) = lower.find("options:") else {
            continue;
        };
        let para = &d.text[at..];
        let para = &para[..para.find("\n\n").unwrap_or(para.len())];
        let keys = out.entry(d.name.clone()).or_default();
        for (i, piece) in para.split('`').enumerate() {
            let key = i % 2 == 1
                && !piece.is_empty()
                && piece.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && !named(piece);
            if key && !keys.iter().any(|k| k == piece) {
                keys.push(piece.to_string());
            }
        }
    }
    out
}

/// Each documented function's parameter names, one list per overload.
pub fn lever_params(reference: &[LeverDoc]) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut params: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for d in reference {
        params
            .entry(d.name.clone())
            .or_default()
            .push(param_names(&d.signature));
    }
    params
}

/// A signature's parameter names: `export_ban(exporter: string, opts: map)` has
/// `exporter` and `opts`.
pub fn param_names(signature: &str) -> Vec<String> {
    let inside = signature
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map_or("", |(args, _)| args);
    inside
        .split(',')
        .filter_map(|p| p.split_once(':'))
        .map(|(name, _)| name.trim().to_string())
        .collect()
}

/// What kind of model id a string argument of a function names: what the REPL completes
/// there, and what a run checks before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IdKind {
    Country,
    /// Countries, firms and groups: who a control reaches or exempts.
    Who,
    /// Firms and groups (an entity list names firms, never countries).
    Firm,
    Facility,
    Sector,
    Element,
    /// Forms (`oxide`, `magnet:NdFeB`): what `forms:` and a series' `form` take.
    Form,
    /// Forms and sectors: what `shortfall` reads.
    FormOrSector,
    Commodity,
    Market,
    Stage,
    Stockpile,
    Group,
    /// The model's behavioural parameters (`diversion`, `home_bias`).
    Behaviour,
    /// A policy's label (`lift`): the model's, and those a run gives its levers.
    Label,
}

impl IdKind {
    /// The kind a parameter of `function` named `param` takes.
    pub fn of_param(function: &str, param: &str) -> Option<IdKind> {
        Some(match param {
            "exporter" | "importer" | "country" | "payer" => IdKind::Country,
            "firms" if function == "entity_list" => IdKind::Firm,
            "firms" | "who" => IdKind::Who,
            "facility" | "like" => IdKind::Facility,
            "sector" => IdKind::Sector,
            "element" => IdKind::Element,
            "form" if function == "shortfall" => IdKind::FormOrSector,
            "form" => IdKind::Form,
            "commodity" | "commodity_name" => IdKind::Commodity,
            "market" => IdKind::Market,
            "stage" => IdKind::Stage,
            "stockpile" => IdKind::Stockpile,
            "id" if function.starts_with("stockpile") => IdKind::Stockpile,
            "id" if function == "group" => IdKind::Group,
            "name" if function == "behaviour" => IdKind::Behaviour,
            "label" if function == "lift" => IdKind::Label,
            _ => return None,
        })
    }

    /// The kind an option of a lever's map takes (`#{ elements: [...], to: [...] }`).
    pub fn of_option(key: &str) -> Option<IdKind> {
        Some(match key {
            "elements" => IdKind::Element,
            "forms" => IdKind::Form,
            "to" | "exempt" => IdKind::Who,
            "firm" => IdKind::Firm,
            "country" => IdKind::Country,
            _ => return None,
        })
    }
}

/// The model's ids of each kind a function's argument can take, each list sorted.
pub fn ids_by_kind(m: &Model) -> BTreeMap<IdKind, Vec<String>> {
    let ids = |v: Vec<&String>| {
        let mut v: Vec<String> = v.into_iter().cloned().collect();
        v.sort();
        v.dedup();
        v
    };
    let countries: Vec<&String> = m.countries.iter().map(|x| &x.id).collect();
    let firms: Vec<&String> = m.firms.iter().map(|x| &x.id).collect();
    let groups: Vec<&String> = m.groups.iter().map(|x| &x.id).collect();
    let sectors: Vec<&String> = m.sectors.iter().map(|x| &x.id).collect();
    let forms: Vec<&String> = m.forms.iter().map(|x| &x.id).collect();
    let commodities: Vec<String> = (0..m.commodities.len())
        .map(|c| m.commodity_name(c))
        .collect();
    let join = |a: &[&String], b: &[&String]| ids([a, b].concat());
    BTreeMap::from([
        (IdKind::Country, ids(countries.clone())),
        (IdKind::Who, ids([&countries[..], &firms, &groups].concat())),
        (IdKind::Firm, join(&firms, &groups)),
        (
            IdKind::Facility,
            ids(m.facilities.iter().map(|x| &x.id).collect()),
        ),
        (IdKind::Sector, ids(sectors.clone())),
        (
            IdKind::Element,
            ids(m.elements.iter().map(|x| &x.symbol).collect()),
        ),
        (IdKind::Form, ids(forms.clone())),
        (IdKind::FormOrSector, join(&forms, &sectors)),
        (IdKind::Commodity, ids(commodities.iter().collect())),
        (IdKind::Market, ids(m.markets.iter().collect())),
        (IdKind::Stage, ids(m.stages.iter().collect())),
        (
            IdKind::Stockpile,
            ids(m.stockpiles.iter().map(|x| &x.id).collect()),
        ),
        (IdKind::Group, ids(groups)),
        (
            IdKind::Label,
            ids(m
                .policies
                .iter()
                .map(|p| &p.label)
                .filter(|l| !l.is_empty())
                .collect()),
        ),
        (
            IdKind::Behaviour,
            (chokepoint_core::model::Behaviour::PARAMS.iter())
                .map(|(name, _)| name.to_string())
                .collect(),
        ),
    ])
}

/// Rust type names in a plugin signature, as script writers know them.
fn script_types(sig: &str) -> String {
    let mut s = sig.to_string();
    for (from, to) in [
        ("&mut SeriesView", "Series"),
        ("SeriesView", "Series"),
        ("&str", "string"),
        ("ImmutableString", "string"),
        ("String", "string"),
        ("Num", "number"),
        ("Names", "string|array"),
        ("Span", "duration"),
        ("Dynamic", "any"),
        ("FnPtr", "fn"),
        ("Map", "map"),
        ("Array", "array"),
        ("i64", "int"),
        ("f64", "float"),
    ] {
        s = s.replace(from, to);
    }
    // Results are what the script receives.
    if let Some(i) = s.find("-> Res<") {
        let inner = s[i + 7..].trim_end_matches('>').to_string();
        s.truncate(i);
        s.push_str("-> ");
        s.push_str(&inner);
    }
    s.replace("-> ()", "").trim_end().to_string()
}

/// What holds for every function: how dates and series read (the Markdown's opening, and
/// the JSON's `notes`).
const NOTES: &str = "Dates are written `YYYY-MM-DD`; `YYYY-MM` and `YYYY` stand for the first \
     day of that month or year, so `between(s, \"2024-05\", \"2024-09\")` ends with the step \
     that starts on or before 1 September, not with September. A series holds one value per \
     step: `value_at` reads the step containing a date, `between` keeps the steps that start \
     within its two dates.";

/// The reference as Markdown.
pub fn markdown() -> String {
    let mut o = format!(
        "# chokepoint lever reference\n\nGenerated by `chokepoint docs` from the script engine itself; every example runs in the tests.\n\n{NOTES}\n\n"
    );
    for d in reference() {
        o.push_str(&format!("## `{}`\n\n{}\n", d.signature, d.text.trim_end()));
        o.push_str("\n\n");
    }
    o
}

/// The reference as JSON for tools: the same functions, signatures and texts as the
/// Markdown, with each function's runnable examples.
pub fn json() -> String {
    let functions: Vec<serde_json::Value> = reference()
        .into_iter()
        .map(|d| {
            serde_json::json!({
                "name": d.name,
                "signature": d.signature,
                "doc": d.text.trim_end(),
                "examples": d.examples(),
            })
        })
        .collect();
    let v = serde_json::json!({ "notes": NOTES, "functions": functions });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

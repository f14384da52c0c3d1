//! Trade policies as plain data. The script layer and the model's `policies:` block build
//! them from names with [`resolve`]; the engine reads them when it sets its trade rules.

use crate::date::Date;
use crate::model::{CountryId, FirmId, Model};
use crate::model_file::PolicyDef;

#[derive(Debug, Clone, PartialEq)]
pub enum PolicyKind {
    /// No exports of the covered items to the covered destinations.
    ExportBan,
    /// Exports need a licence: `approval` of requests pass, after `delay_steps`.
    ExportLicence { approval: f64, delay_steps: u32 },
    /// Exports of the covered items capped at this many tonnes (RE basis) per calendar year.
    ExportQuota { tonnes_per_year: f64 },
    /// No exports of covered items to the listed firms (and their subsidiaries).
    EntityList,
    /// Foreign-made items containing ≥ `threshold` of the covered elements need the
    /// exporter's licence when re-exported to the covered destinations.
    ContentRule {
        threshold: f64,
        approval: f64,
        delay_steps: u32,
    },
    /// Technology export ban: ramps of new facilities abroad stretch by the model's factor.
    TechBan,
    /// Import tariff levied by `importer` (in `to`) on goods from `exporter`.
    Tariff { rate: f64 },
}

impl PolicyKind {
    pub fn name(&self) -> &'static str {
        match self {
            PolicyKind::ExportBan => "export_ban",
            PolicyKind::ExportLicence { .. } => "export_licence",
            PolicyKind::ExportQuota { .. } => "export_quota",
            PolicyKind::EntityList => "entity_list",
            PolicyKind::ContentRule { .. } => "content_rule",
            PolicyKind::TechBan => "tech_ban",
            PolicyKind::Tariff { .. } => "tariff",
        }
    }

    pub const NAMES: [&'static str; 7] = [
        "export_ban",
        "export_licence",
        "export_quota",
        "entity_list",
        "content_rule",
        "tech_ban",
        "tariff",
    ];
}

/// Who a policy reaches: countries and firms (firms reach their subsidiaries). Empty means
/// everyone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Targets {
    pub countries: Vec<CountryId>,
    pub firms: Vec<FirmId>,
}

impl Targets {
    pub fn is_empty(&self) -> bool {
        self.countries.is_empty() && self.firms.is_empty()
    }

    /// Whether a buyer in `country`, belonging to `firm`, is reached.
    pub fn reaches(&self, model: &Model, country: CountryId, firm: Option<FirmId>) -> bool {
        self.countries.contains(&country)
            || firm.is_some_and(|f| self.firms.iter().any(|&t| model.firm_within(f, t)))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub kind: PolicyKind,
    /// The country whose exports are controlled; for tariffs, the exporter taxed (None: all).
    pub exporter: Option<CountryId>,
    /// Bit i set: element i is covered. Zero: every element.
    pub elements: u64,
    /// Bit i set: form i is covered. Zero: every form.
    pub forms: u64,
    /// Destinations reached; empty means all foreign buyers.
    pub to: Targets,
    /// Destinations exempted (general licences, carve-outs).
    pub exempt: Targets,
    pub start: Date,
    pub end: Option<Date>,
    pub label: String,
}

impl Policy {
    pub fn covers_element(&self, e: usize) -> bool {
        self.elements == 0 || self.elements & (1 << e) != 0
    }
    pub fn covers_form(&self, f: usize) -> bool {
        self.forms == 0 || self.forms & (1 << f) != 0
    }
    pub fn in_force(&self, date: Date) -> bool {
        self.start <= date && self.end.is_none_or(|e| date < e)
    }
    /// The policy in one line of the model's words: `export_licence by CN on Dy, Tb (all
    /// forms) to every destination, approval 50%, review 63 days, from 2025-04-07`.
    pub fn describe(&self, model: &Model) -> String {
        let names = |t: &Targets| {
            let countries = t.countries.iter().map(|&c| model.countries[c].id.as_str());
            let firms = t.firms.iter().map(|&f| model.firms[f].id.as_str());
            countries.chain(firms).collect::<Vec<_>>().join(", ")
        };
        let exporter = self
            .exporter
            .map_or("every exporter", |x| model.countries[x].id.as_str());
        let mut o = match &self.kind {
            PolicyKind::Tariff { .. } => format!("tariff by {} on {exporter}", names(&self.to)),
            kind => format!("{} by {exporter}", kind.name()),
        };
        let elements: Vec<&str> = (0..model.elements.len())
            .filter(|&e| self.elements & (1 << e) != 0)
            .map(|e| model.elements[e].symbol.as_str())
            .collect();
        let forms: Vec<&str> = (0..model.forms.len())
            .filter(|&f| self.forms & (1 << f) != 0)
            .map(|f| model.forms[f].id.as_str())
            .collect();
        if !elements.is_empty() || !forms.is_empty() {
            let or_all = |v: &[&str], all: &str| match v {
                [] => all.to_string(),
                v => v.join(", "),
            };
            o += &format!(
                " on {} ({})",
                or_all(&elements, "every element"),
                or_all(&forms, "all forms")
            );
        }
        if !matches!(self.kind, PolicyKind::Tariff { .. }) {
            match names(&self.to) {
                t if t.is_empty() => o += " to every destination",
                t => o += &format!(" to {t}"),
            }
        }
        if !self.exempt.is_empty() {
            o += &format!(", exempt {}", names(&self.exempt));
        }
        // A review is held in whole steps: its days as the run counts them.
        let days = |steps: u32| {
            let d = steps as u64 * model.step_days as u64;
            format!(
                "{d} days ({steps} step{})",
                if steps == 1 { "" } else { "s" }
            )
        };
        let pct = |x: f64| crate::series::fmt_num((x * 1000.0).round() / 10.0);
        match self.kind {
            PolicyKind::ExportLicence {
                approval,
                delay_steps,
            } => {
                o += &format!(
                    ", approval {}%, review {}",
                    pct(approval),
                    days(delay_steps)
                )
            }
            PolicyKind::ContentRule {
                threshold,
                approval,
                delay_steps,
            } => {
                o += &format!(
                    ", content {}% or more, approval {}%, review {}",
                    pct(threshold),
                    pct(approval),
                    days(delay_steps)
                )
            }
            PolicyKind::ExportQuota { tonnes_per_year } => {
                o += &format!(", {} t/yr", crate::series::fmt_num(tonnes_per_year.round()))
            }
            PolicyKind::Tariff { rate } => o += &format!(", rate {}%", pct(rate)),
            PolicyKind::ExportBan | PolicyKind::EntityList | PolicyKind::TechBan => {}
        }
        o += &format!(", from {}", self.start);
        if let Some(end) = self.end {
            o += &format!(" to {end}");
        }
        if !self.label.is_empty() && self.label != self.kind.name() {
            o += &format!(" (label {})", self.label);
        }
        o
    }

    /// Whether the policy applies to a buyer in `country` of `firm`.
    pub fn reaches(&self, model: &Model, country: CountryId, firm: Option<FirmId>) -> bool {
        if self.exempt.reaches(model, country, firm) {
            return false;
        }
        self.to.is_empty() || self.to.reaches(model, country, firm)
    }
}

/// Resolves names in a policy written as data into ids, or lists every problem as
/// `(field, message)`. `default_start` applies when the definition names no start.
pub fn resolve(
    model: &Model,
    def: &PolicyDef,
    default_start: Date,
) -> Result<Policy, Vec<(String, String)>> {
    let mut errs: Vec<(String, String)> = Vec::new();
    let mut err = |field: &str, msg: String| errs.push((field.to_string(), msg));
    let share = |v: Option<f64>, field: &str, errs: &mut dyn FnMut(&str, String)| -> f64 {
        match v {
            None => {
                errs(field, "is required".into());
                0.0
            }
            Some(x) if !(0.0..=1.0).contains(&x) => {
                errs(
                    field,
                    format!("must be between 0 and 1, got {}", crate::error::shown(x)),
                );
                0.0
            }
            Some(x) => x,
        }
    };
    let delay = |v: Option<f64>, errs: &mut dyn FnMut(&str, String)| -> u32 {
        match v {
            None => 0,
            Some(d) if !d.is_finite() || !(0.0..=3650.0).contains(&d) => {
                errs(
                    "delay_days",
                    format!(
                        "must be between 0 and 3650 days, got {}",
                        crate::error::shown(d)
                    ),
                );
                0
            }
            // A delay is whole steps: one under half a step would pass orders at once,
            // not after the days typed.
            Some(d) if d > 0.0 && (d / model.step_days as f64).round() == 0.0 => {
                errs(
                    "delay_days",
                    format!(
                        "{} days is under half of one {}-day step, so orders would pass with \
                         no delay: give 0 for none, or at least {} days",
                        crate::error::shown(d),
                        model.step_days,
                        model.step_days.div_ceil(2)
                    ),
                );
                0
            }
            Some(d) => (d / model.step_days as f64).round() as u32,
        }
    };
    let kind = match def.kind.as_str() {
        "export_ban" => PolicyKind::ExportBan,
        "export_licence" | "export_license" => PolicyKind::ExportLicence {
            approval: share(def.approval, "approval", &mut err),
            delay_steps: delay(def.delay_days, &mut err),
        },
        "export_quota" => match def.tonnes_per_year {
            // Within the bound of every other tonnage a year (the world mines ~400,000 t).
            Some(t) if (0.0..=1e7).contains(&t) => PolicyKind::ExportQuota { tonnes_per_year: t },
            Some(t) => {
                err(
                    "tonnes_per_year",
                    format!(
                        "must be between 0 and 10000000 t/yr, got {}",
                        crate::error::shown(t)
                    ),
                );
                PolicyKind::ExportQuota {
                    tonnes_per_year: 0.0,
                }
            }
            None => {
                err("tonnes_per_year", "is required".into());
                PolicyKind::ExportQuota {
                    tonnes_per_year: 0.0,
                }
            }
        },
        "entity_list" => PolicyKind::EntityList,
        "content_rule" => PolicyKind::ContentRule {
            threshold: share(def.threshold.or(Some(0.001)), "threshold", &mut err),
            // As for a licence: what share passes is the rule's point, never a default.
            approval: share(def.approval, "approval", &mut err),
            delay_steps: delay(def.delay_days, &mut err),
        },
        "tech_ban" => PolicyKind::TechBan,
        "tariff" => match def.rate {
            Some(r) if r.is_finite() && (0.0..=100.0).contains(&r) => {
                PolicyKind::Tariff { rate: r }
            }
            Some(r) => {
                err(
                    "rate",
                    format!(
                        "must be between 0 and 100 (a share: 0.25 = 25%), got {}",
                        crate::error::shown(r)
                    ),
                );
                PolicyKind::Tariff { rate: 0.0 }
            }
            None => {
                err("rate", "is required".into());
                PolicyKind::Tariff { rate: 0.0 }
            }
        },
        other => {
            err(
                "kind",
                match crate::error::did_you_mean(other, PolicyKind::NAMES) {
                    hint if hint.is_empty() => format!(
                        "unknown policy kind '{other}' (the kinds: {})",
                        PolicyKind::NAMES.join(", ")
                    ),
                    hint => format!("unknown policy kind '{other}'{hint}"),
                },
            );
            PolicyKind::ExportBan
        }
    };
    let exporter = match &def.exporter {
        // A tariff on every exporter, as scripts write it.
        Some(c) if c == "*" && matches!(kind, PolicyKind::Tariff { .. }) => None,
        Some(c) => model.country_id(c).map_err(|m| err("exporter", m)).ok(),
        None if matches!(kind, PolicyKind::Tariff { .. }) => None,
        None => {
            err("exporter", "is required".into());
            None
        }
    };
    let mut elements = 0u64;
    for (i, s) in def.elements.iter().flatten().enumerate() {
        match model.element_id(s) {
            Ok(e) => elements |= 1 << e,
            Err(m) => err(&format!("elements[{i}]"), m),
        }
    }
    let mut forms = 0u64;
    for (i, s) in def.forms.iter().flatten().enumerate() {
        match model.form_id(s) {
            Ok(f) => forms |= 1 << f,
            Err(m) => err(&format!("forms[{i}]"), m),
        }
    }
    let mut targets = |names: &Option<Vec<String>>, field: &str| -> Targets {
        let mut t = Targets::default();
        for (i, n) in names.iter().flatten().enumerate() {
            match resolve_target(model, n, &mut t) {
                Ok(()) => {}
                Err(m) => err(&format!("{field}[{i}]"), m),
            }
        }
        t
    };
    let mut to = targets(&def.to, "to");
    // What a policy covers, written and empty (a filter that came out empty, a group with
    // no members), would read as "all of them": a worldwide rule nobody wrote.
    // (An entity list's own check below asks for its firms.)
    let listing = matches!(kind, PolicyKind::EntityList);
    for (field, given, empty) in [
        ("to", def.to.is_some() && !listing, to.is_empty()),
        ("elements", def.elements.is_some(), elements == 0),
        ("forms", def.forms.is_some(), forms == 0),
    ] {
        if given && empty && errs.iter().all(|(f, _)| !f.starts_with(field)) {
            errs_push(
                &mut errs,
                field,
                format!(
                    "covers nothing (an empty list, or a group with no members): name at \
                     least one, or leave `{field}` out to cover them all"
                ),
            );
        }
    }
    if let Some(imp) = &def.importer {
        match resolve_target(model, imp, &mut to) {
            Ok(()) => {}
            Err(m) => errs_push(&mut errs, "importer", m),
        }
    }
    let exempt = {
        let mut t = Targets::default();
        for (i, n) in def.exempt.iter().flatten().enumerate() {
            if let Err(m) = resolve_target(model, n, &mut t) {
                errs_push(&mut errs, &format!("exempt[{i}]"), m);
            }
        }
        t
    };
    // (Unless a named firm was wrong: that error says it.)
    // A country named where firms belong (alone, beside firms, or in a group) is the likely
    // slip: say so. It would otherwise list the whole country.
    if matches!(kind, PolicyKind::EntityList)
        && (!to.countries.is_empty() || to.firms.is_empty() && errs.is_empty())
    {
        let countries: Vec<&str> = (to.countries.iter())
            .map(|&c| model.countries[c].id.as_str())
            .collect();
        let why = match countries.as_slice() {
            [] => "an entity list needs at least one firm or group of firms".to_string(),
            [one] => format!(
                "an entity list names firms, and {one} is a country (to control exports to a \
                 country, use export_ban or export_licence with `to`)"
            ),
            named => format!(
                "an entity list names firms, and {} are countries (to control exports to a \
                 country, use export_ban or export_licence with `to`)",
                named.join(", "),
            ),
        };
        errs_push(&mut errs, "to", why);
    }
    if matches!(kind, PolicyKind::Tariff { .. }) && !to.firms.is_empty() {
        errs_push(
            &mut errs,
            "importer",
            format!(
                "'{}' is a firm: a tariff is levied by a country",
                model.firms[to.firms[0]].id
            ),
        );
    }
    // Firms of the exporter's own country, affiliates included, and nothing foreign
    // besides: no exports at all. (A listed parent reaches its affiliates abroad.)
    let home_only = |t: FirmId, x: CountryId| {
        (0..model.firms.len())
            .filter(|&f| model.firm_within(f, t))
            .all(|f| model.firms[f].country == x)
    };
    if let Some(x) = exporter.filter(|x| {
        !to.firms.is_empty()
            && to.countries.is_empty()
            && to.firms.iter().all(|&t| home_only(t, *x))
    }) {
        let firm = &model.firms[to.firms[0]].id;
        errs_push(
            &mut errs,
            "to",
            format!(
                "{firm} is in {}, the exporter: a country's own buyers are not its exports",
                model.countries[x].id
            ),
        );
    }
    // The exporter's own country in `exempt` exempts no one: its buyers are not its exports.
    if let Some(x) = exporter.filter(|x| exempt.countries.contains(x)) {
        errs_push(
            &mut errs,
            "exempt",
            format!(
                "{} is the exporter: a country's own buyers are not its exports, so there is \
                 nothing to exempt",
                model.countries[x].id
            ),
        );
    }
    // Nor does a firm of the exporter's own country (affiliates included, nothing abroad).
    if let Some(x) = exporter {
        if let Some(&t) = exempt.firms.iter().find(|&&t| home_only(t, x)) {
            errs_push(
                &mut errs,
                "exempt",
                format!(
                    "{} is in {}, the exporter: a country's own buyers are not its exports, so \
                     there is nothing to exempt",
                    model.firms[t].id, model.countries[x].id
                ),
            );
        }
    }
    // An exemption of everything the rule reaches leaves a rule on no one.
    let covered = |t: &Targets| {
        to.countries.iter().all(|c| t.countries.contains(c))
            && to.firms.iter().all(|f| t.firms.contains(f))
    };
    if !to.is_empty() && covered(&exempt) {
        // (An entity list's `to` is the firms it lists, its second argument.)
        let what = match listing {
            true => "every listed firm",
            false => "every destination in `to`",
        };
        errs_push(
            &mut errs,
            "exempt",
            format!("exempts {what}: the rule would reach no one"),
        );
    } else if !to.is_empty() {
        // An exemption of someone the rule does not reach changes nothing: a slip (a
        // country meant for `to`, or the wrong one).
        let outside: Vec<&str> = (exempt.countries.iter())
            .filter(|&&c| !to.reaches(model, c, None))
            .map(|&c| model.countries[c].id.as_str())
            .chain(
                (exempt.firms.iter())
                    .filter(|&&f| !to.reaches(model, model.firms[f].country, Some(f)))
                    .map(|&f| model.firms[f].id.as_str()),
            )
            .collect();
        if !outside.is_empty() {
            errs_push(
                &mut errs,
                "exempt",
                format!(
                    "exempts {} outside {}: an exemption of someone the rule does not reach \
                     changes nothing",
                    outside.join(", "),
                    match kind {
                        PolicyKind::EntityList => "the listed firms (and their subsidiaries)",
                        _ => "the destinations in `to`",
                    }
                ),
            );
        }
    }
    if let Some(x) = exporter.filter(|x| to.firms.is_empty() && to.countries == [*x]) {
        let who = &model.countries[x].id;
        let (field, why) = match kind {
            PolicyKind::Tariff { .. } => ("importer", "both the importer and the exporter"),
            _ => (
                "to",
                "the exporter itself: a country's own buyers are not its exports",
            ),
        };
        errs_push(&mut errs, field, format!("{who} is {why}"));
    } else if let Some(x) = exporter.filter(|x| {
        matches!(kind, PolicyKind::Tariff { .. })
            && to.countries.len() > 1
            && to.countries.contains(x)
    }) {
        // A group's tariff on one of its own members: a customs union's members trade
        // duty-free among themselves, and its tariff on the rest of the world is on goods
        // from outside it.
        errs_push(
            &mut errs,
            "importer",
            format!(
                "{} is a member of the importing group: a customs union charges no duty \
                 between its members (a tariff by one member on another names that member \
                 as the importer)",
                model.countries[x].id
            ),
        );
    }
    let date = |s: &Option<String>, field: &str, errs: &mut Vec<(String, String)>| {
        s.as_ref().and_then(|s| {
            crate::Date::parse(s)
                .map_err(|m| errs.push((field.to_string(), m)))
                .ok()
        })
    };
    let start = date(&def.start, "start", &mut errs).unwrap_or(default_start);
    let end = date(&def.end, "end", &mut errs);
    if let Some(e) = end {
        if e <= start {
            errs.push(("end".into(), format!("{e} is not after the start {start}")));
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let label = def.label.clone().unwrap_or_else(|| kind.name().to_string());
    // A set, not a list: the same destinations in another order, or named twice, are the
    // same rule (a strategy re-pulling it must find the one in force).
    let (mut to, mut exempt) = (to, exempt);
    for t in [&mut to, &mut exempt] {
        t.countries.sort_unstable();
        t.countries.dedup();
        t.firms.sort_unstable();
        t.firms.dedup();
    }
    Ok(Policy {
        kind,
        exporter,
        elements,
        forms,
        to,
        exempt,
        start,
        end,
        label,
    })
}

fn errs_push(errs: &mut Vec<(String, String)>, field: &str, msg: String) {
    errs.push((field.to_string(), msg));
}

/// Adds a country, firm or group (its members) to a target set.
pub fn resolve_target(model: &Model, name: &str, t: &mut Targets) -> Result<(), String> {
    // Plain lookups first: the did-you-mean text is only worth building for a real miss.
    if let Some(c) = model.countries.iter().position(|c| c.id == name) {
        t.countries.push(c);
    } else if let Some(f) = model.firms.iter().position(|f| f.id == name) {
        t.firms.push(f);
    } else if let Some(g) = model.groups.iter().position(|g| g.id == name) {
        let g = &model.groups[g];
        t.countries.extend(&g.countries);
        t.firms.extend(&g.firms);
    } else if let Some(hint) = model.country_hint(name) {
        return Err(format!("unknown country, firm or group '{name}' ({hint})"));
    } else {
        let names = model
            .countries
            .iter()
            .map(|c| c.id.as_str())
            .chain(model.firms.iter().map(|f| f.id.as_str()))
            .chain(model.groups.iter().map(|g| g.id.as_str()));
        return Err(format!(
            "unknown country, firm or group '{name}'{}",
            crate::error::did_you_mean(name, names)
        ));
    }
    Ok(())
}

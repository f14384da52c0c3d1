//! Trade controls and trade costs: export bans, licences, quotas, entity lists, the
//! extraterritorial content rule, technology bans and tariffs.

use rhai::plugin::*;
use rhai::Map;

use crate::args::{policy_def, Res};
use crate::host::{err, host};
use chokepoint_core::policy::{resolve, Targets};
use chokepoint_core::sim::QUOTAS_PER_FLOW;
use chokepoint_core::{Policy, PolicyKind};

const SCOPE: [&str; 5] = ["elements", "forms", "to", "exempt", "label"];

/// Whether a policy's `elements` and `forms` together cover some good of the model: an
/// element's form in the forms named, or a mixed form named whose makers (recipes making
/// it, mines whose deposits make it) put a named element in it.
fn covers_a_good(m: &chokepoint_core::Model, p: &chokepoint_core::Policy) -> bool {
    // An element no deposit holds (Pm) is in no good at all.
    let mined =
        |e: usize| (m.deposits.iter()).any(|d| d.distribution.get(e).is_some_and(|&x| x > 0.0));
    (0..m.forms.len()).filter(|&f| p.covers_form(f)).any(|f| {
        if !m.forms[f].mixed || p.elements == 0 {
            return (0..m.elements.len()).any(|e| p.covers_element(e) && mined(e))
                || m.forms[f].mixed;
        }
        let made_with = |e: usize| {
            m.recipes
                .iter()
                .filter(|r| r.output == f)
                .any(|r| r.handles(e))
                || m.deposits
                    .iter()
                    .any(|d| d.form == f && d.distribution.get(e).is_some_and(|&x| x > 0.0))
        };
        // A mixed form no recipe or mine makes (scrap, say) may carry anything.
        let made =
            m.recipes.iter().any(|r| r.output == f) || m.deposits.iter().any(|d| d.form == f);
        (0..m.elements.len()).any(|e| p.covers_element(e) && mined(e) && (!made || made_with(e)))
    })
}

pub fn add(
    ctx: &NativeCallContext,
    kind: &str,
    exporter: Option<&str>,
    opts: &Map,
    extra: &[&str],
) -> Res<()> {
    let allowed: Vec<&str> = SCOPE.iter().chain(extra).copied().collect();
    let def = policy_def(kind, exporter, opts, &allowed)?;
    let h = host(ctx)?;
    let mut h = h.lock();
    h.ensure_running()?;
    let start = h.sim.date();
    let policy = resolve(&h.sim.model, &def, start).map_err(|errs| {
        // An entity list's destinations are the `firms` argument.
        let field = |f: &str| match f.strip_prefix("to") {
            Some(rest) if kind == "entity_list" => format!("firms{rest}"),
            _ => f.to_string(),
        };
        let text: Vec<String> = (errs.iter())
            .map(|(f, m)| format!("{}: {m}", field(f)))
            .collect();
        err(format!("{kind}: {}", text.join("; ")))
    })?;
    // "CN elements: [Dy]", "CN" alone, or "* to: [US]": no stray space either side.
    let summary = [exporter.unwrap_or(""), &describe(opts)]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    // The same rule pulled again (a strategy re-imposing it each step) is the one in force:
    // copies would stack, a licence's refusals compounding and quotas running out, and a
    // tariff would be ended and laid again every step. A rule `lift_controls` narrowed is
    // judged by the reach it was pulled with, so its lifted firms stay lifted.
    let same = |(i, p): (usize, &Policy)| {
        let terms = (&p.kind, p.exporter, p.elements, p.forms, &p.label, p.end)
            == (
                &policy.kind,
                policy.exporter,
                policy.elements,
                policy.forms,
                &policy.label,
                policy.end,
            );
        let reach = |to: &Targets, exempt: &Targets| (to, exempt) == (&policy.to, &policy.exempt);
        p.in_force(start)
            && terms
            && (reach(&p.to, &p.exempt)
                || h.imposed_reach.get(&i).is_some_and(|r| reach(&r.0, &r.1)))
    };
    if h.sim.policies.iter().enumerate().any(same) {
        return Ok(());
    }
    if matches!(
        policy.kind,
        PolicyKind::ExportLicence { .. } | PolicyKind::ExportQuota { .. }
    ) {
        // A licence or quota pulled again under its label, over the same goods, on a later
        // step is the measure with new terms (a higher approval share, next year's
        // tonnage): it replaces the one in force rather than stacking on it (two licences
        // compound their refusals; two quotas, the lower binds). Rules pulled in one step
        // under one label are parts of one measure (one per destination, say) and stack.
        // The same measure: kind, exporter, goods, label and reach (as pulled: a rule
        // `lift_controls` narrowed is judged by the reach it was pulled with).
        let renewed = |(i, p): (usize, &Policy)| {
            let reach =
                |to: &Targets, exempt: &Targets| (to, exempt) == (&policy.to, &policy.exempt);
            p.kind.name() == policy.kind.name()
                && (p.exporter, p.elements, p.forms, &p.label)
                    == (
                        policy.exporter,
                        policy.elements,
                        policy.forms,
                        &policy.label,
                    )
                && (reach(&p.to, &p.exempt)
                    || h.imposed_reach.get(&i).is_some_and(|r| reach(&r.0, &r.1)))
                && p.start < start
                && p.in_force(start)
        };
        let ended: Vec<(usize, chokepoint_core::Date)> = (h.sim.policies.iter().enumerate())
            .filter(|&ip| renewed(ip))
            .map(|(i, p)| (i, p.start))
            .collect();
        if let Some(&(_, since)) = ended.first() {
            for &(i, _) in &ended {
                h.sim.policies[i].end = Some(start);
            }
            h.sim.touch();
            // Said once per measure (its label and destinations): a rule renewing it every
            // step would say it every step.
            let m = &h.sim.model;
            let to: Vec<&str> = (policy
                .to
                .countries
                .iter()
                .map(|&c| m.countries[c].id.as_str()))
            .chain(policy.to.firms.iter().map(|&f| m.firms[f].id.as_str()))
            .collect();
            let to = match to.is_empty() {
                true => "every destination".to_string(),
                false => to.join(", "),
            };
            let head = format!(
                "note: {kind} '{}' of {} to {to} pulled again over the same goods and \
                 destinations",
                policy.label,
                exporter.unwrap_or("*")
            );
            if !h.output.iter().any(|o| o.starts_with(&head)) {
                let note = format!(
                    "{head} (first on {start}) replaces the one in force since {since}: the \
                     new terms apply from that step"
                );
                h.output.push(note);
            }
        }
    }
    if let PolicyKind::Tariff { rate } = policy.kind {
        // A tariff replaces the one the same importer has on the same exporter and goods;
        // a rate of 0 only ends it.
        let same = |p: &Policy| {
            matches!(p.kind, PolicyKind::Tariff { .. })
                && (p.exporter, p.elements, p.forms)
                    == (policy.exporter, policy.elements, policy.forms)
                && p.to == policy.to
        };
        let ended = h.sim.end_policies(start, same);
        if rate == 0.0 {
            // A rate of 0 ends a tariff; with none in force (a rule switching it each step,
            // a sweep whose range starts at 0) it pulls no lever, as a floor of 0 does.
            if ended > 0 {
                h.log(kind, summary);
            }
            return Ok(());
        }
    }
    if let PolicyKind::ExportQuota { .. } = policy.kind {
        // The engine reads up to three quotas over one flow: a fourth would be ignored.
        let overlaps = |p: &Policy| {
            p.end.is_none_or(|e| e > policy.start) && policy.end.is_none_or(|e| p.start < e)
        };
        let same: Vec<&str> = h
            .sim
            .policies
            .iter()
            .filter(|p| matches!(p.kind, PolicyKind::ExportQuota { .. }))
            .filter(|p| p.exporter == policy.exporter && overlaps(p))
            .map(|p| p.label.as_str())
            .collect();
        if same.len() >= QUOTAS_PER_FLOW {
            // A quota pulled without a label goes by its kind: say so, not the kind thrice.
            let unlabelled = same.iter().filter(|l| **l == "export_quota").count();
            let mut named: Vec<String> = (same.iter())
                .filter(|l| **l != "export_quota")
                .map(|l| format!("'{l}'"))
                .collect();
            if unlabelled > 0 {
                named.push(format!("{unlabelled} without a label"));
            }
            let x = exporter.unwrap_or("");
            return Err(err(format!(
                "export_quota: {x} already has {} export quotas in force ({}); at most \
                 {QUOTAS_PER_FLOW} can cap one exporter at once. End one first with \
                 lift(\"{x}\", label){}",
                same.len(),
                named.join(", "),
                if unlabelled > 0 {
                    format!(" (lift(\"{x}\", \"export_quota\") ends those without one)")
                } else {
                    String::new()
                },
            )));
        }
    }
    // Elements and forms that no traded good combines (La in SmCo magnets) cover nothing.
    if (policy.elements != 0 || policy.forms != 0) && !covers_a_good(&h.sim.model, &policy) {
        let effect = if kind == "tech_ban" {
            "this ban slows no plant's ramp"
        } else {
            "this rule moves no flow"
        };
        let note = format!(
            "note: {kind}: no good in {} is of the forms named with the elements named (a \
             mixed form counts the elements its makers put in it), so {effect}",
            h.sim.model.name
        );
        if !h.output.contains(&note) {
            h.output.push(note);
        }
    }
    // A group naming the exporter among others (the G7 for Japan's own ban) is read as
    // its other members: a country's own buyers are not its exports.
    if let Some(x) = policy.exporter.filter(|&x| {
        policy.to.countries.contains(&x) && !matches!(policy.kind, PolicyKind::Tariff { .. })
    }) {
        let note = format!(
            "note: {kind}: the destinations include {}, the exporter itself (through a group): \
             its own buyers are not its exports, so the rule reaches the others",
            h.sim.model.countries[x].id
        );
        if !h.output.contains(&note) {
            h.output.push(note);
        }
    }
    if let PolicyKind::EntityList = policy.kind {
        // A listing of firms the model gives no demand is a no-op: say so, or "nothing
        // changed" reads as an answer about the world rather than about the model.
        let m = std::sync::Arc::clone(&h.sim.model);
        let buys = (m.sectors.iter()).any(|sec| {
            (sec.firms.iter())
                .any(|&(f, share)| share > 0.0 && policy.to.reaches(&m, sec.country, Some(f)))
        });
        // A listed firm's plants buy their inputs: the listing reaches those too.
        let owns = (m.facilities.iter()).any(|fac| {
            matches!(fac.process, chokepoint_core::model::Process::Convert(_))
                && fac
                    .firm
                    .is_some_and(|f| policy.to.reaches(&m, fac.country, Some(f)))
        });
        if !buys && !owns {
            // Said once, however many exporters list the same firms.
            let note = format!(
                "note: entity_list: none of the listed firms owns a plant that buys inputs or \
                 holds a share of any sector's demand in {} (sectors' `firms:`), so this \
                 listing moves no flow",
                m.name
            );
            if !h.output.contains(&note) {
                h.output.push(note);
            }
        }
    }
    // Forms named that the exporter makes, holds and returns none of (Myanmar's mines make
    // clay-concentrate, not concentrate): the rule reaches no seller. Said with what it
    // does make, once.
    let sells = !matches!(
        policy.kind,
        PolicyKind::TechBan | PolicyKind::ContentRule { .. }
    );
    if let Some(x) = policy.exporter.filter(|_| sells && policy.forms != 0) {
        let m = &h.sim.model;
        let mut made: Vec<usize> = (m.facilities.iter())
            .filter(|f| f.country == x)
            .map(|f| f.output_form(m))
            .chain(
                (m.stockpiles.iter())
                    .filter(|s| s.country == x)
                    .map(|s| s.form),
            )
            // Its sectors return scrap (a `recycling` lever may start them any time).
            .chain(
                (m.forms.iter().position(|f| f.id == "scrap"))
                    .filter(|_| m.sectors.iter().any(|s| s.country == x)),
            )
            .collect();
        made.sort_unstable();
        made.dedup();
        if !made.iter().any(|&f| policy.covers_form(f)) {
            let what = match made.is_empty() {
                true => "has no plant, mine or stockpile".to_string(),
                false => {
                    let ids: Vec<&str> = made.iter().map(|&f| m.forms[f].id.as_str()).collect();
                    format!("makes and holds only {}", ids.join(", "))
                }
            };
            // "Reaches no seller ... unless": a plant built there later is reached (and once
            // it has some on offer, the control segments the form's markets).
            let note = format!(
                "note: {kind}: {} {what} in {} now, none of the forms named, so this rule \
                 reaches no seller unless one is built there",
                m.countries[x].id, m.name
            );
            if !h.output.contains(&note) {
                h.output.push(note);
            }
        }
    }
    // Destinations (countries only, no firms) where nobody takes any of the forms named:
    // no buyer there for the rule to keep anything from.
    let to = &policy.to;
    if sells && to.firms.is_empty() && !to.countries.is_empty() {
        let m = &h.sim.model;
        let takes =
            |x: usize| (0..m.forms.len()).any(|f| policy.covers_form(f) && h.sim.anyone_buys(x, f));
        if !to.countries.iter().any(|&x| takes(x)) {
            let ids: Vec<&str> = (to.countries.iter())
                .map(|&x| m.countries[x].id.as_str())
                .collect();
            let note = format!(
                "note: {kind}: nobody in {} takes any of the goods named in {} now (no \
                 plant, sector or stockpile there buys them), so this rule moves no flow \
                 unless one is built there",
                ids.join(", "),
                m.name
            );
            if !h.output.contains(&note) {
                h.output.push(note);
            }
        }
    }
    h.sim.add_policy(policy);
    h.log(kind, summary);
    Ok(())
}

pub fn describe(opts: &Map) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (k, v) in opts {
        parts.push(format!("{k}: {v}"));
    }
    parts.join(", ")
}

#[export_module]
pub mod trade_api {
    use super::add;

    /// How the note on what a tariff does begins.
    const TARIFF_NOTE: &str = "note: tariff:";
    /// How the note on what a tariff does begins, said once per run (other tariff notes,
    /// such as one on goods its exporter does not make, begin with `TARIFF_NOTE` too).
    const TARIFF_EXPLAINED: &str = "note: tariff: it lowers the taxed supplier's share";
    use crate::args::{names, number, Names, Num, Res};
    use crate::host::{err, host};
    use chokepoint_core::policy::{resolve_target, Targets};
    use chokepoint_core::PolicyKind;
    use rhai::{Array, Map};

    /// Bans exports from `exporter` of the covered elements and forms to the covered
    /// destinations (all foreign buyers when `to` is omitted). A ban on some destinations
    /// leaks: buyers elsewhere take the exporter's goods and release theirs from other
    /// suppliers to the banned ones, up to the model's `diversion` share (models/README);
    /// tariffs on those routes scale it, and `content_rule` closes it for made goods.
    /// Named `elements` reach a mixed form (magnets, concentrate) that typically holds any of
    /// them, whole: a Dy and Tb ban stops NdFeB magnets, which carry a few percent of both,
    /// as China's No. 18 covered magnets containing the seven (give `forms` to narrow it).
    ///
    /// Options: `elements` and `forms` it covers (all when left out), `to` (countries, firms
    /// or groups; all foreign buyers when left out), `exempt` (the same kinds, with general
    /// licences), `label` (for `lift`). An import ban is every exporter's ban to the
    /// importer: China refusing Myanmar's and Thailand's clay feed is a ban by each, `to`
    /// China, on `clay-concentrate` (the form ion-adsorption clays make; `concentrate` is
    /// the mineral one).
    ///
    /// ```rhai
    /// export_ban("CN", #{ elements: ["Dy", "Tb"], to: ["US"] });
    /// for x in ["MM", "TH"] {
    ///     export_ban(x, #{ forms: ["clay-concentrate"], to: ["CN"], label: "no-clay" });
    /// }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn export_ban(ctx: NativeCallContext, exporter: &str, opts: Map) -> Res<()> {
        add(&ctx, "export_ban", Some(exporter), &opts, &[])
    }

    /// Requires an export licence: `approval` (0..1) of orders pass, after `delay_days`.
    /// `exempt` lists countries, firms or groups with general licences. Licences are
    /// granted against use: below full approval a buyer gets at most `approval` times a
    /// step's use per step, so it cannot rebuild its stocks through the licence; at full
    /// approval (general licences) it also rebuilds its stock and its pipeline, spread over
    /// the review. Through a review's wait (a review begun, or terms raised) a buyer keeps
    /// its cover with what can be had now (through `diversion`), so a licence on some
    /// destinations leaves its stocks where they were and its magnet users no shorter than
    /// a ban, and less short on average the more it approves (small markets with few
    /// routes can still come out shorter; models/README);
    /// one on every destination leaves nobody to re-route through. Supply contracts pass
    /// at the approval share without the delay. A delay is whole steps (63 days is 9 weeks; one under half a
    /// step, 1 to 3 days, is refused: 0 is none). Shipments count in `trade`, `exports` and `imports` when they are ordered and
    /// reach buyers after the delay (see `licence_queue`); lifting the licence releases
    /// those already waiting, which arrive that week. A ban or entity listing that comes
    /// while they wait holds them at the exporter, still in the queue, until it lifts (they
    /// arrive that week; a note after the run gives what one still holds at the end). A
    /// licence on some destinations leaks as a ban does: what it refuses can come to the
    /// buyers through others (`diversion`, models/README).
    /// Two licences over the same flow under different labels both apply (0.5 and 0.5
    /// pass a quarter), as do those pulled in one step (parts of one measure); pulling the
    /// same one again (the same terms and label) keeps the one in force, and pulling it on
    /// a later step under its label (the kind's name without one) over the same goods and
    /// destinations with new terms (approval raised to 1 after a deal) replaces it: the new
    /// terms apply from that step (a note says so).
    ///
    /// Options: `elements` and `forms` it covers (all when left out), `to` (countries, firms
    /// or groups; all foreign buyers when left out), `exempt` (the same kinds, with general
    /// licences), `label` (for `lift`), `approval` (required) and `delay_days` (0 to 3650; 0 when
    /// left out).
    ///
    /// ```rhai
    /// export_licence("CN", #{ elements: ["Sm", "Gd", "Tb", "Dy", "Lu", "Sc", "Y"],
    ///                         approval: 0.3, delay_days: 63 });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn export_licence(ctx: NativeCallContext, exporter: &str, opts: Map) -> Res<()> {
        add(
            &ctx,
            "export_licence",
            Some(exporter),
            &opts,
            &["approval", "delay_days"],
        )
    }

    /// Caps exports of the covered items at `tonnes_per_year` (REO basis), paced through
    /// each calendar year by its steps: each of the year's steps (52 or 53 weekly) adds an
    /// equal share of the year's tonnes, and what a step leaves unshipped carries on. One
    /// imposed during a year paces from its first step (imposed in July, half the year's
    /// tonnes by December). Supply contracts and offtakes count against it and are served
    /// first, before the market (contracts sharing the room pro-rata); in the market,
    /// the dearest goods first, higher priority first, and buyers of equal priority share
    /// what room is left pro-rata to what they order. Quotas that overlap (a total and a
    /// sub-quota for some elements) each cap the flows they cover; up to three of one
    /// exporter can be in force at once (a fourth is an error: lift one first). A quota on
    /// some `elements` counts a mixed form (magnets, concentrate) by its content of them: a
    /// magnet's Dy, not its Nd, and holds back the whole magnet. A quota on some
    /// destinations leaks once its room is spent, as a ban does (`diversion`,
    /// models/README): a quota of 0 stops what the ban stops (prices elsewhere can part by
    /// a few percent: scripts/README). Pulled again on a later step under its
    /// label (the kind's name without one) over the same goods and destinations (next
    /// year's tonnage), it replaces the one in force, pacing its new tonnage from that step
    /// (a note says so); under another label, or over other goods, the two both cap.
    ///
    /// Options: `elements` and `forms` it covers (all when left out), `to` (countries, firms
    /// or groups; all foreign buyers when left out), `exempt` (the same kinds, with general
    /// licences), `label` (for `lift`), and `tonnes_per_year` (required).
    ///
    /// ```rhai
    /// export_quota("CN", #{ tonnes_per_year: 30258.0 });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn export_quota(ctx: NativeCallContext, exporter: &str, opts: Map) -> Res<()> {
        add(
            &ctx,
            "export_quota",
            Some(exporter),
            &opts,
            &["tonnes_per_year"],
        )
    }

    /// Puts firms (ids or group ids, and their subsidiaries) on `exporter`'s entity list:
    /// no exports of covered items to them.
    ///
    /// ```rhai
    /// entity_list("CN", ["lockheed-martin"]);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn entity_list(ctx: NativeCallContext, exporter: &str, firms: Names) -> Res<()> {
        entity_list_opts(ctx, exporter, firms, Map::new())
    }

    /// Entity list with options: `elements` and `forms` it covers (all when left out),
    /// `exempt` (listed firms or subsidiaries the listing spares), `label` (for `lift`).
    ///
    /// ```rhai
    /// entity_list("CN", ["lockheed-martin"], #{ elements: ["Dy"] });
    /// ```
    #[rhai_fn(name = "entity_list", return_raw)]
    pub fn entity_list_opts(
        ctx: NativeCallContext,
        exporter: &str,
        firms: Names,
        opts: Map,
    ) -> Res<()> {
        if opts.contains_key("to") {
            return Err(err(
                "entity_list: `to` is not an option here: the listed firms are the second \
                 argument (use `exempt` for firms or countries the listing spares)",
            ));
        }
        // Its options are the scope's, bar `to` (the firms): a misspelt key is named against those.
        const OPTIONS: [&str; 4] = ["elements", "forms", "exempt", "label"];
        crate::args::known_options("entity_list", &opts, &OPTIONS)?;
        let mut opts = opts;
        opts.insert(
            "to".into(),
            Dynamic::from(
                names(&firms, "firms")?
                    .into_iter()
                    .map(Dynamic::from)
                    .collect::<Array>(),
            ),
        );
        add(&ctx, "entity_list", Some(exporter), &opts, &[])
    }

    /// Lifts `exporter`'s controls on the named firms, countries or groups, a firm's with its
    /// subsidiaries' (as listing a parent reaches them): they leave the policies that name
    /// them, and are exempted from those that reach them another way (a control on their
    /// country, on a parent firm, on everyone: a licence regime too).
    /// Returns how many policies changed. To end only a listing, `lift` its label. A rule
    /// that still reaches others (the firms exempted from it, or taken off a list of several)
    /// is still the one in force when pulled again as it was first pulled (a strategy
    /// re-imposing it), so the firms stay lifted; `lift` the rule and pull it anew to reach
    /// them again. A list the firms were all on ends: pulling it again lists them again.
    ///
    /// ```rhai
    /// entity_list("CN", ["lockheed-martin"]);
    /// let n = lift_controls("CN", ["lockheed-martin"]);
    /// expect(n == 1, "one listing lifted");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn lift_controls(ctx: NativeCallContext, exporter: &str, who: Names) -> Res<i64> {
        let list = names(&who, "who")?;
        let h = host(&ctx)?;
        let mut h = h.lock();
        h.ensure_running()?;
        let model = h.sim.model.clone();
        let x = model.country_id(exporter).map_err(err)?;
        if list.is_empty() {
            return Err(err(
                "lift_controls: names no one: give the firms, countries or groups to lift for",
            ));
        }
        let mut lifted = Targets::default();
        for n in &list {
            resolve_target(&model, n, &mut lifted).map_err(err)?;
        }
        if lifted.countries.contains(&x) {
            return Err(err(format!(
                "lift_controls: {exporter} is the exporter: its controls never reach its own \
                 buyers (to end a rule, `lift` its label)"
            )));
        }
        // A firm of the exporter's own country (and no affiliate abroad) is not reached either.
        let home = |t: usize| {
            (0..model.firms.len())
                .filter(|&f| model.firm_within(f, t))
                .all(|f| model.firms[f].country == x)
        };
        if let Some(&t) = lifted.firms.iter().find(|&&t| home(t)) {
            return Err(err(format!(
                "lift_controls: {} is in {exporter}, the exporter: its controls never reach \
                 its own country's buyers",
                model.firms[t].id
            )));
        }
        // A firm's controls are lifted with its subsidiaries' and affiliates' (as a listing
        // of a parent reaches them): lifting for a parent ends a listing of its subsidiary.
        let named = std::mem::take(&mut lifted.firms);
        lifted.firms = (0..model.firms.len())
            .filter(|&f| named.iter().any(|&t| model.firm_within(f, t)))
            .collect();
        let date = h.sim.date();
        let mut changed = 0;
        let mut ended = Vec::new();
        let mut narrowed = Vec::new();
        for (i, p) in h.sim.policies.iter_mut().enumerate() {
            if p.exporter != Some(x)
                || !p.in_force(date)
                || matches!(p.kind, PolicyKind::Tariff { .. })
            {
                continue;
            }
            let before = (p.to.clone(), p.exempt.clone());
            // Named in the policy: they leave it (a list left empty ends).
            p.to.firms.retain(|f| !lifted.firms.contains(f));
            p.to.countries.retain(|c| !lifted.countries.contains(c));
            if !before.0.is_empty() && p.to.is_empty() {
                ended.push(i);
                changed += 1;
                continue;
            }
            // Still reached another way (their country, a parent firm, a control on
            // everyone): lifting for them exempts them.
            let list = matches!(p.kind, PolicyKind::EntityList);
            let reached = |p: &chokepoint_core::Policy, c, f| {
                if list {
                    p.to.reaches(&model, c, f) && !p.exempt.reaches(&model, c, f)
                } else {
                    p.reaches(&model, c, f)
                }
            };
            for &f in &lifted.firms {
                if reached(p, model.firms[f].country, Some(f)) {
                    p.exempt.firms.push(f);
                }
            }
            for &c in &lifted.countries {
                if reached(p, c, None) {
                    p.exempt.countries.push(c);
                }
            }
            // Kept as sets, as `resolve` makes them.
            p.exempt.firms.sort_unstable();
            p.exempt.firms.dedup();
            p.exempt.countries.sort_unstable();
            p.exempt.countries.dedup();
            if (&p.to, &p.exempt) != (&before.0, &before.1) {
                changed += 1;
                narrowed.push((i, before));
            }
        }
        for (i, before) in narrowed {
            h.imposed_reach.entry(i).or_insert(before);
        }
        for i in ended {
            h.sim.policies[i].end = Some(date);
        }
        // Lifting what nothing controls is no lever pulled (it returns 0, which says so).
        if changed > 0 {
            h.sim.touch();
            h.log(
                "lift_controls",
                format!("{exporter} lifts controls on {}", list.join(", ")),
            );
        }
        Ok(changed)
    }

    /// Ends every policy with this label (or kind, e.g. "export_licence") for `exporter`
    /// ("*": of every exporter, and tariffs laid on all of them). Returns how many ended (0
    /// for a label used before but not in force now). A label never used for `exporter` is
    /// an error, inside `at`, `every` and `when` too.
    ///
    /// ```rhai
    /// export_ban("CN", #{ elements: ["Dy"], label: "dy-ban" });
    /// expect(lift("CN", "dy-ban") == 1, "the ban is lifted");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn lift(ctx: NativeCallContext, exporter: &str, label: &str) -> Res<i64> {
        let h = host(&ctx)?;
        let mut h = h.lock();
        h.ensure_running()?;
        // "*" reaches every exporter, and the tariffs laid on all of them.
        let x = match exporter {
            "*" => None,
            _ => Some(h.sim.model.country_id(exporter).map_err(err)?),
        };
        let date = h.sim.date();
        let lifted = |p: &Policy| {
            x.is_none_or(|x| p.exporter == Some(x)) && (p.label == label || p.kind.name() == label)
        };
        // A rule that began in this very step ends before any trade saw it.
        let m = &h.sim.model;
        let unacted: Option<String> = (h.sim.policies.iter())
            .find(|p| p.in_force(date) && p.start == date && lifted(p))
            .map(|p| {
                let whose = p
                    .exporter
                    .map_or("every exporter", |x| m.countries[x].id.as_str());
                match p.label == p.kind.name() {
                    true => format!("{whose}'s {}", p.label),
                    false => format!("{whose}'s '{}' ({})", p.label, p.kind.name()),
                }
            });
        if let Some(rule) = unacted {
            let note = format!(
                "note: lift: {rule} began in the step of {date} and is lifted in it: it never \
                 acted (a step is {} days; a rule must last at least one to act)",
                h.sim.model.step_days
            );
            if !h.output.contains(&note) {
                h.output.push(note);
            }
        }
        let n = h.sim.end_policies(date, lifted);
        if n == 0 {
            // Ending nothing is a typo unless the label was ever used for the exporter (a
            // rule run each step may lift what is no longer, or not yet again, in force).
            // Inside `at`, `every` and `when` too: a typo there would leave a ban in force.
            let mut known: Vec<&str> = h
                .sim
                .policies
                .iter()
                .filter(|p| x.is_none_or(|x| p.exporter == Some(x)))
                .flat_map(|p| [p.label.as_str(), p.kind.name()])
                .collect();
            known.sort_unstable();
            known.dedup();
            if !known.contains(&label) {
                let hint = chokepoint_core::error::did_you_mean(label, known.iter().copied());
                let (whose, labels) = match (x, known.is_empty()) {
                    (None, true) => ("of any exporter".to_string(), "there are none".into()),
                    (None, false) => (
                        "of any exporter".to_string(),
                        format!("their labels and kinds: {}", known.join(", ")),
                    ),
                    (Some(_), true) => (format!("of {exporter}"), format!("{exporter} has none")),
                    (Some(_), false) => (
                        format!("of {exporter}"),
                        format!("its labels and kinds: {}", known.join(", ")),
                    ),
                };
                // A tariff belongs to the exporter it is laid on, not the importer that lays
                // it: `lift("US", …)` for the US's own tariffs is the likely slip.
                let laid_on: Vec<String> = match x {
                    Some(x) => {
                        let m = &h.sim.model;
                        let mut on: Vec<String> = (h.sim.policies.iter())
                            .filter(|p| matches!(p.kind, PolicyKind::Tariff { .. }))
                            .filter(|p| p.label == label || p.kind.name() == label)
                            .filter(|p| p.to.countries.contains(&x))
                            .map(|p| {
                                p.exporter
                                    .map_or("*".to_string(), |e| m.countries[e].id.clone())
                            })
                            .collect();
                        on.dedup();
                        on
                    }
                    None => Vec::new(),
                };
                let tariff_hint = match laid_on.first() {
                    Some(on) => format!(
                        "; {exporter}'s tariffs are lifted by the exporter they are laid on: \
                         lift(\"{on}\", \"{label}\")"
                    ),
                    None => String::new(),
                };
                return Err(err(format!(
                    "lift: no policy {whose} is labelled '{label}'{hint} ({labels}){tariff_hint}"
                )));
            }
        }
        if n > 0 {
            h.log("lift", format!("{exporter} lifts {label}"));
        }
        Ok(n as i64)
    }

    /// The extraterritorial rule: items made abroad that contain at least `threshold` of
    /// the covered elements need `exporter`'s licence (`approval`, required, and
    /// `delay_days`) to be re-exported to the covered destinations. `threshold` defaults
    /// to 0.001: the 0.1% de-minimis of MOFCOM No. 61 (Oct 2025), which is stated by value
    /// and applied here to rare-earth content.
    ///
    /// Options: `elements` and `forms` it covers (all when left out), `to` (countries, firms
    /// or groups; all foreign buyers when left out), `exempt` (the same kinds, with general
    /// licences), `label` (for `lift`), `approval`, `threshold` and `delay_days`.
    ///
    /// ```rhai
    /// content_rule("CN", #{ elements: ["Dy", "Tb"], threshold: 0.001, approval: 0.5, delay_days: 45 });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn content_rule(ctx: NativeCallContext, exporter: &str, opts: Map) -> Res<()> {
        add(
            &ctx,
            "content_rule",
            Some(exporter),
            &opts,
            &["threshold", "approval", "delay_days"],
        )
    }

    /// Bans the export of processing technology: new facilities abroad (started from now)
    /// ramp more slowly, by the model's `tech_ban_ramp_factor`. Lifted, they ramp at full
    /// pace from where they stand: the months ramped slowly stay lost.
    ///
    /// Options: `elements` and `forms` it covers (all when left out), `to` (countries, firms
    /// or groups; plants in every foreign country when left out), `exempt` (the same kinds, with general
    /// licences), `label` (for `lift`).
    ///
    /// ```rhai
    /// tech_ban("CN", #{});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn tech_ban(ctx: NativeCallContext, exporter: &str, opts: Map) -> Res<()> {
        add(&ctx, "tech_ban", Some(exporter), &opts, &[])
    }

    /// A tariff by `importer` on goods from `exporter` ("*" for all), as a share (0.25 =
    /// 25%; 0 to 100). Buyers shift toward untariffed suppliers that have the goods on
    /// offer (a maker of magnets makes what it sells, so in world-2024 a tariff on China's
    /// magnets finds no other exporter with magnets to sell: it collects duty and moves no
    /// tonne, where one on oxide or metal moves trade), and the importer collects the duty on
    /// what its buyers still import, contracted tonnes included, valued at its market's
    /// price (a receipt: `policy_cost` falls by it). Its own stockpiles' purchases pay none.
    /// Buyers' prices do not include it. It replaces the tariff the importer
    /// already has on the same exporter and goods (rates do not stack); 0 ends it. The
    /// importer may be a group of countries (a customs union). Where several tariffs on one
    /// exporter reach the same flow (a group's and a member's own, one on all goods and one
    /// on magnets), the one pulled last (or listed last in the model) applies, not their
    /// product; a tariff on every exporter ("*") and one on a single exporter do stack.
    /// `lift(exporter, "tariff")` ends every importer's tariffs on that exporter.
    ///
    /// ```rhai
    /// tariff("US", "CN", 0.25);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn tariff(ctx: NativeCallContext, importer: &str, exporter: &str, rate: Num) -> Res<()> {
        tariff_opts(ctx, importer, exporter, rate, Map::new())
    }

    /// Tariff with options: `elements` and `forms` it covers (all when left out), `label`
    /// (for `lift(exporter, label)`, which ends that tariff alone).
    ///
    /// ```rhai
    /// tariff("US", "CN", 0.25, #{ forms: ["magnet:NdFeB"], label: "s301-magnets" });
    /// ```
    #[rhai_fn(name = "tariff", return_raw)]
    pub fn tariff_opts(
        ctx: NativeCallContext,
        importer: &str,
        exporter: &str,
        rate: Num,
        opts: Map,
    ) -> Res<()> {
        // The importer and the rate are arguments; a tariff exempts no one.
        const TARIFF: [&str; 3] = ["elements", "forms", "label"];
        if let Some(k) = opts.keys().find(|k| !TARIFF.contains(&k.as_str())) {
            let hint = chokepoint_core::error::did_you_mean(k, TARIFF.iter().copied());
            return Err(err(format!(
                "tariff: unknown option '{k}'{hint}; options are {} (the importer, exporter \
                 and rate are its first three arguments)",
                TARIFF.join(", ")
            )));
        }
        let mut opts = opts;
        let rate = number(&rate, "rate")?;
        opts.insert("rate".into(), Dynamic::from(rate));
        opts.insert(
            "to".into(),
            Dynamic::from(vec![Dynamic::from(importer.to_string())]),
        );
        let exporter = (exporter != "*").then_some(exporter);
        // The importer is read as a one-entry `to`: a mistake in it is named as written.
        add(&ctx, "tariff", exporter, &opts, &["rate"]).map_err(|e| match *e {
            EvalAltResult::ErrorRuntime(msg, pos) if msg.to_string().contains("to[0]: ") => {
                let msg = msg.to_string().replacen("to[0]: ", "importer: ", 1);
                Box::new(EvalAltResult::ErrorRuntime(msg.into(), pos))
            }
            e => Box::new(e),
        })?;
        // What a tariff does here is narrower than what the word suggests: say so, once,
        // where one is laid (a rate of 0 only ends one).
        if let Some(handle) = host(&ctx).ok().filter(|_| rate > 0.0) {
            let mut h = handle.lock();
            if !h.output.iter().any(|l| l.starts_with(TARIFF_EXPLAINED)) {
                h.output.push(format!(
                    "{TARIFF_NOTE} it lowers the taxed supplier's share of importers' orders \
                     where other suppliers have supply to spare, and the importer collects its \
                     duty (policy_cost, negative: receipts); it does not raise the price \
                     buyers pay (the model has no duty-paid price), so where nobody else can \
                     supply it changes little (models/README.md: \"Tariffs move weights\")"
                ));
            }
            if rate >= 5.0 {
                // A percentage written as a number (25 for 25%) is 2,500%: legal, and likely
                // a slip.
                h.output.push(format!(
                    "note: tariff: a rate of {rate} is {:.0}%: rates are shares of the value \
                     (0.25 is 25%)",
                    rate * 100.0
                ));
            }
        }
        Ok(())
    }

    /// The members of a group from the model (firm and country ids), e.g. an entity list.
    ///
    /// ```rhai
    /// let g = group("cn-ecl-2025-04");
    /// expect(g.len() == 28, "28 US firms");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn group(ctx: NativeCallContext, id: &str) -> Res<Array> {
        let h = host(&ctx)?;
        let h = h.lock();
        let m = &h.sim.model;
        let g = &m.groups[m.group_id(id).map_err(err)?];
        Ok(g.firms
            .iter()
            .map(|&f| Dynamic::from(m.firms[f].id.clone()))
            .chain(
                g.countries
                    .iter()
                    .map(|&c| Dynamic::from(m.countries[c].id.clone())),
            )
            .collect())
    }
}

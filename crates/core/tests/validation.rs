//! Every validation rule, one mutation of the test world each: the loader must report the
//! problem with its field path, and nothing else may be wrong.

use chokepoint_core::load_str;
use chokepoint_core::model::Warning;

/// Warnings as `check` lists them, one a line.
trait Lines {
    fn join(&self, sep: &str) -> String;
}

impl Lines for Vec<Warning> {
    fn join(&self, sep: &str) -> String {
        let lines: Vec<String> = self.iter().map(ToString::to_string).collect();
        lines.join(sep)
    }
}

const MINI: &str = include_str!("fixtures/mini.yaml");

/// Applies `from -> to` to the fixture and returns the problems as text.
fn problems(from: &str, to: &str) -> String {
    assert!(MINI.contains(from), "the fixture contains {from:?}");
    let text = MINI.replacen(from, to, 1);
    match load_str("mini.yaml", &text) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// Applies `from -> to` to the fixture, which must stay valid, and returns what `check`
/// warns of.
fn warnings(from: &str, to: &str) -> String {
    assert!(MINI.contains(from), "{from}");
    load_str("mini.yaml", &MINI.replacen(from, to, 1))
        .unwrap()
        .warnings()
        .join("\n")
}

#[test]
fn the_fixture_itself_is_valid() {
    assert!(load_str("mini.yaml", MINI).is_ok());
}

#[test]
fn every_rule_reports_its_place() {
    let cases: &[(&str, &str, &str)] = &[
        // header
        ("  name: mini\n", "  name: \"\"\n", "model.name: must not be empty"),
        ("  end: 2027-12-31\n", "  end: 2200-12-31\n", "model.end: the horizon is limited to 100 years"),
        ("  start: 2024-01-01\n", "  start: 2024-1-1\n", "model.start: '2024-1-1' is not a date"),
        ("  step_days: 7\n", "  step_days: 0\n", "model.step_days: must be between 1 and 366"),
        // sources, elements, forms, stages, markets
        ("  - id: fixture\n", "  - id: fixture\n  - id: fixture\n", "sources[1].id: duplicate id 'fixture'"),
        ("elements: [La, Ce, Pr, Nd, Dy, Tb]", "elements: [La, Ce, Pr, Nd, Dy, Tb, Dy]", "element 'Dy' is listed twice"),
        ("  - id: scrap\n", "  - id: oxide\n", "forms[4].id: duplicate id 'oxide'"),
        ("    re_share: 0.3\n", "    re_share: 1.5\n", "forms[3].re_share: must be ≤ 1, got 1.5"),
        ("stages: [mine, separation, metal, magnet, recycling]", "stages: [mine, separation, metal, magnet, magnet]", "stages[4]: duplicate id 'magnet'"),
        ("markets: [CN, ROW]", "markets: [CN, ROW, CN]", "markets[2]: duplicate id 'CN'"),
        ("markets: [CN, ROW]", "markets: [CN, ROW, EU]", "markets[2]: no country trades in market 'EU'"),
        // recipes
        ("    stage: separation\n    input: concentrate", "    stage: sepration\n    input: concentrate", "recipes[0].stage: unknown stage 'sepration' (did you mean 'separation'?)"),
        ("    input: concentrate\n    output: oxide", "    input: concentrat\n    output: oxide", "recipes[0].input: unknown form 'concentrat'"),
        ("    recovery: 0.9\n    source: fixture\n  - id: reduce", "    recovery: 1.9\n    source: fixture\n  - id: reduce", "recipes[0].recovery: must be ≤ 1, got 1.9"),
        ("    input: oxide\n    output: metal", "    input: oxide\n    output: oxide", "recipes[1].output: a recipe must change the form of its input"),
        ("    output: metal\n    recovery: 0.95\n    composition: {Pr: 0.22, Nd: 0.70, Dy: 0.06, Tb: 0.02}\n", "    output: metal\n    recovery: 0.95\n", "recipes[1].composition: is required"),
        ("    output: metal\n    recovery: 0.95\n    composition: {Pr: 0.22, Nd: 0.70, Dy: 0.06, Tb: 0.02}", "    output: metal\n    recovery: 0.95\n    composition: {Pr: 0.22, Nd: 0.60, Dy: 0.06, Tb: 0.02}", "recipes[1].composition: shares sum to 0.9000, not 1"),
        ("    composition: {Pr: 0.22, Nd: 0.70, Dy: 0.06, Tb: 0.02}\n    source: fixture\n  - id: ndfeb", "    composition: {Pr: 0.22, Nd: 0.70, Dy: 0.06, Tb: 0.02}\n    thrift: {Ce: {max: 0.5, lag_months: 12, trigger: 2}}\n    source: fixture\n  - id: ndfeb", "recipes[1].thrift.Ce: the recipe's composition has no Ce to thrift"),
        ("    composition: {Pr: 0.22, Nd: 0.70, Dy: 0.06, Tb: 0.02}\n    source: fixture\n  - id: ndfeb", "    composition: {Pr: 0.22, Nd: 0.70, Dy: 0.06, Tb: 0.02}\n    thrift: {Dy: {max: 1.5, lag_months: 12, trigger: 2}}\n    source: fixture\n  - id: ndfeb", "recipes[1].thrift.Dy.max: must be ≤ 1, got 1.5"),
        ("    input: concentrate\n    output: oxide\n    recovery: 0.9\n", "    input: concentrate\n    output: oxide\n    recovery: 0.9\n    composition: {Nd: 1}\n", "recipes[0].composition: the input form 'concentrate' is mixed"),
        ("    input: concentrate\n    output: oxide\n    recovery: 0.9\n", "    input: concentrate\n    output: oxide\n    recovery: 0.9\n    elements: []\n", "recipes[0].elements: lists no element: the plant would recover nothing"),
        ("    output: metal\n    recovery: 0.95\n    composition:", "    output: metal\n    recovery: 0.95\n    elements: [Nd]\n    composition:", "recipes[1].elements: a recipe with a `composition` uses the elements it names there"),
        // countries and firms
        ("  - {id: US, market: ROW}", "  - {id: US, market: RWO}", "countries[1].market: unknown market 'RWO' (did you mean 'ROW'?)"),
        ("  - {id: JP, market: ROW}", "  - {id: US, market: ROW}", "countries[2].id: duplicate id 'US'"),
        ("  - {id: lynas, country: AU}", "  - {id: lynas, country: AX}", "firms[0].country: unknown country 'AX'"),
        ("  - {id: raytheon, country: US, parent: rtx}", "  - {id: raytheon, country: US, parent: rtxx}", "firms[2].parent: unknown firm 'rtxx' (did you mean 'rtx'?)"),
        // deposits
        ("  - id: weld\n    country: AU", "  - id: weld\n    country: AUU", "deposits[2].country: unknown country 'AUU'"),
        ("recipe: separate, capacity: 110000,", "recipe: separate, capacity: 110000, spare_lines: true,", "facilities[3].spare_lines: needs a `utilisation` below 1: its spare lines are the capacity above it, up to nameplate"),
        ("recipe: reduce, capacity: 30000,", "recipe: reduce, capacity: 30000, utilisation: 0.8, spare_lines: true,", "facilities[5].spare_lines: is for separators (a recipe taking a mixed concentrate in whole)"),
        ("  - id: weld\n    country: AU", "  - id: weld\n    form: concentrat\n    country: AU", "deposits[2].form: unknown form 'concentrat' (did you mean 'concentrate'?)"),
        ("  - id: weld\n    country: AU", "  - id: weld\n    form: oxide\n    country: AU", "deposits[2].form: form 'oxide' is what recipe 'separate' makes: a deposit's form is the raw mixed concentrate its mines dig up"),
        ("  - id: weld\n    country: AU", "  - id: weld\n    form: magnet:NdFeB\n    country: AU", "deposits[2].form: form 'magnet:NdFeB' is what recipe"),
        ("  - id: weld\n    country: AU", "  - id: weld\n    form: scrap\n    country: AU", "deposits[2].form: form 'scrap' is what sectors return for recycling"),
        ("distribution: {La: 0.30, Ce: 0.50, Pr: 0.05", "distribution: {La: -0.30, Ce: 0.50, Pr: 0.05", "deposits[0].distribution.La: must be ≥ 0, got -0.3"),
        ("  - id: concentrate\n", "  - id: concentrat\n", "forms: the model has deposits but no form with id `concentrate`"),
        // facilities
        ("{id: cn-sep, country: CN, stage: separation, recipe: separate,", "{id: cn-sep, country: CN, stage: separation, recipe: seperate,", "facilities[3].recipe: unknown recipe 'seperate' (did you mean 'separate'?)"),
        ("{id: cn-sep, country: CN, stage: separation, recipe: separate,", "{id: cn-sep, country: CN, stage: separation, recipe: separate, deposit: north,", "facilities[3].recipe: a facility either mines a `deposit` or runs a `recipe`"),
        ("{id: cn-sep, country: CN, stage: separation, recipe: separate,", "{id: cn-sep, country: CN, stage: separation,", "facilities[3]: needs a `deposit` (a mine) or a `recipe`"),
        ("{id: cn-sep, country: CN, stage: separation, recipe: separate,", "{id: cn-sep, country: CN, stage: separation, deposit: north,", "facilities[3].deposit: only a mine works a `deposit`, and stage 'separation' is where recipes run"),
        ("{id: cn-sep, country: CN, stage: separation,", "{id: cn-sep, country: CN, stage: separatio,", "facilities[3].stage: unknown stage 'separatio'"),
        ("{id: au-sep, firm: lynas,", "{id: au-sep, firm: lynass,", "facilities[4].firm: unknown firm 'lynass' (did you mean 'lynas'?)"),
        ("{id: cn-metal, country: CN, stage: metal, recipe: reduce, capacity: 30000,", "{id: cn-metal, country: CN, stage: metal, recipe: reduce, capacity: 30000, utilisation: 1.2,", "facilities[5].utilisation: must be ≤ 1, got 1.2"),
        ("{id: cn-metal, country: CN, stage: metal, recipe: reduce, capacity: 30000,", "{id: cn-metal, country: CN, stage: metal, recipe: reduce, capacity: 30000, utilisation: 0,", "facilities[5].utilisation: must be > 0: a plant at 0 never starts"),
        ("capacity: 5000, start: 2025-01-01, ramp_months: 12,", "capacity: 5000, start: 2025-01-01, end: 2024-01-01, ramp_months: 12,", "facilities[9].end: 2024-01-01 is not after the facility's start, 2025-01-01"),
        ("capacity: 5000, start: 2025-01-01, ramp_months: 12,", "capacity: 5000, start: 2025-01-01, ramp_months: -12,", "facilities[9].ramp_months: must be ≥ 0, got -12"),
        ("{id: cn-magnet, country: CN, stage: magnet, recipe: ndfeb, capacity: 90000,", "{id: cn-magnet, country: CN, stage: magnet, recipe: ndfeb, capacity: 90000, cover_weeks: 9999,", "facilities[7].cover_weeks: must be ≤ 520, got 9999"),
        // sectors
        ("{id: ev-us, country: US, material: \"magnet:NdFeB\"", "{id: ev-us, country: US, material: \"magnet:NdFB\"", "sectors[1].material: unknown form 'magnet:NdFB'"),
        ("{id: catalysts-cn, country: CN, material: oxide, mix: {La: 0.4, Ce: 0.6},", "{id: catalysts-cn, country: CN, material: oxide,", "sectors[4].mix: is required: form 'oxide' is separated by element"),
        ("{id: catalysts-cn, country: CN, material: oxide, mix: {La: 0.4, Ce: 0.6},", "{id: catalysts-cn, country: CN, material: oxide, mix: {La: 0.4, Ce: 0.5},", "sectors[4].mix: shares sum to 0.9000"),
        ("demand: 12000, units: 6000000,", "demand: 12000, growth: 2.0, units: 6000000,", "sectors[1].growth: must be ≤ 1, got 2"),
        ("elasticity: -0.1, substitution: {max: 0.3, lag_months: 12, trigger: 2.0}, source: fixture}\n  - {id: ev-us", "elasticity: 0.5, substitution: {max: 0.3, lag_months: 12, trigger: 2.0}, source: fixture}\n  - {id: ev-us", "sectors[0].elasticity: must be ≤ 0, got 0.5"),
        ("substitution: {max: 0.3, lag_months: 12, trigger: 2.0}, source: fixture}\n  - {id: ev-us", "substitution: {max: 0.3, lag_months: 12, trigger: 0}, source: fixture}\n  - {id: ev-us", "sectors[0].substitution.trigger: must be > 0"),
        ("    priority: 2\n", "    priority: 500\n", "sectors[3].priority: must be between -100 and 100, got 500"),
        ("    firms: {raytheon: 0.4, lockheed: 0.4}", "    firms: {raytheon: 0.7, lockheed: 0.4}", "sectors[3].firms: firm shares sum to 1.1000, more than 1"),
        ("    firms: {raytheon: 0.4, lockheed: 0.4}", "    firms: {raytheon: 0.4, lockheeed: 0.4}", "sectors[3].firms.lockheeed: unknown firm 'lockheeed' (did you mean 'lockheed'?)"),
        ("    firms: {raytheon: 0.4, lockheed: 0.4}", "    firms: {raytheon: 0.4, lynas: 0.4}", "sectors[3].firms.lynas: firm 'lynas' is in AU, and the sector's buyers are in US: name a firm of US"),
        ("  - id: scrap\n    mixed: true\n", "  - id: scrap\n    mixed: true\n  - id: \"oxide:Nd\"\n    mixed: true\n", "forms[5].id: 'oxide:Nd' already names the Nd of form 'oxide'"),
        ("{id: ev-us, country: US,", "{id: ev-us, country: USA,", "sectors[1].country: unknown country 'USA' (did you mean 'US'?)"),
        // prices
        ("  - {form: oxide, element: Ce, price: 1.2, source: fixture}", "  - {form: oxide, element: Ce, price: 1.2, source: fixture}\n  - {form: oxide, element: Ce, price: 1.3, source: fixture}", "duplicate price (also set at prices[1])"),
        ("  - {form: oxide, element: La, price: 1, source: fixture}", "  - {form: oxide, price: 1, source: fixture}", "prices[0].element: is required: form 'oxide' is priced per element"),
        ("  - {form: concentrate, price: 5, source: fixture}", "  - {form: concentrate, element: La, price: 5, source: fixture}", "prices[9].element: form 'concentrate' is mixed and has one price"),
        ("  - {form: oxide, element: La, price: 1, source: fixture}", "  - {form: oxide, element: La, price: 0, source: fixture}", "prices[0].price: must be > 0"),
        ("  - {form: oxide, element: La, price: 1, source: fixture}", "  - {form: oxide, element: La, price: 1e-300, source: fixture}", "prices[0].price: must be at least 0.001 $/kg (a tenth of a cent), got 1e-300"),
        ("  - {form: oxide, element: La, price: 1, source: fixture}", "  - {form: oxide, element: La, market: EU, price: 1, source: fixture}", "prices[0].market: unknown market 'EU'"),
        ("  - {form: oxide, element: Ce, price: 1.2, source: fixture}\n", "", "no price for oxide:Ce in market CN: add it to `prices:`"),
        // stockpiles
        ("    form: \"magnet:NdFeB\"\n    tonnes: 0\n", "    form: \"magnet:NdFeB\"\n    tonnes: 10\n", "stockpiles[0].composition: is required for a holding of a mixed form"),
        ("    form: \"magnet:NdFeB\"\n    tonnes: 0\n", "    form: oxide\n    tonnes: 10\n", "stockpiles[0].tonnes: form 'oxide' is separated: give `elements: {Nd: 300}`"),
        ("    form: \"magnet:NdFeB\"\n    tonnes: 0\n", "    form: oxide\n    elements: {Nd: -5}\n", "stockpiles[0].elements.Nd: must be ≥ 0, got -5"),
        ("    form: \"magnet:NdFeB\"\n    tonnes: 0\n", "    form: \"magnet:NdFeB\"\n    elements: {Nd: 2000}\n", "stockpiles[0].elements: form 'magnet:NdFeB' is mixed: give `tonnes:` and its `composition:`"),
        ("  - id: us-nds\n    country: US", "  - id: us-nds\n    country: UK", "stockpiles[0].country: unknown country 'UK'"),
        // groups
        ("    members: [raytheon, lockheed]", "    members: [raytheon, lockheed, US, nobody]", "groups[0].members[3]: unknown firm or country 'nobody'"),
        ("    members: [raytheon, lockheed]", "    members: []", "groups[0].members: lists no members"),
        ("behaviour:\n", "policies:\n  - {kind: export_ban, exporter: CN, to: [], source: fixture}\nbehaviour:\n", "policies[0].to: covers nothing"),
        ("behaviour:\n", "policies:\n  - {kind: export_ban, exporter: CN, elements: [], source: fixture}\nbehaviour:\n", "policies[0].elements: covers nothing"),
        ("    members: [raytheon, lockheed]", "    members: [raytheon, lockheed, raytheon]", "groups[0].members[2]: 'raytheon' is listed twice"),
        ("    members: [raytheon, lockheed]", "    members: [raytheon, listed]", "groups[0].members[1]: 'listed' is a group: groups do not nest"),
        ("  - id: listed\n", "  - id: lockheed\n", "groups[0].id: 'lockheed' is already the id of a firm"),
        ("  - id: fixture\n", "  - id: fixture\n    status: Q\n", "sources[0].status: 'Q' is not a status"),
        // behaviour
        ("  home_bias: {value: 0.8, assumption: test value}\n", "", "behaviour parameter 'home_bias' is missing"),
        ("  home_bias: {value: 0.8, assumption: test value}", "  home_bias: {value: 1.8, assumption: test value}", "behaviour.home_bias.value: must be ≤ 1, got 1.8"),
        ("  home_bias: {value: 0.8, assumption: test value}", "  home_bias: {value: 0.8}", "behaviour.home_bias: has no `source:` or `assumption:`"),
        // Each pull within its bound (52.178/yr at weekly steps), together past it.
        ("  market_coupling: {value: 0, assumption: test value}", "  market_coupling: {value: 50, assumption: test value}", "behaviour.market_coupling.value: price_reversion 0.5 + form_coupling 3 + market_coupling 50 = 53.5/yr: pulling one price together, they would close more than the whole gap in one 7-day step (prices would swing each step): with this step length their sum may be at most 52.178/yr"),
        ("  home_bias: {value: 0.8, assumption: test value}", "  home_bias: {value: 0.8, source: nowhere}", "behaviour.home_bias.source: unknown source 'nowhere'"),
        // sources on records
        ("  - id: weld\n    country: AU\n    distribution: {La: 0.26, Ce: 0.46, Pr: 0.06, Nd: 0.20, Dy: 0.01, Tb: 0.01}\n    source: fixture", "  - id: weld\n    country: AU\n    distribution: {La: 0.26, Ce: 0.46, Pr: 0.06, Nd: 0.20, Dy: 0.01, Tb: 0.01}\n    source: [fixture, fixtur]", "deposits[2].source[1]: unknown source 'fixtur' (did you mean 'fixture'?)"),
        // contracts
        ("behaviour:\n", "contracts:\n  - {facility: weld-mien, country: JP, share: 1.0, source: fixture}\nbehaviour:\n", "contracts[0].facility: unknown facility 'weld-mien' (did you mean 'weld-mine'?)"),
        ("behaviour:\n", "contracts:\n  - {facility: weld-mine, country: JP, share: 1.5, source: fixture}\nbehaviour:\n", "contracts[0].share: must be ≤ 1, got 1.5"),
        ("behaviour:\n", "contracts:\n  - {facility: weld-mine, country: JP, share: 1.0}\nbehaviour:\n", "contracts[0]: has no `source:` or `assumption:`"),
        ("behaviour:\n", "contracts:\n  - {facility: weld-mine, country: AU, firm: lynass, share: 1.0, source: fixture}\nbehaviour:\n", "contracts[0].firm: unknown firm 'lynass' (did you mean 'lynas'?)"),
        ("behaviour:\n", "contracts:\n  - {facility: weld-mine, country: AU, firm: rtx, share: 1.0, source: fixture}\nbehaviour:\n", "contracts[0].firm: 'rtx' has no plant in AU that takes weld-mine's concentrate: the contract would deliver nothing"),
        // policies
        ("behaviour:\n", "policies:\n  - {kind: tariff, exporter: CN, rate: 300, source: fixture}\nbehaviour:\n", "policies[0].rate: must be between 0 and 100"),
        ("behaviour:\n", "policies:\n  - {kind: entity_list, exporter: CN, source: fixture}\nbehaviour:\n", "policies[0].to: an entity list needs at least one firm"),
        ("behaviour:\n", "policies:\n  - {kind: export_ban, exporter: CN, to: [Mars], source: fixture}\nbehaviour:\n", "policies[0].to[0]: unknown country, firm or group 'Mars'"),
        ("behaviour:\n", "policies:\n  - {kind: export_ban, exporter: CN, start: 2025-01-01, end: 2024-06-01, source: fixture}\nbehaviour:\n", "policies[0].end: 2024-06-01 is not after the start 2025-01-01"),
        ("behaviour:\n", "policies:\n  - {kind: export_quota, exporter: CN, source: fixture}\nbehaviour:\n", "policies[0].tonnes_per_year: is required"),
        // a key written twice in a map
        ("distribution: {La: 0.30, Ce: 0.50, Pr: 0.05", "distribution: {La: 0.30, Ce: 0.50, La: 0.05", "deposits[0].distribution: the key 'La' is written twice"),
        // ids that become series keys may not hold their separators
        ("{id: cn-sep, country: CN,", "{id: cn/sep, country: CN,", "facilities[3].id: 'cn/sep' may not contain '/' or '>'"),
        ("{id: cn-sep, country: CN,", "{id: 'cn,sep', country: CN,", "facilities[3].id: 'cn,sep' may not contain ',' or '\"'"),
        // fields another kind reads, dates outside the horizon, a kind's name as a label
        ("behaviour:\n", "policies:\n  - {kind: export_ban, exporter: CN, approval: 0.5, source: fixture}\nbehaviour:\n", "policies[0].approval: does not apply to export_ban"),
        ("behaviour:\n", "policies:\n  - {kind: tech_ban, exporter: CN, tonnes_per_year: 5, source: fixture}\nbehaviour:\n", "policies[0].tonnes_per_year: does not apply to tech_ban"),
        ("behaviour:\n", "policies:\n  - {kind: export_ban, exporter: CN, importer: US, source: fixture}\nbehaviour:\n", "policies[0].importer: does not apply to export_ban (the countries a rule reaches are its `to`)"),
        ("behaviour:\n", "policies:\n  - {kind: tariff, importer: US, exporter: CN, rate: 0.1, to: [JP], source: fixture}\nbehaviour:\n", "policies[0].to: does not apply to tariff"),
        ("behaviour:\n", "policies:\n  - {kind: export_ban, exporter: CN, start: 2040-01-01, source: fixture}\nbehaviour:\n", "policies[0].start: 2040-01-01 is after the model's horizon"),
        ("behaviour:\n", "policies:\n  - {kind: export_ban, exporter: CN, start: 2000-01-01, end: 2010-01-01, source: fixture}\nbehaviour:\n", "policies[0].end: 2010-01-01 is not after the model's start"),
        ("behaviour:\n", "policies:\n  - {kind: export_ban, exporter: CN, label: export_licence, source: fixture}\nbehaviour:\n", "policies[0].label: 'export_licence' is a policy kind's name"),
        ("behaviour:\n", "policies:\n  - {kind: export_quota, exporter: CN, tonnes_per_year: 10, label: a, source: fixture}\n  - {kind: export_quota, exporter: CN, tonnes_per_year: 10, label: b, source: fixture}\n  - {kind: export_quota, exporter: CN, tonnes_per_year: 10, label: c, source: fixture}\n  - {kind: export_quota, exporter: CN, tonnes_per_year: 10, label: d, source: fixture}\nbehaviour:\n", "policies[3]: a fourth export quota on one exporter"),
    ];
    let mut failures = Vec::new();
    for (from, to, want) in cases {
        let got = problems(from, to);
        if !got.contains(want) {
            failures.push(format!("{to:?}\n  wanted: {want}\n  got: {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_file_that_is_not_yaml_is_not_repeated_whole_in_the_error() {
    let long = format!("root:x:0:0:{}", "padding ".repeat(200));
    let text = load_str("passwd", &long).unwrap_err().to_string();
    assert!(
        text.contains("not a model file") && text.contains("this file's is plain text"),
        "{text}"
    );
    assert!(
        !text.contains("root:x"),
        "none of the file is echoed: {text}"
    );
    assert!(text.len() < 300, "{} characters: {text}", text.len());
}

#[test]
fn one_mistake_reads_as_one_problem() {
    // A negative price reads like a zero one.
    let text = problems(
        "  - {form: oxide, element: La, price: 1, source: fixture}",
        "  - {form: oxide, element: La, price: -1, source: fixture}",
    );
    assert!(
        text.contains("prices[0].price: must be > 0, got -1"),
        "{text}"
    );
    // A bad price row is not reported again for every sector that needs the price.
    assert_eq!(text.matches("problem").count(), 1, "{text}");
    assert!(!text.contains("no price"), "{text}");
    // A price given twice for every market is one duplicate, not one per market.
    let row = "  - {form: oxide, element: La, price: 1, source: fixture}";
    let text = problems(row, &format!("{row}\n{row}"));
    assert_eq!(text.matches("duplicate price").count(), 1, "{text}");
    // A recovery above 1 is out of range, not also "nothing recovered".
    let text = problems("recovery: 0.9", "recovery: 1.5");
    assert_eq!(text.matches("recovery").count(), 1, "{text}");
    // An absurd number is shown in exponent form, not as three hundred digits.
    let text = problems("capacity: 100000, source", "capacity: 1e300, source");
    assert!(text.contains("got 1e300"), "{text}");
    assert!(text.len() < 300, "{text}");
    let text = problems("  step_days: 7\n", "  step_days: 1e300\n");
    assert!(text.len() < 300, "{text}");
}

#[test]
fn a_line_indented_short_is_one_problem_not_also_a_missing_field() {
    let first = "  - {id: cn-north-mine, country: CN, stage: mine, deposit: north, capacity: \
                 100000, source: fixture}";
    let block =
        |deposit_indent: &str, capacity: bool| {
            format!(
            "  - id: cn-north-mine\n    country: CN\n    stage: mine\n{deposit_indent}deposit: \
             north\n{}    source: fixture",
            if capacity { "    capacity: 100000\n" } else { "" }
        )
        };
    // Written as a block, the fixture is as valid as before.
    assert_eq!(problems(first, &block("    ", true)), "");
    // `deposit` indented three spaces breaks the item off: the break is the problem (it
    // said `missing field capacity` too, of a field written below it).
    let text = problems(first, &block("   ", true));
    assert!(
        text.contains(
            "mini.yaml:80:4: did not find expected '-' indicator (line 80 is indented 3 \
             spaces, the line before it 4: the keys of one map line up)"
        ),
        "{text}"
    );
    assert!(!text.contains("missing field"), "{text}");
    assert_eq!(text.matches("\n  ").count(), 1, "{text}");
    // A field missing from another item than the break is a problem of its own.
    let text = problems(first, &block("    ", false));
    assert!(text.contains("missing field `capacity`"), "{text}");
    let text = MINI.replacen(first, &block("    ", false), 1).replacen(
        "  - {id: cn-recycle,",
        "   - {id: cn-recycle,",
        1,
    );
    let text = match load_str("mini.yaml", &text) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    };
    assert!(
        text.contains("missing field `capacity`") && text.contains("did not find expected"),
        "{text}"
    );
}

#[test]
fn an_empty_market_list_is_reported_where_it_is_written() {
    let text = problems("markets: [CN, ROW]", "markets: []");
    assert!(
        text.contains("mini.yaml:52:1: markets: the model lists no markets"),
        "{text}"
    );
}

#[test]
fn a_byte_order_mark_is_not_content() {
    let dir = std::env::temp_dir().join(format!("cp-bom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bom.yaml");
    std::fs::write(&path, format!("\u{feff}{MINI}")).unwrap();
    let loaded = chokepoint_core::load(&path);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        loaded.is_ok(),
        "{}",
        loaded.err().map(|e| e.to_string()).unwrap_or_default()
    );
}

#[test]
fn a_file_overrides_the_behaviour_it_includes_but_siblings_may_not_both_set_one() {
    let dir = std::env::temp_dir().join(format!("cp-behaviour-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The fixture's behaviour moves to an included file; the top file sets one value again.
    let at = MINI.find("behaviour:\n").unwrap();
    let (world, behaviour) = MINI.split_at(at);
    std::fs::write(dir.join("shared.yaml"), behaviour).unwrap();
    std::fs::write(
        dir.join("other.yaml"),
        "behaviour:\n  home_bias: {value: 0.5, assumption: test}\n",
    )
    .unwrap();
    let top = |includes: &str, own: &str| {
        let text = world.replacen("model:\n", &format!("include: [{includes}]\nmodel:\n"), 1);
        let path = dir.join("top.yaml");
        std::fs::write(&path, format!("{text}{own}")).unwrap();
        chokepoint_core::load(&path)
    };
    let own = "behaviour:\n  home_bias: {value: 0.3, assumption: override}\n";
    let m = top("shared.yaml", own).map_err(|e| e.to_string()).unwrap();
    assert_eq!(
        m.behaviour.home_bias, 0.3,
        "the including file's value wins"
    );
    let m = top("shared.yaml", "").map_err(|e| e.to_string()).unwrap();
    assert_eq!(m.behaviour.home_bias, 0.8, "the shared value stands alone");
    let e = top("shared.yaml, other.yaml", "")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let twice = top("shared.yaml, shared.yaml", "")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        e.contains("other.yaml") && e.contains("behaviour.home_bias") && e.contains("also set in"),
        "{e}"
    );
    assert!(twice.contains("(included twice)"), "{twice}");
}

#[test]
fn a_tab_indent_and_an_include_that_is_a_directory_say_what_they_are() {
    let tab = problems_of("model:\n\tname: x\n");
    assert!(
        tab.contains("(a tab: YAML indents with spaces, never tabs)"),
        "{tab}"
    );
    let dir = std::env::temp_dir().join(format!("cp-include-dir-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("parts")).unwrap();
    let top = dir.join("top.yaml");
    std::fs::write(
        &top,
        MINI.replacen("model:\n", "include: [parts]\nmodel:\n", 1),
    )
    .unwrap();
    let e = chokepoint_core::load(&top)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        e.contains("include[0]: '") && e.contains("parts' is a directory"),
        "{e}"
    );
}

#[test]
fn a_model_file_with_a_header_is_not_included_even_by_a_file_without_one() {
    let dir = std::env::temp_dir().join(format!("cp-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("world.yaml"), MINI).unwrap();
    // A variant that would run under the included world's name.
    let variant = dir.join("variant.yaml");
    std::fs::write(
        &variant,
        "include: [world.yaml]\nbehaviour:\n  home_bias: {value: 0.3, assumption: test}\n",
    )
    .unwrap();
    let e = chokepoint_core::load(&variant)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    // And one with a header of its own.
    let both = dir.join("both.yaml");
    let header = &MINI[MINI.find("model:\n").unwrap()..MINI.find("sources:").unwrap()];
    std::fs::write(&both, format!("include: [world.yaml]\n{header}")).unwrap();
    let e2 = chokepoint_core::load(&both)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        e.contains("world.yaml:")
            && e.contains(
                "model: a file with a `model:` header cannot be included (variant.yaml has none)"
            ),
        "{e}"
    );
    assert!(
        e2.contains("only the top model file may have a `model:` header"),
        "{e2}"
    );
}

#[test]
fn check_warns_of_an_input_nothing_makes_and_a_made_commodity_without_a_price() {
    let w = load_str("mini.yaml", MINI).unwrap().warnings();
    assert!(
        !w.is_empty() && w.iter().all(|w| w.message.contains("start price")),
        "the fixture's only warnings are its unpriced metals: {w:?}"
    );
    // No plant makes Dy and Tb metal once the metal recipe's composition drops them.
    let text = MINI.replacen(
        "    output: metal\n    recovery: 0.95\n    composition: {Pr: 0.22, Nd: 0.70, Dy: 0.06, Tb: 0.02}",
        "    output: metal\n    recovery: 0.95\n    composition: {Pr: 0.24, Nd: 0.76}",
        1,
    );
    let w = load_str("mini.yaml", &text).unwrap().warnings().join("\n");
    assert!(
        w.contains("recipe 'ndfeb' needs metal:Dy and no facility makes it"),
        "{w}"
    );
    assert!(
        w.contains("cn-magnet"),
        "names the plants that will not run: {w}"
    );
    for world in ["world-2024", "world-2010"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../models/{world}.yaml"));
        let w = chokepoint_core::load(&path).unwrap().warnings();
        assert!(w.is_empty(), "{world}: {w:?}");
    }
}

#[test]
fn check_warns_of_plants_keeping_less_than_a_steps_output() {
    let w = warnings(
        "  seller_cover_weeks: {value: 4, assumption: test value}",
        "  seller_cover_weeks: {value: 0.5, assumption: test value}",
    );
    assert!(
        w.contains("behaviour seller_cover_weeks is 0.5 weeks, less than one 7-day step")
            && w.contains("set it to a step or more (1 weeks)"),
        "{w}"
    );
    // Four weeks of cover is under a 91-day step, too.
    let w = warnings("  step_days: 7\n", "  step_days: 91\n");
    assert!(
        w.contains("less than one 91-day step") && w.contains("a step or more (13 weeks)"),
        "{w}"
    );
    let w = warnings("  step_days: 7\n", "  step_days: 14\n");
    assert!(!w.contains("seller_cover_weeks"), "{w}");
}

#[test]
fn check_warns_of_a_substitution_or_thrift_trigger_met_at_start_prices() {
    let w = warnings("elasticity: -0.1, substitution: {max: 0.3, lag_months: 12, trigger: 2.0}, source: fixture}\n  - {id: ev-us", "elasticity: -0.1, substitution: {max: 0.3, lag_months: 12, trigger: 0.5}, source: fixture}\n  - {id: ev-us");
    assert!(
        w.contains("sector 'ev-cn': substitution.trigger is 0.5, a multiple of the start price, so it is met at start prices and up to 30% of its demand moves away with no shock at all"),
        "{w}"
    );
    let thrift = |t: &str| {
        warnings("    composition: {Pr: 0.22, Nd: 0.70, Dy: 0.06, Tb: 0.02}\n    source: fixture\n  - id: ndfeb", &format!("    composition: {{Pr: 0.22, Nd: 0.70, Dy: 0.06, Tb: 0.02}}\n    thrift: {{Dy: {{max: 0.5, lag_months: 12, trigger: {t}}}}}\n    source: fixture\n  - id: ndfeb"))
    };
    let w = thrift("0.9");
    assert!(
        w.contains("recipe 'reduce': thrift of Dy has trigger 0.9, a multiple of the start price"),
        "{w}"
    );
    // The engine acts above the trigger: at 1 it waits for a rise.
    assert!(!thrift("1").contains("trigger"));
    // Above start prices, and no substitution at all, say nothing.
    let w = warnings("  - id: scrap\n", "  - id: scrap\n");
    assert!(!w.contains("trigger"), "{w}");
}

#[test]
fn check_warns_of_demand_that_a_price_floor_would_multiply_many_times() {
    // 0.2^-2 = 25 times base demand at the floor; 0.2^-0.1 is 1.17.
    let w = warnings("elasticity: -0.1, substitution: {max: 0.3, lag_months: 12, trigger: 2.0}, source: fixture}\n  - {id: ev-us", "elasticity: -2, substitution: {max: 0.3, lag_months: 12, trigger: 2.0}, source: fixture}\n  - {id: ev-us");
    assert!(
        w.contains("sector 'ev-cn': with elasticity -2 and prices at the model's floor (0.2× start, price_min_ratio) its demand would be 25 times its base"),
        "{w}"
    );
    assert!(!w.contains("sector 'ev-us'"), "{w}");
}

#[test]
fn a_model_whose_run_could_not_be_held_in_memory_is_refused_with_its_size() {
    // 250 countries trade pair by pair for a century of weeks: ~2.6 GB of series.
    let extra: String = (0..246)
        .map(|i| format!("  - {{id: X{i}, market: ROW}}\n"))
        .collect();
    let text = MINI
        .replacen("  end: 2027-12-31\n", "  end: 2123-12-31\n", 1)
        .replacen(
            "  - {id: AU, market: ROW}\n",
            &format!("  - {{id: AU, market: ROW}}\n{extra}"),
            1,
        );
    let e = match load_str("mini.yaml", &text) {
        Ok(_) => panic!("a model of 250 countries over a century loads"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("model.end: a run would record")
            && e.contains("more than the 2 GB a run may hold"),
        "{e}"
    );
    // A decade of it is held.
    let text = text.replacen("  end: 2123-12-31\n", "  end: 2033-12-31\n", 1);
    assert!(load_str("mini.yaml", &text).is_ok());
}

#[test]
fn a_group_named_like_a_firm_is_one_problem_not_a_cascade() {
    let got = problems("  - id: listed\n", "  - id: lockheed\n");
    assert!(
        got.contains("'lockheed' is already the id of a firm"),
        "{got}"
    );
    assert!(!got.contains("groups do not nest"), "{got}");
}

#[test]
fn a_tariff_on_every_exporter_is_written_as_in_scripts() {
    let text = MINI.replacen(
        "behaviour:\n",
        "policies:\n  - {kind: tariff, importer: US, exporter: '*', rate: 0.1, source: fixture}\nbehaviour:\n",
        1,
    );
    assert!(load_str("mini.yaml", &text).is_ok());
    let ban = MINI.replacen(
        "behaviour:\n",
        "policies:\n  - {kind: export_ban, exporter: '*', source: fixture}\nbehaviour:\n",
        1,
    );
    let err = load_str("mini.yaml", &ban).unwrap_err().to_string();
    assert!(err.contains("policies[0].exporter"), "{err}");
}

/// The problems of a model text, as the user reads them (empty if it loads).
fn problems_of(text: &str) -> String {
    load_str("mini.yaml", text)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

/// The problems of the fixture with an unknown field in each of its first `n` flow items.
fn with_unknown_fields(n: usize) -> String {
    problems_of(&(0..n).fold(MINI.to_string(), |t, i| {
        t.replacen("  - {id: ", &format!("  - {{bad{i}: 1, id: "), 1)
    }))
}

#[test]
fn an_empty_file_is_named_as_the_model_or_as_one_of_its_includes() {
    let dir = std::env::temp_dir().join(format!("cp-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sectors.yaml"), "\n  # sectors to come\n").unwrap();
    let top = dir.join("top.yaml");
    std::fs::write(
        &top,
        MINI.replacen("model:\n", "include: [sectors.yaml]\nmodel:\n", 1),
    )
    .unwrap();
    let included = chokepoint_core::load(&top)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    std::fs::write(&top, "").unwrap();
    let root = chokepoint_core::load(&top)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        included.contains("sectors.yaml: the file is empty: an included file holds sections"),
        "{included}"
    );
    assert!(
        root.contains("top.yaml: the file is empty: a model needs at least a `model:` header"),
        "{root}"
    );
}

#[test]
fn type_errors_do_not_hide_each_other_nor_the_included_files_problems() {
    let dir = std::env::temp_dir().join(format!("cp-several-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The sectors move to an included file with a mistake of its own.
    let at = MINI.find("sectors:\n").unwrap();
    let end = at + MINI[at..].find("prices:\n").unwrap();
    let sectors = MINI[at..end].replacen("demand: 12000", "demand: lots", 1);
    std::fs::write(dir.join("sectors.yaml"), &sectors).unwrap();
    let world = format!("{}{}", &MINI[..at], &MINI[end..])
        .replacen("model:\n", "include: [sectors.yaml]\nmodel:\n", 1)
        .replacen(
            "{id: jp-metal, country: JP,",
            "{id: jp-metal, cuntry: JP,",
            1,
        )
        .replacen(
            "{id: cn-magnet, country: CN, stage: magnet, recipe: ndfeb, capacity: 90000",
            "{id: cn-magnet, country: CN, stage: magnet, recipe: ndfeb, capacity: []",
            1,
        );
    let path = dir.join("top.yaml");
    std::fs::write(&path, &world).unwrap();
    let e = chokepoint_core::load(&path)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    // Twenty-five mistakes in one file: the first twenty are listed, then where it stopped.
    let many = with_unknown_fields(25);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(e.contains("the model has 3 problems"), "{e}");
    assert!(e.contains("facilities[6]: unknown field `cuntry`"), "{e}");
    assert!(
        e.contains("facilities[7].capacity: invalid type: sequence"),
        "{e}"
    );
    assert!(
        e.contains("sectors.yaml:") && e.contains("sectors[1].demand: invalid type"),
        "{e}"
    );
    assert!(many.contains("the model has 21 problems"), "{many}");
    assert!(
        many.contains("stopped reading after 20 problems in this file, and there are more"),
        "{many}"
    );
    // Exactly twenty: nothing was left unread, so no word of stopping.
    let twenty = with_unknown_fields(20);
    assert!(twenty.contains("the model has 20 problems"), "{twenty}");
    // A key written twice is shown where it is written again, once.
    let dup = MINI.replacen(
        "  price_fall: {value: 1.0, assumption: test value}\n",
        "  price_fall: {value: 1.0, assumption: test value}\n  price_rise: {value: 5.0, assumption: test value}\n",
        1,
    );
    let line = 1 + dup
        .lines()
        .position(|l| l.starts_with("  price_rise: {value: 5.0"))
        .unwrap();
    let dup = problems_of(&dup);
    assert!(dup.contains("the model has 1 problem"), "{dup}");
    assert!(
        dup.contains(&format!(
            "mini.yaml:{line}:3: behaviour: the key 'price_rise' is written twice"
        )),
        "{dup}"
    );
}

#[test]
fn a_typo_is_reported_once_not_again_by_everything_that_refers_to_it() {
    // A recipe's mistyped stage: not also "only a mine works a deposit" for every mine, nor
    // "belongs to stage 'mine'" for every plant that runs it.
    let text = problems(
        "  - id: recycle\n    stage: recycling",
        "  - id: recycle\n    stage: recyling",
    );
    assert!(
        text.contains("recipes[3].stage: unknown stage 'recyling' (did you mean 'recycling'?)"),
        "{text}"
    );
    assert!(text.contains("1 problem"), "{text}");
    // A ratio above its range is not also "must be > 0".
    let text = problems("    re_share: 0.3\n", "    re_share: 2\n");
    assert!(
        text.contains("must be ≤ 1, got 2") && text.contains("1 problem"),
        "{text}"
    );
    // An element symbol in the wrong case, or two run together: the declaration, once, with
    // the fix; not every reference to the element it meant.
    let text = problems(
        "elements: [La, Ce, Pr, Nd, Dy, Tb]",
        "elements: [la, Ce, Pr, Nd, Dy, Tb]",
    );
    assert!(
        text.contains("'la' is not an element symbol (symbols are case-sensitive: 'La')"),
        "{text}"
    );
    assert!(text.contains("1 problem"), "{text}");
    let text = problems(
        "elements: [La, Ce, Pr, Nd, Dy, Tb]",
        "elements: [La Ce, Pr, Nd, Dy, Tb]",
    );
    assert!(
        text.contains("'La Ce' is not an element symbol (a missing comma between 'La' and 'Ce'?)"),
        "{text}"
    );
    assert!(text.contains("1 problem"), "{text}");
    // A symbol that is no element at all still reports what refers to it.
    let text = problems(
        "elements: [La, Ce, Pr, Nd, Dy, Tb]",
        "elements: [Lx, Ce, Pr, Nd, Dy, Tb]",
    );
    assert!(text.contains("unknown element 'La'"), "{text}");
}

#[test]
fn any_line_ending_reads_alike() {
    for end in ["\r\n", "\r"] {
        let text = MINI.replace('\n', end);
        assert!(load_str("mini.yaml", &text).is_ok(), "{end:?}");
        let bad = MINI
            .replacen("  step_days: 7\n", "  step_days: 0\n", 1)
            .replace('\n', end);
        let got = load_str("mini.yaml", &bad).unwrap_err().to_string();
        let want = load_str(
            "mini.yaml",
            &MINI.replacen("  step_days: 7\n", "  step_days: 0\n", 1),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(got, want, "{end:?}: the same place and message");
    }
}

#[test]
fn check_warns_of_plants_outside_the_models_years_and_mines_away_from_their_deposits() {
    let w = warnings(
        "  - {id: cn-south-mine, country: CN,",
        "  - {id: cn-south-mine, start: 2040-01-01, country: CN,",
    );
    assert!(
        w.contains(
            "facility 'cn-south-mine' starts on 2040-01-01, after the model ends (2027-12-31)"
        ),
        "{w}"
    );
    let w = warnings(
        "  - {id: cn-south-mine, country: CN,",
        "  - {id: cn-south-mine, start: 2010-01-01, end: 2020-01-01, country: CN,",
    );
    assert!(
        w.contains("facility 'cn-south-mine' ends on 2020-01-01, by the model's start"),
        "{w}"
    );
    let w = warnings(
        "  - {id: weld-mine, firm: lynas, country: AU, stage: mine, deposit: weld,",
        "  - {id: weld-mine, firm: lynas, country: AU, stage: mine, deposit: north,",
    );
    assert!(
        w.contains("facility 'weld-mine' in AU mines deposit 'north', which is in CN"),
        "{w}"
    );
    // A plant of no capacity (a script's `build` of 0 is refused; the model's was taken
    // silently: bad-input review, 2026-12-01).
    let w = warnings(
        "deposit: south, capacity: 10000,",
        "deposit: south, capacity: 0,",
    );
    assert!(
        w.contains("facility 'cn-south-mine' has capacity 0, so it never makes anything"),
        "{w}"
    );
    // A warning about one item names where it was written, as an error would.
    assert!(
        w.contains("mini.yaml:78:3: facilities[1]: facility 'cn-south-mine' has capacity 0"),
        "{w}"
    );
}

#[test]
fn two_contracts_from_one_plant_to_one_country_are_an_error() {
    // A script's second contract replaces its first; a model's two were both kept.
    let text = format!(
        "{MINI}\ncontracts:\n  - {{facility: cn-north-mine, country: JP, share: 0.1, source: fixture}}\n  - {{facility: cn-north-mine, country: JP, share: 0.2, source: fixture}}\n"
    );
    let e = load_str("mini.yaml", &text).unwrap_err().to_string();
    assert!(
        e.contains(
            ".facility: a second contract from 'cn-north-mine' to JP, after the one at mini.yaml:"
        ) && e.contains(": make them one contract with their shares added"),
        "{e}"
    );
}

#[test]
fn a_field_of_the_wrong_kind_is_named_in_the_model_files_words() {
    let cases = [
        (
            "capacity: 100000, source",
            "capacity: , source",
            "invalid type: an empty value, expected a number",
        ),
        (
            "  step_days: 7\n",
            "  step_days: 7.5\n",
            "expected a whole number",
        ),
        (
            "  price_rise: {value: 4.0, assumption: test value}",
            "  price_rise: 4.0",
            "expected a map such as {value: 0.5, assumption: \"why\"}",
        ),
        (
            "capacity: 100000, source",
            "capacity: 100000, <<: {}, source",
            "YAML merge keys `<<:` are not read",
        ),
    ];
    for (from, to, want) in cases {
        let got = problems(from, to);
        assert!(got.contains(want), "{to}: {got}");
        for rust in ["f64", "i64", "u64", "unit value", "struct "] {
            assert!(!got.contains(rust), "{to}: {got}");
        }
    }
}

#[test]
fn check_warns_of_sectors_nothing_supplies_and_recycling_without_a_scrap_form() {
    // Metal La and Ce: no plant makes them (priced, so the model is valid).
    let text = MINI
        .replacen(
            "  - {id: catalysts-row, country: US, material: oxide, mix: {La: 0.4, Ce: 0.6}",
            "  - {id: catalysts-row, country: US, material: metal, mix: {La: 0.4, Ce: 0.6}",
            1,
        )
        .replacen(
            "prices:\n",
            "prices:\n  - {form: metal, element: La, price: 8, source: fixture}\n  - {form: metal, element: Ce, price: 8, source: fixture}\n",
            1,
        );
    let w = load_str("mini.yaml", &text).unwrap().warnings().join("\n");
    assert!(
        w.contains("sector 'catalysts-row' uses metal:La, metal:Ce, which no facility makes"),
        "{w}"
    );
    // A plant of no capacity is no maker: magnets whose one plant has `capacity: 0` are
    // as missing as magnets with no plant (it warned of the second only until 2026-11-30).
    let idle = (["90000", "15000", "5000"].iter()).fold(MINI.to_string(), |t, cap| {
        t.replace(
            &format!("recipe: ndfeb, capacity: {cap},"),
            "recipe: ndfeb, capacity: 0,",
        )
    });
    assert_ne!(idle, MINI);
    let w = load_str("mini.yaml", &idle).map(|m| m.warnings().join("\n"));
    assert!(
        w.as_ref()
            .is_ok_and(|w| w.contains("uses magnet:NdFeB, which no facility makes")),
        "{w:?}"
    );
    // The shipped fixture's recycling sector has its scrap form; without it, a warning.
    assert!(!warnings("", "").contains("scrap"));
    let renamed = MINI.replace("scrap", "swarf");
    let w = load_str("mini.yaml", &renamed)
        .unwrap()
        .warnings()
        .join("\n");
    assert!(
        w.contains("sector 'ev-cn' has a recycle_rate but the model has no `scrap` form"),
        "{w}"
    );
}

#[test]
fn a_model_with_deposits_and_no_concentrate_form_is_told_so_at_its_forms() {
    let p = problems("  - id: concentrate", "  - id: ore");
    assert!(
        p.contains(
            "mini.yaml:13:1: forms: the model has deposits but no form with id `concentrate`"
        ),
        "{p}"
    );
}

#[test]
fn deposits_that_name_their_form_need_no_concentrate() {
    // Every deposit names the mixed form its mines make: no form need be called
    // `concentrate`, and each mine makes its own deposit's form.
    let text = MINI.replace("concentrate", "ore");
    let text = text
        .replace("  - id: north\n", "  - id: north\n    form: ore\n")
        .replace("  - id: south\n", "  - id: south\n    form: ore\n")
        .replace("  - id: weld\n", "  - id: weld\n    form: ore\n");
    let m = load_str("mini.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    let ore = m.forms.iter().position(|f| f.id == "ore").unwrap();
    assert!(m.deposits.iter().all(|d| d.form == ore));
    // One deposit left without a form needs `concentrate` again, said once, at the forms.
    let text = text.replacen("  - id: weld\n    form: ore\n", "  - id: weld\n", 1);
    let p = problems_of(&text);
    assert!(
        p.contains("forms: the model has deposits but no form with id `concentrate`: mines produce that form unless their deposit names another (`form:`)"),
        "{p}"
    );
    assert_eq!(p.matches("no form with id `concentrate`").count(), 1, "{p}");
    // A form no recipe makes is still refused if it is traded element by element; and the
    // default must be mixed too, where a deposit relies on it.
    let lump = MINI
        .replacen(
            "  - id: scrap\n    mixed: true\n",
            "  - id: scrap\n    mixed: true\n  - id: lump\n",
            1,
        )
        .replacen("  - id: weld\n", "  - id: weld\n    form: lump\n", 1);
    let p = problems_of(&lump);
    assert!(p.contains("deposits[2].form: form 'lump' is traded element by element: a mine produces its deposit's whole element vector, so a deposit's form must be a mixed one (`mixed: true`)"), "{p}");
    let flat = MINI.replacen(
        "  - id: concentrate\n    mixed: true\n",
        "  - id: concentrate\n",
        1,
    );
    let p = problems_of(&flat);
    assert!(p.contains("forms: form 'concentrate' is what mines make unless their deposit names another, so it must be mixed"), "{p}");
    // A form of its own that nothing takes in is valid, and `check` warns of it.
    let own = MINI
        .replacen(
            "  - id: scrap\n    mixed: true\n",
            "  - id: scrap\n    mixed: true\n  - id: ore\n    mixed: true\n",
            1,
        )
        .replacen("  - id: weld\n", "  - id: weld\n    form: ore\n", 1);
    let m = load_str("mini.yaml", &own).unwrap_or_else(|e| panic!("{e}"));
    let w = m.warnings().join("\n");
    assert!(
        w.contains("deposit weld: its mines make ore, which no plant takes in and no sector uses"),
        "{w}"
    );
    assert!(!w.contains("deposit north"), "{w}");
    // Spare lines far above the usual rate are valid, and warned of.
    let tiny = MINI.replacen(
        "recipe: separate, capacity: 110000,",
        "recipe: separate, capacity: 110000, utilisation: 0.0001, spare_lines: true,",
        1,
    );
    let m = load_str("mini.yaml", &tiny).unwrap_or_else(|e| panic!("{e}"));
    let w = m.warnings().join("\n");
    assert!(
        w.contains("facility cn-sep: its spare lines run it at up to 10000.0x its usual rate (utilisation 0.0001)"),
        "{w}"
    );
}

#[test]
fn aliases_that_stand_for_too_much_text_and_very_long_names_are_refused_quickly() {
    // A few aliases of a large anchored value stand for gigabytes: refused before the
    // model is read (2,000 aliases of a megabyte had used 2.9 GB and aborted).
    let big = "x".repeat(1_000_000);
    let aliases = vec!["*s"; 2000].join(",");
    let text = MINI.replacen(
        "groups:\n",
        &format!("groups:\n  - id: bomb\n    name: &s \"{big}\"\n    members: [{aliases}]\n    source: fixture\n"),
        1,
    );
    let got = load_str("mini.yaml", &text).unwrap_err().to_string();
    assert!(
        got.contains("with its aliases (*name) expanded the file stands for more than 64 MB"),
        "{got}"
    );
    // A few aliases are fine.
    let text = MINI.replacen(
        "groups:\n",
        "groups:\n  - id: few\n    name: &n Few\n    members: [listed]\n    source: fixture\n  - id: again\n    name: *n\n    members: [listed]\n    source: fixture\n",
        1,
    );
    let got = load_str("mini.yaml", &text)
        .map(|_| String::new())
        .unwrap_or_else(|e| e.to_string());
    assert!(!got.contains("aliases"), "{got}");
    // A megabyte pasted as a name is not compared with every id, nor printed whole.
    let text = MINI.replacen(
        "groups:\n",
        &format!("groups:\n  - id: long\n    name: Long\n    members: [\"{big}\"]\n    source: fixture\n"),
        1,
    );
    let got = load_str("mini.yaml", &text).unwrap_err().to_string();
    assert!(got.contains("characters left out"), "{}", &got[..200]);
    assert!(got.len() < 10_000, "{} bytes", got.len());
}

#[test]
fn an_include_that_names_no_file_says_so() {
    // It had read as the model's own directory: "is a directory, not a model file".
    let text = MINI.replacen("model:\n", "include: [\"\", \" \"]\nmodel:\n", 1);
    let got = load_str("mini.yaml", &text).unwrap_err().to_string();
    for i in 0..2 {
        assert!(
            got.contains(&format!("include[{i}]: an include names no file")),
            "{got}"
        );
    }
    assert!(!got.contains("directory"), "{got}");
}

#[test]
fn an_empty_element_list_is_named_where_it_stands_and_alone() {
    let line = MINI
        .lines()
        .position(|l| l.starts_with("elements:"))
        .unwrap()
        + 1;
    let text = MINI
        .lines()
        .map(|l| {
            if l.starts_with("elements:") {
                "elements: []"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let got = load_str("mini.yaml", &text).unwrap_err().to_string();
    assert!(
        got.contains(&format!(
            "mini.yaml:{line}:1: elements: the model lists no `elements:`"
        )),
        "{got}"
    );
    assert!(
        got.contains("1 problem:"),
        "no knock-on 'unknown element': {got}"
    );
    // Left out altogether: the missing field's path, at the model's header.
    let header = "model:\n  name: tiny\n  start: 2024-01-01\n  end: 2025-01-01\n";
    let got = load_str("tiny.yaml", header).unwrap_err().to_string();
    assert!(
        got.contains("tiny.yaml:1:1: elements: the model lists no `elements:`"),
        "{got}"
    );
}

#[test]
fn check_warns_of_quantities_within_the_engines_rounding_tolerance() {
    let w = warnings(
        "material: \"magnet:NdFeB\", demand: 12000, units: 6000000",
        "material: \"magnet:NdFeB\", demand: 1e-5, units: 6000000",
    );
    assert!(
        w.contains("sector 'ev-us' needs 3e-6 t of rare earths a year, under a millionth of a tonne a step"),
        "{w}"
    );
    let w = warnings(
        "recipe: reduce, capacity: 30000,",
        "recipe: reduce, capacity: 0.00002,",
    );
    assert!(
        w.contains("facility 'cn-metal' makes 2e-5 t a year, under a millionth"),
        "{w}"
    );
}

#[test]
fn a_magnet_pressed_from_a_chain_made_alloy_is_warned_to_run_as_a_separator() {
    // A recipe with no composition converts what it is fed, up to capacity: right for ore
    // and scrap, and said of a good made from another made to a recipe.
    let text = MINI
        .replacen(
            "stages: [mine, separation, metal, magnet, recycling]",
            "stages: [mine, separation, metal, alloy, magnet, recycling]",
            1,
        )
        .replacen(
            "  - id: scrap\n    mixed: true\n",
            "  - id: scrap\n    mixed: true\n  - id: alloy\n    mixed: true\n",
            1,
        )
        .replacen(
            "  - id: ndfeb\n    stage: magnet\n    input: metal\n    output: magnet:NdFeB\n    recovery: 0.95\n    composition: {Pr: 0.22, Nd: 0.70, Dy: 0.06, Tb: 0.02}\n",
            "  - id: mkalloy\n    stage: alloy\n    input: metal\n    output: alloy\n    recovery: 0.99\n    composition: {Pr: 0.22, Nd: 0.70, Dy: 0.06, Tb: 0.02}\n    source: fixture\n  - id: ndfeb\n    stage: magnet\n    input: alloy\n    output: magnet:NdFeB\n    recovery: 0.95\n",
            1,
        )
        .replacen(
            "  - {id: cn-magnet,",
            "  - {id: cn-alloy, country: CN, stage: alloy, recipe: mkalloy, capacity: 30000, source: fixture}\n  - {id: cn-magnet,",
            1,
        )
        .replacen(
            "prices:\n",
            "prices:\n  - {form: alloy, price: 65, source: fixture}\n",
            1,
        );
    let w = load_str("mini.yaml", &text)
        .map(|m| m.warnings().join("\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        w.contains("recipe 'ndfeb' makes magnet:NdFeB from alloy with no composition: its plants run at their capacity"),
        "{w}"
    );
    // Separators and recyclers, fed ore and scrap, are what such a recipe is for.
    assert!(!warnings("", "").contains("no composition"));
}

//! Named behaviours of the engine on the real 2024 world, and its invariants under random
//! policy sequences.

mod common;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use chokepoint_core::series::Resolution;
use chokepoint_core::sim::PriceFloor;
use chokepoint_core::{load, Date, Model, Sim};
use common::{add, col, def, strs};
use proptest::prelude::*;

fn world() -> Arc<Model> {
    static W: OnceLock<Arc<Model>> = OnceLock::new();
    W.get_or_init(|| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/world-2024.yaml");
        Arc::new(load(&p).unwrap_or_else(|e| panic!("world-2024 loads: {e}")))
    })
    .clone()
}

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn at(sim: &Sim, metric: &str, key: &str, date: &str) -> f64 {
    let i = sim
        .series
        .dates
        .iter()
        .rposition(|&x| x <= d(date))
        .expect("recorded");
    col(sim, metric, key)[i]
}

fn mean_between(sim: &Sim, metric: &str, key: &str, a: &str, b: &str) -> f64 {
    let v = col(sim, metric, key);
    let xs: Vec<f64> = sim
        .series
        .dates
        .iter()
        .zip(&v)
        .filter(|(t, _)| **t >= d(a) && **t <= d(b))
        .map(|(_, x)| *x)
        .collect();
    xs.iter().sum::<f64>() / xs.len() as f64
}

#[test]
fn the_baseline_is_steady_and_balanced() {
    let m = world();
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2027-12-31"));
    assert!(
        sim.mass_balance_error() < 1e-9,
        "{}",
        sim.mass_balance_error()
    );
    for region in ["US", "JP", "DE", "CN"] {
        let peak = col(&sim, "shortfall", &format!("magnet:NdFeB/{region}"))
            .into_iter()
            .fold(0.0, f64::max);
        assert!(peak < 0.02, "{region} magnets short by {peak}");
    }
    let nd = at(&sim, "price", "CN/oxide:Nd", "2027-12-20")
        / at(&sim, "price", "CN/oxide:Nd", "2024-01-01");
    assert!(
        (0.7..1.3).contains(&nd),
        "Nd oxide moved {nd}x with no shock"
    );
    // Recyclers outside China have no scrap to buy at baseline: they stop bidding once it
    // costs more than recovering it pays, instead of driving its price to the ceiling.
    // (They wind down over the order-smoothing horizon: an overshoot, then about 2x.)
    let scrap = col(&sim, "price", "ROW/scrap");
    let peak = scrap.iter().copied().fold(0.0, f64::max) / scrap[0];
    assert!(peak < 6.0, "ROW scrap rose {peak}x with no shock");
    let settled = mean_between(&sim, "price", "ROW/scrap", "2026-01-01", "2027-12-31") / scrap[0];
    assert!(
        settled < 3.0,
        "ROW scrap settled at {settled}x with no shock"
    );
}

#[test]
fn closing_a_mine_cuts_all_its_coproducts() {
    let m = world();
    let f = m.facility_id("mountain-pass-mine").unwrap();
    let dep = match m.facilities[f].process {
        chokepoint_core::model::Process::Mine(d) => d,
        _ => unreachable!(),
    };
    let mut base = Sim::new(&m, 1);
    let mut cut = Sim::new(&m, 1);
    cut.capacity_mult[f] = 0.0;
    base.run_until(d("2024-03-01"));
    cut.run_until(d("2024-03-01"));
    let lost = m.facilities[f].capacity * m.facilities[f].utilisation;
    let mut moved = 0;
    for (e, el) in m.elements.iter().enumerate() {
        let share = m.deposits[dep].distribution[e];
        let drop =
            col(&base, "mine_output", &el.symbol)[5] - col(&cut, "mine_output", &el.symbol)[5];
        assert!(
            (drop - lost * share).abs() <= 1e-6 * lost,
            "{}: dropped {drop}, expected {}",
            el.symbol,
            lost * share
        );
        if share > 0.0 {
            moved += 1;
        }
    }
    assert!(moved >= 8, "Mountain Pass co-produces {moved} elements");
}

#[test]
fn a_dy_ban_on_japan_drains_its_buffers_before_demand_goes_unmet() {
    let m = world();
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2024-12-31"));
    let mut p = def("export_ban", "CN");
    p.elements = strs(&["Dy", "Tb"]);
    p.to = strs(&["JP"]);
    add(&mut sim, p);
    sim.run_until(d("2026-12-31"));
    let ban = sim
        .series
        .dates
        .iter()
        .position(|&x| x >= d("2025-01-06"))
        .unwrap();
    let cover = col(&sim, "cover_weeks", "magnet:NdFeB/JP");
    let made = col(&sim, "production", "magnet/JP");
    let short = col(&sim, "shortfall", "magnet:NdFeB/JP");
    let first = (ban..short.len())
        .find(|&i| short[i] > 0.01)
        .expect("Japan runs short eventually");
    let slows = (ban..made.len())
        .find(|&i| made[i] < 0.9 * made[ban - 1])
        .expect("Japanese magnet output falls");
    assert!(
        slows >= ban + 2,
        "plants run on their Dy and Tb stock for a while ({} weeks)",
        slows - ban
    );
    assert!(
        first > slows,
        "users run short only after plants slow ({first} vs {slows})"
    );
    assert!(
        cover[first] < 0.5 * cover[ban - 1],
        "users' magnet cover drained first: {} vs {}",
        cover[first],
        cover[ban - 1]
    );
}

#[test]
fn a_licence_delay_holds_material_in_a_queue_and_delivers_it_late() {
    let m = world();
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2025-04-01"));
    let mut p = def("export_licence", "CN");
    p.elements = strs(&["Dy", "Tb"]);
    p.approval = Some(0.5);
    p.delay_days = Some(63.0);
    add(&mut sim, p);
    sim.run_until(d("2025-09-30"));
    let start = sim
        .series
        .dates
        .iter()
        .position(|&x| x >= d("2025-04-07"))
        .unwrap();
    let queue = col(&sim, "licence_queue", "CN");
    let arrived = col(&sim, "licence_arrivals", "CN");
    assert!(queue[start + 1] > 0.0, "shipments wait from the first week");
    assert!(
        arrived[start..start + 8].iter().all(|&a| a == 0.0),
        "nothing clears before nine weeks"
    );
    assert!(
        arrived[start + 9..].iter().any(|&a| a > 0.0),
        "approved shipments arrive after the delay"
    );
    assert!(sim.mass_balance_error() < 1e-9);
}

#[test]
fn a_licence_on_a_minor_exporter_holds_up_only_what_it_ships() {
    // Malaysia (Lynas) licenses everything it exports, approving all of it after 13 weeks.
    // Its buyers order its share of their supply ahead, not a whole review of their use:
    // ordered from everyone, the rest was delivered at once by China as stock, Japan's oxide
    // cover ran up to 14 weeks, China's La oxide doubled and its La metal plant starved, and
    // metal users in four countries went 31-55% short (engine review, 2026-12-02).
    let m = world();
    let run = |licensed: bool| {
        let mut sim = Sim::new(&m, 1);
        sim.run_until(d("2024-03-31"));
        if licensed {
            let mut p = def("export_licence", "MY");
            p.approval = Some(1.0);
            p.delay_days = Some(91.0);
            add(&mut sim, p);
        }
        sim.run_until(d("2025-03-31"));
        sim
    };
    let (base, sim) = (run(false), run(true));
    // The licence bites: Malaysia's shipments wait in a queue.
    let queue = col(&sim, "licence_queue", "MY");
    assert!(queue.iter().copied().fold(0.0, f64::max) > 1000.0);
    for x in ["JP", "US", "DE", "OT"] {
        let short = col(&sim, "shortfall", &format!("metal/{x}"));
        let peak = short.iter().copied().fold(0.0, f64::max);
        assert!(
            peak < 0.02,
            "metal users in {x} are {:.1}% short",
            peak * 100.0
        );
    }
    let la = |s: &Sim| {
        col(s, "price", "CN/oxide:La")
            .iter()
            .copied()
            .fold(0.0, f64::max)
    };
    assert!(
        la(&sim) < 1.2 * la(&base),
        "China's La oxide peaks at {:.2}x the baseline's",
        la(&sim) / la(&base)
    );
    let cover = |s: &Sim| mean_between(s, "cover_weeks", "oxide/JP", "2024-06-01", "2024-12-31");
    assert!(
        cover(&sim) < cover(&base) + 4.0,
        "Japan's oxide cover {:.1} weeks against {:.1}",
        cover(&sim),
        cover(&base)
    );
    assert!(sim.mass_balance_error() < 1e-9);
}

#[test]
fn lifting_an_entity_list_restores_the_listed_firms_supply() {
    // The listed US defence firms stop buying from China (their other suppliers serve them
    // the rest; before the listing China supplied part of their foreign purchases, so the
    // drop is a share of their use), and buy from China again once the listing is lifted.
    let m = world();
    let run = |listed: bool| {
        let mut sim = Sim::new(&m, 1);
        if listed {
            let mut p = def("entity_list", "CN");
            p.to = strs(&["cn-ecl-2025-01"]);
            add(&mut sim, p);
        }
        sim.run_until(d("2024-06-30"));
        let during = mean_between(&sim, "trade", "CN>US", "2024-03-01", "2024-06-30");
        let date = sim.date();
        sim.end_policies(date, |p| p.kind == chokepoint_core::PolicyKind::EntityList);
        sim.run_until(d("2025-06-30"));
        (
            during,
            mean_between(&sim, "trade", "CN>US", "2025-01-01", "2025-06-30"),
        )
    };
    let (base_during, base_after) = run(false);
    let (listed_during, listed_after) = run(true);
    let s = &m.sectors[m.sector_id("defence-us").unwrap()];
    let firms = &m.groups[m.group_id("cn-ecl-2025-01").unwrap()].firms;
    let listed_need: f64 = s
        .firms
        .iter()
        .filter(|(f, _)| firms.iter().any(|&g| m.firm_within(*f, g)))
        .map(|(_, x)| x * s.demand)
        .sum();
    assert!(listed_need > 0.0, "some defence buyers are on the list");
    let drop = base_during - listed_during;
    assert!(
        drop > 0.1 * listed_need,
        "China's sales to the US fall by the listed firms' use: {drop:.1} vs {listed_need:.1} t/yr"
    );
    assert!(
        (listed_after - base_after).abs() < 0.02 * base_after,
        "after the lift flows return: {listed_after:.0} vs {base_after:.0}"
    );
}

fn us_magnet_ban(sim: &mut Sim) {
    let mut p = def("export_ban", "CN");
    p.forms = strs(&["magnet:NdFeB", "metal"]);
    p.to = strs(&["US"]);
    add(sim, p);
}

#[test]
fn a_ban_on_one_country_is_partly_diverted_through_the_others() {
    // Buyers elsewhere take Chinese magnets and release their non-Chinese ones to the US,
    // up to the model's `diversion` share; with none, the US keeps only what it had.
    let run = |diversion: f64| {
        let mut m = (*world()).clone();
        m.behaviour.diversion = diversion;
        let mut sim = Sim::new(&Arc::new(m), 1);
        sim.run_until(d("2024-12-31"));
        us_magnet_ban(&mut sim);
        sim.run_until(d("2025-12-31"));
        let jp_us = mean_between(&sim, "trade", "JP>US", "2025-03-01", "2025-12-31");
        let short = mean_between(
            &sim,
            "shortfall",
            "magnet:NdFeB/US",
            "2025-03-01",
            "2025-12-31",
        );
        (jp_us, short)
    };
    let (jp_none, short_none) = run(0.0);
    let (jp_half, short_half) = run(world().behaviour.diversion);
    // Without diversion Japan still sells the US some metal, which China's no longer
    // reaches, and SmCo magnets: ~100 t/yr of all forms, against over 1,000 with it.
    assert!(
        jp_none < 150.0,
        "no diversion: Japan's magnets stay home ({jp_none:.0} t/yr)"
    );
    assert!(
        short_none > 0.6,
        "and the US is over 60% short ({short_none:.2})"
    );
    assert!(
        jp_half > 1000.0,
        "with diversion Japan ships over 1,000 t/yr to the US ({jp_half:.0})"
    );
    assert!(
        short_half < 0.5 * short_none,
        "and the shortfall is less than half ({short_half:.2} vs {short_none:.2})"
    );
}

/// China's magnets and metal to the US alone: a licence at `approval` with a 63-day review,
/// or a ban.
fn us_magnet_control(approval: Option<f64>) -> chokepoint_core::model_file::PolicyDef {
    let mut p = match approval {
        Some(a) => {
            let mut p = def("export_licence", "CN");
            p.approval = Some(a);
            p.delay_days = Some(63.0);
            p
        }
        None => def("export_ban", "CN"),
    };
    p.forms = strs(&["magnet:NdFeB", "metal"]);
    p.to = strs(&["US"]);
    p
}

#[test]
fn a_licence_never_leaves_its_targets_shorter_than_a_ban_or_a_stricter_licence() {
    // A US-only licence on China's magnets and metal with a 63-day review. Buyers whose
    // stock will not last the review buy the gap where it can be had now (diversion
    // through Japan), so approving more never leaves them shorter; before, approving
    // everything left US magnet users ~94% short at the peak, against none at 0.2-0.8 and
    // 31% under a ban.
    let m = world();
    let run = |approval: Option<f64>| {
        let mut sim = Sim::new(&m, 1);
        sim.run_until(d("2025-04-01"));
        add(&mut sim, us_magnet_control(approval));
        sim.run_until(d("2026-03-31"));
        let short = col(&sim, "shortfall", "magnet:NdFeB/US");
        let peak = short.iter().fold(0.0, |a: f64, &b| a.max(b));
        let mean = mean_between(
            &sim,
            "shortfall",
            "magnet:NdFeB/US",
            "2025-04-01",
            "2026-03-31",
        );
        assert!(sim.mass_balance_error() < 1e-9);
        (peak, mean)
    };
    let (ban_peak, ban_mean) = run(None);
    assert!(
        ban_peak > 0.2,
        "the ban leaves US users short ({ban_peak:.2})"
    );
    let mut last = (ban_peak, ban_mean);
    for a in [0.1, 0.5, 0.9, 1.0] {
        let (peak, mean) = run(Some(a));
        assert!(
            peak <= last.0 + 1e-6 && mean <= last.1 + 1e-6,
            "approval {a}: peak {peak:.3}, mean {mean:.3}, against {:.3}, {:.3} one step stricter",
            last.0,
            last.1
        );
        last = (peak, mean);
    }
    assert!(
        last.0 < 0.05,
        "approving everything after the review leaves users at most 5% short ({:.3})",
        last.0
    );
    // Terms raised mid-way (a deal): more will come only a review on, and buyers bridge
    // that wait too, rather than lose the refused share they had been buying elsewhere
    // (raised from 0.1 to 1 in June, they were 88% short in July).
    let raised = |to: f64| {
        let mut sim = Sim::new(&m, 1);
        sim.run_until(d("2025-04-01"));
        for (a, until) in [(0.1, "2025-06-01"), (to, "2025-12-31")] {
            let mut p = def("export_licence", "CN");
            p.approval = Some(a);
            p.delay_days = Some(63.0);
            p.forms = strs(&["magnet:NdFeB", "metal"]);
            p.to = strs(&["US"]);
            let date = sim.date();
            sim.end_policies(date, |p| p.kind.name() == "export_licence");
            add(&mut sim, p);
            sim.run_until(d(until));
        }
        let short = col(&sim, "shortfall", "magnet:NdFeB/US");
        short.iter().fold(0.0, |a: f64, &b| a.max(b))
    };
    let (kept, full) = (raised(0.1), raised(1.0));
    assert!(
        full <= kept + 1e-6,
        "raising approval to 1 leaves users no shorter: {full:.3} against {kept:.3}"
    );
}

#[test]
fn prices_outside_a_licensing_exporter_fall_as_its_licence_approves_more() {
    // A US-only licence on China's magnets and metal with a 63-day review, from April 2025.
    // Through the first review US buyers keep their cover with supply they can have now
    // (`bridge_of`), since below full approval the licence passes no restocking after it.
    // When they bridged only what they would otherwise lack, the stock the wait drained
    // never came back: magnets outside China peaked at 1.85x their March level at 90%
    // approval, 1.22x at 30%, 1.07x at 100% and 1.89x under a ban. (Between 60% and 99%
    // the peaks still differ by a few percent either way.)
    let m = world();
    let peak = |approval: Option<f64>| {
        let mut sim = Sim::new(&m, 1);
        sim.run_until(d("2025-03-31"));
        let before = col(&sim, "price", "ROW/magnet:NdFeB");
        let march = before[before.len() - 1];
        add(&mut sim, us_magnet_control(approval));
        sim.run_until(d("2026-03-31"));
        let v = col(&sim, "price", "ROW/magnet:NdFeB");
        v.iter().fold(0.0, |a: f64, &b| a.max(b)) / march
    };
    let ban = peak(None);
    assert!(
        ban > 1.5,
        "a ban moves magnet prices outside China: {ban:.2}x"
    );
    let mut last = ban;
    for a in [0.1, 0.3, 0.6, 0.9, 0.99, 1.0] {
        let p = peak(Some(a));
        assert!(
            p <= last * 1.05,
            "approval {a}: magnets outside China peak at {p:.3}x, against {last:.3}x one step stricter"
        );
        last = p;
    }
    let (nearly, full) = (peak(Some(0.9)), last);
    assert!(
        nearly < full * 1.1,
        "90% approval prices magnets within 10% of a full approval: {nearly:.3}x against {full:.3}x"
    );
}

#[test]
fn buyers_that_come_to_count_thin_cover_as_normal_end_the_late_peak_of_a_mine_stop() {
    // `cover_adapt_weeks`, shipped off: with it, a Kachin stop's Dy price in China peaks
    // while the stop's loss is felt and rises with the stop's length; without it, buyers
    // bid for the stock they cannot rebuild and a six-month stop peaks in 2026, months
    // after the mines restart.
    let run = |adapt: f64, restart: &str| {
        let mut m = (*world()).clone();
        m.behaviour.cover_adapt_weeks = adapt;
        let m = Arc::new(m);
        let f = m.facility_id("kachin-clay-mines").unwrap();
        let mut sim = Sim::new(&m, 1);
        sim.run_until(d("2024-10-20"));
        sim.capacity_mult[f] = 0.0;
        sim.run_until(d(restart));
        sim.capacity_mult[f] = 1.0;
        sim.run_until(d("2026-12-31"));
        let p = col(&sim, "price", "CN/oxide:Dy");
        let (i, peak) =
            (p.iter().enumerate()).fold((0, 0.0), |a, (i, &x)| if x > a.1 { (i, x) } else { a });
        assert!(sim.mass_balance_error() < 1e-9);
        // The highest it stands in 2026, months after the mines restart.
        let late = (sim.series.dates.iter().zip(&p))
            .filter(|(t, _)| **t >= d("2026-01-01"))
            .fold(0.0f64, |a, (_, &x)| a.max(x));
        (peak / p[0], sim.series.dates[i], late / p[0])
    };
    let (six, six_at, six_late) = run(39.0, "2025-04-20");
    let (eight, _, _) = run(39.0, "2025-06-20");
    assert!(
        six_at < d("2025-12-31"),
        "six months' stop peaks in 2025 ({six:.2}x on {six_at})"
    );
    assert!(
        six > 1.3 && eight > six + 0.3,
        "a longer stop peaks higher: {six:.2}x, {eight:.2}x"
    );
    // Shipped off, the price does not come down after the restart: it stands at its peak
    // through 2026 (2026-12-02: 1.87x in August 2025, 1.87x in 2026; on, 1.80x and 1.66x).
    // (It peaked in 2026 itself until MP's ramp was fitted to its 2025 output.)
    let (off, off_at, off_late) = run(0.0, "2025-04-20");
    assert!(
        off > six && off_late > 0.98 * off && off_late > six_late + 0.1,
        "shipped off, the late peak stands: {off:.2}x on {off_at}, {off_late:.2}x in 2026 \
         (on: {six:.2}x on {six_at}, {six_late:.2}x in 2026)"
    );
}

#[test]
fn a_stockpile_release_shortens_a_shortage() {
    let m = world();
    let sp = m.stockpile_id("us-nds-ndfeb").unwrap();
    // No release (None), or 3,000 t released at 12,000 t/yr, at its rate or as needed.
    let run = |release: Option<bool>| {
        let mut sim = Sim::new(&m, 1);
        sim.run_until(d("2024-12-31"));
        us_magnet_ban(&mut sim);
        if let Some(as_needed) = release {
            sim.stockpile_fill(sp, 3000.0);
            sim.stockpile_release[sp] = 12000.0 * m.forms[m.stockpiles[sp].form].re_share;
            sim.stockpile_as_needed[sp] = as_needed;
        }
        let before = sim.stockpile_holding(sp);
        sim.run_until(d("2025-12-31"));
        let short: f64 = col(&sim, "shortfall", "magnet:NdFeB/US").iter().sum();
        (short, before, sim)
    };
    let (without, _, _) = run(None);
    let (with, _, _) = run(Some(false));
    assert!(
        without > 1.0,
        "the ban leaves US magnet users short ({without})"
    );
    assert!(
        with < 0.8 * without,
        "releasing the stockpile shortens it ({with} vs {without})"
    );
    // As needed (after the market, to the users short of the week's use), the same holding
    // shortens it more, moves each element as it holds it, and pays its way.
    let (as_needed, before, sim) = run(Some(true));
    assert!(
        as_needed < with,
        "as needed {as_needed} vs at its rate {with}"
    );
    assert!(sim.stockpile_holding(sp) < before - 100.0, "it was drawn");
    assert!(
        sim.mass_balance_error() < 1e-9,
        "{}",
        sim.mass_balance_error()
    );
    let us = m.country_id("US").unwrap();
    assert!(sim.policy_cost[us] < 0.0, "its sales earn the market price");
}

#[test]
fn a_price_floor_costs_its_payer_when_the_market_is_below_it() {
    let m = world();
    let mut sim = Sim::new(&m, 1);
    let f = m.facility_id("mp-separation").unwrap();
    let ox = m.form_id("oxide").unwrap();
    let nd = m.element_id("Nd").unwrap();
    let us = m.country_id("US").unwrap();
    sim.floors.push(PriceFloor {
        facility: f,
        commodity: m.commodity(ox, Some(nd)),
        floor: 110.0,
        payer: us,
        end: None,
    });
    sim.run_until(d("2024-12-31"));
    let cost = *col(&sim, "policy_cost", "US").last().unwrap();
    let price = mean_between(&sim, "price", "ROW/oxide:Nd", "2024-01-01", "2024-12-31");
    let nd_sold = mean_between(&sim, "output", "mp-separation", "2024-01-01", "2024-12-31") * 0.15;
    assert!(price < 110.0);
    // Order of magnitude: (floor - price) × Nd sold; Nd is ~12-17% of Mountain Pass output.
    let expect = (110.0 - price) * nd_sold * 1000.0;
    assert!(
        cost > 0.3 * expect && cost < 3.0 * expect,
        "cost {cost:.0} vs ~{expect:.0}"
    );
}

#[test]
fn a_price_floor_pays_on_what_its_plant_sold_of_the_floored_element_and_lapses_with_it() {
    // Lynas separates every element of its feed but sells its La and Ce only in part: a
    // floor on its Nd oxide was paid on its sales of everything times Nd's share of its
    // output, ~30% short of the Nd it sold (review, 2026-12-01); and it went on paying
    // after the plant closed (its `end`, 2025-05-16) on the stock it sold off.
    let m = world();
    let mut sim = Sim::new(&m, 1);
    let f = m.facility_id("lynas-kuantan").unwrap();
    let ox = m.form_id("oxide").unwrap();
    let nd = m.element_id("Nd").unwrap();
    let au = m.country_id("AU").unwrap();
    sim.run_until(d("2024-03-03"));
    let made_before = sim.made_of(f, nd);
    sim.floors.push(PriceFloor {
        facility: f,
        commodity: m.commodity(ox, Some(nd)),
        floor: 80.0,
        payer: au,
        end: None,
    });
    sim.run_until(d("2025-03-31"));
    let cost = sim.policy_cost[au];
    let price = mean_between(&sim, "price", "ROW/oxide:Nd", "2024-03-04", "2025-03-31");
    let made = sim.made_of(f, nd) - made_before;
    // Nd is what sells: over a year the plant sells about what it makes.
    let expect = (80.0 - price) * made * 1000.0;
    assert!(
        cost > 0.85 * expect && cost < 1.05 * expect,
        "floor cost {cost:.0} against ~{expect:.0} on the Nd made"
    );
    sim.run_until(d("2025-06-30"));
    let at_close = sim.policy_cost[au];
    sim.run_until(d("2027-06-30"));
    assert_eq!(
        sim.policy_cost[au], at_close,
        "the floor lapsed with the plant"
    );
    // Nor does it pay while a lever has the plant closed (it sells off its stock then).
    let mut sim = Sim::new(&m, 1);
    sim.floors.push(PriceFloor {
        facility: f,
        commodity: m.commodity(ox, Some(nd)),
        floor: 200.0,
        payer: au,
        end: None,
    });
    sim.run_until(d("2024-06-02"));
    sim.closed[f] = true;
    let shut = sim.policy_cost[au];
    sim.run_until(d("2024-08-25"));
    assert_eq!(sim.policy_cost[au], shut, "nothing paid while closed");
    sim.closed[f] = false;
    sim.run_until(d("2024-12-31"));
    assert!(sim.policy_cost[au] > shut, "paid again once reopened");
}

#[test]
fn a_ban_holds_licensed_shipments_still_waiting_until_it_lifts() {
    // A shipment in the licence queue is still at the exporter, waiting on its review: a
    // ban that comes while it waits keeps it there (it let ~320 t of Dy goods through to
    // Germany in the month after a ban, review 2026-12-01).
    let m = world();
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2024-06-02"));
    let mut lic = def("export_licence", "CN");
    lic.elements = strs(&["Dy"]);
    lic.to = strs(&["DE"]);
    lic.approval = Some(0.8);
    lic.delay_days = Some(56.0);
    add(&mut sim, lic);
    sim.run_until(d("2024-06-30"));
    let mut ban = def("export_ban", "CN");
    ban.elements = strs(&["Dy"]);
    ban.to = strs(&["DE"]);
    ban.end = Some("2024-11-04".into());
    add(&mut sim, ban);
    sim.run_until(d("2025-01-31"));
    let queue_at = |date: &str| at(&sim, "licence_queue", "CN", date);
    let arrived = |a: &str, b: &str| mean_between(&sim, "licence_arrivals", "CN", a, b);
    let waiting = queue_at("2024-06-30");
    assert!(waiting > 100.0, "a month of Dy goods waits: {waiting} t");
    assert_eq!(
        arrived("2024-07-01", "2024-10-31"),
        0.0,
        "none passes the ban"
    );
    assert!(
        (queue_at("2024-10-31") - waiting).abs() < 1e-6 * waiting,
        "the queue is held whole: {} t of {waiting}",
        queue_at("2024-10-31")
    );
    // The week the ban lifts, what it held goes (its review long since over).
    let week = arrived("2024-11-04", "2024-11-10") / m.steps_per_year();
    assert!(
        (week - waiting).abs() < 0.01 * waiting,
        "{week} t arrive the week the ban lifts, of {waiting} t held"
    );
    assert!(sim.mass_balance_error() < 1e-9);
}

#[test]
fn more_plants_built_than_the_model_has_nodes_trade_without_a_panic() {
    // Every buyer of a commodity has a slot in the market's buffers: 200 new magnet plants
    // make metal's buyers outnumber the model's nodes at its start.
    let m = world();
    let mut sim = Sim::new(&m, 1);
    let nodes = sim.nodes.len();
    let like = m.facility_id("mp-independence-magnets").unwrap();
    for i in 0..nodes + 25 {
        sim.add_facility_like(like, &format!("b{i}"), 100.0, d("2024-02-05"), 1.0);
    }
    sim.run_until(d("2024-06-03"));
    let made: f64 = (0..nodes + 25)
        .map(|i| at(&sim, "output", &format!("b{i}"), "2024-06-03"))
        .sum();
    assert!(made > 0.0 && made.is_finite(), "{made}");
    assert!(sim.mass_balance_error() < 1e-9);
}

#[test]
fn a_new_facility_ramps_after_its_lead_time() {
    let m = world();
    let mut sim = Sim::new(&m, 1);
    let like = m.facility_id("mp-independence-magnets").unwrap();
    sim.add_facility_like(like, "new-plant", 5000.0, d("2025-01-06"), 12.0);
    sim.run_until(d("2026-06-30"));
    let f = sim.model.facility_id("new-plant").unwrap();
    assert_eq!(f, m.facilities.len());
    let cap = |date: &str| {
        let mut s = sim.clone();
        s.step = s.model.step_of(d(date)) as usize;
        s.capacity_now_at(f)
    };
    assert_eq!(cap("2024-12-30"), 0.0);
    let a = cap("2025-04-07");
    let b = cap("2025-10-06");
    let full = cap("2026-03-02");
    assert!(a > 0.0 && a < b && b < full, "{a} < {b} < {full}");
    assert!(
        (b / full - 0.75).abs() < 0.05,
        "three quarters of the way up after nine months: {}",
        b / full
    );
}

#[test]
fn contracted_inputs_count_toward_dependency() {
    // Kuantan's feed is Mount Weld's concentrate, contracted from Australia: Malaysia's
    // separation depends on imports for nearly all of it. China's separators buy Myanmar's
    // feed under contract too (~27 kt), which counts on both sides of China's ratio.
    let m = world();
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2024-06-30"));
    let my = mean_between(
        &sim,
        "dependency",
        "separation/MY",
        "2024-03-01",
        "2024-06-30",
    );
    assert!(my > 0.95, "Malaysia's separation imports its feed: {my:.3}");
    let cn = mean_between(
        &sim,
        "dependency",
        "separation/CN",
        "2024-03-01",
        "2024-06-30",
    );
    assert!(
        cn > 0.18 && cn < 0.26,
        "China's separation feed ~21% imported: {cn:.3}"
    );
}

#[test]
fn a_ramp_shorter_than_a_step_gives_most_of_the_first_step() {
    // Capacity is the step's mean along the ramp, so a ramp shrinking to nothing meets a
    // plant with no ramp instead of losing it a whole week.
    let m = world();
    let like = m.facility_id("mp-independence-magnets").unwrap();
    let first_step = |ramp: f64| {
        let mut sim = Sim::new(&m, 1);
        sim.add_facility_like(like, "new-plant", 5200.0, d("2025-01-06"), ramp);
        sim.run_until(d("2024-12-31"));
        let f = sim.model.facility_id("new-plant").unwrap();
        let mut s = sim.clone();
        s.step = s.model.step_of(d("2025-01-06")) as usize;
        s.capacity_now_at(f)
    };
    let none = first_step(0.0);
    assert!(none > 0.0);
    assert!((first_step(0.001) / none - 1.0).abs() < 0.01);
    // A week into a 12-month ramp: half a week's share of it (0.23 weeks / 52 ≈ 0.0096).
    let slow = first_step(12.0) / none;
    assert!(slow > 0.005 && slow < 0.015, "{slow}");
}

#[test]
fn segmented_markets_open_a_price_gap() {
    let m = world();
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2024-12-31"));
    let mut p = def("export_ban", "CN");
    p.elements = strs(&["Dy", "Tb"]);
    add(&mut sim, p);
    sim.run_until(d("2025-12-31"));
    for c in ["oxide:Dy", "metal:Dy"] {
        let row = at(&sim, "price", &format!("ROW/{c}"), "2025-12-29")
            / at(&sim, "price", &format!("ROW/{c}"), "2024-12-30");
        let cn = at(&sim, "price", &format!("CN/{c}"), "2025-12-29")
            / at(&sim, "price", &format!("CN/{c}"), "2024-12-30");
        assert!(row > 1.3 * cn, "{c}: ROW moved {row:.2}x, China {cn:.2}x");
        assert!(
            cn < 1.0,
            "{c}: stranded exports depress China's price ({cn:.2}x)"
        );
    }
}

#[test]
fn a_control_that_can_hold_nothing_back_leaves_the_markets_as_they_were() {
    // Korea makes no oxide, Nigeria no metal, the US no Dy oxide before 2027; China exports
    // ~60,000 t a year, far below a 10 Mt quota. None of these holds a tonne back, so none may segment a market (each
    // moved prices by up to 20% when any control on a good stopped its arbitrage).
    let m = world();
    let run = |ps: Vec<chokepoint_core::model_file::PolicyDef>| {
        let mut sim = Sim::new(&m, 1);
        sim.run_until(d("2024-12-31"));
        for p in ps {
            add(&mut sim, p);
        }
        sim.run_until(d("2026-06-30"));
        sim.series.values.clone()
    };
    let quota_on = |x: &str, t: f64| {
        let mut q = def("export_quota", x);
        q.tonnes_per_year = Some(t);
        q
    };
    let baseline = run(vec![]);
    // Myanmar's 100 t quota binds at once; China's 10 Mt beside it must not segment
    // China's goods for it (it did, while a quota's running out was kept by good).
    let mm = run(vec![quota_on("MM", 100.0)]);
    // A 200 t Dy quota binds; a 9 Mt one over everything beside it must change nothing (its
    // goods took the path that applies rules, which under a shortage is not the open path
    // to rounding: Nd metal outside China moved ~3%).
    let dy_quota = || {
        let mut q = quota_on("CN", 200.0);
        q.elements = strs(&["Dy"]);
        q
    };
    let dy = run(vec![dy_quota()]);
    let mut kr = def("export_licence", "KR");
    kr.forms = strs(&["oxide"]);
    kr.approval = Some(0.0);
    kr.delay_days = Some(63.0);
    let mut ng = def("export_ban", "NG");
    ng.forms = strs(&["metal"]);
    let mut cn = def("export_quota", "CN");
    cn.tonnes_per_year = Some(1e7);
    // The US has plants that will make Dy oxide (a recycler from 2027), none that does yet.
    let mut us = def("export_ban", "US");
    us.elements = strs(&["Dy"]);
    us.forms = strs(&["oxide"]);
    // Capped at 1 Mt/yr, China's oxide (~63 kt/yr exported) has a week's allowance of room
    // as each year begins: room enough, though less than China's stocks on offer.
    let mut oxide = quota_on("CN", 1e6);
    oxide.forms = strs(&["oxide"]);
    // A quota on one destination is judged by what its buyers want, not everyone's: 20 kt
    // a year to the US (which imports ~6.5 kt) cut China's US sales 18% each January.
    let to_us_quota = || {
        let mut q = quota_on("CN", 20_000.0);
        q.to = strs(&["US"]);
        q
    };
    let to_us = to_us_quota();
    for (what, ps, against) in [
        ("CN 1 Mt oxide quota over New Year", vec![oxide], &baseline),
        ("CN 20 kt quota to the US", vec![to_us], &baseline),
        // Two quotas each with room judged by its own buyers (the 20 kt to the US was judged
        // by all the 10 Mt's: US sales 18% lower each January).
        (
            "CN 20 kt to the US beside a 10 Mt quota",
            vec![to_us_quota(), quota_on("CN", 1e7)],
            &baseline,
        ),
        (
            "CN 9 Mt quota beside a binding Dy quota",
            vec![dy_quota(), quota_on("CN", 9e6)],
            &dy,
        ),
        ("US Dy oxide ban", vec![us], &baseline),
        ("KR oxide licence", vec![kr], &baseline),
        ("NG metal ban", vec![ng], &baseline),
        ("CN 10 Mt quota", vec![cn], &baseline),
        (
            "CN 10 Mt quota beside MM's binding one",
            vec![quota_on("MM", 100.0), quota_on("CN", 1e7)],
            &mm,
        ),
    ] {
        let v = run(ps);
        let baseline = against;
        // (The quota's goods trade on the path that counts what quotas ship, which sums in
        // another order: equal to rounding, not to the last bit.)
        let apart = |a: &f64, b: &f64| (a - b).abs() > 1e-6 * a.abs().max(b.abs()).max(1e-3);
        let moved = (baseline.iter().zip(&v))
            .filter(|(a, b)| apart(a, b))
            .count();
        let first = (baseline.iter().zip(&v)).position(|(a, b)| apart(a, b));
        let names = Sim::new(&m, 1).series.names.clone();
        let first = first.map(|i| {
            let (metric, key) = &names[i % names.len()];
            format!(
                "step {}, {metric}[{key}]: {} against {}",
                i / names.len(),
                v[i],
                baseline[i]
            )
        });
        assert_eq!(
            moved, 0,
            "{what}: {moved} recorded values moved; the first: {first:?}"
        );
    }
    // A quota that binds still segments: China's Dy under a 5,000 t quota on every form
    // (spent dearest first: ~1.8x outside China, ~0.75x in it).
    let mut tight = def("export_quota", "CN");
    tight.tonnes_per_year = Some(5000.0);
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2024-12-31"));
    add(&mut sim, tight);
    sim.run_until(d("2025-12-31"));
    let row = at(&sim, "price", "ROW/oxide:Dy", "2025-12-29")
        / at(&sim, "price", "ROW/oxide:Dy", "2024-12-30");
    let cn = at(&sim, "price", "CN/oxide:Dy", "2025-12-29")
        / at(&sim, "price", "CN/oxide:Dy", "2024-12-30");
    assert!(
        row > 1.5 && cn < 0.9,
        "Dy oxide: ROW moved {row:.2}x, China {cn:.2}x"
    );
    // Lifted and imposed again the same week (the 2010 replay does so each January), it
    // segments them still: the markets were not pulled together for a week (ROW Ce -14%
    // and China's +14% in the replay, 2011-12-29; here ROW Dy 0.997x against 1.001x).
    let quota = || {
        let mut q = def("export_quota", "CN");
        q.tonnes_per_year = Some(5000.0);
        q
    };
    let kept = {
        let mut sim = Sim::new(&m, 1);
        sim.run_until(d("2024-12-31"));
        add(&mut sim, quota());
        sim.run_until(d("2025-09-01"));
        sim
    };
    let mut again = Sim::new(&m, 1);
    again.run_until(d("2024-12-31"));
    add(&mut again, quota());
    again.run_until(d("2025-06-01"));
    let date = again.date();
    assert_eq!(again.end_policies(date, |_| true), 1);
    add(&mut again, quota());
    again.run_until(d("2025-09-01"));
    for key in ["ROW/oxide:Dy", "CN/oxide:Dy", "ROW/oxide:Tb"] {
        let (a, b) = (col(&kept, "price", key), col(&again, "price", key));
        let step = again.series.dates.iter().position(|&t| t >= date).unwrap();
        let jump = |v: &[f64]| v[step] / v[step - 1];
        assert!(
            (jump(&b) - jump(&a)).abs() < 0.001,
            "{key}: moved {:.3}x the week it was imposed again, {:.3}x kept",
            jump(&b),
            jump(&a)
        );
    }
}

#[test]
fn a_light_only_separator_does_not_fill_up_with_what_it_cannot_separate() {
    // MP's separation recovers La, Ce, Pr and Nd; the ~2% of its feed that is SEG/HRE
    // leaves as a residue. Were it kept as feed stock it would count as cover, the plant
    // would stop ordering concentrate, and by 2029 it would run at nothing.
    let m = world();
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2029-12-31"));
    let y2024 = mean_between(&sim, "output", "mp-separation", "2024-01-01", "2024-12-31");
    let y2029 = mean_between(&sim, "output", "mp-separation", "2029-01-01", "2029-12-31");
    assert!(
        y2024 > 5000.0,
        "MP separates ~8,500 t/yr in 2024: {y2024:.0}"
    );
    assert!(
        y2029 > 0.9 * y2024,
        "and still in 2029: {y2029:.0} t/yr against {y2024:.0}"
    );
}

#[test]
fn a_feed_shortage_lifts_concentrate_only_to_the_separators_break_even() {
    // Sichuan's mines shut: China's separators, running flat out, lack a fifth of their
    // feed for years. The concentrate price rises until separating it stops paying
    // (input cost share 0.6 of output value at the start, curtailment complete at 1.25:
    // about 2.1x the oxides' move), then holds there instead of climbing to the cap. The
    // oxides move too (Pr, short with Sichuan's bastnäsite, climbs several-fold), so the
    // break-even is read against the separators' own output prices, step by step.
    let m = world();
    let mut sim = Sim::new(&m, 1);
    let f = m.facility_id("sichuan-mines").unwrap();
    let sep = m.facility_id("cn-separation-quota").unwrap();
    sim.capacity_mult[f] = 0.0;
    let mut moves = Vec::new();
    while sim.date() <= d("2027-12-31") && sim.step < m.horizon_steps() {
        sim.step();
        moves.push(sim.output_price_move(sep));
    }
    let p = col(&sim, "price", "CN/concentrate");
    let (first, top) = (p[0], p.iter().cloned().fold(0.0, f64::max));
    let over_oxides = p
        .iter()
        .zip(&moves)
        .map(|(x, m)| x / first / m)
        .fold(0.0, f64::max);
    let b = &m.behaviour;
    let break_even = (1.0 + b.curtail_band) / b.input_cost_share;
    assert!(
        top > 1.5 * first,
        "the shortage lifts concentrate: {top:.2} from {first:.2}"
    );
    assert!(
        over_oxides < 1.5 * break_even && top < 0.2 * b.price_max_ratio * first,
        "concentrate stops near the break-even ({break_even:.2}x the oxides' move), not \
         the cap: {over_oxides:.2}x the oxides' move, {:.2}x its start",
        top / first
    );
    let late = mean_between(&sim, "price", "CN/concentrate", "2027-01-01", "2027-12-31");
    assert!(
        (late / top) > 0.8,
        "and holds there: {late:.2} against a top of {top:.2}"
    );
    // Clay concentrate has buyers in China only. Once China's separators would not earn
    // it back they bid nothing for it, in either market: pooled across the two markets,
    // their shortfall took the price outside China, where nobody buys it, to the cap (40x
    // from February 2026 after a Kachin stop of six months: regression review, 2026-12-01).
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2024-10-20"));
    let kachin = m.facility_id("kachin-clay-mines").unwrap();
    sim.capacity_mult[kachin] = 0.0;
    sim.run_until(d("2025-04-20"));
    sim.capacity_mult[kachin] = 1.0;
    sim.run_until(d("2026-12-31"));
    let (cn, row) = (
        col(&sim, "price", "CN/clay-concentrate"),
        col(&sim, "price", "ROW/clay-concentrate"),
    );
    let top = |v: &[f64]| v.iter().fold(0.0, |a: f64, &b| a.max(b)) / v[0];
    assert!(
        top(&cn) > 1.5 && top(&row) < 0.2 * b.price_max_ratio,
        "clay concentrate: China x{:.2}, outside China x{:.2}",
        top(&cn),
        top(&row)
    );
}

#[test]
fn arbitrage_holds_freely_traded_prices_together_across_markets() {
    // With no policy anywhere, Nd oxide trades freely and China's and the rest of the
    // world's prices stay within a few percent (2024: within 5-10%, facts.md 5b): each the
    // same multiple of its start price, which were 4.3% apart. A half-year ban on China's
    // Nd oxide exports parts them (~1.33x); once it is lifted, the pull closes the gap it
    // left. (Since 2026-12-01 both markets answer to one pooled scarcity, so without a
    // control they stay together even without the pull; without it a gap a control
    // left stays: ~8% in 2027, 2026-12-01.)
    let gap = |coupling: f64| {
        let mut m = (*world()).clone();
        m.behaviour.market_coupling = coupling;
        let m = Arc::new(m);
        let mut sim = Sim::new(&m, 1);
        sim.run_until(d("2025-01-05"));
        let mut p = def("export_ban", "CN");
        p.forms = strs(&["oxide"]);
        p.elements = strs(&["Nd"]);
        p.end = Some("2025-07-07".into());
        add(&mut sim, p);
        sim.run_until(d("2027-12-31"));
        let mean = |k: &str, a: &str, b: &str| mean_between(&sim, "price", k, a, b);
        let under = mean("ROW/oxide:Nd", "2025-05-01", "2025-06-30")
            / mean("CN/oxide:Nd", "2025-05-01", "2025-06-30");
        let row = mean("ROW/oxide:Nd", "2027-01-01", "2027-12-31");
        let cn = mean("CN/oxide:Nd", "2027-01-01", "2027-12-31");
        (under, (row / cn - 1.0).abs())
    };
    let ((under, held), (_, apart)) = (gap(world().behaviour.market_coupling), gap(0.0));
    assert!(under > 1.2, "the ban parts the markets: x{under:.2}");
    assert!(held < 0.05, "ROW and China Nd within 5% in 2027: {held:.3}");
    assert!(
        apart > held + 0.02,
        "without the pull the ban's gap stays: {apart:.3} against {held:.3}"
    );
}

#[test]
fn a_freely_traded_good_short_in_one_market_is_dear_in_both() {
    // EV demand 30% up everywhere from 2026, no control anywhere. Home bias serves China's
    // users first and leaves users elsewhere short, but nothing stops arbitrage: the
    // price is one world price, up in both markets. Before 2026-12-01 each market
    // answered to its own buyers alone, and China's magnets sat ~2.5x below the price
    // outside China for years (the analyst review's run).
    let m = world();
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2026-01-04"));
    for s in 0..m.sectors.len() {
        if m.sectors[s].id.starts_with("ev-") {
            sim.demand_mult[s] = 1.3;
        }
    }
    sim.run_until(d("2029-12-31"));
    let (row, cn) = (
        col(&sim, "price", "ROW/magnet:NdFeB"),
        col(&sim, "price", "CN/magnet:NdFeB"),
    );
    let top = |v: &[f64]| v.iter().fold(0.0, |a: f64, &b| a.max(b)) / v[0];
    assert!(
        top(&row) > 2.0,
        "the shortage lifts the price: x{:.2}",
        top(&row)
    );
    let widest = (row.iter().zip(&cn))
        .map(|(r, c)| (r / c).max(c / r))
        .fold(0.0, f64::max);
    assert!(
        widest < 1.05,
        "China's and the world's magnets within 5% all run: {widest:.3}"
    );
    let short = |x: &str| {
        let v = col(&sim, "shortfall", &format!("magnet:NdFeB/{x}"));
        v.iter().fold(0.0, |a: f64, &b| a.max(b))
    };
    assert!(
        short("CN") < 0.01 && short("IN") > 0.1,
        "home bias still decides who goes short: CN {:.3}, IN {:.3}",
        short("CN"),
        short("IN")
    );
}

#[test]
fn a_scrap_shortage_lifts_scrap_only_to_the_recyclers_break_even() {
    // China's magnet users all but vanish from 2025: swarf and returns dry up while its
    // recyclers' lines stand. Scrap rose to 8.6x its start, over the oxides recycling makes,
    // and recycling stopped (analyst review, 2026-12-01). It stops rising once no recycler
    // would earn it back, as concentrate does for separators.
    let m = world();
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2025-01-06"));
    for id in [
        "ev-cn",
        "wind-cn",
        "appliances-cn",
        "electronics-cn",
        "industrial-cn",
    ] {
        sim.demand_mult[m.sector_id(id).unwrap()] = 0.001;
    }
    sim.run_until(d("2027-12-31"));
    let p = col(&sim, "price", "CN/scrap");
    let (first, top) = (p[0], p.iter().cloned().fold(0.0, f64::max));
    let b = &m.behaviour;
    let break_even = (1.0 + b.curtail_band) / b.input_cost_share;
    assert!(
        top > 1.5 * first,
        "the shortage lifts scrap: {top:.2} from {first:.2}"
    );
    assert!(
        top < 1.5 * break_even * first,
        "scrap stops near the break-even ({break_even:.2}x), not at {:.2}x",
        top / first
    );
}

#[test]
fn tariffs_shift_trade_toward_untariffed_suppliers() {
    let m = world();
    let run = |rate: Option<f64>| {
        let mut sim = Sim::new(&m, 1);
        if let Some(r) = rate {
            let mut p = def("tariff", "CN");
            p.rate = Some(r);
            p.to = strs(&["US"]);
            add(&mut sim, p);
        }
        sim.run_until(d("2025-06-30"));
        let from_cn = mean_between(&sim, "trade", "CN>US", "2025-01-01", "2025-06-30");
        let others: f64 = m
            .countries
            .iter()
            .filter(|c| c.id != "CN" && c.id != "US")
            .map(|c| {
                mean_between(
                    &sim,
                    "trade",
                    &format!("{}>US", c.id),
                    "2025-01-01",
                    "2025-06-30",
                )
            })
            .sum();
        (from_cn, others)
    };
    let (cn_free, others_free) = run(None);
    let (cn_tariffed, others_tariffed) = run(Some(1.0));
    assert!(
        cn_tariffed < 0.9 * cn_free,
        "China's sales to the US fall: {cn_tariffed:.0} vs {cn_free:.0}"
    );
    assert!(
        others_tariffed > 1.05 * others_free,
        "other suppliers sell more to the US: {others_tariffed:.0} vs {others_free:.0}"
    );
}

#[test]
fn a_tariff_collects_its_duty_on_what_still_comes() {
    let m = world();
    // The importer's receipts over 2025 (policy_cost below 0) from a tariff laid on
    // January 1st.
    let run = |importer: &str, exporter: &str, rate: f64| {
        let mut sim = Sim::new(&m, 1);
        sim.run_until(d("2024-12-31"));
        if rate > 0.0 {
            let mut p = def("tariff", exporter);
            p.rate = Some(rate);
            p.to = strs(&[importer]);
            add(&mut sim, p);
        }
        sim.run_until(d("2025-12-31"));
        let cost = col(&sim, "policy_cost", importer);
        assert!(cost.windows(2).all(|w| w[1] <= w[0]), "receipts only grow");
        (-cost.last().unwrap(), sim)
    };
    let receipts = |exporter: &str, rate: f64| run("US", exporter, rate).0;
    assert_eq!(receipts("CN", 0.0), 0.0, "no tariff, nothing collected");
    // The duty is the rate on the value of what comes: at small rates, which barely move
    // trade, twice the rate collects twice as much.
    let (one, two) = (receipts("CN", 0.01), receipts("CN", 0.02));
    assert!(
        two > 1.9 * one && two <= 2.0 * one,
        "1%: ${one:.0}, 2%: ${two:.0}"
    );
    // The value of a year's US imports from China it implies: USGS puts compounds and metals
    // at ~$120M (71% of $168M, MCS2026); magnets come on top.
    let value = one / 0.01;
    assert!(
        (1.0e8..1.5e9).contains(&value),
        "US imports from China worth ${value:.0} a year"
    );
    // A tariff on a minor supplier collects far less.
    let japan = receipts("JP", 0.01);
    assert!(
        japan > 0.0 && japan < 0.2 * one,
        "on Japan ${japan:.0} vs ${one:.0}"
    );
    // Contracted tonnes are not moved by a tariff but pay its duty: Mount Weld's
    // concentrate, all of Australia's exports to Malaysia, goes to Kuantan under contract.
    let (paid, sim) = run("MY", "AU", 0.1);
    let tonnes = mean_between(&sim, "trade", "AU>MY", "2025-01-01", "2025-12-31");
    let price = mean_between(&sim, "price", "ROW/concentrate", "2025-01-01", "2025-12-31");
    let form = m.form_id("concentrate").unwrap();
    let value = tonnes * price * 1000.0 / m.forms[form].re_share;
    assert!(
        (paid / (0.1 * value) - 1.0).abs() < 0.05,
        "Malaysia collects ${paid:.0} on ${value:.0} of Australian concentrate"
    );
}

#[test]
fn the_same_seed_gives_identical_series_on_any_thread() {
    let m = world();
    let run = |m: Arc<Model>| {
        let mut s = Sim::new(&m, 42);
        s.run_until(d("2026-12-31"));
        s.series.to_csv(Resolution::Step)
    };
    let a = run(m.clone());
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || run(m))
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap() == a, "a thread's run differs");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]
    #[test]
    fn mass_balances_under_random_policies(ops in proptest::collection::vec((0u8..10, 0usize..17, 0.0f64..1.0, 0usize..150), 0..8)) {
        let m = world();
        let mut sim = Sim::new(&m, 3);
        let mut ops = ops;
        ops.sort_by_key(|o| o.3);
        let importers = ["US", "JP", "DE", "KR", "IN"];
        for (kind, elem, x, at) in ops {
            while sim.step < at { sim.step(); }
            let el = m.elements[elem].symbol.clone();
            let to = importers[elem % importers.len()];
            let mut p = match kind {
                0 => def("export_ban", "CN"),
                // (A review under half a step is refused as no delay: such a draw has none.)
                1 => { let mut p = def("export_licence", "CN"); p.approval = Some(x); p.delay_days = Some(if x * 120.0 < 4.0 { 0.0 } else { x * 120.0 }); p }
                2 => { let mut p = def("export_quota", "CN"); p.tonnes_per_year = Some(x * 50000.0); p }
                3 => { let mut p = def("tariff", "CN"); p.rate = Some(x); p.to = strs(&[to]); p }
                4 => { let mut p = def("entity_list", "CN"); p.to = strs(&["cn-ecl-2025-04"]); p }
                5 => { let mut p = def("content_rule", "CN"); p.approval = Some(x); p.delay_days = Some(45.0); p }
                6 => { let f = (elem * 7) % m.facilities.len(); sim.capacity_mult[f] = x; continue; }
                // Every policy lifted: markets reopen across whatever gap they opened.
                7 => { let date = sim.date(); sim.end_policies(date, |_| true); continue; }
                // A stockpile released, at its rate or as needed.
                9 => {
                    let sp = elem % m.stockpiles.len();
                    sim.stockpile_release[sp] = x * 5000.0;
                    sim.stockpile_as_needed[sp] = elem % 2 == 0;
                    continue;
                }
                // A share of a mine's output contracted to an importer, or to one firm's
                // plants at home (Mountain Pass to MP's).
                _ => {
                    let f = (elem * 5) % m.facilities.len();
                    let (country, firm) = if elem % 2 == 0 {
                        (m.country_id(to).unwrap(), None)
                    } else {
                        (m.country_id("US").unwrap(), Some(m.firm_id("mp-materials").unwrap()))
                    };
                    let taken: f64 = sim.contracts.iter().filter(|c| c.facility == f).map(|c| c.share).sum();
                    let share = x.min(1.0 - taken);
                    if share > 0.0 {
                        sim.contracts.push(chokepoint_core::sim::Contract { facility: f, country, share, firm, delivered: 0.0 });
                    }
                    continue;
                }
            };
            if kind != 4 && kind != 3 { p.elements = Some(vec![el]); }
            if kind == 0 { p.to = strs(&[to]); }
            add(&mut sim, p);
        }
        sim.run_until(d("2027-06-30"));
        prop_assert!(sim.mass_balance_error() < 1e-9, "balance {}", sim.mass_balance_error());
        prop_assert!(sim.series.values.iter().all(|v| v.is_finite()), "a NaN or infinity");
        prop_assert!(sim.stock.iter().all(|v| *v > -1e-6), "negative stock");
        if let Err(e) = trade_by_form_adds_up(&sim) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// Trade by form between each pair of countries sums to their trade in all forms, at every
/// step: every flow that crosses a border is on a route `trade_by_form` records.
fn trade_by_form_adds_up(sim: &Sim) -> Result<(), String> {
    let names = &sim.series.names;
    let mut parts: std::collections::HashMap<&str, Vec<usize>> = Default::default();
    for (i, (metric, key)) in names.iter().enumerate() {
        if metric == "trade_by_form" {
            let (pair, _) = key.split_once('/').expect("X>Y/form");
            parts.entry(pair).or_default().push(i);
        }
    }
    let w = names.len();
    for (i, (metric, key)) in names.iter().enumerate() {
        if metric != "trade" {
            continue;
        }
        let cols = parts.get(key.as_str()).map_or(&[][..], Vec::as_slice);
        for step in 0..sim.series.steps {
            let row = &sim.series.values[step * w..(step + 1) * w];
            let sum: f64 = cols.iter().map(|&c| row[c]).sum();
            if (sum - row[i]).abs() > 1e-9 * row[i].abs().max(1.0) {
                return Err(format!(
                    "trade[{key}] at step {step} is {} t/yr, its forms sum to {sum}",
                    row[i]
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn trade_by_form_splits_trade_between_two_countries() {
    let m = world();
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2025-12-31"));
    trade_by_form_adds_up(&sim).unwrap();
    // China ships the US magnets and metal, not ore: the forms of a pair differ by orders
    // of magnitude, which the all-forms total hides.
    let magnets = mean_between(
        &sim,
        "trade_by_form",
        "CN>US/magnet:NdFeB",
        "2025-01-01",
        "2025-12-31",
    );
    let total = mean_between(&sim, "trade", "CN>US", "2025-01-01", "2025-12-31");
    assert!(
        magnets > 0.3 * total && magnets < total,
        "magnets {magnets} of {total} t/yr"
    );
    // Mount Weld's concentrate goes to Kuantan.
    let ore = mean_between(
        &sim,
        "trade_by_form",
        "AU>MY/concentrate",
        "2025-01-01",
        "2025-12-31",
    );
    assert!(ore > 5000.0, "AU>MY concentrate {ore} t/yr");
    // Only routes some seller and buyer could use are recorded: the US has no ionic-clay
    // mine, so none of its clay concentrate goes to China; and they are a small part of
    // every pair in every form.
    assert!(sim
        .series
        .find("trade_by_form", "US>CN/clay-concentrate")
        .is_none());
    let (nx, nf) = (m.countries.len(), m.forms.len());
    let routes = sim.series.keys("trade_by_form").len();
    assert!(routes > 100 && routes < nx * nx * nf / 4, "{routes} routes");
}

#[test]
fn two_contracts_on_one_facility_share_it_whatever_their_order() {
    use chokepoint_core::sim::Contract;
    let m = world();
    let f = m.facility_id("mount-weld-mine").unwrap();
    let (my, cn) = (m.country_id("MY").unwrap(), m.country_id("CN").unwrap());
    let run = |order: [usize; 2]| {
        let mut sim = Sim::new(&m, 1);
        sim.contracts.retain(|c| c.facility != f);
        for k in order {
            let country = [my, cn][k];
            sim.contracts.push(Contract {
                facility: f,
                country,
                share: 0.5,
                firm: None,
                delivered: 0.0,
            });
        }
        sim.run_until(d("2024-03-01"));
        (
            mean_between(&sim, "trade", "AU>MY", "2024-01-01", "2024-03-01"),
            mean_between(&sim, "trade", "AU>CN", "2024-01-01", "2024-03-01"),
        )
    };
    let (a, b) = (run([0, 1]), run([1, 0]));
    assert!(a.0 > 0.0 && a.1 > 0.0, "{a:?}");
    for (x, y) in [(a.0, b.0), (a.1, b.1)] {
        assert!((x - y).abs() <= 1e-9 * x.max(y), "{a:?} vs {b:?}");
    }
}

#[test]
fn the_baseline_starts_as_a_working_chain_with_no_shortage_in_its_first_year() {
    // Separators and recyclers convert after the markets, so in a running chain what they
    // sell in a step is what they made in the last. Started with nothing made, China's Dy
    // and Tb oxide markets were empty in the first week; its Dy metal plant drew on its stock
    // and took a year to refill it ahead of the lowest-priority Dy/Tb users, who ran ~21%
    // short through 2024 in a baseline with no policy at all.
    let m = world();
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2024-12-31"));
    let hre = mean_between(
        &sim,
        "shortfall",
        "dy-tb-other-cn",
        "2024-01-01",
        "2024-12-31",
    );
    assert!(hre < 0.01, "Dy/Tb users short {hre} in the 2024 baseline");
    let first = col(&sim, "shortfall", "dy-tb-other-cn")[0];
    assert!(
        first < 0.2,
        "the first week's oxide market has supply: short {first}"
    );
}

#[test]
fn plants_held_back_by_a_partial_licence_run_at_its_share_and_do_not_wind_down() {
    // Under a 10% licence on Japan, Japan's magnet makers get a tenth of their Dy and Tb
    // metal. They make what that allows and keep planning on their buyers' orders; they used
    // to plan on what they sold (what their inputs allowed), so buy less, be licensed less
    // and run down toward nothing (~2% of normal a year on, and falling).
    let m = world();
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2026-01-04"));
    let mut p = def("export_licence", "CN");
    p.elements = strs(&["Sm", "Gd", "Tb", "Dy", "Lu", "Sc", "Y"]);
    p.to = strs(&["JP"]);
    p.approval = Some(0.1);
    p.delay_days = Some(63.0);
    add(&mut sim, p);
    sim.run_until(d("2027-12-31"));
    let before = mean_between(
        &sim,
        "output",
        "shin-etsu-japan",
        "2025-07-01",
        "2025-12-31",
    );
    let year_on = mean_between(
        &sim,
        "output",
        "shin-etsu-japan",
        "2027-01-01",
        "2027-06-30",
    );
    let later = mean_between(
        &sim,
        "output",
        "shin-etsu-japan",
        "2027-07-01",
        "2027-12-31",
    );
    assert!(
        year_on > 0.07 * before && year_on < 0.2 * before,
        "at about the licensed share a year on: {year_on} of {before}"
    );
    assert!(
        later > 0.95 * year_on,
        "and holds there: {later} after {year_on}"
    );
    assert!(sim.mass_balance_error() < 1e-9);
}

#[test]
fn magnet_makers_curtailed_on_their_margin_resume_rather_than_wind_down() {
    // A 50% licence on all of China's metals and oxides raises what magnet makers outside
    // China pay for their metals before their magnets' price follows, so they curtail on
    // margin; they used to plan on the little they then sold and ran down to nothing
    // (Shin-Etsu Japan ~0.00005 t/yr in 2028). They run in cycles of margin and stock (~9 t/yr
    // in 2027, ~18 in 2028, ~370 in 2029; since 2026-12-01 their magnets, traded freely, sell
    // at the world's price, which China's makers hold down: ~170 in 2028 and ~620 in 2029
    // before): judged over two years, at a tenth of their 2024 output or more.
    let m = world();
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2025-01-05"));
    let mut p = def("export_licence", "CN");
    p.forms = strs(&["metal", "oxide"]);
    p.approval = Some(0.5);
    p.delay_days = Some(63.0);
    add(&mut sim, p);
    sim.run_until(d("2029-12-31"));
    let before = mean_between(
        &sim,
        "output",
        "shin-etsu-japan",
        "2024-01-01",
        "2024-12-31",
    );
    let after = mean_between(
        &sim,
        "output",
        "shin-etsu-japan",
        "2028-01-01",
        "2029-12-31",
    );
    assert!(
        after > 0.1 * before && after < before,
        "Shin-Etsu Japan runs in 2028-29: {after} of {before}"
    );
    assert!(sim.mass_balance_error() < 1e-9);
}

/// Importers split their orders by what each exporter offers abroad, not by its whole
/// stock: a large plant's stock mostly covers its buyers at home. Plants that make only for
/// export (Neo's Korat, Less Common Metals) keep their market in a world with no shock,
/// instead of losing it to China's plants within a month; a new export plant (Lynas/JS
/// Link, 2028) wins a share once it has built its working stock.
#[test]
fn a_firms_own_feed_goes_to_its_plants_only() {
    // Mountain Pass is contracted to MP's own separators: when Energy Fuels' Phase 2 opens
    // in the US (2028), it buys what MP does not take, and MP's separation holds, even with
    // Phase 2's own feed from Donald cut off. With the same contract open to every US buyer,
    // the hungry Phase 2 shares it and MP's plants run short.
    let m = world();
    let donald = [
        m.facility_id("donald-phase1"),
        m.facility_id("donald-phase2"),
    ];
    let mp = |firm: bool| {
        let mut sim = Sim::new(&m, 1);
        sim.contracts.retain(|c| !donald.contains(&Ok(c.facility)));
        if !firm {
            for c in &mut sim.contracts {
                c.firm = None;
            }
        }
        sim.run_until(d("2030-12-31"));
        let y = |plant: &str, year: i32| {
            let (from, to) = (format!("{year}-01-01"), format!("{year}-12-31"));
            mean_between(&sim, "output", plant, &from, &to)
        };
        let both = |year| y("mp-separation", year) + y("mp-separation-ramp", year);
        (both(2028), both(2030), y("energy-fuels-phase2", 2030))
    };
    let (before, after, ef) = mp(true);
    assert!(
        after > 0.99 * before,
        "MP separates {before:.0} t/yr in 2028 and {after:.0} in 2030"
    );
    assert!(
        ef > 5_000.0,
        "Energy Fuels Phase 2 makes {ef:.0} t/yr in 2030"
    );
    let (_, open, _) = mp(false);
    assert!(
        open < 0.9 * after,
        "a contract to every US buyer leaves MP {open:.0} t/yr in 2030, against {after:.0}"
    );
}

#[test]
fn export_only_plants_hold_their_share_once_the_world_stops_changing() {
    // A large exporter's stock also covers its home buyers of lower priority (China's
    // magnet makers, served after the metal-using sectors): it is not offered abroad
    // first, so the sectors' import orders do not drain away from the export-only plants
    // year after year (Korat fell to ~190 t/yr by 2035 when it was).
    let m = world();
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2035-12-31"));
    for plant in ["neo-korat-metal", "lcm-metal", "vn-metal-ndpr"] {
        let y = |year: i32| {
            let (from, to) = (format!("{year}-01-01"), format!("{year}-12-31"));
            mean_between(&sim, "output", plant, &from, &to)
        };
        let (start, settled, end) = (y(2024), y(2032), y(2035));
        assert!(
            settled > 0.7 * start,
            "{plant}: {start:.0} t/yr in 2024, {settled:.0} in 2032"
        );
        assert!(
            (end - settled).abs() < 0.03 * settled,
            "{plant} drifts in a world that stops changing: {settled:.0} t/yr in 2032, {end:.0} in 2035"
        );
    }
}

#[test]
fn export_only_plants_keep_their_market_and_new_ones_win_a_share() {
    let m = world();
    let mut sim = Sim::new(&m, 1);
    sim.run_until(d("2030-12-31"));
    for (plant, usual) in [("neo-korat-metal", 1500.0), ("lcm-metal", 500.0)] {
        let made = mean_between(&sim, "output", plant, "2024-01-01", "2024-12-31");
        assert!(
            made > 0.9 * usual,
            "{plant} made {made:.0} t/yr in 2024, against a usual {usual}"
        );
    }
    let jsl = mean_between(
        &sim,
        "output",
        "lynas-jslink-kuantan",
        "2030-01-01",
        "2030-12-31",
    );
    assert!(jsl > 600.0, "Lynas/JS Link made {jsl:.0} t/yr in 2030");
    assert!(sim.mass_balance_error() < 1e-9);
    // A plant back from a full stop has sold before: it does not rebuild its stock like a
    // new one and come back with more of the market than it had.
    let korat = m.facility_id("neo-korat-metal").unwrap();
    let mut stopped = Sim::new(&m, 1);
    stopped.run_until(d("2025-03-02"));
    stopped.capacity_mult[korat] = 0.0;
    stopped.run_until(d("2025-06-01"));
    stopped.capacity_mult[korat] = 1.0;
    stopped.run_until(d("2027-12-31"));
    let after = mean_between(
        &stopped,
        "output",
        "neo-korat-metal",
        "2027-01-01",
        "2027-12-31",
    );
    let usual = mean_between(
        &sim,
        "output",
        "neo-korat-metal",
        "2027-01-01",
        "2027-12-31",
    );
    assert!(
        after < 1.05 * usual,
        "Korat after a three-month stop: {after:.0} t/yr in 2027, against {usual:.0} without"
    );
}

#[test]
fn a_deeper_outage_never_leaves_a_plant_with_more_of_its_market_than_a_lighter_one() {
    // Six months of an outage at Less Common Metals' plant from March 2025. While it made a
    // tenth, buyers (who split their orders by what exporters offer) ordered a tenth, and
    // its plan followed them: a 90% outage left it at ~73 t/yr in 2030, a total stop at
    // ~245 and none at ~415. It now plans on its sales before the outage once its capacity
    // is back.
    let m = world();
    let lcm = m.facility_id("lcm-metal").unwrap();
    let after = |cut: f64| {
        let mut sim = Sim::new(&m, 1);
        sim.run_until(d("2025-03-02"));
        sim.capacity_mult[lcm] = 1.0 - cut;
        sim.run_until(d("2025-09-01"));
        sim.capacity_mult[lcm] = 1.0;
        sim.run_until(d("2030-12-31"));
        assert!(sim.mass_balance_error() < 1e-9);
        mean_between(&sim, "output", "lcm-metal", "2030-01-01", "2030-12-31")
    };
    let mut last = after(0.0);
    for cut in [0.25, 0.5, 0.9, 1.0] {
        let made = after(cut);
        assert!(
            made <= last * 1.02,
            "after a {cut} outage LCM makes {made:.0} t/yr in 2030, against {last:.0} after a lighter one"
        );
        last = made;
    }
    let (ninety, stop) = (after(0.9), last);
    assert!(
        ninety >= stop * 0.98,
        "a 90% outage leaves LCM at {ninety:.0} t/yr, no less than a total stop's {stop:.0}"
    );
}

#[test]
fn magnet_prices_follow_their_inputs_and_idle_lines_meet_lasting_growth() {
    // A 30% cut at Bayan Obo from 2025 takes China's Nd oxide up; magnets there rest where
    // their inputs put them (`input_cost_share` of their cost moved as the inputs' prices).
    // Before 2026-11-30 they stayed at their start price whatever their inputs cost.
    let m = world();
    let cut = |mult: f64| {
        let mut sim = Sim::new(&m, 1);
        sim.run_until(d("2025-01-05"));
        let mine = m.facility_id("bayan-obo-mine").unwrap();
        sim.capacity_mult[mine] = mult;
        sim.run_until(d("2027-12-31"));
        let last = |key: &str| *col(&sim, "price", key).last().unwrap();
        (last("CN/oxide:Nd"), last("CN/magnet:NdFeB"))
    };
    let (nd0, mag0) = cut(1.0);
    let (nd, mag) = cut(0.7);
    assert!(
        nd > 1.5 * nd0,
        "the cut moves Nd oxide: {nd:.1} against {nd0:.1}"
    );
    // (2026-12-01: x1.09 at the end of 2027, Nd metal ~x1.6 behind the oxide's x1.78.)
    assert!(
        mag > 1.05 * mag0 && mag < nd / nd0 * mag0,
        "magnets pass on part of it: {mag:.1} against {mag0:.1} (Nd x{:.2})",
        nd / nd0
    );
    // Demand for magnets growing 3%/yr from 2025 outruns the capacity announced to 2030.
    // Held at their usual rate, makers let prices run (~4.7x outside China by 2030, one world
    // price since 2026-12-01; ~13x outside China alone before); with
    // `qualify_weeks` their idle lines come in as buyers qualify them.
    let grow = |qualify: f64| {
        let mut m = (*m).clone();
        m.behaviour.qualify_weeks = qualify;
        let mut sim = Sim::new(&Arc::new(m.clone()), 1);
        sim.run_until(d("2025-01-05"));
        for s in 0..m.sectors.len() {
            if m.forms[m.sectors[s].material].id == "magnet:NdFeB" {
                sim.set_growth(s, 0.03);
            }
        }
        sim.run_until(d("2030-12-31"));
        let v = col(&sim, "price", "ROW/magnet:NdFeB");
        let made = mean_between(&sim, "production", "magnet/CN", "2030-01-01", "2030-12-31");
        (v.iter().fold(0.0, |a: f64, &b| a.max(b)) / v[0], made)
    };
    let (held, held_made) = grow(0.0);
    let (qualified, qualified_made) = grow(52.0);
    assert!(held > 3.0, "held at their usual rate: x{held:.1}");
    assert!(
        qualified < 0.5 * held && qualified_made > 1.05 * held_made,
        "idle lines: x{qualified:.1} against x{held:.1}, China making {qualified_made:.0} against {held_made:.0} t/yr"
    );
}

#[test]
fn every_recorded_metric_has_a_unit() {
    let sim = Sim::new(&world(), 0);
    for metric in sim.series.metrics() {
        assert!(
            !chokepoint_core::series::unit(metric).is_empty(),
            "{metric} has no unit in series::unit"
        );
    }
}

#[test]
fn a_dated_policy_acts_from_the_step_containing_its_dates_as_a_script_would() {
    // A model's ban on China's magnets to the US from Saturday 1 June to Wednesday 1 January,
    // against the same ban put in force and ended by a script's `at` on those dates (each in
    // the step containing its date: the weeks of 27 May and 30 December). They are one run.
    let ban = || {
        let mut b = def("export_ban", "CN");
        b.forms = strs(&["magnet:NdFeB"]);
        b.to = strs(&["US"]);
        b
    };
    let mut dated = (*world()).clone();
    let mut p = ban();
    p.start = Some("2024-06-01".into());
    p.end = Some("2025-01-01".into());
    let p = chokepoint_core::policy::resolve(&dated, &p, dated.start).expect("resolves");
    dated.policies.push(p);
    let mut from_data = Sim::new(&Arc::new(dated), 1);
    from_data.run_until(d("2025-03-01"));
    let mut scripted = Sim::new(&world(), 1);
    scripted.run_until(d("2024-05-26"));
    add(&mut scripted, ban());
    scripted.run_until(d("2024-12-29"));
    let n = scripted.end_policies(scripted.date(), |_| true);
    assert_eq!(n, 1);
    scripted.run_until(d("2025-03-01"));
    for c in 0..from_data.series.names.len() {
        assert_eq!(
            from_data.series.column(c),
            scripted.series.column(c),
            "{:?}: the model's dated ban and the scripted one differ",
            from_data.series.names[c]
        );
    }
    // The ban bites in the week of 27 May and is gone in the week of 30 December.
    let cn_us = |date| at(&from_data, "trade", "CN>US", date);
    assert!(cn_us("2024-05-27") < 0.9 * cn_us("2024-05-20"));
    assert!(cn_us("2024-12-30") > 1.1 * cn_us("2024-12-23"));
}

//! Rounding does not steer a run: arithmetic residues far below any real flow (what a
//! different order of summation leaves) must not change what the engine decides. The 2010
//! quota crisis is the test case: its markets swing through shortage and glut, where a
//! share of two residues (unsold over made, say) once read anything from 0 to 1 and moved
//! a price by 3% in a week.

mod common;

use std::path::Path;
use std::sync::Arc;

use chokepoint_core::{load, Date, Model, Sim};
use common::{add, def, strs};

fn world_2010() -> Arc<Model> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/world-2010.yaml");
    Arc::new(load(&p).unwrap_or_else(|e| panic!("world-2010 loads: {e}")))
}

/// China's export quota at the 2010-11 levels (the backtest's timeline, simplified), and
/// every starting holding scaled by `1 + nudge`.
fn crisis(m: &Arc<Model>, nudge: f64) -> Sim {
    let mut sim = Sim::new(m, 1);
    for x in sim.stock.iter_mut() {
        *x *= 1.0 + nudge;
    }
    for (date, tonnes) in [("2010-07-05", 15952.0), ("2011-01-03", 30184.0)] {
        sim.run_until(Date::parse(date).unwrap());
        let mut q = def("export_quota", "CN");
        q.forms = strs(&["oxide", "metal", "concentrate"]);
        q.tonnes_per_year = Some(tonnes);
        q.label = Some("quota".into());
        sim.end_policies(sim.date(), |p| p.label == "quota");
        add(&mut sim, q);
    }
    sim.run_until(Date::parse("2013-12-31").unwrap());
    sim
}

#[test]
fn a_residue_of_rounding_moves_no_price() {
    let m = world_2010();
    let a = crisis(&m, 0.0);
    let b = crisis(&m, 1e-14);
    let mut worst = (0.0, String::new());
    for (c, (metric, key)) in a.series.names.iter().enumerate() {
        if metric != "price" {
            continue;
        }
        for (x, y) in a.series.column(c).iter().zip(b.series.column(c)) {
            let rel = (x - y).abs() / x.abs().max(1e-9);
            if rel > worst.0 {
                worst = (rel, key.clone());
            }
        }
    }
    assert!(
        worst.0 < 1e-6,
        "a 1e-14 relative nudge to the starting stocks moved price {} by {:.2e} relative",
        worst.1,
        worst.0
    );
}

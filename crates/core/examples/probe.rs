//! Times runs of a model and checks its mass balance:
//! `cargo run --release -p chokepoint-core --example probe -- MODEL [RUNS]`.
use std::sync::Arc;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or("models/world-2024.yaml".into());
    let runs: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let model = match chokepoint_core::load(std::path::Path::new(&path)) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2)
        }
    };
    let mut sim = chokepoint_core::Sim::new(&model, 0);
    println!("{}", sim.shape());
    for _ in 0..40 {
        sim.step();
        let err = sim.mass_balance_error();
        if err > 1e-9 {
            println!("step {} ({}): balance error {err:e}", sim.step, sim.date());
            let now = sim.totals_by_form_element();
            let l = &sim.ledger;
            let ne = model.elements.len();
            for i in 0..now.len() {
                let d = now[i] - (l.initial[i] + l.inflow[i] - l.outflow[i]);
                if d.abs() > 1e-6 {
                    println!(
                        "  {} {}: {d:.3} (initial {:.1} in {:.1} out {:.1})",
                        model.forms[i / ne].id,
                        model.elements[i % ne].symbol,
                        l.initial[i],
                        l.inflow[i],
                        l.outflow[i]
                    );
                }
            }
            break;
        }
    }
    let mut times = Vec::new();
    for i in 0..runs {
        let t = std::time::Instant::now();
        let mut sim = chokepoint_core::Sim::new(&model, i as u64);
        sim.run_until(model.start.add_days(3652));
        times.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(&sim);
    }
    times.sort_by(f64::total_cmp);
    println!("median {:.2} ms over {runs} runs", times[runs / 2]);
}

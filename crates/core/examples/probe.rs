use std::sync::Arc;
fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or("crates/core/tests/fixtures/mini.yaml".into());
    let model = match chokepoint_core::load(std::path::Path::new(&path)) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2)
        }
    };
    let mut sim = chokepoint_core::Sim::new(&model, 1);
    let t = std::time::Instant::now();
    sim.run_to_end();
    eprintln!(
        "run {:?} steps {} balance {:e}",
        t.elapsed(),
        sim.step,
        sim.mass_balance_error()
    );
    let keys: Vec<String> = std::env::args().skip(2).collect();
    for k in keys {
        let (m, key) = k.split_once('=').unwrap();
        let col = sim.series.find(m, key).expect("series");
        let v = sim.series.column(col);
        let pick: Vec<String> = v.iter().step_by(13).map(|x| format!("{x:.3}")).collect();
        println!("{k}: {}", pick.join(" "));
    }
}

//! Every scenario in scripts/ is its own test: it must run on its model and meet every
//! expectation it states.

use std::path::Path;
use std::sync::Arc;

use chokepoint_script::{RunOptions, Scenario};

fn scenario(path: &Path) -> datatest_stable::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scripts = root.join("scripts");
    let sc = Scenario::load(path, &scripts).map_err(|e| e.to_string())?;
    let model_path = match sc.model_hint() {
        Some(h) if h.ends_with(".yaml") => root.join(h),
        Some(h) => root.join(format!("models/{h}.yaml")),
        None => root.join("models/world-2024.yaml"),
    };
    let model = Arc::new(chokepoint_core::load(&model_path).map_err(|e| e.to_string())?);
    let out = sc
        .run(
            &model,
            &RunOptions {
                seed: model.seed,
                ..RunOptions::default()
            },
        )
        .map_err(|e| e.to_string())?;
    if out.expectations.len() < 2 {
        return Err(format!(
            "{}: a scenario states at least two expectations",
            path.display()
        )
        .into());
    }
    let failed: Vec<String> = out
        .expectations
        .iter()
        .filter(|e| !e.passed)
        .map(|e| format!("line {}: {} {}", e.line, e.message, e.detail))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n").into())
    }
}

datatest_stable::harness! {
    { test = scenario, root = "../../scripts", pattern = r"^[^/]*\.rhai$" },
}

//! The lever reference cannot lie: every documented function's examples run on world-2024
//! and meet their expectations, every lever is documented with an example, and the
//! signature list is snapshotted so any API change shows up in review.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chokepoint_script::reference::reference;
use chokepoint_script::{RunOptions, Scenario};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_lever_has_a_doc_comment_with_an_example() {
    let docs = reference();
    assert!(docs.len() >= 60, "{} documented functions", docs.len());
    for d in docs.iter().filter(|d| d.name != "to_string") {
        assert!(
            !d.examples().is_empty(),
            "{} has no ```rhai example",
            d.signature
        );
    }
}

#[test]
fn every_doc_example_runs_on_world_2024() {
    let model = Arc::new(chokepoint_core::load(&root().join("models/world-2024.yaml")).unwrap());
    let mut ran = 0;
    let mut failures = Vec::new();
    for d in reference() {
        for (k, ex) in d.examples().iter().enumerate() {
            let name = format!("example {k} of {}", d.name);
            let result =
                Scenario::compile(Path::new(&name), ex, &root().join("scripts")).and_then(|sc| {
                    sc.run(
                        &model,
                        &RunOptions {
                            finish: false,
                            ..RunOptions::default()
                        },
                    )
                });
            match result {
                Err(e) => failures.push(e.to_string()),
                Ok(out) => failures.extend(
                    out.expectations
                        .iter()
                        .filter(|e| !e.passed)
                        .map(|e| format!("{name}: {} {}", e.message, e.detail)),
                ),
            }
            ran += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(ran >= 60, "ran {ran} examples");
}

#[test]
fn the_signature_list_is_reviewed() {
    let list: Vec<String> = reference().into_iter().map(|d| d.signature).collect();
    insta::assert_snapshot!("lever_signatures", list.join("\n"));
}

#[test]
fn the_metric_entry_lists_every_metric_a_run_records() {
    let model = Arc::new(chokepoint_core::load(&root().join("models/world-2024.yaml")).unwrap());
    let sim = chokepoint_core::Sim::new(&model, 1);
    let doc = reference()
        .into_iter()
        .find(|d| d.name == "metric")
        .expect("metric is documented");
    let text = doc.text.split_whitespace().collect::<Vec<_>>().join(" ");
    for m in sim.series.metrics() {
        assert!(
            text.contains(&format!(" {m},")) || text.contains(&format!(" {m} (")),
            "metric() does not list '{m}':\n{}",
            doc.text
        );
    }
}

#[test]
fn the_script_limits_scripts_readme_states_are_the_engines() {
    use chokepoint_script::engine::limits;
    let readme = std::fs::read_to_string(root().join("scripts/README.md")).unwrap();
    let text = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    for (figure, what) in [
        (
            format!("{} million operations", limits::MAX_OPERATIONS / 1_000_000),
            "MAX_OPERATIONS",
        ),
        (
            format!("nest at most {} deep", limits::MAX_CALL_LEVELS),
            "MAX_CALL_LEVELS",
        ),
        (
            format!("at most {} MB", limits::MAX_STRING_SIZE >> 20),
            "MAX_STRING_SIZE",
        ),
        (
            format!("an array {},000 items", limits::MAX_ARRAY_SIZE / 1000),
            "MAX_ARRAY_SIZE",
        ),
        (
            format!("a map {},000 entries", limits::MAX_MAP_SIZE / 1000),
            "MAX_MAP_SIZE",
        ),
        (
            format!("at most {},000 conditions", limits::MAX_WATCHERS / 1000),
            "MAX_WATCHERS",
        ),
        (
            format!("at most {},000 actions", limits::MAX_SCHEDULED / 1000),
            "MAX_SCHEDULED",
        ),
        (
            format!("most {} MB", limits::MAX_SCRIPT_BYTES >> 20),
            "MAX_SCRIPT_BYTES",
        ),
    ] {
        assert!(
            text.contains(&figure),
            "scripts/README.md should say \"{figure}\" ({what})"
        );
    }
    // The way round a slow array the README gives works, and within the limits.
    let sc = Scenario::compile(
        Path::new("pad.rhai"),
        "let a = []; a.pad(100000, 0.0); expect(a.len() == 100000, \"padded\");",
        &root().join("scripts"),
    )
    .unwrap();
    let model = Arc::new(chokepoint_core::load(&root().join("models/world-2024.yaml")).unwrap());
    let out = sc
        .run(
            &model,
            &RunOptions {
                finish: false,
                ..RunOptions::default()
            },
        )
        .unwrap();
    assert!(out.expectations.iter().all(|e| e.passed));
}

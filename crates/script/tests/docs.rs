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

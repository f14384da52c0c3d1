//! Helpers shared by the engine tests: policies written as data, series by name.

#![allow(dead_code)]

use chokepoint_core::model_file::PolicyDef;
use chokepoint_core::{policy, Sim};

/// A policy definition with only its kind and exporter set.
pub fn def(kind: &str, exporter: &str) -> PolicyDef {
    PolicyDef {
        kind: kind.into(),
        exporter: Some(exporter.into()),
        importer: None,
        elements: None,
        forms: None,
        to: None,
        exempt: None,
        approval: None,
        delay_days: None,
        tonnes_per_year: None,
        rate: None,
        threshold: None,
        start: None,
        end: None,
        label: None,
        source: Default::default(),
        assumption: None,
        calibrated: None,
    }
}

pub fn strs(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| s.to_string()).collect())
}

/// Resolves a definition against the run's model and puts it in force from now.
pub fn add(sim: &mut Sim, d: PolicyDef) {
    let p = policy::resolve(&sim.model, &d, sim.date()).expect("policy resolves");
    sim.add_policy(p);
}

/// A recorded series by metric and key.
pub fn col(sim: &Sim, metric: &str, key: &str) -> Vec<f64> {
    let c = sim
        .series
        .find(metric, key)
        .unwrap_or_else(|| panic!("{metric}[{key}]"));
    sim.series.column(c)
}

//! Every command in the README runs, as written (with the built binary for `cargo run`).

use std::path::Path;
use std::process::Command;

#[test]
fn every_readme_command_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let out_dir = std::env::temp_dir().join(format!("chokepoint-readme-{}", std::process::id()));
    let mut ran = 0;
    let mut in_sh = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        if line.trim() == "cargo test --workspace" {
            continue; // the command running this test
        }
        let rest = line
            .strip_prefix("cargo run --release -p chokepoint -- ")
            .unwrap_or_else(|| {
                panic!("a README command this test does not know how to run: {line}")
            });
        let args: Vec<String> = rest
            .split_whitespace()
            .map(|a| a.replace("out/", &format!("{}/", out_dir.display())))
            .collect();
        let o = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
            .args(&args)
            .current_dir(&root)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{line}\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 6, "ran {ran} README commands");
    for f in [
        "licensing/series.csv",
        "licensing/summary.json",
        "licensing/report.html",
        "sweep/bands.csv",
    ] {
        assert!(out_dir.join(f).exists(), "{f} written");
    }
    // The tour's printed summary is what the scenario prints.
    let o = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args(["run", "scripts/2025-04-china-licensing.rhai"])
        .current_dir(&root)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&o.stdout);
    let tour: Vec<&str> = readme
        .split("```text\n")
        .nth(1)
        .and_then(|t| t.split("```").next())
        .unwrap()
        .lines()
        .collect();
    // Every line shown is printed, in the order shown (`…` marks lines left out).
    let mut rest = printed.as_ref();
    for l in tour.into_iter().filter(|l| l.trim() != "…") {
        let at = rest.find(l).unwrap_or_else(|| {
            panic!("the README's tour shows a line the run no longer prints (or not here): {l}")
        });
        rest = &rest[at + l.len()..];
    }
    // So is the caveat the prose quotes from it (`… for N weeks, at its lowest X×`: it had
    // drifted from the run's).
    let quoted = readme
        .split("(under the April\n2025 licences, `")
        .nth(1)
        .and_then(|t| t.split('`').next())
        .expect("the README quotes the licensing run's metal caveat");
    for part in quoted.split(" … ") {
        assert!(
            printed.contains(part),
            "the README quotes a caveat the run no longer prints: {part}"
        );
    }
    std::fs::remove_dir_all(&out_dir).ok();
}

//! Hostile scripts end with a clear error, quickly, without a panic or unbounded memory.
//! Each file in tests/adversarial states the error it must end with (`// expect: a|b`, either;
//! `a & b`, both).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chokepoint_script::{RunOptions, Scenario};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_adversarial_script_fails_clearly_within_two_seconds() {
    let model = Arc::new(chokepoint_core::load(&root().join("models/world-2024.yaml")).unwrap());
    let dir = root().join("tests/adversarial");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
        .collect();
    files.sort();
    assert!(files.len() >= 15);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let wanted = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// expect: "))
            .unwrap_or_else(|| panic!("{} states what it expects", f.display()));
        let t = Instant::now();
        let result = Scenario::load(&f, &dir).and_then(|sc| {
            sc.run(
                &model,
                &RunOptions {
                    time_limit: Duration::from_millis(1500),
                    finish: false,
                    ..RunOptions::default()
                },
            )
            .map(|_| ())
        });
        let took = t.elapsed();
        let err = match result {
            Ok(()) => panic!("{} should fail", f.display()),
            Err(e) => e.to_string(),
        };
        assert!(
            // `a|b`: either; `a & b`: both.
            wanted
                .split('|')
                .any(|alt| alt.split(" & ").all(|w| err.contains(w))),
            "{}: wanted one of [{wanted}], got:\n{err}",
            f.display()
        );
        assert!(
            err.contains("-->"),
            "{}: the error names its place:\n{err}",
            f.display()
        );
        assert!(
            took < Duration::from_secs(2),
            "{} took {took:?}",
            f.display()
        );
    }
}

#[test]
fn a_script_past_rhais_line_and_column_range_is_refused_not_misplaced() {
    // Rhai's positions are 16-bit: an error on line 70,001 was reported on line 65,535.
    let dir = std::env::temp_dir();
    let long = format!("{}let y = ;\n", "\n".repeat(70_000));
    let e = Scenario::compile(Path::new("long.rhai"), &long, &dir)
        .err()
        .unwrap();
    assert!(
        e.message
            .contains("70001 lines: a script may have at most 65535"),
        "{}",
        e.message
    );
    let wide = format!("let x = \"{}\";\n", "a".repeat(70_000));
    let e = Scenario::compile(Path::new("wide.rhai"), &wide, &dir)
        .err()
        .unwrap();
    assert!(
        e.message.contains("line 1 has 70011 characters"),
        "{}",
        e.message
    );
    assert_eq!(e.line, Some(1));
}

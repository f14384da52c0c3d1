//! CLI tests: every subcommand through the real binary, with good and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn chokepoint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn malformed_models_exit_2_naming_the_place() {
    let dir = root().join("tests/malformed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "the corpus has {} cases", files.len());
    let mut report = String::new();
    for f in &files {
        let rel = f
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let out = chokepoint(&["check", &rel]);
        let msg = text(&out);
        assert_eq!(out.status.code(), Some(2), "{rel}: {msg}");
        assert!(!msg.contains("panicked"), "{rel} panicked: {msg}");
        assert!(
            msg.contains(&rel) || msg.contains("21-include-cycle"),
            "{rel}: the message names the file: {msg}"
        );
        report.push_str(&format!("== {rel}\n{msg}"));
    }
    insta::assert_snapshot!("malformed_models", report);
}

#[test]
fn a_50_mb_model_is_refused_quickly() {
    let dir = std::env::temp_dir().join(format!("chokepoint-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.yaml");
    let line = "# padding padding padding padding padding padding padding padding\n";
    let body = line.repeat(50 * 1024 * 1024 / line.len() + 1);
    std::fs::write(&big, body).unwrap();
    let t = std::time::Instant::now();
    let out = chokepoint(&["check", big.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("limited to 16 MB"), "{}", text(&out));
    assert!(t.elapsed().as_secs() < 10);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn check_passes_the_fixture_and_prints_shares() {
    let out = chokepoint(&["check", "crates/core/tests/fixtures/mini.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("valid"));
    assert!(t.contains("mine") && t.contains("CN 84.6%"), "{t}");
}

#[test]
fn check_reports_a_missing_file() {
    let out = chokepoint(&["check", "models/nope.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("cannot read the file"));
}

#[test]
fn bad_arguments_exit_2_with_help() {
    let out = chokepoint(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = chokepoint(&["run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("SCRIPT"));
    let out = chokepoint(&["docs", "--format", "pdf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("unknown format 'pdf'"));
}

#[test]
fn help_on_every_command_has_an_example() {
    for cmd in ["run", "test", "check", "docs"] {
        let out = chokepoint(&[cmd, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out).contains("Example: chokepoint"), "{cmd}");
    }
}

#[test]
fn both_world_models_pass_check_with_their_sourced_shares() {
    let out = chokepoint(&["check", "models/world-2024.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    // China ≈71% of mine output, ≈91% of separation, ≈94% of sintered magnets (±2 points).
    for (stage, lo, hi) in [
        ("mine ", 69.0, 73.0),
        ("separation", 89.0, 93.0),
        ("magnet ", 92.0, 96.0),
    ] {
        let line = t
            .lines()
            .find(|l| l.trim_start().starts_with(stage))
            .expect(stage);
        let cn: f64 = line
            .split("CN ")
            .nth(1)
            .unwrap()
            .split('%')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((lo..=hi).contains(&cn), "{stage}: CN {cn}%");
    }
    let out = chokepoint(&["check", "models/world-2010.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn the_repl_in_a_pseudo_terminal_completes_survives_errors_and_saves_a_replayable_script() {
    let dir = std::env::temp_dir().join(format!("chokepoint-repl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let save = dir.join("session.rhai");
    let out = Command::new("python3")
        .arg(root().join("tests/repl_pty.py"))
        .arg(env!("CARGO_BIN_EXE_chokepoint"))
        .arg(root())
        .arg(&save)
        .output()
        .expect("python3 runs the pty driver");
    assert!(out.status.success(), "{}", text(&out));
    let value = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let replay = chokepoint(&["run", save.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));
    assert!(
        text(&replay).contains(&format!("value: {value}")),
        "the replay prints the session's value {value}:\n{}",
        text(&replay)
    );
    std::fs::remove_dir_all(&dir).ok();
}

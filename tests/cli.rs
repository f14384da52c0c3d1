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

/// A command that must succeed (exit 0): what it printed, stdout then stderr.
fn ran(args: &[&str]) -> String {
    let o = chokepoint(args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
    text(&o)
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
    let dir = temp("big");
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
fn a_device_is_refused_unread() {
    // /dev/zero never ends, and a terminal (/dev/tty, /dev/stdin) waits for input: neither
    // is read, as a model, an include or a script.
    if !Path::new("/dev/zero").exists() {
        return;
    }
    let dir = temp("device-include");
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("m.yaml");
    std::fs::write(&model, "include: [/dev/zero]\n").unwrap();
    let model = model.to_str().unwrap();
    for args in [
        &["check", "/dev/zero"][..],
        &["run", "/dev/zero"][..],
        &["check", "/dev/null"][..],
        &["check", model][..],
    ] {
        let t = std::time::Instant::now();
        let out = chokepoint(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("it is a device, not a file"),
            "{args:?}: {}",
            text(&out)
        );
        assert!(t.elapsed().as_secs() < 10);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_out_directory_that_cannot_take_the_results_is_refused_before_the_run() {
    let dir = temp("out-blocked");
    std::fs::create_dir_all(dir.join("report.html")).unwrap();
    let out = chokepoint(&[
        "run",
        "scripts/baseline-2024.rhai",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("report.html is a directory"),
        "{}",
        text(&out)
    );
    assert!(!dir.join("series.csv").exists(), "nothing half-written");
    // A run that fails leaves no output directory it created behind.
    let fresh = dir.join("fresh").join("deeper");
    for script in [
        "scripts/no-such.rhai",
        "tests/adversarial/13-endless-trigger.rhai",
    ] {
        let out = chokepoint(&["run", script, "--out", fresh.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            !dir.join("fresh").exists(),
            "{script} left its --out behind"
        );
    }
    let file = dir.join("plain-file");
    std::fs::write(&file, "x").unwrap();
    for cmd in [
        vec!["run", "scripts/baseline-2024.rhai", "--out"],
        vec![
            "compare",
            "scripts/baseline-2024.rhai",
            "scripts/baseline-2024.rhai",
            "--out",
        ],
    ] {
        let out = chokepoint(&[&cmd[..], &[file.to_str().unwrap()]].concat());
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {}", text(&out));
        assert!(
            text(&out).contains("exists and is not a directory"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn what_a_failing_script_printed_is_still_shown() {
    let dir = temp("printed");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("fails.rhai");
    std::fs::write(
        &script,
        "print(\"checked the queue\");\nstep(1);\nexport_ban(\"XX\", #{});\n",
    )
    .unwrap();
    let out = chokepoint(&["run", script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("checked the queue"), "{stdout}");
    assert!(
        text(&out).contains("unknown country 'XX'"),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_time_limit_too_large_to_represent_is_bad_input() {
    for limit in ["1e20", "1e19", "0", "-1", "nan", "inf"] {
        let arg = format!("--time-limit={limit}");
        let out = chokepoint(&["run", "scripts/baseline-2024.rhai", &arg]);
        assert_eq!(out.status.code(), Some(2), "{limit}: {}", text(&out));
        assert!(
            text(&out).contains("--time-limit"),
            "{limit}: {}",
            text(&out)
        );
        assert!(!text(&out).contains("panicked"), "{limit}: {}", text(&out));
    }
    // A negative number written apart from its flag is the flag's value, not a flag
    // (clap read `-5` as an unknown argument until 2026-11-30).
    let base = "scripts/baseline-2024.rhai";
    for args in [
        vec!["run", base, "--time-limit", "-5"],
        vec!["sweep", base, "--runs", "2", "--time-limit", "-5"],
        vec!["compare", base, base, "--time-limit", "-5"],
        vec!["compare", base, base, "--top", "-1"],
        vec!["sweep", base, "--runs", "-5"],
        vec!["sweep", base, "--grid", "-2"],
        vec!["sweep", base, "--runs", "2", "--threads", "-1"],
        vec!["sweep", base, "--runs", "2", "--shard", "-1/3"],
        vec!["bench", "--runs", "-1"],
        vec!["bench", "--runs", "1", "--time-limit", "-5"],
        vec!["repl", "--time-limit", "-5"],
    ] {
        let out = chokepoint(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            !text(&out).contains("unexpected argument"),
            "{args:?}: {}",
            text(&out)
        );
        let said = text(&out);
        assert!(
            said.contains("--time-limit must be a positive number")
                || said.contains("'-1' is not a whole number of at least 1")
                || said.contains("is not a count (a whole number)")
                || said.contains("--shard -1/3: K is not a whole number from 0 to N-1"),
            "{args:?}: {said}"
        );
    }
}

#[test]
fn check_passes_the_fixture_and_prints_shares() {
    let out = chokepoint(&["check", "crates/core/tests/fixtures/mini.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("valid"));
    assert!(t.contains("mine") && t.contains("CN 84.6%"), "{t}");
    // Past the five largest, the rest are one share, so each row reads to 100% (world-2024
    // mines in 13 countries).
    let out = chokepoint(&["check", "models/world-2024.yaml"]);
    let t = text(&out);
    let mine = (t.lines())
        .find(|l| l.trim_start().starts_with("mine "))
        .unwrap_or_else(|| panic!("{t}"));
    assert!(mine.contains(", 8 others 2.5%"), "{mine}");
    let total: f64 = (mine.split(", "))
        .filter_map(|p| p.rsplit(' ').next()?.strip_suffix('%')?.parse::<f64>().ok())
        .sum();
    assert!((total - 100.0).abs() < 0.3, "{total}: {mine}");
}

#[test]
fn check_points_a_model_named_as_scripts_name_it_at_its_file() {
    // A script's `// model: world-2024`, and the folder of the model's parts, are not the
    // file: said, with the file that is.
    for (given, said) in [
        ("world-2024", "world-2024: cannot read the file"),
        (
            "models/world-2024",
            "models/world-2024: is a directory, not a model file",
        ),
    ] {
        let o = chokepoint(&["check", given]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains(said)
                && text(&o).contains("(did you mean 'models/world-2024.yaml'?)"),
            "{}",
            text(&o)
        );
    }
    // Nothing near: no guess.
    let o = chokepoint(&["check", "models/nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!text(&o).contains("did you mean"), "{}", text(&o));
}

#[test]
fn check_lists_the_ids_scripts_use() {
    let out = chokepoint(&["check", "models/world-2024.yaml", "--ids"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    for line in [
        "stockpiles: us-nds-ndpr-oxide us-nds-ndfeb",
        "groups: cn-ecl-2025-01",
        "commodities: concentrate clay-concentrate oxide:Sc",
        // The few ids queries take by kind (a stage, a form, a market).
        "\nstages: mine separation metal magnet recycling\n",
        "\nmarkets: CN ROW\n",
        "\nforms: concentrate clay-concentrate oxide metal magnet:NdFeB magnet:SmCo scrap\n",
        "\nelements: Sc Y La",
        // A parent counts its subsidiaries' shares, saying so (one share, not two).
        "rtx (defence-us 20% through subsidiaries, defence-us-smco 20% through subsidiaries)",
        "raytheon-missiles-defense (defence-us 20%, defence-us-smco 20%)",
        // Contracts, with the firm a firm's own feed goes to.
        "mount-weld-mine         100% to MY",
        "mountain-pass-mine       80% to US, to the plants of mp-materials only",
    ] {
        assert!(t.contains(line), "{line}: {t}");
    }
    // The April 2025 lists' firms buy nothing in the model.
    assert!(!t.contains("skydio ("), "{t}");
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
    for cmd in [
        "run", "test", "check", "docs", "repl", "sweep", "merge", "compare", "bench",
    ] {
        let out = chokepoint(&[cmd, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out).contains("Example: chokepoint"), "{cmd}");
    }
}

#[test]
fn every_help_example_runs_as_written() {
    // `test --help`'s example set a name no scenario reads, and failed (review, 2026-12-01).
    // Each runs in a copy of the project, with fewer runs where it asks for many; a merge
    // gets the shards it names first.
    let dir = temp("help-examples");
    for d in ["models", "scripts", "tests/bench"] {
        copy_dir(&root().join(d), &dir.join(d));
    }
    let mut ran = 0;
    for cmd in [
        "run", "test", "check", "docs", "repl", "sweep", "merge", "compare", "bench",
    ] {
        let help = text(&chokepoint(&[cmd, "--help"]));
        for line in help.lines() {
            let Some(example) = line.trim().strip_prefix("Example: chokepoint ") else {
                continue;
            };
            let mut args: Vec<String> = example.split_whitespace().map(String::from).collect();
            for (k, many) in [("--runs", "1000"), ("--runs", "50")] {
                if let Some(i) = args.windows(2).position(|w| w[0] == k && w[1] == many) {
                    args[i + 1] = "4".into();
                }
            }
            if cmd == "merge" {
                for k in 0..2 {
                    let out = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
                        .args([
                            "sweep",
                            "scripts/2025-04-china-licensing.rhai",
                            "--runs",
                            "4",
                        ])
                        .args(["--set", "approval=0.1..0.9", "--shard", &format!("{k}/2")])
                        .args(["--out", &format!("out/shard-{k}")])
                        .current_dir(&*dir)
                        .output()
                        .unwrap();
                    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
                }
            }
            let out = if cmd == "repl" {
                let a: Vec<&str> = args[1..].iter().map(String::as_str).collect();
                repl_in(&dir, &dir, &a, b":quit\n")
            } else {
                Command::new(env!("CARGO_BIN_EXE_chokepoint"))
                    .args(&args)
                    .current_dir(&*dir)
                    .output()
                    .unwrap()
            };
            // (A comparison under another parameter says which of the script's claims
            // then fail: exit 1, as `run` would.)
            let ok: &[i32] = if cmd == "compare" { &[0, 1] } else { &[0] };
            let code = out.status.code().unwrap_or(-1);
            assert!(ok.contains(&code), "{example}: exit {code}\n{}", text(&out));
            ran += 1;
        }
    }
    assert_eq!(ran, 11, "every example was found");
}

#[test]
fn compare_prints_four_caveats_a_run_and_counts_the_rest_as_run_does() {
    // It printed all seventeen of the 2010 replay's (review, 2026-12-01).
    let out = chokepoint(&[
        "compare",
        "scripts/2010-quota-crisis.rhai",
        "scripts/baseline-2024.rhai",
    ]);
    let t = text(&out);
    assert_eq!(t.matches("caveat A: ").count(), 5, "{t}");
    assert!(
        t.contains(" more caveats (all in the report --out writes)"),
        "{t}"
    );
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
    let dir = temp("repl");
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

#[test]
fn repl_sessions_at_once_or_killed_keep_their_history() {
    let home = temp("repl-history");
    let out = Command::new("python3")
        .arg(root().join("tests/repl_history_pty.py"))
        .arg(env!("CARGO_BIN_EXE_chokepoint"))
        .arg(root())
        .arg(&home)
        .output()
        .expect("python3 runs the pty driver");
    assert!(out.status.success(), "{}", text(&out));
    std::fs::remove_dir_all(&home).ok();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

/// A test's scratch directory, removed when the test ends, passed or failed (a test that
/// removed its own at its end left it behind whenever an assertion failed first).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn temp(name: &str) -> Scratch {
    // Tests run in parallel in one process: two of one name would empty each other's.
    static TAKEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        !taken.iter().any(|t| t == name),
        "two tests share the scratch directory '{name}'"
    );
    taken.push(name.to_string());
    drop(taken);
    let d = std::env::temp_dir().join(format!("chokepoint-cli-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    Scratch(d)
}

#[test]
fn run_writes_its_outputs_and_reports_bad_input() {
    let dir = temp("run");
    let out = chokepoint(&[
        "run",
        "scripts/2025-10-expansion-and-suspension.rhai",
        "--out",
        dir.to_str().unwrap(),
        "--resolution",
        "year",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let csv = std::fs::read_to_string(dir.join("series.csv")).unwrap();
    assert!(
        csv.starts_with("date,metric,key,value\n2024-01-01,"),
        "{}",
        &csv[..80]
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["passed"], true);
    // A run that finished says so: a consumer need not read a missing key as `true`.
    assert_eq!(summary["finished"], true);
    assert_eq!(summary["resolution"], "year", "what repeats the run");
    assert!(summary["seed"].is_u64(), "{summary}");
    // Headlines carry their numbers, not only the printed text.
    let heads = summary["headlines"].as_array().unwrap();
    let find = |label: &str| heads.iter().find(|h| h["label"] == label).unwrap();
    // (Dy oxide outside China peaks in May 2025, under April's licences.)
    let dy = find("peak price ROW/oxide:Dy");
    let ratio = dy["times_start"].as_f64().unwrap();
    let usd = dy["usd_per_kg"].as_f64().unwrap();
    assert!((1.1..1.6).contains(&ratio) && usd > 280.0, "{dy}");
    let shown = dy["value"].as_str().unwrap();
    let date = dy["date"].as_str().unwrap();
    assert!(
        shown.contains(&format!("${:.0}/kg", usd))
            && shown.contains(&format!("({ratio:.1}× start, "))
            && shown.contains(&format!("{date}; baseline ")),
        "{dy}"
    );
    // Beside it, the baseline's price then (no levers: Dy oxide near its start) and what
    // a baseline is.
    let base = dy["baseline_times_start"].as_f64().unwrap();
    assert!((0.9..1.1).contains(&base), "{dy}");
    let said: f64 = (shown.rsplit("; baseline ").next())
        .and_then(|t| t.strip_suffix("× then)"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{dy}"));
    assert!((said - base).abs() < 0.01, "{dy}");
    let what = summary["baseline"]["description"].as_str().unwrap();
    assert!(what.contains("without the script's levers"), "{summary}");
    assert!(("2025-04-07".."2025-12-31").contains(&date), "{dy}");
    let jp = find("peak shortfall oxide/JP")["share"].as_f64().unwrap();
    assert!(jp > 0.05 && jp < 0.2, "{jp}");
    let lost = find("output lost phosphors-jp");
    assert!(lost["units"].as_f64().unwrap() > 5.0, "{lost}");
    assert_eq!(lost["unit"], "t REO", "{lost}");
    let share = lost["share_of_output"].as_f64().unwrap();
    assert!(share > 0.005 && share < 0.05, "{lost}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<svg"));
    // Its charts plot every step; series.csv beside it holds yearly means here: it says so.
    assert!(
        html.contains("Every chart plots each step's value"),
        "{html}"
    );
    assert!(html.contains("holds their yearly means"), "{html}");
    // The page holds what ran: the scenario and the modules it imports.
    assert!(
        html.contains("// module lib/timeline\n"),
        "the report's source lacks the module"
    );
    let typo = chokepoint(&[
        "run",
        "scripts/2025-04-china-licensing.rhai",
        "--set",
        "aproval=0.5",
    ]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(text(&typo).contains("error: --set aproval: the script never reads param(\"aproval\") (did you mean 'approval'?)"), "{}", text(&typo));
    // No temporary files left behind.
    assert!(std::fs::read_dir(&dir).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with('.')));
    for (args, want) in [
        (vec!["run", "scripts/nope.rhai"], "cannot read the script"),
        (
            vec!["run", "models/world-2024.yaml"],
            "is a model file (.yaml), not a scenario script",
        ),
        (
            vec!["check", "scripts/baseline-2024.rhai"],
            "is a scenario script (.rhai), not a model file",
        ),
        (
            vec!["repl", "--model", "scripts/baseline-2024.rhai"],
            "is a scenario script (.rhai), not a model file",
        ),
        (
            vec![
                "run",
                "scripts/2024-10-kachin-disruption.rhai",
                "--set",
                "x",
            ],
            "expected NAME=VALUE",
        ),
        (
            vec![
                "run",
                "scripts/2024-10-kachin-disruption.rhai",
                "--set",
                "x=abc",
            ],
            "is not a number",
        ),
        (
            vec![
                "run",
                "scripts/2025-04-china-licensing.rhai",
                "--set",
                "approval=0.5",
                "--set",
                "approval=0.7",
            ],
            "--set approval is given twice",
        ),
        (
            vec![
                "run",
                "scripts/2025-04-china-licensing.rhai",
                "--set",
                " =0.5",
            ],
            "the name is empty",
        ),
        (
            vec![
                "run",
                "scripts/2024-10-kachin-disruption.rhai",
                "--resolution",
                "decade",
            ],
            "unknown resolution",
        ),
        (
            vec![
                "run",
                "scripts/2024-10-kachin-disruption.rhai",
                "--model",
                "tests/malformed/10-unknown-element.yaml",
            ],
            "did you mean 'Dy'",
        ),
        (
            vec![
                "run",
                "scripts/2024-10-kachin-disruption.rhai",
                "--seed",
                "x",
            ],
            "invalid value",
        ),
        (vec!["run", "scripts"], "is a directory"),
    ] {
        let o = chokepoint(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains(want),
            "{args:?}: wanted {want}: {}",
            text(&o)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn run_exits_1_when_an_expectation_fails() {
    let dir = temp("fail");
    let script = dir.join("fails.rhai");
    std::fs::write(
        &script,
        "step(1);\nexpect(current(hhi(\"magnet\")) < 10.0, \"magnets are not concentrated\");\n",
    )
    .unwrap();
    let out = chokepoint(&["run", script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("FAILED line 2: magnets are not concentrated"));
    let junit = dir.join("junit.xml");
    let out = chokepoint(&[
        "test",
        script.to_str().unwrap(),
        "scripts/2024-10-kachin-disruption.rhai",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("1 passed, 1 failed"), "{}", text(&out));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("tests=\"2\" failures=\"1\" errors=\"0\""),
        "{xml}"
    );
    std::fs::write(
        &script,
        "print(\"before the mistake\");\nexport_ban(\"CN\", #{ elements: [\"Dyy\"] });\n",
    )
    .unwrap();
    let out = chokepoint(&[
        "test",
        script.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "a broken script is bad input");
    assert!(text(&out).contains("did you mean 'Dy'"));
    assert!(
        text(&out).contains("| before the mistake"),
        "{}",
        text(&out)
    );
    let out = chokepoint(&[
        "test",
        script.to_str().unwrap(),
        "--junit",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is a directory"), "{}", text(&out));
    let nowhere = dir.join("no-such-dir").join("j.xml");
    let out = chokepoint(&[
        "test",
        "scripts/2024-10-kachin-disruption.rhai",
        "--junit",
        nowhere.to_str().unwrap(),
    ]);
    // A directory on the way is made, as --out's are.
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(nowhere.is_file());
    // `--model` is for scripts without a header: a world-2010 scenario keeps its own.
    let out = chokepoint(&[
        "test",
        "scripts/2010-japan-response.rhai",
        "--model",
        "models/world-2024.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // For a CI system, a scenario that cannot run is an error, not a failed expectation.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("failures=\"0\" errors=\"1\""), "{xml}");
    assert!(xml.contains("<error message=\"error: export_ban"), "{xml}");
    let out = chokepoint(&["test", "scripts/nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    // A directory with no scenario in it is a wrong path, not a pass.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = chokepoint(&["test", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("holds no scenario (*.rhai) to replay"),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sweep_shards_merge_to_the_same_bytes_and_reject_bad_arguments() {
    let dir = temp("sweep");
    let d = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let base = [
        "sweep",
        "scripts/whatif-us-stockpile-12m-ban.rhai",
        "--runs",
        "6",
        "--set",
        "stockpile_t=0..12000",
    ];
    let all = chokepoint(&[&base[..], &["--out", &d("all"), "--threads", "2"]].concat());
    assert_eq!(all.status.code(), Some(0), "{}", text(&all));
    // It ends with its figures across runs and how each moves with the parameter (it said
    // only how many runs it made: analyst review, 2026-12-01): a larger stockpile, a
    // smaller US shortfall. (Six runs, most of them never short, order the two at -0.65:
    // short of what chance alone reaches 1 time in 20, so no direction is named, and the
    // table says why.)
    let said = String::from_utf8_lossy(&all.stdout).into_owned();
    assert!(said.contains("figures across 6 runs"), "{said}");
    let line = (said.lines())
        .find(|l| {
            l.trim_start()
                .starts_with("shortfall[magnet:NdFeB/US].mean")
        })
        .unwrap_or_else(|| panic!("{said}"));
    assert!(line.contains("(-0.6") && !line.contains("falls"), "{line}");
    assert!(
        said.contains("(with 6 runs a direction is named only at a correlation of 0.88 or more"),
        "{said}"
    );
    let report = std::fs::read_to_string(dir.join("all").join("report.html")).unwrap();
    assert!(
        report.contains("Parameters: stockpile_t 0..12000.")
            && report.contains("of 6 runs failed expectations"),
        "the fan report says what was swept and how many runs failed"
    );
    // A run or compare into the sweep's directory is refused: it would mix two commands.
    let into = chokepoint(&[
        "run",
        "scripts/2024-10-kachin-disruption.rhai",
        "--out",
        &d("all"),
    ]);
    assert_eq!(into.status.code(), Some(2), "{}", text(&into));
    assert!(
        text(&into).contains("holds a sweep's output (sweep.json)"),
        "{}",
        text(&into)
    );
    // The figures' quantiles across runs, as a table.
    assert!(report.contains("<h2>Figures across runs</h2>"), "{report}");
    assert!(
        report.contains("<td>shortfall[magnet:NdFeB/US].peak</td>"),
        "{report}"
    );
    // And how each figure answers the parameter: one point per run.
    assert!(
        report.contains("<h2>Response to stockpile_t</h2>"),
        "{report}"
    );
    let chart = report
        .split("aria-label=\"shortfall[magnet:NdFeB/US].peak against stockpile_t\"")
        .nth(1)
        .and_then(|rest| rest.split("</svg>").next())
        .expect("a response chart for the US shortfall");
    assert_eq!(chart.matches("<circle").count(), 6, "{chart}");
    for k in 0..3 {
        let shard = format!("{k}/3");
        let out = d(&format!("s{k}"));
        let args = [
            &base[..],
            &["--shard", &shard, "--threads", "1", "--out", &out],
        ]
        .concat();
        // One shard runs from another directory, naming the script by its full path, as
        // a batch scheduler's node might: it is still the same sweep.
        let o = if k == 1 {
            let script = root().join(base[1]).to_string_lossy().into_owned();
            let mut args = args.clone();
            args[1] = &script;
            Command::new(env!("CARGO_BIN_EXE_chokepoint"))
                .args(&args)
                .current_dir(&dir)
                .output()
                .unwrap()
        } else {
            chokepoint(&args)
        };
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let m = chokepoint(&["merge", &d("s0"), &d("s1"), &d("s2"), "--out", &d("merged")]);
    assert_eq!(m.status.code(), Some(0), "{}", text(&m));
    for f in [
        "runs.csv",
        "runs_series.csv",
        "sweep.json",
        "bands.csv",
        "summary.json",
        "report.html",
    ] {
        assert_eq!(
            std::fs::read(dir.join("all").join(f)).unwrap(),
            std::fs::read(dir.join("merged").join(f)).unwrap(),
            "{f} differs"
        );
    }
    // Named in another order (the shard run by its full path first), the merge is the same:
    // its record is shard 0's, whichever is listed first.
    let m = chokepoint(&[
        "merge",
        &d("s1"),
        &d("s2"),
        &d("s0"),
        "--out",
        &d("reordered"),
    ]);
    assert_eq!(m.status.code(), Some(0), "{}", text(&m));
    let merged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("merged/summary.json")).unwrap()).unwrap();
    assert_eq!(merged["finished"], true, "{merged}");
    // Its report ends with the scenario's source, as `run`'s does.
    let report = std::fs::read_to_string(dir.join("merged/report.html")).unwrap();
    assert!(
        report.contains("<h2>Scenario source</h2><pre"),
        "{}",
        &report[report.len().saturating_sub(500)..]
    );
    for f in ["sweep.json", "report.html", "summary.json"] {
        assert_eq!(
            std::fs::read(dir.join("merged").join(f)).unwrap(),
            std::fs::read(dir.join("reordered").join(f)).unwrap(),
            "{f} depends on the shards' order"
        );
    }
    // A damaged shard, one edited by hand, or one whose files are not its sweep.json's (a
    // sweep killed between its files' renames), is refused, not averaged in: sweep.json
    // records a digest of each file.
    let runs = dir.join("s1").join("runs.csv");
    let good = std::fs::read_to_string(&runs).unwrap();
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    let mut cells: Vec<String> = lines[1].split(',').map(str::to_string).collect();
    let last = cells.len() - 1;
    for (col, damage) in [(2, "xyz"), (2, "0.123"), (last, "999.5")] {
        let want = "runs.csv is not the file its sweep wrote";
        cells[col] = damage.into();
        lines[1] = cells.join(",");
        std::fs::write(&runs, lines.join("\n") + "\n").unwrap();
        let bad = chokepoint(&[
            "merge",
            &d("s0"),
            &d("s1"),
            &d("s2"),
            "--out",
            &d("damaged"),
        ]);
        assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
        assert!(text(&bad).contains(want), "{}", text(&bad));
    }
    std::fs::write(&runs, &good).unwrap();
    // A band's yearly row deleted from a shard.
    let series = dir.join("s2").join("runs_series.csv");
    let kept = std::fs::read_to_string(&series).unwrap();
    let cut: Vec<&str> = kept.lines().filter(|l| !l.contains(",2025,")).collect();
    assert!(cut.len() < kept.lines().count());
    std::fs::write(&series, cut.join("\n") + "\n").unwrap();
    let bad = chokepoint(&["merge", &d("s0"), &d("s1"), &d("s2"), "--out", &d("cut")]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        text(&bad).contains("runs_series.csv is not the file its sweep wrote"),
        "{}",
        text(&bad)
    );
    std::fs::write(&series, &kept).unwrap();
    // A sweep.json whose size or shard is not one a sweep writes: refused before anything
    // is sized by it (a count of 10^15 runs had aborted on its allocation).
    let meta = dir.join("s1").join("sweep.json");
    let was = std::fs::read_to_string(&meta).unwrap();
    for (from, to, said) in [
        (
            "\"runs\": 6",
            "\"runs\": 1000000000000000",
            "`runs` is 1000000000000000",
        ),
        (
            "\"runs\": 6",
            "\"runs\": 18446744073709551615",
            "`runs` is 18446744073709551615",
        ),
        (
            "\"shard\": \"1/3\"",
            "\"shard\": \"5/3\"",
            "`shard` is \"5/3\"",
        ),
        (
            "\"shard\": \"1/3\"",
            "\"shard\": \"01/3\"",
            "`shard` is \"01/3\"",
        ),
        // (It divided by zero.)
        ("\"grid\": null", "\"grid\": 0", "`grid` is 0"),
    ] {
        assert!(was.contains(from), "{was}");
        std::fs::write(&meta, was.replace(from, to)).unwrap();
        let bad = chokepoint(&["merge", &d("s0"), &d("s1"), &d("s2"), "--out", &d("edited")]);
        assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
        assert!(text(&bad).contains(said), "{}", text(&bad));
        assert!(!dir.join("edited").exists());
    }
    // Nor is its `said` (the failed expectations and notes a merge counts) taken on trust:
    // an edited one gave a merged summary.json counts of its own (2026-11-30).
    let mut v: serde_json::Value = serde_json::from_str(&was).unwrap();
    assert!(
        v["said"].is_object() && v["said_digest"].is_string(),
        "{was}"
    );
    v["said"]["failed_expectations"] = serde_json::json!([{"line": 1, "runs": 6}]);
    std::fs::write(&meta, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let bad = chokepoint(&["merge", &d("s0"), &d("s1"), &d("s2"), "--out", &d("said")]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        text(&bad).contains(
            "sweep.json's `said` (its failed expectations and notes) is not as its sweep wrote it"
        ),
        "{}",
        text(&bad)
    );
    std::fs::write(&meta, &was).unwrap();
    // A device put in a shard file's place is refused, not read without end.
    #[cfg(unix)]
    {
        std::fs::rename(&runs, dir.join("runs.keep")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &runs).unwrap();
        let bad = chokepoint(&["merge", &d("s0"), &d("s1"), &d("s2"), "--out", &d("zero")]);
        assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
        assert!(
            text(&bad).contains("runs.csv: not a regular file"),
            "{}",
            text(&bad)
        );
        std::fs::remove_file(&runs).unwrap();
        std::fs::rename(dir.join("runs.keep"), &runs).unwrap();
    }
    let bad = chokepoint(&["merge", &d("s0"), &d("s1"), "--out", &d("partial")]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad).contains("merge: shard 2/3 is missing"),
        "{}",
        text(&bad)
    );
    assert!(
        !dir.join("partial").exists(),
        "a failed merge leaves no directory"
    );
    // More shards than runs is refused; of many missing shards, a few are named.
    let over = chokepoint(&[&base[..], &["--shard", "0/7", "--out", &d("over")]].concat());
    assert_eq!(over.status.code(), Some(2), "{}", text(&over));
    assert!(
        text(&over).contains("--shard 0/7: more shards than the sweep's 6 runs"),
        "{}",
        text(&over)
    );
    let one = chokepoint(&[&base[..], &["--shard", "0/6", "--out", &d("one")]].concat());
    assert_eq!(one.status.code(), Some(0), "{}", text(&one));
    let bad = chokepoint(&["merge", &d("one"), "--out", &d("partial")]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad).contains("merge: shards 1/6, 2/6, 3/6, 4/6, 5/6 are missing"),
        "{}",
        text(&bad)
    );
    // Shards of one sweep cut two ways, and a directory that is not a shard.
    let other = chokepoint(&[&base[..], &["--shard", "1/2", "--out", &d("t1")]].concat());
    assert_eq!(other.status.code(), Some(0), "{}", text(&other));
    let bad = chokepoint(&["merge", &d("s0"), &d("t1"), &d("s2"), "--out", &d("mixed")]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("cut into 2 parts"), "{}", text(&bad));
    let bad = chokepoint(&["merge", "tests", "--out", &d("mixed")]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad).contains("not a sweep's output"),
        "{}",
        text(&bad)
    );
    // The merge may not overwrite one of its inputs.
    let bad = chokepoint(&["merge", &d("s0"), &d("s1"), &d("s2"), "--out", &d("s1")]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        text(&bad).contains("is one of the shards"),
        "{}",
        text(&bad)
    );
    // A shard run on another model is not part of this sweep, though its runs fit.
    let other = dir.join("other-models");
    copy_dir(&root().join("models"), &other);
    let yaml = other.join("common/behaviour.yaml");
    let before = std::fs::read_to_string(&yaml).unwrap();
    let after = before.replacen(
        "home_bias:\n    value: 0.8",
        "home_bias:\n    value: 0.7",
        1,
    );
    assert_ne!(after, before, "the home bias is where the test expects it");
    std::fs::write(&yaml, after).unwrap();
    let model = other.join("world-2024.yaml");
    let o = chokepoint(
        &[
            &base[..],
            &[
                "--shard",
                "1/3",
                "--model",
                model.to_str().unwrap(),
                "--out",
                &d("s1x"),
            ],
        ]
        .concat(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let bad = chokepoint(&["merge", &d("s0"), &d("s1x"), &d("s2"), "--out", &d("mixed")]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    // The odd one out is named, the middle one here, with what differs.
    assert!(
        text(&bad).contains(&format!(
            "{}: a shard of a different sweep: its sweep.json `model_digest` is",
            d("s1x")
        )) && text(&bad).contains("run by different versions of chokepoint"),
        "{}",
        text(&bad)
    );
    // The same model in another checkout, its files laid out otherwise (a comment added
    // moves every line after it), is the same data: a shard run there merges.
    let moved = dir.join("checkout-b/models");
    copy_dir(&root().join("models"), &moved);
    let fac = moved.join("world-2024/facilities.yaml");
    let text_before = std::fs::read_to_string(&fac).unwrap();
    std::fs::write(&fac, format!("# checked out elsewhere\n{text_before}")).unwrap();
    let model = moved.join("world-2024.yaml");
    let shard = ["--shard", "1/3", "--model", model.to_str().unwrap()];
    let o = chokepoint(&[&base[..], &shard, &["--out", &d("s1b")]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = chokepoint(&["merge", &d("s0"), &d("s1b"), &d("s2"), "--out", &d("m-b")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for f in ["runs.csv", "bands.csv"] {
        let read = |at: &str| std::fs::read(dir.join(at).join(f)).unwrap();
        assert!(
            read("m-b") == read("all"),
            "{f} differs from the unsharded sweep's"
        );
    }
    // Another shard of the same sweep into a shard's directory (a batch array given one
    // --out for all its tasks) is refused; the same shard again is a rerun.
    let o = chokepoint(&[&base[..], &["--shard", "2/3", "--out", &d("s0")]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("it holds shard 0/3 of this sweep; give each shard its own directory"),
        "{}",
        text(&o)
    );
    let o = chokepoint(&[&base[..], &["--shard", "0/3", "--out", &d("s0")]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A shard of a sweep is refused where the whole of it is, unsharded or merged: the
    // part would replace the whole.
    for whole in ["all", "merged"] {
        let before = std::fs::read(dir.join(whole).join("runs.csv")).unwrap();
        let o = chokepoint(&[&base[..], &["--shard", "0/3", "--out", &d(whole)]].concat());
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("it holds this whole sweep (unsharded, or merged from its shards)"),
            "{}",
            text(&o)
        );
        assert_eq!(
            std::fs::read(dir.join(whole).join("runs.csv")).unwrap(),
            before
        );
        assert!(dir.join(whole).join("bands.csv").exists());
    }
    // A shard of another sweep (other parameters) written there leaves none of the
    // earlier sweep's bands behind.
    let all = d("all");
    let other = [
        &base[..],
        &["--seed", "99", "--shard", "0/3", "--out", &all],
    ]
    .concat();
    let o = chokepoint(&other);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!dir.join("all/bands.csv").exists());
    assert!(!dir.join("all/report.html").exists());
    // An --out that cannot take the results is refused before any run.
    std::fs::write(dir.join("a-file"), "x").unwrap();
    let o = chokepoint(&[&base[..], &["--out", &d("a-file")]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("exists and is not a directory"),
        "{}",
        text(&o)
    );
    for (extra, want) in [
        (
            vec!["--set", "stockpile_t"],
            "expected NAME=LO..HI or NAME=VALUE",
        ),
        (
            vec!["--set", "stockpile=1..2"],
            "never reads param(\"stockpile\") (did you mean 'stockpile_t'?)",
        ),
        (vec!["--set", "stockpile_t=9..1"], "low end is above"),
        (
            vec!["--set", "stockpile_t=1..2", "--set", "stockpile_t=3..4"],
            "--set stockpile_t is given twice",
        ),
        (vec!["--shard", "3/3"], "need 0 <= K < N"),
        (vec!["--threads", "0"], "--threads must be"),
        (vec!["--grid", "3"], "cannot be used with"),
        (vec!["--metric", "price"], "expected METRIC=KEY"),
        (
            vec!["--metric", "price=MARS/oxide:Dy"],
            "--metric price=MARS/oxide:Dy: metric 'price' has no key 'MARS/oxide:Dy'",
        ),
        (
            vec!["--metric", "shortfal=magnet:NdFeB/US"],
            "no metric 'shortfal' (did you mean 'shortfall'?)",
        ),
        (
            vec![
                "--metric",
                "price=ROW/oxide:Dy",
                "--metric",
                "price=ROW/oxide:Dy",
            ],
            "--metric price=ROW/oxide:Dy is given twice",
        ),
    ] {
        let o = chokepoint(&[&base[..], &extra[..], &["--out", &d("bad")]].concat());
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", text(&o));
        assert!(
            text(&o).contains(want),
            "{extra:?}: wanted {want}: {}",
            text(&o)
        );
    }
    let o = chokepoint(&[
        "sweep",
        "scripts/whatif-us-stockpile-12m-ban.rhai",
        "--grid",
        "3",
        "--out",
        &d("bad"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--grid needs a range to walk"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn compare_says_which_side_a_note_is_from() {
    // One script on both sides, with other values: a note from A alone says it is A's
    // (analyst review, 2026-12-01: it was said once, under the file's name).
    let dir = temp("compare-notes");
    let script = dir.join("jp.rhai");
    std::fs::write(
        &script,
        "if param(\"release\", 0.0) > 0.5 {\n    \
         stockpile_release(\"jp-jogmec\", 2000.0, #{ as_needed: true });\n}\n\
         run_until(\"2024-03-01\");\n",
    )
    .unwrap();
    let model = root().join("models/world-2024.yaml");
    let (s, m) = (script.to_str().unwrap(), model.to_str().unwrap());
    let o = chokepoint(&[
        "compare",
        s,
        s,
        "--model",
        m,
        "--set-a",
        "release=1",
        "--set-b",
        "release=0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(
        said.contains(&format!("A: {s}: note: stockpile_release: no plant in JP")),
        "{said}"
    );
    assert!(!said.contains(&format!("B: {s}: note")), "{said}");
}

#[test]
fn compare_shows_deltas_and_writes_a_report() {
    let dir = temp("compare");
    let out = chokepoint(&[
        "compare",
        "scripts/2025-01-entity-list-28-firms.rhai",
        "scripts/2025-10-expansion-and-suspension.rhai",
        "--top",
        "5",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("A: China lists 28 US defence firms") && t.contains("B - A"),
        "{t}"
    );
    // Every figure says what it is in.
    let rows: Vec<&str> = t
        .lines()
        .skip_while(|l| !l.contains("B - A"))
        .skip(1)
        .take_while(|l| !l.contains("caveat") && !l.starts_with("wrote "))
        .collect();
    assert!(!rows.is_empty(), "{t}");
    for r in rows {
        assert!(
            ["share", "$/kg", "t/yr", "weeks", "/yr", " t", "HHI", "$"]
                .iter()
                .any(|u| r.ends_with(u)),
            "no unit: {r}"
        );
        // A share's change is in points (its "-7%" read as seven points).
        if r.trim_start().starts_with("shortfall[") {
            assert!(r.contains(" pts  share"), "{r}");
        }
    }
    assert!(std::fs::read_to_string(dir.join("compare.csv"))
        .unwrap()
        .starts_with("metric,key,stat,a,b,delta,unit\n"));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<polyline"));
    // A chart of output lost is in its sector's unit, as the table and compare.csv are.
    assert!(
        html.contains("output_lost [phosphors-ot] (t REO/yr;"),
        "{}",
        &html[..html.len().min(3000)]
    );
    // It says what each side ran.
    assert!(
        html.contains("<b>A</b>: <code>scripts/2025-01-entity-list-28-firms.rhai</code> on model world-2024 (digest ")
            && html.contains("), seed 2024")
            && html.contains("<b>B</b>: <code>scripts/2025-10-expansion-and-suspension.rhai</code>"),
        "{}",
        &html[..html.len().min(1500)]
    );
    // Both scenarios' sources, as `run`'s report shows its one (review 2026-12-02).
    assert!(
        html.contains("<h2>Scenario sources</h2><h3>A: <code>scripts/2025-01-entity-list-28-firms.rhai</code></h3><pre>// title: China lists 28 US defence firms"),
        "{}",
        &html[html.len().saturating_sub(3000)..]
    );
    // And which levers each pulled, not only how many.
    let levers = &html[html.find("<h2>Expectations and levers</h2>").unwrap()..];
    assert!(
        levers.contains("lever pulled:</p><table class=\"levers\">")
            || levers.contains("levers pulled:</p><table class=\"levers\">"),
        "{levers}"
    );
    assert!(
        levers.contains("<td class=\"name\">entity_list</td>"),
        "{levers}"
    );
    let out = chokepoint(&["compare", "scripts/2024-10-kachin-disruption.rhai"]);
    assert_eq!(out.status.code(), Some(2));
    // A scenario against itself: nothing differs.
    let same = chokepoint(&[
        "compare",
        "scripts/2024-10-kachin-disruption.rhai",
        "scripts/2024-10-kachin-disruption.rhai",
    ]);
    assert!(
        text(&same).contains("figures compared: none differs"),
        "{}",
        text(&same)
    );
    assert!(!text(&same).contains("note:"), "{}", text(&same));
    assert!(!text(&same).contains("caveat"), "{}", text(&same));
    assert_eq!(same.status.code(), Some(0));
    // Prices a run held at the model's cap are said to be the cap, in the table and the
    // report.
    let capped = chokepoint(&[
        "compare",
        "scripts/2025-04-china-licensing.rhai",
        "scripts/whatif-no-london-framework.rhai",
        "--top",
        "3",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let t = text(&capped);
    assert!(
        t.contains("caveat B: ROW/magnet:NdFeB rose to 23.1× its start (peak 2025-12-29) without reaching the cap"),
        "{t}"
    );
    assert!(
        std::fs::read_to_string(dir.join("report.html"))
            .unwrap()
            .contains("<h2>Caveats</h2>"),
        "the compare report lists the caveats"
    );
    // A failed expectation in either scenario is exit 1, as for `run`.
    let failing = dir.join("fails.rhai");
    std::fs::write(&failing, "step(2);\nexpect(false, \"never\");\n").unwrap();
    let out = chokepoint(&[
        "compare",
        "scripts/2024-10-kachin-disruption.rhai",
        failing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("B 0 passed, 1 failed"),
        "{}",
        text(&out)
    );
    // Different models: said so; moves from zero read "new", never a percentage of noise.
    let apart = chokepoint(&[
        "compare",
        "scripts/baseline-2024.rhai",
        "scripts/2010-quota-crisis.rhai",
        "--top",
        "20",
    ]);
    let t = text(&apart);
    assert!(
        t.contains("note: A runs on world-2024") && t.contains("B on world-2010"),
        "{t}"
    );
    for l in t.lines().filter(|l| l.ends_with('%')) {
        let pct: f64 = l
            .rsplit(' ')
            .next()
            .unwrap()
            .trim_end_matches('%')
            .parse()
            .unwrap();
        assert!(
            pct.abs() < 1e6,
            "a change shown as a percentage of nothing: {l}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn docs_and_bench_run() {
    let md = chokepoint(&["docs"]);
    assert_eq!(md.status.code(), Some(0));
    assert!(text(&md).contains("## `export_licence(exporter: string, opts: map)`"));
    let json = chokepoint(&["docs", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let functions = v["functions"].as_array().unwrap();
    assert!(functions.len() > 60);
    // The same script-facing names as the Markdown: no Rust types.
    for f in functions {
        let sig = f["signature"].as_str().unwrap();
        assert!(
            !sig.contains("&str") && !sig.contains("Res<") && !sig.contains("::"),
            "{sig}"
        );
    }
    assert!(functions
        .iter()
        .any(|f| f["name"] == "export_ban" && !f["examples"].as_array().unwrap().is_empty()));
    let b = chokepoint(&[
        "bench",
        "--runs",
        "1",
        "--script",
        "tests/bench/levers-20.rhai",
    ]);
    assert_eq!(b.status.code(), Some(0), "{}", text(&b));
    assert!(text(&b).contains("ratio"));
    // The phase table names every phase, and its shares add up to the whole.
    let b = chokepoint(&["bench", "--runs", "1", "--phases"]);
    assert_eq!(b.status.code(), Some(0), "{}", text(&b));
    let out = text(&b);
    let shares: Vec<f64> = out
        .lines()
        .skip_while(|l| !l.contains("by phase"))
        .skip(1)
        .map(|l| {
            l.trim_end()
                .trim_end_matches('%')
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(shares.len(), chokepoint_core::sim::PHASES.len(), "{out}");
    assert!((shares.iter().sum::<f64>() - 100.0).abs() < 0.5, "{out}");
    assert!(out.contains("markets"), "{out}");
    let b = chokepoint(&["bench", "--runs", "0"]);
    assert_eq!(b.status.code(), Some(2));
    // A scripted run its time limit stops fails the bench (exit 1, as in `run`), and the
    // hint names a flag bench has (it had none, and exited 2: bad-input review).
    let dir = temp("bench-limit");
    let slow = dir.join("slow.rhai");
    std::fs::write(
        &slow,
        "strategy(|| { let x = 0; for i in 0..300000 { x += i; } });\n",
    )
    .unwrap();
    let b = chokepoint(&[
        "bench",
        "--runs",
        "1",
        "--script",
        slow.to_str().unwrap(),
        "--time-limit",
        "1",
    ]);
    let said = text(&b);
    assert_eq!(b.status.code(), Some(1), "{said}");
    assert!(
        said.contains("the script ran past its time limit"),
        "{said}"
    );
    assert!(said.contains("(`--time-limit SECONDS` sets it)"), "{said}");
    let b = chokepoint(&["bench", "--time-limit", "-1"]);
    assert_eq!(b.status.code(), Some(2));
}

#[test]
fn bench_times_one_window_on_the_scripts_model() {
    let dir = temp("bench");
    let script = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_string()
    };
    // A script that runs past the window, or stops short of it, would be timed over other
    // steps than the plain run: refused, saying where it must end.
    for body in [
        "run_until(\"2035-06-01\");\n",
        "run_until(\"2030-12-31\");\n",
    ] {
        let p = script("off.rhai", body);
        let out = chokepoint(&["bench", "--runs", "1", "--script", &p]);
        assert_eq!(out.status.code(), Some(2), "{body}: {}", text(&out));
        assert!(
            text(&out).contains("must end there: end it with run_until(\"2033-12-31\")"),
            "{}",
            text(&out)
        );
    }
    // One that never moves the clock runs through the window, its actions included.
    let p = script(
        "free.rhai",
        "at(\"2030-01-07\", || demand_shock(\"ev-us\", 0.9));\n",
    );
    let out = chokepoint(&["bench", "--runs", "1", "--script", &p]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("(1 lever pulled)"), "{}", text(&out));
    // The script's header picks the model both timings use; --model replaces it, saying so.
    let p = script(
        "old.rhai",
        "// model: world-2010\nexport_quota(\"CN\", #{ tonnes_per_year: 50000.0 });\n",
    );
    let out = chokepoint(&["bench", "--runs", "1", "--script", &p]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("engine: world-2010")
            && text(&out).contains("2009-01-01 to 2016-12-31"),
        "{}",
        text(&out)
    );
    let out = chokepoint(&[
        "bench",
        "--runs",
        "1",
        "--script",
        &p,
        "--model",
        "models/world-2024.yaml",
    ]);
    assert!(
        text(&out).contains(
            "note: --model models/world-2024.yaml replaces the script's `// model: world-2010`"
        ),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_scenario_its_time_limit_stops_fails_rather_than_being_bad_input() {
    let dir = temp("slow");
    let p = dir.join("slow.rhai");
    std::fs::write(
        &p,
        "expect(true, \"ran\");\nat(\"2024-02-05\", || { let x = 0; loop { x += 1; } });\nrun_until(\"2024-06-01\");\n",
    )
    .unwrap();
    let junit = dir.join("results.xml");
    let out = chokepoint(&[
        "test",
        p.to_str().unwrap(),
        "--time-limit",
        "0.3",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("FAILED") && t.contains("(timed out)"), "{t}");
    assert!(t.contains("0 passed, 1 failed"), "{t}");
    assert!(t.contains("`--time-limit SECONDS` sets it"), "{t}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure") && !xml.contains("<error"), "{xml}");
    // So under `run`, `compare` and `sweep` (each with its own --time-limit): a failure,
    // not bad input.
    let slow = p.to_str().unwrap();
    let fast = "scripts/2023-12-technology-ban.rhai";
    let sweep_out = dir.join("sweep");
    for args in [
        vec!["run", slow, "--time-limit", "0.3"],
        vec!["compare", fast, slow, "--time-limit", "0.3"],
        vec![
            "sweep",
            slow,
            "--runs",
            "2",
            "--time-limit",
            "0.3",
            "--out",
            sweep_out.to_str().unwrap(),
        ],
    ] {
        let out = chokepoint(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("time limit"),
            "{args:?}: {}",
            text(&out)
        );
        // A run stopped by its limit ran: it is not said to have been unable to.
        assert!(!text(&out).contains("could not run"), "{}", text(&out));
    }
    assert!(!sweep_out.join("runs.csv").exists());
    for args in [
        vec!["compare", fast, fast, "--time-limit=-1"],
        vec!["sweep", fast, "--time-limit=0"],
    ] {
        let out = chokepoint(&args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            text(&out).contains("--time-limit must be"),
            "{}",
            text(&out)
        );
    }
    // A script that cannot run is still bad input.
    std::fs::write(&p, "expect(true, \"ran\");\nno_such_lever();\n").unwrap();
    let out = chokepoint(&["test", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_order_of_a_sweeps_set_flags_changes_none_of_its_files() {
    let dir = temp("set-order");
    let script = dir.join("two.rhai");
    std::fs::write(
        &script,
        "let b = param(\"b\", 0.0);\nlet a = param(\"a\", 0.0);\ndemand_shock(\"ev-us\", 1.0 + a - b);\nrun_until(\"2024-03-04\");\nexpect(true, \"ran\");\n",
    )
    .unwrap();
    for how in [&["--runs", "4"][..], &["--grid", "2"][..]] {
        let sweep = |sets: [&str; 4], out: &str| {
            let out = dir.join(out);
            let o = chokepoint(
                &[
                    &["sweep", script.to_str().unwrap()][..],
                    how,
                    &sets,
                    &["--out", out.to_str().unwrap()],
                ]
                .concat(),
            );
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
            out
        };
        let ab = sweep(["--set", "a=0..0.2", "--set", "b=0..0.1"], "ab");
        let ba = sweep(["--set", "b=0..0.1", "--set", "a=0..0.2"], "ba");
        for f in [
            "runs.csv",
            "runs_series.csv",
            "sweep.json",
            "bands.csv",
            "report.html",
        ] {
            let read = |d: &Path| std::fs::read(d.join(f)).unwrap();
            assert!(
                read(&ab) == read(&ba),
                "{f} differs with the flags' order ({how:?})"
            );
        }
    }
}

#[test]
fn a_parameter_held_at_a_value_leaves_the_others_draws_as_they_were() {
    let dir = temp("held-param");
    let script = dir.join("two.rhai");
    // `a` sorts before `b`: a held `a` that took a draw would shift every `b`.
    std::fs::write(
        &script,
        "let a = param(\"a\", 0.5);\nlet b = param(\"b\", 0.0);\ndemand_shock(\"ev-us\", 1.0 + a - b);\nrun_until(\"2024-02-05\");\nexpect(true, \"ran\");\n",
    )
    .unwrap();
    let b_draws = |extra: &[&str], out: &str| {
        let out = dir.join(out);
        let o = chokepoint(
            &[
                &["sweep", script.to_str().unwrap(), "--runs", "5"][..],
                extra,
                &["--set", "b=0..1", "--out", out.to_str().unwrap()],
            ]
            .concat(),
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let runs = std::fs::read_to_string(out.join("runs.csv")).unwrap();
        let head: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
        let col = head.iter().position(|&h| h == "b").unwrap();
        (runs.lines().skip(1))
            .map(|l| l.split(',').nth(col).unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let alone = b_draws(&[], "alone");
    assert_eq!(alone, b_draws(&["--set", "a=0.5"], "held"));
    // The way runs draw is recorded: shards drawn the old way (a held parameter took a
    // draw) do not merge with these.
    let meta = std::fs::read_to_string(dir.join("alone/sweep.json")).unwrap();
    assert!(meta.contains("\"sampling\": 2"), "{meta}");
    // (A swept `a` does draw, and moves `b`'s draws: that is a different sweep.)
    assert_ne!(alone, b_draws(&["--set", "a=0..1"], "swept"));
}

#[test]
fn test_set_reads_the_modules_a_scenario_imports_however_named_and_no_other_scenario() {
    let dir = temp("set-modules");
    copy_dir(&root().join("models"), &dir.join("models"));
    let scripts = dir.join("scripts");
    std::fs::create_dir_all(scripts.join("t")).unwrap();
    let w = |f: &str, t: &str| std::fs::write(scripts.join(f), t).unwrap();
    w("helper.rhai", "export const K = param(\"knob\", 1.0);\n");
    w(
        "mid.rhai",
        "import \"./helper.rhai\" as h;\nexport const K = h::K;\n",
    );
    w(
        "main.rhai",
        "// model: world-2024\n// (the other scenario, t/other, is not read)\nimport \"mid\" as m;\nrun_until(\"2024-01-15\");\nexpect(m::K > 0.0, \"k\");\n",
    );
    w(
        "t/other.rhai",
        "// model: world-2024\nlet x = param(\"mode\", 0.0);\nexpect(true, \"t\");\n",
    );
    let main = scripts.join("main.rhai");
    let test = |set: &str| chokepoint(&["test", main.to_str().unwrap(), "--set", set]);
    // Read through two imports, one by file name with `./`: taken.
    let o = test("knob=2");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("knob=2"), "{}", text(&o));
    // Read only by another scenario (in a subdirectory): refused before anything replays.
    let o = test("mode=1");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!text(&o).contains("passed"), "{}", text(&o));
}

#[test]
fn bands_say_how_many_runs_they_are_from_when_runs_end_apart() {
    let dir = temp("uneven");
    let script = dir.join("uneven.rhai");
    std::fs::write(
        &script,
        "let x = param(\"x\", 0.0);\nif x > 0.5 { run_until(\"2025-01-06\"); } else { run_until(\"2027-01-04\"); }\nexpect(true, \"ran\");\n",
    )
    .unwrap();
    let out = dir.join("out");
    let o = chokepoint(&[
        "sweep",
        script.to_str().unwrap(),
        "--grid",
        "2",
        "--set",
        "x=0..1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("the bands for 2026-2027 are from fewer runs")
            && text(&o).contains(
                "those for 2025 count the runs that ended within the year at their mean over \
                 the weeks they ran"
            ),
        "{}",
        text(&o)
    );
    let bands = std::fs::read_to_string(out.join("bands.csv")).unwrap();
    assert!(bands.starts_with("period,metric,key,p5,p50,p95,mean,runs\n"));
    let runs_of = |year: &str| -> Vec<String> {
        (bands.lines())
            .filter(|l| l.starts_with(year))
            .map(|l| l.rsplit(',').next().unwrap().to_string())
            .collect()
    };
    assert!(runs_of("2024,").iter().all(|n| n == "2"), "{bands}");
    assert!(runs_of("2026,").iter().all(|n| n == "1"), "{bands}");
    assert!(!runs_of("2026,").is_empty());
    // Runs that all end together draw no note.
    let even = chokepoint(&[
        "sweep",
        "tests/bench/levers-20.rhai",
        "--runs",
        "2",
        "--out",
        dir.join("even").to_str().unwrap(),
    ]);
    assert_eq!(even.status.code(), Some(0), "{}", text(&even));
    assert!(!text(&even).contains("fewer runs"), "{}", text(&even));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn messages_name_what_is_wrong() {
    // --model replacing a script's header is said, not done silently.
    let o = chokepoint(&[
        "run",
        "scripts/2010-quota-crisis.rhai",
        "--model",
        "models/world-2024.yaml",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "note: --model models/world-2024.yaml replaces the script's `// model: world-2010`"
        ),
        "{}",
        text(&o)
    );
    // `test` with no path, where there is no scripts/ (or it is a file), says that is the
    // default.
    let dir = temp("messages");
    // So is an edited copy of the header's model under the same name; the file itself is not.
    copy_dir(&root().join("models"), &dir.join("m"));
    let copy = dir.join("m/world-2024.yaml");
    for (model, noted) in [
        (copy.to_str().unwrap(), true),
        ("models/world-2024.yaml", false),
    ] {
        let o = chokepoint(&[
            "run",
            "scripts/2024-10-kachin-disruption.rhai",
            "--model",
            model,
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert_eq!(
            text(&o).contains("replaces the script's"),
            noted,
            "{model}: {}",
            text(&o)
        );
    }
    let test_here = |want: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
            .arg("test")
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(want), "{}", text(&o));
    };
    test_here("with no path, `test` replays the scenarios in scripts/");
    // A file named where a directory was meant is not "a directory that does not exist".
    let file = dir.join("afile");
    std::fs::write(&file, "x").unwrap();
    let junit = file.join("results.xml");
    let o = chokepoint(&[
        "test",
        "scripts/baseline-2024.rhai",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("{} is not a directory", file.display())),
        "{}",
        text(&o)
    );
    let under = file.join("out");
    let o = chokepoint(&[
        "run",
        "scripts/baseline-2024.rhai",
        "--out",
        under.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "cannot create it: {} is not a directory",
            file.display()
        )),
        "{}",
        text(&o)
    );
    // A file named `scripts` is not the library.
    std::fs::write(dir.join("scripts"), "x").unwrap();
    test_here("scripts/ is not a directory here");
    // Two shards of different sweeps: either may be the odd one, so both are named.
    for (name, seed) in [("a", "1"), ("b", "2")] {
        let o = chokepoint(&[
            "sweep",
            "tests/bench/levers-20.rhai",
            "--runs",
            "2",
            "--shard",
            if name == "a" { "0/2" } else { "1/2" },
            "--seed",
            seed,
            "--out",
            dir.join(name).to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let (a, b) = (dir.join("a"), dir.join("b"));
    let o = chokepoint(&[
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        dir.join("m").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "{} and {} are shards of different sweeps: sweep.json's `seed` is 1 in {}, 2 in {}",
            a.display(),
            b.display(),
            a.display(),
            b.display()
        )),
        "{}",
        text(&o)
    );
    // A merge that fails leaves no earlier results in its --out to be read as its own
    // (it left them, unmarked: review, 2026-12-01); its summary.json says why.
    let mg = dir.join("mg");
    let o = chokepoint(&[
        "sweep",
        "tests/bench/levers-20.rhai",
        "--runs",
        "2",
        "--out",
        mg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = chokepoint(&[
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        mg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let left: Vec<String> = std::fs::read_dir(&mg)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["summary.json"], "{}", text(&o));
    let summary = std::fs::read_to_string(mg.join("summary.json")).unwrap();
    assert!(summary.contains("shards of different sweeps"), "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_closed_pipe_ends_quietly() {
    // `chokepoint test scripts/ | head -1`: the reader goes away after one line.
    use std::io::Read as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args(["test", "scripts/"])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
    // With --out, the files asked for are still written, and no lock is left behind.
    let dir = temp("closed-pipe");
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args(["run", "scripts/baseline-2024.rhai", "--out"])
        .arg(&dir)
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut first = [0u8; 16];
    let mut stdout = child.stdout.take().unwrap();
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
    for f in ["series.csv", "summary.json", "report.html"] {
        assert!(dir.join(f).is_file(), "{f} written");
    }
    assert!(!dir.join(".chokepoint.lock").exists(), "no lock left");
    // `chokepoint check bad.yaml 2>&1 | head -1`: a closed stderr silences the problems
    // left, not a panic (101); the exit code still says the model is bad.
    let mut child = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args(["check", "tests/malformed/10-unknown-element.yaml"])
        .current_dir(root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(2));
    // A full disk is an error with a message, not a panic.
    let full = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args(["check", "models/world-2024.yaml"])
        .current_dir(root())
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot write the output"), "{err}");
}

#[test]
fn a_library_script_finds_its_model_from_anywhere() {
    let away = temp("away");
    let script = root().join("scripts/2024-10-kachin-disruption.rhai");
    let o = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args(["run", script.to_str().unwrap()])
        .current_dir(&away)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A script outside any project, with no model named: the error says where it looked.
    let stray = away.join("stray.rhai");
    std::fs::write(&stray, "step(1);\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args(["run", stray.to_str().unwrap()])
        .current_dir(&away)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no such model file"), "{}", text(&o));
    // A copy of the library outside the project: `test --model` gives the scripts whose
    // header names that file their model; a header naming another file still says so.
    let lib = away.join("scripts");
    std::fs::create_dir_all(&lib).unwrap();
    for f in ["2024-10-kachin-disruption.rhai", "2010-quota-crisis.rhai"] {
        std::fs::copy(root().join("scripts").join(f), lib.join(f)).unwrap();
    }
    let model = root().join("models/world-2024.yaml");
    let o = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args(["test", "scripts", "--model", model.to_str().unwrap()])
        .current_dir(&away)
        .output()
        .unwrap();
    let out = text(&o);
    assert!(
        out.contains("ok     scripts/2024-10-kachin-disruption.rhai"),
        "{out}"
    );
    assert!(
        out.contains("`// model: world-2010` names models/world-2010.yaml, which was not found"),
        "{out}"
    );
    assert!(
        out.contains("`test` takes it for scripts without the line or whose line names that file"),
        "{out}"
    );
    std::fs::remove_dir_all(&away).ok();
}

#[test]
fn prices_pinned_at_the_models_bound_are_flagged_as_caveats() {
    // In the 2010 replay, Lu oxide outside China (a market of a few tonnes that the quota
    // starves) reaches the 40x ceiling: the summary, summary.json and the report say so.
    let dir = temp("caveat");
    let out = chokepoint(&[
        "run",
        "scripts/2010-quota-crisis.rhai",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = text(&out);
    // (Lu outside China is not a headline, so the summary counts it among the rest; the
    // heavy oxides that reach the cap after the quotas end, in 2015, are shown first.)
    let line = shown
        .lines()
        .find(|l| l.contains("caveat") && l.contains("ceiling"))
        .unwrap_or_else(|| panic!("no caveat for a price at the ceiling in:\n{shown}"));
    assert!(line.contains("at the model's 40× ceiling for "), "{line}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let caveats = summary["caveats"].as_array().unwrap();
    assert!(caveats.len() >= 4, "{caveats:?}");
    // Prices at a bound: four shown and the rest counted on a fifth line. Metals below
    // their oxide are one more line, however many there are.
    let (metals, prices): (Vec<_>, Vec<_>) =
        (caveats.iter()).partition(|c| c["bound"] == "below its oxide");
    assert_eq!(
        shown
            .lines()
            .filter(|l| l.trim_start().starts_with("caveat ") && !l.contains("below"))
            .count(),
        prices.len().min(5),
        "{shown}"
    );
    // In the replay, metals sit below the oxide they are made from for months (Sm and La
    // in both markets): one line names the longest and counts the rest.
    assert!(metals.len() >= 4, "{metals:?}");
    let longest = &metals[0];
    assert!(longest["steps"].as_u64().unwrap() >= 26, "{longest}");
    assert!(longest["ratio"].as_f64().unwrap() < 1.0, "{longest}");
    let metal_lines: Vec<&str> = (shown.lines())
        .filter(|l| l.contains("(per kg of rare earth)"))
        .collect();
    assert_eq!(metal_lines.len(), 1, "{shown}");
    let series = longest["series"].as_str().unwrap();
    let name = &series["price[".len()..series.len() - 1];
    assert!(
        metal_lines[0].contains(&format!("{name} below "))
            && metal_lines[0].contains(&format!("; {} more metals", metals.len() - 1)),
        "{shown}"
    );
    let lu = caveats
        .iter()
        .find(|c| c["series"] == "price[ROW/oxide:Lu]")
        .unwrap();
    assert_eq!(lu["bound"], "ceiling");
    assert_eq!(lu["ratio"], 40.0);
    // Years at the cap, from after the 2010 cut.
    assert!(lu["steps"].as_u64().unwrap() >= 104, "{lu}");
    assert!(lu["from"].as_str().unwrap() > "2011-01-01", "{lu}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<h2>Caveats</h2>"));
    assert!(html.contains(&format!("<li>{name} below ")), "{name}");
    // Four shown, the rest counted: eight prices run far above their start without the
    // London framework. The headline prices' caveats come first: magnets outside China
    // (a headline) were counted among the rest until 2026-11-30, behind prices that ran
    // above 10x for more weeks.
    let out = chokepoint(&["run", "scripts/whatif-no-london-framework.rhai"]);
    let shown = text(&out);
    let caveats: Vec<&str> = (shown.lines())
        .filter(|l| l.trim_start().starts_with("caveat ") && !l.contains("per kg of rare earth"))
        .collect();
    assert_eq!(caveats.len(), 5, "{shown}");
    // (Gd metal outside China sits below its oxide, which runs up with the heavies.)
    assert!(
        shown.contains("caveat                                 ROW/metal:Gd below ROW/oxide:Gd (per kg of rare earth) for "),
        "{shown}"
    );
    assert!(
        caveats[0].contains("ROW/oxide:Lu rose to 29.1×")
            && caveats
                .iter()
                .any(|c| c.contains("ROW/magnet:NdFeB rose to 23.1×")),
        "{shown}"
    );
    assert!(
        shown.contains(
            "caveat                                 4 more prices (see summary.json, caveats)"
        ),
        "{shown}"
    );
    // In the 2010 replay, the heavy oxides China's market caps in 2015 are headlines: their
    // caveats are shown, before those of longer spells at the cap (the rest are counted).
    // (Until 2026-12-01 SmCo magnets outside China were the capped headline.)
    let out = chokepoint(&["run", "scripts/2010-quota-crisis.rhai"]);
    let shown = text(&out);
    let first_counted = shown.find("more prices (see summary.json").unwrap();
    let capped: Vec<&str> = (shown.lines())
        .filter(|l| l.trim_start().starts_with("peak price ") && l.contains("(40.0× start"))
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    assert!(!capped.is_empty(), "{shown}");
    for key in capped {
        let at = shown
            .find(&format!(
                "caveat                                 {key} at the model's 40× ceiling"
            ))
            .unwrap_or_else(|| panic!("no caveat for the headline {key}:\n{shown}"));
        assert!(at < first_counted, "{shown}");
    }
    // A price far above its start though below the cap is flagged too, with its peak.
    let out = chokepoint(&["run", "scripts/whatif-heavy-ban-us-12m.rhai"]);
    let shown = text(&out);
    // A sector far shorter than its country's users of the form as a whole has a line of
    // its own (US oxide users were 8% short at worst, medical Gd users 95%).
    assert!(
        shown.contains("peak shortfall gd-medical-us           95.5% (week of 2025-03-03; oxide/US as a whole 8.2%; baseline 0.0% then)"),
        "{shown}"
    );
    assert!(
        shown.contains("caveat                                 ROW/oxide:Gd rose to 19.1× its start (peak 2025-12-29) without reaching the cap"),
        "{shown}"
    );
    // A year's ban in a four-year run: the loss over its worst twelve months is given too
    // (all of it falls within them: ~3.95% of four years' output is ~16% of one year's).
    assert!(
        ["3.9", "4.0"].iter().any(|p| shown.contains(&format!(
            "vehicles ({p}% of output over the run, 15.9% of its use unmet over its worst 12 months; baseline 0.0% of output)"
        ))),
        "{shown}"
    );
    // A run whose prices stay inside the bounds, metals above their oxide, has no caveat
    // anywhere. (The April 2025 licences put Gd metal outside China below its oxide.)
    let dir = temp("no-caveat");
    let out = chokepoint(&[
        "run",
        "scripts/baseline-2024.rhai",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !text(&out)
            .lines()
            .any(|l| l.trim_start().starts_with("caveat")),
        "{}",
        text(&out)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["caveats"].as_array().unwrap().len(), 0);
    assert!(!std::fs::read_to_string(dir.join("report.html"))
        .unwrap()
        .contains("Caveats"));
}

/// The REPL fed from a pipe: a stray non-UTF-8 line is dropped, not the session, and `:save`
/// writes each input so the next one still parses (a map ending in `}`, a trailing `//`
/// comment, an unclosed `/*`), so the saved script replays.
#[test]
fn a_second_command_writing_to_the_same_out_at_once_is_refused() {
    let dir = temp("lock");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    // Another chokepoint holds the directory's lock while it writes.
    let held = std::fs::File::create(out.join(".chokepoint.lock")).unwrap();
    held.try_lock().unwrap();
    let o = chokepoint(&[
        "run",
        "scripts/baseline-2024.rhai",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("another chokepoint is writing there now"),
        "{}",
        text(&o)
    );
    assert!(!out.join("series.csv").exists(), "it wrote nothing");
    drop(held);
    let o = chokepoint(&[
        "run",
        "scripts/baseline-2024.rhai",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(out.join("series.csv").is_file());
    assert!(
        !out.join(".chokepoint.lock").exists(),
        "the lock file goes when the command ends"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_running_total_is_read_at_the_end_of_each_period() {
    let dir = temp("running-total");
    let out = chokepoint(&[
        "run",
        "scripts/whatif-price-floor-collapse.rhai",
        "--out",
        dir.to_str().unwrap(),
        "--resolution",
        "year",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The headline is the total at the end; the last yearly row must say the same.
    let said = text(&out);
    let line = said.lines().find(|l| l.contains("policy cost US")).unwrap();
    let millions = |v: &str| {
        let v = v.split_whitespace().next()?.trim_end_matches([',', ')']);
        v.trim_end_matches('M').replace(',', "").parse::<f64>().ok()
    };
    let headline = line.split('$').nth(1).and_then(millions).unwrap();
    // Each calendar year's part follows it (the floor begins in mid-2025), summing to it.
    let years: Vec<f64> = line.split('$').skip(2).filter_map(millions).collect();
    assert!(line.contains("(2025 $") && years.len() == 3, "{line}");
    assert!(
        (years.iter().sum::<f64>() - headline).abs() <= 0.15,
        "{line}"
    );
    let csv = std::fs::read_to_string(dir.join("series.csv")).unwrap();
    let last: f64 = csv
        .lines()
        .rfind(|l| l.contains(",policy_cost,US,"))
        .and_then(|l| l.rsplit(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        (last / 1e6 - headline).abs() < 0.1,
        "{last} vs ${headline}M"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn compare_reads_runs_of_different_lengths_over_their_common_period() {
    let out = chokepoint(&[
        "compare",
        "scripts/baseline-2024.rhai",
        "scripts/whatif-heavy-ban-us-12m.rhai",
        "--top",
        "400",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("compared over the period both cover, to 2027-12-27"),
        "{said}"
    );
    // Plants that start in 2028, after the shorter run ends, are no difference.
    assert!(!said.contains("output[mp-10x-metal]"), "{said}");
    assert!(said.contains("output_lost[ev-us]"), "{said}");
}

/// `chokepoint repl` with `input` on a pipe, its history under `home`.
#[test]
fn a_project_subfolder_finds_the_projects_model_in_run_and_repl() {
    // An analyst's own folder beside `scripts/` (analyst review, 2026-12-01): `run` found no
    // model there from elsewhere, and the REPL none started there.
    let p = temp("subfolder");
    copy_dir(&root().join("models"), &p.join("models"));
    copy_dir(&root().join("scripts/lib"), &p.join("scripts/lib"));
    let mine = p.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("plain.rhai"), "step(1);\n").unwrap();
    std::fs::write(mine.join("named.rhai"), "// model: world-2024\nstep(1);\n").unwrap();
    std::fs::write(
        mine.join("lib.rhai"),
        "import \"lib/timeline\" as t;\nstep(1);\n",
    )
    .unwrap();
    let run = |script: &str| {
        Command::new(env!("CARGO_BIN_EXE_chokepoint"))
            .arg("run")
            .arg(mine.join(script))
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap()
    };
    for script in ["plain.rhai", "named.rhai"] {
        let o = run(script);
        assert_eq!(o.status.code(), Some(0), "{script}: {}", text(&o));
    }
    // Imports not beside it read the project's `scripts/` above, which holds them all.
    let o = run("lib.rhai");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // One module beside it and one in the library: it imports from beside it, and the
    // error says where the other is.
    std::fs::write(mine.join("helper.rhai"), "fn f() { 1 }\n").unwrap();
    std::fs::write(
        mine.join("mixed.rhai"),
        "import \"helper\" as h;\nimport \"lib/timeline\" as t;\nstep(1);\n",
    )
    .unwrap();
    let o = run("mixed.rhai");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("scripts/lib/timeline.rhai has it: a script imports from the nearest"),
        "{}",
        text(&o)
    );
    // The REPL started in the subfolder reads the project's model, and a script saved
    // there names it by name.
    let o = repl_in(&mine, &p, &[], b":step 1\n:save s.rhai\n");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("note: the model is"), "{}", text(&o));
    assert!(
        text(&o).contains("note: it states no expectations: `chokepoint run s.rhai` replays it"),
        "{}",
        text(&o)
    );
    let saved = std::fs::read_to_string(mine.join("s.rhai")).unwrap();
    assert!(saved.contains("\n// model: world-2024\n"), "{saved}");
    // Saved into a folder with a model of the same name of its own, the header names the
    // session's file: `run` would find the other one first.
    copy_dir(&root().join("models"), &p.join("qa/models"));
    let o = repl_in(&p, &p, &[], b":step 1\n:save qa/a.rhai\n");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let saved = std::fs::read_to_string(p.join("qa/a.rhai")).unwrap();
    let session = p.join("models/world-2024.yaml").canonicalize().unwrap();
    let header = format!("\n// model: {}\n", session.display());
    assert!(saved.contains(&header), "{saved}");
    // No model here or above: said plainly.
    let o = repl_in(&std::env::temp_dir(), &p, &[], b":quit\n");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no models/world-2024.yaml in the current directory or any above it"),
        "{}",
        text(&o)
    );
}

fn piped_repl(home: &Path, input: &[u8]) -> Output {
    repl_in(&root(), home, &[], input)
}

/// `chokepoint repl ARGS` started in `cwd`, with `input` on a pipe, its history under `home`.
fn repl_in(cwd: &Path, home: &Path, args: &[&str], input: &[u8]) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .arg("repl")
        .args(args)
        .current_dir(cwd)
        .env("HOME", home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_run_whose_summary_cannot_be_printed_leaves_no_output_directory_behind() {
    // stdout on a full device: the error is said and the directory the run made goes with
    // its lock file (a lock file alone was left: bad-input review, 2026-12-01).
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return;
    };
    let dir = temp("stdout-full");
    let out_dir = dir.join("new");
    let out = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args(["run", "scripts/baseline-2024.rhai", "--out"])
        .arg(&out_dir)
        .current_dir(root())
        .stdout(full)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("cannot write the output"), "{said}");
    assert!(
        !out_dir.exists(),
        "{:?}",
        std::fs::read_dir(&out_dir).map(|d| d.count())
    );
}

#[test]
fn the_repl_stops_an_input_a_clock_move_or_a_trial_at_its_time_limit() {
    // A strategy that takes ~10 ms a step: its trial to the model's end (627 steps) ran for
    // minutes with nothing said (bad-input review, 2026-12-01). Each input, clock move and
    // trial now has the session's wall-clock limit, and the session goes on.
    let home = temp("repl-time-limit");
    let started = std::time::Instant::now();
    let out = repl_in(
        &root(),
        &home,
        &["--time-limit", "1"],
        b"strategy(|| { let x = 0; for i in 0..300000 { x += i; } });\n:step 400\nlet z = 0; while true { z += 1; }\nprint(`alive at ${today()}`);\n",
    );
    let said = text(&out);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // The trial stops; the line is kept.
    assert!(
        said.contains(
            "(the trial of the actions set up so far to the model's end ran past 1 s, at 20"
        ),
        "{said}"
    );
    // The clock move stops and is undone, with how to give it longer.
    assert!(
        said.contains("error: stopped: the script ran past its time limit"),
        "{said}"
    );
    assert!(
        said.contains(
            "(the command failed, so none of it stays: the clock is at 2024-01-01; the action \
             that failed still waits, so no move gets past it: `:reset` starts again without it"
        ),
        "{said}"
    );
    assert!(
        said.contains("`chokepoint repl --time-limit SECONDS` sets it"),
        "{said}"
    );
    assert!(said.contains("alive at 2024-01-01"), "{said}");
    assert_eq!(out.status.code(), Some(2), "{said}");
    // A limit that is no number of seconds is bad input.
    let bad = repl_in(&root(), &home, &["--time-limit", "0"], b"");
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("--time-limit must be a positive number of seconds"));
}

#[test]
fn a_piped_repl_session_cut_inside_a_statement_says_so() {
    let dir = temp("repl-cut");
    let out = piped_repl(&dir, b"let x = 1;\nfn twice(v) {\n  v * 2\n");
    let said = text(&out);
    assert!(
        said.contains("the input ended inside an unfinished statement"),
        "{said}"
    );
    assert!(said.contains("v * 2") && said.contains('^'), "{said}");
    // A finished last statement is not reported.
    let out = piped_repl(&dir, b"fn twice(v) {\n  v * 2\n}\nprint(twice(21));\n");
    assert!(text(&out).contains("42"), "{}", text(&out));
    assert!(!text(&out).contains("unfinished"), "{}", text(&out));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_block_with_a_syntax_error_says_none_of_it_ran() {
    let dir = temp("repl-block");
    let out = piped_repl(
        &dir,
        b"let a = 1;\nfn f(v) {\n  let x = v +;\n  x\n}\nprint(a + 41);\n",
    );
    let said = text(&out);
    assert!(
        said.contains("let x = v +;") && said.contains('^'),
        "{said}"
    );
    // (Piped, the block's own lines of the stream, as the location counts them.)
    assert!(
        said.contains("(lines 2-5 did not run: the input is read whole"),
        "{said}"
    );
    // The lines before and after the block are their own inputs, and ran.
    assert!(said.contains("42"), "{said}");
    assert_eq!(out.status.code(), Some(2), "{said}");
    // A one-line mistake is not called a block.
    let out = piped_repl(&dir, b"let y = ;\n");
    assert!(!text(&out).contains("did not run"), "{}", text(&out));
    // A block left open at the end names its brace by the stream's line, as the location
    // does (it said line 1, of the block, under `<stdin>:6:11`).
    let out = piped_repl(
        &dir,
        b"let a = 1;\nlet b = 2;\nlet c = 3;\nlet e = 5;\nif true {\nlet d = 4;\n",
    );
    let said = text(&out);
    assert!(
        said.contains("<stdin>:6:11") && said.contains("the `{` on line 5 is never closed"),
        "{said}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_piped_repl_session_keeps_its_imports_for_later_lines_and_scheduled_closures() {
    // The writing guide's pattern: import the library, schedule one of its levers, move the
    // clock. The module used to be gone on the next line and when the closure fired.
    let dir = temp("repl-import");
    let out = piped_repl(
        &dir,
        b"import \"lib/timeline\" as t;\nat(\"2025-01-13\", || t::heavy_ban(\"US\"));\n:run-to 2025-09-01\nprint(t::SEVEN.len());\nprint(peak(shortfall(\"magnet:NdFeB\", \"US\")) > 0.2);\n",
    );
    let said = text(&out);
    assert!(!said.contains("error"), "{said}");
    assert_eq!(out.status.code(), Some(0), "every line ran: {said}");
    assert!(said.contains("now at 2025-09-01"), "{said}");
    assert!(said.contains("\n7\n") && said.contains("true"), "{said}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_piped_repl_session_saves_a_script_that_replays() {
    let dir = temp("repl-pipe");
    let saved = dir.join("session.rhai");
    let input = format!(
        "/* first draft,\n\
         a comment left open goes on to the next line */\n\
         let m = #{{ a: 1 }}\n\
         expand(\"mountain-pass-mine\", 2.0) // double MP\n\
         \x01\n\
         m\n\
         :step 3\n\
         :save {}\n\
         :quit\n",
        saved.display()
    );
    let mut bytes = input.into_bytes();
    // A byte that is not UTF-8, on a line of its own.
    let at = bytes.iter().position(|&b| b == 1).unwrap();
    bytes[at] = 0xff;
    let out = piped_repl(&dir, &bytes);
    // The session carries on past the bad line; piped, the exit status says one failed.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not UTF-8"), "{}", text(&out));
    let replay = chokepoint(&["run", saved.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));
    assert!(
        text(&replay).contains("| 1 lever pulled"),
        "the expand after the comment replays: {}",
        text(&replay)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_repl_line_that_breaks_an_earlier_action_is_refused_not_the_next_one() {
    // `a = 1.5` sets up nothing, but the action an earlier input scheduled reads `a`: that
    // line is refused, and the next line that sets something up is not blamed for it (it
    // was, and every later `at` or `when` with it). The saved script then replays.
    let dir = temp("repl-breaks");
    let saved = dir.join("s.rhai");
    let input = format!(
        "let a = 0.3;\nat(\"2024-02-05\", || export_licence(\"CN\", #{{ elements: [\"Dy\"], approval: a }}))\na = 1.5;\nwhen(|| false, || print(1))\nexport_quota(\"CN\", #{{ tonnes_per_year: 1.0, label: \"q1\" }})\nexport_quota(\"CN\", #{{ tonnes_per_year: 1.0, label: \"q2\" }})\nat(\"2024-03-04\", || export_quota(\"CN\", #{{ tonnes_per_year: 1.0, label: \"q3\" }}))\nexport_quota(\"CN\", #{{ tonnes_per_year: 1.0, label: \"q4\" }})\n:step 10\n:save {}\n",
        saved.display()
    );
    let said = text(&piped_repl(&dir, input.as_bytes()));
    assert_eq!(
        said.matches("this line makes an action set up on an earlier input fail when it runs")
            .count(),
        2,
        "{said}"
    );
    assert!(
        said.contains("on 2024-02-05")
            && said.contains("approval: must be between 0 and 1, got 1.5"),
        "{said}"
    );
    assert!(
        said.contains("on 2024-03-04") && said.contains("at most 3 can cap"),
        "{said}"
    );
    assert!(
        !said.contains("an action this line sets up fails"),
        "{said}"
    );
    assert!(said.contains("now at 2024-03-04 (10 steps run"), "{said}");
    let script = std::fs::read_to_string(&saved).unwrap();
    assert!(
        !script.contains("a = 1.5") && !script.contains("q4"),
        "{script}"
    );
    assert!(script.contains("when(|| false"), "{script}");
    let replay = chokepoint(&["run", saved.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));
    // The action that fails decides whose it is, not what it calls: this line's closure
    // calling a function an earlier input defined is this line's.
    let said = text(&piped_repl(
        &dir,
        b"fn boom() { let a = [1]; a[5] }\nat(\"2025-01-06\", || boom());\n",
    ));
    assert!(
        said.contains("error: an action this line sets up fails when it runs, on 2025-01-06"),
        "{said}"
    );
    // A line that only reads is not tried: with a costly trigger waiting, it answers at
    // once (each trial runs every action to the model's end).
    let started = std::time::Instant::now();
    let out = repl_in(
        &root(),
        &dir,
        &["--time-limit", "3"],
        // (So costly that its trial always runs out of time: one per trial said.)
        b"whenever(|| { let s = 0; for i in 0..2000000 { s += i; } s < 0 }, || print(1));\nprint(\"read\");\n1 + 1\nprint(\"again\");\n",
    );
    let said = text(&out);
    assert!(said.contains("read") && said.contains("again"), "{said}");
    assert_eq!(
        said.matches("the trial of the actions set up so far")
            .count(),
        1,
        "{said}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn repl_step_past_the_models_end_runs_to_it_and_says_so() {
    let dir = temp("repl-end");
    let out = piped_repl(&dir, b":step 100000\n:step 1\n");
    let said = text(&out);
    assert!(
        said.contains("(only 627 steps are left before the model's end: running them)")
            && said.contains("now at 2035-12-31 (627 steps run"),
        "{said}"
    );
    assert!(
        said.contains("error: the run has reached the model's end (2035-12-31)"),
        "{said}"
    );
    assert_eq!(out.status.code(), Some(2), "{said}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_repl_line_whose_scheduled_action_would_fail_is_refused_at_once() {
    // A typo inside a closure for later used to be found only when the clock reached it,
    // and then every :step failed there with no way past it but :reset.
    let dir = temp("repl-trial");
    let out = piped_repl(
        &dir,
        b"at(\"2024-06-03\", || export_licence(\"CN\", #{ elements: [\"Dy\"], approval: 0.3, review_days: 63 }));\n:run-to 2024-09-01\n:step 2 3\n",
    );
    let said = text(&out);
    assert!(
        said.contains("fails when it runs, on 2024-06-03")
            && said.contains("unknown option 'review_days'"),
        "{said}"
    );
    assert!(
        said.contains("now at 2024-08-26"),
        "the clock moves past it: {said}"
    );
    assert!(said.contains(":step takes one argument; '3'"), "{said}");
    assert_eq!(out.status.code(), Some(2), "{said}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn repl_save_takes_a_whole_file_name_and_keeps_hand_written_scripts() {
    let dir = temp("repl-save");
    std::fs::write(dir.join("mine.rhai"), "// title: by hand\n").unwrap();
    let target = dir.join("target.rhai");
    std::fs::write(&target, "// title: REPL session\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&target, dir.join("link.rhai")).unwrap();
    let d = dir.display();
    let input = format!(
        "expand(\"mountain-pass-mine\", 2.0);\n:save {d}/my session.rhai\n:step 1\n:save {d}/my session.rhai\n:save {d}/mine.rhai\n:save! \"{d}/link.rhai\"\n"
    );
    let out = piped_repl(&dir, input.as_bytes());
    let said = text(&out);
    // Saved twice by one session: the second replaces the first without a `!`.
    let again = std::fs::read_to_string(dir.join("my session.rhai")).unwrap();
    assert!(again.contains("step(1);"), "{said}");
    assert!(
        said.contains("mine.rhai exists and this session did not write what it holds"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("mine.rhai")).unwrap(),
        "// title: by hand\n"
    );
    #[cfg(unix)]
    {
        let link = std::fs::symlink_metadata(dir.join("link.rhai")).unwrap();
        assert!(link.file_type().is_symlink(), "the link stays a link");
        assert!(
            std::fs::read_to_string(&target)
                .unwrap()
                .contains("expand("),
            "written through it"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_scripts_model_header_is_found_beside_the_script_from_anywhere() {
    // A researcher keeps a model of their own next to its scenarios, outside any project.
    let dir = temp("model-beside");
    let world = root().join("crates/core/tests/fixtures/mini.yaml");
    std::fs::copy(&world, dir.join("mini.yaml")).unwrap();
    std::fs::write(
        dir.join("s.rhai"),
        "// model: mini.yaml\nrun_until(\"2024-03-01\");\nexpect(current(hhi(\"mine\")) > 0.0, \"mines\");\n",
    )
    .unwrap();
    let elsewhere = std::env::temp_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args(["run", dir.join("s.rhai").to_str().unwrap()])
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs `args`, which must be refused as bad input (exit 2) saying `want`.
fn refused(args: &[&str], want: &str) -> Output {
    let o = chokepoint(args);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    assert!(
        text(&o).contains(want),
        "{args:?}: wanted {want}: {}",
        text(&o)
    );
    o
}

#[test]
fn a_sweep_is_not_written_over_a_runs_output_and_its_argument_errors_say_error() {
    let dir = temp("sweep-over-run");
    let out = dir.join("o");
    let o = chokepoint(&[
        "run",
        "scripts/baseline-2024.rhai",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let sweep = ["sweep", "scripts/baseline-2024.rhai", "--runs", "2"];
    let o = out.to_str().unwrap();
    refused(
        &[&sweep[..], &["--out", o]].concat(),
        "holds a run's output (series.csv)",
    );
    assert!(!out.join("runs.csv").exists(), "nothing written");
    // A run that failed there leaves its summary.json saying so, and no series.csv; a
    // comparison is no more written beside it (QA review, 2026-12-01).
    let bad = dir.join("bad.rhai");
    std::fs::write(&bad, "step(1);\nmetric(\"nope\", \"x\");\n").unwrap();
    let model = root().join("models/world-2024.yaml");
    let (bad, model) = (bad.to_str().unwrap(), model.to_str().unwrap());
    refused(
        &["run", bad, "--model", model, "--out", o],
        "unknown metric 'nope'",
    );
    assert!(!out.join("series.csv").exists() && out.join("summary.json").exists());
    let base = "scripts/baseline-2024.rhai";
    refused(
        &["compare", base, base, "--out", o],
        "holds a run's output (summary.json)",
    );
    assert!(!out.join("compare.csv").exists(), "nothing written");
    let s = dir.join("s");
    let o = refused(
        &[
            &sweep[..],
            &["--shard", "3/2", "--out", s.to_str().unwrap()],
        ]
        .concat(),
        "--shard 3/2",
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with("error: --shard 3/2"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn test_fails_a_scenario_that_checks_nothing_and_replaces_a_stale_junit_on_bad_input() {
    let dir = temp("test-strict");
    let lib = dir.join("lib");
    std::fs::create_dir_all(dir.join("2025")).unwrap();
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(
        dir.join("a.rhai"),
        "run_until(\"2024-03-01\");\nexpect(true, \"ran\");\n",
    )
    .unwrap();
    std::fs::write(dir.join("none.rhai"), "run_until(\"2024-03-01\");\n").unwrap();
    // A message with a newline and an escape sequence stays on its one line, inert.
    std::fs::write(
        dir.join("odd.rhai"),
        "expect(false, \"two\\nlines \\x1b[31mred\");\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("2025/late.rhai"),
        "at(\"2030-01-07\", || expect(false, \"late\"));\nrun_until(\"2024-06-01\");\nexpect(true, \"ran\");\n",
    )
    .unwrap();
    // A module the scenarios import is not a scenario.
    std::fs::write(lib.join("m.rhai"), "fn f() { 1 }\n").unwrap();
    // Old Mac line ends and a byte-order mark read as any other script.
    std::fs::write(
        dir.join("cr.rhai"),
        "\u{feff}// model: world-2024\rrun_until(\"2024-02-01\");\rexpect(true, \"ran\");\r",
    )
    .unwrap();
    let junit = dir.join("junit.xml");
    let d = dir.to_str().unwrap();
    let a = dir.join("a.rhai");
    let o = chokepoint(&[
        "test",
        d,
        a.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("none.rhai") && t.contains("states no expectations: nothing was checked"),
        "{t}"
    );
    assert!(
        t.contains("late.rhai") && t.contains("the action set up for 2030-01-07 never ran"),
        "{t}"
    );
    assert!(!t.contains("m.rhai"), "lib/ is not replayed: {t}");
    assert!(
        t.contains("2 passed, 3 failed"),
        "a.rhai runs once, cr.rhai passes: {t}"
    );
    assert!(t.contains("two?lines ?[31mred"), "{t}");
    assert!(t.contains("a.rhai (1 expectation)"), "{t}");
    // A later run that stops on bad input leaves no green report behind.
    let o = chokepoint(&[
        "test",
        dir.join("missing").to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<error") && xml.contains("does not exist"),
        "{xml}"
    );
    let j = junit.to_str().unwrap();
    refused(
        &["test", d, "--junit", j, "--model", "/nope.yaml"],
        "no such model file",
    );
    assert!(std::fs::read_to_string(&junit)
        .unwrap()
        .contains("no such model file"));
    for bad in ["0", "abc", "-5"] {
        std::fs::remove_file(&junit).ok();
        refused(
            &["test", d, "--junit", j, "--time-limit", bad],
            "--time-limit",
        );
        let xml = std::fs::read_to_string(&junit).unwrap();
        assert!(xml.contains("--time-limit"), "{bad}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn outputs_are_refused_up_front_where_they_cannot_go() {
    let dir = temp("up-front");
    let d = |n: &str| dir.join(n).to_string_lossy().into_owned();
    // A link to nothing where summary.json goes: found before the run, nothing written.
    std::fs::create_dir_all(dir.join("o")).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("o/summary.json")).unwrap();
        let run = ["run", "scripts/baseline-2024.rhai", "--out", &d("o")];
        let o = refused(&run, "summary.json there is not a regular file");
        assert!(
            !text(&o).contains("peak price"),
            "refused before the run: {}",
            text(&o)
        );
        assert!(!dir.join("o/series.csv").exists());
    }
    // A run's directory and a comparison's are each their own.
    let o = chokepoint(&[
        "run",
        "scripts/2024-10-kachin-disruption.rhai",
        "--out",
        &d("r"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (a, b) = (
        "scripts/baseline-2024.rhai",
        "scripts/2024-10-kachin-disruption.rhai",
    );
    refused(
        &["compare", a, b, "--out", &d("r")],
        "holds a run's output (series.csv)",
    );
    // test's report may not replace a scenario, nor go where it cannot be written.
    refused(
        &["test", a, "--junit", a],
        "that is a scenario or model file name",
    );
    refused(
        &["test", a, "--junit", "/dev/null"],
        "exists and is not a regular file",
    );
    // Nor a file that is not a report (a README under the name given), which stays as it
    // was; an earlier report is replaced.
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "my notes\n").unwrap();
    refused(
        &["test", a, "--junit", notes.to_str().unwrap()],
        "that file exists and is not a JUnit report, so it is left as it is",
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes\n");
    // Nor a test runner's configuration that lists suites inside its own root.
    let config = dir.join("phpunit.xml");
    let conf = "<?xml version=\"1.0\"?>\n<phpunit><testsuites><testsuite name=\"a\"/></testsuites></phpunit>\n";
    std::fs::write(&config, conf).unwrap();
    refused(
        &["test", a, "--junit", config.to_str().unwrap()],
        "that file exists and is not a JUnit report",
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), conf);
    let report = dir.join("results.xml");
    for _ in 0..2 {
        let o = chokepoint(&["test", a, "--junit", report.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    refused(&["test", a, "--model", "/nope.yaml"], "no such model file");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_sweeps_parameters_are_independent_of_its_runs_random_events() {
    // Each run's first random draw decides a one-week outage; an unrelated swept parameter
    // used to be that same draw, so every run with x < 0.5 had the outage and none above.
    let dir = temp("sweep-independent");
    let script = dir.join("s.rhai");
    std::fs::write(
        &script,
        "// model: world-2024\nlet x = param(\"x\", 0.5);\nrandom_outage(\"mountain-pass-mine\", 0.5, 1.0, \"1w\");\nstep(1);\nexpect(x >= 0.0, \"read\");\n",
    )
    .unwrap();
    let out = dir.join("o");
    let o = chokepoint(&[
        "sweep",
        script.to_str().unwrap(),
        "--runs",
        "200",
        "--set",
        "x=0..1",
        "--metric",
        "output=mountain-pass-mine",
        "--seed",
        "11",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let csv = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    let (mut low_out, mut low, mut high_out, mut high) = (0, 0, 0, 0);
    for line in csv.lines().skip(1) {
        let c: Vec<f64> = line
            .split(',')
            .map(|v| v.parse().unwrap_or(f64::NAN))
            .collect();
        let (x, made) = (c[2], c[c.len() - 1]);
        let stopped = made < 1.0;
        if x < 0.5 {
            low += 1;
            low_out += stopped as usize;
        } else {
            high += 1;
            high_out += stopped as usize;
        }
    }
    let (a, b) = (low_out as f64 / low as f64, high_out as f64 / high as f64);
    assert!(
        a > 0.3 && a < 0.7 && b > 0.3 && b < 0.7,
        "outage share {a:.2} below 0.5, {b:.2} above"
    );
    // Two parameters draw the same values whichever order their --set flags come in (the
    // second order drew other values for both until 2026-11-30).
    std::fs::write(
        &script,
        "let x = param(\"x\", 0.5);\nlet y = param(\"y\", 0.5);\nstep(1);\nexpect(x + y >= 0.0, \"read\");\n",
    )
    .unwrap();
    let drawn = |first: &str, second: &str| {
        let o = dir.join(format!("{first}{second}"));
        let r = chokepoint(&[
            "sweep",
            script.to_str().unwrap(),
            "--runs",
            "3",
            "--set",
            first,
            "--set",
            second,
            "--out",
            o.to_str().unwrap(),
        ]);
        assert_eq!(r.status.code(), Some(0), "{}", text(&r));
        let csv = std::fs::read_to_string(o.join("runs.csv")).unwrap();
        let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let at = |name: &str| head.iter().position(|h| *h == name).unwrap();
        (csv.lines().skip(1))
            .map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                (c[at("x")].to_string(), c[at("y")].to_string())
            })
            .collect::<Vec<_>>()
    };
    let xy = drawn("x=0..1", "y=10..20");
    assert_eq!(xy, drawn("y=10..20", "x=0..1"));
    assert!(xy.iter().all(|(x, y)| x != y), "{xy:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_missing_header_model_points_at_the_line_that_names_it() {
    let dir = temp("header-model");
    let script = dir.join("s.rhai");
    std::fs::write(
        &script,
        "// title: x\n// model: nosuch\nrun_until(\"2024-02-01\");\n",
    )
    .unwrap();
    let out = chokepoint(&["run", &script.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "error: {}:2: `// model: nosuch` names",
            script.display()
        )),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_sweep_larger_than_one_process_should_hold_asks_for_shards() {
    let out = chokepoint(&["sweep", "tests/bench/levers-20.rhai", "--runs", "3000000"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--shard K/N (N of at least 3)"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_sweep_whose_first_run_fails_says_which_run_and_values() {
    let dir = temp("first-run");
    let script = dir.join("boom.rhai");
    std::fs::write(
        &script,
        "let a = param(\"a\", 1.0);\nif a > 0.0 { throw \"boom\"; }\nrun_until(\"2024-02-01\");\n",
    )
    .unwrap();
    let out_dir = dir.join("out").to_string_lossy().into_owned();
    let s = script.to_string_lossy().into_owned();
    let out = chokepoint(&[
        "sweep", &s, "--set", "a=1..2", "--runs", "3", "--out", &out_dir,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("the sweep's first run could not run: run 0 (a=")
            && text(&out).contains(", seed ")
            && text(&out).contains("boom"),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_junit_report_does_not_keep_an_earlier_pass_when_the_arguments_are_bad() {
    let dir = temp("junit-args");
    let j = dir.join("j.xml").to_string_lossy().into_owned();
    // A link to a scenario is refused as the scenario is, bad arguments or not.
    let keep = dir.join("keep.rhai");
    std::fs::write(&keep, "// a scenario\n").unwrap();
    let link = dir.join("link.xml");
    std::os::unix::fs::symlink(&keep, &link).unwrap();
    let l = link.to_string_lossy().into_owned();
    for extra in [vec![], vec!["--time-limit", "abc"]] {
        let mut args = vec!["test", "scripts/2023-12-technology-ban.rhai", "--junit", &l];
        args.extend(extra.iter().copied());
        let out = chokepoint(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", text(&out));
        assert_eq!(std::fs::read_to_string(&keep).unwrap(), "// a scenario\n");
    }
    let pass = chokepoint(&["test", "scripts/2023-12-technology-ban.rhai", "--junit", &j]);
    assert_eq!(pass.status.code(), Some(0), "{}", text(&pass));
    assert!(std::fs::read_to_string(&j)
        .unwrap()
        .contains("errors=\"0\""));
    for bad in [vec!["--time-limt", "300"], vec!["-x"], vec!["--time-limit"]] {
        let mut args = vec!["test", "scripts/2023-12-technology-ban.rhai", "--junit", &j];
        args.extend(bad.iter().copied());
        let out = chokepoint(&args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out));
        let report = std::fs::read_to_string(&j).unwrap();
        assert!(
            report.contains("errors=\"1\"") && report.contains("command line was not valid"),
            "{bad:?}: {report}"
        );
    }
    // The report says what was wrong, as the terminal did.
    let report = std::fs::read_to_string(&j).unwrap();
    assert!(report.contains("a value is required for"), "{report}");
    // A flag right after `--junit` is its missing value, not a file name to write.
    let out = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .current_dir(&dir)
        .args(["test", "--junit", "--time-limit", "5", "scripts"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!dir.join("--time-limit").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_set_parameter_read_only_in_a_trigger_that_does_not_fire_is_accepted() {
    // Whether the check run reaches a `param` call (a trigger that fires at some draws and
    // not others) must not decide whether `--set` is accepted.
    let dir = temp("cond-param");
    let script = dir.join("cond.rhai");
    std::fs::write(
        &script,
        "let thr = param(\"thr\", 100000.0);\n\
         when(|| current(price(\"oxide:Dy\", \"ROW\")) > thr, || {\n\
         \x20   export_licence(\"CN\", #{ elements: [\"Tb\"], approval: param(\"appr\", 0.5) });\n\
         });\n\
         run_until(\"2024-03-31\");\nexpect(true, \"ran\");\n",
    )
    .unwrap();
    let s = script.to_string_lossy().into_owned();
    let out = dir.join("out").to_string_lossy().into_owned();
    let run = chokepoint(&["run", &s, "--set", "appr=0.2"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    // A commented-out param is not one the script reads.
    let commented = dir.join("commented.rhai");
    std::fs::write(
        &commented,
        "// let a = param(\"hidden\", 1.0);\n/* param(\"also\", 2.0) */\nrun_until(\"2024-02-01\");\nexpect(true, \"ran\");\n",
    )
    .unwrap();
    let c = commented.to_string_lossy().into_owned();
    for name in ["hidden=3", "also=1"] {
        let out = chokepoint(&["run", &c, "--set", name]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out));
    }
    let typo = chokepoint(&["run", &s, "--set", "apr=0.2"]);
    assert_eq!(typo.status.code(), Some(2), "{}", text(&typo));
    assert!(
        text(&typo).contains("(did you mean 'appr'?)"),
        "{}",
        text(&typo)
    );
    for seed in ["1", "6"] {
        let sweep = chokepoint(&[
            "sweep",
            &s,
            "--set",
            "thr=100..100000",
            "--set",
            "appr=0..1",
            "--runs",
            "2",
            "--threads",
            "1",
            "--seed",
            seed,
            "--out",
            &out,
        ]);
        assert_eq!(
            sweep.status.code(),
            Some(0),
            "seed {seed}: {}",
            text(&sweep)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ctrl_c_during_a_sweep_leaves_no_lock_temporary_file_or_empty_directory() {
    // Ctrl-C, and a scheduler's SIGTERM or a closed terminal's SIGHUP, the same way.
    for (signal, code, said) in [
        ("-INT", 130, "interrupted"),
        ("-TERM", 143, "terminated"),
        ("-HUP", 129, "hung up"),
    ] {
        a_signal_during_a_sweep_leaves_nothing_behind(signal, code, said);
    }
}

fn a_signal_during_a_sweep_leaves_nothing_behind(signal: &str, code: i32, said: &str) {
    let scratch = temp(&format!("int{signal}"));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let earlier = scratch.join("earlier");
    std::fs::create_dir_all(&earlier).unwrap();
    std::fs::write(earlier.join("runs.csv"), "an earlier sweep's results\n").unwrap();
    // (A sweep's directory: one whose runs.csv no sweep wrote is refused before it runs.)
    std::fs::write(earlier.join("sweep.json"), "{\"script_digest\": \"0\"}\n").unwrap();
    for out in [scratch.join("fresh"), earlier.clone()] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
            .args(["sweep", "tests/bench/levers-20.rhai", "--runs", "100000"])
            .arg("--out")
            .arg(&out)
            .current_dir(root())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The lock file appears once the command is running (its handler is set first).
        let lock = out.join(".chokepoint.lock");
        let start = std::time::Instant::now();
        while !lock.exists() && start.elapsed().as_secs() < 30 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(lock.exists(), "the sweep took its lock");
        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(status.code(), Some(code), "{signal}: {err}");
        assert!(err.contains(said), "{signal}: {err}");
        let left: Vec<String> = std::fs::read_dir(&earlier)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        // The earlier sweep's results are not this one's: voided, as for a sweep that
        // failed (they were left, unmarked, since 2026-11; review 2026-12-01).
        if out == earlier {
            assert_eq!(left, ["summary.json"], "{signal}: {err}");
            let summary = std::fs::read_to_string(earlier.join("summary.json")).unwrap();
            assert!(summary.contains("\"finished\": false"), "{summary}");
            assert!(
                summary.contains(&format!("\"error\": \"{said}\"")),
                "{summary}"
            );
            // (Voided as it began; its stop says why, and what went.)
            assert!(
                err.contains("this command did not finish: summary.json now says so, and the earlier runs.csv, sweep.json are gone"),
                "{err}"
            );
        }
    }
    assert!(
        !scratch.join("fresh").exists(),
        "the directory the sweep created is gone"
    );
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn a_command_killed_outright_leaves_no_earlier_results_to_read_as_its_own() {
    // kill -9 (a scheduler's out-of-memory kill) gives a command no chance to clean up:
    // the earlier results are voided as it begins, and its summary.json says it had not
    // finished.
    let scratch = temp("kill9");
    let _ = std::fs::remove_dir_all(&scratch);
    for (args, files) in [
        (
            vec!["run", "scripts/whatif-heavy-ban-us-12m.rhai"],
            &["series.csv", "report.html"][..],
        ),
        (
            vec![
                "sweep",
                "scripts/whatif-heavy-ban-us-12m.rhai",
                "--runs",
                "2",
            ],
            &["runs.csv", "bands.csv", "report.html"][..],
        ),
    ] {
        let out = scratch.join(args[0]);
        let o = chokepoint(&[&args[..], &["--out", out.to_str().unwrap()]].concat());
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        // The same command again, slow enough to be killed while it runs.
        let slow: Vec<&str> = match args[0] {
            "run" => vec!["run", "tests/bench/levers-20.rhai"],
            _ => vec!["sweep", "tests/bench/levers-20.rhai", "--runs", "100000"],
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
            .args(&slow)
            .arg("--out")
            .arg(&out)
            .current_dir(root())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let summary = out.join("summary.json");
        // (Voided once its summary.json says so and the earlier files are gone: the summary
        // is written first, so a kill between the two still leaves no pass.)
        let running = || {
            std::fs::read_to_string(&summary).is_ok_and(|t| t.contains("had not finished"))
                && files.iter().all(|f| !out.join(f).exists())
        };
        let start = std::time::Instant::now();
        while !running() && start.elapsed().as_secs() < 30 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            running(),
            "{}: the earlier summary.json was voided",
            args[0]
        );
        child.kill().unwrap();
        child.wait().unwrap();
        let said = std::fs::read_to_string(&summary).unwrap();
        assert!(
            said.contains("\"finished\": false") && said.contains("killed before it could say why"),
            "{said}"
        );
        for f in files {
            assert!(
                !out.join(f).exists(),
                "{}: the earlier {f} is left",
                args[0]
            );
        }
        // The next command is not kept out by the lock the killed one left.
        let o = chokepoint(&[&args[..], &["--out", out.to_str().unwrap()]].concat());
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let said = std::fs::read_to_string(&summary).unwrap();
        assert!(!said.contains("had not finished") && !said.contains("\"finished\": false"));
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn test_model_runs_a_variant_of_the_model_a_header_names_and_says_which_kept_their_own() {
    // An edited copy under another file name, its model still named world-2024: the
    // library's world-2024 scenarios run on it (they ran on the shipped model, and passed,
    // while the variant would fail them: review, 2026-12-02); a 2010 replay keeps world-2010,
    // and the closing lines say so.
    let dir = temp("test-variant");
    copy_dir(&root().join("models"), &dir.join("models"));
    let text_of = std::fs::read_to_string(root().join("models/world-2024.yaml")).unwrap();
    assert!(text_of.contains("  end: 2035-12-31\n"));
    let variant = dir.join("models/variant.yaml");
    std::fs::write(
        &variant,
        text_of.replace("  end: 2035-12-31\n", "  end: 2024-06-30\n"),
    )
    .unwrap();
    let o = chokepoint(&[
        "test",
        "scripts/whatif-heavy-ban-us-12m.rhai",
        "scripts/2010-quota-crisis.rhai",
        "--model",
        variant.to_str().unwrap(),
    ]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(2), "{said}");
    assert!(
        said.contains("ERROR  scripts/whatif-heavy-ban-us-12m.rhai")
            && said.contains("outside the model's horizon (2024-01-01 to 2024-06-30)"),
        "{said}"
    );
    assert!(
        said.contains("ok     scripts/2010-quota-crisis.rhai"),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "note: --model {} (world-2024) ran the scenarios without a `// model:` line and \
             those whose line names world-2024; 1 other ran on the model their line names: \
             scripts/2010-quota-crisis.rhai (`// model: world-2010`)",
            variant.display()
        )),
        "{said}"
    );
    // A variant that does not load is bad input, though every scenario's header names a
    // model of its own (they passed on the shipped one, exit 0).
    let broken = dir.join("models/broken.yaml");
    std::fs::write(&broken, format!("{text_of}bogus_key: [1\n")).unwrap();
    let o = chokepoint(&[
        "test",
        "scripts/baseline-2024.rhai",
        "--model",
        broken.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("unknown field `bogus_key`"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("passed"), "{}", text(&o));
}

#[test]
fn a_named_pipe_given_as_a_script_or_model_is_refused_not_waited_on() {
    let dir = temp("fifo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (script, model) = (dir.join("s.rhai"), dir.join("m.yaml"));
    for p in [&script, &model] {
        assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
    }
    // An import with a dotted name opens the file with the extension replaced.
    let lib = dir.join("scripts/lib");
    std::fs::create_dir_all(&lib).unwrap();
    assert!(Command::new("mkfifo")
        .arg(lib.join("p.rhai"))
        .status()
        .unwrap()
        .success());
    let importer = dir.join("scripts/imports.rhai");
    std::fs::write(
        &importer,
        "// model: world-2024\nimport \"lib/p.x\" as p;\nexpect(true, \"ran\");\n",
    )
    .unwrap();
    let out = chokepoint(&["run", &importer.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("named pipe"), "{}", text(&out));
    let s = script.to_string_lossy().into_owned();
    let m = model.to_string_lossy().into_owned();
    let d = dir.to_string_lossy().into_owned();
    // Nothing writes to these pipes: a command that opened one would never end.
    for args in [
        vec!["run", s.as_str()],
        vec!["check", m.as_str()],
        vec!["test", d.as_str()],
        vec!["run", "scripts/baseline-2024.rhai", "--model", m.as_str()],
    ] {
        let out = chokepoint(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("named pipe"),
            "{args:?}: {}",
            text(&out)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_interrupted_test_leaves_a_junit_report_that_says_it_did_not_finish() {
    let dir = temp("junit");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("results.xml");
    let green = "<testsuites><testsuite tests=\"1\" failures=\"0\"/></testsuites>\n";
    std::fs::write(&report, green).unwrap();
    // Scenarios that take seconds between them, even in a release build.
    for i in 0..100 {
        std::fs::write(
            dir.join(format!("s{i:03}.rhai")),
            "// model: world-2024\nrun_to_end();\nexpect(true, \"ran\");\n",
        )
        .unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .arg("test")
        .arg(&dir)
        .arg("--junit")
        .arg(&report)
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Interrupted once the first scenario has passed.
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut first,
    )
    .unwrap();
    assert!(first.starts_with("ok"), "{first}");
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let now = std::fs::read_to_string(&report).unwrap();
    assert!(now.contains("did not finish"), "{now}");
    assert!(now.contains("errors=\"1\""), "{now}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_grid_of_one_point_over_a_range_or_over_held_values_only_is_refused() {
    for args in [
        vec!["--grid", "1", "--set", "approval=0.1..0.9"],
        vec!["--grid", "3", "--set", "approval=0.3"],
    ] {
        let out = chokepoint(
            &[
                &["sweep", "scripts/2025-04-china-licensing.rhai"][..],
                &args[..],
                &["--out", "/tmp/chokepoint-never-written"],
            ]
            .concat(),
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("--grid"), "{}", text(&out));
        if args[1] == "1" {
            // The bound it states is one it keeps.
            assert!(text(&out).contains("between 2 and 1000"), "{}", text(&out));
        }
        assert!(!Path::new("/tmp/chokepoint-never-written").exists());
    }
}

#[test]
fn a_report_names_the_parameters_and_seed_it_ran_with_and_a_mistyped_set_prints_nothing() {
    let dir = temp("params");
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_string_lossy().into_owned();
    let out = chokepoint(&[
        "run",
        "scripts/2025-04-china-licensing.rhai",
        "--set",
        "approval=0.3",
        "--seed",
        "7",
        "--out",
        &d,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    // The levers' notes reach the saved outputs, not only the terminal.
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    assert!(
        summary.contains("\"notes\": [") && summary.contains("moves no flow"),
        "{summary}"
    );
    assert!(
        html.contains("<li>entity_list: none of the listed firms") && !html.contains("<li>note: ")
    );
    assert!(
        html.contains("Parameters: approval = 0.3, approval_after_june = 1. Seed 7."),
        "{}",
        &html[..html.len().min(2000)]
    );
    // A typo is refused before the run's output or summary is shown.
    let bad = chokepoint(&[
        "run",
        "scripts/2025-04-china-licensing.rhai",
        "--set",
        "aproval=0.3",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        bad.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&bad.stdout)
    );
    assert!(text(&bad).contains("did you mean"), "{}", text(&bad));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_junit_report_never_replaces_a_file_the_run_reads() {
    let dir = temp("junit-self");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = std::fs::read_to_string(root().join("scripts/baseline-2024.rhai")).unwrap();
    for name in ["Keep.RHAI", "notes.txt"] {
        let f = dir.join(name);
        std::fs::write(&f, &scenario).unwrap();
        let target = if name.ends_with(".txt") {
            f.clone()
        } else {
            dir.clone()
        };
        let out = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
            .arg("test")
            .arg(&target)
            .arg("--junit")
            .arg(&f)
            .current_dir(root())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out));
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            scenario,
            "{name} is intact"
        );
        std::fs::remove_file(&f).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn saving_a_repl_session_to_a_directory_asks_for_a_file_name() {
    let home = temp("repl-save-dir");
    std::fs::create_dir_all(&home).unwrap();
    let input = format!(":save {}\n:quit\n", home.display());
    let out = piped_repl(&home, input.as_bytes());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("is a directory: give a file name, e.g.")
            && !text(&out).contains(":save!"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_repl_session_that_redefines_a_function_or_imports_saves_what_replays() {
    let dir = temp("repl-redefine");
    let saved = dir.join("session.rhai");
    // A function defined again replaces the first in the saved script, as in the session.
    let input = format!(
        "fn f() {{ 1 }}\nfn f() {{ 2 }}\nprint(f());\nfn g() {{ 1 }} let q = 3;\nfn g() {{ 5 }}\n:save {}\n",
        saved.display()
    );
    let out = piped_repl(&dir, input.as_bytes());
    let said = text(&out);
    assert!(
        said.contains("g() with 0 parameters is already defined, on a line that does more"),
        "{said}"
    );
    let script = std::fs::read_to_string(&saved).unwrap();
    assert_eq!(script.matches("fn f()").count(), 1, "{script}");
    assert!(script.contains("fn f() { 2 }"), "{script}");
    let replay = chokepoint(&["run", saved.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));
    assert!(text(&replay).starts_with("2\n"), "{}", text(&replay));
    // A session importing the library's modules, saved outside the library, is told that
    // `run` will not find them there.
    let saved = dir.join("imports.rhai");
    let input = format!(
        "import \"lib/timeline\" as t;\nprint(t::SEVEN.len());\n:save {}\n",
        saved.display()
    );
    let said = text(&piped_repl(&dir, input.as_bytes()));
    assert!(
        said.contains("looks for the modules it imports under")
            && said.contains("where lib/timeline is not"),
        "{said}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn test_passes_over_what_a_glob_names_that_is_no_scenario_and_locks_its_report() {
    // `scripts/*`: the library's modules and its README are named too.
    let out = chokepoint(&[
        "test",
        "scripts/lib",
        "scripts/README.md",
        "scripts/2024-10-kachin-disruption.rhai",
    ]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("1 passed, 0 failed"), "{said}");
    assert!(
        said.contains("scripts/lib holds the modules scenarios import")
            && said.contains("scripts/README.md is not a scenario"),
        "{said}"
    );
    // `scripts/**/*.rhai` names the modules' files themselves: passed over too.
    let out = chokepoint(&[
        "test",
        "scripts/lib/timeline.rhai",
        "scripts/2024-10-kachin-disruption.rhai",
    ]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("scripts/lib/timeline.rhai is a module scenarios import")
            && said.contains("1 passed, 0 failed"),
        "{said}"
    );
    // Named alone, it is bad input that says why (not Rhai's complaint about its '#').
    let out = chokepoint(&["test", "scripts/README.md"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("scripts/README.md is not a scenario (*.rhai)"),
        "{}",
        text(&out)
    );
    // So is a module named alone (it was replayed, and failed as checking nothing), and a
    // device.
    for (alone, why) in [
        (
            "scripts/lib/timeline.rhai",
            "scripts/lib/timeline.rhai is a module scenarios import (it is in a lib/ \
             directory), not a scenario: test the scenarios that import it (`chokepoint test \
             scripts`)",
        ),
        ("/dev/null", "/dev/null is not a scenario (*.rhai)"),
    ] {
        let out = chokepoint(&["test", alone]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(why), "{}", text(&out));
    }
    // A subdirectory holding no scenario, among others in its directory (`dir/*`): passed
    // over too.
    let glob = temp("glob-empty");
    std::fs::create_dir_all(glob.join("empty")).unwrap();
    let scenario = glob.join("kachin.rhai");
    std::fs::copy(
        root().join("scripts/2024-10-kachin-disruption.rhai"),
        &scenario,
    )
    .unwrap();
    let out = chokepoint(&[
        "test",
        glob.join("empty").to_str().unwrap(),
        scenario.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("holds no scenario (*.rhai): passed over"),
        "{}",
        text(&out)
    );
    // Named apart from the others (a typo in a CI job's list), a file that is no scenario,
    // or a directory that holds none, is bad input: it was meant to run.
    std::fs::write(glob.join("typo.rhi"), "expect(false, \"never runs\");\n").unwrap();
    for apart in [glob.join("typo.rhi"), glob.join("empty")] {
        let out = chokepoint(&[
            "test",
            apart.to_str().unwrap(),
            "scripts/2024-10-kachin-disruption.rhai",
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            text(&out).contains("is not a scenario (*.rhai)")
                || text(&out).contains("holds no scenario (*.rhai) to replay"),
            "{}",
            text(&out)
        );
    }
    let out = chokepoint(&["test", "scripts/lib"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no scenario (*.rhai) to replay"),
        "{}",
        text(&out)
    );
    // A report another `test` is writing is refused, as an --out directory is.
    let dir = temp("junit-lock");
    let report = dir.join("results.xml");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".results.xml.chokepoint.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let out = chokepoint(&[
        "test",
        "scripts/2024-10-kachin-disruption.rhai",
        "--junit",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("another chokepoint is writing there now"),
        "{}",
        text(&out)
    );
    assert!(!report.exists());
    drop(lock);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn run_shows_what_check_warns_of_in_the_model() {
    let dir = temp("model-warning");
    copy_dir(&root().join("models"), &dir.join("models"));
    let file = dir.join("models/world-2024/facilities.yaml");
    let text_of = std::fs::read_to_string(&file).unwrap();
    let edited = text_of.replacen("start: 1990-01-01", "start: 2040-01-01", 1);
    assert_ne!(edited, text_of, "the facilities file has a start to move");
    std::fs::write(&file, edited).unwrap();
    let model = dir.join("models/world-2024.yaml");
    let out = chokepoint(&[
        "run",
        "scripts/2024-10-kachin-disruption.rhai",
        "--model",
        model.to_str().unwrap(),
    ]);
    let said = text(&out);
    assert!(
        said.contains("models/world-2024/facilities.yaml:")
            && said.contains(": facilities[0]: facility 'bayan-obo-mine' starts on 2040-01-01, after the model ends"),
        "{said}"
    );
    // A sweep on that model says it too, once, not once per run.
    let sw = chokepoint(&[
        "sweep",
        "scripts/2024-10-kachin-disruption.rhai",
        "--model",
        model.to_str().unwrap(),
        "--runs",
        "2",
        "--out",
        dir.join("sw").to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&sw.stderr);
    assert_eq!(
        said.matches("starts on 2040-01-01, after the model ends")
            .count(),
        1,
        "{}",
        text(&sw)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_tariffs_duty_is_told_as_receipts_for_what_they_are() {
    // Malaysia has no stockpile: its receipts are its tariff's duty, and the headline says
    // so without a word about stockpiles.
    let dir = temp("duty");
    let script = dir.join("duty.rhai");
    std::fs::write(
        &script,
        "// model: world-2024\ntariff(\"MY\", \"AU\", 0.5);\nrun_until(\"2025-12-31\");\n",
    )
    .unwrap();
    let out = chokepoint(&[
        "run",
        script.to_str().unwrap(),
        "--model",
        "models/world-2024.yaml",
    ]);
    let said = text(&out);
    let line = said
        .lines()
        .find(|l| l.contains("policy receipts MY"))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(
        line.contains("the duty its tariffs collected") && !line.contains("stockpile"),
        "{line}"
    );
    // The script states no expectation: nothing passed, and it says what `test` would do.
    assert!(
        said.contains("expectations: none stated (`chokepoint test` fails"),
        "{said}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_sweep_on_another_model_follows_figures_that_model_records() {
    // The default figures are world-2024's keys; a model without them gets its own most
    // telling shortfall, price and policy cost, with a note, not an error.
    let dir = temp("duo-sweep");
    let script = dir.join("duo.rhai");
    std::fs::write(
        &script,
        "let x = param(\"x\", 0.5);\nat(\"2030-03-04\", || export_licence(\"DRG\", #{ approval: x, delay_days: 42 }));\nrun_to_end();\nexpect(true, \"ran\");\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = chokepoint(&[
        "sweep",
        script.to_str().unwrap(),
        "--model",
        "crates/core/tests/fixtures/duo.yaml",
        "--runs",
        "4",
        "--set",
        "x=0..1",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("the default figures are world-2024's"),
        "{said}"
    );
    let runs = std::fs::read_to_string(out_dir.join("runs.csv")).unwrap();
    let head = runs.lines().next().unwrap();
    for metric in ["shortfall[", "price[", "policy_cost["] {
        assert!(head.contains(metric), "{head}");
    }
    // Its report names its own main supplier's customers, not world-2024's.
    let run_dir = dir.join("run");
    let out = chokepoint(&[
        "run",
        script.to_str().unwrap(),
        "--model",
        "crates/core/tests/fixtures/duo.yaml",
        "--out",
        run_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    assert!(
        html.contains("Import dependency of KGR, EGL"),
        "DRG supplies"
    );
    // A figure the user names that the model lacks is still an error.
    let out = chokepoint(&[
        "sweep",
        script.to_str().unwrap(),
        "--model",
        "crates/core/tests/fixtures/duo.yaml",
        "--runs",
        "2",
        "--metric",
        "price=ROW/oxide:Dy",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn headlines_name_the_models_own_step() {
    // duo.yaml stepped every 30 days: a shortfall's date is of a 30-day step, not a week.
    let dir = temp("duo-steps");
    let fixtures = root().join("crates/core/tests/fixtures");
    let weekly = std::fs::read_to_string(fixtures.join("duo.yaml")).unwrap();
    let monthly = weekly.replacen("  seed: 3\n", "  seed: 3\n  step_days: 30\n", 1);
    assert_ne!(monthly, weekly);
    std::fs::write(dir.join("duo.yaml"), monthly).unwrap();
    std::fs::copy(
        fixtures.join("duo-behaviour.yaml"),
        dir.join("duo-behaviour.yaml"),
    )
    .unwrap();
    let script = dir.join("ban.rhai");
    std::fs::write(
        &script,
        "at(\"2030-04-01\", || export_ban(\"DRG\", #{ forms: [\"perm:X\", \"alloy\"] }));\nrun_to_end();\nexpect(true, \"ran\");\n",
    )
    .unwrap();
    let out = chokepoint(&[
        "run",
        script.to_str().unwrap(),
        "--model",
        dir.join("duo.yaml").to_str().unwrap(),
    ]);
    let said = text(&out);
    assert!(said.contains("(30-day step of "), "{said}");
    assert!(!said.contains("(week of "), "{said}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_repl_session_saved_below_its_directory_names_a_model_run_can_find() {
    // `repl --model duo.yaml` in a directory, `:save out/r.rhai`: the model is not beside
    // the script nor in a project's models/, but in the directory above it, where `run`
    // finds it from anywhere.
    let dir = temp("repl-save-model");
    let fixtures = root().join("crates/core/tests/fixtures");
    for f in ["duo.yaml", "duo-behaviour.yaml"] {
        std::fs::copy(fixtures.join(f), dir.join(f)).unwrap();
    }
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let out = repl_in(
        &dir,
        &dir,
        &["--model", "duo.yaml"],
        b"step(2);\n:save out/r.rhai\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let saved = std::fs::read_to_string(dir.join("out/r.rhai")).unwrap();
    // (`run` finds it in the directory above the script, from anywhere.)
    assert!(saved.contains("\n// model: duo.yaml\n"), "{saved}");
    let out = chokepoint(&["run", dir.join("out/r.rhai").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_trial_of_a_lines_actions_and_an_undone_line_leave_captured_variables_as_they_were() {
    // A line that sets up actions is tried to the model's end, and a failed line is undone:
    // neither may change what a closure's captured variables hold (a counter that had run
    // to 627 before the first step, a release that then never happened in the session).
    let dir = temp("repl-captured");
    let out = piped_repl(
        &dir,
        b"let n = 0;\nwhenever(|| true, || n += 1);\nprint(n);\n:step 2\nprint(n);\n\
          let y = 1;\nat(\"2030-01-07\", || print(y));\ny += 5; lift(\"CN\", \"nope\");\nprint(y);\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let printed: Vec<&str> = (stdout.lines())
        .filter(|l| l.chars().all(|c| c.is_ascii_digit()) && !l.is_empty())
        .collect();
    assert_eq!(printed, ["0", "2", "1"], "{}", text(&out));
    assert_eq!(out.status.code(), Some(2), "the failed line counts");
}

#[cfg(unix)]
#[test]
fn a_module_must_be_a_file_under_the_scripts_directory_and_no_larger_than_a_script() {
    // A link out of the scripts directory is an escape however the name reads; a device is
    // not read without end; a module larger than a script may be is refused.
    let dir = temp("import-sandbox");
    let (scripts, outside) = (dir.join("scripts"), dir.join("outside"));
    std::fs::create_dir_all(scripts.join("lib")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.rhai"), "fn secret() { 42 }\n").unwrap();
    let link = |to: &Path, name: &str| {
        let at = scripts.join("lib").join(name);
        let _ = std::fs::remove_file(&at);
        std::os::unix::fs::symlink(to, at).unwrap();
    };
    link(&outside.join("secret.rhai"), "evil.rhai");
    link(Path::new("/dev/zero"), "zero.rhai");
    std::fs::write(scripts.join("lib/big.rhai"), "// x\n".repeat(300_000)).unwrap();
    std::fs::write(scripts.join("lib/fine.rhai"), "fn fine() { 1 }\n").unwrap();
    link(&scripts.join("lib/fine.rhai"), "alias.rhai");
    let model = root().join("models/world-2024.yaml");
    for (module, said) in [
        ("evil", "cannot import 'lib/evil': it leads out of"),
        (
            "zero",
            "cannot import 'lib/zero': it is a device, not a file",
        ),
        (
            "big",
            "cannot import 'lib/big': it is 1500000 bytes, over the 1048576",
        ),
        ("alias", ""),
    ] {
        let script = scripts.join(format!("t-{module}.rhai"));
        std::fs::write(
            &script,
            format!("import \"lib/{module}\" as m;\nrun_until(\"2024-01-15\");\n"),
        )
        .unwrap();
        let out = chokepoint(&[
            "run",
            &script.to_string_lossy(),
            "--model",
            &model.to_string_lossy(),
        ]);
        if said.is_empty() {
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        } else {
            assert_eq!(out.status.code(), Some(2), "{}", text(&out));
            assert!(text(&out).contains(said), "{}", text(&out));
            assert!(!text(&out).contains("secret()"), "{}", text(&out));
        }
    }
}

#[test]
fn a_failed_expectation_with_nothing_to_add_ends_its_line_with_its_message() {
    let dir = temp("expect-bare");
    let script = dir.join("bare.rhai");
    std::fs::write(&script, "step(1);\nexpect(1 > 2, \"Dy above 1000\");\n").unwrap();
    let out = chokepoint(&["run", &script.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out)
            .lines()
            .any(|l| l.ends_with("FAILED line 2: Dy above 1000")),
        "{}",
        text(&out)
    );
}

#[test]
fn a_set_whose_param_the_run_never_reaches_gets_a_note() {
    // In the script, so meant (not a typo), but never reached: the value changed nothing.
    let dir = temp("set-unreached");
    let script = dir.join("unreached.rhai");
    std::fs::write(
        &script,
        "if false { let a = param(\"never\", 0.5); }\nlet b = param(\"used\", 1.0);\nrun_until(\"2024-02-01\");\n",
    )
    .unwrap();
    let s = script.to_string_lossy().into_owned();
    let said = "note: --set never: the run never reached param(\"never\")";
    let out = chokepoint(&["run", &s, "--set", "never=3", "--set", "used=2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(said), "{}", text(&out));
    assert!(!text(&out).contains("--set used"), "{}", text(&out));
    let o = dir.join("sweep").to_string_lossy().into_owned();
    let out = chokepoint(&[
        "sweep",
        &s,
        "--set",
        "never=0..1",
        "--runs",
        "2",
        "--out",
        &o,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(said), "{}", text(&out));
    // Counted over all the runs, not judged on the first, and kept in the summary: here
    // `y` is read only where the drawn `x` is above 0.5.
    let partial = dir.join("partial.rhai");
    std::fs::write(
        &partial,
        "let x = param(\"x\", 0.5);\nif x > 0.5 { let y = param(\"y\", 1.0); }\nrun_until(\"2024-02-01\");\n",
    )
    .unwrap();
    let o = dir.join("partial-sweep");
    let out = chokepoint(&[
        "sweep",
        &partial.to_string_lossy(),
        "--set",
        "x=0..1",
        "--set",
        "y=0..1",
        "--runs",
        "40",
        "--out",
        &o.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let line = (text(&out).lines())
        .find(|l| l.contains("never reached param(\"y\")"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("{}", text(&out)));
    let n: u32 = line
        .rsplit_once("(in ")
        .and_then(|(_, r)| r.split_once(" of 40 runs)"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!((5..=35).contains(&n), "{line}");
    assert!(!text(&out).contains("param(\"x\")"), "{}", text(&out));
    let summary = std::fs::read_to_string(o.join("summary.json")).unwrap();
    assert!(
        summary.contains("never reached param(\\\"y\\\")"),
        "{summary}"
    );
}

#[test]
fn a_seed_that_is_not_a_whole_number_is_said_to_be_one() {
    for (cmd, seed) in [
        ("run", "-1"),
        ("sweep", "-5"),
        ("run", "1.5"),
        ("sweep", "x"),
    ] {
        let out = chokepoint(&[cmd, "scripts/baseline-2024.rhai", "--seed", seed]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            text(&out).contains(&format!(
                "'{seed}' is not a seed: a whole number from 0 to 18446744073709551615"
            )),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn the_repl_shows_the_models_warnings_as_run_does() {
    let dir = temp("repl-warnings");
    let out = repl_in(
        &root(),
        &dir,
        &["--model", "crates/core/tests/fixtures/duo.yaml"],
        b":quit\n",
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("warning: crates/core/tests/fixtures/duo.yaml:52:3: sectors[3]: sector 'glass-kgr' has a recycle_rate but the model has no `scrap` form"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_backtick_string_over_several_lines_is_read_to_its_end_in_the_repl() {
    let dir = temp("repl-backtick");
    let out = piped_repl(&dir, b"let s = `two\nlines`;\nprint(s.len());\n");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == "9"),
        "{}",
        text(&out)
    );
}

#[test]
fn compare_peaks_a_running_total_at_its_largest_in_size_as_a_sweep_does() {
    // A stockpile that sells earns its country money back: the policy cost runs below zero,
    // and its peak is its most negative, not the start's zero (a plain maximum), so the row
    // shows a difference instead of dropping out as 0 against 0.
    let dir = temp("compare-receipts");
    let model = root().join("models/world-2024.yaml");
    let write = |name: &str, body: &str| {
        let p = dir.join(name);
        let header = format!("// title: {name}\n// model: {}\n", model.display());
        std::fs::write(
            &p,
            format!("{header}{body}\nrun_until(\"2024-12-30\");\nexpect(true, \"ran\");\n"),
        )
        .unwrap();
        p.to_string_lossy().into_owned()
    };
    let a = write("a.rhai", "");
    let b = write("b.rhai", "stockpile_release(\"us-nds-ndfeb\", 200.0);");
    let out_dir = dir.join("out");
    let out = chokepoint(&["compare", &a, &b, "--out", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let csv = std::fs::read_to_string(out_dir.join("compare.csv")).unwrap();
    let row = (csv.lines())
        .find(|l| l.starts_with("policy_cost,US,peak,"))
        .unwrap_or_else(|| panic!("no peak row for US policy cost:\n{csv}"));
    let b_peak: f64 = row.split(',').nth(4).unwrap().parse().unwrap();
    let final_row = (csv.lines())
        .find(|l| l.starts_with("policy_cost,US,final,"))
        .unwrap();
    let b_final: f64 = final_row.split(',').nth(4).unwrap().parse().unwrap();
    assert!(b_peak < -1e6, "{row}");
    assert!(b_peak <= b_final, "{row} / {final_row}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn run_shows_a_failed_expectations_message_on_one_line_without_escapes() {
    // As `test` does: an escape sequence or newline in a message is shown, not obeyed.
    let dir = temp("escape");
    let p = dir.join("esc.rhai");
    std::fs::write(
        &p,
        "expect(1 > 2, \"x \\u001b[31mred\\nsecond\");\nrun_until(\"2024-02-01\");\n",
    )
    .unwrap();
    let out = chokepoint(&["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(!t.contains('\u{1b}'), "{t:?}");
    assert!(t.contains("x ?[31mred?second"), "{t}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_repl_reads_braces_and_colons_inside_strings_as_text() {
    let home = temp("repl-strings");
    // A `{` in a string opens no block: the syntax error is reported, and the session goes
    // on (it used to wait for the block's end, swallowing the lines after it).
    let out = piped_repl(&home, b"let bad = \"{\" +;\nprint(`ok ${1 + 1}`);\n");
    let t = text(&out);
    assert!(t.contains("Unexpected ';'") && t.contains("ok 2"), "{t}");
    assert_eq!(out.status.code(), Some(2), "{t}");
    // A line that starts with `:` inside a string over lines is part of it, not a command.
    let out = piped_repl(
        &home,
        b"let s = `a\n:not a command\nb`;\nprint(`len ${s.len()}`);\n",
    );
    let t = text(&out);
    assert!(!t.contains("unknown command"), "{t}");
    assert!(
        t.contains("len 18"),
        "a, the line, b and two line breaks: {t}"
    );
    // Unfinished input a command drops is a failure of the session.
    let out = piped_repl(
        &home,
        b"export_ban(\"CN\", #{ elements: [\"Dy\"],\n:step 1\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("unfinished input before :step 1 is dropped"));
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn the_repl_refuses_to_redefine_a_function_an_earlier_input_ran() {
    // A saved scenario holds one definition of a function, the last: an input that ran with
    // the old body (a ban on Dy and Tb) would replay with the new one (a ban on Ce).
    let home = temp("repl-redefine-2");
    let out = piped_repl(
        &home,
        b"fn els() { [\"Dy\", \"Tb\"] }\n\
          fn wrap() { els() }\n\
          fn els() { [\"Dy\"] }\n\
          export_ban(\"CN\", #{ elements: wrap(), label: \"a\" });\n\
          fn els() { [\"Ce\"] }\n\
          fn f() { 1 }\n\
          at(\"2024-03-04\", || print(`f is ${f()}`));\n\
          fn f() { 2 }\n\
          :step 12\n",
    );
    let t = text(&out);
    assert!(
        t.contains("els() is used by an earlier input (`export_ban(\"CN\", #{ elements: wrap(), label: \"a\" });`) (through wrap())"),
        "{t}"
    );
    assert!(t.contains("f() is used by an earlier input"), "{t}");
    // Defined again before any input used it: fine, and the old body is gone.
    assert_eq!(t.matches("is used by an earlier input").count(), 2, "{t}");
    assert!(t.contains("f is 1"), "{t}");
    // An input that ran another function of a line that uses it (b, not a), or that only
    // defined a function using it, ran none of its body: redefining it is fine.
    let out = piped_repl(
        &home,
        b"fn helper() { 1 }
fn a() { helper() } fn b() { 2 }
b();
fn helper() { 3 }
          fn a2() { helper() } let x = 1;
fn helper() { 4 }
print(`fine ${a()}`);
",
    );
    let t = text(&out);
    assert!(!t.contains("is used by an earlier input"), "{t}");
    assert!(t.contains("fine 4"), "{t}");
    // Through a pointer or as a method the input ran it too (the saved script replayed the
    // new body: a 10% tariff that fired came back as 90%, review 2026-12-01); a string
    // that only shares its name (a label) is no call.
    let out = piped_repl(
        &home,
        b"fn g() { tariff(\"US\", \"CN\", 0.1); }
at(\"2024-02-05\", Fn(\"g\"));
:run-to 2024-04-01
fn g() { tariff(\"US\", \"CN\", 0.9); }
fn rate() { this * 0.1 }
let r = 1.0;
tariff(\"US\", \"CN\", r.rate());
fn rate() { this * 0.9 }
fn ban() { 1 }
export_ban(\"CN\", #{ elements: [\"Dy\"], label: \"ban\" });
lift(\"CN\", \"ban\");
fn ban() { 2 }
fn cut(x) { x * 0.5 }
let shares = [0.8].map(\"cut\");
fn cut(x) { x * 0.1 }
fn g4(x) { x * 2 }
let arr2 = [1, 2].map(g4);
fn g4(x) { x * 5 }
",
    );
    let t = text(&out);
    // By its name as a string or bare, as a function's argument (review).
    assert!(t.contains("cut() is used by an earlier input"), "{t}");
    assert!(t.contains("g4() is used by an earlier input"), "{t}");
    assert!(
        t.contains("g() is used by an earlier input (`at(\"2024-02-05\", Fn(\"g\"));`)"),
        "{t}"
    );
    assert!(t.contains("rate() is used by an earlier input"), "{t}");
    assert!(!t.contains("ban() is used"), "{t}");
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn the_repl_saves_to_a_path_quoted_as_a_shell_would_or_under_home() {
    let home = temp("repl-save-quoted");
    let spaced = home.join("d ir");
    std::fs::create_dir_all(&spaced).unwrap();
    let input = format!(
        "export_ban(\"CN\", #{{ elements: [\"Dy\"] }});\n:step 0\n:save '{}'\n:save ~/tilde.rhai\n",
        spaced.join("single.rhai").display()
    );
    let out = piped_repl(&home, input.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("still at 2024-01-01 (no step taken)"));
    let saved = std::fs::read_to_string(spaced.join("single.rhai")).unwrap();
    // A move that took no step is not saved.
    assert!(!saved.contains("step(0)"), "{saved}");
    assert!(home.join("tilde.rhai").is_file(), "{}", text(&out));
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn the_repl_places_a_failing_action_of_this_very_line_on_it() {
    // The trial of this line's own action failed: it was said to be "set up on an earlier
    // input".
    let home = temp("repl-this-line");
    let out = piped_repl(
        &home,
        b"at(\"2024-03-04\", || { let i = 0; loop { i += 1; } });\n",
    );
    let t = text(&out);
    // The trial runs every action set up so far: it says the closure may be on either.
    assert!(
        t.contains("in a closure set up on this input or an earlier one"),
        "{t}"
    );
    assert!(!t.contains("on an earlier input"), "{t}");
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn the_repl_refuses_a_model_line_and_saves_a_script_run_replays() {
    // It was taken as a comment, and `:save` then wrote a script with two `// model:`
    // lines, which `run` refuses.
    let home = temp("repl-model-line");
    let file = home.join("s.rhai");
    let input = format!(
        "// Model: world-2010\n/* a note */ // model: world-2010\nexport_ban(\"CN\", #{{elements: [\"Dy\"]}});\n:save {}\n",
        file.display()
    );
    let out = piped_repl(&home, input.as_bytes());
    let t = text(&out);
    assert_eq!(
        t.matches("error: a `// model:` line does not change the session's model")
            .count(),
        2,
        "{t}"
    );
    assert!(t.contains("saved 1 input"), "{t}");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert_eq!(saved.matches("model:").count(), 1, "{saved}");
    let run = chokepoint(&["run", file.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn the_repl_says_why_an_earlier_inputs_constant_is_not_in_global() {
    // `run` of the same text works; the REPL said only "Variable not found: K" (review).
    let home = temp("repl-global-const");
    let out = piped_repl(
        &home,
        b"const K = 0.2; fn f() { global::K } print(`first ${f()}`);\n\
          const K = 0.2; print(`again ${f()}`);\n\
          print(`later ${f()}`);\n",
    );
    let t = text(&out);
    assert!(t.contains("first 0.2") && t.contains("again 0.2"), "{t}");
    assert!(!t.contains("later 0.2"), "{t}");
    assert!(
        t.contains("help: in the REPL, a function sees in `global::` only the constants declared on the input that calls it"),
        "{t}"
    );
}

#[test]
fn the_repl_checks_the_ids_of_an_action_that_may_never_fire_as_run_does() {
    // A trigger that never fired let an unknown id by in the session, and `:save` wrote a
    // script `run` refuses. The line is refused as it is typed, as `run` would refuse it.
    let home = temp("repl-save-checked");
    let save = home.join("f.rhai");
    let input = format!(
        "when(|| false, || export_ban(\"CN\", #{{ to: [\"XX\"] }}));\n:step 1\n:save {}\n",
        save.display()
    );
    let out = piped_repl(&home, input.as_bytes());
    let t = text(&out);
    assert!(
        t.contains("to[0]: unknown country, firm or group 'XX'"),
        "{t}"
    );
    assert!(t.contains("checked before the run"), "{t}");
    assert_eq!(
        out.status.code(),
        Some(2),
        "a piped session with a refused line: {t}"
    );
    let replay = chokepoint(&["run", save.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn a_report_of_one_step_marks_its_single_values() {
    // A line through one point draws nothing: each chart's one value is a dot.
    let dir = temp("one-step-report");
    let script = dir.join("one.rhai");
    std::fs::write(&script, "step(1);\nexpect(true, \"ran\");\n").unwrap();
    let out_dir = dir.join("out");
    let out = chokepoint(&[
        "run",
        script.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    let lines = html.matches("<polyline").count();
    assert!(lines > 0);
    assert_eq!(
        html.matches("<circle").count(),
        lines,
        "a dot for every one-value line"
    );
    // A run of no step has nothing to chart, and says so (it drew empty charts with
    // legends).
    std::fs::write(&script, "step(0);\nexpect(true, \"ran\");\n").unwrap();
    let none = dir.join("none");
    let out = chokepoint(&[
        "run",
        script.to_str().unwrap(),
        "--out",
        none.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let html = std::fs::read_to_string(none.join("report.html")).unwrap();
    assert!(
        !html.contains("<polyline") && !html.contains("<svg"),
        "{html}"
    );
    assert!(
        html.contains("nothing to show (the run made no step)"),
        "{html}"
    );
    assert!(
        text(&out).contains("warning: the run took no step"),
        "{}",
        text(&out)
    );
    // A replay fails it: a scenario that simulates nothing checks nothing.
    let o = chokepoint(&["test", script.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("FAILED") && text(&o).contains("the run took no step"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_junit_report_gets_its_directories_and_keeps_off_other_outputs() {
    let dir = temp("junit-dirs");
    // Made on the way, as --out is.
    let nested = dir.join("ci/reports/junit.xml");
    let o = chokepoint(&[
        "test",
        "scripts/whatif-heavy-ban-us-6m.rhai",
        "--junit",
        nested.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(std::fs::read_to_string(&nested)
        .unwrap()
        .contains("<testsuite"));
    // A run's directory keeps its summary.json.
    let out = dir.join("run");
    let o = chokepoint(&[
        "run",
        "scripts/whatif-heavy-ban-us-6m.rhai",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let summary = std::fs::read(out.join("summary.json")).unwrap();
    let o = chokepoint(&[
        "test",
        "scripts/whatif-heavy-ban-us-6m.rhai",
        "--junit",
        out.join("summary.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("that directory holds another command's output (series.csv), and summary.json is one of its files"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(out.join("summary.json")).unwrap(), summary);
    // An --out that is a link to nothing says so.
    let link = dir.join("dangling");
    std::os::unix::fs::symlink(dir.join("nowhere"), &link).unwrap();
    let o = chokepoint(&[
        "run",
        "scripts/whatif-heavy-ban-us-6m.rhai",
        "--out",
        link.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("is a link to"), "{}", text(&o));
    assert!(text(&o).contains("which does not exist"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_run_leaves_no_earlier_results_in_its_out_directory() {
    let dir = temp("void-earlier");
    let out = dir.join("out");
    let o = chokepoint(&[
        "run",
        "scripts/whatif-heavy-ban-us-6m.rhai",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let bad = dir.join("bad.rhai");
    std::fs::write(&bad, "close(\"nowhere-mine\");\n").unwrap();
    let o = chokepoint(&["run", bad.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["passed"], false);
    assert_eq!(summary["finished"], false);
    assert!(summary["error"]
        .as_str()
        .unwrap()
        .contains("unknown facility 'nowhere-mine'"));
    assert!(!out.join("series.csv").exists() && !out.join("report.html").exists());
    // A run stopped by its time limit is no result either.
    let o = chokepoint(&[
        "run",
        "scripts/whatif-heavy-ban-us-6m.rhai",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = chokepoint(&[
        "run",
        "scripts/whatif-heavy-ban-us-6m.rhai",
        "--out",
        out.to_str().unwrap(),
        "--time-limit",
        "0.001",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("\"passed\": false"), "{summary}");
    // A fresh directory a failed run made is taken away, not left holding a failure.
    let fresh = dir.join("fresh");
    let o = chokepoint(&[
        "run",
        bad.to_str().unwrap(),
        "--out",
        fresh.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!fresh.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_report_of_a_quiet_run_draws_no_rounding_blips_and_says_no_levers_were_pulled() {
    let dir = temp("quiet-report");
    let o = chokepoint(&[
        "run",
        "scripts/baseline-2024.rhai",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    // The start-up week's 0.01% short in China is no finding, as the headlines have it.
    assert!(
        html.contains("Shortfall by region: nothing to show (none reached half a percent)"),
        "{html}"
    );
    assert!(html.contains("<h2>Levers pulled</h2><p>None: the model as it stands.</p>"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_compare_report_states_each_sides_expectations_and_when_nothing_differs() {
    let dir = temp("compare-expectations");
    let script = dir.join("dear.rhai");
    std::fs::write(
        &script,
        "run_until(\"2024-03-01\");\nexpect(current(price(\"oxide:Dy\", \"ROW\")) > 1000, \"Dy above $1000\");\n",
    )
    .unwrap();
    let out = dir.join("out");
    let s = script.to_str().unwrap();
    let o = chokepoint(&["compare", s, s, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("<p><b>B</b>: expectations 0 passed, 1 failed; 0 levers pulled.</p>"),
        "{html}"
    );
    assert!(html.contains("FAILED line 2: Dy above $1000"), "{html}");
    assert!(
        html.contains("figures compared: none differs.</p>"),
        "{html}"
    );
    assert!(!html.contains("<th>series</th>"), "no empty table");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_repl_id_check_counts_a_function_the_session_defined_earlier_as_its_own() {
    let home = temp("repl-own-fn");
    let input = "fn tariff(who, on, rate) { print(`my tariff ${who}`); }\nat(\"2024-03-01\", || tariff(\"EUROPE\", \"CN\", 0.1));\n:run-to 2024-03-04\n";
    let out = piped_repl(&home, input.as_bytes());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("my tariff EUROPE"), "{t}");
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn what_a_script_prints_past_16_mib_is_counted_not_kept() {
    // 3,000 prints of a 1 MiB string: kept whole, they filled memory and the run stopped as
    // one "holding too much data" (bad-input review, 2026-12-01). The run ends as usual,
    // the first 16 MiB kept and the rest counted.
    let dir = temp("print-limit");
    let script = dir.join("spam.rhai");
    std::fs::write(
        &script,
        "let s = \"abcdefgh\"; for i in 0..17 { s += s; }\nfor i in 0..3000 { print(s); }\nexpect(true, \"ran\");\n",
    )
    .unwrap();
    let out = chokepoint(&[
        "run",
        script.to_str().unwrap(),
        "--out",
        dir.join("o").to_str().unwrap(),
    ]);
    let said = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        &said[said.len().saturating_sub(2000)..]
    );
    assert!(
        said.contains(
            "note: the script printed more than 16 MiB: the 2984 lines after that were not kept"
        ),
        "{}",
        &said[said.len().saturating_sub(2000)..]
    );
    // The report shows what the script printed, up to a MiB of it (one of the 16 lines
    // kept).
    let report = std::fs::read_to_string(dir.join("o/report.html")).unwrap();
    assert!(report.len() < 4 << 20, "{}", report.len());
    assert!(
        report.contains("<h2>What the script printed</h2>")
            && report.contains("more lines (the terminal showed them)"),
        "{}",
        &report[..2000.min(report.len())]
    );
}

#[test]
fn a_script_that_holds_too_much_is_stopped_alone_not_the_scripts_after_it() {
    // Memory an earlier scenario freed, which the allocator may keep, and what other runs
    // hold, count against no one: each run is measured on its own thread's allocations.
    let dir = temp("memory");
    let hog = root().join("tests/adversarial/33-map-of-long-strings.rhai");
    std::fs::copy(&hog, dir.join("a-hog.rhai")).unwrap();
    for name in ["b", "c", "d"] {
        std::fs::write(
            dir.join(format!("{name}-small.rhai")),
            "let q = 0;\nfor i in 0..20000 { q += i; }\nrun_until(\"2024-01-15\");\n\
             expect(q > 0, \"it ran\");\n",
        )
        .unwrap();
    }
    for _ in 0..2 {
        let out = chokepoint(&["test", dir.to_str().unwrap()]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{t}");
        assert!(t.contains("3 passed, 1 failed"), "{t}");
        assert!(
            t.contains("a-hog.rhai") && t.contains("holds too much data"),
            "{t}"
        );
    }
}

#[test]
fn warnings_go_to_stderr_in_run_compare_and_sweep() {
    let dir = temp("warned");
    let late = dir.join("late.rhai");
    std::fs::write(
        &late,
        "at(\"2025-01-06\", || export_ban(\"CN\", #{ label: \"b\" }));\n\
         run_until(\"2024-03-01\");\nexpect(true, \"t\");\nprint(\"red \\x1b[31mRED\\x1b[0m bell \\x07\");\n",
    )
    .unwrap();
    let said = "the action set up for 2025-01-06 never ran";
    let run = chokepoint(&["run", late.to_str().unwrap()]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    assert!(
        stderr.contains(&format!("warning: line 1: {said}")) || stderr.contains(said),
        "{stderr}"
    );
    assert!(!stdout.contains(said), "{stdout}");
    // What a script prints reaches the terminal without its escape sequences.
    assert!(stdout.contains("red ?[31mRED?[0m bell ?"), "{stdout}");
    let cmp = chokepoint(&["compare", late.to_str().unwrap(), late.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&cmp.stderr).contains(said),
        "{}",
        text(&cmp)
    );
    let sw = chokepoint(&[
        "sweep",
        late.to_str().unwrap(),
        "--runs",
        "2",
        "--out",
        dir.join("sw").to_str().unwrap(),
    ]);
    let t = String::from_utf8_lossy(&sw.stderr);
    assert!(
        t.contains(said) && t.contains("(in 2 of 2 runs)"),
        "{}",
        text(&sw)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_sweep_or_comparison_leaves_no_earlier_results_to_be_read_as_its_own() {
    let dir = temp("void");
    let s = dir.join("s.rhai");
    // Runs with a above 0.5 divide by zero in 2024.
    std::fs::write(
        &s,
        "let a = param(\"a\", 0.0);\nat(\"2024-02-05\", || { if a > 0.5 { let x = 1 / 0; } });\n\
         run_until(\"2024-03-01\");\nexpect(true, \"t\");\n",
    )
    .unwrap();
    let sw = dir.join("sw");
    let sweep = |range: &str| {
        chokepoint(&[
            "sweep",
            s.to_str().unwrap(),
            "--grid",
            "3",
            "--set",
            range,
            "--out",
            sw.to_str().unwrap(),
        ])
    };
    let ok = sweep("a=0..0.4");
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(sw.join("runs.csv").is_file() && sw.join("report.html").is_file());
    let failed = sweep("a=0..1");
    assert_eq!(failed.status.code(), Some(2), "{}", text(&failed));
    for f in [
        "runs.csv",
        "runs_series.csv",
        "bands.csv",
        "sweep.json",
        "report.html",
    ] {
        assert!(
            !sw.join(f).exists(),
            "{f} of the earlier sweep is still there"
        );
    }
    let summary = std::fs::read_to_string(sw.join("summary.json")).unwrap();
    assert!(
        summary.contains("\"finished\": false") && summary.contains("could not run"),
        "{summary}"
    );
    // A comparison's files go the same way.
    let cmp = dir.join("cmp");
    let good = root().join("scripts/baseline-2024.rhai");
    let broken = dir.join("broken.rhai");
    std::fs::write(
        &broken,
        "at(\"2024-02-05\", || { let x = 1 / 0; });\nrun_until(\"2024-03-01\");\n",
    )
    .unwrap();
    let c = chokepoint(&[
        "compare",
        s.to_str().unwrap(),
        s.to_str().unwrap(),
        "--out",
        cmp.to_str().unwrap(),
    ]);
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    assert!(cmp.join("compare.csv").is_file());
    let c = chokepoint(&[
        "compare",
        good.to_str().unwrap(),
        broken.to_str().unwrap(),
        "--out",
        cmp.to_str().unwrap(),
    ]);
    assert_eq!(c.status.code(), Some(2), "{}", text(&c));
    assert!(!cmp.join("compare.csv").exists() && !cmp.join("report.html").exists());
    // The error names the simulated date it happened on.
    assert!(
        text(&c).contains("when the run was at the step of 2024-02-05"),
        "{}",
        text(&c)
    );
    // A directory whose report.html no chokepoint command wrote (an analyst's own) is
    // refused before anything runs, by every command: it is neither removed by a command
    // that fails nor overwritten by one that finishes (both happened until 2026-11-30).
    let mine = dir.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("report.html"), "<html>my own</html>").unwrap();
    let m = mine.to_str().unwrap();
    let (sc, g) = (s.to_str().unwrap(), good.to_str().unwrap());
    for args in [
        vec!["sweep", sc, "--grid", "3", "--set", "a=0..1", "--out", m],
        vec!["sweep", sc, "--grid", "3", "--set", "a=0..0.4", "--out", m],
        vec!["compare", g, broken.to_str().unwrap(), "--out", m],
        vec!["run", sc, "--out", m],
    ] {
        let o = chokepoint(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains(
                "holds report.html, which no chokepoint command of this kind wrote there"
            ),
            "{args:?}: {}",
            text(&o)
        );
        let kept = std::fs::read_to_string(mine.join("report.html")).unwrap();
        assert_eq!(kept, "<html>my own</html>", "{args:?}");
        assert!(!mine.join("summary.json").exists(), "{args:?}");
    }
    // Nor by a command that fails on its arguments before it reads --out (a malformed
    // --set made compare void the directory first, deleting the analyst's report).
    let o = chokepoint(&["compare", g, g, "--out", m, "--set", "approval"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(mine.join("report.html")).unwrap(),
        "<html>my own</html>"
    );
    // A file is the command's by what it holds, not its name: an analyst's series.csv
    // beside the report is no run's output.
    std::fs::write(mine.join("series.csv"), "date,value\n").unwrap();
    let o = chokepoint(&["run", sc, "--out", m, "--set", "nosuch=1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(mine.join("series.csv")).unwrap(),
        "date,value\n"
    );
    let o = chokepoint(&["run", sc, "--out", m]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "holds series.csv, report.html, which no chokepoint command of this kind wrote there"
        ),
        "{}",
        text(&o)
    );
    // A run's directory whose series.csv was pruned (kept as CI artifacts, say) is still a
    // run's: its summary.json says so.
    let pruned = dir.join("pruned");
    let p = pruned.to_str().unwrap();
    assert_eq!(chokepoint(&["run", sc, "--out", p]).status.code(), Some(0));
    std::fs::remove_file(pruned.join("series.csv")).unwrap();
    let o = chokepoint(&["run", sc, "--out", p]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Nor is the filesystem's root an output directory.
    let o = chokepoint(&["run", sc, "--out", "/"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("is the filesystem's root"),
        "{}",
        text(&o)
    );
    // A directory the failed sweep left (its summary.json says why) takes the next one.
    let again = sweep("a=0..0.4");
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_says_how_many_failures_could_not_run_and_merge_names_a_missing_shard() {
    let dir = temp("counts");
    std::fs::write(
        dir.join("a-good.rhai"),
        "run_until(\"2024-02-01\");\nexpect(true, \"t\");\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b-failing.rhai"),
        "run_until(\"2024-02-01\");\nexpect(false, \"f\");\n",
    )
    .unwrap();
    std::fs::write(dir.join("c-broken.rhai"), "run_until(\"2024-02-01\"\n").unwrap();
    let t = chokepoint(&["test", dir.to_str().unwrap()]);
    assert!(
        text(&t).contains("1 passed, 2 failed (1 of them could not run)"),
        "{}",
        text(&t)
    );
    // A --junit name ending in a slash names a directory.
    let j = chokepoint(&[
        "test",
        dir.join("a-good.rhai").to_str().unwrap(),
        "--junit",
        "newdir/",
    ]);
    assert_eq!(j.status.code(), Some(2), "{}", text(&j));
    assert!(text(&j).contains("give a file name"), "{}", text(&j));
    let m = chokepoint(&[
        "merge",
        dir.join("nope").to_str().unwrap(),
        "--out",
        dir.join("m").to_str().unwrap(),
    ]);
    assert_eq!(m.status.code(), Some(2), "{}", text(&m));
    assert!(text(&m).contains("no such directory"), "{}", text(&m));
    // Named after a directory that is no shard, the missing one is still what is named.
    let m = chokepoint(&[
        "merge",
        dir.to_str().unwrap(),
        dir.join("nope").to_str().unwrap(),
        "--out",
        dir.join("m").to_str().unwrap(),
    ]);
    assert_eq!(m.status.code(), Some(2), "{}", text(&m));
    assert!(text(&m).contains("nope: no such directory"), "{}", text(&m));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_warns_of_what_a_valid_model_still_gets_wrong() {
    let mini =
        std::fs::read_to_string(root().join("crates/core/tests/fixtures/mini.yaml")).unwrap();
    let dir = temp("warns");
    let variants = [
        (
            "no-tb",
            mini.replace("Dy: 0.007, Tb: 0.003", "Dy: 0.01, Tb: 0")
                .replace("Dy: 0.20, Tb: 0.10", "Dy: 0.30, Tb: 0")
                .replace("Dy: 0.01, Tb: 0.01", "Dy: 0.02, Tb: 0"),
            "no deposit holds Tb",
        ),
        (
            "no-re-share",
            mini.replace("    re_share: 0.3\n", ""),
            "form 'magnet:NdFeB' has no re_share below 1",
        ),
        (
            "fortnightly",
            mini.replace("step_days: 7", "step_days: 14"),
            "calibrated at weekly steps",
        ),
        (
            "open-two-days",
            mini.replace(
                "start: 2025-01-01, ramp_months: 12",
                "start: 2025-01-01, end: 2025-01-03",
            ),
            "facility 'us-magnet' is open from 2025-01-01 to 2025-01-03, and no step begins then",
        ),
    ];
    let all_said: Vec<&str> = variants.iter().map(|v| v.2).collect();
    for (name, text_of, said) in variants {
        let p = dir.join(format!("{name}.yaml"));
        std::fs::write(&p, text_of).unwrap();
        let out = chokepoint(&["check", p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(said), "{name}: {}", text(&out));
    }
    // The fixture itself warns of none of these.
    let out = chokepoint(&["check", "crates/core/tests/fixtures/mini.yaml"]);
    let t = text(&out);
    assert!(all_said.iter().all(|w| !t.contains(w)), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_model_without_world_2024s_markets_still_gets_price_headlines_and_a_price_chart() {
    let dir = temp("duo-report");
    let s = dir.join("s.rhai");
    std::fs::write(&s, "run_until(\"2031-06-01\");\n").unwrap();
    let out = chokepoint(&[
        "run",
        s.to_str().unwrap(),
        "--model",
        "crates/core/tests/fixtures/duo.yaml",
        "--out",
        dir.join("out").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("peak price WEST/sep:Dy"),
        "{}",
        text(&out)
    );
    let html = std::fs::read_to_string(dir.join("out/report.html")).unwrap();
    assert!(!html.contains("Prices: nothing to show"), "{html}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stray_closing_bracket_in_the_repl_is_an_error_at_once_not_a_continuation() {
    // `print(1))` can never become whole: it was taken as unfinished, and the next line was
    // joined to it and lost with it.
    let dir = temp("repl-stray");
    for first in ["print(1))", "let a = [1]];", "let b = 1 }"] {
        let out = piped_repl(&dir, format!("{first}\nprint(2);\nprint(3);\n").as_bytes());
        let said = text(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let printed = stdout.lines().filter(|l| *l == "2" || *l == "3").count();
        assert_eq!(printed, 2, "{first}: {said}");
        assert!(said.contains("error"), "{first}: {said}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_caveat_on_policy_money_is_in_the_summary_json_and_the_report_too() {
    let dir = temp("money-caveat");
    let out = chokepoint(&[
        "run",
        "scripts/whatif-us-stockpile-12m-ban.rhai",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = "read them as a scale, not a sum";
    assert!(text(&out).contains(said), "{}", text(&out));
    for f in ["summary.json", "report.html"] {
        let t = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(t.contains(said), "{f}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn save_after_reset_does_not_empty_what_the_session_saved() {
    let dir = temp("repl-save-reset");
    let f = dir.join("s.rhai");
    let input = format!(
        "export_ban(\"CN\", #{{ elements: [\"Dy\"], label: \"b\" }});\n:save {}\n:reset\n:save {}\n",
        f.display(),
        f.display()
    );
    let out = piped_repl(&dir, input.as_bytes());
    let said = text(&out);
    assert!(said.contains("no statements to save"), "{said}");
    let kept = std::fs::read_to_string(&f).unwrap();
    assert!(kept.contains("export_ban"), "{kept}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_comparison_says_what_each_run_warned_of_and_noted_in_its_report() {
    let dir = temp("cmp-notes");
    let late = dir.join("late.rhai");
    std::fs::write(
        &late,
        "at(\"2025-01-06\", || export_ban(\"CN\", #{ label: \"b\" }));\n\
         entity_list(\"CN\", [\"lm-aeronautics\"]);\nrun_until(\"2024-03-01\");\nexpect(true, \"t\");\n",
    )
    .unwrap();
    let out = dir.join("out");
    let c = chokepoint(&[
        "compare",
        late.to_str().unwrap(),
        late.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    let stderr = String::from_utf8_lossy(&c.stderr);
    assert!(stderr.contains("none of the listed firms"), "{stderr}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("warning: line 1: the action set up for 2025-01-06 never ran"),
        "{html}"
    );
    assert!(html.contains("note: entity_list"), "{html}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_price_chart_draws_every_price_the_headlines_name() {
    let dir = temp("price-chart");
    let out = chokepoint(&[
        "run",
        "scripts/whatif-price-floor-collapse.rhai",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let chart_start = html.find("<figure>").expect("a chart");
    let chart = &html[chart_start..html[chart_start..].find("</figure>").unwrap() + chart_start];
    let stdout = String::from_utf8_lossy(&out.stdout);
    let named: Vec<&str> = (stdout.lines())
        .filter_map(|l| l.trim().strip_prefix("peak price "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(!named.is_empty(), "{stdout}");
    for key in named {
        assert!(
            chart.contains(key),
            "{key} is a headline but not in the price chart"
        );
    }
    // A freely traded good's price is one line in China and outside it: drawn once, under
    // both names (drawn twice, one legend entry pointed at a hidden line).
    assert!(
        chart.contains("ROW/magnet:NdFeB = CN/magnet:NdFeB"),
        "{}",
        &chart[..chart.len().min(3000)]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_report_charts_the_stockpiles_whose_holding_moved() {
    // What a stockpile scenario asks (how far the holding falls) is drawn; a run whose
    // stockpiles stood still has no such chart.
    let dir = temp("stockpile-chart");
    for (script, drawn) in [
        ("scripts/whatif-us-stockpile-12m-ban.rhai", true),
        ("scripts/2024-10-kachin-disruption.rhai", false),
    ] {
        let out = chokepoint(&["run", script, "--out", dir.to_str().unwrap()]);
        assert!(out.status.code() != Some(2), "{}", text(&out));
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        let chart = html.find("Stockpiles (t held, each in its own form; magnets in t of product)");
        assert_eq!(chart.is_some(), drawn, "{script}");
        if let Some(at) = chart {
            let fig = &html[at..at + html[at..].find("</figure>").unwrap()];
            assert!(
                fig.contains("us-nds-ndfeb") && fig.contains("<polyline"),
                "{fig}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_price_bound_at_its_start_level_is_not_called_the_models_cap() {
    // Prices that may not fall below their start rest there in a quiet world: that is their
    // balance, not "no balance there" for every price of the model.
    let dir = temp("bound-at-one");
    let s = dir.join("s.rhai");
    std::fs::write(
        &s,
        "behaviour(\"price_min_ratio\", 1.0);\nrun_until(\"2024-06-30\");\nexpect(true, \"t\");\n",
    )
    .unwrap();
    let out = chokepoint(&["run", s.to_str().unwrap()]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(!said.contains("1× floor"), "{said}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn compare_counts_a_plant_only_one_run_built_from_zero() {
    let dir = temp("cmp-built");
    let (plain, built) = (dir.join("plain.rhai"), dir.join("built.rhai"));
    std::fs::write(
        &plain,
        "run_until(\"2024-12-31\");\nexpect(true, \"ok\");\n",
    )
    .unwrap();
    std::fs::write(
        &built,
        "build(\"mp-independence-magnets\", \"mp-new\", 7000.0, \"30d\", 3.0);\n\
         run_until(\"2024-12-31\");\nexpect(true, \"ok\");\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = chokepoint(&[
        "compare",
        plain.to_str().unwrap(),
        built.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let csv = std::fs::read_to_string(out_dir.join("compare.csv")).unwrap();
    let row = (csv.lines())
        .find(|l| l.starts_with("output,mp-new,final,"))
        .unwrap_or_else(|| panic!("{csv}"));
    let cells: Vec<&str> = row.split(',').collect();
    let b: f64 = cells[4].parse().unwrap();
    assert_eq!(cells[3], "0", "{row}");
    assert!((1000.0..=7000.0).contains(&b), "{row}");
    // Across models, what one model lacks is counted, not compared as zero.
    let out = chokepoint(&[
        "compare",
        "scripts/2010-quota-crisis.rhai",
        "scripts/baseline-2024.rhai",
    ]);
    let said = text(&out);
    assert!(
        said.contains("series only A's model records and") && said.contains("are not compared"),
        "{said}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_sweeps_warnings_and_notes_reach_its_summary_and_survive_a_merge() {
    let dir = temp("sweep-said");
    let s = dir.join("s.rhai");
    // Runs with a above 0.5 stop before the ban's date: its action never runs in them.
    std::fs::write(
        &s,
        "let a = param(\"a\", 0.0);\n\
         stockpile_buy(\"us-nds-ndpr-oxide\", 5000.0);\n\
         at(\"2024-09-02\", || export_ban(\"CN\", #{ forms: [\"magnet:NdFeB\"], to: [\"US\"] }));\n\
         if a > 0.5 { run_until(\"2024-06-30\"); } else { run_until(\"2024-12-31\"); }\n\
         expect(a <= 0.5, \"a stays low\");\n",
    )
    .unwrap();
    let d = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let sweep = |extra: &[&str]| {
        let args = [
            &[
                "sweep",
                s.to_str().unwrap(),
                "--runs",
                "4",
                "--set",
                "a=0..1",
            ][..],
            extra,
        ]
        .concat();
        let out = chokepoint(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        out
    };
    let all = sweep(&["--out", &d("all")]);
    let stderr = String::from_utf8_lossy(&all.stderr).into_owned();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("all/summary.json")).unwrap())
            .unwrap();
    let warnings = summary["warnings"].as_array().unwrap();
    let notes = summary["notes"].as_array().unwrap();
    let never = (warnings.iter())
        .find(|w| w["text"].as_str().unwrap().contains("never ran"))
        .unwrap_or_else(|| panic!("{summary}"));
    let n = never["runs"].as_u64().unwrap();
    assert!((1..4).contains(&n), "some runs, not all: {never}");
    assert!(stderr.contains(&format!("(in {n} of 4 runs)")), "{stderr}");
    // Each run's note gives its own tonnes: one entry, as run 0 said it, for all four.
    let noted: Vec<&serde_json::Value> = (notes.iter())
        .filter(|w| {
            w["text"]
                .as_str()
                .unwrap()
                .contains("us-nds-ndpr-oxide got")
        })
        .collect();
    assert_eq!(noted.len(), 1, "{summary}");
    assert_eq!(noted[0]["runs"], 4, "{summary}");
    assert_eq!(noted[0]["figures_differ"], true, "{summary}");
    assert!(
        stderr.contains("in 4 of 4 runs; figures as in run 0, others differ"),
        "{stderr}"
    );
    // Which expectation failed, in how many runs: those that stopped early.
    let failed = &summary["failed_expectations"][0];
    assert_eq!(failed["text"], "line 5: a stays low", "{summary}");
    assert_eq!(failed["runs"].as_u64(), Some(n), "{summary}");
    let report = std::fs::read_to_string(dir.join("all/report.html")).unwrap();
    assert!(report.contains("What the runs said") && report.contains("never ran"));
    assert!(report.contains("expectation failed: line 5: a stays low"));
    // Shards, merged: the same record, byte for byte, and said again by the merge.
    sweep(&["--out", &d("s0"), "--shard", "0/2"]);
    sweep(&["--out", &d("s1"), "--shard", "1/2"]);
    let merged = chokepoint(&["merge", &d("s1"), &d("s0"), "--out", &d("merged")]);
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged));
    assert!(
        String::from_utf8_lossy(&merged.stderr).contains(&format!("(in {n} of 4 runs)")),
        "{}",
        text(&merged)
    );
    for f in ["summary.json", "sweep.json", "report.html", "runs.csv"] {
        assert_eq!(
            std::fs::read(dir.join("all").join(f)).unwrap(),
            std::fs::read(dir.join("merged").join(f)).unwrap(),
            "{f}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_error_after_the_clock_stopped_is_dated_by_the_last_step_run() {
    let dir = temp("dated-error");
    let s = dir.join("s.rhai");
    std::fs::write(
        &s,
        "run_until(\"2024-03-01\");\nlet x = 1 / 0;\nexpect(true, \"t\");\n",
    )
    .unwrap();
    let out = chokepoint(&["run", s.to_str().unwrap()]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    // The last step run began on 2024-02-26; the next, 2024-03-04, never ran.
    assert!(
        said.contains("after the run's step of 2024-02-26 (where the clock stopped)")
            && !said.contains("2024-03-04"),
        "{said}"
    );
    // A refusal to move the clock back is not dated by a step that never ran either.
    std::fs::write(
        &s,
        "run_until(\"2024-03-01\");\nrun_until(\"2024-02-01\");\n",
    )
    .unwrap();
    let said = text(&chokepoint(&["run", s.to_str().unwrap()]));
    assert!(
        said.contains("after the run's step of 2024-02-26") && !said.contains("2024-03-04"),
        "{said}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_sweep_counts_each_failed_expectation_apart_and_never_past_its_runs() {
    let dir = temp("sweep-expects");
    let s = dir.join("s.rhai");
    std::fs::write(
        &s,
        "let a = param(\"a\", 0.0);\nrun_until(\"2024-02-01\");\n\
         expect(a <= 0.5, \"same\");\nexpect(false, \"other\");\nexpect(a < 0.3, \"same\");\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = chokepoint(&[
        "sweep",
        s.to_str().unwrap(),
        "--runs",
        "6",
        "--set",
        "a=0..1",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    let failed = summary["failed_expectations"].as_array().unwrap();
    let texts: Vec<&str> = failed.iter().map(|f| f["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        ["line 3: same", "line 4: other", "line 5: same"],
        "{summary}"
    );
    assert!(
        failed
            .iter()
            .all(|f| f["runs"].as_u64().unwrap() <= 6 && f["figures_differ"] == false),
        "{summary}"
    );
    assert_eq!(failed[1]["runs"], 6, "{summary}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn compare_runs_one_script_with_other_parameters_on_each_side() {
    let script = "scripts/2025-04-china-licensing.rhai";
    let out = chokepoint(&[
        "compare",
        script,
        script,
        "--set-a",
        "approval=0.1",
        "--set-b",
        "approval=0.9",
    ]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("April 2025 (approval=0.1)\nB: ")
            && said.contains("April 2025 (approval=0.9)\n"),
        "{said}"
    );
    // The two differ: more approved, less short (US magnet users' mean shortfall falls).
    let row = (said.lines())
        .find(|l| l.trim_start().starts_with("shortfall[") || l.contains("price["))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(row.contains('-') || row.contains('+'), "{row}");
    // --set for both, and a name the script never reads, with a did-you-mean.
    let out = chokepoint(&["compare", script, script, "--set", "aproval=0.5"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("error: --set aproval: scripts/2025-04-china-licensing.rhai never reads param(\"aproval\") (did you mean 'approval'?)"),
        "{}",
        text(&out)
    );
    let out = chokepoint(&[
        "compare",
        script,
        "scripts/baseline-2024.rhai",
        "--set-b",
        "approval=0.5",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("error: --set-b approval: scripts/baseline-2024.rhai never reads"),
        "{}",
        text(&out)
    );
    // A bad value names its flag, and leaves no earlier comparison in --out to be read as
    // this one's.
    let dir = temp("cmp-set");
    let out_dir = dir.join("out");
    let ok = chokepoint(&[
        "compare",
        script,
        script,
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let out = chokepoint(&[
        "compare",
        script,
        script,
        "--set-a",
        "approval=abc",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("error: --set-a approval=abc: 'abc' is not a number"),
        "{}",
        text(&out)
    );
    assert!(!out_dir.join("compare.csv").exists() && !out_dir.join("report.html").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn compare_runs_one_script_on_two_seeds() {
    let dir = temp("cmp-seed");
    let script = dir.join("outages.rhai");
    std::fs::write(
        &script,
        "// title: random outages
         random_outage(\"mountain-pass-mine\", 0.05, 0.8, \"3m\");
         random_outage(\"kachin-clay-mines\", 0.05, 0.9, \"3m\");
         run_until(\"2025-12-31\");
",
    )
    .unwrap();
    let s = script.to_str().unwrap();
    let figures = |said: &str| -> String {
        let n = said
            .find(" figures compared")
            .unwrap_or_else(|| panic!("{said}"));
        said[..n].rsplit(' ').next().unwrap_or("").to_string()
    };
    // Two seeds draw other outages, and the sides say which seed each ran.
    let two = ran(&[
        "compare", s, s, "--seed-a", "1", "--seed-b", "2", "--top", "3",
    ]);
    assert!(
        two.contains("A: random outages (seed 1)\nB: random outages (seed 2)\n"),
        "{two}"
    );
    assert!(!two.contains("none differs"), "{two}");
    // One seed for both: the same run twice. --seed-a over --seed: the same as above.
    let same = ran(&["compare", s, s, "--seed", "2"]);
    assert!(
        same.contains("A: random outages\nB: random outages\n") && same.contains("none differs"),
        "{same}"
    );
    let over = ran(&[
        "compare", s, s, "--seed", "2", "--seed-a", "1", "--top", "3",
    ]);
    assert_eq!(over, two);
    assert!(
        figures(&two).parse::<usize>().is_ok_and(|n| n > 100),
        "{two}"
    );
    // Wrong: not a seed.
    for bad in [["--seed", "x"], ["--seed-b", "-1"]] {
        let o = chokepoint(&["compare", s, s, bad[0], bad[1]]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("is not a seed"), "{}", text(&o));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_sweep_follows_a_trade_route_only_some_runs_open() {
    // India has no magnet plant: its magnets to the US are a route no run records until
    // a plant is built there. A route of the model's names is followed; a bad one refused.
    let dir = temp("sweep-route");
    let s = dir.join("s.rhai");
    std::fs::write(
        &s,
        "let k = param(\"k\", 1.0);\n\
         if k > 0.5 { build(\"mp-independence-magnets\", \"in-new\", 7000.0, \"30d\", 3.0, #{ country: \"IN\" }); }\n\
         run_until(\"2024-12-31\");\nexpect(true, \"t\");\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let sweep = |metric: &str| {
        chokepoint(&[
            "sweep",
            s.to_str().unwrap(),
            "--grid",
            "2",
            "--set",
            "k=0..1",
            "--metric",
            metric,
            "--out",
            out_dir.to_str().unwrap(),
        ])
    };
    let out = sweep("trade_by_form=IN>US/magnet:NdFeB");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(
            "not recorded (no route across that border in the run), counted as 0 (in 1 of 2 runs)"
        ),
        "{}",
        text(&out)
    );
    let runs = std::fs::read_to_string(out_dir.join("runs.csv")).unwrap();
    let col = (runs.lines().next().unwrap().split(','))
        .position(|c| c == "trade_by_form[IN>US/magnet:NdFeB].mean")
        .unwrap();
    let means: Vec<f64> = (runs.lines().skip(1))
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect();
    assert_eq!(means[0], 0.0, "{runs}");
    assert!(means[1] > 20.0, "{runs}");
    for (metric, said) in [
        (
            "trade_by_form=IN>US/oxide:Dy",
            "has no key 'IN>US/oxide:Dy': 'oxide:Dy' is a commodity: trade is kept by form, so give 'oxide'",
        ),
        (
            "trade_by_form=IN>IN/oxide",
            "has no key 'IN>IN/oxide': 'IN' is both exporter and importer",
        ),
        ("trade_by_form=IN>XX/oxide", "has no key 'IN>XX/oxide'"),
        (
            "trade_by_form=CN>EU/oxide",
            "'EU' is a group, not a country",
        ),
        // What a shell leaves of an unquoted `--metric trade=CN>US`.
        (
            "trade=CN",
            "quote the argument, as in --metric 'trade=CN>US'",
        ),
    ] {
        let out = sweep(metric);
        assert_eq!(out.status.code(), Some(2), "{metric}: {}", text(&out));
        assert!(text(&out).contains(said), "{metric}: {}", text(&out));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_sweep_follows_a_plant_only_some_runs_build() {
    let dir = temp("sweep-built");
    let s = dir.join("s.rhai");
    std::fs::write(
        &s,
        "let k = param(\"k\", 1.0);\n\
         if k > 0.5 { build(\"mp-independence-magnets\", \"mp-new\", 7000.0, \"30d\", 3.0); }\n\
         run_until(\"2024-12-31\");\nexpect(true, \"t\");\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = chokepoint(&[
        "sweep",
        s.to_str().unwrap(),
        "--grid",
        "2",
        "--set",
        "k=0..1",
        "--metric",
        "output=mp-new",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out)
            .contains("note: --metric output=mp-new: the sweep's first run does not record it"),
        "{}",
        text(&out)
    );
    let runs = std::fs::read_to_string(out_dir.join("runs.csv")).unwrap();
    let col = runs
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == "output[mp-new].final")
        .unwrap();
    let finals: Vec<f64> = (runs.lines().skip(1))
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect();
    assert_eq!(finals[0], 0.0, "{runs}");
    assert!(finals[1] > 1000.0, "{runs}");
    // The runs that did not record it are counted in the summary.
    let summary = std::fs::read_to_string(out_dir.join("summary.json")).unwrap();
    assert!(
        summary.contains(
            "--metric output=mp-new: not recorded (no such plant in the run), counted as 0"
        ),
        "{summary}"
    );
    // Only a plant's output can appear during a run: another metric's key, or one the
    // script names only in a comment, is refused.
    let commented = dir.join("c.rhai");
    std::fs::write(
        &commented,
        "// we used to build \"mp-ghost\"\nrun_until(\"2024-03-01\");\nexpect(true, \"t\");\n",
    )
    .unwrap();
    for (script, metric) in [(&s, "price=mp-new"), (&commented, "output=mp-ghost")] {
        let out = chokepoint(&[
            "sweep",
            script.to_str().unwrap(),
            "--runs",
            "2",
            "--metric",
            metric,
            "--out",
            dir.join("bad2").to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{metric}: {}", text(&out));
    }
    // A key the script does not name is still refused before the sweep starts.
    let out = chokepoint(&[
        "sweep",
        s.to_str().unwrap(),
        "--runs",
        "2",
        "--metric",
        "output=mp-neww",
        "--out",
        dir.join("bad").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bad_set_value_voids_an_earlier_runs_results() {
    let dir = temp("run-bad-set");
    let out_dir = dir.join("out");
    let script = "scripts/2025-04-china-licensing.rhai";
    let ok = chokepoint(&["run", script, "--out", out_dir.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let out = chokepoint(&[
        "run",
        script,
        "--set",
        "approval=NaN",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let summary = std::fs::read_to_string(out_dir.join("summary.json")).unwrap();
    assert!(
        summary.contains("\"finished\": false") && summary.contains("the value must be finite"),
        "{summary}"
    );
    assert!(!out_dir.join("series.csv").exists() && !out_dir.join("report.html").exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// A copy of the shipped models in `dir`, world-2024 with `policy` (a YAML flow map) set
/// in its file: returns the copy's world-2024.yaml.
fn world_with_policy(dir: &Path, policy: &str) -> PathBuf {
    copy_dir(&root().join("models"), &dir.join("models"));
    let top = dir.join("models/world-2024.yaml");
    let mut yaml = std::fs::read_to_string(&top).unwrap();
    yaml.push_str(&format!("policies:\n  - {policy}\n"));
    std::fs::write(&top, yaml).unwrap();
    top
}

#[test]
fn policies_the_model_file_sets_are_shown_with_the_levers_and_the_models_digest() {
    let dir = temp("model-policies");
    let top = world_with_policy(
        &dir,
        "{kind: export_licence, exporter: CN, elements: [Dy, Tb], to: [US, JP], approval: 0.5, \
         delay_days: 63, start: 2024-03-04, label: model-licence, assumption: test}",
    );
    // (Kept outside the copy: a script under it reads the copy's model by default, as one
    // in a project does; this one reads the model of the directory the test runs in.)
    let elsewhere = temp("model-policies-script");
    let script = elsewhere.join("s.rhai");
    std::fs::write(&script, "run_until(\"2024-06-03\");\n").unwrap();
    let digest = |out: &Path| {
        let s = std::fs::read_to_string(out.join("summary.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        (v["model_digest"].as_str().unwrap().to_string(), v)
    };
    let (a, b) = (dir.join("a"), dir.join("b"));
    let o = chokepoint(&[
        "run",
        script.to_str().unwrap(),
        "--model",
        top.to_str().unwrap(),
        "--out",
        a.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let line = "model policy                           export_licence by CN on Tb, Dy (all forms) \
                to US, JP, approval 50%, review 63 days (9 steps), from 2024-03-04 (label model-licence)";
    assert!(out.contains(line), "{out}");
    let (with, v) = digest(&a);
    assert_eq!(v["model_policies"][0].as_str(), Some(&line[39..]), "{v}");
    let html = std::fs::read_to_string(a.join("report.html")).unwrap();
    assert!(
        html.contains("Set by the model file, before any lever"),
        "{html}"
    );
    assert!(html.contains(&format!("(digest {with})")));
    // Lifted by the scenario, it says when it ended.
    let lift = dir.join("lift.rhai");
    std::fs::write(
        &lift,
        "at(\"2024-04-01\", || lift(\"CN\", \"model-licence\"));\nrun_until(\"2024-06-03\");\n",
    )
    .unwrap();
    let o = chokepoint(&[
        "run",
        lift.to_str().unwrap(),
        "--model",
        top.to_str().unwrap(),
    ]);
    assert!(
        text(&o).contains("from 2024-03-04 to 2024-04-01 (label model-licence)"),
        "{}",
        text(&o)
    );
    // compare says so too, and that the models differ.
    let on_copy = dir.join("on-copy.rhai");
    std::fs::write(
        &on_copy,
        format!(
            "// model: {}
run_until(\"2024-06-03\");\n",
            top.display()
        ),
    )
    .unwrap();
    let o = chokepoint(&[
        "compare",
        on_copy.to_str().unwrap(),
        script.to_str().unwrap(),
    ]);
    let said = text(&o);
    assert!(
        said.contains("the models differ: A on world-2024 (digest "),
        "{said}"
    );
    assert!(
        said.contains("A's model file sets: export_licence by CN"),
        "{said}"
    );
    // The original model, named alike, reads other data: its digest says so.
    let o = chokepoint(&[
        "run",
        script.to_str().unwrap(),
        "--out",
        b.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (without, v) = digest(&b);
    assert_ne!(with, without);
    assert_eq!(v["model_policies"].as_array().map(Vec::len), Some(0), "{v}");
    assert!(!text(&o).contains("model policy"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn deeply_nested_script_data_is_compared_and_printed_without_aborting() {
    // Rhai recurses through nested arrays: 4,000 levels overflowed an 8 MB main thread in
    // a debug build and aborted the process, leaving no report and a lock behind.
    let dir = temp("deep");
    let script = dir.join("deep.rhai");
    std::fs::write(
        &script,
        "let a = []; for i in 0..4000 { a = [a]; }\nprint(`equal ${a == a}`);\nlet s = a.to_string();\nprint(`printed ${s.len()}`);\nrun_until(\"2024-02-05\");\n",
    )
    .unwrap();
    let out = dir.join("out");
    let o = chokepoint(&[
        "run",
        script.to_str().unwrap(),
        "--model",
        "models/world-2024.yaml",
        "--out",
        out.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("equal true") && t.contains("printed 8002"),
        "{t}"
    );
    assert!(out.join("summary.json").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_run_of_no_step_is_refused_by_compare_and_sweep_not_given_sentinel_figures() {
    // Its peak folded from f64::MIN: compare printed -1.8e308 and +inf% deltas.
    let dir = temp("no-step");
    let z = dir.join("z.rhai");
    std::fs::write(&z, "step(0);\nexpect(true, \"x\");\n").unwrap();
    let z = z.to_str().unwrap();
    let m = "models/world-2024.yaml";
    let o = chokepoint(&["compare", z, z, "--model", m]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("the run took no step"), "{}", text(&o));
    assert!(!text(&o).contains("e308"), "{}", text(&o));
    let out = dir.join("sw");
    let o = chokepoint(&[
        "sweep",
        z,
        "--runs",
        "2",
        "--model",
        m,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("the run took no step"), "{}", text(&o));
    assert!(!out.join("runs.csv").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_sort_comparator_that_is_no_order_is_the_scripts_error_not_a_crash_report() {
    let dir = temp("sort");
    let s = dir.join("s.rhai");
    std::fs::write(
        &s,
        "let a = []; for i in 0..50 { a.push(i); }\nlet c = 0;\na.sort(|x, y| { c += 1; c % 3 - 1 });\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args([
            "run",
            s.to_str().unwrap(),
            "--model",
            "models/world-2024.yaml",
        ])
        .current_dir(root())
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("error in comparer for sorting") && t.contains(":3:"),
        "{t}"
    );
    assert!(!t.contains("panicked") && !t.contains("backtrace"), "{t}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_error_does_not_hide_the_expectations_that_failed_before_it() {
    let dir = temp("before-error");
    let s = dir.join("s.rhai");
    std::fs::write(
        &s,
        "expect(false, \"first check fails\");\nprint(\"hello\");\nrun_until(\"2024-03-01\");\nvalue_at(price(\"oxide:Dy\", \"ROW\"), \"2025-01-01\");\n",
    )
    .unwrap();
    let j = dir.join("j.xml");
    let o = chokepoint(&[
        "test",
        s.to_str().unwrap(),
        "--model",
        "models/world-2024.yaml",
        "--junit",
        j.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    let said = "expectation failed before the error: line 1: first check fails";
    assert!(t.contains(&format!("  | {said}")), "{t}");
    let xml = std::fs::read_to_string(&j).unwrap();
    assert!(xml.contains("<error message=\"error: value_at:"), "{xml}");
    assert!(xml.contains("  | hello\n") && xml.contains(said), "{xml}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_library_script_reads_its_own_projects_model_wherever_it_is_run_from() {
    let dir = temp("own-project");
    // A model of the same name where the command is run is not the script's.
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::write(dir.join("models/world-2024.yaml"), "not: a model\n").unwrap();
    let script = root().join("scripts/2024-10-kachin-disruption.rhai");
    let o = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args(["test", script.to_str().unwrap()])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_repls_trial_of_a_line_leaves_the_state_its_closures_captured_as_it_was() {
    // A flag local to a function, captured by a rule's action: the trial to the model's end
    // set it, so the session's own run never closed the mine that the saved script closes.
    let home = temp("repl-captured-2");
    let saved = home.join("s.rhai");
    let input = format!(
        "{}\n{}\n:run-to 2024-12-31\nprint(`out ${{current(output(\"mountain-pass-mine\"))}}`);\n{}\n:step 9\n:save {}\n",
        "fn close_once(f, level) { let done = false; whenever(|| current(price(\"oxide:Dy\", \"ROW\")) < level, || { if !done { done = true; print(`closing ${f} on ${today()}`); close(f); } }); }",
        "close_once(\"mountain-pass-mine\", 250.0);",
        "{ let k = 0; every(\"4w\", || { k += 1; print(`k=${k}`); }); }",
        saved.display()
    );
    let said = text(&piped_repl(&home, input.as_bytes()));
    assert!(
        said.contains("closing mountain-pass-mine on 2024-01-15"),
        "{said}"
    );
    assert!(said.contains("out 0.0\n"), "{said}");
    assert!(said.contains("k=1\nk=2\nk=3"), "{said}");
    let o = chokepoint(&["run", saved.to_str().unwrap()]);
    let replay = text(&o);
    assert!(
        replay.contains("closing mountain-pass-mine on 2024-01-15"),
        "{replay}"
    );
    assert!(replay.contains("k=1\nk=2\nk=3"), "{replay}");
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn the_repl_says_its_expectations_and_piped_input_with_a_failed_one_exits_1() {
    let home = temp("repl-expect");
    let o = piped_repl(
        &home,
        b"expect(1 > 2, \"fails\")\nstep(1);\nexpect(current(hhi(\"mine\")) > 1000.0, \"mining concentrated\")\n",
    );
    let said = text(&o);
    assert!(said.contains("expectation FAILED: fails\n"), "{said}");
    assert!(
        said.contains("expectation passed: mining concentrated\n"),
        "{said}"
    );
    assert_eq!(o.status.code(), Some(1), "{said}");
    // All passing: 0.
    let o = piped_repl(&home, b"step(1);\nexpect(true, \"fine\");\n");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn piped_repl_errors_name_their_line_of_the_stream_and_not_an_earlier_inputs_text() {
    let home = temp("repl-lines");
    let said = text(&piped_repl(
        &home,
        b"let a = 1;\n\nfn f(x) {\n  x + 1\n}\ntariff(\"US\", \"XX\", 0.1);\nfn act2(w) { tariff(\"US\", w, 0.1) }\nlet total = 0; let x = 5; act2(\"QQ\"); x\n",
    ));
    assert!(said.contains("--> <stdin>:6:1\n"), "{said}");
    assert!(said.contains("6 | tariff(\"US\", \"XX\", 0.1);"), "{said}");
    // The place is in the text of the input that defined the function: line 7, with its
    // caret there, not a column of line 7's under line 8's text.
    assert!(
        said.contains("--> <stdin>:7:14\n  |\n7 | fn act2(w) { tariff(\"US\", w, 0.1) }\n  |              ^\n  = in 'act2' called at line 8\n  = 'act2' was defined on an earlier input"),
        "{said}"
    );
    assert!(!said.contains("8 | let total"), "{said}");
    // A function of several lines, a closure called later, and an action an earlier input
    // set up that a later line breaks: each shown at its own line of the earlier text (not
    // the caller's line, nor the end of the caller's text).
    let said = text(&piped_repl(
        &home,
        b"fn f(x) {\n  x + undefined_thing\n}\nlet h = || { let y = 1; y.foo() };\nlet v = 0.1;\nat(\"2024-03-01\", || {\n  tariff(\"US\", \"CN\", v)\n});\nf(1)\nh.call()\nv = \"x\";\n",
    ));
    for place in [
        "--> <stdin>:2:7\n  |\n2 |   x + undefined_thing\n  |       ^\n  = in 'f' called at line 9\n",
        "--> <stdin>:4:27\n  |\n4 | let h = || { let y = 1; y.foo() };\n",
        "error: tariff: rate must be a number, got a string\n  --> <stdin>:7:3\n  |\n7 |   tariff(\"US\", \"CN\", v)\n",
    ] {
        assert!(said.contains(place), "{place}\nnot in:\n{said}");
    }
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn a_repl_pasted_scenario_keeps_its_statements_not_its_header_nor_a_top_level_return() {
    // A scenario pasted whole, header and all (its model the session's): the header is the
    // file's, so `:save` writes one header and `run` replays it; a top-level `return` or
    // `exit()` is refused (the session would go on past it, the saved script stop there).
    let home = temp("repl-paste");
    let saved = home.join("pasted.rhai");
    let script = std::fs::read_to_string(root().join("scripts/2024-10-kachin-disruption.rhai"))
        .unwrap()
        .replace("run_until(", "return;\nif true { exit(0); }\nrun_until(");
    let input = format!(
        "{script}\nprint(`V ${{current(price(\"oxide:Dy\", \"ROW\"))}}`);\n:save {}\n",
        saved.display()
    );
    let out = piped_repl(&home, input.as_bytes());
    let said = text(&out);
    assert!(
        !said.contains("does not change the session's model"),
        "{said}"
    );
    assert_eq!(
        said.matches("`return` and `exit()` at the top level would end a saved script here")
            .count(),
        2,
        "{said}"
    );
    let session = said
        .lines()
        .find(|l| l.starts_with("V "))
        .unwrap_or_else(|| panic!("{said}"));
    let written = std::fs::read_to_string(&saved).unwrap();
    assert_eq!(written.matches("// title:").count(), 1, "{written}");
    assert!(
        !written.contains("return;") && !written.contains("exit("),
        "{written}"
    );
    let replay = chokepoint(&["run", saved.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));
    assert!(
        text(&replay).contains(session),
        "{session} not in {}",
        text(&replay)
    );
    // Another model's header is still refused: the session's model is fixed.
    let said = text(&piped_repl(&home, b"// model: world-2010\nprint(1);\n"));
    assert!(
        said.contains("does not change the session's model"),
        "{said}"
    );
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn a_repl_function_header_continues_and_save_reads_a_home_and_open_quotes() {
    let home = temp("repl-fn-brace");
    let out = piped_repl(
        &home,
        b"fn g2()\n{ 7 }\ng2()\n:save ~\n:save \"unterminated.rhai\n",
    );
    let said = text(&out);
    // `fn g2()` waits for its body on the next line, as `if x` does.
    assert!(said.contains("\n7\n"), "{said}");
    assert!(!said.contains("Expecting body statement block"), "{said}");
    // `~` alone is the home directory, not a file named `~`; a quote left open is refused.
    assert!(
        said.contains(&format!("error: {} is a directory", home.display())),
        "{said}"
    );
    assert!(said.contains("a quote is not closed"), "{said}");
    assert!(!root().join("~").exists() && !root().join("\"unterminated.rhai").exists());
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn a_repl_definition_typed_again_unchanged_is_accepted_and_saved_once() {
    let home = temp("repl-again");
    let saved = home.join("s.rhai");
    let input = format!(
        "fn sq(a) {{\n  a * a\n}}\nsq(3)\nfn sq(a) {{\n  a * a\n}}\nsq(4)\n:save {}\n",
        saved.display()
    );
    let o = piped_repl(&home, input.as_bytes());
    let said = text(&o);
    assert_eq!(o.status.code(), Some(0), "{said}");
    assert!(
        said.contains("(already defined, unchanged)\n16\n"),
        "{said}"
    );
    let script = std::fs::read_to_string(&saved).unwrap();
    assert_eq!(script.matches("fn sq(a)").count(), 1, "{script}");
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn a_repl_save_outside_the_projects_scripts_replays_from_anywhere() {
    // Under the project but not in scripts/: `run` from elsewhere finds the project's
    // models/world-2024.yaml above the script, so the saved script names it by name, as in
    // scripts/ (a library script kept in git).
    let home = temp("repl-save-where");
    let out = root().join(format!("target/repl-save-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let saved = out.join("x.rhai");
    let rel = saved.strip_prefix(root()).unwrap().display().to_string();
    let o = piped_repl(&home, format!(":step\n:save {rel}\n").as_bytes());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let script = std::fs::read_to_string(&saved).unwrap();
    assert!(script.contains("\n// model: world-2024\n"), "{script}");
    let o = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args(["run", saved.to_str().unwrap()])
        .current_dir(&home)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::remove_dir_all(&out).ok();
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn a_repl_save_in_a_projects_scripts_names_the_model_by_name_and_replays_in_another_checkout() {
    // Saved into a project's scripts/, the header names the model as a library script does
    // (`world-2024`), not by this checkout's path: a copy of the project elsewhere replays
    // it (an absolute path tied it to the machine it was saved on: runner review).
    let home = temp("repl-save-name");
    let a = home.join("checkout-a");
    copy_dir(&root().join("models"), &a.join("models"));
    std::fs::create_dir_all(a.join("scripts")).unwrap();
    let o = repl_in(
        &a,
        &home,
        &[],
        b"tariff(\"US\", \"CN\", 0.1);\n:step\n:save scripts/mine.rhai\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let script = std::fs::read_to_string(a.join("scripts/mine.rhai")).unwrap();
    assert!(script.contains("// model: world-2024\n"), "{script}");
    let b = home.join("checkout-b");
    copy_dir(&a, &b);
    std::fs::remove_dir_all(&a).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args(["run", b.join("scripts/mine.rhai").to_str().unwrap()])
        .current_dir(&home)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn repl_show_of_a_partial_key_names_the_keys_that_hold_it() {
    let home = temp("repl-keys");
    let said = text(&piped_repl(
        &home,
        b":step\n:show price oxide:Dy\n:show trade CN\n:show foo bar\n\
          :show trade_by_form IN>US/magnet:NdFeB\n:show trade_by_form CN>US/magnet:NdFeB\n\
          :show trade_by_form CN>CN/oxide\n:keys trade_by_form\n",
    ));
    // A route nothing uses is said to be 0, not a misspelling of another; one that trade
    // takes is shown.
    assert!(
        said.contains(
            "has no key 'IN>US/magnet:NdFeB': nothing sells that form across that border"
        ),
        "{said}"
    );
    assert!(!said.contains("has no key 'CN>US/magnet:NdFeB'"), "{said}");
    assert!(
        said.contains("has no key 'CN>CN/oxide': 'CN' is both exporter and importer"),
        "{said}"
    );
    assert!(
        said.contains("has no key 'oxide:Dy' (keys with 'oxide:Dy': CN/oxide:Dy, ROW/oxide:Dy)"),
        "{said}"
    );
    assert!(said.contains("keys hold 'CN', among them CN>"), "{said}");
    // A country's own use is not trade: no key pairs a country with itself.
    assert!(!said.contains("CN>CN,"), "{said}");
    // Hundreds of keys, listed in lines a terminal shows whole.
    let listed: Vec<&str> = (said.lines())
        .filter(|l| l.contains("/magnet:NdFeB  ") || l.contains("/oxide  "))
        .collect();
    assert!(listed.len() > 5, "{said}");
    assert!(listed.iter().all(|l| l.len() <= 96), "{said}");
    assert!(said.contains(":keys trade lists all"), "{said}");
    assert!(
        said.contains("unknown metric 'foo' (the metrics: price, "),
        "{said}"
    );
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn test_shows_under_a_scenario_that_it_read_no_value_or_only_part_of_a_window() {
    let dir = temp("test-nan");
    let nv = dir.join("nv.rhai");
    std::fs::write(&nv, "let p = price(\"oxide:Dy\", \"ROW\");\nevery(\"1w\", || expect(!(value_at(p, \"2025-06-02\") > 5.0), \"not above 5\"));\nrun_until(\"2024-03-31\");\n").unwrap();
    let part = dir.join("part.rhai");
    std::fs::write(&part, "run_until(\"2024-06-01\");\nexpect(peak(between(shortfall(\"magnet:NdFeB\", \"US\"), \"2024-05-01\", \"2029-12-31\")) < 0.05, \"never short through 2029\");\n").unwrap();
    let m = "models/world-2024.yaml";
    // Said under the scenario's line (a claim may rest on it, or only a progress print),
    // not a failure: an `every` that logs from the first step is a fair script.
    for (f, said) in [
        (
            &nv,
            "an action read price[ROW/oxide:Dy] before it had a value",
        ),
        (&part, "2029-12-31) ends after the run's last step"),
    ] {
        let o = chokepoint(&["test", f.to_str().unwrap(), "--model", m]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(
            text(&o).contains("\n  note: ") && text(&o).contains(said),
            "{}",
            text(&o)
        );
    }
    // In the REPL, said once however many steps read it.
    let o = piped_repl(&dir, b"let p = price(\"oxide:Dy\", \"ROW\");\nevery(\"1w\", || { let x = value_at(p, \"2030-01-07\"); });\n:step\n:step\n:step\n");
    assert_eq!(
        text(&o)
            .matches("an action read price[ROW/oxide:Dy]")
            .count(),
        1,
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn piped_repl_places_errors_in_modules_eof_and_after_bad_bytes() {
    let home = temp("repl-places");
    // A module's function fails in the module's text, as under `run`: no "earlier input".
    let o = piped_repl(
        &home,
        b"import \"lib/timeline\" as t;\nt::licence([\"Qq\"], 0.5, \"x\");\n",
    );
    let said = text(&o);
    assert!(!said.contains("earlier input"), "{said}");
    // Input cut off at the end is placed at its own line.
    let o = piped_repl(&home, b"let a = 1;\n\nlet b = [\n1,\n2 3");
    assert!(text(&o).contains("<stdin>:5:"), "{}", text(&o));
    // A line of bad bytes still counts.
    let o = piped_repl(&home, b"let a = 1;\n\xff\xfe\nfoo();\n");
    assert!(text(&o).contains("<stdin>:3:1"), "{}", text(&o));
    // A call inside a function an earlier input defined keeps its own line.
    let o = piped_repl(
        &home,
        b"fn f() { throw \"boom\"; }\nfn g() {\n  let a = 1;\n  f()\n}\n\n\n\ng();\n",
    );
    let said = text(&o);
    assert!(
        said.contains("called at line 9") && !said.contains("line 11"),
        "{said}"
    );
    assert!(
        said.contains("in 'f' called at line 3 of an earlier input"),
        "{said}"
    );
    std::fs::remove_dir_all(&home).ok();
}

#[test]
fn test_replays_the_library_under_a_set_value_and_a_seed() {
    let dir = temp("test-set");
    let junit = dir.join("results.xml");
    let pair = [
        "scripts/2025-04-china-licensing.rhai",
        "scripts/whatif-us-stockpile-12m-ban.rhai",
    ];
    // Full approval from April: the scenario's price and shipment expectations fail, and its line says
    // the value it ran with; the other scenario reads no `approval` and runs as it is.
    let mut args = vec!["test"];
    args.extend(pair);
    args.extend(["--set", "approval=1", "--seed", "7"]);
    let out = chokepoint(&args);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(
            "FAILED scripts/2025-04-china-licensing.rhai (3 of 9 expectations failed; approval=1)"
        ),
        "{t}"
    );
    assert!(
        t.contains("ok     scripts/whatif-us-stockpile-12m-ban.rhai (2 expectations)\n"),
        "{t}"
    );
    // A name no file names is a typo, refused before anything replays (since 2026-11-30;
    // it was said only after the whole library had run under it), with a did-you-mean,
    // in the JUnit report too.
    let mut args = vec!["test"];
    args.extend(pair);
    args.extend(["--set", "aproval=0.5", "--junit", junit.to_str().unwrap()]);
    let out = chokepoint(&args);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(!t.contains("passed"), "{t}");
    assert!(
        t.contains(
            "error: --set aproval: no scenario, nor a module under their scripts directory, names param(\"aproval\") (did you mean 'approval'?)"
        ),
        "{t}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("--set aproval: no scenario"), "{xml}");
    // A name the scripts give as a string but read with no param call (a behaviour's,
    // `behaviour("diversion", 0.5)`) is refused up front too (it was replayed first).
    let out = chokepoint(&["test", "scripts/", "--set", "diversion=0"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(!t.contains("passed"), "{t}");
    assert!(t.contains("error: --set diversion: no scenario"), "{t}");
    // So is any name, where no file reads a parameter at all (the check was skipped).
    let bare = dir.join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    let plain = bare.join("plain.rhai");
    std::fs::write(
        &plain,
        "// param(\"approval\", 0.3) in a comment\nbehaviour(\"diversion\", 0.5);\nstep(1);\nexpect(true, \"ran\");\n",
    )
    .unwrap();
    let out = chokepoint(&["test", plain.to_str().unwrap(), "--set", "approval=0.4"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(!t.contains("passed"), "{t}");
    assert!(t.contains("error: --set approval: no scenario"), "{t}");
    // A call written `param (` or made through a pointer reads it: not refused (review).
    for (name, src) in [
        ("spaced.rhai", "let x = param (\"foo\", 0.0);"),
        ("pointer.rhai", "let x = call(Fn(\"param\"), \"foo\", 0.0);"),
    ] {
        let f = bare.join(name);
        std::fs::write(
            &f,
            format!("{src}\nstep(1);\nexpect(x > 0.5, \"read foo\");\n"),
        )
        .unwrap();
        let out = chokepoint(&["test", f.to_str().unwrap(), "--set", "foo=1"]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
    }
    std::fs::remove_dir_all(&bare).unwrap();
    // A name a script builds (`param("thrift_" + e)`) is for the run to judge: not refused
    // before it (it was, though `run` read it).
    let built_dir = dir.join("scripts");
    std::fs::create_dir_all(&built_dir).unwrap();
    let built = built_dir.join("built.rhai");
    std::fs::write(
        &built,
        "let t = 0.0;\nfor e in [\"Dy\", \"Tb\"] { t += param(\"thrift_\" + e, 0.0); }\nstep(1);\nexpect(t >= 0.0, \"read\");\n",
    )
    .unwrap();
    let out = chokepoint(&["test", built.to_str().unwrap(), "--set", "thrift_Dy=0.5"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("thrift_Dy=0.5"), "{}", text(&out));
    std::fs::remove_dir_all(&built_dir).unwrap();
    // Nor is a typo hidden by a scenario that cannot run beside it.
    let broken = dir.join("broken.rhai");
    std::fs::write(&broken, "let x = ;\n").unwrap();
    let out = chokepoint(&[
        "test",
        pair[1],
        broken.to_str().unwrap(),
        "--set",
        "aproval=0.5",
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("error: --set aproval: no scenario"), "{t}");
    std::fs::remove_file(&broken).unwrap();
    // A name another scenario of the library reads, that none of those replayed does: a
    // scenario not replayed is no module of theirs, so it is refused before anything runs
    // (it was said only after both had replayed and passed: runner review, 2026-12-01).
    let mut args = vec!["test"];
    args.extend(pair);
    args.extend([
        "--set",
        "no_61_suspended=0",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let out = chokepoint(&args);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(!t.contains("passed"), "{t}");
    assert!(
        t.contains("error: --set no_61_suspended: no scenario, nor a module under their scripts directory, names param(\"no_61_suspended\")"),
        "{t}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("no_61_suspended"), "{xml}");
    // A scenario that does not finish cannot tell what it reads: it is not blamed on the
    // --set, and a timed-out one still fails (exit 1) rather than being bad input.
    let slow = dir.join("slow.rhai");
    std::fs::write(
        &slow,
        "// model: world-2024\nlet v = param(\"lp\", 1.0);\nrun_to_end();\nexpect(true, \"ran\");\n",
    )
    .unwrap();
    let model = root().join("models/world-2024.yaml");
    let out = chokepoint(&[
        "test",
        slow.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--set",
        "lp=1e300",
        "--time-limit",
        "0.005",
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("replaying with --set lp=1e300\n"), "{t}");
    assert!(t.contains("(timed out; lp=1e300)"), "{t}");
    assert!(!t.contains("no scenario read"), "{t}");
    let out = chokepoint(&["test", pair[0], "--set", "approval=2"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("ERROR  scripts/2025-04-china-licensing.rhai (approval=2)"),
        "{t}"
    );
    assert!(!t.contains("no scenario read"), "{t}");
    // Bad values are refused before anything runs.
    for (flag, value, said) in [
        ("--set", "approval", "NAME=VALUE"),
        ("--set", "approval=lots", "approval"),
        ("--seed", "-1", "not a seed"),
    ] {
        let out = chokepoint(&["test", pair[1], flag, value]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {t}");
        assert!(t.contains(said), "{flag} {value}: {t}");
        assert!(!t.contains("passed"), "{flag} {value}: {t}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_typo_in_a_library_function_is_found_before_the_run_at_its_own_line() {
    // A module's function the scenario calls only in 2030 (or never): its literal ids are
    // checked before the run, as the scenario's own are, and the error is placed in the
    // module.
    let dir = temp("module-ids");
    let scripts = dir.join("scripts");
    std::fs::create_dir_all(scripts.join("lib")).unwrap();
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::copy(
        root().join("models/world-2024.yaml"),
        dir.join("models/world-2024.yaml"),
    )
    .unwrap();
    for sub in ["world-2024", "common", "sources"] {
        let from = root().join("models").join(sub);
        let to = dir.join("models").join(sub);
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(&from).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        scripts.join("lib/feed.rhai"),
        "// Feed levers.\nfn close_border() {\n    export_ban(\"MM\", #{ forms: [\"Clay-concentrate\"], to: [\"CN\"] });\n}\n",
    )
    .unwrap();
    std::fs::write(
        scripts.join("late.rhai"),
        "// model: world-2024\nimport \"lib/feed\" as feed;\nat(\"2030-01-07\", || feed::close_border());\nrun_until(\"2024-03-01\");\nexpect(true, \"ran\");\n",
    )
    .unwrap();
    let o = chokepoint(&["run", scripts.join("late.rhai").to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("lib/feed.rhai:3:"), "{t}");
    assert!(t.contains("Clay-concentrate"), "{t}");
    assert!(t.contains("did you mean 'clay-concentrate'"), "{t}");
    // Spelled right, it runs.
    std::fs::write(
        scripts.join("lib/feed.rhai"),
        "fn close_border() {\n    export_ban(\"MM\", #{ forms: [\"clay-concentrate\"], to: [\"CN\"] });\n}\n",
    )
    .unwrap();
    let o = chokepoint(&["run", scripts.join("late.rhai").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_report_named_after_the_commands_own_redirected_output_is_refused_and_the_log_kept() {
    // `--junit /dev/stdout > results.log` (or `/dev/stderr 2>> build.log`) names the log
    // itself: replacing it would destroy what was written there.
    let dir = temp("stdjunit");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for stream in ["/dev/stdout", "/dev/stderr"] {
        let log = dir.join("build.log");
        std::fs::write(&log, "earlier lines\n").unwrap();
        let file = || std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        let status = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
            .args(["test", "scripts/baseline-2024.rhai", "--junit", stream])
            .current_dir(root())
            .stdout(file())
            .stderr(file())
            .status()
            .unwrap();
        let kept = std::fs::read_to_string(&log).unwrap();
        assert_eq!(status.code(), Some(2), "{stream}: {kept}");
        assert!(kept.starts_with("earlier lines\n"), "{stream}: {kept}");
        // (Both streams go to the log here: either is named.)
        assert!(kept.contains("this command's standard"), "{stream}: {kept}");
        assert!(!kept.contains("did not finish"), "{stream}: {kept}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_script_that_is_not_utf8_is_refused_at_its_first_bad_byte() {
    let dir = temp("utf8");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("latin1.rhai");
    std::fs::write(
        &script,
        b"run_until(\"2024-02-01\");\nexpect(true, \"caf\xe9\");\n",
    )
    .unwrap();
    let out = chokepoint(&["run", script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("not UTF-8 text (an invalid byte on line 2, column 18"),
        "{}",
        text(&out)
    );
    // Saved as UTF-16 ("Unicode" on Windows), with a byte-order mark or without: said so,
    // as for a model file.
    let utf16 = |bom: &[u8]| {
        let mut b = bom.to_vec();
        b.extend(
            "run_until(\"2024-02-01\");\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        );
        b
    };
    for (name, bytes) in [("bom", utf16(&[0xFF, 0xFE])), ("plain", utf16(&[]))] {
        let script = dir.join(format!("{name}.rhai"));
        std::fs::write(&script, bytes).unwrap();
        let out = chokepoint(&["run", script.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            text(&out).contains("the script is UTF-16 (little-endian) text"),
            "{name}: {}",
            text(&out)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_error_in_a_run_given_set_values_names_them() {
    // A value out of range is found where the script uses it (a library function, here),
    // so the error shows the script's line; the values given say where it came from.
    let out = chokepoint(&[
        "run",
        "scripts/2025-04-china-licensing.rhai",
        "--set",
        "approval=-1",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("approval: must be between 0 and 1, got -1"),
        "{t}"
    );
    assert!(
        t.contains("= the run had --set approval=-1: a value given there is checked"),
        "{t}"
    );
    // Without --set, nothing is said of it; nor of an error no value can cause (a script
    // that is not there, a model that is not found).
    let out = chokepoint(&["run", "tests/malformed/nonexistent.rhai"]);
    assert!(!text(&out).contains("the run had"), "{}", text(&out));
    for args in [
        [
            "run",
            "tests/malformed/nonexistent.rhai",
            "--set",
            "approval=0.5",
        ],
        [
            "run",
            "scripts/baseline-2024.rhai",
            "--model",
            "models/no-such.yaml",
        ],
    ] {
        let mut args = args.to_vec();
        if args[2] == "--model" {
            args.extend(["--set", "approval=0.5"]);
        }
        let out = chokepoint(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            !text(&out).contains("the run had"),
            "{args:?}: {}",
            text(&out)
        );
    }
    // `compare` says which side and its values.
    let s = "scripts/2025-04-china-licensing.rhai";
    let out = chokepoint(&[
        "compare",
        s,
        s,
        "--set-a",
        "approval=0.5",
        "--set-b",
        "approval=2",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("= side B ran with approval=2: a value given there is checked"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_crowded_spot_on_the_lever_timeline_names_the_levers_it_counts() {
    // Seven levers in one week fill the spot's six levels: the seventh, and one a week on,
    // are counted in a "+2" whose tooltip names both with their own dates (it had none,
    // and the second lever's date appeared nowhere on the timeline).
    let dir = temp("timeline");
    let script = dir.join("s.rhai");
    let mut src = String::new();
    for k in 0..7 {
        src.push_str(&format!(
            "at(\"2024-03-04\", || demand_shock(\"ev-us\", {}));\n",
            0.9 + 0.01 * k as f64
        ));
    }
    src.push_str("at(\"2024-03-11\", || growth(\"ev-us\", 0.05));\n");
    src.push_str("run_until(\"2026-01-05\");\nexpect(true, \"ran\");\n");
    std::fs::write(&script, src).unwrap();
    let out = dir.join("o");
    let o = chokepoint(&[
        "run",
        script.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let at = html
        .find(">+2<title>")
        .unwrap_or_else(|| panic!("no +2 badge"));
    let title = &html[at..at + html[at..].find("</title>").unwrap()];
    assert!(
        title.contains("7 2024-03-04 demand_shock") && title.contains("8 2024-03-11 growth"),
        "{title}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn headlines_are_read_against_a_baseline_without_the_levers() {
    let dir = temp("baseline");
    // Over the 12-month US heavy ban's dates with no lever: Eu oxide in China falls to
    // ~0.4× by itself as capacity arrives, a headline of a run with nothing in it.
    let none = dir.join("none.rhai");
    std::fs::write(&none, "run_until(\"2027-12-27\");\n").unwrap();
    let out = chokepoint(&[
        "run",
        none.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    let shown = text(&out);
    assert!(shown.contains("low price CN/oxide:Eu"), "{shown}");
    // A run with no lever is its own baseline: none is shown or recorded.
    assert!(
        !shown.contains("; baseline") && !shown.contains("\n  baseline "),
        "{shown}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert!(summary["baseline"].is_null(), "{summary}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(!html.contains("against the baseline"), "{html}");
    // Under the ban the same drift is no finding: the movers are those it moved apart from
    // the baseline (Gd oxide outside China at 19× against ~0.9×), and each line says where
    // the baseline stood.
    let out = chokepoint(&[
        "run",
        "scripts/whatif-heavy-ban-us-12m.rhai",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let shown = text(&out);
    assert!(!shown.contains("CN/oxide:Eu"), "{shown}");
    // The report charts the prices it names against the baseline too, and the headline
    // movers with the key prices (not Eu, which the chart drew by its own rule before).
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let charted = |title: &str| {
        let at = html
            .find(&format!("aria-label=\"{title}: "))
            .unwrap_or_else(|| panic!("no {title} chart"));
        html[at..].split('"').nth(1).unwrap().to_string()
    };
    let against = charted("Prices against the baseline");
    assert!(against.contains("ROW/oxide:Gd"), "{against}");
    let prices = charted("Prices");
    assert!(
        prices.contains("ROW/oxide:Gd") && !prices.contains("Eu"),
        "{prices}"
    );
    let gd = (shown.lines())
        .find(|l| l.contains("peak price ROW/oxide:Gd"))
        .unwrap_or_else(|| panic!("{shown}"));
    let base: f64 = gd
        .split("; baseline ")
        .nth(1)
        .and_then(|t| t.split('×').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{gd}"));
    assert!((0.7..1.1).contains(&base), "{gd}");
    assert!(
        shown.contains("output lost ev-us") && shown.contains("; baseline 0.0% of output)"),
        "{shown}"
    );
}

#[test]
fn a_baseline_keeps_the_models_policies_and_the_scripts_behaviour_and_leaves_out_its_levers() {
    let dir = temp("baseline-kept");
    // A model whose own ban leaves US magnet users short in every run: the baseline has
    // that shortage too, so a small lever's run does not headline it.
    let top = world_with_policy(
        &dir,
        "{kind: export_ban, exporter: CN, elements: [Dy, Tb], to: [US], start: 2024-03-04, \
         label: model-ban, assumption: test}",
    );
    let quiet = dir.join("quiet.rhai");
    std::fs::write(
        &quiet,
        "at(\"2024-09-02\", || tariff(\"US\", \"CN\", 0.01, #{ forms: [\"oxide\"] }));\n\
         run_until(\"2025-06-30\");\n",
    )
    .unwrap();
    let own = dir.join("own.rhai");
    std::fs::write(&own, "run_until(\"2025-06-30\");\n").unwrap();
    let run = |script: &Path| {
        ran(&[
            "run",
            script.to_str().unwrap(),
            "--model",
            top.to_str().unwrap(),
        ])
    };
    // Without a lever the model's ban is the finding (US magnet users short)…
    let shown = run(&own);
    assert!(shown.contains("peak shortfall magnet:NdFeB/US"), "{shown}");
    // …and under a 1% tariff on oxide it is the baseline's too: no headline of it.
    let shown = run(&quiet);
    assert!(shown.contains("\n  baseline "), "{shown}");
    assert!(!shown.contains("peak shortfall magnet:NdFeB/US"), "{shown}");
    // A behaviour() setting is an assumption, not a lever: the baseline runs with it.
    // Prices that a faster price response moves are then no finding of a late tariff.
    let behaved = dir.join("behaved.rhai");
    std::fs::write(
        &behaved,
        "behaviour(\"price_rise\", 30.0);\n\
         at(\"2025-11-03\", || tariff(\"US\", \"CN\", 0.01));\n\
         run_until(\"2026-06-01\");\n",
    )
    .unwrap();
    let o = chokepoint(&["run", behaved.to_str().unwrap()]);
    let shown = text(&o);
    assert!(shown.contains("\n  baseline "), "{shown}");
    assert!(!shown.contains("× the baseline on"), "{shown}");
    // With only behaviour(), or a lever pulled after the last step, the run is its own
    // baseline.
    for body in [
        "behaviour(\"price_rise\", 30.0);\nrun_until(\"2024-06-03\");\n",
        "run_until(\"2024-06-03\");\nexport_ban(\"CN\", #{ to: [\"US\"] });\n",
    ] {
        std::fs::write(&behaved, body).unwrap();
        let o = chokepoint(&["run", behaved.to_str().unwrap()]);
        let shown = text(&o);
        assert!(!shown.contains("\n  baseline "), "{body}\n{shown}");
    }
    // --out writes the baseline's series beside the run's, and a later run without one
    // leaves no earlier baseline.csv there.
    let out = dir.join("out");
    let o = chokepoint(&[
        "run",
        "scripts/whatif-heavy-ban-us-6m.rhai",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let base = std::fs::read_to_string(out.join("baseline.csv")).unwrap();
    let series = std::fs::read_to_string(out.join("series.csv")).unwrap();
    assert!(base.starts_with("date,metric,key,value\n") && base != series);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["baseline"]["levers_left_out"], 2, "{summary}");
    assert_eq!(summary["baseline"]["seed"], summary["seed"], "{summary}");
    // The 6-month ban's headlines carry no drift: Y oxide easing to ~0.55× by the end, as
    // the baseline does, is not a low; its line says how far the ban held it above.
    let shown = text(&o);
    assert!(!shown.contains("low price ROW/oxide:Y"), "{shown}");
    let y = (shown.lines())
        .find(|l| l.contains("price ROW/oxide:Y "))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(
        y.contains("× the baseline on 2025-") && !y.contains("low $"),
        "{y}"
    );
    let o = chokepoint(&["run", own.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!out.join("baseline.csv").exists());
}

#[test]
fn a_run_reads_its_headlines_against_another_scenario_named_as_its_baseline() {
    let dir = temp("baseline-script");
    // The 12-month US heavy ban against the 6-month one: what the second six months did.
    let shown = ran(&[
        "run",
        "scripts/whatif-heavy-ban-us-12m.rhai",
        "--baseline",
        "scripts/whatif-heavy-ban-us-6m.rhai",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(
        shown.contains("baseline                               the scenario scripts/whatif-heavy-ban-us-6m.rhai"),
        "{shown}"
    );
    // Under the 6-month ban US magnet users were not short by the 12-month one's worst week
    // (2025-07-07, after the shorter ban ended).
    assert!(
        shown.contains(
            "peak shortfall magnet:NdFeB/US         30.9% (week of 2025-07-07; baseline 0.0% then)"
        ),
        "{shown}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["baseline"]["script"],
        "scripts/whatif-heavy-ban-us-6m.rhai"
    );
    // The report holds what it was read against: the baseline's source after the scenario's.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let at = html
        .find("<h2>Baseline source</h2>")
        .expect("the baseline's source");
    assert!(html[at..].contains("for 6 months?") && html.ends_with("</html>\n"));
    // (With the modules it imports, as the scenario's own source has them.)
    assert!(
        html[at..].contains("// module lib/timeline"),
        "{}",
        &html[at..]
    );
    assert!(
        summary["baseline"]["levers_left_out"].is_null(),
        "{summary}"
    );
    // The baseline's series are the 6-month scenario's over the same dates.
    let six = dir.join("six");
    let o = chokepoint(&[
        "run",
        "scripts/whatif-heavy-ban-us-6m.rhai",
        "--out",
        six.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(dir.join("baseline.csv")).unwrap(),
        std::fs::read_to_string(six.join("series.csv")).unwrap()
    );
    // Which texts ran (with their modules): the baseline's digest is the 6-month run's own.
    let six_summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(six.join("summary.json")).unwrap()).unwrap();
    let digest = |v: &serde_json::Value| v.as_str().map(str::to_string);
    assert_eq!(
        digest(&summary["baseline"]["script_digest"]),
        digest(&six_summary["script_digest"])
    );
    assert!(digest(&summary["script_digest"]).is_some_and(|d| d.len() == 16));
    assert_ne!(summary["script_digest"], six_summary["script_digest"]);
    // A header names it too (from the script's directory), and `none` has no baseline.
    let script = dir.join("twelve.rhai");
    let body =
        std::fs::read_to_string(root().join("scripts/whatif-heavy-ban-us-12m.rhai")).unwrap();
    std::fs::copy(
        root().join("scripts/whatif-heavy-ban-us-6m.rhai"),
        dir.join("six.rhai"),
    )
    .unwrap();
    copy_dir(&root().join("scripts/lib"), &dir.join("lib"));
    std::fs::write(&script, format!("// baseline: six.rhai\n{body}")).unwrap();
    let o = chokepoint(&["run", script.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("the scenario ") && text(&o).contains("six.rhai on the same model"));
    let o = chokepoint(&["run", script.to_str().unwrap(), "--baseline", "none"]);
    assert!(!text(&o).contains("\n  baseline "), "{}", text(&o));
    // Wrong: a baseline that is not there (flag or header: the header's is found by `test`
    // too), one that runs past the run's end, one that fails.
    let o = chokepoint(&["run", script.to_str().unwrap(), "--baseline", "nope.rhai"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("error: the baseline nope.rhai: cannot read the script"),
        "{}",
        text(&o)
    );
    std::fs::write(&script, format!("// baseline: gone.rhai\n{body}")).unwrap();
    let o = chokepoint(&["test", script.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("the `// baseline:` header names 'gone.rhai', which is not a file there"),
        "{}",
        text(&o)
    );
    // (`test` runs a header's baseline too: one `run` would refuse fails the replay.)
    let licensing =
        std::fs::read_to_string(root().join("scripts/2025-04-china-licensing.rhai")).unwrap();
    let long = dir.join("long.rhai");
    std::fs::write(&long, format!("// baseline: six.rhai\n{licensing}")).unwrap();
    let o = chokepoint(&["test", long.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("FAILED") && text(&o).contains("past the run's end"),
        "{}",
        text(&o)
    );
    let o = chokepoint(&[
        "run",
        "scripts/2025-04-china-licensing.rhai",
        "--baseline",
        "scripts/whatif-heavy-ban-us-6m.rhai",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("it runs to 2027-12-27, past the run's end, 2025-12-29"),
        "{}",
        text(&o)
    );
    let bad = dir.join("bad.rhai");
    std::fs::write(&bad, "export_ban(\"XX\", #{});\n").unwrap();
    let o = chokepoint(&[
        "run",
        "scripts/whatif-heavy-ban-us-6m.rhai",
        "--baseline",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("unknown country 'XX'") && text(&o).contains("bad.rhai:1"),
        "{}",
        text(&o)
    );
    // A baseline that runs but fails its own claims: the replay passes, and says so.
    let doubtful = dir.join("doubtful.rhai");
    std::fs::write(
        &doubtful,
        "run_until(\"2025-12-31\");\nexpect(false, \"never holds\");\n",
    )
    .unwrap();
    let reads = dir.join("reads.rhai");
    std::fs::write(
        &reads,
        "// baseline: doubtful.rhai\nexport_ban(\"CN\", #{ elements: [\"Dy\"], to: [\"US\"] });\n\
         run_until(\"2025-12-31\");\nexpect(true, \"t\");\n",
    )
    .unwrap();
    let o = chokepoint(&["test", reads.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("doubtful.rhai fails 1 of its own 1 expectations"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_scripted_baseline_shows_what_the_run_spared_and_runs_to_the_runs_end() {
    let dir = temp("baseline-spared");
    copy_dir(&root().join("scripts/lib"), &dir.join("lib"));
    // The 12-month ban, ended where the stockpile scenario ends, as its baseline: the
    // stockpile spares US magnet users the ban's shortage and its lost output.
    let ban = std::fs::read_to_string(root().join("scripts/whatif-heavy-ban-us-12m.rhai")).unwrap();
    let ban: String = (ban.lines())
        .filter(|l| !l.starts_with("// horizon") && !l.contains("2027-12-20"))
        .map(|l| l.replace("run_until(\"2027-12-31\")", "run_until(\"2026-12-28\")") + "\n")
        .collect();
    let base = dir.join("ban.rhai");
    std::fs::write(&base, &ban).unwrap();
    let shown = ran(&[
        "run",
        "scripts/whatif-us-stockpile-12m-ban.rhai",
        "--baseline",
        base.to_str().unwrap(),
    ]);
    assert!(
        shown.contains("peak shortfall magnet:NdFeB/US         0.0% at worst; the baseline's 30.9% (week of 2025-07-07)"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "output lost ev-us                      0 vehicles; the baseline lost 316,320 vehicles"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("its expectations: 7 passed, 0 failed"),
        "{shown}"
    );
    // Against the 6-month ban, the 12-month one's ceramics users: the same peak in
    // February 2025, and 45 points shorter in July, when the shorter ban had ended.
    let o = chokepoint(&[
        "run",
        "scripts/whatif-heavy-ban-us-12m.rhai",
        "--baseline",
        "scripts/whatif-heavy-ban-us-6m.rhai",
    ]);
    let shown = text(&o);
    let line = (shown.lines())
        .find(|l| l.contains("peak shortfall ceramics-us"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(
        line.contains("baseline 54.7% then; 45.4 points above the baseline on 2025-07-07"),
        "{line}"
    );
    // A baseline that stops short runs on to the run's end, what it scheduled acting: an
    // action due after its own last step still moves it.
    let short = dir.join("short.rhai");
    std::fs::write(
        &short,
        "at(\"2025-06-02\", || export_ban(\"CN\", #{ elements: [\"Dy\", \"Tb\"], to: [\"US\"] }));\n\
         run_until(\"2024-06-03\");\n",
    )
    .unwrap();
    let out = dir.join("out");
    let o = chokepoint(&[
        "run",
        "scripts/whatif-heavy-ban-us-6m.rhai",
        "--baseline",
        short.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let csv = std::fs::read_to_string(out.join("baseline.csv")).unwrap();
    let us_short = (csv.lines())
        .filter(|l| l.contains(",shortfall,magnet:NdFeB/US,") && l.starts_with("2025-1"))
        .filter_map(|l| l.rsplit(',').next()?.parse::<f64>().ok())
        .fold(0.0, f64::max);
    assert!(
        us_short > 0.05,
        "the baseline's ban never acted: {us_short}"
    );
    // Wrong: the scenario itself (flag or header), a --set only the baseline reads is
    // fine and one neither reads is not, and a baseline its time limit stops is exit 1.
    let o = chokepoint(&[
        "run",
        "scripts/whatif-heavy-ban-us-6m.rhai",
        "--baseline",
        "scripts/whatif-heavy-ban-us-6m.rhai",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("is the scenario itself"), "{}", text(&o));
    let own = dir.join("own.rhai");
    std::fs::write(&own, "// baseline: own.rhai\nrun_until(\"2024-03-04\");\n").unwrap();
    let o = chokepoint(&["test", own.to_str().unwrap()]);
    assert!(
        text(&o).contains("names 'own.rhai', the scenario itself"),
        "{}",
        text(&o)
    );
    let reads = dir.join("reads.rhai");
    std::fs::write(
        &reads,
        "at(\"2024-03-04\", || tariff(\"US\", \"CN\", param(\"rate\", 0.1)));\n\
         run_until(\"2024-06-03\");\n",
    )
    .unwrap();
    let quiet = dir.join("quiet.rhai");
    std::fs::write(
        &quiet,
        "export_ban(\"CN\", #{ to: [\"IN\"] });\nrun_until(\"2024-06-03\");\n",
    )
    .unwrap();
    let run = |set: &str| {
        chokepoint(&[
            "run",
            quiet.to_str().unwrap(),
            "--baseline",
            reads.to_str().unwrap(),
            "--set",
            set,
        ])
    };
    assert_eq!(
        run("rate=0.2").status.code(),
        Some(0),
        "{}",
        text(&run("rate=0.2"))
    );
    let o = run("rte=0.2");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("--set rte: neither the script nor its baseline reads param(\"rte\")")
            && text(&o).contains("rate"),
        "{}",
        text(&o)
    );
    let slow = dir.join("slow.rhai");
    std::fs::write(
        &slow,
        "at(\"2024-02-05\", || { let x = 0; loop { x += 1; } });\nrun_until(\"2024-06-01\");\n",
    )
    .unwrap();
    let o = chokepoint(&[
        "run",
        quiet.to_str().unwrap(),
        "--baseline",
        slow.to_str().unwrap(),
        "--time-limit",
        "0.3",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("time limit"), "{}", text(&o));
}

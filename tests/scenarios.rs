//! Every scenario in scripts/ is its own test: `chokepoint run` must meet every expectation
//! it states (at least two), and its printed summary is snapshotted, so any change in
//! results shows up as a reviewed diff.

use std::path::Path;
use std::process::Command;

fn scenario(path: &Path) -> datatest_stable::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()?;
    let rel = path.canonicalize()?.strip_prefix(&root)?.to_path_buf();
    let out = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .arg("run")
        .arg(&rel)
        .current_dir(&root)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.code() != Some(0) {
        return Err(format!("exit {:?}\n{stdout}{stderr}", out.status.code()).into());
    }
    let counted = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("expectations: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    if counted < 2 {
        return Err(format!(
            "{}: a scenario states at least two expectations",
            rel.display()
        )
        .into());
    }
    let name = rel.file_stem().unwrap().to_string_lossy().into_owned();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root.join("tests/snapshots/scenarios"));
    settings.set_prepend_module_to_snapshot(false);
    // The engine's notes go to stderr; they are part of what a change should show.
    let notes: String = (stderr.lines())
        .filter(|l| l.starts_with("note: ") || l.starts_with("warning: "))
        .map(|l| format!("{l}\n"))
        .collect();
    let shown = format!("{notes}{stdout}");
    settings.bind(|| insta::assert_snapshot!(name, shown));
    Ok(())
}

datatest_stable::harness! {
    { test = scenario, root = "../../scripts", pattern = r"^[^/]*\.rhai$" },
}

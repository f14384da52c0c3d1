//! Every command in the README runs.

use std::path::Path;
use std::process::Command;

#[test]
fn readme_commands_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains("cargo test --workspace"));
    let out_dir = std::env::temp_dir().join(format!("chokepoint-readme-{}", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
        .args(["run", "scripts/2024-10-kachin-disruption.rhai", "--out"])
        .arg(&out_dir)
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for f in ["series.csv", "summary.json", "report.html"] {
        assert!(out_dir.join(f).exists(), "{f} written");
    }
    let csv = std::fs::read_to_string(out_dir.join("series.csv")).unwrap();
    assert!(csv.starts_with("date,metric,key,value\n"));
    for args in [
        &["check", "models/world-2024.yaml"][..],
        &["test", "scripts/"],
        &["docs"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_chokepoint"))
            .args(args)
            .current_dir(&root)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    std::fs::remove_dir_all(&out_dir).ok();
}

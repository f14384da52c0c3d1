//! Atomic file writes: a reader never sees a half-written output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

/// Writes `bytes` to a temporary file beside `path`, then renames it into place. A
/// symbolic link is written through (its target is replaced, the link stays); anything
/// else that is not a regular file (a device, a pipe, a directory) is refused, never
/// replaced.
pub fn atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let resolved;
    let path = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            resolved = std::fs::canonicalize(path)
                .with_context(|| format!("cannot write {}: a link to nothing", path.display()))?;
            resolved.as_path()
        }
        _ => path,
    };
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            anyhow::bail!(
                "cannot write {}: it exists and is not a regular file (a device, pipe or \
                 directory), so it is left as it is",
                path.display()
            );
        }
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| -> Result<()> {
        if !dir.is_dir() {
            anyhow::bail!(
                "cannot write {}: the directory {} does not exist",
                path.display(),
                dir.display()
            );
        }
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.sync_all().ok();
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot move into {}", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes `dir` ready to take the named files, before any work is done: it is (or becomes) a
/// directory, and none of the names is taken by a directory. A run that cannot write its
/// results says so before it runs, not after.
pub fn ready(dir: &Path, files: &[&str]) -> Result<(), crate::BadInput> {
    let bad = |m: String| crate::BadInput(format!("error: --out {}: {m}", dir.display()));
    if dir.exists() && !dir.is_dir() {
        return Err(bad("exists and is not a directory".into()));
    }
    // The directories this creates, deepest first, so a failed command can take them away.
    let mut fresh: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(dir).map_err(|e| bad(format!("cannot create it: {e}")))?;
    CREATED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .append(&mut fresh);
    for f in files {
        if dir.join(f).is_dir() {
            return Err(bad(format!("{f} is a directory; it would be overwritten")));
        }
    }
    // A sweep's directory is a sweep's: a run or compare written into it would leave its
    // summary and report from one command and its runs from another. The same holds the
    // other way round.
    if !files.contains(&"sweep.json") && dir.join("sweep.json").is_file() {
        return Err(bad(
            "holds a sweep's output (sweep.json); write this command's files elsewhere".into(),
        ));
    }
    if files.contains(&"sweep.json") {
        if let Some(f) = ["series.csv", "compare.csv"]
            .into_iter()
            .find(|f| dir.join(f).is_file())
        {
            return Err(bad(format!(
                "holds a run's or a comparison's output ({f}); write the sweep elsewhere"
            )));
        }
    }
    // Can a file be created there at all (permissions, a read-only mount)?
    let probe = dir.join(format!(".chokepoint-probe{}", std::process::id()));
    std::fs::File::create(&probe).map_err(|e| bad(format!("cannot write there: {e}")))?;
    let _ = std::fs::remove_file(&probe);
    lock(dir).map_err(bad)
}

/// The advisory lock file a writing chokepoint holds in its output directory.
const LOCK: &str = ".chokepoint.lock";

/// Output directories this process writes to, each with its lock held.
static LOCKS: Mutex<Vec<(PathBuf, std::fs::File)>> = Mutex::new(Vec::new());

/// Takes `dir`'s lock for the rest of the command, so that a second chokepoint writing
/// there at the same time is refused instead of mixing its files with this one's. (The
/// lock is the operating system's: a killed process does not leave it held.)
fn lock(dir: &Path) -> Result<(), String> {
    let mut held = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
    let path = dir.join(LOCK);
    if held.iter().any(|(p, _)| *p == path) {
        return Ok(());
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot write there: {e}"))?;
    match file.try_lock() {
        Ok(()) => {
            held.push((path, file));
            Ok(())
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(
            "another chokepoint is writing there now: wait for it to finish, or give this \
             command its own --out"
                .into(),
        ),
        // A file system without locks: go on unguarded, as before locks existed.
        Err(std::fs::TryLockError::Error(_)) => Ok(()),
    }
}

/// At the end of a command: removes the lock files and lets the locks go. (Removed while
/// still held, so nothing can take a lock on a file that is about to vanish.)
pub fn release() {
    let held = std::mem::take(&mut *LOCKS.lock().unwrap_or_else(|e| e.into_inner()));
    for (path, file) in held {
        let _ = std::fs::remove_file(&path);
        drop(file);
    }
}

/// Directories `ready` created, deepest first.
static CREATED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// After a failed command: removes the output directories it created and left empty, so a
/// failure leaves nothing behind. A directory with anything in it is kept.
pub fn remove_empty_created() {
    let dirs = std::mem::take(&mut *CREATED.lock().unwrap_or_else(|e| e.into_inner()));
    for d in dirs {
        let _ = std::fs::remove_dir(d);
    }
}

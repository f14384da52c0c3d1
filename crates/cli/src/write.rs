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
    atomic_set(&[(path.to_path_buf(), bytes)])
}

/// Writes several files as one: every one goes to a temporary file first, and only when
/// all are written (a full disk fails here, with nothing replaced) do they replace the old
/// ones. The old files are backed up first, and put back if any new one cannot take its
/// place (a file another user owns in a shared directory, an immutable one), so a failure
/// leaves the old set, not half of each.
pub fn atomic_set(files: &[(PathBuf, &[u8])]) -> Result<()> {
    // Held while the set is written, so an interrupt waits for the set to be whole.
    let _writing = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| -> Result<()> {
        for (path, bytes) in files {
            let target = target_of(path)?;
            let tmp = stage(&target, bytes)?;
            staged.push((tmp, target));
        }
        replace_all(&staged)
    })();
    if result.is_err() {
        for (tmp, _) in &staged {
            let _ = std::fs::remove_file(tmp);
        }
    }
    result
}

/// Moves each staged file onto its target, all or none. Each old target is first linked to
/// (or, where the file system has no links, copied to) a backup beside it, so the target
/// never goes missing, even if the process is killed; on any failure the new files that
/// went in are replaced by their backups, or taken out where there was none.
fn replace_all(staged: &[(PathBuf, PathBuf)]) -> Result<()> {
    let backup_of = |target: &Path| {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        target.with_file_name(format!(".{name}.old{}", std::process::id()))
    };
    // Backups (target, backup) made, and targets the new files moved onto.
    let mut backups: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut placed: Vec<&Path> = Vec::new();
    let result = (|| -> Result<()> {
        for (_, target) in staged {
            remove_stale_backups(target);
            if std::fs::symlink_metadata(target).is_ok() {
                let backup = backup_of(target);
                let _ = std::fs::remove_file(&backup);
                std::fs::hard_link(target, &backup)
                    .or_else(|_| std::fs::copy(target, &backup).map(|_| ()))
                    .with_context(|| format!("cannot replace {}", target.display()))?;
                backups.push((target.clone(), backup));
            }
        }
        for (tmp, target) in staged {
            std::fs::rename(tmp, target)
                .with_context(|| format!("cannot move into {}", target.display()))?;
            placed.push(target);
        }
        Ok(())
    })();
    if result.is_err() {
        for target in placed {
            match backups.iter().find(|(t, _)| t == target) {
                Some((_, backup)) => {
                    let _ = std::fs::rename(backup, target);
                }
                None => {
                    let _ = std::fs::remove_file(target);
                }
            }
        }
    }
    for (_, backup) in &backups {
        let _ = std::fs::remove_file(backup);
    }
    result
}

/// Removes backups and staged copies of `target` that a process killed while replacing it
/// left (`.NAME.oldPID`, `.NAME.tmpPID`; this process's own staged copy stays): only one
/// chokepoint writes a directory at a time (its lock), so none is in use.
fn remove_stale_backups(target: &Path) {
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let name = name.to_string_lossy();
    let own = format!(".{name}.tmp{}", std::process::id());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let stale = [".old", ".tmp"].iter().any(|kind| {
            n.strip_prefix(&format!(".{name}{kind}"))
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        });
        if stale && n != own {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Taken by a set of files being written, and by an interrupt before it exits.
static WRITING: Mutex<()> = Mutex::new(());

/// Taken while a command writes its outputs (several sets, as a sweep's runs and then its
/// bands and report), and by an interrupt before it exits.
static OUTPUT: Mutex<()> = Mutex::new(());

/// Held while a command writes all its files: an interrupt waits for the last of them, so
/// an output directory is never left part old and part new. From here an interrupt no
/// longer voids the directory; a phase that ends without [`OutputPhase::done`] (its
/// write failed: a full disk, a file it may not replace) voids it, as any failure does
/// (it left the earlier run's results, whole and unmarked, after printing this run's
/// summary: runner review, 2026-12-01).
pub fn output_phase() -> OutputPhase {
    let guard = OUTPUT.lock().unwrap_or_else(|e| e.into_inner());
    let outputs = UNFINISHED.lock().unwrap_or_else(|e| e.into_inner()).take();
    OutputPhase {
        _guard: guard,
        outputs,
        done: false,
    }
}

/// A command writing its results (see [`output_phase`]).
pub struct OutputPhase {
    _guard: std::sync::MutexGuard<'static, ()>,
    outputs: Option<Outputs>,
    done: bool,
}

impl OutputPhase {
    /// The results are written: the directory is this command's.
    pub fn done(mut self) {
        self.done = true;
    }
}

impl Drop for OutputPhase {
    fn drop(&mut self) {
        if let (false, Some(o)) = (self.done, &self.outputs) {
            let _ = o.void("its results could not all be written");
        }
    }
}

/// The --out directory of a command that has not yet written its results, and the files
/// it writes there (`ready`): what an interrupt voids.
static UNFINISHED: Mutex<Option<Outputs>> = Mutex::new(None);

/// A command's results in an --out directory. When the command fails, or is stopped before
/// it writes them, what an earlier command of its kind left there is voided: it is not this
/// command's result and must not read as one (a CI job archiving summary.json saw an old
/// pass; a re-run stopped with Ctrl-C left the earlier run's report, unmarked).
#[derive(Debug, Clone)]
pub struct Outputs {
    pub dir: PathBuf,
    /// The files the command writes.
    pub files: &'static [&'static str],
    /// For commands with a summary.json: the scenario it names.
    pub scenario: Option<PathBuf>,
}

impl Outputs {
    /// Voids earlier results, if there are any: a summary.json that records the failure
    /// and `why`, and none of the other files.
    pub fn void(&self, why: &str) -> Result<()> {
        self.clear(why, true)
    }

    /// [`Outputs::void`], saying so on stderr if `say`. (Quietly as a command begins: what
    /// it clears then is no failure of its own, and a finished command replaces it.)
    fn clear(&self, why: &str, say: bool) -> Result<()> {
        let dir = &self.dir;
        // What the command's start removed (`begin`), said with what this removes.
        let cleared: Vec<&str> = match say {
            true => std::mem::take(&mut *CLEARED.lock().unwrap_or_else(|e| e.into_inner())),
            false => Vec::new(),
        };
        if !(self.files.iter()).any(|f| dir.join(f).is_file()) {
            // (A comparison keeps no summary.json: what its start removed is all there is
            // to say.)
            if !cleared.is_empty() {
                self.say_gone(&[], &cleared);
            }
            return Ok(());
        }
        // Only an earlier output of this kind is voided: a file of one of its names that
        // this kind of command did not write (an analyst's own report, another command's)
        // is not its to remove, even where the command failed before it checked --out.
        if is_root(dir) || !holds_output_of(dir, self.files) {
            return Ok(());
        }
        let mut kept = Vec::new();
        // A command whose results include a summary.json leaves one saying why (a merge's
        // names no scenario).
        if self.files.contains(&"summary.json") {
            let scenario = self.scenario.as_ref().map(|s| s.display().to_string());
            let summary = serde_json::json!({
                "scenario": scenario,
                "finished": false,
                "passed": false,
                "error": why,
            });
            let text = serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n";
            // Where even that cannot be written (the disk is full), it goes with the rest.
            if atomic_set(&[(dir.join("summary.json"), text.as_bytes())]).is_ok() {
                kept.push("summary.json");
            }
        }
        let mut gone = Vec::new();
        for f in self.files.iter().filter(|f| !kept.contains(f)) {
            let path = dir.join(f);
            if path.is_file() {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
                gone.push(*f);
            }
        }
        if !say {
            let mut at_start = CLEARED.lock().unwrap_or_else(|e| e.into_inner());
            for f in gone {
                if !at_start.contains(&f) {
                    at_start.push(f);
                }
            }
            return Ok(());
        }
        gone.extend(cleared.iter().copied().filter(|f| !kept.contains(f)));
        self.say_gone(&kept, &gone);
        Ok(())
    }

    /// The note of a command that did not finish: what now says so (`kept`), and the
    /// earlier files that are gone (in the order of the command's files).
    fn say_gone(&self, kept: &[&str], gone: &[&str]) {
        let gone: Vec<&str> = (self.files.iter().copied())
            .filter(|f| gone.contains(f))
            .collect();
        let mut said = Vec::new();
        if !kept.is_empty() {
            said.push("summary.json now says so".to_string());
        }
        if !gone.is_empty() {
            said.push(format!(
                "the earlier {} {} gone (not this command's results)",
                gone.join(", "),
                if gone.len() == 1 { "is" } else { "are" }
            ));
        }
        errln!(
            "note: --out {}: this command did not finish: {}",
            self.dir.display(),
            said.join(", and ")
        );
    }
}

/// On Ctrl-C (and SIGTERM or SIGHUP), outside the REPL: lets the outputs being written finish, removes the lock
/// files and the output directories this command created and left empty, and exits with
/// 130. Nothing is left half-written or mixed, and no temporary or lock file is left behind.
pub fn clean_up_on_interrupt() {
    let _ = ctrlc::set_handler(|| stop_cleanly("interrupted", 130));
    // SIGTERM (kill, a batch scheduler's cancel or time limit) and SIGHUP (a closed
    // terminal) end the command the same way, with the shell's codes for them.
    use signal_hook::consts::{SIGHUP, SIGTERM};
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP]) {
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let (why, code) = if sig == SIGTERM {
                    ("terminated", 143)
                } else {
                    ("hung up", 129)
                };
                stop_cleanly(why, code);
            }
        });
    }
}

/// Lets the outputs being written finish, removes locks and the empty directories this
/// command created, and exits with `code`.
fn stop_cleanly(why: &str, code: i32) {
    // A second signal while the first is being handled (Ctrl-C, then a kill) waits for
    // it: the first one's cleaning up is not "files being written", and it exits.
    static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if STOPPING.swap(true, std::sync::atomic::Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    // A progress line (a sweep's) may hold the terminal's current line: clear it first.
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        err!("\r\x1b[2K");
    }
    let _output = match OUTPUT.try_lock() {
        Ok(g) => g,
        Err(_) => {
            errln!("{why}: finishing the files being written...");
            OUTPUT.lock().unwrap_or_else(|e| e.into_inner())
        }
    };
    // Earlier results in the --out directory of a command stopped before it wrote its own
    // are not its results: voided, as for a command that failed.
    let unfinished = UNFINISHED.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(o) = unfinished {
        let _ = o.void(why);
    }
    let _writing = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    release();
    remove_empty_created();
    errln!("{why}: no output was left half-written");
    std::process::exit(code);
}

/// Which of this command's own streams `path` is (`/dev/stdout`, or a file the output is
/// redirected to), if either: a file written there would be replaced under the stream,
/// so it is refused rather than written.
pub fn std_stream(path: &Path) -> Option<&'static str> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        use std::os::unix::fs::MetadataExt;
        // (A device such as /dev/null is not replaced: it is refused as not a file.)
        let target = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
        let same = |fd: std::os::fd::BorrowedFd| {
            let file = std::fs::File::from(fd.try_clone_to_owned().ok()?);
            let meta = file.metadata().ok()?;
            Some((meta.dev(), meta.ino()) == (target.dev(), target.ino()))
        };
        if same(std::io::stdout().as_fd()) == Some(true) {
            return Some("standard output");
        }
        if same(std::io::stderr().as_fd()) == Some(true) {
            return Some("standard error");
        }
        None
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The file a write to `path` replaces: `path`, or what a symbolic link there names.
fn target_of(path: &Path) -> Result<PathBuf> {
    if let Some(stream) = std_stream(path) {
        anyhow::bail!(
            "cannot write {}: it is this command's {stream}; give the file a name of its own",
            path.display()
        );
    }
    let target = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::canonicalize(path)
            .with_context(|| format!("cannot write {}: a link to nothing", path.display()))?,
        _ => path.to_path_buf(),
    };
    if let Ok(meta) = std::fs::metadata(&target) {
        if !meta.is_file() {
            anyhow::bail!(
                "cannot write {}: it exists and is not a regular file (a device, pipe or \
                 directory), so it is left as it is",
                target.display()
            );
        }
    }
    Ok(target)
}

/// Why `dir`, which is not a directory, cannot hold a file: it does not exist, or it is
/// something else (a file named where a directory was meant).
pub fn no_dir(dir: &Path) -> String {
    if dir.exists() {
        format!("{} is not a directory", dir.display())
    } else {
        format!("the directory {} does not exist", dir.display())
    }
}

/// The directory a file `path` is in (`.` for a bare name) and its name.
pub fn dir_and_name(path: &Path) -> (&Path, String) {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (dir, name)
}

/// Writes `bytes` to a temporary file beside `path` and returns its name.
fn stage(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let (dir, name) = dir_and_name(path);
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    if !dir.is_dir() {
        anyhow::bail!("cannot write {}: {}", path.display(), no_dir(dir));
    }
    let written = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.sync_all().ok();
        Ok(())
    })();
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Makes `dir` and the directories on the way to it that do not exist yet, noting each so
/// that a command that fails takes them away again.
pub fn make_dir(dir: &Path) -> Result<(), String> {
    // A link to nothing looks absent, and creating it says only "File exists".
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) && !dir.exists() {
        let to = std::fs::read_link(dir).unwrap_or_default();
        return Err(format!(
            "is a link to {}, which does not exist: make that directory, or write elsewhere",
            to.display()
        ));
    }
    // Deepest first, so they can be taken away in order.
    let mut fresh: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    // Noted before they are made: an interrupt between the two would leave them behind.
    CREATED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .append(&mut fresh);
    std::fs::create_dir_all(dir).map_err(|e| {
        // A file where a directory on the way was meant says which.
        match dir.ancestors().skip(1).find(|a| a.exists()) {
            Some(a) if !a.is_dir() => format!("cannot create it: {}", no_dir(a)),
            _ => format!("cannot create it: {e}"),
        }
    })
}

/// Makes `dir` ready to take the named files, before any work is done: it is (or becomes) a
/// directory, and none of the names is taken by a directory. A run that cannot write its
/// results says so before it runs, not after.
pub fn ready(dir: &Path, files: &'static [&'static str]) -> Result<(), crate::BadInput> {
    let bad = |m: String| crate::BadInput(format!("error: --out {}: {m}", dir.display()));
    if dir.exists() && !dir.is_dir() {
        return Err(bad("exists and is not a directory".into()));
    }
    make_dir(dir).map_err(bad)?;
    for f in files {
        let at = dir.join(f);
        if at.is_dir() {
            return Err(bad(format!("{f} is a directory; it would be overwritten")));
        }
        // Found now, not after the run: a pipe, a device or a link to nothing there.
        if std::fs::symlink_metadata(&at).is_ok()
            && !std::fs::metadata(&at).is_ok_and(|m| m.is_file())
        {
            return Err(bad(format!(
                "{f} there is not a regular file (a pipe, a device or a link to nothing); \
                 it is left as it is: move it, or write elsewhere"
            )));
        }
    }
    // A run's directory and a comparison's are each their own: mixed, a report would sit
    // beside another command's figures.
    // (A run that failed leaves its summary.json alone, saying why.)
    for (mine, theirs, what) in [
        ("series.csv", "compare.csv", "a comparison's"),
        ("compare.csv", "series.csv", "a run's"),
        ("compare.csv", "summary.json", "a run's"),
    ] {
        if files.contains(&mine) && dir.join(theirs).is_file() {
            return Err(bad(format!(
                "holds {what} output ({theirs}); write this command's files elsewhere"
            )));
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
        if let Some((f, what)) = [("series.csv", "a run's"), ("compare.csv", "a comparison's")]
            .into_iter()
            .find(|(f, _)| dir.join(f).is_file())
        {
            return Err(bad(format!(
                "holds {what} output ({f}); write this command's files elsewhere"
            )));
        }
    }
    // The filesystem's root is no output directory (run as root, a failed command would
    // clear its report.html, a finished one write beside /bin).
    if is_root(dir) {
        return Err(bad(
            "is the filesystem's root: give a directory of its own".into()
        ));
    }
    // A name the command writes, taken by a file this kind of command did not write there
    // (an analyst's own report.html or series.csv): a command that failed would remove it,
    // and one that finished overwrite it. Refused, unless the directory holds an output of
    // this command's kind, as its files' contents show.
    let taken: Vec<&str> = (files.iter().copied())
        .filter(|f| dir.join(f).is_file())
        .collect();
    if !taken.is_empty() && !holds_output_of(dir, files) {
        let them = if taken.len() == 1 { "it" } else { "them" };
        return Err(bad(format!(
            "holds {}, which no chokepoint command of this kind wrote there: write to a new \
             or empty directory, or move {them}",
            taken.join(", "),
        )));
    }
    // Can a file be created there at all (permissions, a read-only mount)?
    let probe = dir.join(format!(".chokepoint-probe{}", std::process::id()));
    {
        // An interrupt waits for the probe to go.
        let _output = OUTPUT.lock().unwrap_or_else(|e| e.into_inner());
        std::fs::File::create(&probe).map_err(|e| bad(format!("cannot write there: {e}")))?;
        let _ = std::fs::remove_file(&probe);
    }
    lock(dir).map_err(bad)?;
    *UNFINISHED.lock().unwrap_or_else(|e| e.into_inner()) = Some(Outputs {
        dir: dir.to_path_buf(),
        files,
        scenario: None,
    });
    Ok(())
}

/// Voids the earlier results in the directory [`ready`] registered, once the command has
/// checked what it reads there and is about to work: a command killed outright (kill -9, a
/// scheduler's out-of-memory kill) has no chance to void them as it stops, and they would
/// read as its own (its summary.json an old pass). One that finishes writes its own; one
/// that fails or is stopped says why in its place.
pub fn begin() -> Result<()> {
    let outputs = UNFINISHED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match outputs {
        Some(o) => o.clear(RUNNING, false),
        None => Ok(()),
    }
}

/// The earlier files [`begin`] removed, for the note a command that then fails or is
/// stopped gives (they are gone, and were not its results).
static CLEARED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// What the summary.json of a command still running says (and says still, if it was
/// killed before it could say anything else).
const RUNNING: &str = "the command writing here had not finished: still running, or killed \
                       before it could say why (kill -9, out of memory)";

/// The scenario a command readied its --out directory for (`ready`): a summary.json an
/// interrupt leaves there names it.
pub fn unfinished_scenario(script: &Path) {
    if let Some(o) = UNFINISHED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
    {
        o.scenario = Some(script.to_path_buf());
    }
}

/// Whether `dir` is the filesystem's root.
fn is_root(dir: &Path) -> bool {
    dir.canonicalize().is_ok_and(|d| d.parent().is_none())
}

/// Whether `dir` holds an output of the kind of command that writes `files`, by what its
/// files hold, not only their names (an analyst's own series.csv is none): a run's
/// series.csv or summary.json, a comparison's compare.csv, a sweep's (or merge's)
/// sweep.json or summary.json, or the summary.json a failed command of the kind left.
fn holds_output_of(dir: &Path, files: &[&str]) -> bool {
    let read = |f: &str| {
        chokepoint_core::load::read_at_most(&dir.join(f), 64 << 20)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    // (Its head only: a run's series.csv may run to hundreds of MB.)
    let first_line = |f: &str| {
        use std::io::Read as _;
        let mut head = [0u8; 256];
        // (A regular file only: a pipe there would wait for a writer.)
        let path = dir.join(f);
        let n = (path.is_file())
            .then(|| std::fs::File::open(&path).ok())
            .flatten()
            .and_then(|mut file| file.read(&mut head).ok())
            .unwrap_or(0);
        let head = String::from_utf8_lossy(&head[..n]).into_owned();
        head.lines().next().unwrap_or_default().to_string()
    };
    let json = |f: &str| serde_json::from_str::<serde_json::Value>(&read(f)).unwrap_or_default();
    let summary = json("summary.json");
    let voided = summary["finished"] == false && summary["error"].is_string();
    let mine = |f: &str| files.contains(&f);
    (mine("series.csv")
        && (first_line("series.csv") == "date,metric,key,value"
            || summary["model_digest"].is_string()
            || voided))
        || (mine("compare.csv") && first_line("compare.csv").starts_with("metric,key,stat,a,b"))
        || (mine("sweep.json")
            && (json("sweep.json")["script_digest"].is_string()
                || (summary["figures"].is_object() && summary["runs"].is_number())
                || voided))
}

/// The advisory lock file a writing chokepoint holds in its output directory.
const LOCK: &str = ".chokepoint.lock";

/// Output directories this process writes to, each with its lock held.
static LOCKS: Mutex<Vec<(PathBuf, std::fs::File)>> = Mutex::new(Vec::new());

/// Takes `dir`'s lock for the rest of the command, so that a second chokepoint writing
/// there at the same time is refused instead of mixing its files with this one's. (The
/// lock is the operating system's: a killed process does not leave it held.)
fn lock(dir: &Path) -> Result<(), String> {
    take_lock(dir.join(LOCK))
}

/// Takes the lock of a report file written on its own (`test --junit FILE`), a lock file
/// beside it: a second `test` writing the same report at the same time is refused, so one
/// that is killed cannot leave the other's pass in its place.
pub fn lock_report(file: &Path) -> Result<(), String> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    take_lock(file.with_file_name(format!(".{name}.chokepoint.lock"))).map_err(|e| {
        e.replace(
            "give this command its own --out",
            "give it its own report file",
        )
    })
}

fn take_lock(path: PathBuf) -> Result<(), String> {
    let mut held = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
    if held.iter().any(|(p, _)| *p == path) {
        return Ok(());
    }
    // A lock taken on a file its holder removed as it finished is no lock: the next
    // writer makes a new file. Take it again on the file the path names now.
    for _ in 0..8 {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot write there: {e}"))?;
        match file.try_lock() {
            Ok(()) if !same_file(&file, &path) => continue,
            Ok(()) => {
                held.push((path, file));
                return Ok(());
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(
                    "another chokepoint is writing there now: wait for it to finish, \
                            or give this command its own --out"
                        .into(),
                )
            }
            // A file system without locks: go on unguarded, as before locks existed.
            Err(std::fs::TryLockError::Error(_)) => return Ok(()),
        }
    }
    Err(
        "another chokepoint keeps starting and finishing there: give this command its own --out"
            .into(),
    )
}

/// Whether the open `file` is still the one `path` names.
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_that_cannot_be_wholly_replaced_is_left_as_it_was() {
        let dir = std::env::temp_dir().join(format!("chokepoint-set-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b, c) = (dir.join("a.csv"), dir.join("b.json"), dir.join("c.html"));
        std::fs::write(&a, "old a").unwrap();
        std::fs::write(&b, "old b").unwrap();
        // The second new file cannot be moved in (its staged copy is gone, as a rename
        // refused by the file system would leave it): the first, already in place, is
        // taken out again and the old ones are back; c, new in this set, is not left.
        let staged = vec![
            (stage(&a, b"new a").unwrap(), a.clone()),
            (stage(&c, b"new c").unwrap(), c.clone()),
            (dir.join(".gone.tmp"), b.clone()),
        ];
        assert!(replace_all(&staged).is_err());
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "old a");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "old b");
        assert!(!c.exists());
        for (tmp, _) in &staged {
            let _ = std::fs::remove_file(tmp);
        }
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left.len(), 2, "nothing set aside is left behind: {left:?}");
        // And a set that can be replaced is, whole; a backup or a staged copy a killed writer
        // left goes.
        std::fs::write(dir.join(".a.csv.old99999"), "left by a killed run").unwrap();
        std::fs::write(dir.join(".b.json.tmp99998"), "staged by a killed run").unwrap();
        atomic_set(&[(a.clone(), b"new a"), (b.clone(), b"new b")]).unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "new a");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "new b");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_write_phase_that_fails_voids_the_earlier_results_and_one_that_is_done_keeps_its_own() {
        let dir = std::env::temp_dir().join(format!("chokepoint-phase-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let earlier = || {
            std::fs::write(dir.join("series.csv"), "date,metric,key,value\n").unwrap();
            std::fs::write(dir.join("summary.json"), "{\"passed\": true}\n").unwrap();
            std::fs::write(dir.join("report.html"), "<html></html>\n").unwrap();
        };
        let readied = || {
            *UNFINISHED.lock().unwrap() = Some(Outputs {
                dir: dir.clone(),
                files: &["series.csv", "summary.json", "report.html"],
                scenario: Some(PathBuf::from("s.rhai")),
            })
        };
        // The new set could not be written (a full disk): the phase ends without done.
        earlier();
        readied();
        drop(output_phase());
        let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
        assert!(
            summary.contains("\"finished\": false")
                && summary.contains("its results could not all be written"),
            "{summary}"
        );
        assert!(!dir.join("series.csv").exists() && !dir.join("report.html").exists());
        // Written: the directory is the command's.
        earlier();
        readied();
        output_phase().done();
        let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
        assert!(summary.contains("\"passed\": true") && dir.join("report.html").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

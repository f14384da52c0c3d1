//! The one engine builder used by the CLI, the REPL, sweeps and tests: every lever module,
//! the sandbox, and limits pinned explicitly so debug and release builds behave alike.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use rhai::module_resolvers::FileModuleResolver;
use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Shared};

use crate::api;
use crate::host::HostHandle;

/// How many strings Rhai interns (its own default for `Engine::new`).
const STRINGS_INTERNED: usize = 256;

/// Sandbox limits. Rhai's defaults differ between debug and release builds; these do not.
pub mod limits {
    pub const MAX_OPERATIONS: u64 = 10_000_000;
    pub const MAX_CALL_LEVELS: usize = 48;
    pub const MAX_EXPR_DEPTH: usize = 64;
    pub const MAX_FN_EXPR_DEPTH: usize = 48;
    pub const MAX_STRING_SIZE: usize = 1 << 20;
    pub const MAX_ARRAY_SIZE: usize = 100_000;
    pub const MAX_MAP_SIZE: usize = 10_000;
    pub const MAX_MODULES: usize = 64;
    pub const MAX_VARIABLES: usize = 10_000;
    pub const MAX_FUNCTIONS: usize = 1_000;
    /// The stacks a thread that runs scripts asks for, largest first (where one is refused,
    /// the next). Rhai compares, prints and sizes nested arrays and maps by recursion, and
    /// a script may nest them as deep as [`MAX_ARRAY_SIZE`] allows: ~1.6 KB a level in a
    /// release build, so 256 MiB holds 100,000 levels. Reserved, not used: a thread touches
    /// only what it recurses into. Under a limit on address space, at most a quarter of it,
    /// so the run keeps room for its heap.
    pub fn script_stacks() -> Vec<usize> {
        // Under a limit on address space, no thread of its own: each new thread also costs
        // the C library's own reservations, and a run that fits the limit on the main thread
        // would not fit beside them (it aborts on allocation). Nesting is then bounded by
        // the main thread's stack.
        if address_space_limit().is_some() {
            return Vec::new();
        }
        vec![256 << 20, 64 << 20, 16 << 20]
    }

    /// This process's limit on address space (`ulimit -v`), where the system says (Linux).
    pub fn address_space_limit() -> Option<usize> {
        let text = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = text.lines().find(|l| l.starts_with("Max address space"))?;
        line.split_whitespace().nth(3)?.parse().ok()
    }
    /// Script files larger than this are refused.
    pub const MAX_SCRIPT_BYTES: u64 = 1 << 20;
    /// Conditions (`when`, `whenever`) and strategies one run may watch: each is evaluated
    /// every step, so a script that sets up more is in a runaway loop (a trigger whose
    /// action sets up triggers).
    pub const MAX_WATCHERS: usize = 1_000;
    /// Actions one run may have waiting for their date (`at`, `every`).
    pub const MAX_SCHEDULED: usize = 10_000;
    /// Facilities one run may build: each rebuilds the trading tables, so tens of thousands
    /// would run for minutes per run (world-2024 has ~120; a scenario builds a handful).
    pub const MAX_BUILT: usize = 1_000;
    /// Rhai bounds each string, array and map, not what a script holds in all of them: a
    /// map of ten thousand long strings is within every limit. Where the binary counts each
    /// thread's memory (`crate::memory`: the CLI does), what a run's thread has gained since
    /// its engine was built is checked every 1,024 operations against [`max_run_bytes`]. A
    /// run of world-2024 holds ~10 MB.
    pub fn max_run_bytes() -> u64 {
        static TOTAL: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
        let total = *TOTAL.get_or_init(|| super::meminfo_kib("/proc/meminfo", "MemTotal:"));
        let wanted = 1u64 << 30;
        let runs = PARALLEL_RUNS
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(1) as u64;
        let limit = match total {
            // Runs at once (a sweep's workers) stay together within half the machine (but
            // for the 256 MiB floor): a run alone, as `run` and `test` make them, has the
            // same limit on any machine of 2 GiB or more, whatever its cores.
            Some(total) => wanted.min(total * 1024 / 2 / runs).max(256 << 20),
            None => wanted,
        };
        // And within half a limit on address space, so a script past it is stopped with
        // a message rather than killed on an allocation.
        match address_space_limit() {
            Some(l) => limit.min(l as u64 / 2 / runs),
            None => limit,
        }
    }

    /// How many runs the process makes at once (a sweep's workers; 1 otherwise): what
    /// [`max_run_bytes`] shares the machine's memory among.
    static PARALLEL_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

    pub fn set_parallel_runs(n: usize) {
        PARALLEL_RUNS.store(n.max(1), std::sync::atomic::Ordering::Relaxed);
    }
    /// Without the counting allocator, the process's resident memory is checked every 50 ms
    /// of script time against 1 GiB plus 64 MiB per core (sweeps run a script per core), and
    /// no more than half this machine's memory.
    pub fn max_resident_bytes() -> u64 {
        static MAX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        *MAX.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
            let wanted = (1u64 << 30) + cores * (64 << 20);
            match super::meminfo_kib("/proc/meminfo", "MemTotal:") {
                Some(total) => wanted.min(total * 1024 / 2).max(256 << 20),
                None => wanted,
            }
        })
    }
}

/// A `Key: N kB` figure from a /proc file (Linux); None elsewhere.
fn meminfo_kib(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// This process's resident memory in bytes, where the system says (Linux).
pub fn resident_bytes() -> Option<u64> {
    meminfo_kib("/proc/self/status", "VmRSS:").map(|k| k * 1024)
}

/// An engine with every lever registered and the sandbox in place. With a host, levers act
/// on that run; without one (compiling, docs), they report that no model is loaded.
pub fn build_engine(host: Option<&HostHandle>, scripts_root: &Path) -> Engine {
    // `Engine::new()` without rebuilding the standard library for every engine: the package
    // is made once per process and shared (a sweep builds an engine per run).
    static STANDARD: std::sync::OnceLock<Shared<Module>> = std::sync::OnceLock::new();
    let mut engine = Engine::new_raw();
    engine.set_max_strings_interned(STRINGS_INTERNED);
    engine.register_global_module(
        STANDARD
            .get_or_init(|| {
                use rhai::packages::Package;
                rhai::packages::StandardPackage::new().as_shared_module()
            })
            .clone(),
    );
    engine
        .set_max_operations(limits::MAX_OPERATIONS)
        .set_max_call_levels(limits::MAX_CALL_LEVELS)
        .set_max_expr_depths(limits::MAX_EXPR_DEPTH, limits::MAX_FN_EXPR_DEPTH)
        .set_max_string_size(limits::MAX_STRING_SIZE)
        .set_max_array_size(limits::MAX_ARRAY_SIZE)
        .set_max_map_size(limits::MAX_MAP_SIZE)
        .set_max_modules(limits::MAX_MODULES)
        .set_max_variables(limits::MAX_VARIABLES)
        .set_max_functions(limits::MAX_FUNCTIONS)
        .set_optimization_level(rhai::OptimizationLevel::Simple);
    // No generated code: `eval` would escape every static check.
    engine.disable_symbol("eval");
    // No clock: results must not depend on when a script runs.
    engine.register_fn("timestamp", || -> Result<rhai::Dynamic, Box<EvalAltResult>> {
        Err("scripts have no clock (timestamp is disabled): use today() for the simulation's date".into())
    });
    engine.set_module_resolver(SandboxResolver::new(scripts_root));
    register_all(&mut engine);
    if let Some(h) = host {
        engine.set_default_tag(rhai::Dynamic::from(h.clone()));
        let out = h.clone();
        // What a script prints reaches a terminal: no escape sequence or bell goes raw.
        engine.on_print(move |s| out.lock().print(s, crate::diag::shown_line));
        let dbg = h.clone();
        engine.on_debug(move |s, _, pos| {
            dbg.lock()
                .print(&format!("[{pos}] {s}"), crate::diag::shown_line)
        });
        let prog = h.clone();
        let last_memory_check = std::sync::Mutex::new(std::time::Instant::now());
        // What this thread held when the run began (for an engine evaluated on another
        // thread than the one that built it, the first look sets it). A REPL session counts
        // from its start.
        let held_before = std::sync::Mutex::new((
            std::thread::current().id(),
            crate::memory::thread_live_bytes(),
        ));
        // (Each run's own: a host's cancel flag and alarm are set before its engine is
        // built; the look every 1,024 operations reads the host's.)
        let (cancel, alarm) = {
            let h = h.lock();
            (h.cancel.clone(), h.alarm.clone())
        };
        engine.on_progress(move |ops| {
            // Reading the clock and memory costs more than an operation: look every 1,024
            // of them, and at once when the deadline's alarm rang or Ctrl-C was pressed (an
            // operation can be a built-in over a large array, of tens of milliseconds).
            if ops % 1024 != 0 && !alarm.rung() && !cancel.load(Ordering::Relaxed) {
                return None;
            }
            if let Some(now) = crate::memory::thread_live_bytes() {
                let mut before = held_before.lock().unwrap_or_else(|e| e.into_inner());
                let here = std::thread::current().id();
                if before.0 != here || before.1.is_none() {
                    *before = (here, Some(now));
                }
                let gained = now.saturating_sub(before.1.unwrap_or(now));
                let limit = limits::max_run_bytes();
                if gained > 0 && gained as u64 > limit {
                    return Some(rhai::Dynamic::from(format!(
                        "the script holds too much data: its run passed {} MiB of memory (the \
                         limit of one run: 1 GiB, at most half this machine's memory, or of \
                         a limit on address space, shared among the runs made at once)",
                        limit >> 20
                    )));
                }
                let h = prog.lock();
                return h.stopped().map(|why| rhai::Dynamic::from(why.to_string()));
            }
            // Reading the process's memory costs ~15 µs: every 50 ms of script time at most
            // (a runaway allocation outruns the limit by what it allocates in that time).
            let due = {
                let mut last = last_memory_check.lock().unwrap_or_else(|e| e.into_inner());
                let now = std::time::Instant::now();
                let due = now.duration_since(*last) >= std::time::Duration::from_millis(50);
                if due {
                    *last = now;
                }
                due
            };
            if due {
                let limit = limits::max_resident_bytes();
                if resident_bytes().is_some_and(|r| r > limit) {
                    return Some(rhai::Dynamic::from(format!(
                        "the script holds too much data: this process passed {} MiB of memory \
                         (1 GiB plus 64 MiB per core, at most half this machine's)",
                        limit >> 20
                    )));
                }
            }
            let h = prog.lock();
            h.stopped().map(|why| rhai::Dynamic::from(why.to_string()))
        });
    } else {
        engine.on_print(|_| {});
        engine.on_debug(|_, _, _| {});
    }
    engine
}

/// Registers every lever area: one module per area. The modules are built once per process
/// and shared by every engine (a sweep builds one engine per run).
pub fn register_all(engine: &mut Engine) {
    use rhai::exported_module;
    static MODULES: std::sync::OnceLock<Vec<Shared<Module>>> = std::sync::OnceLock::new();
    let modules = MODULES.get_or_init(|| {
        vec![
            exported_module!(api::trade::trade_api).into(),
            exported_module!(api::capacity::capacity_api).into(),
            exported_module!(api::government::government_api).into(),
            exported_module!(api::demand::demand_api).into(),
            exported_module!(api::time::time_api).into(),
            exported_module!(api::query::query_api).into(),
            exported_module!(api::expect::expect_api).into(),
        ]
    });
    engine.register_type_with_name::<api::query::SeriesView>("Series");
    for m in modules {
        engine.register_global_module(m.clone());
    }
    refuse_series_comparisons(engine);
}

/// `price(...) > 300.0` compares a whole series with a number. Rhai would quietly say false
/// (values of different types never compare); here it is an error that says what to write.
fn refuse_series_comparisons(engine: &mut Engine) {
    use api::query::SeriesView;
    type Res = Result<bool, Box<EvalAltResult>>;
    fn refuse() -> Res {
        Err(
            "a Series is a whole run of values, not a number: compare current(s), peak(s), \
             low(s), mean(s) or value_at(s, date)"
                .into(),
        )
    }
    for op in ["<", "<=", ">", ">=", "==", "!="] {
        engine.register_fn(op, |_: &mut SeriesView, _: f64| -> Res { refuse() });
        engine.register_fn(op, |_: f64, _: SeriesView| -> Res { refuse() });
        engine.register_fn(op, |_: &mut SeriesView, _: i64| -> Res { refuse() });
        engine.register_fn(op, |_: i64, _: SeriesView| -> Res { refuse() });
    }
}

/// Resolves `import "lib/name"` only to files under the scripts directory.
pub struct SandboxResolver {
    root: PathBuf,
    inner: FileModuleResolver,
    /// Modules being loaded, outermost first: an import already on this stack is a cycle.
    loading: std::sync::Mutex<Vec<String>>,
}

impl SandboxResolver {
    /// A did-you-mean among the modules under the root (two directories deep, as
    /// `lib/timeline`): a misspelt import names the one meant.
    fn nearest_module(&self, path: &str) -> String {
        let mut names = Vec::new();
        let mut dirs = vec![(self.root.clone(), String::new(), 0)];
        while let Some((dir, prefix, depth)) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten().take(500) {
                let name = e.file_name().to_string_lossy().into_owned();
                let p = e.path();
                if p.is_dir() && depth < 2 && !name.starts_with('.') {
                    dirs.push((p, format!("{prefix}{name}/"), depth + 1));
                } else if let Some(stem) = name.strip_suffix(".rhai") {
                    names.push(format!("{prefix}{stem}"));
                }
            }
        }
        names.sort();
        let wanted = path.strip_suffix(".rhai").unwrap_or(path);
        chokepoint_core::error::did_you_mean(wanted, names.iter().map(String::as_str))
    }

    pub fn new(root: &Path) -> SandboxResolver {
        let mut inner = FileModuleResolver::new_with_path(root);
        inner.enable_cache(true);
        SandboxResolver {
            root: root.to_path_buf(),
            inner,
            loading: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl SandboxResolver {
    /// A module that exists must be a file under the root once links are followed (a link
    /// out of it is an escape), and no larger than a script may be.
    fn fits(&self, file: &Path) -> std::io::Result<()> {
        let refuse = |why: String| Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, why));
        let Ok(meta) = std::fs::metadata(file) else {
            return Ok(()); // Not there: the resolver says where it looked.
        };
        if !meta.is_file() {
            return refuse("it is not a regular file".into());
        }
        let (real, root) = (file.canonicalize()?, self.root.canonicalize()?);
        if !real.starts_with(&root) {
            return refuse(format!(
                "it leads out of {} (to {}): imports must stay under it",
                self.root.display(),
                real.display()
            ));
        }
        if meta.len() > limits::MAX_SCRIPT_BYTES {
            return refuse(format!(
                "it is {} bytes, over the {} a script may have",
                meta.len(),
                limits::MAX_SCRIPT_BYTES
            ));
        }
        Ok(())
    }
}

impl ModuleResolver for SandboxResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let p = Path::new(path);
        let absolute = p.is_absolute()
            || p.components().any(|c| {
                matches!(
                    c,
                    std::path::Component::RootDir | std::path::Component::Prefix(_)
                )
            });
        let parent = p.components().any(|c| c == std::path::Component::ParentDir);
        if absolute || parent {
            // An import names a module from the scripts root, whatever it would reach:
            // the same name then means the same module wherever the script is run from.
            let how = if absolute {
                "an import is a module's name from the scripts directory, not a full path"
            } else {
                "an import is a module's name from the scripts directory, without '..'"
            };
            return Err(Box::new(EvalAltResult::ErrorRuntime(
                format!(
                    "cannot import '{path}': {how} (`import \"lib/name\"` reads {}); \
                     imports must stay under it",
                    self.root.join("lib/name.rhai").display()
                )
                .into(),
                pos,
            )));
        }
        // Relative to the scripts root, never to the importing file's directory.
        let _ = source;
        {
            let mut loading = self.loading.lock().unwrap_or_else(|e| e.into_inner());
            if loading.iter().any(|p| p == path) {
                let mut chain = loading.clone();
                chain.push(path.to_string());
                return Err(Box::new(EvalAltResult::ErrorRuntime(
                    format!("import cycle: {}", chain.join(" → ")).into(),
                    pos,
                )));
            }
            loading.push(path.to_string());
        }
        // The file the resolver opens (it replaces an extension the name has).
        let file = self.inner.get_file_path(path, None);
        if let Err(e) = chokepoint_core::load::refuse_special(&file).and_then(|()| self.fits(&file))
        {
            self.loading.lock().unwrap_or_else(|e| e.into_inner()).pop();
            return Err(Box::new(EvalAltResult::ErrorRuntime(
                format!("cannot import '{path}': {e}").into(),
                pos,
            )));
        }
        let result = self.inner.resolve(engine, None, path, pos);
        self.loading.lock().unwrap_or_else(|e| e.into_inner()).pop();
        // Say where it was looked for: imports resolve from the scripts root, which for a
        // script outside a project is the script's own directory.
        result.map_err(|e| match *e {
            EvalAltResult::ErrorModuleNotFound(name, at) => {
                let from = if self.root.ends_with("scripts") {
                    format!("the scripts directory, {}", self.root.display())
                } else {
                    format!(
                        "the script's own directory, {}, as it is under no `scripts` \
                         directory; or from a project's `scripts/` above it that holds all \
                         it imports",
                        self.root.display()
                    )
                };
                let above = self.found_above(path);
                let hint = match above.is_empty() {
                    true => self.nearest_module(path),
                    false => above,
                };
                Box::new(EvalAltResult::ErrorRuntime(
                    format!(
                        "module '{name}' not found: looked for {} (imports resolve from \
                         {from}){hint}",
                        file.display(),
                    )
                    .into(),
                    at,
                ))
            }
            e => Box::new(e),
        })
    }
}

impl SandboxResolver {
    /// Where a script outside a `scripts` directory would find the module: a project's
    /// `scripts/` above it that holds it (an analyst's own folder beside `scripts/`, whose
    /// script also imports a module of its own, so imports from beside it).
    fn found_above(&self, path: &str) -> String {
        if self.root.ends_with("scripts") {
            return String::new();
        }
        let Ok(root) = self.root.canonicalize() else {
            return String::new();
        };
        let mut file = PathBuf::from(path);
        file.set_extension("rhai");
        match (root.ancestors()).find(|a| a.join("scripts").join(&file).is_file()) {
            Some(project) => format!(
                ". {} has it: a script imports from the nearest directory above it named \
                 `scripts`, and one outside such a directory from a project's `scripts/` \
                 above it only where that holds all it imports: keep this one under {} (in a \
                 folder of its own there if you like), or its other modules there too",
                project.join("scripts").join(&file).display(),
                project.join("scripts").display()
            ),
            None => String::new(),
        }
    }
}

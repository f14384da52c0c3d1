//! Loading a model: read the file and its includes, parse the YAML, then resolve names into
//! dense ids while checking every rule. All problems are collected and reported together,
//! each with its file, line, column and field path.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::date::Date;
use crate::element;
use crate::error::{did_you_mean, ModelError, Problem};
use crate::locate::Locator;
use crate::model::*;
use crate::model_file::*;
use crate::policy;

mod salvage;

/// Curly and angled quotes that a word processor puts in for straight ones.
const TYPOGRAPHIC_QUOTES: [char; 8] = [
    '\u{201C}', '\u{201D}', '\u{2018}', '\u{2019}', '\u{201E}', '\u{00AB}', '\u{00BB}', '\u{201A}',
];

/// Model files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A parser message with any long quoted text in it cut short: a file that is not YAML at
/// all (an include of the wrong file) would otherwise be repeated whole in the error.
fn shorten_quoted(msg: &str) -> String {
    const KEEP: usize = 60;
    let mut text = msg.to_string();
    // The parser quotes strings in "…" and numbers in `…`.
    for quote in ['"', '`'] {
        let mut out = String::new();
        let mut parts = text.split(quote);
        if let Some(first) = parts.next() {
            out.push_str(first);
        }
        for (i, part) in parts.enumerate() {
            out.push(quote);
            // Odd pieces sit between quotes.
            if i % 2 == 0 && part.chars().count() > KEEP {
                out.extend(part.chars().take(KEEP));
                out.push('…');
            } else {
                out.push_str(part);
            }
        }
        text = out;
    }
    // A character that shows as a space, or not at all (a no-break space pasted from a web
    // page, in a key), by its code point: "unknown field `  name`" names nothing visible.
    let odd = |c: char| {
        (c.is_whitespace() && !matches!(c, ' ' | '\n' | '\t' | '\r')) || crate::error::invisible(c)
    };
    if text.chars().any(odd) {
        text = (text.chars())
            .map(|c| match odd(c) {
                true => format!("<U+{:04X}>", c as u32),
                false => c.to_string(),
            })
            .collect();
    }
    text
}

/// Where the first byte that is not UTF-8 stands, as an editor counts: "an invalid byte
/// on line L, column C, byte offset N".
pub fn bad_utf8_place(e: &std::string::FromUtf8Error) -> String {
    let at = e.utf8_error().valid_up_to();
    let before = &e.as_bytes()[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    format!("an invalid byte on line {line}, column {column}, byte offset {at}")
}

/// A file's bytes, or None if it holds more than `limit` of them. Reads at most one byte
/// past the limit, however the file grows meanwhile; a device or a pipe is refused unread.
pub fn read_at_most(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    refuse_special(path)?;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}
/// A named pipe, a socket or a device is refused before it is opened: opening or reading
/// one waits, without end, for a writer that may never come (a pipe, a terminal), or never
/// ends (`/dev/zero`). A directory is left to the read, which names it.
pub fn refuse_special(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let t = meta.file_type();
            let why = if t.is_fifo() || t.is_socket() {
                "it is a named pipe or a socket, not a file (reading it would wait for a \
                 writer); save its contents to a file"
            } else if t.is_char_device() || t.is_block_device() {
                "it is a device, not a file (a terminal would wait for input, /dev/zero never \
                 ends); save its contents to a file"
            } else {
                return Ok(());
            };
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, why));
        }
    }
    let _ = path;
    Ok(())
}

/// Recipe cycles a load reports at most (each is a separate fix).
const MAX_CYCLES_REPORTED: usize = 16;
/// How many names did-you-mean hints for unknown references may compare in one load.
const MAX_HINT_WORK: usize = 200_000;
/// Includes may nest this deep.
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// Distributions must sum to 1 within this tolerance (published tables round).
pub const SUM_TOLERANCE: f64 = 0.005;

/// Loads and checks a model file (and its includes).
pub fn load(path: &Path) -> Result<Model, ModelError> {
    let mut loader = Loader::default();
    let mut merged = Merged::default();
    let mut stack = Vec::new();
    loader.read(path, None, &mut merged, &mut stack, 0);
    if !loader.problems.is_empty() {
        return Err(ModelError {
            problems: loader.problems,
        });
    }
    loader.resolve(merged)
}

/// Loads a model from text, as if read from `name` (includes resolve against the current
/// directory). For tests and embedding.
pub fn load_str(name: &str, text: &str) -> Result<Model, ModelError> {
    let text = &unix_line_ends(text.to_string());
    let mut loader = Loader::default();
    let mut merged = Merged::default();
    let file = loader.files.len();
    loader.files.push(SourceFile {
        path: PathBuf::from(name),
        locator: Locator::new(text),
    });
    match loader.parse(file, text) {
        Some(mf) => {
            let mut stack = vec![PathBuf::from(name)];
            loader.merge(file, mf, &mut merged, &mut stack, 0);
        }
        None => {}
    }
    if !loader.problems.is_empty() {
        return Err(ModelError {
            problems: loader.problems,
        });
    }
    loader.resolve(merged)
}

struct SourceFile {
    path: PathBuf,
    locator: Locator,
}

#[derive(Default)]
struct Loader {
    files: Vec<SourceFile>,
    problems: Vec<Problem>,
    /// Every file read so far, by its canonical path: one included twice is an error.
    seen: HashSet<PathBuf>,
    /// The files being merged, outermost first: a file's includes are read inside its merge.
    merging: Vec<usize>,
    /// Symbols a mistyped `elements:` entry stood for (`la`, or `La` and `Ce` in `La Ce`):
    /// that entry's problem is the one to fix, so references to them are not reported too.
    meant_elements: HashSet<String>,
    /// Names compared so far for did-you-mean hints on unknown references: a file of
    /// thousands of misspelt names against thousands of ids gets hints while this stays
    /// under [`MAX_HINT_WORK`], then none (each hint compares a name with every id).
    hint_work: usize,
}

/// Items of one list kind merged from several files, with where each came from.
struct List<T> {
    items: Vec<T>,
    origin: Vec<(usize, usize)>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List {
            items: Vec::new(),
            origin: Vec::new(),
        }
    }
}

impl<T> List<T> {
    fn extend(&mut self, file: usize, items: Vec<T>) {
        for (i, it) in items.into_iter().enumerate() {
            self.items.push(it);
            self.origin.push((file, i));
        }
    }
}

#[derive(Default)]
struct Merged {
    header: Option<(usize, Header)>,
    sources: List<SourceDef>,
    elements: List<String>,
    forms: List<FormDef>,
    stages: List<String>,
    recipes: List<RecipeDef>,
    countries: List<CountryDef>,
    markets: List<String>,
    firms: List<FirmDef>,
    deposits: List<DepositDef>,
    facilities: List<FacilityDef>,
    sectors: List<SectorDef>,
    prices: List<PriceDef>,
    stockpiles: List<StockpileDef>,
    groups: List<GroupDef>,
    policies: List<PolicyDef>,
    contracts: List<ContractDef>,
    behaviour: IndexMap<String, (usize, ParamDef)>,
}

impl Loader {
    fn problem_at(&mut self, file: usize, path: String, message: String) {
        let f = &self.files[file];
        self.problems.push(Problem {
            file: f.path.clone(),
            place: f.locator.find(&path),
            path,
            message,
        });
    }

    /// Where each item of a list was written: `file:line:col: kind[i]` (i in its file).
    fn places_of(&self, kind: &str, origin: &[(usize, usize)]) -> Vec<String> {
        (origin.iter())
            .map(|&(file, local)| {
                let f = &self.files[file];
                let path = format!("{kind}[{local}]");
                match f.locator.find(&path) {
                    Some((line, col)) => format!("{}:{line}:{col}: {path}", f.path.display()),
                    None => format!("{}: {path}", f.path.display()),
                }
            })
            .collect()
    }

    fn file_problem(&mut self, path: &Path, place: Option<(usize, usize)>, message: String) {
        self.problems.push(Problem {
            file: path.to_path_buf(),
            place,
            path: String::new(),
            message,
        });
    }

    fn read(
        &mut self,
        path: &Path,
        from: Option<(usize, String)>,
        merged: &mut Merged,
        stack: &mut Vec<PathBuf>,
        depth: usize,
    ) {
        let fail = |me: &mut Self, msg: String| match &from {
            Some((file, field)) => me.problem_at(*file, field.clone(), msg),
            None => me.file_problem(path, None, msg),
        };
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if stack.contains(&canonical) {
            let chain: Vec<String> = stack
                .iter()
                .chain(std::iter::once(&canonical))
                .map(|p| {
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                })
                .collect();
            return fail(self, format!("include cycle: {}", chain.join(" → ")));
        }
        if !self.seen.insert(canonical.clone()) {
            return fail(
                self,
                "this file is already part of the model (included twice): include it once".into(),
            );
        }
        if depth > MAX_INCLUDE_DEPTH {
            return fail(
                self,
                format!("includes nest deeper than {MAX_INCLUDE_DEPTH} levels"),
            );
        }
        let text = match read_text(path) {
            Ok(t) => t,
            // At the including file's `include:`, which names the file only as written.
            Err(msg) if from.is_some() => {
                return fail(self, format!("'{}' {msg}", path.display()));
            }
            Err(msg) => return fail(self, msg),
        };
        let file = self.files.len();
        self.files.push(SourceFile {
            path: path.to_path_buf(),
            locator: Locator::new(&text),
        });
        if let Some(mf) = self.parse(file, &text) {
            stack.push(canonical);
            self.merge(file, mf, merged, stack, depth);
            stack.pop();
        }
    }

    fn parse(&mut self, file: usize, text: &str) -> Option<ModelFile> {
        let path = self.files[file].path.clone();
        let blank = |l: &str| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#')
        };
        if text.lines().all(blank) {
            // The first file read is the model; the others are its includes. (Comments
            // only is empty too: there is nothing in it to read.)
            let why = if file == 0 {
                "the file is empty: a model needs at least a `model:` header"
            } else {
                "the file is empty: an included file holds sections of the model (facilities:, \
                 sectors:, ...); fill it or take it out of the `include:` list"
            };
            self.file_problem(&path, None, why.into());
            return None;
        }
        if let Some((place, why)) = too_deep(text) {
            self.file_problem(&path, Some(place), why);
            return None;
        }
        if let Err((place, why)) = expanded_within(text, MAX_EXPANDED_BYTES) {
            self.file_problem(&path, place, why);
            return None;
        }
        let mut work = text.to_string();
        let mut blanked = salvage::Blanked::default();
        let mut errors = 0;
        loop {
            let e = match serde_yaml::from_str::<ModelFile>(&work) {
                // Read whole, or read on past its errors: its includes are still read, so
                // their problems show in the same report (the model is not resolved).
                Ok(mf) => return Some(mf),
                Err(e) => e,
            };
            if e.to_string().contains("more than one document") {
                self.second_document(&path, text);
                return None;
            }
            if errors == salvage::MAX_PER_FILE {
                self.file_problem(
                    &path,
                    None,
                    format!(
                        "stopped reading after {errors} problems in this file, and there are \
                         more: fix these and check again"
                    ),
                );
                return None;
            }
            let mut place = e.location().map(|l| (l.line(), l.column()));
            let (mut msg, mut whole) = parse_message(&e.to_string());
            // A field missing from an item the YAML breaks off inside (a line of it indented
            // one space short) is the break, not a second mistake: say only the break (it
            // said `missing field` of a field written below it).
            if msg.contains("missing field") {
                if let (Some(at), Err(syntax)) =
                    (place, serde_yaml::from_str::<serde::de::IgnoredAny>(&work))
                {
                    let broke = syntax.location().map(|l| (l.line(), l.column()));
                    if broke.is_some_and(|(l, _)| salvage::within_item(&work, at, l)) {
                        (msg, whole) = parse_message(&syntax.to_string());
                        place = broke;
                    }
                }
            }
            // A flow list or map left open is found where the next line starts: say where
            // it opened.
            if msg.contains("did not find expected ',' or") {
                if let Some(open) = place.and_then(|(l, _)| unclosed_flow(&work, l)) {
                    msg.push_str(&format!(
                        " (the `{}` on line {} is never closed)",
                        open.1, open.0
                    ));
                }
            }
            // The YAML reader's words for the two commonest slips of a hand-written file.
            if msg.contains("mapping values are not allowed in this context") {
                msg.push_str(
                    " (a value holding `: ` must be quoted, as name: \"Motors: Gammaland\"; \
                     or this line is indented deeper than the key before it)",
                );
            }
            if msg.contains("found unexpected end of stream")
                || msg.contains("did not find expected key")
            {
                let name = |q: char| if q == '"' { "double" } else { "single" };
                match (quote_over_lines(&work), place) {
                    (Some((line, q, None)), _) => msg.push_str(&format!(
                        " (the {} quote on line {line} is never closed)",
                        name(q)
                    )),
                    (Some((line, q, Some(closed))), Some((at, _))) if closed == at => {
                        msg.push_str(&format!(
                            " (the {} quote on line {line} is closed only on line {closed}: \
                             one left open there?)",
                            name(q)
                        ))
                    }
                    _ => {}
                }
            }
            // A line indented between its map's keys and the map above: the reader's words
            // (an expected key, or a '-') do not say that is what it found.
            if (msg.contains("did not find expected key")
                || msg.contains("did not find expected '-' indicator"))
                && !msg.contains(" quote on line ")
            {
                if let Some(hint) = place.and_then(|(l, _)| short_indent(&work, l)) {
                    msg.push_str(&hint);
                }
            }
            // A tab where YAML wants spaces: the reader's words do not say so.
            if msg.contains("cannot start any token") {
                let tab = place
                    .and_then(|(l, c)| work.lines().nth(l.saturating_sub(1)).map(|t| (t, c)))
                    .is_some_and(|(t, c)| t.chars().nth(c.saturating_sub(1)) == Some('\t'));
                if tab {
                    msg.push_str(" (a tab: YAML indents with spaces, never tabs)");
                }
            }
            // A key written twice is placed at its map's first key: point at the second
            // writing, and stop there (setting either copy aside would hide the other's
            // problems, or report the same key again).
            let twice = salvage::written_twice(&msg);
            let place = match (&twice, place) {
                (Some(key), Some(at)) => Some(salvage::second_key(&work, at, key).unwrap_or(at)),
                _ => place,
            };
            self.file_problem(&path, place, shorten_quoted(&blanked.restate(&msg)));
            errors += 1;
            if whole || twice.is_some() {
                // Not a map of sections (no items to read on past), or a key written twice.
                return None;
            }
            // Each round reads the file three times: a large file gets fewer rounds.
            if errors * work.len() * 3 > salvage::MAX_READ {
                self.file_problem(
                    &path,
                    None,
                    format!(
                        "stopped reading after {errors} problem{} in this large file: fix \
                         {} and check again",
                        if errors == 1 { "" } else { "s" },
                        if errors == 1 { "it" } else { "these" }
                    ),
                );
                return None;
            }
            // Not YAML at all further down: say where, and stop (its items cannot be told
            // apart).
            if let Err(syntax) = serde_yaml::from_str::<serde::de::IgnoredAny>(&work) {
                let at = syntax.location().map(|l| (l.line(), l.column()));
                if at != place {
                    let (msg, _) = parse_message(&syntax.to_string());
                    self.file_problem(&path, at, shorten_quoted(&msg));
                }
                return None;
            }
            let (line, _) = place?;
            // A section written as the wrong kind of thing goes whole, not item by item.
            let field = msg.split(": ").next().unwrap_or("");
            let section = !field.is_empty() && !field.contains(['[', '.', ' ']);
            let next = (salvage::candidates(&work, line, section).into_iter())
                .find(|(t, _)| *t != work && is_yaml(t));
            let (t, item) = next?;
            if let Some((section, k)) = item {
                blanked.add(section, k);
            }
            work = t;
        }
    }

    /// A second YAML document in a model file: points at the marker that starts it.
    fn second_document(&mut self, path: &Path, text: &str) {
        let mut content = false;
        let mut place = None;
        for (i, l) in text.lines().enumerate() {
            if l.starts_with("---") && content {
                place = Some((i + 1, 1));
                break;
            }
            let t = l.trim();
            content |= !(t.is_empty() || t.starts_with('#') || l.starts_with("---"));
        }
        self.file_problem(
            path,
            place,
            "a model file holds one YAML document, and a second one starts here \
             (`---`): split it into its own file and `include:` it"
                .into(),
        );
    }

    fn merge(
        &mut self,
        file: usize,
        mf: ModelFile,
        merged: &mut Merged,
        stack: &mut Vec<PathBuf>,
        depth: usize,
    ) {
        if let Some(h) = mf.model {
            if merged.header.is_some() {
                self.problem_at(
                    file,
                    "model".into(),
                    "only the top model file may have a `model:` header".into(),
                );
            } else if file != 0 {
                // The top file has none: the model would take an included file's name.
                self.problem_at(
                    file,
                    "model".into(),
                    format!(
                        "a file with a `model:` header cannot be included ({} has none): a \
                         variant starts as a copy of this file, with a header of its own",
                        self.files[0]
                            .path
                            .file_name()
                            .map_or(String::new(), |n| n.to_string_lossy().into_owned())
                    ),
                );
            } else {
                merged.header = Some((file, h));
            }
        }
        merged.sources.extend(file, mf.sources);
        merged.elements.extend(file, mf.elements);
        merged.forms.extend(file, mf.forms);
        merged.stages.extend(file, mf.stages);
        merged.recipes.extend(file, mf.recipes);
        merged.countries.extend(file, mf.countries);
        merged.markets.extend(file, mf.markets);
        merged.firms.extend(file, mf.firms);
        merged.deposits.extend(file, mf.deposits);
        merged.facilities.extend(file, mf.facilities);
        merged.sectors.extend(file, mf.sectors);
        merged.prices.extend(file, mf.prices);
        merged.stockpiles.extend(file, mf.stockpiles);
        merged.groups.extend(file, mf.groups);
        merged.policies.extend(file, mf.policies);
        merged.contracts.extend(file, mf.contracts);
        for (k, v) in mf.behaviour {
            match merged.behaviour.get(&k) {
                None => {
                    merged.behaviour.insert(k, (file, v));
                }
                // A file's own setting overrides what the files it includes set.
                Some((by, _)) if self.merging.contains(by) => {}
                Some((by, _)) => {
                    let first = self.files[*by].path.display().to_string();
                    self.problem_at(
                        file,
                        format!("behaviour.{k}"),
                        format!(
                            "parameter '{k}' is also set in {first}, which this file does not \
                             include: set it once, or in the file that includes both"
                        ),
                    );
                }
            }
        }
        let dir = self.files[file]
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        self.merging.push(file);
        for (i, inc) in mf.include.iter().enumerate() {
            let p = tidy_join(&dir, inc);
            // (`.` beside a file in the working directory tidies to nothing: it is there.)
            let p = if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p
            };
            if inc.trim().is_empty() {
                self.problem_at(
                    file,
                    format!("include[{i}]"),
                    "an include names no file: give a file's path, relative to this one".into(),
                );
                continue;
            }
            if inc.contains("://") {
                self.problem_at(
                    file,
                    format!("include[{i}]"),
                    format!(
                        "'{inc}' is a web address: an include is a file on disk, relative to \
                         this one (download it and include the copy)"
                    ),
                );
                continue;
            }
            if !p.exists() {
                // A link that leads nowhere, or round in a loop, is there but names no file.
                let why = match (std::fs::symlink_metadata(&p), std::fs::metadata(&p)) {
                    (Ok(_), Err(e)) if e.raw_os_error() == Some(40) => "is a link that loops \
                         back on itself (through other links): point it at a file"
                        .to_string(),
                    (Ok(_), Err(_)) => "is a link to a file that does not exist".to_string(),
                    _ => "does not exist".to_string(),
                };
                self.problem_at(
                    file,
                    format!("include[{i}]"),
                    format!("included file '{}' {why}", p.display()),
                );
                continue;
            }
            self.read(
                &p,
                Some((file, format!("include[{i}]"))),
                merged,
                stack,
                depth + 1,
            );
        }
        self.merging.pop();
    }
}

/// The most countries (or regions) a model may have.
pub const MAX_COUNTRIES: usize = 300;
/// The most a run's table of series may take, in bytes (world-2024's takes ~9 MB).
pub const MAX_RUN_BYTES: f64 = 2e9;

/// How deep a model's structure may nest: far beyond any real model, well short of what
/// makes the YAML parser slow (it is quadratic in the depth).
pub const MAX_NESTING: usize = 64;
/// The widest indentation a model line may have, for the same reason.
pub const MAX_INDENT: usize = 256;

/// The first place where `[`/`{` nest deeper than [`MAX_NESTING`] or a line is indented
/// more than [`MAX_INDENT`] columns (line and column from 1), with what is wrong there.
/// Brackets inside quoted strings and comments do not count.
fn too_deep(text: &str) -> Option<((usize, usize), String)> {
    let (mut depth, mut quote, mut comment) = (0usize, None::<char>, false);
    let (mut line, mut col, mut indent, mut leading) = (1, 0, 0, true);
    let mut prev = '\n';
    let mut escaped = false;

    for c in text.chars() {
        col += 1;
        if c == '\n' {
            (line, col, indent, leading, comment) = (line + 1, 0, 0, true, false);

            prev = c;
            continue;
        }
        if leading {
            if c == ' ' {
                indent += 1;
                if indent > MAX_INDENT {
                    let why = format!("a line indented more than {MAX_INDENT} columns");
                    return Some(((line, col), why));
                }
                prev = c;
                continue;
            }
            leading = false;
        }

        let token_start = prev.is_whitespace() || matches!(prev, '[' | '{' | ',' | ':');
        match quote {
            _ if comment => {}
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '#' if prev.is_whitespace() => comment = true,
                '\'' | '"' if token_start => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        let why = format!("lists and maps nest deeper than {MAX_NESTING} levels");
                        return Some(((line, col), why));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = c;
    }
    None
}

/// The most text a model file may stand for once its aliases (`*name`) are expanded.
const MAX_EXPANDED_BYTES: usize = 4 * MAX_FILE_BYTES as usize;

/// Checks that `text`, its aliases expanded, holds no more than `cap` bytes of scalars: a
/// few aliases of a large anchored value (`&big`) stand for gigabytes, which reading the
/// model would copy out. Counted on a pass that copies nothing; text that is not YAML is
/// left to the reader, which says why.
///
/// The same pass refuses a YAML tag of the file's own (`!include other.yaml`): the reader
/// would drop it and read on as if it were not there (the format has none; an include is
/// listed under `include:`).
fn expanded_within(text: &str, cap: usize) -> Result<(), (Option<(usize, usize)>, String)> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::cell::Cell;
    const OVER: &str = "expanded past the limit";
    const TAG: &str = "a YAML tag:";
    #[derive(Clone, Copy)]
    struct Count<'a>(&'a Cell<usize>, usize);
    impl Count<'_> {
        fn add<E: serde::de::Error>(self, n: usize) -> Result<(), E> {
            self.0.set(self.0.get().saturating_add(n));
            if self.0.get() > self.1 {
                return Err(E::custom(OVER));
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for Count<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Count<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any YAML")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
            self.add(v.len() + 1)
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<(), E> {
            self.add(v.len() + 1)
        }
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
            self.add(1)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
            self.add(1)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
            self.add(1)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
            self.add(1)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
            self.add(1)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
            self.add(1)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
            self.add(1)?;
            while a.next_element_seed(self)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
            self.add(1)?;
            while a.next_key_seed(self)?.is_some() {
                a.next_value_seed(self)?;
            }
            Ok(())
        }
        fn visit_enum<A: serde::de::EnumAccess<'de>>(self, a: A) -> Result<(), A::Error> {
            // A tagged node comes as an enum whose variant is its tag.
            struct Tag;
            impl<'de> DeserializeSeed<'de> for Tag {
                type Value = String;
                fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
                    String::deserialize(d)
                }
            }
            use serde::Deserialize as _;
            let (tag, _) = a.variant_seed(Tag)?;
            Err(serde::de::Error::custom(format!("{TAG}{tag}")))
        }
    }
    let total = Cell::new(0);
    let de = serde_yaml::Deserializer::from_str(text);
    for doc in de {
        if let Err(e) = Count(&total, cap).deserialize(doc) {
            let said = e.to_string();
            if said.contains(OVER) {
                return Err((
                    None,
                    format!(
                        "with its aliases (*name) expanded the file stands for more than {} \
                         MB of text: write the repeated values out, or repeat fewer",
                        cap / (1024 * 1024)
                    ),
                ));
            }
            if let Some(at) = said.find(TAG) {
                let tag: String = said[at + TAG.len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                let tag = tag
                    .trim_end_matches(|c: char| !c.is_alphanumeric())
                    .to_string();
                let place = e.location().map(|l| (l.line(), l.column()));
                return Err((
                    place,
                    format!(
                        "'!{tag}' is a YAML tag, which the model format has none of (the \
                         reader would drop it): an included file is listed under `include:` \
                         by its path; a text starting with '!' goes in quotes"
                    ),
                ));
            }
            return Ok(());
        }
    }
    Ok(())
}

/// The line (1-based) before `line` where a flow list or map opens and does not close on
/// it, and its bracket: where a reader's "did not find expected ','" began.
fn unclosed_flow(text: &str, line: usize) -> Option<(usize, char)> {
    let lines: Vec<&str> = text.lines().take(line.saturating_sub(1)).collect();
    for (i, l) in lines.iter().enumerate().rev() {
        let (mut open, mut quote): (Vec<char>, Option<char>) = (Vec::new(), None);
        for c in l.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') => break,
                (None, '[' | '{') => open.push(c),
                (None, ']' | '}') => {
                    open.pop();
                }
                _ => {}
            }
        }
        if let Some(&c) = open.last() {
            return Some((i + 1, c));
        }
    }
    None
}

/// The first quoted string in `text` that runs over a line's end: the line it opens on,
/// its quote, and the line that closes it (None: nothing does). A string left open runs on
/// to the next quote, or to the end of the file, where the reader reports it. Comments and
/// a quote inside a plain word (it's) are passed over.
fn quote_over_lines(text: &str) -> Option<(usize, char, Option<usize>)> {
    let mut open: Option<(usize, char)> = None;
    for (n, line) in text.lines().enumerate() {
        if let Some((at, q)) = open.filter(|&(at, _)| at < n + 1) {
            // Open from an earlier line: where does it close?
            if line.contains(q) {
                return Some((at, q, Some(n + 1)));
            }
            continue;
        }
        let mut chars = line.chars().peekable();
        let mut prev = ' ';
        while let Some(c) = chars.next() {
            match open {
                Some((_, q)) if c == q => {
                    // '' is an escaped quote inside a single-quoted string.
                    if q == '\'' && chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        open = None;
                    }
                }
                Some((_, '"')) if c == '\\' => {
                    chars.next();
                }
                Some(_) => {}
                None if c == '#' && (prev == ' ' || prev == '\t') => break,
                None if (c == '"' || c == '\'') && !prev.is_alphanumeric() => {
                    open = Some((n + 1, c));
                }
                None => {}
            }
            prev = c;
        }
    }
    open.map(|(at, q)| (at, q, None))
}

/// Whether `text` is valid YAML (whatever its shape, duplicate keys allowed): only then are
/// a model file's errors about its fields, and the items holding them can be set aside to
/// read on.
fn is_yaml(text: &str) -> bool {
    serde_yaml::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// A parser message without its place (the problem carries it), and whether it is about the
/// whole file (its top level is not a map of sections), restated for a person.
fn parse_message(raw: &str) -> (String, bool) {
    let mut msg = raw.to_string();
    // The location is already in the place; drop serde's " at line N column M".
    if let Some(cut) = msg.find(" at line ") {
        msg.truncate(cut);
    }
    if !msg.ends_with("expected struct ModelFile") {
        return (plain_types(&msg), false);
    }
    // The whole file is one scalar or list: not a model, whatever it is.
    let what = match msg
        .strip_prefix("invalid type: ")
        .and_then(|r| r.split([' ', ',']).next())
    {
        Some("string") => "plain text",
        Some("sequence") => "a list",
        Some("integer" | "floating") => "a number",
        Some("boolean") => "true or false",
        _ => "not a map",
    };
    let msg = format!(
        "not a model file: its top level must be a map of sections (model:, include:, \
         elements:, …), and this file's is {what}"
    );
    (msg, true)
}

/// A reader's message in the words of the model file, not of the Rust types it reads into:
/// "expected a number", not "expected f64".
fn plain_types(msg: &str) -> String {
    // A number the reader could not take as one: too large for it (read as text), written
    // in hex or octal, or too large a whole number.
    let (head, msg) = msg.split_at(msg.find("invalid type: ").unwrap_or(0));
    if let Some(rest) = msg.strip_prefix("invalid type: string \"") {
        if let Some((text, tail)) = rest.split_once('"') {
            let numeric = text.chars().any(|c| c.is_ascii_digit())
                && text
                    .chars()
                    .all(|c| c.is_ascii_digit() || "+-.eE".contains(c));
            match text.parse::<f64>() {
                Ok(x) if numeric && x.is_infinite() && tail.contains("expected f") => {
                    return format!(
                        "{head}{text} is too large to be a number here (it would be \
                         infinite); numbers must be finite"
                    );
                }
                _ => {}
            }
        }
    }
    if let Some(rest) = msg.strip_prefix("invalid type: integer `") {
        if let Some((n, tail)) = rest.split_once('`') {
            if tail.contains(" as u128") || tail.contains(" as i128") {
                let limit = match n.starts_with('-') {
                    true => String::new(),
                    false => format!(" (at most {})", u64::MAX),
                };
                return format!("{head}{n} is too large in size to be a whole number here{limit}");
            }
            if tail.contains("expected f") {
                return format!(
                    "{head}a number written in hex, octal or binary (it reads as {n}): write \
                     it in decimal"
                );
            }
        }
    }
    let mut out = format!("{head}{msg}").replace("unit value", "an empty value");
    for (rust, plain) in [
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected i64", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected u32", "expected a whole number, 0 or more"),
        ("expected usize", "expected a whole number, 0 or more"),
        (
            "expected struct ParamDef",
            "expected a map such as {value: 0.5, assumption: \"why\"}",
        ),
    ] {
        out = out.replace(rust, plain);
    }
    if let Some(at) = out.find("expected struct ") {
        out.truncate(at);
        out.push_str("expected a map of fields");
    }
    if out.contains("unknown field `<<`") {
        out.push_str(" (YAML merge keys `<<:` are not read: write the fields out)");
    }
    out
}

/// Where line `line` (1-based) is indented less than the line before it (blank lines and
/// comments aside) but more than the line that opened their map: out of step with both.
fn short_indent(text: &str, line: usize) -> Option<String> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let this = text.lines().nth(line.checked_sub(1)?)?;
    let content = |l: &&str| {
        let t = l.trim_start();
        !t.is_empty() && !t.starts_with('#')
    };
    let before: Vec<&str> = text.lines().take(line - 1).filter(content).collect();
    let prev = *before.last()?;
    let (here, there) = (indent(this), indent(prev));
    let opener = before.iter().rev().map(|l| indent(l)).find(|&i| i < there);
    let spaces = if here == 1 { "space" } else { "spaces" };
    (here < there && opener.is_some_and(|o| here > o)).then(|| {
        format!(
            " (line {line} is indented {here} {spaces}, the line before it {there}: the keys \
             of one map line up)"
        )
    })
}

/// A model file near a path that is none: `world-2024` (a script's `// model:` name) or
/// `models/world-2024` (the folder of its parts) for `models/world-2024.yaml`.
fn nearby_model(path: &Path) -> String {
    let bare = path.extension().is_none();
    let named = (path.is_relative() && path.components().count() == 1)
        .then(|| Path::new("models").join(path).with_extension("yaml"));
    let found = (bare.then(|| path.with_extension("yaml")))
        .into_iter()
        .chain(named.filter(|_| bare))
        .find(|p| p.is_file());
    match found {
        Some(p) => format!(" (did you mean '{}'?)", p.display()),
        None => String::new(),
    }
}

fn read_text(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the file: {e}{}", nearby_model(path)))?;
    if meta.is_dir() {
        return Err(format!(
            "is a directory, not a model file{}",
            nearby_model(path)
        ));
    }
    if path.extension().is_some_and(|x| x == "rhai") {
        return Err(
            "is a scenario script (.rhai), not a model file (.yaml): a script is run with \
             `chokepoint run`, and takes its model with --model or its `// model:` line"
                .into(),
        );
    }
    let too_big = || {
        format!(
            "model files are limited to {} MB, and this one is larger",
            MAX_FILE_BYTES / (1024 * 1024)
        )
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    // A device or a pipe reports no size: read no more than the limit allows.
    let bytes = read_at_most(path, MAX_FILE_BYTES)
        .map_err(|e| format!("cannot read the file: {e}"))?
        .ok_or_else(too_big)?;
    if let Some(utf16) = utf16_kind(&bytes) {
        return Err(format!(
            "the file is {utf16} text (Windows may call it \"Unicode\"), not UTF-8: save it as \
             UTF-8"
        ));
    }
    if bytes.contains(&0) {
        return Err("the file is binary (it contains NUL bytes), not YAML text".into());
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not UTF-8 text ({}: save it as UTF-8)",
            bad_utf8_place(&e)
        )
    })?;
    // Editors on Windows may start a UTF-8 file with a byte-order mark: it is not content.
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    Ok(unix_line_ends(text))
}

/// Whether the bytes are UTF-16 text: a byte-order mark, or (without one) ASCII text whose
/// every other byte is NUL. (Scripts are checked with it too.)
pub fn utf16_kind(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xFF, 0xFE, 0, 0, ..] | [0, 0, 0xFE, 0xFF, ..] => return Some("UTF-32"),
        [0xFF, 0xFE, ..] => return Some("UTF-16 (little-endian)"),
        [0xFE, 0xFF, ..] => return Some("UTF-16 (big-endian)"),
        _ => {}
    }
    let head = &bytes[..bytes.len().min(512) & !1];
    if head.len() < 4 {
        return None;
    }
    let nul_at = |odd: usize| {
        (head.chunks_exact(2)).all(|p| p[odd] == 0 && p[1 - odd] != 0 && p[1 - odd] < 0x80)
    };
    match (nul_at(1), nul_at(0)) {
        (true, _) => Some("UTF-16 (little-endian)"),
        (_, true) => Some("UTF-16 (big-endian)"),
        _ => None,
    }
}

/// The text with each line ending as a `\n`: YAML also ends lines with `\r\n` (Windows) or a
/// lone `\r` (classic Mac OS), and the checks that read lines and report them by number
/// count `\n` only.
fn unix_line_ends(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Checks a number: finite and within a range, with a message naming the range.
pub(crate) fn check_range(v: f64, lo: f64, hi: f64) -> Result<f64, String> {
    use crate::error::shown;
    if !v.is_finite() {
        return Err(format!("must be a finite number, got {v}"));
    }
    if v < lo {
        return Err(format!("must be ≥ {}, got {}", shown(lo), shown(v)));
    }
    if v > hi {
        return Err(format!("must be ≤ {}, got {}", shown(hi), shown(v)));
    }
    Ok(v)
}

/// Per-kind context for reporting: kind name and item origins.
struct Ctx<'a> {
    kind: &'static str,
    origin: &'a [(usize, usize)],
}

impl Loader {
    fn at(&mut self, ctx: &Ctx, i: usize, field: &str, msg: String) {
        let (file, local) = ctx.origin[i];
        let path = if field.is_empty() {
            format!("{}[{local}]", ctx.kind)
        } else {
            format!("{}[{local}].{field}", ctx.kind)
        };
        self.problem_at(file, path, msg);
    }

    fn num(&mut self, ctx: &Ctx, i: usize, field: &str, v: f64, lo: f64, hi: f64) -> f64 {
        match check_range(v, lo, hi) {
            Ok(v) => v,
            Err(m) => {
                self.at(ctx, i, field, m);
                0.0
            }
        }
    }

    fn date(&mut self, ctx: &Ctx, i: usize, field: &str, s: &str) -> Option<Date> {
        match Date::parse(s) {
            Ok(d) => Some(d),
            Err(m) => {
                self.at(ctx, i, field, m);
                None
            }
        }
    }

    /// Resolves a reference, reporting an unknown name with a did-you-mean.
    /// A did-you-mean for an unknown reference, while the load's budget for them lasts.
    fn hint(&mut self, name: &str, known: Vec<&str>) -> String {
        self.hint_work += known.len();
        match self.hint_work <= MAX_HINT_WORK {
            true => did_you_mean(name, known),
            false => String::new(),
        }
    }

    fn refer(
        &mut self,
        ctx: &Ctx,
        i: usize,
        field: &str,
        ids: &HashMap<String, usize>,
        what: &str,
        name: &str,
    ) -> Option<usize> {
        match ids.get(name) {
            Some(&x) => Some(x),
            None if what == "element" && self.meant_elements.contains(name) => None,
            // `country:` left empty, or written `null` or `~` (YAML's empty value).
            None if matches!(name.trim(), "" | "null" | "~") => {
                self.at(
                    ctx,
                    i,
                    field,
                    format!("is empty: name the {what} it refers to"),
                );
                None
            }
            None => {
                let hint = self.hint(name, ids.keys().map(String::as_str).collect());
                self.at(ctx, i, field, format!("unknown {what} '{name}'{hint}"));
                None
            }
        }
    }

    /// Builds an id table, reporting duplicates.
    fn ids<'a>(
        &mut self,
        ctx: &Ctx,
        names: impl Iterator<Item = &'a str>,
        field: &str,
    ) -> HashMap<String, usize> {
        let mut map = HashMap::new();
        for (i, n) in names.enumerate() {
            if n.trim().is_empty() {
                self.at(ctx, i, field, "must not be empty".into());
            } else if n
                .chars()
                .any(|c| c.is_control() || crate::error::invisible(c))
                || n.trim() != n
            {
                // Each character that would not show as itself, by its code point.
                let shown: String = (n.chars())
                    .map(|c| match c.is_control() || crate::error::invisible(c) {
                        true => format!("<U+{:04X}>", c as u32),
                        false => c.to_string(),
                    })
                    .collect();
                let why = format!(
                    "'{shown}' must be plain text: no control or invisible characters (a \
                     newline, a tab, a zero-width space, a direction mark) and no spaces at \
                     either end"
                );
                self.at(ctx, i, field, why);
            } else if let Some(q) = n.chars().find(|c| TYPOGRAPHIC_QUOTES.contains(c)) {
                // A word processor's curly quotes are part of the id, not its quoting: "CC"
                // written elsewhere would then be unknown, with no name close to it.
                let plain = n.trim_matches(|c| TYPOGRAPHIC_QUOTES.contains(&c));
                let why = match plain.chars().any(|c| TYPOGRAPHIC_QUOTES.contains(&c)) {
                    // Inside the id (lock’heed): no quoting makes it plain.
                    true => format!(
                        "'{n}' holds a typographic quote ({q}): ids are plain text; write it \
                         without one"
                    ),
                    false => format!(
                        "'{n}' holds a typographic quote ({q}): ids are plain text, and YAML \
                         quotes with straight ones (\"{plain}\" or '{plain}')"
                    ),
                };
                self.at(ctx, i, field, why);
            } else if let Some(&first) = map.get(n) {
                let (file, local) = ctx.origin[first];
                // In another file, say which: the index is that file's own.
                let there = if ctx.origin[i].0 == file {
                    String::new()
                } else {
                    format!("{}: ", self.files[file].path.display())
                };
                self.at(
                    ctx,
                    i,
                    field,
                    format!(
                        "duplicate id '{n}' (first defined at {there}{}[{local}])",
                        ctx.kind
                    ),
                );
            } else {
                map.insert(n.to_string(), i);
            }
        }
        map
    }

    /// As [`Self::ids`], for ids that become parts of series keys (`CN>US`,
    /// `separation/CN`): they may not contain the separators, nor a CSV file's.
    fn key_ids<'a>(
        &mut self,
        ctx: &Ctx,
        names: impl Iterator<Item = &'a str> + Clone,
        field: &str,
    ) -> HashMap<String, usize> {
        for (i, n) in names.clone().enumerate() {
            if n.contains(['/', '>']) {
                self.at(
                    ctx,
                    i,
                    field,
                    format!("'{n}' may not contain '/' or '>' (they separate the parts of series keys such as 'CN>US')"),
                );
            } else if n.contains([',', '"']) {
                self.at(
                    ctx,
                    i,
                    field,
                    format!("'{n}' may not contain ',' or '\"' (it names columns and rows of the CSV files runs and sweeps write, and --metric and --set read)"),
                );
            }
        }
        self.ids(ctx, names, field)
    }

    fn sourced(
        &mut self,
        ctx: &Ctx,
        i: usize,
        rec: &dyn Sourced,
        sources: &HashMap<String, usize>,
    ) {
        let ids = rec.source().ids();
        if ids.is_empty() && rec.assumption().is_none_or(|a| a.trim().is_empty()) {
            self.at(
                ctx,
                i,
                "",
                "has no `source:` or `assumption:` for its numbers".into(),
            );
        }
        for (k, id) in ids.iter().enumerate() {
            if !sources.contains_key(*id) {
                let field = if ids.len() > 1 {
                    format!("source[{k}]")
                } else {
                    "source".into()
                };
                let hint = did_you_mean(id, sources.keys().map(String::as_str));
                self.at(ctx, i, &field, format!("unknown source '{id}'{hint}"));
            }
        }
    }

    /// Reads an element-share map into a dense vector; checks refs, values and the sum.
    fn distribution(
        &mut self,
        ctx: &Ctx,
        i: usize,
        field: &str,
        map: &IndexMap<String, f64>,
        elems: &HashMap<String, usize>,
        n: usize,
        must_sum: bool,
    ) -> Vec<f64> {
        let mut v = vec![0.0; n];
        let mut ok = true;
        for (sym, &x) in map {
            let f = format!("{field}.{sym}");
            let Some(e) = self.refer(ctx, i, &f, elems, "element", sym) else {
                ok = false;
                continue;
            };
            match check_range(x, 0.0, 1.0) {
                Ok(x) => v[e] += x,
                Err(m) => {
                    ok = false;
                    self.at(ctx, i, &f, m);
                }
            }
        }
        let sum: f64 = v.iter().sum();
        if ok && must_sum && (sum - 1.0).abs() > SUM_TOLERANCE {
            self.at(
                ctx,
                i,
                field,
                format!("shares sum to {sum:.4}, not 1 (tolerance {SUM_TOLERANCE})"),
            );
        }
        if sum > 0.0 && must_sum {
            v.iter_mut().for_each(|x| *x /= sum);
        }
        v
    }

    fn resolve(mut self, m: Merged) -> Result<Model, ModelError> {
        let Some((hfile, header)) = m.header else {
            let path = self
                .files
                .first()
                .map(|f| f.path.clone())
                .unwrap_or_default();
            // A `model:` key with nothing under it is named where it stands.
            let place = self.files.first().and_then(|f| f.locator.find("model"));
            let why = if place.is_some() {
                "the `model:` header is empty: it needs name, start and end"
            } else {
                "missing the `model:` header (name, start, end)"
            };
            self.file_problem(&path, place, why.into());
            return Err(ModelError {
                problems: self.problems,
            });
        };
        let hctx_origin = [(hfile, 0usize)];
        let hc = Ctx {
            kind: "model",
            origin: &hctx_origin,
        };
        let at_header = |me: &mut Self, field: &str, msg: String| {
            me.problem_at(hfile, format!("model.{field}"), msg)
        };
        let _ = &hc;
        if header.name.trim().is_empty() {
            at_header(&mut self, "name", "must not be empty".into());
        }
        let start = Date::parse(&header.start)
            .map_err(|m| at_header(&mut self, "start", m))
            .ok();
        let end = Date::parse(&header.end)
            .map_err(|m| at_header(&mut self, "end", m))
            .ok();
        let (start, end) = match (start, end) {
            (Some(s), Some(e)) if e > s && e.days() - s.days() <= 100 * 366 => (s, e),
            (Some(s), Some(e)) if e <= s => {
                at_header(&mut self, "end", format!("{e} is not after the start {s}"));
                (s, s.add_days(365))
            }
            (Some(s), Some(_)) => {
                at_header(
                    &mut self,
                    "end",
                    "the horizon is limited to 100 years".into(),
                );
                (s, s.add_days(365))
            }
            // Already reported; carry on with a placeholder horizon to find more problems.
            _ => (Date::from_days(10957), Date::from_days(11323)),
        };
        let step_days = match header.step_days {
            None => 7,
            Some(d) if (1..=366).contains(&d) => d as u32,
            Some(d) => {
                at_header(
                    &mut self,
                    "step_days",
                    format!("must be between 1 and 366, got {d}"),
                );
                7
            }
        };
        // Both ends are days of the horizon: 2024-01-01 to 2024-01-07 is one weekly step.
        if end.days() - start.days() + 1 < step_days as i32 {
            at_header(
                &mut self,
                "end",
                format!(
                    "the horizon {start} to {end} is shorter than one step of {step_days} days"
                ),
            );
        }

        // Sources.
        let c = Ctx {
            kind: "sources",
            origin: &m.sources.origin,
        };
        let source_ids = self.ids(&c, m.sources.items.iter().map(|s| s.id.as_str()), "id");
        for (i, x) in m.sources.items.iter().enumerate() {
            if let Some(st) = x
                .status
                .as_deref()
                .filter(|st| !["P", "S", "D", "U"].contains(st))
            {
                self.at(
                    &c,
                    i,
                    "status",
                    format!("'{st}' is not a status: P (primary), S (secondary), D (derived) or U (unverified)"),
                );
            }
        }
        let sources = m
            .sources
            .items
            .iter()
            .map(|s| Source {
                id: s.id.clone(),
                title: s.title.clone().unwrap_or_default(),
                url: s.url.clone().unwrap_or_default(),
                status: s.status.clone().unwrap_or_default(),
            })
            .collect();

        // Elements.
        let c = Ctx {
            kind: "elements",
            origin: &m.elements.origin,
        };
        let mut elements = Vec::new();
        let mut elem_ids = HashMap::new();
        for (i, sym) in m.elements.items.iter().enumerate() {
            match element::lookup(sym) {
                Some(info) => {
                    if elem_ids.contains_key(sym) {
                        self.at(&c, i, "", format!("element '{sym}' is listed twice"));
                        continue;
                    }
                    elem_ids.insert(sym.clone(), elements.len());
                    elements.push(Element {
                        symbol: info.symbol.to_string(),
                        name: info.name.to_string(),
                        number: info.number,
                        group: info.re_group(),
                    });
                }
                None => {
                    let parts: Vec<&str> =
                        sym.split([' ', ',']).filter(|p| !p.is_empty()).collect();
                    let case = element::symbols().find(|k| k.eq_ignore_ascii_case(sym.trim()));
                    let hint = if let Some(k) = case {
                        self.meant_elements.insert(k.to_string());
                        format!(" (symbols are case-sensitive: '{k}')")
                    } else if parts.len() > 1 && parts.iter().all(|p| element::lookup(p).is_some())
                    {
                        self.meant_elements
                            .extend(parts.iter().map(|p| p.to_string()));
                        let list: Vec<String> = parts.iter().map(|p| format!("'{p}'")).collect();
                        format!(" (a missing comma between {}?)", list.join(" and "))
                    } else {
                        did_you_mean(sym, element::symbols())
                    };
                    self.at(&c, i, "", format!("'{sym}' is not an element symbol{hint}"));
                }
            }
        }
        if m.elements.items.is_empty() {
            // At an empty `elements:` if a file has one, else at the header; and nothing
            // else: every element the model names would be reported unknown after it.
            let msg = "the model lists no `elements:` (the rare earths it tracks, e.g. \
                       [La, Ce, Pr, Nd, Dy, Tb])"
                .to_string();
            match (0..self.files.len()).find(|&f| self.files[f].locator.find("elements").is_some())
            {
                Some(f) => self.problem_at(f, "elements".into(), msg),
                // The field is missing: its path, at the model's header.
                None => {
                    let f = &self.files[hfile];
                    self.problems.push(Problem {
                        file: f.path.clone(),
                        place: f.locator.find("model"),
                        path: "elements".into(),
                        message: msg,
                    });
                }
            }
            return Err(ModelError {
                problems: self.problems,
            });
        }
        if elements.len() > 64 {
            self.at(&c, 64, "", "a model may track at most 64 elements".into());
        }
        let ne = elements.len();

        // Forms.
        let c = Ctx {
            kind: "forms",
            origin: &m.forms.origin,
        };
        let form_ids = self.key_ids(&c, m.forms.items.iter().map(|f| f.id.as_str()), "id");
        let mut forms = Vec::new();
        for (i, f) in m.forms.items.iter().enumerate() {
            let re_share = match f.re_share {
                Some(x) => {
                    self.sourced(&c, i, f, &source_ids);
                    let v = self.num(&c, i, "re_share", x, 0.0, 1.0);
                    if x == 0.0 {
                        self.at(&c, i, "re_share", "must be > 0".into());
                    }
                    v.max(1e-9)
                }
                None => 1.0,
            };
            forms.push(Form {
                id: f.id.clone(),
                name: f.name.clone().unwrap_or_else(|| f.id.clone()),
                mixed: f.mixed,
                re_share,
            });
        }
        if forms.len() > 64 {
            self.at(&c, 64, "", "a model may declare at most 64 forms".into());
        }
        // A separated form's goods are named `form:element` (`oxide:Nd`): a form of that
        // name would be read as the other's element wherever goods are named.
        for (i, f) in forms.iter().enumerate() {
            let Some((head, sym)) = f.id.split_once(':') else {
                continue;
            };
            let separated = forms.iter().any(|g| g.id == head && !g.mixed);
            if separated && elements.iter().any(|e| e.symbol == sym) {
                self.at(
                    &c,
                    i,
                    "id",
                    format!(
                        "'{}' already names the {sym} of form '{head}': a form may not take the name \
                         of another form's goods (choose another id)",
                        f.id
                    ),
                );
            }
        }

        // Stages and markets.
        let c = Ctx {
            kind: "stages",
            origin: &m.stages.origin,
        };
        let stage_ids = self.key_ids(&c, m.stages.items.iter().map(String::as_str), "");
        let c = Ctx {
            kind: "markets",
            origin: &m.markets.origin,
        };
        let market_ids = self.key_ids(&c, m.markets.items.iter().map(String::as_str), "");
        if m.markets.items.is_empty() {
            self.problem_at(hfile, "markets".into(), "the model lists no markets".into());
        }

        // Recipes.
        let c = Ctx {
            kind: "recipes",
            origin: &m.recipes.origin,
        };
        let recipe_ids = self.ids(&c, m.recipes.items.iter().map(|r| r.id.as_str()), "id");
        let mut recipes = Vec::new();
        // Each recipe's form → form edge, where both forms are known: (recipe, input, output).
        let mut edges: Vec<(usize, usize, usize)> = Vec::new();
        // Each recipe's stage where it names a known one: a typo is reported once, not again
        // by every facility checked against a stand-in stage.
        let mut recipe_stage: Vec<Option<usize>> = Vec::new();
        for (i, r) in m.recipes.items.iter().enumerate() {
            self.sourced(&c, i, r, &source_ids);
            let known_stage = self.refer(&c, i, "stage", &stage_ids, "stage", &r.stage);
            recipe_stage.push(known_stage);
            let stage = known_stage.unwrap_or(0);
            let input = self.refer(&c, i, "input", &form_ids, "form", &r.input);
            let output = self.refer(&c, i, "output", &form_ids, "form", &r.output);
            let recovery = self.num(&c, i, "recovery", r.recovery, 0.0, 1.0);
            if r.recovery == 0.0 {
                self.at(
                    &c,
                    i,
                    "recovery",
                    "must be > 0 (a plant that recovers nothing)".into(),
                );
            }
            if input.is_some() && input == output {
                self.at(
                    &c,
                    i,
                    "output",
                    "a recipe must change the form of its input".into(),
                );
            }
            let composition = match &r.composition {
                Some(_) if input.is_some_and(|f| forms[f].mixed) => {
                    self.at(&c, i, "composition", format!("the input form '{}' is mixed: a plant fed it converts whatever vector it holds, so a recipe takes no `composition` (name the elements it recovers with `elements:`)", r.input));
                    vec![]
                }
                Some(_) if r.elements.is_some() => {
                    self.at(&c, i, "elements", "a recipe with a `composition` uses the elements it names there: `elements:` is for a plant fed a mixed form".into());
                    vec![]
                }
                Some(map) => self.distribution(&c, i, "composition", map, &elem_ids, ne, true),
                None => {
                    if input.is_some_and(|f| !forms[f].mixed) {
                        self.at(&c, i, "composition", "is required: the input form is separated by element, so the recipe must say in what shares it uses them".into());
                    }
                    vec![]
                }
            };
            if r.elements.as_ref().is_some_and(|v| v.is_empty()) {
                self.at(
                    &c,
                    i,
                    "elements",
                    "lists no element: the plant would recover nothing (leave `elements` out to recover them all)".into(),
                );
            }
            let mut converts = vec![r.elements.is_none(); ne];
            for (k, s) in r.elements.iter().flatten().enumerate() {
                if let Some(e) =
                    self.refer(&c, i, &format!("elements[{k}]"), &elem_ids, "element", s)
                {
                    converts[e] = true;
                }
            }
            let mut thrift = Vec::new();
            for (sym, t) in r.thrift.iter().flatten() {
                let f = format!("thrift.{sym}");
                let Some(e) = self.refer(&c, i, &f, &elem_ids, "element", sym) else {
                    continue;
                };
                if composition.get(e).is_none_or(|&x| x <= 0.0) {
                    self.at(
                        &c,
                        i,
                        &f,
                        format!("the recipe's composition has no {sym} to thrift"),
                    );
                }
                let max = self.num(&c, i, &format!("{f}.max"), t.max, 0.0, 1.0);
                let lag_months =
                    self.num(&c, i, &format!("{f}.lag_months"), t.lag_months, 0.0, 600.0);
                let trigger = self.num(&c, i, &format!("{f}.trigger"), t.trigger, 0.0, 1000.0);
                if t.trigger == 0.0 {
                    self.at(
                        &c,
                        i,
                        &format!("{f}.trigger"),
                        "must be > 0 (a multiple of the start price)".into(),
                    );
                }
                thrift.push((
                    e,
                    Substitution {
                        max,
                        lag_months,
                        trigger,
                    },
                ));
            }
            if let (Some(a), Some(b)) = (input, output) {
                edges.push((recipes.len(), a, b));
            }
            recipes.push(Recipe {
                id: r.id.clone(),
                thrift,
                stage,
                input: input.unwrap_or(0),
                output: output.unwrap_or(0),
                recovery,
                composition,
                converts,
            });
        }
        // Recipe cycles: form → form edges must form a DAG (those of recipes whose forms
        // are known). Each cycle is reported at its first-listed recipe, naming them all;
        // its edges are then set aside to look for another.
        for _ in 0..MAX_CYCLES_REPORTED {
            let Some(cycle) = find_cycle(forms.len(), edges.iter().map(|&(_, a, b)| (a, b))) else {
                break;
            };
            let names: Vec<&str> = cycle.iter().map(|&f| forms[f].id.as_str()).collect();
            let on: Vec<usize> = (cycle.windows(2))
                .filter_map(|w| edges.iter().find(|e| (e.1, e.2) == (w[0], w[1])))
                .map(|e| e.0)
                .collect();
            let ids: Vec<String> = on.iter().map(|&r| format!("'{}'", recipes[r].id)).collect();
            let why = format!(
                "recipes form a cycle: {} (recipe{} {})",
                names.join(" → "),
                if on.len() == 1 { "" } else { "s" },
                ids.join(", ")
            );
            self.at(&c, on.iter().copied().min().unwrap_or(0), "", why);
            edges.retain(|e| !on.contains(&e.0));
        }
        // Markets and countries.
        let c = Ctx {
            kind: "countries",
            origin: &m.countries.origin,
        };
        let country_ids = self.key_ids(&c, m.countries.items.iter().map(|x| x.id.as_str()), "id");
        if m.countries.items.len() > MAX_COUNTRIES {
            // Trade rules are per buyer × exporter: their tables grow with the square.
            self.at(
                &c,
                MAX_COUNTRIES,
                "",
                format!(
                    "a model has at most {MAX_COUNTRIES} countries (the world has under 200), \
                     this one has {}",
                    m.countries.items.len()
                ),
            );
        }
        let mut countries = Vec::new();
        for (i, x) in m.countries.items.iter().enumerate() {
            let market = self
                .refer(&c, i, "market", &market_ids, "market", &x.market)
                .unwrap_or(0);
            countries.push(Country {
                id: x.id.clone(),
                name: x.name.clone().unwrap_or_else(|| x.id.clone()),
                market,
            });
        }
        // A market no country trades in would still weigh in the cross-market average that
        // `market_coupling` pulls prices toward, moving the others' prices.
        let used: HashSet<&str> = m
            .countries
            .items
            .iter()
            .map(|x| x.market.as_str())
            .collect();
        if !m.countries.items.is_empty() {
            let c = Ctx {
                kind: "markets",
                origin: &m.markets.origin,
            };
            for (i, mk) in m.markets.items.iter().enumerate() {
                if !used.contains(mk.as_str()) {
                    self.at(
                        &c,
                        i,
                        "",
                        format!(
                            "no country trades in market '{mk}' (no `market: {mk}` under \
                             countries): remove it, or move a country to it"
                        ),
                    );
                }
            }
        }

        // Firms, with parent cycles.
        let c = Ctx {
            kind: "firms",
            origin: &m.firms.origin,
        };
        let firm_ids = self.ids(&c, m.firms.items.iter().map(|x| x.id.as_str()), "id");
        let mut firms = Vec::new();
        for (i, x) in m.firms.items.iter().enumerate() {
            // Levers take a firm or a country by the same name (`to:`, entity lists): one
            // must mean one.
            if country_ids.contains_key(&x.id) {
                self.at(
                    &c,
                    i,
                    "id",
                    format!("'{}' is already the id of a country", x.id),
                );
            }
            if !x.source().ids().is_empty() || x.assumption().is_some() {
                self.sourced(&c, i, x, &source_ids);
            }
            let country = self
                .refer(&c, i, "country", &country_ids, "country", &x.country)
                .unwrap_or(0);
            let parent = x
                .parent
                .as_ref()
                .and_then(|p| self.refer(&c, i, "parent", &firm_ids, "firm", p));
            firms.push(Firm {
                id: x.id.clone(),
                name: x.name.clone().unwrap_or_else(|| x.id.clone()),
                country,
                parent,
            });
        }
        // Each chain of parents is walked once: up from a firm until a firm already
        // placed, or one on this walk (a cycle, reported once, at its first-listed member,
        // whose parent is then dropped so that nothing downstream loops).
        #[derive(Clone, Copy, PartialEq)]
        enum Walk {
            New,
            OnPath,
            Done,
        }
        let mut state = vec![Walk::New; firms.len()];
        let mut path = Vec::new();
        for i in 0..firms.len() {
            let mut f = Some(i);
            while let Some(x) = f.filter(|&x| state[x] != Walk::Done) {
                if state[x] == Walk::OnPath {
                    let from = path.iter().position(|&p| p == x).unwrap_or(0);
                    let cycle = &path[from..];
                    let first = cycle.iter().copied().min().unwrap_or(x);
                    let at = cycle.iter().position(|&p| p == first).unwrap_or(0);
                    let names: Vec<String> = (cycle[at..].iter().chain(&cycle[..=at]))
                        .map(|&p| format!("'{}'", firms[p].id))
                        .collect();
                    let why = match cycle {
                        [_] => format!("firm {} is its own parent", names[0]),
                        _ => format!(
                            "firms' parents form a cycle: {} (each is its own ancestor)",
                            names.join(" → ")
                        ),
                    };
                    self.at(&c, first, "parent", why);
                    firms[first].parent = None;
                    break;
                }
                state[x] = Walk::OnPath;
                path.push(x);
                f = firms[x].parent;
            }
            for p in path.drain(..) {
                state[p] = Walk::Done;
            }
        }

        // Deposits.
        let c = Ctx {
            kind: "deposits",
            origin: &m.deposits.origin,
        };
        let deposit_ids = self.ids(&c, m.deposits.items.iter().map(|x| x.id.as_str()), "id");
        // The form mines produce: a deposit's own, else `concentrate`.
        let concentrate = form_ids.get("concentrate").copied();
        let mut deposits = Vec::new();
        for (i, x) in m.deposits.items.iter().enumerate() {
            self.sourced(&c, i, x, &source_ids);
            let country = self
                .refer(&c, i, "country", &country_ids, "country", &x.country)
                .unwrap_or(0);
            let distribution =
                self.distribution(&c, i, "distribution", &x.distribution, &elem_ids, ne, true);
            let form = match &x.form {
                Some(name) => {
                    let f = self.refer(&c, i, "form", &form_ids, "form", name);
                    // What a recipe makes (magnets, oxide) or sectors return (scrap) is not
                    // what a mine digs up.
                    let made_by = (m.recipes.items.iter()).find(|r| r.output == *name);
                    if let Some(r) = made_by.filter(|_| f.is_some()) {
                        let msg = format!(
                            "form '{name}' is what recipe '{}' makes: a deposit's form is the \
                             raw mixed concentrate its mines dig up, which separation takes in",
                            r.id
                        );
                        self.at(&c, i, "form", msg);
                    } else if name == "scrap" && f.is_some() {
                        let msg = "form 'scrap' is what sectors return for recycling: a \
                                   deposit's form is the raw mixed concentrate its mines dig up"
                            .to_string();
                        self.at(&c, i, "form", msg);
                    } else if let Some(f) = f.filter(|&f| !forms[f].mixed) {
                        let msg = format!(
                            "form '{}' is traded element by element: a mine produces its \
                             deposit's whole element vector, so a deposit's form must be a mixed \
                             one (`mixed: true`)",
                            forms[f].id
                        );
                        self.at(&c, i, "form", msg);
                    }
                    f
                }
                None => concentrate,
            };
            deposits.push(Deposit {
                id: x.id.clone(),
                name: x.name.clone().unwrap_or_else(|| x.id.clone()),
                country,
                distribution,
                form: form.unwrap_or(0),
            });
        }

        // The default form must be one a mine can make: a whole element vector.
        if let Some(f) = concentrate.filter(|&f| !forms[f].mixed) {
            if m.deposits.items.iter().any(|x| x.form.is_none()) {
                let msg = format!(
                    "form '{}' is what mines make unless their deposit names another, so it \
                     must be mixed (`mixed: true`): a mine produces its deposit's whole \
                     element vector",
                    forms[f].id
                );
                match m.forms.origin.first() {
                    Some(&(file, _)) => self.problem_at(file, "forms".into(), msg),
                    None => at_header(&mut self, "name", msg),
                }
            }
        }
        if concentrate.is_none() && m.deposits.items.iter().any(|x| x.form.is_none()) {
            let msg = "the model has deposits but no form with id `concentrate`: mines \
                       produce that form unless their deposit names another (`form:`) \
                       (models/README: \"Forms the engine knows by id\")"
                .to_string();
            // At the forms list if there is one, else at the model's header.
            match m.forms.origin.first() {
                Some(&(file, _)) => self.problem_at(file, "forms".into(), msg),
                None => at_header(&mut self, "name", msg),
            }
        }

        // Facilities.
        let c = Ctx {
            kind: "facilities",
            origin: &m.facilities.origin,
        };
        let _ = self.key_ids(&c, m.facilities.items.iter().map(|x| x.id.as_str()), "id");
        let mut facilities = Vec::new();
        for (i, x) in m.facilities.items.iter().enumerate() {
            self.sourced(&c, i, x, &source_ids);
            let firm = x
                .firm
                .as_ref()
                .and_then(|f| self.refer(&c, i, "firm", &firm_ids, "firm", f));
            let country = self
                .refer(&c, i, "country", &country_ids, "country", &x.country)
                .unwrap_or(0);
            let stage = self
                .refer(&c, i, "stage", &stage_ids, "stage", &x.stage)
                .unwrap_or(0);
            let process = match (&x.deposit, &x.recipe) {
                (Some(d), None) => {
                    // A stage where recipes run converts; a mine's stage has none.
                    if recipe_stage.contains(&Some(stage)) && stage_ids.contains_key(&x.stage) {
                        // A stage of the model's own that no recipe belongs to, if it has one.
                        let free = (m.stages.items.iter())
                            .find(|s| !recipe_stage.contains(&stage_ids.get(s.as_str()).copied()));
                        let put = match free {
                            Some(s) => {
                                format!("put the mine in stage '{s}', which no recipe belongs to")
                            }
                            None => "add a stage no recipe belongs to (such as 'mining') for the \
                                     mine"
                                .to_string(),
                        };
                        self.at(
                            &c,
                            i,
                            "deposit",
                            format!(
                                "only a mine works a `deposit`, and stage '{}' is where recipes \
                                 run: {put}, or give this plant a `recipe`",
                                x.stage
                            ),
                        );
                    }
                    Process::Mine(
                        self.refer(&c, i, "deposit", &deposit_ids, "deposit", d)
                            .unwrap_or(0),
                    )
                }
                (None, Some(r)) => {
                    let rid = self.refer(&c, i, "recipe", &recipe_ids, "recipe", r);
                    if let Some(rid) = rid {
                        let known = recipe_stage[rid].is_some() && stage_ids.contains_key(&x.stage);
                        if known && recipes[rid].stage != stage {
                            self.at(
                                &c,
                                i,
                                "recipe",
                                format!(
                                    "recipe '{r}' belongs to stage '{}', not '{}'",
                                    m.stages
                                        .items
                                        .get(recipes[rid].stage)
                                        .map(String::as_str)
                                        .unwrap_or("?"),
                                    x.stage
                                ),
                            );
                        }
                    }
                    Process::Convert(rid.unwrap_or(0))
                }
                (Some(_), Some(_)) => {
                    self.at(
                        &c,
                        i,
                        "recipe",
                        "a facility either mines a `deposit` or runs a `recipe`, not both".into(),
                    );
                    Process::Mine(0)
                }
                (None, None) => {
                    self.at(&c, i, "", "needs a `deposit` (a mine) or a `recipe`".into());
                    Process::Mine(0)
                }
            };
            // Capacity is stated in the form it measures: output for mines and
            // fixed-proportion recipes, input throughput for the rest (separation, recycling).
            let cap_form = match process {
                Process::Mine(d) => deposits.get(d).map(|d| d.form).unwrap_or(0),
                Process::Convert(r) => recipes.get(r).map(Recipe::capacity_form).unwrap_or(0),
            };
            let re_share = forms.get(cap_form).map(|f| f.re_share).unwrap_or(1.0);
            let capacity = self.num(&c, i, "capacity", x.capacity, 0.0, 1e9) * re_share;
            let utilisation =
                self.num(&c, i, "utilisation", x.utilisation.unwrap_or(1.0), 0.0, 1.0);
            // A plant that never runs in normal operation plans on sales it never has, so it
            // never starts, even where prices would bring in its spare lines.
            if x.utilisation == Some(0.0) {
                self.at(
                    &c,
                    i,
                    "utilisation",
                    "must be > 0: a plant at 0 never starts (its plan follows its sales); for \
                     one idle now, give it a later `start`, or a small share such as 0.05"
                        .into(),
                );
            }
            let fstart = match &x.start {
                Some(s) => self.date(&c, i, "start", s).unwrap_or(start),
                None => start,
            };
            let fend = x.end.as_ref().and_then(|s| self.date(&c, i, "end", s));
            if let Some(e) = fend.filter(|&e| e <= fstart) {
                self.at(
                    &c,
                    i,
                    "end",
                    format!("{e} is not after the facility's start, {fstart}"),
                );
            }
            let ramp_months = self.num(
                &c,
                i,
                "ramp_months",
                x.ramp_months.unwrap_or(0.0),
                0.0,
                600.0,
            );
            let cover_weeks = self.num(
                &c,
                i,
                "cover_weeks",
                x.cover_weeks.unwrap_or(6.0),
                0.0,
                520.0,
            );
            // Spare lines worked by cheap feed: a separator's, one taking a mixed form in
            // whole (metal plants bring theirs in by their output's price already).
            let spare_lines = x.spare_lines == Some(true);
            if spare_lines {
                let separator = match process {
                    Process::Convert(r) => recipes.get(r).is_some_and(|rec| {
                        rec.composition.is_empty()
                            && forms
                                .get(rec.input)
                                .is_some_and(|f| f.mixed && f.id != "scrap")
                    }),
                    Process::Mine(_) => false,
                };
                if !separator {
                    let msg = "is for separators (a recipe taking a mixed concentrate in \
                               whole): mines and recyclers run at their usual rate, metal \
                               plants bring in their spare lines by their output's price, and \
                               magnet plants run at most at their usual rate"
                        .to_string();
                    self.at(&c, i, "spare_lines", msg);
                } else if utilisation >= 1.0 {
                    let msg = "needs a `utilisation` below 1: its spare lines are the \
                               capacity above it, up to nameplate"
                        .to_string();
                    self.at(&c, i, "spare_lines", msg);
                }
            }
            facilities.push(Facility {
                id: x.id.clone(),
                name: x.name.clone().unwrap_or_else(|| x.id.clone()),
                firm,
                country,
                stage,
                process,
                capacity,
                utilisation,
                start: fstart,
                end: fend,
                ramp_months,
                cover_weeks,
                spare_lines,
            });
        }

        // Sectors.
        let c = Ctx {
            kind: "sectors",
            origin: &m.sectors.origin,
        };
        let _ = self.key_ids(&c, m.sectors.items.iter().map(|x| x.id.as_str()), "id");
        let mut sectors = Vec::new();
        for (i, x) in m.sectors.items.iter().enumerate() {
            self.sourced(&c, i, x, &source_ids);
            let country = self
                .refer(&c, i, "country", &country_ids, "country", &x.country)
                .unwrap_or(0);
            let material = self.refer(&c, i, "material", &form_ids, "form", &x.material);
            let mixed = material.is_some_and(|f| forms[f].mixed);
            let mix = match (&x.mix, material) {
                (Some(map), Some(_)) if !mixed => {
                    self.distribution(&c, i, "mix", map, &elem_ids, ne, true)
                }
                (Some(_), Some(f)) => {
                    self.at(&c, i, "mix", format!("form '{}' is mixed: its composition comes from supply, so a `mix` is not allowed", forms[f].id));
                    vec![]
                }
                (None, Some(f)) if !mixed => {
                    self.at(
                        &c,
                        i,
                        "mix",
                        format!(
                            "is required: form '{}' is separated by element",
                            forms[f].id
                        ),
                    );
                    vec![0.0; ne]
                }
                _ => vec![],
            };
            let re_share = material.map(|f| forms[f].re_share).unwrap_or(1.0);
            let demand = self.num(&c, i, "demand", x.demand, 0.0, 1e9) * re_share;
            let growth = self.num(&c, i, "growth", x.growth.unwrap_or(0.0), -0.5, 1.0);
            let units = self.num(&c, i, "units", x.units.unwrap_or(0.0), 0.0, 1e15);
            let elasticity = self.num(&c, i, "elasticity", x.elasticity.unwrap_or(0.0), -5.0, 0.0);
            let substitution = match &x.substitution {
                Some(s) => Substitution {
                    max: self.num(&c, i, "substitution.max", s.max, 0.0, 1.0),
                    lag_months: self.num(
                        &c,
                        i,
                        "substitution.lag_months",
                        s.lag_months,
                        0.0,
                        600.0,
                    ),
                    trigger: {
                        let t = self.num(&c, i, "substitution.trigger", s.trigger, 0.0, 1000.0);
                        if s.trigger == 0.0 {
                            self.at(
                                &c,
                                i,
                                "substitution.trigger",
                                "must be > 0 (a multiple of the start price)".into(),
                            );
                        }
                        t.max(1e-9)
                    },
                },
                None => Substitution {
                    max: 0.0,
                    lag_months: 12.0,
                    trigger: 1e9,
                },
            };
            let priority = match x.priority.unwrap_or(0) {
                p @ -100..=100 => p as i32,
                p => {
                    self.at(
                        &c,
                        i,
                        "priority",
                        format!("must be between -100 and 100, got {p}"),
                    );
                    0
                }
            };
            let cover_weeks = self.num(
                &c,
                i,
                "cover_weeks",
                x.cover_weeks.unwrap_or(8.0),
                0.0,
                520.0,
            );
            let recycle_rate = self.num(
                &c,
                i,
                "recycle_rate",
                x.recycle_rate.unwrap_or(0.0),
                0.0,
                1.0,
            );
            let mut sector_firms = Vec::new();
            let mut total = 0.0;
            for (name, &share) in x.firms.iter().flatten() {
                let f = format!("firms.{name}");
                let id = self.refer(&c, i, &f, &firm_ids, "firm", name);
                let s = self.num(&c, i, &f, share, 0.0, 1.0);
                total += s;
                if let Some(id) = id {
                    // A sector's buyers are in its country, and a control reaches a firm
                    // by its country: a foreign firm's demand there is its affiliate's.
                    let sc = country;
                    if firms[id].country != sc && countries[sc].id == x.country {
                        self.at(
                            &c,
                            i,
                            &f,
                            format!(
                                "firm '{name}' is in {}, and the sector's buyers are in {}: \
                                 name a firm of {} (an affiliate with `parent: {name}` is \
                                 reached by a control on its parent)",
                                countries[firms[id].country].id, countries[sc].id, countries[sc].id
                            ),
                        );
                    }
                    sector_firms.push((id, s));
                }
            }
            if total > 1.0 + SUM_TOLERANCE {
                self.at(
                    &c,
                    i,
                    "firms",
                    format!("firm shares sum to {total:.4}, more than 1"),
                );
            }
            sectors.push(Sector {
                id: x.id.clone(),
                name: x.name.clone().unwrap_or_else(|| x.id.clone()),
                country,
                material: material.unwrap_or(0),
                mix,
                demand,
                growth,
                units,
                unit: x.unit.clone().unwrap_or_else(|| "units".into()),
                elasticity,
                substitution,
                priority,
                cover_weeks,
                recycle_rate,
                firms: sector_firms,
            });
        }

        // Commodities: one per mixed form, one per element of a separated form.
        let mut commodities = Vec::new();
        let mut commodity_base = Vec::new();
        for (f, form) in forms.iter().enumerate() {
            commodity_base.push(commodities.len());
            if form.mixed {
                commodities.push(Commodity {
                    form: f,
                    element: None,
                });
            } else {
                commodities.extend((0..ne).map(|e| Commodity {
                    form: f,
                    element: Some(e),
                }));
            }
        }
        let nm = m.markets.items.len().max(1);
        let nc = commodities.len();

        // Prices: market-specific rows override all-market rows.
        let c = Ctx {
            kind: "prices",
            origin: &m.prices.origin,
        };
        let mut prices = vec![0.0; nm * nc];
        let mut set_by: Vec<Option<(bool, usize)>> = vec![None; nm * nc];
        // The commodities a wrong row may have meant: their missing prices are that row's
        // problem, not reported again for every sector (a misspelt element: the element it
        // is nearest; a form, but no element to go by: all of the form's; no form: any).
        let mut excused: HashSet<usize> = HashSet::new();
        let mut excuse_all = false;
        let family =
            |f: usize| commodity_base[f]..commodity_base[f] + if forms[f].mixed { 1 } else { ne };
        for (i, x) in m.prices.items.iter().enumerate() {
            self.sourced(&c, i, x, &source_ids);
            let Some(f) = self.refer(&c, i, "form", &form_ids, "form", &x.form) else {
                excuse_all = true;
                continue;
            };
            let elem = match (&x.element, forms[f].mixed) {
                (Some(s), false) => match self.refer(&c, i, "element", &elem_ids, "element", s) {
                    Some(e) => Some(e),
                    None => {
                        // The element the hint names, if it names one.
                        let hint = did_you_mean(s, elements.iter().map(|e| e.symbol.as_str()));
                        let named = hint
                            .strip_prefix(" (did you mean '")
                            .and_then(|r| r.split_once('\''));
                        let nearest = named.and_then(|(sym, rest)| {
                            (rest == "?)").then(|| elements.iter().position(|e| e.symbol == sym))?
                        });
                        match nearest {
                            Some(e) => {
                                excused.insert(commodity_base[f] + e);
                            }
                            None => excused.extend(family(f)),
                        }
                        continue;
                    }
                },
                (None, false) => {
                    self.at(
                        &c,
                        i,
                        "element",
                        format!("is required: form '{}' is priced per element", forms[f].id),
                    );
                    excused.extend(family(f));
                    continue;
                }
                (Some(_), true) => {
                    self.at(
                        &c,
                        i,
                        "element",
                        format!(
                            "form '{}' is mixed and has one price; drop `element`",
                            forms[f].id
                        ),
                    );
                    excused.extend(family(f));
                    continue;
                }
                (None, true) => None,
            };
            let com = commodity_base[f] + elem.unwrap_or(0);
            let markets: Vec<usize> = match &x.market {
                Some(mk) => match self.refer(&c, i, "market", &market_ids, "market", mk) {
                    Some(mid) => vec![mid],
                    None => {
                        excused.insert(com);
                        continue;
                    }
                },
                None => (0..nm).collect(),
            };
            // A price is of the form's unit, $/kg: below a tenth of a cent a kg (1e-300, a
            // slip of the exponent) it is no price a market quotes, and the run's headlines
            // would print as zeros.
            let p = if x.price.is_finite() && x.price < 0.001 {
                let got = crate::error::shown(x.price);
                let why = match x.price > 0.0 {
                    true => "must be at least 0.001 $/kg (a tenth of a cent)",
                    false => "must be > 0",
                };
                self.at(&c, i, "price", format!("{why}, got {got}"));
                excused.insert(com);
                0.0
            } else {
                let p = self.num(&c, i, "price", x.price, 0.0, 1e7);
                // Out of range or not a number: reported there, so not again as missing.
                if p != x.price {
                    excused.insert(com);
                }
                p
            };
            let specific = x.market.is_some();
            let mut reported = false;
            for mk in markets {
                let slot = mk * nc + com;
                match set_by[slot] {
                    Some((prev_specific, prev)) if prev_specific == specific => {
                        // One report per row, not one per market it covers.
                        if !reported {
                            let (_, local) = c.origin[prev];
                            self.at(
                                &c,
                                i,
                                "",
                                format!("duplicate price (also set at prices[{local}])"),
                            );
                            reported = true;
                        }
                    }
                    Some((true, _)) => {}
                    _ => {
                        prices[slot] = p;
                        set_by[slot] = Some((specific, i));
                    }
                }
            }
        }
        // Every commodity a sector consumes needs a price in its market. (Not checked for
        // what a wrong price row may have meant: it would be reported again for every
        // sector.)
        let sc = Ctx {
            kind: "sectors",
            origin: &m.sectors.origin,
        };
        for (i, s) in sectors.iter().enumerate().filter(|_| !excuse_all) {
            if m.sectors.items[i].material.is_empty()
                || !form_ids.contains_key(&m.sectors.items[i].material)
            {
                continue;
            }
            let mk = countries.get(s.country).map(|c| c.market).unwrap_or(0);
            let coms: Vec<usize> = if forms[s.material].mixed {
                vec![commodity_base[s.material]]
            } else {
                (0..ne)
                    .filter(|&e| s.mix.get(e).is_some_and(|&x| x > 0.0))
                    .map(|e| commodity_base[s.material] + e)
                    .collect()
            };
            for com in coms.into_iter().filter(|c| !excused.contains(c)) {
                if prices.get(mk * nc + com).is_some_and(|&p| p == 0.0) {
                    let cname = match commodities[com].element {
                        Some(e) => {
                            format!("{}:{}", forms[commodities[com].form].id, elements[e].symbol)
                        }
                        None => forms[commodities[com].form].id.clone(),
                    };
                    let mname = m.markets.items.get(mk).cloned().unwrap_or_default();
                    self.at(
                        &sc,
                        i,
                        "material",
                        format!("no price for {cname} in market {mname}: add it to `prices:`"),
                    );
                }
            }
        }

        // Stockpiles.
        let c = Ctx {
            kind: "stockpiles",
            origin: &m.stockpiles.origin,
        };
        let _ = self.key_ids(&c, m.stockpiles.items.iter().map(|x| x.id.as_str()), "id");
        let mut stockpiles = Vec::new();
        for (i, x) in m.stockpiles.items.iter().enumerate() {
            self.sourced(&c, i, x, &source_ids);
            let country = self
                .refer(&c, i, "country", &country_ids, "country", &x.country)
                .unwrap_or(0);
            let form = self.refer(&c, i, "form", &form_ids, "form", &x.form);
            let mut holding = vec![0.0; ne];
            if let Some(f) = form {
                if forms[f].mixed {
                    if x.elements.is_some() {
                        self.at(
                            &c,
                            i,
                            "elements",
                            format!(
                                "form '{}' is mixed: give `tonnes:` and its `composition:`",
                                forms[f].id
                            ),
                        );
                    }
                    let t = self.num(&c, i, "tonnes", x.tonnes.unwrap_or(0.0), 0.0, 1e9)
                        * forms[f].re_share;
                    if t > 0.0 {
                        match &x.composition {
                            Some(map) => {
                                let comp = self.distribution(
                                    &c,
                                    i,
                                    "composition",
                                    map,
                                    &elem_ids,
                                    ne,
                                    true,
                                );
                                holding = comp.iter().map(|s| s * t).collect();
                            }
                            None => self.at(
                                &c,
                                i,
                                "composition",
                                "is required for a holding of a mixed form".into(),
                            ),
                        }
                    }
                } else {
                    if x.tonnes.is_some() {
                        self.at(
                            &c,
                            i,
                            "tonnes",
                            format!(
                                "form '{}' is separated: give `elements: {{Nd: 300}}`",
                                forms[f].id
                            ),
                        );
                    }
                    for (sym, &t) in x.elements.iter().flatten() {
                        let field = format!("elements.{sym}");
                        if let Some(e) = self.refer(&c, i, &field, &elem_ids, "element", sym) {
                            holding[e] = self.num(&c, i, &field, t, 0.0, 1e9) * forms[f].re_share;
                        }
                    }
                }
            }
            let target_days = self.num(
                &c,
                i,
                "target_days",
                x.target_days.unwrap_or(0.0),
                0.0,
                3650.0,
            );
            stockpiles.push(Stockpile {
                id: x.id.clone(),
                name: x.name.clone().unwrap_or_else(|| x.id.clone()),
                country,
                form: form.unwrap_or(0),
                holding,
                target_days,
            });
        }

        // Groups.
        let c = Ctx {
            kind: "groups",
            origin: &m.groups.origin,
        };
        let group_ids = self.ids(&c, m.groups.items.iter().map(|x| x.id.as_str()), "id");
        let mut groups = Vec::new();
        for (i, x) in m.groups.items.iter().enumerate() {
            // Levers take a firm, a country or a group by the same name: one must mean one.
            if firm_ids.contains_key(&x.id) || country_ids.contains_key(&x.id) {
                let kind = if firm_ids.contains_key(&x.id) {
                    "firm"
                } else {
                    "country"
                };
                self.at(
                    &c,
                    i,
                    "id",
                    format!("'{}' is already the id of a {kind}", x.id),
                );
            }
            self.sourced(&c, i, x, &source_ids);
            let mut g = Group {
                id: x.id.clone(),
                name: x.name.clone().unwrap_or_else(|| x.id.clone()),
                firms: vec![],
                countries: vec![],
            };
            if x.members.is_empty() {
                // A rule on an empty group would read as a rule on everyone.
                self.at(
                    &c,
                    i,
                    "members",
                    "lists no members: name at least one firm or country".into(),
                );
            }
            let mut listed = HashSet::new();
            for (k, name) in x.members.iter().enumerate() {
                if !listed.insert(name) {
                    self.at(
                        &c,
                        i,
                        &format!("members[{k}]"),
                        format!("'{name}' is listed twice"),
                    );
                    continue;
                }
                if let Some(&f) = firm_ids.get(name) {
                    g.firms.push(f);
                } else if let Some(&cid) = country_ids.get(name) {
                    g.countries.push(cid);
                } else if group_ids.contains_key(name) {
                    self.at(
                        &c,
                        i,
                        &format!("members[{k}]"),
                        format!(
                            "'{name}' is a group: groups do not nest, so list its members here"
                        ),
                    );
                } else {
                    let known = (firm_ids.keys()).chain(country_ids.keys());
                    let hint = self.hint(name, known.map(String::as_str).collect());
                    self.at(
                        &c,
                        i,
                        &format!("members[{k}]"),
                        format!("unknown firm or country '{name}'{hint}"),
                    );
                }
            }
            groups.push(g);
        }

        // Behaviour: every parameter, none unknown.
        let mut values = [0.0; Behaviour::PARAMS.len()];
        let known: Vec<&str> = Behaviour::PARAMS.iter().map(|(n, _)| *n).collect();
        let mut pull_refused = false;
        for (k, (file, p)) in &m.behaviour {
            let path = format!("behaviour.{k}");
            let Some(idx) = known.iter().position(|n| n == k) else {
                let hint = did_you_mean(k, known.iter().copied());
                self.problem_at(
                    *file,
                    path,
                    format!("unknown behaviour parameter '{k}'{hint}"),
                );
                continue;
            };
            // As every other record: a blank assumption is none.
            if p.source().ids().is_empty() && p.assumption().is_none_or(|a| a.trim().is_empty()) {
                self.problem_at(
                    *file,
                    path.clone(),
                    "has no `source:` or `assumption:`".into(),
                );
            }
            for id in p.source().ids() {
                if !source_ids.contains_key(id) {
                    let hint = did_you_mean(id, source_ids.keys().map(String::as_str));
                    self.problem_at(
                        *file,
                        format!("{path}.source"),
                        format!("unknown source '{id}'{hint}"),
                    );
                }
            }
            match Behaviour::check(k, p.value, step_days) {
                Ok(v) => values[idx] = v,
                Err(msg) => {
                    pull_refused |= ["price_reversion", "form_coupling", "market_coupling"]
                        .contains(&k.as_str());
                    self.problem_at(*file, format!("{path}.value"), msg)
                }
            }
        }
        // The pulls on a price, each within its bound, may still swing it together: said
        // at the last one the file lists.
        let pulls = ["price_reversion", "form_coupling", "market_coupling"];
        if let Some((k, (file, _))) =
            (m.behaviour.iter()).rfind(|(k, _)| pulls.contains(&k.as_str()))
        {
            // (One refused on its own is the one problem: the sum would read it as 0.)
            let all_set = pulls.iter().all(|n| m.behaviour.contains_key(*n)) && !pull_refused;
            if let (true, Err(msg)) = (
                all_set,
                Behaviour::from_values(&values).check_pulls(step_days),
            ) {
                self.problem_at(*file, format!("behaviour.{k}.value"), msg);
            }
        }
        // A missing parameter is placed at the `behaviour:` section the others are in (an
        // included file, often), else at the model's own file.
        let bfile = m.behaviour.values().next().map_or(hfile, |(f, _)| *f);
        for name in &known {
            if !m.behaviour.contains_key(*name) {
                self.problem_at(bfile, "behaviour".into(), format!("behaviour parameter '{name}' is missing (every engine parameter is set in the model, with its source)"));
            }
        }

        let places = Places {
            facilities: self.places_of("facilities", &m.facilities.origin),
            sectors: self.places_of("sectors", &m.sectors.origin),
            recipes: self.places_of("recipes", &m.recipes.origin),
            deposits: self.places_of("deposits", &m.deposits.origin),
        };
        let mut model = Model {
            places,
            name: header.name.clone(),
            title: header.title.clone().unwrap_or_else(|| header.name.clone()),
            start,
            end,
            step_days,
            seed: header.seed.unwrap_or(0),
            sources,
            elements,
            forms,
            stages: m.stages.items.clone(),
            recipes,
            countries,
            markets: m.markets.items.clone(),
            firms,
            deposits,
            facilities,
            sectors,
            stockpiles,
            groups,
            policies: vec![],
            contracts: vec![],
            behaviour: Behaviour::from_values(&values),
            commodities,
            commodity_base,
            prices,
            cache: Default::default(),
        };

        // Contracts.
        let c = Ctx {
            kind: "contracts",
            origin: &m.contracts.origin,
        };
        let facility_ids: HashMap<String, usize> = model
            .facilities
            .iter()
            .enumerate()
            .map(|(i, f)| (f.id.clone(), i))
            .collect();
        let mut contracted = vec![0.0; model.facilities.len()];
        // A plant whose recipe or deposit is unknown stands in with a placeholder: what its
        // contracts can deliver to is worked out only once the rest of the model holds.
        let whole = self.problems.is_empty();
        // (plant, country, firm) of each contract so far, with its place in the list.
        let mut signed: Vec<(_, usize)> = Vec::new();
        for (i, x) in m.contracts.items.iter().enumerate() {
            self.sourced(&c, i, x, &source_ids);
            let f = self.refer(&c, i, "facility", &facility_ids, "facility", &x.facility);
            let country = self.refer(&c, i, "country", &country_ids, "country", &x.country);
            let share = self.num(&c, i, "share", x.share, 0.0, 1.0);
            let firm = (x.firm.as_deref()).and_then(|name| {
                let id = self.refer(&c, i, "firm", &firm_ids, "firm", name)?;
                // A firm's own feed needs a plant of the firm's there that takes it.
                let (f, country) = (f?, country?);
                if !whole {
                    return Some(id);
                }
                let form = model.facilities[f].output_form(&model);
                if model.firm_plants(id, country, form).next().is_none() {
                    self.at(
                        &c,
                        i,
                        "firm",
                        format!(
                            "'{name}' has no plant in {} that takes {}'s {}: the contract would \
                             deliver nothing",
                            x.country, x.facility, model.forms[form].id
                        ),
                    );
                }
                Some(id)
            });
            if let Some(f) = f {
                contracted[f] += share;
                if contracted[f] > 1.0 + 1e-9 {
                    self.at(
                        &c,
                        i,
                        "share",
                        format!(
                            "contracts on '{}' take {:.0}% of its output: at most 100%",
                            x.facility,
                            contracted[f] * 100.0
                        ),
                    );
                }
            }
            if let (Some(facility), Some(country)) = (f, country) {
                // One contract per plant, country and firm: a script's second replaces the
                // first, so a model's two would read as one of their shares or the other.
                let key = (facility, country, firm);
                if let Some(&(_, k)) = signed.iter().find(|(s, _)| *s == key) {
                    // Named where it is: the first may be in another of the model's files.
                    let (file, local) = c.origin[k];
                    let f = &self.files[file];
                    let place = (f.locator.find(&format!("contracts[{local}]")))
                        .map(|(line, col)| format!("{}:{line}:{col}", f.path.display()))
                        .unwrap_or_else(|| f.path.display().to_string());
                    self.at(
                        &c,
                        i,
                        "facility",
                        format!(
                            "a second contract from '{}' to {}{}, after the one at {place}: \
                             make them one contract with their shares added",
                            x.facility,
                            x.country,
                            x.firm
                                .as_deref()
                                .map(|f| format!(" (firm {f})"))
                                .unwrap_or_default()
                        ),
                    );
                }
                signed.push((key, i));
                model.contracts.push(ContractSpec {
                    facility,
                    country,
                    share,
                    firm,
                });
            }
        }

        // Policies last: they resolve names (countries, firms, groups, elements, forms), which
        // stand whatever else is wrong, so their problems are listed with the rest.
        {
            let c = Ctx {
                kind: "policies",
                origin: &m.policies.origin,
            };
            for (i, p) in m.policies.items.iter().enumerate() {
                self.sourced(&c, i, p, &source_ids);
                let misfits = policy_fields_misfit(p, &model);
                if !misfits.is_empty() {
                    for (field, msg) in misfits {
                        self.at(&c, i, field, msg);
                    }
                    continue;
                }
                match policy::resolve(&model, p, model.start) {
                    Ok(pol) if quotas_crowded(&model.policies, &pol) => {
                        self.at(
                            &c,
                            i,
                            "",
                            format!(
                                "a fourth export quota on one exporter in force at once: at \
                                 most {} can cap an exporter's flows together (end one first)",
                                crate::sim::QUOTAS_PER_FLOW
                            ),
                        );
                    }
                    Ok(pol) => model.policies.push(pol),
                    Err(errs) => {
                        for (field, msg) in errs {
                            self.at(&c, i, &field, msg);
                        }
                    }
                }
            }
        }
        // A run keeps every series at every step: one that could not be held is refused
        // here, with its size, not left to abort out of memory.
        if self.problems.is_empty() {
            let (width, bytes) = crate::sim::Sim::recorded_size(&model);
            if bytes > MAX_RUN_BYTES {
                self.problem_at(
                    hfile,
                    "model.end".into(),
                    format!(
                        "a run would record {} series over {} steps, {:.1} GB, more than the {} GB \
                         a run may hold: shorten the horizon, lengthen `step_days` or trade among \
                         fewer countries (trade is recorded for every pair)",
                        width,
                        model.horizon_steps(),
                        bytes / 1e9,
                        MAX_RUN_BYTES / 1e9
                    ),
                );
            }
        }
        if self.problems.is_empty() {
            Ok(model)
        } else {
            Err(ModelError {
                problems: self.problems,
            })
        }
    }
}

/// Whether `pol`, an export quota, would join `QUOTAS_PER_FLOW` others of its exporter in
/// force at some time: the engine reads that many on one flow.
fn quotas_crowded(policies: &[crate::policy::Policy], pol: &crate::policy::Policy) -> bool {
    use crate::policy::PolicyKind::ExportQuota;
    if !matches!(pol.kind, ExportQuota { .. }) {
        return false;
    }
    let overlaps = |p: &crate::policy::Policy| {
        p.end.is_none_or(|e| e > pol.start) && pol.end.is_none_or(|e| p.start < e)
    };
    (policies.iter())
        .filter(|p| matches!(p.kind, ExportQuota { .. }) && p.exporter == pol.exporter)
        .filter(|p| overlaps(p))
        .count()
        >= crate::sim::QUOTAS_PER_FLOW
}

/// A policy written in a model names only the fields its kind reads: a field another kind
/// reads (an approval on a ban, a rate on a quota) would be accepted and do nothing. Its
/// dates fall within the model's horizon, and its label is not a kind's name (`lift` by
/// kind would then be ambiguous).
fn policy_fields_misfit(p: &PolicyDef, model: &Model) -> Vec<(&'static str, String)> {
    let reads: &[&str] = match p.kind.as_str() {
        "export_ban" | "entity_list" | "tech_ban" => &[],
        "export_licence" | "export_license" => &["approval", "delay_days"],
        "export_quota" => &["tonnes_per_year"],
        "content_rule" => &["threshold", "approval", "delay_days"],
        "tariff" => &["rate", "importer"],
        _ => return Vec::new(), // resolve names the unknown kind
    };
    let given = [
        ("approval", p.approval.is_some()),
        ("delay_days", p.delay_days.is_some()),
        ("tonnes_per_year", p.tonnes_per_year.is_some()),
        ("rate", p.rate.is_some()),
        ("threshold", p.threshold.is_some()),
        ("importer", p.importer.is_some()),
        ("to", p.kind == "tariff" && p.to.is_some()),
        ("exempt", p.kind == "tariff" && p.exempt.is_some()),
    ];
    let mut out = Vec::new();
    for (field, set) in given {
        let applies = reads.contains(&field) || matches!(field, "to" | "exempt");
        if set && !applies || set && p.kind == "tariff" && matches!(field, "to" | "exempt") {
            let hint = match field {
                "importer" => " (the countries a rule reaches are its `to`)",
                "to" | "exempt" => " (a tariff is levied by its `importer`)",
                _ => "",
            };
            out.push((field, format!("does not apply to {}{hint}", p.kind)));
        }
    }
    if let Some(l) = &p.label {
        if crate::policy::PolicyKind::NAMES.contains(&l.as_str()) {
            out.push((
                "label",
                format!("'{l}' is a policy kind's name: give the policy a name of its own"),
            ));
        }
    }
    let horizon_end = model.end;
    let parsed = |s: &Option<String>| s.as_deref().and_then(|s| crate::Date::parse(s).ok());
    if let Some(d) = parsed(&p.start).filter(|&d| d >= horizon_end) {
        out.push((
            "start",
            format!("{d} is after the model's horizon (it ends {horizon_end}): the policy would never be in force"),
        ));
    }
    if let Some(d) = parsed(&p.end).filter(|&d| d <= model.start) {
        out.push((
            "end",
            format!(
                "{d} is not after the model's start ({}): the policy would never be in force",
                model.start
            ),
        ));
    }
    out
}

/// Finds a cycle in a directed graph of `n` nodes, returning its nodes in order.
fn find_cycle(n: usize, edges: impl Iterator<Item = (usize, usize)>) -> Option<Vec<usize>> {
    let mut adj = vec![Vec::new(); n];
    for (a, b) in edges {
        if a < n && b < n {
            adj[a].push(b);
        }
    }
    // 0 = unseen, 1 = on stack, 2 = done
    let mut state = vec![0u8; n];
    let mut path = Vec::new();
    fn dfs(
        v: usize,
        adj: &[Vec<usize>],
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[v] = 1;
        path.push(v);
        for &w in &adj[v] {
            if state[w] == 1 {
                let pos = path.iter().position(|&x| x == w).unwrap_or(0);
                let mut cyc = path[pos..].to_vec();
                cyc.push(w);
                return Some(cyc);
            }
            if state[w] == 0 {
                if let Some(c) = dfs(w, adj, state, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        state[v] = 2;
        None
    }
    (0..n).find_map(|v| {
        if state[v] == 0 {
            dfs(v, &adj, &mut state, &mut path)
        } else {
            None
        }
    })
}

/// `dir` joined with a relative `path`, each `name/..` taken out where `name` is a plain
/// directory (not a link, whose `..` may lead elsewhere): `models/world/../common/x.yaml`
/// reads `models/common/x.yaml`, in messages as on disk.
fn tidy_join(dir: &Path, path: &str) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in dir.join(path).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_)))
                    && !std::fs::symlink_metadata(&out)
                        .is_ok_and(|m| m.file_type().is_symlink()) =>
            {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::tidy_join;
    use std::path::Path;

    #[test]
    fn an_include_path_reads_without_its_detours() {
        let dir = std::env::temp_dir().join(format!("chokepoint-tidy-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("world")).unwrap();
        assert_eq!(
            tidy_join(&dir.join("world"), "../common/x.yaml"),
            dir.join("common/x.yaml")
        );
        assert_eq!(
            tidy_join(Path::new(""), "./a/../b.yaml"),
            Path::new("b.yaml")
        );
        assert_eq!(
            tidy_join(Path::new(""), "../b.yaml"),
            Path::new("../b.yaml")
        );
        // Through a link, `..` is the link target's parent: kept as written.
        std::os::unix::fs::symlink(std::env::temp_dir(), dir.join("away")).unwrap();
        assert_eq!(
            tidy_join(&dir, "away/../x.yaml"),
            dir.join("away").join("..").join("x.yaml")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

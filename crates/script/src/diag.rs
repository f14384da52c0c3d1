//! Script errors as people read them: file:line:col, the source line with a caret, and the
//! chain of calls for errors raised inside functions and closures.

use std::fmt;
use std::path::PathBuf;

use rhai::{EvalAltResult, ParseError, Position};

#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    pub file: PathBuf,
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub source_line: Option<String>,
    /// Outermost first: "in call to 'f' at line 9".
    pub chain: Vec<String>,
    /// What to write instead, when the engine knows (a lever called with the wrong
    /// arguments, a misspelt function).
    pub help: Option<String>,
    /// What the script printed before it failed.
    pub printed: Vec<String>,
    /// For an error inside an imported module: the module's name and where in its own text
    /// (line, column); once located (`locate_module`), its file and that line.
    pub module: Option<(String, usize, Option<usize>)>,
    pub module_place: Option<(PathBuf, String)>,
    /// The run was stopped by its wall-clock limit (`RunOptions::time_limit`): the script
    /// may be sound and only slow, so a test runner counts it a failure, not bad input.
    pub timed_out: bool,
}

/// Where `key` is written as a map key (`key:` or `"key":`) inside the call that starts at
/// `line`:`column` (1-based, characters): its line, column and that line's text.
fn key_in_call(
    source: &str,
    line: usize,
    column: usize,
    key: &str,
) -> Option<(usize, usize, String)> {
    let lines: Vec<&str> = source.lines().collect();
    let (mut depth, mut quote, mut word) = (0i32, None::<char>, String::new());
    let mut word_at = (0, 0);
    let (mut opened, mut comment) = (false, false);
    for (l, text) in lines.iter().enumerate().skip(line - 1) {
        let skip = if l == line - 1 { column - 1 } else { 0 };
        let mut chars = text.chars().enumerate().skip(skip).peekable();
        while let Some((c, ch)) = chars.next() {
            // Inside a `/* */` comment (which may run over lines) nothing counts.
            if comment {
                if ch == '*' && chars.peek().is_some_and(|&(_, n)| n == '/') {
                    chars.next();
                    comment = false;
                }
                continue;
            }
            if let Some(q) = quote {
                if ch == '\\' {
                    chars.next();
                } else if ch == q {
                    quote = None;
                    // A quoted key reads as a bare one.
                    if chars.peek().is_some_and(|&(_, n)| n == ':') && word == key && depth >= 1 {
                        return Some((word_at.0 + 1, word_at.1 + 1, text.to_string()));
                    }
                } else {
                    word.push(ch);
                }
                continue;
            }
            match ch {
                '"' | '`' | '\'' => {
                    quote = Some(ch);
                    word.clear();
                    word_at = (l, c);
                }
                '/' if chars.peek().is_some_and(|&(_, n)| n == '/') => break,
                '/' if chars.peek().is_some_and(|&(_, n)| n == '*') => {
                    chars.next();
                    comment = true;
                }
                '(' | '[' | '{' => {
                    depth += 1;
                    opened = true;
                    word.clear();
                }
                ')' | ']' | '}' => {
                    depth -= 1;
                    if opened && depth <= 0 {
                        return None;
                    }
                    word.clear();
                }
                ':' if word == key && depth >= 1 => {
                    return Some((word_at.0 + 1, word_at.1 + 1, text.to_string()));
                }
                c2 if c2.is_alphanumeric() || c2 == '_' => {
                    if word.is_empty() {
                        word_at = (l, c);
                    }
                    word.push(c2);
                }
                c2 if c2.is_whitespace() => {}
                _ => word.clear(),
            }
        }
    }
    None
}

/// Whether a message already starts by naming the function `name` ("contract: ..."), not
/// merely with the same letters ("contracts and offtakes on ...").
fn begins_with_name(message: &str, name: &str) -> bool {
    message
        .strip_prefix(name)
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
}

impl ScriptError {
    pub fn plain(file: impl Into<PathBuf>, message: impl Into<String>) -> ScriptError {
        ScriptError {
            file: file.into(),
            message: message.into(),
            line: None,
            column: None,
            source_line: None,
            chain: vec![],
            help: None,
            printed: vec![],
            module: None,
            module_place: None,
            timed_out: false,
        }
    }

    pub fn from_parse(file: impl Into<PathBuf>, source: &str, e: &ParseError) -> ScriptError {
        let mut s = ScriptError::plain(file, e.err_type().to_string());
        s.place(source, e.position());
        if matches!(e.err_type(), rhai::ParseErrorType::WrongDocComment) {
            s.help = Some(
                "Rhai reads a comment that starts `/**` or `///` as a function's documentation: \
                 write `/*` or `//` for a note"
                    .into(),
            );
        }
        s
    }

    pub fn from_eval(file: impl Into<PathBuf>, source: &str, e: &EvalAltResult) -> ScriptError {
        let mut chain = Vec::new();
        let mut cur = e;
        let mut pos = e.position();
        // Positions inside an imported module belong to that module's text, not this one:
        // once inside a module, the caret stays on the import.
        let mut in_module = false;
        // The innermost module entered, in `chain`, to name the line in its own text.
        let mut module_entry = None;
        let mut module_name = None;
        loop {
            match cur {
                EvalAltResult::ErrorInFunctionCall(name, src, inner, p) => {
                    let name = if name.starts_with("anon$") {
                        "a closure".to_string()
                    } else {
                        format!("'{name}'")
                    };
                    // The calling line is in the script, or once inside a module, in the
                    // text of the module that made the call.
                    let of = match &module_name {
                        Some(m) => format!(" of '{m}'"),
                        None => String::new(),
                    };
                    if src.is_empty() {
                        // A closure the clock fired has no calling line in the script.
                        chain.push(match p.line() {
                            Some(l) => format!("in {name} called at line {l}{of}"),
                            None => format!("in {name} run when its time came"),
                        });
                    } else {
                        chain.push(format!(
                            "in {name} (from '{src}') called at line {}{of}",
                            p.line().unwrap_or(0)
                        ));
                    }
                    // A function from an imported module: its positions are in its own
                    // text, so the caret stays on the call.
                    if !src.is_empty() {
                        if !in_module && !p.is_none() {
                            pos = *p;
                        }
                        // The innermost module is the one whose text the position is in.
                        module_entry = Some(chain.len() - 1);
                        module_name = Some(src.to_string());
                        in_module = true;
                    } else if !in_module && !inner.position().is_none() {
                        pos = inner.position();
                    }
                    cur = inner;
                }
                EvalAltResult::ErrorInModule(name, inner, p) => {
                    chain.push(format!(
                        "in module '{name}' imported at line {}",
                        p.line().unwrap_or(0)
                    ));
                    if !in_module {
                        pos = *p;
                        in_module = true;
                    }
                    module_entry = Some(chain.len() - 1);
                    module_name = Some(name.to_string());
                    cur = inner;
                }
                _ => break,
            }
        }
        // Where in the module's own text it went wrong (the caret is on the import).
        let mut module = None;
        if let (Some(k), Some(line)) = (module_entry, cur.position().line()) {
            chain[k].push_str(&format!(", at line {line} of the module"));
            module = module_name.map(|n| (n, line, cur.position().position()));
        }
        let message = match cur {
            EvalAltResult::ErrorRuntime(v, _) => v.to_string(),
            EvalAltResult::ErrorTerminated(v, _) => format!("stopped: {v}"),
            EvalAltResult::ErrorTooManyOperations(_) => {
                "the script ran too many operations (an endless loop?)".to_string()
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                "calls nest too deeply (runaway recursion?)".to_string()
            }
            // Rhai names what grew too large, not the bound: say it.
            EvalAltResult::ErrorDataTooLarge(what, _) => {
                use crate::engine::limits;
                let bound = if what.contains("array") {
                    format!("an array holds at most {} items", limits::MAX_ARRAY_SIZE)
                } else if what.contains("map") {
                    format!("a map holds at most {} entries", limits::MAX_MAP_SIZE)
                } else if what.contains("string") {
                    // Rhai counts the strings an array or map holds together against
                    // the same bound, and names a string there too.
                    format!(
                        "a string holds at most {} bytes, and so do all the strings one \
                         array or map holds together",
                        limits::MAX_STRING_SIZE
                    )
                } else {
                    "the sandbox bounds its size".to_string()
                };
                format!("{what} too large: {bound}")
            }
            other => {
                let s = crate::args::plain_types(&other.to_string());
                match s.find(" (line ") {
                    Some(i) => s[..i].to_string(),
                    None => s,
                }
            }
        };
        let mut s = ScriptError::plain(file, message);
        if let EvalAltResult::ErrorFunctionNotFound(sig, _) = cur {
            let (exists, help) = function_help(sig);
            let call = script_call(sig);
            s.message = if exists {
                format!("{call}: not the arguments this function takes")
            } else {
                format!("{call}: no function of this name takes these arguments")
            };
            s.help = help;
            // `at(date, close("x"))` pulls the lever now and hands `at` what it returned:
            // the action must be a closure, which runs then.
            let scheduler = ["at(", "every(", "when(", "whenever("]
                .iter()
                .any(|p| call.starts_with(p));
            let args: Vec<&str> = call.split(", ").collect();
            let action_not_closure = args.len() == 2 && args[1] != "closure)";
            // `when(price > 300.0, || ...)`: the condition is read once, now, unless it is a
            // closure the trigger calls every step.
            let trigger = ["when(", "whenever("].iter().any(|p| call.starts_with(p));
            let condition_not_closure =
                args.len() == 2 && args[0] != "when(closure" && args[0] != "whenever(closure";
            if trigger && condition_not_closure {
                s.message.push_str(
                    ": the condition must be a closure too, `|| current(price(\"oxide:Dy\", \
                     \"ROW\")) > 300.0`, which the trigger reads every step (written without \
                     `||` it is read once, now)",
                );
            } else if scheduler && action_not_closure {
                s.message.push_str(
                    ": the action must be a closure, `|| close(\"...\")`, which runs when it \
                     is due (a lever written without `||` is pulled at once)",
                );
            }
        }
        if !in_module && !cur.position().is_none() {
            pos = cur.position();
        }
        s.place(source, pos);
        // A lever's own message names what was wrong, not always the lever: say which call
        // it came from ("tariff: rate must be a number"), as the caret's line shows it.
        if matches!(cur, EvalAltResult::ErrorRuntime(..)) {
            // (An action set up as a pointer to a lever names that lever: `at: close: ...`
            // would blame the scheduler.)
            let of_action = s.message.contains("(in the action `Fn(\"");
            if let Some(name) = (s.called())
                .filter(|n| !begins_with_name(&s.message, n))
                .filter(|_| !of_action)
            {
                s.message = format!("{name}: {}", s.message);
            }
            if !in_module {
                let before = (s.line, s.column);
                s.point_at_option(source);
                if (s.line, s.column) == before {
                    s.point_at_value();
                }
            }
        }
        s.chain = chain;
        s.module = module;
        s
    }

    /// Finds the module an error came from under `scripts_root` (as `import` resolves it)
    /// and shows its line with a caret; the lever it points at names the message.
    pub fn locate_module(&mut self, scripts_root: &std::path::Path) {
        let Some((name, at, column)) = self.module.clone() else {
            return;
        };
        let line = at;
        let file = scripts_root.join(format!("{name}.rhai"));
        let Ok(text) = std::fs::read_to_string(&file) else {
            return;
        };
        let (line, column, src) = match text.lines().nth(line - 1) {
            Some(src) => (line, column, src.to_string()),
            // The end of the module's text (a block left open there).
            None => match end_of_text(&text) {
                Some((l, c, src)) => (l, Some(c), src),
                None => return,
            },
        };
        if line != at {
            let (was, now) = (
                format!(", at line {at} of the module"),
                format!(", at line {line} of the module"),
            );
            for c in &mut self.chain {
                if c.ends_with(&was) {
                    *c = c.replace(&was, &now);
                }
            }
        }
        self.module = Some((name, line, column));
        if self.message.contains("Expecting '}'") {
            if let Some(open) = unclosed_brace(&text) {
                self.help = Some(format!(
                    "the `{{` on line {open} of the module is never closed"
                ));
            }
        }
        let src = src.as_str();
        // Shown as the main script is, relative to where the command runs when it can be.
        let shown = std::env::current_dir()
            .ok()
            .and_then(|d| file.strip_prefix(d).ok().map(std::path::Path::to_path_buf))
            .unwrap_or(file);
        self.module_place = Some((shown, src.to_string()));
        // The message names the lever at the module's caret ("disrupt: share must be ...").
        let probe = ScriptError {
            source_line: Some(src.to_string()),
            column,
            ..ScriptError::plain("", "")
        };
        if let Some(name) = probe
            .called()
            .filter(|n| !begins_with_name(&self.message, n))
        {
            self.message = format!("{name}: {}", self.message);
        }
        // A mistake in one entry of an options map: the caret on that entry's key, as in
        // the main script.
        let mut entry = ScriptError {
            line: Some(line),
            column,
            source_line: Some(src.to_string()),
            message: self.message.clone(),
            ..ScriptError::plain("", "")
        };
        entry.point_at_option(&text);
        if entry.line != Some(line) || entry.column != column {
            if let (Some(l), Some(src)) = (entry.line, entry.source_line) {
                let (was, now) = (
                    format!(", at line {line} of the module"),
                    format!(", at line {l} of the module"),
                );
                for c in &mut self.chain {
                    if c.ends_with(&was) {
                        *c = c.replace(&was, &now);
                    }
                }
                let name = self
                    .module
                    .as_ref()
                    .map(|m| m.0.clone())
                    .unwrap_or_default();
                self.module = Some((name, l, entry.column));
                if let Some(place) = &mut self.module_place {
                    place.1 = src;
                }
            }
        }
    }

    /// The lever or query the caret points at, if it points at a call of one.
    fn called(&self) -> Option<String> {
        static NAMES: std::sync::OnceLock<std::collections::HashSet<String>> =
            std::sync::OnceLock::new();
        let names = NAMES.get_or_init(|| {
            crate::reference::reference()
                .into_iter()
                .map(|d| d.name)
                .collect()
        });
        let line = self.source_line.as_ref()?;
        let from = self.column?.checked_sub(1)?;
        let rest: String = line.chars().skip(from).collect();
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let called = rest[name.len()..].trim_start().starts_with('(');
        (called && names.contains(&name)).then_some(name)
    }

    /// A lever's message about one entry of its options map (`export_ban: to[0]: unknown
    /// country 'USA'`, `unknown option 'frim'`): the caret moves from the call to that
    /// entry's key, which in a map written over several lines is on a line of its own.
    fn point_at_option(&mut self, source: &str) {
        let (Some(line), Some(column)) = (self.line, self.column) else {
            return;
        };
        let rest = self.message.split_once(": ").map_or("", |(_, r)| r);
        let key: String = match rest.strip_prefix("unknown option '") {
            Some(k) => k.split('\'').next().unwrap_or_default().to_string(),
            None => rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect(),
        };
        // "key: …", "key[0]: …", and "key must be …" (a wrong type) name the entry.
        let named = rest.starts_with("unknown option '")
            || rest[key.len()..].starts_with(": ")
            || rest[key.len()..].starts_with('[')
            || rest[key.len()..].starts_with(" must be ");
        if key.is_empty() || !named {
            return;
        }
        if let Some((l, c, text)) = key_in_call(source, line, column, &key) {
            self.line = Some(l);
            self.column = Some(c);
            self.source_line = Some(text);
        }
    }

    /// A lever's message that quotes the bad value ("…, got -0.25") points at that value in
    /// the call, when the call writes it so (a positional number, not an option's key).
    fn point_at_value(&mut self) {
        let (Some(text), Some(column)) = (&self.source_line, self.column) else {
            return;
        };
        let Some((_, got)) = self.message.rsplit_once(", got ") else {
            return;
        };
        let got: String = got
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, ')' | ',' | ';'))
            .collect();
        if got.is_empty() {
            return;
        }
        let chars: Vec<char> = text.chars().collect();
        let want: Vec<char> = got.chars().collect();
        let part = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_');
        let from = column.saturating_sub(1);
        let found = (from..chars.len().saturating_sub(want.len() - 1)).find(|&i| {
            chars[i..i + want.len()] == want[..]
                && (i == 0 || !part(chars[i - 1]))
                && chars.get(i + want.len()).is_none_or(|&c| !part(c))
        });
        // Or a number written otherwise ("got -10" for `-10.0`, "got 30000000" for `3e7`).
        let found = found.or_else(|| {
            let value: f64 = got.parse().ok()?;
            let mut i = from;
            while i < chars.len() {
                let starts = chars[i].is_ascii_digit()
                    || (matches!(chars[i], '-' | '.')
                        && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()));
                if starts && (i == 0 || !part(chars[i - 1])) {
                    let mut j = i + 1;
                    while j < chars.len()
                        && (chars[j].is_ascii_digit()
                            || matches!(chars[j], '.' | 'e' | 'E' | '_')
                            || (matches!(chars[j], '-' | '+') && matches!(chars[j - 1], 'e' | 'E')))
                    {
                        j += 1;
                    }
                    let token: String = chars[i..j].iter().filter(|&&c| c != '_').collect();
                    if token.parse::<f64>().is_ok_and(|v| v == value) {
                        return Some(i);
                    }
                    i = j;
                } else {
                    i += 1;
                }
            }
            None
        });
        if let Some(i) = found {
            self.column = Some(i + 1);
        }
    }

    fn place(&mut self, source: &str, pos: Position) {
        if let Some(line) = pos.line() {
            self.line = Some(line);
            self.column = pos.position();
            self.source_line = source.lines().nth(line - 1).map(str::to_string);
            // The end of the text (a block left open): shown after its last line that holds
            // anything, where the missing text belongs.
            if self.source_line.is_none() {
                if let Some((l, c, last)) = end_of_text(source) {
                    self.line = Some(l);
                    self.column = Some(c);
                    self.source_line = Some(last);
                }
            }
            if self.message.starts_with("Expecting '}'") {
                if let Some(open) = unclosed_brace(source) {
                    self.help = Some(format!("the `{{` on line {open} is never closed"));
                }
            } else if ["Expecting ')'", "Expecting ']'", "Expecting ','"]
                .iter()
                .any(|m| self.message.starts_with(m))
            {
                // A call or array left open reads as a missing comma further on: the one
                // open where the parser stopped is the one it was reading.
                let before: String = (source.split_inclusive('\n'))
                    .take(line.saturating_sub(1))
                    .chain(source.lines().nth(line - 1).map(|l| {
                        let col = pos.position().unwrap_or(1).max(1) - 1;
                        &l[..l.char_indices().nth(col).map_or(l.len(), |(i, _)| i)]
                    }))
                    .collect();
                if let Some(&(c, open)) = unclosed(&before).last().filter(|(c, _)| *c != '{') {
                    if open < line {
                        self.help = Some(format!("the `{c}` on line {open} is never closed"));
                    }
                }
            }
        }
    }
}

/// The place just after the last line of `source` that holds anything (line, column, and
/// that line): where text missing at the end belongs.
fn end_of_text(source: &str) -> Option<(usize, usize, String)> {
    let (i, last) = (source.lines().enumerate())
        .filter(|(_, l)| !l.trim().is_empty())
        .last()?;
    Some((i + 1, last.chars().count() + 1, last.to_string()))
}

/// The line of the last `{` in `source` left without its `}`.
fn unclosed_brace(source: &str) -> Option<usize> {
    (unclosed(source).into_iter().rev())
        .find(|&(c, _)| c == '{')
        .map(|(_, line)| line)
}

/// The brackets of `source` left open at its end, outermost first, each with its line,
/// reading past strings, characters and comments.
fn unclosed(source: &str) -> Vec<(char, usize)> {
    let mut open: Vec<(char, usize)> = Vec::new();
    let mut line = 1;
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            '{' | '(' | '[' => open.push((c, line)),
            '}' | ')' | ']' => {
                open.pop();
            }
            '"' | '\'' | '`' => {
                // To the matching quote; an escape skips the next character.
                while let Some(d) = chars.next() {
                    match d {
                        '\\' if c != '`' => {
                            let escaped = chars.next();
                            line += usize::from(escaped == Some('\n'));
                        }
                        '\n' => line += 1,
                        d if d == c => break,
                        _ => {}
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                // Block comments nest, as Rhai reads them.
                chars.next();
                let (mut depth, mut prev) = (1, ' ');
                for d in chars.by_ref() {
                    if d == '\n' {
                        line += 1;
                    }
                    if prev == '/' && d == '*' {
                        depth += 1;
                        prev = ' ';
                        continue;
                    }
                    if prev == '*' && d == '/' {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                        prev = ' ';
                        continue;
                    }
                    prev = d;
                }
            }
            _ => {}
        }
    }
    open
}

/// A source line to show with its caret at `column` (1-based, in characters): a line of
/// thousands of characters (a pasted blob) is cut to the stretch around the caret, marked
/// with `…` where it was cut; and the caret's column in what is shown.
fn around(src: &str, column: usize) -> (String, usize) {
    const BEFORE: usize = 80;
    const AFTER: usize = 80;
    let n = src.chars().count();
    if n <= BEFORE + AFTER + 40 {
        return (src.to_string(), column);
    }
    let at = column.saturating_sub(1).min(n);
    let from = at.saturating_sub(BEFORE);
    let to = (at + AFTER).min(n);
    let mut shown = String::new();
    if from > 0 {
        shown.push('…');
    }
    shown.extend(src.chars().skip(from).take(to - from));
    if to < n {
        shown.push('…');
    }
    (shown, at - from + 1 + usize::from(from > 0))
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", shown_line(&self.message))?;
        write!(f, "  --> {}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        writeln!(f)?;
        if let (Some(l), Some(src)) = (self.line, &self.source_line) {
            let gutter = l.to_string().len();
            let (src, col) = around(src, self.column.unwrap_or(1));
            writeln!(f, "{:gutter$} |", "")?;
            writeln!(f, "{l} | {}", shown_line(&src))?;
            // Rhai columns count characters; align the caret on characters too, keeping tabs.
            let pad = caret_pad(&src, col);
            writeln!(f, "{:gutter$} | {pad}^", "")?;
        }
        for c in &self.chain {
            writeln!(f, "  = {c}")?;
        }
        if let (Some((file, src)), Some((_, l, col))) = (&self.module_place, &self.module) {
            write!(f, "  --> {}:{l}", file.display())?;
            if let Some(c) = col {
                write!(f, ":{c}")?;
            }
            writeln!(f)?;
            let gutter = l.to_string().len();
            let (src, col) = around(src, col.unwrap_or(1));
            writeln!(f, "{:gutter$} |", "")?;
            writeln!(f, "{l} | {}", shown_line(&src))?;
            let pad = caret_pad(&src, col);
            writeln!(f, "{:gutter$} | {pad}^", "")?;
        }
        if let Some(h) = &self.help {
            writeln!(f, "  = help: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScriptError {}

/// Text as a terminal can show it: control characters (a NUL, an escape) as `?`, one
/// column each, so nothing is sent raw and a caret still lines up. Tabs and line ends stay.
pub(crate) fn shown_line(src: &str) -> String {
    src.chars()
        .map(|c| match c {
            '\t' | '\n' => c,
            c if c.is_control() => '?',
            c => c,
        })
        .collect()
}

/// What goes before the caret under `src` to point at character `col` (1-based): tabs as
/// tabs, a wide character (CJK, most emoji) as two spaces, any other as one.
fn caret_pad(src: &str, col: usize) -> String {
    let mut pad = String::new();
    for c in src.chars().take(col.max(1) - 1) {
        match c {
            '\t' => pad.push('\t'),
            c if wide(c) => pad.push_str("  "),
            _ => pad.push(' '),
        }
    }
    pad
}

/// Whether a terminal gives `c` two columns: the East Asian wide and full-width blocks and
/// the emoji planes (an approximation of Unicode's East Asian Width, without a table).
fn wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD)
}

/// A call as the engine reports it (`f (&str | ImmutableString | String, f64)`), in the
/// script's own terms: `f(string, number)`.
fn script_call(call: &str) -> String {
    let Some((name, args)) = call.split_once(" (") else {
        return call.to_string();
    };
    // One closing parenthesis is the call's: `close(())` keeps its argument's.
    let args = args.strip_suffix(')').unwrap_or(args);
    let args: Vec<&str> = if args.trim().is_empty() {
        Vec::new()
    } else {
        args.split(", ")
            .map(|a| match a.trim() {
                "&str | ImmutableString | String" | "ImmutableString" | "String" | "&str" => {
                    "string"
                }
                "f64" | "f32" | "i64" | "i32" | "INT" | "FLOAT" => "number",
                "bool" => "bool",
                "map" | "Map" => "map",
                "array" | "Array" => "array",
                "Fn" | "FnPtr" => "closure",
                t if t.ends_with("SeriesView") => "Series",
                "()" => "()",
                t => t.rsplit("::").next().unwrap_or(t),
            })
            .collect()
    };
    format!("{name}({})", args.join(", "))
}

/// For a call the engine could not match (`name (arg types)`): the signatures a function of
/// that name does take, or the documented function the name is closest to.
fn function_help(call: &str) -> (bool, Option<String>) {
    static SIGNATURES: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    let known = SIGNATURES.get_or_init(|| {
        crate::reference::reference()
            .into_iter()
            .map(|d| (d.name, d.signature))
            .collect()
    });
    let name = call.split(" (").next().unwrap_or(call).trim();
    let same: Vec<&str> = known
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, sig)| sig.as_str())
        .collect();
    if !same.is_empty() {
        return (true, Some(format!("{name} takes {}", same.join(", or "))));
    }
    let hint = chokepoint_core::error::did_you_mean(name, known.iter().map(|(n, _)| n.as_str()));
    // Built-in functions (string and array methods, say) are not in the reference.
    (
        false,
        (!hint.is_empty()).then(|| {
            hint.trim()
                .trim_matches(|c| c == '(' || c == ')')
                .to_string()
        }),
    )
}

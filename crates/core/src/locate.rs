//! Maps a field path such as `facilities[3].capacity` to its line and column in a YAML file.
//!
//! serde reports positions only for syntax and type errors; semantic checks run after
//! deserialisation, so we recover positions by scanning the block structure of the text. The
//! scan understands block mappings, block sequences (`- `) and one-line flow mappings, which
//! is the style model files use; anything it cannot place falls back to its nearest parent.

use std::collections::HashMap;

/// Line and column (both 1-based) of every path found in a YAML text.
#[derive(Debug, Default, Clone)]
pub struct Locator {
    places: HashMap<String, (usize, usize)>,
}

#[derive(Debug)]
struct Frame {
    indent: usize,
    is_index: bool,
    path: String,
    next_index: usize,
}

impl Locator {
    pub fn new(text: &str) -> Locator {
        let mut places = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut root_next = 0usize;
        let lines: Vec<&str> = text.lines().collect();
        // A quoted scalar that runs on over lines: its next lines are text, not structure
        // (a line of it that starts `- ` is no sequence item).
        let mut in_quote: Option<char> = None;
        for (lineno, raw) in text.lines().enumerate() {
            if let Some(q) = in_quote {
                if closing_quote(raw, q).is_some() {
                    in_quote = None;
                }
                continue;
            }
            let line = strip_comment(raw);
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with("---") || trimmed.starts_with("...") {
                continue;
            }
            let mut indent = line.len() - trimmed.len();
            let mut rest = trimmed;
            // Sequence items: "- " possibly followed by "key: value".
            while rest.starts_with("- ") || rest == "-" {
                while stack
                    .last()
                    .is_some_and(|f| f.indent > indent || (f.indent == indent && f.is_index))
                {
                    stack.pop();
                }
                let (parent_path, n) = match stack.last_mut() {
                    Some(f) => {
                        f.next_index += 1;
                        (f.path.clone(), f.next_index - 1)
                    }
                    None => {
                        root_next += 1;
                        (String::new(), root_next - 1)
                    }
                };
                let path = format!("{parent_path}[{n}]");
                places
                    .entry(path.clone())
                    .or_insert((lineno + 1, indent + 1));
                stack.push(Frame {
                    indent,
                    is_index: true,
                    path,
                    next_index: 0,
                });
                let after = rest.get(1..).unwrap_or("");
                let skipped = after.len() - after.trim_start().len();
                indent += 1 + skipped;
                rest = after.trim_start();
            }
            let Some((key, value)) = split_key(rest) else {
                continue;
            };
            while stack.last().is_some_and(|f| f.indent >= indent) {
                stack.pop();
            }
            let parent = stack.last().map(|f| f.path.as_str()).unwrap_or("");
            let path = if parent.is_empty() {
                key.to_string()
            } else {
                format!("{parent}.{key}")
            };
            places
                .entry(path.clone())
                .or_insert((lineno + 1, indent + 1));
            let value = value.trim();
            if let Some(q) = value.chars().next().filter(|c| matches!(c, '"' | '\'')) {
                // The quote opened here: closed on this line, or later.
                let body = &raw[raw.len() - raw.trim_start().len()..];
                let from = body.find(value).map_or(0, |i| i + 1);
                if closing_quote(&body[from..], q).is_none() {
                    in_quote = Some(q);
                }
            }
            if value.starts_with('[') {
                // A flow sequence's items, on this line and as many more as it runs.
                let at = value.as_ptr() as usize - line.as_ptr() as usize;
                for (k, l, col) in flow_items(&lines, lineno, at) {
                    places.entry(format!("{path}[{k}]")).or_insert((l, col));
                }
            }
            if value.starts_with('{') {
                let base = indent + (rest.len() - rest.trim_start().len());
                let offset = base + (rest.len() - value.len());
                for (k, col) in flow_keys(value) {
                    // Columns count characters, not bytes (`{"Néé": 0.5, Nd: -1}`).
                    let at = offset + col;
                    let column = line.get(..at).map_or(at, |head| head.chars().count());
                    places
                        .entry(format!("{path}.{k}"))
                        .or_insert((lineno + 1, column + 1));
                }
            }
            stack.push(Frame {
                indent,
                is_index: false,
                path,
                next_index: 0,
            });
        }
        Locator { places }
    }

    /// The place of `path`, or of its nearest ancestor that was found.
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some(&place) = self.places.get(p) {
                return Some(place);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

fn strip_comment(line: &str) -> &str {
    let mut in_single = false;
    let mut in_double = false;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !in_double => in_single = !in_single,
            '"' if !in_single => in_double = !in_double,
            '#' if !in_single && !in_double && (prev == ' ' || prev == '\t' || i == 0) => {
                return &line[..i];
            }
            _ => {}
        }
        prev = c;
    }
    line
}

/// Splits `key: value` (or `key:`) where key is a plain or quoted scalar.
fn split_key(s: &str) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    let (key, after) = if bytes.first() == Some(&b'"') || bytes.first() == Some(&b'\'') {
        let q = bytes[0] as char;
        let end = s[1..].find(q)? + 1;
        (&s[1..end], &s[end + 1..])
    } else {
        let colon = s
            .find(": ")
            .or_else(|| s.strip_suffix(':').map(|k| k.len()))?;
        if s[..colon].contains(['{', '[', '"', '\'']) {
            return None;
        }
        (&s[..colon], &s[colon..])
    };
    let value = after.strip_prefix(':')?;
    Some((key.trim(), value))
}

/// The items of a flow sequence whose `[` is at byte `start` of `lines[first]`, over as
/// many lines as it runs: (index, line, column), both 1-based, columns in characters.
fn flow_items(lines: &[&str], first: usize, start: usize) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut expecting) = (0i32, None::<char>, false);
    for (l, raw) in lines.iter().enumerate().skip(first) {
        let line = strip_comment(raw);
        let from = if l == first { start.min(line.len()) } else { 0 };
        for (i, c) in line[from..].char_indices() {
            if let Some(q) = quote {
                if c == q {
                    quote = None;
                }
                continue;
            }
            if depth == 1 && expecting && !c.is_whitespace() && c != ',' && c != ']' {
                let column = line[..from + i].chars().count() + 1;
                out.push((out.len(), l + 1, column));
                expecting = false;
            }
            match c {
                '"' | '\'' => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    expecting = depth == 1;
                }
                ']' | '}' => {
                    depth -= 1;
                    if depth <= 0 {
                        return out;
                    }
                }
                ',' if depth == 1 => expecting = true,
                _ => {}
            }
        }
    }
    out
}

/// Keys of a one-line flow mapping `{a: 1, b: {c: 2}}` at depth one, with their byte offsets.
fn flow_keys(s: &str) -> Vec<(&str, usize)> {
    let mut keys = Vec::new();
    let mut depth = 0i32;
    let mut start = None;
    for (i, c) in s.char_indices() {
        match c {
            '{' | '[' => {
                depth += 1;
                if depth == 1 {
                    start = Some(i + 1);
                }
            }
            '}' | ']' => depth -= 1,
            ',' if depth == 1 => start = Some(i + 1),
            ':' if depth == 1 => {
                if let Some(st) = start.take() {
                    let raw = &s[st..i];
                    let k = raw.trim().trim_matches(['"', '\'']);
                    let lead = raw.len() - raw.trim_start().len();
                    keys.push((k, st + lead));
                }
            }
            _ => {}
        }
    }
    keys
}

/// Where in `text` a quoted scalar opened by `q` closes (the byte after the quote): a `"`
/// not escaped by a backslash; a `'` not doubled.
fn closing_quote(text: &str, q: char) -> Option<usize> {
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (q, c) {
            ('"', '\\') => {
                chars.next();
            }
            ('"', '"') => return Some(i + 1),
            ('\'', '\'') if chars.peek().is_some_and(|&(_, n)| n == '\'') => {
                chars.next();
            }
            ('\'', '\'') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
model:
  name: x   # a comment
facilities:
  - id: a
    capacity: 10
  - id: b
    capacity: -1
    distribution: {La: 0.5, Ce: 0.5}
elements:
- La
- Ce
";

    #[test]
    fn finds_block_and_flow_paths() {
        let loc = Locator::new(TEXT);
        assert_eq!(loc.find("model.name"), Some((2, 3)));
        assert_eq!(loc.find("facilities[0].id"), Some((4, 5)));
        assert_eq!(loc.find("facilities[1].capacity"), Some((7, 5)));
        assert_eq!(loc.find("facilities[1].distribution.Ce"), Some((8, 29)));
        assert_eq!(loc.find("elements[1]"), Some((11, 1)));
    }

    #[test]
    fn flow_columns_count_characters_not_bytes() {
        let loc = Locator::new("deposits:\n  - distribution: {\"Néé\": 0.5, Nd: -1}\n");
        // `Nd` is the 32nd character of its line (the 34th byte).
        assert_eq!(loc.find("deposits[0].distribution.Nd"), Some((2, 32)));
    }

    #[test]
    fn finds_the_items_of_a_flow_sequence_over_its_lines() {
        let text = "markets: [CN, ROW,\n  \"ZZ\"]  # the last\nstages: [mine, {a: 1}, sep]\n";
        let loc = Locator::new(text);
        assert_eq!(loc.find("markets[0]"), Some((1, 11)));
        assert_eq!(loc.find("markets[1]"), Some((1, 15)));
        assert_eq!(loc.find("markets[2]"), Some((2, 3)));
        assert_eq!(loc.find("stages[1]"), Some((3, 16)));
        assert_eq!(loc.find("stages[2]"), Some((3, 24)));
        // An unclosed one ends with the text.
        let loc = Locator::new("a: [x,\n  y,\n");
        assert_eq!(loc.find("a[1]"), Some((2, 3)));
    }

    #[test]
    fn falls_back_to_the_nearest_parent() {
        let loc = Locator::new(TEXT);
        assert_eq!(loc.find("facilities[1].ramp_months"), Some((6, 3)));
        assert_eq!(loc.find("nowhere.at.all"), None);
    }

    #[test]
    fn a_quoted_value_over_lines_is_text_not_items() {
        // Its second line starts `- `: it was counted as an item, and every later one was a
        // line off.
        let text = "facilities:\n  - id: a\n    assumption: \"a note that runs on\n  - to a second line\"\n  - {id: b, capacity: -1}\n  - id: c\n    note: 'it''s\n  - fine'\n  - id: d\n";
        let loc = Locator::new(text);
        assert_eq!(loc.find("facilities[1].capacity"), Some((5, 3)));
        assert_eq!(loc.find("facilities[2]"), Some((6, 3)));
        assert_eq!(loc.find("facilities[3]"), Some((9, 3)));
    }
}

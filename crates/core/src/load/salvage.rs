//! Reading on past a model file's first type error. The YAML parser stops at the first
//! field it cannot read (a number written as a word, an unknown field), so a file with three
//! such mistakes would take three rounds of fixing to show them all. When the file is valid
//! YAML, the list item (or section) holding the error is blanked out, lines kept so every
//! later place is unchanged, and the file is read again; the loop ends when it reads, when
//! nothing is left to blank, or at [`MAX_PER_FILE`] problems.

/// The most type errors reported for one file.
pub const MAX_PER_FILE: usize = 20;
/// The most text read again to list a file's further errors (bytes): a model of a few
/// hundred kilobytes lists all twenty; one of several megabytes stops sooner, so `check`
/// stays quick whatever the file.
pub const MAX_READ: usize = 24 << 20;

/// Items blanked so far, to restate later messages' list indices as the file writes them.
#[derive(Default)]
pub struct Blanked {
    /// (section, index of the item in the file as written).
    items: Vec<(String, usize)>,
}

impl Blanked {
    /// A parser message's leading `section[k]` with `k` counted in the file as written
    /// (items blanked before it no longer count in the text that was read).
    pub fn restate(&self, msg: &str) -> String {
        let Some(open) = msg.find('[') else {
            return msg.to_string();
        };
        let section = &msg[..open];
        if section.is_empty()
            || !section
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return msg.to_string();
        }
        let rest = &msg[open + 1..];
        let Some(close) = rest.find(']') else {
            return msg.to_string();
        };
        let Ok(k) = rest[..close].parse::<usize>() else {
            return msg.to_string();
        };
        format!("{section}[{}{}", self.original(section, k), &rest[close..])
    }

    /// The index, in the file as written, of item `k` of `section` in the text now read.
    pub fn original(&self, section: &str, mut k: usize) -> usize {
        let mut gone: Vec<usize> = (self.items.iter())
            .filter(|(s, _)| s == section)
            .map(|&(_, i)| i)
            .collect();
        gone.sort_unstable();
        for g in gone {
            if g <= k {
                k += 1;
            }
        }
        k
    }

    /// Notes that item `k` (counted in the text now read) of `section` was blanked.
    pub fn add(&mut self, section: String, k: usize) {
        let k = self.original(&section, k);
        self.items.push((section, k));
    }
}

/// Whether line `line` (1-based) of `text` lies within the map whose first key is at `at`
/// (line, column): every line from it to `line`, blank lines and comments aside, is
/// indented at least as deep as that key.
pub fn within_item(text: &str, at: (usize, usize), line: usize) -> bool {
    let depth = at.1.saturating_sub(1);
    line >= at.0
        && (text.lines().enumerate())
            .skip(at.0)
            .take(line.saturating_sub(at.0 + 1))
            .all(|(_, l)| {
                let t = l.trim_start();
                t.is_empty() || t.starts_with('#') || l.len() - t.len() >= depth
            })
}

/// The key a parser message says is written twice (`the key 'k' is written twice`,
/// `duplicate field `k``), if it says so.
pub fn written_twice(msg: &str) -> Option<String> {
    let quoted = |open: &str, close: char| {
        let rest = &msg[msg.find(open)? + open.len()..];
        Some(rest[..rest.find(close)?].to_string())
    };
    if msg.contains("is written twice") {
        quoted("the key '", '\'')
    } else if msg.contains("duplicate field `") {
        quoted("duplicate field `", '`')
    } else {
        None
    }
}

/// Where `key` is written the second time in the block map whose first key is at `at`
/// (line and column from 1): the keys of one map start in the same column.
pub fn second_key(text: &str, at: (usize, usize), key: &str) -> Option<(usize, usize)> {
    let col = at.1.checked_sub(1)?;
    let mut seen = 0;
    let eol = if text.contains('\n') { '\n' } else { '\r' };
    for (i, l) in text.split(eol).enumerate().skip(at.0.checked_sub(1)?) {
        if !is_content(l) {
            continue;
        }
        // The first line may start with `- ` before its key; later ones leaving the
        // column end the map.
        let first = i + 1 == at.0;
        if !first && indent(l) < col {
            break;
        }
        let Some(here) = l.get(col..) else {
            continue;
        };
        if (first || indent(l) == col)
            && here
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with(':'))
        {
            seen += 1;
            if seen == 2 {
                return Some((i + 1, col + 1));
            }
        }
    }
    None
}

/// A text to read next, and the list item it blanked (section, index in the text before).
pub type Candidate = (String, Option<(String, usize)>);

fn indent(l: &str) -> usize {
    l.len() - l.trim_start_matches(' ').len()
}

fn is_content(l: &str) -> bool {
    let t = l.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// A top-level key line (`facilities:`), not a list item at column 1, a document marker or
/// the bracket closing a flow list.
fn is_section(l: &str) -> bool {
    is_content(l)
        && indent(l) == 0
        && l.starts_with(|c: char| c.is_alphanumeric() || matches!(c, '_' | '"' | '\''))
}

/// Texts to try reading next, best first, after an error at `line` (from 1): the file with
/// the list item or map entry holding that line blanked out, then with its whole section
/// blanked out; each with the list item it blanked (its section and index in `text`).
/// Empty if the line is in no section.
pub fn candidates(text: &str, line: usize, whole_section: bool) -> Vec<Candidate> {
    // Lines end in \n (or \r\n); a file of old Mac line ends (\r alone) is split on those.
    let eol = if text.contains('\n') { "\n" } else { "\r" };
    let lines: Vec<&str> = text.split(eol).collect();
    let at = line.saturating_sub(1).min(lines.len().saturating_sub(1));
    let Some(start) = (0..=at).rev().find(|&i| is_section(lines[i])) else {
        return Vec::new();
    };
    let end = (start + 1..lines.len())
        .find(|&i| is_section(lines[i]) || lines[i].starts_with("---"))
        .unwrap_or(lines.len());
    let key = lines[start]
        .split(':')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let rebuild = |from: usize, to: usize, head: Option<String>| {
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        for l in &mut out[from..to] {
            l.clear();
        }
        if let Some(h) = head {
            out[start] = h;
        }
        out.join(eol)
    };
    let mut found = Vec::new();
    // The header's fields are not independent items: it goes whole, or not at all; so does a
    // section written as the wrong kind of thing, or in flow style (`[…]` over lines, whose
    // items do not start lines).
    let flow = lines[start]
        .split_once(':')
        .is_some_and(|(_, v)| is_content(v));
    if at > start && key != "model" && !whole_section && !flow {
        let body = start + 1..end;
        if let Some(first) = body.clone().find(|&i| is_content(lines[i])) {
            let item_indent = indent(lines[first]);
            let seq = lines[first].trim_start().starts_with('-');
            let starts: Vec<usize> = (body.clone())
                .filter(|&i| is_content(lines[i]) && indent(lines[i]) == item_indent)
                .filter(|&i| item_indent > 0 || lines[i].starts_with('-'))
                .collect();
            if let Some(k) = starts.iter().rposition(|&i| i <= at) {
                let from = starts[k];
                let to = starts.get(k + 1).copied().unwrap_or(end);
                let left = (body.clone())
                    .filter(|i| !(from..to).contains(i))
                    .any(|i| is_content(lines[i]));
                // A section with no items left is written empty, not as a null.
                let head = (!left).then(|| format!("{key}: {}", if seq { "[]" } else { "{}" }));
                let item = seq.then(|| (key.clone(), k));
                found.push((rebuild(from, to, head), item));
            }
        }
    }
    found.push((rebuild(start, end, None), None));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "model:\n  name: x\n# note\nfacilities:\n  - id: a\n    capacity: lots\n  - id: b\n    capacity: 3\nsectors: []\n";

    #[test]
    fn blanks_the_item_then_the_section() {
        let c = candidates(TEXT, 6, false);
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0].0,
            "model:\n  name: x\n# note\nfacilities:\n\n\n  - id: b\n    capacity: 3\nsectors: []\n"
        );
        assert_eq!(c[0].1, Some(("facilities".to_string(), 0)));
        assert_eq!(c[1].0, "model:\n  name: x\n# note\n\n\n\n\n\nsectors: []\n");
    }

    #[test]
    fn a_section_left_without_items_is_written_empty() {
        let text = "facilities:\n  - id: a\n    capacity: lots\nsectors: []\n";
        assert_eq!(
            candidates(text, 3, false)[0].0,
            "facilities: []\n\n\nsectors: []\n"
        );
    }

    #[test]
    fn the_header_goes_whole_and_a_line_outside_sections_has_nothing_to_blank() {
        let c = candidates(TEXT, 2, false);
        assert_eq!(c.len(), 1);
        assert!(c[0].0.starts_with("\n\n\nfacilities:"));
        assert!(candidates("# only a comment\n", 1, false).is_empty());
    }

    #[test]
    fn indices_are_restated_as_the_file_writes_them() {
        let mut b = Blanked::default();
        b.add("facilities".into(), 2);
        b.add("facilities".into(), 2);
        assert_eq!(
            b.restate("facilities[1].capacity: bad"),
            "facilities[1].capacity: bad"
        );
        assert_eq!(b.restate("facilities[2]: bad"), "facilities[4]: bad");
        assert_eq!(b.restate("sectors[2]: bad"), "sectors[2]: bad");
        assert_eq!(b.restate("unknown field `x`"), "unknown field `x`");
    }

    #[test]
    fn a_key_written_twice_is_found_where_it_is_written_again() {
        let text = "behaviour:\n  a: 1\n  b: 2\n  # c\n  b: 3\nnext: x\n  b: 4\n";
        assert_eq!(
            written_twice("behaviour: the key 'b' is written twice").as_deref(),
            Some("b")
        );
        assert_eq!(
            written_twice("duplicate field `markets`").as_deref(),
            Some("markets")
        );
        assert_eq!(written_twice("invalid type: map"), None);
        assert_eq!(second_key(text, (2, 3), "b"), Some((5, 3)));
        assert_eq!(second_key(text, (2, 3), "a"), None);
        assert_eq!(
            second_key(
                "markets: [CN]\nelements: []\nmarkets: [X]\n",
                (1, 1),
                "markets"
            ),
            Some((3, 1))
        );
    }

    #[test]
    fn old_mac_line_ends_are_lines_too() {
        let cr = TEXT.replace('\n', "\r");
        assert_eq!(
            candidates(&cr, 6, false)[0].0,
            candidates(TEXT, 6, false)[0].0.replace('\n', "\r")
        );
        assert_eq!(second_key("a: 1\rb: 2\ra: 3\r", (1, 1), "a"), Some((3, 1)));
    }

    #[test]
    fn a_flow_section_or_a_section_of_the_wrong_kind_goes_whole() {
        let flow = "groups: [\n  {id: a, members: 5},\n  {id: b}\n]\nsectors: []\n";
        let c = candidates(flow, 2, false);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].0, "\n\n\n\nsectors: []\n");
        assert_eq!(candidates(TEXT, 6, true).len(), 1);
    }
}

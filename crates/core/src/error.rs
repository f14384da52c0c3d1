//! Errors of model loading: every problem with its place, collected before reporting.

use std::fmt;
use std::path::PathBuf;

/// One problem found in a model, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub place: Option<(usize, usize)>,
    /// The field path, e.g. `facilities[12].capacity`; empty for whole-file problems.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.place {
            write!(f, ":{line}:{col}")?;
        }
        let message = shortened(&self.message, 2000);
        // What would print as nothing is shown as its code point (`<U+200B>`).
        let message: String = message
            .chars()
            .map(|c| match invisible(c) {
                true => format!("<U+{:04X}>", c as u32),
                false => c.to_string(),
            })
            .collect();
        if self.path.is_empty() {
            write!(f, ": {message}")
        } else {
            write!(f, ": {}: {message}", self.path)
        }
    }
}

/// A character that prints as nothing, or turns the text around it: a zero-width space or
/// joiner, a direction mark or override, a word joiner, a byte-order mark, a soft hyphen.
/// Two ids that differ only by one look the same in every message.
pub fn invisible(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// `text` cut to about `most` characters, its middle left out and counted: a value pasted
/// by mistake (a megabyte as an id) is not printed whole in every message that names it.
pub fn shortened(text: &str, most: usize) -> std::borrow::Cow<'_, str> {
    let n = text.chars().count();
    if n <= most {
        return text.into();
    }
    let head: String = text.chars().take(most / 2).collect();
    let tail: String = text.chars().skip(n - most / 4).collect();
    format!(
        "{head}… ({} characters left out) …{tail}",
        n - most / 2 - most / 4
    )
    .into()
}

/// Every problem found in a model. Never empty.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ModelError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "error: the model has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// "did you mean 'Dy'?" for a misspelt name, from the names that exist.
pub fn did_you_mean<'a>(wrong: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    // No name is this long: a value pasted by mistake resembles none (and comparing it
    // with every name would take seconds).
    if wrong.len() > 200 {
        return String::new();
    }
    // Nothing typed resembles nothing: an empty name gets no guess (it matched `Y`).
    if wrong.trim().is_empty() {
        return String::new();
    }
    let lower = wrong.to_lowercase();
    let known: Vec<&str> = known.into_iter().collect();
    // A series key with its halves swapped ("US/magnet:NdFeB" for "magnet:NdFeB/US"):
    // metrics order their keys differently, so say which way this one goes.
    if let Some((a, b)) = wrong.split_once('/') {
        let swapped = format!("{b}/{a}").to_lowercase();
        if let Some(k) = known.iter().find(|k| k.to_lowercase() == swapped) {
            return format!(" (did you mean '{k}'? the halves of this key go the other way)");
        }
    }
    // A name further than `near` edits is no suggestion; one whose length differs by more
    // than that is further, and is not compared.
    let (len, near) = (wrong.chars().count(), (wrong.chars().count() / 3).max(1));
    let best = (known.iter())
        .filter(|k| k.chars().count().abs_diff(len) <= near)
        .map(|k| (edit_distance(&lower, &k.to_lowercase()), *k))
        .min_by_key(|&(d, k)| (d, k.len(), k));
    match best {
        Some((d, k)) if d <= near => {
            return format!(" (did you mean '{k}'?)");
        }
        _ => {}
    }
    // A shortened id ("mount-weld" for "mount-weld-mine", "magnet" for "magnet:NdFeB"):
    // the ids it begins, when there are only a few.
    if wrong.chars().count() >= 3 {
        let starts = (known.iter().copied())
            .filter(|k| k.to_lowercase().starts_with(&lower) && k.len() > wrong.len());
        if let Some(hint) = few_names(starts) {
            return hint;
        }
        // The same word with another ending ("mining" for "mine", "recycle" for
        // "recycling"): the names sharing the longest stem of at least three letters, each
        // word ending at most three letters past it, when there are only a few.
        let stem = |k: &str| {
            let k = k.to_lowercase();
            let p = (lower.chars().zip(k.chars()))
                .take_while(|(a, b)| a == b)
                .count();
            (p >= 3 && len <= p + 3 && k.chars().count() <= p + 3).then_some(p)
        };
        let best = known.iter().filter_map(|k| stem(k)).max();
        if let Some(best) = best {
            let near = (known.iter().copied()).filter(|k| stem(k) == Some(best));
            if let Some(hint) = few_names(near) {
                return hint;
            }
        }
    }
    String::new()
}

/// The hint naming one to three candidates; none when there are more (a guess among many
/// is noise).
fn few_names<'a>(names: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    names.dedup();
    match names.as_slice() {
        [one] => Some(format!(" (did you mean '{one}'?)")),
        [_, _] | [_, _, _] => {
            let list: Vec<String> = names.iter().map(|k| format!("'{k}'")).collect();
            Some(format!(" (did you mean one of {}?)", list.join(", ")))
        }
        _ => None,
    }
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of
/// two neighbours ("RWO" is one step from "ROW").
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let m = b.len();
    // Three rows of the table: two back (for swaps), the last, this one.
    let (mut back, mut last, mut row) =
        (vec![0; m + 1], (0..=m).collect::<Vec<_>>(), vec![0; m + 1]);
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(back[j - 2] + 1);
            }
        }
        std::mem::swap(&mut back, &mut last);
        std::mem::swap(&mut last, &mut row);
    }
    last[m]
}

/// A number as a message shows it: plainly, or in exponent form when it is very large or very
/// small (`1e300`, not three hundred digits).
pub fn shown(x: f64) -> String {
    if x.is_finite() && x != 0.0 && !(1e-4..1e9).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("Dyy", ["Dy", "Tb", "Nd"]),
            " (did you mean 'Dy'?)"
        );
        assert_eq!(
            did_you_mean("mountain-pas", ["mountain-pass", "mount-weld"]),
            " (did you mean 'mountain-pass'?)"
        );
        assert_eq!(did_you_mean("Xq", ["Dy", "Tb"]), "");
        assert_eq!(did_you_mean("RWO", ["CN", "ROW"]), " (did you mean 'ROW'?)");
        assert_eq!(
            did_you_mean("US/magnet:NdFeB", ["magnet:NdFeB/US", "oxide/US"]),
            " (did you mean 'magnet:NdFeB/US'? the halves of this key go the other way)"
        );
        assert_eq!(did_you_mean("dy", ["Dy", "Tb"]), " (did you mean 'Dy'?)");
        assert_eq!(did_you_mean("completely-different", ["Dy", "Tb"]), "");
        // The same word with another ending.
        let stages = [
            "mine",
            "separation",
            "metal",
            "magnet",
            "recycling",
            "CN",
            "US",
        ];
        assert_eq!(did_you_mean("mining", stages), " (did you mean 'mine'?)");
        assert_eq!(
            did_you_mean("recycle", stages),
            " (did you mean 'recycling'?)"
        );
        assert_eq!(
            did_you_mean("separate", stages),
            " (did you mean 'separation'?)"
        );
        assert_eq!(did_you_mean("metallurgy", stages), "");
        assert_eq!(did_you_mean("mixing", stages), "");
        // A shortened id: the few it begins.
        assert_eq!(
            did_you_mean("mount-weld", ["mount-weld-mine", "mountain-pass-mine"]),
            " (did you mean 'mount-weld-mine'?)"
        );
        assert_eq!(
            did_you_mean("magnet", ["oxide", "magnet:NdFeB", "magnet:SmCo"]),
            " (did you mean one of 'magnet:NdFeB', 'magnet:SmCo'?)"
        );
        assert_eq!(did_you_mean("lm", ["lm-space", "lm-aeronautics"]), "");
    }

    #[test]
    fn renders_file_line_path_message() {
        let p = Problem {
            file: "m.yaml".into(),
            place: Some((3, 5)),
            path: "facilities[1].capacity".into(),
            message: "must be ≥ 0".into(),
        };
        assert_eq!(
            p.to_string(),
            "m.yaml:3:5: facilities[1].capacity: must be ≥ 0"
        );
    }
}

//! Helpers the validation of every `config.json` object shares: positive
//! numbers, "did you mean" hints for misspelt keys, and router globs.

use super::glob::Glob;

/// `value` when it is at least 1; otherwise a problem at `path`.
pub(crate) fn positive(value: Option<i64>, path: &str, problems: &mut Vec<String>) -> Option<u64> {
    let v = value?;
    match u64::try_from(v) {
        Ok(n) if n > 0 => Some(n),
        _ => {
            problems.push(format!("{path}: must be a positive integer, got {v}"));
            None
        }
    }
}

/// ` (did you mean "longContext"?)` when `key` is one of `known` written with
/// another case, with `-`/`_`, or with a typo or two (the closest one).
pub(crate) fn did_you_mean(key: &str, known: &[&str]) -> String {
    let fold = |s: &str| -> Vec<char> {
        s.chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let folded = fold(key);
    let allowed = if folded.len() <= 4 { 1 } else { 2 };
    known
        .iter()
        .map(|k| (edit_distance(&fold(k), &folded), k))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default()
}

/// Levenshtein distance (insertions, deletions, substitutions).
pub(super) fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// A rule's model glob, trimmed; the error text names the pattern.
pub(crate) fn compile_glob(pattern: &str) -> Result<Glob, String> {
    let trimmed = pattern.trim();
    Glob::new(trimmed).map_err(|e| match trimmed {
        "" => format!("the glob {e}"),
        _ => format!("bad glob {pattern:?}: {e}"),
    })
}

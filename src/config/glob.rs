//! Shell-style globs on model names, for router rules.
//!
//! `*` matches any run of characters (also none), `?` exactly one character,
//! `[abc]` / `[a-z]` one character of the set, `[!a-z]` (or `[^a-z]`) one
//! character outside it, and `\x` the character `x` itself. A glob matches the
//! whole name, ASCII-case-insensitively: `claude-opus-*` matches
//! `Claude-Opus-4-1`.

use std::fmt;

/// A compiled glob. Built once at config load; [`Glob::matches`] allocates
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A literal character, stored lower-case.
    Char(char),
    /// `?`
    One,
    /// `*`
    Star,
    /// `[…]`: inclusive ranges (a single character is `(c, c)`).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Why a pattern is not a glob. Positions count characters from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    /// The pattern is empty (after trimming).
    #[error("must not be empty")]
    Empty,
    /// A `[` class at this position has no closing `]`.
    #[error("`[` at character {0} is never closed by `]`")]
    UnclosedClass(usize),
    /// A class at this position matches nothing (`[]`).
    #[error("`[]` at character {0} is an empty set")]
    EmptyClass(usize),
    /// A class range whose start is after its end (`[z-a]`).
    #[error("range `{0}-{1}` runs backwards")]
    ReversedRange(char, char),
    /// The pattern ends in an escape with nothing to escape.
    #[error("ends with a lone `\\`")]
    TrailingEscape,
}

impl Glob {
    /// Compiles `pattern` (taken as is, not trimmed).
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        if pattern.is_empty() {
            return Err(GlobError::Empty);
        }
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    // `**` means the same as `*`.
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::One);
                    i += 1;
                }
                '\\' => {
                    let c = *chars.get(i + 1).ok_or(GlobError::TrailingEscape)?;
                    tokens.push(Token::Char(c.to_ascii_lowercase()));
                    i += 2;
                }
                '[' => {
                    let (token, next) = class(&chars, i)?;
                    tokens.push(token);
                    i = next;
                }
                c => {
                    tokens.push(Token::Char(c.to_ascii_lowercase()));
                    i += 1;
                }
            }
        }
        Ok(Glob {
            pattern: pattern.to_owned(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the whole of `text` matches, ignoring ASCII case.
    pub fn matches(&self, text: &str) -> bool {
        let tokens = &self.tokens;
        let (mut p, mut t) = (0usize, 0usize);
        // Where the last `*` was and the text position it was tried from:
        // on a mismatch the `*` swallows one more character and we go on.
        let mut star: Option<(usize, usize)> = None;
        loop {
            let c = text[t..].chars().next();
            match (tokens.get(p), c) {
                (Some(Token::Star), _) => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                (Some(token), Some(c)) if token.accepts(c) => {
                    p += 1;
                    t += c.len_utf8();
                    continue;
                }
                (None, None) => return true,
                _ => {}
            }
            match star {
                Some((sp, st)) => match text[st..].chars().next() {
                    Some(skipped) => {
                        let st = st + skipped.len_utf8();
                        star = Some((sp, st));
                        p = sp + 1;
                        t = st;
                    }
                    None => return false,
                },
                None => return false,
            }
        }
    }
}

impl Token {
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Char(want) => c.to_ascii_lowercase() == *want,
            Token::One => true,
            Token::Star => false,
            Token::Class { negated, ranges } => {
                let lower = c.to_ascii_lowercase();
                let upper = c.to_ascii_uppercase();
                let inside = ranges
                    .iter()
                    .any(|&(from, to)| [c, lower, upper].into_iter().any(|x| from <= x && x <= to));
                inside != *negated
            }
        }
    }
}

/// Parses the `[…]` starting at `chars[start]`; returns the token and the
/// index after the closing `]`.
fn class(chars: &[char], start: usize) -> Result<(Token, usize), GlobError> {
    let mut i = start + 1;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        let c = match chars.get(i) {
            None => return Err(GlobError::UnclosedClass(start + 1)),
            Some(']') if ranges.is_empty() => return Err(GlobError::EmptyClass(start + 1)),
            Some(']') => return Ok((Token::Class { negated, ranges }, i + 1)),
            Some('\\') => {
                i += 1;
                *chars.get(i).ok_or(GlobError::UnclosedClass(start + 1))?
            }
            Some(&c) => c,
        };
        i += 1;
        // `a-z`; a `-` right before `]` is a literal dash.
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&n| n != ']') {
            let mut to = chars[i + 1];
            i += 2;
            if to == '\\' {
                to = *chars.get(i).ok_or(GlobError::UnclosedClass(start + 1))?;
                i += 1;
            }
            if to < c {
                return Err(GlobError::ReversedRange(c, to));
            }
            ranges.push((c, to));
        } else {
            ranges.push((c, c));
        }
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        Glob::new(pattern).unwrap().matches(text)
    }

    #[test]
    fn star_and_question_mark() {
        assert!(m("claude-opus-*", "claude-opus-4-1-20250805"));
        assert!(m("claude-opus-*", "claude-opus-"));
        assert!(!m("claude-opus-*", "claude-sonnet-4-5"));
        assert!(
            !m("claude-opus-*", "xclaude-opus-4"),
            "anchored at the start"
        );
        assert!(m("*haiku*", "claude-3-5-haiku-20241022"));
        assert!(
            !m("*haiku", "claude-3-5-haiku-20241022"),
            "anchored at the end"
        );
        assert!(m("gpt-?o", "gpt-4o"));
        assert!(!m("gpt-?o", "gpt-o"));
        assert!(!m("gpt-?o", "gpt-45o"));
        assert!(m("*", ""));
        assert!(m("a**b", "ab"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(m("a*a*a*b", "aaaaaaaaaaaaaaaaab"));
        assert!(!m("a*a*a*b", "aaaaaaaaaaaaaaaaaa"));
    }

    #[test]
    fn case_and_unicode() {
        assert!(m("claude-opus-*", "Claude-OPUS-4"));
        assert!(m("CLAUDE-*", "claude-x"));
        assert!(m("é?*", "éü"));
        assert!(!m("é", "É"), "only ASCII case is folded");
    }

    #[test]
    fn classes_and_escapes() {
        assert!(m("claude-[os]*", "claude-opus-4"));
        assert!(m("claude-[os]*", "claude-sonnet-4"));
        assert!(!m("claude-[os]*", "claude-haiku-4"));
        assert!(m("v[0-9]", "v7"));
        assert!(!m("v[0-9]", "vx"));
        assert!(m("v[!0-9]", "vx"));
        assert!(m("v[^0-9]", "vx"));
        assert!(!m("v[!0-9]", "v1"));
        assert!(m("[A-C]x", "bX"), "classes ignore ASCII case too");
        assert!(m("a[-]b", "a-b"));
        assert!(m("a[x-]b", "a-b"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("a[\\]]b", "a]b"));
    }

    #[test]
    fn bad_patterns() {
        assert_eq!(Glob::new(""), Err(GlobError::Empty));
        assert_eq!(Glob::new("claude-["), Err(GlobError::UnclosedClass(8)));
        assert_eq!(Glob::new("a[b-"), Err(GlobError::UnclosedClass(2)));
        assert_eq!(Glob::new("a[]"), Err(GlobError::EmptyClass(2)));
        assert_eq!(Glob::new("[z-a]"), Err(GlobError::ReversedRange('z', 'a')));
        assert_eq!(Glob::new("abc\\"), Err(GlobError::TrailingEscape));
        assert_eq!(Glob::new("a[\\"), Err(GlobError::UnclosedClass(2)));
        assert_eq!(Glob::new("x*").unwrap().as_str(), "x*");
    }
}

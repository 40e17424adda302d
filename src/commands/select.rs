//! How the `config` subcommands name upstreams: by index or name, and how
//! their messages refer to one. Shared by [`super::upstreams`] and
//! [`super::router`], which use each other's edits otherwise.

use crate::config::RawConfig;

/// The index of the upstream `sel` names: an index in range, else a name
/// (case-insensitive).
pub fn find(raw: &RawConfig, sel: &str) -> Result<usize, String> {
    let sel = sel.trim();
    if let Ok(i) = sel.parse::<usize>() {
        if i < raw.upstream.len() {
            return Ok(i);
        }
    }
    if let Some(i) = raw
        .upstream
        .iter()
        .position(|u| u.name.trim().eq_ignore_ascii_case(sel))
    {
        return Ok(i);
    }
    let known = if raw.upstream.is_empty() {
        "no upstreams are configured; add one with `claude-proxy config add`".to_owned()
    } else {
        let names: Vec<String> = raw
            .upstream
            .iter()
            .enumerate()
            .map(|(i, u)| format!("{i}:{}", u.name))
            .collect();
        format!("known: {}", names.join(", "))
    };
    Err(format!("no upstream {sel:?} ({known})"))
}

/// `#1 "groq"`, how messages refer to an upstream.
pub fn label(raw: &RawConfig, i: usize) -> String {
    format!(
        "#{i} {:?}",
        raw.upstream
            .get(i)
            .map(|u| u.name.as_str())
            .unwrap_or_default()
    )
}

/// `currentUpstream` as an index (0 when absent or negative).
pub(crate) fn current_index(raw: &RawConfig) -> usize {
    raw.current_upstream
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
}

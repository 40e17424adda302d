//! Stop sequences enforced by the proxy itself, for upstreams that do not
//! say which sequence ended the text (docs/translation.md, "Stop reasons").

/// The stop sequence that completes first in `text`, as `(start, sequence)`.
///
/// "Completes first" (earliest end, then earliest start) is how generation
/// stops on its own, and it is also what a streaming scan finds first, so
/// stream and non-stream always agree on the match.
pub(crate) fn find_stop_sequence<'s>(
    text: &str,
    sequences: &'s [String],
) -> Option<(usize, &'s str)> {
    let mut best: Option<(usize, usize, &str)> = None;
    for seq in sequences.iter().filter(|s| !s.is_empty()) {
        if let Some(start) = text.find(seq.as_str()) {
            let end = start + seq.len();
            if best.is_none_or(|(e, s, _)| (end, start) < (e, s)) {
                best = Some((end, start, seq));
            }
        }
    }
    best.map(|(_, start, seq)| (start, seq))
}

/// Length in bytes of the longest suffix of `text` that could still grow into
/// a stop sequence: the only text a stream has to hold back.
pub(crate) fn stop_sequence_prefix_len(text: &str, sequences: &[String]) -> usize {
    let mut best = 0;
    for seq in sequences {
        let longest = seq.len().saturating_sub(1).min(text.len());
        for k in (best + 1..=longest).rev() {
            if seq.is_char_boundary(k) && text.ends_with(&seq[..k]) {
                best = k;
                break;
            }
        }
    }
    best
}

/// The text of a stream checked for stop sequences as it arrives: only the
/// trailing characters that could still grow into a sequence are held back.
#[derive(Debug, Default)]
pub(crate) struct StopScan {
    held: String,
}

/// What [`StopScan::push`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scanned {
    /// Text that can be sent now (possibly empty).
    Text(String),
    /// A stop sequence matched: the text before it, and the sequence. The
    /// message ends there.
    Stop {
        /// Text up to the match, not sent yet.
        before: String,
        /// The sequence that matched.
        sequence: String,
    },
}

impl StopScan {
    /// Adds `text`; with no (non-empty) stop sequences everything is sent.
    pub(crate) fn push(&mut self, text: &str, stops: &[String]) -> Scanned {
        if stops.iter().all(String::is_empty) {
            let mut ready = std::mem::take(&mut self.held);
            ready.push_str(text);
            return Scanned::Text(ready);
        }
        self.held.push_str(text);
        if let Some((start, seq)) = find_stop_sequence(&self.held, stops) {
            let sequence = seq.to_owned();
            self.held.truncate(start);
            return Scanned::Stop {
                before: std::mem::take(&mut self.held),
                sequence,
            };
        }
        let keep = stop_sequence_prefix_len(&self.held, stops);
        let rest = self.held.split_off(self.held.len() - keep);
        Scanned::Text(std::mem::replace(&mut self.held, rest))
    }

    /// Releases the held-back text: what follows is not text, so it can no
    /// longer grow into a stop sequence.
    pub(crate) fn flush(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_sequence_that_completes_first_wins() {
        let seqs = vec!["abcd".to_owned(), "c".to_owned(), String::new()];
        assert_eq!(find_stop_sequence("xabcd", &seqs), Some((3, "c")));
        let seqs = vec!["bc".to_owned(), "abc".to_owned()];
        assert_eq!(find_stop_sequence("xabc", &seqs), Some((1, "abc")));
        assert_eq!(find_stop_sequence("xyz", &seqs), None);
    }

    #[test]
    fn hold_back_is_the_longest_possible_prefix() {
        let seqs = vec!["END".to_owned(), "é!".to_owned()];
        assert_eq!(stop_sequence_prefix_len("abcEN", &seqs), 2);
        assert_eq!(stop_sequence_prefix_len("abcE", &seqs), 1);
        assert_eq!(stop_sequence_prefix_len("abc", &seqs), 0);
        assert_eq!(stop_sequence_prefix_len("aé", &seqs), 2);
        assert_eq!(stop_sequence_prefix_len("", &seqs), 0);
    }

    #[test]
    fn a_scan_holds_back_only_a_possible_start() {
        let stops = vec!["END".to_owned()];
        let mut s = StopScan::default();
        assert_eq!(s.push("abcE", &stops), Scanned::Text("abc".into()));
        assert_eq!(s.push("x", &stops), Scanned::Text("Ex".into()));
        assert_eq!(s.push("yEN", &stops), Scanned::Text("y".into()));
        assert_eq!(
            s.push("Dz", &stops),
            Scanned::Stop {
                before: String::new(),
                sequence: "END".into()
            }
        );
        assert_eq!(s.push("EN", &stops), Scanned::Text(String::new()));
        assert_eq!(s.flush(), "EN");
        assert_eq!(s.push("all", &[]), Scanned::Text("all".into()));
    }
}

//! Wall-clock time as the proxy handles it: milliseconds since the Unix
//! epoch (UTC) inside, RFC 3339 with milliseconds
//! (`2026-11-26T05:44:40.123Z`) outside, and the UTC calendar (days and
//! months) that budgets reset on. A leaf module: it uses nothing else of
//! the crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in ms since the epoch.
pub(crate) fn now_ms() -> i64 {
    ms_of(SystemTime::now())
}

/// `t` in ms since the epoch (0 before it).
pub(crate) fn ms_of(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `ms` since the epoch as RFC 3339 UTC with milliseconds (times before
/// the epoch show as the epoch).
pub(crate) fn rfc3339(ms: i64) -> String {
    let ms = ms.max(0);
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let secs = rem / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        rem % 1000
    )
}

/// `t` as RFC 3339 UTC with milliseconds.
pub fn rfc3339_of(t: SystemTime) -> String {
    rfc3339(ms_of(t))
}

/// Ms since the epoch of the start (00:00 UTC) of the day holding `ms`.
pub(crate) fn day_start(ms: i64) -> i64 {
    ms - ms.rem_euclid(86_400_000)
}

/// Ms since the epoch of the start of the next UTC day after `ms`.
pub(crate) fn next_day(ms: i64) -> i64 {
    day_start(ms) + 86_400_000
}

/// Ms since the epoch of the start (the 1st, 00:00 UTC) of the calendar
/// month holding `ms`.
pub(crate) fn month_start(ms: i64) -> i64 {
    let (y, m, _) = civil_from_days(ms.div_euclid(86_400_000));
    days_from_civil(y, i64::from(m), 1) * 86_400_000
}

/// Ms since the epoch of the start of the calendar month after the one
/// holding `ms`.
pub(crate) fn next_month(ms: i64) -> i64 {
    let (y, m, _) = civil_from_days(ms.div_euclid(86_400_000));
    let (y, m) = if m == 12 {
        (y + 1, 1)
    } else {
        (y, i64::from(m) + 1)
    };
    days_from_civil(y, m, 1) * 86_400_000
}

/// Serializes ms since the epoch as RFC 3339 (serde `serialize_with`).
pub(crate) fn serialize_ms<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*ms))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (`t`/`z` and a space
/// instead of `T` accepted) into ms since the epoch.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let sep = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        // Milliseconds: the first three digits, right-padded.
        let frac = &b[start..i.min(start + 3)];
        let mut ms = 0i64;
        for k in 0..3 {
            ms = ms * 10 + frac.get(k).map_or(0, |d| i64::from(d - b'0'));
        }
        millis = ms;
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && sep(i + 3, b":") => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 60 + m;
            if sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_min * 60;
    Some(secs * 1000 + millis)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The (year, month, day) of day `z` since 1970-01-01 (Howard Hinnant's
/// civil-from-days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 (Howard Hinnant's days-from-civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_offsets() {
        for ms in [0, 1_764_135_880_123, 951_782_400_000, 4_102_444_799_999] {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms), "{}", rfc3339(ms));
        }
        assert_eq!(rfc3339(1_764_135_880_123), "2025-11-26T05:44:40.123Z");
        let z = parse_rfc3339("2025-11-26T05:44:40Z").unwrap();
        assert_eq!(parse_rfc3339("2025-11-26T07:44:40+02:00"), Some(z));
        assert_eq!(parse_rfc3339("2025-11-26t01:14:40-04:30"), Some(z));
        assert_eq!(parse_rfc3339("2025-11-26 05:44:40.5z"), Some(z + 500));
        assert_eq!(
            parse_rfc3339("2025-11-26T05:44:40.123456789Z"),
            Some(z + 123)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
    }

    #[test]
    fn rejects_what_is_not_rfc_3339() {
        for bad in [
            "",
            "2025-11-26",
            "2025-11-26T05:44:40",
            "2025-11-26T05:44:40+0200",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-11-26T24:00:00Z",
            "2025-11-26T05:44:40.Z",
            "2025-11-26T05:44:40Zx",
            "yesterday",
            "２025-11-26T05:44:40Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn days_and_months_reset_at_utc_boundaries() {
        let t = parse_rfc3339("2026-12-31T23:59:59.999Z").unwrap();
        assert_eq!(rfc3339(day_start(t)), "2026-12-31T00:00:00.000Z");
        assert_eq!(rfc3339(next_day(t)), "2027-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(month_start(t)), "2026-12-01T00:00:00.000Z");
        assert_eq!(rfc3339(next_month(t)), "2027-01-01T00:00:00.000Z");
        let feb = parse_rfc3339("2028-02-10T08:00:00Z").unwrap();
        assert_eq!(rfc3339(next_month(feb)), "2028-03-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(month_start(next_month(feb))),
            "2028-03-01T00:00:00.000Z"
        );
        // The very first ms of a month belongs to it.
        let first = parse_rfc3339("2027-03-01T00:00:00Z").unwrap();
        assert_eq!(month_start(first), first);
        assert_eq!(day_start(first), first);
    }
}

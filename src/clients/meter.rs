//! A client's usage counters: requests and tokens in the current one-minute
//! window (`rpm`, `tpm`), tokens in the current UTC day (`dailyTokens`) and
//! US$ in the current UTC calendar month (`monthlyCostUsd`).
//!
//! Windows are fixed: each starts on a whole UTC minute, so a client may
//! send up to twice its `rpm` across a minute boundary, and `retry-after`
//! is the time to the next minute. A request is counted when it is
//! admitted; its tokens and cost when it ends (a stream: when it ends), so
//! a request that is admitted under a limit may take the client over it,
//! and the next one is refused.
//!
//! Time is passed in (ms since the epoch), so the windows are tested with
//! any clock. The counters sit behind one short mutex per client: no
//! `.await` and no I/O while it is held.

use std::sync::Mutex;

use crate::config::Limits;
use crate::time;

/// One minute in ms.
const MINUTE_MS: i64 = 60_000;

/// The counters of one client.
#[derive(Debug, Default)]
pub struct Meter {
    counts: Mutex<Counts>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    /// The minute (ms since the epoch / 60 000) the window counts.
    minute: i64,
    minute_requests: u64,
    minute_tokens: u64,
    /// Start of the UTC day `day_tokens` counts (ms since the epoch).
    day: i64,
    day_tokens: u64,
    /// Start of the UTC month `month_cost` counts.
    month: i64,
    month_cost: f64,
}

impl Counts {
    /// Starts new windows where `now` has left the counted ones.
    fn roll(&mut self, now: i64) {
        let minute = now.div_euclid(MINUTE_MS);
        if minute != self.minute {
            self.minute = minute;
            self.minute_requests = 0;
            self.minute_tokens = 0;
        }
        let day = time::day_start(now);
        if day != self.day {
            self.day = day;
            self.day_tokens = 0;
            let month = time::month_start(now);
            if month != self.month {
                self.month = month;
                self.month_cost = 0.0;
            }
        }
    }
}

/// Why a client's request is refused before it reaches an upstream.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// `rpm` reached in this minute.
    Rpm {
        /// The limit.
        limit: u64,
        /// Whole seconds to the next window (at least 1).
        retry_after: u64,
    },
    /// `tpm` reached in this minute.
    Tpm {
        /// The limit.
        limit: u64,
        /// Whole seconds to the next window (at least 1).
        retry_after: u64,
    },
    /// `dailyTokens` spent today.
    DailyTokens {
        /// The budget.
        limit: u64,
        /// Tokens used today.
        used: u64,
        /// When the budget resets (ms since the epoch: next UTC midnight).
        resets_ms: i64,
    },
    /// `monthlyCostUsd` spent this month.
    MonthlyCost {
        /// The budget in US$.
        limit: f64,
        /// US$ spent this month.
        spent: f64,
        /// When the budget resets (the 1st of next month, 00:00 UTC).
        resets_ms: i64,
    },
}

/// What a client has used, as of one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeterView {
    /// Requests admitted in the current minute.
    pub minute_requests: u64,
    /// Tokens in the current minute.
    pub minute_tokens: u64,
    /// Tokens today (UTC).
    pub day_tokens: u64,
    /// US$ this month (UTC).
    pub month_cost_usd: f64,
    /// When the current minute's window ends (ms since the epoch).
    pub minute_resets_ms: i64,
    /// When the daily budget resets.
    pub day_resets_ms: i64,
    /// When the monthly budget resets.
    pub month_resets_ms: i64,
}

impl Meter {
    /// Admits one request at `now` under `limits` (counting it), or says
    /// which limit refuses it (counting nothing).
    pub fn admit(&self, limits: &Limits, now: i64) -> Result<(), Refusal> {
        let mut c = self.lock();
        c.roll(now);
        let retry_after = || {
            let next = (c.minute + 1) * MINUTE_MS;
            u64::try_from((next - now + 999) / 1000).unwrap_or(1).max(1)
        };
        if let Some(limit) = limits.rpm {
            if c.minute_requests >= limit {
                return Err(Refusal::Rpm {
                    limit,
                    retry_after: retry_after(),
                });
            }
        }
        if let Some(limit) = limits.tpm {
            if c.minute_tokens >= limit {
                return Err(Refusal::Tpm {
                    limit,
                    retry_after: retry_after(),
                });
            }
        }
        if let Some(limit) = limits.daily_tokens {
            if c.day_tokens >= limit {
                return Err(Refusal::DailyTokens {
                    limit,
                    used: c.day_tokens,
                    resets_ms: time::next_day(now),
                });
            }
        }
        if let Some(limit) = limits.monthly_cost_usd {
            if c.month_cost >= limit {
                return Err(Refusal::MonthlyCost {
                    limit,
                    spent: c.month_cost,
                    resets_ms: time::next_month(now),
                });
            }
        }
        c.minute_requests += 1;
        Ok(())
    }

    /// Adds a finished request's tokens and cost (US$, when priced).
    pub fn charge(&self, tokens: u64, cost_usd: Option<f64>, now: i64) {
        let mut c = self.lock();
        c.roll(now);
        c.minute_tokens = c.minute_tokens.saturating_add(tokens);
        c.day_tokens = c.day_tokens.saturating_add(tokens);
        if let Some(cost) = cost_usd.filter(|c| c.is_finite() && *c > 0.0) {
            c.month_cost += cost;
        }
    }

    /// Adds what the request store says the client used today and this
    /// month before the process started (`charge` without the minute).
    pub fn seed(&self, day_tokens: u64, month_cost_usd: f64, now: i64) {
        let mut c = self.lock();
        c.roll(now);
        c.day_tokens = c.day_tokens.saturating_add(day_tokens);
        if month_cost_usd.is_finite() && month_cost_usd > 0.0 {
            c.month_cost += month_cost_usd;
        }
    }

    /// The counters as of `now`.
    pub fn view(&self, now: i64) -> MeterView {
        let mut c = self.lock();
        c.roll(now);
        MeterView {
            minute_requests: c.minute_requests,
            minute_tokens: c.minute_tokens,
            day_tokens: c.day_tokens,
            month_cost_usd: c.month_cost,
            minute_resets_ms: (c.minute + 1) * MINUTE_MS,
            day_resets_ms: time::next_day(now),
            month_resets_ms: time::next_month(now),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counters are plain numbers: a panic elsewhere cannot leave
        // them half-updated in a way worth refusing service over.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        time::parse_rfc3339(text).unwrap()
    }

    fn limits(f: impl FnOnce(&mut Limits)) -> Limits {
        let mut l = Limits::default();
        f(&mut l);
        l
    }

    #[test]
    fn rpm_is_a_fixed_window_on_the_utc_minute() {
        let m = Meter::default();
        let l = limits(|l| l.rpm = Some(2));
        let t = at("2026-12-02T10:00:10Z");
        assert_eq!(m.admit(&l, t), Ok(()));
        assert_eq!(m.admit(&l, t + 1_000), Ok(()));
        assert_eq!(
            m.admit(&l, t + 2_000),
            Err(Refusal::Rpm {
                limit: 2,
                retry_after: 48
            })
        );
        // A refused request is not counted: the next minute starts fresh.
        assert_eq!(
            m.admit(&l, at("2026-12-02T10:00:59.001Z")),
            Err(Refusal::Rpm {
                limit: 2,
                retry_after: 1
            })
        );
        assert_eq!(m.admit(&l, at("2026-12-02T10:01:00Z")), Ok(()));
        assert_eq!(m.view(at("2026-12-02T10:01:00Z")).minute_requests, 1);
    }

    #[test]
    fn tpm_counts_tokens_charged_in_the_minute() {
        let m = Meter::default();
        let l = limits(|l| l.tpm = Some(1_000));
        let t = at("2026-12-02T10:00:00Z");
        assert_eq!(m.admit(&l, t), Ok(()));
        m.charge(999, None, t + 5_000);
        assert_eq!(m.admit(&l, t + 6_000), Ok(()));
        m.charge(1, None, t + 7_000);
        assert!(matches!(
            m.admit(&l, t + 8_000),
            Err(Refusal::Tpm {
                limit: 1_000,
                retry_after: 52
            })
        ));
        assert_eq!(m.admit(&l, t + 60_000), Ok(()));
    }

    #[test]
    fn daily_tokens_reset_at_utc_midnight() {
        let m = Meter::default();
        let l = limits(|l| l.daily_tokens = Some(5_000));
        let t = at("2026-12-02T23:59:00Z");
        m.charge(5_000, None, t);
        let Err(Refusal::DailyTokens {
            used, resets_ms, ..
        }) = m.admit(&l, t + 1_000)
        else {
            panic!("the budget is spent")
        };
        assert_eq!(used, 5_000);
        assert_eq!(time::rfc3339(resets_ms), "2026-12-03T00:00:00.000Z");
        assert_eq!(m.admit(&l, at("2026-12-03T00:00:00Z")), Ok(()));
        assert_eq!(m.view(at("2026-12-03T00:00:01Z")).day_tokens, 0);
    }

    #[test]
    fn monthly_cost_resets_on_the_first() {
        let m = Meter::default();
        let l = limits(|l| l.monthly_cost_usd = Some(1.5));
        let t = at("2026-12-15T12:00:00Z");
        m.charge(10, Some(1.0), t);
        assert_eq!(m.admit(&l, t), Ok(()));
        m.charge(10, Some(0.5), t);
        // Unpriced requests cost nothing; they do count tokens.
        m.charge(10, None, t);
        let Err(Refusal::MonthlyCost {
            spent, resets_ms, ..
        }) = m.admit(&l, at("2026-12-31T23:59:59Z"))
        else {
            panic!("the budget is spent")
        };
        assert!((spent - 1.5).abs() < 1e-9);
        assert_eq!(time::rfc3339(resets_ms), "2027-01-01T00:00:00.000Z");
        assert_eq!(m.admit(&l, at("2027-01-01T00:00:00Z")), Ok(()));
    }

    #[test]
    fn seeding_counts_toward_the_budgets_not_the_minute() {
        let m = Meter::default();
        let l = limits(|l| {
            l.daily_tokens = Some(100);
            l.tpm = Some(10);
        });
        let t = at("2026-12-02T08:00:00Z");
        m.seed(100, 2.0, t);
        let v = m.view(t);
        assert_eq!((v.minute_tokens, v.day_tokens), (0, 100));
        assert!(matches!(m.admit(&l, t), Err(Refusal::DailyTokens { .. })));
    }

    #[test]
    fn no_limits_admit_everything_and_still_count() {
        let m = Meter::default();
        let t = at("2026-12-02T08:00:00Z");
        for _ in 0..1_000 {
            assert_eq!(m.admit(&Limits::default(), t), Ok(()));
        }
        assert_eq!(m.view(t).minute_requests, 1_000);
    }
}

//! A client's limits across a fleet (`REDIS_URL`, docs/fleet.md): the
//! same fixed one-minute windows and UTC day / month budgets as the local
//! [`super::Meter`], counted in the fleet's shared state, so N instances
//! give a client its limit once, not N times.
//!
//! The local meter still counts everything this instance sees and decides
//! first: it never exceeds the fleet's count, so a local refusal needs no
//! Redis call. When it admits, the fleet's totals are read (the `rpm`
//! window is counted at the same time), all at once, each bounded by
//! `REDIS_TIMEOUT_MS`; a total Redis did not answer for falls back to the
//! local decision. A finished request's tokens and cost are added to the
//! fleet's counters by a spawned task: nothing waits for it. Money is
//! counted in micro-US$ (the fleet's counters are whole numbers).

use std::time::Duration;

use super::Refusal;
use crate::config::Limits;
use crate::shared_state::SharedState;
use crate::time;

/// One minute: the `rpm` / `tpm` window.
const MINUTE: Duration = Duration::from_secs(60);
/// How long a day's counter outlives its day in Redis.
const DAY_TTL: Duration = Duration::from_secs(2 * 86_400);
/// How long a month's counter outlives the longest month.
const MONTH_TTL: Duration = Duration::from_secs(33 * 86_400);

/// The fleet's counters of one client.
#[derive(Debug, Clone)]
pub struct FleetMeter {
    shared: SharedState,
    name: String,
}

impl FleetMeter {
    /// The fleet counters of client `name`; `None` without a fleet.
    pub fn new(shared: &SharedState, name: &str) -> Option<FleetMeter> {
        shared.is_fleet().then(|| FleetMeter {
            shared: shared.clone(),
            name: name.to_owned(),
        })
    }

    fn day_counter(&self, now: i64) -> String {
        format!("client:{}:day:{}", self.name, time::day_start(now))
    }

    fn month_counter(&self, now: i64) -> String {
        format!("client:{}:month:{}", self.name, time::month_start(now))
    }

    /// The fleet's verdict on one more request at `now` (counting it in
    /// the fleet's `rpm` window), where Redis answered.
    pub async fn admit(&self, limits: &Limits, now: i64) -> Result<(), Refusal> {
        let s = &self.shared;
        // Only the limits the client has cost a name and a Redis call.
        let rpm = async {
            match limits.rpm {
                Some(_) => {
                    let name = format!("client:{}:rpm", self.name);
                    Some(s.window_add(&name, MINUTE, 1).await)
                }
                None => None,
            }
        };
        let tpm = async {
            match limits.tpm {
                Some(_) => {
                    let name = format!("client:{}:tpm", self.name);
                    Some(s.window_add(&name, MINUTE, 0).await)
                }
                None => None,
            }
        };
        let daily = async {
            match limits.daily_tokens {
                Some(_) => Some(s.counter_get(&self.day_counter(now)).await),
                None => None,
            }
        };
        let monthly = async {
            match limits.monthly_cost_usd {
                Some(_) => Some(s.counter_get(&self.month_counter(now)).await),
                None => None,
            }
        };
        let (rpm, tpm, daily, monthly) = tokio::join!(rpm, tpm, daily, monthly);
        let secs = |d: Duration| d.as_millis().div_ceil(1000).max(1) as u64;
        if let (Some(limit), Some(w)) = (limits.rpm, rpm) {
            // The window already holds this request.
            if w.fleet && w.total > limit {
                return Err(Refusal::Rpm {
                    limit,
                    retry_after: secs(w.resets_in),
                });
            }
        }
        if let (Some(limit), Some(w)) = (limits.tpm, tpm) {
            if w.fleet && w.total >= limit {
                return Err(Refusal::Tpm {
                    limit,
                    retry_after: secs(w.resets_in),
                });
            }
        }
        if let (Some(limit), Some(c)) = (limits.daily_tokens, daily) {
            let used = u64::try_from(c.value).unwrap_or(0);
            if c.fleet && used >= limit {
                return Err(Refusal::DailyTokens {
                    limit,
                    used,
                    resets_ms: time::next_day(now),
                });
            }
        }
        if let (Some(limit), Some(c)) = (limits.monthly_cost_usd, monthly) {
            let spent = c.value.max(0) as f64 / 1e6;
            if c.fleet && spent >= limit {
                return Err(Refusal::MonthlyCost {
                    limit,
                    spent,
                    resets_ms: time::next_month(now),
                });
            }
        }
        Ok(())
    }

    /// Adds a finished request's tokens and cost to the fleet's counters,
    /// in the background (the request has ended; nothing waits).
    pub fn charge(&self, tokens: u64, cost_usd: Option<f64>, now: i64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let me = self.clone();
        let micro = cost_usd
            .filter(|c| c.is_finite() && *c > 0.0)
            .map(|c| (c * 1e6).round() as i64);
        runtime.spawn(async move {
            let s = &me.shared;
            let tokens_i = i64::try_from(tokens).unwrap_or(i64::MAX);
            let tpm = format!("client:{}:tpm", me.name);
            let (day, month) = (me.day_counter(now), me.month_counter(now));
            let add_month = async {
                if let Some(m) = micro {
                    s.counter_add(&month, m, Some(MONTH_TTL)).await;
                }
            };
            tokio::join!(
                s.window_add(&tpm, MINUTE, tokens),
                s.counter_add(&day, tokens_i, Some(DAY_TTL)),
                add_month,
            );
        });
    }
}

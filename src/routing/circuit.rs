//! A three-state circuit breaker per upstream.
//!
//! **Closed**: requests flow; consecutive failures of the upstream as a
//! whole (every key tried failed, or the stream failed before any content)
//! are counted. **Open**: after `failures` of them the upstream is skipped
//! for `open` time. **Half-open**: when that time is up, exactly one
//! request is let through as a probe; its success closes the circuit, its
//! failure opens it again for twice as long (up to `max_open`).
//!
//! The state is a few integers behind a mutex that is never held across an
//! `.await`; time is tokio's clock, so tests can pause it. In a fleet
//! (`REDIS_URL`) the state mirrors one Redis record per upstream: failures
//! are counted there (one Lua step each), the half-open probe is claimed
//! there (`SET NX PX`, so one instance probes), and the background refresh
//! of [`crate::shared_state`] brings in what the other instances decided.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::CircuitBreakerSettings;
use crate::shared_state::{wall_ms, Mirror, Script, SharedState};

/// What the breaker's state looks like from outside (`/health`, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitView {
    /// Requests flow.
    Closed,
    /// Skipped until `until`.
    Open {
        /// When the next probe may go.
        until: Instant,
    },
    /// A probe may go, or is under way.
    HalfOpen,
}

impl CircuitView {
    /// `closed`, `open` or `half-open`.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitView::Closed => "closed",
            CircuitView::Open { .. } => "open",
            CircuitView::HalfOpen => "half-open",
        }
    }

    /// The `claude_proxy_circuit_state` value: 0 closed, 1 open, 2 half-open.
    pub fn gauge(self) -> f64 {
        match self {
            CircuitView::Closed => 0.0,
            CircuitView::Open { .. } => 1.0,
            CircuitView::HalfOpen => 2.0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
        open_for: Duration,
    },
    /// `probing`: this process holds the probe.
    HalfOpen {
        probing: bool,
        open_for: Duration,
    },
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// When this process last changed the phase (a refresh read issued
    /// before it must not undo it).
    changed_at: Option<std::time::Instant>,
    /// Another instance holds the probe: skip without asking Redis again
    /// until then.
    probe_elsewhere_until: Option<Instant>,
    /// A local change that Redis did not take (see [`Mirror::take_dirty`]).
    dirty: bool,
}

impl State {
    fn set(&mut self, phase: Phase) {
        self.phase = phase;
        self.changed_at = Some(std::time::Instant::now());
    }
}

/// A circuit's link to the fleet: its Redis record and probe claim.
#[derive(Debug)]
struct CircuitFleet {
    shared: SharedState,
    /// `circuit:<upstream>`: `"<open until, Unix ms; 0 closed> <open for ms> <failures>"`.
    record: String,
    /// `probe:<upstream>`: the instance that probes, while it does.
    probe: String,
}

/// One upstream's breaker; shared (`Arc`) so it survives a reload.
#[derive(Debug)]
pub struct Circuit {
    state: Mutex<State>,
    /// `None`: this process alone (no `REDIS_URL`).
    fleet: Option<CircuitFleet>,
}

/// Whether a request may use the upstream now.
#[derive(Debug)]
pub enum Admission {
    /// Closed: go ahead.
    Pass,
    /// Half-open: this request is the probe; report how it went through the
    /// guard (dropping it unreported lets another request probe).
    Probe(ProbeGuard),
    /// Open (or a probe is under way): skip it; `retry_in` is the time
    /// until a probe may go.
    Skip {
        /// Until the next probe may go.
        retry_in: Duration,
    },
}

impl Admission {
    /// Whether the request may go.
    pub fn allowed(&self) -> bool {
        !matches!(self, Admission::Skip { .. })
    }
}

/// The probe's right to report; releases the probe when dropped unreported
/// (the client hung up mid-probe).
#[derive(Debug)]
pub struct ProbeGuard {
    circuit: Arc<Circuit>,
    reported: bool,
    /// The fleet's probe claim is this instance's (given back when done).
    claimed: bool,
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        if self.reported {
            return;
        }
        {
            let mut state = self.circuit.lock();
            if let Phase::HalfOpen { probing, .. } = &mut state.phase {
                *probing = false;
            }
        }
        if self.claimed {
            if let (Some(fleet), Ok(rt)) = (
                self.circuit.fleet.as_ref(),
                tokio::runtime::Handle::try_current(),
            ) {
                let shared = fleet.shared.clone();
                let probe = fleet.probe.clone();
                rt.spawn(async move { shared.release(&probe).await });
            }
        }
    }
}

/// How long a request that finds a probe under way is told to wait.
const PROBE_WAIT: Duration = Duration::from_secs(1);
/// How long the fleet's probe claim lasts if its holder dies mid-probe.
const PROBE_CLAIM_TTL: Duration = Duration::from_secs(120);
/// How long Redis keeps a circuit's record without news.
const RECORD_TTL: Duration = Duration::from_secs(24 * 3600);

/// A failure in Redis, as one atomic step (the rules of
/// [`Circuit::failure`]): a probe's failure reopens for twice as long (up
/// to the maximum) and gives back the claim; a failure of a closed circuit
/// is counted and opens it at the threshold; a late failure of an open one
/// changes nothing. KEYS: record, probe claim. ARGV: now, threshold, open
/// ms, max open ms, probe (0/1), this instance's last open time (when the
/// record is gone), instance id, ttl. Returns the record and `1` if this
/// failure opened the circuit.
const CIRCUIT_FAILED: &str = r"
local untilv, open_for, fails = 0, 0, 0
local v = redis.call('GET', KEYS[1])
if v then
  local a, b, c = string.match(v, '^(%d+) (%d+) (%d+)$')
  if a then untilv, open_for, fails = tonumber(a), tonumber(b), tonumber(c) end
end
local now, open_ms, max_open = tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[4])
local opened = 0
if ARGV[5] == '1' then
  local base = open_for
  if untilv == 0 or base < open_ms then base = math.max(tonumber(ARGV[6]), open_ms) end
  open_for = math.min(base * 2, math.max(max_open, open_ms))
  untilv, fails, opened = now + open_for, 0, 1
  if redis.call('GET', KEYS[2]) == ARGV[7] then redis.call('DEL', KEYS[2]) end
elseif untilv == 0 then
  fails = fails + 1
  if fails >= tonumber(ARGV[2]) then
    untilv, open_for, fails, opened = now + open_ms, open_ms, 0, 1
  end
end
local rec = string.format('%d %d %d', untilv, open_for, fails)
redis.call('SET', KEYS[1], rec, 'PX', ARGV[8])
return {rec, opened}
";

/// A success in Redis: the circuit closes, and the probe claim, if this
/// instance's (ARGV[1], empty otherwise), is given back.
const CIRCUIT_CLOSED: &str = r"
redis.call('DEL', KEYS[1])
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
";

fn script(cell: &'static OnceLock<Script>, src: &'static str) -> &'static Script {
    cell.get_or_init(|| Script::new(src))
}

static FAILED: OnceLock<Script> = OnceLock::new();
static CLOSED: OnceLock<Script> = OnceLock::new();

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The phase a fleet record stands for (`None`: no record, closed).
fn phase_of(record: Option<&str>) -> Phase {
    let parsed = record.and_then(|r| {
        let mut parts = r.split(' ');
        let until: u64 = parts.next()?.parse().ok()?;
        let open_for: u64 = parts.next()?.parse().ok()?;
        let fails: u32 = parts.next()?.parse().ok()?;
        Some((until, open_for, fails))
    });
    match parsed {
        None => Phase::Closed { failures: 0 },
        Some((0, _, failures)) => Phase::Closed { failures },
        Some((until, open_for, _)) => Phase::Open {
            until: Instant::now() + Duration::from_millis(until.saturating_sub(wall_ms())),
            open_for: Duration::from_millis(open_for),
        },
    }
}

impl Default for Circuit {
    fn default() -> Self {
        Circuit {
            state: Mutex::new(State {
                phase: Phase::Closed { failures: 0 },
                changed_at: None,
                probe_elsewhere_until: None,
                dirty: false,
            }),
            fleet: None,
        }
    }
}

impl Mirror for Circuit {
    fn adopt(&self, record: Option<&str>, since: std::time::Instant) {
        let mut state = self.lock();
        if state.changed_at.is_some_and(|c| c >= since) {
            return;
        }
        // This process's probe decides; its report updates the record.
        if matches!(state.phase, Phase::HalfOpen { probing: true, .. }) {
            return;
        }
        state.phase = phase_of(record);
    }

    fn record(&self) -> Option<(String, Duration)> {
        let state = self.lock();
        let now = Instant::now();
        let text = match state.phase {
            Phase::Closed { failures: 0 } => return None,
            Phase::Closed { failures } => format!("0 0 {failures}"),
            Phase::Open { until, open_for } => format!(
                "{} {} 0",
                wall_ms() + ms(until.saturating_duration_since(now)),
                ms(open_for)
            ),
            Phase::HalfOpen { open_for, .. } => format!("{} {} 0", wall_ms(), ms(open_for)),
        };
        Some((text, RECORD_TTL))
    }

    fn take_dirty(&self) -> bool {
        std::mem::take(&mut self.lock().dirty)
    }
}

impl Circuit {
    /// The breaker of `upstream`, shared with the fleet through `shared`
    /// (local only when `shared` has no Redis).
    pub fn shared(upstream: &str, shared: &SharedState) -> Arc<Circuit> {
        if !shared.is_fleet() {
            return Arc::default();
        }
        let up = upstream.to_ascii_lowercase();
        let circuit = Arc::new(Circuit {
            fleet: Some(CircuitFleet {
                shared: shared.clone(),
                record: format!("circuit:{up}"),
                probe: format!("probe:{up}"),
            }),
            ..Circuit::default()
        });
        let weak: Weak<Circuit> = Arc::downgrade(&circuit);
        shared.register(format!("circuit:{up}"), weak);
        circuit
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic mid-update of a few integers.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a request may use the upstream now; the half-open probe is
    /// handed to exactly one caller — in a fleet, to one caller of one
    /// instance (a `SET NX` claim in Redis; when Redis does not answer,
    /// this process decides alone).
    pub async fn admit(self: &Arc<Self>) -> Admission {
        let now = Instant::now();
        let local = {
            let mut state = self.lock();
            let probe_due = match state.phase {
                Phase::Closed { .. } => return Admission::Pass,
                Phase::Open { until, .. } if now < until => {
                    return Admission::Skip {
                        retry_in: until - now,
                    }
                }
                Phase::HalfOpen { probing: true, .. } => {
                    return Admission::Skip {
                        retry_in: PROBE_WAIT,
                    }
                }
                Phase::Open { open_for, .. } | Phase::HalfOpen { open_for, .. } => open_for,
            };
            if state.probe_elsewhere_until.is_some_and(|t| now < t) {
                return Admission::Skip {
                    retry_in: PROBE_WAIT,
                };
            }
            state.set(Phase::HalfOpen {
                probing: true,
                open_for: probe_due,
            });
            ProbeGuard {
                circuit: self.clone(),
                reported: false,
                claimed: false,
            }
        };
        let mut guard = local;
        let Some(fleet) = &self.fleet else {
            return Admission::Probe(guard);
        };
        match fleet.shared.claim(&fleet.probe, PROBE_CLAIM_TTL).await {
            Some(false) => {
                guard.reported = true;
                let mut state = self.lock();
                if let Phase::HalfOpen { probing, .. } = &mut state.phase {
                    *probing = false;
                }
                state.probe_elsewhere_until = Some(Instant::now() + PROBE_WAIT);
                Admission::Skip {
                    retry_in: PROBE_WAIT,
                }
            }
            Some(true) => {
                guard.claimed = true;
                Admission::Probe(guard)
            }
            None => Admission::Probe(guard),
        }
    }

    /// The upstream answered: the circuit closes (a probe's success) or its
    /// failure count starts again. Touches Redis only when there is
    /// something to clear.
    pub async fn success(&self, probe: Option<&mut ProbeGuard>) {
        let claimed = probe.as_ref().is_some_and(|p| p.claimed);
        if let Some(p) = probe {
            p.reported = true;
        }
        let was_clean = {
            let mut state = self.lock();
            let clean = matches!(state.phase, Phase::Closed { failures: 0 });
            if !clean {
                state.set(Phase::Closed { failures: 0 });
            }
            clean
        };
        if was_clean && !claimed {
            return;
        }
        if let Some(fleet) = &self.fleet {
            let id = if claimed {
                fleet.shared.instance_id()
            } else {
                ""
            };
            let closed: Option<i64> = fleet
                .shared
                .eval(
                    script(&CLOSED, CIRCUIT_CLOSED),
                    &[&fleet.record, &fleet.probe],
                    &[id],
                )
                .await;
            if closed.is_none() {
                self.lock().dirty = true;
            }
        }
    }

    /// The upstream failed as a whole. Returns true when this opened the
    /// circuit. In a fleet the failure is counted in Redis (every
    /// instance's failures add up) and its answer becomes this process's
    /// state.
    pub async fn failure(
        &self,
        limits: &CircuitBreakerSettings,
        probe: Option<&mut ProbeGuard>,
    ) -> bool {
        let now = Instant::now();
        let was_probe = probe.is_some();
        if let Some(p) = probe {
            p.reported = true;
        }
        let (opened, last_open_for) = {
            let mut state = self.lock();
            match state.phase {
                Phase::HalfOpen {
                    open_for: before, ..
                } if was_probe => {
                    let open_for = (before * 2).min(limits.max_open.max(limits.open));
                    state.set(Phase::Open {
                        until: now + open_for,
                        open_for,
                    });
                    (true, before)
                }
                Phase::Closed { failures } => {
                    let failures = failures + 1;
                    if failures >= limits.failures.max(1) {
                        state.set(Phase::Open {
                            until: now + limits.open,
                            open_for: limits.open,
                        });
                        (true, limits.open)
                    } else {
                        state.set(Phase::Closed { failures });
                        (false, limits.open)
                    }
                }
                // A request admitted before the circuit opened failed late:
                // the circuit is already open.
                Phase::Open { open_for, .. } | Phase::HalfOpen { open_for, .. } => {
                    (false, open_for)
                }
            }
        };
        let Some(fleet) = &self.fleet else {
            return opened;
        };
        let args = [
            wall_ms().to_string(),
            limits.failures.max(1).to_string(),
            ms(limits.open).to_string(),
            ms(limits.max_open).to_string(),
            if was_probe { "1" } else { "0" }.to_owned(),
            ms(last_open_for).to_string(),
            fleet.shared.instance_id().to_owned(),
            ms(RECORD_TTL).to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let answer: Option<(String, i64)> = fleet
            .shared
            .eval(
                script(&FAILED, CIRCUIT_FAILED),
                &[&fleet.record, &fleet.probe],
                &args,
            )
            .await;
        match answer {
            Some((record, opened)) => {
                self.lock().set(phase_of(Some(&record)));
                opened == 1
            }
            None => {
                self.lock().dirty = true;
                opened
            }
        }
    }

    /// The state as `/health` and the metrics show it.
    pub fn view(&self) -> CircuitView {
        match self.lock().phase {
            Phase::Closed { .. } => CircuitView::Closed,
            Phase::Open { until, .. } if Instant::now() < until => CircuitView::Open { until },
            Phase::Open { .. } | Phase::HalfOpen { .. } => CircuitView::HalfOpen,
        }
    }
}

#[cfg(test)]
#[path = "circuit_tests.rs"]
mod tests;

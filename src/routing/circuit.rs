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
//! `.await`; time is tokio's clock, so tests can pause it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::CircuitBreakerSettings;

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
    Closed { failures: u32 },
    Open { until: Instant, open_for: Duration },
    HalfOpen { probing: bool, open_for: Duration },
}

/// One upstream's breaker; shared (`Arc`) so it survives a reload.
#[derive(Debug)]
pub struct Circuit {
    phase: Mutex<Phase>,
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
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        if !self.reported {
            let mut phase = self.circuit.lock();
            if let Phase::HalfOpen { probing, .. } = &mut *phase {
                *probing = false;
            }
        }
    }
}

/// How long a request that finds a probe under way is told to wait.
const PROBE_WAIT: Duration = Duration::from_secs(1);

impl Default for Circuit {
    fn default() -> Self {
        Circuit {
            phase: Mutex::new(Phase::Closed { failures: 0 }),
        }
    }
}

impl Circuit {
    fn lock(&self) -> MutexGuard<'_, Phase> {
        // A poisoned lock only means a panic mid-update of a few integers.
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a request may use the upstream now; the half-open probe is
    /// handed to exactly one caller.
    pub fn admit(self: &Arc<Self>) -> Admission {
        let now = Instant::now();
        let mut phase = self.lock();
        match *phase {
            Phase::Closed { .. } => Admission::Pass,
            Phase::Open { until, open_for } if now >= until => {
                *phase = Phase::HalfOpen {
                    probing: true,
                    open_for,
                };
                Admission::Probe(ProbeGuard {
                    circuit: self.clone(),
                    reported: false,
                })
            }
            Phase::Open { until, .. } => Admission::Skip {
                retry_in: until - now,
            },
            Phase::HalfOpen {
                probing: false,
                open_for,
            } => {
                *phase = Phase::HalfOpen {
                    probing: true,
                    open_for,
                };
                Admission::Probe(ProbeGuard {
                    circuit: self.clone(),
                    reported: false,
                })
            }
            Phase::HalfOpen { probing: true, .. } => Admission::Skip {
                retry_in: PROBE_WAIT,
            },
        }
    }

    /// The upstream answered: the circuit closes (a probe's success) or its
    /// failure count starts again.
    pub fn success(&self, probe: Option<&mut ProbeGuard>) {
        if let Some(p) = probe {
            p.reported = true;
        }
        *self.lock() = Phase::Closed { failures: 0 };
    }

    /// The upstream failed as a whole. Returns true when this opened the
    /// circuit.
    pub fn failure(&self, limits: &CircuitBreakerSettings, probe: Option<&mut ProbeGuard>) -> bool {
        let now = Instant::now();
        let mut phase = self.lock();
        let was_probe = probe.is_some();
        if let Some(p) = probe {
            p.reported = true;
        }
        match *phase {
            Phase::HalfOpen { open_for, .. } if was_probe => {
                let open_for = (open_for * 2).min(limits.max_open.max(limits.open));
                *phase = Phase::Open {
                    until: now + open_for,
                    open_for,
                };
                true
            }
            Phase::Closed { failures } => {
                let failures = failures + 1;
                if failures >= limits.failures.max(1) {
                    *phase = Phase::Open {
                        until: now + limits.open,
                        open_for: limits.open,
                    };
                    true
                } else {
                    *phase = Phase::Closed { failures };
                    false
                }
            }
            // A request admitted before the circuit opened failed late:
            // the circuit is already open.
            Phase::Open { .. } | Phase::HalfOpen { .. } => false,
        }
    }

    /// The state as `/health` and the metrics show it.
    pub fn view(&self) -> CircuitView {
        match *self.lock() {
            Phase::Closed { .. } => CircuitView::Closed,
            Phase::Open { until, .. } if Instant::now() < until => CircuitView::Open { until },
            Phase::Open { .. } | Phase::HalfOpen { .. } => CircuitView::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: CircuitBreakerSettings = CircuitBreakerSettings {
        failures: 3,
        open: Duration::from_secs(30),
        max_open: Duration::from_secs(100),
    };

    fn probe(c: &Arc<Circuit>) -> ProbeGuard {
        match c.admit() {
            Admission::Probe(p) => p,
            other => panic!("expected a probe, got {other:?}"),
        }
    }

    fn skipped_for(c: &Arc<Circuit>) -> Duration {
        match c.admit() {
            Admission::Skip { retry_in } => retry_in,
            other => panic!("expected a skip, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_n_consecutive_failures_only() {
        let c = Arc::new(Circuit::default());
        assert!(!c.failure(&LIMITS, None));
        assert!(!c.failure(&LIMITS, None));
        c.success(None);
        assert!(!c.failure(&LIMITS, None));
        assert!(!c.failure(&LIMITS, None));
        assert!(matches!(c.admit(), Admission::Pass));
        assert!(c.failure(&LIMITS, None));
        assert_eq!(c.view().as_str(), "open");
        assert_eq!(skipped_for(&c), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn one_probe_after_the_open_time_and_success_closes() {
        let c = Arc::new(Circuit::default());
        for _ in 0..3 {
            c.failure(&LIMITS, None);
        }
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(skipped_for(&c), Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(c.view().as_str(), "half-open");
        let mut p = probe(&c);
        // Exactly one probe at a time.
        assert_eq!(skipped_for(&c), PROBE_WAIT);
        c.success(Some(&mut p));
        assert_eq!(c.view(), CircuitView::Closed);
        assert!(matches!(c.admit(), Admission::Pass));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_reopens_for_twice_as_long_up_to_the_maximum() {
        let c = Arc::new(Circuit::default());
        for _ in 0..3 {
            c.failure(&LIMITS, None);
        }
        let mut open = Duration::from_secs(30);
        for expected in [60, 100, 100] {
            tokio::time::advance(open).await;
            let mut p = probe(&c);
            assert!(c.failure(&LIMITS, Some(&mut p)));
            open = Duration::from_secs(expected);
            assert_eq!(skipped_for(&c), open);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_lets_the_next_request_probe() {
        let c = Arc::new(Circuit::default());
        for _ in 0..3 {
            c.failure(&LIMITS, None);
        }
        tokio::time::advance(Duration::from_secs(30)).await;
        drop(probe(&c));
        let mut p = probe(&c);
        c.success(Some(&mut p));
        assert_eq!(c.view(), CircuitView::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn late_failures_of_requests_admitted_before_opening_change_nothing() {
        let c = Arc::new(Circuit::default());
        for _ in 0..3 {
            c.failure(&LIMITS, None);
        }
        assert!(!c.failure(&LIMITS, None));
        assert_eq!(skipped_for(&c), Duration::from_secs(30));
    }
}

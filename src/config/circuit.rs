//! An upstream's circuit breaker limits: the `CIRCUIT_*` settings, an
//! upstream's own `circuitBreaker` overrides, and how they combine
//! (re-exported from `config::model`).

use std::time::Duration;

/// Effective circuit breaker limits of one upstream.
///
/// After `failures` consecutive failed attempts against the upstream the
/// circuit opens for `open`; then one probe request is let through, and each
/// failed probe doubles the open time, up to `max_open`. Built by the
/// settings (all fields at least 1, `max_open >= open`) and by
/// [`CircuitBreakerConfig::resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreakerSettings {
    /// Consecutive failed attempts that open the circuit (at least 1).
    pub failures: u32,
    /// How long the circuit stays open the first time.
    pub open: Duration,
    /// The longest the open time grows to, doubling with each failed probe.
    pub max_open: Duration,
}

impl CircuitBreakerSettings {
    /// `CIRCUIT_FAILURES=5`, `CIRCUIT_OPEN_MS=30000`,
    /// `CIRCUIT_MAX_OPEN_MS=600000`.
    pub const DEFAULT: CircuitBreakerSettings = CircuitBreakerSettings {
        failures: 5,
        open: Duration::from_millis(30_000),
        max_open: Duration::from_millis(600_000),
    };
}

impl Default for CircuitBreakerSettings {
    fn default() -> Self {
        CircuitBreakerSettings::DEFAULT
    }
}

/// An upstream's `circuitBreaker` object: each field overrides the setting
/// of the same meaning. Present values are positive, and `max_open >= open`
/// when both are given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CircuitBreakerConfig {
    /// `failures`
    pub failures: Option<u32>,
    /// `openMs`
    pub open: Option<Duration>,
    /// `maxOpenMs`
    pub max_open: Option<Duration>,
}

impl CircuitBreakerConfig {
    /// These values over `defaults`. When a value given here conflicts with a
    /// default (an `openMs` above the default maximum, or a `maxOpenMs` below
    /// the default open time), the given one wins and the default gives way,
    /// so `max_open >= open` always holds.
    pub fn resolve(&self, defaults: &CircuitBreakerSettings) -> CircuitBreakerSettings {
        let failures = self.failures.unwrap_or(defaults.failures);
        let (open, max_open) = match (self.open, self.max_open) {
            (Some(open), Some(max)) => (open, max.max(open)),
            (Some(open), None) => (open, defaults.max_open.max(open)),
            (None, Some(max)) => (defaults.open.min(max), max),
            (None, None) => (defaults.open, defaults.max_open),
        };
        CircuitBreakerSettings {
            failures,
            open,
            max_open,
        }
    }
}

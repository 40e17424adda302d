//! Runs one fuzz target: proptest's runner with the case count, time budget
//! and seed taken from the environment, and one count line per target.
//!
//! * `FUZZ_CASES`: cases per target (default: the target's own, a few
//!   hundred at most, so `cargo test --test fuzz` stays quick).
//! * `FUZZ_SECONDS`: stop a target early once this much time has passed
//!   (checked between batches of cases; the long run sets it).
//! * `FUZZ_SEED`: seed of the first batch, to replay a failure; printed
//!   with every failure.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

/// Cases run per proptest runner; the time budget is checked between them.
const BATCH: u32 = 128;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn first_seed(name: &str) -> u64 {
    if let Some(seed) = env_u64("FUZZ_SEED") {
        return seed;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // Different targets started in the same instant get different seeds.
    name.bytes().fold(nanos, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Next batch's seed (splitmix64).
fn next_seed(s: u64) -> u64 {
    let mut z = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Runs `test` on `default_cases` values of `strategy` (or `FUZZ_CASES`),
/// panicking with the shrunk input and the seed on the first failure.
pub fn fuzz<S>(
    name: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let cases = env_u64("FUZZ_CASES").map_or(u64::from(default_cases), |c| c.max(1));
    let budget = env_u64("FUZZ_SECONDS").map(Duration::from_secs);
    let started = Instant::now();
    let mut seed = first_seed(name);
    let mut done = 0u64;
    while done < cases {
        let n = (cases - done).min(u64::from(BATCH)) as u32;
        let config = Config {
            cases: n,
            failure_persistence: None,
            max_shrink_time: 60_000,
            max_shrink_iters: 20_000,
            rng_seed: RngSeed::Fixed(seed),
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        match runner.run(&strategy, &test) {
            Ok(()) => {}
            Err(TestError::Fail(why, input)) => {
                panic!("fuzz target {name} failed (FUZZ_SEED={seed}): {why}\nminimal input: {input:#?}")
            }
            Err(TestError::Abort(why)) => {
                panic!("fuzz target {name} aborted (FUZZ_SEED={seed}): {why}")
            }
        }
        done += u64::from(n);
        seed = next_seed(seed);
        if budget.is_some_and(|b| started.elapsed() >= b) {
            break;
        }
    }
    eprintln!(
        "fuzz-count {name}: {done} cases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// `prop_assert!` for a `Result<(), String>` check.
pub fn check(r: Result<(), String>) -> Result<(), TestCaseError> {
    r.map_err(TestCaseError::fail)
}

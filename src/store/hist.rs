//! Latency histograms of the usage rollups, from which p50/p95 are read.
//!
//! Percentiles cannot be summed, so each rollup row keeps a histogram with
//! logarithmic buckets: bucket 0 holds values under 1 ms, bucket `i ≥ 1`
//! holds `[1.1^(i-1), 1.1^i)` ms. A percentile is reported as its bucket's
//! geometric middle, within 5 % of the true value at any scale. The blob is
//! sparse — `(bucket: u8, count: u32 LE)` pairs in bucket order — so a
//! rollup row of a few requests costs a few bytes.

use std::collections::BTreeMap;

const GROWTH: f64 = 1.1;
const PAIR: usize = 5;

/// The bucket of a value in ms.
pub(crate) fn bucket_of(ms: f64) -> u8 {
    if ms.is_nan() || ms < 1.0 {
        return 0;
    }
    let i = (ms.ln() / GROWTH.ln()).floor() + 1.0;
    i.clamp(1.0, 255.0) as u8
}

/// The value a bucket stands for: the geometric middle of its bounds.
fn representative(bucket: u8) -> f64 {
    if bucket == 0 {
        0.5
    } else {
        GROWTH.powf(f64::from(bucket) - 0.5)
    }
}

/// Counts per bucket, built in memory before being written.
pub(crate) type Counts = BTreeMap<u8, u32>;

/// Adds one value in ms.
pub(crate) fn add(counts: &mut Counts, ms: f64) {
    let c = counts.entry(bucket_of(ms)).or_insert(0);
    *c = c.saturating_add(1);
}

/// The blob form of `counts`.
pub(crate) fn encode(counts: &Counts) -> Vec<u8> {
    let mut out = Vec::with_capacity(counts.len() * PAIR);
    for (&bucket, &count) in counts {
        out.push(bucket);
        out.extend_from_slice(&count.to_le_bytes());
    }
    out
}

/// The pairs of a blob; a truncated tail (never written) is ignored.
fn pairs(blob: &[u8]) -> impl Iterator<Item = (u8, u32)> + '_ {
    blob.chunks_exact(PAIR)
        .map(|p| (p[0], u32::from_le_bytes([p[1], p[2], p[3], p[4]])))
}

/// Two blobs added up (the `hist_merge` SQL function of the rollup upsert).
pub(crate) fn merge(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut counts = Counts::new();
    for (bucket, count) in pairs(a).chain(pairs(b)) {
        let c = counts.entry(bucket).or_insert(0);
        *c = c.saturating_add(count);
    }
    encode(&counts)
}

/// The `q` quantile (0.5 = median) by nearest rank, in ms rounded to 0.01;
/// `None` for an empty histogram.
pub(crate) fn quantile(blob: &[u8], q: f64) -> Option<f64> {
    let total: u64 = pairs(blob).map(|(_, c)| u64::from(c)).sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0u64;
    for (bucket, count) in pairs(blob) {
        seen += u64::from(count);
        if seen >= rank {
            return Some((representative(bucket) * 100.0).round() / 100.0);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(values: &[f64]) -> Vec<u8> {
        let mut c = Counts::new();
        for &v in values {
            add(&mut c, v);
        }
        encode(&c)
    }

    #[test]
    fn percentiles_are_within_five_percent() {
        let values: Vec<f64> = (1..=1000).map(|i| f64::from(i) * 3.7).collect();
        let b = blob(&values);
        for (q, exact) in [(0.5, 1850.0), (0.95, 3515.0), (0.99, 3663.0), (1.0, 3700.0)] {
            let got = quantile(&b, q).unwrap();
            assert!((got - exact).abs() / exact < 0.05, "q{q}: {got} vs {exact}");
        }
        assert_eq!(quantile(&blob(&[0.2, 0.3]), 0.5), Some(0.5));
        assert_eq!(quantile(&[], 0.5), None);
        assert!(quantile(&blob(&[1e12]), 0.5).unwrap() > 1e10);
        assert_eq!(bucket_of(f64::NAN), 0);
    }

    #[test]
    fn merging_adds_counts() {
        let a = blob(&[10.0, 10.0, 500.0]);
        let b = blob(&[10.0, 90_000.0]);
        let m = merge(&a, &b);
        assert_eq!(m, blob(&[10.0, 10.0, 10.0, 500.0, 90_000.0]));
        assert_eq!(merge(&m, &[]), m);
        assert_eq!(merge(&[1, 2], &a), a, "a torn pair is ignored");
        assert!((quantile(&m, 0.5).unwrap() - 10.0).abs() < 0.5);
        assert!((quantile(&m, 0.95).unwrap() - 90_000.0).abs() < 4500.0);
    }
}

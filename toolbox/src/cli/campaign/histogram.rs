//! A distribution of per-seed values (a gauge, a seed's p50 latency) in fixed log-linear
//! buckets, HdrHistogram's layout: values below 1024 each have their own bucket; above, every
//! power of two is cut into 1024 equal buckets, so a bucket is narrower than 0.1% of its
//! values. Each bucket keeps its count and the smallest value it saw, and the histogram keeps
//! the exact maximum.
//!
//! The state depends only on the multiset of values added: adding in any order, or merging
//! histograms built from any split of the values, gives the same histogram. That is what makes
//! a campaign's summary the same for every `--jobs` and lets shards merge exactly. Memory is
//! bounded by the number of buckets touched (at most 55,296), never by the number of values.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const PRECISION_BITS: u32 = 10;
const SUB_BUCKETS: u64 = 1 << PRECISION_BITS;

#[derive(Clone, Default, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "Stored", into = "Stored")]
pub struct Histogram {
    /// Bucket index to (count, smallest value seen).
    buckets: BTreeMap<u32, (u64, u64)>,
    count: u64,
    max: u64,
}

/// The bucket of a value; indices grow with the values they hold.
fn bucket_of(value: u64) -> u32 {
    if value < SUB_BUCKETS {
        return value as u32;
    }
    let msb = 63 - value.leading_zeros();
    let shift = msb - PRECISION_BITS;
    let index = (u64::from(shift + 1) << PRECISION_BITS) | ((value >> shift) - SUB_BUCKETS);
    u32::try_from(index).expect("at most 54 * 1024 + 1023")
}

impl Histogram {
    pub fn add(&mut self, value: u64) {
        self.add_bucket(bucket_of(value), 1, value);
        self.max = self.max.max(value);
    }

    fn add_bucket(&mut self, index: u32, count: u64, min: u64) {
        let bucket = self.buckets.entry(index).or_insert((0, min));
        bucket.0 = bucket.0.saturating_add(count);
        bucket.1 = bucket.1.min(min);
        self.count = self.count.saturating_add(count);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (&index, &(count, min)) in &other.buckets {
            self.add_bucket(index, count, min);
        }
        self.max = self.max.max(other.max);
    }

    /// The exact largest value.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The nearest-rank quantile, as the smallest value seen in the bucket that holds it:
    /// exact below 1024, within 0.1% above. Zero for an empty histogram.
    pub fn quantile(&self, percent: u64) -> u64 {
        let rank = (u128::from(self.count) * u128::from(percent))
            .div_ceil(100)
            .max(1);
        let mut seen: u128 = 0;
        for &(count, min) in self.buckets.values() {
            seen += u128::from(count);
            if seen >= rank {
                return min;
            }
        }
        0
    }
}

/// The stored form: `{"count": N, "max": M, "buckets": [[smallest value, count], ...]}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    count: u64,
    max: u64,
    buckets: Vec<(u64, u64)>,
}

impl From<Histogram> for Stored {
    fn from(h: Histogram) -> Stored {
        Stored {
            count: h.count,
            max: h.max,
            buckets: h
                .buckets
                .values()
                .map(|&(count, min)| (min, count))
                .collect(),
        }
    }
}

impl TryFrom<Stored> for Histogram {
    type Error = String;
    fn try_from(stored: Stored) -> Result<Histogram, String> {
        let mut h = Histogram::default();
        for (min, count) in stored.buckets {
            if count == 0 || h.buckets.contains_key(&bucket_of(min)) {
                return Err(format!("histogram bucket of {min}: empty or given twice"));
            }
            if min > stored.max {
                return Err(format!("histogram bucket of {min}: above the maximum"));
            }
            h.add_bucket(bucket_of(min), count, min);
        }
        let top_holds_max = match h.buckets.keys().next_back() {
            Some(&top) => top == bucket_of(stored.max),
            None => stored.max == 0,
        };
        if h.count != stored.count || !top_holds_max {
            return Err(format!(
                "histogram: its buckets hold {} values, not {} (maximum {})",
                h.count, stored.count, stored.max
            ));
        }
        h.max = stored.max;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed spread of values: small, large, repeated and extreme.
    fn values() -> Vec<u64> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut out = vec![0, 1, 1023, 1024, 1025, u64::MAX, 300_000_000, 300_000_000];
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.push(state >> (state % 60));
        }
        out
    }

    fn of(values: &[u64]) -> Histogram {
        let mut h = Histogram::default();
        values.iter().for_each(|&v| h.add(v));
        h
    }

    #[test]
    fn buckets_grow_with_values_and_are_narrow() {
        let mut values = values();
        values.sort_unstable();
        for pair in values.windows(2) {
            assert!(bucket_of(pair[0]) <= bucket_of(pair[1]), "{pair:?}");
        }
        for &v in &values {
            let h = of(&[v]);
            let shown = h.quantile(50);
            assert!(shown <= v && v - shown <= v / 1024, "{v} shown as {shown}");
        }
        assert_eq!(of(&[1023]).quantile(50), 1023);
    }

    #[test]
    fn merging_any_split_in_any_order_is_the_whole() {
        let values = values();
        let whole = of(&values);
        for split in [1, 7, 500, 1999] {
            let (a, b) = values.split_at(split);
            let mut merged = of(b);
            merged.merge(&of(a));
            assert_eq!(merged, whole, "split at {split}");
        }
        let reversed: Vec<u64> = values.iter().rev().copied().collect();
        assert_eq!(of(&reversed), whole);
    }

    #[test]
    fn quantiles_are_nearest_rank_within_a_tenth_of_a_percent() {
        let values = values();
        let h = of(&values);
        let mut sorted = values.clone();
        sorted.sort_unstable();
        for percent in [1, 50, 95, 99, 100] {
            let exact = sorted[(sorted.len() * percent as usize).div_ceil(100) - 1];
            let shown = h.quantile(percent);
            assert!(
                shown <= exact && exact - shown <= exact / 1024,
                "p{percent}"
            );
        }
        assert_eq!(h.max(), u64::MAX);
        let small = of(&(1..=100).collect::<Vec<_>>());
        assert_eq!((small.quantile(50), small.quantile(95)), (50, 95));
        assert_eq!(Histogram::default().quantile(50), 0);
    }

    #[test]
    fn the_stored_form_round_trips_and_bad_ones_are_errors() {
        let h = of(&values());
        let text = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Histogram>(&text).unwrap(), h);
        for bad in [
            r#"{"count": 2, "max": 5, "buckets": [[5, 1]]}"#,
            r#"{"count": 2, "max": 5, "buckets": [[5, 1], [5, 1]]}"#,
            r#"{"count": 1, "max": 5, "buckets": [[9, 1]]}"#,
            r#"{"count": 0, "max": 0, "buckets": [[0, 0]]}"#,
            r#"{"count": 2, "max": 900, "buckets": [[5, 2]]}"#,
        ] {
            assert!(serde_json::from_str::<Histogram>(bad).is_err(), "{bad}");
        }
    }
}

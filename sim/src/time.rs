//! Virtual time. Nothing in the simulator or in a protocol reads the wall clock: time is a
//! number of nanoseconds that the engine advances from event to event.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point in virtual time, in nanoseconds since the simulation started (global time), or since
/// a node's clock epoch (a node's local time, see `Context::now`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

/// A span of virtual time in nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);
    pub const MAX: Instant = Instant(u64::MAX);

    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant(nanos)
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// The time elapsed since `earlier`, or zero if `earlier` is later (a node's clock may jump
    /// backwards, so protocols measuring intervals with it must not panic).
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    pub const ZERO: Duration = Duration(0);
    pub const MAX: Duration = Duration(u64::MAX);

    pub const fn from_nanos(nanos: u64) -> Duration {
        Duration(nanos)
    }
    pub const fn from_micros(micros: u64) -> Duration {
        Duration(micros * 1_000)
    }
    pub const fn from_millis(millis: u64) -> Duration {
        Duration(millis * 1_000_000)
    }
    pub const fn from_secs(secs: u64) -> Duration {
        Duration(secs * 1_000_000_000)
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }
    pub const fn as_micros(self) -> u64 {
        self.0 / 1_000
    }
    pub const fn saturating_mul(self, factor: u64) -> Duration {
        Duration(self.0.saturating_mul(factor))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Panics if `rhs` is later: global time never goes backwards, so that is a bug.
    fn sub(self, rhs: Instant) -> Duration {
        assert!(self >= rhs, "time went backwards: {self:?} - {rhs:?}");
        Duration(self.0 - rhs.0)
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_add(rhs.0))
    }
}

/// Seconds with microsecond precision: `12.345678s`. The canonical trace uses this form.
impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}s",
            self.0 / 1_000_000_000,
            (self.0 % 1_000_000_000) / 1_000
        )
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// In the largest unit below the value, exactly: `250ms`, `1.5s`, `17.492364ms`, `37us`,
/// `12ns`. `Duration::parse` reads it back.
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0;
        let (scale, digits, unit) = match nanos {
            0 => return write!(f, "0s"),
            1_000_000_000.. => (1_000_000_000, 9, "s"),
            1_000_000.. => (1_000_000, 6, "ms"),
            1_000.. => (1_000, 3, "us"),
            _ => (1, 0, "ns"),
        };
        let (whole, fraction) = (nanos / scale, nanos % scale);
        if fraction == 0 {
            write!(f, "{whole}{unit}")
        } else {
            let fraction = format!("{fraction:0digits$}");
            write!(f, "{whole}.{}{unit}", fraction.trim_end_matches('0'))
        }
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Duration {
    /// Parses `250ms`, `1.5s`, `37us`, `12ns` or a bare number of nanoseconds.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        let bad = || format!("`{text}` is not a duration like 250ms, 1.5s, 37us or 12ns");
        let number_end = text
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(number_end);
        let (scale, digits): (u64, usize) = match unit {
            "" | "ns" => (1, 0),
            "us" => (1_000, 3),
            "ms" => (1_000_000, 6),
            "s" => (1_000_000_000, 9),
            _ => {
                return Err(format!(
                    "`{text}`: unknown unit `{unit}` (use s, ms, us or ns)"
                ));
            }
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty()
            || fraction.len() > digits
            || (number.contains('.') && fraction.is_empty())
        {
            return Err(bad());
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let fraction: u64 = if fraction.is_empty() {
            0
        } else {
            let padded = format!("{fraction:0<digits$}");
            padded.parse().map_err(|_| bad())?
        };
        whole
            .checked_mul(scale)
            .and_then(|n| n.checked_add(fraction))
            .map(Duration)
            .ok_or_else(|| format!("`{text}` is too long a duration"))
    }
}

/// Plans are edited by hand, so durations are written as `250ms` rather than nanoseconds in
/// human-readable formats (JSON); binary formats (stored traces) get the number.
impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_u64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"250ms\", or nanoseconds")
            }
            fn visit_u64<E: serde::de::Error>(self, nanos: u64) -> Result<Duration, E> {
                Ok(Duration(nanos))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Duration, E> {
                Duration::parse(text).map_err(E::custom)
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(Visitor)
        } else {
            deserializer.deserialize_u64(Visitor)
        }
    }
}

/// Written as the duration since the start of the run, like a `Duration`.
impl Serialize for Instant {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Duration(self.0).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Instant, D::Error> {
        Duration::deserialize(deserializer).map(|d| Instant(d.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        assert_eq!(
            Instant::from_nanos(12_345_678_901).to_string(),
            "12.345678s"
        );
        assert_eq!(Duration::from_millis(1500).to_string(), "1.5s");
        assert_eq!(Duration::from_nanos(17_492_364).to_string(), "17.492364ms");
        assert_eq!(Duration::from_secs(2).to_string(), "2s");
        assert_eq!(Duration::from_nanos(37_000).to_string(), "37us");
    }

    #[test]
    fn parse_round_trips() {
        for nanos in [
            0,
            12,
            37_000,
            1_500_000_000,
            2_000_000_000,
            123_456_789,
            17_000_001,
            u64::MAX,
        ] {
            let d = Duration::from_nanos(nanos);
            assert_eq!(Duration::parse(&d.to_string()), Ok(d));
        }
        assert!(Duration::parse("5 parsecs").is_err());
        assert!(Duration::parse("").is_err());
        assert!(Duration::parse("1.5ns").is_err());
        assert!(Duration::parse("1.ms").is_err());
        assert_eq!(Duration::parse("1500"), Ok(Duration::from_nanos(1500)));
    }
}

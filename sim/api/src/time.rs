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
    /// Parses a duration written in a file (a plan): a number with a unit, `ns`, `us`, `ms`,
    /// `s`, `m` or `h` (`250ms`, `1.5s`, `2m`). A bare number is an error: plans once read it
    /// as nanoseconds and the command line as seconds, so a unit is required.
    pub fn parse(text: &str) -> Result<Duration, String> {
        parse_duration(text, None)
    }

    /// Parses a duration given on the command line: as [`Duration::parse`], except that a bare
    /// number is seconds (`--duration 60` is a minute), as flags have always read it.
    pub fn parse_flag(text: &str) -> Result<Duration, String> {
        parse_duration(text, Some(1_000_000_000))
    }
}

/// Nanoseconds per unit, in the order the error messages list them.
const UNITS: [(&str, u64); 6] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// `text`, or its first 40 characters and an ellipsis.
fn cut_short(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// The one duration syntax of files and flags; `bare_scale` is the unit of a number written
/// without one (`None`: a unit is required).
fn parse_duration(text: &str, bare_scale: Option<u64>) -> Result<Duration, String> {
    let whole_text = text.trim();
    // Errors quote the text, cut short: a plan may hold a string of any length.
    let shown = cut_short(whole_text);
    let text = shown.as_str();
    if whole_text.starts_with('-') {
        return Err(format!("`{text}`: a duration must not be negative"));
    }
    let number_end = whole_text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(whole_text.len());
    let (number, unit) = whole_text.split_at(number_end);
    let unit = unit.trim_start();
    let bad = || format!("`{text}` is not a duration like 250ms, 1.5s, 2m or 12ns");
    if number.is_empty() {
        return Err(bad());
    }
    let scale = if unit.is_empty() {
        bare_scale.ok_or_else(|| {
            format!(
                "`{text}`: a duration needs a unit, one of ns, us, ms, s, m or h (`{text}ms`, say)"
            )
        })?
    } else {
        UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|&(_, scale)| scale)
            .ok_or_else(|| {
                format!(
                    "`{text}` is not a duration: unknown unit `{}` (use ns, us, ms, s, m or h, as in 250ms or 1.5s)",
                    cut_short(unit)
                )
            })?
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || (number.contains('.') && fraction.is_empty()) || fraction.len() > 18 {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let fraction_nanos = if fraction.is_empty() {
        0
    } else {
        let digits: u128 = fraction.parse().map_err(|_| bad())?;
        let denominator = 10u128.pow(fraction.len() as u32);
        let nanos = digits * u128::from(scale);
        if !nanos.is_multiple_of(denominator) {
            return Err(format!("`{text}` is finer than a nanosecond"));
        }
        (nanos / denominator) as u64
    };
    whole
        .checked_mul(scale)
        .and_then(|n| n.checked_add(fraction_nanos))
        .map(Duration)
        .ok_or_else(|| {
            format!(
                "`{text}` is too long a duration (at most {})",
                Duration::MAX
            )
        })
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
        /// `human`: a text format (a plan), where a duration is a string with a unit.
        struct Visitor {
            human: bool,
        }
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.human {
                    f.write_str("a duration with a unit, such as \"250ms\"")
                } else {
                    f.write_str("nanoseconds")
                }
            }
            fn visit_u64<E: serde::de::Error>(self, nanos: u64) -> Result<Duration, E> {
                if self.human {
                    return Err(E::custom(format!(
                        "the duration {nanos} needs a unit (ns, us, ms, s, m or h): write \"{}\" \
                         if it meant nanoseconds, as plans once read a bare number",
                        Duration(nanos)
                    )));
                }
                Ok(Duration(nanos))
            }
            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Duration, E> {
                match u64::try_from(value) {
                    Ok(nanos) => self.visit_u64(nanos),
                    Err(_) => Err(E::custom(format!(
                        "the duration {value} must not be negative"
                    ))),
                }
            }
            fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Duration, E> {
                if value < 0.0 {
                    return Err(E::custom(format!(
                        "the duration {value:?} must not be negative"
                    )));
                }
                Err(E::custom(format!(
                    "the duration {value:?} needs a unit: write it as a string such as \"{value:?}s\""
                )))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Duration, E> {
                Duration::parse(text).map_err(E::custom)
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(Visitor { human: true })
        } else {
            deserializer.deserialize_u64(Visitor { human: false })
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
        assert!(Duration::parse("ms").is_err());
    }

    // Goal: one syntax for files and flags. Method: each unit, fractions, and each kind of
    // mistake with the words its error must contain.
    #[test]
    fn units_and_mistakes() {
        let secs = Duration::from_secs;
        assert_eq!(Duration::parse("2m"), Ok(secs(120)));
        assert_eq!(Duration::parse("1.5m"), Ok(secs(90)));
        assert_eq!(Duration::parse("1h"), Ok(secs(3600)));
        assert_eq!(Duration::parse("0.25h"), Ok(secs(900)));
        assert_eq!(Duration::parse("37us"), Ok(Duration::from_micros(37)));
        assert_eq!(Duration::parse(" 5 s "), Ok(secs(5)));
        let error = |text: &str| Duration::parse(text).unwrap_err();
        assert!(error("1500").contains("needs a unit"), "{}", error("1500"));
        assert!(error("-5s").contains("must not be negative"));
        assert!(error("-1").contains("must not be negative"));
        assert!(error("5 parsecs").contains("unknown unit `parsecs`"));
        assert!(error("1.5ns").contains("finer than a nanosecond"));
        assert!(error("99999999999h").contains("too long"));
        // On the command line a bare number is seconds.
        assert_eq!(Duration::parse_flag("3"), Ok(secs(3)));
        assert_eq!(Duration::parse_flag("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(
            Duration::parse_flag("250ms"),
            Ok(Duration::from_millis(250))
        );
        assert!(
            Duration::parse_flag("-3")
                .unwrap_err()
                .contains("must not be negative")
        );
    }

    // Goal: a plan (JSON) needs a unit; a stored trace (bincode) keeps the number. Method:
    // deserialize numbers and strings from JSON, and round-trip through bincode.
    #[test]
    fn json_needs_a_unit_and_binary_keeps_the_number() {
        let from_json =
            |json: &str| serde_json::from_str::<Duration>(json).map_err(|e| e.to_string());
        assert_eq!(from_json("\"250ms\""), Ok(Duration::from_millis(250)));
        assert!(from_json("1500").unwrap_err().contains("needs a unit"));
        assert!(
            from_json("-5")
                .unwrap_err()
                .contains("must not be negative")
        );
        assert!(
            from_json("-0.5")
                .unwrap_err()
                .contains("must not be negative")
        );
        assert!(
            from_json("\"-5s\"")
                .unwrap_err()
                .contains("must not be negative")
        );
        let config = bincode::config::standard();
        let d = Duration::from_nanos(123_456_789);
        let bytes = bincode::serde::encode_to_vec(d, config).unwrap();
        let (back, _): (Duration, usize) =
            bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(back, d);
    }
}

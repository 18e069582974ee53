//! UTC timestamps: stored as signed microseconds since the Unix epoch,
//! shown as RFC 3339 (`2024-05-01T12:00:00.000000Z`) at the API.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::StoreError;

/// A UTC instant with microsecond precision.
///
/// ```
/// use memlayer_store::Timestamp;
/// let t: Timestamp = "2024-05-01T12:00:00+02:00".parse().unwrap();
/// assert_eq!(t.to_string(), "2024-05-01T10:00:00.000000Z");
/// assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;
/// Smallest representable instant (0000-01-01T00:00:00Z).
const MIN_MICROS: i64 = -62_167_219_200 * MICROS_PER_SEC;
/// Largest representable instant (9999-12-31T23:59:59.999999Z).
const MAX_MICROS: i64 = 253_402_300_799 * MICROS_PER_SEC + 999_999;

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let micros = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
        };
        Timestamp(micros.clamp(MIN_MICROS, MAX_MICROS))
    }

    /// Microseconds since the Unix epoch.
    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// From microseconds since the Unix epoch.
    pub fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// From whole seconds since the Unix epoch (Mem0's `timestamp`), for
    /// instants in years 0000..=9999.
    ///
    /// ```
    /// use memlayer_store::Timestamp;
    /// let t = Timestamp::from_unix_seconds(1_683_554_160).unwrap();
    /// assert_eq!(t.to_string(), "2023-05-08T13:56:00.000000Z");
    /// assert!(Timestamp::from_unix_seconds(i64::MAX).is_err());
    /// ```
    pub fn from_unix_seconds(secs: i64) -> Result<Self, StoreError> {
        secs.checked_mul(MICROS_PER_SEC)
            .filter(|m| (MIN_MICROS..=MAX_MICROS).contains(m))
            .map(Timestamp)
            .ok_or_else(|| StoreError::InvalidTimestamp {
                input: secs.to_string(),
            })
    }

    /// The UTC calendar date: (year, month 1–12, day 1–31).
    ///
    /// ```
    /// use memlayer_store::Timestamp;
    /// let t: Timestamp = "2023-05-08T23:56:00-02:00".parse().unwrap();
    /// assert_eq!(t.civil_date(), (2023, 5, 9));
    /// assert_eq!(Timestamp::from_micros(-1).civil_date(), (1969, 12, 31));
    /// ```
    pub fn civil_date(self) -> (i32, u8, u8) {
        let days = self.0.div_euclid(SECS_PER_DAY * MICROS_PER_SEC);
        let (y, m, d) = civil_from_days(days);
        (y as i32, m as u8, d as u8)
    }

    /// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`); fractions
    /// beyond microseconds are truncated.
    pub fn parse_rfc3339(s: &str) -> Result<Self, StoreError> {
        parse(s).ok_or_else(|| StoreError::InvalidTimestamp {
            input: s.chars().take(64).collect(),
        })
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

fn digits(b: &[u8], start: usize, len: usize) -> Option<i64> {
    let slice = b.get(start..start + len)?;
    let mut v = 0i64;
    for &c in slice {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

fn parse(s: &str) -> Option<Timestamp> {
    let b = s.trim().as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let min = digits(b, 14, 2)?;
    let sec = digits(b, 17, 2)?;
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                micros = micros * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    let offset_secs = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = digits(b, i + 1, 2)?;
            let om = digits(b, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * SECS_PER_DAY + hour * 3600 + min * 60 + sec.min(59) - offset_secs;
    let total = secs.checked_mul(MICROS_PER_SEC)?.checked_add(micros)?;
    if !(MIN_MICROS..=MAX_MICROS).contains(&total) {
        return None;
    }
    Some(Timestamp(total))
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0.clamp(MIN_MICROS, MAX_MICROS);
        let secs = micros.div_euclid(MICROS_PER_SEC);
        let frac = micros.rem_euclid(MICROS_PER_SEC);
        let days = secs.div_euclid(SECS_PER_DAY);
        let sod = secs.rem_euclid(SECS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )
    }
}

impl FromStr for Timestamp {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse_rfc3339(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_across_range() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let span = (MAX_MICROS - MIN_MICROS) as u64;
            let t = Timestamp(MIN_MICROS + (x % span) as i64);
            let s = t.to_string();
            assert_eq!(s.parse::<Timestamp>().unwrap(), t, "{s}");
        }
    }

    #[test]
    fn parses_offsets_and_rejects_garbage() {
        assert_eq!(
            Timestamp::parse_rfc3339("1970-01-01T00:00:00Z").unwrap().0,
            0
        );
        assert_eq!(
            Timestamp::parse_rfc3339("1970-01-01T01:00:00+01:00")
                .unwrap()
                .0,
            0
        );
        assert_eq!(
            Timestamp::parse_rfc3339("1970-01-01T00:00:00.5Z")
                .unwrap()
                .0,
            500_000
        );
        for bad in [
            "",
            "2024-02-30T00:00:00Z",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "x024-01-01T00:00:00Z",
            "2024-01-01T00:00:00+0100",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}

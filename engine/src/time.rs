//! Timestamps read from the log. Every commit carries several (the commit's,
//! the submission's, the plan's deadlines), all written by chrono as
//! `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, and chrono's general RFC 3339 parser
//! spends about 150 ns on each: a tenth of decoding a submit commit, which
//! the projector, audit replay and audit verify do for every commit of the
//! log. [`deserialize`] reads that exact shape directly and hands anything
//! else (an offset other than `Z`, a leap second, a year outside 0000-9999,
//! a malformed string) to chrono, so what is accepted, the value it gives
//! and the error it names are chrono's (a test compares the two on every
//! shape and on random instants).
//!
//! Writing is the mirror image: [`serialize`] writes chrono's text without
//! chrono's `fmt` machinery (a quarter of encoding a commit), and hands
//! the shapes it does not write to chrono.
//!
//! Use on a field: `#[serde(with = "crate::time")]`, or for an `Option`:
//! `#[serde(default, serialize_with = "crate::time::serialize_option",
//! deserialize_with = "crate::time::deserialize_option")]` (`default` keeps
//! a missing field `None`, as serde does for a plain `Option`).

use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Serialize, Serializer};

/// A timestamp as chrono's `Deserialize` for `DateTime<Utc>` reads it.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    deserializer.deserialize_str(Rfc3339)
}

/// An optional timestamp (`nil`/`null` is `None`).
pub fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    deserializer.deserialize_option(OptionalRfc3339)
}

/// `s` as chrono reads it: the fast path for chrono's own output, chrono for
/// everything else.
pub fn parse(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    match parse_canonical(s.as_bytes()) {
        Some(at) => Ok(at),
        None => s
            .parse::<DateTime<FixedOffset>>()
            .map(|at| at.with_timezone(&Utc)),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` with a valid date and a second below 60,
/// or `None` (then chrono decides).
fn parse_canonical(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 20 || b[b.len() - 1] != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let year = digits(0..4)?;
    let month = digits(5..7)?;
    let day = digits(8..10)?;
    let hour = digits(11..13)?;
    let minute = digits(14..16)?;
    let second = digits(17..19)?;
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(20..20 + fraction.len())? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    if second > 59 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

/// Writes a timestamp as chrono's `Serialize` for `DateTime<Utc>` does
/// (`YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z`, the shortest of the three
/// fractions that is exact), without going through `fmt` one `char` at a
/// time: every command writes several (commit, submission, deadlines,
/// reply). A leap second or a year outside 0000-9999 goes to chrono.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut text = [0u8; 30];
    match write_canonical(at, &mut text) {
        Some(len) => serializer.serialize_str(std::str::from_utf8(&text[..len]).expect("ASCII")),
        None => at.serialize(serializer),
    }
}

/// [`serialize`] for an `Option` (`None` is `nil`/`null`, as serde writes it).
pub fn serialize_option<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_some(&Canonical(at)),
        None => serializer.serialize_none(),
    }
}

struct Canonical<'a>(&'a DateTime<Utc>);

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize(self.0, serializer)
    }
}

/// chrono's text of `at` into `out`; its length, or `None` where chrono
/// writes something else than the common shape.
fn write_canonical(at: &DateTime<Utc>, out: &mut [u8; 30]) -> Option<usize> {
    let year = at.year();
    let nanos = at.nanosecond();
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    for (start, value, width) in [
        (0, year as u32, 4),
        (5, at.month(), 2),
        (8, at.day(), 2),
        (11, at.hour(), 2),
        (14, at.minute(), 2),
        (17, at.second(), 2),
    ] {
        put_digits(&mut out[start..start + width], value);
    }
    for (i, c) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
        out[i] = c;
    }
    let (width, fraction) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (3, n / 1_000_000),
        n if n % 1_000 == 0 => (6, n / 1_000),
        n => (9, n),
    };
    let mut len = 19;
    if width > 0 {
        out[len] = b'.';
        put_digits(&mut out[len + 1..len + 1 + width], fraction);
        len += 1 + width;
    }
    out[len] = b'Z';
    Some(len + 1)
}

/// `value` in decimal, zero-padded to fill `out`.
fn put_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

struct Rfc3339;

impl Visitor<'_> for Rfc3339 {
    type Value = DateTime<Utc>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an RFC 3339 formatted date and time string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        parse(value).map_err(E::custom)
    }
}

struct OptionalRfc3339;

impl<'de> Visitor<'de> for OptionalRfc3339 {
    type Value = Option<DateTime<Utc>>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an RFC 3339 formatted date and time string or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{SecondsFormat, TimeZone};

    /// The fast path and chrono agree: the same value, or both an error with
    /// the same message.
    fn agrees(s: &str) {
        let chrono = s
            .parse::<DateTime<FixedOffset>>()
            .map(|at| at.with_timezone(&Utc));
        let ours = parse(s);
        match (&chrono, &ours) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{s:?}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{s:?}"),
            _ => panic!("{s:?}: chrono {chrono:?}, ours {ours:?}"),
        }
    }

    #[test]
    fn reads_what_chrono_reads_on_every_shape() {
        for s in [
            "2026-11-26T10:00:00Z",
            "2026-11-26T10:00:00.1Z",
            "2026-11-26T10:00:00.123Z",
            "2026-11-26T10:00:00.123456Z",
            "2026-11-26T10:00:00.123456789Z",
            "2026-11-26T10:00:00.1234567891Z",
            "2026-11-26T10:00:00.Z",
            "2024-02-29T23:59:59Z",
            "2023-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-10T00:00:00Z",
            "2026-11-00T00:00:00Z",
            "2026-11-26T24:00:00Z",
            "2026-11-26T23:60:00Z",
            "2016-12-31T23:59:60Z",
            "2016-12-31T23:59:60.5Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "+10000-01-01T00:00:00Z",
            "2026-11-26T10:00:00+00:00",
            "2026-11-26T10:00:00+01:30",
            "2026-11-26T10:00:00-00:00",
            "2026-11-26t10:00:00z",
            "2026-11-26 10:00:00Z",
            "2026-11-26T10:00:00",
            "2026-11-26T10:00Z",
            "2026-11-26T1:00:00Z",
            "2026-1a-26T10:00:00Z",
            "2026-11-26T10:00:00ZZ",
            "2026-11-26T10:00:00Z ",
            " 2026-11-26T10:00:00Z",
            "2026-11-26T10:00:00.12a4Z",
            "2026-11-26T10:00:0٣Z",
            "",
            "Z",
        ] {
            agrees(s);
        }
    }

    /// Our writer and chrono's `Serialize` give the same text, in JSON and
    /// in MessagePack, on every fraction width, the year's edges, a leap
    /// second and years chrono writes with a sign; and `None` stays `null`.
    #[test]
    fn writes_what_chrono_writes() {
        #[derive(serde::Serialize)]
        struct Ours {
            #[serde(serialize_with = "serialize")]
            at: DateTime<Utc>,
            #[serde(serialize_with = "serialize_option")]
            maybe: Option<DateTime<Utc>>,
        }
        #[derive(serde::Serialize)]
        struct Chrono {
            at: DateTime<Utc>,
            maybe: Option<DateTime<Utc>>,
        }
        let mut instants: Vec<DateTime<Utc>> = vec![
            Utc.with_ymd_and_hms(2026, 11, 27, 16, 25, 44).unwrap(),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 15, 12, 0, 0).unwrap(),
            NaiveDate::from_ymd_opt(2016, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                .unwrap()
                .and_utc(),
        ];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..20_000 {
            let secs = (next() % 253_402_300_800) as i64; // 1970 to 9999
            let nanos = match i % 5 {
                0 => 0,
                1 => (next() % 1_000) as u32 * 1_000_000,
                2 => (next() % 1_000_000) as u32 * 1_000,
                3 => (next() % 1_000_000_000) as u32,
                _ => (next() % 9 + 1) as u32 * 100_000_000,
            };
            instants.push(Utc.timestamp_opt(secs, nanos).unwrap());
        }
        for (i, at) in instants.into_iter().enumerate() {
            let maybe = (i % 2 == 0).then_some(at);
            let ours = Ours { at, maybe };
            let chrono = Chrono { at, maybe };
            assert_eq!(
                serde_json::to_string(&ours).unwrap(),
                serde_json::to_string(&chrono).unwrap()
            );
            assert_eq!(
                rmp_serde::to_vec_named(&ours).unwrap(),
                rmp_serde::to_vec_named(&chrono).unwrap(),
                "{at:?}"
            );
        }
    }

    #[test]
    fn reads_what_chrono_writes_at_random_instants() {
        // xorshift: repeatable, no dependency.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let max = Utc
            .with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
            .unwrap()
            .timestamp();
        let min = Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap().timestamp();
        for i in 0..20_000u64 {
            let secs = min + (next() % (max - min) as u64) as i64;
            // Whole seconds, milli-, micro- and nanoseconds, as chrono trims them.
            let nanos = match i % 4 {
                0 => 0,
                1 => (next() % 1_000) as u32 * 1_000_000,
                2 => (next() % 1_000_000) as u32 * 1_000,
                _ => (next() % 1_000_000_000) as u32,
            };
            let at = Utc.timestamp_opt(secs, nanos).unwrap();
            let written = serde_json::to_string(&at).unwrap();
            let read: DateTime<Utc> =
                serde_json::from_str::<Wrapped>(&format!("{{\"at\":{written}}}"))
                    .unwrap()
                    .at;
            assert_eq!(read, at, "{written}");
            for format in [
                SecondsFormat::Secs,
                SecondsFormat::Millis,
                SecondsFormat::Nanos,
            ] {
                agrees(&at.to_rfc3339_opts(format, true));
                agrees(&at.to_rfc3339_opts(format, false));
            }
        }
    }

    #[derive(serde::Deserialize)]
    struct Wrapped {
        #[serde(deserialize_with = "deserialize")]
        at: DateTime<Utc>,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Optional {
        #[serde(default, deserialize_with = "deserialize_option")]
        at: Option<DateTime<Utc>>,
    }

    #[test]
    fn an_optional_timestamp_reads_as_a_plain_option_does() {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
        for (json, expected) in [
            (r#"{"at":"2026-11-26T10:00:00Z"}"#, Some(at)),
            (r#"{"at":null}"#, None),
            ("{}", None),
        ] {
            assert_eq!(
                serde_json::from_str::<Optional>(json).unwrap(),
                Optional { at: expected },
                "{json}"
            );
        }
        let refused = serde_json::from_str::<Optional>(r#"{"at":"2026-02-30T00:00:00Z"}"#)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("input is out of range"), "{refused}");
        // MessagePack, as the log holds it: nil and a string.
        let mut bytes = Vec::new();
        rmp_serde::encode::write_named(&mut bytes, &serde_json::json!({"at": null})).unwrap();
        assert_eq!(
            rmp_serde::from_slice::<Optional>(&bytes).unwrap(),
            Optional { at: None }
        );
        let mut bytes = Vec::new();
        rmp_serde::encode::write_named(
            &mut bytes,
            &serde_json::json!({"at": "2026-11-26T10:00:00Z"}),
        )
        .unwrap();
        assert_eq!(
            rmp_serde::from_slice::<Optional>(&bytes).unwrap(),
            Optional { at: Some(at) }
        );
    }
}

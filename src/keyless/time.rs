//! Time for keyless verification: Unix seconds, RFC 3339 text, and the `validFor` windows of a
//! trusted root.
//!
//! Every time-dependent check takes the signing time T from the Rekor entry's
//! `integratedTime` (signed by the log), never from the clock: a Fulcio certificate lives ten
//! minutes and is normally long expired when it is verified. So nothing here reads the clock.
//! The conversions are written out (days-from-civil) rather than pulled from a date crate, so
//! the trust-root parser has no dependency whose parsing rules we would have to audit.

use std::fmt;

/// A point in time with the precision a trusted root's `validFor` carries
/// (`2022-12-31T23:59:59.999Z`): Unix seconds plus nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant {
    secs: i64,
    nanos: u32,
}

impl Instant {
    /// A whole Unix second.
    pub fn from_unix(secs: i64) -> Instant {
        Instant { secs, nanos: 0 }
    }

    pub fn unix_seconds(&self) -> i64 {
        self.secs
    }

    /// True when this instant is at or before the whole second `t`.
    fn at_or_before(&self, t: i64) -> bool {
        t > self.secs || (t == self.secs && self.nanos == 0)
    }

    /// True when this instant is at or after the whole second `t`.
    fn at_or_after(&self, t: i64) -> bool {
        t <= self.secs
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&rfc3339(*self))
    }
}

/// A trusted root's `validFor`: from `start` until `end`, both inclusive, either open when the
/// file leaves it out (protobuf's `TimeRange` has both optional).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidFor {
    start: Option<Instant>,
    end: Option<Instant>,
}

impl ValidFor {
    pub fn new(start: Option<Instant>, end: Option<Instant>) -> ValidFor {
        ValidFor { start, end }
    }

    /// A window open at both ends.
    pub fn always() -> ValidFor {
        ValidFor {
            start: None,
            end: None,
        }
    }

    pub fn start(&self) -> Option<Instant> {
        self.start
    }

    pub fn end(&self) -> Option<Instant> {
        self.end
    }

    /// True when the Unix second `t` lies in the window: `start <= t <= end`.
    pub fn covers(&self, t: i64) -> bool {
        self.start.is_none_or(|start| start.at_or_before(t))
            && self.end.is_none_or(|end| end.at_or_after(t))
    }
}

impl fmt::Display for ValidFor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.start, self.end) {
            (Some(start), Some(end)) => write!(f, "{start} to {end}"),
            (Some(start), None) => write!(f, "from {start}"),
            (None, Some(end)) => write!(f, "until {end}"),
            (None, None) => f.write_str("at any time"),
        }
    }
}

/// RFC 3339 text of an instant, with its fraction when it has one.
pub fn rfc3339(instant: Instant) -> String {
    let mut out = format_utc(instant.secs);
    if instant.nanos != 0 {
        out.pop();
        let fraction = format!("{:09}", instant.nanos);
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
        out.push('Z');
    }
    out
}

/// Why an RFC 3339 timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an RFC 3339 time (like 2022-04-13T20:06:15Z): {reason}")]
pub struct TimeError {
    text: String,
    reason: &'static str,
}

/// Parse `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, the form protobuf JSON writes for a
/// `google.protobuf.Timestamp`. Lower-case `t`/`z` are accepted as RFC 3339 allows.
pub fn parse_rfc3339(text: &str) -> Result<Instant, TimeError> {
    let fail = |reason| TimeError {
        text: text.chars().take(64).collect(),
        reason,
    };
    let b = text.as_bytes();
    if b.len() < 20 || b.len() > 40 {
        return Err(fail("wrong length"));
    }
    let digits = |from: usize, to: usize| -> Result<i64, TimeError> {
        let part = &b[from..to];
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(fail("expected digits"));
        }
        Ok(part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let year = digits(0, 4)?;
    let month = digits(5, 7)?;
    let day = digits(8, 10)?;
    let hour = digits(11, 13)?;
    let minute = digits(14, 16)?;
    let second = digits(17, 19)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' {
        return Err(fail("expected YYYY-MM-DDTHH:MM:SS"));
    }
    if b[16] != b':' {
        return Err(fail("expected YYYY-MM-DDTHH:MM:SS"));
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(fail("no such date"));
    }
    // 60 is a leap second; Unix time has none, so it counts as the next second's start.
    if hour > 23 || minute > 59 || second > 60 {
        return Err(fail("no such time of day"));
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let count = i - start;
        if count == 0 {
            return Err(fail("empty fraction of a second"));
        }
        for _ in count..9 {
            nanos *= 10;
        }
    }
    let offset_secs = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let h = digits(i + 1, i + 3)?;
            let m = digits(i + 4, i + 6)?;
            if h > 23 || m > 59 {
                return Err(fail("no such UTC offset"));
            }
            let offset = h * 3600 + m * 60;
            if *sign == b'+' {
                offset
            } else {
                -offset
            }
        }
        _ => return Err(fail("expected Z or a ±HH:MM offset at the end")),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Ok(Instant { secs, nanos })
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix second, for messages.
pub fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_trusted_roots_use() {
        // Values from the public-good trusted root, checked with `date -u -d ... +%s`.
        assert_eq!(
            parse_rfc3339("2022-04-13T20:06:15Z").unwrap(),
            Instant::from_unix(1_649_880_375)
        );
        let end = parse_rfc3339("2022-12-31T23:59:59.999Z").unwrap();
        assert_eq!(end.unix_seconds(), 1_672_531_199);
        assert_eq!(end.nanos, 999_000_000);
        assert_eq!(
            parse_rfc3339("2026-02-27T19:20:46+01:00").unwrap(),
            Instant::from_unix(1_772_216_446)
        );
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:00Z").unwrap(),
            Instant::from_unix(0)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00.5z").unwrap().nanos,
            500_000_000
        );
    }

    #[test]
    fn refuses_what_is_not_rfc3339() {
        for bad in [
            "2022-04-13 20:06:15Z",
            "2022-04-13T20:06:15",
            "2022-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2022-04-13T24:00:00Z",
            "2022-04-13T20:06:15.Z",
            "2022-04-13T20:06:15+0100",
            "yesterday",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn formats_round_trip() {
        for t in [0, 1_634_714_717, 1_772_216_446, 951_782_400, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&format_utc(t)).unwrap().unix_seconds(), t);
        }
        assert_eq!(format_utc(1_772_216_446), "2026-02-27T18:20:46Z");
    }

    #[test]
    fn windows_are_inclusive_and_respect_fractions() {
        let w = ValidFor::new(
            Some(parse_rfc3339("2021-03-07T03:20:29Z").unwrap()),
            Some(parse_rfc3339("2022-12-31T23:59:59.999Z").unwrap()),
        );
        assert!(w.covers(1_615_087_229)); // start itself
        assert!(!w.covers(1_615_087_228));
        assert!(w.covers(1_672_531_199)); // 23:59:59 is before .999
        assert!(!w.covers(1_672_531_200));
        let late_start =
            ValidFor::new(Some(parse_rfc3339("2021-03-07T03:20:29.5Z").unwrap()), None);
        assert!(
            !late_start.covers(1_615_087_229),
            "a second before .5 is outside"
        );
        assert!(late_start.covers(i64::MAX));
        assert!(ValidFor::always().covers(i64::MIN));
        assert_eq!(late_start.to_string(), "from 2021-03-07T03:20:29.5Z");
        assert_eq!(
            w.to_string(),
            "2021-03-07T03:20:29Z to 2022-12-31T23:59:59.999Z"
        );
    }
}

//! The `org.opencontainers.image.created` time of a bundle referrer.
//!
//! cosign writes `time.Now().UTC().Format(time.RFC3339)` (`pkg/oci/remote/write.go`,
//! `WriteAttestationNewBundleFormat`): UTC, whole seconds, `Z`. A type of its own so the
//! manifest builder takes a time, not any string, and tests can pass a fixed one.

use std::time::{SystemTime, UNIX_EPOCH};

/// A creation time in whole seconds since the Unix epoch (UTC), from 1970 on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Created(u64);

impl Created {
    /// The current time (a clock before 1970 reads as 1970).
    pub fn now() -> Created {
        Created(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        )
    }

    pub fn from_unix(seconds: u64) -> Created {
        Created(seconds)
    }

    pub fn unix(self) -> u64 {
        self.0
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, as Go's `time.RFC3339` formats a UTC time.
    pub fn rfc3339(self) -> String {
        let days = self.0 / 86_400;
        let secs = self.0 % 86_400;
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_rfc3339() {
        assert_eq!(Created::from_unix(0).rfc3339(), "1970-01-01T00:00:00Z");
        // The kubewarden vector's integratedTime (tests/fixtures/keyless/bundles/vectors.json).
        assert_eq!(
            Created::from_unix(1_775_719_409).rfc3339(),
            "2026-04-09T07:23:29Z"
        );
        assert_eq!(
            Created::from_unix(1_710_869_186).rfc3339(),
            "2024-03-19T17:26:26Z"
        );
        // Leap days and year ends.
        assert_eq!(
            Created::from_unix(951_782_400).rfc3339(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            Created::from_unix(4_107_542_399).rfc3339(),
            "2100-02-28T23:59:59Z"
        );
        assert_eq!(
            Created::from_unix(1_704_067_199).rfc3339(),
            "2023-12-31T23:59:59Z"
        );
        assert!(Created::now().unix() > 1_700_000_000);
    }
}

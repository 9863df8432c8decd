//! The settle window: how long a writer of a tag without compare-and-swap (the `.sig` tag, the
//! referrers tag index) reads the tag back after its write before it trusts that the write stuck.
//!
//! Another writer that read the tag before our write can overwrite it a moment later, at most
//! its own read-to-write time later. So the window must outlast the other writers'
//! read-to-write times, which are a few round trips to the registry (one `GET`, one `PUT`, at
//! most a config upload between). It is therefore:
//!
//! - [`ROUND_TRIPS`] times the typical round trip this process measured
//!   ([`Registry::typical_round_trip`]), at least [`FLOOR`];
//! - when this writer's own write (from the `GET` that read the tag to the answer to its
//!   `PUT`) took longer than that, [`LATE_FACTOR`] times its slowest write: writes are slow
//!   for everyone then, or this one landed late and other writers may still be coming. It says
//!   so under `-v`.
//!
//! Three reads spread over the window ([`Window::pauses`]); a read that finds the tag changed
//! starts the window again, so a writer stops only once the tag has been quiet for a whole
//! window.

use std::time::Duration;

use crate::registry::Registry;

/// The shortest window (a loopback registry answers in about a millisecond).
pub(super) const FLOOR: Duration = Duration::from_millis(50);
/// The window is this many typical round trips (a read-to-write time is 2 to 5 of them).
pub(super) const ROUND_TRIPS: u32 = 8;
/// A write slower than the window stretches it to this many times the slowest write.
pub(super) const LATE_FACTOR: u32 = 3;
/// A late write at least this slow is also a warning in tag mode, not only a `-v` line: a
/// write of a second or more is out of the ordinary on any network, while writes a little
/// slower than a loopback window are common on a busy machine and say little.
pub(super) const LATE_WARNING: Duration = Duration::from_secs(1);
/// The longest window: the per-image deadline bounds the whole signature anyway.
pub(super) const CEILING: Duration = Duration::from_secs(60);

/// One write's settle window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    pub(super) length: Duration,
    /// The slowest write of this writer, when it was longer than the round-trip window.
    pub(super) late: Option<Duration>,
}

impl Window {
    /// The window after a write whose slowest read-to-write time so far is `slowest_write`.
    pub(super) fn after(registry: &Registry, slowest_write: Duration) -> Window {
        Window::compute(registry.typical_round_trip(), slowest_write)
    }

    pub(super) fn compute(typical: Option<Duration>, slowest_write: Duration) -> Window {
        let base = typical
            .map(|rt| rt.saturating_mul(ROUND_TRIPS))
            .unwrap_or(FLOOR)
            .max(FLOOR);
        if slowest_write > base {
            Window {
                length: slowest_write.saturating_mul(LATE_FACTOR).min(CEILING),
                late: Some(slowest_write),
            }
        } else {
            Window {
                length: base.min(CEILING),
                late: None,
            }
        }
    }

    /// The pauses before each read-back: a quarter, a quarter and a half of the window.
    pub(super) fn pauses(&self) -> [Duration; 3] {
        let quarter = self.length / 4;
        [quarter, quarter, self.length - 2 * quarter]
    }

    /// `-v`: why this writer settles longer than usual.
    pub(super) fn log_late(&self, place: &str) {
        if let Some(write) = self.late {
            tracing::info!(
                "{place}: this write took {}, longer than the settle window; settling for {} (3 times the slowest write)",
                show(write),
                show(self.length)
            );
        }
    }
}

/// `850 ms`, `2.0 s`.
pub(super) fn show(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn the_window_scales_with_round_trips_has_a_floor_and_stretches_for_late_writes() {
        // Loopback: the floor.
        let w = Window::compute(Some(MS(1)), MS(3));
        assert_eq!((w.length, w.late), (FLOOR, None));
        // Nothing measured yet: the floor.
        assert_eq!(Window::compute(None, MS(0)).length, FLOOR);
        // A distant registry: round trips of 100 ms, writes of 300 ms.
        let w = Window::compute(Some(MS(100)), MS(300));
        assert_eq!((w.length, w.late), (MS(800), None));
        // One write held back 2 s: three times that.
        let w = Window::compute(Some(MS(1)), MS(2000));
        assert_eq!((w.length, w.late), (MS(6000), Some(MS(2000))));
        // Never more than the ceiling.
        assert_eq!(
            Window::compute(None, Duration::from_secs(600)).length,
            CEILING
        );
        let pauses = Window::compute(Some(MS(1)), MS(1)).pauses();
        assert_eq!(pauses.iter().sum::<Duration>(), FLOOR);
        assert!(pauses[0] > Duration::ZERO);
    }
}

//! Round trips measured in this process: how long registries take to answer. The settle window
//! of a tag write (see [`crate::storage`]) must outlast another writer's read-to-write time,
//! which is a few of these round trips, so it scales with what this process measures instead
//! of a fixed guess: ~1 ms on loopback, 100 ms and more to a distant registry.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// How many of the latest answers are kept.
const KEPT: usize = 32;

/// The latest round trips (request sent to response headers), shared by every job.
#[derive(Debug, Default)]
pub(super) struct RoundTrips {
    latest: Mutex<VecDeque<Duration>>,
}

impl RoundTrips {
    pub(super) fn record(&self, took: Duration) {
        let mut latest = super::client::lock(&self.latest);
        if latest.len() == KEPT {
            latest.pop_front();
        }
        latest.push_back(took);
    }

    /// The median of the latest round trips: what one more request will likely take, not
    /// skewed by one slow outlier (a connection set up, a TLS handshake, a held write).
    pub(super) fn typical(&self) -> Option<Duration> {
        let latest = super::client::lock(&self.latest);
        let mut sorted: Vec<Duration> = latest.iter().copied().collect();
        drop(latest);
        sorted.sort();
        sorted.get(sorted.len() / 2).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_typical_round_trip_ignores_outliers_and_forgets_old_ones() {
        let rt = RoundTrips::default();
        assert_eq!(rt.typical(), None);
        let ms = Duration::from_millis;
        for _ in 0..5 {
            rt.record(ms(2));
        }
        rt.record(ms(2000));
        assert_eq!(rt.typical(), Some(ms(2)));
        for _ in 0..KEPT {
            rt.record(ms(100));
        }
        assert_eq!(rt.typical(), Some(ms(100)));
    }
}

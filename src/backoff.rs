//! Waiting before trying again: exponential backoff with jitter, the one helper every retry
//! loop in pinsign uses (registry requests, contended `.sig` writes).

use std::time::Duration;

/// The delay before retry number `attempt` (1-based): `base` doubled per attempt (capped at
/// 64×), plus a random jitter of up to half that plus `base`, so concurrent writers that
/// collided once spread out instead of colliding again.
pub fn delay(base: Duration, attempt: u32) -> Duration {
    let step = base.saturating_mul(1 << attempt.saturating_sub(1).min(6));
    step + jitter(step / 2 + base)
}

/// Sleep for [`delay`].
pub async fn sleep(base: Duration, attempt: u32) {
    tokio::time::sleep(delay(base, attempt)).await;
}

/// A random duration below `max`, from the clock's nanoseconds (no RNG crate needed for
/// jitter; it only has to differ between processes and attempts).
fn jitter(max: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let max = max.as_micros().max(1) as u64;
    Duration::from_micros(nanos.wrapping_mul(2654435761) % max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_bounded() {
        let base = Duration::from_millis(20);
        for attempt in 1..=20 {
            let d = delay(base, attempt);
            let step = base * (1 << (attempt - 1).min(6));
            assert!(d >= step && d < step + step / 2 + base, "{attempt}: {d:?}");
        }
    }
}

//! Exponential backoff with full jitter: the delay before attempt n is uniform in
//! [0, min(max, min_delay · 2ⁿ)], so that many clients cut at once do not come back at once.

use std::time::Duration;

use rand::Rng;

/// Reconnect timing.
///
/// ```
/// use std::time::Duration;
/// use tether_core::ReconnectPolicy;
/// let p = ReconnectPolicy { min_delay: Duration::from_millis(50), ..ReconnectPolicy::default() };
/// assert!(p.enabled);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// Reconnect automatically after the first successful connection.
    pub enabled: bool,
    /// Ceiling of the first delay.
    pub min_delay: Duration,
    /// Ceiling of every delay.
    pub max_delay: Duration,
    /// A connection that stayed up this long resets the backoff.
    pub stable_after: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            enabled: true,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            stable_after: Duration::from_secs(10),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Backoff {
    policy: ReconnectPolicy,
    attempt: u32,
}

impl Backoff {
    pub fn new(policy: ReconnectPolicy) -> Self {
        Backoff { policy, attempt: 0 }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The ceiling for the current attempt, before jitter.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.policy.min_delay.saturating_mul(factor).min(self.policy.max_delay)
    }

    /// The next delay, full jitter; advances the attempt counter.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        if ceiling.is_zero() {
            return ceiling;
        }
        let nanos = rand::thread_rng().gen_range(0..=ceiling.as_nanos().min(u64::MAX as u128) as u64);
        Duration::from_nanos(nanos)
    }

    /// At least this long: used when the server said "busy" and expects us to stay away.
    pub fn next_delay_at_least(&mut self, floor: Duration) -> Duration {
        self.next_delay().max(floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_maximum_and_delays_stay_below() {
        let mut b = Backoff::new(ReconnectPolicy {
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..ReconnectPolicy::default()
        });
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            ceilings.push(b.ceiling().as_millis());
            let d = b.next_delay();
            assert!(d <= Duration::from_secs(1));
        }
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }
}

//! Adaptive concurrency: how many requests may be in flight, adjusted to what the server
//! accepts. The scheme is the one Inspect and promptfoo converged on (additive increase,
//! multiplicative decrease, as in TCP congestion control): start at `initial`, double
//! after each window of successes until the first rate limit (slow start), then grow by
//! one per window; on a 429 halve the limit, at most once per cooldown so that one burst
//! of 429s from requests sent together counts once. Server errors and timeouts do not
//! cut the limit (they are not a sign of overload as reliable as a 429) but stop growth.

use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const COOLDOWN: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct State {
    limit: usize,
    in_flight: usize,
    successes: usize,
    slow_start: bool,
    last_decrease: Option<Instant>,
    peak: usize,
}

#[derive(Debug)]
pub(crate) struct Limiter {
    state: Mutex<State>,
    max: usize,
    notify: Notify,
}

/// A slot for one request; dropping it frees the slot.
pub(crate) struct Permit<'a> {
    limiter: &'a Limiter,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = self.limiter.lock();
        s.in_flight -= 1;
        drop(s);
        self.limiter.notify.notify_waiters();
    }
}

/// What became of a request, for the limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    RateLimited,
    Failed,
}

impl Limiter {
    pub(crate) fn new(initial: usize, max: usize) -> Self {
        let max = max.max(1);
        let initial = initial.clamp(1, max);
        Self {
            state: Mutex::new(State {
                limit: initial,
                in_flight: 0,
                successes: 0,
                slow_start: true,
                last_decrease: None,
                peak: initial,
            }),
            max,
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) async fn acquire(&self) -> Permit<'_> {
        loop {
            // Register for a wake-up before checking, so a release between the check
            // and the wait is not missed.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.lock();
                if s.in_flight < s.limit {
                    s.in_flight += 1;
                    return Permit { limiter: self };
                }
            }
            notified.await;
        }
    }

    pub(crate) fn record(&self, outcome: Outcome) {
        let mut s = self.lock();
        match outcome {
            Outcome::Success => {
                s.successes += 1;
                if s.successes >= s.limit {
                    s.successes = 0;
                    s.limit = if s.slow_start {
                        (s.limit * 2).min(self.max)
                    } else {
                        (s.limit + 1).min(self.max)
                    };
                    s.peak = s.peak.max(s.limit);
                }
            }
            Outcome::RateLimited => {
                s.slow_start = false;
                s.successes = 0;
                let now = Instant::now();
                if s.last_decrease
                    .is_none_or(|t| now.duration_since(t) >= COOLDOWN)
                {
                    s.limit = (s.limit / 2).max(1);
                    s.last_decrease = Some(now);
                }
            }
            Outcome::Failed => s.successes = 0,
        }
        drop(s);
        self.notify.notify_waiters();
    }

    pub(crate) fn limit(&self) -> usize {
        self.lock().limit
    }

    pub(crate) fn peak(&self) -> usize {
        self.lock().peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_halving_then_additive_growth() {
        let l = Limiter::new(4, 64);
        for _ in 0..4 {
            l.record(Outcome::Success);
        }
        assert_eq!(l.limit(), 8);
        for _ in 0..8 {
            l.record(Outcome::Success);
        }
        assert_eq!(l.limit(), 16);
        l.record(Outcome::RateLimited);
        assert_eq!(l.limit(), 8);
        // A burst of 429s within the cooldown counts once.
        l.record(Outcome::RateLimited);
        l.record(Outcome::RateLimited);
        assert_eq!(l.limit(), 8);
        for _ in 0..8 {
            l.record(Outcome::Success);
        }
        assert_eq!(l.limit(), 9, "after a rate limit, growth is additive");
        assert_eq!(l.peak(), 16);
    }

    #[test]
    fn never_above_max_nor_below_one() {
        let l = Limiter::new(100, 3);
        assert_eq!(l.limit(), 3);
        for _ in 0..10 {
            l.record(Outcome::Success);
        }
        assert_eq!(l.limit(), 3);
        let l = Limiter::new(1, 3);
        l.record(Outcome::RateLimited);
        assert_eq!(l.limit(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn permits_bound_the_requests_in_flight() {
        let l = std::sync::Arc::new(Limiter::new(2, 2));
        let a = l.acquire().await;
        let _b = l.acquire().await;
        let l2 = l.clone();
        let waiter = tokio::spawn(async move {
            let _c = l2.acquire().await;
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "a third request waits");
        drop(a);
        waiter.await.unwrap();
    }
}

//! The publishes the driver holds until they complete, keyed by token.
//!
//! Tokens are handed out in increasing order and mostly complete in that order, so a sorted
//! ring does better here than a hash map plus an ordered set: inserting at the back and
//! removing at the front cost no hashing and, once the ring has grown, no allocation, and the
//! oldest token (what a flush waits for) is the front.

use std::collections::VecDeque;

/// Values by token, oldest first.
pub(crate) struct Pending<V> {
    /// Sorted by token; `None` marks a removed entry not yet at the front.
    entries: VecDeque<(u64, Option<V>)>,
    live: usize,
}

impl<V> Default for Pending<V> {
    fn default() -> Self {
        Pending { entries: VecDeque::new(), live: 0 }
    }
}

impl<V> Pending<V> {
    /// Holds `value` under `token`, replacing (and returning) what was there.
    pub fn insert(&mut self, token: u64, value: V) -> Option<V> {
        if self.entries.back().is_none_or(|(t, _)| *t < token) {
            self.entries.push_back((token, Some(value)));
            self.live += 1;
            return None;
        }
        // Out of order (publishes from several threads can reach the channel in another order
        // than they took their tokens): rare.
        match self.position(token) {
            Ok(i) => {
                let old = self.entries[i].1.replace(value);
                if old.is_none() {
                    self.live += 1;
                }
                old
            }
            Err(i) => {
                self.entries.insert(i, (token, Some(value)));
                self.live += 1;
                None
            }
        }
    }

    /// Where `token` is (`Ok`) or would go (`Err`). Tokens are usually contiguous, so the
    /// offset from the front finds it without a search.
    fn position(&self, token: u64) -> Result<usize, usize> {
        if let Some((front, _)) = self.entries.front() {
            if let Some(i) = token.checked_sub(*front).and_then(|d| usize::try_from(d).ok()) {
                if self.entries.get(i).is_some_and(|(t, _)| *t == token) {
                    return Ok(i);
                }
            }
        }
        self.entries.binary_search_by_key(&token, |(t, _)| *t)
    }

    pub fn get(&self, token: u64) -> Option<&V> {
        let i = self.position(token).ok()?;
        self.entries[i].1.as_ref()
    }

    pub fn remove(&mut self, token: u64) -> Option<V> {
        let i = self.position(token).ok()?;
        let value = self.entries[i].1.take()?;
        self.live -= 1;
        while self.entries.front().is_some_and(|(_, v)| v.is_none()) {
            self.entries.pop_front();
        }
        // One old entry that never completes must not keep every later, completed one: drop
        // the holes once they outnumber the live entries.
        let holes = self.entries.len() - self.live;
        if holes > 64 && holes > 2 * self.live {
            self.entries.retain(|(_, v)| v.is_some());
        }
        Some(value)
    }

    /// The oldest token held.
    pub fn first(&self) -> Option<u64> {
        self.entries.front().map(|(t, _)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::Pending;

    #[test]
    fn keeps_the_oldest_first_whatever_the_order_of_insertion_and_removal() {
        let mut p = Pending::default();
        for t in [1u64, 2, 3, 5, 4] {
            assert_eq!(p.insert(t, t * 10), None);
        }
        assert_eq!(p.insert(3, 33), Some(30), "insert replaces");
        assert_eq!((p.live, p.first()), (5, Some(1)));
        assert_eq!(p.remove(2), Some(20));
        assert_eq!(p.first(), Some(1), "a hole in the middle leaves the front alone");
        assert_eq!(p.remove(1), Some(10));
        assert_eq!(p.first(), Some(3), "the holes at the front go with it");
        assert_eq!(p.remove(2), None);
        assert_eq!(p.get(4), Some(&40));
        assert_eq!(p.get(3), Some(&33));
        for t in [3, 4, 5] {
            p.remove(t);
        }
        assert_eq!(p.live, 0);
        assert_eq!(p.first(), None);
    }

    #[test]
    fn one_entry_that_never_completes_does_not_keep_the_completed_ones() {
        let mut p = Pending::default();
        p.insert(0u64, ());
        for t in 1..100_000u64 {
            p.insert(t, ());
            p.remove(t);
        }
        assert_eq!(p.live, 1);
        assert!(p.entries.len() <= 200, "{} entries kept for 1 live", p.entries.len());
        assert_eq!(p.first(), Some(0));
    }
}

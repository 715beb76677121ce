//! The bounded queue of messages waiting to be sent: published while disconnected, or beyond
//! the server's Receive Maximum. Limits in messages and bytes; Message Expiry enforced while
//! waiting.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

use super::outgoing::Outgoing;

/// What happens when a message arrives at a full queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// The caller waits until there is room (the engine answers `QueueFull` and the caller
    /// retries after progress; the blocking faces turn this into a wait).
    #[default]
    Block,
    /// The new message is refused with an error.
    Fail,
    /// The oldest waiting message is dropped (and reported) to make room.
    DropOldest,
}

/// Queue limits. The defaults (1,000 messages, 16 MiB) keep a fast publisher's memory bounded
/// without slowing it: beyond the server's in-flight window a longer queue adds no throughput.
/// Raise them to buffer more while disconnected (Paho C buffers 100 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    pub max_messages: usize,
    pub max_bytes: usize,
    pub overflow: OverflowPolicy,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self { max_messages: 1_000, max_bytes: 16 * 1024 * 1024, overflow: OverflowPolicy::Block }
    }
}

/// FIFO in acceptance (`seq`) order. Expiry deadlines sit in a min-heap with lazy deletion so
/// that finding the next one is O(log n) whatever the queue length.
#[derive(Debug, Default)]
pub(crate) struct SendQueue {
    items: VecDeque<Outgoing>,
    bytes: usize,
    expiries: BinaryHeap<Reverse<(Instant, u64)>>,
}

impl SendQueue {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Would one more message of `weight` bytes exceed the limits?
    pub fn is_full_for(&self, limits: &QueueLimits, weight: usize) -> bool {
        self.items.len() >= limits.max_messages
            || (!self.items.is_empty() && self.bytes + weight > limits.max_bytes)
    }

    pub fn push_back(&mut self, item: Outgoing) {
        self.note(&item);
        self.items.push_back(item);
    }

    /// Put messages back in front, keeping `seq` order (used when a lost session's in-flight
    /// messages are re-published before anything accepted later).
    pub fn push_front_all(&mut self, mut items: Vec<Outgoing>) {
        items.sort_by_key(|m| m.seq);
        for item in items.into_iter().rev() {
            self.note(&item);
            self.items.push_front(item);
        }
    }

    fn note(&mut self, item: &Outgoing) {
        self.bytes += item.weight();
        if let Some(at) = item.expires_at {
            self.expiries.push(Reverse((at, item.seq)));
        }
    }

    pub fn front(&self) -> Option<&Outgoing> {
        self.items.front()
    }

    pub fn pop_front(&mut self) -> Option<Outgoing> {
        let item = self.items.pop_front()?;
        self.bytes -= item.weight();
        Some(item)
    }

    /// The earliest expiry among waiting messages.
    pub fn next_expiry(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, seq))) = self.expiries.peek().copied() {
            if self.position(seq).is_some() {
                return Some(at);
            }
            self.expiries.pop();
        }
        None
    }

    /// Remove and return every waiting message whose expiry is at or before `now`.
    pub fn take_expired(&mut self, now: Instant) -> Vec<Outgoing> {
        let mut expired = Vec::new();
        while let Some(Reverse((at, seq))) = self.expiries.peek().copied() {
            if at > now {
                break;
            }
            self.expiries.pop();
            if let Some(index) = self.position(seq) {
                if let Some(item) = self.items.remove(index) {
                    self.bytes -= item.weight();
                    expired.push(item);
                }
            }
        }
        expired
    }

    /// Messages stay sorted by `seq`, so a binary search finds one.
    fn position(&self, seq: u64) -> Option<usize> {
        self.items.binary_search_by_key(&seq, |m| m.seq).ok()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Outgoing> {
        self.items.iter()
    }
}

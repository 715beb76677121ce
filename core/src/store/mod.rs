//! Durable session state: the one narrow interface through which every change that would
//! have to survive a crash passes.
//!
//! The session engine calls a [`SessionStore`] when an outgoing QoS>0 message is accepted,
//! when its state changes (packet identifier assigned, PUBREC received), when it completes,
//! and when an incoming QoS 2 packet identifier is recorded or released. A store that has seen
//! those calls can rebuild the engine with [`crate::session::Session::restore`]. There are
//! [`MemoryStore`] (the reference, for tests) and [`FileStore`] (an append-only log on disk).
//!
//! With a store set ([`crate::MqttOptions::set_store`]) a QoS 1/2 message is accepted on the
//! publishing thread: under the store's lock it takes the next sequence number, its record is
//! appended and it is handed to the driver's channel (a slot reserved beforehand), so
//! `publish` returns only once the record is written, and channel order is the store's order.
//! Waiting instead for the driver to acknowledge each acceptance would cost the blocking
//! client a thread hand-off per message. The driver appends the later changes (packet
//! identifier assigned, PUBREC received, completed) before the packets that depend on them
//! are written. What survives what: every level `write`s a record before `publish` returns,
//! so everything accepted survives `kill -9` of the process; [`Durability::Batched`] fsyncs
//! within 10 ms (a power loss loses at most that window); [`Durability::Always`] fsyncs before
//! `publish` returns (group commit: one fsync for every publisher waiting) and before
//! PUBREL/PUBREC go out.
//!
//! Every method is fallible: a full disk or an I/O error reaches the application as the error
//! of the `publish` that could not be recorded, or as an event for a later change, never as a
//! panic or a silent loss.

mod file;

use std::collections::{BTreeMap, BTreeSet};
use std::io;

pub use file::{Durability, FileStore, RestoreReport, SessionMeta, DEFAULT_BATCH_INTERVAL, FORMAT_VERSION};

use crate::codec::{PacketId, Publish};
use crate::sync::lock;

/// Where an outgoing message stands in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutgoingState {
    /// Accepted, waiting for a packet identifier (not yet sent).
    Queued,
    /// Sent (at least once); waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    AwaitingAck,
    /// QoS 2: PUBREC received, PUBREL sent; waiting for PUBCOMP.
    AwaitingComp,
}

/// One outgoing message as the store keeps it. `publish.topic` is always the full topic (never
/// an alias) and `publish.packet_id` is set exactly when `state` is not `Queued`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Order of acceptance; also the key.
    pub seq: u64,
    /// The application's token for the delivery.
    pub token: u64,
    pub publish: Publish,
    pub state: OutgoingState,
}

/// Everything a store hands back to rebuild a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredSession {
    /// Outgoing messages in acceptance order.
    pub messages: Vec<StoredMessage>,
    /// Incoming QoS 2 packet identifiers for which PUBREC was sent and PUBREL not yet seen.
    pub incoming_qos2: Vec<PacketId>,
}

/// The persistence seam of the session engine.
///
/// ```
/// use tether_core::store::{MemoryStore, SessionStore};
/// let mut store = MemoryStore::default();
/// assert!(store.load().unwrap().messages.is_empty());
/// ```
pub trait SessionStore: Send {
    /// Insert or replace the message with `message.seq`.
    fn put_outgoing(&mut self, message: &StoredMessage) -> io::Result<()>;
    /// Forget an outgoing message (completed, failed or dropped).
    fn remove_outgoing(&mut self, seq: u64) -> io::Result<()>;
    /// Record that PUBREC was sent for an incoming QoS 2 packet identifier.
    fn put_incoming_qos2(&mut self, packet_id: PacketId) -> io::Result<()>;
    /// Forget an incoming QoS 2 packet identifier (PUBREL arrived).
    fn remove_incoming_qos2(&mut self, packet_id: PacketId) -> io::Result<()>;
    /// Forget incoming QoS 2 state (the server started a new session).
    fn clear_incoming(&mut self) -> io::Result<()>;
    /// Everything stored, messages in `seq` order.
    fn load(&mut self) -> io::Result<StoredSession>;
    /// Called before packets that depend on earlier records (PUBREL, PUBREC) are written to
    /// the network: a store that promises durability makes those records durable here.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A [`SessionStore`] in memory: the reference implementation, and what the tests check
/// the engine against.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    messages: BTreeMap<u64, StoredMessage>,
    incoming_qos2: BTreeSet<PacketId>,
}

impl MemoryStore {
    /// How many outgoing messages are stored.
    pub fn outgoing_len(&self) -> usize {
        self.messages.len()
    }
}

impl SessionStore for MemoryStore {
    fn put_outgoing(&mut self, message: &StoredMessage) -> io::Result<()> {
        self.messages.insert(message.seq, message.clone());
        Ok(())
    }
    fn remove_outgoing(&mut self, seq: u64) -> io::Result<()> {
        self.messages.remove(&seq);
        Ok(())
    }
    fn put_incoming_qos2(&mut self, packet_id: PacketId) -> io::Result<()> {
        self.incoming_qos2.insert(packet_id);
        Ok(())
    }
    fn remove_incoming_qos2(&mut self, packet_id: PacketId) -> io::Result<()> {
        self.incoming_qos2.remove(&packet_id);
        Ok(())
    }
    fn clear_incoming(&mut self) -> io::Result<()> {
        self.incoming_qos2.clear();
        Ok(())
    }
    fn load(&mut self) -> io::Result<StoredSession> {
        Ok(StoredSession {
            messages: self.messages.values().cloned().collect(),
            incoming_qos2: self.incoming_qos2.iter().copied().collect(),
        })
    }
}

/// A store shared between a test and the engine that writes to it.
impl<S: SessionStore + ?Sized> SessionStore for std::sync::Arc<std::sync::Mutex<S>> {
    fn put_outgoing(&mut self, message: &StoredMessage) -> io::Result<()> {
        lock(self).put_outgoing(message)
    }
    fn remove_outgoing(&mut self, seq: u64) -> io::Result<()> {
        lock(self).remove_outgoing(seq)
    }
    fn put_incoming_qos2(&mut self, packet_id: PacketId) -> io::Result<()> {
        lock(self).put_incoming_qos2(packet_id)
    }
    fn remove_incoming_qos2(&mut self, packet_id: PacketId) -> io::Result<()> {
        lock(self).remove_incoming_qos2(packet_id)
    }
    fn clear_incoming(&mut self) -> io::Result<()> {
        lock(self).clear_incoming()
    }
    fn load(&mut self) -> io::Result<StoredSession> {
        lock(self).load()
    }
    fn flush(&mut self) -> io::Result<()> {
        lock(self).flush()
    }
}

//! One outgoing application message as the engine tracks it from acceptance to completion.

use std::time::Instant;

use crate::codec::{PacketId, Publish};
use crate::store::{OutgoingState, StoredMessage};

/// An outgoing message. `publish.topic` is always the full topic; aliases are applied only to
/// the copy that goes on the wire.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub seq: u64,
    pub token: u64,
    pub publish: Publish,
    pub state: OutgoingState,
    /// When the Message Expiry Interval runs out, measured from acceptance.
    pub expires_at: Option<Instant>,
    /// The connection (epoch) on which the PUBLISH or PUBREL last went out; anything from an
    /// earlier epoch must be sent again after a resume.
    pub sent_epoch: u64,
    /// Times the server refused it with 0x97 Quota exceeded; see [`super::QuotaRetry`].
    pub quota_refusals: u8,
}

impl Outgoing {
    /// Bytes this message counts against the queue's byte limit.
    pub fn weight(&self) -> usize {
        self.publish.payload.len() + self.publish.topic.len()
    }

    pub fn packet_id(&self) -> Option<PacketId> {
        self.publish.packet_id
    }

    pub fn to_stored(&self) -> StoredMessage {
        StoredMessage { seq: self.seq, token: self.token, publish: self.publish.clone(), state: self.state }
    }
}

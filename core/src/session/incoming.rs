//! Incoming QoS 1 and QoS 2 state: exactly-once bookkeeping, acknowledgements in the order the
//! specification requires, and our own Receive Maximum enforced on the server.

use std::collections::VecDeque;

use rustc_hash::FxHashSet as HashSet;

use crate::codec::{PacketId, QoS};

/// One received QoS>0 PUBLISH whose acknowledgement has not been sent yet.
#[derive(Debug, Clone, Copy)]
struct PendingAck {
    packet_id: PacketId,
    qos: QoS,
    acked: bool,
    /// False once the session this ack belonged to is gone: the ack is then never sent.
    live: bool,
}

/// What the engine must send once acknowledgements became due.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DueAck {
    PubAck(PacketId),
    PubRec(PacketId),
}

#[derive(Debug, Default)]
pub(crate) struct Incoming {
    /// QoS 2 packet identifiers delivered to the application whose PUBREL has not arrived
    /// (PUBREC sent or about to be sent): a PUBLISH carrying one of them is a re-delivery
    /// and must not reach the application again ([MQTT-4.3.3-9]).
    qos2: HashSet<PacketId>,
    /// QoS 1 packet identifiers delivered and not yet acknowledged (manual acks): a DUP
    /// re-delivery of one of them is the same message and is not delivered twice.
    qos1_unacked: HashSet<PacketId>,
    /// Acknowledgements in arrival order; ack ids are consecutive, `first_ack_id` is the id of
    /// the front entry, so acking is O(1).
    pending: VecDeque<PendingAck>,
    first_ack_id: u64,
    /// QoS>0 PUBLISH received on this connection minus PUBACK/PUBCOMP sent on it: the server's
    /// view of its send quota towards us (4.9).
    in_flight_on_connection: u32,
}

impl Incoming {
    /// Rebuild from stored QoS 2 identifiers (after a process restart).
    pub fn restore(qos2: impl IntoIterator<Item = PacketId>) -> Self {
        Self { qos2: qos2.into_iter().collect(), ..Self::default() }
    }

    pub fn connection_opened(&mut self) {
        self.in_flight_on_connection = 0;
    }

    /// The server started a new session: every incoming bookkeeping is void
    /// ([MQTT-4.1.0-2]); acks still held by the application will not be sent.
    pub fn session_discarded(&mut self) {
        self.qos2.clear();
        self.qos1_unacked.clear();
        for p in &mut self.pending {
            p.live = false;
        }
    }

    /// Count a QoS>0 PUBLISH against our Receive Maximum; false when the server exceeded it
    /// ([MQTT-3.3.4-9]: a DISCONNECT with 0x93 follows).
    pub fn admit(&mut self, receive_maximum: u16) -> bool {
        self.in_flight_on_connection += 1;
        self.in_flight_on_connection <= u32::from(receive_maximum)
    }

    /// An acknowledgement that ends a flow (PUBACK or PUBCOMP) went out.
    pub fn flow_completed(&mut self) {
        self.in_flight_on_connection = self.in_flight_on_connection.saturating_sub(1);
    }

    pub fn is_duplicate(&self, qos: QoS, packet_id: PacketId) -> bool {
        match qos {
            QoS::AtMostOnce => false,
            QoS::AtLeastOnce => self.qos1_unacked.contains(&packet_id),
            QoS::ExactlyOnce => self.qos2.contains(&packet_id),
        }
    }

    /// A PUBLISH was accepted for delivery: returns its ack id. Returns true in the second
    /// field when this is a new QoS 2 identifier that the store must record.
    pub fn delivered(&mut self, qos: QoS, packet_id: PacketId) -> (u64, bool) {
        let new_qos2 = match qos {
            QoS::AtMostOnce => false,
            QoS::AtLeastOnce => {
                self.qos1_unacked.insert(packet_id);
                false
            }
            QoS::ExactlyOnce => self.qos2.insert(packet_id),
        };
        let id = self.first_ack_id + self.pending.len() as u64;
        self.pending.push_back(PendingAck { packet_id, qos, acked: false, live: true });
        (id, new_qos2)
    }

    /// Is a QoS 2 duplicate still waiting for the application's ack (then its PUBREC is not
    /// due yet)?
    pub fn awaiting_application(&self, packet_id: PacketId) -> bool {
        self.pending.iter().any(|p| p.live && !p.acked && p.packet_id == packet_id)
    }

    /// The application acknowledged `ack_id`. Returns false for an unknown or repeated id.
    pub fn ack(&mut self, ack_id: u64) -> bool {
        let Some(index) = ack_id.checked_sub(self.first_ack_id) else { return false };
        match self.pending.get_mut(index as usize) {
            Some(p) if !p.acked => {
                p.acked = true;
                true
            }
            _ => false,
        }
    }

    /// Acks at the front whose application ack arrived, in arrival order
    /// ([MQTT-4.6.0-2] PUBACK and [MQTT-4.6.0-3] PUBREC in the order the PUBLISH arrived).
    pub fn pop_due(&mut self) -> Option<DueAck> {
        loop {
            let front = self.pending.front()?;
            if !front.acked && front.live {
                return None;
            }
            let p = self.pending.pop_front()?;
            self.first_ack_id += 1;
            if !p.live {
                continue;
            }
            return Some(match p.qos {
                QoS::AtLeastOnce => {
                    self.qos1_unacked.remove(&p.packet_id);
                    DueAck::PubAck(p.packet_id)
                }
                _ => DueAck::PubRec(p.packet_id),
            });
        }
    }

    /// PUBREL arrived: true when the identifier was known (and is now released).
    pub fn release(&mut self, packet_id: PacketId) -> bool {
        self.qos2.remove(&packet_id)
    }

    pub fn qos2_len(&self) -> usize {
        self.qos2.len()
    }
}

//! Incoming QoS 1 and QoS 2 state: exactly-once bookkeeping, acknowledgements in the order the
//! specification requires, and our own Receive Maximum enforced on the server.
//!
//! **Acknowledgements across a reconnect.** An acknowledgement answers a PUBLISH on the
//! connection it arrived on. When that connection is gone before the acknowledgement went out
//! (the application acknowledged while disconnected, or still holds the message), it is never
//! sent on its own on the next connection: a server that resumes the session resends the
//! PUBLISH ([MQTT-4.4.0-1]), and that resend is answered exactly once — at once when the
//! application has acknowledged, else when it does, in arrival order. The resend is the same
//! message, so it never reaches the application a second time. Sending the kept ack
//! unprompted would answer the resend twice, and acknowledge whatever the server sent next
//! under that packet identifier.

use std::collections::VecDeque;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::codec::{PacketId, QoS};

/// One received QoS>0 PUBLISH whose acknowledgement has not been sent yet.
#[derive(Debug, Clone, Copy)]
struct PendingAck {
    packet_id: PacketId,
    qos: QoS,
    acked: bool,
    /// False once the session this ack belonged to is gone: the ack is then never sent.
    live: bool,
    /// The PUBLISH arrived (or was resent) on the current connection: only then may its
    /// acknowledgement go out.
    armed: bool,
    /// Sent, or handed over to `answered_later`; the entry waits only to leave the front.
    settled: bool,
}

/// What an incoming QoS>0 PUBLISH is, given what the application already has.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Redelivery {
    /// A new message: deliver it.
    New,
    /// The same message, still held by the application or waiting for its turn: nothing now.
    Held,
    /// The same message, already acknowledged: answer it with this, once.
    Answer(DueAck),
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
    /// Acknowledgements in arrival order; ack ids are consecutive, `first_ack_id` is the id of
    /// the front entry, so acking is O(1).
    pending: VecDeque<PendingAck>,
    first_ack_id: u64,
    /// Acknowledgements made on a connection that closed before they were handed to the
    /// transport: answered when the server resends that PUBLISH on a resumed session.
    answered_later: HashMap<PacketId, QoS>,
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
        for p in &mut self.pending {
            p.armed = false;
        }
    }

    /// The transport closed before these acknowledgements were handed to it: they were
    /// never sent, so they wait for the server's resend like any other kept acknowledgement.
    pub fn unsent(&mut self, packet_id: PacketId, qos: QoS) {
        self.answered_later.insert(packet_id, qos);
    }

    /// The server started a new session: every incoming bookkeeping is void
    /// ([MQTT-4.1.0-2]); acks still held by the application will not be sent.
    pub fn session_discarded(&mut self) {
        self.qos2.clear();
        self.answered_later.clear();
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

    /// Is a QoS>0 PUBLISH with `packet_id` one the application already has, and what does it
    /// need? Arms a kept acknowledgement, so that `pop_due` may send it on this connection.
    pub fn redelivery(&mut self, qos: QoS, packet_id: PacketId, dup: bool) -> Redelivery {
        // A resend carries DUP ([MQTT-3.3.1-1]); only a QoS 2 identifier not yet released is
        // the same message whatever its DUP says ([MQTT-4.3.3-9]). Anything else is new, without
        // a search through what the application holds (thousands under manual acks).
        let known_qos2 = qos == QoS::ExactlyOnce && self.qos2.contains(&packet_id);
        if qos == QoS::AtMostOnce || !(dup || known_qos2) {
            return Redelivery::New;
        }
        // Still waiting for the application, or for its turn: the ack goes out once, in order.
        let held = self.pending.iter_mut().find(|p| p.live && !p.settled && p.packet_id == packet_id);
        if let Some(p) = held {
            p.armed = true;
            return Redelivery::Held;
        }
        // Its acknowledgement never left: this resend is what it answers.
        if let Some(q) = self.answered_later.remove(&packet_id) {
            return Redelivery::Answer(if q == QoS::AtLeastOnce {
                DueAck::PubAck(packet_id)
            } else {
                DueAck::PubRec(packet_id)
            });
        }
        // 4.3.3 (QoS 2, receiver side): PUBREC went out on an earlier connection and no PUBREL came: the
        // same message, answered with PUBREC again and not delivered again.
        if qos == QoS::ExactlyOnce && self.qos2.contains(&packet_id) {
            return Redelivery::Answer(DueAck::PubRec(packet_id));
        }
        Redelivery::New
    }

    /// A PUBLISH was accepted for delivery: returns its ack id. Returns true in the second
    /// field when this is a new QoS 2 identifier that the store must record.
    pub fn delivered(&mut self, qos: QoS, packet_id: PacketId) -> (u64, bool) {
        let new_qos2 = match qos {
            QoS::AtMostOnce | QoS::AtLeastOnce => false,
            QoS::ExactlyOnce => self.qos2.insert(packet_id),
        };
        let id = self.first_ack_id + self.pending.len() as u64;
        self.pending.push_back(PendingAck {
            packet_id,
            qos,
            acked: false,
            live: true,
            armed: true,
            settled: false,
        });
        (id, new_qos2)
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

    /// The next acknowledgement that may go out on this connection, in the order the
    /// PUBLISH packets arrived on it ([MQTT-4.6.0-2] PUBACK, [MQTT-4.6.0-3] PUBREC). An entry
    /// whose PUBLISH came on an earlier connection holds nothing back: it waits in place,
    /// acknowledged or not, until the server's resend arms it.
    pub fn pop_due(&mut self) -> Option<DueAck> {
        let mut i = 0;
        // Bounded: each round settles or pops an entry, or moves past one.
        for _ in 0..2 * self.pending.len() + 1 {
            let p = self.pending.get_mut(i)?;
            if !p.live || p.settled {
                if i == 0 {
                    self.pending.pop_front();
                    self.first_ack_id += 1;
                } else {
                    i += 1;
                }
                continue;
            }
            match (p.armed, p.acked) {
                (true, false) => return None,
                // Waits in place for the server's resend, which arms it: its ack then keeps
                // its place in the order.
                (false, _) => i += 1,
                (true, true) => {
                    p.settled = true;
                    let (id, qos) = (p.packet_id, p.qos);
                    return Some(match qos {
                        QoS::AtLeastOnce => DueAck::PubAck(id),
                        _ => DueAck::PubRec(id),
                    });
                }
            }
        }
        None
    }

    /// PUBREL arrived: true when the identifier was known (and is now released).
    pub fn release(&mut self, packet_id: PacketId) -> bool {
        self.qos2.remove(&packet_id)
    }

    pub fn qos2_len(&self) -> usize {
        self.qos2.len()
    }
}

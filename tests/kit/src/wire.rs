//! The proxy's wire log of flow-control-relevant packets and its analysis: how many QoS 1/2
//! messages were unfinished at once against the server's Receive Maximum, which
//! acknowledgements refused a message, which ones the client sent twice or unprompted.
//!
//! [`analyze`] is pure, so a test can check it on hand-built logs as well as on
//! [`FaultProxy::wire_log`](crate::FaultProxy::wire_log).

use std::collections::HashMap;

use crate::mqtt::{CONNACK, PUBACK, PUBCOMP, PUBLISH, PUBREC};
use crate::proxy::Direction;

/// A reason code at or above this one is a failure (MQTT 5.0, 2.4).
const FAILURE: u8 = 0x80;
/// What an absent Receive Maximum means (MQTT 5.0, 3.2.2.3.3).
const DEFAULT_RECEIVE_MAXIMUM: u16 = 65535;
/// Entries of each list printed by [`WireReport::to_json`]; the counts are always complete.
const JSON_LIST_CAP: usize = 100;

/// One packet seen by the proxy: a PUBLISH at QoS 1 or 2, a PUBACK, PUBREC, PUBREL or PUBCOMP,
/// or a CONNACK, in either direction. One flat record for all of them (fields that do not apply
/// to a packet type are `None` / 0 / false) so that a log is cheap to store and to build by hand.
///
/// | packet        | `packet_id` | `qos`, `dup` | `reason_code` | `session_present`, `receive_maximum` |
/// |---------------|-------------|--------------|---------------|--------------------------------------|
/// | PUBLISH (3)   | `Some`      | yes          | 0             | false, `None`                        |
/// | ack (4 to 7)  | `Some`      | 0, false     | yes           | false, `None`                        |
/// | CONNACK (2)   | `None`      | 0, false     | yes           | yes                                  |
///
/// QoS 0 PUBLISHes are not logged: they have no id and are never unfinished.
///
/// ```
/// use tether_testkit::mqtt::PUBACK;
/// use tether_testkit::wire::WireRecord;
/// use tether_testkit::Direction;
/// // The server acknowledged id 7 on the first connection with 0x97 (Quota exceeded).
/// let r = WireRecord::ack(1, Direction::ServerToClient, PUBACK, 7, 0x97);
/// assert_eq!(r.packet_id, Some(7));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireRecord {
    /// The proxy's connection number (1 for the first proxied connection, then 2, ...).
    pub connection: u64,
    /// Which way the packet went.
    pub direction: Direction,
    /// 2 CONNACK, 3 PUBLISH, 4 PUBACK, 5 PUBREC, 6 PUBREL, 7 PUBCOMP (see [`crate::mqtt`]).
    pub packet_type: u8,
    /// The packet identifier (PUBLISH and acknowledgements).
    pub packet_id: Option<u16>,
    /// PUBLISH QoS (1 or 2).
    pub qos: u8,
    /// PUBLISH DUP flag.
    pub dup: bool,
    /// Reason code of an acknowledgement or CONNACK.
    pub reason_code: u8,
    /// CONNACK Session Present flag.
    pub session_present: bool,
    /// CONNACK Receive Maximum property, when present.
    pub receive_maximum: Option<u16>,
}

impl WireRecord {
    /// A PUBLISH with a packet id (QoS 1 or 2).
    ///
    /// ```
    /// use tether_testkit::{wire::WireRecord, Direction};
    /// let r = WireRecord::publish(2, Direction::ClientToServer, 9, 1, true); // a DUP resend
    /// assert!(r.dup);
    /// ```
    pub fn publish(connection: u64, direction: Direction, packet_id: u16, qos: u8, dup: bool) -> Self {
        WireRecord {
            packet_id: Some(packet_id),
            qos,
            dup,
            ..WireRecord::bare(connection, direction, PUBLISH)
        }
    }

    /// A PUBACK, PUBREC, PUBREL or PUBCOMP (`packet_type` 4 to 7).
    ///
    /// ```
    /// use tether_testkit::{mqtt::PUBREC, wire::WireRecord, Direction};
    /// let r = WireRecord::ack(1, Direction::ClientToServer, PUBREC, 3, 0);
    /// assert_eq!(r.packet_type, PUBREC);
    /// ```
    pub fn ack(
        connection: u64,
        direction: Direction,
        packet_type: u8,
        packet_id: u16,
        reason_code: u8,
    ) -> Self {
        WireRecord {
            packet_id: Some(packet_id),
            reason_code,
            ..WireRecord::bare(connection, direction, packet_type)
        }
    }

    /// A CONNACK (always server→client).
    ///
    /// ```
    /// use tether_testkit::wire::WireRecord;
    /// let r = WireRecord::connack(1, false, 0x00, Some(20));
    /// assert_eq!(r.receive_maximum, Some(20));
    /// ```
    pub fn connack(
        connection: u64,
        session_present: bool,
        reason_code: u8,
        receive_maximum: Option<u16>,
    ) -> Self {
        WireRecord {
            reason_code,
            session_present,
            receive_maximum,
            ..WireRecord::bare(connection, Direction::ServerToClient, CONNACK)
        }
    }

    fn bare(connection: u64, direction: Direction, packet_type: u8) -> Self {
        WireRecord {
            connection,
            direction,
            packet_type,
            packet_id: None,
            qos: 0,
            dup: false,
            reason_code: 0,
            session_present: false,
            receive_maximum: None,
        }
    }
}

/// One acknowledgement singled out by [`analyze`].
///
/// ```
/// use tether_testkit::wire::AckRef;
/// let a = AckRef { connection: 1, packet_type: 4, packet_id: 7, reason_code: 0x97 };
/// assert_eq!(a.to_json(), r#"{"connection":1,"packet_type":4,"packet_id":7,"reason_code":151}"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckRef {
    /// The proxy's connection number.
    pub connection: u64,
    /// 4 PUBACK or 5 PUBREC.
    pub packet_type: u8,
    /// The acknowledged packet id.
    pub packet_id: u16,
    /// The acknowledgement's reason code.
    pub reason_code: u8,
}

impl AckRef {
    fn of(r: &WireRecord, packet_id: u16) -> Self {
        AckRef { connection: r.connection, packet_type: r.packet_type, packet_id, reason_code: r.reason_code }
    }

    /// This entry as a one-line JSON object.
    ///
    /// ```
    /// let a = tether_testkit::wire::AckRef { connection: 2, packet_type: 5, packet_id: 1, reason_code: 0 };
    /// assert!(a.to_json().starts_with("{\"connection\":2,"));
    /// ```
    pub fn to_json(&self) -> String {
        format!(
            "{{\"connection\":{},\"packet_type\":{},\"packet_id\":{},\"reason_code\":{}}}",
            self.connection, self.packet_type, self.packet_id, self.reason_code
        )
    }
}

/// What [`analyze`] found in a wire log.
///
/// ```
/// use tether_testkit::wire::{analyze, WireRecord};
/// let report = analyze(&[WireRecord::connack(1, false, 0, Some(10))]);
/// assert_eq!(report.receive_maximum_up, 10);
/// assert_eq!(report.max_unfinished_up, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireReport {
    /// Records analysed.
    pub records: usize,
    /// Records the proxy could not log because its log was full (set by
    /// [`FaultProxy::wire_report`](crate::FaultProxy::wire_report); [`analyze`] leaves it 0). When
    /// not 0 the rest of the report covers only the start of the traffic.
    pub dropped_records: u64,
    /// The most client→server QoS 1/2 messages unfinished at once: published and not yet
    /// answered by the server with PUBACK, a failing PUBREC (reason >= 0x80) or PUBCOMP.
    pub max_unfinished_up: usize,
    /// The same for server→client messages, answered by the client.
    pub max_unfinished_down: usize,
    /// Client→server messages still unfinished at the end of the log.
    pub unfinished_up_at_end: usize,
    /// Server→client messages still unfinished at the end of the log.
    pub unfinished_down_at_end: usize,
    /// The smallest Receive Maximum any CONNACK announced (65535 when absent or no CONNACK).
    pub receive_maximum_up: u16,
    /// Server→client PUBACK/PUBREC with a reason code >= 0x80 (e.g. 0x97 Quota exceeded).
    pub error_acks_from_server: Vec<AckRef>,
    /// A client PUBACK (or PUBREC) for an id it had already acknowledged that way on the same
    /// connection with no server→client PUBLISH of that id in between: more acks than deliveries.
    pub duplicate_acks_from_client: Vec<AckRef>,
    /// A client PUBACK/PUBREC for an id the server had not published on that connection (so far),
    /// as when a client re-sends, after a reconnect, an acknowledgement it had kept.
    pub client_acks_without_publish: Vec<AckRef>,
}

impl WireReport {
    /// The report as one line of JSON (as printed by the binary's `wire-report`). Each list is
    /// cut to its first 100 entries; `<list>_count` gives its full length.
    ///
    /// ```
    /// let r = tether_testkit::wire::analyze(&[]);
    /// assert!(r.to_json().contains("\"receive_maximum_up\":65535"));
    /// assert!(r.to_json().contains("\"error_acks_from_server\":[],\"error_acks_from_server_count\":0"));
    /// ```
    pub fn to_json(&self) -> String {
        format!(
            "{{\"records\":{},\"dropped_records\":{},\"max_unfinished_up\":{},\"max_unfinished_down\":{},\
             \"unfinished_up_at_end\":{},\"unfinished_down_at_end\":{},\"receive_maximum_up\":{},\
             \"error_acks_from_server\":{},\"error_acks_from_server_count\":{},\
             \"duplicate_acks_from_client\":{},\"duplicate_acks_from_client_count\":{},\
             \"client_acks_without_publish\":{},\"client_acks_without_publish_count\":{}}}",
            self.records,
            self.dropped_records,
            self.max_unfinished_up,
            self.max_unfinished_down,
            self.unfinished_up_at_end,
            self.unfinished_down_at_end,
            self.receive_maximum_up,
            json_list(&self.error_acks_from_server),
            self.error_acks_from_server.len(),
            json_list(&self.duplicate_acks_from_client),
            self.duplicate_acks_from_client.len(),
            json_list(&self.client_acks_without_publish),
            self.client_acks_without_publish.len(),
        )
    }
}

fn json_list(list: &[AckRef]) -> String {
    let items: Vec<String> = list.iter().take(JSON_LIST_CAP).map(AckRef::to_json).collect();
    format!("[{}]", items.join(","))
}

/// Unfinished packet ids of one direction, each with the connection it was last published on:
/// a clean CONNACK on connection `c` ends the session before it, not what the client already
/// sent on `c` (a client may publish before the CONNACK arrives).
#[derive(Default)]
struct Unfinished {
    ids: HashMap<u16, u64>,
    max: usize,
}

impl Unfinished {
    fn publish(&mut self, id: u16, connection: u64) {
        // A DUP resend (or a reuse of an unfinished id) is the same message, not one more.
        self.ids.insert(id, connection);
        self.max = self.max.max(self.ids.len());
    }

    fn finish(&mut self, id: u16) {
        self.ids.remove(&id);
    }

    fn new_session(&mut self, connection: u64) {
        self.ids.retain(|_, c| *c >= connection);
    }
}

/// Per connection and packet id, what the server delivered and the client acknowledged.
#[derive(Default, Clone, Copy)]
struct Delivery {
    /// The server published this id on this connection.
    published: bool,
    /// The client has answered the last delivery with a PUBACK / with a PUBREC.
    acked: [bool; 2],
}

/// Analyses a wire log in order. Assumes the log is one client's traffic, one connection after
/// the other (as the proxy numbers them); for several clients, filter by connection first.
/// Unfinished messages carry over from one connection to the next (the session persists), except
/// that a successful CONNACK (reason < 0x80) without Session Present starts an empty session.
///
/// The counts are from the proxy's place on the wire, between client and server: a message is
/// unfinished from when its PUBLISH passes the proxy until its final acknowledgement does. As the
/// client learns of an acknowledgement only later, `max_unfinished_up` never overstates what the
/// client had in flight, so `max_unfinished_up > receive_maximum_up` is always a client fault.
///
/// ```
/// use tether_testkit::mqtt::{PUBACK, PUBCOMP, PUBREC, PUBREL};
/// use tether_testkit::wire::{analyze, WireRecord};
/// use tether_testkit::Direction::{ClientToServer as Up, ServerToClient as Down};
/// let log = [
///     WireRecord::connack(1, false, 0, Some(2)),
///     WireRecord::publish(1, Up, 1, 1, false),
///     WireRecord::publish(1, Up, 2, 2, false),
///     WireRecord::ack(1, Down, PUBACK, 1, 0),
///     WireRecord::ack(1, Down, PUBREC, 2, 0),
///     WireRecord::ack(1, Up, PUBREL, 2, 0),
///     WireRecord::ack(1, Down, PUBCOMP, 2, 0),
/// ];
/// let r = analyze(&log);
/// assert_eq!((r.max_unfinished_up, r.receive_maximum_up, r.unfinished_up_at_end), (2, 2, 0));
/// ```
pub fn analyze(log: &[WireRecord]) -> WireReport {
    let mut report = WireReport {
        records: log.len(),
        receive_maximum_up: DEFAULT_RECEIVE_MAXIMUM,
        ..WireReport::default()
    };
    let mut up = Unfinished::default();
    let mut down = Unfinished::default();
    let mut deliveries: HashMap<(u64, u16), Delivery> = HashMap::new();
    for r in log {
        let failed = r.reason_code >= FAILURE;
        match (r.direction, r.packet_type, r.packet_id) {
            (Direction::ServerToClient, CONNACK, _) => {
                let rm = r.receive_maximum.unwrap_or(DEFAULT_RECEIVE_MAXIMUM);
                report.receive_maximum_up = report.receive_maximum_up.min(rm);
                // A refused connection leaves the server's session as it was.
                if !failed && !r.session_present {
                    up.new_session(r.connection);
                    down.new_session(r.connection);
                }
            }
            (Direction::ClientToServer, PUBLISH, Some(id)) if r.qos > 0 => up.publish(id, r.connection),
            (Direction::ServerToClient, PUBLISH, Some(id)) if r.qos > 0 => {
                down.publish(id, r.connection);
                deliveries.insert((r.connection, id), Delivery { published: true, acked: [false; 2] });
            }
            (Direction::ServerToClient, PUBACK | PUBREC, Some(id)) => {
                if r.packet_type == PUBACK || failed {
                    up.finish(id);
                }
                if failed {
                    report.error_acks_from_server.push(AckRef::of(r, id));
                }
            }
            (Direction::ClientToServer, PUBACK | PUBREC, Some(id)) => {
                if r.packet_type == PUBACK || failed {
                    down.finish(id);
                }
                let d = deliveries.entry((r.connection, id)).or_default();
                if !d.published {
                    report.client_acks_without_publish.push(AckRef::of(r, id));
                }
                let kind = usize::from(r.packet_type == PUBREC);
                if d.acked[kind] {
                    report.duplicate_acks_from_client.push(AckRef::of(r, id));
                }
                d.acked[kind] = true;
            }
            (Direction::ServerToClient, PUBCOMP, Some(id)) => up.finish(id),
            (Direction::ClientToServer, PUBCOMP, Some(id)) => down.finish(id),
            _ => {}
        }
    }
    report.max_unfinished_up = up.max;
    report.max_unfinished_down = down.max;
    report.unfinished_up_at_end = up.ids.len();
    report.unfinished_down_at_end = down.ids.len();
    report
}

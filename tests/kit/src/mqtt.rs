//! An incremental, never-panicking reader of an MQTT byte stream, used by the fault proxy to
//! observe the flow-control-relevant packets of either direction (PUBLISH heads, the four
//! publish acknowledgements, CONNACK) without buffering payloads.

/// CONNACK's packet type (the high nibble of the first byte).
///
/// ```
/// assert_eq!(tether_testkit::mqtt::CONNACK, 0x20 >> 4);
/// ```
pub const CONNACK: u8 = 2;
/// PUBLISH's packet type.
///
/// ```
/// assert_eq!(tether_testkit::mqtt::PUBLISH, 0x32 >> 4);
/// ```
pub const PUBLISH: u8 = 3;
/// PUBACK's packet type (QoS 1 acknowledgement).
///
/// ```
/// assert_eq!(tether_testkit::mqtt::PUBACK, 0x40 >> 4);
/// ```
pub const PUBACK: u8 = 4;
/// PUBREC's packet type (QoS 2, first step).
///
/// ```
/// assert_eq!(tether_testkit::mqtt::PUBREC, 0x50 >> 4);
/// ```
pub const PUBREC: u8 = 5;
/// PUBREL's packet type (QoS 2, second step).
///
/// ```
/// assert_eq!(tether_testkit::mqtt::PUBREL, 0x62 >> 4);
/// ```
pub const PUBREL: u8 = 6;
/// PUBCOMP's packet type (QoS 2, last step).
///
/// ```
/// assert_eq!(tether_testkit::mqtt::PUBCOMP, 0x70 >> 4);
/// ```
pub const PUBCOMP: u8 = 7;
/// The CONNACK property id of Receive Maximum (MQTT 5.0, 3.2.2.3.3).
const PROP_RECEIVE_MAXIMUM: u32 = 0x21;

/// Something the [`StreamParser`] recognised in the stream.
///
/// ```
/// use tether_testkit::mqtt::{ParseEvent, StreamParser};
/// let mut p = StreamParser::new();
/// let mut events = Vec::new();
/// p.feed(&[0xC0, 0x00], |e| events.push(e)); // PINGREQ
/// assert_eq!(events, vec![ParseEvent::Packet { packet_type: 12 }]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseEvent {
    /// A packet's fixed header was read (type 1..=15, 0 is reserved but reported as seen).
    Packet {
        /// The packet type, the high nibble of the first byte (3 = PUBLISH, 2 = CONNACK...).
        packet_type: u8,
    },
    /// The start of a PUBLISH was read up to its packet id.
    Publish(PublishInfo),
    /// A PUBACK, PUBREC, PUBREL or PUBCOMP was read up to its reason code.
    Ack(AckInfo),
    /// A whole CONNACK was read (reported when its body ends, as Receive Maximum may be its
    /// last property).
    ConnAck {
        /// The Session Present flag (bit 0 of the acknowledge flags).
        session_present: bool,
        /// The Connect Reason Code (0x00 Success; >= 0x80 a refusal).
        reason_code: u8,
        /// The Receive Maximum property, if the server announced one (absent means 65535).
        receive_maximum: Option<u16>,
    },
}

/// The head of a PUBACK, PUBREC, PUBREL or PUBCOMP packet.
///
/// ```
/// use tether_testkit::mqtt::{AckInfo, ParseEvent, StreamParser, PUBACK};
/// let mut p = StreamParser::new();
/// let mut acks = Vec::new();
/// p.feed(&[0x40, 0x03, 0x00, 0x05, 0x97], |e| if let ParseEvent::Ack(a) = e { acks.push(a) });
/// assert_eq!(acks, vec![AckInfo { packet_type: PUBACK, packet_id: 5, reason_code: 0x97 }]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckInfo {
    /// 4 PUBACK, 5 PUBREC, 6 PUBREL or 7 PUBCOMP.
    pub packet_type: u8,
    /// The packet identifier being acknowledged.
    pub packet_id: u16,
    /// The reason code; 0x00 (Success) when the packet is too short to carry one, as MQTT 5
    /// allows and MQTT 3.1.1 always does.
    pub reason_code: u8,
}

/// The head of a PUBLISH packet.
///
/// ```
/// use tether_testkit::mqtt::PublishInfo;
/// let p = PublishInfo { packet_id: Some(5), qos: 1, dup: true, retain: false, topic: "t".into() };
/// assert!(p.dup);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishInfo {
    /// The packet identifier (present when QoS > 0).
    pub packet_id: Option<u16>,
    /// QoS 0, 1 or 2.
    pub qos: u8,
    /// The DUP flag (bit 3 of the first byte).
    pub dup: bool,
    /// The RETAIN flag (bit 0).
    pub retain: bool,
    /// The topic name (lossy UTF-8; empty when a topic alias is used).
    pub topic: String,
}

#[derive(Debug)]
enum State {
    /// Waiting for a fixed header's first byte.
    Header,
    /// Reading the remaining-length variable byte integer.
    Length { first: u8, value: u32, shift: u32 },
    /// Inside a packet body with `remaining` bytes left.
    Body { remaining: u32, head: Head },
    /// The stream cannot be followed any more (invalid length encoding).
    Broken,
}

/// The part of a packet body still to be read before its event can be reported.
#[derive(Debug)]
enum Head {
    /// Nothing more is wanted from this body: skip it.
    Skip,
    Publish(PublishHead),
    Ack(AckHead),
    ConnAck(ConnAckHead),
}

#[derive(Debug)]
struct AckHead {
    packet_type: u8,
    /// Bytes wanted: the packet id, and the reason code when the body has one.
    want: u8,
    buf: [u8; 3],
    len: u8,
}

impl AckHead {
    fn finish(&self) -> AckInfo {
        AckInfo {
            packet_type: self.packet_type,
            packet_id: u16::from_be_bytes([self.buf[0], self.buf[1]]),
            reason_code: if self.want >= 3 { self.buf[2] } else { 0 },
        }
    }
}

/// How the value of a property is encoded (MQTT 5.0, 2.2.2.2), which is all that is needed to
/// skip it.
#[derive(Debug, Clone, Copy)]
enum PropKind {
    Fixed(u8),
    VarInt,
    /// `n` length-prefixed strings (UTF-8 string or binary data: 1; string pair: 2).
    Prefixed(u8),
}

fn prop_kind(id: u32) -> Option<PropKind> {
    Some(match id {
        0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => PropKind::Fixed(1),
        0x13 | 0x21 | 0x22 | 0x23 => PropKind::Fixed(2),
        0x02 | 0x11 | 0x18 | 0x27 => PropKind::Fixed(4),
        0x0B => PropKind::VarInt,
        0x03 | 0x08 | 0x09 | 0x12 | 0x15 | 0x16 | 0x1A | 0x1C | 0x1F => PropKind::Prefixed(1),
        0x26 => PropKind::Prefixed(2),
        _ => return None,
    })
}

/// Where the CONNACK property reader is inside one property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prop {
    Id { value: u32, shift: u32 },
    Fixed { id: u32, left: u8, acc: u32 },
    VarInt { shift: u32 },
    Length { strings_left: u8, hi: Option<u8> },
    Bytes { strings_left: u8, left: u16 },
}

const PROP_START: Prop = Prop::Id { value: 0, shift: 0 };

#[derive(Debug, Clone, Copy)]
enum Props {
    /// Reading the property length (a variable byte integer).
    Length { value: u32, shift: u32 },
    /// Inside the properties, `left` bytes of them to go.
    In { left: u32, prop: Prop },
    /// All read, or not followable (`bad`): the rest of the body is skipped.
    Done,
}

/// A CONNACK read byte by byte, so that nothing of it is buffered however long its properties
/// (user properties, reason string) are.
#[derive(Debug)]
struct ConnAckHead {
    flags: Option<u8>,
    reason: Option<u8>,
    props: Props,
    receive_maximum: Option<u16>,
    bad: bool,
}

impl ConnAckHead {
    fn new() -> Self {
        ConnAckHead {
            flags: None,
            reason: None,
            props: Props::Length { value: 0, shift: 0 },
            receive_maximum: None,
            bad: false,
        }
    }

    fn wants_more(&self) -> bool {
        !matches!(self.props, Props::Done)
    }

    fn push(&mut self, b: u8) {
        if self.flags.is_none() {
            self.flags = Some(b);
            return;
        }
        if self.reason.is_none() {
            self.reason = Some(b);
            return;
        }
        self.props = match self.props {
            Props::Done => Props::Done,
            Props::Length { value, shift } => {
                let value = value | (u32::from(b & 0x7F) << shift);
                if b & 0x80 == 0 {
                    if value == 0 {
                        Props::Done
                    } else {
                        Props::In { left: value, prop: PROP_START }
                    }
                } else if shift >= 21 {
                    self.bad = true;
                    Props::Done
                } else {
                    Props::Length { value, shift: shift + 7 }
                }
            }
            Props::In { left, prop } => match self.prop_byte(prop, b) {
                None => {
                    self.bad = true;
                    Props::Done
                }
                Some(next) if left == 1 => {
                    // The properties must end exactly at a property boundary.
                    if !matches!(next, PROP_START) {
                        self.bad = true;
                    }
                    Props::Done
                }
                Some(next) => Props::In { left: left - 1, prop: next },
            },
        };
    }

    /// Advances the property reader by one byte; None when the bytes cannot be followed.
    fn prop_byte(&mut self, prop: Prop, b: u8) -> Option<Prop> {
        Some(match prop {
            Prop::Id { value, shift } => {
                let value = value | (u32::from(b & 0x7F) << shift);
                if b & 0x80 != 0 {
                    if shift >= 21 {
                        return None;
                    }
                    return Some(Prop::Id { value, shift: shift + 7 });
                }
                match prop_kind(value)? {
                    PropKind::Fixed(n) => Prop::Fixed { id: value, left: n, acc: 0 },
                    PropKind::VarInt => Prop::VarInt { shift: 0 },
                    PropKind::Prefixed(n) => Prop::Length { strings_left: n, hi: None },
                }
            }
            Prop::Fixed { id, left, acc } => {
                let acc = (acc << 8) | u32::from(b);
                if left > 1 {
                    return Some(Prop::Fixed { id, left: left - 1, acc });
                }
                if id == PROP_RECEIVE_MAXIMUM {
                    self.receive_maximum = u16::try_from(acc).ok();
                }
                PROP_START
            }
            Prop::VarInt { shift } => {
                if b & 0x80 == 0 {
                    PROP_START
                } else if shift >= 21 {
                    return None;
                } else {
                    Prop::VarInt { shift: shift + 7 }
                }
            }
            Prop::Length { strings_left, hi: None } => Prop::Length { strings_left, hi: Some(b) },
            Prop::Length { strings_left, hi: Some(hi) } => {
                let len = u16::from_be_bytes([hi, b]);
                if len > 0 {
                    Prop::Bytes { strings_left, left: len }
                } else {
                    next_string(strings_left)
                }
            }
            Prop::Bytes { strings_left, left } => {
                if left > 1 {
                    Prop::Bytes { strings_left, left: left - 1 }
                } else {
                    next_string(strings_left)
                }
            }
        })
    }

    /// The event, once the body has ended; None if it ended before the reason code. The second
    /// value is true when the CONNACK was malformed (its event may then lack Receive Maximum).
    fn finish(&self) -> (Option<ParseEvent>, bool) {
        let (Some(flags), Some(reason_code)) = (self.flags, self.reason) else {
            return (None, true);
        };
        let complete = match self.props {
            Props::Done => true,
            // MQTT 3.1.1 (or a terse server): no property length at all.
            Props::Length { value: 0, shift: 0 } => true,
            _ => false,
        };
        let event = ParseEvent::ConnAck {
            session_present: flags & 0x01 != 0,
            reason_code,
            receive_maximum: self.receive_maximum,
        };
        (Some(event), self.bad || !complete)
    }
}

fn next_string(strings_left: u8) -> Prop {
    if strings_left > 1 {
        Prop::Length { strings_left: strings_left - 1, hi: None }
    } else {
        PROP_START
    }
}

#[derive(Debug)]
struct PublishHead {
    flags: u8,
    buf: Vec<u8>,
}

impl PublishHead {
    fn qos(&self) -> u8 {
        (self.flags >> 1) & 0x03
    }

    /// Bytes of the variable header still needed, once the topic length is known.
    fn needed(&self) -> usize {
        if self.buf.len() < 2 {
            return 2;
        }
        let topic_len = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]]));
        2 + topic_len + if self.qos() > 0 { 2 } else { 0 }
    }

    fn finish(&self) -> PublishInfo {
        let topic_len = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]]));
        let topic = String::from_utf8_lossy(&self.buf[2..2 + topic_len]).into_owned();
        let packet_id = if self.qos() > 0 {
            let i = 2 + topic_len;
            Some(u16::from_be_bytes([self.buf[i], self.buf[i + 1]]))
        } else {
            None
        };
        PublishInfo {
            packet_id,
            qos: self.qos(),
            dup: self.flags & 0x08 != 0,
            retain: self.flags & 0x01 != 0,
            topic,
        }
    }
}

/// Follows an MQTT byte stream fed in arbitrary chunks. It reads fixed headers (type byte and
/// variable byte integer remaining length); for PUBLISH the flags, topic and packet id; for
/// PUBACK/PUBREC/PUBREL/PUBCOMP the packet id and reason code; for CONNACK the flags, reason code
/// and Receive Maximum. The rest of each packet is skipped without being stored. Garbage never
/// makes it panic: an invalid length encoding puts it in a broken state where it ignores the rest
/// of the stream, and a packet too short for its header (or a PUBLISH with QoS 3, or a CONNACK
/// whose properties cannot be followed) is counted as malformed.
///
/// ```
/// use tether_testkit::mqtt::{ParseEvent, StreamParser};
/// // QoS 1 PUBLISH with DUP, topic "t", packet id 5, empty properties, payload "hi".
/// let bytes = [0x3A, 0x08, 0x00, 0x01, b't', 0x00, 0x05, 0x00, b'h', b'i'];
/// let mut p = StreamParser::new();
/// let mut publishes = Vec::new();
/// for b in bytes {
///     p.feed(&[b], |e| if let ParseEvent::Publish(i) = e { publishes.push(i) });
/// }
/// assert_eq!(publishes[0].packet_id, Some(5));
/// assert!(publishes[0].dup);
/// ```
#[derive(Debug)]
pub struct StreamParser {
    state: State,
    malformed: u64,
}

impl Default for StreamParser {
    fn default() -> Self {
        StreamParser::new()
    }
}

impl StreamParser {
    /// A parser at the start of a stream.
    ///
    /// ```
    /// let p = tether_testkit::mqtt::StreamParser::new();
    /// assert!(!p.is_broken());
    /// ```
    pub fn new() -> Self {
        StreamParser { state: State::Header, malformed: 0 }
    }

    /// True once the stream could not be followed (it then ignores all further bytes).
    ///
    /// ```
    /// let mut p = tether_testkit::mqtt::StreamParser::new();
    /// p.feed(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF], |_| {});
    /// assert!(p.is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        matches!(self.state, State::Broken)
    }

    /// How many packets were malformed: QoS 3 PUBLISH, a PUBLISH or acknowledgement shorter than
    /// its header, a CONNACK cut before its reason code or with properties that cannot be
    /// followed (its event is still reported, possibly without Receive Maximum).
    ///
    /// ```
    /// let mut p = tether_testkit::mqtt::StreamParser::new();
    /// p.feed(&[0x36, 0x00], |_| {}); // PUBLISH with QoS 3
    /// assert_eq!(p.malformed(), 1);
    /// ```
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Feeds the next chunk of the stream; `on_event` is called for every event completed by it.
    ///
    /// ```
    /// let mut p = tether_testkit::mqtt::StreamParser::new();
    /// let mut n = 0;
    /// p.feed(&[0x20, 0x03, 0x00, 0x00, 0x00], |_| n += 1); // a CONNACK: Packet, then ConnAck
    /// assert_eq!(n, 2);
    /// ```
    pub fn feed(&mut self, mut data: &[u8], mut on_event: impl FnMut(ParseEvent)) {
        while !data.is_empty() {
            match &mut self.state {
                State::Broken => return,
                State::Header => {
                    self.state = State::Length { first: data[0], value: 0, shift: 0 };
                    data = &data[1..];
                }
                State::Length { first, value, shift } => {
                    let b = data[0];
                    data = &data[1..];
                    *value |= u32::from(b & 0x7F) << *shift;
                    if b & 0x80 != 0 {
                        *shift += 7;
                        if *shift > 21 {
                            self.state = State::Broken;
                        }
                        continue;
                    }
                    let first = *first;
                    let remaining = *value;
                    let packet_type = first >> 4;
                    on_event(ParseEvent::Packet { packet_type });
                    let head = self.head_for(first, remaining);
                    self.state = State::Body { remaining, head };
                    self.end_body_if_done(&mut on_event);
                }
                State::Body { remaining, head } => {
                    let take = data.len().min(*remaining as usize);
                    let chunk = &data[..take];
                    data = &data[take..];
                    *remaining -= take as u32;
                    match head {
                        Head::Skip => {}
                        Head::Publish(h) => {
                            let mut chunk = chunk;
                            while !chunk.is_empty() {
                                let need = h.needed() - h.buf.len();
                                if need == 0 {
                                    break;
                                }
                                let n = need.min(chunk.len());
                                h.buf.extend_from_slice(&chunk[..n]);
                                chunk = &chunk[n..];
                            }
                            if h.buf.len() >= 2 && h.buf.len() == h.needed() {
                                on_event(ParseEvent::Publish(h.finish()));
                                *head = Head::Skip;
                            }
                        }
                        Head::Ack(a) => {
                            let n = usize::from(a.want - a.len).min(chunk.len());
                            let at = usize::from(a.len);
                            a.buf[at..at + n].copy_from_slice(&chunk[..n]);
                            a.len += n as u8;
                            if a.len == a.want {
                                on_event(ParseEvent::Ack(a.finish()));
                                *head = Head::Skip;
                            }
                        }
                        Head::ConnAck(c) => {
                            for &b in chunk {
                                if !c.wants_more() {
                                    break;
                                }
                                c.push(b);
                            }
                        }
                    }
                    self.end_body_if_done(&mut on_event);
                }
            }
        }
    }

    /// What to read from the body of a packet whose fixed header is `first` / `remaining`.
    fn head_for(&mut self, first: u8, remaining: u32) -> Head {
        match first >> 4 {
            PUBLISH if (first >> 1) & 0x03 == 3 => {
                self.malformed += 1;
                Head::Skip
            }
            PUBLISH => Head::Publish(PublishHead { flags: first & 0x0F, buf: Vec::new() }),
            PUBACK..=PUBCOMP if remaining < 2 => {
                self.malformed += 1;
                Head::Skip
            }
            packet_type @ PUBACK..=PUBCOMP => {
                let want = if remaining >= 3 { 3 } else { 2 };
                Head::Ack(AckHead { packet_type, want, buf: [0; 3], len: 0 })
            }
            CONNACK => Head::ConnAck(ConnAckHead::new()),
            _ => Head::Skip,
        }
    }

    fn end_body_if_done(&mut self, on_event: &mut impl FnMut(ParseEvent)) {
        let State::Body { remaining: 0, head } = &self.state else { return };
        match head {
            Head::Skip => {}
            // The body ended before the topic / packet id: not a valid PUBLISH. (An Ack head is
            // always complete here: its want never exceeds the body length.)
            Head::Publish(_) | Head::Ack(_) => self.malformed += 1,
            Head::ConnAck(c) => {
                let (event, malformed) = c.finish();
                if malformed {
                    self.malformed += 1;
                }
                if let Some(e) = event {
                    on_event(e);
                }
            }
        }
        self.state = State::Header;
    }
}

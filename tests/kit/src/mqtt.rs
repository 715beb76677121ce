//! An incremental, never-panicking reader of an MQTT byte stream, used by the fault proxy to
//! observe what a client sends (PUBLISH QoS, DUP, packet id, topic) without buffering payloads.

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
    Body { remaining: u32, publish: Option<PublishHead> },
    /// The stream cannot be followed any more (invalid length encoding).
    Broken,
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
/// variable byte integer remaining length) and, for PUBLISH, the flags, topic and packet id; the
/// rest of each packet is skipped without being stored. Garbage never makes it panic: an invalid
/// length encoding puts it in a broken state where it ignores the rest of the stream, and
/// a PUBLISH with QoS 3 or a body too short for its header is skipped and counted as malformed.
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

    /// How many packets were skipped as malformed (QoS 3 PUBLISH, truncated PUBLISH head).
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
    /// p.feed(&[0x20, 0x03, 0x00, 0x00, 0x00], |_| n += 1); // a CONNACK
    /// assert_eq!(n, 1);
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
                    let publish = if packet_type == 3 {
                        if (first >> 1) & 0x03 == 3 {
                            self.malformed += 1;
                            None
                        } else {
                            Some(PublishHead { flags: first & 0x0F, buf: Vec::new() })
                        }
                    } else {
                        None
                    };
                    self.state = State::Body { remaining, publish };
                    self.end_body_if_done();
                }
                State::Body { remaining, publish } => {
                    let take = data.len().min(*remaining as usize);
                    let mut chunk = &data[..take];
                    data = &data[take..];
                    *remaining -= take as u32;
                    if let Some(head) = publish {
                        while !chunk.is_empty() {
                            let need = head.needed() - head.buf.len();
                            if need == 0 {
                                break;
                            }
                            let n = need.min(chunk.len());
                            head.buf.extend_from_slice(&chunk[..n]);
                            chunk = &chunk[n..];
                        }
                        if head.buf.len() >= 2 && head.buf.len() == head.needed() {
                            on_event(ParseEvent::Publish(head.finish()));
                            *publish = None;
                        }
                    }
                    self.end_body_if_done();
                }
            }
        }
    }

    fn end_body_if_done(&mut self) {
        if let State::Body { remaining: 0, publish } = &self.state {
            if publish.is_some() {
                // The body ended before the topic / packet id: not a valid PUBLISH.
                self.malformed += 1;
            }
            self.state = State::Header;
        }
    }
}

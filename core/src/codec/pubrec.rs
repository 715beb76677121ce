//! PUBREC (3.5): first acknowledgement of a QoS 2 PUBLISH.

use super::puback::ack_packet;
use super::{AckProperties, PacketId, PubRecReasonCode};

/// A PUBREC packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubRec {
    /// The identifier of the exchange.
    pub packet_id: PacketId,
    /// The outcome; `Success` by default.
    pub reason_code: PubRecReasonCode,
    /// Reason string and user properties.
    pub properties: AckProperties,
}

impl PubRec {
    /// A successful PUBREC with no properties.
    pub fn new(packet_id: PacketId) -> Self {
        Self { packet_id, reason_code: PubRecReasonCode::Success, properties: AckProperties::default() }
    }
}

ack_packet!(PubRec, super::PacketType::PubRec, PubRecReasonCode);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::*;
    use crate::codec::Packet;

    #[test]
    fn short_forms() {
        assert_bytes(&Packet::PubRec(PubRec::new(pid(1))), &[0x50, 0x02, 0x00, 0x01]);
        let p = PubRec { reason_code: PubRecReasonCode::NoMatchingSubscribers, ..PubRec::new(pid(0x0102)) };
        assert_bytes(&Packet::PubRec(p), &[0x50, 0x03, 0x01, 0x02, 0x10]);
    }

    #[test]
    fn round_trip_with_every_property() {
        for code in PubRecReasonCode::ALL {
            let p = PubRec {
                packet_id: pid(300),
                reason_code: *code,
                properties: AckProperties { reason_string: Some("r".into()), user_properties: users() },
            };
            round_trip(&Packet::PubRec(p));
            round_trip(&Packet::PubRec(PubRec { reason_code: *code, ..PubRec::new(pid(1)) }));
        }
    }

    #[test]
    fn malformed() {
        // [MQTT-2.1.3-1] wrong fixed-header flags.
        assert_eq!(decode_err(&[0x50 ^ 0x02, 0x02, 0x00, 0x01]).reason_code() as u8, 0x81);
        assert_eq!(decode_err(&[0x50, 0x02, 0x00, 0x00]).reason_code() as u8, 0x82);
        assert_eq!(decode_err(&[0x50, 0x03, 0x00, 0x01, 0x01]).reason_code() as u8, 0x81);
        assert!(decode_err(&[0x50, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00])
            .to_string()
            .contains("unexpected bytes"));
    }
}

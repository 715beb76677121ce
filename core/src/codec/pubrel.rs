//! PUBREL (3.6): releases a QoS 2 message after PUBREC.

use super::puback::ack_packet;
use super::{AckProperties, PacketId, PubRelReasonCode};

/// A PUBREL packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubRel {
    /// The identifier of the exchange.
    pub packet_id: PacketId,
    /// The outcome; `Success` by default.
    pub reason_code: PubRelReasonCode,
    /// Reason string and user properties.
    pub properties: AckProperties,
}

impl PubRel {
    /// A successful PUBREL with no properties.
    pub fn new(packet_id: PacketId) -> Self {
        Self { packet_id, reason_code: PubRelReasonCode::Success, properties: AckProperties::default() }
    }
}

ack_packet!(PubRel, super::PacketType::PubRel, PubRelReasonCode);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::*;
    use crate::codec::Packet;

    #[test]
    fn short_forms() {
        assert_bytes(&Packet::PubRel(PubRel::new(pid(1))), &[0x62, 0x02, 0x00, 0x01]);
        let p =
            PubRel { reason_code: PubRelReasonCode::PacketIdentifierNotFound, ..PubRel::new(pid(0x0102)) };
        assert_bytes(&Packet::PubRel(p), &[0x62, 0x03, 0x01, 0x02, 0x92]);
    }

    #[test]
    fn round_trip_with_every_property() {
        for code in PubRelReasonCode::ALL {
            let p = PubRel {
                packet_id: pid(300),
                reason_code: *code,
                properties: AckProperties { reason_string: Some("r".into()), user_properties: users() },
            };
            round_trip(&Packet::PubRel(p));
            round_trip(&Packet::PubRel(PubRel { reason_code: *code, ..PubRel::new(pid(1)) }));
        }
    }

    #[test]
    fn malformed() {
        // [MQTT-2.1.3-1] wrong fixed-header flags.
        assert_eq!(decode_err(&[0x62 ^ 0x02, 0x02, 0x00, 0x01]).reason_code() as u8, 0x81);
        assert_eq!(decode_err(&[0x62, 0x02, 0x00, 0x00]).reason_code() as u8, 0x82);
        assert_eq!(decode_err(&[0x62, 0x03, 0x00, 0x01, 0x01]).reason_code() as u8, 0x81);
        assert!(decode_err(&[0x62, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00])
            .to_string()
            .contains("unexpected bytes"));
    }
}

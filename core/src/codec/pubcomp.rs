//! PUBCOMP (3.7): completes the QoS 2 exchange.

use super::puback::ack_packet;
use super::{AckProperties, PacketId, PubCompReasonCode};

/// A PUBCOMP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubComp {
    /// The identifier of the exchange.
    pub packet_id: PacketId,
    /// The outcome; `Success` by default.
    pub reason_code: PubCompReasonCode,
    /// Reason string and user properties.
    pub properties: AckProperties,
}

impl PubComp {
    /// A successful PUBCOMP with no properties.
    pub fn new(packet_id: PacketId) -> Self {
        Self { packet_id, reason_code: PubCompReasonCode::Success, properties: AckProperties::default() }
    }
}

ack_packet!(PubComp, super::PacketType::PubComp, PubCompReasonCode);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::*;
    use crate::codec::Packet;

    #[test]
    fn short_forms() {
        assert_bytes(&Packet::PubComp(PubComp::new(pid(1))), &[0x70, 0x02, 0x00, 0x01]);
        let p =
            PubComp { reason_code: PubCompReasonCode::PacketIdentifierNotFound, ..PubComp::new(pid(0x0102)) };
        assert_bytes(&Packet::PubComp(p), &[0x70, 0x03, 0x01, 0x02, 0x92]);
    }

    #[test]
    fn round_trip_with_every_property() {
        for code in PubCompReasonCode::ALL {
            let p = PubComp {
                packet_id: pid(300),
                reason_code: *code,
                properties: AckProperties { reason_string: Some("r".into()), user_properties: users() },
            };
            round_trip(&Packet::PubComp(p));
            round_trip(&Packet::PubComp(PubComp { reason_code: *code, ..PubComp::new(pid(1)) }));
        }
    }

    #[test]
    fn malformed() {
        // [MQTT-2.1.3-1] wrong fixed-header flags.
        assert_eq!(decode_err(&[0x70 ^ 0x02, 0x02, 0x00, 0x01]).reason_code() as u8, 0x81);
        assert_eq!(decode_err(&[0x70, 0x02, 0x00, 0x00]).reason_code() as u8, 0x82);
        assert_eq!(decode_err(&[0x70, 0x03, 0x00, 0x01, 0x01]).reason_code() as u8, 0x81);
        assert!(decode_err(&[0x70, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00])
            .to_string()
            .contains("unexpected bytes"));
    }
}

//! PINGREQ (3.12) and PINGRESP (3.13): two bytes each, no variable header or payload.

use bytes::BytesMut;

use super::{Encodable, EncodeError, PacketType};

/// The body-less PINGREQ or PINGRESP, for the shared encoder.
pub(crate) struct Ping(PacketType);

/// PINGREQ: `[0xC0, 0x00]`.
pub(crate) const PINGREQ: Ping = Ping(PacketType::PingReq);
/// PINGRESP: `[0xD0, 0x00]`.
pub(crate) const PINGRESP: Ping = Ping(PacketType::PingResp);

impl Encodable for Ping {
    fn packet_type(&self) -> PacketType {
        self.0
    }
    fn check(&self) -> Result<(), EncodeError> {
        Ok(())
    }
    fn body_len(&self) -> usize {
        0
    }
    fn write_body(&self, _: &mut BytesMut) {}
}

#[cfg(test)]
mod tests {
    use crate::codec::test_util::*;
    use crate::codec::{DecodeError, Packet, PacketType};

    #[test]
    fn byte_exact() {
        assert_bytes(&Packet::PingReq, &[0xC0, 0x00]);
        assert_bytes(&Packet::PingResp, &[0xD0, 0x00]);
        round_trip(&Packet::PingReq);
        round_trip(&Packet::PingResp);
    }

    #[test]
    fn malformed() {
        // [MQTT-2.1.3-1] flags must be 0.
        assert_eq!(
            decode_err(&[0xC1, 0x00]),
            DecodeError::InvalidFlags { packet: PacketType::PingReq, flags: 1 }
        );
        // A body byte.
        assert_eq!(decode_err(&[0xD0, 0x01, 0x00]).reason_code() as u8, 0x81);
    }
}

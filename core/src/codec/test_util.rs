//! Helpers shared by the codec's unit tests.

use bytes::BytesMut;

use super::{decode, DecodeError, Decoded, Packet, ProtocolVersion};

/// Encodes `p`, checks the three lengths agree, decodes it back and compares; then checks that
/// every truncation is Incomplete and that corrupting any byte never panics. Returns the
/// encoding.
pub fn round_trip(p: &Packet) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let n = p.encode(&mut buf).expect("encodes");
    assert_eq!(n, buf.len(), "encode's return value is the bytes written");
    assert_eq!(n, p.encoded_len(), "encoded_len matches");
    let bytes = buf.to_vec();
    // A trailing byte of the next packet must stay in the buffer.
    buf.extend_from_slice(&[0xC0]);
    match decode(&mut buf, u32::MAX, ProtocolVersion::V5) {
        Ok(Decoded::Packet(q)) => assert_eq!(&q, p, "round trip of {bytes:02X?}"),
        other => panic!("decoding {bytes:02X?} gave {other:?}"),
    }
    assert_eq!(&buf[..], &[0xC0]);
    assert_truncations_incomplete(&bytes);
    corrupt_never_panics(&bytes);
    // The exact size is accepted as a maximum, one byte less is not.
    let mut exact = BytesMut::from(&bytes[..]);
    assert!(matches!(decode(&mut exact, n as u32, ProtocolVersion::V5), Ok(Decoded::Packet(_))));
    let mut small = BytesMut::from(&bytes[..]);
    assert!(matches!(
        decode(&mut small, n as u32 - 1, ProtocolVersion::V5),
        Err(DecodeError::PacketTooLarge { .. })
    ));
    assert_eq!(small.len(), n, "PacketTooLarge consumes nothing");
    let mut out = BytesMut::new();
    assert!(p.encode_with_max(&mut out, n as u32 - 1).is_err());
    assert!(out.is_empty());
    bytes
}

/// Every strict prefix of a valid encoding decodes as Incomplete and consumes nothing.
pub fn assert_truncations_incomplete(bytes: &[u8]) {
    for len in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..len]);
        match decode(&mut buf, u32::MAX, ProtocolVersion::V5) {
            Ok(Decoded::Incomplete { needed }) => {
                assert!(needed >= 1 && len + needed <= bytes.len(), "needed {needed} at {len}")
            }
            other => panic!("prefix of {len} bytes of {bytes:02X?} gave {other:?}"),
        }
        assert_eq!(buf.len(), len, "an incomplete packet consumes nothing");
    }
}

/// Changes each byte in a few ways and decodes; only checks that nothing panics.
pub fn corrupt_never_panics(bytes: &[u8]) {
    for i in 0..bytes.len() {
        for v in [0x00, 0xFF, 0x80, 0x7F, bytes[i] ^ 0x01, bytes[i].wrapping_add(1)] {
            let mut copy = bytes.to_vec();
            copy[i] = v;
            let mut buf = BytesMut::from(&copy[..]);
            let _ = decode(&mut buf, u32::MAX, ProtocolVersion::V5);
        }
    }
}

/// Asserts that `p` encodes to exactly `expected` and that `expected` decodes to `p`.
pub fn assert_bytes(p: &Packet, expected: &[u8]) {
    let mut buf = BytesMut::new();
    p.encode(&mut buf).expect("encodes");
    assert_eq!(&buf[..], expected, "encoding of {p:?}");
    assert_eq!(decode_ok(expected), *p);
}

/// Decodes one complete packet that must be valid and fill the buffer exactly.
pub fn decode_ok(bytes: &[u8]) -> Packet {
    let mut buf = BytesMut::from(bytes);
    match decode(&mut buf, u32::MAX, ProtocolVersion::V5) {
        Ok(Decoded::Packet(p)) => {
            assert!(buf.is_empty(), "whole buffer consumed");
            p
        }
        other => panic!("decoding {bytes:02X?} gave {other:?}"),
    }
}

/// Decodes bytes that must be rejected and returns the error.
pub fn decode_err(bytes: &[u8]) -> DecodeError {
    let mut buf = BytesMut::from(bytes);
    match decode(&mut buf, u32::MAX, ProtocolVersion::V5) {
        Err(e) => e,
        other => panic!("decoding {bytes:02X?} should fail, gave {other:?}"),
    }
}

/// Encoding `p` must fail without writing anything.
pub fn encode_err(p: &Packet) -> super::EncodeError {
    let mut buf = BytesMut::from(&b"xy"[..]);
    let err = p.encode(&mut buf).expect_err("encoding must fail");
    assert_eq!(&buf[..], b"xy", "nothing written on error");
    err
}

/// A packet identifier from a literal.
pub fn pid(n: u16) -> super::PacketId {
    super::PacketId::new(n).expect("non-zero")
}

/// Two user properties.
pub fn users() -> Vec<(String, String)> {
    vec![("k".into(), "v".into()), ("k".into(), "ü2".into())]
}

//! Arbitrary bytes through the MQTT 3.1.1 (level 4) decoder: the same checks as `decode`,
//! with re-encoding in the 3.1.1 wire form.
//!
//! Decodes packets one after another until the input is used up, incomplete or rejected. The
//! decoder must never panic; every packet it accepts must re-encode, and the re-encoding must
//! decode to an equal packet with `encoded_len` bytes.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tether_core::codec::{decode, Decoded, ProtocolVersion};

fuzz_target!(|data: &[u8]| {
    // The first byte picks a Maximum Packet Size so that limit is exercised too.
    let (max, data) = match data.split_first() {
        Some((&b, rest)) if b < 16 => (u32::from(b) * 16 + 2, rest),
        Some((_, rest)) => (u32::MAX, rest),
        None => return,
    };
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match decode(&mut buf, max, ProtocolVersion::V311) {
            Ok(Decoded::Packet(packet)) => {
                assert!(buf.len() < before, "a decoded packet consumes bytes");
                let mut out = BytesMut::new();
                let n = packet
                    .encode_for(&mut out, u32::MAX, ProtocolVersion::V311)
                    .expect("a decoded packet re-encodes");
                assert_eq!(n, out.len());
                assert_eq!(n, packet.encoded_len_for(ProtocolVersion::V311));
                match decode(&mut out, u32::MAX, ProtocolVersion::V311) {
                    Ok(Decoded::Packet(again)) => assert_eq!(again, packet),
                    other => panic!("re-encoded {packet:?} decoded as {other:?}"),
                }
                assert!(out.is_empty());
            }
            Ok(Decoded::Incomplete { needed }) => {
                assert!(needed > 0);
                assert_eq!(buf.len(), before, "Incomplete consumes nothing");
                break;
            }
            Err(_) => break,
        }
    }
});

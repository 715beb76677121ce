//! Data representations (1.5): two- and four-byte integers, variable byte integers, UTF-8
//! strings, binary data and string pairs.
//!
//! Reading goes through [`Reader`], a bounds-checked cursor over a [`Bytes`] body whose errors
//! name the packet and the field. Writing is split in two: the `check_*` functions validate
//! before anything is written, the `put_*` functions then write without failing.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::{DecodeError, EncodeError, FieldProblem};
use super::PacketType;

/// The largest value a variable byte integer can hold (1.5.5): 268,435,455.
pub const MAX_VARINT: u32 = 268_435_455;

/// The longest UTF-8 string or binary data field: 65,535 bytes (1.5.4, 1.5.6).
pub const MAX_STRING_LEN: usize = 65_535;

/// Number of bytes the variable byte integer encoding of `n` takes: 1 to 4, or 5 for a value
/// above [`MAX_VARINT`] (which cannot be encoded; encoders check before writing).
pub fn varint_len(n: usize) -> usize {
    match n {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        2_097_152..=268_435_455 => 4,
        _ => 5,
    }
}

/// Result of reading a variable byte integer from the front of a byte slice that may not be
/// complete yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintPrefix {
    /// The value and the number of bytes it took.
    Complete(u32, usize),
    /// The slice ends before the last byte of the integer.
    Incomplete,
    /// More than four bytes: Malformed (1.5.5).
    TooLong,
}

/// Reads a variable byte integer from the start of `bytes` (1.5.5).
pub fn read_varint_prefix(bytes: &[u8]) -> VarintPrefix {
    let mut value: u32 = 0;
    for i in 0..4 {
        let Some(&byte) = bytes.get(i) else {
            return VarintPrefix::Incomplete;
        };
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return VarintPrefix::Complete(value, i + 1);
        }
    }
    VarintPrefix::TooLong
}

/// Bytes taken by a UTF-8 string or binary data field of `len` bytes (2-byte length prefix).
pub fn prefixed_len(len: usize) -> usize {
    2 + len
}

/// Checks a UTF-8 string field before encoding: at most 65,535 bytes and no U+0000.
pub fn check_string(field: &'static str, s: &str) -> Result<(), EncodeError> {
    if s.len() > MAX_STRING_LEN {
        return Err(EncodeError::StringTooLong { field, len: s.len() });
    }
    // [MQTT-1.5.4-2] a UTF-8 encoded string must not include U+0000.
    if s.as_bytes().contains(&0) {
        return Err(EncodeError::StringContainsNul { field });
    }
    Ok(())
}

/// Checks a binary data field before encoding: at most 65,535 bytes.
pub fn check_binary(field: &'static str, b: &[u8]) -> Result<(), EncodeError> {
    if b.len() > MAX_STRING_LEN {
        return Err(EncodeError::BinaryTooLong { field, len: b.len() });
    }
    Ok(())
}

/// Checks that a value fits a variable byte integer.
pub fn check_varint(field: &'static str, n: u64) -> Result<(), EncodeError> {
    if n > u64::from(MAX_VARINT) {
        return Err(EncodeError::ValueOutOfRange { field, value: n });
    }
    Ok(())
}

/// Writes a variable byte integer. The value must be at most [`MAX_VARINT`] (checked earlier);
/// larger values are clamped rather than written wrongly.
pub fn put_varint(buf: &mut BytesMut, n: u32) {
    let mut n = n.min(MAX_VARINT);
    loop {
        let mut byte = (n & 0x7F) as u8;
        n >>= 7;
        if n > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if n == 0 {
            break;
        }
    }
}

/// Writes binary data with its two-byte length prefix (length checked earlier).
pub fn put_binary(buf: &mut BytesMut, b: &[u8]) {
    let len = b.len().min(MAX_STRING_LEN);
    buf.put_u16(len as u16);
    buf.put_slice(&b[..len]);
}

/// Writes a UTF-8 string with its two-byte length prefix (checked earlier with
/// [`check_string`]).
pub fn put_string(buf: &mut BytesMut, s: &str) {
    put_binary(buf, s.as_bytes());
}

/// A bounds-checked reader over one packet body. Every error names the packet type and the
/// field being read.
#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
    packet: PacketType,
}

impl Reader {
    /// A reader over `buf`, the body of a packet of type `packet`.
    pub fn new(buf: Bytes, packet: PacketType) -> Self {
        Self { buf, packet }
    }

    /// The packet type, for error messages.
    pub fn packet(&self) -> PacketType {
        self.packet
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// A Malformed Packet error for this packet.
    pub fn malformed(&self, detail: &'static str) -> DecodeError {
        DecodeError::Malformed { packet: self.packet, detail }
    }

    /// A Protocol Error for this packet.
    pub fn protocol_error(&self, detail: &'static str) -> DecodeError {
        DecodeError::ProtocolError { packet: self.packet, detail }
    }

    fn field_error(&self, field: &'static str, problem: FieldProblem) -> DecodeError {
        DecodeError::MalformedField { packet: self.packet, field, problem }
    }

    fn need(&self, n: usize, field: &'static str) -> Result<(), DecodeError> {
        if self.buf.len() < n {
            Err(self.field_error(field, FieldProblem::Truncated))
        } else {
            Ok(())
        }
    }

    /// Reads one byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        self.need(1, field)?;
        Ok(self.buf.get_u8())
    }

    /// Reads a big-endian two-byte integer (1.5.2).
    pub fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.need(2, field)?;
        Ok(self.buf.get_u16())
    }

    /// Reads a big-endian four-byte integer (1.5.3).
    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.need(4, field)?;
        Ok(self.buf.get_u32())
    }

    /// Reads a variable byte integer of at most four bytes (1.5.5).
    pub fn varint(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        match read_varint_prefix(&self.buf) {
            VarintPrefix::Complete(value, len) => {
                self.buf.advance(len);
                Ok(value)
            }
            VarintPrefix::Incomplete => Err(self.field_error(field, FieldProblem::Truncated)),
            VarintPrefix::TooLong => Err(self.field_error(field, FieldProblem::VarintTooLong)),
        }
    }

    /// Takes the next `n` bytes as a zero-copy slice.
    pub fn bytes(&mut self, n: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        self.need(n, field)?;
        Ok(self.buf.split_to(n))
    }

    /// Takes the next `n` bytes as a reader of its own (for a property block).
    pub fn sub_reader(&mut self, n: usize, field: &'static str) -> Result<Reader, DecodeError> {
        Ok(Reader::new(self.bytes(n, field)?, self.packet))
    }

    /// Takes everything that is left (a PUBLISH payload), zero-copy.
    pub fn rest(&mut self) -> Bytes {
        self.buf.split_off(0)
    }

    /// Reads binary data: a two-byte length then that many bytes (1.5.6), zero-copy.
    pub fn binary(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u16(field)?;
        self.bytes(usize::from(len), field)
    }

    /// Reads a UTF-8 encoded string (1.5.4): valid UTF-8 without encoded surrogates
    /// ([MQTT-1.5.4-1]) and without U+0000 ([MQTT-1.5.4-2]).
    pub fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let raw = self.binary(field)?;
        // [MQTT-1.5.4-1] ill-formed UTF-8, surrogates (ED A0..BF ..) included, is rejected by
        // the standard library's validator.
        let s = std::str::from_utf8(&raw).map_err(|_| self.field_error(field, FieldProblem::InvalidUtf8))?;
        // [MQTT-1.5.4-2] no U+0000.
        if s.as_bytes().contains(&0) {
            return Err(self.field_error(field, FieldProblem::ContainsNul));
        }
        Ok(s.to_owned())
    }

    /// Reads a UTF-8 string pair (1.5.7).
    pub fn string_pair(&mut self, field: &'static str) -> Result<(String, String), DecodeError> {
        let key = self.string(field)?;
        let value = self.string(field)?;
        Ok((key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &[u8]) -> Reader {
        Reader::new(Bytes::copy_from_slice(bytes), PacketType::Publish)
    }

    #[test]
    fn varint_boundaries_from_the_spec_table() {
        // 1.5.5 table: the first and last value for each length.
        let cases: &[(u32, &[u8])] = &[
            (0, &[0x00]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for &(value, bytes) in cases {
            let mut buf = BytesMut::new();
            put_varint(&mut buf, value);
            assert_eq!(&buf[..], bytes, "{value}");
            assert_eq!(varint_len(value as usize), bytes.len());
            assert_eq!(reader(bytes).varint("v"), Ok(value));
        }
        assert_eq!(varint_len(268_435_456), 5);
    }

    #[test]
    fn varint_longer_than_four_bytes_is_malformed() {
        let err = reader(&[0x80, 0x80, 0x80, 0x80, 0x01]).varint("remaining length");
        assert_eq!(
            err.unwrap_err().to_string(),
            "malformed PUBLISH: remaining length is a variable byte integer longer than 4 bytes"
        );
        assert_eq!(read_varint_prefix(&[0x80, 0x80]), VarintPrefix::Incomplete);
        assert_eq!(read_varint_prefix(&[0xFF, 0xFF, 0xFF, 0xFF]), VarintPrefix::TooLong);
    }

    #[test]
    fn integers_are_big_endian_and_bounds_checked() {
        let mut r = reader(&[0x01, 0x02, 0x03, 0x04, 0x05, 0x06]);
        assert_eq!(r.u8("a"), Ok(1));
        assert_eq!(r.u16("b"), Ok(0x0203));
        assert_eq!(r.u32("c").unwrap_err().reason_code() as u8, 0x81);
        assert_eq!(r.remaining(), 3, "a failed read consumes nothing");
        assert_eq!(r.u16("d"), Ok(0x0405));
        assert_eq!(r.u8("e"), Ok(6));
        assert!(r.u8("f").is_err());
        assert!(reader(&[0, 0, 0, 0x2A]).u32("g") == Ok(42));
    }

    #[test]
    fn strings_are_checked() {
        assert_eq!(reader(&[0x00, 0x03, b'a', b'/', b'b']).string("t"), Ok("a/b".to_owned()));
        // Declared length longer than the data.
        assert!(reader(&[0x00, 0x04, b'a']).string("t").is_err());
        // U+0000.
        let err = reader(&[0x00, 0x02, b'a', 0x00]).string("topic name").unwrap_err();
        assert_eq!(err.to_string(), "malformed PUBLISH: topic name contains the null character U+0000");
        // A UTF-16 surrogate (U+D800) encoded as UTF-8 [MQTT-1.5.4-1].
        let err = reader(&[0x00, 0x03, 0xED, 0xA0, 0x80]).string("topic name").unwrap_err();
        assert_eq!(err.to_string(), "malformed PUBLISH: topic name is not valid UTF-8");
        // Invalid UTF-8.
        assert!(reader(&[0x00, 0x01, 0xFF]).string("t").is_err());
        // U+FEFF is kept, not stripped [MQTT-1.5.4-3].
        assert_eq!(reader(&[0x00, 0x03, 0xEF, 0xBB, 0xBF]).string("t"), Ok("\u{FEFF}".to_owned()));
    }

    #[test]
    fn encode_checks() {
        assert!(check_string("s", &"a".repeat(65_535)).is_ok());
        assert_eq!(
            check_string("s", &"a".repeat(65_536)),
            Err(EncodeError::StringTooLong { field: "s", len: 65_536 })
        );
        assert_eq!(check_string("s", "a\0"), Err(EncodeError::StringContainsNul { field: "s" }));
        assert!(check_binary("b", &[0; 65_536]).is_err());
        assert!(check_varint("v", 268_435_456).is_err());
        let mut buf = BytesMut::new();
        put_string(&mut buf, "ab");
        put_binary(&mut buf, &[1]);
        assert_eq!(&buf[..], &[0, 2, b'a', b'b', 0, 1, 1]);
        let mut r = Reader::new(buf.freeze(), PacketType::Connect);
        assert_eq!(r.string_pair("p"), Ok(("ab".to_owned(), "\u{1}".to_owned())));
        assert!(r.is_empty());
    }
}

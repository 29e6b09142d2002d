//! The running hash of a trace: 64-bit FNV-1a over a canonical walk of each line's serde data
//! model.
//!
//! The walk sees what a serde format sees, and encodes it as JSON would read it back: a
//! newtype is its content, `None` is null and `Some(v)` is `v`, integers are numbers whatever
//! their width, an enum variant is its name (alone, or as the single key of a map), a struct is
//! a map keyed by field names. Every value is tagged and every string length-prefixed, so the
//! encoding is unambiguous. The digest of a line is therefore the same whether it was hashed
//! as written or after a trip through JSON, on any platform and with any Rust release (unlike
//! `std`'s `DefaultHasher`, whose output is not stable).

use serde::de::{self, Visitor};
use serde::ser::{self, Serialize};
use serde::{Deserialize, Deserializer, Serializer};
use std::fmt;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

// One tag byte before every value, so that no two values encode alike.
const NULL: u8 = 1;
const FALSE: u8 = 2;
const TRUE: u8 = 3;
const INT: u8 = 4;
const BIG_UINT: u8 = 5;
const FLOAT: u8 = 6;
const STRING: u8 = 7;
const BYTES: u8 = 8;
const SEQ: u8 = 9;
const MAP: u8 = 10;
const END: u8 = 11;
const LINE: u8 = 12;
const UNHASHABLE: u8 = 13;

/// A 64-bit digest, written as 16 hex digits (a JSON number would lose bits in readers that
/// hold numbers as doubles).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub u64);

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        struct Hex;
        impl Visitor<'_> for Hex {
            type Value = Digest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("16 hex digits")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Digest, E> {
                let ok = v.len() == 16 && v.bytes().all(|b| b.is_ascii_hexdigit());
                match u64::from_str_radix(v, 16) {
                    Ok(n) if ok => Ok(Digest(n)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_str(Hex)
    }
}

/// A running digest of trace lines: how many, and their chained hash. A writer keeps one
/// to close its trace with a [`Footer`](super::Footer); a reader keeps one to check the
/// footer; a run kept without any sink keeps one to compare re-runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Chain {
    lines: u64,
    hash: u64,
}

impl Default for Chain {
    fn default() -> Chain {
        Chain::new()
    }
}

impl Chain {
    /// The digest of no lines.
    pub const fn new() -> Chain {
        Chain {
            lines: 0,
            hash: FNV_OFFSET,
        }
    }

    /// Adds one line (of any machine: the encoding does not depend on the Rust type).
    pub fn push<L: Serialize + ?Sized>(&mut self, line: &L) {
        let mut fnv = Fnv(self.hash);
        if let Err(e) = line.serialize(&mut fnv) {
            // Only a hand-written Serialize can fail, and a JSON writer would fail on it too;
            // the failure still changes the digest, so it cannot go unnoticed.
            fnv.tag(UNHASHABLE);
            fnv.str(&e.0);
        }
        fnv.tag(LINE);
        self.hash = fnv.0;
        self.lines += 1;
    }

    /// The number of lines added.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The hash of the lines added, in order.
    pub fn digest(&self) -> Digest {
        Digest(self.hash)
    }
}

/// FNV-1a, fed by serialising into it.
struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }

    fn tag(&mut self, tag: u8) {
        self.bytes(&[tag]);
    }

    fn int(&mut self, v: i128) {
        self.tag(INT);
        self.bytes(&v.to_le_bytes());
    }

    fn len(&mut self, len: usize) {
        // usize is at most 64 bits on every supported platform; saturate rather than wrap.
        self.bytes(&u64::try_from(len).unwrap_or(u64::MAX).to_le_bytes());
    }

    fn str(&mut self, s: &str) {
        self.tag(STRING);
        self.len(s.len());
        self.bytes(s.as_bytes());
    }

    /// `{ variant: …`: the opening of a map with one key; the caller closes it with END.
    fn variant(&mut self, variant: &str) {
        self.tag(MAP);
        self.str(variant);
    }

    /// Ends `levels` nested sequences or maps.
    fn close(&mut self, levels: usize) -> R {
        for _ in 0..levels {
            self.tag(END);
        }
        Ok(())
    }
}

/// A serialisation that cannot be hashed (only a custom `Serialize` can raise one).
#[derive(Debug)]
pub struct Unhashable(String);

impl fmt::Display for Unhashable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unhashable {}

impl ser::Error for Unhashable {
    fn custom<T: fmt::Display>(msg: T) -> Unhashable {
        Unhashable(msg.to_string())
    }
}

type R = Result<(), Unhashable>;

impl Serializer for &mut Fnv {
    type Ok = ();
    type Error = Unhashable;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> R {
        self.tag(if v { TRUE } else { FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> R {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> R {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> R {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> R {
        self.int(i128::from(v));
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> R {
        self.int(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> R {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> R {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> R {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> R {
        self.int(i128::from(v));
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> R {
        match i128::try_from(v) {
            Ok(v) => self.int(v),
            Err(_) => {
                self.tag(BIG_UINT);
                self.bytes(&v.to_le_bytes());
            }
        }
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> R {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> R {
        self.tag(FLOAT);
        self.bytes(&v.to_bits().to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> R {
        self.str(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> R {
        self.str(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> R {
        self.tag(BYTES);
        self.len(v.len());
        self.bytes(v);
        Ok(())
    }
    fn serialize_none(self) -> R {
        self.tag(NULL);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> R {
        value.serialize(self)
    }
    fn serialize_unit(self) -> R {
        self.tag(NULL);
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> R {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> R {
        self.str(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, v: &T) -> R {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> R {
        self.variant(variant);
        value.serialize(&mut *self)?;
        self.close(1)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self, Unhashable> {
        self.tag(SEQ);
        Ok(self)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self, Unhashable> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Self, Unhashable> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self, Unhashable> {
        self.variant(variant);
        self.tag(SEQ);
        Ok(self)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self, Unhashable> {
        self.tag(MAP);
        Ok(self)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, Unhashable> {
        self.tag(MAP);
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self, Unhashable> {
        self.variant(variant);
        self.tag(MAP);
        Ok(self)
    }
}

/// The compound serializers but maps: each element or field is hashed in turn (a named field
/// after its name), and `end` closes what the value opened: its sequence or map, and for a
/// variant also the one-key map around it.
macro_rules! compound {
    ($trait:ident, named, closes $levels:literal) => {
        impl ser::$trait for &mut Fnv {
            type Ok = ();
            type Error = Unhashable;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> R {
                self.str(key);
                value.serialize(&mut **self)
            }
            fn end(self) -> R {
                self.close($levels)
            }
        }
    };
    ($trait:ident, $method:ident, closes $levels:literal) => {
        impl ser::$trait for &mut Fnv {
            type Ok = ();
            type Error = Unhashable;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
                value.serialize(&mut **self)
            }
            fn end(self) -> R {
                self.close($levels)
            }
        }
    };
}

compound!(SerializeSeq, serialize_element, closes 1);
compound!(SerializeTuple, serialize_element, closes 1);
compound!(SerializeTupleStruct, serialize_field, closes 1);
compound!(SerializeTupleVariant, serialize_field, closes 2);
compound!(SerializeStruct, named, closes 1);
compound!(SerializeStructVariant, named, closes 2);

impl ser::SerializeMap for &mut Fnv {
    type Ok = ();
    type Error = Unhashable;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> R {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        value.serialize(&mut **self)
    }
    fn end(self) -> R {
        self.close(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_1a_matches_its_published_test_vectors() {
        let hash = |s: &str| {
            let mut f = Fnv(FNV_OFFSET);
            f.bytes(s.as_bytes());
            f.0
        };
        assert_eq!(hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_digest_round_trips_as_sixteen_hex_digits_and_refuses_others() {
        let d = Digest(0x0123_4567_89ab_cdef);
        assert_eq!(d.to_string(), "0123456789abcdef");
        struct Str<'a>(&'a str);
        impl<'de> Deserializer<'de> for Str<'_> {
            type Error = de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
                v.visit_str(self.0)
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
                struct enum identifier ignored_any
            }
        }
        assert_eq!(Digest::deserialize(Str("0123456789abcdef")), Ok(d));
        for bad in [
            "123",
            "+123456789abcdef",
            "0123456789abcdeg",
            "0123456789abcdef0",
        ] {
            assert!(Digest::deserialize(Str(bad)).is_err(), "{bad}");
        }
    }
}

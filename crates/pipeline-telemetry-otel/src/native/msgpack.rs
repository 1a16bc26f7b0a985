//! A MessagePack writer for the Datadog trace intake: the few types a
//! `v0.4` payload uses (arrays, maps, strings, integers, floats), each in
//! its shortest form as the MessagePack specification asks. No I/O: it
//! appends to a byte buffer.

/// Appends MessagePack values to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    /// The header of an array of `len` elements.
    pub(crate) fn array(&mut self, len: usize) {
        self.container(len, 0x90, 0xdc, 0xdd);
    }

    /// The header of a map of `len` key/value pairs.
    pub(crate) fn map(&mut self, len: usize) {
        self.container(len, 0x80, 0xde, 0xdf);
    }

    fn container(&mut self, len: usize, fix: u8, m16: u8, m32: u8) {
        if len < 16 {
            self.buf.push(fix | len as u8);
        } else if let Ok(n) = u16::try_from(len) {
            self.buf.push(m16);
            self.buf.extend_from_slice(&n.to_be_bytes());
        } else {
            // A payload is far below 4 GiB elements: the batch caps it.
            self.buf.push(m32);
            self.buf
                .extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
        }
    }

    /// A UTF-8 string. Longer than `u32::MAX` bytes is cut there (never
    /// reached: attribute values are capped long before).
    pub(crate) fn str(&mut self, s: &str) {
        let bytes = s.as_bytes();
        let len = bytes.len().min(u32::MAX as usize);
        if len < 32 {
            self.buf.push(0xa0 | len as u8);
        } else if len <= u8::MAX as usize {
            self.buf.push(0xd9);
            self.buf.push(len as u8);
        } else if len <= u16::MAX as usize {
            self.buf.push(0xda);
            self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.buf.push(0xdb);
            self.buf.extend_from_slice(&(len as u32).to_be_bytes());
        }
        self.buf.extend_from_slice(&bytes[..len]);
    }

    /// An unsigned integer.
    pub(crate) fn uint(&mut self, n: u64) {
        if n < 128 {
            self.buf.push(n as u8);
        } else if let Ok(n) = u8::try_from(n) {
            self.buf.extend_from_slice(&[0xcc, n]);
        } else if let Ok(n) = u16::try_from(n) {
            self.buf.push(0xcd);
            self.buf.extend_from_slice(&n.to_be_bytes());
        } else if let Ok(n) = u32::try_from(n) {
            self.buf.push(0xce);
            self.buf.extend_from_slice(&n.to_be_bytes());
        } else {
            self.buf.push(0xcf);
            self.buf.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// A signed integer (non-negative ones as unsigned, as the
    /// specification's shortest form).
    pub(crate) fn int(&mut self, n: i64) {
        if let Ok(u) = u64::try_from(n) {
            return self.uint(u);
        }
        if n >= -32 {
            self.buf.push(n as u8);
        } else if let Ok(n) = i8::try_from(n) {
            self.buf.extend_from_slice(&[0xd0, n as u8]);
        } else if let Ok(n) = i16::try_from(n) {
            self.buf.push(0xd1);
            self.buf.extend_from_slice(&n.to_be_bytes());
        } else if let Ok(n) = i32::try_from(n) {
            self.buf.push(0xd2);
            self.buf.extend_from_slice(&n.to_be_bytes());
        } else {
            self.buf.push(0xd3);
            self.buf.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// A 64-bit float.
    pub(crate) fn f64(&mut self, x: f64) {
        self.buf.push(0xcb);
        self.buf.extend_from_slice(&x.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::Writer;
    use proptest::prelude::*;

    fn decode(bytes: &[u8]) -> rmpv::Value {
        let mut r = bytes;
        let v = rmpv::decode::read_value(&mut r).expect("valid MessagePack");
        assert!(r.is_empty(), "trailing bytes");
        v
    }

    fn one(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut w = Writer::default();
        f(&mut w);
        w.buf
    }

    /// The shortest forms, byte for byte, from the specification's tables.
    #[test]
    fn shortest_forms() {
        assert_eq!(one(|w| w.uint(0)), [0x00]);
        assert_eq!(one(|w| w.uint(127)), [0x7f]);
        assert_eq!(one(|w| w.uint(128)), [0xcc, 0x80]);
        assert_eq!(one(|w| w.uint(256)), [0xcd, 0x01, 0x00]);
        assert_eq!(one(|w| w.int(-1)), [0xff]);
        assert_eq!(one(|w| w.int(-32)), [0xe0]);
        assert_eq!(one(|w| w.int(-33)), [0xd0, 0xdf]);
        assert_eq!(one(|w| w.str("")), [0xa0]);
        assert_eq!(one(|w| w.array(15))[0], 0x9f);
        assert_eq!(one(|w| w.array(16)), [0xdc, 0x00, 0x10]);
        assert_eq!(one(|w| w.map(1)), [0x81]);
        assert_eq!(one(|w| w.str(&"x".repeat(32)))[..2], [0xd9, 32]);
    }

    proptest! {
        /// Every value reads back, through an independent decoder (rmpv),
        /// as the value written.
        #[test]
        fn round_trips(u in any::<u64>(), i in any::<i64>(), x in any::<f64>(), s in ".{0,300}",
                       n in 0usize..70_000) {
            prop_assert_eq!(decode(&one(|w| w.uint(u))), rmpv::Value::from(u));
            prop_assert_eq!(decode(&one(|w| w.int(i))), rmpv::Value::from(i));
            let f = decode(&one(|w| w.f64(x)));
            prop_assert_eq!(f.as_f64().map(f64::to_bits), Some(x.to_bits()));
            prop_assert_eq!(decode(&one(|w| w.str(&s))), rmpv::Value::from(s.as_str()));
            let mut w = Writer::default();
            w.array(n);
            for _ in 0..n { w.uint(1); }
            let arr = decode(&w.buf);
            prop_assert_eq!(arr.as_array().map(Vec::len), Some(n));
            let mut w = Writer::default();
            w.map(n.min(2000));
            for k in 0..n.min(2000) { w.str(&k.to_string()); w.int(-(k as i64)); }
            let map = decode(&w.buf);
            prop_assert_eq!(map.as_map().map(Vec::len), Some(n.min(2000)));
        }
    }
}

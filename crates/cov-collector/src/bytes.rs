//! A bounds-checked little-endian cursor over a byte slice: every read either succeeds or
//! returns [`Truncated`], so no decoder can index out of bounds.

/// A read ran past the end of its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Truncated;

/// A cursor over little-endian bytes.
#[derive(Clone, Debug)]
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    offset: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, offset: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.offset
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8], Truncated> {
        let end = self.offset.checked_add(len).ok_or(Truncated)?;
        let slice = self.data.get(self.offset..end).ok_or(Truncated)?;
        self.offset = end;
        Ok(slice)
    }

    pub(crate) fn skip(&mut self, len: usize) -> Result<(), Truncated> {
        self.bytes(len).map(|_| ())
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Truncated> {
        let bytes = self.bytes(4)?;
        Ok(u32::from_le_bytes(bytes.try_into().map_err(|_| Truncated)?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Truncated> {
        let bytes = self.bytes(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| Truncated)?))
    }

    /// An unsigned LEB128 value; more than 64 bits of payload is treated as truncation of a
    /// well-formed value (LLVM's decoder would report it as too big as well).
    pub(crate) fn uleb(&mut self) -> Result<u64, Truncated> {
        let mut value = 0_u64;
        let mut shift = 0_u32;
        loop {
            let byte = self.u8()?;
            if shift >= 64 || (shift == 63 && byte & 0x7e != 0) {
                return Err(Truncated);
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    /// Advances to the next multiple of `align` (relative to the start of the input),
    /// or to the end if fewer bytes remain.
    pub(crate) fn align_to(&mut self, align: usize) {
        let aligned = self.offset.next_multiple_of(align);
        self.offset = aligned.min(self.data.len());
    }
}

/// The low 64 bits of the MD5 of `bytes`, read little-endian: how LLVM turns function
/// names and filename blobs into the 8-byte references its records carry.
pub(crate) fn md5_low64(bytes: &[u8]) -> u64 {
    use md5::{Digest, Md5};
    let digest = Md5::digest(bytes);
    let mut low = [0_u8; 8];
    low.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(low)
}

/// Appends `value` as unsigned LEB128: the inverse of [`Cursor::uleb`], for tests that
/// hand-encode mapping and name sections.
#[cfg(test)]
pub(crate) fn encode_uleb(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uleb_decodes_multi_byte_values_and_rejects_truncation() {
        let mut cursor = Cursor::new(&[0xe5, 0x8e, 0x26, 0x7f]);
        assert_eq!(cursor.uleb(), Ok(624_485));
        assert_eq!(cursor.uleb(), Ok(127));
        assert_eq!(cursor.uleb(), Err(Truncated));
        assert_eq!(Cursor::new(&[0x80]).uleb(), Err(Truncated));
        assert_eq!(Cursor::new(&[0xff; 11]).uleb(), Err(Truncated));
    }

    #[test]
    fn md5_low64_matches_llvm_name_hash() {
        // MD5("main") = fad58de7366495db4650cfefac2fcd61; LLVM reads the first 8 bytes LE.
        assert_eq!(md5_low64(b"main"), 0xdb956436e78dd5fa);
    }
}

//! User data (`NFTA_*_USERDATA`): bytes the kernel stores and returns untouched. `nft` keeps
//! comments there, and for sets the byte order and types it needs to print keys, as a list
//! of `type: u8, len: u8, value` records (libnftnl's `nftnl_udata`).

/// `NFTNL_UDATA_{TABLE,CHAIN,RULE,SET_ELEM}_COMMENT`: a comment on anything but a set.
pub const COMMENT: u8 = 0;
/// `NFTNL_UDATA_SET_KEYBYTEORDER`: how `nft` prints a set's keys.
pub const SET_KEY_BYTEORDER: u8 = 0;
/// `NFTNL_UDATA_SET_DATABYTEORDER`: how `nft` prints a map's values.
pub const SET_DATA_BYTEORDER: u8 = 1;
/// `NFTNL_UDATA_SET_COMMENT`: a set's comment.
pub const SET_COMMENT: u8 = 7;

/// `enum byteorder` values of nft's `BYTEORDER_*`, for the set byte-order records.
pub const BYTEORDER_HOST: u32 = 1;
pub const BYTEORDER_BIG_ENDIAN: u32 = 2;

/// Builds a user-data record list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserData(Vec<u8>);

impl UserData {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a NUL-terminated string record. `nft` refuses comments over 128 bytes, and a
    /// record holds at most 255; longer text is cut at a character boundary.
    pub fn string(mut self, kind: u8, text: &str) -> Self {
        let mut end = text.len().min(254);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.0.push(kind);
        self.0.push((end + 1) as u8);
        self.0.extend_from_slice(&text.as_bytes()[..end]);
        self.0.push(0);
        self
    }

    /// Appends a host-order u32 record (the byte-order records of a set).
    pub fn u32(mut self, kind: u8, value: u32) -> Self {
        self.0.push(kind);
        self.0.push(4);
        self.0.extend_from_slice(&value.to_ne_bytes());
        self
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// The value of the first record of type `kind` in `bytes`.
pub fn find(bytes: &[u8], kind: u8) -> Option<&[u8]> {
    let mut pos = 0;
    while pos + 2 <= bytes.len() {
        let (k, len) = (bytes[pos], bytes[pos + 1] as usize);
        let value = bytes.get(pos + 2..pos + 2 + len)?;
        if k == kind {
            return Some(value);
        }
        pos += 2 + len;
    }
    None
}

/// The string record of type `kind`, without its NUL.
pub fn find_string(bytes: &[u8], kind: u8) -> Option<&str> {
    let v = find(bytes, kind)?;
    std::str::from_utf8(v.strip_suffix(&[0]).unwrap_or(v)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_record_matches_nft() {
        // `comment "hairpin"` on a rule, as nft 1.0.6 encodes it.
        let bytes = UserData::new().string(COMMENT, "hairpin").into_bytes();
        assert_eq!(bytes, b"\x00\x08hairpin\x00");
        assert_eq!(find_string(&bytes, COMMENT), Some("hairpin"));
        assert_eq!(find_string(&bytes, 3), None);
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let text = "é".repeat(200);
        let bytes = UserData::new().string(COMMENT, &text).into_bytes();
        let s = find_string(&bytes, COMMENT).expect("record");
        assert!(s.len() <= 254 && text.starts_with(s));
    }

    #[test]
    fn truncated_records_are_not_read_past_the_end() {
        assert_eq!(find(b"\x00\x09short", COMMENT), None);
    }
}

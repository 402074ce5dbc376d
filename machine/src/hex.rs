//! Bytes as hexadecimal text, two digits a byte: the replay file's format
//! and `monitor wp`'s argument.

/// `bytes` as lowercase hexadecimal digits.
pub(crate) fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The bytes `text` spells, two hexadecimal digits each; `None` for an odd
/// length or anything else.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    // `from_str_radix` alone would take a sign: "+1" is not a byte here.
    if !text.len().is_multiple_of(2) || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len()).step_by(2).map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_bad_text_is_refused() {
        assert_eq!(decode("deadBEEF"), Some(vec![0xde, 0xad, 0xbe, 0xef]));
        assert_eq!(encode(&[0xde, 0xad, 0x0f]), "dead0f");
        assert_eq!(decode(""), Some(vec![]));
        for bad in ["abc", "zz", "+1", "é0"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}

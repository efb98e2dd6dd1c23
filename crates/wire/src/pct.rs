//! Alibaba's percent-encoding ("pct" in kms-api.md §2): RFC 3986 unreserved characters stay,
//! every other UTF-8 byte becomes `%XY` with upper-case hex. Both signature versions use it.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters that are percent-encoded: everything but `A-Z a-z 0-9 - _ . ~`.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Appends `pct(s)` to `out` without an intermediate allocation.
pub fn encode_into(out: &mut String, s: &str) {
    for chunk in utf8_percent_encode(s, ENCODE) {
        out.push_str(chunk);
    }
}

/// Returns `pct(s)`.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    encode_into(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_space_star_slash_and_keeps_tilde() {
        assert_eq!(encode("a b*c/d~e"), "a%20b%2Ac%2Fd~e");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(encode(":"), "%3A");
    }

    proptest! {
        #[test]
        fn encoding_decodes_back_to_the_input(s in ".*") {
            let enc = encode(&s);
            prop_assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
            let dec = percent_encoding::percent_decode_str(&enc).decode_utf8().unwrap();
            prop_assert_eq!(dec, s);
        }
    }
}

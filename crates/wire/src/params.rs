//! The one parameter map of an RPC request, built from the query string and the form body in
//! any mix (kms-api.md §1.2), with typed reads.
//!
//! Rule for duplicates: a name given twice (in the query, the body, or across both) is
//! rejected. Accepting one copy would let a signed value and a read value differ.

use crate::error::ProtocolError;

/// Decoded request parameters in arrival order. `Debug` shows names only: values include
/// SecretData and Plaintext.
#[derive(Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.pairs.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Params {
    /// Builds the map from already-decoded pairs, rejecting duplicate names.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, ProtocolError> {
        for (i, (name, _)) in pairs.iter().enumerate() {
            if pairs.iter().skip(i + 1).any(|(other, _)| other == name) {
                return Err(ProtocolError::DuplicateParameter { name: name.clone() });
            }
        }
        Ok(Self { pairs })
    }

    /// Decodes `application/x-www-form-urlencoded` text (`+` is a space) into pairs.
    pub fn decode_form(input: &[u8], into: &mut Vec<(String, String)>) {
        into.extend(form_urlencoded::parse(input).map(|(k, v)| (k.into_owned(), v.into_owned())));
    }

    /// All pairs, for signing.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The raw value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter that must be present and non-empty.
    pub fn required(&self, name: &'static str) -> Result<&str, ProtocolError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ProtocolError::MissingParameter { name }),
        }
    }

    /// An optional parameter; an empty value counts as absent (SDKs send `Name=` for unset).
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// An optional boolean: `true`/`false` in any case (Python SDKs send `True`, §1.2 item 4).
    pub fn bool(&self, name: &'static str) -> Result<Option<bool>, ProtocolError> {
        match self.optional(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(ProtocolError::InvalidParameter {
                name,
                reason: "it must be true or false",
            }),
        }
    }

    /// An optional non-negative decimal integer.
    pub fn u64(&self, name: &'static str) -> Result<Option<u64>, ProtocolError> {
        match self.optional(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| ProtocolError::InvalidParameter {
                    name,
                    reason: "it must be a non-negative decimal integer",
                }),
        }
    }

    /// Values of a flattened list `Name.1`, `Name.2`, ... in index order (§1.2 item 5).
    pub fn list(&self, prefix: &str) -> Vec<&str> {
        let mut items: Vec<(u32, &str)> = self
            .pairs
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(prefix)?.strip_prefix('.')?;
                rest.parse::<u32>().ok().map(|i| (i, v.as_str()))
            })
            .collect();
        items.sort_by_key(|(i, _)| *i);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// Parameters whose name starts with `prefix.`, as (suffix, value).
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.pairs.iter().filter_map(move |(k, v)| {
            k.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('.'))
                .map(|r| (r, v.as_str()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(s: &str) -> Params {
        let mut v = Vec::new();
        Params::decode_form(s.as_bytes(), &mut v);
        Params::from_pairs(v).unwrap()
    }

    #[test]
    fn decodes_plus_as_space_and_percent_escapes() {
        let p = params("Description=capture+demo&Name=a%2Fb%20c");
        assert_eq!(p.get("Description"), Some("capture demo"));
        assert_eq!(p.get("Name"), Some("a/b c"));
    }

    #[test]
    fn debug_shows_names_but_never_values() {
        let p = params("SecretName=a&SecretData=hunter2");
        let shown = format!("{p:?}");
        assert!(shown.contains("SecretData") && !shown.contains("hunter2"));
    }

    #[test]
    fn rejects_duplicate_parameter_names() {
        let mut v = Vec::new();
        Params::decode_form(b"A=1&A=2", &mut v);
        assert_eq!(
            Params::from_pairs(v).unwrap_err(),
            ProtocolError::DuplicateParameter { name: "A".into() }
        );
    }

    #[test]
    fn booleans_parse_case_insensitively() {
        let p = params("A=True&B=false&C=yes");
        assert_eq!(p.bool("A").unwrap(), Some(true));
        assert_eq!(p.bool("B").unwrap(), Some(false));
        assert!(p.bool("C").is_err());
        assert_eq!(p.bool("D").unwrap(), None);
    }

    #[test]
    fn flattened_lists_come_back_in_index_order() {
        let p = params("ResourceId.2=b&ResourceId.1=a&ResourceId.10=c&ResourceIdX=z");
        assert_eq!(p.list("ResourceId"), vec!["a", "b", "c"]);
    }

    #[test]
    fn empty_value_is_missing_for_required() {
        let p = params("SecretName=");
        assert_eq!(
            p.required("SecretName").unwrap_err(),
            ProtocolError::MissingParameter { name: "SecretName" }
        );
    }

    proptest! {
        #[test]
        fn form_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut v = Vec::new();
            Params::decode_form(&bytes, &mut v);
            let _ = Params::from_pairs(v);
        }

        #[test]
        fn encoded_pairs_decode_to_the_same_pairs(
            pairs in proptest::collection::btree_map("[A-Za-z][A-Za-z0-9.]{0,12}", ".{0,40}", 0..8)
        ) {
            let text = pairs.iter().map(|(k, v)| format!("{}={}", crate::pct::encode(k), crate::pct::encode(v)))
                .collect::<Vec<_>>().join("&");
            let p = params(&text);
            for (k, v) in &pairs {
                prop_assert_eq!(p.get(k), Some(v.as_str()));
            }
        }
    }
}

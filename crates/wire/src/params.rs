//! The one parameter map of an RPC request, built from the query string and the form body in
//! any mix (kms-api.md §1.2), with typed reads.
//!
//! Rule for duplicates: a name given twice (in the query, the body, or across both) is
//! rejected. Accepting one copy would let a signed value and a read value differ.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::error::ProtocolError;

/// Most parameters one request may carry, query and form together. The widest SDK call sends a
/// few dozen (flattened tag lists of up to 20 pairs); this is far above it, and bounds the
/// work done before the signature is checked.
pub const MAX_PARAMS: usize = 1000;

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
    /// Builds the map from already-decoded pairs, rejecting duplicate names and more than
    /// [`MAX_PARAMS`] pairs. Linear in the input: it runs before authentication.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, ProtocolError> {
        if pairs.len() > MAX_PARAMS {
            return Err(ProtocolError::TooManyParameters { limit: MAX_PARAMS });
        }
        let mut seen = HashSet::with_capacity(pairs.len());
        for (name, _) in &pairs {
            if !seen.insert(name.as_str()) {
                return Err(ProtocolError::DuplicateParameter { name: name.clone() });
            }
        }
        Ok(Self { pairs })
    }

    /// Decodes `application/x-www-form-urlencoded` text (`+` is a space) into pairs, stopping
    /// as soon as `into` would hold more than [`MAX_PARAMS`]: a body of 240 000 names is
    /// refused after reading 1 001 of them, not after decoding them all.
    pub fn decode_form(
        input: &[u8],
        into: &mut Vec<(String, String)>,
    ) -> Result<(), ProtocolError> {
        for (k, v) in form_urlencoded::parse(input) {
            if into.len() >= MAX_PARAMS {
                return Err(ProtocolError::TooManyParameters { limit: MAX_PARAMS });
            }
            into.push((k.into_owned(), v.into_owned()));
        }
        Ok(())
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

    /// A parameter that names the resource an action acts on: present, non-empty, given once
    /// (duplicates are refused by [`Params::from_pairs`]). Read before authorization, so an
    /// empty or missing resource is a 400 and never an unchecked one.
    pub fn resource(&self, name: &'static str) -> Result<&str, ProtocolError> {
        self.required(name)
    }

    /// An optional parameter that names a resource: absent is `None`, sent empty is 400
    /// `MissingParameter` (an empty resource is never read as "none given").
    pub fn optional_resource(&self, name: &'static str) -> Result<Option<&str>, ProtocolError> {
        match self.get(name) {
            None => Ok(None),
            Some(_) => self.resource(name).map(Some),
        }
    }

    /// Whether a parameter was sent at all, empty or not.
    pub fn present(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A parameter whose value is JSON text (`Tags`, `Filters`, `Policy`, ...). Its flattened
    /// form (`Name.1...`, `Name.key=...`) is not read here, so it is refused rather than
    /// silently dropped: a dropped policy, filter or tag list changes what the call means.
    pub fn json_text(&self, name: &'static str) -> Result<Option<&str>, ProtocolError> {
        self.refuse_flattened(name)?;
        Ok(self.optional(name))
    }

    /// Refuses `name.<anything>` parameters: a flattened form this action does not read.
    pub fn refuse_flattened(&self, name: &'static str) -> Result<(), ProtocolError> {
        if self.with_prefix(name).next().is_some() {
            return Err(ProtocolError::InvalidParameter {
                name,
                reason: "send it as one parameter of JSON text, not flattened",
            });
        }
        Ok(())
    }

    /// A string map sent either as one parameter of JSON object text (`Name={"k":"v"}`) or
    /// flattened (`Name.k=v`, as `@alicloud/kms20160120` 1.2.0 sends EncryptionContext),
    /// returned as JSON object text. Both forms give the same map, so the same text once
    /// canonicalised. Both forms at once are refused: which one the caller meant is unknown.
    /// An empty JSON value with no flattened pair counts as absent, as for `optional`.
    pub fn string_map(&self, name: &'static str) -> Result<Option<Cow<'_, str>>, ProtocolError> {
        let json = self.get(name);
        let mut flat = self.with_prefix(name).peekable();
        if flat.peek().is_none() {
            return Ok(json.filter(|v| !v.is_empty()).map(Cow::Borrowed));
        }
        if json.is_some() {
            return Err(ProtocolError::InvalidParameter {
                name,
                reason: "send it either as JSON text or flattened, not both",
            });
        }
        let mut map = serde_json::Map::new();
        for (key, value) in flat {
            // Duplicate names were refused when the map was built, so keys are distinct.
            map.insert(key.to_owned(), serde_json::Value::String(value.to_owned()));
        }
        Ok(Some(Cow::Owned(serde_json::Value::Object(map).to_string())))
    }

    /// A flattened list `Name.1`, `Name.2`, ... in index order, refusing what would otherwise
    /// be dropped or ambiguous: the bare `Name`, an index that is not a decimal number ≥ 1, and
    /// two parameters with the same index (`Name.1` and `Name.01`).
    pub fn indexed_list(&self, name: &'static str) -> Result<Vec<&str>, ProtocolError> {
        let invalid = |reason| ProtocolError::InvalidParameter { name, reason };
        if self.present(name) {
            return Err(invalid("send it as Name.1, Name.2, ..."));
        }
        let mut items: Vec<(u32, &str)> = Vec::new();
        for (rest, value) in self.with_prefix(name) {
            let index = parse_index(rest).ok_or_else(|| invalid("each index must be 1, 2, ..."))?;
            items.push((index, value));
        }
        items.sort_by_key(|(i, _)| *i);
        if items.windows(2).any(|w| matches!(w, [a, b] if a.0 == b.0)) {
            return Err(invalid("an index is given twice"));
        }
        Ok(items.into_iter().map(|(_, v)| v).collect())
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

/// A list index: decimal digits, at least 1.
pub(crate) fn parse_index(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u32>().ok().filter(|i| *i >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(s: &str) -> Params {
        let mut v = Vec::new();
        Params::decode_form(s.as_bytes(), &mut v).unwrap();
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
        Params::decode_form(b"A=1&A=2", &mut v).unwrap();
        assert_eq!(
            Params::from_pairs(v).unwrap_err(),
            ProtocolError::DuplicateParameter { name: "A".into() }
        );
    }

    #[test]
    fn refuses_more_parameters_than_the_cap_while_decoding() {
        let body: String = (0..240_000).map(|i| format!("p{i}=&")).collect();
        let mut v = Vec::new();
        assert_eq!(
            Params::decode_form(body.as_bytes(), &mut v).unwrap_err(),
            ProtocolError::TooManyParameters { limit: MAX_PARAMS }
        );
        assert_eq!(v.len(), MAX_PARAMS, "decoding stops at the cap");
        let at_cap: String = (0..MAX_PARAMS).map(|i| format!("p{i}=&")).collect();
        let mut v = Vec::new();
        Params::decode_form(at_cap.as_bytes(), &mut v).unwrap();
        assert_eq!(Params::from_pairs(v).unwrap().pairs().len(), MAX_PARAMS);
        let over: Vec<(String, String)> = (0..=MAX_PARAMS)
            .map(|i| (format!("p{i}"), String::new()))
            .collect();
        assert!(Params::from_pairs(over).is_err());
    }

    #[test]
    fn finds_a_duplicate_among_many_names() {
        let mut v: Vec<(String, String)> = (0..MAX_PARAMS - 1)
            .map(|i| (format!("p{i}"), String::new()))
            .collect();
        v.push(("p3".into(), "x".into()));
        assert_eq!(
            Params::from_pairs(v).unwrap_err(),
            ProtocolError::DuplicateParameter { name: "p3".into() }
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

    fn map_of(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn string_map_reads_json_and_flattened_forms_alike() {
        let json = params("EncryptionContext=%7B%22app%22%3A%22c5%22%7D");
        let flat = params("EncryptionContext.app=c5");
        let a = json.string_map("EncryptionContext").unwrap().unwrap();
        let b = flat.string_map("EncryptionContext").unwrap().unwrap();
        assert_eq!(map_of(&a), map_of(&b));
        assert_eq!(params("").string_map("EncryptionContext").unwrap(), None);
        assert_eq!(
            params("EncryptionContext=")
                .string_map("EncryptionContext")
                .unwrap(),
            None
        );
    }

    #[test]
    fn string_map_refuses_both_forms_at_once() {
        for text in [
            "EncryptionContext=%7B%7D&EncryptionContext.app=c5",
            "EncryptionContext=&EncryptionContext.app=c5",
        ] {
            assert!(matches!(
                params(text).string_map("EncryptionContext"),
                Err(ProtocolError::InvalidParameter {
                    name: "EncryptionContext",
                    ..
                })
            ));
        }
    }

    #[test]
    fn json_text_refuses_a_flattened_form() {
        assert_eq!(params("Tags=%5B%5D").json_text("Tags").unwrap(), Some("[]"));
        assert!(params("Tags.1.TagKey=k").json_text("Tags").is_err());
        assert!(params("Tags=%5B%5D&Tags.1.TagKey=k")
            .json_text("Tags")
            .is_err());
    }

    #[test]
    fn indexed_list_refuses_what_it_would_drop() {
        assert_eq!(
            params("TagKey.2=b&TagKey.1=a")
                .indexed_list("TagKey")
                .unwrap(),
            vec!["a", "b"]
        );
        assert!(params("TagKey=a").indexed_list("TagKey").is_err());
        assert!(params("TagKey.x=a").indexed_list("TagKey").is_err());
        assert!(params("TagKey.0=a").indexed_list("TagKey").is_err());
        assert!(params("TagKey.1=a&TagKey.01=b")
            .indexed_list("TagKey")
            .is_err());
        assert!(params("TagKeys.1=a")
            .indexed_list("TagKey")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn resource_parameters_must_be_non_empty() {
        assert!(params("KeyId=").resource("KeyId").is_err());
        assert!(params("").resource("KeyId").is_err());
        assert_eq!(params("KeyId=k").resource("KeyId").unwrap(), "k");
    }

    proptest! {
        #[test]
        fn form_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut v = Vec::new();
            if Params::decode_form(&bytes, &mut v).is_ok() {
                let _ = Params::from_pairs(v);
            }
        }

        #[test]
        fn both_map_forms_give_the_same_map(
            map in proptest::collection::btree_map("[A-Za-z0-9_.:/-]{1,12}", ".{0,20}", 0..6)
        ) {
            let json = serde_json::to_string(&map).unwrap();
            let by_json = params(&format!("EncryptionContext={}", crate::pct::encode(&json)));
            let flat = map.iter()
                .map(|(k, v)| format!("EncryptionContext.{}={}", crate::pct::encode(k), crate::pct::encode(v)))
                .collect::<Vec<_>>().join("&");
            let by_flat = params(&flat);
            let a = by_json.string_map("EncryptionContext").unwrap();
            let b = by_flat.string_map("EncryptionContext").unwrap();
            if map.is_empty() {
                // `{}` as JSON is a context (an empty one); no flattened pair is none at all.
                prop_assert_eq!(b, None);
            } else {
                prop_assert_eq!(map_of(&a.unwrap()), map_of(&b.unwrap()));
            }
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

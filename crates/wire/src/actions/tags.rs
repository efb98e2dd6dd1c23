//! Tag actions (kms-api.md §3.2): TagResource, UntagResource, TagResources, UntagResources,
//! ListTagResources, ListResourceTags.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::ProtocolError;
use crate::params::{parse_index, Params};

/// Which resource TagResource / UntagResource name: exactly one of the three parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagResourceTarget<'a> {
    SecretName(&'a str),
    KeyId(&'a str),
    CertificateId(&'a str),
}

impl<'a> TagResourceTarget<'a> {
    /// Reads SecretName / KeyId / CertificateId: exactly one must be sent, and it must not be
    /// empty. A parameter sent empty still counts as sent, so `SecretName=&KeyId=k` is
    /// ambiguous (400 `InvalidParameter`) rather than a tag on the key that skipped the
    /// secret's checks; one empty resource is 400 `MissingParameter`. Decided before
    /// authorization (threat model rule 1).
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        const NAMES: [&str; 3] = ["SecretName", "KeyId", "CertificateId"];
        let mut sent = NAMES.into_iter().filter(|n| p.present(n));
        match (sent.next(), sent.next()) {
            (None, _) => Err(ProtocolError::MissingParameter { name: "SecretName" }),
            (Some(_), Some(_)) => Err(ProtocolError::InvalidParameter {
                name: "SecretName",
                reason: "give exactly one of SecretName, KeyId and CertificateId",
            }),
            (Some("KeyId"), None) => Ok(Self::KeyId(p.resource("KeyId")?)),
            (Some("CertificateId"), None) => Ok(Self::CertificateId(p.resource("CertificateId")?)),
            (Some(_), None) => Ok(Self::SecretName(p.resource("SecretName")?)),
        }
    }
}

/// `Tag.N.Key` / `Tag.N.Value` pairs in index order; a value may be absent.
pub fn indexed_tags(p: &Params) -> Result<Vec<(&str, Option<&str>)>, ProtocolError> {
    let invalid = |reason| ProtocolError::InvalidParameter {
        name: "Tag",
        reason,
    };
    if p.present("Tag") {
        return Err(invalid("send tags as Tag.N.Key and Tag.N.Value"));
    }
    let mut by_index: BTreeMap<u32, (Option<&str>, Option<&str>)> = BTreeMap::new();
    for (rest, value) in p.with_prefix("Tag") {
        // Anything else under `Tag.` would be dropped: refuse it instead.
        let (index, field) = rest
            .split_once('.')
            .and_then(|(i, f)| Some((parse_index(i)?, f)))
            .ok_or_else(|| invalid("use Tag.N.Key and Tag.N.Value with N = 1, 2, ..."))?;
        let slot = by_index.entry(index).or_default();
        let place = match field {
            "Key" => &mut slot.0,
            "Value" => &mut slot.1,
            _ => return Err(invalid("use Tag.N.Key and Tag.N.Value with N = 1, 2, ...")),
        };
        // `Tag.1.Key` and `Tag.01.Key` are one tag given twice.
        if place.replace(value).is_some() {
            return Err(invalid("a tag index is given twice"));
        }
    }
    by_index
        .into_values()
        .map(|(k, v)| match k {
            Some(k) if !k.is_empty() => Ok((k, v)),
            _ => Err(invalid("every Tag.N needs a non-empty Tag.N.Key")),
        })
        .collect()
}

/// TagResources / UntagResources / ListTagResources common parameters.
#[derive(Debug)]
pub struct ResourceSet<'a> {
    pub region_id: &'a str,
    pub resource_type: &'a str,
    pub resource_ids: Vec<&'a str>,
}

impl<'a> ResourceSet<'a> {
    /// Reads RegionId, ResourceType and ResourceId.N.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            region_id: p.required("RegionId")?,
            resource_type: p.required("ResourceType")?,
            resource_ids: p.indexed_list("ResourceId")?,
        })
    }
}

/// One row of ListTagResources.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceItem {
    pub resource_id: String,
    pub resource_type: String,
    pub tag_key: String,
    pub tag_value: String,
}

/// `{"TagResource": [...]}`.
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct TagResources {
    pub tag_resource: Vec<TagResourceItem>,
}

/// ListTagResources reply; `NextToken` is empty on the last page.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagResourcesResponse {
    pub next_token: String,
    pub tag_resources: TagResources,
}

/// One key tag.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyTagItem {
    pub key_id: String,
    pub tag_key: String,
    pub tag_value: String,
}

/// `{"Tag": [...]}` of key tags.
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct KeyTags {
    pub tag: Vec<KeyTagItem>,
}

/// ListResourceTags reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResourceTagsResponse {
    pub tags: KeyTags,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> Params {
        let mut v = Vec::new();
        Params::decode_form(s.as_bytes(), &mut v).unwrap();
        Params::from_pairs(v).unwrap()
    }

    #[test]
    fn reads_indexed_tags_in_order_with_optional_values() {
        let p = params("Tag.2.Key=b&Tag.1.Key=a&Tag.1.Value=x&Tag.10.Key=c");
        assert_eq!(
            indexed_tags(&p).unwrap(),
            vec![("a", Some("x")), ("b", None), ("c", None)]
        );
        assert!(indexed_tags(&params("Tag.1.Value=x")).is_err());
        for text in [
            "Tag.1.Key=a&Tag.01.Key=b",
            "Tag.x.Key=a",
            "Tag.1.Name=a",
            "Tag=a",
            "Tag.0.Key=a",
        ] {
            assert!(indexed_tags(&params(text)).is_err(), "{text}");
        }
    }

    #[test]
    fn tag_target_needs_exactly_one_resource() {
        assert_eq!(
            TagResourceTarget::read(&params("KeyId=k")).unwrap(),
            TagResourceTarget::KeyId("k")
        );
        assert!(TagResourceTarget::read(&params("KeyId=k&SecretName=s")).is_err());
        assert!(TagResourceTarget::read(&params("")).is_err());
        // An empty parameter still counts as sent: ambiguous, never "the other one".
        for text in [
            "SecretName=&KeyId=k",
            "KeyId=k&CertificateId=",
            "SecretName=s&KeyId=",
        ] {
            assert!(matches!(
                TagResourceTarget::read(&params(text)),
                Err(ProtocolError::InvalidParameter { .. })
            ));
        }
        for text in ["SecretName=", "KeyId=", "CertificateId="] {
            assert!(matches!(
                TagResourceTarget::read(&params(text)),
                Err(ProtocolError::MissingParameter { .. })
            ));
        }
        assert_eq!(
            TagResourceTarget::read(&params("CertificateId=c")).unwrap(),
            TagResourceTarget::CertificateId("c")
        );
    }
}

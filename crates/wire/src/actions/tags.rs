//! Tag actions (kms-api.md §3.2): TagResource, UntagResource, TagResources, UntagResources,
//! ListTagResources, ListResourceTags.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::ProtocolError;
use crate::params::Params;

/// Which resource TagResource / UntagResource name: exactly one of the three parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagResourceTarget<'a> {
    SecretName(&'a str),
    KeyId(&'a str),
    CertificateId(&'a str),
}

impl<'a> TagResourceTarget<'a> {
    /// Reads SecretName / KeyId / CertificateId, requiring exactly one.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        let found = [
            p.optional("SecretName").map(Self::SecretName),
            p.optional("KeyId").map(Self::KeyId),
            p.optional("CertificateId").map(Self::CertificateId),
        ];
        let mut given = found.into_iter().flatten();
        match (given.next(), given.next()) {
            (Some(t), None) => Ok(t),
            (None, _) => Err(ProtocolError::MissingParameter { name: "SecretName" }),
            (Some(_), Some(_)) => Err(ProtocolError::InvalidParameter {
                name: "SecretName",
                reason: "give exactly one of SecretName, KeyId and CertificateId",
            }),
        }
    }
}

/// `Tag.N.Key` / `Tag.N.Value` pairs in index order; a value may be absent.
pub fn indexed_tags(p: &Params) -> Result<Vec<(&str, Option<&str>)>, ProtocolError> {
    let mut by_index: BTreeMap<u32, (Option<&str>, Option<&str>)> = BTreeMap::new();
    for (rest, value) in p.with_prefix("Tag") {
        let Some((index, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(index) = index.parse::<u32>() else {
            continue;
        };
        let slot = by_index.entry(index).or_default();
        match field {
            "Key" => slot.0 = Some(value),
            "Value" => slot.1 = Some(value),
            _ => {}
        }
    }
    by_index
        .into_values()
        .map(|(k, v)| match k {
            Some(k) if !k.is_empty() => Ok((k, v)),
            _ => Err(ProtocolError::InvalidParameter {
                name: "Tag",
                reason: "every Tag.N needs a non-empty Tag.N.Key",
            }),
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
            resource_ids: p.list("ResourceId"),
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
        Params::decode_form(s.as_bytes(), &mut v);
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
    }

    #[test]
    fn tag_target_needs_exactly_one_resource() {
        assert_eq!(
            TagResourceTarget::read(&params("KeyId=k")).unwrap(),
            TagResourceTarget::KeyId("k")
        );
        assert!(TagResourceTarget::read(&params("KeyId=k&SecretName=s")).is_err());
        assert!(TagResourceTarget::read(&params("")).is_err());
    }
}

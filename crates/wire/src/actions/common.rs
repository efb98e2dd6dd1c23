//! Reply shapes shared by several actions.

use serde::Serialize;

/// `{"VersionStage": [...]}`: the wrapper object Alibaba puts around stage lists.
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct VersionStages {
    pub version_stage: Vec<String>,
}

/// One tag in a reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagItem {
    pub tag_key: String,
    pub tag_value: String,
}

/// `{"Tag": [...]}`.
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Tags {
    pub tag: Vec<TagItem>,
}

/// A reply that carries only `RequestId`.
#[derive(Debug, Serialize)]
pub struct EmptyResponse {}

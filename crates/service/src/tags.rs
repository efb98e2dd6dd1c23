//! Tag actions on secrets and keys: TagResource / UntagResource (one resource, JSON tags),
//! TagResources / UntagResources (many resources, all or nothing), ListTagResources and
//! ListResourceTags. Tag rules (charset, reserved prefixes, ≤20) come from `domain::tags`.

use base64::Engine;
use openkms_domain::tags::MAX_TAGS;
use openkms_domain::{parse_tag_keys, parse_tags_json, Tag, ValidationError};
use openkms_store::{ResourceKind, TagChange, TagOutcome, TagRecord, TagRow};

use crate::{Caller, Error, Service};

/// Rows per ListTagResources page (kms-api.md §3.2).
const TAG_PAGE: u64 = 200;
/// Most resources in one TagResources / UntagResources / ListTagResources call.
const MAX_RESOURCES: usize = 50;

/// The resource of TagResource / UntagResource.
#[derive(Debug, Clone, Copy)]
pub enum TagTarget<'a> {
    Secret(&'a str),
    Key(&'a str),
    Certificate(&'a str),
}

/// One tag of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagView {
    pub key: String,
    pub value: String,
}

impl From<TagRecord> for TagView {
    fn from(t: TagRecord) -> Self {
        Self {
            key: t.key,
            value: t.value,
        }
    }
}

/// Tag rows as the store returns them, as views.
pub(crate) fn tag_views(tags: Vec<TagRecord>) -> Vec<TagView> {
    tags.into_iter().map(TagView::from).collect()
}

/// One (resource, tag) row of ListTagResources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTagView {
    /// The secret's name or the key's id.
    pub resource_id: String,
    pub key: String,
    pub value: String,
}

impl From<TagRow> for ResourceTagView {
    fn from(r: TagRow) -> Self {
        Self {
            resource_id: r.resource_id,
            key: r.key,
            value: r.value,
        }
    }
}

/// One page of ListTagResources.
#[derive(Debug)]
pub struct TagPage {
    pub rows: Vec<ResourceTagView>,
    pub next_token: Option<String>,
}

impl Service {
    /// TagResource: adds or overwrites tags on one resource.
    pub async fn tag_resource(
        &self,
        _c: &Caller,
        target: TagTarget<'_>,
        tags_json: &str,
    ) -> Result<(), Error> {
        let tags = parse_tags_json(tags_json)?;
        let (kind, id) = self.tag_target(target).await?;
        self.change_tags(
            kind,
            vec![TagChange {
                resource_id: id,
                set: tag_records(&tags),
                ..Default::default()
            }],
        )
        .await
    }

    /// UntagResource: removes tag keys from one resource; absent keys are ignored.
    pub async fn untag_resource(
        &self,
        _c: &Caller,
        target: TagTarget<'_>,
        tag_keys: &str,
    ) -> Result<(), Error> {
        let keys = parse_tag_keys(tag_keys)?;
        let (kind, id) = self.tag_target(target).await?;
        self.change_tags(
            kind,
            vec![TagChange {
                resource_id: id,
                remove: keys,
                ..Default::default()
            }],
        )
        .await
    }

    /// TagResources: the same tags on up to 50 resources, all or nothing.
    pub async fn tag_resources(
        &self,
        _c: &Caller,
        region: &str,
        resource_type: &str,
        resource_ids: &[&str],
        tags: &[(&str, &str)],
    ) -> Result<(), Error> {
        let kind = self.resource_kind(region, resource_type)?;
        if tags.is_empty() {
            return Err(ValidationError::Missing { param: "Tag" }.into());
        }
        let parsed = tags
            .iter()
            .map(|(k, v)| Tag::new(k, v))
            .collect::<Result<Vec<_>, _>>()?;
        openkms_domain::check_tag_set("Tag", &parsed)?;
        let ids = self.resource_ids(kind, resource_ids)?;
        let set = tag_records(&parsed);
        self.change_tags(
            kind,
            ids.into_iter()
                .map(|id| TagChange {
                    resource_id: id,
                    set: set.clone(),
                    ..Default::default()
                })
                .collect(),
        )
        .await
    }

    /// UntagResources: removes tag keys (or every tag with `all` and no keys) from up to 50
    /// resources, all or nothing.
    pub async fn untag_resources(
        &self,
        _c: &Caller,
        region: &str,
        resource_type: &str,
        resource_ids: &[&str],
        tag_keys: &[&str],
        all: bool,
    ) -> Result<(), Error> {
        let kind = self.resource_kind(region, resource_type)?;
        if tag_keys.len() > MAX_TAGS {
            return Err(ValidationError::TooMany {
                param: "TagKey",
                max: MAX_TAGS,
                item: "tag keys",
            }
            .into());
        }
        let ids = self.resource_ids(kind, resource_ids)?;
        let remove_all = all && tag_keys.is_empty();
        self.change_tags(
            kind,
            ids.into_iter()
                .map(|id| TagChange {
                    resource_id: id,
                    remove: tag_keys.iter().map(|k| (*k).to_owned()).collect(),
                    remove_all,
                    ..Default::default()
                })
                .collect(),
        )
        .await
    }

    /// ListTagResources: (resource, tag) rows, 200 per page; `next_token` continues.
    pub async fn list_tag_resources(
        &self,
        _c: &Caller,
        region: &str,
        resource_type: &str,
        resource_ids: &[&str],
        tag_filter: &[(&str, Option<&str>)],
        next_token: Option<&str>,
    ) -> Result<TagPage, Error> {
        let kind = self.resource_kind(region, resource_type)?;
        if resource_ids.len() > MAX_RESOURCES {
            return Err(ValidationError::TooMany {
                param: "ResourceId",
                max: MAX_RESOURCES,
                item: "resources",
            }
            .into());
        }
        if tag_filter.len() > MAX_TAGS {
            return Err(ValidationError::TooMany {
                param: "Tag",
                max: MAX_TAGS,
                item: "tags",
            }
            .into());
        }
        let ids: Vec<String> = match kind {
            ResourceKind::Secret => resource_ids
                .iter()
                .filter_map(|id| self.secret_name(id).ok().map(|n| n.as_str().to_owned()))
                .collect(),
            ResourceKind::Key => resource_ids.iter().map(|s| (*s).to_owned()).collect(),
        };
        if !resource_ids.is_empty() && ids.is_empty() {
            return Ok(TagPage {
                rows: Vec::new(),
                next_token: None,
            });
        }
        let offset = match next_token {
            Some(t) => decode_token(t)?,
            None => 0,
        };
        let filter: Vec<(String, Option<String>)> = tag_filter
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
            .collect();
        let mut rows = self
            .store
            .tag_rows(kind, &ids, &filter, offset, TAG_PAGE + 1)
            .await?;
        let next_token = if rows.len() as u64 > TAG_PAGE {
            rows.truncate(TAG_PAGE as usize);
            Some(encode_token(offset + TAG_PAGE))
        } else {
            None
        };
        Ok(TagPage {
            rows: rows.into_iter().map(ResourceTagView::from).collect(),
            next_token,
        })
    }

    /// ListResourceTags: a key's tags.
    pub async fn list_resource_tags(
        &self,
        _c: &Caller,
        key_id: &str,
    ) -> Result<Vec<TagView>, Error> {
        let key = self.resolve_key(key_id).await?;
        Ok(tag_views(self.store.key_tags(&key.key_id).await?))
    }

    async fn change_tags(&self, kind: ResourceKind, changes: Vec<TagChange>) -> Result<(), Error> {
        match self.store.change_tags(kind, changes, MAX_TAGS).await? {
            TagOutcome::Applied => Ok(()),
            TagOutcome::NotFound(_) => Err(match kind {
                ResourceKind::Secret => Error::SecretNotFound,
                ResourceKind::Key => Error::KeyNotFound,
            }),
            TagOutcome::TooMany(_) => Err(ValidationError::TooMany {
                param: "Tags",
                max: MAX_TAGS,
                item: "tags on one resource",
            }
            .into()),
            TagOutcome::PendingDeletion(_) => Err(Error::PendingDeletion),
        }
    }

    /// The resource TagResource / UntagResource change: a secret by name or ARN, a user key
    /// by id, alias or ARN (resolved as every `KeyId` is; the service key is refused).
    async fn tag_target(&self, target: TagTarget<'_>) -> Result<(ResourceKind, String), Error> {
        match target {
            TagTarget::Secret(name) => Ok((
                ResourceKind::Secret,
                self.secret_name(name)?.as_str().to_owned(),
            )),
            TagTarget::Key(text) => {
                Ok((ResourceKind::Key, self.resolve_user_key(text).await?.key_id))
            }
            // openkms keeps no certificates, so none can be found.
            TagTarget::Certificate(_) => Err(Error::CertificateNotFound),
        }
    }

    fn resource_kind(&self, region: &str, resource_type: &str) -> Result<ResourceKind, Error> {
        if region != self.region() {
            return Err(ValidationError::invalid(
                "RegionId",
                format!("this server serves the region {}", self.region()),
            )
            .into());
        }
        match resource_type {
            "secret" => Ok(ResourceKind::Secret),
            "key" => Ok(ResourceKind::Key),
            _ => Err(ValidationError::NotOneOf {
                param: "ResourceType",
                allowed: "key, secret",
            }
            .into()),
        }
    }

    fn resource_ids(&self, kind: ResourceKind, ids: &[&str]) -> Result<Vec<String>, Error> {
        if ids.is_empty() {
            return Err(ValidationError::Missing {
                param: "ResourceId",
            }
            .into());
        }
        if ids.len() > MAX_RESOURCES {
            return Err(ValidationError::TooMany {
                param: "ResourceId",
                max: MAX_RESOURCES,
                item: "resources",
            }
            .into());
        }
        ids.iter()
            .map(|id| match kind {
                ResourceKind::Secret => Ok(self.secret_name(id)?.as_str().to_owned()),
                ResourceKind::Key => Ok((*id).to_owned()),
            })
            .collect()
    }
}

/// Parsed tags as the store writes them.
pub(crate) fn tag_records(tags: &[Tag]) -> Vec<TagRecord> {
    tags.iter()
        .map(|t| TagRecord {
            key: t.key().to_owned(),
            value: t.value().to_owned(),
        })
        .collect()
}

/// NextToken is opaque to clients: base64 of the row offset.
fn encode_token(offset: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o{offset}"))
}

fn decode_token(token: &str) -> Result<u64, Error> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix('o').and_then(|n| n.parse().ok()))
        .ok_or_else(|| {
            ValidationError::invalid("NextToken", "it is not a token this server returned").into()
        })
}

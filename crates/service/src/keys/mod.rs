//! Key actions (kms-api.md §3.3, §3.4): CreateKey, DescribeKey, ListKeys, key state changes,
//! aliases, and the cryptographic operations. Shared here: resolving a `KeyId` parameter (id,
//! alias or ARN) to a key, paging, and the views returned to the server.
//!
//! The service-managed default key (creator `Service`) seals secrets without an
//! EncryptionKeyId. It is described by DescribeKey but is not listed by ListKeys, and no
//! action may change it, alias it or use it directly (403 `Forbidden.NoPermission`): changing
//! it would silently lock every secret that relies on it.

mod aliases;
mod create;
mod crypto;
mod state;
mod versions;

pub use aliases::{AliasPage, AliasView};
pub use create::{CreateKeyInput, KeyKindInput};
pub(crate) use crypto::blob_key_id;
pub use crypto::{DataKey, DataKeySpec, Decrypted, Encrypted};
pub use versions::{KeyVersionPage, KeyVersionView};

use openkms_domain::key::{next_rotation, KeyRef, PROTECTION_SOFTWARE};
use openkms_domain::key_filters::{KeyFacts, KeyFilter};
use openkms_domain::{key_arn, ValidationError};
use openkms_store::KeyRecord;

use crate::{Error, Service};

/// Largest PageSize of ListKeys / ListAliases.
const MAX_PAGE_SIZE: u64 = 100;
/// PageSize when none is given.
const DEFAULT_PAGE_SIZE: u64 = 10;
/// Creator recorded on the service-managed key.
const SERVICE_CREATOR: &str = "Service";

/// A key as DescribeKey / CreateKey report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyView {
    pub arn: String,
    pub key_id: String,
    pub instance_id: String,
    pub key_spec: String,
    pub key_usage: String,
    pub key_state: String,
    pub creator: String,
    pub description: String,
    pub primary_version_id: String,
    pub created_at: i64,
    pub delete_at: Option<i64>,
    /// When the primary version was created: the key's creation until its first rotation.
    pub last_rotation_at: i64,
    /// `None` while automatic rotation is off.
    pub automatic_rotation: Option<KeyRotationView>,
}

/// A key's automatic rotation, while it is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRotationView {
    pub interval_secs: i64,
    /// One interval after the last rotation.
    pub next_at: i64,
}

/// One page of ListKeys.
#[derive(Debug)]
pub struct KeyPage {
    pub page_number: u64,
    pub page_size: u64,
    pub total: u64,
    pub keys: Vec<(String, String)>,
}

/// PageNumber (≥1, default 1) and PageSize (1–100, default 10) as an offset and a limit.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub number: u64,
    pub size: u64,
}

impl Paging {
    /// Checks the parameters.
    pub fn parse(number: Option<u64>, size: Option<u64>) -> Result<Self, Error> {
        let number = number.unwrap_or(1);
        let size = size.unwrap_or(DEFAULT_PAGE_SIZE);
        if number == 0 {
            return Err(ValidationError::invalid("PageNumber", "it must be 1 or more").into());
        }
        if size == 0 || size > MAX_PAGE_SIZE {
            return Err(ValidationError::OutOfRange {
                param: "PageSize",
                min: "1",
                max: "100",
            }
            .into());
        }
        Ok(Self { number, size })
    }

    fn offset(self) -> u64 {
        (self.number - 1).saturating_mul(self.size)
    }
}

impl Service {
    /// DescribeKey: any key, the service key included.
    pub async fn describe_key(&self, key_id: &str) -> Result<KeyView, Error> {
        let key = self.resolve_key(key_id).await?;
        Ok(self.key_view(key))
    }

    /// ListKeys: user keys in creation order (the service key is not listed). With Filters,
    /// every user key is read and filtered here (keys are few; the filter is pure domain).
    pub async fn list_keys(&self, paging: Paging, filters: Option<&str>) -> Result<KeyPage, Error> {
        let (total, keys) = match filters {
            None => {
                self.store
                    .list_user_keys(paging.offset(), paging.size)
                    .await?
            }
            Some(text) => {
                let filter = KeyFilter::parse(text)?;
                let (_, all) = self.store.list_user_keys(0, u64::MAX).await?;
                let mut kept = Vec::new();
                for k in all {
                    if self.key_passes(&filter, &k).await? {
                        kept.push(k);
                    }
                }
                let total = u64::try_from(kept.len()).unwrap_or(u64::MAX);
                let skip = usize::try_from(paging.offset()).unwrap_or(usize::MAX);
                let take = usize::try_from(paging.size).unwrap_or(usize::MAX);
                (total, kept.into_iter().skip(skip).take(take).collect())
            }
        };
        Ok(KeyPage {
            page_number: paging.number,
            page_size: paging.size,
            total,
            keys: keys
                .into_iter()
                .map(|k| {
                    let arn = key_arn(self.region(), self.account_id(), &k.key_id);
                    (k.key_id, arn)
                })
                .collect(),
        })
    }

    async fn key_passes(&self, filter: &KeyFilter, k: &KeyRecord) -> Result<bool, Error> {
        let aliases = if filter.needs("AliasName") {
            let (_, rows) = self.store.aliases(Some(&k.key_id), 0, u64::MAX).await?;
            rows.into_iter().map(|a| a.alias_name).collect()
        } else {
            Vec::new()
        };
        let tags: Vec<(String, String)> = if filter.needs("TagKey") || filter.needs("TagValue") {
            self.store
                .key_tags(&k.key_id)
                .await?
                .into_iter()
                .map(|t| (t.key, t.value))
                .collect()
        } else {
            Vec::new()
        };
        Ok(filter.matches(&KeyFacts {
            key_state: k.key_state.name(),
            key_spec: k.key_spec.name(),
            key_usage: k.key_usage.name(),
            protection_level: PROTECTION_SOFTWARE,
            creator_type: "User",
            instance_id: &k.instance_id,
            key_id: &k.key_id,
            creator: &k.creator,
            aliases: &aliases,
            tags: &tags,
        }))
    }

    fn key_view(&self, k: KeyRecord) -> KeyView {
        KeyView {
            arn: key_arn(self.region(), self.account_id(), &k.key_id),
            automatic_rotation: k.rotation_interval_secs.and_then(|interval_secs| {
                Some(KeyRotationView {
                    interval_secs,
                    next_at: next_rotation(k.last_rotation_at, Some(interval_secs))?,
                })
            }),
            key_id: k.key_id,
            instance_id: k.instance_id,
            key_spec: k.key_spec.name().to_owned(),
            key_usage: k.key_usage.name().to_owned(),
            key_state: k.key_state.name().to_owned(),
            creator: k.creator,
            description: k.description,
            primary_version_id: k.primary_version_id,
            created_at: k.created_at,
            delete_at: k.delete_at,
            last_rotation_at: k.last_rotation_at,
        }
    }

    /// The key a `KeyId` parameter names: an id, `alias/…`, or a key or alias ARN of this
    /// account and region. Text that cannot name a key names none (404, not a syntax error).
    pub(crate) async fn resolve_key(&self, text: &str) -> Result<KeyRecord, Error> {
        let r = KeyRef::parse(text).map_err(|_| Error::KeyNotFound)?;
        if r.account_id().is_some_and(|a| a != self.account_id())
            || r.region().is_some_and(|g| g != self.region())
        {
            return Err(Error::KeyNotFound);
        }
        let id = match r {
            KeyRef::Id(id) | KeyRef::KeyArn { key_id: id, .. } => id,
            KeyRef::Alias(alias) | KeyRef::AliasArn { alias, .. } => {
                self.store
                    .alias(alias.as_str())
                    .await?
                    .ok_or(Error::KeyNotFound)?
                    .key_id
            }
        };
        self.store.key(&id).await?.ok_or(Error::KeyNotFound)
    }

    /// Like [`Service::resolve_key`], refusing the service-managed key.
    pub(crate) async fn resolve_user_key(&self, text: &str) -> Result<KeyRecord, Error> {
        let key = self.resolve_key(text).await?;
        if key.creator == SERVICE_CREATOR {
            return Err(Error::ServiceKeyManaged);
        }
        Ok(key)
    }
}

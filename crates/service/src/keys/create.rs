//! CreateKey: validate, generate material, wrap it under the active root of trust like the service
//! key, and insert key, first version and tags in one transaction.

use openkms_domain::key::{
    check_key_description, check_key_options, check_key_spec, KeySpec, KeyState, KeyUsage,
    DEFAULT_KEY_ROTATION_SECS,
};
use openkms_domain::{parse_tags_json, RotationInterval};
use openkms_store::{KeyRecord, KeyVersionRecord};

use super::KeyView;
use crate::tags::tag_records;
use crate::{ids, Caller, Error, Service};

/// CreateKey parameters as received. Policy and KeyStorageMechanism are accepted and ignored
/// (openkms has no key policies; every key is software-protected).
#[derive(Debug, Default)]
pub struct CreateKeyInput<'a> {
    pub kind: KeyKindInput<'a>,
    pub description: Option<&'a str>,
    pub enable_automatic_rotation: Option<bool>,
    pub rotation_interval: Option<&'a str>,
    pub tags: Option<&'a str>,
    pub dkms_instance_id: Option<&'a str>,
}

/// What kind of key to make: KeySpec, KeyUsage, Origin and ProtectionLevel as received.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyKindInput<'a> {
    pub key_spec: Option<&'a str>,
    pub key_usage: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub protection_level: Option<&'a str>,
}

impl KeyKindInput<'_> {
    /// The key spec; the other three have one supported value each.
    fn check(self) -> Result<KeySpec, Error> {
        let spec = check_key_spec(self.key_spec)?;
        check_key_options(self.key_usage, self.origin, self.protection_level)?;
        Ok(spec)
    }
}

impl Service {
    /// CreateKey.
    pub async fn create_key(
        &self,
        _caller: &Caller,
        input: CreateKeyInput<'_>,
    ) -> Result<KeyView, Error> {
        let now = self.now();
        let spec = input.kind.check()?;
        let description = input.description.unwrap_or_default();
        check_key_description(description)?;
        let interval = input
            .rotation_interval
            .map(RotationInterval::parse_key_interval)
            .transpose()?;
        let rotation_interval_secs = match input.enable_automatic_rotation {
            Some(true) => Some(
                i64::try_from(interval.map_or(DEFAULT_KEY_ROTATION_SECS, |i| i.seconds()))
                    .unwrap_or(i64::MAX),
            ),
            _ => None,
        };
        let tags = match input.tags {
            Some(t) => parse_tags_json(t)?,
            None => Vec::new(),
        };
        let instance_id = match input.dkms_instance_id {
            Some(i) if self.store.instance_exists(i).await? => i.to_owned(),
            Some(_) => return Err(Error::InstanceNotFound),
            None => self.meta.default_instance.clone(),
        };
        let key_id = ids::key_id(self.region()).map_err(|_| Error::internal("make key id"))?;
        let version_id = ids::uuid();
        let key = KeyRecord {
            key_id: key_id.clone(),
            instance_id,
            key_spec: spec,
            key_usage: KeyUsage::EncryptDecrypt,
            key_state: KeyState::Enabled,
            creator: self.account_id().to_owned(),
            description: description.to_owned(),
            primary_version_id: version_id.clone(),
            created_at: now,
            delete_at: None,
            rotation_interval_secs,
            last_rotation_at: now,
        };
        let tags = tag_records(&tags);
        let mut attempts = 0;
        loop {
            let (wrapped, root_id) = self.wrap_new_material(&key_id, &version_id).await?;
            let version = KeyVersionRecord {
                key_id: key_id.clone(),
                version_id: version_id.clone(),
                wrapped_material: wrapped,
                root_id,
                created_at: now,
            };
            attempts += 1;
            match self
                .store
                .create_key(key.clone(), version, tags.clone())
                .await
            {
                // A rekey retired the root between the wrap and the write: wrap again under
                // the root it made active.
                Err(e) if e.is_root_retired() && attempts < 3 => continue,
                other => other?,
            }
            break;
        }
        tracing::info!(key = key.key_id.as_str(), "key created");
        Ok(self.key_view(key))
    }
}

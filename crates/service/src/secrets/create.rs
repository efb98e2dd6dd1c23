//! CreateSecret: validate every parameter (the seed's rules), seal the first version under the
//! chosen key, and insert secret, tags and version in one transaction.

use openkms_domain::stages::StageMap;
use openkms_domain::{
    check_name_for_type, check_ram_credentials_name, default_secret_policy, missing_for,
    ram_credentials_secret_name, secret_arn, validate_secret_data, validate_secret_policy,
    ExtendedConfig, RotationInterval, SecretName, SecretType, ValidationError, AUTO_MARKER,
};
use openkms_store::{CreateOutcome, NewSecret, RotationRecord, SecretRecord};

use super::{SecretView, VersionInput};
use crate::rotation::CredentialTarget;
use crate::tags::tag_records;
use crate::{Caller, Error, Service};

/// Longest Description accepted (the keys' documented limit; secrets' is unconfirmed).
pub(crate) const DESCRIPTION_MAX_CHARS: usize = 8_192;

/// CreateSecret parameters as received.
/// Deliberately not `Debug`: it carries plaintext.
#[derive(Default)]
pub struct CreateSecretInput<'a> {
    pub secret_name: &'a str,
    pub version: VersionInput<'a>,
    pub encryption_key_id: Option<&'a str>,
    pub description: Option<&'a str>,
    pub tags: Option<&'a str>,
    pub secret_type: Option<&'a str>,
    pub extended_config: Option<&'a str>,
    pub enable_automatic_rotation: Option<bool>,
    pub rotation_interval: Option<&'a str>,
    pub dkms_instance_id: Option<&'a str>,
    pub policy: Option<&'a str>,
}

/// What CreateSecret reports.
#[derive(Debug)]
pub struct CreatedSecret {
    pub arn: String,
    pub version_id: String,
    pub secret: SecretView,
}

impl Service {
    /// CreateSecret.
    pub async fn create_secret(
        &self,
        caller: &Caller,
        input: CreateSecretInput<'_>,
    ) -> Result<CreatedSecret, Error> {
        let now = self.now();
        let ty = SecretType::parse(input.secret_type.unwrap_or("Generic"))?;
        let config = ExtendedConfig::from_param(ty, input.extended_config)?;
        if ty.is_managed() && config.is_none() {
            return Err(missing_for(ty).into());
        }
        let name = secret_name_for(ty, input.secret_name, config.as_ref())?;
        let version = input.version.parse()?;
        validate_secret_data(
            ty,
            version.data_type,
            version.data,
            config.as_ref().and_then(ExtendedConfig::sub_type),
        )?;
        let description = input.description.unwrap_or_default();
        if description.chars().count() > DESCRIPTION_MAX_CHARS {
            return Err(ValidationError::TooLong {
                param: "Description",
                max: DESCRIPTION_MAX_CHARS,
            }
            .into());
        }
        let tags = match input.tags {
            Some(t) => openkms_domain::parse_tags_json(t)?,
            None => Vec::new(),
        };
        let rotation = rotation_settings(
            ty,
            input.enable_automatic_rotation,
            input.rotation_interval,
            now,
        )?;
        let policy = match input.policy {
            Some(p) => {
                validate_secret_policy(p)?;
                p.to_owned()
            }
            None => default_secret_policy(self.account_id()),
        };
        // Rights over the secret are not rights over the credential rotation will change.
        let target = CredentialTarget::of(ty, config.as_ref());
        self.authorize_credential(caller, target.as_ref()).await?;
        if let Some(instance) = input.dkms_instance_id {
            if !self.store.instance_exists(instance).await? {
                return Err(Error::InstanceNotFound);
            }
        }
        let (key, kek) = self.sealing_key(input.encryption_key_id).await?;
        if let Some(instance) = input.dkms_instance_id {
            if key.instance_id != instance {
                return Err(ValidationError::invalid(
                    "EncryptionKeyId",
                    "the key and the secret must be in the same KMS instance",
                )
                .into());
            }
        }
        let first_version = self.seal_version(&name, &version, &key, &kek, now)?;
        let record = SecretRecord {
            id: 0,
            name: name.as_str().to_owned(),
            secret_type: ty,
            description: description.to_owned(),
            // The effective key, so DescribeSecret names the service key too.
            encryption_key_id: Some(key.key_id.clone()),
            dkms_instance_id: input.dkms_instance_id.map(str::to_owned),
            extended_config: config.as_ref().map(ExtendedConfig::to_json_string),
            rotation,
            policy,
            stages: StageMap::initial(version.id.as_str()),
            created_at: now,
            updated_at: now,
            planned_delete_at: None,
            revision: 0,
        };
        let view = SecretView::from(&record);
        let new = NewSecret {
            secret: record,
            tags: tag_records(&tags),
            first_version,
        };
        match self.store.create_secret(new).await? {
            CreateOutcome::Created => {}
            CreateOutcome::SealingKeyRefused(r) => return Err(super::sealing_key_refused(r)),
            CreateOutcome::NameTaken {
                pending_deletion: true,
            } => return Err(Error::PendingDeletion),
            CreateOutcome::NameTaken {
                pending_deletion: false,
            } => {
                return Err(Error::SecretExists {
                    name: name.as_str().to_owned(),
                })
            }
        }
        Ok(CreatedSecret {
            arn: secret_arn(self.region(), self.account_id(), &name),
            version_id: version.id.as_str().to_owned(),
            secret: view,
        })
    }
}

/// The secret's name: `$Auto` for RAMCredentials builds it from the UserName.
/// The name CreateSecret will give a secret, for authorization: `None` when the parameters
/// name none (the call then fails validation with its own error).
pub(crate) fn new_secret_name(
    given: &str,
    secret_type: Option<&str>,
    extended_config: Option<&str>,
) -> Option<SecretName> {
    let ty = SecretType::parse(secret_type.unwrap_or("Generic")).ok()?;
    let config = ExtendedConfig::from_param(ty, extended_config).ok()?;
    secret_name_for(ty, given, config.as_ref()).ok()
}

fn secret_name_for(
    ty: SecretType,
    given: &str,
    config: Option<&ExtendedConfig>,
) -> Result<SecretName, Error> {
    let user = config.and_then(|c| c.get_str("UserName"));
    if ty == SecretType::RamCredentials && given == AUTO_MARKER {
        let user = user.ok_or(ValidationError::MissingField {
            param: "ExtendedConfig",
            field: "UserName",
        })?;
        return Ok(ram_credentials_secret_name(user)?);
    }
    let name = SecretName::parse(given)?;
    check_name_for_type(&name, ty)?;
    if ty == SecretType::RamCredentials {
        check_ram_credentials_name(&name, user.unwrap_or_default())?;
    }
    Ok(name)
}

/// Rotation settings from EnableAutomaticRotation and RotationInterval.
pub(crate) fn rotation_settings(
    ty: SecretType,
    enable: Option<bool>,
    interval: Option<&str>,
    now: i64,
) -> Result<RotationRecord, ValidationError> {
    let enabled = enable.unwrap_or(false);
    if enabled && !ty.supports_automatic_rotation() {
        return Err(ValidationError::NotAllowedFor {
            param: "EnableAutomaticRotation",
            value: "true",
            secret_type: ty.wire_name(),
        });
    }
    let interval = interval
        .map(RotationInterval::parse_secret_interval)
        .transpose()?;
    if !enabled {
        return Ok(RotationRecord::default());
    }
    let interval = interval.ok_or_else(|| {
        ValidationError::invalid(
            "RotationInterval",
            "is required when EnableAutomaticRotation is true",
        )
    })?;
    let secs = i64::try_from(interval.seconds()).unwrap_or(i64::MAX);
    Ok(RotationRecord {
        enabled: true,
        interval_secs: Some(secs),
        next_at: Some(now.saturating_add(secs)),
        last_at: None,
        progress: Default::default(),
    })
}

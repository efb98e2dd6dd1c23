//! PutSecretValue: a new version of a Generic secret. Stage moves and the 10-version cap are
//! decided by `domain::stages` inside the write transaction, so concurrent writers cannot lose
//! a version or leave two ACSCurrent.

use openkms_domain::secret::Rejection;
use openkms_domain::stages::{versions_to_drop, CURRENT};
use openkms_domain::{validate_secret_data, SecretType, ValidationError, VersionStage};
use openkms_store::SecretUpdate;

use super::new_version::NewVersion;
use super::VersionInput;
use crate::{Caller, Error, Service};

/// PutSecretValue parameters.
/// Deliberately not `Debug`: it carries plaintext.
#[derive(Default)]
pub struct PutSecretValueInput<'a> {
    pub secret_name: &'a str,
    pub version: VersionInput<'a>,
    pub version_stages: Option<&'a str>,
    /// The secret authorization checked (see `GetSecretValueInput::authorized_secret`).
    pub authorized_secret: Option<i64>,
}

/// What PutSecretValue reports.
#[derive(Debug)]
pub struct PutVersion {
    pub secret_name: String,
    pub version_id: String,
    pub stages: Vec<String>,
}

impl Service {
    /// PutSecretValue.
    pub async fn put_secret_value(
        &self,
        _caller: &Caller,
        input: PutSecretValueInput<'_>,
    ) -> Result<PutVersion, Error> {
        let now = self.now();
        let name = self.secret_name(input.secret_name)?;
        let new = input.version.parse()?;
        let labels = parse_version_stages(input.version_stages)?;
        let secret = self.find_secret(&name).await?;
        super::get_value::check_same_secret(&secret, input.authorized_secret)?;
        if secret.secret_type != SecretType::Generic {
            return Err(Rejection::GenericOnly.into());
        }
        if secret.planned_delete_at.is_some() {
            return Err(Error::PendingDeletion);
        }
        validate_secret_data(SecretType::Generic, new.data_type, new.data, None)?;
        let (key, kek) = self
            .sealing_key(secret.encryption_key_id.as_deref())
            .await?;
        let version = self.seal_version(&name, &new, &key, &kek, now)?;
        let vid = version.version_id.clone();
        let plan_labels = labels.clone();
        let written = self
            .change_active_secret(&name, move |state| {
                if state.versions.iter().any(|v| v.version_id == vid) {
                    return Err(Rejection::VersionExists {
                        version_id: vid.clone(),
                    });
                }
                let stages = state.secret.stages.put_version(&vid, &plan_labels)?;
                let mut ids: Vec<String> = state
                    .versions
                    .iter()
                    .map(|v| v.version_id.clone())
                    .collect();
                ids.push(vid.clone());
                Ok(SecretUpdate {
                    insert_version: Some(version.clone()),
                    delete_versions: versions_to_drop(&ids, &stages),
                    stages: Some(stages),
                    updated_at: now,
                    ..Default::default()
                })
            })
            .await;
        match written {
            Ok(Some(rec)) => Ok(PutVersion {
                stages: rec.stages.labels_of(new.id.as_str()),
                secret_name: rec.name,
                version_id: new.id.as_str().to_owned(),
            }),
            Ok(None) => Err(Error::SecretNotFound),
            Err(Error::Rejected(Rejection::VersionExists { .. })) => {
                self.same_version_again(&name, &new).await
            }
            Err(e) => Err(e),
        }
    }

    /// PutSecretValue with an existing VersionId: success with no change when the data is the
    /// same (the documented idempotency), a conflict when it differs.
    async fn same_version_again(
        &self,
        name: &openkms_domain::SecretName,
        new: &NewVersion<'_>,
    ) -> Result<PutVersion, Error> {
        let version_id = new.id.as_str();
        let secret = self.find_secret(name).await?;
        let existing = self
            .store
            .version(&secret, version_id)
            .await?
            .ok_or(Error::VersionNotFound)?;
        let stored = self.open_version(&secret.name, &existing).await?;
        let same = existing.data_type == new.data_type
            && openkms_crypto::constant_time_eq(stored.expose_secret(), new.data.as_bytes());
        if !same {
            return Err(Error::VersionConflict {
                version_id: version_id.to_owned(),
            });
        }
        Ok(PutVersion {
            stages: secret.stages.labels_of(version_id),
            secret_name: secret.name.clone(),
            version_id: version_id.to_owned(),
        })
    }
}

/// VersionStages: a JSON array of labels, or the old doc's `{"VersionStage":[...]}`; default
/// `["ACSCurrent"]`.
fn parse_version_stages(text: Option<&str>) -> Result<Vec<String>, Error> {
    let Some(text) = text else {
        return Ok(vec![CURRENT.to_owned()]);
    };
    let invalid = || {
        ValidationError::invalid(
            "VersionStages",
            "must be a JSON array of stage labels, e.g. [\"ACSCurrent\"]",
        )
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| invalid())?;
    let items = match &value {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) => o
            .get("VersionStage")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(invalid)?,
        _ => return Err(invalid().into()),
    };
    let mut labels = Vec::with_capacity(items.len());
    for item in items {
        let label = VersionStage::parse(item.as_str().ok_or_else(invalid)?)?;
        if !labels.iter().any(|l: &String| l == label.as_str()) {
            labels.push(label.as_str().to_owned());
        }
    }
    Ok(labels)
}

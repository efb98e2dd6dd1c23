//! RAMCredentials rotation: the secret holds an access key of one of openkms's own RAM users.
//! A rotation deletes the user's keys other than ACSCurrent's (the one before the previous,
//! and any key a crash left behind, which also keeps the user under its two-key limit),
//! creates a new key, stores it as ACSPending, checks it is active, and promotes it: the new
//! key becomes ACSCurrent and the old current key stays valid as ACSPrevious.

use openkms_crypto::SecretBytes;
use openkms_domain::stages::CURRENT;
use openkms_domain::SecretName;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use super::RotationStep;
use crate::{Caller, Error, Service};

/// The identity rotation acts as towards the RAM functions (which only the root may call).
fn rotation_caller() -> Caller {
    Caller {
        access_key_id: "openkms-rotation".into(),
        principal: "root".into(),
        source_ip: None,
        session: None,
    }
}

/// The AccessKeyId in a RAMCredentials value: `{"AccessKeyId",...}` or the first of
/// `{"AccessKeys":[...]}`; `None` for `$Auto` or another shape.
fn access_key_id_of(value: &SecretBytes) -> Option<String> {
    let parsed: Value = serde_json::from_slice(value.expose_secret()).ok()?;
    let object = match parsed.get("AccessKeys") {
        Some(Value::Array(list)) => list.first()?.clone(),
        Some(_) => return None,
        None => parsed,
    };
    Some(object.get("AccessKeyId")?.as_str()?.to_owned())
}

fn refused(e: Error) -> Error {
    Error::RotationTargetRefused {
        reason: e.to_string(),
    }
}

impl Service {
    async fn key_id_at(&self, name: &SecretName, stage: &str) -> Result<Option<String>, Error> {
        let secret = self.find_secret(name).await?;
        let Some(version_id) = secret.stages.version_of(stage) else {
            return Ok(None);
        };
        let Some(version) = self.store.version(&secret, version_id).await? else {
            return Ok(None);
        };
        let value = self.open_version(&secret.name, &version).await?;
        Ok(access_key_id_of(&value))
    }

    /// Steps 1 (and the clean-up before it) for a RAM user's access key.
    pub(super) async fn begin_ram(
        &self,
        name: &SecretName,
        user: &str,
        version_id: &str,
    ) -> Result<(), Error> {
        let caller = rotation_caller();
        let current = self.key_id_at(name, CURRENT).await?;
        let keys = self
            .list_access_keys(&caller, user)
            .await
            .map_err(refused)?;
        for key in keys {
            if Some(&key.access_key_id) != current.as_ref() {
                self.delete_access_key(&caller, user, &key.access_key_id)
                    .await
                    .map_err(refused)?;
            }
        }
        let created = self
            .create_access_key(&caller, user)
            .await
            .map_err(refused)?;
        let stamp = time::OffsetDateTime::from_unix_timestamp(self.now())
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default();
        // Formatted straight into a zeroizing buffer (no intermediate JSON value keeps a copy
        // of the secret); ids, secrets and the timestamp are letters, digits and `-:`.
        let value = Zeroizing::new(format!(
            r#"{{"AccessKeyId":"{}","AccessKeySecret":"{}","GenerateTimestamp":"{stamp}"}}"#,
            created.key.access_key_id,
            created.secret.as_str()
        ));
        drop(created);
        let secret = self.find_secret(name).await?;
        self.store_pending(name, &secret, version_id, &value).await
    }

    /// Steps 2–4: the new key is live as soon as it is created, so "apply" is a no-op and
    /// "verify" checks the key authenticates (exists and is Active).
    pub(super) async fn finish_ram(
        &self,
        name: &SecretName,
        stop: RotationStep,
    ) -> Result<(), Error> {
        let secret = self.find_secret(name).await?;
        let Some(pending_id) = secret.rotation.progress.pending_version.clone() else {
            return Ok(());
        };
        if stop < RotationStep::Verified {
            return Ok(());
        }
        let key_id = self
            .key_id_at(name, super::PENDING)
            .await?
            .ok_or_else(|| Error::internal("read the pending rotation's access key"))?;
        match self.access_key(&key_id).await? {
            Some(entry) if entry.active => {}
            _ => {
                return Err(Error::RotationTargetRefused {
                    reason: format!("the new access key {key_id} is not active"),
                })
            }
        }
        if stop == RotationStep::Verified {
            return Ok(());
        }
        self.promote(name, &pending_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_key_id_is_read_from_both_value_shapes() {
        let list = SecretBytes::from_slice(
            br#"{"AccessKeys":[{"AccessKeyId":"LTAI1","AccessKeySecret":"s"}]}"#,
        );
        assert_eq!(access_key_id_of(&list).as_deref(), Some("LTAI1"));
        let single = SecretBytes::from_slice(br#"{"AccessKeyId":"LTAI2","AccessKeySecret":"s"}"#);
        assert_eq!(access_key_id_of(&single).as_deref(), Some("LTAI2"));
        assert_eq!(access_key_id_of(&SecretBytes::from_slice(b"$Auto")), None);
    }
}

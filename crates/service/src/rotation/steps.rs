//! The steps of one database rotation, each idempotent so that a crash is repaired by running
//! the remaining ones again.

use super::*;

impl Service {
    /// Step 1: the new credential, stored as an ACSPending version before the target is
    /// touched, so that a crash after step 2 still knows the password it set.
    pub(super) async fn begin(
        &self,
        name: &SecretName,
        plan: &Plan,
        version_id: &str,
    ) -> Result<(), Error> {
        let secret = self.find_secret(name).await?;
        let current = self.current_credential(&secret).await?;
        let (base, clone) = plan.accounts(current.as_ref().map(|c| c.account.as_str()))?;
        let account = match (&current, plan.double) {
            (Some(c), true) if c.account == base => clone,
            _ => base,
        };
        let fresh = AccountCredential {
            account,
            password: generate_password()?,
        };
        self.store_pending(name, &secret, version_id, &fresh.to_value())
            .await
    }

    /// Stores `value` as the ACSPending version `version_id` and records the secret's pending
    /// rotation, in one transaction.
    pub(super) async fn store_pending(
        &self,
        name: &SecretName,
        secret: &SecretRecord,
        version_id: &str,
        value: &str,
    ) -> Result<(), Error> {
        let (key, kek) = self
            .sealing_key(secret.encryption_key_id.as_deref())
            .await?;
        let sealed = kek
            .seal(
                value.as_bytes(),
                &secret_aad(self.account_id(), name.as_str(), version_id),
            )
            .map_err(|_| Error::internal("seal rotated credential"))?;
        let now = self.now();
        let version = VersionRecord {
            version_id: version_id.to_owned(),
            data_type: openkms_domain::SecretDataType::Text,
            key_id: key.key_id.clone(),
            key_version_id: key.primary_version_id.clone(),
            wrapped_key: sealed.wrapped_key,
            ciphertext: sealed.ciphertext,
            created_at: now,
        };
        let vid = version_id.to_owned();
        self.change_active_secret(name, move |state| {
            if state.secret.rotation.progress.pending_version.is_some()
                || state.versions.iter().any(|v| v.version_id == vid)
            {
                return Err(Rejection::VersionExists {
                    version_id: vid.clone(),
                });
            }
            let stages = state
                .secret
                .stages
                .put_version(&vid, &[PENDING.to_owned()])?;
            let mut ids: Vec<String> = state
                .versions
                .iter()
                .map(|v| v.version_id.clone())
                .collect();
            ids.push(vid.clone());
            let mut rotation = state.secret.rotation.clone();
            rotation.progress.pending_version = Some(vid.clone());
            Ok(SecretUpdate {
                insert_version: Some(version.clone()),
                delete_versions: versions_to_drop(&ids, &stages),
                stages: Some(stages),
                rotation: Some(rotation),
                updated_at: now,
                ..Default::default()
            })
        })
        .await?;
        Ok(())
    }

    /// Steps 2–4 for the secret's pending version.
    pub(super) async fn finish(
        &self,
        name: &SecretName,
        plan: &Plan,
        instance: &DbInstanceRecord,
        stop: RotationStep,
    ) -> Result<(), Error> {
        let secret = self.find_secret(name).await?;
        let Some(pending_id) = secret.rotation.progress.pending_version.clone() else {
            return Ok(());
        };
        let pending = self
            .credential_of(&secret, &pending_id)
            .await?
            .ok_or_else(|| Error::internal("read the pending rotation's credential"))?;
        let admin = self.admin_credential(instance).await?;
        let target = Target::new(
            instance.engine,
            &instance.address,
            instance.tls_mode,
            instance.tls_ca.as_deref(),
        )
        .map_err(target_error)?;
        let (base, clone) = plan.accounts(Some(&pending.account))?;
        let template = (plan.double && pending.account == clone).then_some(base.as_str());
        target
            .set_password(admin.as_target(), pending.as_target(), template)
            .await
            .map_err(target_error)?;
        if stop == RotationStep::Applied {
            return Ok(());
        }
        target
            .verify(pending.as_target())
            .await
            .map_err(target_error)?;
        if stop == RotationStep::Verified {
            return Ok(());
        }
        self.promote(name, &pending_id).await
    }

    /// Step 4: the pending version becomes ACSCurrent; the rotation dates move on.
    pub(super) async fn promote(&self, name: &SecretName, pending_id: &str) -> Result<(), Error> {
        let now = self.now();
        let pending_id = pending_id.to_owned();
        self.change_active_secret(name, move |state| {
            let mut rotation = state.secret.rotation.clone();
            if rotation.progress.pending_version.as_deref() != Some(pending_id.as_str()) {
                // Promoted already (a resumed pass raced a finished one): nothing to do.
                return Err(Rejection::VersionExists {
                    version_id: pending_id.clone(),
                });
            }
            let mut stages = state.secret.stages.clone();
            stages.attach(CURRENT, &pending_id);
            stages.detach(PENDING);
            rotation.progress = RotationProgress::default();
            rotation.last_at = Some(now);
            rotation.next_at = rotation
                .interval_secs
                .filter(|_| rotation.enabled)
                .map(|i| now.saturating_add(i));
            Ok(SecretUpdate {
                stages: Some(stages),
                rotation: Some(rotation),
                updated_at: now,
                ..Default::default()
            })
        })
        .await
        .map(|_| ())
        .or_else(|e| match e {
            Error::Rejected(Rejection::VersionExists { .. }) => Ok(()),
            other => Err(other),
        })
    }

    /// Notes a failed attempt: backoff before the next, AutomaticRotation shows "Invalid".
    pub(super) async fn record_failure(&self, name: &SecretName, reason: String) {
        let now = self.now();
        let written = self
            .change_active_secret(name, move |state| {
                let mut rotation = state.secret.rotation.clone();
                let failures = rotation.progress.failures.saturating_add(1);
                let backoff = FIRST_BACKOFF_SECS
                    .saturating_mul(1_i64 << failures.saturating_sub(1).min(20))
                    .min(MAX_BACKOFF_SECS);
                rotation.progress.failures = failures;
                rotation.progress.retry_at = Some(now.saturating_add(backoff));
                rotation.progress.last_error = Some(reason.clone());
                Ok(SecretUpdate {
                    rotation: Some(rotation),
                    updated_at: state.secret.updated_at,
                    ..Default::default()
                })
            })
            .await;
        if let Err(e) = written {
            tracing::warn!(secret = %name.as_str(), error = %e, "could not record a failed rotation");
        }
    }

    async fn current_credential(
        &self,
        secret: &SecretRecord,
    ) -> Result<Option<AccountCredential>, Error> {
        match secret.stages.version_of(CURRENT) {
            Some(v) => self.credential_of(secret, v).await,
            None => Ok(None),
        }
    }

    async fn credential_of(
        &self,
        secret: &SecretRecord,
        version_id: &str,
    ) -> Result<Option<AccountCredential>, Error> {
        let Some(version) = self.store.version(secret, version_id).await? else {
            return Ok(None);
        };
        let value: SecretBytes = self.open_version(&secret.name, &version).await?;
        Ok(AccountCredential::parse(&value))
    }

    /// The instance's admin credential: the ACSCurrent value of its admin secret.
    async fn admin_credential(
        &self,
        instance: &DbInstanceRecord,
    ) -> Result<AccountCredential, Error> {
        let refused = || {
            Error::RotationTargetRefused {
            reason: format!(
                "the admin secret {} of instance {} must exist and hold {{\"AccountName\":...,\"AccountPassword\":...}}",
                instance.admin_secret, instance.instance_id
            ),
        }
        };
        let secret: Arc<SecretRecord> = self
            .store
            .secret(&instance.admin_secret)
            .await?
            .ok_or_else(refused)?;
        self.current_credential(&secret).await?.ok_or_else(refused)
    }
}

fn target_error(e: TargetError) -> Error {
    match e {
        TargetError::Unreachable { .. } => Error::RotationTargetUnreachable {
            reason: e.to_string(),
        },
        other => Error::RotationTargetRefused {
            reason: other.to_string(),
        },
    }
}

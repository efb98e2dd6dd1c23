//! Key state and description changes: EnableKey, DisableKey, ScheduleKeyDeletion,
//! CancelKeyDeletion, UpdateKeyDescription. Each is one store transaction running a pure
//! domain rule over the key as stored.

use openkms_domain::key::{self, KeyRejection, KeyState, PendingWindow};
use openkms_store::{KeyPlanState, KeyRecord, KeyUpdate, KeyUpdateOutcome};

use crate::{Caller, Error, Service};

impl Service {
    /// EnableKey.
    pub async fn enable_key(&self, _c: &Caller, key_id: &str) -> Result<(), Error> {
        self.change_state(key_id, key::enable).await.map(drop)
    }

    /// DisableKey.
    pub async fn disable_key(&self, _c: &Caller, key_id: &str) -> Result<(), Error> {
        self.change_state(key_id, key::disable).await.map(drop)
    }

    /// CancelKeyDeletion: the key returns to Enabled.
    pub async fn cancel_key_deletion(&self, _c: &Caller, key_id: &str) -> Result<(), Error> {
        self.change_state(key_id, key::cancel_deletion)
            .await
            .map(drop)
    }

    /// ScheduleKeyDeletion; refused while any secret names the key as its EncryptionKeyId.
    /// Returns the deletion time.
    pub async fn schedule_key_deletion(
        &self,
        _c: &Caller,
        key_id: &str,
        pending_window_days: u64,
    ) -> Result<i64, Error> {
        let window = PendingWindow::parse(pending_window_days)?;
        let now = self.now();
        let key = self.resolve_user_key(key_id).await?;
        let updated = self
            .update_key(
                &key.key_id,
                Box::new(move |s: &KeyPlanState| {
                    let at =
                        key::schedule_deletion(s.key.key_state, s.protected_secrets, window, now)?;
                    Ok(KeyUpdate {
                        key_state: Some(KeyState::PendingDeletion),
                        delete_at: Some(Some(at)),
                        ..KeyUpdate::default()
                    })
                }),
            )
            .await?;
        Ok(updated.delete_at.unwrap_or(now))
    }

    /// UpdateKeyDescription: allowed in every state.
    pub async fn update_key_description(
        &self,
        _c: &Caller,
        key_id: &str,
        description: &str,
    ) -> Result<(), Error> {
        key::check_key_description(description)?;
        let key = self.resolve_user_key(key_id).await?;
        let text = description.to_owned();
        self.update_key(
            &key.key_id,
            Box::new(move |_| {
                Ok(KeyUpdate {
                    description: Some(text.clone()),
                    ..KeyUpdate::default()
                })
            }),
        )
        .await
        .map(drop)
    }

    /// UpdateRotationPolicy: turns automatic rotation on (RotationInterval 7d–365d, required)
    /// or off. Refused for a key pending deletion. NextRotationDate follows from the last
    /// rotation, so a key long overdue is rotated by the next pass of the rotation job.
    pub async fn update_key_rotation_policy(
        &self,
        _c: &Caller,
        key_id: &str,
        enable: bool,
        interval: Option<&str>,
    ) -> Result<(), Error> {
        let interval = key::rotation_policy(
            enable,
            interval
                .map(openkms_domain::RotationInterval::parse_key_interval)
                .transpose()?,
        )?;
        let key = self.resolve_user_key(key_id).await?;
        self.update_key(
            &key.key_id,
            Box::new(move |s: &KeyPlanState| {
                if s.key.key_state == KeyState::PendingDeletion {
                    return Err(KeyRejection::PendingDeletion);
                }
                Ok(KeyUpdate {
                    rotation_interval_secs: Some(interval),
                    ..KeyUpdate::default()
                })
            }),
        )
        .await
        .map(drop)
    }

    /// The key deletion job: destroys every key whose DeleteDate is at or before `now`
    /// (material, versions, aliases and tags), in one store transaction; unwrapped versions
    /// leave the keyring. Afterwards the key is unknown: DescribeKey answers
    /// `Forbidden.KeyNotFound` and its blobs `InvalidCiphertext`. Returns how many keys.
    pub async fn destroy_due_keys(&self, now: i64) -> Result<usize, Error> {
        let ids = self.store.destroy_expired_keys(now).await?;
        for id in &ids {
            self.keyring.remove_key(id);
            tracing::info!(key = id.as_str(), "key destroyed after its deletion window");
        }
        Ok(ids.len())
    }

    async fn change_state(
        &self,
        key_id: &str,
        rule: fn(KeyState) -> Result<KeyState, KeyRejection>,
    ) -> Result<KeyRecord, Error> {
        let key = self.resolve_user_key(key_id).await?;
        self.update_key(
            &key.key_id,
            Box::new(move |s: &KeyPlanState| {
                let next = rule(s.key.key_state)?;
                Ok(KeyUpdate {
                    key_state: Some(next),
                    delete_at: (next != KeyState::PendingDeletion).then_some(None),
                    ..KeyUpdate::default()
                })
            }),
        )
        .await
    }

    async fn update_key(
        &self,
        key_id: &str,
        plan: openkms_store::KeyPlanFn,
    ) -> Result<KeyRecord, Error> {
        match self.store.update_key(key_id, plan).await? {
            KeyUpdateOutcome::Applied(k) => {
                tracing::info!(key = key_id, state = k.key_state.name(), "key changed");
                Ok(*k)
            }
            KeyUpdateOutcome::Rejected(r) => Err(r.into()),
            KeyUpdateOutcome::NotFound => Err(Error::KeyNotFound),
        }
    }
}

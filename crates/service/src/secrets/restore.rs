//! RestoreSecret: a secret pending deletion goes back to normal with every version intact.

use openkms_domain::secret::Rejection;
use openkms_store::{SecretUpdate, UpdateOutcome};

use crate::{Caller, Error, Service};

impl Service {
    /// RestoreSecret. A secret whose recovery window has already ended (but that the purge job
    /// has not removed yet) counts as gone: not found, as it would be a moment later.
    pub async fn restore_secret(
        &self,
        _caller: &Caller,
        secret_name: &str,
    ) -> Result<String, Error> {
        let now = self.now();
        let name = self.secret_name(secret_name)?;
        let outcome = self
            .store
            .update_secret(
                name.as_str(),
                Box::new(move |state| match state.secret.planned_delete_at {
                    None => Err(Rejection::NotPendingDeletion),
                    Some(at) if at <= now => Err(Rejection::SecretNotFound),
                    Some(_) => Ok(SecretUpdate {
                        planned_delete_at: Some(None),
                        updated_at: now,
                        ..Default::default()
                    }),
                }),
            )
            .await?;
        match outcome {
            UpdateOutcome::Applied(_) => Ok(name.as_str().to_owned()),
            UpdateOutcome::NotFound => Err(Error::SecretNotFound),
            UpdateOutcome::Rejected(r) => Err(r.into()),
            UpdateOutcome::SealingKeyRefused(r) => Err(super::sealing_key_refused(r)),
        }
    }
}

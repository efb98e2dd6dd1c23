//! DeleteSecret: a recovery window (7–30 days, default 30) or a forced purge.

use openkms_domain::secret::Rejection;
use openkms_domain::ValidationError;
use openkms_store::{SecretUpdate, UpdateOutcome};

use crate::{Caller, Error, Service};

/// Recovery window bounds in days (kms-api.md §3.1; the range is unconfirmed in the API page).
const MIN_WINDOW_DAYS: u64 = 7;
const MAX_WINDOW_DAYS: u64 = 30;
const DEFAULT_WINDOW_DAYS: u64 = 30;

/// How to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// Keep the secret restorable for this many days (None: the default).
    Scheduled { recovery_window_days: Option<u64> },
    /// Purge now, with every version.
    Force,
}

/// What DeleteSecret reports.
#[derive(Debug)]
pub struct DeletedSecret {
    pub secret_name: String,
    pub planned_delete_at: i64,
}

impl Service {
    /// DeleteSecret.
    pub async fn delete_secret(
        &self,
        _caller: &Caller,
        secret_name: &str,
        mode: DeleteMode,
    ) -> Result<DeletedSecret, Error> {
        let now = self.now();
        let name = self.secret_name(secret_name)?;
        let planned = match mode {
            DeleteMode::Force => None,
            DeleteMode::Scheduled {
                recovery_window_days,
            } => {
                let days = recovery_window_days.unwrap_or(DEFAULT_WINDOW_DAYS);
                if !(MIN_WINDOW_DAYS..=MAX_WINDOW_DAYS).contains(&days) {
                    return Err(ValidationError::OutOfRange {
                        param: "RecoveryWindowInDays",
                        min: "7",
                        max: "30",
                    }
                    .into());
                }
                Some(now.saturating_add(i64::try_from(days * 86_400).unwrap_or(i64::MAX)))
            }
        };
        let outcome = self
            .store
            .update_secret(
                name.as_str(),
                Box::new(move |state| match planned {
                    None => Ok(SecretUpdate {
                        purge: true,
                        ..Default::default()
                    }),
                    Some(_) if state.secret.planned_delete_at.is_some() => {
                        Err(Rejection::PendingDeletion)
                    }
                    Some(at) => Ok(SecretUpdate {
                        planned_delete_at: Some(Some(at)),
                        updated_at: now,
                        ..Default::default()
                    }),
                }),
            )
            .await?;
        match outcome {
            UpdateOutcome::Applied(_) => Ok(DeletedSecret {
                secret_name: name.as_str().to_owned(),
                planned_delete_at: planned.unwrap_or(now),
            }),
            UpdateOutcome::NotFound => Err(Error::SecretNotFound),
            UpdateOutcome::Rejected(r) => Err(r.into()),
            UpdateOutcome::SealingKeyRefused(r) => Err(super::sealing_key_refused(r)),
        }
    }
}

//! BatchGetSecretValue: up to 20 GetSecretValue calls in one request. Each entry goes through
//! `get_secret_value`, so the rules and the errors are exactly those of the single call.
//!
//! Decisions: a failure of one entry is reported for that entry and the call succeeds; only a
//! store that is unavailable fails the whole call (every entry would fail alike, and the
//! caching clients retry on the call's ServiceUnavailableTemporary). Entries run in the given
//! order; a name may appear twice.

use openkms_domain::ValidationError;

use super::{GetSecretValueInput, SecretValue};
use crate::{Caller, Error, Service};

/// Most entries in one SecretsList.
pub const MAX_BATCH_SECRETS: usize = 20;

/// The outcome of one SecretsList entry, with the SecretName as the caller wrote it.
pub struct BatchEntry {
    pub secret_name: String,
    pub result: Result<SecretValue, Error>,
}

impl Service {
    /// BatchGetSecretValue.
    pub async fn batch_get_secret_value(
        &self,
        caller: &Caller,
        entries: Vec<GetSecretValueInput<'_>>,
    ) -> Result<Vec<BatchEntry>, Error> {
        if entries.is_empty() {
            return Err(ValidationError::Empty {
                param: "SecretsList",
            }
            .into());
        }
        if entries.len() > MAX_BATCH_SECRETS {
            return Err(ValidationError::TooMany {
                param: "SecretsList",
                max: MAX_BATCH_SECRETS,
                item: "secrets",
            }
            .into());
        }
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let secret_name = entry.secret_name.to_owned();
            let result = match self.get_secret_value(caller, entry).await {
                Err(e @ Error::Unavailable(_)) => return Err(e),
                other => other,
            };
            out.push(BatchEntry {
                secret_name,
                result,
            });
        }
        Ok(out)
    }
}

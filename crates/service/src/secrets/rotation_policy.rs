//! UpdateSecretRotationPolicy: automatic rotation settings of a managed secret.
//!
//! Enabling needs RotationInterval (6h–8760h) and sets NextRotationDate = now + interval;
//! disabling ignores RotationInterval and clears the interval and NextRotationDate. The date of
//! the last rotation is kept either way. Generic secrets have no rotation: InvalidParameter.
//! Enabling decides that openkms will act on the secret's credential later, so it needs the same
//! rights over that credential as RotateSecret (`rotation::authority`); disabling needs none.

use openkms_domain::secret::Rejection;
use openkms_domain::{RotationInterval, ValidationError};
use openkms_store::{RotationRecord, SecretUpdate};

use super::create::rotation_settings;
use crate::rotation::CredentialTarget;
use crate::{Caller, Error, Service};

/// UpdateSecretRotationPolicy parameters.
#[derive(Debug)]
pub struct RotationPolicyInput<'a> {
    pub secret_name: &'a str,
    pub enable_automatic_rotation: bool,
    pub rotation_interval: Option<&'a str>,
}

impl Service {
    /// UpdateSecretRotationPolicy. Returns the secret's name.
    pub async fn update_secret_rotation_policy(
        &self,
        caller: &Caller,
        input: RotationPolicyInput<'_>,
    ) -> Result<String, Error> {
        let now = self.now();
        let name = self.secret_name(input.secret_name)?;
        let enable = input.enable_automatic_rotation;
        let interval = input
            .rotation_interval
            .filter(|_| enable)
            .map(str::to_owned);
        if let Some(text) = interval.as_deref() {
            RotationInterval::parse_secret_interval(text)?;
        }
        if enable {
            // No action changes what a managed secret points at, so checking before the write
            // checks what the scheduler will act on.
            let secret = self.find_secret(&name).await?;
            self.authorize_credential(caller, CredentialTarget::of_secret(&secret)?.as_ref())
                .await?;
        }
        self.change_active_secret(&name, move |state| {
            let ty = state.secret.secret_type;
            if !ty.supports_automatic_rotation() {
                return Err(Rejection::Invalid(ValidationError::invalid(
                    "EnableAutomaticRotation",
                    "automatic rotation is only for managed secrets; this secret is Generic",
                )));
            }
            let settings = rotation_settings(ty, Some(enable), interval.as_deref(), now)
                .map_err(Rejection::Invalid)?;
            Ok(SecretUpdate {
                rotation: Some(RotationRecord {
                    last_at: state.secret.rotation.last_at,
                    progress: state.secret.rotation.progress.clone(),
                    ..settings
                }),
                updated_at: now,
                ..Default::default()
            })
        })
        .await?;
        Ok(name.as_str().to_owned())
    }
}

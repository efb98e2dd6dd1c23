//! UpdateSecret: the Description and, for managed secrets, ExtendedConfig's CustomData
//! (merged into the stored config: pairs are added or overwritten, never removed).

use openkms_domain::secret::Rejection;
use openkms_domain::{ExtendedConfig, SecretType, ValidationError};
use openkms_store::SecretUpdate;

use super::create::DESCRIPTION_MAX_CHARS;
use crate::{Caller, Error, Service};

/// UpdateSecret parameters; `custom_data` already decoded from either wire encoding.
#[derive(Debug, Default)]
pub struct UpdateSecretInput<'a> {
    pub secret_name: &'a str,
    pub description: Option<&'a str>,
    pub custom_data: Option<Vec<(String, String)>>,
}

impl Service {
    /// UpdateSecret. Returns the secret's name.
    pub async fn update_secret(
        &self,
        _caller: &Caller,
        input: UpdateSecretInput<'_>,
    ) -> Result<String, Error> {
        let now = self.now();
        let name = self.secret_name(input.secret_name)?;
        if let Some(d) = input.description {
            if d.chars().count() > DESCRIPTION_MAX_CHARS {
                return Err(ValidationError::TooLong {
                    param: "Description",
                    max: DESCRIPTION_MAX_CHARS,
                }
                .into());
            }
        }
        let description = input.description.map(str::to_owned);
        let custom_data = input.custom_data;
        self.change_active_secret(&name, move |state| {
            let extended_config = match &custom_data {
                None => None,
                Some(pairs) => Some(merged_config(
                    state.secret.secret_type,
                    state.secret.extended_config.as_deref(),
                    pairs,
                )?),
            };
            Ok(SecretUpdate {
                description: description.clone(),
                extended_config,
                updated_at: now,
                ..Default::default()
            })
        })
        .await?;
        Ok(name.as_str().to_owned())
    }
}

/// The stored ExtendedConfig with `pairs` merged into its CustomData, as JSON text.
fn merged_config(
    ty: SecretType,
    stored: Option<&str>,
    pairs: &[(String, String)],
) -> Result<String, Rejection> {
    if !ty.is_managed() {
        return Err(Rejection::Invalid(ValidationError::invalid(
            "ExtendedConfig.CustomData",
            "custom data is only for managed secrets (Rds, Redis, PolarDB, RAMCredentials, ECS); this secret is Generic",
        )));
    }
    let mut config = ExtendedConfig::parse_for(ty, stored.unwrap_or_default())
        .map_err(Rejection::Invalid)?
        .ok_or(Rejection::Invalid(openkms_domain::missing_for(ty)))?;
    config
        .merge_custom_data(pairs.iter().cloned())
        .map_err(Rejection::Invalid)?;
    Ok(config.to_json_string())
}

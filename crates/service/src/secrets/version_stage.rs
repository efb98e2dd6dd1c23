//! UpdateSecretVersionStage (Generic only): add, remove or move one stage label. The rule is
//! `StageMap::update_stage` in domain, applied inside the write transaction.

use openkms_domain::secret::Rejection;
use openkms_domain::stages::StageChange;
use openkms_domain::{SecretType, ValidationError, VersionStage};
use openkms_store::SecretUpdate;

use crate::{Caller, Error, Service};

/// UpdateSecretVersionStage parameters.
#[derive(Debug, Default)]
pub struct UpdateVersionStageInput<'a> {
    pub secret_name: &'a str,
    pub version_stage: &'a str,
    pub remove_from_version: Option<&'a str>,
    pub move_to_version: Option<&'a str>,
}

impl Service {
    /// UpdateSecretVersionStage. Returns the secret's name.
    pub async fn update_secret_version_stage(
        &self,
        _caller: &Caller,
        input: UpdateVersionStageInput<'_>,
    ) -> Result<String, Error> {
        let now = self.now();
        let name = self.secret_name(input.secret_name)?;
        let stage = VersionStage::parse(input.version_stage)?;
        if StageChange::from_params(input.remove_from_version, input.move_to_version).is_none() {
            return Err(ValidationError::invalid(
                "MoveToVersion",
                "give RemoveFromVersion, MoveToVersion or both",
            )
            .into());
        }
        let from = input.remove_from_version.map(str::to_owned);
        let to = input.move_to_version.map(str::to_owned);
        self.change_active_secret(&name, move |state| {
            if state.secret.secret_type != SecretType::Generic {
                return Err(Rejection::GenericOnly);
            }
            let change = StageChange::from_params(from.as_deref(), to.as_deref()).ok_or(
                Rejection::Invalid(ValidationError::invalid(
                    "MoveToVersion",
                    "give RemoveFromVersion, MoveToVersion or both",
                )),
            )?;
            let versions: Vec<String> = state
                .versions
                .iter()
                .map(|v| v.version_id.clone())
                .collect();
            let stages = state
                .secret
                .stages
                .update_stage(stage.as_str(), change, &versions)?;
            Ok(SecretUpdate {
                stages: Some(stages),
                updated_at: now,
                ..Default::default()
            })
        })
        .await?;
        Ok(name.as_str().to_owned())
    }
}

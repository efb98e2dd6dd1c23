//! Whose authority managed rotation acts under (the confused-deputy rule).
//!
//! Rotation changes a credential that lives outside the secret: it creates and deletes a RAM
//! user's access keys, or resets a database account's password, with openkms's own authority.
//! Rights over the secret alone must not be enough to make openkms do that, so whoever points a
//! managed secret at a credential must hold rights over that credential:
//!
//! - RAMCredentials: `ram:CreateAccessKey`, `ram:DeleteAccessKey`, `ram:UpdateAccessKey` and
//!   `ram:ListAccessKeys` on `acs:ram::<account>:user/<UserName>`;
//! - Rds, PolarDB, Redis: `kms:ManageDatabaseCredential` (openkms's own action) on the registered
//!   instance, `acs:kms:<region>:<account>:dbinstance/<DBInstanceId | DBClusterId | InstanceId>`
//!   (checked on the ARN the id names whether or not the instance is registered yet).
//!
//! Checked from the caller's identity policies (and session policy) by
//! [`Service::authorize_identity`] at CreateSecret, the one action that sets what a managed
//! secret points at (UpdateSecret merges only CustomData; PutSecretValue and stage moves are
//! refused for managed secrets), and again at every RotateSecret and every
//! UpdateSecretRotationPolicy that turns automatic rotation on, against the caller who makes
//! openkms act (now, or from then on). Scheduled rotations run under the authority established
//! by those checks and are not re-checked.

use openkms_domain::{db_instance_arn, ram_user_arn, ExtendedConfig, SecretType};
use openkms_store::SecretRecord;

use crate::{Caller, Error, Service};

/// The action that grants rights over the accounts of a registered database instance.
pub const MANAGE_DATABASE_CREDENTIAL: &str = "kms:ManageDatabaseCredential";

/// The RAM actions a caller needs on a user to manage its access keys through rotation.
pub const RAM_ACCESS_KEY_ACTIONS: [&str; 4] = [
    "ram:CreateAccessKey",
    "ram:DeleteAccessKey",
    "ram:UpdateAccessKey",
    "ram:ListAccessKeys",
];

/// What a managed secret's rotation acts on, as its ExtendedConfig names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CredentialTarget {
    /// The access keys of a RAM user.
    RamUser(String),
    /// The accounts of a registered database instance.
    DbInstance(String),
}

/// The ExtendedConfig field that names a database secret's instance.
pub(crate) fn instance_field(ty: SecretType) -> Option<&'static str> {
    match ty {
        SecretType::Rds => Some("DBInstanceId"),
        SecretType::Redis => Some("InstanceId"),
        SecretType::PolarDb => Some("DBClusterId"),
        _ => None,
    }
}

impl CredentialTarget {
    /// The target a secret of type `ty` with `config` names; `None` for types openkms does not
    /// rotate (Generic, ECS) or a config that names nothing (refused by validation already).
    pub(crate) fn of(ty: SecretType, config: Option<&ExtendedConfig>) -> Option<Self> {
        let field = |name: &str| {
            config
                .and_then(|c| c.get_str(name))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        if ty == SecretType::RamCredentials {
            return field("UserName").map(Self::RamUser);
        }
        instance_field(ty).and_then(field).map(Self::DbInstance)
    }

    /// The target of a stored secret.
    pub(crate) fn of_secret(secret: &SecretRecord) -> Result<Option<Self>, Error> {
        let ty = secret.secret_type;
        let config = secret
            .extended_config
            .as_deref()
            .map(|text| ExtendedConfig::parse_for(ty, text))
            .transpose()?
            .flatten();
        Ok(Self::of(ty, config.as_ref()))
    }
}

impl Service {
    /// Refuses (`Forbidden.NoPermission`, naming the first action missing and the resource)
    /// unless `caller` holds rights over the credential `target` names.
    pub(crate) async fn authorize_credential(
        &self,
        caller: &Caller,
        target: Option<&CredentialTarget>,
    ) -> Result<(), Error> {
        match target {
            None => Ok(()),
            Some(CredentialTarget::RamUser(user)) => {
                let arn = ram_user_arn(self.account_id(), user);
                for action in RAM_ACCESS_KEY_ACTIONS {
                    self.authorize_identity(caller, action, &arn).await?;
                }
                Ok(())
            }
            Some(CredentialTarget::DbInstance(id)) => {
                let arn = db_instance_arn(self.region(), self.account_id(), id);
                self.authorize_identity(caller, MANAGE_DATABASE_CREDENTIAL, &arn)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(ty: SecretType, text: &str) -> Option<ExtendedConfig> {
        ExtendedConfig::parse_for(ty, text).unwrap()
    }

    #[test]
    fn each_rotated_type_names_its_target() {
        let ram = config(
            SecretType::RamCredentials,
            r#"{"SecretSubType":"RamUserAccessKey","UserName":"bob"}"#,
        );
        assert_eq!(
            CredentialTarget::of(SecretType::RamCredentials, ram.as_ref()),
            Some(CredentialTarget::RamUser("bob".into()))
        );
        let rds = config(
            SecretType::Rds,
            r#"{"SecretSubType":"SingleUser","DBInstanceId":"rm-1"}"#,
        );
        assert_eq!(
            CredentialTarget::of(SecretType::Rds, rds.as_ref()),
            Some(CredentialTarget::DbInstance("rm-1".into()))
        );
        let redis = config(
            SecretType::Redis,
            r#"{"SecretSubType":"DoubleUsers","InstanceId":"r-1"}"#,
        );
        assert_eq!(
            CredentialTarget::of(SecretType::Redis, redis.as_ref()),
            Some(CredentialTarget::DbInstance("r-1".into()))
        );
        let polar = config(
            SecretType::PolarDb,
            r#"{"SecretSubType":"DoubleUsers","DBClusterId":"pc-1"}"#,
        );
        assert_eq!(
            CredentialTarget::of(SecretType::PolarDb, polar.as_ref()),
            Some(CredentialTarget::DbInstance("pc-1".into()))
        );
        assert_eq!(CredentialTarget::of(SecretType::Generic, None), None);
    }
}

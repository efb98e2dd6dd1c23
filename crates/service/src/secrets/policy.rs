//! GetSecretPolicy and SetSecretPolicy: the one policy of a secret, named `default`.
//!
//! Decision: GetSecretPolicy works on a secret pending deletion (it is metadata, like
//! DescribeSecret); SetSecretPolicy, a write, does not. The policy text is stored as given
//! once it validates, and returned as stored.

use openkms_domain::{validate_secret_policy, ValidationError};
use openkms_store::SecretUpdate;

use crate::{Caller, Error, Service};

/// The only PolicyName there is.
const POLICY_NAME: &str = "default";

impl Service {
    /// GetSecretPolicy: the policy document text.
    pub async fn get_secret_policy(
        &self,
        _caller: &Caller,
        secret_name: &str,
        policy_name: Option<&str>,
    ) -> Result<String, Error> {
        check_policy_name(policy_name)?;
        let name = self.secret_name(secret_name)?;
        Ok(self.find_secret(&name).await?.policy.clone())
    }

    /// SetSecretPolicy.
    pub async fn set_secret_policy(
        &self,
        _caller: &Caller,
        secret_name: &str,
        policy_name: Option<&str>,
        policy: &str,
    ) -> Result<(), Error> {
        let now = self.now();
        check_policy_name(policy_name)?;
        let name = self.secret_name(secret_name)?;
        validate_secret_policy(policy)?;
        let policy = policy.to_owned();
        self.change_active_secret(&name, move |_| {
            Ok(SecretUpdate {
                policy: Some(policy.clone()),
                updated_at: now,
                ..Default::default()
            })
        })
        .await?;
        Ok(())
    }
}

fn check_policy_name(name: Option<&str>) -> Result<(), ValidationError> {
    match name {
        None | Some(POLICY_NAME) => Ok(()),
        Some(_) => Err(ValidationError::NotOneOf {
            param: "PolicyName",
            allowed: POLICY_NAME,
        }),
    }
}

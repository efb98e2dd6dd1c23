//! Alibaba Cloud Resource Names of KMS resources (spec §5): building them, and resolving a
//! `SecretName` parameter that may be a plain name or a secret ARN ([`parse_secret_ref`]).
//!
//! Builders take already-validated parts and only format. Parsing checks shape, not ownership:
//! the caller compares the ARN's account (and region, if it cares) with its own. A plain secret
//! name cannot contain `:`, so any input starting with `acs:` is read as an ARN and nothing else.
//! The instance ARN form `acs:kms:{region}:{uid}:instance/{id}` is unconfirmed (spec §5).

use crate::error::ValidationError;
use crate::names::SecretName;

const PARAM: &str = "SecretName";
const ARN_SHAPE: &str = "a secret ARN must look like acs:kms:<region>:<account id>:secret/<name>";

/// The ARN of a secret: `acs:kms:{region}:{account_id}:secret/{name}` (the name kept verbatim).
pub fn secret_arn(region: &str, account_id: &str, name: &SecretName) -> String {
    format!("acs:kms:{region}:{account_id}:secret/{}", name.as_str())
}

/// The ARN of a key: `acs:kms:{region}:{account_id}:key/{key_id}`.
pub fn key_arn(region: &str, account_id: &str, key_id: &str) -> String {
    format!("acs:kms:{region}:{account_id}:key/{key_id}")
}

/// The ARN of an alias: `acs:kms:{region}:{account_id}:alias/{name}`, `alias` given with or
/// without its `alias/` prefix.
pub fn alias_arn(region: &str, account_id: &str, alias: &str) -> String {
    let name = alias.strip_prefix("alias/").unwrap_or(alias);
    format!("acs:kms:{region}:{account_id}:alias/{name}")
}

/// The ARN of a KMS instance: `acs:kms:{region}:{account_id}:instance/{instance_id}`.
pub fn instance_arn(region: &str, account_id: &str, instance_id: &str) -> String {
    format!("acs:kms:{region}:{account_id}:instance/{instance_id}")
}

/// The ARN of a database instance registered for managed rotation (openkms's own registry, not
/// an Alibaba resource): `acs:kms:{region}:{account_id}:dbinstance/{instance_id}`, one form for
/// Rds instances, PolarDB clusters and Redis instances. `kms:ManageDatabaseCredential` is
/// authorized on it. It does not match `acs:kms:*:*:secret*`, so secret-only grants never cover it.
pub fn db_instance_arn(region: &str, account_id: &str, instance_id: &str) -> String {
    format!("acs:kms:{region}:{account_id}:dbinstance/{instance_id}")
}

/// The ARN of a RAM user: `acs:ram::{account_id}:user/{name}` (RAM is not regional).
pub fn ram_user_arn(account_id: &str, name: &str) -> String {
    format!("acs:ram::{account_id}:user/{name}")
}

/// A secret named by the caller, either by plain name or by ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// A plain secret name, in the caller's own account and region.
    Name(SecretName),
    /// A secret ARN, which names the account and region explicitly.
    Arn {
        /// Region part of the ARN.
        region: String,
        /// Account id part of the ARN, to be compared with the caller's account.
        account_id: String,
        /// The secret name.
        name: SecretName,
    },
}

impl SecretRef {
    /// The secret name, whichever way it was given.
    pub fn name(&self) -> &SecretName {
        match self {
            Self::Name(name) | Self::Arn { name, .. } => name,
        }
    }

    /// The account id written in the ARN, if the secret was given by ARN.
    pub fn account_id(&self) -> Option<&str> {
        match self {
            Self::Name(_) => None,
            Self::Arn { account_id, .. } => Some(account_id),
        }
    }

    /// The region written in the ARN, if the secret was given by ARN.
    pub fn region(&self) -> Option<&str> {
        match self {
            Self::Name(_) => None,
            Self::Arn { region, .. } => Some(region),
        }
    }

    /// The secret name, consuming the reference.
    pub fn into_name(self) -> SecretName {
        match self {
            Self::Name(name) | Self::Arn { name, .. } => name,
        }
    }
}

/// Resolves a `SecretName` parameter: a plain name, or `acs:kms:<region>:<uid>:secret/<name>`.
pub fn parse_secret_ref(input: &str) -> Result<SecretRef, ValidationError> {
    if !input.starts_with("acs:") {
        return SecretName::parse(input).map(SecretRef::Name);
    }
    let bad = || ValidationError::invalid(PARAM, ARN_SHAPE);
    let mut parts = input.splitn(5, ':');
    let (Some("acs"), Some("kms"), Some(region), Some(account_id), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad());
    };
    let region_ok = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let account_ok = !account_id.is_empty() && account_id.bytes().all(|b| b.is_ascii_digit());
    if !region_ok || !account_ok {
        return Err(bad());
    }
    let name = resource.strip_prefix("secret/").ok_or_else(bad)?;
    let name = SecretName::parse(name)?;
    Ok(SecretRef::Arn {
        region: region.to_owned(),
        account_id: account_id.to_owned(),
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UID: &str = "1234567890123456";

    #[test]
    fn builds_documented_arn_shapes() {
        let name = SecretName::parse("RdsSecret/Mysql5.4/MyCred").unwrap();
        assert_eq!(
            secret_arn("cn-hangzhou", UID, &name),
            "acs:kms:cn-hangzhou:1234567890123456:secret/RdsSecret/Mysql5.4/MyCred"
        );
        assert_eq!(
            key_arn("cn-hangzhou", UID, "key-hzz62f1cb66fa4y7ue5bs"),
            "acs:kms:cn-hangzhou:1234567890123456:key/key-hzz62f1cb66fa4y7ue5bs"
        );
        assert_eq!(
            instance_arn("cn-hangzhou", UID, "kst-bjj62d8f5e0sgtx8h"),
            "acs:kms:cn-hangzhou:1234567890123456:instance/kst-bjj62d8f5e0sgtx8h"
        );
    }

    #[test]
    fn alias_arn_strips_the_alias_prefix() {
        assert_eq!(
            alias_arn("cn-hangzhou", "123456", "alias/ExampleAlias1"),
            "acs:kms:cn-hangzhou:123456:alias/ExampleAlias1"
        );
        assert_eq!(
            alias_arn("cn-hangzhou", "123456", "ExampleAlias1"),
            "acs:kms:cn-hangzhou:123456:alias/ExampleAlias1"
        );
    }

    #[test]
    fn plain_name_resolves_to_itself() {
        let r = parse_secret_ref("db/prod").unwrap();
        assert_eq!(r.name().as_str(), "db/prod");
        assert_eq!(r.account_id(), None);
        assert_eq!(r.region(), None);
    }

    #[test]
    fn secret_arn_resolves_to_name_with_slashes_and_account() {
        let r = parse_secret_ref(
            "acs:kms:cn-hangzhou:1234567890123456:secret/RdsSecret/Mysql5.4/MyCred",
        )
        .unwrap();
        assert_eq!(r.name().as_str(), "RdsSecret/Mysql5.4/MyCred");
        assert_eq!(r.account_id(), Some(UID));
        assert_eq!(r.region(), Some("cn-hangzhou"));
        assert_eq!(r.into_name().as_str(), "RdsSecret/Mysql5.4/MyCred");
    }

    #[test]
    fn secret_arn_round_trips() {
        let name = SecretName::parse("acs/ecs/i-1/root").unwrap();
        let arn = secret_arn("ap-southeast-1", UID, &name);
        assert_eq!(parse_secret_ref(&arn).unwrap().name(), &name);
    }

    #[test]
    fn rejects_malformed_arns_and_names() {
        for bad in [
            "acs:kms:cn-hangzhou:1234567890123456:key/key-1",
            "acs:ram::1234567890123456:secret/x",
            "acs:kms::1234567890123456:secret/x",
            "acs:kms:cn-hangzhou::secret/x",
            "acs:kms:cn-hangzhou:12ab:secret/x",
            "acs:kms:cn-hangzhou:1234567890123456:secret/",
            "acs:kms:cn-hangzhou:1234567890123456:secret/a:b",
            "acs:kms:cn-hangzhou:1234567890123456",
            "acs:",
            "",
            "a b",
        ] {
            let err = parse_secret_ref(bad).unwrap_err();
            assert_eq!(err.param(), "SecretName", "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parse_secret_ref_never_panics(text in "(acs:kms:)?.{0,80}") {
            let _ = parse_secret_ref(&text);
        }
    }
}

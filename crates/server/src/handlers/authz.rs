//! What each KMS action acts on, read from its parameters, for `Service::authorize`: the one
//! rule per action (threat model rule 1). Resource parameters are read with the same strict
//! readers the handlers use, before authorization: an empty, missing or ambiguous resource is a
//! 400 here, never a request authorized on one resource and run on another. What the service
//! resolved while authorizing (`Authorized`) is what the handler then acts on.
//!
//! Actions not listed here are checked on `*` (see `service::authz`): they fail closed for a
//! RAM user whose policies name resources. Unimplemented actions (ReEncrypt among them) are
//! checked on `*` and then answer `UnsupportedOperation`.

use openkms_service::authz::{KeyUse, Target};
use openkms_wire::actions::tags::TagResourceTarget;
use openkms_wire::{Action, Params, ProtocolError};

/// The authorization target of `action` with parameters `p`.
pub fn target(action: Action, p: &Params) -> Result<Target<'_>, ProtocolError> {
    let secret = |key_use| -> Result<Target<'_>, ProtocolError> {
        Ok(Target::Secret {
            name: p.resource("SecretName")?,
            key_use,
        })
    };
    let key = || -> Result<Target<'_>, ProtocolError> { Ok(Target::Key(p.resource("KeyId")?)) };
    Ok(match action {
        Action::DescribeRegions => Target::Nothing,
        Action::BatchGetSecretValue | Action::TagResources | Action::UntagResources => {
            Target::RootOnly
        }
        Action::CreateSecret => Target::NewSecret {
            name: p.resource("SecretName")?,
            secret_type: p.optional("SecretType"),
            extended_config: p.json_text("ExtendedConfig")?,
            encryption_key: p.optional_resource("EncryptionKeyId")?,
        },
        Action::GetSecretValue => secret(KeyUse::Decrypt)?,
        Action::PutSecretValue | Action::RotateSecret => secret(KeyUse::GenerateDataKey)?,
        Action::DescribeSecret
        | Action::ListSecretVersionIds
        | Action::DeleteSecret
        | Action::RestoreSecret
        | Action::UpdateSecret
        | Action::UpdateSecretVersionStage
        | Action::GetSecretPolicy
        | Action::SetSecretPolicy
        | Action::UpdateSecretRotationPolicy => secret(KeyUse::None)?,
        Action::ListSecrets => Target::SecretContainer,
        Action::CreateKey | Action::ListKeys => Target::KeyContainer,
        Action::ListAliases => Target::AliasContainer,
        Action::CreateAlias => Target::NewAlias {
            alias: p.resource("AliasName")?,
            key: p.resource("KeyId")?,
        },
        Action::UpdateAlias => Target::MovedAlias {
            alias: p.resource("AliasName")?,
            key: p.resource("KeyId")?,
        },
        Action::DeleteAlias => Target::Alias(p.resource("AliasName")?),
        Action::Decrypt => Target::Ciphertext(p.resource("CiphertextBlob")?),
        Action::DescribeKey
        | Action::UpdateKeyDescription
        | Action::EnableKey
        | Action::DisableKey
        | Action::ScheduleKeyDeletion
        | Action::CancelKeyDeletion
        | Action::CreateKeyVersion
        | Action::DescribeKeyVersion
        | Action::ListKeyVersions
        | Action::UpdateRotationPolicy
        | Action::ListAliasesByKeyId
        | Action::Encrypt
        | Action::GenerateDataKey
        | Action::GenerateDataKeyWithoutPlaintext
        | Action::ListResourceTags => key()?,
        Action::TagResource | Action::UntagResource => match TagResourceTarget::read(p)? {
            TagResourceTarget::SecretName(name) => Target::Secret {
                name,
                key_use: KeyUse::None,
            },
            TagResourceTarget::KeyId(k) => Target::Key(k),
            TagResourceTarget::CertificateId(c) => Target::Certificate(c),
        },
        _ => Target::Any,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> Params {
        let mut v = Vec::new();
        Params::decode_form(s.as_bytes(), &mut v).unwrap();
        Params::from_pairs(v).unwrap()
    }

    #[test]
    fn an_empty_or_ambiguous_resource_is_refused_before_authorization() {
        let refused = [
            (Action::TagResource, "SecretName=&KeyId=k&Tags=%5B%5D"),
            (Action::UntagResource, "SecretName=s&KeyId=k"),
            (Action::TagResource, "KeyId="),
            (Action::GetSecretValue, "SecretName="),
            (Action::Encrypt, "Plaintext=aA%3D%3D"),
            (Action::UpdateAlias, "AliasName=alias/a&KeyId="),
            (Action::CreateAlias, "AliasName=&KeyId=k"),
            (Action::DeleteAlias, "AliasName="),
            (Action::Decrypt, "CiphertextBlob="),
            (Action::CreateSecret, "SecretName=s&EncryptionKeyId="),
        ];
        for (action, text) in refused {
            assert!(target(action, &params(text)).is_err(), "{action:?} {text}");
        }
    }

    #[test]
    fn every_alias_action_names_the_alias_and_the_key() {
        let p = params("AliasName=alias/prod&KeyId=k");
        assert!(matches!(
            target(Action::UpdateAlias, &p).unwrap(),
            Target::MovedAlias {
                alias: "alias/prod",
                key: "k"
            }
        ));
        assert!(matches!(
            target(Action::CreateAlias, &p).unwrap(),
            Target::NewAlias {
                alias: "alias/prod",
                key: "k"
            }
        ));
        assert!(matches!(
            target(Action::DeleteAlias, &p).unwrap(),
            Target::Alias("alias/prod")
        ));
    }

    #[test]
    fn tag_resource_targets_the_one_resource_it_names() {
        assert!(matches!(
            target(Action::TagResource, &params("KeyId=k")).unwrap(),
            Target::Key("k")
        ));
        assert!(matches!(
            target(Action::UntagResource, &params("SecretName=s")).unwrap(),
            Target::Secret {
                name: "s",
                key_use: KeyUse::None
            }
        ));
        assert!(matches!(
            target(Action::TagResource, &params("CertificateId=c")).unwrap(),
            Target::Certificate("c")
        ));
    }

    #[test]
    fn unimplemented_actions_fail_closed() {
        for action in [
            Action::ReEncrypt,
            Action::AsymmetricDecrypt,
            Action::ExportDataKey,
        ] {
            assert!(matches!(target(action, &params("")).unwrap(), Target::Any));
        }
    }
}

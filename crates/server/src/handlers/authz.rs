//! What each KMS action acts on, read from its parameters, for `Service::authorize`. Actions
//! not listed here are checked on `*` (see `service::authz`): they fail closed for a RAM user
//! whose policies name resources.

use openkms_service::authz::{KeyUse, Target};
use openkms_wire::{Action, Params};

/// The authorization target of `action` with parameters `p`.
pub fn target(action: Action, p: &Params) -> Target<'_> {
    let secret = |key_use| Target::Secret {
        name: p.get("SecretName").unwrap_or(""),
        key_use,
    };
    let key = || Target::Key(p.get("KeyId").unwrap_or(""));
    match action {
        Action::DescribeRegions => Target::Nothing,
        Action::BatchGetSecretValue | Action::TagResources | Action::UntagResources => {
            Target::RootOnly
        }
        Action::CreateSecret => Target::NewSecret {
            name: p.get("SecretName").unwrap_or(""),
            encryption_key: p.get("EncryptionKeyId").filter(|k| !k.is_empty()),
        },
        Action::GetSecretValue => secret(KeyUse::Decrypt),
        Action::PutSecretValue | Action::RotateSecret => secret(KeyUse::GenerateDataKey),
        Action::DescribeSecret
        | Action::ListSecretVersionIds
        | Action::DeleteSecret
        | Action::RestoreSecret
        | Action::UpdateSecret
        | Action::UpdateSecretVersionStage
        | Action::GetSecretPolicy
        | Action::SetSecretPolicy
        | Action::UpdateSecretRotationPolicy => secret(KeyUse::None),
        Action::ListSecrets => Target::SecretContainer,
        Action::CreateKey | Action::ListKeys => Target::KeyContainer,
        Action::ListAliases => Target::AliasContainer,
        Action::DeleteAlias => Target::Alias(p.get("AliasName").unwrap_or("")),
        Action::Decrypt => Target::Ciphertext(p.get("CiphertextBlob").unwrap_or("")),
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
        | Action::CreateAlias
        | Action::UpdateAlias
        | Action::ListAliasesByKeyId
        | Action::Encrypt
        | Action::GenerateDataKey
        | Action::GenerateDataKeyWithoutPlaintext
        | Action::ListResourceTags => key(),
        Action::TagResource | Action::UntagResource => match p.get("SecretName") {
            Some(_) => secret(KeyUse::None),
            None => key(),
        },
        _ => Target::Any,
    }
}

//! Key, alias and cryptographic actions: read the wire request, call the service, shape the
//! wire reply.

use openkms_service::keys::{
    CreateKeyInput, DataKeySpec, KeyKindInput, KeyVersionView, KeyView, Paging,
};
use openkms_wire::actions::common::EmptyResponse;
use openkms_wire::actions::keys::*;
use openkms_wire::timefmt::format_unix;

use super::Cx;
use crate::error_response::ApiError;

type Reply = Result<Vec<u8>, ApiError>;

pub async fn create(cx: &Cx<'_>) -> Reply {
    let r = CreateKeyRequest::read(cx.params)?;
    let view = cx
        .service
        .create_key(
            cx.caller,
            CreateKeyInput {
                kind: KeyKindInput {
                    key_spec: r.key_spec,
                    key_usage: r.key_usage,
                    origin: r.origin,
                    protection_level: r.protection_level,
                },
                description: r.description,
                enable_automatic_rotation: r.enable_automatic_rotation,
                rotation_interval: r.rotation_interval,
                tags: r.tags,
                dkms_instance_id: r.dkms_instance_id,
            },
        )
        .await?;
    Ok(cx.render(&KeyMetadataResponse {
        key_metadata: metadata(view, false),
    }))
}

pub async fn describe(cx: &Cx<'_>) -> Reply {
    let r = KeyIdRequest::read(cx.params)?;
    let view = cx.service.describe_key(cx.authorized.key(r.key_id)).await?;
    Ok(cx.render(&KeyMetadataResponse {
        key_metadata: metadata(view, true),
    }))
}

pub async fn list(cx: &Cx<'_>) -> Reply {
    let r = ListKeysRequest::read(cx.params)?;
    let page = cx
        .service
        .list_keys(
            Paging::parse(r.page.page_number, r.page.page_size)?,
            r.filters,
        )
        .await?;
    Ok(cx.render(&ListKeysResponse {
        page_number: page.page_number,
        page_size: page.page_size,
        total_count: page.total,
        keys: KeyList {
            key: page
                .keys
                .into_iter()
                .map(|(key_id, key_arn)| KeyItem { key_id, key_arn })
                .collect(),
        },
    }))
}

pub async fn update_description(cx: &Cx<'_>) -> Reply {
    let r = UpdateKeyDescriptionRequest::read(cx.params)?;
    cx.service
        .update_key_description(cx.caller, cx.authorized.key(r.key_id), r.description)
        .await?;
    Ok(cx.render(&EmptyResponse {}))
}

pub async fn enable(cx: &Cx<'_>) -> Reply {
    let r = KeyIdRequest::read(cx.params)?;
    cx.service
        .enable_key(cx.caller, cx.authorized.key(r.key_id))
        .await?;
    Ok(cx.render(&EmptyResponse {}))
}

pub async fn disable(cx: &Cx<'_>) -> Reply {
    let r = KeyIdRequest::read(cx.params)?;
    cx.service
        .disable_key(cx.caller, cx.authorized.key(r.key_id))
        .await?;
    Ok(cx.render(&EmptyResponse {}))
}

pub async fn schedule_deletion(cx: &Cx<'_>) -> Reply {
    let r = ScheduleKeyDeletionRequest::read(cx.params)?;
    cx.service
        .schedule_key_deletion(
            cx.caller,
            cx.authorized.key(r.key_id),
            r.pending_window_in_days,
        )
        .await?;
    Ok(cx.render(&EmptyResponse {}))
}

pub async fn cancel_deletion(cx: &Cx<'_>) -> Reply {
    let r = KeyIdRequest::read(cx.params)?;
    cx.service
        .cancel_key_deletion(cx.caller, cx.authorized.key(r.key_id))
        .await?;
    Ok(cx.render(&EmptyResponse {}))
}

pub async fn create_alias(cx: &Cx<'_>) -> Reply {
    let r = AliasRequest::read(cx.params)?;
    cx.service
        .create_alias(cx.caller, r.alias_name, cx.authorized.key(r.key_id))
        .await?;
    Ok(cx.render(&EmptyResponse {}))
}

pub async fn update_alias(cx: &Cx<'_>) -> Reply {
    let r = AliasRequest::read(cx.params)?;
    cx.service
        .update_alias(
            cx.caller,
            r.alias_name,
            cx.authorized.key(r.key_id),
            cx.authorized.alias_key_id.as_deref(),
        )
        .await?;
    Ok(cx.render(&EmptyResponse {}))
}

pub async fn delete_alias(cx: &Cx<'_>) -> Reply {
    let r = DeleteAliasRequest::read(cx.params)?;
    cx.service
        .delete_alias(
            cx.caller,
            r.alias_name,
            cx.authorized.alias_key_id.as_deref(),
        )
        .await?;
    Ok(cx.render(&EmptyResponse {}))
}

pub async fn list_aliases(cx: &Cx<'_>) -> Reply {
    let r = PageRequest::read(cx.params)?;
    aliases_reply(cx, None, r).await
}

pub async fn list_aliases_by_key_id(cx: &Cx<'_>) -> Reply {
    let key = KeyIdRequest::read(cx.params)?;
    let r = PageRequest::read(cx.params)?;
    aliases_reply(cx, Some(cx.authorized.key(key.key_id)), r).await
}

pub async fn encrypt(cx: &Cx<'_>) -> Reply {
    let r = EncryptRequest::read(cx.params)?;
    let out = cx
        .service
        .encrypt(
            cx.caller,
            cx.authorized.key(r.key_id),
            r.plaintext,
            r.encryption_context.as_deref(),
            r.dry_run,
        )
        .await?;
    Ok(cx.render(&CiphertextResponse {
        key_id: out.key_id,
        key_version_id: out.key_version_id,
        ciphertext_blob: out.ciphertext_blob,
    }))
}

pub async fn decrypt(cx: &Cx<'_>) -> Reply {
    let r = DecryptRequest::read(cx.params)?;
    let out = cx
        .service
        .decrypt(
            cx.caller,
            r.ciphertext_blob,
            r.encryption_context.as_deref(),
            r.dry_run,
        )
        .await?;
    let plaintext = base64_text(out.plaintext_base64.expose_secret())?;
    Ok(cx.render(&DecryptResponse {
        key_id: &out.key_id,
        key_version_id: &out.key_version_id,
        plaintext,
    }))
}

/// GenerateDataKey, or GenerateDataKeyWithoutPlaintext when `with_plaintext` is false.
pub async fn generate_data_key(cx: &Cx<'_>, with_plaintext: bool) -> Reply {
    let r = GenerateDataKeyRequest::read(cx.params)?;
    let spec = DataKeySpec::parse(r.key_spec, r.number_of_bytes)?;
    let out = cx
        .service
        .generate_data_key(
            cx.caller,
            cx.authorized.key(r.key_id),
            spec,
            r.encryption_context.as_deref(),
            with_plaintext,
            r.dry_run,
        )
        .await?;
    if !with_plaintext {
        return Ok(cx.render(&CiphertextResponse {
            key_id: out.key_id,
            key_version_id: out.key_version_id,
            ciphertext_blob: out.ciphertext_blob,
        }));
    }
    let plain = out.plaintext_base64.as_ref().ok_or_else(internal)?;
    Ok(cx.render(&GenerateDataKeyResponse {
        key_id: &out.key_id,
        key_version_id: &out.key_version_id,
        plaintext: base64_text(plain.expose_secret())?,
        ciphertext_blob: &out.ciphertext_blob,
    }))
}

pub async fn create_version(cx: &Cx<'_>) -> Reply {
    let r = KeyIdRequest::read(cx.params)?;
    let v = cx
        .service
        .create_key_version(cx.caller, cx.authorized.key(r.key_id))
        .await?;
    Ok(cx.render(&KeyVersionResponse {
        key_version: version_item(v),
    }))
}

pub async fn describe_version(cx: &Cx<'_>) -> Reply {
    let r = KeyVersionRequest::read(cx.params)?;
    let v = cx
        .service
        .describe_key_version(cx.authorized.key(r.key_id), r.key_version_id)
        .await?;
    Ok(cx.render(&KeyVersionResponse {
        key_version: version_item(v),
    }))
}

pub async fn list_versions(cx: &Cx<'_>) -> Reply {
    let key = KeyIdRequest::read(cx.params)?;
    let r = PageRequest::read(cx.params)?;
    let page = cx
        .service
        .list_key_versions(
            cx.authorized.key(key.key_id),
            Paging::parse(r.page_number, r.page_size)?,
        )
        .await?;
    Ok(cx.render(&ListKeyVersionsResponse {
        page_number: page.page_number,
        page_size: page.page_size,
        total_count: page.total,
        key_versions: KeyVersionList {
            key_version: page.versions.into_iter().map(version_item).collect(),
        },
    }))
}

pub async fn update_rotation_policy(cx: &Cx<'_>) -> Reply {
    let r = UpdateRotationPolicyRequest::read(cx.params)?;
    cx.service
        .update_key_rotation_policy(
            cx.caller,
            cx.authorized.key(r.key_id),
            r.enable_automatic_rotation,
            r.rotation_interval,
        )
        .await?;
    Ok(cx.render(&EmptyResponse {}))
}

fn version_item(v: KeyVersionView) -> KeyVersionItem {
    KeyVersionItem {
        key_id: v.key_id,
        key_version_id: v.key_version_id,
        creation_date: format_unix(v.created_at),
    }
}

async fn aliases_reply(cx: &Cx<'_>, key_id: Option<&str>, r: PageRequest) -> Reply {
    let page = cx
        .service
        .list_aliases(key_id, Paging::parse(r.page_number, r.page_size)?)
        .await?;
    Ok(cx.render(&ListAliasesResponse {
        page_number: page.page_number,
        page_size: page.page_size,
        total_count: page.total,
        aliases: AliasList {
            alias: page
                .aliases
                .into_iter()
                .map(|a| AliasItem {
                    alias_name: a.alias_name,
                    alias_arn: a.alias_arn,
                    key_id: a.key_id,
                })
                .collect(),
        },
    }))
}

/// KeyMetadata from a key. LastRotationDate is the primary version's creation (the key's
/// creation until its first rotation); NextRotationDate is one interval after it.
fn metadata(k: KeyView, describe: bool) -> KeyMetadata {
    let rotation = k.automatic_rotation;
    KeyMetadata {
        arn: k.arn,
        automatic_rotation: if rotation.is_some() {
            "Enabled"
        } else {
            "Disabled"
        }
        .to_owned(),
        creation_date: format_unix(k.created_at),
        creator: k.creator,
        dkms_instance_id: k.instance_id,
        delete_date: k.delete_at.map(format_unix),
        deletion_protection: describe.then(|| "Disabled".to_owned()),
        description: k.description,
        key_id: k.key_id,
        key_spec: k.key_spec,
        key_state: k.key_state,
        key_usage: k.key_usage,
        last_rotation_date: format_unix(k.last_rotation_at),
        next_rotation_date: rotation.map(|r| format_unix(r.next_at)),
        origin: "Aliyun_KMS".to_owned(),
        primary_key_version: k.primary_version_id,
        protection_level: "SOFTWARE".to_owned(),
        rotation_interval: rotation.map(|r| format!("{}s", r.interval_secs)),
    }
}

/// Base64 text is ASCII by construction; failing would be a bug, answered as internal.
fn base64_text(bytes: &[u8]) -> Result<&str, ApiError> {
    std::str::from_utf8(bytes).map_err(|_| internal())
}

fn internal() -> ApiError {
    ApiError::from(openkms_service::Error::Internal {
        op: "render base64",
        source: None,
    })
}

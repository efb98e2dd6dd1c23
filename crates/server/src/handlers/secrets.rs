//! Secret actions: read the wire request, call the service, shape the wire reply.

use openkms_service::secrets::{
    CreateSecretInput, DeleteMode, GetSecretValueInput, ListSecretsInput, PasswordRequest,
    PutSecretValueInput, RotationPolicyInput, SecretValue, UpdateSecretInput,
    UpdateVersionStageInput, VersionInput,
};
use openkms_service::tags::TagView;
use openkms_wire::actions::common::{EmptyResponse, TagItem, Tags, VersionStages};
use openkms_wire::actions::secrets::*;
use openkms_wire::timefmt::format_unix;

use super::Cx;
use crate::error_response::ApiError;

type Reply = Result<Vec<u8>, ApiError>;

pub async fn create(cx: &Cx<'_>) -> Reply {
    let r = CreateSecretRequest::read(cx.params)?;
    let out = cx
        .service
        .create_secret(
            cx.caller,
            CreateSecretInput {
                secret_name: r.secret_name,
                version: VersionInput {
                    version_id: r.version_id,
                    secret_data: r.secret_data,
                    secret_data_type: r.secret_data_type,
                },
                // The key authorization resolved, not a second reading of an alias.
                encryption_key_id: r.encryption_key_id.map(|text| cx.authorized.key(text)),
                description: r.description,
                tags: r.tags,
                secret_type: r.secret_type,
                extended_config: r.extended_config,
                enable_automatic_rotation: r.enable_automatic_rotation,
                rotation_interval: r.rotation_interval,
                dkms_instance_id: r.dkms_instance_id,
                policy: r.policy,
            },
        )
        .await?;
    let s = out.secret;
    Ok(cx.render(&CreateSecretResponse {
        arn: out.arn,
        version_id: out.version_id,
        automatic_rotation: s.is_managed().then(|| s.rotation.status.to_owned()),
        rotation_interval: s.rotation.interval_secs.map(interval_text),
        next_rotation_date: s.rotation.next_at.map(format_unix),
        secret_name: s.name,
        secret_type: s.secret_type,
        extended_config: s.extended_config,
        dkms_instance_id: s.dkms_instance_id,
    }))
}

pub async fn get_value(cx: &Cx<'_>) -> Reply {
    let r = GetSecretValueRequest::read(cx.params)?;
    let v = cx
        .service
        .get_secret_value(
            cx.caller,
            GetSecretValueInput {
                secret_name: r.secret_name,
                version_id: r.version_id,
                version_stage: r.version_stage,
                fetch_extended_config: r.fetch_extended_config,
                dry_run: r.dry_run,
                authorized_secret: cx.authorized.secret_id,
            },
        )
        .await?;
    let data = value_text(&v)?;
    let body = cx.render(&value_response(&v, data));
    Ok(body)
}

pub async fn describe(cx: &Cx<'_>) -> Reply {
    let r = DescribeSecretRequest::read(cx.params)?;
    let d = cx
        .service
        .describe_secret(cx.caller, r.secret_name, r.fetch_tags)
        .await?;
    let s = d.secret;
    Ok(cx.render(&DescribeSecretResponse {
        arn: d.arn,
        automatic_rotation: s.rotation.status.to_owned(),
        create_time: format_unix(s.created_at),
        update_time: format_unix(s.updated_at),
        planned_delete_time: s.planned_delete_at.map(format_unix),
        description: s.description,
        encryption_key_id: s.encryption_key_id,
        dkms_instance_id: s.dkms_instance_id,
        rotation_interval: s.rotation.interval_secs.map(interval_text),
        last_rotation_date: s.rotation.last_at.map(format_unix),
        next_rotation_date: s.rotation.next_at.map(format_unix),
        extended_config: s.extended_config,
        tags: d.tags.map(tags_reply),
        secret_name: s.name,
        secret_type: s.secret_type,
    }))
}

pub async fn put_value(cx: &Cx<'_>) -> Reply {
    let r = PutSecretValueRequest::read(cx.params)?;
    let out = cx
        .service
        .put_secret_value(
            cx.caller,
            PutSecretValueInput {
                secret_name: r.secret_name,
                version: VersionInput {
                    version_id: r.version_id,
                    secret_data: r.secret_data,
                    secret_data_type: r.secret_data_type,
                },
                version_stages: r.version_stages,
                authorized_secret: cx.authorized.secret_id,
            },
        )
        .await?;
    Ok(cx.render(&PutSecretValueResponse {
        secret_name: out.secret_name,
        version_id: out.version_id,
        version_stages: VersionStages {
            version_stage: out.stages,
        },
    }))
}

pub async fn list_version_ids(cx: &Cx<'_>) -> Reply {
    let r = ListSecretVersionIdsRequest::read(cx.params)?;
    let l = cx
        .service
        .list_secret_versions(
            cx.caller,
            r.secret_name,
            r.include_deprecated,
            r.page_number,
            r.page_size,
        )
        .await?;
    Ok(cx.render(&ListSecretVersionIdsResponse {
        secret_name: l.secret_name,
        page_number: l.page_number,
        page_size: l.page_size,
        total_count: l.total_count,
        version_ids: VersionIds {
            version_id: l
                .versions
                .into_iter()
                .map(|v| VersionIdItem {
                    version_id: v.version_id,
                    create_time: format_unix(v.created_at),
                    version_stages: VersionStages {
                        version_stage: v.stages,
                    },
                })
                .collect(),
        },
    }))
}

pub async fn delete(cx: &Cx<'_>) -> Reply {
    let r = DeleteSecretRequest::read(cx.params)?;
    let mode =
        match (r.force_delete_without_recovery, r.recovery_window_in_days) {
            (true, Some(_)) => return Err(ApiError {
                code: openkms_wire::ErrorCode::InvalidParameter,
                message:
                    "ForceDeleteWithoutRecovery and RecoveryWindowInDays cannot be given together."
                        .into(),
            }),
            (true, None) => DeleteMode::Force,
            (false, days) => DeleteMode::Scheduled {
                recovery_window_days: days,
            },
        };
    let out = cx
        .service
        .delete_secret(cx.caller, r.secret_name, mode)
        .await?;
    Ok(cx.render(&DeleteSecretResponse {
        secret_name: out.secret_name,
        planned_delete_time: format_unix(out.planned_delete_at),
    }))
}

pub async fn restore(cx: &Cx<'_>) -> Reply {
    let r = SecretNameRequest::read(cx.params)?;
    let secret_name = cx.service.restore_secret(cx.caller, r.secret_name).await?;
    Ok(cx.render(&SecretNameResponse { secret_name }))
}

pub async fn update(cx: &Cx<'_>) -> Reply {
    let r = UpdateSecretRequest::read(cx.params)?;
    let secret_name = cx
        .service
        .update_secret(
            cx.caller,
            UpdateSecretInput {
                secret_name: r.secret_name,
                description: r.description,
                custom_data: r.custom_data,
            },
        )
        .await?;
    Ok(cx.render(&SecretNameResponse { secret_name }))
}

pub async fn update_version_stage(cx: &Cx<'_>) -> Reply {
    let r = UpdateSecretVersionStageRequest::read(cx.params)?;
    let secret_name = cx
        .service
        .update_secret_version_stage(
            cx.caller,
            UpdateVersionStageInput {
                secret_name: r.secret_name,
                version_stage: r.version_stage,
                remove_from_version: r.remove_from_version,
                move_to_version: r.move_to_version,
            },
        )
        .await?;
    Ok(cx.render(&SecretNameResponse { secret_name }))
}

pub async fn get_policy(cx: &Cx<'_>) -> Reply {
    let r = GetSecretPolicyRequest::read(cx.params)?;
    let policy = cx
        .service
        .get_secret_policy(cx.caller, r.secret_name, r.policy_name)
        .await?;
    Ok(cx.render(&GetSecretPolicyResponse { policy }))
}

pub async fn set_policy(cx: &Cx<'_>) -> Reply {
    let r = SetSecretPolicyRequest::read(cx.params)?;
    cx.service
        .set_secret_policy(cx.caller, r.secret_name, r.policy_name, r.policy)
        .await?;
    Ok(cx.render(&EmptyResponse {}))
}

pub async fn update_rotation_policy(cx: &Cx<'_>) -> Reply {
    let r = UpdateSecretRotationPolicyRequest::read(cx.params)?;
    let secret_name = cx
        .service
        .update_secret_rotation_policy(
            cx.caller,
            RotationPolicyInput {
                secret_name: r.secret_name,
                enable_automatic_rotation: r.enable_automatic_rotation,
                rotation_interval: r.rotation_interval,
            },
        )
        .await?;
    Ok(cx.render(&SecretNameResponse { secret_name }))
}

pub async fn batch_get_value(cx: &Cx<'_>) -> Reply {
    let r = BatchGetSecretValueRequest::read(cx.params)?;
    let inputs = r
        .secrets
        .iter()
        .map(|e| GetSecretValueInput {
            secret_name: &e.secret_name,
            version_id: e.version_id.as_deref(),
            version_stage: e.version_stage.as_deref(),
            fetch_extended_config: e.fetch_extended_config,
            dry_run: false,
            // Root only: nothing was authorized per entry.
            authorized_secret: None,
        })
        .collect();
    let entries = cx.service.batch_get_secret_value(cx.caller, inputs).await?;
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for entry in entries {
        match entry.result {
            Ok(v) => values.push(v),
            Err(e) => {
                // The same mapping as a failed single call: one table of codes and statuses.
                let api = ApiError::from(e);
                errors.push(BatchError {
                    secret_name: entry.secret_name,
                    code: api.code.code(),
                    message: api.message,
                    http_status: api.code.status(),
                });
            }
        }
    }
    let data = values
        .iter()
        .map(value_text)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cx.render(&BatchGetSecretValueResponse {
        secret_values: values
            .iter()
            .zip(&data)
            .map(|(v, d)| value_response(v, d))
            .collect(),
        errors,
    }))
}

pub async fn random_password(cx: &Cx<'_>) -> Reply {
    let r = GetRandomPasswordRequest::read(cx.params)?;
    let random_password = cx.service.get_random_password(
        cx.caller,
        &PasswordRequest {
            length: r.password_length,
            exclude_lowercase: r.exclude_lowercase,
            exclude_uppercase: r.exclude_uppercase,
            exclude_numbers: r.exclude_numbers,
            exclude_punctuation: r.exclude_punctuation,
            exclude_characters: r.exclude_characters,
            require_each_included_type: r.require_each_included_type,
        },
    )?;
    Ok(cx.render(&GetRandomPasswordResponse { random_password }))
}

pub async fn describe_regions(cx: &Cx<'_>) -> Reply {
    let region = cx
        .service
        .describe_regions(cx.caller)
        .into_iter()
        .map(|region_id| RegionItem { region_id })
        .collect();
    Ok(cx.render(&DescribeRegionsResponse {
        regions: Regions { region },
    }))
}

/// GetSecretValue's reply fields for one opened version; `data` is its text.
/// The plaintext as text. Values are stored from UTF-8 request text, so this always succeeds;
/// failing would mean a corrupted row, answered as an internal failure.
fn value_text(v: &SecretValue) -> Result<&str, ApiError> {
    std::str::from_utf8(v.data.expose_secret()).map_err(|_| {
        ApiError::from(openkms_service::Error::Internal {
            op: "decode secret value",
            source: None,
        })
    })
}

fn value_response<'a>(v: &'a SecretValue, data: &'a str) -> GetSecretValueResponse<'a> {
    let rotation = v.rotation();
    GetSecretValueResponse {
        secret_name: v.secret_name(),
        version_id: v.version_id(),
        create_time: format_unix(v.created_at()),
        secret_data: data,
        secret_data_type: v.data_type(),
        version_stages: VersionStages {
            version_stage: v.stages.clone(),
        },
        secret_type: v.secret_type(),
        automatic_rotation: rotation.status,
        extended_config: v.extended_config(),
        last_rotation_date: rotation.last_at.map(format_unix),
        next_rotation_date: rotation.next_at.map(format_unix),
        rotation_interval: rotation.interval_secs.map(interval_text),
    }
}

/// RotationInterval as the API writes it: seconds with an `s`.
fn interval_text(secs: i64) -> String {
    format!("{secs}s")
}

pub async fn list(cx: &Cx<'_>) -> Reply {
    let r = ListSecretsRequest::read(cx.params)?;
    let page = cx
        .service
        .list_secrets(
            cx.caller,
            ListSecretsInput {
                page_number: r.page_number,
                page_size: r.page_size,
                fetch_tags: r.fetch_tags,
                filters: r.filters,
            },
        )
        .await?;
    Ok(cx.render(&ListSecretsResponse {
        page_number: page.page_number,
        page_size: page.page_size,
        total_count: page.total_count,
        secret_list: SecretList {
            secret: page
                .secrets
                .into_iter()
                .map(|(s, tags)| SecretListItem {
                    create_time: format_unix(s.created_at),
                    update_time: format_unix(s.updated_at),
                    planned_delete_time: s.planned_delete_at.map(format_unix),
                    tags: tags.map(tags_reply),
                    secret_name: s.name,
                    secret_type: s.secret_type,
                })
                .collect(),
        },
    }))
}

fn tags_reply(tags: Vec<TagView>) -> Tags {
    Tags {
        tag: tags
            .into_iter()
            .map(|t| TagItem {
                tag_key: t.key,
                tag_value: t.value,
            })
            .collect(),
    }
}

//! Secret actions: what each request carries and each reply looks like (kms-api.md §3.1).

use serde::Serialize;

use super::common::{Tags, VersionStages};
use crate::error::ProtocolError;
use crate::params::Params;

/// CreateSecret parameters, unvalidated (the domain validates them).
#[derive(Debug)]
pub struct CreateSecretRequest<'a> {
    pub secret_name: &'a str,
    pub version_id: &'a str,
    pub secret_data: &'a str,
    pub secret_data_type: Option<&'a str>,
    pub encryption_key_id: Option<&'a str>,
    pub description: Option<&'a str>,
    pub tags: Option<&'a str>,
    pub secret_type: Option<&'a str>,
    pub extended_config: Option<&'a str>,
    pub enable_automatic_rotation: Option<bool>,
    pub rotation_interval: Option<&'a str>,
    pub dkms_instance_id: Option<&'a str>,
    pub policy: Option<&'a str>,
}

impl<'a> CreateSecretRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            secret_name: p.required("SecretName")?,
            version_id: p.required("VersionId")?,
            secret_data: p.required("SecretData")?,
            secret_data_type: p.optional("SecretDataType"),
            encryption_key_id: p.optional("EncryptionKeyId"),
            description: p.get("Description"),
            tags: p.optional("Tags"),
            secret_type: p.optional("SecretType"),
            extended_config: p.optional("ExtendedConfig"),
            enable_automatic_rotation: p.bool("EnableAutomaticRotation")?,
            rotation_interval: p.optional("RotationInterval"),
            dkms_instance_id: p.optional("DKMSInstanceId"),
            policy: p.optional("Policy"),
        })
    }
}

/// CreateSecret reply.
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSecretResponse {
    pub arn: String,
    pub secret_name: String,
    pub version_id: String,
    pub secret_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automatic_rotation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_config: Option<String>,
    #[serde(rename = "DKMSInstanceId", skip_serializing_if = "Option::is_none")]
    pub dkms_instance_id: Option<String>,
}

/// GetSecretValue parameters.
#[derive(Debug)]
pub struct GetSecretValueRequest<'a> {
    pub secret_name: &'a str,
    pub version_id: Option<&'a str>,
    pub version_stage: Option<&'a str>,
    pub fetch_extended_config: bool,
    pub dry_run: bool,
}

impl<'a> GetSecretValueRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            secret_name: p.required("SecretName")?,
            version_id: p.optional("VersionId"),
            version_stage: p.optional("VersionStage"),
            fetch_extended_config: p.bool("FetchExtendedConfig")?.unwrap_or(false),
            dry_run: p.bool("DryRun")?.unwrap_or(false),
        })
    }
}

/// GetSecretValue reply; `secret_data` borrows the one plaintext copy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSecretValueResponse<'a> {
    pub secret_name: &'a str,
    pub version_id: &'a str,
    pub create_time: String,
    pub secret_data: &'a str,
    pub secret_data_type: &'a str,
    pub version_stages: VersionStages,
    pub secret_type: &'a str,
    pub automatic_rotation: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_config: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rotation_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_interval: Option<String>,
}

/// DescribeSecret parameters.
#[derive(Debug)]
pub struct DescribeSecretRequest<'a> {
    pub secret_name: &'a str,
    pub fetch_tags: bool,
}

impl<'a> DescribeSecretRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            secret_name: p.required("SecretName")?,
            fetch_tags: p.bool("FetchTags")?.unwrap_or(false),
        })
    }
}

/// DescribeSecret reply.
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeSecretResponse {
    pub arn: String,
    pub secret_name: String,
    pub secret_type: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_key_id: Option<String>,
    pub create_time: String,
    pub update_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned_delete_time: Option<String>,
    #[serde(rename = "DKMSInstanceId", skip_serializing_if = "Option::is_none")]
    pub dkms_instance_id: Option<String>,
    pub automatic_rotation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rotation_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_config: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
}

/// PutSecretValue parameters.
#[derive(Debug)]
pub struct PutSecretValueRequest<'a> {
    pub secret_name: &'a str,
    pub version_id: &'a str,
    pub secret_data: &'a str,
    pub secret_data_type: Option<&'a str>,
    pub version_stages: Option<&'a str>,
}

impl<'a> PutSecretValueRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            secret_name: p.required("SecretName")?,
            version_id: p.required("VersionId")?,
            secret_data: p.required("SecretData")?,
            secret_data_type: p.optional("SecretDataType"),
            version_stages: p.optional("VersionStages"),
        })
    }
}

/// PutSecretValue reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutSecretValueResponse {
    pub secret_name: String,
    pub version_id: String,
    pub version_stages: VersionStages,
}

/// ListSecretVersionIds parameters.
#[derive(Debug)]
pub struct ListSecretVersionIdsRequest<'a> {
    pub secret_name: &'a str,
    pub include_deprecated: bool,
    pub page_number: Option<u64>,
    pub page_size: Option<u64>,
}

impl<'a> ListSecretVersionIdsRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            secret_name: p.required("SecretName")?,
            include_deprecated: p.bool("IncludeDeprecated")?.unwrap_or(false),
            page_number: p.u64("PageNumber")?,
            page_size: p.u64("PageSize")?,
        })
    }
}

/// One version in ListSecretVersionIds.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionIdItem {
    pub version_id: String,
    pub create_time: String,
    pub version_stages: VersionStages,
}

/// `{"VersionId": [...]}`.
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct VersionIds {
    pub version_id: Vec<VersionIdItem>,
}

/// ListSecretVersionIds reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretVersionIdsResponse {
    pub secret_name: String,
    pub page_number: u64,
    pub page_size: u64,
    pub total_count: u64,
    pub version_ids: VersionIds,
}

/// DeleteSecret parameters.
#[derive(Debug)]
pub struct DeleteSecretRequest<'a> {
    pub secret_name: &'a str,
    pub recovery_window_in_days: Option<u64>,
    pub force_delete_without_recovery: bool,
}

impl<'a> DeleteSecretRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            secret_name: p.required("SecretName")?,
            recovery_window_in_days: p.u64("RecoveryWindowInDays")?,
            force_delete_without_recovery: p.bool("ForceDeleteWithoutRecovery")?.unwrap_or(false),
        })
    }
}

/// DeleteSecret reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSecretResponse {
    pub secret_name: String,
    pub planned_delete_time: String,
}

/// A reply that carries only `RequestId` and `SecretName`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretNameResponse {
    pub secret_name: String,
}

/// ListSecrets parameters.
#[derive(Debug)]
pub struct ListSecretsRequest<'a> {
    pub page_number: Option<u64>,
    pub page_size: Option<u64>,
    pub fetch_tags: bool,
    pub filters: Option<&'a str>,
}

impl<'a> ListSecretsRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            page_number: p.u64("PageNumber")?,
            page_size: p.u64("PageSize")?,
            fetch_tags: p.bool("FetchTags")?.unwrap_or(false),
            filters: p.optional("Filters"),
        })
    }
}

/// One secret in ListSecrets.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretListItem {
    pub secret_name: String,
    pub secret_type: String,
    pub create_time: String,
    pub update_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned_delete_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
}

/// `{"Secret": [...]}`.
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct SecretList {
    pub secret: Vec<SecretListItem>,
}

/// ListSecrets reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretsResponse {
    pub page_number: u64,
    pub page_size: u64,
    pub total_count: u64,
    pub secret_list: SecretList,
}

//! Key, alias and cryptographic actions: what each request carries and each reply looks like
//! (kms-api.md §3.3, §3.4; kms-sdk-models.md for the exact nesting).

use std::borrow::Cow;

use serde::Serialize;

use crate::error::ProtocolError;
use crate::params::Params;

/// CreateKey parameters, unvalidated. Policy and KeyStorageMechanism are not read: openkms has
/// no key policies and one storage mechanism.
#[derive(Debug)]
pub struct CreateKeyRequest<'a> {
    pub key_spec: Option<&'a str>,
    pub key_usage: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub protection_level: Option<&'a str>,
    pub description: Option<&'a str>,
    pub enable_automatic_rotation: Option<bool>,
    pub rotation_interval: Option<&'a str>,
    pub tags: Option<&'a str>,
    pub dkms_instance_id: Option<&'a str>,
}

impl<'a> CreateKeyRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            key_spec: p.optional("KeySpec"),
            key_usage: p.optional("KeyUsage"),
            origin: p.optional("Origin"),
            protection_level: p.optional("ProtectionLevel"),
            description: p.get("Description"),
            enable_automatic_rotation: p.bool("EnableAutomaticRotation")?,
            rotation_interval: p.optional("RotationInterval"),
            tags: p.json_text("Tags")?,
            dkms_instance_id: p.optional("DKMSInstanceId"),
        })
    }
}

/// The KeyMetadata object of CreateKey and DescribeKey. DeletionProtection is DescribeKey's
/// only; optional fields are omitted when they do not apply.
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    pub arn: String,
    pub automatic_rotation: String,
    pub creation_date: String,
    pub creator: String,
    #[serde(rename = "DKMSInstanceId")]
    pub dkms_instance_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_protection: Option<String>,
    pub description: String,
    pub key_id: String,
    pub key_spec: String,
    pub key_state: String,
    pub key_usage: String,
    pub last_rotation_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<String>,
    pub origin: String,
    pub primary_key_version: String,
    pub protection_level: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_interval: Option<String>,
}

/// CreateKey / DescribeKey reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadataResponse {
    pub key_metadata: KeyMetadata,
}

/// A request whose only parameter is `KeyId` (DescribeKey, EnableKey, DisableKey,
/// CancelKeyDeletion).
#[derive(Debug)]
pub struct KeyIdRequest<'a> {
    pub key_id: &'a str,
}

impl<'a> KeyIdRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            key_id: p.required("KeyId")?,
        })
    }
}

/// PageNumber and PageSize.
#[derive(Debug)]
pub struct PageRequest {
    pub page_number: Option<u64>,
    pub page_size: Option<u64>,
}

impl PageRequest {
    /// Reads the parameters.
    pub fn read(p: &Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            page_number: p.u64("PageNumber")?,
            page_size: p.u64("PageSize")?,
        })
    }
}

/// ListKeys parameters.
#[derive(Debug)]
pub struct ListKeysRequest<'a> {
    pub page: PageRequest,
    pub filters: Option<&'a str>,
}

impl<'a> ListKeysRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            page: PageRequest::read(p)?,
            filters: p.json_text("Filters")?,
        })
    }
}

/// One key in ListKeys.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyItem {
    pub key_id: String,
    pub key_arn: String,
}

/// `{"Key": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyList {
    pub key: Vec<KeyItem>,
}

/// ListKeys reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysResponse {
    pub page_number: u64,
    pub page_size: u64,
    pub total_count: u64,
    pub keys: KeyList,
}

/// UpdateKeyDescription parameters.
#[derive(Debug)]
pub struct UpdateKeyDescriptionRequest<'a> {
    pub key_id: &'a str,
    pub description: &'a str,
}

impl<'a> UpdateKeyDescriptionRequest<'a> {
    /// Reads the parameters. Description is required but may be empty (clears it).
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            key_id: p.required("KeyId")?,
            description: p
                .get("Description")
                .ok_or(ProtocolError::MissingParameter {
                    name: "Description",
                })?,
        })
    }
}

/// ScheduleKeyDeletion parameters.
#[derive(Debug)]
pub struct ScheduleKeyDeletionRequest<'a> {
    pub key_id: &'a str,
    pub pending_window_in_days: u64,
}

impl<'a> ScheduleKeyDeletionRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            key_id: p.required("KeyId")?,
            pending_window_in_days: p.u64("PendingWindowInDays")?.ok_or(
                ProtocolError::MissingParameter {
                    name: "PendingWindowInDays",
                },
            )?,
        })
    }
}

/// CreateAlias / UpdateAlias parameters.
#[derive(Debug)]
pub struct AliasRequest<'a> {
    pub alias_name: &'a str,
    pub key_id: &'a str,
}

impl<'a> AliasRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            alias_name: p.required("AliasName")?,
            key_id: p.required("KeyId")?,
        })
    }
}

/// DeleteAlias parameters.
#[derive(Debug)]
pub struct DeleteAliasRequest<'a> {
    pub alias_name: &'a str,
}

impl<'a> DeleteAliasRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            alias_name: p.required("AliasName")?,
        })
    }
}

/// One alias in ListAliases / ListAliasesByKeyId.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasItem {
    pub alias_name: String,
    pub alias_arn: String,
    pub key_id: String,
}

/// `{"Alias": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasList {
    pub alias: Vec<AliasItem>,
}

/// ListAliases / ListAliasesByKeyId reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    pub page_number: u64,
    pub page_size: u64,
    pub total_count: u64,
    pub aliases: AliasList,
}

/// Encrypt parameters.
/// Deliberately not `Debug`: it carries plaintext.
pub struct EncryptRequest<'a> {
    pub key_id: &'a str,
    pub plaintext: &'a str,
    /// JSON object text, from the JSON or the flattened form (`Params::string_map`).
    pub encryption_context: Option<Cow<'a, str>>,
    pub dry_run: bool,
}

impl<'a> EncryptRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            key_id: p.required("KeyId")?,
            plaintext: p.required("Plaintext")?,
            encryption_context: p.string_map("EncryptionContext")?,
            dry_run: p.bool("DryRun")?.unwrap_or(false),
        })
    }
}

/// Encrypt / GenerateDataKeyWithoutPlaintext reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CiphertextResponse {
    pub key_id: String,
    pub key_version_id: String,
    pub ciphertext_blob: String,
}

/// Decrypt parameters.
#[derive(Debug)]
pub struct DecryptRequest<'a> {
    pub ciphertext_blob: &'a str,
    /// JSON object text, from the JSON or the flattened form (`Params::string_map`).
    pub encryption_context: Option<Cow<'a, str>>,
    pub dry_run: bool,
}

impl<'a> DecryptRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            ciphertext_blob: p.required("CiphertextBlob")?,
            encryption_context: p.string_map("EncryptionContext")?,
            dry_run: p.bool("DryRun")?.unwrap_or(false),
        })
    }
}

/// Decrypt reply; `plaintext` borrows the one base64 copy.
/// Deliberately not `Debug`: it carries plaintext.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse<'a> {
    pub key_id: &'a str,
    pub key_version_id: &'a str,
    pub plaintext: &'a str,
}

/// GenerateDataKey / GenerateDataKeyWithoutPlaintext parameters.
#[derive(Debug)]
pub struct GenerateDataKeyRequest<'a> {
    pub key_id: &'a str,
    pub key_spec: Option<&'a str>,
    pub number_of_bytes: Option<u64>,
    /// JSON object text, from the JSON or the flattened form (`Params::string_map`).
    pub encryption_context: Option<Cow<'a, str>>,
    pub dry_run: bool,
}

impl<'a> GenerateDataKeyRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            key_id: p.required("KeyId")?,
            key_spec: p.optional("KeySpec"),
            number_of_bytes: p.u64("NumberOfBytes")?,
            encryption_context: p.string_map("EncryptionContext")?,
            dry_run: p.bool("DryRun")?.unwrap_or(false),
        })
    }
}

/// GenerateDataKey reply; `plaintext` borrows the one base64 copy of the data key.
/// Deliberately not `Debug`: it carries plaintext.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyResponse<'a> {
    pub key_id: &'a str,
    pub key_version_id: &'a str,
    pub plaintext: &'a str,
    pub ciphertext_blob: &'a str,
}

/// DescribeKeyVersion parameters.
#[derive(Debug)]
pub struct KeyVersionRequest<'a> {
    pub key_id: &'a str,
    pub key_version_id: &'a str,
}

impl<'a> KeyVersionRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            key_id: p.required("KeyId")?,
            key_version_id: p.required("KeyVersionId")?,
        })
    }
}

/// One key version (CreateKeyVersion, DescribeKeyVersion, ListKeyVersions).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyVersionItem {
    pub key_id: String,
    pub key_version_id: String,
    pub creation_date: String,
}

/// CreateKeyVersion / DescribeKeyVersion reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyVersionResponse {
    pub key_version: KeyVersionItem,
}

/// `{"KeyVersion": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyVersionList {
    pub key_version: Vec<KeyVersionItem>,
}

/// ListKeyVersions reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyVersionsResponse {
    pub page_number: u64,
    pub page_size: u64,
    pub total_count: u64,
    pub key_versions: KeyVersionList,
}

/// UpdateRotationPolicy parameters. EnableAutomaticRotation is required.
#[derive(Debug)]
pub struct UpdateRotationPolicyRequest<'a> {
    pub key_id: &'a str,
    pub enable_automatic_rotation: bool,
    pub rotation_interval: Option<&'a str>,
}

impl<'a> UpdateRotationPolicyRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            key_id: p.required("KeyId")?,
            enable_automatic_rotation: p.bool("EnableAutomaticRotation")?.ok_or(
                ProtocolError::MissingParameter {
                    name: "EnableAutomaticRotation",
                },
            )?,
            rotation_interval: p.optional("RotationInterval"),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::Value;

    use super::*;

    /// The query parameters of a captured SDK request (allops-tea-python traces).
    fn trace_params(file: &str) -> Params {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/traces")
            .join(file);
        let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let pairs = v["query"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_owned(),
                    p[1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        Params::from_pairs(pairs).unwrap()
    }

    #[test]
    fn reads_every_key_request_the_sdk_sent() {
        let p = trace_params("allops-tea-python_21_CreateKey.json");
        let r = CreateKeyRequest::read(&p).unwrap();
        assert_eq!(r.key_spec, Some("Aliyun_AES_256"));
        assert_eq!(r.enable_automatic_rotation, Some(true));
        assert_eq!(r.rotation_interval, Some("365d"));
        assert_eq!(r.tags, Some(r#"[{"TagKey":"k","TagValue":"v"}]"#));
        for f in [
            "allops-tea-python_22_DescribeKey.json",
            "allops-tea-python_24_EnableKey.json",
            "allops-tea-python_25_DisableKey.json",
            "allops-tea-python_27_CancelKeyDeletion.json",
        ] {
            assert_eq!(
                KeyIdRequest::read(&trace_params(f)).unwrap().key_id,
                "key-hzz62f1cb66fa4y7ue5bs"
            );
        }
        let p = trace_params("allops-tea-python_23_ListKeys.json");
        let r = ListKeysRequest::read(&p).unwrap();
        assert_eq!((r.page.page_number, r.page.page_size), (Some(1), Some(10)));
        assert!(r.filters.unwrap().contains("PendingDeletion"));
        let p = trace_params("allops-tea-python_26_ScheduleKeyDeletion.json");
        assert_eq!(
            ScheduleKeyDeletionRequest::read(&p)
                .unwrap()
                .pending_window_in_days,
            7
        );
        let p = trace_params("allops-tea-python_28_Encrypt.json");
        let r = EncryptRequest::read(&p).unwrap();
        assert_eq!(
            (r.plaintext, r.encryption_context.as_deref()),
            ("aGVsbG8=", Some(r#"{"purpose":"demo"}"#))
        );
        let p = trace_params("allops-tea-python_29_Decrypt.json");
        assert_eq!(
            DecryptRequest::read(&p).unwrap().ciphertext_blob,
            "ZmFrZQ=="
        );
        let p = trace_params("allops-tea-python_31_GenerateDataKeyWithoutPlaintext.json");
        assert_eq!(
            GenerateDataKeyRequest::read(&p).unwrap().key_spec,
            Some("AES_128")
        );
        for f in [
            "allops-tea-python_32_CreateAlias.json",
            "allops-tea-python_35_UpdateAlias.json",
        ] {
            assert_eq!(
                AliasRequest::read(&trace_params(f)).unwrap().alias_name,
                "alias/demo"
            );
        }
        let p = trace_params("allops-tea-python_36_DeleteAlias.json");
        assert_eq!(
            DeleteAliasRequest::read(&p).unwrap().alias_name,
            "alias/demo"
        );
        let p = trace_params("allops-tea-python_37_UpdateKeyDescription.json");
        assert_eq!(
            UpdateKeyDescriptionRequest::read(&p).unwrap().description,
            "d"
        );
    }

    #[test]
    fn key_metadata_serialises_with_the_sdk_names_and_omits_what_does_not_apply() {
        let body = serde_json::to_value(KeyMetadataResponse {
            key_metadata: KeyMetadata {
                dkms_instance_id: "kst-1".into(),
                ..KeyMetadata::default()
            },
        })
        .unwrap();
        let md = body["KeyMetadata"].as_object().unwrap();
        for field in [
            "Arn",
            "AutomaticRotation",
            "CreationDate",
            "Creator",
            "DKMSInstanceId",
            "Description",
            "KeyId",
            "KeySpec",
            "KeyState",
            "KeyUsage",
            "LastRotationDate",
            "Origin",
            "PrimaryKeyVersion",
            "ProtectionLevel",
        ] {
            assert!(md.contains_key(field), "{field}");
        }
        for absent in [
            "DeleteDate",
            "DeletionProtection",
            "NextRotationDate",
            "RotationInterval",
        ] {
            assert!(!md.contains_key(absent), "{absent}");
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn reads_key_version_and_rotation_policy_requests() {
        let p = params(&[("KeyId", "k"), ("KeyVersionId", "v")]);
        let r = KeyVersionRequest::read(&p).unwrap();
        assert_eq!((r.key_id, r.key_version_id), ("k", "v"));
        assert!(matches!(
            KeyVersionRequest::read(&params(&[("KeyId", "k")])),
            Err(ProtocolError::MissingParameter {
                name: "KeyVersionId"
            })
        ));
        let p = params(&[
            ("KeyId", "k"),
            ("EnableAutomaticRotation", "true"),
            ("RotationInterval", "30d"),
        ]);
        let r = UpdateRotationPolicyRequest::read(&p).unwrap();
        assert!(r.enable_automatic_rotation);
        assert_eq!(r.rotation_interval, Some("30d"));
        assert!(matches!(
            UpdateRotationPolicyRequest::read(&params(&[("KeyId", "k")])),
            Err(ProtocolError::MissingParameter {
                name: "EnableAutomaticRotation"
            })
        ));
        assert!(UpdateRotationPolicyRequest::read(&params(&[
            ("KeyId", "k"),
            ("EnableAutomaticRotation", "maybe"),
        ]))
        .is_err());
    }

    #[test]
    fn key_version_replies_nest_as_the_sdk_models() {
        let item = || KeyVersionItem {
            key_id: "k".into(),
            key_version_id: "v".into(),
            creation_date: "2026-01-01T00:00:00Z".into(),
        };
        let one = serde_json::to_value(KeyVersionResponse {
            key_version: item(),
        })
        .unwrap();
        assert_eq!(one["KeyVersion"]["KeyVersionId"], "v");
        assert_eq!(one["KeyVersion"]["CreationDate"], "2026-01-01T00:00:00Z");
        let list = serde_json::to_value(ListKeyVersionsResponse {
            page_number: 1,
            page_size: 10,
            total_count: 1,
            key_versions: KeyVersionList {
                key_version: vec![item()],
            },
        })
        .unwrap();
        assert_eq!(list["TotalCount"], 1);
        assert_eq!(list["KeyVersions"]["KeyVersion"][0]["KeyId"], "k");
    }
}

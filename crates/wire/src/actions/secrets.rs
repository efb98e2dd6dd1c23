//! Secret actions: what each request carries and each reply looks like (kms-api.md §3.1).

use serde::Serialize;

use super::common::{Tags, VersionStages};
use crate::error::ProtocolError;
use crate::params::Params;

/// CreateSecret parameters, unvalidated (the domain validates them).
/// Deliberately not `Debug`: it carries plaintext.
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
            encryption_key_id: p.optional_resource("EncryptionKeyId")?,
            description: p.get("Description"),
            tags: p.json_text("Tags")?,
            secret_type: p.optional("SecretType"),
            extended_config: p.json_text("ExtendedConfig")?,
            enable_automatic_rotation: p.bool("EnableAutomaticRotation")?,
            rotation_interval: p.optional("RotationInterval"),
            dkms_instance_id: p.optional("DKMSInstanceId"),
            policy: p.json_text("Policy")?,
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
/// Deliberately not `Debug`: it carries plaintext.
#[derive(Serialize)]
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
/// Deliberately not `Debug`: it carries plaintext.
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
            version_stages: p.json_text("VersionStages")?,
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

/// A request that carries only `SecretName` (RestoreSecret).
#[derive(Debug)]
pub struct SecretNameRequest<'a> {
    pub secret_name: &'a str,
}

impl<'a> SecretNameRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            secret_name: p.required("SecretName")?,
        })
    }
}

/// UpdateSecret parameters.
#[derive(Debug)]
pub struct UpdateSecretRequest<'a> {
    pub secret_name: &'a str,
    pub description: Option<&'a str>,
    /// CustomData pairs from either encoding (kms-api.md §1.2 item 7); `None` when neither
    /// was sent.
    pub custom_data: Option<Vec<(String, String)>>,
}

/// The legacy SDK's one-parameter CustomData (JSON object text).
const CUSTOM_DATA: &str = "ExtendedConfig.CustomData";

impl<'a> UpdateSecretRequest<'a> {
    /// Reads the parameters. CustomData arrives as `ExtendedConfig.CustomData=<JSON object>`
    /// (legacy SDK) or as `ExtendedConfig.CustomData.<key>=<value>` (generated SDK); either is
    /// accepted, both at once is 400 `InvalidParameter` (which one was meant is unknown), and
    /// any other `ExtendedConfig` parameter is refused rather than dropped (only CustomData can
    /// change here).
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        if p.present("ExtendedConfig")
            || p.with_prefix("ExtendedConfig")
                .any(|(rest, _)| rest != "CustomData" && !rest.starts_with("CustomData."))
        {
            return Err(ProtocolError::InvalidParameter {
                name: "ExtendedConfig",
                reason: "only ExtendedConfig.CustomData can be changed",
            });
        }
        if p.present(CUSTOM_DATA) && p.with_prefix(CUSTOM_DATA).next().is_some() {
            return Err(ProtocolError::InvalidParameter {
                name: CUSTOM_DATA,
                reason: "send it either as JSON text or flattened, not both",
            });
        }
        let mut pairs: Option<Vec<(String, String)>> = None;
        if let Some(text) = p.optional(CUSTOM_DATA) {
            let invalid = || ProtocolError::InvalidParameter {
                name: CUSTOM_DATA,
                reason: "it must be a JSON object of string values",
            };
            let value: serde_json::Value = serde_json::from_str(text).map_err(|_| invalid())?;
            let object = value.as_object().ok_or_else(invalid)?;
            let mut from_json = Vec::with_capacity(object.len());
            for (k, v) in object {
                let v = v.as_str().ok_or_else(invalid)?;
                from_json.push((k.clone(), v.to_owned()));
            }
            pairs = Some(from_json);
        }
        for (key, value) in p.with_prefix(CUSTOM_DATA) {
            pairs
                .get_or_insert_with(Vec::new)
                .push((key.to_owned(), value.to_owned()));
        }
        Ok(Self {
            secret_name: p.required("SecretName")?,
            description: p.get("Description"),
            custom_data: pairs,
        })
    }
}

/// UpdateSecretVersionStage parameters.
#[derive(Debug)]
pub struct UpdateSecretVersionStageRequest<'a> {
    pub secret_name: &'a str,
    pub version_stage: &'a str,
    pub remove_from_version: Option<&'a str>,
    pub move_to_version: Option<&'a str>,
}

impl<'a> UpdateSecretVersionStageRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            secret_name: p.required("SecretName")?,
            version_stage: p.required("VersionStage")?,
            remove_from_version: p.optional("RemoveFromVersion"),
            move_to_version: p.optional("MoveToVersion"),
        })
    }
}

/// GetSecretPolicy parameters.
#[derive(Debug)]
pub struct GetSecretPolicyRequest<'a> {
    pub secret_name: &'a str,
    pub policy_name: Option<&'a str>,
}

impl<'a> GetSecretPolicyRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            secret_name: p.required("SecretName")?,
            policy_name: p.optional("PolicyName"),
        })
    }
}

/// GetSecretPolicy reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSecretPolicyResponse {
    pub policy: String,
}

/// SetSecretPolicy parameters.
#[derive(Debug)]
pub struct SetSecretPolicyRequest<'a> {
    pub secret_name: &'a str,
    pub policy_name: Option<&'a str>,
    pub policy: &'a str,
}

impl<'a> SetSecretPolicyRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            secret_name: p.required("SecretName")?,
            policy_name: p.optional("PolicyName"),
            policy: {
                p.refuse_flattened("Policy")?;
                p.required("Policy")?
            },
        })
    }
}

/// UpdateSecretRotationPolicy parameters.
#[derive(Debug)]
pub struct UpdateSecretRotationPolicyRequest<'a> {
    pub secret_name: &'a str,
    pub enable_automatic_rotation: bool,
    pub rotation_interval: Option<&'a str>,
}

impl<'a> UpdateSecretRotationPolicyRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            secret_name: p.required("SecretName")?,
            enable_automatic_rotation: p.bool("EnableAutomaticRotation")?.ok_or(
                ProtocolError::MissingParameter {
                    name: "EnableAutomaticRotation",
                },
            )?,
            rotation_interval: p.optional("RotationInterval"),
        })
    }
}

/// One SecretsList entry of BatchGetSecretValue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretsListEntry {
    pub secret_name: String,
    pub version_stage: Option<String>,
    pub version_id: Option<String>,
    pub fetch_extended_config: bool,
}

/// BatchGetSecretValue parameters.
#[derive(Debug)]
pub struct BatchGetSecretValueRequest {
    pub secrets: Vec<SecretsListEntry>,
}

const SECRETS_LIST: &str = "SecretsList";

impl BatchGetSecretValueRequest {
    /// Reads the parameters. `SecretsList` is JSON text: an array whose items are objects
    /// `{"SecretName", "VersionStage"?, "VersionId"?, "FetchExtendedConfig"?}` (the generated
    /// SDK's model) or plain secret-name strings (accepted as a convenience; the two may mix).
    /// Unknown fields of an object are ignored; `FetchExtendedConfig` may be a JSON boolean or
    /// the text `true`/`false` in any case. The count limit is the service's.
    pub fn read(p: &Params) -> Result<Self, ProtocolError> {
        p.refuse_flattened(SECRETS_LIST)?;
        let text = p.required(SECRETS_LIST)?;
        let invalid = |reason| ProtocolError::InvalidParameter {
            name: SECRETS_LIST,
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|_| invalid("it must be a JSON array"))?;
        let items = value
            .as_array()
            .ok_or_else(|| invalid("it must be a JSON array"))?;
        let secrets = items
            .iter()
            .map(|item| secrets_list_entry(item).ok_or_else(|| invalid(ENTRY_SHAPE)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { secrets })
    }
}

const ENTRY_SHAPE: &str = "each item must be a secret name or an object with a non-empty SecretName and optional string VersionStage, VersionId and FetchExtendedConfig";

fn secrets_list_entry(item: &serde_json::Value) -> Option<SecretsListEntry> {
    use serde_json::Value;
    let optional_str = |o: &serde_json::Map<String, Value>, k: &str| match o.get(k) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) if s.is_empty() => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    };
    match item {
        Value::String(name) if !name.is_empty() => Some(SecretsListEntry {
            secret_name: name.clone(),
            version_stage: None,
            version_id: None,
            fetch_extended_config: false,
        }),
        Value::Object(o) => {
            let secret_name = optional_str(o, "SecretName")??;
            let fetch_extended_config = match o.get("FetchExtendedConfig") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) if s.is_empty() || s.eq_ignore_ascii_case("false") => false,
                Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
                Some(_) => return None,
            };
            Some(SecretsListEntry {
                secret_name,
                version_stage: optional_str(o, "VersionStage")?,
                version_id: optional_str(o, "VersionId")?,
                fetch_extended_config,
            })
        }
        _ => None,
    }
}

/// One failed entry of BatchGetSecretValue.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchError {
    pub secret_name: String,
    pub code: &'static str,
    pub message: String,
    pub http_status: u16,
}

/// BatchGetSecretValue reply: bare arrays, unlike the older actions (kms-api.md §3.1).
/// Deliberately not `Debug`: it carries plaintext.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetSecretValueResponse<'a> {
    pub secret_values: Vec<GetSecretValueResponse<'a>>,
    pub errors: Vec<BatchError>,
}

/// GetRandomPassword parameters.
#[derive(Debug)]
pub struct GetRandomPasswordRequest<'a> {
    pub password_length: Option<u64>,
    pub exclude_characters: &'a str,
    pub exclude_lowercase: bool,
    pub exclude_uppercase: bool,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub require_each_included_type: bool,
}

impl<'a> GetRandomPasswordRequest<'a> {
    /// Reads the parameters.
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            password_length: p.u64("PasswordLength")?,
            exclude_characters: p.optional("ExcludeCharacters").unwrap_or_default(),
            exclude_lowercase: p.bool("ExcludeLowercase")?.unwrap_or(false),
            exclude_uppercase: p.bool("ExcludeUppercase")?.unwrap_or(false),
            exclude_numbers: p.bool("ExcludeNumbers")?.unwrap_or(false),
            exclude_punctuation: p.bool("ExcludePunctuation")?.unwrap_or(false),
            require_each_included_type: p.bool("RequireEachIncludedType")?.unwrap_or(false),
        })
    }
}

/// GetRandomPassword reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRandomPasswordResponse {
    pub random_password: String,
}

/// One region in DescribeRegions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegionItem {
    pub region_id: String,
}

/// `{"Region": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Regions {
    pub region: Vec<RegionItem>,
}

/// DescribeRegions reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeRegionsResponse {
    pub regions: Regions,
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
            filters: p.json_text("Filters")?,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap()
    }

    fn trace_query(file: &str) -> Params {
        let path = format!("{}/tests/traces/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let trace: serde_json::Value = serde_json::from_str(&text).unwrap();
        let pairs = trace["query"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| {
                (
                    kv[0].as_str().unwrap().to_owned(),
                    kv[1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        Params::from_pairs(pairs).unwrap()
    }

    #[test]
    fn update_secret_reads_flattened_custom_data_of_the_generated_sdk() {
        let p = trace_query("allops-tea-python_03_UpdateSecret.json");
        let r = UpdateSecretRequest::read(&p).unwrap();
        assert_eq!(r.secret_name, "trace/demo-secret");
        assert_eq!(r.description, Some("new description"));
        assert_eq!(r.custom_data, Some(vec![("k".into(), "v".into())]));
    }

    #[test]
    fn update_secret_reads_json_custom_data_of_the_legacy_sdk() {
        let p = trace_query("allops-legacy-python_01_UpdateSecret.json");
        let r = UpdateSecretRequest::read(&p).unwrap();
        assert_eq!(r.description, Some("d"));
        assert_eq!(r.custom_data, Some(vec![("k".into(), "v".into())]));
    }

    #[test]
    fn update_secret_without_custom_data_has_none_and_rejects_non_string_json() {
        let p = params(&[("SecretName", "a")]);
        assert_eq!(UpdateSecretRequest::read(&p).unwrap().custom_data, None);
        for bad in ["[1]", "{\"k\":1}", "not json"] {
            assert!(UpdateSecretRequest::read(&params(&[
                ("SecretName", "a"),
                ("ExtendedConfig.CustomData", bad)
            ]))
            .is_err());
        }
    }

    #[test]
    fn update_secret_refuses_both_custom_data_forms_and_other_extended_config() {
        for extra in [
            [
                ("ExtendedConfig.CustomData", "{}"),
                ("ExtendedConfig.CustomData.k", "v"),
            ],
            [("ExtendedConfig", "{}"), ("Description", "d")],
            [("ExtendedConfig.SecretSubType", "x"), ("Description", "d")],
        ] {
            let mut pairs = vec![("SecretName", "a")];
            pairs.extend(extra);
            assert!(matches!(
                UpdateSecretRequest::read(&params(&pairs)),
                Err(ProtocolError::InvalidParameter { .. })
            ));
        }
    }

    #[test]
    fn flattened_json_parameters_are_refused() {
        let p = params(&[
            ("SecretName", "a"),
            ("VersionId", "v"),
            ("SecretData", "x"),
            ("Tags.1.TagKey", "k"),
        ]);
        assert!(CreateSecretRequest::read(&p).is_err());
        let p = params(&[
            ("SecretsList.1.SecretName", "a"),
            ("SecretsList", "[\"a\"]"),
        ]);
        assert!(BatchGetSecretValueRequest::read(&p).is_err());
    }

    #[test]
    fn batch_get_reads_the_trace_secrets_list() {
        let p = trace_query("allops-tea-python_15_BatchGetSecretValue.json");
        let r = BatchGetSecretValueRequest::read(&p).unwrap();
        assert_eq!(r.secrets.len(), 2);
        assert_eq!(r.secrets[0].secret_name, "a");
        assert_eq!(r.secrets[1].version_stage.as_deref(), Some("ACSPrevious"));
    }

    #[test]
    fn batch_get_accepts_plain_names_and_rejects_bad_items() {
        let r = BatchGetSecretValueRequest::read(&params(&[(
            "SecretsList",
            r#"["a",{"SecretName":"b","FetchExtendedConfig":"True"}]"#,
        )]))
        .unwrap();
        assert_eq!(r.secrets[0].secret_name, "a");
        assert!(r.secrets[1].fetch_extended_config);
        for bad in [
            "{}",
            "[1]",
            r#"[{"VersionId":"v"}]"#,
            r#"[""]"#,
            r#"[{"SecretName":"a","VersionId":3}]"#,
        ] {
            assert!(
                BatchGetSecretValueRequest::read(&params(&[("SecretsList", bad)])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn rotation_policy_requires_enable_automatic_rotation() {
        let err =
            UpdateSecretRotationPolicyRequest::read(&params(&[("SecretName", "a")])).unwrap_err();
        assert_eq!(
            err,
            ProtocolError::MissingParameter {
                name: "EnableAutomaticRotation"
            }
        );
    }

    #[test]
    fn describe_regions_reply_has_the_sdk_nesting() {
        let body = serde_json::to_value(DescribeRegionsResponse {
            regions: Regions {
                region: vec![RegionItem {
                    region_id: "cn-hangzhou".into(),
                }],
            },
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"Regions":{"Region":[{"RegionId":"cn-hangzhou"}]}})
        );
    }
}

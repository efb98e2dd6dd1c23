//! STS 2015-04-01 (docs/ram-api.md): action names and reply shapes, from the models of
//! `alibabacloud-sts20150401` 1.2.0.

use serde::Serialize;

/// The STS API version, told apart from KMS's and RAM's by the `Version` parameter.
pub const STS_API_VERSION: &str = "2015-04-01";

/// An STS action openkms answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StsAction {
    AssumeRole,
    GetCallerIdentity,
}

impl StsAction {
    /// Looks up an action by its exact wire name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "AssumeRole" => Some(Self::AssumeRole),
            "GetCallerIdentity" => Some(Self::GetCallerIdentity),
            _ => None,
        }
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::AssumeRole => "AssumeRole",
            Self::GetCallerIdentity => "GetCallerIdentity",
        }
    }
}

/// Temporary credentials.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    pub expiration: String,
}

/// Who the session acts as.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssumedRoleUser {
    pub arn: String,
    pub assumed_role_id: String,
}

/// AssumeRole reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssumeRoleResponse {
    pub credentials: Credentials,
    pub assumed_role_user: AssumedRoleUser,
}

/// GetCallerIdentity reply; `RoleId` only for role sessions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetCallerIdentityResponse {
    pub account_id: String,
    pub user_id: String,
    pub arn: String,
    pub identity_type: String,
    pub principal_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_id: Option<String>,
}

//! RAM 2015-05-01 (docs/ram-api.md): action names and reply shapes, from the models of
//! `alibabacloud-ram20150501` 1.3.0. Lists nest as RAM does: `Users: {User: [...]}`.

use serde::Serialize;

/// The RAM API version, told apart from KMS's by the `Version` parameter.
pub const RAM_API_VERSION: &str = "2015-05-01";

macro_rules! ram_actions {
    ($($name:ident,)*) => {
        /// A RAM action openkms answers.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum RamAction {
            $($name,)*
        }

        impl RamAction {
            /// Looks up an action by its exact wire name.
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($name) => Some(Self::$name),)*
                    _ => None,
                }
            }

            /// The wire name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)*
                }
            }
        }
    };
}

ram_actions! {
    CreateUser,
    GetUser,
    UpdateUser,
    DeleteUser,
    ListUsers,
    CreateAccessKey,
    UpdateAccessKey,
    DeleteAccessKey,
    ListAccessKeys,
    CreatePolicy,
    GetPolicy,
    DeletePolicy,
    ListPolicies,
    CreatePolicyVersion,
    SetDefaultPolicyVersion,
    ListPolicyVersions,
    AttachPolicyToUser,
    DetachPolicyFromUser,
    ListPoliciesForUser,
    CreateRole,
    GetRole,
    DeleteRole,
    ListRoles,
    AttachPolicyToRole,
    DetachPolicyFromRole,
}

/// A user as CreateUser/GetUser/UpdateUser/ListUsers show it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    pub user_name: String,
    pub user_id: String,
    pub display_name: String,
    pub email: String,
    pub mobile_phone: String,
    pub comments: String,
    pub create_date: String,
    pub update_date: String,
}

/// `{"User": {...}}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserResponse {
    pub user: User,
}

/// `{"User": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Users {
    pub user: Vec<User>,
}

/// ListUsers reply. `Marker` only when truncated.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListUsersResponse {
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    pub users: Users,
}

/// An access key; the secret only in CreateAccessKey's reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKey {
    pub access_key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_secret: Option<String>,
    pub status: String,
    pub create_date: String,
}

/// CreateAccessKey reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateAccessKeyResponse {
    pub access_key: AccessKey,
}

/// `{"AccessKey": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeys {
    pub access_key: Vec<AccessKey>,
}

/// ListAccessKeys reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAccessKeysResponse {
    pub access_keys: AccessKeys,
}

/// A policy's summary (CreatePolicy, GetPolicy, ListPolicies, ListPoliciesForUser).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    pub policy_name: String,
    pub policy_type: String,
    pub description: String,
    pub default_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_document: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attach_date: Option<String>,
}

/// CreatePolicy reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyResponse {
    pub policy: Policy,
}

/// One policy version.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyVersion {
    pub version_id: String,
    pub is_default_version: bool,
    pub policy_document: String,
    pub create_date: String,
}

/// GetPolicy reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPolicyResponse {
    pub policy: Policy,
    pub default_policy_version: PolicyVersion,
}

/// `{"Policy": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policies {
    pub policy: Vec<Policy>,
}

/// ListPolicies reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPoliciesResponse {
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    pub policies: Policies,
}

/// ListPoliciesForUser reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPoliciesForUserResponse {
    pub policies: Policies,
}

/// CreatePolicyVersion reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyVersionResponse {
    pub policy_version: PolicyVersion,
}

/// `{"PolicyVersion": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyVersions {
    pub policy_version: Vec<PolicyVersion>,
}

/// ListPolicyVersions reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPolicyVersionsResponse {
    pub policy_versions: PolicyVersions,
}

/// A role as CreateRole/GetRole/ListRoles show it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    pub role_name: String,
    pub role_id: String,
    pub arn: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assume_role_policy_document: Option<String>,
    pub max_session_duration: i64,
    pub create_date: String,
    pub update_date: String,
}

/// `{"Role": {...}}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleResponse {
    pub role: Role,
}

/// `{"Role": [...]}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Roles {
    pub role: Vec<Role>,
}

/// ListRoles reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRolesResponse {
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    pub roles: Roles,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip() {
        for name in [
            "CreateUser",
            "ListPoliciesForUser",
            "SetDefaultPolicyVersion",
        ] {
            assert_eq!(RamAction::parse(name).map(RamAction::name), Some(name));
        }
        assert_eq!(RamAction::parse("createuser"), None);
    }

    #[test]
    fn lists_nest_like_ram() {
        let body = ListAccessKeysResponse {
            access_keys: AccessKeys {
                access_key: vec![AccessKey {
                    access_key_id: "LTAI1".into(),
                    access_key_secret: None,
                    status: "Active".into(),
                    create_date: "2026-01-01T00:00:00Z".into(),
                }],
            },
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"AccessKeys":{"AccessKey":[{"AccessKeyId":"LTAI1","Status":"Active","CreateDate":"2026-01-01T00:00:00Z"}]}}"#
        );
    }
}

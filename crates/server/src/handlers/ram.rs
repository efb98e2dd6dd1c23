//! RAM 2015-05-01 actions: read the parameters, call the service, render RAM's reply shapes.

use openkms_service::iam::{
    AccessKeyView, NewRole, NewUser, PolicyVersionView, PolicyView, RoleView, UserChange, UserView,
};
use openkms_wire::actions::ram::*;
use openkms_wire::timefmt::format_unix;

use super::Cx;
use crate::error_response::ApiError;

type Reply = Result<Vec<u8>, ApiError>;

/// Runs one RAM action.
pub async fn dispatch(cx: &Cx<'_>, action: RamAction) -> Reply {
    let (s, c, p) = (cx.service, cx.caller, cx.params);
    match action {
        RamAction::CreateUser => {
            let user = s
                .create_user(
                    c,
                    NewUser {
                        user_name: p.required("UserName")?,
                        display_name: p.optional("DisplayName"),
                        email: p.optional("Email"),
                        mobile_phone: p.optional("MobilePhone"),
                        comments: p.optional("Comments"),
                    },
                )
                .await?;
            Ok(cx.render(&UserResponse {
                user: user_of(user),
            }))
        }
        RamAction::GetUser => {
            let user = s.get_user(c, p.required("UserName")?).await?;
            Ok(cx.render(&UserResponse {
                user: user_of(user),
            }))
        }
        RamAction::UpdateUser => {
            let user = s
                .update_user(
                    c,
                    p.required("UserName")?,
                    UserChange {
                        new_user_name: p.optional("NewUserName"),
                        new_display_name: p.optional("NewDisplayName"),
                        new_email: p.optional("NewEmail"),
                        new_mobile_phone: p.optional("NewMobilePhone"),
                        new_comments: p.optional("NewComments"),
                    },
                )
                .await?;
            Ok(cx.render(&UserResponse {
                user: user_of(user),
            }))
        }
        RamAction::DeleteUser => {
            s.delete_user(c, p.required("UserName")?).await?;
            Ok(empty(cx))
        }
        RamAction::ListUsers => {
            let page = s
                .list_users(c, p.optional("Marker"), p.u64("MaxItems")?)
                .await?;
            Ok(cx.render(&ListUsersResponse {
                is_truncated: page.next_marker.is_some(),
                marker: page.next_marker,
                users: Users {
                    user: page.items.into_iter().map(user_of).collect(),
                },
            }))
        }
        RamAction::CreateAccessKey => {
            let created = s.create_access_key(c, p.required("UserName")?).await?;
            let mut key = access_key_of(created.key.clone());
            // The reply body is the one copy that leaves; `created` wipes its own on drop.
            key.access_key_secret = Some(created.secret.as_str().to_owned());
            Ok(cx.render(&CreateAccessKeyResponse { access_key: key }))
        }
        RamAction::UpdateAccessKey => {
            s.update_access_key(
                c,
                p.required("UserName")?,
                p.required("UserAccessKeyId")?,
                p.required("Status")?,
            )
            .await?;
            Ok(empty(cx))
        }
        RamAction::DeleteAccessKey => {
            s.delete_access_key(c, p.required("UserName")?, p.required("UserAccessKeyId")?)
                .await?;
            Ok(empty(cx))
        }
        RamAction::ListAccessKeys => {
            let keys = s.list_access_keys(c, p.required("UserName")?).await?;
            Ok(cx.render(&ListAccessKeysResponse {
                access_keys: AccessKeys {
                    access_key: keys.into_iter().map(access_key_of).collect(),
                },
            }))
        }
        RamAction::CreatePolicy => {
            let view = s
                .create_policy(
                    c,
                    p.required("PolicyName")?,
                    p.json_text("PolicyDocument")?
                        .ok_or(missing("PolicyDocument"))?,
                    p.optional("Description"),
                )
                .await?;
            let mut policy = policy_of(view);
            policy.attachment_count = None;
            policy.update_date = None;
            Ok(cx.render(&PolicyResponse { policy }))
        }
        RamAction::GetPolicy => {
            let view = s
                .get_policy(c, p.required("PolicyName")?, p.optional("PolicyType"))
                .await?;
            let default_policy_version = PolicyVersion {
                version_id: view.default_version.clone(),
                is_default_version: true,
                policy_document: view.document.clone(),
                create_date: format_unix(view.updated_at),
            };
            let mut policy = policy_of(view.clone());
            policy.policy_document = Some(view.document);
            Ok(cx.render(&GetPolicyResponse {
                policy,
                default_policy_version,
            }))
        }
        RamAction::DeletePolicy => {
            s.delete_policy(c, p.required("PolicyName")?).await?;
            Ok(empty(cx))
        }
        RamAction::ListPolicies => {
            let page = s
                .list_policies(
                    c,
                    p.optional("PolicyType"),
                    p.optional("Marker"),
                    p.u64("MaxItems")?,
                )
                .await?;
            Ok(cx.render(&ListPoliciesResponse {
                is_truncated: page.next_marker.is_some(),
                marker: page.next_marker,
                policies: Policies {
                    policy: page.items.into_iter().map(policy_of).collect(),
                },
            }))
        }
        RamAction::CreatePolicyVersion => {
            let (version, is_default) = s
                .create_policy_version(
                    c,
                    p.required("PolicyName")?,
                    p.json_text("PolicyDocument")?
                        .ok_or(missing("PolicyDocument"))?,
                    p.bool("SetAsDefault")?.unwrap_or(false),
                )
                .await?;
            Ok(cx.render(&PolicyVersionResponse {
                policy_version: version_of(version, is_default),
            }))
        }
        RamAction::SetDefaultPolicyVersion => {
            s.set_default_policy_version(c, p.required("PolicyName")?, p.required("VersionId")?)
                .await?;
            Ok(empty(cx))
        }
        RamAction::ListPolicyVersions => {
            let (default, versions) = s
                .list_policy_versions(c, p.required("PolicyName")?, p.optional("PolicyType"))
                .await?;
            Ok(cx.render(&ListPolicyVersionsResponse {
                policy_versions: PolicyVersions {
                    policy_version: versions
                        .into_iter()
                        .map(|v| {
                            let is_default = v.version_id == default;
                            version_of(v, is_default)
                        })
                        .collect(),
                },
            }))
        }
        RamAction::AttachPolicyToUser => {
            s.attach_policy_to_user(
                c,
                p.required("UserName")?,
                p.required("PolicyType")?,
                p.required("PolicyName")?,
            )
            .await?;
            Ok(empty(cx))
        }
        RamAction::DetachPolicyFromUser => {
            s.detach_policy_from_user(
                c,
                p.required("UserName")?,
                p.required("PolicyType")?,
                p.required("PolicyName")?,
            )
            .await?;
            Ok(empty(cx))
        }
        RamAction::CreateRole => {
            let role = s
                .create_role(
                    c,
                    NewRole {
                        role_name: p.required("RoleName")?,
                        trust_policy: p
                            .json_text("AssumeRolePolicyDocument")?
                            .ok_or(missing("AssumeRolePolicyDocument"))?,
                        description: p.optional("Description"),
                        max_session_duration: p.u64("MaxSessionDuration")?,
                    },
                )
                .await?;
            Ok(cx.render(&RoleResponse {
                role: role_of(cx, role, true),
            }))
        }
        RamAction::GetRole => {
            let role = s.get_role(c, p.required("RoleName")?).await?;
            Ok(cx.render(&RoleResponse {
                role: role_of(cx, role, true),
            }))
        }
        RamAction::DeleteRole => {
            s.delete_role(c, p.required("RoleName")?).await?;
            Ok(empty(cx))
        }
        RamAction::ListRoles => {
            let page = s
                .list_roles(c, p.optional("Marker"), p.u64("MaxItems")?)
                .await?;
            Ok(cx.render(&ListRolesResponse {
                is_truncated: page.next_marker.is_some(),
                marker: page.next_marker,
                roles: Roles {
                    role: page
                        .items
                        .into_iter()
                        .map(|r| role_of(cx, r, false))
                        .collect(),
                },
            }))
        }
        RamAction::AttachPolicyToRole => {
            s.attach_policy_to_role(
                c,
                p.required("RoleName")?,
                p.required("PolicyType")?,
                p.required("PolicyName")?,
            )
            .await?;
            Ok(empty(cx))
        }
        RamAction::DetachPolicyFromRole => {
            s.detach_policy_from_role(
                c,
                p.required("RoleName")?,
                p.required("PolicyType")?,
                p.required("PolicyName")?,
            )
            .await?;
            Ok(empty(cx))
        }
        RamAction::ListPoliciesForUser => {
            let attached = s.list_policies_for_user(c, p.required("UserName")?).await?;
            Ok(cx.render(&ListPoliciesForUserResponse {
                policies: Policies {
                    policy: attached
                        .into_iter()
                        .map(|(a, view)| Policy {
                            policy_name: view.policy_name,
                            policy_type: view.policy_type.to_owned(),
                            description: view.description,
                            default_version: view.default_version,
                            create_date: None,
                            update_date: None,
                            attachment_count: None,
                            policy_document: None,
                            attach_date: Some(format_unix(a.attached_at)),
                        })
                        .collect(),
                },
            }))
        }
    }
}

fn empty(cx: &Cx<'_>) -> Vec<u8> {
    cx.render(&serde_json::Map::new())
}

fn role_of(cx: &Cx<'_>, r: RoleView, with_document: bool) -> Role {
    Role {
        arn: cx.service.role_arn(&r.role_name),
        role_name: r.role_name,
        role_id: r.role_id,
        description: r.description,
        assume_role_policy_document: with_document.then_some(r.trust_policy),
        max_session_duration: r.max_session_duration,
        create_date: format_unix(r.created_at),
        update_date: format_unix(r.updated_at),
    }
}

fn user_of(u: UserView) -> User {
    User {
        user_name: u.user_name,
        user_id: u.user_id,
        display_name: u.display_name,
        email: u.email,
        mobile_phone: u.mobile_phone,
        comments: u.comments,
        create_date: format_unix(u.created_at),
        update_date: format_unix(u.updated_at),
    }
}

fn access_key_of(k: AccessKeyView) -> AccessKey {
    AccessKey {
        access_key_id: k.access_key_id,
        access_key_secret: None,
        status: k.status.to_owned(),
        create_date: format_unix(k.created_at),
    }
}

fn policy_of(v: PolicyView) -> Policy {
    Policy {
        policy_name: v.policy_name,
        policy_type: v.policy_type.to_owned(),
        description: v.description,
        default_version: v.default_version,
        create_date: Some(format_unix(v.created_at)),
        update_date: Some(format_unix(v.updated_at)),
        attachment_count: Some(v.attachment_count),
        policy_document: None,
        attach_date: None,
    }
}

fn version_of(v: PolicyVersionView, is_default: bool) -> PolicyVersion {
    PolicyVersion {
        version_id: v.version_id,
        is_default_version: is_default,
        policy_document: v.document,
        create_date: format_unix(v.created_at),
    }
}

/// A required JSON-text parameter that was not sent (its flattened form is refused first).
fn missing(name: &'static str) -> openkms_wire::ProtocolError {
    openkms_wire::ProtocolError::MissingParameter { name }
}

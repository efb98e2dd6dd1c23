//! Policies: customer policies and their versions, RAM's system policies, and attaching either
//! to users and roles.

use openkms_domain::policy::{system_policy, Policy, SYSTEM_POLICIES};
use openkms_domain::{PolicyName, PolicyType};
use openkms_store::{
    AttachOutcome, AttachmentRecord, CreatePolicyOutcome, CreatePolicyVersionOutcome,
    DeletePolicyOutcome, DetachOutcome, Holder, PolicyRecord, PolicyVersionRecord,
    SetDefaultVersionOutcome, FIRST_POLICY_VERSION,
};

use super::{check_len, existing_policy, existing_role, existing_user, max_items_of, MarkerPage};
use crate::{Caller, Error, Service};

/// Versions one customer policy may keep (RAM's documented limit).
pub const MAX_POLICY_VERSIONS: u32 = 5;
/// Largest policy document RAM accepts, in bytes.
pub const POLICY_DOCUMENT_MAX_BYTES: usize = 6144;

/// A policy as the RAM replies show it, system or customer.
#[derive(Debug, Clone)]
pub struct PolicyView {
    pub policy_name: String,
    pub policy_type: &'static str,
    pub description: String,
    pub default_version: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub attachment_count: u64,
    pub document: String,
}

/// One version of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersionView {
    pub version_id: String,
    pub document: String,
    pub created_at: i64,
}

impl From<PolicyVersionRecord> for PolicyVersionView {
    fn from(v: PolicyVersionRecord) -> Self {
        Self {
            version_id: v.version_id,
            document: v.document,
            created_at: v.created_at,
        }
    }
}

/// A policy attached to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentView {
    pub policy_type: &'static str,
    pub policy_name: String,
    pub attached_at: i64,
}

impl From<AttachmentRecord> for AttachmentView {
    fn from(a: AttachmentRecord) -> Self {
        Self {
            policy_type: a.policy_type.as_str(),
            policy_name: a.policy_name.into_string(),
            attached_at: a.attached_at,
        }
    }
}

/// Who an attachment action names, as the caller sent it.
#[derive(Clone, Copy)]
pub(super) enum HolderArg<'a> {
    User(&'a str),
    Role(&'a str),
}

impl HolderArg<'_> {
    /// The RAM resource the root check names.
    fn resource(self) -> String {
        match self {
            Self::User(n) => format!("user/{n}"),
            Self::Role(n) => format!("role/{n}"),
        }
    }

    /// The holder in the store; a name no user or role can have is not found.
    fn parse(self) -> Result<Holder, Error> {
        Ok(match self {
            Self::User(n) => Holder::User(existing_user(n)?),
            Self::Role(n) => Holder::Role(existing_role(n)?),
        })
    }

    fn not_found(self) -> Error {
        match self {
            Self::User(n) => Error::UserNotFound { name: n.to_owned() },
            Self::Role(n) => Error::RoleNotFound { name: n.to_owned() },
        }
    }
}

impl Service {
    /// CreatePolicy: a customer policy whose document must parse as an identity policy.
    pub async fn create_policy(
        &self,
        caller: &Caller,
        name: &str,
        document: &str,
        description: Option<&str>,
    ) -> Result<PolicyView, Error> {
        self.require_root(caller, "CreatePolicy", &format!("policy/{name}"))?;
        let policy_name = PolicyName::parse(name)?;
        check_len("Description", description.unwrap_or(""), 1024)?;
        if system_policy(name).is_some() {
            return Err(Error::PolicyExists {
                name: name.to_owned(),
            });
        }
        check_document(document)?;
        let now = self.now();
        let record = PolicyRecord {
            policy_name,
            description: description.unwrap_or("").to_owned(),
            default_version: FIRST_POLICY_VERSION.into(),
            created_at: now,
            updated_at: now,
            attachment_count: 0,
        };
        match self
            .store
            .create_policy(record.clone(), document.to_owned())
            .await?
        {
            CreatePolicyOutcome::Created => Ok(custom_view(record, document.to_owned())),
            CreatePolicyOutcome::Exists => Err(Error::PolicyExists {
                name: name.to_owned(),
            }),
        }
    }

    /// GetPolicy: `PolicyType` `System` or `Custom`; absent looks for a customer policy first.
    pub async fn get_policy(
        &self,
        caller: &Caller,
        name: &str,
        policy_type: Option<&str>,
    ) -> Result<PolicyView, Error> {
        self.require_root(caller, "GetPolicy", &format!("policy/{name}"))?;
        let policy_type = policy_type.map(PolicyType::parse).transpose()?;
        if policy_type != Some(PolicyType::System) {
            if let Ok(policy_name) = PolicyName::parse(name) {
                if let Some((record, version)) = self.store.policy(&policy_name).await? {
                    return Ok(custom_view(record, version.document));
                }
            }
        }
        if policy_type != Some(PolicyType::Custom) {
            if let Some(view) = system_view(name) {
                return Ok(view);
            }
        }
        Err(Error::PolicyNotFound {
            name: name.to_owned(),
        })
    }

    /// DeletePolicy of a customer policy attached nowhere.
    pub async fn delete_policy(&self, caller: &Caller, name: &str) -> Result<(), Error> {
        self.require_root(caller, "DeletePolicy", &format!("policy/{name}"))?;
        match self.store.delete_policy(&existing_policy(name)?).await? {
            DeletePolicyOutcome::Deleted => {
                self.forget_identity_policies();
                Ok(())
            }
            DeletePolicyOutcome::NotFound => Err(Error::PolicyNotFound {
                name: name.to_owned(),
            }),
            DeletePolicyOutcome::Attached => Err(Error::PolicyInUse),
        }
    }

    /// ListPolicies: system policies and customer policies by name, Marker-paged.
    pub async fn list_policies(
        &self,
        caller: &Caller,
        policy_type: Option<&str>,
        marker: Option<&str>,
        max_items: Option<u64>,
    ) -> Result<MarkerPage<PolicyView>, Error> {
        self.require_root(caller, "ListPolicies", "policy/*")?;
        let policy_type = policy_type.map(PolicyType::parse).transpose()?;
        let limit = max_items_of(max_items)?;
        let after = |name: &str| marker.is_none_or(|m| name > m);
        let mut all: Vec<PolicyView> = Vec::new();
        if policy_type != Some(PolicyType::Custom) {
            all.extend(
                SYSTEM_POLICIES
                    .iter()
                    .filter(|p| after(p.name))
                    .filter_map(|p| system_view(p.name)),
            );
        }
        if policy_type != Some(PolicyType::System) {
            let (custom, _) = self
                .store
                .list_policies(marker, limit.saturating_add(1))
                .await?;
            all.extend(custom.into_iter().map(|r| custom_view(r, String::new())));
        }
        all.sort_by(|a, b| a.policy_name.cmp(&b.policy_name));
        let (items, more) = openkms_store::split_page(all, limit);
        Ok(MarkerPage::new(items, more, |p: &PolicyView| {
            &p.policy_name
        }))
    }

    /// CreatePolicyVersion. `RotateStrategy` other than `None` is not supported: at the limit
    /// the call fails, as RAM does with the default strategy.
    pub async fn create_policy_version(
        &self,
        caller: &Caller,
        name: &str,
        document: &str,
        set_as_default: bool,
    ) -> Result<(PolicyVersionView, bool), Error> {
        self.require_root(caller, "CreatePolicyVersion", &format!("policy/{name}"))?;
        check_document(document)?;
        match self
            .store
            .create_policy_version(
                &existing_policy(name)?,
                document.to_owned(),
                set_as_default,
                self.now(),
                MAX_POLICY_VERSIONS,
            )
            .await?
        {
            CreatePolicyVersionOutcome::Created(v) => {
                self.forget_identity_policies();
                Ok((v.into(), set_as_default))
            }
            CreatePolicyVersionOutcome::PolicyNotFound => Err(Error::PolicyNotFound {
                name: name.to_owned(),
            }),
            CreatePolicyVersionOutcome::LimitReached { limit } => {
                Err(Error::PolicyVersionLimit { limit })
            }
        }
    }

    /// SetDefaultPolicyVersion.
    pub async fn set_default_policy_version(
        &self,
        caller: &Caller,
        name: &str,
        version_id: &str,
    ) -> Result<(), Error> {
        self.require_root(caller, "SetDefaultPolicyVersion", &format!("policy/{name}"))?;
        match self
            .store
            .set_default_policy_version(&existing_policy(name)?, version_id, self.now())
            .await?
        {
            SetDefaultVersionOutcome::Set => {
                self.forget_identity_policies();
                Ok(())
            }
            SetDefaultVersionOutcome::PolicyNotFound => Err(Error::PolicyNotFound {
                name: name.to_owned(),
            }),
            SetDefaultVersionOutcome::VersionNotFound => Err(Error::PolicyVersionNotFound {
                version_id: version_id.to_owned(),
            }),
        }
    }

    /// ListPolicyVersions: (default version id, versions oldest first).
    pub async fn list_policy_versions(
        &self,
        caller: &Caller,
        name: &str,
        policy_type: Option<&str>,
    ) -> Result<(String, Vec<PolicyVersionView>), Error> {
        self.require_root(caller, "ListPolicyVersions", &format!("policy/{name}"))?;
        if policy_type.map(PolicyType::parse).transpose()? == Some(PolicyType::System) {
            let p = system_policy(name).ok_or_else(|| Error::PolicyNotFound {
                name: name.to_owned(),
            })?;
            let version = PolicyVersionView {
                version_id: p.version_id.to_owned(),
                document: p.document.to_owned(),
                created_at: 0,
            };
            return Ok((p.version_id.to_owned(), vec![version]));
        }
        let (default, versions) = self
            .store
            .policy_versions(&existing_policy(name)?)
            .await?
            .ok_or_else(|| Error::PolicyNotFound {
                name: name.to_owned(),
            })?;
        Ok((default, versions.into_iter().map(Into::into).collect()))
    }

    /// AttachPolicyToUser.
    pub async fn attach_policy_to_user(
        &self,
        caller: &Caller,
        user_name: &str,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<(), Error> {
        self.attach_policy(caller, HolderArg::User(user_name), policy_type, policy_name)
            .await
    }

    /// DetachPolicyFromUser.
    pub async fn detach_policy_from_user(
        &self,
        caller: &Caller,
        user_name: &str,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<(), Error> {
        self.detach_policy(caller, HolderArg::User(user_name), policy_type, policy_name)
            .await
    }

    /// Attaches a policy to a user or role (the two RAM actions differ only in the holder).
    pub(super) async fn attach_policy(
        &self,
        caller: &Caller,
        arg: HolderArg<'_>,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<(), Error> {
        let action = match arg {
            HolderArg::User(_) => "AttachPolicyToUser",
            HolderArg::Role(_) => "AttachPolicyToRole",
        };
        self.require_root(caller, action, &arg.resource())?;
        let policy_type = PolicyType::parse(policy_type)?;
        let policy_not_found = || Error::PolicyNotFound {
            name: policy_name.to_owned(),
        };
        if policy_type == PolicyType::System && system_policy(policy_name).is_none() {
            return Err(policy_not_found());
        }
        let holder = arg.parse()?;
        let Ok(policy) = PolicyName::parse(policy_name) else {
            // No policy has that name; the store would have named a missing holder first.
            return Err(if self.holder_exists(&holder).await? {
                policy_not_found()
            } else {
                arg.not_found()
            });
        };
        match self
            .store
            .attach_policy(&holder, policy_type, &policy, self.now())
            .await?
        {
            AttachOutcome::Attached => {
                self.forget_identity_policies();
                Ok(())
            }
            AttachOutcome::HolderNotFound => Err(arg.not_found()),
            AttachOutcome::PolicyNotFound => Err(policy_not_found()),
            AttachOutcome::AlreadyAttached => Err(Error::PolicyAlreadyAttached),
        }
    }

    /// Detaches a policy from a user or role.
    pub(super) async fn detach_policy(
        &self,
        caller: &Caller,
        arg: HolderArg<'_>,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<(), Error> {
        let action = match arg {
            HolderArg::User(_) => "DetachPolicyFromUser",
            HolderArg::Role(_) => "DetachPolicyFromRole",
        };
        self.require_root(caller, action, &arg.resource())?;
        let policy_type = PolicyType::parse(policy_type)?;
        let holder = arg.parse()?;
        let Ok(policy) = PolicyName::parse(policy_name) else {
            // Never attached, since no policy has that name.
            return Err(if self.holder_exists(&holder).await? {
                Error::PolicyNotAttached
            } else {
                arg.not_found()
            });
        };
        match self
            .store
            .detach_policy(&holder, policy_type, &policy)
            .await?
        {
            DetachOutcome::Detached => {
                self.forget_identity_policies();
                Ok(())
            }
            DetachOutcome::HolderNotFound => Err(arg.not_found()),
            DetachOutcome::NotAttached => Err(Error::PolicyNotAttached),
        }
    }

    async fn holder_exists(&self, holder: &Holder) -> Result<bool, Error> {
        Ok(match holder {
            Holder::User(n) => self.store.user(n).await?.is_some(),
            Holder::Role(n) => self.store.role(n).await?.is_some(),
        })
    }

    /// ListPoliciesForUser: each attachment with its policy's summary.
    pub async fn list_policies_for_user(
        &self,
        caller: &Caller,
        user_name: &str,
    ) -> Result<Vec<(AttachmentView, PolicyView)>, Error> {
        self.require_root(caller, "ListPoliciesForUser", &format!("user/{user_name}"))?;
        let holder = HolderArg::User(user_name).parse()?;
        let attachments = self
            .store
            .holder_attachments(&holder)
            .await?
            .ok_or_else(|| HolderArg::User(user_name).not_found())?;
        let mut out = Vec::with_capacity(attachments.len());
        for a in attachments {
            let view = match a.policy_type {
                PolicyType::System => system_view(a.policy_name.as_str()),
                PolicyType::Custom => self
                    .store
                    .policy(&a.policy_name)
                    .await?
                    .map(|(r, v)| custom_view(r, v.document)),
            };
            if let Some(view) = view {
                out.push((a.into(), view));
            }
        }
        Ok(out)
    }
}

fn custom_view(r: PolicyRecord, document: String) -> PolicyView {
    PolicyView {
        policy_name: r.policy_name.into_string(),
        policy_type: PolicyType::Custom.as_str(),
        description: r.description,
        default_version: r.default_version,
        created_at: r.created_at,
        updated_at: r.updated_at,
        attachment_count: r.attachment_count,
        document,
    }
}

fn system_view(name: &str) -> Option<PolicyView> {
    system_policy(name).map(|p| PolicyView {
        policy_name: p.name.to_owned(),
        policy_type: PolicyType::System.as_str(),
        description: p.description.to_owned(),
        default_version: p.version_id.to_owned(),
        created_at: 0,
        updated_at: 0,
        attachment_count: 0,
        document: p.document.to_owned(),
    })
}

fn check_document(document: &str) -> Result<(), Error> {
    Policy::parse_identity(document, "PolicyDocument", POLICY_DOCUMENT_MAX_BYTES)
        .map(|_| ())
        .map_err(Error::MalformedPolicyDocument)
}

//! RAM roles: CreateRole, GetRole, DeleteRole, ListRoles, and attaching policies to them. STS
//! (`crate::sts`) assumes them.

use openkms_domain::policy::Policy;
use openkms_domain::{RoleName, ValidationError};
use openkms_store::{CreateRoleOutcome, DeleteRoleOutcome, RoleRecord};

use super::policies::HolderArg;
use super::{check_len, existing_role, max_items_of, MarkerPage};
use crate::{ids, Caller, Error, Service};

/// Largest trust policy, in bytes (RAM's documented limit).
pub const TRUST_POLICY_MAX_BYTES: usize = 2048;
/// Default and bounds of a role's MaxSessionDuration, in seconds (RAM's documented range).
pub const DEFAULT_MAX_SESSION: i64 = 3600;
const MAX_SESSION_RANGE: (i64, i64) = (3600, 43200);

/// CreateRole input.
#[derive(Debug, Default)]
pub struct NewRole<'a> {
    pub role_name: &'a str,
    pub trust_policy: &'a str,
    pub description: Option<&'a str>,
    pub max_session_duration: Option<u64>,
}

/// A RAM role as the RAM replies show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleView {
    pub role_name: String,
    pub role_id: String,
    pub description: String,
    /// The trust policy (AssumeRolePolicyDocument) as given.
    pub trust_policy: String,
    pub max_session_duration: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<RoleRecord> for RoleView {
    fn from(r: RoleRecord) -> Self {
        Self {
            role_name: r.role_name.into_string(),
            role_id: r.role_id,
            description: r.description,
            trust_policy: r.trust_policy,
            max_session_duration: r.max_session_duration,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl Service {
    /// The ARN of a role: `acs:ram::<uid>:role/<name>` (the name as created; Alibaba's console
    /// shows it lower-cased, which is unconfirmed for the API).
    pub fn role_arn(&self, role_name: &str) -> String {
        format!("acs:ram::{}:role/{role_name}", self.account_id())
    }

    /// CreateRole.
    pub async fn create_role(&self, caller: &Caller, new: NewRole<'_>) -> Result<RoleView, Error> {
        self.require_root(caller, "CreateRole", &format!("role/{}", new.role_name))?;
        let role_name = RoleName::parse(new.role_name)?;
        check_len("Description", new.description.unwrap_or(""), 1024)?;
        Policy::parse_trust(new.trust_policy, TRUST_POLICY_MAX_BYTES)
            .map_err(Error::MalformedPolicyDocument)?;
        let max_session = match new.max_session_duration {
            None => DEFAULT_MAX_SESSION,
            Some(n) => i64::try_from(n)
                .ok()
                .filter(|n| (MAX_SESSION_RANGE.0..=MAX_SESSION_RANGE.1).contains(n))
                .ok_or(ValidationError::OutOfRange {
                    param: "MaxSessionDuration",
                    min: "3600",
                    max: "43200",
                })?,
        };
        let now = self.now();
        let role = RoleRecord {
            role_name,
            role_id: ids::account_id()?,
            description: new.description.unwrap_or("").to_owned(),
            trust_policy: new.trust_policy.to_owned(),
            max_session_duration: max_session,
            created_at: now,
            updated_at: now,
        };
        match self.store.create_role(role.clone()).await? {
            CreateRoleOutcome::Created => {
                // A role of this name may have existed: its sessions must see the new RoleId.
                self.forget_role_ids();
                Ok(role.into())
            }
            CreateRoleOutcome::Exists => Err(Error::RoleExists {
                name: new.role_name.to_owned(),
            }),
        }
    }

    /// GetRole.
    pub async fn get_role(&self, caller: &Caller, name: &str) -> Result<RoleView, Error> {
        self.require_root(caller, "GetRole", &format!("role/{name}"))?;
        self.store
            .role(&existing_role(name)?)
            .await?
            .map(RoleView::from)
            .ok_or_else(|| Error::RoleNotFound {
                name: name.to_owned(),
            })
    }

    /// DeleteRole of a role with no policies attached. Sessions already issued end at once
    /// (on this node; within the shared-cache interval on the others): they are bound to the
    /// deleted RoleId.
    pub async fn delete_role(&self, caller: &Caller, name: &str) -> Result<(), Error> {
        self.require_root(caller, "DeleteRole", &format!("role/{name}"))?;
        let outcome = self.store.delete_role(&existing_role(name)?).await?;
        self.forget_role_ids();
        match outcome {
            DeleteRoleOutcome::Deleted => {
                self.forget_identity_policies();
                Ok(())
            }
            DeleteRoleOutcome::NotFound => Err(Error::RoleNotFound {
                name: name.to_owned(),
            }),
            DeleteRoleOutcome::HasPolicies => Err(Error::RoleHasPolicies),
        }
    }

    /// ListRoles.
    pub async fn list_roles(
        &self,
        caller: &Caller,
        marker: Option<&str>,
        max_items: Option<u64>,
    ) -> Result<MarkerPage<RoleView>, Error> {
        self.require_root(caller, "ListRoles", "role/*")?;
        let limit = max_items_of(max_items)?;
        let (items, more) = self.store.list_roles(marker, limit).await?;
        let items = items.into_iter().map(RoleView::from).collect();
        Ok(MarkerPage::new(items, more, |r: &RoleView| &r.role_name))
    }

    /// AttachPolicyToRole.
    pub async fn attach_policy_to_role(
        &self,
        caller: &Caller,
        role_name: &str,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<(), Error> {
        self.attach_policy(caller, HolderArg::Role(role_name), policy_type, policy_name)
            .await
    }

    /// DetachPolicyFromRole.
    pub async fn detach_policy_from_role(
        &self,
        caller: &Caller,
        role_name: &str,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<(), Error> {
        self.detach_policy(caller, HolderArg::Role(role_name), policy_type, policy_name)
            .await
    }
}

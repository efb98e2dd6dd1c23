//! RAM identities in the store: users, their access keys, customer policies and attachments.
//! A trait of its own (a supertrait of [`crate::Store`]) so the identity tables stay apart from
//! the secret and key tables. Every method is one transaction; business rejections come back as
//! an [`IamOutcome`] with nothing written.

use async_trait::async_trait;

use crate::{AccessKeyRecord, StoreError};

/// A RAM user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user_name: String,
    pub user_id: String,
    pub display_name: String,
    pub email: String,
    pub mobile_phone: String,
    pub comments: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A RAM role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    pub role_name: String,
    pub role_id: String,
    pub description: String,
    /// The trust policy (AssumeRolePolicyDocument) as given.
    pub trust_policy: String,
    pub max_session_duration: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A change to a user; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub new_user_name: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub mobile_phone: Option<String>,
    pub comments: Option<String>,
    pub updated_at: i64,
}

/// A customer policy (its default version's document is read separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    pub policy_name: String,
    pub description: String,
    pub default_version: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Principals it is attached to; read, ignored on insert.
    pub attachment_count: u64,
}

/// One version of a customer policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersionRecord {
    pub version_id: String,
    pub document: String,
    pub created_at: i64,
}

/// A policy attached to a principal (`user/<name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    pub policy_type: String,
    pub policy_name: String,
    pub attached_at: i64,
}

/// What an identity write did, or why it wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamOutcome<T> {
    Done(T),
    UserNotFound,
    UserExists,
    RoleNotFound,
    RoleExists,
    /// DeleteRole of a role that still has policies attached.
    RoleHasPolicies,
    PolicyNotFound,
    PolicyExists,
    VersionNotFound,
    AccessKeyNotFound,
    AlreadyAttached,
    NotAttached,
    /// DeleteUser of a user that still has access keys.
    UserHasAccessKeys,
    /// DeleteUser of a user that still has policies attached.
    UserHasPolicies,
    /// DeletePolicy of a policy still attached somewhere.
    PolicyAttached,
    /// DeletePolicyVersion / version limit: the default version cannot go.
    DefaultVersion,
    /// A per-entity limit (access keys per user, versions per policy) is reached.
    LimitExceeded {
        limit: u32,
    },
}

/// The identity part of the store.
#[async_trait]
pub trait IamStore: Send + Sync {
    /// Creates a user unless the name is taken.
    async fn create_user(&self, user: UserRecord) -> Result<IamOutcome<()>, StoreError>;
    /// A user by name.
    async fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Changes a user; a rename carries its access keys and attachments along.
    async fn update_user(
        &self,
        name: &str,
        update: UserUpdate,
    ) -> Result<IamOutcome<UserRecord>, StoreError>;
    /// Deletes a user that has no access keys and no policies.
    async fn delete_user(&self, name: &str) -> Result<IamOutcome<()>, StoreError>;
    /// Users by name after `marker`, at most `limit`, and whether more follow.
    async fn list_users(
        &self,
        marker: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<UserRecord>, bool), StoreError>;

    /// Adds an access key to a user, at most `max_keys` per user.
    async fn create_user_access_key(
        &self,
        user_name: &str,
        key: AccessKeyRecord,
        max_keys: u32,
    ) -> Result<IamOutcome<()>, StoreError>;
    /// A user's access keys, oldest first.
    async fn user_access_keys(
        &self,
        user_name: &str,
    ) -> Result<IamOutcome<Vec<AccessKeyRecord>>, StoreError>;
    /// Sets a user's access key status (`Active`/`Inactive`).
    async fn set_access_key_status(
        &self,
        user_name: &str,
        access_key_id: &str,
        status: &str,
    ) -> Result<IamOutcome<()>, StoreError>;
    /// Deletes a user's access key.
    async fn delete_user_access_key(
        &self,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<IamOutcome<()>, StoreError>;

    /// Creates a customer policy with its first version `v1`.
    async fn create_policy(
        &self,
        policy: PolicyRecord,
        document: String,
    ) -> Result<IamOutcome<()>, StoreError>;
    /// A customer policy with its default version.
    async fn policy(
        &self,
        name: &str,
    ) -> Result<Option<(PolicyRecord, PolicyVersionRecord)>, StoreError>;
    /// Customer policies by name after `marker`, at most `limit`, and whether more follow.
    async fn list_policies(
        &self,
        marker: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<PolicyRecord>, bool), StoreError>;
    /// Deletes a customer policy that is attached nowhere, with its versions.
    async fn delete_policy(&self, name: &str) -> Result<IamOutcome<()>, StoreError>;
    /// Adds a version (`v<n>`), at most `max_versions`, optionally making it the default.
    async fn create_policy_version(
        &self,
        name: &str,
        document: String,
        set_default: bool,
        now: i64,
        max_versions: u32,
    ) -> Result<IamOutcome<PolicyVersionRecord>, StoreError>;
    /// Makes an existing version the default.
    async fn set_default_policy_version(
        &self,
        name: &str,
        version_id: &str,
        now: i64,
    ) -> Result<IamOutcome<()>, StoreError>;
    /// A customer policy's versions, oldest first, with its default version id.
    async fn policy_versions(
        &self,
        name: &str,
    ) -> Result<IamOutcome<(String, Vec<PolicyVersionRecord>)>, StoreError>;

    /// Attaches a policy to a user; customer policies must exist (system policies are checked
    /// by the service).
    async fn attach_policy_to_user(
        &self,
        user_name: &str,
        policy_type: &str,
        policy_name: &str,
        now: i64,
    ) -> Result<IamOutcome<()>, StoreError>;
    /// Detaches a policy from a user.
    async fn detach_policy_from_user(
        &self,
        user_name: &str,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<IamOutcome<()>, StoreError>;
    /// The policies attached to a user.
    async fn user_attachments(
        &self,
        user_name: &str,
    ) -> Result<IamOutcome<Vec<AttachmentRecord>>, StoreError>;
    /// The policies attached to a principal (`user/<name>`, `role/<name>`), for the authorizer;
    /// empty when the principal is gone.
    async fn attachments_of(&self, principal: &str) -> Result<Vec<AttachmentRecord>, StoreError>;

    /// Creates a role unless the name is taken.
    async fn create_role(&self, role: RoleRecord) -> Result<IamOutcome<()>, StoreError>;
    /// A role by name.
    async fn role(&self, name: &str) -> Result<Option<RoleRecord>, StoreError>;
    /// Deletes a role that has no policies attached.
    async fn delete_role(&self, name: &str) -> Result<IamOutcome<()>, StoreError>;
    /// Roles by name after `marker`, at most `limit`, and whether more follow.
    async fn list_roles(
        &self,
        marker: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<RoleRecord>, bool), StoreError>;
    /// Attaches a policy to a role (customer policies must exist).
    async fn attach_policy_to_role(
        &self,
        role_name: &str,
        policy_type: &str,
        policy_name: &str,
        now: i64,
    ) -> Result<IamOutcome<()>, StoreError>;
    /// Detaches a policy from a role.
    async fn detach_policy_from_role(
        &self,
        role_name: &str,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<IamOutcome<()>, StoreError>;
}

/// A Marker page from rows fetched with one more than `limit`: the first `limit` of them and
/// whether more follow.
pub fn split_page<T>(mut items: Vec<T>, limit: u64) -> (Vec<T>, bool) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = items.len() > limit;
    items.truncate(limit);
    (items, more)
}

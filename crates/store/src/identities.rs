//! The identity aggregate: RAM users, access keys (the account's root keys and its users'),
//! customer policies with their versions, roles, and the attachments of policies to users and
//! roles. Four traits, one per kind of identity row, each a supertrait of [`crate::Store`];
//! every method is one transaction, and a business rejection comes back as that operation's
//! outcome with nothing written.
//!
//! The rules both backends share (principal names, the version id scheme, limits, how an
//! update changes a user) live here, once.

use async_trait::async_trait;
use openkms_domain::{AccessKeyStatus, PolicyName, PolicyType, RoleName, UserName};

use crate::columns::Columns;
use crate::StoreError;

/// An access key; the secret is sealed by a root of trust (a key file or an HSM key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub sealed_secret: Vec<u8>,
    /// The root of trust that sealed `sealed_secret`.
    pub root_id: String,
    /// `root`, `user/<name>`.
    pub principal: String,
    pub status: AccessKeyStatus,
    pub created_at: i64,
}

/// The principal of the account's root access keys.
pub const ROOT_PRINCIPAL: &str = "root";

/// What a root access key change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootKeyChange {
    Done,
    /// No root access key has that id.
    NotFound,
    /// It is the last active root key: changing it would lock the account's owner out.
    LastActive,
}

/// Whether a root key change from `current` status leaves an active root key, given how many
/// *other* root keys are active.
pub fn root_key_change_allowed(
    current: AccessKeyStatus,
    new_status: Option<AccessKeyStatus>,
    others_active: u64,
) -> bool {
    let stays_active = new_status == Some(AccessKeyStatus::Active);
    current != AccessKeyStatus::Active || stays_active || others_active > 0
}

/// A RAM user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user_name: UserName,
    pub user_id: String,
    pub display_name: String,
    pub email: String,
    pub mobile_phone: String,
    pub comments: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A change to a user; `None` fields stay as they are.
#[derive(Debug, Clone)]
pub struct UserUpdate {
    pub new_user_name: Option<UserName>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub mobile_phone: Option<String>,
    pub comments: Option<String>,
    pub updated_at: i64,
}

impl UserUpdate {
    /// The new name, when it differs from `current` (renaming to the same name is no rename).
    pub fn rename_from(&self, current: &UserName) -> Option<&UserName> {
        self.new_user_name.as_ref().filter(|n| *n != current)
    }

    /// `user` as this update leaves it.
    pub fn apply(&self, mut user: UserRecord) -> UserRecord {
        if let Some(new) = self.rename_from(&user.user_name) {
            user.user_name = new.clone();
        }
        let set = |field: &mut String, value: &Option<String>| {
            if let Some(v) = value {
                field.clone_from(v);
            }
        };
        set(&mut user.display_name, &self.display_name);
        set(&mut user.email, &self.email);
        set(&mut user.mobile_phone, &self.mobile_phone);
        set(&mut user.comments, &self.comments);
        user.updated_at = self.updated_at;
        user
    }
}

/// A RAM role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    pub role_name: RoleName,
    pub role_id: String,
    pub description: String,
    /// The trust policy (AssumeRolePolicyDocument) as given.
    pub trust_policy: String,
    pub max_session_duration: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A customer policy (its default version's document is read separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    pub policy_name: PolicyName,
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

/// The id of a customer policy's first version.
pub const FIRST_POLICY_VERSION: &str = "v1";

/// The id of a policy's version numbered `n` (`v<n>`; numbers are never reused).
pub fn policy_version_id(n: i64) -> String {
    format!("v{n}")
}

/// A policy attached to a user or role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    pub policy_type: PolicyType,
    pub policy_name: PolicyName,
    pub attached_at: i64,
}

/// Who a policy is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    User(UserName),
    Role(RoleName),
}

impl Holder {
    /// The principal the attachment and access key rows name.
    pub fn principal(&self) -> String {
        match self {
            Self::User(n) => user_principal(n),
            Self::Role(n) => format!("role/{n}"),
        }
    }
}

/// The principal of a RAM user's access keys and attachments.
pub fn user_principal(name: &UserName) -> String {
    format!("user/{name}")
}

/// Whether `held` rows already fill a limit of `max`.
pub fn limit_reached(held: i64, max: u32) -> bool {
    held >= i64::from(max)
}

// Each record read from a row by column name, once for both backends; a name or a value
// that breaks its domain type makes the row corrupt.
impl AccessKeyRecord {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            access_key_id: r.text("access_key_id")?,
            sealed_secret: r.bytes("sealed_secret")?,
            root_id: r.text("root_id")?,
            principal: r.text("principal")?,
            status: access_key_status(r)?,
            created_at: r.int("created_at")?,
        })
    }
}

/// An access key's `status` column.
pub(crate) fn access_key_status<R: Columns>(r: &R) -> Result<AccessKeyStatus, R::Error> {
    r.parsed("status", "access key status", |t| {
        AccessKeyStatus::parse(t).ok()
    })
}

impl UserRecord {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            user_name: r.parsed("user_name", "user name", |t| UserName::parse(t).ok())?,
            user_id: r.text("user_id")?,
            display_name: r.text("display_name")?,
            email: r.text("email")?,
            mobile_phone: r.text("mobile_phone")?,
            comments: r.text("comments")?,
            created_at: r.int("created_at")?,
            updated_at: r.int("updated_at")?,
        })
    }
}

impl RoleRecord {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            role_name: r.parsed("role_name", "role name", |t| RoleName::parse(t).ok())?,
            role_id: r.text("role_id")?,
            description: r.text("description")?,
            trust_policy: r.text("trust_policy")?,
            max_session_duration: r.int("max_session_duration")?,
            created_at: r.int("created_at")?,
            updated_at: r.int("updated_at")?,
        })
    }
}

impl PolicyRecord {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            policy_name: r.parsed("policy_name", "policy name", |t| PolicyName::parse(t).ok())?,
            description: r.text("description")?,
            default_version: r.text("default_version")?,
            created_at: r.int("created_at")?,
            updated_at: r.int("updated_at")?,
            attachment_count: r.count("attachment_count")?,
        })
    }
}

impl PolicyVersionRecord {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            version_id: r.text("version_id")?,
            document: r.text("document")?,
            created_at: r.int("created_at")?,
        })
    }
}

impl AttachmentRecord {
    pub(crate) fn from_row<R: Columns>(r: &R) -> Result<Self, R::Error> {
        Ok(Self {
            policy_type: r.parsed("policy_type", "policy type", |t| PolicyType::parse(t).ok())?,
            policy_name: r.parsed("policy_name", "policy name", |t| PolicyName::parse(t).ok())?,
            attached_at: r.int("attached_at")?,
        })
    }
}

/// What CreateUser did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateUserOutcome {
    Created,
    Exists,
}

/// What UpdateUser did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateUserOutcome {
    Updated(UserRecord),
    NotFound,
    /// The new name is another user's.
    NameTaken,
}

/// What DeleteUser did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteUserOutcome {
    Deleted,
    NotFound,
    HasAccessKeys,
    HasPolicies,
}

/// What CreateAccessKey did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateAccessKeyOutcome {
    Created,
    UserNotFound,
    /// The user already holds `limit` keys.
    LimitReached {
        limit: u32,
    },
}

/// What UpdateAccessKey or DeleteAccessKey did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeAccessKeyOutcome {
    Changed,
    UserNotFound,
    /// The user has no key of that id.
    KeyNotFound,
}

/// What CreatePolicy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatePolicyOutcome {
    Created,
    Exists,
}

/// What DeletePolicy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletePolicyOutcome {
    Deleted,
    NotFound,
    /// It is still attached to a user or role.
    Attached,
}

/// What CreatePolicyVersion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreatePolicyVersionOutcome {
    Created(PolicyVersionRecord),
    PolicyNotFound,
    /// The policy already keeps `limit` versions.
    LimitReached {
        limit: u32,
    },
}

/// What SetDefaultPolicyVersion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetDefaultVersionOutcome {
    Set,
    PolicyNotFound,
    VersionNotFound,
}

/// What an attachment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachOutcome {
    Attached,
    /// The user or role does not exist.
    HolderNotFound,
    /// The customer policy does not exist.
    PolicyNotFound,
    AlreadyAttached,
}

/// What a detachment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetachOutcome {
    Detached,
    /// The user or role does not exist.
    HolderNotFound,
    NotAttached,
}

/// What CreateRole did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateRoleOutcome {
    Created,
    Exists,
}

/// What DeleteRole did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteRoleOutcome {
    Deleted,
    NotFound,
    HasPolicies,
}

/// RAM users.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user unless the name is taken.
    async fn create_user(&self, user: UserRecord) -> Result<CreateUserOutcome, StoreError>;
    /// A user by name.
    async fn user(&self, name: &UserName) -> Result<Option<UserRecord>, StoreError>;
    /// Changes a user; a rename carries its access keys and attachments along.
    async fn update_user(
        &self,
        name: &UserName,
        update: UserUpdate,
    ) -> Result<UpdateUserOutcome, StoreError>;
    /// Deletes a user that has no access keys and no policies.
    async fn delete_user(&self, name: &UserName) -> Result<DeleteUserOutcome, StoreError>;
    /// Users by name after `marker`, at most `limit`, and whether more follow.
    async fn list_users(
        &self,
        marker: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<UserRecord>, bool), StoreError>;
}

/// Access keys: the authenticator's lookup, the account's root keys (`openkms root-key`), and
/// RAM users' keys.
#[async_trait]
pub trait AccessKeyStore: Send + Sync {
    /// An access key by id.
    async fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, StoreError>;
    /// Adds an access key.
    async fn insert_access_key(&self, rec: AccessKeyRecord) -> Result<(), StoreError>;
    /// The account's root access keys (principal [`ROOT_PRINCIPAL`]), oldest first.
    async fn root_access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError>;
    /// Sets root access key `id` to `status`, or deletes it when `None`. One transaction,
    /// refused when it would leave the account without an active root key.
    async fn change_root_access_key(
        &self,
        id: &str,
        status: Option<AccessKeyStatus>,
    ) -> Result<RootKeyChange, StoreError>;

    /// Adds an access key to a user, at most `max_keys` per user.
    async fn create_user_access_key(
        &self,
        user_name: &UserName,
        key: AccessKeyRecord,
        max_keys: u32,
    ) -> Result<CreateAccessKeyOutcome, StoreError>;
    /// A user's access keys, oldest first; `None` when there is no such user.
    async fn user_access_keys(
        &self,
        user_name: &UserName,
    ) -> Result<Option<Vec<AccessKeyRecord>>, StoreError>;
    /// Sets a user's access key status.
    async fn set_access_key_status(
        &self,
        user_name: &UserName,
        access_key_id: &str,
        status: AccessKeyStatus,
    ) -> Result<ChangeAccessKeyOutcome, StoreError>;
    /// Deletes a user's access key.
    async fn delete_user_access_key(
        &self,
        user_name: &UserName,
        access_key_id: &str,
    ) -> Result<ChangeAccessKeyOutcome, StoreError>;
}

/// Customer policies, their versions, and attachments of policies to users and roles.
#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// Creates a customer policy with its first version [`FIRST_POLICY_VERSION`].
    async fn create_policy(
        &self,
        policy: PolicyRecord,
        document: String,
    ) -> Result<CreatePolicyOutcome, StoreError>;
    /// A customer policy with its default version.
    async fn policy(
        &self,
        name: &PolicyName,
    ) -> Result<Option<(PolicyRecord, PolicyVersionRecord)>, StoreError>;
    /// Customer policies by name after `marker`, at most `limit`, and whether more follow.
    async fn list_policies(
        &self,
        marker: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<PolicyRecord>, bool), StoreError>;
    /// Deletes a customer policy that is attached nowhere, with its versions.
    async fn delete_policy(&self, name: &PolicyName) -> Result<DeletePolicyOutcome, StoreError>;
    /// Adds a version (`v<n>`), at most `max_versions`, optionally making it the default.
    async fn create_policy_version(
        &self,
        name: &PolicyName,
        document: String,
        set_default: bool,
        now: i64,
        max_versions: u32,
    ) -> Result<CreatePolicyVersionOutcome, StoreError>;
    /// Makes an existing version the default.
    async fn set_default_policy_version(
        &self,
        name: &PolicyName,
        version_id: &str,
        now: i64,
    ) -> Result<SetDefaultVersionOutcome, StoreError>;
    /// A customer policy's versions, oldest first, with its default version id; `None` when
    /// there is no such policy.
    async fn policy_versions(
        &self,
        name: &PolicyName,
    ) -> Result<Option<(String, Vec<PolicyVersionRecord>)>, StoreError>;

    /// Attaches a policy to a user or role; customer policies must exist (system policies
    /// are checked by the service).
    async fn attach_policy(
        &self,
        holder: &Holder,
        policy_type: PolicyType,
        policy_name: &PolicyName,
        now: i64,
    ) -> Result<AttachOutcome, StoreError>;
    /// Detaches a policy from a user or role.
    async fn detach_policy(
        &self,
        holder: &Holder,
        policy_type: PolicyType,
        policy_name: &PolicyName,
    ) -> Result<DetachOutcome, StoreError>;
    /// The policies attached to a user or role; `None` when it does not exist.
    async fn holder_attachments(
        &self,
        holder: &Holder,
    ) -> Result<Option<Vec<AttachmentRecord>>, StoreError>;
    /// The policies attached to a principal (`user/<name>`, `role/<name>`), for the authorizer;
    /// empty when the principal is gone.
    async fn attachments_of(&self, principal: &str) -> Result<Vec<AttachmentRecord>, StoreError>;
}

/// RAM roles.
#[async_trait]
pub trait RoleStore: Send + Sync {
    /// Creates a role unless the name is taken.
    async fn create_role(&self, role: RoleRecord) -> Result<CreateRoleOutcome, StoreError>;
    /// A role by name.
    async fn role(&self, name: &RoleName) -> Result<Option<RoleRecord>, StoreError>;
    /// Deletes a role that has no policies attached.
    async fn delete_role(&self, name: &RoleName) -> Result<DeleteRoleOutcome, StoreError>;
    /// Roles by name after `marker`, at most `limit`, and whether more follow.
    async fn list_roles(
        &self,
        marker: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<RoleRecord>, bool), StoreError>;
}

/// The whole identity aggregate.
pub trait IdentityStore: UserStore + AccessKeyStore + PolicyStore + RoleStore {}

impl<T: UserStore + AccessKeyStore + PolicyStore + RoleStore> IdentityStore for T {}

/// A Marker page from rows fetched with one more than `limit`: the first `limit` of them and
/// whether more follow.
pub fn split_page<T>(mut items: Vec<T>, limit: u64) -> (Vec<T>, bool) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = items.len() > limit;
    items.truncate(limit);
    (items, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserRecord {
        UserRecord {
            user_name: UserName::parse("alice").unwrap(),
            user_id: "1".into(),
            display_name: "Alice".into(),
            email: "a@example.com".into(),
            mobile_phone: String::new(),
            comments: String::new(),
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn an_update_changes_only_what_it_names() {
        let update = UserUpdate {
            new_user_name: Some(UserName::parse("alicia").unwrap()),
            display_name: None,
            email: Some("b@example.com".into()),
            mobile_phone: None,
            comments: None,
            updated_at: 5,
        };
        let u = update.apply(alice());
        assert_eq!(u.user_name.as_str(), "alicia");
        assert_eq!(u.display_name, "Alice");
        assert_eq!(u.email, "b@example.com");
        assert_eq!(u.updated_at, 5);
    }

    #[test]
    fn renaming_to_the_same_name_is_no_rename() {
        let update = UserUpdate {
            new_user_name: Some(UserName::parse("alice").unwrap()),
            display_name: None,
            email: None,
            mobile_phone: None,
            comments: None,
            updated_at: 5,
        };
        assert_eq!(update.rename_from(&alice().user_name), None);
    }

    #[test]
    fn the_last_active_root_key_stays() {
        use AccessKeyStatus::{Active, Inactive};
        assert!(!root_key_change_allowed(Active, Some(Inactive), 0));
        assert!(!root_key_change_allowed(Active, None, 0));
        assert!(root_key_change_allowed(Active, Some(Active), 0));
        assert!(root_key_change_allowed(Active, None, 1));
        assert!(root_key_change_allowed(Inactive, None, 0));
    }

    #[test]
    fn limits_and_principals() {
        assert!(!limit_reached(1, 2));
        assert!(limit_reached(2, 2));
        let user = UserName::parse("bob").unwrap();
        let role = RoleName::parse("app").unwrap();
        assert_eq!(Holder::User(user).principal(), "user/bob");
        assert_eq!(Holder::Role(role).principal(), "role/app");
        assert_eq!(policy_version_id(3), "v3");
    }
}

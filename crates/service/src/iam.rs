//! RAM identities (2015-05-01): users, their access keys, customer and system policies and
//! attachments. Only the account's root identity manages identities for now: RAM's own
//! authorization (`ram:*` actions in identity policies) is not implemented, so a RAM user's
//! call is refused with `Forbidden.NoPermission` rather than guessed. Every change that can
//! alter a user's effective policies empties the authorizer's policy cache.
//!
//! Access key secrets are sealed by the active root of trust (the root key file or an HSM key)
//! exactly like the root access key's, and
//! returned once, by CreateAccessKey. Every status change or deletion drops the key from the
//! authenticator's cache in the same call, so the key's next request is refused.

use openkms_domain::policy::{system_policy, Policy, SYSTEM_POLICIES};
use openkms_domain::ValidationError;
use openkms_store::{
    AccessKeyRecord, AttachmentRecord, IamOutcome, PolicyRecord, PolicyVersionRecord, RoleRecord,
    UserRecord, UserUpdate,
};

use crate::{access_key_aad, ids, Caller, Error, Service};

/// Access keys one user may hold (RAM's documented limit).
pub const MAX_ACCESS_KEYS_PER_USER: u32 = 2;
/// Versions one customer policy may keep (RAM's documented limit).
pub const MAX_POLICY_VERSIONS: u32 = 5;
/// Largest policy document RAM accepts, in bytes.
pub const POLICY_DOCUMENT_MAX_BYTES: usize = 6144;
/// Default and largest page of ListUsers/ListPolicies.
const DEFAULT_MAX_ITEMS: u64 = 100;
const MAX_MAX_ITEMS: u64 = 1000;

/// Policy type of a system policy.
pub const SYSTEM: &str = "System";
/// Policy type of a customer policy.
pub const CUSTOM: &str = "Custom";

/// Who a policy is attached to.
#[derive(Clone, Copy)]
enum Holder<'a> {
    User(&'a str),
    Role(&'a str),
}

impl Holder<'_> {
    fn name(&self) -> &str {
        match self {
            Self::User(n) | Self::Role(n) => n,
        }
    }

    /// The RAM resource the root check names.
    fn resource(&self) -> String {
        match self {
            Self::User(n) => format!("user/{n}"),
            Self::Role(n) => format!("role/{n}"),
        }
    }
}

/// CreateUser input.
#[derive(Debug, Default)]
pub struct NewUser<'a> {
    pub user_name: &'a str,
    pub display_name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub mobile_phone: Option<&'a str>,
    pub comments: Option<&'a str>,
}

/// UpdateUser input.
#[derive(Debug, Default)]
pub struct UserChange<'a> {
    pub new_user_name: Option<&'a str>,
    pub new_display_name: Option<&'a str>,
    pub new_email: Option<&'a str>,
    pub new_mobile_phone: Option<&'a str>,
    pub new_comments: Option<&'a str>,
}

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

/// A page of a Marker-paged list.
#[derive(Debug)]
pub struct MarkerPage<T> {
    pub items: Vec<T>,
    pub next_marker: Option<String>,
}

impl<T> MarkerPage<T> {
    /// A page of `items`; when more follow, the marker is the last item's `key`.
    fn new(items: Vec<T>, more: bool, key: impl Fn(&T) -> &String) -> Self {
        let next_marker = if more {
            items.last().map(|i| key(i).clone())
        } else {
            None
        };
        Self { items, next_marker }
    }
}

/// A newly created access key: its secret is shown this once.
pub struct CreatedAccessKey {
    pub record: AccessKeyRecord,
    pub secret: String,
}

impl Service {
    fn require_root(&self, caller: &Caller, action: &str, resource: &str) -> Result<(), Error> {
        if caller.is_root() {
            return Ok(());
        }
        Err(Error::NoPermission {
            action: format!("ram:{action}"),
            resource: format!("acs:ram:*:{}:{resource}", self.account_id()),
        })
    }

    /// Forgets cached access keys matching `pred`, so their next request reads the store.
    fn forget_access_keys(&self, pred: impl Fn(&str, &crate::AccessKeyEntry) -> bool) {
        let mut cache = self.access_keys.write();
        cache.generation = cache.generation.wrapping_add(1);
        cache.entries.retain(|id, entry| !pred(id, entry));
    }

    /// Forgets every cached access key and compiled identity policy, so the next request of
    /// each reads the store. On a store shared by several nodes, `serve` calls this every few
    /// seconds: another node's change (an access key deactivated or deleted, a policy attached,
    /// detached or given a new default version) then takes effect here within that interval.
    pub fn forget_shared_caches(&self) {
        self.forget_access_keys(|_, _| true);
        self.forget_identity_policies();
        self.forget_role_ids();
    }

    /// CreateUser.
    pub async fn create_user(
        &self,
        caller: &Caller,
        new: NewUser<'_>,
    ) -> Result<UserRecord, Error> {
        self.require_root(caller, "CreateUser", &format!("user/{}", new.user_name))?;
        check_user_name("UserName", new.user_name)?;
        let display = new.display_name.unwrap_or(new.user_name);
        check_len("DisplayName", display, 128)?;
        check_len("Comments", new.comments.unwrap_or(""), 128)?;
        let now = self.now();
        let user = UserRecord {
            user_name: new.user_name.to_owned(),
            user_id: ids::account_id()?,
            display_name: display.to_owned(),
            email: new.email.unwrap_or("").to_owned(),
            mobile_phone: new.mobile_phone.unwrap_or("").to_owned(),
            comments: new.comments.unwrap_or("").to_owned(),
            created_at: now,
            updated_at: now,
        };
        match self.store.create_user(user.clone()).await? {
            IamOutcome::Done(()) => Ok(user),
            other => Err(outcome_error(other, new.user_name, "")),
        }
    }

    /// GetUser.
    pub async fn get_user(&self, caller: &Caller, name: &str) -> Result<UserRecord, Error> {
        self.require_root(caller, "GetUser", &format!("user/{name}"))?;
        self.store
            .user(name)
            .await?
            .ok_or_else(|| Error::UserNotFound {
                name: name.to_owned(),
            })
    }

    /// UpdateUser.
    pub async fn update_user(
        &self,
        caller: &Caller,
        name: &str,
        change: UserChange<'_>,
    ) -> Result<UserRecord, Error> {
        self.require_root(caller, "UpdateUser", &format!("user/{name}"))?;
        if let Some(n) = change.new_user_name {
            check_user_name("NewUserName", n)?;
        }
        if let Some(d) = change.new_display_name {
            check_len("NewDisplayName", d, 128)?;
        }
        if let Some(c) = change.new_comments {
            check_len("NewComments", c, 128)?;
        }
        let update = UserUpdate {
            new_user_name: change.new_user_name.map(str::to_owned),
            display_name: change.new_display_name.map(str::to_owned),
            email: change.new_email.map(str::to_owned),
            mobile_phone: change.new_mobile_phone.map(str::to_owned),
            comments: change.new_comments.map(str::to_owned),
            updated_at: self.now(),
        };
        match self.store.update_user(name, update).await? {
            IamOutcome::Done(user) => {
                // Cached keys carry the old principal name: drop them.
                let old = format!("user/{name}");
                self.forget_access_keys(|_, e| e.principal == old);
                self.forget_identity_policies();
                Ok(user)
            }
            IamOutcome::UserExists => Err(Error::UserExists {
                name: change.new_user_name.unwrap_or(name).to_owned(),
            }),
            other => Err(outcome_error(other, name, "")),
        }
    }

    /// The answer to a write of identities or their policies: on success, every compiled
    /// identity policy is dropped, to be rebuilt from the store.
    fn policies_changed(
        &self,
        outcome: IamOutcome<()>,
        name: &str,
        detail: &str,
    ) -> Result<(), Error> {
        match outcome {
            IamOutcome::Done(()) => {
                self.forget_identity_policies();
                Ok(())
            }
            other => Err(outcome_error(other, name, detail)),
        }
    }

    /// DeleteUser.
    pub async fn delete_user(&self, caller: &Caller, name: &str) -> Result<(), Error> {
        self.require_root(caller, "DeleteUser", &format!("user/{name}"))?;
        self.policies_changed(self.store.delete_user(name).await?, name, "")
    }

    /// ListUsers.
    pub async fn list_users(
        &self,
        caller: &Caller,
        marker: Option<&str>,
        max_items: Option<u64>,
    ) -> Result<MarkerPage<UserRecord>, Error> {
        self.require_root(caller, "ListUsers", "user/*")?;
        let limit = max_items_of(max_items)?;
        let (items, more) = self.store.list_users(marker, limit).await?;
        Ok(MarkerPage::new(items, more, |u| &u.user_name))
    }

    /// CreateAccessKey for `user_name`.
    pub async fn create_access_key(
        &self,
        caller: &Caller,
        user_name: &str,
    ) -> Result<CreatedAccessKey, Error> {
        self.require_root(caller, "CreateAccessKey", &format!("user/{user_name}"))?;
        let CreatedAccessKey { record, secret } =
            self.new_access_key(format!("user/{user_name}")).await?;
        match self
            .store
            .create_user_access_key(user_name, record.clone(), MAX_ACCESS_KEYS_PER_USER)
            .await?
        {
            IamOutcome::Done(()) => Ok(CreatedAccessKey { record, secret }),
            other => Err(outcome_error(other, user_name, "")),
        }
    }

    /// A new active access key for `principal`, its secret sealed by the active root of trust;
    /// not stored yet.
    pub(crate) async fn new_access_key(
        &self,
        principal: String,
    ) -> Result<CreatedAccessKey, Error> {
        let id = ids::access_key_id()?;
        let secret = ids::access_key_secret()?;
        let (sealed_secret, root_id) = self
            .roots
            .seal(self.store.as_ref(), secret.as_bytes(), &access_key_aad(&id))
            .await
            .map_err(|e| Error::root("seal access key secret", e))?;
        let record = AccessKeyRecord {
            sealed_secret,
            root_id,
            access_key_id: id,
            principal,
            status: "Active".into(),
            created_at: self.now(),
        };
        Ok(CreatedAccessKey { record, secret })
    }

    /// UpdateAccessKey: `Active` or `Inactive`.
    pub async fn update_access_key(
        &self,
        caller: &Caller,
        user_name: &str,
        access_key_id: &str,
        status: &str,
    ) -> Result<(), Error> {
        self.require_root(caller, "UpdateAccessKey", &format!("user/{user_name}"))?;
        if !matches!(status, "Active" | "Inactive") {
            return Err(ValidationError::NotOneOf {
                param: "Status",
                allowed: "Active, Inactive",
            }
            .into());
        }
        let outcome = self
            .store
            .set_access_key_status(user_name, access_key_id, status)
            .await?;
        self.forget_access_keys(|id, _| id == access_key_id);
        match outcome {
            IamOutcome::Done(()) => Ok(()),
            other => Err(outcome_error(other, user_name, access_key_id)),
        }
    }

    /// DeleteAccessKey.
    pub async fn delete_access_key(
        &self,
        caller: &Caller,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<(), Error> {
        self.require_root(caller, "DeleteAccessKey", &format!("user/{user_name}"))?;
        let outcome = self
            .store
            .delete_user_access_key(user_name, access_key_id)
            .await?;
        self.forget_access_keys(|id, _| id == access_key_id);
        match outcome {
            IamOutcome::Done(()) => Ok(()),
            other => Err(outcome_error(other, user_name, access_key_id)),
        }
    }

    /// ListAccessKeys of a user.
    pub async fn list_access_keys(
        &self,
        caller: &Caller,
        user_name: &str,
    ) -> Result<Vec<AccessKeyRecord>, Error> {
        self.require_root(caller, "ListAccessKeys", &format!("user/{user_name}"))?;
        match self.store.user_access_keys(user_name).await? {
            IamOutcome::Done(keys) => Ok(keys),
            other => Err(outcome_error(other, user_name, "")),
        }
    }

    /// CreatePolicy: a customer policy whose document must parse as an identity policy.
    pub async fn create_policy(
        &self,
        caller: &Caller,
        name: &str,
        document: &str,
        description: Option<&str>,
    ) -> Result<PolicyView, Error> {
        self.require_root(caller, "CreatePolicy", &format!("policy/{name}"))?;
        check_policy_name(name)?;
        check_len("Description", description.unwrap_or(""), 1024)?;
        if system_policy(name).is_some() {
            return Err(Error::PolicyExists {
                name: name.to_owned(),
            });
        }
        check_document(document)?;
        let now = self.now();
        let record = PolicyRecord {
            policy_name: name.to_owned(),
            description: description.unwrap_or("").to_owned(),
            default_version: "v1".into(),
            created_at: now,
            updated_at: now,
            attachment_count: 0,
        };
        match self
            .store
            .create_policy(record.clone(), document.to_owned())
            .await?
        {
            IamOutcome::Done(()) => Ok(custom_view(record, document.to_owned())),
            other => Err(outcome_error(other, name, "")),
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
        let policy_type = check_policy_type(policy_type)?;
        if policy_type != Some(SYSTEM) {
            if let Some((record, version)) = self.store.policy(name).await? {
                return Ok(custom_view(record, version.document));
            }
        }
        if policy_type != Some(CUSTOM) {
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
        self.policies_changed(self.store.delete_policy(name).await?, name, "")
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
        let policy_type = check_policy_type(policy_type)?;
        let limit = max_items_of(max_items)?;
        let after = |name: &str| marker.is_none_or(|m| name > m);
        let mut all: Vec<PolicyView> = Vec::new();
        if policy_type != Some(CUSTOM) {
            all.extend(
                SYSTEM_POLICIES
                    .iter()
                    .filter(|p| after(p.name))
                    .filter_map(|p| system_view(p.name)),
            );
        }
        if policy_type != Some(SYSTEM) {
            let (custom, _) = self
                .store
                .list_policies(marker, limit.saturating_add(1))
                .await?;
            all.extend(custom.into_iter().map(|r| custom_view(r, String::new())));
        }
        all.sort_by(|a, b| a.policy_name.cmp(&b.policy_name));
        let (items, more) = openkms_store::split_page(all, limit);
        Ok(MarkerPage::new(items, more, |p| &p.policy_name))
    }

    /// CreatePolicyVersion. `RotateStrategy` other than `None` is not supported: at the limit
    /// the call fails, as RAM does with the default strategy.
    pub async fn create_policy_version(
        &self,
        caller: &Caller,
        name: &str,
        document: &str,
        set_as_default: bool,
    ) -> Result<(PolicyVersionRecord, bool), Error> {
        self.require_root(caller, "CreatePolicyVersion", &format!("policy/{name}"))?;
        check_document(document)?;
        match self
            .store
            .create_policy_version(
                name,
                document.to_owned(),
                set_as_default,
                self.now(),
                MAX_POLICY_VERSIONS,
            )
            .await?
        {
            IamOutcome::Done(v) => {
                self.forget_identity_policies();
                Ok((v, set_as_default))
            }
            other => Err(outcome_error(other, name, "")),
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
        self.policies_changed(
            self.store
                .set_default_policy_version(name, version_id, self.now())
                .await?,
            name,
            version_id,
        )
    }

    /// ListPolicyVersions: (default version id, versions oldest first).
    pub async fn list_policy_versions(
        &self,
        caller: &Caller,
        name: &str,
        policy_type: Option<&str>,
    ) -> Result<(String, Vec<PolicyVersionRecord>), Error> {
        self.require_root(caller, "ListPolicyVersions", &format!("policy/{name}"))?;
        if check_policy_type(policy_type)? == Some(SYSTEM) {
            let p = system_policy(name).ok_or_else(|| Error::PolicyNotFound {
                name: name.to_owned(),
            })?;
            let version = PolicyVersionRecord {
                version_id: p.version_id.to_owned(),
                document: p.document.to_owned(),
                created_at: 0,
            };
            return Ok((p.version_id.to_owned(), vec![version]));
        }
        match self.store.policy_versions(name).await? {
            IamOutcome::Done(v) => Ok(v),
            other => Err(outcome_error(other, name, "")),
        }
    }

    /// AttachPolicyToUser.
    pub async fn attach_policy_to_user(
        &self,
        caller: &Caller,
        user_name: &str,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<(), Error> {
        self.attach_policy(caller, Holder::User(user_name), policy_type, policy_name)
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
        self.detach_policy(caller, Holder::User(user_name), policy_type, policy_name)
            .await
    }

    /// Attaches a policy to a user or role (the two RAM actions differ only in the holder).
    async fn attach_policy(
        &self,
        caller: &Caller,
        holder: Holder<'_>,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<(), Error> {
        let action = match holder {
            Holder::User(_) => "AttachPolicyToUser",
            Holder::Role(_) => "AttachPolicyToRole",
        };
        self.require_root(caller, action, &holder.resource())?;
        let policy_type = required_policy_type(policy_type)?;
        if policy_type == SYSTEM && system_policy(policy_name).is_none() {
            return Err(Error::PolicyNotFound {
                name: policy_name.to_owned(),
            });
        }
        let now = self.now();
        let outcome = match holder {
            Holder::User(n) => self
                .store
                .attach_policy_to_user(n, policy_type, policy_name, now),
            Holder::Role(n) => self
                .store
                .attach_policy_to_role(n, policy_type, policy_name, now),
        }
        .await?;
        match outcome {
            IamOutcome::PolicyNotFound => Err(Error::PolicyNotFound {
                name: policy_name.to_owned(),
            }),
            other => self.policies_changed(other, holder.name(), ""),
        }
    }

    /// Detaches a policy from a user or role.
    async fn detach_policy(
        &self,
        caller: &Caller,
        holder: Holder<'_>,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<(), Error> {
        let action = match holder {
            Holder::User(_) => "DetachPolicyFromUser",
            Holder::Role(_) => "DetachPolicyFromRole",
        };
        self.require_root(caller, action, &holder.resource())?;
        let policy_type = required_policy_type(policy_type)?;
        let outcome = match holder {
            Holder::User(n) => self
                .store
                .detach_policy_from_user(n, policy_type, policy_name),
            Holder::Role(n) => self
                .store
                .detach_policy_from_role(n, policy_type, policy_name),
        }
        .await?;
        self.policies_changed(outcome, holder.name(), "")
    }

    /// ListPoliciesForUser: each attachment with its policy's summary.
    pub async fn list_policies_for_user(
        &self,
        caller: &Caller,
        user_name: &str,
    ) -> Result<Vec<(AttachmentRecord, PolicyView)>, Error> {
        self.require_root(caller, "ListPoliciesForUser", &format!("user/{user_name}"))?;
        let attachments = match self.store.user_attachments(user_name).await? {
            IamOutcome::Done(a) => a,
            other => return Err(outcome_error(other, user_name, "")),
        };
        let mut out = Vec::with_capacity(attachments.len());
        for a in attachments {
            let view = if a.policy_type == SYSTEM {
                system_view(&a.policy_name)
            } else {
                self.store
                    .policy(&a.policy_name)
                    .await?
                    .map(|(r, v)| custom_view(r, v.document))
            };
            if let Some(view) = view {
                out.push((a, view));
            }
        }
        Ok(out)
    }
}

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

impl Service {
    /// The ARN of a role: `acs:ram::<uid>:role/<name>` (the name as created; Alibaba's console
    /// shows it lower-cased, which is unconfirmed for the API).
    pub fn role_arn(&self, role_name: &str) -> String {
        format!("acs:ram::{}:role/{role_name}", self.account_id())
    }

    /// CreateRole.
    pub async fn create_role(
        &self,
        caller: &Caller,
        new: NewRole<'_>,
    ) -> Result<RoleRecord, Error> {
        self.require_root(caller, "CreateRole", &format!("role/{}", new.role_name))?;
        check_role_name(new.role_name)?;
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
            role_name: new.role_name.to_owned(),
            role_id: ids::account_id()?,
            description: new.description.unwrap_or("").to_owned(),
            trust_policy: new.trust_policy.to_owned(),
            max_session_duration: max_session,
            created_at: now,
            updated_at: now,
        };
        match self.store.create_role(role.clone()).await? {
            IamOutcome::Done(()) => {
                // A role of this name may have existed: its sessions must see the new RoleId.
                self.forget_role_ids();
                Ok(role)
            }
            other => Err(outcome_error(other, new.role_name, "")),
        }
    }

    /// GetRole.
    pub async fn get_role(&self, caller: &Caller, name: &str) -> Result<RoleRecord, Error> {
        self.require_root(caller, "GetRole", &format!("role/{name}"))?;
        self.store
            .role(name)
            .await?
            .ok_or_else(|| Error::RoleNotFound {
                name: name.to_owned(),
            })
    }

    /// DeleteRole of a role with no policies attached. Sessions already issued end at once
    /// (on this node; within the shared-cache interval on the others): they are bound to the
    /// deleted RoleId.
    pub async fn delete_role(&self, caller: &Caller, name: &str) -> Result<(), Error> {
        self.require_root(caller, "DeleteRole", &format!("role/{name}"))?;
        let outcome = self.store.delete_role(name).await?;
        self.forget_role_ids();
        self.policies_changed(outcome, name, "")
    }

    /// ListRoles.
    pub async fn list_roles(
        &self,
        caller: &Caller,
        marker: Option<&str>,
        max_items: Option<u64>,
    ) -> Result<MarkerPage<RoleRecord>, Error> {
        self.require_root(caller, "ListRoles", "role/*")?;
        let limit = max_items_of(max_items)?;
        let (items, more) = self.store.list_roles(marker, limit).await?;
        Ok(MarkerPage::new(items, more, |r| &r.role_name))
    }

    /// AttachPolicyToRole.
    pub async fn attach_policy_to_role(
        &self,
        caller: &Caller,
        role_name: &str,
        policy_type: &str,
        policy_name: &str,
    ) -> Result<(), Error> {
        self.attach_policy(caller, Holder::Role(role_name), policy_type, policy_name)
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
        self.detach_policy(caller, Holder::Role(role_name), policy_type, policy_name)
            .await
    }
}

/// Role names: 1 to 64 letters, digits, `.` and `-`.
fn check_role_name(name: &str) -> Result<(), Error> {
    let param = "RoleName";
    if name.is_empty() {
        return Err(ValidationError::Empty { param }.into());
    }
    check_len(param, name, 64)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
    {
        return Err(ValidationError::InvalidCharacter {
            param,
            allowed: "letters, digits, periods (.) and hyphens (-)",
        }
        .into());
    }
    Ok(())
}

fn custom_view(r: PolicyRecord, document: String) -> PolicyView {
    PolicyView {
        policy_name: r.policy_name,
        policy_type: CUSTOM,
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
        policy_type: SYSTEM,
        description: p.description.to_owned(),
        default_version: p.version_id.to_owned(),
        created_at: 0,
        updated_at: 0,
        attachment_count: 0,
        document: p.document.to_owned(),
    })
}

/// Maps a store rejection to the API error, naming the entity.
fn outcome_error<T>(outcome: IamOutcome<T>, name: &str, detail: &str) -> Error {
    match outcome {
        IamOutcome::Done(_) => Error::internal("treat a success as a failure"),
        IamOutcome::UserNotFound => Error::UserNotFound {
            name: name.to_owned(),
        },
        IamOutcome::UserExists => Error::UserExists {
            name: name.to_owned(),
        },
        IamOutcome::RoleNotFound => Error::RoleNotFound {
            name: name.to_owned(),
        },
        IamOutcome::RoleExists => Error::RoleExists {
            name: name.to_owned(),
        },
        IamOutcome::RoleHasPolicies => Error::RoleHasPolicies,
        IamOutcome::PolicyNotFound => Error::PolicyNotFound {
            name: name.to_owned(),
        },
        IamOutcome::PolicyExists => Error::PolicyExists {
            name: name.to_owned(),
        },
        IamOutcome::VersionNotFound => Error::PolicyVersionNotFound {
            version_id: detail.to_owned(),
        },
        IamOutcome::AccessKeyNotFound => Error::AccessKeyNotFound {
            id: detail.to_owned(),
        },
        IamOutcome::AlreadyAttached => Error::PolicyAlreadyAttached,
        IamOutcome::NotAttached => Error::PolicyNotAttached,
        IamOutcome::UserHasAccessKeys => Error::UserHasAccessKeys,
        IamOutcome::UserHasPolicies => Error::UserHasPolicies,
        IamOutcome::PolicyAttached => Error::PolicyInUse,
        IamOutcome::DefaultVersion => Error::internal("delete a default policy version"),
        IamOutcome::LimitExceeded { limit } if limit == MAX_ACCESS_KEYS_PER_USER => {
            Error::AccessKeyLimit { limit }
        }
        IamOutcome::LimitExceeded { limit } => Error::PolicyVersionLimit { limit },
    }
}

fn check_document(document: &str) -> Result<(), Error> {
    Policy::parse_identity(document, "PolicyDocument", POLICY_DOCUMENT_MAX_BYTES)
        .map(|_| ())
        .map_err(Error::MalformedPolicyDocument)
}

/// RAM user names: 1 to 64 letters, digits, `.`, `_` and `-`.
fn check_user_name(param: &'static str, name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(ValidationError::Empty { param }.into());
    }
    check_len(param, name, 64)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(ValidationError::InvalidCharacter {
            param,
            allowed: "letters, digits, periods (.), underscores (_) and hyphens (-)",
        }
        .into());
    }
    Ok(())
}

/// Policy names: 1 to 128 letters, digits and `-`.
fn check_policy_name(name: &str) -> Result<(), Error> {
    let param = "PolicyName";
    if name.is_empty() {
        return Err(ValidationError::Empty { param }.into());
    }
    check_len(param, name, 128)?;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ValidationError::InvalidCharacter {
            param,
            allowed: "letters, digits and hyphens (-)",
        }
        .into());
    }
    Ok(())
}

fn check_len(param: &'static str, value: &str, max: usize) -> Result<(), Error> {
    if value.chars().count() > max {
        return Err(ValidationError::TooLong { param, max }.into());
    }
    Ok(())
}

fn check_policy_type(policy_type: Option<&str>) -> Result<Option<&'static str>, Error> {
    policy_type.map(required_policy_type).transpose()
}

fn required_policy_type(policy_type: &str) -> Result<&'static str, Error> {
    match policy_type {
        SYSTEM => Ok(SYSTEM),
        CUSTOM => Ok(CUSTOM),
        _ => Err(ValidationError::NotOneOf {
            param: "PolicyType",
            allowed: "System, Custom",
        }
        .into()),
    }
}

fn max_items_of(max_items: Option<u64>) -> Result<u64, Error> {
    match max_items {
        None => Ok(DEFAULT_MAX_ITEMS),
        Some(n) if (1..=MAX_MAX_ITEMS).contains(&n) => Ok(n),
        Some(_) => Err(ValidationError::OutOfRange {
            param: "MaxItems",
            min: "1",
            max: "1000",
        }
        .into()),
    }
}

//! RAM identities (2015-05-01): users, their access keys, customer and system policies and
//! attachments, roles. Only the account's root identity manages identities for now: RAM's own
//! authorization (`ram:*` actions in identity policies) is not implemented, so a RAM user's
//! call is refused with `Forbidden.NoPermission` rather than guessed. Every change that can
//! alter a user's effective policies empties the authorizer's policy cache.
//!
//! Names are parsed into `domain`'s [`UserName`], [`RoleName`] and [`PolicyName`] once, after
//! the root check. A name that breaks RAM's rule is refused when it would create or rename
//! something; when it only looks something up, no such entity can exist, so the answer is
//! the same "not found" as for a valid name nobody holds.
//!
//! The server sees identities only as this module's views: no store row (and so no sealed
//! access key secret) leaves the service.

mod access_keys;
mod policies;
mod roles;
mod users;

pub use access_keys::{AccessKeyView, CreatedAccessKey, MAX_ACCESS_KEYS_PER_USER};
pub use policies::{
    AttachmentView, PolicyVersionView, PolicyView, MAX_POLICY_VERSIONS, POLICY_DOCUMENT_MAX_BYTES,
};
pub use roles::{NewRole, RoleView, DEFAULT_MAX_SESSION, TRUST_POLICY_MAX_BYTES};
pub use users::{NewUser, UserChange, UserView};

use openkms_domain::{PolicyName, RoleName, UserName, ValidationError};

use crate::{Caller, Error, Service};

/// Default and largest page of ListUsers/ListPolicies/ListRoles.
const DEFAULT_MAX_ITEMS: u64 = 100;
const MAX_MAX_ITEMS: u64 = 1000;

/// A page of a Marker-paged list.
#[derive(Debug)]
pub struct MarkerPage<T> {
    pub items: Vec<T>,
    pub next_marker: Option<String>,
}

impl<T> MarkerPage<T> {
    /// A page of `items`; when more follow, the marker is the last item's `key`.
    fn new(items: Vec<T>, more: bool, key: impl Fn(&T) -> &str) -> Self {
        let next_marker = if more {
            items.last().map(|i| key(i).to_owned())
        } else {
            None
        };
        Self { items, next_marker }
    }
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
}

/// The user a lookup names; a name no user can have is not found.
pub(crate) fn existing_user(name: &str) -> Result<UserName, Error> {
    UserName::parse(name).map_err(|_| Error::UserNotFound {
        name: name.to_owned(),
    })
}

/// The role a lookup names; a name no role can have is not found.
pub(crate) fn existing_role(name: &str) -> Result<RoleName, Error> {
    RoleName::parse(name).map_err(|_| Error::RoleNotFound {
        name: name.to_owned(),
    })
}

/// The policy a lookup names; a name no policy can have is not found.
fn existing_policy(name: &str) -> Result<PolicyName, Error> {
    PolicyName::parse(name).map_err(|_| Error::PolicyNotFound {
        name: name.to_owned(),
    })
}

fn check_len(param: &'static str, value: &str, max: usize) -> Result<(), Error> {
    if value.chars().count() > max {
        return Err(ValidationError::TooLong { param, max }.into());
    }
    Ok(())
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

//! Authorization on the caller's identity alone: for rights that no KMS resource policy can
//! grant, such as rights over another service's resource (a RAM user's access keys, a database
//! instance's accounts) that an action makes openkms exercise on the caller's behalf.
//!
//! The same rules as `authz`, without a resource policy: the root key passes; a RAM user's
//! identity policies, or a role session's role policies narrowed by its session policy, must
//! allow, and an explicit Deny in either refuses.

use crate::{Caller, Error, Service};

impl Service {
    /// Decides whether `caller`'s identity policies allow `action` (with its service prefix,
    /// e.g. `ram:CreateAccessKey`) on `resource`; `Forbidden.NoPermission` naming both if not.
    pub async fn authorize_identity(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
    ) -> Result<(), Error> {
        if caller.is_root() {
            return Ok(());
        }
        let principal = self.principal_of(caller);
        let identity = self.identity_policies(&caller.principal).await?;
        match principal {
            Some(p) if self.allows(caller, &p, &identity, action, resource, None, &[]) => Ok(()),
            _ => Err(Error::NoPermission {
                action: action.to_owned(),
                resource: resource.to_owned(),
            }),
        }
    }
}

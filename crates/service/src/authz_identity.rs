//! Authorization on the caller's identity alone: for rights that no KMS resource policy can
//! grant, such as rights over another service's resource (a RAM user's access keys, a database
//! instance's accounts) that an action makes openkms exercise on the caller's behalf.
//!
//! The same rules as `authz`, without a resource policy: the root key passes; a RAM user's
//! identity policies, or a role session's role policies narrowed by its session policy, must
//! allow, and an explicit Deny in either refuses.

use openkms_domain::policy::{decide, Outcome, Principal, Request, RequestContext};

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
        let denied = || Error::NoPermission {
            action: action.to_owned(),
            resource: resource.to_owned(),
        };
        let principal = match (&caller.session, caller.user_name()) {
            (Some(session), _) => Principal::role(self.account_id(), &session.role_name),
            (None, Some(user)) => Principal::user(self.account_id(), user),
            (None, None) => return Err(denied()),
        };
        let identity = self.identity_policies(&caller.principal).await?;
        let context = RequestContext {
            source_ip: caller.source_ip,
            current_time: Some(self.now()),
            secure_transport: Some(false),
            mfa_present: Some(false),
            access_key_id: Some(&caller.access_key_id),
            ..RequestContext::default()
        };
        let request = Request {
            action,
            resource,
            context: &context,
        };
        let decision = decide(
            &principal,
            self.account_id(),
            identity.iter().map(|p| p.as_ref()),
            None,
            &request,
        );
        // A session policy can only narrow: it must allow as well, and its Deny denies.
        let narrowed = caller
            .session
            .as_ref()
            .and_then(|s| s.policy.as_ref())
            .is_none_or(|p| p.evaluate(&request) == Outcome::Allow);
        if decision.is_allowed() && narrowed {
            Ok(())
        } else {
            Err(denied())
        }
    }
}

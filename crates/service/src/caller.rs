//! Who is calling: the authenticated identity every service function receives.

use std::net::IpAddr;
use std::sync::Arc;

use openkms_domain::Policy;

/// An STS role session: who assumed which role, until when, narrowed by which policy.
#[derive(Debug)]
pub struct RoleSession {
    pub role_name: String,
    pub role_id: String,
    pub session_name: String,
    /// Unix seconds after which the credentials are refused.
    pub expires_at: i64,
    /// The session policy given to AssumeRole: it can only narrow the role's policies.
    pub policy: Option<Arc<Policy>>,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key_id: String,
    /// `root` for the account's root keys, `user/<name>` for a RAM user's.
    pub principal: String,
    /// The address the request came from (`acs:SourceIp`), when known.
    pub source_ip: Option<IpAddr>,
    /// The role session, for temporary (`STS.`) credentials; `principal` is then `role/<name>`.
    pub session: Option<Arc<RoleSession>>,
}

impl Caller {
    /// Whether this is the account's root identity, which no policy restricts.
    pub fn is_root(&self) -> bool {
        self.principal == "root"
    }

    /// The RAM user name, for a user's access key.
    pub fn user_name(&self) -> Option<&str> {
        self.principal.strip_prefix("user/")
    }
}

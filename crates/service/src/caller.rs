//! Who is calling: the authenticated identity every service function receives.

use std::net::IpAddr;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key_id: String,
    /// `root` for the account's root keys, `user/<name>` for a RAM user's.
    pub principal: String,
    /// The address the request came from (`acs:SourceIp`), when known.
    pub source_ip: Option<IpAddr>,
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

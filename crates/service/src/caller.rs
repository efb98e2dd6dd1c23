//! Who is calling: the authenticated identity every service function receives.

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key_id: String,
    /// `root` for the account's root keys.
    pub principal: String,
}

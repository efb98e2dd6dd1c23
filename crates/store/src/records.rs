//! The identity records shared by several aggregates (access keys). Each other aggregate's
//! records live beside its trait.

/// An access key; the secret is sealed under the root key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub sealed_secret: Vec<u8>,
    /// The root of trust that sealed `sealed_secret`.
    pub root_id: String,
    pub principal: String,
    pub status: String,
    pub created_at: i64,
}

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
/// *other* root keys are active; one rule for both stores.
pub fn root_key_change_allowed(
    current: &str,
    new_status: Option<&str>,
    others_active: u64,
) -> bool {
    let stays_active = new_status == Some("Active");
    current != "Active" || stays_active || others_active > 0
}

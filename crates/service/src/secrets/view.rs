//! What the service reports about a secret: its own types, so the server never sees a store
//! row (a row carries the policy, the revision and, for versions, sealed bytes).

use openkms_domain::SecretType;
use openkms_store::{RotationRecord, SecretRecord};

/// Automatic rotation as the API reports it. The interval and the next date are reported only
/// while rotation is enabled: a disabled secret keeps its last date but plans nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationView {
    /// `Enabled`, `Disabled`, or `Invalid` while rotations keep failing.
    pub status: &'static str,
    pub interval_secs: Option<i64>,
    pub next_at: Option<i64>,
    pub last_at: Option<i64>,
    /// Why the last attempt failed, while rotations keep failing.
    pub last_error: Option<String>,
}

impl From<&RotationRecord> for RotationView {
    fn from(r: &RotationRecord) -> Self {
        // "Invalid" is Alibaba's word for a secret whose rotation cannot currently succeed.
        let status = if r.progress.failures > 0 {
            "Invalid"
        } else if r.enabled {
            "Enabled"
        } else {
            "Disabled"
        };
        Self {
            status,
            interval_secs: r.interval_secs.filter(|_| r.enabled),
            next_at: r.next_at.filter(|_| r.enabled),
            last_at: r.last_at,
            last_error: r.progress.last_error.clone(),
        }
    }
}

/// A secret's metadata, as CreateSecret, DescribeSecret and ListSecrets report it.
#[derive(Debug, Clone)]
pub struct SecretView {
    pub name: String,
    /// The type's API name (`Generic`, `Rds`, …).
    pub secret_type: String,
    pub description: String,
    pub encryption_key_id: Option<String>,
    pub dkms_instance_id: Option<String>,
    /// Reported for managed types only.
    pub extended_config: Option<String>,
    pub rotation: RotationView,
    pub created_at: i64,
    pub updated_at: i64,
    pub planned_delete_at: Option<i64>,
}

impl SecretView {
    /// Whether the secret is of a managed type (any but Generic).
    pub fn is_managed(&self) -> bool {
        self.secret_type != SecretType::Generic.wire_name()
    }
}

impl From<&SecretRecord> for SecretView {
    fn from(s: &SecretRecord) -> Self {
        Self {
            name: s.name.clone(),
            secret_type: s.secret_type.wire_name().to_owned(),
            description: s.description.clone(),
            encryption_key_id: s.encryption_key_id.clone(),
            dkms_instance_id: s.dkms_instance_id.clone(),
            extended_config: s.extended_config.clone().filter(|_| is_managed(s)),
            rotation: RotationView::from(&s.rotation),
            created_at: s.created_at,
            updated_at: s.updated_at,
            planned_delete_at: s.planned_delete_at,
        }
    }
}

/// Whether a stored secret is of a managed type (one with ExtendedConfig).
pub(crate) fn is_managed(s: &SecretRecord) -> bool {
    s.secret_type.is_managed()
}

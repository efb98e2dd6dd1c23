//! The service's error vocabulary: what went wrong in API terms, with no HTTP in it. The server
//! maps each variant to Alibaba's Code and status once.

/// A secret change the domain's rules refused: carried by [`Error::Rejected`], so part of the
/// service's answer that the server maps to a Code.
pub use openkms_domain::secret::Rejection;
use openkms_domain::ValidationError;
use openkms_store::StoreError;

/// An API-level failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("The specified secret is not found.")]
    SecretNotFound,
    #[error("The specified version is not found.")]
    VersionNotFound,
    #[error("No version of the secret carries the stage {stage}.")]
    StageNotFound { stage: String },
    #[error("The version {version_id} does not carry the stage {stage}.")]
    VersionStageMismatch { version_id: String, stage: String },
    #[error("The specified key is not found.")]
    KeyNotFound,
    #[error("The key given as EncryptionKeyId is not found.")]
    EncryptionKeyNotFound,
    #[error("The specified certificate is not found.")]
    CertificateNotFound,
    #[error("The specified key is disabled.")]
    KeyDisabled,
    #[error("The specified key is pending deletion.")]
    KeyPendingDeletion,
    #[error("The key is not pending deletion, so there is no deletion to cancel.")]
    KeyNotPendingDeletion,
    #[error("The key still protects {secrets} secret(s); delete those secrets before scheduling the key's deletion.")]
    KeyProtectsSecrets { secrets: u64 },
    #[error("The key is managed by openkms to protect secrets; it cannot be changed, aliased or used directly.")]
    ServiceKeyManaged,
    #[error("The specified key version is not found.")]
    KeyVersionNotFound,
    #[error("The specified alias is not found.")]
    AliasNotFound,
    /// UpdateAlias / DeleteAlias: the alias was moved after the caller was authorized on the
    /// key it named; the change would land on a key never checked.
    #[error("The alias was changed by another request; retry.")]
    AliasMoved,
    #[error("The alias {name} already exists.")]
    AliasExists { name: String },
    /// Deliberately says nothing about why: tampered, truncated, other key, wrong context.
    #[error("The CiphertextBlob cannot be decrypted with the given EncryptionContext.")]
    InvalidCiphertext,
    #[error("The specified DKMS Instance is not found.")]
    InstanceNotFound,
    #[error("The secret {name} already exists.")]
    SecretExists { name: String },
    #[error("The secret is planned to be deleted.")]
    PendingDeletion,
    #[error("The version {version_id} already exists with different data.")]
    VersionConflict { version_id: String },
    #[error("{0}")]
    Rejected(Rejection),
    #[error("You are not authorized to do action {action} on resource {resource}.")]
    NoPermission { action: String, resource: String },
    #[error("The user does not exist: {name}.")]
    UserNotFound { name: String },
    #[error("The user does already exist: {name}.")]
    UserExists { name: String },
    #[error("The policy does not exist: {name}.")]
    PolicyNotFound { name: String },
    #[error("The policy does already exist: {name}.")]
    PolicyExists { name: String },
    #[error("The policy version does not exist: {version_id}.")]
    PolicyVersionNotFound { version_id: String },
    #[error("The access key does not exist: {id}.")]
    AccessKeyNotFound { id: String },
    #[error("The policy is already attached to the user.")]
    PolicyAlreadyAttached,
    #[error("The policy is not attached to the user.")]
    PolicyNotAttached,
    #[error("The user still has access keys; delete them first.")]
    UserHasAccessKeys,
    #[error("The user still has policies attached; detach them first.")]
    UserHasPolicies,
    #[error("The policy is still attached to users; detach it first.")]
    PolicyInUse,
    #[error("The user already has the maximum of {limit} access keys.")]
    AccessKeyLimit { limit: u32 },
    #[error("The policy already has the maximum of {limit} versions.")]
    PolicyVersionLimit { limit: u32 },
    #[error("The policy document is malformed: {0}")]
    MalformedPolicyDocument(ValidationError),
    #[error("The role does not exist: {name}.")]
    RoleNotFound { name: String },
    #[error("The role does already exist: {name}.")]
    RoleExists { name: String },
    #[error("The role still has policies attached; detach them first.")]
    RoleHasPolicies,
    #[error("You are not authorized to do this action. You should be authorized by RAM.")]
    AssumeRoleDenied,
    #[error("The specified SecurityToken is expired.")]
    SecurityTokenExpired,
    /// The session's role was deleted, or deleted and re-created (another RoleId).
    #[error("The specified SecurityToken is expired: the role it was issued for no longer exists (deleted or re-created); assume the role again.")]
    SecurityTokenRoleGone,
    #[error("Roles may not be assumed by root accounts.")]
    RootCannotAssumeRole,
    #[error("The SecurityToken is missing or malformed.")]
    SecurityTokenMalformed,
    #[error("The SecurityToken does not belong to the AccessKeyId.")]
    SecurityTokenMismatch,
    #[error("The request would have succeeded, but DryRun is set.")]
    DryRun,
    #[error("The database instance {instance_id} is not registered with openkms; register it with `openkms db-instance add {instance_id} ...` before rotating secrets on it.")]
    DbInstanceNotRegistered { instance_id: String },
    #[error("The database instance {instance_id} is already registered.")]
    DbInstanceExists { instance_id: String },
    #[error("Secrets of type {secret_type} cannot be rotated by openkms.")]
    RotationUnsupported { secret_type: String },
    #[error("A rotation of the secret {name} is already in progress; retry later.")]
    RotationInProgress { name: String },
    #[error("The rotation could not reach its target; the secret keeps its current credential and the rotation is retried automatically: {reason}")]
    RotationTargetUnreachable { reason: String },
    #[error(
        "The rotation target refused the change; the secret keeps its current credential: {reason}"
    )]
    RotationTargetRefused { reason: String },
    #[error("Only the account's root access key may {what}.")]
    RootOnly { what: &'static str },
    #[error("The store is temporarily unavailable.")]
    Unavailable(#[source] StoreError),
    #[error("internal error during {op}")]
    Internal {
        op: &'static str,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl Error {
    pub(crate) fn internal(op: &'static str) -> Self {
        Self::Internal { op, source: None }
    }

    /// A root-of-trust failure during `op`; the cause goes to the log, never to the caller.
    pub(crate) fn root(op: &'static str, e: crate::roots::RootError) -> Self {
        match e {
            crate::roots::RootError::Store(s) => s.into(),
            other => Self::Internal {
                op,
                source: Some(Box::new(other)),
            },
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable | StoreError::WriterGone | StoreError::Disconnected { .. } => {
                Self::Unavailable(e)
            }
            other => Self::Internal {
                op: "store access",
                source: Some(Box::new(other)),
            },
        }
    }
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::SecretNotFound => Self::SecretNotFound,
            Rejection::PendingDeletion => Self::PendingDeletion,
            Rejection::Invalid(v) => Self::Invalid(v),
            other => Self::Rejected(other),
        }
    }
}

impl From<openkms_domain::key::KeyRejection> for Error {
    fn from(r: openkms_domain::key::KeyRejection) -> Self {
        use openkms_domain::key::KeyRejection;
        match r {
            KeyRejection::Disabled => Self::KeyDisabled,
            KeyRejection::PendingDeletion => Self::KeyPendingDeletion,
            KeyRejection::NotPendingDeletion => Self::KeyNotPendingDeletion,
            KeyRejection::ProtectsSecrets { secrets } => Self::KeyProtectsSecrets { secrets },
            // Only the rotation job asks for this rule, and it handles the rejection itself.
            KeyRejection::RotationNotDue => Self::internal("rotate a key that is not due"),
        }
    }
}

//! The one place that turns errors into Alibaba's Code, HTTP status and Message. Every match is
//! exhaustive, so a new error variant forces a decision here.

use openkms_service::replay::Staleness;
use openkms_service::Error;
use openkms_wire::{ErrorCode, ProtocolError};

/// A reply-ready error: code and caller-facing message.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl From<ProtocolError> for ApiError {
    fn from(e: ProtocolError) -> Self {
        Self {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl From<Staleness> for ApiError {
    fn from(s: Staleness) -> Self {
        let e = match s {
            Staleness::Expired => ProtocolError::TimestampExpired,
            Staleness::Replayed => ProtocolError::SignatureNonceUsed,
            Staleness::Overloaded => {
                return Self {
                    code: ErrorCode::RejectedThrottling,
                    message: "This access key sent too many requests within the 15-minute replay window; slow down and retry later.".into(),
                }
            }
            Staleness::Unrecorded => {
                return Self {
                    code: ErrorCode::ServiceUnavailableTemporary,
                    message: "The request's nonce could not be recorded; retry later.".into(),
                }
            }
        };
        e.into()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use openkms_service::error::Rejection;
        let code = match &e {
            Error::Invalid(v) if v.is_missing() => ErrorCode::MissingParameter,
            Error::Invalid(_) => ErrorCode::InvalidParameter,
            Error::SecretNotFound
            | Error::VersionNotFound
            | Error::StageNotFound { .. }
            | Error::VersionStageMismatch { .. }
            // The seed lists Forbidden.ResourceNotFound for an unknown EncryptionKeyId.
            | Error::EncryptionKeyNotFound => ErrorCode::ForbiddenResourceNotFound,
            Error::KeyNotFound => ErrorCode::ForbiddenKeyNotFound,
            // The cloud's code is unconfirmed; the seed's code for a missing resource.
            Error::KeyVersionNotFound => ErrorCode::ForbiddenResourceNotFound,
            // The cloud's code for a key state change that failed (kms-api.md §1.5): used for
            // CancelKeyDeletion on a key not pending deletion, and for ScheduleKeyDeletion of
            // a key that still protects secrets.
            Error::KeyNotPendingDeletion
            | Error::KeyProtectsSecrets { .. }
            | Error::AliasMoved => ErrorCode::RejectedStateModifiedFailed,
            Error::ServiceKeyManaged => ErrorCode::ForbiddenNoPermission,
            Error::AliasNotFound => ErrorCode::ForbiddenAliasNotFound,
            Error::AliasExists { .. } => ErrorCode::AliasAlreadyExists,
            Error::InvalidCiphertext => ErrorCode::InvalidCiphertext,
            Error::CertificateNotFound => ErrorCode::ForbiddenResourceNotFound,
            Error::KeyDisabled => ErrorCode::RejectedDisabled,
            Error::KeyPendingDeletion => ErrorCode::RejectedPendingDeletion,
            Error::InstanceNotFound => ErrorCode::ForbiddenDkmsInstanceNotFound,
            Error::SecretExists { .. } | Error::VersionConflict { .. } => {
                ErrorCode::RejectedResourceExist
            }
            Error::PendingDeletion => ErrorCode::RejectedResourceInDeleteWindow,
            Error::Rejected(r) => match r {
                Rejection::SecretNotFound | Rejection::VersionNotFound { .. } => {
                    ErrorCode::ForbiddenResourceNotFound
                }
                Rejection::PendingDeletion => ErrorCode::RejectedResourceInDeleteWindow,
                Rejection::VersionExists { .. } => ErrorCode::RejectedResourceExist,
                Rejection::TooManyStageLabels { .. } => ErrorCode::RejectedLimitExceeded,
                Rejection::GenericOnly => ErrorCode::UnsupportedOperation,
                Rejection::NotPendingDeletion
                | Rejection::StageNotOnVersion { .. }
                | Rejection::ReservedStageRemoval { .. }
                | Rejection::PreviousOnCurrent => ErrorCode::InvalidParameter,
                // `Error::from(Rejection)` turns this into `Error::Invalid`; mapped alike.
                Rejection::Invalid(v) if v.is_missing() => ErrorCode::MissingParameter,
                Rejection::Invalid(_) => ErrorCode::InvalidParameter,
            },
            Error::NoPermission { .. } => ErrorCode::ForbiddenNoPermission,
            Error::UserNotFound { .. } => ErrorCode::EntityNotExistUser,
            Error::UserExists { .. } => ErrorCode::EntityAlreadyExistsUser,
            Error::PolicyNotFound { .. } => ErrorCode::EntityNotExistPolicy,
            Error::PolicyExists { .. } => ErrorCode::EntityAlreadyExistsPolicy,
            Error::PolicyVersionNotFound { .. } => ErrorCode::EntityNotExistPolicyVersion,
            Error::AccessKeyNotFound { .. } => ErrorCode::EntityNotExistUserAccessKey,
            Error::PolicyAlreadyAttached => ErrorCode::EntityAlreadyExistsUserPolicy,
            Error::PolicyNotAttached => ErrorCode::EntityNotExistUserPolicy,
            Error::UserHasAccessKeys => ErrorCode::DeleteConflictUserAccessKey,
            Error::UserHasPolicies => ErrorCode::DeleteConflictUserPolicy,
            Error::PolicyInUse => ErrorCode::DeleteConflictPolicyUser,
            Error::AccessKeyLimit { .. } => ErrorCode::LimitExceededUserAccessKey,
            Error::PolicyVersionLimit { .. } => ErrorCode::LimitExceededPolicyVersion,
            Error::MalformedPolicyDocument(_) => ErrorCode::MalformedPolicyDocument,
            Error::RoleNotFound { .. } => ErrorCode::EntityNotExistRole,
            Error::RoleExists { .. } => ErrorCode::EntityAlreadyExistsRole,
            Error::RoleHasPolicies => ErrorCode::DeleteConflictRolePolicy,
            Error::AssumeRoleDenied => ErrorCode::StsNoPermission,
            Error::SecurityTokenExpired | Error::SecurityTokenRoleGone => {
                ErrorCode::InvalidSecurityTokenExpired
            }
            Error::RootCannotAssumeRole => ErrorCode::StsNoPermission,
            Error::SecurityTokenMalformed => ErrorCode::InvalidSecurityTokenMalformed,
            Error::SecurityTokenMismatch => ErrorCode::InvalidSecurityTokenMismatch,
            Error::DryRun => ErrorCode::DryRunOperationError,
            Error::DbInstanceNotRegistered { .. } => ErrorCode::ForbiddenResourceNotFound,
            Error::DbInstanceExists { .. } => ErrorCode::RejectedResourceExist,
            Error::RotationUnsupported { .. } => ErrorCode::UnsupportedOperation,
            Error::RotationInProgress { .. } => ErrorCode::RejectedThrottling,
            Error::RotationTargetUnreachable { .. } => ErrorCode::ServiceUnavailableTemporary,
            Error::RotationTargetRefused { .. } => ErrorCode::InvalidParameter,
            Error::RootOnly { .. } => ErrorCode::ForbiddenNoPermission,
            Error::Unavailable(_) => ErrorCode::ServiceUnavailableTemporary,
            Error::Internal { .. } => ErrorCode::InternalFailure,
        };
        let message = match &e {
            Error::Internal { .. } => {
                tracing::error!(error = %error_chain(&e), "internal error");
                "Internal Failure: the server could not complete the request; quote the RequestId to the operator.".to_owned()
            }
            Error::Unavailable(_) => {
                tracing::error!(error = %error_chain(&e), "store unavailable");
                e.to_string()
            }
            _ => e.to_string(),
        };
        Self { code, message }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

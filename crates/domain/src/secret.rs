//! Business rejections of secret operations: conditions that depend on stored state rather
//! than on the shape of a parameter.

use thiserror::Error;

/// Why an operation on an existing secret was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum Rejection {
    #[error("The secret is not found.")]
    SecretNotFound,
    #[error("The secret is planned to be deleted.")]
    PendingDeletion,
    #[error("The version {version_id} already exists.")]
    VersionExists { version_id: String },
    #[error("The version {version_id} is not found.")]
    VersionNotFound { version_id: String },
    #[error("A secret can carry at most {max} stage labels.")]
    TooManyStageLabels { max: usize },
    #[error("The operation is supported for Generic secrets only.")]
    GenericOnly,
    #[error("The secret is not pending deletion.")]
    NotPendingDeletion,
}

//! Business rejections of secret operations: conditions that depend on stored state rather
//! than on the shape of a parameter.

use thiserror::Error;

use crate::error::ValidationError;

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
    #[error("The secret is not pending deletion, so there is nothing to restore.")]
    NotPendingDeletion,
    /// RemoveFromVersion names a version that does not carry the stage.
    #[error("RemoveFromVersion {version_id} does not carry the stage {stage}.")]
    StageNotOnVersion { stage: String, version_id: String },
    /// ACSCurrent and ACSPrevious can only be moved, never only removed.
    #[error("The stage {stage} cannot be removed, only moved: give MoveToVersion.")]
    ReservedStageRemoval { stage: String },
    /// ACSPrevious may not sit on the version that carries ACSCurrent.
    #[error("ACSPrevious cannot be moved to the version that carries ACSCurrent.")]
    PreviousOnCurrent,
    /// A parameter that breaks a rule only the stored state can reveal (a CustomData merge
    /// over the stored ExtendedConfig, rotation settings of the stored type).
    #[error(transparent)]
    Invalid(ValidationError),
}

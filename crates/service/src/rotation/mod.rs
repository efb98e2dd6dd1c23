//! Managed rotation of database credentials (Rds, PolarDB, Redis secrets).
//!
//! One rotation: (1) a new version holding the new credential is stored with the ACSPending
//! label and recorded as the secret's pending rotation; (2) the password is set on the
//! target; (3) the new credential is verified by logging in with it; (4) the pending version
//! is promoted to ACSCurrent (the old current becomes ACSPrevious). Each step is idempotent,
//! so a crash anywhere is repaired by running the remaining steps again: the scheduler takes
//! any secret with a pending rotation at its next pass. SingleUser rotates one account, so
//! between steps 2 and 4 only the pending credential logs in; DoubleUsers alternates the
//! account and its clone, so ACSCurrent always logs in and ACSPrevious keeps working until
//! the rotation after.
//!
//! Scheduled work is claimed with a lease in the store, so each due rotation runs on one
//! node at a time; RotateSecret takes the same lease.

mod authority;
mod credential;
mod db_instances;
mod plan;
mod ram_keys;
mod steps;

use std::sync::Arc;

use openkms_crypto::envelope::secret_aad;
use openkms_crypto::SecretBytes;
use openkms_domain::secret::Rejection;
use openkms_domain::stages::{versions_to_drop, CURRENT};
use openkms_domain::{secret_arn, ExtendedConfig, SecretName, SecretType, VersionId};
use openkms_rotation::{Target, TargetError};
use openkms_store::{
    DbInstanceRecord, RotationProgress, SecretRecord, SecretUpdate, VersionRecord,
};

use crate::{Caller, Error, Service};
pub(crate) use authority::CredentialTarget;
pub use authority::{MANAGE_DATABASE_CREDENTIAL, RAM_ACCESS_KEY_ACTIONS};
use credential::AccountCredential;
pub use db_instances::{DbInstanceInput, DbInstanceView, TlsInput};
use plan::{generate_password, Kind, Plan};

/// The stage label of a version whose rotation has begun and not finished.
pub const PENDING: &str = "ACSPending";

/// How long a node holds a claimed rotation; far above one rotation's bounded time.
const LEASE_SECS: i64 = 300;
/// Secrets claimed per scheduler pass.
const CLAIM_BATCH: u32 = 16;
/// First retry delay after a failure; doubles per failure up to [`MAX_BACKOFF_SECS`].
const FIRST_BACKOFF_SECS: i64 = 30;
const MAX_BACKOFF_SECS: i64 = 3_600;
/// Where a rotation stops. Everything short of `Promoted` stands for a crash after that
/// step; tests use it to check that the next pass repairs the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RotationStep {
    Pending,
    Applied,
    Verified,
    Promoted,
}

/// What RotateSecret reports.
#[derive(Debug)]
pub struct Rotated {
    pub arn: String,
    pub secret_name: String,
    pub version_id: String,
}

/// What a scheduler pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RotationPass {
    pub rotated: usize,
    pub failed: usize,
}

impl Service {
    /// RotateSecret: rotates a managed database secret now. A VersionId that already exists
    /// is a success that changes nothing. The caller must hold rights over the credential the
    /// secret names (`authority`), not only over the secret: it makes openkms act now.
    pub async fn rotate_secret(
        &self,
        caller: &Caller,
        secret_name: &str,
        version_id: &str,
    ) -> Result<Rotated, Error> {
        let name = self.secret_name(secret_name)?;
        let version_id = VersionId::parse(version_id)?;
        let secret = self.find_secret(&name).await?;
        if secret.planned_delete_at.is_some() {
            return Err(Error::PendingDeletion);
        }
        self.authorize_credential(caller, CredentialTarget::of_secret(&secret)?.as_ref())
            .await?;
        let rotated = Rotated {
            arn: secret_arn(self.region(), self.account_id(), &name),
            secret_name: name.as_str().to_owned(),
            version_id: version_id.as_str().to_owned(),
        };
        if self
            .store
            .version(&secret, version_id.as_str())
            .await?
            .is_some()
        {
            return Ok(rotated);
        }
        // Checked before anything is written: an unregistered instance changes nothing.
        self.rotation_kind(&secret).await?;
        self.claim(&name).await?;
        let result = self
            .rotate_leased(&name, Some(version_id.as_str()), RotationStep::Promoted)
            .await;
        self.release(name.as_str()).await;
        result.map(|()| rotated)
    }

    /// Rotates a secret only up to `stop`, as a crash after that step would leave it.
    #[doc(hidden)]
    pub async fn rotate_secret_until(
        &self,
        secret_name: &str,
        version_id: &str,
        stop: RotationStep,
    ) -> Result<(), Error> {
        let name = self.secret_name(secret_name)?;
        self.claim(&name).await?;
        let result = self.rotate_leased(&name, Some(version_id), stop).await;
        self.release(name.as_str()).await;
        result
    }

    /// One scheduler pass: claims the rotations due now (automatic rotations at their
    /// NextRotationDate, unfinished ones after their backoff) and runs them.
    pub async fn run_due_rotations(&self) -> Result<RotationPass, Error> {
        let now = self.now();
        let names = self
            .store
            .claim_due_rotations(now, &self.node_id, now + LEASE_SECS, CLAIM_BATCH)
            .await?;
        let mut pass = RotationPass::default();
        for text in names {
            let Ok(name) = SecretName::parse(&text) else {
                continue;
            };
            let result = self
                .rotate_leased(&name, None, RotationStep::Promoted)
                .await;
            self.release(&text).await;
            match result {
                Ok(()) => pass.rotated += 1,
                Err(_) => pass.failed += 1,
            }
        }
        Ok(pass)
    }

    /// Takes the secret's rotation lease for this node, or says another holds it.
    async fn claim(&self, name: &SecretName) -> Result<(), Error> {
        let now = self.now();
        if self
            .store
            .claim_rotation(name.as_str(), now, &self.node_id, now + LEASE_SECS)
            .await?
        {
            Ok(())
        } else {
            Err(Error::RotationInProgress {
                name: name.as_str().to_owned(),
            })
        }
    }

    async fn release(&self, name: &str) {
        if let Err(e) = self.store.release_rotation(name, &self.node_id).await {
            tracing::warn!(secret = %name, error = %e, "could not release a rotation lease; it expires by itself");
        }
    }

    /// Finishes an unfinished rotation, then starts a new one unless the pass only resumes
    /// (`version_id` None and a pending rotation found). Failures are recorded on the secret
    /// (backoff, AutomaticRotation "Invalid") and counted.
    async fn rotate_leased(
        &self,
        name: &SecretName,
        version_id: Option<&str>,
        stop: RotationStep,
    ) -> Result<(), Error> {
        let result = self.rotate_steps(name, version_id, stop).await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("openkms_secret_rotations_total", "result" => outcome).increment(1);
        match &result {
            Ok(()) => {
                tracing::info!(target: "openkms::audit", secret = %name.as_str(), "secret rotated");
            }
            Err(e) => {
                tracing::warn!(target: "openkms::audit", secret = %name.as_str(), error = %e, "secret rotation failed");
                // Recorded so the scheduler backs off (a secret that can never rotate, such as
                // an ECS secret with automatic rotation on, is retried hourly, not every pass).
                // RotateSecret refuses unsupported types and unregistered instances before it
                // gets here, so a caller's mistake changes nothing.
                if matches!(
                    e,
                    Error::RotationTargetUnreachable { .. }
                        | Error::RotationTargetRefused { .. }
                        | Error::DbInstanceNotRegistered { .. }
                        | Error::RotationUnsupported { .. }
                ) {
                    self.record_failure(name, e.to_string()).await;
                }
            }
        }
        result
    }

    async fn rotate_steps(
        &self,
        name: &SecretName,
        version_id: Option<&str>,
        stop: RotationStep,
    ) -> Result<(), Error> {
        let secret = self.find_secret(name).await?;
        let kind = self.rotation_kind(&secret).await?;
        if secret.rotation.progress.pending_version.is_some() {
            self.finish_any(name, &kind, stop).await?;
            if version_id.is_none() || stop < RotationStep::Promoted {
                return Ok(());
            }
        } else if version_id.is_none() && !secret.rotation.enabled {
            // Claimed for a retry of a rotation that has since been finished or disabled.
            return Ok(());
        }
        let version_id = match version_id {
            Some(v) => v.to_owned(),
            None => crate::ids::uuid(),
        };
        match &kind {
            Kind::Db { plan, .. } => self.begin(name, plan, &version_id).await?,
            Kind::Ram { user } => self.begin_ram(name, user, &version_id).await?,
        }
        if stop == RotationStep::Pending {
            return Ok(());
        }
        self.finish_any(name, &kind, stop).await
    }

    async fn finish_any(
        &self,
        name: &SecretName,
        kind: &Kind,
        stop: RotationStep,
    ) -> Result<(), Error> {
        match kind {
            Kind::Db { plan, instance } => self.finish(name, plan, instance, stop).await,
            Kind::Ram { .. } => self.finish_ram(name, stop).await,
        }
    }

    /// What rotating this secret acts on; for a database secret, its registered instance
    /// (an unregistered one is refused before anything is written).
    async fn rotation_kind(&self, secret: &SecretRecord) -> Result<Kind, Error> {
        if secret.secret_type == SecretType::RamCredentials {
            let config = secret
                .extended_config
                .as_deref()
                .map(|text| ExtendedConfig::parse_for(SecretType::RamCredentials, text))
                .transpose()?
                .flatten();
            let user = config
                .as_ref()
                .and_then(|c| c.get_str("UserName"))
                .map(str::to_owned)
                .ok_or(Error::RotationTargetRefused {
                    reason: "the secret's ExtendedConfig has no UserName".into(),
                })?;
            return Ok(Kind::Ram { user });
        }
        let plan = Plan::for_secret(secret)?;
        let instance = self.db_instance_of(&plan).await?;
        Ok(Kind::Db {
            plan,
            instance: Box::new(instance),
        })
    }

    async fn db_instance_of(&self, plan: &Plan) -> Result<DbInstanceRecord, Error> {
        self.store
            .db_instance(&plan.instance_id)
            .await?
            .ok_or_else(|| Error::DbInstanceNotRegistered {
                instance_id: plan.instance_id.clone(),
            })
    }
}

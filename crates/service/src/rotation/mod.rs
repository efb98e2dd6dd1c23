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
mod ram_keys;

use std::sync::Arc;

use openkms_crypto::envelope::secret_aad;
use openkms_crypto::SecretBytes;
use openkms_domain::secret::Rejection;
use openkms_domain::stages::{versions_to_drop, CURRENT};
use openkms_domain::{secret_arn, ExtendedConfig, SecretName, SecretType, VersionId};
use openkms_rotation::{Engine, Target, TargetError, TlsMode};
use openkms_store::{
    DbInstanceRecord, RotationProgress, SecretRecord, SecretUpdate, VersionRecord,
};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::{Caller, Error, Service};
pub(crate) use authority::CredentialTarget;
pub use authority::{MANAGE_DATABASE_CREDENTIAL, RAM_ACCESS_KEY_ACTIONS};
use credential::AccountCredential;
pub use db_instances::DbInstanceInput;

/// The stage label of a version whose rotation has begun and not finished.
pub const PENDING: &str = "ACSPending";

/// How long a node holds a claimed rotation; far above one rotation's bounded time.
const LEASE_SECS: i64 = 300;
/// Secrets claimed per scheduler pass.
const CLAIM_BATCH: u32 = 16;
/// First retry delay after a failure; doubles per failure up to [`MAX_BACKOFF_SECS`].
const FIRST_BACKOFF_SECS: i64 = 30;
const MAX_BACKOFF_SECS: i64 = 3_600;
/// Length of generated passwords (letters and digits: ~190 bits).
const PASSWORD_LEN: usize = 32;

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

/// What a rotation acts on.
enum Kind {
    /// A database account on a registered instance.
    Db {
        plan: Plan,
        instance: Box<DbInstanceRecord>,
    },
    /// The access keys of one of openkms's RAM users.
    Ram { user: String },
}

/// What a database secret's type and ExtendedConfig say about rotating it.
struct Plan {
    instance_id: String,
    /// The account from ExtendedConfig (Redis, PolarDB); Rds names it in the value.
    account: Option<String>,
    clone: Option<String>,
    double: bool,
}

impl Plan {
    fn for_secret(secret: &SecretRecord) -> Result<Self, Error> {
        let unsupported = || Error::RotationUnsupported {
            secret_type: secret.secret_type.wire_name().to_owned(),
        };
        let ty = secret.secret_type;
        let instance_field = authority::instance_field(ty).ok_or_else(unsupported)?;
        let config = secret
            .extended_config
            .as_deref()
            .map(|text| ExtendedConfig::parse_for(ty, text))
            .transpose()?
            .flatten();
        let field = |name: &str| {
            config
                .as_ref()
                .and_then(|c| c.get_str(name))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let instance_id = field(instance_field).ok_or(Error::RotationTargetRefused {
            reason: format!("the secret's ExtendedConfig has no {instance_field}"),
        })?;
        Ok(Self {
            instance_id,
            account: field("AccountName"),
            clone: field("CloneAccountName"),
            double: field("SecretSubType").as_deref() == Some("DoubleUsers"),
        })
    }

    /// The account and its clone, given the account the current value names.
    fn accounts(&self, current: Option<&str>) -> Result<(String, String), Error> {
        let base = match (&self.account, current) {
            (Some(a), _) => a.clone(),
            (None, Some(c)) => c
                .strip_suffix("_clone")
                .filter(|_| self.double)
                .unwrap_or(c)
                .to_owned(),
            (None, None) => {
                return Err(Error::RotationTargetRefused {
                    reason: "the secret names no account to rotate".into(),
                })
            }
        };
        let clone = self
            .clone
            .clone()
            .unwrap_or_else(|| format!("{base}_clone"));
        Ok((base, clone))
    }
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

    /// Step 1: the new credential, stored as an ACSPending version before the target is
    /// touched, so that a crash after step 2 still knows the password it set.
    async fn begin(&self, name: &SecretName, plan: &Plan, version_id: &str) -> Result<(), Error> {
        let secret = self.find_secret(name).await?;
        let current = self.current_credential(&secret).await?;
        let (base, clone) = plan.accounts(current.as_ref().map(|c| c.account.as_str()))?;
        let account = match (&current, plan.double) {
            (Some(c), true) if c.account == base => clone,
            _ => base,
        };
        let fresh = AccountCredential {
            account,
            password: generate_password()?,
        };
        self.store_pending(name, &secret, version_id, &fresh.to_value())
            .await
    }

    /// Stores `value` as the ACSPending version `version_id` and records the secret's pending
    /// rotation, in one transaction.
    async fn store_pending(
        &self,
        name: &SecretName,
        secret: &SecretRecord,
        version_id: &str,
        value: &str,
    ) -> Result<(), Error> {
        let (key, kek) = self
            .sealing_key(secret.encryption_key_id.as_deref())
            .await?;
        let sealed = kek
            .seal(
                value.as_bytes(),
                &secret_aad(self.account_id(), name.as_str(), version_id),
            )
            .map_err(|_| Error::internal("seal rotated credential"))?;
        let now = self.now();
        let version = VersionRecord {
            version_id: version_id.to_owned(),
            data_type: openkms_domain::SecretDataType::Text,
            key_id: key.key_id.clone(),
            key_version_id: key.primary_version_id.clone(),
            wrapped_key: sealed.wrapped_key,
            ciphertext: sealed.ciphertext,
            created_at: now,
        };
        let vid = version_id.to_owned();
        self.change_active_secret(name, move |state| {
            if state.secret.rotation.progress.pending_version.is_some()
                || state.versions.iter().any(|v| v.version_id == vid)
            {
                return Err(Rejection::VersionExists {
                    version_id: vid.clone(),
                });
            }
            let stages = state
                .secret
                .stages
                .put_version(&vid, &[PENDING.to_owned()])?;
            let mut ids: Vec<String> = state
                .versions
                .iter()
                .map(|v| v.version_id.clone())
                .collect();
            ids.push(vid.clone());
            let mut rotation = state.secret.rotation.clone();
            rotation.progress.pending_version = Some(vid.clone());
            Ok(SecretUpdate {
                insert_version: Some(version.clone()),
                delete_versions: versions_to_drop(&ids, &stages),
                stages: Some(stages),
                rotation: Some(rotation),
                updated_at: now,
                ..Default::default()
            })
        })
        .await?;
        Ok(())
    }

    /// Steps 2–4 for the secret's pending version.
    async fn finish(
        &self,
        name: &SecretName,
        plan: &Plan,
        instance: &DbInstanceRecord,
        stop: RotationStep,
    ) -> Result<(), Error> {
        let secret = self.find_secret(name).await?;
        let Some(pending_id) = secret.rotation.progress.pending_version.clone() else {
            return Ok(());
        };
        let pending = self
            .credential_of(&secret, &pending_id)
            .await?
            .ok_or_else(|| Error::internal("read the pending rotation's credential"))?;
        let admin = self.admin_credential(instance).await?;
        let engine = Engine::parse(&instance.engine)
            .ok_or_else(|| Error::internal("read a registered instance's engine"))?;
        let tls = TlsMode::parse(&instance.tls_mode)
            .ok_or_else(|| Error::internal("read a registered instance's TLS mode"))?;
        let target = Target::new(engine, &instance.address, tls, instance.tls_ca.as_deref())
            .map_err(target_error)?;
        let (base, clone) = plan.accounts(Some(&pending.account))?;
        let template = (plan.double && pending.account == clone).then_some(base.as_str());
        target
            .set_password(admin.as_target(), pending.as_target(), template)
            .await
            .map_err(target_error)?;
        if stop == RotationStep::Applied {
            return Ok(());
        }
        target
            .verify(pending.as_target())
            .await
            .map_err(target_error)?;
        if stop == RotationStep::Verified {
            return Ok(());
        }
        self.promote(name, &pending_id).await
    }

    /// Step 4: the pending version becomes ACSCurrent; the rotation dates move on.
    async fn promote(&self, name: &SecretName, pending_id: &str) -> Result<(), Error> {
        let now = self.now();
        let pending_id = pending_id.to_owned();
        self.change_active_secret(name, move |state| {
            let mut rotation = state.secret.rotation.clone();
            if rotation.progress.pending_version.as_deref() != Some(pending_id.as_str()) {
                // Promoted already (a resumed pass raced a finished one): nothing to do.
                return Err(Rejection::VersionExists {
                    version_id: pending_id.clone(),
                });
            }
            let mut stages = state.secret.stages.clone();
            stages.attach(CURRENT, &pending_id);
            stages.detach(PENDING);
            rotation.progress = RotationProgress::default();
            rotation.last_at = Some(now);
            rotation.next_at = rotation
                .interval_secs
                .filter(|_| rotation.enabled)
                .map(|i| now.saturating_add(i));
            Ok(SecretUpdate {
                stages: Some(stages),
                rotation: Some(rotation),
                updated_at: now,
                ..Default::default()
            })
        })
        .await
        .map(|_| ())
        .or_else(|e| match e {
            Error::Rejected(Rejection::VersionExists { .. }) => Ok(()),
            other => Err(other),
        })
    }

    /// Notes a failed attempt: backoff before the next, AutomaticRotation shows "Invalid".
    async fn record_failure(&self, name: &SecretName, reason: String) {
        let now = self.now();
        let written = self
            .change_active_secret(name, move |state| {
                let mut rotation = state.secret.rotation.clone();
                let failures = rotation.progress.failures.saturating_add(1);
                let backoff = FIRST_BACKOFF_SECS
                    .saturating_mul(1_i64 << failures.saturating_sub(1).min(20))
                    .min(MAX_BACKOFF_SECS);
                rotation.progress.failures = failures;
                rotation.progress.retry_at = Some(now.saturating_add(backoff));
                rotation.progress.last_error = Some(reason.clone());
                Ok(SecretUpdate {
                    rotation: Some(rotation),
                    updated_at: state.secret.updated_at,
                    ..Default::default()
                })
            })
            .await;
        if let Err(e) = written {
            tracing::warn!(secret = %name.as_str(), error = %e, "could not record a failed rotation");
        }
    }

    async fn current_credential(
        &self,
        secret: &SecretRecord,
    ) -> Result<Option<AccountCredential>, Error> {
        match secret.stages.version_of(CURRENT) {
            Some(v) => self.credential_of(secret, v).await,
            None => Ok(None),
        }
    }

    async fn credential_of(
        &self,
        secret: &SecretRecord,
        version_id: &str,
    ) -> Result<Option<AccountCredential>, Error> {
        let Some(version) = self.store.version(secret, version_id).await? else {
            return Ok(None);
        };
        let value: SecretBytes = self.open_version(&secret.name, &version).await?;
        Ok(AccountCredential::parse(&value))
    }

    /// The instance's admin credential: the ACSCurrent value of its admin secret.
    async fn admin_credential(
        &self,
        instance: &DbInstanceRecord,
    ) -> Result<AccountCredential, Error> {
        let refused = || {
            Error::RotationTargetRefused {
            reason: format!(
                "the admin secret {} of instance {} must exist and hold {{\"AccountName\":...,\"AccountPassword\":...}}",
                instance.admin_secret, instance.instance_id
            ),
        }
        };
        let secret: Arc<SecretRecord> = self
            .store
            .secret(&instance.admin_secret)
            .await?
            .ok_or_else(refused)?;
        self.current_credential(&secret).await?.ok_or_else(refused)
    }
}

fn target_error(e: TargetError) -> Error {
    match e {
        TargetError::Unreachable { .. } => Error::RotationTargetUnreachable {
            reason: e.to_string(),
        },
        other => Error::RotationTargetRefused {
            reason: other.to_string(),
        },
    }
}

/// A password of letters and digits from the OS CSPRNG, without modulo bias: such a
/// password needs no quoting in any target's statements.
fn generate_password() -> Result<Zeroizing<String>, Error> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // Bytes below 248 (= 4 × 62) map evenly onto the alphabet; the rest are redrawn.
    const LIMIT: u8 = 248;
    let rng = SystemRandom::new();
    let mut out = Zeroizing::new(String::with_capacity(PASSWORD_LEN));
    let mut buf = Zeroizing::new([0u8; 64]);
    while out.len() < PASSWORD_LEN {
        rng.fill(buf.as_mut())
            .map_err(|_| Error::internal("draw random bytes"))?;
        for &b in buf.iter().filter(|&&b| b < LIMIT) {
            if out.len() == PASSWORD_LEN {
                break;
            }
            let idx = usize::from(b) % ALPHABET.len();
            out.push(char::from(*ALPHABET.get(idx).unwrap_or(&b'A')));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_plain_and_different() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), PASSWORD_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(*a, *b);
    }

    fn plan(account: Option<&str>, double: bool) -> Plan {
        Plan {
            instance_id: "rm-1".into(),
            account: account.map(str::to_owned),
            clone: None,
            double,
        }
    }

    #[test]
    fn double_users_alternate_between_an_account_and_its_clone() {
        let p = plan(None, true);
        assert_eq!(
            p.accounts(Some("app")).unwrap(),
            ("app".into(), "app_clone".into())
        );
        assert_eq!(
            p.accounts(Some("app_clone")).unwrap(),
            ("app".into(), "app_clone".into())
        );
        let single = plan(None, false);
        assert_eq!(single.accounts(Some("x_clone")).unwrap().0, "x_clone");
        let named = plan(Some("svc"), true);
        assert_eq!(named.accounts(None).unwrap().1, "svc_clone");
        assert!(plan(None, true).accounts(None).is_err());
    }
}

//! STS 2015-04-01: AssumeRole and GetCallerIdentity, and the temporary credentials they
//! produce.
//!
//! A session is stateless: the SecurityToken is the session itself (access key id, secret, role,
//! session name, expiry, session policy) sealed by the active root of trust, with AAD binding it
//! to its `STS.` access key id. After `openkms rekey` retires the root that sealed a token, the
//! token no longer opens: sessions end early rather than keep an old root alive. Nothing is stored, so sessions survive restarts and need no cleanup;
//! none can be revoked before it expires except by deleting the role's policies or the role.
//!
//! A session is bound to its role's unique RoleId, not its name: at every authentication the
//! sealed RoleId must be the stored role's (cached per role name; the cache is emptied by every
//! CreateRole and DeleteRole on this node, and with the other shared caches every 5 s on a
//! shared store). A deleted role's sessions, and sessions of an earlier role of the same name,
//! answer `InvalidSecurityToken.Expired` and never gain a re-created role's policies.
//!
//! Who may assume a role: a RAM user (the account's root key is refused, as Alibaba refuses an
//! Alibaba Cloud account: 403 `NoPermission`, "Roles may not be assumed by root accounts."). The
//! trust policy (AssumeRolePolicyDocument) must allow the user — naming it, or its account as a
//! whole — with the request's `sts:ExternalId` (the `ExternalId` parameter) among the facts its
//! conditions test, and the user also needs `sts:AssumeRole` on the role's ARN from its identity
//! policies (RAM's rule). A role session cannot assume another role (role chaining is not
//! implemented).

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use openkms_crypto::SecretBytes;
use openkms_domain::policy::{decide, Outcome, Policy, Principal, Request, RequestContext};
use openkms_domain::ValidationError;
use serde::{Deserialize, Serialize};

use crate::caller::RoleSession;
use crate::{ids, AccessKeyEntry, Caller, Error, Service};

/// Prefix of temporary access key ids.
pub const ACCESS_KEY_PREFIX: &str = "STS.";
/// Prefix of SecurityTokens (the shape of Alibaba's).
const TOKEN_PREFIX: &str = "CAIS";
/// Shortest session, in seconds (STS's documented minimum).
const MIN_DURATION: u64 = 900;
/// Default session, in seconds.
const DEFAULT_DURATION: u64 = 3600;
/// Largest session policy, in bytes.
const SESSION_POLICY_MAX_BYTES: usize = 2048;
/// ExternalId length bounds, in characters (STS's documented 2 to 1224).
const EXTERNAL_ID_LEN: (usize, usize) = (2, 1224);
/// The trust-policy condition key that tests the request's ExternalId.
pub const KEY_EXTERNAL_ID: &str = "sts:ExternalId";
/// Role ids kept at most; past it the cache starts over.
const ROLE_ID_CACHE_MAX: usize = 4096;

/// The stored RoleId of each role name sessions named (`None`: no such role), with a generation
/// bumped by every invalidation so that a lookup racing a role change does not cache its result.
#[derive(Default)]
pub(crate) struct RoleIdCache {
    entries: HashMap<String, Option<String>>,
    generation: u64,
}

/// Temporary credentials from AssumeRole.
pub struct AssumedRole {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    pub expires_at: i64,
    pub arn: String,
    pub assumed_role_id: String,
}

/// GetCallerIdentity's answer.
pub struct Identity {
    pub account_id: String,
    pub user_id: String,
    pub arn: String,
    pub identity_type: &'static str,
    pub principal_id: String,
    pub role_id: Option<String>,
}

/// What a SecurityToken seals.
#[derive(Serialize, Deserialize)]
struct Sealed {
    id: String,
    secret: String,
    role: String,
    role_id: String,
    session: String,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    policy: Option<String>,
}

impl Service {
    /// AssumeRole.
    pub async fn assume_role(
        &self,
        caller: &Caller,
        role_arn: &str,
        session_name: &str,
        duration_seconds: Option<u64>,
        session_policy: Option<&str>,
        external_id: Option<&str>,
    ) -> Result<AssumedRole, Error> {
        if caller.is_root() {
            return Err(Error::RootCannotAssumeRole);
        }
        check_session_name(session_name)?;
        if let Some(id) = external_id {
            check_external_id(id)?;
        }
        let role_name = role_arn
            .strip_prefix(&format!("acs:ram::{}:role/", self.account_id()))
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::RoleNotFound {
                name: role_arn.to_owned(),
            })?;
        let role = self
            .store
            .role(&crate::iam::existing_role(role_name)?)
            .await?
            .ok_or_else(|| Error::RoleNotFound {
                name: role_name.to_owned(),
            })?;
        // Parameters first: a malformed request is refused the same way whoever sends it.
        let max = u64::try_from(role.max_session_duration).unwrap_or(DEFAULT_DURATION);
        let duration = duration_seconds.unwrap_or(DEFAULT_DURATION.min(max));
        if !(MIN_DURATION..=max).contains(&duration) {
            return Err(ValidationError::OutOfRange {
                param: "DurationSeconds",
                min: "900",
                max: "the role's MaxSessionDuration",
            }
            .into());
        }
        if let Some(p) = session_policy {
            Policy::parse_identity(p, "Policy", SESSION_POLICY_MAX_BYTES)
                .map_err(Error::MalformedPolicyDocument)?;
        }
        let principal = if caller.session.is_some() {
            return Err(Error::AssumeRoleDenied);
        } else if let Some(user) = caller.user_name() {
            Principal::user(self.account_id(), user)
        } else {
            return Err(Error::AssumeRoleDenied);
        };
        let arn = self.role_arn(role.role_name.as_str());
        let context = RequestContext {
            source_ip: caller.source_ip,
            current_time: Some(self.now()),
            secure_transport: Some(false),
            mfa_present: Some(false),
            access_key_id: Some(&caller.access_key_id),
            other: external_id
                .map(|id| vec![(KEY_EXTERNAL_ID, id)])
                .unwrap_or_default(),
            ..RequestContext::default()
        };
        let request = Request {
            action: "sts:AssumeRole",
            resource: &arn,
            context: &context,
        };
        let trust = Policy::parse_trust(&role.trust_policy, usize::MAX)
            .map_err(|_| Error::internal("compile a stored trust policy"))?;
        if !matches!(
            trust.evaluate_for(&principal, self.account_id(), &request),
            Outcome::Allow | Outcome::Delegated
        ) {
            return Err(Error::AssumeRoleDenied);
        }
        let identity = self.identity_policies(&caller.principal).await?;
        let decision = decide(
            &principal,
            self.account_id(),
            identity.iter().map(|p| p.as_ref()),
            None,
            &request,
        );
        if !decision.is_allowed() {
            return Err(Error::AssumeRoleDenied);
        }
        let id = format!(
            "{ACCESS_KEY_PREFIX}{}",
            ids::access_key_id()?.trim_start_matches("LTAI")
        );
        let secret = ids::access_key_secret()?;
        let expires_at = self
            .now()
            .saturating_add(i64::try_from(duration).unwrap_or(i64::MAX));
        let sealed = Sealed {
            id: id.clone(),
            secret: secret.clone(),
            role: role.role_name.to_string(),
            role_id: role.role_id.clone(),
            session: session_name.to_owned(),
            exp: expires_at,
            policy: session_policy.map(str::to_owned),
        };
        let json = serde_json::to_vec(&sealed).map_err(|_| Error::internal("encode a session"))?;
        let (token_bytes, _root_id) = self
            .roots
            .seal(self.store.as_ref(), &json, &token_aad(&id))
            .await
            .map_err(|e| Error::root("seal a session", e))?;
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(token_bytes)
        );
        Ok(AssumedRole {
            access_key_id: id,
            access_key_secret: secret,
            security_token: token,
            expires_at,
            arn: format!(
                "acs:ram::{}:role/{}/{session_name}",
                self.account_id(),
                role.role_name
            ),
            assumed_role_id: format!("{}:{session_name}", role.role_id),
        })
    }

    /// The credentials an `STS.` access key id and its SecurityToken stand for.
    pub async fn sts_access_key(
        &self,
        access_key_id: &str,
        token: Option<&str>,
    ) -> Result<Arc<AccessKeyEntry>, Error> {
        let token = token.ok_or(Error::SecurityTokenMalformed)?;
        let bytes = token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .ok_or(Error::SecurityTokenMalformed)?;
        // The AAD binds the token to the access key id the request claims: another id fails here.
        let json = self
            .roots
            .open(self.store.as_ref(), &bytes, &token_aad(access_key_id))
            .await
            .map_err(|_| Error::SecurityTokenMismatch)?;
        let sealed: Sealed = serde_json::from_slice(json.expose_secret())
            .map_err(|_| Error::SecurityTokenMalformed)?;
        if sealed.id != access_key_id {
            return Err(Error::SecurityTokenMismatch);
        }
        if self.now() >= sealed.exp {
            return Err(Error::SecurityTokenExpired);
        }
        // Bound to the role's unique id: a deleted role, or another role of the same name, ends it.
        if self.current_role_id(&sealed.role).await?.as_deref() != Some(sealed.role_id.as_str()) {
            return Err(Error::SecurityTokenRoleGone);
        }
        let policy = match &sealed.policy {
            Some(text) => Some(Arc::new(
                Policy::parse_identity(text, "Policy", usize::MAX)
                    .map_err(|_| Error::SecurityTokenMalformed)?,
            )),
            None => None,
        };
        Ok(Arc::new(AccessKeyEntry {
            secret: SecretBytes::from_slice(sealed.secret.as_bytes()),
            principal: format!("role/{}", sealed.role),
            active: true,
            session: Some(Arc::new(RoleSession {
                role_name: sealed.role,
                role_id: sealed.role_id,
                session_name: sealed.session,
                expires_at: sealed.exp,
                policy,
            })),
        }))
    }

    /// The RoleId of the role named `role` now, `None` if there is none; cached.
    async fn current_role_id(&self, role: &str) -> Result<Option<String>, Error> {
        let generation = {
            let cache = self.role_ids.read();
            match cache.entries.get(role) {
                Some(id) => return Ok(id.clone()),
                None => cache.generation,
            }
        };
        // A name no role can have names no role.
        let id = match openkms_domain::RoleName::parse(role) {
            Ok(name) => self.store.role(&name).await?.map(|r| r.role_id),
            Err(_) => None,
        };
        let mut cache = self.role_ids.write();
        // A role created or deleted while this lookup ran bumped the generation: what was
        // read before that change must not go back into the cache.
        if cache.generation == generation {
            if cache.entries.len() >= ROLE_ID_CACHE_MAX {
                cache.entries.clear();
            }
            cache.entries.insert(role.to_owned(), id.clone());
        }
        Ok(id)
    }

    /// Empties the role-id cache: a role was created or deleted (here, or on another node).
    pub(crate) fn forget_role_ids(&self) {
        let mut cache = self.role_ids.write();
        cache.generation = cache.generation.wrapping_add(1);
        cache.entries.clear();
    }

    /// GetCallerIdentity.
    pub async fn get_caller_identity(&self, caller: &Caller) -> Result<Identity, Error> {
        let account = self.account_id().to_owned();
        if let Some(session) = &caller.session {
            let principal_id = format!("{}:{}", session.role_id, session.session_name);
            return Ok(Identity {
                arn: format!(
                    "acs:ram::{account}:assumed-role/{}/{}",
                    session.role_name, session.session_name
                ),
                user_id: principal_id.clone(),
                principal_id,
                identity_type: "AssumedRoleUser",
                role_id: Some(session.role_id.clone()),
                account_id: account,
            });
        }
        if let Some(user) = caller.user_name() {
            let record = self
                .store
                .user(&crate::iam::existing_user(user)?)
                .await?
                .ok_or_else(|| Error::UserNotFound {
                    name: user.to_owned(),
                })?;
            return Ok(Identity {
                arn: format!("acs:ram::{account}:user/{user}"),
                user_id: record.user_id.clone(),
                principal_id: record.user_id,
                identity_type: "RAMUser",
                role_id: None,
                account_id: account,
            });
        }
        Ok(Identity {
            arn: format!("acs:ram::{account}:root"),
            user_id: account.clone(),
            principal_id: account.clone(),
            identity_type: "Account",
            role_id: None,
            account_id: account,
        })
    }
}

/// AAD binding a sealed session to its access key id.
fn token_aad(access_key_id: &str) -> Vec<u8> {
    format!("openkms:sts-session:v1\0{access_key_id}").into_bytes()
}

/// ExternalId: 2 to 1224 letters, digits and `= , . @ : / - _` (STS's documented form).
fn check_external_id(id: &str) -> Result<(), Error> {
    let param = "ExternalId";
    let len = id.chars().count();
    if len < EXTERNAL_ID_LEN.0 || len > EXTERNAL_ID_LEN.1 {
        return Err(ValidationError::OutOfRange {
            param,
            min: "2 characters",
            max: "1224 characters",
        }
        .into());
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "=,.@:/-_".contains(c))
    {
        return Err(ValidationError::InvalidCharacter {
            param,
            allowed: "letters, digits and = , . @ : / - _",
        }
        .into());
    }
    Ok(())
}

/// RoleSessionName: 2 to 64 letters, digits, `.`, `@`, `-` and `_`.
fn check_session_name(name: &str) -> Result<(), Error> {
    let param = "RoleSessionName";
    if name.chars().count() < 2 || name.chars().count() > 64 {
        return Err(ValidationError::OutOfRange {
            param,
            min: "2 characters",
            max: "64 characters",
        }
        .into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_'))
    {
        return Err(ValidationError::InvalidCharacter {
            param,
            allowed: "letters, digits, periods (.), at signs (@), hyphens (-) and underscores (_)",
        }
        .into());
    }
    Ok(())
}

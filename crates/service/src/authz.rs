//! Authorization of KMS actions: the caller's identity policies and the secret's policy,
//! decided by `domain::policy::decide` before the action runs.
//!
//! - The account's root key bypasses everything (and costs nothing here).
//! - A RAM user's identity policies (attached system and customer policies) are compiled once
//!   and cached per user; any change to attachments, policy versions or users empties the cache
//!   (a generation counter keeps a load that raced a change from caching stale policies).
//! - A secret's policy is compiled once per distinct text and cached by that text, so a
//!   SetSecretPolicy needs no invalidation. Tags are read only when a policy tests `kms:tag/`.
//! - Resources are the ARNs of spec §5. A secret that does not exist is authorized on the ARN
//!   its name would have, so a caller without permission learns nothing about existence.
//!   Actions openkms cannot tie to one resource are checked on `*`, which only a statement with
//!   `Resource: "*"` matches: such a request fails closed. BatchGetSecretValue and the plural
//!   TagResources/UntagResources touch several secrets at once, where a secret policy's Deny or
//!   a customer key's permission would go unchecked: they are refused to RAM users for now.
//!   Which resources each action is checked on (`kms:<Action>` on each, unless named):
//!
//!   | actions | resources |
//!   | --- | --- |
//!   | CreateSecret | the ARN of the name the secret will have (CreateSecret: the KMS docs are unclear whether it is the container; **unconfirmed**); `kms:GenerateDataKey` on a customer EncryptionKeyId |
//!   | GetSecretValue | the secret (its policy and tags too); `kms:Decrypt` on its customer key |
//!   | PutSecretValue, RotateSecret | the secret; `kms:GenerateDataKey` on its customer key |
//!   | DescribeSecret, ListSecretVersionIds, DeleteSecret, RestoreSecret, UpdateSecret, UpdateSecretVersionStage, Get/SetSecretPolicy, UpdateSecretRotationPolicy | the secret |
//!   | ListSecrets | `acs:kms:<region>:<uid>:secret` |
//!   | CreateKey, ListKeys | `…:key` |
//!   | ListAliases | `…:alias` |
//!   | CreateAlias | the alias and the key |
//!   | UpdateAlias | the alias, the key it names now, the new key |
//!   | DeleteAlias | the alias and the key it names now |
//!   | Decrypt | the key the CiphertextBlob names (`*` for a blob that names none) |
//!   | DescribeKey, UpdateKeyDescription, Enable/DisableKey, Schedule/CancelKeyDeletion, CreateKeyVersion, DescribeKeyVersion, ListKeyVersions, UpdateRotationPolicy, ListAliasesByKeyId, Encrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, ListResourceTags | the key (an alias or ARN: the key it resolves to) |
//!   | TagResource, UntagResource | the one secret, key or certificate named |
//!   | BatchGetSecretValue, TagResources, UntagResources | root key only |
//!   | DescribeRegions | nothing |
//!   | every other action (ListTagResources, instances, GetRandomPassword, unimplemented ones) | `*` |
//! - A secret under a customer key (EncryptionKeyId, not the service-managed key) also needs
//!   `kms:Decrypt` on that key to read a value and `kms:GenerateDataKey` to write one.
//! - Every resource an action touches is checked with the action's own name (threat model
//!   rule 1): CreateAlias the alias and the key; UpdateAlias the alias, the key it points at now
//!   and the new key; DeleteAlias the alias and the key it points at. A `KeyId` given as an
//!   alias or ARN is checked on the key it resolves to (the alias names the key; rights travel
//!   with the key, not the name — moving a name needs rights on both keys). Unknown resources
//!   are checked on the ARN the text would name (a bare key id) or on the text itself, so a
//!   caller out of scope gets 403 whether or not the resource exists.
//! - What authorization resolved is what the action uses: [`Authorized`] carries the key id a
//!   `KeyId` resolved to and the key an alias pointed at, and the handler acts on those (an
//!   alias moved between check and use cannot redirect the action; UpdateAlias and DeleteAlias
//!   apply only if the alias still points where it did when checked).
//! - Condition facts: `acs:SourceIp` (peer address), `acs:CurrentTime` (the service clock),
//!   `acs:SecureTransport` (false: openkms serves plain HTTP; a TLS terminator in front is not
//!   visible), `acs:MFAPresent` (false: no MFA sign-in exists), `acs:AccessId`, `kms:tag/<key>`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use openkms_domain::key::{AliasName, KeyRef};
use openkms_domain::policy::{
    compiled_system_policy, decide, Outcome, Policy, Principal, Request, RequestContext,
};
use openkms_domain::{alias_arn, key_arn, secret_arn};
use openkms_store::{SecretRecord, TagRecord};

use crate::{Caller, Error, Service};

/// Compiled secret policies kept at most; past it the cache starts over.
const SECRET_POLICY_CACHE_MAX: usize = 4096;

/// What a KMS request acts on, as the server read it from the parameters (one rule per
/// action: `server::handlers::authz::target`).
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Nothing to authorize (DescribeRegions).
    Nothing,
    /// No single resource: checked on `*`.
    Any,
    /// Acts on many secrets at once in ways per-secret policies could not restrict (values of
    /// several secrets, tags across resources): only the root key may call it for now.
    RootOnly,
    /// The secret container (ListSecrets).
    SecretContainer,
    /// The key container (CreateKey, ListKeys).
    KeyContainer,
    /// The alias container (ListAliases).
    AliasContainer,
    /// One existing secret, by name or ARN, and the key permission its value needs.
    Secret { name: &'a str, key_use: KeyUse },
    /// A secret about to be created: the name as given, the SecretType and ExtendedConfig that
    /// may choose the real name (a RAMCredentials secret named by its user), and the
    /// EncryptionKeyId, if any.
    NewSecret {
        name: &'a str,
        secret_type: Option<&'a str>,
        extended_config: Option<&'a str>,
        encryption_key: Option<&'a str>,
    },
    /// A key by id, alias or ARN.
    Key(&'a str),
    /// The key a CiphertextBlob names (Decrypt).
    Ciphertext(&'a str),
    /// CreateAlias: the new alias and the key it will name.
    NewAlias { alias: &'a str, key: &'a str },
    /// UpdateAlias: the alias, the key it names now, and the key it will name.
    MovedAlias { alias: &'a str, key: &'a str },
    /// DeleteAlias: the alias and the key it names now.
    Alias(&'a str),
    /// A certificate by id (TagResource / UntagResource with CertificateId).
    Certificate(&'a str),
}

/// What authorization resolved, for the action to use instead of resolving the parameters
/// again. Empty for the root key (nothing is checked, so nothing can differ).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorized {
    /// The key id that a `KeyId` (or CreateSecret's `EncryptionKeyId`) resolved to.
    pub key_id: Option<String>,
    /// The key an alias named when authorized (UpdateAlias, DeleteAlias).
    pub alias_key_id: Option<String>,
    /// The stored secret whose policy and key were checked (its row id, which a secret
    /// re-created under the same name does not share).
    pub secret_id: Option<i64>,
}

impl Authorized {
    /// The key the action must use: the resolved id, else the parameter text (root, or a key
    /// that did not resolve and will fail with its own error).
    pub fn key<'a>(&'a self, text: &'a str) -> &'a str {
        self.key_id.as_deref().unwrap_or(text)
    }
}

/// The permission a secret's customer key must grant for the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// None (metadata actions).
    None,
    /// Reading a value: `kms:Decrypt`.
    Decrypt,
    /// Writing a value: `kms:GenerateDataKey`.
    GenerateDataKey,
}

/// One decision: (action, resource, secret policy, resource tags) → allowed or refused.
type Check<'c> = dyn Fn(&str, &str, Option<&Policy>, &[TagRecord]) -> Result<(), Error> + Sync + 'c;

/// The identity policies of one user, compiled.
pub(crate) type IdentityPolicies = Arc<Vec<Arc<Policy>>>;

impl Service {
    /// Decides whether `caller` may run KMS `action` on every resource of `target`;
    /// `Forbidden.NoPermission` naming the action and the first refused resource otherwise.
    /// Returns what it resolved, which the action must use.
    pub async fn authorize(
        &self,
        caller: &Caller,
        action: &str,
        target: Target<'_>,
    ) -> Result<Authorized, Error> {
        if caller.is_root() {
            return Ok(Authorized::default());
        }
        let Some(principal) = self.principal_of(caller) else {
            return Err(self.denied(&format!("kms:{action}"), "*"));
        };
        let identity = self.identity_policies(&caller.principal).await?;
        let action = format!("kms:{action}");
        let region = self.region().to_owned();
        let account = self.account_id().to_owned();
        let check = |action: &str,
                     resource: &str,
                     secret_policy: Option<&Policy>,
                     tags: &[TagRecord]|
         -> Result<(), Error> {
            if self.allows(
                caller,
                &principal,
                &identity,
                action,
                resource,
                secret_policy,
                tags,
            ) {
                Ok(())
            } else {
                Err(self.denied(action, resource))
            }
        };
        let mut resolved = Authorized::default();
        match target {
            Target::Nothing => {}
            Target::RootOnly => return Err(self.denied(&action, "*")),
            Target::Any => check(&action, "*", None, &[])?,
            Target::SecretContainer => check(
                &action,
                &format!("acs:kms:{region}:{account}:secret"),
                None,
                &[],
            )?,
            Target::KeyContainer => check(
                &action,
                &format!("acs:kms:{region}:{account}:key"),
                None,
                &[],
            )?,
            Target::AliasContainer => check(
                &action,
                &format!("acs:kms:{region}:{account}:alias"),
                None,
                &[],
            )?,
            Target::Certificate(id) => check(
                &action,
                &format!("acs:kms:{region}:{account}:certificate/{id}"),
                None,
                &[],
            )?,
            Target::Key(text) => {
                let (arn, key_id) = self.key_resource(text).await?;
                check(&action, &arn, None, &[])?;
                resolved.key_id = key_id;
            }
            Target::Ciphertext(blob) => {
                let arn = crate::keys::blob_key_id(blob)
                    .map_or_else(|| "*".to_owned(), |id| key_arn(&region, &account, &id));
                check(&action, &arn, None, &[])?;
            }
            Target::NewAlias { alias, key } => {
                check(&action, &alias_arn(&region, &account, alias), None, &[])?;
                let (arn, key_id) = self.key_resource(key).await?;
                check(&action, &arn, None, &[])?;
                resolved.key_id = key_id;
            }
            Target::MovedAlias { alias, key } => {
                resolved.alias_key_id = self.alias_and_its_key(alias, &action, &check).await?;
                let (arn, key_id) = self.key_resource(key).await?;
                check(&action, &arn, None, &[])?;
                resolved.key_id = key_id;
            }
            Target::Alias(alias) => {
                resolved.alias_key_id = self.alias_and_its_key(alias, &action, &check).await?;
            }
            Target::NewSecret {
                name,
                secret_type,
                extended_config,
                encryption_key,
            } => {
                // The name the secret will really have (a RAMCredentials secret may be named
                // after its user); a request that names none fails validation later.
                let arn = match crate::secrets::new_secret_name(name, secret_type, extended_config)
                {
                    Some(n) => secret_arn(&region, &account, &n),
                    None => self.secret_resource(name),
                };
                check(&action, &arn, None, &[])?;
                if let Some(key) = encryption_key {
                    resolved.key_id = self.check_key_use(key, "GenerateDataKey", &check).await?;
                }
            }
            Target::Secret { name, key_use } => {
                let arn = self.secret_resource(name);
                let record = match self.secret_name(name) {
                    Ok(n) => self.store.secret(n.as_str()).await?,
                    Err(_) => None,
                };
                let Some(record) = record else {
                    check(&action, &arn, None, &[])?;
                    return Ok(resolved);
                };
                let policy = self.secret_policy(&record.policy)?;
                let needs_tags = policy.tests_tags() || identity.iter().any(|p| p.tests_tags());
                let tags = if needs_tags {
                    self.store.secret_tags(record.id).await?
                } else {
                    Vec::new()
                };
                check(&action, &arn, Some(&policy), &tags)?;
                resolved.secret_id = Some(record.id);
                let permission = match key_use {
                    KeyUse::None => None,
                    KeyUse::Decrypt => Some("Decrypt"),
                    KeyUse::GenerateDataKey => Some("GenerateDataKey"),
                };
                // The row holds the resolved key id: no key lookup on this hot path.
                if let (Some(permission), Some(key_id)) =
                    (permission, customer_key(&record, &self.meta.service_key_id))
                {
                    check(
                        &format!("kms:{permission}"),
                        &key_arn(&region, &account, key_id),
                        None,
                        &[],
                    )?;
                }
            }
        }
        Ok(resolved)
    }

    /// The policy principal a non-root caller acts as: its role for a session, else its user.
    pub(crate) fn principal_of(&self, caller: &Caller) -> Option<Principal> {
        match (&caller.session, caller.user_name()) {
            (Some(session), _) => Some(Principal::role(self.account_id(), &session.role_name)),
            (None, Some(user)) => Some(Principal::user(self.account_id(), user)),
            (None, None) => None,
        }
    }

    /// One decision: the identity policies (and the resource's secret policy, if any) allow
    /// `action` on `resource`, and a session policy, which can only narrow, allows it too.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn allows(
        &self,
        caller: &Caller,
        principal: &Principal,
        identity: &IdentityPolicies,
        action: &str,
        resource: &str,
        secret_policy: Option<&Policy>,
        tags: &[TagRecord],
    ) -> bool {
        let context = RequestContext {
            source_ip: caller.source_ip,
            current_time: Some(self.now()),
            secure_transport: Some(false),
            mfa_present: Some(false),
            access_key_id: Some(&caller.access_key_id),
            tags: tags
                .iter()
                .map(|t| (t.key.as_str(), t.value.as_str()))
                .collect(),
            other: Vec::new(),
        };
        let request = Request {
            action,
            resource,
            context: &context,
        };
        let decision = decide(
            principal,
            self.account_id(),
            identity.iter().map(|p| p.as_ref()),
            secret_policy,
            &request,
        );
        // A session policy can only narrow: it must allow as well, and its Deny denies.
        let narrowed = caller
            .session
            .as_ref()
            .and_then(|s| s.policy.as_ref())
            .is_none_or(|p| p.evaluate(&request) == Outcome::Allow);
        decision.is_allowed() && narrowed
    }

    /// Empties the identity-policy cache: attachments, policy versions or users changed.
    pub(crate) fn forget_identity_policies(&self) {
        self.policy_generation.fetch_add(1, Ordering::SeqCst);
        self.identity_policies.write().clear();
    }

    fn denied(&self, action: &str, resource: &str) -> Error {
        Error::NoPermission {
            action: action.to_owned(),
            resource: resource.to_owned(),
        }
    }

    /// The ARN of a secret named by name or ARN; the text itself when it names none.
    fn secret_resource(&self, text: &str) -> String {
        match self.secret_name(text) {
            Ok(name) => secret_arn(self.region(), self.account_id(), &name),
            Err(_) => text.to_owned(),
        }
    }

    /// The ARN to check for a `KeyId` parameter and the key id it resolved to. A key that
    /// does not resolve is checked on the ARN a bare id would have, or on the text itself
    /// (an alias or ARN that names nothing here: only `*` matches), so the refusal does not
    /// depend on whether the key exists.
    async fn key_resource(&self, text: &str) -> Result<(String, Option<String>), Error> {
        match self.resolve_key(text).await {
            Ok(key) => Ok((
                key_arn(self.region(), self.account_id(), &key.key_id),
                Some(key.key_id),
            )),
            Err(Error::KeyNotFound) => {
                let arn = match KeyRef::parse(text) {
                    Ok(KeyRef::Id(id)) => key_arn(self.region(), self.account_id(), &id),
                    _ => text.to_owned(),
                };
                Ok((arn, None))
            }
            Err(e) => Err(e),
        }
    }

    /// Checks `action` on an alias and on the key it names now; returns that key's id (`None`
    /// for an alias that does not exist, which then fails with its own 404).
    async fn alias_and_its_key(
        &self,
        alias: &str,
        action: &str,
        check: &Check<'_>,
    ) -> Result<Option<String>, Error> {
        check(
            action,
            &alias_arn(self.region(), self.account_id(), alias),
            None,
            &[],
        )?;
        let current = match AliasName::parse(alias) {
            Ok(name) => self.store.alias(name.as_str()).await?,
            Err(_) => None,
        };
        match current {
            Some(a) => {
                check(
                    action,
                    &key_arn(self.region(), self.account_id(), &a.key_id),
                    None,
                    &[],
                )?;
                Ok(Some(a.key_id))
            }
            None => Ok(None),
        }
    }

    /// Checks `permission` on the key a secret will be sealed with; returns its id.
    async fn check_key_use(
        &self,
        key_text: &str,
        permission: &str,
        check: &Check<'_>,
    ) -> Result<Option<String>, Error> {
        let key = match self.resolve_key(key_text).await {
            Ok(k) => k,
            // An unknown key fails later with its own error; nothing to authorize on.
            Err(Error::KeyNotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        if key.key_id != self.meta.service_key_id {
            let arn = key_arn(self.region(), self.account_id(), &key.key_id);
            check(&format!("kms:{permission}"), &arn, None, &[])?;
        }
        Ok(Some(key.key_id))
    }

    /// The compiled secret policy, from the cache keyed by its text.
    fn secret_policy(&self, text: &str) -> Result<Arc<Policy>, Error> {
        if let Some(p) = self.secret_policies.read().get(text).cloned() {
            return Ok(p);
        }
        // Stored policies were checked when written; one that no longer parses grants nothing.
        let policy = Arc::new(
            Policy::parse_secret(text)
                .map_err(|_| Error::internal("compile a stored secret policy"))?,
        );
        let mut m = self.secret_policies.write();
        if m.len() >= SECRET_POLICY_CACHE_MAX {
            m.clear();
        }
        m.insert(text.to_owned(), policy.clone());
        Ok(policy)
    }

    /// The identity policies of a principal (`user/<name>`, `role/<name>`), compiled, from the
    /// cache or the store.
    pub(crate) async fn identity_policies(
        &self,
        principal: &str,
    ) -> Result<IdentityPolicies, Error> {
        if let Some(p) = self.identity_policies.read().get(principal).cloned() {
            return Ok(p);
        }
        let generation = self.policy_generation.load(Ordering::SeqCst);
        // A principal that is gone has no policies.
        let attachments = self.store.attachments_of(principal).await?;
        let mut policies = Vec::with_capacity(attachments.len());
        for a in attachments {
            if a.policy_type == openkms_domain::PolicyType::System {
                if let Some(p) = compiled_system_policy(a.policy_name.as_str()) {
                    policies.push(Arc::new(p.clone()));
                }
            } else if let Some((_, version)) = self.store.policy(&a.policy_name).await? {
                let compiled =
                    Policy::parse_identity(&version.document, "PolicyDocument", usize::MAX)
                        .map_err(|_| Error::internal("compile a stored identity policy"))?;
                policies.push(Arc::new(compiled));
            }
        }
        let policies: IdentityPolicies = Arc::new(policies);
        let mut m = self.identity_policies.write();
        if self.policy_generation.load(Ordering::SeqCst) == generation {
            m.insert(principal.to_owned(), policies.clone());
        }
        Ok(policies)
    }
}

/// The customer key that seals the secret's values, `None` for the service-managed key.
fn customer_key<'r>(record: &'r SecretRecord, service_key_id: &str) -> Option<&'r str> {
    record
        .encryption_key_id
        .as_deref()
        .filter(|k| !k.is_empty() && *k != service_key_id)
}

//! A policy compiled once for evaluation: patterns folded, conditions parsed, principals
//! classified. Evaluation walks the statements without allocating (unless a condition asks for
//! a value that needs rendering), so a cached [`Policy`] is cheap to test per request.

use super::condition::{Condition, RequestContext, KEY_TAG_PREFIX};
use super::document::{parse_document, DocumentKind, PolicyDocument, POLICY_MAX_BYTES};
use super::pattern::{Case, Pattern};
use super::Effect;
use crate::error::ValidationError;

/// A compiled policy, identity or secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    statements: Vec<CompiledStatement>,
}

/// What one request asks: an action on a resource, with the facts conditions test.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The action, `kms:GetSecretValue`.
    pub action: &'a str,
    /// The resource ARN, `acs:kms:cn-hangzhou:1234567890123456:secret/app/db`.
    pub resource: &'a str,
    /// Values for condition keys.
    pub context: &'a RequestContext<'a>,
}

/// Whom a request comes from, as policies see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    account_id: String,
    kind: PrincipalKind,
    /// The ARN secret-policy principals are matched against (`acs:ram::<uid>:user/<name>`;
    /// a role session matches as its role).
    arn: String,
}

/// The kinds of principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account itself (its root access key).
    Root,
    /// A RAM user, by name.
    User(String),
    /// A RAM role (or a session of it), by name.
    Role(String),
}

impl Principal {
    /// The account's root identity.
    pub fn root(account_id: &str) -> Self {
        Self::new(account_id, PrincipalKind::Root)
    }

    /// A RAM user of `account_id`.
    pub fn user(account_id: &str, name: &str) -> Self {
        Self::new(account_id, PrincipalKind::User(name.to_owned()))
    }

    /// A RAM role of `account_id` (also used for its sessions).
    pub fn role(account_id: &str, name: &str) -> Self {
        Self::new(account_id, PrincipalKind::Role(name.to_owned()))
    }

    fn new(account_id: &str, kind: PrincipalKind) -> Self {
        let arn = match &kind {
            PrincipalKind::Root => format!("acs:ram::{account_id}:root"),
            PrincipalKind::User(name) => format!("acs:ram::{account_id}:user/{name}"),
            PrincipalKind::Role(name) => format!("acs:ram::{account_id}:role/{name}"),
        };
        Self {
            account_id: account_id.to_owned(),
            kind,
            arn,
        }
    }

    /// The principal's account id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// What kind of principal this is.
    pub fn kind(&self) -> &PrincipalKind {
        &self.kind
    }

    /// The principal's RAM ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }
}

/// The result of testing one policy against a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A matching `Deny` statement.
    Deny,
    /// A matching `Allow` statement (and no `Deny`).
    Allow,
    /// For secret policies: the only matching `Allow` names the caller's whole account
    /// (`acs:ram::<uid>:*` or `:root`), which grants nothing by itself to a RAM user or role of
    /// that account: the decision passes to the caller's identity policies.
    Delegated,
    /// No statement applies.
    NotApplicable,
}

impl Policy {
    /// Parses and compiles an identity policy document given in `param`.
    pub fn parse_identity(
        text: &str,
        param: &'static str,
        max_bytes: usize,
    ) -> Result<Self, ValidationError> {
        Self::compile(&parse_document(
            text,
            DocumentKind::Identity,
            param,
            max_bytes,
        )?)
        .map_err(|reason| ValidationError::invalid(param, reason))
    }

    /// Parses and compiles a secret policy (`Policy` of CreateSecret/SetSecretPolicy).
    pub fn parse_secret(text: &str) -> Result<Self, ValidationError> {
        Self::compile(&parse_document(
            text,
            DocumentKind::Secret,
            "Policy",
            POLICY_MAX_BYTES,
        )?)
        .map_err(|reason| ValidationError::invalid("Policy", reason))
    }

    /// Parses and compiles a role's trust policy (`AssumeRolePolicyDocument`).
    pub fn parse_trust(text: &str, max_bytes: usize) -> Result<Self, ValidationError> {
        let param = "AssumeRolePolicyDocument";
        Self::compile(&parse_document(
            text,
            DocumentKind::Trust,
            param,
            max_bytes,
        )?)
        .map_err(|reason| ValidationError::invalid(param, reason))
    }

    /// Compiles a checked document. Fails only if a condition does not compile, which a document
    /// from [`parse_document`] has already ruled out.
    pub fn compile(document: &PolicyDocument) -> Result<Self, &'static str> {
        let statements = document
            .statements
            .iter()
            .map(|s| {
                let conditions = s
                    .conditions
                    .iter()
                    .flat_map(|(op, keys)| keys.iter().map(move |(key, values)| (op, key, values)))
                    .map(|(op, key, values)| Condition::compile(op, key, values))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(CompiledStatement {
                    effect: s.effect,
                    principals: s
                        .principals
                        .as_ref()
                        .map(|ps| ps.iter().map(|p| PrincipalPattern::new(p)).collect()),
                    actions: s
                        .actions
                        .iter()
                        .map(|a| Pattern::new(a, Case::Insensitive))
                        .collect(),
                    // A trust policy names no resource: it applies to its own role.
                    resources: if s.resources.is_empty() {
                        vec![Pattern::new("*", Case::Sensitive)]
                    } else {
                        s.resources
                            .iter()
                            .map(|r| Pattern::new(r, Case::Sensitive))
                            .collect()
                    },
                    conditions,
                })
            })
            .collect::<Result<Vec<_>, &'static str>>()?;
        Ok(Self { statements })
    }

    /// Whether a condition tests the resource's tags (`kms:tag/<key>`): the service reads the
    /// tags only for such policies, keeping the common path free of a tag lookup.
    pub fn tests_tags(&self) -> bool {
        self.statements.iter().any(|s| {
            s.conditions.iter().any(|c| {
                c.key()
                    .get(..KEY_TAG_PREFIX.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(KEY_TAG_PREFIX))
            })
        })
    }

    /// Tests the policy as an identity policy: principals are not consulted.
    pub fn evaluate(&self, request: &Request<'_>) -> Outcome {
        let mut outcome = Outcome::NotApplicable;
        for statement in &self.statements {
            if !statement.applies(request) {
                continue;
            }
            match statement.effect {
                Effect::Deny => return Outcome::Deny,
                Effect::Allow => outcome = Outcome::Allow,
            }
        }
        outcome
    }

    /// Tests the policy as the secret policy of a secret owned by `owner_account`, for a request
    /// by `principal`. A statement applies when one of its principals matches the caller.
    pub fn evaluate_for(
        &self,
        principal: &Principal,
        owner_account: &str,
        request: &Request<'_>,
    ) -> Outcome {
        let same_account = principal.account_id == owner_account;
        let mut outcome = Outcome::NotApplicable;
        for statement in &self.statements {
            let Some(patterns) = &statement.principals else {
                continue;
            };
            let mut named = false;
            let mut whole_account = false;
            for pattern in patterns {
                match pattern.matches(principal) {
                    PrincipalMatch::Named => named = true,
                    PrincipalMatch::WholeAccount => whole_account = true,
                    PrincipalMatch::No => {}
                }
            }
            if !(named || whole_account) || !statement.applies(request) {
                continue;
            }
            match statement.effect {
                Effect::Deny => return Outcome::Deny,
                // Naming another account as a whole is a direct grant to its identities.
                Effect::Allow if named || !same_account => outcome = Outcome::Allow,
                Effect::Allow => {
                    if outcome == Outcome::NotApplicable {
                        outcome = Outcome::Delegated;
                    }
                }
            }
        }
        outcome
    }
}

#[derive(Debug, Clone, PartialEq)]
struct CompiledStatement {
    effect: Effect,
    principals: Option<Vec<PrincipalPattern>>,
    actions: Vec<Pattern>,
    resources: Vec<Pattern>,
    conditions: Vec<Condition>,
}

impl CompiledStatement {
    fn applies(&self, request: &Request<'_>) -> bool {
        self.actions.iter().any(|a| a.matches(request.action))
            && self.resources.iter().any(|r| r.matches(request.resource))
            && self.conditions.iter().all(|c| c.holds(request.context))
    }
}

/// A secret-policy principal: a whole account (`acs:ram::<uid>:*`, `:root`; `<uid>` may be `*`)
/// or a named user or role pattern.
#[derive(Debug, Clone, PartialEq)]
enum PrincipalPattern {
    WholeAccount(Pattern),
    Named(Pattern),
}

enum PrincipalMatch {
    Named,
    WholeAccount,
    No,
}

impl PrincipalPattern {
    fn new(text: &str) -> Self {
        let account_wide = text
            .strip_prefix("acs:ram::")
            .and_then(|rest| rest.split_once(':'))
            .filter(|(_, resource)| matches!(*resource, "*" | "root"));
        match account_wide {
            Some((uid, _)) => Self::WholeAccount(Pattern::new(uid, Case::Sensitive)),
            None => Self::Named(Pattern::new(text, Case::Sensitive)),
        }
    }

    fn matches(&self, principal: &Principal) -> PrincipalMatch {
        match self {
            Self::WholeAccount(uid) if uid.matches(&principal.account_id) => {
                PrincipalMatch::WholeAccount
            }
            Self::Named(arn) if arn.matches(&principal.arn) => PrincipalMatch::Named,
            _ => PrincipalMatch::No,
        }
    }
}

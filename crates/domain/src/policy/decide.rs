//! The decision for one request: the caller's identity policies and the resource's secret policy
//! together, as KMS's "Overview of secret policies" describes:
//!
//! - The owning account's root identity is always allowed: it bypasses identity policies and is
//!   never denied by a secret policy, so an operator can always repair a bad policy.
//! - An explicit `Deny` in any identity policy or in the secret policy wins.
//! - A RAM user or role of the owning account is allowed when an identity policy allows, or the
//!   secret policy allows it directly (naming the user or role). A secret-policy `Allow` that names
//!   only the whole account ([`Outcome::Delegated`]) leaves the decision to identity policies.
//! - A principal of another account needs both: a secret-policy grant and an identity `Allow`
//!   (another account's root counts as allowed by its own identity policies).
//! - Otherwise the request is implicitly denied.

use super::compiled::{Outcome, Policy, Principal, PrincipalKind, Request};

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request may proceed.
    Allow,
    /// A `Deny` statement matched.
    ExplicitDeny,
    /// Nothing allowed the request.
    ImplicitDeny,
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(self) -> bool {
        self == Self::Allow
    }
}

/// Decides `request` by `principal` on a resource of `owner_account`, given the caller's
/// identity policies and the resource's policy, if it has one.
pub fn decide<'p>(
    principal: &Principal,
    owner_account: &str,
    identity_policies: impl IntoIterator<Item = &'p Policy>,
    resource_policy: Option<&Policy>,
    request: &Request<'_>,
) -> Decision {
    let same_account = principal.account_id() == owner_account;
    let is_root = matches!(principal.kind(), PrincipalKind::Root);
    if is_root && same_account {
        return Decision::Allow;
    }
    let mut identity = if is_root {
        Outcome::Allow
    } else {
        Outcome::NotApplicable
    };
    for policy in identity_policies {
        match policy.evaluate(request) {
            Outcome::Deny => return Decision::ExplicitDeny,
            Outcome::Allow => identity = Outcome::Allow,
            Outcome::Delegated | Outcome::NotApplicable => {}
        }
    }
    let resource = resource_policy.map_or(Outcome::NotApplicable, |p| {
        p.evaluate_for(principal, owner_account, request)
    });
    if resource == Outcome::Deny {
        return Decision::ExplicitDeny;
    }
    let identity_allows = identity == Outcome::Allow;
    let resource_allows = resource == Outcome::Allow;
    let allowed = if same_account {
        identity_allows || resource_allows
    } else {
        identity_allows && resource_allows
    };
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

#[cfg(test)]
mod tests {
    use super::super::condition::RequestContext;
    use super::*;

    const OWNER: &str = "1234567890123456";
    const OTHER: &str = "6543210987654321";
    const SECRET: &str = "acs:kms:cn-hangzhou:1234567890123456:secret/app/db";

    fn identity(text: &str) -> Policy {
        Policy::parse_identity(text, "PolicyDocument", 6144).unwrap()
    }

    fn secret(statements: &str) -> Policy {
        Policy::parse_secret(&format!(r#"{{"Version":"1","Statement":[{statements}]}}"#)).unwrap()
    }

    fn ask(
        principal: &Principal,
        identities: &[&Policy],
        resource: Option<&Policy>,
        action: &str,
        arn: &str,
    ) -> Decision {
        let context = RequestContext::default();
        let request = Request {
            action,
            resource: arn,
            context: &context,
        };
        decide(
            principal,
            OWNER,
            identities.iter().copied(),
            resource,
            &request,
        )
    }

    fn app_reader() -> Policy {
        identity(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:GetSecretValue","Resource":"acs:kms:*:*:secret/app/*"}]}"#,
        )
    }

    fn default_policy() -> Policy {
        Policy::parse_secret(&super::super::default_secret_policy(OWNER)).unwrap()
    }

    #[test]
    fn root_of_the_owning_account_is_always_allowed() {
        let deny_all = secret(
            r#"{"Effect":"Deny","Principal":{"RAM":"acs:ram::*:*"},"Action":"kms:*","Resource":"*"}"#,
        );
        let root = Principal::root(OWNER);
        assert_eq!(
            ask(&root, &[], Some(&deny_all), "kms:GetSecretValue", SECRET),
            Decision::Allow
        );
    }

    #[test]
    fn identity_policy_allows_matching_resources_only() {
        let alice = Principal::user(OWNER, "alice");
        let policy = app_reader();
        let default = default_policy();
        assert_eq!(
            ask(
                &alice,
                &[&policy],
                Some(&default),
                "kms:GetSecretValue",
                SECRET
            ),
            Decision::Allow
        );
        let other = "acs:kms:cn-hangzhou:1234567890123456:secret/db/main";
        assert_eq!(
            ask(
                &alice,
                &[&policy],
                Some(&default),
                "kms:GetSecretValue",
                other
            ),
            Decision::ImplicitDeny
        );
        assert_eq!(
            ask(
                &alice,
                &[&policy],
                Some(&default),
                "kms:PutSecretValue",
                SECRET
            ),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn account_wide_secret_policy_grants_nothing_by_itself() {
        let alice = Principal::user(OWNER, "alice");
        let default = default_policy();
        assert_eq!(
            ask(&alice, &[], Some(&default), "kms:GetSecretValue", SECRET),
            Decision::ImplicitDeny
        );
        let root_form = secret(
            r#"{"Effect":"Allow","Principal":{"RAM":"acs:ram::1234567890123456:root"},"Action":"kms:*","Resource":"*"}"#,
        );
        assert_eq!(
            ask(&alice, &[], Some(&root_form), "kms:GetSecretValue", SECRET),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn secret_policy_naming_a_user_grants_directly() {
        let bob = Principal::user(OWNER, "bob");
        let policy = secret(
            r#"{"Effect":"Allow","Principal":{"RAM":"acs:ram::1234567890123456:user/bob"},"Action":"kms:GetSecretValue","Resource":"*"}"#,
        );
        assert_eq!(
            ask(&bob, &[], Some(&policy), "kms:GetSecretValue", SECRET),
            Decision::Allow
        );
        let carol = Principal::user(OWNER, "carol");
        assert_eq!(
            ask(&carol, &[], Some(&policy), "kms:GetSecretValue", SECRET),
            Decision::ImplicitDeny
        );
        let role = Principal::role(OWNER, "bob");
        assert_eq!(
            ask(&role, &[], Some(&policy), "kms:GetSecretValue", SECRET),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn deny_in_secret_policy_beats_allow_in_identity_policy() {
        let alice = Principal::user(OWNER, "alice");
        let policy = app_reader();
        let deny = secret(
            r#"{"Effect":"Deny","Principal":{"RAM":"acs:ram::1234567890123456:user/alice"},"Action":"kms:GetSecretValue","Resource":"*"},{"Effect":"Allow","Principal":{"RAM":"acs:ram::1234567890123456:*"},"Action":"kms:*","Resource":"*"}"#,
        );
        assert_eq!(
            ask(
                &alice,
                &[&policy],
                Some(&deny),
                "kms:GetSecretValue",
                SECRET
            ),
            Decision::ExplicitDeny
        );
        let account_deny = secret(
            r#"{"Effect":"Deny","Principal":{"RAM":"acs:ram::1234567890123456:*"},"Action":"kms:Get*","Resource":"*"}"#,
        );
        assert_eq!(
            ask(
                &alice,
                &[&policy],
                Some(&account_deny),
                "kms:GetSecretValue",
                SECRET
            ),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn deny_in_identity_policy_beats_direct_secret_policy_grant() {
        let bob = Principal::user(OWNER, "bob");
        let grant = secret(
            r#"{"Effect":"Allow","Principal":{"RAM":"acs:ram::1234567890123456:user/bob"},"Action":"kms:*","Resource":"*"}"#,
        );
        let deny = identity(
            r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*"}]}"#,
        );
        assert_eq!(
            ask(&bob, &[&deny], Some(&grant), "kms:GetSecretValue", SECRET),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn another_account_needs_both_grants() {
        let stranger = Principal::user(OTHER, "eve");
        let grant = secret(
            r#"{"Effect":"Allow","Principal":{"RAM":"acs:ram::6543210987654321:*"},"Action":"kms:GetSecretValue","Resource":"*"}"#,
        );
        let all = identity(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
        );
        assert_eq!(
            ask(
                &stranger,
                &[&all],
                Some(&grant),
                "kms:GetSecretValue",
                SECRET
            ),
            Decision::Allow
        );
        assert_eq!(
            ask(&stranger, &[], Some(&grant), "kms:GetSecretValue", SECRET),
            Decision::ImplicitDeny
        );
        assert_eq!(
            ask(
                &stranger,
                &[&all],
                Some(&default_policy()),
                "kms:GetSecretValue",
                SECRET
            ),
            Decision::ImplicitDeny
        );
        let other_root = Principal::root(OTHER);
        assert_eq!(
            ask(&other_root, &[], Some(&grant), "kms:GetSecretValue", SECRET),
            Decision::Allow
        );
    }

    #[test]
    fn trust_policies_name_who_may_assume_a_role() {
        let trust = Policy::parse_trust(
            r#"{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"RAM":["acs:ram::1234567890123456:user/alice"],"Service":["ecs.aliyuncs.com"]}}],"Version":"1"}"#,
            2048,
        )
        .unwrap();
        let context = RequestContext::default();
        let request = Request {
            action: "sts:AssumeRole",
            resource: "acs:ram::1234567890123456:role/reader",
            context: &context,
        };
        let alice = Principal::user(OWNER, "alice");
        let bob = Principal::user(OWNER, "bob");
        assert_eq!(trust.evaluate_for(&alice, OWNER, &request), Outcome::Allow);
        assert_eq!(
            trust.evaluate_for(&bob, OWNER, &request),
            Outcome::NotApplicable
        );
        assert!(Policy::parse_trust(
            r#"{"Version":"1","Statement":[{"Action":"kms:*","Effect":"Allow","Principal":{"RAM":"acs:ram::*:*"}}]}"#,
            2048
        )
        .is_err());
        assert!(Policy::parse_trust(
            r#"{"Version":"1","Statement":[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"RAM":"acs:ram::*:*"},"Resource":"*"}]}"#,
            2048
        )
        .is_err());
    }

    #[test]
    fn only_policies_with_tag_conditions_ask_for_tags() {
        assert!(!app_reader().tests_tags());
        let tagged = identity(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"KMS:Tag/env":"dev"}}}]}"#,
        );
        assert!(tagged.tests_tags());
    }

    #[test]
    fn conditions_decide_as_written() {
        let alice = Principal::user(OWNER, "alice");
        let policy = identity(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:GetSecretValue","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/8"},"StringEquals":{"kms:tag/env":"dev"}}}]}"#,
        );
        let decide_with = |ip: &str, env: &str| {
            let context = RequestContext {
                source_ip: Some(ip.parse().unwrap()),
                tags: vec![("env", env)],
                ..RequestContext::default()
            };
            let request = Request {
                action: "kms:GetSecretValue",
                resource: SECRET,
                context: &context,
            };
            decide(&alice, OWNER, [&policy], None, &request)
        };
        assert_eq!(decide_with("10.1.1.1", "dev"), Decision::Allow);
        assert_eq!(decide_with("11.1.1.1", "dev"), Decision::ImplicitDeny);
        assert_eq!(decide_with("10.1.1.1", "prod"), Decision::ImplicitDeny);
    }
}

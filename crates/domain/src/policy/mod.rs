//! The RAM policy language: documents ([`document`]), the wildcard matcher ([`pattern`]),
//! condition operators ([`condition`]), compiled policies ([`compiled`]), the decision that
//! combines identity and secret policies ([`decide`]) and the KMS system policies ([`system`]).
//!
//! Everything here is a pure function of its inputs: the service parses a policy once, keeps
//! the compiled [`Policy`] in a cache, and passes the request's facts (time, address, tags) in a
//! [`RequestContext`].

pub mod compiled;
pub mod condition;
pub mod decide;
pub mod document;
pub mod pattern;
pub mod system;

use serde::Serialize;

pub use compiled::{Outcome, Policy, Principal, PrincipalKind, Request};
pub use condition::{Operator, RequestContext};
pub use decide::{decide, Decision};
pub use document::{
    default_secret_policy, parse_document, validate_secret_policy, Conditions, DocumentKind,
    PolicyDocument, Statement, POLICY_MAX_BYTES, SID_MAX_LEN,
};
pub use pattern::{Case, Pattern};
pub use system::{compiled_system_policy, system_policy, SystemPolicy, SYSTEM_POLICIES};

/// The effect of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Effect {
    /// Grants the actions.
    Allow,
    /// Refuses the actions.
    Deny,
}

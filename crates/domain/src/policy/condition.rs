//! Conditions of a statement: the operators RAM documents, their values compiled once, and the
//! facts of one request ([`RequestContext`]) they are tested against.
//!
//! Semantics, following RAM's policy-elements page where it speaks and IAM's published rules
//! where it is silent (marked **unconfirmed** for RAM):
//!
//! - Several operators in one `Condition` block, and several keys under one operator, must all
//!   hold (AND). Several values for one key: any may match (OR).
//! - Condition key names compare case-insensitively (`acs:sourceip` is `acs:SourceIp`); the tag
//!   key after `kms:tag/` compares exactly, as tag keys are case-sensitive.
//! - A negated operator (`StringNotEquals`, `StringNotLike`, `StringNotEqualsIgnoreCase`,
//!   `NumericNotEquals`, `DateNotEquals`, `NotIpAddress`) holds exactly when its positive form
//!   does not. So when the request has no value for the key, every positive operator fails and
//!   every negated one holds (IAM's rule; **unconfirmed** for RAM). A `Deny` with `NotIpAddress`
//!   therefore denies a request whose address is unknown, the safe side.
//! - Values are checked when the policy is compiled: a number, date, boolean or CIDR that does not
//!   parse makes the whole document invalid instead of silently never matching.
//! - Dates are RFC 3339 (`2019-08-12T17:00:00+08:00`, `…Z`) or whole seconds since the epoch.
//!   Numbers are compared as `f64`. `Bool` accepts `true`/`false` in any case.
//! - `IpAddress` values are IPv4 or IPv6 addresses or CIDR blocks; an IPv4-mapped IPv6 source
//!   (`::ffff:10.0.0.1`) is compared as the IPv4 address it carries.

use std::borrow::Cow;
use std::net::IpAddr;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::pattern::{Case, Pattern};

/// Condition key: the caller's source IP address.
pub const KEY_SOURCE_IP: &str = "acs:SourceIp";
/// Condition key: the time the request is evaluated.
pub const KEY_CURRENT_TIME: &str = "acs:CurrentTime";
/// Condition key: whether the request came over HTTPS.
pub const KEY_SECURE_TRANSPORT: &str = "acs:SecureTransport";
/// Condition key: whether the caller signed in with MFA.
pub const KEY_MFA_PRESENT: &str = "acs:MFAPresent";
/// Condition key: the access key id that signed the request.
pub const KEY_ACCESS_ID: &str = "acs:AccessId";
/// Prefix of the condition keys naming a tag of the resource: `kms:tag/<tag key>`.
pub const KEY_TAG_PREFIX: &str = "kms:tag/";

/// A condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // Each variant is the RAM operator of the same name.
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    NotIpAddress,
}

/// Every operator, in the order RAM documents them.
pub const OPERATORS: &[Operator] = &[
    Operator::StringEquals,
    Operator::StringNotEquals,
    Operator::StringEqualsIgnoreCase,
    Operator::StringNotEqualsIgnoreCase,
    Operator::StringLike,
    Operator::StringNotLike,
    Operator::NumericEquals,
    Operator::NumericNotEquals,
    Operator::NumericLessThan,
    Operator::NumericLessThanEquals,
    Operator::NumericGreaterThan,
    Operator::NumericGreaterThanEquals,
    Operator::DateEquals,
    Operator::DateNotEquals,
    Operator::DateLessThan,
    Operator::DateLessThanEquals,
    Operator::DateGreaterThan,
    Operator::DateGreaterThanEquals,
    Operator::Bool,
    Operator::IpAddress,
    Operator::NotIpAddress,
];

impl Operator {
    /// The operator named `name` (exact case, as RAM requires), if any.
    pub fn parse(name: &str) -> Option<Self> {
        OPERATORS.iter().copied().find(|op| op.name() == name)
    }

    /// The operator's name in a policy document.
    pub fn name(self) -> &'static str {
        match self {
            Self::StringEquals => "StringEquals",
            Self::StringNotEquals => "StringNotEquals",
            Self::StringEqualsIgnoreCase => "StringEqualsIgnoreCase",
            Self::StringNotEqualsIgnoreCase => "StringNotEqualsIgnoreCase",
            Self::StringLike => "StringLike",
            Self::StringNotLike => "StringNotLike",
            Self::NumericEquals => "NumericEquals",
            Self::NumericNotEquals => "NumericNotEquals",
            Self::NumericLessThan => "NumericLessThan",
            Self::NumericLessThanEquals => "NumericLessThanEquals",
            Self::NumericGreaterThan => "NumericGreaterThan",
            Self::NumericGreaterThanEquals => "NumericGreaterThanEquals",
            Self::DateEquals => "DateEquals",
            Self::DateNotEquals => "DateNotEquals",
            Self::DateLessThan => "DateLessThan",
            Self::DateLessThanEquals => "DateLessThanEquals",
            Self::DateGreaterThan => "DateGreaterThan",
            Self::DateGreaterThanEquals => "DateGreaterThanEquals",
            Self::Bool => "Bool",
            Self::IpAddress => "IpAddress",
            Self::NotIpAddress => "NotIpAddress",
        }
    }

    /// Whether the operator holds exactly when its positive form does not.
    fn negated(self) -> bool {
        matches!(
            self,
            Self::StringNotEquals
                | Self::StringNotEqualsIgnoreCase
                | Self::StringNotLike
                | Self::NumericNotEquals
                | Self::DateNotEquals
                | Self::NotIpAddress
        )
    }

    fn ordering(self) -> Ordering {
        match self {
            Self::NumericLessThan | Self::DateLessThan => Ordering::Less,
            Self::NumericLessThanEquals | Self::DateLessThanEquals => Ordering::LessOrEqual,
            Self::NumericGreaterThan | Self::DateGreaterThan => Ordering::Greater,
            Self::NumericGreaterThanEquals | Self::DateGreaterThanEquals => {
                Ordering::GreaterOrEqual
            }
            _ => Ordering::Equal,
        }
    }
}

/// One compiled test: operator, key and the accepted values, parsed for the operator.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    operator: Operator,
    key: String,
    values: Values,
}

/// What went wrong compiling a condition, as fixed text for the caller.
pub type ConditionError = &'static str;

impl Condition {
    /// Compiles `operator` / `key` / `values` as written in a policy document.
    pub fn compile(operator: &str, key: &str, values: &[String]) -> Result<Self, ConditionError> {
        let operator = Operator::parse(operator).ok_or("Condition uses an unknown operator")?;
        if key.is_empty() {
            return Err("Condition keys must not be empty");
        }
        if values.is_empty() {
            return Err("each Condition key needs at least one value");
        }
        let values = match operator {
            Operator::StringEquals | Operator::StringNotEquals => {
                Values::Text(values.to_vec(), Case::Sensitive)
            }
            Operator::StringEqualsIgnoreCase | Operator::StringNotEqualsIgnoreCase => {
                Values::Text(values.to_vec(), Case::Insensitive)
            }
            Operator::StringLike | Operator::StringNotLike => Values::Patterns(
                values
                    .iter()
                    .map(|v| Pattern::new(v, Case::Sensitive))
                    .collect(),
            ),
            Operator::NumericEquals
            | Operator::NumericNotEquals
            | Operator::NumericLessThan
            | Operator::NumericLessThanEquals
            | Operator::NumericGreaterThan
            | Operator::NumericGreaterThanEquals => Values::Numbers(
                values
                    .iter()
                    .map(|v| parse_number(v))
                    .collect::<Option<_>>()
                    .ok_or("Numeric condition values must be numbers")?,
            ),
            Operator::DateEquals
            | Operator::DateNotEquals
            | Operator::DateLessThan
            | Operator::DateLessThanEquals
            | Operator::DateGreaterThan
            | Operator::DateGreaterThanEquals => Values::Dates(
                values
                    .iter()
                    .map(|v| parse_date(v))
                    .collect::<Option<_>>()
                    .ok_or("Date condition values must be RFC 3339 times or epoch seconds")?,
            ),
            Operator::Bool => Values::Bools(
                values
                    .iter()
                    .map(|v| parse_bool(v))
                    .collect::<Option<_>>()
                    .ok_or("Bool condition values must be true or false")?,
            ),
            Operator::IpAddress | Operator::NotIpAddress => Values::Networks(
                values
                    .iter()
                    .map(|v| Network::parse(v))
                    .collect::<Option<_>>()
                    .ok_or("IpAddress condition values must be IP addresses or CIDR blocks")?,
            ),
        };
        Ok(Self {
            operator,
            key: key.to_owned(),
            values,
        })
    }

    /// The condition key as written.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// Whether the condition holds for the request described by `context`.
    pub fn holds(&self, context: &RequestContext<'_>) -> bool {
        let facts = context.facts(&self.key);
        let positive = facts
            .iter()
            .any(|fact| self.values.accepts(self.operator, fact));
        positive != self.operator.negated()
    }
}

/// The facts of one request that conditions can test.
#[derive(Debug, Clone, Default)]
pub struct RequestContext<'a> {
    /// `acs:SourceIp`: the caller's address.
    pub source_ip: Option<IpAddr>,
    /// `acs:CurrentTime`: seconds since the epoch.
    pub current_time: Option<i64>,
    /// `acs:SecureTransport`: whether the request came over TLS.
    pub secure_transport: Option<bool>,
    /// `acs:MFAPresent`: whether the caller signed in with MFA.
    pub mfa_present: Option<bool>,
    /// `acs:AccessId`: the access key that signed the request.
    pub access_key_id: Option<&'a str>,
    /// `kms:tag/<key>`: the tags of the resource, as (key, value).
    pub tags: Vec<(&'a str, &'a str)>,
    /// Any other key the service knows, as (key, value); keys compare case-insensitively.
    pub other: Vec<(&'a str, &'a str)>,
}

/// One value of the request for a condition key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact<'a> {
    /// A text value (tags, ids).
    Text(&'a str),
    /// An address.
    Ip(IpAddr),
    /// A time, seconds since the epoch.
    Time(i64),
    /// A flag.
    Bool(bool),
}

impl<'a> RequestContext<'a> {
    /// The request's values for condition key `key`; empty when the request has none.
    pub fn facts(&self, key: &str) -> Vec<Fact<'a>> {
        let is = |name: &str| key.eq_ignore_ascii_case(name);
        let one = |fact: Option<Fact<'a>>| fact.into_iter().collect();
        if is(KEY_SOURCE_IP) {
            return one(self.source_ip.map(Fact::Ip));
        }
        if is(KEY_CURRENT_TIME) {
            return one(self.current_time.map(Fact::Time));
        }
        if is(KEY_SECURE_TRANSPORT) {
            return one(self.secure_transport.map(Fact::Bool));
        }
        if is(KEY_MFA_PRESENT) {
            return one(self.mfa_present.map(Fact::Bool));
        }
        if is(KEY_ACCESS_ID) {
            return one(self.access_key_id.map(Fact::Text));
        }
        if let Some(tag_key) = strip_prefix_ignore_case(key, KEY_TAG_PREFIX) {
            return self
                .tags
                .iter()
                .filter(|(k, _)| *k == tag_key)
                .map(|(_, v)| Fact::Text(v))
                .collect();
        }
        self.other
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| Fact::Text(v))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ordering {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Ordering {
    fn holds<T: PartialOrd>(self, fact: T, value: T) -> bool {
        match self {
            Self::Equal => fact == value,
            Self::Less => fact < value,
            Self::LessOrEqual => fact <= value,
            Self::Greater => fact > value,
            Self::GreaterOrEqual => fact >= value,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Values {
    Text(Vec<String>, Case),
    Patterns(Vec<Pattern>),
    Numbers(Vec<f64>),
    Dates(Vec<i64>),
    Bools(Vec<bool>),
    Networks(Vec<Network>),
}

impl Values {
    /// Whether `fact` satisfies the positive form of `operator` for one of the values.
    fn accepts(&self, operator: Operator, fact: &Fact<'_>) -> bool {
        match self {
            Self::Text(values, case) => {
                let text = fact_text(fact);
                values.iter().any(|v| match case {
                    Case::Sensitive => *v == text,
                    Case::Insensitive => v.eq_ignore_ascii_case(&text),
                })
            }
            Self::Patterns(patterns) => {
                let text = fact_text(fact);
                patterns.iter().any(|p| p.matches(&text))
            }
            Self::Numbers(values) => {
                let Some(n) = (match fact {
                    Fact::Text(t) => parse_number(t),
                    Fact::Time(t) => Some(*t as f64),
                    Fact::Ip(_) | Fact::Bool(_) => None,
                }) else {
                    return false;
                };
                values.iter().any(|v| operator.ordering().holds(n, *v))
            }
            Self::Dates(values) => {
                let Some(t) = (match fact {
                    Fact::Time(t) => Some(*t),
                    Fact::Text(t) => parse_date(t),
                    Fact::Ip(_) | Fact::Bool(_) => None,
                }) else {
                    return false;
                };
                values.iter().any(|v| operator.ordering().holds(t, *v))
            }
            Self::Bools(values) => {
                let Some(b) = (match fact {
                    Fact::Bool(b) => Some(*b),
                    Fact::Text(t) => parse_bool(t),
                    Fact::Ip(_) | Fact::Time(_) => None,
                }) else {
                    return false;
                };
                values.contains(&b)
            }
            Self::Networks(networks) => {
                let Some(ip) = (match fact {
                    Fact::Ip(ip) => Some(*ip),
                    Fact::Text(t) => t.parse().ok(),
                    Fact::Bool(_) | Fact::Time(_) => None,
                }) else {
                    return false;
                };
                networks.iter().any(|n| n.contains(ip))
            }
        }
    }
}

/// An IPv4 or IPv6 network (an address is a network of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let address = canonical(addr.trim().parse().ok()?);
        let max = match address {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                let p: u8 = p.parse().ok()?;
                (p <= max).then_some(p)?
            }
            Some(_) => return None,
        };
        Some(Self { address, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn fact_text<'a>(fact: &Fact<'a>) -> Cow<'a, str> {
    match fact {
        Fact::Text(t) => Cow::Borrowed(t),
        Fact::Ip(ip) => Cow::Owned(ip.to_string()),
        Fact::Time(t) => Cow::Owned(
            OffsetDateTime::from_unix_timestamp(*t)
                .ok()
                .and_then(|d| d.format(&Rfc3339).ok())
                .unwrap_or_else(|| t.to_string()),
        ),
        Fact::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
    }
}

fn parse_number(text: &str) -> Option<f64> {
    let n: f64 = text.trim().parse().ok()?;
    n.is_finite().then_some(n)
}

fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn strip_prefix_ignore_case<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    let head = key.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| key.get(prefix.len()..))
        .flatten()
}

#[cfg(test)]
mod tests;

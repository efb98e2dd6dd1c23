use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
    let values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
    Condition::compile(op, key, &values).unwrap()
}

fn with_other<'a>(pairs: &[(&'a str, &'a str)]) -> RequestContext<'a> {
    RequestContext {
        other: pairs.to_vec(),
        ..RequestContext::default()
    }
}

fn rfc3339(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

#[test]
fn every_documented_operator_parses_by_exact_name() {
    for op in OPERATORS {
        assert_eq!(Operator::parse(op.name()), Some(*op));
    }
    assert_eq!(OPERATORS.len(), 21);
    assert_eq!(Operator::parse("stringequals"), None);
    assert_eq!(Operator::parse("StringMaybe"), None);
}

#[test]
fn values_that_do_not_parse_are_refused_when_compiled() {
    let bad = |op: &str, v: &str| Condition::compile(op, "k", &[v.to_owned()]).is_err();
    assert!(bad("NumericEquals", "ten"));
    assert!(bad("NumericEquals", "NaN"));
    assert!(bad("DateLessThan", "tomorrow"));
    assert!(bad("Bool", "yes"));
    assert!(bad("IpAddress", "10.0.0.0/33"));
    assert!(bad("IpAddress", "10.0.0.0/"));
    assert!(bad("IpAddress", "::1/129"));
    assert!(bad("NotIpAddress", "10.0.0"));
    assert!(Condition::compile("StringEquals", "", &["v".to_owned()]).is_err());
    assert!(Condition::compile("StringEquals", "k", &[]).is_err());
    assert!(Condition::compile("StringMaybe", "k", &["v".to_owned()]).is_err());
}

#[test]
fn a_missing_key_fails_positive_operators_and_satisfies_negated_ones() {
    let empty = RequestContext::default();
    assert!(!cond("StringEquals", "kms:tag/env", &["prod"]).holds(&empty));
    assert!(cond("StringNotEquals", "kms:tag/env", &["prod"]).holds(&empty));
    assert!(!cond("IpAddress", "acs:SourceIp", &["10.0.0.0/8"]).holds(&empty));
    assert!(cond("NotIpAddress", "acs:SourceIp", &["10.0.0.0/8"]).holds(&empty));
    assert!(!cond("Bool", "acs:SecureTransport", &["false"]).holds(&empty));
}

#[test]
fn condition_keys_ignore_case_but_tag_keys_do_not() {
    let ctx = RequestContext {
        source_ip: Some("10.1.2.3".parse().unwrap()),
        tags: vec![("Env", "prod")],
        ..RequestContext::default()
    };
    assert!(cond("IpAddress", "ACS:sourceip", &["10.0.0.0/8"]).holds(&ctx));
    assert!(cond("StringEquals", "KMS:TAG/Env", &["prod"]).holds(&ctx));
    assert!(!cond("StringEquals", "kms:tag/env", &["prod"]).holds(&ctx));
}

#[test]
fn typed_facts_compare_as_text_under_string_operators() {
    let ctx = RequestContext {
        source_ip: Some("192.168.0.1".parse().unwrap()),
        secure_transport: Some(true),
        current_time: Some(0),
        ..RequestContext::default()
    };
    assert!(cond("StringEquals", KEY_SOURCE_IP, &["192.168.0.1"]).holds(&ctx));
    assert!(cond("StringLike", KEY_SOURCE_IP, &["192.168.*"]).holds(&ctx));
    assert!(cond("StringEquals", KEY_SECURE_TRANSPORT, &["true"]).holds(&ctx));
    assert!(cond("StringEquals", KEY_CURRENT_TIME, &["1970-01-01T00:00:00Z"]).holds(&ctx));
}

#[test]
fn dates_accept_offsets_and_epoch_seconds() {
    let noon_utc = 1_565_611_200; // 2019-08-12T12:00:00Z
    let ctx = RequestContext {
        current_time: Some(noon_utc),
        ..RequestContext::default()
    };
    assert!(cond(
        "DateEquals",
        KEY_CURRENT_TIME,
        &["2019-08-12T20:00:00+08:00"]
    )
    .holds(&ctx));
    assert!(cond("DateLessThan", KEY_CURRENT_TIME, &["2019-08-12T12:00:01Z"]).holds(&ctx));
    assert!(!cond("DateLessThan", KEY_CURRENT_TIME, &["1565611200"]).holds(&ctx));
    assert!(cond("DateLessThanEquals", KEY_CURRENT_TIME, &["1565611200"]).holds(&ctx));
}

#[test]
fn ip_networks_cover_v4_v6_and_mapped_addresses() {
    let at = |ip: &str| RequestContext {
        source_ip: Some(ip.parse().unwrap()),
        ..RequestContext::default()
    };
    let c = cond(
        "IpAddress",
        KEY_SOURCE_IP,
        &["192.168.0.0/16", "172.16.215.218", "2001:db8::/32"],
    );
    assert!(c.holds(&at("192.168.10.1")));
    assert!(c.holds(&at("172.16.215.218")));
    assert!(!c.holds(&at("172.16.215.219")));
    assert!(c.holds(&at("2001:db8::1")));
    assert!(!c.holds(&at("2001:db9::1")));
    assert!(c.holds(&at("::ffff:192.168.1.1")));
    assert!(cond("IpAddress", KEY_SOURCE_IP, &["0.0.0.0/0"]).holds(&at("8.8.8.8")));
    assert!(!cond("IpAddress", KEY_SOURCE_IP, &["0.0.0.0/0"]).holds(&at("::2")));
    assert!(cond("NotIpAddress", KEY_SOURCE_IP, &["10.0.0.0/8"]).holds(&at("11.0.0.1")));
}

#[test]
fn several_values_for_one_key_are_alternatives() {
    let ctx = with_other(&[("kms:SecretType", "Rds")]);
    assert!(cond("StringEquals", "kms:SecretType", &["Generic", "Rds"]).holds(&ctx));
    assert!(!cond("StringNotEquals", "kms:SecretType", &["Generic", "Rds"]).holds(&ctx));
    assert!(cond("StringNotEquals", "kms:SecretType", &["Generic", "Redis"]).holds(&ctx));
}

fn numeric_expected(op: &str, a: f64, b: f64) -> bool {
    match op {
        "NumericEquals" => a == b,
        "NumericNotEquals" => a != b,
        "NumericLessThan" => a < b,
        "NumericLessThanEquals" => a <= b,
        "NumericGreaterThan" => a > b,
        "NumericGreaterThanEquals" => a >= b,
        _ => unreachable!(),
    }
}

proptest! {
    #[test]
    fn string_equals_is_exact_and_string_not_equals_its_negation(fact in "[a-zA-Z]{0,6}", value in "[a-zA-Z]{0,6}") {
        let ctx = with_other(&[("k", &fact)]);
        prop_assert_eq!(cond("StringEquals", "k", &[&value]).holds(&ctx), fact == value);
        prop_assert_eq!(cond("StringNotEquals", "k", &[&value]).holds(&ctx), fact != value);
    }

    #[test]
    fn ignore_case_operators_fold_ascii_letters(fact in "[a-zA-Z]{0,6}", value in "[a-zA-Z]{0,6}") {
        let ctx = with_other(&[("k", &fact)]);
        let same = fact.eq_ignore_ascii_case(&value);
        prop_assert_eq!(cond("StringEqualsIgnoreCase", "k", &[&value]).holds(&ctx), same);
        prop_assert_eq!(cond("StringNotEqualsIgnoreCase", "k", &[&value]).holds(&ctx), !same);
    }

    #[test]
    fn string_like_uses_the_wildcard_matcher(fact in "[ab]{0,6}", value in "[ab*?]{0,6}") {
        let ctx = with_other(&[("k", &fact)]);
        let expected = Pattern::new(&value, Case::Sensitive).matches(&fact);
        prop_assert_eq!(cond("StringLike", "k", &[&value]).holds(&ctx), expected);
        prop_assert_eq!(cond("StringNotLike", "k", &[&value]).holds(&ctx), !expected);
    }

    #[test]
    fn numeric_operators_compare_numbers(
        a in -1000i32..1000,
        b in -1000i32..1000,
        op in prop::sample::select(vec!["NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals"]),
    ) {
        let fact = a.to_string();
        let ctx = with_other(&[("k", &fact)]);
        let held = cond(op, "k", &[&b.to_string()]).holds(&ctx);
        prop_assert_eq!(held, numeric_expected(op, f64::from(a), f64::from(b)));
    }

    #[test]
    fn date_operators_compare_instants(
        a in 0i64..4_000_000_000,
        delta in -100i64..100,
        op in prop::sample::select(vec!["DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals"]),
        as_text in any::<bool>(),
    ) {
        let b = a + delta;
        let ctx = RequestContext { current_time: Some(a), ..RequestContext::default() };
        let value = if as_text { rfc3339(b) } else { b.to_string() };
        let numeric_op = op.replace("Date", "Numeric");
        let expected = numeric_expected(&numeric_op, a as f64, b as f64);
        prop_assert_eq!(cond(op, KEY_CURRENT_TIME, &[&value]).holds(&ctx), expected);
    }

    #[test]
    fn bool_compares_flags(fact in any::<bool>(), value in any::<bool>(), upper in any::<bool>()) {
        let ctx = RequestContext { secure_transport: Some(fact), ..RequestContext::default() };
        let text = if upper { value.to_string().to_uppercase() } else { value.to_string() };
        prop_assert_eq!(cond("Bool", KEY_SECURE_TRANSPORT, &[&text]).holds(&ctx), fact == value);
    }

    #[test]
    fn ipv4_networks_contain_exactly_their_prefix(ip in any::<u32>(), net in any::<u32>(), prefix in 0u8..=32) {
        let ctx = RequestContext { source_ip: Some(IpAddr::V4(Ipv4Addr::from(ip))), ..RequestContext::default() };
        let block = format!("{}/{prefix}", Ipv4Addr::from(net));
        let shift = 32 - u32::from(prefix);
        let expected = ip.checked_shr(shift).unwrap_or(0) == net.checked_shr(shift).unwrap_or(0);
        prop_assert_eq!(cond("IpAddress", KEY_SOURCE_IP, &[&block]).holds(&ctx), expected);
        prop_assert_eq!(cond("NotIpAddress", KEY_SOURCE_IP, &[&block]).holds(&ctx), !expected);
    }

    #[test]
    fn ipv6_networks_contain_exactly_their_prefix(ip in any::<u128>(), net in any::<u128>(), prefix in 0u8..=128) {
        // Mapped IPv4 addresses are compared as IPv4: keep both sides outside ::ffff:0:0/96.
        let ip = ip | (1u128 << 127);
        let net = net | (1u128 << 127);
        let ctx = RequestContext { source_ip: Some(IpAddr::V6(Ipv6Addr::from(ip))), ..RequestContext::default() };
        let block = format!("{}/{prefix}", Ipv6Addr::from(net));
        let shift = 128 - u32::from(prefix);
        let expected = ip.checked_shr(shift).unwrap_or(0) == net.checked_shr(shift).unwrap_or(0);
        prop_assert_eq!(cond("IpAddress", KEY_SOURCE_IP, &[&block]).holds(&ctx), expected);
        prop_assert_eq!(cond("NotIpAddress", KEY_SOURCE_IP, &[&block]).holds(&ctx), !expected);
    }

    #[test]
    fn compiling_any_text_never_panics(op in "[A-Za-z]{0,24}", value in ".{0,20}") {
        if let Ok(c) = Condition::compile(&op, "k", std::slice::from_ref(&value)) {
            let ctx = with_other(&[("k", &value)]);
            let _ = c.holds(&ctx);
        }
    }
}

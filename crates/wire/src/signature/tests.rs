use std::path::PathBuf;

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use serde_json::Value;

use super::signer::{Call, Signer};
use super::*;
use crate::request::{RequestView, RpcRequest};

const SECRET: &[u8] = b"testAccessKeySecret";

struct Trace {
    name: String,
    method: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn traces() -> Vec<Trace> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/traces");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let mut headers = HeaderMap::new();
        for h in v["headers"].as_array().unwrap() {
            let name =
                HeaderName::from_bytes(h[0].as_str().unwrap().to_ascii_lowercase().as_bytes())
                    .unwrap();
            headers.append(name, HeaderValue::from_str(h[1].as_str().unwrap()).unwrap());
        }
        let body = match v.get("body_base64").and_then(Value::as_str) {
            Some(b) => {
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b).unwrap()
            }
            None => v["body"].as_str().unwrap_or_default().as_bytes().to_vec(),
        };
        out.push(Trace {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            method: v["method"].as_str().unwrap().to_owned(),
            query: v["raw_query"].as_str().unwrap_or_default().to_owned(),
            headers,
            body,
        });
    }
    out
}

fn check(t: &Trace, secret: &[u8]) -> Result<RpcRequest, ProtocolError> {
    let view = RequestView {
        method: &t.method,
        query: &t.query,
        headers: &t.headers,
        body: &t.body,
    };
    let req = RpcRequest::parse(&view)?;
    verify(&view, &req, secret)?;
    Ok(req)
}

#[test]
fn every_signed_sdk_capture_verifies_with_the_test_secret() {
    let (mut v1, mut v3) = (0, 0);
    for t in traces() {
        match check(&t, SECRET) {
            Ok(req) if req.claim.is_v3() => v3 += 1,
            Ok(_) => v1 += 1,
            Err(ProtocolError::IncompleteSignature { .. }) => {}
            Err(e) => panic!("{}: {e}", t.name),
        }
    }
    // kms-api.md §2: 51 V1 and 69 V3 captures.
    assert_eq!((v1, v3), (51, 69));
}

#[test]
fn a_wrong_secret_fails_every_capture() {
    for t in traces() {
        match check(&t, b"wrong") {
            Err(
                ProtocolError::SignatureV1Mismatch { .. }
                | ProtocolError::SignatureV3Mismatch { .. },
            ) => {}
            Err(ProtocolError::IncompleteSignature { .. }) => {}
            other => panic!("{}: {other:?}", t.name),
        }
    }
}

#[test]
fn a_changed_body_byte_fails_v1_and_v3() {
    for t in traces() {
        if t.body.is_empty() || check(&t, SECRET).is_err() {
            continue;
        }
        let mut bad = Trace {
            body: t.body.clone(),
            headers: t.headers.clone(),
            ..t
        };
        let last = bad.body.len() - 1;
        bad.body[last] = if bad.body[last] == b'A' { b'B' } else { b'A' };
        assert!(
            matches!(
                check(&bad, SECRET),
                Err(ProtocolError::SignatureV1Mismatch { .. }
                    | ProtocolError::SignatureV3Mismatch { .. }
                    | ProtocolError::ContentHashMismatch)
            ),
            "{}",
            bad.name
        );
    }
}

#[test]
fn a_changed_signed_header_fails_v3() {
    for t in traces() {
        let Ok(req) = check(&t, SECRET) else { continue };
        if !req.claim.is_v3() {
            continue;
        }
        let mut bad = Trace {
            headers: t.headers.clone(),
            body: t.body.clone(),
            ..t
        };
        bad.headers.insert(
            "x-acs-action",
            HeaderValue::from_static("NotTheSignedAction"),
        );
        let got = check(&bad, SECRET);
        assert!(
            matches!(got, Err(ProtocolError::SignatureV3Mismatch { .. })),
            "{}: {got:?}",
            bad.name
        );
    }
}

#[test]
fn worked_example_v1_string_to_sign_matches_the_reference() {
    let t = traces()
        .into_iter()
        .find(|t| t.name == "legacy-python_02_GetSecretValue.json")
        .unwrap();
    let view = RequestView {
        method: &t.method,
        query: &t.query,
        headers: &t.headers,
        body: &t.body,
    };
    let req = RpcRequest::parse(&view).unwrap();
    assert_eq!(
        v1::string_to_sign("POST", req.params.pairs()),
        "POST&%2F&AccessKeyId%3DtestAccessKeyId%26Action%3DGetSecretValue%26FetchExtendedConfig%3DTrue%26Format%3DJSON%26RegionId%3Dcn-hangzhou%26SecretName%3Dtrace%252Fdemo-secret%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3De2f9bcea476ce231f9b5ab2e4eb91b0c%26SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2026-11-27T20%253A15%253A41Z%26Version%3D2016-01-20%26VersionStage%3DACSCurrent"
    );
}

#[test]
fn documentation_vector_v1() {
    let pairs: Vec<(String, String)> = [
        ("AccessKeyId", "testid"),
        ("Action", "CreateKey"),
        ("Format", "json"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", "2016-03-28T03:13:08Z"),
        ("Version", "2016-01-20"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // The docs print the string to sign with its `&` separators left unencoded; their
    // signature is over exactly that text, so check the HMAC step on it and the
    // canonicalisation separately.
    assert!(v1::string_to_sign("GET", &pairs)
        .starts_with("GET&%2F&AccessKeyId%3Dtestid%26Action%3DCreateKey"));
    let sts = "GET&%2F&AccessKeyId%3Dtestid&Action%3DCreateKey&Format%3Djson&SignatureMethod%3DHMAC-SHA1&SignatureVersion%3D1.0&Timestamp%3D2016-03-28T03%253A13%253A08Z&Version%3D2016-01-20";
    let tag = ring::hmac::sign(&v1::key(b"testsecret"), sts.as_bytes());
    assert_eq!(
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, tag.as_ref()),
        "s/OdVWMTmNGagvWlljdAJ7Itsew="
    );
}

#[test]
fn v3_without_content_hash_among_signed_headers_is_incomplete() {
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_static(
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host;x-acs-action,Signature=00",
        ),
    );
    let view = RequestView {
        method: "POST",
        query: "",
        headers: &h,
        body: b"",
    };
    assert!(matches!(
        RpcRequest::parse(&view),
        Err(ProtocolError::IncompleteSignature { .. })
    ));
}

fn signed_view_roundtrip(
    v3: bool,
    query: Vec<(String, String)>,
    form: Vec<(String, String)>,
) -> (HeaderMap, String, Vec<u8>) {
    let signer = Signer {
        access_key_id: "ak",
        secret: b"sk",
        security_token: None,
    };
    let call = Call {
        method: "POST",
        host: "127.0.0.1:1",
        action: "GetSecretValue",
        version: "2016-01-20",
        query,
        form,
    };
    let s = if v3 {
        signer.sign_v3(&call, "nonce-1", "2026-01-01T00:00:00Z")
    } else {
        signer.sign_v1(&call, "nonce-1", "2026-01-01T00:00:00Z")
    };
    (s.headers, s.query, s.body)
}

proptest! {
    #[test]
    fn whatever_the_signer_signs_verifies_and_a_changed_byte_fails(
        v3 in any::<bool>(),
        q in proptest::collection::btree_map("[A-Z][a-zA-Z]{0,10}", "\\PC{0,30}", 0..5),
        f in proptest::collection::btree_map("[a-z][a-zA-Z]{0,10}", "\\PC{0,30}", 1..4),
        flip in any::<prop::sample::Index>(),
    ) {
        let q: Vec<_> = q.into_iter().collect();
        let f: Vec<_> = f.into_iter().collect();
        let (headers, query, body) = signed_view_roundtrip(v3, q, f);
        let view = RequestView { method: "POST", query: &query, headers: &headers, body: &body };
        let req = RpcRequest::parse(&view).unwrap();
        prop_assert!(verify(&view, &req, b"sk").is_ok());
        prop_assert_eq!(req.action.as_deref(), Some("GetSecretValue"));
        let mut bad = body.clone();
        let i = flip.index(bad.len());
        bad[i] ^= 0x01;
        let view = RequestView { method: "POST", query: &query, headers: &headers, body: &bad };
        if let Ok(req) = RpcRequest::parse(&view) {
            prop_assert!(verify(&view, &req, b"sk").is_err());
        }
    }
}

/// A signed V3 request (as the signer makes it) with SignedHeaders rewritten to `signed`, and
/// the signature recomputed over that list, so only the rule under test can refuse it.
fn v3_with_signed_headers(signed: &str) -> (HeaderMap, String, Vec<u8>) {
    let (mut headers, query, body) =
        signed_view_roundtrip(true, Vec::new(), vec![("SecretName".into(), "n".into())]);
    let req = RpcRequest::parse(&RequestView {
        method: "POST",
        query: &query,
        headers: &headers,
        body: &body,
    })
    .unwrap();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let hash = super::v3::payload_hash(&body);
    let canonical = super::v3::canonical_request("POST", &pairs, &headers, signed, &hash);
    let sts = super::v3::string_to_sign(&canonical);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"sk");
    let sig = hex::encode(ring::hmac::sign(&key, sts.as_bytes()).as_ref());
    let auth = format!(
        "ACS3-HMAC-SHA256 Credential={},SignedHeaders={signed},Signature={sig}",
        req.claim.access_key_id
    );
    headers.insert("authorization", HeaderValue::from_str(&auth).unwrap());
    (headers, query, body)
}

const ALL_SIGNED: &str =
    "content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version";

#[test]
fn v3_with_a_body_must_sign_content_type() {
    let (headers, query, body) = v3_with_signed_headers(ALL_SIGNED);
    let view = RequestView {
        method: "POST",
        query: &query,
        headers: &headers,
        body: &body,
    };
    let req = RpcRequest::parse(&view).unwrap();
    assert!(verify(&view, &req, b"sk").is_ok(), "the control verifies");

    let unsigned = ALL_SIGNED.trim_start_matches("content-type;");
    let (headers, query, body) = v3_with_signed_headers(unsigned);
    let view = RequestView {
        method: "POST",
        query: &query,
        headers: &headers,
        body: &body,
    };
    let req = RpcRequest::parse(&view).unwrap();
    assert!(matches!(
        verify(&view, &req, b"sk"),
        Err(ProtocolError::IncompleteSignature { .. })
    ));
}

#[test]
fn v3_signed_headers_naming_a_header_twice_is_refused_before_any_key_lookup() {
    let repeated = format!("{ALL_SIGNED};host;host");
    let (headers, query, body) = v3_with_signed_headers(&repeated);
    let view = RequestView {
        method: "POST",
        query: &query,
        headers: &headers,
        body: &body,
    };
    assert!(matches!(
        RpcRequest::parse(&view),
        Err(ProtocolError::IncompleteSignature { .. })
    ));
}

#[test]
fn v3_signed_headers_naming_a_header_twice_in_another_case_is_refused() {
    for repeated in [
        format!("{ALL_SIGNED};Host"),
        format!("{ALL_SIGNED};X-ACS-DATE"),
    ] {
        let (headers, query, body) = v3_with_signed_headers(&repeated);
        let view = RequestView {
            method: "POST",
            query: &query,
            headers: &headers,
            body: &body,
        };
        assert!(matches!(
            RpcRequest::parse(&view),
            Err(ProtocolError::IncompleteSignature { .. })
        ));
    }
}

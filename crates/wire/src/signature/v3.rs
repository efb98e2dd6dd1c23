//! Signature V3: ACS3-HMAC-SHA256 over a canonical request built from the client's own
//! SignedHeaders list (kms-api.md §2.2).

use http::HeaderMap;
use ring::{digest, hmac};

use super::{canonical_query, parse_timestamp, Claim, Scheme};
use crate::error::ProtocolError;
use crate::request::{header, RequestView};

/// The only V3 algorithm accepted.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Headers that must be among SignedHeaders: everything that decides what the request does.
const MUST_SIGN: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
];

/// More signed headers than any SDK sends is a malformed claim.
const MAX_SIGNED_HEADERS: usize = 64;

pub(super) fn claim(headers: &HeaderMap, auth: &str) -> Result<Claim, ProtocolError> {
    let incomplete = |reason| ProtocolError::IncompleteSignature { reason };
    let rest = auth
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or(incomplete(
            "the only supported V3 algorithm is ACS3-HMAC-SHA256",
        ))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for item in rest.split(',') {
        let (k, v) = item
            .trim()
            .split_once('=')
            .ok_or(incomplete("the Authorization header is malformed"))?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let credential = credential.filter(|c| !c.is_empty()).ok_or(incomplete(
        "Credential is missing from the Authorization header",
    ))?;
    let signed_headers = signed_headers.ok_or(incomplete(
        "SignedHeaders is missing from the Authorization header",
    ))?;
    let signature = signature.filter(|s| !s.is_empty()).ok_or(incomplete(
        "Signature is missing from the Authorization header",
    ))?;
    // Each name once, and a bounded list: a repeated name would make the canonical request
    // repeat that header's values, letting a small request build a huge string before the
    // signature is checked.
    // Header lookups ignore case, so `host;Host` names one header twice: compare lower-cased.
    let mut names: Vec<String> = signed_headers
        .split(';')
        .take(MAX_SIGNED_HEADERS + 1)
        .map(str::to_ascii_lowercase)
        .collect();
    if names.len() > MAX_SIGNED_HEADERS {
        return Err(incomplete("SignedHeaders names too many headers"));
    }
    names.sort_unstable();
    if names.windows(2).any(|w| w.first() == w.last()) {
        return Err(incomplete("SignedHeaders names a header more than once"));
    }
    for needed in MUST_SIGN {
        if !signed_headers.split(';').any(|h| h == needed) {
            return Err(incomplete(
                "SignedHeaders must include host and x-acs-action, x-acs-version, x-acs-date, x-acs-signature-nonce, x-acs-content-sha256",
            ));
        }
    }
    let nonce = header(headers, "x-acs-signature-nonce")
        .filter(|n| !n.is_empty())
        .ok_or(ProtocolError::MissingParameter {
            name: "x-acs-signature-nonce",
        })?;
    let timestamp = parse_timestamp(header(headers, "x-acs-date"))?;
    Ok(Claim {
        access_key_id: credential.to_owned(),
        nonce: nonce.to_owned(),
        timestamp,
        security_token: header(headers, "x-acs-security-token").map(str::to_owned),
        scheme: Scheme::V3 {
            signed_headers: signed_headers.to_owned(),
            signature: signature.to_owned(),
        },
    })
}

/// The V3 canonical request (§2.2 step 5).
pub fn canonical_request(
    method: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str(method);
    out.push_str("\n/\n");
    canonical_query(
        query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &mut out,
    );
    out.push('\n');
    for name in signed_headers.split(';') {
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for value in headers.get_all(name) {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(value.to_str().unwrap_or_default().trim());
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(payload_hash);
    out
}

/// `ACS3-HMAC-SHA256\n` + hex(SHA-256(canonical request)).
pub fn string_to_sign(canonical_request: &str) -> String {
    let hash = digest::digest(&digest::SHA256, canonical_request.as_bytes());
    let mut sts = String::with_capacity(ALGORITHM.len() + 65);
    sts.push_str(ALGORITHM);
    sts.push('\n');
    sts.push_str(&hex::encode(hash.as_ref()));
    sts
}

/// Lower-case hex SHA-256 of the body.
pub fn payload_hash(body: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, body).as_ref())
}

pub(super) fn verify(
    view: &RequestView<'_>,
    query: &[(String, String)],
    signed_headers: &str,
    signature: &str,
    secret: &[u8],
) -> Result<(), ProtocolError> {
    // With a body, its type decides how the parameters in it are read: every official SDK signs
    // it, and an unsigned one could be changed in flight.
    if !view.body.is_empty() && !signed_headers.split(';').any(|h| h == "content-type") {
        return Err(ProtocolError::IncompleteSignature {
            reason: "SignedHeaders must include content-type when the request has a body",
        });
    }
    let claimed_hash = header(view.headers, "x-acs-content-sha256").unwrap_or_default();
    let actual_hash = payload_hash(view.body);
    if !claimed_hash.eq_ignore_ascii_case(&actual_hash) {
        return Err(ProtocolError::ContentHashMismatch);
    }
    // Defence in depth behind the duplicate-name check: the canonical request may not be
    // larger than the request it is built from allows, so no claim can amplify memory.
    if signed_section_len(view.headers, signed_headers) > canonical_budget(view, signed_headers) {
        return Err(ProtocolError::IncompleteSignature {
            reason: "SignedHeaders makes the canonical request larger than the request",
        });
    }
    let canonical = canonical_request(
        view.method,
        query,
        view.headers,
        signed_headers,
        claimed_hash,
    );
    let sts = string_to_sign(&canonical);
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let ok =
        hex::decode(signature).is_ok_and(|tag| hmac::verify(&key, sts.as_bytes(), &tag).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ProtocolError::SignatureV3Mismatch {
            string_to_sign: sts,
        })
    }
}

/// Bytes the signed-header lines of the canonical request would take, counted without
/// building them.
fn signed_section_len(headers: &HeaderMap, signed_headers: &str) -> usize {
    signed_headers
        .split(';')
        .map(|name| {
            let values: usize = headers
                .get_all(name)
                .iter()
                .map(|v| v.len().saturating_add(1))
                .sum();
            name.len().saturating_add(2).saturating_add(values)
        })
        .fold(0usize, usize::saturating_add)
}

/// The most the signed-header lines may take: each header of the request at most once, with
/// its name and separators.
fn canonical_budget(view: &RequestView<'_>, signed_headers: &str) -> usize {
    let header_bytes = view
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len().saturating_add(v.len()).saturating_add(2))
        .fold(0usize, usize::saturating_add);
    header_bytes
        .saturating_add(signed_headers.len().saturating_mul(2))
        .saturating_add(64)
}

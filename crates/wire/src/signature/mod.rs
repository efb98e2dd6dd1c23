//! Request signatures: V1 (HMAC-SHA1, kms-api.md §2.1) and V3 (ACS3-HMAC-SHA256, §2.2).
//!
//! [`claim`] reads who claims to have signed and how; [`verify`] recomputes the signature with
//! the access key's secret and compares in constant time. Freshness (timestamp window, nonce
//! reuse) is checked by the caller, which owns the clock and the nonce store.

pub mod signer;
mod v1;
mod v3;

use http::HeaderMap;

use crate::error::ProtocolError;
use crate::params::Params;
use crate::request::{header, RequestView, RpcRequest};
use crate::timefmt;

pub use v3::ALGORITHM as V3_ALGORITHM;

/// Who claims to have signed a request, and the signature to check.
#[derive(Debug)]
pub struct Claim {
    pub access_key_id: String,
    pub nonce: String,
    /// Unix seconds of the request's own timestamp.
    pub timestamp: i64,
    /// STS token, when the caller uses temporary credentials.
    pub security_token: Option<String>,
    scheme: Scheme,
}

#[derive(Debug)]
enum Scheme {
    V1 {
        signature: String,
    },
    V3 {
        signed_headers: String,
        signature: String,
    },
}

impl Claim {
    /// True for an ACS3 (V3) signature.
    pub fn is_v3(&self) -> bool {
        matches!(self.scheme, Scheme::V3 { .. })
    }
}

/// Reads the signature claim: V3 when an `Authorization: ACS3-...` header is present, V1 when
/// a `Signature` parameter is.
pub fn claim(headers: &HeaderMap, params: &Params) -> Result<Claim, ProtocolError> {
    if let Some(auth) = header(headers, "authorization") {
        if auth.starts_with("ACS3-") {
            return v3::claim(headers, auth);
        }
    }
    if params.get("Signature").is_some() {
        return v1::claim(params);
    }
    Err(ProtocolError::IncompleteSignature {
        reason: "the request has neither an ACS3-HMAC-SHA256 Authorization header nor a Signature parameter",
    })
}

/// Checks the request's signature with the access key's secret.
pub fn verify(
    view: &RequestView<'_>,
    req: &RpcRequest,
    secret: &[u8],
) -> Result<(), ProtocolError> {
    match &req.claim.scheme {
        Scheme::V1 { signature } => v1::verify(view.method, &req.params, signature, secret),
        Scheme::V3 {
            signed_headers,
            signature,
        } => v3::verify(view, req.query_pairs(), signed_headers, signature, secret),
    }
}

fn parse_timestamp(text: Option<&str>) -> Result<i64, ProtocolError> {
    text.and_then(timefmt::parse_unix)
        .ok_or(ProtocolError::IllegalTimestamp)
}

/// Sorted `pct(name)=pct(value)` pairs joined with `&` (both versions' canonical query).
fn canonical_query<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>, out: &mut String) {
    let mut encoded: Vec<(String, &str)> = pairs.map(|(k, v)| (crate::pct::encode(k), v)).collect();
    encoded.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        crate::pct::encode_into(out, v);
    }
}

#[cfg(test)]
mod tests;

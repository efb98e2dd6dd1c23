//! The client side of both signatures, shared by the CLI, the load generator and the tests so
//! that what we sign is checked by the same code that verifies.

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};
use ring::hmac;

use super::{v1, v3};
use crate::pct;

/// A request ready to send: the encoded query string, headers and body.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Query string without `?`.
    pub query: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// What to sign: an RPC action with its parameters split between query and form body.
#[derive(Debug, Clone, Default)]
pub struct Call<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub action: &'a str,
    pub version: &'a str,
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
}

/// Credentials and the per-request freshness values.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a [u8],
    pub security_token: Option<&'a str>,
}

impl Signer<'_> {
    /// Signs with ACS3-HMAC-SHA256; `date` is `YYYY-MM-DDThh:mm:ssZ`.
    pub fn sign_v3(&self, call: &Call<'_>, nonce: &str, date: &str) -> Signed {
        let body = encode_pairs(&call.form).into_bytes();
        let hash = v3::payload_hash(&body);
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        };
        put("host", call.host);
        put("x-acs-action", call.action);
        put("x-acs-version", call.version);
        put("x-acs-date", date);
        put("x-acs-signature-nonce", nonce);
        put("x-acs-content-sha256", &hash);
        put("content-type", "application/x-www-form-urlencoded");
        if let Some(token) = self.security_token {
            put("x-acs-security-token", token);
        }
        let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        let signed_headers = names.join(";");
        let canonical =
            v3::canonical_request(call.method, &call.query, &headers, &signed_headers, &hash);
        let sts = v3::string_to_sign(&canonical);
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, self.secret),
            sts.as_bytes(),
        );
        let auth = format!(
            "{} Credential={},SignedHeaders={},Signature={}",
            v3::ALGORITHM,
            self.access_key_id,
            signed_headers,
            hex::encode(tag.as_ref())
        );
        if let Ok(v) = HeaderValue::from_str(&auth) {
            headers.insert(http::header::AUTHORIZATION, v);
        }
        Signed {
            query: encode_pairs(&call.query),
            headers,
            body,
        }
    }

    /// Signs with HMAC-SHA1: the common parameters join `call.query`; the form stays in the
    /// body and is signed too.
    pub fn sign_v1(&self, call: &Call<'_>, nonce: &str, timestamp: &str) -> Signed {
        let mut query = call.query.clone();
        let mut common = vec![
            ("Action", call.action),
            ("Version", call.version),
            ("Format", "JSON"),
            ("AccessKeyId", self.access_key_id),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", nonce),
            ("Timestamp", timestamp),
        ];
        if let Some(token) = self.security_token {
            common.push(("SecurityToken", token));
        }
        query.extend(
            common
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let mut all = query.clone();
        all.extend(call.form.iter().cloned());
        let sts = v1::string_to_sign(call.method, &all);
        let tag = hmac::sign(&v1::key(self.secret), sts.as_bytes());
        query.push((
            "Signature".to_owned(),
            base64::engine::general_purpose::STANDARD.encode(tag.as_ref()),
        ));
        let mut headers = HeaderMap::new();
        if let Ok(h) = HeaderValue::from_str(call.host) {
            headers.insert(http::header::HOST, h);
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        Signed {
            query: encode_pairs(&query),
            headers,
            body: encode_pairs(&call.form).into_bytes(),
        }
    }
}

/// `pct(k)=pct(v)&...` in the given order.
pub fn encode_pairs(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        pct::encode_into(&mut out, k);
        out.push('=');
        pct::encode_into(&mut out, v);
    }
    out
}

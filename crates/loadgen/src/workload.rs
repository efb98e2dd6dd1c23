//! What one request of a run is: the action, its parameters, how it is signed and what a good
//! answer looks like. Signing goes through `openkms_wire::signature::signer`, the same code the
//! server's verifier is tested against, so the load tool cannot drift from the server's rules.

use bytes::Bytes;
use clap::ValueEnum;
use http::HeaderMap;
use openkms_wire::signature::signer::{Call, Signer};

use crate::dialer::Dialer;

/// The signature scheme requests carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignatureVersion {
    /// ACS3-HMAC-SHA256 in the `Authorization` header (the current SDKs).
    V3,
    /// HMAC-SHA1 over the parameters (`Signature` in the query; the legacy SDKs).
    V1,
}

impl SignatureVersion {
    pub fn name(self) -> &'static str {
        match self {
            Self::V3 => "v3",
            Self::V1 => "v1",
        }
    }
}

/// The actions the tool sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    GetSecretValue,
    PutSecretValue,
    CreateSecret,
    /// Encrypt `Target::value` (base64) under `Target::key_id`.
    Encrypt,
    /// Decrypt `Target::ciphertext_blob`.
    Decrypt,
    /// CreateKey (preparation of the Encrypt/Decrypt runs).
    CreateKey,
}

impl Operation {
    /// The Alibaba action name.
    pub fn action(self) -> &'static str {
        match self {
            Self::GetSecretValue => "GetSecretValue",
            Self::PutSecretValue => "PutSecretValue",
            Self::CreateSecret => "CreateSecret",
            Self::Encrypt => "Encrypt",
            Self::Decrypt => "Decrypt",
            Self::CreateKey => "CreateKey",
        }
    }

    /// A field every successful answer of this action holds (checked on each response).
    pub fn success_marker(self) -> &'static [u8] {
        match self {
            Self::GetSecretValue => b"\"SecretData\"",
            Self::PutSecretValue | Self::CreateSecret => b"\"VersionId\"",
            Self::Encrypt => b"\"CiphertextBlob\"",
            Self::Decrypt => b"\"Plaintext\"",
            Self::CreateKey => b"\"KeyMetadata\"",
        }
    }
}

/// Who signs, how, and for which endpoint.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The endpoint's `host[:port]`: the signed `host` header.
    pub endpoint: String,
    /// Where connections go.
    pub dialer: Dialer,
    pub access_key_id: String,
    pub access_key_secret: String,
    pub signature: SignatureVersion,
}

/// The secret (or key) a run reads or writes.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub secret_name: String,
    /// `SecretData` for the writing actions; the plaintext (before base64) for Encrypt.
    pub value: String,
    /// The key Encrypt uses.
    pub key_id: String,
    /// The blob Decrypt opens.
    pub ciphertext_blob: String,
}

/// A signed request before it becomes an HTTP request: what the server will verify.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Query string without `?`.
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Outgoing {
    /// Appends the request as HTTP/1.1 bytes: `POST /?query`, the signed headers, an explicit
    /// `Content-Length` (and `Connection: close` when `close`; unsigned, as the SDKs send it)
    /// and the form body.
    pub fn write_http1(&self, out: &mut Vec<u8>, close: bool) {
        out.extend_from_slice(b"POST /?");
        out.extend_from_slice(self.query.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(self.body.len().to_string().as_bytes());
        if close {
            out.extend_from_slice(b"\r\nconnection: close");
        }
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&self.body);
    }
}

/// Signs one request. `nonce` must be fresh for every request (the server rejects a reused
/// one); `date` is the current time as `YYYY-MM-DDThh:mm:ssZ`.
pub fn sign(
    op: Operation,
    creds: &Credentials,
    target: &Target,
    version_id: Option<&str>,
    nonce: &str,
    date: &str,
) -> Outgoing {
    let mut query = Vec::new();
    let mut form = Vec::new();
    match op {
        Operation::GetSecretValue | Operation::PutSecretValue | Operation::CreateSecret => {
            query.push(("SecretName".to_owned(), target.secret_name.clone()));
        }
        Operation::Encrypt | Operation::Decrypt | Operation::CreateKey => {}
    }
    match op {
        Operation::GetSecretValue | Operation::CreateKey => {}
        Operation::Encrypt => {
            use base64::Engine;
            query.push(("KeyId".to_owned(), target.key_id.clone()));
            form.push((
                "Plaintext".to_owned(),
                base64::engine::general_purpose::STANDARD.encode(&target.value),
            ));
        }
        // The blob goes in the form body, as the SDKs send it.
        Operation::Decrypt => {
            form.push(("CiphertextBlob".to_owned(), target.ciphertext_blob.clone()))
        }
        Operation::PutSecretValue | Operation::CreateSecret => {
            query.push((
                "VersionId".to_owned(),
                version_id.unwrap_or_default().to_owned(),
            ));
            // The Tea SDKs send SecretData in the form body (spec traces, PutSecretValue).
            form.push(("SecretData".to_owned(), target.value.clone()));
        }
    }
    let call = Call {
        method: "POST",
        host: &creds.endpoint,
        action: op.action(),
        version: openkms_wire::API_VERSION,
        query,
        form,
    };
    let signer = Signer {
        access_key_id: &creds.access_key_id,
        secret: creds.access_key_secret.as_bytes(),
        security_token: None,
    };
    let signed = match creds.signature {
        SignatureVersion::V3 => signer.sign_v3(&call, nonce, date),
        SignatureVersion::V1 => signer.sign_v1(&call, nonce, date),
    };
    Outgoing {
        query: signed.query,
        headers: signed.headers,
        body: Bytes::from(signed.body),
    }
}

/// A fresh signature nonce: a v4 UUID as 32 hex digits, as the SDKs send it.
pub fn fresh_nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The current time as the signature timestamp.
pub fn now_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    openkms_wire::timefmt::format_unix(secs)
}

/// `len` random printable ASCII characters (`!` to `~`), drawn from v4 UUIDs.
pub fn printable_value(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() == len {
                break;
            }
            out.push(char::from(b'!' + b % 94));
        }
    }
    out
}

/// True when `haystack` holds `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{HeaderValue, CONTENT_LENGTH};
    use openkms_wire::signature;
    use openkms_wire::{RequestView, RpcRequest};

    fn creds(signature: SignatureVersion) -> Credentials {
        Credentials {
            endpoint: "127.0.0.1:8080".to_owned(),
            dialer: crate::dialer::Dialer::plain(([127, 0, 0, 1], 8080).into()),
            access_key_id: "benchAK".to_owned(),
            access_key_secret: "benchSecret".to_owned(),
            signature,
        }
    }

    fn target() -> Target {
        Target {
            secret_name: "bench/secret".to_owned(),
            value: printable_value(1024),
            key_id: "key-1".to_owned(),
            ciphertext_blob: "AQIDBA==".to_owned(),
        }
    }

    /// Parses the bytes the tool sends as the server does, and verifies the signature.
    fn verify_as_server(wire: &[u8], secret: &[u8]) -> RpcRequest {
        let mut raw = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut raw);
        let httparse::Status::Complete(head_len) = req.parse(wire).unwrap() else {
            panic!("incomplete head");
        };
        assert_eq!(req.method, Some("POST"));
        let target = req.path.unwrap();
        assert!(target.starts_with("/?"));
        let mut headers = HeaderMap::new();
        for h in req.headers.iter() {
            headers.append(
                http::header::HeaderName::from_bytes(h.name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(h.value).unwrap(),
            );
        }
        let body = &wire[head_len..];
        assert_eq!(
            headers.get(CONTENT_LENGTH).unwrap(),
            &body.len().to_string()
        );
        let view = RequestView {
            method: "POST",
            query: &target[2..],
            headers: &headers,
            body,
        };
        let parsed = RpcRequest::parse(&view).unwrap();
        signature::verify(&view, &parsed, secret).unwrap();
        assert!(signature::verify(&view, &parsed, b"wrongSecret").is_err());
        parsed
    }

    fn signed(op: Operation, sig: SignatureVersion, nonce: &str) -> (Target, RpcRequest) {
        let c = creds(sig);
        let t = target();
        let out = sign(op, &c, &t, Some("v-1"), nonce, &now_date());
        let mut wire = Vec::new();
        out.write_http1(&mut wire, false);
        let parsed = verify_as_server(&wire, c.access_key_secret.as_bytes());
        (t, parsed)
    }

    #[test]
    fn connection_close_travels_unsigned_and_the_request_still_verifies() {
        for sig in [SignatureVersion::V3, SignatureVersion::V1] {
            let c = creds(sig);
            let out = sign(
                Operation::GetSecretValue,
                &c,
                &target(),
                None,
                &fresh_nonce(),
                &now_date(),
            );
            let mut wire = Vec::new();
            out.write_http1(&mut wire, true);
            let text = String::from_utf8_lossy(&wire);
            assert!(text.contains("\r\nconnection: close\r\n\r\n"), "{text}");
            verify_as_server(&wire, c.access_key_secret.as_bytes());
        }
    }

    #[test]
    fn encrypt_and_decrypt_verify_and_carry_key_plaintext_and_blob() {
        use base64::Engine;
        for sig in [SignatureVersion::V3, SignatureVersion::V1] {
            let (t, p) = signed(Operation::Encrypt, sig, &fresh_nonce());
            assert_eq!(p.action.as_deref(), Some("Encrypt"));
            assert_eq!(p.params.get("KeyId"), Some("key-1"));
            let plain = base64::engine::general_purpose::STANDARD
                .decode(p.params.get("Plaintext").unwrap())
                .unwrap();
            assert_eq!(plain, t.value.as_bytes());
            assert_eq!(p.params.get("SecretName"), None);
            let (_, p) = signed(Operation::Decrypt, sig, &fresh_nonce());
            assert_eq!(p.action.as_deref(), Some("Decrypt"));
            assert_eq!(p.params.get("CiphertextBlob"), Some("AQIDBA=="));
        }
    }

    fn check(op: Operation, sig: SignatureVersion) {
        let nonce = fresh_nonce();
        let (t, parsed) = signed(op, sig, &nonce);
        assert_eq!(parsed.action.as_deref(), Some(op.action()));
        assert_eq!(parsed.version.as_deref(), Some("2016-01-20"));
        assert_eq!(parsed.claim.nonce, nonce);
        assert_eq!(parsed.claim.access_key_id, "benchAK");
        assert_eq!(parsed.params.get("SecretName"), Some("bench/secret"));
        if op != Operation::GetSecretValue {
            assert_eq!(parsed.params.get("SecretData"), Some(t.value.as_str()));
            assert_eq!(parsed.params.get("VersionId"), Some("v-1"));
        }
    }

    #[test]
    fn get_secret_value_v3_verifies_with_the_server_rules() {
        check(Operation::GetSecretValue, SignatureVersion::V3);
    }

    #[test]
    fn get_secret_value_v1_verifies_with_the_server_rules() {
        check(Operation::GetSecretValue, SignatureVersion::V1);
    }

    #[test]
    fn put_secret_value_with_form_body_verifies_in_both_versions() {
        check(Operation::PutSecretValue, SignatureVersion::V3);
        check(Operation::PutSecretValue, SignatureVersion::V1);
    }

    #[test]
    fn create_secret_verifies() {
        check(Operation::CreateSecret, SignatureVersion::V3);
    }

    #[test]
    fn every_request_gets_a_fresh_nonce() {
        let a = fresh_nonce();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, fresh_nonce());
    }

    #[test]
    fn printable_value_has_the_asked_length_and_charset() {
        for len in [0, 1, 15, 16, 17, 1024] {
            let v = printable_value(len);
            assert_eq!(v.len(), len);
            assert!(v.bytes().all(|b| b.is_ascii_graphic()));
        }
    }

    #[test]
    fn finds_the_success_marker() {
        let body = br#"{"RequestId":"x","SecretData":"abc"}"#;
        assert!(contains(body, Operation::GetSecretValue.success_marker()));
        assert!(!contains(
            br#"{"Code":"Forbidden.ResourceNotFound"}"#,
            Operation::GetSecretValue.success_marker()
        ));
    }
}

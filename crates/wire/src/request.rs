//! Turns the bytes of an HTTP request into an [`RpcRequest`]: one parameter map, the action and
//! version, the reply format, and the signature claim to verify (kms-api.md §1.2, §1.3).
//!
//! For V1 every field is read from the signed parameters only; for V3 from the signed
//! `x-acs-*` headers. Nothing unsigned decides what the request does.

use http::HeaderMap;

use crate::error::ProtocolError;
use crate::params::Params;
use crate::render::Format;
use crate::signature::{self, Claim};

/// The parts of an HTTP request the protocol reads.
pub struct RequestView<'a> {
    pub method: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    /// The body after de-chunking.
    pub body: &'a [u8],
}

/// A parsed RPC request whose signature has not been checked yet.
#[derive(Debug)]
pub struct RpcRequest {
    /// Query and form parameters together.
    pub params: Params,
    /// How many of `params` came from the query string (they come first; V3 signs only those).
    pub query_len: usize,
    pub action: Option<String>,
    pub version: Option<String>,
    pub format: Format,
    pub claim: Claim,
}

impl RpcRequest {
    /// Parses a request. Fails on an unsupported method, malformed parameters or a missing or
    /// malformed signature claim; never looks at the action.
    pub fn parse(view: &RequestView<'_>) -> Result<Self, ProtocolError> {
        if view.method != "GET" && view.method != "POST" {
            return Err(ProtocolError::UnsupportedHttpMethod);
        }
        let mut pairs = Vec::new();
        Params::decode_form(view.query.as_bytes(), &mut pairs)?;
        let query_len = pairs.len();
        if is_form(view.headers) {
            Params::decode_form(view.body, &mut pairs)?;
        }
        let params = Params::from_pairs(pairs)?;
        let claim = signature::claim(view.headers, &params)?;
        let (action, version) = if claim.is_v3() {
            (
                header(view.headers, "x-acs-action").map(str::to_owned),
                header(view.headers, "x-acs-version").map(str::to_owned),
            )
        } else {
            (
                params.optional("Action").map(str::to_owned),
                params.optional("Version").map(str::to_owned),
            )
        };
        let format = match params.optional("Format") {
            Some(f) if f.eq_ignore_ascii_case("xml") => Format::Xml,
            _ => Format::Json,
        };
        Ok(Self {
            params,
            query_len,
            action,
            version,
            format,
            claim,
        })
    }

    /// Parameters that arrived in the query string.
    pub fn query_pairs(&self) -> &[(String, String)] {
        self.params
            .pairs()
            .get(..self.query_len)
            .unwrap_or_default()
    }
}

/// A header's value as text, if present and valid UTF-8.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn is_form(headers: &HeaderMap) -> bool {
    header(headers, "content-type").is_some_and(|ct| {
        ct.get(..33)
            .is_some_and(|p| p.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_put() {
        let h = HeaderMap::new();
        let v = RequestView {
            method: "PUT",
            query: "",
            headers: &h,
            body: b"",
        };
        assert_eq!(
            RpcRequest::parse(&v).unwrap_err(),
            ProtocolError::UnsupportedHttpMethod
        );
    }

    #[test]
    fn request_without_any_signature_is_incomplete() {
        let h = HeaderMap::new();
        let v = RequestView {
            method: "GET",
            query: "Action=GetSecretValue",
            headers: &h,
            body: b"",
        };
        assert!(matches!(
            RpcRequest::parse(&v).unwrap_err(),
            ProtocolError::IncompleteSignature { .. }
        ));
    }
}

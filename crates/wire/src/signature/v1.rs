//! Signature V1: HMAC-SHA1 over `METHOD&%2F&pct(canonical query)` (kms-api.md §2.1).

use base64::Engine;
use ring::hmac;
use zeroize::Zeroize;

use super::{canonical_query, parse_timestamp, Claim, Scheme};
use crate::error::ProtocolError;
use crate::params::Params;

pub(super) fn claim(params: &Params) -> Result<Claim, ProtocolError> {
    let incomplete = |reason| ProtocolError::IncompleteSignature { reason };
    let access_key_id = params
        .optional("AccessKeyId")
        .ok_or(ProtocolError::MissingParameter {
            name: "AccessKeyId",
        })?;
    match params.optional("SignatureMethod") {
        Some("HMAC-SHA1") => {}
        Some(_) => return Err(incomplete("SignatureMethod must be HMAC-SHA1")),
        None => {
            return Err(ProtocolError::MissingParameter {
                name: "SignatureMethod",
            })
        }
    }
    if let Some(v) = params.optional("SignatureVersion") {
        if v != "1.0" {
            return Err(incomplete("SignatureVersion must be 1.0"));
        }
    }
    let nonce = params
        .optional("SignatureNonce")
        .ok_or(ProtocolError::MissingParameter {
            name: "SignatureNonce",
        })?;
    let timestamp = parse_timestamp(params.optional("Timestamp"))?;
    let signature = params
        .optional("Signature")
        .ok_or(incomplete("the Signature parameter is empty"))?;
    Ok(Claim {
        access_key_id: access_key_id.to_owned(),
        nonce: nonce.to_owned(),
        timestamp,
        security_token: params.optional("SecurityToken").map(str::to_owned),
        scheme: Scheme::V1 {
            signature: signature.to_owned(),
        },
    })
}

/// The V1 string to sign for a method and parameter set (`Signature` itself left out).
pub fn string_to_sign(method: &str, pairs: &[(String, String)]) -> String {
    let mut canonical = String::with_capacity(512);
    canonical_query(
        pairs
            .iter()
            .filter(|(k, _)| k != "Signature")
            .map(|(k, v)| (k.as_str(), v.as_str())),
        &mut canonical,
    );
    let mut sts = String::with_capacity(canonical.len() * 5 / 4 + 16);
    sts.push_str(method);
    sts.push_str("&%2F&");
    crate::pct::encode_into(&mut sts, &canonical);
    sts
}

/// The V1 HMAC key is the secret followed by `&`.
pub fn key(secret: &[u8]) -> hmac::Key {
    let mut k = Vec::with_capacity(secret.len() + 1);
    k.extend_from_slice(secret);
    k.push(b'&');
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &k);
    k.zeroize();
    key
}

pub(super) fn verify(
    method: &str,
    params: &Params,
    signature: &str,
    secret: &[u8],
) -> Result<(), ProtocolError> {
    let sts = string_to_sign(method, params.pairs());
    let ok = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .is_ok_and(|tag| hmac::verify(&key(secret), sts.as_bytes(), &tag).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ProtocolError::SignatureV1Mismatch {
            string_to_sign: sts,
        })
    }
}

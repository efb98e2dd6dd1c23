//! `RpcRequest::parse` on a request (method, query, headers, body; text form in
//! `openkms_fuzz::TextRequest`): the parameter map, the V1 claim (Signature, SignatureNonce,
//! Timestamp, ... parameters) and the V3 claim (`Authorization: ACS3-HMAC-SHA256 ...` and the
//! `x-acs-*` headers); then `signature::verify` with the captures' secret, which builds the V1
//! string to sign or the V3 canonical request. Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openkms_fuzz::TextRequest;
use openkms_wire::{signature, RequestView, RpcRequest};

fuzz_target!(|data: &[u8]| {
    let Some(req) = TextRequest::parse(data) else {
        return;
    };
    let view = RequestView {
        method: req.method,
        query: req.query,
        headers: &req.headers,
        body: req.body,
    };
    let Ok(rpc) = RpcRequest::parse(&view) else {
        return;
    };
    let _ = rpc.query_pairs();
    let _ = rpc.claim.is_v3();
    let _ = signature::verify(&view, &rpc, b"testAccessKeySecret");
});

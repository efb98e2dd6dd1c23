//! Authentication, before any action is looked at: the access key must exist and be active,
//! the signature must verify, and the timestamp and nonce must be fresh.

use openkms_service::{Caller, Service};
use openkms_wire::{ErrorCode, ProtocolError, RequestView, RpcRequest};

use crate::error_response::ApiError;
use crate::rate_limit::RateLimiter;

/// Authenticates a parsed request.
pub async fn authenticate(
    service: &Service,
    rate_limit: Option<&RateLimiter>,
    peer: Option<std::net::IpAddr>,
    view: &RequestView<'_>,
    rpc: &RpcRequest,
) -> Result<Caller, ApiError> {
    let claim = &rpc.claim;
    // Temporary credentials carry their own sealed session (SecurityToken); others are stored.
    let entry = if claim
        .access_key_id
        .starts_with(openkms_service::sts::ACCESS_KEY_PREFIX)
    {
        service
            .sts_access_key(&claim.access_key_id, claim.security_token.as_deref())
            .await
            .map_err(ApiError::from)?
    } else {
        service
            .access_key(&claim.access_key_id)
            .await
            .map_err(ApiError::from)?
            .ok_or(ProtocolError::AccessKeyNotFound)?
    };
    if !entry.active {
        return Err(ApiError {
            code: ErrorCode::ForbiddenAccessKey,
            message: "The specified access key is disabled.".into(),
        });
    }
    openkms_wire::signature::verify(view, rpc, entry.secret.expose_secret())?;
    service.check_fresh(&claim.access_key_id, &claim.nonce, claim.timestamp)?;
    // After the signature (only the key's holder spends its tokens) and the local replay check
    // (a replayed capture cannot drain them), before the shared nonce costs a store write.
    if let Some(limiter) = rate_limit {
        if !limiter.allow(&claim.access_key_id) {
            return Err(ApiError {
                code: ErrorCode::RejectedThrottling,
                message: "This access key sent more requests than its rate limit allows; slow down and retry later.".into(),
            });
        }
    }
    // Nodes sharing a store also share the window: a nonce this node has not seen may have
    // reached another one.
    if !service
        .record_shared_nonce(&claim.access_key_id, &claim.nonce, claim.timestamp)
        .await
        .map_err(ApiError::from)?
    {
        return Err(openkms_service::replay::Staleness::Replayed.into());
    }
    Ok(Caller {
        access_key_id: claim.access_key_id.clone(),
        principal: entry.principal.clone(),
        source_ip: peer,
        session: entry.session.clone(),
    })
}

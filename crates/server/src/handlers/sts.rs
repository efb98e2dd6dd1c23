//! STS 2015-04-01 actions: AssumeRole and GetCallerIdentity.

use openkms_wire::actions::sts::*;
use openkms_wire::timefmt::format_unix;

use super::Cx;
use crate::error_response::ApiError;

type Reply = Result<Vec<u8>, ApiError>;

/// Runs one STS action.
pub async fn dispatch(cx: &Cx<'_>, action: StsAction) -> Reply {
    let (s, c, p) = (cx.service, cx.caller, cx.params);
    match action {
        StsAction::AssumeRole => {
            let assumed = s
                .assume_role(
                    c,
                    p.required("RoleArn")?,
                    p.required("RoleSessionName")?,
                    p.u64("DurationSeconds")?,
                    // A flattened session policy is refused, never dropped: dropping it
                    // would give the session more than the caller asked for.
                    p.json_text("Policy")?,
                    p.optional("ExternalId").filter(|id| !id.is_empty()),
                )
                .await?;
            Ok(cx.render(&AssumeRoleResponse {
                credentials: Credentials {
                    access_key_id: assumed.access_key_id,
                    access_key_secret: assumed.access_key_secret,
                    security_token: assumed.security_token,
                    expiration: format_unix(assumed.expires_at),
                },
                assumed_role_user: AssumedRoleUser {
                    arn: assumed.arn,
                    assumed_role_id: assumed.assumed_role_id,
                },
            }))
        }
        StsAction::GetCallerIdentity => {
            let id = s.get_caller_identity(c).await?;
            Ok(cx.render(&GetCallerIdentityResponse {
                account_id: id.account_id,
                user_id: id.user_id,
                arn: id.arn,
                identity_type: id.identity_type.to_owned(),
                principal_id: id.principal_id,
                role_id: id.role_id,
            }))
        }
    }
}

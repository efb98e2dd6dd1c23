//! RotateSecret and the own db-instance registry actions.

use openkms_service::rotation::{DbInstanceInput, DbInstanceView, TlsInput};
use openkms_wire::actions::common::EmptyResponse;
use openkms_wire::actions::rotation::*;
use openkms_wire::timefmt::format_unix;

use super::Cx;
use crate::error_response::ApiError;

type Reply = Result<Vec<u8>, ApiError>;

pub async fn rotate_secret(cx: &Cx<'_>) -> Reply {
    let r = RotateSecretRequest::read(cx.params)?;
    let out = cx
        .service
        .rotate_secret(cx.caller, r.secret_name, r.version_id)
        .await?;
    Ok(cx.render(&RotateSecretResponse {
        arn: out.arn,
        secret_name: out.secret_name,
        version_id: out.version_id,
    }))
}

pub async fn own(cx: &Cx<'_>, action: OwnAction) -> Reply {
    match action {
        OwnAction::AddDbInstance => {
            let r = AddDbInstanceRequest::read(cx.params)?;
            let rec = cx
                .service
                .add_db_instance(
                    cx.caller,
                    DbInstanceInput {
                        instance_id: r.db_instance_id,
                        engine: r.engine,
                        address: r.address,
                        admin_secret: r.admin_secret_name,
                        tls: TlsInput {
                            mode: r.tls_mode,
                            ca: r.tls_ca_certificate,
                        },
                    },
                )
                .await?;
            Ok(cx.render(&DbInstanceResponse {
                db_instance: item(rec),
            }))
        }
        OwnAction::ListDbInstances => {
            let list = cx.service.list_db_instances(cx.caller).await?;
            Ok(cx.render(&ListDbInstancesResponse {
                db_instances: DbInstanceList {
                    items: list.into_iter().map(item).collect(),
                },
            }))
        }
        OwnAction::RemoveDbInstance => {
            let r = RemoveDbInstanceRequest::read(cx.params)?;
            cx.service
                .remove_db_instance(cx.caller, r.db_instance_id)
                .await?;
            Ok(cx.render(&EmptyResponse {}))
        }
    }
}

fn item(v: DbInstanceView) -> DbInstanceItem {
    DbInstanceItem {
        db_instance_id: v.instance_id,
        engine: v.engine,
        address: v.address,
        admin_secret_name: v.admin_secret,
        create_time: format_unix(v.created_at),
        tls_mode: v.tls_mode,
        tls_ca_configured: v.tls_ca_configured,
    }
}

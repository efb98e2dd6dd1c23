//! Service-level actions: instances and account status.

use openkms_service::instances::InstanceView;
use openkms_wire::actions::service::*;
use openkms_wire::timefmt::format_unix;

use super::Cx;
use crate::error_response::ApiError;

type Reply = Result<Vec<u8>, ApiError>;

pub async fn list_kms_instances(cx: &Cx<'_>) -> Reply {
    let p = cx.params;
    let page = cx
        .service
        .list_kms_instances(
            cx.caller,
            p.u64("PageNumber")?,
            p.u64("PageSize")?,
            p.json_text("Filters")?,
        )
        .await?;
    Ok(cx.render(&ListKmsInstancesResponse {
        page_number: page.page_number,
        page_size: page.page_size,
        total_count: page.total_count,
        kms_instances: KmsInstances {
            kms_instance: page.instances.into_iter().map(instance_item).collect(),
        },
    }))
}

fn instance_item(i: InstanceView) -> KmsInstanceItem {
    KmsInstanceItem {
        kms_instance_id: i.instance_id,
        kms_instance_arn: i.arn,
    }
}

pub async fn get_kms_instance(cx: &Cx<'_>) -> Reply {
    let id = cx.params.required("KmsInstanceId")?;
    let r = cx.service.get_kms_instance(cx.caller, id).await?;
    Ok(cx.render(&GetKmsInstanceResponse {
        kms_instance: KmsInstanceDetail {
            instance_name: r.instance_id.clone(),
            instance_id: r.instance_id,
            status: "Connected".into(),
            create_time: format_unix(r.created_at),
            start_date: format_unix(r.created_at),
            key_num: r.key_count,
            secret_num: r.secret_count.to_string(),
            product_version: "3".into(),
            deletion_protection: false,
        },
    }))
}

pub async fn describe_account_kms_status(cx: &Cx<'_>) -> Reply {
    Ok(cx.render(&AccountStatusResponse {
        account_status: "Enabled".into(),
    }))
}

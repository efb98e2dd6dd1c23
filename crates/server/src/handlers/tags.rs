//! Tag actions: read the wire request, call the service, shape the reply.

use openkms_service::tags::TagTarget;
use openkms_wire::actions::common::EmptyResponse;
use openkms_wire::actions::tags::*;

use super::Cx;
use crate::error_response::ApiError;

type Reply = Result<Vec<u8>, ApiError>;

/// The resource to change: the one authorization checked (a key as the id it resolved to).
fn target<'a>(cx: &'a Cx<'_>, t: TagResourceTarget<'a>) -> TagTarget<'a> {
    match t {
        TagResourceTarget::SecretName(n) => TagTarget::Secret(n),
        TagResourceTarget::KeyId(k) => TagTarget::Key(cx.authorized.key(k)),
        TagResourceTarget::CertificateId(c) => TagTarget::Certificate(c),
    }
}

pub async fn tag_resource(cx: &Cx<'_>) -> Reply {
    let t = TagResourceTarget::read(cx.params)?;
    cx.params.refuse_flattened("Tags")?;
    let tags = cx.params.required("Tags")?;
    cx.service
        .tag_resource(cx.caller, target(cx, t), tags)
        .await?;
    Ok(cx.render(&EmptyResponse {}))
}

pub async fn untag_resource(cx: &Cx<'_>) -> Reply {
    let t = TagResourceTarget::read(cx.params)?;
    cx.params.refuse_flattened("TagKeys")?;
    let keys = cx.params.required("TagKeys")?;
    cx.service
        .untag_resource(cx.caller, target(cx, t), keys)
        .await?;
    Ok(cx.render(&EmptyResponse {}))
}

pub async fn tag_resources(cx: &Cx<'_>) -> Reply {
    let set = ResourceSet::read(cx.params)?;
    let tags: Vec<(&str, &str)> = indexed_tags(cx.params)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    cx.service
        .tag_resources(
            cx.caller,
            set.region_id,
            set.resource_type,
            &set.resource_ids,
            &tags,
        )
        .await?;
    Ok(cx.render(&EmptyResponse {}))
}

pub async fn untag_resources(cx: &Cx<'_>) -> Reply {
    let set = ResourceSet::read(cx.params)?;
    let keys = cx.params.indexed_list("TagKey")?;
    let all = cx.params.bool("All")?.unwrap_or(false);
    cx.service
        .untag_resources(
            cx.caller,
            set.region_id,
            set.resource_type,
            &set.resource_ids,
            &keys,
            all,
        )
        .await?;
    Ok(cx.render(&EmptyResponse {}))
}

pub async fn list_tag_resources(cx: &Cx<'_>) -> Reply {
    let set = ResourceSet::read(cx.params)?;
    let filter = indexed_tags(cx.params)?;
    let page = cx
        .service
        .list_tag_resources(
            cx.caller,
            set.region_id,
            set.resource_type,
            &set.resource_ids,
            &filter,
            cx.params.optional("NextToken"),
        )
        .await?;
    Ok(cx.render(&ListTagResourcesResponse {
        next_token: page.next_token.unwrap_or_default(),
        tag_resources: TagResources {
            tag_resource: page
                .rows
                .into_iter()
                .map(|r| TagResourceItem {
                    resource_id: r.resource_id,
                    resource_type: set.resource_type.to_owned(),
                    tag_key: r.key,
                    tag_value: r.value,
                })
                .collect(),
        },
    }))
}

pub async fn list_resource_tags(cx: &Cx<'_>) -> Reply {
    let key_id = cx.params.required("KeyId")?;
    let tags = cx
        .service
        .list_resource_tags(cx.caller, cx.authorized.key(key_id))
        .await?;
    Ok(cx.render(&ListResourceTagsResponse {
        tags: KeyTags {
            tag: tags
                .into_iter()
                .map(|t| KeyTagItem {
                    key_id: key_id.to_owned(),
                    tag_key: t.key,
                    tag_value: t.value,
                })
                .collect(),
        },
    }))
}

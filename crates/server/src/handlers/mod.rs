//! Routing: the Version check, the action lookup, and one handler per implemented action.
//! A KMS action we do not implement answers `UnsupportedOperation`; an unknown name answers
//! `InvalidAction.NotFound`. Both only after authentication.

mod authz;
mod keys;
mod ram;
mod rotation;
mod secrets;
mod service;
mod sts;
mod tags;

use openkms_service::authz::Authorized;
use openkms_service::{Caller, Service};
use openkms_wire::actions::ram::{RamAction, RAM_API_VERSION};
use openkms_wire::actions::rotation::OwnAction;
use openkms_wire::actions::sts::{StsAction, STS_API_VERSION};
use openkms_wire::render::Format;
use openkms_wire::{Action, ProtocolError, RpcRequest, API_VERSION};

use crate::error_response::ApiError;

/// Runs the request's action; returns the action name (for metrics) and the reply body.
pub async fn dispatch(
    service: &Service,
    caller: &Caller,
    rpc: &RpcRequest,
    format: Format,
    request_id: &str,
) -> (&'static str, Result<Vec<u8>, ApiError>) {
    let mut cx = Cx {
        service,
        caller,
        params: &rpc.params,
        format,
        request_id,
        authorized: Authorized::default(),
    };
    if rpc.version.as_deref() == Some(API_VERSION) {
        if let Some(own) = rpc.action.as_deref().and_then(OwnAction::parse) {
            // openkms's own administrative actions: the root key only.
            if !caller.is_root() {
                let denied = openkms_service::Error::NoPermission {
                    action: format!("kms:{}", own.name()),
                    resource: "*".to_owned(),
                };
                return (own.name(), Err(denied.into()));
            }
            return (own.name(), rotation::own(&cx, own).await);
        }
    }
    let routed = match route(rpc) {
        Ok(a) => a,
        Err(e) => return ("-", Err(e.into())),
    };
    let action = match routed {
        Routed::Kms(action) => {
            // The resources come from one rule per action; an empty or ambiguous one is a 400
            // before anything is authorized.
            let target = match authz::target(action, &rpc.params) {
                Ok(t) => t,
                Err(e) => return (action.name(), Err(e.into())),
            };
            match service.authorize(caller, action.name(), target).await {
                Ok(resolved) => {
                    cx.authorized = resolved;
                    action
                }
                Err(e) => return (action.name(), Err(e.into())),
            }
        }
        Routed::Ram(action) => return (action.name(), ram::dispatch(&cx, action).await),
        Routed::Sts(action) => return (action.name(), sts::dispatch(&cx, action).await),
    };
    let result = match action {
        Action::CreateSecret => secrets::create(&cx).await,
        Action::GetSecretValue => secrets::get_value(&cx).await,
        Action::DescribeSecret => secrets::describe(&cx).await,
        Action::PutSecretValue => secrets::put_value(&cx).await,
        Action::ListSecretVersionIds => secrets::list_version_ids(&cx).await,
        Action::DeleteSecret => secrets::delete(&cx).await,
        Action::ListSecrets => secrets::list(&cx).await,
        Action::TagResource => tags::tag_resource(&cx).await,
        Action::UntagResource => tags::untag_resource(&cx).await,
        Action::TagResources => tags::tag_resources(&cx).await,
        Action::UntagResources => tags::untag_resources(&cx).await,
        Action::ListTagResources => tags::list_tag_resources(&cx).await,
        Action::ListResourceTags => tags::list_resource_tags(&cx).await,
        Action::ListKmsInstances => service::list_kms_instances(&cx).await,
        Action::GetKmsInstance => service::get_kms_instance(&cx).await,
        Action::DescribeAccountKmsStatus => service::describe_account_kms_status(&cx).await,
        Action::RestoreSecret => secrets::restore(&cx).await,
        Action::RotateSecret => rotation::rotate_secret(&cx).await,
        Action::UpdateSecret => secrets::update(&cx).await,
        Action::UpdateSecretVersionStage => secrets::update_version_stage(&cx).await,
        Action::GetSecretPolicy => secrets::get_policy(&cx).await,
        Action::SetSecretPolicy => secrets::set_policy(&cx).await,
        Action::UpdateSecretRotationPolicy => secrets::update_rotation_policy(&cx).await,
        Action::BatchGetSecretValue => secrets::batch_get_value(&cx).await,
        Action::GetRandomPassword => secrets::random_password(&cx).await,
        Action::DescribeRegions => secrets::describe_regions(&cx).await,
        Action::CreateKey => keys::create(&cx).await,
        Action::DescribeKey => keys::describe(&cx).await,
        Action::ListKeys => keys::list(&cx).await,
        Action::UpdateKeyDescription => keys::update_description(&cx).await,
        Action::EnableKey => keys::enable(&cx).await,
        Action::DisableKey => keys::disable(&cx).await,
        Action::ScheduleKeyDeletion => keys::schedule_deletion(&cx).await,
        Action::CancelKeyDeletion => keys::cancel_deletion(&cx).await,
        Action::CreateKeyVersion => keys::create_version(&cx).await,
        Action::DescribeKeyVersion => keys::describe_version(&cx).await,
        Action::ListKeyVersions => keys::list_versions(&cx).await,
        Action::UpdateRotationPolicy => keys::update_rotation_policy(&cx).await,
        Action::CreateAlias => keys::create_alias(&cx).await,
        Action::UpdateAlias => keys::update_alias(&cx).await,
        Action::DeleteAlias => keys::delete_alias(&cx).await,
        Action::ListAliases => keys::list_aliases(&cx).await,
        Action::ListAliasesByKeyId => keys::list_aliases_by_key_id(&cx).await,
        Action::Encrypt => keys::encrypt(&cx).await,
        Action::Decrypt => keys::decrypt(&cx).await,
        Action::GenerateDataKey => keys::generate_data_key(&cx, true).await,
        Action::GenerateDataKeyWithoutPlaintext => keys::generate_data_key(&cx, false).await,
        _ => Err(ProtocolError::UnsupportedOperation.into()),
    };
    (action.name(), result)
}

/// Which API a request speaks: told apart by `Version` (KMS 2016-01-20, RAM 2015-05-01,
/// STS 2015-04-01).
enum Routed {
    Kms(Action),
    Ram(RamAction),
    Sts(StsAction),
}

fn route(rpc: &RpcRequest) -> Result<Routed, ProtocolError> {
    let version = rpc
        .version
        .as_deref()
        .ok_or(ProtocolError::MissingParameter { name: "Version" })?;
    if version != API_VERSION && version != RAM_API_VERSION && version != STS_API_VERSION {
        return Err(ProtocolError::InvalidVersion);
    }
    let name = rpc
        .action
        .as_deref()
        .ok_or(ProtocolError::MissingParameter { name: "Action" })?;
    if version == STS_API_VERSION {
        return StsAction::parse(name)
            .map(Routed::Sts)
            .ok_or(ProtocolError::InvalidAction);
    }
    if version == RAM_API_VERSION {
        return RamAction::parse(name)
            .map(Routed::Ram)
            .ok_or(ProtocolError::InvalidAction);
    }
    Action::parse(name)
        .map(Routed::Kms)
        .ok_or(ProtocolError::InvalidAction)
}

/// What a handler works with.
pub struct Cx<'a> {
    pub service: &'a Service,
    pub caller: &'a Caller,
    pub params: &'a openkms_wire::Params,
    pub format: Format,
    pub request_id: &'a str,
    /// What authorization resolved (the key a KeyId named, the key an alias named): handlers
    /// act on these, never on a second reading of the parameters.
    pub authorized: Authorized,
}

impl Cx<'_> {
    fn render<T: serde::Serialize>(&self, body: &T) -> Vec<u8> {
        openkms_wire::render::success(self.format, self.request_id, body)
    }
}

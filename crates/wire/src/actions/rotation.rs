//! RotateSecret, and openkms's own actions for the registry of database instances that
//! managed rotation reaches. The own actions are not Alibaba's (RDS has its own control
//! plane); their names start with `Openkms` and they are served under the KMS version.

use serde::Serialize;

use crate::{Params, ProtocolError};

/// The own actions, by wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnAction {
    AddDbInstance,
    ListDbInstances,
    RemoveDbInstance,
}

impl OwnAction {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "OpenkmsAddDbInstance" => Some(Self::AddDbInstance),
            "OpenkmsListDbInstances" => Some(Self::ListDbInstances),
            "OpenkmsRemoveDbInstance" => Some(Self::RemoveDbInstance),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::AddDbInstance => "OpenkmsAddDbInstance",
            Self::ListDbInstances => "OpenkmsListDbInstances",
            Self::RemoveDbInstance => "OpenkmsRemoveDbInstance",
        }
    }
}

/// RotateSecret parameters.
#[derive(Debug)]
pub struct RotateSecretRequest<'a> {
    pub secret_name: &'a str,
    pub version_id: &'a str,
}

impl<'a> RotateSecretRequest<'a> {
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            secret_name: p.required("SecretName")?,
            version_id: p.required("VersionId")?,
        })
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotateSecretResponse {
    pub arn: String,
    pub secret_name: String,
    pub version_id: String,
}

/// OpenkmsAddDbInstance parameters.
#[derive(Debug)]
pub struct AddDbInstanceRequest<'a> {
    pub db_instance_id: &'a str,
    pub engine: &'a str,
    pub address: &'a str,
    pub admin_secret_name: &'a str,
    /// `disabled`, `preferred`, `required` or `verify-identity`; absent: the service's default.
    pub tls_mode: Option<&'a str>,
    /// PEM certificates trusted to sign the instance's certificate.
    pub tls_ca_certificate: Option<&'a str>,
}

impl<'a> AddDbInstanceRequest<'a> {
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            db_instance_id: p.required("DBInstanceId")?,
            engine: p.required("Engine")?,
            address: p.required("Address")?,
            admin_secret_name: p.required("AdminSecretName")?,
            tls_mode: p.optional("TlsMode"),
            tls_ca_certificate: p.optional("TlsCaCertificate"),
        })
    }
}

/// OpenkmsRemoveDbInstance parameters.
#[derive(Debug)]
pub struct RemoveDbInstanceRequest<'a> {
    pub db_instance_id: &'a str,
}

impl<'a> RemoveDbInstanceRequest<'a> {
    pub fn read(p: &'a Params) -> Result<Self, ProtocolError> {
        Ok(Self {
            db_instance_id: p.required("DBInstanceId")?,
        })
    }
}

/// One registered instance, as the own actions report it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DbInstanceItem {
    #[serde(rename = "DBInstanceId")]
    pub db_instance_id: String,
    pub engine: String,
    pub address: String,
    pub admin_secret_name: String,
    pub create_time: String,
    pub tls_mode: String,
    /// Whether a CA certificate was registered (its text is not returned).
    pub tls_ca_configured: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DbInstanceResponse {
    #[serde(rename = "DBInstance")]
    pub db_instance: DbInstanceItem,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDbInstancesResponse {
    #[serde(rename = "DBInstances")]
    pub db_instances: DbInstanceList,
}

#[derive(Debug, Serialize)]
pub struct DbInstanceList {
    #[serde(rename = "DBInstance")]
    pub items: Vec<DbInstanceItem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_action_names_round_trip_and_do_not_shadow_kms_actions() {
        for a in [
            OwnAction::AddDbInstance,
            OwnAction::ListDbInstances,
            OwnAction::RemoveDbInstance,
        ] {
            assert_eq!(OwnAction::parse(a.name()), Some(a));
            assert!(crate::Action::parse(a.name()).is_none());
        }
    }
}

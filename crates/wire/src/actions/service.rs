//! Service-level actions (kms-api.md §3.5): instances, account status.

use serde::Serialize;

/// One instance in ListKmsInstances.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KmsInstanceItem {
    pub kms_instance_id: String,
    pub kms_instance_arn: String,
}

/// `{"KmsInstance": [...]}`.
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct KmsInstances {
    pub kms_instance: Vec<KmsInstanceItem>,
}

/// ListKmsInstances reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKmsInstancesResponse {
    pub page_number: u64,
    pub page_size: u64,
    pub total_count: u64,
    pub kms_instances: KmsInstances,
}

/// The instance fields openkms can state truthfully.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KmsInstanceDetail {
    pub instance_id: String,
    pub instance_name: String,
    pub status: String,
    pub create_time: String,
    pub start_date: String,
    pub key_num: u64,
    /// A string in the SDK model.
    pub secret_num: String,
    pub product_version: String,
    pub deletion_protection: bool,
}

/// GetKmsInstance reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKmsInstanceResponse {
    pub kms_instance: KmsInstanceDetail,
}

/// DescribeAccountKmsStatus reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountStatusResponse {
    pub account_status: String,
}

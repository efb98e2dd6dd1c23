//! RAM system policies that concern KMS, with their published documents (RAM "system policy"
//! reference pages, as of the versions noted). Statements for other services (`ram:`, `rds:`,
//! `ecs:`) are kept as published: they never match a KMS action, and GetPolicy shows the same
//! text as Alibaba's.
//!
//! Rights over what managed rotation changes (`crate::arn::db_instance_arn`): no system policy
//! grants a `ram:` access-key action, so a RAMCredentials secret needs a customer policy on the
//! user; `kms:ManageDatabaseCredential` (openkms's own action) on a registered db instance is
//! granted by AliyunKMSFullAccess (`kms:*` on `*`) and by no other: AliyunKMSSecretAdminAccess
//! grants `kms:*` only on `acs:kms:*:*:secret*`, which an instance ARN (`…:dbinstance/<id>`)
//! does not match.

use std::sync::OnceLock;

use super::compiled::Policy;

/// A system policy: name, description and document.
#[derive(Debug)]
pub struct SystemPolicy {
    /// The policy name (`AliyunKMSFullAccess`).
    pub name: &'static str,
    /// The published description.
    pub description: &'static str,
    /// The published default version id.
    pub version_id: &'static str,
    /// The document text.
    pub document: &'static str,
}

/// Every system policy openkms knows.
pub const SYSTEM_POLICIES: &[SystemPolicy] = &[
    SystemPolicy {
        name: "AliyunKMSFullAccess",
        description: "管理密钥管理服务（KMS）的权限",
        version_id: "v3",
        document: r#"{"Version":"1","Statement":[{"Action":"kms:*","Resource":"*","Effect":"Allow"},{"Action":"ram:CreateServiceLinkedRole","Condition":{"StringEquals":{"ram:ServiceName":["secretsmanager-rds.kms.aliyuncs.com","keystore.kms.aliyuncs.com"]}},"Resource":"*","Effect":"Allow"}]}"#,
    },
    SystemPolicy {
        name: "AliyunKMSReadOnlyAccess",
        description: "只读访问密钥管理服务（KMS）的权限",
        version_id: "v3",
        document: r#"{"Version":"1","Statement":[{"Action":["kms:List*","kms:Describe*","kms:GetPublicKey","kms:GetUploadBackupDataInfo","kms:GetKmsInstanceSharedAccounts","kms:GetKmsInstanceQuotaInfos","kms:GetCheckAssociateResourceTaskResults","kms:GetKeyPolicy","kms:GetKeyDefaultPolicy","kms:GetSecretPolicy","kms:GetSecretDefaultPolicy","kms:GetKmsInstance","kms:GetDefaultKmsInstance"],"Resource":"*","Effect":"Allow"}]}"#,
    },
    SystemPolicy {
        name: "AliyunKMSSecretAdminAccess",
        description: "KMS中管理凭据的权限",
        version_id: "v5",
        document: r#"{"Version":"1","Statement":[{"Action":"kms:*","Resource":"acs:kms:*:*:secret*","Effect":"Allow"},{"Action":"kms:GetRandomPassword","Resource":"*","Effect":"Allow"},{"Action":["rds:DescribeDBInstances","rds:DescribeDBInstanceAttribute","rds:DescribeDatabases","rds:DescribeAccounts","rds:DescribeDBInstanceNetInfo","rds:CreateAccount","rds:GrantAccountPrivilege"],"Resource":"*","Effect":"Allow"},{"Action":"ecs:DescribeInstances","Resource":"acs:ecs:*:*:instance/*","Effect":"Allow"},{"Action":["ecs:TagResources","ecs:UntagResources","ecs:ListTagResources"],"Resource":["acs:kms:*:*:key/*","acs:kms:*:*:secret/*"],"Effect":"Allow"},{"Action":"ram:CreateServiceLinkedRole","Condition":{"StringEquals":{"ram:ServiceName":["secretsmanager-rds.kms.aliyuncs.com","secretsmanager-ecs.kms.aliyuncs.com"]}},"Resource":"*","Effect":"Allow"}]}"#,
    },
    SystemPolicy {
        name: "AliyunKMSSecretUserAccess",
        description: "获取KMS中的凭据的权限",
        version_id: "v1",
        document: r#"{"Statement":[{"Effect":"Allow","Action":["kms:GetSecretValue"],"Resource":"*"},{"Effect":"Allow","Action":["kms:DescribeSecret","kms:ListSecretVersionIds"],"Resource":"*"}],"Version":"1"}"#,
    },
    SystemPolicy {
        name: "AliyunKMSCryptoUserAccess",
        description: "使用KMS的密钥进行密码运算的权限",
        version_id: "v1",
        document: r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey","kms:GenerateDataKeyWithoutPlaintext","kms:AsymmetricDecrypt","kms:AsymmetricEncrypt","kms:AsymmetricSign","kms:AsymmetricVerify","kms:GetPublicKey"],"Resource":"*"}]}"#,
    },
];

/// The system policy called `name` (exact case), if any.
pub fn system_policy(name: &str) -> Option<&'static SystemPolicy> {
    SYSTEM_POLICIES.iter().find(|p| p.name == name)
}

/// The compiled document of system policy `name`, compiled once per process.
pub fn compiled_system_policy(name: &str) -> Option<&'static Policy> {
    static COMPILED: OnceLock<Vec<(&'static str, Policy)>> = OnceLock::new();
    let compiled = COMPILED.get_or_init(|| {
        SYSTEM_POLICIES
            .iter()
            // The documents are constants checked by the tests below; one that failed to parse
            // would simply be absent rather than crash a server.
            .filter_map(|p| {
                Policy::parse_identity(p.document, "PolicyDocument", usize::MAX)
                    .ok()
                    .map(|c| (p.name, c))
            })
            .collect()
    });
    compiled.iter().find(|(n, _)| *n == name).map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::super::compiled::{Outcome, Request};
    use super::super::condition::RequestContext;
    use super::*;

    fn allows(policy: &str, action: &str, resource: &str) -> bool {
        let context = RequestContext::default();
        let request = Request {
            action,
            resource,
            context: &context,
        };
        compiled_system_policy(policy).unwrap().evaluate(&request) == Outcome::Allow
    }

    const SECRET: &str = "acs:kms:cn-hangzhou:1234567890123456:secret/db";
    const KEY: &str = "acs:kms:cn-hangzhou:1234567890123456:key/key-hzz1";

    #[test]
    fn every_system_policy_compiles() {
        for p in SYSTEM_POLICIES {
            assert!(compiled_system_policy(p.name).is_some(), "{}", p.name);
        }
        assert!(system_policy("AliyunKMSNothing").is_none());
    }

    #[test]
    fn full_access_allows_every_kms_action() {
        assert!(allows("AliyunKMSFullAccess", "kms:GetSecretValue", SECRET));
        assert!(allows(
            "AliyunKMSFullAccess",
            "kms:ScheduleKeyDeletion",
            KEY
        ));
    }

    #[test]
    fn read_only_access_lists_and_describes_but_never_reads_values() {
        assert!(allows("AliyunKMSReadOnlyAccess", "kms:ListSecrets", "*"));
        assert!(allows(
            "AliyunKMSReadOnlyAccess",
            "kms:DescribeSecret",
            SECRET
        ));
        assert!(allows(
            "AliyunKMSReadOnlyAccess",
            "kms:GetSecretPolicy",
            SECRET
        ));
        assert!(!allows(
            "AliyunKMSReadOnlyAccess",
            "kms:GetSecretValue",
            SECRET
        ));
        assert!(!allows(
            "AliyunKMSReadOnlyAccess",
            "kms:PutSecretValue",
            SECRET
        ));
    }

    #[test]
    fn secret_admin_access_covers_secrets_but_not_keys() {
        assert!(allows(
            "AliyunKMSSecretAdminAccess",
            "kms:GetSecretValue",
            SECRET
        ));
        assert!(allows(
            "AliyunKMSSecretAdminAccess",
            "kms:DeleteSecret",
            SECRET
        ));
        assert!(allows(
            "AliyunKMSSecretAdminAccess",
            "kms:CreateSecret",
            "acs:kms:cn-hangzhou:1234567890123456:secret"
        ));
        assert!(allows(
            "AliyunKMSSecretAdminAccess",
            "kms:GetRandomPassword",
            "*"
        ));
        assert!(!allows("AliyunKMSSecretAdminAccess", "kms:Decrypt", KEY));
    }

    #[test]
    fn only_full_access_manages_database_credentials_and_none_manages_ram_keys() {
        let instance = "acs:kms:cn-hangzhou:1234567890123456:dbinstance/rm-1";
        let user = "acs:ram::1234567890123456:user/bob";
        for p in SYSTEM_POLICIES {
            let full = p.name == "AliyunKMSFullAccess";
            assert_eq!(
                allows(p.name, "kms:ManageDatabaseCredential", instance),
                full,
                "{}",
                p.name
            );
            for action in [
                "ram:CreateAccessKey",
                "ram:DeleteAccessKey",
                "ram:UpdateAccessKey",
                "ram:ListAccessKeys",
            ] {
                assert!(!allows(p.name, action, user), "{} {action}", p.name);
            }
        }
    }
}

//! Every action name of KMS 2016-01-20: the generated SDK's 91 plus the legacy SDK's
//! certificate and misc actions. A name in this list that openkms does not implement answers
//! `UnsupportedOperation`; a name outside it answers `InvalidAction.NotFound`.

macro_rules! actions {
    ($($name:ident,)*) => {
        /// A KMS action name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($name,)*
        }

        impl Action {
            /// Every action, in name order.
            pub const ALL: &'static [Action] = &[$(Action::$name,)*];

            /// Looks up an action by its exact wire name.
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($name) => Some(Self::$name),)*
                    _ => None,
                }
            }

            /// The wire name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)*
                }
            }
        }
    };
}

actions! {
    AdvanceEncrypt,
    AsymmetricDecrypt,
    AsymmetricEncrypt,
    AsymmetricSign,
    AsymmetricVerify,
    BatchGetSecretValue,
    CancelKeyDeletion,
    CertificatePrivateKeyDecrypt,
    CertificatePrivateKeySign,
    CertificatePublicKeyEncrypt,
    CertificatePublicKeyVerify,
    ConnectKmsInstance,
    CreateAlias,
    CreateApplicationAccessPoint,
    CreateCertificate,
    CreateClientKey,
    CreateKey,
    CreateKeyVersion,
    CreateNetworkRule,
    CreatePolicy,
    CreateSecret,
    Decrypt,
    DeleteAlias,
    DeleteApplicationAccessPoint,
    DeleteCertificate,
    DeleteClientKey,
    DeleteKeyMaterial,
    DeleteNetworkRule,
    DeletePolicy,
    DeleteSecret,
    DescribeAccountKmsStatus,
    DescribeApplicationAccessPoint,
    DescribeCertificate,
    DescribeKey,
    DescribeKeyVersion,
    DescribeNetworkRule,
    DescribePolicy,
    DescribeRegions,
    DescribeSecret,
    DescribeService,
    DisableKey,
    EnableKey,
    Encrypt,
    ExportDataKey,
    GenerateAndExportDataKey,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    GenerateMac,
    GetCertificate,
    GetChallenge,
    GetClientKey,
    GetDefaultKmsInstance,
    GetKeyPolicy,
    GetKmsInstance,
    GetKmsInstanceQuotaInfos,
    GetManagedDataKey,
    GetParametersForImport,
    GetPublicKey,
    GetRandomPassword,
    GetSecretPolicy,
    GetSecretValue,
    ImportKeyMaterial,
    ListAliases,
    ListAliasesByKeyId,
    ListApplicationAccessPoints,
    ListClientKeys,
    ListKeyVersions,
    ListKeys,
    ListKmsInstances,
    ListManagedDataKeyVersions,
    ListNetworkRules,
    ListPolicies,
    ListResourceTags,
    ListSecretVersionIds,
    ListSecrets,
    ListTagResources,
    OpenKmsService,
    PutSecretValue,
    ReEncrypt,
    ReleaseKmsInstance,
    RestoreSecret,
    RotateSecret,
    ScheduleKeyDeletion,
    SetDeletionProtection,
    SetKeyPolicy,
    SetSecretPolicy,
    TagResource,
    TagResources,
    UntagResource,
    UntagResources,
    UpdateAlias,
    UpdateApplicationAccessPoint,
    UpdateCertificateStatus,
    UpdateKeyDescription,
    UpdateKmsInstanceBindVpc,
    UpdateNetworkRule,
    UpdatePolicy,
    UpdateRotationPolicy,
    UpdateSecret,
    UpdateSecretRotationPolicy,
    UpdateSecretVersionStage,
    UploadCertificate,
    VerifyMac,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_none() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.name()), Some(*a));
        }
        assert_eq!(Action::parse("getsecretvalue"), None);
        assert_eq!(Action::parse("NoSuchAction"), None);
        assert!(Action::ALL.len() >= 91);
    }
}

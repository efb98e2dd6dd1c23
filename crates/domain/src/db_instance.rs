//! What a database instance registered for managed rotation is: its engine and how openkms
//! reaches it over TLS. The store keeps them by these names; the rotation crate acts on them.

/// The kinds of system a registered instance can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// MySQL or MariaDB.
    Mysql,
    Postgresql,
    Redis,
}

impl Engine {
    /// Reads a name, case-insensitively (as registered, or as stored).
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "mysql" | "mariadb" => Some(Self::Mysql),
            "postgresql" | "postgres" => Some(Self::Postgresql),
            "redis" => Some(Self::Redis),
            _ => None,
        }
    }

    /// The name it is stored and reported by.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mysql => "mysql",
            Self::Postgresql => "postgresql",
            Self::Redis => "redis",
        }
    }
}

/// How connections to a target are protected. The names follow MySQL's `--ssl-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP.
    Disabled,
    /// TLS when the server offers it (MySQL capability flag, PostgreSQL `SSLRequest`), else
    /// plain TCP; the certificate is not checked. Not for Redis, which has no negotiation.
    Preferred,
    /// TLS or no connection; the certificate is not checked (encryption against a passive
    /// listener only).
    Required,
    /// TLS or no connection; the certificate must chain to a trusted CA and name the host of
    /// the address.
    VerifyIdentity,
}

impl TlsMode {
    pub const NAMES: &'static str = "disabled, preferred, required or verify-identity";

    /// Reads a name, case-insensitively (as registered, or as stored).
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "disabled" => Some(Self::Disabled),
            "preferred" => Some(Self::Preferred),
            "required" => Some(Self::Required),
            "verify-identity" => Some(Self::VerifyIdentity),
            _ => None,
        }
    }

    /// The name it is stored and reported by.
    pub fn name(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Preferred => "preferred",
            Self::Required => "required",
            Self::VerifyIdentity => "verify-identity",
        }
    }
}

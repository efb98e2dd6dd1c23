//! Where a client sends its calls: `https://host[:port]`, `http://host[:port]`, or a bare
//! `host:port` (plain HTTP, as the tools have always read it). Shared by the `openkms` client
//! commands and the load generator, so both sign the same Host for the same text.

use std::fmt;

/// A parsed endpoint. `host` is a DNS name or an IP address, without the brackets an IPv6
/// address needs in a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

/// Why an endpoint text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("endpoint {0:?} is not https://HOST[:PORT], http://HOST[:PORT] or HOST:PORT")]
    Malformed(String),
    #[error("endpoint {text:?}: scheme {scheme:?} is not supported (use https:// or http://)")]
    Scheme { text: String, scheme: String },
    #[error("endpoint {0:?} needs a port (HOST:PORT), or a scheme (https://HOST)")]
    NoPort(String),
    #[error("endpoint {0:?} may name only a host and port, no path, query or user")]
    Extra(String),
}

impl Endpoint {
    /// Parses the endpoint text an operator gives.
    pub fn parse(text: &str) -> Result<Self, EndpointError> {
        let malformed = || EndpointError::Malformed(text.to_owned());
        let uri: http::Uri = text.trim().parse().map_err(|_| malformed())?;
        let tls = match uri.scheme_str() {
            None => false,
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) => {
                return Err(EndpointError::Scheme {
                    text: text.to_owned(),
                    scheme: s.to_owned(),
                })
            }
        };
        let authority = uri.authority().ok_or_else(malformed)?;
        // The signature covers the Host header; credentials in it would be sent in clear text
        // to every proxy, and a path would be silently dropped: refuse both.
        if authority.as_str().contains('@')
            || uri
                .path_and_query()
                .is_some_and(|p| !matches!(p.as_str(), "" | "/"))
        {
            return Err(EndpointError::Extra(text.to_owned()));
        }
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(malformed());
        }
        let port = match (authority.port_u16(), uri.scheme_str()) {
            (Some(0), _) => return Err(malformed()),
            (Some(p), _) => p,
            (None, None) => return Err(EndpointError::NoPort(text.to_owned())),
            (None, Some(_)) => default_port(tls),
        };
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
        })
    }

    /// The Host header (and the signed `host`): `host[:port]`, the port left out when it is the
    /// scheme's default, as browsers and the SDKs send it.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default_port(self.tls) {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.authority())
    }
}

fn default_port(tls: bool) -> u16 {
    if tls {
        443
    } else {
        80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(tls: bool, host: &str, port: u16) -> Endpoint {
        Endpoint {
            tls,
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn bare_host_port_is_plain_http() {
        let e = Endpoint::parse("127.0.0.1:8080").unwrap();
        assert_eq!(e, ep(false, "127.0.0.1", 8080));
        assert_eq!(e.authority(), "127.0.0.1:8080");
        assert_eq!(
            Endpoint::parse("kms.local:9000").unwrap(),
            ep(false, "kms.local", 9000)
        );
    }

    #[test]
    fn schemes_choose_tls_and_default_ports() {
        assert_eq!(
            Endpoint::parse("https://kms.example.com").unwrap(),
            ep(true, "kms.example.com", 443)
        );
        assert_eq!(
            Endpoint::parse("HTTPS://kms.example.com:8443/").unwrap(),
            ep(true, "kms.example.com", 8443)
        );
        assert_eq!(
            Endpoint::parse("http://localhost").unwrap(),
            ep(false, "localhost", 80)
        );
        assert_eq!(
            Endpoint::parse("http://localhost:8080").unwrap(),
            ep(false, "localhost", 8080)
        );
    }

    #[test]
    fn authority_omits_only_the_default_port() {
        assert_eq!(
            Endpoint::parse("https://kms.example.com")
                .unwrap()
                .authority(),
            "kms.example.com"
        );
        assert_eq!(
            Endpoint::parse("https://kms.example.com:80")
                .unwrap()
                .authority(),
            "kms.example.com:80"
        );
        assert_eq!(
            Endpoint::parse("http://h:443").unwrap().to_string(),
            "http://h:443"
        );
    }

    #[test]
    fn ipv6_hosts_lose_and_regain_their_brackets() {
        let e = Endpoint::parse("https://[::1]:8443").unwrap();
        assert_eq!(e, ep(true, "::1", 8443));
        assert_eq!(e.authority(), "[::1]:8443");
        let bare = Endpoint::parse("[::1]:8080").unwrap();
        assert_eq!(bare, ep(false, "::1", 8080));
    }

    #[test]
    fn refuses_what_is_not_a_host_and_port() {
        assert!(matches!(
            Endpoint::parse("ftp://h:21"),
            Err(EndpointError::Scheme { .. })
        ));
        assert!(matches!(
            Endpoint::parse("localhost"),
            Err(EndpointError::NoPort(_))
        ));
        assert!(matches!(
            Endpoint::parse("https://h/kms"),
            Err(EndpointError::Extra(_))
        ));
        assert!(matches!(
            Endpoint::parse("https://h/?a=b"),
            Err(EndpointError::Extra(_))
        ));
        assert!(matches!(
            Endpoint::parse("https://user:pw@h"),
            Err(EndpointError::Extra(_))
        ));
        for bad in ["", "https://", "h:0", "h:99999", "https://:443", "a b:1"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?}");
        }
    }
}

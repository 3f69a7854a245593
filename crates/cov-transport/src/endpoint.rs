//! Where the CLI listens: a unix socket path or a TCP host and port, read from the Tusk
//! environment variables.

use std::fmt;
use std::path::PathBuf;

use crate::error::TransportError;

/// The unix socket path used when `TUSK_MOCK_SOCKET` is unset (the Python SDK's default).
pub const DEFAULT_SOCKET_PATH: &str = "/tmp/tusk-connect.sock";

/// Environment variable naming the unix socket the CLI listens on.
pub const ENV_SOCKET: &str = "TUSK_MOCK_SOCKET";
/// Environment variable naming the CLI's TCP host (used together with [`ENV_PORT`]).
pub const ENV_HOST: &str = "TUSK_MOCK_HOST";
/// Environment variable naming the CLI's TCP port (used together with [`ENV_HOST`]).
pub const ENV_PORT: &str = "TUSK_MOCK_PORT";

/// One end of the coverage channel: where the CLI listens and the SDK connects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A unix domain socket at this path.
    Unix(PathBuf),
    /// A TCP address. `host` is a name or an IP literal, resolved when connecting or binding.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port number; `0` is accepted by `cov-driver`'s `CliListener::bind`
        /// (the system picks one).
        port: u16,
    },
}

impl Endpoint {
    /// The endpoint the Tusk environment variables describe, read through `lookup`.
    ///
    /// TCP when both `TUSK_MOCK_HOST` and `TUSK_MOCK_PORT` are set, otherwise the unix
    /// socket in `TUSK_MOCK_SOCKET`, by default [`DEFAULT_SOCKET_PATH`]. An empty (or
    /// all-blank) value counts as unset, as in the Python SDK. A port that is not a number
    /// in `1..=65535` is an error naming the variable.
    ///
    /// ```
    /// use cov_transport::Endpoint;
    ///
    /// let tcp = Endpoint::from_lookup(|name| match name {
    ///     "TUSK_MOCK_HOST" => Some("host.docker.internal".to_owned()),
    ///     "TUSK_MOCK_PORT" => Some("9001".to_owned()),
    ///     _ => None,
    /// })
    /// .unwrap();
    /// assert_eq!(tcp.to_string(), "tcp host.docker.internal:9001");
    ///
    /// let unix = Endpoint::from_lookup(|_| None).unwrap();
    /// assert_eq!(unix.to_string(), "unix socket /tmp/tusk-connect.sock");
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, TransportError> {
        let read = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        if let (Some(host), Some(port_text)) = (read(ENV_HOST), read(ENV_PORT)) {
            let port = port_text
                .parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| TransportError::InvalidEndpoint {
                    detail: format!("{ENV_PORT}={port_text:?} is not a port number in 1..=65535"),
                })?;
            return Ok(Endpoint::Tcp { host, port });
        }
        let path = read(ENV_SOCKET).unwrap_or_else(|| DEFAULT_SOCKET_PATH.to_owned());
        Ok(Endpoint::Unix(PathBuf::from(path)))
    }

    /// [`Endpoint::from_lookup`] over the process environment (empty values count as unset).
    pub fn from_env() -> Result<Self, TransportError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// A TCP endpoint.
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        Endpoint::Tcp {
            host: host.into(),
            port,
        }
    }

    /// A unix socket endpoint.
    pub fn unix(path: impl Into<PathBuf>) -> Self {
        Endpoint::Unix(path.into())
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(formatter, "unix socket {}", path.display()),
            // IPv6 literals are bracketed so the port stays readable.
            Endpoint::Tcp { host, port } if host.contains(':') => {
                write!(formatter, "tcp [{host}]:{port}")
            }
            Endpoint::Tcp { host, port } => write!(formatter, "tcp {host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn tcp_when_host_and_port_are_both_set() {
        let endpoint = Endpoint::from_lookup(lookup(&[
            (ENV_HOST, "localhost"),
            (ENV_PORT, "9001"),
            (ENV_SOCKET, "/ignored.sock"),
        ]))
        .unwrap();
        assert_eq!(endpoint, Endpoint::tcp("localhost", 9001));
    }

    #[test]
    fn unix_socket_when_only_one_of_host_and_port_is_set() {
        for pairs in [
            &[(ENV_HOST, "localhost"), (ENV_SOCKET, "/run/t.sock")][..],
            &[(ENV_PORT, "9001"), (ENV_SOCKET, "/run/t.sock")][..],
        ] {
            let endpoint = Endpoint::from_lookup(lookup(pairs)).unwrap();
            assert_eq!(endpoint, Endpoint::unix("/run/t.sock"));
        }
    }

    #[test]
    fn default_socket_when_nothing_is_set() {
        let endpoint = Endpoint::from_lookup(lookup(&[])).unwrap();
        assert_eq!(endpoint, Endpoint::unix(DEFAULT_SOCKET_PATH));
        assert_eq!(DEFAULT_SOCKET_PATH, "/tmp/tusk-connect.sock");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let endpoint = Endpoint::from_lookup(lookup(&[
            (ENV_HOST, ""),
            (ENV_PORT, "9001"),
            (ENV_SOCKET, "  "),
        ]))
        .unwrap();
        assert_eq!(endpoint, Endpoint::unix(DEFAULT_SOCKET_PATH));
    }

    #[test]
    fn invalid_port_is_an_error_naming_the_variable() {
        for port in ["ninety", "0", "65536", "-1"] {
            let error =
                Endpoint::from_lookup(lookup(&[(ENV_HOST, "h"), (ENV_PORT, port)])).unwrap_err();
            assert!(
                matches!(error, TransportError::InvalidEndpoint { .. }),
                "{error:?}"
            );
            assert!(error.to_string().contains("TUSK_MOCK_PORT"), "{error}");
        }
    }

    #[test]
    fn port_with_surrounding_blanks_is_accepted() {
        let endpoint =
            Endpoint::from_lookup(lookup(&[(ENV_HOST, "h"), (ENV_PORT, " 9001\n")])).unwrap();
        assert_eq!(endpoint, Endpoint::tcp("h", 9001));
    }

    #[test]
    fn display_names_the_kind_and_address() {
        assert_eq!(
            Endpoint::unix("/tmp/x.sock").to_string(),
            "unix socket /tmp/x.sock"
        );
        assert_eq!(
            Endpoint::tcp("127.0.0.1", 9001).to_string(),
            "tcp 127.0.0.1:9001"
        );
        assert_eq!(Endpoint::tcp("::1", 9001).to_string(), "tcp [::1]:9001");
    }
}

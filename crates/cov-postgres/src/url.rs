//! Where the real server is, from the application's connection URL, and the URL that
//! points the application at the proxy or the replay server instead.

use std::net::SocketAddr;
use std::path::PathBuf;

/// The real server: a TCP address or a unix socket file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// `host:port`.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// The socket file (`<dir>/.s.PGSQL.<port>`).
    Unix(PathBuf),
}

/// A URL this crate cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unusable PostgreSQL URL: {problem}")]
pub struct UrlError {
    /// What is wrong.
    pub problem: String,
}

fn url_error(problem: impl Into<String>) -> UrlError {
    UrlError {
        problem: problem.into(),
    }
}

struct Parts<'a> {
    scheme: &'a str,
    userinfo: Option<&'a str>,
    host: &'a str,
    port: Option<&'a str>,
    path: &'a str,
    query: Vec<(&'a str, &'a str)>,
}

fn split(url: &str) -> Result<Parts<'_>, UrlError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| url_error("not a URL (keyword/value strings are not supported)"))?;
    if scheme != "postgres" && scheme != "postgresql" {
        return Err(url_error(format!(
            "scheme {scheme:?} is not postgres or postgresql"
        )));
    }
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, query),
        None => (rest, ""),
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    if hostport.contains(',') {
        return Err(url_error("several hosts are not supported"));
    }
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| url_error("unclosed [ in the host"))?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let query = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect();
    Ok(Parts {
        scheme,
        userinfo,
        host,
        port,
        path,
        query,
    })
}

fn percent_decode(text: &str) -> Result<String, UrlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| url_error(format!("bad percent escape in {text:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| url_error(format!("{text:?} is not UTF-8")))
}

impl Upstream {
    /// The server a `postgres://` URL names: `host` and `port` from the authority or from
    /// the `host=` and `port=` query parameters (which win, as in libpq); a host that is a
    /// path (`/var/run/postgresql`, percent-encoded in the authority) is a unix socket
    /// directory. No host means `localhost`, no port 5432.
    pub fn from_url(url: &str) -> Result<Upstream, UrlError> {
        let parts = split(url)?;
        let mut host = percent_decode(parts.host)?;
        let mut port = parts.port.map(str::to_owned);
        for (key, value) in &parts.query {
            match *key {
                "host" => host = percent_decode(value)?,
                "port" => port = Some(percent_decode(value)?),
                _ => {}
            }
        }
        let port: u16 = match port.as_deref() {
            None | Some("") => 5432,
            Some(port) => port
                .parse()
                .map_err(|_| url_error(format!("port {port:?} is not a number")))?,
        };
        if host.starts_with('/') {
            return Ok(Upstream::Unix(
                PathBuf::from(host).join(format!(".s.PGSQL.{port}")),
            ));
        }
        if host.is_empty() {
            host = "localhost".to_owned();
        }
        Ok(Upstream::Tcp { host, port })
    }
}

/// `real_url` pointed at `addr` (the proxy's or the replay server's loopback address): the
/// same user, password, database and parameters, without `host`, `hostaddr` and `port`
/// parameters, and with `sslmode=disable` (neither speaks TLS to the application).
pub fn local_url(real_url: &str, addr: SocketAddr) -> Result<String, UrlError> {
    let parts = split(real_url)?;
    let mut url = format!("{}://", parts.scheme);
    if let Some(userinfo) = parts.userinfo {
        url.push_str(userinfo);
        url.push('@');
    }
    url.push_str(&addr.to_string());
    url.push_str(parts.path);
    let mut params: Vec<String> = parts
        .query
        .iter()
        .filter(|(key, _)| !matches!(*key, "host" | "hostaddr" | "port" | "sslmode"))
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    params.push("sslmode=disable".to_owned());
    url.push('?');
    url.push_str(&params.join("&"));
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_server() {
        assert_eq!(
            Upstream::from_url("postgres://u:p@db.example:6543/app").unwrap(),
            Upstream::Tcp {
                host: "db.example".into(),
                port: 6543
            }
        );
        assert_eq!(
            Upstream::from_url("postgresql://u@%2Ftmp%2Fpg/app").unwrap(),
            Upstream::Unix(PathBuf::from("/tmp/pg/.s.PGSQL.5432"))
        );
        assert_eq!(
            Upstream::from_url("postgres:///app?host=/run/pg&port=5433").unwrap(),
            Upstream::Unix(PathBuf::from("/run/pg/.s.PGSQL.5433"))
        );
        assert_eq!(
            Upstream::from_url("postgres://[::1]/app").unwrap(),
            Upstream::Tcp {
                host: "::1".into(),
                port: 5432
            }
        );
        assert!(Upstream::from_url("host=x port=5432").is_err());
        assert!(Upstream::from_url("postgres://a,b/app").is_err());
    }

    #[test]
    fn local_urls_keep_credentials_and_drop_the_host() {
        let addr: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        assert_eq!(
            local_url(
                "postgres://u:p@db:5432/app?sslmode=require&application_name=x&host=/run",
                addr
            )
            .unwrap(),
            "postgres://u:p@127.0.0.1:40000/app?application_name=x&sslmode=disable"
        );
    }
}

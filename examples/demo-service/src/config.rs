//! Command-line and environment configuration: where to listen, where the database is, where
//! the rates service is.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};

/// The port used when neither `--port` nor `PORT` gives one.
const DEFAULT_PORT: u16 = 8080;

const USAGE: &str = "usage: demo-service [--port N] [--host ADDR] [--database-url URL] \
                     [--rates-url URL]  (or PORT, HOST, DATABASE_URL, RATES_URL)";

/// Everything the service needs to start.
#[derive(Debug)]
pub(crate) struct Config {
    /// Where to listen.
    pub(crate) address: SocketAddr,
    /// The PostgreSQL database the service keeps its data in (`postgres://` or
    /// `postgresql://`).
    pub(crate) database_url: String,
    /// The base URL of the rates service (`http://` or `https://`).
    pub(crate) rates_url: reqwest::Url,
}

/// Reads `--port N` (or `--port=N`), then `PORT`, then [`DEFAULT_PORT`]; likewise
/// `--host`/`HOST` with `127.0.0.1` as default, and `--database-url`/`DATABASE_URL` and
/// `--rates-url`/`RATES_URL`, which have no default: the service cannot run without them. An
/// empty variable counts as unset.
pub(crate) fn read(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Config> {
    let mut port_arg = None;
    let mut host_arg = None;
    let mut database_arg = None;
    let mut rates_arg = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline_value) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let slot = match name.as_str() {
            "--port" => &mut port_arg,
            "--host" => &mut host_arg,
            "--database-url" => &mut database_arg,
            "--rates-url" => &mut rates_arg,
            "-h" | "--help" => bail!("{USAGE}"),
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        };
        let value = match inline_value {
            Some(value) => value,
            None => args
                .next()
                .with_context(|| format!("{name} needs a value"))?,
        };
        *slot = Some(value);
    }
    let given = |arg: Option<String>, variable: &str| {
        arg.or_else(|| env(variable).filter(|value| !value.is_empty()))
    };

    let port = match given(port_arg, "PORT") {
        Some(text) => text
            .parse::<u16>()
            .with_context(|| format!("invalid port `{text}`"))?,
        None => DEFAULT_PORT,
    };
    let host = match given(host_arg, "HOST") {
        Some(text) => text
            .parse::<IpAddr>()
            .with_context(|| format!("invalid host address `{text}`"))?,
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let database_url = given(database_arg, "DATABASE_URL").context(
        "DATABASE_URL is not set: demo-service keeps its data in PostgreSQL; set DATABASE_URL \
         (or --database-url) to a database it may own, e.g. \
         postgres://postgres@127.0.0.1:5432/shop",
    )?;
    if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
        bail!("DATABASE_URL must be a postgres:// or postgresql:// URL");
    }
    let rates_text = given(rates_arg, "RATES_URL").context(
        "RATES_URL is not set: demo-service converts prices with the rates service \
         (examples/rates-service); set RATES_URL (or --rates-url) to its base URL, e.g. \
         http://127.0.0.1:8090",
    )?;
    let rates_url = reqwest::Url::parse(&rates_text)
        .with_context(|| format!("RATES_URL `{rates_text}` is not a URL"))?;
    if !matches!(rates_url.scheme(), "http" | "https") || rates_url.cannot_be_a_base() {
        bail!("RATES_URL `{rates_text}` must be an http:// or https:// base URL");
    }
    Ok(Config {
        address: SocketAddr::new(host, port),
        database_url,
        rates_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEEDED: [(&str, &str); 2] = [
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shop"),
        ("RATES_URL", "http://127.0.0.1:8090"),
    ];

    fn config(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Config> {
        read(args.iter().map(|arg| (*arg).to_owned()), |name| {
            env.iter()
                .chain(NEEDED.iter())
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    fn address(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<SocketAddr> {
        config(args, env).map(|config| config.address)
    }

    #[test]
    fn flag_beats_environment_beats_default() {
        assert_eq!(address(&[], &[]).unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(address(&[], &[("PORT", "9")]).unwrap().port(), 9);
        assert_eq!(address(&[], &[("PORT", "")]).unwrap().port(), 8080);
        assert_eq!(
            address(&["--port", "0"], &[("PORT", "9")]).unwrap().port(),
            0
        );
        assert_eq!(address(&["--port=7"], &[]).unwrap().port(), 7);
        assert_eq!(
            address(&["--host", "0.0.0.0"], &[]).unwrap().to_string(),
            "0.0.0.0:8080"
        );
        let config = config(
            &[
                "--database-url=postgresql://db/other",
                "--rates-url",
                "http://r:1/v1/",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(config.database_url, "postgresql://db/other");
        assert_eq!(config.rates_url.as_str(), "http://r:1/v1/");
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(address(&["--port"], &[]).is_err());
        assert!(address(&["--port", "70000"], &[]).is_err());
        assert!(address(&["--verbose"], &[]).is_err());
        assert!(address(&[], &[("HOST", "nowhere")]).is_err());
        assert!(address(&["--database-url", "mysql://db/shop"], &[]).is_err());
        assert!(address(&["--rates-url", "ftp://rates"], &[]).is_err());
        assert!(address(&["--rates-url", "not a url"], &[]).is_err());
    }

    #[test]
    fn the_database_and_the_rates_service_are_required() {
        let without = |missing: &str| {
            read(std::iter::empty(), |name| {
                NEEDED
                    .iter()
                    .find(|(key, _)| *key == name && *key != missing)
                    .map(|(_, value)| (*value).to_owned())
            })
            .unwrap_err()
            .to_string()
        };
        assert!(without("DATABASE_URL").starts_with("DATABASE_URL is not set"));
        assert!(without("RATES_URL").starts_with("RATES_URL is not set"));
        let empty = read(std::iter::empty(), |name| {
            (name == "DATABASE_URL").then(String::new)
        });
        assert!(
            empty
                .unwrap_err()
                .to_string()
                .starts_with("DATABASE_URL is not set")
        );
    }
}

//! Command-line and environment configuration: where to listen.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};

/// The port used when neither `--port` nor `PORT` gives one.
const DEFAULT_PORT: u16 = 8080;

/// Reads `--port N` (or `--port=N`), then `PORT`, then [`DEFAULT_PORT`]; likewise
/// `--host`/`HOST` with `127.0.0.1` as default. An empty variable counts as unset.
pub(crate) fn listen_address(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<SocketAddr> {
    let mut port_arg = None;
    let mut host_arg = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline_value) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let slot = match name.as_str() {
            "--port" => &mut port_arg,
            "--host" => &mut host_arg,
            "-h" | "--help" => {
                bail!("usage: demo-service [--port N] [--host ADDR]  (or PORT, HOST)")
            }
            other => bail!("unknown argument `{other}` (expected --port N or --host ADDR)"),
        };
        let value = match inline_value {
            Some(value) => value,
            None => args
                .next()
                .with_context(|| format!("{name} needs a value"))?,
        };
        *slot = Some(value);
    }
    let non_empty = |value: Option<String>| value.filter(|value| !value.is_empty());

    let port = match port_arg.or_else(|| non_empty(env("PORT"))) {
        Some(text) => text
            .parse::<u16>()
            .with_context(|| format!("invalid port `{text}`"))?,
        None => DEFAULT_PORT,
    };
    let host = match host_arg.or_else(|| non_empty(env("HOST"))) {
        Some(text) => text
            .parse::<IpAddr>()
            .with_context(|| format!("invalid host address `{text}`"))?,
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    Ok(SocketAddr::new(host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<SocketAddr> {
        listen_address(args.iter().map(|arg| (*arg).to_owned()), |name| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
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
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(address(&["--port"], &[]).is_err());
        assert!(address(&["--port", "70000"], &[]).is_err());
        assert!(address(&["--verbose"], &[]).is_err());
        assert!(address(&[], &[("HOST", "nowhere")]).is_err());
    }
}

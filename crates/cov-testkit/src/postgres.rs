//! A throwaway PostgreSQL server for the tests: Debian's PostgreSQL binaries, a cluster
//! made with `initdb` in a temporary directory, trust authentication on loopback, started
//! with `pg_ctl` and stopped and removed when dropped.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to
//! the `postgres` system user (the Debian package creates it) and every command runs
//! through `runuser -u postgres --`. PostgreSQL cannot listen on port 0, so a free port is
//! found by binding `127.0.0.1:0` and the start is retried on another port if the server
//! could not bind it (another process took it in between).
//!
//! `cargo xtask test` starts one server before the tests and hands its URL to them in
//! [`POSTGRES_URL_VAR`]; a test calls [`postgres_url`], which fails (never skips) when it
//! is unset.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable that carries the test server's URL.
pub const POSTGRES_URL_VAR: &str = "COV_POSTGRES_URL";

/// The URL of the server `cargo xtask test` started.
///
/// # Panics
///
/// When [`POSTGRES_URL_VAR`] is not set: the test fails, saying to run `cargo xtask test`.
pub fn postgres_url() -> String {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "{POSTGRES_URL_VAR} is not set: this test needs a PostgreSQL server; run \
                 `cargo xtask test`, which starts one (or start one with \
                 cov_testkit::PostgresServer and set {POSTGRES_URL_VAR} to its url())"
            )
        })
}

/// A database of its own for one test on the server of [`postgres_url`]: `name` is dropped
/// (with its connections) if it exists and created empty, and its URL returned. Tests that
/// run at the same time must use different names.
///
/// # Panics
///
/// When [`POSTGRES_URL_VAR`] is unset, `name` is not a plain lower-case identifier, or
/// `psql` fails (with its output).
pub fn fresh_database(name: &str) -> String {
    assert!(
        !name.is_empty()
            && name
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_'),
        "{name:?}: a test database's name is made of a-z, 0-9 and _"
    );
    let admin = postgres_url();
    let bin = postgres_bin_dir().unwrap_or_else(|| {
        panic!("PostgreSQL's psql is not installed: run `cargo xtask test`, which installs it")
    });
    let mut psql = Command::new(bin.join("psql"));
    psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &admin])
        .arg("-c")
        .arg(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .arg("-c")
        .arg(format!("CREATE DATABASE {name}"));
    run(&mut psql).unwrap_or_else(|error| panic!("making database {name}: {error}"));
    let (server, _) = admin
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("{POSTGRES_URL_VAR}={admin} names no database"));
    format!("{server}/{name}")
}

/// The directory of Debian's PostgreSQL binaries (the newest installed major), if any.
pub fn postgres_bin_dir() -> Option<PathBuf> {
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let major = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    majors.sort();
    majors.pop().map(|(_, bin)| bin)
}

/// A running throwaway server, stopped (`pg_ctl stop -m immediate`) and removed on drop.
#[derive(Debug)]
pub struct PostgresServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
    running: bool,
}

impl PostgresServer {
    /// Makes a cluster and starts it.
    ///
    /// # Panics
    ///
    /// When PostgreSQL is not installed (saying to run `cargo xtask test`, which installs
    /// it) or the server cannot be made or started (with its log).
    pub fn start() -> PostgresServer {
        PostgresServer::try_start().unwrap_or_else(|error| panic!("{error}"))
    }

    /// Like [`PostgresServer::start`], with the failure as a value (for `cargo xtask test`).
    pub fn try_start() -> Result<PostgresServer, String> {
        let bin = postgres_bin_dir().ok_or_else(|| {
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run \
             `cargo xtask test`, which installs Debian's `postgresql` package"
                .to_owned()
        })?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("cov-postgres-")
            .tempdir()
            .map_err(|error| format!("creating the server's directory: {error}"))?;
        if as_postgres {
            run(Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path()))?;
        }
        let mut server = PostgresServer {
            bin,
            dir,
            port: 0,
            as_postgres,
            running: false,
        };
        let data = server.data_dir();
        let mut initdb = server.command("initdb");
        initdb.arg("-D").arg(&data).args([
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run(&mut initdb)?;
        server.start_on_free_port()?;
        Ok(server)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// A command running `program` from the PostgreSQL binaries, as the cluster's owner.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn start_on_free_port(&mut self) -> Result<(), String> {
        let mut last_log = String::new();
        for _ in 0..20 {
            let port = free_port()?;
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c \
                 synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                self.dir.path().display()
            );
            let mut pg_ctl = self.command("pg_ctl");
            pg_ctl
                .arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.log_file())
                .args(["-w", "-t", "60", "-o", &options, "start"]);
            let output = pg_ctl
                .output()
                .map_err(|error| format!("starting {pg_ctl:?}: {error}"))?;
            if output.status.success() {
                self.port = port;
                self.running = true;
                return Ok(());
            }
            last_log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
            if !last_log.contains("could not bind") && !last_log.contains("Address already in use")
            {
                break;
            }
        }
        Err(format!("PostgreSQL did not start; its log:\n{last_log}"))
    }

    /// The server's URL: user `postgres`, database `postgres`, TCP on `127.0.0.1`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding its unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server (`pg_ctl stop -m fast`: connections are terminated). The files stay
    /// until the value is dropped.
    pub fn stop(&mut self) {
        if self.running {
            let mut pg_ctl = self.command("pg_ctl");
            pg_ctl
                .arg("-D")
                .arg(self.data_dir())
                .args(["-w", "-m", "fast", "stop"]);
            if let Err(error) = run(&mut pg_ctl) {
                panic!("{error}");
            }
            self.running = false;
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if self.running {
            let mut pg_ctl = self.command("pg_ctl");
            pg_ctl
                .arg("-D")
                .arg(self.data_dir())
                .args(["-w", "-m", "immediate", "stop"]);
            let _ = pg_ctl.output();
        }
        // The TempDir removes the directory; as root it may remove files postgres owns.
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|error| format!("finding a free port: {error}"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|error| format!("starting {command:?}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed with {}:\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

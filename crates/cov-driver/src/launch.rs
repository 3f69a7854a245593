//! Launching a service: [`Launch`] says how (executable, arguments, directory, environment,
//! where its log goes), [`ServiceProcess`] is the running process, killed and reaped when
//! dropped so that a driver, task or test that fails half-way never leaves it running, and
//! [`PortReservation`] holds a TCP port for a service that another program starts.
//!
//! A launched service sees the caller's environment except the Tusk variables (`TUSK_*`)
//! and `LLVM_PROFILE_FILE`: only what the launch sets of those reaches it, so a replay
//! never inherits the mode, the endpoint or the profile path of whoever started the driver.

use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cov_transport::{ENV_HOST, ENV_PORT, ENV_SOCKET, Endpoint};

/// Why a service could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The log file could not be created.
    #[error("cannot create the service's log {}: {source}", path.display())]
    Log {
        /// The log file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The process could not be started.
    #[error("cannot start {}: {source}", program.display())]
    Start {
        /// The executable.
        program: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// How to start a service. Build with [`Launch::new`] and the setters, then
/// [`Launch::start`].
///
/// ```no_run
/// use std::time::Duration;
/// use cov_driver::Launch;
///
/// let mut launch = Launch::new("target/debug/demo-service");
/// launch.args(["--port", "0"]).current_dir("examples/demo-service").env("TUSK_DRIFT_MODE", "RECORD");
/// let mut service = launch.start()?;
/// let address = service.wait_for_address(Duration::from_secs(30))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Launch {
    program: PathBuf,
    args: Vec<OsString>,
    current_dir: Option<PathBuf>,
    env: Vec<(OsString, Option<OsString>)>,
    log: Option<PathBuf>,
}

impl Launch {
    /// A launch of `program`, with no arguments, in the caller's directory.
    pub fn new(program: impl Into<PathBuf>) -> Launch {
        Launch {
            program: program.into(),
            args: Vec::new(),
            current_dir: None,
            env: Vec::new(),
            log: None,
        }
    }

    /// The executable.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Runs the service in `dir` (for a service that links the SDK, its default source
    /// root).
    pub fn current_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// Sets a variable; a later setting of the same name wins.
    pub fn env(&mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .push((name.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Removes a variable of the caller's environment (or one set earlier).
    pub fn env_remove(&mut self, name: impl AsRef<OsStr>) -> &mut Self {
        self.env.push((name.as_ref().to_owned(), None));
        self
    }

    /// Points the service's SDK at `endpoint`, as the Tusk CLI does: `TUSK_MOCK_SOCKET` for
    /// a unix socket, `TUSK_MOCK_HOST` and `TUSK_MOCK_PORT` for TCP.
    pub fn channel(&mut self, endpoint: &Endpoint) -> &mut Self {
        match endpoint {
            Endpoint::Unix(path) => self.env(ENV_SOCKET, path),
            Endpoint::Tcp { host, port } => {
                self.env(ENV_HOST, host).env(ENV_PORT, port.to_string())
            }
        }
    }

    /// Sends the service's standard error to the file `path` (created, or truncated)
    /// instead of the caller's.
    pub fn log(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.log = Some(path.into());
        self
    }

    /// The log file, if the standard error goes to one.
    pub fn log_path(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// The variables this launch sets, in order (a name may come more than once; the last
    /// wins), `None` for a removal.
    pub fn variables(&self) -> impl Iterator<Item = (&OsStr, Option<&OsStr>)> {
        self.env
            .iter()
            .map(|(name, value)| (name.as_os_str(), value.as_deref()))
    }

    /// The command this launch runs, standard streams not set: the caller's environment
    /// without its Tusk variables and `LLVM_PROFILE_FILE`, then this launch's.
    pub fn command(&self) -> Command {
        self.command_under(std::env::vars_os().map(|(name, _)| name))
    }

    /// [`Launch::command`], for a caller whose environment holds the variables `inherited`.
    fn command_under(&self, inherited: impl Iterator<Item = OsString>) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        for name in inherited {
            if is_inherited_setting(&name) {
                command.env_remove(&name);
            }
        }
        for (name, value) in &self.env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command
    }

    /// Starts the service: standard input closed, standard output piped (for
    /// [`ServiceProcess::wait_for_address`]), standard error to the log file if one is set.
    pub fn start(&self) -> Result<ServiceProcess, LaunchError> {
        let mut command = self.command();
        command.stdin(Stdio::null()).stdout(Stdio::piped());
        if let Some(path) = &self.log {
            let file = std::fs::File::create(path).map_err(|source| LaunchError::Log {
                path: path.clone(),
                source,
            })?;
            command.stderr(file);
        }
        ServiceProcess::spawn(&mut command).map_err(|source| LaunchError::Start {
            program: self.program.clone(),
            source,
        })
    }
}

/// Whether a variable of the caller's environment is one a launch does not pass on.
fn is_inherited_setting(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("TUSK_") || name == "LLVM_PROFILE_FILE"
}

/// A TCP port of `127.0.0.1` held for a service that another program starts, such as the
/// Tusk CLI, which must be told the service's port before it starts it.
///
/// The port is bound, with `SO_REUSEADDR`, but not listening: nothing can connect to it
/// (the Tusk CLI checks that the port does not answer before it starts the service), the
/// system hands it to nobody else while it is held, and a service that listens on it with
/// `SO_REUSEADDR` (as Rust's standard library and tokio set it on Unix) can bind it. So
/// the port is free for the service and taken for everyone else, for as long as the
/// reservation lives, with no window between finding the port and using it.
#[derive(Debug)]
pub struct PortReservation {
    socket: tokio::net::TcpSocket,
    port: u16,
}

impl PortReservation {
    /// Reserves a port the system picks.
    pub fn new() -> io::Result<PortReservation> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let port = socket.local_addr()?.port();
        Ok(PortReservation { socket, port })
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address, `127.0.0.1:<port>`.
    pub fn address(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

/// A running child process, killed and reaped on drop unless it has already exited.
#[derive(Debug)]
pub struct ServiceProcess {
    child: Child,
}

impl ServiceProcess {
    /// Spawns `command`.
    pub fn spawn(command: &mut Command) -> io::Result<ServiceProcess> {
        Ok(ServiceProcess {
            child: command.spawn()?,
        })
    }

    /// The process, to take its piped standard streams.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Reads the first line of the piped standard output, which must be `listening on ADDR`,
    /// within `timeout`, and returns `ADDR`. The rest of the output is drained on a thread of
    /// its own, so the process never blocks on a full pipe.
    ///
    /// # Errors
    ///
    /// `TimedOut` when no line came in time, `UnexpectedEof` when the process closed its
    /// output first, `InvalidData` when the line is something else.
    pub fn wait_for_address(&mut self, timeout: Duration) -> io::Result<SocketAddr> {
        let stdout = self.child.stdout.take().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "standard output is not piped")
        })?;
        let (sender, first_line) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = sender.send(lines.next());
            lines.map_while(Result::ok).for_each(drop);
        });
        let line = match first_line.recv_timeout(timeout) {
            Ok(Some(line)) => line?,
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the process closed its output before it listened",
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no `listening on ADDR` line within {timeout:?}"),
                ));
            }
        };
        parse_listening_line(&line)
    }

    /// Asks the process to stop with `SIGTERM`, as the Tusk CLI does. `kill -s TERM`
    /// rather than a signal crate: this is the one signal the driver sends.
    pub fn terminate(&mut self) -> io::Result<()> {
        let status = Command::new("kill")
            .args(["-s", "TERM"])
            .arg(self.child.id().to_string())
            .stdin(Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "kill -s TERM failed with {status}"
            )))
        }
    }

    /// The exit status, if the process has exited.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for the process to exit; `None` when it is still running then.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit, however long it takes.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait()
    }

    /// Kills the process (if it still runs) and reaps it.
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        // Killing a process that exited since is no error worth reporting: wait tells.
        let _ = self.child.kill();
        self.child.wait()
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// `ADDR` of a `listening on ADDR` line (the first line every service here prints, with
/// the socket address it bound).
///
/// # Errors
///
/// `InvalidData` when the line is something else or `ADDR` is not a socket address.
pub fn parse_listening_line(line: &str) -> io::Result<SocketAddr> {
    line.trim()
        .strip_prefix("listening on ")
        .and_then(|address| address.trim().parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("expected `listening on IP:PORT`, got {line:?}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]).stdout(Stdio::piped());
        command
    }

    #[test]
    fn a_launch_passes_on_none_of_the_callers_tusk_variables_or_profile_path() {
        let mut launch = Launch::new("service");
        launch
            .args(["--port", "0"])
            .current_dir("/srv")
            .env("TUSK_DRIFT_MODE", "REPLAY")
            .env_remove("PORT")
            .channel(&Endpoint::tcp("127.0.0.1", 9001));
        let caller = [
            "PATH",
            "TUSK_DRIFT_MODE",
            "TUSK_MOCK_SOCKET",
            "LLVM_PROFILE_FILE",
            "HOME",
        ];
        let command = launch.command_under(caller.iter().map(OsString::from));
        let envs: Vec<(String, Option<String>)> = command
            .get_envs()
            .map(|(name, value)| {
                let text = |text: &OsStr| text.to_string_lossy().into_owned();
                (text(name), value.map(text))
            })
            .collect();
        let set = |name: &str, value: Option<&str>| (name.to_owned(), value.map(str::to_owned));
        // `get_envs` lists each name once, sorted, with its last setting.
        assert_eq!(
            envs,
            vec![
                set("LLVM_PROFILE_FILE", None),
                set("PORT", None),
                set("TUSK_DRIFT_MODE", Some("REPLAY")),
                set("TUSK_MOCK_HOST", Some("127.0.0.1")),
                set("TUSK_MOCK_PORT", Some("9001")),
                set("TUSK_MOCK_SOCKET", None),
            ]
        );
        assert_eq!(
            command.get_args().collect::<Vec<_>>(),
            [OsStr::new("--port"), OsStr::new("0")]
        );
        assert_eq!(command.get_current_dir(), Some(Path::new("/srv")));
        let unix = Launch::new("service")
            .channel(&Endpoint::unix("/tmp/t.sock"))
            .command_under(std::iter::empty());
        assert_eq!(
            unix.get_envs().collect::<Vec<_>>(),
            [(
                OsStr::new("TUSK_MOCK_SOCKET"),
                Some(OsStr::new("/tmp/t.sock"))
            )]
        );
    }

    #[test]
    fn a_started_service_logs_to_its_file_and_answers_on_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("service.log");
        let mut launch = Launch::new("sh");
        launch
            .args([
                "-c",
                "echo \"$GREETING\" >&2; echo 'listening on 127.0.0.1:7'",
            ])
            .env("GREETING", "hello from the service")
            .log(&log);
        let mut service = launch.start().unwrap();
        assert_eq!(
            service.wait_for_address(Duration::from_secs(10)).unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 7))
        );
        let status = service.wait_for_exit(Duration::from_secs(10)).unwrap();
        assert!(status.is_some_and(|status| status.success()));
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "hello from the service\n"
        );
        let missing = Launch::new(dir.path().join("no-such-program")).start();
        assert!(
            matches!(missing, Err(LaunchError::Start { .. })),
            "{missing:?}"
        );
        let unwritable = Launch::new("sh")
            .log(dir.path().join("no/such/dir/log"))
            .start();
        assert!(
            matches!(unwritable, Err(LaunchError::Log { .. })),
            "{unwritable:?}"
        );
    }

    #[test]
    fn a_reserved_port_refuses_connections_and_is_free_for_a_listener_only() {
        let reservation = PortReservation::new().unwrap();
        let address = reservation.address().unwrap();
        assert_eq!(address.port(), reservation.port());
        assert_ne!(reservation.port(), 0);
        // Nothing answers: the Tusk CLI's check that the port is free passes.
        let refused = std::net::TcpStream::connect(address).unwrap_err();
        assert_eq!(
            refused.kind(),
            io::ErrorKind::ConnectionRefused,
            "{refused}"
        );
        // A socket without SO_REUSEADDR cannot take the port while it is held.
        let plain = tokio::net::TcpSocket::new_v4().unwrap();
        plain.set_reuseaddr(false).unwrap();
        assert!(plain.bind(address).is_err(), "the port is not held");
        // A service listening as std and tokio listeners do can.
        let listener = std::net::TcpListener::bind(address).unwrap();
        let _client = std::net::TcpStream::connect(address).unwrap();
        drop(listener);
        drop(reservation);
    }

    #[test]
    fn reads_the_address_and_drains_the_rest() {
        let mut process =
            ServiceProcess::spawn(&mut shell("echo 'listening on 127.0.0.1:9'; seq 100000"))
                .unwrap();
        assert_eq!(
            process.wait_for_address(Duration::from_secs(10)).unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 9))
        );
        // Drained: the writer finishes although nobody reads its output here.
        let status = process.wait_for_exit(Duration::from_secs(10)).unwrap();
        assert!(status.is_some_and(|status| status.success()));
    }

    #[test]
    fn another_first_line_is_an_error() {
        for first_line in ["hello", "listening on localhost"] {
            let mut process =
                ServiceProcess::spawn(&mut shell(&format!("echo '{first_line}'"))).unwrap();
            let error = process
                .wait_for_address(Duration::from_secs(10))
                .unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{error}");
        }
    }

    #[test]
    fn silence_times_out_and_drop_kills() {
        let mut process = ServiceProcess::spawn(&mut shell("sleep 30")).unwrap();
        let error = process
            .wait_for_address(Duration::from_millis(100))
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
        let pid = process.id();
        drop(process);
        // Reaped: no process (not even a zombie) with that id is left.
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn terminate_sends_sigterm() {
        use std::os::unix::process::ExitStatusExt;
        let mut process = ServiceProcess::spawn(&mut shell("exec sleep 30")).unwrap();
        process.terminate().unwrap();
        let status = process.wait_for_exit(Duration::from_secs(10)).unwrap();
        assert_eq!(status.and_then(|status| status.signal()), Some(15));
    }
}

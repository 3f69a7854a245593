//! [`ServiceProcess`]: a child process (a service under test, a load generator) that is
//! killed and reaped when dropped, so a test or task that fails half-way never leaves it
//! running, plus the steps the callers share: reading the `listening on ADDR` line,
//! `SIGTERM`, waiting for the exit with a timeout.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
    /// rather than a signal crate: this is the one signal the tests and tasks send.
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

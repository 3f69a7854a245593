//! [`Builder`]: the SDK's options, in tokio's builder shape.

use std::path::PathBuf;
use std::time::Duration;

use cov_transport::Endpoint;

use crate::Coverage;
use crate::env::Environment;
use crate::headers::HeaderRules;

/// Options of the coverage SDK; [`Builder::init`] starts it.
///
/// ```no_run
/// use std::time::Duration;
///
/// let _coverage = cov_sdk::Builder::new()
///     .service_id("orders")
///     .exclude("src/generated/**")
///     .connect_timeout(Duration::from_secs(5))
///     .init();
/// ```
///
/// Every option has a default that suits a service started by the Tusk CLI, which is
/// why [`crate::init`] takes none.
#[derive(Clone, Debug)]
pub struct Builder {
    pub(crate) service_id: Option<String>,
    pub(crate) source_root: Option<PathBuf>,
    pub(crate) include: Vec<String>,
    pub(crate) exclude: Vec<String>,
    pub(crate) endpoint: Option<Endpoint>,
    pub(crate) connect_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) environment: Option<Environment>,
    pub(crate) sampling_rate: Option<f64>,
    pub(crate) traces_dir: Option<PathBuf>,
    pub(crate) header_rules: HeaderRules,
    pub(crate) max_body_bytes: usize,
    pub(crate) mock_timeout: Duration,
    /// Tests only: the SDK thread panics as soon as it starts.
    #[cfg(test)]
    pub(crate) panic_on_start: bool,
}

/// How long the SDK keeps trying to reach the CLI at start: as long as the CLI waits for
/// the handshake.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the SDK waits for the CLI's `ConnectResponse`.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one reply may take to write before the connection is given up: well under
/// the CLI's 60 s snapshot timeout.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// The default limit on each recorded body: a trace of two full bodies (base64) stays
/// well under the CLI's 15 MiB line limit and its 10 MiB frame limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The largest body limit accepted: two bodies in base64 still fit one 15 MiB line.
pub const MAX_BODY_BYTES_CEILING: usize = 5 * 1024 * 1024;

impl Default for Builder {
    fn default() -> Self {
        Self {
            service_id: None,
            source_root: None,
            include: Vec::new(),
            exclude: Vec::new(),
            endpoint: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            environment: None,
            sampling_rate: None,
            traces_dir: None,
            header_rules: HeaderRules::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            mock_timeout: crate::mocks::DEFAULT_MOCK_TIMEOUT,
            #[cfg(test)]
            panic_on_start: false,
        }
    }
}

impl Builder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The service id sent in the handshake. Default: `service.id` from the nearest
    /// `.tusk/config.yaml` (current directory, then its parents), else `"unknown"`.
    pub fn service_id(&mut self, service_id: impl Into<String>) -> &mut Self {
        self.service_id = Some(service_id.into());
        self
    }

    /// The directory whose files count as the service's own. Default: the current
    /// directory, canonicalized (as the Python SDK does).
    pub fn source_root(&mut self, source_root: impl Into<PathBuf>) -> &mut Self {
        self.source_root = Some(source_root.into());
        self
    }

    /// Adds an include glob (`**` semantics, relative to the source root). When any is
    /// given, only files matching one are reported.
    pub fn include(&mut self, pattern: impl Into<String>) -> &mut Self {
        self.include.push(pattern.into());
        self
    }

    /// Adds an exclude glob (`**` semantics, relative to the source root); applied after
    /// the includes.
    pub fn exclude(&mut self, pattern: impl Into<String>) -> &mut Self {
        self.exclude.push(pattern.into());
        self
    }

    /// Connects to `endpoint` instead of the one the Tusk variables name (tests).
    #[cfg(test)]
    pub(crate) fn endpoint(&mut self, endpoint: Endpoint) -> &mut Self {
        self.endpoint = Some(endpoint);
        self
    }

    /// How long to keep retrying the first connection before giving up with one
    /// warning. Default: [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn connect_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for the CLI's answer to the handshake. Default:
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn handshake_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long writing one reply may take before the connection is given up. Default:
    /// [`DEFAULT_WRITE_TIMEOUT`].
    pub fn write_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.write_timeout = timeout;
        self
    }

    /// `RECORD` mode: the fraction of inbound requests recorded, `0.0` to `1.0`. Default:
    /// `TUSK_RECORDING_SAMPLING_RATE`, else `recording.sampling.base_rate` or
    /// `recording.sampling_rate` in `.tusk/config.yaml`, else `1.0`. A value outside the
    /// range is ignored with a warning.
    pub fn sampling_rate(&mut self, rate: f64) -> &mut Self {
        self.sampling_rate = Some(rate);
        self
    }

    /// `RECORD` mode: the directory trace files are written to. Default:
    /// `TUSK_TRACES_DIR`, else `traces.dir` in `.tusk/config.yaml`, else `.tusk/traces`
    /// (relative to the working directory).
    pub fn traces_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.traces_dir = Some(dir.into());
        self
    }

    /// Leaves header `name` (any case) out of recorded requests and responses, and out of
    /// replay spans. `accept-encoding` is always left out.
    pub fn drop_header(&mut self, name: &str) -> &mut Self {
        self.header_rules.dropped.insert(name.to_ascii_lowercase());
        self
    }

    /// Records header `name` (any case) with the value [`crate::MASKED_VALUE`] instead of
    /// its own. The CLI replays the masked value, so mask only headers the service does
    /// not need to answer the same way.
    pub fn mask_header(&mut self, name: &str) -> &mut Self {
        self.header_rules.masked.insert(name.to_ascii_lowercase());
        self
    }

    /// The largest request or response body recorded, in bytes; an exchange with a larger
    /// body is not recorded (one warning). Default [`DEFAULT_MAX_BODY_BYTES`], at most
    /// [`MAX_BODY_BYTES_CEILING`] (a trace must fit the CLI's 15 MiB line).
    pub fn max_body_bytes(&mut self, bytes: usize) -> &mut Self {
        self.max_body_bytes = bytes.min(MAX_BODY_BYTES_CEILING);
        self
    }

    /// `REPLAY` mode: how long an outbound call waits for the CLI's recorded answer before
    /// it fails with a timeout (the CLI itself puts no limit on a lookup), counted from the
    /// call or, for a call made while the SDK was still connecting (a service's start-up
    /// statements), from when it connected. The SDK thread enforces it, within a twentieth
    /// of it (at most 100 ms). Default: [`crate::DEFAULT_MOCK_TIMEOUT`], the Python SDK's.
    pub fn mock_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.mock_timeout = timeout;
        self
    }

    /// Reads the Tusk variables from `environment` instead of the process environment
    /// (tests).
    #[cfg(test)]
    pub(crate) fn environment(&mut self, environment: Environment) -> &mut Self {
        self.environment = Some(environment);
        self
    }

    /// Starts the SDK with these options, or returns the handle of the one already
    /// running. Never fails and never blocks: see [`crate::init`].
    pub fn init(&mut self) -> Coverage {
        crate::instance::PROCESS.start(self.clone())
    }

    /// Starts the SDK in `registry` instead of the process's (tests: each test has its
    /// own, so tests need not run one at a time).
    #[cfg(test)]
    pub(crate) fn init_in(&mut self, registry: &crate::instance::Registry) -> Coverage {
        registry.start(self.clone())
    }
}

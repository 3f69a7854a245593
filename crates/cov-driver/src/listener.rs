//! Listening for SDKs: the listener, the socket file it owns, and the CLI's side of the
//! handshake.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cov_proto::{
    CliMessage, ConnectRequest, ConnectResponse, MessageType, cli_message, sdk_message,
};
use cov_transport::frame::{CliCodec, DEFAULT_MAX_FRAME_LEN, describe_type};
use cov_transport::writer::FrameSender;
use cov_transport::{Endpoint, TransportError};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio_util::codec::FramedRead;

use crate::connection::{CliConnection, Incoming};
use crate::error::ChannelError;
use crate::mock::MockSource;

/// The CLI's text for an `SDK_CONNECT` message without a `ConnectRequest`.
pub const INVALID_CONNECT_REQUEST: &str = "Invalid connect request format";

/// Timeouts, limits and the mock handler of the CLI side. Build with
/// [`CliOptions::default`] and the setters.
#[derive(Clone, Debug)]
pub struct CliOptions {
    write_timeout: Duration,
    max_frame_len: usize,
    pub(crate) mock_source: Option<Arc<dyn MockSource>>,
}

impl Default for CliOptions {
    /// Writes within 10 s, frames up to 10 MiB (the CLI's limit), no mock source.
    fn default() -> Self {
        CliOptions {
            write_timeout: Duration::from_secs(10),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            mock_source: None,
        }
    }
}

impl CliOptions {
    /// How long writing one frame may take before the connection is given up.
    pub fn write_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.write_timeout = timeout;
        self
    }

    /// The largest frame payload sent or received (default 10 MiB).
    pub fn max_frame_len(&mut self, max_frame_len: usize) -> &mut Self {
        self.max_frame_len = max_frame_len;
        self
    }

    /// What answers the SDK's `MOCK_REQUEST` messages, each in a task of its own (see
    /// [`MockSource`]). Without one, they are logged and dropped.
    pub fn mock_source(&mut self, source: Arc<dyn MockSource>) -> &mut Self {
        self.mock_source = Some(source);
        self
    }
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// A listening socket of the CLI side. A unix socket file it created is removed on drop.
pub struct CliListener {
    listener: Listener,
    endpoint: Endpoint,
    options: CliOptions,
    /// The socket file this listener created, removed on drop if it is still that file.
    socket_file: Option<SocketFile>,
}

/// A socket file by path and identity: device and inode, so that dropping the listener
/// removes only the file it created, not one another process bound at the same path since.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    device: u64,
    inode: u64,
}

impl SocketFile {
    /// The file now at `path`, if there is one.
    fn at(path: &Path) -> Option<SocketFile> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::symlink_metadata(path).ok()?;
        Some(SocketFile {
            path: path.to_path_buf(),
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }

    /// Removes the file if the path still names it.
    fn remove_if_unchanged(&self) {
        let now = SocketFile::at(&self.path);
        if now.is_some_and(|now| now.device == self.device && now.inode == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl std::fmt::Debug for CliListener {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CliListener")
            .field("endpoint", &self.endpoint)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl CliListener {
    /// Listens on `endpoint` with [`CliOptions::default`]; see [`CliListener::bind_with`].
    pub async fn bind(endpoint: &Endpoint) -> Result<Self, ChannelError> {
        Self::bind_with(endpoint, CliOptions::default()).await
    }

    /// Listens on `endpoint`.
    ///
    /// Unix: the parent directory is created if missing (as the CLI does); an existing
    /// socket file nobody listens on (stale) is replaced; a live one is
    /// [`ChannelError::SocketInUse`]; a path that exists and is not a socket is
    /// [`ChannelError::NotASocket`]. TCP: port 0 lets the system choose; see
    /// [`CliListener::local_endpoint`].
    pub async fn bind_with(endpoint: &Endpoint, options: CliOptions) -> Result<Self, ChannelError> {
        let bind_error = |source| ChannelError::Bind {
            endpoint: endpoint.clone(),
            source,
        };
        match endpoint {
            Endpoint::Unix(path) => {
                prepare_socket_path(path).map_err(|error| match error {
                    PrepareError::Io(source) => bind_error(source),
                    PrepareError::Refused(error) => error,
                })?;
                let listener = UnixListener::bind(path).map_err(bind_error)?;
                let socket_file = SocketFile::at(path);
                tracing::debug!(%endpoint, "listening");
                Ok(CliListener {
                    listener: Listener::Unix(listener),
                    endpoint: endpoint.clone(),
                    options,
                    socket_file,
                })
            }
            Endpoint::Tcp { host, port } => {
                let listener = TcpListener::bind((host.as_str(), *port))
                    .await
                    .map_err(bind_error)?;
                let local_port = listener.local_addr().map_err(bind_error)?.port();
                let endpoint = Endpoint::Tcp {
                    host: host.clone(),
                    port: local_port,
                };
                tracing::debug!(%endpoint, "listening");
                Ok(CliListener {
                    listener: Listener::Tcp(listener),
                    endpoint,
                    options,
                    socket_file: None,
                })
            }
        }
    }

    /// Where SDKs can connect: the bound endpoint, with the real port for TCP port 0.
    pub fn local_endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Accepts the next SDK and completes the handshake, all within `timeout`, accepting
    /// every `ConnectRequest`.
    pub async fn accept(&self, timeout: Duration) -> Result<CliConnection, ChannelError> {
        self.accept_with(timeout, |_| Ok(())).await
    }

    /// Like [`CliListener::accept`], but `verdict` decides on the SDK's `ConnectRequest`:
    /// `Err(text)` answers `success = false` with `text` (as the CLI does for an
    /// incompatible version) and returns [`TransportError::Handshake`].
    ///
    /// The first connection decides: its failed handshake is returned, not skipped.
    pub async fn accept_with(
        &self,
        timeout: Duration,
        verdict: impl FnOnce(&ConnectRequest) -> Result<(), String>,
    ) -> Result<CliConnection, ChannelError> {
        let accepting = async {
            match &self.listener {
                Listener::Unix(listener) => {
                    let (stream, _) = listener
                        .accept()
                        .await
                        .map_err(|source| self.accept_error(source))?;
                    serve_handshake(stream, self.endpoint.clone(), &self.options, verdict).await
                }
                Listener::Tcp(listener) => {
                    let (stream, peer) = listener
                        .accept()
                        .await
                        .map_err(|source| self.accept_error(source))?;
                    let _ = stream.set_nodelay(true);
                    let peer = Endpoint::Tcp {
                        host: peer.ip().to_string(),
                        port: peer.port(),
                    };
                    serve_handshake(stream, peer, &self.options, verdict).await
                }
            }
        };
        tokio::time::timeout(timeout, accepting)
            .await
            .unwrap_or_else(|_elapsed| {
                Err(ChannelError::AcceptTimeout {
                    endpoint: self.endpoint.clone(),
                    timeout,
                })
            })
    }

    fn accept_error(&self, source: std::io::Error) -> ChannelError {
        ChannelError::Accept {
            endpoint: self.endpoint.clone(),
            source,
        }
    }
}

impl Drop for CliListener {
    fn drop(&mut self) {
        if let Some(socket_file) = &self.socket_file {
            socket_file.remove_if_unchanged();
        }
    }
}

enum PrepareError {
    Io(std::io::Error),
    Refused(ChannelError),
}

/// Makes `path` free for a new socket: creates the parent directory, removes a stale socket
/// file, refuses a live socket or anything that is not a socket.
fn prepare_socket_path(path: &Path) -> Result<(), PrepareError> {
    use std::os::unix::fs::FileTypeExt;
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(PrepareError::Io)?;
    }
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(PrepareError::Io(error)),
    };
    if !metadata.file_type().is_socket() {
        return Err(PrepareError::Refused(ChannelError::NotASocket {
            path: path.to_owned(),
        }));
    }
    // A socket file nobody accepts on refuses connections: it is stale.
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_live) => Err(PrepareError::Refused(ChannelError::SocketInUse {
            path: path.to_owned(),
        })),
        Err(_stale) => {
            tracing::debug!(path = %path.display(), "replacing a stale socket file");
            std::fs::remove_file(path).map_err(PrepareError::Io)
        }
    }
}

/// Completes the CLI side of the handshake over an already connected `stream`, within
/// `timeout`, accepting every `ConnectRequest` that `verdict` accepts.
///
/// [`CliListener::accept_with`] uses this after accepting; tests can call it with any
/// byte stream (`endpoint` only names the peer in errors).
pub async fn handshake<S>(
    stream: S,
    endpoint: Endpoint,
    options: &CliOptions,
    timeout: Duration,
    verdict: impl FnOnce(&ConnectRequest) -> Result<(), String>,
) -> Result<CliConnection, ChannelError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let serving = serve_handshake(stream, endpoint.clone(), options, verdict);
    tokio::time::timeout(timeout, serving)
        .await
        .unwrap_or_else(|_elapsed| {
            Err(TransportError::HandshakeTimeout { endpoint, timeout }.into())
        })
}

async fn serve_handshake<S>(
    stream: S,
    endpoint: Endpoint,
    options: &CliOptions,
    verdict: impl FnOnce(&ConnectRequest) -> Result<(), String>,
) -> Result<CliConnection, ChannelError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read_half, write_half) = tokio::io::split(stream);
    let (closed_sender, closed) = watch::channel(false);
    let frames = FrameSender::spawn(
        Box::new(write_half),
        endpoint.clone(),
        options.max_frame_len,
        options.write_timeout,
        closed.clone(),
    );
    let mut incoming: Incoming = FramedRead::new(
        Box::new(read_half),
        CliCodec::with_max_frame_len(options.max_frame_len),
    );
    // Like the CLI, wait for SDK_CONNECT; messages before it have nobody to answer them.
    let hello = loop {
        match incoming.next().await {
            Some(Ok(message)) if message.r#type == MessageType::SdkConnect as i32 => break message,
            Some(Ok(message)) => tracing::debug!(
                r#type = %describe_type(message.r#type),
                "ignoring a message that arrived before the handshake"
            ),
            Some(Err(source)) => return Err(TransportError::frame(&endpoint, source).into()),
            None => return Err(ChannelError::closed(&endpoint)),
        }
    };
    let answer = |success: bool, error: String| CliMessage {
        r#type: MessageType::SdkConnect as i32,
        request_id: hello.request_id.clone(),
        payload: Some(cli_message::Payload::ConnectResponse(ConnectResponse {
            success,
            error,
        })),
    };
    let Some(sdk_message::Payload::ConnectRequest(connect_request)) = hello.payload.clone() else {
        frames
            .send(&answer(false, INVALID_CONNECT_REQUEST.to_owned()))
            .await?;
        return Err(TransportError::Handshake {
            endpoint,
            detail: "SDK_CONNECT without a ConnectRequest".to_owned(),
        }
        .into());
    };
    if let Err(text) = verdict(&connect_request) {
        frames.send(&answer(false, text.clone())).await?;
        return Err(TransportError::Handshake {
            endpoint,
            detail: format!("rejected the SDK: {text}"),
        }
        .into());
    }
    frames.send(&answer(true, String::new())).await?;
    tracing::debug!(
        %endpoint,
        service_id = %connect_request.service_id,
        sdk_version = %connect_request.sdk_version,
        "SDK connected"
    );

    Ok(CliConnection::start(
        incoming,
        frames,
        closed,
        closed_sender,
        connect_request,
        hello.request_id,
        options.mock_source.clone(),
    ))
}

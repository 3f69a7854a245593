//! A raw CLI side over a unix socket, in blocking `std` code: it completes the handshake
//! like the Tusk CLI, then writes whatever bytes a test wants, well-formed or not.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cov_proto::{
    CliMessage, ConnectResponse, CoverageSnapshotRequest, Message, MessageType, SdkMessage,
    cli_message, sdk_message,
};

/// A listening raw peer.
#[derive(Debug)]
pub struct RawListener {
    listener: UnixListener,
    path: PathBuf,
}

impl RawListener {
    /// Listens on the unix socket `path`.
    pub fn bind(path: &Path) -> RawListener {
        let listener = UnixListener::bind(path)
            .unwrap_or_else(|error| panic!("binding {}: {error}", path.display()));
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        RawListener {
            listener,
            path: path.to_path_buf(),
        }
    }

    /// Accepts the SDK within `timeout` and answers its handshake with success.
    pub fn accept(&self, timeout: Duration) -> RawPeer {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((stream, _)) => break stream,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "no SDK connected to {} within {timeout:?}",
                        self.path.display()
                    );
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(error) => panic!("accepting on {}: {error}", self.path.display()),
            }
        };
        stream.set_nonblocking(false).expect("a blocking stream");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("a read timeout");
        let mut peer = RawPeer { stream };
        let hello: SdkMessage = peer.read_message().expect("the SDK's handshake");
        assert_eq!(hello.r#type, MessageType::SdkConnect as i32);
        assert!(matches!(
            hello.payload,
            Some(sdk_message::Payload::ConnectRequest(_))
        ));
        peer.write_message(&CliMessage {
            r#type: MessageType::SdkConnect as i32,
            request_id: hello.request_id,
            payload: Some(cli_message::Payload::ConnectResponse(ConnectResponse {
                success: true,
                error: String::new(),
            })),
        });
        peer
    }
}

/// One connection after the handshake.
#[derive(Debug)]
pub struct RawPeer {
    stream: UnixStream,
}

impl RawPeer {
    /// The socket, for tests that write raw bytes or never read.
    pub fn stream(&mut self) -> &mut UnixStream {
        &mut self.stream
    }

    /// Writes raw bytes.
    pub fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Writes one framed message.
    pub fn write_message(&mut self, message: &impl Message) {
        self.write_raw(&frame(&message.encode_to_vec()))
            .expect("writing a message to the SDK");
    }

    /// Reads one framed message (`None` when the SDK closed the connection).
    pub fn read_message<M: Message + Default>(&mut self) -> Option<M> {
        let mut header = [0_u8; 4];
        self.stream.read_exact(&mut header).ok()?;
        let mut payload = vec![0; u32::from_be_bytes(header) as usize];
        self.stream.read_exact(&mut payload).ok()?;
        Some(M::decode(payload.as_slice()).expect("the SDK sends valid protobuf"))
    }

    /// Sends a snapshot request with `request_id` and returns the SDK's reply to it,
    /// skipping replies to other ids; panics after `timeout`.
    pub fn snapshot(
        &mut self,
        request_id: &str,
        baseline: bool,
        timeout: Duration,
    ) -> cov_proto::CoverageSnapshotResponse {
        self.write_message(&snapshot_request(request_id, baseline));
        self.reply_to(request_id, timeout)
    }

    /// Reads until the reply to `request_id`; panics after `timeout`.
    pub fn reply_to(
        &mut self,
        request_id: &str,
        timeout: Duration,
    ) -> cov_proto::CoverageSnapshotResponse {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("a read timeout");
        let started = Instant::now();
        loop {
            let reply: SdkMessage = self
                .read_message()
                .unwrap_or_else(|| panic!("no reply to {request_id} within {timeout:?}"));
            if reply.request_id == request_id {
                match reply.payload {
                    Some(sdk_message::Payload::CoverageSnapshotResponse(response)) => {
                        return response;
                    }
                    other => panic!("reply to {request_id} is not a snapshot: {other:?}"),
                }
            }
            assert!(started.elapsed() < timeout, "no reply to {request_id}");
        }
    }
}

/// A `COVERAGE_SNAPSHOT` request as the CLI sends it.
pub fn snapshot_request(request_id: &str, baseline: bool) -> CliMessage {
    CliMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id: request_id.to_owned(),
        payload: Some(cli_message::Payload::CoverageSnapshotRequest(
            CoverageSnapshotRequest { baseline },
        )),
    }
}

/// `payload` with its 4-byte big-endian length in front.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("a payload below 4 GiB");
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(payload);
    framed
}

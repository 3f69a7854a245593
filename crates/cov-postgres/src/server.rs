//! The replay server's I/O: a loopback PostgreSQL-protocol listener whose sessions
//! ([`ReplaySession`]) answer from a [`MockSource`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use bytes::BytesMut;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::replay::{Lookup, Poll, ReplayConfig, ReplaySession, Unmatched};

/// Where the replay server finds recorded answers: the SDK's mock client (the CLI's
/// matcher, exact value-hash matches only) or, in tests, a map of recorded statements.
pub trait MockSource: Send + Sync + 'static {
    /// The recorded output value for `lookup` under attribution key `key`, or why there is
    /// none. It must answer within the SDK's own timeout: the connection waits for it.
    fn lookup(
        &self,
        key: Option<u64>,
        lookup: Lookup,
    ) -> impl Future<Output = Result<Value, Unmatched>> + Send;
}

/// The replay server, listening on `127.0.0.1` on a port of its own. Dropping it stops
/// accepting; sessions already open run until their clients close them.
#[derive(Debug)]
pub struct ReplayServer {
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl ReplayServer {
    /// Listens on `127.0.0.1:0` and serves each connection from `source`. Must be called
    /// within a tokio runtime.
    pub async fn start<S: MockSource>(
        source: Arc<S>,
        config: ReplayConfig,
    ) -> std::io::Result<ReplayServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let config = Arc::new(config);
        let next_process_id = Arc::new(AtomicI32::new(1));
        let accept = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "postgres replay server: accept failed");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let session = ReplaySession::new(
                    Arc::clone(&config),
                    next_process_id.fetch_add(1, Ordering::Relaxed),
                );
                let source = Arc::clone(&source);
                tokio::spawn(async move {
                    if let Err(error) = serve(stream, session, source).await {
                        tracing::debug!(%peer, %error, "postgres replay server: connection ended");
                    }
                });
            }
        });
        Ok(ReplayServer { addr, accept })
    }

    /// The address the application connects to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn serve<S: MockSource>(
    mut stream: TcpStream,
    mut session: ReplaySession,
    source: Arc<S>,
) -> std::io::Result<()> {
    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut out = BytesMut::with_capacity(16 * 1024);
    loop {
        match session.poll(&mut out) {
            Poll::NeedInput => {
                if !out.is_empty() {
                    stream.write_all(&out).await?;
                    out.clear();
                }
                input.reserve(16 * 1024);
                if stream.read_buf(&mut input).await? == 0 {
                    return Ok(());
                }
                session.client_bytes(input.split().freeze());
            }
            Poll::Lookup { key, lookup } => {
                let answer = source.lookup(key, lookup.clone()).await;
                session.resume(&lookup, answer, &mut out);
            }
            Poll::Close => {
                if !out.is_empty() {
                    stream.write_all(&out).await?;
                }
                return stream.shutdown().await;
            }
        }
    }
}

//! Where mock serving lands: the handler a connection calls for every `MOCK_REQUEST`.
//!
//! In `REPLAY` mode an SDK asks the CLI, for each outbound call its service makes, for the
//! recorded answer: an `SDKMessage` of type `MOCK_REQUEST` (2) carrying a
//! `GetMockRequest`, answered by a `CLIMessage` of the same type and `request_id` carrying a
//! `GetMockResponse`. The Tusk CLI answers each such request in a goroutine of its own, so
//! one slow match never holds up another request, a snapshot or an inbound span; a
//! [`CliConnection`](crate::CliConnection) does the same with a tokio task per request.
//!
//! What answers is a [`MockSource`], given to the connection in
//! [`CliOptions::mock_source`](crate::CliOptions::mock_source). It receives the raw
//! `SdkMessage` and returns the reply, so the connection stays independent of the mock
//! payload types and of how mocks are matched (the CLI's rules, from recorded trace files).

use std::future::Future;
use std::pin::Pin;

use cov_proto::{CliMessage, SdkMessage};

/// The future a [`MockSource`] returns: the reply to send, if any.
pub type MockReply = Pin<Box<dyn Future<Output = Option<CliMessage>> + Send + 'static>>;

/// Answers the SDK's `MOCK_REQUEST` messages.
///
/// The connection calls [`MockSource::answer`] once for every SDK message whose `type` is
/// `MESSAGE_TYPE_MOCK_REQUEST`, each in a task of its own, so answers may be computed
/// concurrently and may arrive in any order (the SDK matches them by `request_id`). The
/// reply is sent with the request's `request_id`, whatever the returned message says;
/// `None` sends nothing (the SDK's own timeout then applies). Without a source, such
/// messages are logged and dropped.
///
/// ```
/// use std::sync::Arc;
/// use cov_driver::{CliOptions, MockReply, MockSource};
/// use cov_proto::{CliMessage, MessageType, SdkMessage};
///
/// /// Answers every mock request with a message of the same type and no payload.
/// #[derive(Debug)]
/// struct Empty;
///
/// impl MockSource for Empty {
///     fn answer(&self, request: SdkMessage) -> MockReply {
///         Box::pin(async move {
///             Some(CliMessage { r#type: MessageType::MockRequest as i32, request_id: request.request_id, payload: None })
///         })
///     }
/// }
///
/// let mut options = CliOptions::default();
/// options.mock_source(Arc::new(Empty));
/// ```
pub trait MockSource: Send + Sync + std::fmt::Debug + 'static {
    /// The reply to `request`, an SDK message of type `MOCK_REQUEST`.
    fn answer(&self, request: SdkMessage) -> MockReply;
}

//! [`TuskMiddleware`]: outbound calls of a `reqwest` client, through reqwest-middleware.
//!
//! ```no_run
//! # fn client(coverage: &cov_sdk::Coverage) -> reqwest_middleware::ClientWithMiddleware {
//! reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(coverage.reqwest_middleware())
//!     .build()
//! # }
//! ```
//!
//! In `RECORD` mode the call goes out and is recorded, its response body copied as the
//! application reads it (never buffered ahead of it); in `REPLAY` mode it never goes out:
//! the response is the recorded one, or the call fails with a [`ReplayError`] wrapped in
//! `reqwest_middleware::Error::Middleware`. Requests with a streaming body cannot be
//! recorded (reqwest cannot read them without sending them): they go out unrecorded, and
//! fail in replay.

use http::Extensions;
use reqwest_middleware::{Middleware, Next};

use super::http::{ClientCall, SharedCall, ask_recorded_answer, describe};
use super::{Outbound, Plan, Recording, ReplayError, ReplayFailure, Replaying, in_call};
use crate::tee::{Side, TuskBody};

/// The future `Middleware::handle` returns (reqwest-middleware does not export its alias).
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The SDK's reqwest middleware; get it from [`crate::Coverage::reqwest_middleware`].
/// Outside record and replay it hands every request on untouched.
#[derive(Clone, Debug, Default)]
pub struct TuskMiddleware {
    outbound: Outbound,
}

impl TuskMiddleware {
    /// The middleware of `outbound`.
    pub(crate) fn new(outbound: Outbound) -> Self {
        Self { outbound }
    }
}

// `Middleware` is declared with async-trait, whose expansion is this signature: written out
// by hand so that a call passed through (the SDK off, or a call outside any request) is
// handed on with no future of ours around it. An `async fn` body would box a future as large
// as the record and replay paths need for every call, which measured as most of the
// middleware's cost when the SDK is off (docs/performance.md). It also keeps `llvm-cov
// export` (LLVM 21.1.4 to 22) from crashing on the program's mapping, as it did on the
// `#[async_trait]` version of this impl (rust-lang/rust#157358): cov-collector's
// `profile_versions` test exports every file of the demo service, this one included.
impl Middleware for TuskMiddleware {
    fn handle<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        request: reqwest::Request,
        extensions: &'life1 mut Extensions,
        next: Next<'life2>,
    ) -> BoxFuture<'async_trait, reqwest_middleware::Result<reqwest::Response>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        // Decided when the chain reaches this middleware, which is while the application's
        // call is polled, in its task: the request context is the caller's.
        match self.outbound.plan() {
            Plan::PassThrough => next.run(request, extensions),
            Plan::Refuse(reason) => {
                let error = refused(&request, reason);
                Box::pin(std::future::ready(Err(error)))
            }
            Plan::Replay(replaying) => Box::pin(self.replay(replaying, request)),
            Plan::Record(recording) => Box::pin(record(recording, request, extensions, next)),
        }
    }
}

impl TuskMiddleware {
    /// Answers `request` from the recording; it never goes out.
    async fn replay(
        &self,
        replaying: Replaying,
        request: reqwest::Request,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let method = request.method().clone();
        let uri = uri_of(&request);
        let name = describe(&method, &uri);
        let fail =
            |reason| reqwest_middleware::Error::middleware(ReplayError::new(name.clone(), reason));
        let Some(mode) = self.outbound.mode() else {
            // Replaying is planned only with a mode.
            return Err(fail(ReplayFailure::Unavailable(
                "the SDK is not replaying".to_owned(),
            )));
        };
        let body = match request.body() {
            None => &[][..],
            Some(body) => body.as_bytes().ok_or_else(|| {
                fail(ReplayFailure::UnreadableRequest(
                    "a streaming body, which is never recorded".to_owned(),
                ))
            })?,
        };
        let answer = ask_recorded_answer(&replaying, mode, &method, &uri, request.headers(), body)
            .await
            .map_err(fail)?;
        let body = if answer.body_complete {
            reqwest::Body::from(answer.body.clone())
        } else {
            reqwest::Body::wrap(answer.body(&name))
        };
        let mut parts = http::Response::new(()).into_parts().0;
        parts.status = answer.status;
        parts.headers = answer.headers;
        response_of(parts, body, request.url().clone())
            .map_err(reqwest_middleware::Error::middleware)
    }
}

/// Sends `request` on and records the call.
async fn record(
    recording: Recording,
    request: reqwest::Request,
    extensions: &mut Extensions,
    next: Next<'_>,
) -> reqwest_middleware::Result<reqwest::Response> {
    let method = request.method().clone();
    let uri = uri_of(&request);
    let headers = request.headers().clone();
    let Some(body) = request
        .body()
        .map_or(Some(&[][..]), reqwest::Body::as_bytes)
        .map(<[u8]>::to_vec)
    else {
        recording.skip(&describe(&method, &uri), "a streaming request body");
        return in_call(next.run(request, extensions)).await;
    };
    let call = ClientCall::with_body(recording, method, uri, headers, &body);
    let url = request.url().clone();
    match in_call(next.run(request, extensions)).await {
        Ok(response) => {
            followed(response, call, url).map_err(reqwest_middleware::Error::middleware)
        }
        Err(error) => {
            call.fail(&error);
            Err(error)
        }
    }
}

/// The response, its body copied into `call` as the application reads it.
fn followed(
    response: reqwest::Response,
    mut call: ClientCall,
    url: reqwest::Url,
) -> Result<reqwest::Response, http::Error> {
    call.response(response.status(), response.headers().clone());
    let (parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
    if http_body::Body::is_end_stream(&body) {
        // Nothing more will come (no body): the call is complete as it is.
        call.finish();
        return response_of(parts, body, url);
    }
    let shared = SharedCall::new(call);
    let body = reqwest::Body::wrap(TuskBody::teed(body, shared, Side::Response));
    response_of(parts, body, url)
}

/// A reqwest response of these parts and body, answering `url` (reqwest's conversion from
/// `http::Response` keeps the URL only through its builder extension). The parts come from
/// a valid response, so the builder has nothing to refuse.
fn response_of(
    parts: http::response::Parts,
    body: reqwest::Body,
    url: reqwest::Url,
) -> Result<reqwest::Response, http::Error> {
    use reqwest::ResponseBuilderExt as _;
    let mut builder = http::Response::builder()
        .status(parts.status)
        .version(parts.version)
        .url(url);
    if let Some(headers) = builder.headers_mut() {
        *headers = parts.headers;
    }
    if let Some(extensions) = builder.extensions_mut() {
        extensions.extend(parts.extensions);
    }
    builder.body(body).map(reqwest::Response::from)
}

fn uri_of(request: &reqwest::Request) -> http::Uri {
    request
        .url()
        .as_str()
        .parse()
        .unwrap_or_else(|_| http::Uri::from_static("/"))
}

fn refused(request: &reqwest::Request, reason: ReplayFailure) -> reqwest_middleware::Error {
    reqwest_middleware::Error::middleware(ReplayError::new(
        describe(request.method(), &uri_of(request)),
        reason,
    ))
}

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

use super::http::{ClientCall, SharedCall, describe, recorded_answer, request_span};
use super::{Outbound, Plan, ReplayError, ReplayFailure, in_call};
use crate::tee::{Side, TuskBody};

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

#[async_trait::async_trait]
impl Middleware for TuskMiddleware {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        match self.outbound.plan() {
            Plan::PassThrough => next.run(request, extensions).await,
            Plan::Refuse(reason) => Err(refused(&request, reason)),
            Plan::Replay(replaying) => {
                let Some(mode) = self.outbound.mode() else {
                    return next.run(request, extensions).await;
                };
                let method = request.method().clone();
                let uri = uri_of(&request);
                let name = describe(&method, &uri);
                let fail = |reason| {
                    reqwest_middleware::Error::middleware(ReplayError::new(name.clone(), reason))
                };
                let body = match request.body() {
                    None => &[][..],
                    Some(body) => body.as_bytes().ok_or_else(|| {
                        fail(ReplayFailure::UnreadableRequest(
                            "a streaming body, which is never recorded".to_owned(),
                        ))
                    })?,
                };
                let span = request_span(mode, &method, &uri, request.headers(), body)
                    .map_err(|reason| fail(ReplayFailure::UnreadableRequest(reason)))?;
                let answer = replaying
                    .answer(&span)
                    .await
                    .and_then(recorded_answer)
                    .map_err(fail)?;
                let mut parts = http::Response::new(()).into_parts().0;
                parts.status = answer.status;
                parts.headers = answer.headers;
                response_of(
                    parts,
                    reqwest::Body::from(answer.body),
                    request.url().clone(),
                )
                .map_err(reqwest_middleware::Error::middleware)
            }
            Plan::Record(recording) => {
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
    let shared = SharedCall::new(call);
    let (parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
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

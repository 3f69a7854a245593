//! [`HttpClient`]: the HTTP client of the services under test. It is `ureq`'s blocking
//! agent (already the xtask's client, small, no async runtime) rather than a hand-written
//! HTTP/1.1 parser: the tests are about the services, not about reading chunked bodies.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// A client of one service. It keeps its connection alive between requests; a fresh
/// client opens a fresh connection. Every status is an answer, not an error.
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    base: String,
}

impl HttpClient {
    /// A client of the service at `address` whose requests each fail after `timeout`.
    pub fn new(address: SocketAddr, timeout: Duration) -> HttpClient {
        let agent = ureq::Agent::config_builder()
            // Error statuses are answers the tests check, not failures of the request.
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        HttpClient {
            agent,
            base: format!("http://{address}"),
        }
    }

    /// `GET path`: the status and the body.
    pub fn get(&self, path: &str) -> io::Result<(u16, String)> {
        self.request("GET", path, None)
    }

    /// `POST path` with a JSON body: the status and the body.
    pub fn post(&self, path: &str, json: &str) -> io::Result<(u16, String)> {
        self.request("POST", path, Some(json))
    }

    /// `method path`, with a JSON body if given (`Content-Length: 0` otherwise, so that a
    /// method that expects a body never gets a chunked empty one): the status and the body.
    ///
    /// # Errors
    ///
    /// When the connection fails, times out or closes without an answer.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        json: Option<&str>,
    ) -> io::Result<(u16, String)> {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .body(json.unwrap_or_default().as_bytes())
            .map_err(io::Error::other)?;
        let response = self.agent.run(request).map_err(ureq::Error::into_io)?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .read_to_string()
            .map_err(ureq::Error::into_io)?;
        Ok((status, body))
    }
}

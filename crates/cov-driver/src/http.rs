//! [`HttpClient`]: the HTTP client of the services under test, which sends the replayed
//! tests' requests and everything else the driver, the tasks and the tests ask a service.
//! It is `ureq`'s blocking agent (small, no async runtime of its own) rather than a
//! hand-written HTTP/1.1 client: nothing here is about malformed HTTP.

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

    /// `method path`, with a JSON body if given (an empty one otherwise): the status and
    /// the body.
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
        let body = json.unwrap_or_default().as_bytes();
        self.send(
            method,
            path,
            &[("Content-Type", "application/json")],
            Some(body),
        )
    }

    /// `method path` with `headers`, in order, and `body` as it is, as a recorded request is
    /// replayed: the status and the body. Without a body, a method that expects one (`POST`,
    /// `PUT`, `PATCH`) still says `Content-Length: 0`, as Go's client (the Tusk CLI's) does,
    /// rather than sending an empty chunked body; other methods send no body at all.
    ///
    /// # Errors
    ///
    /// When the request cannot be built from `method`, `path` or `headers`, or when the
    /// connection fails, times out or closes without an answer.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<(u16, String)> {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let expects_body = matches!(method, "POST" | "PUT" | "PATCH");
        let response = match body {
            Some(body) => self
                .agent
                .run(request.body(body).map_err(io::Error::other)?),
            None if expects_body => self
                .agent
                .run(request.body(&[][..]).map_err(io::Error::other)?),
            None => self.agent.run(request.body(()).map_err(io::Error::other)?),
        }
        .map_err(ureq::Error::into_io)?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .read_to_string()
            .map_err(ureq::Error::into_io)?;
        Ok((status, body))
    }
}

//! A minimal HTTP/1.1 keep-alive client over `std::net`, enough for the services under
//! test (bodies with `Content-Length`). A full client would add a large dependency tree
//! for four methods.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One keep-alive connection.
#[derive(Debug)]
pub struct HttpClient {
    reader: BufReader<TcpStream>,
    address: SocketAddr,
}

impl HttpClient {
    /// Connects to `address`; every read and write times out after 10 s.
    pub fn connect(address: SocketAddr) -> HttpClient {
        let stream = TcpStream::connect_timeout(&address, Duration::from_secs(10))
            .unwrap_or_else(|error| panic!("connecting to {address}: {error}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("setting a read timeout");
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .expect("setting a write timeout");
        let _ = stream.set_nodelay(true);
        HttpClient {
            reader: BufReader::new(stream),
            address,
        }
    }

    /// `GET path`: the status and the body.
    pub fn get(&mut self, path: &str) -> std::io::Result<(u16, String)> {
        self.request("GET", path, None)
    }

    /// `POST path` with a JSON body: the status and the body.
    pub fn post(&mut self, path: &str, json: &str) -> std::io::Result<(u16, String)> {
        self.request("POST", path, Some(json))
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        json: Option<&str>,
    ) -> std::io::Result<(u16, String)> {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\n",
            self.address
        );
        if let Some(json) = json {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                json.len()
            ));
        }
        request.push_str("\r\n");
        if let Some(json) = json {
            request.push_str(json);
        }
        self.reader.get_mut().write_all(request.as_bytes())?;

        let mut status_line = String::new();
        if self.reader.read_line(&mut status_line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before the status line",
            ));
        }
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|status| status.parse().ok())
            .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
        let mut content_length = 0_usize;
        loop {
            let mut header = String::new();
            if self.reader.read_line(&mut header)? == 0 {
                return Err(invalid("connection closed in the headers".to_owned()));
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid(format!("bad content length {value:?}")))?;
            }
        }
        let mut body = vec![0; content_length];
        self.reader.read_exact(&mut body)?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

fn invalid(detail: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, detail)
}

//! One HTTP/1.1 keep-alive connection with one request in flight, written and read directly on
//! a `TcpStream` or its TLS stream (request bytes built by hand, response head parsed with
//! `httparse`). A general
//! client (hyper's, with a task per connection) cost about as much CPU per request as the server
//! under test, on the same two cores; this keeps the tool's share small.

use std::fmt;

use bytes::{Buf, BytesMut};
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::dialer::{Dialer, Stream};
use crate::workload::Outgoing;

/// Why an exchange did not produce a response.
#[derive(Debug)]
pub enum ConnError {
    Connect(std::io::Error),
    /// The TLS handshake failed (e.g. the server's certificate did not verify).
    Tls(std::io::Error),
    /// The server closed the connection before answering (e.g. it ended keep-alive).
    Closed,
    Io(std::io::Error),
    /// The response was not HTTP/1.1 the tool understands.
    Protocol(&'static str),
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "connect: {e}"),
            Self::Tls(e) => {
                write!(f, "TLS handshake: {e}")?;
                let unverified = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .is_some_and(|t| matches!(t, rustls::Error::InvalidCertificate(_)));
                if unverified {
                    f.write_str(" (a certificate from a private CA needs --ca-file)")?;
                }
                Ok(())
            }
            Self::Closed => f.write_str("connection closed by the server"),
            Self::Io(e) => write!(f, "I/O: {e}"),
            Self::Protocol(what) => write!(f, "bad response: {what}"),
        }
    }
}

impl std::error::Error for ConnError {}

/// A client connection to the server.
pub struct Connection {
    stream: Stream,
    /// Ask the server to close after the answer (one request per connection).
    close: bool,
    inbound: BytesMut,
    outbound: Vec<u8>,
}

impl Connection {
    /// Connects (and shakes hands) as the dialer says.
    pub async fn open(dialer: &Dialer) -> Result<Self, ConnError> {
        Ok(Self {
            stream: dialer.open().await?,
            close: dialer.connection_per_request,
            inbound: BytesMut::with_capacity(8 * 1024),
            outbound: Vec::with_capacity(4 * 1024),
        })
    }

    /// Sends one request (`POST /?query`) and reads the whole response body into `body`.
    pub async fn exchange(
        &mut self,
        req: &Outgoing,
        body: &mut Vec<u8>,
    ) -> Result<StatusCode, ConnError> {
        self.outbound.clear();
        req.write_http1(&mut self.outbound, self.close);
        // TLS may hold the last record back until flushed; on TCP the flush costs nothing.
        let written = match self.stream.write_all(&self.outbound).await {
            Ok(()) => self.stream.flush().await,
            Err(e) => Err(e),
        };
        if written.is_err() {
            return Err(ConnError::Closed);
        }
        let head_len = loop {
            if let Some(end) = find(&self.inbound, b"\r\n\r\n") {
                break end + 4;
            }
            let fresh = self.inbound.is_empty();
            match self.stream.read_buf(&mut self.inbound).await {
                Ok(0) if fresh => return Err(ConnError::Closed),
                Ok(0) => return Err(ConnError::Protocol("connection closed mid-response")),
                Ok(_) => {}
                Err(e) => return Err(ConnError::Io(e)),
            }
        };
        let (status, length) = parse_head(self.inbound.get(..head_len).unwrap_or_default())?;
        self.inbound.advance(head_len);
        while self.inbound.len() < length {
            match self.stream.read_buf(&mut self.inbound).await {
                Ok(0) => return Err(ConnError::Protocol("connection closed mid-body")),
                Ok(_) => {}
                Err(e) => return Err(ConnError::Io(e)),
            }
        }
        body.clear();
        body.extend_from_slice(self.inbound.get(..length).unwrap_or_default());
        self.inbound.advance(length);
        Ok(status)
    }
}

/// Status and Content-Length of a response head (openkms always sends Content-Length).
fn parse_head(head: &[u8]) -> Result<(StatusCode, usize), ConnError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(ConnError::Protocol("unparsable response head")),
    }
    let status = resp
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(ConnError::Protocol("no status code"))?;
    let length = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(|v| v.trim().parse().ok())
        .ok_or(ConnError::Protocol("no Content-Length"))?;
    Ok((status, length))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_length() {
        let (s, n) = parse_head(b"HTTP/1.1 404 Not Found\r\ncontent-length: 12\r\n\r\n").unwrap();
        assert_eq!((s.as_u16(), n), (404, 12));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }
}

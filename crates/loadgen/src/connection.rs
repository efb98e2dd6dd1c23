//! One HTTP/1.1 keep-alive connection with one request in flight: hyper's low-level client
//! over a `TcpStream`, no pool, so the tool adds as little as possible to what it measures.

use std::fmt;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why an exchange did not produce a response.
#[derive(Debug)]
pub enum ConnError {
    /// The request could not be turned into HTTP (never expected: the signer pct-encodes).
    Request(hyper::http::Error),
    Connect(std::io::Error),
    Handshake(hyper::Error),
    /// The connection was closed before the request was sent (e.g. the server ended keep-alive).
    Closed(hyper::Error),
    Send(hyper::Error),
    Body(hyper::Error),
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Request(e) => write!(f, "building the request: {e}"),
            Self::Connect(e) => write!(f, "connect: {e}"),
            Self::Handshake(e) => write!(f, "HTTP handshake: {e}"),
            Self::Closed(e) => write!(f, "connection closed: {e}"),
            Self::Send(e) => write!(f, "sending the request: {e}"),
            Self::Body(e) => write!(f, "reading the response body: {e}"),
        }
    }
}

impl std::error::Error for ConnError {}

/// A client connection to the server.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    /// Connects to `endpoint` (`host:port`) with `TCP_NODELAY` and drives the connection on a
    /// task of the current runtime.
    pub async fn open(endpoint: &str) -> Result<Self, ConnError> {
        let stream = TcpStream::connect(endpoint)
            .await
            .map_err(ConnError::Connect)?;
        stream.set_nodelay(true).map_err(ConnError::Connect)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(ConnError::Handshake)?;
        tokio::spawn(async move {
            // A connection error surfaces on the next `send_request`; nothing to do here.
            let _ = conn.await;
        });
        Ok(Self { sender })
    }

    /// Sends one request and reads the whole response body into `body` (cleared first, so one
    /// buffer serves every request of the connection).
    pub async fn exchange(
        &mut self,
        req: Request<Full<Bytes>>,
        body: &mut Vec<u8>,
    ) -> Result<StatusCode, ConnError> {
        self.sender.ready().await.map_err(ConnError::Closed)?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(ConnError::Send)?;
        let status = resp.status();
        let mut incoming = resp.into_body();
        body.clear();
        while let Some(frame) = incoming.frame().await {
            if let Ok(data) = frame.map_err(ConnError::Body)?.into_data() {
                body.extend_from_slice(&data);
            }
        }
        Ok(status)
    }
}

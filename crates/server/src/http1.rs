//! A small HTTP/1.1 server over `httparse`.
//!
//! Why not hyper: hyper parses the request target into `http::Uri`, which refuses anything over
//! 64 KiB, while the legacy Alibaba SDK sends a 30 KiB secret percent-encoded in the URL, up to
//! ~92 KiB (kms-api.md §1.2). This module keeps the target as text. It supports what the SDKs
//! send: Content-Length and chunked bodies, `Expect: 100-continue`, keep-alive and pipelining,
//! with caps on head and body size and an idle timeout.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const MAX_HEADERS: usize = 96;
/// A connection idle this long between requests (or mid-request) is closed.
const IDLE: Duration = Duration::from_secs(75);
const MAX_CHUNK_LINE: usize = 1024;

/// A parsed request.
pub struct Request {
    pub method: String,
    /// The request target as sent: `/?a=b`.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    /// The query string (without `?`).
    pub fn query(&self) -> &str {
        self.target
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
    }
}

/// What the server answers.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Why reading a request failed, and what to answer before closing.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The peer closed or went idle; answer nothing.
    Closed,
    /// Answer this status and close.
    Reject { status: u16, reason: &'static str },
}

/// Limits of one request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_head: usize,
    pub max_body: usize,
}

/// Serves one connection: reads requests in order, answers each with `handle`; a request that
/// cannot be read is answered with `reject(status, reason)` and the connection closed.
///
/// Once `shutdown` is cancelled, a connection waiting for its next request is closed (after
/// serving any request whose bytes already arrived), and the next response says
/// `Connection: close`.
pub async fn serve<F, Fut, R>(
    mut stream: TcpStream,
    limits: Limits,
    shutdown: CancellationToken,
    handle: F,
    reject: R,
) where
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
    R: Fn(u16, &'static str) -> Response,
{
    let mut buf = BytesMut::with_capacity(8 * 1024);
    loop {
        if buf.is_empty() && !next_request_arrives(&mut stream, &mut buf, &shutdown).await {
            let _ = stream.shutdown().await;
            return;
        }
        let (req, keep_alive) = match read_request(&mut stream, &mut buf, limits).await {
            Ok(r) => r,
            Err(ReadError::Closed) => return,
            Err(ReadError::Reject { status, reason }) => {
                let resp = reject(status, reason);
                let _ = write_response(&mut stream, &resp, false).await;
                return;
            }
        };
        let resp = match CatchPanic(Box::pin(handle(req))).await {
            Ok(r) => r,
            // A panic is a bug; the caller still gets an answer rather than a dropped
            // connection, and the connection closes in case the state is suspect.
            Err(()) => {
                tracing::error!("request handler panicked");
                let resp = reject(500, "internal failure");
                let _ = write_response(&mut stream, &resp, false).await;
                return;
            }
        };
        let keep_alive = keep_alive && !shutdown.is_cancelled();
        if write_response(&mut stream, &resp, keep_alive)
            .await
            .is_err()
            || !keep_alive
        {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// How long an idle keep-alive connection is kept once shutdown began: a client may have sent
/// its next request just before the signal (or be sending it now, unaware); it is answered,
/// with `Connection: close`, instead of meeting a closed connection.
const DRAIN_IDLE_LINGER: Duration = Duration::from_secs(2);

/// Waits for the first bytes of the next request; `false` when the connection closed, stayed
/// idle too long, or stayed idle for [`DRAIN_IDLE_LINGER`] after shutdown began.
async fn next_request_arrives(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    shutdown: &CancellationToken,
) -> bool {
    let idle = if shutdown.is_cancelled() {
        DRAIN_IDLE_LINGER
    } else {
        IDLE
    };
    let read = tokio::time::timeout(idle, stream.read_buf(buf));
    tokio::pin!(read);
    tokio::select! {
        biased;
        r = &mut read => return matches!(r, Ok(Ok(n)) if n > 0),
        () = shutdown.cancelled() => {}
    }
    matches!(
        tokio::time::timeout(DRAIN_IDLE_LINGER, stream.read_buf(buf)).await,
        Ok(Ok(n)) if n > 0
    )
}

/// Polls a future, turning a panic during a poll into `Err(())`.
struct CatchPanic<F>(std::pin::Pin<Box<F>>);

impl<F: std::future::Future> std::future::Future for CatchPanic<F> {
    type Output = Result<F::Output, ()>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let fut = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(_) => std::task::Poll::Ready(Err(())),
        }
    }
}

async fn fill(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<(), ReadError> {
    match tokio::time::timeout(IDLE, stream.read_buf(buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) | Err(_) => Err(ReadError::Closed),
        Ok(Ok(_)) => Ok(()),
    }
}

async fn read_request(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    limits: Limits,
) -> Result<(Request, bool), ReadError> {
    let head_len = loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > limits.max_head {
            return Err(ReadError::Reject {
                status: 431,
                reason: "request head too large",
            });
        }
        fill(stream, buf).await?;
    };
    if head_len > limits.max_head {
        return Err(ReadError::Reject {
            status: 431,
            reason: "request head too large",
        });
    }
    let head = parse_head(buf.get(..head_len).unwrap_or_default())?;
    buf.advance(head_len);
    let body = match head.body {
        BodyKind::None => Bytes::new(),
        BodyKind::Length(n) => {
            if n > limits.max_body {
                return Err(ReadError::Reject {
                    status: 413,
                    reason: "request body too large",
                });
            }
            if head.expect_continue && buf.len() < n {
                send_continue(stream).await?;
            }
            while buf.len() < n {
                fill(stream, buf).await?;
            }
            buf.split_to(n).freeze()
        }
        BodyKind::Chunked => {
            if head.expect_continue && buf.is_empty() {
                send_continue(stream).await?;
            }
            read_chunked(stream, buf, limits.max_body).await?
        }
    };
    Ok((
        Request {
            method: head.method,
            target: head.target,
            headers: head.headers,
            body,
        },
        head.keep_alive,
    ))
}

async fn send_continue(stream: &mut TcpStream) -> Result<(), ReadError> {
    stream
        .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
        .await
        .map_err(|_| ReadError::Closed)
}

enum BodyKind {
    None,
    Length(usize),
    Chunked,
}

struct Head {
    method: String,
    target: String,
    headers: HeaderMap,
    body: BodyKind,
    keep_alive: bool,
    expect_continue: bool,
}

const BAD: ReadError = ReadError::Reject {
    status: 400,
    reason: "malformed request",
};

/// Parses a complete request head (ending in an empty line).
fn parse_head(bytes: &[u8]) -> Result<Head, ReadError> {
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut raw);
    match req.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(BAD),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ReadError::Reject {
                status: 431,
                reason: "too many headers",
            })
        }
        Err(_) => return Err(BAD),
    }
    let method = req.method.ok_or(BAD)?.to_owned();
    let target = req.path.ok_or(BAD)?.to_owned();
    let minor = req.version.ok_or(BAD)?;
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| BAD)?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| BAD)?;
        headers.append(name, value);
    }
    let connection = header_tokens(&headers, http::header::CONNECTION);
    let keep_alive = if minor == 0 {
        connection
            .iter()
            .any(|t| t.eq_ignore_ascii_case("keep-alive"))
    } else {
        !connection.iter().any(|t| t.eq_ignore_ascii_case("close"))
    };
    let te = header_tokens(&headers, http::header::TRANSFER_ENCODING);
    let body = if !te.is_empty() {
        // RFC 9112 §6.1: chunked must be the final coding; we accept no other coding.
        if te.len() == 1
            && te
                .first()
                .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            BodyKind::Chunked
        } else {
            return Err(ReadError::Reject {
                status: 501,
                reason: "unsupported transfer coding",
            });
        }
    } else {
        let mut lengths = headers.get_all(http::header::CONTENT_LENGTH).iter();
        match lengths.next() {
            None => BodyKind::None,
            Some(first) => {
                if lengths.any(|other| other != first) {
                    return Err(BAD);
                }
                let n: usize = first
                    .to_str()
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .ok_or(BAD)?;
                if n == 0 {
                    BodyKind::None
                } else {
                    BodyKind::Length(n)
                }
            }
        }
    };
    let expect_continue = headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    Ok(Head {
        method,
        target,
        headers,
        body,
        keep_alive,
        expect_continue,
    })
}

fn header_tokens(headers: &HeaderMap, name: http::header::HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

async fn read_chunked(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    max_body: usize,
) -> Result<Bytes, ReadError> {
    let mut body = BytesMut::new();
    loop {
        let line = read_line(stream, buf).await?;
        let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
        let size_text = std::str::from_utf8(size_text).map_err(|_| BAD)?.trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| BAD)?;
        if size == 0 {
            // Trailer section: skip fields until the empty line.
            loop {
                if read_line(stream, buf).await?.is_empty() {
                    return Ok(body.freeze());
                }
            }
        }
        if body.len().saturating_add(size) > max_body {
            return Err(ReadError::Reject {
                status: 413,
                reason: "request body too large",
            });
        }
        while buf.len() < size + 2 {
            fill(stream, buf).await?;
        }
        body.extend_from_slice(buf.get(..size).unwrap_or_default());
        if buf.get(size..size + 2) != Some(b"\r\n") {
            return Err(BAD);
        }
        buf.advance(size + 2);
    }
}

/// One CRLF-terminated line, without the CRLF.
async fn read_line(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<Vec<u8>, ReadError> {
    loop {
        if let Some(end) = find(buf, b"\r\n") {
            let line = buf.split_to(end).to_vec();
            buf.advance(2);
            return Ok(line);
        }
        if buf.len() > MAX_CHUNK_LINE {
            return Err(BAD);
        }
        fill(stream, buf).await?;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn write_response(
    stream: &mut TcpStream,
    resp: &Response,
    keep_alive: bool,
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(resp.body.len() + 256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(resp.status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(
        http::StatusCode::from_u16(resp.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Unknown")
            .as_bytes(),
    );
    out.extend_from_slice(b"\r\n");
    for (name, value) in &resp.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"content-length: ");
    out.extend_from_slice(resp.body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&resp.body);
    stream.write_all(&out).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn roundtrip(raw: Vec<u8>) -> Vec<u8> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            serve(
                s,
                Limits {
                    max_head: 200_000,
                    max_body: 1000,
                },
                CancellationToken::new(),
                |req: Request| async move {
                    Response {
                        status: 200,
                        headers: vec![],
                        body: format!(
                            "{} {} {}",
                            req.method,
                            req.query().len(),
                            String::from_utf8_lossy(&req.body)
                        )
                        .into_bytes(),
                    }
                },
                |status, reason| Response {
                    status,
                    headers: vec![],
                    body: reason.into(),
                },
            )
            .await
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(&raw).await.unwrap();
        c.shutdown().await.unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.unwrap();
        server.await.unwrap();
        out
    }

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[tokio::test]
    async fn accepts_a_request_target_over_64_kib() {
        let q = "a".repeat(120_000);
        let out =
            text(roundtrip(format!("GET /?{q} HTTP/1.1\r\nhost: x\r\n\r\n").into_bytes()).await);
        assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
        assert!(out.ends_with("GET 120000 "));
    }

    #[tokio::test]
    async fn decodes_chunked_bodies_and_serves_pipelined_requests() {
        let out = text(
            roundtrip(
                b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nt: v\r\n\r\nPOST / HTTP/1.1\r\ncontent-length: 2\r\n\r\nhi"
                    .to_vec(),
            )
            .await,
        );
        assert!(out.contains("POST 0 abcde"), "{out}");
        assert!(out.contains("POST 0 hi"), "{out}");
    }

    #[tokio::test]
    async fn refuses_oversized_bodies_with_413() {
        let out =
            text(roundtrip(b"POST / HTTP/1.1\r\ncontent-length: 5000\r\n\r\n".to_vec()).await);
        assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    }

    #[tokio::test]
    async fn refuses_conflicting_content_lengths() {
        let out = text(
            roundtrip(
                b"POST / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab".to_vec(),
            )
            .await,
        );
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    }

    #[tokio::test]
    async fn a_panicking_handler_still_gets_a_500_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            serve(
                s,
                Limits {
                    max_head: 1000,
                    max_body: 1000,
                },
                CancellationToken::new(),
                |_req: Request| async move {
                    let v: Vec<u8> = Vec::new();
                    #[allow(clippy::indexing_slicing)]
                    let _ = v[1];
                    Response {
                        status: 200,
                        headers: vec![],
                        body: vec![],
                    }
                },
                |status, reason| Response {
                    status,
                    headers: vec![],
                    body: reason.into(),
                },
            )
            .await
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.unwrap();
        assert!(text(out).starts_with("HTTP/1.1 500"));
    }

    #[test]
    fn head_parser_never_panics_on_garbage() {
        use proptest::prelude::*;
        proptest!(|(bytes in proptest::collection::vec(any::<u8>(), 0..512))| {
            let _ = parse_head(&bytes);
        });
    }
}

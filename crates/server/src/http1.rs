//! A small HTTP/1.1 server over `httparse`.
//!
//! Why not hyper: hyper parses the request target into `http::Uri`, which refuses anything over
//! 64 KiB, while the legacy Alibaba SDK sends a 30 KiB secret percent-encoded in the URL, up to
//! ~92 KiB (kms-api.md §1.2). This module keeps the target as text. It supports what the SDKs
//! send: Content-Length and chunked bodies, `Expect: 100-continue`, keep-alive and pipelining.
//!
//! Everything here runs before authentication, so every read is bounded (threat model rule 4):
//! head and body size, a deadline for the whole head, one for the body, one for writing a
//! response, and a keep-alive idle timeout. The end of the head is searched incrementally, so a
//! head sent a byte at a time costs linear work. Framing is strict (RFC 9112 §6): a message
//! that a proxy could read differently (Content-Length with Transfer-Encoding, a signed or
//! non-decimal length, chunked on HTTP/1.0) is answered 400 and the connection closed.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};
use tokio_util::sync::CancellationToken;

const MAX_HEADERS: usize = 96;
const MAX_CHUNK_LINE: usize = 1024;
/// After the last response, how long a closing connection keeps reading (and discarding) what
/// the peer still sends, so that unread input does not turn the close into a reset that could
/// destroy the response in flight (a "lingering close").
const LINGER: Duration = Duration::from_secs(2);
/// The most a lingering close reads before giving up.
const LINGER_BYTES: usize = 256 * 1024;

/// A connection requests are read from: plain TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin {}

impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

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

    /// The path of the target (before `?`).
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(p, _)| p)
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

/// Limits of one request and of a connection's waits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_head: usize,
    pub max_body: usize,
    /// From the connection's accept (first request) or the first byte of a request (later
    /// ones) to the end of its head.
    pub head_timeout: Duration,
    /// From the end of the head to the end of the body.
    pub body_timeout: Duration,
    /// Writing one response (or a `100 Continue`).
    pub write_timeout: Duration,
    /// Between two requests on a keep-alive connection.
    pub idle_timeout: Duration,
}

/// Serves one connection: reads requests in order, answers each with `handle`; a request that
/// cannot be read is answered with `reject(status, reason)` and the connection closed.
///
/// Once `drain` is cancelled, a connection waiting for its next request is closed at once (a
/// request that has already arrived is still served), and a request being read or handled is
/// finished and answered with `Connection: close`.
pub async fn serve<S, F, Fut, R>(
    mut stream: S,
    limits: Limits,
    drain: CancellationToken,
    handle: F,
    reject: R,
) where
    S: Io,
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
    R: Fn(u16, &'static str) -> Response,
{
    let accepted = Instant::now();
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut first = true;
    loop {
        let head_deadline = if !buf.is_empty() {
            // Pipelined: the next request has started arriving already.
            Instant::now() + limits.head_timeout
        } else if first {
            // A fresh connection gets one head deadline from its accept, so a silent one is
            // closed as surely as a trickling one.
            let deadline = accepted + limits.head_timeout;
            if !next_request_starts(&mut stream, &mut buf, deadline, &drain).await {
                return linger_close(stream).await;
            }
            deadline
        } else {
            let idle_until = Instant::now() + limits.idle_timeout;
            if !next_request_starts(&mut stream, &mut buf, idle_until, &drain).await {
                return linger_close(stream).await;
            }
            Instant::now() + limits.head_timeout
        };
        first = false;
        let (req, keep_alive) =
            match read_request(&mut stream, &mut buf, limits, head_deadline).await {
                Ok(r) => r,
                Err(ReadError::Closed) => return,
                Err(ReadError::Reject { status, reason }) => {
                    let resp = reject(status, reason);
                    let _ = write_response(&mut stream, &resp, false, limits.write_timeout).await;
                    return linger_close(stream).await;
                }
            };
        let resp = match CatchPanic(Box::pin(handle(req))).await {
            Ok(r) => r,
            // A panic is a bug; the caller still gets an answer rather than a dropped
            // connection, and the connection closes in case the state is suspect.
            Err(()) => {
                tracing::error!("request handler panicked");
                let resp = reject(500, "internal failure");
                let _ = write_response(&mut stream, &resp, false, limits.write_timeout).await;
                return linger_close(stream).await;
            }
        };
        let keep_alive = keep_alive && !drain.is_cancelled();
        match write_response(&mut stream, &resp, keep_alive, limits.write_timeout).await {
            Ok(()) if keep_alive => {}
            Ok(()) => return linger_close(stream).await,
            Err(_) => return,
        }
    }
}

/// How long an idle keep-alive connection is kept once draining began: a client may have sent
/// its next request just before the signal (or be sending it now, unaware that the server is
/// stopping); it is answered, with `Connection: close`, instead of meeting a closed connection.
const DRAIN_IDLE_LINGER: Duration = Duration::from_secs(2);

/// Waits until the first bytes of a request are in `buf`. False when the peer closed, the
/// wait ran out, or `drain` was cancelled and nothing arrived within [`DRAIN_IDLE_LINGER`].
async fn next_request_starts(
    stream: &mut impl Io,
    buf: &mut BytesMut,
    until: Instant,
    drain: &CancellationToken,
) -> bool {
    if !drain.is_cancelled() {
        let read = timeout_at(until, stream.read_buf(buf));
        tokio::pin!(read);
        tokio::select! {
            biased;
            r = &mut read => return matches!(r, Ok(Ok(n)) if n > 0),
            () = drain.cancelled() => {}
        }
    }
    // Draining: a request that has arrived, or arrives within the linger, is served; an idle
    // connection closes after it.
    let until = until.min(Instant::now() + DRAIN_IDLE_LINGER);
    matches!(timeout_at(until, stream.read_buf(buf)).await, Ok(Ok(n)) if n > 0)
}

/// Closes after the last response: FIN first, then discard what the peer still sends for a
/// moment (see [`LINGER`]).
async fn linger_close(mut stream: impl Io) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut read = 0usize;
    while read < LINGER_BYTES {
        match timeout_at(until, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => read += n,
            _ => return,
        }
    }
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

const HEAD_TIMEOUT: ReadError = ReadError::Reject {
    status: 408,
    reason: "the request head was not received in time",
};

const BODY_TIMEOUT: ReadError = ReadError::Reject {
    status: 408,
    reason: "the request body was not received in time",
};

/// Reads more into `buf` before `deadline`; `late` is the error when the deadline passes.
async fn fill(
    stream: &mut impl Io,
    buf: &mut BytesMut,
    deadline: Instant,
    late: ReadError,
) -> Result<(), ReadError> {
    match timeout_at(deadline, stream.read_buf(buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Err(ReadError::Closed),
        Ok(Ok(_)) => Ok(()),
        Err(_) => Err(late),
    }
}

async fn read_request(
    stream: &mut impl Io,
    buf: &mut BytesMut,
    limits: Limits,
    head_deadline: Instant,
) -> Result<(Request, bool), ReadError> {
    let head_len = read_head(stream, buf, limits.max_head, head_deadline).await?;
    let head = parse_head(buf.get(..head_len).unwrap_or_default())?;
    buf.advance(head_len);
    let body_deadline = Instant::now() + limits.body_timeout;
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
                send_continue(stream, limits.write_timeout).await?;
            }
            while buf.len() < n {
                fill(stream, buf, body_deadline, BODY_TIMEOUT).await?;
            }
            buf.split_to(n).freeze()
        }
        BodyKind::Chunked => {
            if head.expect_continue && buf.is_empty() {
                send_continue(stream, limits.write_timeout).await?;
            }
            read_chunked(stream, buf, limits, body_deadline).await?
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

/// Reads until `buf` holds a whole head; returns its length (up to and including the empty
/// line). The search resumes where the previous one stopped, so the cost is linear in the head
/// however it is split into reads.
async fn read_head(
    stream: &mut impl Io,
    buf: &mut BytesMut,
    max_head: usize,
    deadline: Instant,
) -> Result<usize, ReadError> {
    let mut searched = 0usize;
    loop {
        if let Some(end) = find_from(buf, b"\r\n\r\n", searched) {
            let head_len = end + 4;
            if head_len > max_head {
                break;
            }
            return Ok(head_len);
        }
        // The terminator may straddle this read and the next: keep its first three bytes.
        searched = buf.len().saturating_sub(3);
        if buf.len() > max_head {
            break;
        }
        fill(stream, buf, deadline, HEAD_TIMEOUT).await?;
    }
    Err(ReadError::Reject {
        status: 431,
        reason: "request head too large",
    })
}

async fn send_continue(stream: &mut impl Io, write_timeout: Duration) -> Result<(), ReadError> {
    match tokio::time::timeout(
        write_timeout,
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n"),
    )
    .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(ReadError::Closed),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum BodyKind {
    None,
    Length(usize),
    Chunked,
}

#[derive(Debug)]
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
    let has_te = headers.contains_key(http::header::TRANSFER_ENCODING);
    let has_length = headers.contains_key(http::header::CONTENT_LENGTH);
    if has_te && has_length {
        // RFC 9112 §6.3 item 3: a sign of smuggling; the connection is closed after the 400.
        return Err(ReadError::Reject {
            status: 400,
            reason: "Content-Length and Transfer-Encoding together",
        });
    }
    let body = if has_te {
        if minor == 0 {
            // RFC 9112 §6.1: HTTP/1.0 has no Transfer-Encoding; a 1.0 peer or proxy would
            // frame this message differently.
            return Err(ReadError::Reject {
                status: 400,
                reason: "Transfer-Encoding on HTTP/1.0",
            });
        }
        let te = header_tokens(&headers, http::header::TRANSFER_ENCODING);
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
                match content_length(first.as_bytes()).ok_or(BAD)? {
                    0 => BodyKind::None,
                    n => BodyKind::Length(n),
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

/// RFC 9110 §8.6: `Content-Length = 1*DIGIT`; no sign, no space, no list.
fn content_length(value: &[u8]) -> Option<usize> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
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
    stream: &mut impl Io,
    buf: &mut BytesMut,
    limits: Limits,
    deadline: Instant,
) -> Result<Bytes, ReadError> {
    let mut body = BytesMut::new();
    loop {
        let line = read_line(stream, buf, deadline).await?;
        let size = chunk_size(&line).ok_or(BAD)?;
        if size == 0 {
            // Trailer section: skip fields until the empty line, counting them against the
            // head limit so an endless trailer is refused.
            let mut trailer = 0usize;
            loop {
                let field = read_line(stream, buf, deadline).await?;
                if field.is_empty() {
                    return Ok(body.freeze());
                }
                trailer = trailer.saturating_add(field.len() + 2);
                if trailer > limits.max_head {
                    return Err(ReadError::Reject {
                        status: 431,
                        reason: "request trailer too large",
                    });
                }
            }
        }
        if body.len().saturating_add(size) > limits.max_body {
            return Err(ReadError::Reject {
                status: 413,
                reason: "request body too large",
            });
        }
        while buf.len() < size + 2 {
            fill(stream, buf, deadline, BODY_TIMEOUT).await?;
        }
        body.extend_from_slice(buf.get(..size).unwrap_or_default());
        if buf.get(size..size + 2) != Some(b"\r\n") {
            return Err(BAD);
        }
        buf.advance(size + 2);
    }
}

/// The size of a chunk line (`1*HEXDIG [ chunk-ext ]`, RFC 9112 §7.1): hex digits only, no
/// sign, at most 16 of them.
fn chunk_size(line: &[u8]) -> Option<usize> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let digits = trim_ows(digits);
    if digits.is_empty() || digits.len() > 16 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    usize::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

fn trim_ows(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// One CRLF-terminated line, without the CRLF.
async fn read_line(
    stream: &mut impl Io,
    buf: &mut BytesMut,
    deadline: Instant,
) -> Result<Vec<u8>, ReadError> {
    let mut searched = 0usize;
    loop {
        if let Some(end) = find_from(buf, b"\r\n", searched) {
            let line = buf.split_to(end).to_vec();
            buf.advance(2);
            return Ok(line);
        }
        searched = buf.len().saturating_sub(1);
        if buf.len() > MAX_CHUNK_LINE {
            return Err(BAD);
        }
        fill(stream, buf, deadline, BODY_TIMEOUT).await?;
    }
}

/// The first `needle` in `hay` at or after `from`.
fn find_from(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

async fn write_response(
    stream: &mut impl Io,
    resp: &Response,
    keep_alive: bool,
    write_timeout: Duration,
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
    match tokio::time::timeout(write_timeout, stream.write_all(&out)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::{TcpListener, TcpStream};

    fn limits() -> Limits {
        Limits {
            max_head: 200_000,
            max_body: 1000,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
        }
    }

    fn echo(req: Request) -> std::future::Ready<Response> {
        std::future::ready(Response {
            status: 200,
            headers: vec![],
            body: format!(
                "{} {} {}",
                req.method,
                req.query().len(),
                String::from_utf8_lossy(&req.body)
            )
            .into_bytes(),
        })
    }

    fn reject(status: u16, reason: &'static str) -> Response {
        Response {
            status,
            headers: vec![],
            body: reason.into(),
        }
    }

    /// Starts a one-connection server; returns its address and its task.
    async fn server(
        limits: Limits,
        drain: CancellationToken,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            serve(s, limits, drain, echo, reject).await
        });
        (addr, task)
    }

    async fn roundtrip(raw: Vec<u8>) -> Vec<u8> {
        let (addr, server) = server(limits(), CancellationToken::new()).await;
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
    async fn smuggling_shapes_get_400_and_the_connection_closes() {
        for raw in [
            "POST / HTTP/1.1\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\ncontent-length: +5\r\n\r\nhello",
            "POST / HTTP/1.1\r\ncontent-length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\ncontent-length: 0x5\r\n\r\nhello",
            "POST / HTTP/1.1\r\ncontent-length: 5, 5\r\n\r\nhello",
            "POST / HTTP/1.1\r\ncontent-length: \r\n\r\n",
            "POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n-0\r\n\r\n",
        ] {
            // The second request must never be served: the connection closes after the 400.
            let raw = format!("{raw}GET /?x HTTP/1.1\r\n\r\n");
            let out = text(roundtrip(raw.clone().into_bytes()).await);
            assert!(out.starts_with("HTTP/1.1 400"), "{raw:?} → {out}");
            assert!(out.contains("connection: close"), "{raw:?} → {out}");
            assert_eq!(out.matches("HTTP/1.1").count(), 1, "{raw:?} → {out}");
        }
    }

    #[test]
    fn content_length_is_digits_only() {
        assert_eq!(content_length(b"5"), Some(5));
        assert_eq!(content_length(b"0005"), Some(5));
        for bad in [
            &b"+5"[..],
            b"-5",
            b" 5",
            b"5 ",
            b"",
            b"5,5",
            b"99999999999999999999999",
        ] {
            assert_eq!(content_length(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn chunk_sizes_are_hex_digits_only() {
        assert_eq!(chunk_size(b"1a"), Some(26));
        assert_eq!(chunk_size(b"1A;ext=1"), Some(26));
        assert_eq!(chunk_size(b"5 ;ext"), Some(5));
        for bad in [&b"+5"[..], b"-0", b"", b";x", b"0x5", b"11111111111111111"] {
            assert_eq!(chunk_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn end_of_head_search_resumes_across_split_terminators() {
        let hay = b"GET / HTTP/1.1\r\nh: v\r\n\r\n";
        let end = find_from(hay, b"\r\n\r\n", 0).unwrap();
        for from in 0..=end {
            assert_eq!(find_from(hay, b"\r\n\r\n", from), Some(end));
        }
        assert_eq!(find_from(hay, b"\r\n\r\n", end + 1), None);
        assert_eq!(find_from(hay, b"\r\n\r\n", hay.len() + 5), None);
    }

    #[tokio::test]
    async fn a_head_sent_a_few_bytes_at_a_time_is_read() {
        let (addr, server) = server(limits(), CancellationToken::new()).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.set_nodelay(true).unwrap();
        let raw = format!("GET /?{} HTTP/1.1\r\nhost: x\r\n\r\n", "b".repeat(3000));
        for piece in raw.as_bytes().chunks(7) {
            c.write_all(piece).await.unwrap();
        }
        c.shutdown().await.unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.unwrap();
        server.await.unwrap();
        assert!(text(out).ends_with("GET 3000 "));
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickled_head_gets_408_at_the_head_deadline() {
        let (addr, server) = server(limits(), CancellationToken::new()).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        // One byte every 9 s: each read is well within any per-read timeout.
        for b in b"GET / HTTP/1.1\r\nx-a: b".iter() {
            if c.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(9)).await;
            if started.elapsed() > Duration::from_secs(30) {
                break;
            }
        }
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out).await;
        assert!(text(out).starts_with("HTTP/1.1 408"));
        server.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_closed_at_the_head_deadline() {
        let (addr, server) = server(limits(), CancellationToken::new()).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.unwrap();
        assert!(out.is_empty());
        server.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_body_gets_408() {
        let (addr, server) = server(limits(), CancellationToken::new()).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"POST / HTTP/1.1\r\ncontent-length: 10\r\n\r\nab")
            .await
            .unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.unwrap();
        assert!(text(out).starts_with("HTTP/1.1 408"));
        server.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_keep_alive_connection_is_closed() {
        let (addr, server) = server(limits(), CancellationToken::new()).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.unwrap();
        let out = text(out);
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(!out.contains("connection: close"), "{out}");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn draining_closes_idle_connections_and_answers_a_request_in_flight_with_close() {
        let drain = CancellationToken::new();
        let (addr, busy_server) = server(limits(), drain.clone()).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        // A request whose body is still on its way when the drain starts.
        c.write_all(b"POST / HTTP/1.1\r\ncontent-length: 4\r\n\r\nab")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drain.cancel();
        c.write_all(b"cd").await.unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.unwrap();
        let out = text(out);
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.contains("connection: close"), "{out}");
        assert!(out.ends_with("POST 0 abcd"), "{out}");
        busy_server.await.unwrap();

        let drain = CancellationToken::new();
        let (addr, idle_server) = server(limits(), drain.clone()).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut first = [0u8; 12];
        c.read_exact(&mut first).await.unwrap();
        drain.cancel();
        // The idle keep-alive connection closes without waiting for the idle timeout.
        drop(c);
        tokio::time::timeout(Duration::from_secs(5), idle_server)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_panicking_handler_still_gets_a_500_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            serve(
                s,
                limits(),
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
                reject,
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

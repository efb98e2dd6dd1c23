//! Helpers shared by the fuzz targets.

use http::{HeaderMap, HeaderName, HeaderValue};

/// The server's HTTP/1.1 layer, compiled from its own source file: it uses only `bytes`, `http`,
/// `httparse`, `tokio`, `tokio-util` and `tracing`, while depending on `openkms-server` would build the whole
/// service, store and SQLite into every fuzz build (a cold build 3.5x as long; see
/// docs/fuzzing.md). If http1.rs starts using other items of its crate, give this module what
/// it needs or switch to a `#[doc(hidden)] pub mod fuzzing` in openkms-server.
#[path = "../../crates/server/src/http1.rs"]
#[allow(dead_code, unused_imports, clippy::all)]
mod http1;

/// Serves one connection with the real HTTP/1.1 reader (heads, Content-Length and chunked
/// bodies, `Expect: 100-continue`, keep-alive and pipelining) and a handler that answers each
/// request with its method, target length, header count and body.
pub async fn serve_http1(stream: tokio::net::TcpStream, max_head: usize, max_body: usize) {
    // Generous deadlines: the harness closes its end after writing, so the reader ends on EOF.
    let limits = http1::Limits {
        max_head,
        max_body,
        head_timeout: std::time::Duration::from_secs(10),
        body_timeout: std::time::Duration::from_secs(10),
        write_timeout: std::time::Duration::from_secs(10),
        idle_timeout: std::time::Duration::from_secs(10),
    };
    http1::serve(
        stream,
        limits,
        tokio_util::sync::CancellationToken::new(),
        |req| async move {
            let mut body = format!(
                "{} {} {} {}\n",
                req.method,
                req.target.len(),
                req.query().len(),
                req.headers.len()
            )
            .into_bytes();
            body.extend_from_slice(&req.body);
            http1::Response {
                status: 200,
                headers: Vec::new(),
                body,
            }
        },
        |status, reason| http1::Response {
            status,
            headers: Vec::new(),
            body: reason.as_bytes().to_vec(),
        },
    )
    .await;
}

/// A request in the text form of the `rpc_request` corpus:
///
/// ```text
/// METHOD QUERY
/// name: value
/// ...
///
/// BODY
/// ```
///
/// Lines end in `\n`; header lines whose name or value `http` refuses are skipped (the HTTP
/// reader would have refused the whole request).
pub struct TextRequest<'a> {
    pub method: &'a str,
    pub query: &'a str,
    pub headers: HeaderMap,
    pub body: &'a [u8],
}

impl<'a> TextRequest<'a> {
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let (head, body) = match find(data, b"\n\n") {
            Some(i) => (&data[..i], &data[i + 2..]),
            None => (data, &[][..]),
        };
        let head = std::str::from_utf8(head).ok()?;
        let mut lines = head.split('\n');
        let first = lines.next()?;
        let (method, query) = first.split_once(' ').unwrap_or((first, ""));
        let mut headers = HeaderMap::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.trim().as_bytes()),
                HeaderValue::from_str(value.trim()),
            ) else {
                continue;
            };
            headers.append(name, value);
        }
        Some(Self {
            method,
            query,
            headers,
            body,
        })
    }
}

/// Splits fuzz input in two at the first `\n` (query string, form body).
pub fn split2(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

//! The server's HTTP/1.1 reader (`crates/server/src/http1.rs`, compiled into `openkms_fuzz`): request heads, Content-Length
//! and chunked bodies, `Expect: 100-continue`, keep-alive and pipelining. The input is written
//! as-is into one end of a socket pair whose write side is then closed, and the real `serve`
//! loop reads the other end (a Unix socket pair handed to it as a `TcpStream`: the reader only
//! reads, writes and shuts down). Never panics; every answer it writes is an HTTP/1.1 status
//! line.
#![no_main]

use std::io::Write;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;

use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncReadExt;

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .expect("runtime");
}

const MAX_HEAD: usize = 8 * 1024;
const MAX_BODY: usize = 16 * 1024;

fuzz_target!(|data: &[u8]| {
    let (mut client, server) = UnixStream::pair().expect("socketpair");
    client
        .write_all(data)
        .expect("the input fits the socket buffer");
    client
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    server.set_nonblocking(true).expect("nonblocking");
    client.set_nonblocking(true).expect("nonblocking");
    // SAFETY: the descriptor is a connected stream socket we own; `TcpStream` only reads,
    // writes and shuts it down.
    let server = unsafe { std::net::TcpStream::from_raw_fd(server.into_raw_fd()) };
    RT.with(|rt| {
        rt.block_on(async {
            let server = tokio::net::TcpStream::from_std(server).expect("register");
            let mut client = tokio::net::UnixStream::from_std(client).expect("register");
            let serving = tokio::spawn(openkms_fuzz::serve_http1(server, MAX_HEAD, MAX_BODY));
            let mut out = Vec::new();
            // The server may close with input unread (after a 4xx answer): the socket then
            // reports a reset, as TCP would; what was read up to there is the answer.
            let _ = client.read_to_end(&mut out).await;
            if let Err(e) = serving.await {
                // A panic in the reader: hand it to libFuzzer.
                std::panic::resume_unwind(e.into_panic());
            }
            if !out.is_empty() {
                assert!(out.starts_with(b"HTTP/1.1 "), "answer is not a status line");
            }
        })
    });
});

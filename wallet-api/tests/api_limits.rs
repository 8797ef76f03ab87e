//! The server's limits at their bounds: requests in flight, the request timeout, open
//! connections. Each is lowered (the defaults are the named constants in `http`) so the bound can
//! be reached from a test; raw TCP lets a request hold its slot by sending its body slowly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wallet_api::http::{run, AppState, Limits};

struct Server {
    address: std::net::SocketAddr,
    token: String,
    _data: tempfile::TempDir,
}

async fn start(limits: Limits) -> Server {
    let data = tempfile::tempdir().unwrap();
    let (service, _) = wallet_api::serve::open_service(data.path()).await.unwrap();
    let token = std::fs::read_to_string(data.path().join("admin.token")).unwrap().trim().to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(run(listener, AppState::with_limits(Arc::clone(&service), limits), std::future::pending()));
    Server { address, token, _data: data }
}

/// Sends the headers of a POST that promises a body, and part of it, then stalls.
async fn stalled_post(server: &Server) -> TcpStream {
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    let head = format!(
        "POST /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{{\"name\":",
        server.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

async fn get_healthz(stream: &mut TcpStream) -> String {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_in_flight_limit_are_shed_with_503() {
    let server = start(Limits { concurrent_requests_max: 1, ..Limits::default() }).await;
    // At the bound: one request in flight is served.
    let mut first = TcpStream::connect(server.address).await.unwrap();
    assert!(get_healthz(&mut first).await.starts_with("HTTP/1.1 200"));
    // Past it: while one request holds the only slot, the next is shed at once.
    let holder = stalled_post(&server).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut second = TcpStream::connect(server.address).await.unwrap();
    let shed = get_healthz(&mut second).await;
    assert!(shed.starts_with("HTTP/1.1 503"), "{shed}");
    assert!(shed.contains("application/problem+json") && shed.contains("\"code\":\"overloaded\""), "{shed}");
    assert!(shed.to_ascii_lowercase().contains("retry-after: 1"), "{shed}");
    drop(holder);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(server.address).await.unwrap();
    assert!(get_healthz(&mut third).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_timeout_gets_503_timeout() {
    let server = start(Limits { request_timeout: Duration::from_millis(300), ..Limits::default() }).await;
    let mut stalled = stalled_post(&server).await;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut response)).await.unwrap().unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains("\"code\":\"timeout\""), "{response}");
    // Well inside the timeout, requests are served.
    let mut quick = TcpStream::connect(server.address).await.unwrap();
    assert!(get_healthz(&mut quick).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_wait_until_one_closes() {
    let server = start(Limits { connections_max: 1, ..Limits::default() }).await;
    // At the bound: one open (idle) connection is accepted.
    let idle = TcpStream::connect(server.address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Past it: the next connection is not served while the first stays open…
    let mut waiting = TcpStream::connect(server.address).await.unwrap();
    waiting.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), waiting.read(&mut byte)).await;
    assert!(early.is_err(), "a connection past the limit was served");
    // …and is served as soon as it closes.
    drop(idle);
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), waiting.read_to_end(&mut response)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200"));
}

/// Sends one keep-alive `GET /healthz` and reads exactly its answer (the connection stays open).
async fn keep_alive_healthz(stream: &mut TcpStream) -> String {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    // The health answer is small: read until its JSON body has closed.
    while !answer.ends_with(b"}") {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await.unwrap().unwrap();
        assert!(read > 0, "closed while a request was answered");
        answer.extend_from_slice(&chunk[..read]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_free_their_slot() {
    let idle_timeout = Duration::from_millis(400);
    let server = start(Limits { connections_max: 1, connection_idle_timeout: idle_timeout, ..Limits::default() }).await;
    // A busy keep-alive connection outlives the idle timeout many times over.
    let mut busy = TcpStream::connect(server.address).await.unwrap();
    for _ in 0..10 {
        assert!(keep_alive_healthz(&mut busy).await.starts_with("HTTP/1.1 200"));
        tokio::time::sleep(idle_timeout / 4).await;
    }
    // Left idle, it is closed by the server (end of stream) soon after the timeout…
    let started = std::time::Instant::now();
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(5), busy.read(&mut byte)).await.unwrap();
    assert_eq!(closed.unwrap(), 0, "the idle connection should read as closed");
    assert!(started.elapsed() >= idle_timeout / 2, "closed too early: {:?}", started.elapsed());
    // …and a silent connection holding the only slot gives it up to one that waits.
    let _silent = TcpStream::connect(server.address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut waiting = TcpStream::connect(server.address).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), get_healthz(&mut waiting)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

//! The benchmarks' HTTP/1.1 client: one keep-alive connection, one request at a time, requests
//! encoded before the timed phase.
//!
//! The load generator runs on the same two cores as the server it measures, so every microsecond
//! it spends is taken from the server. hyper's client is general (a connection task, a channel
//! between it and the sender, a `Request` and a `HeaderMap` per call); this one writes bytes that
//! were encoded in advance and reads back the status and a `Content-Length` body, which is all the
//! benchmarks need, as `wrk` does. It is not a general client: it refuses chunked answers and
//! anything it cannot parse, and a benchmark counts such an answer as an error.

use anyhow::{bail, Context};
use hyper::body::Bytes;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most header lines an answer may carry.
const RESPONSE_HEADERS_MAX: usize = 32;
/// Largest answer head (status line and headers) accepted.
const RESPONSE_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Largest answer body accepted (a readings batch answer is about 100 KB).
const RESPONSE_BODY_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Bytes asked of the socket per read.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// One request, encoded as it goes on the wire.
pub(crate) fn encode_request(method: &str, path: &str, host: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Bytes {
    let mut encoded = Vec::with_capacity(256 + body.len());
    encoded.extend_from_slice(method.as_bytes());
    encoded.push(b' ');
    encoded.extend_from_slice(path.as_bytes());
    encoded.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    encoded.extend_from_slice(host.as_bytes());
    encoded.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        encoded.extend_from_slice(name.as_bytes());
        encoded.extend_from_slice(b": ");
        encoded.extend_from_slice(value);
        encoded.extend_from_slice(b"\r\n");
    }
    encoded.extend_from_slice(b"content-length: ");
    encoded.extend_from_slice(body.len().to_string().as_bytes());
    encoded.extend_from_slice(b"\r\n\r\n");
    encoded.extend_from_slice(body);
    Bytes::from(encoded)
}

/// A keep-alive connection to the server.
#[derive(Debug)]
pub(crate) struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// The server said `connection: close`; the next call needs a new connection.
    closed: bool,
}

impl Connection {
    pub(crate) async fn open(address: SocketAddr) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(address).await.with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        Ok(Connection { stream, buffer: Vec::with_capacity(READ_CHUNK_BYTES), closed: false })
    }

    /// Whether the server closed this connection after its last answer.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Sends one encoded request and reads its answer: the status code and the body.
    pub(crate) async fn call(&mut self, request: &[u8]) -> anyhow::Result<(u16, Bytes)> {
        if self.closed {
            bail!("the server closed the connection");
        }
        self.stream.write_all(request).await.context("sending the request")?;
        self.buffer.clear();
        let (status, head_length, body_length) = loop {
            if let Some(head) = parse_head(&self.buffer)? {
                break head;
            }
            if self.buffer.len() > RESPONSE_HEAD_BYTES_MAX {
                bail!("an answer head longer than {RESPONSE_HEAD_BYTES_MAX} bytes");
            }
            self.read_more().await?;
        };
        let (length, close) = body_length;
        self.closed = close;
        let total = head_length + length;
        while self.buffer.len() < total {
            self.read_more().await?;
        }
        if self.buffer.len() > total {
            bail!("the server sent more than one answer");
        }
        Ok((status, Bytes::copy_from_slice(&self.buffer[head_length..total])))
    }

    async fn read_more(&mut self) -> anyhow::Result<()> {
        let start = self.buffer.len();
        self.buffer.resize(start + READ_CHUNK_BYTES, 0);
        let read = self.stream.read(&mut self.buffer[start..]).await;
        let read = match read {
            Ok(read) => read,
            Err(error) => {
                self.buffer.truncate(start);
                return Err(error).context("reading the answer");
            }
        };
        self.buffer.truncate(start + read);
        if read == 0 {
            self.closed = true;
            bail!("the server closed the connection mid-answer");
        }
        Ok(())
    }
}

/// The status, the head's length and (body length, connection closes) once the head is complete.
type Head = (u16, usize, (usize, bool));

fn parse_head(buffer: &[u8]) -> anyhow::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; RESPONSE_HEADERS_MAX];
    let mut response = httparse::Response::new(&mut headers);
    let head_length = match response.parse(buffer).context("parsing the answer head")? {
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(length) => length,
    };
    let status = response.code.context("an answer without a status")?;
    let mut body_length = None;
    let mut close = false;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(header.value).context("content-length")?;
            body_length = Some(text.trim().parse::<usize>().context("content-length")?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("a chunked answer (this client reads Content-Length bodies only)");
        } else if header.name.eq_ignore_ascii_case("connection") {
            close = header.value.eq_ignore_ascii_case(b"close");
        }
    }
    let body_length = body_length.unwrap_or(0);
    if body_length > RESPONSE_BODY_BYTES_MAX {
        bail!("an answer body of {body_length} bytes (at most {RESPONSE_BODY_BYTES_MAX})");
    }
    Ok(Some((status, head_length, (body_length, close))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_encoded_with_their_length() {
        let encoded = encode_request("POST", "/v1/payments", "127.0.0.1:80", &[("authorization", b"Bearer t")], b"{}");
        assert_eq!(
            &encoded[..],
            b"POST /v1/payments HTTP/1.1\r\nhost: 127.0.0.1:80\r\nauthorization: Bearer t\r\ncontent-length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn heads_are_parsed_only_when_complete() {
        let answer = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        assert!(parse_head(&answer[..20]).unwrap().is_none());
        let (status, head_length, (body_length, close)) = parse_head(answer).unwrap().unwrap();
        assert_eq!((status, head_length, body_length, close), (201, answer.len() - 2, 2, false));
        let closing = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(parse_head(closing).unwrap().unwrap().2, (0, true));
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        assert!(parse_head(chunked).is_err());
    }
}

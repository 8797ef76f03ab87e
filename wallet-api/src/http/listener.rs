//! A TCP listener that holds at most [`CONNECTIONS_MAX`] connections open: past that, accepting
//! waits until one closes (the kernel's backlog queues the rest), so a flood of idle connections
//! cannot exhaust file descriptors or memory. A connection with no traffic either way for
//! [`CONNECTION_IDLE_TIMEOUT`] is closed, so idle keep-alive clients cannot hold every slot while
//! others wait outside.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Most simultaneous client connections.
pub const CONNECTIONS_MAX: usize = 4096;

/// A connection that neither sends nor receives a byte for this long is closed. Above the request
/// timeout (10 s), so a request being worked on (no bytes move meanwhile) never trips it.
pub const CONNECTION_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug)]
pub struct LimitedListener {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    idle_timeout: std::time::Duration,
}

impl LimitedListener {
    pub fn new(listener: TcpListener, connections_max: usize, idle_timeout: std::time::Duration) -> LimitedListener {
        LimitedListener { listener, permits: Arc::new(Semaphore::new(connections_max)), idle_timeout }
    }
}

/// A connection that gives its permit back when it closes, and reads as ended once it has been
/// idle for the listener's idle timeout (the HTTP server then closes it).
#[derive(Debug)]
pub struct LimitedStream {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    idle_timeout: std::time::Duration,
    /// Fires `idle_timeout` after the last byte moved either way.
    idle: Pin<Box<tokio::time::Sleep>>,
}

impl LimitedStream {
    fn touched(&mut self) {
        let deadline = tokio::time::Instant::now() + self.idle_timeout;
        self.idle.as_mut().reset(deadline);
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (LimitedStream, SocketAddr) {
        loop {
            let permit = match Arc::clone(&self.permits).acquire_owned().await {
                Ok(permit) => permit,
                // The semaphore is never closed; if it were, waiting again is all we could do.
                Err(_) => continue,
            };
            match self.listener.accept().await {
                Ok((stream, address)) => {
                    // Latency matters more than packet count for small JSON answers.
                    let _ = stream.set_nodelay(true);
                    let idle = Box::pin(tokio::time::sleep(self.idle_timeout));
                    return (LimitedStream { stream, _permit: permit, idle_timeout: self.idle_timeout, idle }, address);
                }
                Err(error) => {
                    // Out of descriptors and the like: back off briefly instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let filled = buffer.filled().len();
        match Pin::new(&mut self.stream).poll_read(context, buffer) {
            Poll::Ready(result) => {
                if buffer.filled().len() > filled {
                    self.touched();
                }
                Poll::Ready(result)
            }
            // Nothing to read: if the connection has been idle too long, end it (a read of zero
            // bytes is end of stream; the server closes its side).
            Poll::Pending => match self.idle.as_mut().poll(context) {
                Poll::Ready(()) => Poll::Ready(Ok(())),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(mut self: Pin<&mut Self>, context: &mut Context<'_>, buffer: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(context, buffer);
        if matches!(written, Poll::Ready(Ok(count)) if count > 0) {
            self.touched();
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(context)
    }
}

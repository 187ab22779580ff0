//! A connection's first request head, read before hyper sees it: a head too large, or too
//! slow to arrive, is answered with the contract's JSON error. hyper's own refusals (a
//! malformed request, a later request's head past its limit) have no body: the connection
//! rewrites them on their way out, so a client of this API always gets
//! `{success, code, message, action}`.

use http::StatusCode;
use shared::{ApiError, Response};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// The largest request head (request line and headers) taken: API Gateway's own limit is
/// lower still.
pub const MAX_HEAD: usize = 64 * 1024;
/// What is read and dropped after a refusal, so that the client, still sending, reads the
/// answer instead of a reset connection.
const DRAIN: usize = 4 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Reads the first request head of `stream`. `None` when the connection was refused (and
/// answered) or closed.
pub async fn first_request(mut stream: TcpStream, timeout: Duration) -> Option<Prefixed> {
    let mut head = Vec::with_capacity(4096);
    let read = tokio::time::timeout(timeout, async {
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let searched_from = head.len().saturating_sub(3);
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            head.extend_from_slice(&chunk[..n]);
            if head[searched_from..].windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok(true);
            }
            if head.len() > MAX_HEAD {
                return Ok(false);
            }
        }
    })
    .await;
    let refusal = match read {
        Ok(Ok(true)) => return Some(Prefixed { prefix: head, read: 0, sent: 0, inner: stream }),
        Ok(Err(_)) => return None,
        Ok(Ok(false)) => ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "validation_error",
            format!("The request's headers are larger than {} KiB.", MAX_HEAD / 1024),
        ),
        Err(_) => {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "validation_error", "The request's headers took too long.")
        }
    };
    refuse(stream, refusal.into()).await;
    None
}

async fn refuse(mut stream: TcpStream, response: Response) {
    let reason = response.status.canonical_reason().unwrap_or("");
    let head = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        response.status.as_u16(),
        response.body.len()
    );
    if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(&response.body).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut sink = vec![0u8; 16 * 1024];
        let mut drained = 0;
        while drained < DRAIN {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}

/// A response hyper wrote by itself: an error status with an empty body (every answer of the
/// service's own carries its JSON). The same status with the contract's body instead.
fn hypers_own_refusal(written: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(written).ok()?;
    let head = text.strip_suffix("\r\n\r\n")?;
    let status: u16 = head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let empty = head.lines().any(|line| line.eq_ignore_ascii_case("content-length: 0"));
    if !(400..600).contains(&status) || !empty {
        return None;
    }
    let status = StatusCode::from_u16(status).ok()?;
    let message = match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "The request's headers are too large.",
        StatusCode::REQUEST_TIMEOUT => "The request took too long to arrive.",
        _ => "The request is not well-formed HTTP/1.1.",
    };
    let code = if status.is_server_error() { "internal_error" } else { "validation_error" };
    let response: Response = ApiError::new(status, code, message).into();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        response.body.len()
    )
    .into_bytes();
    out.extend_from_slice(&response.body);
    Some(out)
}

/// The connection, with the head already read in front of what is still to come.
pub struct Prefixed {
    prefix: Vec<u8>,
    read: usize,
    /// How much of a rewritten refusal is written.
    sent: usize,
    inner: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.read < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.read);
            buf.put_slice(&this.prefix[this.read..this.read + n]);
            this.read += n;
            if this.read == this.prefix.len() {
                this.prefix = Vec::new();
                this.read = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Some(rewritten) = hypers_own_refusal(buf) {
            // Written whole before hyper hears back, as hyper closes the connection next.
            let this = &mut *self;
            while this.sent < rewritten.len() {
                match Pin::new(&mut this.inner).poll_write(cx, &rewritten[this.sent..]) {
                    Poll::Ready(Ok(n)) => this.sent += n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            this.sent = 0;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

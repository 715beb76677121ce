//! Transports behind one small seam: a read half and a write half of a byte stream. TCP and
//! Unix domain sockets today; TLS and WebSocket plug in here as further [`ServerAddr`] kinds
//! and variants of the halves.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The reading side of a connection to a broker. One variant per kind of socket rather than a
/// boxed stream, so that the driver can still reach the socket (see [`ReadHalf::ack_now`]).
pub(crate) enum ReadHalf {
    Tcp(tokio::net::tcp::OwnedReadHalf),
    #[cfg(unix)]
    Unix(tokio::net::unix::OwnedReadHalf),
}

/// The writing side of a connection to a broker.
pub(crate) enum WriteHalf {
    Tcp(tokio::net::tcp::OwnedWriteHalf),
    #[cfg(unix)]
    Unix(tokio::net::unix::OwnedWriteHalf),
}

impl ReadHalf {
    /// Acknowledge what was read now rather than when the delayed-ACK timer fires
    /// (TCP_QUICKACK; Linux only, elsewhere nothing). The driver says when: see `connection`.
    pub(crate) fn ack_now(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let ReadHalf::Tcp(r) = self {
            // Best effort: a failure costs only the delay this avoids.
            let _ = socket2::SockRef::from(r.as_ref()).set_tcp_quickack(true);
        }
    }
}

impl AsyncRead for ReadHalf {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadHalf::Tcp(r) => Pin::new(r).poll_read(cx, buf),
            #[cfg(unix)]
            ReadHalf::Unix(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_write(cx, buf),
            #[cfg(unix)]
            WriteHalf::Unix(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_flush(cx),
            #[cfg(unix)]
            WriteHalf::Unix(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_shutdown(cx),
            #[cfg(unix)]
            WriteHalf::Unix(w) => Pin::new(w).poll_shutdown(cx),
        }
    }
}

/// Where a broker listens.
///
/// ```
/// use tether_core::ServerAddr;
/// let a = ServerAddr::tcp("127.0.0.1", 1883);
/// assert_eq!(a.to_string(), "tcp://127.0.0.1:1883");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAddr {
    Tcp {
        host: String,
        port: u16,
    },
    #[cfg(unix)]
    Unix {
        path: std::path::PathBuf,
    },
}

impl ServerAddr {
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        ServerAddr::Tcp { host: host.into(), port }
    }

    #[cfg(unix)]
    pub fn unix(path: impl Into<std::path::PathBuf>) -> Self {
        ServerAddr::Unix { path: path.into() }
    }
}

impl std::fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerAddr::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            #[cfg(unix)]
            ServerAddr::Unix { path } => write!(f, "unix://{}", path.display()),
        }
    }
}

/// Open a transport, within `timeout`.
pub(crate) async fn connect(
    addr: &ServerAddr,
    timeout: Duration,
    nodelay: bool,
) -> io::Result<(ReadHalf, WriteHalf)> {
    let fut = async {
        match addr {
            ServerAddr::Tcp { host, port } => {
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                // Without TCP_NODELAY a paced stream of small packets waits on Nagle and
                // delayed ACKs (tens of milliseconds at p99).
                stream.set_nodelay(nodelay)?;
                // Owned halves rather than tokio::io::split: no lock between them, and the
                // read half still reaches the socket.
                let (rd, wr) = stream.into_split();
                Ok((ReadHalf::Tcp(rd), WriteHalf::Tcp(wr)))
            }
            #[cfg(unix)]
            ServerAddr::Unix { path } => {
                let (rd, wr) = tokio::net::UnixStream::connect(path).await?.into_split();
                Ok((ReadHalf::Unix(rd), WriteHalf::Unix(wr)))
            }
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("connecting to {addr} timed out"))),
    }
}

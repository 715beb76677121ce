//! Transports behind one small seam: anything that reads and writes bytes in order. TCP and
//! Unix domain sockets today; TLS and WebSocket plug in here as further [`ServerAddr`] kinds.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream to a broker.
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Transport for T {}

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
) -> io::Result<Box<dyn Transport>> {
    let fut = async {
        match addr {
            ServerAddr::Tcp { host, port } => {
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                // Without TCP_NODELAY a paced stream of small packets waits on Nagle and
                // delayed ACKs (tens of milliseconds at p99).
                stream.set_nodelay(nodelay)?;
                Ok(Box::new(stream) as Box<dyn Transport>)
            }
            #[cfg(unix)]
            ServerAddr::Unix { path } => {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok(Box::new(stream) as Box<dyn Transport>)
            }
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("connecting to {addr} timed out"))),
    }
}

//! Transports behind one small seam: a read half and a write half of a byte stream. TCP, TLS
//! over TCP, WebSocket over either (see `websocket`) and Unix domain sockets.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::websocket::{self, WsStream};
use crate::tls::final_failure;
use crate::{Error, ProxyOptions};

/// The reading side of a connection to a broker. One variant per kind of socket rather than a
/// boxed stream, so that the driver can still reach the socket (see [`ReadHalf::ack_now`]).
pub(crate) enum ReadHalf {
    Tcp(tokio::net::tcp::OwnedReadHalf),
    /// A TLS stream has one state for both directions, so its halves share it through
    /// `tokio::io::split` (a lock, uncontended: one task drives both). The TCP socket
    /// underneath is kept as a second handle for TCP_QUICKACK.
    Tls(tokio::io::ReadHalf<TlsStream<TcpStream>>, QuickAck),
    /// WebSocket, over TCP or TLS: like TLS, one state for both directions, and a second
    /// handle on the TCP socket for TCP_QUICKACK.
    Ws(tokio::io::ReadHalf<WsStream<Box<dyn websocket::Io>>>, QuickAck),
    #[cfg(unix)]
    Unix(tokio::net::unix::OwnedReadHalf),
}

/// The writing side of a connection to a broker.
pub(crate) enum WriteHalf {
    Tcp(tokio::net::tcp::OwnedWriteHalf),
    /// `unflushed`: bytes were written since the last flush. rustls may accept plaintext
    /// that it could not yet write to the socket, and only a later write or a flush sends
    /// it: the driver flushes once its own buffer is empty (see [`WriteHalf::needs_flush`]).
    Tls {
        half: tokio::io::WriteHalf<TlsStream<TcpStream>>,
        unflushed: bool,
    },
    /// As for TLS: tungstenite buffers a message until it is flushed.
    Ws {
        half: tokio::io::WriteHalf<WsStream<Box<dyn websocket::Io>>>,
        unflushed: bool,
    },
    #[cfg(unix)]
    Unix(tokio::net::unix::OwnedWriteHalf),
}

/// A second handle on a TLS connection's TCP socket (a duplicated descriptor), for socket
/// options; the stream itself is owned by the TLS layer.
pub(crate) struct QuickAck {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket: Option<std::os::fd::OwnedFd>,
}

impl QuickAck {
    fn of(_stream: &TcpStream) -> QuickAck {
        QuickAck {
            // Best effort: without the handle only the quick ACK is lost.
            #[cfg(any(target_os = "linux", target_os = "android"))]
            socket: std::os::fd::AsFd::as_fd(_stream).try_clone_to_owned().ok(),
        }
    }

    fn ack_now(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(fd) = &self.socket {
            let _ = socket2::SockRef::from(fd).set_tcp_quickack(true);
        }
    }
}

impl ReadHalf {
    /// Acknowledge what was read now rather than when the delayed-ACK timer fires
    /// (TCP_QUICKACK; Linux only, elsewhere nothing). The driver says when: see `connection`.
    pub(crate) fn ack_now(&self) {
        match self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            ReadHalf::Tcp(r) => {
                // Best effort: a failure costs only the delay this avoids.
                let _ = socket2::SockRef::from(r.as_ref()).set_tcp_quickack(true);
            }
            ReadHalf::Tls(_, quick) | ReadHalf::Ws(_, quick) => quick.ack_now(),
            _ => {}
        }
    }
}

impl WriteHalf {
    /// Whether bytes handed to the transport may still wait in it for a flush.
    pub(crate) fn needs_flush(&self) -> bool {
        matches!(self, WriteHalf::Tls { unflushed: true, .. } | WriteHalf::Ws { unflushed: true, .. })
    }
}

impl AsyncRead for ReadHalf {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadHalf::Tcp(r) => Pin::new(r).poll_read(cx, buf),
            ReadHalf::Tls(r, _) => Pin::new(r).poll_read(cx, buf),
            ReadHalf::Ws(r, _) => Pin::new(r).poll_read(cx, buf),
            #[cfg(unix)]
            ReadHalf::Unix(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_write(cx, buf),
            WriteHalf::Tls { half, unflushed } => {
                let r = Pin::new(half).poll_write(cx, buf);
                if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
                    *unflushed = true;
                }
                r
            }
            WriteHalf::Ws { half, unflushed } => {
                let r = Pin::new(half).poll_write(cx, buf);
                if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
                    *unflushed = true;
                }
                r
            }
            #[cfg(unix)]
            WriteHalf::Unix(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_flush(cx),
            WriteHalf::Tls { half, unflushed } => {
                let r = Pin::new(half).poll_flush(cx);
                if matches!(r, Poll::Ready(Ok(()))) {
                    *unflushed = false;
                }
                r
            }
            WriteHalf::Ws { half, unflushed } => {
                let r = Pin::new(half).poll_flush(cx);
                if matches!(r, Poll::Ready(Ok(()))) {
                    *unflushed = false;
                }
                r
            }
            #[cfg(unix)]
            WriteHalf::Unix(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(w) => Pin::new(w).poll_shutdown(cx),
            WriteHalf::Tls { half, .. } => Pin::new(half).poll_shutdown(cx),
            WriteHalf::Ws { half, .. } => Pin::new(half).poll_shutdown(cx),
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
/// assert_eq!(ServerAddr::from_url("mqtts://broker.example")?, ServerAddr::tls("broker.example", 8883));
/// # Ok::<(), tether_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAddr {
    /// Plain MQTT over TCP (`mqtt://`, port 1883 by default).
    Tcp { host: String, port: u16 },
    /// MQTT over TLS over TCP (`mqtts://`, port 8883 by default), secured as
    /// [`crate::MqttOptions::set_tls`] says (the system's root certificates when it was not
    /// called). `host` is checked against the server's certificate and sent as SNI (not
    /// sent when it is an IP address).
    Tls { host: String, port: u16 },
    /// MQTT over WebSocket over TCP (`ws://`, port 80 and path `/mqtt` by default). The
    /// `mqtt` subprotocol is asked for and must be confirmed; extra request headers come from
    /// [`crate::MqttOptions::set_ws_header`].
    Ws { host: String, port: u16, path: String },
    /// MQTT over WebSocket over TLS (`wss://`, port 443 and path `/mqtt` by default), secured
    /// as for [`ServerAddr::Tls`].
    Wss { host: String, port: u16, path: String },
    /// A Unix domain socket (`unix:///path`).
    #[cfg(unix)]
    Unix { path: std::path::PathBuf },
}

impl ServerAddr {
    /// A plain TCP server.
    ///
    /// ```
    /// let a = tether_core::ServerAddr::tcp("127.0.0.1", 1883);
    /// # drop(a);
    /// ```
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        ServerAddr::Tcp { host: host.into(), port }
    }

    /// A TLS server.
    ///
    /// ```
    /// let a = tether_core::ServerAddr::tls("broker.example", 8883);
    /// assert_eq!(a.to_string(), "mqtts://broker.example:8883");
    /// ```
    pub fn tls(host: impl Into<String>, port: u16) -> Self {
        ServerAddr::Tls { host: host.into(), port }
    }

    /// A WebSocket server; `path` is the request path (`/mqtt` is the usual one).
    ///
    /// ```
    /// let a = tether_core::ServerAddr::ws("127.0.0.1", 8080, "/mqtt");
    /// assert_eq!(a.to_string(), "ws://127.0.0.1:8080/mqtt");
    /// ```
    pub fn ws(host: impl Into<String>, port: u16, path: impl Into<String>) -> Self {
        ServerAddr::Ws { host: host.into(), port, path: path.into() }
    }

    /// A WebSocket server over TLS.
    ///
    /// ```
    /// let a = tether_core::ServerAddr::wss("broker.example", 443, "/mqtt");
    /// assert_eq!(a.to_string(), "wss://broker.example:443/mqtt");
    /// ```
    pub fn wss(host: impl Into<String>, port: u16, path: impl Into<String>) -> Self {
        ServerAddr::Wss { host: host.into(), port, path: path.into() }
    }

    /// Whether connecting needs the TLS configuration (`mqtts://`, `wss://`).
    pub(crate) fn uses_tls(&self) -> bool {
        matches!(self, ServerAddr::Tls { .. } | ServerAddr::Wss { .. })
    }

    /// A Unix domain socket.
    ///
    /// ```
    /// let a = tether_core::ServerAddr::unix("/run/mosquitto.sock");
    /// assert_eq!(a.to_string(), "unix:///run/mosquitto.sock");
    /// ```
    #[cfg(unix)]
    pub fn unix(path: impl Into<std::path::PathBuf>) -> Self {
        ServerAddr::Unix { path: path.into() }
    }

    /// A server list from URLs (each as [`ServerAddr::from_url`] reads it), tried in turn:
    /// the nodes of a cluster, for failover. An empty list, or any URL that is not one, is
    /// [`Error::InvalidArgument`] naming its place in the list.
    ///
    /// ```
    /// use tether_core::{ErrorKind, ServerAddr};
    /// let nodes = ServerAddr::from_urls(["mqtt://10.0.0.1", "mqtt://10.0.0.2:1884"])?;
    /// assert_eq!(nodes[1], ServerAddr::tcp("10.0.0.2", 1884));
    /// assert_eq!(ServerAddr::from_urls(Vec::<&str>::new()).unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// # Ok::<(), tether_core::Error>(())
    /// ```
    pub fn from_urls<I, S>(urls: I) -> Result<Vec<Self>, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Vec::new();
        for (i, url) in urls.into_iter().enumerate() {
            let server = ServerAddr::from_url(url.as_ref()).map_err(|e| match e {
                Error::InvalidArgument(m) => Error::InvalidArgument(format!("server list, item {i}: {m}")),
                other => other,
            })?;
            out.push(server);
        }
        if out.is_empty() {
            return Err(Error::InvalidArgument("a server list needs at least one server URL".into()));
        }
        Ok(out)
    }

    /// The server a URL names: `mqtt://host[:1883]` (also `tcp://`), `mqtts://host[:8883]`
    /// (also `ssl://`, `tls://`), `unix:///path`; an IPv6 address goes in brackets
    /// (`mqtts://[::1]:8883`), `ws://host[:80][/path]`, `wss://host[:443][/path]` (path
    /// `/mqtt` when not given; a query string is kept as part of it); anything else is
    /// [`Error::InvalidArgument`]. Credentials are refused rather than ignored: give them
    /// with [`crate::MqttOptions::set_credentials`] (or, for WebSocket, a header with
    /// [`crate::MqttOptions::set_ws_header`]).
    ///
    /// ```
    /// use tether_core::{ErrorKind, ServerAddr};
    /// assert_eq!(ServerAddr::from_url("mqtt://127.0.0.1")?, ServerAddr::tcp("127.0.0.1", 1883));
    /// assert_eq!(ServerAddr::from_url("mqtts://[::1]:9000")?, ServerAddr::tls("::1", 9000));
    /// assert_eq!(ServerAddr::from_url("wss://h")?, ServerAddr::wss("h", 443, "/mqtt"));
    /// assert_eq!(ServerAddr::from_url("ws://h:8080/ws")?, ServerAddr::ws("h", 8080, "/ws"));
    /// assert_eq!(ServerAddr::from_url("http://h").unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// # Ok::<(), tether_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::InvalidArgument(format!("server URL {url:?}: {why}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("expected scheme://host[:port]"))?;
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "unix" => {
                #[cfg(unix)]
                {
                    if !rest.starts_with('/') || rest.len() < 2 {
                        return Err(bad("expected unix:///absolute/path"));
                    }
                    return Ok(ServerAddr::unix(rest));
                }
                #[cfg(not(unix))]
                return Err(Error::NotSupported(format!(
                    "server URL {url:?}: Unix domain sockets are not supported on this platform"
                )));
            }
            "mqtt" | "tcp" | "mqtts" | "ssl" | "tls" | "ws" | "wss" => {}
            other => {
                return Err(bad(&format!("unknown scheme {other:?} (expected mqtt, mqtts, ws, wss or unix)")))
            }
        }
        let tls = matches!(scheme.as_str(), "mqtts" | "ssl" | "tls");
        let ws = matches!(scheme.as_str(), "ws" | "wss");
        let (authority, path) = if ws {
            match rest.find(['/', '?', '#']) {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            }
        } else {
            // A trailing "/" is harmless; a path or query would mean something we do not do.
            (rest.strip_suffix('/').unwrap_or(rest), "")
        };
        if authority.contains(['/', '?', '#']) {
            return Err(bad("a path or query is not used by mqtt:// and mqtts://"));
        }
        if path.contains('#') {
            return Err(bad("a fragment is not sent to the server"));
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("the path has spaces or control characters"));
        }
        let path = match path {
            "" => "/mqtt".to_string(),
            p if p.starts_with('?') => format!("/mqtt{p}"),
            p => p.to_string(),
        };
        if authority.contains('@') {
            return Err(bad("credentials do not go in the URL; use set_credentials"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '[' in the host"))?;
            match after {
                "" => (host, None),
                p => (host, Some(p.strip_prefix(':').ok_or_else(|| bad("expected ':' after ']'"))?)),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((_, _)) if authority.matches(':').count() > 1 => {
                    return Err(bad("an IPv6 address goes in brackets: [::1]"))
                }
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        let port = match port {
            None => match scheme.as_str() {
                "ws" => 80,
                "wss" => 443,
                _ if tls => 8883,
                _ => 1883,
            },
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(bad(&format!("port {p:?} is not in 1..=65535"))),
            },
        };
        Ok(match scheme.as_str() {
            "ws" => ServerAddr::ws(host, port, path),
            "wss" => ServerAddr::wss(host, port, path),
            _ if tls => ServerAddr::tls(host, port),
            _ => ServerAddr::tcp(host, port),
        })
    }
}

impl std::fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerAddr::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            ServerAddr::Tls { host, port } if host.contains(':') => write!(f, "mqtts://[{host}]:{port}"),
            ServerAddr::Tls { host, port } => write!(f, "mqtts://{host}:{port}"),
            ServerAddr::Ws { host, port, path } => write!(f, "ws://{}:{port}{path}", bracket(host)),
            ServerAddr::Wss { host, port, path } => write!(f, "wss://{}:{port}{path}", bracket(host)),
            #[cfg(unix)]
            ServerAddr::Unix { path } => write!(f, "unix://{}", path.display()),
        }
    }
}

/// An IPv6 address in brackets, as URLs write it.
fn bracket(host: &str) -> std::borrow::Cow<'_, str> {
    if host.contains(':') {
        format!("[{host}]").into()
    } else {
        host.into()
    }
}

/// What shapes a connection beyond its address, from the options.
pub(crate) struct Settings<'a> {
    pub timeout: Duration,
    pub nodelay: bool,
    /// The configuration for [`ServerAddr::Tls`] and [`ServerAddr::Wss`].
    pub tls: Option<&'a Arc<rustls::ClientConfig>>,
    pub ws_headers: &'a [(String, String)],
    /// An HTTP proxy the TCP connection is tunnelled through.
    pub proxy: Option<&'a ProxyOptions>,
}

/// Open a transport, within `settings.timeout` (reaching a proxy included). A failure is
/// [`Error::Tls`] when retrying will not help (see `tls::final_failure`), [`Error::Proxy`]
/// when the proxy refused, [`Error::Io`] otherwise.
pub(crate) async fn connect(
    addr: &ServerAddr,
    settings: &Settings<'_>,
) -> Result<(ReadHalf, WriteHalf), Error> {
    let Settings { timeout, nodelay, tls, ws_headers, proxy } = *settings;
    let io = |e: io::Error| Error::Io(format!("{addr}: {e}"));
    // TCP to the broker, directly or through the proxy's tunnel.
    let open_tcp = |host: &str, port: u16| {
        let host = host.to_string();
        async move {
            match proxy {
                Some(proxy) => crate::proxy::tunnel(proxy, &host, port, nodelay).await,
                None => tcp(&host, port, nodelay).await.map_err(io),
            }
        }
    };
    let fut = async {
        match addr {
            ServerAddr::Tcp { host, port } => {
                let stream = open_tcp(host, *port).await?;
                // Owned halves rather than tokio::io::split: no lock between them, and the
                // read half still reaches the socket.
                let (rd, wr) = stream.into_split();
                Ok((ReadHalf::Tcp(rd), WriteHalf::Tcp(wr)))
            }
            ServerAddr::Tls { host, port } => {
                let stream = open_tcp(host, *port).await?;
                let quick = QuickAck::of(&stream);
                let stream = tls_over(addr, host, stream, tls).await?;
                let (rd, wr) = tokio::io::split(stream);
                Ok((ReadHalf::Tls(rd, quick), WriteHalf::Tls { half: wr, unflushed: false }))
            }
            ServerAddr::Ws { host, port, .. } | ServerAddr::Wss { host, port, .. } => {
                let stream = open_tcp(host, *port).await?;
                let quick = QuickAck::of(&stream);
                let stream: Box<dyn websocket::Io> = if addr.uses_tls() {
                    Box::new(tls_over(addr, host, stream, tls).await?)
                } else {
                    Box::new(stream)
                };
                // The URI only names the resource: TLS, if any, is already in the stream.
                let uri = format!("ws://{}:{port}{}", bracket(host), ws_path(addr));
                let what = addr.to_string();
                let stream = websocket::handshake(&what, &uri, ws_headers, stream, |e| {
                    read_failure(addr, &e)
                        .unwrap_or_else(|| Error::Io(format!("{addr}: WebSocket handshake: {e}")))
                })
                .await?;
                let (rd, wr) = tokio::io::split(stream);
                Ok((ReadHalf::Ws(rd, quick), WriteHalf::Ws { half: wr, unflushed: false }))
            }
            #[cfg(unix)]
            ServerAddr::Unix { .. } if proxy.is_some() => Err(Error::InvalidArgument(format!(
                "{addr} cannot be reached through an HTTP proxy: a proxy tunnels TCP only"
            ))),
            #[cfg(unix)]
            ServerAddr::Unix { path } => {
                let (rd, wr) = tokio::net::UnixStream::connect(path).await.map_err(io)?.into_split();
                Ok((ReadHalf::Unix(rd), WriteHalf::Unix(wr)))
            }
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(result) => result,
        Err(_) => Err(Error::Io(match proxy {
            Some(proxy) => format!("connecting to {addr} through the proxy {proxy} timed out"),
            None => format!("connecting to {addr} timed out"),
        })),
    }
}

fn ws_path(addr: &ServerAddr) -> &str {
    match addr {
        ServerAddr::Ws { path, .. } | ServerAddr::Wss { path, .. } => path,
        _ => "/",
    }
}

/// The TLS handshake over `stream` for `addr`, checking `host` against the certificate.
async fn tls_over(
    addr: &ServerAddr,
    host: &str,
    stream: TcpStream,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<TlsStream<TcpStream>, Error> {
    let config = tls.ok_or_else(|| Error::Tls(format!("{addr}: no TLS configuration")))?;
    // An IP address is checked against the certificate's IP SANs (and not sent as SNI,
    // RFC 6066 section 3); a name against its DNS names.
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| Error::InvalidArgument(format!("{addr}: {host:?} is not a server name: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(config.clone());
    connector.connect(name, stream).await.map_err(|e| handshake_error(addr, host, e))
}

async fn tcp(host: &str, port: u16, nodelay: bool) -> io::Result<TcpStream> {
    let stream = TcpStream::connect((host, port)).await?;
    // Without TCP_NODELAY a paced stream of small packets waits on Nagle and delayed ACKs
    // (tens of milliseconds at p99).
    stream.set_nodelay(nodelay)?;
    Ok(stream)
}

/// A failed TLS handshake as the user should hear it.
fn handshake_error(addr: &ServerAddr, host: &str, e: io::Error) -> Error {
    match crate::tls::rustls_error(&e).and_then(|r| final_failure(&addr.to_string(), host, r)) {
        Some(error) => error,
        None => Error::Io(format!("{addr}: TLS handshake: {e}")),
    }
}

/// The final TLS failure behind an error read from an established stream, when there is
/// one: under TLS 1.3 the server judges our certificate after our side of the handshake is
/// done, so its refusal arrives as an alert on the first read.
pub(crate) fn read_failure(addr: &ServerAddr, e: &io::Error) -> Option<Error> {
    let host = match addr {
        ServerAddr::Tls { host, .. } | ServerAddr::Wss { host, .. } => host,
        _ => return None,
    };
    final_failure(&addr.to_string(), host, crate::tls::rustls_error(e)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn server_lists_keep_order_and_name_the_bad_item() {
        let list = ServerAddr::from_urls(["mqtt://a:1", "ws://b:2/x", "unix:///s"]).unwrap();
        assert_eq!(list, vec![ServerAddr::tcp("a", 1), ServerAddr::ws("b", 2, "/x"), ServerAddr::unix("/s")]);
        let e = ServerAddr::from_urls(["mqtt://a", "http://b"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("item 1") && e.to_string().contains("http://b"), "{e}");
        let e = ServerAddr::from_urls([""; 0]).unwrap_err();
        assert!(e.to_string().contains("at least one"), "{e}");
    }

    #[test]
    fn urls() {
        let ok = [
            ("mqtt://h", ServerAddr::tcp("h", 1883)),
            ("tcp://h:1", ServerAddr::tcp("h", 1)),
            ("MQTTS://h", ServerAddr::tls("h", 8883)),
            ("ssl://h:9/", ServerAddr::tls("h", 9)),
            ("mqtts://127.0.0.1:8884", ServerAddr::tls("127.0.0.1", 8884)),
            ("mqtt://[::1]", ServerAddr::tcp("::1", 1883)),
            ("mqtts://[::1]:2", ServerAddr::tls("::1", 2)),
            ("unix:///run/m.sock", ServerAddr::unix("/run/m.sock")),
            ("ws://h", ServerAddr::ws("h", 80, "/mqtt")),
            ("WSS://h", ServerAddr::wss("h", 443, "/mqtt")),
            ("ws://h:8080/", ServerAddr::ws("h", 8080, "/")),
            ("wss://[::1]:9/a/b?x=1", ServerAddr::wss("::1", 9, "/a/b?x=1")),
            ("ws://h?token=1", ServerAddr::ws("h", 80, "/mqtt?token=1")),
        ];
        for (url, want) in ok {
            assert_eq!(ServerAddr::from_url(url).unwrap(), want, "{url}");
        }
        let bad = [
            "h:1883",
            "http://h",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:70000",
            "mqtt://h:x",
            "mqtt://u:p@h",
            "mqtt://h/path",
            "mqtt://::1",
            "mqtt://[::1",
            "unix://relative",
            "ws://",
            "ws://h:0/mqtt",
            "ws://u:p@h/mqtt",
            "ws://h/mqtt#frag",
            "ws://h/a b",
        ];
        for url in bad {
            let e = ServerAddr::from_url(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{url}: {e}");
            assert!(e.to_string().contains(url), "{e}");
        }
        for url in ["ws://h:80/mqtt", "wss://[::1]:443/mqtt?a=b"] {
            assert_eq!(ServerAddr::from_url(url).unwrap().to_string(), url);
        }
    }
}

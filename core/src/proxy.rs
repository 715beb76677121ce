//! HTTP CONNECT proxies (RFC 9110 section 9.3.6): the options, and the tunnel every TCP based
//! transport (`mqtt://`, `mqtts://`, `ws://`, `wss://`) can run through.
//!
//! The client opens a TCP connection to the proxy, asks `CONNECT host:port HTTP/1.1` (with
//! `Proxy-Authorization: Basic` when credentials are given), reads the reply's header and,
//! on a 2xx, runs TLS, WebSocket or MQTT over the same connection as if it went to the
//! broker directly.

use std::io;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Error;

/// The largest proxy reply header read; a proxy that sends more is not speaking HTTP to us.
const MAX_REPLY: usize = 8 * 1024;
/// The most header fields parsed in a proxy reply.
const MAX_HEADERS: usize = 64;

/// An HTTP proxy that connections are tunnelled through with `CONNECT`, given to
/// [`crate::MqttOptions::set_proxy`]. Only `http://` proxies (the connection to the proxy
/// itself is plain TCP; TLS to the broker still runs end to end through the tunnel).
///
/// ```
/// use tether_core::ProxyOptions;
/// let proxy = ProxyOptions::from_url("http://user:p%40ss@proxy.example:3128")?;
/// assert_eq!(proxy.host, "proxy.example");
/// assert_eq!(proxy.port, 3128);
/// assert_eq!(proxy.password.as_deref(), Some("p@ss"));
/// // The password is never printed:
/// assert!(!format!("{proxy:?}").contains("p@ss"));
/// # Ok::<(), tether_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyOptions {
    /// The proxy's host name or IP address (an IPv6 address without brackets).
    pub host: String,
    /// The proxy's port.
    pub port: u16,
    /// For `Proxy-Authorization: Basic` (sent only when set; the password may then be None
    /// for an empty one). Must not contain ':' (RFC 7617 section 2).
    pub username: Option<String>,
    /// The password for basic authentication.
    pub password: Option<String>,
}

impl std::fmt::Debug for ProxyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl std::fmt::Display for ProxyOptions {
    /// The proxy as a URL without its credentials (as errors name it).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}", authority(&self.host, self.port))
    }
}

/// `host:port`, an IPv6 address in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl ProxyOptions {
    /// A proxy at `host:port`, without credentials.
    ///
    /// ```
    /// let proxy = tether_core::ProxyOptions::new("127.0.0.1", 3128);
    /// assert_eq!(proxy.to_string(), "http://127.0.0.1:3128");
    /// ```
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        ProxyOptions { host: host.into(), port, username: None, password: None }
    }

    /// The proxy a URL names: `http://[user[:password]@]host[:port]` (port 80 when not
    /// given; an IPv6 address in brackets; user and password percent-decoded, so `%40` is
    /// `@` and `%3A` is `:`). Any other scheme (`https://`, `socks5://`), a path, or a
    /// malformed URL is [`Error::InvalidArgument`]; the message never repeats the password.
    ///
    /// ```
    /// use tether_core::{ErrorKind, ProxyOptions};
    /// let p = ProxyOptions::from_url("http://[::1]:8080")?;
    /// assert_eq!((p.host.as_str(), p.port, p.username), ("::1", 8080, None));
    /// assert_eq!(ProxyOptions::from_url("https://h").unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// # Ok::<(), tether_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self, Error> {
        // Name the URL in errors without its credentials.
        let shown = match (url.find("://"), url.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
            _ => url.to_string(),
        };
        let bad = |why: &str| Error::InvalidArgument(format!("proxy URL {shown:?}: {why}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("expected http://host[:port]"))?;
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(bad(&format!(
                "scheme {scheme:?} is not supported; only http:// proxies (HTTP CONNECT)"
            )));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(bad("a proxy URL has no path, query or fragment"));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '[' in the host"))?;
            match after {
                "" => (host, None),
                p => (host, Some(p.strip_prefix(':').ok_or_else(|| bad("expected ':' after ']'"))?)),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some(_) if hostport.matches(':').count() > 1 => {
                    return Err(bad("an IPv6 address goes in brackets: [::1]"))
                }
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        let port = match port {
            None => 80,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(bad(&format!("port {p:?} is not in 1..=65535"))),
            },
        };
        let mut proxy = ProxyOptions::new(host, port);
        if let Some(userinfo) = userinfo {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            proxy.username = Some(percent_decode(user).map_err(|why| bad(&format!("user name: {why}")))?);
            proxy.password =
                password.map(percent_decode).transpose().map_err(|why| bad(&format!("password: {why}")))?;
        }
        proxy.check().map_err(|e| match e {
            Error::InvalidArgument(m) => bad(&m),
            other => other,
        })?;
        Ok(proxy)
    }

    /// What [`crate::MqttOptions::set_proxy`] refuses.
    pub(crate) fn check(&self) -> Result<(), Error> {
        let bad = |why: &str| Error::InvalidArgument(format!("proxy: {why}"));
        if self.host.is_empty() {
            return Err(bad("the host is empty"));
        }
        if self.host.chars().any(|c| c.is_whitespace() || c.is_control() || "/?#@[]".contains(c)) {
            return Err(bad(&format!("{:?} is not a host name or IP address", self.host)));
        }
        if self.port == 0 {
            return Err(bad("port 0"));
        }
        if let Some(user) = &self.username {
            if user.contains(':') {
                return Err(bad("a user name for basic authentication cannot contain ':' (RFC 7617)"));
            }
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(bad("a password needs a user name"));
        }
        let control = |s: &Option<String>| s.as_deref().is_some_and(|s| s.chars().any(char::is_control));
        if control(&self.username) || control(&self.password) {
            return Err(bad("control characters in the credentials"));
        }
        Ok(())
    }

    /// The CONNECT request for `host:port`.
    fn request(&self, host: &str, port: u16) -> String {
        let target = authority(host, port);
        let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(user) = &self.username {
            let pair = format!("{user}:{}", self.password.as_deref().unwrap_or(""));
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            request.push_str(&format!("Proxy-Authorization: Basic {encoded}\r\n"));
        }
        request.push_str("\r\n");
        request
    }
}

/// `%XX` decoded; the result must be UTF-8.
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("a '%' not followed by two hex digits")?;
            let b = u8::from_str_radix(hex, 16).map_err(|_| "a '%' not followed by two hex digits")?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 once percent-decoded".to_string())
}

/// Whether a proxy's refusal may pass: a 5xx (502, 503, 504: the proxy could not reach the
/// broker, which may be restarting). Any other refusal (407, 403, 400, ...) and a reply that
/// is not HTTP (the proxy URL names something else) stay: automatic reconnects stop on them.
/// Failing to reach the proxy at all is an [`Error::Io`], retried like any connection failure.
pub(crate) fn failure_is_transient(e: &Error) -> bool {
    matches!(e, Error::Proxy { status: Some(500..=599), .. })
}

/// A TCP connection to `host:port` through `proxy`: connected to the proxy, `CONNECT`
/// answered with 2xx. What follows the reply's header is left unread on the socket (the
/// header is read with `peek` first, then only its own bytes are taken), so nothing the
/// broker sends early is lost. The caller bounds the time.
pub(crate) async fn tunnel(
    proxy: &ProxyOptions,
    host: &str,
    port: u16,
    nodelay: bool,
) -> Result<TcpStream, Error> {
    let target = authority(host, port);
    let io = |e: io::Error| Error::Io(format!("proxy {proxy} (for {target}): {e}"));
    let mut stream = TcpStream::connect((proxy.host.as_str(), proxy.port)).await.map_err(io)?;
    stream.set_nodelay(nodelay).map_err(io)?;
    stream.write_all(proxy.request(host, port).as_bytes()).await.map_err(io)?;
    let (status, reason) = read_reply(&mut stream).await.map_err(|e| match e {
        Reply::Io(e) => io(e),
        Reply::Malformed(why) => Error::Proxy {
            status: None,
            message: format!("proxy {proxy}: not an HTTP reply to CONNECT ({why})"),
        },
    })?;
    if !(200..300).contains(&status) {
        return Err(Error::Proxy {
            status: Some(status),
            message: format!("proxy {proxy} refused CONNECT to {target}: {status} {reason}"),
        });
    }
    Ok(stream)
}

enum Reply {
    Io(io::Error),
    Malformed(String),
}

/// Read a reply's header, and only it, off `stream`: status and reason.
async fn read_reply(stream: &mut TcpStream) -> Result<(u16, String), Reply> {
    let mut header: Vec<u8> = Vec::with_capacity(256);
    let mut peeked = vec![0u8; MAX_REPLY];
    // Each turn takes at least one byte off the socket (or ends): bounded by MAX_REPLY.
    for _ in 0..=MAX_REPLY {
        let room = MAX_REPLY - header.len();
        if room == 0 {
            return Err(Reply::Malformed(format!("its header is longer than {MAX_REPLY} bytes")));
        }
        let n = stream.peek(&mut peeked[..room]).await.map_err(Reply::Io)?;
        if n == 0 {
            return Err(Reply::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the proxy closed the connection before answering CONNECT",
            )));
        }
        let mut all = header.clone();
        all.extend_from_slice(&peeked[..n]);
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut fields);
        match response.parse(&all) {
            Ok(httparse::Status::Complete(len)) => {
                let status = response.code.unwrap_or(0);
                let reason = response.reason.unwrap_or("").to_string();
                // Take the header's bytes, and no more, off the socket.
                let mut taken = vec![0u8; len - header.len()];
                stream.read_exact(&mut taken).await.map_err(Reply::Io)?;
                return Ok((status, reason));
            }
            Ok(httparse::Status::Partial) => {
                // All of it is header: take it, and wait for more.
                let mut taken = vec![0u8; n];
                stream.read_exact(&mut taken).await.map_err(Reply::Io)?;
                header.extend_from_slice(&taken);
            }
            Err(e) => return Err(Reply::Malformed(e.to_string())),
        }
    }
    Err(Reply::Malformed("its header never ended".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use tokio::net::TcpListener;

    #[test]
    fn urls() {
        let p = ProxyOptions::from_url("http://u%2Fx:p%40ss%3A@h:3128/").unwrap();
        let want = ProxyOptions {
            host: "h".into(),
            port: 3128,
            username: Some("u/x".into()),
            password: Some("p@ss:".into()),
        };
        assert_eq!(p, want);
        let e = ProxyOptions::from_url("http://u%3Ax:p@h").unwrap_err();
        assert!(e.to_string().contains("cannot contain ':'"), "{e}");
        let p = ProxyOptions::from_url("HTTP://user@[::1]").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.username.as_deref(), p.password),
            ("::1", 80, Some("user"), None)
        );
        for url in [
            "h:3128",
            "https://h",
            "socks5://h:1080",
            "http://",
            "http://h:0",
            "http://h:x",
            "http://h/path",
            "http://::1",
            "http://u:p%4@h",
            "http://u:p%ff@h",
        ] {
            let e = ProxyOptions::from_url(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{url}: {e}");
            assert!(!e.to_string().contains("p%"), "the password is not repeated: {e}");
        }
    }

    #[test]
    fn request_carries_basic_credentials() {
        let mut p = ProxyOptions::new("h", 1);
        assert_eq!(p.request("::1", 1883), "CONNECT [::1]:1883 HTTP/1.1\r\nHost: [::1]:1883\r\n\r\n");
        p.username = Some("Aladdin".into());
        p.password = Some("open sesame".into());
        // RFC 7617 section 2's example.
        assert!(p.request("b", 1).contains("Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"));
    }

    /// A one-shot proxy on a free port answering `reply` (in `chunks` writes).
    async fn answering(chunks: Vec<&'static [u8]>) -> (ProxyOptions, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 1024];
            let n = s.read(&mut request).await.unwrap();
            request.truncate(n);
            for c in chunks {
                s.write_all(c).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            request
        });
        (ProxyOptions::new("127.0.0.1", port), task)
    }

    #[tokio::test]
    async fn bytes_after_the_reply_header_are_kept() {
        let (proxy, task) = answering(vec![
            b"HTTP/1.1 200 Connection",
            b" established\r\nVia: x\r\n\r\n\x20\x03",
            b"\x00\x00\x00",
        ])
        .await;
        let mut stream = tunnel(&proxy, "broker", 1883, true).await.unwrap();
        let request = task.await.unwrap();
        assert!(request.starts_with(b"CONNECT broker:1883 HTTP/1.1\r\n"));
        let mut first = [0u8; 5];
        stream.read_exact(&mut first).await.unwrap();
        assert_eq!(first, [0x20, 0x03, 0, 0, 0], "the broker's first bytes follow the header");
    }

    #[tokio::test]
    async fn refusal_names_status_and_reason() {
        let (proxy, _task) =
            answering(vec![b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"]).await;
        let e = tunnel(&proxy, "127.0.0.1", 1883, true).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Proxy);
        assert!(
            e.to_string().ends_with("refused CONNECT to 127.0.0.1:1883: 407 Proxy Authentication Required"),
            "{e}"
        );
        assert!(!failure_is_transient(&e));
        let (proxy, _task) = answering(vec![b"HTTP/1.1 502 Bad Gateway\r\n\r\n"]).await;
        let e = tunnel(&proxy, "127.0.0.1", 1883, true).await.unwrap_err();
        assert!(failure_is_transient(&e), "{e}");
        let (proxy, _task) = answering(vec![b"\x20\x03\x00\x00\x00"]).await;
        let e = tunnel(&proxy, "127.0.0.1", 1883, true).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Proxy, "{e}");
        assert!(e.to_string().contains("not an HTTP reply"), "{e}");
        assert!(!failure_is_transient(&e), "a proxy URL naming something else stays wrong");
    }
}

//! A small HTTP CONNECT proxy on 127.0.0.1 (RFC 9110 section 9.3.6), for testing clients
//! that reach their broker through one: optional basic credentials (407 without them), a
//! refusal mode answering any status, counters of tunnels opened, and cutting every tunnel.
//! It tunnels only to 127.0.0.1 (or `localhost`); anything else gets 403.
//!
//! Like [`crate::FaultProxy`] it runs on its own thread with its own tokio runtime, and every
//! control method is a plain call.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The largest request header read; more is answered with 431.
const MAX_REQUEST: usize = 8 * 1024;
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Counters of an [`HttpProxy`] since it started.
///
/// ```no_run
/// let proxy = tether_testkit::HttpProxy::start();
/// assert_eq!(proxy.stats().tunnels, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpProxyStats {
    /// CONNECT requests read (whatever the answer).
    pub requests: u64,
    /// Tunnels opened (answered 200 and connected to the destination).
    pub tunnels: u64,
    /// Requests answered 407 (credentials missing or wrong).
    pub auth_failures: u64,
    /// Requests answered with the refusal status of [`HttpProxy::set_refuse`].
    pub refused: u64,
    /// Requests answered 403 (a destination other than 127.0.0.1) or 400/405/431 (not a
    /// CONNECT this proxy understands).
    pub bad_requests: u64,
    /// Requests answered 502 because the destination could not be reached.
    pub upstream_failures: u64,
    /// Tunnels closed by [`HttpProxy::cut_all`].
    pub cuts: u64,
}

impl HttpProxyStats {
    /// The counters as a one-line JSON object (as the `tether-testkit http-proxy` command
    /// `stats` prints them).
    ///
    /// ```
    /// let s = tether_testkit::HttpProxyStats::default();
    /// assert!(s.to_json().starts_with("{\"requests\":0,"));
    /// ```
    pub fn to_json(&self) -> String {
        format!(
            "{{\"requests\":{},\"tunnels\":{},\"auth_failures\":{},\"refused\":{},\"bad_requests\":{},\
             \"upstream_failures\":{},\"cuts\":{}}}",
            self.requests,
            self.tunnels,
            self.auth_failures,
            self.refused,
            self.bad_requests,
            self.upstream_failures,
            self.cuts
        )
    }
}

struct Shared {
    /// The expected `Proxy-Authorization` value, if credentials are required.
    authorization: Option<String>,
    /// A status to answer every CONNECT with (0: none).
    refuse: AtomicU16,
    stats: Mutex<HttpProxyStats>,
    /// Open tunnels: id → cut signal; the condvar is notified when the set changes.
    tunnels: Mutex<HashMap<u64, watch::Sender<bool>>>,
    changed: Condvar,
    next_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An HTTP CONNECT proxy on a free 127.0.0.1 port; stopped when dropped.
///
/// ```no_run
/// use std::time::Duration;
/// use tether_testkit::{Broker, HttpProxy};
/// let broker = Broker::start();
/// let proxy = HttpProxy::with_credentials("user", "secret");
/// // connect a client to broker.addr() through http://user:secret@{proxy.addr()} ...
/// assert!(proxy.wait_for_tunnels(1, Duration::from_secs(10)));
/// ```
pub struct HttpProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for HttpProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProxy").field("addr", &self.addr).finish()
    }
}

impl HttpProxy {
    /// A proxy without credentials; panics when it cannot start.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::HttpProxy::start();
    /// println!("http://{}", proxy.addr());
    /// ```
    pub fn start() -> HttpProxy {
        HttpProxy::try_start(None).unwrap_or_else(|e| panic!("failed to start the HTTP proxy: {e}"))
    }

    /// A proxy that requires basic credentials `user`/`password` (407 otherwise); panics
    /// when it cannot start.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::HttpProxy::with_credentials("user", "secret");
    /// # drop(proxy);
    /// ```
    pub fn with_credentials(user: &str, password: &str) -> HttpProxy {
        HttpProxy::try_start(Some((user, password)))
            .unwrap_or_else(|e| panic!("failed to start the HTTP proxy: {e}"))
    }

    /// Like [`HttpProxy::start`] / [`HttpProxy::with_credentials`], returning the error.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::HttpProxy::try_start(Some(("user", "secret")))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_start(credentials: Option<(&str, &str)>) -> io::Result<HttpProxy> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let authorization = credentials.map(|(u, p)| {
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}")))
        });
        let shared = Arc::new(Shared {
            authorization,
            refuse: AtomicU16::new(0),
            stats: Mutex::new(HttpProxyStats::default()),
            tunnels: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
            next_id: AtomicU64::new(1),
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tether-http-proxy")
            .enable_io()
            .enable_time()
            .build()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sh = shared.clone();
        let thread =
            std::thread::Builder::new().name(format!("http-proxy-{}", addr.port())).spawn(move || {
                rt.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(l) => {
                            tokio::select! {
                                _ = accept_loop(l, sh) => {}
                                _ = rx => {}
                            }
                        }
                        Err(e) => eprintln!("http proxy: cannot listen: {e}"),
                    }
                });
                rt.shutdown_timeout(Duration::from_secs(2));
            })?;
        Ok(HttpProxy { addr, shared, shutdown: Some(tx), thread: Some(thread) })
    }

    /// `127.0.0.1:<port>`.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::HttpProxy::start();
    /// assert!(proxy.addr().ip().is_loopback());
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's port.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::HttpProxy::start();
    /// println!("{}", proxy.port());
    /// ```
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answer every CONNECT with `status` (for example 403, 502, 503) instead of tunnelling;
    /// None tunnels again. Open tunnels are left alone.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::HttpProxy::start();
    /// proxy.set_refuse(Some(502));
    /// ```
    pub fn set_refuse(&self, status: Option<u16>) {
        self.shared.refuse.store(status.unwrap_or(0), Ordering::SeqCst);
    }

    /// A snapshot of the counters.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::HttpProxy::start();
    /// println!("{:?}", proxy.stats());
    /// ```
    pub fn stats(&self) -> HttpProxyStats {
        lock(&self.shared.stats).clone()
    }

    /// Waits until at least `n` tunnels were opened since the start, at most `timeout`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let proxy = tether_testkit::HttpProxy::start();
    /// assert!(!proxy.wait_for_tunnels(1, Duration::from_millis(10)));
    /// ```
    pub fn wait_for_tunnels(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut tunnels = lock(&self.shared.tunnels);
        loop {
            if lock(&self.shared.stats).tunnels >= n {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            tunnels = self
                .shared
                .changed
                .wait_timeout(tunnels, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Closes every open tunnel now, abruptly (both sockets reset). Returns how many, once
    /// they are closed (waits at most 2 s).
    ///
    /// ```no_run
    /// let proxy = tether_testkit::HttpProxy::start();
    /// assert_eq!(proxy.cut_all(), 0);
    /// ```
    pub fn cut_all(&self) -> usize {
        crate::proxy::cut_and_wait(&self.shared.tunnels, &self.shared.changed)
    }

    /// Stops the proxy (also done on drop): no new connections, open tunnels closed.
    ///
    /// ```no_run
    /// let mut proxy = tether_testkit::HttpProxy::start();
    /// proxy.stop();
    /// ```
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, shared.clone()));
            }
            Err(e) => {
                eprintln!("http proxy: accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn count(shared: &Shared, f: impl FnOnce(&mut HttpProxyStats)) {
    f(&mut lock(&shared.stats));
}

async fn answer(stream: &mut TcpStream, status: u16, reason: &str, extra: &str) {
    let reply =
        format!("HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// One client connection: read the request, answer, tunnel.
async fn serve(mut client: TcpStream, shared: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let (head, early) = match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut client)).await {
        Ok(Ok(Some(read))) => read,
        Ok(Ok(None)) => {
            count(&shared, |s| s.bad_requests += 1);
            return answer(&mut client, 431, "Request Header Fields Too Large", "").await;
        }
        _ => return,
    };
    count(&shared, |s| s.requests += 1);
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut words = request_line.split(' ');
    let (method, target, version) = (words.next(), words.next(), words.next());
    if method != Some("CONNECT") || !version.is_some_and(|v| v.starts_with("HTTP/1.")) {
        count(&shared, |s| s.bad_requests += 1);
        return answer(&mut client, 405, "Method Not Allowed", "").await;
    }
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, v)| v.trim().to_string());
    if let Some(expected) = &shared.authorization {
        if authorization.as_deref() != Some(expected.as_str()) {
            count(&shared, |s| s.auth_failures += 1);
            let challenge = "Proxy-Authenticate: Basic realm=\"tether-testkit\"\r\n";
            return answer(&mut client, 407, "Proxy Authentication Required", challenge).await;
        }
    }
    let refuse = shared.refuse.load(Ordering::SeqCst);
    if refuse != 0 {
        count(&shared, |s| s.refused += 1);
        return answer(&mut client, refuse, reason(refuse), "").await;
    }
    // Only loopback destinations: a test proxy must never reach beyond the machine.
    let port = match target.and_then(|t| t.rsplit_once(':')) {
        Some(("127.0.0.1" | "localhost", p)) => p.parse::<u16>().ok().filter(|p| *p != 0),
        _ => None,
    };
    let Some(port) = port else {
        count(&shared, |s| s.bad_requests += 1);
        return answer(&mut client, 403, "Forbidden", "").await;
    };
    let upstream =
        match tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect((Ipv4Addr::LOCALHOST, port)))
            .await
        {
            Ok(Ok(s)) => s,
            _ => {
                count(&shared, |s| s.upstream_failures += 1);
                return answer(&mut client, 502, "Bad Gateway", "").await;
            }
        };
    let _ = upstream.set_nodelay(true);
    if client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.is_err() {
        return;
    }
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let (cut_tx, mut cut_rx) = watch::channel(false);
    {
        let mut tunnels = lock(&shared.tunnels);
        tunnels.insert(id, cut_tx);
        count(&shared, |s| s.tunnels += 1);
        shared.changed.notify_all();
    }
    let mut upstream = upstream;
    let cut = async {
        // Bytes the client sent right after its request belong to the destination.
        if !early.is_empty() && upstream.write_all(&early).await.is_err() {
            return false;
        }
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => false,
            _ = cut_rx.wait_for(|c| *c) => true,
        }
    }
    .await;
    if cut {
        // RST rather than FIN: a link that breaks.
        crate::proxy::set_linger_zero(client.as_raw_fd());
        crate::proxy::set_linger_zero(upstream.as_raw_fd());
        count(&shared, |s| s.cuts += 1);
    }
    drop(client);
    drop(upstream);
    let mut tunnels = lock(&shared.tunnels);
    tunnels.remove(&id);
    shared.changed.notify_all();
}

/// The request header (through its blank line) and any bytes read after it; None when it
/// is longer than [`MAX_REQUEST`].
async fn read_head(stream: &mut TcpStream) -> io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while buf.len() <= MAX_REQUEST {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let early = buf.split_off(end + 4);
            return Ok(Some((buf, early)));
        }
    }
    Ok(None)
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        407 => "Proxy Authentication Required",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Refused",
    }
}

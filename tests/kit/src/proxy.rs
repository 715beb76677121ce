//! A TCP proxy on 127.0.0.1 that injects network faults between a client and a broker, and
//! watches the MQTT traffic going through it.
//!
//! The proxy runs on its own background thread with its own tokio runtime, so it is used the
//! same way from synchronous tests and from `#[tokio::test]`s. Every control method is a plain
//! (non-async) call that takes effect immediately.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::mqtt::{ParseEvent, StreamParser, CONNACK};
use crate::wire::{analyze, WireRecord, WireReport};

/// Default cap of [`FaultProxy::publish_log`]; later PUBLISHes are counted but not logged.
pub const PUBLISH_LOG_CAP: usize = 1_000_000;
/// Cap of [`FaultProxy::wire_log`] (about 50 MB); later records are counted in
/// [`ProxyStats::wire_dropped`].
///
/// ```
/// assert!(tether_testkit::proxy::WIRE_LOG_CAP >= 1_000_000);
/// ```
pub const WIRE_LOG_CAP: usize = 2_000_000;
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const CUT_WAIT: Duration = Duration::from_secs(2);
const BUF_SIZE: usize = 16 * 1024;

/// A direction of traffic through the proxy.
///
/// ```no_run
/// use tether_testkit::{Direction, FaultProxy};
/// let proxy = FaultProxy::start("127.0.0.1:1".parse().unwrap());
/// proxy.cut_after_bytes(Direction::ClientToServer, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client (connected to the proxy) to the server (upstream): "up".
    ClientToServer,
    /// From the server to the client: "down".
    ServerToClient,
}

/// Counters of a [`FaultProxy`] since it started.
///
/// ```no_run
/// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:1".parse().unwrap());
/// let s = proxy.stats();
/// println!("{} connections, {} DUP publishes", s.connections, s.dup_publishes);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections proxied (accepted and connected upstream); refused ones are not counted.
    pub connections: u64,
    /// Connections closed by a fault: `cut_all`, random cuts, `cut_after_bytes`.
    pub cuts: u64,
    /// Connections accepted and closed at once because refuse mode was on.
    pub refused: u64,
    /// Connections closed because the upstream could not be reached.
    pub upstream_failures: u64,
    /// Bytes forwarded client→server (black-holed bytes are not counted).
    pub bytes_up: u64,
    /// Bytes forwarded server→client (black-holed bytes are not counted).
    pub bytes_down: u64,
    /// PUBLISH packets sent by clients (read from clients, including black-holed ones).
    pub publishes: u64,
    /// Of those, the ones with DUP set.
    pub dup_publishes: u64,
    /// Of those, how many at QoS 0, 1, 2.
    pub publishes_by_qos: [u64; 3],
    /// CONNACK packets sent by the server.
    pub connacks: u64,
    /// Client→server packets that looked like a PUBLISH but were malformed (QoS 3, truncated).
    pub malformed: u64,
    /// Server→client packets that were malformed (truncated acknowledgement or PUBLISH head,
    /// CONNACK whose properties could not be followed).
    pub malformed_down: u64,
    /// Wire records not logged because the wire log was full ([`WIRE_LOG_CAP`]).
    pub wire_dropped: u64,
}

impl ProxyStats {
    /// The counters as a one-line JSON object (as printed by the `tether-testkit` binary).
    ///
    /// ```
    /// let s = tether_testkit::ProxyStats::default();
    /// assert!(s.to_json().starts_with("{\"connections\":0,"));
    /// ```
    pub fn to_json(&self) -> String {
        format!(
            "{{\"connections\":{},\"cuts\":{},\"refused\":{},\"upstream_failures\":{},\
             \"bytes_up\":{},\"bytes_down\":{},\"publishes\":{},\"dup_publishes\":{},\
             \"publishes_by_qos\":[{},{},{}],\"connacks\":{},\"malformed\":{},\"malformed_down\":{},\
             \"wire_dropped\":{}}}",
            self.connections,
            self.cuts,
            self.refused,
            self.upstream_failures,
            self.bytes_up,
            self.bytes_down,
            self.publishes,
            self.dup_publishes,
            self.publishes_by_qos[0],
            self.publishes_by_qos[1],
            self.publishes_by_qos[2],
            self.connacks,
            self.malformed,
            self.malformed_down,
            self.wire_dropped
        )
    }
}

/// One PUBLISH seen going client→server.
///
/// ```no_run
/// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:1".parse().unwrap());
/// for r in proxy.publish_log() {
///     println!("conn {} id {:?} qos {} dup {} {}", r.connection, r.packet_id, r.qos, r.dup, r.topic);
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRecord {
    /// The proxy's connection number (1 for the first proxied connection, then 2, ...).
    pub connection: u64,
    /// The packet id (QoS > 0).
    pub packet_id: Option<u16>,
    /// QoS 0, 1 or 2.
    pub qos: u8,
    /// The DUP flag.
    pub dup: bool,
    /// The topic (empty when the client used a topic alias alone).
    pub topic: String,
}

#[derive(Debug, Clone, Copy)]
struct RandomCuts {
    seed: u64,
    min: Duration,
    max: Duration,
}

#[derive(Debug, Clone, Copy)]
struct CutAfter {
    direction: Direction,
    remaining: u64,
}

#[derive(Default)]
struct Counters {
    stats: ProxyStats,
    log: Vec<PublishRecord>,
    wire: Vec<WireRecord>,
}

struct Shared {
    blackhole: AtomicBool,
    refuse: AtomicBool,
    delay_us: AtomicU64,
    counters: Mutex<Counters>,
    /// Open connections: id → cut signal. The condvar is notified when one is removed and when
    /// one is added (the connection count changed).
    conns: Mutex<HashMap<u64, watch::Sender<bool>>>,
    conns_changed: Condvar,
    next_id: AtomicU64,
    cut_after: Mutex<Option<CutAfter>>,
    random_cuts: watch::Sender<Option<RandomCuts>>,
    proxied: watch::Sender<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn counters(&self) -> MutexGuard<'_, Counters> {
        lock(&self.counters)
    }

    fn random_deadline(&self, conn: u64) -> Option<tokio::time::Instant> {
        let cfg = (*self.random_cuts.borrow())?;
        // One RNG per connection number, so a run is reproducible whatever the interleaving.
        let mut rng = StdRng::seed_from_u64(cfg.seed ^ conn.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (lo, hi) = (cfg.min.as_micros() as u64, cfg.max.as_micros() as u64);
        let us = if hi > lo { rng.random_range(lo..=hi) } else { lo };
        Some(tokio::time::Instant::now() + Duration::from_micros(us))
    }
}

/// A fault-injecting TCP proxy in front of an upstream address.
///
/// ```no_run
/// use std::time::Duration;
/// use tether_testkit::{Broker, FaultProxy};
/// let broker = Broker::start();
/// let proxy = FaultProxy::start(broker.addr());
/// // point the client at proxy.addr() ...
/// proxy.cut_all();
/// assert!(proxy.wait_for_connections(2, Duration::from_secs(10)), "client did not reconnect");
/// println!("{:?}", proxy.stats());
/// ```
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy").field("addr", &self.addr).field("upstream", &self.upstream).finish()
    }
}

impl FaultProxy {
    /// Starts a proxy on a free 127.0.0.1 port forwarding to `upstream`; panics on failure.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// println!("connect to {}", proxy.addr());
    /// ```
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        FaultProxy::try_start(upstream)
            .unwrap_or_else(|e| panic!("failed to start the fault proxy for {upstream}: {e}"))
    }

    /// Like [`FaultProxy::start`], returning the error.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::FaultProxy::try_start("127.0.0.1:41883".parse().unwrap())?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            blackhole: AtomicBool::new(false),
            refuse: AtomicBool::new(false),
            delay_us: AtomicU64::new(0),
            counters: Mutex::new(Counters::default()),
            conns: Mutex::new(HashMap::new()),
            conns_changed: Condvar::new(),
            next_id: AtomicU64::new(1),
            cut_after: Mutex::new(None),
            random_cuts: watch::Sender::new(None),
            proxied: watch::Sender::new(0),
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tether-fault-proxy")
            .enable_io()
            .enable_time()
            .build()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sh = shared.clone();
        let thread =
            std::thread::Builder::new().name(format!("fault-proxy-{}", addr.port())).spawn(move || {
                rt.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(l) => {
                            tokio::select! {
                                _ = accept_loop(l, upstream, sh) => {}
                                _ = rx => {}
                            }
                        }
                        Err(e) => eprintln!("fault proxy: cannot listen: {e}"),
                    }
                });
                rt.shutdown_timeout(Duration::from_secs(2));
            })?;
        Ok(FaultProxy { addr, upstream, shared, shutdown: Some(tx), thread: Some(thread) })
    }

    /// The proxy's port on 127.0.0.1.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// println!("{}", proxy.port());
    /// ```
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:<port>`: where clients connect.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// std::net::TcpStream::connect(proxy.addr()).unwrap();
    /// ```
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.addr.port()))
    }

    /// The upstream address the proxy forwards to.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// assert_eq!(proxy.upstream().port(), 41883);
    /// ```
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Closes every current connection now, abruptly (RST on both sockets). Returns how many
    /// were cut, once they are closed (waits at most 2 s for that).
    ///
    /// ```no_run
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// let n = proxy.cut_all();
    /// println!("cut {n} connections");
    /// ```
    pub fn cut_all(&self) -> usize {
        cut_and_wait(&self.shared.conns, &self.shared.conns_changed)
    }

    /// While on, bytes are read and dropped in both directions: connections stay open but
    /// nothing flows (a dead link). New connections are accepted and black-holed too.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// proxy.set_blackhole(true);
    /// proxy.set_blackhole(false);
    /// ```
    pub fn set_blackhole(&self, on: bool) {
        self.shared.blackhole.store(on, Ordering::SeqCst);
    }

    /// While on, new connections are accepted and closed at once (a server that is down).
    /// Current connections are left alone.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// proxy.set_refuse(true);
    /// proxy.cut_all();
    /// ```
    pub fn set_refuse(&self, on: bool) {
        self.shared.refuse.store(on, Ordering::SeqCst);
    }

    /// Cuts every connection at a random moment: each connection (current or new) lives a time
    /// drawn uniformly in `[min, max]` from an RNG seeded by `seed` and the connection number, so
    /// runs are reproducible. Calling it again replaces the settings.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// proxy.random_cuts(42, Duration::from_millis(50), Duration::from_millis(500));
    /// proxy.stop_random_cuts();
    /// ```
    pub fn random_cuts(&self, seed: u64, min: Duration, max: Duration) {
        let (min, max) = if min <= max { (min, max) } else { (max, min) };
        self.shared.random_cuts.send_replace(Some(RandomCuts { seed, min, max }));
    }

    /// Stops random cuts.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// proxy.stop_random_cuts();
    /// ```
    pub fn stop_random_cuts(&self) {
        self.shared.random_cuts.send_replace(None);
    }

    /// One-shot: the connection that next forwards bytes in `direction` is cut as soon as `n`
    /// more bytes have been forwarded that way (exactly `n` bytes get through; with `n = 0` the
    /// next chunk is not forwarded). Replaces a pending one-shot. Unlike [`FaultProxy::cut_all`]
    /// both sockets are closed normally (FIN), so the `n` bytes are surely delivered first.
    ///
    /// ```no_run
    /// use tether_testkit::{Direction, FaultProxy};
    /// let proxy = FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// proxy.cut_after_bytes(Direction::ServerToClient, 3); // cut in the middle of the CONNACK
    /// ```
    pub fn cut_after_bytes(&self, direction: Direction, n: u64) {
        *lock(&self.shared.cut_after) = Some(CutAfter { direction, remaining: n });
    }

    /// Cancels a pending [`FaultProxy::cut_after_bytes`].
    ///
    /// ```no_run
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// proxy.clear_cut_after_bytes();
    /// ```
    pub fn clear_cut_after_bytes(&self) {
        *lock(&self.shared.cut_after) = None;
    }

    /// Delays every forwarded chunk by `delay`, both directions (`Duration::ZERO` = off).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// proxy.set_delay(Duration::from_millis(100));
    /// ```
    pub fn set_delay(&self, delay: Duration) {
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.shared.delay_us.store(us, Ordering::SeqCst);
    }

    /// A snapshot of the counters.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// assert_eq!(proxy.stats().cuts, 0);
    /// ```
    pub fn stats(&self) -> ProxyStats {
        self.shared.counters().stats.clone()
    }

    /// Every PUBLISH read from clients so far, in order (capped at [`PUBLISH_LOG_CAP`]).
    ///
    /// ```no_run
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// let dups = proxy.publish_log().iter().filter(|r| r.dup).count();
    /// # let _ = dups;
    /// ```
    pub fn publish_log(&self) -> Vec<PublishRecord> {
        self.shared.counters().log.clone()
    }

    /// Every flow-control-relevant packet seen so far in either direction, in the order the
    /// proxy read them (capped at [`WIRE_LOG_CAP`]): QoS 1/2 PUBLISH, PUBACK, PUBREC, PUBREL,
    /// PUBCOMP and CONNACK. A packet is logged before it is forwarded, so an acknowledgement
    /// always comes after what it acknowledges. Packets read while black-holed are logged too
    /// (they were sent, though never delivered).
    ///
    /// ```no_run
    /// use tether_testkit::{mqtt::PUBACK, Direction};
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// let acks = proxy
    ///     .wire_log()
    ///     .iter()
    ///     .filter(|r| r.direction == Direction::ServerToClient && r.packet_type == PUBACK)
    ///     .count();
    /// # let _ = acks;
    /// ```
    pub fn wire_log(&self) -> Vec<WireRecord> {
        self.shared.counters().wire.clone()
    }

    /// Empties the wire log ([`ProxyStats::wire_dropped`] keeps counting since the start). Clear
    /// it between connections, not in the middle of one: the analysis of what follows would
    /// miss that connection's CONNACK and unfinished messages.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// proxy.clear_wire_log();
    /// assert!(proxy.wire_log().is_empty());
    /// ```
    pub fn clear_wire_log(&self) {
        let mut c = self.shared.counters();
        c.wire = Vec::new();
    }

    /// [`analyze`] of the wire log, with [`WireReport::dropped_records`] filled in.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// let r = proxy.wire_report();
    /// assert!(r.max_unfinished_up <= usize::from(r.receive_maximum_up));
    /// assert!(r.error_acks_from_server.is_empty());
    /// ```
    pub fn wire_report(&self) -> WireReport {
        // Copied out so the analysis does not hold the lock the pumps need.
        let (log, dropped) = {
            let c = self.shared.counters();
            (c.wire.clone(), c.stats.wire_dropped)
        };
        WireReport { dropped_records: dropped, ..analyze(&log) }
    }

    /// Number of connections open right now.
    ///
    /// ```no_run
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// assert_eq!(proxy.active_connections(), 0);
    /// ```
    pub fn active_connections(&self) -> usize {
        lock(&self.shared.conns).len()
    }

    /// Blocks until at least `n` connections have been proxied in total (see
    /// [`ProxyStats::connections`]) or `timeout` passes; true if reached. Do not call it from a
    /// single-threaded async runtime that must make progress meanwhile: use
    /// [`FaultProxy::wait_for_connections_async`] there.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// assert!(proxy.wait_for_connections(1, Duration::from_secs(5)));
    /// ```
    pub fn wait_for_connections(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut conns = lock(&self.shared.conns);
        loop {
            if *self.shared.proxied.borrow() >= n {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            conns = self
                .shared
                .conns_changed
                .wait_timeout(conns, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Async form of [`FaultProxy::wait_for_connections`] (needs a tokio runtime with time).
    ///
    /// ```no_run
    /// # async fn f() {
    /// use std::time::Duration;
    /// let proxy = tether_testkit::FaultProxy::start("127.0.0.1:41883".parse().unwrap());
    /// assert!(proxy.wait_for_connections_async(2, Duration::from_secs(5)).await);
    /// # }
    /// ```
    pub async fn wait_for_connections_async(&self, n: u64, timeout: Duration) -> bool {
        let mut rx = self.shared.proxied.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n)).await.map(|r| r.is_ok()).unwrap_or(false)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    loop {
        let (client, _) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => {
                // E.g. EMFILE: back off a little rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if shared.refuse.load(Ordering::SeqCst) {
            shared.counters().stats.refused += 1;
            drop(client);
            continue;
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let up = tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect(upstream));
            let server = match up.await {
                Ok(Ok(s)) => s,
                _ => {
                    shared.counters().stats.upstream_failures += 1;
                    set_linger_zero(client.as_raw_fd());
                    return;
                }
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            run_connection(shared, client, server).await;
        });
    }
}

enum End {
    Eof,
    Error,
    /// `cut_after_bytes` fired: close both sockets without RST.
    CutGraceful,
}

#[derive(PartialEq)]
enum Close {
    Normal,
    Abrupt,
    CutGraceful,
}

async fn run_connection(shared: Arc<Shared>, client: TcpStream, server: TcpStream) {
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let (cut_tx, mut cut_rx) = watch::channel(false);
    {
        let mut conns = lock(&shared.conns);
        conns.insert(id, cut_tx);
        shared.counters().stats.connections += 1;
        shared.proxied.send_modify(|c| *c += 1);
        shared.conns_changed.notify_all();
    }
    let mut random_rx = shared.random_cuts.subscribe();
    let mut deadline = shared.random_deadline(id);
    let fds = [client.as_raw_fd(), server.as_raw_fd()];
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let mut up = Box::pin(pump(&shared, id, Direction::ClientToServer, cr, sw));
    let mut down = Box::pin(pump(&shared, id, Direction::ServerToClient, sr, cw));
    let (mut up_done, mut down_done) = (false, false);
    let close = loop {
        tokio::select! {
            _ = cut_rx.wait_for(|c| *c) => break Close::Abrupt,
            _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)).await }, if deadline.is_some() => break Close::Abrupt,
            r = random_rx.changed() => {
                if r.is_ok() { deadline = shared.random_deadline(id); }
            }
            r = &mut up, if !up_done => match r {
                End::Eof => up_done = true,
                End::Error => break Close::Normal,
                End::CutGraceful => break Close::CutGraceful,
            },
            r = &mut down, if !down_done => match r {
                End::Eof => down_done = true,
                End::Error => break Close::Normal,
                End::CutGraceful => break Close::CutGraceful,
            },
        }
        if up_done && down_done {
            break Close::Normal;
        }
    };
    if close == Close::Abrupt {
        for fd in fds {
            set_linger_zero(fd);
        }
    }
    if close != Close::Normal {
        shared.counters().stats.cuts += 1;
    }
    // Dropping the pumps closes both sockets (with RST when cut).
    drop(up);
    drop(down);
    let mut conns = lock(&shared.conns);
    conns.remove(&id);
    shared.conns_changed.notify_all();
}

/// Copies one direction. Returns Eof after propagating a half-close, CutGraceful when a one-shot
/// `cut_after_bytes` fired, Error on a socket error.
async fn pump(
    shared: &Shared,
    conn: u64,
    dir: Direction,
    mut r: OwnedReadHalf,
    mut w: OwnedWriteHalf,
) -> End {
    let mut parser = StreamParser::new();
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => {
                let _ = w.shutdown().await;
                return End::Eof;
            }
            Ok(n) => n,
            Err(_) => return End::Error,
        };
        let blackholed = shared.blackhole.load(Ordering::SeqCst);
        let (forward, cut_now) = if blackholed {
            (0, false)
        } else {
            let mut pending = lock(&shared.cut_after);
            match *pending {
                Some(c) if c.direction == dir => {
                    if c.remaining <= n as u64 {
                        *pending = None;
                        (c.remaining as usize, true)
                    } else {
                        *pending = Some(CutAfter { remaining: c.remaining - n as u64, ..c });
                        (n, false)
                    }
                }
                _ => (n, false),
            }
        };
        // Observe what the sender sent (all of it while black-holed, so the parser stays in step
        // with its stream; only the forwarded part on a cut).
        let observed = if cut_now { forward } else { n };
        observe(shared, conn, dir, &mut parser, &buf[..observed]);
        if forward > 0 {
            let delay = shared.delay_us.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_micros(delay)).await;
            }
            {
                // Counted before the write, so a peer that received the bytes sees them counted.
                let mut c = shared.counters();
                match dir {
                    Direction::ClientToServer => c.stats.bytes_up += forward as u64,
                    Direction::ServerToClient => c.stats.bytes_down += forward as u64,
                }
            }
            if w.write_all(&buf[..forward]).await.is_err() {
                return End::Error;
            }
        }
        if cut_now {
            // Close with FIN (not RST) so the n forwarded bytes are surely delivered.
            let _ = w.shutdown().await;
            return End::CutGraceful;
        }
    }
}

fn observe(shared: &Shared, conn: u64, dir: Direction, parser: &mut StreamParser, data: &[u8]) {
    if data.is_empty() || parser.is_broken() {
        return;
    }
    let before = parser.malformed();
    let mut events = Vec::new();
    parser.feed(data, |e| events.push(e));
    let malformed = parser.malformed() - before;
    if events.is_empty() && malformed == 0 {
        return;
    }
    let mut guard = shared.counters();
    let c = &mut *guard;
    match dir {
        Direction::ClientToServer => c.stats.malformed += malformed,
        Direction::ServerToClient => c.stats.malformed_down += malformed,
    }
    for e in events {
        let record = match e {
            ParseEvent::Packet { packet_type } => {
                if dir == Direction::ServerToClient && packet_type == CONNACK {
                    c.stats.connacks += 1;
                }
                None
            }
            ParseEvent::Publish(p) => {
                let record = p.packet_id.map(|id| WireRecord::publish(conn, dir, id, p.qos, p.dup));
                if dir == Direction::ClientToServer {
                    c.stats.publishes += 1;
                    if p.dup {
                        c.stats.dup_publishes += 1;
                    }
                    c.stats.publishes_by_qos[usize::from(p.qos.min(2))] += 1;
                    if c.log.len() < PUBLISH_LOG_CAP {
                        c.log.push(PublishRecord {
                            connection: conn,
                            packet_id: p.packet_id,
                            qos: p.qos,
                            dup: p.dup,
                            topic: p.topic,
                        });
                    }
                }
                record
            }
            ParseEvent::Ack(a) => Some(WireRecord::ack(conn, dir, a.packet_type, a.packet_id, a.reason_code)),
            // Only a server sends CONNACK: one coming from a client is not what the log describes.
            ParseEvent::ConnAck { .. } if dir == Direction::ClientToServer => None,
            ParseEvent::ConnAck { session_present, reason_code, receive_maximum } => {
                Some(WireRecord::connack(conn, session_present, reason_code, receive_maximum))
            }
        };
        if let Some(r) = record {
            if c.wire.len() < WIRE_LOG_CAP {
                c.wire.push(r);
            } else {
                c.stats.wire_dropped += 1;
            }
        }
    }
}

/// SO_LINGER {on, 0}: the next close sends RST and discards unsent data (an abrupt cut).
pub(crate) fn set_linger_zero(fd: RawFd) {
    let l = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: fd is an open socket owned by a live TcpStream half; the option value is a valid
    // `linger` of the size passed.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Signals every connection of `conns` to close and waits (at most [`CUT_WAIT`]) until they
/// are gone from it (`changed` is notified on every removal); how many there were. Shared by
/// the fault proxy and the HTTP CONNECT proxy.
pub(crate) fn cut_and_wait(conns: &Mutex<HashMap<u64, watch::Sender<bool>>>, changed: &Condvar) -> usize {
    let mut open = lock(conns);
    let ids: Vec<u64> = open.keys().copied().collect();
    for tx in open.values() {
        let _ = tx.send(true);
    }
    let deadline = Instant::now() + CUT_WAIT;
    while ids.iter().any(|id| open.contains_key(id)) {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        open = changed.wait_timeout(open, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
    }
    ids.len()
}

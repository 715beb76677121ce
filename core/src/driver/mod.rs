//! The IO driver: one task per client owns the connection and the session engine. It is the
//! only place with sockets and clocks. After every input it drains the engine's outputs until
//! idle: packets are encoded into one buffer and written together (many small PUBLISH packets
//! in one syscall), every complete packet in the read buffer is decoded, events go to the
//! application and completions to their waiters.

// The driver is where time comes from: the engine is handed `now`.
#![allow(clippy::disallowed_methods)]

pub mod backoff;
mod hooks;
mod outbox;
mod pending;
mod redirect;
mod requests;
pub mod transport;
mod websocket;

/// Check a WebSocket handshake header (see `MqttOptions::set_ws_header`).
pub(crate) fn websocket_header(name: &str, value: &str) -> Result<(), Error> {
    websocket::header(name, value).map(drop)
}

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::codec::{self, ConnAck, ConnectReasonCode, Decoded, DisconnectReasonCode, UnsubAckReasonCode};
use crate::completion::Completer;
use crate::session::{DisconnectCause, Session};
use crate::{
    ConnectAttempt, Error, ErrorKind, Event, FlushReport, MqttOptions, PublishCompletion, SubscribeOutcome,
};
use backoff::Backoff;
use hooks::before_connect;
pub(crate) use hooks::SharedAuthenticator;
use outbox::reserve;
use pending::Pending;
pub(crate) use requests::{Control, DeliveryResult, PublishJob};
use transport::{ReadHalf, ServerAddr, WriteHalf};

/// Bytes encoded ahead of the socket at most (one write call takes them all when the socket
/// has room). 64 KiB is about 800 small PUBLISH packets per system call already; more only
/// raised peak RSS (256 KiB: +0.8 MiB on the QoS 0 benchmark) without raising throughput.
const WRITE_HIGH_WATER: usize = 64 * 1024;

/// Counters for observability, shared with the client handles.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub retransmissions: AtomicU64,
    pub reconnects: AtomicU64,
    pub deliveries_failed: AtomicU64,
    pub quota_retries: AtomicU64,
    pub queued: AtomicU64,
    pub queued_bytes: AtomicU64,
    pub inflight: AtomicU64,
    pub connected: AtomicBool,
    /// The server's limits from the last CONNACK, so that the handles refuse a publish the
    /// server would not take at the call: Maximum QoS + 1 (0 = no CONNACK yet), Maximum
    /// Packet Size (0 = none), Retain Available = 0.
    pub server_maximum_qos: AtomicU8,
    pub server_maximum_packet_size: AtomicU32,
    pub server_retain_unavailable: AtomicBool,
    /// Topic Alias Maximum + 1 (0 = no CONNACK yet).
    pub server_topic_alias_maximum: AtomicU32,
    /// How completed publishes are reported (`DeliveryEvents` as u8; from the options,
    /// switchable while the client runs).
    pub delivery_events: AtomicU8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not connected and not trying: waits for a Connect request.
    Idle,
    /// Connecting, connected, or waiting out a backoff.
    Running,
    /// Every handle is gone.
    Stopped,
}

/// How one connection ended.
struct Ended {
    cause: DisconnectCause,
    connected_for: Option<Duration>,
}

pub(crate) struct Driver {
    session: Session,
    options: MqttOptions,
    publishes: mpsc::Receiver<PublishJob>,
    controls: mpsc::UnboundedReceiver<Control>,
    events: mpsc::Sender<Event>,
    events_open: bool,
    /// Events waiting for room in the application's stream; while it is not empty the
    /// driver stops reading from the socket, so flow control reaches the server.
    outbox: VecDeque<Event>,
    /// Completions collected in this turn under `DeliveryEvents::Batched`.
    completed: Vec<PublishCompletion>,
    /// Publishes not yet complete, by token (what a flush waits for); `None` for the parked
    /// one, whose completer is still in its job.
    deliveries: Pending<Option<Completer<DeliveryResult>>>,
    last_token: u64,
    flushes: Vec<(u64, Completer<Result<FlushReport, Error>>)>,
    /// Deliveries ended since the last flush completed: what the next flush reports.
    report: FlushReport,
    subscribes: HashMap<u64, Completer<Result<SubscribeOutcome, Error>>>,
    unsubscribes: HashMap<u64, Completer<Result<Vec<UnsubAckReasonCode>, Error>>>,
    next_control_token: u64,
    /// Publishes refused for a full queue under `OverflowPolicy::Block`, oldest first:
    /// retried in order after progress, and no further publish is taken from the channel
    /// while any waits.
    parked: VecDeque<PublishJob>,
    connect_waiter: Option<Completer<Result<ConnAck, Error>>>,
    disconnect_waiter: Option<Completer<Result<(), Error>>>,
    counters: Arc<Counters>,
    backoff: Backoff,
    mode: Mode,
    server_index: usize,
    /// Servers a redirect (0x9C, 0x9D) named, tried before the server list; and whether the
    /// current connection is to one of them.
    redirect_targets: VecDeque<ServerAddr>,
    on_redirect: bool,
    /// Redirects followed since the last connection that lasted.
    redirect_hops: u32,
    /// Set by the Connected event of the current connection.
    connected_at: Option<Instant>,
    /// Completes (by being dropped) when the driver ends; declared last so that every other
    /// completion has been dropped, and every waiter told, before it fires.
    _stopped: Completer<()>,
}

impl Driver {
    pub(crate) fn new(
        session: Session,
        options: MqttOptions,
        publishes: mpsc::Receiver<PublishJob>,
        controls: mpsc::UnboundedReceiver<Control>,
        events: mpsc::Sender<Event>,
        counters: Arc<Counters>,
        stopped: Completer<()>,
    ) -> Self {
        let backoff = Backoff::new(options.reconnect);
        Driver {
            session,
            options,
            publishes,
            controls,
            events,
            events_open: true,
            outbox: VecDeque::new(),
            completed: Vec::new(),
            deliveries: Pending::default(),
            last_token: 0,
            flushes: Vec::new(),
            report: FlushReport::default(),
            subscribes: HashMap::new(),
            unsubscribes: HashMap::new(),
            next_control_token: 1,
            parked: VecDeque::new(),
            connect_waiter: None,
            disconnect_waiter: None,
            counters,
            backoff,
            mode: Mode::Idle,
            server_index: 0,
            redirect_targets: VecDeque::new(),
            on_redirect: false,
            redirect_hops: 0,
            connected_at: None,
            _stopped: stopped,
        }
    }

    pub(crate) async fn run(mut self) {
        let span = info_span!("tether", client_id = %self.options.client_id);
        async move {
            while self.mode != Mode::Stopped {
                match self.mode {
                    Mode::Idle => self.idle().await,
                    Mode::Running => self.attempt().await,
                    Mode::Stopped => {}
                }
            }
            debug!("driver stopped");
        }
        .instrument(span)
        .await;
        // Dropping the driver completes every waiter with `Closed`.
    }

    /// Not connected and not trying: take requests (publishes queue in the session) until a
    /// Connect.
    async fn idle(&mut self) {
        self.offline_turn(None).await;
    }

    /// One connection attempt, the connection's life, and what follows it.
    async fn attempt(&mut self) {
        let servers = &self.options.servers;
        let (server, on_redirect) = match self.redirect_targets.pop_front() {
            Some(target) => (target, true),
            None => (servers[self.server_index % servers.len()].clone(), false),
        };
        self.on_redirect = on_redirect;
        let mut attempt = ConnectAttempt {
            server,
            attempt: self.backoff.attempts() + 1,
            username: self.options.username.clone(),
            password: self.options.password.clone(),
        };
        if let Some(hook) = self.options.before_connect.clone() {
            attempt = before_connect(hook, attempt).await;
        }
        self.session.set_credentials(attempt.username.clone(), attempt.password.clone());
        debug!(server = %attempt.server, attempt = attempt.attempt, "connecting");
        let ended = match self.open(&attempt.server).await {
            Ok(stream) => self.connection(stream, &attempt.server).await,
            Err(e) => Err(e),
        };
        if self.mode != Mode::Running {
            return;
        }
        self.after_connection(ended, &attempt.server).await;
    }

    /// Open the transport to `server`, making the default TLS configuration the first time
    /// a TLS server is tried without one.
    async fn open(&mut self, server: &ServerAddr) -> Result<(ReadHalf, WriteHalf), Error> {
        if server.uses_tls() && self.options.tls.is_none() {
            // Reading the system's roots is file IO: off the runtime's workers.
            let built = tokio::task::spawn_blocking(|| crate::TlsOptions::default().build())
                .await
                .map_err(|e| Error::Tls(format!("building the TLS configuration: {e}")))??;
            self.options.tls = Some(built);
        }
        let o = &self.options;
        let settings = transport::Settings {
            timeout: o.connect_timeout,
            nodelay: o.tcp_nodelay,
            tls: o.tls.as_ref(),
            ws_headers: &o.ws_headers,
            proxy: o.proxy.as_ref(),
        };
        transport::connect(server, &settings).await
    }

    async fn after_connection(&mut self, ended: Result<Ended, Error>, server: &ServerAddr) {
        let (error, stable, fatal, busy) = match &ended {
            Ok(Ended { cause, connected_for }) => {
                let stable = connected_for.is_some_and(|d| d >= self.options.reconnect.stable_after);
                let (fatal, busy) = match cause {
                    DisconnectCause::Refused { reason_code, .. } => {
                        (refusal_is_final(*reason_code), refusal_is_busy(*reason_code))
                    }
                    DisconnectCause::Local {
                        reason_code: DisconnectReasonCode::NormalDisconnection, ..
                    } => (true, false),
                    _ => (false, false),
                };
                (Error::from(cause), stable, fatal, busy)
            }
            // A certificate the server or we refuse stays refused, and so does a WebSocket
            // upgrade or a proxy's CONNECT (407, 403): no reconnect storm. A gateway's 5xx
            // (WebSocket or proxy) may pass.
            Err(e) => {
                let fatal = match e.kind() {
                    ErrorKind::Tls => true,
                    ErrorKind::WebSocket => !websocket::upgrade_refusal_is_transient(e),
                    ErrorKind::Proxy => !crate::proxy::failure_is_transient(e),
                    _ => false,
                };
                (e.clone(), false, fatal, false)
            }
        };
        let was_connected = matches!(&ended, Ok(Ended { connected_for: Some(_), .. }));
        if let Some(done) = self.disconnect_waiter.take() {
            // The application asked for this end.
            done.complete(Ok(()));
            self.mode = Mode::Idle;
            self.redirect_targets.clear();
            return;
        }
        if stable {
            self.redirect_hops = 0;
        }
        if let Some(redirect) = self.redirect(&ended, server) {
            return self.follow(redirect, server);
        }
        if !was_connected && !self.on_redirect {
            self.server_index += 1;
        }
        if let Some(done) = self.connect_waiter.take() {
            // The first connect: one round over the servers before giving up.
            let tried = self.backoff.attempts() as usize + 1;
            if !fatal && tried < self.options.servers.len() {
                self.connect_waiter = Some(done);
                self.backoff.next_delay();
                return;
            }
            done.complete(Err(error));
            self.backoff.reset();
            self.mode = Mode::Idle;
            return;
        }
        if fatal || !self.options.reconnect.enabled {
            // Refusals such as "not authorized" do not get better by retrying: report and stop.
            info!(%error, "not reconnecting");
            if fatal && ended.is_err() {
                // No Disconnected event tells this one (there was no connection).
                self.emit(Event::ReconnectStopped { error });
                self.pump(None);
            }
            self.mode = Mode::Idle;
            return;
        }
        if stable {
            self.backoff.reset();
        }
        let delay = if busy {
            self.backoff.next_delay_at_least(self.options.reconnect.min_delay * 10)
        } else {
            self.backoff.next_delay()
        };
        self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
        self.emit(Event::Reconnecting { attempt: self.backoff.attempts(), delay, error: error.to_string() });
        self.pump(None);
        debug!(?delay, %error, "reconnecting after backoff");
        self.wait(delay).await;
    }

    /// The redirect the end of a connection asks for, when the options let the client follow it.
    fn redirect(&self, ended: &Result<Ended, Error>, server: &ServerAddr) -> Option<redirect::Redirect> {
        let Ok(Ended { cause, .. }) = ended else { return None };
        if !self.options.follow_server_references {
            return None;
        }
        // A CONNACK's redirect is part of connecting; a DISCONNECT's is a reconnect.
        if !matches!(cause, DisconnectCause::Refused { .. }) && !self.options.reconnect.enabled {
            return None;
        }
        let found = redirect::redirect_of(cause, server)?;
        if self.redirect_hops >= redirect::MAX_HOPS {
            warn!(reference = %found.reference, "not following a redirect: {} in a row already", redirect::MAX_HOPS);
            return None;
        }
        Some(found)
    }

    /// Go where the server said, now (no back-off: the server asked for it), keeping the
    /// session and any first-connect waiter. "Server moved" also replaces the server in the
    /// list, so later reconnects go to the new one.
    fn follow(&mut self, redirect: redirect::Redirect, server: &ServerAddr) {
        self.redirect_hops += 1;
        if redirect.permanent && !self.on_redirect {
            let i = self.server_index % self.options.servers.len();
            self.options.servers.splice(i..=i, redirect.targets.iter().cloned());
        }
        self.redirect_targets = redirect.targets.into();
        let to = self.redirect_targets.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
        let what = if redirect.permanent { "server moved" } else { "use another server" };
        info!(from = %server, %to, "{what}: following the server's redirect");
        self.emit(Event::Reconnecting {
            attempt: self.backoff.attempts(),
            delay: Duration::ZERO,
            error: format!("{what}: redirected from {server} to {to}"),
        });
        self.pump(None);
    }

    /// Wait out a backoff while still taking requests.
    async fn wait(&mut self, delay: Duration) {
        let deadline = Instant::now() + delay;
        for _ in 0..1_000_000 {
            if self.mode != Mode::Running || !self.offline_turn(Some(deadline)).await {
                return;
            }
        }
    }

    /// One turn without a connection: take a request, or hand an event to the application
    /// (those produced as the last connection ended, Disconnected and failed deliveries, reach
    /// it without waiting for the next connection), whichever comes first; then drain the
    /// engine. False when `deadline` passed first.
    async fn offline_turn(&mut self, deadline: Option<Instant>) -> bool {
        let accept_publish = self.parked.is_empty();
        let deliver = !self.outbox.is_empty() && self.events_open;
        // A clone, so that a permit borrows it rather than `self`.
        let events = self.events.clone();
        tokio::select! {
            _ = sleep_until(deadline) => return false,
            c = self.controls.recv() => match c {
                Some(c) => self.on_control(c),
                None => self.mode = Mode::Stopped,
            },
            p = self.publishes.recv(), if accept_publish => match p {
                Some(p) => self.on_publish(p, Instant::now().into_std()),
                None => self.mode = Mode::Stopped,
            },
            permit = reserve(Some(&events)), if deliver => self.deliver(permit),
        }
        self.pump(None);
        true
    }

    /// One connection, from CONNECT to close.
    async fn connection(
        &mut self,
        (mut rd, mut wr): (ReadHalf, WriteHalf),
        server: &ServerAddr,
    ) -> Result<Ended, Error> {
        let mut rbuf = BytesMut::with_capacity(64 * 1024);
        let mut wbuf = BytesMut::with_capacity(64 * 1024);
        let max_in = self.options.properties.maximum_packet_size.unwrap_or(u32::MAX);
        // A server that accepts the socket but never answers CONNACK must not hang us, even
        // with keep-alive off.
        let connack_deadline = Instant::now() + self.options.connect_timeout;
        self.connected_at = None;
        self.session.connection_opened(Instant::now().into_std());
        let mut io_error: Option<String> = None;
        // A TLS refusal that arrived after the handshake (see `transport::read_failure`).
        let mut tls_error: Option<Error> = None;
        // One timer for the whole connection, moved only when the engine's deadline moves:
        // a new Sleep per turn of the loop registered and removed a timer entry each time.
        let timer = tokio::time::sleep_until(connack_deadline);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        let mut batch: Vec<PublishJob> = Vec::with_capacity(256);
        let mut just_read = false;
        for _ in 0..u64::MAX {
            self.pump(Some(&mut wbuf));
            // Bytes came in and nothing goes out in answer (the send window waits for more
            // acknowledgements, or is empty): no packet of ours will carry the ACK, so send it
            // now. A broker with Nagle's algorithm on (mosquitto's default) sends its next
            // acknowledgements only once this one arrives; left to the delayed-ACK timer that
            // is ~40 ms per send window. When something does go out, the ACK rides on it.
            if std::mem::take(&mut just_read) && wbuf.is_empty() {
                rd.ack_now();
            }
            if self.session.wants_close() && wbuf.is_empty() {
                let _ = wr.shutdown().await;
                break;
            }
            if self.mode == Mode::Stopped {
                break;
            }
            let mut deadline = self.session.poll_timeout().map(Instant::from_std);
            if self.connected_at.is_none() {
                if Instant::now() >= connack_deadline {
                    io_error = Some(format!("no CONNACK within {:?}", self.options.connect_timeout));
                    break;
                }
                deadline = Some(deadline.map_or(connack_deadline, |d| d.min(connack_deadline)));
            }
            let read = self.outbox.len() < 64 || !self.events_open;
            // Under the Block policy, take publishes again only once the queue has room for a
            // batch: refilling one slot at a time wakes the publishing task once per message.
            let accept_publish = self.parked.is_empty() && self.batch_room();
            let take = self.publish_batch_limit();
            let deliver = !self.outbox.is_empty() && self.events_open;
            // A sender of our own only while there is something to deliver (the branch needs
            // it while `self` is borrowed by the others).
            let events = deliver.then(|| self.events.clone());
            if deadline != armed {
                if let Some(d) = deadline {
                    timer.as_mut().reset(d);
                }
                armed = deadline;
            }
            tokio::select! {
                r = rd.read_buf(&mut rbuf), if read => match r {
                    Ok(0) => break,
                    Ok(_) => {
                        self.decode(&mut rbuf, max_in);
                        just_read = true;
                    }
                    Err(e) => {
                        tls_error = transport::read_failure(server, &e);
                        io_error = Some(e.to_string());
                        break
                    }
                },
                // With the buffer sent, whatever TLS still holds is flushed (see WriteHalf).
                w = write_or_flush(&mut wr, &wbuf), if !wbuf.is_empty() || wr.needs_flush() => match w {
                    Ok(n) => wbuf.advance(n),
                    Err(e) => { io_error = Some(e.to_string()); break }
                },
                c = self.controls.recv() => match c {
                    Some(c) => self.on_control(c),
                    None => self.mode = Mode::Stopped,
                },
                // Everything waiting at once (up to what the queue takes), so that it goes out
                // in one write and a publisher blocked on the channel is woken once per batch
                // rather than once per message.
                n = self.publishes.recv_many(&mut batch, take), if accept_publish => {
                    if n == 0 {
                        self.mode = Mode::Stopped;
                    }
                    let now = Instant::now().into_std();
                    for p in batch.drain(..) {
                        self.on_publish(p, now);
                    }
                }
                permit = reserve(events.as_ref()), if deliver => self.deliver(permit),
                _ = &mut timer, if armed.is_some() => {
                    // Fired: re-arm on the next turn even if the deadline stays the same.
                    armed = None;
                    self.session.handle_timeout(Instant::now().into_std());
                }
            }
        }
        let connected_for = self.connected_at.map(|t| t.elapsed());
        self.session.connection_lost(Instant::now().into_std());
        self.counters.connected.store(false, Ordering::Relaxed);
        let mut cause = DisconnectCause::ConnectionLost;
        // Take the cause from the Disconnected event the engine just produced.
        while let Some(ev) = self.session.poll_event() {
            if let crate::session::Event::Disconnected { cause: c } = &ev {
                cause = c.clone();
            }
            self.on_session_event(ev);
        }
        self.emit_completions();
        if let (DisconnectCause::ConnectionLost, Some(e)) = (&cause, &io_error) {
            debug!(error = %e, "connection lost");
        }
        if connected_for.is_none() && matches!(cause, DisconnectCause::ConnectionLost) {
            if let Some(e) = tls_error {
                return Err(e);
            }
            return Err(Error::Io(
                io_error.unwrap_or_else(|| "the server closed the connection before CONNACK".into()),
            ));
        }
        Ok(Ended { cause, connected_for })
    }

    fn decode(&mut self, rbuf: &mut BytesMut, max_in: u32) {
        let now = Instant::now().into_std();
        // Bounded: each round consumes at least one packet's bytes.
        for _ in 0..rbuf.len() + 1 {
            match codec::decode(rbuf, max_in, self.session.protocol()) {
                Ok(Decoded::Packet(packet)) => self.session.handle_packet(now, packet),
                Ok(Decoded::Incomplete { .. }) => break,
                Err(e) => {
                    warn!(error = %e, "malformed packet from the server");
                    // [MQTT-4.13.1-1] DISCONNECT with the reason code, then close.
                    self.session.protocol_violation(now, e.reason_code(), e.to_string());
                    rbuf.clear();
                    break;
                }
            }
        }
    }

    /// Drain the engine: packets into `wbuf` (when connected), events to their owners. Also
    /// retries the parked publishes once there is room.
    fn pump(&mut self, mut wbuf: Option<&mut BytesMut>) {
        let now = Instant::now().into_std();
        for _ in 0..16 {
            if let Some(wbuf) = wbuf.as_deref_mut() {
                // Stop filling at the high-water mark: what is not yet encoded stays in the
                // engine's bounded queue, so a publisher faster than the socket is held back
                // by the queue limits instead of growing this buffer without bound.
                while wbuf.len() < WRITE_HIGH_WATER {
                    let Some(result) = self.session.transmit_into(now, wbuf) else { break };
                    if let Err(e) = result {
                        // Inputs are validated before they reach the engine; an encoding
                        // failure is a bug, reported rather than hidden.
                        warn!(error = %e, "cannot encode an outgoing packet");
                    }
                }
                if !wbuf.is_empty() {
                    // A PUBREL or PUBREC about to go out depends on its record: a store that
                    // promises durability (Durability::Always) makes it durable first.
                    self.session.flush_store();
                }
            }
            while let Some(ev) = self.session.poll_event() {
                self.on_session_event(ev);
            }
            let mut moved = false;
            for _ in 0..self.parked.len() {
                if !self.parked.front().is_some_and(|j| self.session.has_queue_room(j.request.weight())) {
                    break;
                }
                let Some(job) = self.parked.pop_front() else { break };
                self.submit(job, now);
                moved = true;
            }
            if !moved {
                break;
            }
        }
        self.emit_completions();
        self.counters.queued.store(self.session.queued() as u64, Ordering::Relaxed);
        self.counters.queued_bytes.store(self.session.queued_bytes() as u64, Ordering::Relaxed);
        self.counters.inflight.store(self.session.inflight() as u64, Ordering::Relaxed);
        let stats = self.session.stats();
        self.counters.messages_in.store(stats.messages_in, Ordering::Relaxed);
        self.counters.messages_out.store(stats.messages_out, Ordering::Relaxed);
        self.counters.retransmissions.store(stats.retransmissions, Ordering::Relaxed);
        self.counters.quota_retries.store(stats.quota_retries, Ordering::Relaxed);
    }
}

/// Write what `wbuf` holds, or with it empty flush the transport; how many bytes of `wbuf`
/// went.
async fn write_or_flush(wr: &mut WriteHalf, wbuf: &[u8]) -> std::io::Result<usize> {
    if wbuf.is_empty() {
        wr.flush().await.map(|()| 0)
    } else {
        wr.write(wbuf).await
    }
}

/// Completes at `deadline`; never without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// CONNACK refusals that retrying will not fix.
fn refusal_is_final(code: ConnectReasonCode) -> bool {
    use ConnectReasonCode as C;
    matches!(
        code,
        C::UnsupportedProtocolVersion
            | C::ClientIdentifierNotValid
            | C::BadUserNameOrPassword
            | C::NotAuthorized
            | C::Banned
            | C::BadAuthenticationMethod
            | C::MalformedPacket
            | C::ProtocolError
    )
}

/// CONNACK refusals that ask us to come back later.
fn refusal_is_busy(code: ConnectReasonCode) -> bool {
    use ConnectReasonCode as C;
    matches!(code, C::ServerBusy | C::ServerUnavailable | C::ConnectionRateExceeded | C::QuotaExceeded)
}

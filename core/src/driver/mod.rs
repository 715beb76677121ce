//! The IO driver: one task per client owns the connection and the session engine. It is the
//! only place with sockets and clocks. After every input it drains the engine's outputs until
//! idle: packets are encoded into one buffer and written together (many small PUBLISH packets
//! in one syscall), every complete packet in the read buffer is decoded, events go to the
//! application and completions to their waiters.

// The driver is where time comes from: the engine is handed `now`.
#![allow(clippy::disallowed_methods)]

pub mod backoff;
mod pending;
pub mod transport;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::codec::{self, ConnAck, ConnectReasonCode, Decoded, DisconnectReasonCode, Subscription};
use crate::codec::{SubscribeProperties, UnsubAckReasonCode, UnsubscribeProperties};
use crate::completion::Completer;
use crate::event::{cause_reason_code, describe_cause};
use crate::session::{
    Command, CommandError, DisconnectCause, OverflowPolicy, PublishOutcome, PublishRequest, Session,
};
use crate::{
    BeforeConnect, ConnectAttempt, DeliveryEvents, DeliveryFailure, Error, Event, FlushReport, Message,
    MqttOptions, PublishCompletion, SubscribeOutcome,
};
use backoff::Backoff;
use pending::Pending;
use transport::{ServerAddr, Transport};

/// Bytes encoded ahead of the socket at most (one write call takes them all when the socket
/// has room). 64 KiB is about 800 small PUBLISH packets per system call already; more only
/// raised peak RSS (256 KiB: +0.8 MiB on the QoS 0 benchmark) without raising throughput.
const WRITE_HIGH_WATER: usize = 64 * 1024;

/// What a delivery's waiter sees.
pub(crate) type DeliveryResult = Result<PublishOutcome, Error>;

/// A publish handed to the driver.
pub(crate) struct PublishJob {
    pub token: u64,
    pub request: PublishRequest,
    pub done: Completer<DeliveryResult>,
}

/// Requests other than publishes. They travel on their own unbounded channel so that a full
/// send queue (which holds publishes back) never holds back a disconnect or an ack.
pub(crate) enum Control {
    Connect {
        servers: Option<Vec<ServerAddr>>,
        done: Completer<Result<ConnAck, Error>>,
    },
    Subscribe {
        subscriptions: Vec<Subscription>,
        properties: SubscribeProperties,
        done: Completer<Result<SubscribeOutcome, Error>>,
    },
    Unsubscribe {
        filters: Vec<String>,
        properties: UnsubscribeProperties,
        done: Completer<Result<Vec<UnsubAckReasonCode>, Error>>,
    },
    Ack {
        ack_id: u64,
    },
    /// `upto`: the last publish token the client issued before this request; publishes up to
    /// it are taken from their channel first, so that a flush never overtakes them.
    Flush {
        upto: u64,
        done: Completer<Result<FlushReport, Error>>,
    },
    /// DISCONNECT goes out after every publish up to `upto` has been written (as far as the
    /// send quota allows).
    Disconnect {
        upto: u64,
        reason_code: DisconnectReasonCode,
        session_expiry_interval: Option<u32>,
        done: Completer<Result<(), Error>>,
    },
    /// Stop the driver now, without DISCONNECT (what dropping every handle does).
    Close,
    Reauthenticate,
}

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

    /// Not connected: take requests (publishes queue in the session) until a Connect.
    async fn idle(&mut self) {
        let accept_publish = self.parked.is_empty();
        let deliver = !self.outbox.is_empty() && self.events_open;
        let events = self.events.clone();
        tokio::select! {
            c = self.controls.recv() => match c {
                Some(c) => self.on_control(c),
                None => self.mode = Mode::Stopped,
            },
            p = self.publishes.recv(), if accept_publish => match p {
                Some(p) => self.on_publish(p, Instant::now().into_std()),
                None => self.mode = Mode::Stopped,
            },
            // Events produced as the last connection ended (Disconnected, failed deliveries)
            // reach the application without waiting for the next connection.
            permit = events.reserve(), if deliver => self.deliver(permit.ok()),
        }
        self.pump(None);
    }

    /// One connection attempt, the connection's life, and what follows it.
    async fn attempt(&mut self) {
        let servers = &self.options.servers;
        let server = servers[self.server_index % servers.len()].clone();
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
        let ended =
            match transport::connect(&attempt.server, self.options.connect_timeout, self.options.tcp_nodelay)
                .await
            {
                Ok(stream) => self.connection(stream).await,
                Err(e) => Err(Error::Io(format!("{}: {e}", attempt.server))),
            };
        if self.mode != Mode::Running {
            return;
        }
        self.after_connection(ended).await;
    }

    async fn after_connection(&mut self, ended: Result<Ended, Error>) {
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
            Err(e) => (e.clone(), false, false, false),
        };
        let was_connected = matches!(&ended, Ok(Ended { connected_for: Some(_), .. }));
        if let Some(done) = self.disconnect_waiter.take() {
            // The application asked for this end.
            done.complete(Ok(()));
            self.mode = Mode::Idle;
            return;
        }
        if !was_connected {
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

    /// Wait out a backoff while still taking requests.
    async fn wait(&mut self, delay: Duration) {
        let deadline = Instant::now() + delay;
        for _ in 0..1_000_000 {
            if self.mode != Mode::Running {
                return;
            }
            let accept_publish = self.parked.is_empty();
            let deliver = !self.outbox.is_empty() && self.events_open;
            // A clone, so that a permit borrows it rather than `self`.
            let events = self.events.clone();
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                c = self.controls.recv() => match c {
                    Some(c) => self.on_control(c),
                    None => self.mode = Mode::Stopped,
                },
                p = self.publishes.recv(), if accept_publish => match p {
                    Some(p) => self.on_publish(p, Instant::now().into_std()),
                    None => self.mode = Mode::Stopped,
                },
                permit = events.reserve(), if deliver => self.deliver(permit.ok()),
            }
            self.pump(None);
        }
    }

    /// One connection, from CONNECT to close.
    async fn connection(&mut self, stream: Box<dyn Transport>) -> Result<Ended, Error> {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut rbuf = BytesMut::with_capacity(64 * 1024);
        let mut wbuf = BytesMut::with_capacity(64 * 1024);
        let max_in = self.options.properties.maximum_packet_size.unwrap_or(u32::MAX);
        // A server that accepts the socket but never answers CONNACK must not hang us, even
        // with keep-alive off.
        let connack_deadline = Instant::now() + self.options.connect_timeout;
        self.connected_at = None;
        self.session.connection_opened(Instant::now().into_std());
        let mut io_error: Option<String> = None;
        // One timer for the whole connection, moved only when the engine's deadline moves:
        // a new Sleep per turn of the loop registered and removed a timer entry each time.
        let timer = tokio::time::sleep_until(connack_deadline);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        let mut batch: Vec<PublishJob> = Vec::with_capacity(256);
        for _ in 0..u64::MAX {
            self.pump(Some(&mut wbuf));
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
                    Ok(_) => self.decode(&mut rbuf, max_in),
                    Err(e) => { io_error = Some(e.to_string()); break }
                },
                w = wr.write(&wbuf), if !wbuf.is_empty() => match w {
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
            match codec::decode(rbuf, max_in) {
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

    fn on_publish(&mut self, job: PublishJob, now: std::time::Instant) {
        self.last_token = self.last_token.max(job.token);
        if self.options.queue.overflow == OverflowPolicy::Block
            && (!self.parked.is_empty() || !self.session.has_queue_room(job.request.weight()))
        {
            // Hold it (and with it the publish channel) until the queue has room, behind any
            // publish already held.
            self.deliveries.insert(job.token, None);
            self.parked.push_back(job);
            return;
        }
        self.submit(job, now);
    }

    /// Hand a publish to the engine.
    fn submit(&mut self, job: PublishJob, now: std::time::Instant) {
        let PublishJob { token, request, done } = job;
        match self.session.publish(now, token, request) {
            Ok(()) => {
                self.deliveries.insert(token, Some(done));
            }
            Err(refused) => {
                self.deliveries.remove(token);
                let error = Error::from(refused.error);
                let unseen = done.is_abandoned();
                self.delivery_failed(token, refused.request.topic, None, error.clone(), unseen);
                done.complete(Err(error));
                self.complete_flushes();
            }
        }
    }

    fn on_control(&mut self, control: Control) {
        let now = Instant::now().into_std();
        match control {
            Control::Connect { servers, done } => {
                if let Some(servers) = servers.filter(|s| !s.is_empty()) {
                    self.options.servers = servers;
                    self.server_index = 0;
                }
                if self.mode == Mode::Running {
                    if self.session.is_connected() {
                        done.complete(Err(Error::InvalidArgument("already connected".into())));
                    } else {
                        self.connect_waiter = Some(done);
                    }
                    return;
                }
                self.connect_waiter = Some(done);
                self.backoff.reset();
                self.mode = Mode::Running;
            }
            Control::Subscribe { subscriptions, properties, done } => {
                let token = self.control_token();
                match self
                    .session
                    .handle_command(now, Command::Subscribe { token, subscriptions, properties })
                {
                    Ok(()) => {
                        self.subscribes.insert(token, done);
                    }
                    Err(e) => done.complete(Err(e.into())),
                }
            }
            Control::Unsubscribe { filters, properties, done } => {
                let token = self.control_token();
                match self.session.handle_command(now, Command::Unsubscribe { token, filters, properties }) {
                    Ok(()) => {
                        self.unsubscribes.insert(token, done);
                    }
                    Err(e) => done.complete(Err(e.into())),
                }
            }
            Control::Ack { ack_id } => {
                if let Err(e) = self.session.handle_command(now, Command::Ack { ack_id }) {
                    debug!(error = %e, "ignored ack");
                }
            }
            Control::Flush { upto, done } => {
                self.take_publishes_upto(upto);
                self.flushes.push((upto, done));
                self.complete_flushes();
            }
            Control::Close => self.mode = Mode::Stopped,
            Control::Disconnect { upto, reason_code, session_expiry_interval, done } => {
                self.take_publishes_upto(upto);
                let command =
                    Command::Disconnect { reason_code, session_expiry_interval, reason_string: None };
                match self.session.handle_command(now, command) {
                    Ok(()) => self.disconnect_waiter = Some(done),
                    Err(CommandError::NotConnected) => {
                        // Not connected (perhaps between reconnects): stop trying.
                        if self.mode == Mode::Running {
                            self.mode = Mode::Idle;
                        }
                        if let Some(c) = self.connect_waiter.take() {
                            c.complete(Err(Error::Closed));
                        }
                        done.complete(Ok(()));
                    }
                    Err(e) => done.complete(Err(e.into())),
                }
            }
            Control::Reauthenticate => {
                if let Err(e) = self.session.handle_command(now, Command::Reauthenticate) {
                    warn!(error = %e, "re-authentication refused");
                }
            }
        }
    }

    /// How many publishes to take from the channel at once: under Block no more than the
    /// queue has slots for, so that they need not be parked.
    fn publish_batch_limit(&self) -> usize {
        if self.options.queue.overflow != OverflowPolicy::Block {
            return 256;
        }
        self.session.queue_free_slots().clamp(1, 256)
    }

    /// Is there room in the send queue for a batch of publishes (always true unless the
    /// Block policy holds publishers back)?
    fn batch_room(&self) -> bool {
        if self.options.queue.overflow != OverflowPolicy::Block {
            return true;
        }
        let batch = (self.options.queue.max_messages / 8).clamp(1, 64);
        self.session.queue_free_slots() >= batch
    }

    /// Take publishes from their channel until the one with token `upto` (issued before the
    /// request being handled) has been seen; it is already in the channel, since the client
    /// sent it before the request.
    fn take_publishes_upto(&mut self, upto: u64) {
        let now = Instant::now().into_std();
        for _ in 0..1_000_000 {
            if self.last_token >= upto || !self.parked.is_empty() {
                return;
            }
            match self.publishes.try_recv() {
                Ok(job) => self.on_publish(job, now),
                Err(_) => return,
            }
        }
    }

    fn control_token(&mut self) -> u64 {
        self.next_control_token += 1;
        self.next_control_token
    }

    fn on_session_event(&mut self, event: crate::session::Event) {
        use crate::session::Event as S;
        match event {
            S::Connected { session_present, properties } => {
                self.connected_at = Some(Instant::now());
                self.counters.connected.store(true, Ordering::Relaxed);
                let c = &self.counters;
                c.server_maximum_qos.store(properties.maximum_qos.unwrap_or(2).min(2) + 1, Ordering::Relaxed);
                c.server_maximum_packet_size
                    .store(properties.maximum_packet_size.unwrap_or(0), Ordering::Relaxed);
                c.server_retain_unavailable.store(properties.retain_available == Some(0), Ordering::Relaxed);
                c.server_topic_alias_maximum
                    .store(u32::from(properties.topic_alias_maximum.unwrap_or(0)) + 1, Ordering::Relaxed);
                let ack = ConnAck {
                    session_present,
                    reason_code: ConnectReasonCode::Success,
                    properties: *properties,
                };
                info!(session_present, "connected");
                if let Some(done) = self.connect_waiter.take() {
                    done.complete(Ok(ack.clone()));
                }
                self.emit(Event::Connected(ack));
            }
            S::Disconnected { cause } => {
                info!(cause = %describe_cause(&cause), "disconnected");
                self.emit(Event::Disconnected { reason_code: cause_reason_code(&cause), cause });
            }
            S::SessionLost { republished, failed } => {
                warn!(republished, failed, "the server did not keep the session");
                self.emit(Event::SessionLost { republished, failed });
            }
            S::Message(m) => {
                let m = *m;
                self.emit(Event::Message(Message {
                    topic: m.topic,
                    payload: m.payload,
                    qos: m.qos,
                    dup: m.dup,
                    retain: m.retain,
                    properties: m.properties,
                    ack_id: m.ack_id,
                }));
            }
            S::PacketIdAssigned { token, packet_id } => {
                if let Some(Some(done)) = self.deliveries.get(token) {
                    done.set_aux(u32::from(packet_id.get()));
                }
            }
            S::PublishDone { token, result, failed } => {
                if let Err(
                    e @ (crate::session::PublishError::Expired | crate::session::PublishError::Overflow),
                ) = &result
                {
                    self.emit(Event::Dropped { token, reason: e.to_string() });
                }
                let result = result.map_err(Error::from);
                let entry = self.deliveries.remove(token).flatten();
                let mode = DeliveryEvents::from_u8(self.counters.delivery_events.load(Ordering::Relaxed));
                match &result {
                    Ok(_) => self.report.note_success(),
                    Err(e) => {
                        let (topic, packet_id) = failed.map(|f| (f.topic, f.packet_id)).unwrap_or_default();
                        let unseen =
                            mode == DeliveryEvents::Off && entry.as_ref().is_none_or(|d| d.is_abandoned());
                        self.delivery_failed(token, topic, packet_id, e.clone(), unseen);
                    }
                }
                if mode != DeliveryEvents::Off {
                    let packet_id = match (&result, &entry) {
                        (Ok(o), _) => o.packet_id,
                        (Err(_), Some(done)) => crate::codec::PacketId::new(done.aux() as u16),
                        (Err(_), None) => None,
                    };
                    // The Delivery completes before the event is out, so that whoever reacts
                    // to the event finds the Delivery done.
                    if let Some(done) = entry {
                        done.complete(result.clone());
                    }
                    if mode == DeliveryEvents::Batched {
                        self.completed.push(PublishCompletion { token, packet_id, result });
                    } else {
                        self.emit(Event::PublishComplete { token, packet_id, result });
                    }
                } else if let Some(done) = entry {
                    done.complete(result);
                }
                self.complete_flushes();
            }
            S::SubscribeDone { token, reason_codes, properties } => {
                if let Some(done) = self.subscribes.remove(&token) {
                    done.complete(Ok(SubscribeOutcome { reason_codes, properties }));
                }
            }
            S::UnsubscribeDone { token, reason_codes, .. } => {
                if let Some(done) = self.unsubscribes.remove(&token) {
                    done.complete(Ok(reason_codes));
                }
            }
            S::RequestFailed { token, error } => {
                let error =
                    Error::Protocol { reason_code: DisconnectReasonCode::ProtocolError, message: error };
                if let Some(done) = self.subscribes.remove(&token) {
                    done.complete(Err(error));
                } else if let Some(done) = self.unsubscribes.remove(&token) {
                    done.complete(Err(error));
                }
            }
            S::Reauthenticated { result } => match result {
                Ok(()) => info!("re-authenticated"),
                Err(e) => warn!(error = %e, "re-authentication failed"),
            },
        }
    }

    /// Every failed delivery is counted and goes into the next flush's report; one that
    /// nobody can see any more (its `Delivery` dropped, no delivery events) is also logged,
    /// once, so that it is never lost silently.
    fn delivery_failed(
        &mut self,
        token: u64,
        topic: String,
        packet_id: Option<crate::codec::PacketId>,
        error: Error,
        unseen: bool,
    ) {
        self.counters.deliveries_failed.fetch_add(1, Ordering::Relaxed);
        let failure = DeliveryFailure { token, topic, packet_id, error };
        if unseen {
            let id = packet_id.map(|p| p.get());
            warn!(topic = %failure.topic, packet_id = ?id, reason = %failure.error, "delivery failed and nobody awaited it");
            self.emit(Event::DeliveryFailed(failure.clone()));
        }
        self.report.note_failure(failure);
    }

    fn complete_flushes(&mut self) {
        if self.flushes.is_empty() {
            return;
        }
        let oldest = self.deliveries.first();
        let taken = self.last_token;
        // Done when every publish up to `upto` has been taken from the channel (one held back
        // behind a parked publish is not yet outstanding) and none of them is outstanding.
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.flushes)
            .into_iter()
            .partition(|(upto, _)| taken >= *upto && oldest.is_none_or(|o| o > *upto));
        self.flushes = waiting;
        for (_, done) in ready {
            // The first flush to complete reports what ended since the previous one.
            done.complete(std::mem::take(&mut self.report).into_result());
        }
    }

    /// Hand the completions collected in this turn over as one event.
    fn emit_completions(&mut self) {
        if !self.completed.is_empty() {
            let batch = std::mem::take(&mut self.completed);
            self.emit(Event::PublishesComplete(batch));
        }
    }

    fn emit(&mut self, event: Event) {
        if !self.events_open {
            self.completed.clear();
            return;
        }
        // Keep the order: completions collected before this event go first.
        if !self.completed.is_empty() && !matches!(event, Event::PublishesComplete(_)) {
            self.emit_completions();
        }
        if !self.outbox.is_empty() {
            // Keep the order: behind what already waits.
            self.outbox.push_back(event);
            return;
        }
        // The common case hands the event over at once, without another turn of the loop.
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => self.outbox.push_back(event),
            Err(mpsc::error::TrySendError::Closed(_)) => self.events_open = false,
        }
    }

    fn deliver(&mut self, permit: Option<mpsc::Permit<'_, Event>>) {
        match permit {
            Some(permit) => {
                if let Some(ev) = self.outbox.pop_front() {
                    permit.send(ev);
                }
            }
            None => {
                // Nobody listens any more: stop collecting events.
                self.events_open = false;
                self.outbox.clear();
            }
        }
    }
}

/// Room for one event in the application's stream (None: nobody listens any more).
async fn reserve(events: Option<&mpsc::Sender<Event>>) -> Option<mpsc::Permit<'_, Event>> {
    match events {
        Some(events) => events.reserve().await.ok(),
        None => std::future::pending().await,
    }
}

/// Run the application's before-connect hook on the blocking pool, never on a runtime worker:
/// it may take its time (fetch a token, read a file) without stalling the other clients on the
/// runtime, and it works on a current-thread runtime too (where `block_in_place` would panic).
/// The driver waits for it, as it did when the hook ran inline. A panic in the hook goes on
/// in the driver task, as before.
async fn before_connect(hook: BeforeConnect, mut attempt: ConnectAttempt) -> ConnectAttempt {
    let unchanged = attempt.clone();
    let span = tracing::Span::current();
    let ran = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        hook(&mut attempt);
        attempt
    })
    .await;
    match ran {
        Ok(attempt) => attempt,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down (and this task with it).
        Err(_) => unchanged,
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

/// The authenticator as the engine wants it, shared with the options that own it (options
/// are `Clone`; an authenticator is not).
pub(crate) struct SharedAuthenticator {
    inner: Arc<Mutex<Box<dyn crate::session::Authenticator>>>,
    /// The method name does not change during the authenticator's life; a copy is kept so
    /// that `method()` can hand out a reference without holding the lock.
    method: String,
}

impl SharedAuthenticator {
    pub(crate) fn new(inner: Arc<Mutex<Box<dyn crate::session::Authenticator>>>) -> Self {
        let method = crate::sync::lock(&inner).method().to_owned();
        SharedAuthenticator { inner, method }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn crate::session::Authenticator>> {
        crate::sync::lock(&self.inner)
    }
}

impl crate::session::Authenticator for SharedAuthenticator {
    fn method(&self) -> &str {
        &self.method
    }
    fn initial_data(&mut self) -> Option<bytes::Bytes> {
        self.lock().initial_data()
    }
    fn challenge(&mut self, data: Option<&bytes::Bytes>) -> Result<Option<bytes::Bytes>, String> {
        self.lock().challenge(data)
    }
    fn success(&mut self, data: Option<&bytes::Bytes>) -> Result<(), String> {
        self.lock().success(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hook runs off the runtime's threads (here a current-thread runtime, where
    /// `block_in_place` would panic), and what it changes comes back to the attempt.
    #[test]
    fn before_connect_runs_on_the_blocking_pool() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let runtime_thread = std::thread::current().id();
        let hook: BeforeConnect = Arc::new(move |attempt: &mut ConnectAttempt| {
            assert_ne!(std::thread::current().id(), runtime_thread);
            std::thread::sleep(Duration::from_millis(10));
            attempt.username = Some(format!("user-{}", attempt.attempt));
        });
        let attempt = ConnectAttempt {
            server: ServerAddr::tcp("127.0.0.1", 1883),
            attempt: 3,
            username: None,
            password: None,
        };
        let attempt = rt.block_on(before_connect(hook, attempt));
        assert_eq!(attempt.username.as_deref(), Some("user-3"));
    }
}

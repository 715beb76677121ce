//! The public Rust API: [`AsyncClient`] for tokio applications, [`Client`] for blocking code
//! on the shared runtime. Both are handles onto one driver task; clone them freely.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::codec::{
    ConnAck, DisconnectReasonCode, PacketId, PublishProperties, QoS, SubAckReasonCode, SubscribeProperties,
    Subscription, SubscriptionOptions, UnsubAckReasonCode, UnsubscribeProperties,
};
use crate::codec::{ProtocolVersion, Publish};
use crate::completion::{self, completion, Completion};
use crate::driver::transport::ServerAddr;
use crate::driver::{Control, Counters, DeliveryResult, Driver, PublishJob, SharedAuthenticator};
use crate::session::{
    check_topic_alias, v311, validate_publish, CommandError, Config, PublishOutcome, PublishRequest, Session,
};
use crate::store::{FileStore, OutgoingState, SessionMeta, StoredMessage};
use crate::validate;
use crate::{DeliveryEvents, Error, Event, FlushReport, Message, MqttOptions, Pending, SubscribeOutcome};

/// A snapshot of the client's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub messages_in: u64,
    pub messages_out: u64,
    pub retransmissions: u64,
    pub reconnects: u64,
    /// Messages waiting to be sent (not yet in flight).
    pub queued: u64,
    pub queued_bytes: u64,
    /// QoS>0 messages sent and not yet acknowledged.
    pub inflight: u64,
    pub connected: bool,
    /// Deliveries that failed (refused by the server, expired, dropped, lost with the
    /// session), whether or not anyone awaited them.
    pub deliveries_failed: u64,
    /// Messages published again after the server refused them with 0x97 Quota exceeded.
    pub quota_retries: u64,
}

/// Check that `store` may hold this client's session, and record who it belongs to.
fn adopt_store(store: &FileStore, options: &MqttOptions) -> Result<(), Error> {
    store.claim().map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let meta = SessionMeta {
        client_id: options.client_id.clone(),
        server: options.servers.first().map(|s| format!("{s:?}")).unwrap_or_default(),
        session_expiry: options.properties.session_expiry_interval.unwrap_or(0),
        protocol: options.protocol.level(),
    };
    if let Some(old) = store.meta() {
        if old.client_id != meta.client_id {
            // Resuming another client's session would hand its messages to the wrong
            // session on the server.
            return Err(Error::InvalidArgument(format!(
                "the session store holds the session of client {:?}, not {:?}",
                old.client_id, meta.client_id
            )));
        }
    }
    store.set_meta(&meta).map_err(Error::store)
}

/// The outcome of one publish: resolves when the message is acknowledged (QoS 1: PUBACK,
/// QoS 2: PUBCOMP; QoS 0: written), or fails with the reason. Await it, or `wait` for it from
/// blocking code. Dropping it does not cancel the publish.
pub struct Delivery {
    token: u64,
    done: Completion<DeliveryResult>,
}

impl Clone for Delivery {
    /// Another handle onto the same delivery (for waiting from another task or thread).
    fn clone(&self) -> Self {
        Delivery { token: self.token, done: self.done.clone() }
    }
}

impl Delivery {
    /// The token of this publish (unique per client).
    pub fn token(&self) -> u64 {
        self.token
    }

    /// The packet identifier, as soon as one is assigned (QoS > 0, once the message is in
    /// flight).
    pub fn packet_id(&self) -> Option<PacketId> {
        PacketId::new(self.done.aux() as u16)
    }

    pub fn is_done(&self) -> bool {
        self.done.is_done()
    }

    /// The result if it is there, without waiting.
    pub fn result(&self) -> Option<DeliveryResult> {
        self.done.peek()
    }

    /// Block until the delivery completes or `timeout` passes (then `Error::Timeout`).
    pub fn wait(&self, timeout: Option<Duration>) -> DeliveryResult {
        self.done.wait(timeout).unwrap_or_else(|| {
            Err(Error::Timeout(format!("delivery {} not complete within {timeout:?}", self.token)))
        })
    }
}

impl Future for Delivery {
    type Output = DeliveryResult;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DeliveryResult> {
        Pin::new(&mut self.done).poll(cx)
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").field("token", &self.token).field("done", &self.is_done()).finish()
    }
}

struct Inner {
    publishes: mpsc::Sender<PublishJob>,
    controls: mpsc::UnboundedSender<Control>,
    events: tokio::sync::Mutex<mpsc::Receiver<Event>>,
    next_token: AtomicU64,
    /// The highest token whose publish is in the driver's channel. Flush and disconnect wait
    /// for publishes up to it: a token taken by a publish still waiting for channel room (or
    /// one that gave up) is not covered, so a flush never waits for a publish that may never
    /// arrive.
    sent_token: AtomicU64,
    counters: Arc<Counters>,
    client_id: String,
    stopped: Completion<()>,
    /// Why the options cannot make a connection ([`MqttOptions::validate`]): every connect
    /// fails with it, before anything is sent.
    invalid: Option<Error>,
    /// [`MqttOptions::set_auto_topic_alias`]: whether the application may give its own
    /// Topic Alias.
    auto_topic_alias: bool,
    /// [`MqttOptions::set_protocol_version`]: on 3.1.1 a 5.0-only request fails at the call.
    protocol: ProtocolVersion,
    /// [`MqttOptions::set_store`]: the publishing thread records each QoS 1/2 message here
    /// before `publish` returns.
    store: Option<FileStore>,
    /// The deliveries of the messages restored from the store, in their original order, with
    /// their topic and QoS.
    restored: Vec<(Delivery, String, QoS)>,
}

/// An MQTT 5.0 client for tokio applications.
///
/// ```no_run
/// # async fn run() -> Result<(), tether_core::Error> {
/// use tether_core::{AsyncClient, MqttOptions, QoS};
/// let mut options = MqttOptions::new("sensor-1", "127.0.0.1", 1883);
/// options.set_session_expiry_interval(u32::MAX).set_clean_start(false);
/// let client = AsyncClient::new(options);
/// let ack = client.connect().await?;
/// println!("session present: {}", ack.session_present);
/// client.subscribe("sensors/#", QoS::AtLeastOnce).await?;
/// client.publish("sensors/1", QoS::AtLeastOnce, false, "21.5").await?.await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AsyncClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AsyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncClient").field("client_id", &self.inner.client_id).finish()
    }
}

fn closed<T>() -> Result<T, Error> {
    Err(Error::Closed)
}

impl AsyncClient {
    /// A client whose driver runs on the current tokio runtime, or on the shared background
    /// runtime when called outside one. Nothing connects until [`AsyncClient::connect`].
    pub fn new(options: MqttOptions) -> Self {
        Self::spawn(options, &crate::runtime::current_or_shared())
    }

    /// A client whose driver runs on `handle`.
    pub fn with_runtime(options: MqttOptions, handle: &tokio::runtime::Handle) -> Self {
        Self::spawn(options, handle)
    }

    fn spawn(options: MqttOptions, handle: &tokio::runtime::Handle) -> Self {
        let mut invalid = options.validate().err();
        let mut config = Config::new(options.client_id.clone());
        config.clean_start = options.clean_start;
        config.keep_alive = options.keep_alive_secs();
        config.username = options.username.clone();
        config.password = options.password.clone();
        config.will = options.last_will.clone();
        config.properties = options.properties.clone();
        config.queue = options.queue;
        config.on_session_lost = options.on_session_lost;
        config.quota_retry = options.quota_retry;
        config.auto_topic_alias = options.auto_topic_alias;
        config.manual_ack = options.manual_acks;
        config.authenticator = options
            .authenticator
            .clone()
            .map(|a| Box::new(SharedAuthenticator::new(a)) as Box<dyn crate::session::Authenticator>);
        config.protocol = options.protocol;
        config.max_inflight = options.max_inflight;
        let protocol = options.protocol;
        let store = options.store.clone();
        let session = match &store {
            None => Session::new(config),
            Some(store) => match adopt_store(store, &options) {
                // [MQTT-4.1.0-1] the session state outlives the process: queued and in-flight
                // messages, with their packet identifiers reserved, and incoming QoS 2 ids.
                Ok(()) => Session::restore(config, Box::new(store.clone())),
                Err(e) => {
                    invalid = invalid.or(Some(e));
                    Session::new(config)
                }
            },
        };
        let restored_messages = if invalid.is_none() { session.outgoing_messages() } else { Vec::new() };
        let first_token = session.max_token() + 1;
        let (ptx, prx) = mpsc::channel(options.request_capacity);
        let (ctx, crx) = mpsc::unbounded_channel();
        let (etx, erx) = mpsc::channel(options.event_capacity);
        if let Some(skipped) = store.as_ref().map(|s| s.restore_report().corrupt).filter(|n| *n > 0) {
            // Told once at start: the corrupt records were skipped (and logged), the rest restored.
            let _ = etx.try_send(Event::StoreCorrupt { skipped });
        }
        let counters = Arc::new(Counters::default());
        let delivery_events =
            if options.delivery_events { DeliveryEvents::Each } else { DeliveryEvents::Off };
        counters.delivery_events.store(delivery_events.to_u8(), Ordering::Relaxed);
        let client_id = options.client_id.clone();
        let auto_topic_alias = options.auto_topic_alias;
        let (stopped_tx, stopped) = completion(|| ());
        let mut driver = Driver::new(session, options, prx, crx, etx, counters.clone(), stopped_tx);
        let restored: Vec<(Delivery, String, QoS)> = restored_messages
            .into_iter()
            .map(|(_, token, topic, qos)| {
                let (done, completion) = completion(closed::<PublishOutcome>);
                driver.adopt_restored(token, done);
                (Delivery { token, done: completion }, topic, qos)
            })
            .collect();
        handle.spawn(driver.run());
        AsyncClient {
            inner: Arc::new(Inner {
                publishes: ptx,
                controls: ctx,
                events: tokio::sync::Mutex::new(erx),
                next_token: AtomicU64::new(first_token),
                sent_token: AtomicU64::new(first_token - 1),
                counters,
                client_id,
                stopped,
                invalid,
                auto_topic_alias,
                protocol,
                store,
                restored,
            }),
        }
    }

    /// The deliveries of the messages restored from the session store
    /// ([`MqttOptions::set_store`]) when the client was created, in their original order:
    /// await them to learn the outcome of what a previous run of the process published.
    /// Empty without a store.
    ///
    /// ```no_run
    /// # async fn f(client: tether_core::AsyncClient) {
    /// for delivery in client.restored() {
    ///     println!("restored publish {}: {:?}", delivery.token(), delivery.await);
    /// }
    /// # }
    /// ```
    pub fn restored(&self) -> Vec<Delivery> {
        self.inner.restored.iter().map(|(d, _, _)| d.clone()).collect()
    }

    /// [`AsyncClient::restored`] with each message's topic and QoS (for reports, and for the
    /// faces' delivery objects).
    ///
    /// ```no_run
    /// # fn f(client: tether_core::AsyncClient) {
    /// for (delivery, topic, qos) in client.restored_details() {
    ///     println!("{topic} at {qos:?}: token {}", delivery.token());
    /// }
    /// # }
    /// ```
    pub fn restored_details(&self) -> Vec<(Delivery, String, QoS)> {
        self.inner.restored.clone()
    }

    /// True when the client keeps its session in a store ([`MqttOptions::set_store`]). The
    /// store is released for another client once every handle is dropped and the driver has
    /// stopped ([`AsyncClient::close`], then [`AsyncClient::closed`]).
    ///
    /// ```no_run
    /// # fn f(client: tether_core::AsyncClient) {
    /// if client.has_store() {
    ///     client.close();
    /// }
    /// # }
    /// ```
    pub fn has_store(&self) -> bool {
        self.inner.store.is_some()
    }

    /// Hand a prepared publish to the driver through a reserved channel slot. With a store,
    /// the message's record is written first (at the store's durability level) and the slot
    /// filled while the store is locked, so that channel order is the store's order; a
    /// message the store cannot record is refused here and never queued.
    fn hand_off(&self, permit: mpsc::Permit<'_, PublishJob>, mut job: PublishJob) -> Result<(), Error> {
        let Some(store) = &self.inner.store else {
            permit.send(job);
            return Ok(());
        };
        let token = job.token;
        let r = &job.request;
        let publish = (r.qos > QoS::AtMostOnce).then(|| Publish {
            dup: false,
            qos: r.qos,
            retain: r.retain,
            topic: r.topic.clone(),
            packet_id: None,
            properties: r.properties.clone(),
            payload: r.payload.clone(),
        });
        let record = move |seq| {
            publish.map(|publish| StoredMessage { seq, token, publish, state: OutgoingState::Queued })
        };
        let send = move |seq| {
            job.seq = Some(seq);
            permit.send(job);
        };
        store.accept(record, send).map_err(Error::store)
    }

    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The highest token of a publish handed to the driver (0 before the first).
    fn last_token(&self) -> u64 {
        self.inner.sent_token.load(Ordering::Acquire)
    }

    /// Record that the publish with `token` is in the driver's channel.
    fn sent(&self, token: u64) {
        self.inner.sent_token.fetch_max(token, Ordering::AcqRel);
    }

    /// Choose how completed publishes are reported while the client runs (the initial setting
    /// is [`MqttOptions::set_delivery_events`]: `true` is [`DeliveryEvents::Each`]). Publishes
    /// completing after the call follow the new setting. With nobody reading them, these
    /// events only cost time.
    ///
    /// ```no_run
    /// # fn run(client: tether_core::AsyncClient) {
    /// client.set_delivery_events(tether_core::DeliveryEvents::Each);
    /// # }
    /// ```
    pub fn set_delivery_events(&self, mode: DeliveryEvents) {
        self.inner.counters.delivery_events.store(mode.to_u8(), Ordering::Relaxed);
    }

    /// Stop the client's driver now, without DISCONNECT (the broker then publishes the will).
    /// Pending deliveries fail with `Error::Closed`. Use [`AsyncClient::closed`] to wait for it.
    pub fn close(&self) {
        let _ = self.inner.controls.send(Control::Close);
    }

    /// Completes when the driver task has ended (after [`AsyncClient::close`], or once every
    /// handle is dropped): from then on the client holds no socket and no task.
    pub fn closed(&self) -> Pending<()> {
        self.inner.stopped.clone()
    }

    fn control<T: Clone>(
        &self,
        make: impl FnOnce(completion::Completer<Result<T, Error>>) -> Control,
    ) -> Completion<Result<T, Error>> {
        let (tx, rx) = completion(closed::<T>);
        // A send error means the driver is gone; the dropped completer then says Closed.
        let _ = self.inner.controls.send(make(tx));
        rx
    }

    /// Connect to the configured servers (tried in turn) and wait for CONNACK. After the
    /// first success the client reconnects by itself, resuming the session.
    pub async fn connect(&self) -> Result<ConnAck, Error> {
        self.connect_request(None).await
    }

    /// Connect to `server` instead of the configured servers.
    pub async fn connect_to(&self, server: ServerAddr) -> Result<ConnAck, Error> {
        self.connect_request(Some(vec![server])).await
    }

    /// Start connecting; the [`Pending`] completes with the CONNACK (for callers that wait with
    /// a timeout, such as the C and Python faces).
    pub fn connect_request(&self, servers: Option<Vec<ServerAddr>>) -> Completion<Result<ConnAck, Error>> {
        if let Some(e) = &self.inner.invalid {
            let (done, refused) = completion(closed::<ConnAck>);
            done.complete(Err(e.clone()));
            return refused;
        }
        self.control(|done| Control::Connect { servers, done })
    }

    /// Publish a message. Returns once the client has taken it (waiting only when the send
    /// queue is full under `OverflowPolicy::Block`); await the [`Delivery`] for the
    /// acknowledgement. Invalid input fails here, before anything is queued.
    pub async fn publish(
        &self,
        topic: impl Into<String>,
        qos: QoS,
        retain: bool,
        payload: impl Into<Bytes>,
    ) -> Result<Delivery, Error> {
        self.publish_with_properties(topic, qos, retain, payload, PublishProperties::default()).await
    }

    /// Publish with PUBLISH properties (content type, response topic, correlation data, user
    /// properties, message expiry, payload format).
    pub async fn publish_with_properties(
        &self,
        topic: impl Into<String>,
        qos: QoS,
        retain: bool,
        payload: impl Into<Bytes>,
        properties: PublishProperties,
    ) -> Result<Delivery, Error> {
        let (job, delivery) = self.prepare(topic.into(), qos, retain, payload.into(), properties)?;
        let permit = self.inner.publishes.reserve().await.map_err(|_| Error::Closed)?;
        self.hand_off(permit, job)?;
        self.sent(delivery.token);
        Ok(delivery)
    }

    /// Publish without waiting: the client takes the message now or not at all. Returns
    /// [`Error::QueueFull`] when the hand-off to the client has no room (the send queue is full
    /// under `OverflowPolicy::Block`, or the client is busy), and then nothing is sent. For
    /// callbacks, where waiting for room could wait for the very thread that makes it.
    ///
    /// ```no_run
    /// # fn f(client: &tether_core::AsyncClient) -> Result<(), tether_core::Error> {
    /// use tether_core::{PublishProperties, QoS};
    /// let delivery = client.try_publish("t", QoS::AtLeastOnce, false, "x", PublishProperties::default())?;
    /// # Ok(()) }
    /// ```
    pub fn try_publish(
        &self,
        topic: impl Into<String>,
        qos: QoS,
        retain: bool,
        payload: impl Into<Bytes>,
        properties: PublishProperties,
    ) -> Result<Delivery, Error> {
        let (job, delivery) = self.prepare(topic.into(), qos, retain, payload.into(), properties)?;
        let permit = self.inner.publishes.try_reserve().map_err(|e| match e {
            mpsc::error::TrySendError::Full(()) => {
                Error::QueueFull("the client cannot take the message without waiting".into())
            }
            mpsc::error::TrySendError::Closed(()) => Error::Closed,
        })?;
        self.hand_off(permit, job)?;
        self.sent(delivery.token);
        Ok(delivery)
    }

    fn prepare(
        &self,
        topic: String,
        qos: QoS,
        retain: bool,
        payload: Bytes,
        properties: PublishProperties,
    ) -> Result<(PublishJob, Delivery), Error> {
        let request = PublishRequest { topic, payload, qos, retain, properties };
        validate_publish(&request)?;
        if self.inner.protocol == ProtocolVersion::V311 {
            v311::check_publish(&request)?;
        }
        self.check_server_limits(&request)?;
        let token = self.inner.next_token.fetch_add(1, Ordering::Relaxed);
        let (done, completion) = completion(closed::<PublishOutcome>);
        Ok((PublishJob { token, request, done, seq: None }, Delivery { token, done: completion }))
    }

    /// Bad input fails at the call: a publish that the server's limits (from the last CONNACK)
    /// do not admit is refused here, before it is queued. The engine checks again when the
    /// message leaves the queue, since a later CONNACK may bring other limits.
    fn check_server_limits(&self, request: &PublishRequest) -> Result<(), Error> {
        let c = &self.inner.counters;
        let max_qos = c.server_maximum_qos.load(Ordering::Relaxed);
        if max_qos > 0 && request.qos as u8 >= max_qos {
            // [MQTT-3.2.2-11] never above the server's Maximum QoS.
            return Err(
                CommandError::QoSNotSupported { requested: request.qos as u8, maximum: max_qos - 1 }.into()
            );
        }
        if request.retain && c.server_retain_unavailable.load(Ordering::Relaxed) {
            // [MQTT-3.2.2-14] no retained messages when Retain Available is 0.
            return Err(CommandError::RetainNotSupported.into());
        }
        let alias_max = c.server_topic_alias_maximum.load(Ordering::Relaxed);
        let alias_max = alias_max.checked_sub(1).map(|m| m as u16);
        check_topic_alias(request.properties.topic_alias, self.inner.auto_topic_alias, alias_max)?;
        let max = c.server_maximum_packet_size.load(Ordering::Relaxed);
        if max > 0 {
            // [MQTT-3.2.2-15] never a packet above the server's Maximum Packet Size.
            let probe = Publish {
                dup: false,
                qos: request.qos,
                retain: request.retain,
                topic: request.topic.clone(),
                packet_id: (request.qos > QoS::AtMostOnce).then_some(PacketId::MIN),
                properties: request.properties.clone(),
                payload: request.payload.clone(),
            };
            let size = probe.encoded_len();
            if size > max as usize {
                return Err(Error::PacketTooLarge { size, max });
            }
        }
        Ok(())
    }

    /// Subscribe to one filter; returns the server's reason codes (one).
    pub async fn subscribe(
        &self,
        filter: impl Into<String>,
        qos: QoS,
    ) -> Result<Vec<SubAckReasonCode>, Error> {
        let subscription = Subscription {
            filter: filter.into(),
            options: SubscriptionOptions { qos, ..Default::default() },
        };
        Ok(self.subscribe_many(vec![subscription], SubscribeProperties::default()).await?.reason_codes)
    }

    /// Subscribe with full options (no-local, retain-as-published, retain handling) and
    /// properties (subscription identifier, user properties).
    pub async fn subscribe_many(
        &self,
        subscriptions: Vec<Subscription>,
        properties: SubscribeProperties,
    ) -> Result<SubscribeOutcome, Error> {
        self.subscribe_request(subscriptions, properties)?.await
    }

    pub fn subscribe_request(
        &self,
        subscriptions: Vec<Subscription>,
        properties: SubscribeProperties,
    ) -> Result<Completion<Result<SubscribeOutcome, Error>>, Error> {
        validate::subscriptions(&subscriptions, &properties)?;
        if self.inner.protocol == ProtocolVersion::V311 {
            v311::check_subscribe(&subscriptions, &properties)?;
        }
        Ok(self.control(|done| Control::Subscribe { subscriptions, properties, done }))
    }

    pub async fn unsubscribe(&self, filter: impl Into<String>) -> Result<Vec<UnsubAckReasonCode>, Error> {
        self.unsubscribe_many(vec![filter.into()], UnsubscribeProperties::default()).await
    }

    pub async fn unsubscribe_many(
        &self,
        filters: Vec<String>,
        properties: UnsubscribeProperties,
    ) -> Result<Vec<UnsubAckReasonCode>, Error> {
        self.unsubscribe_request(filters, properties)?.await
    }

    pub fn unsubscribe_request(
        &self,
        filters: Vec<String>,
        properties: UnsubscribeProperties,
    ) -> Result<Completion<Result<Vec<UnsubAckReasonCode>, Error>>, Error> {
        if filters.is_empty() {
            return Err(Error::InvalidArgument("unsubscribe needs at least one topic filter".into()));
        }
        for f in &filters {
            crate::codec::topic::validate_topic_filter(f)
                .map_err(|e| Error::InvalidTopic(format!("{f:?}: {e}")))?;
        }
        if self.inner.protocol == ProtocolVersion::V311 {
            v311::check_unsubscribe(&properties)?;
        }
        Ok(self.control(|done| Control::Unsubscribe { filters, properties, done }))
    }

    /// Acknowledge by id ([`Message::ack_id`]), for faces that keep the id, not the message.
    pub fn ack_id(&self, ack_id: u64) -> Result<(), Error> {
        self.inner.controls.send(Control::Ack { ack_id }).map_err(|_| Error::Closed)
    }

    /// Acknowledge a message received with manual acks. The client sends PUBACK/PUBREC in
    /// the order the messages arrived, whatever order the application acks them in.
    pub fn ack(&self, message: &Message) -> Result<(), Error> {
        let Some(ack_id) = message.ack_id else {
            return Err(Error::InvalidArgument(
                "this message needs no ack (QoS 0, or manual acks are off)".into(),
            ));
        };
        self.inner.controls.send(Control::Ack { ack_id }).map_err(|_| Error::Closed)
    }

    /// Wait until every publish made so far has completed (delivered or failed). Reports
    /// the deliveries that ended since the previous flush: `Ok` when none failed, else
    /// [`Error::DeliveryFailed`] with the count and the first failures, so that a failure
    /// nobody awaited still reaches the application.
    pub async fn flush(&self) -> Result<FlushReport, Error> {
        self.flush_request().await
    }

    pub fn flush_request(&self) -> Completion<Result<FlushReport, Error>> {
        let upto = self.last_token();
        self.control(|done| Control::Flush { upto, done })
    }

    /// Send DISCONNECT (normal) and close. Queued messages stay queued for a later connect.
    pub async fn disconnect(&self) -> Result<(), Error> {
        self.disconnect_with(DisconnectReasonCode::NormalDisconnection, None).await
    }

    /// DISCONNECT with a reason code and, optionally, a new session expiry.
    pub async fn disconnect_with(
        &self,
        reason_code: DisconnectReasonCode,
        session_expiry_interval: Option<u32>,
    ) -> Result<(), Error> {
        self.disconnect_request(reason_code, session_expiry_interval).await
    }

    pub fn disconnect_request(
        &self,
        reason_code: DisconnectReasonCode,
        session_expiry_interval: Option<u32>,
    ) -> Completion<Result<(), Error>> {
        let upto = self.last_token();
        self.control(|done| Control::Disconnect { upto, reason_code, session_expiry_interval, done })
    }

    /// Start a re-authentication with the configured authenticator.
    pub fn reauthenticate(&self) -> Result<(), Error> {
        if self.inner.protocol == ProtocolVersion::V311 {
            return Err(Error::NotSupported("re-authentication is not available with MQTT 3.1.1".into()));
        }
        self.inner.controls.send(Control::Reauthenticate).map_err(|_| Error::Closed)
    }

    /// The next event; `None` once the client is gone.
    pub async fn recv(&self) -> Option<Event> {
        self.inner.events.lock().await.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<Event> {
        self.inner.events.try_lock().ok()?.try_recv().ok()
    }

    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            messages_in: c.messages_in.load(Ordering::Relaxed),
            messages_out: c.messages_out.load(Ordering::Relaxed),
            retransmissions: c.retransmissions.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            queued: c.queued.load(Ordering::Relaxed),
            queued_bytes: c.queued_bytes.load(Ordering::Relaxed),
            inflight: c.inflight.load(Ordering::Relaxed),
            connected: c.connected.load(Ordering::Relaxed),
            deliveries_failed: c.deliveries_failed.load(Ordering::Relaxed),
            quota_retries: c.quota_retries.load(Ordering::Relaxed),
        }
    }
}

/// A blocking MQTT 5.0 client on the shared runtime: the same operations as [`AsyncClient`],
/// for code without an async runtime. Do not call it from inside a tokio runtime thread.
///
/// ```no_run
/// use std::time::Duration;
/// use tether_core::{Client, Event, MqttOptions, QoS};
/// let mut options = MqttOptions::new("sensor-1", "127.0.0.1", 1883);
/// options.set_session_expiry_interval(u32::MAX).set_clean_start(false);
/// let client = Client::new(options);
/// let ack = client.connect()?;
/// client.subscribe("sensors/#", QoS::AtLeastOnce)?;
/// client.publish("sensors/1", QoS::AtLeastOnce, false, "21.5")?.wait(Some(Duration::from_secs(5)))?;
/// if let Some(Event::Message(m)) = client.recv_timeout(Duration::from_secs(1))? {
///     println!("{}: {:?}", m.topic, m.payload);
/// }
/// # Ok::<(), tether_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    inner: AsyncClient,
}

impl Client {
    pub fn new(options: MqttOptions) -> Self {
        Client { inner: AsyncClient::with_runtime(options, &crate::runtime::shared()) }
    }

    /// The async handle onto the same client.
    pub fn as_async(&self) -> &AsyncClient {
        &self.inner
    }

    pub fn client_id(&self) -> &str {
        self.inner.client_id()
    }

    /// Connect and wait for CONNACK.
    pub fn connect(&self) -> Result<ConnAck, Error> {
        self.inner.connect_request(None).wait(None).unwrap_or_else(closed)
    }

    /// Connect to `server` (instead of the configured servers), waiting at most `timeout`.
    pub fn connect_to(&self, server: ServerAddr, timeout: Option<Duration>) -> Result<ConnAck, Error> {
        self.inner
            .connect_request(Some(vec![server]))
            .wait(timeout)
            .unwrap_or_else(|| Err(Error::Timeout("no CONNACK in time".into())))
    }

    pub fn publish(
        &self,
        topic: impl Into<String>,
        qos: QoS,
        retain: bool,
        payload: impl Into<Bytes>,
    ) -> Result<Delivery, Error> {
        self.publish_with_properties(topic, qos, retain, payload, PublishProperties::default())
    }

    pub fn publish_with_properties(
        &self,
        topic: impl Into<String>,
        qos: QoS,
        retain: bool,
        payload: impl Into<Bytes>,
        properties: PublishProperties,
    ) -> Result<Delivery, Error> {
        let (job, delivery) = self.inner.prepare(topic.into(), qos, retain, payload.into(), properties)?;
        let publishes = &self.inner.inner.publishes;
        // The channel usually has room; waiting for a slot sets up a parker on every call.
        let permit = match publishes.try_reserve() {
            Ok(permit) => permit,
            Err(mpsc::error::TrySendError::Full(())) => {
                crate::completion::block_on(publishes.reserve()).map_err(|_| Error::Closed)?
            }
            Err(mpsc::error::TrySendError::Closed(())) => return Err(Error::Closed),
        };
        self.inner.hand_off(permit, job)?;
        self.inner.sent(delivery.token);
        Ok(delivery)
    }

    pub fn subscribe(&self, filter: impl Into<String>, qos: QoS) -> Result<Vec<SubAckReasonCode>, Error> {
        let subscription = Subscription {
            filter: filter.into(),
            options: SubscriptionOptions { qos, ..Default::default() },
        };
        Ok(self.subscribe_many(vec![subscription], SubscribeProperties::default())?.reason_codes)
    }

    pub fn subscribe_many(
        &self,
        subscriptions: Vec<Subscription>,
        properties: SubscribeProperties,
    ) -> Result<SubscribeOutcome, Error> {
        self.inner.subscribe_request(subscriptions, properties)?.wait(None).unwrap_or_else(closed)
    }

    pub fn unsubscribe(&self, filter: impl Into<String>) -> Result<Vec<UnsubAckReasonCode>, Error> {
        self.inner
            .unsubscribe_request(vec![filter.into()], UnsubscribeProperties::default())?
            .wait(None)
            .unwrap_or_else(closed)
    }

    pub fn ack(&self, message: &Message) -> Result<(), Error> {
        self.inner.ack(message)
    }

    /// Wait until every publish so far has completed, at most `timeout`; see
    /// [`AsyncClient::flush`] for the report.
    pub fn flush(&self, timeout: Option<Duration>) -> Result<FlushReport, Error> {
        self.inner.flush_request().wait(timeout).unwrap_or_else(|| Err(Error::Timeout("flush".into())))
    }

    pub fn disconnect(&self) -> Result<(), Error> {
        self.disconnect_with(DisconnectReasonCode::NormalDisconnection, None)
    }

    pub fn disconnect_with(
        &self,
        reason_code: DisconnectReasonCode,
        session_expiry_interval: Option<u32>,
    ) -> Result<(), Error> {
        self.inner
            .disconnect_request(reason_code, session_expiry_interval)
            .wait(Some(Duration::from_secs(30)))
            .unwrap_or_else(|| Err(Error::Timeout("disconnect".into())))
    }

    /// The next event, waiting as long as it takes; `Err(Closed)` once the client is gone.
    pub fn recv(&self) -> Result<Event, Error> {
        let mut events = self.inner.inner.events.blocking_lock();
        events.blocking_recv().ok_or(Error::Closed)
    }

    /// The next event within `timeout`, `Ok(None)` when none came.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Event>, Error> {
        let inner = &self.inner.inner;
        crate::runtime::shared().block_on(async {
            let mut events = inner.events.lock().await;
            match tokio::time::timeout(timeout, events.recv()).await {
                Ok(Some(e)) => Ok(Some(e)),
                Ok(None) => Err(Error::Closed),
                Err(_) => Ok(None),
            }
        })
    }

    pub fn try_recv(&self) -> Option<Event> {
        self.inner.try_recv()
    }

    /// Events as an iterator that ends when the client is gone.
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(move || self.recv().ok())
    }

    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }
}

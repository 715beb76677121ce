//! Client options: everything that shapes a connection and a session.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::codec::{validate_topic_name, ConnectProperties, LastWill, ProtocolVersion};
use crate::driver::backoff::ReconnectPolicy;
use crate::driver::transport::ServerAddr;
use crate::session::{Authenticator, OverflowPolicy, QueueLimits, QuotaRetry, SessionLostPolicy};
use crate::store::FileStore;
use crate::validate::{self, Range};
use crate::{Error, ProxyOptions, TlsOptions};

/// What a before-connect hook may change for the next attempt.
#[derive(Debug, Clone)]
pub struct ConnectAttempt {
    /// The server about to be tried.
    pub server: ServerAddr,
    /// 1 for the first attempt after a (re)start of the connect loop.
    pub attempt: u32,
    pub username: Option<String>,
    pub password: Option<Bytes>,
}

/// A hook called before each connection attempt, for example to refresh a token.
pub type BeforeConnect = Arc<dyn Fn(&mut ConnectAttempt) + Send + Sync>;

/// Client options, in the manner of rumqttc's `MqttOptions`.
///
/// ```
/// use tether_core::{ConnectProperties, MqttOptions};
/// let mut mqttoptions = MqttOptions::new("sensor-1", "127.0.0.1", 1883);
/// let mut properties = ConnectProperties::new();
/// properties.session_expiry_interval = Some(u32::MAX);
/// mqttoptions.set_connect_properties(properties);
/// // or, directly:
/// mqttoptions.set_session_expiry_interval(u32::MAX).set_clean_start(false);
/// assert_eq!(mqttoptions.session_expiry_interval(), u32::MAX);
/// ```
#[derive(Clone)]
pub struct MqttOptions {
    pub(crate) client_id: String,
    pub(crate) servers: Vec<ServerAddr>,
    pub(crate) clean_start: bool,
    /// As set; [`MqttOptions::validate`] refuses what CONNECT's two-byte field cannot carry.
    pub(crate) keep_alive: Duration,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Bytes>,
    pub(crate) last_will: Option<LastWill>,
    pub(crate) properties: ConnectProperties,
    pub(crate) reconnect: ReconnectPolicy,
    pub(crate) queue: QueueLimits,
    pub(crate) on_session_lost: SessionLostPolicy,
    pub(crate) quota_retry: QuotaRetry,
    pub(crate) manual_acks: bool,
    pub(crate) auto_topic_alias: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) tcp_nodelay: bool,
    pub(crate) event_capacity: usize,
    pub(crate) delivery_events: bool,
    pub(crate) request_capacity: usize,
    pub(crate) before_connect: Option<BeforeConnect>,
    pub(crate) authenticator: Option<Arc<Mutex<Box<dyn Authenticator>>>>,
    /// For every [`ServerAddr::Tls`] of `servers`; when unset the driver builds the default
    /// (system roots) at the first TLS connection.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    /// Extra request headers of the WebSocket handshake (`ws://`, `wss://`), in order.
    pub(crate) ws_headers: Vec<(String, String)>,
    /// The HTTP CONNECT proxy every server of `servers` is reached through, if any.
    pub(crate) proxy: Option<ProxyOptions>,
    pub(crate) protocol: ProtocolVersion,
    pub(crate) max_inflight: u16,
    pub(crate) follow_server_references: bool,
    /// [`MqttOptions::set_store`]: where the session lives between process runs.
    pub(crate) store: Option<FileStore>,
}

impl std::fmt::Debug for MqttOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttOptions")
            .field("client_id", &self.client_id)
            .field("servers", &self.servers)
            .field("clean_start", &self.clean_start)
            .field("keep_alive", &self.keep_alive)
            .field("username", &self.username)
            .field("properties", &self.properties)
            .field("reconnect", &self.reconnect)
            .field("queue", &self.queue)
            .field("protocol", &self.protocol)
            .field("proxy", &self.proxy)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl MqttOptions {
    /// Options for `client_id` at `host:port` (TCP). Defaults: clean start, keep-alive 60 s,
    /// session expiry 0, automatic reconnect, automatic topic aliases, TCP_NODELAY on.
    pub fn new(client_id: impl Into<String>, host: impl Into<String>, port: u16) -> Self {
        MqttOptions {
            client_id: client_id.into(),
            servers: vec![ServerAddr::tcp(host, port)],
            clean_start: true,
            keep_alive: Duration::from_secs(60),
            username: None,
            password: None,
            last_will: None,
            properties: ConnectProperties::default(),
            reconnect: ReconnectPolicy::default(),
            queue: QueueLimits::default(),
            on_session_lost: SessionLostPolicy::default(),
            quota_retry: QuotaRetry::default(),
            manual_acks: false,
            auto_topic_alias: true,
            connect_timeout: Duration::from_secs(10),
            tcp_nodelay: true,
            event_capacity: 10_000,
            delivery_events: false,
            // The hand-off to the driver, which drains it in batches: a larger channel only
            // adds memory, and slack beyond the queue limit under the Block policy.
            request_capacity: 128,
            before_connect: None,
            authenticator: None,
            tls: None,
            ws_headers: Vec::new(),
            proxy: None,
            protocol: ProtocolVersion::V5,
            max_inflight: u16::MAX,
            follow_server_references: true,
            store: None,
        }
    }

    /// Options for `client_id` at the server `url` names ([`ServerAddr::from_url`]):
    /// `mqtt://host[:1883]`, `mqtts://host[:8883]` or `unix:///path`. An `mqtts://` server
    /// trusts the system's root certificates unless [`MqttOptions::set_tls`] says otherwise.
    ///
    /// ```
    /// use tether_core::{MqttOptions, TlsOptions};
    /// let mut options = MqttOptions::from_url("sensor-1", "mqtts://127.0.0.1:8883")?;
    /// options.set_tls(TlsOptions { verify: false, ..TlsOptions::default() })?;
    /// # Ok::<(), tether_core::Error>(())
    /// ```
    pub fn from_url(client_id: impl Into<String>, url: &str) -> Result<Self, Error> {
        let server = ServerAddr::from_url(url)?;
        let mut options = MqttOptions::new(client_id, "127.0.0.1", 1883);
        options.servers = vec![server];
        Ok(options)
    }

    /// An extra header for the WebSocket handshake with `ws://` and `wss://` servers, for
    /// example an authorization token; added to those set before (a header may be given more
    /// than once). A name or value HTTP does not allow, or a header the handshake sets itself
    /// (`Host`, `Upgrade`, `Connection`, `Sec-WebSocket-*`), is [`Error::InvalidArgument`].
    /// The `mqtt` subprotocol is always asked for.
    ///
    /// ```
    /// let mut options = tether_core::MqttOptions::from_url("sensor-1", "wss://broker.example/mqtt")?;
    /// options.set_ws_header("Authorization", "Bearer eyJhbGciOi...")?;
    /// assert!(options.set_ws_header("Sec-WebSocket-Protocol", "other").is_err());
    /// # Ok::<(), tether_core::Error>(())
    /// ```
    pub fn set_ws_header(&mut self, name: &str, value: &str) -> Result<&mut Self, Error> {
        crate::driver::websocket_header(name, value)?;
        self.ws_headers.push((name.to_string(), value.to_string()));
        Ok(self)
    }

    /// The WebSocket handshake headers set with [`MqttOptions::set_ws_header`].
    pub fn ws_headers(&self) -> &[(String, String)] {
        &self.ws_headers
    }

    /// Reach the servers through an HTTP proxy with `CONNECT` (for `mqtt://`, `mqtts://`,
    /// `ws://` and `wss://`; TLS and WebSocket run end to end through the tunnel). One proxy
    /// for every server of the list (failover included): the server list has no per-server
    /// settings. The connect timeout covers reaching the proxy and its answer too. A proxy
    /// with a `unix://` server is refused when the client is made (and at connect).
    /// A proxy missing a host, or credentials basic authentication cannot carry (a ':' in the
    /// user name, control characters), is [`Error::InvalidArgument`].
    ///
    /// ```
    /// use tether_core::{MqttOptions, ProxyOptions};
    /// let mut options = MqttOptions::from_url("sensor-1", "mqtts://broker.example")?;
    /// options.set_proxy(ProxyOptions::from_url("http://user:secret@proxy.example:3128")?)?;
    /// assert_eq!(options.proxy().unwrap().port, 3128);
    /// options.clear_proxy();
    /// assert!(options.proxy().is_none());
    /// # Ok::<(), tether_core::Error>(())
    /// ```
    pub fn set_proxy(&mut self, proxy: ProxyOptions) -> Result<&mut Self, Error> {
        proxy.check()?;
        self.proxy = Some(proxy);
        Ok(self)
    }

    /// Connect directly again (no proxy, the default).
    pub fn clear_proxy(&mut self) -> &mut Self {
        self.proxy = None;
        self
    }

    /// The proxy set with [`MqttOptions::set_proxy`].
    pub fn proxy(&self) -> Option<&ProxyOptions> {
        self.proxy.as_ref()
    }

    /// How to secure the `mqtts://` and `wss://` servers ([`ServerAddr::Tls`], [`ServerAddr::Wss`]) of the server list, all of
    /// them alike. Reads and checks the CA, certificate and key files now: a bad one is
    /// [`Error::Tls`] naming the file, and the options keep what they had.
    ///
    /// ```no_run
    /// use tether_core::{MqttOptions, TlsOptions};
    /// let mut options = MqttOptions::from_url("sensor-1", "mqtts://broker.example")?;
    /// options.set_tls(TlsOptions { ca_file: Some("/etc/mqtt/ca.pem".into()), ..TlsOptions::default() })?;
    /// # Ok::<(), tether_core::Error>(())
    /// ```
    pub fn set_tls(&mut self, tls: TlsOptions) -> Result<&mut Self, Error> {
        self.tls = Some(tls.build()?);
        Ok(self)
    }

    /// A whole rustls configuration for the `mqtts://` servers, used as it is (its crypto
    /// provider, roots, client certificate, ALPN, verifier).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tether_core::rustls::{self, ClientConfig, RootCertStore};
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let config = ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()
    ///     .unwrap()
    ///     .with_root_certificates(RootCertStore::empty())
    ///     .with_no_client_auth();
    /// let mut options = tether_core::MqttOptions::new("sensor-1", "broker.example", 8883);
    /// options.set_servers(vec![tether_core::ServerAddr::tls("broker.example", 8883)]);
    /// options.set_tls_config(Arc::new(config));
    /// ```
    pub fn set_tls_config(&mut self, config: Arc<rustls::ClientConfig>) -> &mut Self {
        self.tls = Some(config);
        self
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The protocol spoken: [`ProtocolVersion::V5`] (the default) or
    /// [`ProtocolVersion::V311`]. On 3.1.1 a 5.0-only feature (a CONNECT, PUBLISH or SUBSCRIBE
    /// property, subscribe options other than QoS, enhanced authentication, a DISCONNECT
    /// reason or session expiry) fails with [`Error::NotSupported`] before anything is sent.
    /// The session expiry still chooses Clean Session: 0 with clean start gives Clean Session
    /// 1, a kept session Clean Session 0.
    pub fn set_protocol_version(&mut self, version: ProtocolVersion) -> &mut Self {
        self.protocol = version;
        self
    }

    /// The most QoS 1/2 messages in flight at once, whatever the server allows (default
    /// 65,535). On 5.0 the server's Receive Maximum may lower it further; a 3.1.1 server
    /// announces none, so this is the window there. Must be at least 1 (checked at connect).
    ///
    /// ```
    /// use tether_core::{MqttOptions, ProtocolVersion};
    /// let mut o = MqttOptions::new("id", "127.0.0.1", 1883);
    /// o.set_protocol_version(ProtocolVersion::V311).set_max_inflight(1_000);
    /// ```
    pub fn set_max_inflight(&mut self, n: u16) -> &mut Self {
        self.max_inflight = n;
        self
    }

    pub fn protocol_version(&self) -> ProtocolVersion {
        self.protocol
    }

    /// Session Expiry Interval in seconds: 0 ends the session with the connection,
    /// `u32::MAX` ([`crate::SESSION_NEVER_EXPIRES`]) never expires it.
    pub fn set_session_expiry_interval(&mut self, seconds: u32) -> &mut Self {
        self.properties.session_expiry_interval = Some(seconds);
        self
    }

    pub fn session_expiry_interval(&self) -> u32 {
        self.properties.session_expiry_interval.unwrap_or(0)
    }

    /// Clean Start for the first connection; automatic reconnects always resume.
    pub fn set_clean_start(&mut self, clean_start: bool) -> &mut Self {
        self.clean_start = clean_start;
        self
    }

    /// Keep-alive, whole seconds (0 turns it off). More than 65535 s, or a keep-alive under
    /// one second (which would round to 0, turning it off), makes connect fail with
    /// [`crate::Error::InvalidArgument`].
    pub fn set_keep_alive(&mut self, keep_alive: Duration) -> &mut Self {
        self.keep_alive = keep_alive;
        self
    }

    /// The keep-alive CONNECT carries, in whole seconds.
    pub(crate) fn keep_alive_secs(&self) -> u16 {
        self.keep_alive.as_secs().min(u64::from(u16::MAX)) as u16
    }

    pub fn set_credentials(&mut self, username: impl Into<String>, password: impl Into<Bytes>) -> &mut Self {
        self.username = Some(username.into());
        self.password = Some(password.into());
        self
    }

    /// A user name alone (MQTT 5 allows a password without a user name and the reverse).
    pub fn set_username(&mut self, username: Option<String>) -> &mut Self {
        self.username = username;
        self
    }

    pub fn set_password(&mut self, password: Option<Bytes>) -> &mut Self {
        self.password = password;
        self
    }

    /// The Will Message, with its properties (will delay, expiry, ...).
    pub fn set_last_will(&mut self, will: LastWill) -> &mut Self {
        self.last_will = Some(will);
        self
    }

    /// Every CONNECT property at once (replaces what was set before, including a session
    /// expiry set with [`MqttOptions::set_session_expiry_interval`]).
    pub fn set_connect_properties(&mut self, properties: ConnectProperties) -> &mut Self {
        self.properties = properties;
        self
    }

    pub fn connect_properties(&self) -> &ConnectProperties {
        &self.properties
    }

    pub fn set_reconnect(&mut self, policy: ReconnectPolicy) -> &mut Self {
        self.reconnect = policy;
        self
    }

    /// Servers tried in turn (failover across the nodes of a cluster); replaces the list.
    pub fn set_servers(&mut self, servers: Vec<ServerAddr>) -> &mut Self {
        if !servers.is_empty() {
            self.servers = servers;
        }
        self
    }

    pub fn add_server(&mut self, server: ServerAddr) -> &mut Self {
        self.servers.push(server);
        self
    }

    /// Whether to go where a server's CONNACK or DISCONNECT with reason code 0x9C "Use
    /// another server" or 0x9D "Server moved" and a Server Reference points (MQTT 5.0
    /// section 4.11; default true). The client connects there at once, resuming its session:
    /// for 0x9C this once (a later reconnect returns to the server list), for 0x9D from then
    /// on, in place of the server that moved. A reference is a space-separated list of
    /// `host[:port]` (or URLs); an entry without a scheme keeps the transport, TLS settings
    /// and port of the server it came from. At most 5 redirects in a row are followed before
    /// the client falls back to its server list and back-off. A DISCONNECT's reference is
    /// followed only when reconnecting is enabled. With `false`, 0x9C and 0x9D are ordinary
    /// refusals or disconnects (the reference is still reported in the
    /// [`crate::DisconnectCause`]).
    ///
    /// ```
    /// let mut options = tether_core::MqttOptions::new("sensor-1", "127.0.0.1", 1883);
    /// options.set_follow_server_references(false);
    /// ```
    pub fn set_follow_server_references(&mut self, follow: bool) -> &mut Self {
        self.follow_server_references = follow;
        self
    }

    /// Limits of the send queue (messages waiting while disconnected or beyond the window).
    pub fn set_queue_limits(
        &mut self,
        max_messages: usize,
        max_bytes: usize,
        overflow: OverflowPolicy,
    ) -> &mut Self {
        self.queue = QueueLimits { max_messages, max_bytes, overflow };
        self
    }

    pub fn set_on_session_lost(&mut self, policy: SessionLostPolicy) -> &mut Self {
        self.on_session_lost = policy;
        self
    }

    /// How often, and after how long, a message the server refused with 0x97 Quota exceeded
    /// is published again (default: 5 times, from 100 ms, doubling). `attempts: 0` fails
    /// such a delivery at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether_core::{MqttOptions, QuotaRetry};
    /// let mut o = MqttOptions::new("id", "127.0.0.1", 1883);
    /// o.set_quota_retry(QuotaRetry { attempts: 3, backoff: Duration::from_millis(50) });
    /// ```
    pub fn set_quota_retry(&mut self, retry: QuotaRetry) -> &mut Self {
        self.quota_retry = retry;
        self
    }

    /// With manual acks the application acknowledges each QoS>0 message after processing it.
    pub fn set_manual_acks(&mut self, manual: bool) -> &mut Self {
        self.manual_acks = manual;
        self
    }

    /// Automatic Topic Aliases for outgoing messages when the server allows them (default
    /// on). Turn them off to give your own in [`PublishProperties::topic_alias`]: each is
    /// sent as given, with the full topic, and refused at the call when it is 0 or above the
    /// Topic Alias Maximum of the server's last CONNACK (before the first CONNACK it is
    /// checked when sent, and its delivery fails if the server does not admit it). A
    /// message sent again after a reconnect goes without its alias (aliases belong to one
    /// connection). With automatic aliases on, an application's alias is refused.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), tether_core::Error> {
    /// use tether_core::{AsyncClient, MqttOptions, PublishProperties, QoS};
    /// let mut options = MqttOptions::new("sensor-1", "127.0.0.1", 1883);
    /// options.set_auto_topic_alias(false);
    /// let client = AsyncClient::new(options);
    /// let properties = PublishProperties { topic_alias: Some(1), ..Default::default() };
    /// client.publish_with_properties("sensors/1/temperature", QoS::AtLeastOnce, false, "21.5", properties).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// [`PublishProperties::topic_alias`]: crate::PublishProperties::topic_alias
    pub fn set_auto_topic_alias(&mut self, enabled: bool) -> &mut Self {
        self.auto_topic_alias = enabled;
        self
    }

    /// The largest packet we accept (announced as Maximum Packet Size).
    pub fn set_max_packet_size(&mut self, bytes: u32) -> &mut Self {
        self.properties.maximum_packet_size = Some(bytes);
        self
    }

    /// How many QoS>0 messages the server may have in flight towards us.
    pub fn set_receive_maximum(&mut self, n: u16) -> &mut Self {
        self.properties.receive_maximum = Some(n);
        self
    }

    /// How many topic aliases the server may use towards us.
    pub fn set_topic_alias_maximum(&mut self, n: u16) -> &mut Self {
        self.properties.topic_alias_maximum = Some(n);
        self
    }

    pub fn set_connect_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn set_tcp_nodelay(&mut self, nodelay: bool) -> &mut Self {
        self.tcp_nodelay = nodelay;
        self
    }

    /// Capacity of the event stream; when it is full the client stops reading from the
    /// socket (flow control reaches the server) instead of dropping messages.
    pub fn set_event_capacity(&mut self, capacity: usize) -> &mut Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// Also report every completed publish as [`crate::Event::PublishComplete`].
    pub fn set_delivery_events(&mut self, enabled: bool) -> &mut Self {
        self.delivery_events = enabled;
        self
    }

    /// Keep the session on disk: a QoS 1 or 2 message is recorded in `store` before
    /// `publish` returns, so it is delivered even if the process is killed at any moment
    /// (QoS 2 exactly once). A client started on the same store restores the queued and
    /// in-flight messages in their original order ([`AsyncClient::restored`] hands out
    /// their deliveries), connects with Clean Start 0 and resends them with DUP once the
    /// server has the session ([MQTT-4.4.0-1]), or follows [`MqttOptions::set_on_session_lost`]
    /// if it has not. Set a session expiry interval, or the server forgets the session at every
    /// disconnect. One store serves one client at a time.
    ///
    /// ```no_run
    /// use tether_core::store::{Durability, FileStore};
    /// use tether_core::MqttOptions;
    /// let mut options = MqttOptions::new("sensor-1", "127.0.0.1", 1883);
    /// options.set_session_expiry_interval(3600).set_store(FileStore::open("/var/lib/sensor-1", Durability::Batched)?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// [`AsyncClient::restored`]: crate::AsyncClient::restored
    pub fn set_store(&mut self, store: FileStore) -> &mut Self {
        self.store = Some(store);
        self
    }

    /// A hook called before each connection attempt (every reconnect too), for example to
    /// refresh a token: it may change the credentials of the [`ConnectAttempt`].
    ///
    /// The hook runs on tokio's blocking pool, not on a runtime worker, so it may block (read
    /// a file, ask a token service) without stalling other clients on the runtime; the
    /// attempt waits for it. Keep it short all the same: the client takes no requests while
    /// it runs.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use tether_core::MqttOptions;
    /// let mut options = MqttOptions::new("sensor-1", "127.0.0.1", 1883);
    /// options.set_before_connect(|attempt| {
    ///     // e.g. a fresh token from a file or a service, read synchronously
    ///     attempt.username = Some("sensor-1".into());
    ///     attempt.password = Some(Bytes::from(format!("token-{}", attempt.attempt)));
    /// });
    /// ```
    pub fn set_before_connect(
        &mut self,
        hook: impl Fn(&mut ConnectAttempt) + Send + Sync + 'static,
    ) -> &mut Self {
        self.before_connect = Some(Arc::new(hook));
        self
    }

    /// Enhanced authentication (4.12) with `authenticator`, for CONNECT and for
    /// [`crate::AsyncClient::reauthenticate`].
    ///
    /// The contract: the engine calls the authenticator synchronously, on a runtime worker
    /// thread, while it handles CONNECT, AUTH and CONNACK (the session engine does no IO and
    /// cannot wait). Its methods must therefore return quickly and never block: no network
    /// calls, no waiting on locks or channels, no blocking tether calls. Work that takes time
    /// (fetching a token) belongs in [`MqttOptions::set_before_connect`], which runs on the
    /// blocking pool, or in the application before it connects; hand the result to the
    /// authenticator through shared state it only reads.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use bytes::Bytes;
    /// use tether_core::session::Authenticator;
    /// use tether_core::MqttOptions;
    ///
    /// /// Sends a token fetched ahead of time; never blocks.
    /// struct Token(Arc<Mutex<Bytes>>);
    /// impl Authenticator for Token {
    ///     fn method(&self) -> &str { "token" }
    ///     fn initial_data(&mut self) -> Option<Bytes> {
    ///         Some(tether_core::sync::lock(&self.0).clone())
    ///     }
    ///     fn challenge(&mut self, _data: Option<&Bytes>) -> Result<Option<Bytes>, String> {
    ///         Err("the token method has no second step".into())
    ///     }
    /// }
    ///
    /// let token = Arc::new(Mutex::new(Bytes::from_static(b"initial")));
    /// let mut options = MqttOptions::new("sensor-1", "127.0.0.1", 1883);
    /// options.set_authenticator(Box::new(Token(token.clone())));
    /// // The slow refresh happens off the runtime, before each attempt:
    /// options.set_before_connect(move |_attempt| {
    ///     *tether_core::sync::lock(&token) = Bytes::from_static(b"refreshed");
    /// });
    /// ```
    pub fn set_authenticator(&mut self, authenticator: Box<dyn Authenticator>) -> &mut Self {
        self.authenticator = Some(Arc::new(Mutex::new(authenticator)));
        self
    }

    /// Whether these options can make a connection: every value within what MQTT and the
    /// client allow. The setters take their arguments as they come, so this is where an
    /// out-of-range value is caught; `connect` returns this error (naming the field) before
    /// anything is sent.
    pub fn validate(&self) -> Result<(), Error> {
        let long = |field: &str, len: usize| -> Result<(), Error> {
            if len > MAX_STRING {
                return Err(Error::InvalidArgument(format!(
                    "{field} is {len} bytes; MQTT allows at most {MAX_STRING}"
                )));
            }
            Ok(())
        };
        long("client_id", self.client_id.len())?;
        validate::RECEIVE_MAXIMUM.check::<u16>("max_inflight", self.max_inflight)?;
        long("username", self.username.as_ref().map_or(0, String::len))?;
        long("password", self.password.as_ref().map_or(0, Bytes::len))?;
        for server in &self.servers {
            if let ServerAddr::Tcp { port, .. }
            | ServerAddr::Tls { port, .. }
            | ServerAddr::Ws { port, .. }
            | ServerAddr::Wss { port, .. } = server
            {
                validate::PORT.check::<u16>("port", *port)?;
            }
            #[cfg(unix)]
            if let (ServerAddr::Unix { .. }, Some(proxy)) = (server, &self.proxy) {
                return Err(Error::InvalidArgument(format!(
                    "{server} cannot be reached through the HTTP proxy {proxy}: a proxy tunnels TCP only"
                )));
            }
        }
        if self.keep_alive > Duration::ZERO && self.keep_alive < Duration::from_secs(1) {
            return Err(Error::InvalidArgument(format!(
                "keep_alive must be 0 (off) or at least 1 s, not {:?}",
                self.keep_alive
            )));
        }
        validate::TWO_BYTE.check::<u16>("keep_alive", self.keep_alive.as_secs())?;
        let p = &self.properties;
        check_opt(validate::RECEIVE_MAXIMUM, "receive_maximum", p.receive_maximum)?;
        check_opt(validate::MAXIMUM_PACKET_SIZE, "maximum_packet_size", p.maximum_packet_size)?;
        check_opt(validate::FLAG, "request_response_information", p.request_response_information)?;
        check_opt(validate::FLAG, "request_problem_information", p.request_problem_information)?;
        if p.authentication_data.is_some() && p.authentication_method.is_none() {
            return Err(Error::InvalidArgument("authentication_data needs an authentication_method".into()));
        }
        if let Some(will) = &self.last_will {
            validate_topic_name(&will.topic)
                .map_err(|e| Error::InvalidTopic(format!("will topic {:?}: {e}", will.topic)))?;
            long("will payload", will.payload.len())?;
            let wp = &will.properties;
            check_opt(validate::FLAG, "payload_format_indicator", wp.payload_format_indicator)?;
            if let Some(topic) = &wp.response_topic {
                validate_topic_name(topic)
                    .map_err(|e| Error::InvalidTopic(format!("will response_topic {topic:?}: {e}")))?;
            }
        }
        validate::reconnect_delays(
            "min_delay",
            self.reconnect.min_delay,
            "max_delay",
            self.reconnect.max_delay,
        )?;
        validate::QUEUE_LIMIT.check::<usize>("max_messages", self.queue.max_messages as u64)?;
        validate::QUEUE_LIMIT.check::<usize>("max_bytes", self.queue.max_bytes as u64)?;
        validate::connect_timeout("connect_timeout", self.connect_timeout)?;
        if self.protocol == ProtocolVersion::V311 {
            crate::session::v311::check_connect(
                &self.properties,
                self.last_will.as_ref().map(|w| &w.properties),
                self.authenticator.is_some(),
            )?;
        }
        Ok(())
    }
}

/// The longest string or binary field of a packet (a two-byte length).
const MAX_STRING: usize = 65_535;

fn check_opt<T: Copy + Into<i128>>(range: Range, field: &str, value: Option<T>) -> Result<(), Error> {
    match value {
        Some(v) => range.check::<i128>(field, v).map(|_| ()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Client, QoS, WillProperties};

    #[test]
    fn v311_refuses_five_zero_connect_options_and_keeps_the_session_expiry() {
        let mut o = MqttOptions::new("c", "127.0.0.1", 1883);
        assert_eq!(o.protocol_version(), ProtocolVersion::V5);
        o.set_protocol_version(ProtocolVersion::V311).set_session_expiry_interval(3600);
        assert!(o.validate().is_ok());
        o.set_receive_maximum(10);
        match o.validate() {
            Err(Error::NotSupported(m)) => assert!(m.contains("receive_maximum"), "{m}"),
            other => panic!("not refused: {other:?}"),
        }
        let mut o = MqttOptions::new("c", "127.0.0.1", 1883);
        o.set_protocol_version(ProtocolVersion::V311);
        o.set_last_will(LastWill {
            topic: "w".into(),
            properties: WillProperties { will_delay_interval: Some(5), ..Default::default() },
            ..Default::default()
        });
        assert!(matches!(o.validate(), Err(Error::NotSupported(_))));
    }

    fn refused(o: &MqttOptions) -> String {
        match o.validate() {
            Err(Error::InvalidArgument(m)) | Err(Error::InvalidTopic(m)) => m,
            other => panic!("{o:?} was not refused: {other:?}"),
        }
    }

    fn options() -> MqttOptions {
        MqttOptions::new("validate", "127.0.0.1", 1883)
    }

    #[test]
    fn defaults_are_valid() {
        options().validate().unwrap();
    }

    #[test]
    fn every_out_of_range_value_is_refused_by_name() {
        type Set = fn(&mut MqttOptions);
        let cases: Vec<(&str, Set)> = vec![
            ("receive_maximum", |o| {
                o.set_receive_maximum(0);
            }),
            ("maximum_packet_size", |o| {
                o.set_max_packet_size(0);
            }),
            ("request_problem_information", |o| {
                let mut p = ConnectProperties::new();
                p.request_problem_information = Some(2);
                o.set_connect_properties(p);
            }),
            ("keep_alive", |o| {
                o.set_keep_alive(Duration::from_secs(65_536));
            }),
            ("keep_alive", |o| {
                o.set_keep_alive(Duration::from_millis(500));
            }),
            ("min_delay", |o| {
                o.set_reconnect(ReconnectPolicy {
                    min_delay: Duration::from_secs(5),
                    max_delay: Duration::from_secs(1),
                    ..ReconnectPolicy::default()
                });
            }),
            ("max_messages", |o| {
                o.set_queue_limits(0, 1, OverflowPolicy::Block);
            }),
            ("max_bytes", |o| {
                o.set_queue_limits(1, 0, OverflowPolicy::Block);
            }),
            ("connect_timeout", |o| {
                o.set_connect_timeout(Duration::ZERO);
            }),
            ("port", |o| {
                o.set_servers(vec![ServerAddr::tcp("h", 0)]);
            }),
            ("client_id", |o| o.client_id = "x".repeat(65_536)),
            ("payload_format_indicator", |o| {
                let properties = WillProperties { payload_format_indicator: Some(7), ..Default::default() };
                o.set_last_will(LastWill {
                    topic: "w".into(),
                    payload: Bytes::new(),
                    qos: QoS::AtLeastOnce,
                    retain: false,
                    properties,
                });
            }),
            ("will topic", |o| {
                o.set_last_will(LastWill {
                    topic: "w/#".into(),
                    payload: Bytes::new(),
                    qos: QoS::AtMostOnce,
                    retain: false,
                    properties: Default::default(),
                });
            }),
        ];
        for (field, set) in cases {
            let mut o = options();
            set(&mut o);
            let m = refused(&o);
            assert!(m.contains(field), "{field}: {m}");
        }
    }

    #[test]
    fn connect_refuses_invalid_options_before_sending_anything() {
        let mut o = MqttOptions::new("validate", "127.0.0.1", 1);
        o.set_receive_maximum(0);
        let client = Client::new(o);
        match client.connect() {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("receive_maximum"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}

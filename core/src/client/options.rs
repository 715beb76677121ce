//! Client options: everything that shapes a connection and a session.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::codec::{ConnectProperties, LastWill};
use crate::driver::backoff::ReconnectPolicy;
use crate::driver::transport::ServerAddr;
use crate::session::{Authenticator, OverflowPolicy, QueueLimits, QuotaRetry, SessionLostPolicy};

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
    pub(crate) keep_alive: u16,
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
            keep_alive: 60,
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
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
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

    /// Keep-alive, whole seconds (0 turns it off).
    pub fn set_keep_alive(&mut self, keep_alive: Duration) -> &mut Self {
        self.keep_alive = keep_alive.as_secs().min(u64::from(u16::MAX)) as u16;
        self
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

    pub fn set_before_connect(
        &mut self,
        hook: impl Fn(&mut ConnectAttempt) + Send + Sync + 'static,
    ) -> &mut Self {
        self.before_connect = Some(Arc::new(hook));
        self
    }

    pub fn set_authenticator(&mut self, authenticator: Box<dyn Authenticator>) -> &mut Self {
        self.authenticator = Some(Arc::new(Mutex::new(authenticator)));
        self
    }
}

//! The dispatcher against a real mosquitto (and the test kit's fault proxy): the story every
//! face tells, the inbox, callbacks that publish; and `AsyncClient::try_publish`.

use std::sync::mpsc;
use std::time::Duration;

use tether_testkit::{Broker, FaultProxy};

use super::*;
use crate::{
    ConnectReasonCode, DisconnectReasonCode, Error, MqttOptions, OverflowPolicy, PublishProperties, QoS,
    ReconnectPolicy,
};

const T: Duration = Duration::from_secs(10);

/// What a handler saw, in order.
#[derive(Debug)]
enum Seen {
    Message(String),
    Connect(u8),
    Disconnect(Disconnection),
    /// A publish from inside on_message (try_publish): whether the client took it.
    Published(bool),
}

struct Recorder {
    seen: mpsc::Sender<Seen>,
    /// Publishes to this topic from on_message (try_publish).
    echo: Option<(AsyncClient, String)>,
}

impl Handler for Recorder {
    fn enter(&mut self, run: &mut dyn FnMut(&mut dyn Handler)) {
        run(self)
    }

    fn on_message(&mut self, message: Message) -> Option<Message> {
        let _ = self.seen.send(Seen::Message(message.topic.clone()));
        if let Some((client, topic)) = &self.echo {
            if message.topic != *topic {
                let r = client.try_publish(topic.clone(), QoS::AtMostOnce, false, "echo", Default::default());
                let _ = self.seen.send(Seen::Published(r.is_ok()));
            }
        }
        None
    }

    fn on_connect(&mut self, ack: &ConnAck) {
        let _ = self.seen.send(Seen::Connect(ack.reason_code as u8));
    }

    fn on_disconnect(&mut self, d: &Disconnection) {
        let _ = self.seen.send(Seen::Disconnect(d.clone()));
    }
}

fn options(id: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_reconnect(ReconnectPolicy {
        enabled: true,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(500),
        stable_after: Duration::from_secs(2),
    });
    o
}

fn dispatcher(o: MqttOptions, echo: Option<String>) -> (Dispatcher, mpsc::Receiver<Seen>) {
    let client = AsyncClient::with_runtime(o, &crate::runtime::shared());
    let (tx, rx) = mpsc::channel();
    let echo = echo.map(|t| (client.clone(), t));
    let d = Dispatcher::new(client, Box::new(Recorder { seen: tx, echo }), DispatchOptions::default());
    d.start().unwrap();
    (d, rx)
}

fn connect(d: &Dispatcher) -> Result<ConnAck, Error> {
    d.client().connect_request(None).wait(Some(T)).expect("no CONNACK in time")
}

#[test]
fn every_cause_maps_to_one_kind_and_one_number() {
    let server = DisconnectCause::Server {
        reason_code: DisconnectReasonCode::SessionTakenOver,
        reason_string: Some("taken".into()),
        server_reference: None,
    };
    let own = DisconnectCause::Local { reason_code: DisconnectReasonCode::NormalDisconnection, reason: None };
    let refused = DisconnectCause::Refused {
        reason_code: ConnectReasonCode::NotAuthorized,
        reason_string: None,
        server_reference: None,
    };
    let cases = [
        (server, DisconnectKind::Server, 0x8E, Some(0x8E)),
        (own, DisconnectKind::Client, 0x00, Some(0x00)),
        (refused, DisconnectKind::Refused, 0x87, Some(0x87)),
        (DisconnectCause::KeepAliveTimeout, DisconnectKind::KeepAliveTimeout, 0x8D, None),
        (DisconnectCause::ConnectionLost, DisconnectKind::ConnectionLost, 0x80, None),
    ];
    for (cause, kind, code, packet) in cases {
        let d = Disconnection::new(cause);
        assert_eq!((d.kind, d.reason_code, d.packet_reason_code()), (kind, code, packet), "{d:?}");
    }
}

#[test]
fn a_refused_connack_goes_to_on_disconnect_and_never_to_on_connect() {
    let broker = Broker::builder().config_line("allow_zero_length_clientid false").start().unwrap();
    let mut o = options("", broker.port());
    o.set_reconnect(ReconnectPolicy { enabled: false, ..ReconnectPolicy::default() });
    let (d, seen) = dispatcher(o, None);
    let e = connect(&d).unwrap_err();
    let code = e.reason_code().expect("a refusal has a reason code");
    assert!(code >= 0x80, "{e}");
    match seen.recv_timeout(T).unwrap() {
        Seen::Disconnect(x) => {
            assert_eq!(
                (x.kind, x.reason_code, x.packet_reason_code()),
                (DisconnectKind::Refused, code, Some(code))
            )
        }
        other => panic!("expected on_disconnect, got {other:?}"),
    }
    assert!(seen.recv_timeout(Duration::from_millis(300)).is_err(), "nothing else (no on_connect)");
}

#[test]
fn a_lost_link_goes_to_on_disconnect_with_0x80_then_on_connect_again() {
    let broker = Broker::start();
    let proxy = FaultProxy::start(broker.addr());
    let (d, seen) = dispatcher(options("dispatch-lost", proxy.port()), None);
    connect(&d).unwrap();
    assert!(matches!(seen.recv_timeout(T).unwrap(), Seen::Connect(0)));
    proxy.cut_all();
    match seen.recv_timeout(T).unwrap() {
        Seen::Disconnect(x) => {
            assert_eq!(
                (x.kind, x.reason_code, x.packet_reason_code()),
                (DisconnectKind::ConnectionLost, 0x80, None)
            )
        }
        other => panic!("expected on_disconnect, got {other:?}"),
    }
    assert!(matches!(seen.recv_timeout(T).unwrap(), Seen::Connect(0)), "reconnected");
    d.stop();
    assert!(d.join(Some(T)));
}

#[test]
fn messages_wait_in_the_inbox_until_on_message_takes_them_in_order() {
    let broker = Broker::start();
    let (d, seen) = dispatcher(options("dispatch-inbox", broker.port()), None);
    connect(&d).unwrap();
    let c = d.client().clone();
    let rt = crate::runtime::shared();
    rt.block_on(c.subscribe("inbox/#", QoS::AtLeastOnce)).unwrap();
    for i in 0..3 {
        let delivery = rt.block_on(c.publish(format!("inbox/{i}"), QoS::AtLeastOnce, false, "x")).unwrap();
        delivery.wait(Some(T)).unwrap();
    }
    assert_eq!(d.recv_timeout(Some(T)).map(|m| m.topic), Some("inbox/0".into()));
    assert!(!d.is_dispatch_thread());
    // The other two wait (in order); once on_message is on they go to the handler first.
    let deadline = std::time::Instant::now() + T;
    while d.inbox_len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    d.set_on_message(true);
    let delivery = rt.block_on(c.publish("inbox/3", QoS::AtLeastOnce, false, "x")).unwrap();
    delivery.wait(Some(T)).unwrap();
    let topics: Vec<String> = (0..3)
        .map(|_| loop {
            match seen.recv_timeout(T).unwrap() {
                Seen::Message(t) => break t,
                _ => continue,
            }
        })
        .collect();
    assert_eq!(topics, ["inbox/1", "inbox/2", "inbox/3"]);
    assert_eq!(d.inbox_len(), 0);
    d.stop();
    assert!(d.recv_timeout(Some(T)).is_none() && d.is_drained());
}

#[test]
fn a_callback_publishes_without_waiting() {
    let broker = Broker::start();
    let (d, seen) = dispatcher(options("dispatch-echo", broker.port()), Some("echo/out".into()));
    d.set_on_message(true);
    connect(&d).unwrap();
    let c = d.client().clone();
    let rt = crate::runtime::shared();
    rt.block_on(c.subscribe("echo/#", QoS::AtMostOnce)).unwrap();
    rt.block_on(c.publish("echo/in", QoS::AtMostOnce, false, "x")).unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        match seen.recv_timeout(T).unwrap() {
            Seen::Connect(_) => {}
            other => got.push(other),
        }
    }
    match &got[..] {
        [Seen::Message(a), Seen::Published(true), Seen::Message(b)] if a == "echo/in" && b == "echo/out" => {}
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn try_publish_takes_what_fits_and_refuses_the_rest_without_waiting() {
    // Disconnected, a send queue of one message under Block: the client takes one into the
    // queue and the hand-off channel fills up behind it.
    let mut o = MqttOptions::new("try-publish", "127.0.0.1", 1);
    o.set_queue_limits(1, 1 << 20, OverflowPolicy::Block);
    let client = AsyncClient::with_runtime(o, &crate::runtime::shared());
    let mut taken = 0;
    let refused = loop {
        match client.try_publish("t", QoS::AtLeastOnce, false, "x", PublishProperties::default()) {
            Ok(_) => taken += 1,
            Err(e) => break e,
        }
        assert!(taken < 10_000, "never full");
    };
    assert!(matches!(refused, Error::QueueFull(_)), "{refused:?}");
    assert!(taken >= 1);
    // Invalid input is refused as such, before the question of room.
    let bad = client.try_publish("a/#", QoS::AtMostOnce, false, "x", PublishProperties::default());
    assert!(!matches!(bad, Err(Error::QueueFull(_)) | Ok(_)), "{bad:?}");
    // Once closed, the client says so.
    client.close();
    client.closed().wait(Some(T));
    let closed = client.try_publish("t", QoS::AtMostOnce, false, "x", PublishProperties::default());
    assert!(matches!(closed, Err(Error::Closed)), "{closed:?}");
}

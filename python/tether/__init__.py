"""tether: an MQTT 5.0 client whose session survives.

One Rust core, typed, with a blocking client (:class:`Client`) and an asyncio client
(:class:`AsyncClient`). Sessions survive: session expiry, resumed sessions, retransmission with
DUP after a reconnect, a bounded queue while disconnected, and no message handed over is lost
silently: it is delivered, or its :class:`Delivery` fails with a reason you can read.

    import tether

    with tether.Client("sensor-1", clean_start=False,
                       session_expiry_interval=tether.SESSION_NEVER_EXPIRES) as client:
        ack = client.connect("127.0.0.1", 1883)  # or client.connect("mqtts://broker:8883")
        client.subscribe("sensors/#", qos=1)
        client.publish("sensors/1", b"21.5", qos=1).wait(timeout=5.0)
        for msg in client.messages(timeout=1.0):
            print(msg.topic, msg.payload)
"""

from __future__ import annotations

from ._aio import AsyncClient
from ._tether import (
    SESSION_NEVER_EXPIRES,
    Client,
    ClosedError,
    ConnAck,
    ConnAckProperties,
    ConnectError,
    ConnectProperties,
    Delivery,
    DisconnectInfo,
    DroppedError,
    Error,
    InvalidArgumentError,
    InvalidTopicError,
    Message,
    MessageIterator,
    MQTTv5,
    MQTTv311,
    NotConnectedError,
    NotSupportedError,
    PacketTooLargeError,
    ProtocolError,
    ProxyError,
    PublishError,
    PublishProperties,
    QueueFullError,
    SessionLostError,
    TimeoutError,
    TlsError,
    TlsOptions,
    WebSocketError,
    Will,
    WillProperties,
    __version__,
)

__all__ = [
    "SESSION_NEVER_EXPIRES",
    "AsyncClient",
    "Client",
    "ClosedError",
    "ConnAck",
    "ConnAckProperties",
    "ConnectError",
    "ConnectProperties",
    "Delivery",
    "DisconnectInfo",
    "DroppedError",
    "Error",
    "InvalidArgumentError",
    "InvalidTopicError",
    "MQTTv5",
    "MQTTv311",
    "Message",
    "MessageIterator",
    "NotConnectedError",
    "NotSupportedError",
    "PacketTooLargeError",
    "ProtocolError",
    "ProxyError",
    "PublishError",
    "PublishProperties",
    "QueueFullError",
    "SessionLostError",
    "TimeoutError",
    "TlsError",
    "TlsOptions",
    "WebSocketError",
    "Will",
    "WillProperties",
    "__version__",
]

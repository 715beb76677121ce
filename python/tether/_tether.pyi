"""Type stubs of tether's extension module (hand-written; checked with mypy.stubtest)."""

import builtins
import os
import pathlib
from collections.abc import Awaitable, Generator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Callable, Final, Literal, final

from typing_extensions import Self, TypeAlias, disjoint_base

__all__ = [
    "SESSION_NEVER_EXPIRES",
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

__version__: Final[str]
SESSION_NEVER_EXPIRES: Final[int]
MQTTv5: Final[int]
MQTTv311: Final[int]

_Payload: TypeAlias = bytes | bytearray | memoryview | str | None
_Binary: TypeAlias = bytes | bytearray | memoryview
_UserProperties: TypeAlias = Iterable[tuple[str, str]] | Mapping[str, str]
_TopicFilters: TypeAlias = str | tuple[str, int] | Iterable[str | tuple[str, int]]
_OnDisconnect: TypeAlias = Callable[[int], object] | Callable[[int, DisconnectInfo], object]

# --- errors -----------------------------------------------------------------------------------

class Error(Exception):
    """Base class of every tether error."""

    reason_code: int | None
    reason_string: str | None
    def __init__(
        self, *args: object, reason_code: int | None = None, reason_string: str | None = None
    ) -> None: ...

class ConnectError(Error, ConnectionError):
    """The server refused the connection or could not be reached."""

class TlsError(ConnectError):
    """TLS failed in a way retrying will not fix (certificate, key or CA, handshake refused)."""

class WebSocketError(ConnectError):
    """The WebSocket upgrade was refused (HTTP status) or the ``mqtt`` subprotocol not confirmed."""

class ProxyError(ConnectError):
    """The HTTP proxy refused CONNECT (its HTTP status and reason in the message)."""

class TimeoutError(Error, builtins.TimeoutError):
    """The operation did not complete within its timeout."""

class NotConnectedError(Error):
    """The operation needs a connection."""

class ProtocolError(Error):
    """The server broke the MQTT protocol."""

class QueueFullError(Error):
    """The send queue is full."""

class InvalidArgumentError(Error, ValueError):
    """An argument is invalid (an int outside its range names its field); nothing was sent."""

class InvalidTopicError(InvalidArgumentError):
    """A topic name or filter is invalid; nothing was sent."""

class PacketTooLargeError(InvalidArgumentError):
    """The packet exceeds the server's Maximum Packet Size."""

class NotSupportedError(Error):
    """The server does not support what was asked."""

class PublishError(Error):
    """A delivery failed; from flush(), every delivery that failed since the previous one."""

    failed: int
    """How many deliveries failed (1 for a single delivery)."""
    failures: tuple[tuple[str, int | None, str], ...]
    """From flush(): the first failures as (topic, packet_id, reason)."""

class DroppedError(PublishError):
    """The message was dropped before it was sent."""

class SessionLostError(PublishError):
    """The server lost the session and on_session_lost='fail'."""

class ClosedError(Error):
    """The client is closed."""

# --- properties -------------------------------------------------------------------------------

@final
class PublishProperties:
    """PUBLISH properties (MQTT 5, 3.3.2.3)."""

    payload_format_indicator: int | None
    message_expiry_interval: int | None
    content_type: str | None
    response_topic: str | None
    @property
    def correlation_data(self) -> bytes | None: ...
    @correlation_data.setter
    def correlation_data(self, value: _Binary | None) -> None: ...
    @property
    def user_properties(self) -> list[tuple[str, str]]: ...
    @user_properties.setter
    def user_properties(self, value: _UserProperties | None) -> None: ...
    @property
    def subscription_identifiers(self) -> list[int]: ...
    topic_alias: int | None
    def __new__(
        cls,
        *,
        payload_format_indicator: int | None = None,
        message_expiry_interval: int | None = None,
        content_type: str | None = None,
        response_topic: str | None = None,
        correlation_data: _Binary | None = None,
        user_properties: _UserProperties | None = None,
        topic_alias: int | None = None,
    ) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class ConnectProperties:
    """CONNECT properties (MQTT 5, 3.1.2.11)."""

    session_expiry_interval: int | None
    receive_maximum: int | None
    maximum_packet_size: int | None
    topic_alias_maximum: int | None
    request_response_information: bool | None
    request_problem_information: bool | None
    authentication_method: str | None
    @property
    def user_properties(self) -> list[tuple[str, str]]: ...
    @user_properties.setter
    def user_properties(self, value: _UserProperties | None) -> None: ...
    @property
    def authentication_data(self) -> bytes | None: ...
    @authentication_data.setter
    def authentication_data(self, value: _Binary | None) -> None: ...
    def __new__(
        cls,
        *,
        session_expiry_interval: int | None = None,
        receive_maximum: int | None = None,
        maximum_packet_size: int | None = None,
        topic_alias_maximum: int | None = None,
        request_response_information: bool | None = None,
        request_problem_information: bool | None = None,
        user_properties: _UserProperties | None = None,
        authentication_method: str | None = None,
        authentication_data: _Binary | None = None,
    ) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class WillProperties:
    """Will properties (MQTT 5, 3.1.3.2)."""

    will_delay_interval: int | None
    payload_format_indicator: int | None
    message_expiry_interval: int | None
    content_type: str | None
    response_topic: str | None
    @property
    def correlation_data(self) -> bytes | None: ...
    @correlation_data.setter
    def correlation_data(self, value: _Binary | None) -> None: ...
    @property
    def user_properties(self) -> list[tuple[str, str]]: ...
    @user_properties.setter
    def user_properties(self, value: _UserProperties | None) -> None: ...
    def __new__(
        cls,
        *,
        will_delay_interval: int | None = None,
        payload_format_indicator: int | None = None,
        message_expiry_interval: int | None = None,
        content_type: str | None = None,
        response_topic: str | None = None,
        correlation_data: _Binary | None = None,
        user_properties: _UserProperties | None = None,
    ) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class TlsOptions:
    """TLS settings for mqtts:// and wss:// servers, ALPN included (verify=False is dangerous:
    tests only); files or PEM bytes."""

    @property
    def ca_file(self) -> pathlib.Path | None: ...
    @property
    def cert_file(self) -> pathlib.Path | None: ...
    @property
    def key_file(self) -> pathlib.Path | None: ...
    @property
    def alpn(self) -> list[str] | None: ...
    @property
    def verify(self) -> bool: ...
    @property
    def ca_pem(self) -> bytes | None: ...
    @property
    def cert_pem(self) -> bytes | None: ...
    @property
    def key_pem(self) -> bytes | None: ...
    def __new__(
        cls,
        ca_file: str | os.PathLike[str] | None = None,
        cert_file: str | os.PathLike[str] | None = None,
        key_file: str | os.PathLike[str] | None = None,
        alpn: list[str] | None = None,
        verify: bool = True,
        ca_pem: _Binary | str | None = None,
        cert_pem: _Binary | str | None = None,
        key_pem: _Binary | str | None = None,
    ) -> Self: ...

@final
class Will:
    """The Will Message the server publishes when the connection ends without DISCONNECT."""

    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def qos(self) -> int: ...
    retain: bool
    properties: WillProperties | None
    def __new__(
        cls,
        topic: str | bytes,
        payload: _Payload = None,
        qos: int = 0,
        retain: bool = False,
        properties: WillProperties | None = None,
    ) -> Self: ...

@final
class ConnAckProperties:
    """CONNACK properties (MQTT 5, 3.2.2.3); None: not sent by the server."""

    @property
    def session_expiry_interval(self) -> int | None: ...
    @property
    def receive_maximum(self) -> int | None: ...
    @property
    def maximum_qos(self) -> int | None: ...
    @property
    def retain_available(self) -> bool | None: ...
    @property
    def maximum_packet_size(self) -> int | None: ...
    @property
    def assigned_client_identifier(self) -> str | None: ...
    @property
    def topic_alias_maximum(self) -> int | None: ...
    @property
    def reason_string(self) -> str | None: ...
    @property
    def user_properties(self) -> list[tuple[str, str]]: ...
    @property
    def wildcard_subscription_available(self) -> bool | None: ...
    @property
    def subscription_identifiers_available(self) -> bool | None: ...
    @property
    def shared_subscription_available(self) -> bool | None: ...
    @property
    def server_keep_alive(self) -> int | None: ...
    @property
    def response_information(self) -> str | None: ...
    @property
    def server_reference(self) -> str | None: ...
    @property
    def authentication_method(self) -> str | None: ...
    @property
    def authentication_data(self) -> bytes | None: ...

@final
class DisconnectInfo:
    """How a connection ended: who ended it, and the reason of the packet that did."""

    @property
    def by(self) -> Literal["server", "client", "keep_alive", "lost", "refused"]: ...
    @property
    def reason_code(self) -> int | None: ...
    @property
    def reason_string(self) -> str | None: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class ConnAck:
    """The server's answer to a connection (CONNACK)."""

    @property
    def session_present(self) -> bool: ...
    @property
    def reason_code(self) -> int: ...
    @property
    def properties(self) -> ConnAckProperties: ...

# --- messages and deliveries ------------------------------------------------------------------

@final
class Message:
    """A message received from the server."""

    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def qos(self) -> int: ...
    @property
    def dup(self) -> bool: ...
    @property
    def retain(self) -> bool: ...
    @property
    def properties(self) -> PublishProperties: ...
    @property
    def needs_ack(self) -> bool: ...
    def ack(self) -> None:
        """Acknowledge the message (with manual_ack=True)."""

@final
class Delivery:
    """The outcome of one publish()."""

    def wait(self, timeout: float | None = None) -> None:
        """Block until the server acknowledged the message (or raise why not)."""
    @property
    def done(self) -> bool: ...
    @property
    def reason_code(self) -> int | None: ...
    @property
    def exception(self) -> Error | None: ...
    @property
    def packet_id(self) -> int | None: ...
    @property
    def qos(self) -> int: ...
    def __await__(self) -> Generator[Any]: ...

@final
class MessageIterator:
    """Iterates over received messages (see Client.messages)."""

    def __iter__(self) -> MessageIterator: ...
    def __next__(self) -> Message: ...

# --- the client -------------------------------------------------------------------------------

@disjoint_base
class Client:
    """An MQTT 5.0 client with a session that survives (blocking API)."""

    def __new__(
        cls,
        client_id: str = "",
        *,
        clean_start: bool = True,
        session_expiry_interval: int | None = None,
        keep_alive: int = 60,
        username: str | None = None,
        password: str | bytes | None = None,
        will: Will | None = None,
        properties: ConnectProperties | None = None,
        reconnect: bool = True,
        reconnect_min_delay: float = 0.1,
        reconnect_max_delay: float = 30.0,
        max_queued: int = 1_000,
        max_queued_bytes: int = 16_777_216,
        queue_overflow: str = "block",
        on_session_lost: str = "republish",
        manual_ack: bool = False,
        receive_maximum: int | None = None,
        max_packet_size: int | None = None,
        topic_alias_maximum: int | None = None,
        connect_timeout: float = 10.0,
        auto_topic_alias: bool = True,
        quota_retries: int = 5,
        quota_retry_backoff: float = 0.1,
        tls: TlsOptions | None = None,
        ws_headers: Mapping[str, str] | None = None,
        protocol: int = 5,
        max_inflight: int = 65535,
        proxy: str | None = None,
        follow_server_references: bool = True,
        store: str | os.PathLike[str] | None = None,
        durability: Literal["none", "batched", "always"] = "batched",
    ) -> Self: ...
    @property
    def client_id(self) -> str: ...
    def restored(self) -> list[Delivery]:
        """Deliveries of the messages restored from the session store, in original order."""
    @property
    def is_connected(self) -> bool: ...
    @property
    def last_disconnect(self) -> DisconnectInfo | None:
        """How the last connection ended, or None before any ended."""
    @property
    def _active(self) -> bool: ...
    def connect(
        self, host: str | Sequence[str], port: int | None = None, timeout: float | None = 10.0
    ) -> ConnAck:
        """Connect to host:port, to the URL in host ("mqtts://host:8883"), or to the first that
        answers of a list of URLs (failover: a lost connection moves to the next); wait for
        CONNACK."""
    def subscribe(
        self,
        topic: _TopicFilters,
        qos: int = 0,
        *,
        no_local: bool = False,
        retain_as_published: bool = False,
        retain_handling: int = 0,
        subscription_identifier: int | None = None,
        user_properties: _UserProperties | None = None,
        timeout: float | None = None,
    ) -> list[int]:
        """Subscribe; one reason code per filter."""
    def unsubscribe(
        self,
        topic: str | Iterable[str],
        *,
        user_properties: _UserProperties | None = None,
        timeout: float | None = None,
    ) -> list[int]:
        """Unsubscribe; one reason code per filter."""
    def publish(
        self,
        topic: str | bytes,
        payload: _Payload = None,
        qos: int = 0,
        retain: bool = False,
        properties: PublishProperties | None = None,
    ) -> Delivery:
        """Publish a message; returns its Delivery at once."""
    def flush(self, timeout: float | None = None) -> None:
        """Wait until every delivery so far has completed; PublishError if any failed."""
    def recv(self, timeout: float | None = None) -> Message | None:
        """The next received message, or None."""
    def messages(self, timeout: float | None = None) -> MessageIterator:
        """Iterate over received messages."""
    def disconnect(
        self,
        reason_code: int = 0,
        session_expiry_interval: int | None = None,
        timeout: float | None = 10.0,
    ) -> None:
        """Send DISCONNECT and close."""
    def stats(self) -> dict[str, int | bool]:
        """The client's counters."""
    @property
    def on_message(self) -> Callable[[Message], object] | None: ...
    @on_message.setter
    def on_message(self, value: Callable[[Message], object] | None) -> None: ...
    @property
    def on_connect(self) -> Callable[[ConnAck], object] | None:
        """fn(ack): every CONNACK that accepts the connection (reconnects too); a refusing
        CONNACK goes to on_disconnect instead, as in the C face."""
    @on_connect.setter
    def on_connect(self, value: Callable[[ConnAck], object] | None) -> None: ...
    @property
    def on_disconnect(self) -> _OnDisconnect | None:
        """fn(reason_code) or fn(reason_code, info: DisconnectInfo): every end of a
        connection and every refusing CONNACK (info.by == "refused", its reason code).
        reason_code is the same number the C face's on_disconnect gets: the DISCONNECT's or
        CONNACK's reason code, 0x8D for the client's keep-alive expiry, 0x80 for a lost link."""
    @on_disconnect.setter
    def on_disconnect(self, value: _OnDisconnect | None) -> None: ...
    def __enter__(self) -> Client: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> bool: ...
    # asyncio primitives of tether.AsyncClient
    def _aconnect(
        self, host: str | Sequence[str], port: int | None = None, timeout: float | None = 10.0
    ) -> Awaitable[ConnAck]: ...
    def _asubscribe(
        self,
        topic: _TopicFilters,
        qos: int = 0,
        *,
        no_local: bool = False,
        retain_as_published: bool = False,
        retain_handling: int = 0,
        subscription_identifier: int | None = None,
        user_properties: _UserProperties | None = None,
        timeout: float | None = None,
    ) -> Awaitable[list[int]]: ...
    def _aunsubscribe(
        self,
        topic: str | Iterable[str],
        *,
        user_properties: _UserProperties | None = None,
        timeout: float | None = None,
    ) -> Awaitable[list[int]]: ...
    def _apublish(
        self,
        topic: str | bytes,
        payload: _Payload = None,
        qos: int = 0,
        retain: bool = False,
        properties: PublishProperties | None = None,
    ) -> Delivery | Awaitable[Delivery]: ...
    def _aflush(self, timeout: float | None = None) -> Awaitable[None]: ...
    def _adisconnect(
        self,
        reason_code: int = 0,
        session_expiry_interval: int | None = None,
        timeout: float | None = 10.0,
    ) -> Awaitable[None]: ...
    def _arecv(
        self, timeout: float | None = None
    ) -> Message | Awaitable[Message | None] | None: ...

def _async_client(*args: Any, **kwargs: Any) -> Client: ...
def _shutdown() -> None: ...

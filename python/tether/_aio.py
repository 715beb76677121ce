"""tether.AsyncClient: the asyncio face of the client.

Each coroutine hands its request to tether's Rust runtime and awaits an asyncio future that the
runtime resolves with ``loop.call_soon_threadsafe``: the event loop never polls and no thread
is started per call or per message.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Callable, Literal, Union

from ._tether import (
    Client,
    ConnAck,
    ConnectProperties,
    Delivery,
    DisconnectInfo,
    Message,
    PublishProperties,
    TlsOptions,
    Will,
    _async_client,
)

Payload = Union[bytes, bytearray, memoryview, str, None]
TopicFilters = Union[str, tuple[str, int], Iterable[Union[str, tuple[str, int]]]]
OnDisconnect = Union[Callable[[int], object], Callable[[int, DisconnectInfo], object]]


class AsyncClient:
    """An MQTT 5.0 client for asyncio, with the same options and operations as
    :class:`tether.Client`, as coroutines.

        async with tether.AsyncClient("sensor-1", session_expiry_interval=3600) as client:
            await client.connect("127.0.0.1", 1883)
            await client.subscribe("sensors/#", qos=1)
            delivery = await client.publish("sensors/1", b"21.5", qos=1)
            await delivery                      # acknowledged by the server
            async for msg in client.messages(timeout=1.0):
                print(msg.topic, msg.payload)

    ``publish()`` returns once the client has taken the message (it waits only while the send
    queue is full under ``queue_overflow="block"``); await the returned :class:`Delivery` for
    the server's acknowledgement. Cancelling a coroutine is safe: a message whose ``recv()`` was
    cancelled is kept for the next one.

    The callbacks ``on_message``, ``on_connect`` and ``on_disconnect`` are available too; they
    run on the client's dispatch thread, not on the event loop (use
    ``loop.call_soon_threadsafe`` to hand work to the loop).
    """

    def __init__(
        self,
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
    ) -> None:
        self._client: Client = _async_client(
            client_id,
            clean_start=clean_start,
            session_expiry_interval=session_expiry_interval,
            keep_alive=keep_alive,
            username=username,
            password=password,
            will=will,
            properties=properties,
            reconnect=reconnect,
            reconnect_min_delay=reconnect_min_delay,
            reconnect_max_delay=reconnect_max_delay,
            max_queued=max_queued,
            max_queued_bytes=max_queued_bytes,
            queue_overflow=queue_overflow,
            on_session_lost=on_session_lost,
            manual_ack=manual_ack,
            receive_maximum=receive_maximum,
            max_packet_size=max_packet_size,
            topic_alias_maximum=topic_alias_maximum,
            connect_timeout=connect_timeout,
            auto_topic_alias=auto_topic_alias,
            quota_retries=quota_retries,
            quota_retry_backoff=quota_retry_backoff,
            tls=tls,
            ws_headers=ws_headers,
            protocol=protocol,
            max_inflight=max_inflight,
            proxy=proxy,
            follow_server_references=follow_server_references,
            store=store,
            durability=durability,
        )

    @property
    def client_id(self) -> str:
        """The client identifier."""
        return self._client.client_id

    def restored(self) -> list[Delivery]:
        """The deliveries of the messages restored from the session store (``store=``) when
        the client was made, in their original order: await them to learn what became of what
        a previous run of the process published. Empty without a store."""
        return self._client.restored()

    @property
    def is_connected(self) -> bool:
        """True while a connection is up."""
        return self._client.is_connected

    def stats(self) -> dict[str, int | bool]:
        """The client's counters (see :meth:`tether.Client.stats`)."""
        return self._client.stats()

    @property
    def on_message(self) -> Callable[[Message], object] | None:
        """Called with each received message, on the client's dispatch thread."""
        return self._client.on_message

    @on_message.setter
    def on_message(self, callback: Callable[[Message], object] | None) -> None:
        self._client.on_message = callback

    @property
    def on_connect(self) -> Callable[[ConnAck], object] | None:
        """Called with the ConnAck of every connection, on the client's dispatch thread."""
        return self._client.on_connect

    @on_connect.setter
    def on_connect(self, callback: Callable[[ConnAck], object] | None) -> None:
        self._client.on_connect = callback

    @property
    def on_disconnect(self) -> OnDisconnect | None:
        """Called when a connection ends, on the dispatch thread: ``fn(reason_code)``, or
        ``fn(reason_code, info)`` to also get the :class:`tether.DisconnectInfo` saying who
        ended it (see :attr:`tether.Client.on_disconnect`)."""
        return self._client.on_disconnect

    @on_disconnect.setter
    def on_disconnect(self, callback: OnDisconnect | None) -> None:
        self._client.on_disconnect = callback

    @property
    def last_disconnect(self) -> DisconnectInfo | None:
        """How the last connection ended, or None before any ended."""
        return self._client.last_disconnect

    async def connect(
        self, host: str | Sequence[str], port: int | None = None, timeout: float | None = 10.0
    ) -> ConnAck:
        """Connect to host:port, to the URL in host, or to a server list of URLs (failover),
        and wait for CONNACK; see
        :meth:`tether.Client.connect`."""
        return await self._client._aconnect(host, port, timeout)

    async def subscribe(
        self,
        topic: TopicFilters,
        qos: int = 0,
        *,
        no_local: bool = False,
        retain_as_published: bool = False,
        retain_handling: int = 0,
        subscription_identifier: int | None = None,
        user_properties: Iterable[tuple[str, str]] | Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> list[int]:
        """Subscribe and return one reason code per filter; see
        :meth:`tether.Client.subscribe`."""
        return await self._client._asubscribe(
            topic,
            qos,
            no_local=no_local,
            retain_as_published=retain_as_published,
            retain_handling=retain_handling,
            subscription_identifier=subscription_identifier,
            user_properties=user_properties,
            timeout=timeout,
        )

    async def unsubscribe(
        self,
        topic: str | Iterable[str],
        *,
        user_properties: Iterable[tuple[str, str]] | Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> list[int]:
        """Unsubscribe and return one reason code per filter."""
        return await self._client._aunsubscribe(
            topic, user_properties=user_properties, timeout=timeout
        )

    async def publish(
        self,
        topic: str,
        payload: Payload = None,
        qos: int = 0,
        retain: bool = False,
        properties: PublishProperties | None = None,
    ) -> Delivery:
        """Publish a message; returns its :class:`Delivery` once the client has taken it.
        ``await delivery`` waits for the server's acknowledgement."""
        taken = self._client._apublish(topic, payload, qos, retain, properties)
        if isinstance(taken, Delivery):
            return taken
        return await taken

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every delivery published so far has completed."""
        await self._client._aflush(timeout)

    async def recv(self, timeout: float | None = None) -> Message | None:
        """The next received message, or None when none came within ``timeout`` seconds or
        the client is disconnected and no message is left."""
        next_message = self._client._arecv(timeout)
        if next_message is None or isinstance(next_message, Message):
            return next_message
        return await next_message

    async def messages(self, timeout: float | None = None) -> AsyncIterator[Message]:
        """``async for msg in client.messages(timeout=...)``: ends when no message came within
        ``timeout`` seconds (None: waits while connected) or after ``disconnect()``."""
        while True:
            msg = await self.recv(timeout)
            if msg is None:
                return
            yield msg

    async def disconnect(
        self,
        reason_code: int = 0,
        session_expiry_interval: int | None = None,
        timeout: float | None = 10.0,
    ) -> None:
        """Send DISCONNECT and close; see :meth:`tether.Client.disconnect`."""
        await self._client._adisconnect(reason_code, session_expiry_interval, timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client.is_connected or self._client._active:
            try:
                await self.disconnect()
            except Exception:
                if exc_type is None:
                    raise

    def __repr__(self) -> str:
        state = "connected" if self.is_connected else "not connected"
        return f"<tether.AsyncClient {self.client_id!r} {state}>"

"""Bad arguments: refused with a clear error, before anything is sent."""

from __future__ import annotations

import ast
import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

import tether


@pytest.fixture
def client(port: int, uid: str) -> Iterator[tether.Client]:
    with tether.Client(uid) as c:
        c.connect("127.0.0.1", port)
        yield c


@pytest.mark.parametrize("topic", ["", "a/+/b", "a/#", "nul\x00byte", "x" * 70000])
def test_bad_publish_topic(client: tether.Client, topic: str) -> None:
    before = client.stats()["messages_out"]
    with pytest.raises(tether.InvalidTopicError) as info:
        client.publish(topic, b"x", qos=1)
    assert isinstance(info.value, ValueError)
    assert client.stats()["messages_out"] == before


def test_topic_with_bad_utf8(client: tether.Client) -> None:
    with pytest.raises(tether.InvalidTopicError, match="UTF-8"):
        client.publish("bad/\udc80", b"x")
    with pytest.raises(tether.InvalidTopicError, match="UTF-8"):
        client.publish(b"bad/\xff", b"x")
    with pytest.raises(tether.InvalidTopicError, match="UTF-8"):
        client.subscribe("bad/\udc80")


@pytest.mark.parametrize("qos", [-1, 3, 255, 1000])
def test_qos_out_of_range(client: tether.Client, qos: int) -> None:
    with pytest.raises(ValueError, match="qos"):
        client.publish("t", b"x", qos=qos)
    with pytest.raises(ValueError, match="qos"):
        client.subscribe("t", qos=qos)


@pytest.mark.parametrize("payload", [42, 1.5, object(), ["list"], {"a": 1}])
def test_payload_must_be_bytes_or_str(client: tether.Client, payload: object) -> None:
    with pytest.raises(TypeError, match="payload must be bytes"):
        client.publish("t", payload)  # type: ignore[arg-type]


def test_wrong_argument_types(client: tether.Client) -> None:
    with pytest.raises(TypeError):
        client.publish(42, b"x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.publish("t", b"x", qos="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.subscribe(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.subscribe([("t", "1")])  # type: ignore[list-item]


def test_bad_subscribe_arguments(client: tether.Client) -> None:
    with pytest.raises(tether.InvalidTopicError):
        client.subscribe("a/#/b")
    with pytest.raises(tether.InvalidTopicError):
        client.subscribe("")
    with pytest.raises(tether.InvalidArgumentError):
        client.subscribe([])
    with pytest.raises(ValueError, match="retain_handling"):
        client.subscribe("t", retain_handling=3)
    with pytest.raises(ValueError, match="subscription_identifier"):
        client.subscribe("t", subscription_identifier=0)
    with pytest.raises(ValueError, match="no_local"):
        client.subscribe("$share/g/t", no_local=True)
    with pytest.raises(tether.InvalidTopicError):
        client.unsubscribe("a/#/b")


def test_bad_user_properties(client: tether.Client) -> None:
    with pytest.raises(TypeError, match="pair"):
        tether.PublishProperties(user_properties=[("k",)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="pair"):
        tether.PublishProperties(user_properties=[("k", 1)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        tether.PublishProperties(user_properties="kv")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="correlation_data"):
        tether.PublishProperties(correlation_data="text")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        tether.PublishProperties(payload_format_indicator=2)
    p = tether.PublishProperties(user_properties={"a": "b"})
    assert p.user_properties == [("a", "b")]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"keep_alive": -1}, "keep_alive"),
        ({"keep_alive": 70000}, "keep_alive"),
        ({"session_expiry_interval": -1}, "session_expiry_interval"),
        ({"session_expiry_interval": 2**32}, "session_expiry_interval"),
        ({"receive_maximum": 0}, "receive_maximum"),
        ({"max_packet_size": 0}, "max_packet_size"),
        ({"topic_alias_maximum": 70000}, "topic_alias_maximum"),
        ({"queue_overflow": "sometimes"}, "queue_overflow"),
        ({"on_session_lost": "ignore"}, "on_session_lost"),
        ({"max_queued": 0}, "max_queued"),
        ({"reconnect_min_delay": 5.0, "reconnect_max_delay": 1.0}, "reconnect_min_delay"),
        ({"reconnect_min_delay": float("nan")}, "reconnect_min_delay"),
        ({"proxy": "https://127.0.0.1:3128"}, "only http://"),
        ({"proxy": "http://127.0.0.1:0"}, "port"),
        ({"proxy": "127.0.0.1:3128"}, "proxy URL"),
        (
            {
                "session_expiry_interval": 10,
                "properties": tether.ConnectProperties(session_expiry_interval=20),
            },
            "contradicts",
        ),
    ],
)
def test_bad_client_options(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tether.Client("x", **kwargs)  # type: ignore[arg-type]


def test_bad_connect_and_disconnect_arguments(uid: str) -> None:
    c = tether.Client(uid)
    with pytest.raises(ValueError, match="port"):
        c.connect("127.0.0.1", 0)
    with pytest.raises(ValueError, match="port"):
        c.connect("127.0.0.1", 70000)
    with pytest.raises(ValueError, match="timeout"):
        c.connect("127.0.0.1", 1883, timeout=-1)
    with pytest.raises(ValueError, match="reason code"):
        c.disconnect(reason_code=3)
    with pytest.raises(ValueError, match="session_expiry_interval"):
        c.disconnect(session_expiry_interval=60)  # connected with expiry 0: a protocol error


def test_bad_will() -> None:
    with pytest.raises(tether.InvalidTopicError):
        tether.Will("status/#", b"x")
    with pytest.raises(ValueError):
        tether.Will("status", b"x", qos=5)
    with pytest.raises(TypeError):
        tether.Will("status", 42)  # type: ignore[arg-type]


def test_subscribe_and_unsubscribe_need_a_connection(uid: str) -> None:
    c = tether.Client(uid)
    with pytest.raises(tether.NotConnectedError):
        c.subscribe("t")
    with pytest.raises(tether.NotConnectedError):
        c.unsubscribe("t")


def test_queue_overflow_fail(uid: str) -> None:
    c = tether.Client(uid, max_queued=5, queue_overflow="fail")
    deliveries = [c.publish("t", b"x", qos=1) for _ in range(5)]
    failed = 0
    for _ in range(20):
        try:
            deliveries.append(c.publish("t", b"x", qos=1))
        except tether.QueueFullError:
            failed += 1
    late_failures = 0
    for d in deliveries[5:]:
        with pytest.raises(tether.QueueFullError):
            d.wait(timeout=5)
        late_failures += 1
    assert failed + late_failures == 20


def test_queue_overflow_drop_oldest(uid: str) -> None:
    c = tether.Client(uid, max_queued=3, queue_overflow="drop_oldest")
    deliveries = [c.publish("t", str(i), qos=1) for i in range(6)]
    for d in deliveries[:3]:
        with pytest.raises(tether.DroppedError):
            d.wait(timeout=5)
    assert not any(d.done for d in deliveries[3:])


def test_error_attributes() -> None:
    e = tether.PublishError("refused", reason_code=0x87, reason_string="no")
    assert e.reason_code == 0x87 and e.reason_string == "no" and str(e) == "refused"
    assert tether.ClosedError("x").reason_code is None


# --- every numeric field, out of range ---------------------------------------------------------
#
# Each int field of each class and each int or float argument of the clients, with the values
# around its range: InvalidArgumentError (a ValueError) naming the field, never OverflowError.
# The lists are explicit; test_every_numeric_field_is_listed fails when the stubs (or
# AsyncClient) gain a numeric field that is not listed here.

U32 = 2**32 - 1

# field -> (min, max); the same field name has the same range everywhere.
INT_RANGES: dict[str, tuple[int, int]] = {
    "qos": (0, 2),
    "retain_handling": (0, 2),
    "payload_format_indicator": (0, 1),
    "keep_alive": (0, 65535),
    "topic_alias_maximum": (0, 65535),
    "topic_alias": (1, 65535),
    "receive_maximum": (1, 65535),
    "port": (1, 65535),
    "reason_code": (0, 255),
    "session_expiry_interval": (0, U32),
    "message_expiry_interval": (0, U32),
    "will_delay_interval": (0, U32),
    "max_packet_size": (1, U32),
    "maximum_packet_size": (1, U32),
    "subscription_identifier": (1, 268_435_455),
    "max_queued": (1, 2**64 - 1),
    "max_queued_bytes": (1, 2**64 - 1),
    "quota_retries": (0, 255),
    "protocol": (4, 5),
    "max_inflight": (1, 65535),
}
# Durations in seconds (int or float): 0 up to a four-byte number of seconds.
SECONDS_FIELDS = {
    "timeout",
    "reconnect_min_delay",
    "reconnect_max_delay",
    "connect_timeout",
    "quota_retry_backoff",
}

# class -> its int fields: keyword arguments of the constructor, and attributes that can be set.
CLASS_FIELDS: dict[str, tuple[list[str], list[str]]] = {
    "PublishProperties": (
        ["payload_format_indicator", "message_expiry_interval", "topic_alias"],
        ["payload_format_indicator", "message_expiry_interval", "topic_alias"],
    ),
    "ConnectProperties": (
        [
            "session_expiry_interval",
            "receive_maximum",
            "maximum_packet_size",
            "topic_alias_maximum",
        ],
        [
            "session_expiry_interval",
            "receive_maximum",
            "maximum_packet_size",
            "topic_alias_maximum",
        ],
    ),
    "WillProperties": (
        ["will_delay_interval", "payload_format_indicator", "message_expiry_interval"],
        ["will_delay_interval", "payload_format_indicator", "message_expiry_interval"],
    ),
    "Will": (["qos"], []),
}

# client method -> its numeric arguments (the same for Client and AsyncClient).
CLIENT_ARGS: dict[str, list[str]] = {
    "__init__": [
        "session_expiry_interval",
        "keep_alive",
        "reconnect_min_delay",
        "reconnect_max_delay",
        "max_queued",
        "max_queued_bytes",
        "receive_maximum",
        "max_packet_size",
        "topic_alias_maximum",
        "connect_timeout",
        "quota_retries",
        "quota_retry_backoff",
        "protocol",
        "max_inflight",
    ],
    "connect": ["port", "timeout"],
    "subscribe": ["qos", "retain_handling", "subscription_identifier", "timeout"],
    "unsubscribe": ["timeout"],
    "publish": ["qos"],
    "flush": ["timeout"],
    "recv": ["timeout"],
    "messages": ["timeout"],
    "disconnect": ["reason_code", "session_expiry_interval", "timeout"],
}
DELIVERY_ARGS: dict[str, list[str]] = {"wait": ["timeout"]}

# What a call needs besides the argument under test.
REQUIRED: dict[str, dict[str, object]] = {
    "Will": {"topic": "will/t"},
    "connect": {"host": "127.0.0.1"},
    "subscribe": {"topic": "t"},
    "unsubscribe": {"topic": "t"},
    "publish": {"topic": "t", "payload": b"x"},
}


def bad_values(field: str) -> list[object]:
    if field in SECONDS_FIELDS:
        return [-1, -0.5, U32 + 1, 2**64, 10**400, float("inf"), float("nan")]
    low, high = INT_RANGES[field]
    return [v for v in sorted({low - 1, -1, high + 1, 2**64, -(2**64), 2**200})]


def cases(table: dict[str, list[str]]) -> list[tuple[str, str, object]]:
    return [(m, f, v) for m, fields in table.items() for f in fields for v in bad_values(f)]


def class_cases(setters: bool) -> list[tuple[str, str, object]]:
    return [
        (cls, field, value)
        for cls, (init, attrs) in CLASS_FIELDS.items()
        for field in (attrs if setters else init)
        for value in bad_values(field)
    ]


def assert_refused(info: pytest.ExceptionInfo[BaseException], field: str) -> None:
    err = info.value
    assert isinstance(err, tether.InvalidArgumentError), f"{type(err).__name__}: {err}"
    assert isinstance(err, ValueError)
    assert field in str(err), str(err)


def numeric(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return any(word in str(text).replace("|", " ").split() for word in ("int", "float"))


@pytest.mark.parametrize(("cls", "field", "value"), class_cases(setters=False))
def test_class_constructor_refuses(cls: str, field: str, value: object) -> None:
    make = getattr(tether, cls)
    with pytest.raises(Exception) as info:
        make(**REQUIRED.get(cls, {}), **{field: value})
    assert_refused(info, field)


@pytest.mark.parametrize(("cls", "field", "value"), class_cases(setters=True))
def test_class_attribute_refuses(cls: str, field: str, value: object) -> None:
    obj = getattr(tether, cls)(**REQUIRED.get(cls, {}))
    with pytest.raises(Exception) as info:
        setattr(obj, field, value)
    assert_refused(info, field)
    assert getattr(obj, field) is None


@pytest.mark.parametrize(
    ("cls", "field"), [(c, f) for c, (i, _) in CLASS_FIELDS.items() for f in i]
)
def test_class_fields_take_their_whole_range(cls: str, field: str) -> None:
    low, high = INT_RANGES[field]
    for value in (low, high):
        obj = getattr(tether, cls)(**REQUIRED.get(cls, {}), **{field: value})
        assert getattr(obj, field) == value
        if field in CLASS_FIELDS[cls][1]:
            setattr(obj, field, None)
            assert getattr(obj, field) is None
            setattr(obj, field, value)
            assert getattr(obj, field) == value


@pytest.mark.parametrize(("method", "field", "value"), cases(CLIENT_ARGS))
def test_client_argument_refuses(uid: str, method: str, field: str, value: object) -> None:
    kwargs = {**REQUIRED.get(method, {}), field: value}
    with pytest.raises(Exception) as info:
        if method == "__init__":
            tether.Client(uid, **kwargs)  # type: ignore[arg-type]
        else:
            getattr(tether.Client(uid), method)(**kwargs)
    assert_refused(info, field)


@pytest.mark.parametrize(("method", "field", "value"), cases(CLIENT_ARGS))
def test_async_client_argument_refuses(uid: str, method: str, field: str, value: object) -> None:
    kwargs = {**REQUIRED.get(method, {}), field: value}

    async def call() -> None:
        if method == "__init__":
            tether.AsyncClient(uid, **kwargs)  # type: ignore[arg-type]
            return
        client = tether.AsyncClient(uid)
        if method == "messages":
            async for _ in client.messages(**kwargs):  # type: ignore[arg-type]
                pass
            return
        await getattr(client, method)(**kwargs)

    with pytest.raises(Exception) as info:
        asyncio.run(call())
    assert_refused(info, field)


@pytest.mark.parametrize(("method", "field", "value"), cases(DELIVERY_ARGS))
def test_delivery_argument_refuses(uid: str, method: str, field: str, value: object) -> None:
    delivery = tether.Client(uid).publish("t", b"x", qos=1)
    with pytest.raises(Exception) as info:
        getattr(delivery, method)(**{field: value})
    assert_refused(info, field)


@pytest.mark.parametrize("value", bad_values("qos"))
def test_qos_in_a_subscription_tuple(uid: str, value: int) -> None:
    with pytest.raises(Exception) as info:
        tether.Client(uid).subscribe([("a", 1), ("b", value)])
    assert_refused(info, "qos")


def test_numbers_of_the_wrong_type_stay_type_errors(uid: str) -> None:
    with pytest.raises(TypeError, match="keep_alive"):
        tether.Client(uid, keep_alive="60")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="qos"):
        tether.Client(uid).publish("t", b"x", qos=1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="message_expiry_interval"):
        tether.PublishProperties(message_expiry_interval="5")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timeout"):
        tether.Client(uid).flush(timeout="1")  # type: ignore[arg-type]


def test_every_numeric_field_is_listed() -> None:
    """The explicit lists above against the stubs and AsyncClient: a numeric field that is
    not listed (so not tested) fails here."""
    stub = ast.parse(Path(tether._tether.__file__).with_name("_tether.pyi").read_text())
    found: dict[str, set[str]] = {}
    for node in stub.body:
        # The exception classes are the library's answers, not its input.
        if not isinstance(node, ast.ClassDef) or issubclass(
            getattr(tether, node.name), BaseException
        ):
            continue
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                if numeric(ast.unparse(item.annotation)):
                    found.setdefault(f"{node.name}.=", set()).add(item.target.id)
            elif isinstance(item, ast.FunctionDef):
                if item.name.startswith("_") and item.name != "__new__":
                    continue
                args = item.args.posonlyargs + item.args.args + item.args.kwonlyargs
                if any(ast.unparse(d).endswith(".setter") for d in item.decorator_list):
                    value = args[1].annotation
                    if value is not None and numeric(ast.unparse(value)):
                        found.setdefault(f"{node.name}.=", set()).add(item.name)
                    continue
                for a in args:
                    if a.annotation is not None and numeric(ast.unparse(a.annotation)):
                        name = "__init__" if item.name == "__new__" else item.name
                        found.setdefault(f"{node.name}.{name}", set()).add(a.arg)
    for name, fn in inspect.getmembers(tether.AsyncClient, inspect.isfunction):
        if name.startswith("_") and name != "__init__":
            continue
        for p in inspect.signature(fn).parameters.values():
            if numeric(p.annotation):
                found.setdefault(f"AsyncClient.{name}", set()).add(p.name)
    listed: dict[str, set[str]] = {}
    for cls, (init, attrs) in CLASS_FIELDS.items():
        listed[f"{cls}.__init__"] = set(init)
        if attrs:
            listed[f"{cls}.="] = set(attrs)
    for method, fields in CLIENT_ARGS.items():
        listed[f"Client.{method}"] = set(fields)
        listed[f"AsyncClient.{method}"] = set(fields)
    for method, fields in DELIVERY_ARGS.items():
        listed[f"Delivery.{method}"] = set(fields)
    assert found == listed
    for names in listed.values():
        assert names <= set(INT_RANGES) | SECONDS_FIELDS


@pytest.mark.parametrize("durability", ["", "Batched", "fsync", "sometimes"])
def test_durability_is_one_of_three(tmp_path: Path, uid: str, durability: str) -> None:
    with pytest.raises(tether.InvalidArgumentError, match="durability"):
        tether.Client(uid, store=tmp_path, durability=durability)  # type: ignore[arg-type]

    async def make_async() -> None:
        tether.AsyncClient(uid, store=tmp_path, durability=durability)  # type: ignore[arg-type]

    with pytest.raises(tether.InvalidArgumentError, match="durability"):
        asyncio.run(make_async())


def test_store_must_be_a_path(uid: str) -> None:
    with pytest.raises(tether.InvalidArgumentError, match="store"):
        tether.Client(uid, store="")
    with pytest.raises(TypeError):
        tether.Client(uid, store=42)  # type: ignore[arg-type]

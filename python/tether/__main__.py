"""``python -m tether sub|pub``: try a broker and a persistent session without writing code.

In the spirit of mosquitto_sub and mosquitto_pub::

    python -m tether sub -h 127.0.0.1 -p 1883 -t 'sensors/#' -q 1 -v
    python -m tether pub -t sensors/1 -m 21.5 -q 1
    # a persistent session: messages published while the subscriber is away arrive later
    python -m tether sub -i me -c -x 3600 -t 'jobs/#' -q 1 -C 1
    python -m tether pub -t jobs/1 -m work -q 1
    python -m tether sub -i me -c -x 3600 -t 'jobs/#' -q 1 -C 1 -d   # session_present: True
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from ._tether import (
    SESSION_NEVER_EXPIRES,
    Client,
    ConnectProperties,
    Error,
    Message,
    PublishProperties,
)

EXIT_TIMEOUT = 27  # as mosquitto_sub -W


def _user_property(values: list[str]) -> tuple[str, str, str]:
    """-D [COMMAND] user-property KEY VALUE -> (command, key, value)."""
    if len(values) == 3 and values[0] == "user-property":
        return ("", values[1], values[2])
    if len(values) == 4 and values[1] == "user-property":
        return (values[0].lower(), values[2], values[3])
    raise argparse.ArgumentTypeError(
        "-D takes [COMMAND] user-property KEY VALUE (COMMAND: connect, publish or subscribe)"
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--help", action="help", help="show this help and exit")
    p.add_argument("-h", "--host", default="127.0.0.1", help="broker host (127.0.0.1)")
    p.add_argument("-p", "--port", type=int, default=1883, help="broker port (1883)")
    p.add_argument("-i", "--id", default="", help="client id (empty: the broker assigns one)")
    p.add_argument("-q", "--qos", type=int, default=0, choices=(0, 1, 2), help="QoS (0)")
    p.add_argument(
        "-x",
        "--session-expiry",
        type=int,
        default=None,
        help="session expiry interval in seconds (-1: never expires)",
    )
    p.add_argument(
        "-c",
        "--no-clean-start",
        action="store_true",
        help="resume the session if the broker has one (needs -i and -x)",
    )
    p.add_argument("-k", "--keepalive", type=int, default=60, help="keep-alive seconds (60)")
    p.add_argument("-u", "--username", default=None)
    p.add_argument("-P", "--password", default=None)
    p.add_argument(
        "-D",
        "--property",
        nargs="+",
        action="append",
        default=[],
        metavar="ARG",
        help="[COMMAND] user-property KEY VALUE (a user property; repeatable)",
    )
    p.add_argument(
        "--user-property",
        nargs=2,
        action="append",
        default=[],
        metavar=("KEY", "VALUE"),
        help="a user property of the publish (pub) or subscribe (sub)",
    )
    p.add_argument("-d", "--debug", action="store_true", help="print what happens on stderr")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tether", description="tether MQTT 5.0 command line client"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sub", add_help=False, help="subscribe and print messages")
    _common(s)
    s.add_argument("-t", "--topic", action="append", required=True, help="topic filter")
    s.add_argument("-v", "--verbose", action="store_true", help="print 'topic payload'")
    s.add_argument("-C", "--count", type=int, default=None, help="exit after COUNT messages")
    s.add_argument(
        "-W", "--timeout", type=float, default=None, help="exit after SECONDS (exit code 27)"
    )
    s.add_argument("-N", "--no-newline", action="store_true", help="no newline after a payload")
    s.add_argument(
        "--retained-only", action="store_true", help="exit at the first non-retained message"
    )
    p = sub.add_parser("pub", add_help=False, help="publish a message")
    _common(p)
    p.add_argument("-t", "--topic", required=True, help="topic")
    body = p.add_mutually_exclusive_group(required=True)
    body.add_argument("-m", "--message", help="the payload")
    body.add_argument("-n", "--null-message", action="store_true", help="an empty payload")
    body.add_argument("-s", "--stdin-file", action="store_true", help="the payload from stdin")
    body.add_argument(
        "-l", "--stdin-line", action="store_true", help="one message per line of stdin"
    )
    p.add_argument("-r", "--retain", action="store_true", help="retain the message")
    p.add_argument(
        "-e", "--message-expiry", type=int, default=None, help="message expiry interval, seconds"
    )
    return parser


def _debug(args: argparse.Namespace, text: str) -> None:
    if args.debug:
        print(text, file=sys.stderr, flush=True)


def _client(
    args: argparse.Namespace,
) -> tuple[Client, list[tuple[str, str]], list[tuple[str, str]]]:
    """The client, and the user properties for the command itself (publish/subscribe)."""
    connect_props: list[tuple[str, str]] = []
    command_props: list[tuple[str, str]] = [(k, v) for k, v in args.user_property]
    for values in args.property:
        try:
            command, key, value = _user_property(values)
        except argparse.ArgumentTypeError as e:
            raise SystemExit(f"error: {e}") from None
        if command == "connect":
            connect_props.append((key, value))
        else:
            command_props.append((key, value))
    expiry = args.session_expiry
    if expiry is not None and expiry < 0:
        expiry = SESSION_NEVER_EXPIRES
    client = Client(
        args.id,
        clean_start=not args.no_clean_start,
        session_expiry_interval=expiry,
        keep_alive=args.keepalive,
        username=args.username,
        password=args.password,
        properties=ConnectProperties(user_properties=connect_props) if connect_props else None,
    )
    return client, command_props, connect_props


def _connect(client: Client, args: argparse.Namespace) -> None:
    ack = client.connect(args.host, args.port)
    assigned = ack.properties.assigned_client_identifier
    _debug(
        args,
        f"connected to {args.host}:{args.port} as {assigned or client.client_id!r}: "
        f"session_present: {ack.session_present}",
    )


def _print(msg: Message, args: argparse.Namespace) -> None:
    out = sys.stdout.buffer
    if args.verbose:
        out.write(msg.topic.encode() + b" ")
    out.write(msg.payload)
    if not args.no_newline:
        out.write(b"\n")
    out.flush()


def sub(args: argparse.Namespace) -> int:
    client, props, _ = _client(args)
    with client:
        _connect(client, args)
        codes = client.subscribe([(t, args.qos) for t in args.topic], user_properties=props or None)
        _debug(args, f"subscribed: {', '.join(args.topic)} -> reason codes {codes}")
        if any(code >= 0x80 for code in codes):
            print(f"error: the broker refused a subscription: {codes}", file=sys.stderr)
            return 1
        deadline = None if args.timeout is None else time.monotonic() + args.timeout
        received = 0
        while args.count is None or received < args.count:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                _debug(args, f"no more messages within {args.timeout} s")
                return EXIT_TIMEOUT
            msg = client.recv(timeout=left)
            if msg is None:
                if left is None:
                    break  # disconnected: nothing more can come
                continue
            if args.retained_only and not msg.retain:
                break
            _print(msg, args)
            received += 1
    return 0


def pub(args: argparse.Namespace) -> int:
    client, props, _ = _client(args)
    properties = None
    if props or args.message_expiry is not None:
        properties = PublishProperties(
            user_properties=props, message_expiry_interval=args.message_expiry
        )
    if args.null_message:
        payloads: Sequence[bytes] = [b""]
    elif args.stdin_file:
        payloads = [sys.stdin.buffer.read()]
    elif args.stdin_line:
        payloads = [line.rstrip(b"\r\n") for line in sys.stdin.buffer]
    else:
        payloads = [args.message.encode()]
    with client:
        _connect(client, args)
        deliveries = [
            client.publish(args.topic, p, qos=args.qos, retain=args.retain, properties=properties)
            for p in payloads
        ]
        for d in deliveries:
            d.wait(timeout=30.0)
        _debug(args, f"published {len(deliveries)} message(s) to {args.topic!r}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return sub(args) if args.command == "sub" else pub(args)
    except KeyboardInterrupt:
        return 130
    except Error as e:
        code = f" (reason code 0x{e.reason_code:02X})" if e.reason_code is not None else ""
        print(f"error: {e}{code}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

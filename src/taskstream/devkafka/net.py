"""Network helpers of the dev broker: a free port, and whether a Kafka broker answers on one."""

from __future__ import annotations

import random
import socket
import struct
from pathlib import Path

_METADATA_API_KEY = 3
_PROBE_CORRELATION_ID = 7


def _ephemeral_range() -> tuple[int, int]:
    """The ports the kernel hands to outgoing connections (Linux's default when it does not say)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now, chosen below the ephemeral range.

    A port the kernel picks (bind to 0) comes from the range it also gives outgoing connections, so between
    this answer and the listener's own bind a client connection (to Kafka, PostgreSQL, ...) may take it as its
    local port and hold it; below the range, only listeners compete.
    """
    low, _ = _ephemeral_range()
    if low > 11000:
        for _ in range(50):
            port = random.randrange(10000, low)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def kafka_metadata_ok(host: str, port: int, *, timeout_s: float = 1.0) -> bool:
    """True when a Kafka Metadata v0 request to host:port is answered and names at least one broker."""
    client_id = b"taskstream-probe"
    header = struct.pack(">hhih", _METADATA_API_KEY, 0, _PROBE_CORRELATION_ID, len(client_id)) + client_id
    request = header + struct.pack(">i", 0)  # empty topic list: metadata for every topic
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            size, correlation_id, brokers = struct.unpack(">iii", _read_exactly(sock, 12))
    except (OSError, struct.error):
        return False
    return size >= 8 and correlation_id == _PROBE_CORRELATION_ID and brokers >= 1


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise OSError("connection closed by the broker")
        data += chunk
    return data


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0

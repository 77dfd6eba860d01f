"""Helpers shared by the Python client compat tests (kafka-python, aiokafka, confluent-kafka).

Only client-agnostic facts live here: Kafka's defaults the tests check, payloads, deadlines. Each test
module builds its own clients, because each library's API is what is under test.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

CODECS = ("gzip", "snappy", "lz4", "zstd")

# Topic configs as Kafka reports them for a topic that has no overrides.
KAFKA_TOPIC_DEFAULTS = {
    "retention.ms": "604800000",
    "cleanup.policy": "delete",
    "max.message.bytes": "1048588",
}

# Long-poll: the consumer asks the broker to park each empty fetch this long ...
LONG_POLL_MAX_WAIT_MS = 5000
# ... and a record produced while a fetch is parked must arrive well within it. A broker that answers
# only when max wait expires delivers ~5 s after the append; one that re-checks the log on a timer
# delivers after up to its interval (Tansu 0.6: ~2.5 s). Woken by the append, it takes milliseconds.
LONG_POLL_DEADLINE_S = 1.0

# Small budget for anything the tests wait on; each test stays within ~10 s.
WAIT_S = 8.0


def require_kafkasim(request: pytest.FixtureRequest) -> None:
    """Skip a test that needs kafkasim's own controls (``make_cluster``) when run against another broker."""
    if request.config.getoption("--kafka-bootstrap"):
        pytest.skip("needs make_cluster (kafkasim's own config); not available with --kafka-bootstrap")


def now_ms() -> int:
    return int(time.time() * 1000)


def past_timestamps(count: int, step_ms: int = 1000) -> list[int]:
    """Increasing explicit timestamps, safely in the past (Kafka 4 rejects CreateTime > 1 h ahead)."""
    base = now_ms() - 3_600_000
    return [base + i * step_ms for i in range(count)]


def codec_payloads() -> list[tuple[bytes | None, bytes]]:
    """(key, value) pairs that exercise a codec: compressible, incompressible, empty, and many small."""
    rnd = random.Random(20240601)
    pairs: list[tuple[bytes | None, bytes]] = [
        (b"text", b"kafkasim compresses this line. " * 400),
        (b"random", rnd.randbytes(8192)),
        (b"empty", b""),
        (None, bytes(range(256)) * 16),
    ]
    pairs += [(f"k{i}".encode(), f"value-{i}-".encode() * (i % 7 + 1)) for i in range(60)]
    return pairs


#: librdkafka settings that retry and reconnect without long waits (brokers that fail on purpose)
FAST_RETRIES = {"retry.backoff.ms": 20, "retry.backoff.max.ms": 100,
                "reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 100}


def poll_until(predicate: Callable[[], T], what: str, timeout_s: float = WAIT_S,
               explain: Callable[[], str] | None = None) -> T:
    """The first truthy ``predicate()`` before the deadline; else fail naming ``what`` (and ``explain()``: what
    was there instead)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = f". {explain()}" if explain is not None else ""
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}{detail}")
        time.sleep(0.02)  # polling interval under a deadline, not synchronisation


def retry_until(fn: Callable[[], T], ok: Callable[[T], bool], timeout_s: float = WAIT_S) -> T:
    """Call ``fn`` until ``ok(result)`` or the deadline; return the last result.

    For state a real Kafka propagates asynchronously (metadata after an admin call); kafkasim answers
    at once, so this returns on the first call there.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = fn()
        if ok(result) or time.monotonic() >= deadline:
            return result
        time.sleep(0.05)


def client_fixtures(make: Callable[[str], Any]) -> tuple[Callable, Callable]:
    """The ``clients`` and ``make_clients`` fixtures for a test module's own ``Clients`` class.

    ``clients``: a Clients for the broker under test. ``make_clients(**cluster_config)``: a broker with
    that config (conftest's ``broker_with``: a kafkasim, or a reference broker with --against kafka) and a
    Clients for it. Every Clients is closed at teardown.
    """

    @pytest.fixture
    def clients(bootstrap_servers: str) -> Iterator[Any]:
        made = make(bootstrap_servers)
        yield made
        made.close()

    @pytest.fixture
    def make_clients(broker_with: Callable[..., str]) -> Iterator[Callable[..., Any]]:
        made: list[Any] = []

        def factory(**cluster_config: Any) -> Any:
            clients_ = make(broker_with(**cluster_config))
            made.append(clients_)
            return clients_

        yield factory
        for clients_ in reversed(made):
            clients_.close()

    return clients, make_clients


def round_trip_records() -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]], int]]:
    """(key, value, headers, timestamp) records every client must round-trip exactly: repeated and empty
    headers, a null key, a tombstone, binary data, explicit past timestamps."""
    stamps = past_timestamps(4)
    return [
        (b"k0", b"v0", [("h1", b"a"), ("h1", b"dup"), ("empty", b"")], stamps[0]),
        (None, b"no key", [], stamps[1]),
        (b"k0", None, [], stamps[2]),  # tombstone
        (b"k3", b"\x00\xff" * 50, [("bin", bytes(range(256)))], stamps[3]),
    ]


def assert_woken_by_append(produced_at: float, arrived_at: float) -> None:
    """A record produced while a fetch was parked must arrive well before the fetch's max wait."""
    latency = arrived_at - produced_at
    assert latency < LONG_POLL_DEADLINE_S, f"record took {latency:.2f}s: the fetch was not woken by the append"


def close_confluent_producer(producer: Any) -> None:
    """Stop a confluent-kafka Producer now (teardown): drop what it still holds, then close it, so that
    its threads do not keep reconnecting to a broker that is gone until garbage collection."""
    producer.purge()
    producer.close()

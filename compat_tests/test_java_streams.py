"""Kafka Streams 4.4.0 over TCP: a router with exactly_once_v2, and a stateful aggregation with its
repartition and changelog topics, restarted mid-stream.

The topologies are in compat_tests/clients/java/src/main/java/dev/kafkasim/compat/Topologies.java and run in
the session's Java driver JVM (compat_tests/clients/java.py), against a fresh kafkasim or, with
``--against kafka``, the Apache Kafka reference broker.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from compat_tests.clients.java import JavaClients, as_bytes
from compat_tests.clients.pyclients import WAIT_S

STREAMS_TIMEOUT_S = 45.0  # joining the group, creating internal topics, initialising transactions


def streams_config(app_id: str, state_dir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "application.id": app_id,
        "state.dir": str(state_dir),
        "processing.guarantee": "exactly_once_v2",
        "commit.interval.ms": 100,
        "statestore.cache.max.bytes": 0,  # every update goes downstream, none folded in a cache
        "num.stream.threads": 1,
        **extra,
    }


def start_streams(java: JavaClients, op: str, config: dict[str, Any], **fields: Any) -> str:
    full = {"bootstrap.servers": java.bootstrap, **{k: str(v) for k, v in config.items()}}
    handle: str = java.ok(op, timeout_s=STREAMS_TIMEOUT_S, config=full, **fields)["handle"]
    return handle


def create_topics(java: JavaClients, *names: str, partitions: int = 1) -> str:
    admin = java.admin()
    java.ok("create_topics", handle=admin, topics=[{"name": n, "partitions": partitions, "replication_factor": 1}
                                                   for n in names])
    return admin


def read_committed(java: JavaClients, topic: str, count: int, partitions: int = 1,
                   timeout_s: float = WAIT_S) -> list[dict[str, Any]]:
    """The topic's committed records from the beginning, until ``count`` arrived or the deadline."""
    consumer = java.consumer(**{"isolation.level": "read_committed"})
    tps = [{"topic": topic, "partition": p} for p in range(partitions)]
    java.ok("assign", handle=consumer, partitions=tps)
    java.ok("seek_to_beginning", handle=consumer, partitions=tps)
    records: list[dict[str, Any]] = java.ok("poll", timeout_s=timeout_s + 10, handle=consumer, count=count,
                                            timeout_ms=int(timeout_s * 1000))["records"]
    java.ok("close", handle=consumer)
    return records


def test_java_streams_router_exactly_once_routes_each_event_to_its_type(java: JavaClients, topic_name: str,
                                                                        tmp_path: Path) -> None:
    events, orders, payments, dead = (f"{topic_name}-{s}" for s in ("events", "orders", "payments", "dead"))
    create_topics(java, events, orders, payments, dead, partitions=2)
    app = start_streams(java, "streams_router", streams_config(f"router-{topic_name}", tmp_path),
                        input=events, routes={"order": orders, "payment": payments}, dead_letter=dead)
    assert java.ok("streams_state", handle=app)["state"] == "RUNNING"

    kinds = ["order", "payment", "order", "refund", "payment", "order"]
    sent = [{"key": f"k{i % 4}", "value": f"{kind}|{i}"} for i, kind in enumerate(kinds * 5)]
    producer = java.producer(linger_ms=0, enable_idempotence=True, acks="all")
    java.ok("send", handle=producer, topic=events, records=sent)

    def routed(topic: str, kind: str) -> None:
        want = [(r["key"], r["value"]) for r in sent if r["value"].startswith(kind + "|")]
        got = read_committed(java, topic, len(want), partitions=2, timeout_s=STREAMS_TIMEOUT_S)
        # per key (so per partition) in produce order; across partitions in no order
        assert sorted((r["key"], r["value"]) for r in got) == sorted(want)
        for key in {k for k, _ in want}:
            assert [r["value"] for r in got if r["key"] == key] == [v for k, v in want if k == key]

    routed(orders, "order")
    routed(payments, "payment")
    routed(dead, "refund")
    java.ok("streams_close", handle=app)


def counts_of(records: list[dict[str, Any]]) -> dict[str, int]:
    """The latest count per word of the output topic's updates."""
    latest: dict[str, int] = {}
    for r in records:
        value = as_bytes(r["value"])
        assert value is not None and len(value) == 8, r
        latest[r["key"]] = int.from_bytes(value, "big", signed=True)
    return latest


def wait_for_counts(java: JavaClients, topic: str, want: dict[str, int]) -> list[dict[str, Any]]:
    """Read the output topic's committed updates until the latest counts are ``want``; return the updates."""
    deadline = time.monotonic() + STREAMS_TIMEOUT_S
    while True:
        updates = read_committed(java, topic, sum(want.values()), timeout_s=5.0)
        if counts_of(updates) == want or time.monotonic() > deadline:
            assert counts_of(updates) == want
            return updates


def test_java_streams_count_with_repartition_and_changelog_survives_a_restart(java: JavaClients, topic_name: str,
                                                                              tmp_path: Path) -> None:
    words_topic, counts_topic = f"{topic_name}-words", f"{topic_name}-counts"
    admin = create_topics(java, words_topic, counts_topic)
    app_id = f"count-{topic_name}"
    fields = {"input": words_topic, "output": counts_topic}
    app = start_streams(java, "streams_count", streams_config(app_id, tmp_path / "first"), **fields)

    producer = java.producer(linger_ms=0, enable_idempotence=True, acks="all")
    first = ["apple", "pear", "apple", "fig", "apple", "pear"]
    java.ok("send", handle=producer, topic=words_topic, records=[{"key": f"k{i}", "value": w}
                                                                  for i, w in enumerate(first)])
    updates = wait_for_counts(java, counts_topic, {"apple": 3, "pear": 2, "fig": 1})
    # exactly once: one update per input word, counting up one by one per word
    assert [(u["key"], counts_of([u])[u["key"]]) for u in updates] == [
        ("apple", 1), ("pear", 1), ("apple", 2), ("fig", 1), ("apple", 3), ("pear", 2)]

    # Streams made its internal topics: the store's changelog and the repartition topic of the re-keying
    topics = set(java.ok("list_topics", handle=admin)["topics"])
    assert {f"{app_id}-counts-changelog", f"{app_id}-by-word-repartition"} <= topics

    # Stop mid-stream, produce more while it is down, and start it again on an empty state directory: it
    # restores the counts from the changelog and goes on from the committed input offsets.
    assert java.ok("streams_close", timeout_s=STREAMS_TIMEOUT_S, handle=app)["closed"]
    second = ["fig", "apple", "kiwi"]
    java.ok("send", handle=producer, topic=words_topic, records=[{"key": f"k{i}", "value": w}
                                                                  for i, w in enumerate(second, len(first))])
    start_streams(java, "streams_count", streams_config(app_id, tmp_path / "second"), **fields)
    updates = wait_for_counts(java, counts_topic, {"apple": 4, "pear": 2, "fig": 2, "kiwi": 1})
    assert [(u["key"], counts_of([u])[u["key"]]) for u in updates][6:] == [("fig", 2), ("apple", 4), ("kiwi", 1)]


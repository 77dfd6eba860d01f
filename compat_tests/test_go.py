"""The Go clients over TCP: franz-go (kgo: producer, consumer, groups classic and KIP-848, transactions with
GroupTransactSession; kadm: admin) and IBM sarama (sync producer, consumer group).

Each test runs whole scenarios in the session's Go driver process (compat_tests/clients/golang.py and
compat_tests/clients/go/main.go) against the broker under test: a fresh kafkasim, or with ``--against kafka``
the Apache Kafka reference broker.
"""

from __future__ import annotations

from typing import Any

import pytest

from compat_tests.clients.golang import GoClients
from compat_tests.clients.pyclients import WAIT_S

TIMEOUT_MS = int(WAIT_S * 1000)


def create_topic(go: GoClients, topic: str, partitions: int = 1, configs: dict[str, str] | None = None) -> dict[str, Any]:
    return go.ok("kadm_create_topic", topic=topic, partitions=partitions, configs=configs or {})


def read_all(go: GoClients, topic: str, count: int, read_committed: bool = False) -> list[dict[str, Any]]:
    """``count`` records of the topic from the start, read by a kgo consumer with no group."""
    records: list[dict[str, Any]] = go.ok("kgo_consume", timeout_s=WAIT_S + 10, topic=topic, count=count,
                                          read_committed=read_committed, timeout_ms=TIMEOUT_MS)["records"]
    assert len(records) >= count, f"only {len(records)} of {count} records arrived"
    return records


def by_partition(records: list[dict[str, Any]]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for r in sorted(records, key=lambda r: (r["partition"], r["offset"])):
        out.setdefault(r["partition"], []).append((r["offset"], r["key"], r["value"]))
    return out


# ------------------------------------------------------------------------------------------- kgo producer


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_kgo_idempotent_produce_with_headers_consumed_back(go: GoClients, topic_name: str, codec: str) -> None:
    create_topic(go, topic_name, partitions=2)
    records = [{"partition": i % 2, "key": f"k{i}", "value": f"value-{i}-" + "x" * (i * 10),
                "headers": {"trace": f"t{i}", "kind": "test"}} for i in range(40)]
    result = go.ok("kgo_produce", topic=topic_name, records=records, acks="all", compression=codec)
    assert result["producer_id"] >= 0, "an idempotent producer has a producer id"
    assert sorted((r["partition"], r["offset"]) for r in result["records"]) == \
        sorted((p, o) for p in range(2) for o in range(20))
    got = read_all(go, topic_name, 40)
    assert by_partition(got) == {p: [(i // 2, f"k{i}", f"value-{i}-" + "x" * (i * 10)) for i in range(p, 40, 2)]
                                 for p in range(2)}
    assert all(r["headers"] == {"trace": f"t{int(r['key'][1:])}", "kind": "test"} for r in got)

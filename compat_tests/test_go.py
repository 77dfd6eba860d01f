"""The Go clients over TCP: franz-go (kgo: producer, consumer, groups classic and KIP-848, transactions with
GroupTransactSession; kadm: admin) and IBM sarama (sync producer, consumer group).

Each test runs whole scenarios in the session's Go driver process (compat_tests/clients/golang.py and
compat_tests/clients/go/main.go) against the broker under test: a fresh kafkasim, or with ``--against kafka``
the Apache Kafka reference broker.
"""

from __future__ import annotations

from typing import Any

import pytest

from compat_tests.clients.golang import GoClients, GoSession
from compat_tests.clients.pyclients import WAIT_S

TIMEOUT_MS = int(WAIT_S * 1000)


@pytest.fixture
def fast_go(request: pytest.FixtureRequest, go_session: GoSession) -> GoClients:
    """The Go clients against the broker under test, where a kafkasim gets the short KIP-848 heartbeat
    interval and session timeout the reference broker has (compat_tests/reference/kafka.py), so members
    learn of a rebalance in a fifth of a second rather than on kafkasim's default 5 s heartbeat."""
    external = request.config.getoption("--kafka-bootstrap")
    if external:
        return GoClients(go_session.get(), str(external))
    cluster = request.getfixturevalue("make_cluster")(group_consumer_heartbeat_interval_ms=200,
                                                      group_consumer_session_timeout_ms=3000)
    return GoClients(go_session.get(), cluster.bootstrap_servers)


def xfail_on_kafkasim(request: pytest.FixtureRequest, reason: str) -> None:
    """Mark the running test as a strict expected failure when the broker under test is kafkasim (no
    --kafka-bootstrap): kafkasim disagrees with Apache Kafka here, and the test states what Kafka does."""
    if not request.config.getoption("--kafka-bootstrap"):
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"kafkasim disagrees with Kafka: {reason}"))


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


@pytest.mark.parametrize(("acks", "codec"), [("1", "gzip"), ("0", "snappy")])
def test_kgo_non_idempotent_acks_records_are_stored(go: GoClients, topic_name: str, acks: str, codec: str) -> None:
    create_topic(go, topic_name)
    go.ok("kgo_produce", topic=topic_name, acks=acks, compression=codec, idempotent=False,
          records=[{"key": f"k{i}", "value": f"v{i}"} for i in range(10)])
    got = read_all(go, topic_name, 10)
    assert [(r["offset"], r["key"], r["value"]) for r in got] == [(i, f"k{i}", f"v{i}") for i in range(10)]


# ----------------------------------------------------------------------------------------- kgo consumer groups


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_kgo_consumer_group_sees_all_records_and_commits(go: GoClients, topic_name: str, protocol: str) -> None:
    """protocol "consumer" is KIP-848 (kgo.ServerSideBalancer): the broker assigns the partitions."""
    create_topic(go, topic_name, partitions=3)
    go.ok("kgo_produce", topic=topic_name, records=[{"partition": i % 3, "value": f"v{i}"} for i in range(30)])
    group = f"g-{topic_name}"
    got = go.ok("kgo_group_consume", timeout_s=WAIT_S + 10, topic=topic_name, group=group, protocol=protocol,
                count=30, timeout_ms=TIMEOUT_MS)["records"]
    assert sorted(r["value"] for r in got) == sorted(f"v{i}" for i in range(30))
    if protocol == "classic":
        lag = go.ok("kadm_lag", group=group)
        assert lag["protocol_type"] == "consumer"
    else:
        lag = go.ok("kadm_describe_consumer_group", topic=topic_name, group=group)
        assert (lag["state"], lag["members"]) == ("Empty", 0)
    assert [(p["partition"], p["commit"], p["end"], p["lag"]) for p in lag["partitions"]] == \
        [(p, 10, 10, 0) for p in range(3)]
    groups = go.ok("kadm_list_groups")["groups"]
    assert groups[group]["type"] == protocol
    # a second member of the group starts from the commits: the new records only
    go.ok("kgo_produce", topic=topic_name, records=[{"partition": p, "value": f"late{p}"} for p in range(3)])
    again = go.ok("kgo_group_consume", timeout_s=WAIT_S + 10, topic=topic_name, group=group, protocol=protocol,
                  count=3, timeout_ms=TIMEOUT_MS)["records"]
    assert sorted(r["value"] for r in again) == ["late0", "late1", "late2"]


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_kgo_group_members_split_the_partitions(fast_go: GoClients, topic_name: str, protocol: str) -> None:
    """Two members at once: once the group settles each owns partitions of its own, and together they read
    every record exactly once, each from its own partitions."""
    create_topic(fast_go, topic_name, partitions=4)
    result = fast_go.ok("kgo_group_members", timeout_s=WAIT_S + 10, topic=topic_name, group=f"g-{topic_name}",
                   protocol=protocol, members=2, partitions=4, count=40, timeout_ms=TIMEOUT_MS)
    assignments = result["assignments"]
    assert all(assignments) and sorted(p for a in assignments for p in a) == [0, 1, 2, 3], assignments
    members = [m or [] for m in result["members"]]
    for records, owned in zip(members, assignments, strict=True):
        assert {r["partition"] for r in records} <= set(owned)
    assert sorted(r["value"] for m in members for r in m) == sorted(f"m{i}" for i in range(40))


# -------------------------------------------------------------------------------------------- kgo transactions


def test_kgo_group_transact_session_read_committed_sees_committed_output_only(go: GoClients, topic_name: str) -> None:
    source, sink = topic_name, f"{topic_name}-out"
    create_topic(go, source, partitions=2)
    create_topic(go, sink, partitions=2)
    go.ok("kgo_produce", topic=source, records=[{"partition": i % 2, "key": f"k{i}", "value": f"v{i}"}
                                                for i in range(20)])
    # an aborted transaction in the sink: read_committed must never show it
    go.ok("kgo_abort", topic=sink, transactional_id=f"abort-{topic_name}",
          records=[{"partition": p, "value": "ABORTED"} for p in range(2)])
    group = f"g-{topic_name}"
    result = go.ok("kgo_transact", timeout_s=WAIT_S + 10, topic=source, output_topic=sink, group=group,
                   transactional_id=f"tx-{topic_name}", count=20, commit=False, timeout_ms=TIMEOUT_MS)
    assert result["committed"] == 20 and result["aborted"] > 0
    committed = read_all(go, sink, 20, read_committed=True)
    assert sorted(r["value"] for r in committed) == sorted(f"V{i}" for i in range(20))
    assert {r["key"]: r["partition"] for r in committed} == {f"k{i}": i % 2 for i in range(20)}
    # read_uncommitted also sees the aborted records: the explicit abort and the session's aborted first pass
    everything = read_all(go, sink, 20 + 2 + result["aborted"])
    assert sorted(r["value"] for r in everything if r["value"] == "ABORTED") == ["ABORTED", "ABORTED"]
    # the group's offsets were committed with the last transaction
    lag = go.ok("kadm_lag", group=group)
    assert [(p["partition"], p["commit"], p["lag"]) for p in lag["partitions"]] == [(0, 10, 0), (1, 10, 0)]


# ------------------------------------------------------------------------------------------------- kadm admin


def test_kadm_topics_and_configs(go: GoClients, topic_name: str) -> None:
    created = create_topic(go, topic_name, partitions=3, configs={"cleanup.policy": "compact",
                                                                 "retention.ms": "3600000"})
    assert (created["topic"], created["partitions"], created["replication_factor"]) == (topic_name, 3, 1)
    listed = go.ok("kadm_list_topics")["topics"]
    assert topic_name in listed and not listed[topic_name]["internal"]
    assert [p["partition"] for p in listed[topic_name]["partitions"]] == [0, 1, 2]
    assert listed[topic_name]["topic_id"] == created["topic_id"]
    described = go.ok("kadm_list_topics", topics=[topic_name])["topics"]
    assert list(described) == [topic_name]
    assert all(p["leader"] >= 0 and p["replicas"] == p["isr"] == [p["leader"]]
               for p in described[topic_name]["partitions"])
    configs = go.ok("kadm_describe_configs", topics=[topic_name])["resources"][topic_name]["configs"]
    assert configs["cleanup.policy"] == {"value": "compact", "source": "DYNAMIC_TOPIC_CONFIG", "sensitive": False}
    assert configs["retention.ms"]["value"] == "3600000"
    assert configs["segment.bytes"]["source"] == "DEFAULT_CONFIG"
    assert go.ok("kadm_delete_topics", topics=[topic_name])["topics"] == {topic_name: None}
    missing = go.ok("kadm_list_topics", topics=[topic_name])["topics"]
    assert "UNKNOWN_TOPIC_OR_PARTITION" in missing.get(topic_name, {}).get("error", "UNKNOWN_TOPIC_OR_PARTITION")


def test_kadm_create_existing_topic_is_an_error(go: GoClients, topic_name: str) -> None:
    create_topic(go, topic_name)
    assert "TOPIC_ALREADY_EXISTS" in go.error("kadm_create_topic", topic=topic_name, partitions=1, configs={})


# ----------------------------------------------------------------------------------------------------- sarama


def test_sarama_sync_producer_and_consumer_group(go: GoClients, topic_name: str) -> None:
    create_topic(go, topic_name, partitions=2)
    records = [{"partition": i % 2, "key": f"k{i}", "value": f"s{i}", "headers": {"n": str(i)}} for i in range(12)]
    sent = go.ok("sarama_produce", topic=topic_name, records=records, compression="snappy")["records"]
    assert [(r["partition"], r["offset"]) for r in sent] == [(i % 2, i // 2) for i in range(12)]
    group = f"g-{topic_name}"
    got = go.ok("sarama_group_consume", timeout_s=WAIT_S + 10, topic=topic_name, group=group, count=12,
                timeout_ms=TIMEOUT_MS)
    assert sorted(got["claims"][topic_name]) == [0, 1]
    assert by_partition(got["records"]) == {p: [(i // 2, f"k{i}", f"s{i}") for i in range(p, 12, 2)]
                                            for p in range(2)}
    assert all(r["headers"] == {"n": r["key"][1:]} for r in got["records"])
    lag = go.ok("kadm_lag", group=group)
    assert [(p["partition"], p["commit"], p["lag"]) for p in lag["partitions"]] == [(0, 6, 0), (1, 6, 0)]
    # kgo reads what sarama wrote
    assert sorted(r["value"] for r in read_all(go, topic_name, 12)) == sorted(f"s{i}" for i in range(12))


def test_kadm_describe_groups_of_a_consumer_protocol_group_is_group_id_not_found(
        go: GoClients, topic_name: str, request: pytest.FixtureRequest) -> None:
    """DescribeGroups is the classic protocol's describe: Kafka 4.x answers it for a KIP-848 group with
    GROUP_ID_NOT_FOUND and state Dead, which is why kadm.Lag fails on such a group and ConsumerGroupDescribe
    is the way to describe it (the driver's kadm_describe_consumer_group, used above). A regression test: kafkasim
    answered an Empty KIP-848 group as a classic one (state Empty, no error)."""
    create_topic(go, topic_name)
    go.ok("kgo_produce", topic=topic_name, records=[{"value": "v"}])
    group = f"g-{topic_name}"
    go.ok("kgo_group_consume", timeout_s=WAIT_S + 10, topic=topic_name, group=group, protocol="consumer",
          count=1, timeout_ms=TIMEOUT_MS)
    described = go.ok("kadm_describe_groups", group=group)
    assert "GROUP_ID_NOT_FOUND" in described.get("error", ""), described

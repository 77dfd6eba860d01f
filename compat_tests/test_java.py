"""The Apache Kafka Java clients (kafka-clients 4.4.0) over TCP: producer, consumer, AdminClient, transactions.

Each test drives the real Java clients through the session's driver JVM (compat_tests/clients/java.py) against
the broker under test: a fresh kafkasim, or with ``--against kafka`` the Apache Kafka reference broker.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from compat_tests.clients.java import JavaClients, as_bytes, data
from compat_tests.clients.pyclients import WAIT_S, past_timestamps

CODECS = ["gzip", "snappy", "lz4", "zstd"]
TIMEOUT_MS = int(WAIT_S * 1000)


def create_topic(java: JavaClients, topic: str, partitions: int = 1, configs: dict[str, str] | None = None) -> str:
    admin = java.admin()
    java.ok("create_topics", handle=admin, topics=[{"name": topic, "partitions": partitions,
                                                    "replication_factor": 1, "configs": configs or {}}])
    return admin


def read_all(java: JavaClients, topic: str, count: int, partitions: int = 1, **config: Any) -> list[dict[str, Any]]:
    """``count`` records of the topic, read from the beginning by an assigned consumer (no group)."""
    consumer = java.consumer(**config)
    tps = [{"topic": topic, "partition": p} for p in range(partitions)]
    java.ok("assign", handle=consumer, partitions=tps)
    java.ok("seek_to_beginning", handle=consumer, partitions=tps)
    records: list[dict[str, Any]] = java.ok("poll", handle=consumer, count=count, timeout_ms=TIMEOUT_MS)["records"]
    java.ok("close", handle=consumer)
    return records


def poll_until(java: JavaClients, consumer: str, count: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = java.ok("poll", handle=consumer, count=count, timeout_ms=TIMEOUT_MS)["records"]
    assert len(got) >= count, f"only {len(got)} of {count} records arrived"
    return got


# ------------------------------------------------------------------------------------------------ producer


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_java_producer_acks_records_are_stored(java: JavaClients, topic_name: str, acks: str) -> None:
    create_topic(java, topic_name)
    producer = java.producer(acks=acks, linger_ms=0, enable_idempotence=acks == "all")
    sent = java.ok("send", handle=producer, topic=topic_name,
                   records=[{"key": f"k{i}", "value": f"v{i}"} for i in range(5)])["records"]
    if acks == "0":
        # acks=0: the client does not wait for an answer and reports no offset
        assert [r["offset"] for r in sent] == [-1] * 5
    else:
        assert [r["offset"] for r in sent] == list(range(5))
    records = read_all(java, topic_name, 5)
    assert [(r["offset"], r["key"], r["value"]) for r in records] == [(i, f"k{i}", f"v{i}") for i in range(5)]


def test_java_producer_idempotent_records_once_in_order(java: JavaClients, topic_name: str) -> None:
    create_topic(java, topic_name, partitions=3)
    producer = java.producer(enable_idempotence=True, acks="all", max_in_flight_requests_per_connection=5,
                             linger_ms=5, batch_size=200)
    records = [{"value": f"v{i:03d}", "partition": i % 3} for i in range(150)]
    sent = java.ok("send", handle=producer, topic=topic_name, records=records)["records"]
    assert [(r["partition"], r["offset"]) for r in sent] == [(i % 3, i // 3) for i in range(150)]
    stored = read_all(java, topic_name, 150, partitions=3)
    by_partition = {p: [r["value"] for r in stored if r["partition"] == p] for p in range(3)}
    assert by_partition == {p: [f"v{i:03d}" for i in range(p, 150, 3)] for p in range(3)}


@pytest.mark.parametrize("codec", CODECS)
def test_java_compression_codec_round_trips_byte_exact(java: JavaClients, topic_name: str, codec: str) -> None:
    create_topic(java, topic_name)
    values = [bytes((i * 7 + j) % 256 for j in range(300 + i)) for i in range(20)] + [b"a" * 5000]
    producer = java.producer(compression_type=codec, linger_ms=20, batch_size=1 << 16)
    java.ok("send", handle=producer, topic=topic_name, records=[{"value": data(v)} for v in values])
    records = read_all(java, topic_name, len(values))
    assert [as_bytes(r["value"]) for r in records] == values


def test_java_records_round_trip_keys_headers_timestamps_tombstones(java: JavaClients, topic_name: str) -> None:
    create_topic(java, topic_name)
    stamps = past_timestamps(4)
    records = [
        {"key": "k0", "value": "v0", "headers": [["h1", "a"], ["h1", "dup"], ["empty", ""]], "timestamp": stamps[0]},
        {"key": None, "value": "no key", "headers": [], "timestamp": stamps[1]},
        {"key": "k0", "value": None, "headers": [["null", None]], "timestamp": stamps[2]},  # tombstone
        {"key": data(b"\xff\x00"), "value": data(bytes(range(256))), "headers": [["bin", data(b"\x80\x81")]],
         "timestamp": stamps[3]},
    ]
    producer = java.producer(linger_ms=0)
    java.ok("send", handle=producer, topic=topic_name, records=records)
    got = read_all(java, topic_name, 4)
    assert [(r["key"], r["value"], r["headers"], r["timestamp"], r["timestamp_type"]) for r in got] == [
        (r["key"], r["value"], r["headers"], r["timestamp"], "CreateTime") for r in records]


# ------------------------------------------------------------------------------------------------ consumer


def test_java_consumer_seek_and_offsets_for_times(java: JavaClients, topic_name: str) -> None:
    create_topic(java, topic_name)
    stamps = past_timestamps(6, step_ms=1000)
    producer = java.producer(linger_ms=0)
    java.ok("send", handle=producer, topic=topic_name,
            records=[{"value": f"v{i}", "timestamp": t} for i, t in enumerate(stamps)])
    consumer = java.consumer()
    tp = {"topic": topic_name, "partition": 0}
    java.ok("assign", handle=consumer, partitions=[tp])
    java.ok("seek", handle=consumer, topic=topic_name, partition=0, offset=4)
    assert [r["value"] for r in poll_until(java, consumer, 2)] == ["v4", "v5"]
    found = java.ok("offsets_for_times", handle=consumer,
                    partitions=[{**tp, "timestamp": stamps[2] - 1}])["offsets"]
    assert found == [{**tp, "offset": 2, "timestamp": stamps[2]}]
    after_all = java.ok("offsets_for_times", handle=consumer, partitions=[{**tp, "timestamp": stamps[-1] + 1}])
    assert after_all["offsets"] == [{**tp, "offset": None}]
    assert java.ok("beginning_offsets", handle=consumer, partitions=[tp])["offsets"] == [{**tp, "offset": 0}]
    assert java.ok("end_offsets", handle=consumer, partitions=[tp])["offsets"] == [{**tp, "offset": 6}]
    java.ok("seek", handle=consumer, topic=topic_name, partition=0, offset=found[0]["offset"])
    assert [r["value"] for r in poll_until(java, consumer, 4)] == ["v2", "v3", "v4", "v5"]


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_java_consumer_group_consumes_commits_and_resumes(java: JavaClients, topic_name: str, protocol: str) -> None:
    admin = create_topic(java, topic_name, partitions=2)
    producer = java.producer(linger_ms=0)
    java.ok("send", handle=producer, topic=topic_name,
            records=[{"value": f"v{i}", "partition": i % 2} for i in range(10)])
    group = f"g-{topic_name}"
    config = {"group.id": group, "group.protocol": protocol, "auto.offset.reset": "earliest",
              "enable.auto.commit": False}
    first = java.consumer(**config)
    java.ok("subscribe", handle=first, topics=[topic_name])
    got = poll_until(java, first, 10)
    assert sorted(r["value"] for r in got) == [f"v{i}" for i in range(10)]
    java.ok("commit", handle=first)
    offsets = java.ok("list_group_offsets", handle=admin, group_id=group)["offsets"]
    assert sorted((o["partition"], o["offset"]) for o in offsets) == [(0, 5), (1, 5)]
    [described] = java.ok("describe_groups", handle=admin, groups=[group])["groups"]
    assert described["type"] == protocol.upper()
    assert described["state"] == "STABLE"
    assert [tp["partition"] for m in described["members"] for tp in m["assignment"]] == [0, 1]
    java.ok("close", handle=first)

    java.ok("send", handle=producer, topic=topic_name, records=[{"value": "after", "partition": 1}])
    second = java.consumer(**config)
    java.ok("subscribe", handle=second, topics=[topic_name])
    assert [(r["partition"], r["offset"], r["value"]) for r in poll_until(java, second, 1)] == [(1, 5, "after")]


def wait_assignments(java: JavaClients, consumers: list[str], sizes: list[int]) -> list[list[int]]:
    """Poll every consumer (short polls, so each takes part in rebalances) until their assignments have
    these sizes; return each one's partitions."""
    deadline = time.monotonic() + WAIT_S * 2
    while True:
        got = [[tp["partition"] for tp in java.ok("poll", handle=c, count=1, timeout_ms=100)["assignment"]]
               for c in consumers]
        if [len(g) for g in got] == sizes or time.monotonic() > deadline:
            assert [len(g) for g in got] == sizes, got
            return got


def test_java_static_member_restart_keeps_its_partitions_without_a_rebalance(java: JavaClients,
                                                                             topic_name: str) -> None:
    create_topic(java, topic_name, partitions=4)
    base = {"group.id": f"g-{topic_name}", "session.timeout.ms": 10000, "heartbeat.interval.ms": 500}
    a = java.consumer(**base, **{"group.instance.id": "a"})
    b = java.consumer(**base, **{"group.instance.id": "b"})
    java.ok("subscribe", handle=a, topics=[topic_name])
    java.ok("subscribe", handle=b, topics=[topic_name])
    a_parts, b_parts = wait_assignments(java, [a, b], [2, 2])
    generation = java.ok("group_metadata", handle=b)["generation_id"]
    b_events = len(java.ok("rebalance_events", handle=b)["events"])

    java.ok("close", handle=a)  # a static member leaves no LeaveGroup behind: its partitions wait for it
    again = java.consumer(**base, **{"group.instance.id": "a"})
    java.ok("subscribe", handle=again, topics=[topic_name])
    assert wait_assignments(java, [again, b], [2, 2]) == [a_parts, b_parts]
    assert java.ok("group_metadata", handle=again)["generation_id"] == generation
    assert java.ok("group_metadata", handle=b)["generation_id"] == generation
    assert len(java.ok("rebalance_events", handle=b)["events"]) == b_events, "the other member rebalanced"


def test_java_cooperative_sticky_second_member_takes_partitions_incrementally(java: JavaClients,
                                                                              topic_name: str) -> None:
    create_topic(java, topic_name, partitions=4)
    config = {"group.id": f"g-{topic_name}",
              "partition.assignment.strategy": "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"}
    a = java.consumer(**config)
    java.ok("subscribe", handle=a, topics=[topic_name])
    wait_assignments(java, [a], [4])
    b = java.consumer(**config)
    java.ok("subscribe", handle=b, topics=[topic_name])
    a_parts, b_parts = wait_assignments(java, [a, b], [2, 2])

    a_events = java.ok("rebalance_events", handle=a)["events"]
    revoked = [sorted(tp["partition"] for tp in e["partitions"]) for e in a_events if e["kind"] == "revoked"]
    # cooperative: the first member gives up only what the second one gets, and keeps the rest throughout
    assert revoked == [sorted(b_parts)], a_events
    assert sorted(tp["partition"] for e in a_events if e["kind"] == "assigned" for tp in e["partitions"]) == [0, 1, 2, 3]
    assert not [e for e in a_events if e["kind"] == "lost"]
    b_events = java.ok("rebalance_events", handle=b)["events"]
    assert sorted(tp["partition"] for e in b_events if e["kind"] == "assigned" for tp in e["partitions"]) == (
        sorted(b_parts))
    assert sorted(a_parts + b_parts) == [0, 1, 2, 3]


# ------------------------------------------------------------------------------------------------ admin


def test_java_admin_topics_partitions_and_configs(java: JavaClients, topic_name: str) -> None:
    admin = java.admin()
    created = java.ok("create_topics", handle=admin, topics=[{
        "name": topic_name, "partitions": 2, "replication_factor": 1,
        "configs": {"cleanup.policy": "compact", "retention.ms": "3600000"}}])["topics"]
    assert created == [{"name": topic_name, "partitions": 2, "replication_factor": 1}]
    assert topic_name in java.ok("list_topics", handle=admin)["topics"]
    [described] = java.ok("describe_topics", handle=admin, topics=[topic_name])["topics"]
    assert [p["partition"] for p in described["partitions"]] == [0, 1]
    assert all(p["leader"] >= 0 and p["isr"] == p["replicas"] for p in described["partitions"])

    configs = java.ok("describe_configs", handle=admin, type="topic", name=topic_name)["configs"]
    assert configs["cleanup.policy"]["value"] == "compact"
    assert configs["cleanup.policy"]["source"] == "DYNAMIC_TOPIC_CONFIG"
    assert configs["retention.ms"]["value"] == "3600000"
    assert configs["max.message.bytes"]["source"] == "DEFAULT_CONFIG"
    java.ok("incremental_alter_configs", handle=admin, type="topic", name=topic_name,
            ops=[{"name": "retention.ms", "op": "delete"}, {"name": "segment.ms", "value": "600000", "op": "set"}])
    configs = java.ok("describe_configs", handle=admin, type="topic", name=topic_name)["configs"]
    assert configs["retention.ms"]["value"] == "604800000" and configs["retention.ms"]["default"]
    assert configs["segment.ms"] == {**configs["segment.ms"], "value": "600000", "source": "DYNAMIC_TOPIC_CONFIG"}

    java.ok("create_partitions", handle=admin, topic=topic_name, count=4)
    [described] = java.ok("describe_topics", handle=admin, topics=[topic_name])["topics"]
    assert len(described["partitions"]) == 4
    assert java.error("create_partitions", handle=admin, topic=topic_name, count=4)["type"] == "INVALID_PARTITIONS"
    assert java.error("create_topics", handle=admin, topics=[{"name": topic_name, "partitions": 1}])["type"] == (
        "TOPIC_ALREADY_EXISTS")

    java.ok("delete_topics", handle=admin, topics=[topic_name])
    deadline = time.monotonic() + WAIT_S
    while topic_name in java.ok("list_topics", handle=admin)["topics"]:  # deletion may finish asynchronously
        assert time.monotonic() < deadline, "the deleted topic is still listed"
        time.sleep(0.05)  # poll interval
    assert java.error("describe_topics", handle=admin, topics=[topic_name])["type"] == "UNKNOWN_TOPIC_OR_PARTITION"


def test_java_admin_describe_cluster(java: JavaClients) -> None:
    cluster = java.ok("describe_cluster", handle=java.admin())
    hosts = {f"{n['host']}:{n['port']}" for n in cluster["nodes"]}
    assert set(java.bootstrap.split(",")) <= hosts
    assert cluster["cluster_id"]
    assert cluster["controller"] in {n["id"] for n in cluster["nodes"]} or cluster["controller"] == -1


def test_java_admin_groups_offsets_alter_and_delete(java: JavaClients, topic_name: str) -> None:
    admin = create_topic(java, topic_name)
    producer = java.producer(linger_ms=0)
    java.ok("send", handle=producer, topic=topic_name, records=[{"value": f"v{i}"} for i in range(4)])
    group = f"g-{topic_name}"
    consumer = java.consumer(**{"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    java.ok("subscribe", handle=consumer, topics=[topic_name])
    poll_until(java, consumer, 4)
    java.ok("commit", handle=consumer, offsets=[{"topic": topic_name, "partition": 0, "offset": 3, "metadata": "m"}])
    listed = {g["group_id"]: g for g in java.ok("list_groups", handle=admin)["groups"]}
    assert listed[group]["type"] == "CLASSIC" and listed[group]["state"] == "STABLE"
    assert listed[group]["protocol"] == "consumer"
    assert java.ok("list_group_offsets", handle=admin, group_id=group)["offsets"] == [
        {"topic": topic_name, "partition": 0, "offset": 3, "metadata": "m"}]
    # a group with members cannot be deleted, nor its offsets altered
    assert java.error("delete_groups", handle=admin, groups=[group])["type"] == "NON_EMPTY_GROUP"
    java.ok("close", handle=consumer)

    java.ok("alter_group_offsets", handle=admin, group_id=group, offsets=[{"topic": topic_name, "partition": 0,
                                                                           "offset": 1}])
    assert java.ok("list_group_offsets", handle=admin, group_id=group)["offsets"] == [
        {"topic": topic_name, "partition": 0, "offset": 1, "metadata": ""}]
    java.ok("delete_groups", handle=admin, groups=[group])
    assert group not in {g["group_id"] for g in java.ok("list_groups", handle=admin)["groups"]}
    assert java.error("describe_groups", handle=admin, groups=[group])["type"] == "GROUP_ID_NOT_FOUND"


def test_java_admin_delete_records_moves_log_start_offset(java: JavaClients, topic_name: str) -> None:
    admin = create_topic(java, topic_name)
    producer = java.producer(linger_ms=0)
    java.ok("send", handle=producer, topic=topic_name, records=[{"value": f"v{i}"} for i in range(10)])
    tp = {"topic": topic_name, "partition": 0}
    assert java.ok("delete_records", handle=admin, partitions=[{**tp, "offset": 6}])["partitions"] == [
        {**tp, "low_watermark": 6}]
    earliest = java.ok("list_offsets", handle=admin, partitions=[{**tp, "spec": "earliest"}])["offsets"]
    latest = java.ok("list_offsets", handle=admin, partitions=[{**tp, "spec": "latest"}])["offsets"]
    assert [o["offset"] for o in earliest + latest] == [6, 10]
    assert [r["offset"] for r in read_all(java, topic_name, 4)] == [6, 7, 8, 9]
    assert java.error("delete_records", handle=admin, partitions=[{**tp, "offset": 11}])["type"] == (
        "OFFSET_OUT_OF_RANGE")


# ------------------------------------------------------------------------------------------------ transactions


def test_java_transactions_commit_visible_abort_invisible_to_read_committed(java: JavaClients,
                                                                            topic_name: str) -> None:
    create_topic(java, topic_name)
    producer = java.producer(transactional_id=f"tx-{topic_name}", linger_ms=0)
    java.ok("init_transactions", handle=producer)
    for outcome in ["commit", "abort", "commit"]:
        java.ok("begin_transaction", handle=producer)
        java.ok("send", handle=producer, topic=topic_name, records=[{"value": f"{outcome}-{i}"} for i in range(3)])
        java.ok(f"{outcome}_transaction", handle=producer)
    committed = read_all(java, topic_name, 6, **{"isolation.level": "read_committed"})
    assert [r["value"] for r in committed] == ["commit-0", "commit-1", "commit-2"] * 2
    # each transaction ends with a marker taking an offset: 3 records + 1 marker per transaction
    assert [r["offset"] for r in committed] == [0, 1, 2, 8, 9, 10]
    everything = read_all(java, topic_name, 9, **{"isolation.level": "read_uncommitted"})
    assert [r["value"] for r in everything][3:6] == ["abort-0", "abort-1", "abort-2"]


def test_java_transactions_send_offsets_to_transaction_commits_group_offsets(java: JavaClients,
                                                                             topic_name: str) -> None:
    admin = create_topic(java, topic_name)
    out_topic = f"{topic_name}-out"
    create_topic(java, out_topic)
    plain = java.producer(linger_ms=0)
    java.ok("send", handle=plain, topic=topic_name, records=[{"value": f"in{i}"} for i in range(4)])
    group = f"g-{topic_name}"
    consumer = java.consumer(**{"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                "isolation.level": "read_committed"})
    java.ok("subscribe", handle=consumer, topics=[topic_name])
    got = poll_until(java, consumer, 4)
    producer = java.producer(transactional_id=f"tx-{topic_name}", linger_ms=0)
    java.ok("init_transactions", handle=producer)

    java.ok("begin_transaction", handle=producer)
    java.ok("send", handle=producer, topic=out_topic, records=[{"value": r["value"].upper()} for r in got[:2]])
    java.ok("send_offsets_to_transaction", handle=producer, consumer=consumer,
            offsets=[{"topic": topic_name, "partition": 0, "offset": 2}])
    java.ok("abort_transaction", handle=producer)
    assert java.ok("list_group_offsets", handle=admin, group_id=group)["offsets"] == []

    java.ok("begin_transaction", handle=producer)
    java.ok("send", handle=producer, topic=out_topic, records=[{"value": r["value"].upper()} for r in got])
    java.ok("send_offsets_to_transaction", handle=producer, consumer=consumer,
            offsets=[{"topic": topic_name, "partition": 0, "offset": 4}])
    java.ok("commit_transaction", handle=producer)
    assert java.ok("list_group_offsets", handle=admin, group_id=group)["offsets"] == [
        {"topic": topic_name, "partition": 0, "offset": 4, "metadata": ""}]
    out = read_all(java, out_topic, 4, **{"isolation.level": "read_committed"})
    assert [r["value"] for r in out] == ["IN0", "IN1", "IN2", "IN3"]


def test_java_transactions_zombie_producer_is_fenced(java: JavaClients, topic_name: str) -> None:
    create_topic(java, topic_name)
    txn_id = f"tx-{topic_name}"
    old = java.producer(transactional_id=txn_id, linger_ms=0)
    java.ok("init_transactions", handle=old)
    java.ok("begin_transaction", handle=old)
    java.ok("send", handle=old, topic=topic_name, records=[{"value": "zombie"}])

    new = java.producer(transactional_id=txn_id, linger_ms=0)
    java.ok("init_transactions", handle=new)  # bumps the epoch and aborts the old one's open transaction
    java.ok("begin_transaction", handle=new)
    java.ok("send", handle=new, topic=topic_name, records=[{"value": "alive"}])
    java.ok("commit_transaction", handle=new)

    fenced = java.error("commit_transaction", handle=old)
    assert fenced["class"] == "ProducerFencedException" or fenced["type"] in {"PRODUCER_FENCED",
                                                                              "INVALID_PRODUCER_EPOCH"}, fenced
    committed = read_all(java, topic_name, 1, **{"isolation.level": "read_committed"})
    assert [r["value"] for r in committed] == ["alive"]


def completed_transaction(java: JavaClients, admin: str, txn_id: str) -> dict[str, Any]:
    """DescribeTransactions of ``txn_id`` once it is no longer PREPARE_COMMIT/PREPARE_ABORT: Kafka answers
    EndTxn once the PREPARE state is logged and writes the markers after, so right after commitTransaction
    returns the transaction may still be PREPARE_COMMIT (seen against Kafka 4.4.0); kafkasim completes it
    before it answers."""
    deadline = time.monotonic() + WAIT_S
    while True:
        [described] = java.ok("describe_transactions", handle=admin, transactional_ids=[txn_id])["transactions"]
        if not described["state"].startswith("PREPARE_") or time.monotonic() > deadline:
            return described
        time.sleep(0.05)  # poll interval


def test_java_admin_lists_and_describes_open_transactions_and_their_producers(java: JavaClients,
                                                                              topic_name: str) -> None:
    admin = create_topic(java, topic_name, partitions=2)
    txn_id = f"tx-{topic_name}"
    producer = java.producer(transactional_id=txn_id, linger_ms=0, transaction_timeout_ms=60000)
    java.ok("init_transactions", handle=producer)
    java.ok("begin_transaction", handle=producer)
    java.ok("send", handle=producer, topic=topic_name, records=[{"value": "a", "partition": 0}, {"value": "b",
                                                                                                  "partition": 0}])
    before_ms = int(time.time() * 1000) + 1000  # a start time after this would be in the future

    [listed] = [t for t in java.ok("list_transactions", handle=admin)["transactions"] if t["transactional_id"] == txn_id]
    assert listed["state"] == "ONGOING"
    [described] = java.ok("describe_transactions", handle=admin, transactional_ids=[txn_id])["transactions"]
    assert (described["state"], described["producer_id"], described["timeout_ms"]) == (
        "ONGOING", listed["producer_id"], 60000)
    assert described["partitions"] == [{"topic": topic_name, "partition": 0}]
    assert described["start_time_ms"] is not None and described["start_time_ms"] <= before_ms
    ongoing = java.ok("list_transactions", handle=admin, states=["ONGOING"])["transactions"]
    assert txn_id in {t["transactional_id"] for t in ongoing}

    producers = java.ok("describe_producers", handle=admin, partitions=[{"topic": topic_name, "partition": p}
                                                                         for p in (0, 1)])["partitions"]
    by_partition = {p["partition"]: p["producers"] for p in producers}
    [state] = by_partition[0]
    assert (state["producer_id"], state["last_sequence"], state["txn_start_offset"]) == (listed["producer_id"], 1, 0)
    assert by_partition[1] == []

    java.ok("commit_transaction", handle=producer)
    assert completed_transaction(java, admin, txn_id)["state"] == "COMPLETE_COMMIT"
    [state] = java.ok("describe_producers", handle=admin,
                      partitions=[{"topic": topic_name, "partition": 0}])["partitions"][0]["producers"]
    assert state["txn_start_offset"] is None
    assert java.error("describe_transactions", handle=admin, transactional_ids=[f"{txn_id}-unknown"])["type"] == (
        "TRANSACTIONAL_ID_NOT_FOUND")


@pytest.mark.parametrize("outcome", ["commit", "abort"])
def test_java_admin_completed_transaction_lists_no_partitions(request: pytest.FixtureRequest, java: JavaClients,
                                                              topic_name: str, outcome: str) -> None:
    """Kafka 4.4.0 clears a transaction's partitions when it completes: DescribeTransactions of a
    CompleteCommit or CompleteAbort transaction lists none (a regression test: kafkasim kept them until the
    next transaction began)."""
    admin = create_topic(java, topic_name)
    txn_id = f"tx-{topic_name}"
    producer = java.producer(transactional_id=txn_id, linger_ms=0)
    java.ok("init_transactions", handle=producer)
    java.ok("begin_transaction", handle=producer)
    java.ok("send", handle=producer, topic=topic_name, records=[{"value": "a"}])
    java.ok(f"{outcome}_transaction", handle=producer)
    described = completed_transaction(java, admin, txn_id)
    assert (described["state"], described["partitions"]) == (f"COMPLETE_{outcome.upper()}", [])


def test_java_admin_deletes_committed_offsets_of_an_empty_group(java: JavaClients, topic_name: str) -> None:
    admin = create_topic(java, topic_name, partitions=2)
    group = f"g-{topic_name}"
    offsets = [{"topic": topic_name, "partition": p, "offset": 1} for p in (0, 1)]
    java.ok("alter_group_offsets", handle=admin, group_id=group, offsets=offsets)
    java.ok("delete_group_offsets", handle=admin, group_id=group, partitions=[{"topic": topic_name, "partition": 0}])
    left = java.ok("list_group_offsets", handle=admin, group_id=group)["offsets"]
    assert left == [{"topic": topic_name, "partition": 1, "offset": 1, "metadata": ""}]


def test_java_admin_errors_are_kafkas(java: JavaClients, topic_name: str) -> None:
    admin = create_topic(java, topic_name)

    def create_error(**topic: Any) -> str:
        error: str = java.error("create_topics", handle=admin, topics=[{"name": f"{topic_name}-x", **topic}])["type"]
        return error

    assert create_error(partitions=1, replication_factor=3) == "INVALID_REPLICATION_FACTOR"
    assert create_error(partitions=1, configs={"retention.ms": "soon"}) == "INVALID_CONFIG"
    assert create_error(partitions=1, configs={"no.such.config": "1"}) == "INVALID_CONFIG"
    assert create_error(partitions=1, configs={"cleanup.policy": "sometimes"}) == "INVALID_CONFIG"
    assert f"{topic_name}-x" not in java.ok("list_topics", handle=admin)["topics"]

    alter = java.error("incremental_alter_configs", handle=admin, type="topic", name=topic_name,
                       ops=[{"name": "retention.ms", "value": "soon", "op": "set"}])
    assert alter["type"] == "INVALID_CONFIG"
    unknown = f"{topic_name}-missing"
    assert java.error("describe_configs", handle=admin, type="topic", name=unknown)["type"] == (
        "UNKNOWN_TOPIC_OR_PARTITION")
    assert java.error("delete_topics", handle=admin, topics=[unknown])["type"] == "UNKNOWN_TOPIC_OR_PARTITION"
    assert java.error("create_partitions", handle=admin, topic=unknown, count=2)["type"] == (
        "UNKNOWN_TOPIC_OR_PARTITION")


def test_java_admin_list_offsets_by_timestamp_and_max_timestamp(java: JavaClients, topic_name: str) -> None:
    admin = create_topic(java, topic_name)
    stamps = past_timestamps(5, step_ms=1000)
    order = [0, 3, 1, 4, 2]  # timestamps out of offset order: the newest record is at offset 3
    producer = java.producer(linger_ms=0)
    java.ok("send", handle=producer, topic=topic_name,
            records=[{"value": f"v{i}", "timestamp": stamps[i]} for i in order])
    tp = {"topic": topic_name, "partition": 0}

    def offset(spec: str) -> tuple[int, int]:
        [o] = java.ok("list_offsets", handle=admin, partitions=[{**tp, "spec": spec}])["offsets"]
        return o["offset"], o["timestamp"]

    assert offset("max_timestamp") == (3, stamps[4])
    assert offset(str(stamps[2]))[0] == 1  # the first offset whose timestamp is at or after stamps[2]
    assert offset(str(stamps[4] + 1))[0] == -1
    assert offset("earliest")[0] == 0 and offset("latest")[0] == 5


def test_java_read_committed_end_offset_is_the_last_stable_offset(java: JavaClients, topic_name: str) -> None:
    create_topic(java, topic_name)
    plain = java.producer(linger_ms=0)
    java.ok("send", handle=plain, topic=topic_name, records=[{"value": f"p{i}"} for i in range(3)])
    txn = java.producer(transactional_id=f"tx-{topic_name}", linger_ms=0)
    java.ok("init_transactions", handle=txn)
    java.ok("begin_transaction", handle=txn)
    java.ok("send", handle=txn, topic=topic_name, records=[{"value": "t0"}, {"value": "t1"}])
    java.ok("send", handle=plain, topic=topic_name, records=[{"value": "p3"}])
    tp = {"topic": topic_name, "partition": 0}

    def end_offset(isolation: str) -> int:
        consumer = java.consumer(**{"isolation.level": isolation})
        [o] = java.ok("end_offsets", handle=consumer, partitions=[tp])["offsets"]
        java.ok("close", handle=consumer)
        return int(o["offset"])

    # the open transaction holds the last stable offset at its first record; the plain record after it
    # is not readable by read_committed consumers either
    assert (end_offset("read_committed"), end_offset("read_uncommitted")) == (3, 6)
    assert [r["value"] for r in read_all(java, topic_name, 3, **{"isolation.level": "read_committed"})] == [
        "p0", "p1", "p2"]
    java.ok("commit_transaction", handle=txn)
    # the commit marker takes offset 6; p3 (offset 5) becomes readable after t0 and t1
    assert (end_offset("read_committed"), end_offset("read_uncommitted")) == (7, 7)
    got = read_all(java, topic_name, 6, **{"isolation.level": "read_committed"})
    assert [(r["offset"], r["value"]) for r in got] == [(0, "p0"), (1, "p1"), (2, "p2"), (3, "t0"), (4, "t1"),
                                                        (5, "p3")]


def test_java_log_append_time_topic_stamps_records_with_broker_time(java: JavaClients, topic_name: str) -> None:
    create_topic(java, topic_name, configs={"message.timestamp.type": "LogAppendTime"})
    old = past_timestamps(1, step_ms=3_600_000)[0]
    before = int(time.time() * 1000)
    producer = java.producer(linger_ms=0, compression_type="lz4")
    [sent] = java.ok("send", handle=producer, topic=topic_name, records=[{"value": "v", "timestamp": old}])["records"]
    after = int(time.time() * 1000)
    assert before - 1000 <= sent["timestamp"] <= after + 1000  # the broker's clock, not the record's
    [record] = read_all(java, topic_name, 1)
    assert (record["timestamp_type"], record["timestamp"]) == ("LogAppendTime", sent["timestamp"])


def test_java_oversized_record_is_refused_by_the_broker(java: JavaClients, topic_name: str) -> None:
    create_topic(java, topic_name, configs={"max.message.bytes": "2048"})
    producer = java.producer(linger_ms=0, max_request_size=1 << 20, retries=0)
    error = java.error("send", handle=producer, topic=topic_name, records=[{"value": "x" * 10_000}])
    assert (error["type"], error["class"]) == ("MESSAGE_TOO_LARGE", "RecordTooLargeException")
    java.ok("send", handle=producer, topic=topic_name, records=[{"value": "small"}])


def test_java_admin_append_and_subtract_list_configs(java: JavaClients, topic_name: str) -> None:
    admin = create_topic(java, topic_name)

    def policy() -> str:
        value: str = java.ok("describe_configs", handle=admin, type="topic", name=topic_name)["configs"][
            "cleanup.policy"]["value"]
        return value

    assert policy() == "delete"
    java.ok("incremental_alter_configs", handle=admin, type="topic", name=topic_name,
            ops=[{"name": "cleanup.policy", "value": "compact", "op": "append"}])
    assert policy() == "delete,compact"
    java.ok("incremental_alter_configs", handle=admin, type="topic", name=topic_name,
            ops=[{"name": "cleanup.policy", "value": "delete", "op": "subtract"}])
    assert policy() == "compact"


def test_java_consumer_protocol_regex_subscription_and_static_member(java: JavaClients, topic_name: str) -> None:
    admin = java.admin()
    names = [f"{topic_name}-a", f"{topic_name}-b", f"other-{topic_name}"]
    java.ok("create_topics", handle=admin, topics=[{"name": n, "partitions": 1} for n in names])
    producer = java.producer(linger_ms=0)
    for n in names:
        java.ok("send", handle=producer, topic=n, records=[{"value": n}])
    group = f"g-{topic_name}"
    config = {"group.id": group, "group.protocol": "consumer", "auto.offset.reset": "earliest",
              "group.instance.id": "only"}
    consumer = java.consumer(**config)
    java.ok("subscribe", handle=consumer, pattern=f"{topic_name}-.*")
    got = poll_until(java, consumer, 2)
    assert sorted(r["value"] for r in got) == sorted(names[:2])
    [described] = java.ok("describe_groups", handle=admin, groups=[group])["groups"]
    assert (described["type"], described["state"], described["assignor"]) == ("CONSUMER", "STABLE", "uniform")
    [member] = described["members"]
    assert member["instance_id"] == "only"
    assert sorted(tp["topic"] for tp in member["assignment"]) == sorted(names[:2])
    [listed] = [g for g in java.ok("list_groups", handle=admin)["groups"] if g["group_id"] == group]
    assert (listed["type"], listed["protocol"], listed["state"]) == ("CONSUMER", "consumer", "STABLE")

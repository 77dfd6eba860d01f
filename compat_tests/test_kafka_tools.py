"""Apache Kafka's own command-line tools against the broker: kafka-topics, kafka-configs, kafka-consumer-groups,
kafka-console-producer and -consumer, kafka-transactions and kafka-get-offsets (the reference's 4.4 jars, run
with ``java -cp``: compat_tests/clients/kafka_tools.py).

Each test checks what the tool prints (its tables parsed, the numbers compared), with the setup and the
cross-checks done through confluent-kafka so that a tool is never checked only against itself. A tool run is a
JVM start (about a second here), so each test runs only the few that it checks.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from compat_tests.clients import kafka_tools

TIMEOUT_S = 30.0


@pytest.fixture(scope="module", autouse=True)
def _tools_available() -> None:
    reason = kafka_tools.unavailable_reason()
    if reason is not None:
        pytest.skip(f"Kafka's tools need the reference's jars: {reason}")


@pytest.fixture
def admin(bootstrap_servers: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap_servers})


def create_topic(admin: AdminClient, topic: str, partitions: int) -> None:
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    futures[topic].result(timeout=TIMEOUT_S)


def produce(ck_producer: Callable[[dict[str, Any]], Producer], bootstrap: str, topic: str,
            counts: dict[int, int]) -> None:
    """``counts[p]`` records to each partition ``p``, all acknowledged."""
    producer = ck_producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for partition, count in counts.items():
        for i in range(count):
            producer.produce(topic, key=f"k{i}".encode(), value=f"p{partition}-{i}".encode(), partition=partition)
    assert producer.flush(TIMEOUT_S) == 0


def delete_records_before(admin: AdminClient, topic: str, partition: int, offset: int) -> None:
    futures = admin.delete_records([TopicPartition(topic, partition, offset)])
    for future in futures.values():
        assert future.result(timeout=TIMEOUT_S).low_watermark == offset  # the new log start offset


@pytest.fixture
def group_consumer(bootstrap_servers: str) -> Iterator[Callable[[str], Consumer]]:
    """``group_consumer(group)``: a confluent-kafka consumer of that group that joins nothing (it commits and
    reads committed offsets only); closed at teardown."""
    made: list[Consumer] = []

    def factory(group: str) -> Consumer:
        made.append(Consumer({"bootstrap.servers": bootstrap_servers, "group.id": group,
                              "enable.auto.commit": False}))
        return made[-1]

    yield factory
    for consumer in made:
        consumer.close()


# ---------------------------------------------------------------- parsing the tools' output

def key_values(line: str) -> dict[str, str]:
    """kafka-topics --describe's ``Key: value`` fields, tab-separated."""
    return {k.strip(): v.strip() for k, _, v in (f.partition(": ") for f in line.strip().split("\t"))}


def whitespace_table(text: str, first_column: str) -> list[dict[str, str]]:
    """The rows under the header line that starts with ``first_column`` (kafka-consumer-groups' tables: columns
    padded with spaces; no value holds a space here)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.split()[:1] == [first_column]), None)
    assert start is not None, f"no {first_column} header in:\n{text}"
    header = lines[start].split()
    rows = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        cells = line.split()
        assert len(cells) == len(header), f"row {line!r} does not fit the header {header}"
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def tab_table(text: str) -> list[dict[str, str]]:
    """kafka-transactions' tables: a header and rows of tab-separated cells padded with spaces."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = [c.strip() for c in lines[0].rstrip("\t").split("\t")]
    return [dict(zip(header, [c.strip() for c in line.rstrip("\t").split("\t")], strict=True)) for line in lines[1:]]


def topic_offsets(text: str, topic: str) -> dict[int, int]:
    """kafka-get-offsets' ``topic:partition:offset`` lines."""
    found = {}
    for line in text.splitlines():
        name, partition, offset = line.rsplit(":", 2)
        assert name == topic, line
        found[int(partition)] = int(offset)
    return found


# ---------------------------------------------------------------- kafka-topics, kafka-configs

def test_kafka_topics_creates_lists_and_describes_a_topic(bootstrap_servers: str, topic_name: str) -> None:
    created = kafka_tools.run("kafka-topics", "--bootstrap-server", bootstrap_servers, "--create",
                              "--topic", topic_name, "--partitions", "3", "--replication-factor", "1",
                              "--config", "retention.ms=123456", "--config", "cleanup.policy=compact")
    assert created.stdout.strip() == f"Created topic {topic_name}."

    listed = kafka_tools.run("kafka-topics", "--bootstrap-server", bootstrap_servers, "--list")
    assert topic_name in listed.stdout.split()

    described = kafka_tools.run("kafka-topics", "--bootstrap-server", bootstrap_servers, "--describe",
                                "--topic", topic_name)
    topic_line, *partition_lines = described.stdout.strip().splitlines()
    topic = key_values(topic_line)
    assert (topic["Topic"], topic["PartitionCount"], topic["ReplicationFactor"]) == (topic_name, "3", "1")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", topic["TopicId"]), topic
    # Configs: the topic's own settings (and, on a broker with static settings, those: a subset check)
    configs = dict(c.split("=", 1) for c in topic["Configs"].split(","))
    assert {"retention.ms": "123456", "cleanup.policy": "compact"}.items() <= configs.items()
    partitions = [key_values(line) for line in partition_lines]
    assert [p["Partition"] for p in partitions] == ["0", "1", "2"]
    for p in partitions:
        assert p["Topic"] == topic_name
        assert p["Replicas"] == p["Leader"] == p["Isr"] and int(p["Leader"]) >= 0, p


def test_kafka_configs_alters_and_describes_topic_configs(bootstrap_servers: str, topic_name: str,
                                                         admin: AdminClient) -> None:
    create_topic(admin, topic_name, 1)
    altered = kafka_tools.run("kafka-configs", "--bootstrap-server", bootstrap_servers, "--alter",
                              "--entity-type", "topics", "--entity-name", topic_name,
                              "--add-config", "max.message.bytes=200000,retention.ms=86400000")
    assert altered.stdout.strip() == f"Completed updating config for topic {topic_name}."

    described = kafka_tools.run("kafka-configs", "--bootstrap-server", bootstrap_servers, "--describe",
                                "--entity-type", "topics", "--entity-name", topic_name)
    lines = described.stdout.strip().splitlines()
    assert lines[0] == f"Dynamic configs for topic {topic_name} are:"
    dynamic = {}
    for line in lines[1:]:
        match = re.fullmatch(r"\s+([\w.]+)=(\S*) sensitive=(true|false) synonyms=\{(.*)\}", line)
        assert match is not None, line
        dynamic[match[1]] = (match[2], match[3], match[4])
    # exactly the two set: a topic's dynamic configs are the ones set on it, not its defaults; their synonyms
    # as Kafka lists them (the broker's message.max.bytes default; retention.ms's broker forms have none)
    assert dynamic == {
        "max.message.bytes": ("200000", "false",
                              "DYNAMIC_TOPIC_CONFIG:max.message.bytes=200000, DEFAULT_CONFIG:message.max.bytes=1048588"),
        "retention.ms": ("86400000", "false", "DYNAMIC_TOPIC_CONFIG:retention.ms=86400000")}


# ---------------------------------------------------------------- console producer and consumer

def test_kafka_console_producer_and_consumer_keep_keys(bootstrap_servers: str, topic_name: str,
                                                      admin: AdminClient) -> None:
    create_topic(admin, topic_name, 1)
    lines = ["a:1", "b:2", "a:three:3", "c:"]  # split at the first separator; an empty value stays empty
    kafka_tools.run("kafka-console-producer", "--bootstrap-server", bootstrap_servers, "--topic", topic_name,
                    "--reader-property", "parse.key=true", "--reader-property", "key.separator=:",
                    stdin="".join(line + "\n" for line in lines))

    consumed = kafka_tools.run("kafka-console-consumer", "--bootstrap-server", bootstrap_servers,
                               "--topic", topic_name, "--from-beginning", "--max-messages", "3",
                               "--formatter-property", "print.key=true", "--formatter-property", "print.offset=true",
                               "--formatter-property", "key.separator=|")
    assert consumed.stdout.splitlines() == ["Offset:0|a|1", "Offset:1|b|2", "Offset:2|a|three:3"]  # 3 of 4
    assert "Processed a total of 3 messages" in consumed.stderr

    # what the producer wrote, read by another client: keys and values as separate fields
    reader = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": f"g-{uuid.uuid4().hex[:8]}",
                       "enable.auto.commit": False})
    try:
        reader.assign([TopicPartition(topic_name, 0, 0)])
        got: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < 4 and time.monotonic() < deadline:
            message = reader.poll(1.0)
            if message is not None and message.error() is None:
                got.append((message.key(), message.value()))
    finally:
        reader.close()
    assert got == [(b"a", b"1"), (b"b", b"2"), (b"a", b"three:3"), (b"c", b"")]


# ---------------------------------------------------------------- kafka-consumer-groups, kafka-get-offsets

def test_kafka_consumer_groups_describes_lists_and_resets_committed_offsets(
        bootstrap_servers: str, topic_name: str, admin: AdminClient,
        ck_producer: Callable[[dict[str, Any]], Producer], group_consumer: Callable[[str], Consumer]) -> None:
    group = f"g-{uuid.uuid4().hex[:12]}"
    create_topic(admin, topic_name, 3)
    produce(ck_producer, bootstrap_servers, topic_name, {0: 5, 1: 3, 2: 2})
    delete_records_before(admin, topic_name, 0, 1)  # partition 0's earliest offset is 1
    consumer = group_consumer(group)
    consumer.commit(offsets=[TopicPartition(topic_name, 0, 2), TopicPartition(topic_name, 1, 3)], asynchronous=False)

    listed = kafka_tools.run("kafka-consumer-groups", "--bootstrap-server", bootstrap_servers, "--list")
    assert group in listed.stdout.split()

    described = kafka_tools.run("kafka-consumer-groups", "--bootstrap-server", bootstrap_servers, "--describe",
                                "--group", group)
    rows = {int(r["PARTITION"]): r for r in whitespace_table(described.stdout, "GROUP")}
    assert set(rows) == {0, 1}, described.stdout  # partition 2 has no committed offset and no member
    got = {p: (int(r["CURRENT-OFFSET"]), int(r["LOG-END-OFFSET"]), int(r["LAG"])) for p, r in rows.items()}
    assert got == {0: (2, 5, 3), 1: (3, 3, 0)}
    for r in rows.values():
        member = (r["CONSUMER-ID"], r["HOST"], r["CLIENT-ID"])
        assert (r["GROUP"], r["TOPIC"], member) == (group, topic_name, ("-", "-", "-"))  # no member
    assert f"Consumer group '{group}' has no active members." in described.stderr

    reset = kafka_tools.run("kafka-consumer-groups", "--bootstrap-server", bootstrap_servers, "--reset-offsets",
                            "--group", group, "--topic", topic_name, "--to-earliest", "--execute")
    new_offsets = {int(r["PARTITION"]): int(r["NEW-OFFSET"]) for r in whitespace_table(reset.stdout, "GROUP")}
    assert new_offsets == {0: 1, 1: 0, 2: 0}  # every partition of the topic, each to its log start
    committed = consumer.committed([TopicPartition(topic_name, p) for p in range(3)], timeout=TIMEOUT_S)
    assert {tp.partition: tp.offset for tp in committed} == {0: 1, 1: 0, 2: 0}


def test_kafka_get_offsets_prints_earliest_and_latest_per_partition(
        bootstrap_servers: str, topic_name: str, admin: AdminClient,
        ck_producer: Callable[[dict[str, Any]], Producer]) -> None:
    create_topic(admin, topic_name, 3)
    produce(ck_producer, bootstrap_servers, topic_name, {0: 4, 2: 2})
    delete_records_before(admin, topic_name, 0, 3)

    earliest = kafka_tools.run("kafka-get-offsets", "--bootstrap-server", bootstrap_servers, "--topic", topic_name,
                               "--time", "earliest")
    assert topic_offsets(earliest.stdout, topic_name) == {0: 3, 1: 0, 2: 0}
    latest = kafka_tools.run("kafka-get-offsets", "--bootstrap-server", bootstrap_servers, "--topic", topic_name,
                             "--time", "-1")
    assert topic_offsets(latest.stdout, topic_name) == {0: 4, 1: 0, 2: 2}


# ---------------------------------------------------------------- kafka-transactions

def test_kafka_transactions_lists_and_describes_a_producers_transaction(
        bootstrap_servers: str, topic_name: str, admin: AdminClient,
        ck_producer: Callable[[dict[str, Any]], Producer]) -> None:
    txn_id = f"txn-{uuid.uuid4().hex[:12]}"
    create_topic(admin, topic_name, 2)
    producer = ck_producer({"bootstrap.servers": bootstrap_servers, "transactional.id": txn_id})
    producer.init_transactions(TIMEOUT_S)
    before_ms = int(time.time() * 1000)
    producer.begin_transaction()
    producer.produce(topic_name, key=b"k", value=b"v", partition=1)
    assert producer.flush(TIMEOUT_S) == 0  # the partition is in the transaction
    after_ms = int(time.time() * 1000)

    listed = kafka_tools.run("kafka-transactions", "--bootstrap-server", bootstrap_servers, "list")
    mine = [r for r in tab_table(listed.stdout) if r["TransactionalId"] == txn_id]
    assert len(mine) == 1, listed.stdout
    assert mine[0]["TransactionState"] == "Ongoing"
    assert int(mine[0]["ProducerId"]) >= 0 and int(mine[0]["Coordinator"]) >= 0

    def describe() -> dict[str, str]:
        out = kafka_tools.run("kafka-transactions", "--bootstrap-server", bootstrap_servers, "describe",
                              "--transactional-id", txn_id).stdout
        (row,) = tab_table(out)
        return row

    ongoing = describe()
    assert (ongoing["TransactionalId"], ongoing["ProducerId"], ongoing["CoordinatorId"]) == (
        txn_id, mine[0]["ProducerId"], mine[0]["Coordinator"])
    assert (ongoing["ProducerEpoch"], ongoing["TransactionState"]) == ("0", "Ongoing")
    assert ongoing["TransactionTimeoutMs"] == "60000"  # librdkafka's transaction.timeout.ms default
    assert ongoing["TopicPartitions"] == f"{topic_name}-1"
    start_ms = int(ongoing["CurrentTransactionStartTimeMs"])
    assert before_ms - 1000 <= start_ms <= after_ms + 1000  # the brokers' clock, ours give or take a second
    assert int(ongoing["TransactionDurationMs"]) >= 0

    producer.commit_transaction(TIMEOUT_S)
    committed = describe()
    assert (committed["TransactionState"], committed["ProducerId"]) == ("CompleteCommit", ongoing["ProducerId"])
    assert committed["TopicPartitions"] == ""  # a completed transaction holds no partitions
    assert int(committed["CurrentTransactionStartTimeMs"]) == start_ms  # the last transaction's start stays

    # a new instance of the producer (InitProducerId, a bumped epoch): Empty, with no start time
    ck_producer({"bootstrap.servers": bootstrap_servers, "transactional.id": txn_id}).init_transactions(TIMEOUT_S)
    empty = describe()
    assert (empty["TransactionState"], empty["ProducerEpoch"]) == ("Empty", "1")
    assert empty["ProducerId"] == ongoing["ProducerId"]
    assert (empty["CurrentTransactionStartTimeMs"], empty["TransactionDurationMs"]) == ("None", "None")

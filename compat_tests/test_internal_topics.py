"""Internal topics in Metadata (issue 14 item 7): __consumer_offsets and __transaction_state are listed, marked
internal, once they exist, as Kafka lists them; a client that leaves internal topics out keeps leaving them out.

Kafka creates each on the first FindCoordinator of its key type (a group, a transactional id), and on a Metadata
request that may auto-create it; before that, asked for by name, it is UNKNOWN_TOPIC_OR_PARTITION but still
marked internal (checked against Apache Kafka 4.4 with a raw Metadata v12 request).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient, KafkaConsumer

OFFSETS = "__consumer_offsets"
TXN_STATE = "__transaction_state"
PARTITIONS = 50  # offsets.topic.num.partitions and transaction.state.log.num.partitions, both brokers' default


def _describe(bootstrap: str, topics: list[str] | None = None) -> dict[str, dict[str, Any]]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {t["name"]: t for t in admin.describe_topics(topics)}
    finally:
        admin.close()


def _commit_in_group(bootstrap: str, topic: str) -> None:
    """A group commits an offset: its FindCoordinator makes __consumer_offsets exist."""
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, b"v")
    assert producer.flush(15) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    finally:
        consumer.close()


def test_consumer_offsets_listed_as_internal_once_a_group_exists(bootstrap_servers: str, topic_name: str) -> None:
    _commit_in_group(bootstrap_servers, topic_name)

    described = _describe(bootstrap_servers)
    offsets = described[OFFSETS]
    assert offsets["is_internal"] is True and offsets["error_code"] == 0, offsets
    assert len(offsets["partitions"]) == PARTITIONS
    assert all(p["leader_id"] >= 0 and p["leader_id"] in p["replica_nodes"] for p in offsets["partitions"])
    assert described[topic_name]["is_internal"] is False

    # librdkafka lists it with its partitions too, and it cannot be created again
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    md = admin.list_topics(timeout=15)
    assert len(md.topics[OFFSETS].partitions) == PARTITIONS and md.topics[OFFSETS].error is None
    with pytest.raises(KafkaException) as raised:
        admin.create_topics([NewTopic(OFFSETS, 1, 1)])[OFFSETS].result(15)
    assert raised.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    # a pattern subscription leaves internal topics out (exclude.internal.topics, every client's default)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=f"p-{uuid.uuid4().hex[:8]}")
    try:
        consumer.subscribe(pattern="^__.*|" + topic_name)
        topics = consumer.topics()
        assert OFFSETS not in topics and topic_name in topics, topics
    finally:
        consumer.close()


def test_internal_topic_asked_by_name_before_it_exists(broker_with: Callable[..., str]) -> None:
    bootstrap = broker_with()  # a fresh broker: no group, no transactional id yet
    described = _describe(bootstrap, [TXN_STATE])  # kafka-python asks without auto-creation
    assert described[TXN_STATE]["error_code"] == 3, described  # UNKNOWN_TOPIC_OR_PARTITION
    assert described[TXN_STATE]["is_internal"] is True
    assert TXN_STATE not in _describe(bootstrap)

    # a transactional producer's FindCoordinator makes it exist
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"t-{uuid.uuid4().hex[:8]}"})
    producer.init_transactions(15)
    txn_state = _describe(bootstrap)[TXN_STATE]
    assert txn_state["is_internal"] is True and len(txn_state["partitions"]) == PARTITIONS

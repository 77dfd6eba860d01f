"""Partition reassignments (KIP-455) through kafka-python's admin client (issue 14 item 2): replicas move,
the leader leaves a removed replica, an in-progress reassignment is listed and can be cancelled, and bad
targets get Kafka's errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import InvalidReplicationAssignmentError, NoReassignmentInProgressError, UnknownTopicOrPartitionError

from compat_tests.clients.pyclients import poll_until, require_kafkasim
from kafkasim import Cluster


@pytest.fixture
def four_brokers(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    require_kafkasim(request)
    with Cluster(brokers=4, clock="virtual").run_in_thread() as c:
        yield c


@pytest.fixture
def admin(four_brokers: Cluster) -> Iterator[KafkaAdminClient]:
    a = KafkaAdminClient(bootstrap_servers=four_brokers.bootstrap_servers.split(","), request_timeout_ms=10000)
    yield a
    a.close()


@pytest.mark.kafkasim_only
def test_reassignment_moves_replicas_and_the_leader(four_brokers: Cluster, admin: KafkaAdminClient) -> None:
    c = four_brokers
    c.create_topic("moving", 1, replication_factor=2)
    before = c.partition_status("moving", 0)
    target = [n for n in (1, 2, 3, 4) if n not in before.replicas]
    p = KafkaProducer(bootstrap_servers=c.bootstrap_servers.split(","))
    p.send("moving", b"before").get(10)
    result = admin.alter_partition_reassignments({TopicPartition("moving", 0): target})
    assert result == {TopicPartition("moving", 0): None}
    after = c.partition_status("moving", 0)
    assert after.replicas == target and sorted(after.isr) == sorted(target)
    assert after.leader == target[0] and after.leader_epoch > before.leader_epoch
    assert admin.list_partition_reassignments() == {}
    # clients follow the leader to its new broker
    p.send("moving", b"after").get(10)
    p.close()
    consumer = KafkaConsumer(bootstrap_servers=c.bootstrap_servers.split(","), auto_offset_reset="earliest",
                             consumer_timeout_ms=10000)
    consumer.assign([TopicPartition("moving", 0)])
    got: list[bytes] = []
    poll_until(lambda: got.extend(r.value for rs in consumer.poll(500).values() for r in rs) or len(got) >= 2,
               "both records")
    consumer.close()
    assert got == [b"before", b"after"]


@pytest.mark.kafkasim_only
def test_reassignment_in_progress_is_listed_until_it_completes_or_is_cancelled(
        four_brokers: Cluster, admin: KafkaAdminClient) -> None:
    c = four_brokers
    c.create_topic("slow", 2, replication_factor=2)
    c.set_reassignment_delay(5000)
    start = [c.partition_status("slow", i).replicas for i in (0, 1)]
    targets = [[n for n in (1, 2, 3, 4) if n not in r][:1] + r[:1] for r in start]  # one added, one kept
    admin.alter_partition_reassignments({TopicPartition("slow", 0): targets[0], TopicPartition("slow", 1): targets[1]})
    listed = admin.list_partition_reassignments()
    assert set(listed) == {TopicPartition("slow", 0), TopicPartition("slow", 1)}
    entry = listed[TopicPartition("slow", 0)]
    assert entry["adding_replicas"] == targets[0][:1]
    assert entry["removing_replicas"] == start[0][1:]
    assert entry["replicas"] == targets[0] + start[0][1:]
    assert admin.list_partition_reassignments({"slow": [1]}).keys() == {TopicPartition("slow", 1)}
    # cancelling partition 1 puts its replicas back; partition 0 completes when its time comes
    assert admin.alter_partition_reassignments({TopicPartition("slow", 1): None}) == {TopicPartition("slow", 1): None}
    assert c.partition_status("slow", 1).replicas == start[1]
    c.clock.advance(5000)
    poll_until(lambda: admin.list_partition_reassignments() == {}, "the reassignment to complete")
    assert c.partition_status("slow", 0).replicas == targets[0]
    assert admin.alter_partition_reassignments({TopicPartition("slow", 0): None}) == {
        TopicPartition("slow", 0): NoReassignmentInProgressError}


@pytest.mark.kafkasim_only
def test_reassignment_errors_are_kafkas(four_brokers: Cluster, admin: KafkaAdminClient) -> None:
    four_brokers.create_topic("checked", 1, replication_factor=2)
    result = admin.alter_partition_reassignments({
        TopicPartition("checked", 0): [1, 99],
        TopicPartition("checked", 7): [1, 2],
        TopicPartition("missing", 0): [1, 2],
    })
    assert result == {TopicPartition("checked", 0): InvalidReplicationAssignmentError,
                      TopicPartition("checked", 7): UnknownTopicOrPartitionError,
                      TopicPartition("missing", 0): UnknownTopicOrPartitionError}
    assert admin.alter_partition_reassignments({TopicPartition("checked", 0): [2, 2]}) == {
        TopicPartition("checked", 0): InvalidReplicationAssignmentError}


def test_reassignment_errors_on_one_broker(bootstrap_servers: str, topic_name: str) -> None:
    """Also against the reference Kafka (one broker): an unregistered replica, a cancellation without a
    reassignment, and an empty listing."""
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
    try:
        admin.create_topics([NewTopic(topic_name, 1, 1)])
        node = admin.describe_cluster()["brokers"][0]["broker_id"]
        tp = TopicPartition(topic_name, 0)
        assert poll_until(lambda: admin.alter_partition_reassignments({tp: [node, 9999]}),
                          "the topic to be known") == {tp: InvalidReplicationAssignmentError}
        assert admin.alter_partition_reassignments({tp: None}) == {tp: NoReassignmentInProgressError}
        assert admin.list_partition_reassignments({topic_name: [0]}) == {}
        assert admin.alter_partition_reassignments({tp: [node]}) == {tp: None}  # to where it is: done at once
    finally:
        admin.close()

"""DescribeLogDirs and AlterReplicaLogDirs through kafka-python's admin client (issue 14 item 1): every broker
reports its one log directory with the replicas it holds, and moving a replica into it is accepted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient, KafkaProducer, TopicPartitionReplica
from kafka.errors import KafkaStorageError, LogDirNotFoundError, NoError, UnknownTopicOrPartitionError

from compat_tests.clients.pyclients import require_kafkasim
from kafkasim import Cluster
from kafkasim.state.log_dirs import MEMORY_LOG_DIR


@pytest.fixture
def three_brokers(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    require_kafkasim(request)
    with Cluster(brokers=3).run_in_thread() as c:
        yield c


def _admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=10000)


@pytest.mark.kafkasim_only
def test_log_dirs_describe_reports_each_brokers_replicas_and_sizes(three_brokers: Cluster) -> None:
    c = three_brokers
    c.create_topic("sized", 3, replication_factor=2)
    p = KafkaProducer(bootstrap_servers=c.bootstrap_servers.split(","))
    for i in range(30):
        p.send("sized", b"x" * 100, partition=i % 3)
    p.flush(10)
    p.close()
    admin = _admin(c.bootstrap_servers)
    try:
        answers = admin.describe_log_dirs()
        hosted = {}
        for a in answers:
            (d,) = a["log_dirs"]
            assert d["error_code"] == 0 and d["log_dir"] == MEMORY_LOG_DIR
            assert d["total_bytes"] > 0 and 0 <= d["usable_bytes"] <= d["total_bytes"]
            for t in d["topics"]:
                for part in t["partitions"]:
                    assert part["partition_size"] > 1000 and part["offset_lag"] == 0
                    hosted.setdefault(part["partition_index"], set()).add(a["broker"])
        assert hosted == {s.partition: set(s.replicas) for s in c.partitions("sized")}
        # one topic, one partition: only the brokers holding it list it
        answers = admin.describe_log_dirs({"sized": [1]})
        holders = {a["broker"] for a in answers for t in a["log_dirs"][0]["topics"] if t["partitions"]}
        assert holders == set(c.partition_status("sized", 1).replicas)
        assert admin.describe_log_dirs({"no-such-topic": [0]})[0]["log_dirs"][0]["topics"] == []
    finally:
        admin.close()


@pytest.mark.kafkasim_only
def test_log_dirs_alter_replica_into_its_own_dir_and_errors(three_brokers: Cluster) -> None:
    c = three_brokers
    c.create_topic("moved", 1, replication_factor=2)
    replicas = c.partition_status("moved", 0).replicas
    outside = next(n for n in (1, 2, 3) if n not in replicas)
    admin = _admin(c.bootstrap_servers)
    try:
        result = admin.alter_replica_log_dirs({
            TopicPartitionReplica("moved", 0, replicas[0]): MEMORY_LOG_DIR,
            TopicPartitionReplica("moved", 0, replicas[1]): "/elsewhere",
            TopicPartitionReplica("nothing", 0, replicas[0]): MEMORY_LOG_DIR,
            TopicPartitionReplica("moved", 0, outside): MEMORY_LOG_DIR,
        })
        assert result[TopicPartitionReplica("moved", 0, replicas[0])] is NoError
        assert result[TopicPartitionReplica("moved", 0, replicas[1])] is LogDirNotFoundError
        assert result[TopicPartitionReplica("nothing", 0, replicas[0])] is UnknownTopicOrPartitionError
        assert result[TopicPartitionReplica("moved", 0, outside)] not in (NoError, KafkaStorageError)
    finally:
        admin.close()


@pytest.mark.kafkasim_only
def test_log_dirs_of_a_disk_store_are_its_data_directory(request: pytest.FixtureRequest, tmp_path) -> None:
    require_kafkasim(request)
    with Cluster(data_dir=str(tmp_path)).run_in_thread() as c:
        c.create_topic("kept", 1)
        admin = _admin(c.bootstrap_servers)
        try:
            (answer,) = admin.describe_log_dirs()
            (d,) = answer["log_dirs"]
            assert d["log_dir"] == str(tmp_path.resolve())
            assert [t["name"] for t in d["topics"]] == ["kept"]
            assert d["total_bytes"] >= d["usable_bytes"] > 0
        finally:
            admin.close()

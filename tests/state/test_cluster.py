"""Cluster state: topics, partitions, topic configs, appends and offset lookups (state/cluster.py)."""

from __future__ import annotations

import struct

import pytest
from crc32c import crc32c

from kafkasim.config import TOPIC_CONFIGS, BrokerConfig, ConfigSource
from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.protocol.compression import Codec
from kafkasim.protocol.records import ATTRIBUTES_OFFSET, CRC_OFFSET, Record, build_batch, iter_records, read_header
from kafkasim.state.clock import Clock
from kafkasim.state.cluster import ClusterState
from kafkasim.state.log_ops import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_TIMESTAMP
from kafkasim.state.partitions import PartitionState
from kafkasim.state.topic_configs import ConfigOp

NOW = 1_700_000_000_000
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


class FixedClock(Clock):
    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now


def make_state(**config) -> ClusterState:
    state = ClusterState(BrokerConfig(**config), clock=FixedClock())
    state.register_broker(1, "127.0.0.1", 9092)
    return state


@pytest.fixture
def state() -> ClusterState:
    return make_state()


def kafka_error(fn, *args, **kwargs) -> ErrorCode:
    with pytest.raises(KafkaError) as err:
        fn(*args, **kwargs)
    return err.value.code


def produced(timestamps: list[int], codec: int = Codec.NONE, value_size: int = 8) -> memoryview:
    """A writable produced batch with one record per timestamp."""
    records = [Record(0, ts, f"k{i}".encode(), b"v" * value_size) for i, ts in enumerate(timestamps)]
    return memoryview(bytearray(build_batch(records, codec=codec)))


def n_records(n: int, ts0: int = NOW - 60_000, codec: int = Codec.NONE) -> memoryview:
    return produced([ts0 + i for i in range(n)], codec)


# ---------------------------------------------------------------------------------------------- create_topic


def test_cluster_create_topic_builds_partitions_with_logs(state: ClusterState) -> None:
    t = state.create_topic("orders", 3)
    assert t is not None
    assert [p.index for p in t.partitions] == [0, 1, 2]
    assert all(p.leader == 1 and p.replicas == [1] for p in t.partitions)
    assert all(p.log.log_end_offset == 0 for p in t.partitions)
    assert len({id(p.log) for p in t.partitions}) == 3
    assert state.topic("orders") is t and state.topic_by_id(t.topic_id) is t
    assert len(t.topic_id) == 16 and t.topic_id != bytes(16)


def test_cluster_create_topic_ids_are_unique(state: ClusterState) -> None:
    a, b = state.create_topic("a"), state.create_topic("b")
    assert a is not None and b is not None and a.topic_id != b.topic_id


@pytest.mark.parametrize("name", ["", ".", "..", "a" * 250, "has space", "a/b", "a:b", "caf\u00e9", "tab\t",
                                  "trailing\n"],
                         ids=["empty", "dot", "dotdot", "250chars", "space", "slash", "colon", "non-ascii", "tab",
                              "trailing-newline"])
def test_cluster_create_topic_illegal_name_is_invalid_topic(state: ClusterState, name: str) -> None:
    assert kafka_error(state.create_topic, name) == ErrorCode.INVALID_TOPIC_EXCEPTION
    assert state.topics == {}


@pytest.mark.parametrize("name", ["a" * 249, "A-z_0.9", "...a", "-"])
def test_cluster_create_topic_legal_names(state: ClusterState, name: str) -> None:
    assert state.create_topic(name) is not None


@pytest.mark.parametrize("first,second", [("a.b", "a_b"), ("a_b", "a.b"), ("x._y", "x_.y")])
def test_cluster_create_topic_dot_underscore_collision(state: ClusterState, first: str, second: str) -> None:
    state.create_topic(first)
    assert kafka_error(state.create_topic, second) == ErrorCode.INVALID_TOPIC_EXCEPTION
    assert list(state.topics) == [first]


def test_cluster_create_topic_already_exists(state: ClusterState) -> None:
    t = state.create_topic("t", 2)
    assert kafka_error(state.create_topic, "t", 5) == ErrorCode.TOPIC_ALREADY_EXISTS
    assert state.topic("t") is t and len(t.partitions) == 2


@pytest.mark.parametrize("partitions", [0, -5, -2])
def test_cluster_create_topic_non_positive_partitions_rejected(state: ClusterState, partitions: int) -> None:
    assert kafka_error(state.create_topic, "t", partitions) == ErrorCode.INVALID_PARTITIONS
    assert state.topics == {}


def test_cluster_create_topic_minus_one_partitions_uses_num_partitions() -> None:
    state = make_state(num_partitions=4)
    t = state.create_topic("t", -1)
    assert t is not None and len(t.partitions) == 4


@pytest.mark.parametrize("rf", [2, 0, -3])
def test_cluster_create_topic_bad_replication_factor(state: ClusterState, rf: int) -> None:
    assert kafka_error(state.create_topic, "t", 1, rf) == ErrorCode.INVALID_REPLICATION_FACTOR
    assert state.topics == {}


def test_cluster_create_topic_replication_factor_sets_replica_count() -> None:
    state = make_state()
    state.register_broker(2, "127.0.0.1", 9093)
    state.register_broker(3, "127.0.0.1", 9094)
    t = state.create_topic("t", 3, 2)
    assert t is not None
    for p in t.partitions:
        assert len(p.replicas) == 2 and len(set(p.replicas)) == 2
        assert p.replicas[0] == p.leader
    assert {p.leader for p in t.partitions} == {1, 2, 3}


def test_cluster_create_topic_spreads_leaders_over_brokers() -> None:
    state = make_state()
    state.register_broker(2, "127.0.0.1", 9093)
    t = state.create_topic("t", 4)
    assert t is not None and [p.leader for p in t.partitions] == [1, 2, 1, 2]


def test_cluster_create_topic_stores_normalised_configs(state: ClusterState) -> None:
    t = state.create_topic("t", configs={"retention.ms": " 1000 ", "cleanup.policy": "compact, delete",
                                         "preallocate": "TRUE"})
    assert t is not None
    assert t.configs == {"retention.ms": "1000", "cleanup.policy": "compact,delete", "preallocate": "true"}


@pytest.mark.parametrize("configs", [
    {"no.such.config": "1"},
    {"retention.ms": "soon"},
    {"retention.ms": None},
    {"cleanup.policy": "delete,shred"},
    {"compression.type": "brotli"},
    {"segment.bytes": "1"},
    {"max.message.bytes": str(2**31)},
    {"preallocate": "yes"},
    {"message.timestamp.type": "Whenever"},
], ids=["unknown", "not-a-number", "null", "bad-list-item", "bad-choice", "below-min", "int-overflow",
        "bad-bool", "bad-timestamp-type"])
def test_cluster_create_topic_bad_config_is_invalid_config(state: ClusterState, configs: dict) -> None:
    assert kafka_error(state.create_topic, "t", configs=configs) == ErrorCode.INVALID_CONFIG
    assert state.topics == {}


def test_cluster_create_topic_validate_only_creates_nothing(state: ClusterState) -> None:
    assert state.create_topic("t", 3, configs={"retention.ms": "5"}, validate_only=True) is None
    assert state.topics == {} and state.topics_by_id == {}
    assert kafka_error(state.create_topic, "t", 0, validate_only=True) == ErrorCode.INVALID_PARTITIONS
    assert state.create_topic("t", 3) is not None  # the name is still free


def test_cluster_create_topic_with_assignments(state: ClusterState) -> None:
    state.register_broker(2, "127.0.0.1", 9093)
    t = state.create_topic("t", assignments={0: [2, 1], 1: [1, 2]})
    assert t is not None
    assert [(p.leader, p.replicas) for p in t.partitions] == [(2, [2, 1]), (1, [1, 2])]


@pytest.mark.parametrize("kwargs,code", [
    ({"num_partitions": 2, "assignments": {0: [1]}}, ErrorCode.INVALID_REQUEST),
    ({"assignments": {0: [9]}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
    ({"assignments": {0: [1, 1]}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
    ({"assignments": {0: []}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
    ({"assignments": {1: [1]}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
], ids=["both-set", "unknown-broker", "duplicate-replica", "no-replicas", "not-from-zero"])
def test_cluster_create_topic_bad_assignments(state: ClusterState, kwargs: dict, code: ErrorCode) -> None:
    assert kafka_error(state.create_topic, "t", **kwargs) == code
    assert state.topics == {}


# ---------------------------------------------------------------------------------------------- partitions


def test_cluster_create_partitions_increases_count(state: ClusterState) -> None:
    t = state.create_topic("t", 2)
    assert t is not None
    old = list(t.partitions)
    state.create_partitions("t", 5, None, False)
    assert [p.index for p in t.partitions] == [0, 1, 2, 3, 4]
    assert t.partitions[:2] == old
    assert all(p.topic == "t" and p.log.log_end_offset == 0 for p in t.partitions[2:])


@pytest.mark.parametrize("count", [2, 1, 0])
def test_cluster_create_partitions_same_or_lower_is_invalid(state: ClusterState, count: int) -> None:
    t = state.create_topic("t", 2)
    assert t is not None
    assert kafka_error(state.create_partitions, "t", count, None, False) == ErrorCode.INVALID_PARTITIONS
    assert len(t.partitions) == 2


def test_cluster_create_partitions_validate_only_changes_nothing(state: ClusterState) -> None:
    t = state.create_topic("t", 2)
    assert t is not None
    state.create_partitions("t", 4, None, True)
    assert len(t.partitions) == 2


def test_cluster_create_partitions_with_assignments(state: ClusterState) -> None:
    state.register_broker(2, "127.0.0.1", 9093)
    t = state.create_topic("t", 1)
    assert t is not None
    state.create_partitions("t", 3, [[2], [2, 1]], False)
    assert [(p.index, p.leader, p.replicas) for p in t.partitions[1:]] == [(1, 2, [2]), (2, 2, [2, 1])]


@pytest.mark.parametrize("assignments", [[[1]], [[1], [1], [1]], [[1], [7]], [[1], []]],
                         ids=["too-few", "too-many", "unknown-broker", "empty"])
def test_cluster_create_partitions_bad_assignments(state: ClusterState, assignments: list) -> None:
    t = state.create_topic("t", 1)
    assert t is not None
    code = kafka_error(state.create_partitions, "t", 3, assignments, False)
    assert code == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    assert len(t.partitions) == 1


def test_cluster_create_partitions_unknown_topic(state: ClusterState) -> None:
    assert kafka_error(state.create_partitions, "nope", 3, None, False) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_cluster_partition_out_of_range_is_unknown(state: ClusterState) -> None:
    state.create_topic("t", 2)
    assert state.partition("t", 1).index == 1
    for index in (2, -1):
        assert kafka_error(state.partition, "t", index) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


# ---------------------------------------------------------------------------------------------- delete_topic


def test_cluster_delete_topic_removes_name_and_id(state: ClusterState) -> None:
    t = state.create_topic("t", 1)
    assert t is not None
    state.append("t", 0, n_records(3))
    assert state.delete_topic("t") is t
    assert kafka_error(state.topic, "t") == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert kafka_error(state.topic_by_id, t.topic_id) == ErrorCode.UNKNOWN_TOPIC_ID
    again = state.create_topic("t", 1)
    assert again is not None and again.topic_id != t.topic_id
    assert again.partitions[0].log.log_end_offset == 0


def test_cluster_delete_topic_unknown(state: ClusterState) -> None:
    assert kafka_error(state.delete_topic, "nope") == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_cluster_delete_topic_disabled() -> None:
    state = make_state(delete_topic_enable=False)
    state.create_topic("t")
    assert kafka_error(state.delete_topic, "t") == ErrorCode.TOPIC_DELETION_DISABLED
    assert "t" in state.topics


# ---------------------------------------------------------------------------------------------- configs


def described(state: ClusterState, name: str, keys=None) -> dict:
    return {e.name: (e.value, e.source) for e in state.describe_topic_configs(name, keys)}


def test_cluster_describe_topic_configs_defaults(state: ClusterState) -> None:
    state.create_topic("t")
    got = described(state, "t")
    assert set(got) == set(TOPIC_CONFIGS)
    assert all(src == ConfigSource.DEFAULT_CONFIG for _, src in got.values())
    assert got["retention.ms"][0] == "604800000"
    assert got["max.message.bytes"][0] == "1048588"
    assert got["cleanup.policy"][0] == "delete"
    assert got["segment.bytes"][0] == "1073741824"
    assert got["retention.bytes"][0] == "-1"
    assert got["message.timestamp.type"][0] == "CreateTime"
    assert got["min.insync.replicas"][0] == "1"
    assert got["compression.type"][0] == "producer"


def test_cluster_describe_topic_configs_set_ones_are_topic_config(state: ClusterState) -> None:
    state.create_topic("t", configs={"retention.ms": "1000"})
    got = described(state, "t", ["retention.ms", "cleanup.policy", "no.such.key"])
    assert got == {"retention.ms": ("1000", ConfigSource.TOPIC_CONFIG),
                   "cleanup.policy": ("delete", ConfigSource.DEFAULT_CONFIG)}


def test_cluster_describe_topic_configs_broker_message_max_bytes() -> None:
    state = make_state(message_max_bytes=2000)
    state.create_topic("t")
    assert described(state, "t", ["max.message.bytes"]) == {
        "max.message.bytes": ("2000", ConfigSource.STATIC_BROKER_CONFIG)}


def test_cluster_describe_topic_configs_unknown_topic(state: ClusterState) -> None:
    assert kafka_error(state.describe_topic_configs, "nope", None) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_cluster_alter_topic_configs_set_and_delete(state: ClusterState) -> None:
    t = state.create_topic("t", configs={"retention.ms": "1000", "segment.ms": "5000"})
    assert t is not None
    state.alter_topic_configs("t", [ConfigOp("retention.ms", SET, "2000"), ConfigOp("segment.ms", DELETE, None),
                                    ConfigOp("retention.bytes", DELETE, None)], False)
    assert t.configs == {"retention.ms": "2000"}
    assert described(state, "t", ["segment.ms"]) == {"segment.ms": ("604800000", ConfigSource.DEFAULT_CONFIG)}


def test_cluster_alter_topic_configs_append_and_subtract_lists(state: ClusterState) -> None:
    t = state.create_topic("t")
    assert t is not None
    state.alter_topic_configs("t", [ConfigOp("cleanup.policy", APPEND, "compact")], False)
    assert t.configs["cleanup.policy"] == "delete,compact"  # appended to the default
    state.alter_topic_configs("t", [ConfigOp("cleanup.policy", APPEND, "compact,delete")], False)
    assert t.configs["cleanup.policy"] == "delete,compact"  # no duplicates
    state.alter_topic_configs("t", [ConfigOp("cleanup.policy", SUBTRACT, "delete")], False)
    assert t.configs["cleanup.policy"] == "compact"
    state.alter_topic_configs("t", [ConfigOp("leader.replication.throttled.replicas", APPEND, "0:1,1:1")], False)
    assert t.configs["leader.replication.throttled.replicas"] == "0:1,1:1"


def test_cluster_alter_topic_configs_duplicate_key_is_invalid_request(state: ClusterState) -> None:
    t = state.create_topic("t")
    assert t is not None
    ops = [ConfigOp("retention.ms", SET, "1"), ConfigOp("retention.ms", DELETE, None)]
    assert kafka_error(state.alter_topic_configs, "t", ops, False) == ErrorCode.INVALID_REQUEST
    assert t.configs == {}


@pytest.mark.parametrize("op", [APPEND, SUBTRACT])
def test_cluster_alter_topic_configs_append_on_non_list_is_invalid_config(state: ClusterState, op: int) -> None:
    t = state.create_topic("t")
    assert t is not None
    assert kafka_error(state.alter_topic_configs, "t", [ConfigOp("retention.ms", op, "1")], False) == \
        ErrorCode.INVALID_CONFIG
    assert t.configs == {}


@pytest.mark.parametrize("bad", [ConfigOp("retention.ms", SET, "x"), ConfigOp("no.such", SET, "1"),
                                 ConfigOp("no.such", DELETE, None), ConfigOp("cleanup.policy", APPEND, "shred"),
                                 ConfigOp("retention.ms", SET, None)],
                         ids=["bad-value", "unknown-set", "unknown-delete", "bad-append", "null-set"])
def test_cluster_alter_topic_configs_is_all_or_nothing(state: ClusterState, bad: ConfigOp) -> None:
    t = state.create_topic("t", configs={"segment.ms": "5000"})
    assert t is not None
    ops = [ConfigOp("retention.ms" if bad.name != "retention.ms" else "segment.bytes", SET, "2000000"),
           ConfigOp("segment.ms", DELETE, None), bad]
    assert kafka_error(state.alter_topic_configs, "t", ops, False) == ErrorCode.INVALID_CONFIG
    assert t.configs == {"segment.ms": "5000"}


def test_cluster_alter_topic_configs_unknown_operation_is_invalid_request(state: ClusterState) -> None:
    state.create_topic("t")
    code = kafka_error(state.alter_topic_configs, "t", [ConfigOp("retention.ms", 4, "1")], False)
    assert code == ErrorCode.INVALID_REQUEST


def test_cluster_alter_topic_configs_validate_only_changes_nothing(state: ClusterState) -> None:
    t = state.create_topic("t")
    assert t is not None
    state.alter_topic_configs("t", [ConfigOp("retention.ms", SET, "1")], True)
    assert t.configs == {}


def test_cluster_replace_topic_configs(state: ClusterState) -> None:
    t = state.create_topic("t", configs={"segment.ms": "5000"})
    assert t is not None
    state.replace_topic_configs("t", {"retention.ms": "7"}, 1, False)
    assert t.configs == {"retention.ms": "7"}
    code = kafka_error(state.replace_topic_configs, "t", {"retention.ms": "8"}, 2, False)
    assert code == ErrorCode.INVALID_REQUEST
    assert kafka_error(state.replace_topic_configs, "t", {"retention.ms": "x"}, 1, False) == ErrorCode.INVALID_CONFIG
    state.replace_topic_configs("t", {}, 0, True)
    assert t.configs == {"retention.ms": "7"}


# ---------------------------------------------------------------------------------------------- append


def test_cluster_append_offsets_consecutive_across_appends(state: ClusterState) -> None:
    state.create_topic("t", 2)
    assert state.append("t", 0, n_records(3)).base_offset == 0
    assert state.append("t", 0, n_records(1)).base_offset == 3
    res = state.append("t", 0, n_records(4, codec=Codec.GZIP))
    assert (res.base_offset, res.log_append_time, res.log_start_offset) == (4, -1, 0)
    assert state.append("t", 1, n_records(2)).base_offset == 0  # partitions are independent
    p = state.partition("t", 0)
    assert p.log.log_end_offset == p.high_watermark == 8
    offsets = [r.offset for i in range(3) for r in iter_records(p.log.batch_at(i))]
    assert offsets == list(range(8))


def test_cluster_append_copies_read_only_buffers(state: ClusterState) -> None:
    state.create_topic("t")
    b = bytes(n_records(2))
    state.append("t", 0, memoryview(b))
    state.append("t", 0, memoryview(b))
    assert read_header(state.partition("t", 0).log.batch_at(1)).base_offset == 2
    assert read_header(b).base_offset == 0  # the caller's bytes are untouched


def test_cluster_append_accepts_bytes(state: ClusterState) -> None:
    state.create_topic("t")
    b = bytes(n_records(2))
    assert state.append("t", 0, b).base_offset == 0
    assert state.append("t", 0, b).base_offset == 2
    assert [r.offset for r in iter_records(state.partition("t", 0).log.batch_at(1))] == [2, 3]


def test_cluster_append_message_too_large_appends_nothing(state: ClusterState) -> None:
    state.create_topic("t", configs={"max.message.bytes": "300"})
    big = produced([NOW], value_size=300)
    assert len(big) > 300
    assert kafka_error(state.append, "t", 0, big) == ErrorCode.MESSAGE_TOO_LARGE
    log = state.partition("t", 0).log
    assert (log.log_end_offset, log.size_bytes) == (0, 0)
    assert read_header(big).base_offset == 0


def test_cluster_append_exactly_max_message_bytes_is_accepted(state: ClusterState) -> None:
    b = produced([NOW], value_size=200)
    state.create_topic("t", configs={"max.message.bytes": str(len(b))})
    assert state.append("t", 0, b).base_offset == 0


def test_cluster_append_broker_message_max_bytes_is_the_default_limit() -> None:
    state = make_state(message_max_bytes=200)
    state.create_topic("t")
    assert kafka_error(state.append, "t", 0, produced([NOW], value_size=300)) == ErrorCode.MESSAGE_TOO_LARGE


def _bad_crc(b: memoryview) -> memoryview:
    b[-1] ^= 0x01
    return b


def _two_batches(b: memoryview) -> memoryview:
    return memoryview(bytearray(bytes(b) * 2))


def _codec_6(b: memoryview) -> memoryview:
    struct.pack_into(">h", b, ATTRIBUTES_OFFSET, 6)
    struct.pack_into(">I", b, CRC_OFFSET, crc32c(bytes(b[ATTRIBUTES_OFFSET:])))
    return b


@pytest.mark.parametrize("spoil,code", [
    (_bad_crc, ErrorCode.CORRUPT_MESSAGE),
    (lambda b: b[:-3], ErrorCode.CORRUPT_MESSAGE),
    (_two_batches, ErrorCode.INVALID_RECORD),
    (_codec_6, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE),
], ids=["bad-crc", "truncated", "two-batches", "codec-6"])
def test_cluster_append_bad_batch_appends_nothing(state: ClusterState, spoil, code: ErrorCode) -> None:
    state.create_topic("t")
    calls: list[PartitionState] = []
    state.append_listeners.append(calls.append)
    state.append("t", 0, n_records(2))
    assert kafka_error(state.append, "t", 0, spoil(n_records(3))) == code
    log = state.partition("t", 0).log
    assert log.log_end_offset == 2 and len(log.batch_refs()) == 1
    assert len(calls) == 1


def test_cluster_append_none_records_is_invalid_record(state: ClusterState) -> None:
    state.create_topic("t")
    assert kafka_error(state.append, "t", 0, None) == ErrorCode.INVALID_RECORD


def test_cluster_append_unknown_topic_or_partition(state: ClusterState) -> None:
    state.create_topic("t", 1)
    assert kafka_error(state.append, "nope", 0, n_records(1)) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert kafka_error(state.append, "t", 1, n_records(1)) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_cluster_append_future_timestamp_is_invalid_timestamp(state: ClusterState) -> None:
    state.create_topic("t", configs={"message.timestamp.after.max.ms": "1000"})
    assert state.append("t", 0, produced([NOW + 1000])).base_offset == 0
    assert kafka_error(state.append, "t", 0, produced([NOW, NOW + 1001])) == ErrorCode.INVALID_TIMESTAMP
    assert state.partition("t", 0).log.log_end_offset == 1


def test_cluster_append_log_append_time_topic(state: ClusterState) -> None:
    state.create_topic("t", configs={"message.timestamp.type": "LogAppendTime"})
    far_future = NOW + 10 * 3_600_000  # not checked against CreateTime bounds on a LogAppendTime topic
    res = state.append("t", 0, produced([1_000, far_future, 2_000], codec=Codec.LZ4))
    assert (res.base_offset, res.log_append_time) == (0, NOW)
    stored = state.partition("t", 0).log.batch_at(0)
    h = read_header(stored)
    assert h.log_append_time and h.max_timestamp == NOW
    assert [r.timestamp for r in iter_records(stored)] == [NOW] * 3
    assert state.partition("t", 0).log.batch_refs()[0].max_timestamp == NOW


def test_cluster_append_listeners_called_with_partition(state: ClusterState) -> None:
    state.create_topic("t", 2)
    calls: list[tuple[str, int, int]] = []
    state.append_listeners.append(lambda p: calls.append((p.topic, p.index, p.log.log_end_offset)))
    state.append("t", 1, n_records(2))
    state.append("t", 0, n_records(1))
    assert calls == [("t", 1, 2), ("t", 0, 1)]


# ---------------------------------------------------------------------------------------------- list_offset


@pytest.fixture(params=[Codec.NONE, Codec.GZIP, Codec.SNAPPY, Codec.LZ4, Codec.ZSTD], ids=lambda c: c.name.lower())
def stamped(request: pytest.FixtureRequest) -> tuple[ClusterState, PartitionState]:
    """Offsets 0-2 at 100, 300, 200; 3 at 300; 4-6 at 500, 400, 500; (ts relative to NOW - 10 000)."""
    state = make_state()
    state.create_topic("t")
    t0 = NOW - 10_000
    for ts in ([100, 300, 200], [300], [500, 400, 500]):
        state.append("t", 0, produced([t0 + x for x in ts], codec=request.param))
    return state, state.partition("t", 0)


def test_cluster_list_offset_earliest_and_latest(stamped: tuple[ClusterState, PartitionState]) -> None:
    state, p = stamped
    assert state.list_offset(p, EARLIEST_TIMESTAMP) == (0, -1)
    assert state.list_offset(p, LATEST_TIMESTAMP) == (7, -1)
    p.log.delete_before(3)
    assert state.list_offset(p, EARLIEST_TIMESTAMP) == (3, -1)


def test_cluster_list_offset_max_timestamp_first_offset_with_max(stamped: tuple[ClusterState, PartitionState]) -> None:
    state, p = stamped
    assert state.list_offset(p, MAX_TIMESTAMP) == (4, NOW - 10_000 + 500)


def test_cluster_list_offset_max_timestamp_tie_is_earliest_offset(state: ClusterState) -> None:
    state.create_topic("t")
    state.append("t", 0, produced([NOW - 9, NOW - 5]))
    state.append("t", 0, produced([NOW - 5, NOW - 7, NOW - 5]))
    assert state.list_offset(state.partition("t", 0), MAX_TIMESTAMP) == (1, NOW - 5)


@pytest.mark.parametrize("rel,want", [
    (0, (0, 100)), (100, (0, 100)), (101, (1, 300)), (150, (1, 300)), (200, (1, 300)), (300, (1, 300)),
    (301, (4, 500)), (400, (4, 500)), (450, (4, 500)), (500, (4, 500)),
])
def test_cluster_list_offset_by_timestamp_first_offset_at_or_after(
        stamped: tuple[ClusterState, PartitionState], rel: int, want: tuple[int, int]) -> None:
    state, p = stamped
    t0 = NOW - 10_000
    assert state.list_offset(p, t0 + rel) == (want[0], t0 + want[1])


def test_cluster_list_offset_by_timestamp_past_the_end(stamped: tuple[ClusterState, PartitionState]) -> None:
    state, p = stamped
    assert state.list_offset(p, NOW - 10_000 + 501) == (-1, -1)
    assert state.list_offset(p, NOW + 10**9) == (-1, -1)


def test_cluster_list_offset_by_timestamp_skips_deleted_offsets(stamped: tuple[ClusterState, PartitionState]) -> None:
    state, p = stamped
    p.log.delete_before(2)  # the first batch (0-2) stays, but 0 and 1 are gone
    assert state.list_offset(p, NOW - 10_000 + 100) == (2, NOW - 10_000 + 200)


def test_cluster_list_offset_empty_partition(state: ClusterState) -> None:
    state.create_topic("t")
    p = state.partition("t", 0)
    assert state.list_offset(p, EARLIEST_TIMESTAMP) == (0, -1)
    assert state.list_offset(p, LATEST_TIMESTAMP) == (0, -1)
    assert state.list_offset(p, MAX_TIMESTAMP) == (-1, -1)
    assert state.list_offset(p, 0) == (-1, -1)


def test_cluster_list_offset_log_append_time_topic(state: ClusterState) -> None:
    state.create_topic("t", configs={"message.timestamp.type": "LogAppendTime"})
    clock = state.clock
    assert isinstance(clock, FixedClock)
    state.append("t", 0, n_records(2))
    clock.now = NOW + 50
    state.append("t", 0, n_records(3))
    p = state.partition("t", 0)
    assert state.list_offset(p, NOW + 1) == (2, NOW + 50)
    assert state.list_offset(p, NOW) == (0, NOW)
    assert state.list_offset(p, MAX_TIMESTAMP) == (2, NOW + 50)


def test_cluster_list_offset_negative_unknown_timestamp_is_invalid_request(state: ClusterState) -> None:
    state.create_topic("t")
    assert kafka_error(state.list_offset, state.partition("t", 0), -7) == ErrorCode.INVALID_REQUEST


def test_cluster_append_recompresses_for_topic_compression_type() -> None:
    from kafkasim.config import BrokerConfig
    from kafkasim.protocol.compression import Codec
    from kafkasim.protocol.records import Record, build_batch, iter_records, read_header
    from kafkasim.state.cluster import ClusterState

    state = ClusterState(BrokerConfig())
    state.register_broker(1, "127.0.0.1", 9092)
    state.create_topic("z", 1, configs={"compression.type": "zstd"})
    sent = [Record(0, 1_700_000_000_000 + i, b"k%d" % i, b"v" * 100, [("h", b"x")]) for i in range(5)]
    state.append("z", 0, build_batch(sent, producer_id=7, producer_epoch=0, base_sequence=0))
    stored = state.partition("z", 0).log.batch_at(0)
    h = read_header(stored)
    assert h.compression == Codec.ZSTD and (h.producer_id, h.base_sequence, h.records_count) == (7, 0, 5)
    got = list(iter_records(stored))
    assert [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in got] == [
        (i, r.timestamp, r.key, r.value, r.headers) for i, r in enumerate(sent)]


def test_cluster_append_sees_configs_altered_after_earlier_appends() -> None:
    state = make_state()
    state.create_topic("t", 1)
    batch = build_batch([Record(0, 1_700_000_000_000, b"k", b"v" * 2000)])
    state.append("t", 0, batch)  # parses the topic's append settings
    state.alter_topic_configs("t", [ConfigOp("max.message.bytes", 0, "1024")], validate_only=False)
    with pytest.raises(KafkaError) as err:
        state.append("t", 0, batch)
    assert err.value.code == ErrorCode.MESSAGE_TOO_LARGE
    state.replace_topic_configs("t", {}, 0, validate_only=False)
    assert state.append("t", 0, batch).base_offset == 1

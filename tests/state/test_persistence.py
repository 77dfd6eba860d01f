"""A data directory across restarts (state/persistence.py, state/metadata_log.py over storage/segments.py):
topics, configs, records, committed offsets, producer state and producer ids come back; deleted topics stay
deleted; the metadata log compacts and replays the same state.

A crash is ``state.store.abandon()``: what ``os.write`` wrote stays, nothing else is done.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkasim.config import BrokerConfig
from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.protocol.records import Record, build_batch, iter_records
from kafkasim.state.clock import Clock
from kafkasim.state.cluster import ClusterState
from kafkasim.state.topic_configs import ConfigOp
from kafkasim.storage.segments import METADATA_DIR, CorruptLogError, DiskStore, segment_name

NOW = 1_700_000_000_000


class FixedClock(Clock):
    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now


def open_state(data_dir: Path, clock: FixedClock | None = None) -> ClusterState:
    state = ClusterState(BrokerConfig(data_dir=str(data_dir)), clock=clock or FixedClock())
    state.open()
    state.register_broker(1, "127.0.0.1", 9092)
    return state


def produced(n: int, key: str = "k", ts: int = NOW, **producer) -> memoryview:
    records = [Record(0, ts, f"{key}{i}".encode(), f"v{i}".encode()) for i in range(n)]
    return memoryview(bytearray(build_batch(records, **producer)))


def idempotent(pid: int, seq: int, n: int = 2, epoch: int = 0) -> memoryview:
    return produced(n, key=f"s{seq}-", producer_id=pid, producer_epoch=epoch, base_sequence=seq)


def records(state: ClusterState, topic: str, partition: int = 0) -> list[tuple[int, bytes | None]]:
    lg = state.partition(topic, partition).log
    out = []
    for i in range(len(lg.batch_refs())):
        out.extend((r.offset, r.key) for r in iter_records(lg.batch_at(i)))
    return out


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def crash(state: ClusterState) -> None:
    assert isinstance(state.store, DiskStore)
    state.store.abandon()


def restart(state: ClusterState, data_dir: Path, clean: bool = True) -> ClusterState:
    if clean:
        state.close()
    else:
        crash(state)
    return open_state(data_dir)


# ---------------------------------------------------------------------------------------------- topics


@pytest.mark.parametrize("clean", [True, False], ids=["clean", "crash"])
def test_persistence_restores_topics_configs_partition_counts_and_ids(data_dir: Path, clean: bool) -> None:
    state = open_state(data_dir)
    a = state.create_topic("a", 3, 1, {"retention.ms": "1000", "cleanup.policy": "compact"})
    b = state.create_topic("b", 1, 1)
    state.create_partitions("b", 2, None, False)
    state.alter_topic_configs("b", [ConfigOp("retention.ms", 0, "2000")], False)  # SET
    want = {t.name: (t.topic_id, len(t.partitions), dict(t.configs)) for t in (a, b)}
    state = restart(state, data_dir, clean)
    assert {t.name: (t.topic_id, len(t.partitions), dict(t.configs)) for t in state.topics.values()} == want
    assert state.topic_by_id(a.topic_id).name == "a"
    assert state.topic_config(state.topic("a"), "retention.ms") == "1000"
    assert [p.leader for p in state.topic("a").partitions] == [1, 1, 1]
    state.close()


def test_persistence_restores_the_internal_flag_of_internal_topics(data_dir: Path) -> None:
    state = open_state(data_dir)
    assert state.create_topic("__consumer_offsets", 1, 1).internal
    state = restart(state, data_dir)
    assert state.topic("__consumer_offsets").internal  # Metadata's is_internal must not change on a restart
    state.close()


def test_persistence_restores_records_and_log_offsets(data_dir: Path) -> None:
    state = open_state(data_dir)
    state.create_topic("a", 2, 1)
    assert state.append("a", 0, produced(3)).base_offset == 0
    assert state.append("a", 0, produced(2, key="x")).base_offset == 3
    assert state.append("a", 1, produced(1)).base_offset == 0
    before = records(state, "a")
    state = restart(state, data_dir)
    assert records(state, "a") == before
    assert state.partition("a", 0).log.log_end_offset == 5
    assert state.partition("a", 1).log.log_end_offset == 1
    assert state.append("a", 0, produced(1)).base_offset == 5
    state.close()


def test_persistence_deleted_topic_stays_deleted(data_dir: Path) -> None:
    state = open_state(data_dir)
    old = state.create_topic("a", 2, 1)
    state.append("a", 0, produced(2))
    state.groups.commit_offsets("g", -1, "", None, [("a", 0, 2, -1, "meta")])
    state.create_topic("keep", 1, 1)
    state.delete_topic("a")
    assert not (data_dir / "a-0").exists() and not (data_dir / "a-1").exists()
    state = restart(state, data_dir)
    assert set(state.topics) == {"keep"}
    assert old.topic_id not in state.topics_by_id
    assert state.groups.committed("g", None) == []
    new = state.create_topic("a", 1, 1)  # the name can be used again, as a new topic
    assert new.topic_id != old.topic_id and state.partition("a", 0).log.log_end_offset == 0
    state = restart(state, data_dir)
    assert len(state.topic("a").partitions) == 1 and state.topic("a").topic_id == new.topic_id
    state.close()


def test_persistence_removes_a_partition_directory_of_an_unknown_topic(data_dir: Path) -> None:
    state = open_state(data_dir)
    state.create_topic("a", 1, 1)
    state.close()
    (data_dir / "ghost-0").mkdir()  # a topic deleted in the metadata log, then a crash before its files went
    (data_dir / "ghost-0" / (segment_name(0) + ".log")).write_bytes(b"")
    (data_dir / "a-5").mkdir()  # a partition the topic does not have
    state = open_state(data_dir)
    assert not (data_dir / "ghost-0").exists() and not (data_dir / "a-5").exists()
    assert state.partition("a", 0).log.log_end_offset == 0
    state.close()


def test_persistence_delete_records_start_offset_survives_restart(data_dir: Path) -> None:
    state = open_state(data_dir)
    state.create_topic("a", 1, 1)
    for _ in range(3):
        state.append("a", 0, produced(2))
    assert state.delete_records("a", 0, 3) == 3
    state = restart(state, data_dir, clean=False)
    lg = state.partition("a", 0).log
    assert (lg.log_start_offset, lg.log_end_offset) == (3, 6)
    state.close()


# ---------------------------------------------------------------------------------------------- offsets


@pytest.mark.parametrize("clean", [True, False], ids=["clean", "crash"])
def test_persistence_restores_committed_offsets(data_dir: Path, clean: bool) -> None:
    state = open_state(data_dir)
    state.create_topic("a", 2, 1)
    state.groups.commit_offsets("g", -1, "", None, [("a", 0, 5, -1, "meta"), ("a", 1, 7, 3, None)])
    state.groups.commit_offsets("g", -1, "", None, [("a", 0, 6, -1, "later")])
    state.groups.commit_offsets("h", -1, "", None, [("a", 1, 1, -1, "")])
    want = {g: state.groups.committed(g, None) for g in ("g", "h")}
    state = restart(state, data_dir, clean)
    assert {g: state.groups.committed(g, None) for g in ("g", "h")} == want
    entry = dict(((t, p), e) for t, p, e in want["g"])[("a", 0)]
    assert entry is not None and (entry.offset, entry.metadata) == (6, "later")
    state.close()


# ---------------------------------------------------------------------------------------------- producers


@pytest.mark.parametrize("clean", [True, False], ids=["clean", "crash"])
def test_persistence_retry_of_last_idempotent_batch_after_restart_is_deduplicated(data_dir: Path,
                                                                                   clean: bool) -> None:
    state = open_state(data_dir)
    state.create_topic("a", 1, 1)
    pid = state.producer_ids.new_id()
    state.append("a", 0, produced(1))
    assert state.append("a", 0, idempotent(pid, 0)).base_offset == 1
    assert state.append("a", 0, idempotent(pid, 2)).base_offset == 3
    state = restart(state, data_dir, clean)
    end = state.partition("a", 0).log.log_end_offset
    assert state.append("a", 0, idempotent(pid, 2)).base_offset == 3  # the original offset, not appended
    assert state.append("a", 0, idempotent(pid, 0)).base_offset == 1  # one of the last five too
    assert state.partition("a", 0).log.log_end_offset == end == 5
    with pytest.raises(KafkaError) as err:
        state.append("a", 0, idempotent(pid, 7))
    assert err.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert state.append("a", 0, idempotent(pid, 4)).base_offset == 5
    state.close()


def test_persistence_retry_of_a_torn_idempotent_batch_is_appended_again(data_dir: Path) -> None:
    state = open_state(data_dir)
    state.create_topic("a", 1, 1)
    pid = state.producer_ids.new_id()
    state.append("a", 0, idempotent(pid, 0))
    state.append("a", 0, idempotent(pid, 2))
    crash(state)
    seg = data_dir / "a-0" / (segment_name(0) + ".log")
    seg.write_bytes(seg.read_bytes()[:-1])  # the last batch was never fully written
    state = open_state(data_dir)
    assert state.partition("a", 0).log.log_end_offset == 2
    assert state.append("a", 0, idempotent(pid, 2)).base_offset == 2  # not a duplicate of a lost batch
    assert state.store.truncated_bytes > 0
    state.close()


def test_persistence_producer_state_after_restart_counts_sequences_of_a_compacted_batch(data_dir: Path) -> None:
    """Compaction removes records from a batch but keeps its base sequence and lastOffsetDelta; the producer
    state rebuilt from the header must take the batch's last sequence from lastOffsetDelta (as Kafka's
    DefaultRecordBatch.lastSequence does), not from its remaining record count."""
    clock = FixedClock()
    state = open_state(data_dir, clock)
    state.create_topic("c", 1, 1, {"cleanup.policy": "compact", "segment.ms": "1"})
    pid = state.producer_ids.new_id()
    dup_key = [Record(0, NOW, b"a", b"1"), Record(0, NOW, b"a", b"2"), Record(0, NOW, b"b", b"1")]
    assert state.append("c", 0, memoryview(bytearray(build_batch(dup_key, producer_id=pid, producer_epoch=0,
                                                                 base_sequence=0)))).base_offset == 0
    clock.now += 1
    state.append("c", 0, produced(1, key="z"))  # rolls: the producer's batch is now cleanable
    state.maintain_logs()
    assert records(state, "c") == [(1, b"a"), (2, b"b"), (3, b"z0")]  # a=1 at offset 0 was cleaned away
    state = restart(state, data_dir)
    retry = memoryview(bytearray(build_batch(dup_key, producer_id=pid, producer_epoch=0, base_sequence=0)))
    assert state.append("c", 0, retry).base_offset == 0  # a duplicate of sequences 0-2
    assert state.append("c", 0, idempotent(pid, 3)).base_offset == 4  # sequence 3 follows 0-2
    state.close()


def test_persistence_producer_ids_never_repeat_across_restarts(data_dir: Path) -> None:
    seen: list[int] = []
    state = open_state(data_dir)
    for clean in (True, False, True):
        seen += [state.producer_ids.new_id() for _ in range(3)]
        state = restart(state, data_dir, clean)
    seen += [state.producer_ids.new_id() for _ in range(3)]
    assert len(set(seen)) == len(seen) and seen == sorted(seen)
    state.close()


def test_persistence_producer_ids_resume_past_ids_found_in_the_logs(data_dir: Path) -> None:
    state = open_state(data_dir)
    state.create_topic("a", 1, 1)
    state.append("a", 0, idempotent(123_456, 0))  # an id this broker did not hand out (another data dir's)
    state = restart(state, data_dir)
    assert state.producer_ids.new_id() > 123_456
    state.close()


# ---------------------------------------------------------------------------------------------- metadata log


def test_persistence_metadata_log_compacts_and_replays_the_same_state(data_dir: Path) -> None:
    state = open_state(data_dir)
    state.create_topic("a", 2, 1, {"retention.ms": "5000"})
    state.create_topic("gone", 1, 1)
    state.delete_topic("gone")
    for i in range(1_100):
        state.groups.commit_offsets("g", -1, "", None, [("a", i % 2, i, -1, f"m{i}")])
    meta = state.persistence.mlog.log
    before = meta.size_bytes
    committed = state.groups.committed("g", None)
    topics = {t.name: (t.topic_id, dict(t.configs)) for t in state.topics.values()}
    state.maintain_logs()
    assert meta.size_bytes < before / 10
    state = restart(state, data_dir, clean=False)  # an unclean start re-checks the cleaned file's CRCs
    assert state.store.truncated_bytes == 0
    assert state.groups.committed("g", None) == committed
    assert {t.name: (t.topic_id, dict(t.configs)) for t in state.topics.values()} == topics
    for i in range(1_100):  # a second cleaning drops the tombstone of "gone" (its delete horizon has passed)
        state.groups.commit_offsets("g", -1, "", None, [("a", 0, i, -1, "")])
    state.maintain_logs()
    meta = state.persistence.mlog.log
    keys = [r.key for i in range(len(meta.batch_refs())) for r in iter_records(meta.batch_at(i))]
    assert b"topic/gone" not in keys and keys.count(b"topic/a") == 1
    state = restart(state, data_dir)
    assert set(state.topics) == {"a"}
    assert state.groups.committed("g", None)[0][2].offset == 1_099
    state.close()


def test_persistence_metadata_log_torn_last_batch_loses_only_that_change(data_dir: Path) -> None:
    state = open_state(data_dir)
    state.create_topic("a", 1, 1)
    state.create_topic("b", 1, 1)
    crash(state)
    meta = data_dir / METADATA_DIR / (segment_name(0) + ".log")
    meta.write_bytes(meta.read_bytes()[:-3])  # the record that created "b" is torn
    state = open_state(data_dir)
    assert set(state.topics) == {"a"}
    assert not (data_dir / "b-0").exists()  # its partition directory went with it
    state.close()


def test_persistence_corrupt_partition_at_open_leaves_the_data_dir_usable(data_dir: Path) -> None:
    """A start that fails on a corrupt segment must release the data directory (and not mark it clean): once
    the file is repaired, the next start in the same process opens it and checks it again."""
    clock = FixedClock()
    state = open_state(data_dir, clock)
    state.create_topic("a", 1, 1, {"segment.ms": "1"})  # one batch per segment: the clock moves between them
    for _ in range(3):
        clock.now += 1
        state.append("a", 0, produced(2))
    assert [s.base_offset for s in state.partition("a", 0).log.segment_infos()] == [0, 2, 4]
    crash(state)
    middle = data_dir / "a-0" / (segment_name(2) + ".log")
    good = middle.read_bytes()
    middle.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    failed = ClusterState(BrokerConfig(data_dir=str(data_dir)), clock=FixedClock())
    with pytest.raises(CorruptLogError, match=str(middle)):
        failed.open()
    middle.write_bytes(good)
    state = open_state(data_dir)
    assert not state.store.clean
    assert state.partition("a", 0).log.log_end_offset == 6
    state.close()


# ---------------------------------------------------------------------------------------------- several brokers


def open_brokers(data_dir: Path, brokers: int = 3) -> ClusterState:
    cfg = BrokerConfig(data_dir=str(data_dir), brokers=brokers)
    state = ClusterState(cfg, clock=FixedClock())
    state.open()
    for i, node in enumerate(cfg.node_ids()):
        state.register_broker(node, "127.0.0.1", 9092 + i)
    return state


@pytest.mark.parametrize("clean", [True, False], ids=["clean", "crash"])
def test_persistence_keeps_leaders_epochs_and_epoch_offsets(data_dir: Path, clean: bool) -> None:
    state = open_brokers(data_dir)
    state.create_topic("t", 2, 3)
    state.append("t", 0, produced(3))
    first = state.partition("t", 0).leader
    state.broker_stopped(first)  # the leadership of partition 0 moves: epoch 1 from offset 3
    state.append("t", 0, produced(2))
    moved = state.partition("t", 0).leader
    assert moved != first
    if clean:
        state.close()
    else:
        crash(state)
    state = open_brokers(data_dir)
    p = state.partition("t", 0)
    assert (p.leader, p.leader_epoch) == (moved, 1)
    assert sorted(p.isr) == [1, 2, 3]  # every configured broker runs again
    assert p.epoch_end_offset(0) == (0, 3) and p.epoch_end_offset(1) == (1, 5)
    state.close()


def test_persistence_elects_a_leader_for_a_partition_offline_at_shutdown(data_dir: Path) -> None:
    state = open_brokers(data_dir, brokers=2)
    state.create_topic("solo", 1, 1)
    state.append("solo", 0, produced(2))
    node = state.partition("solo", 0).leader
    state.broker_stopped(node)
    assert state.partition("solo", 0).leader == -1
    state.close()
    state = open_brokers(data_dir, brokers=2)
    p = state.partition("solo", 0)
    assert (p.leader, p.leader_epoch) == (node, 2)
    assert p.epoch_end_offset(0) == (0, 2) and p.epoch_end_offset(2) == (2, 2)
    state.close()


def test_persistence_with_fewer_brokers_than_before(data_dir: Path) -> None:
    state = open_brokers(data_dir, brokers=3)
    state.create_topic("t", 3, 1)
    led_by = {i: state.partition("t", i).leader for i in range(3)}
    state.close()
    state = open_brokers(data_dir, brokers=1)  # brokers 2 and 3 are not configured any more
    for i, node in led_by.items():
        p = state.partition("t", i)
        assert p.leader == (1 if node == 1 else -1)
    state.close()


def test_persistence_an_election_at_start_is_kept(data_dir: Path) -> None:
    state = open_brokers(data_dir, brokers=2)
    state.create_topic("solo", 1, 1)
    state.broker_stopped(state.partition("solo", 0).leader)
    state.close()
    for expected in (2, 2):  # elected at the first start (epoch 2); the second start changes nothing
        state = open_brokers(data_dir, brokers=2)
        assert state.partition("solo", 0).leader_epoch == expected
        state.close()


# ------------------------------------------------------------------------------------ dynamic broker configs

@pytest.mark.parametrize("clean", [True, False], ids=["clean", "crash"])
def test_persistence_restores_dynamic_broker_configs(data_dir: Path, clean: bool) -> None:
    state = open_state(data_dir)
    state.create_topic("a", 1, 1)
    configs = state.topic_configs
    configs.alter_broker_configs(None, [ConfigOp("log.segment.bytes", 0, "2097152")], False, state.topics.values())
    configs.alter_broker_configs(1, [ConfigOp("message.max.bytes", 0, "2000000")], False, state.topics.values())
    configs.alter_broker_configs(1, [ConfigOp("log.retention.hours", 0, "2")], False, state.topics.values())
    configs.alter_broker_configs(1, [ConfigOp("log.retention.hours", 1, None)], False, state.topics.values())
    state = restart(state, data_dir, clean=clean)
    t = state.topic("a")
    assert state.topic_config(t, "segment.bytes") == "2097152"
    assert t.log_config.segment_bytes == 2097152  # the topic's log follows its restored default
    assert state.topic_config(t, "max.message.bytes") == "2000000"
    assert state.topic_config(t, "retention.ms") == "604800000"  # deleted before the restart
    assert state.topic_configs.dynamic.values(1) == {"message.max.bytes": "2000000"}
    state.close()

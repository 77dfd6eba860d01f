"""Transactions as state machines (state/transactions.py, the transaction parts of state/cluster.py, groups.py
and persistence.py): InitProducerId and fencing, AddPartitionsToTxn, transactional Produce, EndTxn markers,
the last stable offset and aborted ranges, TxnOffsetCommit, timeouts, read_committed reads, restarts of a
data directory, and a hypothesis state machine against a model of what consumers may see.

No sockets: the tests call ClusterState and its TransactionCoordinator as the handlers do.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from kafkasim.config import BrokerConfig
from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.protocol.records import (
    CONTROL_ABORT,
    CONTROL_COMMIT,
    BatchHeader,
    Record,
    build_batch,
    control_type,
    iter_batches,
    iter_records,
    read_header,
)
from kafkasim.state.clock import ManualClock
from kafkasim.state.cluster import ClusterState
from kafkasim.state.partitions import AbortedTxn, PartitionState
from kafkasim.state.transactions import MAX_EPOCH, TxnState
from kafkasim.storage.log import Log, LogConfig
from kafkasim.storage.memory import MemoryStore
from kafkasim.storage.segments import DiskStore

NOW = 1_700_000_000_000
TIMEOUT = 60_000
GROUP = "g"
A0, A1, B0 = ("a", 0), ("a", 1), ("b", 0)


# ---------------------------------------------------------------------------------------------- helpers


def make_state(clock: ManualClock | None = None, data_dir: Path | None = None, **config) -> ClusterState:
    """A one-broker cluster with topics a (2 partitions) and b (1); with ``data_dir``, opened from it."""
    state = ClusterState(BrokerConfig(data_dir=str(data_dir) if data_dir else None, **config),
                         clock=clock or ManualClock(NOW))
    state.open()
    state.register_broker(1, "127.0.0.1", 9092)
    if "a" not in state.topics:
        state.create_topic("a", 2, 1)
        state.create_topic("b", 1, 1)
    return state


def exists(state: ClusterState) -> Callable[[str, int], bool]:
    def check(topic: str, index: int) -> bool:
        t = state.topics.get(topic)
        return t is not None and 0 <= index < len(t.partitions)

    return check


def batch(values: list[str], ts: int, pid: int = -1, epoch: int = -1, seq: int = -1,
          transactional: bool = False) -> memoryview:
    records = [Record(0, ts, None, v.encode()) for v in values]
    return memoryview(bytearray(build_batch(records, producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                                            transactional=transactional)))


def plain(state: ClusterState, tp: tuple[str, int], *values: str) -> int:
    """A non-transactional append; returns its base offset."""
    return state.append(*tp, batch(list(values), state.clock.now_ms())).base_offset


def kafka_error(fn: Callable, *args, **kwargs) -> int:
    with pytest.raises(KafkaError) as err:
        fn(*args, **kwargs)
    return err.value.code


@dataclass
class Producer:
    """What a transactional producer client knows: its id, epoch and next sequence per partition."""

    state: ClusterState
    tid: str
    pid: int = -1
    epoch: int = -1
    seqs: dict[tuple[str, int], int] = field(default_factory=dict)

    def init(self, timeout_ms: int = TIMEOUT, **kip360) -> Producer:
        pid, epoch = self.state.transactions.init_producer_id(self.tid, timeout_ms, **kip360)
        if (pid, epoch) != (self.pid, self.epoch):
            self.seqs.clear()  # a new epoch starts at sequence 0
        self.pid, self.epoch = pid, epoch
        return self

    def zombie(self) -> Producer:
        """Another instance holding the same id and epoch (it will not learn of a re-init)."""
        return Producer(self.state, self.tid, self.pid, self.epoch, dict(self.seqs))

    def add(self, *tps: tuple[str, int]) -> dict[tuple[str, int], int]:
        return self.state.transactions.add_partitions(self.tid, self.pid, self.epoch, tps, exists(self.state))

    def begin(self, *tps: tuple[str, int]) -> None:
        assert self.add(*tps) == {tp: 0 for tp in tps}

    def produce(self, tp: tuple[str, int], *values: str, seq: int | None = None) -> int:
        """A transactional batch; returns its base offset (the sequence moves only when it is accepted)."""
        first = self.seqs.get(tp, 0) if seq is None else seq
        r = self.state.append(*tp, batch(list(values), self.state.clock.now_ms(), self.pid, self.epoch, first,
                                         transactional=True))
        self.seqs[tp] = max(self.seqs.get(tp, 0), first + len(values))
        return r.base_offset

    def commit(self) -> tuple[int, int]:
        return self.state.transactions.end_txn(self.tid, self.pid, self.epoch, True)

    def abort(self) -> tuple[int, int]:
        return self.state.transactions.end_txn(self.tid, self.pid, self.epoch, False)

    def add_offsets(self, group: str = GROUP) -> None:
        self.state.transactions.add_offsets(self.tid, self.pid, self.epoch, group)

    def commit_offsets(self, offsets: dict[tuple[str, int], int], group: str = GROUP) -> list[int]:
        self.state.transactions.check_offset_commit(self.tid, self.pid, self.epoch, group)
        return self.state.groups.txn_commit_offsets(group, self.pid, -1, "", None,
                                                    [(t, p, o, -1, None) for (t, p), o in offsets.items()])

    @property
    def txn(self):
        return self.state.transactions.describe(self.tid)


def part(state: ClusterState, tp: tuple[str, int]) -> PartitionState:
    return state.partition(*tp)


def log_batches(p: PartitionState) -> list[tuple[BatchHeader, memoryview]]:
    lg = p.log
    return [(read_header(b), b) for b in (lg.batch_at(i) for i in range(len(lg.batch_refs())))]


def markers(p: PartitionState) -> list[tuple[int, int, int, int]]:
    """(offset, control type, producer id, epoch) of every control batch, checking each is a proper marker."""
    out = []
    for h, b in log_batches(p):
        if h.is_control:
            assert h.is_transactional and h.records_count == 1
            out.append((h.base_offset, control_type(b), h.producer_id, h.producer_epoch))
    return out


def read_uncommitted(p: PartitionState) -> list[tuple[int, str]]:
    """(offset, value) of every data record below the high watermark."""
    return [(r.offset, (r.value or b"").decode()) for h, b in log_batches(p) if not h.is_control
            for r in iter_records(b) if r.offset < p.high_watermark]


def read_committed(p: PartitionState, start: int = 0) -> list[tuple[int, str]]:
    """What a read_committed consumer sees from ``start``: reads up to the last stable offset, filtered with
    the aborted-transactions list as Kafka's client does (an aborted producer's batches are skipped from the
    first offset of its aborted transaction up to its ABORT marker)."""
    lso = p.last_stable_offset
    pending = sorted(p.aborted_since(start, lso), key=lambda a: a.first_offset)
    aborted_pids: set[int] = set()
    out = []
    offset = start
    while offset < lso:
        views, _size = p.log.read(offset, 1 << 20, True, lso)
        if not views:
            break
        for v in views:
            for h, b in iter_batches(v):
                assert h.base_offset < lso, "a read_committed read returned a batch at or past the LSO"
                offset = h.last_offset + 1
                if h.producer_id >= 0:
                    while pending and pending[0].first_offset <= h.last_offset:
                        aborted_pids.add(pending.pop(0).producer_id)
                    if h.is_control:
                        if control_type(b) == CONTROL_ABORT:
                            aborted_pids.discard(h.producer_id)
                        continue
                    if h.is_transactional and h.producer_id in aborted_pids:
                        continue
                if not h.is_control:
                    out.extend((r.offset, (r.value or b"").decode()) for r in iter_records(b) if r.offset >= start)
    return out


def values(records: list[tuple[int, str]]) -> list[str]:
    return [v for _o, v in records]


# ---------------------------------------------------------------------------------------------- InitProducerId


def test_init_new_transactional_id_gets_new_producer_id_and_epoch_zero() -> None:
    state = make_state()
    p1 = Producer(state, "t1").init()
    p2 = Producer(state, "t2").init()
    assert p1.epoch == 0 and p2.epoch == 0
    assert p1.pid >= 0 and p2.pid >= 0 and p1.pid != p2.pid
    assert p1.txn.state == TxnState.EMPTY and p1.txn.timeout_ms == TIMEOUT
    assert state.transactions.by_producer[p1.pid] is p1.txn


def test_init_known_transactional_id_bumps_epoch_and_keeps_producer_id() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    pid = p.pid
    for expected in (1, 2, 3):
        p.init(timeout_ms=TIMEOUT + expected)
        assert (p.pid, p.epoch) == (pid, expected)
    assert p.txn.timeout_ms == TIMEOUT + 3  # the latest init's timeout applies
    assert p.txn.state == TxnState.EMPTY


def test_init_after_commit_bumps_epoch_and_fences_the_old_instance() -> None:
    state = make_state()
    old = Producer(state, "t").init()
    old.begin(A0)
    old.produce(A0, "x")
    old.commit()
    end = part(state, A0).high_watermark
    new = Producer(state, "t").init()
    assert (new.pid, new.epoch) == (old.pid, old.epoch + 1)
    assert part(state, A0).high_watermark == end  # nothing to abort: no markers
    assert old.add(A0) == {A0: ErrorCode.PRODUCER_FENCED}


def test_init_while_ongoing_aborts_the_open_transaction_with_a_bumped_epoch() -> None:
    state = make_state()
    old = Producer(state, "t").init()
    old.begin(A0, A1)
    first = old.produce(A0, "x1", "x2")
    old.produce(A0, "x3")
    first1 = old.produce(A1, "y1")
    plain(state, A0, "p1")  # others keep writing after the transaction's first offset
    assert part(state, A0).last_stable_offset == first
    assert part(state, A0).high_watermark == first + 4

    new = Producer(state, "t").init()
    assert new.pid == old.pid
    assert new.epoch == old.epoch + 2  # one bump for the abort's markers, one for the new producer
    assert new.txn.state == TxnState.EMPTY
    for tp, first_offset in ((A0, first), (A1, first1)):
        p = part(state, tp)
        marker_offset = p.high_watermark - 1
        assert markers(p) == [(marker_offset, CONTROL_ABORT, old.pid, old.epoch + 1)]
        assert p.aborted == [AbortedTxn(old.pid, first_offset, marker_offset)]
        assert p.open_txns == {}
        assert p.last_stable_offset == p.high_watermark
    assert values(read_committed(part(state, A0))) == ["p1"]
    assert values(read_committed(part(state, A1))) == []
    assert values(read_uncommitted(part(state, A0))) == ["x1", "x2", "x3", "p1"]

    # the old instance is fenced everywhere
    end = part(state, A0).high_watermark
    assert old.add(A0) == {A0: ErrorCode.PRODUCER_FENCED}
    assert old.add(B0) == {B0: ErrorCode.PRODUCER_FENCED}
    assert kafka_error(old.commit) == ErrorCode.PRODUCER_FENCED
    assert kafka_error(old.abort) == ErrorCode.PRODUCER_FENCED
    assert kafka_error(old.add_offsets) == ErrorCode.PRODUCER_FENCED
    assert kafka_error(old.produce, A0, "zombie") == ErrorCode.INVALID_PRODUCER_EPOCH
    assert kafka_error(old.produce, A1, "zombie") == ErrorCode.INVALID_PRODUCER_EPOCH
    assert part(state, A0).high_watermark == end
    assert "zombie" not in values(read_uncommitted(part(state, A0)))

    # the new instance works, starting its sequences at 0
    new.begin(A0)
    off = new.produce(A0, "n1")
    new.commit()
    assert values(read_committed(part(state, A0))) == ["p1", "n1"]
    assert read_committed(part(state, A0))[-1][0] == off


@pytest.mark.parametrize("timeout_ms", [0, -1, 900_001, 2**31 - 1])
def test_init_timeout_out_of_range_is_invalid_transaction_timeout(timeout_ms: int) -> None:
    state = make_state()
    assert kafka_error(state.transactions.init_producer_id, "t", timeout_ms) == ErrorCode.INVALID_TRANSACTION_TIMEOUT
    assert "t" not in state.transactions.transactions


def test_init_timeout_limit_follows_transaction_max_timeout_ms() -> None:
    state = make_state(transaction_max_timeout_ms=5_000)
    assert kafka_error(state.transactions.init_producer_id, "t", 5_001) == ErrorCode.INVALID_TRANSACTION_TIMEOUT
    p = Producer(state, "t").init(timeout_ms=5_000)
    assert p.epoch == 0
    # a known id with a bad timeout is refused without a bump
    assert kafka_error(p.init, 0) == ErrorCode.INVALID_TRANSACTION_TIMEOUT
    assert (p.txn.producer_id, p.txn.epoch, p.txn.timeout_ms) == (p.pid, 0, 5_000)


def test_init_empty_transactional_id_is_invalid_request() -> None:
    state = make_state()
    assert kafka_error(state.transactions.init_producer_id, "", TIMEOUT) == ErrorCode.INVALID_REQUEST


def test_init_kip360_matching_producer_id_and_epoch_bumps() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    pid = p.pid
    p.init(producer_id=pid, epoch=0)
    assert (p.pid, p.epoch) == (pid, 1)
    p.init(producer_id=pid, epoch=1)
    assert (p.pid, p.epoch) == (pid, 2)


@pytest.mark.parametrize("stale", ["epoch", "producer_id"])
def test_init_kip360_mismatching_producer_is_fenced_and_changes_nothing(stale: str) -> None:
    state = make_state()
    p = Producer(state, "t").init()
    p.init()  # epoch 1
    p.begin(A0)
    p.produce(A0, "x")
    claimed = {"producer_id": p.pid, "epoch": 0} if stale == "epoch" else {"producer_id": p.pid + 1, "epoch": 1}
    assert kafka_error(state.transactions.init_producer_id, "t", TIMEOUT, **claimed) == ErrorCode.PRODUCER_FENCED
    code = kafka_error(state.transactions.init_producer_id, "t", TIMEOUT, fenced_code=ErrorCode.INVALID_PRODUCER_EPOCH,
                       **claimed)
    assert code == ErrorCode.INVALID_PRODUCER_EPOCH  # older InitProducerId versions
    assert (p.txn.epoch, p.txn.state) == (1, TxnState.ONGOING)  # the open transaction is untouched
    assert part(state, A0).open_txns == {p.pid: 0}
    p.commit()
    assert values(read_committed(part(state, A0))) == ["x"]


def test_init_epoch_exhaustion_gives_a_new_producer_id_with_epoch_zero() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    first_pid = p.pid
    while p.epoch < MAX_EPOCH - 1:
        p.init()
        assert p.pid == first_pid
    assert p.epoch == MAX_EPOCH - 1  # Kafka hands out epochs up to Short.MaxValue - 1
    stale = p.zombie()
    p.init()
    assert p.pid != first_pid and p.epoch == 0
    assert first_pid not in state.transactions.by_producer
    assert state.transactions.by_producer[p.pid] is p.txn
    assert stale.add(A0) == {A0: ErrorCode.INVALID_PRODUCER_ID_MAPPING}
    p.begin(A0)
    p.produce(A0, "x")
    p.commit()
    assert markers(part(state, A0)) == [(1, CONTROL_COMMIT, p.pid, 0)]


def _exhausted_with_open_transaction(state: ClusterState) -> tuple[Producer, int]:
    """A producer at the last epoch Kafka hands out (Short.MaxValue - 1) with an open transaction on a-0."""
    p = Producer(state, "t").init()
    while p.epoch < MAX_EPOCH - 1:
        p.init()
    p.begin(A0)
    return p, p.produce(A0, "x")


def test_init_while_ongoing_at_the_last_epoch_aborts_with_the_old_producer_id() -> None:
    """Kafka fences with epoch Short.MaxValue under the same producer id (prepareFenceProducerEpoch), so the
    abort markers close the open transaction; only the next producer gets a new id."""
    state = make_state()
    old, first = _exhausted_with_open_transaction(state)
    new = Producer(state, "t").init()
    assert new.pid != old.pid and new.epoch == 0
    p = part(state, A0)
    assert markers(p) == [(first + 1, CONTROL_ABORT, old.pid, MAX_EPOCH)]
    assert p.open_txns == {}
    assert p.aborted == [AbortedTxn(old.pid, first, first + 1)]
    assert p.last_stable_offset == p.high_watermark
    # the old producer id is no longer mapped: the zombie is refused (Kafka's partition check would say
    # INVALID_PRODUCER_EPOCH; its partition verification, INVALID_TXN_STATE) and nothing is appended
    end = p.high_watermark
    assert kafka_error(old.produce, A0, "zombie") in (ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.INVALID_TXN_STATE)
    assert p.high_watermark == end


def test_timeout_at_the_last_epoch_aborts_with_the_old_producer_id() -> None:
    clock = ManualClock(NOW)
    state = make_state(clock)
    old, first = _exhausted_with_open_transaction(state)
    clock.advance(TIMEOUT + 1)
    state.abort_timed_out_transactions()
    p = part(state, A0)
    assert markers(p) == [(first + 1, CONTROL_ABORT, old.pid, MAX_EPOCH)]
    assert p.open_txns == {}
    assert p.last_stable_offset == p.high_watermark
    assert kafka_error(old.produce, A0, "zombie") == ErrorCode.INVALID_PRODUCER_EPOCH
    new = Producer(state, "t").init()
    assert new.pid != old.pid and new.epoch == 0


# ---------------------------------------------------------------------------------------------- AddPartitionsToTxn


def test_add_partitions_with_wrong_producer_id_is_invalid_producer_id_mapping() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    other = Producer(state, "other").init()
    wrong = Producer(state, "t", other.pid, 0)
    assert wrong.add(A0, B0) == {A0: ErrorCode.INVALID_PRODUCER_ID_MAPPING, B0: ErrorCode.INVALID_PRODUCER_ID_MAPPING}
    unknown = Producer(state, "never-initialised", p.pid, 0)
    assert unknown.add(A0) == {A0: ErrorCode.INVALID_PRODUCER_ID_MAPPING}
    assert p.txn.state == TxnState.EMPTY and p.txn.partitions == set()


def test_add_partitions_with_an_unknown_partition_adds_none() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    result = p.add(A0, ("a", 2), ("nope", 0), B0)
    assert result == {A0: ErrorCode.OPERATION_NOT_ATTEMPTED, ("a", 2): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                      ("nope", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, B0: ErrorCode.OPERATION_NOT_ATTEMPTED}
    assert p.txn.state == TxnState.EMPTY and p.txn.partitions == set()
    assert kafka_error(p.produce, A0, "x") == ErrorCode.INVALID_TXN_STATE
    assert kafka_error(p.commit) == ErrorCode.INVALID_TXN_STATE  # nothing began
    p.abort()


def test_add_partitions_starts_the_transaction_and_accumulates() -> None:
    clock = ManualClock(NOW)
    state = make_state(clock)
    p = Producer(state, "t").init()
    p.begin(A0)
    assert p.txn.state == TxnState.ONGOING and p.txn.start_ms == NOW
    clock.advance(10)
    p.begin(A0, B0)  # re-adding is fine; the start time stays
    assert p.txn.partitions == {A0, B0} and p.txn.start_ms == NOW


def test_completed_transaction_keeps_its_start_time() -> None:
    # Kafka's coordinator keeps txnStartTimestamp through PrepareCommit/CompleteCommit (DescribeTransactions and
    # kafka-transactions describe show it); kafkasim answered -1 once the transaction ended
    clock = ManualClock(NOW)
    state = make_state(clock)
    p = Producer(state, "t").init()
    p.begin(A0)
    clock.advance(25)
    p.commit()
    assert p.txn.state == TxnState.COMPLETE_COMMIT and p.txn.start_ms == NOW
    clock.advance(25)
    p.begin(A0)  # the next transaction starts its own clock
    assert p.txn.start_ms == NOW + 50
    p.abort()
    assert p.txn.state == TxnState.COMPLETE_ABORT and p.txn.start_ms == NOW + 50
    p = Producer(state, "t").init()  # InitProducerId: Empty, which has no start time (Kafka: -1)
    assert p.txn.state == TxnState.EMPTY and p.txn.start_ms == -1


# ---------------------------------------------------------------------------------------------- Produce


def test_produce_transactional_to_a_partition_not_added_is_invalid_txn_state() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    assert kafka_error(p.produce, A0, "x") == ErrorCode.INVALID_TXN_STATE  # no transaction at all
    p.begin(A1)
    assert kafka_error(p.produce, A0, "x") == ErrorCode.INVALID_TXN_STATE  # another partition was added
    a0 = part(state, A0)
    assert a0.high_watermark == 0 and a0.open_txns == {}
    assert p.pid not in a0.producers.entries  # producer state unchanged
    # the rejected batch did not move the sequence: once added, sequence 0 is accepted
    p.begin(A0)
    assert p.produce(A0, "x", seq=0) == 0


def test_produce_transactional_without_producer_id_is_invalid_txn_state() -> None:
    state = make_state()
    code = kafka_error(state.append, "a", 0, batch(["x"], NOW, transactional=True))
    assert code == ErrorCode.INVALID_TXN_STATE
    assert part(state, A0).high_watermark == 0


def test_produce_after_add_appends_and_holds_the_last_stable_offset() -> None:
    state = make_state()
    plain(state, A0, "before")
    p = Producer(state, "t").init()
    p.begin(A0)
    first = p.produce(A0, "x1", "x2")
    assert first == 1
    a0 = part(state, A0)
    assert a0.open_txns == {p.pid: first}
    assert a0.last_stable_offset == first and a0.high_watermark == 3
    p.produce(A0, "x3")
    plain(state, A0, "after")
    assert a0.open_txns == {p.pid: first}  # the first offset of the transaction, not of the latest batch
    assert a0.last_stable_offset == first and a0.high_watermark == 5
    assert values(read_committed(a0)) == ["before"]
    assert values(read_uncommitted(a0)) == ["before", "x1", "x2", "x3", "after"]
    entry = a0.producers.entries[p.pid]
    assert (entry.epoch, entry.last_seq) == (p.epoch, 2)


def test_produce_transactional_sequences_are_checked() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    p.begin(A0)
    assert p.produce(A0, "x1", "x2", seq=0) == 0
    end = part(state, A0).high_watermark
    assert kafka_error(p.produce, A0, "gap", seq=5) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert part(state, A0).high_watermark == end
    assert p.produce(A0, "x1", "x2", seq=0) == 0  # a retry: the original offset, not appended again
    assert part(state, A0).high_watermark == end
    assert p.produce(A0, "x3", seq=2) == 2  # the right next batch is not taken for a duplicate
    # sequences continue across transactions of the same epoch
    p.commit()
    p.begin(A0)
    assert kafka_error(p.produce, A0, "restart", seq=0) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert p.produce(A0, "x4", seq=3) == 4  # after the commit marker at 3
    p.commit()
    assert values(read_committed(part(state, A0))) == ["x1", "x2", "x3", "x4"]


def test_produce_after_reinit_starts_sequences_at_zero() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    p.begin(A0)
    p.produce(A0, "x1", "x2", "x3")
    p.commit()
    p.init()
    p.begin(A0)
    assert kafka_error(p.produce, A0, "bad", seq=3) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert p.produce(A0, "y", seq=0) == 4


# ---------------------------------------------------------------------------------------------- EndTxn


def test_end_txn_commit_writes_commit_markers_and_releases_the_last_stable_offset() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    p.begin(A0, A1, B0)
    p.produce(A0, "x1")
    p.produce(A1, "y1")
    plain(state, A0, "p1")
    assert p.commit() == (p.pid, p.epoch)
    assert p.txn.state == TxnState.COMPLETE_COMMIT
    for tp in (A0, A1, B0):  # B0 was added without records: it gets a marker too, as in Kafka
        pp = part(state, tp)
        assert markers(pp) == [(pp.high_watermark - 1, CONTROL_COMMIT, p.pid, p.epoch)]
        assert pp.open_txns == {} and pp.aborted == []
        assert pp.last_stable_offset == pp.high_watermark
    assert values(read_committed(part(state, A0))) == ["x1", "p1"]
    assert values(read_committed(part(state, A1))) == ["y1"]
    assert values(read_committed(part(state, B0))) == []


def test_end_txn_abort_writes_abort_markers_and_records_the_aborted_range() -> None:
    state = make_state()
    plain(state, A0, "p0")
    p = Producer(state, "t").init()
    p.begin(A0)
    first = p.produce(A0, "x1", "x2")
    plain(state, A0, "p1")
    p.produce(A0, "x3")
    assert p.abort() == (p.pid, p.epoch)
    assert p.txn.state == TxnState.COMPLETE_ABORT
    a0 = part(state, A0)
    marker = a0.high_watermark - 1
    assert markers(a0) == [(marker, CONTROL_ABORT, p.pid, p.epoch)]
    assert a0.aborted == [AbortedTxn(p.pid, first, marker)]
    assert a0.open_txns == {} and a0.last_stable_offset == a0.high_watermark
    assert values(read_committed(a0)) == ["p0", "p1"]
    assert values(read_uncommitted(a0)) == ["p0", "x1", "x2", "p1", "x3"]
    # the same producer's next transaction is visible again
    p.begin(A0)
    p.produce(A0, "y1")
    p.commit()
    assert values(read_committed(a0)) == ["p0", "p1", "y1"]


def test_aborted_since_lists_the_ranges_a_fetch_overlaps() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    q = Producer(state, "u").init()
    ranges = []
    for prod in (p, q, p):
        prod.begin(A0)
        first = prod.produce(A0, "x", "y")
        prod.abort()
        ranges.append(AbortedTxn(prod.pid, first, first + 2))
        plain(state, A0, "c")
    a0 = part(state, A0)
    assert a0.aborted == ranges  # [0,2], [4,6], [8,10] in marker order
    hw = a0.high_watermark
    assert a0.aborted_since(0, hw) == ranges
    assert a0.aborted_since(2, hw) == ranges  # a fetch at the first marker still needs it
    assert a0.aborted_since(3, hw) == ranges[1:]
    assert a0.aborted_since(7, hw) == ranges[2:]
    assert a0.aborted_since(11, hw) == []
    assert a0.aborted_since(0, 4) == ranges[:1]  # upto is exclusive
    assert a0.aborted_since(0, 5) == ranges[:2]
    assert a0.aborted_since(3, 8) == ranges[1:2]
    assert values(read_committed(a0)) == ["c", "c", "c"]
    for start in range(hw):  # a consumer starting anywhere sees only the committed records after it
        assert read_committed(a0, start) == [(o, v) for o, v in read_committed(a0) if o >= start]


def test_end_txn_retry_of_the_same_outcome_succeeds_without_new_markers() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    for end, kind in ((p.commit, CONTROL_COMMIT), (p.abort, CONTROL_ABORT)):
        p.begin(A0)
        p.produce(A0, "x")
        end()
        hw = part(state, A0).high_watermark
        assert end() == (p.pid, p.epoch)
        assert part(state, A0).high_watermark == hw
        assert markers(part(state, A0))[-1][1] == kind


def test_end_txn_the_opposite_outcome_after_the_end_is_invalid_txn_state() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    p.begin(A0)
    p.produce(A0, "x")
    p.abort()
    assert kafka_error(p.commit) == ErrorCode.INVALID_TXN_STATE
    p.begin(A0)
    p.produce(A0, "y")
    p.commit()
    assert kafka_error(p.abort) == ErrorCode.INVALID_TXN_STATE
    assert [m[1] for m in markers(part(state, A0))] == [CONTROL_ABORT, CONTROL_COMMIT]
    assert values(read_committed(part(state, A0))) == ["y"]


def test_end_txn_abort_on_empty_is_accepted_and_commit_is_not() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    assert p.abort() == (p.pid, p.epoch)
    assert p.txn.state == TxnState.EMPTY
    assert kafka_error(p.commit) == ErrorCode.INVALID_TXN_STATE
    assert all(part(state, tp).high_watermark == 0 for tp in (A0, A1, B0))


def test_end_txn_with_wrong_producer_or_epoch_is_refused() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    p.init()
    p.begin(A0)
    assert kafka_error(Producer(state, "t", p.pid, 0).commit) == ErrorCode.PRODUCER_FENCED
    assert kafka_error(Producer(state, "t", p.pid, 2).commit) == ErrorCode.PRODUCER_FENCED  # a future epoch too
    assert kafka_error(Producer(state, "t", p.pid + 7, 1).commit) == ErrorCode.INVALID_PRODUCER_ID_MAPPING
    assert kafka_error(Producer(state, "nope", p.pid, 1).commit) == ErrorCode.INVALID_PRODUCER_ID_MAPPING
    code = kafka_error(state.transactions.end_txn, "t", p.pid, 0, True, fenced_code=ErrorCode.INVALID_PRODUCER_EPOCH)
    assert code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert p.txn.state == TxnState.ONGOING
    p.commit()


# ---------------------------------------------------------------------------------------------- TxnOffsetCommit


def test_txn_offsets_are_pending_until_commit() -> None:
    state = make_state()
    groups = state.groups
    p = Producer(state, "t").init()
    p.begin(A0)
    p.produce(A0, "x")
    p.add_offsets()
    assert p.txn.groups == {GROUP}
    assert p.commit_offsets({A0: 5, B0: 7}) == [0, 0]
    assert groups.committed(GROUP, [A0, B0]) == [("a", 0, None), ("b", 0, None)]
    assert groups.has_pending_txn_offset(GROUP, "a", 0) and groups.has_pending_txn_offset(GROUP, "b", 0)
    assert not groups.has_pending_txn_offset(GROUP, "a", 1)
    assert not groups.has_pending_txn_offset("other", "a", 0)
    p.commit()
    got = {(t, i): e.offset for t, i, e in groups.committed(GROUP, None)}
    assert got == {A0: 5, B0: 7}
    assert not groups.has_pending_txn_offset(GROUP, "a", 0)


def test_txn_offsets_are_dropped_on_abort() -> None:
    state = make_state()
    groups = state.groups
    assert groups.commit_offsets(GROUP, -1, "", None, [("a", 0, 3, -1, None)]) == [0]
    p = Producer(state, "t").init()
    p.add_offsets()  # a transaction of offsets only
    p.commit_offsets({A0: 9})
    p.abort()
    assert [e.offset for _t, _p, e in groups.committed(GROUP, [A0])] == [3]
    assert not groups.has_pending_txn_offset(GROUP, "a", 0)
    assert all(part(state, tp).high_watermark == 0 for tp in (A0, A1, B0))  # no partitions, no markers


def test_txn_offsets_commit_of_an_offsets_only_transaction() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    p.add_offsets()
    assert p.txn.state == TxnState.ONGOING
    p.commit_offsets({A1: 4})
    p.commit()
    assert [e.offset for _t, _p, e in state.groups.committed(GROUP, [A1])] == [4]
    assert all(part(state, tp).high_watermark == 0 for tp in (A0, A1, B0))


def test_txn_offset_commit_requires_the_group_in_the_transaction() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    assert kafka_error(p.commit_offsets, {A0: 1}) == ErrorCode.INVALID_TXN_STATE  # no transaction
    p.begin(A0)
    assert kafka_error(p.commit_offsets, {A0: 1}) == ErrorCode.INVALID_TXN_STATE  # the group was not added
    p.add_offsets("other")
    assert kafka_error(p.commit_offsets, {A0: 1}) == ErrorCode.INVALID_TXN_STATE  # another group was
    assert not state.groups.has_pending_txn_offset(GROUP, "a", 0)
    stale = Producer(state, "t", p.pid, p.epoch + 1)
    assert kafka_error(stale.commit_offsets, {A0: 1}, "other") == ErrorCode.PRODUCER_FENCED


def test_txn_offsets_of_a_fenced_transaction_are_dropped() -> None:
    state = make_state()
    p = Producer(state, "t").init()
    p.add_offsets()
    p.commit_offsets({A0: 2})
    Producer(state, "t").init()  # a new instance aborts the open transaction
    assert state.groups.committed(GROUP, [A0]) == [("a", 0, None)]
    assert not state.groups.has_pending_txn_offset(GROUP, "a", 0)


# ---------------------------------------------------------------------------------------------- timeouts


def test_abort_timed_out_aborts_only_transactions_older_than_their_timeout() -> None:
    clock = ManualClock(NOW)
    state = make_state(clock)
    old = Producer(state, "old").init(timeout_ms=TIMEOUT)
    old.begin(A0)
    first = old.produce(A0, "o1")
    old.add_offsets()
    old.commit_offsets({B0: 1})
    idle = Producer(state, "idle").init(timeout_ms=1)  # Empty: never times out
    done = Producer(state, "done").init(timeout_ms=1)
    done.begin(B0)
    done.produce(B0, "d")
    done.commit()  # CompleteCommit: never times out
    clock.advance(40_000)
    young = Producer(state, "young").init(timeout_ms=TIMEOUT)
    young.begin(A0)
    young.produce(A0, "y1")

    clock.advance(TIMEOUT - 40_000)  # exactly the timeout: not yet
    assert state.transactions.abort_timed_out() == []
    clock.advance(1)
    hw_b = part(state, B0).high_watermark
    state.abort_timed_out_transactions()

    assert old.txn.state == TxnState.COMPLETE_ABORT and old.txn.epoch == old.epoch + 1
    assert (young.txn.state, young.txn.epoch) == (TxnState.ONGOING, young.epoch)
    assert (idle.txn.state, done.txn.state) == (TxnState.EMPTY, TxnState.COMPLETE_COMMIT)
    assert part(state, B0).high_watermark == hw_b  # no markers for the others
    a0 = part(state, A0)
    marker = a0.high_watermark - 1
    assert markers(a0) == [(marker, CONTROL_ABORT, old.pid, old.epoch + 1)]
    assert a0.aborted == [AbortedTxn(old.pid, first, marker)]
    assert a0.open_txns == {young.pid: first + 1}
    assert a0.last_stable_offset == first + 1
    assert not state.groups.has_pending_txn_offset(GROUP, "b", 0)

    # the stalled producer is fenced
    assert kafka_error(old.produce, A0, "late") == ErrorCode.INVALID_PRODUCER_EPOCH
    assert kafka_error(old.commit) == ErrorCode.PRODUCER_FENCED
    assert old.add(A0) == {A0: ErrorCode.PRODUCER_FENCED}
    # the younger one is unaffected
    young.produce(A0, "y2")
    young.commit()
    assert values(read_committed(a0)) == ["y1", "y2"]
    assert a0.last_stable_offset == a0.high_watermark
    # it times out later, by its own start, only when open again
    clock.advance(10 * TIMEOUT)
    assert state.transactions.abort_timed_out() == []


def test_abort_timed_out_counts_from_the_transaction_start_not_the_init() -> None:
    clock = ManualClock(NOW)
    state = make_state(clock)
    p = Producer(state, "t").init()
    clock.advance(5 * TIMEOUT)
    p.begin(A0)
    clock.advance(TIMEOUT)
    assert state.transactions.abort_timed_out() == []
    clock.advance(1)
    assert state.transactions.abort_timed_out() == ["t"]
    # the producer re-initialises and goes on
    p.init()
    p.begin(A0)
    p.produce(A0, "x")
    p.commit()
    assert values(read_committed(part(state, A0))) == ["x"]


# ---------------------------------------------------------------------------------------------- Log.read upto


@pytest.fixture(params=["memory", "disk"])
def new_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[LogConfig], Log]]:
    store: MemoryStore | DiskStore = MemoryStore() if request.param == "memory" else DiskStore(tmp_path / "data")
    store.open()
    count = iter(range(100))
    yield lambda config: store.open_log("t", next(count), config, 0)
    store.close()


def _fill(lg: Log, counts: list[int]) -> list[int]:
    bases = []
    for i, n in enumerate(counts):
        b = batch([f"v{i}.{j}" for j in range(n)], 1_000 + i)
        bases.append(lg.append(b, n, 1_000 + i, 0, 0))
    return bases


def _bases(views: list[memoryview]) -> list[int]:
    return [h.base_offset for v in views for h, _b in iter_batches(v)]


def _read_all(lg: Log, offset: int, upto: int | None) -> list[int]:
    """Bases of every batch read from ``offset`` on, read after read, as a consumer does."""
    out: list[int] = []
    while True:
        views, _ = lg.read(offset, 1 << 20, True, upto)
        got = _bases(views)
        if not got:
            return out
        out += got
        offset = read_header(batches_of(views)[-1]).last_offset + 1


def batches_of(views: list[memoryview]) -> list[memoryview]:
    return [b for v in views for _h, b in iter_batches(v)]


@pytest.mark.parametrize("segment_bytes", [1 << 30, 200], ids=["one-segment", "many-segments"])
def test_log_read_upto_returns_only_batches_starting_before_it(new_log, segment_bytes: int) -> None:
    lg = new_log(LogConfig(segment_bytes=segment_bytes))
    bases = _fill(lg, [2, 1, 3, 1, 2])  # bases 0, 2, 3, 6, 7; end 9
    assert bases == [0, 2, 3, 6, 7]
    if segment_bytes == 200:
        assert len(lg.segment_infos()) > 1
    for upto in range(0, 11):
        expected = [b for b in bases if b < upto]
        assert _read_all(lg, 0, upto) == expected, upto
        for offset in range(0, 10):
            # nothing at or past upto (Kafka: a fetch at the LSO is empty), else the batches holding offset
            # and after it that start before upto
            want = [b for b, last in zip(bases, [1, 2, 5, 6, 8], strict=True)
                    if offset < upto and last >= offset and b < upto]
            assert _read_all(lg, offset, upto) == want, (offset, upto)
    assert _read_all(lg, 0, None) == bases


def test_log_read_upto_with_min_one_and_a_tiny_limit(new_log) -> None:
    lg = new_log(LogConfig())
    _fill(lg, [2, 1, 3])
    views, size = lg.read(0, 1, True, 2)
    assert _bases(views) == [0] and size > 0
    views, size = lg.read(2, 1, True, 2)
    assert views == [] and size == 0
    views, _ = lg.read(0, 1, False, 3)
    assert _bases(views) == []


@pytest.mark.parametrize("disk", [False, True], ids=["memory", "disk"])
def test_read_committed_stops_at_the_open_transaction(tmp_path: Path, disk: bool) -> None:
    state = make_state(data_dir=tmp_path / "data" if disk else None)
    plain(state, A0, "p0")
    p = Producer(state, "t").init()
    p.begin(A0)
    first = p.produce(A0, "x1")
    plain(state, A0, "p1")
    a0 = part(state, A0)
    views, _ = state.read(a0, 0, 1 << 20, False, a0.last_stable_offset)
    assert _bases(views) == [0]
    views, _ = state.read(a0, first, 1 << 20, True, a0.last_stable_offset)
    assert views == []
    views, _ = state.read(a0, 0, 1 << 20, False)
    assert _bases(views) == [0, 1, 2]
    p.commit()
    assert values(read_committed(a0)) == ["p0", "x1", "p1"]
    state.close()


# ---------------------------------------------------------------------------------------------- durability


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def restart(state: ClusterState, data_dir: Path, clean: bool) -> ClusterState:
    assert isinstance(state.store, DiskStore)
    if clean:
        state.close()
    else:
        state.store.abandon()  # a crash: what was written stays, nothing else is done
    return make_state(state.clock, data_dir)  # type: ignore[arg-type]


def same_producer(state: ClusterState, p: Producer) -> Producer:
    return Producer(state, p.tid, p.pid, p.epoch, dict(p.seqs))


@pytest.mark.parametrize("clean", [True, False], ids=["clean", "crash"])
def test_restart_keeps_an_open_transaction_open(data_dir: Path, clean: bool) -> None:
    state = make_state(data_dir=data_dir)
    plain(state, A0, "p0")
    p = Producer(state, "t").init()
    p.begin(A0, B0)
    first = p.produce(A0, "x1", "x2")
    first_b = p.produce(B0, "y1")
    plain(state, A0, "p1")
    p.add_offsets()
    p.commit_offsets({A1: 11})

    state = restart(state, data_dir, clean)
    a0 = part(state, A0)
    assert a0.open_txns == {p.pid: first}
    assert part(state, B0).open_txns == {p.pid: first_b}
    assert a0.last_stable_offset == first and a0.high_watermark == 4
    txn = state.transactions.describe("t")
    assert (txn.producer_id, txn.epoch, txn.state) == (p.pid, p.epoch, TxnState.ONGOING)
    assert txn.partitions == {A0, B0} and txn.groups == {GROUP} and txn.start_ms == NOW
    assert state.transactions.by_producer[p.pid] is txn
    assert state.groups.has_pending_txn_offset(GROUP, "a", 1)
    assert state.groups.committed(GROUP, [A1]) == [("a", 1, None)]
    assert values(read_committed(a0)) == ["p0"]

    # the same producer carries on: its sequences were rebuilt from the log
    p = same_producer(state, p)
    assert kafka_error(p.produce, A0, "gap", seq=5) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert p.produce(A0, "x1", "x2", seq=0) == first  # a retry after the restart is still a duplicate
    p.produce(A0, "x3")
    p.commit()
    assert values(read_committed(a0)) == ["p0", "x1", "x2", "p1", "x3"]
    assert [e.offset for _t, _p, e in state.groups.committed(GROUP, [A1])] == [11]

    state = restart(state, data_dir, clean)
    assert values(read_committed(part(state, A0))) == ["p0", "x1", "x2", "p1", "x3"]
    assert [e.offset for _t, _p, e in state.groups.committed(GROUP, [A1])] == [11]
    assert not state.groups.has_pending_txn_offset(GROUP, "a", 1)
    assert state.transactions.describe("t").state == TxnState.COMPLETE_COMMIT
    state.close()


@pytest.mark.parametrize("clean", [True, False], ids=["clean", "crash"])
def test_restart_rebuilds_aborted_ranges_from_markers(data_dir: Path, clean: bool) -> None:
    state = make_state(data_dir=data_dir)
    p = Producer(state, "t").init()
    q = Producer(state, "u").init()
    for prod, commit in ((p, False), (q, True), (p, True), (q, False), (p, False)):
        prod.begin(A0)
        prod.produce(A0, f"{prod.tid}{commit}")
        plain(state, A0, "c")
        prod.commit() if commit else prod.abort()
    a0 = part(state, A0)
    aborted = list(a0.aborted)
    assert len(aborted) == 3
    visible = read_committed(a0)
    assert values(visible) == ["c", "uTrue", "c", "tTrue", "c", "c", "c"]

    state = restart(state, data_dir, clean)
    a0 = part(state, A0)
    assert a0.aborted == aborted
    assert a0.open_txns == {} and a0.last_stable_offset == a0.high_watermark
    assert read_committed(a0) == visible
    state.close()


@pytest.mark.parametrize("clean", [True, False], ids=["clean", "crash"])
def test_restart_then_reinit_aborts_the_open_transaction(data_dir: Path, clean: bool) -> None:
    state = make_state(data_dir=data_dir)
    old = Producer(state, "t").init()
    old.begin(A0, A1)
    first = old.produce(A0, "x1")
    old.produce(A1, "y1")
    plain(state, A0, "p1")
    old.add_offsets()
    old.commit_offsets({B0: 3})

    state = restart(state, data_dir, clean)
    new = Producer(state, "t").init()
    assert (new.pid, new.epoch) == (old.pid, old.epoch + 2)
    a0 = part(state, A0)
    assert a0.aborted == [AbortedTxn(old.pid, first, a0.high_watermark - 1)]
    assert a0.open_txns == {} and part(state, A1).open_txns == {}
    assert a0.last_stable_offset == a0.high_watermark
    assert values(read_committed(a0)) == ["p1"]
    assert state.groups.committed(GROUP, [B0]) == [("b", 0, None)]
    assert not state.groups.has_pending_txn_offset(GROUP, "b", 0)
    old = same_producer(state, old)
    assert kafka_error(old.produce, A0, "zombie") == ErrorCode.INVALID_PRODUCER_EPOCH
    assert kafka_error(old.commit) == ErrorCode.PRODUCER_FENCED

    state = restart(state, data_dir, clean)  # and all of that is durable
    assert state.transactions.describe("t").epoch == new.epoch
    assert part(state, A0).aborted == [AbortedTxn(old.pid, first, part(state, A0).high_watermark - 1)]
    assert not state.groups.has_pending_txn_offset(GROUP, "b", 0)
    other = Producer(state, "other").init()
    assert other.pid not in (old.pid,)  # producer ids are not handed out twice
    state.close()


def test_restart_then_timeout_aborts_by_the_original_start(data_dir: Path) -> None:
    clock = ManualClock(NOW)
    state = make_state(clock, data_dir)
    p = Producer(state, "t").init()
    p.begin(A0)
    p.produce(A0, "x")
    state = restart(state, data_dir, True)
    clock.advance(TIMEOUT)
    assert state.transactions.abort_timed_out() == []
    clock.advance(1)
    assert state.transactions.abort_timed_out() == ["t"]
    a0 = part(state, A0)
    assert a0.open_txns == {} and len(a0.aborted) == 1
    state = restart(state, data_dir, True)
    assert state.transactions.describe("t").epoch == p.epoch + 1
    state.close()


# ---------------------------------------------------------------------------------------------- state machine


PARTITIONS = [A0, A1, B0]
TIDS = ["t1", "t2"]


@dataclass
class ModelRecord:
    offset: int
    value: str
    pid: int  # -1: non-transactional
    status: str  # "committed" | "open" | "aborted"


@dataclass
class ModelTxn:
    """What the model expects of one transactional id (and what its current client knows)."""

    producer: Producer | None = None
    ongoing: bool = False
    last_end: str | None = None  # "commit" | "abort" after an EndTxn, None after init
    fenced: bool = False  # the coordinator bumped the epoch behind the client's back (timeout)
    partitions: set[tuple[str, int]] = field(default_factory=set)
    records: list[ModelRecord] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    has_group: bool = False
    start_ms: int = -1


class TransactionMachine(RuleBasedStateMachine):
    """Transactions, plain appends, re-inits, zombies and timeouts against a model of each partition's records."""

    data_dir: Path | None = None  # the durable variant keeps a data directory and restarts

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(NOW)
        if self.durable:
            self.data_dir = Path(tempfile.mkdtemp(prefix="kafkasim-txn-"))
        self.state = make_state(self.clock, self.data_dir)
        self.txns = {tid: ModelTxn() for tid in TIDS}
        self.records: dict[tuple[str, int], list[ModelRecord]] = {tp: [] for tp in PARTITIONS}
        self.zombies: list[Producer] = []
        self.committed_offsets: dict[tuple[str, int], int] = {}
        self.counter = 0

    def _value(self, who: str) -> str:
        self.counter += 1
        return f"{who}-{self.counter}"

    def _end_model(self, m: ModelTxn, commit: bool) -> None:
        for r in m.records:
            r.status = "committed" if commit else "aborted"
        if commit:
            self.committed_offsets.update(m.offsets)
        m.records, m.offsets, m.partitions = [], {}, set()
        m.ongoing, m.has_group, m.start_ms = False, False, -1

    @initialize()
    def setup(self) -> None:
        for tid in TIDS:
            self.txns[tid].producer = Producer(self.state, tid).init()

    # -------------------------------------------------------- rules

    @rule(tid=st.sampled_from(TIDS))
    def reinit(self, tid: str) -> None:
        self._reinit(tid)

    def _reinit(self, tid: str) -> None:
        m = self.txns[tid]
        assert m.producer is not None
        self.zombies.append(m.producer.zombie())
        if m.ongoing:
            self._end_model(m, commit=False)
        new = Producer(self.state, tid).init()
        assert new.pid == m.producer.pid
        assert new.epoch > m.producer.epoch
        m.producer, m.last_end, m.fenced = new, None, False

    @rule(tid=st.sampled_from(TIDS), tps=st.sets(st.sampled_from(PARTITIONS), min_size=1, max_size=3))
    def add(self, tid: str, tps: set[tuple[str, int]]) -> None:
        self._add(tid, tps)

    def _add(self, tid: str, tps: set[tuple[str, int]]) -> None:
        m = self.txns[tid]
        assert m.producer is not None
        result = m.producer.add(*sorted(tps))
        if m.fenced:
            assert set(result.values()) == {ErrorCode.PRODUCER_FENCED}
            return
        assert set(result.values()) == {0}
        if not m.ongoing:
            m.ongoing, m.start_ms = True, self.clock.now_ms()
        m.partitions |= tps

    @rule(data=st.data(), tid=st.sampled_from(TIDS), n=st.integers(1, 3), stray=st.integers(0, 4))
    def produce(self, data, tid: str, n: int, stray: int) -> None:
        m = self.txns[tid]
        assert m.producer is not None
        # mostly to a partition of the open transaction; sometimes anywhere (refused unless added)
        tp = data.draw(st.sampled_from(sorted(m.partitions) if m.partitions and stray else PARTITIONS))
        self._produce(tid, tp, n)

    def _produce(self, tid: str, tp: tuple[str, int], n: int) -> None:
        m = self.txns[tid]
        assert m.producer is not None
        vals = [self._value(tid) for _ in range(n)]
        end = part(self.state, tp).high_watermark
        if m.ongoing and tp in m.partitions and not m.fenced:
            base = m.producer.produce(tp, *vals)
            assert base == end
            recs = [ModelRecord(base + i, v, m.producer.pid, "open") for i, v in enumerate(vals)]
            m.records += recs
            self.records[tp] += recs
        else:
            code = kafka_error(m.producer.produce, tp, *vals)
            expected = ErrorCode.INVALID_PRODUCER_EPOCH if m.fenced else ErrorCode.INVALID_TXN_STATE
            assert code == expected
            assert part(self.state, tp).high_watermark == end

    @rule(tp=st.sampled_from(PARTITIONS), n=st.integers(1, 2))
    def produce_plain(self, tp: tuple[str, int], n: int) -> None:
        vals = [self._value("plain") for _ in range(n)]
        base = plain(self.state, tp, *vals)
        self.records[tp] += [ModelRecord(base + i, v, -1, "committed") for i, v in enumerate(vals)]

    @precondition(lambda self: bool(self.zombies))
    @rule(data=st.data(), tp=st.sampled_from(PARTITIONS))
    def zombie(self, data, tp: tuple[str, int]) -> None:
        z = data.draw(st.sampled_from(self.zombies))
        end = part(self.state, tp).high_watermark
        assert kafka_error(z.produce, tp, "zombie") == ErrorCode.INVALID_PRODUCER_EPOCH
        assert z.add(tp) == {tp: ErrorCode.PRODUCER_FENCED}
        assert kafka_error(z.commit if data.draw(st.booleans()) else z.abort) == ErrorCode.PRODUCER_FENCED
        assert part(self.state, tp).high_watermark == end

    @rule(tid=st.sampled_from(TIDS), offsets=st.dictionaries(st.sampled_from(PARTITIONS), st.integers(0, 99),
                                                             min_size=1, max_size=2))
    def commit_offsets(self, tid: str, offsets: dict[tuple[str, int], int]) -> None:
        m = self.txns[tid]
        assert m.producer is not None
        if m.fenced:
            assert kafka_error(m.producer.add_offsets) == ErrorCode.PRODUCER_FENCED
            return
        m.producer.add_offsets()
        if not m.ongoing:
            m.ongoing, m.start_ms = True, self.clock.now_ms()
        m.has_group = True
        assert m.producer.commit_offsets(offsets) == [0] * len(offsets)
        m.offsets.update(offsets)

    @rule(tid=st.sampled_from(TIDS), outcome=st.integers(0, 2))
    def end(self, tid: str, outcome: int) -> None:
        self._end(tid, commit=outcome > 0)  # commits twice as often: aborts come from re-inits and timeouts too

    def _end(self, tid: str, commit: bool) -> None:
        m = self.txns[tid]
        assert m.producer is not None
        fn = m.producer.commit if commit else m.producer.abort
        if m.fenced:
            assert kafka_error(fn) == ErrorCode.PRODUCER_FENCED
        elif m.ongoing:
            fn()
            self._end_model(m, commit)
            m.last_end = "commit" if commit else "abort"
        elif m.last_end == ("commit" if commit else "abort") or (m.last_end is None and not commit):
            fn()  # a retry, or aborting nothing
        else:
            assert kafka_error(fn) == ErrorCode.INVALID_TXN_STATE

    @rule(tid=st.sampled_from(TIDS), tps=st.sets(st.sampled_from(PARTITIONS), min_size=1, max_size=2),
          n=st.integers(1, 3), end=st.sampled_from(["commit", "commit", "abort", "open"]))
    def transaction(self, tid: str, tps: set[tuple[str, int]], n: int, end: str) -> None:
        """A whole transaction in one step (or its beginning, left open), so runs have many of them."""
        if self.txns[tid].fenced:
            self._reinit(tid)
        self._add(tid, tps)
        for tp in sorted(tps):
            self._produce(tid, tp, n)
        if end != "open":
            self._end(tid, end == "commit")

    @rule(ms=st.sampled_from([1_000, 1_000, TIMEOUT // 3, TIMEOUT + 1]))
    def time_passes(self, ms: int) -> None:
        self.clock.advance(ms)
        now = self.clock.now_ms()
        expected = sorted(tid for tid, m in self.txns.items() if m.ongoing and now - m.start_ms > TIMEOUT)
        assert sorted(self.state.transactions.abort_timed_out()) == expected
        for tid in expected:
            m = self.txns[tid]
            self._end_model(m, commit=False)
            m.fenced = True

    # -------------------------------------------------------- invariants

    @invariant()
    def logs_match_the_model(self) -> None:
        for tp, recs in self.records.items():
            p = part(self.state, tp)
            hw, lso = p.high_watermark, p.last_stable_offset
            assert lso <= hw
            open_firsts = [r.offset for r in recs if r.status == "open"]
            assert lso == (min(open_firsts) if open_firsts else hw)
            assert read_uncommitted(p) == [(r.offset, r.value) for r in recs]
            expected = [(r.offset, r.value) for r in recs if r.status == "committed" and r.offset < lso]
            assert read_committed(p) == expected
            # aborted ranges never cover a record of their producer that is not aborted
            for a in p.aborted:
                assert a.first_offset <= a.last_offset
                for r in recs:
                    if r.pid == a.producer_id and a.first_offset <= r.offset <= a.last_offset:
                        assert r.status == "aborted", (a, r)
            # every open transaction's first offset is where the model has it
            firsts: dict[int, int] = {}
            for r in recs:
                if r.status == "open":
                    firsts.setdefault(r.pid, r.offset)
            assert p.open_txns == firsts

    @invariant()
    def offsets_match_the_model(self) -> None:
        groups = self.state.groups
        got = {(t, i): e.offset for t, i, e in groups.committed(GROUP, None)}
        assert got == self.committed_offsets
        pending = {tp for m in self.txns.values() for tp in m.offsets}
        for tp in PARTITIONS:
            assert groups.has_pending_txn_offset(GROUP, *tp) == (tp in pending)

    @invariant()
    def coordinator_states_match(self) -> None:
        for tid, m in self.txns.items():
            txn = self.state.transactions.describe(tid)
            assert (txn.state == TxnState.ONGOING) == m.ongoing
            if m.ongoing:
                assert txn.partitions == m.partitions
                assert (GROUP in txn.groups) == m.has_group


    durable = False

    def teardown(self) -> None:
        self.state.close()
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class DurableTransactionMachine(TransactionMachine):
    """The same, on a data directory, with restarts (clean or crashed) anywhere in between: every open
    transaction, aborted range, pending offset, epoch and sequence must come back as they were."""

    durable = True

    @rule(clean=st.booleans())
    def restart(self, clean: bool) -> None:
        assert isinstance(self.state.store, DiskStore) and self.data_dir is not None
        if clean:
            self.state.close()
        else:
            self.state.store.abandon()
        self.state = make_state(self.clock, self.data_dir)
        for p in [*(m.producer for m in self.txns.values()), *self.zombies]:
            assert p is not None
            p.state = self.state


_MACHINE_SETTINGS = settings(max_examples=60, stateful_step_count=40, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])
TransactionMachine.TestCase.settings = _MACHINE_SETTINGS
DurableTransactionMachine.TestCase.settings = settings(_MACHINE_SETTINGS, max_examples=25)
test_transaction_machine = TransactionMachine.TestCase
test_transaction_machine_durable = DurableTransactionMachine.TestCase

"""Record inspection (kafkasim/testing/records.py) and the wait helpers of ``Cluster`` (testing/cluster.py).

``read_records`` is tested on a ClusterState driven as the handlers drive it (no sockets); the Cluster
methods on a running cluster, on a thread and in the test's own event loop, with records appended straight
into its state. Real clients are in compat_tests/test_inspection.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from kafkasim.config import BrokerConfig
from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.protocol.compression import Codec
from kafkasim.protocol.records import Record, build_batch
from kafkasim.state.clock import ManualClock
from kafkasim.state.cluster import ClusterState
from kafkasim.testing import Cluster, RecordInfo, WaitTimeout, read_records
from kafkasim.testing.records import RecordsWait, _sequence

NOW = 1_700_000_000_000
TID = "txn-1"


def make_state() -> ClusterState:
    state = ClusterState(BrokerConfig(), clock=ManualClock(NOW))
    state.open()
    state.register_broker(1, "127.0.0.1", 9092)
    state.create_topic("a", 2, 1)
    state.create_topic("b", 1, 1)
    return state


def batch(*records: tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]], ts: int = NOW,
          pid: int = -1, epoch: int = -1, seq: int = -1, transactional: bool = False,
          codec: int = Codec.NONE) -> memoryview:
    recs = [Record(0, ts + i, k, v, list(h)) for i, (k, v, h) in enumerate(records)]
    return memoryview(bytearray(build_batch(recs, producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                                            transactional=transactional, codec=codec)))


def values(state: ClusterState, topic: str = "a", partition: int | None = 0, **kw) -> list[bytes | None]:
    return [r.value for r in read_records(state, topic, partition, **kw)]


def append_values(state: ClusterState, topic: str, partition: int, *vals: str, **kw) -> int:
    return state.append(topic, partition, batch(*((None, v.encode(), []) for v in vals), **kw)).base_offset


class Txn:
    """A transactional producer driving the coordinator as the handlers do."""

    def __init__(self, state: ClusterState, tid: str = TID) -> None:
        self.state = state
        self.tid = tid
        self.pid, self.epoch = state.transactions.init_producer_id(tid, 60_000)
        self.seq = 0

    def produce(self, topic: str, partition: int, *vals: str) -> int:
        exists = lambda t, i: t in self.state.topics  # noqa: E731
        self.state.transactions.add_partitions(self.tid, self.pid, self.epoch, [(topic, partition)], exists)
        base = append_values(self.state, topic, partition, *vals, pid=self.pid, epoch=self.epoch, seq=self.seq,
                             transactional=True)
        self.seq += len(vals)
        return base

    def end(self, commit: bool) -> None:
        self.state.transactions.end_txn(self.tid, self.pid, self.epoch, commit)


# ------------------------------------------------------------------------------------------- read_records


def test_read_records_decodes_plain_records() -> None:
    state = make_state()
    state.append("a", 0, batch((b"k1", b"v1", [("trace-id", b"abc"), ("empty", None)]), (None, b"v2", [])))
    r0, r1 = read_records(state, "a", 0)
    assert r0 == RecordInfo("a", 0, 0, NOW, "CreateTime", b"k1", b"v1", [("trace-id", b"abc"), ("empty", None)],
                            -1, -1, -1, False, None)
    assert (r1.offset, r1.timestamp, r1.key, r1.value, r1.headers) == (1, NOW + 1, None, b"v2", [])
    assert r0.header("trace-id") == b"abc" and r0.header("nope") is None
    with pytest.raises(AttributeError):
        r0.offset = 5  # type: ignore[misc]  # frozen


def test_read_records_decodes_compressed_batches() -> None:
    state = make_state()
    state.append("a", 0, batch(*((b"k", b"x" * 100, []) for _ in range(5)), codec=Codec.GZIP))
    assert [r.offset for r in read_records(state, "a", 0)] == [0, 1, 2, 3, 4]


def test_read_records_log_append_time() -> None:
    state = make_state()
    state.create_topic("lat", 1, 1, {"message.timestamp.type": "LogAppendTime"})
    state.clock.advance(5)
    state.append("lat", 0, batch((None, b"v", []), ts=NOW - 1000))
    (r,) = read_records(state, "lat")
    assert (r.timestamp_type, r.timestamp) == ("LogAppendTime", NOW + 5)


def test_read_records_idempotent_producer_sequences() -> None:
    state = make_state()
    append_values(state, "a", 0, "x", "y", pid=7, epoch=2, seq=0)
    append_values(state, "a", 0, "z", pid=7, epoch=2, seq=2)
    append_values(state, "a", 0, "x", "y", pid=7, epoch=2, seq=0)  # a retry: stored once
    recs = read_records(state, "a", 0)
    assert [(r.producer_id, r.producer_epoch, r.sequence, r.transactional, r.txn_state) for r in recs] == [
        (7, 2, 0, False, None), (7, 2, 1, False, None), (7, 2, 2, False, None)]


def test_sequence_wraps_as_kafka() -> None:
    top = 0x7FFFFFFF
    assert [_sequence(top - 1, d) for d in range(3)] == [top - 1, top, 0]
    assert _sequence(-1, 4) == -1


def test_read_records_transactional_states_and_markers_excluded() -> None:
    state = make_state()
    plain0 = append_values(state, "a", 0, "p0")                 # 0
    committed = Txn(state, "t-commit")
    committed.produce("a", 0, "c1", "c2")                        # 1, 2
    aborted = Txn(state, "t-abort")
    aborted.produce("a", 0, "a1")                                # 3
    committed.end(True)                                          # marker 4
    aborted.end(False)                                           # marker 5
    append_values(state, "a", 0, "p1")                           # 6
    open_ = Txn(state, "t-open")
    open_.produce("a", 0, "o1")                                  # 7
    append_values(state, "a", 0, "p2")                           # 8
    recs = read_records(state, "a", 0)
    assert [(r.offset, r.value, r.transactional, r.txn_state) for r in recs] == [
        (plain0, b"p0", False, None), (1, b"c1", True, "committed"), (2, b"c2", True, "committed"),
        (3, b"a1", True, "aborted"), (6, b"p1", False, None), (7, b"o1", True, "open"), (8, b"p2", False, None)]
    assert recs[1].producer_id == committed.pid and recs[3].producer_id == aborted.pid
    assert [r.sequence for r in recs if r.transactional] == [0, 1, 0, 0]
    # read_committed: below the last stable offset (7), without the aborted record
    assert values(state, isolation="read_committed") == [b"p0", b"c1", b"c2", b"p1"]
    open_.end(True)
    assert values(state, isolation="read_committed") == [b"p0", b"c1", b"c2", b"p1", b"o1", b"p2"]
    assert read_records(state, "a", 0, start=7, limit=1)[0].txn_state == "committed"


def test_read_records_open_transaction_started_later_does_not_taint_earlier_batches() -> None:
    state = make_state()
    t = Txn(state)
    t.produce("a", 0, "first")   # 0
    t.end(True)                  # marker 1
    t.produce("a", 0, "second")  # 2: a new transaction of the same producer, open
    assert [(r.offset, r.txn_state) for r in read_records(state, "a", 0)] == [(0, "committed"), (2, "open")]


def test_read_records_filters_by_key_and_header() -> None:
    state = make_state()
    state.append("a", 0, batch((b"k1", b"v0", [("trace-id", b"abc")]), (b"k2", b"v1", [("trace-id", b"xyz")]),
                               (b"k1", b"v2", [("other", b"abc"), ("trace-id", b"abc")]), (None, b"v3", [("n", None)])))
    assert values(state, key=b"k1") == [b"v0", b"v2"]
    assert values(state, key="k2") == [b"v1"]
    assert values(state, header=("trace-id", "abc")) == [b"v0", b"v2"]
    assert values(state, header=("trace-id", b"xyz")) == [b"v1"]
    assert values(state, header=("n", None)) == [b"v3"]
    assert values(state, key="k1", header=("trace-id", "xyz")) == []
    with pytest.raises(ValueError, match="header"):
        read_records(state, "a", 0, header="trace-id")  # type: ignore[arg-type]


def test_read_records_offset_range_limit_and_log_start() -> None:
    state = make_state()
    for i in range(3):
        append_values(state, "a", 0, f"v{2 * i}", f"v{2 * i + 1}")  # batches [0,1] [2,3] [4,5]
    assert values(state, start=1, end=4) == [b"v1", b"v2", b"v3"]
    assert values(state, start=3, limit=2) == [b"v3", b"v4"]
    assert values(state, start=6) == [] and values(state, end=0) == [] and values(state, limit=0) == []
    state.delete_records("a", 0, 3)
    assert values(state) == [b"v3", b"v4", b"v5"]
    assert values(state, start=0, end=4) == [b"v3"]


def test_read_records_whole_topic_in_partition_order() -> None:
    state = make_state()
    append_values(state, "a", 1, "p1-0")
    append_values(state, "a", 0, "p0-0")
    append_values(state, "a", 1, "p1-1")
    recs = read_records(state, "a")
    assert [(r.partition, r.offset, r.value) for r in recs] == [(0, 0, b"p0-0"), (1, 0, b"p1-0"), (1, 1, b"p1-1")]
    assert len(read_records(state, "a", limit=2)) == 2


def test_read_records_unknown_topic_or_partition_raises_kafka_error() -> None:
    state = make_state()
    for topic, partition in (("nope", None), ("nope", 0), ("a", 2), ("a", -1)):
        with pytest.raises(KafkaError) as err:
            read_records(state, topic, partition)
        assert err.value.code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    with pytest.raises(ValueError, match="isolation"):
        read_records(state, "a", isolation="committed")
    with pytest.raises(ValueError, match="limit"):
        read_records(state, "a", limit=-1)
    with pytest.raises(ValueError, match="key"):
        read_records(state, "a", key=5)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ RecordsWait


def test_records_wait_probe_rereads_only_after_a_change() -> None:
    state = make_state()
    cond = RecordsWait("a", 2, None, ("trace-id", "abc"), None, "read_uncommitted")
    assert cond.probe(state) is None
    state.append("a", 1, batch((None, b"v", [("trace-id", b"abc")])))
    assert cond.probe(state) is None
    state.append("a", 0, batch((None, b"w", [("trace-id", b"abc")])))
    found = cond.probe(state)
    assert found is not None and [(r.partition, r.value) for r in found] == [(0, b"w"), (1, b"v")]
    assert RecordsWait("missing", None, None, None, None, "read_uncommitted").probe(state) is None


def test_records_wait_describe_shows_what_was_there() -> None:
    state = make_state()
    for i in range(7):
        trace = b"abc" if i in (0, 1, 4) else b"other"
        state.append("b", 0, batch((f"k{i}".encode(), f"v{i}".encode(), [("trace-id", trace)])))
    msg = RecordsWait("b", 5, None, ("trace-id", "abc"), None, "read_uncommitted").describe(state, 1.5)
    assert "timed out after 1.5s waiting for 5 record(s) matching header trace-id='abc' in topic 'b'" in msg
    assert "topic 'b' has 3 record(s) matching header trace-id='abc' (wanted 5): b-0@0, b-0@1, b-0@4" in msg
    assert "topic 'b' has 7 record(s), the last 5:" in msg
    assert "b-0@6 key=b'k6' value=b'v6' headers=[trace-id=b'other']" in msg
    assert "b-0@1 " not in msg  # only the last five
    missing = RecordsWait("orders", 1, "k", None, None, "read_uncommitted").describe(state, 2)
    assert "matching key='k' in topic 'orders': the topic does not exist (topics: ['a', 'b'])" in missing
    empty = RecordsWait("a", None, None, None, 1, "read_committed").describe(state, 2)
    assert "topic 'a' partition 1 has 0 committed record(s) (wanted 1); topic 'a' partition 1 is empty" in empty
    assert "the topic has 2 partition(s)" in RecordsWait("a", 1, None, None, 9, "read_uncommitted").describe(state, 2)
    with pytest.raises(ValueError, match="count"):
        RecordsWait("a", 0, None, None, None, "read_uncommitted")


# ----------------------------------------------------------------------------------- Cluster, threaded


def _append(cluster: Cluster, topic: str, *recs: tuple[bytes | None, bytes | None, list]) -> None:
    cluster.call(lambda: cluster.state.append(topic, 0, batch(*recs, ts=int(time.time() * 1000))))


def test_cluster_records_and_wait_for_records(running: Cluster) -> None:
    running.create_topic("orders", 1)
    _append(running, "orders", (b"k", b"v", [("trace-id", b"abc")]))
    (r,) = running.records("orders", 0, header=("trace-id", "abc"))
    assert (r.topic, r.offset, r.key) == ("orders", 0, b"k")
    assert running.records("orders", start=1) == []
    assert [x.offset for x in running.wait_for_records("orders", key="k", timeout=1)] == [0]


def test_cluster_wait_for_records_timeout_says_what_was_there(running: Cluster) -> None:
    running.create_topic("orders", 1)
    _append(running, "orders", (b"k", b"v", [("trace-id", b"abc")]), (b"k", b"w", []))
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as err:
        running.wait_for_records("orders", 5, header=("trace-id", "abc"), timeout=0.2)
    assert time.monotonic() - started < 5
    assert isinstance(err.value, AssertionError)
    msg = str(err.value)
    assert "topic 'orders' has 1 record(s) matching header trace-id='abc' (wanted 5): orders-0@0" in msg
    assert "orders-0@1 key=b'k' value=b'w'" in msg


def test_cluster_wait_for_records_returns_when_records_arrive(running: Cluster) -> None:
    running.create_topic("late", 1)

    async def later() -> None:
        await asyncio.sleep(0.1)
        running.state.append("late", 0, batch((None, b"1", []), (None, b"2", []), ts=int(time.time() * 1000)))

    asyncio.run_coroutine_threadsafe(later(), running._loop)
    assert [r.value for r in running.wait_for_records("late", 2, timeout=5)] == [b"1", b"2"]


def test_cluster_wait_for_group_timeout_says_what_was_there(running: Cluster) -> None:
    with pytest.raises(WaitTimeout, match=r"waiting for group 'g' to reach state Stable: the group does not exist "
                                          r"\(groups: \[\]\)"):
        running.wait_for_group("g", state="Stable", timeout=0.05)
    with pytest.raises(ValueError, match="unknown group state 'stable'"):
        running.wait_for_group("g", state="stable")


# ---------------------------------------------------------------------------- Cluster, in the test's loop


def test_cluster_waits_in_the_callers_event_loop() -> None:
    async def main() -> None:
        async with Cluster() as cluster:
            cluster.create_topic("t", 1)
            with pytest.raises(RuntimeError, match="wait_for_records_async"):
                cluster.wait_for_records("t", timeout=0.1)
            with pytest.raises(RuntimeError, match="wait_for_group_async"):
                cluster.wait_for_group("g", timeout=0.1)

            async def later() -> None:
                await asyncio.sleep(0.05)
                cluster.state.append("t", 0, batch((b"k", b"v", []), ts=int(time.time() * 1000)))

            task = asyncio.create_task(later())
            (r,) = await cluster.wait_for_records_async("t", key=b"k", timeout=5)
            await task
            assert r.value == b"v" and cluster.records("t") == [r]
            with pytest.raises(WaitTimeout, match="group 'g'"):
                await cluster.wait_for_group_async("g", timeout=0.05)

    asyncio.run(main())


def test_cluster_async_waits_from_another_loop_on_a_threaded_cluster(running: Cluster) -> None:
    running.create_topic("t", 1)
    _append(running, "t", (None, b"v", []))

    async def main() -> list[RecordInfo]:
        return await running.wait_for_records_async("t", timeout=5)

    assert [r.value for r in asyncio.run(main())] == [b"v"]

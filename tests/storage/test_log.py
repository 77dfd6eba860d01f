"""The PartitionLog contract, run once per storage engine (Tansu style: same test, every engine).

The engines are the ``engine`` fixture of this directory's conftest.py. A memory segment returns one view per
batch from ``read``, a file segment one view spanning contiguous batches: the helpers split views into
batches so the same assertions hold for both.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkasim.protocol.records import Record, build_batch, iter_batches, iter_records, validate_produced
from kafkasim.storage.log import BatchRef, LogConfig
from kafkasim.storage.log import Log as PartitionLog


@pytest.fixture
def log_factory(engine) -> Callable[[], PartitionLog]:
    """Each call opens a new partition's log in the engine."""
    return lambda: engine.open_log()


@pytest.fixture
def log(log_factory: Callable[[], PartitionLog]) -> PartitionLog:
    return log_factory()


def batch(n: int, ts0: int = 1_000, value_size: int = 10) -> memoryview:
    """A produced batch of ``n`` records (base offset 0, as a producer sends it), writable."""
    records = [Record(0, ts0 + i, f"k{i}".encode(), b"v" * value_size) for i in range(n)]
    return memoryview(bytearray(build_batch(records, base_offset=0)))


def append(log: PartitionLog, n: int, ts0: int = 1_000, value_size: int = 10, epoch: int = 0) -> memoryview:
    b = batch(n, ts0, value_size)
    log.append(b, n, ts0 + n - 1, epoch)
    return b


def filled(log: PartitionLog, counts: list[int]) -> list[int]:
    """Append batches of ``counts`` records; returns their sizes in bytes."""
    return [len(append(log, n, ts0=1_000 * (i + 1))) for i, n in enumerate(counts)]


def batches(views: list[memoryview]) -> list[memoryview]:
    """The whole batches in what ``read`` returned (a view may span several)."""
    return [b for v in views for _h, b in iter_batches(v)]


def bases(views: list[memoryview]) -> list[int]:
    out = [h.base_offset for v in views for h, _b in iter_batches(v)]
    assert sum(len(b) for b in batches(views)) == sum(len(v) for v in views), "a view ends inside a batch"
    return out


# ---------------------------------------------------------------------------------------------- append


def test_log_empty_has_zero_offsets(log: PartitionLog) -> None:
    assert (log.log_start_offset, log.log_end_offset, log.size_bytes) == (0, 0, 0)
    assert log.batch_refs() == []


def test_log_append_assigns_consecutive_offsets(log: PartitionLog) -> None:
    assert log.append(batch(3), 3, 1_002, 0) == 0
    assert log.append(batch(1), 1, 1_000, 0) == 3
    assert log.append(batch(5), 5, 1_004, 0) == 4
    assert log.log_end_offset == 9
    assert log.log_start_offset == 0


def test_log_append_rewrites_base_offset_and_epoch_in_stored_bytes(log: PartitionLog) -> None:
    append(log, 2)
    append(log, 3, epoch=7)
    stored = log.batch_at(1)
    h = validate_produced(stored)  # CRC still valid after the rewrite
    assert (h.base_offset, h.partition_leader_epoch) == (2, 7)
    assert [r.offset for r in iter_records(stored)] == [2, 3, 4]


def test_log_append_counts_size_bytes(log: PartitionLog) -> None:
    sizes = filled(log, [1, 4, 2])
    assert log.size_bytes == sum(sizes)


def test_log_batch_refs_list_offsets_and_max_timestamps(log: PartitionLog) -> None:
    log.append(batch(2), 2, 5_000, 0)
    log.append(batch(3), 3, 4_000, 0)
    assert log.batch_refs() == [BatchRef(0, 1, 5_000), BatchRef(2, 4, 4_000)]


# ---------------------------------------------------------------------------------------------- read


def test_log_read_starts_at_batch_containing_offset(log: PartitionLog) -> None:
    sizes = filled(log, [2, 3, 4])  # offsets 0-1, 2-4, 5-8
    for offset, want in [(0, [0, 2, 5]), (1, [0, 2, 5]), (2, [2, 5]), (4, [2, 5]), (5, [5]), (8, [5])]:
        views, total = log.read(offset, 1 << 20, False)
        assert bases(views) == want, offset
        assert total == sum(len(v) for v in views) == sum(sizes[-len(want):])


def test_log_read_returns_whole_batches_within_max_bytes(log: PartitionLog) -> None:
    s0, s1, _ = filled(log, [2, 3, 4])
    assert bases(log.read(0, s0 + s1, False)[0]) == [0, 2]
    assert bases(log.read(0, s0 + s1 - 1, False)[0]) == [0]
    assert log.read(0, s0 + s1 - 1, True)[1] == s0


def test_log_read_oversize_first_batch_only_with_min_one(log: PartitionLog) -> None:
    s0, _ = filled(log, [2, 3])
    assert log.read(0, s0 - 1, False) == ([], 0)
    views, total = log.read(0, s0 - 1, True)
    assert bases(views) == [0] and total == s0
    views, total = log.read(0, 0, True)
    assert bases(views) == [0] and total == s0


def test_log_read_min_one_does_not_add_oversize_later_batch(log: PartitionLog) -> None:
    append(log, 1, value_size=10)
    s1 = len(append(log, 1, value_size=5_000))
    views, total = log.read(0, s1 - 1, True)
    assert bases(views) == [0]
    assert total == len(batches(views)[0])


@pytest.mark.parametrize("min_one", [False, True])
def test_log_read_at_or_after_end_returns_nothing(log: PartitionLog, min_one: bool) -> None:
    assert log.read(0, 1 << 20, min_one) == ([], 0)
    filled(log, [2, 3])
    assert log.read(5, 1 << 20, min_one) == ([], 0)
    assert log.read(6, 1 << 20, min_one) == ([], 0)
    assert log.read(1_000_000, 1 << 20, min_one) == ([], 0)


def test_log_read_returns_stored_bytes(log: PartitionLog) -> None:
    b = append(log, 3)
    views, _ = log.read(0, 1 << 20, False)
    assert [bytes(v) for v in batches(views)] == [bytes(b)]


# the fixture only hands over the engine class; each example builds its own log
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(counts=st.lists(st.integers(1, 4), min_size=1, max_size=6), data=st.data())
def test_log_read_matches_model(log_factory: Callable[[], PartitionLog], counts: list[int],
                                data: st.DataObject) -> None:
    log = log_factory()
    sizes = [len(append(log, n, value_size=5 * n)) for n in counts]
    firsts = [sum(counts[:i]) for i in range(len(counts))]
    end = sum(counts)
    offset = data.draw(st.integers(0, end + 1), label="offset")
    max_bytes = data.draw(st.integers(0, sum(sizes) + 1), label="max_bytes")
    min_one = data.draw(st.booleans(), label="min_one")
    want: list[int] = []
    if offset < end:
        i = max(j for j, f in enumerate(firsts) if f <= offset)
        total = 0
        for j in range(i, len(counts)):
            if total + sizes[j] > max_bytes and (want or not min_one):
                break
            want.append(firsts[j])
            total += sizes[j]
    views, total = log.read(offset, max_bytes, min_one)
    assert bases(views) == want
    assert total == sum(len(v) for v in views)


# ---------------------------------------------------------------------------------------------- truncate


def test_log_truncate_at_batch_boundary(log: PartitionLog) -> None:
    sizes = filled(log, [2, 3, 4])  # 0-1, 2-4, 5-8
    log.truncate(5)
    assert log.log_end_offset == 5
    assert log.size_bytes == sizes[0] + sizes[1]
    assert [r.base_offset for r in log.batch_refs()] == [0, 2]
    assert bases(log.read(0, 1 << 20, False)[0]) == [0, 2]


def test_log_truncate_inside_batch_keeps_that_batch(log: PartitionLog) -> None:
    sizes = filled(log, [2, 3, 4])
    log.truncate(3)  # batches are atomic: 2-4 holds offset 3 and starts before it
    assert log.log_end_offset == 5
    assert log.size_bytes == sizes[0] + sizes[1]


def test_log_truncate_to_zero_empties_the_log(log: PartitionLog) -> None:
    filled(log, [2, 3])
    log.truncate(0)
    assert (log.log_start_offset, log.log_end_offset, log.size_bytes) == (0, 0, 0)
    assert log.batch_refs() == [] and log.read(0, 1 << 20, True) == ([], 0)


def test_log_truncate_past_end_changes_nothing(log: PartitionLog) -> None:
    sizes = filled(log, [2, 3])
    log.truncate(100)
    assert (log.log_end_offset, log.size_bytes) == (5, sum(sizes))


def test_log_append_after_truncate_continues_from_new_end(log: PartitionLog) -> None:
    filled(log, [2, 3])
    log.truncate(2)
    assert log.append(batch(4), 4, 1_003, 0) == 2
    assert log.log_end_offset == 6
    assert [(r.base_offset, r.last_offset) for r in log.batch_refs()] == [(0, 1), (2, 5)]
    assert [r.offset for r in iter_records(log.batch_at(1))] == [2, 3, 4, 5]


# ---------------------------------------------------------------------------------------------- delete_before


def test_log_delete_before_keeps_the_active_segment_but_reads_from_the_new_start(log: PartitionLog) -> None:
    sizes = filled(log, [2, 3, 4])  # 0-1, 2-4, 5-8, one segment
    log.delete_before(5)
    assert (log.log_start_offset, log.log_end_offset) == (5, 9)
    assert log.size_bytes == sum(sizes)  # as in Kafka, only whole segments below the start are deleted
    assert bases(log.read(0, 1 << 20, False)[0]) == [5]


def test_log_delete_before_deletes_whole_segments_below_the_start(log: PartitionLog) -> None:
    sizes = filled(log, [2])
    log.roll(0)
    sizes += filled(log, [3])
    log.roll(0)
    sizes += filled(log, [4])  # segments 0-1 | 2-4 | 5-8
    log.delete_before(3)
    assert log.log_start_offset == 3
    assert log.size_bytes == sizes[1] + sizes[2]
    assert [r.base_offset for r in log.batch_refs()] == [2, 5]
    assert bases(log.read(3, 1 << 20, False)[0]) == [2]  # one segment per read, from the batch holding 3


def test_log_delete_before_never_moves_start_backwards(log: PartitionLog) -> None:
    filled(log, [2, 3])
    log.delete_before(3)
    log.delete_before(1)
    assert log.log_start_offset == 3


def test_log_delete_before_past_end_stops_at_end(log: PartitionLog) -> None:
    filled(log, [2, 3])
    log.delete_before(100)
    assert (log.log_start_offset, log.log_end_offset) == (5, 5)
    assert log.read(0, 1 << 20, True) == ([], 0)
    assert log.batch_refs() == []
    assert log.append(batch(1), 1, 1_000, 0) == 5
    assert (log.log_start_offset, log.log_end_offset) == (5, 6)


def test_log_truncate_after_delete_before_keeps_start(log: PartitionLog) -> None:
    filled(log, [2, 3, 4])
    log.delete_before(5)
    log.truncate(5)
    assert (log.log_start_offset, log.log_end_offset) == (5, 5)
    assert log.read(0, 1 << 20, True) == ([], 0)
    assert log.append(batch(1), 1, 1_000, 0) == 5


# ---------------------------------------------------------------------------------------------- segments


def test_log_rolls_a_segment_when_segment_bytes_would_be_exceeded(engine) -> None:
    size = len(batch(2))
    log = engine.open_log(config=LogConfig(segment_bytes=2 * size))
    for _ in range(5):
        log.append(batch(2), 2, 1_001, 0)
    assert [(s.base_offset, s.next_offset, s.batches) for s in log.segment_infos()] == [(0, 4, 2), (4, 8, 2),
                                                                                         (8, 10, 1)]


def test_log_puts_an_oversize_batch_alone_in_a_segment(engine) -> None:
    log = engine.open_log(config=LogConfig(segment_bytes=10))
    log.append(batch(2), 2, 1_001, 0)
    log.append(batch(3), 3, 1_002, 0)
    assert [(s.base_offset, s.batches) for s in log.segment_infos()] == [(0, 1), (2, 1)]


def test_log_rolls_a_segment_when_segment_ms_has_passed(engine) -> None:
    log = engine.open_log(config=LogConfig(segment_ms=1_000), now_ms=10_000)
    log.append(batch(1), 1, 1_000, 0, now_ms=10_000)
    log.append(batch(1), 1, 1_000, 0, now_ms=10_999)
    log.append(batch(1), 1, 1_000, 0, now_ms=11_000)
    assert [s.base_offset for s in log.segment_infos()] == [0, 2]


def test_log_rolls_before_an_offset_leaves_the_segment_relative_range(engine) -> None:
    """Regression: a segment could take offsets more than 2**31-1 past its base, which the offset index cannot
    hold and recovery (rightly) calls corrupt."""
    log = engine.open_log()
    wide = memoryview(bytearray(build_batch([Record(0, 1_000, b"k", b"v")], keep_offsets=True,
                                            last_offset_delta=2**31 - 1)))
    log.append(wide, 2**31, 1_000, 0)
    assert log.append(batch(1), 1, 1_000, 0) == 2**31
    assert [s.base_offset for s in log.segment_infos()] == [0, 2**31]
    log = engine.reopen(0)
    assert log.log_end_offset == 2**31 + 1
    assert engine.store.truncated_bytes == 0


def test_log_read_returns_batches_of_one_segment_only(engine) -> None:
    log = engine.open_log(config=LogConfig(segment_bytes=1))
    filled(log, [2, 3, 4])
    assert bases(log.read(0, 1 << 20, False)[0]) == [0]
    assert bases(log.read(3, 1 << 20, False)[0]) == [2]
    assert bases(log.read(8, 1 << 20, False)[0]) == [5]


def test_log_batch_at_walks_across_segments(engine) -> None:
    log = engine.open_log(config=LogConfig(segment_bytes=1))
    filled(log, [2, 3, 4])
    assert [validate_produced(log.batch_at(i)).base_offset for i in range(3)] == [0, 2, 5]
    with pytest.raises(IndexError):
        log.batch_at(3)


def test_log_truncate_deletes_later_segments(engine) -> None:
    log = engine.open_log(config=LogConfig(segment_bytes=1))
    sizes = filled(log, [2, 3, 4])
    log.truncate(2)
    assert [s.base_offset for s in log.segment_infos()] == [0]
    assert (log.log_end_offset, log.size_bytes) == (2, sizes[0])
    assert log.append(batch(1), 1, 1_000, 0) == 2
    log = engine.reopen(0, LogConfig(segment_bytes=1))
    assert (log.log_end_offset, [r.base_offset for r in log.batch_refs()]) == (3, [0, 2])


def test_log_reopen_keeps_batches_offsets_and_bytes(engine) -> None:
    log = engine.open_log()
    filled(log, [2, 3])
    before = [bytes(b) for b in batches(log.read(0, 1 << 20, False)[0])]
    log = engine.reopen(0)
    assert (log.log_start_offset, log.log_end_offset) == (0, 5)
    assert [bytes(b) for b in batches(log.read(0, 1 << 20, False)[0])] == before
    assert log.append(batch(1), 1, 1_000, 0) == 5

"""Retention, DeleteRecords and compaction (storage/cleaner.py, storage/log.py), once per storage engine.

``engine.reopen`` restarts the disk engine (clean close, recovery); the memory engine keeps its log, so the
assertions after a reopen hold for both.
"""

from __future__ import annotations

from crc32c import crc32c
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkasim.protocol.compression import Codec
from kafkasim.protocol.records import ATTRIBUTES_OFFSET, Record, build_batch, iter_batches, iter_records, read_header
from kafkasim.storage.cleaner import Cleaned, CompactionSettings, apply_retention
from kafkasim.storage.log import Log, LogConfig

ONE_BATCH_PER_SEGMENT = LogConfig(segment_bytes=1)
DAY = 86_400_000


def values(n: int, ts: int, value_size: int = 10) -> memoryview:
    records = [Record(0, ts, f"k{i}".encode(), b"v" * value_size) for i in range(n)]
    return memoryview(bytearray(build_batch(records)))


def keyed(pairs: list[tuple[str | None, str | None]], ts: int = 1_000, **kwargs) -> memoryview:
    records = [Record(0, ts, None if k is None else k.encode(), None if v is None else v.encode()) for k, v in pairs]
    return memoryview(bytearray(build_batch(records, **kwargs)))


def put(lg: Log, pairs: list[tuple[str | None, str | None]], ts: int = 1_000, **kwargs) -> int:
    return lg.append(keyed(pairs, ts, **kwargs), len(pairs), ts, 0, ts)


def segmented(engine, timestamps: list[int], n: int = 2) -> tuple[Log, list[int]]:
    """One batch of ``n`` records per segment, with these max timestamps; the last segment is the active one."""
    lg = engine.open_log(0, ONE_BATCH_PER_SEGMENT)
    sizes = []
    for ts in timestamps:
        b = values(n, ts)
        lg.append(b, n, ts, 0, ts)
        sizes.append(len(b))
    assert len(lg.segments) == len(timestamps)
    return lg, sizes


def logged(lg: Log) -> list[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record from the log start."""
    out = []
    for i in range(len(lg.batch_refs())):
        out.extend((r.offset, r.key, r.value) for r in iter_records(lg.batch_at(i)))
    return [t for t in out if t[0] >= lg.log_start_offset]


def read_from(lg: Log, offset: int) -> list[int]:
    """Base offsets of the batches a fetch at ``offset`` gets (one segment)."""
    views, _ = lg.read(offset, 1 << 20, True)
    return [h.base_offset for v in views for h, _b in iter_batches(v)]


# ---------------------------------------------------------------------------------------------- retention


def test_retention_time_deletes_segments_older_than_retention_ms(engine) -> None:
    lg, sizes = segmented(engine, [1_000, 2_000, 3_000, 4_000])
    assert apply_retention(lg, now_ms=5_000, retention_ms=2_500, retention_bytes=-1) == 2
    assert (lg.log_start_offset, lg.log_end_offset) == (4, 8)
    assert lg.size_bytes == sizes[2] + sizes[3]
    assert [s.base_offset for s in lg.segment_infos()] == [4, 6]
    assert read_from(lg, 0) == [4]
    lg = engine.reopen(0, ONE_BATCH_PER_SEGMENT)
    assert (lg.log_start_offset, lg.log_end_offset) == (4, 8)


def test_retention_time_keeps_a_segment_exactly_retention_ms_old(engine) -> None:
    lg, _ = segmented(engine, [1_000, 2_000])
    assert apply_retention(lg, now_ms=3_000, retention_ms=2_000, retention_bytes=-1) == 0
    assert apply_retention(lg, now_ms=3_001, retention_ms=2_000, retention_bytes=-1) == 1


def test_retention_time_stops_at_the_first_segment_not_expired(engine) -> None:
    lg, _ = segmented(engine, [1_000, 9_000, 1_000, 9_500])  # as Kafka: deletion is from the oldest, in order
    assert apply_retention(lg, now_ms=10_000, retention_ms=5_000, retention_bytes=-1) == 1
    assert lg.log_start_offset == 2


def test_retention_time_deletes_the_active_segment_too(engine) -> None:
    lg, _ = segmented(engine, [1_000, 2_000, 3_000])
    assert apply_retention(lg, now_ms=DAY, retention_ms=1_000, retention_bytes=-1) == 3
    assert (lg.log_start_offset, lg.log_end_offset, lg.size_bytes) == (6, 6, 0)
    assert lg.read(0, 1 << 20, True) == ([], 0)
    assert lg.batch_refs() == []
    assert [s.base_offset for s in lg.segment_infos()] == [6]  # a new, empty active segment at the end


def test_retention_of_everything_continues_at_the_right_offset_after_reopen(engine) -> None:
    lg, _ = segmented(engine, [1_000, 2_000, 3_000])
    apply_retention(lg, now_ms=DAY, retention_ms=1_000, retention_bytes=-1)
    lg = engine.reopen(0, ONE_BATCH_PER_SEGMENT)
    assert (lg.log_start_offset, lg.log_end_offset, lg.size_bytes) == (6, 6, 0)
    assert lg.append(values(3, DAY), 3, DAY, 0, DAY) == 6
    assert read_from(lg, 0) == [6]
    lg = engine.reopen(0, ONE_BATCH_PER_SEGMENT)
    assert (lg.log_start_offset, lg.log_end_offset) == (6, 9)


def test_retention_does_not_delete_an_empty_active_segment(engine) -> None:
    lg, _ = segmented(engine, [1_000, 2_000])
    lg.roll(3_000)
    assert apply_retention(lg, now_ms=DAY, retention_ms=1_000, retention_bytes=-1) == 2
    assert (lg.log_start_offset, lg.log_end_offset) == (4, 4)
    assert [s.base_offset for s in lg.segment_infos()] == [4]


def test_retention_size_deletes_oldest_segments_while_the_rest_is_at_least_retention_bytes(engine) -> None:
    lg, sizes = segmented(engine, [1_000, 2_000, 3_000, 4_000])
    keep = sizes[2] + sizes[3]
    assert apply_retention(lg, now_ms=5_000, retention_ms=-1, retention_bytes=keep) == 2
    assert lg.size_bytes == keep and lg.log_start_offset == 4
    assert apply_retention(lg, now_ms=5_000, retention_ms=-1, retention_bytes=keep) == 0


def test_retention_size_never_goes_below_retention_bytes(engine) -> None:
    lg, sizes = segmented(engine, [1_000, 2_000, 3_000, 4_000])
    assert apply_retention(lg, now_ms=5_000, retention_ms=-1, retention_bytes=sizes[3] + 1) == 2
    assert lg.size_bytes == sizes[2] + sizes[3]
    assert apply_retention(lg, now_ms=5_000, retention_ms=-1, retention_bytes=sum(sizes)) == 0


def test_retention_size_zero_deletes_everything(engine) -> None:
    lg, _ = segmented(engine, [1_000, 2_000])
    assert apply_retention(lg, now_ms=5_000, retention_ms=-1, retention_bytes=0) == 2
    assert (lg.log_start_offset, lg.log_end_offset, lg.size_bytes) == (4, 4, 0)


def test_retention_time_and_size_add_up(engine) -> None:
    lg, sizes = segmented(engine, [1_000, 9_000, 9_000, 9_000])
    # time deletes the first; size then deletes while the remainder is at least two segments
    assert apply_retention(lg, now_ms=10_000, retention_ms=5_000, retention_bytes=sizes[2] + sizes[3]) == 2
    assert lg.log_start_offset == 4


def test_retention_disabled_deletes_nothing(engine) -> None:
    lg, _ = segmented(engine, [1_000, 2_000])
    assert apply_retention(lg, now_ms=DAY * 365, retention_ms=-1, retention_bytes=-1) == 0
    assert (lg.log_start_offset, lg.log_end_offset) == (0, 4)


# ---------------------------------------------------------------------------------------------- DeleteRecords


def test_delete_before_across_segments_deletes_those_wholly_below(engine) -> None:
    lg, sizes = segmented(engine, [1_000, 2_000, 3_000, 4_000])  # 0-1 | 2-3 | 4-5 | 6-7
    lg.delete_before(5)
    assert (lg.log_start_offset, lg.log_end_offset) == (5, 8)
    assert [s.base_offset for s in lg.segment_infos()] == [4, 6]
    assert lg.size_bytes == sizes[2] + sizes[3]
    assert read_from(lg, 0) == [4]  # the batch holding the log start offset
    assert [o for o, _k, _v in logged(lg)] == [5, 6, 7]


def test_delete_before_log_start_survives_reopen(engine) -> None:
    lg, _ = segmented(engine, [1_000, 2_000, 3_000, 4_000])
    lg.delete_before(5)
    engine.save_log_start(lg)
    lg = engine.reopen(0, ONE_BATCH_PER_SEGMENT)
    assert (lg.log_start_offset, lg.log_end_offset) == (5, 8)
    assert [o for o, _k, _v in logged(lg)] == [5, 6, 7]


def test_delete_before_end_then_reopen_continues_at_the_end(engine) -> None:
    lg, _ = segmented(engine, [1_000, 2_000])
    lg.delete_before(lg.log_end_offset)
    engine.save_log_start(lg)
    lg = engine.reopen(0, ONE_BATCH_PER_SEGMENT)
    assert (lg.log_start_offset, lg.log_end_offset) == (4, 4)
    assert lg.read(0, 1 << 20, True) == ([], 0)
    assert lg.append(values(1, 5_000), 1, 5_000, 0, 5_000) == 4


def test_retention_after_delete_before_keeps_the_later_start(engine) -> None:
    lg, _ = segmented(engine, [1_000, 2_000, 3_000, 9_000])
    lg.delete_before(5)
    engine.save_log_start(lg)
    assert apply_retention(lg, now_ms=10_000, retention_ms=5_000, retention_bytes=-1) == 1  # only 4-5 was left
    assert lg.log_start_offset == 6
    lg = engine.reopen(0, ONE_BATCH_PER_SEGMENT)
    assert (lg.log_start_offset, lg.log_end_offset) == (6, 8)


# ---------------------------------------------------------------------------------------------- compaction

KEEP_TOMBSTONES = CompactionSettings(delete_retention_ms=DAY, min_cleanable_dirty_ratio=0.5)


def compacted_log(engine) -> Log:
    """a=1 b=1 | a=2 c=1 | b=2 a=3 | d=1 (active)."""
    lg = engine.open_log(0, ONE_BATCH_PER_SEGMENT)
    for pairs in ([("a", "1"), ("b", "1")], [("a", "2"), ("c", "1")], [("b", "2"), ("a", "3")], [("d", "1")]):
        put(lg, pairs)
    return lg


def test_compact_keeps_the_latest_value_of_each_key_at_its_offset(engine) -> None:
    lg = compacted_log(engine)
    size = lg.size_bytes
    assert engine.compact(lg, 10_000, KEEP_TOMBSTONES) == Cleaned(3, 3)
    want = [(3, b"c", b"1"), (4, b"b", b"2"), (5, b"a", b"3"), (6, b"d", b"1")]
    assert logged(lg) == want
    assert (lg.log_start_offset, lg.log_end_offset) == (0, 7)
    assert lg.size_bytes < size
    assert [s.base_offset for s in lg.segment_infos()] == [0, 6]  # the cleaned segment keeps the first base
    assert read_from(lg, 0) == [2, 4] and read_from(lg, 3) == [2, 4] and read_from(lg, 5) == [4]
    assert put(lg, [("e", "1")]) == 7
    lg = engine.reopen(0, ONE_BATCH_PER_SEGMENT)
    assert logged(lg)[:4] == want
    assert (lg.log_start_offset, lg.log_end_offset) == (0, 8)  # regression: the start moved to 2 on reopen


def test_compact_rebuilt_batches_are_valid_and_keep_offsets_and_producer_fields(engine) -> None:
    lg = engine.open_log(0, ONE_BATCH_PER_SEGMENT)
    put(lg, [("a", "1"), ("b", "1"), ("a", "2")], producer_id=7, producer_epoch=2, base_sequence=10)
    put(lg, [("x", "1")])
    engine.compact(lg, 10_000, KEEP_TOMBSTONES)
    stored = lg.batch_at(0)
    h = read_header(stored)
    assert (h.base_offset, h.last_offset_delta, h.records_count) == (0, 2, 2)
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (7, 2, 10)
    assert [(r.offset, r.key) for r in iter_records(stored)] == [(1, b"b"), (2, b"a")]
    assert crc32c(stored[ATTRIBUTES_OFFSET:]) == h.crc


def test_compact_keeps_records_without_a_key(engine) -> None:
    lg = engine.open_log(0, ONE_BATCH_PER_SEGMENT)
    put(lg, [(None, "x"), ("a", "1"), (None, "y")])
    put(lg, [("a", "2"), (None, "z")])
    put(lg, [("b", "1")])
    engine.compact(lg, 10_000, KEEP_TOMBSTONES)
    assert logged(lg) == [(0, None, b"x"), (2, None, b"y"), (3, b"a", b"2"), (4, None, b"z"), (5, b"b", b"1")]


def test_compact_gives_tombstones_a_delete_horizon_then_removes_them_after_it(engine) -> None:
    lg = engine.open_log(0, ONE_BATCH_PER_SEGMENT)
    put(lg, [("a", "1"), ("b", "1")])
    put(lg, [("a", None)])  # tombstone
    put(lg, [("c", "1")])
    engine.compact(lg, 10_000, KEEP_TOMBSTONES)
    assert logged(lg) == [(1, b"b", b"1"), (2, b"a", None), (3, b"c", b"1")]
    tomb = read_header(lg.batch_at(1))
    assert tomb.delete_horizon_ms == 10_000 + DAY
    assert [r.timestamp for r in iter_records(lg.batch_at(1))] == [1_000]  # record timestamps unchanged
    engine.compact(lg, 10_000 + DAY - 1, KEEP_TOMBSTONES, force=True)
    assert (2, b"a", None) in logged(lg)
    assert read_header(lg.batch_at(1)).delete_horizon_ms == 10_000 + DAY  # not moved by a later cleaning
    put(lg, [("d", "1")])  # segment 3 full, 4 active
    assert engine.compact(lg, 10_000 + DAY, KEEP_TOMBSTONES, force=True).records_removed == 1
    assert logged(lg) == [(1, b"b", b"1"), (3, b"c", b"1"), (4, b"d", b"1")]
    assert lg.log_end_offset == 5
    lg = engine.reopen(0, ONE_BATCH_PER_SEGMENT)
    assert logged(lg) == [(1, b"b", b"1"), (3, b"c", b"1"), (4, b"d", b"1")]


def test_compact_removes_superseded_tombstones_at_once(engine) -> None:
    lg = engine.open_log(0, ONE_BATCH_PER_SEGMENT)
    put(lg, [("a", None)])
    put(lg, [("a", "2")])
    put(lg, [("z", "1")])
    engine.compact(lg, 10_000, KEEP_TOMBSTONES)
    assert logged(lg) == [(1, b"a", b"2"), (2, b"z", b"1")]


def test_compact_keeps_control_batches(engine) -> None:
    lg = engine.open_log(0, ONE_BATCH_PER_SEGMENT)
    put(lg, [("a", "1")], producer_id=5, producer_epoch=0, base_sequence=0, transactional=True)
    marker = keyed([("\x00\x00\x00\x00", "\x00\x00\x00\x00\x00\x00")], control=True, producer_id=5,
                   producer_epoch=0, transactional=True)
    lg.append(marker, 1, 1_000, 0, 1_000)
    put(lg, [("a", "2")])
    put(lg, [("z", "1")])
    engine.compact(lg, 10_000, KEEP_TOMBSTONES)
    headers = [read_header(lg.batch_at(i)) for i in range(len(lg.batch_refs()))]
    assert [(h.base_offset, h.is_control) for h in headers] == [(1, True), (2, False), (3, False)]


def test_compact_leaves_the_active_segment_untouched(engine) -> None:
    lg = engine.open_log(0, ONE_BATCH_PER_SEGMENT)
    put(lg, [("a", "1")])
    put(lg, [("b", "1")])
    put(lg, [("a", "2"), ("a", "3"), ("b", None)])  # active: supersedes, but is not cleaned
    active = bytes(lg.batch_at(2))
    assert engine.compact(lg, 10_000, KEEP_TOMBSTONES) == Cleaned(2, 0)
    assert bytes(lg.batch_at(2)) == active
    assert logged(lg) == [(0, b"a", b"1"), (1, b"b", b"1"), (2, b"a", b"2"), (3, b"a", b"3"), (4, b"b", None)]


def test_compact_of_a_log_with_only_the_active_segment_does_nothing(engine) -> None:
    lg = engine.open_log(0, LogConfig())
    put(lg, [("a", "1")])
    put(lg, [("a", "2")])
    assert engine.compact(lg, 10_000, KEEP_TOMBSTONES, force=True) == Cleaned(0, 0)
    assert len(logged(lg)) == 2


def test_compact_skips_a_log_below_the_dirty_ratio(engine) -> None:
    lg = engine.open_log(0, ONE_BATCH_PER_SEGMENT)
    for i in range(6):
        put(lg, [(f"k{i}", "v" * 50)])
    put(lg, [("x", "1")])
    assert engine.compact(lg, 10_000, KEEP_TOMBSTONES).segments == 6  # all dirty at first
    put(lg, [("k0", "new")])
    put(lg, [("y", "1")])  # two small dirty segments against a large clean one
    assert engine.compact(lg, 10_000, KEEP_TOMBSTONES) == Cleaned(0, 0)
    assert engine.compact(lg, 10_000, CompactionSettings(min_cleanable_dirty_ratio=0.01)).records_removed == 1
    assert engine.compact(lg, 10_000, KEEP_TOMBSTONES, force=True).segments == 1  # force cleans anyway


def test_compact_leaves_segments_younger_than_min_compaction_lag(engine) -> None:
    lg = engine.open_log(0, ONE_BATCH_PER_SEGMENT)
    put(lg, [("a", "1")], ts=1_000)
    put(lg, [("a", "2")], ts=1_000)
    put(lg, [("a", "3")], ts=9_000)
    put(lg, [("z", "1")], ts=9_500)
    lag = CompactionSettings(min_cleanable_dirty_ratio=0.0, min_compaction_lag_ms=5_000)
    assert engine.compact(lg, 10_000, lag) == Cleaned(2, 1)
    assert logged(lg) == [(1, b"a", b"2"), (2, b"a", b"3"), (3, b"z", b"1")]


def test_compact_keeps_the_codec_of_a_rebuilt_batch(engine) -> None:
    lg = engine.open_log(0, ONE_BATCH_PER_SEGMENT)
    put(lg, [("a", "1"), ("b", "1"), ("a", "2")], codec=Codec.GZIP)
    put(lg, [("z", "1")])
    engine.compact(lg, 10_000, KEEP_TOMBSTONES)
    assert read_header(lg.batch_at(0)).compression == Codec.GZIP
    assert logged(lg) == [(1, b"b", b"1"), (2, b"a", b"2"), (3, b"z", b"1")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]),
                                           st.sampled_from(["1", "22", None])), min_size=1, max_size=4),
                        min_size=2, max_size=8))
def test_compact_matches_a_model(engine, batches: list[list[tuple[str | None, str | None]]]) -> None:
    lg = engine.open_log(None, ONE_BATCH_PER_SEGMENT)
    records: list[tuple[int, str | None, str | None]] = []
    for pairs in batches:
        base = put(lg, pairs)
        records += [(base + i, k, v) for i, (k, v) in enumerate(pairs)]
    cleanable_end = lg.segments[-1].base_offset
    latest = {k: o for o, k, _v in records if k is not None and o < cleanable_end}
    want = [(o, k, v) for o, k, v in records
            if o >= cleanable_end or k is None or latest[k] == o]
    engine.compact(lg, 10_000, KEEP_TOMBSTONES, force=True)
    enc = [(o, None if k is None else k.encode(), None if v is None else v.encode()) for o, k, v in want]
    assert logged(lg) == enc
    assert lg.log_end_offset == len(records)
    # after the delete horizon, tombstones of the cleaned part go too
    engine.compact(lg, 10_000 + DAY, KEEP_TOMBSTONES, force=True)
    gone = [t for t in enc if t[0] < cleanable_end and t[2] is None]
    assert logged(lg) == [t for t in enc if t not in gone]

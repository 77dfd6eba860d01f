"""The on-disk engine (storage/segments.py): files, indexes, recovery of torn and corrupt tails, the data
directory's lock and clean-shutdown marker, interrupted compactions.

A crash is ``DiskStore.abandon()``: the bytes ``os.write`` put in the files stay, index entries still in
memory are lost, no clean-shutdown marker is written; the next ``open`` recovers.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkasim.protocol.records import (
    ATTRIBUTES_OFFSET,
    CRC_OFFSET,
    MAGIC_OFFSET,
    Record,
    build_batch,
    iter_batches,
    iter_records,
    read_header,
)
from kafkasim.storage.cleaner import CompactionSettings, compact
from kafkasim.storage.log import Log, LogConfig
from kafkasim.storage.segments import (
    CLEAN_SHUTDOWN,
    CorruptLogError,
    DataDirInUse,
    DiskStore,
    FileSegment,
    segment_name,
)

TOPIC = "t"
EVERY_BATCH = LogConfig(index_interval_bytes=1)  # every batch gets an index entry: the index is predictable


def batch(n: int, ts0: int = 1_000, value_size: int = 10) -> memoryview:
    records = [Record(0, ts0 + i, f"k{i}".encode(), b"v" * value_size) for i in range(n)]
    return memoryview(bytearray(build_batch(records)))


def open_store(root: Path, config: LogConfig = EVERY_BATCH) -> tuple[DiskStore, Log]:
    store = DiskStore(root)
    store.open()
    return store, store.open_log(TOPIC, 0, config, 0)


def write_partition(root: Path, counts: list[int], config: LogConfig = EVERY_BATCH, value_size: int = 10,
                    clean: bool = False) -> list[int]:
    """Append batches of ``counts`` records (timestamps growing), then crash (or close cleanly); their sizes."""
    store, lg = open_store(root, config)
    sizes = []
    for i, n in enumerate(counts):
        b = batch(n, ts0=1_000 * (i + 1), value_size=value_size)
        lg.append(b, n, 1_000 * (i + 1) + n - 1, 0)
        sizes.append(len(b))
    if clean:
        store.close()
    else:
        store.abandon()
    return sizes


def part_dir(root: Path) -> Path:
    return root / f"{TOPIC}-0"


def seg_path(root: Path, base: int = 0, suffix: str = ".log") -> Path:
    return part_dir(root) / (segment_name(base) + suffix)


def logged(lg: Log) -> list[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record, across segments (reads go one segment at a time)."""
    out = []
    for i in range(len(lg.batch_refs())):
        out.extend((r.offset, r.key, r.value) for r in iter_records(lg.batch_at(i)))
    return out


def check_indexes(directory: Path, interval: int | None = 1) -> None:
    """Every segment's index files describe its log file: entries point at batch starts with the batch's last
    offset, in order, the first batch always indexed; the time index only grows. With ``interval`` 1 (every
    batch indexed) the files must hold exactly one entry per batch."""
    for log_file in sorted(directory.glob("*.log")):
        base = int(log_file.stem)
        data = log_file.read_bytes()
        pos = 0
        at: dict[int, tuple[int, int]] = {}  # position -> (relative last offset, max timestamp)
        for h, b in iter_batches(data):
            at[pos] = (h.last_offset - base, h.max_timestamp)
            pos += len(b)
        assert pos == len(data), f"{log_file}: trailing bytes"
        idx_file, time_file = log_file.with_suffix(".index"), log_file.with_suffix(".timeindex")
        idx = idx_file.read_bytes() if idx_file.exists() else b""
        tix = time_file.read_bytes() if time_file.exists() else b""
        assert len(idx) % 8 == 0 and len(tix) % 12 == 0
        entries = [struct.unpack_from(">II", idx, k) for k in range(0, len(idx), 8)]
        times = [struct.unpack_from(">qI", tix, k) for k in range(0, len(tix), 12)]
        for rel, p in entries:
            assert p in at and at[p][0] == rel, f"{log_file}: index entry ({rel}, {p}) is not a batch"
        assert [p for _r, p in entries] == sorted({p for _r, p in entries})
        if at:
            assert entries and entries[0][1] == 0, f"{log_file}: first batch not indexed"
        rels = {rel for rel, _ts in at.values()}
        for _ts, rel in times:
            assert rel in rels
        assert [ts for ts, _r in times] == sorted({ts for ts, _r in times})
        if interval == 1:
            assert entries == [(rel, p) for p, (rel, _ts) in sorted(at.items())]


# ---------------------------------------------------------------------------------------------- files


def test_disk_segment_file_holds_the_batches_as_served(tmp_path: Path) -> None:
    store, lg = open_store(tmp_path)
    lg.append(batch(2), 2, 1_001, 5)
    lg.append(batch(3), 3, 1_002, 5)
    store.close()
    data = seg_path(tmp_path).read_bytes()
    headers = [h for h, _b in iter_batches(data)]
    assert [(h.base_offset, h.last_offset, h.partition_leader_epoch) for h in headers] == [(0, 1, 5), (2, 4, 5)]
    assert (tmp_path / CLEAN_SHUTDOWN).exists()
    check_indexes(part_dir(tmp_path))


def test_disk_segment_files_are_named_by_base_offset(tmp_path: Path) -> None:
    sizes = write_partition(tmp_path, [2, 3, 4], LogConfig(segment_bytes=1, index_interval_bytes=1), clean=True)
    names = sorted(p.name for p in part_dir(tmp_path).glob("*.log"))
    assert names == [segment_name(0) + ".log", segment_name(2) + ".log", segment_name(5) + ".log"]
    assert [seg_path(tmp_path, b).stat().st_size for b in (0, 2, 5)] == sizes


@pytest.mark.parametrize("interval", [1, 150, 4096])
def test_disk_indexes_point_at_batches_every_interval_bytes(tmp_path: Path, interval: int) -> None:
    write_partition(tmp_path, [1, 2, 3, 1, 2, 3, 1, 2], LogConfig(index_interval_bytes=interval), clean=True)
    check_indexes(part_dir(tmp_path), interval)
    entries = seg_path(tmp_path, suffix=".index").read_bytes()
    assert len(entries) // 8 == {1: 8, 150: 4, 4096: 1}[interval]


def test_disk_reopen_after_clean_close_keeps_offsets_bytes_and_indexes(tmp_path: Path) -> None:
    write_partition(tmp_path, [2, 3], clean=True)
    index_before = seg_path(tmp_path, suffix=".index").read_bytes()
    store, lg = open_store(tmp_path)
    assert store.clean and store.truncated_bytes == 0
    assert not (tmp_path / CLEAN_SHUTDOWN).exists()  # removed while the directory is in use
    assert (lg.log_start_offset, lg.log_end_offset) == (0, 5)
    assert [r.offset for r in iter_records(lg.batch_at(1))] == [2, 3, 4]
    assert lg.append(batch(1), 1, 3_000, 0) == 5
    store.close()
    assert seg_path(tmp_path, suffix=".index").read_bytes()[:len(index_before)] == index_before
    check_indexes(part_dir(tmp_path))


def test_disk_reopen_restores_segment_bookkeeping(tmp_path: Path) -> None:
    config = LogConfig(segment_bytes=200, index_interval_bytes=1)
    store, lg = open_store(tmp_path, config)
    for i in range(6):
        lg.append(batch(2, ts0=10_000 + i), 2, 10_001 + i, 0)
    infos = [(s.base_offset, s.next_offset, s.size_bytes, s.batches, s.max_timestamp) for s in lg.segment_infos()]
    refs = lg.batch_refs()
    size = lg.size_bytes
    store.close()
    store, lg = open_store(tmp_path, config)
    assert [(s.base_offset, s.next_offset, s.size_bytes, s.batches, s.max_timestamp)
            for s in lg.segment_infos()] == infos
    assert lg.batch_refs() == refs and lg.size_bytes == size
    store.close()


def test_disk_crash_loses_no_appended_batch_and_rebuilds_the_indexes(tmp_path: Path) -> None:
    write_partition(tmp_path, [2, 3, 1])  # crash: index entries were only in memory
    assert not seg_path(tmp_path, suffix=".index").exists()
    store, lg = open_store(tmp_path)
    assert not store.clean and store.truncated_bytes == 0
    assert lg.log_end_offset == 6
    check_indexes(part_dir(tmp_path))
    store.close()


def test_disk_data_dir_is_locked_while_in_use(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    store.open()
    with pytest.raises(DataDirInUse, match=str(tmp_path)):
        DiskStore(tmp_path).open()
    store.abandon()  # a crash releases the lock too
    again = DiskStore(tmp_path)
    again.open()
    assert not again.clean
    again.close()


def test_disk_rejects_an_unknown_fsync_policy(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fsync policy"):
        DiskStore(tmp_path, fsync="sometimes")


def test_disk_drop_log_removes_the_partition_directory(tmp_path: Path) -> None:
    store, lg = open_store(tmp_path)
    lg.append(batch(1), 1, 1_000, 0)
    store.drop_log(TOPIC, 0)
    assert not part_dir(tmp_path).exists()
    assert list(store.partition_dirs()) == []
    store.close()


def test_disk_partition_dirs_skip_the_metadata_log(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    store.open()
    store.metadata_log(0).append(batch(1), 1, 1_000, 0)
    store.open_log("my-topic", 3, LogConfig(), 0).append(batch(1), 1, 1_000, 0)
    store.open_log(TOPIC, 0, LogConfig(), 0).append(batch(1), 1, 1_000, 0)
    assert [(t, p) for t, p, _d in store.partition_dirs()] == [("my-topic", 3), (TOPIC, 0)]


def test_disk_new_partition_creates_its_directory_with_its_first_record(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    store.open()
    lg = store.open_log(TOPIC, 0, LogConfig(), 0)
    assert not part_dir(tmp_path).exists()  # 10,000 new partitions cost no files until written
    assert lg.read(0, 1 << 20, True) == ([], 0)
    lg.append(batch(2), 2, 1_000, 0)
    assert (part_dir(tmp_path) / (segment_name(0) + ".log")).exists()
    store.close()
    store.close()


# ---------------------------------------------------------------------------------------------- torn writes


def assert_recovered_to(root: Path, data: bytes, keep: int, end_offset: int, config: LogConfig = EVERY_BATCH,
                        base: int = 0, truncated: int | None = None) -> None:
    """Reopen after a crash: the last segment (``base``) holds exactly ``data[:keep]`` (``truncated`` bytes were
    cut from it), reads and appends agree, the indexes describe the files."""
    store, lg = open_store(root, config)
    try:
        assert not store.clean
        if truncated is not None:
            assert store.truncated_bytes == truncated
        assert lg.log_end_offset == end_offset
        assert seg_path(root, base).read_bytes() == data[:keep]
        views, total = lg.read(base, 1 << 20, False)
        assert b"".join(bytes(v) for v in views) == data[:keep] and total == keep
        check_indexes(part_dir(root))
        assert lg.append(batch(2, ts0=99_000), 2, 99_001, 0) == end_offset
        assert [r.offset for r in iter_records(lg.batch_at(len(lg.batch_refs()) - 1))] == [end_offset,
                                                                                          end_offset + 1]
    finally:
        store.abandon()


def test_disk_torn_last_batch_recovers_to_last_whole_batch_at_every_byte(tmp_path: Path) -> None:
    counts = [2, 3, 1, 4]
    sizes = write_partition(tmp_path, counts)
    path = seg_path(tmp_path)
    data = path.read_bytes()
    last_start = sum(sizes[:-1])
    for cut in range(last_start, len(data)):
        path.write_bytes(data[:cut])
        assert_recovered_to(tmp_path, data, last_start, sum(counts[:-1]), truncated=cut - last_start)


def test_disk_torn_only_batch_of_last_segment_leaves_it_empty(tmp_path: Path) -> None:
    config = LogConfig(segment_bytes=1, index_interval_bytes=1)  # one batch per segment
    counts = [2, 3, 4]
    write_partition(tmp_path, counts, config)
    last = seg_path(tmp_path, 5)
    data = last.read_bytes()
    for cut in range(0, len(data), 7):
        last.write_bytes(data[:cut])
        assert_recovered_to(tmp_path, data, 0, 5, config, base=5, truncated=cut)


def test_disk_torn_last_batch_of_last_of_several_segments(tmp_path: Path) -> None:
    config = LogConfig(segment_bytes=300, index_interval_bytes=1)
    counts = [2, 2, 2, 2, 2, 2]
    sizes = write_partition(tmp_path, counts, config)
    store, lg = open_store(tmp_path, config)
    last_base = lg.segment_infos()[-1].base_offset
    in_last = lg.segment_infos()[-1].batches
    store.abandon()
    assert in_last >= 2 and last_base > 0
    path = seg_path(tmp_path, last_base)
    data = path.read_bytes()
    keep = len(data) - sizes[-1]
    for cut in range(keep + 1, len(data)):
        path.write_bytes(data[:cut])
        assert_recovered_to(tmp_path, data, keep, sum(counts[:-1]), config, base=last_base, truncated=cut - keep)


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(1, 5), min_size=1, max_size=6), value_size=st.integers(0, 40), data=st.data())
def test_disk_cut_anywhere_recovers_the_whole_batches_before_the_cut(tmp_path_factory: pytest.TempPathFactory,
                                                                      counts: list[int], value_size: int,
                                                                      data: st.DataObject) -> None:
    root = tmp_path_factory.mktemp("cut")
    sizes = write_partition(root, counts, value_size=value_size)
    path = seg_path(root)
    whole = path.read_bytes()
    cut = data.draw(st.integers(0, len(whole)), label="cut")
    path.write_bytes(whole[:cut])
    ends = [sum(sizes[:i + 1]) for i in range(len(sizes))]
    kept = max([i + 1 for i, e in enumerate(ends) if e <= cut], default=0)
    assert_recovered_to(root, whole, sum(sizes[:kept]), sum(counts[:kept]))


# ---------------------------------------------------------------------------------------------- flipped bits


def flip(data: bytes, pos: int, bit: int) -> bytes:
    out = bytearray(data)
    out[pos] ^= 1 << bit
    return bytes(out)


def last_batch_flips(size: int) -> list[tuple[int, int]]:
    """(byte, bit) positions in a batch: every bit of the length, magic and CRC fields, the high half of the
    base offset, and one bit of every byte of the CRC-covered body."""
    spots = [(pos, bit) for pos in range(8, 12) for bit in range(8)]  # batchLength
    spots += [(MAGIC_OFFSET, bit) for bit in range(8)]
    spots += [(pos, bit) for pos in range(CRC_OFFSET, CRC_OFFSET + 4) for bit in range(8)]
    spots += [(pos, bit) for pos in range(0, 4) for bit in range(8)]  # baseOffset bits 32-63
    spots += [(pos, pos % 8) for pos in range(ATTRIBUTES_OFFSET, size)]
    return spots


def test_disk_flipped_bit_in_last_batch_is_detected_and_truncated(tmp_path: Path) -> None:
    counts = [2, 3, 4]
    sizes = write_partition(tmp_path, counts)
    path = seg_path(tmp_path)
    data = path.read_bytes()
    last_start = sum(sizes[:-1])
    for pos, bit in last_batch_flips(sizes[-1]):
        path.write_bytes(flip(data, last_start + pos, bit))
        store, lg = open_store(tmp_path)
        try:
            assert lg.log_end_offset == sum(counts[:-1]), (pos, bit)
            assert store.truncated_bytes == sizes[-1], (pos, bit)
            assert path.read_bytes() == data[:last_start]
            check_indexes(part_dir(tmp_path))
        finally:
            store.abandon()


def test_disk_flipped_base_offset_high_bit_of_last_batch_keeps_offsets_in_range(tmp_path: Path) -> None:
    """Regression: a flipped high bit of the base offset (outside the CRC) jumped the log end to ~2**40 and, with
    a dense index, failed the start with struct.error; the segment's offset range (Kafka's: relative offsets
    fit an int32) now catches it."""
    sizes = write_partition(tmp_path, [2, 3])
    path = seg_path(tmp_path)
    path.write_bytes(flip(path.read_bytes(), sizes[0] + 2, 0))  # bit 40
    store, lg = open_store(tmp_path)
    assert lg.log_end_offset == 2
    assert store.truncated_bytes == sizes[1]
    store.close()


def test_disk_flipped_partition_leader_epoch_is_outside_the_crc_and_kept(tmp_path: Path) -> None:
    """As in Kafka, the base offset and partition leader epoch are not covered by the CRC (they are rewritten
    in place when a batch is appended); a flip there is only caught when it breaks the offset order."""
    sizes = write_partition(tmp_path, [2, 3])
    path = seg_path(tmp_path)
    path.write_bytes(flip(path.read_bytes(), sizes[0] + 13, 1))
    store, lg = open_store(tmp_path)
    assert lg.log_end_offset == 5 and store.truncated_bytes == 0
    store.close()


@pytest.mark.parametrize("where", ["body", "crc", "magic", "offset order"])
def test_disk_flipped_bit_in_non_last_segment_raises_corrupt_log_error_naming_the_file(tmp_path: Path,
                                                                                        where: str) -> None:
    config = LogConfig(segment_bytes=1, index_interval_bytes=1)
    sizes = write_partition(tmp_path, [2, 3, 4], config)
    middle = seg_path(tmp_path, 2)
    original = middle.read_bytes()
    pos = {"body": sizes[1] - 3, "crc": CRC_OFFSET + 1, "magic": MAGIC_OFFSET, "offset order": 7}[where]
    middle.write_bytes(flip(original, pos, 1))  # offset order: base offset 2 -> 0, below the segment's base
    store = DiskStore(tmp_path)
    store.open()
    with pytest.raises(CorruptLogError, match=str(middle)):
        store.open_log(TOPIC, 0, config, 0)
    store.abandon()
    assert middle.stat().st_size == sizes[1]  # nothing truncated: records after it would be lost


def test_disk_corrupt_log_error_then_close_does_not_mark_the_directory_clean(tmp_path: Path) -> None:
    """Regression: closing a store after a CorruptLogError wrote the clean-shutdown marker, so the next start
    skipped the CRC checks and served the corrupt batch."""
    config = LogConfig(segment_bytes=1, index_interval_bytes=1)
    sizes = write_partition(tmp_path, [2, 3, 4], config)
    middle = seg_path(tmp_path, 2)
    middle.write_bytes(flip(middle.read_bytes(), sizes[1] - 3, 1))
    store = DiskStore(tmp_path)
    store.open()
    with pytest.raises(CorruptLogError):
        store.open_log(TOPIC, 0, config, 0)
    store.close()
    store = DiskStore(tmp_path)
    store.open()
    assert not store.clean
    with pytest.raises(CorruptLogError):
        store.open_log(TOPIC, 0, config, 0)
    store.abandon()


def test_disk_store_reopened_after_a_repair_starts_afresh(tmp_path: Path) -> None:
    """The same DiskStore object closed and opened again: what the failed start noted (a recovery failure, the
    bytes it truncated) does not carry over."""
    config = LogConfig(segment_bytes=1, index_interval_bytes=1)
    sizes = write_partition(tmp_path, [2, 3, 4], config)
    last, middle = seg_path(tmp_path, 5), seg_path(tmp_path, 2)
    last.write_bytes(last.read_bytes()[:-1])
    good = middle.read_bytes()
    middle.write_bytes(flip(good, sizes[1] - 3, 1))
    store = DiskStore(tmp_path)
    store.open()
    with pytest.raises(CorruptLogError):
        store.open_log(TOPIC, 0, config, 0)
    store.close()
    middle.write_bytes(good)
    store.open()
    assert not store.clean
    store.open_log(TOPIC, 0, config, 0)
    assert store.truncated_bytes == sizes[2] - 1
    store.close()
    store.open()
    assert store.clean and store.truncated_bytes == 0
    store.close()


def test_disk_clean_shutdown_skips_crc_checks_so_a_flipped_body_bit_is_kept(tmp_path: Path) -> None:
    """After a clean shutdown the files were fsynced and closed by us: recovery checks structure only (length,
    magic, offsets), not CRCs, as Kafka skips recovery after a clean shutdown."""
    sizes = write_partition(tmp_path, [2, 3], clean=True)
    path = seg_path(tmp_path)
    damaged = flip(path.read_bytes(), len(path.read_bytes()) - 2, 3)
    path.write_bytes(damaged)
    store, lg = open_store(tmp_path)
    assert store.clean and store.truncated_bytes == 0
    assert lg.log_end_offset == 5
    last = lg.batch_at(1)
    assert crc32c(last[ATTRIBUTES_OFFSET:]) != read_header(last).crc  # served as it is on disk
    store.abandon()
    store, lg = open_store(tmp_path)  # the next unclean start does check it
    assert lg.log_end_offset == 2 and store.truncated_bytes == sizes[1]
    store.close()


def test_disk_clean_shutdown_still_truncates_a_torn_tail(tmp_path: Path) -> None:
    sizes = write_partition(tmp_path, [2, 3], clean=True)
    path = seg_path(tmp_path)
    path.write_bytes(path.read_bytes()[:-5])
    store, lg = open_store(tmp_path)
    assert store.clean
    assert lg.log_end_offset == 2 and store.truncated_bytes == sizes[1] - 5
    store.close()


def test_disk_clean_shutdown_still_rejects_bad_magic_in_non_last_segment(tmp_path: Path) -> None:
    config = LogConfig(segment_bytes=1, index_interval_bytes=1)
    write_partition(tmp_path, [2, 3], config, clean=True)
    first = seg_path(tmp_path, 0)
    first.write_bytes(flip(first.read_bytes(), MAGIC_OFFSET, 0))
    store = DiskStore(tmp_path)
    store.open()
    with pytest.raises(CorruptLogError, match="bad magic"):
        store.open_log(TOPIC, 0, config, 0)
    store.abandon()


# ---------------------------------------------------------------------------------------------- log start


def test_disk_log_start_offset_file_survives_reopen(tmp_path: Path) -> None:
    store, lg = open_store(tmp_path)
    for _ in range(3):
        lg.append(batch(2), 2, 1_001, 0)
    lg.delete_before(3)
    store.save_log_start(TOPIC, 0, lg.log_start_offset)
    store.abandon()
    store, lg = open_store(tmp_path)
    assert (lg.log_start_offset, lg.log_end_offset) == (3, 6)
    store.close()


def test_disk_log_start_offset_past_a_truncated_tail_is_capped_at_the_end(tmp_path: Path) -> None:
    sizes = write_partition(tmp_path, [2, 3])
    (part_dir(tmp_path) / "log-start-offset").write_text("4\n")
    path = seg_path(tmp_path)
    path.write_bytes(path.read_bytes()[:sizes[0] + 10])
    store, lg = open_store(tmp_path)
    assert (lg.log_start_offset, lg.log_end_offset) == (2, 2)
    assert lg.append(batch(1), 1, 5_000, 0) == 2
    store.close()


def test_disk_retention_of_everything_then_crash_continues_at_the_end(tmp_path: Path) -> None:
    config = LogConfig(segment_bytes=1, index_interval_bytes=1)
    store, lg = open_store(tmp_path, config)
    for i in range(3):
        lg.append(batch(2), 2, 1_000 + i, 0)
    lg.delete_oldest_segments(3, 5_000)  # what retention does when every segment expired
    store.abandon()
    assert sorted(p.name for p in part_dir(tmp_path).glob("*.log")) == [segment_name(6) + ".log"]
    store, lg = open_store(tmp_path, config)
    assert (lg.log_start_offset, lg.log_end_offset, lg.size_bytes) == (6, 6, 0)
    assert lg.append(batch(1), 1, 9_000, 0) == 6
    store.close()


# ---------------------------------------------------------------------------------------------- compaction files


def keyed(pairs: list[tuple[str, str | None]], ts: int = 1_000) -> memoryview:
    records = [Record(0, ts, k.encode(), None if v is None else v.encode()) for k, v in pairs]
    return memoryview(bytearray(build_batch(records)))


def compaction_fixture(root: Path) -> tuple[DiskStore, Log, LogConfig]:
    """Three full segments with superseded keys, then the active one."""
    config = LogConfig(segment_bytes=1, index_interval_bytes=1)
    store, lg = open_store(root, config)
    for pairs in ([("a", "1"), ("b", "1")], [("a", "2"), ("c", "1")], [("b", "2"), ("a", "3")], [("d", "1")]):
        lg.append(keyed(pairs), len(pairs), 1_000, 0)
    return store, lg, config


COMPACTED = [(3, b"c", b"1"), (4, b"b", b"2"), (5, b"a", b"3"), (6, b"d", b"1")]  # batch 0-1 dropped whole
NOT_COMPACTED = [(0, b"a", b"1"), (1, b"b", b"1"), (2, b"a", b"2"), (3, b"c", b"1"), (4, b"b", b"2"),
                 (5, b"a", b"3"), (6, b"d", b"1")]


class Crash(Exception):
    pass


def compact_until_crash(store: DiskStore, lg: Log, crash: str | None) -> None:
    """Compact; with ``crash``, stop as a crash would: while writing the cleaned file ("write"), after the swap
    file is durable ("commit"), or after the old segments are deleted, before the final rename ("replace")."""
    made: list[FileSegment] = []

    def new_segment(base: int, ms: int) -> FileSegment:
        made.append(store.new_cleaned_segment(TOPIC, 0, base, ms))
        return made[-1]

    def commit(seg) -> None:
        if crash == "write":
            raise Crash
        store.commit_cleaned(seg)
        if crash == "commit":
            raise Crash

    def finish(seg) -> None:
        if crash == "replace":
            raise Crash
        store.finish_cleaned(seg)

    if crash is None:
        compact(lg, 10_000, CompactionSettings(), new_segment, commit, finish, force=True)
        return
    with pytest.raises(Crash):
        compact(lg, 10_000, CompactionSettings(), new_segment, commit, finish, force=True)
    store.abandon()
    for seg in made:
        seg.abandon()


def test_disk_compaction_replaces_segments_by_one_cleaned_file(tmp_path: Path) -> None:
    store, lg, config = compaction_fixture(tmp_path)
    compact_until_crash(store, lg, None)
    assert sorted(p.name for p in part_dir(tmp_path).iterdir() if p.suffix != ".index" and p.suffix != ".timeindex"
                  ) == [segment_name(0) + ".log", segment_name(6) + ".log"]
    assert logged(lg) == COMPACTED
    store.abandon()  # an unclean start re-checks every CRC, the rebuilt batches' too
    store, lg = open_store(tmp_path, config)
    assert store.truncated_bytes == 0 and logged(lg) == COMPACTED
    check_indexes(part_dir(tmp_path))
    store.close()


def test_disk_compaction_again_after_reopen_replaces_the_cleaned_file(tmp_path: Path) -> None:
    store, lg, config = compaction_fixture(tmp_path)
    compact_until_crash(store, lg, None)
    store.close()
    store, lg = open_store(tmp_path, config)
    lg.append(keyed([("c", "2")]), 1, 1_000, 0)  # supersedes c=1 in the cleaned segment; 6 is full now
    lg.append(keyed([("e", "1")]), 1, 1_000, 0)
    compact_until_crash(store, lg, None)
    want = [(4, b"b", b"2"), (5, b"a", b"3"), (6, b"d", b"1"), (7, b"c", b"2"), (8, b"e", b"1")]
    assert logged(lg) == want
    store.abandon()
    store, lg = open_store(tmp_path, config)
    assert logged(lg) == want and store.truncated_bytes == 0
    assert [s.base_offset for s in lg.segment_infos()] == [0, 8]
    check_indexes(part_dir(tmp_path))
    store.close()


def test_disk_compaction_keeps_the_log_start_offset_across_reopen(tmp_path: Path) -> None:
    """Regression: offsets 0-1 were compacted away, and a restart moved the log start offset from 0 (the cleaned
    segment's base offset, as Kafka keeps it) to 2 (its first batch), changing ListOffsets(EARLIEST)."""
    store, lg, config = compaction_fixture(tmp_path)
    compact_until_crash(store, lg, None)
    assert (lg.log_start_offset, lg.log_end_offset) == (0, 7)
    store.close()
    store, lg = open_store(tmp_path, config)
    assert (lg.log_start_offset, lg.log_end_offset) == (0, 7)
    store.close()


def test_disk_compaction_leftover_cleaned_file_is_rolled_back(tmp_path: Path) -> None:
    store, lg, config = compaction_fixture(tmp_path)
    compact_until_crash(store, lg, "write")
    assert seg_path(tmp_path, 0, ".cleaned").stat().st_size > 0
    store, lg = open_store(tmp_path, config)
    assert not list(part_dir(tmp_path).glob("*.cleaned"))
    assert logged(lg) == NOT_COMPACTED
    assert store.truncated_bytes == 0
    check_indexes(part_dir(tmp_path))
    store.close()


@pytest.mark.parametrize("crash", ["commit", "commit, first old segment deleted", "replace"])
def test_disk_compaction_leftover_swap_file_is_finished(tmp_path: Path, crash: str) -> None:
    store, lg, config = compaction_fixture(tmp_path)
    compact_until_crash(store, lg, crash.split(",")[0])
    assert seg_path(tmp_path, 0, ".swap").exists()
    old = sorted(p.name for p in part_dir(tmp_path).glob("*.log"))
    assert old == ([segment_name(6) + ".log"] if crash == "replace"
                   else [segment_name(b) + ".log" for b in (0, 2, 4, 6)])
    if crash == "commit, first old segment deleted":
        seg_path(tmp_path, 0).unlink()
    store, lg = open_store(tmp_path, config)
    assert not list(part_dir(tmp_path).glob("*.swap"))
    assert sorted(p.name for p in part_dir(tmp_path).glob("*.log")) == [segment_name(0) + ".log",
                                                                        segment_name(6) + ".log"]
    assert logged(lg) == COMPACTED
    assert (lg.log_start_offset, lg.log_end_offset) == (0, 7)
    assert store.truncated_bytes == 0
    check_indexes(part_dir(tmp_path))
    assert lg.append(keyed([("e", "1")]), 1, 1_000, 0) == 7
    store.close()


def test_disk_compaction_leaves_the_old_segment_index_alone_until_the_swap(tmp_path: Path) -> None:
    """Regression: the cleaned file BASE.cleaned wrote its index entries to BASE.index, the index of the old
    segment it replaces, while that segment was still live (and kept, if the compaction then failed)."""
    store, lg, config = compaction_fixture(tmp_path)
    lg.flush()
    for seg in lg.segments:
        seg.flush()
    old_index = seg_path(tmp_path, 0, ".index").read_bytes()
    seen: list[bytes] = []

    def commit(seg) -> None:
        store.commit_cleaned(seg)
        seen.append(seg_path(tmp_path, 0, ".index").read_bytes())

    compact(lg, 10_000, CompactionSettings(), lambda base, ms: store.new_cleaned_segment(TOPIC, 0, base, ms),
            commit, store.finish_cleaned, force=True)
    assert seen == [old_index]
    store.close()
    check_indexes(part_dir(tmp_path))


def test_disk_cleaned_segment_uses_the_log_index_interval(tmp_path: Path) -> None:
    """Regression: cleaned segments were indexed every 4096 bytes whatever the topic's index.interval.bytes."""
    store, lg, _config = compaction_fixture(tmp_path)
    compact_until_crash(store, lg, None)
    store.close()
    check_indexes(part_dir(tmp_path), interval=1)  # every batch of the cleaned segment indexed, as configured

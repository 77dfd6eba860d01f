"""Read a data directory without a broker (``kafkasim inspect``): partitions, segments, batches, records.

Nothing here writes: damaged files are reported (where the walk stopped and why), never repaired; a broker
may be running on the directory meanwhile.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from kafkasim.protocol.records import ATTR_CONTROL, ATTR_TIMESTAMP_TYPE, ATTR_TRANSACTIONAL, Record, iter_records
from kafkasim.storage.segments import (
    CLEAN_SHUTDOWN,
    INDEX_SUFFIX,
    LOG_SUFFIX,
    METADATA_DIR,
    TIMEINDEX_SUFFIX,
    partition_dirs,
    read_log_start,
    segment_files,
    segment_name,
    walk_segment,
)


class BatchSummary(NamedTuple):
    position: int
    size: int
    base_offset: int
    last_offset: int
    records: int
    base_timestamp: int
    max_timestamp: int
    codec: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    transactional: bool
    control: bool
    log_append_time: bool


class SegmentReport(NamedTuple):
    path: Path
    base_offset: int
    size: int
    index_entries: int
    time_index_entries: int
    batches: list[BatchSummary]
    problem: str | None  # why the walk stopped before the end of the file
    good_bytes: int  # bytes before the problem


class PartitionDir(NamedTuple):
    topic: str
    partition: int
    path: Path


def clean_shutdown(data_dir: str | os.PathLike) -> bool:
    return (Path(data_dir) / CLEAN_SHUTDOWN).exists()


def partitions(data_dir: str | os.PathLike) -> list[PartitionDir]:
    """Every partition directory, the metadata log's (``__cluster_metadata``, 0) included."""
    return [PartitionDir(*d) for d in partition_dirs(Path(data_dir))]


def log_start_offset(directory: Path) -> int | None:
    return read_log_start(directory)


def _entries(path: Path, width: int) -> int:
    try:
        return path.stat().st_size // width
    except OSError:
        return 0


def segments(directory: Path, check_crc: bool = True) -> list[SegmentReport]:
    """Walk every segment of a partition directory, batch by batch."""
    out = []
    for base in segment_files(directory):
        path = directory / (segment_name(base) + LOG_SUFFIX)
        batches: list[BatchSummary] = []

        def visit(pos: int, n: int, h: tuple, batches: list[BatchSummary] = batches) -> None:
            attrs = h[5]
            batches.append(BatchSummary(pos, n, h[0], h[0] + h[6], h[12], h[7], h[8], attrs & 7, h[9], h[10], h[11],
                                        bool(attrs & ATTR_TRANSACTIONAL), bool(attrs & ATTR_CONTROL),
                                        bool(attrs & ATTR_TIMESTAMP_TYPE)))

        size = path.stat().st_size
        good, problem = 0, None
        if size:
            with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as mm:
                view = memoryview(mm)
                try:
                    good, problem = walk_segment(view, size, base, check_crc, visit)
                finally:
                    view.release()
        out.append(SegmentReport(path, base, size, _entries(path.with_suffix(INDEX_SUFFIX), 8),
                                 _entries(path.with_suffix(TIMEINDEX_SUFFIX), 12), batches, problem, good))
    return out


def records(report: SegmentReport, from_offset: int = 0) -> Iterator[tuple[BatchSummary, Record]]:
    """Decode the records of a segment's whole batches, from ``from_offset``."""
    with open(report.path, "rb") as f:
        for b in report.batches:
            if b.last_offset < from_offset:
                continue
            data = os.pread(f.fileno(), b.size, b.position)
            for rec in iter_records(data):
                if rec.offset >= from_offset:
                    yield b, rec


__all__ = ["BatchSummary", "SegmentReport", "PartitionDir", "partitions", "segments", "records", "clean_shutdown",
           "log_start_offset", "METADATA_DIR"]

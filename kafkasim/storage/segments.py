"""On-disk storage engine: segment files of raw record batches, an offset index and a time index, recovery.

Layout of a data directory (after Kafka's)::

    DATA_DIR/
      .lock                          held (flock) while a broker uses the directory
      .kafkasim_cleanshutdown        written on a clean stop, removed at start
      __cluster_metadata-0/          the metadata log: topics, configs, committed offsets, groups
      TOPIC-PARTITION/
        00000000000000000000.log        record batches exactly as served (base offsets assigned)
        00000000000000000000.index      offset index: (offset - base u32, position u32) every
                                        index.interval.bytes of log, for the largest offset of a batch
        00000000000000000000.timeindex  time index: (timestamp i64, offset - base u32) whenever the
                                        segment's max timestamp grows, at the same interval
        log-start-offset                the log start offset when DeleteRecords moved it inside a segment

Appends are written with ``os.write`` (the page cache, so a killed process loses nothing acknowledged);
the flush policy decides when they are fsynced: ``always`` before a Produce is acknowledged, ``interval``
periodically, ``never`` leaves it to the operating system.

Recovery: every segment is scanned batch by batch (length, magic, offsets in order and within the
segment's relative range; CRC32C too after an unclean stop, as Kafka skips recovery after a clean one). In
the last segment of a partition the first torn or corrupt batch and everything after it is truncated away,
with a warning; in any other segment corruption is an error naming the file and position
(:class:`CorruptLogError`), because dropping it silently would lose acknowledged records in the middle of
the log, and a store closed after that error is not marked clean. Indexes are rebuilt from the scan.
Compaction writes ``BASE.cleaned``, renames it ``BASE.swap`` once it is durable, deletes the old segments
and renames the swap file to ``BASE.log``, and only then writes ``BASE.index`` and ``BASE.timeindex``
(until then they belong to the old segment); a crash at any point is finished or rolled back at the next
start. :meth:`DiskStore.abandon` leaves the directory as a crash would.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import mmap
import os
import shutil
import struct
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path

from crc32c import crc32c

from kafkasim.config import FSYNC_POLICIES
from kafkasim.protocol.records import (
    ATTR_CONTROL,
    ATTR_TRANSACTIONAL,
    ATTRIBUTES_OFFSET,
    HEADER_SIZE,
    HEADER_STRUCT,
    LOG_OVERHEAD,
    MAGIC_OFFSET,
    control_type,
)
from kafkasim.storage.log import MAX_RELATIVE_OFFSET, Log, LogConfig, Segment

log = logging.getLogger(__name__)

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIMEINDEX_SUFFIX = ".timeindex"
CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"
CLEAN_SHUTDOWN = ".kafkasim_cleanshutdown"
LOCK_FILE = ".lock"
METADATA_TOPIC = "__cluster_metadata"
METADATA_DIR = METADATA_TOPIC + "-0"
LOG_START_FILE = "log-start-offset"

_OFFSET_ENTRY = struct.Struct(">II")
_TIME_ENTRY = struct.Struct(">qI")


#: (base offset, last offset delta, max timestamp, producer id, epoch, base sequence, count, transactional,
#: control marker type or -1)
BatchCallback = Callable[[int, int, int, int, int, int, int, bool, int], None]


class DataDirInUse(Exception):
    """Another broker holds the data directory's lock."""


class CorruptLogError(Exception):
    """A segment that is not the tail of its log is damaged: the broker refuses to start on it."""


def segment_name(base_offset: int) -> str:
    return f"{base_offset:020d}"


def partition_dir_name(topic: str, partition: int) -> str:
    return f"{topic}-{partition}"


class FileSegment(Segment):
    """A segment stored in ``DIR/BASE.log`` with its two index files."""

    __slots__ = ("path", "_fd", "_positions", "_index", "_timeindex", "_since_index", "_index_interval",
                 "_index_written", "_time_written", "_indexed_ts", "_synced")

    def __init__(self, directory: Path, base_offset: int, created_ms: int, index_interval: int = 4096,
                 suffix: str = LOG_SUFFIX, lazy: bool = False) -> None:
        super().__init__(base_offset, created_ms)
        self.path = directory / (segment_name(base_offset) + suffix)
        self._fd = -1
        if not lazy:  # a rolled segment exists at once: its name records where the log continues
            self._file()
        self._positions: array[int] = array("q")
        self._index = bytearray()  # index entries not yet written
        self._timeindex = bytearray()
        self._index_written = 0  # bytes of each index file on disk
        self._time_written = 0
        self._since_index = 0
        self._indexed_ts = -1
        self._index_interval = index_interval
        self._synced = True

    # ------------------------------------------------------------------ write

    def _file(self) -> int:
        if self._fd < 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        return self._fd

    def append(self, batch: memoryview, base: int, last: int, max_ts: int) -> None:
        pos = self.size
        n = len(batch)
        fd = self._fd if self._fd >= 0 else self._file()
        written = os.write(fd, batch)
        while written < n:  # short writes only on a full disk or a signal; finish or raise
            written += os.write(fd, batch[written:])
        self._positions.append(pos)
        self._note(base, last, max_ts, n)
        self._synced = False
        self._maybe_index(base, last, max_ts, pos, n)

    def _maybe_index(self, base: int, last: int, max_ts: int, pos: int, n: int) -> None:
        if self._since_index >= self._index_interval or not self._positions or len(self._positions) == 1:
            self._index += _OFFSET_ENTRY.pack(last - self.base_offset, pos)
            if max_ts > self._indexed_ts:
                self._timeindex += _TIME_ENTRY.pack(max_ts, last - self.base_offset)
                self._indexed_ts = max_ts
            self._since_index = 0
        self._since_index += n

    def _write_indexes(self) -> None:
        if self.path.suffix != LOG_SUFFIX:
            return  # a compaction's output: BASE.index still belongs to the segment it replaces (see finish_cleaned)
        if self._index:
            with open(self.path.with_suffix(INDEX_SUFFIX), "ab") as f:
                f.write(self._index)
            self._index_written += len(self._index)
            self._index.clear()
        if self._timeindex:
            with open(self.path.with_suffix(TIMEINDEX_SUFFIX), "ab") as f:
                f.write(self._timeindex)
            self._time_written += len(self._timeindex)
            self._timeindex.clear()

    def flush(self) -> None:
        if not self._synced and self._fd >= 0:
            os.fdatasync(self._fd)
            self._synced = True

    def seal(self) -> None:
        # index entries are written when a segment rolls or closes (recovery rebuilds them after a crash):
        # opening two index files per partition on every periodic flush stalled the loop for seconds
        self._write_indexes()
        self.flush()

    def sync_handle(self) -> int:
        self._synced = True  # the caller fsyncs it
        return self._fd

    def close(self) -> None:
        if self._fd >= 0:
            self._write_indexes()
            os.close(self._fd)
            self._fd = -1

    def abandon(self) -> None:
        """Close the file as a crash would: index entries not yet written are lost, nothing is synced."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def delete(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
        if self.path.suffix == LOG_SUFFIX:  # a compaction's output has no index files of its own yet
            for suffix in (INDEX_SUFFIX, TIMEINDEX_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    self.path.with_suffix(suffix).unlink()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # ------------------------------------------------------------------ read

    def read(self, i: int, max_bytes: int, min_one: bool, stop: int) -> tuple[list[memoryview], int]:
        positions = self._positions
        n = len(positions)
        start = positions[i]
        end = start
        j = i
        while j < stop:
            nxt = positions[j + 1] if j + 1 < n else self.size
            if nxt - start > max_bytes and (j > i or not min_one):
                break
            end = nxt
            j += 1
        if end == start:
            return [], 0
        data = os.pread(self._fd, end - start, start)
        return [memoryview(data)], len(data)

    def batch(self, i: int) -> memoryview:
        start = self._positions[i]
        end = self._positions[i + 1] if i + 1 < len(self._positions) else self.size
        return memoryview(os.pread(self._fd, end - start, start))

    def truncate(self, i: int) -> None:
        if i >= len(self._positions):
            return
        cut = self._positions[i]
        os.ftruncate(self._fd, cut)
        self.size = cut
        del self._positions[i:]
        self._forget_from(i)
        self._rewrite_indexes()

    def _rewrite_indexes(self) -> None:
        """Regenerate both index files from the per-batch arrays (recovery, truncation)."""
        self._index.clear()
        self._timeindex.clear()
        self._since_index = 0
        self._indexed_ts = -1
        positions = self._positions
        for k in range(len(positions)):
            pos = positions[k]
            nxt = positions[k + 1] if k + 1 < len(positions) else self.size
            if k == 0:
                self._since_index = self._index_interval  # the first batch is always indexed
            self._maybe_index(self.bases[k], self.lasts[k], self.max_ts[k], pos, nxt - pos)
        if self.path.suffix == LOG_SUFFIX:
            for suffix in (INDEX_SUFFIX, TIMEINDEX_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    self.path.with_suffix(suffix).unlink()
        self._index_written = self._time_written = 0
        self._write_indexes()

    # ------------------------------------------------------------------ recovery

    def load(self, check_crc: bool, is_tail: bool, on_batch: BatchCallback | None = None) -> int:
        """Scan the file batch by batch; returns the bytes truncated away from a torn or corrupt tail."""
        size = os.fstat(self._file()).st_size
        good = 0
        problem = None
        if size:
            with mmap.mmap(self._fd, size, access=mmap.ACCESS_READ) as mm:
                view = memoryview(mm)
                try:
                    good, problem = self._scan(view, size, check_crc, on_batch)
                finally:
                    view.release()
        if problem is None:
            self.size = good
            return 0
        if not is_tail:
            raise CorruptLogError(f"{self.path}: {problem} at byte {good} (offset {self.next_offset}); this is not "
                                  "the last segment, so records after it would be lost: inspect it with "
                                  "`kafkasim inspect`, then remove or repair the file")
        log.warning("%s: %s at byte %d (offset %d): truncating %d bytes", self.path, problem, good,
                    self.next_offset, size - good)
        os.ftruncate(self._fd, good)
        self.size = good
        return size - good

    def _scan(self, view: memoryview, size: int, check_crc: bool,
              on_batch: BatchCallback | None) -> tuple[int, str | None]:
        def visit(pos: int, n: int, h: tuple) -> None:
            base, _len, _epoch, _magic, _crc, attrs, last_delta, _bts, max_ts, pid, pe, seq, count = h
            self._positions.append(pos)
            self._note(base, base + last_delta, max_ts, n)
            if on_batch is not None and pid >= 0:
                control = control_type(view[pos:pos + n]) if attrs & ATTR_CONTROL else -1
                on_batch(base, last_delta, max_ts, pid, pe, seq, count, bool(attrs & ATTR_TRANSACTIONAL), control)

        return walk_segment(view, size, self.base_offset, check_crc, visit)


def walk_segment(view, size: int, base_offset: int, check_crc: bool,
                 visit: Callable[[int, int, tuple], None]) -> tuple[int, str | None]:
    """Walk the batches of a segment's bytes, calling ``visit(position, size, header fields)`` for each whole,
    valid one. Returns (bytes that are good, the problem that stopped the walk or None). Reads only."""
    pos = 0
    expected = base_offset
    unpack = HEADER_STRUCT.unpack_from
    while pos < size:
        if size - pos < HEADER_SIZE:
            return pos, "torn batch header"
        h = unpack(view, pos)
        base, length, magic, crc, last_delta, count = h[0], h[1], h[3], h[4], h[6], h[12]
        end = pos + LOG_OVERHEAD + length
        if magic != 2 or view[pos + MAGIC_OFFSET] != 2:
            return pos, f"bad magic {magic}"
        if length < HEADER_SIZE - LOG_OVERHEAD:
            return pos, f"bad batch length {length}"
        if end > size:
            return pos, f"torn batch ({size - pos} of {end - pos} bytes)"
        if base < expected or last_delta < 0 or count < 0 or base + last_delta - base_offset > MAX_RELATIVE_OFFSET:
            return pos, f"bad offsets (base {base}, last delta {last_delta}, expected at least {expected})"
        if check_crc and crc32c(view[pos + ATTRIBUTES_OFFSET:end]) != crc:
            return pos, "CRC32C mismatch"
        visit(pos, end - pos, h)
        expected = base + last_delta + 1
        pos = end
    return pos, None


def segment_files(directory: Path) -> list[int]:
    """Base offsets of the segment (``.log``) files of a partition directory, in order."""
    bases = []
    for p in directory.iterdir():
        if p.suffix == LOG_SUFFIX and p.stem.isdigit():
            bases.append(int(p.stem))
    return sorted(bases)


def _last_offset(data: bytes, base_offset: int) -> int:
    """The last offset held by a segment's bytes (its base offset when empty)."""
    last = [base_offset]

    def visit(pos: int, n: int, h: tuple) -> None:
        last[0] = h[0] + h[6]

    walk_segment(data, len(data), base_offset, False, visit)
    return last[0]


def _finish_compaction(directory: Path) -> None:
    """Roll back a compaction that did not reach its swap file, finish one that did."""
    for p in directory.glob("*" + CLEANED_SUFFIX):
        p.unlink()
    for swap in directory.glob("*" + SWAP_SUFFIX):
        first = int(swap.stem)
        with open(swap, "rb") as f:
            data = f.read()
        last = _last_offset(data, first)
        bases = segment_files(directory)
        for base in bases:
            nxt = next((b for b in bases if b > base), None)
            # segments the swap file replaces: wholly inside its offset range
            if base >= first and (nxt is not None and nxt <= last + 1 or base <= last):
                for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIMEINDEX_SUFFIX):
                    with contextlib.suppress(FileNotFoundError):
                        (directory / (segment_name(base) + suffix)).unlink()
        swap.rename(directory / (segment_name(first) + LOG_SUFFIX))
        log.info("%s: finished an interrupted compaction", directory)


def partition_dirs(root: Path) -> Iterator[tuple[str, int, Path]]:
    """(topic, partition, directory) of every ``TOPIC-PARTITION`` directory under ``root``, in name order
    (the metadata log's ``__cluster_metadata-0`` included)."""
    for p in sorted(root.iterdir()):
        topic, sep, idx = p.name.rpartition("-")
        if sep and idx.isdigit() and p.is_dir():
            yield topic, int(idx), p


def read_log_start(directory: Path) -> int | None:
    """The log start offset DeleteRecords left in a partition directory, or None."""
    try:
        return int((directory / LOG_START_FILE).read_text().strip() or 0)
    except (OSError, ValueError):
        return None


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: write a temp file, fsync it, rename it over, fsync the directory."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class DiskStore:
    """A data directory: one :class:`Log` of :class:`FileSegment` per partition, and the metadata log."""

    persistent = True

    def __init__(self, data_dir: str | os.PathLike, fsync: str = "interval") -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync policy must be one of {', '.join(FSYNC_POLICIES)}, not {fsync!r}")
        self.root = Path(data_dir)
        self.fsync = fsync
        self.clean = True
        self.logs: dict[tuple[str, int], Log] = {}
        self.truncated_bytes = 0  # recovered away from torn tails at start
        self.recovery_failed = False  # a log failed to open (CorruptLogError): close must not mark it clean
        self._lock_fd = -1

    def open(self) -> None:
        """Lock the directory (one broker at a time) and note whether the last stop was clean."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._lock_fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise DataDirInUse(f"data directory {self.root} is in use by another broker") from None
            raise
        self.truncated_bytes = 0
        self.recovery_failed = False
        marker = self.root / CLEAN_SHUTDOWN
        self.clean = marker.exists()
        if self.clean:
            marker.unlink()
            fsync_dir(self.root)

    def partition_dirs(self) -> Iterator[tuple[str, int, Path]]:
        """(topic, partition, directory) of every partition directory present."""
        for topic, index, p in partition_dirs(self.root):
            if p.name != METADATA_DIR:
                yield topic, index, p

    def _open(self, directory: Path, config: LogConfig, now_ms: int, on_batch: BatchCallback | None = None) -> Log:
        exists = directory.is_dir()
        if exists:
            _finish_compaction(directory)
        interval = config.index_interval_bytes

        def new_segment(base: int, created: int) -> FileSegment:
            return FileSegment(directory, base, created, interval)

        bases = segment_files(directory) if exists else []
        segments: list[Segment] = []
        try:
            for k, base in enumerate(bases):
                seg = FileSegment(directory, base, now_ms, interval)
                segments.append(seg)
                self.truncated_bytes += seg.load(not self.clean, k == len(bases) - 1, on_batch)
                if seg.max_timestamp >= 0:
                    seg.created_ms = min(now_ms, seg.max_timestamp)
                if not self.clean or k == len(bases) - 1:
                    seg._rewrite_indexes()
        except BaseException:
            self.recovery_failed = True
            for seg in segments:
                seg.close()
            raise
        start = read_log_start(directory) or 0
        if not segments:
            # a new partition's directory and first file are created by its first append: creating
            # 10,000 partitions should not cost 10,000 directories and files that may never be written
            segments = [FileSegment(directory, start, now_ms, interval, lazy=start == 0)]
        return Log(new_segment, config, now_ms, segments, start)

    def open_log(self, topic: str, partition: int, config: LogConfig, now_ms: int,
                 on_batch: BatchCallback | None = None) -> Log:
        """Open (recover) or create a partition's log; ``on_batch`` sees the header of every batch kept."""
        key = (topic, partition)
        lg = self._open(self.root / partition_dir_name(topic, partition), config, now_ms, on_batch)
        self.logs[key] = lg
        return lg

    def metadata_log(self, now_ms: int) -> Log:
        lg = self._open(self.root / METADATA_DIR, LogConfig(segment_bytes=64 << 20, segment_ms=1 << 62), now_ms)
        self.logs[(METADATA_TOPIC, 0)] = lg
        return lg

    def drop_log(self, topic: str, partition: int) -> None:
        lg = self.logs.pop((topic, partition), None)
        if lg is not None:
            lg.close()
        shutil.rmtree(self.root / partition_dir_name(topic, partition), ignore_errors=True)

    def remove_stray(self, topic: str, partition: int) -> None:
        """A partition directory whose topic is not in the metadata (deleted before a crash)."""
        log.warning("removing %s: its topic is not in the cluster metadata", partition_dir_name(topic, partition))
        self.drop_log(topic, partition)

    def save_log_start(self, topic: str, partition: int, offset: int) -> None:
        directory = self.root / partition_dir_name(topic, partition)
        directory.mkdir(exist_ok=True)
        write_atomically(directory / LOG_START_FILE, b"%d\n" % offset)

    def new_cleaned_segment(self, topic: str, partition: int, base: int, now_ms: int) -> FileSegment:
        directory = self.root / partition_dir_name(topic, partition)
        lg = self.logs.get((topic, partition))
        interval = lg.config.index_interval_bytes if lg is not None else LogConfig().index_interval_bytes
        return FileSegment(directory, base, now_ms, interval, suffix=CLEANED_SUFFIX)

    def commit_cleaned(self, seg: Segment) -> None:
        """Make a cleaned segment durable and mark it as the replacement (``.swap``); the caller then
        replaces the old segments in the log, and :meth:`finish_cleaned` gives it its final name."""
        assert isinstance(seg, FileSegment)
        seg._file()  # exists even when cleaning left nothing
        seg._synced = False
        seg.flush()
        swap = seg.path.with_suffix(SWAP_SUFFIX)
        os.rename(seg.path, swap)
        seg.path = swap
        fsync_dir(swap.parent)

    def finish_cleaned(self, seg: Segment) -> None:
        assert isinstance(seg, FileSegment)
        final = seg.path.with_suffix(LOG_SUFFIX)
        os.rename(seg.path, final)
        seg.path = final
        seg._rewrite_indexes()
        fsync_dir(final.parent)

    def take_unsynced(self) -> list[int]:
        """For a background flush (``--fsync interval``): file descriptors appended to since the last one."""
        fds = []
        for lg in self.logs.values():
            fd = lg.take_unsynced()
            if fd >= 0:
                fds.append(fd)
        return fds

    @staticmethod
    def fsync_fds(fds: list[int]) -> None:
        """fdatasync each descriptor; runs on a worker thread (it releases the GIL). A descriptor closed
        meanwhile (a deleted or closed segment) is skipped."""
        for fd in fds:
            with contextlib.suppress(OSError):
                os.fdatasync(fd)

    def sync(self) -> None:
        for lg in self.logs.values():
            lg.flush()

    def abandon(self) -> None:
        """Release the directory as a crash leaves it: appended bytes stay where ``os.write`` put them, index
        entries not yet written are lost, nothing is fsynced and no clean-shutdown marker is written, so the
        next start recovers (CRC checks, index rebuild). For tests, and for a start that failed half-way."""
        if self._lock_fd < 0:
            return
        for lg in self.logs.values():
            for seg in lg.segments:
                if isinstance(seg, FileSegment):
                    seg.abandon()
        self.logs.clear()
        os.close(self._lock_fd)  # closing the descriptor releases the flock
        self._lock_fd = -1

    def close(self) -> None:
        if self._lock_fd < 0:
            return
        for lg in self.logs.values():
            lg.flush()
            lg.close()
        self.logs.clear()
        if not self.recovery_failed:  # else the next start must check every CRC again
            (self.root / CLEAN_SHUTDOWN).write_bytes(b"")
            fsync_dir(self.root)
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        self._lock_fd = -1

"""Retention and compaction of a :class:`~kafkasim.storage.log.Log`, the same for every engine.

Retention (``cleanup.policy=delete``), as Kafka's log manager does it: whole segments are deleted from the
oldest on, while their largest timestamp is older than ``retention.ms``, or while the log without them is
still at least ``retention.bytes``; the active segment too (a new empty one is rolled first). The log
start offset moves to the first offset kept.

Compaction (``cleanup.policy=compact``), as Kafka's cleaner does it: the segments before the active one
are rewritten keeping, for each key, only its latest record among them; records without a key are kept;
control batches are kept. A tombstone (a null value) survives its first cleaning with KIP-534's delete
horizon (now + ``delete.retention.ms``) written into its batch, and is removed by the first cleaning after
that horizon. Each record keeps its offset; batches keep their producer fields. Nothing is cleaned while
less than ``min.cleanable.dirty.ratio`` of the cleanable bytes is new since the last cleaning, or while
the newest record is younger than ``min.compaction.lag.ms``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from kafkasim.protocol.records import build_batch, iter_records, read_header
from kafkasim.storage.log import Log, Segment


class CompactionSettings(NamedTuple):
    delete_retention_ms: int = 86400000
    min_cleanable_dirty_ratio: float = 0.5
    min_compaction_lag_ms: int = 0


def apply_retention(log: Log, now_ms: int, retention_ms: int, retention_bytes: int) -> int:
    """Delete expired segments; returns how many were deleted."""
    segs = log.segment_infos()
    n = 0
    if retention_ms >= 0:
        while n < len(segs) and segs[n].batches and now_ms - segs[n].max_timestamp > retention_ms:
            n += 1
    if retention_bytes >= 0:
        excess = log.size_bytes - sum(s.size_bytes for s in segs[:n]) - retention_bytes
        while n < len(segs) and segs[n].batches and excess - segs[n].size_bytes >= 0:
            excess -= segs[n].size_bytes
            n += 1
    if n:
        log.delete_oldest_segments(n, now_ms)
    return n


class Cleaned(NamedTuple):
    segments: int  # segments rewritten
    records_removed: int


def compact(log: Log, now_ms: int, settings: CompactionSettings, new_segment: Callable[[int, int], Segment],
            commit: Callable[[Segment], None], finish: Callable[[Segment], None], force: bool = False) -> Cleaned:
    """Clean the segments before the active one. ``new_segment`` makes the output segment, ``commit``
    makes it durable before the log switches to it, ``finish`` gives it its final name afterwards."""
    segs = log.segments[:-1]
    if not segs:
        return Cleaned(0, 0)
    total = sum(s.size for s in segs)
    dirty_from = log.cleaned_upto
    dirty = sum(s.size for s in segs if s.next_offset > dirty_from)
    if not force and (total == 0 or dirty == 0 or dirty / total < settings.min_cleanable_dirty_ratio):
        return Cleaned(0, 0)
    if settings.min_compaction_lag_ms > 0:
        # only segments whose newest record is old enough may be cleaned
        while segs and now_ms - segs[-1].max_timestamp < settings.min_compaction_lag_ms:
            segs = segs[:-1]
        if not segs:
            return Cleaned(0, 0)
    latest: dict[bytes, int] = {}
    for seg in segs:
        for i in range(len(seg.bases)):
            batch = seg.batch(i)
            if read_header(batch).is_control:
                continue
            for rec in iter_records(batch):
                if rec.key is not None:
                    latest[rec.key] = rec.offset
    out = new_segment(segs[0].base_offset, now_ms)
    removed = 0
    horizon = now_ms + settings.delete_retention_ms
    for seg in segs:
        for i in range(len(seg.bases)):
            batch = seg.batch(i)
            h = read_header(batch)
            if h.is_control:
                out.append(batch, h.base_offset, h.last_offset, h.max_timestamp)
                continue
            records = list(iter_records(batch))
            expired = h.delete_horizon_ms is not None and now_ms >= h.delete_horizon_ms
            keep = [r for r in records
                    if (r.key is None or latest.get(r.key) == r.offset) and not (r.value is None and expired)]
            removed += len(records) - len(keep)
            tombstones = any(r.value is None for r in keep)
            if len(keep) == len(records) and (not tombstones or h.delete_horizon_ms is not None):
                out.append(batch, h.base_offset, h.last_offset, h.max_timestamp)
                continue
            if not keep:
                continue
            rebuilt = memoryview(bytearray(build_batch(
                keep, base_offset=h.base_offset, codec=h.compression, producer_id=h.producer_id,
                producer_epoch=h.producer_epoch, base_sequence=h.base_sequence, transactional=h.is_transactional,
                log_append_time=h.log_append_time, partition_leader_epoch=h.partition_leader_epoch,
                keep_offsets=True, last_offset_delta=h.last_offset_delta, max_timestamp=h.max_timestamp,
                delete_horizon_ms=(h.delete_horizon_ms if h.delete_horizon_ms is not None else horizon)
                if tombstones else None)))
            out.append(rebuilt, h.base_offset, h.last_offset, h.max_timestamp)
    upto = segs[-1].next_offset
    commit(out)
    log.replace_segments(len(segs), [out])
    finish(out)
    log.cleaned_upto = upto
    return Cleaned(len(segs), removed)

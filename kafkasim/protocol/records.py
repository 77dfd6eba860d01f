"""RecordBatch v2 (magic 2) as a zero-copy view.

The 61-byte batch header is the only part the hot path reads::

    0 baseOffset int64 | 8 batchLength int32 | 12 partitionLeaderEpoch int32 | 16 magic int8 | 17 crc uint32
    21 attributes int16 | 23 lastOffsetDelta int32 | 27 baseTimestamp int64 | 35 maxTimestamp int64
    43 producerId int64 | 51 producerEpoch int16 | 53 baseSequence int32 | 57 recordsCount int32 | 61 records

The CRC32C covers attributes through the end of the batch, so the base offset and partition leader epoch
can be rewritten in place without touching it. Records are decoded lazily, only for inspection, offset
lookup by timestamp and validation outside the hot path.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from crc32c import crc32c

from kafkasim.protocol.compression import DEFAULT_LIMIT, Codec, compress, decompress
from kafkasim.protocol.primitives import MalformedError, read_varint, read_varlong, write_varint

HEADER_SIZE = 61
LOG_OVERHEAD = 12  # baseOffset + batchLength
MAGIC_OFFSET = 16
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
MAX_TIMESTAMP_OFFSET = 35

ATTR_COMPRESSION_MASK = 0x07
ATTR_TIMESTAMP_TYPE = 0x08  # LogAppendTime
ATTR_TRANSACTIONAL = 0x10
ATTR_CONTROL = 0x20
ATTR_DELETE_HORIZON = 0x40  # KIP-534: the base timestamp is the delete horizon of the batch's tombstones

NO_TIMESTAMP = -1

_HEADER = struct.Struct(">qiibIhiqqqhii")
#: the 61-byte batch header, field by field (the order of BatchHeader), for scans that unpack it directly
HEADER_STRUCT = _HEADER
_I64 = struct.Struct(">q")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I16 = struct.Struct(">h")


class BatchError(Exception):
    """A batch that must be rejected; ``kind`` names the Kafka error (state maps it to an ErrorCode)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "corrupt" | "invalid" | "unsupported_compression"


class BatchHeader(NamedTuple):
    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def compression(self) -> int:
        return self.attributes & ATTR_COMPRESSION_MASK

    @property
    def log_append_time(self) -> bool:
        return bool(self.attributes & ATTR_TIMESTAMP_TYPE)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & ATTR_TRANSACTIONAL)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & ATTR_CONTROL)

    @property
    def delete_horizon_ms(self) -> int | None:
        return self.base_timestamp if self.attributes & ATTR_DELETE_HORIZON else None

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def size(self) -> int:
        return LOG_OVERHEAD + self.batch_length


def read_header(buf, pos: int = 0) -> BatchHeader:
    """Parse the 61-byte header at ``pos`` (no CRC check)."""
    if len(buf) - pos < HEADER_SIZE:
        raise BatchError("corrupt", f"record batch header needs {HEADER_SIZE} bytes, {len(buf) - pos} remain")
    return BatchHeader._make(_HEADER.unpack_from(buf, pos))


def validate_produced(records) -> BatchHeader:
    """Validate what a producer sent for one partition (Produce v3+): exactly one v2 batch, whole, CRC ok.

    Raises :class:`BatchError`. Only the header is read; records are not decoded.
    """
    n = len(records)
    if n < LOG_OVERHEAD:
        raise BatchError("corrupt", "record set smaller than a batch header")
    (batch_length,) = _I32.unpack_from(records, 8)
    size = LOG_OVERHEAD + batch_length
    if n >= MAGIC_OFFSET + 1 and records[MAGIC_OFFSET] != 2:
        raise BatchError("invalid", f"produce requests are only allowed to contain record batches with magic "
                                    f"version 2, got {records[MAGIC_OFFSET]}")
    if batch_length < HEADER_SIZE - LOG_OVERHEAD:
        raise BatchError("corrupt", f"record batch size {size} is smaller than the minimum {HEADER_SIZE}")
    if size > n:
        raise BatchError("corrupt", f"record batch of {size} bytes is truncated to {n}")
    if size < n:
        raise BatchError("invalid", "produce requests are only allowed to contain exactly one record batch")
    h = read_header(records)
    if crc32c(records[ATTRIBUTES_OFFSET:size]) != h.crc:
        raise BatchError("corrupt", "record batch CRC32C mismatch")
    if h.records_count <= 0:
        raise BatchError("invalid", "record batch contains no records")
    if h.last_offset_delta != h.records_count - 1:
        raise BatchError("invalid", f"record count {h.records_count} does not match lastOffsetDelta "
                                    f"{h.last_offset_delta}")
    if h.compression > Codec.ZSTD:
        raise BatchError("unsupported_compression", f"unknown compression codec id {h.compression}")
    if h.is_control:
        raise BatchError("invalid", "clients are not allowed to write control batches")
    return h


def set_base_offset(batch, base_offset: int, leader_epoch: int) -> None:
    """Rewrite base offset and partition leader epoch in place (outside the CRC span)."""
    _I64.pack_into(batch, 0, base_offset)
    _I32.pack_into(batch, 12, leader_epoch)


def set_log_append_time(batch, now_ms: int) -> None:
    """Mark the batch LogAppendTime with ``now_ms`` as its max timestamp, and refresh the CRC."""
    (attrs,) = _I16.unpack_from(batch, ATTRIBUTES_OFFSET)
    _I16.pack_into(batch, ATTRIBUTES_OFFSET, attrs | ATTR_TIMESTAMP_TYPE)
    _I64.pack_into(batch, MAX_TIMESTAMP_OFFSET, now_ms)
    _U32.pack_into(batch, CRC_OFFSET, crc32c(batch[ATTRIBUTES_OFFSET:]))


def iter_batches(buf) -> Iterator[tuple[BatchHeader, memoryview]]:
    """Split a record set into whole batches (a trailing partial batch, as Fetch may send, is dropped)."""
    mv = memoryview(buf)
    p = 0
    n = len(mv)
    while n - p >= HEADER_SIZE:
        h = read_header(mv, p)
        if h.batch_length < HEADER_SIZE - LOG_OVERHEAD:
            raise BatchError("corrupt", "record batch size too small")
        end = p + h.size
        if end > n:
            return
        yield h, mv[p:end]
        p = end


@dataclass(slots=True)
class Record:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)


def _read_blob(b, p: int) -> tuple[bytes | None, int]:
    n, p = read_varint(b, p)
    if n < 0:
        return None, p
    if p + n > len(b):
        raise MalformedError("record field exceeds the batch")
    return bytes(b[p:p + n]), p + n


def iter_records(batch, limit: int = DEFAULT_LIMIT) -> Iterator[Record]:
    """Decode the records of one batch (decompressing, bounded by ``limit``)."""
    h = read_header(batch)
    body = batch[HEADER_SIZE:h.size]
    if h.compression:
        body = decompress(h.compression, body, limit)
    p = 0
    for _ in range(h.records_count):
        length, p = read_varint(body, p)
        end = p + length
        if length < 0 or end > len(body):
            raise MalformedError("record length exceeds the batch")
        p += 1  # attributes
        ts_delta, p = read_varlong(body, p)
        off_delta, p = read_varint(body, p)
        key, p = _read_blob(body, p)
        value, p = _read_blob(body, p)
        nh, p = read_varint(body, p)
        if nh < 0 or nh > end - p:
            raise MalformedError("bad header count")
        headers = []
        for _ in range(nh):
            hk, p = _read_blob(body, p)
            hv, p = _read_blob(body, p)
            headers.append(((hk or b"").decode("utf-8", "replace"), hv))
        if p != end:
            raise MalformedError("record length does not match its fields")
        ts = h.max_timestamp if h.log_append_time else h.base_timestamp + ts_delta
        yield Record(h.base_offset + off_delta, ts, key, value, headers)


def iter_keys_values(batch, limit: int = DEFAULT_LIMIT) -> Iterator[tuple[memoryview | None, memoryview | None]]:
    """(key, value) of each record of one batch, as views into its (decompressed) body: what schema validation
    reads, without building records or reading headers (each record's length says where the next begins).
    Varints of one byte, nearly all of them, are read inline; longer ones by ``read_varint``."""
    h = read_header(batch)
    body = memoryview(batch)[HEADER_SIZE:h.size]
    if h.compression:
        body = memoryview(decompress(h.compression, body, limit))
    size = len(body)
    rv = read_varint
    p = 0
    try:
        for _ in range(h.records_count):
            c = body[p]
            if c < 0x80:
                length, p = (c >> 1) ^ -(c & 1), p + 1
            else:
                length, p = rv(body, p)
            end = p + length
            if length < 0 or end > size:
                raise MalformedError("record length exceeds the batch")
            p += 1  # attributes
            if body[p] < 0x80:  # timestamp delta
                p += 1
            else:
                _, p = rv(body, p, 10)
            if body[p] < 0x80:  # offset delta
                p += 1
            else:
                _, p = rv(body, p)
            c = body[p]
            if c < 0x80:
                n, p = (c >> 1) ^ -(c & 1), p + 1
            else:
                n, p = rv(body, p)
            if n < 0:
                key = None
            elif p + n > end:
                raise MalformedError("record field exceeds the record")
            else:
                key, p = body[p:p + n], p + n
            c = body[p]
            if c < 0x80:
                n, p = (c >> 1) ^ -(c & 1), p + 1
            else:
                n, p = rv(body, p)
            if n < 0:
                value = None
            elif p + n > end:
                raise MalformedError("record field exceeds the record")
            else:
                value = body[p:p + n]
            p = end
            yield key, value
    except IndexError:
        raise MalformedError("a record runs past the batch") from None


def _blob(v: bytes | None) -> bytes:
    if v is None:
        return write_varint(-1)
    return write_varint(len(v)) + v


def build_batch(records: list[Record], *, base_offset: int = 0, codec: int = Codec.NONE,
                producer_id: int = -1, producer_epoch: int = -1, base_sequence: int = -1,
                transactional: bool = False, control: bool = False, log_append_time: bool = False,
                partition_leader_epoch: int = -1, keep_offsets: bool = False,
                last_offset_delta: int | None = None, delete_horizon_ms: int | None = None,
                max_timestamp: int | None = None) -> bytes:
    """Encode records as one v2 batch (used by tests, tools, compaction and control markers, never by Produce).

    Offsets are consecutive from ``base_offset`` unless ``keep_offsets`` (compaction keeps each record's
    offset, and the original ``last_offset_delta``). ``delete_horizon_ms`` sets KIP-534's delete horizon:
    it becomes the base timestamp, and the flag says so."""
    if not records:
        raise ValueError("a batch needs at least one record")
    base_ts = min(r.timestamp for r in records) if delete_horizon_ms is None else delete_horizon_ms
    max_ts = max(r.timestamp for r in records) if max_timestamp is None else max_timestamp
    body = bytearray()
    for i, r in enumerate(records):
        rec = bytearray(b"\x00")
        rec += write_varint(r.timestamp - base_ts)  # zigzag over 64 bits: a varlong
        rec += write_varint(r.offset - base_offset if keep_offsets else i)
        rec += _blob(r.key)
        rec += _blob(r.value)
        rec += write_varint(len(r.headers))
        for hk, hv in r.headers:
            rec += _blob(hk.encode())
            rec += _blob(hv)
        body += write_varint(len(rec))
        body += rec
    payload = compress(codec, bytes(body))
    attrs = codec | (ATTR_TIMESTAMP_TYPE if log_append_time else 0) | (ATTR_TRANSACTIONAL if transactional else 0)
    attrs |= ATTR_CONTROL if control else 0
    attrs |= ATTR_DELETE_HORIZON if delete_horizon_ms is not None else 0
    if last_offset_delta is None:
        last_offset_delta = records[-1].offset - base_offset if keep_offsets else len(records) - 1
    tail = struct.pack(">hiqqqhii", attrs, last_offset_delta, base_ts, max_ts, producer_id, producer_epoch,
                       base_sequence, len(records)) + payload
    crc = crc32c(tail)
    head = struct.pack(">qiibI", base_offset, len(tail) + 9, partition_leader_epoch, 2, crc)
    return head + tail


CONTROL_ABORT = 0
CONTROL_COMMIT = 1


def control_batch(commit: bool, producer_id: int, producer_epoch: int, timestamp: int,
                  coordinator_epoch: int = 0) -> bytes:
    """A transaction marker: one control record, key (version 0, type COMMIT=1 / ABORT=0), value (version 0,
    coordinator epoch), in a transactional control batch of the producer."""
    key = struct.pack(">hh", 0, CONTROL_COMMIT if commit else CONTROL_ABORT)
    value = struct.pack(">hi", 0, coordinator_epoch)
    return build_batch([Record(0, timestamp, key, value)], producer_id=producer_id, producer_epoch=producer_epoch,
                       transactional=True, control=True)


def control_type(batch) -> int:
    """The type of a control batch's marker (CONTROL_COMMIT, CONTROL_ABORT), -1 when it has none."""
    for rec in iter_records(batch):
        if rec.key is not None and len(rec.key) >= 4:
            return _I16.unpack_from(rec.key, 2)[0]
    return -1


def recompress(batch, codec: int, limit: int = DEFAULT_LIMIT) -> bytes:
    """The same records as one batch compressed with ``codec`` (a topic's compression.type), keeping the
    producer id, epoch, base sequence and transactional flag. Off the hot path: only for topics whose
    compression.type is not "producer" and differs from what the producer sent."""
    h = read_header(batch)
    records = list(iter_records(batch, limit))
    return build_batch(records, codec=codec, producer_id=h.producer_id, producer_epoch=h.producer_epoch,
                       base_sequence=h.base_sequence, transactional=h.is_transactional,
                       partition_leader_epoch=h.partition_leader_epoch)

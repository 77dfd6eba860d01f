"""Record inspection: the records of a topic as a test sees them, decoded, without a Kafka client.

:func:`read_records` is a pure function of a :class:`~kafkasim.state.cluster.ClusterState`: it reads the
stored batches (off the hot path; records are decoded here, never to serve Produce or Fetch) and returns
:class:`RecordInfo` values with each record's key, value, headers, timestamp, producer id, epoch and
sequence, and its transactional state. Transaction markers (control batches) are never returned.
``Cluster.records(...)`` runs it on the broker's loop; ``Cluster.wait_for_records(...)`` polls it.

An unknown topic or partition raises :class:`kafkasim.KafkaError` with UNKNOWN_TOPIC_OR_PARTITION (the
error a Kafka client would get); bad arguments raise ValueError.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from kafkasim.protocol.records import iter_records
from kafkasim.state.partitions import scan_batches
from kafkasim.state.producers import last_sequence

if TYPE_CHECKING:
    from kafkasim.state.cluster import ClusterState
    from kafkasim.state.partitions import PartitionState

ISOLATION_LEVELS = ("read_uncommitted", "read_committed")
TxnState = Literal["committed", "aborted", "open"]


class WaitTimeout(AssertionError):
    """A wait helper (``Cluster.wait_for_records``, ``Cluster.wait_for_group``) ran out of time; the message
    says what was there instead. An AssertionError, so pytest reports it as a failed check."""


@dataclasses.dataclass(frozen=True, slots=True)
class RecordInfo:
    """One stored record, decoded."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: str  # "CreateTime" | "LogAppendTime"
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    producer_id: int  # -1 when the producer is neither idempotent nor transactional
    producer_epoch: int
    sequence: int  # the batch's base sequence + the record's offset delta (wrapping as Kafka's); -1 when none
    transactional: bool
    txn_state: TxnState | None  # None for non-transactional records
    #: with ``decode=True``: the key and value decoded with their registered schema (JSON values); None when
    #: not asked, not framed with a registered schema id, or not decodable with it
    key_decoded: object = None
    value_decoded: object = None

    def header(self, name: str) -> bytes | None:
        """The value of the last header called ``name`` (None when there is none, or its value is null)."""
        for k, v in reversed(self.headers):
            if k == name:
                return v
        return None


def _as_bytes(v: bytes | str | None, what: str) -> bytes | None:
    if v is None or isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    raise ValueError(f"{what} must be bytes or str, not {type(v).__name__}")


def _header_filter(header: tuple[str, bytes | str | None] | None) -> tuple[str, bytes | None] | None:
    if header is None:
        return None
    if not isinstance(header, tuple) or len(header) != 2 or not isinstance(header[0], str):
        raise ValueError(f"header must be a (name, value) tuple, got {header!r}")
    return header[0], _as_bytes(header[1], "a header value")


def _sequence(base_sequence: int, delta: int) -> int:
    """Kafka's DefaultRecordBatch.incrementSequence: sequences wrap from Int32.MAX to 0 (-1: none)."""
    return -1 if base_sequence < 0 else last_sequence(base_sequence, delta + 1)


def _partitions(state: ClusterState, topic: str, partition: int | None) -> list[PartitionState]:
    if partition is None:
        return list(state.topic(topic).partitions)
    return [state.partition(topic, partition)]


def read_records(state: ClusterState, topic: str, partition: int | None = None, start: int | None = None,
                 end: int | None = None, key: bytes | str | None = None,
                 header: tuple[str, bytes | str | None] | None = None, isolation: str = "read_uncommitted",
                 limit: int | None = None) -> list[RecordInfo]:
    """The records of ``topic`` (one ``partition``, or all in partition order), offsets in [start, end).

    ``start`` defaults to (and is raised to) the log start offset; ``end`` defaults to the high watermark.
    ``key`` (bytes, or str as UTF-8) keeps records with that key; ``header`` = (name, value) keeps records
    with a header of that name and value (str as UTF-8; None matches a null value). ``isolation`` is
    "read_uncommitted" (everything, with each record's ``txn_state``) or "read_committed" (what a
    read_committed consumer may read: below the last stable offset, without aborted records). ``limit``
    caps the number returned (the first ones). Unknown topic or partition: KafkaError
    (UNKNOWN_TOPIC_OR_PARTITION). Must run on the broker's loop (``Cluster.records`` does that).
    """
    if isolation not in ISOLATION_LEVELS:
        raise ValueError(f"isolation must be one of {ISOLATION_LEVELS}, got {isolation!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    want_key = _as_bytes(key, "key")
    want_header = _header_filter(header)
    committed_only = isolation == "read_committed"
    out: list[RecordInfo] = []
    if limit == 0:
        return out
    for p in _partitions(state, topic, partition):
        lo = p.log.log_start_offset if start is None else max(start, p.log.log_start_offset)
        hi = p.high_watermark if end is None else min(end, p.high_watermark)
        if committed_only:
            hi = min(hi, p.last_stable_offset)
        aborted: dict[int, list[tuple[int, int]]] = {}
        for a in p.aborted:
            aborted.setdefault(a.producer_id, []).append((a.first_offset, a.last_offset))
        for h, b in scan_batches(p, lo, hi):
            txn = h.is_transactional
            pid = h.producer_id
            ranges = aborted.get(pid, ()) if txn else ()
            open_from = p.open_txns.get(pid) if txn else None
            for r in iter_records(b):
                if r.offset < lo or r.offset >= hi:
                    continue
                if want_key is not None and r.key != want_key:
                    continue
                if want_header is not None and want_header not in r.headers:
                    continue
                state_: TxnState | None = None
                if txn:
                    if any(first <= r.offset <= last for first, last in ranges):
                        state_ = "aborted"
                    elif open_from is not None and open_from <= r.offset:
                        state_ = "open"
                    else:
                        state_ = "committed"
                    if committed_only and state_ != "committed":
                        continue
                out.append(RecordInfo(
                    p.topic, p.index, r.offset, r.timestamp,
                    "LogAppendTime" if h.log_append_time else "CreateTime",
                    r.key, r.value, r.headers, pid, h.producer_epoch,
                    _sequence(h.base_sequence, r.offset - h.base_offset), txn, state_))
                if limit is not None and len(out) >= limit:
                    return out
    return out


# ---------------------------------------------------------------------------------------------- waiting


def _short(v: bytes | None, width: int = 40) -> str:
    if v is None:
        return "None"
    text = repr(v[:width])
    return text + ("..." if len(v) > width else "")


def format_record(r: RecordInfo) -> str:
    """One line describing a record, for failure messages."""
    parts = [f"{r.topic}-{r.partition}@{r.offset}", f"key={_short(r.key)}", f"value={_short(r.value)}"]
    if r.headers:
        parts.append("headers=[" + ", ".join(f"{k}={_short(v, 24)}" for k, v in r.headers) + "]")
    if r.txn_state is not None:
        parts.append(r.txn_state)
    return " ".join(parts)


def describe_filter(key: bytes | str | None, header: tuple[str, bytes | str | None] | None) -> str:
    """' matching key=... header name=...' for messages ('' without filters)."""
    parts = []
    if key is not None:
        parts.append(f"key={key!r}")
    if header is not None:
        parts.append(f"header {header[0]}={header[1]!r}")
    return " matching " + " and ".join(parts) if parts else ""


class RecordsWait:
    """The condition of ``Cluster.wait_for_records``: ``probe`` and ``describe`` run on the broker's loop."""

    def __init__(self, topic: str, count: int | None, key: bytes | str | None,
                 header: tuple[str, bytes | str | None] | None, partition: int | None, isolation: str) -> None:
        if count is not None and count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if partition is not None and partition < 0:
            raise ValueError(f"partition must be >= 0, got {partition}")
        if isolation not in ISOLATION_LEVELS:
            raise ValueError(f"isolation must be one of {ISOLATION_LEVELS}, got {isolation!r}")
        _as_bytes(key, "key")
        _header_filter(header)
        self.topic = topic
        self.count = 1 if count is None else count
        self.key = key
        self.header = header
        self.partition = partition
        self.isolation = isolation
        self._seen: tuple | None = None  # what the partitions looked like at the last probe

    def _fingerprint(self, state: ClusterState) -> tuple | None:
        t = state.topics.get(self.topic)
        if t is None:
            return None
        parts = t.partitions if self.partition is None else t.partitions[self.partition:self.partition + 1]
        return t.topic_id, tuple((p.log.log_start_offset, p.high_watermark, len(p.aborted),
                                  tuple(p.open_txns.items())) for p in parts)

    def _read(self, state: ClusterState) -> list[RecordInfo]:
        return read_records(state, self.topic, self.partition, key=self.key, header=self.header,
                            isolation=self.isolation)

    def probe(self, state: ClusterState) -> list[RecordInfo] | None:
        """All matching records once there are at least ``count``, else None (re-reads only after a change)."""
        seen = self._fingerprint(state)
        if seen is None or seen == self._seen:
            return None
        self._seen = seen
        if self.partition is not None and self.partition >= len(state.topics[self.topic].partitions):
            return None
        found = self._read(state)
        return found if len(found) >= self.count else None

    def describe(self, state: ClusterState, timeout: float) -> str:
        where = f"topic {self.topic!r}" + (f" partition {self.partition}" if self.partition is not None else "")
        what = describe_filter(self.key, self.header)
        committed = " committed" if self.isolation == "read_committed" else ""
        head = f"timed out after {timeout:g}s waiting for {self.count}{committed} record(s){what} in {where}: "
        t = state.topics.get(self.topic)
        if t is None:
            others = sorted(n for n in state.topics if not n.startswith("__"))
            return head + f"the topic does not exist (topics: {others})"
        if self.partition is not None and not 0 <= self.partition < len(t.partitions):
            return head + f"the topic has {len(t.partitions)} partition(s)"
        found = self._read(state)
        shown = ", ".join(f"{r.topic}-{r.partition}@{r.offset}" for r in found[:20])
        more = f" (+{len(found) - 20} more)" if len(found) > 20 else ""
        msg = head + f"{where} has {len(found)}{committed} record(s){what} (wanted {self.count})"
        if found:
            msg += f": {shown}{more}"
        everything = read_records(state, self.topic, self.partition)
        if not everything:
            return msg + f"; {where} is empty"
        tail = everything[-5:]
        msg += f"; {where} has {len(everything)} record(s), the last {len(tail)}:\n  "
        return msg + "\n  ".join(format_record(r) for r in tail)

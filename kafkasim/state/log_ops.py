"""What is done to partitions' logs: validated appends (Produce), reads (Fetch), offsets by time
(ListOffsets), DeleteRecords, transaction markers, and retention and compaction.

The hot path is :meth:`LogOperations.append`: a produced batch is validated from its header and stored
as it came (see design.md); appends notify ``append_listeners`` (the server wakes Fetch long-polls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.protocol.primitives import MalformedError
from kafkasim.protocol.records import (
    BatchError,
    control_batch,
    iter_keys_values,
    iter_records,
    read_header,
    recompress,
    set_log_append_time,
    validate_produced,
)
from kafkasim.schemas.validation import SchemaCheck, refused_records
from kafkasim.state.clock import Clock
from kafkasim.state.partitions import PartitionState
from kafkasim.state.topic_configs import TopicConfigs
from kafkasim.state.topics import TopicRegistry
from kafkasim.storage.cleaner import CompactionSettings, apply_retention, compact
from kafkasim.storage.log import Log

if TYPE_CHECKING:
    from kafkasim.schemas.registry import SchemaRegistryState
    from kafkasim.state.transactions import TransactionCoordinator
    from kafkasim.storage.memory import MemoryStore
    from kafkasim.storage.segments import DiskStore

EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1
MAX_TIMESTAMP = -3
EARLIEST_LOCAL_TIMESTAMP = -4

_BATCH_ERRORS = {"corrupt": ErrorCode.CORRUPT_MESSAGE, "invalid": ErrorCode.INVALID_RECORD,
                 "unsupported_compression": ErrorCode.UNSUPPORTED_COMPRESSION_TYPE}


class AppendResult(NamedTuple):
    base_offset: int
    log_append_time: int  # -1 unless the topic uses LogAppendTime
    log_start_offset: int


class LogOperations:
    """Appends, reads and maintenance of the topics' partition logs. ``transactions`` (wired by ClusterState:
    it writes its markers through :meth:`write_markers`) checks transactional appends."""

    def __init__(self, clock: Clock, store: MemoryStore | DiskStore, topics: TopicRegistry, configs: TopicConfigs,
                 append_listeners: list[Callable[[PartitionState], None]]) -> None:
        self.clock = clock
        self.store = store
        self.topics = topics.topics
        self.append_listeners = append_listeners
        self.transactions: TransactionCoordinator | None = None
        #: the registry schema-at-producer checks against, while the cluster serves one
        self.schema_registry: SchemaRegistryState | None = None
        # bound once: the append path calls them for every partition of every Produce
        self.leader_partition = topics.leader_partition
        self._append_settings = configs.append_settings
        self.topic_config = configs.topic_config
        self._sync_appends = store.fsync == "always"
        self._unsynced: list[Log] = []  # appended by the current Produce, fsynced before its answer

    def append(self, topic: str, index: int, records, node_id: int | None = None, acks: int = 1) -> AppendResult:
        """Validate and append one partition's produced batch, received by broker ``node_id`` (None: any) with
        ``acks``; raises KafkaError and changes nothing then."""
        p = self.leader_partition(topic, index, node_id)
        t = self.topics[topic]
        settings = self._append_settings(t)
        if acks == -1 and len(p.isr) < settings.min_insync_replicas:
            raise KafkaError(ErrorCode.NOT_ENOUGH_REPLICAS,
                             f"The size of the current ISR {p.isr} is insufficient to satisfy the min.isr requirement "
                             f"of {settings.min_insync_replicas} for partition {topic}-{index}")
        if records is None:
            raise KafkaError(ErrorCode.INVALID_RECORD, "Produce request contains no records")
        try:
            h = validate_produced(records)
        except BatchError as exc:
            raise KafkaError(_BATCH_ERRORS[exc.kind], str(exc)) from None
        limit = settings.max_message_bytes
        if h.size > limit:
            raise KafkaError(ErrorCode.MESSAGE_TOO_LARGE,
                             f"The record batch size in the append to {topic}-{index} is {h.size} bytes which "
                             f"exceeds the maximum configured value of {limit}.")
        now = self.clock.now_ms()
        log_append = settings.log_append_time
        if not log_append:
            after = settings.timestamp_after_max_ms
            before = settings.timestamp_before_max_ms
            if h.max_timestamp - now > after or (h.base_timestamp >= 0 and now - h.base_timestamp > before):
                raise KafkaError(ErrorCode.INVALID_TIMESTAMP,
                                 f"Timestamp {h.max_timestamp} of message is out of range. The timestamp should be "
                                 f"within [{now - before if before < now else 0}, {now + after}]")
        idempotent = h.producer_id >= 0
        if idempotent:  # first, as Kafka: a zombie fenced by markers on this partition gets INVALID_PRODUCER_EPOCH
            dup = p.producers.check(h.producer_id, h.producer_epoch, h.base_sequence, h.records_count)
            if dup is not None:  # a retry of an appended batch: answer with its original offsets
                return AppendResult(dup.base_offset, dup.timestamp if log_append else -1, p.log.log_start_offset)
        if h.is_transactional:
            self.transactions.check_append(h.producer_id, h.producer_epoch, topic, index)  # type: ignore[union-attr]
        if settings.compacted:
            try:
                keyless = [i for i, (key, _value) in enumerate(iter_keys_values(records)) if key is None]
            except MalformedError as exc:
                raise KafkaError(ErrorCode.CORRUPT_MESSAGE, f"cannot read the batch: {exc}") from None
            if keyless:  # as Kafka's LogValidator: the batch fails, each keyless record named in record_errors
                why = f"Compacted topic cannot accept message without key in topic partition {topic}-{index}."
                shown = ", ".join(f"RecordError(batchIndex={i}, message='{why}')" for i in keyless[:3])
                raise KafkaError(ErrorCode.INVALID_RECORD,
                                 f"One or more records have been rejected due to {len(keyless)} record errors in total, "
                                 f"and only showing the first three errors at most: [{shown}]",
                                 [(i, why) for i in keyless])
        if settings.schemas is not None:  # schema-at-producer: the one check that reads records on this path
            self._check_schemas(topic, index, records, settings.schemas)
        codec = settings.codec
        if codec is not None and codec != h.compression:
            try:
                records = recompress(records, codec)
            except MalformedError as exc:
                raise KafkaError(ErrorCode.CORRUPT_MESSAGE, f"cannot read the batch to recompress it: {exc}") from None
            h = read_header(records)
            if h.size > limit:
                raise KafkaError(ErrorCode.MESSAGE_TOO_LARGE,
                                 f"The record batch size in the append to {topic}-{index} is {h.size} bytes after "
                                 f"recompression, which exceeds the maximum configured value of {limit}.")
        if not isinstance(records, memoryview) or records.readonly:
            records = memoryview(bytearray(records))  # offsets are written into the batch in place
        batch = records
        max_ts = h.max_timestamp
        if log_append:
            set_log_append_time(batch, now)
            max_ts = now
        base = p.log.append(batch, h.records_count, max_ts, p.leader_epoch, now)
        if self._sync_appends:
            self._unsynced.append(p.log)
        if idempotent:
            p.producers.record(h.producer_id, h.producer_epoch, h.base_sequence, h.records_count, base, now)
            if h.is_transactional:
                p.txn_appended(h.producer_id, base)
        for listener in self.append_listeners:
            listener(p)
        return AppendResult(base, now if log_append else -1, p.log.log_start_offset)

    def _check_schemas(self, topic: str, index: int, records, check: SchemaCheck) -> None:
        try:
            pairs = list(iter_keys_values(records))
        except MalformedError as exc:
            raise KafkaError(ErrorCode.CORRUPT_MESSAGE, f"cannot read the batch: {exc}") from None
        refused = refused_records(self.schema_registry, topic, check, pairs)
        if refused:
            first = refused[0][1]
            raise KafkaError(ErrorCode.INVALID_RECORD,
                             f"{len(refused)} of {len(pairs)} records in the append to {topic}-{index} failed schema "
                             f"validation: record {refused[0][0]}: {first}", refused)

    def read(self, p: PartitionState, offset: int, max_bytes: int, min_one: bool, upto: int | None = None
             ) -> tuple[list[memoryview], int]:
        return p.log.read(offset, max_bytes, min_one, upto)

    def appended(self) -> None:
        """After the appends of one Produce request: with fsync "always", make them durable before the answer."""
        if self._unsynced:
            for log in self._unsynced:
                log.flush()
            self._unsynced.clear()

    def write_markers(self, producer_id: int, epoch: int, partitions: set[tuple[str, int]], commit: bool) -> None:
        """End a transaction on its partitions: a COMMIT or ABORT control batch each, as Kafka's markers."""
        now = self.clock.now_ms()
        for topic, index in sorted(partitions):
            t = self.topics.get(topic)
            if t is None or index >= len(t.partitions):
                continue  # deleted meanwhile
            p = t.partitions[index]
            batch = memoryview(bytearray(control_batch(commit, producer_id, epoch, now)))
            offset = p.log.append(batch, 1, now, p.leader_epoch, now)
            p.txn_ended(producer_id, epoch, offset, commit)
            if self._sync_appends:
                p.log.flush()
            for listener in self.append_listeners:
                listener(p)

    def delete_records(self, topic: str, index: int, offset: int, node_id: int | None = None) -> int:
        """DeleteRecords for one partition, at its leader (``node_id``; None: any broker): move the log start
        offset; returns the new low watermark."""
        p = self.leader_partition(topic, index, node_id)
        if self.topic_config(self.topics[topic], "cleanup.policy").split(",") == ["compact"]:
            raise KafkaError(ErrorCode.POLICY_VIOLATION,
                             f"Records of partitions of topic {topic} with cleanup.policy=compact cannot be deleted")
        hw = p.high_watermark
        if offset == -1:
            offset = hw
        if offset < 0 or offset > hw:
            raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE,
                             f"Cannot increment the log start offset to {offset} of partition {topic}-{index} "
                             f"since it is larger than the high watermark {hw}")
        if offset > p.log.log_start_offset:
            p.log.delete_before(offset)
            self.store.save_log_start(topic, index, p.log.log_start_offset)
        return p.log.log_start_offset

    def maintain_logs(self) -> None:
        """Retention and compaction of every partition (what is due once time has moved on)."""
        self.clean_logs()
        self.apply_retention()

    def apply_retention(self) -> None:
        """Retention of every partition with cleanup.policy delete (log.retention.check.interval.ms)."""
        now = self.clock.now_ms()
        for t in list(self.topics.values()):
            if "delete" not in self.topic_config(t, "cleanup.policy").split(","):
                continue
            retention_ms = int(self.topic_config(t, "retention.ms"))
            retention_bytes = int(self.topic_config(t, "retention.bytes"))
            for p in t.partitions:
                apply_retention(p.log, now, retention_ms, retention_bytes)

    def clean_logs(self) -> None:
        """The log cleaner: compaction of every partition with cleanup.policy compact whose dirty ratio and
        compaction lag allow it (Kafka's cleaner runs every log.cleaner.backoff.ms when idle)."""
        now = self.clock.now_ms()
        for t in list(self.topics.values()):
            if "compact" not in self.topic_config(t, "cleanup.policy").split(","):
                continue
            settings = CompactionSettings(int(self.topic_config(t, "delete.retention.ms")),
                                          float(self.topic_config(t, "min.cleanable.dirty.ratio")),
                                          int(self.topic_config(t, "min.compaction.lag.ms")))
            for p in t.partitions:
                compact(p.log, now, settings,
                        lambda base, ms, p=p: self.store.new_cleaned_segment(p.topic, p.index, base, ms),
                        self.store.commit_cleaned, self.store.finish_cleaned)

    def list_offset(self, p: PartitionState, timestamp: int, read_committed: bool = False) -> tuple[int, int]:
        """ListOffsets for one partition: (offset, timestamp); (-1, -1) when no record matches."""
        log = p.log
        if timestamp == EARLIEST_TIMESTAMP or timestamp == EARLIEST_LOCAL_TIMESTAMP:
            return log.log_start_offset, -1
        if timestamp == LATEST_TIMESTAMP:
            return (p.last_stable_offset if read_committed else p.high_watermark), -1
        if timestamp == MAX_TIMESTAMP:
            refs = log.batch_refs()
            if not refs:
                return -1, -1
            best_i = max(range(len(refs)), key=lambda i: (refs[i].max_timestamp, -i))
            best_ts = refs[best_i].max_timestamp
            for rec in iter_records(log.batch_at(best_i)):
                if rec.timestamp == best_ts and rec.offset >= log.log_start_offset:
                    return rec.offset, best_ts
            return refs[best_i].last_offset, best_ts
        if timestamp < 0:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Invalid timestamp {timestamp}")
        for i, ref in enumerate(log.batch_refs()):
            if ref.max_timestamp >= timestamp:
                for rec in iter_records(log.batch_at(i)):
                    if rec.timestamp >= timestamp and rec.offset >= log.log_start_offset:
                        return rec.offset, rec.timestamp
        return -1, -1

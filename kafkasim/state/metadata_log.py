"""Cluster metadata as an internal log (``__cluster_metadata``), as Kafka keeps it: records of key -> value.

Every change to topics, their configs and partitions, committed offsets, classic group metadata and the
producer id block is appended as one record batch (keys ``topic/NAME``, ``offset/GROUP/TOPIC/PARTITION``,
``group/GROUP``, ``quota/[[TYPE, NAME], ...]`` (a client quota entity: its quotas), ``producer-ids``, ``cluster-id``; values are JSON, a null value deletes the key). At start
the log is replayed, the latest value of each key wins. The log is a compacted log like any other: it is
cleaned when most of it is superseded. The same recovery as for partitions applies (a torn last batch is dropped).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from kafkasim.protocol.records import Record, build_batch, iter_records, read_header
from kafkasim.storage.cleaner import CompactionSettings, compact
from kafkasim.storage.log import Log, Segment

TOPIC = "topic/"
OFFSET = "offset/"
GROUP = "group/"
PRODUCER_IDS = "producer-ids"
CLUSTER_ID = "cluster-id"
TXN = "txn/"
TXN_OFFSETS = "txn-offsets/"
SCRAM = "scram/"
ACL = "acl/"
QUOTA = "quota/"
BROKER_CONFIG = "broker-config/"  # + a node id, or nothing for the cluster-wide default


def offset_key(group_id: str, topic: str, partition: int) -> str:
    return f"{OFFSET}{json.dumps([group_id, topic, partition])}"


def parse_offset_key(key: str) -> tuple[str, str, int]:
    group_id, topic, partition = json.loads(key[len(OFFSET):])
    return group_id, topic, partition


class MetadataLog:
    """Appends metadata records to a log and replays them."""

    def __init__(self, log: Log, now_ms: Callable[[], int], sync_each: bool) -> None:
        self.log = log
        self._now = now_ms
        self._sync_each = sync_each
        self.records = 0  # records in the log
        self.keys: set[str] = set()  # keys with a value: what compaction would keep

    def replay(self) -> dict[str, Any]:
        """The latest value of every key (deleted keys are absent)."""
        state: dict[str, Any] = {}
        count = 0
        for i in range(sum(len(s.bases) for s in self.log.segments)):
            batch = self.log.batch_at(i)
            if read_header(batch).is_control:
                continue
            for rec in iter_records(batch):
                count += 1
                key = (rec.key or b"").decode()
                if rec.value is None:
                    state.pop(key, None)
                else:
                    state[key] = json.loads(rec.value)
        self.records = count
        self.keys = set(state)
        return state

    def put(self, items: Iterable[tuple[str, Any]]) -> None:
        """Append one batch with these key/value records (a value of None deletes the key)."""
        now = self._now()
        items = list(items)
        if not items:
            return
        records = [Record(0, now, k.encode(), None if v is None else json.dumps(v, separators=(",", ":")).encode())
                   for k, v in items]
        for k, v in items:
            if v is None:
                self.keys.discard(k)
            else:
                self.keys.add(k)
        batch = memoryview(bytearray(build_batch(records)))
        self.log.append(batch, len(records), now, 0, now)
        self.records += len(records)
        if self._sync_each:
            self.log.flush()

    def maybe_compact(self, new_segment: Callable[[int, int], Segment],
                      commit: Callable[[Segment], None], finish: Callable[[Segment], None]) -> bool:
        """Rewrite the log without superseded records once they are most of it."""
        live = len(self.keys)
        if self.records < 2 * live + 1000:
            return False
        now = self._now()
        self.log.roll(now)
        compact(self.log, now, CompactionSettings(delete_retention_ms=0), new_segment, commit, finish, force=True)
        self.records = live
        return True

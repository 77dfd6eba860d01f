"""The schema registry's state kept in the cluster's own log: the compacted ``_schemas`` topic, as Confluent
Schema Registry keeps it.

:class:`SchemaStore` creates ``_schemas`` when it is missing (one partition, ``cleanup.policy=compact``),
replays it into a :class:`~kafkasim.schemas.registry.SchemaRegistryState`, and from then on follows it: the
registry's own writes and any record a client produces to ``_schemas`` reach the state the same way, in
offset order, through the cluster's append listeners. So the ids, subjects, configs and modes a registry
serves come back after a restart of a data directory, and ``kafkasim records _schemas`` shows them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kafkasim.protocol.primitives import MalformedError
from kafkasim.protocol.records import Record, build_batch, iter_records
from kafkasim.schemas.registry import SchemaRegistryState
from kafkasim.state.partitions import PartitionState, scan_batches

if TYPE_CHECKING:
    from kafkasim.schemas.registry import Record as RegistryRecord
    from kafkasim.state.cluster import ClusterState

log = logging.getLogger(__name__)

SCHEMAS_TOPIC = "_schemas"


class SchemaStore:
    """Follows ``_schemas`` of ``state`` into ``self.registry``."""

    def __init__(self, state: ClusterState) -> None:
        self._state = state
        if SCHEMAS_TOPIC not in state.topics:
            rf = min(3, len(state.broker_ids()))
            state.create_topic(SCHEMAS_TOPIC, 1, rf, {"cleanup.policy": "compact"})
        self.registry = SchemaRegistryState(self._write)
        self._applied = 0  # the next offset of _schemas to apply
        self._follow(self._partition())
        state.append_listeners.append(self._on_append)

    def close(self) -> None:
        """Stop following the log (the registry keeps what it has)."""
        if self._on_append in self._state.append_listeners:
            self._state.append_listeners.remove(self._on_append)

    def _partition(self) -> PartitionState:
        return self._state.topics[SCHEMAS_TOPIC].partitions[0]

    def _write(self, records: list[RegistryRecord]) -> None:
        """Append the registry's records to ``_schemas`` as one batch; the append listener applies them."""
        now = self._state.clock.now_ms()
        batch = build_batch([Record(i, now, key, value) for i, (key, value) in enumerate(records)])
        self._state.append(SCHEMAS_TOPIC, 0, memoryview(bytearray(batch)), None, -1)
        self._state.appended()

    def _on_append(self, p: PartitionState) -> None:
        if p.topic == SCHEMAS_TOPIC and p.index == 0:
            self._follow(p)

    def _follow(self, p: PartitionState) -> None:
        start = max(self._applied, p.log.log_start_offset)
        end = p.high_watermark
        for h, batch in scan_batches(p, start, end):
            try:
                records = list(iter_records(batch))
            except MalformedError as exc:  # a client's batch the registry cannot read: skipped, as Confluent's
                log.warning("_schemas: skipping the batch at offset %d: %s", h.base_offset, exc)
                continue
            for r in records:
                if start <= r.offset < end:
                    self.registry.apply(r.key, r.value)
        self._applied = max(self._applied, end)

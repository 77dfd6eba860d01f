"""Partition reassignments (KIP-455), as Kafka's controller runs them.

A reassignment to a target replica list first grows the partition's replicas to the target followed by the
current replicas not in it (``adding``: target - current, ``removing``: current - target), with the ISR
unchanged; once the added replicas have caught up it completes: the replicas become the target, the ISR
loses the removed ones and gains the added ones, and a leader that was removed gives way to the first
in-sync replica of the target (the leader epoch moves on whenever a replica is removed, as in Kafka).
Replicas share one log, so they catch up at once: a reassignment completes in the request that starts it,
unless a test sets ``delay_ms`` (the control API), when it completes that long after on the cluster's clock,
and ListPartitionReassignments shows it in progress meanwhile. A reassignment that only removes replicas
completes at once either way, as Kafka's does. A null target cancels: the replicas go back to what they were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.state.brokers import BrokerRegistry
from kafkasim.state.clock import Clock
from kafkasim.state.partitions import NO_LEADER, PartitionState, Topic, set_leader
from kafkasim.state.topics import TopicRegistry

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Reassignment:
    original: list[int]  # the replicas before it started (a cancellation goes back to them)
    target: list[int]
    adding: list[int]
    removing: list[int]
    completes_at: int  # cluster time (ms)


class Reassignments:
    """The ongoing reassignments, by (topic, partition). ``schedule(deadline_ms)`` is the server's timer:
    ``complete_due`` must run once the cluster's clock passes it."""

    def __init__(self, clock: Clock, brokers: BrokerRegistry, topics: TopicRegistry,
                 changed: Callable[[dict[str, Topic]], None]) -> None:
        self.clock = clock
        self.broker_registry = brokers
        self.topic_registry = topics
        self._changed = changed
        self.ongoing: dict[tuple[str, int], Reassignment] = {}
        #: how long a reassignment that adds replicas takes to complete (a test control; 0: at once)
        self.delay_ms = 0
        self.schedule: Callable[[int], None] = lambda deadline_ms: None

    def alter(self, topic: str, index: int, replicas: list[int] | None, allow_replication_factor_change: bool = True
              ) -> None:
        """AlterPartitionReassignments for one partition: start (or replace) a reassignment to ``replicas``,
        or (None) cancel the ongoing one. Raises KafkaError with Kafka's codes."""
        p = self.topic_registry.partition(topic, index)
        key = (topic, index)
        current = self.ongoing.get(key)
        if replicas is None:
            if current is None:
                raise KafkaError(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS,
                                 f"No ongoing reassignment for partition {topic}-{index}.")
            del self.ongoing[key]
            self._apply(p, current.original, removing=[r for r in p.replicas if r not in current.original])
            return
        self._validate(replicas)
        original = current.original if current is not None else list(p.replicas)
        if not allow_replication_factor_change and len(replicas) != len(original):
            raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                             f"The replication factor is changed from {len(original)} to {len(replicas)} but "
                             "allowReplicationFactorChange is false")
        if current is not None:  # replaced: start again from the replicas it started from
            del self.ongoing[key]
        base = original if current is not None else p.replicas
        adding = [r for r in replicas if r not in base]
        if not adding or self.delay_ms <= 0:
            if current is not None and p.replicas != original:
                p.replicas = list(original)
            self._complete(p, list(replicas))
            return
        removing = [r for r in base if r not in replicas]
        r = Reassignment(list(original), list(replicas), adding, removing, self.clock.now_ms() + self.delay_ms)
        self.ongoing[key] = r
        p.replicas = list(replicas) + removing
        self._changed({topic: self.topic_registry.topics[topic]})
        self.schedule(r.completes_at)

    def _validate(self, replicas: list[int]) -> None:
        if not replicas:
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             "The manual partition assignment includes an empty replica list.")
        if len(set(replicas)) != len(replicas):
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             f"The manual partition assignment includes the broker "
                             f"{next(r for r in replicas if replicas.count(r) > 1)} more than once.")
        for r in replicas:
            if r not in self.broker_registry.brokers:
                raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 f"The manual partition assignment includes broker {r}, but no such broker is "
                                 "registered.")

    def listing(self, wanted: Iterable[tuple[str, Iterable[int]]] | None
                ) -> list[tuple[str, int, list[int], list[int], list[int]]]:
        """(topic, partition, replicas, adding, removing) of the ongoing reassignments, of the partitions asked
        for (None: all). Partitions without one, and unknown ones, are left out, as Kafka does."""
        if wanted is None:
            keys = sorted(self.ongoing)
        else:
            keys = [(t, i) for t, indexes in wanted for i in indexes if (t, i) in self.ongoing]
        out = []
        for topic, index in keys:
            r = self.ongoing[(topic, index)]
            replicas = self.topic_registry.topics[topic].partitions[index].replicas
            out.append((topic, index, list(replicas), list(r.adding), list(r.removing)))
        return out

    def complete_due(self) -> None:
        """Complete every reassignment whose time has come (the added replicas have caught up)."""
        now = self.clock.now_ms()
        for key, r in sorted(self.ongoing.items()):
            if r.completes_at <= now:
                del self.ongoing[key]
                t = self.topic_registry.topics.get(key[0])
                if t is not None and key[1] < len(t.partitions):
                    self._complete(t.partitions[key[1]], r.target)
        nxt = min((r.completes_at for r in self.ongoing.values()), default=None)
        if nxt is not None:
            self.schedule(nxt)

    def topic_deleted(self, name: str) -> None:
        for key in [k for k in self.ongoing if k[0] == name]:
            del self.ongoing[key]

    def _complete(self, p: PartitionState, target: list[int]) -> None:
        self._apply(p, target, removing=[r for r in p.replicas if r not in target])

    def _apply(self, p: PartitionState, replicas: list[int], removing: list[int]) -> None:
        """The partition's replicas become ``replicas``: the ISR keeps its replicas among them and gains the
        others that run (one shared log: caught up); a leader no longer a replica gives way."""
        fenced = self.broker_registry.is_fenced
        p.replicas = list(replicas)
        p.isr = [r for r in replicas if not fenced(r)] or [r for r in p.isr if r in replicas]
        if p.leader not in replicas or p.leader == NO_LEADER:
            set_leader(p, self.broker_registry.first_eligible(replicas, p.isr))
        elif removing:  # Kafka bumps the leader epoch when a reassignment removes replicas
            p.note_leader_epoch(p.leader_epoch + 1, True)
            p.leader_epoch += 1
        self._changed({p.topic: self.topic_registry.topics[p.topic]})
        log.info("reassignment of %s-%d: replicas %s, ISR %s, leader %d", p.topic, p.index, p.replicas, p.isr,
                 p.leader)

"""The brokers of the cluster: who is registered, where, in which rack, which ones the controller has
fenced, which one is the controller, and the placement of new replicas over the brokers that are not fenced.

How fencing moves leaderships is :mod:`kafkasim.state.leadership`'s business; this module only knows the
brokers themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from kafkasim.config import BrokerConfig
from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.state.partitions import NO_LEADER
from kafkasim.state.placement import place_replicas


@dataclass(slots=True)
class BrokerInfo:
    """A broker of the cluster. ``running``: its listener accepts connections. ``fenced``: the controller has
    taken it out of the cluster (a clean stop, or a crash once ``broker.session.timeout.ms`` passed): it is
    not in Metadata, leads nothing and is in no ISR. A crashed broker is stopped but not yet fenced until
    ``fence_at`` (broker time)."""

    node_id: int
    host: str
    port: int
    rack: str | None = None
    running: bool = True
    fenced: bool = False
    fence_at: int | None = None
    #: listener name -> advertised (host, port); (host, port) above are the first listener's
    endpoints: dict[str, tuple[str, int]] | None = None

    def address(self, listener: str) -> tuple[str, int]:
        """The advertised host and port of this broker on ``listener`` (the request's listener), as Kafka
        answers endpoint-bearing requests with the endpoints of the listener they came in on."""
        if self.endpoints is not None:
            ep = self.endpoints.get(listener)
            if ep is not None:
                return ep
        return self.host, self.port


class BrokerRegistry:
    """The brokers by node id, and the controller (the first broker that is not fenced)."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.brokers: dict[int, BrokerInfo] = {}
        self.controller_id = config.node_id

    def add(self, node_id: int, host: str, port: int, rack: str | None,
            endpoints: dict[str, tuple[str, int]] | None = None) -> None:
        """A new broker joins at host:port (its first listener), and ``endpoints`` per listener name."""
        self.brokers[node_id] = BrokerInfo(node_id, host, port, rack, endpoints=endpoints)
        self.update_controller()

    def brokers_by_id(self, node_ids) -> list[BrokerInfo]:
        """The brokers of these node ids that are in the metadata (not fenced), by node id."""
        return [self.brokers[n] for n in sorted(node_ids) if n in self.brokers and not self.brokers[n].fenced]

    def live_brokers(self) -> list[BrokerInfo]:
        """The brokers in the cluster's metadata (not fenced), by node id."""
        return [b for _, b in sorted(self.brokers.items()) if not b.fenced]

    def broker_ids(self) -> list[int]:
        """Node ids of every broker of the cluster (fenced ones too)."""
        return sorted(self.brokers) or [self.config.node_id]

    def update_controller(self) -> None:
        live = self.live_brokers()
        self.controller_id = live[0].node_id if live else -1

    def is_fenced(self, node_id: int) -> bool:
        b = self.brokers.get(node_id)
        return b is not None and b.fenced

    def first_eligible(self, replicas: list[int], isr: list[int]) -> int:
        """The first replica in the ISR whose broker is not fenced, else NO_LEADER."""
        return next((r for r in replicas if r in isr and not self.is_fenced(r)), NO_LEADER)

    def placement(self, first: int, count: int, replication_factor: int) -> list[list[int]]:
        """The replicas (leader first) of ``count`` new partitions numbered from ``first``, placed as Kafka places
        them over the brokers that are not fenced (rack-aware when every one has a rack)."""
        return place_replicas(self.placement_brokers(), count, replication_factor, first)

    def placement_brokers(self) -> list[tuple[int, str | None]]:
        if not self.brokers:
            return [(self.config.node_id, self.config.rack)]
        return [(b.node_id, b.rack) for b in self.live_brokers()]

    def check_replication_factor(self, rf: int) -> None:
        """INVALID_REPLICATION_FACTOR when fewer brokers than ``rf`` can take new replicas (not fenced)."""
        live = len(self.placement_brokers())
        if rf > live:
            raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                             f"Unable to replicate the partition {rf} time(s): The target replication "
                             f"factor of {rf} cannot be reached because only {live} broker(s) are registered.")

    def set_rack(self, node_id: int, rack: str | None) -> None:
        """Move a broker to another rack (broker.rack): Metadata, closest-replica fetching and the placement
        of later topics see it."""
        if node_id not in self.brokers:
            raise ValueError(f"no broker {node_id}")
        self.brokers[node_id].rack = rack or None

    def next_fence_deadline(self) -> int | None:
        return min((b.fence_at for b in self.brokers.values() if b.fence_at is not None), default=None)

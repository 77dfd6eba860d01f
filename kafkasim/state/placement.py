"""Where replicas go and which broker coordinates a key: Kafka's placement rules, deterministic.

Replica placement follows Kafka's classic assignment (the one ``kafka-topics`` and the ZooKeeper-era
controller used): leaders go round-robin over the brokers, followers are shifted by a per-round offset,
and when every broker has a rack the brokers are ordered rack by rack alternately, so that the replicas
of a partition land on as many racks as there are (and a leader per rack in turn). Kafka starts the
round at a random broker; kafkasim starts at the first one, so a test sees the same layout every run.

Coordinators: a group id or transactional id maps to partition ``abs(hash) % count`` of
``__consumer_offsets`` or ``__transaction_state``, with Java's ``String.hashCode``, as Kafka computes it;
the leader of that partition is the coordinator.
"""

from __future__ import annotations

from collections.abc import Sequence


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode()``: over UTF-16 code units, as a signed 32-bit int."""
    data = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - 0x100000000 if h & 0x80000000 else h


def coordinator_partition(key: str, partitions: int) -> int:
    """The coordinator partition of ``key``: ``Utils.abs(key.hashCode()) % partitions`` (abs of MIN_VALUE is 0)."""
    h = java_string_hash(key)
    return (0 if h == -0x80000000 else abs(h)) % partitions


def _replica_index(first: int, shift: int, j: int, n: int) -> int:
    return (first + 1 + (shift + j) % (n - 1)) % n


def rack_alternated(brokers: Sequence[tuple[int, str]]) -> list[int]:
    """Broker ids ordered one rack after another: racks by name, each rack's brokers by id."""
    by_rack: dict[str, list[int]] = {}
    for node, rack in sorted(brokers):
        by_rack.setdefault(rack, []).append(node)
    queues = [by_rack[r] for r in sorted(by_rack)]
    out: list[int] = []
    i = 0
    while len(out) < len(brokers):
        q = queues[i % len(queues)]
        pos = i // len(queues)
        if pos < len(q):
            out.append(q[pos])
        i += 1
    return out


def place_replicas(brokers: Sequence[tuple[int, str | None]], partitions: int, replication_factor: int,
                   first_partition: int = 0) -> list[list[int]]:
    """Replica lists (leader first) of ``partitions`` new partitions numbered from ``first_partition``.

    ``brokers`` are (node id, rack) pairs. Rack-aware when every broker has a rack. The caller has checked
    that ``replication_factor`` is at most the number of brokers.
    """
    n = len(brokers)
    if n == 0 or not 1 <= replication_factor <= n:
        raise ValueError(f"cannot place {replication_factor} replicas on {n} brokers")
    racks = {node: rack for node, rack in brokers}
    aware = all(r for r in racks.values())
    arranged = rack_alternated([(b, racks[b]) for b in racks]) if aware else sorted(racks)  # type: ignore[misc]
    num_racks = len(set(racks.values())) if aware else 1
    out: list[list[int]] = []
    shift = 0
    for current in range(first_partition, first_partition + partitions):
        if current > 0 and current % n == 0:
            shift += 1
        first = current % n
        leader = arranged[first]
        replicas = [leader]
        if not aware:
            replicas += [arranged[_replica_index(first, shift, j, n)] for j in range(replication_factor - 1)]
            out.append(replicas)
            continue
        used_racks = {racks[leader]}
        k = 0
        while len(replicas) < replication_factor:
            b = arranged[_replica_index(first, shift * num_racks, k, n)]
            k += 1
            if (racks[b] not in used_racks or len(used_racks) == num_racks) and b not in replicas:
                replicas.append(b)
                used_racks.add(racks[b])
        out.append(replicas)
    return out

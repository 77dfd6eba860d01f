"""The consumer protocol of classic groups: the subscription and assignment that members of protocol type
``consumer`` exchange through JoinGroup and SyncGroup (decoded and encoded with the generated codec), and
consumer lag."""

from __future__ import annotations

import struct
from collections.abc import Iterable

from kafkasim.protocol.messages import consumer_protocol_assignment as cpa
from kafkasim.protocol.messages import consumer_protocol_subscription as cps
from kafkasim.protocol.primitives import MalformedError

CONSUMER_PROTOCOL = "consumer"


def _decode_versioned(module, data: bytes):
    """The consumer protocol's embedded formats: an int16 version, then the struct at that version."""
    mv = memoryview(data)
    if len(mv) < 2:
        return None
    version = int.from_bytes(mv[:2], "big", signed=True)
    lo, hi = module.DATA_VERSIONS
    try:
        obj, _end = module.DECODE_DATA[min(max(version, lo), hi)](mv, 2)
    except (MalformedError, ValueError, IndexError, UnicodeDecodeError, struct.error):
        return None
    return obj


def consumer_subscription(metadata: bytes) -> list[str]:
    """Topics in a consumer-protocol subscription (JoinGroup metadata); [] when it cannot be read."""
    sub = _decode_versioned(cps, metadata)
    return list(sub.topics) if sub is not None else []


def consumer_assignment(assignment: bytes) -> list[tuple[str, int]]:
    """(topic, partition) pairs of a consumer-protocol assignment (SyncGroup); [] when it cannot be read."""
    a = _decode_versioned(cpa, assignment)
    if a is None:
        return []
    return sorted((t.topic, p) for t in a.assigned_partitions for p in t.partitions)


def _encode_versioned(module, version: int, obj) -> bytes:
    parts: list = []
    out = module.ENCODE_DATA[version](bytearray(), parts, obj)
    parts.append(out)
    return version.to_bytes(2, "big", signed=True) + b"".join(bytes(p) for p in parts)


def encode_consumer_subscription(topics: list[str]) -> bytes:
    """A consumer-protocol subscription (v0) naming ``topics``."""
    return _encode_versioned(cps, 0, cps.ConsumerProtocolSubscription(topics=list(topics)))


def encode_consumer_assignment(partitions: Iterable[tuple[str, int]]) -> bytes:
    """A consumer-protocol assignment (v0) of ``partitions``."""
    by_topic: dict[str, list[int]] = {}
    for t, p in sorted(partitions):
        by_topic.setdefault(t, []).append(p)
    return _encode_versioned(cpa, 0, cpa.ConsumerProtocolAssignment(assigned_partitions=[
        cpa.ConsumerProtocolAssignmentTopicPartition(topic=t, partitions=ps) for t, ps in by_topic.items()]))


def lag(committed: int, log_end: int) -> int:
    """Consumer lag: how far the committed offset is behind the log end (-1 when either is unknown)."""
    if committed < 0 or log_end < 0:
        return -1
    return max(0, log_end - committed)

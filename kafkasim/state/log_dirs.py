"""Log directories as a broker reports them (DescribeLogDirs, AlterReplicaLogDirs): every broker has one.

All replicas of a partition share one log (see :mod:`kafkasim.state.cluster`), so a broker's log directory
holds every partition it is a replica of, each as large as the shared log. With a data directory it is that
directory (its total and usable bytes from the file system); in memory it is a stable pseudo path, and its
bytes are the machine's memory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kafkasim.errors import ErrorCode

if TYPE_CHECKING:
    from kafkasim.state.cluster import ClusterState

#: the log directory of a broker that keeps its logs in memory
MEMORY_LOG_DIR = "/kafkasim/memory"


@dataclass(frozen=True, slots=True)
class LogDir:
    path: str
    total_bytes: int
    usable_bytes: int
    #: topic -> [(partition, size in bytes, offset lag)], of the partitions asked for that the broker holds
    partitions: dict[str, list[tuple[int, int, int]]]


def log_dir_path(state: ClusterState, node_id: int) -> str:
    """The broker's one log directory (``log.dirs``). Every broker of a cluster shares the data directory."""
    data_dir = state.config.data_dir
    return os.path.abspath(data_dir) if data_dir else MEMORY_LOG_DIR


def _volume_bytes(state: ClusterState) -> tuple[int, int]:
    data_dir = state.config.data_dir
    try:
        if data_dir:
            usage = shutil.disk_usage(data_dir)
            return usage.total, usage.free
        page = os.sysconf("SC_PAGE_SIZE")
        return os.sysconf("SC_PHYS_PAGES") * page, os.sysconf("SC_AVPHYS_PAGES") * page
    except (OSError, ValueError):
        return -1, -1  # Kafka's "unknown"


def describe_log_dir(state: ClusterState, node_id: int, topics: Iterable[tuple[str, list[int]]] | None) -> LogDir:
    """The log directory of broker ``node_id`` with the replicas it holds among ``topics`` ((name, partitions);
    None: all). Kafka leaves out partitions the broker does not hold, and unknown ones, without an error.
    The offset lag of a replica is how far its log end is behind the high watermark: 0 with one shared log."""
    wanted = None if topics is None else {name: set(parts) for name, parts in topics}
    out: dict[str, list[tuple[int, int, int]]] = {}
    for name, t in state.topics.items():
        if wanted is not None and name not in wanted:
            continue
        for p in t.partitions:
            if node_id not in p.replicas or (wanted is not None and p.index not in wanted[name]):
                continue
            out.setdefault(name, []).append((p.index, p.log.size_bytes, max(0, p.high_watermark - p.log.log_end_offset)))
    total, usable = _volume_bytes(state)
    return LogDir(log_dir_path(state, node_id), total, usable, out)


def alter_replica_log_dir(state: ClusterState, node_id: int, path: str, topic: str, partition: int) -> int:
    """AlterReplicaLogDirs for one replica: the error code Kafka answers. The only log directory is where every
    replica already is, so moving there is done at once; any other path is LOG_DIR_NOT_FOUND."""
    if os.path.abspath(path) != log_dir_path(state, node_id) and path != log_dir_path(state, node_id):
        return ErrorCode.LOG_DIR_NOT_FOUND
    t = state.topics.get(topic)
    if t is None or not 0 <= partition < len(t.partitions):
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    if node_id not in t.partitions[partition].replicas:
        return ErrorCode.NOT_LEADER_OR_FOLLOWER  # known to the metadata, not hosted here
    return ErrorCode.NO_ERROR

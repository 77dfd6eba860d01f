"""In-process clusters for tests, importable without pytest."""

from kafkasim.testing.cluster import (
    BrokerStatus,
    Cluster,
    GroupInfo,
    GroupMemberInfo,
    PartitionStatus,
    ThreadedCluster,
)
from kafkasim.testing.records import RecordInfo, WaitTimeout, read_records

__all__ = ["BrokerStatus", "Cluster", "GroupInfo", "GroupMemberInfo", "PartitionStatus", "RecordInfo", "ThreadedCluster",
           "WaitTimeout", "read_records"]

"""In-process clusters for tests, importable without pytest."""

from kafkasim.testing.cluster import Cluster, GroupInfo, GroupMemberInfo, ThreadedCluster
from kafkasim.testing.records import RecordInfo, WaitTimeout, read_records

__all__ = ["Cluster", "GroupInfo", "GroupMemberInfo", "RecordInfo", "ThreadedCluster", "WaitTimeout", "read_records"]

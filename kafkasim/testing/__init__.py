"""In-process clusters for tests, importable without pytest."""

from kafkasim.testing.cluster import Cluster, GroupInfo, GroupMemberInfo, ThreadedCluster

__all__ = ["Cluster", "GroupInfo", "GroupMemberInfo", "ThreadedCluster"]

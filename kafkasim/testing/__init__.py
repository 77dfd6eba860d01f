"""In-process clusters for tests, importable without pytest."""

from kafkasim.testing.cluster import Cluster, ThreadedCluster

__all__ = ["Cluster", "ThreadedCluster"]

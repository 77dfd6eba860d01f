"""Prometheus metrics of the served clusters (``GET /metrics`` on the control port).

Read at scrape time, on the clusters' event loop, from what the brokers count (:mod:`kafkasim.server.stats`)
and from the cluster state; nothing is kept twice. Every family has a ``cluster`` label (the cluster's name,
"default" for an unnamed one):

- ``kafkasim_requests_total{broker, api}``, ``kafkasim_errors_total{broker, api, error}`` (every error code of
  every answer, partition-level ones included and NONE too, as Kafka's ErrorsPerSec counts them; counted from
  the moment metrics are served), ``kafkasim_bytes_in_total{broker}``, ``kafkasim_bytes_out_total{broker}``,
  ``kafkasim_connections{broker}`` (open now), ``kafkasim_connections_accepted_total{broker}``;
- ``kafkasim_broker_running{broker}``, ``kafkasim_broker_fenced{broker}``;
- ``kafkasim_partition_log_start_offset``, ``kafkasim_partition_log_end_offset``,
  ``kafkasim_partition_leader`` (node id, -1 without leader), ``kafkasim_partition_leader_epoch`` and
  ``kafkasim_partition_in_sync_replicas``, each ``{topic, partition}``;
- ``kafkasim_group_members{group}``, ``kafkasim_group_committed_offset{group, topic, partition}`` and
  ``kafkasim_group_lag{group, topic, partition}`` (log-end offset minus committed offset, as state.groups.lag);
- ``kafkasim_fault_fired_total{rule, action}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from kafkasim.errors import ErrorCode
from kafkasim.protocol.api import api_name
from kafkasim.testing.cluster import Cluster


def _error_name(code: int) -> str:
    """Kafka's name of an error code, as its ErrorsPerSec metric labels it (0 is NONE)."""
    if code == 0:
        return "NONE"
    try:
        return ErrorCode(code).name
    except ValueError:
        return str(code)


class ClustersCollector:
    """A prometheus_client collector over running clusters."""

    def __init__(self, clusters: Iterable[Cluster]) -> None:
        self.clusters = list(clusters)

    def collect(self) -> Iterator[Metric]:
        c, b = ["cluster"], ["cluster", "broker"]
        p = ["cluster", "topic", "partition"]
        g = ["cluster", "group"]
        gp = ["cluster", "group", "topic", "partition"]
        fams = {
            "requests": CounterMetricFamily("kafkasim_requests", "Requests received, by broker and API.",
                                            labels=[*b, "api"]),
            "errors": CounterMetricFamily("kafkasim_errors", "Error codes in responses (every partition's, NONE "
                                          "too), by broker, API and error.", labels=[*b, "api", "error"]),
            "bytes_in": CounterMetricFamily("kafkasim_bytes_in", "Bytes received from clients.", labels=b),
            "bytes_out": CounterMetricFamily("kafkasim_bytes_out", "Bytes sent to clients.", labels=b),
            "connections": GaugeMetricFamily("kafkasim_connections", "Open client connections.", labels=b),
            "accepted": CounterMetricFamily("kafkasim_connections_accepted", "Client connections accepted.",
                                            labels=b),
            "running": GaugeMetricFamily("kafkasim_broker_running", "1 while the broker's listener runs.", labels=b),
            "fenced": GaugeMetricFamily("kafkasim_broker_fenced", "1 while the broker is out of the cluster.",
                                        labels=b),
            "start": GaugeMetricFamily("kafkasim_partition_log_start_offset", "Log start offset.", labels=p),
            "end": GaugeMetricFamily("kafkasim_partition_log_end_offset", "Log end offset (high watermark).",
                                     labels=p),
            "leader": GaugeMetricFamily("kafkasim_partition_leader", "Node id of the leader (-1: none).", labels=p),
            "epoch": GaugeMetricFamily("kafkasim_partition_leader_epoch", "Leader epoch.", labels=p),
            "isr": GaugeMetricFamily("kafkasim_partition_in_sync_replicas", "In-sync replicas.", labels=p),
            "members": GaugeMetricFamily("kafkasim_group_members", "Members of a consumer group.", labels=g),
            "committed": GaugeMetricFamily("kafkasim_group_committed_offset", "Committed offset.", labels=gp),
            "lag": GaugeMetricFamily("kafkasim_group_lag", "Log-end offset minus committed offset.", labels=gp),
            "fired": CounterMetricFamily("kafkasim_fault_fired", "How often a fault rule fired.",
                                         labels=[*c, "rule", "action"]),
        }
        for cluster in self.clusters:
            self._cluster(cluster, fams)
        yield from fams.values()

    @staticmethod
    def _cluster(cluster: Cluster, fams: dict[str, Metric]) -> None:
        name = cluster.name or "default"
        state = cluster.state
        for node, broker in sorted(cluster.server.brokers.items()):
            labels = [name, str(node)]
            stats = broker.stats
            stats.count_errors = True  # from the first scrape on
            for key, n in sorted(stats.requests.items()):
                fams["requests"].add_metric([*labels, api_name(key)], n)
            for key, codes in sorted(stats.errors.items()):
                for code, n in sorted(codes.items()):
                    fams["errors"].add_metric([*labels, api_name(key), _error_name(code)], n)
            fams["bytes_in"].add_metric(labels, stats.bytes_in)
            fams["bytes_out"].add_metric(labels, stats.bytes_out)
            fams["connections"].add_metric(labels, broker.connections)
            fams["accepted"].add_metric(labels, stats.connections_accepted)
            info = state.brokers.get(node)
            fams["running"].add_metric(labels, 1 if broker.running else 0)
            fams["fenced"].add_metric(labels, 1 if info is not None and info.fenced else 0)
        for topic in state.topics.values():
            for part in topic.partitions:
                labels = [name, topic.name, str(part.index)]
                fams["start"].add_metric(labels, part.log.log_start_offset)
                fams["end"].add_metric(labels, part.high_watermark)
                fams["leader"].add_metric(labels, part.leader)
                fams["epoch"].add_metric(labels, part.leader_epoch)
                fams["isr"].add_metric(labels, len(part.isr))
        groups = state.groups
        for group_id in sorted(set(groups.groups) | set(groups.consumer.groups)):
            cg = groups.consumer.groups.get(group_id)
            classic = groups.groups.get(group_id)
            members = len(cg.members) if cg is not None else len(classic.members) if classic is not None else 0
            fams["members"].add_metric([name, group_id], members)
            for (topic_name, index), o in sorted(state.group_offsets(group_id).items()):
                labels = [name, group_id, topic_name, str(index)]
                fams["committed"].add_metric(labels, o.committed)
                if o.lag >= 0:
                    fams["lag"].add_metric(labels, o.lag)
        for rule in cluster.faults.list():
            fams["fired"].add_metric([name, str(rule.id), rule.action], rule.fired)


class Metrics:
    """The ``/metrics`` answer: (Prometheus text, its content type), rendered on demand."""

    def __init__(self, clusters: Iterable[Cluster]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = ClustersCollector(clusters)
        self.registry.register(self.collector)
        for cluster in self.collector.clusters:  # error codes are counted while metrics are served
            for broker in cluster.server.brokers.values():
                broker.stats.count_errors = True

    def __call__(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

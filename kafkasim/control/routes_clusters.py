"""Control API routes of clusters, brokers, topics, partitions, leaders and groups."""

from __future__ import annotations

from aiohttp import web

from kafkasim.control.common import (
    ApiError,
    RoutesBase,
    _broker_json,
    _field,
    _group_json,
    _int_param,
    _json_body,
    _json_type,
    _kafka_error,
    _partition_json,
)
from kafkasim.errors import KafkaError
from kafkasim.testing.cluster import Cluster

#: (method, path, handler name) of this family's routes
ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/clusters", "list_clusters"),
    ("GET", "/clusters/{cluster}", "get_cluster"),
    ("GET", "/clusters/{cluster}/brokers", "list_brokers"),
    ("POST", "/clusters/{cluster}/brokers/{node_id}/stop", "stop_broker"),
    ("POST", "/clusters/{cluster}/brokers/{node_id}/start", "start_broker"),
    ("PUT", "/clusters/{cluster}/brokers/{node_id}/rack", "set_rack"),
    ("POST", "/clusters/{cluster}/topics", "create_topic"),
    ("GET", "/clusters/{cluster}/topics/{topic}/partitions/{partition}", "get_partition"),
    ("POST", "/clusters/{cluster}/topics/{topic}/partitions/{partition}/leader", "move_leader"),
    ("POST", "/clusters/{cluster}/elect-leaders", "elect_leaders"),
    ("PUT", "/clusters/{cluster}/reassignment-delay", "set_reassignment_delay"),
    ("GET", "/clusters/{cluster}/groups", "list_groups"),
    ("GET", "/clusters/{cluster}/groups/{group}", "get_group"),
]


class ClusterRoutes(RoutesBase):
    # ------------------------------------------------------------------ clusters and brokers

    async def list_clusters(self, request: web.Request) -> web.Response:
        return web.json_response({"clusters": [self._summary(c) for c in self.clusters.values()]})

    async def get_cluster(self, request: web.Request) -> web.Response:
        return web.json_response(self._summary(self._cluster(request)))

    async def list_brokers(self, request: web.Request) -> web.Response:
        return web.json_response({"brokers": [_broker_json(b) for b in self._cluster(request).brokers()]})

    async def stop_broker(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        node_id = self._node_id(request, c)
        body = await _json_body(request, {"controlled"})
        controlled = _field(body, "controlled", bool, True)
        try:
            await c.server.stop_broker(node_id, controlled)
        except ValueError as exc:  # not running
            raise ApiError(409, str(exc)) from None
        return self._broker_after(c, node_id)

    async def start_broker(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        node_id = self._node_id(request, c)
        await _json_body(request, set())
        try:
            await c.server.start_broker(node_id)
        except ValueError as exc:  # already running
            raise ApiError(409, str(exc)) from None
        return self._broker_after(c, node_id)

    async def set_rack(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        node_id = self._node_id(request, c)
        body = await _json_body(request, {"rack"})
        c.set_rack(node_id, _field(body, "rack", str, nullable=True))
        return self._broker_after(c, node_id)

    async def set_reassignment_delay(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        body = await _json_body(request, {"delay_ms"})
        delay = _field(body, "delay_ms", int, minimum=0)
        c.set_reassignment_delay(delay)
        return web.json_response({"delay_ms": delay})

    # ------------------------------------------------------------------ topics and partitions

    async def create_topic(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        body = await _json_body(request, {"name", "partitions", "replication_factor", "configs"})
        name = _field(body, "name", str)
        partitions = _field(body, "partitions", int, -1, minimum=-1)
        replication_factor = _field(body, "replication_factor", int, -1, minimum=-1)
        configs = _field(body, "configs", dict, None, nullable=True) or {}
        for k, v in configs.items():
            if v is not None and not isinstance(v, str):
                raise ApiError(400, f"config {k!r} must be a string or null, not {_json_type(v)}")
        try:
            c.create_topic(name, partitions, configs, replication_factor=replication_factor)
        except KafkaError as exc:
            raise _kafka_error(exc, f"cannot create topic {name!r}") from None
        return web.json_response({"name": name, "partitions": [_partition_json(p) for p in c.partitions(name)]},
                                 status=201)

    def _partition_ref(self, request: web.Request) -> tuple[Cluster, str, int]:
        c = self._cluster(request)
        return c, request.match_info["topic"], _int_param(request.match_info["partition"], "partition")

    async def get_partition(self, request: web.Request) -> web.Response:
        c, topic, partition = self._partition_ref(request)
        try:
            return web.json_response(_partition_json(c.partition_status(topic, partition)))
        except KafkaError as exc:
            raise _kafka_error(exc, f"{topic}-{partition}") from None

    async def move_leader(self, request: web.Request) -> web.Response:
        c, topic, partition = self._partition_ref(request)
        body = await _json_body(request, {"node_id"})
        node_id = _field(body, "node_id", int)
        try:
            c.move_leader(topic, partition, node_id)
        except KafkaError as exc:
            raise _kafka_error(exc, f"{topic}-{partition}") from None
        except ValueError as exc:  # not an in-sync replica
            raise ApiError(409, str(exc)) from None
        return web.json_response(_partition_json(c.partition_status(topic, partition)))

    async def elect_leaders(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        body = await _json_body(request, {"topic"})
        topic = _field(body, "topic", str, None, nullable=True)
        try:
            moved = c.elect_preferred_leaders(topic)
        except KafkaError as exc:
            raise _kafka_error(exc, f"topic {topic!r}") from None
        return web.json_response({"moved": [{"topic": t, "partition": p} for t, p in moved]})

    # ------------------------------------------------------------------ groups

    async def list_groups(self, request: web.Request) -> web.Response:
        return web.json_response({"groups": self._cluster(request).list_groups()})

    async def get_group(self, request: web.Request) -> web.Response:
        c = self._cluster(request)
        group_id = request.match_info["group"]
        info = c.describe_group(group_id)
        if info is None:
            raise ApiError(404, f"no group {group_id!r} (groups: {c.list_groups()})")
        return web.json_response(_group_json(c, info))

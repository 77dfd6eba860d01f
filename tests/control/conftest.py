"""Fixtures of the control API tests: real in-process clusters and a real ControlServer on an ephemeral
127.0.0.1 port, all on one daemon thread (``ControlServer.run_in_thread()``), stopped at teardown; requests
go over real sockets with urllib."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from kafkasim.control import ControlServer
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import produce as pr
from kafkasim.protocol.records import Record, build_batch
from kafkasim.testing import Cluster
from kafkasim.testing.cluster import ThreadedCluster
from kafkasim.testing.wire import WireClient

NOW = 1_700_000_000_000


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    raw: bytes = b""


@dataclass
class Api:
    """A control API under test: ``call(method, path, body)`` sends one request, answers any status."""

    url: str
    server: ControlServer
    clusters: list[Cluster]
    token: str | None = None
    sent: list[str] = field(default_factory=list)

    @property
    def cluster(self) -> Cluster:
        return self.clusters[0]

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             token: str | None | bool = True, headers: dict[str, str] | None = None, timeout: float = 30.0) -> Answer:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        hdrs = dict(headers or {})
        if data is not None and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = "application/json"
        use = self.token if token is True else token or None
        if use:
            hdrs["Authorization"] = f"Bearer {use}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        self.sent.append(f"{method} {path}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                content = resp.read()
                return Answer(resp.status, json.loads(content) if _is_json(resp.headers) else None,
                              dict(resp.headers), content)
        except urllib.error.HTTPError as exc:
            content = exc.read()
            answer = Answer(exc.code, json.loads(content) if _is_json(exc.headers) else None, dict(exc.headers),
                            content)
            exc.close()
            return answer

    def get(self, path: str, **kw: Any) -> Answer:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("POST", path, body, **kw)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """The JSON of a request that must succeed with ``status``."""
        answer = self.call(method, path, body)
        assert answer.status == status, (method, path, answer.status, answer.body)
        return answer.body

    def error(self, method: str, path: str, body: Any = None, status: int = 400, **kw: Any) -> dict[str, Any]:
        """The error JSON of a request that must fail with ``status``."""
        answer = self.call(method, path, body, **kw)
        assert answer.status == status, (method, path, answer.status, answer.body)
        assert answer.headers.get("Content-Type", "").startswith("application/json"), answer.headers
        assert isinstance(answer.body, dict) and isinstance(answer.body.get("error"), str), answer.body
        return answer.body


def _is_json(headers: Any) -> bool:
    return (headers.get("Content-Type") or "").startswith("application/json")


@pytest.fixture
def control_factory() -> Iterator[Callable[..., Api]]:
    """``control_factory(*clusters, token=None, metrics=None)``: the clusters (default: one) and their
    ControlServer running on one thread; everything is stopped at teardown."""
    runners: list[ThreadedCluster] = []

    def make(*clusters: Cluster, token: str | None = None, metrics: Any = None) -> Api:
        chosen = list(clusters) or [Cluster()]
        server = ControlServer(chosen, token=token, metrics=metrics)
        runner = server.run_in_thread()
        runner.start()
        runners.append(runner)
        return Api(server.url, server, chosen, token)

    yield make
    for r in reversed(runners):
        r.stop()


@pytest.fixture
def api(control_factory: Callable[..., Api]) -> Api:
    """One cluster of three brokers on a virtual clock, with its control API."""
    return control_factory(Cluster(brokers=3, clock="virtual"))


def produce(cluster: Cluster, topic: str, partition: int,
            records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]], ts: int = NOW) -> int:
    """Produce one batch over the wire to the partition's leader (acks=all); returns its base offset."""
    batch = build_batch([Record(0, ts + i, k, v, list(h)) for i, (k, v, h) in enumerate(records)])
    leader = cluster.leader(topic, partition)
    (address,) = [b.bootstrap for b in cluster.brokers() if b.node_id == leader]
    with WireClient(address, client_id="control-tests") as c:
        resp = c.request(ApiKey.PRODUCE, pr.ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[
            pr.ProduceRequestTopicProduceData(name=topic, partition_data=[
                pr.ProduceRequestPartitionProduceData(index=partition, records=batch)])]))
    part = resp.responses[0].partition_responses[0]
    assert part.error_code == 0, part
    return part.base_offset

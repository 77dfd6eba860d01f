"""Fixtures for the real-client compatibility tests.

Every test talks to a broker over TCP. By default each test gets a fresh in-process kafkasim on an
ephemeral 127.0.0.1 port; ``--kafka-bootstrap HOST:PORT`` points the tests that do not need kafkasim's
own controls at another Kafka-compatible broker instead (a real Kafka, Tansu, ...).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kafka-bootstrap",
        default=None,
        help="run compat tests against this external broker instead of an in-process kafkasim",
    )


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., object]]:
    """Factory: ``make_cluster(**config)`` starts a kafkasim Cluster in a thread; all are stopped at teardown."""
    from kafkasim import Cluster

    started = []

    def factory(**config: object) -> object:
        runner = Cluster(**config).run_in_thread()
        cluster = runner.__enter__()
        started.append(runner)
        return cluster

    yield factory
    for runner in reversed(started):
        runner.__exit__(None, None, None)


@pytest.fixture
def cluster(make_cluster: Callable[..., object]) -> object:
    """A fresh kafkasim cluster (auto-create on, Kafka's defaults). Tests using it need kafkasim itself."""
    return make_cluster()


@pytest.fixture
def bootstrap_servers(request: pytest.FixtureRequest) -> str:
    """``host:port`` of the broker under test: --kafka-bootstrap if given, else a fresh kafkasim."""
    external = request.config.getoption("--kafka-bootstrap")
    if external:
        return str(external)
    return request.getfixturevalue("cluster").bootstrap_servers


@pytest.fixture
def topic_name() -> str:
    """A topic name unique to this test, so tests can share an external broker."""
    return f"t-{uuid.uuid4().hex[:12]}"

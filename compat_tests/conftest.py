"""Fixtures for the real-client compatibility tests.

Every test talks to a broker over TCP. By default each test gets a fresh in-process kafkasim on an
ephemeral 127.0.0.1 port; ``--kafka-bootstrap HOST:PORT`` points the tests that do not need kafkasim's
own controls at another Kafka-compatible broker instead (a real Kafka, Tansu, ...).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Producer

from compat_tests.clients.pyclients import close_confluent_producer


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kafka-bootstrap",
        default=None,
        help="run compat tests against this external broker instead of an in-process kafkasim",
    )


@pytest.fixture
def make_cluster(kafkasim_factory: Callable[..., object]) -> Callable[..., object]:
    """Factory: ``make_cluster(**config)`` starts a kafkasim (the pytest plugin's ``kafkasim_factory``)."""
    return kafkasim_factory


@pytest.fixture
def cluster(kafkasim: object) -> object:
    """A fresh kafkasim cluster (auto-create on, Kafka's defaults). Tests using it need kafkasim itself."""
    return kafkasim


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


@pytest.fixture
def ck_producer() -> Iterator[Callable[[dict[str, Any]], Producer]]:
    """``ck_producer(config)``: a confluent-kafka Producer, closed at teardown (before the brokers and proxies the
    test set up first)."""
    made: list[Producer] = []

    def factory(config: dict[str, Any]) -> Producer:
        made.append(Producer(config))
        return made[-1]

    yield factory
    for producer in made:
        close_confluent_producer(producer)

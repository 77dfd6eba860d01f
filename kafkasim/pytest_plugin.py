"""pytest plugin (registered through the ``pytest11`` entry point): the ``kafkasim`` fixture.

``kafkasim`` yields a fresh running :class:`kafkasim.Cluster` on an ephemeral 127.0.0.1 port for each
test and stops it at teardown; use ``kafkasim.bootstrap_servers`` with any Kafka client.
``kafkasim_factory(**config)`` starts clusters with other settings (all stopped at teardown).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kafkasim.testing.cluster import Cluster, ThreadedCluster


@pytest.fixture
def kafkasim_factory() -> Iterator[Callable[..., Cluster]]:
    runners: list[ThreadedCluster] = []

    def factory(**config: Any) -> Cluster:
        config.setdefault("port", 0)
        runner = Cluster(**config).run_in_thread()
        cluster = runner.start()
        runners.append(runner)
        return cluster

    yield factory
    for r in reversed(runners):
        r.stop()


@pytest.fixture
def kafkasim(kafkasim_factory: Callable[..., Cluster]) -> Cluster:
    """A fresh kafkasim cluster for this test (auto-create on, Kafka's defaults)."""
    return kafkasim_factory()

"""Shared unit-test fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kafkasim.testing.cluster import Cluster


@pytest.fixture
def running() -> Iterator[Cluster]:
    """A kafkasim cluster on a thread, on an ephemeral port."""
    with Cluster().run_in_thread() as c:
        yield c

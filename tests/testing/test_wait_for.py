"""``Cluster.wait_for`` / ``wait_for_async`` (a generic condition on the broker state), ``Cluster.partitions``,
``create_topic`` with a replication factor, and ``ThreadedCluster`` running several clusters and services
on one loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kafkasim.errors import KafkaError
from kafkasim.server.faults import Faults
from kafkasim.state.cluster import ClusterState
from kafkasim.testing import Cluster, ThreadedCluster, WaitTimeout


def test_wait_for_returns_the_first_truthy_value(running: Cluster) -> None:
    def appears(state: ClusterState) -> list[str]:
        return sorted(n for n in state.topics if n.startswith("late"))

    creator = threading.Thread(target=lambda: running.create_topic("late-1", 1))
    creator.start()
    assert running.wait_for(appears, timeout=10) == ["late-1"]
    creator.join()


def test_wait_for_timeout_raises_with_the_message(running: Cluster) -> None:
    with pytest.raises(WaitTimeout, match=r"^timed out after 0.05s waiting for the condition: nothing here$"):
        running.wait_for(lambda state: [], timeout=0.05, message="nothing here")

    def no_topic(state: ClusterState) -> bool:
        return "x" in state.topics

    with pytest.raises(WaitTimeout, match=r"waiting for no_topic: topics \[\]$"):
        running.wait_for(no_topic, timeout=0, message=lambda state: f"topics {sorted(state.topics)}")
    with pytest.raises(WaitTimeout, match=r"^timed out after 0s waiting for no_topic$"):
        running.wait_for(no_topic, timeout=0)


def test_wait_for_async_runs_on_the_clusters_own_loop() -> None:
    async def main() -> None:
        async with Cluster() as c:
            with pytest.raises(RuntimeError, match="wait_for_async"):
                c.wait_for(lambda s: True, timeout=1)
            asyncio.get_running_loop().call_later(0.05, c.create_topic, "soon", 1)
            assert await c.wait_for_async(lambda s: s.topics.get("soon"), timeout=10) is c.state.topics["soon"]
            with pytest.raises(WaitTimeout, match="still none"):
                await c.wait_for_async(lambda s: None, timeout=0.02, message="still none")

    asyncio.run(main())


def test_cluster_create_topic_with_replication_factor_and_partitions() -> None:
    with Cluster(brokers=3).run_in_thread() as c:
        c.create_topic("t", 2, {"retention.ms": "1000"}, replication_factor=3)
        assert [(p.partition, len(p.replicas), sorted(p.isr)) for p in c.partitions("t")] == [
            (0, 3, [1, 2, 3]), (1, 3, [1, 2, 3])]
        assert c.partitions("t")[1] == c.partition_status("t", 1)
        with pytest.raises(KafkaError, match="Excessively large"):
            c.create_topic("huge", 10_001)
        with pytest.raises(KafkaError):
            c.partitions("huge")


def test_threaded_cluster_runs_several_clusters_and_services_on_one_loop() -> None:
    events: list[str] = []

    class Service:
        async def start(self) -> None:
            events.append(f"start on {threading.current_thread().name}")

        async def stop(self) -> None:
            events.append("stop")

    one, two = Cluster(), Cluster(name="two")
    runner = ThreadedCluster(one, two, services=[Service()])
    with runner as first:
        assert first is one
        assert one.server.bootstrap and two.server.bootstrap and one.cluster_id != two.cluster_id
        assert one._loop is two._loop
        two.create_topic("t", 1)  # from this thread: runs on the shared loop
        assert "t" in two.state.topics and "t" not in one.state.topics
    assert events == ["start on kafkasim", "stop"]
    assert not one.server.bootstrap and not two.server.bootstrap  # stopped: no broker listens


def test_threaded_cluster_start_error_stops_what_started() -> None:
    class Failing:
        async def start(self) -> None:
            raise RuntimeError("cannot start")

        async def stop(self) -> None:
            raise AssertionError("never started, never stopped")

    c = Cluster()
    with pytest.raises(RuntimeError, match="cannot start"):
        ThreadedCluster(c, services=[Failing()]).start()
    assert not c.server.bootstrap  # the cluster that had started was stopped


def test_faults_refuse_throttle_and_delay_beyond_int32() -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="INT32"):
        faults.add("throttle", throttle_ms=2**31)
    with pytest.raises(ValueError, match="INT32"):
        faults.add("delay", delay_ms=2**31)
    assert faults.add("throttle", throttle_ms=2**31 - 1).throttle_ms == 2**31 - 1

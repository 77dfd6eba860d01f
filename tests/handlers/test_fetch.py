"""Fetch long-poll rules, over a socket with kafkasim's own wire client."""

from __future__ import annotations

import threading
import time

from kafkasim.errors import ErrorCode
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import fetch as f
from kafkasim.protocol.records import Record, build_batch
from kafkasim.testing.cluster import Cluster
from kafkasim.testing.wire import WireClient


def fetch_request(parts: list[tuple[str, int, int]], max_wait_ms: int, min_bytes: int = 1) -> f.FetchRequest:
    topics: dict[str, list] = {}
    for topic, partition, offset in parts:
        topics.setdefault(topic, []).append(f.FetchRequestFetchPartition(
            partition=partition, fetch_offset=offset, partition_max_bytes=1 << 20))
    return f.FetchRequest(replica_id=-1, max_wait_ms=max_wait_ms, min_bytes=min_bytes, max_bytes=1 << 24,
                          topics=[f.FetchRequestFetchTopic(topic=t, partitions=p) for t, p in topics.items()])


def test_fetch_with_a_failed_partition_answers_without_waiting(running: Cluster) -> None:
    running.create_topic("a", 1)
    with WireClient(running.bootstrap_servers) as c:
        start = time.monotonic()
        resp = c.request(ApiKey.FETCH, fetch_request([("a", 0, 0), ("a", 5, 0)], max_wait_ms=5000), version=12)
        elapsed = time.monotonic() - start
    codes = [p.error_code for t in resp.responses for p in t.partitions]
    assert codes == [0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
    assert elapsed < 2.5  # far below max_wait_ms: the error answers at once


def test_fetch_long_poll_is_woken_by_append(running: Cluster) -> None:
    running.create_topic("a", 1)
    batch = build_batch([Record(0, int(time.time() * 1000), b"k", b"v")])

    def produce_later() -> None:
        time.sleep(0.3)  # lets the fetch park first; the assertion below does not depend on this timing
        running.call(lambda: running.state.append("a", 0, batch))

    with WireClient(running.bootstrap_servers) as c:
        t = threading.Thread(target=produce_later)
        t.start()
        start = time.monotonic()
        resp = c.request(ApiKey.FETCH, fetch_request([("a", 0, 0)], max_wait_ms=10000), version=12)
        elapsed = time.monotonic() - start
        t.join()
    part = resp.responses[0].partitions[0]
    assert part.error_code == 0 and part.high_watermark == 1
    assert bytes(part.records)[16:] == batch[16:]  # as sent from magic on (offset and leader epoch set)
    assert elapsed < 5.0  # woken by the append, not by max_wait_ms (10 s)


def test_fetch_out_of_range_offset(running: Cluster) -> None:
    running.create_topic("a", 1)
    with WireClient(running.bootstrap_servers) as c:
        resp = c.request(ApiKey.FETCH, fetch_request([("a", 0, 7)], max_wait_ms=0), version=12)
    assert resp.responses[0].partitions[0].error_code == ErrorCode.OFFSET_OUT_OF_RANGE

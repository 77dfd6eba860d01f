"""Fault rules: validation, matching on API, version, broker, client, topic and partition, count and seeded
probability (the interceptor in server/broker.py is exercised with real clients in compat_tests)."""

from __future__ import annotations

import pytest

from kafkasim.errors import ErrorCode
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import fetch as fe
from kafkasim.protocol.messages import metadata as md
from kafkasim.protocol.messages import produce as pr
from kafkasim.server.faults import Faults, request_partitions


def produce_req(*targets: tuple[str, int]) -> pr.ProduceRequest:
    by_topic: dict[str, list[int]] = {}
    for t, p in targets:
        by_topic.setdefault(t, []).append(p)
    return pr.ProduceRequest(acks=-1, timeout_ms=1000, topic_data=[pr.ProduceRequestTopicProduceData(
        name=t, partition_data=[pr.ProduceRequestPartitionProduceData(index=p) for p in ps])
        for t, ps in by_topic.items()])


def test_faults_request_partitions_reads_produce_fetch_and_metadata() -> None:
    assert request_partitions(produce_req(("a", 0), ("a", 2), ("b", 1))) == [("a", 0), ("a", 2), ("b", 1)]
    fetch = fe.FetchRequest(topics=[fe.FetchRequestFetchTopic(topic="c", partitions=[
        fe.FetchRequestFetchPartition(partition=3)])])
    assert request_partitions(fetch) == [("c", 3)]
    meta = md.MetadataRequest(topics=[md.MetadataRequestMetadataRequestTopic(name="d")])
    assert request_partitions(meta) == [("d", None)]
    assert request_partitions(md.MetadataRequest(topics=None)) == []


def test_faults_add_validates_action_api_error_and_ranges() -> None:
    f = Faults()
    with pytest.raises(ValueError, match="unknown action"):
        f.add("explode")
    with pytest.raises(ValueError, match="unknown API"):
        f.add("drop", api="Teleport")
    with pytest.raises(ValueError, match="needs an error"):
        f.add("error", api="Produce")
    with pytest.raises(ValueError, match="unknown Kafka error"):
        f.add("error", api="Produce", error="NOT_AN_ERROR")
    with pytest.raises(ValueError, match="probability"):
        f.add("drop", probability=1.5)
    assert f.list() == []


def test_faults_api_names_in_kafka_and_enum_spellings() -> None:
    f = Faults()
    assert f.add("drop", api="ListOffsets").api_key == ApiKey.LIST_OFFSETS
    assert f.add("drop", api="list_offsets").api_key == ApiKey.LIST_OFFSETS
    assert f.add("drop", api=ApiKey.FETCH).api_key == ApiKey.FETCH
    assert f.add("error", api="Produce", error=6).error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER


def test_faults_match_filters_on_api_version_broker_client_topic_and_partition() -> None:
    f = Faults()
    rule = f.add("error", api="Produce", version=9, broker=2, client_id="app", topic="orders", partition=1,
                 error="NOT_LEADER_OR_FOLLOWER")
    req = produce_req(("orders", 0), ("orders", 1))
    assert f.match(ApiKey.FETCH, 9, 2, "app", req) is None
    assert f.match(ApiKey.PRODUCE, 8, 2, "app", req) is None
    assert f.match(ApiKey.PRODUCE, 9, 1, "app", req) is None
    assert f.match(ApiKey.PRODUCE, 9, 2, "other", req) is None
    assert f.match(ApiKey.PRODUCE, 9, 2, "app", produce_req(("orders", 0))) is None
    assert f.match(ApiKey.PRODUCE, 9, 2, "app", produce_req(("payments", 1))) is None
    assert rule.fired == 0
    assert f.match(ApiKey.PRODUCE, 9, 2, "app", req) is rule
    assert rule.fired == 1


def test_faults_count_limits_firing_and_first_matching_rule_wins() -> None:
    f = Faults()
    first = f.add("drop", api="Metadata", count=2)
    second = f.add("delay", api="Metadata", delay_ms=5)
    req = md.MetadataRequest(topics=None)
    fired = [f.match(ApiKey.METADATA, 12, 1, None, req) for _ in range(4)]
    assert fired == [first, first, second, second]
    assert (first.fired, second.fired) == (2, 2)


def test_faults_remove_and_clear_while_in_use() -> None:
    f = Faults()
    a = f.add("drop", api="Fetch")
    b = f.add("drop", api="Produce")
    assert f.remove(a.id) and not f.remove(a.id)
    assert [r.id for r in f.list()] == [b.id]
    f.clear()
    assert f.list() == [] and f.match(ApiKey.PRODUCE, 9, 1, None, produce_req(("t", 0))) is None


def test_faults_probability_is_reproducible_with_a_seed() -> None:
    def pattern(seed: int) -> list[bool]:
        f = Faults(seed=seed)
        f.add("drop", api="Metadata", probability=0.3)
        req = md.MetadataRequest(topics=None)
        return [f.match(ApiKey.METADATA, 12, 1, None, req) is not None for _ in range(200)]

    one = pattern(7)
    assert one == pattern(7)
    assert one != pattern(8)
    assert 30 < sum(one) < 90  # about 30% of 200


def test_faults_rule_as_dict_names_api_and_error() -> None:
    r = Faults().add("error", api="Produce", error="NOT_LEADER_OR_FOLLOWER", count=1)
    d = r.as_dict()
    assert d["api"] == "PRODUCE" and d["error"] == "NOT_LEADER_OR_FOLLOWER" and d["count"] == 1 and d["fired"] == 0


def test_faults_topic_filter_resolves_topic_ids_of_fetch_v13_and_later() -> None:
    tid = bytes(range(16))
    fetch = fe.FetchRequest(topics=[fe.FetchRequestFetchTopic(topic="", topic_id=tid, partitions=[
        fe.FetchRequestFetchPartition(partition=0)])])
    names = {tid: "orders"}
    assert request_partitions(fetch, names.get) == [("orders", 0)]
    f = Faults()
    rule = f.add("error", api="Fetch", topic="orders", error="NOT_LEADER_OR_FOLLOWER")
    assert f.match(ApiKey.FETCH, 16, 1, None, fetch) is None  # without a resolver the id names nothing
    assert f.match(ApiKey.FETCH, 16, 1, None, fetch, names.get) is rule

"""Broker counters (server/stats.py): error codes counted as Kafka's ErrorsPerSec counts them."""

from __future__ import annotations

from kafkasim.protocol.messages import fetch as f
from kafkasim.protocol.messages import metadata as md
from kafkasim.protocol.messages import produce as pr
from kafkasim.server.stats import BrokerStats, count_error_codes


def test_stats_count_every_partition_error_code_and_none() -> None:
    resp = pr.ProduceResponse(responses=[
        pr.ProduceResponseTopicProduceResponse(name="a", partition_responses=[
            pr.ProduceResponsePartitionProduceResponse(index=0, error_code=0),
            pr.ProduceResponsePartitionProduceResponse(index=1, error_code=6)]),
        pr.ProduceResponseTopicProduceResponse(name="b", partition_responses=[
            pr.ProduceResponsePartitionProduceResponse(index=0, error_code=6)])])
    counts: dict[int, int] = {}
    count_error_codes(resp, counts)
    assert counts == {0: 1, 6: 2}


def test_stats_count_top_level_and_nested_codes_but_not_plain_lists() -> None:
    resp = f.FetchResponse(error_code=0, responses=[f.FetchResponseFetchableTopicResponse(topic="t", partitions=[
        f.FetchResponsePartitionData(partition_index=0, error_code=1, records=b"x")])])
    counts: dict[int, int] = {}
    count_error_codes(resp, counts)
    assert counts == {0: 1, 1: 1}
    meta = md.MetadataResponse(topics=[md.MetadataResponseMetadataResponseTopic(name="t", partitions=[
        md.MetadataResponseMetadataResponsePartition(partition_index=0, replica_nodes=[1, 2], isr_nodes=[1])])])
    counts = {}
    count_error_codes(meta, counts)  # the top-level, topic and partition codes; id lists are not messages
    assert counts == {0: 3}


def test_stats_count_errors_only_when_asked() -> None:
    stats = BrokerStats()
    assert not stats.count_errors
    stats.response(0, pr.ProduceResponse())
    assert stats.errors == {0: {}}
    stats.response(0, object())  # NO_RESPONSE / CLOSE sentinels are not messages
    assert stats.errors == {0: {}}

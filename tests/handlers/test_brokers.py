"""Requests at the right and the wrong broker of a multi-broker cluster, over sockets with kafkasim's own wire
client: leaders, coordinators, KIP-951 leader hints, KIP-392 preferred replicas, OffsetForLeaderEpoch,
ElectLeaders, version caps."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator

import pytest

from kafkasim.errors import ErrorCode
from kafkasim.protocol import api
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.frame import encode_request_header, read_response_header
from kafkasim.protocol.messages import api_versions as av
from kafkasim.protocol.messages import elect_leaders as el
from kafkasim.protocol.messages import fetch as f
from kafkasim.protocol.messages import find_coordinator as fc
from kafkasim.protocol.messages import join_group as jg
from kafkasim.protocol.messages import list_groups as lg
from kafkasim.protocol.messages import list_offsets as lo
from kafkasim.protocol.messages import metadata as md
from kafkasim.protocol.messages import offset_for_leader_epoch as ofle
from kafkasim.protocol.messages import produce as pr
from kafkasim.protocol.records import Record, build_batch
from kafkasim.testing.cluster import Cluster
from kafkasim.testing.wire import WireClient


@pytest.fixture
def three() -> Iterator[Cluster]:
    with Cluster(brokers=3, racks=("a", "b", "c"), replica_selector_class="rack-aware").run_in_thread() as c:
        c.call(lambda: c.state.create_topic("t", 3, 3))
        yield c


def client(cluster: Cluster, node_id: int) -> WireClient:
    b = next(b for b in cluster.brokers() if b.node_id == node_id)
    return WireClient(b.bootstrap)


def batch(n: int = 1) -> bytes:
    now = int(time.time() * 1000)
    return build_batch([Record(i, now, b"k", b"v%d" % i) for i in range(n)])


def produce(c: WireClient, partition: int, version: int = 11, acks: int = -1) -> pr.ProduceResponse:
    req = pr.ProduceRequest(acks=acks, timeout_ms=5000, topic_data=[pr.ProduceRequestTopicProduceData(
        name="t", partition_data=[pr.ProduceRequestPartitionProduceData(index=partition, records=batch())])])
    return c.request(ApiKey.PRODUCE, req, version)


def fetch(c: WireClient, partition: int, version: int = 12, rack: str = "", epoch: int = -1,
          topic_id: bytes = b"") -> f.FetchResponse:
    req = f.FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, rack_id=rack, topics=[
        f.FetchRequestFetchTopic(topic="t", topic_id=topic_id or bytes(16), partitions=[f.FetchRequestFetchPartition(
            partition=partition, fetch_offset=0, partition_max_bytes=1 << 20, current_leader_epoch=epoch)])])
    return c.request(ApiKey.FETCH, req, version)


def test_metadata_lists_every_broker_with_rack_and_spread_leaders(three: Cluster) -> None:
    for node in (1, 2, 3):
        with client(three, node) as c:
            m = c.request(ApiKey.METADATA, md.MetadataRequest(topics=None))
        assert [(b.node_id, b.rack) for b in m.brokers] == [(1, "a"), (2, "b"), (3, "c")]
        parts = m.topics[0].partitions
        assert sorted(p.leader_id for p in parts) == [1, 2, 3]
        assert all(sorted(p.replica_nodes) == [1, 2, 3] == sorted(p.isr_nodes) for p in parts)


def test_produce_at_a_follower_answers_not_leader_with_the_leader(three: Cluster) -> None:
    leader = three.leader("t", 0)
    follower = leader % 3 + 1
    with client(three, follower) as c:
        resp = produce(c, 0, version=11)
        old = produce(c, 0, version=9)
    p = resp.responses[0].partition_responses[0]
    assert p.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert (p.current_leader.leader_id, p.current_leader.leader_epoch) == (leader, 0)
    assert [(e.node_id, e.port) for e in resp.node_endpoints] == [
        (b.node_id, b.port) for b in three.brokers() if b.node_id == leader]
    assert old.responses[0].partition_responses[0].error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert three.records("t", 0) == []
    with client(three, leader) as c:
        assert produce(c, 0).responses[0].partition_responses[0].error_code == 0


def test_fetch_from_a_follower_needs_v11(three: Cluster) -> None:
    leader = three.leader("t", 1)
    with client(three, leader) as c:
        produce(c, 1)
    follower = leader % 3 + 1
    with client(three, follower) as c:
        new = fetch(c, 1, version=11).responses[0].partitions[0]
        old = fetch(c, 1, version=10).responses[0].partitions[0]
    assert new.error_code == 0 and new.high_watermark == 1 and bytes(new.records)
    assert old.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER


def test_fetch_at_leader_points_a_rack_aware_consumer_at_its_rack(three: Cluster) -> None:
    leader = three.leader("t", 2)
    racks = {b.node_id: b.rack for b in three.brokers()}
    other = leader % 3 + 1
    with client(three, leader) as c:
        produce(c, 2)
        redirected = fetch(c, 2, rack=racks[other]).responses[0].partitions[0]
        own = fetch(c, 2, rack=racks[leader]).responses[0].partitions[0]
        none = fetch(c, 2).responses[0].partitions[0]
    assert redirected.preferred_read_replica == other and not bytes(redirected.records)
    assert own.preferred_read_replica == -1 and bytes(own.records)
    assert none.preferred_read_replica == -1 and bytes(none.records)


def test_fetch_not_leader_hints_the_leader_at_v16(three: Cluster) -> None:
    three.stop_broker(three.leader("t", 0))
    moved = three.partition_status("t", 0)
    outsider_cluster_nodes = [b.node_id for b in three.brokers() if b.running]
    with client(three, outsider_cluster_nodes[0]) as c:
        resp = fetch(c, 0, version=16, epoch=0, topic_id=three.state.topics["t"].topic_id)
    p = resp.responses[0].partitions[0]
    assert p.error_code == ErrorCode.FENCED_LEADER_EPOCH  # the client's epoch 0 is older than the new leader's
    assert (p.current_leader.leader_id, p.current_leader.leader_epoch) == (moved.leader, 1)
    assert [e.node_id for e in resp.node_endpoints] == [moved.leader]


def test_list_offsets_only_at_the_leader(three: Cluster) -> None:
    leader = three.leader("t", 0)
    req = lo.ListOffsetsRequest(replica_id=-1, topics=[lo.ListOffsetsRequestListOffsetsTopic(
        name="t", partitions=[lo.ListOffsetsRequestListOffsetsPartition(partition_index=0, timestamp=-1)])])
    with client(three, leader % 3 + 1) as c:
        assert c.request(ApiKey.LIST_OFFSETS, req).topics[0].partitions[0].error_code == \
            ErrorCode.NOT_LEADER_OR_FOLLOWER
    with client(three, leader) as c:
        assert c.request(ApiKey.LIST_OFFSETS, req).topics[0].partitions[0].error_code == 0


def test_stopped_broker_leaves_metadata_and_its_partitions_move(three: Cluster) -> None:
    leader = three.leader("t", 0)
    three.stop_broker(leader)
    alive = [b.node_id for b in three.brokers() if b.running]
    assert leader not in alive
    with client(three, alive[0]) as c:
        m = c.request(ApiKey.METADATA, md.MetadataRequest(topics=None))
    assert leader not in [b.node_id for b in m.brokers]
    p0 = next(p for p in m.topics[0].partitions if p.partition_index == 0)
    assert p0.leader_id != leader and p0.leader_epoch == 1
    assert leader not in p0.isr_nodes and p0.offline_replicas == [leader]
    with pytest.raises(OSError):
        client(three, leader)  # its listener is closed
    three.start_broker(leader)
    with client(three, leader) as c:
        m = c.request(ApiKey.METADATA, md.MetadataRequest(topics=None))
    p0 = next(p for p in m.topics[0].partitions if p.partition_index == 0)
    assert leader in p0.isr_nodes and p0.offline_replicas == [] and p0.leader_id != leader


def test_partition_without_leader_is_leader_not_available() -> None:
    with Cluster(brokers=2).run_in_thread() as c:
        c.call(lambda: c.state.create_topic("solo", 1, 1))
        node = c.leader("solo", 0)
        c.stop_broker(node)
        other = 3 - node
        with client(c, other) as w:
            m = w.request(ApiKey.METADATA, md.MetadataRequest(topics=[md.MetadataRequestMetadataRequestTopic(
                name="solo")]))
        p = m.topics[0].partitions[0]
        assert (p.error_code, p.leader_id, p.isr_nodes) == (ErrorCode.LEADER_NOT_AVAILABLE, -1, [node])


def test_find_coordinator_and_not_coordinator_elsewhere(three: Cluster) -> None:
    with client(three, 1) as c:
        found = c.request(ApiKey.FIND_COORDINATOR, fc.FindCoordinatorRequest(key_type=0, coordinator_keys=["g"]))
    coord = found.coordinators[0].node_id
    assert coord == three.coordinator("g")
    join = jg.JoinGroupRequest(group_id="g", session_timeout_ms=10000, rebalance_timeout_ms=10000, member_id="",
                               protocol_type="consumer", protocols=[jg.JoinGroupRequestJoinGroupRequestProtocol(
                                   name="range", metadata=b"")])
    with client(three, coord % 3 + 1) as c:
        assert c.request(ApiKey.JOIN_GROUP, join).error_code == ErrorCode.NOT_COORDINATOR
    with client(three, coord) as c:
        assert c.request(ApiKey.JOIN_GROUP, join).error_code == ErrorCode.MEMBER_ID_REQUIRED
    listed = {}
    for node in (1, 2, 3):
        with client(three, node) as c:
            listed[node] = [g.group_id for g in c.request(ApiKey.LIST_GROUPS, lg.ListGroupsRequest()).groups]
    assert listed[coord] == ["g"] and all(v == [] for n, v in listed.items() if n != coord)


def test_offset_for_leader_epoch_after_leader_moves(three: Cluster) -> None:
    status = three.partition_status("t", 0)
    with client(three, status.leader) as c:
        produce(c, 0)
        produce(c, 0)
    new_leader = next(r for r in status.replicas if r != status.leader)
    three.move_leader("t", 0, new_leader)
    with client(three, new_leader) as c:
        produce(c, 0)
        req = ofle.OffsetForLeaderEpochRequest(replica_id=-1, topics=[ofle.OffsetForLeaderEpochRequestOffsetForLeaderTopic(
            topic="t", partitions=[ofle.OffsetForLeaderEpochRequestOffsetForLeaderPartition(
                partition=0, current_leader_epoch=e, leader_epoch=le) for e, le in ((1, 0), (1, 1), (0, 0), (-1, 5))])])
        got = c.request(ApiKey.OFFSET_FOR_LEADER_EPOCH, req).topics[0].partitions
    assert [(p.error_code, p.leader_epoch, p.end_offset) for p in got] == [
        (0, 0, 2), (0, 1, 3), (ErrorCode.FENCED_LEADER_EPOCH, -1, -1), (0, -1, -1)]
    with client(three, status.leader) as c:
        req.topics[0].partitions = req.topics[0].partitions[:1]
        old = c.request(ApiKey.OFFSET_FOR_LEADER_EPOCH, req).topics[0].partitions[0]
    assert old.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER


def test_elect_leaders_restores_preferred_leaders(three: Cluster) -> None:
    preferred = three.partition_status("t", 0).replicas[0]
    three.stop_broker(preferred)
    three.start_broker(preferred)
    assert three.leader("t", 0) != preferred
    req = el.ElectLeadersRequest(election_type=0, topic_partitions=None)
    with client(three, preferred) as c:
        resp = c.request(ApiKey.ELECT_LEADERS, req)
        again = c.request(ApiKey.ELECT_LEADERS, el.ElectLeadersRequest(election_type=0, topic_partitions=[
            el.ElectLeadersRequestTopicPartitions(topic="t", partitions=[0])]))
        bad = c.request(ApiKey.ELECT_LEADERS, el.ElectLeadersRequest(election_type=5, topic_partitions=None))
    assert [(r.topic, [(p.partition_id, p.error_code) for p in r.partition_result])
            for r in resp.replica_election_results] == [("t", [(0, 0)])]
    assert three.leader("t", 0) == preferred
    assert again.replica_election_results[0].partition_result[0].error_code == ErrorCode.ELECTION_NOT_NEEDED
    assert bad.error_code == ErrorCode.INVALID_REQUEST


def test_acks_all_needs_min_insync_replicas(three: Cluster) -> None:
    three.call(lambda: three.state.create_topic("strict", 1, 3, {"min.insync.replicas": "3"}))
    status = three.partition_status("strict", 0)
    three.stop_broker(status.replicas[2])
    req = pr.ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[pr.ProduceRequestTopicProduceData(
        name="strict", partition_data=[pr.ProduceRequestPartitionProduceData(index=0, records=batch())])])
    with client(three, status.leader) as c:
        p = c.request(ApiKey.PRODUCE, req, 9).responses[0].partition_responses[0]
        req.acks = 1
        ok = c.request(ApiKey.PRODUCE, req, 9).responses[0].partition_responses[0]
    assert p.error_code == ErrorCode.NOT_ENOUGH_REPLICAS and ok.error_code == 0


def test_kafka_version_caps_advertised_and_served_versions() -> None:
    with Cluster(kafka_version="2.8").run_in_thread() as c, WireClient(c.bootstrap_servers) as w:
        served = w.versions
        assert served[ApiKey.PRODUCE] == (0, 9) and served[ApiKey.FETCH] == (4, 12)
        assert served[ApiKey.METADATA] == (0, 11)
        assert ApiKey.CONSUMER_GROUP_HEARTBEAT not in served and ApiKey.DESCRIBE_PRODUCERS in served
        w.request_at(ApiKey.METADATA, 11, md.MetadataRequest(topics=None))
        with pytest.raises(ConnectionError):
            w.request_at(ApiKey.METADATA, 12, md.MetadataRequest(topics=None))  # 2.8 did not serve v12
    with Cluster(kafka_version="2.8").run_in_thread() as c, WireClient(c.bootstrap_servers) as w:
        req = av.ApiVersionsRequest(client_software_name="t", client_software_version="1")
        data = encode_request_header(ApiKey.API_VERSIONS, 4, 99, "t") + api.encode_request(ApiKey.API_VERSIONS, 4, req)
        w.send_raw(struct.pack(">i", len(data)) + data)
        frame = w.recv_frame()
        corr, pos = read_response_header(ApiKey.API_VERSIONS, 0, frame)  # KIP-511: answered at v0
        resp, _ = api.decode_response(ApiKey.API_VERSIONS, 0, memoryview(frame), pos)
        assert corr == 99 and resp.error_code == ErrorCode.UNSUPPORTED_VERSION  # 2.8 served ApiVersions 0-3
        assert {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys} == served


def test_unknown_kafka_version_is_refused() -> None:
    with pytest.raises(ValueError, match="0.8"):
        Cluster(kafka_version="0.8")

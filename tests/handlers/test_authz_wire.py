"""The ACL table covers every API, and the handlers apply it over the wire (kafkasim's own wire client):
ACL admin APIs, SECURITY_DISABLED, Metadata filtering and auto-creation, Produce and InitProducerId."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from kafkasim.errors import ErrorCode
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import create_acls as ca
from kafkasim.protocol.messages import delete_acls as da
from kafkasim.protocol.messages import describe_acls as dsa
from kafkasim.protocol.messages import describe_cluster as dc
from kafkasim.protocol.messages import init_producer_id as ip
from kafkasim.protocol.messages import metadata as md
from kafkasim.protocol.messages import produce as pr
from kafkasim.protocol.records import Record, build_batch
from kafkasim.state.acls import NOT_REQUESTED, AclBinding, AclOperation, AclPermission, PatternType, ResourceType
from kafkasim.testing.cluster import Cluster
from kafkasim.testing.wire import WireClient

ME = "User:ANONYMOUS"
OP, RT = AclOperation, ResourceType


def allow(name: str, op: int, rtype: int = RT.TOPIC, pattern: int = PatternType.LITERAL,
          perm: int = AclPermission.ALLOW) -> AclBinding:
    return AclBinding(rtype, name, pattern, ME, "*", op, perm)


@pytest.fixture
def secured() -> Iterator[tuple[Cluster, WireClient]]:
    with Cluster(authorizer=True).run_in_thread() as c:
        c.call(lambda: c.state.create_topic("t", 1, 1))
        client = WireClient(c.bootstrap_servers)
        try:
            yield c, client
        finally:
            client.close()


def grant(c: Cluster, *bindings: AclBinding) -> None:
    assert c.call(lambda: c.state.acls.create(list(bindings))) == [None] * len(bindings)


def test_acl_apis_answer_security_disabled_without_an_authorizer():
    with Cluster().run_in_thread() as c:
        w = WireClient(c.bootstrap_servers)
        try:
            r = w.request(ApiKey.DESCRIBE_ACLS, dsa.DescribeAclsRequest(resource_type_filter=1, pattern_type_filter=1,
                                                                      resource_name_filter=None, principal_filter=None,
                                                                      host_filter=None, operation=1,
                                                                      permission_type=1), 3)
            assert (r.error_code, r.error_message) == (ErrorCode.SECURITY_DISABLED,
                                                       "No Authorizer is configured on the broker")
            r = w.request(ApiKey.CREATE_ACLS, ca.CreateAclsRequest(creations=[ca.CreateAclsRequestAclCreation(
                resource_type=2, resource_name="t", resource_pattern_type=3, principal=ME, host="*", operation=3,
                permission_type=3)]), 3)
            assert [x.error_code for x in r.results] == [ErrorCode.SECURITY_DISABLED]
        finally:
            w.close()


def test_acl_apis_need_cluster_permissions(secured):
    c, w = secured
    r = w.request(ApiKey.DESCRIBE_ACLS, dsa.DescribeAclsRequest(resource_type_filter=1, pattern_type_filter=1,
                                                              resource_name_filter=None, principal_filter=None,
                                                              host_filter=None, operation=1, permission_type=1), 3)
    assert r.error_code == ErrorCode.CLUSTER_AUTHORIZATION_FAILED
    r = w.request(ApiKey.DELETE_ACLS, da.DeleteAclsRequest(filters=[da.DeleteAclsRequestDeleteAclsFilter(
        resource_type_filter=1, pattern_type_filter=1, resource_name_filter=None, principal_filter=None,
        host_filter=None, operation=1, permission_type=1)]), 3)
    assert [f.error_code for f in r.filter_results] == [ErrorCode.CLUSTER_AUTHORIZATION_FAILED]


def test_acl_create_describe_delete_over_the_wire():
    with Cluster(authorizer=True, super_users=(ME,)).run_in_thread() as c:
        w = WireClient(c.bootstrap_servers)
        try:
            r = w.request(ApiKey.CREATE_ACLS, ca.CreateAclsRequest(creations=[
                ca.CreateAclsRequestAclCreation(resource_type=2, resource_name="app-", resource_pattern_type=4,
                                                principal="User:alice", host="*", operation=3, permission_type=3),
                ca.CreateAclsRequestAclCreation(resource_type=4, resource_name="x", resource_pattern_type=3,
                                                principal="User:alice", host="*", operation=7, permission_type=3)]), 3)
            assert [x.error_code for x in r.results] == [0, ErrorCode.INVALID_REQUEST]
            r = w.request(ApiKey.DESCRIBE_ACLS, dsa.DescribeAclsRequest(
                resource_type_filter=2, resource_name_filter="app-orders", pattern_type_filter=2,
                principal_filter=None, host_filter=None, operation=1, permission_type=1), 2)
            assert r.error_code == 0
            assert [(x.resource_name, x.pattern_type, [a.principal for a in x.acls]) for x in r.resources] == [
                ("app-", 4, ["User:alice"])]
            r = w.request(ApiKey.DELETE_ACLS, da.DeleteAclsRequest(filters=[da.DeleteAclsRequestDeleteAclsFilter(
                resource_type_filter=1, pattern_type_filter=1, resource_name_filter=None, principal_filter="User:alice",
                host_filter=None, operation=1, permission_type=1)]), 1)
            assert [[m.resource_name for m in f.matching_acls] for f in r.filter_results] == [["app-"]]
            assert c.acls() == []
        finally:
            w.close()


def metadata(w: WireClient, topics: list[str] | None, version: int = 9, create: bool = True) -> md.MetadataResponse:
    req = md.MetadataRequest(topics=None if topics is None else [md.MetadataRequestMetadataRequestTopic(name=n)
                                                                 for n in topics],
                             allow_auto_topic_creation=create, include_topic_authorized_operations=True,
                             include_cluster_authorized_operations=True)
    return w.request(ApiKey.METADATA, req, version)


def test_metadata_leaves_out_or_refuses_topics_without_describe(secured):
    c, w = secured
    c.call(lambda: c.state.create_topic("u", 1, 1))
    grant(c, allow("t", OP.READ))
    r = metadata(w, None)
    assert [t.name for t in r.topics] == ["t"]
    assert r.topics[0].topic_authorized_operations == (1 << OP.READ) | (1 << OP.DESCRIBE)
    assert r.cluster_authorized_operations == 0  # no DESCRIBE on the cluster
    r = metadata(w, ["t", "u", "missing"])
    assert {t.name: t.error_code for t in r.topics} == {
        "t": 0, "u": ErrorCode.TOPIC_AUTHORIZATION_FAILED, "missing": ErrorCode.TOPIC_AUTHORIZATION_FAILED}


def test_metadata_auto_creation_needs_create(secured):
    c, w = secured
    grant(c, allow("new-", OP.DESCRIBE, pattern=PatternType.PREFIXED))
    r = metadata(w, ["new-a"])
    assert r.topics[0].error_code == ErrorCode.TOPIC_AUTHORIZATION_FAILED
    assert not c.call(lambda: "new-a" in c.state.topics)
    grant(c, allow("kafka-cluster", OP.CREATE, rtype=RT.CLUSTER))
    r = metadata(w, ["new-a"])
    assert r.topics[0].error_code == 0
    assert c.call(lambda: "new-a" in c.state.topics)


def produce(w: WireClient, txn_id: str | None = None) -> pr.ProduceResponse:
    now = int(time.time() * 1000)
    req = pr.ProduceRequest(transactional_id=txn_id, acks=-1, timeout_ms=5000, topic_data=[
        pr.ProduceRequestTopicProduceData(name="t", partition_data=[pr.ProduceRequestPartitionProduceData(
            index=0, records=build_batch([Record(0, now, b"k", b"v")]))])])
    return w.request(ApiKey.PRODUCE, req, 9)


def test_produce_needs_write_and_checks_the_transactional_id_first(secured):
    c, w = secured
    assert produce(w).responses[0].partition_responses[0].error_code == ErrorCode.TOPIC_AUTHORIZATION_FAILED
    grant(c, allow("t", OP.WRITE))
    assert produce(w).responses[0].partition_responses[0].error_code == 0
    r = produce(w, "tx")
    assert r.responses[0].partition_responses[0].error_code == ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED


def test_init_producer_id_idempotent_needs_idempotent_write_or_write_on_a_topic(secured):
    c, w = secured
    req = ip.InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60000)
    assert w.request(ApiKey.INIT_PRODUCER_ID, req, 4).error_code == ErrorCode.CLUSTER_AUTHORIZATION_FAILED
    grant(c, allow("t", OP.WRITE))
    assert w.request(ApiKey.INIT_PRODUCER_ID, req, 4).error_code == 0
    txn = ip.InitProducerIdRequest(transactional_id="tx", transaction_timeout_ms=60000)
    r = w.request(ApiKey.INIT_PRODUCER_ID, txn, 4)
    assert (r.error_code, r.producer_id) == (ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1)


def test_describe_cluster_authorized_operations(secured):
    c, w = secured
    req = dc.DescribeClusterRequest(include_cluster_authorized_operations=True)
    assert w.request(ApiKey.DESCRIBE_CLUSTER, req, 1).cluster_authorized_operations == 0
    grant(c, allow("kafka-cluster", OP.ALTER, rtype=RT.CLUSTER))
    assert w.request(ApiKey.DESCRIBE_CLUSTER, req, 1).cluster_authorized_operations == (1 << OP.ALTER) | (
        1 << OP.DESCRIBE)
    req = dc.DescribeClusterRequest(include_cluster_authorized_operations=False)
    assert w.request(ApiKey.DESCRIBE_CLUSTER, req, 1).cluster_authorized_operations == NOT_REQUESTED

"""Successful admin answers carry ``error_message: null``, as Kafka's do, not an empty string, except
DescribeConfigs, where Kafka 4.4 answers "" (seen against the reference broker): raw requests over a socket
(clients turn both into "no message"), so the test reads the field itself."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import alter_client_quotas as acq
from kafkasim.protocol.messages import alter_configs as ac
from kafkasim.protocol.messages import alter_partition_reassignments as apr
from kafkasim.protocol.messages import alter_user_scram_credentials as aus
from kafkasim.protocol.messages import consumer_group_describe as cgd
from kafkasim.protocol.messages import consumer_group_heartbeat as cgh
from kafkasim.protocol.messages import create_partitions as cp
from kafkasim.protocol.messages import create_topics as ct
from kafkasim.protocol.messages import delete_topics as dt
from kafkasim.protocol.messages import describe_client_quotas as dcq
from kafkasim.protocol.messages import describe_cluster as dcl
from kafkasim.protocol.messages import describe_configs as dc
from kafkasim.protocol.messages import describe_producers as dp
from kafkasim.protocol.messages import describe_user_scram_credentials as dus
from kafkasim.protocol.messages import elect_leaders as el
from kafkasim.protocol.messages import find_coordinator as fc
from kafkasim.protocol.messages import incremental_alter_configs as iac
from kafkasim.protocol.messages import list_partition_reassignments as lpr
from kafkasim.testing.wire import WireClient

TOPIC = 2  # config resource type


def test_null_messages_of_successful_admin_answers(bootstrap_servers: str, topic_name: str) -> None:
    with WireClient(bootstrap_servers, client_id="null-messages") as c:
        created = c.request(ApiKey.CREATE_TOPICS, ct.CreateTopicsRequest(timeout_ms=10_000, topics=[
            ct.CreateTopicsRequestCreatableTopic(name=topic_name, num_partitions=1, replication_factor=1)]))
        described = c.request(ApiKey.DESCRIBE_CONFIGS, dc.DescribeConfigsRequest(resources=[
            dc.DescribeConfigsRequestDescribeConfigsResource(resource_type=TOPIC, resource_name=topic_name)]))
        altered = c.request(ApiKey.INCREMENTAL_ALTER_CONFIGS, iac.IncrementalAlterConfigsRequest(resources=[
            iac.IncrementalAlterConfigsRequestAlterConfigsResource(resource_type=TOPIC, resource_name=topic_name, configs=[
                iac.IncrementalAlterConfigsRequestAlterableConfig(name="retention.ms", config_operation=0,
                                                                  value="60000")])]))
        replaced = c.request(ApiKey.ALTER_CONFIGS, ac.AlterConfigsRequest(resources=[
            ac.AlterConfigsRequestAlterConfigsResource(resource_type=TOPIC, resource_name=topic_name, configs=[
                ac.AlterConfigsRequestAlterableConfig(name="retention.ms", value="120000")])]))
        grown = c.request(ApiKey.CREATE_PARTITIONS, cp.CreatePartitionsRequest(timeout_ms=10_000, topics=[
            cp.CreatePartitionsRequestCreatePartitionsTopic(name=topic_name, count=2, assignments=None)]))
        deleted = c.request(ApiKey.DELETE_TOPICS, dt.DeleteTopicsRequest(timeout_ms=10_000, topic_names=[topic_name],
                                                                          topics=[dt.DeleteTopicsRequestDeleteTopicState(
                                                                              name=topic_name)]))
    assert described.results[0].configs and not any(e.synonyms for e in described.results[0].configs)  # not asked
    answers = {"CreateTopics": created.topics[0], "DescribeConfigs": described.results[0],
               "IncrementalAlterConfigs": altered.responses[0], "AlterConfigs": replaced.responses[0],
               "CreatePartitions": grown.results[0], "DeleteTopics": deleted.responses[0]}
    assert {api: (a.error_code, a.error_message) for api, a in answers.items()} == {
        api: (0, "" if api == "DescribeConfigs" else None) for api in answers}


def _messages(obj: object, path: str = "") -> dict[str, str | None]:
    """Every ``error_message`` in a decoded response, by its path (``results[0].error_message``)."""
    found: dict[str, str | None] = {}
    for name in getattr(obj, "__slots__", ()):
        value = getattr(obj, name)
        if name == "error_message":
            found[f"{path}{name}"] = value
        elif isinstance(value, list):
            for i, item in enumerate(value):
                found.update(_messages(item, f"{path}{name}[{i}]."))
        elif hasattr(value, "__slots__"):
            found.update(_messages(value, f"{path}{name}."))
    return found


def _until_ok(ask: Callable[[], Any], error_code: Callable[[Any], int]) -> Any:
    """Ask until the answer succeeds: Kafka answers COORDINATOR_NOT_AVAILABLE while it creates
    __consumer_offsets on the first lookup, and learns a new SCRAM credential from its metadata log."""
    deadline = time.monotonic() + 30
    while True:
        answer = ask()
        if error_code(answer) == 0 or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)  # a retry's back-off, as a client's


def test_null_messages_of_other_successful_answers(bootstrap_servers: str, topic_name: str) -> None:
    """The other APIs whose answers carry a nullable error message, each asked something it answers with
    success: each message is what Kafka 4.4 sends, mostly null (this test passes against the reference too)."""
    user, member_id = f"u-{topic_name}", str(uuid.uuid4())
    with WireClient(bootstrap_servers, client_id="null-messages") as c:
        created = c.request(ApiKey.CREATE_TOPICS, ct.CreateTopicsRequest(timeout_ms=10_000, topics=[
            ct.CreateTopicsRequestCreatableTopic(name=topic_name, num_partitions=1, replication_factor=1)]))
        assert created.topics[0].error_code == 0, created
        node_id = c.request(ApiKey.DESCRIBE_CLUSTER, dcl.DescribeClusterRequest()).brokers[0].broker_id
        answers = {
            "DescribeCluster": c.request(ApiKey.DESCRIBE_CLUSTER, dcl.DescribeClusterRequest()),
            "FindCoordinator": _until_ok(lambda: c.request(ApiKey.FIND_COORDINATOR, fc.FindCoordinatorRequest(
                key_type=0, coordinator_keys=[f"g-{topic_name}"])), lambda r: r.coordinators[0].error_code),
            "FindCoordinator v3": _until_ok(lambda: c.request_at(ApiKey.FIND_COORDINATOR, 3, fc.FindCoordinatorRequest(
                key_type=0, key=f"g-{topic_name}")), lambda r: r.error_code),
            "ListPartitionReassignments": c.request(
                ApiKey.LIST_PARTITION_REASSIGNMENTS, lpr.ListPartitionReassignmentsRequest(topics=None)),
            "DescribeClientQuotas": c.request(ApiKey.DESCRIBE_CLIENT_QUOTAS, dcq.DescribeClientQuotasRequest(
                components=[dcq.DescribeClientQuotasRequestComponentData(entity_type="client-id", match_type=2,
                                                                         match=None)])),
            "AlterClientQuotas": c.request(ApiKey.ALTER_CLIENT_QUOTAS, acq.AlterClientQuotasRequest(entries=[
                acq.AlterClientQuotasRequestEntryData(
                    entity=[acq.AlterClientQuotasRequestEntityData(entity_type="client-id",
                                                                   entity_name=f"c-{topic_name}")],
                    ops=[acq.AlterClientQuotasRequestOpData(key="producer_byte_rate", value=1e9)])])),
            "AlterUserScramCredentials": c.request(ApiKey.ALTER_USER_SCRAM_CREDENTIALS, aus.AlterUserScramCredentialsRequest(
                deletions=[], upsertions=[aus.AlterUserScramCredentialsRequestScramCredentialUpsertion(
                    name=user, mechanism=1, iterations=4096, salt=b"s" * 16, salted_password=b"p" * 32)])),
            "DescribeUserScramCredentials": _until_ok(lambda: c.request(
                ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS, dus.DescribeUserScramCredentialsRequest(users=[
                    dus.DescribeUserScramCredentialsRequestUserName(name=user)])), lambda r: r.results[0].error_code),
            "ElectLeaders": c.request(ApiKey.ELECT_LEADERS, el.ElectLeadersRequest(
                election_type=0, topic_partitions=[el.ElectLeadersRequestTopicPartitions(topic=topic_name,
                                                                                          partitions=[0])])),
            "AlterPartitionReassignments": c.request(  # to where the replica is: Kafka's no-op success
                ApiKey.ALTER_PARTITION_REASSIGNMENTS, apr.AlterPartitionReassignmentsRequest(topics=[
                    apr.AlterPartitionReassignmentsRequestReassignableTopic(name=topic_name, partitions=[
                        apr.AlterPartitionReassignmentsRequestReassignablePartition(
                            partition_index=0, replicas=[node_id])])])),
            "ConsumerGroupHeartbeat": _until_ok(lambda: c.request(
                ApiKey.CONSUMER_GROUP_HEARTBEAT, cgh.ConsumerGroupHeartbeatRequest(
                    group_id=f"n-{topic_name}", member_id=member_id, member_epoch=0, rebalance_timeout_ms=30_000,
                    subscribed_topic_names=[topic_name], topic_partitions=[])), lambda r: r.error_code),
            "ConsumerGroupDescribe": c.request(ApiKey.CONSUMER_GROUP_DESCRIBE, cgd.ConsumerGroupDescribeRequest(
                group_ids=[f"n-{topic_name}"])),
            "DescribeProducers": c.request(ApiKey.DESCRIBE_PRODUCERS, dp.DescribeProducersRequest(topics=[
                dp.DescribeProducersRequestTopicRequest(name=topic_name, partition_indexes=[0])])),
        }
    seen = {api: _messages(a) for api, a in answers.items()}
    assert all(seen.values()), seen  # each answer has at least one message field
    # ElectLeaders of a partition whose leader is already the preferred one: ELECTION_NOT_NEEDED, with Kafka's
    # message; every other message is null
    elect = seen["ElectLeaders"].pop("replica_election_results[0].partition_result[0].error_message")
    assert elect == "Leader election not needed for topic partition.", elect
    # the rest are null, but for these, where Kafka 4.4 sends a string on success (seen against the reference)
    assert {(api, path): m for api, found in seen.items() for path, m in found.items() if m is not None} == {
        ("DescribeClientQuotas", "error_message"): "",
        ("DescribeUserScramCredentials", "error_message"): "",
        ("DescribeUserScramCredentials", "results[0].error_message"): "",
        ("FindCoordinator", "coordinators[0].error_message"): "",
        ("FindCoordinator v3", "error_message"): "NONE",  # Errors.NONE.message(), before the batched v4
    }

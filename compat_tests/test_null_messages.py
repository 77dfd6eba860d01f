"""Successful admin answers carry ``error_message: null``, as Kafka's do, not an empty string, except
DescribeConfigs, where Kafka 4.4 answers "" (seen against the reference broker): raw requests over a socket
(clients turn both into "no message"), so the test reads the field itself."""

from __future__ import annotations

from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import alter_configs as ac
from kafkasim.protocol.messages import create_partitions as cp
from kafkasim.protocol.messages import create_topics as ct
from kafkasim.protocol.messages import delete_topics as dt
from kafkasim.protocol.messages import describe_configs as dc
from kafkasim.protocol.messages import incremental_alter_configs as iac
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
    answers = {"CreateTopics": created.topics[0], "DescribeConfigs": described.results[0],
               "IncrementalAlterConfigs": altered.responses[0], "AlterConfigs": replaced.responses[0],
               "CreatePartitions": grown.results[0], "DeleteTopics": deleted.responses[0]}
    assert {api: (a.error_code, a.error_message) for api, a in answers.items()} == {
        api: (0, "" if api == "DescribeConfigs" else None) for api in answers}

"""Dynamic broker configs (issue 14 item 6): IncrementalAlterConfigs on BROKER resources, the broker's own
(its node id) and the cluster-wide default (""). librdkafka's and kafka-python's admins refuse a BROKER
resource named "" (the Java admin and kafka-configs --entity-default send it), so the changes go as raw
requests over a socket; librdkafka describes and produces, and alters the broker's own resource too.

A dynamic default of a topic config (``message.max.bytes``, ``log.retention.ms``, ...) becomes the default of
every topic that does not override it, at once; DescribeConfigs shows where each value comes from; read-only
configs and bad values are INVALID_REQUEST. Checked against Apache Kafka 4.4 (``--against kafka``): each test
puts the shared broker's configs back as it found them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
    ResourceType,
)

from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import describe_configs as dc
from kafkasim.protocol.messages import incremental_alter_configs as iac
from kafkasim.testing.wire import WireClient

WAIT_S = 15.0
BROKER, TOPIC = 4, 2  # config resource types
BIG = 1_500_000  # over the default message.max.bytes (1048588), under the raised one


def _until(get: Callable[[], Any], want: Any) -> Any:
    """``get()`` until it answers ``want`` or a deadline passes; the last answer. Kafka's brokers learn a
    dynamic config from the metadata log a moment after IncrementalAlterConfigs answers; kafkasim at once."""
    deadline = time.monotonic() + WAIT_S
    while True:
        got = get()
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)  # the metadata log's propagation, not a synchronisation of ours


def _alter(bootstrap: str, name: str, *entries: tuple[str, str | None]) -> tuple[int, str | None]:
    """IncrementalAlterConfigs on BROKER ``name``: SET each (config, value), DELETE each (config, None); the
    resource's (error code, message)."""
    with WireClient(bootstrap, client_id="broker-configs") as c:
        answer = c.request(ApiKey.INCREMENTAL_ALTER_CONFIGS, iac.IncrementalAlterConfigsRequest(resources=[
            iac.IncrementalAlterConfigsRequestAlterConfigsResource(resource_type=BROKER, resource_name=name, configs=[
                iac.IncrementalAlterConfigsRequestAlterableConfig(name=k, config_operation=1 if v is None else 0,
                                                                  value=v) for k, v in entries])]))
    return answer.responses[0].error_code, answer.responses[0].error_message


def _synonyms(bootstrap: str, rtype: int, name: str, key: str) -> list[tuple[str, str | None, int]]:
    """A config's synonyms, read raw: librdkafka's Python admin keeps them in a dict by name, so the dynamic
    and the default entries of one name (message.max.bytes twice) would collapse into one."""
    with WireClient(bootstrap, client_id="broker-configs") as c:
        answer = c.request(ApiKey.DESCRIBE_CONFIGS, dc.DescribeConfigsRequest(include_synonyms=True, resources=[
            dc.DescribeConfigsRequestDescribeConfigsResource(resource_type=rtype, resource_name=name,
                                                             configuration_keys=[key])]))
    [entry] = answer.results[0].configs
    return [(s.name, s.value, s.source) for s in entry.synonyms]


def _cluster_default(bootstrap: str) -> dict[str, str | None]:
    """The cluster-wide dynamic configs (the BROKER resource "")."""
    with WireClient(bootstrap, client_id="broker-configs") as c:
        answer = c.request(ApiKey.DESCRIBE_CONFIGS, dc.DescribeConfigsRequest(resources=[
            dc.DescribeConfigsRequestDescribeConfigsResource(resource_type=BROKER, resource_name="",
                                                             configuration_keys=None)]))
    assert answer.results[0].error_code == 0, answer
    return {e.name: e.value for e in answer.results[0].configs}


def _describe(admin: AdminClient, rtype: ResourceType, name: str) -> dict[str, Any]:
    [future] = admin.describe_configs([ConfigResource(rtype, name)]).values()
    return future.result(WAIT_S)


@pytest.fixture
def admin(bootstrap_servers: str) -> Iterator[AdminClient]:
    yield AdminClient({"bootstrap.servers": bootstrap_servers})
    assert _alter(bootstrap_servers, "", ("message.max.bytes", None), ("log.retention.ms", None))[0] == 0


@pytest.fixture
def node_id(admin: AdminClient) -> str:
    return str(admin.describe_cluster().result(WAIT_S).nodes[0].id)


def _produce(bootstrap: str, topic: str, size: int) -> KafkaError | None:
    errors: list[KafkaError | None] = []
    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 3_000_000, "retries": 0})
    producer.produce(topic, b"x" * size, on_delivery=lambda err, _msg: errors.append(err))
    assert producer.flush(WAIT_S) == 0
    return errors[0]


def test_cluster_default_message_max_bytes_applies_to_topics_at_once(admin: AdminClient, bootstrap_servers: str,
                                                                     node_id: str) -> None:
    topic = f"bc-{uuid.uuid4().hex[:10]}"
    [future] = admin.create_topics([NewTopic(topic, 1, 1)]).values()
    future.result(WAIT_S)
    refused = _produce(bootstrap_servers, topic, BIG)
    assert refused is not None and refused.code() == KafkaError.MSG_SIZE_TOO_LARGE, refused

    assert _alter(bootstrap_servers, "", ("message.max.bytes", "2000000")) == (0, None)

    assert _until(lambda: _cluster_default(bootstrap_servers).get("message.max.bytes"), "2000000") == "2000000"
    dynamic_default = ("2000000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)

    def described(rtype: ResourceType, name: str, key: str) -> tuple[str, int]:
        entry = _describe(admin, rtype, name)[key]
        return entry.value, entry.source

    assert _until(lambda: described(ResourceType.BROKER, node_id, "message.max.bytes"),
                  dynamic_default) == dynamic_default
    assert _until(lambda: described(ResourceType.TOPIC, topic, "max.message.bytes"),
                  dynamic_default) == dynamic_default
    assert _synonyms(bootstrap_servers, TOPIC, topic, "max.message.bytes") == [
        ("message.max.bytes", "2000000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value),
        ("message.max.bytes", "1048588", ConfigSource.DEFAULT_CONFIG.value)]
    accepted = _until(lambda: _produce(bootstrap_servers, topic, BIG), None)
    assert accepted is None, accepted

    assert _alter(bootstrap_servers, "", ("message.max.bytes", None)) == (0, None)
    assert _until(lambda: _describe(admin, ResourceType.TOPIC, topic)["max.message.bytes"].value,
                  "1048588") == "1048588"


def test_broker_value_over_cluster_default(admin: AdminClient, bootstrap_servers: str, node_id: str) -> None:
    assert _alter(bootstrap_servers, "", ("log.retention.ms", "3600000")) == (0, None)
    # the broker's own resource through librdkafka's admin
    resource = ConfigResource(ResourceType.BROKER, node_id, incremental_configs=[
        ConfigEntry("log.retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)])
    [future] = admin.incremental_alter_configs([resource]).values()
    future.result(WAIT_S)
    try:
        own = ("7200000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
        assert _until(lambda: (lambda e: (e.value, e.source))(
            _describe(admin, ResourceType.BROKER, node_id)["log.retention.ms"]), own) == own
        assert _synonyms(bootstrap_servers, BROKER, node_id, "log.retention.ms")[:2] == [
            ("log.retention.ms", "7200000", ConfigSource.DYNAMIC_BROKER_CONFIG.value),
            ("log.retention.ms", "3600000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)]
    finally:
        assert _alter(bootstrap_servers, node_id, ("log.retention.ms", None)) == (0, None)
    assert _until(lambda: _describe(admin, ResourceType.BROKER, node_id)["log.retention.ms"].value,
                  "3600000") == "3600000"


@pytest.mark.parametrize(("name", "config", "value", "message"), [
    ("node", "broker.id", "5", "Cannot update these configs dynamically: [broker.id]"),
    ("", "log.dirs", "/elsewhere", "Cannot update these configs dynamically: [log.dirs]"),
    ("node", "log.retention.ms", "soon",
     "Invalid value soon for configuration log.retention.ms: Not a number of type LONG"),
    ("other", "message.max.bytes", "2000000", "Unexpected broker id, expected {node}, but received {other}"),
])
def test_refused_broker_config_changes(bootstrap_servers: str, node_id: str, name: str, config: str, value: str,
                                       message: str) -> None:
    other = str(int(node_id) + 100)
    resource = {"node": node_id, "": "", "other": other}[name]
    assert _alter(bootstrap_servers, resource, (config, value)) == (
        KafkaError.INVALID_REQUEST, message.format(node=node_id, other=other))


def test_refused_change_as_librdkafka_reports_it(admin: AdminClient, node_id: str) -> None:
    resource = ConfigResource(ResourceType.BROKER, node_id, incremental_configs=[
        ConfigEntry("broker.id", "5", incremental_operation=AlterConfigOpType.SET)])
    [future] = admin.incremental_alter_configs([resource]).values()
    with pytest.raises(KafkaException) as raised:
        future.result(WAIT_S)
    assert raised.value.args[0].code() == KafkaError.INVALID_REQUEST
    assert "Cannot update these configs dynamically: [broker.id]" in raised.value.args[0].str()

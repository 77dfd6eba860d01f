"""Dynamic broker configs (state/broker_configs.py, TopicConfigs): precedence, unit conversion, validation."""

from __future__ import annotations

import pytest

from kafkasim.config import BrokerConfig, ConfigSource
from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.state.cluster import ClusterState
from kafkasim.state.topic_configs import ConfigOp


@pytest.fixture
def state() -> ClusterState:
    s = ClusterState(BrokerConfig())
    s.register_broker(1, "127.0.0.1", 9092)
    s.create_topic("t", 1, 1)
    s.create_topic("own", 1, 1, {"retention.ms": "5"})
    return s


def _set(state: ClusterState, node: int | None, name: str, value: str | None, op: int = 0) -> None:
    state.topic_configs.alter_broker_configs(node, [ConfigOp(name, op, value)], False, state.topics.values())


def test_precedence_topic_then_broker_then_cluster_then_static(state: ClusterState) -> None:
    t, own = state.topic("t"), state.topic("own")
    _set(state, None, "log.retention.ms", "1000")
    assert state.topic_config(t, "retention.ms") == "1000"
    _set(state, 1, "log.retention.ms", "2000")
    assert state.topic_config(t, "retention.ms") == "2000"
    assert state.topic_config(own, "retention.ms") == "5"  # the topic's override wins
    [entry] = state.describe_topic_configs("t", ["retention.ms"])
    assert (entry.value, entry.source) == ("2000", ConfigSource.DYNAMIC_BROKER_CONFIG)
    assert entry.synonyms == (("log.retention.ms", "2000", ConfigSource.DYNAMIC_BROKER_CONFIG),
                              ("log.retention.ms", "1000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
                              ("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG))
    _set(state, 1, "log.retention.ms", None, op=1)
    _set(state, None, "log.retention.ms", None, op=1)
    assert state.topic_config(t, "retention.ms") == "604800000"


def test_hours_and_minutes_convert_and_ms_wins(state: ClusterState) -> None:
    t = state.topic("t")
    _set(state, None, "log.retention.hours", "2")
    assert state.topic_config(t, "retention.ms") == str(2 * 3_600_000)
    _set(state, None, "log.retention.minutes", "3")
    assert state.topic_config(t, "retention.ms") == str(3 * 60_000)
    _set(state, None, "log.retention.ms", "7")
    assert state.topic_config(t, "retention.ms") == "7"


def test_new_default_reaches_append_settings_at_once(state: ClusterState) -> None:
    t = state.topic("t")
    assert state.topic_configs.append_settings(t).max_message_bytes == 1048588
    _set(state, None, "message.max.bytes", "2000000")
    assert state.topic_configs.append_settings(t).max_message_bytes == 2000000


@pytest.mark.parametrize(("name", "value", "message"), [
    ("broker.id", "5", "Cannot update these configs dynamically: [broker.id]"),
    ("log.retention.ms", "x", "Invalid value x for configuration log.retention.ms: Not a number of type LONG"),
    ("log.segment.bytes", "10", "Invalid value 10 for configuration log.segment.bytes: Value must be at least"),
])
def test_refused(state: ClusterState, name: str, value: str, message: str) -> None:
    with pytest.raises(KafkaError) as raised:
        _set(state, 1, name, value)
    assert raised.value.code == ErrorCode.INVALID_REQUEST and message in raised.value.message
    assert state.topic_configs.dynamic.values(1) == {}


def test_unknown_name_is_kept_and_changes_nothing(state: ClusterState) -> None:
    _set(state, None, "some.plugin.setting", "on")
    assert state.topic_configs.dynamic.values(None) == {"some.plugin.setting": "on"}
    [entry] = state.describe_broker_configs(None, None)
    assert (entry.name, entry.value, entry.read_only) == ("some.plugin.setting", None, True)

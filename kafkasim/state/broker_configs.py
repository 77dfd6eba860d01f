"""Dynamic broker configs: what IncrementalAlterConfigs and AlterConfigs set on BROKER resources, per broker
(resource name = its node id) and cluster-wide (resource name ""), as Kafka keeps them in its metadata log.

What can change dynamically here are the broker-level defaults of topic configs (``config.BROKER_SYNONYMS``,
plus the hour and minute forms of ``log.retention``/``log.roll``): a new value becomes the default of every
topic that does not override it, at once, as in Kafka. The other broker configs kafkasim knows are read-only
(INVALID_REQUEST "Cannot update these configs dynamically"); a name kafkasim does not know is kept, as Kafka
keeps it, and changes nothing. Precedence, as Kafka's: the topic's override, this broker's dynamic value, the
cluster-wide dynamic default, the static config, the default. kafkasim's topics are the cluster's, so a
broker's own dynamic value applies to every topic (as it does in a one-broker cluster).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

from kafkasim.config import BROKER_SYNONYMS, TOPIC_CONFIGS, ConfigDef, ConfigSource, validate_config_value
from kafkasim.errors import ErrorCode, KafkaError

#: broker config -> (topic config, multiplier from the broker unit to the topic's milliseconds)
_CONVERTED = {"log.retention.minutes": ("retention.ms", 60_000), "log.retention.hours": ("retention.ms", 3_600_000),
              "log.roll.hours": ("segment.ms", 3_600_000), "log.roll.jitter.hours": ("segment.jitter.ms", 3_600_000)}
#: broker config -> (topic config, multiplier): every broker config that changes a topic default
TOPIC_DEFAULTS: dict[str, tuple[str, int]] = {
    **{broker: (topic, 1) for topic, (broker, _direct) in BROKER_SYNONYMS.items()}, **_CONVERTED}
#: per topic config, its broker synonyms in Kafka's order of precedence (ms before minutes before hours)
_SYNONYMS_OF: dict[str, list[str]] = {}
for _broker, (_topic, _mult) in TOPIC_DEFAULTS.items():
    _SYNONYMS_OF.setdefault(_topic, []).append(_broker)
for _names in _SYNONYMS_OF.values():
    _names.sort(key=lambda n: TOPIC_DEFAULTS[n][1])


class DynamicValue(NamedTuple):
    broker_name: str
    value: str  # in the topic config's unit
    source: ConfigSource


def _definition(broker_name: str) -> ConfigDef:
    topic, mult = TOPIC_DEFAULTS[broker_name]
    cdef = TOPIC_CONFIGS[topic]
    return ConfigDef(broker_name, cdef.type, cdef.default, cdef.choices, cdef.min if mult == 1 else None)


class DynamicBrokerConfigs:
    """The dynamic configs of the cluster (``""``) and of each broker (node id), by name."""

    def __init__(self) -> None:
        self.default: dict[str, str] = {}
        self.brokers: dict[int, dict[str, str]] = {}
        #: ``on_change(node_id or None, configs)`` keeps a change (a data directory)
        self.on_change: Callable[[int | None, dict[str, str]], None] | None = None

    def values(self, node_id: int | None) -> dict[str, str]:
        """The dynamic configs of broker ``node_id``, or the cluster-wide ones (None)."""
        return self.default if node_id is None else self.brokers.get(node_id, {})

    def check(self, names: Iterable[str], read_only: Iterable[str]) -> None:
        fixed = sorted(set(names) & (set(read_only) - set(TOPIC_DEFAULTS)))
        if fixed:
            raise KafkaError(ErrorCode.INVALID_REQUEST,
                             f"Cannot update these configs dynamically: [{', '.join(fixed)}]")

    def validate(self, name: str, value: str | None) -> str | None:
        if name not in TOPIC_DEFAULTS:
            return value  # unknown to kafkasim: kept as given, as Kafka keeps it
        try:
            return validate_config_value(_definition(name), value)
        except ValueError as exc:
            raise KafkaError(ErrorCode.INVALID_REQUEST, str(exc)) from None

    def replace(self, node_id: int | None, configs: dict[str, str]) -> None:
        self.restore(node_id, configs)
        if self.on_change is not None:
            self.on_change(node_id, dict(configs))

    def restore(self, node_id: int | None, configs: dict[str, str]) -> None:
        if node_id is None:
            self.default = dict(configs)
        elif configs:
            self.brokers[node_id] = dict(configs)
        else:
            self.brokers.pop(node_id, None)

    def topic_default(self, topic_name: str, node_ids: Iterable[int]) -> DynamicValue | None:
        """The dynamic value in force for topic config ``topic_name``, in the topic's unit: a broker's own
        (the first of ``node_ids`` that sets one), else the cluster-wide default; None when neither is set."""
        synonyms = _SYNONYMS_OF.get(topic_name)
        if not synonyms or not (self.default or self.brokers):
            return None
        layers = [(self.brokers.get(n, {}), ConfigSource.DYNAMIC_BROKER_CONFIG) for n in node_ids]
        for values, source in [*layers, (self.default, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)]:
            for broker_name in synonyms:
                v = values.get(broker_name)
                if v is not None:
                    mult = TOPIC_DEFAULTS[broker_name][1]
                    return DynamicValue(broker_name, v if mult == 1 else str(int(v) * mult), source)
        return None

    def synonyms(self, topic_name: str, node_ids: Iterable[int]) -> list[tuple[str, str | None, ConfigSource]]:
        """Every dynamic value of topic config ``topic_name``'s broker synonyms, as they stand (broker's own
        first, then the cluster's), for DescribeConfigs."""
        out: list[tuple[str, str | None, ConfigSource]] = []
        layers = [(self.brokers.get(n, {}), ConfigSource.DYNAMIC_BROKER_CONFIG) for n in node_ids]
        for values, source in [*layers, (self.default, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)]:
            out += [(b, values[b], source) for b in _SYNONYMS_OF.get(topic_name, ()) if b in values]
        return out

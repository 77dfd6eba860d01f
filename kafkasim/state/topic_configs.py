"""Topic configs: the explicit overrides a topic keeps over the broker's defaults, how they are validated,
described, altered (IncrementalAlterConfigs) and replaced (AlterConfigs), and the settings that appends and
logs derive from them; and the broker's own configs, read-only, as DescribeConfigs lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

from kafkasim.config import (
    BROKER_SYNONYMS,
    CONFIG_ALIASES,
    SCHEMA_CONFIGS,
    TOPIC_CONFIGS,
    BrokerConfig,
    ConfigSource,
    ConfigType,
    topic_config_def,
    validate_config_value,
)
from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.protocol.compression import Codec
from kafkasim.schemas.validation import SchemaCheck
from kafkasim.state.brokers import BrokerInfo
from kafkasim.state.partitions import AppendSettings, Topic

#: topic compression.type -> codec id (None: keep what the producer sent)
COMPRESSION_TYPES = {"producer": None, "uncompressed": Codec.NONE, "gzip": Codec.GZIP, "snappy": Codec.SNAPPY,
                     "lz4": Codec.LZ4, "zstd": Codec.ZSTD}


class ConfigEntry(NamedTuple):
    name: str
    value: str | None
    source: ConfigSource
    type: ConfigType
    read_only: bool = False
    sensitive: bool = False
    #: (name, value, source) of every level the value could come from, the one in force first
    synonyms: tuple[tuple[str, str | None, ConfigSource], ...] = ()


class ConfigOp(NamedTuple):
    name: str
    op: int  # 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT
    value: str | None


class TopicConfigs:
    """Reads and changes topics' configs; ``on_change(topic)`` keeps a change (a data directory)."""

    def __init__(self, config: BrokerConfig, brokers: dict[int, BrokerInfo],
                 on_change: Callable[[Topic], None]) -> None:
        self.config = config
        self.brokers = brokers
        self.on_change = on_change

    def topic_config(self, t: Topic, name: str) -> str:
        v = t.configs.get(name)
        return v if v is not None else self.config.topic_default(name)

    def validate_configs(self, configs: dict[str, str | None]) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in configs.items():
            cdef = topic_config_def(k)
            if cdef is None:
                raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {k}")
            try:
                out[cdef.name] = validate_config_value(cdef, v)
            except ValueError as exc:
                raise KafkaError(ErrorCode.INVALID_CONFIG, str(exc)) from None
        return out

    def set_configs(self, t: Topic, configs: dict[str, str]) -> None:
        t.configs = configs
        t.append_settings = None
        self.apply_log_config(t)
        self.on_change(t)

    def apply_log_config(self, t: Topic) -> None:
        c = t.log_config
        c.segment_bytes = int(self.topic_config(t, "segment.bytes"))
        c.segment_ms = int(self.topic_config(t, "segment.ms"))
        c.index_interval_bytes = int(self.topic_config(t, "index.interval.bytes"))

    def append_settings(self, t: Topic) -> AppendSettings:
        s = t.append_settings
        if s is None:
            s = t.append_settings = AppendSettings(
                int(self.topic_config(t, "max.message.bytes")),
                self.topic_config(t, "message.timestamp.type") == "LogAppendTime",
                int(self.topic_config(t, "message.timestamp.after.max.ms")),
                int(self.topic_config(t, "message.timestamp.before.max.ms")),
                COMPRESSION_TYPES.get(self.topic_config(t, "compression.type")),
                "compact" in self.topic_config(t, "cleanup.policy").split(","),
                int(self.topic_config(t, "min.insync.replicas")),
                self._schema_check(t))
        return s

    def _schema_check(self, t: Topic) -> SchemaCheck | None:
        """What schema-at-producer asks of the topic's records; None: nothing (the topics of Kafka and of the
        registry, named with a leading underscore, take no broker-wide default)."""
        def strategy(field: str) -> str | None:
            if self.topic_config(t, f"confluent.{field}.schema.validation") != "true":
                return None
            return self.topic_config(t, f"confluent.{field}.subject.name.strategy").rpartition(".")[2]

        if t.name.startswith("_") and not any(k in t.configs for k in SCHEMA_CONFIGS):
            return None
        key, value = strategy("key"), strategy("value")
        if key is None and value is None:
            return None
        return SchemaCheck(key, value, self.topic_config(t, "kafkasim.schema.validation.level") == "payload")

    def describe_topic_configs(self, t: Topic, keys: Iterable[str] | None) -> list[ConfigEntry]:
        # no keys, null or empty, means all of them, as in Kafka
        wanted = [*TOPIC_CONFIGS, *(k for k in SCHEMA_CONFIGS if k in t.configs)] if not keys else [
            CONFIG_ALIASES.get(k, k) for k in keys]
        out = []
        for k in wanted:
            cdef = topic_config_def(k)
            if cdef is None:
                continue  # Kafka omits unknown keys
            broker_value = self.config.topic_default(k)
            synonyms = self._broker_synonyms(k, cdef.default, broker_value)
            if k in t.configs:
                out.append(ConfigEntry(k, t.configs[k], ConfigSource.TOPIC_CONFIG, cdef.type,
                                       synonyms=((k, t.configs[k], ConfigSource.TOPIC_CONFIG), *synonyms)))
            else:
                src = ConfigSource.STATIC_BROKER_CONFIG if broker_value != cdef.default else ConfigSource.DEFAULT_CONFIG
                out.append(ConfigEntry(k, broker_value, src, cdef.type, synonyms=synonyms))
        return out

    @staticmethod
    def _broker_synonyms(name: str, default: str, broker_value: str) -> tuple[tuple[str, str | None, ConfigSource], ...]:
        """The broker-level synonyms of topic config ``name``, as Kafka 4 lists them (config.BROKER_SYNONYMS)."""
        synonym = BROKER_SYNONYMS.get(name)
        if synonym is None:
            return ()
        broker_name, direct = synonym
        out: list[tuple[str, str | None, ConfigSource]] = []
        if broker_value != default:
            out.append((broker_name, broker_value, ConfigSource.STATIC_BROKER_CONFIG))
        if direct:
            out.append((broker_name, default, ConfigSource.DEFAULT_CONFIG))
        return tuple(out)

    def describe_broker_configs(self, node_id: int, keys: Iterable[str] | None) -> list[ConfigEntry]:
        b = self.brokers.get(node_id)
        allc = self.config.broker_configs(node_id, b.rack if b is not None else self.config.rack)
        wanted = list(allc) if not keys else [k for k in keys if k in allc]
        return [ConfigEntry(k, allc[k][0], ConfigSource.STATIC_BROKER_CONFIG, allc[k][1], read_only=True,
                            synonyms=((k, allc[k][0], ConfigSource.STATIC_BROKER_CONFIG),)) for k in wanted]

    def alter_topic_configs(self, t: Topic, ops: list[ConfigOp], validate_only: bool) -> None:
        """IncrementalAlterConfigs for one topic: validate every op, then apply all or nothing."""
        seen = set()
        new = dict(t.configs)
        for op in ops:
            if op.name in seen:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Error due to duplicate config keys: {op.name}")
            seen.add(op.name)
            cdef = topic_config_def(op.name)
            if cdef is None:
                raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {op.name}")
            if op.op == 0:
                try:
                    new[cdef.name] = validate_config_value(cdef, op.value)
                except ValueError as exc:
                    raise KafkaError(ErrorCode.INVALID_CONFIG, str(exc)) from None
            elif op.op == 1:
                new.pop(cdef.name, None)
            elif op.op in (2, 3):
                if cdef.type != ConfigType.LIST:
                    raise KafkaError(ErrorCode.INVALID_CONFIG,
                                     f"Config value append is not allowed for config key: {op.name}")
                current = [i for i in self.topic_config(t, op.name).split(",") if i]
                items = [i.strip() for i in (op.value or "").split(",") if i.strip()]
                if op.op == 2:
                    current += [i for i in items if i not in current]
                else:
                    current = [i for i in current if i not in items]
                try:
                    new[op.name] = validate_config_value(cdef, ",".join(current))
                except ValueError as exc:
                    raise KafkaError(ErrorCode.INVALID_CONFIG, str(exc)) from None
            else:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown config operation {op.op}")
        if not validate_only:
            self.set_configs(t, new)

    def replace_topic_configs(self, t: Topic, configs: dict[str, str | None], count: int,
                              validate_only: bool) -> None:
        """AlterConfigs (legacy): the given configs become the topic's only explicit configs."""
        if len(configs) != count:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")
        normalised = self.validate_configs(configs)
        if not validate_only:
            self.set_configs(t, normalised)

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
from kafkasim.state.broker_configs import TOPIC_DEFAULTS, DynamicBrokerConfigs
from kafkasim.state.brokers import BrokerInfo
from kafkasim.state.partitions import AppendSettings, Topic

#: topic compression.type -> codec id (None: keep what the producer sent)
COMPRESSION_TYPES = {"producer": None, "uncompressed": Codec.NONE, "gzip": Codec.GZIP, "snappy": Codec.SNAPPY,
                     "lz4": Codec.LZ4, "zstd": Codec.ZSTD}


#: the default of a converted synonym's last form, listed once a broker-level value is set (Kafka 4.4)
HOURS_DEFAULTS = {"retention.ms": ("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG),
                  "segment.ms": ("log.roll.hours", "168", ConfigSource.DEFAULT_CONFIG)}


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
        self.dynamic = DynamicBrokerConfigs()

    def topic_config(self, t: Topic, name: str) -> str:
        v = t.configs.get(name)
        return v if v is not None else self.topic_default(name)

    def topic_default(self, name: str) -> str:
        """The default of topic config ``name`` in force: a dynamic broker config, else the static one."""
        if self.dynamic.default or self.dynamic.brokers:
            d = self.dynamic.topic_default(name, sorted(self.brokers))
            if d is not None:
                return d.value
        return self.config.topic_default(name)

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
            static = self.config.topic_default(k)
            dynamic = self.dynamic.topic_default(k, sorted(self.brokers))
            synonyms = (*self.dynamic.synonyms(k, sorted(self.brokers)),
                        *self._broker_synonyms(k, cdef.default, static, dynamic is not None))
            if k in t.configs:
                out.append(ConfigEntry(k, t.configs[k], ConfigSource.TOPIC_CONFIG, cdef.type,
                                       synonyms=((k, t.configs[k], ConfigSource.TOPIC_CONFIG), *synonyms)))
            elif dynamic is not None:
                out.append(ConfigEntry(k, dynamic.value, dynamic.source, cdef.type, synonyms=synonyms))
            else:
                src = ConfigSource.STATIC_BROKER_CONFIG if static != cdef.default else ConfigSource.DEFAULT_CONFIG
                out.append(ConfigEntry(k, static, src, cdef.type, synonyms=synonyms))
        return out

    @staticmethod
    def _broker_synonyms(name: str, default: str, static: str, dynamic: bool
                         ) -> tuple[tuple[str, str | None, ConfigSource], ...]:
        """The static and default broker-level synonyms of topic config ``name``, as Kafka 4 lists them
        (config.BROKER_SYNONYMS): a converted one (log.retention.ms) lists the default of its last form
        (log.retention.hours) only once some broker-level value is set."""
        synonym = BROKER_SYNONYMS.get(name)
        if synonym is None:
            return ()
        broker_name, direct = synonym
        out: list[tuple[str, str | None, ConfigSource]] = []
        if static != default:
            out.append((broker_name, static, ConfigSource.STATIC_BROKER_CONFIG))
        if direct:
            out.append((broker_name, default, ConfigSource.DEFAULT_CONFIG))
        elif (dynamic or static != default) and name in HOURS_DEFAULTS:
            out.append(HOURS_DEFAULTS[name])
        return tuple(out)

    def describe_broker_configs(self, node_id: int | None, keys: Iterable[str] | None) -> list[ConfigEntry]:
        """The BROKER resource of broker ``node_id``: its static configs with the dynamic ones over them; or,
        for None (resource name ""), the cluster-wide dynamic configs alone, as Kafka lists them."""
        default = self.dynamic.default
        if node_id is None:
            wanted = list(default) if not keys else [k for k in keys if k in default]
            return [self._dynamic_entry(k, default[k], ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
                                        ((k, default[k], ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),))
                    for k in wanted]
        b = self.brokers.get(node_id)
        allc = self.config.broker_configs(node_id, b.rack if b is not None else self.config.rack)
        own = self.dynamic.values(node_id)
        names = [*allc, *(k for k in own if k not in allc), *(k for k in default if k not in allc and k not in own)]
        wanted = names if not keys else [k for k in keys if k in allc or k in own or k in default]
        out = []
        for k in wanted:
            synonyms: list[tuple[str, str | None, ConfigSource]] = []
            if k in own:
                synonyms.append((k, own[k], ConfigSource.DYNAMIC_BROKER_CONFIG))
            if k in default:
                synonyms.append((k, default[k], ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG))
            if k in allc:
                synonyms.append((k, allc[k][0], ConfigSource.STATIC_BROKER_CONFIG))
            if not synonyms[0][2] == ConfigSource.STATIC_BROKER_CONFIG or k in TOPIC_DEFAULTS:
                value, source = synonyms[0][1], synonyms[0][2]
                out.append(self._dynamic_entry(k, value, source, tuple(synonyms), allc.get(k, (None, None))[1]))
            else:
                out.append(ConfigEntry(k, allc[k][0], ConfigSource.STATIC_BROKER_CONFIG, allc[k][1], read_only=True,
                                       synonyms=tuple(synonyms)))
        return out

    @staticmethod
    def _dynamic_entry(name: str, value: str | None, source: ConfigSource,
                       synonyms: tuple[tuple[str, str | None, ConfigSource], ...],
                       type_: ConfigType | None = None) -> ConfigEntry:
        """A broker config that may change dynamically; one kafkasim does not know is listed as Kafka lists
        it: no value, read-only."""
        if name not in TOPIC_DEFAULTS:
            return ConfigEntry(name, None if type_ is None else value, source, type_ or ConfigType.UNKNOWN,
                               read_only=True, synonyms=synonyms if type_ is not None else ((name, None, source),))
        topic_name, _mult = TOPIC_DEFAULTS[name]
        return ConfigEntry(name, value, source, type_ or TOPIC_CONFIGS[topic_name].type, synonyms=synonyms)

    def alter_broker_configs(self, node_id: int | None, ops: list[ConfigOp], validate_only: bool,
                             topics: Iterable[Topic]) -> None:
        """IncrementalAlterConfigs on a BROKER resource (None: the cluster-wide default): SET and DELETE,
        validated first, then all applied; topics' defaults change at once."""
        names = [op.name for op in ops]
        if len(set(names)) != len(names):
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")
        self.dynamic.check(names, self.config.broker_configs(0, None))
        new = dict(self.dynamic.values(node_id))
        for op in ops:
            if op.op == 0:
                value = self.dynamic.validate(op.name, op.value)
                if value is None:
                    new.pop(op.name, None)
                else:
                    new[op.name] = value
            elif op.op == 1:
                new.pop(op.name, None)
            elif op.op in (2, 3):
                raise KafkaError(ErrorCode.INVALID_CONFIG,
                                 f"Config value append is not allowed for config key: {op.name}")
            else:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown config operation {op.op}")
        if not validate_only:
            self._set_dynamic(node_id, new, topics)

    def replace_broker_configs(self, node_id: int | None, configs: dict[str, str | None], count: int,
                               validate_only: bool, topics: Iterable[Topic]) -> None:
        """AlterConfigs (legacy) on a BROKER resource: the given configs become its only dynamic ones."""
        if len(configs) != count:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")
        self.dynamic.check(configs, self.config.broker_configs(0, None))
        new = {k: v for k, v in ((k, self.dynamic.validate(k, v)) for k, v in configs.items()) if v is not None}
        if not validate_only:
            self._set_dynamic(node_id, new, topics)

    def _set_dynamic(self, node_id: int | None, configs: dict[str, str], topics: Iterable[Topic]) -> None:
        self.dynamic.replace(node_id, configs)
        self.defaults_changed(topics)

    def defaults_changed(self, topics: Iterable[Topic]) -> None:
        """Every topic's derived settings follow its new defaults."""
        for t in topics:
            t.append_settings = None
            self.apply_log_config(t)

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

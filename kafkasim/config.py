"""Typed, frozen configuration: the broker's settings and Kafka's topic configs with Kafka's defaults.

Names follow Kafka's own (``auto.create.topics.enable`` is ``auto_create_topics``); the topic config table
below is the single source for which topic configs exist, their types, defaults and validation.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from enum import IntEnum

MAX_LONG = 9223372036854775807
#: when appended records are fsynced: before the Produce is acknowledged, periodically, or never
FSYNC_POLICIES = ("always", "interval", "never")
#: replica.selector.class values that turn on KIP-392 fetching from the closest replica
RACK_AWARE_SELECTOR = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
LEADER_SELECTOR = "org.apache.kafka.common.replica.LeaderSelector"
REPLICA_SELECTORS = {"": "", "leader": LEADER_SELECTOR, LEADER_SELECTOR: LEADER_SELECTOR,
                     "rack-aware": RACK_AWARE_SELECTOR, RACK_AWARE_SELECTOR: RACK_AWARE_SELECTOR}
#: most virtual brokers one cluster may have
MAX_BROKERS = 256


class ConfigType(IntEnum):
    """DescribeConfigs ``config_type`` (v3+)."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class ConfigSource(IntEnum):
    """DescribeConfigs ``config_source`` (v1+)."""

    UNKNOWN = 0
    TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6


class ResourceType(IntEnum):
    """Config resource types (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs)."""

    UNKNOWN = 0
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8


@dataclass(frozen=True, slots=True)
class ConfigDef:
    name: str
    type: ConfigType
    default: str
    choices: tuple[str, ...] = ()
    min: int | float | None = None
    doc: str = ""


def _d(name: str, type_: ConfigType, default: object, choices: tuple[str, ...] = (), min_: float | None = None,
       doc: str = "") -> ConfigDef:
    text = ("true" if default else "false") if isinstance(default, bool) else str(default)
    return ConfigDef(name, type_, text, choices, min_, doc)


T = ConfigType
#: Kafka 4.x topic configs with their defaults (``kafka-configs --describe --all`` on a fresh broker).
TOPIC_CONFIGS: dict[str, ConfigDef] = {c.name: c for c in [
    _d("cleanup.policy", T.LIST, "delete", ("delete", "compact")),
    _d("compression.type", T.STRING, "producer", ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")),
    _d("compression.gzip.level", T.INT, -1, min_=-1),
    _d("compression.lz4.level", T.INT, 9, min_=1),
    _d("compression.zstd.level", T.INT, 3, min_=-131072),
    _d("delete.retention.ms", T.LONG, 86400000, min_=0),
    _d("file.delete.delay.ms", T.LONG, 60000, min_=0),
    _d("flush.messages", T.LONG, MAX_LONG, min_=1),
    _d("flush.ms", T.LONG, MAX_LONG, min_=0),
    _d("follower.replication.throttled.replicas", T.LIST, ""),
    _d("index.interval.bytes", T.INT, 4096, min_=0),
    _d("leader.replication.throttled.replicas", T.LIST, ""),
    _d("local.retention.bytes", T.LONG, -2, min_=-2),
    _d("local.retention.ms", T.LONG, -2, min_=-2),
    _d("max.compaction.lag.ms", T.LONG, MAX_LONG, min_=1),
    _d("max.message.bytes", T.INT, 1048588, min_=0),
    _d("message.timestamp.after.max.ms", T.LONG, 3600000, min_=0),
    _d("message.timestamp.before.max.ms", T.LONG, MAX_LONG, min_=0),
    _d("message.timestamp.type", T.STRING, "CreateTime", ("CreateTime", "LogAppendTime")),
    _d("min.cleanable.dirty.ratio", T.DOUBLE, 0.5, min_=0),
    _d("min.compaction.lag.ms", T.LONG, 0, min_=0),
    _d("min.insync.replicas", T.INT, 1, min_=1),
    _d("preallocate", T.BOOLEAN, False),
    _d("remote.storage.enable", T.BOOLEAN, False),
    _d("retention.bytes", T.LONG, -1),
    _d("retention.ms", T.LONG, 604800000, min_=-1),
    _d("segment.bytes", T.INT, 1073741824, min_=1048576),
    _d("segment.index.bytes", T.INT, 10485760, min_=4),
    _d("segment.jitter.ms", T.LONG, 0, min_=0),
    _d("segment.ms", T.LONG, 604800000, min_=1),
    _d("unclean.leader.election.enable", T.BOOLEAN, False),
]}


#: each topic config's broker-level synonym, as Kafka 4 lists it in DescribeConfigs (include_synonyms): its
#: name, and whether it takes the topic config's value as is. Kafka lists a direct synonym's default as a
#: DEFAULT_CONFIG synonym; one it converts (log.retention.hours and the like, whose ms form has no default)
#: only when the broker sets it. Topic configs without a broker synonym are not here.
BROKER_SYNONYMS: dict[str, tuple[str, bool]] = {
    "cleanup.policy": ("log.cleanup.policy", True),
    "compression.type": ("compression.type", True),
    "compression.gzip.level": ("compression.gzip.level", True),
    "compression.lz4.level": ("compression.lz4.level", True),
    "compression.zstd.level": ("compression.zstd.level", True),
    "delete.retention.ms": ("log.cleaner.delete.retention.ms", True),
    "file.delete.delay.ms": ("log.segment.delete.delay.ms", True),
    "flush.messages": ("log.flush.interval.messages", True),
    "flush.ms": ("log.flush.interval.ms", False),
    "index.interval.bytes": ("log.index.interval.bytes", True),
    "local.retention.bytes": ("log.local.retention.bytes", True),
    "local.retention.ms": ("log.local.retention.ms", True),
    "max.compaction.lag.ms": ("log.cleaner.max.compaction.lag.ms", True),
    "max.message.bytes": ("message.max.bytes", True),
    "message.timestamp.after.max.ms": ("log.message.timestamp.after.max.ms", True),
    "message.timestamp.before.max.ms": ("log.message.timestamp.before.max.ms", True),
    "message.timestamp.type": ("log.message.timestamp.type", True),
    "min.cleanable.dirty.ratio": ("log.cleaner.min.cleanable.ratio", True),
    "min.compaction.lag.ms": ("log.cleaner.min.compaction.lag.ms", True),
    "min.insync.replicas": ("min.insync.replicas", True),
    "preallocate": ("log.preallocate", True),
    "retention.bytes": ("log.retention.bytes", True),
    "retention.ms": ("log.retention.ms", False),
    "segment.bytes": ("log.segment.bytes", True),
    "segment.index.bytes": ("log.index.size.max.bytes", True),
    "segment.jitter.ms": ("log.roll.jitter.ms", False),
    "segment.ms": ("log.roll.ms", False),
    "unclean.leader.election.enable": ("unclean.leader.election.enable", True),
}


#: subject name strategies of the schema validation configs: Confluent's class names, or their short names
_STRATEGY_PACKAGE = "io.confluent.kafka.serializers.subject."
SUBJECT_NAME_STRATEGIES = ("TopicNameStrategy", "RecordNameStrategy", "TopicRecordNameStrategy")
_STRATEGY_CHOICES = (*SUBJECT_NAME_STRATEGIES, *(_STRATEGY_PACKAGE + s for s in SUBJECT_NAME_STRATEGIES))
#: kafkasim's own level of schema validation: "id" (Confluent Server's and Redpanda's: the record is framed
#: with an id registered under its subject) or "payload" (the record also decodes with that schema)
SCHEMA_VALIDATION_LEVELS = ("id", "payload")

#: Schema-at-producer topic configs (Confluent Server's names; kafkasim.schema.validation.level is kafkasim's).
#: Apache Kafka has no such configs: DescribeConfigs lists them only for a topic that sets them.
SCHEMA_CONFIGS: dict[str, ConfigDef] = {c.name: c for c in [
    _d("confluent.key.schema.validation", T.BOOLEAN, False),
    _d("confluent.value.schema.validation", T.BOOLEAN, False),
    _d("confluent.key.subject.name.strategy", T.STRING, _STRATEGY_PACKAGE + "TopicNameStrategy", _STRATEGY_CHOICES),
    _d("confluent.value.subject.name.strategy", T.STRING, _STRATEGY_PACKAGE + "TopicNameStrategy", _STRATEGY_CHOICES),
    _d("kafkasim.schema.validation.level", T.STRING, "id", SCHEMA_VALIDATION_LEVELS),
]}
#: Redpanda's spellings of the same configs
CONFIG_ALIASES = {
    "redpanda.key.schema.id.validation": "confluent.key.schema.validation",
    "redpanda.value.schema.id.validation": "confluent.value.schema.validation",
    "redpanda.key.subject.name.strategy": "confluent.key.subject.name.strategy",
    "redpanda.value.subject.name.strategy": "confluent.value.subject.name.strategy",
}


def topic_config_def(name: str) -> ConfigDef | None:
    """The definition of a topic config by any accepted name (Redpanda's aliases give Confluent's)."""
    cdef = TOPIC_CONFIGS.get(name)
    if cdef is None:
        cdef = SCHEMA_CONFIGS.get(CONFIG_ALIASES.get(name, name))
    return cdef


def validate_config_value(cdef: ConfigDef, value: str | None) -> str:
    """Return the normalised value or raise ValueError with Kafka-like wording."""
    if value is None:
        raise ValueError(f"Null value not supported for topic configs: {cdef.name}")
    v = value.strip()
    t = cdef.type
    if t in (T.INT, T.LONG, T.SHORT):
        try:
            n = int(v)
        except ValueError:
            raise ValueError(f"Invalid value {value} for configuration {cdef.name}: Not a number of type "
                             f"{t.name}") from None
        limits = {T.INT: 2**31, T.LONG: 2**63, T.SHORT: 2**15}[t]
        if not -limits <= n < limits:
            raise ValueError(f"Invalid value {value} for configuration {cdef.name}: out of range for {t.name}")
        if cdef.min is not None and n < cdef.min:
            raise ValueError(f"Invalid value {value} for configuration {cdef.name}: Value must be at least "
                             f"{cdef.min}")
        return str(n)
    if t == T.DOUBLE:
        try:
            x = float(v)
        except ValueError:
            raise ValueError(f"Invalid value {value} for configuration {cdef.name}: Not a number") from None
        if cdef.min is not None and x < cdef.min:
            raise ValueError(f"Invalid value {value} for configuration {cdef.name}: Value must be at least "
                             f"{cdef.min}")
        return v
    if t == T.BOOLEAN:
        if v.lower() not in ("true", "false"):
            raise ValueError(f"Invalid value {value} for configuration {cdef.name}: Expected value to be "
                             "either true or false")
        return v.lower()
    if t == T.LIST:
        items = [i.strip() for i in v.split(",") if i.strip()]
        if cdef.choices:
            for i in items:
                if i not in cdef.choices:
                    raise ValueError(f"Invalid value {i} for configuration {cdef.name}: String must be one of: "
                                     f"{', '.join(cdef.choices)}")
        return ",".join(items)
    if cdef.choices and v not in cdef.choices:
        raise ValueError(f"Invalid value {value} for configuration {cdef.name}: String must be one of: "
                         f"{', '.join(cdef.choices)}")
    return v


def new_cluster_id() -> str:
    """A Kafka-style cluster id: a random UUID in URL-safe base64 without padding (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
SSL_CLIENT_AUTH = ("none", "requested", "required")


@dataclass(frozen=True, slots=True)
class Listener:
    """One listener of every broker (``listeners``): its name, security protocol, where the first broker binds
    (broker ``i`` binds ``port + i``, or a free port when 0) and what Metadata advertises for it."""

    name: str
    protocol: str
    host: str
    port: int
    advertised_host: str | None = None  # None: the bound host (a wildcard: this machine's name)
    advertised_port: int = 0  # 0: the bound port
    mechanisms: tuple[str, ...] = ()  # sasl.enabled.mechanisms of this listener (SASL protocols only)

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def _split_endpoint(text: str) -> tuple[str, str, int]:
    """"NAME://host:port" -> (NAME, host, port); ValueError with Kafka's wording otherwise."""
    name, sep, rest = text.strip().partition("://")
    host, colon, port = rest.rpartition(":")
    if not sep or not colon or not name:
        raise ValueError(f"Unable to parse {text} to a broker endpoint")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"Unable to parse {text} to a broker endpoint") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"Unable to parse {text} to a broker endpoint: port out of range")
    return name.upper(), host, number


def parse_listeners(cfg: BrokerConfig) -> tuple[Listener, ...]:
    """The listeners of ``cfg``, validated as Kafka validates listeners and advertised.listeners."""
    if not cfg.listeners:
        return (Listener("PLAINTEXT", "PLAINTEXT", cfg.host, cfg.port, cfg.advertised_host),)
    protocols: dict[str, str] = {p: p for p in SECURITY_PROTOCOLS}
    for entry in cfg.listener_security_protocol_map:
        name, colon, proto = entry.partition(":")
        if not colon or proto.strip().upper() not in SECURITY_PROTOCOLS:
            raise ValueError(f"Invalid listener.security.protocol.map entry {entry!r}: NAME:PROTOCOL, the protocol "
                             f"one of {', '.join(SECURITY_PROTOCOLS)}")
        protocols[name.strip().upper()] = proto.strip().upper()
    per_listener: dict[str, tuple[str, ...]] = {}
    for entry in cfg.sasl_listener_mechanisms:
        name, colon, mechs = entry.partition(":")
        if not colon:
            raise ValueError(f"Invalid listener SASL mechanisms {entry!r}: NAME:MECHANISM,...")
        per_listener[name.strip().upper()] = tuple(m.strip().upper() for m in mechs.split(",") if m.strip())
    advertised: dict[str, tuple[str, int]] = {}
    for entry in cfg.advertised_listeners:
        name, host, port = _split_endpoint(entry)
        advertised[name] = (host, port)
    out: list[Listener] = []
    for entry in cfg.listeners:
        name, host, port = _split_endpoint(entry)
        if name not in protocols:
            raise ValueError(f"No security protocol defined for listener {name}")
        if any(x.name == name for x in out):
            raise ValueError(f"Each listener must have a different name, listeners: {','.join(cfg.listeners)}")
        if port and cfg.brokers > 1 and port + cfg.brokers - 1 > 65535:
            raise ValueError(f"ports of listener {name} out of range")
        proto = protocols[name]
        mechs = per_listener.get(name, cfg.sasl_enabled_mechanisms) if proto.startswith("SASL") else ()
        for m in mechs:
            if m not in SASL_MECHANISMS:
                raise ValueError(f"Unsupported SASL mechanism {m} (kafkasim serves {', '.join(SASL_MECHANISMS)})")
        if proto.startswith("SASL") and not mechs:
            raise ValueError(f"listener {name}: no SASL mechanism is enabled")
        adv_host, adv_port = advertised.get(name, (cfg.advertised_host, 0))
        out.append(Listener(name, proto, host, port, adv_host or None, adv_port, mechs))
    unknown = set(advertised) - {x.name for x in out}
    if unknown:
        raise ValueError(f"advertised.listeners listener names must be equal to or a subset of the ones defined in "
                         f"listeners; unknown: {', '.join(sorted(unknown))}")
    return tuple(out)


def _as_tuple(value, sep: str = ",") -> tuple:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(sep) if v.strip())
    return tuple(value)


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Settings of one kafkasim cluster and its brokers. Kafka's config name for each is in the comment.

    A cluster has ``brokers`` virtual brokers with node ids ``node_id``, ``node_id + 1``, ... listening on
    ``port``, ``port + 1``, ... (every one on a free port of its own when ``port`` is 0), in racks
    ``racks`` (cycled over the brokers; ``rack`` for all when empty).
    """

    host: str = "127.0.0.1"  # listeners
    port: int = 0  # listeners of the first broker; 0 picks a free port for each
    advertised_host: str | None = None  # advertised.listeners
    node_id: int = 1  # node.id of the first broker
    brokers: int = 1  # how many virtual brokers the cluster has
    racks: tuple[str, ...] = ()  # broker.rack of each broker, cycled; empty: ``rack`` for every broker
    cluster_id: str = field(default_factory=new_cluster_id)
    auto_create_topics: bool = True  # auto.create.topics.enable
    num_partitions: int = 1  # num.partitions
    default_replication_factor: int = 1  # default.replication.factor
    message_max_bytes: int = 1048588  # message.max.bytes (default of the topic config max.message.bytes)
    socket_request_max_bytes: int = 104857600  # socket.request.max.bytes
    delete_topic_enable: bool = True  # delete.topic.enable
    rack: str | None = None  # broker.rack (of every broker, unless racks is given)
    min_insync_replicas: int = 1  # min.insync.replicas (default of the topic config)
    replica_selector_class: str = ""  # replica.selector.class ("rack-aware": KIP-392 closest-replica fetching)
    offsets_topic_num_partitions: int = 50  # offsets.topic.num.partitions (groups are hashed onto these)
    offsets_topic_replication_factor: int = 3  # offsets.topic.replication.factor
    transaction_state_log_num_partitions: int = 50  # transaction.state.log.num.partitions
    transaction_state_log_replication_factor: int = 3  # transaction.state.log.replication.factor
    broker_session_timeout_ms: int = 9000  # broker.session.timeout.ms: a crashed broker is fenced after this
    kafka_version: str | None = None  # advertise (and serve) only the API versions of this Kafka release
    group_initial_rebalance_delay_ms: int = 0  # group.initial.rebalance.delay.ms (Kafka: 3000; tests should not wait)
    group_min_session_timeout_ms: int = 6000  # group.min.session.timeout.ms
    group_max_session_timeout_ms: int = 1800000  # group.max.session.timeout.ms
    group_max_size: int = 0x7FFFFFFF  # group.max.size
    group_consumer_session_timeout_ms: int = 45000  # group.consumer.session.timeout.ms (KIP-848)
    group_consumer_heartbeat_interval_ms: int = 5000  # group.consumer.heartbeat.interval.ms (KIP-848)
    transaction_max_timeout_ms: int = 900000  # transaction.max.timeout.ms
    # transaction.abort.timed.out.transaction.cleanup.interval.ms: how often timed-out transactions are aborted
    transaction_abort_timed_out_transaction_cleanup_interval_ms: int = 10000
    clock: str = "wall"  # "wall", or "virtual": broker time moves only when a test advances it
    data_dir: str | None = None  # log.dirs; None keeps everything in memory
    fsync: str = "interval"  # always | interval | never (see FSYNC_POLICIES)
    flush_interval_ms: int = 1000  # with fsync "interval": how often appended data is fsynced
    log_retention_check_interval_ms: int = 300000  # log.retention.check.interval.ms (retention)
    log_cleaner_backoff_ms: int = 15000  # log.cleaner.backoff.ms: how often the log cleaner compacts
    schema_registry_port: int | None = None  # the schema registry's HTTP port (0: a free one); None: no registry
    schema_registry_auth: str | None = None  # "user:password": the registry requires HTTP basic auth with it
    #: schema-at-producer for every topic that does not say otherwise (internal ones excepted): "none", or a
    #: level of SCHEMA_VALIDATION_LEVELS for record values (confluent.value.schema.validation's default)
    schema_validation: str = "none"
    # ---- security (issue 16): listeners, TLS, SASL, the authorizer. Kafka's names in the comments.
    #: listeners: "NAME://host:port" (port 0: a free one; with several brokers each listener's port + i); empty:
    #: one PLAINTEXT listener on host:port
    listeners: tuple[str, ...] = ()
    advertised_listeners: tuple[str, ...] = ()  # advertised.listeners: "NAME://host:port" (port 0: the bound one)
    #: listener.security.protocol.map: "NAME:PROTOCOL" for listener names that are not a protocol's own name
    listener_security_protocol_map: tuple[str, ...] = ()
    ssl_certfile: str | None = None  # the server certificate (PEM); with ssl_keyfile
    ssl_keyfile: str | None = None  # its private key (PEM)
    ssl_cafile: str | None = None  # ssl.truststore: CAs whose client certificates are accepted (PEM)
    #: without a certificate file: a CA and a server certificate are generated at start and written here (None:
    #: a temporary directory), so clients can set ssl.ca.location to DIR/ca.pem
    ssl_generate_dir: str | None = None
    ssl_client_auth: str = "none"  # ssl.client.auth: none | requested | required
    ssl_principal_mapping_rules: str = "DEFAULT"  # ssl.principal.mapping.rules
    #: sasl.enabled.mechanisms (of every SASL listener, unless sasl_listener_mechanisms names it)
    sasl_enabled_mechanisms: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
    #: listener.name.NAME.sasl.enabled.mechanisms: "NAME:MECH1,MECH2" per listener
    sasl_listener_mechanisms: tuple[str, ...] = ()
    #: users: "NAME:PASSWORD" (PLAIN passwords and SCRAM-SHA-256/512 credentials)
    users: tuple[str, ...] = ()
    connections_max_reauth_ms: int = 0  # connections.max.reauth.ms (0: sessions do not expire)
    sasl_server_max_receive_size: int = 524288  # sasl.server.max.receive.size: frames before authentication
    connection_failed_authentication_delay_ms: int = 100  # connection.failed.authentication.delay.ms
    sasl_oauthbearer_jwks_file: str | None = None  # sasl.oauthbearer.jwks.endpoint.url (a file): signed tokens
    sasl_oauthbearer_expected_audience: tuple[str, ...] = ()  # sasl.oauthbearer.expected.audience
    sasl_oauthbearer_expected_issuer: str | None = None  # sasl.oauthbearer.expected.issuer
    sasl_oauthbearer_sub_claim_name: str = "sub"  # sasl.oauthbearer.sub.claim.name
    sasl_oauthbearer_scope_claim_name: str = "scope"  # sasl.oauthbearer.scope.claim.name
    sasl_oauthbearer_required_scope: tuple[str, ...] = ()  # unsecuredValidatorRequiredScope
    sasl_oauthbearer_clock_skew_seconds: int = 30  # sasl.oauthbearer.clock.skew.seconds
    authorizer: bool = False  # authorizer.class.name = StandardAuthorizer
    super_users: tuple[str, ...] = ()  # super.users: principals, e.g. "User:admin"
    allow_everyone_if_no_acl_found: bool = False  # allow.everyone.if.no.acl.found
    #: the parsed ``listeners`` (set by __post_init__)
    listener_specs: tuple[Listener, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        if self.clock not in ("wall", "virtual"):
            raise ValueError(f"clock must be 'wall' or 'virtual', not {self.clock!r}")
        if self.fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}, not {self.fsync!r}")
        if self.transaction_max_timeout_ms < 1 or self.transaction_abort_timed_out_transaction_cleanup_interval_ms < 1:
            raise ValueError("transaction_max_timeout_ms and the transaction cleanup interval must be positive")
        if self.flush_interval_ms < 1 or self.log_retention_check_interval_ms < 1 or self.log_cleaner_backoff_ms < 1:
            raise ValueError("flush_interval_ms, log_retention_check_interval_ms and log_cleaner_backoff_ms must be "
                             "positive")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port out of range: {self.port}")
        if not 1 <= self.brokers <= MAX_BROKERS:
            raise ValueError(f"brokers must be between 1 and {MAX_BROKERS}")
        if self.port and self.port + self.brokers - 1 > 65535:
            raise ValueError(f"ports {self.port}-{self.port + self.brokers - 1} out of range")
        if not 0 <= self.node_id <= 2**31 - self.brokers:
            raise ValueError(f"node_id out of range: {self.node_id}")
        if isinstance(self.racks, str):
            object.__setattr__(self, "racks", tuple(r.strip() for r in self.racks.split(",") if r.strip()))
        elif not isinstance(self.racks, tuple):
            object.__setattr__(self, "racks", tuple(self.racks))
        if any(not isinstance(r, str) or not r for r in self.racks):
            raise ValueError("racks must be non-empty names")
        if self.replica_selector_class not in REPLICA_SELECTORS:
            raise ValueError(f"unknown replica_selector_class {self.replica_selector_class!r}; one of "
                             f"'rack-aware', 'leader', {RACK_AWARE_SELECTOR}, {LEADER_SELECTOR}")
        object.__setattr__(self, "replica_selector_class", REPLICA_SELECTORS[self.replica_selector_class])
        if self.min_insync_replicas < 1 or self.default_replication_factor < 1:
            raise ValueError("min_insync_replicas and default_replication_factor must be at least 1")
        if min(self.offsets_topic_num_partitions, self.offsets_topic_replication_factor,
               self.transaction_state_log_num_partitions, self.transaction_state_log_replication_factor) < 1:
            raise ValueError("the offsets and transaction state partition counts and replication factors must be "
                             "at least 1")
        if self.broker_session_timeout_ms < 1:
            raise ValueError("broker_session_timeout_ms must be positive")
        if self.num_partitions < 1:
            raise ValueError("num_partitions must be at least 1")
        if self.socket_request_max_bytes < 1024:
            raise ValueError("socket_request_max_bytes must be at least 1024")
        if self.schema_registry_port is not None and not 0 <= self.schema_registry_port <= 65535:
            raise ValueError(f"schema_registry_port out of range: {self.schema_registry_port}")
        if self.schema_validation not in ("none", *SCHEMA_VALIDATION_LEVELS):
            raise ValueError(f"schema_validation must be none, id or payload, got {self.schema_validation!r}")
        if self.schema_registry_auth is not None and ":" not in self.schema_registry_auth:
            raise ValueError("schema_registry_auth must be USER:PASSWORD")
        for name in ("listeners", "advertised_listeners", "listener_security_protocol_map", "sasl_enabled_mechanisms",
                     "sasl_listener_mechanisms", "sasl_oauthbearer_expected_audience",
                     "sasl_oauthbearer_required_scope"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or (name == "sasl_listener_mechanisms" and isinstance(value, str)):
                object.__setattr__(self, name, _as_tuple(value, ";" if name == "sasl_listener_mechanisms" else ","))
        object.__setattr__(self, "sasl_enabled_mechanisms", tuple(m.upper() for m in self.sasl_enabled_mechanisms))
        object.__setattr__(self, "super_users", _as_tuple(self.super_users, ";"))
        object.__setattr__(self, "users", (self.users,) if isinstance(self.users, str) else tuple(self.users))
        for u in self.users:
            if ":" not in u or not u.partition(":")[0]:
                raise ValueError(f"users must be NAME:PASSWORD, got {u.partition(':')[0]!r}...")
        for p in self.super_users:
            if ":" not in p:
                raise ValueError(f"super.users entries are principals TYPE:NAME (User:admin), got {p!r}")
        if self.ssl_client_auth not in SSL_CLIENT_AUTH:
            raise ValueError(f"ssl_client_auth must be one of {', '.join(SSL_CLIENT_AUTH)}")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together")
        if self.connections_max_reauth_ms < 0 or self.connection_failed_authentication_delay_ms < 0:
            raise ValueError("connections_max_reauth_ms and connection_failed_authentication_delay_ms must not be "
                             "negative")
        if self.sasl_server_max_receive_size < 64:
            raise ValueError("sasl_server_max_receive_size must be at least 64")
        object.__setattr__(self, "listener_specs", parse_listeners(self))
        if self.group_initial_rebalance_delay_ms < 0:
            raise ValueError("group_initial_rebalance_delay_ms must not be negative")
        if not 0 < self.group_min_session_timeout_ms <= self.group_max_session_timeout_ms:
            raise ValueError("group session timeouts must satisfy 0 < min <= max")

    def node_ids(self) -> list[int]:
        """The node ids of the cluster's brokers, in order."""
        return list(range(self.node_id, self.node_id + self.brokers))

    def broker_rack(self, i: int) -> str | None:
        """broker.rack of the ``i``-th broker (0-based)."""
        return self.racks[i % len(self.racks)] if self.racks else self.rack

    def broker_port(self, i: int) -> int:
        """The port the ``i``-th broker listens on first (0: a free one)."""
        return self.port + i if self.port else 0

    def topic_default(self, name: str) -> str:
        """The broker-level default of a topic config."""
        if name == "max.message.bytes":
            return str(self.message_max_bytes)
        if name == "min.insync.replicas":
            return str(self.min_insync_replicas)
        if name == "confluent.value.schema.validation" and self.schema_validation != "none":
            return "true"
        if name == "kafkasim.schema.validation.level" and self.schema_validation != "none":
            return self.schema_validation
        cdef = TOPIC_CONFIGS.get(name)
        return (cdef or SCHEMA_CONFIGS[name]).default

    def broker_configs(self, node_id: int, rack: str | None) -> dict[str, tuple[str, ConfigType]]:
        """Broker configs as DescribeConfigs reports them for the BROKER resource of broker ``node_id``."""
        b = "true" if self.auto_create_topics else "false"
        return {
            "auto.create.topics.enable": (b, T.BOOLEAN),
            "broker.id": (str(node_id), T.INT),
            "node.id": (str(node_id), T.INT),
            "broker.rack": (rack or "", T.STRING),
            "default.replication.factor": (str(self.default_replication_factor), T.INT),
            "min.insync.replicas": (str(self.min_insync_replicas), T.INT),
            "replica.selector.class": (self.replica_selector_class, T.CLASS),
            "offsets.topic.num.partitions": (str(self.offsets_topic_num_partitions), T.INT),
            "offsets.topic.replication.factor": (str(self.offsets_topic_replication_factor), T.SHORT),
            "transaction.state.log.num.partitions": (str(self.transaction_state_log_num_partitions), T.INT),
            "transaction.state.log.replication.factor": (str(self.transaction_state_log_replication_factor),
                                                         T.SHORT),
            "broker.session.timeout.ms": (str(self.broker_session_timeout_ms), T.INT),
            "delete.topic.enable": ("true" if self.delete_topic_enable else "false", T.BOOLEAN),
            "message.max.bytes": (str(self.message_max_bytes), T.INT),
            "num.partitions": (str(self.num_partitions), T.INT),
            "socket.request.max.bytes": (str(self.socket_request_max_bytes), T.INT),
            "log.retention.ms": (TOPIC_CONFIGS["retention.ms"].default, T.LONG),
            "log.dirs": (self.data_dir or "", T.STRING),
            "transaction.max.timeout.ms": (str(self.transaction_max_timeout_ms), T.INT),
            "log.retention.check.interval.ms": (str(self.log_retention_check_interval_ms), T.LONG),
            "log.cleaner.backoff.ms": (str(self.log_cleaner_backoff_ms), T.LONG),
            "log.cleanup.policy": ("delete", T.LIST),
            "group.initial.rebalance.delay.ms": (str(self.group_initial_rebalance_delay_ms), T.INT),
            "group.min.session.timeout.ms": (str(self.group_min_session_timeout_ms), T.INT),
            "group.max.session.timeout.ms": (str(self.group_max_session_timeout_ms), T.INT),
            "group.max.size": (str(self.group_max_size), T.INT),
            "group.consumer.session.timeout.ms": (str(self.group_consumer_session_timeout_ms), T.INT),
            "group.consumer.heartbeat.interval.ms": (str(self.group_consumer_heartbeat_interval_ms), T.INT),
        }

"""``kafkasim serve``: run brokers and clusters until Ctrl-C or SIGTERM, from options and a config file."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys

import click
from click.core import ParameterSource

from kafkasim.cli._base import LOG_LEVELS, main
from kafkasim.cli.security_options import SECURITY_CONFIG_OPTIONS, security_options
from kafkasim.config import FSYNC_POLICIES, MAX_BROKERS, REPLICA_SELECTORS, BrokerConfig
from kafkasim.handlers import served_versions
from kafkasim.testing.cluster import Cluster, new_event_loop


def _racks(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    racks = tuple(r.strip() for r in value.split(",") if r.strip())
    if not racks:
        raise click.BadParameter("give rack names separated by commas, e.g. a,b,c")
    return racks


def _clusters(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[tuple[str, int]]:
    out = []
    for item in value:
        name, sep, count = item.partition(":")
        if not name or not _NAME.fullmatch(name) or (sep and not count.isdigit()):
            raise click.BadParameter(f"expected NAME or NAME:BROKERS (letters, digits, '.', '_', '-'), got {item!r}")
        out.append((name, int(count) if sep else 0))
    if len({n for n, _ in out}) != len(out):
        raise click.BadParameter("cluster names must differ")
    return out


_NAME = re.compile(r"[A-Za-z0-9._-]+")
#: serve options that are BrokerConfig fields of the same name (the rest are the command's own)
_CONFIG_OPTIONS = ("host", "port", "advertised_host", "auto_create_topics", "num_partitions", "message_max_bytes",
                   "socket_request_max_bytes", "node_id", "cluster_id", "brokers", "racks",
                   "default_replication_factor", "min_insync_replicas", "replica_selector_class", "kafka_version",
                   "broker_session_timeout_ms", "clock", "group_initial_rebalance_delay_ms",
                   "group_min_session_timeout_ms", "group_max_session_timeout_ms",
                   "group_consumer_session_timeout_ms", "group_consumer_heartbeat_interval_ms", "data_dir", "fsync",
                   "flush_interval_ms", "log_retention_check_interval_ms", "log_cleaner_backoff_ms", "transaction_max_timeout_ms",
                   "schema_registry_port", "schema_registry_auth", "schema_validation",
                   "transaction_abort_timed_out_transaction_cleanup_interval_ms", *SECURITY_CONFIG_OPTIONS)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9092, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the first broker (the next brokers take the next ports); 0 picks free ones.")
@click.option("--advertised-host", default=None, help="Host clients are told to connect to (default: --host).")
@click.option("--log-level", default="info", show_default=True, type=LOG_LEVELS)
@click.option("--brokers", default=1, show_default=True, type=click.IntRange(1, MAX_BROKERS),
              help="Number of brokers of the cluster, each with its own port and node id.")
@click.option("--racks", default=None, callback=_racks, help="broker.rack of the brokers, cycled: e.g. a,b,c.")
@click.option("--cluster", "clusters", multiple=True, callback=_clusters, metavar="NAME[:BROKERS]",
              help="Run several clusters in this process, each with its own cluster id and ports; repeatable.")
@click.option("--config", "config_file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="TOML file of clusters and their settings (see README); command-line options override it.")
@click.option("--auto-create-topics/--no-auto-create-topics", default=True, show_default=True,
              help="auto.create.topics.enable")
@click.option("--num-partitions", default=1, show_default=True, type=click.IntRange(1),
              help="num.partitions: partitions of auto-created topics and of topics created with -1.")
@click.option("--default-replication-factor", default=1, show_default=True, type=click.IntRange(1),
              help="default.replication.factor: replicas of auto-created topics and of topics created with -1.")
@click.option("--min-insync-replicas", default=1, show_default=True, type=click.IntRange(1),
              help="min.insync.replicas: in-sync replicas acks=all needs (topic default).")
@click.option("--replica-selector-class", default="", show_default=False,
              type=click.Choice(sorted(REPLICA_SELECTORS)),
              help="replica.selector.class: 'rack-aware' lets consumers fetch from a replica in their rack "
                   "(KIP-392).")
@click.option("--kafka-version", default=None,
              help="Advertise and serve only the API versions of this Kafka release (e.g. 2.8, 3.9).")
@click.option("--broker-session-timeout-ms", default=9000, show_default=True, type=click.IntRange(1),
              help="broker.session.timeout.ms: how long a crashed broker stays in the metadata.")
@click.option("--clock", default="wall", show_default=True, type=click.Choice(["wall", "virtual"]),
              help="Broker time: the wall clock, or a virtual clock advanced through the control API.")
@click.option("--message-max-bytes", default=1048588, show_default=True, type=click.IntRange(0),
              help="message.max.bytes: default max.message.bytes of topics.")
@click.option("--socket-request-max-bytes", default=104857600, show_default=True, type=click.IntRange(1024),
              help="socket.request.max.bytes: largest request frame accepted.")
@click.option("--node-id", default=1, show_default=True, type=click.IntRange(0),
              help="node.id of the first broker (the next brokers count up from it).")
@click.option("--cluster-id", default=None, help="Cluster id (default: random).")
@click.option("--group-initial-rebalance-delay-ms", default=0, show_default=True, type=click.IntRange(0),
              help="group.initial.rebalance.delay.ms (Kafka's default is 3000).")
@click.option("--group-min-session-timeout-ms", default=6000, show_default=True, type=click.IntRange(1),
              help="group.min.session.timeout.ms")
@click.option("--group-max-session-timeout-ms", default=1800000, show_default=True, type=click.IntRange(1),
              help="group.max.session.timeout.ms")
@click.option("--group-consumer-session-timeout-ms", default=45000, show_default=True, type=click.IntRange(1),
              help="group.consumer.session.timeout.ms (KIP-848 groups)")
@click.option("--group-consumer-heartbeat-interval-ms", default=5000, show_default=True, type=click.IntRange(1),
              help="group.consumer.heartbeat.interval.ms (KIP-848 groups)")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="log.dirs: keep topics, records, offsets and groups in this directory (default: in memory); "
                   "with several clusters, each in a subdirectory named after it.")
@click.option("--fsync", default="interval", show_default=True, type=click.Choice(FSYNC_POLICIES),
              help="With --data-dir: fsync before acknowledging (always), periodically (interval) or never.")
@click.option("--flush-interval-ms", default=1000, show_default=True, type=click.IntRange(1),
              help="With --fsync interval: how often appended records are fsynced.")
@click.option("--log-retention-check-interval-ms", default=300000, show_default=True, type=click.IntRange(1),
              help="log.retention.check.interval.ms: how often retention runs.")
@click.option("--log-cleaner-backoff-ms", default=15000, show_default=True, type=click.IntRange(1),
              help="log.cleaner.backoff.ms: how often the log cleaner compacts.")
@click.option("--transaction-max-timeout-ms", default=900000, show_default=True, type=click.IntRange(1),
              help="transaction.max.timeout.ms: the longest transaction.timeout.ms a producer may ask for.")
@click.option("--transaction-abort-timed-out-transaction-cleanup-interval-ms", default=10000, show_default=True,
              type=click.IntRange(1), help="How often transactions open longer than their timeout are aborted.")
@click.option("--control-port", default=None, type=click.IntRange(0, 65535),
              help="Serve the HTTP control API (faults, clock, records, waits, brokers, /metrics) on this port; "
                   "0 picks a free one. Off by default.")
@click.option("--schema-registry-port", default=None, type=click.IntRange(0, 65535),
              help="Serve a Confluent-compatible schema registry on this port (0: a free one); with several "
                   "clusters, each gets the next port. Off without a port.")
@click.option("--schema-registry-auth", default=None, envvar="KAFKASIM_SCHEMA_REGISTRY_AUTH", metavar="USER:PASSWORD",
              help="Require HTTP basic auth with these credentials on every schema registry request.")
@click.option("--schema-validation", default="none", show_default=True, type=click.Choice(["none", "id", "payload"]),
              help="Schema-at-producer for every topic that does not say otherwise: values must carry a "
                   "registered schema id (id), and decode with it (payload).")
@click.option("--control-host", default="127.0.0.1", show_default=True, help="Address of the control API.")
@click.option("--control-token", default=None, envvar="KAFKASIM_CONTROL_TOKEN",
              help="Require 'Authorization: Bearer TOKEN' on every control API request.")
@security_options
@click.pass_context
def serve(ctx: click.Context, log_level: str, clusters: list[tuple[str, int]], config_file: str | None,
          control_port: int | None, control_host: str, control_token: str | None, **options: object) -> None:
    """Run a broker, a cluster of brokers, or several clusters (in memory by default) until Ctrl-C or SIGTERM."""
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    given = {k: v for k, v in options.items()
             if ctx.get_parameter_source(k) not in (ParameterSource.DEFAULT, None) and v is not None}
    defaults = {k: v for k, v in options.items() if v is not None}
    try:
        configs = _cluster_configs(defaults, given, clusters, config_file)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    storage_errors: tuple[type[Exception], ...] = ()
    if any(c.data_dir for _, c in configs):  # imported only when used: start-up time
        from kafkasim.storage.segments import CorruptLogError, DataDirInUse

        storage_errors = (CorruptLogError, DataDirInUse)
    control = None if control_port is None else (control_host, control_port, control_token)
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve(configs, control))
    except storage_errors as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc.strerror or exc}") from None
    finally:
        loop.close()


def _cluster_configs(defaults: dict, given: dict, clusters: list[tuple[str, int]], config_file: str | None
                     ) -> list[tuple[str | None, BrokerConfig]]:
    """(name, config) of every cluster to run: from --config's [clusters.NAME] tables (over its [defaults]),
    or --cluster NAME[:BROKERS] options, or one unnamed cluster; options given on the command line win. Ports
    and data directories are handed out in order: the clusters after the first continue where the previous
    one's ports end; with several clusters each keeps its data in DATA_DIR/NAME."""
    specs: list[tuple[str | None, dict]] = []
    if config_file is not None:
        import tomllib

        with open(config_file, "rb") as f:
            try:
                doc = tomllib.load(f)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{config_file}: {exc}") from None
        unknown = set(doc) - {"defaults", "clusters", "users"}
        if unknown:
            raise ValueError(f"{config_file}: unknown tables {sorted(unknown)} (expected [defaults], [users] and "
                             "[clusters.NAME])")
        base = _settings(doc.get("defaults", {}), f"{config_file} [defaults]")
        users = doc.get("users", {})
        if not isinstance(users, dict) or not all(isinstance(v, str) for v in users.values()):
            raise ValueError(f"{config_file}: [users] maps user names to passwords (name = \"password\")")
        if users:
            base["users"] = (*base.get("users", ()), *(f"{name}:{pw}" for name, pw in users.items()))
        for name, table in (doc.get("clusters") or {"": {}}).items():
            if name and not _NAME.fullmatch(name):
                raise ValueError(f"{config_file}: cluster name {name!r} may use letters, digits, '.', '_' and '-'")
            specs.append((name or None, {**base, **_settings(table, f"{config_file} [clusters.{name}]")}))
    elif clusters:
        specs = [(name, {"brokers": n} if n else {}) for name, n in clusters]
    else:
        specs = [(None, {})]
    if clusters and config_file is not None:
        raise ValueError("give clusters either with --config or with --cluster, not both")
    several = len(specs) > 1
    out = []
    next_port = next_registry_port = None
    for name, settings in specs:
        merged = {**defaults, **settings, **{k: v for k, v in given.items() if not (k == "brokers" and clusters)}}
        if several and "port" not in settings and next_port is not None and merged.get("port"):
            merged["port"] = next_port
        if several and "schema_registry_port" not in settings and next_registry_port is not None \
                and merged.get("schema_registry_port"):
            merged["schema_registry_port"] = next_registry_port
        if several and merged.get("data_dir") and "data_dir" not in settings:
            merged["data_dir"] = os.path.join(str(merged["data_dir"]), str(name))
        if several and "cluster_id" in given:
            raise ValueError("--cluster-id names one cluster: set cluster_id per cluster in --config instead")
        if not merged.get("cluster_id"):
            merged.pop("cluster_id", None)
        config = BrokerConfig(**merged)
        if config.kafka_version is not None:
            served_versions(config.kafka_version)  # an unknown release is a usage error now, not at start
        if config.port:
            next_port = config.port + config.brokers
        if config.schema_registry_port:
            next_registry_port = config.schema_registry_port + 1
        out.append((name, config))
    ports = [p for _, c in out if c.port for p in range(c.port, c.port + c.brokers)]
    if len(ports) != len(set(ports)):
        raise ValueError("clusters would share ports: give each its own port in --config")
    return out


def _settings(table: dict, where: str) -> dict:
    """BrokerConfig fields from a TOML table (serve's option names with '_' or '-')."""
    out = {}
    for key, value in table.items():
        field_name = key.replace("-", "_")
        if field_name not in _CONFIG_OPTIONS:
            raise ValueError(f"{where}: unknown setting {key!r}")
        out[field_name] = tuple(value) if isinstance(value, list) else value
    return out


async def _serve(configs: list[tuple[str | None, BrokerConfig]], control: tuple[str, int, str | None] | None) -> None:
    clusters: list[Cluster] = []
    control_server = None
    try:
        for name, config in configs:
            c = Cluster(config, name=name)
            await c.start()
            clusters.append(c)
        if control is not None:
            from kafkasim.control import ControlServer
            from kafkasim.control.metrics import Metrics

            host, port, token = control
            control_server = ControlServer(clusters, host=host, port=port, token=token, metrics=Metrics(clusters))
            await control_server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        parts = [f"{c.name}={c.bootstrap_servers}" if c.name else f"bootstrap={c.bootstrap_servers}" for c in clusters]
        for c in clusters:  # every listener's bootstrap, when there are several or one is secured
            specs = c.config.listener_specs
            if len(specs) > 1 or specs[0].protocol != "PLAINTEXT":
                parts += [f"{c.name + '.' if c.name else ''}{x.name}={c.listener_bootstrap(x.name)}" for x in specs]
            if c.ssl_ca_file is not None:
                parts.append(f"{c.name + '.' if c.name else ''}ssl_ca={c.ssl_ca_file}")
        parts += [f"{c.name + '.' if c.name else ''}schema_registry={c.schema_registry_url}" for c in clusters
                  if c.config.schema_registry_port is not None]
        if control_server is not None:
            parts.append(f"control={control_server.url}")
        click.echo("kafkasim ready " + " ".join(parts))
        sys.stdout.flush()
        await stop.wait()
    finally:
        logging.getLogger("kafkasim").info("stopping")
        if control_server is not None:
            await control_server.stop()
        for c in reversed(clusters):
            await c.stop()

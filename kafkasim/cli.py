"""The ``kafkasim`` command: parsing and printing only."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys

import click
from click.core import ParameterSource

from kafkasim.config import FSYNC_POLICIES, MAX_BROKERS, REPLICA_SELECTORS, BrokerConfig
from kafkasim.errors import ErrorCode
from kafkasim.handlers import served_versions
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import create_topics as ct
from kafkasim.protocol.messages import delete_topics as dt
from kafkasim.protocol.messages import describe_configs as dc
from kafkasim.protocol.messages import metadata as md
from kafkasim.testing.cluster import Cluster, new_event_loop
from kafkasim.testing.wire import WireClient, WireCluster

LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"], case_sensitive=False)


@click.group()
@click.version_option(package_name="kafkasim")
def main() -> None:
    """kafkasim: a Kafka-protocol broker for tests and local development."""


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
                   "flush_interval_ms", "log_retention_check_interval_ms", "transaction_max_timeout_ms",
                   "transaction_abort_timed_out_transaction_cleanup_interval_ms")


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
              help="log.retention.check.interval.ms: how often retention and compaction run.")
@click.option("--transaction-max-timeout-ms", default=900000, show_default=True, type=click.IntRange(1),
              help="transaction.max.timeout.ms: the longest transaction.timeout.ms a producer may ask for.")
@click.option("--transaction-abort-timed-out-transaction-cleanup-interval-ms", default=10000, show_default=True,
              type=click.IntRange(1), help="How often transactions open longer than their timeout are aborted.")
@click.option("--control-port", default=None, type=click.IntRange(0, 65535),
              help="Serve the HTTP control API (faults, clock, records, waits, brokers, /metrics) on this port; "
                   "0 picks a free one. Off by default.")
@click.option("--control-host", default="127.0.0.1", show_default=True, help="Address of the control API.")
@click.option("--control-token", default=None, envvar="KAFKASIM_CONTROL_TOKEN",
              help="Require 'Authorization: Bearer TOKEN' on every control API request.")
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
        unknown = set(doc) - {"defaults", "clusters"}
        if unknown:
            raise ValueError(f"{config_file}: unknown tables {sorted(unknown)} (expected [defaults] and [clusters.NAME])")
        base = _settings(doc.get("defaults", {}), f"{config_file} [defaults]")
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
    next_port = None
    for name, settings in specs:
        merged = {**defaults, **settings, **{k: v for k, v in given.items() if not (k == "brokers" and clusters)}}
        if several and "port" not in settings and next_port is not None and merged.get("port"):
            merged["port"] = next_port
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


@main.group()
def topics() -> None:
    """Administer topics of a running broker."""


BOOTSTRAP = click.option("--bootstrap-server", "-b", default="127.0.0.1:9092", show_default=True,
                         envvar="KAFKASIM_BOOTSTRAP", help="HOST:PORT of the broker.")


def _client(bootstrap: str) -> WireClient:
    try:
        return WireClient(bootstrap)
    except OSError as exc:
        raise click.ClickException(f"cannot connect to {bootstrap}: {exc}") from None


def _cluster(bootstrap: str) -> WireCluster:
    """Connections to every broker (for requests only a partition's leader or a key's coordinator answers)."""
    try:
        return WireCluster(bootstrap)
    except OSError as exc:
        raise click.ClickException(f"cannot connect to {bootstrap}: {exc}") from None


def _end_offsets(cluster: WireCluster, leaders: dict[tuple[str, int], int], timestamp: int) -> dict[tuple[str, int], int]:
    """ListOffsets of each partition at its leader (``leaders``: partition -> node id); -1 where it failed."""
    from kafkasim.protocol.messages import list_offsets as lo

    by_node: dict[int, dict[str, list[int]]] = {}
    for (t, p), node in leaders.items():
        by_node.setdefault(node, {}).setdefault(t, []).append(p)
    out = {tp: -1 for tp in leaders}
    for node, topics in by_node.items():
        if node not in cluster.brokers:
            continue  # no leader (or its broker is gone): unknown
        resp = cluster.node(node).request(ApiKey.LIST_OFFSETS, lo.ListOffsetsRequest(replica_id=-1, topics=[
            lo.ListOffsetsRequestListOffsetsTopic(name=t, partitions=[
                lo.ListOffsetsRequestListOffsetsPartition(partition_index=p, timestamp=timestamp) for p in ps])
            for t, ps in topics.items()]))
        for rt in resp.topics:
            for rp in rt.partitions:
                out[(rt.name, rp.partition_index)] = rp.offset if not rp.error_code else -1
    return out


def _leaders(cluster: WireCluster, topics: list[str]) -> dict[tuple[str, int], int]:
    """Partition -> leader node id, from Metadata."""
    meta = cluster.any.request(ApiKey.METADATA, md.MetadataRequest(
        topics=[md.MetadataRequestMetadataRequestTopic(name=t) for t in topics], allow_auto_topic_creation=False))
    return {(t.name, p.partition_index): p.leader_id for t in meta.topics if not t.error_code for p in t.partitions}


def _check(code: int, message: str | None, what: str) -> None:
    if code:
        raise click.ClickException(f"{what}: {ErrorCode(code).name}" + (f": {message}" if message else ""))


@topics.command("list")
@BOOTSTRAP
def topics_list(bootstrap_server: str) -> None:
    """List topic names."""
    with _client(bootstrap_server) as c:
        resp = c.request(ApiKey.METADATA, md.MetadataRequest(topics=None, allow_auto_topic_creation=False))
    for t in sorted(resp.topics, key=lambda t: t.name or ""):
        click.echo(t.name)


@topics.command("create")
@BOOTSTRAP
@click.argument("name")
@click.option("--partitions", "-p", default=-1, type=int, help="Partition count (default: num.partitions).")
@click.option("--replication-factor", "-r", default=-1, type=int)
@click.option("--config", "-c", "configs", multiple=True, metavar="KEY=VALUE", help="Topic config; repeatable.")
def topics_create(bootstrap_server: str, name: str, partitions: int, replication_factor: int,
                  configs: tuple[str, ...]) -> None:
    """Create a topic."""
    entries = []
    for item in configs:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--config")
        entries.append(ct.CreateTopicsRequestCreatableTopicConfig(name=key, value=value))
    req = ct.CreateTopicsRequest(topics=[ct.CreateTopicsRequestCreatableTopic(
        name=name, num_partitions=partitions, replication_factor=replication_factor, configs=entries)],
        timeout_ms=30000)
    with _client(bootstrap_server) as c:
        resp = c.request(ApiKey.CREATE_TOPICS, req)
    r = resp.topics[0]
    _check(r.error_code, r.error_message, f"cannot create {name}")
    click.echo(f"created {name}")


@topics.command("delete")
@BOOTSTRAP
@click.argument("names", nargs=-1, required=True)
def topics_delete(bootstrap_server: str, names: tuple[str, ...]) -> None:
    """Delete topics."""
    with _client(bootstrap_server) as c:
        v = c.version_for(ApiKey.DELETE_TOPICS)
        if v >= 6:
            req = dt.DeleteTopicsRequest(topics=[dt.DeleteTopicsRequestDeleteTopicState(name=n) for n in names],
                                         timeout_ms=30000)
        else:
            req = dt.DeleteTopicsRequest(topic_names=list(names), timeout_ms=30000)
        resp = c.request(ApiKey.DELETE_TOPICS, req, v)
    failed = False
    for r in resp.responses:
        if r.error_code:
            failed = True
            click.echo(f"cannot delete {r.name}: {ErrorCode(r.error_code).name}", err=True)
        else:
            click.echo(f"deleted {r.name}")
    if failed:
        sys.exit(1)


@topics.command("describe")
@BOOTSTRAP
@click.argument("name")
def topics_describe(bootstrap_server: str, name: str) -> None:
    """Show a topic's partitions, leaders, in-sync replicas, offsets and configs."""
    with _cluster(bootstrap_server) as c:
        meta = c.any.request(ApiKey.METADATA, md.MetadataRequest(
            topics=[md.MetadataRequestMetadataRequestTopic(name=name)], allow_auto_topic_creation=False))
        t = meta.topics[0]
        _check(t.error_code, None, f"cannot describe {name}")
        leaders = {(name, p.partition_index): p.leader_id for p in t.partitions}
        starts, ends = _end_offsets(c, leaders, -2), _end_offsets(c, leaders, -1)
        conf = c.any.request(ApiKey.DESCRIBE_CONFIGS, dc.DescribeConfigsRequest(resources=[
            dc.DescribeConfigsRequestDescribeConfigsResource(resource_type=2, resource_name=name,
                                                             configuration_keys=None)]))
    click.echo(f"topic {name}  id={t.topic_id.hex()}  partitions={len(t.partitions)}")
    for p in sorted(t.partitions, key=lambda p: p.partition_index):
        tp = (name, p.partition_index)
        click.echo(f"  partition {p.partition_index}  leader={p.leader_id}  epoch={p.leader_epoch}  "
                   f"replicas={','.join(map(str, p.replica_nodes))}  isr={','.join(map(str, p.isr_nodes))}  "
                   f"start={starts[tp]}  end={ends[tp]}")
    res = conf.results[0]
    _check(res.error_code, res.error_message, f"cannot describe configs of {name}")
    click.echo("  configs:")
    for e in sorted(res.configs, key=lambda e: e.name):
        marker = "" if e.config_source == 5 else "  (set)"
        click.echo(f"    {e.name}={e.value}{marker}")


@main.group()
def groups() -> None:
    """Inspect consumer groups of a running broker."""


@groups.command("list")
@BOOTSTRAP
def groups_list(bootstrap_server: str) -> None:
    """List groups with their state."""
    from kafkasim.protocol.messages import list_groups as lg

    listed = []
    with _cluster(bootstrap_server) as c:
        for conn in c.each():  # each broker lists the groups it coordinates
            resp = conn.request(ApiKey.LIST_GROUPS, lg.ListGroupsRequest())
            _check(resp.error_code, None, "cannot list groups")
            listed += resp.groups
    for g in sorted(listed, key=lambda g: g.group_id):
        click.echo(f"{g.group_id}  {g.group_state or '?'}  {g.protocol_type or '-'}")


@groups.command("describe")
@BOOTSTRAP
@click.argument("group")
def groups_describe(bootstrap_server: str, group: str) -> None:
    """Show a group's state, members, assignments, committed offsets, log-end offsets and lag."""
    from kafkasim.protocol.messages import consumer_group_describe as cgd
    from kafkasim.protocol.messages import describe_groups as dg
    from kafkasim.protocol.messages import offset_fetch as of
    from kafkasim.state.groups import CONSUMER_PROTOCOL, consumer_assignment, lag

    with _cluster(bootstrap_server) as cluster:
        try:
            c = cluster.coordinator(group)
        except ConnectionError as exc:
            raise click.ClickException(str(exc)) from None
        cg = c.request(ApiKey.CONSUMER_GROUP_DESCRIBE, cgd.ConsumerGroupDescribeRequest(group_ids=[group])).groups[0]
        d = c.request(ApiKey.DESCRIBE_GROUPS, dg.DescribeGroupsRequest(groups=[group])).groups[0]
        v = c.version_for(ApiKey.OFFSET_FETCH)
        if v >= 8:
            req = of.OffsetFetchRequest(groups=[of.OffsetFetchRequestOffsetFetchRequestGroup(group_id=group,
                                                                                              topics=None)])
            committed = [(t.name, p.partition_index, p.committed_offset) for t in
                         c.request(ApiKey.OFFSET_FETCH, req, v).groups[0].topics for p in t.partitions]
        else:
            resp = c.request(ApiKey.OFFSET_FETCH, of.OffsetFetchRequest(group_id=group, topics=None), v)
            committed = [(t.name, p.partition_index, p.committed_offset) for t in resp.topics for p in t.partitions]
        owners: dict[tuple[str, int], str] = {}
        if not cg.error_code:
            for m in cg.members:
                for tp in m.assignment.topic_partitions:
                    for p in tp.partitions:
                        owners[(tp.topic_name, p)] = m.member_id
        elif d.protocol_type == CONSUMER_PROTOCOL:
            for m in d.members:
                for tp in consumer_assignment(bytes(m.member_assignment)):
                    owners[tp] = m.member_id
        parts = sorted({(t, p) for t, p, _ in committed} | set(owners))
        leaders = _leaders(cluster, sorted({t for t, _ in parts})) if parts else {}
        ends = _end_offsets(cluster, {tp: leaders.get(tp, -1) for tp in parts}, -1)
    if not cg.error_code:
        click.echo(f"group {group}  state={cg.group_state}  protocol=consumer (KIP-848)/{cg.assignor_name}  "
                   f"epoch={cg.group_epoch}  members={len(cg.members)}")
        members = [(m.member_id, m.client_id, m.client_host, m.instance_id) for m in cg.members]
    else:
        _check(d.error_code, d.error_message, f"cannot describe group {group}")
        click.echo(f"group {group}  state={d.group_state}  protocol={d.protocol_type or '-'}/"
                   f"{d.protocol_data or '-'}  members={len(d.members)}")
        members = [(m.member_id, m.client_id, m.client_host, m.group_instance_id) for m in d.members]
    for member_id, client_id, client_host, instance in members:
        static = f"  instance={instance}" if instance else ""
        click.echo(f"  member {member_id}  client={client_id}  host={client_host}{static}")
    offsets = {(t, p): o for t, p, o in committed}
    if parts:
        click.echo(f"  {'TOPIC':<24} {'PARTITION':>9} {'COMMITTED':>10} {'LOG-END':>10} {'LAG':>8}  OWNER")
    for t, p in parts:
        o = offsets.get((t, p), -1)
        end = ends.get((t, p), -1)
        shown = lambda n: "-" if n < 0 else str(n)  # noqa: E731
        click.echo(f"  {t:<24} {p:>9} {shown(o):>10} {shown(end):>10} {shown(lag(o, end)):>8}  "
                   f"{owners.get((t, p), '-')}")



@main.group()
def transactions() -> None:
    """Inspect the transactions of a running broker."""


@transactions.command("list")
@BOOTSTRAP
@click.option("--state", "states", multiple=True, help="Only these states (Ongoing, CompleteCommit, ...); repeatable.")
def transactions_list(bootstrap_server: str, states: tuple[str, ...]) -> None:
    """List transactional ids with their producer id and state (ListTransactions)."""
    from kafkasim.protocol.messages import list_transactions as lt

    listed = []
    with _cluster(bootstrap_server) as c:
        for conn in c.each():  # each broker lists the transactional ids it coordinates
            resp = conn.request(ApiKey.LIST_TRANSACTIONS, lt.ListTransactionsRequest(state_filters=list(states),
                                                                                      producer_id_filters=[]))
            _check(resp.error_code, None, "cannot list transactions")
            listed += resp.transaction_states
    click.echo(f"{'TRANSACTIONAL ID':40} {'PRODUCER ID':>12}  STATE")
    for t in sorted(listed, key=lambda t: t.transactional_id):
        click.echo(f"{t.transactional_id:40} {t.producer_id:>12}  {t.transaction_state}")


@transactions.command("describe")
@BOOTSTRAP
@click.argument("transactional_id")
def transactions_describe(bootstrap_server: str, transactional_id: str) -> None:
    """Show a transaction: state, producer id and epoch, timeout, start time, partitions, and their producers."""
    from kafkasim.protocol.messages import describe_producers as dp
    from kafkasim.protocol.messages import describe_transactions as dtx

    with _cluster(bootstrap_server) as cluster:
        try:
            c = cluster.coordinator(transactional_id, 1)
        except ConnectionError as exc:
            raise click.ClickException(str(exc)) from None
        resp = c.request(ApiKey.DESCRIBE_TRANSACTIONS,
                         dtx.DescribeTransactionsRequest(transactional_ids=[transactional_id]))
        t = resp.transaction_states[0]
        _check(t.error_code, None, f"cannot describe {transactional_id}")
        click.echo(f"transactional id {t.transactional_id}: {t.transaction_state}, producer {t.producer_id} epoch "
                   f"{t.producer_epoch}, timeout {t.transaction_timeout_ms} ms, started {_ms(t.transaction_start_time_ms)}")
        if not t.topics:
            return
        leaders = _leaders(cluster, [td.topic for td in t.topics])
        by_node: dict[int, list] = {}
        for td in t.topics:  # DescribeProducers is answered by each partition's leader
            for p in td.partitions:
                by_node.setdefault(leaders.get((td.topic, p), -1), []).append((td.topic, p))
        answers = []
        for node, tps in sorted(by_node.items()):
            if node not in cluster.brokers:
                continue
            answers += cluster.node(node).request(ApiKey.DESCRIBE_PRODUCERS, dp.DescribeProducersRequest(topics=[
                dp.DescribeProducersRequestTopicRequest(name=topic, partition_indexes=[p for tt, p in tps if tt == topic])
                for topic in dict.fromkeys(tt for tt, _ in tps)])).topics
    for tr in answers:
        for pr in tr.partitions:
            mine = [s for s in pr.active_producers if s.producer_id == t.producer_id]
            start = mine[0].current_txn_start_offset if mine else -1
            click.echo(f"  {tr.name}-{pr.partition_index}: open transaction from offset "
                       f"{start if start >= 0 else '-'}")


def _show(data: bytes | None) -> str:
    """A key, value or header value for reading: text when it is UTF-8, else hex."""
    if data is None:
        return "null"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + data.hex()
    return repr(text) if text.isprintable() else "0x" + data.hex()


def _ms(ts: int) -> str:
    import datetime

    if ts < 0:
        return "-"
    try:
        return datetime.datetime.fromtimestamp(ts / 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    except (OverflowError, OSError, ValueError):
        return str(ts)


@main.command()
@click.option("--data-dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="The broker's data directory (read only; the broker may be running).")
@click.argument("topic", required=False)
@click.argument("partition", required=False, type=click.IntRange(0))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0), help="First offset to decode.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(0),
              help="Most records to decode (0: none, segments only).")
@click.option("--no-crc", is_flag=True, help="Skip the CRC32C check of each batch (faster on large logs).")
def inspect(data_dir: str, topic: str | None, partition: int | None, offset: int, limit: int, no_crc: bool) -> None:
    """Show a data directory without a broker: partitions; a topic's segments; a partition's records.

    Damaged files are reported with the position and reason where reading stopped, never repaired.
    """
    from kafkasim.storage import inspection as ins

    parts = ins.partitions(data_dir)
    click.echo(f"data dir {data_dir}: {'clean' if ins.clean_shutdown(data_dir) else 'unclean (or running)'} shutdown")
    if topic is None:
        click.echo(f"{'PARTITION':40} {'SEGMENTS':>8} {'START':>10} {'END':>10} {'BYTES':>12}  PROBLEMS")
        for pd in parts:
            segs = ins.segments(pd.path, not no_crc)
            batches = [b for s in segs for b in s.batches]
            start = max(ins.log_start_offset(pd.path) or 0, batches[0].base_offset if batches else 0)
            end = batches[-1].last_offset + 1 if batches else (segs[-1].base_offset if segs else 0)
            problems = sum(1 for s in segs if s.problem)
            click.echo(f"{pd.topic + '-' + str(pd.partition):40} {len(segs):>8} {start:>10} {end:>10} "
                       f"{sum(s.size for s in segs):>12}  {problems or ''}")
        return
    chosen = [pd for pd in parts if pd.topic == topic and (partition is None or pd.partition == partition)]
    if not chosen:
        raise click.ClickException(f"no partition directory for {topic}" +
                                   ("" if partition is None else f"-{partition}") + f" in {data_dir}")
    failed = False
    for pd in chosen:
        segs = ins.segments(pd.path, not no_crc)
        start = ins.log_start_offset(pd.path)
        click.echo(f"{pd.topic}-{pd.partition}" + (f" (log start offset {start})" if start is not None else ""))
        for s in segs:
            last = s.batches[-1].last_offset if s.batches else None
            click.echo(f"  segment {s.path.name}: {s.size} bytes, {len(s.batches)} batches, offsets "
                       f"{s.base_offset}-{'' if last is None else last}, index {s.index_entries} entries, "
                       f"time index {s.time_index_entries} entries, max timestamp "
                       f"{_ms(max((b.max_timestamp for b in s.batches), default=-1))}")
            if s.problem:
                failed = True
                click.echo(f"    DAMAGED at byte {s.good_bytes}: {s.problem} ({s.size - s.good_bytes} bytes after it "
                           "are not readable)")
        if partition is None or limit == 0:
            continue
        shown = 0
        for s in segs:
            if shown >= limit:
                break
            for b, rec in ins.records(s, offset):
                flags = ",".join(f for f, on in (("txn", b.transactional), ("control", b.control)) if on)
                producer = f" producer={b.producer_id}/{b.producer_epoch} seq={b.base_sequence + rec.offset - b.base_offset}" \
                    if b.producer_id >= 0 else ""
                headers = " ".join(f"{k}={_show(v)}" for k, v in rec.headers)
                click.echo(f"  offset={rec.offset} timestamp={_ms(rec.timestamp)}{producer}"
                           f"{' [' + flags + ']' if flags else ''} key={_show(rec.key)} value={_show(rec.value)}"
                           + (f" headers: {headers}" if headers else ""))
                shown += 1
                if shown >= limit:
                    break
    if failed:
        sys.exit(1)


# ---------------------------------------------------------------------------------------------------------
# Test controls over the HTTP control API (kafkasim serve --control-port N): faults, clock, records, waits,
# brokers and leaders. The requests go through kafkasim.control.client (urllib; no aiohttp).


def _control_options(f):
    from kafkasim.control import DEFAULT_URL

    f = click.option("--cluster", default=None,
                     help="Cluster name (serve --cluster NAME); default: the only cluster.")(f)
    f = click.option("--token", default=None, envvar="KAFKASIM_CONTROL_TOKEN",
                     help="The control API's token (serve --control-token).")(f)
    f = click.option("--control", "control_url", default=DEFAULT_URL, show_default=True, envvar="KAFKASIM_CONTROL",
                     help="URL of the control API (serve --control-port).")(f)
    return f


class _Control:
    """The control API of one cluster, for a command: requests with the cluster's path, errors as
    ClickExceptions (the API's message; a refused connection names the URL)."""

    def __init__(self, url: str, token: str | None, cluster: str | None) -> None:
        from kafkasim.control.client import ControlClient

        self.client = ControlClient(url, token)
        self._cluster = cluster
        self._path: str | None = None

    @property
    def path(self) -> str:
        if self._path is None:
            self._path = self.client.cluster_path(self._cluster)
        return self._path

    def __enter__(self) -> _Control:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        from kafkasim.control.client import ControlError

        if isinstance(exc, ControlError):
            raise click.ClickException(exc.message) from None


def _api_name(api: str | None) -> str | int | None:
    """--api: a key number, or a name in any case (produce, Produce, LIST_OFFSETS, list-offsets)."""
    if api is None:
        return None
    if api.isdigit():
        return int(api)
    name = api.replace("-", "_").upper()
    return name if name in ApiKey.__members__ else api


def _error_name(error: str | None) -> str | int | None:
    if error is None:
        return None
    return int(error) if error.lstrip("-").isdigit() else error.upper()


def _name_value(item: str, option: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint=option)
    return name, value


def _record_line(r: dict) -> str:
    import base64

    raw = lambda b64: None if b64 is None else base64.b64decode(b64)  # noqa: E731
    headers = " ".join(f"{h['name']}={_show(raw(h['value_base64']))}" for h in r["headers"])
    producer = (f" producer={r['producer_id']}/{r['producer_epoch']} seq={r['sequence']}"
                if r["producer_id"] >= 0 else "")
    txn = f" txn={r['txn_state']}" if r["transactional"] else ""
    return (f"{r['topic']}-{r['partition']}@{r['offset']} {_ms(r['timestamp'])}{producer}{txn} "
            f"key={_show(raw(r['key_base64']))} value={_show(raw(r['value_base64']))}"
            + (f" headers: {headers}" if headers else ""))


def _group_lines(g: dict) -> list[str]:
    lines = [f"group {g['group_id']}  state={g['state']}  generation={g['generation']}  "
             f"protocol={g['protocol_type'] or '-'}/{g['protocol'] or '-'}  members={len(g['members'])}"]
    for m in g["members"]:
        assigned = ",".join(f"{a['topic']}-{a['partition']}" for a in m["assignment"]) or "-"
        lines.append(f"  member {m['member_id']}  client={m['client_id']}  host={m['client_host']}  "
                     f"assignment={assigned}")
    for o in g["offsets"]:
        lines.append(f"  {o['topic']}-{o['partition']}  committed={o['committed']}  log-end={o['log_end']}  "
                     f"lag={o['lag']}")
    return lines


@main.group()
def fault() -> None:
    """Fault injection rules of a running kafkasim (over its control API)."""


@fault.command("add")
@_control_options
@click.argument("action", type=click.Choice(["error", "delay", "close_before", "close_after", "throttle", "drop"]))
@click.option("--api", help="API to match: Kafka's name (Produce, ListOffsets) or key; default: any.")
@click.option("--version", "api_version", type=int, help="Request version to match.")
@click.option("--broker", type=int, help="Node id of the broker to match.")
@click.option("--topic", help="A topic the request must name.")
@click.option("--partition", type=int, help="A partition the request must name.")
@click.option("--client-id", help="Client id to match.")
@click.option("--count", type=click.IntRange(0), help="Fire at most this many times (default: always).")
@click.option("--probability", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="Chance of firing on each matching request (seeded RNG).")
@click.option("--error", help="For 'error': Kafka's error name (NOT_LEADER_OR_FOLLOWER) or code.")
@click.option("--delay-ms", type=click.IntRange(0), default=0, show_default=True, help="For 'delay'.")
@click.option("--throttle-ms", type=click.IntRange(0), default=0, show_default=True, help="For 'throttle'.")
def fault_add(control_url: str, token: str | None, cluster: str | None, action: str, api: str | None,
              api_version: int | None, broker: int | None, topic: str | None, partition: int | None,
              client_id: str | None, count: int | None, probability: float, error: str | None, delay_ms: int,
              throttle_ms: int) -> None:
    """Add a rule making matching requests fail; prints its id."""
    body = {"action": action, "api": _api_name(api), "version": api_version, "broker": broker, "topic": topic,
            "partition": partition, "client_id": client_id, "count": count, "probability": probability,
            "error": _error_name(error), "delay_ms": delay_ms, "throttle_ms": throttle_ms}
    with _Control(control_url, token, cluster) as c:
        rule = c.client.post(c.path + "/faults", {k: v for k, v in body.items() if v is not None})
    click.echo(rule["id"])


@fault.command("list")
@_control_options
def fault_list(control_url: str, token: str | None, cluster: str | None) -> None:
    """List the rules in match order, with how often each fired."""
    with _Control(control_url, token, cluster) as c:
        rules = c.client.get(c.path + "/faults")["faults"]
    for r in rules:
        fields = [f"{k}={r[k]}" for k in ("api", "api_version", "broker", "topic", "partition", "client_id",
                                            "count", "error", "delay_ms", "throttle_ms")
                  if r[k] not in (None, 0) or (k == "partition" and r[k] == 0)]
        if r["probability"] != 1:
            fields.append(f"probability={r['probability']}")
        click.echo(f"{r['id']}  {r['action']}  {' '.join(fields) or '(every request)'}  fired={r['fired']}")


@fault.command("remove")
@_control_options
@click.argument("rule_id", type=int)
def fault_remove(control_url: str, token: str | None, cluster: str | None, rule_id: int) -> None:
    """Remove one rule."""
    with _Control(control_url, token, cluster) as c:
        r = c.client.delete(f"{c.path}/faults/{rule_id}")
    click.echo(f"removed rule {r['id']} (fired {r['fired']} times)")


@fault.command("clear")
@_control_options
def fault_clear(control_url: str, token: str | None, cluster: str | None) -> None:
    """Remove every rule."""
    with _Control(control_url, token, cluster) as c:
        removed = c.client.delete(c.path + "/faults")["removed"]
    click.echo(f"removed {removed} rule(s)")


@fault.command("seed")
@_control_options
@click.argument("seed", type=int)
def fault_seed(control_url: str, token: str | None, cluster: str | None, seed: int) -> None:
    """Reseed the RNG that rule probabilities draw from."""
    with _Control(control_url, token, cluster) as c:
        c.client.post(c.path + "/faults/seed", {"seed": seed})
    click.echo(f"seeded with {seed}")


@main.group()
def clock() -> None:
    """Broker time of a running kafkasim (over its control API)."""


@clock.command("show")
@_control_options
def clock_show(control_url: str, token: str | None, cluster: str | None) -> None:
    """Print broker time (ms since the epoch, and as a date) and which clock runs."""
    with _Control(control_url, token, cluster) as c:
        t = c.client.get(c.path + "/clock")
    click.echo(f"{t['now_ms']} {_ms(t['now_ms'])} {'virtual' if t['virtual'] else 'wall'}")


@clock.command("advance")
@_control_options
@click.option("--ms", type=click.FloatRange(0), default=0, help="Milliseconds to add.")
@click.option("--seconds", type=click.FloatRange(0), default=0)
@click.option("--minutes", type=click.FloatRange(0), default=0)
@click.option("--hours", type=click.FloatRange(0), default=0)
def clock_advance(control_url: str, token: str | None, cluster: str | None, ms: float, seconds: float,
                  minutes: float, hours: float) -> None:
    """Advance a virtual clock (serve --clock virtual); deadlines now past are acted on before it returns."""
    with _Control(control_url, token, cluster) as c:
        t = c.client.post(c.path + "/clock/advance", {"ms": ms, "seconds": seconds, "minutes": minutes,
                                                     "hours": hours})
    click.echo(f"{t['now_ms']} {_ms(t['now_ms'])}")


@main.command("records")
@_control_options
@click.argument("topic")
@click.option("--partition", type=click.IntRange(0), help="Only this partition (default: all).")
@click.option("--start", type=click.IntRange(0), help="First offset (default: the log start).")
@click.option("--end", type=click.IntRange(0), help="Offset to stop before (default: the high watermark).")
@click.option("--key", help="Only records with this key (UTF-8).")
@click.option("--header", metavar="NAME=VALUE", help="Only records with this header.")
@click.option("--isolation", type=click.Choice(["read_uncommitted", "read_committed"]), default="read_uncommitted",
              show_default=True)
@click.option("--limit", type=click.IntRange(0), help="At most this many records.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of one line per record.")
def records_cmd(control_url: str, token: str | None, cluster: str | None, topic: str, partition: int | None,
                start: int | None, end: int | None, key: str | None, header: str | None, isolation: str,
                limit: int | None, as_json: bool) -> None:
    """Show the stored records of a topic: one line per record (offset, timestamp, producer, key, value,
    headers; text when printable UTF-8, else hex)."""
    import json

    from kafkasim.control.client import quote

    query = {"partition": partition, "start": start, "end": end, "key": key, "isolation": isolation, "limit": limit}
    if header is not None:
        name, value = _name_value(header, "--header")
        query["header"] = f"{name}:{value}"
    with _Control(control_url, token, cluster) as c:
        answer = c.client.get(f"{c.path}/topics/{quote(topic)}/records", **query)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    for r in answer["records"]:
        click.echo(_record_line(r))


@main.group()
def wait() -> None:
    """Block until records or a consumer group state appear (over the control API); exit 1 on timeout."""


@wait.command("records")
@_control_options
@click.argument("topic")
@click.option("--count", type=click.IntRange(1), default=1, show_default=True)
@click.option("--key", help="Only records with this key (UTF-8).")
@click.option("--header", metavar="NAME=VALUE", help="Only records with this header.")
@click.option("--partition", type=click.IntRange(0), help="Only this partition.")
@click.option("--timeout", type=click.FloatRange(0, 300), default=10.0, show_default=True, help="Seconds.")
def wait_records(control_url: str, token: str | None, cluster: str | None, topic: str, count: int,
                 key: str | None, header: str | None, partition: int | None, timeout: float) -> None:
    """Wait until TOPIC holds COUNT matching records, and print them; on timeout say what was there instead."""
    body: dict = {"topic": topic, "count": count, "partition": partition, "timeout": timeout}
    if key is not None:
        body["key"] = key
    if header is not None:
        name, value = _name_value(header, "--header")
        body["header"] = {"name": name, "value": value}
    with _Control(control_url, token, cluster) as c:
        found = c.client.wait_records(c.client.cluster_name(cluster), **body)
    for r in found:
        click.echo(_record_line(r))


@wait.command("group")
@_control_options
@click.argument("group")
@click.option("--state", help="Wait for this state (Stable, Empty, ...).")
@click.option("--zero-lag", is_flag=True, help="Wait until the group has caught up.")
@click.option("--timeout", type=click.FloatRange(0, 300), default=10.0, show_default=True, help="Seconds.")
def wait_group(control_url: str, token: str | None, cluster: str | None, group: str, state: str | None,
               zero_lag: bool, timeout: float) -> None:
    """Wait until GROUP exists (in STATE, caught up), and print it; on timeout say what it looked like."""
    with _Control(control_url, token, cluster) as c:
        g = c.client.wait_group(c.client.cluster_name(cluster), group_id=group, state=state, zero_lag=zero_lag,
                                timeout=timeout)
    for line in _group_lines(g):
        click.echo(line)


@main.group()
def broker() -> None:
    """Stop, start and move the brokers of a running kafkasim (over its control API)."""


@broker.command("list")
@_control_options
def broker_list(control_url: str, token: str | None, cluster: str | None) -> None:
    """List brokers: node id, address, rack, running, fenced."""
    with _Control(control_url, token, cluster) as c:
        brokers = c.client.get(c.path + "/brokers")["brokers"]
    click.echo(f"{'NODE':>4}  {'ADDRESS':24} {'RACK':10} STATE")
    for b in brokers:
        state = "running" if b["running"] else "stopped" + (" (fenced)" if b["fenced"] else " (in metadata)")
        click.echo(f"{b['node_id']:>4}  {b['host'] + ':' + str(b['port']):24} {b['rack'] or '-':10} {state}")


@broker.command("stop")
@_control_options
@click.argument("node_id", type=int)
@click.option("--crash", is_flag=True, help="A crash instead of a controlled shutdown: the broker stays in the "
                                            "metadata until broker.session.timeout.ms passes.")
def broker_stop(control_url: str, token: str | None, cluster: str | None, node_id: int, crash: bool) -> None:
    """Stop a broker (controlled shutdown: its leaderships move at once)."""
    with _Control(control_url, token, cluster) as c:
        c.client.post(f"{c.path}/brokers/{node_id}/stop", {"controlled": not crash})
    click.echo(f"broker {node_id} {'crashed' if crash else 'stopped'}")


@broker.command("start")
@_control_options
@click.argument("node_id", type=int)
def broker_start(control_url: str, token: str | None, cluster: str | None, node_id: int) -> None:
    """Start a stopped broker again on its port."""
    with _Control(control_url, token, cluster) as c:
        b = c.client.post(f"{c.path}/brokers/{node_id}/start")
    click.echo(f"broker {node_id} started on {b['host']}:{b['port']}")


@broker.command("rack")
@_control_options
@click.argument("node_id", type=int)
@click.argument("rack")
def broker_rack(control_url: str, token: str | None, cluster: str | None, node_id: int, rack: str) -> None:
    """Move a broker to RACK (broker.rack); "" for none."""
    with _Control(control_url, token, cluster) as c:
        b = c.client.put(f"{c.path}/brokers/{node_id}/rack", {"rack": rack or None})
    click.echo(f"broker {node_id} rack {b['rack'] or '-'}")


@main.group()
def leader() -> None:
    """Move partition leaders of a running kafkasim (over its control API)."""


@leader.command("move")
@_control_options
@click.argument("topic")
@click.argument("partition", type=click.IntRange(0))
@click.argument("node_id", type=int)
def leader_move(control_url: str, token: str | None, cluster: str | None, topic: str, partition: int,
                node_id: int) -> None:
    """Make broker NODE_ID (an in-sync replica) the leader of TOPIC-PARTITION."""
    from kafkasim.control.client import quote

    with _Control(control_url, token, cluster) as c:
        p = c.client.post(f"{c.path}/topics/{quote(topic)}/partitions/{partition}/leader", {"node_id": node_id})
    click.echo(f"{topic}-{partition} leader={p['leader']} epoch={p['leader_epoch']} isr={p['isr']}")


@leader.command("elect")
@_control_options
@click.argument("topic", required=False)
def leader_elect(control_url: str, token: str | None, cluster: str | None, topic: str | None) -> None:
    """Preferred leader election for TOPIC's partitions (default: every topic); prints those that moved."""
    with _Control(control_url, token, cluster) as c:
        moved = c.client.post(c.path + "/elect-leaders", {"topic": topic})["moved"]
    for m in moved:
        click.echo(f"{m['topic']}-{m['partition']}")
    if not moved:
        click.echo("no leader moved")


if __name__ == "__main__":
    main()

"""``kafkasim topics | groups | transactions``: administer a running broker over the Kafka protocol."""

from __future__ import annotations

import sys

import click

from kafkasim.cli._base import _ms, main
from kafkasim.errors import ErrorCode
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages import create_topics as ct
from kafkasim.protocol.messages import delete_topics as dt
from kafkasim.protocol.messages import describe_configs as dc
from kafkasim.protocol.messages import metadata as md
from kafkasim.testing.wire import WireClient, WireCluster


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
    from kafkasim.state.consumer_protocol import CONSUMER_PROTOCOL, consumer_assignment, lag

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

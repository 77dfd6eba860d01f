"""``kafkasim fault | clock | records | wait | broker | leader``: the test controls of a running kafkasim, over
its HTTP control API (kafkasim.control.client: urllib, no aiohttp)."""

from __future__ import annotations

import click

from kafkasim.cli._base import _ms, _show, main
from kafkasim.protocol.api import ApiKey


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
    import json

    raw = lambda b64: None if b64 is None else base64.b64decode(b64)  # noqa: E731

    def shown(field: str) -> str:  # with --decode: a key or value its registered schema decoded, as JSON
        decoded = r.get(f"{field}_decoded")
        return json.dumps(decoded, separators=(",", ":")) if decoded is not None else _show(raw(r[f"{field}_base64"]))

    headers = " ".join(f"{h['name']}={_show(raw(h['value_base64']))}" for h in r["headers"])
    producer = (f" producer={r['producer_id']}/{r['producer_epoch']} seq={r['sequence']}"
                if r["producer_id"] >= 0 else "")
    txn = f" txn={r['txn_state']}" if r["transactional"] else ""
    return (f"{r['topic']}-{r['partition']}@{r['offset']} {_ms(r['timestamp'])}{producer}{txn} "
            f"key={shown('key')} value={shown('value')}"
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
@click.option("--decode", is_flag=True,
              help="Decode keys and values framed with a schema of the cluster's schema registry (shown as JSON).")
def records_cmd(control_url: str, token: str | None, cluster: str | None, topic: str, partition: int | None,
                start: int | None, end: int | None, key: str | None, header: str | None, isolation: str,
                limit: int | None, as_json: bool, decode: bool) -> None:
    """Show the stored records of a topic: one line per record (offset, timestamp, producer, key, value,
    headers; text when printable UTF-8, else hex)."""
    import json

    from kafkasim.control.client import quote

    query = {"partition": partition, "start": start, "end": end, "key": key, "isolation": isolation, "limit": limit,
             "decode": "true" if decode else None}
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

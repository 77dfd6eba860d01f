"""``kafkasim listeners | connections``: what a running kafkasim serves and who is connected as what (over
its control API)."""

from __future__ import annotations

import click

from kafkasim.cli._base import main
from kafkasim.cli.control import _Control, _control_options


@main.command("listeners")
@_control_options
def listeners_cmd(control_url: str, token: str | None, cluster: str | None) -> None:
    """List listeners: name, security protocol, SASL mechanisms, bootstrap."""
    with _Control(control_url, token, cluster) as c:
        body = c.client.get(c.path + "/listeners")
    click.echo(f"{'NAME':16} {'PROTOCOL':15} {'MECHANISMS':44} BOOTSTRAP")
    for x in body["listeners"]:
        click.echo(f"{x['name']:16} {x['protocol']:15} {','.join(x['mechanisms']) or '-':44} {x['bootstrap']}")
    if body["ssl_ca_file"]:
        click.echo(f"TLS clients trust: {body['ssl_ca_file']}")


@main.command("connections")
@_control_options
def connections_cmd(control_url: str, token: str | None, cluster: str | None) -> None:
    """List open client connections: broker, listener, peer, principal, SASL mechanism."""
    with _Control(control_url, token, cluster) as c:
        conns = c.client.get(c.path + "/connections")["connections"]
    click.echo(f"{'ID':>6} {'NODE':>4}  {'LISTENER':16} {'PEER':22} {'PRINCIPAL':28} MECHANISM")
    for x in conns:
        principal = x["principal"] if x["authenticated"] else "(authenticating)"
        click.echo(f"{x['id']:>6} {x['node_id']:>4}  {x['listener']:16} {x['peer']:22} {principal:28} "
                   f"{x['mechanism'] or '-'}")


@main.command("acls")
@_control_options
def acls_cmd(control_url: str, token: str | None, cluster: str | None) -> None:
    """List ACL bindings: resource, pattern, principal, host, operation, permission."""
    with _Control(control_url, token, cluster) as c:
        body = c.client.get(c.path + "/acls")
    if not body["authorizer"]:
        click.echo("(the authorizer is off: serve --authorizer)")
    click.echo(f"{'RESOURCE':40} {'PATTERN':9} {'PRINCIPAL':24} {'HOST':16} {'OPERATION':17} PERMISSION")
    for a in body["acls"]:
        click.echo(f"{a['resource_type'] + ':' + a['resource_name']:40} {a['pattern_type']:9} {a['principal']:24} "
                   f"{a['host']:16} {a['operation']:17} {a['permission']}")


@main.command("quotas")
@_control_options
def quotas_cmd(control_url: str, token: str | None, cluster: str | None) -> None:
    """List client quotas per entity (<default> for an entity type's default)."""
    with _Control(control_url, token, cluster) as c:
        quotas = c.client.get(c.path + "/quotas")["quotas"]
    for q in quotas:
        entity = ",".join(f"{e['type']}={e['name'] if e['name'] is not None else '<default>'}" for e in q["entity"])
        values = " ".join(f"{k}={v:g}" for k, v in sorted(q["values"].items()))
        click.echo(f"{entity}  {values}")


@main.command("users")
@_control_options
def users_cmd(control_url: str, token: str | None, cluster: str | None) -> None:
    """List SASL users: PLAIN password or not, SCRAM mechanisms and iterations (never secrets)."""
    with _Control(control_url, token, cluster) as c:
        users = c.client.get(c.path + "/users")["users"]
    for u in users:
        scram = " ".join(f"{m}:{i}" for m, i in u["scram"].items()) or "-"
        click.echo(f"{u['name']:24} plain={'yes' if u['plain'] else 'no':4} scram={scram}")

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

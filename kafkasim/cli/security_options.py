"""``kafkasim serve``'s security options: listeners, TLS, SASL users and mechanisms, the authorizer.

Each option is the BrokerConfig field of the same name (Kafka's config name in its help); ``serve`` applies
:func:`security_options` and passes them through like its other config options.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from kafkasim.config import SASL_MECHANISMS, SSL_CLIENT_AUTH


def _listing(sep: str = ",") -> Callable:
    def split(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        return tuple(v.strip() for v in value.split(sep) if v.strip())
    return split


def _users(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...] | None:
    for u in value:
        if ":" not in u or not u.partition(":")[0]:
            raise click.BadParameter(f"expected NAME:PASSWORD, got {u.partition(':')[0]!r}...")
    return value or None


#: the BrokerConfig fields these options set
SECURITY_CONFIG_OPTIONS = (
    "listeners", "advertised_listeners", "listener_security_protocol_map", "ssl_certfile", "ssl_keyfile",
    "ssl_cafile", "ssl_generate_dir", "ssl_client_auth", "ssl_principal_mapping_rules", "sasl_enabled_mechanisms",
    "sasl_listener_mechanisms", "users", "connections_max_reauth_ms", "sasl_server_max_receive_size",
    "connection_failed_authentication_delay_ms", "sasl_oauthbearer_jwks_file", "sasl_oauthbearer_expected_audience",
    "sasl_oauthbearer_expected_issuer", "sasl_oauthbearer_sub_claim_name", "sasl_oauthbearer_scope_claim_name",
    "sasl_oauthbearer_required_scope", "sasl_oauthbearer_clock_skew_seconds", "authorizer", "super_users",
    "allow_everyone_if_no_acl_found")

_OPTIONS = [
    click.option("--listeners", default=None, callback=_listing(), metavar="NAME://HOST:PORT,...",
                 help="listeners: e.g. PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9093 (port 0: a free one; "
                      "brokers after the first take the next ports). Default: PLAINTEXT on --host:--port."),
    click.option("--advertised-listeners", default=None, callback=_listing(), metavar="NAME://HOST:PORT,...",
                 help="advertised.listeners: what Metadata tells clients per listener (port 0: the bound one)."),
    click.option("--listener-security-protocol-map", default=None, callback=_listing(), metavar="NAME:PROTOCOL,...",
                 help="listener.security.protocol.map for listener names that are not a protocol's name."),
    click.option("--ssl-certfile", default=None, type=click.Path(exists=True, dir_okay=False),
                 help="The server certificate (PEM) of TLS listeners (with --ssl-keyfile)."),
    click.option("--ssl-keyfile", default=None, type=click.Path(exists=True, dir_okay=False),
                 help="Its private key (PEM)."),
    click.option("--ssl-cafile", default=None, type=click.Path(exists=True, dir_okay=False),
                 help="CAs (PEM) whose client certificates are accepted (ssl.truststore)."),
    click.option("--ssl-generate-dir", default=None, type=click.Path(file_okay=False),
                 help="Without --ssl-certfile: write the CA (ca.pem) and server certificate generated at start here "
                      "(default: a temporary directory), for clients' ssl.ca.location."),
    click.option("--ssl-client-auth", default="none", show_default=True, type=click.Choice(SSL_CLIENT_AUTH),
                 help="ssl.client.auth: client certificates not asked for, requested, or required."),
    click.option("--ssl-principal-mapping-rules", default="DEFAULT", show_default=True,
                 help="ssl.principal.mapping.rules: DEFAULT or RULE:pattern/replacement/[LU],..."),
    click.option("--sasl-enabled-mechanisms", default=None, callback=_listing(), metavar="MECH,...",
                 help=f"sasl.enabled.mechanisms of SASL listeners (default: {','.join(SASL_MECHANISMS)})."),
    click.option("--sasl-listener-mechanisms", default=None, callback=_listing(";"), metavar="NAME:MECH,...;...",
                 help="listener.name.NAME.sasl.enabled.mechanisms, per listener."),
    click.option("--user", "users", multiple=True, callback=_users, metavar="NAME:PASSWORD",
                 envvar="KAFKASIM_USERS",
                 help="A SASL user (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512); repeatable."),
    click.option("--connections-max-reauth-ms", default=0, show_default=True, type=click.IntRange(0),
                 help="connections.max.reauth.ms: SASL sessions expire after this (KIP-368); 0: never."),
    click.option("--sasl-server-max-receive-size", default=524288, show_default=True, type=click.IntRange(64),
                 help="sasl.server.max.receive.size: largest frame before authentication."),
    click.option("--connection-failed-authentication-delay-ms", default=100, show_default=True,
                 type=click.IntRange(0), help="connection.failed.authentication.delay.ms."),
    click.option("--sasl-oauthbearer-jwks-file", default=None, type=click.Path(exists=True, dir_okay=False),
                 help="OAUTHBEARER: check signed tokens against this JWKS (default: Kafka's unsecured tokens)."),
    click.option("--sasl-oauthbearer-expected-audience", default=None, callback=_listing(), metavar="AUD,...",
                 help="sasl.oauthbearer.expected.audience."),
    click.option("--sasl-oauthbearer-expected-issuer", default=None, help="sasl.oauthbearer.expected.issuer."),
    click.option("--sasl-oauthbearer-sub-claim-name", default="sub", show_default=True,
                 help="sasl.oauthbearer.sub.claim.name: the claim naming the principal."),
    click.option("--sasl-oauthbearer-scope-claim-name", default="scope", show_default=True,
                 help="sasl.oauthbearer.scope.claim.name."),
    click.option("--sasl-oauthbearer-required-scope", default=None, callback=_listing(), metavar="SCOPE,...",
                 help="Scopes a token must have (unsecuredValidatorRequiredScope)."),
    click.option("--sasl-oauthbearer-clock-skew-seconds", default=30, show_default=True, type=click.IntRange(0),
                 help="sasl.oauthbearer.clock.skew.seconds."),
    click.option("--authorizer/--no-authorizer", default=False, show_default=True,
                 help="Check ACLs (Kafka's StandardAuthorizer)."),
    click.option("--super-users", default=None, callback=_listing(";"), metavar="User:NAME;...",
                 help="super.users: principals every ACL check allows."),
    click.option("--allow-everyone-if-no-acl-found/--no-allow-everyone-if-no-acl-found", default=False,
                 show_default=True, help="allow.everyone.if.no.acl.found."),
]


def security_options(fn: Callable) -> Callable:
    """Add the security options to a command."""
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn

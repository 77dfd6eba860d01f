"""Which SASL server serves which mechanism."""

from __future__ import annotations

from kafkasim.security.oauthbearer import OAuthBearerServer, OAuthSettings
from kafkasim.security.sasl import CredentialSource, PlainServer, SaslServer, ScramServer
from kafkasim.security.scram import MECHANISMS as SCRAM_MECHANISMS


def sasl_server(mechanism: str, credentials: CredentialSource, oauth: OAuthSettings) -> SaslServer:
    """A fresh server of ``mechanism`` (ValueError for one kafkasim does not serve)."""
    if mechanism == "PLAIN":
        return PlainServer(credentials)
    if mechanism in SCRAM_MECHANISMS:
        return ScramServer(mechanism, credentials)
    if mechanism == "OAUTHBEARER":
        return OAuthBearerServer(oauth)
    raise ValueError(f"unsupported SASL mechanism {mechanism}")

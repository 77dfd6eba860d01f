"""SASL on a connection, as Kafka's SaslServerAuthenticator runs it: the handshake, the mechanism's token
exchange, the session's lifetime and re-authentication (KIP-368).

The mechanisms themselves are SANS-IO state machines in :mod:`kafkasim.security.sasl`; this module decides
what a connection may send when, and what it is answered:

- before authentication only ApiVersions, SaslHandshake and SaslAuthenticate are served; anything else, or
  one of those out of order (SaslAuthenticate before a handshake, a second handshake), closes the
  connection, as Kafka does (IllegalSaslStateException);
- SaslHandshake v0 is followed by bare tokens (a size and the bytes, no request header); v1 by
  SaslAuthenticate requests;
- a mechanism the listener does not enable answers UNSUPPORTED_SASL_MECHANISM with the enabled ones; a
  failed exchange answers SASL_AUTHENTICATION_FAILED with the mechanism's message. Both are answered
  after ``connection.failed.authentication.delay.ms`` and the connection is closed;
- once authenticated the session lasts ``connections.max.reauth.ms`` (or until an OAUTHBEARER token
  expires, if sooner); a client re-authenticates with a new handshake on the same mechanism and must keep
  its principal; a request after the session expired, other than re-authentication, closes the connection.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kafkasim.errors import ErrorCode
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.sasl_authenticate import SaslAuthenticateRequest, SaslAuthenticateResponse
from kafkasim.protocol.messages.sasl_handshake import SaslHandshakeRequest, SaslHandshakeResponse

if TYPE_CHECKING:
    from kafkasim.config import BrokerConfig, Listener
    from kafkasim.security.sasl import SaslServer
    from kafkasim.server.security import ListenerSecurity

log = logging.getLogger(__name__)

#: what a connection may send before it is authenticated
PRE_AUTH_KEYS = frozenset((ApiKey.API_VERSIONS, ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE))
HANDSHAKE, AUTHENTICATE, RAW, DONE = "handshake", "authenticate", "raw tokens", "authenticated"


class SaslFailure(Exception):
    """The exchange failed: answer ``response`` (None: nothing) after the failed-authentication delay and close."""

    def __init__(self, reason: str, response=None) -> None:
        super().__init__(reason)
        self.response = response


class SaslSession:
    """The SASL state of one connection on a SASL listener."""

    __slots__ = ("listener", "config", "security", "state", "mechanism", "principal", "expires_at",
                 "reauthenticating", "authentications", "_server")

    def __init__(self, listener: Listener, config: BrokerConfig, security: ListenerSecurity) -> None:
        self.listener = listener
        self.config = config
        self.security = security
        self.state = HANDSHAKE
        self.mechanism: str | None = None
        self.principal: str | None = None
        self.expires_at: int | None = None  # cluster time (ms) the session ends; None: never
        self.reauthenticating = False
        self.authentications = 0  # successful ones, the first included
        self._server: SaslServer | None = None

    @property
    def authenticated(self) -> bool:
        return self.principal is not None

    def intercepts(self, key: int) -> bool:
        """Whether this request is the authenticator's (and not the request handlers')."""
        if self.state == DONE and not self.reauthenticating:
            return key == ApiKey.SASL_HANDSHAKE  # re-authentication starts
        return key != ApiKey.API_VERSIONS

    def expired(self, now_ms: int) -> bool:
        return self.expires_at is not None and now_ms >= self.expires_at and not self.reauthenticating

    # ------------------------------------------------------------------ the exchange

    def handshake(self, req: SaslHandshakeRequest, version: int) -> SaslHandshakeResponse:
        if self.state not in (HANDSHAKE, DONE):
            raise SaslFailure(f"unexpected SaslHandshake in state {self.state}")
        mechanism = req.mechanism
        enabled = list(self.listener.mechanisms)
        if mechanism not in enabled:
            raise SaslFailure(f"unsupported SASL mechanism {mechanism!r}",
                              SaslHandshakeResponse(error_code=ErrorCode.UNSUPPORTED_SASL_MECHANISM,
                                                    mechanisms=enabled))
        if self.state == DONE:
            if mechanism != self.mechanism:
                raise SaslFailure(f"re-authentication changed the mechanism from {self.mechanism} to {mechanism}")
            self.reauthenticating = True
        from kafkasim.security.mechanisms import sasl_server

        self.mechanism = mechanism
        self._server = sasl_server(mechanism, self.security.credentials, self.security.oauth)
        self.state = RAW if version == 0 else AUTHENTICATE
        return SaslHandshakeResponse(error_code=ErrorCode.NO_ERROR, mechanisms=enabled)

    def authenticate(self, req: SaslAuthenticateRequest, version: int, now_ms: int) -> SaslAuthenticateResponse:
        if self.state != AUTHENTICATE:
            raise SaslFailure(f"unexpected SaslAuthenticate in state {self.state}")
        try:
            out = self._step(bytes(req.auth_bytes), now_ms)
            lifetime = self._finish(now_ms) if self._server is not None and self._server.complete else 0
        except _Failed as exc:
            raise SaslFailure(exc.message, SaslAuthenticateResponse(
                error_code=ErrorCode.SASL_AUTHENTICATION_FAILED, error_message=exc.message, auth_bytes=b"")) from None
        return SaslAuthenticateResponse(error_code=ErrorCode.NO_ERROR, auth_bytes=out, session_lifetime_ms=lifetime)

    def raw_token(self, token: bytes, now_ms: int) -> bytes:
        """A bare token after SaslHandshake v0: the bytes to answer (sent with a size, no header)."""
        try:
            out = self._step(token, now_ms)
        except _Failed as exc:
            raise SaslFailure(exc.message) from None
        if self._server is not None and self._server.complete:
            self._finish(now_ms)
        return out

    def _step(self, token: bytes, now_ms: int) -> bytes:
        from kafkasim.security.sasl import AuthenticationFailed

        server = self._server
        if server is None:
            raise _Failed("no SASL exchange in progress")
        try:
            return server.evaluate(token, now_ms)
        except AuthenticationFailed as exc:
            message = exc.message
            if self.reauthenticating:  # Kafka's wording for a failed re-authentication
                message = message.replace("failed during authentication", "failed during re-authentication")
            raise _Failed(message) from None

    def _finish(self, now_ms: int) -> int:
        """The exchange completed: the principal, and the session's lifetime (0: it does not expire)."""
        server = self._server
        assert server is not None and server.principal is not None
        if self.principal is not None and server.principal != self.principal:
            raise _Failed(f"Cannot change principals during re-authentication from {self.principal}: "
                              f"{server.principal}")
        self.principal = server.principal
        self.state = DONE
        self.reauthenticating = False
        self.authentications += 1
        self._server = None
        reauth = self.config.connections_max_reauth_ms or None
        token_left = None if server.expires_at_ms is None else max(0, server.expires_at_ms - now_ms)
        lifetimes = [x for x in (reauth, token_left) if x is not None]
        if not lifetimes:
            self.expires_at = None
            return 0
        lifetime = min(lifetimes)
        self.expires_at = now_ms + lifetime
        return lifetime


class _Failed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

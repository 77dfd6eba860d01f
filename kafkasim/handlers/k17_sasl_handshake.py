"""SaslHandshake (key 17), versions 0-1.

Behaviour: on a SASL listener the connection's authenticator (server/authentication.py) answers every
handshake itself: before authentication, and again for re-authentication (KIP-368). This handler answers
only what reaches the request handlers, as Kafka's KafkaApis does: a handshake on a listener without SASL
(PLAINTEXT, SSL), with ILLEGAL_SASL_STATE.
Version notes: v0 is followed by bare SASL tokens (no Kafka request header); v1 by SaslAuthenticate.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode
from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.sasl_handshake import SaslHandshakeRequest, SaslHandshakeResponse


@handler(ApiKey.SASL_HANDSHAKE, (0, 1))
def sasl_handshake(ctx, req: SaslHandshakeRequest) -> SaslHandshakeResponse:
    return SaslHandshakeResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE, mechanisms=[])

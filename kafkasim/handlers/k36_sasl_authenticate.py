"""SaslAuthenticate (key 36), versions 0-2.

Behaviour: on a SASL listener the connection's authenticator (server/authentication.py) answers every
SaslAuthenticate itself (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER; re-authentication). This handler answers
only what reaches the request handlers, as Kafka's KafkaApis does: SaslAuthenticate on a listener without
SASL, with ILLEGAL_SASL_STATE.
Version notes: v1 adds session_lifetime_ms (KIP-368); v2 flexible.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode
from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.sasl_authenticate import SaslAuthenticateRequest, SaslAuthenticateResponse


@handler(ApiKey.SASL_AUTHENTICATE, (0, 2))
def sasl_authenticate(ctx, req: SaslAuthenticateRequest) -> SaslAuthenticateResponse:
    return SaslAuthenticateResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE,
                                    error_message="SaslAuthenticate request received after successful authentication",
                                    auth_bytes=b"")

"""AlterUserScramCredentials (key 51), version 0.

Behaviour: deletions (user, mechanism) and upsertions (user, mechanism, iterations, salt, salted password)
as Kafka's controller applies them (state/credentials.py): per user all or nothing, with
UNSUPPORTED_SASL_MECHANISM, UNACCEPTABLE_CREDENTIAL (empty user, iterations outside 4096-16384),
DUPLICATE_RESOURCE (one user and mechanism twice), RESOURCE_NOT_FOUND (deleting a missing credential).
New credentials are used by the next authentication; with a data directory they survive a restart.
"""

from __future__ import annotations

from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.alter_user_scram_credentials import (
    AlterUserScramCredentialsRequest,
    AlterUserScramCredentialsResponse,
    AlterUserScramCredentialsResponseAlterUserScramCredentialsResult,
)


def error_response(req: AlterUserScramCredentialsRequest, version: int, code: int
                   ) -> AlterUserScramCredentialsResponse:
    users = dict.fromkeys([d.name for d in req.deletions] + [u.name for u in req.upsertions])
    return AlterUserScramCredentialsResponse(results=[
        AlterUserScramCredentialsResponseAlterUserScramCredentialsResult(user=u, error_code=code) for u in users])


@handler(ApiKey.ALTER_USER_SCRAM_CREDENTIALS, (0, 0), error_response=error_response)
def alter_user_scram_credentials(ctx, req: AlterUserScramCredentialsRequest) -> AlterUserScramCredentialsResponse:
    results = ctx.state.credentials.alter(
        [(d.name, d.mechanism) for d in req.deletions],
        [(u.name, u.mechanism, u.iterations, bytes(u.salt), bytes(u.salted_password)) for u in req.upsertions])
    return AlterUserScramCredentialsResponse(results=[
        AlterUserScramCredentialsResponseAlterUserScramCredentialsResult(
            user=r.user, error_code=r.error_code, error_message=r.error_message) for r in results])

"""DescribeUserScramCredentials (key 50), version 0.

Behaviour: the SCRAM mechanisms and iterations of each user asked for (null or empty: every user with SCRAM
credentials), as Kafka's controller answers (state/credentials.py): a user without credentials is
RESOURCE_NOT_FOUND, one named twice DUPLICATE_RESOURCE. Salts and keys are never sent.
"""

from __future__ import annotations

from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.describe_user_scram_credentials import (
    DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
    DescribeUserScramCredentialsResponseCredentialInfo,
    DescribeUserScramCredentialsResponseDescribeUserScramCredentialsResult,
)


def error_response(req: DescribeUserScramCredentialsRequest, version: int, code: int
                   ) -> DescribeUserScramCredentialsResponse:
    return DescribeUserScramCredentialsResponse(error_code=code)


@handler(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS, (0, 0), error_response=error_response)
def describe_user_scram_credentials(ctx, req: DescribeUserScramCredentialsRequest
                                    ) -> DescribeUserScramCredentialsResponse:
    users = None if not req.users else [u.name for u in req.users]
    code, message, results = ctx.state.credentials.describe(users)
    # Kafka 4.4 answers success with "" as the messages, not null
    return DescribeUserScramCredentialsResponse(error_code=code, error_message=message if code else "", results=[
        DescribeUserScramCredentialsResponseDescribeUserScramCredentialsResult(
            user=r.user, error_code=r.error_code, error_message=r.error_message if r.error_code else "",
            credential_infos=[
                DescribeUserScramCredentialsResponseCredentialInfo(mechanism=m, iterations=i)
                for m, i in r.credentials]) for r in results])

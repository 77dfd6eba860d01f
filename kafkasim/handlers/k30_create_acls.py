"""CreateAcls (key 30), versions 1-3.

Behaviour: each binding is validated as Kafka's controller does (state/acls.py: known types, LITERAL or
PREFIXED, a principal TYPE:NAME, the CLUSTER resource named kafka-cluster, ...) and created, or answered
INVALID_REQUEST with Kafka's message; an existing binding is created again without error. Without an
authorizer every creation is SECURITY_DISABLED. Needs ALTER on the cluster (authz.py). With a data
directory the bindings survive a restart.
Version notes: v1 adds pattern types; v2 flexible; v3 the USER resource type.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode
from kafkasim.handlers import handler
from kafkasim.handlers.k29_describe_acls import SECURITY_DISABLED_MESSAGE
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.create_acls import (
    CreateAclsRequest,
    CreateAclsResponse,
    CreateAclsResponseAclCreationResult,
)
from kafkasim.state.acls import AclBinding


def error_response(req: CreateAclsRequest, version: int, code: int, message: str | None = None
                   ) -> CreateAclsResponse:
    return CreateAclsResponse(results=[CreateAclsResponseAclCreationResult(error_code=code, error_message=message)
                                       for _ in req.creations])


@handler(ApiKey.CREATE_ACLS, (1, 3), error_response=error_response)
def create_acls(ctx, req: CreateAclsRequest) -> CreateAclsResponse:
    acls = ctx.state.acls
    if not acls.enabled:
        return error_response(req, ctx.api_version, ErrorCode.SECURITY_DISABLED, SECURITY_DISABLED_MESSAGE)
    errors = acls.create([AclBinding(c.resource_type, c.resource_name, c.resource_pattern_type, c.principal, c.host,
                                     c.operation, c.permission_type) for c in req.creations])
    return CreateAclsResponse(results=[
        CreateAclsResponseAclCreationResult() if e is None
        else CreateAclsResponseAclCreationResult(error_code=e.code, error_message=e.message) for e in errors])

"""DeleteAcls (key 31), versions 1-3.

Behaviour: per filter, the bindings it matches (ANY and MATCH as Kafka's filters, state/acls.py) are deleted
and listed; a filter with UNKNOWN values is INVALID_REQUEST. Without an authorizer every filter is
SECURITY_DISABLED. Needs ALTER on the cluster (authz.py).
Version notes: v1 adds pattern types; v2 flexible; v3 the USER resource type.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.handlers.k29_describe_acls import SECURITY_DISABLED_MESSAGE, acl_filter
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.delete_acls import (
    DeleteAclsRequest,
    DeleteAclsResponse,
    DeleteAclsResponseDeleteAclsFilterResult,
    DeleteAclsResponseDeleteAclsMatchingAcl,
)


def error_response(req: DeleteAclsRequest, version: int, code: int, message: str | None = None
                   ) -> DeleteAclsResponse:
    return DeleteAclsResponse(filter_results=[
        DeleteAclsResponseDeleteAclsFilterResult(error_code=code, error_message=message) for _ in req.filters])


@handler(ApiKey.DELETE_ACLS, (1, 3), error_response=error_response)
def delete_acls(ctx, req: DeleteAclsRequest) -> DeleteAclsResponse:
    acls = ctx.state.acls
    if not acls.enabled:
        return error_response(req, ctx.api_version, ErrorCode.SECURITY_DISABLED, SECURITY_DISABLED_MESSAGE)
    results = []
    for deleted in acls.delete([acl_filter(f) for f in req.filters]):
        if isinstance(deleted, KafkaError):
            results.append(DeleteAclsResponseDeleteAclsFilterResult(error_code=deleted.code,
                                                                    error_message=deleted.message))
            continue
        results.append(DeleteAclsResponseDeleteAclsFilterResult(matching_acls=[
            DeleteAclsResponseDeleteAclsMatchingAcl(resource_type=b.resource_type, resource_name=b.resource_name,
                                                    pattern_type=b.pattern_type, principal=b.principal, host=b.host,
                                                    operation=b.operation, permission_type=b.permission)
            for b in deleted]))
    return DeleteAclsResponse(filter_results=results)

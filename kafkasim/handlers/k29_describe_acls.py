"""DescribeAcls (key 29), versions 1-3.

Behaviour: the ACL bindings the filter matches (ANY and MATCH as Kafka's filters, state/acls.py), grouped
by resource pattern. Without an authorizer SECURITY_DISABLED, as Kafka answers; a filter with UNKNOWN
values INVALID_REQUEST. Needs DESCRIBE on the cluster (authz.py).
Version notes: v1 adds pattern types (PREFIXED); v2 flexible; v3 the USER resource type.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.describe_acls import (
    DescribeAclsRequest,
    DescribeAclsResponse,
    DescribeAclsResponseAclDescription,
    DescribeAclsResponseDescribeAclsResource,
)
from kafkasim.state.acls import AclFilter

SECURITY_DISABLED_MESSAGE = "No Authorizer is configured on the broker"


def error_response(req: DescribeAclsRequest, version: int, code: int) -> DescribeAclsResponse:
    return DescribeAclsResponse(error_code=code)


def acl_filter(f) -> AclFilter:
    """An AclFilter of a DescribeAcls request or a DeleteAcls filter (the same fields)."""
    return AclFilter(f.resource_type_filter, f.resource_name_filter, f.pattern_type_filter, f.principal_filter,
                     f.host_filter, f.operation, f.permission_type)


@handler(ApiKey.DESCRIBE_ACLS, (1, 3), error_response=error_response)
def describe_acls(ctx, req: DescribeAclsRequest) -> DescribeAclsResponse:
    acls = ctx.state.acls
    if not acls.enabled:
        return DescribeAclsResponse(error_code=ErrorCode.SECURITY_DISABLED, error_message=SECURITY_DISABLED_MESSAGE)
    try:
        found = acls.describe(acl_filter(req))
    except KafkaError as exc:
        return DescribeAclsResponse(error_code=exc.code, error_message=exc.message)
    resources: dict[tuple[int, str, int], DescribeAclsResponseDescribeAclsResource] = {}
    for b in found:
        key = (b.resource_type, b.resource_name, b.pattern_type)
        r = resources.get(key)
        if r is None:
            r = resources[key] = DescribeAclsResponseDescribeAclsResource(
                resource_type=b.resource_type, resource_name=b.resource_name, pattern_type=b.pattern_type)
        r.acls.append(DescribeAclsResponseAclDescription(principal=b.principal, host=b.host, operation=b.operation,
                                                         permission_type=b.permission))
    return DescribeAclsResponse(resources=list(resources.values()))

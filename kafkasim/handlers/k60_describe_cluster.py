"""DescribeCluster (key 60), versions 0-2.

Behaviour: cluster id, controller id and the brokers (not fenced) with host, port and rack. Endpoint type 2
(controllers, v1+) answers UNSUPPORTED_ENDPOINT_TYPE as a broker listener does. Authorized operations
report everything allowed when requested.
Version notes: v1 endpoint_type; v2 include_fenced_brokers / is_fenced (never fenced here).
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode
from kafkasim.handlers import handler
from kafkasim.handlers.authz import R, authorized_operations
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.describe_cluster import (
    DescribeClusterRequest,
    DescribeClusterResponse,
    DescribeClusterResponseDescribeClusterBroker,
)
from kafkasim.state.acls import NOT_REQUESTED


@handler(ApiKey.DESCRIBE_CLUSTER, (0, 2))
def describe_cluster(ctx, req: DescribeClusterRequest) -> DescribeClusterResponse:
    state = ctx.state
    if req.endpoint_type not in (1,):
        return DescribeClusterResponse(error_code=ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
                                       error_message="The request was sent to an endpoint of the wrong type.",
                                       endpoint_type=req.endpoint_type, cluster_id=state.cluster_id)
    return DescribeClusterResponse(
        endpoint_type=1, cluster_id=state.cluster_id, controller_id=state.controller_id,
        brokers=[DescribeClusterResponseDescribeClusterBroker(broker_id=b.node_id, host=host, port=port, rack=b.rack)
                 for b in state.live_brokers() for host, port in (b.address(ctx.listener),)],
        cluster_authorized_operations=authorized_operations(ctx, R.CLUSTER) if req.include_cluster_authorized_operations
        else NOT_REQUESTED)

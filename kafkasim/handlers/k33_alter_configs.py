"""AlterConfigs (key 33), versions 0-2 (the legacy, non-incremental form).

Behaviour: for a TOPIC resource the given configs replace all of the topic's explicit configs (those not
named fall back to their defaults), validated all-or-nothing like IncrementalAlterConfigs; validate_only
changes nothing. For a BROKER resource (its node id, or "" for the cluster default) the given configs
replace its dynamic broker configs (state/broker_configs.py).
ACLs: ALTER_CONFIGS on the topic (TOPIC_AUTHORIZATION_FAILED) or the CLUSTER for brokers
(CLUSTER_AUTHORIZATION_FAILED).
Version notes: v2 flexible.
"""

from __future__ import annotations

from kafkasim.handlers import handler
from kafkasim.handlers.k44_incremental_alter_configs import alter_each
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.alter_configs import (
    AlterConfigsRequest,
    AlterConfigsResponse,
    AlterConfigsResponseAlterConfigsResourceResponse,
)


@handler(ApiKey.ALTER_CONFIGS, (0, 2))
def alter_configs(ctx, req: AlterConfigsRequest) -> AlterConfigsResponse:
    def alter(res) -> None:
        ctx.state.replace_topic_configs(res.resource_name, {c.name: c.value for c in res.configs},
                                        len(res.configs), req.validate_only)

    def alter_broker(res, node_id: int | None) -> None:
        ctx.state.topic_configs.replace_broker_configs(node_id, {c.name: c.value for c in res.configs},
                                                       len(res.configs), req.validate_only, ctx.state.topics.values())

    return AlterConfigsResponse(responses=alter_each(ctx, req.resources, AlterConfigsResponseAlterConfigsResourceResponse,
                                                     alter, alter_broker))

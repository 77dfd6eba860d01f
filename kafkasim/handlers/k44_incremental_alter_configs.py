"""IncrementalAlterConfigs (key 44), versions 0-1.

Behaviour: SET, DELETE, APPEND and SUBTRACT (the last two only for list configs) on TOPIC resources;
every op of a resource is validated before any is applied (unknown name or bad value: INVALID_CONFIG;
a key twice: INVALID_REQUEST); validate_only applies nothing. BROKER resources (this broker's node id, or ""
for the cluster-wide default) take SET and DELETE of the dynamic broker configs (state/broker_configs.py):
a read-only one or a bad value is INVALID_REQUEST, another broker's id too, as Kafka answers; other
resource types get INVALID_REQUEST.
ACLs: ALTER_CONFIGS on the topic (TOPIC_AUTHORIZATION_FAILED) or the CLUSTER for brokers
(CLUSTER_AUTHORIZATION_FAILED).
Version notes: v1 flexible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kafkasim.config import ResourceType
from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.handlers.authz import config_resource_error
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.incremental_alter_configs import (
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
    IncrementalAlterConfigsResponseAlterConfigsResourceResponse,
)
from kafkasim.state.acls import AclOperation
from kafkasim.state.topic_configs import ConfigOp


def broker_resource(ctx, name: str) -> int | None:
    """The broker a BROKER resource names: this one (its node id), or None for "" (the cluster default)."""
    if name == "":
        return None
    if name != str(ctx.node_id):
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unexpected broker id, expected {ctx.node_id}, but received "
                         f"{name}")
    return ctx.node_id


def alter_each(ctx, resources: list, result_cls: type, alter_topic: Callable[[Any], None],
               alter_broker: Callable[[Any, int | None], None]) -> list:
    """Apply ``alter_topic`` to each TOPIC resource and ``alter_broker`` to each BROKER one; one result per
    resource (shared with AlterConfigs). ALTER_CONFIGS is checked on each resource first (on the CLUSTER for
    brokers)."""
    out = []
    for res in resources:
        r = result_cls(resource_type=res.resource_type, resource_name=res.resource_name)
        out.append(r)
        code = config_resource_error(ctx, AclOperation.ALTER_CONFIGS, res.resource_type, res.resource_name)
        if code:
            r.error_code = code
            continue
        try:
            if res.resource_type == ResourceType.TOPIC:
                alter_topic(res)
            elif res.resource_type == ResourceType.BROKER:
                alter_broker(res, broker_resource(ctx, res.resource_name))
            else:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type {res.resource_type}")
        except KafkaError as exc:
            r.error_code = exc.code
            r.error_message = exc.message
    return out


def error_response(req: IncrementalAlterConfigsRequest, version: int, code: int) -> IncrementalAlterConfigsResponse:
    return IncrementalAlterConfigsResponse(responses=[IncrementalAlterConfigsResponseAlterConfigsResourceResponse(
        error_code=code, resource_type=r.resource_type, resource_name=r.resource_name) for r in req.resources])


@handler(ApiKey.INCREMENTAL_ALTER_CONFIGS, (0, 1), error_response=error_response)
def incremental_alter_configs(ctx, req: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse:
    def alter(res) -> None:
        ops = [ConfigOp(c.name, c.config_operation, c.value) for c in res.configs]
        ctx.state.alter_topic_configs(res.resource_name, ops, req.validate_only)

    def alter_broker(res, node_id: int | None) -> None:
        ops = [ConfigOp(c.name, c.config_operation, c.value) for c in res.configs]
        ctx.state.topic_configs.alter_broker_configs(node_id, ops, req.validate_only, ctx.state.topics.values())

    return IncrementalAlterConfigsResponse(responses=alter_each(
        ctx, req.resources, IncrementalAlterConfigsResponseAlterConfigsResourceResponse, alter, alter_broker))

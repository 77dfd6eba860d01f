"""IncrementalAlterConfigs (key 44), versions 0-1.

Behaviour: SET, DELETE, APPEND and SUBTRACT (the last two only for list configs) on TOPIC resources;
every op of a resource is validated before any is applied (unknown name or bad value: INVALID_CONFIG;
a key twice: INVALID_REQUEST); validate_only applies nothing. BROKER resources are refused with
INVALID_CONFIG (broker configs are static in kafkasim).
Version notes: v1 flexible.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.incremental_alter_configs import (
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
    IncrementalAlterConfigsResponseAlterConfigsResourceResponse,
)
from kafkasim.state.cluster import ConfigOp

TOPIC = 2
BROKER = 4


def error_response(req: IncrementalAlterConfigsRequest, version: int, code: int) -> IncrementalAlterConfigsResponse:
    return IncrementalAlterConfigsResponse(responses=[IncrementalAlterConfigsResponseAlterConfigsResourceResponse(
        error_code=code, resource_type=r.resource_type, resource_name=r.resource_name) for r in req.resources])


@handler(ApiKey.INCREMENTAL_ALTER_CONFIGS, (0, 1), error_response=error_response)
def incremental_alter_configs(ctx, req: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse:
    out = []
    for res in req.resources:
        r = IncrementalAlterConfigsResponseAlterConfigsResourceResponse(resource_type=res.resource_type,
                                                                        resource_name=res.resource_name)
        out.append(r)
        try:
            if res.resource_type == TOPIC:
                ops = [ConfigOp(c.name, c.config_operation, c.value) for c in res.configs]
                ctx.state.alter_topic_configs(res.resource_name, ops, req.validate_only)
            elif res.resource_type == BROKER:
                raise KafkaError(ErrorCode.INVALID_CONFIG, "kafkasim broker configs cannot be updated dynamically")
            else:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type {res.resource_type}")
        except KafkaError as exc:
            r.error_code = exc.code
            r.error_message = exc.message
    return IncrementalAlterConfigsResponse(responses=out)

"""AlterConfigs (key 33), versions 0-2 (the legacy, non-incremental form).

Behaviour: for a TOPIC resource the given configs replace all of the topic's explicit configs (those not
named fall back to their defaults), validated all-or-nothing like IncrementalAlterConfigs; validate_only
changes nothing. BROKER resources are refused with INVALID_CONFIG.
Version notes: v2 flexible.
"""

from __future__ import annotations

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.alter_configs import (
    AlterConfigsRequest,
    AlterConfigsResponse,
    AlterConfigsResponseAlterConfigsResourceResponse,
)

TOPIC = 2
BROKER = 4


@handler(ApiKey.ALTER_CONFIGS, (0, 2))
def alter_configs(ctx, req: AlterConfigsRequest) -> AlterConfigsResponse:
    out = []
    for res in req.resources:
        r = AlterConfigsResponseAlterConfigsResourceResponse(resource_type=res.resource_type,
                                                             resource_name=res.resource_name)
        out.append(r)
        try:
            if res.resource_type == TOPIC:
                ctx.state.replace_topic_configs(res.resource_name, {c.name: c.value for c in res.configs},
                                                len(res.configs), req.validate_only)
            elif res.resource_type == BROKER:
                raise KafkaError(ErrorCode.INVALID_CONFIG, "kafkasim broker configs cannot be updated dynamically")
            else:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type {res.resource_type}")
        except KafkaError as exc:
            r.error_code = exc.code
            r.error_message = exc.message
    return AlterConfigsResponse(responses=out)

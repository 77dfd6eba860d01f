"""DescribeConfigs (key 32), versions 1-4.

Behaviour: TOPIC resources report every topic config with its value and source (TOPIC_CONFIG when set on
the topic, DEFAULT_CONFIG otherwise, with Kafka's defaults) and type (v3+); BROKER resources (name "" or
this broker's node id) report the broker's static settings with its dynamic ones over them, and "" the
cluster-wide dynamic defaults alone, as Kafka does. Unknown topics answer
UNKNOWN_TOPIC_OR_PARTITION, other resource types INVALID_REQUEST.
ACLs: DESCRIBE_CONFIGS on the topic (TOPIC_AUTHORIZATION_FAILED) or, for brokers, the CLUSTER
(CLUSTER_AUTHORIZATION_FAILED).
With include_synonyms, each config lists its synonyms as Kafka 4 does: the topic's override, then the broker
config it falls back to (config.BROKER_SYNONYMS) when the broker sets it, then that config's default.
Version notes: documentation is returned null (see SKIPPED_FEATURES).
"""

from __future__ import annotations

from kafkasim.config import ResourceType
from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.handlers import handler
from kafkasim.handlers.authz import config_resource_error
from kafkasim.protocol.api import ApiKey
from kafkasim.protocol.messages.describe_configs import (
    DescribeConfigsRequest,
    DescribeConfigsResponse,
    DescribeConfigsResponseDescribeConfigsResourceResult,
    DescribeConfigsResponseDescribeConfigsResult,
    DescribeConfigsResponseDescribeConfigsSynonym,
)
from kafkasim.state.acls import AclOperation


def error_response(req: DescribeConfigsRequest, version: int, code: int) -> DescribeConfigsResponse:
    return DescribeConfigsResponse(results=[DescribeConfigsResponseDescribeConfigsResult(
        error_code=code, resource_type=r.resource_type, resource_name=r.resource_name) for r in req.resources])


@handler(ApiKey.DESCRIBE_CONFIGS, (1, 4), error_response=error_response)
def describe_configs(ctx, req: DescribeConfigsRequest) -> DescribeConfigsResponse:
    state = ctx.state
    out = []
    for res in req.resources:
        # a described resource carries error_message "" (not null), as Kafka 4.4 answers (checked against it)
        r = DescribeConfigsResponseDescribeConfigsResult(resource_type=res.resource_type,
                                                         resource_name=res.resource_name, error_message="")
        out.append(r)
        code = config_resource_error(ctx, AclOperation.DESCRIBE_CONFIGS, res.resource_type, res.resource_name)
        if code:
            r.error_code, r.error_message = code, None
            continue
        try:
            if res.resource_type == ResourceType.TOPIC:
                entries = state.describe_topic_configs(res.resource_name, res.configuration_keys)
            elif res.resource_type == ResourceType.BROKER:
                if res.resource_name not in ("", str(ctx.node_id)):
                    raise KafkaError(ErrorCode.INVALID_REQUEST,
                                     f"Unexpected broker id, expected {ctx.node_id} or empty string, but received "
                                     f"{res.resource_name}")
                # "" is the cluster-wide default resource: its dynamic configs alone, as Kafka lists them
                entries = state.describe_broker_configs(ctx.node_id if res.resource_name else None,
                                                        res.configuration_keys)
            else:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type {res.resource_type}")
        except KafkaError as exc:
            r.error_code = exc.code
            r.error_message = exc.message
            continue
        r.configs = [DescribeConfigsResponseDescribeConfigsResourceResult(
            name=e.name, value=e.value, read_only=e.read_only, config_source=e.source, is_sensitive=e.sensitive,
            config_type=e.type, documentation=None, synonyms=[
                DescribeConfigsResponseDescribeConfigsSynonym(name=n, value=v, source=s)
                for n, v, s in e.synonyms] if req.include_synonyms else []) for e in entries]
    return DescribeConfigsResponse(results=out)

"""Which ACL each API needs: one table, as Kafka's "Operations and Resources on Protocols" lists them.

``ACLS[api_key]`` is either a tuple of :class:`Check` (run at dispatch, before the handler, by the server:
the first that fails answers the handler's error response with the check's error code, as Kafka's KafkaApis
refuses a whole request), or :data:`IN_HANDLER` (the API names several resources, and its handler checks each
with :func:`allowed` and answers per resource, as Kafka does: Produce per topic, Metadata leaving out topics
the principal may not describe, ...), or ``()`` (nothing to check: ApiVersions and SASL). A test asserts
every served API has an entry, so a new handler cannot forget its ACL.

With the authorizer off (the default) nothing here runs: the server and handlers test ``acls.enabled`` first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.protocol.api import ApiKey
from kafkasim.state.acls import CLUSTER_NAME, AclOperation, ResourceType

IN_HANDLER = "in handler"
Op = AclOperation
R = ResourceType


@dataclass(frozen=True, slots=True)
class Check:
    resource_type: int
    operation: int
    error: int
    #: the resource name from the request (None: the check does not apply to this request); None: the cluster
    name_of: Callable[[Any, int], str | None] | None = None


def _group(req: Any, version: int) -> str | None:
    return req.group_id


def _txn(req: Any, version: int) -> str | None:
    return req.transactional_id or None


def _txn_v3(req: Any, version: int) -> str | None:
    """AddPartitionsToTxn v0-3 names one transactional id (v4+ is broker to broker, batched)."""
    return req.v3_and_below_transactional_id if version <= 3 else None


def _offset_fetch_group(req: Any, version: int) -> str | None:
    return req.group_id if version <= 7 else None


def _cluster(op: int) -> tuple[Check, ...]:
    return (Check(R.CLUSTER, op, ErrorCode.CLUSTER_AUTHORIZATION_FAILED),)


GROUP_READ = Check(R.GROUP, Op.READ, ErrorCode.GROUP_AUTHORIZATION_FAILED, _group)
TXN_WRITE = Check(R.TRANSACTIONAL_ID, Op.WRITE, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, _txn)

ACLS: dict[int, tuple[Check, ...] | str] = {
    ApiKey.PRODUCE: IN_HANDLER,  # WRITE on the transactional id, then WRITE per topic
    ApiKey.FETCH: IN_HANDLER,  # READ per topic
    ApiKey.LIST_OFFSETS: IN_HANDLER,  # DESCRIBE per topic
    ApiKey.METADATA: IN_HANDLER,  # DESCRIBE per topic (left out when not asked for by name); CREATE to auto-create
    ApiKey.OFFSET_COMMIT: (GROUP_READ,),  # and READ per topic
    ApiKey.OFFSET_FETCH: (Check(R.GROUP, Op.DESCRIBE, ErrorCode.GROUP_AUTHORIZATION_FAILED, _offset_fetch_group),),
    ApiKey.FIND_COORDINATOR: IN_HANDLER,  # DESCRIBE on each group or transactional id
    ApiKey.JOIN_GROUP: (GROUP_READ,),
    ApiKey.HEARTBEAT: (GROUP_READ,),
    ApiKey.LEAVE_GROUP: (GROUP_READ,),
    ApiKey.SYNC_GROUP: (GROUP_READ,),
    ApiKey.DESCRIBE_GROUPS: IN_HANDLER,  # DESCRIBE per group
    ApiKey.LIST_GROUPS: IN_HANDLER,  # DESCRIBE on the cluster, else only the groups the principal may describe
    ApiKey.SASL_HANDSHAKE: (),
    ApiKey.API_VERSIONS: (),
    ApiKey.SASL_AUTHENTICATE: (),
    ApiKey.CREATE_TOPICS: IN_HANDLER,  # CREATE on the cluster or per topic
    ApiKey.DELETE_TOPICS: IN_HANDLER,  # DELETE per topic
    ApiKey.DELETE_RECORDS: IN_HANDLER,  # DELETE per topic
    ApiKey.INIT_PRODUCER_ID: (TXN_WRITE,),  # idempotent (no id): IDEMPOTENT_WRITE or WRITE on a topic, in the handler
    ApiKey.OFFSET_FOR_LEADER_EPOCH: IN_HANDLER,  # DESCRIBE per topic
    ApiKey.ADD_PARTITIONS_TO_TXN: (Check(R.TRANSACTIONAL_ID, Op.WRITE, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                                         _txn_v3),),  # and WRITE per topic
    ApiKey.ADD_OFFSETS_TO_TXN: (TXN_WRITE, GROUP_READ),
    ApiKey.END_TXN: (TXN_WRITE,),
    ApiKey.TXN_OFFSET_COMMIT: (TXN_WRITE, GROUP_READ),
    ApiKey.DESCRIBE_ACLS: _cluster(Op.DESCRIBE),
    ApiKey.CREATE_ACLS: _cluster(Op.ALTER),
    ApiKey.DELETE_ACLS: _cluster(Op.ALTER),
    ApiKey.DESCRIBE_CONFIGS: IN_HANDLER,  # DESCRIBE_CONFIGS per topic, or on the cluster for brokers
    ApiKey.ALTER_CONFIGS: IN_HANDLER,  # ALTER_CONFIGS likewise
    ApiKey.INCREMENTAL_ALTER_CONFIGS: IN_HANDLER,
    ApiKey.ALTER_REPLICA_LOG_DIRS: _cluster(Op.ALTER),
    ApiKey.DESCRIBE_LOG_DIRS: _cluster(Op.DESCRIBE),
    ApiKey.CREATE_PARTITIONS: IN_HANDLER,  # ALTER per topic
    ApiKey.DELETE_GROUPS: IN_HANDLER,  # DELETE per group
    ApiKey.ELECT_LEADERS: _cluster(Op.ALTER),
    ApiKey.ALTER_PARTITION_REASSIGNMENTS: _cluster(Op.ALTER),
    ApiKey.LIST_PARTITION_REASSIGNMENTS: _cluster(Op.DESCRIBE),
    ApiKey.OFFSET_DELETE: (Check(R.GROUP, Op.DELETE, ErrorCode.GROUP_AUTHORIZATION_FAILED, _group),),
    ApiKey.DESCRIBE_CLIENT_QUOTAS: _cluster(Op.DESCRIBE_CONFIGS),
    ApiKey.ALTER_CLIENT_QUOTAS: _cluster(Op.ALTER_CONFIGS),
    ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS: _cluster(Op.DESCRIBE),
    ApiKey.ALTER_USER_SCRAM_CREDENTIALS: _cluster(Op.ALTER),
    ApiKey.DESCRIBE_CLUSTER: (),  # Kafka 4 answers everyone; cluster_authorized_operations shows what is allowed
    ApiKey.DESCRIBE_PRODUCERS: IN_HANDLER,  # READ per topic
    ApiKey.DESCRIBE_TRANSACTIONS: IN_HANDLER,  # DESCRIBE per transactional id
    ApiKey.LIST_TRANSACTIONS: IN_HANDLER,  # only the transactional ids the principal may describe
    ApiKey.CONSUMER_GROUP_HEARTBEAT: (GROUP_READ,),  # and DESCRIBE on the subscribed topics
    ApiKey.CONSUMER_GROUP_DESCRIBE: IN_HANDLER,  # DESCRIBE per group
}


def host_of(ctx) -> str:
    """The client's address as ACLs name hosts ("127.0.0.1", not Kafka's "/127.0.0.1" of group members)."""
    return ctx.client_host.lstrip("/")


def allowed(ctx, operation: int, resource_type: int, name: str = CLUSTER_NAME) -> bool:
    """Whether the request's principal may do ``operation`` on the resource (always, without an authorizer)."""
    acls = ctx.state.acls
    return not acls.enabled or acls.authorize(ctx.principal, host_of(ctx), operation, resource_type, name)


def any_allowed(ctx, operation: int, resource_type: int) -> bool:
    """Whether the principal may do ``operation`` on some resource of the type (Kafka's authorizeByResourceType)."""
    acls = ctx.state.acls
    return not acls.enabled or acls.any_allowed(ctx.principal, host_of(ctx), operation, resource_type)


def topic_allowed(ctx, operation: int, topic: str) -> bool:
    return allowed(ctx, operation, R.TOPIC, topic)


def require_topic(ctx, operation: int, topic: str) -> None:
    """TOPIC_AUTHORIZATION_FAILED unless the principal may do ``operation`` on ``topic``."""
    if ctx.state.acls.enabled and not topic_allowed(ctx, operation, topic):
        raise KafkaError(ErrorCode.TOPIC_AUTHORIZATION_FAILED)


def enabled(ctx) -> bool:
    """Whether an authorizer is configured (handlers skip all checks when not)."""
    return ctx.state.acls.enabled


def host(ctx) -> str:
    return host_of(ctx)


def cluster_allowed(ctx, operation: int) -> bool:
    return allowed(ctx, operation, R.CLUSTER, CLUSTER_NAME)


def allowed_topics(ctx, operation: int, names: Iterable[str]) -> set[str]:
    """The names among ``names`` the principal may do ``operation`` on (all of them with the authorizer off)."""
    names = set(names)
    if not ctx.state.acls.enabled:
        return names
    return {n for n in names if topic_allowed(ctx, operation, n)}


def denied_topics(ctx, operation: int, names: Iterable[str]) -> set[str]:
    """The names among ``names`` the principal may not do ``operation`` on (none with the authorizer off)."""
    if not ctx.state.acls.enabled:
        return set()
    names = set(names)
    return names - allowed_topics(ctx, operation, names)


def allowed_by_resource_type(ctx, operation: int, resource_type: int) -> bool:
    return any_allowed(ctx, operation, resource_type)


#: config resource type (DescribeConfigs, AlterConfigs) -> (ACL resource type, error when refused): Kafka's
#: configsAuthorizationApiError. 2 TOPIC, 4 BROKER, 8 BROKER_LOGGER, 32 GROUP.
_CONFIG_RESOURCES = {2: (R.TOPIC, ErrorCode.TOPIC_AUTHORIZATION_FAILED),
                     4: (R.CLUSTER, ErrorCode.CLUSTER_AUTHORIZATION_FAILED),
                     8: (R.CLUSTER, ErrorCode.CLUSTER_AUTHORIZATION_FAILED),
                     32: (R.GROUP, ErrorCode.GROUP_AUTHORIZATION_FAILED)}


def config_resource_error(ctx, operation: int, config_resource_type: int, name: str) -> int:
    """0, or the error Kafka answers when ``operation`` (DESCRIBE_CONFIGS / ALTER_CONFIGS) on a config resource
    is refused (brokers are checked on the CLUSTER)."""
    if not ctx.state.acls.enabled:
        return 0
    target = _CONFIG_RESOURCES.get(config_resource_type)
    if target is None:
        return 0  # unknown types are refused by the handler itself
    rtype, code = target
    return 0 if allowed(ctx, operation, rtype, CLUSTER_NAME if rtype == R.CLUSTER else name) else code


def failed_check(ctx, api_key: int, req: Any, version: int) -> Check | None:
    """The first dispatch-time check of ``ACLS[api_key]`` the request fails, or None."""
    checks = ACLS.get(api_key, ())
    if checks == IN_HANDLER:
        return None
    for check in checks:  # type: ignore[union-attr]
        if check.name_of is None:
            name: str | None = CLUSTER_NAME
        else:
            name = check.name_of(req, version)
            if name is None:
                continue
        if not allowed(ctx, check.operation, check.resource_type, name):
            return check
    return None


def authorized_operations(ctx, resource_type: int, name: str = CLUSTER_NAME) -> int:
    """The include_*_authorized_operations bit field for the request's principal."""
    return ctx.state.acls.authorized_operations(ctx.principal, host_of(ctx), resource_type, name)

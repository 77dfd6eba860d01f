"""ACLs as Kafka's StandardAuthorizer keeps and checks them.

A binding is (resource type, resource name, pattern type LITERAL or PREFIXED, principal, host, operation,
permission). A request is allowed when:

- its principal is a super user (``super.users``); else
- no DENY binding matches it, and an ALLOW binding does; else
- no binding at all names the resource and ``allow.everyone.if.no.acl.found`` is set.

A binding matches a resource when it is LITERAL with the resource's name or ``*``, or PREFIXED with a prefix
of the name; it matches a request when its principal is the request's or ``User:*``, its host the client's
address or ``*``, and its operation the one asked for, or ALL; an ALLOW of READ, WRITE, DELETE or ALTER also
allows DESCRIBE, and an ALLOW of ALTER_CONFIGS also DESCRIBE_CONFIGS (Kafka's implied operations; a DENY
implies nothing). Filters (DescribeAcls, DeleteAcls) match bindings with ANY and MATCH as Kafka's
ResourcePatternFilter and AccessControlEntryFilter do. With the authorizer off everything is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum

from kafkasim.config import BrokerConfig
from kafkasim.errors import ErrorCode, KafkaError


class ResourceType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AclOperation(IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14
    TWO_PHASE_COMMIT = 15


class AclPermission(IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


CLUSTER_NAME = "kafka-cluster"
WILDCARD = "*"
#: "not requested" value of the include_*_authorized_operations fields
NOT_REQUESTED = -2147483648
Op = AclOperation
#: operations that make sense per resource type (Kafka's AclEntry.supportedOperations)
SUPPORTED_OPERATIONS = {
    ResourceType.TOPIC: (Op.READ, Op.WRITE, Op.CREATE, Op.DESCRIBE, Op.DELETE, Op.ALTER, Op.DESCRIBE_CONFIGS,
                         Op.ALTER_CONFIGS),
    ResourceType.GROUP: (Op.READ, Op.DESCRIBE, Op.DELETE),
    ResourceType.CLUSTER: (Op.CREATE, Op.CLUSTER_ACTION, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS, Op.IDEMPOTENT_WRITE,
                           Op.ALTER, Op.DESCRIBE),
    ResourceType.TRANSACTIONAL_ID: (Op.DESCRIBE, Op.WRITE, Op.TWO_PHASE_COMMIT),
    ResourceType.DELEGATION_TOKEN: (Op.DESCRIBE,),
    ResourceType.USER: (Op.CREATE_TOKENS, Op.DESCRIBE_TOKENS),
}
#: an ALLOW of the key's operation also allows these (Kafka's implied operations)
_IMPLIES = {Op.READ: (Op.DESCRIBE,), Op.WRITE: (Op.DESCRIBE,), Op.DELETE: (Op.DESCRIBE,), Op.ALTER: (Op.DESCRIBE,),
            Op.ALTER_CONFIGS: (Op.DESCRIBE_CONFIGS,)}


@dataclass(frozen=True, slots=True)
class AclBinding:
    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission: int

    def as_list(self) -> list:
        return [self.resource_type, self.resource_name, self.pattern_type, self.principal, self.host,
                self.operation, self.permission]


@dataclass(frozen=True, slots=True)
class AclFilter:
    """None for a string field matches any value; ANY for an enum field."""

    resource_type: int = ResourceType.ANY
    resource_name: str | None = None
    pattern_type: int = PatternType.ANY
    principal: str | None = None
    host: str | None = None
    operation: int = AclOperation.ANY
    permission: int = AclPermission.ANY

    def validate(self) -> None:
        """Kafka refuses filters with UNKNOWN values (INVALID_REQUEST)."""
        if ResourceType.UNKNOWN in (self.resource_type,) or self.pattern_type == PatternType.UNKNOWN \
                or self.operation == AclOperation.UNKNOWN or self.permission == AclPermission.UNKNOWN:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "The filter has an UNKNOWN element")
        _known(ResourceType, self.resource_type, "resource type")
        _known(PatternType, self.pattern_type, "pattern type")
        _known(AclOperation, self.operation, "operation")
        _known(AclPermission, self.permission, "permission type")

    def matches(self, b: AclBinding) -> bool:
        if self.resource_type != ResourceType.ANY and self.resource_type != b.resource_type:
            return False
        name = self.resource_name
        pt = self.pattern_type
        if pt in (PatternType.LITERAL, PatternType.PREFIXED):
            if b.pattern_type != pt or (name is not None and name != b.resource_name):
                return False
        elif pt == PatternType.ANY:
            if name is not None and name != b.resource_name:
                return False
        elif pt == PatternType.MATCH and name is not None:
            if b.pattern_type == PatternType.LITERAL:
                if b.resource_name not in (name, WILDCARD):
                    return False
            elif not name.startswith(b.resource_name):
                return False
        return ((self.principal is None or self.principal == b.principal)
                and (self.host is None or self.host == b.host)
                and (self.operation == AclOperation.ANY or self.operation == b.operation)
                and (self.permission == AclPermission.ANY or self.permission == b.permission))


def _known(enum: type[IntEnum], value: int, what: str) -> None:
    try:
        enum(value)
    except ValueError:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown {what} {value}") from None


def validate_binding(b: AclBinding) -> None:
    """Kafka's checks of a new ACL (AclControlManager.validateNewAcl, AclApis): INVALID_REQUEST otherwise."""
    _known(ResourceType, b.resource_type, "resource type")
    _known(PatternType, b.pattern_type, "pattern type")
    _known(AclOperation, b.operation, "operation")
    _known(AclPermission, b.permission, "permission type")
    if b.resource_type in (ResourceType.UNKNOWN, ResourceType.ANY):
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Invalid resourceType {ResourceType(b.resource_type).name}")
    if b.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Invalid patternType {PatternType(b.pattern_type).name}")
    if b.operation in (AclOperation.UNKNOWN, AclOperation.ANY):
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Invalid operation {AclOperation(b.operation).name}")
    if b.permission in (AclPermission.UNKNOWN, AclPermission.ANY):
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Invalid permissionType {AclPermission(b.permission).name}")
    if not b.resource_name:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Resource name should not be empty")
    if b.resource_type == ResourceType.CLUSTER and b.resource_name != CLUSTER_NAME:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "The only valid name for the CLUSTER resource is kafka-cluster")
    kind, sep, name = b.principal.partition(":")
    if not sep or not kind or not name:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Could not parse principal from `{b.principal}` (no colon is "
                                                    "present separating the principal type from name)")
    if not b.host:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Host should not be empty")


class Acls:
    """The ACL bindings of the cluster and the authorizer that checks them."""

    def __init__(self, config: BrokerConfig) -> None:
        self.enabled = config.authorizer
        self.super_users = frozenset(config.super_users)
        self.allow_everyone_if_no_acl_found = config.allow_everyone_if_no_acl_found
        self.bindings: dict[AclBinding, None] = {}  # insertion-ordered set
        #: (binding, added?) to keep (persistence)
        self.on_change: Callable[[AclBinding, bool], None] | None = None

    # ------------------------------------------------------------------ CreateAcls, DescribeAcls, DeleteAcls

    def create(self, bindings: Iterable[AclBinding]) -> list[KafkaError | None]:
        """Per binding: None (created, or already there) or the KafkaError that refused it."""
        out: list[KafkaError | None] = []
        for b in bindings:
            try:
                validate_binding(b)
            except KafkaError as exc:
                out.append(exc)
                continue
            if b not in self.bindings:
                self.bindings[b] = None
                if self.on_change is not None:
                    self.on_change(b, True)
            out.append(None)
        return out

    def describe(self, f: AclFilter) -> list[AclBinding]:
        f.validate()
        return [b for b in self.bindings if f.matches(b)]

    def delete(self, filters: Iterable[AclFilter]) -> list[list[AclBinding] | KafkaError]:
        """Per filter: the bindings it deleted, or the KafkaError of an invalid filter. A binding two filters
        match is reported by the first."""
        out: list[list[AclBinding] | KafkaError] = []
        for f in filters:
            try:
                f.validate()
            except KafkaError as exc:
                out.append(exc)
                continue
            matched = [b for b in self.bindings if f.matches(b)]
            for b in matched:
                del self.bindings[b]
                if self.on_change is not None:
                    self.on_change(b, False)
            out.append(matched)
        return out

    def restore(self, b: AclBinding) -> None:
        self.bindings[b] = None

    # ------------------------------------------------------------------ authorization

    def authorize(self, principal: str, host: str, operation: int, resource_type: int, name: str) -> bool:
        """Whether ``principal`` connected from ``host`` (the bare address) may do ``operation`` on the
        resource."""
        if not self.enabled or principal in self.super_users:
            return True
        matched_resource = False
        allowed = False
        for b in self.bindings:
            if b.resource_type != resource_type:
                continue
            if b.pattern_type == PatternType.LITERAL:
                if b.resource_name != name and b.resource_name != WILDCARD:
                    continue
            elif not name.startswith(b.resource_name):
                continue
            matched_resource = True
            if b.principal != principal and not (b.principal == "User:*" and principal.startswith("User:")):
                continue
            if b.host != WILDCARD and b.host != host:
                continue
            if b.permission == AclPermission.DENY:
                if b.operation in (operation, AclOperation.ALL):
                    return False
            elif b.operation in (operation, AclOperation.ALL) or operation in _IMPLIES.get(b.operation, ()):
                allowed = True
        if allowed:
            return True
        return not matched_resource and self.allow_everyone_if_no_acl_found

    def any_allowed(self, principal: str, host: str, operation: int, resource_type: int) -> bool:
        """Kafka's authorizeByResourceType: some binding of the type ALLOWs the operation to the principal (a
        DENY of the same pattern cancels it); or no binding names the type and everyone is allowed then."""
        if not self.enabled or principal in self.super_users:
            return True
        of_type = [b for b in self.bindings if b.resource_type == resource_type]
        if not of_type:
            return self.allow_everyone_if_no_acl_found

        def applies(b: AclBinding) -> bool:
            return ((b.principal == principal or (b.principal == "User:*" and principal.startswith("User:")))
                    and b.host in (WILDCARD, host) and b.operation in (operation, AclOperation.ALL))

        denied = {(b.resource_name, b.pattern_type) for b in of_type
                  if b.permission == AclPermission.DENY and applies(b)}
        if any(name == WILDCARD for name, pt in denied if pt == PatternType.LITERAL):
            return False
        return any(b.permission == AclPermission.ALLOW and applies(b) and (b.resource_name, b.pattern_type) not in denied
                   for b in of_type)

    def authorized_operations(self, principal: str, host: str, resource_type: int, name: str) -> int:
        """The include_*_authorized_operations bit field: bit N for each operation of code N allowed."""
        bits = 0
        for op in SUPPORTED_OPERATIONS.get(ResourceType(resource_type), ()):
            if self.authorize(principal, host, op, resource_type, name):
                bits |= 1 << op
        return bits

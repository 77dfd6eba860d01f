"""The StandardAuthorizer's semantics (state/acls.py): patterns, DENY over ALLOW, implied operations, super
users, allow.everyone.if.no.acl.found, filters with ANY and MATCH, validation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kafkasim.config import BrokerConfig
from kafkasim.errors import ErrorCode
from kafkasim.state.acls import (
    AclBinding,
    AclFilter,
    AclOperation,
    AclPermission,
    Acls,
    PatternType,
    ResourceType,
)

T, G, C = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER
LIT, PRE = PatternType.LITERAL, PatternType.PREFIXED
Op = AclOperation
ALLOW, DENY = AclPermission.ALLOW, AclPermission.DENY
HOST = "127.0.0.1"


def acls(**config) -> Acls:
    return Acls(BrokerConfig(authorizer=True, **config))


def bind(rtype=T, name="orders", pattern=LIT, principal="User:alice", host="*", op=Op.READ, perm=ALLOW) -> AclBinding:
    return AclBinding(rtype, name, pattern, principal, host, op, perm)


def test_acls_disabled_allows_everything() -> None:
    a = Acls(BrokerConfig())
    assert a.authorize("User:x", HOST, Op.WRITE, T, "t")


def test_acls_literal_prefixed_and_wildcard() -> None:
    a = acls()
    a.create([bind(name="orders"), bind(name="pay", pattern=PRE, op=Op.WRITE), bind(name="*", op=Op.DESCRIBE,
                                                                                       principal="User:bob")])
    assert a.authorize("User:alice", HOST, Op.READ, T, "orders")
    assert not a.authorize("User:alice", HOST, Op.READ, T, "orders2")
    assert a.authorize("User:alice", HOST, Op.WRITE, T, "payments")
    assert not a.authorize("User:alice", HOST, Op.WRITE, T, "pa")
    assert a.authorize("User:bob", HOST, Op.DESCRIBE, T, "anything")
    assert not a.authorize("User:bob", HOST, Op.READ, T, "anything")


def test_acls_deny_wins_and_implied_operations() -> None:
    a = acls()
    a.create([bind(name="pay", pattern=PRE, op=Op.ALL), bind(name="payroll", op=Op.READ, perm=DENY)])
    assert a.authorize("User:alice", HOST, Op.READ, T, "payments")
    assert not a.authorize("User:alice", HOST, Op.READ, T, "payroll")
    assert a.authorize("User:alice", HOST, Op.DESCRIBE, T, "payroll")  # a DENY implies nothing
    b = acls()
    b.create([bind(op=Op.WRITE), bind(rtype=T, name="cfg", op=Op.ALTER_CONFIGS)])
    assert b.authorize("User:alice", HOST, Op.DESCRIBE, T, "orders")
    assert b.authorize("User:alice", HOST, Op.DESCRIBE_CONFIGS, T, "cfg")
    assert not b.authorize("User:alice", HOST, Op.READ, T, "orders")


def test_acls_principal_and_host_wildcards_super_users_and_no_acl_found() -> None:
    a = acls(super_users=("User:admin",), allow_everyone_if_no_acl_found=True)
    a.create([bind(principal="User:*", host="10.0.0.1")])
    assert a.authorize("User:carol", "10.0.0.1", Op.READ, T, "orders")
    assert not a.authorize("User:carol", HOST, Op.READ, T, "orders")  # ACLs exist on it: no everyone rule
    assert a.authorize("User:carol", HOST, Op.WRITE, T, "unguarded")  # no ACL names it
    assert a.authorize("User:admin", HOST, Op.DELETE, T, "orders")
    assert not acls().authorize("User:carol", HOST, Op.WRITE, T, "unguarded")


def test_acls_any_allowed_by_resource_type() -> None:
    a = acls()
    assert not a.any_allowed("User:alice", HOST, Op.WRITE, T)
    a.create([bind(op=Op.WRITE)])
    assert a.any_allowed("User:alice", HOST, Op.WRITE, T)
    a.create([bind(op=Op.WRITE, perm=DENY)])
    assert not a.any_allowed("User:alice", HOST, Op.WRITE, T)


def test_acls_filters_any_and_match() -> None:
    a = acls()
    lit, pre, star = bind(name="orders"), bind(name="ord", pattern=PRE), bind(name="*", principal="User:bob")
    a.create([lit, pre, star, bind(rtype=G, name="g")])
    assert a.describe(AclFilter(T, "orders", PatternType.ANY)) == [lit]
    assert a.describe(AclFilter(T, "orders", PatternType.MATCH)) == [lit, pre, star]
    assert a.describe(AclFilter(T, None, PRE)) == [pre]
    assert a.describe(AclFilter(principal="User:bob")) == [star]
    assert len(a.describe(AclFilter())) == 4
    assert a.delete([AclFilter(G), AclFilter(G)]) == [[bind(rtype=G, name="g")], []]
    assert len(a.describe(AclFilter())) == 3


def test_acls_validation_errors_are_invalid_request() -> None:
    a = acls()
    bad = [bind(rtype=ResourceType.ANY), bind(pattern=PatternType.MATCH), bind(op=Op.ANY), bind(perm=AclPermission.ANY),
           bind(name=""), bind(rtype=C, name="other"), bind(principal="alice"), bind(host="")]
    assert [e.code if e else None for e in a.create(bad)] == [ErrorCode.INVALID_REQUEST] * len(bad)
    assert a.create([bind(), bind()]) == [None, None] and len(a.bindings) == 1  # idempotent


def test_acls_authorized_operations_bits() -> None:
    a = acls()
    a.create([bind(op=Op.WRITE)])
    bits = a.authorized_operations("User:alice", HOST, T, "orders")
    assert bits == (1 << Op.WRITE) | (1 << Op.DESCRIBE)


names = st.sampled_from(["a", "ab", "abc", "*", "b"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.builds(bind, rtype=st.sampled_from([T, G]), name=names, pattern=st.sampled_from([LIT, PRE]),
                          principal=st.sampled_from(["User:alice", "User:*", "User:bob"]),
                          op=st.sampled_from([Op.READ, Op.WRITE, Op.ALL, Op.DESCRIBE]),
                          perm=st.sampled_from([ALLOW, DENY])), max_size=6),
       st.builds(AclFilter, resource_type=st.sampled_from([ResourceType.ANY, T, G]),
                 resource_name=st.one_of(st.none(), names),
                 pattern_type=st.sampled_from([PatternType.ANY, PatternType.MATCH, LIT, PRE])))
def test_acls_fuzz_filters_and_deletes_agree(bindings: list[AclBinding], f: AclFilter) -> None:
    a = acls()
    a.create(bindings)
    described = a.describe(f)
    (deleted,) = a.delete([f])
    assert deleted == described
    assert not any(f.matches(b) for b in a.bindings)
    for b in a.bindings:
        a.authorize("User:alice", HOST, Op.READ, b.resource_type, b.resource_name)

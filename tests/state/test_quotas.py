"""Client quotas: Kafka's precedence, validation and messages, describe filters, window maths, persistence."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkasim.config import BrokerConfig
from kafkasim.errors import ErrorCode, KafkaError
from kafkasim.state.clock import ManualClock
from kafkasim.state.cluster import ClusterState
from kafkasim.state.quotas import (
    CLIENT_ID,
    CONSUMER_BYTE_RATE,
    IP,
    MATCH_DEFAULT,
    MATCH_EXACT,
    MATCH_SPECIFIED,
    PRODUCER_BYTE_RATE,
    REQUEST_PERCENTAGE,
    USER,
    AlterOp,
    ClientQuotas,
    RateSensor,
    quota_user,
)


def put(q: ClientQuotas, entity: list, key: str = PRODUCER_BYTE_RATE, value: float = 1000.0) -> None:
    [r] = q.alter([(entity, [AlterOp(key, value, False)])], False)
    assert r.error_code == 0, r


def alter_one(q: ClientQuotas, entity: list, *ops: AlterOp) -> tuple[int, str | None]:
    [r] = q.alter([(entity, list(ops))], False)
    return r.error_code, r.error_message


# ------------------------------------------------------------------------------------------- precedence

LEVELS = [
    [(USER, "alice"), (CLIENT_ID, "app")],
    [(USER, "alice"), (CLIENT_ID, None)],
    [(USER, "alice")],
    [(USER, None), (CLIENT_ID, "app")],
    [(USER, None), (CLIENT_ID, None)],
    [(USER, None)],
    [(CLIENT_ID, "app")],
    [(CLIENT_ID, None)],
]


@pytest.mark.parametrize("level", range(len(LEVELS)))
def test_quotas_precedence_most_specific_level_wins(level: int) -> None:
    """With every level from ``level`` down configured, the one at ``level`` applies (Kafka's order)."""
    q = ClientQuotas()
    for i in range(level, len(LEVELS)):
        put(q, LEVELS[i], value=float(1000 + i))
    assert q.quota_for(PRODUCER_BYTE_RATE, "alice", "app") == 1000 + level


def test_quotas_precedence_other_names_do_not_match() -> None:
    q = ClientQuotas()
    put(q, [(USER, "bob")], value=5)
    put(q, [(CLIENT_ID, "other")], value=6)
    assert q.quota_for(PRODUCER_BYTE_RATE, "alice", "app") is None
    put(q, [(CLIENT_ID, None)], value=7)
    assert q.quota_for(PRODUCER_BYTE_RATE, "alice", "app") == 7
    assert q.quota_for(PRODUCER_BYTE_RATE, "bob", "app") == 5
    assert q.quota_for(CONSUMER_BYTE_RATE, "bob", "app") is None  # per key


def test_quotas_user_quota_is_shared_by_the_users_client_ids() -> None:
    q = ClientQuotas()
    put(q, [(USER, "alice")], value=1000)
    assert q.record_produce("User:alice", "a", 6000, 0) == 0  # 600 B/s over the 10 s assumed
    assert q.record_produce("User:alice", "b", 6000, 0) == 2000  # 1,200 B/s together
    assert q.record_produce("User:bob", "a", 10**9, 0) == 0  # no quota for bob
    put(q, [(CLIENT_ID, "x")], value=1000)
    assert q.record_produce("User:carol", "x", 6000, 0) == 0
    assert q.record_produce("User:dave", "x", 6000, 0) == 2000  # a client-id quota: shared by its users
    assert q.record_produce("User:alice", "x", 1, 0) > 0  # alice's user quota applies, not the client id's


def test_quotas_principal_names() -> None:
    assert quota_user("User:alice") == "alice"
    assert quota_user("User:ANONYMOUS") == "ANONYMOUS"
    assert quota_user("User:CN=a,O=b") == "CN=a,O=b"


# ------------------------------------------------------------------------------------------- window maths


def test_rate_assumes_ten_full_windows_at_first() -> None:
    s = RateSensor()
    s.record(5000, 0)
    assert s.window_ms(0) == 10_000
    assert s.rate(0) == 500.0
    assert s.window_ms(2500) == 12_500 - 2000  # 2 full windows elapsed: 8 assumed
    assert s.rate(2500) == 5000 / 10.5


def test_rate_forgets_samples_older_than_the_windows() -> None:
    s = RateSensor()
    s.record(5000, 0)
    assert s.rate(10_999) == pytest.approx(5000 / 10.999)
    assert s.rate(11_000) == 0.0  # the sample has no event in the last 11 windows


def test_throttle_time_is_excess_over_quota_times_window() -> None:
    clock = ManualClock(1_000_000)
    q = ClientQuotas()
    put(q, [(USER, "alice")], value=1000)
    assert q.record_produce("User:alice", "c", 10_000, clock.now) == 0  # 10,000 B over 10 s: at the quota
    # 15,000 B over 10 s = 1,500 B/s: (1500 - 1000) / 1000 * 10,000 ms
    assert q.record_produce("User:alice", "c", 5000, clock.now) == 5000
    clock.advance(100)
    # 15,100 B over 10.1 s: (1495.05 - 1000) / 1000 * 10,100
    assert q.record_produce("User:alice", "c", 100, clock.now) == round((15100 / 10.1 - 1000) / 1000 * 10_100)


def test_throttle_steady_rate_over_quota_converges_to_its_excess() -> None:
    clock = ManualClock(0)
    q = ClientQuotas()
    put(q, [(CLIENT_ID, "app")], value=1000)
    throttle = 0
    for _ in range(200):  # 2,000 B/s for 20 s
        throttle = q.record_produce("User:x", "app", 200, clock.now)
        clock.advance(100)
    # the window spans 11 s once 12 samples are kept: (2000 - 1000) / 1000 * ~11 s
    assert 10_000 <= throttle <= 12_000


def test_throttle_lifted_when_the_quota_is_removed() -> None:
    clock = ManualClock(0)
    q = ClientQuotas()
    put(q, [(USER, None)], value=10)
    assert q.record_produce("User:a", "c", 10_000, clock.now) > 0
    [r] = q.alter([([(USER, None)], [AlterOp(PRODUCER_BYTE_RATE, 0, True)])], False)
    assert r.error_code == 0 and not q.producing and not q.active
    assert q.record_produce("User:a", "c", 10_000, clock.now) == 0


def test_request_percentage_throttle_is_capped_at_one_window() -> None:
    q = ClientQuotas()
    put(q, [(USER, "a")], key=REQUEST_PERCENTAGE, value=1.0)
    assert q.record_request_time("User:a", "c", 10 * 10**9, 0) == 1000


def test_fetch_unrecord_and_max_bytes() -> None:
    q = ClientQuotas()
    assert q.fetch_max_bytes("User:a", "c") is None
    put(q, [(CLIENT_ID, "c")], key=CONSUMER_BYTE_RATE, value=100)
    assert q.fetch_max_bytes("User:a", "c") == 1000  # quota * (11 - 1) windows of 1 s
    assert q.fetch_max_bytes("User:a", "other") is None
    t = q.record_fetch("User:a", "c", 5000, 0)
    assert t > 0
    q.unrecord_fetch("User:a", "c", 5000, 0)
    assert q.record_fetch("User:a", "c", 500, 0) == 0


def test_no_quota_fast_path_records_nothing() -> None:
    q = ClientQuotas()
    assert not q.active
    assert q.record_produce("User:a", "c", 10**12, 0) == 0
    assert q._produce.sensors == {}
    put(q, [(IP, None)], key="connection_creation_rate", value=5)
    assert not q.active  # ip quotas are not enforced on produce or fetch


# ------------------------------------------------------------------------------------------- alter


@pytest.mark.parametrize(("entity", "ops", "message"), [
    ([], [AlterOp(PRODUCER_BYTE_RATE, 1, False)], "Invalid empty client quota entity"),
    ([("group", "g")], [], "Unhandled client quota entity type: group"),
    ([(USER, "")], [], "Empty user not supported"),
    ([(IP, "1.2.3.4"), (USER, "a")], [],
     "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"),
    ([(IP, "not an ip")], [], "not an ip is not a valid IP or resolvable host."),
    ([(USER, "a")], [AlterOp("connection_creation_rate", 1, False)], "Invalid configuration key connection_creation_rate"),
    ([(IP, "::1")], [AlterOp(PRODUCER_BYTE_RATE, 1, False)], "Invalid configuration key producer_byte_rate"),
    ([(USER, "a")], [AlterOp("nope", 1, False)], "Invalid configuration key nope"),
    ([(USER, "a")], [AlterOp(PRODUCER_BYTE_RATE, 0, False)], "Quota producer_byte_rate must be greater than 0"),
    ([(USER, "a")], [AlterOp(REQUEST_PERCENTAGE, -1.5, False)], "Quota request_percentage must be greater than 0"),
    ([(USER, "a")], [AlterOp(PRODUCER_BYTE_RATE, 1.5, False)], "producer_byte_rate cannot be a fractional value."),
    ([(USER, "a")], [AlterOp(CONSUMER_BYTE_RATE, 1e19, False)],
     "Proposed value for consumer_byte_rate is too large for a LONG."),
    ([(IP, None)], [AlterOp("connection_creation_rate", 2.0**31, False)],
     "Proposed value for connection_creation_rate is too large for an INT."),
    ([(USER, "a"), (CLIENT_ID, "b")], [AlterOp(PRODUCER_BYTE_RATE, 1, False), AlterOp(PRODUCER_BYTE_RATE, 2, False)],
     "Ignoring duplicate entity ClientQuotaEntity(entries={client-id=b, user=a})"),
])
def test_alter_refuses_as_kafka_does(entity: list, ops: list, message: str) -> None:
    q = ClientQuotas()
    assert alter_one(q, entity, *ops) == (ErrorCode.INVALID_REQUEST, message)
    assert q.quotas == {}


def test_alter_accepts_kafka_values_and_applies_each_valid_entity() -> None:
    q = ClientQuotas()
    results = q.alter([
        ([(USER, "a")], [AlterOp(PRODUCER_BYTE_RATE, 1024, False), AlterOp(REQUEST_PERCENTAGE, 12.5, False)]),
        ([(USER, "b")], [AlterOp(PRODUCER_BYTE_RATE, 1.5, False), AlterOp(CONSUMER_BYTE_RATE, 10, False)]),
        ([(IP, "10.0.0.1")], [AlterOp("connection_creation_rate", 7, False)]),
        ([(USER, "c")], [AlterOp("controller_mutation_rate", 0.5, False), AlterOp("unset", 0, True)]),
    ], False)
    assert [r.error_code for r in results] == [0, ErrorCode.INVALID_REQUEST, 0, 0]
    assert q.quotas == {((USER, "a"),): {PRODUCER_BYTE_RATE: 1024.0, REQUEST_PERCENTAGE: 12.5},
                        ((IP, "10.0.0.1"),): {"connection_creation_rate": 7.0},
                        ((USER, "c"),): {"controller_mutation_rate": 0.5}}


def test_alter_validate_only_changes_nothing() -> None:
    q = ClientQuotas()
    [r] = q.alter([([(USER, "a")], [AlterOp(PRODUCER_BYTE_RATE, 10, False)])], True)
    assert r.error_code == 0 and q.quotas == {} and not q.producing


def test_alter_duplicate_entity_second_refused_first_applied() -> None:
    q = ClientQuotas()
    results = q.alter([([(USER, "a")], [AlterOp(PRODUCER_BYTE_RATE, 10, False)]),
                       ([(USER, "a")], [AlterOp(CONSUMER_BYTE_RATE, 10, False)])], False)
    assert [(r.entity, r.error_code) for r in results] == [([(USER, "a")], ErrorCode.INVALID_REQUEST)]
    assert q.quotas == {((USER, "a"),): {PRODUCER_BYTE_RATE: 10.0}}


def test_alter_remove_last_key_removes_entity() -> None:
    q = ClientQuotas()
    put(q, [(USER, "a"), (CLIENT_ID, None)])
    assert alter_one(q, [(CLIENT_ID, None), (USER, "a")], AlterOp(PRODUCER_BYTE_RATE, 0, True)) == (0, None)
    assert q.quotas == {}


entity_types = st.sampled_from([USER, CLIENT_ID, IP, "", "group", "user "])
names = st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["1.2.3.4", "::1", "a"]))
keys = st.sampled_from([PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE, REQUEST_PERCENTAGE, "controller_mutation_rate",
                        "connection_creation_rate", "", "x"])
values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**20).map(float))
ops = st.builds(AlterOp, keys, values, st.booleans())
entries = st.lists(st.tuples(st.lists(st.tuples(entity_types, names), max_size=3), st.lists(ops, max_size=4)),
                   max_size=5)


@settings(max_examples=300, deadline=None)
@given(entries, st.booleans())
def test_alter_fuzz_never_crashes_and_keeps_only_valid_quotas(batch: list, validate_only: bool) -> None:
    q = ClientQuotas()
    results = q.alter(batch, validate_only)
    assert len(results) == len({tuple(sorted(dict(e).items())) for e, _ in batch})
    for r in results:
        assert r.error_code in (0, ErrorCode.INVALID_REQUEST)
    if validate_only:
        assert q.quotas == {}
    for entity, vals in q.quotas.items():
        assert vals and all(v > 0 or math.isnan(v) for v in vals.values())
        types = {t for t, _ in entity}
        assert types and (types == {IP} or IP not in types)
    for _ in range(3):  # enforcement copes with whatever was accepted (NaN and huge quotas too)
        assert q.record_produce("User:a", "a", 10**6, 0) >= 0
        assert q.record_fetch("User:a", None, 10**6, 0) >= 0
        assert q.record_request_time("User:a", "a", 10**9, 0) >= 0


# ------------------------------------------------------------------------------------------- describe


@pytest.fixture
def described() -> ClientQuotas:
    q = ClientQuotas()
    for i, entity in enumerate(LEVELS):
        put(q, entity, value=float(i + 1))
    put(q, [(USER, "bob")], value=100)
    put(q, [(IP, "1.2.3.4")], key="connection_creation_rate", value=3)
    put(q, [(IP, None)], key="connection_creation_rate", value=4)
    return q


def desc(q: ClientQuotas, components: list, strict: bool = False) -> set:
    return {entity for entity, _ in q.describe(components, strict)}


def test_describe_filters(described: ClientQuotas) -> None:
    q = described
    assert len(desc(q, [])) == 11 and desc(q, [], strict=True) == set()
    assert desc(q, [(USER, MATCH_EXACT, "alice")]) == {
        ((CLIENT_ID, "app"), (USER, "alice")), ((CLIENT_ID, None), (USER, "alice")), ((USER, "alice"),)}
    assert desc(q, [(USER, MATCH_EXACT, "alice")], strict=True) == {((USER, "alice"),)}
    assert desc(q, [(USER, MATCH_DEFAULT, None)], strict=True) == {((USER, None),)}
    assert desc(q, [(USER, MATCH_SPECIFIED, None)], strict=True) == {((USER, "alice"),), ((USER, None),),
                                                                      ((USER, "bob"),)}
    assert desc(q, [(USER, MATCH_DEFAULT, None), (CLIENT_ID, MATCH_SPECIFIED, None)]) == {
        ((CLIENT_ID, "app"), (USER, None)), ((CLIENT_ID, None), (USER, None))}
    assert desc(q, [(IP, MATCH_SPECIFIED, None)]) == {((IP, "1.2.3.4"),), ((IP, None),)}
    assert desc(q, [(CLIENT_ID, MATCH_EXACT, "nope")]) == set()
    [(_, values)] = q.describe([(USER, MATCH_EXACT, "bob")], True)
    assert values == {PRODUCER_BYTE_RATE: 100.0}


@pytest.mark.parametrize(("components", "code", "message"), [
    ([("", MATCH_SPECIFIED, None)], ErrorCode.INVALID_REQUEST, "Invalid empty entity type."),
    ([(USER, MATCH_SPECIFIED, None), (USER, MATCH_DEFAULT, None)], ErrorCode.INVALID_REQUEST,
     "Entity type user cannot appear more than once in the filter."),
    ([("group", MATCH_SPECIFIED, None)], ErrorCode.UNSUPPORTED_VERSION, "Unsupported entity type group"),
    ([(USER, MATCH_EXACT, None)], ErrorCode.INVALID_REQUEST,
     "Request specified MATCH_TYPE_EXACT, but set match string to null."),
    ([(USER, MATCH_DEFAULT, "a")], ErrorCode.INVALID_REQUEST,
     "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."),
    ([(USER, MATCH_SPECIFIED, "a")], ErrorCode.INVALID_REQUEST,
     "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."),
    ([(USER, 7, None)], ErrorCode.INVALID_REQUEST, "Unknown match type 7"),
    ([(IP, MATCH_SPECIFIED, None), (CLIENT_ID, MATCH_DEFAULT, None)], ErrorCode.INVALID_REQUEST,
     "Invalid entity filter component combination. IP filter component should not be used with user or "
     "clientId filter component."),
])
def test_describe_refuses_bad_filters(described: ClientQuotas, components: list, code: int, message: str) -> None:
    with pytest.raises(KafkaError) as e:
        described.describe(components, False)
    assert (e.value.code, e.value.message) == (code, message)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(entity_types, st.integers(-2, 4), names), max_size=4), st.booleans())
def test_describe_fuzz_answers_or_refuses(components: list, strict: bool) -> None:
    q = ClientQuotas()
    put(q, [(USER, "a")])
    try:
        q.describe(components, strict)
    except KafkaError as e:
        assert e.code in (ErrorCode.INVALID_REQUEST, ErrorCode.UNSUPPORTED_VERSION)


# ------------------------------------------------------------------------------------------- state, restart


def test_cluster_state_has_quotas_and_they_survive_a_restart(tmp_path) -> None:
    config = BrokerConfig(data_dir=str(tmp_path))
    state = ClusterState(config)
    state.open()
    put(state.quotas, [(USER, "alice"), (CLIENT_ID, None)], value=2048)
    put(state.quotas, [(IP, "127.0.0.1")], key="connection_creation_rate", value=9)
    put(state.quotas, [(USER, "gone")])
    assert alter_one(state.quotas, [(USER, "gone")], AlterOp(PRODUCER_BYTE_RATE, 0, True)) == (0, None)
    state.close()

    again = ClusterState(config)
    again.open()
    try:
        assert again.quotas.quotas == {((CLIENT_ID, None), (USER, "alice")): {PRODUCER_BYTE_RATE: 2048.0},
                                       ((IP, "127.0.0.1"),): {"connection_creation_rate": 9.0}}
        assert again.quotas.producing
        assert again.quotas.quota_for(PRODUCER_BYTE_RATE, "alice", "x") == 2048.0
    finally:
        again.close()

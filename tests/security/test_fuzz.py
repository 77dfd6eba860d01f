"""Hypothesis fuzz tests: the SASL servers, the principal rules, token validation and JWKS parsing fail only
with their documented exceptions, whatever they are given."""

from __future__ import annotations

import base64
import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkasim.security.oauthbearer import InvalidToken, OAuthBearerServer, OAuthSettings, load_jwks, validate_token
from kafkasim.security.principal import PrincipalMapper
from kafkasim.security.sasl import AuthenticationFailed, PlainServer, ScramServer

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NOW = 1_700_000_000_000


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def evaluate_only_fails_cleanly(server, token: bytes) -> None:
    try:
        out = server.evaluate(token, NOW)
    except AuthenticationFailed as exc:
        assert isinstance(exc.message, str) and exc.message
        assert not server.complete or server.principal is not None
        return
    assert isinstance(out, bytes)


# structured-ish byte strings: near misses of valid messages find more paths than uniform bytes
_pieces = st.sampled_from([b"\0", b",", b"=", b"n", b"y", b"p", b"a=", b"n=", b"r=", b"c=", b"p=", b"s=", b"i=",
                           b"=2C", b"=3D", b"alice", b"alice-secret", b"\x01", b"auth=Bearer ", b"n,,", b".",
                           b"\xff", b"m=", b"t=", b"biws"])
tokens = st.one_of(st.binary(max_size=300), st.lists(_pieces, max_size=20).map(b"".join))


@FUZZ
@given(tokens)
def test_plain_fuzz(users, token):
    evaluate_only_fails_cleanly(PlainServer(users), token)


@FUZZ
@given(st.sampled_from(["SCRAM-SHA-256", "SCRAM-SHA-512"]), tokens)
def test_scram_first_fuzz(users, mechanism, token):
    evaluate_only_fails_cleanly(ScramServer(mechanism, users), token)


@FUZZ
@given(st.sampled_from(["SCRAM-SHA-256", "SCRAM-SHA-512"]), tokens, st.booleans())
def test_scram_final_fuzz(users, scram_client, mechanism, token, with_prefix):
    server = ScramServer(mechanism, users)
    client = scram_client(mechanism, "alice", "alice-secret")
    server_first = server.evaluate(client.first(), NOW)
    if with_prefix:  # a final message with the right channel binding and nonce, then fuzz
        nonce = server_first.decode().split(",")[0][2:]
        token = f"c=biws,r={nonce}".encode() + token
    evaluate_only_fails_cleanly(server, token)
    if not server.complete:
        evaluate_only_fails_cleanly(server, client.final(server_first))


@FUZZ
@given(tokens, st.binary(max_size=10))
def test_oauthbearer_fuzz(token, second):
    server = OAuthBearerServer(OAuthSettings(required_scope=("s",)))
    evaluate_only_fails_cleanly(server, token)
    evaluate_only_fails_cleanly(server, second)


# Finite, float-sized numbers only: NaN, infinities and numbers whose exp * 1000 overflows a float are known bugs
# (test_oauthbearer.py::test_non_finite_exp_is_an_invalid_token, xfail), left out so this test checks the rest.
_numbers = st.integers(-(2**62), 2**62) | st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False)
_json = st.recursive(st.none() | st.booleans() | _numbers | st.text(max_size=10),
                     lambda children: st.lists(children, max_size=4)
                     | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=10)
_claims = st.fixed_dictionaries({}, optional={"sub": _json, "exp": _json, "iat": _json, "scope": _json,
                                              "aud": _json, "iss": _json})


@st.composite
def jwt_like(draw) -> str:
    header = draw(st.one_of(st.just({"alg": "none"}), st.dictionaries(st.sampled_from(["alg", "kid", "typ"]), _json)))
    claims = draw(st.one_of(_claims, _json))
    sig = draw(st.one_of(st.just(""), st.text(max_size=20), st.binary(max_size=70).map(b64url)))
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}.{sig}"


@FUZZ
@given(st.one_of(st.text(max_size=200), jwt_like(), st.lists(st.text(max_size=30), max_size=5).map(".".join)))
def test_validate_token_fuzz(token):
    for s in (OAuthSettings(), OAuthSettings(required_scope=("a",)), OAuthSettings(keys={}, audience=("x",))):
        try:
            name, exp = validate_token(token, s, NOW)
        except InvalidToken:
            continue
        assert isinstance(name, str) and isinstance(exp, int)


@FUZZ
@given(st.text(max_size=120))
def test_principal_mapper_fuzz(rules):
    try:
        mapper = PrincipalMapper(rules)
    except ValueError:
        return
    try:
        assert isinstance(mapper.name_for_dn("CN=alice,OU=x"), str)
    except ValueError:
        pass  # no rule applies
    except re.error:
        pass  # a replacement naming a missing group: a known bug (test_principal.py, xfail)


@FUZZ
@given(st.lists(st.sampled_from(["RULE:", "DEFAULT", "/", "$1", "\\", ",", " ", "(", ")", "^CN=", ".*", "L", "U",
                                 "[", "$", "$9", "?", "{2}"]), max_size=12).map("".join))
def test_principal_mapper_structured_fuzz(rules):
    test_principal_mapper_fuzz.hypothesis.inner_test(rules)


_b64_ints = st.one_of(st.text(max_size=12), st.binary(max_size=40).map(b64url), st.integers(), st.none())
_jwk = st.fixed_dictionaries({"kty": st.sampled_from(["RSA", "EC", "oct", 1])},
                             optional={"n": _b64_ints, "e": _b64_ints, "x": _b64_ints, "y": _b64_ints,
                                       "crv": st.sampled_from(["P-256", "P-384", "P-521", "X"]), "kid": _json})


@FUZZ
@given(st.one_of(st.text(max_size=100), _json.map(json.dumps),
                 st.lists(st.one_of(_jwk, _json), max_size=3).map(lambda ks: json.dumps({"keys": ks}))))
def test_load_jwks_fuzz(text):
    try:
        keys = load_jwks(text)
    except (ValueError, KeyError, TypeError):
        return
    assert isinstance(keys, dict)


@FUZZ
@given(jwt_like(), st.sampled_from(["n,,", "y,,", "n,a=alice,", "n,a=,"]))
def test_oauthbearer_token_fuzz(token, gs2):
    """Well-formed client messages around fuzzed tokens: an answer, or AuthenticationFailed, nothing else."""
    server = OAuthBearerServer(OAuthSettings(required_scope=("s",)))
    evaluate_only_fails_cleanly(server, f"{gs2}\x01auth=Bearer {token}\x01\x01".encode())
    if not server.complete:
        evaluate_only_fails_cleanly(server, b"\x01")

"""OAUTHBEARER (kafkasim.security.oauthbearer): unsecured tokens, and signed ones against a JWKS."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from kafkasim.config import BrokerConfig
from kafkasim.security.oauthbearer import (
    InvalidToken,
    OAuthBearerServer,
    OAuthSettings,
    load_jwks,
    validate_token,
)
from kafkasim.security.sasl import AuthenticationFailed

NOW_S = 1_700_000_000
NOW = NOW_S * 1000
INVALID = b'{"status":"invalid_token"}'
GENERIC = "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def part(obj) -> str:
    return b64url(json.dumps(obj).encode())


def unsecured(claims=None, header=None, signature: str = "") -> str:
    claims = {"sub": "alice", "iat": NOW_S - 10, "exp": NOW_S + 3600} if claims is None else claims
    return f"{part({'alg': 'none'} if header is None else header)}.{part(claims)}.{signature}"


def message(token: str, gs2: str = "n,,") -> bytes:
    return f"{gs2}\x01auth=Bearer {token}\x01\x01".encode()


def invalid(server: OAuthBearerServer, token: str, expected: bytes = INVALID) -> None:
    """The server answers the error JSON, then fails with it when the client sends %x01."""
    assert server.evaluate(message(token), NOW) == expected
    assert not server.complete and server.principal is None
    with pytest.raises(AuthenticationFailed) as exc:
        server.evaluate(b"\x01", NOW)
    assert exc.value.message == expected.decode()


# ---------------------------------------------------------------------- unsecured tokens


def test_valid_unsecured_token():
    server = OAuthBearerServer(OAuthSettings())
    assert server.mechanism == "OAUTHBEARER"
    assert server.evaluate(message(unsecured()), NOW) == b""
    assert server.complete and server.principal == "User:alice"
    assert server.expires_at_ms == (NOW_S + 3600) * 1000


def test_token_without_padding_or_iat():
    token = unsecured({"sub": "bob", "exp": NOW_S + 1})
    assert "=" not in token and token.endswith(".")
    assert validate_token(token, OAuthSettings(), NOW) == ("bob", (NOW_S + 1) * 1000)


def test_fractional_exp():
    assert validate_token(unsecured({"sub": "bob", "exp": NOW_S + 1.5}), OAuthSettings(), NOW)[1] == NOW + 1500


def test_authzid_of_the_principal():
    server = OAuthBearerServer(OAuthSettings())
    server.evaluate(message(unsecured(), gs2="n,a=alice,"), NOW)
    assert server.principal == "User:alice"


def test_authzid_of_another_principal():
    server = OAuthBearerServer(OAuthSettings())
    with pytest.raises(AuthenticationFailed) as exc:
        server.evaluate(message(unsecured(), gs2="n,a=bob,"), NOW)
    assert "different from the token's principal name (alice)" in exc.value.message
    assert not server.complete


def test_other_keys_and_lowercase_scheme():
    server = OAuthBearerServer(OAuthSettings())
    token = unsecured()
    assert server.evaluate(f"n,,\x01host=kafka\x01auth=bearer {token}\x01port=9092\x01\x01".encode(), NOW) == b""
    assert server.principal == "User:alice"


def test_sub_claim_setting():
    settings = OAuthSettings(sub_claim="preferred_username")
    assert validate_token(unsecured({"preferred_username": "carol", "exp": NOW_S + 60}), settings, NOW)[0] == "carol"
    with pytest.raises(InvalidToken):
        validate_token(unsecured({"sub": "carol", "exp": NOW_S + 60}), settings, NOW)


def test_expiry_within_skew_is_accepted():
    token = unsecured({"sub": "alice", "exp": NOW_S - 29})
    assert validate_token(token, OAuthSettings(), NOW) == ("alice", NOW - 29_000)


@pytest.mark.parametrize("claims", [
    {"sub": "alice", "exp": NOW_S - 31},  # expired beyond the 30 s skew
    {"sub": "alice", "exp": NOW_S - 30},
    {"sub": "alice", "exp": NOW_S + 3600, "iat": NOW_S + 31},  # issued in the future
    {"sub": "alice", "exp": NOW_S + 60, "iat": NOW_S + 60},  # iat not before exp
    {"sub": "alice"},  # no exp
    {"sub": "alice", "exp": "soon"},
    {"sub": "alice", "exp": True},
    {"sub": "alice", "exp": None},
    {"sub": "alice", "exp": NOW_S + 60, "iat": "then"},
    {"exp": NOW_S + 60},  # no subject
    {"sub": "", "exp": NOW_S + 60},
    {"sub": "   ", "exp": NOW_S + 60},
    {"sub": 7, "exp": NOW_S + 60},
])
def test_invalid_claims(claims):
    invalid(OAuthBearerServer(OAuthSettings()), unsecured(claims))


def test_iat_within_skew_is_accepted():
    validate_token(unsecured({"sub": "alice", "exp": NOW_S + 3600, "iat": NOW_S + 29}), OAuthSettings(), NOW)


@pytest.mark.parametrize("token", [
    unsecured(header={"alg": "RS256"}),
    unsecured(header={"alg": "HS256"}),
    unsecured(header={}),
    unsecured(header={"alg": None}),
    unsecured(signature="c2ln"),  # a non-empty signature
    unsecured() + ".",
    "only.two",
    "a.b.",
    "!!!.???.",
    f"{b64url(b'[1]')}.{part({'sub': 'a', 'exp': NOW_S + 60})}.",
    part({"alg": "none"}) + "." + b64url(b"not json") + ".",
    part({"alg": "none"}) + "." + b64url(b'"str"') + ".",
    part({"alg": "none"}) + "." + b64url(b"\xff\xfe") + ".",
])
def test_invalid_tokens(token):
    invalid(OAuthBearerServer(OAuthSettings()), token)


def test_required_scope():
    settings = OAuthSettings(required_scope=("read", "write"))
    assert validate_token(unsecured({"sub": "alice", "exp": NOW_S + 60, "scope": ["read", "write"]}), settings,
                          NOW)[0] == "alice"
    assert validate_token(unsecured({"sub": "alice", "exp": NOW_S + 60, "scope": " read "}),
                          OAuthSettings(required_scope=("read",)), NOW)[0] == "alice"
    expected = b'{"status":"insufficient_scope","scope":"read write"}'
    # Kafka's OAuthBearerUnsecuredJws: a string claim is one scope, even with spaces in it
    for scope in ("read", None, ["read"], 5, "", "write other read"):
        claims = {"sub": "alice", "exp": NOW_S + 60}
        if scope is not None:
            claims["scope"] = scope
        invalid(OAuthBearerServer(settings), unsecured(claims), expected)


def test_scope_claim_setting():
    settings = OAuthSettings(required_scope=("kafka",), scope_claim="scp")
    assert validate_token(unsecured({"sub": "a", "exp": NOW_S + 60, "scp": "kafka"}), settings, NOW)[0] == "a"
    with pytest.raises(InvalidToken) as exc:
        validate_token(unsecured({"sub": "a", "exp": NOW_S + 60, "scope": "kafka"}), settings, NOW)
    assert exc.value.status == "insufficient_scope" and exc.value.scope == "kafka"


def test_from_config():
    cfg = BrokerConfig(sasl_oauthbearer_required_scope=("a", "b"), sasl_oauthbearer_clock_skew_seconds=5,
                       sasl_oauthbearer_sub_claim_name="uid")
    s = OAuthSettings.from_config(cfg)
    assert (s.required_scope, s.clock_skew_ms, s.sub_claim, s.keys) == (("a", "b"), 5000, "uid", None)


@pytest.mark.parametrize("token", [
    b"",
    b"n,,",
    b"n,,\x01auth=Bearer x",  # no terminator
    b"n,,\x01auth=Bearer \x01\x01",  # no token
    b"n,,\x01auth=Basic abc\x01\x01",
    b"n,,\x01\x01",  # no auth
    b"p=x,,\x01auth=Bearer a.b.\x01\x01",
    b"n,b=alice,\x01auth=Bearer a.b.\x01\x01",
    b"n,,\x01noequals\x01\x01",
    b"\xff,,\x01\x01",
])
def test_malformed_client_message(token):
    server = OAuthBearerServer(OAuthSettings())
    with pytest.raises(AuthenticationFailed) as exc:
        server.evaluate(token, NOW)
    assert exc.value.message == GENERIC


def test_gs2_header_without_authzid_field():
    server = OAuthBearerServer(OAuthSettings())
    with pytest.raises(AuthenticationFailed):
        server.evaluate(f"n,\x01auth=Bearer {unsecured()}\x01\x01".encode(), NOW)


def test_oversized_message():
    server = OAuthBearerServer(OAuthSettings())
    with pytest.raises(AuthenticationFailed) as exc:
        server.evaluate(message(unsecured({"sub": "a" * 70000, "exp": NOW_S + 60})), NOW)
    assert exc.value.message == GENERIC


def test_after_error_anything_but_01_is_generic():
    server = OAuthBearerServer(OAuthSettings())
    assert server.evaluate(message(unsecured({"sub": "a"})), NOW) == INVALID
    with pytest.raises(AuthenticationFailed) as exc:
        server.evaluate(message(unsecured()), NOW)
    assert exc.value.message == GENERIC


def test_evaluate_after_completion():
    server = OAuthBearerServer(OAuthSettings())
    server.evaluate(message(unsecured()), NOW)
    with pytest.raises(AuthenticationFailed):
        server.evaluate(message(unsecured()), NOW)


# ---------------------------------------------------------------------- signed tokens, JWKS


def _int(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def rsa_jwk(key, kid: str | None) -> dict:
    nums = key.public_key().public_numbers()
    out = {"kty": "RSA", "n": _int(nums.n), "e": _int(nums.e), "alg": "RS256", "use": "sig"}
    if kid is not None:
        out["kid"] = kid
    return out


def ec_jwk(key, kid: str | None) -> dict:
    nums = key.public_key().public_numbers()
    out = {"kty": "EC", "crv": "P-256", "x": b64url(nums.x.to_bytes(32, "big")),
           "y": b64url(nums.y.to_bytes(32, "big"))}
    if kid is not None:
        out["kid"] = kid
    return out


def sign(key, alg: str, claims: dict, kid: str | None) -> str:
    header = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    signing_input = f"{part(header)}.{part(claims)}".encode()
    h = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
    if alg.startswith("RS"):
        sig = key.sign(signing_input, padding.PKCS1v15(), h)
    elif alg.startswith("PS"):
        sig = key.sign(signing_input, padding.PSS(padding.MGF1(h), h.digest_size), h)
    else:
        r, s = utils.decode_dss_signature(key.sign(signing_input, ec.ECDSA(h)))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input.decode()}.{b64url(sig)}"


CLAIMS = {"sub": "svc", "exp": NOW_S + 600, "iat": NOW_S, "aud": "kafka", "iss": "https://issuer"}


@pytest.fixture(scope="module")
def jwks_text(rsa_key, ec_key) -> str:
    return json.dumps({"keys": [rsa_jwk(rsa_key, "r1"), ec_jwk(ec_key, "e1"),
                                {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"}]})


@pytest.fixture(scope="module")
def jwks(jwks_text):
    return load_jwks(jwks_text)


def test_load_jwks(jwks, rsa_key, ec_key):
    assert set(jwks) == {"r1", "e1"}  # the symmetric key is ignored
    assert jwks["r1"].public_numbers() == rsa_key.public_key().public_numbers()
    assert jwks["e1"].public_numbers() == ec_key.public_key().public_numbers()


def test_jwks_file_from_config(tmp_path, jwks_text, rsa_key):
    path = tmp_path / "jwks.json"
    path.write_text(jwks_text)
    settings = OAuthSettings.from_config(BrokerConfig(sasl_oauthbearer_jwks_file=str(path),
                                                      sasl_oauthbearer_expected_audience=("kafka",),
                                                      sasl_oauthbearer_expected_issuer="https://issuer"))
    assert set(settings.keys) == {"r1", "e1"}
    assert settings.audience == ("kafka",) and settings.issuer == "https://issuer"
    server = OAuthBearerServer(settings)
    server.evaluate(message(sign(rsa_key, "RS256", CLAIMS, "r1")), NOW)
    assert server.principal == "User:svc" and server.expires_at_ms == (NOW_S + 600) * 1000


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS512"])
def test_rsa_signed(jwks, rsa_key, alg):
    assert validate_token(sign(rsa_key, alg, CLAIMS, "r1"), OAuthSettings(keys=jwks), NOW) == ("svc", NOW + 600_000)


def test_es256_signed(jwks, ec_key):
    server = OAuthBearerServer(OAuthSettings(keys=jwks))
    server.evaluate(message(sign(ec_key, "ES256", CLAIMS, "e1")), NOW)
    assert server.principal == "User:svc"


def test_single_key_without_kid(rsa_key):
    keys = load_jwks(json.dumps({"keys": [rsa_jwk(rsa_key, None)]}))
    assert set(keys) == {""}
    assert validate_token(sign(rsa_key, "RS256", CLAIMS, None), OAuthSettings(keys=keys), NOW)[0] == "svc"


def test_no_kid_with_several_keys(jwks, rsa_key):
    invalid(OAuthBearerServer(OAuthSettings(keys=jwks)), sign(rsa_key, "RS256", CLAIMS, None))


def test_wrong_key_or_kid(jwks, rsa_key, ec_key):
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_ec = ec.generate_private_key(ec.SECP256R1())
    for token in (
        sign(other_rsa, "RS256", CLAIMS, "r1"),  # another key under a known kid
        sign(other_ec, "ES256", CLAIMS, "e1"),
        sign(rsa_key, "RS256", CLAIMS, "e1"),  # the right key, the wrong kid
        sign(ec_key, "ES256", CLAIMS, "r1"),
        sign(rsa_key, "RS256", CLAIMS, "unknown"),
        sign(rsa_key, "RS256", CLAIMS, "sym"),
    ):
        invalid(OAuthBearerServer(OAuthSettings(keys=jwks)), token)


def test_es384_with_a_p256_key(jwks, ec_key):
    invalid(OAuthBearerServer(OAuthSettings(keys=jwks)), sign(ec_key, "ES384", CLAIMS, "e1"))


def test_tampered_signed_token(jwks, rsa_key):
    token = sign(rsa_key, "RS256", CLAIMS, "r1")
    header, _, signature = token.split(".")
    forged = f"{header}.{part({**CLAIMS, 'sub': 'admin'})}.{signature}"
    invalid(OAuthBearerServer(OAuthSettings(keys=jwks)), forged)
    invalid(OAuthBearerServer(OAuthSettings(keys=jwks)), f"{header}.{token.split('.')[1]}.")


def test_alg_none_with_jwks(jwks):
    invalid(OAuthBearerServer(OAuthSettings(keys=jwks)), unsecured(header={"alg": "none", "kid": "r1"}))


@pytest.mark.parametrize("alg", ["HS256", "RS1", "ES", "XX256", "RS257"])
def test_unsupported_alg_with_jwks(jwks, rsa_key, alg):
    token = sign(rsa_key, "RS256", CLAIMS, "r1")
    _, claims, sig = token.split(".")
    invalid(OAuthBearerServer(OAuthSettings(keys=jwks)), f"{part({'alg': alg, 'kid': 'r1'})}.{claims}.{sig}")


def test_expired_signed_token(jwks, rsa_key):
    invalid(OAuthBearerServer(OAuthSettings(keys=jwks)),
            sign(rsa_key, "RS256", {**CLAIMS, "exp": NOW_S - 31, "iat": NOW_S - 100}, "r1"))


def test_audience(jwks, rsa_key):
    settings = OAuthSettings(audience=("kafka", "other"), keys=jwks)
    for aud in ("kafka", ["x", "other"], "other"):
        assert validate_token(sign(rsa_key, "RS256", {**CLAIMS, "aud": aud}, "r1"), settings, NOW)[0] == "svc"
    for aud in ("web", ["web"], [], None, 5):
        claims = {**CLAIMS, "aud": aud}
        if aud is None:
            del claims["aud"]
        invalid(OAuthBearerServer(settings), sign(rsa_key, "RS256", claims, "r1"))


def test_issuer(jwks, ec_key):
    settings = OAuthSettings(issuer="https://issuer", keys=jwks)
    assert validate_token(sign(ec_key, "ES256", CLAIMS, "e1"), settings, NOW)[0] == "svc"
    for iss in ("https://other", None):
        claims = {**CLAIMS, "iss": iss}
        if iss is None:
            del claims["iss"]
        invalid(OAuthBearerServer(settings), sign(ec_key, "ES256", claims, "e1"))


def test_audience_and_issuer_not_checked_without_settings(jwks, rsa_key):
    claims = {"sub": "svc", "exp": NOW_S + 60, "aud": "anything", "iss": "anyone"}
    assert validate_token(sign(rsa_key, "RS256", claims, "r1"), OAuthSettings(keys=jwks), NOW)[0] == "svc"


@pytest.mark.parametrize("text", [
    "[]",
    "{}",
    '{"keys": {}}',
    '{"keys": [1]}',
    "not json",
])
def test_malformed_jwks(text):
    with pytest.raises(ValueError):
        load_jwks(text)


def test_jwks_missing_members():
    with pytest.raises((ValueError, KeyError)):
        load_jwks('{"keys": [{"kty": "RSA", "e": "AQAB"}]}')
    with pytest.raises((ValueError, KeyError)):
        load_jwks('{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA"}]}')


def test_jwks_unknown_curve_ignored():
    assert load_jwks('{"keys": [{"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}]}') == {}


# ---------------------------------------------------------------------- bugs found by the fuzz tests


def _server_outcome(claims_json: bytes):
    token = f"{part({'alg': 'none'})}.{b64url(claims_json)}."
    server = OAuthBearerServer(OAuthSettings())
    return server.evaluate(message(token), NOW)


@pytest.mark.parametrize("claims", [b'{"sub":"a","exp":1e400}', b'{"sub":"a","exp":NaN}',
                                    b'{"sub":"a","exp":-Infinity}', b'{"sub":"a","exp":' + b"9" * 400 + b"}",
                                    b'{"sub":"a","exp":1e306}'])
def test_non_finite_exp_is_an_invalid_token(claims):
    assert _server_outcome(claims) == INVALID


def test_deeply_nested_claims_are_an_invalid_token():
    assert _server_outcome(b"[" * 30000) == INVALID


def test_deeply_nested_jwks():
    with pytest.raises(ValueError):
        load_jwks("[" * 100000)


def test_jwks_bad_base64_is_a_value_error():
    with pytest.raises(ValueError):  # binascii.Error is a ValueError
        load_jwks('{"keys": [{"kty": "RSA", "n": "A", "e": "AQAB"}]}')

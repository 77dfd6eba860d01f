"""OAUTHBEARER (RFC 7628) as Kafka's OAuthBearerSaslServer answers it, with Kafka's two validators:

- by default, Kafka's unsecured tokens (OAuthBearerUnsecuredValidatorCallbackHandler): a JWS whose header
  says ``"alg": "none"`` and whose signature is empty; the principal is the ``sub`` claim (configurable),
  ``exp`` is required and checked, ``iat`` checked when present, within the allowed clock skew, and the
  required scopes must be in the ``scope`` claim (a string is one scope, as in Kafka; or a list);
- with a JWKS file (``sasl.oauthbearer.jwks.endpoint.url``), signed tokens (RS*, PS*, ES*) checked against
  its keys (by ``kid``), with ``exp``, the subject, and the expected audience and issuer when configured.

A token that does not validate is answered with Kafka's JSON error (``{"status":"invalid_token"}``); the
client then sends %x01 and the exchange fails with that JSON as the message, as Kafka does.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kafkasim.security.sasl import AuthenticationFailed, SaslServer, invalid_credentials

if TYPE_CHECKING:
    from kafkasim.config import BrokerConfig

#: the largest token kafkasim reads (the frame is capped before this, at sasl.server.max.receive.size)
MAX_TOKEN_BYTES = 65536
MAX_EPOCH_S = 9_223_372_036_854_775  # Long.MAX_VALUE milliseconds, in seconds
_CONTROL_A = "\x01"


class InvalidToken(Exception):
    def __init__(self, status: str = "invalid_token", scope: str | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.scope = scope


@dataclass(frozen=True)
class OAuthSettings:
    sub_claim: str = "sub"
    scope_claim: str = "scope"
    required_scope: tuple[str, ...] = ()
    clock_skew_ms: int = 30_000
    audience: tuple[str, ...] = ()
    issuer: str | None = None
    #: kid (or "" for keys without one) -> public key, from the JWKS file; None: unsecured tokens
    keys: dict[str, Any] | None = field(default=None, compare=False)

    @classmethod
    def from_config(cls, cfg: BrokerConfig) -> OAuthSettings:
        keys = None
        if cfg.sasl_oauthbearer_jwks_file:
            with open(cfg.sasl_oauthbearer_jwks_file, encoding="utf-8") as f:
                keys = load_jwks(f.read())
        return cls(cfg.sasl_oauthbearer_sub_claim_name, cfg.sasl_oauthbearer_scope_claim_name,
                   tuple(cfg.sasl_oauthbearer_required_scope), cfg.sasl_oauthbearer_clock_skew_seconds * 1000,
                   tuple(cfg.sasl_oauthbearer_expected_audience), cfg.sasl_oauthbearer_expected_issuer, keys)


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url_int(text: str) -> int:
    return int.from_bytes(_b64url(text), "big")


def load_jwks(text: str) -> dict[str, Any]:
    """The public keys of a JWKS document (RSA and EC), by kid. ValueError for a malformed one."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        doc = json.loads(text)
    except RecursionError:
        raise ValueError("a JWKS document nested too deep") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError("a JWKS document is an object with a \"keys\" list")
    curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
    out: dict[str, Any] = {}
    for k in doc["keys"]:
        if not isinstance(k, dict):
            raise ValueError("a JWK is an object")
        kty = k.get("kty")
        if kty == "RSA":
            key = rsa.RSAPublicNumbers(_b64url_int(k["e"]), _b64url_int(k["n"])).public_key()
        elif kty == "EC" and k.get("crv") in curves:
            key = ec.EllipticCurvePublicNumbers(_b64url_int(k["x"]), _b64url_int(k["y"]),
                                                curves[k["crv"]]).public_key()
        else:
            continue  # a key type tokens cannot be checked with: ignored, as jose4j ignores it
        out[str(k.get("kid", ""))] = key
    return out


def _verify(alg: str, key: Any, signing_input: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    hashers = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
    family, bits = alg[:2], alg[2:]
    if bits not in hashers:
        return False
    h = hashers[bits]()
    try:
        if family == "RS" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signing_input, padding.PKCS1v15(), h)
        elif family == "PS" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signing_input, padding.PSS(padding.MGF1(h), h.digest_size), h)
        elif family == "ES" and isinstance(key, ec.EllipticCurvePublicKey):
            if key.curve.key_size != {"256": 256, "384": 384, "512": 521}[bits]:
                return False  # ES256 is P-256, ES384 P-384, ES512 P-521 (RFC 7518)
            size = (key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                return False
            der = utils.encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                             int.from_bytes(signature[size:], "big"))
            key.verify(der, signing_input, ec.ECDSA(h))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _number(claims: dict[str, Any], name: str, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise InvalidToken()
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken()
    # seconds since the epoch: finite and within what a millisecond long can hold (NaN, inf, 1e400 are not)
    if not (isinstance(value, int) or math.isfinite(value)) or not -MAX_EPOCH_S <= value <= MAX_EPOCH_S:
        raise InvalidToken()
    return float(value)


def validate_token(token: str, settings: OAuthSettings, now_ms: int) -> tuple[str, int]:
    """(principal name, expiry in ms) of a valid token; InvalidToken otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken()
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
        signature = _b64url(parts[2])
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested too deep
        raise InvalidToken() from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken()
    alg = header.get("alg")
    if settings.keys is None:
        if alg != "none" or parts[2]:
            raise InvalidToken()
    else:
        if not isinstance(alg, str) or alg == "none":
            raise InvalidToken()
        key = settings.keys.get(str(header.get("kid", "")))
        if key is None and len(settings.keys) == 1 and "kid" not in header:
            key = next(iter(settings.keys.values()))
        if key is None or not _verify(alg, key, f"{parts[0]}.{parts[1]}".encode(), signature):
            raise InvalidToken()
    skew = settings.clock_skew_ms
    exp = _number(claims, "exp", True)
    iat = _number(claims, "iat", False)
    assert exp is not None
    exp_ms = int(exp * 1000)
    if now_ms - skew >= exp_ms:
        raise InvalidToken()
    if iat is not None and (iat * 1000 > now_ms + skew or iat >= exp):
        raise InvalidToken()
    sub = claims.get(settings.sub_claim)
    if not isinstance(sub, str) or not sub.strip():
        raise InvalidToken()
    if settings.keys is not None:
        if settings.audience:
            aud = claims.get("aud")
            auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if not any(a in settings.audience for a in auds):
                raise InvalidToken()
        if settings.issuer is not None and claims.get("iss") != settings.issuer:
            raise InvalidToken()
    if settings.required_scope:
        scope = claims.get(settings.scope_claim)
        # Kafka's OAuthBearerUnsecuredJws: a string claim is one scope, a list several
        scopes = [scope.strip()] if isinstance(scope, str) else scope if isinstance(scope, list) else []
        if not set(settings.required_scope) <= set(scopes):
            raise InvalidToken("insufficient_scope", " ".join(settings.required_scope))
    return sub, exp_ms


class OAuthBearerServer(SaslServer):
    mechanism = "OAUTHBEARER"

    def __init__(self, settings: OAuthSettings) -> None:
        super().__init__()
        self.settings = settings
        self._error: str | None = None

    def evaluate(self, token: bytes, now_ms: int) -> bytes:
        if self._error is not None:
            if token == b"\x01":
                raise AuthenticationFailed(self._error)
            raise invalid_credentials(self.mechanism)
        if self.complete or len(token) > MAX_TOKEN_BYTES:
            raise invalid_credentials(self.mechanism)
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid_credentials(self.mechanism) from None
        # client initial response: gs2-header %x01 *(key=value %x01) %x01
        gs2, sep, rest = text.partition(_CONTROL_A)
        if not sep or not rest.endswith(_CONTROL_A + _CONTROL_A) and rest != _CONTROL_A:
            raise invalid_credentials(self.mechanism)
        if not gs2.startswith(("n,", "y,")) or len(gs2) < 3 or not gs2.endswith(","):  # "n," [authzid] ","
            raise invalid_credentials(self.mechanism)
        authzid = gs2[2:-1]
        if authzid and not authzid.startswith("a="):
            raise invalid_credentials(self.mechanism)
        fields = {}
        for kv in rest.split(_CONTROL_A):
            if kv:
                key, eq, value = kv.partition("=")
                if not eq:
                    raise invalid_credentials(self.mechanism)
                fields[key] = value
        auth = fields.get("auth", "")
        scheme, _, bearer = auth.partition(" ")
        if scheme.lower() != "bearer" or not bearer:
            raise invalid_credentials(self.mechanism)
        try:
            principal, exp_ms = validate_token(bearer.strip(), self.settings, now_ms)
        except InvalidToken as exc:
            error = {"status": exc.status}
            if exc.scope is not None:
                error["scope"] = exc.scope
            self._error = json.dumps(error, separators=(",", ":"))
            return self._error.encode()
        if authzid and authzid[2:] != principal:
            raise AuthenticationFailed(f"Authentication failed: Client requested an authorization id ({authzid[2:]}) "
                                       f"that is different from the token's principal name ({principal})")
        self.expires_at_ms = exp_ms
        return self._done(principal)

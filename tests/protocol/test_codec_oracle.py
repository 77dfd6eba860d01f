"""Differential tests of the generated codec against two independent codecs used only as oracles.

For every API and version kafkasim serves, hypothesis generates kio messages; kio encodes them, our codec
decodes and re-encodes them, and the bytes must be identical; kafka-python's codec must also decode those
bytes and re-encode them identically. Requests and responses both.
"""

from __future__ import annotations

import importlib
import io
import pkgutil
from functools import cache

import kafka.protocol
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.protocol.api_message import ApiMessage
from kio.serial import entity_writer
from kio.static import primitive

from kafkasim.handlers import HANDLERS
from kafkasim.protocol import api

st.register_type_strategy(primitive.Records, st.binary(max_size=300).map(primitive.Records))


def kio_class(key: int, version: int, kind: str):
    name = api.module(key).__name__.rsplit(".", 1)[1]
    try:
        m = importlib.import_module(f"kio.schema.{name}.v{version}.{kind}")
    except ModuleNotFoundError:
        return None
    cls_name = api.module(key).REQUEST_CLASS.__name__ if kind == "request" else api.module(key).RESPONSE_CLASS.__name__
    return getattr(m, cls_name, None)


@cache
def kafka_python_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(kafka.protocol.__path__, "kafka.protocol."):
        try:
            mod = importlib.import_module(info.name)
        except ImportError:
            continue
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, ApiMessage) and obj is not ApiMessage:
                try:
                    found.setdefault(obj.name, obj)
                except Exception:  # abstract helpers without a schema
                    continue
    return found


# kafka-python quirks (not codec differences): it re-reads ApiVersions responses carrying an error as v0,
# and its DeleteTopicsRequest.encode() needs a request header attached first.
KAFKA_PYTHON_SKIP = {"ApiVersionsResponse", "DeleteTopicsRequest"}

CASES = [(key, v, kind) for key, spec in sorted(HANDLERS.items())
         for v in range(spec.min_version, spec.max_version + 1) for kind in ("request", "response")]


def _ours(key: int, version: int, kind: str):
    mod = api.module(key)
    if kind == "request":
        return mod.DECODE_REQUEST[version], mod.ENCODE_REQUEST[version]
    return mod.DECODE_RESPONSE[version], mod.ENCODE_RESPONSE[version]


@pytest.mark.parametrize(("key", "version", "kind"), CASES,
                         ids=[f"{api.api_name(k)}-v{v}-{kind}" for k, v, kind in CASES])
def test_codec_matches_kio_byte_for_byte(key: int, version: int, kind: str) -> None:
    cls = kio_class(key, version, kind)
    if cls is None:
        pytest.skip(f"kio has no {kind} schema for {api.api_name(key)} v{version}")
    write = entity_writer(cls)
    decode, encode = _ours(key, version, kind)
    kp_cls = None if cls.__name__ in KAFKA_PYTHON_SKIP else kafka_python_classes().get(cls.__name__)

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.from_type(cls))
    def check(msg) -> None:
        buf = io.BytesIO()
        write(buf, msg)
        data = buf.getvalue()
        ours, end = decode(memoryview(data), 0)
        assert end == len(data)
        parts: list = []
        out = encode(bytearray(), parts, ours)
        parts.append(out)
        assert b"".join(bytes(p) for p in parts) == data
        if kp_cls is not None:
            assert kp_cls[version].decode(data).encode() == data

    check()

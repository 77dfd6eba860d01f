"""Incremental frame reader with a size cap checked before allocating; request/response headers."""

from __future__ import annotations

import struct
from typing import NamedTuple

from kafkasim.protocol import api
from kafkasim.protocol.messages import MODULES, header
from kafkasim.protocol.primitives import MalformedError

_SIZE = struct.Struct(">i")
_HEAD = struct.Struct(">hhi")


class FrameTooLarge(MalformedError):
    """A frame's size prefix exceeds the cap (Kafka's socket.request.max.bytes)."""


class FrameReader:
    """Feed bytes; get whole frames (size prefix stripped) as writable ``bytearray`` objects."""

    __slots__ = ("max_size", "_buf")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytearray]:
        buf = self._buf
        buf += data
        frames = []
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            (size,) = _SIZE.unpack_from(buf, pos)
            if size < 0 or size > self.max_size:
                raise FrameTooLarge(f"frame size {size} exceeds the limit of {self.max_size} bytes"
                                    if size > 0 else f"invalid frame size {size}")
            if n - pos - 4 < size:
                break
            frames.append(buf[pos + 4:pos + 4 + size])
            pos += 4 + size
        if pos:
            del buf[:pos]
        return frames


class RequestHeader(NamedTuple):
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    body_offset: int


def peek_request_header(frame) -> tuple[int, int, int]:
    """(api_key, api_version, correlation_id) without validating anything else."""
    if len(frame) < 8:
        raise MalformedError("request shorter than its header")
    return _HEAD.unpack_from(frame, 0)


def read_request_header(frame) -> RequestHeader:
    """Full request header (v1, or v2 with tagged fields for flexible versions); the API must be known."""
    key, version, _corr = peek_request_header(frame)
    hv = 2 if key in MODULES and api.request_is_flexible(key, version) else 1
    h, pos = header.DECODE_REQUEST[hv](frame, 0)
    return RequestHeader(h.request_api_key, h.request_api_version, h.correlation_id, h.client_id, pos)


def encode_request_header(key: int, version: int, correlation_id: int, client_id: str | None) -> bytes:
    hv = api.request_header_version(key, version)
    h = header.RequestHeader(request_api_key=key, request_api_version=version, correlation_id=correlation_id,
                             client_id=client_id)
    return bytes(header.ENCODE_REQUEST[hv](bytearray(), [], h))


def response_header(key: int, version: int, correlation_id: int) -> bytes:
    if api.response_header_version(key, version) == 0:
        return _SIZE.pack(correlation_id)
    return _SIZE.pack(correlation_id) + b"\x00"


def read_response_header(key: int, version: int, frame) -> tuple[int, int]:
    """(correlation_id, body offset)."""
    (corr,) = _SIZE.unpack_from(frame, 0)
    if api.response_header_version(key, version) == 0:
        return corr, 4
    h, pos = header.DECODE_RESPONSE[1](frame, 0)
    return h.correlation_id, pos

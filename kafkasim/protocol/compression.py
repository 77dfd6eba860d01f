"""Record-batch compression codecs (Kafka's ids), used only where records must be read or built.

Decompression always writes into a buffer of a bounded size, so a small compressed payload can never make
the broker allocate more than ``limit`` bytes. Kafka's snappy uses xerial framing; both framed and raw
snappy are read.
"""

from __future__ import annotations

import struct
from enum import IntEnum

import cramjam

from kafkasim.protocol.primitives import MalformedError

#: default bound on one batch's decompressed records
DEFAULT_LIMIT = 64 * 1024 * 1024

_XERIAL_MAGIC = b"\x82SNAPPY\x00"


class Codec(IntEnum):
    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


def _bounded(fn, data, limit: int) -> bytes:
    """Decompress into a buffer that starts near the payload's size and doubles, never past ``limit``."""
    data = bytes(data)
    size = min(limit, max(64 * 1024, 4 * len(data)))
    while True:
        out = bytearray(size)
        try:
            n = fn(data, out)
        except cramjam.DecompressionError as exc:
            if size < limit and "whole buffer" in str(exc):
                size = min(limit, size * 2)
                continue
            raise MalformedError(f"decompression failed or exceeds {limit} bytes: {exc}") from None
        del out[n:]
        return bytes(out)


def _snappy_raw(data, limit: int) -> bytes:
    try:
        n = cramjam.snappy.decompress_raw_len(bytes(data))
    except cramjam.DecompressionError as exc:
        raise MalformedError(f"bad snappy block: {exc}") from None
    if n > limit:
        raise MalformedError(f"snappy block of {n} bytes exceeds {limit}")
    try:
        return bytes(cramjam.snappy.decompress_raw(bytes(data)))
    except cramjam.DecompressionError as exc:
        raise MalformedError(f"bad snappy block: {exc}") from None


def _snappy(data, limit: int) -> bytes:
    data = bytes(data)
    if not data.startswith(_XERIAL_MAGIC):
        return _snappy_raw(data, limit)
    p = 16  # magic (8) + version (4) + compatible version (4)
    out = bytearray()
    while p < len(data):
        if p + 4 > len(data):
            raise MalformedError("truncated xerial snappy chunk header")
        (n,) = struct.unpack_from(">i", data, p)
        p += 4
        if n < 0 or p + n > len(data):
            raise MalformedError("xerial snappy chunk exceeds the payload")
        out += _snappy_raw(data[p:p + n], limit - len(out))
        p += n
    return bytes(out)


def decompress(codec: int, data, limit: int = DEFAULT_LIMIT) -> bytes:
    if codec == Codec.NONE:
        return bytes(data)
    if codec == Codec.GZIP:
        return _bounded(cramjam.gzip.decompress_into, data, limit)
    if codec == Codec.SNAPPY:
        return _snappy(data, limit)
    if codec == Codec.LZ4:
        return _bounded(cramjam.lz4.decompress_into, data, limit)
    if codec == Codec.ZSTD:
        return _bounded(cramjam.zstd.decompress_into, data, limit)
    raise MalformedError(f"unknown compression codec {codec}")


def compress(codec: int, data: bytes) -> bytes:
    if codec == Codec.NONE:
        return bytes(data)
    if codec == Codec.GZIP:
        return bytes(cramjam.gzip.compress(data))
    if codec == Codec.SNAPPY:
        block = bytes(cramjam.snappy.compress_raw(data))
        return _XERIAL_MAGIC + struct.pack(">ii", 1, 1) + struct.pack(">i", len(block)) + block
    if codec == Codec.LZ4:
        return bytes(cramjam.lz4.compress(data))
    if codec == Codec.ZSTD:
        return bytes(cramjam.zstd.compress(data))
    raise ValueError(f"unknown compression codec {codec}")

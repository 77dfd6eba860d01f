"""RecordBatch v2 views and codecs (protocol/records.py, protocol/compression.py).

Batches are built with our own ``build_batch`` and cross-checked against kafka-python's independent
``DefaultRecordBatch`` decoder and ``DefaultRecordBatchBuilder`` encoder (a test oracle only).
"""

from __future__ import annotations

import struct
import tracemalloc

import cramjam
import kafka.codec as kcodec
import pytest
from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from kafkasim.protocol.compression import Codec, compress, decompress
from kafkasim.protocol.primitives import MalformedError
from kafkasim.protocol.records import (
    ATTR_TIMESTAMP_TYPE,
    ATTRIBUTES_OFFSET,
    CRC_OFFSET,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC_OFFSET,
    BatchError,
    Record,
    build_batch,
    iter_batches,
    iter_keys_values,
    iter_records,
    read_header,
    set_base_offset,
    set_log_append_time,
    validate_produced,
)

XERIAL_MAGIC = b"\x82SNAPPY\x00"
MB = 1024 * 1024

# ---------------------------------------------------------------------------------------------- helpers


def sample(n: int = 3, ts0: int = 1_000) -> list[Record]:
    return [Record(0, ts0 + i, f"k{i}".encode(), f"v{i}".encode() * 10, [("h", f"{i}".encode())])
            for i in range(n)]


def refresh_crc(buf: bytearray) -> None:
    struct.pack_into(">I", buf, CRC_OFFSET, crc32c(bytes(buf[ATTRIBUTES_OFFSET:])))


def edited(batch: bytes, fmt: str, offset: int, value: int) -> bytes:
    """The batch with one header field rewritten and its CRC recomputed (so only that field is wrong)."""
    buf = bytearray(batch)
    struct.pack_into(fmt, buf, offset, value)
    refresh_crc(buf)
    return bytes(buf)


def with_payload(batch: bytes, codec: int, payload: bytes) -> bytes:
    """The batch's header (same counts and timestamps) around ``payload``, marked ``codec``, CRC valid."""
    buf = bytearray(batch[:HEADER_SIZE]) + payload
    struct.pack_into(">i", buf, 8, len(buf) - LOG_OVERHEAD)
    (attrs,) = struct.unpack_from(">h", buf, ATTRIBUTES_OFFSET)
    struct.pack_into(">h", buf, ATTRIBUTES_OFFSET, (attrs & ~0x07) | codec)
    refresh_crc(buf)
    return bytes(buf)


def raw_snappy_batch(records: list[Record], **kw) -> bytes:
    plain = build_batch(records, **kw)
    return with_payload(plain, Codec.SNAPPY, bytes(cramjam.snappy.compress_raw(plain[HEADER_SIZE:])))


def xerial(data: bytes, chunk: int) -> bytes:
    """Xerial-framed snappy with several chunks, as Java's SnappyOutputStream writes it."""
    out = bytearray(XERIAL_MAGIC + struct.pack(">ii", 1, 1))
    for i in range(0, len(data), chunk):
        block = bytes(cramjam.snappy.compress_raw(data[i:i + chunk]))
        out += struct.pack(">i", len(block)) + block
    return bytes(out)


VARIANTS = {
    "none": lambda records, **kw: build_batch(records, codec=Codec.NONE, **kw),
    "gzip": lambda records, **kw: build_batch(records, codec=Codec.GZIP, **kw),
    "snappy-xerial": lambda records, **kw: build_batch(records, codec=Codec.SNAPPY, **kw),
    "snappy-raw": raw_snappy_batch,
    "lz4": lambda records, **kw: build_batch(records, codec=Codec.LZ4, **kw),
    "zstd": lambda records, **kw: build_batch(records, codec=Codec.ZSTD, **kw),
}
VARIANT_CODEC = {"none": Codec.NONE, "gzip": Codec.GZIP, "snappy-xerial": Codec.SNAPPY,
                 "snappy-raw": Codec.SNAPPY, "lz4": Codec.LZ4, "zstd": Codec.ZSTD}

blobs = st.none() | st.binary(max_size=48)
headers_st = st.lists(st.tuples(st.text(max_size=8), blobs), max_size=3)
records_st = st.lists(
    st.builds(Record, offset=st.just(0), timestamp=st.integers(0, 2**41), key=blobs, value=blobs,
              headers=headers_st),
    min_size=1, max_size=8)


def as_tuples(records) -> list[tuple]:
    return [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in records]


def expected(records: list[Record], base: int) -> list[tuple]:
    return [(base + i, r.timestamp, r.key, r.value, list(r.headers)) for i, r in enumerate(records)]


def batch_error(records) -> BatchError:
    with pytest.raises(BatchError) as err:
        validate_produced(records)
    return err.value


# ---------------------------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("variant", list(VARIANTS))
@settings(max_examples=25, deadline=None)
@given(records=records_st, base=st.integers(0, 2**40))
def test_records_round_trip_every_codec(variant: str, records: list[Record], base: int) -> None:
    batch = VARIANTS[variant](records, base_offset=base)
    h = validate_produced(batch)
    assert h.compression == VARIANT_CODEC[variant]
    assert h.records_count == len(records)
    assert as_tuples(iter_records(batch)) == expected(records, base)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_records_round_trip_null_key_value_and_headers(variant: str) -> None:
    records = [Record(0, 10, None, None, []), Record(0, 5, b"", b"", [("", b""), ("n", None)]),
               Record(0, 7, b"k" * 300, b"v" * 5000, [("h\u00e9", b"x" * 200)] * 4)]
    batch = VARIANTS[variant](records, base_offset=42)
    assert as_tuples(iter_records(batch)) == expected(records, 42)


def test_build_batch_header_fields() -> None:
    records = [Record(0, 30, b"a", b"1"), Record(0, 10, b"b", b"2"), Record(0, 20, b"c", b"3")]
    batch = build_batch(records, base_offset=100, producer_id=7, producer_epoch=2, base_sequence=11,
                        transactional=True, partition_leader_epoch=4)
    h = validate_produced(batch)
    assert (h.base_offset, h.partition_leader_epoch, h.magic) == (100, 4, 2)
    assert (h.last_offset_delta, h.records_count, h.last_offset) == (2, 3, 102)
    assert (h.base_timestamp, h.max_timestamp) == (10, 30)
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (7, 2, 11)
    assert h.is_transactional and not h.is_control and not h.log_append_time
    assert h.size == len(batch)


def test_build_batch_snappy_uses_xerial_framing() -> None:
    batch = build_batch(sample(), codec=Codec.SNAPPY)
    assert batch[HEADER_SIZE:HEADER_SIZE + len(XERIAL_MAGIC)] == XERIAL_MAGIC
    assert not raw_snappy_batch(sample())[HEADER_SIZE:].startswith(XERIAL_MAGIC)


def test_iter_records_reads_multi_chunk_xerial_snappy() -> None:
    records = sample(50)
    plain = build_batch(records)
    batch = with_payload(plain, Codec.SNAPPY, xerial(plain[HEADER_SIZE:], chunk=100))
    assert as_tuples(iter_records(batch)) == expected(records, 0)


# ---------------------------------------------------------------------------------------------- validate_produced


def test_validate_produced_accepts_bytes_and_memoryview() -> None:
    batch = build_batch(sample())
    assert validate_produced(batch) == validate_produced(memoryview(bytearray(batch)))
    assert validate_produced(memoryview(batch)).records_count == 3


def test_validate_produced_rejects_every_bit_flip_in_crc_span_as_corrupt() -> None:
    batch = build_batch(sample())
    for pos in range(CRC_OFFSET, len(batch)):  # the stored CRC and everything it covers
        for bit in range(8):
            buf = bytearray(batch)
            buf[pos] ^= 1 << bit
            assert batch_error(buf).kind == "corrupt", (pos, bit)


def test_validate_produced_rejects_truncation_at_every_byte_as_corrupt() -> None:
    batch = build_batch(sample())
    for n in range(len(batch)):
        assert batch_error(batch[:n]).kind == "corrupt", n


@pytest.mark.parametrize("magic", [0, 1])
def test_validate_produced_rejects_old_magic_as_invalid(magic: int) -> None:
    buf = bytearray(build_batch(sample()))
    buf[MAGIC_OFFSET] = magic
    assert batch_error(buf).kind == "invalid"


def test_validate_produced_rejects_two_batches_as_invalid() -> None:
    batch = build_batch(sample())
    assert batch_error(batch + batch).kind == "invalid"


@pytest.mark.parametrize("offset,value", [(57, 4), (57, 2), (23, 1), (23, 3)],
                         ids=["count-high", "count-low", "delta-low", "delta-high"])
def test_validate_produced_rejects_count_not_matching_last_offset_delta(offset: int, value: int) -> None:
    batch = edited(build_batch(sample(3)), ">i", offset, value)
    assert batch_error(batch).kind == "invalid"


@pytest.mark.parametrize("delta", [-1, 0])
def test_validate_produced_rejects_zero_records_as_invalid(delta: int) -> None:
    batch = edited(edited(build_batch(sample(1)), ">i", 57, 0), ">i", 23, delta)
    assert batch_error(batch).kind == "invalid"


def test_validate_produced_rejects_control_batch_as_invalid() -> None:
    assert batch_error(build_batch(sample(), control=True)).kind == "invalid"


@pytest.mark.parametrize("codec", [5, 6, 7])
def test_validate_produced_rejects_unknown_codec(codec: int) -> None:
    batch = edited(build_batch(sample()), ">h", ATTRIBUTES_OFFSET, codec)
    assert batch_error(batch).kind == "unsupported_compression"


@pytest.mark.parametrize("length", [-1, 0, HEADER_SIZE - LOG_OVERHEAD - 1])
def test_validate_produced_rejects_batch_length_below_header_as_corrupt(length: int) -> None:
    buf = bytearray(build_batch(sample()))
    struct.pack_into(">i", buf, 8, length)
    assert batch_error(buf).kind == "corrupt"


# ---------------------------------------------------------------------------------------------- in-place rewrites


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_set_base_offset_keeps_crc_valid(variant: str) -> None:
    mv = memoryview(bytearray(VARIANTS[variant](sample())))
    set_base_offset(mv, 123_456_789_012, 9)
    h = validate_produced(mv)
    assert (h.base_offset, h.partition_leader_epoch) == (123_456_789_012, 9)
    assert [r.offset for r in iter_records(mv)] == [123_456_789_012 + i for i in range(3)]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_set_log_append_time_marks_batch_and_every_record(variant: str) -> None:
    now = 1_700_000_000_123
    records = sample(4)
    mv = memoryview(bytearray(VARIANTS[variant](records)))
    set_log_append_time(mv, now)
    h = validate_produced(mv)  # CRC refreshed
    assert h.log_append_time and h.attributes & ATTR_TIMESTAMP_TYPE
    assert h.compression == VARIANT_CODEC[variant]
    assert (h.base_timestamp, h.max_timestamp) == (1_000, now)
    out = list(iter_records(mv))
    assert [r.timestamp for r in out] == [now] * 4
    assert [(r.key, r.value, r.headers) for r in out] == [(r.key, r.value, r.headers) for r in records]


# ---------------------------------------------------------------------------------------------- decompression


def bomb(codec: str, size: int = 10 * MB) -> tuple[int, bytes]:
    data = bytes(size)
    if codec == "snappy-raw":
        return Codec.SNAPPY, bytes(cramjam.snappy.compress_raw(data))
    if codec == "snappy-xerial":
        return Codec.SNAPPY, xerial(data, chunk=MB // 2)  # every chunk is under the limit, the sum is not
    return VARIANT_CODEC[codec], compress(VARIANT_CODEC[codec], data)


BOMBS = ["gzip", "snappy-xerial", "snappy-raw", "lz4", "zstd"]


@pytest.mark.parametrize("codec", BOMBS)
def test_decompress_bomb_above_limit_raises(codec: str) -> None:
    cid, payload = bomb(codec)
    assert len(payload) < MB
    with pytest.raises(MalformedError):
        decompress(cid, payload, MB)


@pytest.mark.parametrize("codec", BOMBS)
def test_decompress_exactly_at_limit_succeeds(codec: str) -> None:
    cid, payload = bomb(codec, size=MB)
    assert decompress(cid, payload, MB) == bytes(MB)


@pytest.mark.parametrize("codec", BOMBS)
def test_iter_records_bomb_batch_raises_malformed(codec: str) -> None:
    cid, payload = bomb(codec)
    batch = with_payload(build_batch(sample(1)), cid, payload)
    validate_produced(batch)  # the header is fine: the hot path does not decompress
    with pytest.raises(MalformedError):
        list(iter_records(batch, limit=MB))


@pytest.mark.parametrize("codec", [Codec.GZIP, Codec.SNAPPY, Codec.LZ4, Codec.ZSTD], ids=lambda c: c.name.lower())
def test_decompress_garbage_raises_malformed(codec: int) -> None:
    with pytest.raises(MalformedError):
        decompress(codec, b"\xff\xff\xff\x0f this is not compressed data", MB)


def test_decompress_unknown_codec_raises_malformed() -> None:
    with pytest.raises(MalformedError):
        decompress(5, b"abc")


@pytest.mark.parametrize("codec", [Codec.GZIP, Codec.LZ4, Codec.ZSTD], ids=lambda c: c.name.lower())
def test_decompress_small_payload_allocates_only_what_it_needs(codec: int) -> None:
    payload = compress(codec, b"x" * 1000)
    tracemalloc.start()
    try:
        assert decompress(codec, payload) == b"x" * 1000  # default 64 MiB limit
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MB


# ---------------------------------------------------------------------------------------------- iter_batches


def three_batches() -> list[bytes]:
    return [build_batch(sample(2), base_offset=0), build_batch(sample(3), base_offset=2, codec=Codec.GZIP),
            build_batch(sample(1), base_offset=5)]


def test_iter_batches_splits_concatenated_batches() -> None:
    batches = three_batches()
    out = list(iter_batches(b"".join(batches)))
    assert [h.base_offset for h, _ in out] == [0, 2, 5]
    assert [bytes(v) for _, v in out] == batches
    assert all(isinstance(v, memoryview) for _, v in out)


def test_iter_batches_drops_trailing_partial_batch_at_every_cut() -> None:
    batches = three_batches()
    head = b"".join(batches[:2])
    for cut in range(len(batches[2])):
        out = list(iter_batches(head + batches[2][:cut]))
        assert [bytes(v) for _, v in out] == batches[:2], cut


def test_iter_batches_empty_buffer_yields_nothing() -> None:
    assert list(iter_batches(b"")) == []


def test_iter_batches_rejects_batch_length_below_header() -> None:
    buf = bytearray(build_batch(sample()))
    struct.pack_into(">i", buf, 8, 10)
    with pytest.raises(BatchError) as err:
        list(iter_batches(buf))
    assert err.value.kind == "corrupt"


def test_read_header_short_buffer_is_corrupt() -> None:
    with pytest.raises(BatchError) as err:
        read_header(build_batch(sample())[:HEADER_SIZE - 1])
    assert err.value.kind == "corrupt"


# ---------------------------------------------------------------------------------------------- kafka-python oracle

KP_CODECS = [
    pytest.param(Codec.NONE, id="none"),
    pytest.param(Codec.GZIP, id="gzip", marks=pytest.mark.skipif(not kcodec.has_gzip(), reason="no gzip")),
    pytest.param(Codec.SNAPPY, id="snappy",
                 marks=pytest.mark.skipif(not kcodec.has_snappy(), reason="kafka-python lacks python-snappy")),
    pytest.param(Codec.LZ4, id="lz4", marks=pytest.mark.skipif(not kcodec.has_lz4(), reason="kafka-python lacks lz4")),
    pytest.param(Codec.ZSTD, id="zstd",
                 marks=pytest.mark.skipif(not kcodec.has_zstd(), reason="kafka-python lacks zstandard")),
]


@pytest.mark.parametrize("codec", KP_CODECS)
@settings(max_examples=25, deadline=None)
@given(records=records_st, base=st.integers(0, 2**40))
def test_build_batch_decodes_with_kafka_python(codec: int, records: list[Record], base: int) -> None:
    batch = build_batch(records, base_offset=base, codec=codec, producer_id=3, producer_epoch=1,
                        base_sequence=17)
    kb = DefaultRecordBatch(bytes(batch))
    assert kb.validate_crc()
    assert (kb.base_offset, kb.last_offset_delta, kb.compression_type) == (base, len(records) - 1, codec)
    assert kb.max_timestamp == max(r.timestamp for r in records)
    assert (kb.producer_id, kb.producer_epoch, kb.base_sequence) == (3, 1, 17)
    got = [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in kb]
    assert got == expected(records, base)


@pytest.mark.parametrize("codec", KP_CODECS)
def test_log_append_time_batch_decodes_with_kafka_python(codec: int) -> None:
    mv = memoryview(bytearray(build_batch(sample(), codec=codec)))
    set_log_append_time(mv, 1_700_000_000_000)
    kb = DefaultRecordBatch(bytes(mv))
    assert kb.validate_crc()
    assert [(r.timestamp, r.timestamp_type) for r in kb] == [(1_700_000_000_000, 1)] * 3


@pytest.mark.parametrize("codec", KP_CODECS)
@settings(max_examples=25, deadline=None)
@given(records=records_st)
def test_kafka_python_batch_validates_and_decodes(codec: int, records: list[Record]) -> None:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    for i, r in enumerate(records):
        assert builder.append(i, timestamp=r.timestamp, key=r.key, value=r.value, headers=r.headers) is not None
    buf = builder.build()
    h = validate_produced(memoryview(buf))
    assert h.records_count == len(records)
    assert h.max_timestamp == max(r.timestamp for r in records)
    assert as_tuples(iter_records(buf)) == expected(records, 0)


def test_iter_keys_values_gives_each_records_key_and_value() -> None:
    records = [Record(i, 1_700_000_000_000 + i * 70_000, None if i % 3 == 0 else b"k%d" % i,
                      None if i % 4 == 0 else b"v" * (i * 50)) for i in range(12)]
    for codec in (Codec.NONE, Codec.GZIP):
        got = [(k if k is None else bytes(k), v if v is None else bytes(v))
               for k, v in iter_keys_values(memoryview(build_batch(records, codec=codec)))]
        assert got == [(r.key, r.value) for r in records]


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=61, max_size=200), st.integers(0, 60), st.binary(max_size=4))
def test_iter_keys_values_fuzz_only_malformed_errors(body: bytes, cut: int, noise: bytes) -> None:
    """A batch whose records are garbage, cut short or padded: MalformedError, never another exception."""
    batch = bytearray(build_batch([Record(0, 1, b"key", b"value"), Record(1, 2, None, b"x" * 40)]))
    batch[61:] = body[: max(0, len(batch) - 61 - cut)] + noise
    struct.pack_into(">i", batch, 8, len(batch) - 12)
    try:
        for key, value in iter_keys_values(memoryview(batch)):
            assert key is None or len(key) <= len(batch)
            assert value is None or len(value) <= len(batch)
    except (MalformedError, BatchError):
        pass

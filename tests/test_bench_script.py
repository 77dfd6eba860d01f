"""scripts/bench parses its options (no broker is started here)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("confluent_kafka")

BENCH = Path(__file__).resolve().parent.parent / "scripts" / "bench"


def load_bench():
    loader = importlib.machinery.SourceFileLoader("kafkasim_bench_script", str(BENCH))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


bench = load_bench()


def test_bench_defaults_are_a_full_run_of_the_memory_store() -> None:
    args = bench.parse_args([])
    assert args.stores == ["memory"]
    assert {k: getattr(args, k) for k in bench.FULL} == bench.FULL
    assert args.targets == ["kafkasim", "kafkasim-sasl-ssl", "tansu", "rdkafka-mock", "kafka", "kfake"]


def test_bench_quick_shrinks_the_run_and_explicit_options_win() -> None:
    args = bench.parse_args(["--quick", "--records-100b", "7", "--store", "both"])
    assert args.repeat == 1 and args.metadata_partitions == bench.QUICK["metadata_partitions"]
    assert args.records_100b == 7
    assert args.stores == ["memory", "disk"]
    labels = [label for _key, label, _unit, _better in bench.metric_defs(args)]
    assert "Metadata, 1,000 partitions" in labels


def test_bench_metadata_step_can_be_skipped() -> None:
    args = bench.parse_args(["--metadata-partitions", "0"])
    assert not any(key.startswith("meta") for key, *_ in bench.metric_defs(args))


@pytest.mark.parametrize("argv", [["--targets", "redpanda"], ["--targets", "tansu,tansu"], ["--repeat", "0"],
                                  ["--store", "tape"], ["--metadata-partitions", "-1"]])
def test_bench_rejects_bad_options(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(argv)


def test_bench_short_reason_keeps_the_error_line() -> None:
    text = "exited with status 2 before ready\n  stderr/log tail:\n    Usage: x\n    Error: No such option: --data-dir"
    assert bench.short_reason(text) == "exited with status 2 before ready [Error: No such option: --data-dir]"

"""Kafka release emulation: the generated release table, release parsing and version capping."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kafkasim.protocol.releases import API_VERSIONS
from kafkasim.protocol.versions import RELEASES, cap_versions, parse_release, release_caps


@pytest.mark.parametrize(
    ("text", "release"),
    [
        ("2.8", "2.8"),
        ("2.8.0", "2.8"),
        ("2.8.2", "2.8"),
        ("v2.8", "2.8"),
        (" 2.8 ", "2.8"),
        ("3.9.1", "3.9"),
        ("4.0", "4.0"),
        ("4.0.0", "4.0"),
        ("0.10.0", "0.10.0"),
        ("0.10.0.1", "0.10.0"),
        ("0.10", "0.10.0"),
        ("0.10.1", "0.10.1"),
        ("0.10.2.2", "0.10.2"),
        ("0.11.0.3", "0.11"),
        ("1.0", "1.0"),
        (RELEASES[-1] + ".9", RELEASES[-1]),
    ],
)
def test_parse_release_maps_version_to_newest_listed_release_at_or_below(text: str, release: str) -> None:
    assert parse_release(text) == release


def test_parse_release_accepts_every_listed_name() -> None:
    assert [parse_release(r) for r in RELEASES] == list(RELEASES)


def test_parse_release_falls_back_across_unreleased_versions() -> None:
    # there was no 2.9 or 3.10: the newest release at or below is what such a broker would speak at most
    assert parse_release("2.9") == "2.8"
    assert parse_release("3.10") == "3.9"


@pytest.mark.parametrize("text", ["", "abc", "4", "2.", ".8", "2..8", "2.8-rc1", "2.8.x", "kafka 2.8", "vv2.8"])
def test_parse_release_rejects_malformed_versions(text: str) -> None:
    with pytest.raises(ValueError, match="expected a version such as") as exc:
        parse_release(text)
    assert "known releases: 0.10.0, 0.10.1" in str(exc.value)


@pytest.mark.parametrize("text", ["0.9", "0.9.0.1", "0.8.2", "0.1"])
def test_parse_release_rejects_releases_before_api_versions(text: str) -> None:
    with pytest.raises(ValueError, match=r"older than 0\.10\.0") as exc:
        parse_release(text)
    assert ", ".join(RELEASES) in str(exc.value)


def test_parse_release_rejects_releases_newer_than_the_table() -> None:
    major, minor = (int(p) for p in RELEASES[-1].split("."))
    for text in (f"{major}.{minor + 1}", f"{major + 1}.0", "99.0.1"):
        with pytest.raises(ValueError, match=f"newer than the newest listed release {RELEASES[-1]}") as exc:
            parse_release(text)
        assert ", ".join(RELEASES) in str(exc.value)


def test_releases_are_the_table_in_ascending_order() -> None:
    assert sorted(RELEASES) == sorted(API_VERSIONS)
    as_tuples = [tuple(int(p) for p in r.split(".")) for r in RELEASES]
    assert as_tuples == sorted(as_tuples)
    assert RELEASES[0] == "0.10.0"
    assert {"0.10.1", "0.10.2", "0.11", "1.0", "2.8", "3.9", "4.0"} <= set(RELEASES)


def test_release_caps_returns_the_release_ranges() -> None:
    caps = release_caps("2.8")
    assert caps[0] == (0, 9)  # Produce
    assert caps[18] == (0, 3)  # ApiVersions
    caps[0] = (5, 5)
    assert release_caps("2.8")[0] == (0, 9)  # a copy: the table cannot be changed through it


def test_release_caps_rejects_unparsed_names() -> None:
    with pytest.raises(ValueError, match="parse_release") as exc:
        release_caps("2.8.2")
    assert "known releases:" in str(exc.value)


def test_cap_versions_narrows_ranges_to_the_release() -> None:
    # 2.8: Produce 0-9, Fetch 0-12, ApiVersions 0-3
    served = [(0, 3, 11), (1, 4, 17), (18, 0, 4)]
    assert cap_versions(served, "2.8") == [(0, 3, 9), (1, 4, 12), (18, 0, 3)]


def test_cap_versions_raises_min_to_the_release_floor() -> None:
    # 4.0 served Fetch only from v4 (it dropped v0-3)
    assert cap_versions([(1, 0, 17)], "4.0") == [(1, 4, 17)]


def test_cap_versions_drops_apis_the_release_did_not_have() -> None:
    # 68 ConsumerGroupHeartbeat arrived in 3.7; 0.10.0 had no CreateTopics (19)
    assert cap_versions([(0, 0, 9), (68, 0, 0)], "3.6") == [(0, 0, 9)]
    assert cap_versions([(19, 0, 7), (3, 0, 12)], "0.10.0") == [(3, 0, 1)]


def test_cap_versions_drops_apis_whose_ranges_do_not_overlap() -> None:
    # 4.0 served Fetch 4-17; a range entirely below it has no common version
    assert cap_versions([(1, 0, 3), (3, 0, 12)], "4.0") == [(3, 0, 12)]
    # 0.10.0 served ControlledShutdown only as v1
    assert cap_versions([(7, 2, 3)], "0.10.0") == []


def test_cap_versions_keeps_the_served_order() -> None:
    served = [(18, 0, 4), (3, 0, 12), (0, 3, 11)]
    assert [key for key, _, _ in cap_versions(served, "3.9")] == [18, 3, 0]


def test_cap_versions_passes_through_without_a_release() -> None:
    served = [(0, 3, 11), (68, 0, 0), (1, 4, 17)]
    assert cap_versions(served, None) == [(0, 3, 11), (68, 0, 0), (1, 4, 17)]


def test_release_table_agrees_with_kafka_python() -> None:
    from kafka.protocol.broker_version_data import BROKER_API_VERSIONS

    expected = {".".join(map(str, v)): dict(apis) for v, apis in BROKER_API_VERSIONS.items() if v >= (0, 10, 0)}
    assert API_VERSIONS == expected
    assert list(API_VERSIONS) == list(RELEASES)  # generated in ascending order


def test_versions_module_imports_no_client_library() -> None:
    code = "import sys, kafkasim.protocol.versions; print(sorted(m for m in sys.modules if m.split('.')[0] == 'kafka'))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "[]"

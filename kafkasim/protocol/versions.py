"""Emulating an Apache Kafka release: which API versions it served, and capping ours to them.

The facts are the generated table in ``releases.py`` (real brokers' ApiVersions responses, from 0.10.0, the
first release with ApiVersions). ``--kafka-version 2.8`` resolves through :func:`parse_release` and caps
what is advertised and served with :func:`cap_versions`.
"""

from __future__ import annotations

import re

from kafkasim.protocol.releases import API_VERSIONS


def _version_tuple(release: str) -> tuple[int, ...]:
    return tuple(int(part) for part in release.split("."))


#: known release names, ascending ("0.10.0", "0.10.1", ..., "2.8", "3.0", ...)
RELEASES: tuple[str, ...] = tuple(sorted(API_VERSIONS, key=_version_tuple))

_VERSION = re.compile(r"[vV]?(\d+(?:\.\d+)+)")


def _unknown(text: str, why: str) -> ValueError:
    return ValueError(f"unknown Kafka release {text!r}: {why}; known releases: {', '.join(RELEASES)}")


def _padded(version: tuple[int, ...], width: int) -> tuple[int, ...]:
    return version + (0,) * (width - len(version))


def parse_release(text: str) -> str:
    """The table's name for the newest listed release at or below version `text` ("2.8.2" -> "2.8").

    Accepts "2.8", "2.8.0", "v2.8", "0.10.0.1" and the like. Raises ValueError, listing the known releases, for
    a malformed version, one older than 0.10.0, or one newer than the newest listed release.
    """
    m = _VERSION.fullmatch(text.strip())
    if m is None:
        raise _unknown(text, "expected a version such as 2.8 or 3.9.1")
    version = _version_tuple(m.group(1))
    newest = _version_tuple(RELEASES[-1])
    if version[: len(newest)] > newest:
        raise _unknown(text, f"newer than the newest listed release {RELEASES[-1]}")
    # compare zero-padded so that "0.10" is 0.10.0 and "2.8" and "2.8.2" are both at or above "2.8"
    width = max(len(version), max(len(_version_tuple(r)) for r in RELEASES))
    at_or_below = [r for r in RELEASES if _padded(_version_tuple(r), width) <= _padded(version, width)]
    if not at_or_below:
        raise _unknown(text, f"older than {RELEASES[0]}, the first release with ApiVersions")
    return at_or_below[-1]


def release_caps(release: str) -> dict[int, tuple[int, int]]:
    """(min, max) version per API key that `release` (a name in RELEASES; see parse_release) served."""
    try:
        return dict(API_VERSIONS[release])
    except KeyError:
        raise _unknown(release, "not a release name from the table (parse it with parse_release)") from None


def cap_versions(served: list[tuple[int, int, int]], release: str | None) -> list[tuple[int, int, int]]:
    """`served` (api_key, min, max) triples intersected with what `release` served, in the same order.

    An API the release did not have, or whose ranges do not overlap ours, is dropped. ``release=None`` returns
    `served` unchanged.
    """
    if release is None:
        return served
    caps = release_caps(release)
    capped = []
    for key, lo, hi in served:
        if key not in caps:
            continue
        their_lo, their_hi = caps[key]
        lo, hi = max(lo, their_lo), min(hi, their_hi)
        if lo <= hi:
            capped.append((key, lo, hi))
    return capped

"""The HTTP control API: faults, clock, records, waits, brokers and /metrics of running clusters.

``ControlServer`` (aiohttp) is imported on first use, so that ``kafkasim.control.client`` (the standard
library client the CLI uses) does not load aiohttp, and a broker without a control port never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kafkasim.control.http import ControlServer

__all__ = ["ControlServer", "DEFAULT_URL"]

#: where the CLI looks for the control API by default (``kafkasim serve --control-port 19092``)
DEFAULT_URL = "http://127.0.0.1:19092"


def __getattr__(name: str) -> Any:
    if name == "ControlServer":
        from kafkasim.control.http import ControlServer

        return ControlServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

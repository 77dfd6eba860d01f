"""The HTTP control API: faults, clock, records, waits, brokers and /metrics of running clusters."""

from kafkasim.control.http import ControlServer

__all__ = ["ControlServer"]

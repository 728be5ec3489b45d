"""Scenario SUTs by MLPerf scenario name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from harness.qsl import SampleStore
from harness.scenarios.base import Completer, ProgramSlot
from harness.scenarios.offline import OfflineSUT
from harness.scenarios.server import ServerSUT

__all__ = ["SUT", "SUTS", "Completer", "ProgramSlot", "make_sut"]


class SUT(Protocol):
    scenario: str
    issued: int
    slots: list[ProgramSlot]

    def issue(self, ids: list[int], indices: list[int]) -> None: ...
    def flush(self) -> None: ...
    def stop(self) -> None: ...


SUTS: dict[str, type] = {"Offline": OfflineSUT, "Server": ServerSUT}


def make_sut(scenario: str, slots: Sequence[ProgramSlot], batch_size: int, batch_timeout_us: int,
             store: SampleStore | None = None) -> SUT:
    sut: SUT = SUTS[scenario](slots, batch_size, batch_timeout_us, store)
    return sut

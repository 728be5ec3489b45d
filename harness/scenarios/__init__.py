"""Scenario SUTs by MLPerf scenario name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import mlperf_loadgen as lg

from harness.qsl import SampleStore
from harness.scenarios.base import Completer, ProgramSlot
from harness.scenarios.offline import OfflineSUT
from harness.scenarios.server import ServerSUT
from models.program import Program

__all__ = ["SUT", "SUTS", "Completer", "ProgramSlot", "make_sut", "sut_for_programs"]


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


def sut_for_programs(scenario: str, programs: Sequence[Program], samples: SampleStore, model_name: str,
                     batch_size: int, batch_timeout_us: int) -> tuple[SUT, Completer]:
    """The SUT of a run: one slot per program, completing through one Completer into LoadGen."""
    completer = Completer(lg.QuerySamplesComplete, lg.QuerySampleResponse, model_name,
                          checked=type(programs[0]).checked)
    slots = [ProgramSlot(program, i, completer, batch_size) for i, program in enumerate(programs)]
    return make_sut(scenario, slots, batch_size, batch_timeout_us, samples), completer

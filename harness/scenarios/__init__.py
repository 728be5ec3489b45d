"""Scenario SUTs by MLPerf scenario name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from harness.backends.base import Runner
from harness.qsl import SampleStore
from harness.scenarios.base import BatchExecutor
from harness.scenarios.offline import OfflineSUT
from harness.scenarios.server import ServerSUT


class SUT(Protocol):
    scenario: str
    issued: int
    executor: BatchExecutor

    def issue(self, ids: list[int], indices: list[int]) -> None: ...
    def flush(self) -> None: ...
    def stop(self) -> None: ...


SUTS: dict[str, type] = {"Offline": OfflineSUT, "Server": ServerSUT}


def make_sut(scenario: str, runners: Sequence[Runner], executor: BatchExecutor, batch_size: int,
             batch_timeout_us: int, store: SampleStore | None = None) -> SUT:
    sut: SUT = SUTS[scenario](runners, executor, batch_size, batch_timeout_us, store)
    return sut

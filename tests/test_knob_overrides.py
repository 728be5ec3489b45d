"""--set KNOB=VALUE overrides: typed, validated, and recorded in user.conf."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.systems import Knobs, apply_overrides


def test_overrides_take_the_field_types() -> None:
    knobs = apply_overrides(Knobs(), ["batch_size=64", "server_coalesce_queries=true", "precision=fp16",
                                      "server_target_qps=1.5e5"])
    assert knobs.batch_size == 64 and knobs.server_coalesce_queries is True
    assert knobs.precision == "fp16" and knobs.server_target_qps == 150000


@pytest.mark.parametrize("item,needle", [
    ("batch_sise=4", "unknown knob 'batch_sise'"),
    ("batch_size=four", "expected a number"),
    ("batch_size=2.5", "expected an integer"),
    ("channels_last=maybe", "expected true or false"),
    ("precision=fp12", "precision 'fp12' unknown"),
    ("batch_size", "expected KNOB=VALUE"),
])
def test_bad_overrides_are_refused(item: str, needle: str) -> None:
    with pytest.raises(HarnessError, match=needle):
        apply_overrides(Knobs(), [item])

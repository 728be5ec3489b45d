"""--set KNOB=VALUE overrides: typed by their owner (run, backend, model), validated, refused when unknown."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.knobs import apply_overrides
from harness.system_configs import load_system


def _knobs(backend: str = "torch", model: str = "bert"):  # type: ignore[no-untyped-def]
    return load_system("cpu").knobs(model, "Offline", backend)


def test_overrides_take_the_field_types_of_their_owners() -> None:
    knobs = apply_overrides(_knobs(), ["batch_size=64", "server_coalesce_queries=true", "precision=fp16",
                                       "server_target_qps=1.5e5", "use_cuda_graphs=yes", "network=large"])
    assert knobs.run.batch_size == 64 and knobs.run.server_coalesce_queries is True
    assert knobs.run.precision == "fp16" and knobs.run.server_target_qps == 150000
    assert knobs.backend.use_cuda_graphs is True and knobs.model.network == "large"


@pytest.mark.parametrize("item,needle", [
    ("batch_sise=4", "unknown knob 'batch_sise' (did you mean 'batch_size'?)"),
    ("batch_size=four", "batch_size must be an integer, got 'four'"),
    ("batch_size=2.5", "batch_size must be an integer"),
    ("batch_size=0", "batch_size must be >= 1"),
    ("channels_last=maybe", "channels_last must be true or false"),
    ("precision=fp12", "precision 'fp12' unknown"),
    ("offline_expected_qps=inf", "offline_expected_qps must be a finite number"),
    ("offline_expected_qps=nan", "offline_expected_qps must be a finite number"),
    ("network=huge", "network 'huge' unknown"),
    ("batch_size", "expected KNOB=VALUE"),
])
def test_bad_overrides_are_refused(item: str, needle: str) -> None:
    with pytest.raises(HarnessError) as info:
        apply_overrides(_knobs(), [item])
    assert needle in info.value.message


def test_a_knob_of_another_backend_names_its_owner() -> None:
    with pytest.raises(HarnessError) as info:
        apply_overrides(_knobs("onnxruntime"), ["channels_last=true"])
    assert "a knob of the torch backend; this run uses onnxruntime" in info.value.message


def test_a_knob_of_another_model_is_unknown_here() -> None:
    with pytest.raises(HarnessError, match="unknown knob 'network'"):
        apply_overrides(_knobs("torch", "resnet50"), ["network=large"])

"""Sizing the fast path's slots from the GPU's free memory.

One slot holds one sample's KV cache: its prompt (up to max_input_tokens, shared by the beams) and
num_beams x max_new_tokens generated positions, over every layer, keys and values:
``layers x 2 x hidden x bytes x (max_input_tokens + beams x max_new_tokens)``. GPT-J 6B in bf16 needs
1.04 GiB a slot ((1,919 + 4 x 128) positions x 458,752 bytes). The budget is ``kv_cache_fraction`` of what is
free once the weights are loaded; a little is kept per slot for the step's scores and logits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.common import say
from harness.errors import HarnessError

GIB = 1024**3


@dataclass(frozen=True)
class SlotPlan:
    device: str
    requested_slots: int
    slots: int
    slot_bytes: int
    free_bytes: int
    budget_bytes: int
    kv_cache_fraction: float

    def describe(self) -> str:
        return (f"{self.device}: {self.slots} slots x {self.slot_bytes / GIB:.2f} GiB KV cache = "
                f"{self.slots * self.slot_bytes / GIB:.1f} GiB of {self.free_bytes / GIB:.1f} GiB free "
                f"(kv_cache_fraction {self.kv_cache_fraction:g}; batch_size asked {self.requested_slots})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def slot_bytes(n_layer: int, n_embd: int, n_head: int, vocab_size: int, dtype_bytes: int, beams: int,
               max_prompt: int, max_new: int) -> int:
    """KV cache plus step workspace (float32 scores and logits, twice) of one slot."""
    kv = n_layer * 2 * n_embd * dtype_bytes * (max_prompt + beams * max_new)
    workspace = 2 * 4 * beams * (n_head * (max_prompt + beams * max_new) + vocab_size)
    return kv + workspace


def plan_slots(device: str, requested: int, per_slot: int, free_bytes: int, fraction: float,
               fit_to_memory: bool) -> SlotPlan:
    """How many slots to allocate: ``requested`` (the run's batch_size) if they fit in ``fraction`` of
    ``free_bytes``; fewer when ``fit_to_memory``; otherwise a HarnessError naming the knobs."""
    budget = int(free_bytes * fraction)
    fits = budget // per_slot
    if fits < 1:
        raise HarnessError(
            f"GPT-J's KV cache does not fit on {device}: one slot needs {per_slot / GIB:.2f} GiB, "
            f"{budget / GIB:.2f} GiB is kv_cache_fraction {fraction:g} of the {free_bytes / GIB:.1f} GiB free "
            "after the weights", "free the GPU, raise kv_cache_fraction (--set kv_cache_fraction=0.95), or run "
            "precision fp16/bf16")
    if requested > fits and not fit_to_memory:
        raise HarnessError(
            f"batch_size {requested} needs {requested * per_slot / GIB:.1f} GiB of KV cache on {device}, but "
            f"kv_cache_fraction {fraction:g} of the {free_bytes / GIB:.1f} GiB free leaves "
            f"{budget / GIB:.1f} GiB: {fits} slots fit",
            f"lower batch_size (--batch-size {fits}), raise kv_cache_fraction, or set fit_batch_to_memory=true")
    plan = SlotPlan(device, requested, min(requested, fits), per_slot, free_bytes, budget, fraction)
    if plan.slots < requested:
        say(f"GPT-J: batch_size {requested} does not fit; running {plan.slots} slots")
    say(f"GPT-J KV cache: {plan.describe()}")
    return plan

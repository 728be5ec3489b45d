"""Beam search state for many independent samples ("slots"), updated with tensor operations only.

The update is transformers' beam search (generation/utils.py ``_beam_search``, the version pinned in
requirements.txt) restated per slot, so the fast path picks the same tokens as ``generate``:

- log-softmax of the step's logits; EOS forbidden while fewer than ``min_new_tokens`` ids exist;
- the 2 x num_beams best continuations over all running beams (running score + log-prob), in score order;
  a continuation "hits" when its token is EOS or the sample reaches ``max_new_tokens``;
- the next running beams: the num_beams best continuations that do not hit;
- finished hypotheses: continuations among the first num_beams that hit, scored sum / length**length_penalty,
  merged with the kept ones and cut to the num_beams best; none are added once all num_beams are finished
  (early_stopping) or no running beam can beat the worst kept one (the heuristic ``generate`` applies);
- a slot is done when all num_beams hypotheses are finished (early_stopping), the heuristic says no
  improvement is possible, or max_new_tokens is reached. Its answer is the best finished hypothesis.

Every tensor is allocated once; the step writes into them in place, so the decode step can be captured in a
CUDA graph. Slots that hold no sample are computed like the others and ignored.

Alongside the beams it keeps ``lineage``: for each running beam and generated position, the physical beam
row of the KV cache holding that position's keys and values. The cache is never reordered: a beam that
continues another one inherits its lineage row (see models/gptj/fast.py).
"""

from __future__ import annotations

from typing import Any

import torch

from models.generation import GenerationParams

NEG = -1.0e9  # what transformers adds to rule a candidate out
# generate's default, which the reference does not change.
LENGTH_PENALTY = 1.0


class BeamState:
    def __init__(self, slots: int, params: GenerationParams, device: Any) -> None:
        k, steps = params.num_beams, params.max_new_tokens
        self.params = params
        self.beams = k
        self.max_new = steps
        self.device = torch.device(device)
        dev = self.device
        self.prompt_len = torch.ones(slots, dtype=torch.long, device=dev)
        self.t = torch.zeros(slots, dtype=torch.long, device=dev)  # ids generated so far
        self.run_tok = torch.zeros(slots, k, steps, dtype=torch.long, device=dev)
        self.run_score = torch.zeros(slots, k, dtype=torch.float32, device=dev)
        self.fin_tok = torch.zeros(slots, k, steps, dtype=torch.long, device=dev)
        self.fin_score = torch.full((slots, k), NEG, dtype=torch.float32, device=dev)
        self.fin_flag = torch.zeros(slots, k, dtype=torch.bool, device=dev)
        self.fin_len = torch.zeros(slots, k, dtype=torch.long, device=dev)
        self.improvable = torch.ones(slots, dtype=torch.bool, device=dev)
        self.lineage = torch.zeros(slots, k, steps, dtype=torch.long, device=dev)
        self.done = torch.zeros(slots, dtype=torch.bool, device=dev)
        self.top_mask = torch.arange(2 * k, device=dev) < k
        self.beam_ids = torch.arange(k, device=dev)
        self.positions = torch.arange(steps, device=dev)

    def reset(self, slot: int, prompt_len: int) -> None:
        """Start a slot: one live beam (score 0), the others ruled out, nothing finished."""
        self.prompt_len[slot] = prompt_len
        self.t[slot] = 0
        self.run_tok[slot] = 0
        self.run_score[slot] = NEG
        self.run_score[slot, 0] = 0.0
        self.fin_tok[slot] = 0
        self.fin_score[slot] = NEG
        self.fin_flag[slot] = False
        self.fin_len[slot] = 0
        self.improvable[slot] = True
        self.lineage[slot] = 0
        self.done[slot] = False

    def view(self, index: slice) -> "BeamState":
        """The same state restricted to some slots (views: updates write through)."""
        part = object.__new__(BeamState)
        part.__dict__.update(self.__dict__)
        for name in ("prompt_len", "t", "run_tok", "run_score", "fin_tok", "fin_score", "fin_flag", "fin_len",
                     "improvable", "lineage", "done"):
            setattr(part, name, getattr(self, name)[index])
        return part

    # -- what the network step reads --------------------------------------------
    def last_tokens(self) -> torch.Tensor:
        """[slots, beams] the ids each running beam feeds next (its newest one)."""
        at = (self.t - 1).clamp(min=0, max=self.max_new - 1)[:, None, None].expand(-1, self.beams, 1)
        return self.run_tok.gather(2, at).squeeze(2)

    def write_index(self) -> torch.Tensor:
        """[slots] generated position the fed ids' keys and values go to."""
        return (self.t - 1).clamp(min=0, max=self.max_new - 1)

    def generated_mask(self) -> torch.Tensor:
        """[slots, beams, beams * max_new] True where query beam k may attend physical (beam p, position j):
        p holds position j of k's lineage and j is already generated."""
        owner = self.lineage[:, :, None, :] == self.beam_ids[None, None, :, None]  # [S, K, P, T]
        written = self.positions[None, None, None, :] < self.t[:, None, None, None]
        return (owner & written).flatten(2)

    # -- the update ---------------------------------------------------------------
    def update(self, logits: torch.Tensor) -> None:
        """One beam-search step from [slots, beams, vocab] logits of the running beams (for a slot with
        t == 0, beam 0's row is its prompt's last-position logits and the others are ignored)."""
        p = self.params
        k = self.beams
        slots, _, vocab = logits.shape
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        blocked = (self.t < p.min_new_tokens)[:, None]
        eos_col = log_probs[:, :, p.eos_token_id]
        log_probs[:, :, p.eos_token_id] = torch.where(blocked, torch.full_like(eos_col, float("-inf")), eos_col)
        scores = (log_probs + self.run_score[:, :, None]).reshape(slots, k * vocab)
        top_scores, top_index = torch.topk(scores, 2 * k, dim=1)
        source = torch.div(top_index, vocab, rounding_mode="floor")
        token = top_index % vocab
        t_next = self.t + 1
        hits = (token == p.eos_token_id) | (t_next >= self.max_new)[:, None]
        steps = self.max_new
        candidates = self.run_tok.gather(1, source[:, :, None].expand(-1, -1, steps)).clone()
        at = self.t.clamp(max=steps - 1)[:, None, None].expand(-1, 2 * k, 1)
        candidates.scatter_(2, at, token[:, :, None])
        # Next running beams: the best continuations that do not hit.
        live_scores = top_scores + hits.to(torch.float32) * NEG
        next_scores, pick = torch.topk(live_scores, k, dim=1)
        next_source = source.gather(1, pick)
        next_tokens = candidates.gather(1, pick[:, :, None].expand(-1, -1, steps))
        # Finished hypotheses.
        length = t_next.to(torch.float32)[:, None] ** LENGTH_PENALTY
        finished_scores = top_scores / length
        full = self.fin_flag.all(dim=1, keepdim=True) & p.early_stopping
        finished_scores = finished_scores + full.to(torch.float32) * NEG
        finished_scores = finished_scores + (~self.improvable)[:, None].to(torch.float32) * NEG
        just = hits & self.top_mask[None, :]
        finished_scores = finished_scores + (~just).to(torch.float32) * NEG
        merged_scores = torch.cat((self.fin_score, finished_scores), dim=1)
        keep = torch.topk(merged_scores, k, dim=1).indices
        merged_tok = torch.cat((self.fin_tok, candidates), dim=1)
        merged_flag = torch.cat((self.fin_flag, just), dim=1)
        merged_len = torch.cat((self.fin_len, t_next[:, None].expand(-1, 2 * k)), dim=1)
        self.fin_score.copy_(merged_scores.gather(1, keep))
        self.fin_tok.copy_(merged_tok.gather(1, keep[:, :, None].expand(-1, -1, steps)))
        self.fin_flag.copy_(merged_flag.gather(1, keep))
        self.fin_len.copy_(merged_len.gather(1, keep))
        # Lineage: a continued beam inherits its source's rows; its newest id goes to its own row.
        lineage = self.lineage.gather(1, next_source[:, :, None].expand(-1, -1, steps))
        lineage.scatter_(2, at[:, :k], self.beam_ids[None, :, None].expand(slots, -1, 1))
        self.lineage.copy_(lineage)
        self.run_tok.copy_(next_tokens)
        self.run_score.copy_(next_scores)
        # Can a running beam still beat the worst kept hypothesis?
        best_possible = next_scores[:, :1] / length
        worst = torch.where(self.fin_flag, self.fin_score.min(dim=1, keepdim=True).values,
                            torch.full_like(self.fin_score, NEG))
        self.improvable.copy_(self.improvable & (best_possible > worst).any(dim=1))
        all_finished = self.fin_flag.all(dim=1) & p.early_stopping
        self.done.copy_(~self.improvable | all_finished | (t_next >= self.max_new))
        self.t.copy_(t_next)

    def answer(self, slot: int) -> torch.Tensor:
        """The best finished hypothesis of a done slot (1-D ids, EOS included when it ended on one)."""
        return self.fin_tok[slot, 0, : int(self.fin_len[slot, 0])]

"""The counting model and its beam-search step decoder.

next-token log-probabilities given the prompt's target and the last token: below the target, last+1
is likely and last+2 the runner-up (so the beams differ); at the target, EOS. Beam search keeps the
``num_beams`` best partial sequences per slot by summed log-probability; a beam that picks EOS becomes a
finished hypothesis; with early stopping a slot is done once it holds ``num_beams`` of them (or at
max_new_tokens), and answers its best by length-normalised score.
"""

from __future__ import annotations

import numpy as np
import torch

from models.generation import GenerationParams

VOCAB = 32


def next_token_logprobs(target: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """[rows] target and last token -> [rows, VOCAB] log-probabilities."""
    rows = target.shape[0]
    logits = torch.zeros(rows, VOCAB)
    at_end = last >= target
    pos = torch.arange(rows)
    nxt = torch.clamp(last + 1, max=VOCAB - 1)
    alt = torch.clamp(last + 2, max=VOCAB - 1)
    logits[pos[~at_end], nxt[~at_end]] = 6.0
    logits[pos[~at_end], alt[~at_end]] = 3.0
    logits[pos[at_end], 0] = 6.0
    return torch.log_softmax(logits, dim=-1)


class BeamCounter:
    """A StepDecoder: ``slots`` prompts decoded at once, each with its beams."""

    def __init__(self, params: GenerationParams, slots: int, device: str) -> None:
        self.params = params
        self.slots = slots
        self.device = device
        self._state: dict[int, dict] = {}

    def admit(self, slot: int, prompt: np.ndarray) -> None:
        if len(prompt) > self.params.max_input_tokens:
            raise ValueError(f"prompt of {len(prompt)} tokens > {self.params.max_input_tokens}")
        target, start = int(prompt[0]), int(prompt[1])
        self._state[slot] = {"target": target, "beams": [([start], 0.0)], "done": []}

    def step(self) -> list[tuple[int, np.ndarray]]:
        p = self.params
        slots = sorted(self._state)
        rows = [(slot, beam) for slot in slots for beam in self._state[slot]["beams"]]
        target = torch.tensor([self._state[slot]["target"] for slot, _ in rows])
        last = torch.tensor([beam[0][-1] for _, beam in rows])
        logprobs = next_token_logprobs(target, last)  # one batched call for every beam of every slot
        finished = []
        for slot in slots:
            state = self._state[slot]
            mine = [i for i, (s, _) in enumerate(rows) if s == slot]
            candidates = []
            for i in mine:
                tokens, score = rows[i][1]
                top = torch.topk(logprobs[i], 2 * p.num_beams)
                for value, token in zip(top.values.tolist(), top.indices.tolist()):
                    candidates.append((score + value, tokens, token))
            candidates.sort(key=lambda c: -c[0])
            beams = []
            for score, tokens, token in candidates:
                generated = len(tokens)  # the prompt's last token counts as position 0
                if token == p.eos_token_id and generated - 1 >= p.min_new_tokens:
                    state["done"].append((score / generated, tokens[1:]))
                elif token != p.eos_token_id:
                    beams.append((tokens + [token], score))
                if len(beams) == p.num_beams:
                    break
            state["beams"] = beams
            out_of_room = len(beams[0][0]) - 1 >= p.max_new_tokens if beams else True
            if (p.early_stopping and len(state["done"]) >= p.num_beams) or out_of_room:
                pool = state["done"] or [(score / len(tokens), tokens[1:]) for tokens, score in beams]
                best = max(pool, key=lambda h: h[0])[1]
                finished.append((slot, np.asarray(best, dtype=np.int32)))
                del self._state[slot]
        return finished

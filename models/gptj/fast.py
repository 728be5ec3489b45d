"""The fast path: GPT-J beam search over fixed slots with a static KV cache (a models.generation.StepDecoder).

KV cache, allocated once for ``slots`` samples:
- prompt part ``[layers, k|v, slots, heads, max_prompt, head_dim]``: a sample's prompt keys and values,
  stored once and shared by its num_beams beams (a decode step reads them once for all four);
- generated part ``[layers, k|v, slots, heads, beams * max_new, head_dim]``: physical row p, position j
  holds the keys and values of the id beam p fed at step j. Beams are never copied when beam search
  reorders them: ``BeamState.lineage`` says which physical row holds each position of each running beam,
  and attention reads all rows of the slot and masks the ones off its lineage (one batched matmul per
  slot and head, every key read once).

admit() runs the prompt (prefill: one causal pass, scaled-dot-product attention on CUDA) and the first beam
step; step() feeds every running beam its newest id, attends over [prompt | generated] with one softmax,
and updates the beams (models/gptj/beam.py). On CUDA each step is one CUDA graph replay, one graph per
prompt width bucket (the longest live prompt rounded up to ``WIDTH_BUCKET``), all captured when the decoder
is built; on the CPU it runs eagerly over the exact width. The network math is GPT-J's (transformers' GPTJModel):
parallel attention and MLP on one LayerNorm, rotary on the first rotary_dim channels of each head
(interleaved pairs), attention scores in float32, tanh GELU.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.errors import HarnessError
from models.generation import GenerationParams
from models.gptj.beam import BeamState
from models.gptj.reference import check_prompt

WIDTH_BUCKET = 128


class FastWeights:
    """GPT-J's parameters in the layout the fast path multiplies with (q, k, v fused), taken from a
    transformers GPTJForCausalLM (which may be dropped afterwards)."""

    def __init__(self, model: Any) -> None:
        config = model.config
        self.n_layer = config.n_layer
        self.n_embd = config.n_embd
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.rotary_dim = config.rotary_dim or self.head_dim
        self.n_positions = config.n_positions
        self.eps = config.layer_norm_epsilon
        self.vocab_size = config.vocab_size
        body = model.transformer
        self.layers = []
        with torch.no_grad():
            for block in body.h:
                attn, mlp = block.attn, block.mlp
                self.layers.append({
                    "ln_w": block.ln_1.weight, "ln_b": block.ln_1.bias,
                    "qkv": torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight], dim=0),
                    "out": attn.out_proj.weight, "fc_in_w": mlp.fc_in.weight, "fc_in_b": mlp.fc_in.bias,
                    "fc_out_w": mlp.fc_out.weight, "fc_out_b": mlp.fc_out.bias,
                })
            self.wte = body.wte.weight
            self.ln_f_w, self.ln_f_b = body.ln_f.weight, body.ln_f.bias
            self.lm_w, self.lm_b = model.lm_head.weight, model.lm_head.bias
            sincos = body.h[0].attn.embed_positions.to(self.wte.device)  # [positions, rotary] float32
            half = sincos.shape[-1] // 2
            self.sin = sincos[:, :half].to(self.wte.dtype).contiguous()
            self.cos = sincos[:, half:].to(self.wte.dtype).contiguous()
        self.dtype = self.wte.dtype
        self.device = self.wte.device


def _rotary(x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor, rot: int) -> torch.Tensor:
    """GPT-J rotary embedding of the first ``rot`` channels (pairs 2i, 2i+1); sin/cos broadcast to [..., rot/2]."""
    even, odd = x[..., 0:rot:2], x[..., 1:rot:2]
    turned = torch.stack((even * cos - odd * sin, odd * cos + even * sin), dim=-1).flatten(-2)
    return torch.cat((turned, x[..., rot:]), dim=-1)


class FastGptj:
    """GPT-J forward passes over the static KV cache of ``slots`` samples."""

    def __init__(self, weights: FastWeights, slots: int, beams: int, max_prompt: int, max_new: int) -> None:
        w = weights
        self.w = w
        self.slots, self.beams, self.max_prompt, self.max_new = slots, beams, max_prompt, max_new
        self.scale = math.sqrt(w.head_dim)
        shape = (w.n_layer, 2, slots, w.n_head)
        self.prompt_kv = torch.zeros(*shape, max_prompt, w.head_dim, dtype=w.dtype, device=w.device)
        self.gen_kv = torch.zeros(*shape, beams * max_new, w.head_dim, dtype=w.dtype, device=w.device)
        self._slot_ids = torch.arange(slots, device=w.device)[:, None]
        self._beam_rows = torch.arange(beams, device=w.device)[None, :] * max_new

    def _mlp(self, layer: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        inner = F.gelu(F.linear(h, layer["fc_in_w"], layer["fc_in_b"]), approximate="tanh")
        return F.linear(inner, layer["fc_out_w"], layer["fc_out_b"])

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        h = F.layer_norm(x, (self.w.n_embd,), self.w.ln_f_w, self.w.ln_f_b, self.w.eps)
        return F.linear(h, self.w.lm_w, self.w.lm_b).float()

    def prefill(self, slot: int, ids: torch.Tensor) -> torch.Tensor:
        """Run one prompt ([n] ids), store its keys and values in ``slot``; the last position's logits [vocab]."""
        w = self.w
        n = int(ids.shape[0])
        x = F.embedding(ids, w.wte)
        sin, cos = w.sin[:n, None, :], w.cos[:n, None, :]
        for index, layer in enumerate(w.layers):
            h = F.layer_norm(x, (w.n_embd,), layer["ln_w"], layer["ln_b"], w.eps)
            q, k, v = F.linear(h, layer["qkv"]).view(n, 3, w.n_head, w.head_dim).unbind(1)
            q, k = _rotary(q, sin, cos, w.rotary_dim), _rotary(k, sin, cos, w.rotary_dim)
            q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)  # [heads, n, head_dim]
            self.prompt_kv[index, 0, slot, :, :n] = k
            self.prompt_kv[index, 1, slot, :, :n] = v
            if x.device.type == "cuda":
                attn = F.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=True)[0]
            else:
                scores = torch.matmul(q.float(), k.float().transpose(-1, -2)) / self.scale
                future = torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1)
                probs = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1).to(v.dtype)
                attn = torch.matmul(probs, v)
            out = F.linear(attn.transpose(0, 1).reshape(n, w.n_embd), layer["out"])
            x = out + self._mlp(layer, h) + x
        return self._logits(x[-1:])[0]

    def decode(self, tokens: torch.Tensor, position: torch.Tensor, write_at: torch.Tensor, bias: torch.Tensor,
               width: int) -> torch.Tensor:
        """One step for every slot and beam: ``tokens`` [slots, beams] at ``position`` [slots] (prompt length +
        generated - 1), their keys/values written at generated position ``write_at`` [slots]; attention over
        the first ``width`` prompt positions and all generated rows, masked by ``bias`` [slots, 1, beams,
        width + beams * max_new]. Returns float32 logits [slots, beams, vocab]."""
        w = self.w
        s, b = tokens.shape
        x = F.embedding(tokens.reshape(-1), w.wte)
        sin, cos = w.sin[position][:, None, None, :], w.cos[position][:, None, None, :]
        rows = self._beam_rows + write_at[:, None]  # [slots, beams]
        for index, layer in enumerate(w.layers):
            h = F.layer_norm(x, (w.n_embd,), layer["ln_w"], layer["ln_b"], w.eps)
            q, k, v = F.linear(h, layer["qkv"]).view(s, b, 3, w.n_head, w.head_dim).unbind(2)
            q, k = _rotary(q, sin, cos, w.rotary_dim), _rotary(k, sin, cos, w.rotary_dim)
            cache_k, cache_v = self.gen_kv[index, 0], self.gen_kv[index, 1]  # [slots, heads, rows, head_dim]
            cache_k[self._slot_ids, :, rows] = k
            cache_v[self._slot_ids, :, rows] = v
            qh = q.permute(0, 2, 1, 3)  # [slots, heads, beams, head_dim]
            if qh.dtype != torch.float32:
                # Scores come out of the matmul in the cache's dtype: scale q first so fp16 cannot overflow
                # (transformers computes them in float32; in bf16/fp16 this path rounds them once more).
                qh = qh / self.scale
            prompt_k = self.prompt_kv[index, 0, :, :, :width]
            prompt_v = self.prompt_kv[index, 1, :, :, :width]
            scores = torch.cat((torch.matmul(qh, prompt_k.transpose(-1, -2)),
                                torch.matmul(qh, cache_k.transpose(-1, -2))), dim=-1).float()
            if qh.dtype == torch.float32:
                scores = scores / self.scale  # after the product, as transformers does
            probs = torch.softmax(scores + bias, dim=-1).to(v.dtype)
            attn = torch.matmul(probs[..., :width], prompt_v) + torch.matmul(probs[..., width:], cache_v)
            out = F.linear(attn.permute(0, 2, 1, 3).reshape(s * b, w.n_embd), layer["out"])
            x = out + self._mlp(layer, h) + x
        return self._logits(x).view(s, b, -1)


class FastBeamDecoder:
    """models.generation.StepDecoder: ``slots`` samples decoded at once with beam search, each admitted into
    a free slot between steps and reported by step() as soon as it is done."""

    def __init__(self, weights: FastWeights, params: GenerationParams, slots: int, use_cuda_graphs: bool = True,
                 max_prompt: int | None = None) -> None:
        self.params = params
        self.slots = slots
        self.max_prompt = max_prompt or params.max_input_tokens
        if self.max_prompt + params.max_new_tokens > weights.n_positions:
            raise HarnessError(f"prompts of {self.max_prompt} tokens plus {params.max_new_tokens} new ones exceed the "
                               f"network's {weights.n_positions} positions")
        self.device = weights.device
        self.net = FastGptj(weights, slots, params.num_beams, self.max_prompt, params.max_new_tokens)
        self.state = BeamState(slots, params, self.device)
        self.active = [False] * slots
        self.prompt_lens = [0] * slots
        self._ready: list[tuple[int, np.ndarray]] = []
        self.use_graphs = use_cuda_graphs and self.device.type == "cuda"
        self._graphs: dict[int, Any] = {}
        self._pool: Any = None
        self.steps = 0
        if self.use_graphs:
            self.capture_all()

    def widths(self) -> list[int]:
        """The prompt widths a CUDA step is captured for (the bucket of the longest live prompt)."""
        return sorted({min(self.max_prompt, b) for b in range(WIDTH_BUCKET, self.max_prompt + WIDTH_BUCKET,
                                                              WIDTH_BUCKET)})

    def capture_all(self) -> None:
        """Capture every width's graph now, before any sample (so none is captured during a timed run)."""
        with torch.inference_mode():
            for width in self.widths():
                if width not in self._graphs:
                    self._capture(width)

    # -- StepDecoder -------------------------------------------------------------
    def admit(self, slot: int, prompt: np.ndarray) -> None:
        prompt = np.asarray(prompt)
        if self.active[slot]:
            raise RuntimeError(f"slot {slot} is busy")
        check_prompt(prompt, self.max_prompt)
        with torch.inference_mode():
            ids = torch.from_numpy(prompt.astype(np.int64)).to(self.device)
            self.state.reset(slot, int(prompt.size))
            logits = self.net.prefill(slot, ids)
            part = self.state.view(slice(slot, slot + 1))
            part.update(logits[None, None, :].expand(1, self.params.num_beams, -1))
            self.active[slot] = True
            self.prompt_lens[slot] = int(prompt.size)
            if bool(part.done[0]):  # max_new_tokens of 1
                self._ready.append((slot, self._take(slot)))

    def step(self) -> list[tuple[int, np.ndarray]]:
        finished, self._ready = self._ready, []
        if not any(self.active):
            return finished
        live = [length for length, on in zip(self.prompt_lens, self.active) if on]
        width = max(live)
        if self.device.type == "cuda":
            width = min(self.max_prompt, -(-width // WIDTH_BUCKET) * WIDTH_BUCKET)
        with torch.inference_mode():
            if self.use_graphs:
                self._replay(width)
            else:
                self._step(width)
            done = self.state.done.cpu().tolist()
        self.steps += 1
        for slot in range(self.slots):
            if self.active[slot] and done[slot]:
                finished.append((slot, self._take(slot)))
        return finished

    def _take(self, slot: int) -> np.ndarray:
        self.active[slot] = False
        return self.state.answer(slot).cpu().numpy().copy()

    # -- one step ---------------------------------------------------------------------
    def _bias(self, width: int) -> torch.Tensor:
        st = self.state
        prompt_ok = torch.arange(width, device=self.device)[None, :] < st.prompt_len[:, None]  # [S, width]
        ok = torch.cat((prompt_ok[:, None, :].expand(-1, self.params.num_beams, -1), st.generated_mask()), dim=-1)
        zero = torch.zeros((), dtype=torch.float32, device=self.device)
        return torch.where(ok, zero, torch.full((), float("-inf"), device=self.device))[:, None]

    def _step(self, width: int) -> None:
        st = self.state
        position = (st.prompt_len + st.t - 1).clamp(0, self.net.w.n_positions - 1)
        logits = self.net.decode(st.last_tokens(), position, st.write_index(), self._bias(width), width)
        st.update(logits)

    def _replay(self, width: int) -> None:
        graph = self._graphs.get(width)
        if graph is None:
            graph = self._capture(width)
        graph.replay()

    def _capture(self, width: int) -> Any:
        """Capture the step for this width. The warm-up run moves the beams, so their state is saved first
        and put back after (the keys and values it writes are the ones the real step writes again)."""
        st = self.state
        names = ("t", "run_tok", "run_score", "fin_tok", "fin_score", "fin_flag", "fin_len", "improvable",
                 "lineage", "done")
        saved = {name: getattr(st, name).clone() for name in names}
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            self._step(width)
        torch.cuda.current_stream(self.device).wait_stream(side)
        for name in names:
            getattr(st, name).copy_(saved[name])
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        # thread_local: the generator's own thread captures; others (LoadGen's) may run meanwhile.
        with torch.cuda.graph(graph, pool=self._pool, capture_error_mode="thread_local"):
            self._step(width)
        for name in names:  # capture does not run the kernels, but keep the state exact anyway
            getattr(st, name).copy_(saved[name])
        self._graphs[width] = graph
        return graph

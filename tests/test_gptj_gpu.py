"""GPT-J's fast path on a CUDA GPU: CUDA-graph steps against eager steps and against transformers' generate,
and the KV cache sized from free memory (needs a CUDA GPU; never run on the development machines)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.generation import generate_all
from models.gptj import GENERATION, GptJ, GptjOptions
from models.gptj.demo import TOKENIZER_DIR, demo_articles
from models.gptj.fast import FastBeamDecoder, FastWeights
from models.gptj.network import GPTJ_TINY, load_network
from models.gptj.preprocess import GptjTokenizer, prompt_text
from models.gptj.reference import ReferenceGenerate

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU and a CUDA build of torch")]


def _prompts(tokenizer: GptjTokenizer) -> list[np.ndarray]:
    ids = tokenizer.encode_prompts([prompt_text(r) for r in demo_articles(6, seed=9)])
    return [p[-n:] for p, n in zip(ids, (12, 40, 200, 333, 700, 1919))]


def test_graph_steps_equal_eager_steps_and_generate_in_fp32() -> None:
    tokenizer = GptjTokenizer(TOKENIZER_DIR)
    model = load_network(None, GPTJ_TINY, tokenizer.vocab_size, tokenizer.eos_id, 0, "cuda:0", "fp32")
    with torch.no_grad():
        model.lm_head.bias[tokenizer.eos_id] += 7.0
    params = replace(GENERATION, eos_token_id=tokenizer.eos_id, pad_token_id=tokenizer.eos_id)
    prompts = _prompts(tokenizer)
    reference = ReferenceGenerate(model, params, 6, "cuda:0")(prompts)
    graphs = generate_all(FastBeamDecoder(FastWeights(model), params, slots=4, use_cuda_graphs=True), prompts)
    eager = generate_all(FastBeamDecoder(FastWeights(model), params, slots=4, use_cuda_graphs=False), prompts)
    assert [g.tolist() for g in graphs] == [e.tolist() for e in eager]
    assert [g.tolist() for g in graphs] == [r.tolist() for r in reference]


def test_slots_are_sized_from_free_memory() -> None:
    model = GptJ(options=GptjOptions(network="6b", kv_cache_fraction=0.5), on_gpu=True)
    decoder = model.torch_generator("cuda:0", "bf16", 10_000)
    plan = model.memory_plans[-1]
    assert decoder.slots == plan["slots"] < 10_000 and plan["slot_bytes"] > 1_000_000_000
    assert plan["slots"] * plan["slot_bytes"] <= plan["budget_bytes"]

"""GPT-J generation on a tiny random GPT-J in fp32: the fast path's beam search against transformers' generate.

The EOS logit bias moves where beams end: none (every sample runs to max_new_tokens), some (early stopping
fires for some samples and not others), all (EOS wins as soon as min_new_tokens allows it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
import torch

from harness.backends.generation import SlotGenerator
from harness.errors import HarnessError
from models.generation import GenerationParams, generate_all
from models.gptj import GENERATION
from models.gptj.demo import TOKENIZER_DIR, demo_articles
from models.gptj.fast import FastBeamDecoder, FastWeights
from models.gptj.network import GPTJ_TINY, load_network
from models.gptj.preprocess import GptjTokenizer, prompt_text
from models.gptj.reference import ReferenceGenerate, trim_generated

LENGTHS = (12, 40, 75, 150, 333)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """As the model does for its tiny network on the CPU (a thread pool only adds waiting)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tokenizer() -> GptjTokenizer:
    return GptjTokenizer(TOKENIZER_DIR)


@pytest.fixture(scope="module")
def prompts(tokenizer: GptjTokenizer) -> list[np.ndarray]:
    ids = tokenizer.encode_prompts([prompt_text(r) for r in demo_articles(len(LENGTHS), seed=9)])
    return [p[-n:] for p, n in zip(ids, LENGTHS)]


def _model(tokenizer: GptjTokenizer, eos_bias: float) -> torch.nn.Module:
    model = load_network(None, GPTJ_TINY, tokenizer.vocab_size, tokenizer.eos_id, 0, "cpu", "fp32")
    with torch.no_grad():
        model.lm_head.bias[tokenizer.eos_id] += eos_bias
    return model


def _params(tokenizer: GptjTokenizer, **changes: int) -> GenerationParams:
    return replace(GENERATION, eos_token_id=tokenizer.eos_id, pad_token_id=tokenizer.eos_id, **changes)


@pytest.mark.parametrize("eos_bias, changes, chosen, ended", [
    (7.0, {}, (0, 3, 4), "some"),  # the reference's 4 beams, 128 new tokens, at least 30
    (0.0, {"max_new_tokens": 40, "min_new_tokens": 5}, (0, 1, 2, 3, 4), "none"),
    (50.0, {"max_new_tokens": 40, "min_new_tokens": 9}, (0, 1, 2, 3, 4), "all"),
])
def test_fast_path_equals_transformers_generate(tokenizer: GptjTokenizer, prompts: list[np.ndarray],
                                                eos_bias: float, changes: dict[str, int], chosen: tuple[int, ...],
                                                ended: str) -> None:
    model = _model(tokenizer, eos_bias)
    params = _params(tokenizer, **changes)
    prompts = [prompts[i] for i in chosen]
    reference = ReferenceGenerate(model, params, max_batch=len(prompts), device="cpu")(prompts)
    fast = generate_all(FastBeamDecoder(FastWeights(model), params, slots=3), prompts)
    assert [r.tolist() for r in fast] == [r.tolist() for r in reference]
    stopped = [r[-1] == tokenizer.eos_id for r in reference]
    assert {"some": any(stopped) and not all(stopped), "none": not any(stopped), "all": all(stopped)}[ended]
    for r, hit in zip(reference, stopped):
        if hit:  # EOS can come no earlier than after min_new_tokens ids
            assert params.min_new_tokens < len(r) <= params.max_new_tokens
        else:
            assert len(r) == params.max_new_tokens
        assert tokenizer.eos_id not in r[:-1].tolist()
    if ended == "all":
        assert all(len(r) == params.min_new_tokens + 1 for r in reference)


def test_a_batch_of_the_reference_path_answers_as_batches_of_one(tokenizer: GptjTokenizer,
                                                                 prompts: list[np.ndarray]) -> None:
    model = _model(tokenizer, 7.0)
    params = _params(tokenizer, max_new_tokens=36, min_new_tokens=12)
    batched = ReferenceGenerate(model, params, max_batch=2, device="cpu")(prompts[:2])
    alone = [ReferenceGenerate(model, params, max_batch=1, device="cpu")([p])[0] for p in prompts[:2]]
    assert [b.tolist() for b in batched] == [a.tolist() for a in alone]
    assert trim_generated(np.array([5, 9, 2, 9, 9]), 9).tolist() == [5, 9]


def test_continuous_batching_completes_every_sample_once(tokenizer: GptjTokenizer, prompts: list[np.ndarray]) -> None:
    model = _model(tokenizer, 7.0)
    params = _params(tokenizer, max_new_tokens=48, min_new_tokens=6)
    requests = [prompts[i % len(prompts)] for i in range(9)]
    alone = generate_all(FastBeamDecoder(FastWeights(model), params, slots=1), requests[:len(prompts)])
    decoder = FastBeamDecoder(FastWeights(model), params, slots=2)
    runner = SlotGenerator(decoder, "cpu")
    seen: dict[int, list[int]] = {}
    order: list[int] = []
    lock = threading.Lock()

    def done(request_id: int, tokens: np.ndarray) -> None:
        with lock:
            seen.setdefault(request_id, []).extend(tokens.tolist())
            order.append(request_id)

    try:
        for i, prompt in enumerate(requests[:4]):
            runner.submit(i, prompt, done)
        runner.drain()
        for i, prompt in enumerate(requests[4:], start=4):  # these join while others run
            runner.submit(i, prompt, done)
        runner.drain()
    finally:
        runner.close()
    assert runner.failure() is None
    assert sorted(order) == list(range(len(requests)))  # each reported exactly once
    for i in range(len(requests)):
        assert seen[i] == alone[i % len(prompts)].tolist()  # slots do not disturb each other
    # Samples leave as they finish: fewer steps than running the requests two by two to the longest.
    pairs = [max(len(alone[i % len(prompts)]), len(alone[(i + 1) % len(prompts)])) for i in range(0, 9, 2)]
    assert decoder.steps < sum(pairs)


def test_prompt_longer_than_the_maximum_is_refused(tokenizer: GptjTokenizer) -> None:
    model = _model(tokenizer, 0.0)
    params = _params(tokenizer, max_input_tokens=64)
    decoder = FastBeamDecoder(FastWeights(model), params, slots=1)
    too_long = np.ones(65, dtype=np.int32)
    with pytest.raises(HarnessError, match="65 tokens is longer than the generator's maximum of 64"):
        decoder.admit(0, too_long)
    with pytest.raises(HarnessError, match="non-empty"):
        decoder.admit(0, np.zeros(0, dtype=np.int32))
    with pytest.raises(HarnessError, match="longer than the generator's maximum"):
        ReferenceGenerate(model, params, 1, "cpu")([too_long])
    assert not any(decoder.active)

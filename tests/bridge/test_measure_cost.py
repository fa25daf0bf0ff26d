"""One evaluation of the live callback, made cheaper at equal accuracy.

The evaluation runs each held-out prompt once and continues its cache into the scored rows and
into the samples (``sequences.prompt_pass``, ``continuation_logprobs``, ``sample_continuations``), the
scored rows riding on the samples' forwards (``sample_and_score``).
Equal accuracy: its samples are ``generate``'s under the same generator (the path it replaces),
and every metric is its definition computed row by row from plain forwards (float tolerance).
Its speed is measured in benchmarks/measure_cost.py, not here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList  # noqa: E402

from nondecoupling import ParameterError  # noqa: E402
from nondecoupling.bridge.models.measure import CouplingMeasurer  # noqa: E402
from nondecoupling.bridge.models.sequences import (  # noqa: E402
    continuation_logprobs,
    pad_pairs,
    prompt_pass,
    sample_and_score,
    sample_continuations,
    sequence_logprobs,
)
from nondecoupling.bridge.models.tiny import TinyQwen3Size, build_char_tokenizer, build_tiny_qwen3  # noqa: E402
from tests.bridge.tasks import ExpertTask, task_reward  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]
TINY = TinyQwen3Size(hidden_size=16, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=8, intermediate_size=32)


class _DrawWithGenerator(LogitsProcessor):
    """The replaced path: greedy ``generate`` keeps only a token drawn from softmax(logits) with a generator."""

    def __init__(self, generator):
        self.generator = generator

    def __call__(self, input_ids, scores):
        chosen = torch.multinomial(torch.softmax(scores.float(), dim=-1), 1, generator=self.generator)
        return torch.full_like(scores, -math.inf).scatter(-1, chosen, 0.0)


def _generated(model, prompt_ids, *, max_new_tokens, eos, pad, seed):
    """Completions (up to EOS) that ``generate`` draws with ``_DrawWithGenerator``."""
    inputs = torch.tensor(prompt_ids)
    config = GenerationConfig(do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=pad, eos_token_id=eos)
    out = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs), generation_config=config,
                         logits_processor=LogitsProcessorList([_DrawWithGenerator(torch.Generator().manual_seed(seed))]))
    return [row[: row.index(eos) + 1] if eos in row else row for row in out[:, inputs.shape[1] :].tolist()]


class _WithoutCache(torch.nn.Module):
    """A module with a causal LM's forward that returns no cache."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.device = inner, inner.device

    def forward(self, input_ids, attention_mask=None, **_):
        return type("Out", (), {"logits": self.inner(input_ids=input_ids, attention_mask=attention_mask).logits})()


@pytest.fixture(scope="module")
def digit():
    task = ExpertTask.addition(3, 2)
    tokenizer = build_char_tokenizer()
    pairs = [(p, y, w) for p in task.prompts for y, w in task.expert_distribution(p).items()]
    return task, tokenizer, pairs


@pytest.mark.parametrize("seed", [0, 1])
def test_samples_are_generates_under_the_same_generator_and_carry_their_log_probability(digit, seed):
    _, tokenizer, _ = digit
    model = build_tiny_qwen3(tokenizer, TINY, seed=seed + 10).eval()
    prompts = [tokenizer(f"{i}+{j}=")["input_ids"] for i in range(3) for j in range(3)] * 4  # repeated rows, as spp > 1 makes
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    with torch.no_grad():
        expected = _generated(model, prompts, max_new_tokens=5, eos=eos, pad=pad, seed=seed)
        distinct = list(dict.fromkeys(map(tuple, prompts)))
        passed = prompt_pass(model, distinct)
        index = [distinct.index(tuple(p)) for p in prompts]
        for scored in (model, _WithoutCache(model)):
            drawn, logprobs = sample_continuations(scored, passed if scored is model else prompt_pass(scored, distinct), index,
                                                   max_new_tokens=5, eos_id=eos, pad_id=pad, generator=torch.Generator().manual_seed(seed))
            assert drawn == expected
            np.testing.assert_allclose(logprobs, sequence_logprobs(model, pad_pairs(prompts, drawn, pad_id=pad)), rtol=1e-5, atol=1e-6)
    lengths = {len(row) for row in expected}
    assert 5 in lengths and min(lengths) < 5  # rows that stop at EOS and rows cut at max_new_tokens: both branches ran


def test_continuations_score_the_whole_rows_with_one_forward_per_batch(digit):
    _, tokenizer, _ = digit
    model = build_tiny_qwen3(tokenizer, TINY, seed=7).eval()
    prompts = [[1, 2, 3], [4, 5, 6]]
    shapes = []
    model.register_forward_hook(lambda module, args, kwargs, out: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    with torch.no_grad():
        passed = prompt_pass(model, prompts)
        for index, responses in (([0, 1, 0], [[7], [8, 9, 10], [11, 12]]), ([1, 0], [[7], [8]])):
            full = sequence_logprobs(model, pad_pairs([prompts[i] for i in index], responses, pad_id=0))
            shapes.clear()
            np.testing.assert_allclose(continuation_logprobs(model, passed, index, responses, pad_id=0), full, rtol=1e-6)
            longest = max(map(len, responses))
            assert shapes == ([(len(index), longest - 1)] if longest > 1 else [])  # the last token predicts nothing: not fed
        np.testing.assert_allclose(continuation_logprobs(model, passed, [0, 1, 0], [[7], [8, 9, 10], [11, 12]], pad_id=0),
                                   sequence_logprobs(model, pad_pairs([prompts[0], prompts[1], prompts[0]], [[7], [8, 9, 10], [11, 12]],
                                                                      pad_id=0)), rtol=1e-6)  # the kept pass serves again


LONG = [[7, 8, 9], [7, 8], [7], [7, 10, 11, 12, 13, 14, 9], [8, 9]]  # shared first tokens; one outlasts the samples
SHORT = [[7, 8], [7], [8, 9], [7, 9], [9]]  # the samples outlast them


@pytest.mark.parametrize("max_new_tokens, responses", [(1, LONG), (2, LONG), (5, LONG), (5, SHORT)])
def test_scored_rows_ride_on_the_samples_forwards_each_distinct_prefix_once(digit, max_new_tokens, responses):
    """sample_and_score: sample_continuations' samples and continuation_logprobs' scores (float tolerance), with one
    forward per sampling step (+1 for the scored tokens the samples outlast), each distinct prefix fed once."""
    _, tokenizer, _ = digit
    model = build_tiny_qwen3(tokenizer, TINY, seed=3).eval()
    prompts = [[1, 2, 3], [4, 5, 6]]
    index = [0, 0, 1, 0, 1]
    shapes = []
    model.register_forward_hook(lambda module, args, kwargs, out: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    with torch.no_grad():
        passed = prompt_pass(model, prompts)
        for scored in (model, _WithoutCache(model)):
            pass_of = passed if scored is model else prompt_pass(scored, prompts)
            drawn, logprobs = sample_continuations(scored, pass_of, [0, 1, 1], max_new_tokens=max_new_tokens, eos_id=eos, pad_id=pad,
                                                   generator=torch.Generator().manual_seed(4))
            full = sequence_logprobs(model, pad_pairs([prompts[i] for i in index], responses, pad_id=pad))
            shapes.clear()
            got = sample_and_score(scored, pass_of, [0, 1, 1], index, responses, max_new_tokens=max_new_tokens, eos_id=eos,
                                   pad_id=pad, generator=torch.Generator().manual_seed(4))
            assert got[0] == drawn
            np.testing.assert_allclose(got[1], logprobs, rtol=1e-6)
            np.testing.assert_allclose(got[2], full, rtol=1e-5)
            if scored is model:
                steps = max(len(row) for row in drawn) - 1  # a forward per drawn token after the first
                assert len(shapes) == steps + (max(map(len, responses)) - 1 > steps)  # + the tokens the samples outlast: one forward
                if steps:  # the first step: one row per distinct (prompt, token): samples' and responses' shared
                    first = {(i, row[0]) for i, row in zip([0, 1, 1], drawn) if row[0] != eos} | {(i, r[0]) for i, r in zip(index, responses) if len(r) > 1}
                    assert shapes[0] == (len(first), 1)


def test_a_float64_model_is_scored_in_float64(digit):
    """The cached-prefix paths against the full forward, both in float64: equal to 1e-12, not to float32's 1e-7.

    They cast the logits to float32 for bf16/fp16 models only; before, a float64 model's
    scores went through float32 (the converged V1 runs' logged SFT loss is 1e-8 to 1.4e-7 off the exact sum).
    """
    _, tokenizer, _ = digit
    model = build_tiny_qwen3(tokenizer, TINY, seed=5).double().eval()
    prompts, index, responses = [[1, 2, 3], [4, 5, 6]], [0, 1, 0, 1], [[7], [8, 9, 10], [11, 12], [7, 8]]
    with torch.no_grad():
        full = sequence_logprobs(model, pad_pairs([prompts[i] for i in index], responses, pad_id=0))
        passed = prompt_pass(model, prompts)
        assert full.dtype == passed.last_logits.dtype == torch.float64
        np.testing.assert_allclose(continuation_logprobs(model, passed, index, responses, pad_id=0), full, rtol=1e-12)
        scored = sample_and_score(model, passed, [0, 1], index, responses, max_new_tokens=3, eos_id=tokenizer.eos_token_id,
                                  pad_id=tokenizer.pad_token_id, generator=torch.Generator().manual_seed(1))[2]
        np.testing.assert_allclose(scored, full, rtol=1e-12)


def _old_samples(measurer, model, encoded, seed):
    """The replaced ``_sample``: ``generate`` per batch of one prompt length, with the evaluation's generator."""
    prompts = [p for p in encoded["prompts"] for _ in range(measurer.samples_per_prompt)]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded["prompt_ids"][prompts[i]]))
    generator = torch.Generator().manual_seed((seed * 1_009) % 2**63)
    config = GenerationConfig(do_sample=False, max_new_tokens=encoded["max_new_tokens"], pad_token_id=encoded["pad"],
                              eos_token_id=encoded["eos"])
    samples = {}
    for start in range(0, len(order), measurer.batch_size):
        batch = order[start : start + measurer.batch_size]
        assert len({len(encoded["prompt_ids"][prompts[i]]) for i in batch}) == 1  # the task's prompts have one length
        inputs = torch.tensor([encoded["prompt_ids"][prompts[i]] for i in batch])
        out = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs), generation_config=config,
                             logits_processor=LogitsProcessorList([_DrawWithGenerator(generator)]))
        for i, row in zip(batch, out[:, inputs.shape[1] :].tolist()):
            samples[i] = row[: row.index(encoded["eos"]) + 1] if encoded["eos"] in row else row
    return [encoded["prompt_ids"][p] for p in prompts], [samples[i] for i in range(len(prompts))]


@pytest.mark.parametrize("samples_per_prompt, batch_size", [(1, 256), (3, 4)])
def test_an_evaluation_is_its_definition_on_the_replaced_paths_samples(digit, samples_per_prompt, batch_size):
    """sft_loss, pass_rate, reward, kl, forward_kl: generate's samples and plain forwards, row by row."""
    task, tokenizer, pairs = digit
    policy, reference = build_tiny_qwen3(tokenizer, TINY, seed=5).eval(), build_tiny_qwen3(tokenizer, TINY, seed=6).eval()
    prompts, responses, weights = zip(*pairs)
    reward = task_reward(task)
    measurer = CouplingMeasurer(prompts, responses, tokenizer=tokenizer, weights=weights, reward_fn=reward, exact_pass_rate=True,
                                samples_per_prompt=samples_per_prompt, batch_size=batch_size, seed=2)
    metrics = [measurer.evaluate(policy, step=step, reference=reference) for step in (3, 4)]
    encoded = measurer._encode()

    def one_by_one(model, prompt_ids, response_ids):
        return np.array([float(sequence_logprobs(model, pad_pairs([p], [r], pad_id=encoded["pad"]))) for p, r in zip(prompt_ids, response_ids)])

    with torch.no_grad():
        heldout = one_by_one(policy, [encoded["prompt_ids"][p] for p in prompts], encoded["responses"])
        ref_prompts, ref_samples = _old_samples(measurer, reference, encoded, -1 - 2)
        ref_logprobs = (one_by_one(reference, ref_prompts, ref_samples), one_by_one(policy, ref_prompts, ref_samples))
        forward_kl = ref_logprobs[0] - ref_logprobs[1]
        for step, got in zip((3, 4), metrics):
            sample_prompts, samples = _old_samples(measurer, policy, encoded, 2 * 1_000_003 + step)
            logprobs = (one_by_one(policy, sample_prompts, samples), one_by_one(reference, sample_prompts, samples))
            kl = logprobs[0] - logprobs[1]
            texts = tokenizer.batch_decode(samples, skip_special_tokens=True)
            rewards = np.array(reward(prompts=[p for p in encoded["prompts"] for _ in range(samples_per_prompt)], completions=texts))
            assert got["sft_loss"] == pytest.approx(-np.dot(weights, heldout) / sum(weights), rel=1e-6)
            assert got["pass_rate"] == pytest.approx(np.exp(heldout[encoded["correct"]]).sum() / len(task.prompts), rel=1e-6)
            assert got["reward"] == rewards.mean() and got["reward_samples"] == len(samples)
            assert got["reward_se"] == pytest.approx(rewards.std(ddof=1) / math.sqrt(len(rewards)), rel=1e-9)
            # a mean of differences of float32 log-probabilities: its error scales with their size, not the difference's
            assert got["kl"] == pytest.approx(kl.mean(), abs=1e-6 * np.abs(logprobs).sum(0).mean())
            assert got["forward_kl"] == pytest.approx(forward_kl.mean(), abs=1e-6 * np.abs(ref_logprobs).sum(0).mean())


def test_the_references_prompt_pass_and_samples_are_kept_until_it_changes(digit):
    task, tokenizer, pairs = digit
    policy, reference = build_tiny_qwen3(tokenizer, TINY, seed=8).eval(), build_tiny_qwen3(tokenizer, TINY, seed=9).eval()
    prompts, responses, weights = zip(*pairs)
    measurer = CouplingMeasurer(prompts, responses, tokenizer=tokenizer, weights=weights, reward_fn=task_reward(task))
    shapes = []
    reference.register_forward_hook(lambda module, args, kwargs, out: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    first = measurer.evaluate(policy, step=1, reference=reference)
    prompt_length = len(tokenizer(task.prompts[0])["input_ids"])
    assert shapes.count((len(task.prompts), prompt_length)) == 1  # one prompt pass for its samples and its scoring
    shapes.clear()
    again = measurer.evaluate(policy, step=1, reference=reference)
    assert again == first and all(rows != len(task.prompts) or width != prompt_length for rows, width in shapes)
    measurer.forget_reference()
    other = build_tiny_qwen3(tokenizer, TINY, seed=10).eval()
    fresh = CouplingMeasurer(prompts, responses, tokenizer=tokenizer, weights=weights, reward_fn=task_reward(task))
    assert measurer.evaluate(policy, step=1, reference=other) == fresh.evaluate(policy, step=1, reference=other)


def test_an_evaluation_of_the_reference_itself_gives_zero_kls_and_seeds_the_references_cache(digit):
    """model_is_reference: both KLs 0 exactly, pi_ref never run, the other metrics those of a plain evaluation; the
    model's samples then serve as pi_ref's (a later forward_kl is their log-ratio, row by row)."""
    task, tokenizer, pairs = digit
    policy, other = build_tiny_qwen3(tokenizer, TINY, seed=11).eval(), build_tiny_qwen3(tokenizer, TINY, seed=12).eval()
    reference = build_tiny_qwen3(tokenizer, TINY, seed=11).eval()  # the policy's weights, as "rl_start" copies them
    calls = []
    reference.register_forward_hook(lambda *_: calls.append(1))
    prompts, responses, weights = zip(*pairs)
    settings = dict(tokenizer=tokenizer, weights=weights, reward_fn=task_reward(task), exact_pass_rate=True, samples_per_prompt=2)
    measurer = CouplingMeasurer(prompts, responses, **settings)
    same = measurer.evaluate(policy, step=0, reference=reference, model_is_reference=True)
    assert same["kl"] == 0.0 and same["forward_kl"] == 0.0 and calls == []
    plain = CouplingMeasurer(prompts, responses, **settings).evaluate(policy, step=0, reference=reference)
    assert {k: same[k] for k in ("sft_loss", "pass_rate", "reward", "reward_se")} == {k: plain[k] for k in ("sft_loss", "pass_rate", "reward", "reward_se")}
    assert abs(plain["kl"]) < 1e-5 and abs(plain["forward_kl"]) < 1e-5  # computed: zero to float tolerance
    later = measurer.evaluate(other, step=1, reference=reference)
    encoded = measurer._encode()
    sample_prompts = [encoded["prompt_ids"][p] for p in encoded["prompts"] for _ in range(2)]
    samples = measurer._reference_samples[1]
    with torch.no_grad():
        log_ratio = [float(sequence_logprobs(reference, pad_pairs([p], [y], pad_id=encoded["pad"])) -
                           sequence_logprobs(other, pad_pairs([p], [y], pad_id=encoded["pad"]))) for p, y in zip(sample_prompts, samples)]
    assert later["forward_kl"] == pytest.approx(np.mean(log_ratio), abs=1e-5)
    with pytest.raises(ParameterError, match="model_is_reference"):
        measurer.evaluate(policy, model_is_reference=True)

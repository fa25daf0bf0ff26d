"""The exact-expectation KL-regularized objective against brute-force enumeration of every completion.

``pass_probability`` and ``sequence_kl`` sum over a prefix tree; the reference here lists every
terminal completion (EOS-terminated or cut at ``max_tokens``), scores each with one
teacher-forced forward pass, and sums ``pi(y) log(pi(y) / pi_ref(y))`` directly. The tilt's
optimum and the distance to it are checked against a 50-digit tabular computation.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("trl")
torch = pytest.importorskip("torch")
mpmath = pytest.importorskip("mpmath")

from nondecoupling import ParameterError  # noqa: E402
from simulations.qwen3.exact_rl import (  # noqa: E402
    build_tree,
    distance_to_tilt,
    node_log_probs,
    pass_probability,
    sequence_kl,
    tilt_optimum,
)
from simulations.qwen3.model import TinyQwen3Size, build_tiny_qwen3  # noqa: E402
from simulations.qwen3.runner import enumerated_records  # noqa: E402
from simulations.qwen3.task import DigitTask  # noqa: E402
from simulations.qwen3.tokenizer import build_char_tokenizer  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]
SIZE = TinyQwen3Size(hidden_size=16, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=8, intermediate_size=32)


def _terminal_completions(vocab: int, eos: int, max_tokens: int):
    """Every completion generation can end with: up to EOS, or cut at max_tokens."""
    inner = [t for t in range(vocab) if t != eos]
    for length in range(max_tokens):
        yield from (list(path) + [eos] for path in itertools.product(inner, repeat=length))
    yield from (list(path) for path in itertools.product(inner, repeat=max_tokens))


def _brute_force_log_probs(model, prompt_ids, completions) -> np.ndarray:
    by_length = {}
    for index, completion in enumerate(completions):
        by_length.setdefault(len(completion), []).append(index)
    out = np.empty(len(completions))
    for length, indices in by_length.items():
        ids = torch.tensor([prompt_ids + completions[i] for i in indices])
        with torch.no_grad():
            logits = model(input_ids=ids).logits.double()
        start = len(prompt_ids)
        steps = torch.log_softmax(logits[:, start - 1 : start - 1 + length], -1)
        out[indices] = steps.gather(-1, ids[:, start:, None]).squeeze(-1).sum(-1).numpy()
    return out


@pytest.mark.parametrize("task, max_tokens", [(DigitTask(operation="add", num_operands=3, answer_width=1), 2),
                                              (DigitTask(operation="add", num_operands=2, answer_width=2), 3)])
def test_tree_sums_match_every_completion_enumerated(task, max_tokens):
    tokenizer = build_char_tokenizer()
    policy = build_tiny_qwen3(tokenizer, SIZE, seed=1).double()
    reference = build_tiny_qwen3(tokenizer, SIZE, seed=2).double()
    tree = build_tree(task, tokenizer, max_tokens=max_tokens)
    with torch.no_grad():
        by_depth, ref_by_depth = node_log_probs(policy, tree), node_log_probs(reference, tree)
        passed, kl = pass_probability(by_depth, tree).numpy(), sequence_kl(by_depth, ref_by_depth, tree).numpy()
    completions = list(_terminal_completions(len(tokenizer), tokenizer.eos_token_id, max_tokens))
    for k, prompt in enumerate(task.prompts):
        prompt_ids = tokenizer(prompt)["input_ids"]
        log_p = _brute_force_log_probs(policy, prompt_ids, completions)
        log_q = _brute_force_log_probs(reference, prompt_ids, completions)
        assert math.isclose(np.exp(log_p).sum(), 1.0, rel_tol=1e-9)  # the terminal set is complete
        correct = tokenizer(task.correct_answer(prompt), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        assert math.isclose(passed[k], np.exp(log_p[completions.index(correct)]), rel_tol=1e-9)
        assert math.isclose(kl[k], float(np.sum(np.exp(log_p) * (log_p - log_q))), rel_tol=1e-8, abs_tol=1e-14)


def test_tree_needs_equal_prompt_lengths_and_the_answer_length():
    tokenizer = build_char_tokenizer()
    with pytest.raises(ParameterError, match="max_tokens"):
        build_tree(DigitTask(operation="add", num_operands=3, answer_width=1), tokenizer, max_tokens=3)
    with pytest.raises(ParameterError, match="one token length"):
        build_tree(DigitTask(operation="add", num_operands=11, answer_width=2), tokenizer, max_tokens=3)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 6), st.floats(0.05, 3.0), st.integers(0, 2**32 - 1))
def test_distance_to_tilt_is_the_kl_to_the_tilt(outcomes, beta, seed):
    """Tabular: J(pi) = pi(c) - beta KL(pi || pi_ref); (J* - J) / beta must be KL(pi || pi_ref e^{r/beta} / Z), 50 digits."""
    rng = np.random.default_rng(seed)
    reference, policy = rng.dirichlet(np.ones(outcomes), size=3), rng.dirichlet(np.ones(outcomes), size=3)
    with mpmath.workdps(50):
        s = 1 / mpmath.mpf(beta)
        values, distances, tilt_rates = [], [], []
        for q, p in zip(reference, policy):
            q, p = [mpmath.mpf(v) for v in q], [mpmath.mpf(v) for v in p]  # outcome 0 is the correct one
            tilt = [q[0] * mpmath.exp(s)] + q[1:]
            z = mpmath.fsum(tilt)
            tilt = [t / z for t in tilt]
            kl = mpmath.fsum(pi * mpmath.log(pi / qi) for pi, qi in zip(p, q))
            values.append(p[0] - beta * kl)
            distances.append(mpmath.fsum(pi * mpmath.log(pi / ti) for pi, ti in zip(p, tilt)))
            tilt_rates.append(tilt[0])
        objective_value, distance, tilt_rate = (float(mpmath.fsum(v) / 3) for v in (values, distances, tilt_rates))
    optimum = tilt_optimum(reference[:, 0], beta)
    assert math.isclose(optimum["tilt_pass_rate"], tilt_rate, rel_tol=1e-12)
    assert math.isclose(distance_to_tilt(objective_value, optimum["optimal_objective"], beta), distance,
                        rel_tol=1e-8, abs_tol=1e-12 / beta)


def test_enumerated_records_are_the_expert_exactly():
    task = DigitTask(operation="add", num_operands=5, answer_width=1)
    records = enumerated_records(task, 1000)
    assert len(records) == 1000
    for prompt in task.prompts:
        answers = [r["completion"] for r in records if r["prompt"] == prompt]
        for answer, probability in task.expert_distribution(prompt).items():
            assert answers.count(answer) == round(probability * len(answers))
    with pytest.raises(ParameterError, match="multiple"):
        enumerated_records(task, 1001)
    with pytest.raises(ParameterError, match="integer"):
        enumerated_records(task, 25 * 7)

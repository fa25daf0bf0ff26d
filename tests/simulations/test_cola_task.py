"""The CoLA-like task: exact a, H(p*) and rates by enumeration, both rewards, the grammar."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import ParameterError, tilted_tradeoff
from simulations.qwen3.cola import COLA_CHARACTERS, FAMILIES, ColaTask, acceptable_sentences, labelled_sentences, last_label
from simulations.qwen3.tokenizer import CHARACTERS, build_char_tokenizer

open_unit = st.floats(0.02, 0.98)


@st.composite
def tasks(draw):
    strict = draw(st.floats(0.02, 0.96))
    bare = draw(st.floats(0.01, 0.99 - strict))
    return ColaTask(label_accuracy=draw(open_unit), strict_format_rate=strict, bare_rate=bare)


def _enumerate(task: ColaTask, prompt: str, reward) -> tuple[float, float]:
    """(E_{p*} reward, H(p*)) summed over p*'s support, independent of the closed forms."""
    dist = task.expert_distribution(prompt)
    probs = np.array(list(dist.values()))
    return float(sum(p * reward(prompt, y) for y, p in dist.items())), float(-(probs * np.log(probs)).sum())


@given(tasks())
def test_expert_rates_and_entropy_match_enumeration(task):
    for prompt in task.prompts[::7]:
        strict, entropy = _enumerate(task, prompt, task.reward)
        lenient, _ = _enumerate(task, prompt, task.lenient_reward)
        assert strict == pytest.approx(task.expert_pass_rate, abs=1e-12)
        assert lenient == pytest.approx(task.lenient_expert_pass_rate, abs=1e-12)
        assert entropy == pytest.approx(task.expert_entropy, abs=1e-12)
        assert sum(task.expert_distribution(prompt).values()) == pytest.approx(1.0, abs=1e-12)


@given(tasks())
def test_format_error_rate_is_the_mass_outside_the_prescribed_format(task):
    prompt = task.prompts[0]
    off_format = sum(p for y, p in task.expert_distribution(prompt).items() if not (len(y) == 2 and y[0] == "="))
    assert off_format == pytest.approx(task.format_error_rate, abs=1e-12)


def test_six_distinct_answers_and_one_strict_pass_per_prompt():
    task = ColaTask()
    for prompt in task.prompts:
        dist = task.expert_distribution(prompt)
        assert len(dist) == 6
        assert [y for y in dist if task.reward(prompt, y)] == [task.correct_answer(prompt)]
        assert sum(task.lenient_reward(prompt, y) for y in dist) == 3  # every style of the right label


def test_strict_and_lenient_rewards_disagree_exactly_on_format():
    task = ColaTask()
    prompt = "ceD?"  # acceptable: subject, agreeing transitive verb, object
    assert task.label(prompt) == "y"
    cases = {"=y": (1, 1), "=n": (0, 0), "y": (0, 1), "=ny": (0, 1), "=yn": (0, 0), "xyz": (0, 1), "x=": (0, 0), "": (0, 0), " =y ": (1, 1)}
    for text, (strict, lenient) in cases.items():
        assert (task.reward(prompt, text), task.lenient_reward(prompt, text)) == (strict, lenient), text


def test_last_label():
    assert last_label("nny") == "y" and last_label("=yn") == "n" and last_label("=") is None


def test_grammar_labels():
    labelled = labelled_sentences()
    # agreement, order and missing-word violations are unacceptable; agreeing S-V(-O) is acceptable
    assert labelled["cr"] and labelled["CR"] and labelled["ceD"] and labelled["CEd"]
    for bad in ("cR", "Dr", "rd", "C", "ce", "cDe", "CeD"):
        assert labelled.get(bad) is False, bad
    assert sum(labelled.values()) == len(acceptable_sentences()) == 20
    assert len(labelled) - 20 >= 18  # one variant per acceptable sentence, a few coincide
    assert len(FAMILIES) == 3


def test_tokenizer_covers_the_task_and_keeps_digit_ids():
    pytest.importorskip("tokenizers", reason="the tokenizer needs the torch extra (tokenizers, transformers)")
    digits = build_char_tokenizer()
    cola = build_char_tokenizer(CHARACTERS + COLA_CHARACTERS)
    assert digits("37=")["input_ids"] == cola("37=")["input_ids"]
    task = ColaTask()
    unk = cola.unk_token_id
    for prompt, answer in itertools.product(task.prompts, task.expert_distribution(task.prompts[0])):
        ids = cola(prompt + answer)["input_ids"]
        assert unk not in ids
        assert cola.decode(ids, skip_special_tokens=True) == prompt + answer


def test_c1_from_the_reward_table_is_positive_and_matches_the_bernoulli_form():
    # V1's C1(beta) = E_x[log Z_beta - a/beta]: the strict reward is binary and the same
    # up to relabelling on every prompt, so it equals kl(a || b(s)) at s = 1/beta (K2).
    task = ColaTask()
    probs, rewards = task.expert_reward_table()
    s = 4.0
    reward, increase, _ = tilted_tradeoff(s, probs, rewards)
    a = task.expert_pass_rate
    z = a * np.exp(s) + 1 - a
    assert np.allclose(increase, np.log(z) - s * a, rtol=1e-12)
    assert np.allclose(reward, a * np.exp(s) / z)
    assert float(np.mean(increase)) > 0.1


@pytest.mark.parametrize("kwargs", [{"label_accuracy": 1.0}, {"strict_format_rate": 0.0}, {"strict_format_rate": 0.7, "bare_rate": 0.35}])
def test_invalid_parameters_raise(kwargs):
    with pytest.raises(ParameterError):
        ColaTask(**kwargs)


def test_cola_figures_skip_without_logs(tmp_path):
    from simulations.plots import Skip, cola_runs

    with pytest.raises(Skip, match="no finished CoLA runs"):
        cola_runs.draw(np.random.default_rng(0), quick=True, data_dir=tmp_path)


@pytest.mark.slow
@pytest.mark.torch
def test_cola_pipeline_end_to_end_with_kl_penalty(tmp_path):
    """``--task cola`` with GRPO's KL penalty on a tiny model built here: logs, final rewards, run table."""
    pytest.importorskip("trl", reason="the runner needs the torch extra")
    from simulations.qwen3.__main__ import main
    from simulations.qwen3.experiments import final_rewards, load_runs, rl_curve

    out = tmp_path / "beta" / "beta0.5-seed0"
    argv = ["--task", "cola", "--beta", "0.5", "--threads", "1", "--hidden-size", "16", "--num-layers", "1", "--num-heads", "2",
            "--num-kv-heads", "1", "--head-dim", "8", "--intermediate-size", "32", "--sft-steps", "3", "--rl-steps", "3",
            "--pretrain-steps", "2", "--sft-train-size", "64", "--pretrain-size", "64", "--sft-batch-size", "16",
            "--rl-prompts-per-step", "2", "--num-generations", "4", "--eval-every", "2", "--out", str(out)]
    assert main(argv) == 0
    rewards = final_rewards(out, samples_per_prompt=2)
    assert 0.0 <= rewards["strict_reward"] <= rewards["lenient_reward"] <= 1.0  # a strict pass is a lenient one
    ((meta, run),) = load_runs(out.parent)
    assert meta["config"]["training"]["beta"] == 0.5 and meta["task"]["name"] == "cola"
    assert meta["expert_pass_rate"] == pytest.approx(ColaTask().expert_pass_rate)
    curve = rl_curve(meta, run)
    assert curve["phase"].eq("rl").all() and curve["sft_increase"].iloc[0] == 0.0

"""The Qwen3 runner: exact expert quantities, exact evaluation, and a tiny end-to-end run.

The expert's a and H(p*) are checked against direct enumeration of p*; the evaluation's
sequence-level SFT loss and pass rate against unpadded one-sequence forward passes; K1
(CE >= H(p*) + kl(a || b), a theorem for *any* policy) on every logged point of a real
TRL run and on random models, with the exact pass rate.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import ParameterError, kl_bernoulli

pytest.importorskip("trl")
torch = pytest.importorskip("torch")

from transformers import TrainerState  # noqa: E402

from nondecoupling.bridge.callback import response_token_ids  # noqa: E402
from simulations.qwen3.__main__ import main  # noqa: E402
from simulations.qwen3.model import TinyQwen3Size, build_tiny_qwen3, load_policy  # noqa: E402
from simulations.qwen3.runner import PipelineConfig  # noqa: E402
from simulations.qwen3.stages import task_callback  # noqa: E402
from simulations.qwen3.task import DigitTask  # noqa: E402
from simulations.qwen3.tokenizer import build_char_tokenizer  # noqa: E402

pytestmark = pytest.mark.torch

tasks = st.builds(
    DigitTask,
    operation=st.sampled_from(["reverse", "add"]),
    num_operands=st.integers(1, 10),
    answer_width=st.just(2),
    expert_pass_rate=st.floats(0.01, 0.99),
    num_wrong=st.integers(1, 20),
    base_radius=st.integers(0, 10),
)


@given(tasks)
def test_expert_pass_rate_and_entropy_match_enumeration(task):
    for prompt in task.prompts:
        expert = task.expert_distribution(prompt)
        assert len(expert) == task.num_wrong + 1  # the answers are distinct
        probs = np.array(list(expert.values()))
        assert math.isclose(probs.sum(), 1.0, rel_tol=1e-12)
        assert math.isclose(sum(p * task.reward(prompt, y) for y, p in expert.items()), task.expert_pass_rate, rel_tol=1e-12)
        assert math.isclose(-(probs * np.log(probs)).sum(), task.expert_entropy, rel_tol=1e-10)
        base = task.base_distribution(prompt)
        assert len(base) == 2 * task.base_radius + 1
        assert math.isclose(sum(p * task.reward(prompt, y) for y, p in base.items()), task.base_pass_rate, rel_tol=1e-12)


def test_verifier_accepts_exactly_the_zero_padded_sum():
    task = DigitTask(operation="add", answer_width=2)
    assert len(task.prompts) == 100 and task.prompts[34] == "3+4="
    assert task.reward("3+4=", "07") == 1.0
    assert task.reward("9+9=", "18") == 1.0
    for wrong in ("7", "007", "08", "70", ""):
        assert task.reward("3+4=", wrong) == 0.0


def test_verifier_accepts_exactly_the_reversed_string():
    task = DigitTask(operation="reverse", answer_width=3)
    assert len(task.prompts) == 1000 and task.prompts[12] == "012="
    assert task.reward("012=", "210") == 1.0
    for wrong in ("21", "012", "211", " 210x", ""):
        assert task.reward("012=", wrong) == 0.0


def test_expert_samples_follow_the_expert():
    task = DigitTask(expert_pass_rate=0.3)
    records = task.sample("expert", 4000, np.random.default_rng(0))
    passed = np.mean([task.reward(r["prompt"], r["completion"]) for r in records])
    # Binomial(4000, 0.3): 6 standard deviations is 0.044.
    assert abs(passed - 0.3) < 6 * math.sqrt(0.3 * 0.7 / 4000)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(expert_pass_rate=1.0),
        dict(expert_pass_rate=0.0),
        dict(num_wrong=0),
        dict(answer_width=1, num_wrong=10),
        dict(operation="add", answer_width=1),
    ],
)
def test_bad_task_parameters_are_named(kwargs):
    with pytest.raises(ParameterError):
        DigitTask(**kwargs)


def test_unknown_operation_is_named():
    with pytest.raises(ValueError, match="operation"):
        DigitTask(operation="multiply")


def test_bad_pipeline_is_named():
    with pytest.raises(ValueError, match="pipeline"):
        PipelineConfig(pipeline="rl-then-sft")


def test_stage_plans_share_the_same_budgets():
    sft_rl = PipelineConfig(pipeline="sft-rl", sft_steps=10, rl_steps=7).stages()
    rl_sft = PipelineConfig(pipeline="rl-sft", sft_steps=10, rl_steps=7).stages()
    alternating = PipelineConfig(pipeline="alternating", sft_steps=10, rl_steps=7, cycles=3).stages()
    assert [p for p, _, _ in sft_rl] == ["sft", "rl"] and [p for p, _, _ in rl_sft] == ["rl", "sft"]
    assert [p for p, _, _ in alternating] == ["sft", "rl"] * 3
    for plan in (sft_rl, rl_sft, alternating):
        assert sum(n for p, n, _ in plan if p == "sft") == 10 and sum(n for p, n, _ in plan if p == "rl") == 7


def test_tokenizer_round_trips_and_splits_prompt_from_completion():
    tokenizer = build_char_tokenizer()
    ids = tokenizer("3+4=07")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and len(ids) == 7
    assert tokenizer.decode(ids, skip_special_tokens=True) == "3+4=07"
    assert response_token_ids(tokenizer, "3+4=", "07") == tokenizer("07")["input_ids"][1:] + [tokenizer.eos_token_id]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One thread: these models are tiny, and on a shared CPU two threads spin against each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def small_setup():
    task = DigitTask(operation="add", num_operands=3)
    tokenizer = build_char_tokenizer()
    size = TinyQwen3Size(hidden_size=16, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=8, intermediate_size=32)
    return task, tokenizer, size


def _direct_logprob(model, tokenizer, prompt, answer):
    """log pi(answer + EOS | prompt) from one unpadded forward pass."""
    prompt_ids = tokenizer(prompt)["input_ids"]
    ids = prompt_ids + response_token_ids(tokenizer, prompt, answer)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].double()
    logprobs = torch.log_softmax(logits, dim=-1)
    return float(sum(logprobs[t - 1, ids[t]] for t in range(len(prompt_ids), len(ids))))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evaluation_is_the_exact_sequence_level_loss_and_satisfies_k1(small_setup, seed):
    task, tokenizer, size = small_setup
    model = build_tiny_qwen3(tokenizer, size, seed=seed).eval()
    metrics = task_callback(task, tokenizer, samples_per_prompt=2, eval_every=1, seed=0, output_dir=None).evaluate(model)
    expected_loss = np.mean(
        [-sum(p * _direct_logprob(model, tokenizer, x, y) for y, p in task.expert_distribution(x).items()) for x in task.prompts]
    )
    expected_pass = np.mean([math.exp(_direct_logprob(model, tokenizer, x, task.correct_answer(x))) for x in task.prompts])
    assert math.isclose(metrics["sft_loss"], expected_loss, rel_tol=1e-5)
    assert math.isclose(metrics["pass_rate"], expected_pass, rel_tol=1e-4)
    # K1 holds for every policy; a per-token loss (about a third of this) would break it.
    assert metrics["sft_loss"] >= task.expert_entropy + kl_bernoulli(task.expert_pass_rate, metrics["pass_rate"])


def test_tiny_alternating_run_writes_the_canonical_logs(tmp_path):
    out = tmp_path / "run"
    argv = [
        "--out", str(out), "--pipeline", "alternating", "--cycles", "2", "--sft-steps", "4", "--rl-steps", "4",
        "--pretrain-steps", "4", "--eval-every", "2", "--answer-width", "1", "--sft-train-size", "64",
        "--pretrain-size", "64", "--sft-batch-size", "8", "--rl-prompts-per-step", "2", "--num-generations", "4",
        "--samples-per-prompt", "2", "--hidden-size", "16", "--num-layers", "1", "--num-heads", "2",
        "--num-kv-heads", "1", "--head-dim", "8", "--intermediate-size", "32", "--seed", "3",
    ]  # fmt: skip
    assert main(argv) == 0
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    meta = json.loads((out / "run_meta.json").read_text())
    # Each 2-step stage is evaluated before its first update and after steps 1 and 2.
    assert [r["phase"] for r in records] == ["sft"] * 3 + ["rl"] * 3 + ["sft"] * 3 + ["rl"] * 3
    assert [r["stage"] for r in records] == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    assert [r["step"] for r in records] == [0, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8]
    task = DigitTask(answer_width=1)
    for record in records:
        assert 0.0 <= record["reward"] <= 1.0 and record["reward_samples"] == 2 * len(task.prompts)
        assert math.isfinite(record["kl"]) and record["lr"] > 0
        assert record["sft_loss"] >= task.expert_entropy + kl_bernoulli(task.expert_pass_rate, record["pass_rate"])
    assert meta["expert_pass_rate"] == task.expert_pass_rate and meta["expert_entropy"] == task.expert_entropy
    assert meta["seed"] == 3 and meta["pipeline"] == "alternating" and meta["command"].startswith("python -m simulations.qwen3")
    assert meta["model_config"]["model_type"] == "qwen3" and meta["wall_time_s"] > 0
    state = TrainerState.load_from_json(str(out / "trainer_state.json"))
    evaluations = [e for e in state.log_history if "eval_sft_loss" in e]
    assert [e["step"] for e in evaluations] == list(range(9))  # later stages' openings repeat a closing
    assert state.global_step == 8


def test_a_local_checkpoint_loads_as_the_policy(small_setup, tmp_path):
    task, tokenizer, size = small_setup
    model = build_tiny_qwen3(tokenizer, size, seed=5)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = load_policy(str(tmp_path), size, seed=0)
    assert loaded_tokenizer("3+4=07")["input_ids"] == tokenizer("3+4=07")["input_ids"]
    callback = task_callback(task, tokenizer, samples_per_prompt=1, eval_every=1, seed=0, output_dir=None)
    assert callback.evaluate(loaded)["sft_loss"] == pytest.approx(callback.evaluate(model)["sft_loss"], rel=1e-6)

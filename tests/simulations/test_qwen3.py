"""The Qwen3 runner: exact expert quantities, exact evaluation, and a tiny end-to-end run.

The expert's a and H(p*) are checked against direct enumeration of p*; the evaluation's
sequence-level SFT loss and pass rate against unpadded one-sequence forward passes; K1
(CE >= H(p*) + kl(a || b), a theorem for *any* policy) on every logged point of a real
TRL run and on random models, with the exact pass rate.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import ParameterError, kl_bernoulli

pytest.importorskip("trl")
torch = pytest.importorskip("torch")

from transformers import TrainerState  # noqa: E402

from nondecoupling.bridge.models.sequences import response_token_ids  # noqa: E402
from simulations.qwen3.__main__ import main  # noqa: E402
from simulations.qwen3.model import TinyQwen3Size, build_tiny_qwen3, load_policy  # noqa: E402
from simulations.qwen3.runner import PipelineConfig  # noqa: E402
from simulations.qwen3.stages import TrainingSettings, task_callback  # noqa: E402
from simulations.qwen3.task import DigitTask  # noqa: E402
from simulations.qwen3.tokenizer import CHARACTERS, build_char_tokenizer, build_qwen_style_tokenizer  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]
REPO = Path(__file__).resolve().parents[2]

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


RUN_ARGS = [
    "--pipeline", "sft-rl", "--sft-steps", "4", "--rl-steps", "4", "--eval-every", "2", "--answer-width", "1",
    "--sft-train-size", "64", "--pretrain-size", "64", "--sft-batch-size", "8", "--rl-prompts-per-step", "2",
    "--num-generations", "4", "--samples-per-prompt", "2", "--hidden-size", "16", "--num-layers", "1", "--num-heads", "2",
    "--num-kv-heads", "1", "--head-dim", "8", "--intermediate-size", "32", "--seed", "3", "--device", "cpu",
]  # fmt: skip
#: sft-rl with 4 + 4 steps, evaluated at each stage's start, steps 1, 2 and 4.
RUN_STEPS = [0, 1, 2, 4, 4, 5, 6, 8]


def test_precision_and_device_flags_are_checked():
    from simulations.qwen3.__main__ import build_parser, config_from_args
    from simulations.qwen3.stages import resolve_dtype

    config = config_from_args(build_parser().parse_args(["--out", "x", "--beta", "0.04", "--dtype", "bf16", "--task", "digit"]))
    assert config.training.beta == 0.04 and config.training.dtype == "bf16" and isinstance(config.task, DigitTask)
    assert resolve_dtype("auto", "cpu") == "fp32" and resolve_dtype("auto", "cuda") == "bf16"
    with pytest.raises(ParameterError, match="fp16"):
        PipelineConfig(training=TrainingSettings(dtype="fp16", device="cpu"))
    with pytest.raises(ParameterError, match="beta"):
        TrainingSettings(beta=-0.1)
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="device"):
            TrainingSettings(device="cuda")


@pytest.mark.slow
def test_a_qwen_style_checkpoint_runs_in_bf16_with_a_kl_penalty(tmp_path):
    """--model PATH: Qwen's tokens (no BOS, <|im_end|> as EOS), loaded and trained in bf16, GRPO with beta > 0."""
    tokenizer = build_qwen_style_tokenizer()
    assert tokenizer("3=")["input_ids"] == tokenizer("3=", add_special_tokens=False)["input_ids"]  # no BOS
    assert response_token_ids(tokenizer, "3=", "3")[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>")
    size = TinyQwen3Size(hidden_size=16, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=8, intermediate_size=32)
    build_tiny_qwen3(tokenizer, size, seed=0).save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    out = tmp_path / "run"
    argv = ["--out", str(out), "--model", str(tmp_path / "ckpt"), "--dtype", "bf16", "--beta", "0.04",
            "--pretrain-steps", "2", *RUN_ARGS]
    assert main(argv) == 0
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == RUN_STEPS
    task = DigitTask(answer_width=1)
    for record in records:  # K1 is a theorem: it holds in bf16 too (log-probabilities in float32)
        assert record["sft_loss"] >= task.expert_entropy + kl_bernoulli(task.expert_pass_rate, record["pass_rate"]) - 1e-4
    meta = json.loads((out / "run_meta.json").read_text())
    assert meta["dtype"] == "bf16" and meta["device"] == "cpu" and meta["config"]["training"]["beta"] == 0.04
    saved, saved_tokenizer = load_policy(str(out / "model"), size, seed=0, dtype=torch.bfloat16)
    assert next(saved.parameters()).dtype == torch.bfloat16 and saved_tokenizer.eos_token == "<|im_end|>"


@pytest.mark.slow
def test_the_runner_runs_unchanged_under_torchrun_with_gloo(tmp_path, small_setup):
    """Two CPU processes: one JSONL line per evaluation, the sharded evaluation equals one process's."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "theory"), str(REPO)]), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "simulations.qwen3", "--out", str(out), "--threads", "1", "--pretrain-steps", "0", *RUN_ARGS]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == RUN_STEPS
    assert {r["reward_samples"] for r in records} == {2 * 10}  # both ranks' samples, counted once
    meta = json.loads((out / "run_meta.json").read_text())
    assert meta["world_size"] == 2 and (out / "model" / "config.json").is_file()
    # Before any update the two ranks' reduced shards give the one-process numbers.
    tokenizer = build_char_tokenizer()
    size = TinyQwen3Size(hidden_size=16, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=8, intermediate_size=32)
    single = task_callback(DigitTask(answer_width=1), tokenizer, samples_per_prompt=2, eval_every=2, seed=3,
                           output_dir=None).evaluate(build_tiny_qwen3(tokenizer, size, seed=3))
    assert records[0]["sft_loss"] == pytest.approx(single["sft_loss"], rel=1e-6)
    assert records[0]["pass_rate"] == pytest.approx(single["pass_rate"], rel=1e-6)


@pytest.mark.parametrize("task_name", ["digit", "cola"])
def test_counted_records_give_the_loss_and_gradient_of_their_copies(task_name, tmp_path):
    """CountedSFTTrainer on the distinct records against TRL's own SFTTrainer on every copy, one full batch.

    The reference is TRL's loss (the completion tokens' summed NLL over their number) of the
    enumerated records with their repeats; the counted trainer sees each distinct record once.
    Loss and every parameter's gradient agree to float32 summation order.
    """
    from simulations.qwen3.cola import ColaTask
    from simulations.qwen3.runner import enumerated_records
    from simulations.qwen3.stages import CountedSFTTrainer, sft_trainer

    task = DigitTask(expert_pass_rate=0.6, num_wrong=4) if task_name == "digit" else ColaTask()
    size = 1000 if task_name == "digit" else 1950
    model, tokenizer = load_policy("tiny", TinyQwen3Size(hidden_size=16, num_layers=1, num_heads=2, num_kv_heads=1,
                                                         head_dim=8, intermediate_size=32),
                                   seed=0, characters=getattr(task, "characters", CHARACTERS))
    results = []
    for counted in (False, True):
        records = enumerated_records(task, size, counted=counted)
        settings = TrainingSettings(seed=0, device="cpu", sft_batch_size=size)
        trainer = sft_trainer(model, tokenizer, records, str(tmp_path / str(counted)), steps=1, lr=1e-3, settings=settings)
        assert isinstance(trainer, CountedSFTTrainer) == counted
        (batch,) = list(trainer.get_train_dataloader())
        assert batch["input_ids"].shape[0] == len(records)
        model.zero_grad()
        loss = trainer.compute_loss(model, batch)
        loss.backward()
        results.append((loss.item(), [p.grad.clone() for p in model.parameters()]))
    (full_loss, full_grads), (counted_loss, counted_grads) = results
    assert counted_loss == pytest.approx(full_loss, rel=1e-5)
    for full, counted in zip(full_grads, counted_grads, strict=True):
        torch.testing.assert_close(counted, full, rtol=1e-4, atol=1e-7)


def test_counted_records_are_full_batch_only():
    with pytest.raises(ParameterError, match="sft_batch_size"):
        PipelineConfig(sft_data="counted", sft_train_size=1000, training=TrainingSettings(sft_batch_size=64))

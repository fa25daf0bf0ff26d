"""The public live callback: its measurements, its online P3 stop, and a real TRL SFT -> GRPO run.

The stop rule itself is tested without torch in ``test_stopping.py``; the end-to-end run uses
only the public callback and goes through the ``check`` command.
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

from nondecoupling import ParameterError, kl_bernoulli

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from transformers import TrainerCallback  # noqa: E402

from nondecoupling.bridge.jsonable import jsonable  # noqa: E402
from nondecoupling.bridge.logs.stopping import StagePrior  # noqa: E402
from nondecoupling.bridge.models.callback import CouplingCallback, CouplingConfig  # noqa: E402
from nondecoupling.bridge.models.measure import CouplingMeasurer  # noqa: E402
from nondecoupling.bridge.models.sequences import pad_pairs, response_token_ids, sequence_logprobs, shared_prompt_logprobs  # noqa: E402
from nondecoupling.bridge.models.tiny import TinyQwen3Size, build_char_tokenizer, build_tiny_qwen3  # noqa: E402
from tests.bridge.tasks import ExpertTask, task_reward  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]
REPO = Path(__file__).resolve().parents[2]
TINY = TinyQwen3Size(hidden_size=16, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=8, intermediate_size=32)


def test_bad_settings_are_named():
    with pytest.raises(ParameterError, match="stop_at"):
        CouplingConfig(["1="], ["1"], stop_at="best")
    with pytest.raises(ParameterError, match="equal length"):
        CouplingMeasurer(["1=", "2="], ["1"])
    with pytest.raises(ParameterError, match="lam"):
        CouplingConfig(["1="], ["1"], lam=0.0)
    with pytest.raises(ParameterError, match="exact_pass_rate"):
        CouplingMeasurer(["1="], ["1"], exact_pass_rate=True)
    with pytest.raises(ParameterError, match="expert_pass_rate"):
        CouplingConfig(["1="], ["1"], expert_pass_rate=1.5)
    with pytest.raises(ParameterError, match="loss_noise"):
        StagePrior(reward_noise=0.1, loss_noise=0.0, reward_gap=1.0, loss_rise=1.0)
    with pytest.raises(ParameterError, match="restore_best"):
        CouplingConfig(["1="], ["1"], restore_best=True)  # there is no restore without the stop
    assert CouplingConfig(["1="], ["1"], stop_at="optimal").restore_best and not CouplingConfig(["1="], ["1"]).restore_best


# ---------------------------------------------------------------- one evaluation


@pytest.fixture(scope="module")
def digit():
    task = ExpertTask.addition(3, 2)
    tokenizer = build_char_tokenizer()
    pairs = [(p, y, w) for p in task.prompts for y, w in task.expert_distribution(p).items()]
    return task, tokenizer, pairs


def _config(digit, **kwargs):
    task, tokenizer, pairs = digit
    prompts, responses, weights = zip(*pairs)
    return CouplingConfig(prompts, responses, weights=weights, reward_fn=task_reward(task), exact_pass_rate=True,
                          expert_pass_rate=task.expert_pass_rate, expert_entropy=task.expert_entropy, **kwargs)


def test_evaluation_is_the_weighted_sequence_loss_and_leaves_the_global_stream_alone(digit):
    task, tokenizer, pairs = digit
    model = build_tiny_qwen3(tokenizer, TINY, seed=1).eval()
    prompts, responses, weights = zip(*pairs)
    measurer = CouplingMeasurer(prompts, responses, tokenizer=tokenizer, weights=weights, reward_fn=task_reward(task),
                                exact_pass_rate=True, samples_per_prompt=8, batch_size=5)
    state = torch.random.get_rng_state()
    metrics = measurer.evaluate(model, step=7)
    assert torch.equal(state, torch.random.get_rng_state())
    assert measurer.evaluate(model, step=7) == metrics  # a seed and a step reproduce the samples
    direct = []
    for prompt, response, weight in pairs:
        ids = tokenizer(prompt)["input_ids"] + response_token_ids(tokenizer, prompt, response)
        logprobs = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
        start = len(tokenizer(prompt)["input_ids"])
        direct.append((weight, float(sum(logprobs[t - 1, ids[t]] for t in range(start, len(ids)))), response == task.correct_answer(prompt)))
    assert metrics["sft_loss"] == pytest.approx(-sum(w * lp for w, lp, _ in direct) / len(task.prompts), rel=1e-5)
    assert metrics["pass_rate"] == pytest.approx(sum(math.exp(lp) for _, lp, ok in direct if ok) / len(task.prompts), rel=1e-4)
    assert metrics["reward_samples"] == 8 * len(task.prompts) and 0.0 <= metrics["reward"] <= 1.0
    n = metrics["reward_samples"]
    binomial_se = math.sqrt(metrics["reward"] * (1 - metrics["reward"]) / n * n / (n - 1) / n) * math.sqrt(n)
    assert metrics["reward_se"] == pytest.approx(binomial_se / math.sqrt(n), rel=1e-9)  # a 0/1 reward's s.e.
    assert metrics["sft_loss"] >= task.expert_entropy + kl_bernoulli(task.expert_pass_rate, metrics["pass_rate"])


def test_one_scoring_pass_gives_each_rows_own_forward_to_float_tolerance(digit):
    """The policy scores held-out pairs, its samples and pi_ref's samples in one pass: the same numbers as row by row."""
    task, tokenizer, pairs = digit
    policy, reference = build_tiny_qwen3(tokenizer, TINY, seed=5).eval(), build_tiny_qwen3(tokenizer, TINY, seed=6).eval()
    prompts, responses, weights = zip(*pairs)
    measurer = CouplingMeasurer(prompts, responses, tokenizer=tokenizer, weights=weights, reward_fn=task_reward(task),
                                exact_pass_rate=True, samples_per_prompt=2)
    metrics = measurer.evaluate(policy, step=3, reference=reference)
    encoded = measurer._encode()

    def one_by_one(model, prompt_ids, response_ids):
        return np.array([float(sequence_logprobs(model, pad_pairs([p], [r], pad_id=encoded["pad"]))) for p, r in zip(prompt_ids, response_ids)])

    with torch.no_grad():
        heldout = one_by_one(policy, [encoded["prompt_ids"][p] for p in prompts], encoded["responses"])
        sample_prompts = [encoded["prompt_ids"][p] for p in measurer._sampling_prompts(encoded)]
        samples = measurer._sample_and_score(policy, sample_prompts, ([], []), encoded, 3)[0]  # the evaluation's seed: its samples
        kl = one_by_one(policy, sample_prompts, samples) - one_by_one(reference, sample_prompts, samples)
        ref_prompts, ref_samples, _ = measurer._reference_samples
        forward_kl = one_by_one(reference, ref_prompts, ref_samples) - one_by_one(policy, ref_prompts, ref_samples)
    assert metrics["sft_loss"] == pytest.approx(-np.dot(weights, heldout) / len(task.prompts), rel=1e-6)
    assert metrics["pass_rate"] == pytest.approx(np.exp(heldout[encoded["correct"]]).sum() / len(task.prompts), rel=1e-6)
    assert metrics["kl"] == pytest.approx(kl.mean(), rel=1e-5, abs=1e-7)
    assert metrics["forward_kl"] == pytest.approx(forward_kl.mean(), rel=1e-5, abs=1e-7)
    assert metrics["reward_samples"] == len(samples) == 2 * len(task.prompts)


def test_shared_prompt_scoring_is_the_full_forwards_and_needs_one_prompt_length(digit):
    _, tokenizer, _ = digit
    model = build_tiny_qwen3(tokenizer, TINY, seed=7).eval()
    prompts = [[1, 2, 3], [1, 2, 3], [4, 5, 6], [1, 2, 3]]
    responses = [[7], [8, 9, 10], [7, 8], [11, 12]]

    class WithoutCache(torch.nn.Module):  # a module with a causal LM's forward that returns no cache
        def __init__(self, inner):
            super().__init__()
            self.inner, self.device = inner, inner.device

        def forward(self, input_ids, attention_mask=None, **_):
            return type("Out", (), {"logits": self.inner(input_ids=input_ids, attention_mask=attention_mask).logits})()

    shapes = []
    model.register_forward_hook(lambda module, args, kwargs, out: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    with torch.no_grad():
        full = sequence_logprobs(model, pad_pairs(prompts, responses, pad_id=0))
        shapes.clear()
        np.testing.assert_allclose(shared_prompt_logprobs(model, prompts, responses, pad_id=0), full, rtol=1e-6)
        assert shapes == [(2, 3), (4, 2)]  # the two distinct prompts once, then the responses but their last token on their cache
        np.testing.assert_allclose(shared_prompt_logprobs(WithoutCache(model), prompts, responses, pad_id=0), full, rtol=1e-6)
        with pytest.raises(ParameterError, match="one length"):
            shared_prompt_logprobs(model, [[1, 2], [1, 2, 3]], [[4], [4]], pad_id=0)


def test_both_kls_to_itself_are_zero_and_the_reference_takes_the_policys_dtype(digit):
    task, tokenizer, _ = digit
    model = build_tiny_qwen3(tokenizer, TINY, seed=2).to(torch.bfloat16)
    reference = build_tiny_qwen3(tokenizer, TINY, seed=2)  # float32: placed in the policy's dtype
    metrics = CouplingCallback(_config(digit, reference_model=reference, measure={"tokenizer": tokenizer})).evaluate(model)
    assert next(reference.parameters()).dtype == torch.bfloat16
    assert metrics["kl"] == 0.0 and metrics["forward_kl"] == 0.0
    fp32 = CouplingCallback(_config(digit, measure={"tokenizer": tokenizer})).evaluate(build_tiny_qwen3(tokenizer, TINY, seed=2))
    assert metrics["sft_loss"] == pytest.approx(fp32["sft_loss"], rel=0.02)  # bf16 weights, float32 log-softmax


def test_the_reference_is_placed_again_where_it_left_the_policys_dtype_or_eval_mode(digit):
    """pi_ref is moved only when needed (not at every evaluation), but always before it is run, and its cached
    prompt pass and sample log-probabilities from the old dtype are dropped (kept, KL to itself was 2e-7)."""
    task, tokenizer, _ = digit
    model = build_tiny_qwen3(tokenizer, TINY, seed=2)
    reference = build_tiny_qwen3(tokenizer, TINY, seed=2)
    callback = CouplingCallback(_config(digit, reference_model=reference, measure={"tokenizer": tokenizer}))
    assert abs(callback.evaluate(model)["kl"]) < 1e-5 and not reference.training  # float32: batching differs by rounding
    model.to(torch.float64)
    reference.train()
    moved = callback.evaluate(model)  # both run in float64 (pi_ref left in float32, or its float32 cache kept: ~1e-7)
    assert abs(moved["kl"]) < 1e-12 and abs(moved["forward_kl"]) < 1e-12
    assert next(reference.parameters()).dtype == torch.float64 and not reference.training
    assert not any(p.requires_grad for p in reference.parameters())


def test_forward_kl_is_the_reference_samples_log_ratio(digit):
    """KL(pi_ref || pi) against its definition on an enumerable support: sum_y pi_ref(y) log(pi_ref(y) / pi(y))."""
    task, tokenizer, _ = digit
    policy, reference = build_tiny_qwen3(tokenizer, TINY, seed=3), build_tiny_qwen3(tokenizer, TINY, seed=4)
    prompts = task.prompts[:3]
    measurer = CouplingMeasurer(prompts, ["00"] * 3, tokenizer=tokenizer, samples_per_prompt=400, max_new_tokens=1)
    estimate = measurer.evaluate(policy, reference=reference)["forward_kl"]
    exact = []
    for prompt in prompts:
        ids = torch.tensor([tokenizer(prompt)["input_ids"]])
        p_ref, p = (torch.log_softmax(m(input_ids=ids).logits[0, -1].double(), -1) for m in (reference, policy))
        exact.append(float((p_ref.exp() * (p_ref - p)).sum()))
    spread = 4 * math.sqrt(0.5 / (400 * 3))  # generous: the log-ratio of these random nets is O(1)
    assert abs(estimate - np.mean(exact)) < spread + 0.2 * np.mean(exact), (estimate, exact)


def test_the_start_is_measured_before_the_first_optimizer_step_on_the_start_weights(digit):
    """on_train_begin leaves the start's evaluation to on_pre_optimizer_step (the weights are still the start's); a step
    that ends without that hook is an error, not a start measured on moved weights; a stage of no step measures it at its end."""
    from types import SimpleNamespace

    from transformers import TrainerControl, TrainerState

    _, tokenizer, _ = digit
    model = build_tiny_qwen3(tokenizer, TINY, seed=5)
    expected = CouplingCallback(_config(digit, measure={"tokenizer": tokenizer})).evaluate(model, step=0)
    args, control = SimpleNamespace(bf16=False, fp16=False), TrainerControl()
    callback = CouplingCallback(_config(digit, measure={"tokenizer": tokenizer}, max_overhead=None))
    callback.on_train_begin(args, TrainerState(max_steps=10), control, model=model)
    assert callback.records == []
    callback.on_pre_optimizer_step(args, TrainerState(max_steps=10), control, model=model)
    assert [r["step"] for r in callback.records] == [0] and callback.records[0]["sft_loss"] == expected["sft_loss"]
    with torch.no_grad():
        next(model.parameters()).add_(1.0)  # the optimizer's step: the start is not measured again
    callback.on_pre_optimizer_step(args, TrainerState(max_steps=10), control, model=model)
    assert len(callback.records) == 1

    skipping = CouplingCallback(_config(digit, measure={"tokenizer": tokenizer}))
    skipping.on_train_begin(args, TrainerState(max_steps=10), control, model=model)
    with pytest.raises(RuntimeError, match="on_pre_optimizer_step before its first optimizer.step"):
        skipping.on_step_end(args, TrainerState(max_steps=10, global_step=1), control, model=model)
    no_step = CouplingCallback(_config(digit, measure={"tokenizer": tokenizer}))
    no_step.on_train_begin(args, TrainerState(max_steps=0), control, model=model)
    no_step.on_train_end(args, TrainerState(max_steps=0), control, model=model)
    assert [r["step"] for r in no_step.records] == [0]


# ---------------------------------------------------------------- a real TRL SFT -> GRPO run


def _short_task_run(tmp_path, *, sft_steps: int, grpo_steps: int, every_steps: int, report_to: str = "none",
                    stop_at: str | None = "optimal", grpo_callbacks=()):
    """SFT then GRPO on a one-digit task, one callback attached to both trainers (the issue's short task);
    ``grpo_callbacks`` go into the GRPO trainer before it."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

    task = ExpertTask.echo(expert_pass_rate=0.5, num_wrong=2)
    tokenizer = build_char_tokenizer()
    size = TinyQwen3Size(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=16, intermediate_size=64)
    model = build_tiny_qwen3(tokenizer, size, seed=0)
    prompts, responses, weights = zip(*[(p, y, w) for p in task.prompts for y, w in task.expert_distribution(p).items()])
    reward = task_reward(task)
    common = dict(use_cpu=True, save_strategy="no", disable_tqdm=True, lr_scheduler_type="constant", seed=0, logging_steps=1)
    callback = CouplingCallback(CouplingConfig(prompts, responses, weights=weights, reward_fn=reward, reference_model="rl_start",
                                               expert_pass_rate=task.expert_pass_rate, expert_entropy=task.expert_entropy,
                                               output_dir=tmp_path, every_steps=every_steps, exact_pass_rate=True,
                                               stop_at=stop_at, measure={"samples_per_prompt": 4},
                                               max_overhead=None))  # every SFT evaluation: the RL prior, hence the stop, must not depend on timing
    sft = SFTTrainer(model=model, processing_class=tokenizer,
                     args=SFTConfig(max_steps=sft_steps, learning_rate=1e-2, per_device_train_batch_size=64,
                                    completion_only_loss=True, output_dir=str(tmp_path / "sft"), report_to="none", **common),
                     train_dataset=Dataset.from_list(task.sample_expert(2048, np.random.default_rng(0))))
    callback.attach(sft)
    sft.train()
    grpo = GRPOTrainer(model=model, reward_funcs=reward, processing_class=tokenizer,
                       args=GRPOConfig(max_steps=grpo_steps, learning_rate=2e-3, per_device_train_batch_size=40,
                                       num_generations=8, max_completion_length=2, beta=0.0, temperature=1.0, top_k=0,
                                       top_p=1.0, output_dir=str(tmp_path / "grpo"), report_to=report_to, **common),
                       train_dataset=Dataset.from_list([{"prompt": p} for p in task.prompts]))
    for other in grpo_callbacks:
        grpo.add_callback(other)
    callback.attach(grpo)
    grpo.train()
    return callback, grpo


def _trainable(model) -> list:
    return [p.detach().clone() for p in model.parameters() if p.requires_grad]


class _StepWeights(TrainerCallback):
    """Copies the trainable parameters after each step (and stops training at ``until``)."""

    def __init__(self, until: int | None = None) -> None:
        self.at: dict[int, list] = {}
        self.until = until

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.at[state.global_step] = _trainable(model)
        if state.global_step == self.until:
            control.should_training_stop = True


def _same(left: list, right: list) -> bool:
    return len(left) == len(right) and all(torch.equal(a, b) for a, b in zip(left, right))


@pytest.mark.slow
def test_the_stop_puts_back_the_restore_steps_weights_and_leaves_training_alone(tmp_path):
    """restore_best (on with stop_at): the user's model is the restore step's, bit for bit; without stop_at nothing is kept.

    The weights at each step come from a run without the stop, stopped by hand at the same step (a few seconds each).
    """
    seen = _StepWeights()
    callback, grpo = _short_task_run(tmp_path / "stop", sft_steps=40, grpo_steps=80, every_steps=10, grpo_callbacks=[seen])
    stop, last = grpo.state.global_step, callback.records[-1]
    restore = last["p3_restore_stage_step"]
    assert restore < stop < 80, (restore, stop)  # the short task: the stop comes after the restore step
    assert (last["restored_stage_step"], last["restored_step"]) == (restore, 40 + restore) and not callback.stop.keeping
    rl = {r["step"] - 40: r for r in callback.records if r["phase"] == "rl"}
    gain = (rl[restore]["pass_rate"] - rl[0]["pass_rate"]) - (rl[restore]["sft_loss"] - rl[0]["sft_loss"])
    assert last["restored_gain"] == pytest.approx(gain, rel=1e-9) and "put back" in last["restore"]
    assert "weights are kept" in last["stop_reason"]
    lines = [json.loads(line) for line in (tmp_path / "stop" / "log.jsonl").read_text().splitlines()]
    assert lines == [jsonable(r, infinity=None) for r in callback.records]  # the last line amended in place
    assert [h["coupling/restored_stage_step"] for h in grpo.state.log_history if "coupling/restored_stage_step" in h] == [restore]

    plain_seen = _StepWeights(until=stop)
    plain, plain_grpo = _short_task_run(tmp_path / "plain", sft_steps=40, grpo_steps=80, every_steps=10, stop_at=None,
                                        grpo_callbacks=[plain_seen])
    assert plain_grpo.state.global_step == stop and (plain.stop is None or not plain.stop.keeping)
    assert not any(key.startswith("restore") for r in plain.records for key in r)
    assert _same(_trainable(plain_grpo.model), plain_seen.at[stop])  # nothing put back without stop_at
    assert all(_same(seen.at[s], plain_seen.at[s]) for s in range(1, stop + 1))  # training bit-identical up to the stop
    assert _same(_trainable(grpo.model), plain_seen.at[restore])  # the restore step's weights ...
    assert not _same(_trainable(grpo.model), plain_seen.at[stop])  # ... in place of the stop's


def test_trl_run_logs_through_report_to_tensorboard(tmp_path):
    """A real GRPO run with report_to="tensorboard": the event file holds the callback's numbers."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    callback, grpo = _short_task_run(tmp_path, sft_steps=10, grpo_steps=12, every_steps=5, report_to="tensorboard")
    rl = [r for r in callback.records if r["phase"] == "rl"]
    assert [r["step"] - 10 for r in rl][:6] == [0, 1, 2, 3, 4, 5]  # the geometric start
    events = sorted((tmp_path / "grpo").rglob("events.out.tfevents.*"))
    assert events, list(tmp_path.rglob("*"))
    accumulator = EventAccumulator(str(events[0].parent))
    accumulator.Reload()
    # the trainer's rewrite_logs files the callback's ``coupling/*`` under ``train/``; each of the numbers
    # (held-out SFT loss, exact pass rate, KLs, K1's floor and slack, t*'s estimate and interval, the stop) is read back
    ci, tags = {"p3_optimal_step_ci_low": 0, "p3_optimal_step_ci_high": 1}, accumulator.Tags()["scalars"]
    for key in ("sft_loss", "pass_rate", "kl", "forward_kl", "k1_floor", "k1_slack", "p3_optimal_step", "p3_restore_step",
                "p3_p_passed", "stop", *ci):
        values = {r["step"] - 10: float(r[key] if key not in ci else r["p3_optimal_step_ci"][ci[key]]) for r in rl}
        expected = {s: pytest.approx(v, rel=1e-6) for s, v in values.items() if math.isfinite(v)}  # an infinite end: not logged
        logged = {e.step: e.value for e in accumulator.Scalars(f"train/coupling/{key}")} if expected else {}
        assert logged == expected and (expected or f"train/coupling/{key}" not in tags), key
    assert "train/coupling/zero_std_groups" in tags and "train/reward" in tags, tags  # GRPO's own numbers beside them
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert lines == [jsonable(r, infinity=None) for r in callback.records]
    assert all("stage step" in r["stop_reason"] and "global step" in r["stop_reason"] for r in rl[:-1])


@pytest.mark.slow
def test_short_task_stops_on_time_and_check_reads_the_log(tmp_path):
    """The issue's short task: SFT 40 steps, then GRPO with the default every_steps = 10 (one to two minutes)."""
    callback, grpo = _short_task_run(tmp_path, sft_steps=40, grpo_steps=80, every_steps=10)
    rl = [r for r in callback.records if r["phase"] == "rl"]
    gain = np.array([(r["pass_rate"] - rl[0]["pass_rate"]) - (r["sft_loss"] - rl[0]["sft_loss"]) for r in rl])
    stop = grpo.state.global_step
    assert stop < 80, "the live stop did not fire"
    peak = int(rl[int(np.argmax(gain))]["step"]) - 40
    assert stop <= 2 * max(peak, 1) + 10, (stop, peak, gain)
    report_dir = tmp_path / "report"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "theory"), str(REPO)])}
    done = subprocess.run([sys.executable, "-m", "nondecoupling.bridge", "check", str(tmp_path / "log.jsonl"),
                           "--out", str(report_dir)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    verdicts = {(c["id"], c["stage"]): c["verdict"] for c in json.loads((report_dir / "report.json").read_text())["checks"]}
    assert verdicts[("K1", 1)] == "holds"  # a theorem, with the exact pass rate and H(p*)

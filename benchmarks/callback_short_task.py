"""Issue 22's short task: does ``CouplingCallback(stop_at="optimal")`` stop a short GRPO stage on time, at small regret?

``nice python benchmarks/callback_short_task.py [--sft-steps 40] [--grpo-steps 100] [--every 2 10] [--out DIR]``

The run of docs/callback_example/run.py (a tiny Qwen3 learns a one-digit reversal from an
imperfect expert, a = 0.5; then GRPO on the verifier's reward), with the SFT stage cut to
``--sft-steps`` as in the issue. Three kinds of run, each a real TRL SFT -> GRPO run on CPU:

* the reference: the callback at every step (``every_steps=1``, no stop, no time budget), for
  the curve of the net gain G(s) = [pass rate(s) - pass rate(0)] - [SFT loss(s) - SFT loss(0)]
  at every RL stage step s (exact pass rate and exact held-out loss: G has no sampling noise);
* for each ``--every``: ``stop_at="optimal"`` at that ``every_steps``, no time budget (the
  default budget thins the SFT stage's evaluations by wall time, so a run would depend on the
  machine's load);
* replays: the stop rule (:class:`~nondecoupling.bridge.logs.stopping.LiveStop`) fed the
  reference's records at the steps the callback would evaluate, to check that the reference
  stands for the stopped runs (training does not depend on the callback's schedule).

Per stopped run: the stop (stage step), the observed peak t of G over the reference's steps
0..``--grpo-steps``, G at both, regret (G(t) - G(stop)) / G(t), on time: stop <= 2 t +
every_steps, and the same regret for the model to keep, ``p3_restore_stage_step``
(:meth:`~nondecoupling.bridge.logs.stopping.LiveStop.restore_step`), and for the model the user
gets: with ``stop_at`` the callback puts the restore step's weights back when the stage ends
(``restore_best``), and the final model is measured directly after ``train()`` (exact pass rate
and held-out loss, ``OUT/<name>/final.json``), its G taken against the run's own first RL
evaluation. Beside them: the window of
steps around t where the regret is <= 5% and G just after it (a stop that waits to see G fall
comes after the window), and P3's premise (RL starts at an SFT optimum): the SFT loss's slope
over the SFT stage's last 5 steps and over RL's first 4. Each run's records go to
``OUT/<name>/log.jsonl``; the summary is printed and written to ``OUT/summary.json`` with the
command. One to two minutes
per run on an idle core.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

# Run as a script, sys.path[0] is benchmarks/: the repo root (for `simulations`, not installed) must be importable.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from nondecoupling.bridge.logs.stopping import LiveStop  # noqa: E402
from nondecoupling.bridge.models.stage_stop import prior_from_records  # noqa: E402

TASK = dict(answer_width=1, expert_pass_rate=0.5, num_wrong=2, base_radius=2)


def run(out: Path, *, sft_steps: int, grpo_steps: int, every_steps: int, stop_at: str | None) -> tuple[list[dict], int]:
    """One SFT -> GRPO run of docs/callback_example/run.py's settings; the callback's records and GRPO's last step.

    The model after ``train()`` (with ``stop_at``: the restored one) is measured again, into ``out/final.json``.
    """
    import torch
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

    from nondecoupling.bridge.models import CouplingCallback, CouplingConfig
    from nondecoupling.bridge.models.tiny import TinyQwen3Size, build_char_tokenizer, build_tiny_qwen3
    from simulations.qwen3.task import DigitTask, expert_pairs

    torch.set_num_threads(1)
    task = DigitTask(**TASK)
    tokenizer = build_char_tokenizer()
    model = build_tiny_qwen3(tokenizer, TinyQwen3Size(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=16,
                                                      intermediate_size=64), seed=0)

    def reward(prompts, completions, **kwargs):
        return [task.reward(p, c) for p, c in zip(prompts, completions)]

    prompts, responses, weights = expert_pairs(task)
    common = dict(output_dir=str(out / "trainer"), report_to="none", use_cpu=True, save_strategy="no", disable_tqdm=True,
                  lr_scheduler_type="constant", seed=0)
    callback = CouplingCallback(CouplingConfig(prompts, responses, weights=weights, reward_fn=reward, reference_model="rl_start",
                                               expert_pass_rate=task.expert_pass_rate, expert_entropy=task.expert_entropy,
                                               output_dir=out, every_steps=every_steps, exact_pass_rate=True, stop_at=stop_at,
                                               measure={"samples_per_prompt": 16}, max_overhead=None))
    sft = SFTTrainer(model=model, processing_class=tokenizer,
                     args=SFTConfig(max_steps=sft_steps, learning_rate=1e-2, per_device_train_batch_size=64,
                                    completion_only_loss=True, **common),
                     train_dataset=Dataset.from_list(task.sample("expert", 2048, np.random.default_rng(0))))
    callback.attach(sft)
    sft.remove_callback(PrinterCallback)  # disable_tqdm's console copy of every log: the log.jsonl has them
    sft.train()
    grpo = GRPOTrainer(model=model, reward_funcs=reward, processing_class=tokenizer,
                       args=GRPOConfig(max_steps=grpo_steps, learning_rate=2e-3, per_device_train_batch_size=40,
                                       num_generations=8, max_completion_length=2, beta=0.0, top_k=0, **common),
                       train_dataset=Dataset.from_list([{"prompt": p} for p in task.prompts]))
    callback.attach(grpo)
    grpo.remove_callback(PrinterCallback)
    grpo.train()
    final = callback.measurer.evaluate(model, step=sft_steps + int(grpo.state.global_step))
    (out / "final.json").write_text(json.dumps({k: final[k] for k in ("pass_rate", "sft_loss")}) + "\n")
    return callback.records, int(grpo.state.global_step)


def read(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def stages(records: list[dict]) -> tuple[list[dict], dict[int, dict]]:
    """The SFT stage's records, and the RL stage's by stage step."""
    sft = [r for r in records if r["phase"] == "sft"]
    rl = [r for r in records if r["phase"] == "rl"]
    return sft, {r["step"] - rl[0]["step"]: r for r in rl}


def gain(rl: dict[int, dict]) -> dict[int, float]:
    """G(s) = [pass rate(s) - pass rate(0)] - [SFT loss(s) - SFT loss(0)] (lam = 1, the callback's default)."""
    return {s: (r["pass_rate"] - rl[0]["pass_rate"]) - (r["sft_loss"] - rl[0]["sft_loss"]) for s, r in rl.items()}


def replay(reference: list[dict], every_steps: int, horizon: int) -> int:
    """The stop the callback would make at ``every_steps``, from the reference's records (no training)."""
    sft, rl = stages(reference)
    sft_end = sft[-1]["step"]
    seen = [r for r in sft if r["step"] % every_steps == 0 or r["step"] == sft_end]  # the SFT stage's schedule
    start = rl[0]
    live = LiveStop(prior_from_records(start, seen), every_steps=every_steps, horizon=horizon, offset=sft_end)
    step: int | None = 0
    while step is not None and step < horizon:
        live.observe(step, rl[step]["pass_rate"], rl[step]["sft_loss"])
        if live.stop_step is not None:
            return live.stop_step
        step = live.next_evaluation(step)
    return horizon


def summary(reference: list[dict], stopped: list[dict], every_steps: int, horizon: int, final: dict) -> dict:
    """The stop, the restore step and the final (restored) model against the reference's curve of G: peak,
    regrets, on time; whether the runs agree."""
    _, rl_ref = stages(reference)
    _, rl_run = stages(stopped)
    final_gain = (final["pass_rate"] - rl_run[0]["pass_rate"]) - (final["sft_loss"] - rl_run[0]["sft_loss"])
    restored = rl_run[max(rl_run)].get("restored_stage_step")
    curve = gain(rl_ref)
    peak = max(curve, key=curve.get)
    stop = max(rl_run)  # the stage's last record: the stop (or the horizon)
    restore = rl_run[stop]["p3_restore_stage_step"]
    agree = max(abs(rl_run[s][k] - rl_ref[s][k]) for s in rl_run for k in ("pass_rate", "sft_loss"))
    best = curve[peak]
    return {"every_steps": every_steps, "stop": stop, "replayed_stop": replay(reference, every_steps, horizon),
            "peak": peak, "gain_at_peak": best, "gain_at_stop": curve[stop], "regret": (best - curve[stop]) / best,
            "on_time": stop <= 2 * peak + every_steps, "restore": restore, "restore_regret": (best - curve[restore]) / best,
            "restored": restored, "final_gain": final_gain, "final_regret": (best - final_gain) / best,
            "final_diff_to_reference": max(abs(final[k] - rl_ref[stop if restored is None else restored][k])
                                           for k in ("pass_rate", "sft_loss")),
            "evaluations": sorted(rl_run), "max_diff_to_reference": agree,
            "stop_reason": next((r["stop_reason"] for r in rl_run.values() if r.get("stop")), None)}


def premise(reference: list[dict]) -> dict:
    """P3's premise, RL from an SFT optimum (the SFT loss's slope per step at the SFT stage's end and at RL's
    start), and the window of stage steps around the peak where the regret is <= 5% (a stop that meets the
    target lands in it; one that waits to see G fall lands after it)."""
    sft, rl = stages(reference)
    curve = gain(rl)
    peak = max(curve, key=curve.get)
    low, high = peak, peak
    while low - 1 in curve and curve[low - 1] >= 0.95 * curve[peak]:
        low -= 1
    while high + 1 in curve and curve[high + 1] >= 0.95 * curve[peak]:
        high += 1
    return {"sft_loss_slope_sft_end": (sft[-1]["sft_loss"] - sft[-6]["sft_loss"]) / 5,
            "sft_loss_slope_rl_start": (rl[4]["sft_loss"] - rl[0]["sft_loss"]) / 4,
            "within_5_percent": [low, high], "gain_after_it": curve.get(high + 1)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sft-steps", type=int, default=40)
    parser.add_argument("--grpo-steps", type=int, default=100)
    parser.add_argument("--every", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--out", type=Path, default=Path("runs/callback_short_task"))
    args = parser.parse_args(argv)
    settings = dict(sft_steps=args.sft_steps, grpo_steps=args.grpo_steps)
    names = {"reference": (1, None), **{f"stop_every{e}": (e, "optimal") for e in args.every}}
    for name, (every, stop_at) in names.items():  # resumable: a finished run's log is kept
        finished = (args.out / name / "done").exists() and (stop_at is None or (args.out / name / "final.json").exists())
        if not finished:
            start = time.perf_counter()
            run(args.out / name, every_steps=every, stop_at=stop_at, **settings)
            (args.out / name / "done").write_text(f"{time.perf_counter() - start:.0f} s\n")
    reference = read(args.out / "reference")
    rows = [summary(reference, read(args.out / f"stop_every{every}"), every, args.grpo_steps,
                    json.loads((args.out / f"stop_every{every}" / "final.json").read_text())) for every in args.every]
    curve = gain(stages(reference)[1])
    result = {"command": "python benchmarks/callback_short_task.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "settings": settings, "premise": premise(reference), "runs": rows, "gain": curve}
    (args.out / "summary.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "gain"}, indent=1))
    print("G at stage steps 0..20:", " ".join(f"{s}:{curve[s]:+.3f}" for s in sorted(curve)[:21]))


if __name__ == "__main__":
    main()

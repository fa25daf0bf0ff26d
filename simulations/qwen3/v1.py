"""``python -m simulations.qwen3.v1``: V1 (the paper's Thm 3.1) at convergence, on real LM training.

V1 is an identity at the KL-regularized optimum: RL from the exact SFT model pi_SFT = p* to
the optimum of ``E r - beta KL(pi || pi_SFT)`` raises the SFT loss by exactly C1(beta)
(:func:`nondecoupling.sft_increase_after_kl_rl`). This plan meets both premises:

* **SFT reaches the expert.** The task is ``add`` with operands 0-4 and one-digit answers
  (25 prompts; the expert passes with a = 0.6 and spreads 0.4 over four near misses), and
  TRL's SFTTrainer trains (3000 steps, lr 3e-3 decaying to 0) on p* *enumerated* (``--sft-data enumerated``: every prompt with
  every expert answer in exact proportion), so SFT's optimum is p* itself. Each seed's SFT run
  is ``sft-seed<k>/`` (its log shows the SFT loss flat at H(p*)).
* **RL reaches the optimum.** ``exact/beta<b>-seed<k>/`` runs policy gradient in *exact
  expectation* (:mod:`simulations.qwen3.exact_rl`: the whole completion tree enumerated, no
  samples) from that SFT model, 1000 Adam steps then L-BFGS (:data:`PLAN_EXACT`), until the exact pass rate is within 0.01 of the tilt's and the
  exact distance to the tilt, E_x KL(pi || pi_beta), is below ``--tolerance``. This is the
  reference. Sampled GRPO (TRL's GRPOTrainer with unscaled advantages, ``--beta``) follows
  (1 - 1/G) times the reward gradient with noise, so it stops at the tilt at beta G / (G - 1)
  (:mod:`simulations.qwen3.grpo_stationary`); no GRPO run of this plan is committed.

Every run's ``run_meta.json`` records the command that reproduces it and the commit it ran from
(``code_revision``). The first plan (600 constant-lr SFT steps, decaying Adam only) is kept in
``simulations/data/v1/``; its commands are ``exact``'s defaults. The plan is resumable
(a run whose ``run_meta.json`` has ``"finished": true`` is skipped); ``--summary`` writes
``summary.md`` / ``summary.csv`` (one row per run and the per-beta CI of the increase over C1).

>>> [run.name for run in plan()][:3]
['sft-seed0', 'exact/beta0.1-seed0', 'exact/beta0.25-seed0']
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from simulations.qwen3.forgetting import expert_table
from simulations.qwen3.reproduce import code_revision, is_finished, log_frame, mark_finished

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "v1-converged"
REPO = Path(__file__).resolve().parents[2]
SEEDS = (0, 1, 2)
BETAS = (0.1, 0.25, 0.5, 1.0)
#: The task and model of every V1 run (0.025M-parameter Qwen3, 25 prompts, 2-token completions).
TASK = ["--task", "digit", "--operation", "add", "--num-operands", "5", "--answer-width", "1",
        "--expert-pass-rate", "0.6", "--num-wrong", "4"]
MODEL = ["--hidden-size", "32", "--num-layers", "2", "--num-heads", "4", "--num-kv-heads", "2", "--head-dim", "8",
         "--intermediate-size", "96"]
#: SFT on p* enumerated (1000 records: 40 per prompt, 24 correct + 4 of each near miss). 3000 steps at
#: lr 3e-3 decaying to 0 (cosine), so that the minibatch noise vanishes and SFT ends at p*: 600 constant
#: steps at 1e-3 (the first plan, ``simulations/data/v1/``) left two seeds of three 0.08-0.14 nats above H(p*).
SFT = ["--pipeline", "sft-rl", "--rl-steps", "0", "--sft-steps", "3000", "--pretrain-steps", "100", "--sft-data", "enumerated",
       "--sft-train-size", "1000", "--pretrain-size", "2000", "--lr-sft", "0.003", "--sft-lr-scheduler", "cosine",
       "--sft-batch-size", "125", "--eval-every", "250"]
#: ``exact``'s defaults: the first plan's (Adam, lr decaying by ``decay`` a step, no L-BFGS), which its logs' commands rely on.
EXACT: dict[str, Any] = {"lr": 2e-3, "decay": 0.995, "max_steps": 600, "tolerance": 1e-4, "eval_every": 20, "polish_rounds": 0,
         "polish_iterations": 50}
#: This plan's exact RL: ``max_steps`` Adam steps at a constant lr (the decay of the first plan starved its late
#: progress), then up to ``polish_rounds`` rounds of L-BFGS, until within 0.01 of the tilt's pass rate and
#: E KL(pi || pi_beta) < tolerance.
PLAN_EXACT = {**EXACT, "decay": 1.0, "max_steps": 1000, "eval_every": 100, "polish_rounds": 10}
#: The convergence criterion on the pass rate (the issue's).
PASS_RATE_TOLERANCE = 0.01


@dataclass(frozen=True)
class V1Run:
    """One run of the plan: its folder (relative to :data:`DATA_DIR`) and its command."""

    name: str
    seed: int
    beta: float | None  # None: the seed's SFT run

    def out(self, root: Path = DATA_DIR) -> Path:
        return root / self.name

    def command(self, root: Path = DATA_DIR) -> list[str]:
        out = os.path.relpath(self.out(root), REPO)
        if self.beta is None:
            return ["python", "-m", "simulations.qwen3", *TASK, *SFT, "--seed", str(self.seed), "--threads", "1",
                    "--device", "cpu", *MODEL, "--out", out]
        sft = os.path.relpath(root / f"sft-seed{self.seed}", REPO)
        settings = [part for name, value in PLAN_EXACT.items() for part in ("--" + name.replace("_", "-"), f"{value:g}")]
        return ["python", "-m", "simulations.qwen3.v1", "exact", "--sft", sft, "--beta", f"{self.beta:g}",
                "--seed", str(self.seed), *settings, "--out", out]


def plan(seeds: tuple[int, ...] = SEEDS) -> list[V1Run]:
    """Per seed: its SFT run, then the exact RL runs at every beta (they need the SFT model)."""
    return [run for seed in seeds for run in (
        V1Run(f"sft-seed{seed}", seed, None),
        *(V1Run(f"exact/beta{beta:g}-seed{seed}", seed, beta) for beta in BETAS))]


def run_plan(root: Path = DATA_DIR, seeds: tuple[int, ...] = SEEDS) -> list[str]:
    """Run the unfinished runs of ``seeds`` in order, one at a time (one process per seed may run side by side)."""
    statuses, revision = [], code_revision()
    environment = {**os.environ, "PYTHONPATH": f"{REPO / 'theory'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    for run in plan(seeds):
        out = run.out(root)
        if is_finished(out):
            statuses.append(f"{run.name}: finished before")
            continue
        sft = root / f"sft-seed{run.seed}"
        if run.beta is not None and not (sft / "model").is_dir():  # a later session: remake the SFT model
            _run_logged(V1Run(sft.name, run.seed, None).command(root), sft / "run.log", environment, keep_log=False)
        out.mkdir(parents=True, exist_ok=True)
        code = _run_logged(run.command(root), out / "run.log", environment)
        if code:
            statuses.append(f"{run.name}: FAILED (exit {code}), see {out / 'run.log'}")
            break
        mark_finished(out, revision)
        statuses.append(f"{run.name}: done")
        print(statuses[-1], flush=True)
    return statuses


def _run_logged(command: list[str], log_path: Path, environment: dict, *, keep_log: bool = True) -> int:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a" if keep_log else "w") as log:
        log.write("$ " + shlex.join(command) + "\n")
        log.flush()
        return subprocess.call([sys.executable, *command[1:]], cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT)


# ----------------------------------------------------------------- one exact RL run


def run_exact(sft_dir: Path, out: Path, *, beta: float, seed: int, command: str, lr: float = EXACT["lr"],
              decay: float = EXACT["decay"], max_steps: int = EXACT["max_steps"], tolerance: float = EXACT["tolerance"],
              eval_every: int = EXACT["eval_every"], polish_rounds: int = EXACT["polish_rounds"],
              polish_iterations: int = EXACT["polish_iterations"]) -> dict:
    """Exact-expectation KL-regularized policy gradient from ``sft_dir/model``; writes the run's logs into ``out``.

    ``max_steps`` Adam steps, then up to ``polish_rounds`` steps of ``polish_iterations`` L-BFGS
    iterations each (strong-Wolfe line search): near the optimum the objective is nearly quadratic
    and L-BFGS reaches the tilt's wrong-answer mass, which Adam approaches only slowly where it is
    tiny (small beta). ``log.jsonl`` is the bridge's canonical log (the same :class:`CouplingCallback` as the TRL
    runs, phase ``rl``, pi_ref = the SFT model); ``exact.jsonl`` has, at every step, the exact
    pass rate, KL(pi || pi_SFT), objective and distance to the tilt. A file ``out/STOP`` ends the
    run after the current step (``run_meta.json`` says ``stopped_early``). Returns the last exact record.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerControl, TrainerState

    from simulations.qwen3.exact_rl import build_tree, distance_to_tilt, node_log_probs, pass_probability, tilt_optimum
    from simulations.qwen3.runner import hardware
    from simulations.qwen3.stages import task_callback

    start = time.perf_counter()
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    sft_meta = json.loads((sft_dir / "run_meta.json").read_text())
    task = task_from_meta(sft_meta)
    tokenizer = AutoTokenizer.from_pretrained(sft_dir / "model", local_files_only=True)
    # float64: the distance to the optimum, (J* - J) / beta, is a difference of nearly equal numbers near
    # convergence; the SFT weights convert exactly.
    model = AutoModelForCausalLM.from_pretrained(sft_dir / "model", local_files_only=True).double()
    tree = build_tree(task, tokenizer, max_tokens=task.answer_width + 1)
    with torch.no_grad():
        reference = node_log_probs(model, tree)
        reference_pass = pass_probability(reference, tree).double().numpy()
    optimum = tilt_optimum(reference_pass, beta)
    callback = task_callback(task, tokenizer, samples_per_prompt=16, eval_every=eval_every, seed=seed, output_dir=out, phase="rl")
    args, control = SimpleNamespace(bf16=False, fp16=False), TrainerControl()
    state = TrainerState(max_steps=max_steps + polish_rounds)  # the callback evaluates every eval_every steps up to it
    gradient = ExactPolicyGradient(model, reference, tree, beta, lr=lr, decay=decay, max_steps=max_steps,
                                   polish_iterations=polish_iterations)
    optimizer = gradient.adam
    callback.on_train_begin(args, state, control, model=model, optimizer=optimizer)
    records, exact_log = [], (out / "exact.jsonl").open("w")
    for step in range(max_steps + polish_rounds + 1):
        parts = gradient.parts()
        records.append({"step": step, "optimizer": "adam" if step <= max_steps else "lbfgs", **parts, "distance_to_tilt": distance_to_tilt(parts["objective"], optimum["optimal_objective"], beta)})
        exact_log.write(json.dumps(records[-1]) + "\n")
        exact_log.flush()
        converged = (abs(parts["exact_pass_rate"] - optimum["tilt_pass_rate"]) < PASS_RATE_TOLERANCE
                     and records[-1]["distance_to_tilt"] < tolerance)
        if converged or step == max_steps + polish_rounds or (out / "STOP").exists():  # STOP: end a run early, its logs complete
            break
        callback.on_pre_optimizer_step(args, state, control, model=model, optimizer=optimizer)  # the start's evaluation
        gradient.step(step)
        state.global_step = step + 1
        callback.on_step_end(args, state, control, model=model, optimizer=optimizer)
    callback.on_train_end(args, state, control, model=model, optimizer=optimizer)
    exact_log.close()
    callback.write_run_meta(
        seed=seed, beta=beta, command=command, hardware=hardware(), wall_time_s=round(time.perf_counter() - start, 2),
        pipeline="exact-kl-pg", method="exact-expectation KL-regularized policy gradient (simulations.qwen3.exact_rl), Adam"
        + (f", then L-BFGS ({polish_iterations} iterations a step)" if polish_rounds else ""),
        stages=[{"stage": 0, "phase": "rl", "steps": state.global_step, "lr": lr}], sft_run=os.path.relpath(sft_dir, REPO),
        task=task.to_dict(), task_name="digit", num_parameters=sum(p.numel() for p in model.parameters()),
        settings={"lr": lr, "decay": decay, "max_steps": max_steps, "tolerance": tolerance, "pass_rate_tolerance": PASS_RATE_TOLERANCE,
                  "eval_every": eval_every, "polish_rounds": polish_rounds, "polish_iterations": polish_iterations},
        reference_pass_rate_per_prompt=reference_pass.tolist(), **optimum, converged=converged,
        stopped_early=(out / "STOP").exists(),
        versions=_versions(),
    )
    return records[-1]


class ExactPolicyGradient:
    """:func:`run_exact`'s optimization, one step at a time: the run and its replay (forgetting.py) share it.

    Steps 0..``max_steps`` - 1 are Adam's (an ``ExponentialLR`` decay of ``decay`` a step); later
    steps are L-BFGS steps of ``polish_iterations`` iterations each (strong-Wolfe line search).
    Adam comes first: from the SFT model the objective is sharply curved (a 1e-2 step along its
    gradient already lowers it), which stalled L-BFGS's line search at a zero step; L-BFGS only
    once Adam is near the tilt, where the objective is nearly quadratic.
    """

    def __init__(self, model, reference, tree, beta: float, *, lr: float, decay: float, max_steps: int,
                 polish_iterations: int) -> None:
        import torch

        self.model, self.reference, self.tree, self.beta, self.max_steps = model, reference, tree, beta, max_steps
        self.adam = torch.optim.Adam(model.parameters(), lr=lr)
        self.schedule = torch.optim.lr_scheduler.ExponentialLR(self.adam, gamma=decay)
        self.polish = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=polish_iterations, history_size=50,
                                        line_search_fn="strong_wolfe", tolerance_grad=0.0, tolerance_change=0.0)

    def _loss(self):
        from simulations.qwen3.exact_rl import objective

        for optimizer in (self.adam, self.polish):
            optimizer.zero_grad()
        loss = -objective(self.model, self.reference, self.tree, self.beta)[0]
        loss.backward()
        return loss

    def parts(self) -> dict:
        """The exact objective's parts at the current weights (pass rate, KL(pi || pi_SFT), objective)."""
        import torch

        from simulations.qwen3.exact_rl import objective

        with torch.no_grad():
            return objective(self.model, self.reference, self.tree, self.beta)[1]

    def step(self, step: int) -> None:
        """Step ``step`` -> ``step + 1``: Adam's below ``max_steps``, L-BFGS's from there."""
        if step < self.max_steps:
            self.adam.step(self._loss)
            self.schedule.step()
        else:
            self.polish.step(self._loss)


def task_from_meta(meta: dict):
    """The :class:`~simulations.qwen3.task.DigitTask` a run's ``run_meta.json`` describes (its derived keys dropped)."""
    from simulations.qwen3.task import DigitTask

    return DigitTask(**{k: v for k, v in meta["task"].items() if k in DigitTask.__dataclass_fields__})


def _versions() -> dict:
    import torch
    import transformers
    import trl

    return {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__}


# ----------------------------------------------------------------- what the logs show


def run_table(root: Path = DATA_DIR) -> pd.DataFrame:
    """One row per finished exact run: the SFT-loss increase against C1(beta) and the tilt of pi_SFT."""
    from nondecoupling import sft_increase_after_kl_rl
    from simulations.qwen3.experiments import tilt_path_from_reference

    rows = []
    for meta_path in sorted((root / "exact").glob("*/run_meta.json")):
        meta = json.loads(meta_path.read_text())
        if not meta.get("finished"):
            continue
        log = log_frame(meta_path.parent / "log.jsonl")
        exact = log_frame(meta_path.parent / "exact.jsonl").iloc[-1]
        task = task_from_meta(meta)
        probs, rewards = expert_table(task)
        beta, b0 = meta["beta"], np.asarray(meta["reference_pass_rate_per_prompt"])
        _, per_prompt_increase = tilt_path_from_reference(b0, task.expert_pass_rate, 1.0 / beta)
        sft = json.loads((root / f"sft-seed{meta['seed']}" / "run_meta.json").read_text())
        sft_log = log_frame(root / f"sft-seed{meta['seed']}" / "log.jsonl")
        rows.append({
            "run": meta_path.parent.name, "beta": beta, "seed": meta["seed"], "steps": meta["stages"][0]["steps"],
            "converged": meta["converged"], "sft_gap": log["sft_loss"].iloc[0] - task.expert_entropy,
            "sft_last_change": abs(sft_log["sft_loss"].iloc[-1] - sft_log["sft_loss"].iloc[-2]),
            "sft_pass_rate": float(b0.mean()), "sft_pass_rate_spread": float(b0.std()),
            "tilt_pass_rate": meta["tilt_pass_rate"], "final_pass_rate": exact["exact_pass_rate"],
            "distance_to_tilt": exact["distance_to_tilt"],
            "sft_increase": log["sft_loss"].iloc[-1] - log["sft_loss"].iloc[0],
            "c1": float(sft_increase_after_kl_rl(probs, rewards, beta=beta)),
            "tilt_of_sft_increase": float(np.mean(per_prompt_increase)),
            "expert_pass_rate": sft["expert_pass_rate"], "wall_time_s": meta["wall_time_s"],
            "path_increase": increase_on_tilt_path(exact["exact_pass_rate"], b0, task.expert_pass_rate),
            **grpo_stationary_points(b0, beta, task.expert_pass_rate),
        })
    table = pd.DataFrame(rows)
    if not table.empty:
        table["increase_over_c1"] = table["sft_increase"] / table["c1"]
        table["increase_over_tilt_of_sft"] = table["sft_increase"] / table["tilt_of_sft_increase"]
    return table


def increase_on_tilt_path(pass_rate: float, reference_pass: np.ndarray, expert_pass_rate: float) -> float:
    """The SFT-loss increase where the tilt path of the SFT model, pi_SFT e^{s r} / Z (per-prompt pass
    rates ``reference_pass``), reaches the mean pass rate ``pass_rate``: what a run stopped there
    gives if it lies on that path (:func:`~simulations.qwen3.experiments.tilt_path_from_reference`).

    >>> round(increase_on_tilt_path(0.803, np.array([0.6]), 0.6), 3)  # the tilt at beta = 1: C1(1)
    0.108
    """
    from scipy.optimize import brentq

    from simulations.qwen3.experiments import tilt_path_from_reference

    def mean_rate(s: float) -> float:
        return float(np.mean(tilt_path_from_reference(reference_pass, expert_pass_rate, s)[0])) - pass_rate

    tilt = brentq(mean_rate, -50.0, 50.0, xtol=1e-12)
    return float(np.mean(tilt_path_from_reference(reference_pass, expert_pass_rate, tilt)[1]))


#: The GRPO variants whose stationary points the tables show (:mod:`simulations.qwen3.grpo_stationary`).
GRPO_VARIANTS = ("group_mean", "group_std", "k3")


def grpo_stationary_points(reference_pass: np.ndarray, beta: float, expert_pass_rate: float) -> dict:
    """Mean pass rate and SFT-loss increase where each GRPO variant's expected update vanishes, from
    the SFT model's per-prompt pass rates (one-node tabular reading, G = 8)."""
    from simulations.qwen3.grpo_stationary import increase_at_pass_rate, k3_increase, stationary_pass_rate

    points = {}
    for variant in GRPO_VARIANTS:
        rate = stationary_pass_rate(reference_pass, beta, variant)
        increase = (k3_increase(rate, reference_pass, expert_pass_rate, beta) if variant == "k3"
                    else increase_at_pass_rate(rate, reference_pass, expert_pass_rate))
        points |= {f"{variant}_pass_rate": float(np.mean(rate)), f"{variant}_increase": float(np.mean(increase))}
    return points


def beta_table(table: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per beta: mean SFT-loss increase over seeds, its Student-t CI, C1(beta), and whether the CI covers C1 within +-10%."""
    from scipy.special import stdtrit  # Student's t quantile without importing scipy.stats (0.3-0.6 s of a sweep)

    rows = []
    for beta, group in table.groupby("beta"):
        values = group["sft_increase"].to_numpy(float)
        half = stdtrit(len(values) - 1, 0.5 + confidence / 2) * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.nan
        c1 = float(group["c1"].iloc[0])
        low, high = values.mean() - half, values.mean() + half
        rows.append({"beta": beta, "runs": len(values), "c1": c1, "mean_increase": values.mean(), "ci_low": low, "ci_high": high,
                     "ci_covers_c1": bool(low <= c1 <= high), "ci_within_10pct": bool(low >= 0.9 * c1 and high <= 1.1 * c1),
                     "mean_over_c1": values.mean() / c1, "mean_tilt_of_sft_increase": group["tilt_of_sft_increase"].mean(),
                     "max_distance_to_tilt": group["distance_to_tilt"].max(),
                     "max_pass_rate_gap": (group["final_pass_rate"] - group["tilt_pass_rate"]).abs().max(),
                     "converged": int(group["converged"].sum()), "mean_pass_rate": group["final_pass_rate"].mean(),
                     "mean_tilt_pass_rate": group["tilt_pass_rate"].mean(), "ratio_ci_low": low / c1, "ratio_ci_high": high / c1,
                     "mean_path_increase": group["path_increase"].mean(),
                     **{f"{v}_{k}": group[f"{v}_{k}"].mean() for v in GRPO_VARIANTS for k in ("pass_rate", "increase")}})
    return pd.DataFrame(rows)


def markdown_beta_table(by_beta: pd.DataFrame) -> str:
    """The per-beta V1 table of the README and docs/experiments.md, from :func:`beta_table`.

    Ratios are to C1(beta); "tilt path" is :func:`increase_on_tilt_path` at the runs' pass rates;
    the GRPO columns are :func:`grpo_stationary_points` (mean over the runs' SFT models).
    """
    lines = ["| β | runs (converged) | pass rate: runs vs tilt | SFT-loss increase, mean (95% t-CI) | C1(β) | / C1 (CI) "
             "| CI in C1 ± 10%? | / C1 at: tilt of the SFT models; tilt path at the runs' pass rate "
             "| / C1 where GRPO stops: group-mean; group-std; k3 |", "|---|---|---|---|---|---|---|---|---|"]
    for _, row in by_beta.iterrows():
        c1 = row["c1"]
        grpo = "; ".join(f"{row[variant + '_increase'] / c1:.2f}" for variant in GRPO_VARIANTS)
        lines.append(
            f"| {row['beta']:g} | {row['runs']} ({row['converged']}) | {row['mean_pass_rate']:.3f} vs {row['mean_tilt_pass_rate']:.3f} "
            f"| {row['mean_increase']:.3f} ({row['ci_low']:.3f} – {row['ci_high']:.3f}) | {c1:.3f} "
            f"| {row['mean_over_c1']:.2f} ({row['ratio_ci_low']:.2f} – {row['ratio_ci_high']:.2f}) | {'yes' if row['ci_within_10pct'] else 'no'} "
            f"| {row['mean_tilt_of_sft_increase'] / c1:.2f}; {row['mean_path_increase'] / c1:.2f} "
            f"| {grpo} |")
    return "\n".join(lines)


def write_summary(root: Path = DATA_DIR) -> Path:
    """``summary.md`` and ``summary.csv`` (per run) and ``summary_beta.csv`` (per beta) under ``root``."""
    from simulations.qwen3.experiments import _markdown_table

    table = run_table(root)
    by_beta = beta_table(table)
    table.to_csv(root / "summary.csv", index=False, float_format="%.6g")
    by_beta.to_csv(root / "summary_beta.csv", index=False, float_format="%.6g")
    text = ["# V1 at convergence (python -m simulations.qwen3.v1 --summary)\n", "## per beta (95% t-CI over seeds)\n",
            markdown_beta_table(by_beta) + "\n", _markdown_table(by_beta) + "\n", "## per run\n", _markdown_table(table) + "\n"]
    (root / "summary.md").write_text("\n".join(text))
    return root / "summary.md"


def build_parser() -> argparse.ArgumentParser:
    """The command line (``exact`` runs one exact RL run; no action: the whole plan)."""
    parser = argparse.ArgumentParser(prog="python -m simulations.qwen3.v1", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action")
    exact = sub.add_parser("exact", help="one exact-expectation KL-regularized RL run from an SFT run's model")
    exact.add_argument("--sft", type=Path, required=True, help="the SFT run's folder (its model/ and run_meta.json)")
    exact.add_argument("--beta", type=float, required=True, help="KL coefficient beta > 0")
    exact.add_argument("--seed", type=int, default=0, help="seeds the evaluation's samples")
    exact.add_argument("--out", type=Path, required=True, help="output folder")
    for name, value in EXACT.items():
        exact.add_argument("--" + name.replace("_", "-"), type=type(value), default=value, help=f"(default {value})")
    parser.add_argument("--summary", action="store_true", help="write summary.md / summary.csv from the finished runs")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="the plan's runs of these seeds only")
    parser.add_argument("--dry-run", action="store_true", help="print every run's command and whether it is finished")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.action == "exact":
        command = shlex.join(["python", "-m", "simulations.qwen3.v1", *argv])
        print(json.dumps(run_exact(args.sft, args.out, beta=args.beta, seed=args.seed, command=command, lr=args.lr, decay=args.decay,
                                   max_steps=args.max_steps, tolerance=args.tolerance, eval_every=args.eval_every,
                                   polish_rounds=args.polish_rounds, polish_iterations=args.polish_iterations)))
        return 0
    if args.dry_run:
        for run in plan():
            print("finished" if is_finished(run.out()) else "todo    ", shlex.join(run.command()))
        return 0
    if not args.summary:
        statuses = run_plan(seeds=tuple(args.seeds))
        for seed in args.seeds:  # weights are not committed; the logs are
            if all(is_finished(r.out()) for r in plan() if r.seed == seed):
                shutil.rmtree(DATA_DIR / f"sft-seed{seed}" / "model", ignore_errors=True)
        if any("FAILED" in s for s in statuses):
            return 1
    print(write_summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

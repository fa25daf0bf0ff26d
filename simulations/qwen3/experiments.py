"""``python -m simulations.qwen3.experiments --plan protocol|beta|size|...``: the CoLA-like experiment plans.

The paper's experiment (THEORY.md V4) on its own protocol: the CoLA-like task of
:mod:`simulations.qwen3.cola`, SFT then GRPO with the strict reward, evaluation with both the
strict and the lenient (last-label) reward. The plans, each a list of runs of
``python -m simulations.qwen3 --task cola ...``:

``protocol``
    sft-rl, rl-sft and alternating, seeds 0-2, GRPO without KL penalty (beta = 0).
``beta``
    sft-rl at two KL coefficients beta > 0 (THEORY.md V1: from the SFT optimum, the
    KL-regularized optimum raises the SFT loss by exactly C1(beta)), seeds 0-2.
``beta-long``
    the beta plan with four times the RL steps (600): the same SFT models (same seeds and SFT
    budget), RL continued towards convergence, to see whether the increase over C1(beta)
    settles (seeds 0-2).
``protocol-v2``, ``beta-v2``
    the protocol and beta plans with an SFT that reaches the expert (:data:`SFT_V2`, issue 23):
    p* enumerated exactly, full-batch steps, a cosine learning rate to 0. The first plans' SFT
    ended at strict pass rates 0.37-0.49 against a = 0.56 (SFT loss 1.44-1.51 against
    H(p*) = 1.302): "RL starts at the SFT optimum" was not met by any of their runs
    (:func:`premise_table` says so per run).
``size``
    sft-rl at five model sizes from 0.026M to 7.1M parameters (277x); seed 0 at every size
    and more seeds where the budget allows (the 0.1M size is the protocol's model, so its
    protocol runs are reused, not rerun).
``size-v2``
    the size plan with protocol-v2's SFT (the premises met, issue 23) in its counted form
    (:data:`SFT_V2_COUNTED`: each distinct record once with its count, the same full-batch
    loss from 234 sequences instead of 1950, which makes the 7.1M model's SFT fit a CPU):
    seeds 0-2 at 0.026M, 0.1M, 0.4M and 7.1M first, then 1.8M.

Each run writes into ``simulations/data/cola/<plan>/<run>/``: the callback's ``log.jsonl``,
``run_meta.json`` (command, hardware, wall time, parameter count), ``trainer_state.json``,
``final_rewards.json`` (the final model's strict and lenient rewards on many samples: the
callback logs the strict one only) and the bridge report ``report/`` (``python -m
nondecoupling check``). The run is resumable: a run whose ``run_meta.json`` has
``"finished": true`` is skipped, so a plan can be spread over several sessions. At most two
runs at a time, each with one torch thread (the CPU is shared).

>>> [spec.name for spec in PLANS["protocol"]][:3]
['sft-rl-seed0', 'sft-rl-seed1', 'sft-rl-seed2']
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm import tqdm

from nondecoupling import sft_increase_after_kl_rl, tilted_tradeoff
from nondecoupling.bridge.logs.verdicts import rate_matches_expert, rl_start_premise
from simulations.qwen3.reproduce import code_revision, is_finished, mark_finished
from simulations.qwen3.summary import k1_terms, load_runs

if TYPE_CHECKING:
    from simulations.qwen3.cola import ColaTask

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "cola"
REPO = Path(__file__).resolve().parents[2]
MAX_JOBS = 2
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class ModelSize:
    """A tiny Qwen3's widths (``--hidden-size`` ...); 4 query heads, 2 key-value heads."""

    name: str
    hidden_size: int
    num_layers: int
    intermediate_size: int

    def arguments(self) -> list[str]:
        return [
            "--hidden-size", str(self.hidden_size), "--num-layers", str(self.num_layers),
            "--num-heads", "4", "--num-kv-heads", "2", "--head-dim", str(self.hidden_size // 4),
            "--intermediate-size", str(self.intermediate_size),
        ]


#: The sizes of the size plan, smallest first (parameters with the 27-token CoLA vocabulary).
SIZES = (
    ModelSize("h32-l2", 32, 2, 96),  # 0.026M
    ModelSize("h64-l2", 64, 2, 192),  # 0.10M: the protocol's and the beta plan's model
    ModelSize("h128-l2", 128, 2, 384),  # 0.40M
    ModelSize("h192-l4", 192, 4, 576),  # 1.8M
    ModelSize("h384-l4", 384, 4, 1152),  # 7.1M: ~7 s per pretraining step on the shared CPU, ~1 h a run
)

#: Budget rules shared by every run (steps, learning rates, batch sizes): one small run
#: takes ~2-3 minutes on one thread.
BUDGET = [
    "--sft-steps", "250", "--rl-steps", "150", "--pretrain-steps", "40", "--cycles", "3",
    "--lr-sft", "0.002", "--lr-rl", "0.002", "--lr-pretrain", "0.003",
    "--sft-train-size", "4096", "--pretrain-size", "2048", "--samples-per-prompt", "4",
    "--sft-batch-size", "64", "--rl-prompts-per-step", "8", "--num-generations", "8", "--eval-every", "25",
]
#: protocol-v2's SFT: p* enumerated (39 prompts x 50 = 1950 records, the least multiple that writes its
#: 0.02 answers exactly), every step on all of them, cosine decay to 0. Minibatches of 64 left the label
#: unlearned (the model stays at 50/50 on every prompt, strict pass rate 0.35 = 0.7 / 2, at 500 steps and
#: at lr 1e-2 alike); the full batch's exact gradient learns it (docs/experiments.md, "protocol-v2").
SFT_V2 = ("--sft-data", "enumerated", "--sft-train-size", "1950", "--sft-batch-size", "1950", "--sft-steps", "1000",
          "--lr-sft", "0.004", "--sft-lr-scheduler", "cosine")
#: SFT_V2 with each distinct record once and its count (CountedSFTTrainer): the same loss and gradient per step,
#: 6-9x less SFT compute (0.06-1.1 s per step from 0.026M to 7.1M parameters on one Intel Xeon thread, against 0.35-10 s).
SFT_V2_COUNTED = tuple("counted" if part == "enumerated" else part for part in SFT_V2)
#: The issue's premise tolerances: the SFT end's strict pass rate within this of a, its SFT loss within this of H(p*) (nats).
PREMISE_PASS_TOLERANCE = 0.02
PREMISE_LOSS_TOLERANCE = 0.02
#: RL steps of the beta-long plan (4x the budget's 150): how the increase over C1(beta) moves as RL converges.
LONG_RL_STEPS = 600
#: The two KL coefficients of the beta plan (C1(beta) = 1.19 and 0.40 nats for the default expert: clearly nonzero).
BETAS = (0.25, 0.5)
#: The exact pass rate at which K1's slack is compared across model sizes (every size's RL
#: stage passes through it: the SFT models start near a = 0.56 and RL ends above 0.75).
MATCHED_PASS_RATE = 0.7


@dataclass(frozen=True)
class RunSpec:
    """One run of a plan: its folder name and what it varies."""

    plan: str
    name: str
    pipeline: str = "sft-rl"
    seed: int = 0
    beta: float = 0.0
    size: ModelSize = SIZES[1]  # h64-l2: 0.1M, the protocol's and the beta plan's model
    reuse: str | None = None  # a run of another plan with the same command (not rerun)
    extra: tuple = field(default=())  # (option, value, ...) replacing BUDGET's value of the option

    def out(self, root: Path = DATA_DIR) -> Path:
        return root / self.plan / self.name

    def command(self, root: Path = DATA_DIR) -> list[str]:
        """The runner's command line (relative output path, as ``run_meta.json`` records it)."""
        out = os.path.relpath(self.out(root), REPO)
        return [
            sys.executable, "-m", "simulations.qwen3", "--task", "cola", "--pipeline", self.pipeline,
            "--seed", str(self.seed), "--beta", str(self.beta), "--threads", "1", "--device", "cpu",
            *self.size.arguments(), *_budget(self.extra), "--out", out,
        ]


def _budget(overrides: tuple = ()) -> list[str]:
    """:data:`BUDGET` with the options in ``overrides`` (``option, value, ...``) given their new values."""
    new = dict(zip(overrides[::2], overrides[1::2], strict=True))
    options = dict(zip(BUDGET[::2], BUDGET[1::2], strict=True))
    return [part for option, value in {**options, **new}.items() for part in (option, value)]


def _plans() -> dict[str, list[RunSpec]]:
    protocol = [
        RunSpec("protocol", f"{pipeline}-seed{seed}", pipeline=pipeline, seed=seed)
        for pipeline in ("sft-rl", "rl-sft", "alternating")
        for seed in SEEDS
    ]
    beta = [RunSpec("beta", f"beta{beta:g}-seed{seed}", beta=beta, seed=seed) for beta in BETAS for seed in SEEDS]
    beta_long = [RunSpec("beta-long", f"beta{beta:g}-seed{seed}", beta=beta, seed=seed,
                         extra=("--rl-steps", str(LONG_RL_STEPS))) for seed in SEEDS for beta in BETAS]
    # Seed 0 at every size first (the priority), smallest first, then the other seeds.
    size = [
        RunSpec("size", f"{size.name}-seed{seed}", size=size, seed=seed,
                reuse=f"protocol/sft-rl-seed{seed}" if size.name == "h64-l2" else None)
        for seed in SEEDS
        for size in SIZES
    ]
    # Seed-major: every pipeline (every beta) has a seed before any has three.
    protocol_v2 = [RunSpec("protocol-v2", f"{pipeline}-seed{seed}", pipeline=pipeline, seed=seed, extra=SFT_V2)
                   for seed in SEEDS for pipeline in ("sft-rl", "rl-sft", "alternating")]
    beta_v2 = [RunSpec("beta-v2", f"beta{beta:g}-seed{seed}", beta=beta, seed=seed, extra=SFT_V2)
               for seed in SEEDS for beta in BETAS]
    # Four sizes spanning 277x, seed-major (every size has a seed before any has three); the fifth size last.
    size_v2 = [RunSpec("size-v2", f"{size.name}-seed{seed}", size=size, seed=seed, extra=SFT_V2_COUNTED)
               for sizes in ((SIZES[0], SIZES[1], SIZES[2], SIZES[4]), (SIZES[3],)) for seed in SEEDS for size in sizes]
    return {"protocol": protocol, "beta": beta, "beta-long": beta_long, "size": size,
            "protocol-v2": protocol_v2, "beta-v2": beta_v2, "size-v2": size_v2}


PLANS = _plans()


def run_one(spec: RunSpec, root: Path = DATA_DIR) -> str:
    """Run ``spec`` (skipped if finished): the runner, the final strict/lenient evaluation, the bridge check.

    Resumable step by step: a runner another driver started (``out/running.pid`` alive) is
    waited for, a finished runner (``run_meta.json`` with ``wall_time_s`` and the saved model)
    is not rerun. Returns a one-line status; each step's output is appended to ``out/run.log``.
    """
    out = spec.out(root)
    if is_finished(out):
        return f"{spec.plan}/{spec.name}: finished before, skipped"
    if spec.reuse is not None and is_finished(root / spec.reuse):
        return f"{spec.plan}/{spec.name}: the same run as {spec.reuse}, reused"
    out.mkdir(parents=True, exist_ok=True)
    revision = code_revision()
    _wait_for_runner(out)
    environment = {**os.environ, "PYTHONPATH": f"{REPO / 'theory'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    relative_out = os.path.relpath(out, REPO)
    steps = [
        [sys.executable, "-m", "simulations.qwen3.experiments", "--final-eval", relative_out],
        [sys.executable, "-m", "nondecoupling.bridge", "check", f"{relative_out}/log.jsonl", "--out", f"{relative_out}/report"],
    ]
    if not _runner_done(out):
        steps.insert(0, spec.command(root))
    with (out / "run.log").open("a") as log:
        for step in steps:
            log.write("$ " + " ".join(step[1:] if step[0] == sys.executable else step) + "\n")
            log.flush()
            process = subprocess.Popen(step, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT)
            (out / "running.pid").write_text(str(process.pid))
            code = process.wait()
            (out / "running.pid").unlink(missing_ok=True)
            if code != 0:
                return f"{spec.plan}/{spec.name}: FAILED (exit {code}) at {step[2]}, see {out / 'run.log'}"
    mark_finished(out, revision, final_rewards=json.loads((out / "final_rewards.json").read_text()))
    shutil.rmtree(out / "model", ignore_errors=True)  # weights are not committed; the logs are
    return f"{spec.plan}/{spec.name}: done"


def _runner_done(out: Path) -> bool:
    """The runner wrote its last files: ``run_meta.json`` with the wall time, and the model."""
    try:
        return "wall_time_s" in json.loads((out / "run_meta.json").read_text()) and (out / "model").is_dir()
    except (OSError, ValueError):
        return False


def _wait_for_runner(out: Path, poll_s: float = 10.0) -> None:
    """Block while the process in ``out/running.pid`` (a step another driver started) is alive."""
    try:
        pid = int((out / "running.pid").read_text())
    except (OSError, ValueError):
        return
    while Path(f"/proc/{pid}").exists():
        time.sleep(poll_s)
    (out / "running.pid").unlink(missing_ok=True)


def final_rewards(out: Path, *, samples_per_prompt: int = 64, seed: int = 0) -> dict:
    """The final model's (``out/model``) strict and lenient rewards, on fresh samples; writes ``final_rewards.json``.

    The callback logs the strict reward (the one RL optimizes) along the run; the paper
    evaluates with the lenient one, so both are measured here on the same samples, with the
    answer-style shares that explain their gap.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from simulations.qwen3.cola import ColaTask

    torch.set_num_threads(1)
    task = ColaTask(**{k: v for k, v in json.loads((out / "run_meta.json").read_text())["task"].items()
                       if k in ("label_accuracy", "strict_format_rate", "bare_rate")})
    tokenizer = AutoTokenizer.from_pretrained(out / "model", local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(out / "model", local_files_only=True).eval()
    max_new_tokens = max(len(tokenizer(answer)["input_ids"]) for answer in task.expert_distribution(task.prompts[0]))
    prompts = [p for p in task.prompts for _ in range(samples_per_prompt)]
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    torch.manual_seed(seed)
    with torch.no_grad():
        generated = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=True, temperature=1.0, top_k=0, top_p=1.0)
    texts = tokenizer.batch_decode(generated[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    strict = [task.reward(p, t) for p, t in zip(prompts, texts, strict=True)]
    lenient = [task.lenient_reward(p, t) for p, t in zip(prompts, texts, strict=True)]
    result = {
        "samples": len(texts),
        "strict_reward": sum(strict) / len(texts),
        "lenient_reward": sum(lenient) / len(texts),
        "lenient_minus_strict": (sum(lenient) - sum(strict)) / len(texts),
        "prescribed_format_share": sum(len(t) == 2 and t[0] == "=" and t[1] in "yn" for t in texts) / len(texts),
        "expert_strict_reward": task.expert_pass_rate,
        "expert_lenient_reward": task.lenient_expert_pass_rate,
    }
    (out / "final_rewards.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def run_plans(plans: list[str], *, jobs: int = MAX_JOBS, root: Path = DATA_DIR, limit: int | None = None,
              runs: list[str] = ()) -> list[str]:
    """Run the plans' unfinished runs in order, ``jobs`` (<= 2) at a time (one queue: no idle slot between plans).

    ``runs`` (``plan/name``) puts those runs first, in that order (to reorder a queue by priority).
    """
    by_name = {f"{spec.plan}/{spec.name}": spec for plan in PLANS for spec in PLANS[plan]}
    specs = [by_name[name] for name in runs]
    specs += [spec for plan in plans for spec in PLANS[plan][:limit] if spec not in specs]
    jobs = max(1, min(jobs, MAX_JOBS))
    with ThreadPoolExecutor(jobs) as pool, tqdm(total=len(specs), desc="cola runs", unit="run") as bar:
        statuses = []
        for status in pool.map(lambda spec: run_one(spec, root), specs):
            statuses.append(status)
            bar.update()
            tqdm.write(status)
    return statuses


# ----------------------------------------------------------------- what the logs show


def load_plan(plan: str, root: Path | None = None) -> list[tuple[dict, pd.DataFrame]]:
    """``(run_meta, canonical run)`` of every finished run of ``plan`` under ``root`` (default
    :data:`DATA_DIR`; see :func:`load_runs`)."""
    folder = (DATA_DIR if root is None else Path(root)) / plan
    if not folder.is_dir():
        return []
    return [(dict(meta), run.copy()) for meta, run in _finished_runs(folder, _files_stamp(folder))]


@functools.lru_cache(maxsize=16)  # a figure and the tables read each plan up to four times; a changed file is a new key
def _finished_runs(folder: Path, stamp: tuple) -> list[tuple[dict, pd.DataFrame]]:
    return [(meta, run) for meta, run in load_runs(folder) if meta.get("finished")]


def _files_stamp(folder: Path) -> tuple:
    """(path, mtime, size) of every run's log and sidecar under ``folder``: what :func:`_finished_runs` read."""
    files = sorted(p for name in ("log.jsonl", "run_meta.json") for p in folder.glob(f"*/{name}"))
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)


def c1(task: dict, beta: float) -> float:
    """The paper's C1(beta) (V1 = K2 at s = 1/beta, averaged over prompts) for a run's task.

    Computed exactly from the expert distribution and the strict reward by the library's V1
    function :func:`nondecoupling.sft_increase_after_kl_rl` (prompts weighted equally).

    >>> round(c1({"label_accuracy": 0.8, "strict_format_rate": 0.7, "bare_rate": 0.2}, 0.5), 4)
    0.4012
    """
    probs, rewards = cola_task(task).expert_reward_table()
    return float(sft_increase_after_kl_rl(probs, rewards, beta=beta))


def cola_task(recorded: dict) -> ColaTask:
    """The CoLA-like task a run's ``run_meta.json`` records (its ``task``; the derived keys dropped): a frozen, hashable value."""
    from simulations.qwen3.cola import ColaTask

    return ColaTask(**{k: recorded[k] for k in ("label_accuracy", "strict_format_rate", "bare_rate")})


def c1_from_reference(reference_pass_rate: float, expert_pass_rate: float, beta: float) -> float:
    """V1's SFT-loss increase when SFT was not exact: the tilt of the actual SFT model pi_0.

    With pi_beta = pi_0 e^{r/beta} / Z_0, CE(p*, pi_beta) - CE(p*, pi_0) = E_x log Z_0(x) - a/beta
    and Z_0(x) = 1 + b_0(x) (e^{1/beta} - 1) for a binary reward (b_0(x): pi_0's pass rate on
    x). The log records only the mean b_0, so this is ``log(1 + b_0 (e^{1/beta} - 1)) - a/beta``,
    an upper bound of the per-prompt value by Jensen (log is concave). At b_0 = a it is C1(beta).

    >>> round(c1_from_reference(0.56, 0.56, 0.5), 4)
    0.4012
    """
    s = 1.0 / beta
    return float(np.log1p(reference_pass_rate * np.expm1(s)) - s * expert_pass_rate)


def tilt_path_from_reference(reference_pass_rate: float, expert_pass_rate: float, tilts) -> tuple[np.ndarray, np.ndarray]:
    """``(pass rate, SFT-loss increase)`` along the tilt pi_0 e^{s r} / Z_0 of the SFT model, s = ``tilts``.

    The same mean-pass-rate reading as :func:`c1_from_reference` (its value at s = 1/beta):
    b(s) = b_0 e^s / (1 + b_0 (e^s - 1)). With b_0 < a the path first lowers the SFT loss.
    """
    tilts = np.asarray(tilts, float)
    pass_rate = reference_pass_rate * np.exp(tilts) / (1.0 + reference_pass_rate * np.expm1(tilts))
    return pass_rate, np.log1p(reference_pass_rate * np.expm1(tilts)) - tilts * expert_pass_rate


def rl_curve(meta: dict, run: pd.DataFrame) -> pd.DataFrame:
    """The first RL stage's points with the SFT-loss increase since its start and K1's terms."""
    terms = pd.concat([run, k1_terms(meta, run)], axis=1)
    rl_stages = terms.loc[terms["phase"] == "rl", "stage"]
    curve = terms[terms["stage"] == rl_stages.min()].copy()
    curve["rl_step"] = curve["step"] - curve["step"].iloc[0]
    curve["sft_increase"] = curve["sft_loss"] - curve["sft_loss"].iloc[0]
    return curve


def slack_at_pass_rate(curve: pd.DataFrame, pass_rate: float) -> float:
    """K1's slack where the RL stage's exact pass rate first reaches ``pass_rate`` (linear
    interpolation between the two logged points around it); NaN if it never does."""
    rate, slack = curve["k1_pass_rate"].to_numpy(float), curve["k1_slack"].to_numpy(float)
    above = np.flatnonzero(rate >= pass_rate)
    if not above.size or above[0] == 0:
        return float("nan")
    i = above[0]
    weight = (pass_rate - rate[i - 1]) / (rate[i] - rate[i - 1])
    return float(slack[i - 1] + weight * (slack[i] - slack[i - 1]))


def late_mean(curve: pd.DataFrame, column: str, *, fraction: float = 0.25) -> float:
    """Mean of ``column`` over the last ``fraction`` of the RL stage's steps (endpoints included):
    a convergence reading that one noisy GRPO evaluation does not swing."""
    late = curve["rl_step"] >= (1.0 - fraction) * curve["rl_step"].iloc[-1]
    return float(curve.loc[late, column].mean())


def run_table(plan: str, root: Path | None = None, *, matched_pass_rate: float = MATCHED_PASS_RATE) -> pd.DataFrame:
    """One row per finished run: the first RL stage's effect, C1(beta), K1 slack, the final rewards."""
    rows = []
    for meta, run in load_plan(plan, root):
        curve = rl_curve(meta, run)
        first, last = curve.iloc[0], curve.iloc[-1]
        beta = float(meta["config"]["training"].get("beta", 0.0))
        final = meta.get("final_rewards", {})
        rows.append({
            "plan": plan, "run": meta["run"], "pipeline": meta["pipeline"], "seed": meta.get("seed", 0), "beta": beta,
            "num_parameters": meta["num_parameters"], "wall_time_s": meta.get("wall_time_s"),
            "expert_pass_rate": meta["expert_pass_rate"], "expert_entropy": meta["expert_entropy"],
            "rl_start_sft_loss": first["sft_loss"], "rl_end_sft_loss": last["sft_loss"],
            "rl_sft_increase": last["sft_loss"] - first["sft_loss"],
            "rl_late_sft_increase": late_mean(curve, "sft_increase"),
            "rl_late_pass_rate": late_mean(curve, "k1_pass_rate"),
            "rl_start_pass_rate": first["k1_pass_rate"], "rl_end_pass_rate": last["k1_pass_rate"],
            "c1": c1(meta["task"], beta) if beta > 0 else float("nan"),  # V1 needs beta > 0
            "c1_reference": (c1_from_reference(first["k1_pass_rate"], meta["expert_pass_rate"], beta)
                             if beta > 0 else float("nan")),
            "min_k1_slack": float(np.nanmin(terms_slack)) if (terms_slack := k1_terms(meta, run)["k1_slack"]).notna().any() else float("nan"),
            "k1_slack_at_matched_rate": slack_at_pass_rate(curve, matched_pass_rate),
            "rl_end_k1_slack": last["k1_slack"],
            "final_strict_reward": final.get("strict_reward"), "final_lenient_reward": final.get("lenient_reward"),
            "final_format_share": final.get("prescribed_format_share"),
            **bridge_verdicts(DATA_DIR / plan / meta["run"] if root is None else Path(root) / plan / meta["run"]),
        })
    table = pd.DataFrame(rows)
    if not table.empty:
        table["increase_over_c1"] = table["rl_sft_increase"] / table["c1"]
        table["increase_over_c1_reference"] = table["rl_sft_increase"] / table["c1_reference"]
        table["late_increase_over_c1"] = table["rl_late_sft_increase"] / table["c1"]
        table["late_increase_over_c1_reference"] = table["rl_late_sft_increase"] / table["c1_reference"]
        table["lenient_minus_strict"] = table["final_lenient_reward"] - table["final_strict_reward"]
    return table


def bridge_verdicts(out: Path) -> dict:
    """The bridge report's verdicts (``out/report/report.json``): counts, and the A1 / K1 verdicts of RL stages."""
    try:
        checks = json.loads((out / "report" / "report.json").read_text())["checks"]
    except (OSError, ValueError, KeyError):
        return {}
    counts = pd.Series([check["verdict"] for check in checks]).value_counts()
    by_id = lambda name: ",".join(check["verdict"] for check in checks if check["id"] == name)  # noqa: E731
    return {"verdicts_hold": int(counts.get("holds", 0)), "verdicts_violated": int(counts.get("violated", 0)),
            "verdicts_inconclusive": int(counts.get("inconclusive", 0)), "a1": by_id("A1"), "k1": by_id("K1")}


# ------------------------------------------------ premises and the predictions made before RL


def sft_stage_end(meta: dict, run: pd.DataFrame, stage: int) -> dict:
    """Where SFT stage ``stage`` ended: its last evaluation, and its last half of points (the bridge's premise window).

    The strict pass rate's mean, its gap to a and the gap's noise tolerance by the bridge's own
    test (:func:`nondecoupling.bridge.logs.verdicts.rate_matches_expert`); the SFT loss's mean,
    its s.d. over the window and its excess over H(p*).
    """
    frame = run[run["stage"] == stage]
    window = frame.iloc[-max(3, int(np.ceil(len(frame) / 2))):]
    rates = k1_terms(meta, window)["k1_pass_rate"].to_numpy(float)
    rate = rate_matches_expert(rates, meta["expert_pass_rate"])
    loss = window["sft_loss"].to_numpy(float)
    last = frame.iloc[-1]
    return {"sft_stage": stage, "sft_last_pass_rate": float(rates[-1]),
            "sft_last_loss_excess": float(last["sft_loss"] - meta["expert_entropy"]),
            "sft_end_pass_rate": rate["mean"], "sft_end_pass_gap": rate["gap"],
            "sft_end_pass_noise_sd": rate["noise_sd"], "sft_end_pass_tolerance": rate["tolerance"],
            "sft_end_loss": float(loss.mean()), "sft_end_loss_sd": float(loss.std(ddof=1)),
            "sft_end_loss_excess": float(loss.mean() - meta["expert_entropy"])}


def premise_row(meta: dict, run: pd.DataFrame, out: Path) -> dict:
    """One run's premises and the theory's predictions made before looking at RL.

    Premises: the end of the SFT stage before the first RL stage (rl-sft: of its last SFT
    stage) against the expert (:func:`sft_stage_end`), the issue's tolerances
    (:data:`PREMISE_PASS_TOLERANCE`, :data:`PREMISE_LOSS_TOLERANCE`), and the bridge's premise
    "RL starts at an SFT optimum" for every RL stage (:func:`rl_start_premise`, on the log).
    Predictions (from the task and the SFT end only): C1(beta) and tau = H(p*) + C1(beta) (V1's
    SFT loss at the KL-regularized optimum; inf at beta = 0, where RL's optimum has pass rate 1);
    K1's floor at the RL end's pass rate; the pass rate where K1's net-gain bound peaks (lam = 1).
    Observed beside them: the bridge report's fitted tau (P4) and t* (P3, fitted on the RL stage).
    """
    phases = run.groupby("stage")["phase"].first()
    rl_stages = phases.index[phases == "rl"]
    before = [stage for stage in phases.index[phases == "sft"] if stage < rl_stages.min()]
    end = sft_stage_end(meta, run, before[-1] if before else int(phases.index[phases == "sft"].max()))
    beta = float(meta["config"]["training"].get("beta", 0.0))
    c1_beta = c1(meta["task"], beta) if beta > 0 else float("inf")
    premises = [rl_start_premise(run, int(stage), expert_pass_rate=meta["expert_pass_rate"], loss_margin=PREMISE_LOSS_TOLERANCE,
                                 rate_margin=PREMISE_PASS_TOLERANCE).verdict for stage in rl_stages]
    met = abs(end["sft_end_pass_gap"]) <= PREMISE_PASS_TOLERANCE and abs(end["sft_end_loss_excess"]) <= PREMISE_LOSS_TOLERANCE
    report = _report_checks(out)
    return {**end, "premise_within_tolerance": bool(met), "bridge_rl_start_premise": ",".join(premises),
            "premise": "met" if met and "not met" not in premises else "premise not met",
            "predicted_tau": meta["expert_entropy"] + c1_beta, "predicted_stop_pass_rate": net_gain_peak(meta["task"]),
            **grpo_prediction(meta, beta),
            "fitted_tau": _first_value(report, "P4", "predicted", "threshold_tau"),
            "fitted_t_star": _first_value(report, "P3", "predicted", "optimal_rl_steps"),
            "observed_t_star": _first_value(report, "P3", "observed", "argmax_steps_into_stage")}


#: How far (pass rate) the late RL stage may sit from GRPO's stationary point and still be "at it" (issue 23's 0.01).
RL_OPTIMUM_TOLERANCE = 0.01


def grpo_prediction(meta: dict, beta: float) -> dict:
    """Where the runner's GRPO at ``beta`` > 0 stops moving, predicted from the task before RL, and whether RL got there.

    The runner's GRPO for beta > 0 (group-centred advantages, the bias-corrected KL) has its
    expected update vanish at the tilt of pi_SFT at beta G / (G - 1) (``"group_mean"`` of
    :mod:`simulations.qwen3.grpo_stationary`), from pi_SFT = p* (the SFT premise): the pass rate
    there and the SFT-loss increase of a policy that keeps p*'s proportions among the other answers
    (V1's C1 at that beta). ``rl_at_stationary``: the late RL pass rate within
    :data:`RL_OPTIMUM_TOLERANCE` of it (V1's premise on the RL side). NaN at beta = 0 (no optimum below pass rate 1).
    """
    if beta <= 0:
        return {"predicted_rl_pass_rate": float("nan"), "predicted_rl_increase": float("nan")}
    group = int(meta["config"]["training"].get("num_generations", 8))
    rate, increase = _grpo_prediction(cola_task(meta["task"]), beta, group)
    return {"predicted_rl_pass_rate": rate, "predicted_rl_increase": increase}


@functools.cache  # one value per task and beta: every run of a plan shares its task
def _grpo_prediction(task, beta: float, group: int) -> tuple[float, float]:
    from simulations.qwen3.grpo_stationary import increase_at_pass_rate, stationary_pass_rate

    probs, rewards = task.expert_reward_table()
    start = (probs * rewards).sum(axis=1)  # p*'s accepted mass per prompt: pi_SFT's under the premise
    rate = stationary_pass_rate(start, beta, "group_mean", group)
    return float(np.mean(rate)), float(np.mean(increase_at_pass_rate(rate, start, task.expert_pass_rate)))


def net_gain_peak(task: dict, lam: float = 1.0) -> float:
    """The pass rate where the tilt of p* (K2: K1's floor with equality) has the most net gain
    (b - a) - lam (L - H(p*)); with a binary reward it solves b (1 - b) = lam (b - a) (sqrt(a) at lam = 1).

    The library's :func:`nondecoupling.tilted_tradeoff` gives each tilt's b and L, so no formula is
    copied; scipy's bounded Brent finds the best tilt in [0, 10]. The gain is unimodal along the
    tilt: its slope in the tilt, b (1 - b) - lam (b - a) per prompt, falls as b rises.

    >>> round(net_gain_peak({"label_accuracy": 0.8, "strict_format_rate": 0.7, "bare_rate": 0.2}), 3)
    0.748
    """
    return _net_gain_peak(cola_task(task), float(lam))


@functools.cache  # one value per task: every run of a plan shares its task
def _net_gain_peak(task, lam: float) -> float:
    from scipy.optimize import minimize_scalar

    probs, rewards = task.expert_reward_table()

    def rate_and_gain(tilt: float) -> tuple[float, float]:
        reward, increase, _ = tilted_tradeoff(np.array([[tilt]]), probs[None], rewards[None])
        return float(np.mean(reward)), float(np.mean(reward) - lam * np.mean(increase))

    best = minimize_scalar(lambda tilt: -rate_and_gain(tilt)[1], bounds=(0.0, 10.0), method="bounded", options={"xatol": 1e-10})
    return rate_and_gain(best.x)[0]


def _report_checks(out: Path) -> list[dict]:
    try:
        return json.loads((out / "report" / "report.json").read_text())["checks"]
    except (OSError, ValueError, KeyError):
        return []


def _first_value(checks: list[dict], check_id: str, side: str, key: str) -> float:
    """``checks``' first ``check_id`` entry's ``side[key]`` as a float (NaN if absent; "inf" -> inf)."""
    value = next((c[side].get(key) for c in checks if c["id"] == check_id), None)
    return float("nan") if value is None else float(value)


#: The plans of the documents' premise table and of figures/cola_premises (summary.md has every plan's).
PREMISE_PLANS = ("protocol", "protocol-v2", "beta-v2", "size-v2")


def premise_table(plans=PREMISE_PLANS, root: Path | None = None) -> pd.DataFrame:
    """:func:`run_table` of ``plans`` with each run's :func:`premise_row` beside it (one row per run)."""
    frames = []
    for plan in plans:
        base = DATA_DIR if root is None else Path(root)
        rows = pd.DataFrame([{"run": meta["run"], **premise_row(meta, run, base / plan / meta["run"])}
                             for meta, run in load_plan(plan, root)])
        if not rows.empty:
            frames.append(run_table(plan, root).merge(rows, on="run"))
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    gap = (table["rl_late_pass_rate"] - table["predicted_rl_pass_rate"]).abs()
    table["rl_at_stationary"] = np.where(table["predicted_rl_pass_rate"].isna(), "no optimum", np.where(gap <= RL_OPTIMUM_TOLERANCE, "yes", "no"))
    return table


SUMMARY_COLUMNS = [
    "run", "num_parameters", "beta", "rl_start_sft_loss", "rl_end_sft_loss", "rl_sft_increase", "c1", "increase_over_c1", "c1_reference",
    "increase_over_c1_reference", "rl_late_sft_increase", "late_increase_over_c1", "late_increase_over_c1_reference", "rl_late_pass_rate",
    "rl_start_pass_rate", "rl_end_pass_rate", "min_k1_slack", "k1_slack_at_matched_rate", "final_strict_reward",
    "final_lenient_reward", "lenient_minus_strict", "a1", "k1", "verdicts_hold", "verdicts_violated",
    "verdicts_inconclusive", "wall_time_s",
]


#: The premise table's columns (README, docs/experiments.md, summary.md): premises, then the
#: predictions made before RL, then what RL did.
PREMISE_COLUMNS = [
    "plan", "run", "beta", "sft_last_pass_rate", "sft_last_loss_excess", "sft_end_pass_rate", "sft_end_pass_gap", "sft_end_pass_tolerance", "sft_end_loss_excess",
    "sft_end_loss_sd", "bridge_rl_start_premise", "premise", "c1", "predicted_tau", "predicted_stop_pass_rate",
    "predicted_rl_pass_rate", "predicted_rl_increase", "rl_at_stationary",
    "rl_late_sft_increase", "late_increase_over_c1", "rl_late_pass_rate", "fitted_tau", "fitted_t_star", "observed_t_star",
    "min_k1_slack", "final_strict_reward", "final_lenient_reward",
]


def premise_markdown(table: pd.DataFrame) -> str:
    """:func:`premise_table` as the GitHub table the README and docs/experiments.md show."""
    return _markdown_table(table[PREMISE_COLUMNS])


#: The documents that show the committed logs' premise table, between PREMISE_BLOCK's markers.
PREMISE_DOCUMENTS = ("README.md", "docs/experiments.md")
PREMISE_BLOCK = re.compile(r"(<!-- cola-premise-table -->\n).*?(\n<!-- /cola-premise-table -->)", re.S)


def write_premise_block(document: Path, table: str) -> None:
    """Replace the premise table between ``document``'s markers with ``table``.

    Raises
    ------
    ValueError
        If ``document`` has no ``<!-- cola-premise-table -->`` ... ``<!-- /cola-premise-table -->`` block.
    """
    text = document.read_text(encoding="utf-8")
    if not PREMISE_BLOCK.search(text):
        raise ValueError(f"{document}: no <!-- cola-premise-table --> ... <!-- /cola-premise-table --> block to write the table into")
    document.write_text(PREMISE_BLOCK.sub(lambda m: m.group(1) + table + m.group(2), text), encoding="utf-8")


def _markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub table (pandas' ``to_markdown`` needs ``tabulate``, which this project does not install)."""
    def cell(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def write_summary(root: Path | None = None) -> Path:
    """``summary.md`` and ``summary.csv`` under ``root``: :func:`run_table` of every plan, one table each."""
    root = DATA_DIR if root is None else Path(root)
    tables = {plan: run_table(plan, root) for plan in PLANS}
    parts = ["# CoLA-like runs: one row per finished run (python -m simulations.qwen3.experiments --summary)\n"]
    for plan, table in tables.items():
        parts.append(f"## {plan}\n")
        if table.empty:
            parts.append("(no finished runs)\n")
            continue
        shown = table[[c for c in SUMMARY_COLUMNS if c in table]]
        parts.append(_markdown_table(shown) + "\n")
    premises = premise_table(tuple(PLANS), root=root)
    if not premises.empty:
        parts.append("## premises and predictions, every plan (premise_table)\n")
        parts.append(premise_markdown(premises) + "\n")
        documented = premises[premises["plan"].isin(PREMISE_PLANS)].reset_index(drop=True)
        if root == DATA_DIR and not documented.empty:  # the committed logs: the documents show their table
            for document in PREMISE_DOCUMENTS:
                write_premise_block(REPO / document, premise_markdown(documented))
    pd.concat([t for t in tables.values() if not t.empty] or [pd.DataFrame()]).to_csv(root / "summary.csv", index=False, float_format="%.6g")
    (root / "summary.md").write_text("\n".join(parts))
    return root / "summary.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulations.qwen3.experiments", description=__doc__.split("\n\n")[0])
    parser.add_argument("--final-eval", type=Path, metavar="OUT", help="only measure OUT/model's strict and lenient rewards")
    parser.add_argument("--plan", choices=sorted(PLANS), action="append", default=[],
                        help="plan to run (repeatable: plans run one after the other)")
    parser.add_argument("--jobs", type=int, default=MAX_JOBS, help=f"runs at a time (at most {MAX_JOBS})")
    parser.add_argument("--limit", type=int, default=None, help="only the first LIMIT runs of each plan")
    parser.add_argument("--runs", nargs="+", default=[], metavar="PLAN/RUN", help="these runs first, in this order")
    parser.add_argument("--summary", action="store_true", help="write summary.md / summary.csv from the finished runs")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and whether each run is finished")
    args = parser.parse_args(argv)
    if args.final_eval is not None:
        print(json.dumps(final_rewards(args.final_eval)))
        return 0
    if args.summary:
        print(write_summary())
    if args.dry_run:
        for spec in (spec for plan in args.plan for spec in PLANS[plan][: args.limit]):
            print("finished" if is_finished(spec.out()) else "todo    ", " ".join(spec.command()[1:]))
        return 0
    statuses = run_plans(args.plan, jobs=args.jobs, limit=args.limit, runs=args.runs)
    return 1 if any("FAILED" in status for status in statuses) else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m simulations.qwen3.forgetting``: forgetting against KL on every committed RL stage.

For each RL stage of every committed run under ``simulations/data/`` (the digit-task Qwen3 runs,
the CoLA-like plans and the exact-expectation V1 runs) :func:`stage_table` reads, from the logs
only:

``sft_increase``
    The held-out SFT loss CE(p*, pi) at the stage's end minus at its start (exact in every log).
``forward_kl``, ``forward_kl_full``
    KL(pi_SFT || pi) on the expert's support, sum over y in supp p*(.|x) of
    pi_SFT(y|x) log(pi_SFT(y|x) / pi(y|x)), averaged over prompts, and over all completions
    ("RL's Razor", Shenfeld et al. 2025), pi_SFT being the model at the stage's start. No
    committed log records either and no checkpoint is committed, so they exist only where
    :func:`recompute_exact_run` wrote ``forgetting.jsonl`` (exact, from the replayed V1 run), or,
    for ``forward_kl_full``, where a log has the callback's sampled ``forward_kl``.
``reverse_kl``, ``reverse_kl_exact``
    KL(pi || pi_SFT) at the stage's end: the callback's sampled estimate ``kl``, and for the
    exact runs the exact value of ``exact.jsonl``.
``sft_excess``, ``premise``
    "SFT exact?": KL(p* || pi_SFT) = CE(p*, pi_SFT) - H(p*) at the stage's start, and the bridge's
    RL-start premise report (SFT loss settled, pass rate = a up to noise;
    :func:`nondecoupling.bridge.logs.verdicts.rl_start_premise`).

With pi_SFT = p*, CE(p*, pi) = H(p*) + KL(p* || pi) (K1's identity, THEORY.md K) makes the increase
*equal* to the forward KL, and at the KL-regularized optimum both equal C1(beta) (V1,
:func:`nondecoupling.sft_increase_after_kl_rl`). The ratio ``sft_increase / forward_kl`` is 1 there;
``premise_bound`` (:func:`premise_bound`, from the replay) is how far from the forward KL an SFT
model that misses p* may put the increase: 0 at exact SFT.

The V1 runs keep no weights, but they are deterministic: :func:`recompute_exact_run` re-makes the
SFT model from its recorded command, checks its log against the committed one, replays the exact
policy gradient (checked step by step against ``exact.jsonl``) and writes the forward KLs
(``python -m simulations.qwen3.forgetting recompute``; resumable: a finished run is skipped).

>>> sorted(FAMILIES)[:2]
['CoLA beta', 'CoLA beta-long']
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nondecoupling import kl_bernoulli, sft_increase_after_kl_rl
from simulations.qwen3.reproduce import log_frame

if TYPE_CHECKING:
    import torch

DATA_ROOT = Path(__file__).resolve().parents[1] / "data"
REPO = Path(__file__).resolve().parents[2]
#: Run family -> glob of its run folders under :data:`DATA_ROOT` (each with log.jsonl and run_meta.json).
FAMILIES = {"digit": "qwen3/*", "CoLA protocol": "cola/protocol/*", "CoLA beta": "cola/beta/*",
            "CoLA beta-long": "cola/beta-long/*", "CoLA size": "cola/size/*", "CoLA protocol-v2": "cola/protocol-v2/*",
            "CoLA beta-v2": "cola/beta-v2/*", "CoLA size-v2": "cola/size-v2/*", "V1 exact PG": "v1/exact/*",
            "V1 exact PG, converged": "v1-converged/exact/*"}
#: What an exact run's replay writes next to its log (and its meta).
RECOMPUTED, RECOMPUTED_META = "forgetting.jsonl", "forgetting_meta.json"
#: Largest |difference| allowed between a replay and the committed log: both are the same float
#: computation on the same CPU model and one thread, so anything above rounding means another model.
REPLAY_TOLERANCE = 1e-9
#: Where the re-made SFT models are kept between sessions (ignored by git).
MODEL_CACHE = REPO / "runs" / "forgetting"


# ----------------------------------------------------------------- reading the committed logs


def run_folders(root: Path = DATA_ROOT) -> list[tuple[str, Path]]:
    """(family, folder) of every committed run with a log, in a fixed order."""
    return [(family, folder) for family, pattern in FAMILIES.items() for folder in sorted(root.glob(pattern))
            if (folder / "log.jsonl").is_file() and (folder / "run_meta.json").is_file()]


def run_log(folder: Path, meta: dict) -> pd.DataFrame:
    """The run's canonical log; an exact V1 run gets its SFT run's log in front (stage 0), its RL stage as stage 1."""
    log = log_frame(folder / "log.jsonl")
    if "sft_run" not in meta:
        return log
    sft = log_frame(REPO / meta["sft_run"] / "log.jsonl")
    return pd.concat([sft.assign(stage=0), log.assign(stage=1)], ignore_index=True)


def kl_beta(meta: dict) -> float:
    """The run's KL coefficient beta (0: no KL penalty)."""
    return float(meta.get("beta", meta.get("config", {}).get("training", {}).get("beta", 0.0)) or 0.0)


def stage_table(root: Path = DATA_ROOT) -> pd.DataFrame:
    """One row per RL stage of every committed run (see the module docstring for the columns)."""
    rows = [row for family, folder in run_folders(root) for row in run_stages(family, folder, root)]
    table = pd.DataFrame(rows)
    table["ratio"] = table["sft_increase"] / table["forward_kl"]
    table["ratio_to_reverse"] = table["sft_increase"] / table["reverse_kl"]
    return table


def run_stages(family: str, folder: Path, root: Path = DATA_ROOT) -> list[dict]:
    """The rows of :func:`stage_table` for one run."""
    meta = json.loads((folder / "run_meta.json").read_text())
    log = run_log(folder, meta)
    recomputed = _recomputed(folder)
    a, entropy, task = float(meta["expert_pass_rate"]), float(meta["expert_entropy"]), run_task(meta)
    rows = []
    for stage in sorted(log.loc[log["phase"] == "rl", "stage"].unique()):
        points = log[log["stage"] == stage]
        start, end = points.iloc[0], points.iloc[-1]
        rows.append({"family": family, "run": folder.relative_to(root).as_posix(), "stage": int(stage),
                     "beta": kl_beta(meta), "rl_steps": int(end["step"] - start["step"]),
                     "sft_loss_start": start["sft_loss"], "sft_loss_end": end["sft_loss"],
                     "sft_increase": end["sft_loss"] - start["sft_loss"],
                     "pass_rate_start": start.get("pass_rate", np.nan), "pass_rate_end": end.get("pass_rate", np.nan),
                     "k1_floor_increase": _k1_floor_increase(a, end.get("pass_rate", np.nan), start["sft_loss"] - entropy),
                     "c1": _c1(task, kl_beta(meta)) if kl_beta(meta) > 0 else np.nan,
                     **_forward(recomputed, end), **(reverse := _reverse(folder, end)),
                     # the exact reverse KL where the run has one, else the sampled one
                     "k2_increase_at_reverse_kl": k2_increase_at(task, reverse["reverse_kl_exact"] if np.isfinite(
                         reverse["reverse_kl_exact"]) else reverse["reverse_kl"]),
                     **_premise(log, int(stage), a, entropy)})
    return rows


def _recomputed(folder: Path) -> pd.DataFrame | None:
    path = folder / RECOMPUTED
    return log_frame(path) if path.is_file() else None


def _forward(recomputed: pd.DataFrame | None, end: pd.Series) -> dict:
    """KL(pi_SFT || pi) at the stage's end: recomputed exactly, else the callback's sampled one, else not logged."""
    if recomputed is not None:
        last = recomputed.iloc[-1]
        return {"forward_kl": last["forward_kl_support"], "forward_kl_full": last["forward_kl_full"],
                "forward_kl_source": f"exact, recomputed ({RECOMPUTED})",
                "premise_bound": premise_bound(last["sft_chi2_support"], last["log_ratio_second_moment"])}
    sampled = end.get("forward_kl", np.nan)
    source = "sampled, full support (log: forward_kl)" if pd.notna(sampled) else "not logged"
    return {"forward_kl": np.nan, "forward_kl_full": float(sampled), "forward_kl_source": source, "premise_bound": np.nan}


def _reverse(folder: Path, end: pd.Series) -> dict:
    """KL(pi || pi_SFT) at the stage's end: the sampled estimate, its sample count, the exact value where there is one."""
    exact = folder / "exact.jsonl"
    return {"reverse_kl": end["kl"], "reverse_kl_samples": int(end["reward_samples"]),
            "reverse_kl_exact": float(log_frame(exact)["exact_kl"].iloc[-1]) if exact.is_file() else np.nan}


def _k1_floor_increase(a: float, rate: float, excess: float) -> float:
    """K1's floor on the increase: CE_end - H >= kl(a || b_end), less the start's excess KL(p* || pi_SFT)."""
    return float(kl_bernoulli(a, rate)) - excess if np.isfinite(rate) else np.nan


def _c1(task, beta: float) -> float:
    """V1's C1(beta) from the task's enumerated expert (digit and CoLA-like tasks), by the library's function."""
    probs, rewards = expert_table(task)
    return float(sft_increase_after_kl_rl(probs, rewards, beta=beta))


@functools.cache  # per task (a frozen dataclass): every stage of a plan shares its task
def expert_table(task) -> tuple[np.ndarray, np.ndarray]:
    """p*(y|x) and r(x, y) over each prompt's expert support (prompts x answers; every prompt has as many), read-only."""
    probs, rewards = [], []
    for prompt in task.prompts:
        answers, p = zip(*task.expert_distribution(prompt).items(), strict=True)
        probs.append(p)
        rewards.append([task.reward(prompt, y) for y in answers])
    table = np.array(probs), np.array(rewards)
    for array in table:
        array.setflags(write=False)
    return table


def run_task(meta: dict):
    """The task a run's ``run_meta.json`` describes (digit or CoLA-like; its derived keys dropped)."""
    from simulations.qwen3.task import TASKS

    cls = TASKS[meta.get("task_name", "digit")]
    recorded = meta.get("task") or meta.get("config", {}).get("task", {})
    return cls(**{k: v for k, v in recorded.items() if k in cls.__dataclass_fields__})


def tilt_path(task, tilts) -> pd.DataFrame:
    """K2's KL-regularized path from p* (pi_s ~ p* e^{s r}), averaged over prompts: its KL(pi_s || p*) and
    SFT-loss increase, by the library's :func:`nondecoupling.tilted_tradeoff` (the increase is also
    KL(p* || pi_s), the forward KL: on this path the two axes of the forgetting figure meet)."""
    from nondecoupling import tilted_tradeoff

    probs, rewards = expert_table(task)
    tilts = np.asarray(tilts, float)
    _, increase, rl_kl = tilted_tradeoff(tilts[:, None], probs, rewards)  # (tilts, prompts)
    return pd.DataFrame({"s": tilts, "reverse_kl": rl_kl.mean(1), "sft_increase": increase.mean(1)})


#: Tilts s = 1/beta on which K2's path is tabulated for :func:`k2_increase_at` (its reverse KL rises with s).
K2_TILTS = np.concatenate([np.linspace(0.0, 2.0, 201), np.geomspace(2.01, 200.0, 400)])


@functools.cache
def _k2_path(task) -> pd.DataFrame:
    return tilt_path(task, K2_TILTS)


def k2_increase_at(task, reverse_kl: float) -> float:
    """The SFT-loss increase of K2's tilt from p* whose KL(pi_s || p*) is ``reverse_kl`` (interpolated on
    :data:`K2_TILTS`); inf beyond the path's largest KL (-log a for a 0/1 reward: no tilt gets there)."""
    path = _k2_path(task)
    if not np.isfinite(reverse_kl) or reverse_kl > path["reverse_kl"].iloc[-1]:
        return math.inf
    return float(np.interp(reverse_kl, path["reverse_kl"], path["sft_increase"]))


def _premise(log: pd.DataFrame, stage: int, a: float, entropy: float) -> dict:
    """"SFT exact?" for an RL stage: the bridge's RL-start premise (the SFT stage before it settled and
    ended at pass rate a, up to noise) *and* its SFT loss at H(p*) up to the same noise (the bridge's
    :func:`~nondecoupling.bridge.logs.verdicts.rate_matches_expert` on the SFT stage's last half, with
    H(p*) for a: CE = H(p*) is p* = pi_SFT, since CE - H = KL(p* || pi_SFT)). ``sft_excess`` is that
    KL at the stage's start, exact in every log."""
    from nondecoupling.bridge.logs.verdicts import SUPPORTED, rate_matches_expert, rl_start_premise

    check = rl_start_premise(log, stage, expert_pass_rate=a)
    excess = float(log.loc[log["stage"] == stage, "sft_loss"].iloc[0]) - entropy
    previous = log.loc[log["stage"] == stage - 1, "sft_loss"].dropna().to_numpy(float)
    at_entropy = None
    if check.verdict == SUPPORTED:  # then the SFT stage exists and its last half has >= 3 points
        at_entropy = rate_matches_expert(previous[-max(3, math.ceil(previous.size / 2)):], entropy)
    exact = at_entropy is not None and at_entropy["matches"]
    loss_text = ("" if at_entropy is None else f"; SFT loss over SFT's last {at_entropy['n']} points {at_entropy['mean']:.4g} "
                 f"vs H(p*) = {entropy:.4g}: |gap| {abs(at_entropy['gap']):.3g} vs {at_entropy['tolerance']:.3g}")
    follows_sft = bool((log.loc[log["stage"] == stage - 1, "phase"] == "sft").any())
    return {"sft_excess": excess, "premise": check.verdict, "premise_reason": check.decided_by + loss_text, "sft_exact": exact,
            "follows_sft": follows_sft}


def premise_met(table: pd.DataFrame) -> pd.Series:
    """Per stage: "SFT exact" (the ``sft_exact`` column, see :func:`_premise`)."""
    return table["sft_exact"].astype(bool)


# ----------------------------------------------------------------- recomputing the exact V1 runs' forward KL


def answer_log_probs(by_depth: list, tree, paths) -> torch.Tensor:
    """log pi(y + EOS | x) of full-width answers, ``paths`` (prompts, k, max_tokens - 1) positions in ``tree.inner``.

    The same walk down the tree as :func:`simulations.qwen3.exact_rl.pass_probability`, for k answers a prompt.
    """
    import torch

    rows = torch.arange(tree.prompts)[:, None].expand(paths.shape[:2])
    total = torch.zeros(paths.shape[:2], dtype=by_depth[0].dtype)
    for d, log_probs in enumerate(by_depth):
        node = (rows, *[paths[..., j] for j in range(d)])
        token = tree.inner[paths[..., d]] if d < tree.max_tokens - 1 else torch.full_like(rows, tree.eos)
        total = total + log_probs[node + (token,)]
    return total


def expert_paths(task, tokenizer, tree) -> tuple[torch.Tensor, np.ndarray]:
    """Each prompt's expert answers as tree paths (prompts, answers, width) and their p* (prompts, answers)."""
    import torch

    position = {int(token): k for k, token in enumerate(tree.inner)}
    paths, probs = [], []
    for prompt in task.prompts:
        answers, p = zip(*task.expert_distribution(prompt).items(), strict=True)
        paths.append([[position[t] for t in tokenizer(y, add_special_tokens=False)["input_ids"]] for y in answers])
        probs.append(p)
    return torch.tensor(paths), np.array(probs)


def forgetting_point(by_depth: list, reference: list, tree, paths, probs: np.ndarray) -> dict:
    """Exact CE(p*, pi), KL(pi_SFT || pi) on p*'s support and over the whole tree, at one policy, and
    the two factors of :func:`premise_bound`.

    On the support S, increase - forward KL = -sum_S (pi_SFT - p*) g with g = log(pi_SFT / pi)
    (the increase is sum_S p* g). By Cauchy-Schwarz its size is at most
    sqrt(chi2) sqrt(E_p* g^2), chi2 = sum_S (pi_SFT - p*)^2 / p*: 0 when SFT is exact.
    """
    from simulations.qwen3.exact_rl import sequence_kl

    own, sft = (answer_log_probs(d, tree, paths).numpy() for d in (by_depth, reference))
    return {"sft_loss": float(-(probs * own).sum(1).mean()),
            "forward_kl_support": float((np.exp(sft) * (sft - own)).sum(1).mean()),
            # sequence_kl(p, q) is KL(p || q) by the chain rule: the SFT model first gives the forward KL.
            "forward_kl_full": float(sequence_kl(reference, by_depth, tree).mean()),
            # per prompt, then averaged: the bound is summed over prompts by Cauchy-Schwarz again (see premise_bound).
            "sft_chi2_support": float(((np.exp(sft) - probs) ** 2 / probs).sum(1).mean()),
            "log_ratio_second_moment": float((probs * (sft - own) ** 2).sum(1).mean())}


def premise_bound(chi2: float, second_moment: float) -> float:
    """Largest |increase - forward KL on S| an SFT model off p* by ``chi2`` allows (see :func:`forgetting_point`).

    Per prompt |sum (pi_SFT - p*) g| <= sqrt(chi2_x m2_x); averaged over prompts,
    mean sqrt(chi2_x m2_x) <= sqrt(mean chi2_x) sqrt(mean m2_x) (Cauchy-Schwarz over prompts), so
    the prompt means of the two factors suffice. 0 when pi_SFT = p* on S.

    >>> premise_bound(0.0, 4.0)
    0.0
    """
    return math.sqrt(chi2 * second_moment)


def sft_model(sft_dir: Path, cache: Path = MODEL_CACHE) -> Path:
    """The SFT run's model, re-made from its recorded command into ``cache`` (kept), its log checked.

    Raises
    ------
    RuntimeError
        If the re-made SFT log differs from the committed one by more than :data:`REPLAY_TOLERANCE`
        (another CPU model or library version: the weights would not be the run's).
    """
    from simulations.qwen3.reproduce import rerun

    out = cache / sft_dir.parent.name / sft_dir.name  # v1/sft-seed0 and v1-converged/sft-seed0 are different models
    if not (out / "model").is_dir():
        rerun(sft_dir, out)
    drift = exact_metric_drift(sft_dir / "log.jsonl", out / "log.jsonl")
    if not drift <= REPLAY_TOLERANCE:
        raise RuntimeError(f"{out}: the re-made SFT log differs from {sft_dir / 'log.jsonl'} by {drift:.3g} "
                           f"> {REPLAY_TOLERANCE:g}: not the committed run's model")
    return out


def exact_metric_drift(recorded: Path, rerun_log: Path) -> float:
    """Largest |re-run - recorded| of the exact metrics (SFT loss, pass rate) at the steps both logs have.

    The callback's evaluation schedule has changed since the V1 runs (a geometric start instead
    of steps 1, 2, 5), so the logs share most steps but not all; the last step must be shared.
    """
    old, new = (log_frame(path).set_index("step") for path in (recorded, rerun_log))
    if old.index[-1] not in new.index:
        raise RuntimeError(f"{rerun_log} has no evaluation at {recorded}'s last step {old.index[-1]}")
    common = old.index.intersection(new.index)
    return float(max((new.loc[common, k] - old.loc[common, k]).abs().max() for k in ("sft_loss", "pass_rate")))


def recompute_exact_run(folder: Path, *, command: str, cache: Path = MODEL_CACHE) -> Path:
    """Replay one exact V1 run from its re-made SFT model and write ``forgetting.jsonl`` and its meta.

    The replay is :func:`simulations.qwen3.v1.run_exact`'s optimization
    (:class:`~simulations.qwen3.v1.ExactPolicyGradient`) without the callback (whose
    evaluations never touch the weights or the optimizer); at every step its exact pass rate and
    KL(pi || pi_SFT) are compared with ``exact.jsonl``, and at every step of ``log.jsonl`` it
    records :func:`forgetting_point`.

    Raises
    ------
    RuntimeError
        If the replay leaves the committed ``exact.jsonl`` by more than :data:`REPLAY_TOLERANCE`.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from simulations.qwen3.exact_rl import build_tree, node_log_probs
    from simulations.qwen3.runner import hardware
    from simulations.qwen3.v1 import EXACT, ExactPolicyGradient, _versions, task_from_meta

    start = time.perf_counter()
    meta = json.loads((folder / "run_meta.json").read_text())
    model_dir = sft_model(REPO / meta["sft_run"], cache) / "model"
    torch.set_num_threads(1)
    torch.manual_seed(meta["seed"])  # as run_exact
    task, beta = task_from_meta(meta), meta["beta"]
    settings = {**EXACT, **meta["settings"]}  # the first plan's runs predate the L-BFGS polish (its rounds: 0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True).double()
    tree = build_tree(task, tokenizer, max_tokens=task.answer_width + 1)
    paths, probs = expert_paths(task, tokenizer, tree)
    with torch.no_grad():
        reference = node_log_probs(model, tree)
    gradient = ExactPolicyGradient(model, reference, tree, beta, lr=settings["lr"], decay=settings["decay"],
                                   max_steps=settings["max_steps"], polish_iterations=settings["polish_iterations"])
    committed = log_frame(folder / "exact.jsonl").set_index("step")
    logged = log_frame(folder / "log.jsonl").set_index("step")
    steps, records, drift = meta["stages"][0]["steps"], [], 0.0
    for step in range(steps + 1):
        with torch.no_grad():
            by_depth = node_log_probs(model, tree)
        parts = gradient.parts()
        drift = max(drift, *(abs(parts[k] - committed.loc[step, k]) for k in ("exact_pass_rate", "exact_kl")))
        if step in logged.index:
            records.append({"step": step, "exact_pass_rate": parts["exact_pass_rate"], "reverse_kl_exact": parts["exact_kl"],
                            **forgetting_point(by_depth, reference, tree, paths, probs)})
        if step < steps:
            gradient.step(step)
    if not drift <= REPLAY_TOLERANCE:
        raise RuntimeError(f"{folder}: the replay leaves exact.jsonl by {drift:.3g} > {REPLAY_TOLERANCE:g}")
    frame = pd.DataFrame(records)
    sft_loss_gap = float((frame.set_index("step")["sft_loss"] - logged.loc[frame["step"], "sft_loss"]).abs().max())
    (folder / RECOMPUTED).write_text(frame.to_json(orient="records", lines=True, double_precision=15))
    (folder / RECOMPUTED_META).write_text(json.dumps({
        "command": command, "what": "exact KL(pi_SFT || pi) on p*'s support and over all completions, at log.jsonl's steps, "
        "from a replay of this run (its SFT model re-made from sft_run's command)",
        "replay_max_abs_diff_exact_jsonl": drift, "sft_loss_max_abs_diff_log": sft_loss_gap,
        "replay_tolerance": REPLAY_TOLERANCE, "hardware": hardware(), "versions": _versions(),
        "wall_time_s": round(time.perf_counter() - start, 2), "finished": True}, indent=2) + "\n")
    return folder / RECOMPUTED


def recompute(folders: list[Path], *, command: str) -> list[str]:
    """Replay each exact run not replayed before (resumable); one status line each."""
    statuses = []
    for folder in folders:
        meta_path = folder / RECOMPUTED_META
        if meta_path.is_file() and json.loads(meta_path.read_text()).get("finished"):
            statuses.append(f"{folder.name}: replayed before")
            continue
        recompute_exact_run(folder, command=command)
        statuses.append(f"{folder.name}: replayed")
        print(statuses[-1], flush=True)
    return statuses


# ----------------------------------------------------------------- command line


#: The exact V1 plans whose runs can be replayed (``simulations/data/<plan>/exact/``).
EXACT_PLANS = ("v1", "v1-converged")


def exact_runs(seeds: list[int] | None, plans: Sequence[str] = EXACT_PLANS, root: Path = DATA_ROOT) -> list[Path]:
    """The exact V1 runs' folders of ``plans`` (of ``seeds`` only, if given)."""
    def seed(folder: Path) -> int:
        return int(folder.name.rsplit("seed", 1)[1])

    # By plan and seed first: one SFT model is re-made per plan and seed, and its runs follow it.
    return [folder for plan in plans
            for folder in sorted((root / plan / "exact").glob("*-seed*"), key=lambda f: (seed(f), f.name))
            if seeds is None or seed(folder) in seeds]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulations.qwen3.forgetting", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    again = sub.add_parser("recompute", help="replay exact V1 runs and write their forward KL (forgetting.jsonl)")
    again.add_argument("--seeds", type=int, nargs="+", help="only the runs of these seeds (default: all)")
    again.add_argument("--plans", nargs="+", choices=EXACT_PLANS, default=list(EXACT_PLANS),
                       help="the exact V1 plans to replay (default: all)")
    sub.add_parser("table", help="print the per-stage table as markdown")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.action == "recompute":
        command = shlex.join(["python", "-m", "simulations.qwen3.forgetting", *argv])
        recompute(exact_runs(args.seeds, args.plans), command=command)
        return 0
    print(markdown_table(stage_table()))
    return 0



def markdown_table(table: pd.DataFrame) -> str:
    """The per-stage table of docs/experiments.md ("not logged" where no log has the quantity)."""
    def number(value, digits=3):
        return "not logged" if pd.isna(value) else f"{value:.{digits}f}"

    lines = ["| run | stage | β | SFT-loss increase | forward KL on supp p* (all completions) | reverse KL, sampled (exact) "
             "| SFT exact? excess KL(p*‖π_SFT); bridge premise | increase / forward KL (premise bound) |",
             "|---|---|---|---|---|---|---|---|"]
    for _, row in table.iterrows():
        full = "" if pd.isna(row["forward_kl_full"]) else (
            f" ({row['forward_kl_full']:.3f}{', sampled' if pd.isna(row['forward_kl']) else ''})")
        reverse = number(row["reverse_kl"]) + ("" if pd.isna(row["reverse_kl_exact"]) else f" ({row['reverse_kl_exact']:.3f})")
        ratio = number(row["ratio"], 3) + ("" if pd.isna(row["premise_bound"]) else f" (±{row['premise_bound'] / row['forward_kl']:.3f})")
        lines.append(f"| {row['run']} | {row['stage']} | {row['beta']:g} | {row['sft_increase']:.3f} | {number(row['forward_kl'])}{full} "
                     f"| {reverse} | {'not rejected' if row['sft_exact'] else 'no'}: {row['sft_excess']:.3f}; {row['premise']} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())

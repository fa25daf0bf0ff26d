"""Synthetic runs whose truth is known: exact gradient flows on isotropic quadratics.

L(theta) = H + (mu_sft/2)|theta - a|^2 and J(theta) = J* - (mu_rl/2)|theta - b|^2 in the
plane. Each flow has the closed form theta(s) = target + (theta_0 - target) e^{-mu s}, so
the curves are those of THEORY.md's tight instances (P1, P3, P4): the RL stage's optimal
duration is exactly t* = ln(1 + Delta_0/(lam A)) / mu_rl, A = (mu_sft/mu_rl) Delta_0 for a
start at the SFT optimum, and the SFT loss under RL plateaus at tau = H + (mu_sft/2)|a - b|^2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

EXPERT = np.array([0.0, 0.0])  # a: the SFT optimum


def isotropic_run(
    stages,
    *,
    start=(-2.0, 0.0),
    rl_optimum=(50.0**0.5, 0.0),
    mu_sft=0.12,
    mu_rl=0.02,
    sft_time_per_step=0.1,
    rl_time_per_step=1.0,
    entropy=10.0,
    best_reward=0.9,
    every=5,
    loss_noise=0.0,
    reward_noise=0.0,
    seed=0,
    forward_kl_noise=None,
) -> pd.DataFrame:
    """A canonical run (the columns of :mod:`nondecoupling.bridge.logs.run`) of exact flows plus noise.

    ``stages`` is a sequence of ``(phase, steps)``. One RL step is flow time ``rl_time_per_step``,
    one SFT step flow time ``sft_time_per_step`` (a smaller learning rate). Evaluations every ``every``
    steps, including each stage's start. The defaults put the RL optimum at reward 0.9,
    the SFT optimum at reward 0.4 and SFT loss H = 10, and tau = H + 3.

    ``forward_kl_noise`` (a noise s.d.; None: no such column) adds RL rows' ``forward_kl``,
    KL(pi_0 || pi) to the policy pi_0 the stage started from: the loss is that of Gaussian
    policies N(theta, I / mu_sft) against an expert N(a, I / mu_sft), L = H + KL(p* || pi), so
    KL(pi_0 || pi) = (mu_sft / 2) |theta - theta_0|^2 (equal to the loss's increase when
    theta_0 = a: the SFT optimum).
    """
    rng = np.random.default_rng(seed)
    theta, step, rows = np.asarray(start, float), 0, []
    optimum = {"sft": (EXPERT, mu_sft * sft_time_per_step), "rl": (np.asarray(rl_optimum, float), mu_rl * rl_time_per_step)}
    for stage, (phase, steps) in enumerate(stages):
        target, mu = optimum[phase]  # mu: the flow's rate per optimizer step
        for s in range(0, steps + 1, every):
            point = target + (theta - target) * np.exp(-mu * s)
            loss = entropy + 0.5 * mu_sft * np.sum((point - EXPERT) ** 2)
            reward = best_reward - 0.5 * mu_rl * np.sum((point - optimum["rl"][0]) ** 2)  # J* - (R - R*)
            rows.append({
                "phase": phase, "stage": stage, "step": step + s,
                "sft_loss": loss + loss_noise * rng.standard_normal(),
                "reward": float(np.clip(reward + reward_noise * rng.standard_normal(), 0.0, 1.0)),
            })
            if forward_kl_noise is not None and phase == "rl":
                kl = 0.5 * mu_sft * np.sum((point - theta) ** 2)
                rows[-1]["forward_kl"] = kl + forward_kl_noise * rng.standard_normal()
        theta = target + (theta - target) * np.exp(-mu * steps)
        step += steps
    return pd.DataFrame(rows)


def write_jsonl(run: pd.DataFrame, path: Path, meta: dict | None = None) -> Path:
    """Write ``run`` as canonical JSONL (and ``run_meta.json`` beside it if ``meta``)."""
    path = Path(path)
    path.write_text("".join(json.dumps(record) + "\n" for record in run.to_dict("records")))
    if meta is not None:
        (path.parent / "run_meta.json").write_text(json.dumps(meta, indent=2))
    return path


def write_events(path: Path, events: list) -> None:
    """A TensorBoard event file of ``(step, [(tag, value), ...])`` events (``simple_value`` scalars), framed by
    tensorboard's own record writer, as torch's ``SummaryWriter`` writes them; the i-th event at wall time i."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        writer = RecordWriter(handle)
        writer.write(event_pb2.Event(wall_time=0.0, file_version="brain.Event:2").SerializeToString())
        for index, (step, values) in enumerate(events):
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value) for tag, value in values])
            writer.write(event_pb2.Event(wall_time=float(index), step=step, summary=summary).SerializeToString())

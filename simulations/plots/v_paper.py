"""V1, V3: the paper's own statements (THEORY.md section V) against simulation.

``v1_c1_beta``: C1(beta) (paper Thm 3.1) over the KL coefficient beta, beside the SFT loss
that simulated KL-regularized RL from the expert leaves once converged (tabular softmax
policies over several prompts, graded and binary rewards), and their difference (below
:data:`RESOLUTION`, float noise, written as 0).
``v3_reward_drop``: left, paper Thm 4.1 as stated fails along SFT from section V's instance
(KL reaches Assumption 3's window, the reward never moves); right, the corrected drop
``max(0, b_RL - kl_inv_upper(a, eps))`` along SFT after RL, attained on the tight instance and
below the simulated drop on a random log-linear instance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nondecoupling import sft_increase_after_kl_rl
from simulations.checks import v1_sft_after_kl_rl as v1
from simulations.checks import v3_reward_drop as v3
from simulations.plots import Drawn
from simulations.plots._style import BOUND, REFERENCE, SIMULATION, THEORY_MARK, colours, panels

#: |simulated - C1| below this is written as 0 and drawn on this line: a few hundred ulps of
#: losses of order log K, rounding noise whose digits differ between machines' BLAS and libm.
RESOLUTION = 1e-13


def _v1(rng: np.random.Generator, *, quick: bool) -> Drawn:
    fig, axes = panels(2, width=5.0, height=4.0)
    curve_betas = np.geomspace(0.05, 20.0, 200)
    simulated_betas = np.geomspace(0.25, 10.0, 4 if quick else 9)
    rows = []
    for colour, binary in zip(colours(2), (False, True)):
        probs, rewards, weights = v1.random_instance(rng, binary=binary)
        kind = "binary" if binary else "graded"
        curve = np.asarray(sft_increase_after_kl_rl(probs, rewards, beta=curve_betas, prompt_weights=weights))
        path = v1.c1_path(probs, rewards, simulated_betas, prompt_weights=weights)
        axes[0, 0].plot(curve_betas, curve, color=colour, label=f"$C_1(\\beta)$, {kind} reward (V1)", **BOUND)
        axes[0, 0].plot(path.betas, path.simulated, color=colour, label=f"converged KL-regularized RL, {kind}", **THEORY_MARK)
        error = np.where(path.error() < RESOLUTION, 0.0, path.error())
        axes[0, 1].plot(path.betas, np.maximum(error, RESOLUTION), color=colour, marker="o", label=kind, **SIMULATION)
        rows += [pd.DataFrame({"reward": kind, "series": "c1", "beta": curve_betas, "c1": curve}),
                 pd.DataFrame({"reward": kind, "series": "simulated", "beta": path.betas, "sft_increase": path.simulated,
                               "c1": path.exact, "abs_error": error})]
    axes[0, 0].set(xscale="log", yscale="log", xlabel="KL coefficient $\\beta$", ylabel="SFT loss increase $L_{SFT}(p_{RL}) - L_{SFT}(p_D)$",
                   title="3 prompts x 5 responses")
    axes[0, 0].legend(fontsize=7.5, loc="lower left")
    axes[0, 1].axhline(1e-10, label="test tolerance", **REFERENCE)
    axes[0, 1].axhline(RESOLUTION, color="0.45", lw=1.0, ls="-.", label="float resolution (smaller: drawn here)")
    axes[0, 1].set(xscale="log", yscale="log", xlabel="KL coefficient $\\beta$", ylabel="|simulated - $C_1(\\beta)$|",
                   title="difference (solver precision)", ylim=(RESOLUTION / 10, 1e-8))
    axes[0, 1].legend(fontsize=7.5)
    fig.suptitle("V1 (paper Thm 3.1): KL-regularized RL from the SFT model raises the SFT loss by exactly $C_1(\\beta)$")
    return Drawn("v1_c1_beta", ("V1",), fig, pd.concat(rows, ignore_index=True),
                 "C1(beta) of paper Thm 3.1 over the KL coefficient, beside the SFT loss increase left by simulated KL-regularized RL run to convergence from the expert (equal to solver precision).",
                 dict(prompts=3, responses=5, simulated_betas=simulated_betas))


def _claim_panel(ax) -> pd.DataFrame:
    run = v3.counterexample_flow(np.linspace(0.0, 12.0, 121))
    low, high = v3.ASSUMED_KL
    ax.axhspan(low, high, color="C3", alpha=0.10, lw=0, label="Assumption 3: $a \\leq$ KL $\\leq A$")
    ax.plot(run.times, run.expected_kl, color="C0", label="KL($\\pi_t \\| \\pi_{RL}$) (simulated SFT)", **SIMULATION)
    ax.plot(run.times, run.reward_drop, color="C1", label="reward drop $J(\\pi_{RL}) - J(\\pi_t)$", **SIMULATION)
    ax.plot(run.times[run.counterexample], run.reward_drop[run.counterexample], color="C3", marker="x", ls="none", ms=5,
            label="claim's conclusion fails")
    ax.set(xlabel="SFT time $t$ (after RL)", ylabel="nats / reward", ylim=(-0.02, 0.25),
           title="as stated: $r \\equiv 0$, $\\pi_{RL} = (1/2, 1/2) \\to (3/4, 1/4)$")
    ax.legend(fontsize=7, loc="upper left")
    return pd.DataFrame({"panel": "as_stated", "t": run.times, "expected_kl": run.expected_kl, "reward_drop": run.reward_drop,
                         "assumption_holds": run.assumption_holds, "counterexample": run.counterexample})


def _corrected_panel(ax, rng, times) -> pd.DataFrame:
    rows = []
    cases = [("tight (binary, $p^*$ uniform per class)", "tight", v3.tight_drop(times)),
             ("random log-linear policy (4 prompts)", "log_linear", v3.random_drop(rng, kind="log_linear", rl_time=20.0, sft_time=float(times[-1]), points=times.size))]
    for colour, (label, key, curves) in zip(colours(2), cases):
        ax.plot(curves.times, curves.drop, color=colour, label=f"drop $b_{{RL}} - b(t)$, {label}", **SIMULATION)
        ax.plot(curves.times, curves.guaranteed, color=colour, label="guaranteed $C_2$ (V3 corrected)", **BOUND)
        rows.append(pd.DataFrame({"panel": "corrected", "instance": key, "t": curves.times, "drop": curves.drop,
                                  "guaranteed": curves.guaranteed, "sft_excess": curves.sft_excess,
                                  "expert_rate": curves.expert_rate, "rl_rate": curves.rl_rate}))
    ax.set(xlabel="SFT time $t$ (after RL)", ylabel="reward drop", title="corrected: $C_2 = \\max(0, b_{RL} - kl^{-1}_\\uparrow(a, \\epsilon))$")
    ax.legend(fontsize=7, loc="upper left")
    return pd.concat(rows, ignore_index=True)


def _v3(rng: np.random.Generator, *, quick: bool) -> Drawn:
    fig, axes = panels(2, width=5.0, height=4.0)
    times = np.linspace(0.0, 20.0, 41 if quick else 161)
    data = pd.concat([_claim_panel(axes[0, 0]), _corrected_panel(axes[0, 1], rng, times)], ignore_index=True)
    fig.suptitle("V3 (paper Thm 4.1): false as stated (ties in the reward), and the corrected strict drop along SFT after RL")
    return Drawn("v3_reward_drop", ("V3",), fig, data,
                 "Left: SFT from section V's instance reaches Assumption 3's KL window while the reward never drops (the claim fails). Right: the corrected guaranteed drop, attained on the tight instance and below the simulated drop on a random log-linear policy.",
                 dict(assumed_kl=v3.ASSUMED_KL, sft_time=float(times[-1]), points=times.size))


def draw(rng: np.random.Generator, *, quick: bool) -> list[Drawn]:
    return [_v1(rng, quick=quick), _v3(rng, quick=quick)]

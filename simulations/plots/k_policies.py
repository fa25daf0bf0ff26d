"""K1, K2, K3: the distributional (KL) analysis on tabular softmax policies.

``k1_k2_frontier``: every policy's SFT increase ``CE(p*, pi) - H(p*)`` against its pass
rate ``b``: random policies (points) above the frontier ``kl(a || b)`` (K1), the
KL-regularized tilt ``pi_s ∝ p* e^{s r}`` (K2, exact curve and converged simulations) and
the plain RL flow from ``p*``. ``k3_ceiling``: the pass rate during SFT after RL inside the
band ``[kl_inv_lower, kl_inv_upper](a, eps)`` and Pinsker's ``a +- sqrt(eps/2)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nondecoupling import kl_bernoulli, tilted_tradeoff
from simulations.checks import k1_any_policy_pays as k1
from simulations.checks import k2_tilted_policy as k2
from simulations.checks import k3_reward_ceiling as k3
from simulations.dynamics import gradient_flow
from simulations.plots import Drawn
from simulations.plots._style import BOUND, REFERENCE, SIMULATION, THEORY_MARK, panels

RESPONSES = 6
EXPERT_CONCENTRATION = 3.0  # keeps every p*(y) away from 0, so the tilt simulations converge fast


def _instance(rng: np.random.Generator, *, binary: bool):
    """A random tabular instance with expert pass rate strictly inside (0, 1)."""
    while True:
        sft, rl = k1.random_tabular(rng, RESPONSES, binary=binary, expert_concentration=EXPERT_CONCENTRATION)
        if 0.05 < float(sft.expert_probs[0] @ rl.rewards[0]) < 0.95:
            return sft, rl


def _tilt_exact(expert, rewards, strengths):
    """K2's exact (pass rate, SFT increase) for tilts towards higher and, through ``1 - r``, lower reward."""
    up_reward, up_increase, _ = tilted_tradeoff(strengths, expert, rewards)
    down_reward, down_increase, _ = tilted_tradeoff(strengths, expert, 1.0 - rewards)
    return np.r_[(1.0 - np.asarray(down_reward))[::-1], up_reward], np.r_[np.asarray(down_increase)[::-1], up_increase]


def _frontier_panel(ax, rng, *, binary: bool, policies: int, strengths) -> pd.DataFrame:
    sft, rl = _instance(rng, binary=binary)
    expert, rewards = sft.expert_probs[0], rl.rewards[0]
    cloud = k1.evaluate_policies(sft, rl, np.log(rng.dirichlet(np.full(RESPONSES, 0.7), size=policies)))
    a = float(cloud.expert_rate)
    rates = np.linspace(0.0, 1.0, 401)[1:-1]
    frontier = kl_bernoulli(a, rates)
    tilt_rate, tilt_increase = _tilt_exact(expert, rewards, np.geomspace(1e-3, 30.0, 200))
    simulated = k2.tilt_path(sft, rewards, strengths)
    rl_run = k1.rl_path(sft, rl, np.log(expert), np.r_[0.0, np.geomspace(1e-2, 30.0, 80)])
    ax.plot(cloud.pass_rate, cloud.sft_increase, ls="none", marker="o", ms=3, color="0.55", alpha=0.5, label="random policies")
    # The tilt is drawn wide and pale under the frontier: for a binary reward they coincide.
    ax.plot(tilt_rate, tilt_increase, color="C0", lw=4.5, alpha=0.45, label="KL-regularized tilt $\\pi_s$ (K2, exact)")
    ax.plot(rates, frontier, color="C3", label="frontier kl$(a\\|b)$ (K1)", zorder=4, **BOUND)
    ax.plot(simulated.reward, simulated.sft_increase, color="C0", label="tilt, converged RL (simulated)", **THEORY_MARK)
    ax.plot(rl_run.pass_rate, rl_run.sft_increase, color="C1", lw=1.6, ls="-.", label="RL flow from $p^*$ (simulated)")
    ax.axvline(a, label="expert rate $a$", **REFERENCE)
    top = 1.3 * float(max(np.quantile(cloud.sft_increase, 0.95), np.max(simulated.sft_increase)))
    ax.set(xlim=(0, 1), ylim=(-0.03 * top, top), xlabel="pass rate $b = E_\\pi r$", ylabel="SFT increase $CE(p^*, \\pi) - H(p^*)$")
    ax.set_title(f"{'binary' if binary else 'graded'} reward, $a$ = {a:.2f}" + (" (tilt on frontier)" if binary else ""))
    kind = "binary" if binary else "graded"
    return pd.concat([
        pd.DataFrame({"reward": kind, "series": "random_policy", "pass_rate": cloud.pass_rate, "sft_increase": cloud.sft_increase, "bound": cloud.frontier}),
        pd.DataFrame({"reward": kind, "series": "frontier", "pass_rate": rates, "bound": frontier}),
        pd.DataFrame({"reward": kind, "series": "tilt_exact", "pass_rate": tilt_rate, "sft_increase": tilt_increase}),
        pd.DataFrame({"reward": kind, "series": "tilt_simulated", "strength": simulated.strengths, "pass_rate": simulated.reward,
                      "sft_increase": simulated.sft_increase, "bound": simulated.kl_frontier}),
        pd.DataFrame({"reward": kind, "series": "rl_flow", "pass_rate": rl_run.pass_rate, "sft_increase": rl_run.sft_increase, "bound": rl_run.frontier}),
    ], ignore_index=True)


def _ceiling_panel(ax, curves, *, title: str, kind: str) -> pd.DataFrame:
    a = np.broadcast_to(curves.expert_rate, curves.times.shape)
    ax.fill_between(curves.times, curves.floor, curves.ceiling, color="C3", alpha=0.08, lw=0)
    ax.plot(curves.times, curves.pass_rate, color="C0", label="pass rate $b(t)$ (simulated)", **SIMULATION)
    ax.plot(curves.times, curves.ceiling, color="C3", label="kl-inverse ceiling / floor (K3)", **BOUND)
    ax.plot(curves.times, curves.floor, color="C3", **BOUND)
    ax.plot(curves.times, np.minimum(a + curves.pinsker, 1.0), color="C4", lw=1.3, ls=(0, (1, 1.5)), label="Pinsker $a \\pm \\sqrt{\\epsilon/2}$")
    ax.plot(curves.times, np.maximum(a - curves.pinsker, 0.0), color="C4", lw=1.3, ls=(0, (1, 1.5)))
    ax.plot(curves.times, a, label="expert rate $a$", **REFERENCE)
    ax.set(xlabel="SFT time $t$ (after RL)", ylabel="pass rate $b$", title=title, ylim=(0, 1.02))
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlim(0.0, curves.times[-1])
    return pd.DataFrame({"instance": kind, "t": curves.times, "pass_rate": curves.pass_rate, "sft_excess": curves.sft_excess,
                         "ceiling": curves.ceiling, "floor": curves.floor, "pinsker": curves.pinsker, "expert_rate": a})


def draw(rng: np.random.Generator, *, quick: bool) -> list[Drawn]:
    policies = 150 if quick else 600
    strengths = np.array([0.5, 1.5, 3.0] if quick else [0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0])
    fig1, axes1 = panels(2, width=5.2, height=4.3)
    data1 = pd.concat([_frontier_panel(axes1[0, i], rng, binary=binary, policies=policies, strengths=strengths)
                       for i, binary in enumerate((True, False))], ignore_index=True)
    axes1[0, 0].legend(fontsize=7.5, loc="upper left")
    fig1.suptitle("K1/K2: every policy pays at least kl$(a\\|b)$ in SFT loss; for a binary reward the KL-regularized tilt pays exactly that")
    times = np.r_[0.0, np.geomspace(1e-2, 40.0, 60 if quick else 200)]
    fig2, axes2 = panels(2, width=5.2, height=4.0)
    sft, rl, theta0 = k3.tight_instance()
    data2 = [_ceiling_panel(axes2[0, 0], k3.sft_after(sft, rl, theta0, times), title="tight: binary, $p^*$ uniform per class", kind="tight")]
    sft, rl = _instance(rng, binary=False)
    theta_rl = gradient_flow(rl, np.log(sft.expert_probs[0]), [0.0, 5.0])[-1]
    data2.append(_ceiling_panel(axes2[0, 1], k3.sft_after(sft, rl, theta_rl, times), title="random graded reward", kind="graded"))
    axes2[0, 1].legend(fontsize=7.5, loc="lower left")
    fig2.suptitle("K3: SFT after RL pulls the pass rate back to the expert's, inside the KL band")
    return [
        Drawn("k1_k2_frontier", ("K1", "K2"), fig1, data1,
              "SFT-loss increase against pass rate: random policies lie above the frontier kl(a||b); the KL-regularized tilt follows it exactly for a binary reward.",
              dict(responses=RESPONSES, expert_concentration=EXPERT_CONCENTRATION, policies=policies, tilt_strengths=strengths)),
        Drawn("k3_ceiling", ("K3",), fig2, pd.concat(data2, ignore_index=True),
              "Pass rate during SFT after RL inside the kl-inverse band of the SFT excess (and Pinsker's), converging to the expert rate a; the band's ceiling is attained on the tight instance.",
              dict(responses=RESPONSES, rl_time=5.0, sft_times=(0.0, float(times[-1])), points=times.size)),
    ]

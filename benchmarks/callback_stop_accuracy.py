"""How far the callback's early stop lands from the true optimum, on simulated noisy RL curves.

``python benchmarks/callback_stop_accuracy.py [--draws 100] [--n-boot 30]``

Each draw is an RL stage started at the SFT optimum of two quadratics (THEORY.md's P1/P3
setting), evaluated every ``spacing`` steps with Gaussian noise on the reward (a sampled pass
rate) and on the SFT loss, and fed, one evaluation at a time, to the callback's own decision
function :func:`nondecoupling.bridge.callback.p3_stop_estimate` until it says stop. The stop
is compared with the TRUE argmax of the net gain G(s) = [J(s) - J(0)] - lam [L(s) - L(0)] of
the noise-free curves:

* ``isotropic``: L = (mu_sft/2)|theta - a|^2, R = (mu_rl/2)|theta - b|^2, where the bridge's
  estimator is exact (t* = ln(1 + Delta_0/(lam A)) / m);
* ``anisotropic``: two directions with RL rates 0.01 and 0.04 per step: the estimator's
  one-rate model is misspecified, and the true argmax is found on a fine grid.

Reported per scenario: the share of draws that stopped within the horizon, the median and
the 10th/90th percentiles of (stop - true argmax) in steps, and the median relative regret
(G(argmax) - G(stop)) / G(argmax).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from nondecoupling.bridge.callback import p3_stop_estimate


@dataclass(frozen=True)
class Scenario:
    """An RL stage from the SFT optimum of two diagonal quadratics (one rate per direction)."""

    name: str
    mu_rl: tuple[float, ...]  # per-step RL curvature of each direction
    rl_gap: tuple[float, ...]  # Delta_0's share of each direction: (mu_rl_i / 2)(a_i - b_i)^2
    sft_rise: tuple[float, ...]  # the SFT loss's rise in each direction: (mu_sft_i / 2)(a_i - b_i)^2
    lam: float = 1.0
    spacing: int = 5
    horizon: int = 200
    reward_noise: float = 0.02  # a pass rate from ~600 samples
    loss_noise: float = 0.01

    def curves(self, s):
        """Noise-free reward gain J(s) - J(0) and SFT-loss rise L(s) - L(0) along the RL flow."""
        s = np.asarray(s, float)[..., None]
        rates = np.asarray(self.mu_rl)
        reward = (np.asarray(self.rl_gap) * (1.0 - np.exp(-2.0 * rates * s))).sum(-1)
        loss = (np.asarray(self.sft_rise) * (1.0 - np.exp(-rates * s)) ** 2).sum(-1)
        return reward, loss

    def net_gain(self, s):
        reward, loss = self.curves(s)
        return reward - self.lam * loss

    def true_argmax(self) -> float:
        grid = np.linspace(0.0, 4.0 * self.horizon, 400_001)
        return float(grid[np.argmax(self.net_gain(grid))])


SCENARIOS = (
    Scenario("isotropic", mu_rl=(0.02,), rl_gap=(0.5,), sft_rise=(0.3,)),
    Scenario("anisotropic", mu_rl=(0.01, 0.04), rl_gap=(0.2, 0.3), sft_rise=(0.25, 0.1)),
)


def stop_steps(scenario: Scenario, *, draws: int, seed: int = 0, n_boot: int = 30, progress: bool = False,
               **settings) -> np.ndarray:
    """The step at which the online rule stops in each noisy draw (NaN: it never stopped)."""
    rng = np.random.default_rng(seed)
    steps = np.arange(0, scenario.horizon + 1, scenario.spacing, dtype=float)
    reward_clean, loss_clean = scenario.curves(steps)
    stops = np.full(draws, np.nan)
    for draw in tqdm(range(draws), disable=not progress, desc=scenario.name):
        reward = 0.3 + reward_clean + rng.normal(0.0, scenario.reward_noise, steps.size)
        loss = 2.0 + loss_clean + rng.normal(0.0, scenario.loss_noise, steps.size)
        for count in range(1, steps.size + 1):
            decision = p3_stop_estimate(steps[:count], reward[:count], loss[:count], lam=scenario.lam,
                                        n_boot=n_boot, seed=draw, **settings)
            if decision["stop"]:
                stops[draw] = steps[count - 1]
                break
    return stops


def summarize(scenario: Scenario, stops: np.ndarray) -> dict:
    """Stop rate, error quantiles (steps) and median relative regret of the net gain."""
    best = scenario.true_argmax()
    stopped = stops[np.isfinite(stops)]
    error = stopped - best
    best_gain = float(scenario.net_gain(best))
    regret = (best_gain - scenario.net_gain(stopped)) / best_gain
    quantiles = np.percentile(error, [10, 50, 90]) if error.size else [math.nan] * 3
    return {"scenario": scenario.name, "true_argmax": best, "spacing": scenario.spacing, "draws": stops.size,
            "stopped": stopped.size / stops.size, "error_p10": quantiles[0], "error_median": quantiles[1],
            "error_p90": quantiles[2], "median_abs_error": float(np.median(np.abs(error))) if error.size else math.nan,
            "median_relative_regret": float(np.median(regret)) if regret.size else math.nan}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--n-boot", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"{'scenario':12} {'argmax':>7} {'stopped':>8} {'p10':>6} {'median':>7} {'p90':>6} {'|err| med':>9} {'regret med':>10}")
    for scenario in SCENARIOS:
        result = summarize(scenario, stop_steps(scenario, draws=args.draws, seed=args.seed, n_boot=args.n_boot, progress=True))
        print(f"{result['scenario']:12} {result['true_argmax']:7.1f} {result['stopped']:8.0%} {result['error_p10']:6.1f} "
              f"{result['error_median']:7.1f} {result['error_p90']:6.1f} {result['median_abs_error']:9.1f} "
              f"{result['median_relative_regret']:10.2%}")


if __name__ == "__main__":
    main()

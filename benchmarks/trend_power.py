"""Power and false-positive rate of the bridge's trend verdicts (A1, P3's reward rise, P4's loss trend, X1).

A stage of N points follows a flat previous stage of N points (as SFT after RL, or RL after
SFT); its curve starts at the previous stage's level and changes by EFFECT noise s.d. by its
last point, in one of four shapes (t = 1..N the stage's own points):

* ``fast``: 1 - exp(-t / 2), settled within the first few steps (the issue's SFT after RL);
* ``slow``: 1 - exp(-t / (N/2));
* ``linear``: t / N;
* ``step``: 0 up to t = N/2, then 1.

Noise is stationary Gaussian, white or AR(1) with rho = 0.5, marginal s.d. 1, continuous
across the two stages. Each cell runs :func:`nondecoupling.bridge.logs.stats.stage_trend` (the
decision the checks make, start window included) on DRAWS simulated stages and prints the
share of decisive verdicts at effect 0 (the false-positive rate, either direction) and of
correct ones (``holds``, falling expected) otherwise. With ``--p3-p4`` it also runs the
whole ``run_checks`` on pure-noise SFT -> RL runs and counts decisive P3 and P4 verdicts.

    PYTHONPATH=$PWD/theory:$PWD python benchmarks/trend_power.py            # the table in docs/checking.md
    PYTHONPATH=$PWD/theory:$PWD python benchmarks/trend_power.py --draws 200 --lengths 8 30
    PYTHONPATH=$PWD/theory:$PWD python benchmarks/trend_power.py --p3-p4 --draws 300 --lengths 8 30 100
    PYTHONPATH=$PWD/theory:$PWD python benchmarks/trend_power.py --oracle   # what a test knowing the shape could reach
    PYTHONPATH=$PWD/theory:$PWD python benchmarks/trend_power.py --oracle --alpha 0.025   # ... deciding either direction
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy.signal import lfilter
from scipy.stats import nct, norm
from scipy.stats import t as t_dist
from tqdm.auto import tqdm

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPOSITORY), str(REPOSITORY / "theory")]

from nondecoupling.bridge.logs import stats  # noqa: E402

SHAPES = ("fast", "slow", "linear", "step")
EFFECTS = (0.0, 4.0, 8.0)
LENGTHS = (3, 8, 30, 100, 1000, 10_000)
NOISES = {"white": 0.0, "AR(1) 0.5": 0.5}
CHUNK = 200  # draws simulated at once (a 10^4-point stage: 200 x 2 x 10^4 floats, 32 MB)


def noise(rng, draws: int, n: int, rho: float) -> np.ndarray:
    """``draws`` stationary Gaussian AR(1) series of length n, marginal s.d. 1 (white for rho = 0)."""
    shocks = rng.standard_normal((draws, n))
    if rho == 0:
        return shocks
    shocks[:, 1:] *= math.sqrt(1.0 - rho**2)  # the first value already has the stationary variance
    return lfilter([1.0], [1.0, -rho], shocks, axis=1)


def shape(kind: str, n: int) -> np.ndarray:
    """The stage's own points t = 1..n of a change of size 1 at t = n."""
    t = np.arange(1, n + 1, dtype=float)
    curve = {"fast": lambda: 1 - np.exp(-t / 2), "slow": lambda: 1 - np.exp(-t / (n / 2)), "linear": lambda: t,
             "step": lambda: (t > n / 2).astype(float)}[kind]()
    return curve / curve[-1]


def stages(rng, draws: int, n: int, rho: float, kind: str, effect: float):
    """(previous, values) per draw: the previous stage before its last point; its last point and the stage."""
    series = noise(rng, draws, 2 * n, rho)
    series[:, n:] -= effect * shape(kind, n)  # falling: the expected sign of A1 in SFT after RL
    return series[:, : n - 1], series[:, n - 1 :]


def rate(n: int, rho: float, kind: str, effect: float, draws: int, *, seed: int = 0, null_rho: float | None = None) -> float:
    """Share of decisive verdicts (effect 0) or of ``holds`` (effect > 0) over ``draws`` stages."""
    rng = np.random.default_rng([seed, n, int(rho * 10), SHAPES.index(kind), int(effect)])
    kwargs = {} if null_rho is None else {"rho": null_rho}
    hits = 0
    for start in range(0, draws, CHUNK):
        previous, values = stages(rng, min(CHUNK, draws - start), n, rho, kind, effect)
        for before, stage in zip(previous, values):
            verdict = stats.stage_trend(stage, -1, previous=before, **kwargs)["verdict"]
            hits += verdict != "inconclusive" if effect == 0 else verdict == "holds"
    return hits / draws


def print_table(lengths, draws: int, *, null_rho: float | None = None, noises=NOISES) -> None:
    """The markdown table, a row as soon as it is measured: FPR, then power per shape and effect."""
    header = ["noise", "N", "FPR"] + [f"{kind} {effect:g}" for effect in EFFECTS[1:] for kind in SHAPES]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header), flush=True)
    cells = [(name, rho, n) for name, rho in noises.items() for n in lengths]
    for name, rho, n in tqdm(cells, desc="cells", disable=None):
        row = [name, str(n), f"{rate(n, rho, 'fast', 0.0, 2 * draws, null_rho=null_rho):.3f}"]
        row += [f"{rate(n, rho, kind, effect, draws, null_rho=null_rho):.3f}" for effect in EFFECTS[1:] for kind in SHAPES]
        print("| " + " | ".join(row) + " |", flush=True)


def prais_winsten(columns: np.ndarray, rho: float) -> np.ndarray:
    """Columns whitened for stationary AR(1) noise: x_0, then (x_t - rho x_{t-1}) / sqrt(1 - rho^2)."""
    whitened = columns.copy()
    whitened[1:] = (columns[1:] - rho * columns[:-1]) / math.sqrt(1.0 - rho**2)
    return whitened


def oracle_power(n: int, rho: float, kind: str, effect: float, *, alpha: float = 0.05) -> tuple[float, float]:
    """Power of the most powerful test that KNOWS the shape and rho: (sigma known, sigma unknown).

    The data of a cell (a flat previous stage of n points, the stage's n points) are
    y = mu 1 + delta x + AR(1) noise, x the shape (0 on the previous stage); mu is unknown.
    The GLS estimate of delta has variance sigma^2 / I, I = x'P x - (1'P x)^2 / 1'P 1 (P the
    AR(1) precision, by Prais-Winsten whitening), so the one-sided z-test at level alpha has
    power Phi(effect sqrt(I) - z_{1-alpha}) (Neyman-Pearson: no level-alpha test does better
    for this alternative); with sigma estimated from the GLS residuals (2n - 2 degrees of
    freedom) the t-test has the noncentral-t power. An upper bound for any shape-agnostic test.
    """
    x = np.r_[np.zeros(n), shape(kind, n)]
    ones, x = prais_winsten(np.column_stack([np.ones(2 * n), x]), rho).T
    information = x @ x - (ones @ x) ** 2 / (ones @ ones)
    shift, df = effect * math.sqrt(information), 2 * n - 2
    return float(norm.sf(norm.isf(alpha) - shift)), float(nct.sf(t_dist.isf(alpha, df), df, shift))


def print_oracle(lengths, alpha: float = 0.05) -> None:
    """The oracle's power per cell (:func:`oracle_power` at one-sided level ``alpha``), "sigma known / sigma unknown"."""
    header = ["noise", "N"] + [f"{kind} {effect:g}" for effect in EFFECTS[1:] for kind in SHAPES]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for name, rho in NOISES.items():
        for n in lengths:
            cells = [oracle_power(n, rho, kind, effect, alpha=alpha) for effect in EFFECTS[1:] for kind in SHAPES]
            print("| " + " | ".join([name, str(n)] + [f"{z:.3f} / {t:.3f}" for z, t in cells]) + " |")


def p3_p4_false_positives(n: int, rho: float, draws: int, *, seed: int = 0) -> dict:
    """Decisive P3 and P4 verdicts on pure-noise SFT -> RL runs (flat curves, noise s.d. 0.05 and 0.01)."""
    import pandas as pd

    from nondecoupling.bridge.logs.verdicts import run_checks

    rng = np.random.default_rng([seed, n, int(rho * 10)])
    counts = {"P3": 0, "P4": 0}
    for _ in tqdm(range(draws), desc=f"P3/P4 N={n}", leave=False, disable=None):
        loss, reward = 10 + 0.05 * noise(rng, 1, 2 * n, rho)[0], 0.5 + 0.01 * noise(rng, 1, 2 * n, rho)[0]
        run = pd.DataFrame({"phase": ["sft"] * n + ["rl"] * n, "stage": [0] * n + [1] * n, "step": np.arange(2 * n),
                            "sft_loss": loss, "reward": reward})
        checks, _ = run_checks(run, lam=0.05, n_boot=20, seed=int(rng.integers(2**31)))
        for check in checks:
            if check.id in counts and check.verdict in ("holds", "violated"):
                counts[check.id] += 1
    return {key: value / draws for key, value in counts.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=1000, help="simulated stages per power cell (twice that for the FPR)")
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--p3-p4", action="store_true", help="simulate P3's and P4's false-positive rates instead")
    parser.add_argument("--oracle", action="store_true", help="print the known-shape oracle's power instead (closed form)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="the oracle's one-sided level (0.025: alpha/2, what a test deciding either direction spends on one)")
    args = parser.parse_args(argv)
    if args.oracle:
        print_oracle(args.lengths, args.alpha)
        return 0
    if args.p3_p4:
        print("| noise | N | P3 decisive | P4 decisive |\n|---|---|---|---|")
        for name, rho in NOISES.items():
            for n in args.lengths:
                rates = p3_p4_false_positives(n, rho, args.draws)
                print(f"| {name} | {n} | {rates['P3']:.3f} | {rates['P4']:.3f} |", flush=True)
        return 0
    print(f"Null calibrated for AR(1) rho = {stats.MAX_AUTOCORRELATION} (the default), alpha = 0.05, "
          f"{args.draws} draws per power cell, {2 * args.draws} per FPR cell.\n", flush=True)
    print_table(args.lengths, args.draws)
    print("\nWhite noise, null calibrated for independent noise (rho = 0, `--autocorrelation 0`):\n")
    print_table(args.lengths, args.draws, null_rho=0.0, noises={"white": 0.0})
    return 0


if __name__ == "__main__":
    sys.exit(main())

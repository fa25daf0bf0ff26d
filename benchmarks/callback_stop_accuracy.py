"""How far the callback's live stop lands from the true optimum, on simulated noisy RL curves.

``nice python benchmarks/callback_stop_accuracy.py [--draws 40] [--quick] [--curves NAME ...] [--results FILE] [--table]``

Resumable: each finished cell is appended to ``--results`` (JSON lines, default
``benchmarks/results/callback_stop_accuracy.jsonl``) with the hash of the stop's source
(``stopping.py``), and a cell already there for the same source, draws and seed is not run
again; ``--table`` prints the table from that file alone. About 10 minutes for the 60 cells at
40 draws on one core (the t* = 200, every_steps = 1 cells are half of it).

Each draw is an RL stage started at the SFT optimum of two quadratics (THEORY.md's P1/P3
setting) with a known argmax t* of the net gain G(s) = [J(s) - J(0)] - lam [L(s) - L(0)],
evaluated on the callback's own schedule (:func:`~nondecoupling.bridge.logs.stopping.evaluation_steps`)
with Gaussian noise on the reward and the SFT loss, and driven one step at a time through the
callback's own rule (:class:`~nondecoupling.bridge.logs.stopping.LiveStop`) until it stops or the
run ends (horizon 4 t* + every_steps). Its prior is what an SFT stage gives: the noise levels
estimated from 10 noisy evaluations (:func:`~nondecoupling.bridge.logs.stopping.robust_noise`), the
reward's room to the ceiling 1 - J(0) = 0.7, and an SFT loss drop of 1.0 as the scale of A.

Grid: t* in {5, 10, 20, 50, 200} x every_steps in {1, 5, 10} x noise (low: reward s.d. 0.01,
loss 0.005; high: 0.03 and 0.015) x curves:

* ``isotropic``: one rate (Delta_0 = 0.5, A = 0.3), where the model is exact;
* ``misspecified``: two directions with RL rates in ratio 4 (the old benchmark's anisotropic
  case), rescaled in time so that the argmax is t*;
* ``costly``: one rate, but the SFT loss's rise dominates (Delta_0 = 0.3, A = 1.5): the best
  net gain is only 0.05, 1.7 s.d. of the high reward noise, as in issue 22's short task (best
  gain +0.046).

Per cell: the median regret (G(t*) - G(stop)) / G(t*), the share of draws that stopped no
later than 2 t* + every_steps, the median stop / t*, and the evaluations the rule added to
the fixed schedule (its refinement, :class:`~nondecoupling.bridge.logs.stopping.LiveStop`'s
``refine``) up to its stop, per draw. The targets (issue 22): median
regret <= 5% and on time in >= 90% of draws, in every cell.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nondecoupling.bridge.logs import stopping
from nondecoupling.bridge.logs.stopping import LiveStop, StagePrior, evaluation_steps, robust_noise

T_STARS = (5, 10, 20, 50, 200)
EVERY = (1, 5, 10)
NOISE = {"low": (0.01, 0.005), "high": (0.03, 0.015)}
J0, L0, SFT_DROP = 0.3, 2.0, 1.0
RESULTS = Path(__file__).resolve().parent / "results" / "callback_stop_accuracy.jsonl"
#: The stop rule's version: a result stands for the source of stopping.py it was measured with.
RULE = hashlib.sha256(Path(stopping.__file__).read_bytes()).hexdigest()[:12]


@dataclass(frozen=True)
class Curves:
    """An RL stage from the SFT optimum of two diagonal quadratics (one RL rate per direction)."""

    name: str
    rates: tuple[float, ...]
    rl_gap: tuple[float, ...]  # Delta_0's share of each direction
    sft_rise: tuple[float, ...]  # A's share of each direction
    lam: float = 1.0

    def clean(self, s):
        """Noise-free J(s) - J(0) and L(s) - L(0)."""
        s = np.asarray(s, float)[..., None]
        rates = np.asarray(self.rates)
        return ((np.asarray(self.rl_gap) * (1.0 - np.exp(-2.0 * rates * s))).sum(-1),
                (np.asarray(self.sft_rise) * (1.0 - np.exp(-rates * s)) ** 2).sum(-1))

    def gain(self, s):
        reward, loss = self.clean(s)
        return reward - self.lam * loss

    def argmax(self) -> float:
        """The argmax of G, by golden-section search on the unimodal G (a fine bracket first)."""
        grid = np.geomspace(1e-3, 1e6, 20_001) / max(self.rates)
        best = int(np.argmax(self.gain(grid)))
        low, high = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
        for _ in range(100):
            a, b = high - 0.618 * (high - low), low + 0.618 * (high - low)
            low, high = (low, b) if self.gain(a) > self.gain(b) else (a, high)
        return 0.5 * (low + high)

    def with_optimum(self, t_star: float) -> Curves:
        """The same curves on a time scale where the argmax of G is ``t_star``."""
        factor = self.argmax() / t_star
        return replace(self, rates=tuple(r * factor for r in self.rates))


SHAPES = (Curves("isotropic", rates=(0.02,), rl_gap=(0.5,), sft_rise=(0.3,)),
          Curves("misspecified", rates=(0.01, 0.04), rl_gap=(0.2, 0.3), sft_rise=(0.25, 0.1)),
          Curves("costly", rates=(0.02,), rl_gap=(0.3,), sft_rise=(1.5,)))


def stop_step(curves: Curves, t_star: float, every_steps: int, noise: tuple[float, float], rng, growth: float = 1.5,
              refine: float = 0.2, evaluate_stop: bool = False) -> tuple[int, int, int, int]:
    """One draw: the stage step at which the live rule stops (the horizon if it never does), its evaluations, its restore
    step, and the step whose weights the callback holds then (``restore_best``: the latest evaluation that was the
    restore step when it was made). With ``evaluate_stop``, a stop planned between evaluations is evaluated too
    before the restore step is named, as the callback does at a stage's last step."""
    horizon = int(4 * t_star + every_steps)
    reward_sd, loss_sd = noise
    sft_tail = rng.normal(0.0, 1.0, (2, 10)) * np.array([[reward_sd], [loss_sd]])  # the SFT stage's last evaluations
    prior = StagePrior(reward_noise=robust_noise(sft_tail[0]), loss_noise=robust_noise(sft_tail[1]),
                       reward_gap=1.0 - J0, loss_rise=SFT_DROP)
    rule = LiveStop(prior, every_steps=every_steps, horizon=horizon, lam=curves.lam, growth=growth, samples=200, refine=refine)

    def observe(step: int) -> dict:
        reward, loss = curves.clean(step)
        return rule.observe(step, J0 + reward + rng.normal(0.0, reward_sd), L0 + loss + rng.normal(0.0, loss_sd))

    step, evaluations, kept = 0, 0, 0
    while step is not None:  # the rule's schedule, which it may refine as it goes
        decision = observe(step)
        evaluations += 1
        kept = step if decision["restore_step"] == step else kept
        if rule.stop_step is not None:
            stop = rule.stop_step
            if evaluate_stop and stop > step:  # the callback evaluates its stage's last step
                decision = observe(stop)
                kept = stop if decision["restore_step"] == stop else kept
            return stop, evaluations, decision["restore_step"], kept
        step = rule.next_evaluation(step)
    return horizon, evaluations, decision["restore_step"], kept


def cell(shape: Curves, t_star: int, every_steps: int, noise_name: str, *, draws: int, seed: int = 0,
         growth: float = 1.5, refine: float = 0.2) -> dict:
    """The stop's regret and timeliness over ``draws`` noisy stages of one cell, and the evaluations it added."""
    curves = shape.with_optimum(t_star)
    rng = np.random.default_rng([seed, t_star, every_steps, len(noise_name), len(shape.name)])
    runs = np.array([stop_step(curves, t_star, every_steps, NOISE[noise_name], rng, growth, refine) for _ in range(draws)], float)
    stops, evaluations, restores, _ = runs.T
    fixed = np.asarray(evaluation_steps(every_steps, int(4 * t_star + every_steps), growth=growth))
    added = evaluations - np.array([np.count_nonzero(fixed <= stop) for stop in stops])  # beyond the fixed schedule's
    best = curves.gain(t_star)
    regret, restore_regret = ((best - curves.gain(steps)) / best for steps in (stops, restores))
    return {"curves": shape.name, "t_star": t_star, "every_steps": every_steps, "noise": noise_name, "draws": draws,
            "median_regret": float(np.median(regret)), "p90_regret": float(np.percentile(regret, 90)),
            "on_time": float(np.mean(stops <= 2 * t_star + every_steps)), "median_stop_ratio": float(np.median(stops) / t_star),
            "mean_added_evaluations": float(np.mean(added)), "median_restore_regret": float(np.median(restore_regret)),
            "p90_restore_regret": float(np.percentile(restore_regret, 90))}


def read_results(path: Path) -> list[dict]:
    """The cells already measured (one JSON object per line; a half-written last line is ignored)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _key(row: dict) -> tuple:
    return tuple(row[k] for k in ("rule", "curves", "noise", "t_star", "every_steps", "draws", "seed"))


def table(rows: list[dict]) -> str:
    """The markdown table of measured cells, and per set of curves the worst cell against the targets."""
    lines = ["| curves | noise | t* | every_steps | median regret | p90 regret | on time (<= 2t* + every) | median stop / t* "
             "| added evaluations | median restore regret | p90 restore regret |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        miss = row["median_regret"] > 0.05 or row["on_time"] < 0.9
        lines.append(f"| {row['curves']} | {row['noise']} | {row['t_star']} | {row['every_steps']} | {row['median_regret']:.1%} | "
                     f"{row['p90_regret']:.1%} | {row['on_time']:.0%} | {row['median_stop_ratio']:.2f} | "
                     f"{row['mean_added_evaluations']:.1f} | {row['median_restore_regret']:.1%} | "
                     f"{row['p90_restore_regret']:.1%} |" + (" **miss**" if miss else ""))
    for name in dict.fromkeys(row["curves"] for row in rows):
        own = [row for row in rows if row["curves"] == name]
        misses = sum(row["median_regret"] > 0.05 or row["on_time"] < 0.9 for row in own)
        lines.append(f"\n{name}: {len(own)} cells, {misses} miss; worst median regret {max(r['median_regret'] for r in own):.1%} "
                     f"(target <= 5%), worst on time {min(r['on_time'] for r in own):.0%} (target >= 90%), worst median "
                     f"restore regret {max(r['median_restore_regret'] for r in own):.1%}")
    return "\n".join(lines)


def rows_of(results: Path, rule: str, draws: int = 40, seed: int = 0) -> list[dict]:
    """The cells of ``rule`` in ``results``, in the grid's order (the last of duplicates)."""
    done = {_key(r): r for r in read_results(results)}
    keys = ((rule, shape.name, noise, t_star, every, draws, seed) for shape, noise, t_star, every
            in itertools.product(SHAPES, NOISE, T_STARS, EVERY))
    return [done[key] for key in keys if key in done]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="t* in {5, 50} only")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON-lines file of finished cells (resumed)")
    parser.add_argument("--table", action="store_true", help="print the table of --results for this rule and exit")
    parser.add_argument("--curves", nargs="+", choices=[shape.name for shape in SHAPES], default=[shape.name for shape in SHAPES],
                        help="measure these curves only (e.g. one process per curves, appending to one file)")
    args = parser.parse_args(argv)
    t_stars = (5, 50) if args.quick else T_STARS
    done = {_key(r): r for r in read_results(args.results)}
    rows = []
    shapes = [shape for shape in SHAPES if shape.name in args.curves]
    for shape, noise, t_star, every in itertools.product(shapes, NOISE, t_stars, EVERY):
        key = (RULE, shape.name, noise, t_star, every, args.draws, args.seed)
        if key not in done and not args.table:
            row = {"rule": RULE, "seed": args.seed, **cell(shape, t_star, every, noise, draws=args.draws, seed=args.seed)}
            args.results.parent.mkdir(parents=True, exist_ok=True)
            with args.results.open("a") as out:
                out.write(json.dumps(row) + "\n")
            done[key] = row
            print(table([row]).splitlines()[2], flush=True)
        if key in done:
            rows.append(done[key])
    print(f"rule {RULE}, {args.draws} draws per cell, seed {args.seed}:\n{table(rows)}")
    if any(not math.isfinite(r["median_regret"]) for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

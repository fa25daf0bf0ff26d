"""What one kept copy of the weights gives: the model a ``restore_best`` callback hands back, on simulated stages.

``nice python benchmarks/callback_restore_kept.py [--draws 8] [--out benchmarks/results/callback_restore_kept.json]``

The callback (``CouplingConfig(stop_at="optimal")``, ``restore_best`` on) keeps one CPU copy of
the weights: those of the latest evaluation that was the restore step when it was made. When the
stage ends it puts them back if the final restore step is that one, and leaves the model at the
stop otherwise (the restore step's estimate moved back to a step whose weights were replaced).
Each draw is one of :mod:`callback_stop_accuracy`'s simulated stages (its curves, noise levels,
prior and rule, :func:`callback_stop_accuracy.stop_step`), on its grid with t* in {5, 20, 50},
with the stop step evaluated too where it falls between evaluations (the callback evaluates the
stage's last step before it names the final restore step, so the stop is a candidate).
Per set of curves: how often the final restore step is the kept one, and the median and 90th
percentile of the regret (G(t*) - G(s)) / G(t*) of the stop, of the restore step (with a
checkpoint at every evaluation), and of the model the callback hands back. About two minutes
on one loaded core.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # callback_stop_accuracy, beside this file

from callback_stop_accuracy import EVERY, NOISE, RULE, SHAPES, stop_step  # noqa: E402

T_STARS = (5, 20, 50)


def regrets(shape, t_star: int, every_steps: int, noise: str, *, draws: int, seed: int) -> np.ndarray:
    """(draws, 4): the regret of the stop, of the restore step, of the handed-back model; 1 where kept = restore step."""
    curves = shape.with_optimum(t_star)
    rng = np.random.default_rng([seed, t_star, every_steps, len(noise), len(shape.name)])
    best, rows = curves.gain(t_star), []
    for _ in range(draws):
        stop, _, restore, kept = stop_step(curves, t_star, every_steps, NOISE[noise], rng, evaluate_stop=True)
        handed = kept if kept == restore else stop
        rows.append([*((best - curves.gain(s)) / best for s in (stop, restore, handed)), float(kept == restore)])
    return np.array(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "callback_restore_kept.json")
    args = parser.parse_args(argv)
    result = {"command": "python benchmarks/callback_restore_kept.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "rule": RULE, "draws_per_cell": args.draws, "t_stars": T_STARS, "curves": {}}
    for shape in SHAPES:
        runs = np.concatenate([regrets(shape, t, e, n, draws=args.draws, seed=args.seed)
                               for n, t, e in itertools.product(NOISE, T_STARS, EVERY)])
        summary = {"draws": len(runs), "kept_is_restore_step": float(runs[:, 3].mean())}
        for column, name in enumerate(("stop", "restore_step", "handed_back")):
            summary[name] = {"median_regret": float(np.median(runs[:, column])),
                             "p90_regret": float(np.percentile(runs[:, column], 90)),
                             "within_5_percent": float(np.mean(runs[:, column] <= 0.05))}
        result["curves"][shape.name] = summary
        print(shape.name, json.dumps(summary), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

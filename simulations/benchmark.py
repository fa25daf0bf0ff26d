"""Benchmark: the batched simulator against a per-instance ``solve_ivp`` loop, bound
evaluations per second, and the cost of ``import nondecoupling``.

Run ``python simulations/benchmark.py`` (``--help`` for sizes). Timings are printed, never
asserted. Both simulators use DOP853 with the same per-instance tolerances; their errors
against a tight-tolerance reference on a subsample are printed next to the speed ratio, so
the ratio is read at equal (or better) accuracy of the batched solve.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np
from scipy.integrate import solve_ivp

from simulations.dynamics import ATOL, RTOL, gradient_flow
from simulations.problems import Quadratic, SinePL, random_psd


def _timed(function, repeat: int = 1):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def per_instance_loop(grad_of_instance, theta0, times, *, rtol: float, atol: float) -> np.ndarray:
    """The baseline: one ``solve_ivp`` call per instance (what the batched solve replaces)."""
    out = np.empty((times.size,) + theta0.shape)
    for i in range(theta0.shape[0]):
        solution = solve_ivp(
            lambda _, y, i=i: -grad_of_instance(i, y), (0.0, times[-1]), theta0[i], method="DOP853", t_eval=times, rtol=rtol, atol=atol
        )
        out[:, i] = solution.y.T
    return out


def compare(label: str, objective, single, theta0, times, *, reference_size: int) -> float:
    """Time the batched simulator and the loop on the same instances; print errors and the ratio."""
    batched_time, batched = _timed(lambda: gradient_flow(objective, theta0, times))
    loop_time, looped = _timed(lambda: per_instance_loop(single, theta0, times, rtol=RTOL, atol=ATOL))
    subset = np.arange(min(reference_size, theta0.shape[0]))
    if hasattr(objective, "flow"):
        reference = batched[:, subset]  # exact closed form
    else:
        reference = per_instance_loop(single, theta0[subset], times, rtol=1e-13, atol=1e-15)
    batched_error = np.max(np.abs(batched[:, subset] - reference))
    loop_error = np.max(np.abs(looped[:, subset] - reference))
    ratio = loop_time / batched_time
    print(
        f"{label}: {theta0.shape[0]} instances, d = {theta0.shape[1]}, t in [0, {times[-1]:g}]\n"
        f"  batched {batched_time:8.3f} s (max error {batched_error:.1e})   "
        f"per-instance loop {loop_time:8.3f} s (max error {loop_error:.1e})   ratio {ratio:6.1f}x"
    )
    return ratio


def sine_case(rng, instances: int, dim: int):
    centers = rng.standard_normal((instances, dim))
    scales = rng.uniform(0.5, 2.0, instances)
    objective = SinePL(centers, scales)

    def single(i, y):
        return scales[i] * (2 * (y - centers[i]) + 3 * np.sin(2 * (y - centers[i])))

    return objective, single, centers + 2.0 * rng.standard_normal((instances, dim))


def quadratic_case(rng, instances: int, dim: int):
    matrices = random_psd(rng, dim, mu=0.2, beta=2.0, batch=instances)
    centers = rng.standard_normal((instances, dim))
    objective = Quadratic(matrices, centers)
    return objective, lambda i, y: matrices[i] @ (y - centers[i]), rng.standard_normal((instances, dim))


def bound_throughput(size: int) -> None:
    """Evaluations per second of each public bound on ``size`` random inputs."""
    import nondecoupling

    rng = np.random.default_rng(0)
    t = rng.uniform(0.0, 10.0, size)
    mu = rng.uniform(0.1, 1.0, size)
    beta = mu * rng.uniform(1.0, 10.0, size)
    gap = rng.uniform(0.0, 5.0, size)
    sep = rng.uniform(0.0, 3.0, size)
    rate_a, rate_b = rng.uniform(0.01, 0.99, size), rng.uniform(0.01, 0.99, size)
    budget = rng.uniform(0.0, 1.0, size)
    lam = rng.uniform(0.1, 10.0, size)
    pl = dict(sep=sep, mu_sft=mu, beta_sft=beta, mu_rl=mu, beta_rl=beta)
    cases = {
        "path_length_bound": lambda: nondecoupling.path_length_bound(t, gap0=gap, mu=mu, beta=beta),
        "sft_degradation_bounds": lambda: nondecoupling.sft_degradation_bounds(t, rl_gap0=gap, **pl),
        "reward_loss_bounds": lambda: nondecoupling.reward_loss_bounds(t, sft_gap0=gap, **pl),
        "guaranteed_net_gain": lambda: nondecoupling.guaranteed_net_gain(t, rl_gap0=gap, lam=lam, mu_rl=mu, beta_rl=beta, beta_sft=beta),
        "optimal_rl_duration": lambda: nondecoupling.optimal_rl_duration(lam=lam, mu_rl=mu, beta_rl=beta, beta_sft=beta),
        "nondecoupling_threshold": lambda: nondecoupling.nondecoupling_threshold(sft_min=gap, sep=sep, mu_sft=mu),
        "crossing_time": lambda: nondecoupling.crossing_time(sft_gap0=gap * 0.1, rl_gap0=gap, sep=sep, mu_sft=mu, mu_rl=mu),
        "gd_contraction": lambda: nondecoupling.gd_contraction(mu=mu, beta=beta, eta=1.0 / beta),
        "gd_contraction(sharp)": lambda: nondecoupling.gd_contraction(mu=mu, beta=beta, eta=1.0 / beta, sharp=True),
        "kl_bernoulli": lambda: nondecoupling.kl_bernoulli(rate_a, rate_b),
        "kl_inverse_upper": lambda: nondecoupling.kl_inverse_upper(rate_a, budget),
        "kl_inverse_lower": lambda: nondecoupling.kl_inverse_lower(rate_a, budget),
        "kantorovich_bound": lambda: nondecoupling.kantorovich_bound(mu, beta),
    }
    print(f"bound evaluations per second on {size:.0e} inputs:")
    for name, call in cases.items():
        try:
            seconds, _ = _timed(call, repeat=3)
        except (ImportError, AttributeError) as missing:  # a theory module not written yet
            print(f"  {name:26s} unavailable ({missing})")
            continue
        print(f"  {name:26s} {size / seconds:12.3e} /s")


def import_time(repeats: int = 5) -> None:
    """Wall time of ``import nondecoupling`` in a fresh interpreter, alone and with every API name resolved."""
    code = (
        "import time; t = time.perf_counter(); import nondecoupling; a = time.perf_counter() - t; "
        "names = []\n"
        "for n in nondecoupling.__all__:\n"
        "    try: getattr(nondecoupling, n); names.append(n)\n"
        "    except (ImportError, AttributeError): pass\n"
        "print(a, time.perf_counter() - t, len(names), len(nondecoupling.__all__))"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split() for _ in range(repeats)]
    bare = min(float(r[0]) for r in runs)
    full = min(float(r[1]) for r in runs)
    print(f"import nondecoupling: {bare * 1e3:.1f} ms; with all {runs[0][2]}/{runs[0][3]} API functions loaded: {full * 1e3:.1f} ms (best of {repeats})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=1000, help="instances per simulator comparison")
    parser.add_argument("--dim", type=int, default=10, help="parameters per instance")
    parser.add_argument("--horizon", type=float, default=5.0, help="flow time")
    parser.add_argument("--reference-size", type=int, default=50, help="instances checked against the reference")
    parser.add_argument("--bound-inputs", type=int, default=1_000_000, help="inputs per bound evaluation")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    times = np.linspace(0.0, args.horizon, 11)
    objective, single, theta0 = sine_case(rng, args.instances, args.dim)
    compare("non-convex PL (sine) flows, batched solve_ivp vs loop", objective, single, theta0, times, reference_size=args.reference_size)
    objective, single, theta0 = quadratic_case(rng, args.instances, args.dim)
    compare("quadratic flows, exact eigendecomposition vs solve_ivp loop", objective, single, theta0, times, reference_size=args.reference_size)
    bound_throughput(args.bound_inputs)
    import_time()


if __name__ == "__main__":
    main()

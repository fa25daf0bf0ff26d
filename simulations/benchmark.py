"""Benchmark: the batched simulator against a per-instance ``solve_ivp`` loop over a grid of
instance counts N and dimensions d, BLAS threads in the batched solve, bound evaluations per
second, and the cost of ``import nondecoupling``.

Run ``python simulations/benchmark.py`` (``--quick`` for a small grid, ``--help`` for
sizes). Timings are printed, never asserted. The grids time CPU seconds of this process
(every solve runs on one thread), which a shared machine disturbs far less than wall
seconds; the thread comparison prints both.

- Sine (non-convex PL) flows: the batched DOP853 solve against the loop at the same nominal
  per-instance tolerances, and at equal accuracy (the loop at the tolerances the batched
  solve really applies per instance, ``tol / sqrt(N)``, see ``dynamics._integrate``); errors
  against a tight-tolerance reference on a subsample are printed beside each ratio. The
  loop's time is measured on ``--loop-sample`` instances and scaled to N (it is a loop).
- Quadratic flows: ``Quadratic(...)`` (which eigendecomposes) plus ``gradient_flow`` against
  the loop, and against the physical limit, one batched ``eigh`` plus two matrix products.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script (python simulations/benchmark.py), sys.path[0] is simulations/ itself: the
    # repo root must come first, as in sweep.py.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import numpy as np  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

from simulations import dynamics  # noqa: E402
from simulations.dynamics import ATOL, RTOL, gradient_flow  # noqa: E402
from simulations.problems import Quadratic, SinePL, random_psd  # noqa: E402

GRID = {"instances": (10, 100, 1000), "dims": (2, 10, 100)}
QUICK_GRID = {"instances": (10, 200), "dims": (2, 20)}


def _timed(function, repeat: int = 1):
    """Best wall seconds of ``repeat`` calls, the CPU seconds of that call, and its result."""
    best, cpu = np.inf, np.inf
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall = time.perf_counter() - start
        if wall < best:
            best, cpu = wall, time.process_time() - start_cpu
    return best, cpu, result


def per_instance_loop(grad_of_instance, theta0, times, *, rtol: float, atol: float) -> np.ndarray:
    """The baseline: one ``solve_ivp`` call per instance (what the batched solve replaces)."""
    out = np.empty((times.size,) + theta0.shape)
    for i in range(theta0.shape[0]):
        solution = solve_ivp(
            lambda _, y, i=i: -grad_of_instance(i, y), (0.0, times[-1]), theta0[i], method="DOP853", t_eval=times, rtol=rtol, atol=atol
        )
        out[:, i] = solution.y.T
    return out


def sine_case(rng, instances: int, dim: int):
    centers = rng.standard_normal((instances, dim))
    scales = rng.uniform(0.5, 2.0, instances)
    objective = SinePL(centers, scales)

    def single(i, y):
        return scales[i] * (2 * (y - centers[i]) + 3 * np.sin(2 * (y - centers[i])))

    return objective, single, centers + 2.0 * rng.standard_normal((instances, dim))


def sine_row(rng, instances: int, dim: int, times, *, loop_sample: int, reference_size: int) -> dict:
    """One grid point of the sine family: times, errors and ratios."""
    objective, single, theta0 = sine_case(rng, instances, dim)
    _, batched_wall, batched = _timed(lambda: gradient_flow(objective, theta0, times))
    sample = np.arange(min(loop_sample, instances))
    scale = instances / sample.size
    tight = 1.0 / np.sqrt(instances)
    _, loop_wall, looped = _timed(lambda: per_instance_loop(single, theta0[sample], times, rtol=RTOL, atol=ATOL))
    _, equal_wall, equal = _timed(lambda: per_instance_loop(single, theta0[sample], times, rtol=max(RTOL * tight, 3e-14), atol=ATOL * tight))
    check = sample[:reference_size]
    reference = per_instance_loop(single, theta0[check], times, rtol=3e-14, atol=1e-16)
    error = {name: float(np.max(np.abs(values[:, : check.size] - reference))) for name, values in
             (("batched", batched[:, check]), ("loop", looped), ("equal", equal))}
    return dict(N=instances, d=dim, batched=batched_wall, loop=loop_wall * scale, ratio=loop_wall * scale / batched_wall,
                equal_ratio=equal_wall * scale / batched_wall, err_batched=error["batched"], err_loop=error["loop"], err_equal=error["equal"])


def quadratic_row(rng, instances: int, dim: int, times, *, loop_sample: int) -> dict:
    """One grid point of the quadratic family: exact flow with and without its eigendecomposition."""
    matrices = random_psd(rng, dim, mu=0.2, beta=2.0, batch=instances)
    centers = rng.standard_normal((instances, dim))
    theta0 = rng.standard_normal((instances, dim))
    _, build_wall, objective = _timed(lambda: Quadratic(matrices, centers), repeat=3)
    _, flow_wall, exact = _timed(lambda: gradient_flow(objective, theta0, times), repeat=3)

    def physical_limit():
        values, vectors = np.linalg.eigh(matrices)
        coefficients = (vectors.swapaxes(-1, -2) @ (theta0 - centers)[..., None])[..., 0]
        return centers + (vectors @ (np.exp(-times[:, None, None] * values) * coefficients)[..., None])[..., 0]

    _, limit_wall, limit = _timed(physical_limit, repeat=3)
    sample = np.arange(min(loop_sample, instances))
    _, loop_wall, looped = _timed(lambda: per_instance_loop(lambda i, y: matrices[i] @ (y - centers[i]), theta0[sample], times, rtol=RTOL, atol=ATOL))
    loop = loop_wall * instances / sample.size
    with_eig = build_wall + flow_wall
    return dict(N=instances, d=dim, eig=build_wall, flow=flow_wall, limit=limit_wall, loop=loop,
                ratio_flow_only=loop / flow_wall, ratio=loop / with_eig, over_limit=with_eig / limit_wall,
                err_loop=float(np.max(np.abs(looped - exact[:, sample]))), err_limit=float(np.max(np.abs(limit - exact))))


def print_grids(grid: dict, times, *, loop_sample: int, reference_size: int) -> None:
    rng = np.random.default_rng(0)
    print(f"sine (non-convex PL) flows, t in [0, {times[-1]:g}], rtol {RTOL:g}, atol {ATOL:g}; CPU s; loop timed on {loop_sample} instances, scaled to N")
    print(f"  {'N':>5} {'d':>4} {'batched':>10} {'loop':>9} {'ratio':>7} {'equal-acc':>9}   max error: batched / loop / loop at equal tol")
    for instances in grid["instances"]:
        for dim in grid["dims"]:
            r = sine_row(rng, instances, dim, times, loop_sample=loop_sample, reference_size=reference_size)
            print(f"  {r['N']:5d} {r['d']:4d} {r['batched']:10.3f} {r['loop']:9.2f} {r['ratio']:6.1f}x {r['equal_ratio']:8.1f}x"
                  f"   {r['err_batched']:.1e} / {r['err_loop']:.1e} / {r['err_equal']:.1e}", flush=True)
    print("quadratic flows (CPU s): Quadratic() eigendecomposes, gradient_flow evolves exactly; physical limit = eigh + 2 matmuls")
    print(f"  {'N':>5} {'d':>4} {'eig':>8} {'flow':>8} {'limit':>8} {'loop':>8} {'vs loop':>8} {'flow only':>9} {'/limit':>7}   max error loop / limit")
    for instances in grid["instances"]:
        for dim in grid["dims"]:
            r = quadratic_row(rng, instances, dim, times, loop_sample=loop_sample)
            print(f"  {r['N']:5d} {r['d']:4d} {r['eig']:8.4f} {r['flow']:8.4f} {r['limit']:8.4f} {r['loop']:8.2f} {r['ratio']:7.1f}x {r['ratio_flow_only']:8.1f}x"
                  f" {r['over_limit']:6.2f}x   {r['err_loop']:.1e} / {r['err_limit']:.1e}", flush=True)


def thread_behaviour(instances: int, dim: int, times) -> dict:
    """The batched sine solve with BLAS threads as the machine sets them, and on one thread.

    Returns ``{"threads", "free_wall", "free_cpu", "one_wall", "one_cpu"}`` (seconds).
    """
    from threadpoolctl import threadpool_info

    objective, _, theta0 = sine_case(np.random.default_rng(1), instances, dim)
    threads = max((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=1)
    pinned = dynamics.single_threaded
    try:
        dynamics.single_threaded = contextlib.nullcontext  # the solve as it was before the pin
        free_wall, free_cpu, _ = _timed(lambda: gradient_flow(objective, theta0, times))
    finally:
        dynamics.single_threaded = pinned
    one_wall, one_cpu, _ = _timed(lambda: gradient_flow(objective, theta0, times))
    return dict(threads=threads, free_wall=free_wall, free_cpu=free_cpu, one_wall=one_wall, one_cpu=one_cpu)


def print_thread_behaviour(instances: int, dim: int, times) -> None:
    r = thread_behaviour(instances, dim, times)
    print(f"BLAS threads in the batched sine solve (N = {instances}, d = {dim}, {instances * dim:.0e} stacked states):\n"
          f"  {r['threads']} threads: {r['free_wall']:.2f} s wall, {r['free_cpu']:.2f} s CPU;  "
          f"1 thread (the default): {r['one_wall']:.2f} s wall, {r['one_cpu']:.2f} s CPU")


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
            seconds, _, _ = _timed(call, repeat=3)
        except (ImportError, AttributeError) as missing:  # a theory module not written yet
            print(f"  {name:26s} unavailable ({missing})")
            continue
        print(f"  {name:26s} {size / seconds:12.3e} /s")


def import_time(repeats: int = 5) -> dict:
    """Wall seconds of ``import nondecoupling`` in a fresh interpreter, alone and with every API name resolved.

    Returns ``{"bare", "full", "loaded", "names"}``: the best of ``repeats`` runs of each, and how
    many of the ``__all__`` names resolved.
    """
    code = (
        "import time; t = time.perf_counter(); import nondecoupling; a = time.perf_counter() - t; "
        "names = []\n"
        "for n in nondecoupling.__all__:\n"
        "    try: getattr(nondecoupling, n); names.append(n)\n"
        "    except (ImportError, AttributeError): pass\n"
        "print(a, time.perf_counter() - t, len(names), len(nondecoupling.__all__))"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split() for _ in range(repeats)]
    return dict(bare=min(float(r[0]) for r in runs), full=min(float(r[1]) for r in runs), loaded=int(runs[0][2]), names=int(runs[0][3]))


def print_import_time(repeats: int = 5) -> None:
    r = import_time(repeats)
    print(f"import nondecoupling: {r['bare'] * 1e3:.1f} ms; with all {r['loaded']}/{r['names']} API functions loaded: "
          f"{r['full'] * 1e3:.1f} ms (best of {repeats})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"small grid {QUICK_GRID} (default {GRID})")
    parser.add_argument("--horizon", type=float, default=5.0, help="flow time")
    parser.add_argument("--loop-sample", type=int, default=50, help="instances the per-instance loop is timed on")
    parser.add_argument("--reference-size", type=int, default=10, help="instances checked against the reference")
    parser.add_argument("--bound-inputs", type=int, default=1_000_000, help="inputs per bound evaluation")
    args = parser.parse_args(argv)
    times = np.linspace(0.0, args.horizon, 11)
    print_grids(QUICK_GRID if args.quick else GRID, times, loop_sample=args.loop_sample, reference_size=args.reference_size)
    print_thread_behaviour(*((200, 100) if args.quick else (1000, 100)), times)
    bound_throughput(args.bound_inputs // (10 if args.quick else 1))
    print_import_time()


if __name__ == "__main__":
    main()

"""Accuracy of kl_bernoulli, the kl_inverse_* bands and every scalar fast path, on both paths, against mpmath.

Run from the repository root::

    python benchmarks/accuracy.py                # 10^5 kl draws, 2 x 10^4 inverse draws, 10^3 per other function
    python benchmarks/accuracy.py --kl 1000000 --others 10000
    NPY_DISABLE_CPU_FEATURES="X86_V3" python benchmarks/accuracy.py   # numpy's baseline (SSE) kernels

Each draw goes through the scalar fast path (Python floats, ``math``) and the array path (numpy),
each compared with the one mpmath reference of ``tests/theory/fuzz_api.py`` (60+ digits). kl is
also run on a simulated libm whose log and log1p are off by exactly +-4 ulps at random
(:func:`libm_off_by`), the bound numpy documents for its AVX-512 (SVML) kernels, which this
machine may not have. Printed, per function and path: the largest error in units of
eps = 2**-52 relative to the value (kl) or to the value plus the magnitude of the terms that
cancel (the other functions, ``scale`` in fuzz_api), and for the kl inverses the number of
answers whose TRUE kl exceeds the budget (the band's side is the contract: must be 0) and the
largest relative gap between the budget and the true kl of the next float outward.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
import types
from pathlib import Path

import mpmath as mp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root, for tests.theory.fuzz_api

import nondecoupling  # noqa: E402
from nondecoupling import kl as kl_module  # noqa: E402
from nondecoupling._generated import k1  # noqa: E402
from tests.theory import fuzz_api  # noqa: E402

EPS = 2.0**-52
SUBNORMAL = 2.0**-1074
INVERSES = ("kl_inverse_upper", "kl_inverse_lower", "kl_inverse_first_upper", "kl_inverse_first_lower")


# ----------------------------------------------------------------------------- a libm off by k ulps
@contextlib.contextmanager
def libm_off_by(ulps: int, rng: np.random.Generator):
    """K1's generated kl, on both paths, with log and log1p results moved by +-``ulps`` ulps at random.

    Patches the names the generated module calls (numpy's ``log``/``log1p``, ``math.log``/``math.log1p``);
    exact zeros and infinities stay exact (every libm returns log(1) = 0).
    """
    def off(function):
        def moved(x):
            y = np.asarray(function(x), dtype=float)
            step = rng.choice([-ulps, ulps], size=y.shape) * np.spacing(np.abs(y))
            y = np.where(np.isfinite(y) & (y != 0), y + step, y)
            return float(y) if y.ndim == 0 and not isinstance(x, np.ndarray) else y
        return moved

    scalar_math = types.SimpleNamespace(**{name: getattr(math, name) for name in dir(math) if not name.startswith("_")})
    scalar_math.log, scalar_math.log1p = off(math.log), off(math.log1p)
    saved = k1.log, k1.log1p, k1.math
    k1.log, k1.log1p, k1.math = off(np.log), off(np.log1p), scalar_math
    try:
        yield
    finally:
        k1.log, k1.log1p, k1.math = saved


# ----------------------------------------------------------------------------- draws
def draw_rate_pair(rng: np.random.Generator) -> tuple[float, float]:
    """(a, b): uniform, near 0 or 1 (down to 1e-300 and subnormals), b a few ulps to a factor 10 from a,
    and b just inside or outside the series' edge (p/q = 3 or 1/3 in either term)."""
    def rate():
        kind = rng.integers(4)
        if kind == 0:
            return float(rng.random())
        tiny = float(10.0 ** rng.uniform(-300, -1)) if rng.random() < 0.95 else float(rng.integers(1, 100)) * SUBNORMAL
        return tiny if kind == 1 else (1 - tiny if kind == 2 else float(rng.choice([0.0, 1.0, 0.5, 1 - 2**-53])))

    a = rate()
    kind = rng.integers(5)
    if kind == 0:
        return a, rate()
    if kind == 1:  # a few ulps away
        return a, float(np.clip(a + int(rng.integers(-8, 9)) * np.spacing(a), 0, 1))
    if kind == 2:  # relative offsets 1e-16 .. 10, in either term
        factor = 1 + float(rng.choice([-1, 1])) * float(10.0 ** rng.uniform(-16, 1))
        factor = max(factor, 0.0)
        return (a, min(a * factor, 1.0)) if rng.random() < 0.5 else (a, max(1 - (1 - a) * factor, 0.0))
    edge = float(rng.choice([3.0, 1 / 3])) * (1 + float(rng.uniform(-1e-3, 1e-3)))  # the series' edge, |v| = 1/2
    return (a, min(a * edge, 1.0)) if rng.random() < 0.5 else (a, max(1 - (1 - a) * edge, 0.0))


def draw_budget(rng: np.random.Generator) -> float:
    kind = rng.integers(4)
    if kind == 0:
        return float(10.0 ** rng.uniform(-300, 3))
    if kind == 1:
        return float(10.0 ** rng.uniform(-12, 1))
    if kind == 2:
        return float(rng.choice([0.0, math.inf, 5e-324, 1e-320, 1e-300, 700.0]))
    return float(10.0 ** rng.uniform(-320, -300))


# ----------------------------------------------------------------------------- errors
def reference_kl(a: float, b: float):
    """fuzz_api's kl at the fuzzer's precision for these rates (the one reference)."""
    return fuzz_api.reference("kl_bernoulli", {"a": a, "b": b})[0][0]


def kl_error(got: float, exact) -> tuple[float, float]:
    """(relative error in eps where the value is a normal float, absolute error in subnormal units below)."""
    if mp.isinf(exact) or math.isinf(got):
        return (0.0, 0.0) if (mp.isinf(exact) and got == math.inf) else (math.inf, math.inf)
    error = abs(mp.mpf(got) - exact)
    if exact >= fuzz_api.TINY:
        return float(error / exact) / EPS, 0.0
    return 0.0, float(error) / SUBNORMAL


def kl_paths(a: float, b: float) -> dict:
    fast = nondecoupling.kl_bernoulli(a, b)
    with np.errstate(all="ignore"):
        array = float(nondecoupling.kl_bernoulli(np.array([a]), np.array([b]))[0])
    return {"fast": float(fast), "array": array}


def measure_kl(draws: int, rng: np.random.Generator, simulated_ulps: int = 4) -> dict:
    """Largest (relative eps, absolute subnormal units) per path, on numpy/math and on a simulated libm."""
    worst = {}
    for _ in range(draws):
        a, b = draw_rate_pair(rng)
        exact = reference_kl(a, b)
        results = kl_paths(a, b)
        with libm_off_by(simulated_ulps, rng):
            results.update({f"{path} (libm +-{simulated_ulps} ulp)": value for path, value in kl_paths(a, b).items()})
        for path, value in results.items():
            relative, absolute = kl_error(value, exact)
            old = worst.get(path, (0.0, 0.0, None))
            worst[path] = (max(old[0], relative), max(old[1], absolute),
                           (a, b) if relative > old[0] else old[2])
    return worst


def inverse_certificate(name: str, fixed: float, budget: float, got: float) -> tuple[bool, float]:
    """(TRUE kl of ``got`` within the budget, relative gap budget - TRUE kl of the next float outward in eps)."""
    first, upward = "first" in name, name.endswith("upper")
    digits = 60 + max(0, -int(math.log10(abs(got - fixed) + 1e-320)))
    with mp.workdps(digits):
        divergence = (lambda x: fuzz_api.kl(x, fixed)) if first else (lambda x: fuzz_api.kl(fixed, x))
        inside = divergence(got) <= budget
        outward = math.nextafter(got, 2.0 if upward else -1.0)
        if budget == 0 or math.isinf(budget) or not 0 <= outward <= 1 or budget < 1e-300:
            return inside, 0.0
        return inside, float(max(0, (budget - divergence(outward)) / budget)) / EPS


def measure_inverses(draws: int, rng: np.random.Generator, simulated_ulps: int = 4) -> dict:
    """Per function and path: (answers outside the band by the TRUE kl, largest outward gap in eps, draws)."""
    worst = {}
    for k in range(draws):
        name = INVERSES[k % len(INVERSES)]
        function = getattr(nondecoupling, name)
        fixed, budget = float(draw_rate_pair(rng)[0]), draw_budget(rng)
        answers = {"fast": function(fixed, budget), "array": float(function(np.array([fixed]), np.array([budget]))[0])}
        with libm_off_by(simulated_ulps, rng):
            answers[f"fast (libm +-{simulated_ulps} ulp)"] = float(function(fixed, budget))
            answers[f"array (libm +-{simulated_ulps} ulp)"] = float(function(np.array([fixed]), np.array([budget]))[0])
        for path, got in answers.items():
            inside, gap = inverse_certificate(name, fixed, budget, float(got))
            outside, largest, count, example = worst.get((name, path), (0, 0.0, 0, None))
            worst[(name, path)] = (outside + (not inside), max(largest, gap), count + 1,
                                   (fixed, budget) if not inside and example is None else example)
    return worst


def relative_to_scale(got, expected, scale) -> float:
    """|got - expected| in eps of |expected| + scale, after the absolute 2.2e-308 that underflow may cost
    (fuzz_api.close's error model without its 1e-12 relative slack); past the float range, inf is exact."""
    if abs(expected) > fuzz_api.FLOAT_MAX and math.isinf(got) and (got > 0) == (expected > 0):
        return 0.0
    if not math.isfinite(got):
        return math.inf
    excess = max(0, abs(mp.mpf(got) - expected) - fuzz_api.TINY)
    size = abs(expected) + mp.mpf(scale)
    return 0.0 if excess == 0 else (float(excess / size) / EPS if size else math.inf)


def both_paths_error(name: str, plain: dict, as_arrays) -> dict | None:
    """Per path, the largest error over the outputs (eps of value + scale), judged as the fuzzer judges:
    P5 functions also against the reference at the rounded products mu eta, beta eta (their documented
    semantics), the smaller error counting; None for invalid draws and P5's documented limit (mu eta
    underflows)."""
    try:
        references = [fuzz_api.reference(name, plain)]
    except fuzz_api.Invalid:
        return None
    if name in fuzz_api._STEP_FUNCTIONS:
        mu_name, _ = fuzz_api._STEP_FUNCTIONS[name]
        if plain[mu_name] * plain["eta"] < np.finfo(float).tiny:
            return None
        with contextlib.suppress(fuzz_api.Invalid, ZeroDivisionError):
            references.append(fuzz_api._rounded_step_reference(name, plain))
    function = getattr(nondecoupling, name)
    errors = {}
    for path, kwargs in (("fast", plain), ("array", as_arrays(plain))):
        got = function(**kwargs)
        got = [float(np.asarray(g)) for g in (got if isinstance(got, tuple) else (got,))]
        if name == "optimal_rl_steps":  # an integer within [floor K* - 1, floor K* + 2] (fuzz_api._steps_ok)
            k = int(got[0]) if math.isfinite(got[0]) else got[0]
            errors[path] = 0.0 if any(fuzz_api._steps_ok(k, ref[0][0]) for ref in references if ref) else math.inf
            continue
        errors[path] = min(max(relative_to_scale(g, v, s) for g, v, s in zip(got, values, scales))
                           for values, scales, _ in filter(None, references))
    return errors


def measure_fast_path_functions(draws: int, rng: np.random.Generator) -> dict:
    from tests.theory.test_fast_path import FAST_PATH, _as_arrays

    worst = {}
    for name in FAST_PATH:
        for _ in range(draws):
            plain = fuzz_api.draw_valid(name, rng)
            with np.errstate(all="ignore"):
                errors = both_paths_error(name, plain, _as_arrays)
            for path, error in (errors or {}).items():
                old = worst.get((name, path), (0.0, None))
                if error > old[0]:
                    worst[(name, path)] = (error, plain)
                else:
                    worst.setdefault((name, path), old)
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kl", type=int, default=100_000, help="kl_bernoulli draws (default 10^5)")
    parser.add_argument("--inverses", type=int, default=20_000, help="kl_inverse_* draws, all four (default 2 x 10^4)")
    parser.add_argument("--others", type=int, default=1000, help="draws per other fast-path function (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    from numpy._core._multiarray_umath import __cpu_features__

    print(f"numpy {np.__version__}, CPU features in use: "
          f"{' '.join(k for k, v in __cpu_features__.items() if v and k.startswith(('AVX', 'X86', 'FMA')))}")
    print(f"kl's asserted bound: {kl_module.KL_RELATIVE_ERROR / EPS:.0f} eps relative, "
          f"{kl_module.KL_ABSOLUTE_ERROR / SUBNORMAL:.0f} x 2**-1074 absolute")
    start = time.perf_counter()
    print(f"\nkl_bernoulli, {args.kl} draws: largest error (eps relative; subnormal units below 2.2e-308)")
    for path, (relative, absolute, example) in measure_kl(args.kl, rng).items():
        print(f"  {path:24s} {relative:8.2f} eps  {absolute:6.2f} x 2**-1074   worst at (a, b) = {example}")
    print(f"\nkl_inverse_*, {args.inverses} draws: answers outside the band by the TRUE kl, largest gap of the next float")
    for (name, path), (outside, gap, count, example) in measure_inverses(args.inverses, rng).items():
        print(f"  {name:24s} {path:24s} outside {outside}/{count}  outward gap {gap:8.2f} eps"
              + (f"  e.g. {example}" if example else ""))
    print(f"\nscalar fast path and array path, {args.others} draws each: largest error, eps of |value| + cancelling terms")
    for (name, path), (error, example) in measure_fast_path_functions(args.others, rng).items():
        print(f"  {name:34s} {path:6s} {error:10.2f} eps" + (f"   worst at {example}" if error > 64 else ""))
    print(f"\n{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

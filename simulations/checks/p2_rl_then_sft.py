"""P2 (RL-then-SFT envelope), simulated.

Statement: from ``theta_0`` in ``S_R``, along the SFT flow,
``(mu_rl/2) max(0, sep - sqrt(2 eps_0/mu_sft) e^{-mu_sft t})^2 <= J* - J(theta_t) <= (beta_rl/2) ell_sft(t)^2``
(and the SFT loss falls by between ``eps_0 (1 - e^{-2 mu_sft t})`` and ``eps_0 (1 - e^{-2 beta_sft t})``).
Tight on isotropic quadratics. Derivation: ``theory/derivations/p2_rl_then_sft.py``.
"""

from __future__ import annotations

import numpy as np

from simulations.checks._common import PL_FAMILIES, point_in, random_pair, worst
from simulations.checks.p1_sft_then_rl import EnvelopeCurves, progress_bounds
from simulations.dynamics import evaluate, flow_and_path_length
from simulations.problems import CoupledProblem, isotropic_pair
from theory import path_length_bound, reward_loss_bounds


def envelope(problem: CoupledProblem, theta0, times) -> EnvelopeCurves:
    """Simulate the SFT flow from ``theta0`` (in ``S_R``); ``excess`` is the reward loss ``J* - J``."""
    times = np.asarray(times, dtype=np.float64)
    thetas, lengths = flow_and_path_length(problem.sft, theta0, times)
    run = evaluate(problem, times, thetas)
    column = times.reshape((-1,) + (1,) * (run.sft_excess.ndim - 1))
    sft_gap0 = run.sft_excess[0]
    lower, upper = reward_loss_bounds(column, sft_gap0=sft_gap0, **problem.constants)
    progress_lower, progress_upper = progress_bounds(column, gap0=sft_gap0, mu=problem.sft.mu, beta=problem.sft.beta)
    shape = run.rl_gap.shape
    return EnvelopeCurves(
        times=times,
        excess=run.rl_gap,
        lower=np.broadcast_to(lower, shape),
        upper=np.broadcast_to(upper, shape),
        path_length=lengths,
        path_bound=np.broadcast_to(path_length_bound(column, gap0=sft_gap0, mu=problem.sft.mu, beta=problem.sft.beta), shape),
        progress=sft_gap0 - run.sft_excess,
        progress_lower=np.broadcast_to(progress_lower, shape),
        progress_upper=np.broadcast_to(progress_upper, shape),
    )


def tight_instance(*, mu_sft=1.1, mu_rl=0.6, sep=1.2, dim=3):
    """Isotropic quadratics started at ``b``: every P2 bound holds with equality."""
    problem = isotropic_pair(mu_sft=mu_sft, mu_rl=mu_rl, sep=sep, dim=dim)
    return problem, problem.rl.center


def random_envelopes(family: str, seed: int, *, batch: int = 16, dim: int = 4, horizon: float = 8.0, points: int = 401):
    """P2 curves for a batch of random instances of ``family`` (starts random in ``S_R``)."""
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=dim, batch=batch)
    theta0 = point_in(problem.rl.minimizers, rng)
    return envelope(problem, theta0, np.linspace(0.0, horizon / np.min(problem.sft.mu), points))


def main() -> None:
    problem, theta0 = tight_instance()
    curves = envelope(problem, theta0, np.linspace(0.0, 5.0, 401))
    print("P2 tight instance (isotropic, mu_sft=1.1, mu_rl=0.6, sep=1.2): reward loss J* - J along SFT")
    print(f"{'t':>6} {'J*-J':>12} {'lower':>12} {'upper':>12}")
    for i in range(0, 401, 50):
        print(f"{curves.times[i]:6.2f} {curves.excess[i]:12.8f} {curves.lower[i]:12.8f} {curves.upper[i]:12.8f}")
    print("worst relative slack over random batches (negative = violation):")
    for family in PL_FAMILIES:
        print(f"  {family:15s}", {name: f"{worst(s):+.2e}" for name, s in random_envelopes(family, 0).slacks().items()})


if __name__ == "__main__":
    main()

"""P2 (RL-then-SFT envelope), simulated.

Statement: from ``theta_0`` in ``S_R``, along the SFT flow,
``(mu_rl/2) max(0, sep - sqrt(2 eps_0/mu_sft) e^{-mu_sft t})^2 <= J* - J(theta_t) <= (beta_rl/2) ell_sft(t)^2``
(and the SFT loss falls by between ``eps_0 (1 - e^{-2 mu_sft t})`` and ``eps_0 (1 - e^{-2 beta_sft t})``).
Tight on isotropic quadratics. Derivation: ``theory/nondecoupling/derivations/p2_rl_then_sft.py``.
"""

from __future__ import annotations

import numpy as np

from nondecoupling import reward_loss_bounds
from simulations.checks._common import PL_FAMILIES, worst
from simulations.checks.p1_sft_then_rl import EnvelopeCurves, _flow_envelope, _random_flow_envelopes
from simulations.problems import CoupledProblem, isotropic_pair


def envelope(problem: CoupledProblem, theta0, times) -> EnvelopeCurves:
    """Simulate the SFT flow from ``theta0`` (in ``S_R``); ``excess`` is the reward loss ``J* - J``."""
    return _flow_envelope(problem, theta0, times, flowed="sft", coupled_bounds=reward_loss_bounds)


def tight_instance(*, mu_sft=1.1, mu_rl=0.6, sep=1.2, dim=3):
    """Isotropic quadratics started at ``b``: every P2 bound holds with equality."""
    problem = isotropic_pair(mu_sft=mu_sft, mu_rl=mu_rl, sep=sep, dim=dim)
    return problem, problem.rl.center


def random_envelopes(family: str, seed: int, *, batch: int = 16, dim: int = 4, horizon: float = 8.0, points: int = 401):
    """P2 curves for a batch of random instances of ``family`` (starts random in ``S_R``)."""
    return _random_flow_envelopes(family, seed, flowed="sft", coupled_bounds=reward_loss_bounds,
                                  batch=batch, dim=dim, horizon=horizon, points=points)


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

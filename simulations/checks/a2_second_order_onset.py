"""A2 (second-order onset), checked against simulated RL flows at small times.

Statement: ``theta_0`` in ``S_L``, ``g = grad R(theta_0)``, ``H = hess L(theta_0)``:
``L(theta_t) - L* = (t^2/2) g^T H g + O(t^3)``: RL's first effect on SFT is quadratic in time.
Checked by fitting ``(L(theta_t) - L*) / t^2 = c_0 + c_1 t + c_2 t^2`` on small ``t`` and
comparing ``c_0`` with ``g^T H g / 2``.
Derivation: ``theory/nondecoupling/derivations/a2_second_order_onset.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulations.checks.a1_coupling_identity import family_instances
from simulations.dynamics import gradient_flow
from simulations.problems import CoupledProblem


@dataclass(frozen=True)
class Onset:
    """SFT excess along the RL flow from ``S_L`` at small ``times`` (``(T,)`` or ``(T, batch)``)."""

    times: np.ndarray
    sft_excess: np.ndarray
    predicted_coefficient: np.ndarray
    fitted_coefficient: np.ndarray

    def relative_error(self) -> np.ndarray:
        """``|c_0 - g^T H g / 2| / max(g^T H g / 2, 1e-12 + |c_0|)`` per instance."""
        scale = np.maximum(np.abs(self.predicted_coefficient), np.abs(self.fitted_coefficient)) + 1e-300
        return np.abs(self.fitted_coefficient - self.predicted_coefficient) / scale


def onset(problem: CoupledProblem, theta0, *, horizon: float = 2e-2, points: int = 9) -> Onset:
    """Simulate the RL flow from ``theta0`` (in ``S_L``) on ``(0, horizon]`` and fit the onset.

    ``horizon`` is divided by the largest known smoothness constant (the O(t^3) term
    scales with it).
    """
    curvatures = [np.max(f.beta) for f in (problem.sft, problem.rl) if f.beta is not None]
    horizon = horizon / max([1.0, *curvatures])
    times = np.linspace(horizon / points, horizon, points)
    path = gradient_flow(problem.rl, theta0, np.r_[0.0, times])[1:]
    excess = problem.sft_excess(path)
    gradient = problem.rl.grad(theta0)
    predicted = 0.5 * np.einsum("...i,...ij,...j->...", gradient, problem.sft.hessian(theta0), gradient)
    design = np.vander(times, 3, increasing=True)
    ratio = (excess / times.reshape((-1,) + (1,) * (excess.ndim - 1)) ** 2).reshape(times.size, -1)
    fitted = np.linalg.lstsq(design, ratio, rcond=None)[0][0].reshape(excess.shape[1:])
    return Onset(times, excess, predicted, fitted)


def main() -> None:
    rng = np.random.default_rng(0)
    print("A2: fitted t^2 coefficient of L(theta_t) - L* vs g^T H g / 2 (largest relative error)")
    for family, (problem, _, theta_in_sft_set) in family_instances(rng).items():
        result = onset(problem, theta_in_sft_set)
        print(f"  {family:15s} {np.max(result.relative_error()):.1e}   e.g. {np.ravel(result.fitted_coefficient)[0]:.10f} vs {np.ravel(result.predicted_coefficient)[0]:.10f}")


if __name__ == "__main__":
    main()

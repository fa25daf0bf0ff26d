r"""X1: interleaving SFT and RL on quadratics: the Pareto front and the alternating cycle.

For :math:`L = \frac12(\theta-a)^\top A(\theta-a)` (SFT) and
:math:`R = \frac12(\theta-b)^\top B(\theta-b)` (RL), :math:`A, B \succeq 0`:

- joint training on :math:`F_w = wL + (1-w)R` ends on the Pareto front
  :math:`\theta(w) = (wA + (1-w)B)^{+}(wAa + (1-w)Bb)`;
- alternating SFT for :math:`w\tau` and RL for :math:`(1-w)\tau` (exact gradient flows) converges to a
  cycle whose corners are :math:`\theta(w) + O(\tau)`;
- sequential SFT-then-RL ends at :math:`b = \theta(0)` (for :math:`B \succ 0`), the front's
  worst-SFT corner.

The algebra is derived in :mod:`nondecoupling.derivations.x1_interleaving`; this module only
evaluates it in the Hessians' eigenbases (``expm1`` for :math:`I - e^{-tH}`) and linear solves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nondecoupling.constraints import SPECS
from nondecoupling.validation import ParameterError, as_float_array, check_positive, check_psd_matrix

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from nondecoupling._typing import FloatOrArray


def _check_quadratic(hessian, minimizer, hessian_name: str, minimizer_name: str):
    hessian = check_psd_matrix(hessian, hessian_name)
    minimizer = as_float_array(minimizer, minimizer_name)
    dim = hessian.shape[-1]
    try:
        if minimizer.shape[-1:] != (dim,):
            raise ValueError
        np.broadcast_shapes(minimizer.shape[:-1], hessian.shape[:-2])
    except ValueError:
        raise ParameterError(minimizer_name, f"a vector of length d = {dim} ({hessian_name} is d x d), batch axes broadcastable",
                             f"shape {minimizer.shape}") from None
    return hessian, minimizer


@dataclass(frozen=True, init=False)
class QuadraticPair:
    r"""An SFT loss and an RL loss, both quadratic (X1).

    This is the one place where X1's Pareto point and alternating cycle are computed; the
    experiments' X1 problem and check call it.

    Parameters
    ----------
    sft_hessian, sft_minimizer : array_like, shapes (..., d, d) and (..., d)
        :math:`A \succeq 0` (symmetric) and :math:`a` of :math:`L = \frac12(\theta-a)^\top A(\theta-a)`;
        leading axes, if any, are a batch of instances (:meth:`pareto_point` and
        :meth:`excess` broadcast over it; :meth:`alternating_cycle` takes one instance).
    rl_hessian, rl_minimizer : array_like, shapes (..., d, d) and (..., d)
        :math:`B \succeq 0` and :math:`b` of :math:`R = \frac12(\theta-b)^\top B(\theta-b)`.

    Raises
    ------
    ParameterError
        On NaN, mismatched shapes, or a Hessian that is not symmetric positive semidefinite.

    Examples
    --------
    >>> from nondecoupling import QuadraticPair
    >>> pair = QuadraticPair([[1.0, 0.0], [0.0, 1.0]], [1.0, 0.0], [[1.0, 0.0], [0.0, 4.0]], [0.0, 1.0])
    >>> pair.pareto_point(0.5).tolist()  # ((A + B)/2)^{-1} (A a + B b)/2 = (1/2, 4/5)
    [0.5, 0.8]
    >>> [round(float(x), 6) for x in pair.excess([0.5, 0.8])]  # (epsilon, Delta)
    [0.445, 0.205]
    """

    sft_hessian: np.ndarray
    sft_minimizer: np.ndarray
    rl_hessian: np.ndarray
    rl_minimizer: np.ndarray

    # An explicit __init__ (init=False above): the parameters are array_like, the fields arrays.
    def __init__(self, sft_hessian: ArrayLike, sft_minimizer: ArrayLike, rl_hessian: ArrayLike,
                 rl_minimizer: ArrayLike) -> None:
        sft = _check_quadratic(sft_hessian, sft_minimizer, "sft_hessian", "sft_minimizer")
        rl = _check_quadratic(rl_hessian, rl_minimizer, "rl_hessian", "rl_minimizer")
        if sft[1].shape[-1] != rl[1].shape[-1]:
            raise ParameterError("rl_minimizer", f"of the SFT dimension {sft[1].shape[-1]}", f"shape {rl[1].shape}")
        for name, value in zip(("sft_hessian", "sft_minimizer", "rl_hessian", "rl_minimizer"), sft + rl):
            object.__setattr__(self, name, value)

    def excess(self, theta: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
        r"""(SFT excess :math:`\varepsilon = L(\theta) - L^*`, RL gap :math:`\Delta = R(\theta) - R^*`).

        Parameters
        ----------
        theta : array_like, shape (..., d)
            The point(s) at which both are evaluated; the results have shape (...).
        """
        theta = as_float_array(theta, "theta")
        return (_half_quadratic_form(theta - self.sft_minimizer, self.sft_hessian),
                _half_quadratic_form(theta - self.rl_minimizer, self.rl_hessian))

    def pareto_point(self, w: ArrayLike) -> np.ndarray:
        r"""Joint training's endpoint :math:`\theta(w) = (wA + (1-w)B)^{+}(wAa + (1-w)Bb)`.

        Parameters
        ----------
        w : float or array_like
            SFT weight in [0, 1]; broadcast against the pair's batch axes.

        Returns
        -------
        ndarray, shape (..., d)
            The minimizer of :math:`F_w` (of least norm where it is not unique).
        """
        (share,) = SPECS["QuadraticPair.pareto_point"].check(w)  # w, checked
        hessian = share[..., None, None] * self.sft_hessian + (1 - share[..., None, None]) * self.rl_hessian
        # theta(w) = w H^+ A a + (1-w) H^+ B b, each term scaled so that nothing overflows (A, a ~ 1e300)
        # or sinks into subnormals (H ~ 1e-300, w A ~ 1e-400 beside a ~ 1e200): H, A, B, a and b are each
        # divided by their largest entry, and the product of the weight and those scales is applied last,
        # as mantissas and a power of two (frexp/ldexp), so that it rounds once at any spread of scales.
        size = _largest(hessian, axis=(-2, -1))
        inverse = np.linalg.pinv(hessian / size[..., None, None], hermitian=True)
        point = np.asarray(0.0)
        for weight, quadratic, minimizer in ((share, self.sft_hessian, self.sft_minimizer),
                                             (1 - share, self.rl_hessian, self.rl_minimizer)):
            curvature, length = _largest(quadratic, axis=(-2, -1)), _largest(minimizer, axis=-1)
            pulled = np.einsum("...ij,...jk,...k->...i", inverse, quadratic / curvature[..., None, None],
                               minimizer / length[..., None])
            factors = [np.frexp(np.asarray(x)[..., None]) for x in (weight, curvature, length, size)]
            mantissa = factors[0][0] * factors[1][0] * factors[2][0] / factors[3][0]
            exponent = factors[0][1] + factors[1][1] + factors[2][1] - factors[3][1]
            point = point + np.ldexp(pulled * mantissa, exponent)
        return point

    def alternating_cycle(self, tau: ArrayLike, w: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        r"""The cycle that alternating SFT (for :math:`w\tau`) and RL (for :math:`(1-w)\tau`) converges to.

        Parameters
        ----------
        tau : float or array_like
            Cycle length :math:`\tau > 0`.
        w : float or array_like
            SFT share in [0, 1] with :math:`wA + (1-w)B \succ 0` (else the cycle is not unique).

        Returns
        -------
        after_sft, after_rl : ndarray, shape (..., d)
            The cycle's corners: the fixed point :math:`\theta_c` of
            :math:`\theta \mapsto b + e^{-(1-w)\tau B}(a + e^{-w\tau A}(\theta - a) - b)` and its image
            after the SFT phase, :math:`a + e^{-w\tau A}(\theta_c - a)`. Both are
            :math:`\theta(w) + O(\tau)`.
        """
        if self.sft_hessian.ndim + self.rl_hessian.ndim + self.sft_minimizer.ndim + self.rl_minimizer.ndim != 6:
            raise ParameterError("sft_hessian", "one instance (no batch axes) for alternating_cycle",
                                 f"shapes {self.sft_hessian.shape}, {self.rl_hessian.shape}")
        tau, w = np.broadcast_arrays(*SPECS["QuadraticPair.alternating_cycle"].check(tau, w))
        hessian = w[..., None, None] * self.sft_hessian + (1 - w[..., None, None]) * self.rl_hessian
        check_positive(np.linalg.eigvalsh(hessian).min(axis=-1), "smallest eigenvalue of w*A + (1-w)*B")
        sft_decay, sft_moved = _flow_matrices(self.sft_hessian, w * tau)
        rl_decay, rl_moved = _flow_matrices(self.rl_hessian, (1 - w) * tau)
        # With u = theta_c - b the fixed-point equation reads
        # (I - E_R E_S) u = E_R (I - E_S)(a - b), I - E_R E_S = (I - E_R) + E_R (I - E_S):
        # every factor is formed without cancellation, so small tau costs no accuracy.
        a, b = self.sft_minimizer, self.rl_minimizer
        system = rl_moved + rl_decay @ sft_moved
        right = np.einsum("...ij,j->...i", rl_decay @ sft_moved, a - b)
        after_rl = b + np.linalg.solve(system, right[..., None])[..., 0]
        return a + np.einsum("...ij,...j->...i", sft_decay, after_rl - a), after_rl


def _largest(array, axis):
    """The largest absolute entry over ``axis`` (1 where all are 0), a scale to divide by."""
    largest = np.abs(array).max(axis=axis)
    return np.where(largest > 0, largest, 1.0)


def _half_quadratic_form(offset, hessian):
    r""":math:`\frac12 x^\top H x`, with :math:`x` scaled to at most 1 first: the plain sum overflows to
    inf - inf = NaN where the value is large, and underflows to 0 where H and x are tiny but the value is not."""
    size = _largest(offset, axis=-1)
    unit = offset / size[..., None]
    with np.errstate(over="ignore"):  # beyond the float range the value is inf, rightly
        return 0.5 * np.einsum("...i,...ij,...j->...", unit, hessian, unit) * size * size


def _flow_matrices(hessian, duration):
    r""":math:`e^{-tH}` and :math:`I - e^{-tH}` for symmetric :math:`H`, via its eigenbasis.

    The second is :math:`V \operatorname{diag}(-\mathrm{expm1}(-t\lambda)) V^\top`, accurate for small
    :math:`t`, where ``I - expm(-t H)`` would cancel.
    """
    eigenvalues, basis = np.linalg.eigh(hessian)
    exponent = -np.asarray(duration)[..., None] * eigenvalues
    decay = (basis * np.exp(exponent)[..., None, :]) @ basis.T
    moved = (basis * -np.expm1(exponent)[..., None, :]) @ basis.T
    return decay, moved

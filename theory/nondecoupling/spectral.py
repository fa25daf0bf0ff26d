"""S1: spectral concentration of the RL gradient at an SFT optimum.

Numbers come from :mod:`nondecoupling._generated.s1`, printed from the sympy derivation
:mod:`nondecoupling.derivations.s1_spectral_concentration` (statement, proof and references there).

Conventions shared by the functions here: ``eigs`` is the spectrum of H (the Hessian of the
SFT loss at theta_0 in S_L), shape ``(..., d)``, nonnegative, in any order (it is sorted
internally, so lam_1 >= ... >= lam_d are the sorted values and lam_{d+1} = 0); ``k`` is an
integer 1 <= k <= d; ``rho`` in [0, 1] is rho_k, the fraction of ||g||^2 (g = grad R(theta_0))
that lies in the span of the eigenvectors of the k largest eigenvalues. ``rho`` and ``k``
broadcast against ``eigs[..., 0]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nondecoupling._generated import s1
from nondecoupling.constraints import SPECS
from nondecoupling.validation import (
    INF,
    ParameterError,
    check_broadcastable,
    check_interval,
    check_nonnegative,
    check_rate,
    check_step_count,
    plain_scalars,
    scalar_or_array,
    scalar_or_none,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from nondecoupling._typing import FloatOrArray


def _spectrum_at(eigs, rho, k):
    """(lam_1, lam_k, lam_{k+1}, rho_k) from validated inputs, broadcast together."""
    # Descending, with lam_{d+1} = 0 appended so that k = d needs no special case; + 0.0 makes
    # every zero +0.0 (the sort may order tied -0.0 and 0.0 either way).
    padded = np.concatenate([-np.sort(-eigs, axis=-1), np.zeros(eigs.shape[:-1] + (1,))], axis=-1) + 0.0
    shape = np.broadcast_shapes(padded.shape[:-1], rho.shape, k.shape)
    padded = np.broadcast_to(padded, shape + padded.shape[-1:])
    index = np.broadcast_to(k, shape)[..., None]
    top = padded[..., 0]
    at_k = np.take_along_axis(padded, index - 1, axis=-1)[..., 0]
    after_k = np.take_along_axis(padded, index, axis=-1)[..., 0]
    return top, at_k, after_k, np.broadcast_to(rho, shape)


def _validated(eigs, rho, k):
    """Check (eigs, rho, k) as the module docstring says; k is checked against d before any cast."""
    eigs = np.atleast_1d(check_nonnegative(eigs, "eigs"))
    if eigs.shape[-1] == 0:
        raise ParameterError("eigs", "at least one eigenvalue (shape (..., d) with d >= 1)", f"shape {eigs.shape}")
    rho = check_rate(rho, "rho")
    k = check_interval(check_step_count(k, "k"), "k", low=1, high=eigs.shape[-1]).astype(np.int64)
    check_broadcastable(eigs=eigs[..., 0], rho=rho, k=k)
    return eigs, rho, k


#: The sequence types of ``eigs`` the scalar fast path takes (a list such as ``[4.0, 1.0]``).
_PLAIN_SEQUENCES = frozenset((list, tuple))


def _plain_spectrum(eigs, rho, k):
    """(lam_1, lam_k, lam_{k+1}, rho) as Python floats where :func:`_validated` would accept the input
    unchanged and the scalar fast path applies, else None.

    That is: ``eigs`` a list or tuple of Python floats or ints (not bool), d >= 1, each finite and
    >= 0; ``rho`` a Python number in [0, 1]; ``k`` a Python int (not bool) with 1 <= k <= d.
    Everything else takes the array path, which raises the same ParameterErrors.
    """
    if not (type(eigs) in _PLAIN_SEQUENCES and type(k) is int and 1 <= k <= len(eigs) and plain_scalars(rho, *eigs)
            and 0 <= rho <= 1 and all(0 <= eig < INF for eig in eigs)):
        return None
    ordered = sorted(map(float, eigs), reverse=True)
    ordered.append(0.0)
    return ordered[0] + 0.0, ordered[k - 1] + 0.0, ordered[k] + 0.0, float(rho)  # signless zeros, as _spectrum_at


def curvature_bracket(eigs: ArrayLike, rho: ArrayLike, k: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    r"""Bracket on the SFT curvature along the RL gradient (S1 (a)).

    lam_k rho_k <= g^T H g / ||g||^2 <= lam_1 rho_k + lam_{k+1} (1 - rho_k). With A2,
    L(theta_t) - L* = (t^2/2) ||g||^2 (g^T H g/||g||^2) + O(t^3) along the RL flow.

    Parameters
    ----------
    eigs : array_like, shape (..., d)
        Eigenvalues of H, nonnegative, any order (see the module docstring).
    rho : float or array_like
        rho_k in [0, 1].
    k : int or array_like of int
        1 <= k <= d.

    Returns
    -------
    (lower, upper) : tuple of float or ndarray
        The two sides of the bracket, broadcast over the batch shape.

    Raises
    ------
    ParameterError
        If eigs has a negative entry, rho is outside [0, 1], k is not an integer in
        [1, d], or any input is NaN.

    Notes
    -----
    Attained: g = u_k gives the left side, g = u_1 the right side.

    Examples
    --------
    >>> from nondecoupling import curvature_bracket
    >>> curvature_bracket([4.0, 1.0], 0.5, 1)
    (2.0, 2.5)
    """
    spectrum = _plain_spectrum(eigs, rho, k)
    if spectrum is not None:
        value = scalar_or_none(_curvature_bracket_scalar, *spectrum)
        if value is not None:
            return value
    top, at_k, after_k, rho = _spectrum_at(*_validated(eigs, rho, k))
    return (scalar_or_array(s1.curvature_lower(at_k, rho)),
            scalar_or_array(s1.curvature_upper(top, after_k, rho)))


def misalignment_bound(eigs: ArrayLike, rho: ArrayLike, k: ArrayLike) -> FloatOrArray:
    r"""Lower bound on how directly the next SFT step undoes an RL step (S1 (b)).

    After theta_1 = theta_0 - eta g, SFT's descent direction is eta H g + O(eta^2) and
    m = g^T H g / (||H g|| ||g||) (minus the cosine between the SFT and RL descent
    directions) obeys m >= lam_k rho_k / sqrt(lam_1^2 rho_k + lam_{k+1}^2 (1 - rho_k)).

    Parameters
    ----------
    eigs : array_like, shape (..., d)
        Eigenvalues of H, nonnegative, any order.
    rho : float or array_like
        rho_k in [0, 1].
    k : int or array_like of int
        1 <= k <= d.

    Returns
    -------
    float or ndarray
        The bound, in [0, 1]; 0 (the trivial bound) where the right side is 0/0.

    Raises
    ------
    ParameterError
        As :func:`curvature_bracket`.

    Notes
    -----
    Attained with k = 1 by g = u_1 (m = 1).

    Examples
    --------
    >>> from nondecoupling import misalignment_bound
    >>> round(misalignment_bound([4.0, 1.0], 0.5, 1), 12)
    0.68599434057
    >>> misalignment_bound([1e155, 1e155], 0.5, 1)  # scale-free
    0.5
    """
    spectrum = _plain_spectrum(eigs, rho, k)
    if spectrum is not None:
        value = scalar_or_none(_misalignment_scalar, *spectrum)
        if value is not None:
            return value
    top, at_k, after_k, rho = _spectrum_at(*_validated(eigs, rho, k))
    # The bound is homogeneous of degree 0 in the eigenvalues: dividing by lam_1 keeps the
    # squares from overflowing or underflowing (scale-free, as it must be). The 0/0 branch
    # (lam_1 = 0) is computed and discarded by numpy's select; silence its warning.
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = np.where(top > 0, top, 1.0)
        bound = s1.misalignment_lower(top / unit, at_k / unit, after_k / unit, rho)
        return scalar_or_array(np.minimum(bound, 1.0))  # m <= 1 holds exactly; guard the last ulp


def _curvature_bracket_scalar(top, at_k, after_k, rho):
    return s1.curvature_lower_scalar(at_k, rho), s1.curvature_upper_scalar(top, after_k, rho)


def _misalignment_scalar(top, at_k, after_k, rho):
    """:func:`misalignment_bound` on one spectrum, divided by lam_1 likewise (scale-free)."""
    unit = top if top > 0 else 1.0
    return min(s1.misalignment_lower_scalar(top / unit, at_k / unit, after_k / unit, rho), 1.0)


def kantorovich_bound(m_lo: ArrayLike, m_hi: ArrayLike) -> FloatOrArray:
    r"""Kantorovich bound on m when g lies in eigen-directions with eigenvalues in a band (S1 (c)).

    m >= 2 sqrt(m_lo m_hi) / (m_lo + m_hi); equal to 1 iff m_lo = m_hi.

    Parameters
    ----------
    m_lo, m_hi : float or array_like
        The band's end points, both > 0. The bound is symmetric in them, so their order
        does not matter.

    Returns
    -------
    float or ndarray
        The bound, in (0, 1].

    Raises
    ------
    ParameterError
        If m_lo or m_hi is <= 0, infinite or NaN.

    Notes
    -----
    Attained by g = sqrt(m_hi) u_lo + sqrt(m_lo) u_hi.

    Examples
    --------
    >>> from nondecoupling import kantorovich_bound
    >>> kantorovich_bound(1.0, 4.0)
    0.8
    """
    if plain := SPECS["kantorovich_bound"].accept(m_lo, m_hi):
        value = scalar_or_none(s1.kantorovich_scalar, *sorted(plain))
        if value is not None:
            return value
    m_lo, m_hi = SPECS["kantorovich_bound"].check(m_lo, m_hi)
    # The bound is symmetric; ordering the ends keeps sqrt(m_lo/m_hi) <= 1 (no overflow).
    return scalar_or_array(s1.kantorovich(np.minimum(m_lo, m_hi), np.maximum(m_lo, m_hi)))

"""Online P3: when to stop an RL stage, from its logged curves so far (no torch).

The live callback (:mod:`nondecoupling.bridge.callback`) calls :func:`p3_stop_estimate` at
each evaluation of an RL stage; it uses the bridge's own estimator and residual bootstrap
(:mod:`nondecoupling.bridge.stats`), the same as ``nondecoupling check``.
"""

from __future__ import annotations

import math

import numpy as np

from nondecoupling.bridge.stats import fit_rl_stage, predicted_optimal_steps, residual_bootstrap
from nondecoupling.validation import check_integer, check_interval, check_positive


def p3_stop_estimate(steps, reward, sft_loss, *, lam: float = 1.0, n_boot: int = 100, confidence: float = 0.9,
                     max_relative_width: float = 1.0, min_points: int = 6, seed: int = 0) -> dict:
    """P3's optimal RL duration estimated from an RL stage's curves so far, and whether to stop.

    The bridge's estimator (:func:`nondecoupling.bridge.stats.fit_rl_stage`) fits
    J(s) = J_inf - Delta_0 e^{-2 m s} and L(s) = tau + B_1 e^{-m s} + B_2 e^{-2 m s};
    :func:`~nondecoupling.bridge.stats.predicted_optimal_steps` maps the fit onto P3,
    t* = ln(1 + Delta_0 / (lam A)) / m with A = tau - L(0), the argmax of the net gain
    G(s) = [J(s) - J(0)] - lam [L(s) - L(0)] on the isotropic instance. The interval is a
    residual bootstrap (the same as the ``check`` command's).

    The estimate is *confident* when t* and both ends of its interval are finite and
    ``high - low <= max_relative_width * t*``; the decision is to stop when it is confident
    and the stage has reached it (``steps[-1] >= t*``).

    Parameters
    ----------
    steps : array_like
        Steps into the RL stage of each evaluation (0 = its start), increasing.
    reward, sft_loss : array_like
        The logged reward and sequence-level SFT loss at those steps.
    lam : float
        Weight of the SFT loss in the net gain (> 0).
    n_boot : int
        Bootstrap resamples.
    confidence : float
        Level of the interval, in (0, 1).
    max_relative_width : float
        Widest interval, relative to t*, that counts as confident.
    min_points : int
        Fewer evaluations give no estimate (the fit has four free parameters).
    seed : int
        Seeds the bootstrap.

    Returns
    -------
    dict
        ``optimal_steps`` (t*, steps into the stage; inf if the SFT loss does not rise, NaN if
        the reward does not), ``ci`` (low, high), ``confident``, ``stop``, ``reason``.

    Examples
    --------
    >>> import numpy as np
    >>> s = np.arange(0.0, 60.0, 5.0)
    >>> reward = 0.9 - 0.6 * np.exp(-0.04 * s)           # Delta_0 = 0.6, m = 0.02
    >>> loss = 3.0 + 0.5 * (1 - np.exp(-0.02 * s)) ** 2  # A = 0.5
    >>> estimate = p3_stop_estimate(s, reward, loss, lam=1.0, n_boot=20)
    >>> round(estimate["optimal_steps"], 1), round(float(np.log(1 + 0.6 / 0.5) / 0.02), 1)
    (39.4, 39.4)
    >>> estimate["stop"], estimate["reason"][:29]
    (True, 'estimate confident and passed')
    """
    lam = float(check_positive(lam, "lam"))
    n_boot = int(check_integer(n_boot, "n_boot", low=1))
    confidence = float(check_interval(confidence, "confidence", low=0.0, high=1.0, low_open=True, high_open=True))
    max_relative_width = float(check_positive(max_relative_width, "max_relative_width", allow_inf=True))
    min_points = int(check_integer(min_points, "min_points", low=5))
    s, reward, loss = (np.asarray(v, float) for v in (steps, reward, sft_loss))
    nothing = {"optimal_steps": float("nan"), "ci": (float("nan"), float("nan")), "confident": False, "stop": False}
    if s.size < min_points:
        return {**nothing, "reason": f"{s.size} of the {min_points} evaluations the fit needs"}
    fit = fit_rl_stage(s, reward, s, loss)
    t_star = predicted_optimal_steps(fit, lam)
    if math.isnan(t_star):
        return {**nothing, "reason": "the reward has not risen (Delta_0 <= 0): P3 does not apply yet"}
    if math.isinf(t_star):
        return {**nothing, "optimal_steps": t_star, "reason": "the SFT loss is not rising: no finite optimum yet"}
    boot = residual_bootstrap(lambda r, ell: predicted_optimal_steps(fit_rl_stage(s, r, s, ell), lam),
                              (fit["reward_fitted"], fit["loss_fitted"]),
                              (reward - fit["reward_fitted"], loss - fit["loss_fitted"]),
                              n_boot=n_boot, rng=np.random.default_rng(seed), desc="P3 bootstrap")
    boot = np.asarray(boot, float)
    boot = np.where(np.isnan(boot), np.inf, boot)  # a resample where P3 does not apply decides nothing
    tail = 50.0 * (1.0 - confidence)
    low, high = (float(v) for v in np.percentile(boot, [tail, 100.0 - tail], method="inverted_cdf"))
    confident = bool(math.isfinite(low) and math.isfinite(high) and high - low <= max_relative_width * t_star)
    passed = bool(s[-1] >= t_star)
    if confident and passed:
        reason = (f"estimate confident and passed: {s[-1]:g} steps into the stage >= t* = {t_star:.3g}, "
                  f"interval [{low:.3g}, {high:.3g}]")
    elif confident:
        reason = f"estimate confident, not yet reached: {s[-1]:g} steps into the stage < t* = {t_star:.3g}"
    else:
        reason = f"interval [{low:.3g}, {high:.3g}] wider than {max_relative_width:g} t* = {max_relative_width * t_star:.3g}"
    return {"optimal_steps": t_star, "ci": (low, high), "confident": confident, "stop": confident and passed, "reason": reason}

"""Check a logged run (see :mod:`nondecoupling.bridge.logs`) against the theory. No torch.

Every check is a :class:`Check`: a theorem ID, the stage it is about, what was observed,
what the theory predicts, and a verdict: ``holds``, ``violated``, ``inconclusive`` (the
noise does not decide) or ``estimate`` (a constant inferred from the run, with its
interval, that other checks use).

A1 (signs). During an RL stage the held-out SFT loss trends up; during an SFT stage that
follows RL the reward trends down. Two statistics test the sign, each with a 95%
interval: the Theil-Sen slope (``scipy.stats.theilslopes``, with Kendall's tau test),
which sees a steady trend, and the net change (mean of the stage's last fifth minus its
first fifth, interval from the robust noise s.d.), which sees a change that happens
within a few steps and then plateaus, where the slope's median over all pairs of points
is dominated by the flat tail. The verdict holds when one interval lies on the predicted
side of zero and none on the other, is violated in the mirror case, and is inconclusive
otherwise.

Rates. In the tight instance of P1/P3 (isotropic quadratics L = (mu_sft/2)|theta - a|^2,
R = (mu_rl/2)|theta - b|^2, RL started at theta_0), RL's reward and SFT loss are, with
s the steps since the RL stage began and m = mu_rl per step,

    J(s) = J_inf - Delta_0 e^{-2 m s},
    L(s) = tau + B_1 e^{-m s} + B_2 e^{-2 m s},    tau = L* + (mu_sft/2) sep^2,

and from the SFT optimum (B_1 = -2A, B_2 = A) L(s) = L_0 + A (1 - e^{-m s})^2 with
A = (mu_sft/mu_rl) Delta_0. The reward-gap rate k = 2m is fitted to the reward, then
(tau, B_1, B_2) to the SFT loss by least squares. In an SFT stage the SFT excess decays
as eps(s) = eps_0 e^{-k s} with k = 2 mu_sft in the same instance. For non-isotropic
losses P1 only brackets the rates (k between 2 mu and 2 beta), so the constants below
are ESTIMATES of effective constants, not bounds; their intervals are from a residual
bootstrap.

P3. Mapping the fit onto the RL flow's constants, mu_rl = beta_rl = m and
beta_sft = m A / Delta_0 (so c = lam beta_sft beta_rl / mu_rl^2 = lam A / Delta_0, as in the
isotropic instance), ``nondecoupling.optimal_rl_duration`` gives the optimal RL duration
t* = ln(1 + Delta_0/(lam A)) / m in steps. It is compared with the argmax of the observed
net gain G(s) = [J(s) - J(0)] - lam [L(s) - L(0)].

P4. The fitted plateau tau of the SFT loss under RL estimates the non-decoupling
threshold (tight on isotropic quadratics: L(theta_inf) = tau). RL can lower the SFT loss
only from above it; the check compares the side of tau the RL stage started on with the
observed A1 trend.

K1/K3. With the expert pass rate a (and the expert entropy H(p*)), at every logged
point CE - H(p*) >= kl(a || b). K1 reads it in RL stages (a floor on the SFT loss), K3
in SFT stages (the reward confined to [kl_inverse_lower(a, eps), kl_inverse_upper(a, eps)]).
Without H(p*) the RL stage's first SFT loss stands in for it, which assumes RL started
from the SFT optimum (pi_0 = p*).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

import nondecoupling
from nondecoupling.validation import check_integer, check_interval, check_nonnegative, check_positive, check_rate

HOLDS, VIOLATED, INCONCLUSIVE, ESTIMATE = "holds", "violated", "inconclusive", "estimate"
MIN_POINTS = 5  # three fitted parameters per curve need a few points more to leave residuals
NOISE_SIGMAS = 3.0  # a pointwise bound counts as violated beyond this many noise s.d.


@dataclass
class Check:
    """One check of the run against a theorem.

    Attributes
    ----------
    id : str
        Theorem ID (A1, P3, P4, K1, K3) or ``rates``.
    name : str
        What is checked, in words.
    stage : int or None
        The stage (segment of the run) it is about; None for the whole run.
    verdict : str
        ``holds``, ``violated``, ``inconclusive`` or ``estimate``.
    observed, predicted : dict
        Numbers (JSON-ready: floats, None for NaN, "inf").
    note : str
        Why the verdict, or what the estimate assumes.
    """

    id: str
    name: str
    stage: int | None
    verdict: str
    observed: dict = field(default_factory=dict)
    predicted: dict = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    return value


# ---------------------------------------------------------------- statistics


def trend(steps, values, *, confidence: float = 0.95) -> dict:
    """Theil-Sen slope with its confidence interval, and Kendall's tau trend test.

    Parameters
    ----------
    steps, values : array_like
        The curve (at least three points).
    confidence : float
        Confidence level of the slope interval.

    Returns
    -------
    dict
        ``slope``, ``ci`` (low, high), ``kendall_tau``, ``p_value``, ``n``.
    """
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    result = stats.theilslopes(values, steps, alpha=confidence)
    tau = stats.kendalltau(steps, values)
    return {
        "slope": result.slope,
        "ci": (result.low_slope, result.high_slope),
        "kendall_tau": tau.statistic,
        "p_value": tau.pvalue,
        "n": int(steps.size),
    }


def sign_verdict(ci, expected_sign: int) -> str:
    """``holds`` if the interval lies on the expected side of 0, ``violated`` if on the other."""
    low, high = expected_sign * np.asarray(ci, float)
    low, high = min(low, high), max(low, high)
    if low > 0:
        return HOLDS
    if high < 0:
        return VIOLATED
    return INCONCLUSIVE


def net_change(values, *, confidence: float = 0.95) -> dict:
    """Mean of the last fifth of a stage minus the mean of its first fifth, with an interval.

    The interval is normal, from :func:`noise_sd` (robust to the trend itself).

    Parameters
    ----------
    values : array_like
        The curve in step order (at least three points).
    confidence : float
        Confidence level of the interval.

    Returns
    -------
    dict
        ``change``, ``ci`` (low, high), ``window`` (points averaged at each end).
    """
    values = np.asarray(values, float)
    window = max(1, values.size // 5)
    change = float(values[-window:].mean() - values[:window].mean())
    half = stats.norm.ppf(0.5 + confidence / 2) * noise_sd(values) * math.sqrt(2.0 / window)
    return {"change": change, "ci": (change - half, change + half), "window": window}


def combined_verdict(*verdicts: str) -> str:
    """``holds`` if some statistic decides for the prediction and none against it; mirror for ``violated``."""
    if HOLDS in verdicts and VIOLATED not in verdicts:
        return HOLDS
    if VIOLATED in verdicts and HOLDS not in verdicts:
        return VIOLATED
    return INCONCLUSIVE


def noise_sd(values) -> float:
    """Robust noise s.d. of a smooth curve: MAD of first differences / sqrt(2).

    Differencing removes the slowly varying trend; the MAD ignores the rest of it.
    """
    diffs = np.diff(np.asarray(values, float))
    if diffs.size < 2:
        return float("nan")
    return float(stats.median_abs_deviation(diffs, scale="normal") / math.sqrt(2.0))


def fit_exponential(s, y) -> dict:
    """Least-squares fit of y = limit + amplitude * exp(-rate * s), rate > 0.

    For a fixed rate the model is linear in (limit, amplitude), so the rate minimizes the
    profiled residual sum of squares (variable projection), searched in log-space over
    rates between 0.01 and 100 per span of ``s``; no starting guess is needed.

    Returns
    -------
    dict
        ``limit``, ``amplitude``, ``rate``, ``rate_at_bound`` (the optimum sits on the
        search bound: the curve is effectively linear or a step), ``fitted``.
    """
    s, y = np.asarray(s, float), np.asarray(y, float)
    span = max(float(s.max() - s.min()), 1.0)

    def solve(log_rate):
        design = np.column_stack([np.ones_like(s), np.exp(-math.exp(log_rate) * s)])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        return coef, design @ coef

    def rss(log_rate):
        return float(np.sum((y - solve(log_rate)[1]) ** 2))

    bounds = (math.log(0.01 / span), math.log(100.0 / span))
    best = optimize.minimize_scalar(rss, bounds=bounds, method="bounded", options={"xatol": 1e-6})
    (limit, amplitude), fitted = solve(best.x)
    at_bound = min(abs(best.x - bounds[0]), abs(best.x - bounds[1])) < 1e-3
    return {"limit": limit, "amplitude": amplitude, "rate": math.exp(best.x), "rate_at_bound": at_bound, "fitted": fitted}


def fit_rl_stage(s_reward, reward, s_loss, sft_loss) -> dict:
    """Fit an RL stage with the isotropic-quadratic curves (module docstring).

    Returns
    -------
    dict
        ``reward_rate`` (k = 2 mu_rl), ``mu_rl``, ``reward_limit``, ``rl_gap0``
        (Delta_0 = J_inf - J_fit(0)), ``tau`` (plateau of the SFT loss), ``sft_start``
        (fitted L(0)), ``sft_rise`` (A = tau - L(0)), ``coef`` (tau, B_1, B_2) and the
        fitted curves ``reward_fitted``, ``loss_fitted``.
    """
    reward_fit = fit_exponential(s_reward, reward)
    mu_rl = reward_fit["rate"] / 2.0
    design = np.column_stack([np.ones_like(s_loss), np.exp(-mu_rl * s_loss), np.exp(-2.0 * mu_rl * s_loss)])
    coef, *_ = np.linalg.lstsq(design, sft_loss, rcond=None)
    sft_start = float(coef.sum())
    return {
        "reward_rate": reward_fit["rate"],
        "rate_at_bound": reward_fit["rate_at_bound"],
        "mu_rl": mu_rl,
        "reward_limit": reward_fit["limit"],
        "rl_gap0": -reward_fit["amplitude"],
        "tau": float(coef[0]),
        "sft_start": sft_start,
        "sft_rise": float(coef[0]) - sft_start,
        "coef": coef,
        "reward_fitted": reward_fit["fitted"],
        "loss_fitted": design @ coef,
    }


def predicted_optimal_steps(fit: dict, lam: float) -> float:
    """P3's t* (in steps) for a fitted RL stage; inf if RL does not raise the SFT loss.

    Maps the fit onto the RL flow's constants (mu_rl = beta_rl = m,
    beta_sft = m A / Delta_0) and calls :func:`nondecoupling.optimal_rl_duration`. NaN when the
    reward did not rise (Delta_0 <= 0: P3's setting does not apply).
    """
    if not fit["rl_gap0"] > 0:
        return float("nan")
    if not fit["sft_rise"] > 0:
        return float("inf")
    mu_rl = fit["mu_rl"]
    beta_sft = mu_rl * fit["sft_rise"] / fit["rl_gap0"]
    return float(nondecoupling.optimal_rl_duration(lam=lam, mu_rl=mu_rl, beta_rl=mu_rl, beta_sft=beta_sft))


def guaranteed_gain_curve(fit: dict, s, lam: float) -> np.ndarray | None:
    """P3's g(s) under the same mapping (None where P3 does not apply)."""
    if not (fit["rl_gap0"] > 0 and fit["sft_rise"] > 0):
        return None
    mu_rl = fit["mu_rl"]
    return np.asarray(
        nondecoupling.guaranteed_net_gain(
            np.asarray(s, float), rl_gap0=fit["rl_gap0"], lam=lam, mu_rl=mu_rl, beta_rl=mu_rl,
            beta_sft=mu_rl * fit["sft_rise"] / fit["rl_gap0"],
        )
    )


def _percentile_interval(samples, confidence: float):
    samples = np.asarray(samples, float)
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return (float("nan"), float("nan"))
    tail = 50.0 * (1.0 - confidence)
    # inf samples (t* where the bootstrap lost the SFT rise) sort last, as they should.
    low, high = np.percentile(samples, [tail, 100.0 - tail], method="inverted_cdf")
    return (float(low), float(high))


# ---------------------------------------------------------------- the checks


def _stage_tables(run: pd.DataFrame):
    for stage, frame in run.groupby("stage", sort=True):
        yield int(stage), frame.iloc[0]["phase"], frame


def check_a1(run: pd.DataFrame, *, confidence: float = 0.95) -> list[Check]:
    """A1's signs: SFT loss up during RL; reward down during SFT after RL."""
    checks, seen_rl = [], False
    for stage, phase, frame in _stage_tables(run):
        if phase == "rl":
            quantity, expected, what = "sft_loss", +1, "SFT loss rises during RL"
            seen_rl = True
        elif seen_rl:
            quantity, expected, what = "reward", -1, "reward falls during SFT after RL"
        else:
            continue
        data = frame.dropna(subset=[quantity])
        base = dict(id="A1", name=what, stage=stage)
        if len(data) < 3:
            checks.append(Check(**base, verdict=INCONCLUSIVE, observed={"n": len(data)}, note=f"fewer than 3 logged {quantity} values"))
            continue
        slope = trend(data["step"], data[quantity], confidence=confidence)
        change = net_change(data[quantity], confidence=confidence)
        verdict = combined_verdict(sign_verdict(slope["ci"], expected), sign_verdict(change["ci"], expected))
        checks.append(Check(
            **base, verdict=verdict,
            observed={"quantity": quantity, **slope, "net_change": change["change"], "net_change_ci": change["ci"],
                      "first_step": int(data["step"].iloc[0]), "last_step": int(data["step"].iloc[-1])},
            predicted={"slope_sign": "+" if expected > 0 else "-"},
            note=(f"Theil-Sen slope per step and net change (last fifth minus first fifth), each with its "
                  f"{confidence:.0%} interval; Kendall's tau p-value for any monotone trend"),
        ))
    return checks


def _rl_stage_checks(stage, frame, *, lam, n_boot, confidence, rng, fits, follows_sft: bool) -> list[Check]:
    both = frame.dropna(subset=["reward", "sft_loss"])
    start = frame["step"].iloc[0]
    if len(both) < MIN_POINTS:
        note = f"fewer than {MIN_POINTS} points with both SFT loss and reward"
        return [Check("P3", "optimal RL duration", stage, INCONCLUSIVE, {"n": len(both)}, note=note),
                Check("P4", "non-decoupling threshold", stage, INCONCLUSIVE, {"n": len(both)}, note=note)]
    s = (both["step"] - start).to_numpy(float)
    reward, loss = both["reward"].to_numpy(float), both["sft_loss"].to_numpy(float)
    fit = fit_rl_stage(s, reward, s, loss)
    t_star = predicted_optimal_steps(fit, lam)

    reward_res, loss_res = reward - fit["reward_fitted"], loss - fit["loss_fitted"]
    boot = {"reward_rate": [], "tau": [], "sft_rise": [], "rl_gap0": [], "t_star": []}
    for _ in range(n_boot):
        r = fit["reward_fitted"] + rng.choice(reward_res, size=reward_res.size)
        resampled_loss = fit["loss_fitted"] + rng.choice(loss_res, size=loss_res.size)
        refit = fit_rl_stage(s, r, s, resampled_loss)
        for key in ("reward_rate", "tau", "sft_rise", "rl_gap0"):
            boot[key].append(refit[key])
        boot["t_star"].append(predicted_optimal_steps(refit, lam))
    ci = {key: _percentile_interval(values, confidence) for key, values in boot.items()}
    fits[stage] = {"phase": "rl", "start_step": int(start), "s": s, "lam": lam, "t_star": t_star, **fit}

    rates = Check(
        "rates", "RL stage: reward-gap rate and SFT-loss plateau", stage, ESTIMATE,
        observed={
            "reward_gap_rate_per_step": fit["reward_rate"], "reward_gap_rate_ci": ci["reward_rate"],
            "mu_rl_per_step": fit["mu_rl"], "rl_gap0": fit["rl_gap0"], "rl_gap0_ci": ci["rl_gap0"],
            "sft_rise": fit["sft_rise"], "sft_rise_ci": ci["sft_rise"], "rate_at_search_bound": fit["rate_at_bound"],
        },
        note="J = J_inf - Delta_0 exp(-2 mu_rl s); L = tau + B1 exp(-mu_rl s) + B2 exp(-2 mu_rl s) "
        "(isotropic-quadratic instance of P1); effective constants, residual-bootstrap intervals",
    )

    gain = (reward - reward[0]) - lam * (loss - loss[0])
    observed_step = s[int(np.argmax(gain))]
    span = float(s[-1])
    pred_lo, pred_hi = (min(max(v, 0.0), span) for v in ci["t_star"])
    spacing = float(np.median(np.diff(s))) if s.size > 1 else 0.0
    # The net gain the run had at the logged point nearest the predicted stop, short of its best.
    at_prediction = int(np.argmin(np.abs(s - min(t_star, span)))) if not math.isnan(t_star) else None
    regret = float(gain.max() - gain[at_prediction]) if at_prediction is not None else float("nan")
    gain_noise = math.hypot(noise_sd(reward), lam * noise_sd(loss))
    tolerance = NOISE_SIGMAS * math.sqrt(2.0) * gain_noise
    if math.isnan(t_star) or any(math.isnan(v) for v in ci["t_star"]):
        verdict, why = INCONCLUSIVE, "the reward did not rise (Delta_0 <= 0): P3's setting does not apply"
    elif regret <= tolerance:
        verdict, why = HOLDS, "stopping at the predicted step gives the observed best net gain up to noise"
    elif pred_lo - spacing <= observed_step <= pred_hi + spacing:
        verdict, why = INCONCLUSIVE, "the predicted stop loses net gain, but its interval reaches the observed argmax"
    else:
        verdict, why = VIOLATED, "stopping at the predicted step loses net gain beyond noise, and its interval misses the observed argmax"
    if not follows_sft:
        # P3 is stated from an SFT optimum; the log alone cannot show that this start is one.
        why += ("; premise not established: this RL stage does not follow an SFT stage, and P3 assumes RL starts "
                "at an SFT optimum (theta_0 in S_L), so a violation here may be the premise's, not the bound's")
    p3 = Check(
        "P3", f"optimal RL duration (lam = {lam:g})", stage, verdict,
        observed={"follows_sft_stage": follows_sft,
                  "argmax_net_gain_step": start + observed_step, "argmax_steps_into_stage": observed_step,
                  "stage_steps": span,
                  "net_gain_max": float(gain.max()), "net_gain_regret_at_prediction": regret, "regret_tolerance": tolerance},
        predicted={"optimal_rl_steps": t_star, "optimal_rl_steps_ci": ci["t_star"],
                   "stop_at_step": start + t_star, "lam": lam},
        note=why + "; mu_rl = beta_rl = fitted rate/2, beta_sft = mu_rl A / Delta_0 (estimate, exact for isotropic quadratics)",
    )

    sft_at_start = float(loss[0])
    tau_lo, tau_hi = ci["tau"]
    side = +1 if tau_lo > sft_at_start else (-1 if tau_hi < sft_at_start else 0)
    observed_trend = sign_verdict(trend(s, loss, confidence=confidence)["ci"], +1)
    if side == 0 or observed_trend == INCONCLUSIVE:
        verdict, why = INCONCLUSIVE, "tau's interval contains the starting loss, or the SFT-loss trend is undecided"
    elif (side > 0) == (observed_trend == HOLDS):
        verdict, why = HOLDS, "the SFT loss moved towards the threshold, as P4 predicts"
    else:
        verdict, why = VIOLATED, "the SFT loss moved away from the threshold"
    p4 = Check(
        "P4", "non-decoupling threshold", stage, verdict,
        observed={"sft_loss_at_rl_start": sft_at_start, "sft_loss_trend": observed_trend},
        predicted={"threshold_tau": fit["tau"], "threshold_tau_ci": ci["tau"],
                   "direction": {1: "rises (start below tau)", -1: "falls (start above tau)", 0: "undecided"}[side]},
        note=why + "; tau is the fitted plateau of the SFT loss under RL (tight on isotropic quadratics)",
    )
    return [rates, p3, p4]


def _sft_stage_check(stage, frame, *, n_boot, confidence, rng, fits) -> Check:
    data = frame.dropna(subset=["sft_loss"])
    if len(data) < MIN_POINTS:
        return Check("rates", "SFT stage: SFT-excess rate", stage, INCONCLUSIVE, {"n": len(data)}, note=f"fewer than {MIN_POINTS} SFT-loss values")
    start = frame["step"].iloc[0]
    s, loss = (data["step"] - start).to_numpy(float), data["sft_loss"].to_numpy(float)
    fit = fit_exponential(s, loss)
    residuals = loss - fit["fitted"]
    boot = [fit_exponential(s, fit["fitted"] + rng.choice(residuals, size=residuals.size)) for _ in range(n_boot)]
    fits[stage] = {"phase": "sft", "start_step": int(start), "s": s, **fit}
    return Check(
        "rates", "SFT stage: SFT-excess rate", stage, ESTIMATE,
        observed={"sft_excess_rate_per_step": fit["rate"],
                  "sft_excess_rate_ci": _percentile_interval([b["rate"] for b in boot], confidence),
                  "sft_loss_limit": fit["limit"], "sft_loss_limit_ci": _percentile_interval([b["limit"] for b in boot], confidence),
                  "rate_at_search_bound": fit["rate_at_bound"]},
        note="L = L_inf + eps_0 exp(-k s), k = 2 mu_sft for isotropic quadratics (effective constant; residual-bootstrap interval)",
    )


def check_kl_bounds(run: pd.DataFrame, *, expert_pass_rate: float, expert_entropy: float | None = None) -> list[Check]:
    """K1 (RL stages) and K3 (SFT stages after RL) at every point with loss and reward.

    Parameters
    ----------
    run : pandas.DataFrame
        Canonical run; rewards must be pass rates in [0, 1]. Where the optional ``pass_rate``
        column (the exact pass rate) is logged, it is used instead of the sampled reward.
    expert_pass_rate : float
        a = E_{p*} r.
    expert_entropy : float, optional
        H(p*) in nats, sequence level. Without it each RL stage's first SFT loss stands
        in for it (assumes RL starts at the SFT optimum), and K3 is not checked.

    Notes
    -----
    A point violates the bound significantly when its slack CE - H - kl(a||b) is below
    -3 noise s.d. of the SFT loss (:func:`noise_sd`); a point whose b is 0 or 1 while
    a is not has kl = inf from a finite-sample estimate and is not counted either way.
    """
    a = float(check_rate(expert_pass_rate, "expert_pass_rate"))
    entropy = None if expert_entropy is None else float(check_nonnegative(expert_entropy, "expert_entropy"))
    checks, seen_rl = [], False
    for stage, phase, frame in _stage_tables(run):
        seen_rl |= phase == "rl"
        data = frame.dropna(subset=["reward", "sft_loss"])
        if phase == "sft" and (not seen_rl or entropy is None):
            continue
        theorem = "K1" if phase == "rl" else "K3"
        base = dict(id=theorem, stage=stage, name="SFT loss >= H(p*) + kl(a||b) at every point" if theorem == "K1"
                    else "reward within the KL band of the SFT excess at every point")
        if data.empty:
            checks.append(Check(**base, verdict=INCONCLUSIVE, note="no point with both SFT loss and reward"))
            continue
        rewards = data["reward"].to_numpy(float)
        if "pass_rate" in data:  # the exact pass rate, where logged, beats its sampled estimate
            exact = data["pass_rate"].to_numpy(float)
            rewards = np.where(np.isfinite(exact), exact, rewards)
        if ((rewards < 0) | (rewards > 1)).any():
            checks.append(Check(**base, verdict=INCONCLUSIVE, note="rewards outside [0, 1] are not pass rates"))
            continue
        loss = data["sft_loss"].to_numpy(float)
        reference = entropy if entropy is not None else float(loss[0])
        excess = loss - reference
        kl = np.asarray(nondecoupling.kl_bernoulli(a, rewards), float)
        slack = excess - kl
        sd = noise_sd(loss)
        tolerance = NOISE_SIGMAS * sd if np.isfinite(sd) else 0.0
        undetermined = ~np.isfinite(kl)
        significant = (slack < -tolerance) & ~undetermined
        roundoff = 1e-9 * np.maximum(1.0, np.abs(loss))
        within_noise = (slack < -roundoff) & ~significant & ~undetermined
        budget = np.maximum(excess, 0.0)
        band = (np.asarray(nondecoupling.kl_inverse_lower(a, budget), float), np.asarray(nondecoupling.kl_inverse_upper(a, budget), float))
        if significant.any():
            verdict = VIOLATED
        elif within_noise.any() or undetermined.all():
            verdict = INCONCLUSIVE
        else:
            verdict = HOLDS
        finite = slack[~undetermined]
        checks.append(Check(
            **base, verdict=verdict,
            observed={"steps": data["step"].to_numpy(), "sft_excess": excess, "reward": rewards,
                      "n_points": int(slack.size), "n_violations_significant": int(significant.sum()),
                      "n_violations_within_noise": int(within_noise.sum()), "n_undetermined": int(undetermined.sum()),
                      "min_slack": float(finite.min()) if finite.size else float("nan"), "noise_sd": sd},
            predicted={"kl_lower_bound": kl, "reward_band_low": band[0], "reward_band_high": band[1],
                       "expert_pass_rate": a, "expert_entropy": entropy if entropy is not None else "RL-start loss (assumed SFT-optimal)"},
            note=f"significant = slack below -{NOISE_SIGMAS:g} noise s.d. of the SFT loss; b in {{0, 1}} with a != b is undetermined",
        ))
    return checks


def run_checks(run: pd.DataFrame, *, lam: float = 1.0, expert_pass_rate: float | None = None,
               expert_entropy: float | None = None, n_boot: int = 200, confidence: float = 0.95,
               seed: int = 0) -> tuple[list[Check], dict]:
    """All checks of a canonical run.

    Parameters
    ----------
    run : pandas.DataFrame
        From :func:`nondecoupling.bridge.logs.read_run`.
    lam : float
        Weight of the SFT loss in P3's net gain (> 0).
    expert_pass_rate, expert_entropy : float, optional
        Enable K1/K3 (see :func:`check_kl_bounds`).
    n_boot : int
        Bootstrap resamples for the fitted constants' intervals.
    confidence : float
        Level of every interval, in (0, 1).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    checks : list of Check
    fits : dict
        Per fitted stage, the fitted curves (for the figures).
    """
    lam = float(check_positive(lam, "lam"))
    n_boot = int(check_integer(n_boot, "n_boot", low=1))
    confidence = float(check_interval(confidence, "confidence", low=0.0, high=1.0, low_open=True, high_open=True))
    rng = np.random.default_rng(seed)
    checks, fits = check_a1(run, confidence=confidence), {}
    previous_phase = None
    for stage, phase, frame in _stage_tables(run):
        if phase == "rl":
            checks += _rl_stage_checks(stage, frame, lam=lam, n_boot=n_boot, confidence=confidence, rng=rng, fits=fits,
                                       follows_sft=previous_phase == "sft")
        else:
            checks.append(_sft_stage_check(stage, frame, n_boot=n_boot, confidence=confidence, rng=rng, fits=fits))
        previous_phase = phase
    if expert_pass_rate is not None:
        checks += check_kl_bounds(run, expert_pass_rate=expert_pass_rate, expert_entropy=expert_entropy)
    return checks, fits

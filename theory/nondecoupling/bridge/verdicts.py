"""Check a logged run (see :mod:`nondecoupling.bridge.logs`) against the theory. No torch.

Every check is a :class:`Check`: a theorem ID, the stage it is about, what was observed,
what the theory predicts, the statistic that decided, and a verdict: ``holds``,
``violated``, ``inconclusive`` (the noise does not decide) or ``estimate`` (a constant
inferred from the run, with its interval, that other checks use). The estimators are in
:mod:`nondecoupling.bridge.stats`.

Stages. Every stage after the first starts at the previous stage's last logged point (the
model the stage started from): an effect that happens before the stage's first own
evaluation is part of the stage.

A1 (signs). During an RL stage the held-out SFT loss rises; during an SFT stage that
follows RL the reward (the exact ``pass_rate`` where logged, else the sampled reward)
falls. Tested by :func:`nondecoupling.bridge.stats.trend_decision` (isotonic likelihood
ratio, start level from the previous stage's settled end, null for AR(1) noise): at most
alpha decisive verdicts on such noise at any length (docs/checking.md).

P3. Mapping the RL fit onto the RL flow's constants, mu_rl = beta_rl = m and
beta_sft = m A / Delta_0, ``nondecoupling.optimal_rl_duration`` gives t* in steps, compared
with the argmax of the observed net gain G(s) = [J(s) - J(0)] - lam [L(s) - L(0)]. Decisive
only when the reward rose significantly (P3's setting: Delta_0 > 0).

P4. The fitted plateau tau of the SFT loss under RL estimates the non-decoupling threshold;
the check compares the side of tau the RL stage started on with the significant SFT-loss
trend.

K1/K3. With the expert pass rate a (and H(p*)), at every point with an SFT loss and a pass
rate CE - H(p*) >= kl(a || b) (K1, in every stage; without H(p*) the RL stage's first SFT
loss stands in for it, assuming RL started at the SFT optimum). K3 reads it backwards in
SFT stages after RL: b within [kl_inverse_lower(a, eps), kl_inverse_upper(a, eps)]. A point
violates significantly when its slack is below -z noise s.d., z the Bonferroni quantile
for alpha over the stage's points.

X1 (mixed stages: RL with an SFT loss term, loss = R + c L, as ``sft_loss_coef``,
``ptx_coef`` or CHORD-style mixing). With w = c / (1 + c) the run follows the joint flow of
F_w = w L + (1 - w) R, along which F_w = w L - (1 - w) J + const never rises: its trend is
tested like A1's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

import nondecoupling
from nondecoupling.bridge import stats
from nondecoupling.bridge.jsonable import jsonable
from nondecoupling.validation import check_integer, check_interval, check_nonnegative, check_positive, check_rate

HOLDS, VIOLATED, INCONCLUSIVE, ESTIMATE = "holds", "violated", "inconclusive", "estimate"
MIN_POINTS = 5  # three fitted parameters per curve need a few points more to leave residuals
NOISE_SIGMAS = 3.0  # P3: a regret within this many noise s.d. of the net gain is "no loss"
MAX_LISTED_POINTS = 1000  # K1/K3: per-point arrays in the report only up to this many points


@dataclass
class Check:
    """One check of the run against a theorem.

    Attributes
    ----------
    id : str
        Theorem ID (A1, P3, P4, K1, K3, X1) or ``rates``.
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
    decided_by : str
        The statistic that decided the verdict, with its value (shown in report.md).
    """

    id: str
    name: str
    stage: int | None
    verdict: str
    observed: dict = field(default_factory=dict)
    predicted: dict = field(default_factory=dict)
    note: str = ""
    decided_by: str = ""

    def to_dict(self) -> dict:
        return jsonable(asdict(self))


# ---------------------------------------------------------------- stages


def stage_tables(run: pd.DataFrame):
    """``(stage, phase, frame)`` per stage; after the first, ``frame`` starts at the previous stage's last point.

    Where the stage's own first row has the same step (a new trainer's step-0 evaluation of
    the same model), the two rows are one point: the stage's own values, completed by the
    previous stage's.
    """
    previous = None
    for stage, frame in run.groupby("stage", sort=True):
        phase = frame["phase"].iloc[0]
        if previous is not None:
            start = previous.iloc[[-1]].assign(phase=phase, stage=stage)
            if start["step"].iloc[0] == frame["step"].iloc[0]:
                first = frame.iloc[[0]].reset_index(drop=True).combine_first(start.reset_index(drop=True))
                frame_with_start = pd.concat([first, frame.iloc[1:]], ignore_index=True)
            else:
                frame_with_start = pd.concat([start, frame], ignore_index=True)
        else:
            frame_with_start = frame.reset_index(drop=True)
        previous = frame
        yield int(stage), phase, frame_with_start


def reward_column(frame: pd.DataFrame) -> str:
    """``pass_rate`` (the exact rate) where the stage logs one, else ``reward``."""
    return "pass_rate" if "pass_rate" in frame and frame["pass_rate"].notna().any() else "reward"


def previous_values(run: pd.DataFrame | None, stage: int, quantity: str, before_step) -> np.ndarray:
    """The previous stage's logged ``quantity`` before ``before_step`` (the stage's first point), in order."""
    if run is None:
        return np.empty(0)
    previous = run[(run["stage"] == stage - 1) & (run["step"] < before_step)]
    return previous[quantity].dropna().to_numpy(float) if quantity in previous else np.empty(0)


def stage_trend(run, stage, frame, quantity, expected, *, confidence, rho) -> dict:
    """:func:`nondecoupling.bridge.stats.trend_decision` of ``quantity`` in a stage, start level from the previous stage."""
    data = frame.dropna(subset=[quantity])
    before = previous_values(run, stage, quantity, data["step"].iloc[0]) if len(data) else np.empty(0)
    return stats.trend_decision(data["step"], data[quantity], expected, previous=before, confidence=confidence, rho=rho)


def _decided(result: dict) -> str:
    """The statistic behind a trend verdict, with its values, for report.md."""
    start = (f"start level from {result['start_points']} points" + (" (the previous stage's end, flat)"
             if result["start_points"] > 1 else (" (the previous stage's end still moved)" if result["previous_flat"] is False
                                                 else "")))
    return (f"isotonic LR, AR(1) rho <= {result['rho']:g} null: p(rise) = {result['p_up']:.3g}, p(fall) = {result['p_down']:.3g} "
            f"vs alpha {result['level']:.3g}; {start}, n = {result['n']}")


# ---------------------------------------------------------------- A1 and X1


def _trend_check(theorem, name, stage, frame, quantity, expected, *, confidence, rho, note, run) -> Check:
    data = frame.dropna(subset=[quantity])
    result = stage_trend(run, stage, frame, quantity, expected, confidence=confidence, rho=rho)
    observed = {"quantity": quantity, **{k: v for k, v in result.items() if k != "verdict"},
                "first_step": int(data["step"].iloc[0]) if len(data) else None,
                "last_step": int(data["step"].iloc[-1]) if len(data) else None}
    return Check(theorem, name, stage, result["verdict"], observed, {"sign": "+" if expected > 0 else "-"},
                 note=note, decided_by=_decided(result))


TREND_NOTE = ("isotonic likelihood ratio of a monotone change in either direction (any shape), null simulated for "
              "AR(1) noise; start level from the previous stage's settled end; Theil-Sen slope as effect size")


def check_a1(run: pd.DataFrame, *, confidence: float = 0.95, rho: float = stats.MAX_AUTOCORRELATION) -> list[Check]:
    """A1's signs: SFT loss up during RL; reward (or exact pass rate) down during SFT after RL."""
    checks, seen_rl = [], False
    for stage, phase, frame in stage_tables(run):
        if phase == "rl":
            quantity, expected, what = "sft_loss", +1, "SFT loss rises during RL"
            seen_rl = True
        elif phase == "sft" and seen_rl:
            quantity = reward_column(frame)
            expected, what = -1, f"{quantity.replace('_', ' ')} falls during SFT after RL"
        else:
            continue
        checks.append(_trend_check("A1", what, stage, frame, quantity, expected, confidence=confidence, rho=rho,
                                   note=TREND_NOTE, run=run))
    return checks


def mixed_weight(sft_coef: float) -> float:
    """w of X1's F_w = w L + (1 - w) R for a loss R + c L: w = c / (1 + c).

    >>> mixed_weight(1.0)
    0.5
    """
    coef = float(check_nonnegative(sft_coef, "sft_coef"))
    return coef / (1.0 + coef)


def check_x1(run: pd.DataFrame, *, confidence: float = 0.95, rho: float = stats.MAX_AUTOCORRELATION) -> list[Check]:
    """X1's joint flow in every ``mixed`` stage: F_w = w L - (1 - w) J does not rise."""
    checks, coefficients = [], run.attrs.get("sft_coef", {})
    for stage, phase, frame in stage_tables(run):
        if phase != "mixed":
            continue
        coef = coefficients.get(stage)
        name = "joint flow: w L - (1 - w) J falls in a mixed stage"
        if coef is None:
            checks.append(Check("X1", name, stage, INCONCLUSIVE, note="no SFT-loss coefficient given (--sft-coef)"))
            continue
        w, rate = mixed_weight(coef), reward_column(frame)
        data = frame.dropna(subset=["sft_loss", rate])
        joint = pd.DataFrame({"step": data["step"], "joint_objective": w * data["sft_loss"] - (1 - w) * data[rate]})
        check = _trend_check("X1", name, stage, joint, "joint_objective", -1, confidence=confidence, rho=rho, run=None,
                             note=f"loss R + c L with c = {coef:g}, w = c/(1+c) = {w:.4g}; J = {rate}; F_w is a "
                                  "Lyapunov function of the joint flow (X1)")
        check.predicted.update({"sft_coef": coef, "w": w})
        checks.append(check)
    return checks


# ---------------------------------------------------------------- RL stages: rates, P3, P4


def _fit_rl(stage, frame, *, lam, n_boot, confidence, rng) -> dict | None:
    rate = reward_column(frame)
    both = frame.dropna(subset=[rate, "sft_loss"])
    if len(both) < MIN_POINTS:
        return None
    start = frame["step"].iloc[0]
    s, reward, loss = stats.bin_means((both["step"] - start).to_numpy(float), both[rate], both["sft_loss"])
    fit = stats.fit_rl_stage(s, reward, s, loss)
    boot = stats.residual_bootstrap(lambda r, ell: stats.fit_rl_stage(s, r, s, ell),
                                    (fit["reward_fitted"], fit["loss_fitted"]),
                                    (reward - fit["reward_fitted"], loss - fit["loss_fitted"]), n_boot=n_boot, rng=rng)
    ci = {key: stats.percentile_interval([b[key] for b in boot], confidence)
          for key in ("reward_rate", "tau", "sft_rise", "rl_gap0")}
    ci["t_star"] = stats.percentile_interval([stats.predicted_optimal_steps(b, lam) for b in boot], confidence)
    return {"phase": "rl", "stage": stage, "rate_column": rate, "start_step": int(start), "s": s, "reward": reward, "loss": loss, "lam": lam,
            "t_star": stats.predicted_optimal_steps(fit, lam), "ci": ci, **fit}


def _rates_check(fit) -> Check:
    ci = fit["ci"]
    return Check(
        "rates", "RL stage: reward-gap rate and SFT-loss plateau", fit["stage"], ESTIMATE,
        observed={"reward_gap_rate_per_step": fit["reward_rate"], "reward_gap_rate_ci": ci["reward_rate"],
                  "mu_rl_per_step": fit["mu_rl"], "rl_gap0": fit["rl_gap0"], "rl_gap0_ci": ci["rl_gap0"],
                  "sft_rise": fit["sft_rise"], "sft_rise_ci": ci["sft_rise"], "rate_at_search_bound": fit["rate_at_bound"]},
        note="J = J_inf - Delta_0 exp(-2 mu_rl s); L = tau + B1 exp(-mu_rl s) + B2 exp(-2 mu_rl s) "
             "(isotropic-quadratic instance of P1); effective constants, residual-bootstrap intervals",
        decided_by="least squares (variable projection) and residual bootstrap",
    )


def _p3_verdict(fit, reward_trend, regret, tolerance, observed_step, spacing) -> tuple[str, str]:
    pred_lo, pred_hi = (min(max(v, 0.0), float(fit["s"][-1])) for v in fit["ci"]["t_star"])
    if reward_trend["verdict"] != HOLDS:
        return INCONCLUSIVE, "the reward did not rise significantly: P3's setting (Delta_0 > 0) is not established"
    if math.isnan(fit["t_star"]) or any(math.isnan(v) for v in fit["ci"]["t_star"]):
        return INCONCLUSIVE, "the fitted reward gap Delta_0 <= 0: P3's setting does not apply"
    if regret <= tolerance:
        return HOLDS, "stopping at the predicted step gives the observed best net gain up to noise"
    if pred_lo - spacing <= observed_step <= pred_hi + spacing:
        return INCONCLUSIVE, "the predicted stop loses net gain, but its interval reaches the observed argmax"
    return VIOLATED, "stopping at the predicted step loses net gain beyond noise, and its interval misses the observed argmax"


def _p3_check(fit, frame, *, follows_sft, confidence, rho, run) -> Check:
    s, reward, loss, lam, t_star = fit["s"], fit["reward"], fit["loss"], fit["lam"], fit["t_star"]
    both = frame.dropna(subset=[fit["rate_column"], "sft_loss"])
    reward_trend = stage_trend(run, fit["stage"], both, fit["rate_column"], +1, confidence=confidence, rho=rho)
    gain = (reward - reward[0]) - lam * (loss - loss[0])
    observed_step = float(s[int(np.argmax(gain))])
    spacing = float(np.median(np.diff(s)))
    at_prediction = int(np.argmin(np.abs(s - min(t_star, s[-1])))) if not math.isnan(t_star) else None
    regret = float(gain.max() - gain[at_prediction]) if at_prediction is not None else float("nan")
    tolerance = NOISE_SIGMAS * math.sqrt(2.0) * math.hypot(stats.noise_sd(reward), lam * stats.noise_sd(loss))
    verdict, why = _p3_verdict(fit, reward_trend, regret, tolerance, observed_step, spacing)
    if not follows_sft:
        why += ("; premise not established: this RL stage does not follow an SFT stage, and P3 assumes RL starts "
                "at an SFT optimum (theta_0 in S_L), so a violation here may be the premise's, not the bound's")
    start = fit["start_step"]
    return Check(
        "P3", f"optimal RL duration (lam = {lam:g})", fit["stage"], verdict,
        observed={"follows_sft_stage": follows_sft, "argmax_net_gain_step": start + observed_step,
                  "argmax_steps_into_stage": observed_step, "stage_steps": float(s[-1]), "net_gain_max": float(gain.max()),
                  "net_gain_regret_at_prediction": regret, "regret_tolerance": tolerance},
        predicted={"optimal_rl_steps": t_star, "optimal_rl_steps_ci": fit["ci"]["t_star"], "stop_at_step": start + t_star,
                   "lam": lam},
        note=why + "; mu_rl = beta_rl = fitted rate/2, beta_sft = mu_rl A / Delta_0 (estimate, exact for isotropic quadratics)",
        decided_by=(f"regret {regret:.4g} vs tolerance {tolerance:.4g} ({NOISE_SIGMAS:g} noise s.d.); reward rise: "
                    + _decided(reward_trend)),
    )


def _p4_check(fit, frame, *, confidence, rho, run) -> Check:
    both = frame.dropna(subset=[fit["rate_column"], "sft_loss"])
    sft_at_start = float(both["sft_loss"].iloc[0])
    tau_lo, tau_hi = fit["ci"]["tau"]
    side = +1 if tau_lo > sft_at_start else (-1 if tau_hi < sft_at_start else 0)
    loss_trend = stage_trend(run, fit["stage"], both, "sft_loss", +1, confidence=confidence, rho=rho)
    if side == 0 or loss_trend["verdict"] == INCONCLUSIVE:
        verdict, why = INCONCLUSIVE, "tau's interval contains the starting loss, or the SFT-loss trend is undecided"
    elif (side > 0) == (loss_trend["verdict"] == HOLDS):
        verdict, why = HOLDS, "the SFT loss moved towards the threshold, as P4 predicts"
    else:
        verdict, why = VIOLATED, "the SFT loss moved away from the threshold"
    direction = {1: "rises (start below tau)", -1: "falls (start above tau)", 0: "undecided"}[side]
    return Check(
        "P4", "non-decoupling threshold", fit["stage"], verdict,
        observed={"sft_loss_at_rl_start": sft_at_start, "sft_loss_trend": loss_trend["verdict"]},
        predicted={"threshold_tau": fit["tau"], "threshold_tau_ci": fit["ci"]["tau"], "direction": direction},
        note=why + "; tau is the fitted plateau of the SFT loss under RL (tight on isotropic quadratics)",
        decided_by=f"tau CI [{tau_lo:.4g}, {tau_hi:.4g}] vs start {sft_at_start:.4g}; SFT-loss trend: {_decided(loss_trend)}",
    )


def _rl_stage_checks(stage, frame, *, lam, n_boot, confidence, rho, rng, fits, follows_sft: bool, run) -> list[Check]:
    fit = _fit_rl(stage, frame, lam=lam, n_boot=n_boot, confidence=confidence, rng=rng)
    if fit is None:
        n = int(frame[[reward_column(frame), "sft_loss"]].notna().all(axis=1).sum())
        note = f"fewer than {MIN_POINTS} points with both SFT loss and reward"
        return [Check("P3", "optimal RL duration", stage, INCONCLUSIVE, {"n": n}, note=note),
                Check("P4", "non-decoupling threshold", stage, INCONCLUSIVE, {"n": n}, note=note)]
    fits[stage] = fit
    return [_rates_check(fit), _p3_check(fit, frame, follows_sft=follows_sft, confidence=confidence, rho=rho, run=run),
            _p4_check(fit, frame, confidence=confidence, rho=rho, run=run)]


def _sft_stage_check(stage, frame, *, n_boot, confidence, rng, fits) -> Check:
    data = frame.dropna(subset=["sft_loss"])
    if len(data) < MIN_POINTS:
        return Check("rates", "SFT stage: SFT-excess rate", stage, INCONCLUSIVE, {"n": len(data)},
                     note=f"fewer than {MIN_POINTS} SFT-loss values")
    start = frame["step"].iloc[0]
    s, loss = stats.bin_means((data["step"] - start).to_numpy(float), data["sft_loss"])
    fit = stats.fit_exponential(s, loss)
    boot = stats.residual_bootstrap(lambda y: stats.fit_exponential(s, y), (fit["fitted"],), (loss - fit["fitted"],),
                                    n_boot=n_boot, rng=rng)
    fits[stage] = {"phase": "sft", "start_step": int(start), "s": s, **fit}
    return Check(
        "rates", "SFT stage: SFT-excess rate", stage, ESTIMATE,
        observed={"sft_excess_rate_per_step": fit["rate"],
                  "sft_excess_rate_ci": stats.percentile_interval([b["rate"] for b in boot], confidence),
                  "sft_loss_limit": fit["limit"],
                  "sft_loss_limit_ci": stats.percentile_interval([b["limit"] for b in boot], confidence),
                  "rate_at_search_bound": fit["rate_at_bound"]},
        note="L = L_inf + eps_0 exp(-k s), k = 2 mu_sft for isotropic quadratics (effective constant; residual-bootstrap interval)",
        decided_by="least squares (variable projection) and residual bootstrap",
    )


# ---------------------------------------------------------------- K1 / K3


def _listed(observed: dict, slack: np.ndarray) -> dict:
    """Per-point arrays, or only the worst points of a long stage (the report stays small)."""
    if slack.size <= MAX_LISTED_POINTS:
        return observed
    worst = np.sort(np.argsort(np.nan_to_num(slack, nan=np.inf))[:20])
    return {k: (v[worst] if isinstance(v, np.ndarray) and v.shape == slack.shape else v) for k, v in observed.items()} | {
        "listed": f"the {worst.size} points of least slack out of {slack.size}"}


def _kl_check(theorem, stage, data, *, a, reference, entropy, confidence) -> Check:
    terms = stats.k1_terms(data, expert_pass_rate=a, expert_entropy=reference)
    loss, rates, excess, slack = data["sft_loss"].to_numpy(float), terms["k1_pass_rate"].to_numpy(), \
        terms["sft_excess"].to_numpy(), terms["k1_slack"].to_numpy()
    undetermined = ~np.isfinite(terms["kl_a_b"].to_numpy())
    decision = stats.pointwise_violation_verdict(slack, loss, confidence=confidence, determined=~undetermined)
    verdict, significant, within_noise = decision["verdict"], decision["significant"], decision["within_noise"]
    finite = slack[~undetermined]
    observed = _listed({"steps": data["step"].to_numpy(), "sft_excess": excess, "pass_rate": rates, "slack": slack,
                        "kl_lower_bound": terms["kl_a_b"].to_numpy()}, slack)
    budget = np.maximum(observed["sft_excess"], 0.0)  # the band only at the listed points: kl's inverse is a root search
    observed["reward_band_low"] = np.asarray(nondecoupling.kl_inverse_lower(a, budget), float)
    observed["reward_band_high"] = np.asarray(nondecoupling.kl_inverse_upper(a, budget), float)
    observed.update({"n_points": int(slack.size), "n_violations_significant": int(significant.sum()),
                     "n_violations_within_noise": int(within_noise.sum()), "n_undetermined": int(undetermined.sum()),
                     "min_slack": float(finite.min()) if finite.size else float("nan"), "noise_sd": decision["noise_sd"]})
    name = ("SFT loss >= H(p*) + kl(a||b) at every point" if theorem == "K1"
            else "pass rate within the KL band of the SFT excess at every point")
    return Check(theorem, name, stage, verdict, observed,
                 {"expert_pass_rate": a, "expert_entropy": entropy if entropy is not None else "RL-start loss (assumed SFT-optimal)"},
                 note=("significant = slack below -t noise s.d. of the SFT loss (rms of differences), t the Student "
                       "quantile at alpha/n (Bonferroni over the stage's points; 0 for exact logs); b in {0, 1} with a != b "
                       "is undetermined"),
                 decided_by=(f"min slack {observed['min_slack']:.4g} vs -{decision['tolerance']:.4g} "
                             f"(t = {decision['t']:.3g}, noise s.d. {decision['noise_sd']:.3g})"))


def check_kl_bounds(run: pd.DataFrame, *, expert_pass_rate: float, expert_entropy: float | None = None,
                    confidence: float = 0.95) -> list[Check]:
    """K1 in every stage with an SFT loss and a pass rate; K3 in SFT stages after RL.

    Parameters
    ----------
    run : pandas.DataFrame
        Canonical run. b is the exact ``pass_rate`` where logged, else the sampled reward
        (:func:`nondecoupling.bridge.stats.k1_rate`); rewards outside [0, 1] are not pass rates.
    expert_pass_rate : float
        a = E_{p*} r.
    expert_entropy : float, optional
        H(p*) in nats, sequence level. Without it only RL stages are checked, each against
        its first SFT loss (assumes RL starts at the SFT optimum), and K3 is not checked.
    confidence : float
        1 - alpha, the level of the Bonferroni threshold.
    """
    a = float(check_rate(expert_pass_rate, "expert_pass_rate"))
    entropy = None if expert_entropy is None else float(check_nonnegative(expert_entropy, "expert_entropy"))
    checks, seen_rl = [], False
    for stage, phase, frame in stage_tables(run):
        seen_rl |= phase == "rl"
        if entropy is None and phase != "rl":
            continue
        rate, _ = stats.k1_rate(frame)
        data = frame[np.isfinite(rate) & frame["sft_loss"].notna().to_numpy()]
        if data.empty:  # K1 is checked wherever an SFT loss and a pass rate in [0, 1] were logged together
            continue
        theorems = ["K1"] + (["K3"] if phase == "sft" and seen_rl and entropy is not None else [])
        for theorem in theorems:
            reference = entropy if entropy is not None else float(data["sft_loss"].iloc[0])
            checks.append(_kl_check(theorem, stage, data, a=a, reference=reference, entropy=entropy, confidence=confidence))
    return checks


# ---------------------------------------------------------------- all


def run_checks(run: pd.DataFrame, *, lam: float = 1.0, expert_pass_rate: float | None = None,
               expert_entropy: float | None = None, n_boot: int = 200, confidence: float = 0.95,
               autocorrelation: float = stats.MAX_AUTOCORRELATION, seed: int = 0) -> tuple[list[Check], dict]:
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
        Level of every interval, in (0, 1); a decisive trend verdict has false-positive
        rate at most 1 - confidence on pure noise.
    autocorrelation : float
        The largest AR(1) coefficient of the logged noise the trend verdicts are calibrated
        for, in [0, 1) (0.5 by default; 0 for independent evaluation noise: more power on
        short stages).
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
    rho = float(check_interval(autocorrelation, "autocorrelation", low=0.0, high=1.0, high_open=True))
    checks, fits = check_a1(run, confidence=confidence, rho=rho) + check_x1(run, confidence=confidence, rho=rho), {}
    previous_phase = None
    for stage, phase, frame in stage_tables(run):
        if phase == "rl":
            checks += _rl_stage_checks(stage, frame, lam=lam, n_boot=n_boot, confidence=confidence, rho=rho, rng=rng,
                                       fits=fits, follows_sft=previous_phase == "sft", run=run)
        elif phase == "sft":
            checks.append(_sft_stage_check(stage, frame, n_boot=n_boot, confidence=confidence, rng=rng, fits=fits))
        previous_phase = phase
    if expert_pass_rate is not None:
        checks += check_kl_bounds(run, expert_pass_rate=expert_pass_rate, expert_entropy=expert_entropy,
                                  confidence=confidence)
    return checks, fits

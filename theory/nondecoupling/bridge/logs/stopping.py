"""Online P3: when to stop an RL stage, from its curves so far and what the SFT stage told us (no torch).

The RL stage follows P3's isotropic curves (the bridge's model, :func:`~nondecoupling.bridge.logs.stats.fit_rl_stage`):
with x(s) = e^{-m s},

    J(s) = J_0 + Delta_0 (1 - x^2),    L(s) = L_0 + A (1 - x)^2,

and the net gain G(s) = [J(s) - J_0] - lam [L(s) - L_0] peaks at t* = ln(1 + Delta_0 / (lam A)) / m.

For a fixed rate m both curves are linear in their coefficients, so the posterior is exact on a
grid of rates m and of noise scales kappa (the noise is kappa times the prior's s.d.; kappa > 1
absorbs a misspecified curve; each curve has its own): a Gaussian prior on (Delta_0, A) from :class:`StagePrior` and a
conjugate Gaussian update per grid cell, from running sums (an update costs O(grid), whatever
the stage's length). The decision (:func:`p3_stop_decision`) minimizes the expected regret
E[G(t*) - G(s)]: it plans a stop at the step s that maximizes the posterior mean E[G(s)] among
the steps up to the next evaluation (a stop may fall between evaluations), once 5 evaluations
are in and P(t* < next evaluation) >= 1/2; it does not wait for certainty: stopping late costs
as much as stopping early.

The schedule (:class:`LiveStop`, the callback's and the benchmark's rule) is built in two parts:

* fixed, :func:`evaluation_steps`: stage step 0, then ceil(1.5^k) below ``every_steps`` (1, 2, 3,
  4, 6, 8 at every_steps = 10), then every ``every_steps`` steps;
* refined as it goes: after an evaluation at stage step s that plans no stop although
  P(t* < next) >= ``refine`` (0.2), an evaluation is added at (s + next) // 2; the same test
  runs again there, so evaluations halve their spacing where t* may be (at most about
  log2(every_steps) added per such stretch) and a peak between sparse evaluations is seen
  soon after it has passed.

With each decision :class:`LiveStop` also names the *restore step*: of the stage steps
evaluated so far, the one of largest estimated G (:meth:`LiveStop.restore_step`: the posterior
mean E[G], or the evaluation's own G where P3's curves fail a chi-square test against the
evaluations). A stop comes after the peak has shown in the evaluations, so on a faint peak, or
a curve that falls suddenly, the model of the restore step (a checkpoint saved there) is worth
more than the model at the stop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

import numpy as np

from nondecoupling.validation import ParameterError, check_integer, check_interval, check_positive

if TYPE_CHECKING:
    from nondecoupling._typing import Numbers

#: Rates m per step on the posterior's grid (t* from ~1 to ~10^4 steps) and noise scales kappa.
RATES = np.geomspace(1e-4, 1.0, 121)
NOISE_SCALES = np.array([0.5, 1.0, 2.0, 4.0, 8.0])


def evaluation_steps(every_steps: int, horizon: int, *, growth: float = 1.5) -> list[int]:
    """Stage steps to evaluate: 0, then ceil(growth^k) below ``every_steps``, then its multiples.

    The geometric start costs about log(every_steps) / log(growth) extra evaluations per stage
    (4 at every_steps = 10 and growth 1.5), what a t* shorter than ``every_steps`` needs.

    >>> evaluation_steps(10, 40)
    [0, 1, 2, 3, 4, 6, 8, 10, 20, 30, 40]
    """
    every_steps = int(check_integer(every_steps, "every_steps", low=1))
    growth = float(check_interval(growth, "growth", low=1.0, high=math.inf, low_open=True))
    dense, power = {0}, 1.0
    while math.ceil(power) < every_steps:
        dense.add(math.ceil(power))
        power *= growth
    return sorted(dense | set(range(every_steps, int(horizon) + 1, every_steps)))


def robust_noise(values: Numbers) -> float:
    """The noise s.d. of a smooth curve's samples, from its second differences (NaN if < 3).

    Second differences cancel a locally linear trend; their s.d. is sqrt(6) sigma, and the median
    absolute value / 0.6745 estimates it without being thrown by one outlier.
    """
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if values.size < 3:
        return float("nan")
    return float(np.median(np.abs(np.diff(values, 2))) / (0.6745 * math.sqrt(6.0)))


@dataclass(frozen=True)
class StagePrior:
    """What is known before the RL stage starts (e.g. from the SFT stage's log).

    reward_noise, loss_noise : s.d. of one evaluation's reward and SFT loss (the SFT stage's
        :func:`robust_noise`; a sampled pass rate's binomial s.e.); kappa on the grid rescales them.
    reward_gap : the scale of Delta_0 (for a pass rate, 1 - J_0: the reward cannot pass 1).
    loss_rise : the scale of A (e.g. how far the SFT stage lowered the loss).
    """

    reward_noise: float
    loss_noise: float
    reward_gap: float
    loss_rise: float

    def __post_init__(self):
        for name in ("reward_noise", "loss_noise", "reward_gap", "loss_rise"):
            check_positive(getattr(self, name), name)


class Posterior(TypedDict):
    """:meth:`OnlineP3.posterior`: the grid's weights and each cell's Gaussian posterior of (Delta_0, A)."""

    rate_weight: np.ndarray  # (rates,)
    kappa_weight: np.ndarray  # (2 curves, rates, kappas): each curve's noise scale given the rate
    mean: np.ndarray  # (2, rates, kappas, 2 coefficients)
    precision: np.ndarray  # (2, rates, kappas, 2, 2)


class OnlineP3:
    """The exact grid posterior of P3's curves for one RL stage, updated one evaluation at a time.

    >>> prior = StagePrior(reward_noise=0.01, loss_noise=0.01, reward_gap=0.7, loss_rise=0.5)
    >>> p3 = OnlineP3(prior, lam=1.0)
    >>> for s in range(0, 31, 2):  # Delta_0 = 0.5, A = 0.3, m = 0.05: t* = ln(1 + 0.5/0.3)/0.05 = 19.6
    ...     x = math.exp(-0.05 * s)
    ...     p3.update(s, 0.3 + 0.5 * (1 - x * x), 2.0 + 0.3 * (1 - x) ** 2)
    >>> p3.best_step(0, 100)
    20
    """

    last_step: float | None
    _first: np.ndarray | None
    _posterior: Posterior | None

    def __init__(self, prior: StagePrior, *, lam: float = 1.0) -> None:
        self.prior, self.lam = prior, float(check_positive(lam, "lam"))
        self.count, self.last_step, self._first = 0, None, None
        shape = (2, RATES.size)  # (reward, loss) x rate
        self._xtx, self._xty, self._yty = np.zeros(shape + (2, 2)), np.zeros(shape + (2,)), np.zeros(2)
        self._posterior = None

    @staticmethod
    def _slope_columns(steps) -> np.ndarray:
        """(2, rates, steps): the slope columns 1 - x^2 (reward) and (1 - x)^2 (loss), x = e^{-m s}."""
        x = np.exp(-np.multiply.outer(RATES, np.atleast_1d(np.asarray(steps, float))))
        return np.stack([1.0 - x * x, (1.0 - x) ** 2])

    @classmethod
    def _features(cls, step: float) -> np.ndarray:
        """(2, rates, 2): one step's design rows [1, slope column] per curve and rate."""
        slopes = cls._slope_columns(step)[..., 0]
        return np.stack([np.ones_like(slopes), slopes], -1)

    def update(self, step: float, reward: float, loss: float) -> None:
        """Add one evaluation (stage step, reward, SFT loss); steps must increase."""
        if not (math.isfinite(reward) and math.isfinite(loss)):
            raise ParameterError("reward, loss", "finite numbers", f"{reward!r}, {loss!r} at stage step {step}")
        if self.last_step is not None and not step > self.last_step:
            raise ParameterError("step", f"greater than the previous evaluation's {self.last_step}", repr(step))
        if self._first is None:
            self._first = np.array([reward, loss], float)  # centre: the sums stay small (no cancellation)
        y = np.array([reward, loss], float) - self._first
        features = self._features(step)
        self._xtx += features[..., :, None] * features[..., None, :]
        self._xty += features * y[:, None, None]
        self._yty += y * y
        self.count, self.last_step, self._posterior = self.count + 1, float(step), None

    def posterior(self) -> Posterior:
        """Grid weights (rates x kappas), and per cell the Gaussian posterior of (Delta_0, A)."""
        if self._posterior is not None:
            return self._posterior
        p = self.prior
        noise = np.array([p.reward_noise, p.loss_noise])[:, None, None] * NOISE_SCALES  # (2, 1, K)
        variance = (noise**2)[:, :, :, None, None]
        # Intercept: practically flat around the first value; slope: positive, of the prior's scale.
        scale = np.array([p.reward_gap, p.loss_rise])
        prior_mean = np.stack([np.zeros(2), scale / 2.0], -1)  # (2 curves, 2 coefficients)
        prior_precision = np.zeros((2, 2, 2))
        prior_precision[:, 0, 0] = 1.0 / (100.0 * scale) ** 2
        prior_precision[:, 1, 1] = 1.0 / scale**2
        precision = prior_precision[:, None, None] + self._xtx[:, :, None] / variance  # (2, M, K, 2, 2)
        shift = (prior_precision @ prior_mean[..., None])[..., 0]
        rhs = shift[:, None, None] + self._xty[:, :, None] / variance[..., 0]
        mean, log_det = _solve_2x2(precision, rhs)
        log_evidence = (-0.5 * self.count * np.log(2 * np.pi * variance[..., 0, 0])
                        + 0.5 * np.linalg.slogdet(prior_precision)[1][:, None, None] - 0.5 * log_det
                        - 0.5 * (self._yty[:, None, None] / variance[..., 0, 0]
                                 + np.einsum("ci,cij,cj->c", prior_mean, prior_precision, prior_mean)[:, None, None]
                                 - np.einsum("cmki,cmki->cmk", mean, rhs)))
        # Each curve has its own noise scale; the two share the rate m (uniform prior on both grids).
        per_rate = np.logaddexp.reduce(log_evidence, axis=-1)  # (2, M)
        kappa_weight = np.exp(log_evidence - per_rate[..., None])
        log_rate = per_rate.sum(0)
        rate_weight = np.exp(log_rate - log_rate.max())
        self._posterior = {"rate_weight": rate_weight / rate_weight.sum(), "kappa_weight": kappa_weight, "mean": mean,
                           "precision": precision}
        return self._posterior

    def expected_gain(self, steps: Numbers) -> np.ndarray:
        """Posterior mean of G(s) = Delta_0 (1 - x^2) - lam A (1 - x)^2 at each step."""
        post = self.posterior()
        features = self._slope_columns(steps)  # (2, M, S)
        slope = np.einsum("cmk,cmk->cm", post["kappa_weight"], post["mean"][..., 1]) * post["rate_weight"]
        return slope[0] @ features[0] - self.lam * slope[1] @ features[1]

    def best_step(self, first: int, last: int) -> int:
        """The integer step in [first, last] with the largest expected net gain (least expected regret)."""
        steps = np.arange(int(first), int(last) + 1)
        return int(steps[np.argmax(self.expected_gain(steps))])

    def t_star_samples(self, n: int = 400, seed: int = 0) -> np.ndarray:
        """Posterior draws of t* (inf where A <= 0 < Delta_0; 0 where Delta_0 <= 0 < A: G never exceeds G(0); NaN where both <= 0)."""
        post, rng = self.posterior(), np.random.default_rng(seed)
        rate_index = rng.choice(RATES.size, size=n, p=post["rate_weight"])
        draws = []
        for curve in range(2):
            cumulative = np.cumsum(post["kappa_weight"][curve][rate_index], axis=-1)
            kappa_index = np.minimum((cumulative < rng.random((n, 1)) * cumulative[:, -1:]).sum(-1), NOISE_SCALES.size - 1)
            mean = post["mean"][curve][rate_index, kappa_index]
            precision = post["precision"][curve][rate_index, kappa_index]
            slope_variance = precision[:, 0, 0] / np.linalg.det(precision)  # the (1, 1) entry of the 2x2 inverse
            draws.append(mean[:, 1] + np.sqrt(slope_variance) * rng.standard_normal(n))
        gap, rise = draws
        with np.errstate(divide="ignore", invalid="ignore"):
            t_star = np.log1p(gap / (self.lam * rise)) / RATES[rate_index]
        return np.where(gap <= 0, np.where(rise > 0, 0.0, np.nan), np.where(rise <= 0, np.inf, t_star))


def _solve_2x2(matrix: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``matrix^-1 rhs`` and log det(matrix) for stacks of symmetric positive definite 2x2 matrices (Cramer's rule)."""
    a, b, d = matrix[..., 0, 0], matrix[..., 0, 1], matrix[..., 1, 1]
    det = a * d - b * b
    return np.stack([d * rhs[..., 0] - b * rhs[..., 1], a * rhs[..., 1] - b * rhs[..., 0]], -1) / det[..., None], np.log(det)


def p3_stop_decision(p3: OnlineP3, next_step: int | None, *, confidence: float = 0.9, min_points: int = 5,
                     samples: int = 400, seed: int = 0, offset: int = 0) -> dict:
    """Online P3's estimate and decision after the latest evaluation of a stage.

    The planned stop is the step s in [now, next_step) with the largest posterior mean E[G(s)]
    (the least expected regret), taken only when the posterior also puts t* before the next
    evaluation with probability >= 1/2: the myopic rule alone ignores what the next evaluation
    would teach, and with three noisy points it stops on noise about one time in five.

    Parameters
    ----------
    p3 : OnlineP3
        The stage's posterior, updated with every evaluation so far.
    next_step : int or None
        The next scheduled evaluation's stage step (None: the stage ends; no stop is planned).
    confidence : float
        Level of the reported posterior interval of t*.
    min_points : int
        Evaluations before any stop (>= 2: the prior alone never stops a stage).
    samples : int
        Posterior draws of t* (its interval and P(t* < next_step)).
    offset : int
        The stage's first global step: ``reason`` names each step in stage and in global steps.

    Returns
    -------
    dict
        ``optimal_steps`` (the stage step that maximizes E[G]), ``ci`` (posterior interval of t*,
        stage steps), ``p_passed`` (P(t* < next_step)), ``stop_step`` (the stage step to stop at:
        now, or before ``next_step``; None: continue), ``reason``.
    """
    if p3.last_step is None:
        raise ParameterError("p3", "updated with at least one evaluation", "no evaluation yet")
    now = int(p3.last_step)
    draws = p3.t_star_samples(int(check_integer(samples, "samples", low=1)), seed=seed)
    draws = np.where(np.isnan(draws), np.inf, draws)  # a draw where P3 does not apply decides nothing
    tail = 50.0 * (1.0 - confidence)
    ci = tuple(float(v) for v in np.percentile(draws, [tail, 100.0 - tail], method="inverted_cdf"))
    ahead = np.unique(np.concatenate([np.arange(now, now + 64), np.round(now + np.geomspace(1, 1e4, 200))]))
    optimum = int(ahead[np.argmax(p3.expected_gain(ahead))])
    p_passed = float(np.mean(draws < (next_step if next_step is not None else now + 1)))
    decision = {"optimal_steps": optimum, "ci": ci, "p_passed": p_passed, "stop_step": None}
    if p3.count < min_points or next_step is None:
        why = f"{p3.count} of the {min_points} evaluations a stop needs" if p3.count < min_points else "the stage ends"
        return {**decision, "reason": f"continuing: {why}; E[G] peaks at {_both(optimum, offset)}"}
    best = p3.best_step(now, next_step)
    if best >= next_step or p_passed < 0.5:
        return {**decision, "reason": f"continuing: E[G] peaks at {_both(optimum, offset)}, "
                                      f"P(t* < stage step {next_step}) = {p_passed:.2f}"}
    return {**decision, "stop_step": best,
            "reason": f"stopping at {_both(best, offset)}: the largest E[G] of stage steps {now}..{next_step} "
                      f"(global {offset + now}..{offset + next_step}), P(t* < stage step {next_step}) = {p_passed:.2f}"}


def _both(stage_step: int, offset: int) -> str:
    """A step in both units: ``stage step 4 (global step 44)``."""
    return f"stage step {stage_step} (global step {offset + stage_step})"


class StopSettings(TypedDict):
    """:func:`p3_stop_decision`'s settings that :class:`LiveStop` passes on."""

    confidence: float
    min_points: int
    samples: int


class LiveStop:
    """One RL stage's schedule, posterior and stop, driven one step at a time (the callback's and the benchmark's rule).

    ``wants_evaluation(step)`` on each stage step; ``observe(step, reward, loss)`` after an
    evaluation (returns :func:`p3_stop_decision`'s dict, with :meth:`restore_step`: the evaluated
    stage step of largest estimated G); ``should_stop(step)`` once the planned stop step is reached. Steps count from the stage's start; ``offset`` is the stage's
    first global step, so that the decision's ``reason`` names each step in both units.

    The schedule adapts: where the posterior puts t* before the next scheduled evaluation with
    probability >= ``refine`` but the rule does not stop yet, an evaluation is added halfway
    there (and again at the next one), so that evaluations bunch where t* may be and a peak
    is seen soon after it has passed, instead of one ``every_steps`` later. Cost: at most
    about log2(every_steps) added evaluations each time (``refine=1`` turns it off).
    """

    settings: StopSettings
    stop_step: int | None

    def __init__(self, prior: StagePrior, *, every_steps: int, horizon: int, lam: float = 1.0, growth: float = 1.5,
                 confidence: float = 0.9, min_points: int = 5, samples: int = 400, seed: int = 0, offset: int = 0,
                 refine: float = 0.2) -> None:
        self.p3 = OnlineP3(prior, lam=lam)
        self.schedule = evaluation_steps(every_steps, horizon, growth=growth)
        if self.schedule[-1] != horizon:
            self.schedule.append(int(horizon))
        self.settings = dict(confidence=float(check_interval(confidence, "confidence", low=0.0, high=1.0, low_open=True,
                                                             high_open=True)),
                             min_points=int(check_integer(min_points, "min_points", low=2)),
                             samples=int(check_integer(samples, "samples", low=1)))
        self.refine = float(check_interval(refine, "refine", low=0.0, high=1.0, low_open=True))
        self.seed, self.offset, self.stop_step = int(seed), int(offset), None
        self.evaluated: list[int] = []
        self.observed_gain: list[float] = []  # G at each evaluation, from the stage's first
        self._start = (0.0, 0.0)  # the first evaluation's (reward, loss)

    def wants_evaluation(self, step: int) -> bool:
        return step in self.schedule

    def next_evaluation(self, step: int) -> int | None:
        return next((s for s in self.schedule if s > step), None)

    def observe(self, step: int, reward: float, loss: float) -> dict:
        self.p3.update(step, reward, loss)
        if not self.evaluated:
            self._start = (reward, loss)
        self.evaluated.append(int(step))
        self.observed_gain.append((reward - self._start[0]) - self.p3.lam * (loss - self._start[1]))
        following = self.next_evaluation(step)
        decision = self._decide(step, following)
        if (decision["stop_step"] is None and following is not None and following - step >= 2
                and self.p3.count >= self.settings["min_points"] and decision["p_passed"] >= self.refine):
            halfway = (step + following) // 2  # t* may come before the next evaluation: look halfway there first
            self.schedule = sorted({*self.schedule, halfway})
            decision = self._decide(step, halfway)
        self.stop_step, restore = decision["stop_step"], self.restore_step()
        if self.stop_step is not None:
            decision["reason"] += f"; restore step (the evaluated step of largest estimated G): {_both(restore, self.offset)}"
        return {**decision, "restore_step": restore}

    def restore_step(self) -> int:
        """The evaluated stage step of largest estimated G: the checkpoint to keep.

        Where P3's curves fit the evaluations within their noise, the estimate is the posterior mean
        E[G(s)]. Where they do not (the residuals r = G_obs - E[G] fail a chi-square test at 1% against
        the noise s^2: a real curve's sudden fall, say), each evaluation's own G counts as much as the
        misfit is large: E[G] + w r with w = tau^2 / (tau^2 + s^2), tau^2 = mean(r^2) - s^2 (the
        normal-means empirical Bayes estimate). The noise s^2 is the smaller of the prior's,
        reward_noise^2 + lam^2 loss_noise^2, and the :func:`robust_noise` of the evaluations' own G
        (a sudden fall is one or two outliers among its second differences, which the median
        ignores; an SFT stage evaluated far apart on a still-falling curve inflates the prior's).
        """
        from scipy.stats import chi2  # here: importing the stop rule stays light

        model = self.p3.expected_gain(self.evaluated)
        residual = np.asarray(self.observed_gain) - model
        noise = self.p3.prior.reward_noise**2 + (self.p3.lam * self.p3.prior.loss_noise) ** 2
        own = robust_noise(self.observed_gain)  # NaN before 3 evaluations
        noise = min(noise, own**2) if own > 0 else noise
        squares = float(residual @ residual)
        misfit = squares / residual.size - noise if squares / noise > chi2.ppf(0.99, residual.size) else 0.0
        weight = max(misfit, 0.0) / (max(misfit, 0.0) + noise)
        return self.evaluated[int(np.argmax(model + weight * residual))]

    def _decide(self, step: int, following: int | None) -> dict:
        return p3_stop_decision(self.p3, following, seed=self.seed + int(step), offset=self.offset, **self.settings)

    def should_stop(self, step: int) -> bool:
        return self.stop_step is not None and step >= self.stop_step


def stage_prior(start_rate: float, start_loss: float, *, sft_rates: Numbers = (), sft_losses: Numbers = (), reward_se: float | None = None) -> StagePrior:
    """The RL stage's :class:`StagePrior` from its first evaluation and the SFT stage before it (the callback's and ``watch``'s).

    Noise: ``reward_se`` (a sampled reward's standard error) where given, else the
    :func:`robust_noise` of the SFT stage's last 10 rates; the loss's from its last 10 SFT losses
    (defaults 0.01 and 1e-3 |L_0| where fewer than 3 are known). Scales: the reward's room
    1 - J_0 (for a rate in [0, 1]) and the SFT stage's loss drop (default |L_0| / 10).

    >>> stage_prior(0.4, 2.0, sft_losses=[3.0, 2.5, 2.2, 2.0]).reward_gap
    0.6
    """
    sft_rates, sft_losses = list(sft_rates), list(sft_losses)
    floor = 1e-3 * max(abs(start_loss), 1.0)
    reward_noise = reward_se if reward_se is not None else robust_noise(sft_rates[-10:])
    drop = sft_losses[0] - start_loss if sft_losses else math.nan
    return StagePrior(reward_noise=_finite_or(reward_noise, 0.01, 1e-4),
                      loss_noise=_finite_or(robust_noise(sft_losses[-10:]), floor, floor / 10),
                      reward_gap=max(1.0 - start_rate, 0.05) if 0 <= start_rate <= 1 else max(abs(start_rate), 1.0),
                      loss_rise=_finite_or(drop, max(abs(start_loss), 1.0) / 10, floor))


def _finite_or(value, default: float, floor: float) -> float:
    """``value`` raised to ``floor``, or ``default`` where it is missing or not finite."""
    return max(float(value), floor) if value is not None and np.isfinite(value) else default

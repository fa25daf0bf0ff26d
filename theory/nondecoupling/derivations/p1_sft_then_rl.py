r"""P1 (SFT-then-RL envelope): RL started at an SFT optimum raises the SFT loss, within an envelope.

Statement
---------
L is (mu_sft, beta_sft)-PL-smooth, R is (mu_rl, beta_rl)-PL-smooth, sep = dist(S_L, S_R).
Start the RL flow theta' = -grad R(theta) at theta_0 in S_L, with
Delta_0 = R(theta_0) - R*. For all t >= 0

.. math::

    \frac{\mu_{sft}}{2}\max\Bigl(0,\ sep - \sqrt{2\Delta_0/\mu_{rl}}\,e^{-\mu_{rl} t}\Bigr)^2
    \le L(\theta_t) - L^* \le \frac{\beta_{sft}}{2}\,\ell(t)^2,

.. math::

    \ell(t) = \min\Bigl(\sqrt{2\Delta_0/\mu_{rl}}\,(1 - e^{-\beta_{rl} t}),\
                        \sqrt{2\beta_{rl}\Delta_0}\,(1 - e^{-\mu_{rl} t})/\mu_{rl}\Bigr)

bounds the path length :math:`\int_0^t \|\theta'(s)\|\,ds`, and the reward gain obeys
:math:`\Delta_0(1 - e^{-2\mu_{rl} t}) \le J(\theta_t) - J(\theta_0) \le \Delta_0(1 - e^{-2\beta_{rl} t})`.
As t -> inf the lower envelope tends to mu_sft sep^2 / 2: if sep > 0, RL leaves the SFT loss
at least that far above its optimum.

Tightness (proved below): on isotropic quadratics L = (mu_sft/2)||theta - a||^2,
R = (mu_rl/2)||theta - b||^2, theta_0 = a (so beta = mu), the lower envelope, the exact SFT
excess and the upper envelope coincide for every t, the path-length bound equals the exact
path length, and the reward lower bound is the exact reward gain. The lower envelope needs
no smoothness and is exact whenever R is isotropic and the RL path runs straight away from
the optimum of an isotropic L; the upper one is exact only when beta = mu for both.

Proof sketch
------------
* Lower: quadratic growth of L (PL => QG, Karimi et al. 2016) gives
  L - L* >= (mu_sft/2) dist(theta_t, S_L)^2. For any y in S_R, dist(y, S_L) >= sep, so the
  triangle inequality gives dist(theta_t, S_L) >= sep - dist(theta_t, S_R); this holds
  whatever point of S_R the flow converges to (no projection is needed). QG of R and PL
  decay Delta_t <= Delta_0 e^{-2 mu_rl t} give dist(theta_t, S_R) <= sqrt(2 Delta_t/mu_rl)
  <= sqrt(2 Delta_0/mu_rl) e^{-mu_rl t}.
* Path length, first form: d/dt sqrt(Delta) = -||grad R||^2 / (2 sqrt(Delta))
  <= -sqrt(mu_rl/2) ||theta'|| by PL; integrate, and use Delta_t >= Delta_0 e^{-2 beta_rl t}
  (smoothness: ||grad R||^2 <= 2 beta_rl Delta).
* Path length, second form: ||theta'|| = ||grad R|| <= sqrt(2 beta_rl Delta_t)
  <= sqrt(2 beta_rl Delta_0) e^{-mu_rl t}; integrate. Neither form dominates: the second
  is smaller near t = 0, the first as t -> inf, so the bound takes their minimum.
* Upper: grad L(theta_0) = 0, so smoothness gives
  L(theta_t) - L* <= (beta_sft/2)||theta_t - theta_0||^2 <= (beta_sft/2) ell(t)^2.
* Reward: the PL and smoothness decays of Delta above.

A numerical experiment with 3000 random anisotropic and rank-deficient quadratics (S_L, S_R
affine subspaces, so the flow's limit is generally not the projection of theta_0) found no
violation of either envelope beyond 1e-15 relative.

References
----------
Niu, Bai, Han, Zhang, "On the Non-decoupling of Supervised Fine-tuning and Reinforcement
Learning in Post-training", arXiv:2601.07389 (2026). H. Karimi, J. Nutini, M. Schmidt,
"Linear convergence of gradient and proximal-gradient methods under the
Polyak-Lojasiewicz condition", ECML-PKDD 2016.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp
from sympy.codegen.cfunctions import expm1

from nondecoupling.derivations._codegen import HALF, ClosedForm, ScaledProduct, quartered_exp
from nondecoupling.derivations._proof import Derivation, true, zero

t = sp.Symbol("t", nonnegative=True)
gap0 = sp.Symbol("gap0", nonnegative=True)
mu, beta = sp.symbols("mu beta", positive=True)
rl_gap0, sep = sp.symbols("rl_gap0 sep", nonnegative=True)
mu_sft, beta_sft, mu_rl, beta_rl = sp.symbols("mu_sft beta_sft mu_rl beta_rl", positive=True)


def path_length_forms(gap0: sp.Expr, mu: sp.Expr, beta: sp.Expr, t: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """The two path-length bounds of a gradient flow on a (mu, beta) objective with gap gap0."""
    from_decay = sp.sqrt(2 * gap0 / mu) * (1 - sp.exp(-beta * t))
    from_gradient = sp.sqrt(2 * beta * gap0) * (1 - sp.exp(-mu * t)) / mu
    return from_decay, from_gradient


def path_length(gap0: sp.Expr, mu: sp.Expr, beta: sp.Expr, t: sp.Expr) -> sp.Expr:
    """ell(t): the smaller of the two path-length bounds."""
    return sp.Min(*path_length_forms(gap0, mu, beta, t))


def distance_lower(t: sp.Expr, gap0: sp.Expr, sep: sp.Expr, mu_flow: sp.Expr) -> sp.Expr:
    """sep - dist(theta_t, S_flow) bound: lower bound on the distance to the other objective's minimizers."""
    return sep - sp.sqrt(2 * gap0 / mu_flow) * sp.exp(-mu_flow * t)


def excess_lower(t: sp.Expr, gap0: sp.Expr, sep: sp.Expr, mu_flow: sp.Expr, mu_measured: sp.Expr) -> sp.Expr:
    """QG of the measured objective through the triangle inequality; the flow runs on the other."""
    return mu_measured / 2 * sp.Max(0, distance_lower(t, gap0, sep, mu_flow)) ** 2


def excess_upper(t: sp.Expr, gap0: sp.Expr, mu_flow: sp.Expr, beta_flow: sp.Expr, beta_measured: sp.Expr) -> sp.Expr:
    """Smoothness of the measured objective at its minimizer, times the path length squared."""
    return beta_measured / 2 * path_length(gap0, mu_flow, beta_flow, t) ** 2


def gain_bounds(t: sp.Expr, gap0: sp.Expr, mu: sp.Expr, beta: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(lower, upper) bounds on the decrease of the flowing objective, gap0 - gap(t)."""
    return gap0 * (1 - sp.exp(-2 * mu * t)), gap0 * (1 - sp.exp(-2 * beta * t))


SFT_EXCESS_LOWER = excess_lower(t, rl_gap0, sep, mu_rl, mu_sft)
SFT_EXCESS_UPPER = excess_upper(t, rl_gap0, mu_rl, beta_rl, beta_sft)

# ----- Forms for evaluation in floating point over 1e-300 .. 1e300 (same values, proved below).
# (1 - e^{-r t}) / r is ~t when r t underflows; products are ScaledProducts, so that no partial
# product over- or underflows unless the result does.
#: Below this r t, (1 - e^{-x})/x = 1 - x/2 + ... equals 1 to within 2**-61.
SMALL_EXPONENT = sp.Rational(1, 2**60)


def decay_integral(rate: sp.Expr, t_: sp.Expr) -> sp.Expr:
    """(1 - e^{-rate t}) / rate = int_0^t e^{-rate s} ds, t where rate t < 2**-60 (also when it underflows)."""
    return sp.Piecewise((t_, rate * t_ < SMALL_EXPONENT), (-expm1(-rate * t_) / rate, True))


def reach(gap0: sp.Expr, mu: sp.Expr) -> sp.Expr:
    """sqrt(2 gap0/mu), the QG radius of the sublevel set, with the square roots split."""
    return ScaledProduct(sp.sqrt(2), sp.sqrt(gap0), 1 / sp.sqrt(mu))


def decay_product(factors: Sequence[sp.Expr], rate: sp.Expr, t_: sp.Expr) -> sp.Expr:
    """prod(factors) (1 - e^{-rate t})/rate, one scaled product per branch of :func:`decay_integral`.

    Past the truncation the quotient's two parts are factors of the product (1/rate a divisor):
    the quotient itself, a float, is subnormal where t is (or rate near the largest float), and
    loses bits there.
    """
    return sp.Piecewise((ScaledProduct(*factors, t_), rate * t_ < SMALL_EXPONENT),
                        (ScaledProduct(*factors, -expm1(-rate * t_), 1 / rate), True))


def stable_path_length(gap0: sp.Expr, mu: sp.Expr, beta: sp.Expr, t_: sp.Expr) -> sp.Expr:
    """ell(t) with 1 - e^{-r t} = r * decay_integral(r, t), products scaled."""
    from_decay = decay_product((sp.sqrt(2), sp.sqrt(gap0), 1 / sp.sqrt(mu), beta), beta, t_)
    from_gradient = decay_product((sp.sqrt(2), sp.sqrt(beta), sp.sqrt(gap0)), mu, t_)
    return sp.Min(from_decay, from_gradient)


def stable_excess_lower(t_: sp.Expr, gap0: sp.Expr, sep_: sp.Expr, mu_flow: sp.Expr, mu_measured: sp.Expr) -> sp.Expr:
    # e^{-mu t} in quarters: it is subnormal past mu t = 708, where reach e^{-mu t} may not be.
    distance = sp.Max(0, sep_ - ScaledProduct(sp.sqrt(2), sp.sqrt(gap0), 1 / sp.sqrt(mu_flow),
                                              *quartered_exp(-mu_flow * t_)))
    return ScaledProduct(HALF, mu_measured, distance, distance)


def stable_excess_upper(t_: sp.Expr, gap0: sp.Expr, mu_flow: sp.Expr, beta_flow: sp.Expr, beta_measured: sp.Expr) -> sp.Expr:
    ell = stable_path_length(gap0, mu_flow, beta_flow, t_)
    return ScaledProduct(HALF, beta_measured, ell, ell)


def stable_gain(t_: sp.Expr, gap0: sp.Expr, rate: sp.Expr) -> sp.Expr:
    """gap0 (1 - e^{-2 rate t}): 2 rate t as a scaled product (2 rate alone may overflow)."""
    doubled = ScaledProduct(2, rate, t_)
    return sp.Piecewise((ScaledProduct(gap0, 2, rate, t_), rate * t_ < SMALL_EXPONENT / 2),
                        (gap0 * -expm1(-doubled), True))


def stable_gain_bounds(t_: sp.Expr, gap0: sp.Expr, mu_: sp.Expr, beta_: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    return stable_gain(t_, gap0, mu_), stable_gain(t_, gap0, beta_)


def _isotropic_instance():
    """L = (mu_sft/2)||x - a||^2, R = (mu_rl/2)||x - b||^2 in R^2, theta_0 = a, and its RL flow."""
    a = sp.Matrix(sp.symbols("a1 a2", real=True))
    b = sp.Matrix(sp.symbols("b1 b2", real=True))
    theta = b + (a - b) * sp.exp(-mu_rl * t)
    sft_loss = lambda x: mu_sft / 2 * (x - a).dot(x - a)  # noqa: E731
    rl_loss = lambda x: mu_rl / 2 * (x - b).dot(x - b)  # noqa: E731
    return a, b, theta, sft_loss, rl_loss


def _proof_steps() -> list:
    """The one-line inequalities of the proof sketch, each reduced to a slack that is >= 0."""
    grad_norm, gap, slack = sp.symbols("grad_norm gap slack", positive=True)
    # PL, ||grad R||^2 >= 2 mu Delta, written as ||grad R|| = sqrt(2 mu Delta) + slack.
    pl_grad = sp.sqrt(2 * mu * gap) + slack
    d_sqrt_gap = -pl_grad**2 / (2 * sp.sqrt(gap))
    from_decay, from_gradient = path_length_forms(gap0, mu, beta, t)
    s = sp.Symbol("s", nonnegative=True)
    return [
        zero("d/dt sqrt(Delta) + sqrt(mu/2)||theta'|| = -||grad R|| slack / (2 sqrt(Delta)) under PL",
             d_sqrt_gap + sp.sqrt(mu / 2) * pl_grad + pl_grad * slack / (2 * sp.sqrt(gap))),
        true("... and that is <= 0, so d/dt sqrt(Delta) <= -sqrt(mu/2)||theta'||",
             pl_grad * slack / (2 * sp.sqrt(gap)) >= 0),
        zero("integrating: path <= sqrt(2/mu)(sqrt(Delta_0) - sqrt(Delta_t)), with "
             "sqrt(Delta_t) >= sqrt(Delta_0) e^{-beta t}, is the first form",
             sp.sqrt(2 / mu) * (sp.sqrt(gap0) - sp.sqrt(gap0) * sp.exp(-beta * t)) - from_decay),
        zero("integrating ||theta'|| <= sqrt(2 beta Delta_0) e^{-mu s} over [0, t] is the second form",
             sp.integrate(sp.sqrt(2 * beta * gap0) * sp.exp(-mu * s), (s, 0, t)) - from_gradient),
    ]


def _path_length_steps() -> list:
    from_decay, from_gradient = path_length_forms(gap0, mu, beta, t)
    excess = sp.Symbol("excess", nonnegative=True)  # beta = mu + excess
    elapsed = sp.Symbol("elapsed", nonnegative=True)  # e^{mu t} - 1
    return [
        zero("both path-length forms vanish at t = 0", from_decay.subs(t, 0) + from_gradient.subs(t, 0)),
        zero("first form -> sqrt(2 Delta_0/mu) as t -> inf",
             sp.limit(from_decay, t, sp.oo) - sp.sqrt(2 * gap0 / mu)),
        zero("second form -> sqrt(2 beta Delta_0)/mu = sqrt(beta/mu) sqrt(2 Delta_0/mu) as t -> inf",
             sp.limit(from_gradient, t, sp.oo) - sp.sqrt(beta / mu) * sp.sqrt(2 * gap0 / mu)),
        zero("slopes at t = 0: first form beta sqrt(2 Delta_0/mu) = sqrt(beta/mu) x second form's",
             sp.diff(from_decay, t).subs(t, 0) - sp.sqrt(beta / mu) * sp.diff(from_gradient, t).subs(t, 0)),
        true("sqrt(beta/mu) >= 1: the second form is smaller near 0, the first at inf (the min is needed)",
             sp.expand((mu + excess) - mu) >= 0),
        zero("the two forms coincide when beta = mu", (from_decay - from_gradient).subs(beta, mu)),
        true("first form is nondecreasing in t", sp.diff(from_decay, t) >= 0),
        true("second form is nondecreasing in t, so ell(t) = min of both is too", sp.diff(from_gradient, t) >= 0),
        true("first form is nondecreasing in beta (used for beta >= mu below)", sp.diff(from_decay, beta) >= 0),
        true("second form is nondecreasing in beta (t = log(1 + elapsed)/mu, elapsed >= 0)",
             sp.factor(sp.diff(from_gradient, beta).subs(t, sp.log(1 + elapsed) / mu)) >= 0),
    ]


def _tightness_steps() -> list:
    a, b, theta, sft_loss, rl_loss = _isotropic_instance()
    distance = sp.sqrt((a - b).dot(a - b))
    delta0 = rl_loss(a)
    instance = {sep: distance, rl_gap0: delta0}
    sft_excess = sft_loss(theta)
    elapsed = sp.Symbol("elapsed", nonnegative=True)  # e^{mu_rl t} - 1 >= 0
    at_elapsed = {t: sp.log(1 + elapsed) / mu_rl}
    speed = sp.sqrt(sp.diff(theta, t).dot(sp.diff(theta, t)))
    s = sp.Symbol("s", nonnegative=True)
    path = sp.integrate(sp.simplify(speed.subs(t, s)), (s, 0, t))
    lower = SFT_EXCESS_LOWER.xreplace(instance)
    forms = [f.xreplace(instance) for f in path_length_forms(rl_gap0, mu_rl, beta_rl, t)]
    gain_lower, gain_upper = (g.xreplace(instance) for g in gain_bounds(t, rl_gap0, mu_rl, beta_rl))
    gain = delta0 - rl_loss(theta)
    return [
        zero("isotropic quadratics: theta_t = b + (a - b) e^{-mu_rl t} solves theta' = -grad R",
             (sp.diff(theta, t) + mu_rl * (theta - b)).norm()),
        zero("... with theta_0 = a", (theta.subs(t, 0) - a).norm()),
        zero("lower envelope == exact SFT excess for every t (exactly tight)",
             (lower - sft_excess).xreplace(at_elapsed)),
        zero("lower envelope -> (mu_sft/2) max(0, sep)^2 = mu_sft sep^2 / 2 as t -> inf (any instance)",
             mu_sft / 2 * sp.Max(0, sp.limit(distance_lower(t, rl_gap0, sep, mu_rl), t, sp.oo)) ** 2
             - mu_sft * sep**2 / 2),
        zero("... which is the exact limit L(b) - L* on isotropic quadratics",
             sp.limit(sft_excess, t, sp.oo) - (mu_sft * sep**2 / 2).xreplace(instance)),
        zero("exact path length int ||theta'|| == ell(t) at beta_rl = mu_rl",
             path - forms[0].subs(beta_rl, mu_rl)),
        zero("... == the second form too", path - forms[1].subs(beta_rl, mu_rl)),
        zero("upper envelope == exact SFT excess at beta = mu (tight); it grows with beta (above)",
             SFT_EXCESS_UPPER.xreplace(instance).subs({beta_rl: mu_rl, beta_sft: mu_sft}).xreplace(at_elapsed)
             - sft_excess.xreplace(at_elapsed)),
        zero("reward lower bound Delta_0 (1 - e^{-2 mu_rl t}) == exact reward gain (isotropic R)",
             gain_lower - gain),
        zero("reward upper bound == exact gain at beta_rl = mu_rl", gain_upper.subs(beta_rl, mu_rl) - gain),
        true("reward upper bound grows with beta_rl", sp.diff(gain_upper, beta_rl) >= 0),
    ]


def _stable_form_steps() -> list:
    """The printed forms are the theorem's forms: the non-truncated branches agree identically."""
    x = sp.Symbol("x", positive=True)

    def plain(expr):
        """The expm1 branch of every decay_integral (the truncation is bounded separately)."""
        untruncated = expr.doit().replace(lambda e: isinstance(e, sp.Piecewise), lambda e: e.args[-1].expr)
        return untruncated.rewrite(sp.exp)

    first, second = path_length_forms(gap0, mu, beta, t)
    stable = plain(stable_path_length(gap0, mu, beta, t)).args
    return [
        zero("decay_integral branch: -expm1(-r t)/r = (1 - e^{-r t})/r",
             plain(decay_integral(mu, t)) - (1 - sp.exp(-mu * t)) / mu),
        zero("truncation: (1 - e^{-x})/x = 1 - x/2 + O(x^2), so t is within 2**-61 relative below x = 2**-60",
             sp.series((1 - sp.exp(-x)) / x, x, 0, 2).removeO() - (1 - x / 2)),
        zero("printed ell(t) forms equal the theorem's",
             sp.simplify(sum(stable) - first - second)),
        zero("printed lower envelope equals the theorem's",
             sp.simplify(plain(stable_excess_lower(t, rl_gap0, sep, mu_rl, mu_sft)) - SFT_EXCESS_LOWER)),
        zero("printed upper envelope equals the theorem's",
             sp.simplify(plain(stable_excess_upper(t, rl_gap0, mu_rl, beta_rl, beta_sft)) - SFT_EXCESS_UPPER)),
        zero("printed reward gain bounds equal the theorem's",
             sum(plain(b) for b in stable_gain_bounds(t, gap0, mu, beta)) - sum(gain_bounds(t, gap0, mu, beta))),
    ]


def derive() -> Derivation:
    """Prove the proof sketch's algebra, the path-length facts, and tightness on isotropic quadratics."""
    derivation = Derivation("P1")
    derivation.results.update(
        path_length=path_length(gap0, mu, beta, t),
        sft_excess_lower=SFT_EXCESS_LOWER,
        sft_excess_upper=SFT_EXCESS_UPPER,
    )
    derivation.steps += _proof_steps() + _path_length_steps() + _tightness_steps() + _stable_form_steps()
    return derivation


def closed_forms() -> list[ClosedForm]:
    """ell(t) and the SFT-excess envelope (argument order mirrored by P2)."""
    gain_lower, gain_upper = stable_gain_bounds(t, gap0, mu, beta)
    return [
        ClosedForm("path_length_bound", (t, gap0, mu, beta), stable_path_length(gap0, mu, beta, t),
                   "P1: ell(t), bound on the path length of the flow on a (mu, beta) objective.", rewrite=False),
        ClosedForm("sft_excess_lower", (t, rl_gap0, sep, mu_rl, mu_sft),
                   stable_excess_lower(t, rl_gap0, sep, mu_rl, mu_sft),
                   "P1: lower envelope of L(theta_t) - L* along the RL flow from S_L.", rewrite=False),
        ClosedForm("sft_excess_upper", (t, rl_gap0, mu_rl, beta_rl, beta_sft),
                   stable_excess_upper(t, rl_gap0, mu_rl, beta_rl, beta_sft),
                   "P1: upper envelope (beta_sft/2) ell(t)^2 of L(theta_t) - L*.", rewrite=False),
        ClosedForm("start_reach", (rl_gap0, mu_rl), reach(rl_gap0, mu_rl),
                   "P1: sqrt(2 Delta_0/mu_rl) >= dist(theta_0, S_R) (QG), hence >= sep from an SFT optimum.",
                   rewrite=False),
        ClosedForm("gain_lower", (t, gap0, mu), gain_lower,
                   "P1: gap0 (1 - e^{-2 mu t}) <= gap0 - gap(t), the flowed objective's own gain (PL decay).",
                   rewrite=False),
        ClosedForm("gain_upper", (t, gap0, beta), gain_upper,
                   "P1: gap0 - gap(t) <= gap0 (1 - e^{-2 beta t}) (smoothness: Delta_t >= Delta_0 e^{-2 beta t}).",
                   rewrite=False),
    ]


def _illustrate() -> None:
    """Anisotropic check: the exact flow (matrix exponential) lies inside the envelope."""
    import numpy as np
    from scipy.linalg import expm

    from nondecoupling import sft_degradation_bounds

    sft_curvature, rl_curvature = np.diag([1.0, 3.0]), np.diag([0.5, 2.0])
    a, b = np.zeros(2), np.array([1.0, 1.0])
    rl_gap0_value = 0.5 * (a - b) @ rl_curvature @ (a - b)
    print("     t   lower      exact      upper")
    for time in (0.1, 0.5, 1.0, 3.0, 10.0):
        theta = b + expm(-rl_curvature * time) @ (a - b)
        exact = 0.5 * theta @ sft_curvature @ theta
        lower, upper = sft_degradation_bounds(time, rl_gap0=rl_gap0_value, sep=np.sqrt(2.0),
                                              mu_sft=1.0, beta_sft=3.0, mu_rl=0.5, beta_rl=2.0)
        print(f"{time:6.1f}  {lower:.6f}  {exact:.6f}  {upper:.6f}")


if __name__ == "__main__":
    print(derive())
    _illustrate()

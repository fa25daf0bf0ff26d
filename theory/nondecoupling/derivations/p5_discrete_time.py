r"""P5 (discrete time): gradient descent on the RL loss, its contraction and its optimal length.

Statement
---------
Let R be beta-smooth and mu-PL (0 < mu <= beta), Delta = R - R*, and run gradient
descent theta_{k+1} = theta_k - eta grad R(theta_k) with eta in (0, 2/beta). Then

* Delta_{k+1} <= q Delta_k with q = 1 - mu eta (2 - eta beta) in [0, 1), so
  Delta_k <= q^k Delta_0;
* the path length ell_k = sum_{j<k} ||theta_{j+1} - theta_j|| obeys
  ell_k <= min( eta sqrt(2 beta Delta_0) (1 - q^{k/2}) / (1 - sqrt q),
                sqrt(2 Delta_0/mu) / (1 - eta beta/2) );
* (P3 in discrete time) with L (mu_sft, beta_sft), R (mu_rl, beta_rl), theta_0 in S_L and
  weight lam > 0, the net gain G_k = [J(theta_k) - J(theta_0)] - lam [L(theta_k) - L*]
  obeys G_k >= Delta_0 [1 - q^k - c_eta (1 - q^{k/2})^2],
  c_eta = lam beta_sft beta_rl eta^2 / (1 - sqrt q)^2; the right side is largest at
  k* = 2 ln(c_eta/(1 + c_eta)) / ln q, where it equals Delta_0/(1 + c_eta); the best
  integer step count is floor(k*) or floor(k*) + 1;
* eta -> 0 with eta k = t: (1 - sqrt q)/eta -> mu_rl, q^{k/2} -> e^{-mu_rl t},
  c_eta -> c = lam beta_sft beta_rl / mu_rl^2 and eta k* -> t* = ln(1 + 1/c)/mu_rl (P3);
* all of the above only uses Delta_{k+1} <= q Delta_k, so any valid one-step contraction
  may replace q. The sharpest closed form known is Theorem 3 of Abbaszadehpeivasti, de
  Klerk and Zamani (2023) with weak-convexity parameter m = -beta (every beta-smooth
  function is (-beta)-weakly convex), x = beta eta:

      q_ADZ = ((mu (1 - x) + sqrt(4 beta^2 - 2 beta (beta + mu) mu eta (2 - x))) / (2 beta + mu))^2
                                                   for 0 < x < 1,
            = 1 - mu eta (4 - x^2) / (2 + mu eta)   for 1 <= x <= sqrt 3,
            = (x - 1)^2 / ((x - 1)^2 + mu eta (2 - x)) for sqrt 3 < x < 2,

  and q_ADZ <= q for every eta in (0, 2/beta) (proved below; equality iff mu = beta),
  so q_sharp = min(q, q_ADZ) = q_ADZ.

Corrected from THEORY.md: (i) THEORY.md calls q_ADZ "the tight worst-case rate". It is
the tight rate of the relaxation Abbaszadehpeivasti et al. analyse (PEPit's
``SmoothQuadraticLojasiewiczFunctionCheap`` reproduces it), not of the function class:
PEPit's stronger ``SmoothQuadraticLojasiewiczFunctionExpensive`` description (Rubbens,
Hendrickx, Taylor 2025) certifies a smaller one-step worst case, e.g. 0.6833 instead of
q_ADZ = 8/11 = 0.7273 at mu/beta = 0.2, eta = 1/beta (``benchmarks/pepit_adz_check.py``).
q_ADZ remains a proven valid rate; q and q_ADZ are attained, and coincide, only at
mu = beta (the quadratic (beta/2) x^2). (ii) The second path-length bound is correct but
its eta -> 0 limit is sqrt(2 Delta_0/mu), not P1's sqrt(2 Delta_0/mu)(1 - e^{-beta t}):
"eta -> 0 gives P1" holds for the first path-length bound, the reward side and P3. The
lower descent lemma Delta_{k+1} >= (1 - 2 beta eta - beta^2 eta^2) Delta_k (proved below)
restores the factor (1 - p^{k/2}) with p = max(0, 1 - 2 beta eta - beta^2 eta^2).
(iii) "gain >= Delta_0/(1 + c_eta)" holds only at the continuous k*, which is not a step
count. At the integer K* the guarantee is Delta_0 [1 - q^K - c_eta (1 - q^{K/2})^2] <=
Delta_0/(1 + c_eta), and the true gain can be smaller than Delta_0/(1 + c_eta): for
L = (1/2)|theta - a|^2, R = (1/2)|theta - b|^2 (all constants 1), eta = 1 (q = 0) and
lam = 1/2, c_eta = 1/2 and Delta_0/(1 + c_eta) = (2/3) Delta_0, but one step lands on b and
every k >= 1 gains exactly Delta_0 - lam |a - b|^2/2 = Delta_0/2. The gap vanishes as eta -> 0.

Proof sketch
------------
Descent lemma R(theta - eta g) <= R(theta) - eta (1 - beta eta/2) ||g||^2 plus PL
||g||^2 >= 2 mu Delta give Delta_{k+1} <= q Delta_k. Each step has length
eta ||g_k|| <= eta sqrt(2 beta Delta_k) <= eta sqrt(2 beta Delta_0) q^{k/2}; summing the
geometric series gives the first bound. For the second, sqrt(Delta_j) - sqrt(Delta_{j+1})
= (Delta_j - Delta_{j+1}) / (sqrt Delta_j + sqrt Delta_{j+1})
>= eta (1 - beta eta/2) ||g_j||^2 / (2 sqrt Delta_j) >= eta ||g_j|| (1 - beta eta/2) sqrt(mu/2)
(PL once more), which telescopes. With theta_0 in S_L, smoothness of L gives
L(theta_k) - L* <= (beta_sft/2) ell_k^2; with x = q^{k/2} the gain bound is the concave
quadratic 1 - x^2 - c_eta (1 - x)^2 in x, maximized at x = c_eta/(1 + c_eta). For q_ADZ,
ranges 2 and 3 are below q by explicit nonnegative differences; in range 1, with
kappa = mu/beta, s = x (2 - x), A = 1 - x = sqrt(1 - s) and B = sqrt(1 - kappa (1 + kappa) s/2),
sqrt(q_ADZ) (2 + kappa) = kappa A + 2 B and the weighted Cauchy-Schwarz inequality
(kappa A + 2 B)^2 <= (kappa + 2)(kappa A^2 + 2 B^2) = (kappa + 2)^2 (1 - kappa s) = (kappa + 2)^2 q.

Numerics: q is printed as (1 - beta eta)^2 + (beta - mu) eta (2 - beta eta) and the
q_ADZ pieces as sums of nonnegative terms (no cancellation as q -> 0), 1 - sqrt q as
(1 - q)/(1 + sqrt q) with 1 - q formed from its factors (no cancellation as q -> 1), and
k* and the gain through log1p/expm1. q_ADZ's range 1 is printed in kappa = mu/beta and
x = beta eta (dimensionless: no beta^2 that underflows where beta eta < 1e-154), and every
curvature's 1/2 is a factor of its own in the scaled products (exact for a subnormal one).

References
----------
H. Abbaszadehpeivasti, E. de Klerk, M. Zamani, "Conditions for linear convergence of the
gradient method for non-convex optimization", Optimization Letters 17 (2023), Theorem 3;
arXiv:2204.00647. Formula as implemented in PEPit's
``examples/nonconvex_optimization/gradient_descent_quadratic_lojasiewicz_*.py`` (whose
first range squares only the square root, a misplaced parenthesis) and in AutoLyap's
"gradient method: gradient-dominated and smooth" example (whole numerator squared).
H. Karimi, J. Nutini, M. Schmidt, "Linear convergence of gradient and proximal-gradient
methods under the Polyak-Lojasiewicz condition", ECML-PKDD 2016.
A. Rubbens, J. M. Hendrickx, A. Taylor, "A constructive approach to strengthen algebraic
descriptions of function and operator classes", arXiv:2504.14377 (2025).
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from nondecoupling.derivations._codegen import HALF, ClosedForm, LogOfProduct, ScaledProduct, quartered_exp
from nondecoupling.derivations._proof import Derivation, true, zero

mu, beta, eta = sp.symbols("mu beta eta", positive=True)
lam, mu_rl, beta_rl, beta_sft = sp.symbols("lam mu_rl beta_rl beta_sft", positive=True)
rate_sqrt_deficit, tradeoff = sp.symbols("rate_sqrt_deficit tradeoff", positive=True)
deficit_ratio = sp.Symbol("deficit_ratio", positive=True)  # (1 - sqrt q)/(mu eta), a normal float
steps = sp.Symbol("steps", nonnegative=True)
gap0, rl_gap0, sep = sp.symbols("gap0 rl_gap0 sep", nonnegative=True)
mu_sft = sp.Symbol("mu_sft", positive=True)

SQRT3 = sp.sqrt(3)


def gd_rate_textbook(mu_: sp.Expr, beta_: sp.Expr, eta_: sp.Expr) -> sp.Expr:
    """q = 1 - mu eta (2 - eta beta), as THEORY.md states it."""
    return 1 - mu_ * eta_ * (2 - eta_ * beta_)


def gd_rate(mu_: sp.Expr, beta_: sp.Expr, eta_: sp.Expr) -> sp.Expr:
    """q as a sum of nonnegative terms (accurate as q -> 0)."""
    return (1 - beta_ * eta_) ** 2 + (beta_ - mu_) * eta_ * (2 - beta_ * eta_)


def gd_rate_sqrt_deficit(mu_: sp.Expr, beta_: sp.Expr, eta_: sp.Expr) -> sp.Expr:
    """1 - sqrt(q) = (1 - q)/(1 + sqrt q) (accurate as q -> 1)."""
    return mu_ * eta_ * (2 - beta_ * eta_) / (1 + sp.sqrt(gd_rate(mu_, beta_, eta_)))


def gd_rate_sqrt_deficit_ratio(mu_: sp.Expr, beta_: sp.Expr, eta_: sp.Expr) -> sp.Expr:
    """(1 - sqrt q)/(mu eta) = (2 - beta eta)/(1 + sqrt q): at least 2**-53 (beta eta < 2 is a float
    below 2), so a normal float even where mu eta (2 - beta eta), hence 1 - sqrt q, is subnormal."""
    return (2 - beta_ * eta_) / (1 + sp.sqrt(gd_rate(mu_, beta_, eta_)))


def adz_rate_paper(mu_: sp.Expr, beta_: sp.Expr, eta_: sp.Expr, m: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr, sp.Expr]:
    """Theorem 3 of Abbaszadehpeivasti-de Klerk-Zamani, weak-convexity parameter m, PL mu_."""
    first = ((mu_ * (1 - beta_ * eta_)
              + sp.sqrt((beta_ - m) * (m - mu_) * (2 - beta_ * eta_) * mu_ * eta_ + (beta_ - m) ** 2))
             / (beta_ - m + mu_)) ** 2
    second = (beta_ * eta_ - 2) * (m * eta_ - 2) * mu_ * eta_ / ((beta_ + m - mu_) * eta_ - 2) + 1
    third = (beta_ * eta_ - 1) ** 2 / ((beta_ * eta_ - 1) ** 2 + mu_ * eta_ * (2 - beta_ * eta_))
    split = 3 / (m + beta_ + sp.sqrt(m**2 - m * beta_ + beta_**2))
    return first, second, third, split


def _adz_discriminant(mu_, beta_, eta_):
    """4 beta^2 - 2 beta (beta + mu) mu eta (2 - beta eta), as a sum of nonnegative terms."""
    return (4 * beta_**2 * (1 - beta_ * eta_) ** 2
            + 2 * beta_ * eta_ * (2 - beta_ * eta_) * (beta_ - mu_) * (2 * beta_ + mu_))


def _adz_half_root(mu_, beta_, eta_):
    """sqrt(discriminant)/(2 beta) in kappa = mu/beta and x = beta eta, a sum of nonnegative terms:
    dimensionless, so nothing underflows where beta^2 (of beta eta, say) would."""
    x, kappa = beta_ * eta_, mu_ / beta_
    return sp.sqrt((1 - x) ** 2 + x * (2 - x) * (1 - kappa) * (2 + kappa) / 2)


def adz_pieces(mu_: sp.Expr, beta_: sp.Expr, eta_: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """The three q_ADZ pieces, shaped as sums of nonnegative terms (range 1 in kappa = mu/beta)."""
    x, kappa = beta_ * eta_, mu_ / beta_
    first = ((kappa * (1 - x) + 2 * _adz_half_root(mu_, beta_, eta_)) / (2 + kappa)) ** 2
    # Two separate terms: sympy would distribute 2 (beta - mu) into 2 beta - 2 mu and cancel.
    second = (2 * (beta_ - mu_) / (beta_ * (2 + mu_ * eta_))
              + mu_ * (x - 1) ** 2 * (x + 2) / (beta_ * (2 + mu_ * eta_)))
    third = (x - 1) ** 2 / ((x - 1) ** 2 + mu_ * eta_ * (2 - x))
    return first, second, third


def _adz_one_minus_rate(mu_, beta_, eta_):
    """1 - q_ADZ on ranges 2 and 3, formed from factors (accurate as q_ADZ -> 1)."""
    x = beta_ * eta_
    second = mu_ * eta_ * (2 - x) * (2 + x) / (2 + mu_ * eta_)
    third = mu_ * eta_ * (2 - x) / ((x - 1) ** 2 + mu_ * eta_ * (2 - x))
    return second, third


def _adz_first_sqrt_deficit(mu_, beta_, eta_, half_root):
    """1 - sqrt(q_ADZ) on range 1, given half_root = sqrt(discriminant)/(2 beta) (dimensionless)."""
    x, kappa = beta_ * eta_, mu_ / beta_
    # 1 - half_root = (1 - half_root^2)/(1 + half_root): no cancellation as eta -> 0; kappa x = mu eta.
    return (mu_ * eta_ + (1 + kappa) * mu_ * eta_ * (2 - x) / (1 + half_root)) / (2 + kappa)


def adz_sqrt_deficit_pieces(mu_: sp.Expr, beta_: sp.Expr, eta_: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """1 - sqrt(q_ADZ) on each range, free of cancellation as q_ADZ -> 1."""
    _, second_rate, third_rate = adz_pieces(mu_, beta_, eta_)
    second, third = _adz_one_minus_rate(mu_, beta_, eta_)
    return (_adz_first_sqrt_deficit(mu_, beta_, eta_, _adz_half_root(mu_, beta_, eta_)),
            second / (1 + sp.sqrt(second_rate)),
            third / (1 + sp.sqrt(third_rate)))


def adz_sqrt_deficit_ratio_pieces(mu_: sp.Expr, beta_: sp.Expr, eta_: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(1 - sqrt(q_ADZ))/(mu eta) on each range: each at least of order 2 - beta eta, a normal float."""
    x, kappa = beta_ * eta_, mu_ / beta_
    _, second_rate, third_rate = adz_pieces(mu_, beta_, eta_)
    return ((1 + (1 + kappa) * (2 - x) / (1 + _adz_half_root(mu_, beta_, eta_))) / (2 + kappa),
            (2 - x) * (2 + x) / ((2 + mu_ * eta_) * (1 + sp.sqrt(second_rate))),
            (2 - x) / (((x - 1) ** 2 + mu_ * eta_ * (2 - x)) * (1 + sp.sqrt(third_rate))))


def factored_deficit(mu_: sp.Expr, eta_: sp.Expr, ratio: sp.Expr) -> tuple[sp.Expr, tuple[sp.Expr, sp.Expr, sp.Expr]]:
    """(d, factors): d = 1 - sqrt q as a float at most 1 (for log1p and the branch tests) and as the
    factors (mu, eta, ratio) of a scaled product. mu eta (2 - beta eta) is subnormal where mu eta is a
    normal float and beta eta is within 2**-52 of 2; the float d then has few bits, its factors all 53."""
    return sp.Min(1, ScaledProduct(mu_, eta_, ratio)), (mu_, eta_, ratio)


def _by_range(pieces, beta_, eta_):
    first, second, third = pieces
    return sp.Piecewise((first, beta_ * eta_ < 1), (second, beta_ * eta_ <= SQRT3), (third, True))


def tradeoff_constant(lam_: sp.Expr, beta_sft_: sp.Expr, beta_rl_: sp.Expr, eta_: sp.Expr, deficit: sp.Expr) -> sp.Expr:
    """c_eta = lam beta_sft beta_rl eta^2 / (1 - sqrt q)^2."""
    return lam_ * beta_sft_ * beta_rl_ * (eta_ / deficit) ** 2


def continuous_optimal_steps(tradeoff_: sp.Expr, deficit: sp.Expr) -> sp.Expr:
    """k* = 2 ln(c/(1 + c)) / ln q, with q = (1 - deficit)^2, via log1p."""
    return -log1p(1 / tradeoff_) / log1p(-deficit)


def _gain_ratio_after_moving(steps_, tradeoff_, deficit):
    log_sqrt_rate = log1p(-deficit)
    return -expm1(2 * steps_ * log_sqrt_rate) - tradeoff_ * expm1(steps_ * log_sqrt_rate) ** 2


def sqrt_rate_power(steps_: sp.Expr, deficit: sp.Expr) -> sp.Expr:
    """q^{k/2} = (1 - deficit)^k via exp/log1p (accurate as q -> 1); 1 at k = 0 even for q = 0."""
    return sp.Piecewise((1, sp.Eq(steps_, 0)), (sp.exp(steps_ * log1p(-deficit)), True))


def geometric_sum(steps_: sp.Expr, ratio_deficit: sp.Expr) -> sp.Expr:
    """sum_{j<k} (1 - d)^j = (1 - (1 - d)^k)/d; k where k d < 2**-60 (also where it underflows); 0 at k = 0."""
    return sp.Piecewise((0, sp.Eq(steps_, 0)), (steps_, steps_ * ratio_deficit < sp.Rational(1, 2**60)),
                        (1, ratio_deficit >= 1),  # ratio 0: only the first term (log1p(-1) = -inf)
                        (-expm1(steps_ * log1p(-ratio_deficit)) / ratio_deficit, True))


def discrete_path_forms(steps_: sp.Expr, gap0_: sp.Expr, mu_: sp.Expr, beta_: sp.Expr, eta_: sp.Expr, deficit: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """The two path-length bounds of k GD steps, as scaled products (no intermediate overflow)."""
    from_steps = ScaledProduct(eta_, sp.sqrt(2), sp.sqrt(beta_), sp.sqrt(gap0_), geometric_sum(steps_, deficit))
    from_decay = ScaledProduct(sp.sqrt(2), sp.sqrt(gap0_), 1 / sp.sqrt(mu_), 1 / (1 - eta_ * beta_ / 2))
    return from_steps, from_decay


def discrete_path_length(steps_: sp.Expr, gap0_: sp.Expr, mu_: sp.Expr, beta_: sp.Expr, eta_: sp.Expr, deficit: sp.Expr) -> sp.Expr:
    """ell_k: the smaller of the two discrete path-length bounds."""
    return sp.Min(*discrete_path_forms(steps_, gap0_, mu_, beta_, eta_, deficit))


def discrete_sft_excess_lower(steps_: sp.Expr, gap0_: sp.Expr, sep_: sp.Expr, mu_rl_: sp.Expr, mu_sft_: sp.Expr, deficit: sp.Expr) -> sp.Expr:
    """P1's lower envelope with e^{-mu_rl t} -> q^{k/2}."""
    # reach q^{k/2}, q^{k/2} = e^{k log(1 - d)} in quarters for k >= 1 (subnormal past 708, where the
    # product may not be; k = 0 apart, as in sqrt_rate_power: 0 log(0) is NaN at q = 0).
    reach = (sp.sqrt(2), sp.sqrt(gap0_), 1 / sp.sqrt(mu_rl_))
    decayed = sp.Piecewise((ScaledProduct(*reach), sp.Eq(steps_, 0)),
                           (ScaledProduct(*reach, *quartered_exp(steps_ * log1p(-deficit))), True))
    distance = sp.Max(0, sep_ - decayed)
    return ScaledProduct(HALF, mu_sft_, distance, distance)


def lower_rate_deficit(beta_: sp.Expr, eta_: sp.Expr) -> sp.Expr:
    """1 - p with p = max(0, 1 - 2 beta eta - beta^2 eta^2), the lower descent-lemma rate."""
    return sp.Min(1, beta_ * eta_ * (2 + beta_ * eta_))


def discrete_gain_bounds(steps_: sp.Expr, gap0_: sp.Expr, beta_: sp.Expr, eta_: sp.Expr, deficit: sp.Expr, factors: Sequence[sp.Expr] | None = None) -> tuple[sp.Expr, sp.Expr]:
    """Delta_0 (1 - q^k) <= Delta_0 - Delta_k <= Delta_0 (1 - p^k), as scaled products:
    1 - q^k = d G_k (1 + q^{k/2}) with G_k = geometric_sum(k, d), 1 - p^k = u G_k(u); d enters the
    product as ``factors`` (default: d itself; see factored_deficit)."""
    upper_deficit = lower_rate_deficit(beta_, eta_)
    return (ScaledProduct(gap0_, *(factors or (deficit,)), geometric_sum(steps_, deficit), 1 + sqrt_rate_power(steps_, deficit)),
            ScaledProduct(gap0_, upper_deficit, geometric_sum(steps_, upper_deficit)))


def discrete_net_gain_form(steps_: sp.Expr, gap0_: sp.Expr, lam_: sp.Expr, beta_sft_: sp.Expr, beta_rl_: sp.Expr, eta_: sp.Expr, deficit: sp.Expr, factors: Sequence[sp.Expr] | None = None) -> sp.Expr:
    """Delta_0 [1 - q^k - c_eta (1 - q^{k/2})^2] = Delta_0 d G (1 + q^{k/2}) - Delta_0 lam beta_sft beta_rl eta^2 G^2
    (d as ``factors`` in the product, see discrete_gain_bounds)."""
    total = geometric_sum(steps_, deficit)
    return (ScaledProduct(gap0_, *(factors or (deficit,)), total, 1 + sqrt_rate_power(steps_, deficit))
            - ScaledProduct(gap0_, lam_, beta_sft_, beta_rl_, eta_, eta_, total, total))


def stable_optimal_steps(lam_: sp.Expr, beta_sft_: sp.Expr, beta_rl_: sp.Expr, eta_: sp.Expr, deficit: sp.Expr, factors: Sequence[sp.Expr] | None = None) -> sp.Expr:
    """k* = log1p(1/c_eta) / (-log1p(-d)), 1/c_eta = d^2/(lam beta_sft beta_rl eta^2) scaled; log1p(x) taken as
    log(x) above 2**60 and x below 2**-60 (errors < 2**-60 relative), as in P3. 1/(-log1p(-d)) is
    (d/(-log1p(-d))) / d, a ratio in [0, 1] (1 for a tiny d) over d's ``factors`` (see discrete_gain_bounds)."""
    factors = factors or (deficit,)
    costs = (1 / lam_, 1 / beta_sft_, 1 / beta_rl_, 1 / eta_, 1 / eta_)
    inverse = ScaledProduct(*factors, *factors, *costs)
    linear_ratio = deficit / -log1p(-deficit)  # d over -ln sqrt(q) > 0: 1 as d -> 0, 0 at q = 0
    per_deficit = (linear_ratio, *(1 / factor for factor in factors))
    return sp.Piecewise(
        (ScaledProduct(LogOfProduct(*factors, *factors, *costs), *per_deficit), inverse > sp.Integer(2) ** 60),
        (ScaledProduct(*factors, *costs, linear_ratio), inverse < sp.Rational(1, 2**60)),
        (ScaledProduct(log1p(inverse), *per_deficit), True))


def _plain(expr):
    """Undo the C99 helpers so that sympy's simplifier can compare forms."""
    return expr.rewrite(sp.exp).rewrite(sp.log)


def _descent_steps(d):
    delta, delta_next, grad_sq, delta0, r, k = sp.symbols("Delta Delta_next G2 Delta_0 r k", positive=True)
    q = gd_rate_textbook(mu, beta, eta)
    # Parametrize the admissible set: beta = mu + nu (nu >= 0), eta = 2/(beta (1 + w)), w > 0.
    nu = sp.Symbol("nu", nonnegative=True)
    w = sp.Symbol("w", positive=True)
    admissible = {beta: mu + nu, eta: 2 / ((mu + nu) * (1 + w))}
    d.steps += [
        zero("descent lemma + PL: Delta - eta (1 - beta eta/2) 2 mu Delta = q Delta",
             delta - eta * (1 - beta * eta / 2) * 2 * mu * delta - q * delta),
        zero("q = (1 - beta eta)^2 + (beta - mu) eta (2 - beta eta) (printed form)",
             q - gd_rate(mu, beta, eta)),
        true("q >= 0 for 0 < mu <= beta, 0 < eta < 2/beta",
             sp.Ge(gd_rate(mu, beta, eta).subs(admissible), 0)),
        true("q < 1, i.e. 1 - q = mu eta (2 - beta eta) > 0 on the same set",
             sp.Gt(sp.factor((1 - q).subs(admissible)), 0)),
        zero("1 - sqrt q = mu eta (2 - beta eta)/(1 + sqrt q) (printed form)",
             (1 - sp.sqrt(q)) - gd_rate_sqrt_deficit(mu, beta, eta)),
        zero("1 - sqrt q = mu eta deficit_ratio (printed ratio form)",
             gd_rate_sqrt_deficit(mu, beta, eta) - mu * eta * gd_rate_sqrt_deficit_ratio(mu, beta, eta)),
    ]
    # Path length, bound 1: sum_{j<k} eta sqrt(2 beta Delta_0) r^j with r = sqrt q, by induction.
    step0 = eta * sp.sqrt(2 * beta * delta0)
    closed = step0 * (1 - r**k) / (1 - r)
    d.steps += [
        zero("step length eta ||g_k|| <= eta sqrt(2 beta Delta_k) <= eta sqrt(2 beta Delta_0) q^{k/2}",
             eta * sp.sqrt(2 * beta * r**(2 * k) * delta0) - step0 * r**k),
        zero("geometric sum, base case k = 0", closed.subs(k, 0)),
        zero("geometric sum, induction step S(k+1) - S(k) = eta sqrt(2 beta Delta_0) q^{k/2}",
             closed.subs(k, k + 1) - closed - step0 * r**k),
    ]
    # Path length, bound 2: per-step inequality, then telescoping of sqrt(Delta).
    grad = sp.sqrt(grad_sq)
    d.steps += [
        zero("sqrt Delta_j - sqrt Delta_{j+1} = (Delta_j - Delta_{j+1})/(sqrt Delta_j + sqrt Delta_{j+1})",
             sp.sqrt(delta) - sp.sqrt(delta_next)
             - (delta - delta_next) / (sp.sqrt(delta) + sp.sqrt(delta_next))),
        zero("descent lemma over 2 sqrt Delta_j <= 2 ||g_j||/sqrt(2 mu) (PL): "
             "eta ||g_j|| (1 - beta eta/2) sqrt(mu/2)",
             eta * (1 - beta * eta / 2) * grad_sq / (2 * grad / sp.sqrt(2 * mu))
             - eta * grad * (1 - beta * eta / 2) * sp.sqrt(mu / 2)),
        zero("telescoping: sqrt(Delta_0) / ((1 - beta eta/2) sqrt(mu/2)) = sqrt(2 Delta_0/mu)/(1 - eta beta/2)",
             sp.sqrt(delta0) / ((1 - beta * eta / 2) * sp.sqrt(mu / 2))
             - sp.sqrt(2 * delta0 / mu) / (1 - eta * beta / 2)),
        zero("lower descent lemma + ||g||^2 <= 2 beta Delta: Delta_{k+1} >= (1 - 2 beta eta - beta^2 eta^2) Delta_k",
             delta - eta * (1 + beta * eta / 2) * 2 * beta * delta
             - (1 - 2 * beta * eta - beta**2 * eta**2) * delta),
    ]


def _envelope_steps(d):
    k, r = sp.symbols("k r", positive=True)  # r = sqrt(q) in (0, 1)
    deficit = 1 - r

    def plain(expr):
        """Main branches (k > 0, k d >= 2**-60), products multiplied out, C99 helpers undone."""
        main = expr.replace(lambda e: isinstance(e, sp.Piecewise), lambda e: e.args[-1].expr).doit()
        return sp.powsimp(_plain(main), force=True)

    from_steps, from_decay = discrete_path_forms(k, gap0, mu, beta, eta, deficit)
    gain_lower, _ = discrete_gain_bounds(k, gap0, beta, eta, deficit)
    x = beta * eta
    by_factors = (mu, eta, deficit / (mu * eta))
    theory_gain = gap0 * (1 - r ** (2 * k)) - lam * beta_sft * beta_rl * eta**2 / (1 - r) ** 2 * gap0 * (1 - r**k) ** 2
    d.steps += [
        zero("path bound 1 printed as eta sqrt(2 beta Delta_0)(1 - q^{k/2})/(1 - sqrt q)",
             sp.simplify(plain(from_steps) - eta * sp.sqrt(2 * beta * gap0) * (1 - r**k) / (1 - r))),
        zero("path bound 2 printed as sqrt(2 Delta_0/mu)/(1 - eta beta/2)",
             sp.simplify(plain(from_decay) - sp.sqrt(2 * gap0 / mu) / (1 - eta * beta / 2))),
        zero("q^{k/2} printed via exp(k log1p(-(1 - sqrt q)))", plain(sqrt_rate_power(k, deficit)) - r**k),
        zero("reward gain lower bound printed as Delta_0 d G_k (1 + q^{k/2}) = Delta_0 (1 - q^k)",
             sp.simplify(plain(gain_lower) - gap0 * (1 - r ** (2 * k)))),
        zero("net gain printed equals Delta_0 [1 - q^k - c_eta (1 - q^{k/2})^2]",
             sp.simplify(plain(discrete_net_gain_form(k, gap0, lam, beta_sft, beta_rl, eta, deficit)) - theory_gain)),
        zero("1 - p = beta eta (2 + beta eta) where p = 1 - 2 beta eta - beta^2 eta^2 >= 0",
             1 - (1 - 2 * x - x**2) - x * (2 + x)),
        zero("q depends on mu eta and beta eta only: q(mu, beta, eta) = q(mu eta, beta eta, 1)",
             gd_rate(mu, beta, eta) - gd_rate(mu * eta, beta * eta, 1)),
        zero("so does q_ADZ (range 1, the one with beta^2): homogeneous of degree 0",
             sp.simplify(adz_pieces(mu, beta, eta)[0] - adz_pieces(mu * eta, beta * eta, 1)[0])),
        zero("reward gain lower bound with d as factors (mu, eta, d/(mu eta)) equals Delta_0 (1 - q^k)",
             sp.simplify(plain(discrete_gain_bounds(k, gap0, beta, eta, deficit, by_factors)[0])
                         - gap0 * (1 - r ** (2 * k)))),
        zero("net gain with d as factors (mu, eta, d/(mu eta)) equals Delta_0 [1 - q^k - c_eta (1 - q^{k/2})^2]",
             sp.simplify(plain(discrete_net_gain_form(k, gap0, lam, beta_sft, beta_rl, eta, deficit, by_factors))
                         - theory_gain)),
        zero("k* printed (middle range, d as factors (mu, eta, d/(mu eta))) equals 2 ln(c_eta/(1 + c_eta)) / ln q",
             sp.simplify(plain(stable_optimal_steps(lam, beta_sft, beta_rl, eta, deficit, by_factors).args[2][0])
                         - 2 * sp.log(1 / (1 + (1 - r) ** 2 / (lam * beta_sft * beta_rl * eta**2))) / sp.log(r**2))),
        zero("k* printed (middle range) equals 2 ln(c_eta/(1 + c_eta)) / ln q",
             sp.simplify(plain(stable_optimal_steps(lam, beta_sft, beta_rl, eta, deficit).args[2][0])
                         - 2 * sp.log(1 / (1 + (1 - r) ** 2 / (lam * beta_sft * beta_rl * eta**2))) / sp.log(r**2))),
    ]


def _tradeoff_steps(d):
    delta0, x, c, q = sp.symbols("Delta_0 x c q", positive=True)
    deficit = 1 - sp.sqrt(q)
    ell = eta * sp.sqrt(2 * beta_rl * delta0) * (1 - x) / deficit
    c_eta = tradeoff_constant(lam, beta_sft, beta_rl, eta, deficit)
    bound = delta0 * (1 - x**2) - lam * beta_sft / 2 * ell**2
    ratio = 1 - x**2 - c * (1 - x) ** 2
    x_star = c / (1 + c)
    k_star = 2 * sp.log(x_star) / sp.log(q)
    d.results.update(c_eta=c_eta, k_star=k_star, gain=delta0 / (1 + c))
    d.steps += [
        zero("Delta_0 (1 - q^k) - lam (beta_sft/2) ell_k^2 = Delta_0 [1 - x^2 - c_eta (1 - x)^2], x = q^{k/2}",
             bound - delta0 * ratio.subs(c, c_eta)),
        zero("d/dx [1 - x^2 - c (1 - x)^2] = 0 at x* = c/(1 + c)", sp.diff(ratio, x).subs(x, x_star)),
        true("the gain bound is concave in x", sp.Lt(sp.diff(ratio, x, 2), 0)),
        zero("gain at x*: Delta_0/(1 + c)", delta0 * ratio.subs(x, x_star) - delta0 / (1 + c)),
        zero("q^{k*/2} = x* for k* = 2 ln(c/(1 + c))/ln q", sp.powsimp(q ** (k_star / 2), force=True) - x_star),
        zero("k* = -log1p(1/c)/log1p(-(1 - sqrt q)) (printed form)",
             k_star - _plain(continuous_optimal_steps(c, deficit))),
        zero("gain ratio via expm1/log1p equals 1 - q^k - c (1 - q^{k/2})^2 (printed form)",
             sp.powsimp(_plain(_gain_ratio_after_moving(x, c, deficit))
                        - ratio.subs(x, sp.sqrt(q) ** x), force=True)),
        zero("c_eta = lam beta_sft beta_rl (1 + sqrt q)^2 / (mu_rl^2 (2 - eta beta_rl)^2) for the GD rate",
             tradeoff_constant(lam, beta_sft, beta_rl, eta, gd_rate_sqrt_deficit(mu_rl, beta_rl, eta))
             - lam * beta_sft * beta_rl * (1 + sp.sqrt(gd_rate(mu_rl, beta_rl, eta))) ** 2
             / (mu_rl**2 * (2 - eta * beta_rl) ** 2)),
    ]


def _continuum_limit_steps(d):
    t, delta0 = sp.symbols("t Delta_0", positive=True)
    q = gd_rate_textbook(mu_rl, beta_rl, eta)
    deficit = 1 - sp.sqrt(q)
    c = lam * beta_sft * beta_rl / mu_rl**2
    c_eta = tradeoff_constant(lam, beta_sft, beta_rl, eta, deficit)
    t_star = sp.log(1 + 1 / c) / mu_rl
    decay = sp.limit(q ** (t / (2 * eta)), eta, 0, "+")
    d.results.update(c=c, t_star=t_star)
    d.steps += [
        zero("(1 - sqrt q)/eta -> mu_rl as eta -> 0", sp.limit(deficit / eta, eta, 0, "+") - mu_rl),
        zero("q^{k/2} -> e^{-mu_rl t} for eta k = t", decay - sp.exp(-mu_rl * t)),
        zero("c_eta -> c = lam beta_sft beta_rl / mu_rl^2 (P3)", sp.limit(c_eta, eta, 0, "+") - c),
        zero("eta / ln q -> -1/(2 mu_rl), hence eta k* -> 2 ln(c/(1+c)) (-1/(2 mu_rl)) = t* (P3)",
             sp.limit(eta / sp.log(q), eta, 0, "+") * 2 * sp.log(c / (1 + c)) - t_star),
        zero("path bound 1 -> sqrt(2 beta_rl Delta_0)(1 - e^{-mu_rl t})/mu_rl (P1)",
             sp.limit(eta / deficit, eta, 0, "+") * sp.sqrt(2 * beta_rl * delta0) * (1 - decay)
             - sp.sqrt(2 * beta_rl * delta0) * (1 - sp.exp(-mu_rl * t)) / mu_rl),
        zero("lower rate 1 - 2 beta eta - beta^2 eta^2: its k/2 power -> e^{-beta_rl t} (P1's other factor)",
             sp.limit((1 - 2 * beta_rl * eta - beta_rl**2 * eta**2) ** (t / (2 * eta)), eta, 0, "+")
             - sp.exp(-beta_rl * t)),
    ]


def _adz_steps(d):
    m = sp.Symbol("m", real=True)
    paper = adz_rate_paper(mu, beta, eta, m)
    first_p, second_p, third_p, split = (piece.subs(m, -beta) for piece in paper)
    first, second, third = adz_pieces(mu, beta, eta)
    q = gd_rate_textbook(mu, beta, eta)
    d.steps += [
        zero("range split 3/(m + beta + sqrt(m^2 - m beta + beta^2)) = sqrt(3)/beta at m = -beta",
             split - SQRT3 / beta),
        zero("range 1 (beta eta < 1) printed form equals Theorem 3 at m = -beta", first - first_p),
        zero("range 2 (1 <= beta eta <= sqrt 3) printed form equals Theorem 3 at m = -beta", second - second_p),
        zero("range 3 (sqrt 3 < beta eta < 2) equals Theorem 3 at m = -beta", third - third_p),
        zero("continuous at beta eta = 1", (first - second).subs(eta, 1 / beta)),
        zero("continuous at beta eta = sqrt 3", (second - third).subs(eta, SQRT3 / beta)),
    ]
    r = sp.Symbol("r", positive=True)
    x = beta * eta
    one_minus_second, one_minus_third = _adz_one_minus_rate(mu, beta, eta)
    d.steps += [
        zero("range 1: the printed half root is sqrt(discriminant)/(2 beta)",
             _adz_half_root(mu, beta, eta) ** 2 - _adz_discriminant(mu, beta, eta) / (4 * beta**2)),
        zero("range 1: 1 - sqrt(q_ADZ) = 1 - (mu (1 - x) + 2 beta r)/(2 beta + mu) (printed form, r = half root)",
             sp.together((_adz_first_sqrt_deficit(mu, beta, eta, r)
                          - (1 - (mu * (1 - x) + 2 * beta * r) / (2 * beta + mu))) * (1 + r) * (2 * beta + mu)
                         - 2 * beta * (r**2 - _adz_discriminant(mu, beta, eta) / (4 * beta**2)))),
        zero("range 2: 1 - q_ADZ = mu eta (2 - x)(2 + x)/(2 + mu eta) (printed form)", 1 - second - one_minus_second),
        zero("range 3: 1 - q_ADZ = mu eta (2 - x)/((x - 1)^2 + mu eta (2 - x)) (printed form)",
             1 - third - one_minus_third),
        zero("1 - sqrt(r) = (1 - r)/(1 + sqrt r) (printed form on ranges 2, 3)",
             (1 - r) - (1 - r**2) / (1 + r)),
    ]
    d.steps += [zero(f"range {j}: 1 - sqrt(q_ADZ) = mu eta deficit_ratio (printed ratio form)",
                     sp.simplify(deficit - mu * eta * ratio))
                for j, deficit, ratio in zip((1, 2, 3), adz_sqrt_deficit_pieces(mu, beta, eta),
                                             adz_sqrt_deficit_ratio_pieces(mu, beta, eta))]
    # q_ADZ <= q, range by range.
    kappa, s, a, b = sp.symbols("kappa s A B", positive=True)
    d.steps += [
        zero("range 2: q - q_ADZ = mu eta^2 (2 - beta eta)(beta - mu)/(2 + mu eta) >= 0",
             q - second - mu * eta**2 * (2 - x) * (beta - mu) / (2 + mu * eta)),
        zero("range 3: q - q_ADZ = mu eta (2 - x)(beta - mu) eta (2 - x)/((x-1)^2 + mu eta (2 - x)) >= 0",
             q - third - (mu * eta * (2 - x)) * (beta - mu) * eta * (2 - x)
             / ((x - 1) ** 2 + mu * eta * (2 - x))),
        zero("range 1: q = 1 - kappa s with kappa = mu/beta, s = x (2 - x)",
             (q - (1 - kappa * s)).subs({mu: kappa * beta, s: x * (2 - x)})),
        zero("range 1: sqrt(q_ADZ)(2 + kappa) = kappa (1 - x) + 2 B with B^2 = 1 - kappa (1 + kappa) s/2",
             (_adz_discriminant(mu, beta, eta) / (4 * beta**2) - (1 - kappa * (1 + kappa) * s / 2))
             .subs({mu: kappa * beta, s: x * (2 - x)})),
        zero("range 1: (1 - x)^2 = 1 - s, so A = 1 - x = sqrt(1 - s) for x <= 1",
             ((1 - x) ** 2 - (1 - s)).subs(s, x * (2 - x))),
        zero("weighted Cauchy-Schwarz: (kappa + 2)(kappa A^2 + 2 B^2) - (kappa A + 2 B)^2 = 2 kappa (A - B)^2",
             (kappa + 2) * (kappa * a**2 + 2 * b**2) - (kappa * a + 2 * b) ** 2 - 2 * kappa * (a - b) ** 2),
        zero("kappa A^2 + 2 B^2 = (kappa + 2) q, hence (2 + kappa)^2 q_ADZ <= (2 + kappa)^2 q",
             kappa * (1 - s) + 2 * (1 - kappa * (1 + kappa) * s / 2) - (kappa + 2) * (1 - kappa * s)),
        zero("sanity: q_ADZ = 8/11 at mu/beta = 1/5, eta = 1/beta (THEORY.md: 0.7273 vs q = 0.8)",
             second.subs({mu: beta / 5, eta: 1 / beta}) - sp.Rational(8, 11)),
        zero("mu = beta: q_ADZ = q = (1 - beta eta)^2 on range 1, beta eta = 1/(1 + w) (attained by (beta/2) x^2)",
             (first - q).subs(mu, beta).subs(eta, 1 / (beta * (1 + sp.Symbol("w", positive=True))))),
        zero("mu = beta: q_ADZ = q on range 2", (second - q).subs(mu, beta)),
        zero("mu = beta: q_ADZ = q on range 3", (third - q).subs(mu, beta)),
    ]


def derive() -> Derivation:
    """Prove every algebraic step of P5 with sympy."""
    d = Derivation("P5")
    d.results.update(q=gd_rate_textbook(mu, beta, eta),
                     q_adz=_by_range(adz_pieces(mu, beta, eta), beta, eta))
    _descent_steps(d)
    _envelope_steps(d)
    _tradeoff_steps(d)
    _continuum_limit_steps(d)
    _adz_steps(d)
    return d


def closed_forms() -> list[ClosedForm]:
    """The generated numpy functions behind ``nondecoupling.discrete`` (all shaped by hand)."""
    return [
        ClosedForm("gd_rate", (mu, beta, eta), gd_rate(mu, beta, eta),
                   "P5: q = 1 - mu eta (2 - eta beta), printed as (1 - beta eta)^2 + (beta - mu) eta (2 - beta eta).",
                   rewrite=False),
        ClosedForm("gd_rate_sqrt_deficit", (mu, beta, eta), gd_rate_sqrt_deficit(mu, beta, eta),
                   "P5: 1 - sqrt(q) for the descent-lemma rate q.", rewrite=False),
        ClosedForm("adz_rate", (mu, beta, eta), _by_range(adz_pieces(mu, beta, eta), beta, eta),
                   "P5: q_ADZ, Abbaszadehpeivasti-de Klerk-Zamani (2023) Thm 3 with m = -beta.",
                   rewrite=False),
        ClosedForm("adz_rate_sqrt_deficit", (mu, beta, eta),
                   _by_range(adz_sqrt_deficit_pieces(mu, beta, eta), beta, eta),
                   "P5: 1 - sqrt(q_ADZ).", rewrite=False),
        ClosedForm("gd_rate_sqrt_deficit_ratio", (mu, beta, eta), gd_rate_sqrt_deficit_ratio(mu, beta, eta),
                   "P5: (1 - sqrt(q))/(mu eta), a normal float where 1 - sqrt(q) may be subnormal.", rewrite=False),
        ClosedForm("adz_rate_sqrt_deficit_ratio", (mu, beta, eta),
                   _by_range(adz_sqrt_deficit_ratio_pieces(mu, beta, eta), beta, eta),
                   "P5: (1 - sqrt(q_ADZ))/(mu eta).", rewrite=False),
        ClosedForm("discrete_path_length_bound", (steps, gap0, mu, beta, eta, deficit_ratio),
                   discrete_path_length(steps, gap0, mu, beta, eta, factored_deficit(mu, eta, deficit_ratio)[0]),
                   "P5: ell_k, bound on the path length of k GD steps with contraction (1 - mu eta deficit_ratio)^2.",
                   rewrite=False),
        ClosedForm("discrete_sft_excess_lower", (steps, rl_gap0, sep, mu_rl, mu_sft, eta, deficit_ratio),
                   discrete_sft_excess_lower(steps, rl_gap0, sep, mu_rl, mu_sft,
                                             factored_deficit(mu_rl, eta, deficit_ratio)[0]),
                   "P5: P1's lower SFT envelope after k GD steps on R, q^{k/2} for e^{-mu_rl t}.",
                   rewrite=False),
        ClosedForm("discrete_sft_excess_upper", (steps, rl_gap0, mu_rl, beta_rl, beta_sft, eta, deficit_ratio),
                   ScaledProduct(HALF, beta_sft, *[discrete_path_length(
                       steps, rl_gap0, mu_rl, beta_rl, eta, factored_deficit(mu_rl, eta, deficit_ratio)[0])] * 2),
                   "P5: P1's upper SFT envelope (beta_sft/2) ell_k^2 after k GD steps on R.", rewrite=False),
        ClosedForm("discrete_gain_lower", (steps, gap0, mu, eta, deficit_ratio),
                   discrete_gain_bounds(steps, gap0, beta, eta, *factored_deficit(mu, eta, deficit_ratio))[0],
                   "P5: Delta_0 (1 - q^k) <= Delta_0 - Delta_k, 1 - sqrt(q) = mu eta deficit_ratio.", rewrite=False),
        ClosedForm("discrete_gain_upper", (steps, gap0, beta, eta),
                   discrete_gain_bounds(steps, gap0, beta, eta, rate_sqrt_deficit)[1],
                   "P5: Delta_0 - Delta_k <= Delta_0 (1 - p^k), p = max(0, 1 - 2 beta eta - beta^2 eta^2).",
                   rewrite=False),
        ClosedForm("discrete_net_gain", (steps, rl_gap0, lam, beta_sft, mu_rl, beta_rl, eta, deficit_ratio),
                   discrete_net_gain_form(steps, rl_gap0, lam, beta_sft, beta_rl, eta,
                                          *factored_deficit(mu_rl, eta, deficit_ratio)),
                   "P5: Delta_0 [1 - q^k - c_eta (1 - q^{k/2})^2], the guaranteed net gain after k steps, "
                   "1 - sqrt(q) = mu_rl eta deficit_ratio.", rewrite=False),
        ClosedForm("optimal_steps", (lam, beta_sft, mu_rl, beta_rl, eta, deficit_ratio),
                   stable_optimal_steps(lam, beta_sft, beta_rl, eta, *factored_deficit(mu_rl, eta, deficit_ratio)),
                   "P5: k* = 2 ln(c_eta/(1 + c_eta)) / ln q, the continuous maximizer of the guarantee, "
                   "1 - sqrt(q) = mu_rl eta deficit_ratio.", rewrite=False),
    ]


if __name__ == "__main__":
    print(derive())
    # Theory next to an exact evaluation: one GD step on the PL, nonconvex
    # R(x) = x^2 + 3 sin(x)^2 of Karimi et al. (beta = 8; min |R'|^2/(2R) = 0.1755 on a fine
    # grid, so mu = 1/6 is valid), worst observed ratio.
    x0 = sp.Symbol("x0")
    r_expr = x0**2 + 3 * sp.sin(x0) ** 2
    beta_num, mu_num = 8, sp.Rational(1, 6)
    for eta_num in (sp.Rational(1, 16), sp.Rational(1, 8), sp.Rational(3, 16)):
        step = sp.Lambda(x0, x0 - eta_num * sp.diff(r_expr, x0))
        worst = max((r_expr.subs(x0, step(sp.Rational(j, 10))) / r_expr.subs(x0, sp.Rational(j, 10))).evalf(30)
                    for j in range(1, 60))
        rate = gd_rate(mu_num, beta_num, eta_num)
        sharp = _by_range(adz_pieces(mu_num, beta_num, eta_num), beta_num, eta_num)
        print(f"eta = {eta_num}: worst observed Delta_1/Delta_0 = {float(worst):.6f} "
              f"<= q_ADZ = {float(sharp):.6f} <= q = {float(rate):.6f}")

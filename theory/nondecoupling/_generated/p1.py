"""Generated from ``nondecoupling.derivations.p1_sft_then_rl`` (P1) by
``python -m nondecoupling.derivations.codegen``. Do not edit: change the derivation and
regenerate."""
# fmt: off
# ruff: noqa
import math
from functools import reduce
from nondecoupling._scaled import scaled_product, scaled_product_scalar
from numpy import exp, expm1, less, maximum, minimum, nan, select, sqrt


def path_length_bound(t, gap0, mu, beta):
    """P1: ell(t), bound on the path length of the flow on a (mu, beta) objective."""
    return reduce(minimum, [select([less(mu*t, 1/1152921504606846976),True], [scaled_product((sqrt(2), sqrt(beta), sqrt(gap0), t,), ()),scaled_product((sqrt(2), sqrt(beta), sqrt(gap0), -expm1(-mu*t),), (mu,))], default=nan), select([less(beta*t, 1/1152921504606846976),True], [scaled_product((sqrt(2), sqrt(gap0), beta, t,), (sqrt(mu),)),scaled_product((sqrt(2), sqrt(gap0), beta, -expm1(-beta*t),), (sqrt(mu), beta,))], default=nan)])


def path_length_bound_scalar(t, gap0, mu, beta):
    """P1: ell(t), bound on the path length of the flow on a (mu, beta) objective. (Python floats, math)"""
    return min(((scaled_product_scalar((math.sqrt(2), math.sqrt(beta), math.sqrt(gap0), t,), ())) if (mu*t < 1/1152921504606846976) else (scaled_product_scalar((math.sqrt(2), math.sqrt(beta), math.sqrt(gap0), -math.expm1(-mu*t),), (mu,)))), ((scaled_product_scalar((math.sqrt(2), math.sqrt(gap0), beta, t,), (math.sqrt(mu),))) if (beta*t < 1/1152921504606846976) else (scaled_product_scalar((math.sqrt(2), math.sqrt(gap0), beta, -math.expm1(-beta*t),), (math.sqrt(mu), beta,)))))


def sft_excess_lower(t, rl_gap0, sep, mu_rl, mu_sft):
    """P1: lower envelope of L(theta_t) - L* along the RL flow from S_L."""
    shared_1 = scaled_product((1/4, -mu_rl*t,), ())
    shared_0 = reduce(maximum, [0, sep - scaled_product((sqrt(2), sqrt(rl_gap0), exp(shared_1), exp(shared_1), exp(shared_1), exp(shared_1),), (sqrt(mu_rl),))])
    return scaled_product((1/2, mu_sft, shared_0, shared_0,), ())


def sft_excess_lower_scalar(t, rl_gap0, sep, mu_rl, mu_sft):
    """P1: lower envelope of L(theta_t) - L* along the RL flow from S_L. (Python floats, math)"""
    shared_1 = scaled_product_scalar((1/4, -mu_rl*t,), ())
    shared_0 = max(0, sep - scaled_product_scalar((math.sqrt(2), math.sqrt(rl_gap0), math.exp(shared_1), math.exp(shared_1), math.exp(shared_1), math.exp(shared_1),), (math.sqrt(mu_rl),)))
    return scaled_product_scalar((1/2, mu_sft, shared_0, shared_0,), ())


def sft_excess_upper(t, rl_gap0, mu_rl, beta_rl, beta_sft):
    """P1: upper envelope (beta_sft/2) ell(t)^2 of L(theta_t) - L*."""
    shared_0 = reduce(minimum, [select([less(mu_rl*t, 1/1152921504606846976),True], [scaled_product((sqrt(2), sqrt(beta_rl), sqrt(rl_gap0), t,), ()),scaled_product((sqrt(2), sqrt(beta_rl), sqrt(rl_gap0), -expm1(-mu_rl*t),), (mu_rl,))], default=nan), select([less(beta_rl*t, 1/1152921504606846976),True], [scaled_product((sqrt(2), sqrt(rl_gap0), beta_rl, t,), (sqrt(mu_rl),)),scaled_product((sqrt(2), sqrt(rl_gap0), beta_rl, -expm1(-beta_rl*t),), (sqrt(mu_rl), beta_rl,))], default=nan)])
    return scaled_product((1/2, beta_sft, shared_0, shared_0,), ())


def sft_excess_upper_scalar(t, rl_gap0, mu_rl, beta_rl, beta_sft):
    """P1: upper envelope (beta_sft/2) ell(t)^2 of L(theta_t) - L*. (Python floats, math)"""
    shared_0 = min(((scaled_product_scalar((math.sqrt(2), math.sqrt(beta_rl), math.sqrt(rl_gap0), t,), ())) if (mu_rl*t < 1/1152921504606846976) else (scaled_product_scalar((math.sqrt(2), math.sqrt(beta_rl), math.sqrt(rl_gap0), -math.expm1(-mu_rl*t),), (mu_rl,)))), ((scaled_product_scalar((math.sqrt(2), math.sqrt(rl_gap0), beta_rl, t,), (math.sqrt(mu_rl),))) if (beta_rl*t < 1/1152921504606846976) else (scaled_product_scalar((math.sqrt(2), math.sqrt(rl_gap0), beta_rl, -math.expm1(-beta_rl*t),), (math.sqrt(mu_rl), beta_rl,)))))
    return scaled_product_scalar((1/2, beta_sft, shared_0, shared_0,), ())


def start_reach(rl_gap0, mu_rl):
    """P1: sqrt(2 Delta_0/mu_rl) >= dist(theta_0, S_R) (QG), hence >= sep from an SFT optimum."""
    return scaled_product((sqrt(2), sqrt(rl_gap0),), (sqrt(mu_rl),))


def start_reach_scalar(rl_gap0, mu_rl):
    """P1: sqrt(2 Delta_0/mu_rl) >= dist(theta_0, S_R) (QG), hence >= sep from an SFT optimum. (Python floats, math)"""
    return scaled_product_scalar((math.sqrt(2), math.sqrt(rl_gap0),), (math.sqrt(mu_rl),))


def gain_lower(t, gap0, mu):
    """P1: gap0 (1 - e^{-2 mu t}) <= gap0 - gap(t), the flowed objective's own gain (PL decay)."""
    return select([less(mu*t, 1/2305843009213693952),True], [scaled_product((gap0, 2, mu, t,), ()),-gap0*expm1(-scaled_product((2, mu, t,), ()))], default=nan)


def gain_lower_scalar(t, gap0, mu):
    """P1: gap0 (1 - e^{-2 mu t}) <= gap0 - gap(t), the flowed objective's own gain (PL decay). (Python floats, math)"""
    return ((scaled_product_scalar((gap0, 2, mu, t,), ())) if (mu*t < 1/2305843009213693952) else (-gap0*math.expm1(-scaled_product_scalar((2, mu, t,), ()))))


def gain_upper(t, gap0, beta):
    """P1: gap0 - gap(t) <= gap0 (1 - e^{-2 beta t}) (smoothness: Delta_t >= Delta_0 e^{-2 beta t})."""
    return select([less(beta*t, 1/2305843009213693952),True], [scaled_product((gap0, 2, beta, t,), ()),-gap0*expm1(-scaled_product((2, beta, t,), ()))], default=nan)


def gain_upper_scalar(t, gap0, beta):
    """P1: gap0 - gap(t) <= gap0 (1 - e^{-2 beta t}) (smoothness: Delta_t >= Delta_0 e^{-2 beta t}). (Python floats, math)"""
    return ((scaled_product_scalar((gap0, 2, beta, t,), ())) if (beta*t < 1/2305843009213693952) else (-gap0*math.expm1(-scaled_product_scalar((2, beta, t,), ()))))

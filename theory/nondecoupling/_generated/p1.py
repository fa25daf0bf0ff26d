"""Generated from ``nondecoupling.derivations.p1_sft_then_rl`` (P1) by
``python -m nondecoupling.derivations.codegen``. Do not edit: change the derivation and
regenerate."""
# fmt: off
# ruff: noqa
from functools import reduce
from numpy import exp, expm1, maximum, minimum, sqrt


def path_length_bound(t, gap0, mu, beta):
    """P1: ell(t), bound on the path length of the flow on a (mu, beta) objective."""
    return reduce(minimum, [-sqrt(2)*sqrt(gap0)*expm1(-beta*t)/sqrt(mu), -sqrt(2)*sqrt(beta)*sqrt(gap0)*expm1(-mu*t)/mu])


def sft_excess_lower(t, rl_gap0, sep, mu_rl, mu_sft):
    """P1: lower envelope of L(theta_t) - L* along the RL flow from S_L."""
    return (1/2)*mu_sft*reduce(maximum, [0, sep - sqrt(2)*sqrt(rl_gap0)*exp(-mu_rl*t)/sqrt(mu_rl)])**2


def sft_excess_upper(t, rl_gap0, mu_rl, beta_rl, beta_sft):
    """P1: upper envelope (beta_sft/2) ell(t)^2 of L(theta_t) - L*."""
    return (1/2)*beta_sft*reduce(minimum, [-sqrt(2)*sqrt(rl_gap0)*expm1(-beta_rl*t)/sqrt(mu_rl), -sqrt(2)*sqrt(beta_rl)*sqrt(rl_gap0)*expm1(-mu_rl*t)/mu_rl])**2


def gain_lower(t, gap0, mu):
    """P1: gap0 (1 - e^{-2 mu t}) <= gap0 - gap(t), the flowed objective's own gain (PL decay)."""
    return -gap0*expm1(-2*mu*t)


def gain_upper(t, gap0, beta):
    """P1: gap0 - gap(t) <= gap0 (1 - e^{-2 beta t}) (smoothness: Delta_t >= Delta_0 e^{-2 beta t})."""
    return -gap0*expm1(-2*beta*t)

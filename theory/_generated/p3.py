"""Generated from ``theory.derivations.p3_optimal_rl_duration`` (P3) by
``python -m theory.derivations.codegen``. Do not edit: change the derivation and
regenerate."""
# fmt: off
# ruff: noqa
from numpy import exp, expm1, log1p


def optimal_rl_duration(lam, mu_rl, beta_rl, beta_sft):
    """P3: t* = ln(1 + 1/c)/mu_rl, c = lam beta_sft beta_rl/mu_rl^2."""
    return log1p(mu_rl**2/(beta_rl*beta_sft*lam))/mu_rl


def guaranteed_net_gain(t, rl_gap0, lam, mu_rl, beta_rl, beta_sft):
    """P3: g(t) = Delta_0 [1 - e^{-2 mu_rl t} - c (1 - e^{-mu_rl t})^2]."""
    return -rl_gap0*(-(-beta_rl*beta_sft*lam/mu_rl**2 + 1)*expm1(-mu_rl*t) + 2*exp(-mu_rl*t))*expm1(-mu_rl*t)

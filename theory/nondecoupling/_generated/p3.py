"""Generated from ``nondecoupling.derivations.p3_optimal_rl_duration`` (P3) by
``python -m nondecoupling.derivations.codegen``. Do not edit: change the derivation and
regenerate."""
# fmt: off
# ruff: noqa
from numpy import exp, expm1, inf, less, log1p, nan, select


def optimal_rl_duration(lam, mu_rl, beta_rl, beta_sft):
    """P3: t* = ln(1 + 1/c)/mu_rl, c = lam beta_sft beta_rl/mu_rl^2."""
    return log1p(mu_rl**2/(beta_rl*beta_sft*lam))/mu_rl


def guaranteed_net_gain(t, rl_gap0, lam, mu_rl, beta_rl, beta_sft):
    """P3: g(t) = Delta_0 [1 - e^{-2 mu_rl t} - c (1 - e^{-mu_rl t})^2]."""
    return -rl_gap0*(-(-beta_rl*beta_sft*lam/mu_rl**2 + 1)*expm1(-mu_rl*t) + 2*exp(-mu_rl*t))*expm1(-mu_rl*t)


def rl_break_even_time(lam, mu_rl, beta_rl, beta_sft):
    """P3: t_neg = ln((c + 1)/(c - 1))/mu_rl where c > 1 (g < 0 after it), inf where c <= 1."""
    return select([less(mu_rl**2, beta_rl*beta_sft*lam),True], [log1p(2*mu_rl**2/(beta_rl*beta_sft*lam - mu_rl**2))/mu_rl,inf], default=nan)

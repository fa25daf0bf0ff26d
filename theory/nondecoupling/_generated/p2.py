"""Generated from ``nondecoupling.derivations.p2_rl_then_sft`` (P2) by
``python -m nondecoupling.derivations.codegen``. Do not edit: change the derivation and
regenerate."""
# fmt: off
# ruff: noqa
from functools import reduce
from numpy import exp, expm1, maximum, minimum, sqrt


def reward_loss_lower(t, sft_gap0, sep, mu_sft, mu_rl):
    """P2 (P1 mirrored): lower envelope of J* - J(theta_t) along the SFT flow from S_R."""
    return (1/2)*mu_rl*reduce(maximum, [0, sep - sqrt(2)*sqrt(sft_gap0)*exp(-mu_sft*t)/sqrt(mu_sft)])**2


def reward_loss_upper(t, sft_gap0, mu_sft, beta_sft, beta_rl):
    """P2 (P1 mirrored): upper envelope (beta_rl/2) ell_sft(t)^2 of J* - J(theta_t)."""
    return (1/2)*beta_rl*reduce(minimum, [-sqrt(2)*sqrt(sft_gap0)*expm1(-beta_sft*t)/sqrt(mu_sft), -sqrt(2)*sqrt(beta_sft)*sqrt(sft_gap0)*expm1(-mu_sft*t)/mu_sft])**2

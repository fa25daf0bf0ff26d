"""Generated from ``nondecoupling.derivations.p2_rl_then_sft`` (P2) by
``python -m nondecoupling.derivations.codegen``. Do not edit: change the derivation and
regenerate."""
# fmt: off
# ruff: noqa
import math
from functools import reduce
from nondecoupling._scaled import scaled_product, scaled_product_scalar
from numpy import exp, expm1, less, maximum, minimum, nan, select, sqrt


def reward_loss_lower(t, sft_gap0, sep, mu_sft, mu_rl):
    """P2 (P1 mirrored): lower envelope of J* - J(theta_t) along the SFT flow from S_R."""
    shared_1 = scaled_product((1/4, -mu_sft*t,), ())
    shared_0 = reduce(maximum, [0, sep - scaled_product((sqrt(2), sqrt(sft_gap0), exp(shared_1), exp(shared_1), exp(shared_1), exp(shared_1),), (sqrt(mu_sft),))])
    return scaled_product((1/2, mu_rl, shared_0, shared_0,), ())


def reward_loss_lower_scalar(t, sft_gap0, sep, mu_sft, mu_rl):
    """P2 (P1 mirrored): lower envelope of J* - J(theta_t) along the SFT flow from S_R. (Python floats, math)"""
    shared_1 = scaled_product_scalar((1/4, -mu_sft*t,), ())
    shared_0 = max(0, sep - scaled_product_scalar((math.sqrt(2), math.sqrt(sft_gap0), math.exp(shared_1), math.exp(shared_1), math.exp(shared_1), math.exp(shared_1),), (math.sqrt(mu_sft),)))
    return scaled_product_scalar((1/2, mu_rl, shared_0, shared_0,), ())


def reward_loss_upper(t, sft_gap0, mu_sft, beta_sft, beta_rl):
    """P2 (P1 mirrored): upper envelope (beta_rl/2) ell_sft(t)^2 of J* - J(theta_t)."""
    shared_0 = reduce(minimum, [select([less(mu_sft*t, 1/1152921504606846976),True], [scaled_product((sqrt(2), sqrt(beta_sft), sqrt(sft_gap0), t,), ()),scaled_product((sqrt(2), sqrt(beta_sft), sqrt(sft_gap0), -expm1(-mu_sft*t),), (mu_sft,))], default=nan), select([less(beta_sft*t, 1/1152921504606846976),True], [scaled_product((sqrt(2), sqrt(sft_gap0), beta_sft, t,), (sqrt(mu_sft),)),scaled_product((sqrt(2), sqrt(sft_gap0), beta_sft, -expm1(-beta_sft*t),), (sqrt(mu_sft), beta_sft,))], default=nan)])
    return scaled_product((1/2, beta_rl, shared_0, shared_0,), ())


def reward_loss_upper_scalar(t, sft_gap0, mu_sft, beta_sft, beta_rl):
    """P2 (P1 mirrored): upper envelope (beta_rl/2) ell_sft(t)^2 of J* - J(theta_t). (Python floats, math)"""
    shared_0 = min(((scaled_product_scalar((math.sqrt(2), math.sqrt(beta_sft), math.sqrt(sft_gap0), t,), ())) if (mu_sft*t < 1/1152921504606846976) else (scaled_product_scalar((math.sqrt(2), math.sqrt(beta_sft), math.sqrt(sft_gap0), -math.expm1(-mu_sft*t),), (mu_sft,)))), ((scaled_product_scalar((math.sqrt(2), math.sqrt(sft_gap0), beta_sft, t,), (math.sqrt(mu_sft),))) if (beta_sft*t < 1/1152921504606846976) else (scaled_product_scalar((math.sqrt(2), math.sqrt(sft_gap0), beta_sft, -math.expm1(-beta_sft*t),), (math.sqrt(mu_sft), beta_sft,)))))
    return scaled_product_scalar((1/2, beta_rl, shared_0, shared_0,), ())


def start_reach(sft_gap0, mu_sft):
    """P2: sqrt(2 eps_0/mu_sft) >= dist(theta_0, S_L) (QG), hence >= sep from an RL optimum."""
    return scaled_product((sqrt(2), sqrt(sft_gap0),), (sqrt(mu_sft),))


def start_reach_scalar(sft_gap0, mu_sft):
    """P2: sqrt(2 eps_0/mu_sft) >= dist(theta_0, S_L) (QG), hence >= sep from an RL optimum. (Python floats, math)"""
    return scaled_product_scalar((math.sqrt(2), math.sqrt(sft_gap0),), (math.sqrt(mu_sft),))

"""Generated from ``nondecoupling.derivations.p4_nondecoupling_threshold`` (P4) by
``python -m nondecoupling.derivations.codegen``. Do not edit: change the derivation and
regenerate."""
# fmt: off
# ruff: noqa
import math
from functools import reduce
from nondecoupling._scaled import log_of_product, log_of_product_scalar, scaled_product, scaled_product_scalar
from numpy import inf, less_equal, maximum, nan, select, sqrt


def nondecoupling_threshold(sft_min, sep, mu_sft):
    """P4: tau = L* + mu_sft sep^2 / 2."""
    return sft_min + scaled_product((1/2, mu_sft, sep, sep,), ())


def nondecoupling_threshold_scalar(sft_min, sep, mu_sft):
    """P4: tau = L* + mu_sft sep^2 / 2. (Python floats, math)"""
    return sft_min + scaled_product_scalar((1/2, mu_sft, sep, sep,), ())


def crossing_time(sft_gap0, rl_gap0, sep, mu_sft, mu_rl):
    """P4: T_x after which RL keeps L above L(theta_0); inf if not guaranteed."""
    shared_0 = scaled_product((sqrt(2), sqrt(sft_gap0),), (sqrt(mu_sft),))
    return select([less_equal(sep - shared_0, 0),True], [inf,reduce(maximum, [0, log_of_product((sqrt(2), sqrt(rl_gap0),), (sqrt(mu_rl), sep - shared_0,))/mu_rl])], default=nan)


def crossing_time_scalar(sft_gap0, rl_gap0, sep, mu_sft, mu_rl):
    """P4: T_x after which RL keeps L above L(theta_0); inf if not guaranteed. (Python floats, math)"""
    shared_0 = scaled_product_scalar((math.sqrt(2), math.sqrt(sft_gap0),), (math.sqrt(mu_sft),))
    return ((math.inf) if (sep - shared_0 <= 0) else (max(0, log_of_product_scalar((math.sqrt(2), math.sqrt(rl_gap0),), (math.sqrt(mu_rl), sep - shared_0,))/mu_rl)))

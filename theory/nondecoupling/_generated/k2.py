"""Generated from ``nondecoupling.derivations.k2_tilted_policy`` (K2) by
``python -m nondecoupling.derivations.codegen``. Do not edit: change the derivation and
regenerate."""
# fmt: off
# ruff: noqa
import math
from numpy import exp, expm1, less, nan, select


def tilted_rate(s, a):
    """K2: binary reward, the tilted policy's pass rate b(s) = a e^s / (1 - a + a e^s)."""
    return a/(a + (1 - a)*exp(-s))


def tilt_remainder(s, centered_reward):
    """K2: E2(s c) = exp(s c) - 1 - s c >= 0, accurate for small s c."""
    return select([less(abs(centered_reward*s), 1/10),True], [(centered_reward*s)**2*(1/2 + (centered_reward*s)*(1/6 + (centered_reward*s)*(1/24 + (centered_reward*s)*(1/120 + (centered_reward*s)*(1/720 + (centered_reward*s)*(1/5040 + (centered_reward*s)*(1/40320 + (centered_reward*s)*(1/362880 + (1/3628800)*(centered_reward*s))))))))),expm1(centered_reward*s) - (centered_reward*s)], default=nan)


def tilt_remainder_scalar(s, centered_reward):
    """K2: E2(s c) = exp(s c) - 1 - s c >= 0, accurate for small s c. (Python floats, math)"""
    return (((centered_reward*s)**2*(1/2 + (centered_reward*s)*(1/6 + (centered_reward*s)*(1/24 + (centered_reward*s)*(1/120 + (centered_reward*s)*(1/720 + (centered_reward*s)*(1/5040 + (centered_reward*s)*(1/40320 + (centered_reward*s)*(1/362880 + (1/3628800)*(centered_reward*s)))))))))) if (abs(centered_reward*s) < 1/10) else (math.expm1(centered_reward*s) - (centered_reward*s)))

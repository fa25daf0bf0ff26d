"""Generated from ``nondecoupling.derivations.k3_reward_ceiling`` (K3) by
``python -m nondecoupling.derivations.codegen``. Do not edit: change the derivation and
regenerate."""
# fmt: off
# ruff: noqa
import math
from numpy import sqrt


def pinsker_radius(budget):
    """K3: Pinsker, |b - a| <= sqrt(budget / 2) whenever kl(a||b) <= budget."""
    return (1/2)*sqrt(2)*sqrt(budget)


def pinsker_radius_scalar(budget):
    """K3: Pinsker, |b - a| <= sqrt(budget / 2) whenever kl(a||b) <= budget. (Python floats, math)"""
    return (1/2)*math.sqrt(2)*math.sqrt(budget)

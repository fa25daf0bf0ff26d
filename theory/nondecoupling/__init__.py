"""Exact numbers for the coupling of SFT and RL in post-training.

The public numeric API of THEORY.md (``from nondecoupling import optimal_rl_duration``). Every
function broadcasts over numpy arrays, takes its constants as keyword-only arguments and
raises :class:`ParameterError` (a ``ValueError``) naming the parameter for invalid input.
No import here loads sympy: the closed forms were printed from the sympy derivations
(:mod:`nondecoupling.derivations`) into :mod:`nondecoupling._generated`.

| ID | functions | module |
|----|-----------|--------|
| K1, K3, V2 | kl_bernoulli, kl_inverse_upper, kl_inverse_lower, kl_inverse_first_upper, kl_inverse_first_lower, pinsker_radius | nondecoupling.kl |
| K2 | tilted_tradeoff | nondecoupling.tilt |
| P1, P2 | path_length_bound, reward_gain_bounds, sft_degradation_bounds, reward_loss_bounds | nondecoupling.envelopes |
| P3 | optimal_rl_duration, guaranteed_net_gain, rl_break_even_time | nondecoupling.duration |
| P4 | nondecoupling_threshold, crossing_time | nondecoupling.threshold |
| P5 | gd_contraction, optimal_rl_steps, discrete_path_length_bound, discrete_sft_degradation_bounds, discrete_reward_gain_bounds, discrete_net_gain | nondecoupling.discrete |
| S1 | curvature_bracket, misalignment_bound, kantorovich_bound | nondecoupling.spectral |
| X1 | QuadraticPair | nondecoupling.interleaving |
| V1-V3, V5 | sft_increase_after_kl_rl, reward_change_bound, reward_change_band, theorem_4_1_as_stated, guaranteed_reward_drop, threshold_loss_level, threshold_time | nondecoupling.paper |
"""

import importlib
from typing import TYPE_CHECKING

from nondecoupling.validation import ParameterError

# Submodules load on first use (PEP 562), so `import nondecoupling` stays fast and light.
_API = {
    "kl_bernoulli": "nondecoupling.kl",
    "kl_inverse_upper": "nondecoupling.kl",
    "kl_inverse_lower": "nondecoupling.kl",
    "kl_inverse_first_upper": "nondecoupling.kl",
    "kl_inverse_first_lower": "nondecoupling.kl",
    "pinsker_radius": "nondecoupling.kl",
    "tilted_tradeoff": "nondecoupling.tilt",
    "path_length_bound": "nondecoupling.envelopes",
    "sft_degradation_bounds": "nondecoupling.envelopes",
    "reward_loss_bounds": "nondecoupling.envelopes",
    "reward_gain_bounds": "nondecoupling.envelopes",
    "optimal_rl_duration": "nondecoupling.duration",
    "guaranteed_net_gain": "nondecoupling.duration",
    "rl_break_even_time": "nondecoupling.duration",
    "nondecoupling_threshold": "nondecoupling.threshold",
    "crossing_time": "nondecoupling.threshold",
    "gd_contraction": "nondecoupling.discrete",
    "optimal_rl_steps": "nondecoupling.discrete",
    "discrete_path_length_bound": "nondecoupling.discrete",
    "discrete_sft_degradation_bounds": "nondecoupling.discrete",
    "discrete_reward_gain_bounds": "nondecoupling.discrete",
    "discrete_net_gain": "nondecoupling.discrete",
    "curvature_bracket": "nondecoupling.spectral",
    "misalignment_bound": "nondecoupling.spectral",
    "kantorovich_bound": "nondecoupling.spectral",
    # The paper's own statements (THEORY.md section V), in its notation.
    "QuadraticPair": "nondecoupling.interleaving",
    "sft_increase_after_kl_rl": "nondecoupling.paper",
    "reward_change_bound": "nondecoupling.paper",
    "reward_change_band": "nondecoupling.paper",
    "theorem_4_1_as_stated": "nondecoupling.paper",
    "guaranteed_reward_drop": "nondecoupling.paper",
    "threshold_loss_level": "nondecoupling.paper",
    "threshold_time": "nondecoupling.paper",
}

__all__ = ["ParameterError", *_API]


def __getattr__(name):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'nondecoupling' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from nondecoupling.discrete import (
        discrete_net_gain,
        discrete_path_length_bound,
        discrete_reward_gain_bounds,
        discrete_sft_degradation_bounds,
        gd_contraction,
        optimal_rl_steps,
    )
    from nondecoupling.duration import guaranteed_net_gain, optimal_rl_duration, rl_break_even_time
    from nondecoupling.envelopes import path_length_bound, reward_gain_bounds, reward_loss_bounds, sft_degradation_bounds
    from nondecoupling.interleaving import QuadraticPair
    from nondecoupling.kl import (
        kl_bernoulli,
        kl_inverse_first_lower,
        kl_inverse_first_upper,
        kl_inverse_lower,
        kl_inverse_upper,
        pinsker_radius,
    )
    from nondecoupling.paper import (
        guaranteed_reward_drop,
        reward_change_band,
        reward_change_bound,
        sft_increase_after_kl_rl,
        theorem_4_1_as_stated,
        threshold_loss_level,
        threshold_time,
    )
    from nondecoupling.spectral import curvature_bracket, kantorovich_bound, misalignment_bound
    from nondecoupling.threshold import crossing_time, nondecoupling_threshold
    from nondecoupling.tilt import tilted_tradeoff

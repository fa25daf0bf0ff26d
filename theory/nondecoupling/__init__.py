"""Exact numbers for the coupling of SFT and RL in post-training.

The public numeric API of THEORY.md (``from nondecoupling import optimal_rl_duration``). Every
function broadcasts over numpy arrays, takes its constants as keyword-only arguments and
raises :class:`ParameterError` (a ``ValueError``) naming the parameter for invalid input.
No import here loads sympy: the closed forms were printed from the sympy derivations
(:mod:`nondecoupling.derivations`) into :mod:`nondecoupling._generated`.

| ID | functions | module |
|----|-----------|--------|
| P1 | path_length_bound, sft_degradation_bounds, reward_gain_bounds | nondecoupling.envelopes |
| P2 | reward_loss_bounds | nondecoupling.envelopes |
| P3 | optimal_rl_duration, guaranteed_net_gain, rl_break_even_time | nondecoupling.duration |
| P4 | nondecoupling_threshold, crossing_time | nondecoupling.threshold |
| P5 | gd_contraction, optimal_rl_steps, discrete_path_length_bound, discrete_sft_degradation_bounds, discrete_reward_gain_bounds, discrete_net_gain | nondecoupling.discrete |
| K1 | kl_bernoulli | nondecoupling.kl |
| K2 | tilted_tradeoff | nondecoupling.tilt |
| K3 | kl_inverse_lower, kl_inverse_upper, pinsker_radius | nondecoupling.kl |
| S1 | curvature_bracket, misalignment_bound, kantorovich_bound | nondecoupling.spectral |
| X1 | QuadraticPair | nondecoupling.interleaving |
| V1 | sft_increase_after_kl_rl | nondecoupling.paper |
| V2 | reward_change_bound, reward_change_band, kl_inverse_first_upper, kl_inverse_first_lower | nondecoupling.paper, nondecoupling.kl |
| V3 | theorem_4_1_as_stated, guaranteed_reward_drop | nondecoupling.paper |
| V5 | threshold_loss_level, threshold_time | nondecoupling.paper |

The table is :func:`nondecoupling.theorems.api_table`, rendered from the theorem registry
(:data:`nondecoupling.theorems.THEOREMS`, the one list of THEORY.md's IDs); a test holds it to it.
"""

import importlib
from typing import TYPE_CHECKING

from nondecoupling.theorems import public_api

# Submodules load on first use (PEP 562), so `import nondecoupling` stays fast and light: not even numpy, whose
# BLAS threads the commands may limit before it loads (nondecoupling.cli.console).
_API = public_api()
_LAZY = {**_API, "ParameterError": "nondecoupling.validation"}

__all__ = ["ParameterError", *_API]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nondecoupling' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover  (static imports for type checkers; a test holds them to _API)
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
    from nondecoupling.validation import ParameterError

"""Exact numbers for the coupling of SFT and RL in post-training.

The public numeric API of THEORY.md (``from theory import optimal_rl_duration``). Every
function broadcasts over numpy arrays, takes its constants as keyword-only arguments and
raises :class:`ParameterError` (a ``ValueError``) naming the parameter for invalid input.
No import here loads sympy: the closed forms were printed from the sympy derivations
(:mod:`theory.derivations`) into :mod:`theory._generated`.

| ID | functions | module |
|----|-----------|--------|
| K1, K3 | kl_bernoulli, kl_inverse_upper, kl_inverse_lower | theory.kl |
| K2 | tilted_tradeoff | theory.tilt |
| P1, P2 | path_length_bound, sft_degradation_bounds, reward_loss_bounds | theory.envelopes |
| P3 | optimal_rl_duration, guaranteed_net_gain, rl_break_even_time | theory.duration |
| P4 | nondecoupling_threshold, crossing_time | theory.threshold |
| P5 | gd_contraction, optimal_rl_steps | theory.discrete |
| S1 | curvature_bracket, misalignment_bound, kantorovich_bound | theory.spectral |
"""

import importlib
from typing import TYPE_CHECKING

from theory._validation import ParameterError

# Submodules load on first use (PEP 562), so `import theory` stays fast and light.
_API = {
    "kl_bernoulli": "theory.kl",
    "kl_inverse_upper": "theory.kl",
    "kl_inverse_lower": "theory.kl",
    "tilted_tradeoff": "theory.tilt",
    "path_length_bound": "theory.envelopes",
    "sft_degradation_bounds": "theory.envelopes",
    "reward_loss_bounds": "theory.envelopes",
    "optimal_rl_duration": "theory.duration",
    "guaranteed_net_gain": "theory.duration",
    "rl_break_even_time": "theory.duration",
    "nondecoupling_threshold": "theory.threshold",
    "crossing_time": "theory.threshold",
    "gd_contraction": "theory.discrete",
    "optimal_rl_steps": "theory.discrete",
    "curvature_bracket": "theory.spectral",
    "misalignment_bound": "theory.spectral",
    "kantorovich_bound": "theory.spectral",
}

__all__ = ["ParameterError", *_API]


def __getattr__(name):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'theory' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from theory.discrete import gd_contraction, optimal_rl_steps
    from theory.duration import guaranteed_net_gain, optimal_rl_duration, rl_break_even_time
    from theory.envelopes import path_length_bound, reward_loss_bounds, sft_degradation_bounds
    from theory.kl import kl_bernoulli, kl_inverse_lower, kl_inverse_upper
    from theory.spectral import curvature_bracket, kantorovich_bound, misalignment_bound
    from theory.threshold import crossing_time, nondecoupling_threshold
    from theory.tilt import tilted_tradeoff

"""The torch tier of the bridge: real models measured against the theory (``pip install -e '.[torch]'``).

* :mod:`~nondecoupling.bridge.models.measure` measures the coupling on a model
  (``CouplingMeasurer.evaluate(model) -> dict``, framework-free), and
  :mod:`~nondecoupling.bridge.models.callback` wraps it as a ``transformers.TrainerCallback``
  (``CouplingCallback``, ``CouplingConfig``) with the live P3 stop.
* :mod:`~nondecoupling.bridge.models.probe` and :mod:`~nondecoupling.bridge.models.hessian` measure
  Hessian spectra, RL gradients and S1 (command ``nondecoupling probe``,
  :mod:`~nondecoupling.bridge.models.probe_cli`); :mod:`~nondecoupling.bridge.models.sequences` scores
  prompt/response pairs; :mod:`~nondecoupling.bridge.models.tiny` builds tiny Qwen3 models and a
  character tokenizer locally (no download).

The names below are imported on first use (PEP 562), so ``import nondecoupling.bridge.models.hessian``
does not import transformers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "CouplingCallback": "callback",
    "CouplingConfig": "callback_config",
    "CouplingMeasurer": "measure",
}
__all__ = ["CouplingCallback", "CouplingConfig", "CouplingMeasurer"]

if TYPE_CHECKING:
    from nondecoupling.bridge.models.callback import CouplingCallback
    from nondecoupling.bridge.models.callback_config import CouplingConfig
    from nondecoupling.bridge.models.measure import CouplingMeasurer


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)

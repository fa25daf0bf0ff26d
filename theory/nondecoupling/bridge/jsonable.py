"""One JSON sanitizer for every report the project writes (the bridge's and the sweep's manifest).

NaN means "missing" everywhere in the bridge (a missing CSV cell, a JSON ``null``, a NaN
in a computed statistic), so it is written as ``null``; infinities are written as the
strings ``"inf"`` / ``"-inf"`` (strict JSON has no infinity), never as ``Infinity``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def jsonable(value):
    """``value`` with numpy scalars/arrays, tuples, paths, NaN and inf made plain JSON.

    >>> jsonable({"a": np.float64("nan"), "b": (1, np.inf), 3: Path("x")})
    {'a': None, 'b': [1, 'inf'], '3': 'x'}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value

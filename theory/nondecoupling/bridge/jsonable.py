"""One JSON sanitizer for every report the project writes (the bridge's and the sweep's manifest).

NaN means "missing" everywhere in the bridge (a missing CSV cell, a JSON ``null``, a NaN
in a computed statistic), so it is written as ``null``; infinities are written as the
strings ``"inf"`` / ``"-inf"`` (strict JSON has no infinity), never as ``Infinity``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


def jsonable(value: object, *, infinity: str | None = "inf") -> Any:
    """``value`` with numpy scalars/arrays, tuples, paths, NaN and inf made plain JSON.

    Parameters
    ----------
    value : object
        Nested dicts, lists, tuples, numpy arrays and scalars, paths.
    infinity : {"inf", None}
        How to write an infinity: the strings ``"inf"``/``"-inf"`` (reports, where an infinite
        bound is a result), or ``None`` (logs, where the readers take null as "not logged").

    >>> jsonable({"a": np.float64("nan"), "b": (1, np.inf), 3: Path("x")})
    {'a': None, 'b': [1, 'inf'], '3': 'x'}
    >>> jsonable([np.inf, 2.0], infinity=None)
    [None, 2.0]
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v, infinity=infinity) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v, infinity=infinity) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return None
        if math.isfinite(value) or infinity is None:
            return value if math.isfinite(value) else None
        return infinity if value > 0 else "-" + infinity
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value

"""Type aliases of the public API (imported by type checkers only, never at run time)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: A float for scalar input, a float64 array of the broadcast shape otherwise.
FloatOrArray = float | np.ndarray
#: A Python int for scalar input (exact at any size), an integer or whole-float array otherwise.
IntOrArray = int | np.ndarray
#: Numbers along one axis (a log's column): a list or tuple of floats, or an array.
Numbers = Sequence[float] | np.ndarray

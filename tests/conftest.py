"""Hypothesis profiles: fixed seeds everywhere, so a failure reproduces.

``ci`` (selected when the CI environment variable is set, as ``.ci/run`` does) runs 200
examples per property; ``dev`` runs 50 for a fast local loop. Pick one explicitly with
``HYPOTHESIS_PROFILE=ci pytest``.
"""

import os

import matplotlib
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")

_common = dict(derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=200, **_common)
settings.register_profile("dev", max_examples=50, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

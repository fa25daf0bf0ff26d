"""The bridge to real runs, in two dependency tiers.

* :mod:`nondecoupling.bridge.logs` (extra ``logs``: pandas, no torch): read the logs real SFT/RL runs
  write, check them against the theory, report (``nondecoupling check``, ``nondecoupling watch``).
* :mod:`nondecoupling.bridge.models` (extra ``torch``): measure real models (the live
  ``CouplingCallback``, the probe, Hessian spectra; ``nondecoupling probe``).

Shared by both: :mod:`~nondecoupling.bridge.errors` (``LogFormatError``) and
:mod:`~nondecoupling.bridge.jsonable` (the one JSON sanitizer). The log tier's entry points are
re-exported here.
"""

from nondecoupling.bridge.logs import LogFormatError, LogMapping, read_log, read_run, read_run_meta

__all__ = ["LogFormatError", "LogMapping", "read_log", "read_run", "read_run_meta"]

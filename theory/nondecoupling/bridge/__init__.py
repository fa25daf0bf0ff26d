"""The bridge to real runs: logged SFT/RL curves and real models checked against the theory.

* :mod:`nondecoupling.bridge.logs` reads TRL ``trainer_state.json``, CSV, JSONL and TensorBoard
  logs into one canonical run (no torch).
* :mod:`nondecoupling.bridge.checks` tests A1's signs, fits the exponential rates behind P3/P4
  and checks K1/K3 pointwise (no torch).
* :mod:`nondecoupling.bridge.report` writes ``report.json``, ``report.md`` and figures.
* :mod:`nondecoupling.bridge.probe` measures Hessian spectra, RL gradients and S1 on a torch
  model (needs ``pip install -e '.[torch]'``).

Command line: ``python -m nondecoupling.bridge check LOG [LOG ...] --out DIR``.
"""

from nondecoupling.bridge.logs import LogFormatError, LogMapping, read_log, read_run, read_run_meta

__all__ = ["LogFormatError", "LogMapping", "read_log", "read_run", "read_run_meta"]

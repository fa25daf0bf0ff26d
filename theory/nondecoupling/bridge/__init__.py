"""The bridge to real runs: logged SFT/RL curves and real models checked against the theory.

* :mod:`nondecoupling.bridge.readers` reads the formats real runs write (TRL, verl, OpenRLHF /
  TensorBoard, W&B exports, MLflow, CSV, JSONL); :mod:`nondecoupling.bridge.logs` makes them one
  canonical run (no torch).
* :mod:`nondecoupling.bridge.stats` holds the estimators (calibrated trend tests, the rate fits
  ``fit_rl_stage`` and ``predicted_optimal_steps``, bootstrap, K1 terms);
  :mod:`nondecoupling.bridge.verdicts` turns them into verdicts (A1, P3, P4, K1, K3, X1).
* :mod:`nondecoupling.bridge.report` writes ``report.json``, ``report.md`` and figures;
  :mod:`nondecoupling.bridge.jsonable` is the one JSON sanitizer.
* :mod:`nondecoupling.bridge.probe` measures Hessian spectra, RL gradients and S1 on a torch
  model (needs ``pip install -e '.[torch]'``).

Command line: ``nondecoupling check LOG [LOG ...] --out DIR``.
"""

from nondecoupling.bridge.logs import LogFormatError, LogMapping, read_log, read_run, read_run_meta

__all__ = ["LogFormatError", "LogMapping", "read_log", "read_run", "read_run_meta"]

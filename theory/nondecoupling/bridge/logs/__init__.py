"""The pandas tier of the bridge: logged SFT/RL curves read, checked against the theory and reported.

Importing it never touches torch (``tests/test_layering.py`` holds it to that).

* :mod:`~nondecoupling.bridge.logs.readers` reads the formats real runs write (TRL, verl, OpenRLHF /
  TensorBoard, W&B exports, MLflow, CSV, JSONL); :mod:`~nondecoupling.bridge.logs.run` makes them one
  canonical run, and :mod:`~nondecoupling.bridge.logs.units` states each column's unit.
* :mod:`~nondecoupling.bridge.logs.stats` holds the estimators (calibrated trend tests, the rate fits,
  bootstrap, K1 terms); :mod:`~nondecoupling.bridge.logs.verdicts` turns them into verdicts (A1, P3,
  P4, K1, K3, X1); :mod:`~nondecoupling.bridge.logs.report` writes ``report.json``, ``report.md`` and
  figures.
* :mod:`~nondecoupling.bridge.logs.stopping` is the online P3 stop (used by ``nondecoupling watch``,
  :mod:`~nondecoupling.bridge.logs.watch`, and by the torch tier's live callback).

Command line: ``nondecoupling check LOG [LOG ...] --out DIR`` and ``nondecoupling watch LOG ...``.
"""

from nondecoupling.bridge.logs.run import LogFormatError, LogMapping, read_log, read_run, read_run_meta

__all__ = ["LogFormatError", "LogMapping", "read_log", "read_run", "read_run_meta"]

"""A log read whole (the vectorized readers) and record by record (their fallback): the same frame or error."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nondecoupling.bridge.logs import run as run_module
from nondecoupling.bridge.logs.run import LogFormatError, LogMapping, read_log


def assert_read_alike(path: Path, mapping: LogMapping, fmt: str) -> pd.DataFrame | str:
    """``read_log`` against ``_canonical(..., vectorized=False)``: equal frames (their ``attrs`` too) or equal errors.

    Returns the frame, or the error's text.
    """
    outcomes: list = []
    for read in (lambda: read_log(path, mapping, fmt=fmt), lambda: run_module._canonical(path, mapping, fmt, vectorized=False, sources=True)):
        try:
            outcomes.append(read())
        except LogFormatError as error:
            outcomes.append(str(error))
    whole, by_records = outcomes
    if isinstance(by_records, str):
        assert whole == by_records
    else:
        pd.testing.assert_frame_equal(whole, by_records)
        assert whole.attrs == by_records.attrs
    return by_records

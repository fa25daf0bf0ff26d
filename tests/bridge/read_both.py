"""A log read whole (the vectorized readers) and record by record (their fallback): the same frame or error."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nondecoupling.bridge.logs import run as run_module
from nondecoupling.bridge.logs.run import LogFormatError, LogMapping, read_log


def assert_read_alike(path: Path, mapping: LogMapping, fmt: str) -> pd.DataFrame | str:
    """``read_log`` against ``_canonical(..., vectorized=False)``: equal frames (their ``attrs`` too) or equal errors.

    And ``read_log(..., sources=False)`` (as ``check`` reads): the same frame less its ``source`` column, or the same error.
    Returns the frame, or the error's text.
    """
    outcomes: list = []
    for read in (lambda: read_log(path, mapping, fmt=fmt), lambda: run_module._canonical(path, mapping, fmt, vectorized=False, sources=True),
                 lambda: read_log(path, mapping, fmt=fmt, sources=False)):
        try:
            outcomes.append(read())
        except LogFormatError as error:
            outcomes.append(str(error))
    whole, by_records, without_sources = outcomes
    if isinstance(by_records, str):
        assert whole == by_records == without_sources
    else:
        pd.testing.assert_frame_equal(whole, by_records)
        pd.testing.assert_frame_equal(whole.drop(columns="source"), without_sources)
        assert whole.attrs == by_records.attrs == without_sources.attrs
    return by_records

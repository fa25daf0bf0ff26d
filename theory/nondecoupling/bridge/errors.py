"""The bridge's one error for a bad log file: ``FILE, where: what``."""

from __future__ import annotations

from pathlib import Path


class LogFormatError(ValueError):
    """A log file is malformed or incomplete.

    The message names the file, the line or record, and what is wrong; the command line
    prints it and exits with code 2.
    """

    def __init__(self, path: str | Path, where: str, problem: str) -> None:
        self.path, self.where, self.problem = str(path), where, problem
        super().__init__(f"{path}, {where}: {problem}")

"""Where the library keeps what it may compute once per machine: proofs and simulated nulls.

One rule for every cache: the environment variable names the folder, ``0`` turns the cache
off, and the default is ``~/.cache/nondecoupling/<name>``.
"""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir(variable: str, name: str) -> Path | None:
    """The cache folder that ``variable`` sets, ``~/.cache/nondecoupling/name`` by default; ``None`` where it is ``0``.

    >>> user_cache_dir("NONDECOUPLING_EXAMPLE_CACHE", "example").parts[-3:]
    ('.cache', 'nondecoupling', 'example')
    """
    setting = os.environ.get(variable, "")
    if setting == "0":
        return None
    return Path(setting) if setting else Path.home() / ".cache" / "nondecoupling" / name

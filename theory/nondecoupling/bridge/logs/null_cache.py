"""Simulated null distributions kept on disk: a check of a long run does not simulate them again.

A trend test's null (:func:`nondecoupling.bridge.logs.stats.null_contrast`) is 4000 simulated
series of the test's block layout, 0.05-0.3 s of CPU (their isotonic fits batched,
:func:`nondecoupling.bridge.logs.stats.isotonic_contrasts`; before that, 0.3-1 s). It is a deterministic function of its arguments, of the source of
the module that defines it and of the numpy and scipy versions, so :func:`disk_cached`
stores it under the SHA-256 of all of them: a stored null is the one the function would
simulate again, and any edit of that module (a new statistic, more draws) makes new keys.

The folder is ``NONDECOUPLING_NULL_CACHE`` (default ``~/.cache/nondecoupling/nulls``; ``0``
turns it off), as the proof cache of :mod:`nondecoupling.derivations._proof` does.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy

from nondecoupling._cache import user_cache_dir


def cache_dir() -> Path | None:
    """The cache folder, or ``None`` when ``NONDECOUPLING_NULL_CACHE=0``."""
    return user_cache_dir("NONDECOUPLING_NULL_CACHE", "nulls")


@functools.cache
def _source_hash(path: str | None) -> str | None:
    """SHA-256 of the numpy and scipy versions and the file ``path``; None where it cannot be read (no caching)."""
    digest = hashlib.sha256(f"numpy {np.__version__}, scipy {scipy.__version__}\0".encode())
    try:
        digest.update(Path(path or "").read_bytes())
    except OSError:
        return None
    return digest.hexdigest()


def disk_cached(function: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """``function`` (positional arguments with exact ``repr``s, an array result) with its results kept on disk.

    An unreadable or missing entry is computed again; a folder that cannot be written
    (a read-only home) only costs the time. Entries are written whole, then renamed, so
    that concurrent checks never read half an entry.

    >>> import tempfile
    >>> from nondecoupling.bridge.logs.stats import block_means
    >>> os.environ["NONDECOUPLING_NULL_CACHE"] = tempfile.mkdtemp()
    >>> means = disk_cached(block_means)
    >>> means((1.0, 2.0, 3.0), (1, 2)).tolist(), means((1.0, 2.0, 3.0), (1, 2)).tolist()  # computed, then read
    ([1.0, 2.5], [1.0, 2.5])
    >>> del os.environ["NONDECOUPLING_NULL_CACHE"]
    """

    @functools.wraps(function)
    def cached(*args):
        folder, source = cache_dir(), _source_hash(inspect.getsourcefile(function))
        if folder is None or source is None:
            return function(*args)
        key = hashlib.sha256(f"{source}|{function.__module__}.{function.__qualname__}{args!r}".encode()).hexdigest()
        entry = folder / f"{function.__name__}-{key}.npy"
        try:
            return np.load(entry, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            pass  # not stored yet, or unreadable: compute it again
        result = function(*args)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f".{entry.name}.{os.getpid()}"
            with partial.open("wb") as handle:
                np.save(handle, result, allow_pickle=False)
            partial.replace(entry)
        except OSError:
            pass
        return result

    return cached

"""BLAS threads in the simulations: batched solves and decompositions run on one thread."""

from __future__ import annotations

import functools

from threadpoolctl import ThreadpoolController


@functools.cache
def _threadpools() -> ThreadpoolController:
    """The process's BLAS/OpenMP pools, inspected once (``threadpoolctl`` scans the loaded libraries)."""
    return ThreadpoolController()


def single_threaded():
    """A context in which BLAS runs on one thread.

    A batched ODE step is a few vector operations and one small matrix product over the
    stacked state; above ~2e4 stacked states threaded OpenBLAS doubled the CPU for no
    wall-clock gain on a quiet machine and was 5-6x slower under load (``python
    simulations/benchmark.py`` reports both), so the solves never oversubscribe. The batched
    eigendecomposition of :class:`simulations.problems.Quadratic` runs here too: 1000 ``eigh``
    of 100 x 100 took 1.3 s wall and 1.4 s CPU on one thread, 1.6 s and 3.2 s on two.
    """
    return _threadpools().limit(limits=1, user_api="blas")

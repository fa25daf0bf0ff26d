"""A piecewise function that evaluates each branch only on the entries that select it.

``numpy.select(conditions, branches)`` (how sympy prints a ``Piecewise``) evaluates every branch on
every entry. For K1's kl that is six branches, one of them a degree-23 series, per term:
most of the work is thrown away, and kl_inverse_* evaluates kl several times per entry.
:func:`first_true` gives the same numbers (first true condition wins, NaN where none is true)
with each condition evaluated only on the entries no earlier one took, and each branch only on
the entries it took, as compressed contiguous arrays. Elementwise ufuncs do not depend on an
entry's neighbours, so every entry's float is bitwise the one ``numpy.select`` gives (tested in
``tests/theory/test_piecewise.py``, ``test_codegen.py`` and, for K1's kl, ``test_k1_any_policy_pays.py``). (Hand-written: numpy has no lazy ``select``; ``numpy.piecewise``
takes disjoint conditions, evaluates them all up front, and has no first-true-wins order.)

The generated modules call it where a derivation's :class:`nondecoupling.derivations._codegen.ClosedForm`
asks for ``lazy_branches``.
"""

from __future__ import annotations

import numpy as np


def first_true(args, conditions, branches):
    """``branches[k](*args)`` where ``conditions[k](*args)`` is the first true condition, NaN where none is.

    Parameters
    ----------
    args : tuple of float or array_like
        The function's arguments; broadcast against each other as float64 arrays.
    conditions, branches : sequence of callable
        Called with the arguments restricted to the entries still undecided (conditions) or to
        the entries a condition took (branches), as 1-d float64 arrays; they may return
        scalars (``True``, ``inf``), which broadcast.

    Returns
    -------
    ndarray
        float64, the broadcast shape of ``args`` (0-d for scalar arguments, as ``numpy.select``).

    Examples
    --------
    >>> import numpy as np
    >>> from nondecoupling._piecewise import first_true
    >>> first_true((np.array([-2.0, 0.0, 3.0]),), (lambda x: x < 0, lambda x: True), (np.abs, np.sqrt))
    array([2.        , 0.        , 1.73205081])
    """
    arrays = np.broadcast_arrays(*(np.asarray(arg, dtype=np.float64) for arg in args))
    values = [array.ravel() for array in arrays]
    out = np.full(values[0].size, np.nan)
    # Where in ``out`` the entries of ``values`` belong (a slice while nothing has been taken out).
    # Few and small temporaries matter: each fresh array of the input's size costs page faults.
    undecided = slice(None)
    for condition, branch in zip(conditions, branches):
        taken = condition(*values)
        if np.ndim(taken) == 0:  # a constant condition (``True``: the default branch)
            taken = np.full(values[0].shape, bool(taken))
        if taken.all():  # the rest at once: no index arrays, no copies
            out[undecided] = branch(*values)
            break
        # Integer indices, not the boolean mask: numpy's boolean indexing is several times slower.
        chosen = taken.nonzero()[0]
        if chosen.size:
            out[chosen if isinstance(undecided, slice) else undecided[chosen]] = \
                branch(*(value[chosen] for value in values))
            rest = np.logical_not(taken).nonzero()[0]
            undecided = rest if isinstance(undecided, slice) else undecided[rest]
            values = [value[rest] for value in values]
    return out.reshape(arrays[0].shape)

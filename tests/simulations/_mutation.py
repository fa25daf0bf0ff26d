"""Mutants of the library for the kill tests: a function recompiled from its own source with one token replaced."""

import __future__

import inspect
import textwrap


def mutated(function, old: str, new: str):
    """``function`` recompiled from its own source with every occurrence of ``old`` replaced by ``new``.

    The mutant is the library's own source with that token replaced, not a re-typed formula. The
    source is compiled as its module is, with postponed annotations (they name type-checking-only
    aliases).
    """
    source = textwrap.dedent(inspect.getsource(function))
    assert old in source, f"{old!r} does not occur in {function.__name__}"
    namespace = dict(function.__globals__)
    code = compile(source.replace(old, new), inspect.getsourcefile(function), "exec",
                   flags=__future__.annotations.compiler_flag, dont_inherit=True)
    exec(code, namespace)  # noqa: S102
    return namespace[function.__name__]

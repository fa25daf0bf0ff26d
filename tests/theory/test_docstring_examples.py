"""Every public name's docstring has a runnable ``>>>`` example, and it runs (pytest's testpaths is
tests/, so the library's doctests are collected here)."""

import doctest

import pytest

import nondecoupling


@pytest.mark.parametrize("name", nondecoupling.__all__)
def test_docstring_example_runs(name):
    tests = doctest.DocTestFinder(recurse=False).find(getattr(nondecoupling, name), name, globs={})
    assert sum(len(test.examples) for test in tests), f"{name}'s docstring has no >>> example"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{name}'s docstring example failed (see the output above)"


def _library_modules() -> list[str]:
    import pkgutil

    return sorted(m.name for m in pkgutil.walk_packages(nondecoupling.__path__, "nondecoupling.")
                  if not m.name.endswith("__main__"))


@pytest.mark.parametrize("module_name", _library_modules())
def test_every_example_in_the_library_runs(module_name):
    """Every ``>>>`` in every library module (bridge and derivations too), not only the public names'."""
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError as missing:  # an extra that is not installed (torch, sympy, pandas)
        pytest.skip(f"{module_name}: {missing}")
    for requirement in sorted({name for names in getattr(module, "__doctest_requires__", {}).values() for name in names}):
        pytest.importorskip(requirement, reason=f"{module_name}'s examples need {requirement} (an extra)")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {module_name} failed (output above)"

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

"""The public API of THEORY.md: importable by name, light to import, one validation idiom."""

import subprocess
import sys

import pytest

import theory


@pytest.mark.parametrize("name", theory.__all__)
def test_every_api_name_imports(name):
    assert callable(getattr(theory, name))


def test_import_theory_loads_no_sympy_and_is_fast():
    code = (
        "import sys, time; t = time.perf_counter(); import theory; "
        "[getattr(theory, n) for n in theory.__all__]; "
        "print(time.perf_counter() - t, 'sympy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, sympy_loaded = out.stdout.split()
    assert sympy_loaded == "False"
    assert float(seconds) < 0.5

"""The public API of THEORY.md: importable by name, with no sympy on the import path.

(The import time is measured by ``python simulations/benchmark.py``, not asserted here.)
"""

import subprocess
import sys

import pytest

import theory


@pytest.mark.parametrize("name", theory.__all__)
def test_every_api_name_imports(name):
    assert callable(getattr(theory, name))


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'optimal_duration'"):
        theory.optimal_duration  # noqa: B018


def test_numeric_api_never_imports_sympy():
    code = "import sys, theory; [getattr(theory, n) for n in theory.__all__]; print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

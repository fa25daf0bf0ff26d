"""The public API of THEORY.md: importable by name, with no sympy on the import path.

(The import time is measured by ``python simulations/benchmark.py``, not asserted here.)
"""

import subprocess
import sys

import pytest

import nondecoupling


@pytest.mark.parametrize("name", nondecoupling.__all__)
def test_every_api_name_imports(name):
    assert callable(getattr(nondecoupling, name))


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'optimal_duration'"):
        nondecoupling.optimal_duration  # noqa: B018


def test_numeric_api_never_imports_sympy():
    code = "import sys, nondecoupling; [getattr(nondecoupling, n) for n in nondecoupling.__all__]; print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

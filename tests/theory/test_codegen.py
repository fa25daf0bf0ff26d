"""The numeric API is provably generated from the derivations: regenerate and compare."""

import pytest

from nondecoupling.derivations import REGISTRY
from nondecoupling.derivations._codegen import module_path, render_registered


@pytest.mark.parametrize("theorem_id", sorted(REGISTRY))
def test_generated_module_matches_derivation(theorem_id):
    text = render_registered(theorem_id)
    path = module_path(theorem_id)
    if "def " not in text:
        assert not path.exists(), f"{path} is stale: {theorem_id} has no closed forms"
        return
    assert path.read_text() == text, f"{path} drifted; run python -m nondecoupling.derivations.codegen"

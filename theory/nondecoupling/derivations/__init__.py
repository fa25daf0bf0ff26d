"""The sympy derivations, one module per theorem ID of THEORY.md.

Each module states its theorem in the docstring, and exposes ``derive()`` (a
:class:`~nondecoupling.derivations._proof.Derivation` whose steps sympy proves) and
``closed_forms()`` (the expressions printed into ``theory/nondecoupling/_generated/<id>.py``, empty
where the theorem has no numeric function). Importing this package imports sympy; the
numeric API in :mod:`nondecoupling` never does.
"""

from nondecoupling.theorems import THEOREMS

#: Theorem ID -> its derivation module, for the IDs that have one (read from the theorem registry).
REGISTRY = {theorem.id: module for theorem in THEOREMS.values() if (module := theorem.derivation_module) is not None}

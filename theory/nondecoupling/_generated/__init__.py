"""Numpy functions printed from the sympy derivations; see ``theory/nondecoupling/derivations/_codegen.py``."""

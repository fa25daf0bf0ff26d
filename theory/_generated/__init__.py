"""Numpy functions printed from the sympy derivations; see ``theory/derivations/_codegen.py``."""

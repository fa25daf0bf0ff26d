"""Collection rules for ``pytest --doctest-modules theory/nondecoupling`` (run from the repository root).

The library's torch tier (``nondecoupling.bridge.models``) is collected only where its extra is
installed, and the sympy derivations only where sympy is: without them the examples are skipped, not
errors (the README's ``pip install -e '.[test]'`` leaves torch out).
"""

from importlib.util import find_spec

collect_ignore_glob = [
    *([] if find_spec("torch") and find_spec("transformers") else ["theory/nondecoupling/bridge/models/*"]),
    *([] if find_spec("sympy") else ["theory/nondecoupling/derivations/*"]),
    *([] if find_spec("pandas") else ["theory/nondecoupling/bridge/logs/*"]),
    "theory/nondecoupling/*__main__.py",
    "theory/nondecoupling/bridge/*__main__.py",
]

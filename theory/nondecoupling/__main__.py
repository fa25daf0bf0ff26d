"""``python -m nondecoupling``: the same as the ``nondecoupling`` command."""

from nondecoupling.cli import console

raise SystemExit(console())

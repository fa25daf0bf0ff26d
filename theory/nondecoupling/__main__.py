"""``python -m nondecoupling``: the same as the ``nondecoupling`` command."""

from nondecoupling.cli import main

raise SystemExit(main())

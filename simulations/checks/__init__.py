"""One module per theorem ID of THEORY.md; each simulates instances and returns the
simulated quantity next to the bound (ready to plot), and prints both when run:
``python -m simulations.checks.<module>``.

Which module checks which ID is the registry's :data:`simulations.theorems.EXPERIMENTS`
(``EXPERIMENTS["P3"].check == "p3_optimal_rl_duration"``); a test holds this folder to it.
Besides those, ``tight_regimes`` puts each branch of a min/max bound of P1-P5 in its own
regime, and ``_common`` holds the instances the checks share.
"""

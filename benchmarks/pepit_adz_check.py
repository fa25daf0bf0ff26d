"""Check P5's rates against PEPit's SDP worst case of one gradient step (dev script, not a test).

For beta = 1 and a grid of mu and eta, print q (descent lemma + PL), q_ADZ (Theorem 3 of
Abbaszadehpeivasti, de Klerk, Zamani 2023, as ``nondecoupling.gd_contraction(sharp=True)``), and
PEPit's worst case of (R(x_1) - R*)/(R(x_0) - R*) over two descriptions of beta-smooth mu-PL
functions: the "cheap" one (the inequalities Theorem 3 uses; its SDP value should equal
q_ADZ) and the "expensive" one of Rubbens, Hendrickx, Taylor (2025), still only necessary
conditions, hence a smaller but valid upper bound on the true worst case.

Needs ``pip install pepit cvxpy clarabel``. Run: ``python benchmarks/pepit_adz_check.py``.
"""

from __future__ import annotations

import itertools

try:
    from PEPit import PEP
    from PEPit.functions import SmoothQuadraticLojasiewiczFunctionCheap, SmoothQuadraticLojasiewiczFunctionExpensive
except ImportError as missing:  # a dev script: its solver stack is not a project dependency
    raise SystemExit(f"benchmarks/pepit_adz_check.py needs PEPit and an SDP solver: pip install pepit cvxpy clarabel ({missing})") from None

from nondecoupling import gd_contraction

BETA = 1.0
MUS = (0.1, 0.2, 0.5)
ETAS = (0.25, 0.5, 1.0, 1.5, 1.8)


def pepit_one_step(function_class, mu, eta):
    """SDP worst case of R(x_1) - R* over R(x_0) - R* <= 1 for one gradient step."""
    problem = PEP()
    func = problem.declare_function(function_class, L=BETA, mu=mu)
    minimum = func(func.stationary_point())
    start = problem.set_initial_point()
    problem.set_initial_condition(func(start) - minimum <= 1)
    problem.set_performance_metric(func(start - eta * func.gradient(start)) - minimum)
    return problem.solve(wrapper="cvxpy", solver="CLARABEL", verbose=0)


def main():
    print(f"{'mu/beta':>7} {'beta*eta':>8} {'q':>8} {'q_ADZ':>8} {'PEP cheap':>10} {'PEP expensive':>13}")
    for mu, eta in itertools.product(MUS, ETAS):
        rate = gd_contraction(mu=mu, beta=BETA, eta=eta)
        sharp = gd_contraction(mu=mu, beta=BETA, eta=eta, sharp=True)
        cheap = pepit_one_step(SmoothQuadraticLojasiewiczFunctionCheap, mu, eta)
        expensive = pepit_one_step(SmoothQuadraticLojasiewiczFunctionExpensive, mu, eta)
        print(f"{mu:7.2f} {BETA * eta:8.2f} {rate:8.5f} {sharp:8.5f} {cheap:10.5f} {expensive:13.5f}", flush=True)


if __name__ == "__main__":
    main()

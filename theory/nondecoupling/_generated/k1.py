"""Generated from ``nondecoupling.derivations.k1_any_policy_pays`` (K1) by
``python -m nondecoupling.derivations.codegen``. Do not edit: change the derivation and
regenerate."""
# fmt: off
# ruff: noqa
from numpy import equal, greater, inf, less, log, log1p, logical_and, nan, select


def kl_bernoulli(a, b):
    """K1: kl(a||b) = D(a, b) + D(1-a, 1-b), each term >= 0 and cancellation-free."""
    return select([equal(a, 0),equal(b, 0),greater(b, 10*abs(a - b)),logical_and.reduce((greater(b, 1.0e-300),greater(a, (1/2)*b))),logical_and.reduce((greater(a, 1.0e-300*b),greater(b, 1.0e-300*a))),True], [b,inf,b*((a - b)/b)**2*(0.5 + ((a - b)/b)*(-0.166666666666667 + ((a - b)/b)*(0.0833333333333333 + ((a - b)/b)*(-0.05 + ((a - b)/b)*(0.0333333333333333 + ((a - b)/b)*(-0.0238095238095238 + ((a - b)/b)*(0.0178571428571429 + ((a - b)/b)*(-0.0138888888888889 + ((a - b)/b)*(0.0111111111111111 + ((a - b)/b)*(-0.00909090909090909 + ((a - b)/b)*(0.00757575757575758 + ((a - b)/b)*(-0.00641025641025641 + ((a - b)/b)*(0.00549450549450549 - 0.00476190476190476*(a - b)/b))))))))))))),a*log1p((a - b)/b) - (a - b),a*log(a/b) - (a - b),a*(log(a) - log(b)) - (a - b)], default=nan) + select([equal(a, 1),equal(b, 1),less(b, 1 - 10*abs(-a + b)),logical_and.reduce((less(b, 1.0),greater(b, 2*a - 1))),logical_and.reduce((less(a, 1.0e-300*b + 1.0),less(b, 1.0e-300*a + 1.0))),True], [1 - b,inf,(1 - b)*((-a + b)/(1 - b))**2*(0.5 + ((-a + b)/(1 - b))*(-0.166666666666667 + ((-a + b)/(1 - b))*(0.0833333333333333 + ((-a + b)/(1 - b))*(-0.05 + ((-a + b)/(1 - b))*(0.0333333333333333 + ((-a + b)/(1 - b))*(-0.0238095238095238 + ((-a + b)/(1 - b))*(0.0178571428571429 + ((-a + b)/(1 - b))*(-0.0138888888888889 + ((-a + b)/(1 - b))*(0.0111111111111111 + ((-a + b)/(1 - b))*(-0.00909090909090909 + ((-a + b)/(1 - b))*(0.00757575757575758 + ((-a + b)/(1 - b))*(-0.00641025641025641 + ((-a + b)/(1 - b))*(0.00549450549450549 - 0.00476190476190476*(-a + b)/(1 - b)))))))))))))),(1 - a)*log1p((-a + b)/(1 - b)) - (-a + b),(1 - a)*log((1 - a)/(1 - b)) - (-a + b),(1 - a)*(log(1 - a) - log(1 - b)) - (-a + b)], default=nan)

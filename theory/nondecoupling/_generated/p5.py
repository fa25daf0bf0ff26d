"""Generated from ``nondecoupling.derivations.p5_discrete_time`` (P5) by
``python -m nondecoupling.derivations.codegen``. Do not edit: change the derivation and
regenerate."""
# fmt: off
# ruff: noqa
from numpy import equal, expm1, less, less_equal, log1p, nan, select, sqrt


def gd_rate(mu, beta, eta):
    """P5: q = 1 - mu eta (2 - eta beta), printed as (1 - beta eta)^2 + (beta - mu) eta (2 - beta eta)."""
    return eta*(beta - mu)*(-beta*eta + 2) + (-beta*eta + 1)**2


def gd_rate_sqrt_deficit(mu, beta, eta):
    """P5: 1 - sqrt(q) for the descent-lemma rate q."""
    return eta*mu*(-beta*eta + 2)/(sqrt(eta*(beta - mu)*(-beta*eta + 2) + (-beta*eta + 1)**2) + 1)


def adz_rate(mu, beta, eta):
    """P5: q_ADZ, Abbaszadehpeivasti-de Klerk-Zamani (2023) Thm 3 with m = -beta."""
    return select([less(beta*eta, 1),less_equal(beta*eta, sqrt(3)),True], [(mu*(-beta*eta + 1) + sqrt(4*beta**2*(-beta*eta + 1)**2 + 2*beta*eta*(beta - mu)*(2*beta + mu)*(-beta*eta + 2)))**2/(2*beta + mu)**2,mu*(beta*eta - 1)**2*(beta*eta + 2)/(beta*(eta*mu + 2)) + (2*beta - 2*mu)/(beta*(eta*mu + 2)),(beta*eta - 1)**2/(eta*mu*(-beta*eta + 2) + (beta*eta - 1)**2)], default=nan)


def adz_rate_sqrt_deficit(mu, beta, eta):
    """P5: 1 - sqrt(q_ADZ)."""
    return select([less(beta*eta, 1),less_equal(beta*eta, sqrt(3)),True], [(beta*eta*mu*(2*beta + 2*mu)*(-beta*eta + 2)/(2*beta + sqrt(4*beta**2*(-beta*eta + 1)**2 + 2*beta*eta*(beta - mu)*(2*beta + mu)*(-beta*eta + 2))) + beta*eta*mu)/(2*beta + mu),eta*mu*(-beta*eta + 2)*(beta*eta + 2)/((eta*mu + 2)*(sqrt(mu*(beta*eta - 1)**2*(beta*eta + 2)/(beta*(eta*mu + 2)) + (2*beta - 2*mu)/(beta*(eta*mu + 2))) + 1)),eta*mu*(-beta*eta + 2)/((sqrt((eta*mu*(-beta*eta + 2) + (beta*eta - 1)**2)**(-1.0))*abs(beta*eta - 1) + 1)*(eta*mu*(-beta*eta + 2) + (beta*eta - 1)**2))], default=nan)


def tradeoff_constant(lam, beta_sft, beta_rl, eta, rate_sqrt_deficit):
    """P5: c_eta = lam beta_sft beta_rl eta^2 / (1 - sqrt q)^2."""
    return beta_rl*beta_sft*eta**2*lam/rate_sqrt_deficit**2


def continuous_optimal_steps(tradeoff, rate_sqrt_deficit):
    """P5: k* = 2 ln(c_eta/(1 + c_eta)) / ln q."""
    return -log1p(tradeoff**(-1.0))/log1p(-rate_sqrt_deficit)


def discrete_gain_ratio(steps, tradeoff, rate_sqrt_deficit):
    """P5: guaranteed gain after k steps over Delta_0, 1 - q^k - c_eta (1 - q^{k/2})^2."""
    return select([equal(steps, 0),True], [0,-tradeoff*expm1(steps*log1p(-rate_sqrt_deficit))**2 - expm1(2*steps*log1p(-rate_sqrt_deficit))], default=nan)

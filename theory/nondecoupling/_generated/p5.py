"""Generated from ``nondecoupling.derivations.p5_discrete_time`` (P5) by
``python -m nondecoupling.derivations.codegen``. Do not edit: change the derivation and
regenerate."""
# fmt: off
# ruff: noqa
from functools import reduce
from numpy import equal, exp, expm1, less, less_equal, log1p, maximum, minimum, nan, select, sqrt


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


def discrete_path_length_bound(steps, gap0, mu, beta, eta, rate_sqrt_deficit):
    """P5: ell_k, bound on the path length of k GD steps with contraction (1 - rate_sqrt_deficit)^2."""
    return reduce(minimum, [sqrt(2)*sqrt(gap0)/(sqrt(mu)*(-1/2*beta*eta + 1)), sqrt(2)*sqrt(beta)*eta*sqrt(gap0)*select([equal(steps, 0),True], [0,-expm1(steps*log1p(-rate_sqrt_deficit))], default=nan)/rate_sqrt_deficit])


def discrete_sft_excess_lower(steps, rl_gap0, sep, mu_rl, mu_sft, rate_sqrt_deficit):
    """P5: P1's lower SFT envelope after k GD steps on R, q^{k/2} for e^{-mu_rl t}."""
    return (1/2)*mu_sft*reduce(maximum, [0, sep - sqrt(2)*sqrt(rl_gap0)*select([equal(steps, 0),True], [1,exp(steps*log1p(-rate_sqrt_deficit))], default=nan)/sqrt(mu_rl)])**2


def discrete_sft_excess_upper(steps, rl_gap0, mu_rl, beta_rl, beta_sft, eta, rate_sqrt_deficit):
    """P5: P1's upper SFT envelope (beta_sft/2) ell_k^2 after k GD steps on R."""
    return (1/2)*beta_sft*reduce(minimum, [sqrt(2)*sqrt(rl_gap0)/(sqrt(mu_rl)*(-1/2*beta_rl*eta + 1)), sqrt(2)*sqrt(beta_rl)*eta*sqrt(rl_gap0)*select([equal(steps, 0),True], [0,-expm1(steps*log1p(-rate_sqrt_deficit))], default=nan)/rate_sqrt_deficit])**2


def discrete_gain_lower(steps, gap0, rate_sqrt_deficit):
    """P5: Delta_0 (1 - q^k) <= Delta_0 - Delta_k."""
    return gap0*select([equal(steps, 0),True], [0,-expm1(2*steps*log1p(-rate_sqrt_deficit))], default=nan)


def discrete_gain_upper(steps, gap0, beta, eta):
    """P5: Delta_0 - Delta_k <= Delta_0 (1 - p^k), p = max(0, 1 - 2 beta eta - beta^2 eta^2)."""
    return gap0*select([equal(steps, 0),True], [0,-expm1(steps*log1p(-reduce(minimum, [1, beta*eta*(beta*eta + 2)])))], default=nan)

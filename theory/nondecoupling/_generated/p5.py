"""Generated from ``nondecoupling.derivations.p5_discrete_time`` (P5) by
``python -m nondecoupling.derivations.codegen``. Do not edit: change the derivation and
regenerate."""
# fmt: off
# ruff: noqa
import math
from functools import reduce
from nondecoupling._scaled import log_of_product, log_of_product_scalar, scaled_product, scaled_product_scalar
from numpy import equal, exp, expm1, greater, greater_equal, less, less_equal, log1p, maximum, minimum, nan, select, sqrt


def gd_rate(mu, beta, eta):
    """P5: q = 1 - mu eta (2 - eta beta), printed as (1 - beta eta)^2 + (beta - mu) eta (2 - beta eta)."""
    return eta*(beta - mu)*(-beta*eta + 2) + (-beta*eta + 1)**2


def gd_rate_scalar(mu, beta, eta):
    """P5: q = 1 - mu eta (2 - eta beta), printed as (1 - beta eta)^2 + (beta - mu) eta (2 - beta eta). (Python floats, math)"""
    return eta*(beta - mu)*(-beta*eta + 2) + (-beta*eta + 1)**2


def gd_rate_sqrt_deficit(mu, beta, eta):
    """P5: 1 - sqrt(q) for the descent-lemma rate q."""
    return eta*mu*(-beta*eta + 2)/(sqrt(eta*(beta - mu)*(-beta*eta + 2) + (-beta*eta + 1)**2) + 1)


def gd_rate_sqrt_deficit_scalar(mu, beta, eta):
    """P5: 1 - sqrt(q) for the descent-lemma rate q. (Python floats, math)"""
    return eta*mu*(-beta*eta + 2)/(math.sqrt(eta*(beta - mu)*(-beta*eta + 2) + (-beta*eta + 1)**2) + 1)


def adz_rate(mu, beta, eta):
    """P5: q_ADZ, Abbaszadehpeivasti-de Klerk-Zamani (2023) Thm 3 with m = -beta."""
    return select([less(beta*eta, 1),less_equal(beta*eta, sqrt(3)),True], [(2*sqrt((1/2)*beta*eta*(1 - mu/beta)*(2 + mu/beta)*(-beta*eta + 2) + (-beta*eta + 1)**2) + mu*(-beta*eta + 1)/beta)**2/(2 + mu/beta)**2,mu*(beta*eta - 1)**2*(beta*eta + 2)/(beta*(eta*mu + 2)) + (2*beta - 2*mu)/(beta*(eta*mu + 2)),(beta*eta - 1)**2/(eta*mu*(-beta*eta + 2) + (beta*eta - 1)**2)], default=nan)


def adz_rate_scalar(mu, beta, eta):
    """P5: q_ADZ, Abbaszadehpeivasti-de Klerk-Zamani (2023) Thm 3 with m = -beta. (Python floats, math)"""
    return (((2*math.sqrt((1/2)*beta*eta*(1 - mu/beta)*(2 + mu/beta)*(-beta*eta + 2) + (-beta*eta + 1)**2) + mu*(-beta*eta + 1)/beta)**2/(2 + mu/beta)**2) if (beta*eta < 1) else (mu*(beta*eta - 1)**2*(beta*eta + 2)/(beta*(eta*mu + 2)) + (2*beta - 2*mu)/(beta*(eta*mu + 2))) if (beta*eta <= math.sqrt(3)) else ((beta*eta - 1)**2/(eta*mu*(-beta*eta + 2) + (beta*eta - 1)**2)))


def adz_rate_sqrt_deficit(mu, beta, eta):
    """P5: 1 - sqrt(q_ADZ)."""
    return select([less(beta*eta, 1),less_equal(beta*eta, sqrt(3)),True], [(eta*mu*(1 + mu/beta)*(-beta*eta + 2)/(sqrt((1/2)*beta*eta*(1 - mu/beta)*(2 + mu/beta)*(-beta*eta + 2) + (-beta*eta + 1)**2) + 1) + eta*mu)/(2 + mu/beta),eta*mu*(-beta*eta + 2)*(beta*eta + 2)/((eta*mu + 2)*(sqrt(mu*(beta*eta - 1)**2*(beta*eta + 2)/(beta*(eta*mu + 2)) + (2*beta - 2*mu)/(beta*(eta*mu + 2))) + 1)),eta*mu*(-beta*eta + 2)/((sqrt((eta*mu*(-beta*eta + 2) + (beta*eta - 1)**2)**(-1.0))*abs(beta*eta - 1) + 1)*(eta*mu*(-beta*eta + 2) + (beta*eta - 1)**2))], default=nan)


def adz_rate_sqrt_deficit_scalar(mu, beta, eta):
    """P5: 1 - sqrt(q_ADZ). (Python floats, math)"""
    return (((eta*mu*(1 + mu/beta)*(-beta*eta + 2)/(math.sqrt((1/2)*beta*eta*(1 - mu/beta)*(2 + mu/beta)*(-beta*eta + 2) + (-beta*eta + 1)**2) + 1) + eta*mu)/(2 + mu/beta)) if (beta*eta < 1) else (eta*mu*(-beta*eta + 2)*(beta*eta + 2)/((eta*mu + 2)*(math.sqrt(mu*(beta*eta - 1)**2*(beta*eta + 2)/(beta*(eta*mu + 2)) + (2*beta - 2*mu)/(beta*(eta*mu + 2))) + 1))) if (beta*eta <= math.sqrt(3)) else (eta*mu*(-beta*eta + 2)/((math.sqrt(1/(eta*mu*(-beta*eta + 2) + (beta*eta - 1)**2))*abs(beta*eta - 1) + 1)*(eta*mu*(-beta*eta + 2) + (beta*eta - 1)**2))))


def gd_rate_sqrt_deficit_ratio(mu, beta, eta):
    """P5: (1 - sqrt(q))/(mu eta), a normal float where 1 - sqrt(q) may be subnormal."""
    return (-beta*eta + 2)/(sqrt(eta*(beta - mu)*(-beta*eta + 2) + (-beta*eta + 1)**2) + 1)


def gd_rate_sqrt_deficit_ratio_scalar(mu, beta, eta):
    """P5: (1 - sqrt(q))/(mu eta), a normal float where 1 - sqrt(q) may be subnormal. (Python floats, math)"""
    return (-beta*eta + 2)/(math.sqrt(eta*(beta - mu)*(-beta*eta + 2) + (-beta*eta + 1)**2) + 1)


def adz_rate_sqrt_deficit_ratio(mu, beta, eta):
    """P5: (1 - sqrt(q_ADZ))/(mu eta)."""
    return select([less(beta*eta, 1),less_equal(beta*eta, sqrt(3)),True], [((1 + mu/beta)*(-beta*eta + 2)/(sqrt((1/2)*beta*eta*(1 - mu/beta)*(2 + mu/beta)*(-beta*eta + 2) + (-beta*eta + 1)**2) + 1) + 1)/(2 + mu/beta),(-beta*eta + 2)*(beta*eta + 2)/((eta*mu + 2)*(sqrt(mu*(beta*eta - 1)**2*(beta*eta + 2)/(beta*(eta*mu + 2)) + (2*beta - 2*mu)/(beta*(eta*mu + 2))) + 1)),(-beta*eta + 2)/((sqrt((eta*mu*(-beta*eta + 2) + (beta*eta - 1)**2)**(-1.0))*abs(beta*eta - 1) + 1)*(eta*mu*(-beta*eta + 2) + (beta*eta - 1)**2))], default=nan)


def adz_rate_sqrt_deficit_ratio_scalar(mu, beta, eta):
    """P5: (1 - sqrt(q_ADZ))/(mu eta). (Python floats, math)"""
    return ((((1 + mu/beta)*(-beta*eta + 2)/(math.sqrt((1/2)*beta*eta*(1 - mu/beta)*(2 + mu/beta)*(-beta*eta + 2) + (-beta*eta + 1)**2) + 1) + 1)/(2 + mu/beta)) if (beta*eta < 1) else ((-beta*eta + 2)*(beta*eta + 2)/((eta*mu + 2)*(math.sqrt(mu*(beta*eta - 1)**2*(beta*eta + 2)/(beta*(eta*mu + 2)) + (2*beta - 2*mu)/(beta*(eta*mu + 2))) + 1))) if (beta*eta <= math.sqrt(3)) else ((-beta*eta + 2)/((math.sqrt(1/(eta*mu*(-beta*eta + 2) + (beta*eta - 1)**2))*abs(beta*eta - 1) + 1)*(eta*mu*(-beta*eta + 2) + (beta*eta - 1)**2))))


def discrete_path_length_bound(steps, gap0, mu, beta, eta, deficit_ratio):
    """P5: ell_k, bound on the path length of k GD steps with contraction (1 - mu eta deficit_ratio)^2."""
    shared_0 = reduce(minimum, [1, scaled_product((mu, eta, deficit_ratio,), ())])
    return reduce(minimum, [scaled_product((sqrt(2), sqrt(gap0),), (sqrt(mu), -1/2*beta*eta + 1,)), scaled_product((eta, sqrt(2), sqrt(beta), sqrt(gap0), select([equal(steps, 0),less(shared_0*steps, 1/1152921504606846976),greater_equal(shared_0, 1),True], [0,steps,1,-expm1(steps*log1p(-shared_0))/shared_0], default=nan),), ())])


def discrete_path_length_bound_scalar(steps, gap0, mu, beta, eta, deficit_ratio):
    """P5: ell_k, bound on the path length of k GD steps with contraction (1 - mu eta deficit_ratio)^2. (Python floats, math)"""
    shared_0 = min(1, scaled_product_scalar((mu, eta, deficit_ratio,), ()))
    return min(scaled_product_scalar((math.sqrt(2), math.sqrt(gap0),), (math.sqrt(mu), -1/2*beta*eta + 1,)), scaled_product_scalar((eta, math.sqrt(2), math.sqrt(beta), math.sqrt(gap0), ((0) if (steps == 0) else (steps) if (shared_0*steps < 1/1152921504606846976) else (1) if (shared_0 >= 1) else (-math.expm1(steps*math.log1p(-shared_0))/shared_0)),), ()))


def discrete_sft_excess_lower(steps, rl_gap0, sep, mu_rl, mu_sft, eta, deficit_ratio):
    """P5: P1's lower SFT envelope after k GD steps on R, q^{k/2} for e^{-mu_rl t}."""
    shared_1 = scaled_product((1/4, steps*log1p(-reduce(minimum, [1, scaled_product((mu_rl, eta, deficit_ratio,), ())])),), ())
    shared_0 = reduce(maximum, [0, sep - select([equal(steps, 0),True], [scaled_product((sqrt(2), sqrt(rl_gap0),), (sqrt(mu_rl),)),scaled_product((sqrt(2), sqrt(rl_gap0), exp(shared_1), exp(shared_1), exp(shared_1), exp(shared_1),), (sqrt(mu_rl),))], default=nan)])
    return scaled_product((1/2, mu_sft, shared_0, shared_0,), ())


def discrete_sft_excess_lower_scalar(steps, rl_gap0, sep, mu_rl, mu_sft, eta, deficit_ratio):
    """P5: P1's lower SFT envelope after k GD steps on R, q^{k/2} for e^{-mu_rl t}. (Python floats, math)"""
    shared_1 = scaled_product_scalar((1/4, steps*math.log1p(-min(1, scaled_product_scalar((mu_rl, eta, deficit_ratio,), ()))),), ())
    shared_0 = max(0, sep - ((scaled_product_scalar((math.sqrt(2), math.sqrt(rl_gap0),), (math.sqrt(mu_rl),))) if (steps == 0) else (scaled_product_scalar((math.sqrt(2), math.sqrt(rl_gap0), math.exp(shared_1), math.exp(shared_1), math.exp(shared_1), math.exp(shared_1),), (math.sqrt(mu_rl),)))))
    return scaled_product_scalar((1/2, mu_sft, shared_0, shared_0,), ())


def discrete_sft_excess_upper(steps, rl_gap0, mu_rl, beta_rl, beta_sft, eta, deficit_ratio):
    """P5: P1's upper SFT envelope (beta_sft/2) ell_k^2 after k GD steps on R."""
    shared_1 = reduce(minimum, [1, scaled_product((mu_rl, eta, deficit_ratio,), ())])
    shared_0 = reduce(minimum, [scaled_product((sqrt(2), sqrt(rl_gap0),), (sqrt(mu_rl), -1/2*beta_rl*eta + 1,)), scaled_product((eta, sqrt(2), sqrt(beta_rl), sqrt(rl_gap0), select([equal(steps, 0),less(shared_1*steps, 1/1152921504606846976),greater_equal(shared_1, 1),True], [0,steps,1,-expm1(steps*log1p(-shared_1))/shared_1], default=nan),), ())])
    return scaled_product((1/2, beta_sft, shared_0, shared_0,), ())


def discrete_sft_excess_upper_scalar(steps, rl_gap0, mu_rl, beta_rl, beta_sft, eta, deficit_ratio):
    """P5: P1's upper SFT envelope (beta_sft/2) ell_k^2 after k GD steps on R. (Python floats, math)"""
    shared_1 = min(1, scaled_product_scalar((mu_rl, eta, deficit_ratio,), ()))
    shared_0 = min(scaled_product_scalar((math.sqrt(2), math.sqrt(rl_gap0),), (math.sqrt(mu_rl), -1/2*beta_rl*eta + 1,)), scaled_product_scalar((eta, math.sqrt(2), math.sqrt(beta_rl), math.sqrt(rl_gap0), ((0) if (steps == 0) else (steps) if (shared_1*steps < 1/1152921504606846976) else (1) if (shared_1 >= 1) else (-math.expm1(steps*math.log1p(-shared_1))/shared_1)),), ()))
    return scaled_product_scalar((1/2, beta_sft, shared_0, shared_0,), ())


def discrete_gain_lower(steps, gap0, mu, eta, deficit_ratio):
    """P5: Delta_0 (1 - q^k) <= Delta_0 - Delta_k, 1 - sqrt(q) = mu eta deficit_ratio."""
    shared_0 = reduce(minimum, [1, scaled_product((mu, eta, deficit_ratio,), ())])
    return scaled_product((gap0, mu, eta, deficit_ratio, select([equal(steps, 0),less(shared_0*steps, 1/1152921504606846976),greater_equal(shared_0, 1),True], [0,steps,1,-expm1(steps*log1p(-shared_0))/shared_0], default=nan), select([equal(steps, 0),True], [1,exp(steps*log1p(-shared_0))], default=nan) + 1,), ())


def discrete_gain_lower_scalar(steps, gap0, mu, eta, deficit_ratio):
    """P5: Delta_0 (1 - q^k) <= Delta_0 - Delta_k, 1 - sqrt(q) = mu eta deficit_ratio. (Python floats, math)"""
    shared_0 = min(1, scaled_product_scalar((mu, eta, deficit_ratio,), ()))
    return scaled_product_scalar((gap0, mu, eta, deficit_ratio, ((0) if (steps == 0) else (steps) if (shared_0*steps < 1/1152921504606846976) else (1) if (shared_0 >= 1) else (-math.expm1(steps*math.log1p(-shared_0))/shared_0)), ((1) if (steps == 0) else (math.exp(steps*math.log1p(-shared_0)))) + 1,), ())


def discrete_gain_upper(steps, gap0, beta, eta):
    """P5: Delta_0 - Delta_k <= Delta_0 (1 - p^k), p = max(0, 1 - 2 beta eta - beta^2 eta^2)."""
    shared_0 = reduce(minimum, [1, beta*eta*(beta*eta + 2)])
    return scaled_product((gap0, shared_0, select([equal(steps, 0),less(shared_0*steps, 1/1152921504606846976),greater_equal(shared_0, 1),True], [0,steps,1,-expm1(steps*log1p(-shared_0))/shared_0], default=nan),), ())


def discrete_gain_upper_scalar(steps, gap0, beta, eta):
    """P5: Delta_0 - Delta_k <= Delta_0 (1 - p^k), p = max(0, 1 - 2 beta eta - beta^2 eta^2). (Python floats, math)"""
    shared_0 = min(1, beta*eta*(beta*eta + 2))
    return scaled_product_scalar((gap0, shared_0, ((0) if (steps == 0) else (steps) if (shared_0*steps < 1/1152921504606846976) else (1) if (shared_0 >= 1) else (-math.expm1(steps*math.log1p(-shared_0))/shared_0)),), ())


def discrete_net_gain(steps, rl_gap0, lam, beta_sft, mu_rl, beta_rl, eta, deficit_ratio):
    """P5: Delta_0 [1 - q^k - c_eta (1 - q^{k/2})^2], the guaranteed net gain after k steps, 1 - sqrt(q) = mu_rl eta deficit_ratio."""
    shared_1 = reduce(minimum, [1, scaled_product((mu_rl, eta, deficit_ratio,), ())])
    shared_0 = select([equal(steps, 0),less(shared_1*steps, 1/1152921504606846976),greater_equal(shared_1, 1),True], [0,steps,1,-expm1(steps*log1p(-shared_1))/shared_1], default=nan)
    return scaled_product((rl_gap0, mu_rl, eta, deficit_ratio, shared_0, select([equal(steps, 0),True], [1,exp(steps*log1p(-shared_1))], default=nan) + 1,), ()) - scaled_product((rl_gap0, lam, beta_sft, beta_rl, eta, eta, shared_0, shared_0,), ())


def discrete_net_gain_scalar(steps, rl_gap0, lam, beta_sft, mu_rl, beta_rl, eta, deficit_ratio):
    """P5: Delta_0 [1 - q^k - c_eta (1 - q^{k/2})^2], the guaranteed net gain after k steps, 1 - sqrt(q) = mu_rl eta deficit_ratio. (Python floats, math)"""
    shared_1 = min(1, scaled_product_scalar((mu_rl, eta, deficit_ratio,), ()))
    shared_0 = ((0) if (steps == 0) else (steps) if (shared_1*steps < 1/1152921504606846976) else (1) if (shared_1 >= 1) else (-math.expm1(steps*math.log1p(-shared_1))/shared_1))
    return scaled_product_scalar((rl_gap0, mu_rl, eta, deficit_ratio, shared_0, ((1) if (steps == 0) else (math.exp(steps*math.log1p(-shared_1)))) + 1,), ()) - scaled_product_scalar((rl_gap0, lam, beta_sft, beta_rl, eta, eta, shared_0, shared_0,), ())


def optimal_steps(lam, beta_sft, mu_rl, beta_rl, eta, deficit_ratio):
    """P5: k* = 2 ln(c_eta/(1 + c_eta)) / ln q, the continuous maximizer of the guarantee, 1 - sqrt(q) = mu_rl eta deficit_ratio."""
    shared_1 = reduce(minimum, [1, scaled_product((mu_rl, eta, deficit_ratio,), ())])
    shared_0 = scaled_product((mu_rl, eta, deficit_ratio, mu_rl, eta, deficit_ratio,), (lam, beta_sft, beta_rl, eta, eta,))
    return select([greater(shared_0, 1152921504606846976),less(shared_0, 1/1152921504606846976),True], [scaled_product((log_of_product((mu_rl, eta, deficit_ratio, mu_rl, eta, deficit_ratio,), (lam, beta_sft, beta_rl, eta, eta,)), -shared_1/log1p(-shared_1),), (mu_rl, eta, deficit_ratio,)),scaled_product((mu_rl, eta, deficit_ratio, -shared_1/log1p(-shared_1),), (lam, beta_sft, beta_rl, eta, eta,)),scaled_product((log1p(shared_0), -shared_1/log1p(-shared_1),), (mu_rl, eta, deficit_ratio,))], default=nan)


def optimal_steps_scalar(lam, beta_sft, mu_rl, beta_rl, eta, deficit_ratio):
    """P5: k* = 2 ln(c_eta/(1 + c_eta)) / ln q, the continuous maximizer of the guarantee, 1 - sqrt(q) = mu_rl eta deficit_ratio. (Python floats, math)"""
    shared_1 = min(1, scaled_product_scalar((mu_rl, eta, deficit_ratio,), ()))
    shared_0 = scaled_product_scalar((mu_rl, eta, deficit_ratio, mu_rl, eta, deficit_ratio,), (lam, beta_sft, beta_rl, eta, eta,))
    return ((scaled_product_scalar((log_of_product_scalar((mu_rl, eta, deficit_ratio, mu_rl, eta, deficit_ratio,), (lam, beta_sft, beta_rl, eta, eta,)), -shared_1/math.log1p(-shared_1),), (mu_rl, eta, deficit_ratio,))) if (shared_0 > 1152921504606846976) else (scaled_product_scalar((mu_rl, eta, deficit_ratio, -shared_1/math.log1p(-shared_1),), (lam, beta_sft, beta_rl, eta, eta,))) if (shared_0 < 1/1152921504606846976) else (scaled_product_scalar((math.log1p(shared_0), -shared_1/math.log1p(-shared_1),), (mu_rl, eta, deficit_ratio,))))

"""Generated from ``nondecoupling.derivations.p3_optimal_rl_duration`` (P3) by
``python -m nondecoupling.derivations.codegen``. Do not edit: change the derivation and
regenerate."""
# fmt: off
# ruff: noqa
import math
from nondecoupling._scaled import log_of_product, log_of_product_scalar, scaled_product, scaled_product_scalar
from numpy import exp, expm1, greater, inf, less, less_equal, log1p, nan, select


def optimal_rl_duration(lam, mu_rl, beta_rl, beta_sft):
    """P3: t* = ln(1 + 1/c)/mu_rl, c = lam beta_sft beta_rl/mu_rl^2."""
    shared_0 = scaled_product((mu_rl, mu_rl,), (lam, beta_sft, beta_rl,))
    return select([greater(shared_0, 1152921504606846976),less(shared_0, 1/1152921504606846976),True], [log_of_product((mu_rl, mu_rl,), (lam, beta_sft, beta_rl,))/mu_rl,scaled_product((mu_rl,), (lam, beta_sft, beta_rl,)),log1p(shared_0)/mu_rl], default=nan)


def optimal_rl_duration_scalar(lam, mu_rl, beta_rl, beta_sft):
    """P3: t* = ln(1 + 1/c)/mu_rl, c = lam beta_sft beta_rl/mu_rl^2. (Python floats, math)"""
    shared_0 = scaled_product_scalar((mu_rl, mu_rl,), (lam, beta_sft, beta_rl,))
    return ((log_of_product_scalar((mu_rl, mu_rl,), (lam, beta_sft, beta_rl,))/mu_rl) if (shared_0 > 1152921504606846976) else (scaled_product_scalar((mu_rl,), (lam, beta_sft, beta_rl,))) if (shared_0 < 1/1152921504606846976) else (math.log1p(shared_0)/mu_rl))


def guaranteed_net_gain(t, rl_gap0, lam, mu_rl, beta_rl, beta_sft):
    """P3: g(t) = Delta_0 [1 - e^{-2 mu_rl t} - c (1 - e^{-mu_rl t})^2]."""
    shared_0 = scaled_product((lam, beta_sft, beta_rl,), (mu_rl, mu_rl,))
    return select([less(mu_rl*t, 1/1152921504606846976),True], [select([less(shared_0, 10715086071862673209484250490600018105614048117055336074437503883703510511249361224931983788156958581275946729175531468251871452856923140435984577574698574803934567774824230985421074605062371141877954182153046474983581941267398767559165543946077062914571196477686542167660429831652624386837205668069376),True], [scaled_product((rl_gap0, mu_rl, t, (1 - shared_0)*scaled_product((mu_rl, t,), ()) + 2*exp(-mu_rl*t),), ()),scaled_product((rl_gap0, mu_rl, t, 1 + exp(-mu_rl*t),), ()) - scaled_product((rl_gap0, lam, beta_sft, beta_rl, t, t,), ())], default=nan),select([less(shared_0, 10715086071862673209484250490600018105614048117055336074437503883703510511249361224931983788156958581275946729175531468251871452856923140435984577574698574803934567774824230985421074605062371141877954182153046474983581941267398767559165543946077062914571196477686542167660429831652624386837205668069376),True], [scaled_product((rl_gap0, -expm1(-mu_rl*t), -(1 - shared_0)*expm1(-mu_rl*t) + 2*exp(-mu_rl*t),), ()),scaled_product((rl_gap0, -expm1(-mu_rl*t), 1 + exp(-mu_rl*t),), ()) - scaled_product((rl_gap0, lam, beta_sft, beta_rl, -expm1(-mu_rl*t), -expm1(-mu_rl*t),), (mu_rl, mu_rl,))], default=nan)], default=nan)


def guaranteed_net_gain_scalar(t, rl_gap0, lam, mu_rl, beta_rl, beta_sft):
    """P3: g(t) = Delta_0 [1 - e^{-2 mu_rl t} - c (1 - e^{-mu_rl t})^2]. (Python floats, math)"""
    shared_0 = scaled_product_scalar((lam, beta_sft, beta_rl,), (mu_rl, mu_rl,))
    return ((((scaled_product_scalar((rl_gap0, mu_rl, t, (1 - shared_0)*scaled_product_scalar((mu_rl, t,), ()) + 2*math.exp(-mu_rl*t),), ())) if (shared_0 < 10715086071862673209484250490600018105614048117055336074437503883703510511249361224931983788156958581275946729175531468251871452856923140435984577574698574803934567774824230985421074605062371141877954182153046474983581941267398767559165543946077062914571196477686542167660429831652624386837205668069376) else (scaled_product_scalar((rl_gap0, mu_rl, t, 1 + math.exp(-mu_rl*t),), ()) - scaled_product_scalar((rl_gap0, lam, beta_sft, beta_rl, t, t,), ())))) if (mu_rl*t < 1/1152921504606846976) else (((scaled_product_scalar((rl_gap0, -math.expm1(-mu_rl*t), -(1 - shared_0)*math.expm1(-mu_rl*t) + 2*math.exp(-mu_rl*t),), ())) if (shared_0 < 10715086071862673209484250490600018105614048117055336074437503883703510511249361224931983788156958581275946729175531468251871452856923140435984577574698574803934567774824230985421074605062371141877954182153046474983581941267398767559165543946077062914571196477686542167660429831652624386837205668069376) else (scaled_product_scalar((rl_gap0, -math.expm1(-mu_rl*t), 1 + math.exp(-mu_rl*t),), ()) - scaled_product_scalar((rl_gap0, lam, beta_sft, beta_rl, -math.expm1(-mu_rl*t), -math.expm1(-mu_rl*t),), (mu_rl, mu_rl,))))))


def rl_break_even_time(lam, mu_rl, beta_rl, beta_sft):
    """P3: t_neg = ln((c + 1)/(c - 1))/mu_rl where c > 1 (g < 0 after it), inf where c <= 1."""
    shared_0 = scaled_product((lam, beta_sft, beta_rl,), (mu_rl, mu_rl,))
    return select([less_equal(shared_0, 1),greater(shared_0, 1152921504606846976),True], [inf,scaled_product((2, mu_rl,), (lam, beta_sft, beta_rl,)),log1p(2/(shared_0 - 1))/mu_rl], default=nan)


def rl_break_even_time_scalar(lam, mu_rl, beta_rl, beta_sft):
    """P3: t_neg = ln((c + 1)/(c - 1))/mu_rl where c > 1 (g < 0 after it), inf where c <= 1. (Python floats, math)"""
    shared_0 = scaled_product_scalar((lam, beta_sft, beta_rl,), (mu_rl, mu_rl,))
    return ((math.inf) if (shared_0 <= 1) else (scaled_product_scalar((2, mu_rl,), (lam, beta_sft, beta_rl,))) if (shared_0 > 1152921504606846976) else (math.log1p(2/(shared_0 - 1))/mu_rl))

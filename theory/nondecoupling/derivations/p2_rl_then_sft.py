r"""P2 (RL-then-SFT envelope): SFT started at an RL optimum lowers the reward, within an envelope.

Statement
---------
L is (mu_sft, beta_sft)-PL-smooth, R is (mu_rl, beta_rl)-PL-smooth, sep = dist(S_L, S_R).
Start the SFT flow theta' = -grad L(theta) at theta_0 in S_R, with
eps_0 = L(theta_0) - L*. For all t >= 0

.. math::

    \frac{\mu_{rl}}{2}\max\Bigl(0,\ sep - \sqrt{2\varepsilon_0/\mu_{sft}}\,e^{-\mu_{sft} t}\Bigr)^2
    \le J^* - J(\theta_t) \le \frac{\beta_{rl}}{2}\,\ell_{sft}(t)^2,

with :math:`\ell_{sft}` the path-length bound of P1 for (eps_0, mu_sft, beta_sft).

Derivation
----------
P1 never uses which objective is "SFT" and which is "RL": it is a statement about a flow on
one PL objective measured by another. So P2 is P1 under the substitution that swaps the
roles, rl_gap0 -> sft_gap0, (mu_rl, beta_rl) <-> (mu_sft, beta_sft), applied to P1's
expressions (not re-typed). The substitution is an involution, and sympy re-checks the
result on an independent instance: the SFT flow on isotropic quadratics started at the RL
optimum b, where lower envelope = exact reward loss = upper envelope (beta = mu).

References
----------
Niu, Bai, Han, Zhang, arXiv:2601.07389 (2026); see P1 (``p1_sft_then_rl``) for the proof.
"""

from __future__ import annotations

import sympy as sp

from nondecoupling.derivations import p1_sft_then_rl as p1
from nondecoupling.derivations._codegen import ClosedForm
from nondecoupling.derivations._proof import Derivation, zero

t, sep = p1.t, p1.sep
mu_sft, beta_sft, mu_rl, beta_rl = p1.mu_sft, p1.beta_sft, p1.mu_rl, p1.beta_rl
sft_gap0 = sp.Symbol("sft_gap0", nonnegative=True)

#: Swap the roles of the objectives (simultaneous replacement).
MIRROR = {p1.rl_gap0: sft_gap0, mu_rl: mu_sft, beta_rl: beta_sft, mu_sft: mu_rl, beta_sft: beta_rl}
_UNMIRROR = {value: key for key, value in MIRROR.items()}

REWARD_LOSS_LOWER = p1.SFT_EXCESS_LOWER.xreplace(MIRROR)
REWARD_LOSS_UPPER = p1.SFT_EXCESS_UPPER.xreplace(MIRROR)

#: P1's generated function -> P2's name and docstring.
_RENAMED = {
    "sft_excess_lower": ("reward_loss_lower",
                         "P2 (P1 mirrored): lower envelope of J* - J(theta_t) along the SFT flow from S_R."),
    "sft_excess_upper": ("reward_loss_upper",
                         "P2 (P1 mirrored): upper envelope (beta_rl/2) ell_sft(t)^2 of J* - J(theta_t)."),
    "start_reach": ("start_reach",
                    "P2: sqrt(2 eps_0/mu_sft) >= dist(theta_0, S_L) (QG), hence >= sep from an RL optimum."),
}


def derive() -> Derivation:
    """P2 = P1 under MIRROR; checked on the SFT flow of isotropic quadratics from the RL optimum."""
    a = sp.Matrix(sp.symbols("a1 a2", real=True))
    b = sp.Matrix(sp.symbols("b1 b2", real=True))
    theta = a + (b - a) * sp.exp(-mu_sft * t)  # SFT flow from theta_0 = b
    reward_loss = mu_rl / 2 * (theta - b).dot(theta - b)
    instance = {sep: sp.sqrt((a - b).dot(a - b)), sft_gap0: mu_sft / 2 * (b - a).dot(b - a)}
    elapsed = sp.Symbol("elapsed", nonnegative=True)
    at_elapsed = {t: sp.log(1 + elapsed) / mu_sft}
    derivation = Derivation("P2")
    derivation.results.update(reward_loss_lower=REWARD_LOSS_LOWER, reward_loss_upper=REWARD_LOSS_UPPER)
    derivation.steps += [
        zero("the mirror substitution is an involution: mirroring P2 gives back P1",
             REWARD_LOSS_LOWER.xreplace(_UNMIRROR) - p1.SFT_EXCESS_LOWER
             + REWARD_LOSS_UPPER.xreplace(_UNMIRROR) - p1.SFT_EXCESS_UPPER),
        zero("SFT flow theta_t = a + (b - a) e^{-mu_sft t} solves theta' = -grad L from theta_0 = b",
             (sp.diff(theta, t) + mu_sft * (theta - a)).norm() + (theta.subs(t, 0) - b).norm()),
        zero("lower envelope == exact reward loss J* - J(theta_t) for every t",
             (REWARD_LOSS_LOWER.xreplace(instance) - reward_loss).xreplace(at_elapsed)),
        zero("upper envelope == exact reward loss at beta = mu",
             (REWARD_LOSS_UPPER.xreplace(instance).subs({beta_rl: mu_rl, beta_sft: mu_sft})
              - reward_loss).xreplace(at_elapsed)),
    ]
    return derivation


def closed_forms() -> list[ClosedForm]:
    """P1's SFT-excess envelope, mirrored: same expressions, symbols renamed, same argument order."""
    forms = []
    for form in p1.closed_forms():
        if form.name in _RENAMED:
            name, doc = _RENAMED[form.name]
            mirrored_args = tuple(arg.xreplace(MIRROR) for arg in form.args)
            forms.append(ClosedForm(name, mirrored_args, form.expr.xreplace(MIRROR), doc, form.rewrite))
    return forms


def _illustrate() -> None:
    """Isotropic check: the envelope pins the exact reward loss."""
    import numpy as np

    from nondecoupling import reward_loss_bounds

    distance, mu_sft_value, mu_rl_value = 2.0, 0.7, 1.3
    print("     t   lower      exact      upper")
    for time in (0.1, 0.5, 1.0, 3.0):
        exact = mu_rl_value / 2 * (distance * -np.expm1(-mu_sft_value * time)) ** 2
        lower, upper = reward_loss_bounds(time, sft_gap0=mu_sft_value * distance**2 / 2, sep=distance,
                                          mu_sft=mu_sft_value, beta_sft=mu_sft_value,
                                          mu_rl=mu_rl_value, beta_rl=mu_rl_value)
        print(f"{time:6.1f}  {lower:.9f}  {exact:.9f}  {upper:.9f}")


if __name__ == "__main__":
    print(derive())
    _illustrate()

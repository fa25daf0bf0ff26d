"""The sympy derivations, one module per theorem ID of THEORY.md.

Each module states its theorem in the docstring, and exposes ``derive()`` (a
:class:`~theory.derivations._proof.Derivation` whose steps sympy proves) and
``closed_forms()`` (the expressions printed into ``theory/_generated/<id>.py``, empty
where the theorem has no numeric function). Importing this package imports sympy; the
numeric API in :mod:`theory` never does.
"""

REGISTRY = {
    "A1": "theory.derivations.a1_coupling_identity",
    "A2": "theory.derivations.a2_second_order_onset",
    "P1": "theory.derivations.p1_sft_then_rl",
    "P2": "theory.derivations.p2_rl_then_sft",
    "P3": "theory.derivations.p3_optimal_rl_duration",
    "P4": "theory.derivations.p4_nondecoupling_threshold",
    "P5": "theory.derivations.p5_discrete_time",
    "K1": "theory.derivations.k1_any_policy_pays",
    "K2": "theory.derivations.k2_tilted_policy",
    "K3": "theory.derivations.k3_reward_ceiling",
    "S1": "theory.derivations.s1_spectral_concentration",
    "X1": "theory.derivations.x1_interleaving",
}

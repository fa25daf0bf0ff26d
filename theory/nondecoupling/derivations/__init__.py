"""The sympy derivations, one module per theorem ID of THEORY.md.

Each module states its theorem in the docstring, and exposes ``derive()`` (a
:class:`~nondecoupling.derivations._proof.Derivation` whose steps sympy proves) and
``closed_forms()`` (the expressions printed into ``theory/nondecoupling/_generated/<id>.py``, empty
where the theorem has no numeric function). Importing this package imports sympy; the
numeric API in :mod:`nondecoupling` never does.
"""

REGISTRY = {
    "A1": "nondecoupling.derivations.a1_coupling_identity",
    "A2": "nondecoupling.derivations.a2_second_order_onset",
    "P1": "nondecoupling.derivations.p1_sft_then_rl",
    "P2": "nondecoupling.derivations.p2_rl_then_sft",
    "P3": "nondecoupling.derivations.p3_optimal_rl_duration",
    "P4": "nondecoupling.derivations.p4_nondecoupling_threshold",
    "P5": "nondecoupling.derivations.p5_discrete_time",
    "K1": "nondecoupling.derivations.k1_any_policy_pays",
    "K2": "nondecoupling.derivations.k2_tilted_policy",
    "K3": "nondecoupling.derivations.k3_reward_ceiling",
    "S1": "nondecoupling.derivations.s1_spectral_concentration",
    "X1": "nondecoupling.derivations.x1_interleaving",
    "V1": "nondecoupling.derivations.v1_sft_after_kl_rl",
    "V3": "nondecoupling.derivations.v3_reward_drop",
}

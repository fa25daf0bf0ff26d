"""The experiments' side of the theorem registry: for each ID of
:data:`nondecoupling.theorems.THEOREMS` (same IDs, same order), its simulation check and the
figures that show it.

The library's table holds what the library knows (title, derivation, public names); this one
holds what only the experiments know, so that the library never names them. The sweep's
figure modules take their theorem IDs from here (:attr:`simulations.plots.Module.theorems`),
and tests hold the check modules, the figure modules' figures and the README's theorem table
to it (``tests/simulations/test_theorem_registry.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Experiment:
    """What the experiments hold for one theorem ID.

    Attributes
    ----------
    check : str or None
        Module name under :mod:`simulations.checks` (simulation beside the bound), or None
        where the ID has none (V4 is the Qwen3 experiment itself, ``simulations.qwen3``; V5
        names two other theorems' quantities).
    figures : tuple of str
        Every figure of ``python simulations/sweep.py`` that shows it (``figures/<name>.png``).
    """

    check: str | None = None
    figures: tuple[str, ...] = ()


_COLA = ("cola_protocol", "cola_beta", "cola_size", "cola_premises")

#: Theorem ID -> :class:`Experiment`, in THEORY.md's order.
EXPERIMENTS: dict[str, Experiment] = {
    "A1": Experiment("a1_coupling_identity", ("a1_coupling",)),
    "A2": Experiment("a2_second_order_onset", ("a2_onset",)),
    "P1": Experiment("p1_sft_then_rl", ("p1_sft_then_rl",)),
    "P2": Experiment("p2_rl_then_sft", ("p2_rl_then_sft",)),
    "P3": Experiment("p3_optimal_rl_duration", ("p3_net_gain", "p3_phase")),
    "P4": Experiment("p4_nondecoupling_threshold", ("p4_threshold", "p4_crossing")),
    "P5": Experiment("p5_discrete_time", ("p5_discrete",)),
    "K1": Experiment("k1_any_policy_pays", ("k1_k2_frontier", "cola_protocol", "cola_size", "real_qwen3", "forgetting_kl")),
    "K2": Experiment("k2_tilted_policy", ("k1_k2_frontier", "cola_beta", "cola_premises", "forgetting_kl")),
    "K3": Experiment("k3_reward_ceiling", ("k3_ceiling", "real_qwen3")),
    "S1": Experiment("s1_spectral_concentration", ("s1_spectral",)),
    "X1": Experiment("x1_interleaving", ("x1_interleaving",)),
    "V1": Experiment("v1_sft_after_kl_rl", ("v1_c1_beta", "v1_convergence", "v1_table", "forgetting_kl")),
    "V2": Experiment("v2_reward_change"),
    "V3": Experiment("v3_reward_drop", ("v3_reward_drop",)),
    "V4": Experiment(None, (*_COLA, "real_qwen3")),
    "V5": Experiment(None, ("p4_threshold", "p3_net_gain")),
}


def theorems_shown_by(figures: tuple[str, ...]) -> tuple[str, ...]:
    """The IDs (in registry order) that list any of ``figures``.

    Examples
    --------
    >>> theorems_shown_by(("k1_k2_frontier", "k3_ceiling"))
    ('K1', 'K2', 'K3')
    """
    return tuple(theorem for theorem, experiment in EXPERIMENTS.items() if set(experiment.figures) & set(figures))

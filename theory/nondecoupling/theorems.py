"""The theorem registry: every ID of docs/THEORY.md, once, with what the library holds for it.

One :class:`Theorem` per ID, in THEORY.md's order: its title (as THEORY.md names it), its sympy
derivation module and the public names it answers with. ``nondecoupling.__all__`` and its lazy
import table, :data:`nondecoupling.derivations.REGISTRY` and the command ``nondecoupling derive``
read this table; tests hold the package docstring's table, its ``TYPE_CHECKING`` imports,
THEORY.md and the README to it. Importing it imports nothing else (a NamedTuple, not a
dataclass: ``import nondecoupling`` stays as light as before).

Examples
--------
>>> from nondecoupling.theorems import THEOREMS
>>> THEOREMS["P3"].title
'optimal RL duration'
>>> THEOREMS["P3"].names
('optimal_rl_duration', 'guaranteed_net_gain', 'rl_break_even_time')
>>> THEOREMS["V2"].modules  # a theorem may answer with names of several modules
('nondecoupling.paper', 'nondecoupling.kl')
"""

from __future__ import annotations

from typing import NamedTuple

PACKAGE = "nondecoupling"


class Theorem(NamedTuple):
    """One theorem ID of THEORY.md and what the library holds for it.

    Attributes
    ----------
    id : str
        THEORY.md's ID (``"P3"``).
    title : str
        Its name in THEORY.md: the words in parentheses after the ID (``P3 (optimal RL
        duration).``), or for the paper's statements (section V) the table's first column.
    derivation : str or None
        Module name under :mod:`nondecoupling.derivations` (``"p3_optimal_rl_duration"``), or
        None where nothing is derived (an alias, an experiment, a statement proved in the tests).
    api : tuple of str
        The public names it answers with, each as ``"<module>.<name>"`` relative to the package
        (``"duration.optimal_rl_duration"``); each public name belongs to exactly one theorem.
    """

    id: str
    title: str
    derivation: str | None = None
    api: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The public names, as ``from nondecoupling import <name>`` takes them."""
        return tuple(entry.rpartition(".")[2] for entry in self.api)

    @property
    def modules(self) -> tuple[str, ...]:
        """The modules that define :attr:`names`, each once, in order of first use."""
        return tuple(dict.fromkeys(f"{PACKAGE}.{entry.rpartition('.')[0]}" for entry in self.api))

    @property
    def derivation_module(self) -> str | None:
        """The derivation's import path, or None."""
        return None if self.derivation is None else f"{PACKAGE}.derivations.{self.derivation}"


def _registry(*theorems: Theorem) -> dict[str, Theorem]:
    return {theorem.id: theorem for theorem in theorems}


#: THEORY.md's theorem IDs -> :class:`Theorem`, in THEORY.md's order.
THEOREMS: dict[str, Theorem] = _registry(
    Theorem("A1", "coupling identity", "a1_coupling_identity"),
    Theorem("A2", "second-order onset", "a2_second_order_onset"),
    Theorem("P1", "SFT-then-RL envelope", "p1_sft_then_rl",
            ("envelopes.path_length_bound", "envelopes.sft_degradation_bounds", "envelopes.reward_gain_bounds")),
    Theorem("P2", "RL-then-SFT envelope", "p2_rl_then_sft", ("envelopes.reward_loss_bounds",)),
    Theorem("P3", "optimal RL duration", "p3_optimal_rl_duration",
            ("duration.optimal_rl_duration", "duration.guaranteed_net_gain", "duration.rl_break_even_time")),
    Theorem("P4", "non-decoupling threshold", "p4_nondecoupling_threshold",
            ("threshold.nondecoupling_threshold", "threshold.crossing_time")),
    Theorem("P5", "discrete time", "p5_discrete_time",
            ("discrete.gd_contraction", "discrete.optimal_rl_steps", "discrete.discrete_path_length_bound",
             "discrete.discrete_sft_degradation_bounds", "discrete.discrete_reward_gain_bounds", "discrete.discrete_net_gain")),
    Theorem("K1", "any policy pays", "k1_any_policy_pays", ("kl.kl_bernoulli",)),
    Theorem("K2", "KL-regularized RL from the SFT optimum, exact", "k2_tilted_policy", ("tilt.tilted_tradeoff",)),
    Theorem("K3", "RL-then-SFT reward ceiling", "k3_reward_ceiling",
            ("kl.kl_inverse_lower", "kl.kl_inverse_upper", "kl.pinsker_radius")),
    Theorem("S1", "spectral concentration", "s1_spectral_concentration",
            ("spectral.curvature_bracket", "spectral.misalignment_bound", "spectral.kantorovich_bound")),
    Theorem("X1", "interleaving", "x1_interleaving", ("interleaving.QuadraticPair",)),
    Theorem("V1", "v1 Theorem 3.1 (SFT then KL-regularized RL)", "v1_sft_after_kl_rl", ("paper.sft_increase_after_kl_rl",)),
    Theorem("V2", 'v1 Proposition 1 ("weak" RL then SFT)', None,
            ("paper.reward_change_bound", "paper.reward_change_band", "kl.kl_inverse_first_upper", "kl.kl_inverse_first_lower")),
    Theorem("V3", "v1 Theorem 4.1 (strict RL then SFT), Assumption 3", "v3_reward_drop",
            ("paper.theorem_4_1_as_stated", "paper.guaranteed_reward_drop")),
    Theorem("V4", "v1 experiment (Qwen3-0.6B, CoLA, SFT then GRPO)"),
    Theorem("V5", 'v2 abstract, "threshold governing when RL can improve SFT"', None,
            ("paper.threshold_loss_level", "paper.threshold_time")),
)


def public_api() -> dict[str, str]:
    """Every public name -> the module that defines it, in registry order (``nondecoupling``'s lazy table).

    Examples
    --------
    >>> public_api()["kl_bernoulli"]
    'nondecoupling.kl'
    """
    return {name: f"{PACKAGE}.{entry.rpartition('.')[0]}"
            for theorem in THEOREMS.values() for name, entry in zip(theorem.names, theorem.api)}


def api_table() -> str:
    """The markdown table of the package docstring: one row per theorem with public names.

    Examples
    --------
    >>> print(api_table().splitlines()[3])
    | P2 | reward_loss_bounds | nondecoupling.envelopes |
    """
    rows = [f"| {t.id} | {', '.join(t.names)} | {', '.join(t.modules)} |" for t in THEOREMS.values() if t.api]
    return "\n".join(["| ID | functions | module |", "|----|-----------|--------|", *rows])

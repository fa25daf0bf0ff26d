"""Declare once: every public function's parameter constraints, in one table (:data:`SPECS`).

In the spirit of scikit-learn's ``validate_params``: each entry names a function's parameters,
in signature order, with one constraint each (:class:`Interval`, :class:`StepCount`,
:class:`Flag`, :class:`Options`, or a structured one such as :class:`Distribution`), and the
constraints between parameters (:class:`PLOrder`, :class:`StableStep`, :class:`Reach`,
:class:`AtLeast`). Everything else is derived from the entry:

- :meth:`Spec.check`, the array path: every parameter through :mod:`nondecoupling.validation`'s
  ``check_*`` helper, then a broadcast check, then the cross constraints; the errors name the
  function, the parameter, the constraint, the value and the caller's file and line;
- :attr:`Spec.accept`, the scalar fast path's test: compiled once at import into one function of
  plain comparisons (``0.0 <= t <= INF and ... and mu <= beta``), as fast as the hand-written
  tests it replaces; it returns the values (typed as floats) where every constraint holds and
  every number is a Python float or int, else the empty tuple;
- :attr:`Interval.text` etc., the constraint as a docstring's parameter line states it;
- ``tests/theory/fuzz_api.py``'s valid and invalid draws.

Adding a constraint is one line in :data:`SPECS` (a parameter's entry, or one cross constraint);
the array path, the fast path, the fuzz and the tests of the table all pick it up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from nondecoupling._generated import p1
from nondecoupling.validation import (
    INF,
    SEPARATION_RTOL,
    ParameterError,
    check_broadcastable,
    check_distribution,
    check_flag,
    check_interval,
    check_pl_order,
    check_separation,
    check_stable_step,
    check_step_count,
    plain_scalars,
)

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True)
class Interval:
    """A real number (or array of them) in the interval from ``low`` to ``high``.

    ``closed`` says which ends belong to it (``"both"``, ``"left"``, ``"right"``, ``"neither"``); an
    infinite end that is closed admits inf itself (``Interval(0, INF, "both")``: a time, inf allowed).
    """

    low: float
    high: float
    closed: Literal["both", "left", "right", "neither"] = "both"
    scalar = True  # passed through plain_scalars on the fast path

    @property
    def low_closed(self) -> bool:
        return self.closed in ("both", "left")

    @property
    def high_closed(self) -> bool:
        return self.closed in ("both", "right")

    def check(self, value: Any, name: str) -> np.ndarray:
        return check_interval(
            value, name,
            low=None if self.low == -INF else self.low, high=None if self.high == INF else self.high,
            low_open=not self.low_closed, high_open=not self.high_closed,
            allow_inf=(self.high == INF and self.high_closed) or (self.low == -INF and self.low_closed))

    def expression(self, x: str) -> str:
        """The test on one Python float ``x`` (NaN fails every comparison)."""
        low, high = (_literal(end) for end in (self.low, self.high))
        return f"{low} {'<=' if self.low_closed else '<'} {x} {'<=' if self.high_closed else '<'} {high}"

    @property
    def text(self) -> str:
        """Interval notation as the docs write it: ``[0, 1]``, ``[0, inf)``."""
        ends = tuple("inf" if end == INF else "-inf" if end == -INF else f"{end:g}" for end in (self.low, self.high))
        return f"{'[' if self.low_closed else '('}{ends[0]}, {ends[1]}{']' if self.high_closed else ')'}"


def _literal(end: float) -> str:
    return "INF" if end == INF else "-INF" if end == -INF else repr(float(end))


@dataclass(frozen=True)
class StepCount:
    """A step count: a whole number >= 0, finite (kept as float64 on the array path)."""

    scalar = True
    text = "integer >= 0"

    def check(self, value: Any, name: str) -> np.ndarray:
        return check_step_count(value, name)

    def expression(self, x: str) -> str:
        return f"0 <= {x} < INF and float({x}).is_integer()"


@dataclass(frozen=True)
class Flag:
    """A switch: exactly True or False (numpy bools too on the array path)."""

    scalar = False
    text = "True or False"

    def check(self, value: Any, name: str) -> bool:
        return check_flag(value, name)

    def expression(self, x: str) -> str:
        return f"type({x}) is bool"


@dataclass(frozen=True)
class Options:
    """One of a few strings."""

    values: tuple[str, ...]
    scalar = False

    @property
    def text(self) -> str:
        return f"one of {self.values}"

    def check(self, value: Any, name: str) -> str:
        if not isinstance(value, str) or value not in self.values:
            raise ParameterError(name, self.text, repr(value))
        return value

    def expression(self, x: str) -> str:
        return f"type({x}) is str and {x} in {self.values!r}"


@dataclass(frozen=True)
class Distribution:
    """Probability vectors along the last axis (:func:`~nondecoupling.validation.check_distribution`);
    ``optional``: None is allowed (the function's default)."""

    optional: bool = False
    scalar = False
    text = "probability vector(s), summing to 1 over the last axis"

    def check(self, value: Any, name: str) -> np.ndarray | None:
        return None if value is None and self.optional else check_distribution(value, name)


@dataclass(frozen=True)
class Single:
    """One number (a verdict is one bool, so its constants cannot broadcast) that satisfies ``inner``."""

    inner: Interval
    scalar = False

    @property
    def text(self) -> str:
        return f"a single number in {self.inner.text}"

    def check(self, value: Any, name: str) -> float:
        array = self.inner.check(value, name)
        if array.size != 1:
            raise ParameterError(name, "a single number", f"shape {array.shape}")
        return float(array.reshape(-1)[0])


@dataclass(frozen=True)
class Structured:
    """A parameter whose checks are its function's own (eigenvalues and the index k into them,
    matrices and vectors of one dimension, single numbers): named here so that the table covers
    every parameter; ``kind`` says which (the fuzz draws it jointly with its function's others)."""

    kind: str
    text: str
    scalar = False

    def check(self, value: Any, name: str) -> Any:
        raise TypeError(f"{name} ({self.kind}) is checked by its function, not by Spec.check")


Constraint = Interval | StepCount | Flag | Options | Distribution | Single | Structured


# ----- Constraints between parameters: each checks broadcast arrays and has a fast-path test.
@dataclass(frozen=True)
class PLOrder:
    """``mu <= beta``: a PL constant never exceeds the smoothness constant."""

    mu: str
    beta: str

    def check(self, arrays: Mapping[str, Any]) -> None:
        check_pl_order(arrays[self.mu], arrays[self.beta], mu_name=self.mu, beta_name=self.beta)

    def expression(self) -> str:
        return f"{self.mu} <= {self.beta}"


@dataclass(frozen=True)
class StableStep:
    """``eta * beta < 2``: gradient descent with step eta on a beta-smooth loss does not diverge."""

    eta: str
    beta: str

    def check(self, arrays: Mapping[str, Any]) -> None:
        check_stable_step(arrays[self.eta], arrays[self.beta], name=self.eta, beta_name=self.beta)

    def expression(self) -> str:
        return f"{self.eta} * {self.beta} < 2.0"


@dataclass(frozen=True)
class Reach:
    """``sep <= sum of sqrt(2 gap/mu)`` over ``(gap, mu)`` pairs (beyond rounding): quadratic growth
    bounds how far a start lies from a minimizer, so no problem has a larger separation."""

    sep: str
    pairs: tuple[tuple[str, str], ...]
    reason: str

    @property
    def bound(self) -> str:
        return " + ".join(f"sqrt(2 {gap}/{mu})" for gap, mu in self.pairs)

    def check(self, arrays: Mapping[str, Any]) -> None:
        reach = sum(p1.start_reach(arrays[gap], arrays[mu]) for gap, mu in self.pairs)
        check_separation(arrays[self.sep], reach, bound=self.bound, reason=self.reason)

    def expression(self) -> str:
        reach = " + ".join(f"_reach({gap}, {mu})" for gap, mu in self.pairs)
        return f"{self.sep} <= ({reach}) * {1 + SEPARATION_RTOL!r}"


def _reach(gap: float, mu: float) -> float:
    """sqrt(2 gap/mu) on Python floats; inf where it overflows (every finite sep is then within it)."""
    try:
        return p1.start_reach_scalar(gap, mu)
    except OverflowError:
        return INF


@dataclass(frozen=True)
class AtLeast:
    """``high >= low`` for two single numbers (an interval's ends)."""

    high: str
    low: str

    def check(self, arrays: Mapping[str, Any]) -> None:
        if arrays[self.high] < arrays[self.low]:
            raise ParameterError(self.high, f">= {self.low} = {float(arrays[self.low]):g}", repr(float(arrays[self.high])))

    def expression(self) -> str:
        return f"{self.high} >= {self.low}"


Cross = PLOrder | StableStep | Reach | AtLeast


# ----- One function's entry.
@dataclass(frozen=True)
class Spec:
    """One function's constraints: ``params`` in signature order, ``cross`` between them.

    ``broadcast``: the parameters broadcast against each other (checked by :meth:`check`); False
    where the function aligns them itself (an outcome axis, single numbers).
    """

    name: str
    params: Mapping[str, Constraint]
    cross: tuple[Cross, ...] = ()
    broadcast: bool = True
    accept: Callable[..., tuple[float, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "accept", _compile_accept(self) if self.has_fast_path else _no_fast_path)

    @property
    def has_fast_path(self) -> bool:
        return all(not isinstance(c, (Distribution, Single, Structured)) for c in self.params.values())

    def check(self, *values: Any) -> tuple[Any, ...]:
        """The array path: each value checked (arrays, bools, strings), then broadcast, then the cross constraints."""
        arrays: dict[str, Any] = {name: constraint.check(value, name) for (name, constraint), value in zip(self.params.items(), values)}
        if self.broadcast:
            check_broadcastable(**{name: arrays[name] for name, c in self.params.items() if c.scalar})
        for rule in self.cross:
            rule.check(arrays)
        return tuple(arrays.values())

    def source(self) -> str:
        """The fast path's test as Python source (what :attr:`accept` runs)."""
        numbers = [name for name, c in self.params.items() if c.scalar]
        tests = [c.expression(name) for name, c in self.params.items()]  # type: ignore[union-attr]  # has_fast_path
        tests += [rule.expression() for rule in self.cross]
        args = ", ".join(self.params)
        all_floats = " and ".join(f"type({name}) is float" for name in numbers) or "True"
        return (f"def accept({args}):\n"
                f"    if not ({all_floats} or plain_scalars({', '.join(numbers)})):\n"
                f"        return ()\n"
                f"    return ({args},) if {' and '.join(tests)} else ()\n")


def _no_fast_path(*values: Any) -> tuple[float, ...]:
    return ()


def _compile_accept(spec: Spec) -> Callable[..., tuple[float, ...]]:
    namespace: dict[str, Any] = {"INF": INF, "plain_scalars": plain_scalars, "_reach": _reach}
    exec(compile(spec.source(), f"<nondecoupling.constraints: {spec.name}>", "exec"), namespace)  # noqa: S102
    return namespace["accept"]


def spec(name: str, *, cross: tuple[Cross, ...] = (), broadcast: bool = True, **params: Constraint) -> Spec:
    return Spec(name, params, cross, broadcast)


# ----- The constraints the functions share.
RATE = Interval(0.0, 1.0)  # probabilities, pass rates, mixing weights
POSITIVE = Interval(0.0, INF, "neither")  # curvature constants, costs, cycle lengths
NONNEGATIVE = Interval(0.0, INF, "left")  # gaps, separations, tilts
TIME = Interval(0.0, INF, "both")  # times and KL budgets: inf allowed
POSITIVE_OR_INF = Interval(0.0, INF, "right")  # a KL weight beta (inf: no RL)
REAL = Interval(-INF, INF, "neither")  # a loss level
STEPS = StepCount()
FLAG = Flag()

_QG_FLOW = ("quadratic growth of the flowed objective: theta_0 lies within that distance of its minimizers, "
            "so no problem has a larger sep")
_QG_BOTH = "quadratic growth of both losses bounds the distance between their minimizers"
_QG_RL = "quadratic growth of R from the SFT optimum theta_0"


def _specs(*entries: Spec) -> dict[str, Spec]:
    return {entry.name: entry for entry in entries}


#: Every public function's (and QuadraticPair's constructor's) parameters and their constraints.
SPECS: dict[str, Spec] = _specs(
    # K1, K3 (kl.py)
    spec("kl_bernoulli", a=RATE, b=RATE),
    spec("kl_inverse_upper", a=RATE, budget=TIME),
    spec("kl_inverse_lower", a=RATE, budget=TIME),
    spec("kl_inverse_first_upper", rate=RATE, budget=TIME),
    spec("kl_inverse_first_lower", rate=RATE, budget=TIME),
    spec("pinsker_radius", budget=TIME),
    # K2 (tilt.py): s indexes the leading axes, the outcomes are the last axis of probs and rewards.
    spec("tilted_tradeoff", broadcast=False, s=NONNEGATIVE, probs=Distribution(), rewards=RATE),
    # P1, P2 (envelopes.py)
    spec("path_length_bound", t=TIME, gap0=NONNEGATIVE, mu=POSITIVE, beta=POSITIVE, cross=(PLOrder("mu", "beta"),)),
    spec("reward_gain_bounds", t=TIME, gap0=NONNEGATIVE, mu=POSITIVE, beta=POSITIVE, cross=(PLOrder("mu", "beta"),)),
    spec("sft_degradation_bounds", t=TIME, rl_gap0=NONNEGATIVE, sep=NONNEGATIVE, mu_sft=POSITIVE,
         beta_sft=POSITIVE, mu_rl=POSITIVE, beta_rl=POSITIVE,
         cross=(PLOrder("mu_rl", "beta_rl"), PLOrder("mu_sft", "beta_sft"),
                Reach("sep", (("rl_gap0", "mu_rl"),), _QG_FLOW))),
    spec("reward_loss_bounds", t=TIME, sft_gap0=NONNEGATIVE, sep=NONNEGATIVE, mu_sft=POSITIVE,
         beta_sft=POSITIVE, mu_rl=POSITIVE, beta_rl=POSITIVE,
         cross=(PLOrder("mu_sft", "beta_sft"), PLOrder("mu_rl", "beta_rl"),
                Reach("sep", (("sft_gap0", "mu_sft"),), _QG_FLOW))),
    # P3 (duration.py)
    spec("optimal_rl_duration", lam=POSITIVE, mu_rl=POSITIVE, beta_rl=POSITIVE, beta_sft=POSITIVE,
         cross=(PLOrder("mu_rl", "beta_rl"),)),
    spec("rl_break_even_time", lam=POSITIVE, mu_rl=POSITIVE, beta_rl=POSITIVE, beta_sft=POSITIVE,
         cross=(PLOrder("mu_rl", "beta_rl"),)),
    spec("guaranteed_net_gain", t=TIME, rl_gap0=NONNEGATIVE, lam=POSITIVE, mu_rl=POSITIVE, beta_rl=POSITIVE,
         beta_sft=POSITIVE, cross=(PLOrder("mu_rl", "beta_rl"),)),
    # P4 (threshold.py)
    spec("nondecoupling_threshold", sft_min=REAL, sep=NONNEGATIVE, mu_sft=POSITIVE),
    spec("crossing_time", sft_gap0=NONNEGATIVE, rl_gap0=NONNEGATIVE, sep=NONNEGATIVE, mu_sft=POSITIVE,
         mu_rl=POSITIVE, cross=(Reach("sep", (("sft_gap0", "mu_sft"), ("rl_gap0", "mu_rl")), _QG_BOTH),)),
    # P5 (discrete.py)
    spec("gd_contraction", mu=POSITIVE, beta=POSITIVE, eta=POSITIVE, sharp=FLAG,
         cross=(PLOrder("mu", "beta"), StableStep("eta", "beta"))),
    spec("optimal_rl_steps", lam=POSITIVE, mu_rl=POSITIVE, beta_rl=POSITIVE, beta_sft=POSITIVE, eta=POSITIVE,
         sharp=FLAG, cross=(PLOrder("mu_rl", "beta_rl"), StableStep("eta", "beta_rl"))),
    spec("discrete_path_length_bound", steps=STEPS, gap0=NONNEGATIVE, mu=POSITIVE, beta=POSITIVE, eta=POSITIVE,
         sharp=FLAG, cross=(PLOrder("mu", "beta"), StableStep("eta", "beta"))),
    spec("discrete_sft_degradation_bounds", steps=STEPS, rl_gap0=NONNEGATIVE, sep=NONNEGATIVE, mu_sft=POSITIVE,
         beta_sft=POSITIVE, mu_rl=POSITIVE, beta_rl=POSITIVE, eta=POSITIVE, sharp=FLAG,
         cross=(PLOrder("mu_sft", "beta_sft"), PLOrder("mu_rl", "beta_rl"), StableStep("eta", "beta_rl"),
                Reach("sep", (("rl_gap0", "mu_rl"),), _QG_RL))),
    spec("discrete_reward_gain_bounds", steps=STEPS, rl_gap0=NONNEGATIVE, mu_rl=POSITIVE, beta_rl=POSITIVE,
         eta=POSITIVE, sharp=FLAG, cross=(PLOrder("mu_rl", "beta_rl"), StableStep("eta", "beta_rl"))),
    spec("discrete_net_gain", steps=STEPS, rl_gap0=NONNEGATIVE, lam=POSITIVE, mu_rl=POSITIVE, beta_rl=POSITIVE,
         beta_sft=POSITIVE, eta=POSITIVE, sharp=FLAG,
         cross=(PLOrder("mu_rl", "beta_rl"), StableStep("eta", "beta_rl"))),
    # S1 (spectral.py)
    spec("curvature_bracket", broadcast=False, eigs=Structured("eigenvalues", "eigenvalues >= 0, shape (..., d), d >= 1"),
         rho=RATE, k=Structured("index", "integer in [1, d]")),
    spec("misalignment_bound", broadcast=False, eigs=Structured("eigenvalues", "eigenvalues >= 0, shape (..., d), d >= 1"),
         rho=RATE, k=Structured("index", "integer in [1, d]")),
    spec("kantorovich_bound", m_lo=POSITIVE, m_hi=POSITIVE),
    # X1 (interleaving.py): the constructor's parameters, then each method's.
    spec("QuadraticPair", broadcast=False,
         sft_hessian=Structured("psd", "symmetric positive semidefinite, shape (..., d, d)"),
         sft_minimizer=Structured("vector", "shape (..., d)"),
         rl_hessian=Structured("psd", "symmetric positive semidefinite, shape (..., d, d)"),
         rl_minimizer=Structured("vector", "shape (..., d)")),
    spec("QuadraticPair.excess", theta=Structured("vector", "shape (..., d)")),
    spec("QuadraticPair.pareto_point", w=RATE),
    spec("QuadraticPair.alternating_cycle", tau=POSITIVE, w=RATE),
    # Section V (paper.py)
    spec("sft_increase_after_kl_rl", broadcast=False, probs=Distribution(), rewards=RATE, beta=POSITIVE_OR_INF,
         prompt_weights=Distribution(optional=True)),
    spec("reward_change_bound", expected_kl=TIME),
    spec("reward_change_band", rl_reward=RATE, expected_kl=TIME, kl_direction=Options(("sft||rl", "rl||sft"))),
    spec("theorem_4_1_as_stated", broadcast=False, rl_probs=Distribution(), sft_probs=Distribution(), rewards=RATE,
         kl_low=Single(POSITIVE), kl_high=Single(POSITIVE), prompt_weights=Distribution(optional=True),
         tolerance=Single(NONNEGATIVE),
         cross=(AtLeast("kl_high", "kl_low"),)),
    spec("guaranteed_reward_drop", expert_pass_rate=RATE, rl_pass_rate=RATE, sft_excess=TIME),
    spec("threshold_loss_level", sft_min=REAL, sep=NONNEGATIVE, mu_sft=POSITIVE),
    spec("threshold_time", lam=POSITIVE, mu_rl=POSITIVE, beta_rl=POSITIVE, beta_sft=POSITIVE,
         cross=(PLOrder("mu_rl", "beta_rl"),)),
)

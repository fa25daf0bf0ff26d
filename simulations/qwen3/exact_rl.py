"""KL-regularized policy gradient in exact expectation: the reference that sampled GRPO approximates.

On a digit task every completion the policy can generate is a token string of at most
``max_tokens`` tokens (the answer's digits and ``[EOS]``; generation stops at ``[EOS]`` or
there). For 100 prompts and a 16-token vocabulary that tree is small enough to enumerate, so
the objective of KL-regularized RL,

.. math::  J(\\pi) = E_x\\bigl[E_{\\pi(\\cdot|x)} r - \\beta\\,KL(\\pi(\\cdot|x) \\| \\pi_{ref}(\\cdot|x))\\bigr],

is computed *exactly*, with no samples: ``E_pi r`` is the teacher-forced probability of the
one accepted completion (answer + ``[EOS]``), and the sequence KL is the chain rule over the
tree, ``sum over prefixes u of pi(u) KL(pi(.|x,u) || pi_ref(.|x,u))``. Its gradient is the exact
policy gradient; Adam on it converges to the stationary point that V1 is about, the tilt
``pi_ref e^{r/beta} / Z`` (where the model can represent it). At that optimum
``J = beta E_x log Z(x)``, so ``(J* - J) / beta = E_x KL(pi || pi_beta)`` is the run's exact
distance to the optimum (:func:`distance_to_tilt`).

Two things sampled GRPO does differently, both measured against this reference:
the per-token KL estimator it penalizes equals the sequence KL only in expectation over the
policy's own samples, and its default group-std advantage scaling rescales r (so beta) per
group; :func:`simulations.qwen3.stages.run_grpo` switches that scaling off for beta > 0. Even
then the group mean includes each sample, which scales the reward gradient by 1 - 1/G: the
stationary points are in :mod:`simulations.qwen3.grpo_stationary`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from nondecoupling.validation import ParameterError, check_integer, check_positive


@dataclass(frozen=True)
class CompletionTree:
    """Every prompt followed by every string of ``max_tokens - 1`` non-EOS tokens (the tree's inner nodes).

    A forward pass over ``input_ids`` gives, at position ``prompt_length - 1 + d``, the
    next-token distribution at the depth-``d`` node of each sequence's path (the causal mask
    makes it depend on the first ``d`` completion tokens only).
    """

    input_ids: torch.Tensor  # (prompts * paths, prompt_length + max_tokens - 1)
    prompts: int
    paths: int
    prompt_length: int
    max_tokens: int
    inner: torch.Tensor  # vocabulary ids of the non-EOS tokens, in path order
    eos: int
    correct: torch.Tensor  # (prompts, max_tokens - 1): the accepted answer's digits, as positions in ``inner``


def build_tree(task, tokenizer, *, max_tokens: int) -> CompletionTree:
    """The completion tree of ``task`` (every prompt of equal token length; one accepted answer each).

    Raises
    ------
    ParameterError
        Prompts of different token lengths, or an accepted answer that is not ``max_tokens - 1``
        non-EOS tokens followed by ``[EOS]``.
    """
    check_integer(max_tokens, "max_tokens", low=1)
    prompt_ids = [tokenizer(p)["input_ids"] for p in task.prompts]
    if len({len(ids) for ids in prompt_ids}) != 1:
        raise ParameterError("task.prompts", "prompts of one token length (the tree is one batch)", "several lengths")
    eos = tokenizer.eos_token_id
    inner = [i for i in range(len(tokenizer)) if i != eos]
    position = {token: k for k, token in enumerate(inner)}
    correct = []
    for prompt in task.prompts:
        answer = tokenizer(task.correct_answer(prompt), add_special_tokens=False)["input_ids"]
        if len(answer) != max_tokens - 1 or eos in answer:
            raise ParameterError("max_tokens", f"1 + the accepted answer's {len(answer)} tokens", str(max_tokens))
        correct.append([position[t] for t in answer])
    paths = list(itertools.product(inner, repeat=max_tokens - 1))
    rows = [ids + list(path) for ids in prompt_ids for path in paths]
    return CompletionTree(torch.tensor(rows), len(prompt_ids), len(paths), len(prompt_ids[0]), max_tokens,
                          torch.tensor(inner), eos, torch.tensor(correct))


def node_log_probs(model, tree: CompletionTree) -> list[torch.Tensor]:
    """Next-token log-probabilities at every node, by depth: entry ``d`` has shape
    ``(prompts,) + (inner,) * d + (vocab,)``."""
    logits = model(input_ids=tree.input_ids).logits[:, tree.prompt_length - 1 :]
    log_probs = torch.log_softmax(logits.double(), dim=-1)  # float64: the KL sums many small terms
    inner, depth_max = len(tree.inner), tree.max_tokens - 1
    shaped = log_probs.reshape(tree.prompts, *([inner] * depth_max), tree.max_tokens, -1)
    by_depth = []
    for d in range(tree.max_tokens):
        # A depth-d node depends on the first d path tokens: take path index 0 for the rest.
        index = (slice(None),) + (slice(None),) * d + (0,) * (depth_max - d) + (d,)
        by_depth.append(shaped[index])
    return by_depth


def pass_probability(by_depth: list[torch.Tensor], tree: CompletionTree) -> torch.Tensor:
    """pi(accepted answer + EOS | x) per prompt (the exact E_pi r of a 0/1 verifier)."""
    rows = torch.arange(tree.prompts)
    total = torch.zeros(tree.prompts, dtype=by_depth[0].dtype)
    for d, log_probs in enumerate(by_depth):
        node = (rows, *[tree.correct[:, j] for j in range(d)])
        token = tree.inner[tree.correct[:, d]] if d < tree.max_tokens - 1 else torch.full_like(rows, tree.eos)
        total = total + log_probs[node + (token,)]
    return total.exp()


def sequence_kl(by_depth: list[torch.Tensor], reference: list[torch.Tensor], tree: CompletionTree) -> torch.Tensor:
    """KL(pi(.|x) || pi_ref(.|x)) over whole completions, per prompt: the chain rule over the tree."""
    reach = torch.ones(tree.prompts, dtype=by_depth[0].dtype)  # pi(prefix) of the depth-d nodes: (prompts,) + (inner,) * d
    total = torch.zeros(tree.prompts, dtype=by_depth[0].dtype)
    for log_p, log_q in zip(by_depth, reference, strict=True):
        token_kl = (log_p.exp() * (log_p - log_q)).sum(-1)
        total = total + (reach * token_kl).reshape(tree.prompts, -1).sum(1)
        reach = reach[..., None] * log_p[..., tree.inner].exp()
    return total


def objective(model, reference: list[torch.Tensor], tree: CompletionTree, beta: float) -> tuple[torch.Tensor, dict]:
    """J = mean_x [pi(pass|x) - beta KL_x] (differentiable) and its parts (floats)."""
    by_depth = node_log_probs(model, tree)
    passed, kl = pass_probability(by_depth, tree), sequence_kl(by_depth, reference, tree)
    value = (passed - beta * kl).mean()
    return value, {"exact_pass_rate": float(passed.mean()), "exact_kl": float(kl.mean()), "objective": float(value.detach())}


def tilt_optimum(reference_pass: np.ndarray, beta: float) -> dict:
    """The optimum of J over all policies on the tree, from pi_ref's per-prompt pass rates b0(x).

    pi_beta = pi_ref e^{r/beta} / Z(x), Z(x) = 1 + b0(x) (e^{1/beta} - 1): its pass rate
    b0 e^{1/beta} / Z per prompt, and J* = beta E_x log Z(x).
    """
    check_positive(beta, "beta")
    s = 1.0 / beta
    log_z = np.log1p(reference_pass * math.expm1(s))
    return {"tilt_pass_rate": float(np.mean(np.exp(np.log(reference_pass) + s - log_z))),
            "optimal_objective": float(beta * np.mean(log_z))}


def distance_to_tilt(objective_value: float, optimal_objective: float, beta: float) -> float:
    """E_x KL(pi || pi_beta) = (J* - J) / beta: how far the policy is from the KL-regularized optimum.

    ``J(pi) = beta E_x[log Z - KL(pi || pi_beta)]`` for every pi on the tree, so the gap is exact.
    """
    return (optimal_objective - objective_value) / beta

"""Probe a torch causal LM: SFT-loss curvature, the RL gradient, and S1/A1 measured on it.

Needs the optional extra (``pip install -e '.[torch]'``). Works on transformers' causal
LMs (tested on ``Qwen3ForCausalLM`` with its default SDPA attention, in float64, float32
and bf16); every quantity is about a chosen set of parameters theta in R^d
(:func:`select_parameters`, by name pattern), flattened in ``model.named_parameters()`` order.

* The SFT loss is SEQUENCE level (summed token NLL of each response, mean over responses),
  the unit of K1 and of the logs' ``sft_loss``, over the whole expert data set in batches
  (:func:`sft_loss_terms`: each batch weighted by its share of the rows).
* Hessian-vector products by double backpropagation (reverse-over-reverse,
  :class:`~nondecoupling.bridge.models.hessian.HessianVectorProduct`), summed over batches, with the
  attention on SDPA's MATH kernel during the products
  (:func:`~nondecoupling.bridge.models.hessian.double_backward_attention`): the fused flash kernels
  that SDPA picks by default on CPU and CUDA have no second derivative. Top-k eigenpairs by a
  few-vector Lanczos on the model's device or scipy's ``eigsh`` (chosen by size), the trace
  by Hutchinson's estimator.
* The RL gradient by REINFORCE with a leave-one-out baseline:
  grad J = E[(r - b) grad log pi(y|x)], b_i = mean of the other samples' rewards
  (unbiased, since b_i does not depend on y_i), and grad R = -grad J. If all rewards are
  equal every advantage is 0 and the estimate is exactly 0: that is reported
  (``rl_gradient_zero``), and the quantities that divide by ||g|| are ``None``.
* S1: rho_k = sum_{i<=k} <u_i, g>^2 / ||g||^2, the measured curvature g^T H g / ||g||^2
  against :func:`nondecoupling.curvature_bracket`, and the measured misalignment
  m = g^T H g / (||H g|| ||g||) against :func:`nondecoupling.misalignment_bound`.
* A1: <grad L, grad R> and its cosine; along the RL flow dL/dt = -<grad L, grad R>.
"""

from __future__ import annotations

import contextlib
import fnmatch
import math
import operator
from collections.abc import Iterator, Sequence
from functools import reduce
from typing import TYPE_CHECKING

import numpy as np

import nondecoupling
from nondecoupling.validation import ParameterError, check_integer

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from nondecoupling._typing import Numbers

try:
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("nondecoupling.bridge.models.probe needs torch: pip install torch==2.13.0 && pip install -e '.[torch]'") from None

from nondecoupling.bridge.models.hessian import (  # noqa: E402
    HessianVectorProduct,
    double_backward_attention,
    flat_grad,
    hutchinson_trace,
    smallest_hessian_eigenvalue,
    top_hessian_eigenpairs,
)
from nondecoupling.bridge.models.sequences import encode_pairs, sequence_logprobs  # noqa: E402

__all__ = [
    "differentiate_only", "encode_pairs", "flat_grad", "gradient_alignment", "hutchinson_trace", "reinforce_gradient",
    "sample_responses", "select_parameters", "sequence_logprobs", "sft_batches", "sft_gradient", "sft_hessian",
    "sft_loss", "sft_loss_terms", "smallest_hessian_eigenvalue", "spectral_check", "top_hessian_eigenpairs",
]


def select_parameters(model: torch.nn.Module, patterns: Sequence[str] | None = None) -> tuple[list[str], list]:
    """The parameters theta is made of: names matching any fnmatch ``patterns`` (default: all).

    Tied weights appear once, under their first name (Qwen3's ``lm_head.weight`` is
    ``model.embed_tokens.weight``). Returns ``(names, params)`` in model order.

    Raises
    ------
    ParameterError
        If no parameter name matches.

    Examples
    --------
    >>> import torch
    >>> names, _ = select_parameters(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)), ["1.*"])
    >>> names
    ['1.weight', '1.bias']
    """
    chosen = [(name, p) for name, p in model.named_parameters()
              if patterns is None or any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)]
    if not chosen:
        example = next(iter(dict(model.named_parameters())), "none")
        raise ParameterError("patterns", "fnmatch patterns matching at least one parameter name (e.g. " + repr(example) + ")",
                             repr(None if patterns is None else list(patterns)))
    names, params = zip(*chosen)
    return list(names), list(params)


@contextlib.contextmanager
def differentiate_only(model: torch.nn.Module, params: Sequence[torch.Tensor]) -> Iterator[None]:
    """Within the block only ``params`` require grad: no graph is built for the others.

    With a last-layers subset, the forward pass records nothing before those layers, which
    is most of the time and memory saved. The previous flags are restored on exit.
    """
    chosen = {id(p) for p in params}
    previous = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in previous:
            p.requires_grad_(id(p) in chosen)
        yield
    finally:
        for p, flag in previous:
            p.requires_grad_(flag)


def sft_loss(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sequence-level SFT loss: mean over rows of the response's summed token NLL (nats)."""
    return -sequence_logprobs(model, batch).mean()


def sft_batches(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], responses: Sequence[str], *, batch_size: int,
                device: torch.device | str | None = None) -> list[dict]:
    """The expert pairs as :func:`encode_pairs` batches of at most ``batch_size`` rows."""
    check_integer(batch_size, "batch_size", low=1)
    return [encode_pairs(tokenizer, prompts[i:i + batch_size], responses[i:i + batch_size], device=device)
            for i in range(0, len(prompts), batch_size)]


def sft_loss_terms(model: PreTrainedModel, batches: Sequence[dict[str, torch.Tensor]]) -> list:
    """One callable per batch; their sum is the data-set SFT loss (each batch weighted by its rows)."""
    rows = sum(len(batch["input_ids"]) for batch in batches)
    return [lambda batch=batch: -sequence_logprobs(model, batch).sum() / rows for batch in batches]


def sft_hessian(model: PreTrainedModel, batches: Sequence[dict[str, torch.Tensor]], params: Sequence[torch.Tensor], *, cache_graphs: bool | None = None) -> HessianVectorProduct:
    """The data-set SFT loss's Hessian w.r.t. ``params`` as a Hessian-vector product.

    ``cache_graphs`` (default: only for a single batch) keeps the gradient graphs between
    products. Call it and the products inside :func:`differentiate_only` to skip the
    graph of the other parameters.
    """
    cache = len(batches) == 1 if cache_graphs is None else cache_graphs
    return HessianVectorProduct(sft_loss_terms(model, batches), list(params),
                                context=lambda: double_backward_attention(model), cache_graphs=cache)


def sft_gradient(model: PreTrainedModel, batches: Sequence[dict[str, torch.Tensor]], params: Sequence[torch.Tensor]) -> torch.Tensor:
    """grad of the data-set SFT loss w.r.t. ``params``, flat, accumulated over batches."""
    terms = sft_loss_terms(model, batches)
    if not terms:
        raise ParameterError("batches", "at least one batch", "none")
    return reduce(operator.add, (flat_grad(term(), params) for term in terms))


def sample_responses(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], *, samples_per_prompt: int,
                     max_new_tokens: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Sample responses with ``model.generate`` (temperature 1); returns (prompts, responses)."""
    torch.manual_seed(seed)
    all_prompts, responses = [], []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(model.device)  # as training encodes it
        out = model.generate(
            ids.repeat(samples_per_prompt, 1), attention_mask=torch.ones_like(ids).repeat(samples_per_prompt, 1),
            do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        )
        texts = tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
        all_prompts += [prompt] * samples_per_prompt
        responses += [t.strip() for t in texts]
    return all_prompts, responses


def reinforce_gradient(model: PreTrainedModel, batch: dict[str, torch.Tensor], rewards: Numbers | torch.Tensor,
                       params: Sequence[torch.Tensor] | None = None, *, batch_size: int | None = None) -> torch.Tensor:
    """REINFORCE estimate of grad R = -grad J with a leave-one-out baseline.

    Parameters
    ----------
    model : torch.nn.Module
        The policy.
    batch : dict
        Sampled prompt+response rows (:func:`encode_pairs`), at least two.
    rewards : array_like, shape (n,)
        r(y_i) for each row.
    params : list of torch.Tensor, optional
        Parameters to differentiate (default: all, :func:`select_parameters`).
    batch_size : int, optional
        Rows per backward pass (default: all at once); the estimate is the same.

    Returns
    -------
    torch.Tensor
        The flat estimate of grad R = -(1/n) sum_i (r_i - b_i) grad log pi(y_i | x_i),
        b_i = (sum_j r_j - r_i) / (n - 1). Exactly 0 if all rewards are equal.
    """
    params = select_parameters(model)[1] if params is None else params
    rewards = torch.as_tensor(np.asarray(rewards, dtype=np.float64), device=batch["input_ids"].device)
    n = rewards.numel()
    if n < 2 or n != len(batch["input_ids"]):
        raise ParameterError("rewards", f"one per row of the batch ({len(batch['input_ids'])}), at least two", f"{n}")
    advantage = rewards - (rewards.sum() - rewards) / (n - 1)
    step = n if batch_size is None else int(check_integer(batch_size, "batch_size", low=1))
    total: torch.Tensor | None = None
    for start in range(0, n, step):
        rows = {key: value[start:start + step] for key, value in batch.items()}
        logprobs = sequence_logprobs(model, rows)
        part = flat_grad(-(advantage[start:start + step].to(logprobs.dtype) * logprobs).sum() / n, params)
        total = part if total is None else total + part
    assert total is not None, "n >= 2 rows: the loop ran"
    return total.detach()


def _norm(vector: torch.Tensor) -> float:
    return math.sqrt(float(torch.sum(vector * vector, dtype=torch.float64)))


def gradient_alignment(sft_grad: torch.Tensor, rl_grad: torch.Tensor) -> dict:
    """A1's inner product <grad L, grad R>, its cosine, and the predicted sign of dL/dt.

    Along the RL flow dL/dt = -<grad L, grad R>: a negative inner product means RL raises
    the SFT loss (and SFT lowers the reward). The cosine is ``None`` (undefined) where a
    gradient is 0, e.g. the RL gradient when all rewards are equal.

    Examples
    --------
    >>> import torch
    >>> gradient_alignment(torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0]))["coupled"]
    True
    """
    inner = float(torch.sum(sft_grad * rl_grad, dtype=torch.float64))
    norms = _norm(sft_grad) * _norm(rl_grad)
    return {"inner": inner, "cosine": inner / norms if norms > 0 else None,
            "sft_loss_rate_under_rl_flow": -inner, "coupled": inner < 0}


def spectral_check(hvp: HessianVectorProduct, eigenvalues: Numbers, eigenvectors: torch.Tensor, rl_grad: torch.Tensor, k: int, *, lam_min: float | None = None) -> dict:
    """S1 measured at theta: rho_k, curvature and misalignment against their bounds.

    Parameters
    ----------
    hvp : HessianVectorProduct
        The SFT-loss Hessian H (:func:`sft_hessian`).
    eigenvalues : array_like
        The top k+1 eigenvalues, decreasing: lam_{k+1} enters the bracket.
    eigenvectors : torch.Tensor, shape (>= k, d)
        The top eigenvectors, one per row (an ``EigenResult``'s ``vectors``).
    rl_grad : torch.Tensor
        g = grad R at theta, flat.
    k : int
        Rank of the eigenspace.
    lam_min : float, optional
        lam_min(H) (:func:`smallest_hessian_eigenvalue`). S1's lower bound assumes H >= 0;
        with it the result also holds the bound that stays valid for an indefinite H,
        lam_k rho_k + min(lam_min, 0) (1 - rho_k) (the rest of g sees eigenvalues >= lam_min).
        ``bracket`` and ``misalignment_bound`` are ``None`` if one of the k+1 eigenvalues
        is negative (S1's premise fails).

    Returns
    -------
    dict
        ``k``, ``eigenvalues``, ``rl_gradient_zero``, ``rho_k``, ``curvature`` g^T H g/||g||^2
        with ``bracket`` (lower, upper), ``misalignment`` m with ``misalignment_bound``,
        ``lam_min`` and ``bracket_lower_indefinite``. Everything that divides by ||g||
        (or by ||H g||) is ``None`` where that norm is 0: a zero RL gradient is a result.
    """
    eigenvalues = np.asarray(eigenvalues, float)
    if eigenvalues.size < k + 1:
        raise ParameterError("eigenvalues", f"the top k+1 = {k + 1} eigenvalues", f"{eigenvalues.size} of them")
    g = rl_grad.to(device=hvp.device, dtype=hvp.dtype)
    norm2 = _norm(g) ** 2
    result = {"k": k, "eigenvalues": eigenvalues.tolist(), "rl_gradient_zero": norm2 == 0.0, "rho_k": None,
              "curvature": None, "bracket": None, "misalignment": None, "misalignment_bound": None,
              "lam_min": lam_min, "bracket_lower_indefinite": None}
    if norm2 == 0.0:
        return result
    projections = torch.sum(eigenvectors[:k] * g, dim=1, dtype=torch.float64)
    rho = min(float(torch.sum(projections ** 2)) / norm2, 1.0)  # rounding can push a full share past 1
    hg = hvp(g)
    quadratic = float(torch.sum(g * hg, dtype=torch.float64))
    result.update(rho_k=rho, curvature=quadratic / norm2)
    if eigenvalues.min() >= 0:  # S1 is stated for H >= 0 on the top k+1 eigenvalues it uses
        result.update(bracket=[float(b) for b in nondecoupling.curvature_bracket(eigenvalues, rho, k)],
                      misalignment_bound=float(nondecoupling.misalignment_bound(eigenvalues, rho, k)))
    if _norm(hg) > 0:
        result["misalignment"] = quadratic / (_norm(hg) * math.sqrt(norm2))
    if lam_min is not None:
        result["bracket_lower_indefinite"] = float(eigenvalues[k - 1] * rho + min(lam_min, 0.0) * (1 - rho))
    return result

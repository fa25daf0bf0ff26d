"""Probe a torch causal LM: SFT-loss curvature, the RL gradient, and S1/A1 measured on it.

Needs the optional extra (``pip install -e '.[torch]'``). Works on transformers' causal
LMs (tested on ``Qwen3ForCausalLM``); every quantity is about the trainable parameters
theta in R^d, flattened in ``model.parameters()`` order.

* Hessian-vector products of the SFT loss by double backpropagation
  (``torch.autograd.grad`` of <grad L, v>), wrapped as a scipy
  :class:`~scipy.sparse.linalg.LinearOperator`, so that ``scipy.sparse.linalg.eigsh``
  finds the top-k eigenpairs of H without forming it.
* The RL gradient by REINFORCE with a leave-one-out baseline:
  grad J = E[(r - b) grad log pi(y|x)], b_i = mean of the other samples' rewards
  (unbiased, since b_i does not depend on y_i), and grad R = -grad J.
* S1: rho_k = sum_{i<=k} <u_i, g>^2 / ||g||^2, the measured curvature g^T H g / ||g||^2
  against :func:`nondecoupling.curvature_bracket`, and the measured misalignment
  m = g^T H g / (||H g|| ||g||) against :func:`nondecoupling.misalignment_bound`.
* A1: <grad L, grad R> and its cosine; along the RL flow dL/dt = -<grad L, grad R>.

The SFT loss is SEQUENCE level (summed token NLL of each response, mean over responses),
the unit of K1 and of the logs' ``sft_loss``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

import nondecoupling

try:
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("nondecoupling.bridge.probe needs torch: pip install torch==2.13.0 && pip install -e '.[torch]'") from None

from nondecoupling.bridge.sequences import encode_pairs, sequence_logprobs  # noqa: E402, F401  (part of the probe's API)


def trainable_parameters(model) -> list:
    """The parameters theta is made of (those with ``requires_grad``), in model order."""
    return [p for p in model.parameters() if p.requires_grad]


def flat_grad(value, params, *, create_graph: bool = False, retain_graph: bool | None = None):
    """grad of a scalar ``value`` w.r.t. ``params`` as one flat vector (zeros where unused)."""
    grads = torch.autograd.grad(value, params, create_graph=create_graph, retain_graph=retain_graph, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)])


def sft_loss(model, batch) -> torch.Tensor:
    """Sequence-level SFT loss: mean over rows of the response's summed token NLL (nats)."""
    return -sequence_logprobs(model, batch).mean()


def hessian_operator(loss_fn, params) -> LinearOperator:
    """H = Hessian of ``loss_fn()`` w.r.t. ``params`` as a float64 LinearOperator.

    The gradient's graph is built once and kept; each product is one more backward pass
    through it (Pearlmutter's double-backprop HVP).
    """
    grad = flat_grad(loss_fn(), params, create_graph=True)
    size = grad.numel()

    def matvec(v):
        vector = torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(-1), dtype=grad.dtype, device=grad.device)
        product = flat_grad(grad @ vector, params, retain_graph=True)
        return product.detach().cpu().double().numpy()

    return LinearOperator((size, size), matvec=matvec, dtype=np.float64)


def top_hessian_eigenpairs(operator: LinearOperator, k: int, *, tol: float = 0.0, seed: int = 0):
    """The k largest (algebraic) eigenvalues of H, in decreasing order, and their eigenvectors.

    ``scipy.sparse.linalg.eigsh`` (Lanczos) with ``which="LA"``; ``tol=0`` is machine precision.
    Returns ``(eigenvalues (k,), eigenvectors (d, k))``.
    """
    start = np.random.default_rng(seed).standard_normal(operator.shape[0])
    values, vectors = eigsh(operator, k=k, which="LA", tol=tol, v0=start)
    order = np.argsort(values)[::-1]
    return values[order], vectors[:, order]


def smallest_hessian_eigenvalue(operator: LinearOperator, *, tol: float = 0.0, seed: int = 0) -> float:
    """lam_min(H): S1 assumes H >= 0 (theta on the SFT minimum set); this tells how far from it."""
    start = np.random.default_rng(seed).standard_normal(operator.shape[0])
    return float(eigsh(operator, k=1, which="SA", tol=tol, v0=start, return_eigenvectors=False)[0])


def sample_responses(model, tokenizer, prompts, *, samples_per_prompt: int, max_new_tokens: int, seed: int = 0):
    """Sample responses with ``model.generate`` (temperature 1); returns (prompts, responses)."""
    torch.manual_seed(seed)
    all_prompts, responses = [], []
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"].to(model.device)
        out = model.generate(
            ids.repeat(samples_per_prompt, 1), attention_mask=torch.ones_like(ids).repeat(samples_per_prompt, 1),
            do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        )
        texts = tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
        all_prompts += [prompt] * samples_per_prompt
        responses += [t.strip() for t in texts]
    return all_prompts, responses


def reinforce_gradient(model, batch, rewards, params=None) -> torch.Tensor:
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
        Parameters to differentiate (default: :func:`trainable_parameters`).

    Returns
    -------
    torch.Tensor
        The flat estimate of grad R = -(1/n) sum_i (r_i - b_i) grad log pi(y_i | x_i),
        b_i = (sum_j r_j - r_i) / (n - 1).
    """
    params = trainable_parameters(model) if params is None else params
    rewards = torch.as_tensor(np.asarray(rewards, dtype=np.float64), device=batch["input_ids"].device)
    n = rewards.numel()
    if n < 2:
        raise ValueError("reinforce_gradient: rewards must hold at least two samples (leave-one-out baseline)")
    advantage = rewards - (rewards.sum() - rewards) / (n - 1)
    logprobs = sequence_logprobs(model, batch)
    surrogate = -(advantage.to(logprobs.dtype) * logprobs).mean()
    return flat_grad(surrogate, params).detach()


def gradient_alignment(sft_grad, rl_grad) -> dict:
    """A1's inner product <grad L, grad R>, its cosine, and the predicted sign of dL/dt.

    Along the RL flow dL/dt = -<grad L, grad R>: a negative inner product means RL raises
    the SFT loss (and SFT lowers the reward).
    """
    inner = float(sft_grad @ rl_grad)
    norms = float(sft_grad.norm()) * float(rl_grad.norm())
    return {"inner": inner, "cosine": inner / norms if norms > 0 else float("nan"),
            "sft_loss_rate_under_rl_flow": -inner, "coupled": inner < 0}


def spectral_check(operator: LinearOperator, eigenvalues, eigenvectors, rl_grad, k: int) -> dict:
    """S1 measured at theta: rho_k, curvature and misalignment against their bounds.

    Parameters
    ----------
    operator : LinearOperator
        The SFT-loss Hessian H (:func:`hessian_operator`).
    eigenvalues, eigenvectors : ndarray
        The top k+1 eigenpairs (:func:`top_hessian_eigenpairs` with k+1): lam_{k+1} enters
        the bracket.
    rl_grad : array_like
        g = grad R at theta.
    k : int
        Rank of the eigenspace.

    Returns
    -------
    dict
        ``rho_k``, ``curvature`` g^T H g/||g||^2 with ``bracket`` (lower, upper),
        ``misalignment`` m with ``misalignment_bound``, and ``lam_min_hint``: S1 assumes
        H >= 0; where H has negative eigenvalues the lower bounds need not hold.
    """
    g = np.asarray(rl_grad.detach().cpu().double().numpy() if hasattr(rl_grad, "detach") else rl_grad, float)
    eigenvalues = np.asarray(eigenvalues, float)
    if eigenvalues.size < k + 1:
        raise ValueError(f"spectral_check: need the top k+1 = {k + 1} eigenpairs; got {eigenvalues.size}")
    norm2 = float(g @ g)
    rho = float(np.sum((eigenvectors[:, :k].T @ g) ** 2) / norm2)
    hg = operator.matvec(g)
    curvature = float(g @ hg) / norm2
    misalignment = float(g @ hg) / (float(np.linalg.norm(hg)) * math.sqrt(norm2))
    bracket = nondecoupling.curvature_bracket(eigenvalues, rho, k)
    bound = nondecoupling.misalignment_bound(eigenvalues, rho, k)
    return {"k": k, "rho_k": rho, "eigenvalues": eigenvalues.tolist(), "curvature": curvature,
            "bracket": tuple(float(b) for b in bracket), "misalignment": misalignment, "misalignment_bound": float(bound)}

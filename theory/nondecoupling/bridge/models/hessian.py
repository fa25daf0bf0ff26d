"""Hessian-vector products of a torch loss, and the spectra built from them (needs torch).

* :class:`HessianVectorProduct`: v -> H v for a loss that is a SUM of terms (one per data
  batch, each already weighted, so the sum is the data-set loss), by double backpropagation
  (Pearlmutter): H v = grad_theta <grad_theta loss, v>. Vectors are flat torch tensors over
  the chosen parameters, in the parameters' dtype, on their device.
* :func:`double_backward_attention`: the fused attention kernels (PyTorch's flash and
  memory-efficient SDPA on CPU and CUDA, FlashAttention-2) have no second derivative, so
  every product runs attention through SDPA's MATH kernel, a composition of differentiable
  ops, while the model keeps its configured (default) attention everywhere else.
* :func:`lanczos_top_eigenpairs`: top-k eigenpairs by Lanczos with locking, holding only a
  few vectors (three for the recurrence, one Ritz vector, the k locked eigenvectors) in the
  model's dtype on its device; :func:`eigsh_top_eigenpairs`: scipy's ARPACK (about
  ``max(2k+1, 20)`` float64 vectors in host memory), for small parameter sets.
  :func:`top_hessian_eigenpairs` picks one by size (``method="auto"``).
* :func:`hutchinson_trace`: tr H = E[z^T H z] over Rademacher z, with its standard error.

The Lanczos is written here because no maintained library offers a limited-memory,
device-resident Lanczos over a torch matrix-free operator (scipy and ARPACK hold ~20
float64 host vectors: ~96 GB for all of a 0.6B model).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.linalg import eigh_tridiagonal
from scipy.sparse.linalg import LinearOperator, eigsh

from nondecoupling.validation import check_integer, check_positive

if TYPE_CHECKING:
    from transformers import PreTrainedModel

try:
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("nondecoupling.bridge.models.hessian needs torch: pip install torch==2.13.0 && pip install -e '.[torch]'") from None

# ARPACK's basis (max(2k+1, 20) float64 vectors) must fit in this many bytes for "auto" to pick eigsh.
EIGSH_MEMORY_BYTES = 2**29


def flat_grad(value: torch.Tensor, params: Sequence[torch.Tensor], *, create_graph: bool = False, retain_graph: bool | None = None) -> torch.Tensor:
    """grad of a scalar ``value`` w.r.t. ``params`` as one flat vector (zeros where unused)."""
    grads = torch.autograd.grad(value, params, create_graph=create_graph, retain_graph=retain_graph, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)])


@contextlib.contextmanager
def double_backward_attention(model: PreTrainedModel) -> Iterator[None]:
    """Run ``model``'s attention through a kernel with a second derivative, then restore it.

    ``torch.nn.functional.scaled_dot_product_attention`` runs on SDPA's MATH kernel inside
    the block (transformers' default ``sdpa`` attention; ``eager`` does not call it). Any
    other implementation (``flash_attention_2``, ``flex_attention``, ...) is switched to
    ``sdpa`` for the block and back after.
    """
    implementation = getattr(getattr(model, "config", None), "_attn_implementation", None)
    switch = implementation not in (None, "eager", "sdpa")
    if switch:
        model.set_attn_implementation("sdpa")
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        if switch:
            model.set_attn_implementation(implementation)


@dataclass
class HessianVectorProduct:
    """v -> H v with H the Hessian of ``sum(term() for term in loss_terms)`` w.r.t. ``params``.

    Parameters
    ----------
    loss_terms : list of callable
        Each returns a scalar tensor; their sum is the loss (e.g. one term per data batch,
        each weighted by its share of the rows, so H is the data-set Hessian).
    params : list of torch.Tensor
        The parameters theta (all on one device, one dtype).
    context : callable, optional
        Returns a context manager entered around every product
        (:func:`double_backward_attention` for a transformers model).
    cache_graphs : bool
        Keep each term's gradient graph between products: one backward pass per product
        and term instead of forward + two backward passes, at the memory of the graphs.
    on_product : callable, optional
        Called with 1 after each product (e.g. a tqdm bar's ``update``).

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    >>> hvp = HessianVectorProduct([lambda: (x ** 3).sum()], [x])
    >>> hvp(torch.tensor([1.0, 1.0], dtype=torch.float64)).tolist()  # diag(6 x)
    [6.0, 12.0]
    """

    loss_terms: list
    params: list
    context: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
    cache_graphs: bool = False
    on_product: Callable[[int], None] | None = None
    products: int = field(default=0, init=False)
    _graphs: list | None = field(default=None, init=False, repr=False)

    @property
    def dim(self) -> int:
        return sum(p.numel() for p in self.params)

    @property
    def dtype(self) -> torch.dtype:
        return self.params[0].dtype

    @property
    def device(self) -> torch.device:
        return self.params[0].device

    def _gradients(self):
        """The flat gradient of each term, differentiable (create_graph)."""
        if self._graphs is not None:
            yield from self._graphs
            return
        graphs = []
        for term in self.loss_terms:
            gradient = flat_grad(term(), self.params, create_graph=True)
            if self.cache_graphs:
                graphs.append(gradient)
            yield gradient
        if self.cache_graphs:
            self._graphs = graphs

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        vector = vector.to(device=self.device, dtype=self.dtype)
        total = torch.zeros_like(vector)
        with self.context():
            for gradient in self._gradients():
                total += flat_grad(gradient @ vector, self.params, retain_graph=self.cache_graphs)
        self.products += 1
        if self.on_product is not None:
            self.on_product(1)
        return total.detach()

    def as_linear_operator(self) -> LinearOperator:
        """The same product as a float64 scipy LinearOperator (host memory)."""

        def matvec(v):
            product = self(torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(-1)))
            return product.cpu().double().numpy()

        return LinearOperator((self.dim, self.dim), matvec=matvec, dtype=np.float64)


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    """<a, b> accumulated in float64 (bf16/fp16 sums would lose the small terms)."""
    return float(torch.sum(a * b, dtype=torch.float64))


def _default_tolerance(dtype: torch.dtype) -> float:
    """sqrt(eps) in 32/64 bits (a residual r gives an eigenvalue error ~ r^2/gap ~ eps/gap); eps in 16 bits.

    A 16-bit product carries a relative noise of a few eps (the residual cannot fall much
    below it), and sqrt(eps) = 0.09 in bf16 would leave a few per cent on the eigenvalues.
    """
    eps = torch.finfo(dtype).eps
    return math.sqrt(eps) if dtype.itemsize >= 4 else eps


@dataclass
class EigenResult:
    """Eigenpairs from :func:`top_hessian_eigenpairs`.

    ``values`` (k,) in decreasing order; ``vectors`` (k, d) torch tensor on the operator's
    device, or None when not asked for; ``residuals`` the Ritz residual estimates
    ||H u - lam u|| (Lanczos; NaN for eigsh, which converges to machine precision);
    ``method`` ``"lanczos"`` or ``"eigsh"``; ``products`` the Hessian-vector products spent.
    """

    values: np.ndarray
    vectors: torch.Tensor | None
    residuals: np.ndarray
    method: str
    products: int


def _project_out(vector: torch.Tensor, locked: list) -> torch.Tensor:
    for u in locked:
        vector.sub_(u, alpha=_dot(u, vector))
    return vector


def _lanczos_coefficients(apply, start: torch.Tensor, max_steps: int, tol: float):
    """Pass 1: the three-term recurrence, keeping only alphas and betas (3 vectors live).

    Stops when the top Ritz value's residual estimate beta_m |s_m| falls below
    ``tol * |theta_top|``, or the Krylov space is exhausted (beta = 0), or at ``max_steps``.
    """
    alphas: list[float] = []
    betas: list[float] = []
    previous, current, beta = torch.zeros_like(start), start / math.sqrt(_dot(start, start)), 0.0
    for _ in range(max_steps):
        w = apply(current)
        alpha = _dot(w, current)
        w.sub_(current, alpha=alpha).sub_(previous, alpha=beta)
        beta = math.sqrt(max(_dot(w, w), 0.0))
        alphas.append(alpha)
        values, vectors = eigh_tridiagonal(np.array(alphas), np.array(betas)) if len(alphas) > 1 else (np.array(alphas), np.ones((1, 1)))
        residual = beta * abs(vectors[-1, -1])
        if residual <= tol * max(abs(values[-1]), np.finfo(float).tiny) or beta == 0.0:
            return np.array(alphas), np.array(betas), values[-1], vectors[:, -1], residual
        betas.append(beta)
        previous, current = current, w / beta
    return np.array(alphas), np.array(betas), values[-1], vectors[:, -1], residual


def _ritz_vector(apply, start: torch.Tensor, alphas, betas, coefficients) -> torch.Tensor:
    """Pass 2: regenerate the Lanczos vectors from the same start and sum s_i q_i (4 vectors live)."""
    previous, current = torch.zeros_like(start), start / math.sqrt(_dot(start, start))
    ritz = coefficients[0] * current
    for step in range(1, len(alphas)):
        w = apply(current)
        w.sub_(current, alpha=alphas[step - 1]).sub_(previous, alpha=betas[step - 2] if step > 1 else 0.0)
        previous, current = current, w / betas[step - 1]
        ritz.add_(current, alpha=coefficients[step])
    return ritz


def lanczos_top_eigenpairs(hvp: HessianVectorProduct, k: int, *, max_steps: int = 100, tol: float | None = None, seed: int = 0,
                           vectors: bool = True, negate: bool = False) -> EigenResult:
    """The k largest eigenvalues of H by Lanczos with locking, in a few device vectors.

    Eigenpair j is the top Ritz pair of P H P, P = I - U U^T projecting out the j locked
    eigenvectors U (so each run sees H with the found directions removed). Each run uses
    the plain three-term recurrence without reorthogonalization (Paige: the extreme Ritz
    value still converges; its later ghost copies do not change it) and, where the
    eigenvector is needed, a second pass that regenerates the Lanczos vectors from the same
    start to form the Ritz vector. Memory: k + 4 vectors of d entries in ``hvp``'s dtype on
    its device; cost: up to 2 ``max_steps`` products per eigenpair (one pass for the last
    one when ``vectors=False``).

    Parameters
    ----------
    hvp : HessianVectorProduct
        The operator (``dim``, ``dtype``, ``device`` and ``__call__``).
    k : int
        Number of eigenpairs, >= 1.
    max_steps : int
        Lanczos steps per eigenpair (capped at d).
    tol : float, optional
        Relative residual at which a run stops; default sqrt(eps) of the dtype (eps for 16-bit dtypes).
    seed : int
        Seeds the start vectors (a generator on the operator's device).
    vectors : bool
        Return the eigenvectors.
    negate : bool
        Work on -H (its top eigenvalues are -lam_min(H), ...); values are returned for -H.

    Returns
    -------
    EigenResult

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    >>> hvp = HessianVectorProduct([lambda: (x ** 3).sum()], [x])
    >>> lanczos_top_eigenpairs(hvp, 2, vectors=False).values.round(8).tolist()
    [18.0, 12.0]
    """
    check_integer(k, "k", low=1)
    check_integer(max_steps, "max_steps", low=1)
    tol = _default_tolerance(hvp.dtype) if tol is None else float(check_positive(tol, "tol"))
    generator = torch.Generator(device=hvp.device).manual_seed(seed)
    sign = -1.0 if negate else 1.0
    locked: list[torch.Tensor] = []
    values: list[float] = []
    residuals: list[float] = []
    start_products = hvp.products
    for index in range(min(k, hvp.dim)):
        apply = lambda v: _project_out(sign * hvp(_project_out(v.clone(), locked)), locked)  # noqa: B023  (used in this iteration only)
        start = _project_out(torch.randn(hvp.dim, generator=generator, device=hvp.device, dtype=hvp.dtype), locked)
        steps = min(max_steps, hvp.dim - len(locked))
        alphas, betas, value, coefficients, residual = _lanczos_coefficients(apply, start, steps, tol)
        values.append(value)
        residuals.append(residual)
        if vectors or index < k - 1:
            ritz = _project_out(_ritz_vector(apply, start, alphas, betas, coefficients), locked)
            locked.append(ritz / math.sqrt(_dot(ritz, ritz)))
    stacked = torch.stack(locked) if vectors else None
    return EigenResult(np.array(values), stacked, np.array(residuals), "lanczos", hvp.products - start_products)


def eigsh_top_eigenpairs(hvp: HessianVectorProduct, k: int, *, tol: float = 0.0, seed: int = 0, vectors: bool = True, negate: bool = False) -> EigenResult:
    """The k largest eigenvalues of H (of -H if ``negate``) by scipy's ``eigsh`` (ARPACK, float64 host memory)."""
    check_integer(k, "k", low=1)
    operator = hvp.as_linear_operator()
    if negate:
        operator = -operator
    start_products = hvp.products
    start = np.random.default_rng(seed).standard_normal(hvp.dim)
    values, found = eigsh(operator, k=k, which="LA", tol=tol, v0=start)
    order = np.argsort(values)[::-1]
    stacked = torch.as_tensor(found[:, order].T.copy(), device=hvp.device, dtype=hvp.dtype) if vectors else None
    return EigenResult(values[order], stacked, np.full(k, np.nan), "eigsh", hvp.products - start_products)


def choose_eigen_method(dim: int, k: int) -> str:
    """``"eigsh"`` when ARPACK's max(2k+1, 20) float64 vectors fit in 512 MiB and k < d, else ``"lanczos"``."""
    basis_bytes = 8 * dim * max(2 * k + 1, 20)
    return "eigsh" if basis_bytes <= EIGSH_MEMORY_BYTES and k < dim else "lanczos"


def top_hessian_eigenpairs(hvp: HessianVectorProduct, k: int, *, method: str = "auto", vectors: bool = True, seed: int = 0,
                           negate: bool = False, **options: Any) -> EigenResult:
    """The k largest eigenpairs of H, in decreasing order, by ``method`` (see :func:`choose_eigen_method`).

    ``method`` is ``"auto"``, ``"eigsh"`` or ``"lanczos"``; ``options`` go to the chosen
    solver (``tol``; ``max_steps`` for Lanczos). The result's ``method`` says which ran.
    """
    if method == "auto":
        method = choose_eigen_method(hvp.dim, k)
    if method not in ("eigsh", "lanczos"):
        raise ValueError(f"top_hessian_eigenpairs: method must be 'auto', 'eigsh' or 'lanczos'; got {method!r}")
    solver = eigsh_top_eigenpairs if method == "eigsh" else lanczos_top_eigenpairs
    return solver(hvp, k, vectors=vectors, seed=seed, negate=negate, **options)


def smallest_hessian_eigenvalue(hvp: HessianVectorProduct, *, method: str = "auto", seed: int = 0, **options: Any) -> float:
    """lam_min(H), as minus the top eigenvalue of -H: S1's lower bounds assume H >= 0."""
    result = top_hessian_eigenpairs(hvp, 1, method=method, vectors=False, seed=seed, negate=True, **options)
    return -float(result.values[0])


def hutchinson_trace(hvp: HessianVectorProduct, samples: int, *, seed: int = 0) -> dict:
    """Hutchinson's estimate of tr H: the mean of z^T H z over Rademacher vectors z.

    E[z^T H z] = tr H; Var = 2 sum_{i != j} H_ij^2. Returns ``estimate``, ``stderr``
    (sample standard deviation / sqrt(samples); NaN for one sample) and ``samples``.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    >>> hutchinson_trace(HessianVectorProduct([lambda: (x ** 3).sum()], [x]), 4)["estimate"]  # diagonal H: exact
    18.0
    """
    check_integer(samples, "samples", low=1)
    generator = torch.Generator(device=hvp.device).manual_seed(seed)
    quadratic_forms = []
    for _ in range(samples):
        z = torch.randint(0, 2, (hvp.dim,), generator=generator, device=hvp.device).to(hvp.dtype) * 2 - 1
        quadratic_forms.append(_dot(z, hvp(z)))
    forms = np.array(quadratic_forms)
    stderr = float(forms.std(ddof=1) / math.sqrt(samples)) if samples > 1 else float("nan")
    return {"estimate": float(forms.mean()), "stderr": stderr, "samples": samples}

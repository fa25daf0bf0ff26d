"""Softmax policies: a log-linear policy over prompts (a small stand-in for an LLM) and the
tabular softmax over K responses (its one-prompt, identity-feature special case).

``pi_theta(y | x) = softmax_y(<theta, phi(x, y)>)`` with features ``phi`` of shape
``(P, K, d)`` and prompt weights ``w_x`` (a distribution over prompts).

- SFT loss (sequence-level cross-entropy, averaged over prompts)
  ``L(theta) = sum_x w_x CE(p*(.|x), pi_theta(.|x))``,
  ``grad L = sum_x w_x Phi_x^T (pi_x - p*_x)``, ``hess L = sum_x w_x Phi_x^T (diag pi_x - pi_x pi_x^T) Phi_x``.
  ``minimum`` is the averaged expert entropy ``sum_x w_x H(p*_x)``: the infimum whenever
  ``p*`` is realizable (always for the tabular policy with full-support ``p*``, and for
  :func:`random_log_linear` by construction), and the ``H(p*)`` of K1 in any case.
- RL loss ``R(theta) = -sum_x w_x [E_{pi_x} r_x - kl_coef KL(pi_x || ref_x)]`` with rewards
  in ``[0, 1]``; ``grad`` of the reward part is ``Phi_x^T (pi_x * (r_x - b_x))``, of the KL
  part ``Phi_x^T (pi_x * (log pi_x/ref_x - KL))``. ``minimum`` is the infimum over all
  distributions: ``-sum_x w_x max_y r_x(y)`` without KL, ``-sum_x w_x kl_coef log E_ref e^{r/kl_coef}``
  with it (the value at the tilted policy of K2); the tabular policy attains or
  approaches it.

Policies are not globally PL (``mu``/``beta`` are ``None``): they serve A1, A2, S1 and K1-K3.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, logsumexp

from nondecoupling.validation import ParameterError, as_float_array, check_distribution, check_nonnegative, check_rate
from simulations.problems.base import Objective


class LogLinearPolicy:
    """``pi_theta(y | x) ∝ exp <theta, phi(x, y)>`` over ``P`` prompts and ``K`` responses.

    Parameters
    ----------
    features : array_like, shape (P, K, d)
        ``phi(x, y)``.
    prompt_weights : array_like, shape (P,), optional
        Distribution over prompts (uniform by default).
    """

    def __init__(self, features, prompt_weights=None):
        self.features = as_float_array(features, "features")
        if self.features.ndim != 3:
            raise ParameterError("features", "an array of shape (prompts, responses, d)", str(self.features.shape))
        self.prompts, self.responses, self.dim = self.features.shape
        weights = np.full(self.prompts, 1.0 / self.prompts) if prompt_weights is None else prompt_weights
        self.prompt_weights = check_rate(weights, "prompt_weights")

    def log_probs(self, theta) -> np.ndarray:
        """``log pi(y|x)``, shape ``theta.shape[:-1] + (P, K)``."""
        logits = np.einsum("pkd,...d->...pk", self.features, np.asarray(theta, dtype=np.float64))
        return log_softmax(logits, axis=-1)

    def probs(self, theta) -> np.ndarray:
        return np.exp(self.log_probs(theta))

    def pullback(self, per_response) -> np.ndarray:
        """``sum_x w_x Phi_x^T v_x``: a gradient in logit space mapped to parameter space."""
        return np.einsum("p,pkd,...pk->...d", self.prompt_weights, self.features, per_response)

    def average(self, per_prompt) -> np.ndarray:
        """``sum_x w_x v_x``."""
        return per_prompt @ self.prompt_weights


def tabular_policy(responses: int) -> LogLinearPolicy:
    """The softmax over ``K`` responses with one logit each (``theta`` = logits)."""
    return LogLinearPolicy(np.eye(responses)[None])


def _entropy(probs) -> np.ndarray:
    return -np.sum(np.where(probs > 0, probs * np.log(np.where(probs > 0, probs, 1.0)), 0.0), axis=-1)


class CrossEntropy(Objective):
    """SFT loss ``sum_x w_x CE(p*_x, pi_theta(.|x))`` (sequence level).

    Parameters
    ----------
    policy : LogLinearPolicy
    expert_probs : array_like, shape (P, K) or (K,) for one prompt
        ``p*(y|x)``, rows summing to 1.
    """

    def __init__(self, policy: LogLinearPolicy, expert_probs):
        self.policy = policy
        self.expert_probs = np.broadcast_to(check_distribution(expert_probs, "expert_probs"), (policy.prompts, policy.responses))
        self.dim = policy.dim
        self.expert_entropy = _entropy(self.expert_probs)
        self.minimum = float(policy.average(self.expert_entropy))

    def per_prompt(self, theta) -> np.ndarray:
        """``CE(p*_x, pi_x)`` for each prompt, shape ``theta.shape[:-1] + (P,)``."""
        return -np.sum(self.expert_probs * self.policy.log_probs(theta), axis=-1)

    def value(self, theta):
        return self.policy.average(self.per_prompt(theta))

    def grad(self, theta):
        return self.policy.pullback(self.policy.probs(theta) - self.expert_probs)

    def hessian(self, theta):
        probs = self.policy.probs(theta)
        covariance = probs[..., :, None] * np.eye(self.policy.responses) - probs[..., :, None] * probs[..., None, :]
        return np.einsum("p,pkd,...pkl,ple->...de", self.policy.prompt_weights, self.policy.features, covariance, self.policy.features)


class RewardLoss(Objective):
    """RL loss ``-sum_x w_x [E_pi r_x - kl_coef KL(pi_x || ref_x)]``.

    Parameters
    ----------
    policy : LogLinearPolicy
    rewards : array_like, shape (P, K) or (K,)
        ``r(x, y)`` in ``[0, 1]`` (binary or graded).
    kl_coef : float
        ``>= 0``; the KL-regularized objective of K2 has ``kl_coef = 1/s``.
    reference_probs : array_like, shape (P, K) or (K,), optional
        ``ref``; required when ``kl_coef > 0``.
    """

    def __init__(self, policy: LogLinearPolicy, rewards, kl_coef=0.0, reference_probs=None):
        self.policy = policy
        self.rewards = np.broadcast_to(check_rate(rewards, "rewards"), (policy.prompts, policy.responses))
        self.kl_coef = float(check_nonnegative(kl_coef, "kl_coef"))
        self.dim = policy.dim
        if self.kl_coef > 0:
            if reference_probs is None:
                raise ParameterError("reference_probs", "given when kl_coef > 0", "None")
            self.log_reference = np.log(np.broadcast_to(check_rate(reference_probs, "reference_probs"), self.rewards.shape))
            best = self.kl_coef * logsumexp(self.log_reference + self.rewards / self.kl_coef, axis=-1)
        else:
            best = self.rewards.max(axis=-1)
        self.minimum = -float(policy.average(best))

    def pass_rates(self, theta) -> np.ndarray:
        """``b_x = E_{pi_x} r_x``, shape ``theta.shape[:-1] + (P,)``."""
        return np.sum(self.policy.probs(theta) * self.rewards, axis=-1)

    def kl_to_reference(self, theta) -> np.ndarray:
        """``KL(pi_x || ref_x)`` per prompt."""
        log_probs = self.policy.log_probs(theta)
        return np.sum(np.exp(log_probs) * (log_probs - self.log_reference), axis=-1)

    def value(self, theta):
        per_prompt = self.pass_rates(theta)
        if self.kl_coef > 0:
            per_prompt = per_prompt - self.kl_coef * self.kl_to_reference(theta)
        return -self.policy.average(per_prompt)

    def grad(self, theta):
        log_probs = self.policy.log_probs(theta)
        probs = np.exp(log_probs)
        advantage = self.rewards - np.sum(probs * self.rewards, axis=-1, keepdims=True)
        if self.kl_coef > 0:
            log_ratio = log_probs - self.log_reference
            advantage = advantage - self.kl_coef * (log_ratio - np.sum(probs * log_ratio, axis=-1, keepdims=True))
        return -self.policy.pullback(probs * advantage)


def random_log_linear(rng: np.random.Generator, *, prompts: int, responses: int, dim: int, binary: bool = True):
    """A random log-linear SFT/RL pair with a realizable expert (so ``L*`` is attained).

    Features are Gaussian, the expert is ``p* = pi_{theta_expert}`` with Gaussian
    ``theta_expert``, rewards are Bernoulli(1/2) per (prompt, response) (``binary``) or
    uniform on ``[0, 1]``.

    Returns
    -------
    (CrossEntropy, RewardLoss, theta_expert)
    """
    policy = LogLinearPolicy(rng.standard_normal((prompts, responses, dim)))
    theta_expert = rng.standard_normal(dim)
    shape = (prompts, responses)
    if binary:
        rewards = rng.permuted(np.c_[np.ones(prompts), np.zeros(prompts), rng.integers(0, 2, (prompts, responses - 2))], axis=-1)
    else:
        rewards = rng.uniform(size=shape)
    return CrossEntropy(policy, policy.probs(theta_expert)), RewardLoss(policy, rewards), theta_expert

"""The model probe on a tiny real Qwen3 (built locally, float64, CPU): Hessian, RL gradient, S1, A1.

Qwen3's RMSNorm and eager attention softmax compute in float32 even in a float64 model, so
Hessians agree to about 1e-7 relative, not to float64 precision.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from nondecoupling.bridge import probe  # noqa: E402
from simulations.qwen3.model import TinyQwen3Size, build_tiny_qwen3  # noqa: E402
from simulations.qwen3.tokenizer import build_char_tokenizer  # noqa: E402

PROMPTS = ["1+2=", "2+2=", "3+1=", "0+4="]
ANSWERS = ["3", "4", "4", "4"]


@pytest.fixture(scope="module")
def tiny():
    tokenizer = build_char_tokenizer()
    size = TinyQwen3Size(hidden_size=4, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=2, intermediate_size=8)
    model = build_tiny_qwen3(tokenizer, size, seed=0).double()
    model.set_attn_implementation("eager")  # CPU's fused SDPA kernel has no double backward
    batch = probe.encode_pairs(tokenizer, PROMPTS, ANSWERS)
    params = probe.trainable_parameters(model)
    return tokenizer, model, batch, params


@pytest.fixture(scope="module")
def dense_hessian(tiny):
    """H by torch.func.hessian (forward-over-reverse) of the loss as a function of the flat parameters.

    Independent of the probe's double-backprop HVP: the model is called functionally.
    """
    _, model, batch, params = tiny
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    shapes = [p.shape for p in params]
    flat = torch.cat([p.detach().reshape(-1) for p in params])

    def loss_of(vector):
        pieces = torch.split(vector, [int(np.prod(s)) for s in shapes])
        state = {n: piece.reshape(s) for n, piece, s in zip(names, pieces, shapes)}
        logits = torch.func.functional_call(model, state, (batch["input_ids"],), {"attention_mask": batch["attention_mask"]}).logits
        logprobs = torch.log_softmax(logits[:, :-1], -1).gather(-1, batch["input_ids"][:, 1:, None])[..., 0]
        return -(logprobs * batch["response_mask"][:, 1:]).sum(-1).mean()

    return torch.func.hessian(loss_of)(flat).detach().numpy()


@pytest.fixture(scope="module")
def spectrum(tiny):
    """The probe's HVP operator, its top 5 eigenpairs and lam_min (shared: each costs seconds)."""
    _, model, batch, params = tiny
    operator = probe.hessian_operator(lambda: probe.sft_loss(model, batch), params)
    values, vectors = probe.top_hessian_eigenpairs(operator, 5)
    return operator, values, vectors, probe.smallest_hessian_eigenvalue(operator)


def test_hvp_matches_the_dense_hessian(spectrum, dense_hessian):
    operator = spectrum[0]
    rng = np.random.default_rng(0)
    for _ in range(3):
        v = rng.standard_normal(operator.shape[0])
        expected = dense_hessian @ v
        np.testing.assert_allclose(operator.matvec(v), expected, atol=1e-6 * np.abs(expected).max())


def test_top_eigenpairs_match_the_dense_hessian(spectrum, dense_hessian):
    _, values, vectors, lam_min = spectrum
    dense = np.linalg.eigvalsh(dense_hessian)
    np.testing.assert_allclose(values, dense[::-1][:5], rtol=1e-6)
    np.testing.assert_allclose(dense_hessian @ vectors, vectors * values, atol=1e-5 * values[0])
    assert lam_min == pytest.approx(dense[0], rel=1e-6)


def test_reinforce_estimate_approaches_the_exact_gradient(tiny):
    """One-token responses: J = sum_y pi(y|x) r(y) is exact, so its gradient is known."""
    tokenizer, model, _, params = tiny
    prompt = "1+2="
    target = tokenizer.convert_tokens_to_ids("3")
    ids = torch.tensor([tokenizer(prompt)["input_ids"]])

    probs = torch.softmax(model(ids).logits[0, -1], -1)
    exact_grad_r = -torch.cat([g.reshape(-1) for g in torch.autograd.grad(probs[target], params)])

    prompts, responses = probe.sample_responses(model, tokenizer, [prompt], samples_per_prompt=3000,
                                                max_new_tokens=1, seed=0)
    rewards = [float(r == "3") for r in responses]
    tokens = [tokenizer.convert_ids_to_tokens(tokenizer(r, add_special_tokens=False)["input_ids"])[0] if r else tokenizer.eos_token for r in responses]
    # The sampled one-token responses are scored as prompt + token (no EOS appended).
    ids_batch = torch.tensor([ids[0].tolist() + [tokenizer.convert_tokens_to_ids(t)] for t in tokens])
    batch = {"input_ids": ids_batch, "attention_mask": torch.ones_like(ids_batch),
             "response_mask": torch.cat([torch.zeros_like(ids_batch[:, :-1]), torch.ones_like(ids_batch[:, -1:])], 1)}
    estimate = probe.reinforce_gradient(model, batch, rewards, params)
    cosine = float(estimate @ exact_grad_r / (estimate.norm() * exact_grad_r.norm()))
    assert cosine > 0.9
    assert float(estimate.norm() / exact_grad_r.norm()) == pytest.approx(1.0, abs=0.25)


def test_a1_first_order_change_of_the_sft_loss_under_an_rl_step(tiny):
    """After theta -> theta - eta g (g the RL gradient), L changes by -eta <grad L, g> + O(eta^2)."""
    tokenizer, shared_model, batch, _ = tiny
    model = copy.deepcopy(shared_model)  # stepped in place below; the shared one backs a saved graph
    params = probe.trainable_parameters(model)
    prompts, responses = probe.sample_responses(model, tokenizer, PROMPTS, samples_per_prompt=8, max_new_tokens=2)
    sampled = probe.encode_pairs(tokenizer, prompts, responses)
    rewards = [float(r == a) for r, a in zip(responses, [a for a in ANSWERS for _ in range(8)])]
    if len(set(rewards)) == 1:
        rewards[0] = 1.0 - rewards[0]  # a constant reward has zero advantage and no gradient
    rl_grad = probe.reinforce_gradient(model, sampled, rewards, params)
    sft_grad = probe.flat_grad(probe.sft_loss(model, batch), params)
    alignment = probe.gradient_alignment(sft_grad, rl_grad)
    assert -1.0 <= alignment["cosine"] <= 1.0
    before = probe.sft_loss(model, batch).item()
    eta = 1e-4 / float(rl_grad.norm())
    with torch.no_grad():
        offsets = torch.split(rl_grad, [p.numel() for p in params])
        for p, d in zip(params, offsets):
            p -= eta * d.reshape(p.shape)
        after = probe.sft_loss(model, batch).item()
    predicted = eta * alignment["sft_loss_rate_under_rl_flow"]
    assert after - before == pytest.approx(predicted, rel=1e-3)


def test_s1_bracket_and_misalignment_against_the_measured_curvature(spectrum):
    """S1's bracket around the measured curvature g^T H g/|g|^2 of the tiny model's Hessian."""
    operator, values, vectors, lam_min = spectrum
    k = 3
    rng = np.random.default_rng(1)
    # g concentrated on the top-k eigenspace plus a small rest: S1's bracket must contain the curvature.
    g = vectors[:, :k] @ rng.standard_normal(k) + 0.05 * rng.standard_normal(operator.shape[0])
    result = probe.spectral_check(operator, values[: k + 1], vectors[:, : k + 1], torch.tensor(g), k)
    assert 0.0 < result["rho_k"] <= 1.0
    low, high = result["bracket"]
    assert result["curvature"] <= high * (1 + 1e-9)
    # The lower bound assumes H >= 0; away from a minimum it holds after adding lam_min's share.
    assert result["curvature"] >= low + min(lam_min, 0.0) * (1 - result["rho_k"]) - 1e-9
    assert -1.0 <= result["misalignment"] <= 1.0

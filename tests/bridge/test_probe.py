"""The model probe on a tiny real Qwen3 (built locally, CPU) with its DEFAULT attention (SDPA).

Hessian-vector products, both eigen solvers, lam_min and Hutchinson's trace against a dense
Hessian that torch.func builds independently; the same in bf16; parameter subsets; data-set
HVPs over batches; the RL gradient (including the all-rewards-equal case); S1/A1; and the
``nondecoupling probe`` command.

Qwen3's RMSNorm computes in float32 even in a float64 model, so float64 Hessians agree to
about 1e-7 relative, not to float64 precision. bf16 products are compared with a relative
error of 2e-2 in norm: bf16 keeps 8 significant bits (unit roundoff 2^-8 = 3.9e-3) and a
product goes through a forward and two backward passes; the measured error is 0.4-0.8 %.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402

from nondecoupling.bridge.models import hessian, probe, probe_cli  # noqa: E402
from nondecoupling.bridge.models.tiny import TinyQwen3Size, build_char_tokenizer, build_tiny_qwen3  # noqa: E402
from nondecoupling.validation import ParameterError  # noqa: E402

PROMPTS = ["1+2=", "2+2=", "3+1=", "0+4="]
ANSWERS = ["3", "4", "4", "4"]
SIZE = TinyQwen3Size(hidden_size=4, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=2, intermediate_size=8)
REPO = Path(__file__).resolve().parents[2]

torch.set_num_threads(1)


def _tiny_model(tokenizer, dtype):
    return build_tiny_qwen3(tokenizer, SIZE, seed=0).to(dtype)


@pytest.fixture(scope="module")
def tiny():
    tokenizer = build_char_tokenizer()
    model = _tiny_model(tokenizer, torch.float64)
    assert model.config._attn_implementation == "sdpa"  # transformers' default: the case that used to fail
    batches = probe.sft_batches(tokenizer, PROMPTS, ANSWERS, batch_size=len(PROMPTS))
    return tokenizer, model, batches, probe.select_parameters(model)[1]


def dense_hessian(model, batch, names=None):
    """H by torch.func.hessian (forward-over-reverse) of the loss as a function of the flat parameters.

    Independent of the probe's double-backprop HVP: the model is called functionally, on
    SDPA's MATH kernel (the fused default kernel has no forward-mode derivative either).
    """
    names = names or [n for n, _ in model.named_parameters()]
    params = dict(model.named_parameters())
    shapes = [params[n].shape for n in names]
    flat = torch.cat([params[n].detach().reshape(-1) for n in names])

    def loss_of(vector):
        pieces = torch.split(vector, [int(np.prod(s)) for s in shapes])
        state = {n: piece.reshape(s) for n, piece, s in zip(names, pieces, shapes)}
        logits = torch.func.functional_call(model, state, (batch["input_ids"],), {"attention_mask": batch["attention_mask"]}).logits
        logprobs = torch.log_softmax(logits[:, :-1].double(), -1).gather(-1, batch["input_ids"][:, 1:, None])[..., 0]
        return -(logprobs * batch["response_mask"][:, 1:]).sum(-1).mean()

    with sdpa_kernel(SDPBackend.MATH):
        return torch.func.hessian(loss_of)(flat).detach().double().numpy()


@pytest.fixture(scope="module")
def dense(tiny):
    _, model, batches, _ = tiny
    return dense_hessian(model, batches[0])


@pytest.fixture(scope="module")
def hvp(tiny):
    _, model, batches, params = tiny
    return probe.sft_hessian(model, batches, params)


def _vectors(dim, count, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(dim, generator=generator, dtype=torch.float64) for _ in range(count)]


def test_hvp_matches_the_dense_hessian_with_default_attention(hvp, dense, tiny):
    model = tiny[1]
    for v in _vectors(hvp.dim, 3):
        expected = dense @ v.numpy()
        np.testing.assert_allclose(hvp(v).numpy(), expected, atol=1e-6 * np.abs(expected).max())
    assert model.config._attn_implementation == "sdpa"  # the products left the model's attention as it was


def test_data_set_hvp_averages_over_batches(tiny, hvp):
    """Batches of 1 and of 3 + 1 rows give the same H v as one batch (weights by rows, not by batches)."""
    tokenizer, model, _, params = tiny
    for batch_size in (1, 3):
        batches = probe.sft_batches(tokenizer, PROMPTS, ANSWERS, batch_size=batch_size)
        split = probe.sft_hessian(model, batches, params)
        assert not split.cache_graphs
        for v in _vectors(hvp.dim, 2, seed=batch_size):
            np.testing.assert_allclose(split(v).numpy(), hvp(v).numpy(), rtol=1e-9, atol=1e-9 * float(hvp(v).abs().max()))
        np.testing.assert_allclose(probe.sft_gradient(model, batches, params).numpy(),
                                   probe.sft_gradient(model, probe.sft_batches(tokenizer, PROMPTS, ANSWERS, batch_size=4), params).numpy(),
                                   rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", ["eigsh", "lanczos"])
def test_top_eigenpairs_and_lam_min_match_numpy(hvp, dense, method):
    result = hessian.top_hessian_eigenpairs(hvp, 5, method=method)
    assert result.method == method
    expected = np.linalg.eigh(dense)
    np.testing.assert_allclose(result.values, expected.eigenvalues[::-1][:5], rtol=1e-5)
    vectors = result.vectors.numpy().T
    np.testing.assert_allclose(dense @ vectors, vectors * result.values, atol=1e-5 * result.values[0])
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(5), atol=1e-6)
    assert hessian.smallest_hessian_eigenvalue(hvp, method=method) == pytest.approx(expected.eigenvalues[0], rel=1e-5)


def test_lanczos_memory_is_a_few_vectors_and_auto_picks_by_size(hvp):
    """Eigenvalues only: one pass per eigenpair; 'auto' takes eigsh for a small d and Lanczos for 0.6B."""
    before = hvp.products
    result = hessian.lanczos_top_eigenpairs(hvp, 1, vectors=False, max_steps=30)
    assert result.vectors is None and hvp.products - before == result.products <= 30
    assert hessian.choose_eigen_method(hvp.dim, 4) == "eigsh"
    assert hessian.choose_eigen_method(15_000_000, 4) == "lanczos"  # one Qwen3-0.6B layer
    assert hessian.choose_eigen_method(10, 10) == "lanczos"  # ARPACK needs k < d


def test_hutchinson_trace_is_unbiased_for_the_dense_trace(hvp, dense):
    estimate = hessian.hutchinson_trace(hvp, 200, seed=3)
    assert estimate["samples"] == 200 and estimate["stderr"] > 0
    assert abs(estimate["estimate"] - np.trace(dense)) <= 4 * estimate["stderr"]
    # Rademacher probes on a diagonal matrix have no variance: the estimate is exact.
    x = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
    exact = hessian.hutchinson_trace(hessian.HessianVectorProduct([lambda: (x ** 4).sum()], [x]), 3)
    assert exact["estimate"] == pytest.approx(12 * (1 + 4 + 9)) and exact["stderr"] == 0


@pytest.fixture(scope="module")
def bf16():
    """The tiny model in bf16 and the float64 dense Hessian at the SAME (bf16-rounded) weights."""
    tokenizer = build_char_tokenizer()
    model = _tiny_model(tokenizer, torch.bfloat16)
    batches = probe.sft_batches(tokenizer, PROMPTS, ANSWERS, batch_size=2)
    full = probe.encode_pairs(tokenizer, PROMPTS, ANSWERS)
    return probe.sft_hessian(model, batches, probe.select_parameters(model)[1]), dense_hessian(copy.deepcopy(model).double(), full)


def test_bf16_hvp_and_eigenvalues_within_bf16_tolerance(bf16):
    hvp, dense = bf16
    assert hvp.dtype == torch.bfloat16
    for v in _vectors(hvp.dim, 3):
        product = hvp(v)
        assert product.dtype == torch.bfloat16
        expected = dense @ v.to(torch.bfloat16).double().numpy()
        assert np.linalg.norm(product.double().numpy() - expected) <= 2e-2 * np.linalg.norm(expected)
    result = hessian.lanczos_top_eigenpairs(hvp, 3)
    np.testing.assert_allclose(result.values, np.linalg.eigvalsh(dense)[::-1][:3], rtol=2e-2)
    assert result.vectors.dtype == torch.bfloat16


def test_parameter_subset_is_the_principal_block(tiny):
    """--params 'model.layers.0.mlp.*': H restricted to those parameters is the principal sub-block."""
    _, model, batches, _ = tiny
    names, params = probe.select_parameters(model, ["model.layers.0.mlp.*"])
    assert names == ["model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight"]
    flags = [p.requires_grad for p in model.parameters()]
    with probe.differentiate_only(model, params):
        assert sum(p.requires_grad for p in model.parameters()) == len(params)
        sub = probe.sft_hessian(model, batches, params)
        values = hessian.top_hessian_eigenpairs(sub, 3, method="lanczos").values
    assert [p.requires_grad for p in model.parameters()] == flags
    block = dense_hessian(model, batches[0], names)
    np.testing.assert_allclose(values, np.linalg.eigvalsh(block)[::-1][:3], rtol=1e-5)
    with pytest.raises(ParameterError, match="patterns"):
        probe.select_parameters(model, ["no.such.*"])


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
    estimate = probe.reinforce_gradient(model, batch, rewards, params, batch_size=1000)
    cosine = float(estimate @ exact_grad_r / (estimate.norm() * exact_grad_r.norm()))
    assert cosine > 0.9
    assert float(estimate.norm() / exact_grad_r.norm()) == pytest.approx(1.0, abs=0.25)
    np.testing.assert_allclose(estimate.numpy(), probe.reinforce_gradient(model, batch, rewards, params).numpy(), rtol=1e-9, atol=1e-15)


def test_a1_first_order_change_of_the_sft_loss_under_an_rl_step(tiny):
    """After theta -> theta - eta g (g the RL gradient), L changes by -eta <grad L, g> + O(eta^2)."""
    tokenizer, shared_model, batches, _ = tiny
    model = copy.deepcopy(shared_model)  # stepped in place below
    params = probe.select_parameters(model)[1]
    prompts, responses = probe.sample_responses(model, tokenizer, PROMPTS, samples_per_prompt=8, max_new_tokens=2)
    sampled = probe.encode_pairs(tokenizer, prompts, responses)
    rewards = [float(r == a) for r, a in zip(responses, [a for a in ANSWERS for _ in range(8)])]
    if len(set(rewards)) == 1:
        rewards[0] = 1.0 - rewards[0]  # a constant reward has zero advantage and no gradient
    rl_grad = probe.reinforce_gradient(model, sampled, rewards, params)
    sft_grad = probe.sft_gradient(model, batches, params)
    alignment = probe.gradient_alignment(sft_grad, rl_grad)
    assert -1.0 <= alignment["cosine"] <= 1.0
    before = probe.sft_loss(model, batches[0]).item()
    eta = 1e-4 / float(rl_grad.norm())
    with torch.no_grad():
        for p, d in zip(params, torch.split(rl_grad, [p.numel() for p in params])):
            p -= eta * d.reshape(p.shape)
        after = probe.sft_loss(model, batches[0]).item()
    assert after - before == pytest.approx(eta * alignment["sft_loss_rate_under_rl_flow"], rel=1e-3)


def test_s1_bracket_and_misalignment_against_the_measured_curvature(hvp, dense):
    """S1's bracket around the measured curvature g^T H g/|g|^2 of the tiny model's Hessian."""
    result = hessian.top_hessian_eigenpairs(hvp, 4, method="eigsh")
    lam_min = float(np.linalg.eigvalsh(dense)[0])
    k = 3
    rng = np.random.default_rng(1)
    # g concentrated on the top-k eigenspace plus a small rest: S1's bracket must contain the curvature.
    g = result.vectors[:k].T @ torch.tensor(rng.standard_normal(k)) + 0.05 * torch.tensor(rng.standard_normal(hvp.dim))
    check = probe.spectral_check(hvp, result.values, result.vectors, g, k, lam_min=lam_min)
    assert not check["rl_gradient_zero"] and 0.0 < check["rho_k"] <= 1.0
    low, high = check["bracket"]
    assert check["curvature"] <= high * (1 + 1e-9)
    assert low > check["bracket_lower_indefinite"]  # lam_min < 0 here: the valid lower bound is lower
    assert check["curvature"] >= check["bracket_lower_indefinite"] - 1e-9
    assert -1.0 <= check["misalignment"] <= 1.0 and check["misalignment_bound"] is not None


def test_zero_rl_gradient_is_a_reported_result(tiny, hvp):
    """All rewards equal: the gradient is exactly 0 and nothing divides by its norm."""
    tokenizer, model, batches, params = tiny
    sampled = probe.encode_pairs(tokenizer, PROMPTS, ANSWERS)
    rl_grad = probe.reinforce_gradient(model, sampled, [0.5] * len(PROMPTS), params)
    assert float(rl_grad.abs().max()) == 0.0
    alignment = probe.gradient_alignment(probe.sft_gradient(model, batches, params), rl_grad)
    assert alignment["cosine"] is None and alignment["inner"] == 0.0 and not alignment["coupled"]
    result = hessian.top_hessian_eigenpairs(hvp, 2, method="eigsh")
    check = probe.spectral_check(hvp, result.values, result.vectors, rl_grad, 1)
    assert check["rl_gradient_zero"] and check["rho_k"] is None and check["misalignment"] is None
    with pytest.raises(ParameterError, match="rewards"):
        probe.reinforce_gradient(model, sampled, [1.0], params)


def test_other_attention_implementations_are_restored(tiny, hvp):
    """An eager model gives the same products; a non-SDPA implementation is switched back after."""
    tokenizer, model, batches, params = tiny
    eager = copy.deepcopy(model)
    eager.set_attn_implementation("eager")
    v = _vectors(hvp.dim, 1, seed=5)[0]
    eager_hvp = probe.sft_hessian(eager, batches, probe.select_parameters(eager)[1])
    np.testing.assert_allclose(eager_hvp(v).numpy(), hvp(v).numpy(), rtol=1e-6, atol=1e-6 * float(hvp(v).abs().max()))
    eager.config._attn_implementation = "flex_attention"  # pretend: the context must switch to sdpa and back
    switched = []
    eager.set_attn_implementation = lambda name: (switched.append(name), setattr(eager.config, "_attn_implementation", name))
    with hessian.double_backward_attention(eager):
        assert eager.config._attn_implementation == "sdpa"
    assert switched == ["sdpa", "flex_attention"] and eager.config._attn_implementation == "flex_attention"


# ----------------------------------------------------------------------------- the command


def constant_reward(prompts, completions, **_):
    """A reward that never distinguishes samples (used by the zero-gradient command test)."""
    return [1.0] * len(completions)


@pytest.fixture(scope="module")
def saved_tiny(tmp_path_factory):
    """A tiny Qwen3 checkpoint and its tokenizer on disk, the expert data and a config JSON."""
    folder = tmp_path_factory.mktemp("probe")
    tokenizer = build_char_tokenizer()
    model = build_tiny_qwen3(tokenizer, SIZE, seed=0)
    model.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    model.config.to_json_file(folder / "config.json")
    rows = [{"prompt": p, "completion": a, "answer": a} for p, a in zip(PROMPTS, ANSWERS)]
    (folder / "expert.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def _probe(folder, *extra):
    out = folder / f"report-{abs(hash(extra))}.json"
    code = probe_cli.main(["--data", str(folder / "expert.jsonl"), "--out", str(out), "--threads", "1",
                           "--samples-per-prompt", "4", "--max-new-tokens", "2", *extra])
    return code, (json.loads(out.read_text()) if code == 0 else None)


def test_probe_command_on_a_checkpoint(saved_tiny):
    code, report = _probe(saved_tiny, "--model", str(saved_tiny / "model"), "--reward", "exact", "--k", "2",
                          "--trace-samples", "4", "--lam-min", "--batch-size", "3", "--params", "model.layers.0.*")
    assert code == 0
    assert report["attention"] == "sdpa" and report["dtype"] == "float32" and report["data"] == {
        "file": str(saved_tiny / "expert.jsonl"), "rows": 4, "batches": 2}
    assert report["params"]["tensors"] == 11 and report["hessian"]["method"] == "eigsh"
    values = report["hessian"]["eigenvalues"]
    assert len(values) == 3 and values == sorted(values, reverse=True)
    assert report["hessian"]["lam_min"] <= values[-1] and report["hessian"]["trace"]["samples"] == 4
    assert report["rl"]["samples"] == 16 and 0.0 <= report["rl"]["mean_reward"] <= 1.0
    assert report["timings"]["seconds_per_hvp"] > 0 and report["memory"]["peak_rss_gib"] > 0


def test_probe_command_reports_a_zero_rl_gradient(saved_tiny):
    code, report = _probe(saved_tiny, "--config", str(saved_tiny / "config.json"), "--tokenizer", str(saved_tiny / "model"),
                          "--reward", "tests.bridge.test_probe:constant_reward", "--k", "1", "--eigen-method", "lanczos",
                          "--lanczos-steps", "20", "--dtype", "bf16", "--params", "model.norm.weight")
    assert code == 0
    assert report["rl"]["rewards_all_equal"] and report["rl"]["gradient_norm"] == 0.0
    assert report["s1"]["rl_gradient_zero"] and report["s1"]["rho_k"] is None and report["a1"]["cosine"] is None
    assert report["hessian"]["method"] == "lanczos" and report["dtype"] == "bfloat16" and report["params"]["size"] == 4


@pytest.mark.parametrize(("extra", "message"), [
    (["--model", "/no/such/dir", "--reward", "exact"], "/no/such/dir, --model: no such directory"),
    (["--config", "CONFIG", "--reward", "exact"], "--tokenizer"),
    (["--model", "MODEL", "--reward", "no_colon"], "MODULE:FUNCTION"),
    (["--model", "MODEL", "--reward", "no.such.module:f"], "cannot import"),
    (["--model", "MODEL", "--reward", "exact", "--params", "nothing.*"], "--params"),
    (["--model", "MODEL", "--reward", "exact", "--samples-per-prompt", "1"], "leave-one-out"),
    (["--model", "MODEL", "--reward", "exact", "--device", "cuda:7"], None),
])
def test_probe_command_bad_input_exits_2(saved_tiny, capsys, extra, message):
    if extra[-2:] == ["--device", "cuda:7"] and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    extra = [e.replace("CONFIG", str(saved_tiny / "config.json")).replace("MODEL", str(saved_tiny / "model")) for e in extra]
    assert _probe(saved_tiny, *extra)[0] == 2
    assert message is None or message in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--model", "--tokenizer", "--config", "--data"])
@pytest.mark.parametrize("prefix", ["./", "../", "/", "EXISTING/"])
def test_probe_command_refuses_missing_paths_before_loading(saved_tiny, capsys, monkeypatch, flag, prefix):
    """A local-looking path that does not exist is named at once: no model load, no hub look-up, nothing written."""
    monkeypatch.setattr(probe_cli, "load_model", lambda *a: pytest.fail("tried to load the model"))
    missing = prefix.replace("EXISTING", str(saved_tiny)) + "does_not_exist"
    given = {"--model": str(saved_tiny / "model"), "--data": str(saved_tiny / "expert.jsonl")}
    given = {"--config": str(saved_tiny / "config.json"), "--tokenizer": str(saved_tiny / "model"),
             "--data": given["--data"]} if flag in ("--config", "--tokenizer") else given
    given[flag] = missing
    out = saved_tiny / "refused.json"
    argv = [part for item in given.items() for part in item] + ["--reward", "exact", "--out", str(out)]
    assert probe_cli.main(argv) == 2
    named, kind = (missing, "directory") if flag in ("--model", "--tokenizer") else (Path(missing), "file")
    assert f"{named}, {flag}: no such {kind}" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(("line", "message"), [("not json", "line 2: not JSON"), ('{"prompt": "1="}', "line 2: field 'response'"),
                                               ('["a"]', "line 2: expected a JSON object")])
def test_probe_command_bad_data_names_file_and_line(saved_tiny, tmp_path, capsys, line, message):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"prompt": "1=", "response": "1", "answer": "1"}\n' + line + "\n")
    out = tmp_path / "r.json"
    assert probe_cli.main(["--model", str(saved_tiny / "model"), "--data", str(data), "--reward", "exact", "--out", str(out)]) == 2
    assert f"{data}, {message}" in capsys.readouterr().err and not out.exists()


@pytest.mark.slow
def test_device_check_script_smoke_mode_fails_clearly_without_a_gpu(tmp_path):
    """scripts/device_check.sh: without CUDA it stops at once with a message; --smoke runs the probe part on CPU."""
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    env = {**os.environ, "OUT": str(tmp_path / "out"), "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    failed = subprocess.run(["bash", str(REPO / "scripts" / "device_check.sh")], env=env, capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0 and "no CUDA GPU" in failed.stderr
    smoke = subprocess.run(["bash", str(REPO / "scripts" / "device_check.sh"), "--smoke"], env=env, capture_output=True, text=True, timeout=600)
    assert smoke.returncode == 0, smoke.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "probe.json").read_text())
    assert report["device"] == "cpu" and report["hessian"]["eigenvalues"]
    assert (tmp_path / "out" / "timings.txt").read_text().count("seconds") >= 2

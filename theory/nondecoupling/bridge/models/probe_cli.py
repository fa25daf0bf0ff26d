"""``nondecoupling probe``: the SFT Hessian, the RL gradient, S1 and A1 of a model, as one JSON.

    nondecoupling probe --model CHECKPOINT_DIR --data expert.jsonl --reward exact --out probe.json \\
        --params 'model.layers.27.*' --k 3 --trace-samples 8

* ``--model DIR``: a local transformers causal LM and its tokenizer (nothing is downloaded);
  or ``--config CONFIG.json --tokenizer DIR``: the architecture built from its config with
  random weights (``--seed``), e.g. the public Qwen3-0.6B values, for scale checks.
* ``--data``: JSON lines ``{"prompt": ..., "response": ...}`` (``"completion"`` is accepted for
  ``"response"``, TRL's prompt-completion format); any further fields go to the reward.
* ``--reward``: ``exact`` (1.0 if the sampled completion, stripped, equals the row's
  ``"answer"`` field) or ``MODULE:FUNCTION``, a TRL-style reward function
  ``f(prompts, completions, **columns) -> list of float`` (the columns are the data's other
  fields, one value per completion).
* ``--params``: fnmatch patterns over ``model.named_parameters()`` names (default: all).

What it computes (see :mod:`nondecoupling.bridge.models.probe`): the data-set SFT loss and gradient;
the top k+1 Hessian eigenvalues (and eigenvectors) by the few-vector Lanczos on the model's
device or scipy's ``eigsh`` (``--eigen-method auto`` picks by size; the report says which);
optionally lam_min(H) and Hutchinson's trace; policy samples for the data's prompts, their
rewards and the REINFORCE gradient; A1's alignment and S1's check. Hessian-vector products
use double backpropagation with the attention on SDPA's MATH kernel (the default fused
kernels have no second derivative). Bad input stops with a message and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

import numpy as np

from nondecoupling.validation import ParameterError

DTYPES = {"fp64": "float64", "fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


class ProbeInputError(Exception):
    """Bad input to the probe command: printed as is, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nondecoupling probe", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="local checkpoint directory (model and tokenizer), or a hub id already in the cache")
    source.add_argument("--config", type=Path, help="a transformers config JSON: random weights from it (needs --tokenizer)")
    parser.add_argument("--tokenizer", help="tokenizer directory or cached hub id (default: the --model directory)")
    parser.add_argument("--data", type=Path, required=True, help="expert data, JSON lines with prompt and response")
    parser.add_argument("--reward", required=True, help="'exact' (match the row's 'answer') or MODULE:FUNCTION (TRL-style)")
    parser.add_argument("--out", type=Path, required=True, help="output JSON file")
    parser.add_argument("--params", nargs="+", default=None, metavar="PATTERN", help="fnmatch patterns of parameter names (default: all)")
    parser.add_argument("--batch-size", type=int, default=8, help="rows per forward/backward pass")
    parser.add_argument("--max-rows", type=int, default=None, help="use the first N data rows (default: all)")
    parser.add_argument("--k", type=int, default=3, help="S1's rank k: the top k+1 eigenpairs are computed")
    parser.add_argument("--eigen-method", choices=("auto", "lanczos", "eigsh"), default="auto", help="eigen solver (auto: by size)")
    parser.add_argument("--lanczos-steps", type=int, default=100, help="Lanczos steps per eigenpair at most")
    parser.add_argument("--lam-min", action="store_true", help="also compute lam_min(H) (S1's indefinite lower bound)")
    parser.add_argument("--trace-samples", type=int, default=0, help="Hutchinson probes for tr H (0: skip)")
    parser.add_argument("--max-prompts", type=int, default=16, help="distinct data prompts to sample the policy on")
    parser.add_argument("--samples-per-prompt", type=int, default=8, help="policy samples per prompt (RL gradient)")
    parser.add_argument("--max-new-tokens", type=int, default=16, help="longest sampled completion")
    parser.add_argument("--dtype", choices=("auto", *DTYPES), default="auto", help="model dtype (auto: fp32 on CPU, bf16 on CUDA)")
    parser.add_argument("--device", default="auto", help="'auto' (cuda if available), 'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument("--seed", type=int, default=0, help="seeds random weights (--config), samples and solver starts")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return parser


def read_expert_data(path: Path, max_rows: int | None = None) -> list[dict]:
    """The data file's rows, each with ``prompt`` and ``response`` strings (``completion`` accepted)."""
    if not path.is_file():
        raise ProbeInputError(f"{path}: no such file")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ProbeInputError(f"{path}, line {number}: not JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise ProbeInputError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}")
            if "response" not in row and "completion" in row:
                row["response"] = row.pop("completion")
            for key in ("prompt", "response"):
                if not isinstance(row.get(key), str):
                    raise ProbeInputError(f"{path}, line {number}: field {key!r} must be a string; got {row.get(key)!r}")
            rows.append(row)
            if max_rows is not None and len(rows) >= max_rows:
                break
    if not rows:
        raise ProbeInputError(f"{path}: no data rows")
    return rows


def exact_reward(prompts: Sequence[str], completions: Sequence[str], *, answer: Sequence[object], **_: object) -> list[float]:
    """1.0 where the stripped completion equals the row's ``answer``, else 0.0."""
    return [float(completion.strip() == str(target).strip()) for completion, target in zip(completions, answer)]


def load_reward(spec: str, rows: list[dict]) -> Callable[..., Sequence[float]]:
    """The reward function of ``spec`` (``exact`` or ``MODULE:FUNCTION``), checked against the data."""
    if spec == "exact":
        missing = next((index for index, row in enumerate(rows, 1) if "answer" not in row), None)
        if missing is not None:
            raise ProbeInputError(f"--reward exact: data row {missing} has no 'answer' field")
        return exact_reward
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise ProbeInputError(f"--reward: expected 'exact' or MODULE:FUNCTION; got {spec!r}")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        raise ProbeInputError(f"--reward {spec}: cannot import it ({error})") from None
    if not callable(function):
        raise ProbeInputError(f"--reward {spec}: not callable")
    return function


def _torch_setup(args):
    """(device, dtype) from the flags; a CUDA device that is absent is bad input."""
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ProbeInputError(f"--device {args.device}: torch sees no CUDA device")
    name = args.dtype if args.dtype != "auto" else ("bf16" if device.type == "cuda" else "fp32")
    return device, getattr(torch, DTYPES[name])


def load_model(args: argparse.Namespace, device: torch.device, dtype: torch.dtype
               ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict[str, str]]:
    """(model, tokenizer, description) from ``--model`` or ``--config`` + ``--tokenizer``; local files only."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer_dir = args.tokenizer or args.model
    if tokenizer_dir is None:
        raise ProbeInputError("--config: a config has no tokenizer; pass --tokenizer DIR")
    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
        if args.model is not None:
            model = AutoModelForCausalLM.from_pretrained(args.model, local_files_only=True, dtype=dtype)
            source = {"model": str(args.model)}
        else:
            values = json.loads(args.config.read_text(encoding="utf-8"))
            if not isinstance(values, dict) or "model_type" not in values:
                raise ProbeInputError(f"{args.config}: a transformers config JSON needs a 'model_type' field")
            config = AutoConfig.for_model(values.pop("model_type"), **values)
            torch.manual_seed(args.seed)
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
            source = {"config": str(args.config), "weights": f"random (seed {args.seed})"}
    except (OSError, ValueError, KeyError) as error:
        raise ProbeInputError(f"cannot load the model: {error}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device).eval()
    return model, tokenizer, source


def _peak_memory(device) -> dict:
    import torch

    peak = {"peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}  # Linux: KiB
    if device.type == "cuda":
        peak["peak_cuda_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return peak


def _jsonable(value):
    """NaN/inf become None (strict JSON); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _hessian_report(args, hvp) -> tuple[dict[str, Any], torch.Tensor]:
    from nondecoupling.bridge.models import hessian

    method = hessian.choose_eigen_method(hvp.dim, args.k + 1) if args.eigen_method == "auto" else args.eigen_method
    options = {"max_steps": args.lanczos_steps} if method == "lanczos" else {}
    eigen = hessian.top_hessian_eigenpairs(hvp, args.k + 1, method=method, seed=args.seed, **options)
    report: dict[str, Any] = {"method": eigen.method, "eigenvalues": eigen.values, "residuals": eigen.residuals}
    if args.lam_min:
        report["lam_min"] = hessian.smallest_hessian_eigenvalue(hvp, method=eigen.method, seed=args.seed, **options)
    if args.trace_samples > 0:
        report["trace"] = hessian.hutchinson_trace(hvp, args.trace_samples, seed=args.seed)
    report["products"] = hvp.products
    assert eigen.vectors is not None, "top_hessian_eigenpairs returns vectors by default"
    return report, eigen.vectors


def _rl_report(args, model, tokenizer, rows, reward, params):
    """Policy samples on the data's prompts, their rewards and the REINFORCE gradient."""
    from nondecoupling.bridge.models import probe

    columns_of = {}
    for row in rows:
        columns_of.setdefault(row["prompt"], {key: value for key, value in row.items() if key not in ("prompt", "response")})
    prompts, completions = probe.sample_responses(model, tokenizer, list(columns_of)[: args.max_prompts],
                                                  samples_per_prompt=args.samples_per_prompt,
                                                  max_new_tokens=args.max_new_tokens, seed=args.seed)
    keys = sorted({key for columns in columns_of.values() for key in columns})
    columns = {key: [columns_of[prompt].get(key) for prompt in prompts] for key in keys}
    rewards = np.asarray(reward(prompts, completions, **columns), dtype=float)
    if rewards.shape != (len(completions),) or not np.all(np.isfinite(rewards)):
        raise ProbeInputError(f"--reward {args.reward}: must return one finite float per completion; got {rewards.tolist()[:8]}...")
    batch = probe.encode_pairs(tokenizer, prompts, completions, device=model.device)
    gradient = probe.reinforce_gradient(model, batch, rewards, params, batch_size=args.batch_size)
    zero = bool(np.all(rewards == rewards[0]))
    report = {"reward": args.reward, "samples": len(completions), "mean_reward": float(rewards.mean()),
              "rewards_all_equal": zero, "gradient_norm": float(gradient.double().norm()),
              "note": "all rewards equal: every advantage is 0, so the REINFORCE gradient is exactly 0" if zero else None}
    return report, gradient


def run_probe(args: argparse.Namespace) -> dict:
    """Every measurement of the command, as the report dict (see the module docstring)."""
    import torch
    from tqdm.auto import tqdm

    from nondecoupling.bridge.models import probe

    started = time.perf_counter()
    device, dtype = _torch_setup(args)
    rows = read_expert_data(args.data, args.max_rows)
    reward = load_reward(args.reward, rows)
    model, tokenizer, source = load_model(args, device, dtype)
    try:
        names, params = probe.select_parameters(model, args.params)
    except ParameterError as error:
        raise ProbeInputError(f"--params: {error}") from None
    timings = {"load_s": time.perf_counter() - started}
    with probe.differentiate_only(model, params):
        batches = probe.sft_batches(tokenizer, [r["prompt"] for r in rows], [r["response"] for r in rows],
                                    batch_size=args.batch_size, device=device)
        sft_grad = probe.sft_gradient(model, batches, params)
        with torch.no_grad():
            sft_loss = sum(float(term()) for term in probe.sft_loss_terms(model, batches))
        hvp = probe.sft_hessian(model, batches, params)
        with tqdm(desc="Hessian-vector products", unit="HVP") as bar:
            hvp.on_product = bar.update
            mark = time.perf_counter()
            hessian_report, eigenvectors = _hessian_report(args, hvp)
            timings["hessian_s"] = time.perf_counter() - mark
            timings["seconds_per_hvp"] = timings["hessian_s"] / max(hvp.products, 1)
            rl_report, rl_grad = _rl_report(args, model, tokenizer, rows, reward, params)
            s1 = probe.spectral_check(hvp, hessian_report["eigenvalues"], eigenvectors, rl_grad, args.k,
                                      lam_min=hessian_report.get("lam_min"))
    timings["total_s"] = time.perf_counter() - started
    return _jsonable({
        **source, "dtype": str(dtype).removeprefix("torch."), "device": str(device),
        "attention": model.config._attn_implementation,
        "hvp_method": "double backpropagation (reverse-over-reverse), attention on SDPA's MATH kernel during products",
        "params": {"patterns": args.params, "tensors": len(names), "size": sum(p.numel() for p in params)},
        "data": {"file": str(args.data), "rows": len(rows), "batches": len(batches)},
        "sft": {"loss": sft_loss, "gradient_norm": float(sft_grad.double().norm())},
        "hessian": hessian_report, "rl": rl_report, "a1": probe.gradient_alignment(sft_grad, rl_grad), "s1": s1,
        "timings": timings, "memory": _peak_memory(device),
    })


def _check_counts(args) -> None:
    for flag in ("batch_size", "k", "lanczos_steps", "max_prompts", "max_new_tokens"):
        if getattr(args, flag) < 1:
            raise ProbeInputError(f"--{flag.replace('_', '-')} must be >= 1; got {getattr(args, flag)}")
    if args.samples_per_prompt < 2:
        raise ProbeInputError(f"--samples-per-prompt must be >= 2 (leave-one-out baseline); got {args.samples_per_prompt}")
    if args.trace_samples < 0 or (args.max_rows is not None and args.max_rows < 1):
        raise ProbeInputError("--trace-samples must be >= 0 and --max-rows >= 1")


def _looks_local(text: str) -> bool:
    """A path, not a hub id: ``./``, ``../``, ``/``, ``~`` or a parent folder that exists (``runs/ckpt``)."""
    if text in (".", "..") or text.startswith(("./", "../", "/", "~", ".\\", "..\\")):
        return True
    parent = Path(text).expanduser().parent
    return parent != Path(".") and parent.is_dir()


def _check_paths(args) -> None:
    """Files and folders that do not exist, refused before torch loads (a missing folder is not a hub id to look up)."""
    for flag in ("model", "tokenizer"):
        text = getattr(args, flag)
        if text is not None and not Path(text).expanduser().is_dir() and _looks_local(text):
            problem = "not a directory" if Path(text).expanduser().exists() else "no such directory"
            raise ProbeInputError(f"{text}, --{flag}: {problem} (a local checkpoint folder with config.json)")
    for flag in ("config", "data"):
        path = getattr(args, flag)
        if path is not None and not path.is_file():
            raise ProbeInputError(f"{path}, --{flag}: {'not a regular file' if path.exists() else 'no such file'}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _check_paths(args)
        _check_counts(args)
        report = run_probe(args)
    except ProbeInputError as error:
        print(f"nondecoupling probe: {error}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    print(f"nondecoupling probe: wrote {args.out} ({report['hessian']['method']}, "
          f"{report['hessian']['products']} Hessian-vector products, {report['timings']['total_s']:.1f} s)")
    return 0


if __name__ == "__main__":
    from nondecoupling.cli import console

    raise SystemExit(console(main, "probe"))  # as the `nondecoupling probe` command runs

"""The probe at Qwen3-0.6B scale on this CPU: memory, time, and the cost of one HVP.

Builds ``Qwen3ForCausalLM`` from the public Qwen3-0.6B configuration values (vocab 151936,
hidden 1024, 28 layers, 16 / 8 heads of 128, MLP 3072, tied embeddings, rope theta 1e6,
40960 positions) with RANDOM weights (nothing is downloaded), in float32, with its default
attention, and on a short random-token expert set split into batches it measures

* one forward pass, one gradient (forward + backward) and one Hessian-vector product of the
  data-set SFT loss w.r.t. a last-layers subset (``--params``, default ``model.layers.27.*``),
  each summed over the batches, timed in ``--repeats`` rounds that run the three in turn (their
  medians); the HVP/gradient ratio (the textbook floor of Pearlmutter's trick is about 2
  gradients) and the HVP/backward-only ratio, the medians of each round's ratio, so that load
  that comes and goes between rounds does not move them; and per call the process's system
  time and page faults (medians): on a CPU, the fresh memory that its temporaries take;
* the top Hessian eigenvalue by the few-vector Lanczos (a few steps: its residual says how
  far it has converged) and a Hutchinson trace;
* the total time and the peak resident memory (the issue's limit: 16 GB).

It runs as ``nondecoupling probe`` does, its freed memory kept for reuse
(:func:`nondecoupling.cli.keep_freed_memory`); ``--glibc-defaults`` leaves glibc's malloc as it
starts, handing each product's temporaries back to the system. Either lasts for the process:
:func:`main` is this script's whole job (``benchmarks/run_all.py`` runs it in a fresh process
per setting).

About a minute on a quiet 2-core machine (10 s of it building the model); far longer where its
threads share the cores with other jobs (the first record, on 2026-11-30, took 28 min). Run it with
few threads::

    PYTHONPATH=theory:. python benchmarks/probe_scale.py --threads 2 --out benchmarks/results/probe_scale_cpu.json

``--smoke`` runs the same steps on a tiny configuration (seconds) to check the script.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import Qwen3Config, Qwen3ForCausalLM

from nondecoupling.bridge.models import hessian, probe
from nondecoupling.bridge.models.sequences import pad_pairs
from nondecoupling.cli import keep_freed_memory

QWEN3_06B = {"vocab_size": 151936, "hidden_size": 1024, "num_hidden_layers": 28, "num_attention_heads": 16,
             "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 3072, "tie_word_embeddings": True,
             "rope_theta": 1e6, "max_position_embeddings": 40960}
SMOKE = {**QWEN3_06B, "vocab_size": 512, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 128}


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def random_expert_batches(vocab: int, *, batches: int, rows: int, prompt_len: int, response_len: int, seed: int) -> list[dict]:
    """Random-token prompt/response pairs (a random model has no task), as :func:`pad_pairs` batches."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(batches):
        prompts = torch.randint(vocab, (rows, prompt_len), generator=generator).tolist()
        responses = torch.randint(vocab, (rows, response_len), generator=generator).tolist()
        out.append(pad_pairs(prompts, responses, pad_id=0))
    return out


def timed_rounds(functions: dict[str, Callable[[], object]], rounds: int) -> dict[str, dict[str, list[float]]]:
    """Wall time, system CPU time and page faults of each call of ``functions``, over ``rounds`` rounds.

    The functions are called in turn within a round, after one warm-up round, so that load
    that comes and goes between rounds reaches every function alike: a ratio of two of them is
    then read round by round. The system time and the (minor) page faults are the process's
    during the call: on a CPU they count the fresh memory that the call's temporaries take.
    """
    for function in functions.values():
        function()
    calls: dict[str, dict[str, list[float]]] = {name: {"wall": [], "system": [], "page_faults": []} for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            function()
            wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
            calls[name]["wall"].append(wall)
            calls[name]["system"].append(after.ru_stime - before.ru_stime)
            calls[name]["page_faults"].append(after.ru_minflt - before.ru_minflt)
    return calls


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--params", nargs="+", default=["model.layers.27.*"])
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--rows", type=int, default=2, help="rows per batch")
    parser.add_argument("--prompt-len", type=int, default=8)
    parser.add_argument("--response-len", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds of forward, gradient and HVP, in turn")
    parser.add_argument("--lanczos-steps", type=int, default=8)
    parser.add_argument("--trace-samples", type=int, default=4)
    parser.add_argument("--smoke", action="store_true", help="a tiny configuration, to check the script")
    parser.add_argument("--glibc-defaults", action="store_true",
                        help="keep glibc's malloc defaults (freed memory handed back), not the probe command's setting")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    freed_memory_kept = not args.glibc_defaults and keep_freed_memory()  # as `nondecoupling probe` runs
    torch.set_num_threads(args.threads)
    params_patterns = ["model.layers.1.*"] if args.smoke and args.params == ["model.layers.27.*"] else args.params
    started = time.perf_counter()

    torch.manual_seed(0)
    model = Qwen3ForCausalLM(Qwen3Config(**(SMOKE if args.smoke else QWEN3_06B))).eval()
    load_s = time.perf_counter() - started
    names, params = probe.select_parameters(model, params_patterns)
    batches = random_expert_batches(model.config.vocab_size, batches=args.batches, rows=args.rows,
                                    prompt_len=args.prompt_len, response_len=args.response_len, seed=0)
    terms = probe.sft_loss_terms(model, batches)
    with probe.differentiate_only(model, params), tqdm(desc="Hessian-vector products", unit="HVP") as bar:
        hvp = probe.sft_hessian(model, batches, params)
        hvp.on_product = bar.update
        vector = torch.randn(hvp.dim, generator=torch.Generator().manual_seed(1))
        calls = timed_rounds({"forward": torch.no_grad()(lambda: [term() for term in terms]),
                              "gradient": lambda: probe.sft_gradient(model, batches, params),
                              "hvp": lambda: hvp(vector)}, args.repeats)
        mark = time.perf_counter()
        top = hessian.lanczos_top_eigenpairs(hvp, 1, vectors=False, max_steps=args.lanczos_steps)
        lanczos_s = time.perf_counter() - mark
        mark = time.perf_counter()
        trace = hessian.hutchinson_trace(hvp, args.trace_samples)
        trace_s = time.perf_counter() - mark
    wall = {name: np.array(call["wall"]) for name, call in calls.items()}
    backward_only = wall["gradient"] - wall["forward"]  # a gradient is a forward and a backward, round by round
    result = {
        "configuration": "smoke (tiny)" if args.smoke else "Qwen3-0.6B public config, random weights",
        "parameters_total": sum(p.numel() for p in model.parameters()), "dtype": str(next(model.parameters()).dtype),
        "attention": model.config._attn_implementation, "params": params_patterns, "params_size": hvp.dim,
        "data": {"batches": args.batches, "rows_per_batch": args.rows, "tokens_per_row": args.prompt_len + args.response_len},
        "threads": args.threads, "freed_memory_kept": freed_memory_kept, "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "load_s": load_s, **{f"{name}_s": float(np.median(seconds)) for name, seconds in wall.items()},
        "backward_only_s": float(np.median(backward_only)), "rounds": args.repeats,
        "hvp_over_gradient": float(np.median(wall["hvp"] / wall["gradient"])),
        "hvp_over_backward_only": float(np.median(wall["hvp"] / backward_only)),
        "system_s": {name: float(np.median(call["system"])) for name, call in calls.items()},
        "page_faults": {name: int(np.median(call["page_faults"])) for name, call in calls.items()},
        "top_eigenvalue": float(top.values[0]), "top_eigenvalue_residual": float(top.residuals[0]),
        "lanczos_steps": top.products, "lanczos_s": lanczos_s,
        "trace": trace, "trace_s": trace_s, "hvp_count": hvp.products,
        "total_s": time.perf_counter() - started, "peak_rss_gib": peak_rss_gib(),
    }
    print(json.dumps(result, indent=2))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()

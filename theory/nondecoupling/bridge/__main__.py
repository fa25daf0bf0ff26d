"""``python -m nondecoupling.bridge check LOG [LOG ...] --out DIR``: check logged runs against the theory.

Examples
--------
A canonical JSONL run (with ``run_meta.json`` beside it)::

    python -m nondecoupling.bridge check runs/qwen3/log.jsonl --out report/ --lam 0.05

TRL SFT, then GRPO, then SFT again, whose SFT losses are per-token means::

    python -m nondecoupling check sft/trainer_state.json grpo/trainer_state.json sft2/trainer_state.json \\
        --phase sft rl sft --preset trl --loss-per-token --response-length 2 \\
        --expert-pass-rate 1 --expert-entropy 0 --out report/

Exit codes: 0 checked, 2 a bad log or option (``FILE, where: what`` on stderr, nothing written).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nondecoupling.bridge.logs import FORMATS, MERGE_RULES, PRESETS, LogFormatError, LogMapping, read_run, read_run_meta
from nondecoupling.bridge.readers import read_text
from nondecoupling.bridge.report import write_report
from nondecoupling.bridge.verdicts import run_checks


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nondecoupling.bridge", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check", help="read logs, run the checks, write report.json, report.md and curves.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("logs", nargs="+", metavar="LOG",
                       help="trainer_state.json, .csv/.tsv (W&B exports too), .jsonl (verl's file logger too), .log "
                            "(verl console), a TensorBoard event file/directory or an MLflow run/experiment directory, "
                            "in run order")
    check.add_argument("--out", required=True, help="output directory (created; must not be a file)")
    check.add_argument("--format", choices=FORMATS, help="format of every LOG (default: from the name)")
    check.add_argument("--preset", choices=sorted(PRESETS), help="the trainer's usual metric names (no --map needed)")
    check.add_argument("--merge", choices=sorted(MERGE_RULES), default="eval",
                       help="a used key logged with different values in the records of one step (TRL's train and eval "
                            "records): eval (default), train, first, last, mean, or error")
    check.add_argument("--run", help="which run of a multi-run W&B export or MLflow experiment")
    check.add_argument("--sft-coef", type=float, metavar="C",
                       help="SFT-loss coefficient of a mixed phase (loss R + C L: sft_loss_coef, ptx_coef)")
    check.add_argument("--map", action="append", default=[], metavar="SRC=DST",
                       help="rename a column/tag, e.g. --map eval/sft_nll=sft_loss (every LOG; repeatable)")
    check.add_argument("--phase", action="extend", nargs="+", default=[], metavar="SPEC",
                       help="phase of a LOG without a phase column: sft, rl, mixed, or switches 'sft:0,rl:500'; "
                            "one for every LOG or one per LOG, in order (--phase sft rl sft)")
    check.add_argument("--mapping", metavar="JSON",
                       help="file with one mapping object (every LOG) or a list (one per LOG): keys columns, phase, "
                            "loss_per_token, response_length; command-line flags override it")
    check.add_argument("--loss-per-token", action="store_true",
                       help="the logged SFT loss is a per-token mean (TRL's eval_loss): multiply by --response-length "
                            "(or a response_length column) to get the sequence-level loss K1 is about")
    check.add_argument("--response-length", type=float, metavar="TOKENS", help="mean expert response length in tokens")
    check.add_argument("--lam", type=float, default=1.0, help="weight of the SFT loss in P3's net gain (default 1)")
    check.add_argument("--expert-pass-rate", type=float, help="a = E_p* r; enables K1/K3 (overrides run_meta.json)")
    check.add_argument("--expert-entropy", type=float, help="H(p*) in nats, sequence level (overrides run_meta.json)")
    check.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for intervals (default 200)")
    check.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    return parser


def _mappings(args) -> list[LogMapping]:
    base = [{} for _ in args.logs]
    if args.mapping:
        try:
            spec = json.loads(read_text(Path(args.mapping)))
        except json.JSONDecodeError as error:
            raise LogFormatError(args.mapping, f"line {error.lineno}", f"invalid JSON: {error.msg}") from None
        if isinstance(spec, list):
            if len(spec) != len(args.logs):
                raise ValueError(f"--mapping: {len(spec)} objects for {len(args.logs)} logs")
            base = [dict(s) for s in spec]
        else:
            base = [dict(spec) for _ in args.logs]
    if args.phase and len(args.phase) not in (1, len(args.logs)):
        raise ValueError(f"--phase: give it once or once per LOG ({len(args.logs)}); got {len(args.phase)}")
    renames = {}
    for item in args.map:
        source, sep, target = item.partition("=")
        if not sep or not source or not target:
            raise ValueError(f"--map {item!r}: expected SRC=DST")
        renames[source] = target
    for i, mapping in enumerate(base):
        mapping["columns"] = {**mapping.get("columns", {}), **renames}
        if args.phase:
            mapping["phase"] = args.phase[i if len(args.phase) > 1 else 0]
        if args.loss_per_token:
            mapping["loss_per_token"] = True
        if args.response_length is not None:
            mapping["response_length"] = args.response_length
        for key in ("preset", "run", "sft_coef"):
            if getattr(args, key) is not None:
                mapping[key] = getattr(args, key)
        mapping.setdefault("merge", args.merge)
    return [LogMapping.from_dict(m) for m in base]


def _check_out(out: str) -> None:
    """--out must be a directory we can create or write into: fail before reading anything."""
    path = Path(out)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise LogFormatError(out, "--out", f"{existing} is a file, not a directory")


def check(args) -> dict:
    """Run the ``check`` command; return the report."""
    _check_out(args.out)
    run = read_run(args.logs, _mappings(args), fmt=args.format)
    meta = read_run_meta(args.logs)
    pass_rate = args.expert_pass_rate if args.expert_pass_rate is not None else meta.get("expert_pass_rate")
    entropy = args.expert_entropy if args.expert_entropy is not None else meta.get("expert_entropy")
    settings = {"logs": args.logs, "lam": args.lam, "expert_pass_rate": pass_rate, "expert_entropy": entropy,
                "bootstrap": args.bootstrap, "seed": args.seed, "merge": args.merge, "preset": args.preset}
    checks, fits = run_checks(run, lam=args.lam, expert_pass_rate=pass_rate, expert_entropy=entropy,
                              n_boot=args.bootstrap, seed=args.seed)
    return write_report(run, checks, fits, args.out, settings=settings, meta=meta)


def main(argv=None) -> int:
    """``check`` with or without its name: ``nondecoupling check LOG ...`` hands over ``LOG ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["watch"]:  # follow a growing log: nondecoupling.bridge.watch
        from nondecoupling.bridge.watch import main as watch

        return watch(argv[1:])
    if argv[:1] not in (["check"], ["-h"], ["--help"]):
        argv = ["check", *argv]
    args = _parser().parse_args(argv)
    try:
        report = check(args)
    except (LogFormatError, FileNotFoundError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    s = report["summary"]
    print(f"{args.out}/report.md: {s['holds']} hold, {s['violated']} violated, {s['inconclusive']} inconclusive, {s['estimate']} estimates")
    return 0


if __name__ == "__main__":
    sys.exit(main())

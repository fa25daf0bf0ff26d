"""``python -m nondecoupling.bridge check LOG [LOG ...] --out DIR``: check logged runs against the theory.

Examples
--------
A canonical JSONL run (with ``run_meta.json`` beside it)::

    python -m nondecoupling.bridge check runs/qwen3/log.jsonl --out report/ --lam 0.05

TRL SFT, then GRPO, then SFT again, whose SFT losses are per-token means::

    python -m nondecoupling check sft/trainer_state.json grpo/trainer_state.json sft2/trainer_state.json \\
        --phase sft rl sft --preset trl --loss-per-token --response-length 2 \\
        --expert-pass-rate 1 --expert-entropy 0 --out report/

Exit codes: 0 checked, 2 a bad log or option (``FILE, where: what`` on stderr, nothing written),
1 a verdict at or beyond ``--fail-on`` (``violated``, or ``inconclusive``: violated, inconclusive or
premise not met),
for use as a CI gate.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nondecoupling.bridge.logs.readers import read_text
from nondecoupling.bridge.logs.report import check_out_dir, summary_text, write_report
from nondecoupling.bridge.logs.run import (
    ALIASES,
    FORMATS,
    MERGE_RULES,
    PRESETS,
    LogFormatError,
    LogMapping,
    read_run,
    read_run_meta,
)
from nondecoupling.bridge.logs.units import check_units


def add_log_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options that say how to read the logs (``LOG ...``, ``--phase``, ``--preset``, ``--map``, ``--lam``, ...).

    ``check`` and ``watch`` both take them, so that the two commands read a log alike; each adds
    its own options after them. Returns ``parser``.
    """
    parser.add_argument("logs", nargs="+", metavar="LOG",
                        help="trainer_state.json, .csv/.tsv (W&B exports too), .jsonl (verl's file logger too), .log "
                             "(verl console), a TensorBoard event file/directory or an MLflow run/experiment directory, "
                             "in run order")
    parser.add_argument("--format", choices=FORMATS, help="format of every LOG (default: from the name)")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="the trainer's usual metric names (no --map needed)")
    parser.add_argument("--merge", choices=sorted(MERGE_RULES), default="eval",
                        help="a used key logged with different values in the records of one step (TRL's train and eval "
                             "records): eval (default), train, first, last, mean, or error")
    parser.add_argument("--run", help="which run of a multi-run W&B export or MLflow experiment")
    parser.add_argument("--sft-coef", type=_number(0), metavar="C",
                        help="SFT-loss coefficient of a mixed phase (loss R + C L: sft_loss_coef, ptx_coef)")
    parser.add_argument("--map", action="append", default=[], metavar="SRC=DST", type=_rename,
                        help="rename a column/tag, e.g. --map eval/sft_nll=sft_loss (every LOG; repeatable)")
    parser.add_argument("--phase", action="extend", nargs="+", default=[], metavar="SPEC", type=_phase_spec,
                        help="phase of a LOG without a phase column: sft, rl, mixed, or switches 'sft:0,rl:500'; "
                             "one for every LOG or one per LOG, in order (--phase sft rl sft)")
    parser.add_argument("--mapping", metavar="JSON",
                        help="file with one mapping object (every LOG) or a list (one per LOG): keys columns, phase, "
                             "loss_per_token, response_length; command-line flags override it")
    parser.add_argument("--loss-per-token", action="store_true",
                        help="the logged SFT loss is a per-token mean (TRL's eval_loss): multiply by --response-length "
                             "(or a response_length column) to get the sequence-level loss K1 is about")
    parser.add_argument("--response-length", type=_number(0, open_=True), metavar="TOKENS",
                        help="mean expert response length in tokens")
    parser.add_argument("--lam", type=_number(0, open_=True), default=1.0, help="weight of the SFT loss in P3's net gain (default 1)")
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nondecoupling", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = add_log_options(commands.add_parser(
        "check", prog="nondecoupling check", help="read logs, run the checks, write report.json, report.md and curves.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ))
    check.add_argument("--out", required=True, help="output directory (created; must not be a file)")
    check.add_argument("--expert-pass-rate", type=_number(0, 1), help="a = E_p* r; enables K1/K3 (overrides run_meta.json)")
    check.add_argument("--expert-entropy", type=_number(0), help="H(p*) in nats, sequence level (overrides run_meta.json)")
    check.add_argument("--autocorrelation", type=_number(0, 0.9), default=0.5, metavar="RHO",
                       help="largest AR(1) coefficient of the logged noise the trend verdicts are calibrated for "
                            "(default 0.5; 0 for independent evaluation noise: more power on short stages)")
    check.add_argument("--premise-loss-margin", type=_number(0), default=0.0, metavar="NATS",
                       help="'RL starts at an SFT optimum': an SFT loss still moving by at most this much over SFT's "
                            "last half counts as settled (default 0: any significant trend fails)")
    check.add_argument("--premise-rate-margin", type=_number(0, 1), default=0.0, metavar="RATE",
                       help="'RL starts at an SFT optimum': a pass-rate gap to a within this counts as at a "
                            "(default 0: any gap beyond noise fails)")
    check.add_argument("--fail-on", choices=("violated", "inconclusive"),
                       help="exit 1 if any verdict is violated (or, with 'inconclusive', violated, inconclusive or premise not met)")
    check.add_argument("--bootstrap", type=_number(1, kind=int), default=200, help="bootstrap resamples for intervals (default 200)")
    check.add_argument("--seed", type=_number(0, kind=int), default=0, help="bootstrap seed")
    return parser


def _mappings(args) -> list[LogMapping]:
    base: list[dict[str, Any]] = [{} for _ in args.logs]
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
    renames = dict(args.map)
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
    try:
        mappings = [LogMapping.from_dict(m) for m in base]
        for checked in mappings:
            checked.phase_switches()
        return mappings
    except (TypeError, ValueError) as error:  # a mapping file's bad key or value
        raise LogFormatError(args.mapping or "command line", "mapping", str(error).removeprefix("mapping: ")) from None


def _number(low: float, high: float = math.inf, *, open_: bool = False, kind=float):
    """An argparse ``type``: a finite ``kind`` in [low, high] (``(low, high]`` if ``open_``), else argparse's error."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}; got {text!r}") from None
        if not (math.isfinite(value) and (value > low if open_ else value >= low) and value <= high):
            bounds = f"> {low:g}" if open_ else f">= {low:g}"
            raise argparse.ArgumentTypeError(f"must be {bounds}{f' and <= {high:g}' if high < math.inf else ''}; got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def _rename(text: str) -> tuple[str, str]:
    """``--map SRC=DST``: a source name and a canonical name."""
    source, sep, target = text.partition("=")
    if not sep or not source or not target:
        raise argparse.ArgumentTypeError(f"expected SRC=DST; got {text!r}")
    if target not in ALIASES:
        raise argparse.ArgumentTypeError(f"{target!r} is not a canonical name ({', '.join(ALIASES)}); got {text!r}")
    return source, target


def _phase_spec(text: str) -> str:
    """``--phase``: sft, rl, mixed or a switch list, checked as the mapping reads it."""
    try:
        LogMapping(phase=text).phase_switches()
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("mapping: ")) from None
    return text


def check(args: argparse.Namespace, argv: Sequence[str]) -> dict:
    """Run the ``check`` command parsed from ``argv`` (``["check", ...]``); return the report.

    The report records ``argv`` as the command that made it (``settings["command"]``), so a
    committed report can be re-made and compared with today's check.
    """
    check_out_dir(Path(args.out))
    run = read_run(args.logs, _mappings(args), fmt=args.format, sources=False)  # no check reads them
    meta = read_run_meta(args.logs)
    check_units(run.attrs["files"], meta)
    from nondecoupling.bridge.logs.verdicts import run_checks  # scipy (~1 s): once the logs are read, not for a bad log
    pass_rate = args.expert_pass_rate if args.expert_pass_rate is not None else meta.get("expert_pass_rate")
    entropy = args.expert_entropy if args.expert_entropy is not None else meta.get("expert_entropy")
    settings = {"command": shlex.join(["python", "-m", "nondecoupling.bridge", *argv]), "logs": args.logs, "lam": args.lam, "expert_pass_rate": pass_rate, "expert_entropy": entropy,
                "bootstrap": args.bootstrap, "seed": args.seed, "merge": args.merge, "preset": args.preset,
                "autocorrelation": args.autocorrelation, "premise_loss_margin": args.premise_loss_margin,
                "premise_rate_margin": args.premise_rate_margin}
    checks, fits = run_checks(run, lam=args.lam, expert_pass_rate=pass_rate, expert_entropy=entropy,
                              n_boot=args.bootstrap, autocorrelation=args.autocorrelation, seed=args.seed,
                              premise_loss_margin=args.premise_loss_margin, premise_rate_margin=args.premise_rate_margin)
    return write_report(run, checks, fits, args.out, settings=settings, meta=meta)


def main(argv: Sequence[str] | None = None) -> int:
    """``check`` with or without its name: ``nondecoupling check LOG ...`` hands over ``LOG ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["watch"]:  # follow a growing log: nondecoupling.bridge.logs.watch
        from nondecoupling.bridge.logs.watch import main as watch

        return watch(argv[1:])
    if argv[:1] != ["check"]:
        argv = ["check", *argv]  # `nondecoupling check --help` arrives as ["--help"]: the check's own help
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # argparse's usage error (printed) or --help
        return int(stop.code or 0)
    try:
        report = check(args, argv)
    except (LogFormatError, FileNotFoundError, ValueError, OSError) as error:
        print(f"nondecoupling check: error: {error}", file=sys.stderr)
        return 2
    print(f"{args.out}/report.md: {summary_text(report['summary'])}")
    return gate_exit_code(report["summary"], args.fail_on)


def gate_exit_code(summary: dict, fail_on: str | None) -> int:
    """1 where ``--fail-on`` names a verdict the report has (``inconclusive`` also fails on ``violated``), else 0.

    >>> gate_exit_code({"violated": 0, "inconclusive": 2}, "violated"), gate_exit_code({"violated": 0, "inconclusive": 2}, "inconclusive")
    (0, 1)
    """
    failing = {None: (), "violated": ("violated",), "inconclusive": ("violated", "inconclusive", "premise not met")}[fail_on]
    return int(any(summary.get(verdict, 0) for verdict in failing))


if __name__ == "__main__":
    from nondecoupling.cli import console

    sys.exit(console(main))

"""``nondecoupling watch LOG --phase ...``: follow a growing training log and advise when to stop RL (no torch).

For trainers that cannot take the live callback (verl, OpenRLHF, a hand-written loop): ``watch``
re-reads the log whenever it changes, with the same readers as ``check`` (every format and
option of ``check``: ``--phase``, ``--preset``, ``--map``, ...), refits online P3 on the last RL
stage (:class:`~nondecoupling.bridge.logs.stopping.OnlineP3` and
:func:`~nondecoupling.bridge.logs.stopping.p3_stop_decision`, the callback's rule, with the prior of
:func:`~nondecoupling.bridge.logs.stopping.stage_prior` from the SFT stage before it, where the log
has one), and prints a line whenever the estimate or the advice changes. With the advice it names
the *restore step* (:meth:`~nondecoupling.bridge.logs.stopping.LiveStop.restore_step`, the callback's:
of the evaluated steps, the one of largest estimated G), whose checkpoint is worth keeping: a
stop comes after the peak has shown in the evaluations.

An evaluation is a row with both an SFT loss and a reward (or exact pass rate); the next one is
expected one logged interval later (the last gap between evaluations, or ``--every-steps``); unlike
the callback, ``watch`` cannot add evaluations where t* may fall (it reads what the trainer logs). Once
a stop is advised it stands (as the callback's does), and when the log's latest step reaches it
``watch`` writes ``--stop-file`` (JSON: the advised step, the reason and the latest restore step) and exits with
``--stop-code`` (default 3); the training loop polls the file. A log that does not exist yet,
is empty, or cannot be read (a line being written) is waited for; each new problem is printed.

Exit codes: 3 (``--stop-code``) the advised stop was passed; 0 the log stayed unchanged for
``--idle-timeout`` seconds without it; 2 a bad option.

Example::

    nondecoupling watch metrics.jsonl --phase rl --preset verl --stop-file STOP --idle-timeout 3600
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nondecoupling.bridge.errors import LogFormatError
from nondecoupling.bridge.logs.run import LogMapping, read_run
from nondecoupling.bridge.logs.stopping import LiveStop, OnlineP3, p3_stop_decision, stage_prior
from nondecoupling.validation import check_integer, check_positive


def _evaluations(stage: pd.DataFrame) -> pd.DataFrame:
    """The stage's rows with an SFT loss and a rate (the exact pass rate where logged, else the reward)."""
    rate = stage["pass_rate"] if stage["pass_rate"].notna().any() else stage["reward"]
    rows = pd.DataFrame({"step": stage["step"], "rate": rate, "loss": stage["sft_loss"]})
    return rows[rows["rate"].notna() & rows["loss"].notna()].drop_duplicates("step", keep="last")


def advise(run: pd.DataFrame, *, lam: float = 1.0, every_steps: int | None = None, seed: int = 0) -> dict:
    """Online P3's estimate and decision on the last RL stage of ``run`` (global steps), refit from scratch.

    Parameters
    ----------
    run : pandas.DataFrame
        A canonical run (:func:`~nondecoupling.bridge.logs.run.read_run`).
    lam : float
        The SFT loss's weight in the net gain G = dJ - lam dL.
    every_steps : int, optional
        The evaluation interval; by default the last gap between the stage's evaluations.
    seed : int
        Seeds the posterior draws (plus the stage step, as the callback does).

    Returns
    -------
    dict
        ``status`` (``"waiting"``, ``"continue"`` or ``"stop"``), ``step`` (the log's latest step),
        ``stage_start``, ``evaluations`` and, once the stage has one, ``t_star`` (E[G]'s argmax),
        ``optimal_step`` (its argmax from the last evaluation on), ``ci`` (the posterior interval
        of t*), ``p_passed``, ``stop_step``, ``restore_step`` (the evaluated step of largest
        estimated G; global steps) and ``reason``.

    Examples
    --------
    >>> run = pd.DataFrame({"phase": "rl", "stage": 0, "step": [100, 105], "sft_loss": [2.0, 2.01],
    ...                     "reward": [0.3, 0.35], "pass_rate": np.nan})
    >>> advice = advise(run)
    >>> advice["status"], advice["stage_start"], advice["evaluations"]
    ('continue', 100, 2)
    """
    latest = int(run["step"].iloc[-1])
    rl_stages = run.loc[run["phase"] == "rl", "stage"]
    if rl_stages.empty or rl_stages.iloc[-1] != run["stage"].iloc[-1]:
        return {"status": "waiting", "step": latest, "evaluations": 0, "reason": "no RL stage at the end of the log yet"}
    stage = int(rl_stages.iloc[-1])
    rows = _evaluations(run[run["stage"] == stage])
    start = int(run.loc[run["stage"] == stage, "step"].iloc[0])
    if rows.empty:
        return {"status": "waiting", "step": latest, "stage_start": start, "evaluations": 0,
                "reason": "no row of the RL stage has both an SFT loss and a reward"}
    sft = _evaluations(run[(run["stage"] == stage - 1) & (run["phase"] == "sft")])
    steps = rows["step"].to_numpy() - start
    p3 = OnlineP3(stage_prior(rows["rate"].iloc[0], rows["loss"].iloc[0], sft_rates=sft["rate"], sft_losses=sft["loss"]),
                  lam=lam)
    for step, rate, loss in zip(steps, rows["rate"], rows["loss"]):
        p3.update(step, rate, loss)
    gap = every_steps or (int(steps[-1] - steps[-2]) if steps.size > 1 else 1)
    decision = p3_stop_decision(p3, int(steps[-1]) + gap, seed=seed + int(steps[-1]), offset=start)
    stop = None if decision["stop_step"] is None else start + decision["stop_step"]
    # t*: E[G]'s argmax over the whole stage (the decision's optimum looks only ahead of the last evaluation)
    grid = np.unique(np.concatenate([np.arange(0, steps[-1] + 64), np.round(steps[-1] + np.geomspace(1, 1e4, 200))]))
    t_star = int(grid[np.argmax(p3.expected_gain(grid))])
    return {"status": "continue" if stop is None else "stop", "step": latest, "stage_start": start, "evaluations": len(rows),
            "t_star": start + t_star, "optimal_step": start + decision["optimal_steps"], "ci": tuple(start + v for v in decision["ci"]),
            "p_passed": decision["p_passed"], "stop_step": stop, "restore_step": start + _restore_step(p3, steps, rows),
            "reason": decision["reason"]}


def _restore_step(p3: OnlineP3, steps: np.ndarray, rows: pd.DataFrame) -> int:
    """:meth:`LiveStop.restore_step` (the callback's) on the stage's evaluations, whose posterior ``p3`` already holds.

    The evaluations' own net gains G = [J - J_0] - lam [L - L_0] are set directly: replaying
    ``LiveStop.observe`` would recompute a stop decision per evaluation (tens of ms each).
    """
    live = LiveStop(p3.prior, every_steps=int(steps[-1]) + 1, horizon=int(steps[-1]) + 1, lam=p3.lam)
    live.p3, live.evaluated = p3, [int(s) for s in steps]
    rates, losses = rows["rate"].to_numpy(float), rows["loss"].to_numpy(float)
    live.observed_gain = list((rates - rates[0]) - p3.lam * (losses - losses[0]))
    return live.restore_step()


def describe(advice: dict) -> str:
    """One line for the console: the estimate, the advice, and the units (global steps)."""
    head = f"step {advice['step']}: {advice['evaluations']} RL evaluations"
    if "optimal_step" not in advice:
        return f"{head}; waiting: {advice['reason']}"
    low, high = (f"{v:.0f}" if np.isfinite(v) else "inf" for v in advice["ci"])
    estimate = f"t* at global step {advice['t_star']} (interval [{low}, {high}], P(passed) = {advice['p_passed']:.2f})"
    stage = f"stage step = global step - {advice['stage_start']}"
    restore = f"restore step (the evaluated step of largest estimated G) global step {advice['restore_step']}"
    if advice["stop_step"] is None:
        return f"{head}; {estimate}; continue ({advice['reason']}; {restore}; {stage})"
    return (f"{head}; {estimate}; STOP at global step {advice['stop_step']}, keep the checkpoint of global step "
            f"{advice['restore_step']} ({advice['reason']}; {restore}; {stage})")


def _signature(paths) -> tuple:
    """What changes when a log grows: the size and mtime of each file (of each file under a directory)."""
    files = [f for p in map(Path, paths) for f in (sorted(p.rglob("*")) if p.is_dir() else [p]) if f.is_file()]
    return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)


class Watch:
    """Follow logs; :meth:`poll` re-reads them when they change and keeps the first advised stop.

    ``poll()`` returns the new console lines and whether the advised stop is passed.
    """

    signature: tuple | None
    last_line: str | None
    problem: str | None
    advised: dict | None
    current: dict | None  # the latest advice (its restore step goes into the stop file)
    latest: int | None

    def __init__(self, paths: Sequence[str | Path], mappings: Sequence[LogMapping], *, fmt: str | None = None, lam: float = 1.0,
                 every_steps: int | None = None) -> None:
        self.paths, self.mappings, self.fmt = [str(p) for p in paths], mappings, fmt
        self.lam = float(check_positive(lam, "lam"))
        self.every_steps = None if every_steps is None else int(check_integer(every_steps, "every_steps", low=1))
        self.signature, self.last_line, self.problem, self.advised, self.current, self.latest = None, None, None, None, None, None

    def poll(self) -> tuple[list[str], bool]:
        signature = _signature(self.paths)
        if signature == self.signature:
            return [], False
        self.signature, lines = signature, []
        try:
            run = read_run(self.paths, self.mappings, fmt=self.fmt)
        except (LogFormatError, FileNotFoundError) as error:  # not there yet, a line being written, a column to come: wait
            if str(error) != self.problem:
                self.problem = str(error)
                lines.append(f"waiting: {error}")
            return lines, False
        self.problem = None
        advice = advise(run, lam=self.lam, every_steps=self.every_steps)
        self.latest = latest = int(advice["step"])
        self.current = advice
        if self.advised is None and advice.get("stop_step") is not None:
            self.advised = advice
        line = describe(advice)
        if line != self.last_line:
            self.last_line = line
            lines.append(line)
        return lines, self.advised is not None and latest >= self.advised["stop_step"]


def _parser() -> argparse.ArgumentParser:
    """check's log options (so both commands read a log alike), then watch's own."""
    from nondecoupling.bridge.__main__ import add_log_options

    parser = add_log_options(argparse.ArgumentParser(
        prog="nondecoupling watch", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1]))
    parser.add_argument("--every-steps", type=int, help="the evaluation interval (default: the last gap between evaluations)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between looks at the log (default 5)")
    parser.add_argument("--idle-timeout", type=float, help="exit 0 when the log has not changed for this many seconds")
    parser.add_argument("--stop-file", help="written (JSON) when the advised stop step is passed")
    parser.add_argument("--stop-code", type=int, default=3, help="exit code when the advised stop is passed (default 3)")
    return parser


def _signal(watch: Watch, stop_file: str | None) -> str:
    advice, current = watch.advised, watch.current
    assert advice is not None and current is not None, "called once the advised stop is passed"
    if stop_file is not None:
        record = {"stop_step": advice["stop_step"], "log_step": watch.latest, "t_star": advice["t_star"],
                  "restore_step": current["restore_step"], "reason": advice["reason"], "stage_start": advice["stage_start"]}
        path = Path(stop_file)
        path.with_name(path.name + ".tmp").write_text(json.dumps(record) + "\n")
        path.with_name(path.name + ".tmp").replace(path)  # atomic: the trainer never reads half a file
    return (f"step {watch.latest}: the advised stop (global step {advice['stop_step']}) is passed; restore step "
            f"(keep its checkpoint): global step {current['restore_step']}" + (f"; wrote {stop_file}" if stop_file else ""))


def main(argv: Sequence[str] | None = None) -> int:
    """Follow the log until the advised stop is passed (exit ``--stop-code``) or it stays idle (exit 0)."""
    from nondecoupling.bridge.__main__ import _mappings

    try:
        args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as stop:  # argparse's usage error (printed, naming the option) or --help
        return int(stop.code or 0)
    try:
        mappings = _mappings(args)
        for mapping in mappings:
            mapping.phase_switches()  # a bad --phase is an error now, not a wait
        watch = Watch(args.logs, mappings, fmt=args.format, lam=args.lam, every_steps=args.every_steps)
        check_positive(args.interval, "interval")
        return _follow(watch, args)
    except ValueError as error:  # a bad option (a bad log is waited for: LogFormatError is caught in poll)
        print(f"error: {error}", file=sys.stderr)
        return 2


def _follow(watch: Watch, args) -> int:
    changed = time.monotonic()
    while True:
        signature = watch.signature
        lines, passed = watch.poll()
        for line in lines:
            print(line, flush=True)
        if watch.signature != signature:
            changed = time.monotonic()
        if passed:
            print(_signal(watch, args.stop_file), flush=True)
            return args.stop_code
        if args.idle_timeout is not None and time.monotonic() - changed > args.idle_timeout:
            print(f"no change for {args.idle_timeout:g} s: exiting without a stop", flush=True)
            return 0
        time.sleep(args.interval)

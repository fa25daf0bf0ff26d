"""``nondecoupling watch``: online P3 on a growing log (the callback's rule), and the stop signal.

The end-to-end test runs the command in a subprocess on a verl-format log that a thread
appends to, as a training loop would, and that loop stops when the stop file appears.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from nondecoupling.bridge.logs import stopping
from nondecoupling.bridge.logs.run import LogMapping, read_run
from nondecoupling.bridge.logs.stopping import LiveStop, stage_prior
from nondecoupling.bridge.logs.watch import Watch, advise, main

REPO = Path(__file__).resolve().parents[2]
RATE = float(stopping.RATES[80])  # on the posterior's grid (about 0.046 per step)
GAP, RISE = 0.5, 0.3
T_STAR = math.log(1 + GAP / RISE) / RATE  # about 21 steps


def _curves(s, rng):
    """P3's isotropic curves with a little noise: (reward, SFT loss) at stage step s."""
    x = math.exp(-RATE * s)
    return 0.3 + GAP * (1 - x * x) + rng.normal(0, 0.01), 2.0 + RISE * (1 - x) ** 2 + rng.normal(0, 0.003)


def _gain(s):
    x = math.exp(-RATE * s)
    return GAP * (1 - x * x) - RISE * (1 - x) ** 2


def _verl_line(step, rng, every):
    """verl's file logger: {"step": N, "data": {...}} per step; validation (reward, SFT loss) every ``every`` steps."""
    data = {"actor": {"kl_loss": 0.01 * step}, "critic": {"score": {"mean": 0.5}}}
    if step % every == 0:
        reward, loss = _curves(step, rng)
        data.update({"val-core/gsm8k/reward/mean@1": reward, "val/loss": loss})
    return json.dumps({"step": step, "data": data}) + "\n"


def test_watch_follows_a_growing_verl_log_and_the_training_loop_stops_on_its_file(tmp_path):
    log, stop_file, every = tmp_path / "metrics.jsonl", tmp_path / "STOP", 5
    stopped_at = []

    def training_loop():  # appends a step, polls the stop file, as the README's wiring does
        rng = np.random.default_rng(0)
        for step in range(int(6 * T_STAR)):
            if stop_file.exists():
                stopped_at.append(step)
                return
            with log.open("a") as handle:
                handle.write(_verl_line(step, rng, every))
            time.sleep(0.1)  # a training step; watch looks every 0.05 s

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "theory"), str(REPO)])}
    watcher = subprocess.Popen([sys.executable, "-m", "nondecoupling", "watch", str(log), "--phase", "rl", "--preset", "verl",
                                "--interval", "0.05", "--idle-timeout", "20", "--stop-file", str(stop_file)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writer = threading.Thread(target=training_loop)
    first = watcher.stdout.readline()  # watch is up (it waits for the log): training starts
    writer.start()
    try:
        out, err = watcher.communicate(timeout=120)
        out = first + out
    finally:
        writer.join(timeout=30)
        watcher.kill()
    assert watcher.returncode == 3, (out, err)
    signal = json.loads(stop_file.read_text())
    assert stopped_at and stopped_at[0] > signal["stop_step"], (stopped_at, signal)  # the loop ran past it, then stopped
    assert signal["log_step"] >= signal["stop_step"]
    assert "STOP at global step" in out and "waiting" in out  # the log did not exist when watch started
    assert f"keep its checkpoint): global step {signal['restore_step']}" in out
    # When watch looks depends on the machine's load (a loaded machine lets the log grow by many steps
    # between looks), so the stop's timing is checked on the log itself: watch's advice on the prefix
    # it had seen is the signal, and the first prefix that advises a stop is on time.
    run = read_run(log, LogMapping(phase="rl", preset="verl"))
    evaluations = run.index[run["step"] % every == 0]
    advice = [advise(run.loc[:end]) for end in evaluations]  # on each prefix watch may have seen
    seen = [a for a in advice if a["step"] <= signal["log_step"]]
    assert seen[-1]["restore_step"] == signal["restore_step"], (seen[-1], signal)  # the latest advice's
    assert signal["stop_step"] in {a["stop_step"] for a in seen}, signal  # a stop advised on a prefix it saw
    first = next(a for a in advice if a["stop_step"] is not None)
    assert first["stop_step"] <= signal["stop_step"] and first["stop_step"] <= 2 * T_STAR + every, (first, T_STAR)
    assert _gain(T_STAR) - _gain(first["stop_step"]) <= 0.05 * _gain(T_STAR), (first, T_STAR)
    # the restore step: an evaluated step (validation every 5 steps) by the stop
    assert first["restore_step"] % every == 0 and first["restore_step"] <= first["step"], first
    assert _gain(T_STAR) - _gain(first["restore_step"]) <= 0.05 * _gain(T_STAR), (first, T_STAR)


def _two_stage_log(path, *, sft_steps=100, every=5, horizon=120, seed=1):
    """A canonical JSONL log: an SFT stage, then an RL stage on P3's curves (evaluations every ``every`` steps)."""
    rng = np.random.default_rng(seed)
    lines = [{"step": s, "sft_loss": 3.0 - 1.0 * (1 - math.exp(-s / 30)) + rng.normal(0, 0.003), "reward": 0.3 * s / sft_steps}
             for s in range(0, sft_steps, 10)]
    for s in range(0, horizon + 1, every):
        reward, loss = _curves(s, rng)
        lines.append({"step": sft_steps + s, "sft_loss": loss, "reward": reward})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return read_run(path, LogMapping(phase=f"sft:0,rl:{sft_steps}"))


def test_advice_is_the_callbacks_live_stop_on_the_same_evaluations(tmp_path):
    """advise() on each prefix of the log = LiveStop fed the same evaluations (same prior, rule and seed)."""
    run = _two_stage_log(tmp_path / "log.jsonl")
    sft, rl = run[run["phase"] == "sft"], run[run["phase"] == "rl"]
    prior = stage_prior(rl["reward"].iloc[0], rl["sft_loss"].iloc[0], sft_rates=sft["reward"], sft_losses=sft["sft_loss"])
    # evaluations every 5 steps, the log's; watch cannot ask a trainer for more, so the rule without its refinement
    live = LiveStop(prior, every_steps=5, horizon=10_000, growth=1000.0, refine=1.0)
    stops, restores = [], []
    for end in range(len(sft) + 1, len(run) + 1):
        stage_step = int(run["step"].iloc[end - 1]) - 100
        expected = live.observe(stage_step, run["reward"].iloc[end - 1], run["sft_loss"].iloc[end - 1])
        advice = advise(run.iloc[:end])
        assert advice["optimal_step"] == 100 + expected["optimal_steps"]
        assert advice["stop_step"] == (None if expected["stop_step"] is None else 100 + expected["stop_step"])
        assert advice["restore_step"] == 100 + expected["restore_step"]
        restores.append(advice["restore_step"])
        stops.append(advice["stop_step"])
    assert any(s is not None for s in stops) and stops[0] is None  # the comparison covers both decisions
    assert len(set(restores)) > 3  # and a restore step that moves


def test_prior_comes_from_the_sft_stage_before_the_rl_stage(tmp_path, monkeypatch):
    run = _two_stage_log(tmp_path / "log.jsonl")
    seen = []
    monkeypatch.setattr("nondecoupling.bridge.logs.watch.stage_prior", lambda *a, **k: seen.append((a, k)) or stage_prior(*a, **k))
    advise(run)
    (start_rate, start_loss), options = seen[0]
    sft = run[run["phase"] == "sft"]
    assert start_loss == run.loc[run["phase"] == "rl", "sft_loss"].iloc[0]
    np.testing.assert_array_equal(options["sft_losses"], sft["sft_loss"])


def test_an_sft_only_log_and_a_stage_without_both_curves_wait(tmp_path):
    run = _two_stage_log(tmp_path / "log.jsonl")
    assert advise(run[run["phase"] == "sft"])["status"] == "waiting"
    rewards_only = run.assign(sft_loss=np.where(run["phase"] == "rl", np.nan, run["sft_loss"]))
    advice = advise(rewards_only)
    assert advice["status"] == "waiting" and "both an SFT loss and a reward" in advice["reason"]


def test_poll_waits_for_a_missing_or_half_written_log_and_rereads_only_on_change(tmp_path):
    log = tmp_path / "metrics.jsonl"
    watch = Watch([log], [LogMapping(phase="rl", preset="verl")])
    lines, passed = watch.poll()
    assert not passed and lines and "waiting" in lines[0] and "no such log file" in lines[0]
    rng = np.random.default_rng(0)
    log.write_text(_verl_line(0, rng, 5) + _verl_line(1, rng, 5)[:20])  # a line being written
    lines, _ = watch.poll()
    assert "waiting" in lines[0] and "line 2" in lines[0]
    assert watch.poll() == ([], False)  # unchanged: not re-read
    log.write_text(_verl_line(0, rng, 5))
    lines, _ = watch.poll()
    assert lines[0].startswith("step 0: 1 RL evaluations; t* at global step")


def test_bad_options_exit_2_with_the_parameter_named(tmp_path, capsys):
    assert main([str(tmp_path / "x.jsonl"), "--phase", "sft:0,rl"]) == 2
    assert "phase 'sft:0,rl'" in capsys.readouterr().err
    assert main([str(tmp_path / "x.jsonl"), "--phase", "rl", "--interval", "0"]) == 2
    assert "interval" in capsys.readouterr().err
    assert main([str(tmp_path / "x.jsonl"), "--phase", "rl", "--every-steps", "0"]) == 2
    assert "every_steps" in capsys.readouterr().err


def test_an_idle_log_ends_the_watch_without_a_stop(tmp_path, capsys):
    run = _two_stage_log(tmp_path / "log.jsonl", horizon=10)  # too few RL evaluations for a stop
    assert advise(run)["stop_step"] is None
    assert main([str(tmp_path / "log.jsonl"), "--phase", "sft:0,rl:100", "--interval", "0.01", "--idle-timeout", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "continue" in out and "exiting without a stop" in out


def _option_strings(parser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def test_watch_takes_checks_log_options_and_none_of_its_report_options(tmp_path, capsys):
    from nondecoupling.bridge.__main__ import _parser as check_parser
    from nondecoupling.bridge.__main__ import add_log_options
    from nondecoupling.bridge.logs.watch import _parser as watch_parser

    log_options = _option_strings(add_log_options(argparse.ArgumentParser()))
    check = _option_strings(check_parser()._subparsers._group_actions[0].choices["check"])
    watch = _option_strings(watch_parser())
    assert "--phase" in log_options and log_options <= check and log_options <= watch
    assert not (check - log_options) & watch, "watch takes one of check's report options"
    for option, value in (("--autocorrelation", "0"), ("--fail-on", "violated"), ("--out", "report")):
        assert main([str(tmp_path / "x.jsonl"), "--phase", "rl", "--idle-timeout", "0", option, value]) == 2
        assert f"unrecognized arguments: {option}" in capsys.readouterr().err

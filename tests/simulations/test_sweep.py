"""The figure sweep: every theorem family drawn, each figure with its CSV and manifest
entry, the same seed giving the same numbers (whatever ``--jobs``), ``--only`` merging
into an existing manifest, the script entry point, and the real-run figure drawn from
logs when they exist (through the same reader and K1 slack as the Qwen3 summary tables)
and skipped (not failed) when they do not."""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nondecoupling import kl_bernoulli
from nondecoupling.bridge import LogFormatError
from simulations import sweep
from simulations.plots import MODULES, Skip, real_runs
from simulations.qwen3 import summary
from simulations.theorems import EXPERIMENTS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """The one quick sweep of this module, over a pool of two workers, with seed 7.

    Real-run logs are read from an empty folder (the repo's may be growing while a run
    writes them); the real-run figure has tests of its own below.
    """
    folder, no_logs = (tmp_path_factory.mktemp(name) for name in ("pooled", "no_logs"))
    assert sweep.main(["--quick", "--seed", "7", "--logs", str(no_logs), "--out", str(folder), "--jobs", "2"]) == 0
    return folder


def manifest(folder: Path) -> dict:
    return json.loads((folder / sweep.MANIFEST).read_text())


def test_every_listed_figure_exists_with_its_numbers(quick_run):
    folder = quick_run
    figures = manifest(folder)["figures"]
    assert figures
    for entry in figures:
        image = folder / entry["figure"]
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", entry["figure"]
        data = pd.read_csv(folder / entry["data"])
        assert len(data) > 0 and data.select_dtypes("number").notna().any().any(), entry["data"]
        assert entry["shows"] and entry["parameters"]["seed"] == 7 and entry["parameters"]["quick"] is True
        # each theorem a figure says it shows lists that figure in the registry
        assert set(entry["theorems"]) <= {theorem for theorem, e in EXPERIMENTS.items() if entry["name"] in e.figures}


def test_every_figure_the_registry_names_is_drawn(quick_run):
    drawn = {entry["name"] for entry in manifest(quick_run)["figures"]}
    from_logs = {name for key in ("real", "cola") for name in MODULES[key].figures}  # drawn only where logs exist
    for theorem, experiment in EXPERIMENTS.items():
        assert set(experiment.figures) - from_logs <= drawn, theorem


def test_same_seed_same_numbers_in_a_pool(quick_run):
    """Every module drawn again in this process (no pool, figures not rendered) gives the
    pooled sweep's numbers byte for byte, and the same manifest entries."""
    pooled = manifest(quick_run)["figures"]
    serial = []
    for key in MODULES:
        result = sweep.render(key, seed=7, quick=True, out=quick_run, fmt="png", write=False, logs=quick_run / "none")
        serial += result["entries"]
        for item in result["drawn"]:
            assert sweep.csv_text(item.data) == (quick_run / f"{item.name}.csv").read_text(), item.name
    assert sorted(serial, key=lambda entry: entry["name"]) == pooled


def test_another_seed_other_numbers(quick_run, tmp_path):
    assert sweep.main(["--quick", "--seed", "8", "--only", "p4", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "p4_threshold.csv").read_bytes() != (quick_run / "p4_threshold.csv").read_bytes()


@pytest.mark.parametrize("frozen_before", [False, True])
def test_the_sweep_runs_with_its_imports_frozen(monkeypatch, tmp_path, frozen_before):
    """``sweep.imports_frozen``: the module imported and frozen before it draws; unfrozen after, unless a caller had frozen."""
    seen = []

    def render(key, **options):
        seen.append((MODULES[key].path in sys.modules, gc.get_freeze_count() > 0))
        return {"key": key, "entries": [], "skipped": None, "drawn": []}

    monkeypatch.setattr(sweep, "render", render)
    gc.unfreeze()  # the test process's own state, whatever ran before
    if frozen_before:
        gc.freeze()
    try:
        assert sweep.main(["--quick", "--only", "p4", "--out", str(tmp_path), "--jobs", "1"]) == 0
        assert seen == [(True, True)]
        assert (gc.get_freeze_count() > 0) is frozen_before
    finally:
        gc.unfreeze()


def test_a_module_that_fails_to_import_loses_only_its_own_figures(monkeypatch, tmp_path, capsys):
    """Its failure is reported and the exit code is 1; the other modules draw (the imports up front do not stop them)."""
    monkeypatch.setitem(MODULES, "p4", dataclasses.replace(MODULES["p4"], path="simulations.plots.no_such_module"))
    assert sweep.main(["--quick", "--only", "p4", "P3", "--out", str(tmp_path), "--jobs", "1"]) == 1
    assert "FAILED p4" in capsys.readouterr().err
    assert (tmp_path / "p3_phase.csv").is_file() and not (tmp_path / "p4_threshold.csv").exists()


def test_only_redraws_and_keeps_the_rest_of_the_manifest(quick_run, tmp_path):
    for item in quick_run.iterdir():
        shutil.copy(item, tmp_path)
    before = {e["name"]: e for e in manifest(tmp_path)["figures"]}
    (tmp_path / "p3_phase.csv").unlink()
    assert sweep.main(["--quick", "--seed", "7", "--only", "P3", "--out", str(tmp_path), "--logs", str(tmp_path / "none")]) == 0
    after = {e["name"]: e for e in manifest(tmp_path)["figures"]}
    assert after == before
    # The manifest still names the run that drew the rest, not the --only run
    assert manifest(tmp_path)["command"] == manifest(quick_run)["command"]
    assert (tmp_path / "p3_phase.csv").read_bytes() == (quick_run / "p3_phase.csv").read_bytes()


def test_only_selects_modules_by_theorem_key_or_name():
    assert sweep.modules_for(["K3"]) == ["k", "real"]
    assert sweep.modules_for(["x1", "P5"]) == ["p5", "x1"]
    assert sweep.modules_for(["p3_phase"]) == ["p3"]
    assert sweep.modules_for(["V5"]) == ["p3", "p4"]  # its figures are P3's and P4's (simulations.theorems)


def test_registry_names_the_figures_the_modules_draw(quick_run):
    drawn = {e["name"]: e for e in manifest(quick_run)["figures"]}
    for key, module in MODULES.items():
        if key not in ("real", "cola"):  # drawn only where logs exist; see the real-run tests below
            assert set(module.figures) <= set(drawn), key
            assert all(set(drawn[name]["theorems"]) <= set(module.theorems) for name in module.figures)
    assert set(drawn) <= {name for module in MODULES.values() for name in module.figures}


@pytest.mark.parametrize(("cpus", "jobs"), [(1, 1), (2, 1), (3, 1), (4, 4), (16, 16)])
def test_a_pool_only_from_four_cpus(monkeypatch, cpus, jobs):
    monkeypatch.setattr(sweep.os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    assert sweep.default_jobs() == jobs
    assert sweep.parse_args([]).jobs == jobs


@pytest.mark.parametrize("argv", [["--jobs", "0"], ["--seed", "-1"], ["--format", "gif"], ["--only", "P9"]])
def test_bad_options_name_themselves(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        sweep.parse_args(argv)
    assert exit_info.value.code == 2
    assert argv[0] in capsys.readouterr().err


#: Another machine's kernels, emulated: OpenBLAS's SSE4.2 (Nehalem) kernels instead of the
#: detected ones, numpy's baseline loops instead of AVX2/AVX-512 (numpy >= 2.4 spelling).
OTHER_KERNELS = {"OPENBLAS_CORETYPE": "Nehalem", "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4"}


def _kernels(environment: dict) -> str:
    """The OpenBLAS kernels a Python started with ``environment`` runs."""
    probe = "import numpy, threadpoolctl; print(sorted({i.get('architecture') for i in threadpoolctl.threadpool_info()}))"
    return subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True).stdout


def test_other_kernels_write_the_same_bytes(tmp_path):
    """The figures whose 10-digit CSVs and pixels moved under other BLAS kernels (A1, A2, P1, P2,
    P4, K1-K3, V1, and X1's inset), swept under the detected and under emulated other kernels: every CSV, PNG
    and the manifest byte for byte the same (a fresh clone's sweep leaves ``git status`` clean)."""
    here = {**os.environ, "OMP_NUM_THREADS": "1"}
    other = {**here, **OTHER_KERNELS}
    if _kernels(here) == _kernels(other):
        pytest.skip("OPENBLAS_CORETYPE does not change this OpenBLAS's kernels (not x86-64)")
    folders = []
    for name, environment in (("here", here), ("other", other)):
        (tmp_path / name).mkdir()
        command = [sys.executable, str(REPO / "simulations" / "sweep.py"), "--quick", "--jobs", "1", "--out", "figures",
                   "--only", "a", "p1_p2", "p4", "k", "v1_c1_beta", "x1"]
        result = subprocess.run(command, cwd=tmp_path / name, env=environment, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        folders.append(tmp_path / name / "figures")
    written = sorted(path.name for path in folders[0].iterdir())
    assert written == sorted(path.name for path in folders[1].iterdir()) and len(written) == 2 * 10 + 1
    assert [name for name in written if (folders[0] / name).read_bytes() != (folders[1] / name).read_bytes()] == []


def test_written_numbers_have_fixed_precision():
    """Six significant digits, and 0 for the rounding noise of a column (below 1e-13 of its largest value)."""
    data = pd.DataFrame({"x": [1.0 / 3.0, 2.0e-20, -123456789.0], "y": [4.0e-9, 2.0, np.nan], "n": [1, 2, 3]})
    assert sweep.csv_text(data).splitlines() == ["x,y,n", "0.333333,4e-09,1", "0,2,2", "-1.23457e+08,,3"]


def test_runs_as_a_script_from_the_repo_root(tmp_path):
    result = subprocess.run(
        [sys.executable, "simulations/sweep.py", "--quick", "--only", "S1", "--format", "svg", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "s1_spectral.svg").read_text().lstrip().startswith("<?xml")
    assert [e["name"] for e in manifest(tmp_path)["figures"]] == ["s1_spectral"]


@pytest.fixture
def logs(tmp_path):
    """Two seeds of one pipeline, copied from the bridge's documented example log."""
    example = REPO / "docs" / "bridge_example"
    for seed in (0, 1):
        run = tmp_path / "logs" / f"sft-rl-sft-seed{seed}"
        run.mkdir(parents=True)
        shutil.copy(example / "run.jsonl", run / "log.jsonl")
        shutil.copy(example / "run_meta.json", run / "run_meta.json")
    return tmp_path / "logs", json.loads((example / "run_meta.json").read_text())


def test_real_run_figure_from_logs(logs):
    folder, meta = logs
    (drawn,) = real_runs.draw(np.random.default_rng(0), quick=True, data_dir=folder)
    data = drawn.data
    assert set(data["run"]) == {"sft-rl-sft-seed0", "sft-rl-sft-seed1"} and set(data["pipeline"]) == {"sft-rl-sft"}
    rl = data[(data["phase"] == "rl") & np.isfinite(data["kl_a_b"])]
    assert len(rl) > 0
    np.testing.assert_allclose(rl["sft_excess"], rl["sft_loss"] - meta["expert_entropy"])
    np.testing.assert_allclose(rl["kl_a_b"], kl_bernoulli(meta["expert_pass_rate"], rl["reward"].to_numpy()))
    band = data.dropna(subset=["reward_ceiling"])
    assert (band["reward_floor"] <= meta["expert_pass_rate"]).all() and (band["reward_ceiling"] >= meta["expert_pass_rate"]).all()


@pytest.fixture
def exact_logs(tmp_path):
    """Three runs of two pipelines whose logs carry an exact ``pass_rate`` apart from the reward."""
    example = REPO / "docs" / "bridge_example"
    records = [json.loads(line) for line in (example / "run.jsonl").read_text().splitlines() if line.strip()]
    meta = json.loads((example / "run_meta.json").read_text())
    for pipeline, seed in (("rl-sft", 1), ("sft-rl", 0), ("rl-sft", 0)):
        run = tmp_path / "logs" / f"{pipeline}-seed{seed}"
        run.mkdir(parents=True)
        shifted = [{**r, "pass_rate": min(r["reward"] + 0.05 * (seed + 1), 0.999)} for r in records]
        (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in shifted))
        (run / "run_meta.json").write_text(json.dumps({**meta, "pipeline": pipeline, "seed": seed, "wall_time_s": 1.0}))
    unfinished = tmp_path / "logs" / "alternating-seed0"  # no run_meta.json yet: still running
    unfinished.mkdir()
    shutil.copy(example / "run.jsonl", unfinished / "log.jsonl")
    return tmp_path / "logs", meta


def test_real_run_figure_and_summary_share_the_exact_k1(exact_logs, tmp_path):
    folder, meta = exact_logs
    (drawn,) = real_runs.draw(np.random.default_rng(0), quick=True, data_dir=folder)
    data = drawn.data
    assert list(dict.fromkeys(data["run"])) == ["sft-rl-seed0", "rl-sft-seed0", "rl-sft-seed1"]
    assert drawn.figure.axes[0].get_title() == "sft-rl"
    assert summary.main([str(folder), "--out", str(tmp_path / "out")]) == 0
    tables = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [run["run"] for run in tables["runs"]] == ["sft-rl-seed0", "rl-sft-seed0", "rl-sft-seed1"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["summary.json", "summary.md"]
    a, entropy = meta["expert_pass_rate"], meta["expert_entropy"]
    for run in tables["runs"]:
        lines = (folder / run["run"] / "log.jsonl").read_text().splitlines()
        logged = pd.DataFrame([json.loads(line) for line in lines])
        exact_slack = logged["sft_loss"] - entropy - kl_bernoulli(a, logged["pass_rate"].to_numpy())
        sampled_slack = logged["sft_loss"] - entropy - kl_bernoulli(a, logged["reward"].to_numpy())
        assert not np.allclose(exact_slack, sampled_slack)
        drawn_run = data[data["run"] == run["run"]]
        np.testing.assert_allclose(drawn_run["k1_slack"], exact_slack, rtol=1e-12)
        np.testing.assert_allclose(drawn_run["kl_a_b"], kl_bernoulli(a, logged["pass_rate"].to_numpy()), rtol=1e-12)
        assert run["k1"] == {"points": len(logged), "violations": int((exact_slack < 0).sum()),
                             "min_slack": pytest.approx(exact_slack.min(), rel=1e-12)}
        first_stage = logged[logged["stage"] == 0]
        assert run["stages"][0]["pass_rate_start"] == first_stage["pass_rate"].iloc[0]
        assert run["stages"][0]["pass_rate_end"] == first_stage["pass_rate"].iloc[-1]


def test_run_meta_without_the_expert_constants_is_named(exact_logs):
    folder, meta = exact_logs
    sidecar = folder / "sft-rl-seed0" / "run_meta.json"
    sidecar.write_text(json.dumps({"seed": 0}))
    with pytest.raises(LogFormatError, match=r"sft-rl-seed0/run_meta\.json.*'expert_pass_rate', 'expert_entropy'"):
        real_runs.draw(np.random.default_rng(0), quick=True, data_dir=folder)


def test_real_run_figure_through_the_sweep(logs, tmp_path):
    assert sweep.main(["--only", "real", "--logs", str(logs[0]), "--out", str(tmp_path / "out")]) == 0
    (entry,) = manifest(tmp_path / "out")["figures"]
    assert entry["name"] == "real_qwen3" and (tmp_path / "out" / entry["data"]).is_file()


def test_real_run_figure_without_logs_is_skipped(tmp_path):
    with pytest.raises(Skip, match="no real-run logs"):
        real_runs.draw(np.random.default_rng(0), quick=True, data_dir=tmp_path)
    assert sweep.main(["--only", "real", "--logs", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert manifest(tmp_path / "out")["skipped"].keys() == {"real"}


def test_quick_is_a_preview_at_screen_resolution(quick_run):
    """--quick draws at 72 dpi (the default at the style's 110): the PNG is the figure's size in inches times 72."""
    entry = next(e for e in manifest(quick_run)["figures"] if e["name"] == "p1_sft_then_rl")
    header = (quick_run / entry["figure"]).read_bytes()[16:24]
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")
    assert (width, height) == (round(3 * 4.2 * 72), round(2 * 3.3 * 72))


def test_preview_keeps_labels_and_legends_in_plain_text():
    """preview(): log ticks in plain text, minor ticks gone only where decades label the axis,
    labels, legend and title untouched, fixed margins instead of a layout engine."""
    import matplotlib.pyplot as plt

    from simulations.plots._style import PREVIEW_STYLE, panels, preview

    with plt.style.context([sweep.STYLE, PREVIEW_STYLE]):
        fig, axes = panels(2)
        wide, narrow = axes[0]
        wide.loglog([1e-4, 1e2], [1e-3, 1e3], label="curve $x^2$")
        narrow.semilogy([0, 1], [2.0, 7.0])
        wide.set(xlabel="time $t$ (s)", ylabel="loss $L$")
        wide.legend()
        fig.suptitle("title")
        preview(fig)
        fig.canvas.draw()
    assert fig.get_layout_engine() is None
    assert {"0.0001", "0.01", "1", "100"} <= {t.get_text() for t in wide.get_xticklabels()}
    assert not any("$" in t.get_text() for t in wide.get_yticklabels())
    assert not wide.xaxis.get_minorticklocs().size
    assert narrow.yaxis.get_minorticklocs().size > 0  # under one decade: the minor ticks carry the labels
    assert wide.get_xlabel() == "time $t$ (s)" and wide.get_legend().get_texts()[0].get_text() == "curve $x^2$"
    renderer = fig.canvas.get_renderer()
    for ax in axes[0]:
        assert fig.bbox.contains(*ax.yaxis.label.get_window_extent(renderer).p0)
    plt.close(fig)

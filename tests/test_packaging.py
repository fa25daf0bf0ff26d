"""The package as a user installs it: one import name, a light import, the command line, lint.

The wheel is built once per session from this checkout and installed into a temporary
folder (``pip install --target``), so the tests below exercise what ``pip install .`` gives a
user, not the source tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(args, *, cwd, pythonpath=None, check=True):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = out / "src"
    # Build from a clean copy of the tracked tree, so local build artefacts cannot leak in.
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in filter(None, files.split("\0")):
        target = source / name
        if (REPO / name).is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
                           capture_output=True, text=True)
    if built.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{built.stderr[-2000:]}")
    return next(out.glob("nondecoupling-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed alone (no dependencies: numpy and scipy come from this interpreter)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    return target


def test_the_wheel_holds_exactly_one_top_level_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert {n for n in top_level if not n.endswith(".dist-info")} == {"nondecoupling"}, top_level
    assert not [n for n in names if n.startswith(("theory/", "simulations/", "tests/")) or "/data/" in n or n.endswith(".jsonl")]
    assert "nondecoupling/py.typed" in names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "nondecoupling = nondecoupling.cli:console" in entry_points


def test_import_loads_neither_sympy_nor_matplotlib_nor_pandas(installed, tmp_path):
    code = ("import sys, nondecoupling; [getattr(nondecoupling, n) for n in nondecoupling.__all__]; "
            "print(sorted(m for m in ('sympy', 'matplotlib', 'pandas', 'torch') if m in sys.modules))")
    assert _run(["-c", code], cwd=tmp_path, pythonpath=installed).stdout.strip() == "[]"


def test_import_and_the_command_line_module_load_no_numpy(installed, tmp_path):
    """The commands may start numpy's BLAS on one thread (``nondecoupling.cli.console``): only before numpy loads."""
    code = "import sys, nondecoupling, nondecoupling.cli; print('numpy' in sys.modules)"
    assert _run(["-c", code], cwd=tmp_path, pythonpath=installed).stdout.strip() == "False"


def test_a_user_project_with_its_own_theory_and_simulations_packages(installed, tmp_path):
    """Research code often has its own theory/ and simulations/: ours must not collide with them."""
    for package in ("theory", "simulations"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(f"OWNER = 'user {package}'\n")
    code = ("from nondecoupling import optimal_rl_duration; import theory, simulations; "
            "print(round(float(optimal_rl_duration(lam=0.1, mu_rl=0.5, beta_rl=2.0, beta_sft=1.0)), 4), "
            "theory.OWNER, '|', simulations.OWNER)")
    out = _run(["-c", code], cwd=tmp_path, pythonpath=installed).stdout.strip()
    assert out == "1.6219 user theory | user simulations"


def test_the_command_lists_its_subcommands(installed, tmp_path):
    out = _run(["-m", "nondecoupling", "--help"], cwd=tmp_path, pythonpath=installed).stdout
    for command in ("check", "probe", "derive"):
        assert f"  {command} " in out
    # the experiments' runner is `python -m simulations.qwen3` in a checkout, not a command of the wheel
    for name in ("fly", "run"):
        unknown = _run(["-m", "nondecoupling", name], cwd=tmp_path, pythonpath=installed, check=False)
        assert unknown.returncode == 2 and f"unknown command {name!r}" in unknown.stderr


def test_derive_refuses_an_installed_copy(installed, tmp_path):
    pytest.importorskip("sympy", reason="derive needs the derive extra (sympy)")
    result = _run(["-m", "nondecoupling", "derive"], cwd=tmp_path, pythonpath=installed, check=False)
    assert result.returncode != 0
    assert "is not inside a source checkout" in result.stderr


def test_ruff_is_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with the test extra)")
    result = subprocess.run([ruff, "check", "--quiet", str(REPO)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", ["simulations/benchmark.py", "benchmarks/api_speed.py", "benchmarks/sweep_speed.py",
                                    "benchmarks/bridge_scale.py", "benchmarks/run_all.py"])
def test_benchmark_scripts_run_as_the_readme_says(script):
    # `python <script>` from the repository root, as README and CONTRIBUTING call them (no install of `simulations`).
    result = subprocess.run([sys.executable, script, "--help"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]

"""benchmarks/run_all.py's verdicts and table, on made-up measurements (it measures nothing here)."""

import pytest

from benchmarks import run_all


@pytest.mark.parametrize(("low", "high", "verdict"), [(1.3, 2.2, "yes"), (1.0, 1.3, "partly"), (2.2, 3.0, "partly"),
                                                      (1.0, 1.29, "no"), (2.21, 3.0, "no"), (1.0, 3.0, "partly")])
def test_within_is_inside_overlapping_or_apart(low, high, verdict):
    assert run_all.within(1.3, 2.2)(low, high) == verdict


def test_one_sided_bounds():
    assert [run_all.at_least(1.5)(lo, hi) for lo, hi in ((1.5, 2.0), (1.4, 1.6), (1.0, 1.49))] == ["yes", "partly", "no"]
    assert [run_all.at_most(1.0)(lo, hi) for lo, hi in ((0.5, 1.0), (0.9, 1.1), (1.01, 2.0))] == ["yes", "partly", "no"]


def test_table_gives_the_range_over_repeats_and_the_load():
    claim = run_all.Claim("demo", "README.md", "2-3x", "bench", lambda m: [m["a"] / m["b"]], run_all.within(2, 3))
    results = {"bench": [{"load": [1.0, 2.5], "data": {"a": 5.0, "b": 2.0}},
                         {"load": [3.0, 0.5], "data": {"a": 7.0, "b": 2.0}}]}
    row = run_all.table([claim], results).splitlines()[-1]
    assert row == "| demo | README.md | 2-3x | 2.5-3.5x (n = 2) | 0.5-3.0 | partly |"


def test_a_benchmark_not_run_says_so():
    claim = run_all.Claim("demo", "README.md", "1%", "bench", lambda m: [m["x"]], run_all.at_most(0.01), "%")
    assert run_all.table([claim], {}).splitlines()[-1].endswith("| not measured |  | not run |")


def test_only_selects_by_id_or_prefix_and_refuses_unknown_ids():
    assert {c.id for c in run_all.selected(["api-tilted", "sweep-"])} == {"api-tilted"} | {c.id for c in run_all.CLAIMS if c.id.startswith("sweep-")}
    assert run_all.selected(None) == run_all.CLAIMS
    with pytest.raises(SystemExit, match="no claim id"):
        run_all.selected(["nonsense"])


def test_claim_ids_are_unique_and_name_a_benchmark():
    ids = [c.id for c in run_all.CLAIMS]
    assert len(ids) == len(set(ids))
    assert {c.benchmark for c in run_all.CLAIMS} <= set(run_all.BENCHMARK_FUNCTIONS)


def test_check_claims_read_every_run_of_the_check_benchmark():
    runs = {label: {"wall": 1.0, "cpu": cpu, "system": 0.3, "peak_mb": peak, "verdicts": {}}
            for label, cpu, peak in (("before", 40.0, 3000.0), ("reader", 7.0, 450.0), ("previous", 7.5, 450.0),
                                     ("third_cold", 6.5, 380.0), ("third_warm", 5.2, 375.0), ("fifth_cold", 6.6, 390.0),
                                     ("seventh_cold", 6.1, 380.0), ("seventh_warm", 5.1, 375.0),
                                     ("eighth_cold", 6.0, 380.0), ("eighth_warm", 5.0, 375.0), ("eighth_user", 5.5, 375.0),
                                     ("ninth_cold", 6.3, 380.0), ("ninth_warm", 5.2, 375.0),
                                     ("ninth_trl_cold", 4.0, 250.0), ("ninth_trl", 3.3, 230.0), ("trl_cold", 2.7, 250.0),
                                     ("trl", 2.3, 230.0), ("ninth_tensorboard_cold", 6.9, 290.0), ("ninth_tensorboard", 6.4, 290.0),
                                     ("tensorboard_cold", 3.6, 290.0), ("tensorboard", 3.4, 290.0), ("ninth_verl_cold", 4.0, 300.0),
                                     ("ninth_verl", 3.5, 300.0), ("verl_cold", 2.5, 300.0), ("verl", 2.2, 300.0),
                                     ("ninth_mlflow_cold", 4.3, 270.0), ("ninth_mlflow", 4.1, 270.0), ("mlflow_cold", 1.8, 240.0),
                                     ("mlflow", 1.7, 240.0), ("tenth_tensorboard_cold", 3.7, 290.0), ("tenth_tensorboard", 3.4, 290.0),
                                     ("tenth_mlflow_cold", 2.8, 270.0), ("tenth_mlflow", 2.6, 270.0),
                                     ("fourteenth_tensorboard_cold", 5.1, 290.0), ("fourteenth_tensorboard", 4.8, 290.0),
                                     ("user", 5.0, 375.0), ("eighth_timestamped", 15.0, 1500.0), ("timestamped", 5.0, 380.0),
                                     ("eighth_csv", 15.0, 1200.0), ("csv", 5.0, 380.0),
                                     ("cold", 6.0, 380.0), ("warm", 5.0, 375.0))}
    data = {**runs, "reader_same_verdicts": True, "now_same_verdicts": True, "third_same_verdicts": True,
            "fifth_same_verdicts": True, "seventh_same_verdicts": True, "eighth_same_verdicts": True, "ninth_same_verdicts": True,
            "trl_same_verdicts": True, "tensorboard_same_verdicts": True, "verl_same_verdicts": True, "mlflow_same_verdicts": True,
            "timestamped_same_verdicts": True, "csv_same_verdicts": True}
    claims = [c for c in run_all.CLAIMS if c.benchmark == "check"]
    rows = run_all.table(claims, {"check": [{"load": [1.0, 1.0], "data": data}]}).splitlines()[2:]
    assert len(rows) == len(claims) and not any("not measured" in row for row in rows)
    assert "| 1.5x (n = 1) |" in next(row for row in rows if row.startswith("| check-cpu-issue25 |"))
    assert "| 4.7 s CPU (n = 2) |" in next(row for row in rows if row.startswith("| check-target-cpu-own |"))  # cpu - system


def test_callback_claims_read_every_revision_and_the_warm_stage():
    row = {"steps": 20, "evaluations": 2, "training": 10.0, "callback": 0.5, "refits": 0.05, "refit_count": 2}
    runs = {label: {**row, "steps": int(label.split("-")[0])} for label in ("20", "60", "200", "20-again")}
    results = {"callback": [{"load": [1.0, 1.0], "data": {"before": runs, "previous": runs, "after": runs}}]}
    claims = [c for c in run_all.CLAIMS if c.benchmark == "callback"]
    rows = run_all.table(claims, results).splitlines()[2:]
    assert len(rows) == len(claims) and not any("not measured" in row for row in rows)
    assert any(c.id.startswith("callback-before-") for c in claims) and any(c.id.endswith("-again") for c in claims)
    assert any(c.id.startswith("callback-previous-") for c in claims)
    target = next(c for c in claims if c.id == "callback-target")
    assert target.values(results["callback"][0]["data"]) == [0.05] * 4  # every length: 20 fresh and warm, 60, 200


def test_a_saved_run_older_than_a_claim_shows_it_not_measured():
    """``--load`` of a run saved before a revision's claims were added (no ``seventh_warm`` in it) names them, not a KeyError."""
    runs = {label: {"wall": 1.0, "cpu": 5.0, "peak_mb": 375.0, "verdicts": {}} for label in ("before", "cold", "warm")}
    claim = next(c for c in run_all.CLAIMS if c.id == "check-cpu-seventh")
    rows = run_all.table([claim], {"check": [{"load": [1.0, 1.0], "data": runs}]}).splitlines()[2:]
    assert rows == [f"| check-cpu-seventh | {claim.where} | {claim.claimed} | not measured |  | not run |"]


def test_the_header_records_the_package_versions_and_an_older_run_says_it_did_not(capsys):
    """A saved run names the versions its timings were taken with; one saved before that says so, not a KeyError."""
    from importlib import metadata

    about = run_all.header(["--only", "api-"])
    assert f"numpy {metadata.version('numpy')}" in about["packages"] and f"scipy {metadata.version('scipy')}" in about["packages"]
    assert about["packages"].count(",") == len(run_all.PACKAGES) - 1
    run_all.print_report({k: v for k, v in about.items() if k != "packages"}, [], {})
    assert "packages: not recorded" in capsys.readouterr().out

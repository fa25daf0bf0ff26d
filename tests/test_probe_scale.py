"""benchmarks/probe_scale.py's timing rounds and the ratios of its record, on the tiny configuration (it measures nothing here)."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from benchmarks import probe_scale  # noqa: E402


def test_rounds_call_the_functions_in_turn_after_one_warm_up_round():
    calls = []
    record = probe_scale.timed_rounds({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3)
    assert calls == ["a", "b"] * 4
    assert {name: {key: len(values) for key, values in call.items()} for name, call in record.items()} == {
        name: {"wall": 3, "system": 3, "page_faults": 3} for name in "ab"}


def test_the_ratios_are_the_medians_of_each_rounds_ratio(monkeypatch):
    # Per round: HVP / gradient 3, 1, 1 (median 1; the ratio of the medians would be 3 / 2 = 1.5) and
    # HVP / (gradient - forward) 6, 2, 4 (median 4; of the medians 3 / 1 = 3).
    walls = {"forward": [0.5, 1.0, 3.0], "gradient": [1.0, 2.0, 4.0], "hvp": [3.0, 2.0, 4.0]}

    def made_up(functions, rounds):
        return {name: {"wall": walls[name], "system": [0.0] * 3, "page_faults": [0] * 3} for name in functions}

    monkeypatch.setattr(probe_scale, "timed_rounds", made_up)
    # glibc's defaults: the test process's own malloc settings stay as they are
    result = probe_scale.main(["--smoke", "--threads", "1", "--lanczos-steps", "2", "--trace-samples", "1", "--glibc-defaults"])
    assert result["freed_memory_kept"] is False
    assert (result["hvp_over_gradient"], result["hvp_over_backward_only"]) == (1.0, 4.0)
    assert (result["forward_s"], result["gradient_s"], result["hvp_s"], result["backward_only_s"]) == (1.0, 2.0, 3.0, 1.0)

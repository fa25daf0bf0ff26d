"""The live callback's time budget (``nondecoupling.bridge.models.budget``): at most ``max_overhead``
of a stage's training time, however slow an evaluation is next to a step."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling.bridge.models import budget as budget_module
from nondecoupling.bridge.models.budget import TimeBudget


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_stage(monkeypatch, *, share, max_steps: int, every: int, step_seconds, evaluation_seconds,
              reduced_start: bool = False, last_seconds: float | None = None) -> tuple[list[int], float, float]:
    """Drive a budget through one stage as the callback does: (evaluated steps, callback time, training time).

    ``evaluation_seconds``: one cost for every evaluation, or a list, the i-th evaluation's cost (the last one repeated).
    ``reduced_start``: the first evaluation skips pi_ref's pass (``"rl_start"``), as the callback tells the budget.
    ``last_seconds``: the stage's last evaluation's cost, if not its place in ``evaluation_seconds``.
    """
    clock = FakeClock()
    monkeypatch.setattr(budget_module.time, "perf_counter", clock)
    budget = TimeBudget(share)
    budget.reset(enforced=True, max_steps=max_steps)
    evaluated = []

    costs = evaluation_seconds if isinstance(evaluation_seconds, list) else [evaluation_seconds]

    def evaluate(step, cost=None):
        with budget.spending(reduced=reduced_start and not evaluated):
            clock.now += costs[min(len(evaluated), len(costs) - 1)] if cost is None else cost
        evaluated.append(step)

    evaluate(0)  # the stage's first evaluation, always made
    for step in range(1, max_steps + 1):
        budget.step_begins()
        clock.now += step_seconds(step)
        budget.step_ends(due=step % every == 0)
        if step < max_steps and budget.allows_evaluation():
            evaluate(step)
    evaluate(max_steps, last_seconds)  # the last, always made
    return evaluated, budget.spent, budget.training


def test_without_a_budget_every_scheduled_evaluation_is_made(monkeypatch):
    evaluated, _, _ = run_stage(monkeypatch, share=None, max_steps=60, every=10, step_seconds=lambda s: 1.0, evaluation_seconds=5.0)
    assert evaluated == list(range(0, 61, 10))


def test_a_slow_evaluation_is_deferred_and_the_stage_stays_within_its_share(monkeypatch):
    """One evaluation = 2 steps, 5% of 200 steps = 10 steps. Each evaluation is counted at twice the cheapest (the
    premise's noise): step 10's fits (2 + 2 x 4 = 10), step 20's does not (6 + 8). Tight when the two after the
    start cost the 4 s the premise allows."""
    evaluated, spent, training = run_stage(monkeypatch, share=0.05, max_steps=200, every=10, step_seconds=lambda s: 1.0,
                                           evaluation_seconds=[2.0, 4.0])
    assert evaluated == [0, 10, 200]
    assert spent == pytest.approx(0.05 * training)  # tight: the budget is spent to the last evaluation


def test_a_last_evaluation_dearer_than_every_one_before_stays_within_the_share(monkeypatch):
    """The benchmark's 60-step GRPO stage (AMD EPYC family 25 model 1, 2026-12-06): steps of 70.1 ms, the reduced start
    22.8 ms, then 30.9, 30.1, 27.3, 31.0, 31.7 ms, and the last 43.6 ms, 1.4x the largest before it. Counted at the
    largest so far, step 50's fits (142.0 + 2 x 31.7 <= 210.3 ms) and the stage spends 217.3 ms, 5.17%; counted at
    twice the cheapest, step 40's does not (111.0 + 2 x 54.6), and it spends 155.5 ms."""
    evaluated, spent, training = run_stage(monkeypatch, share=0.05, max_steps=60, every=10, step_seconds=lambda s: 0.0701,
                                           evaluation_seconds=[0.0228, 0.0309, 0.0301, 0.0273, 0.0310, 0.0317],
                                           reduced_start=True, last_seconds=0.0436)
    assert evaluated == [0, 10, 20, 30, 60]
    assert spent == pytest.approx(0.0228 + 0.0309 + 0.0301 + 0.0273 + 0.0436) and spent <= 0.05 * training


def test_a_cheap_evaluation_does_not_lower_the_bound_below_the_largest(monkeypatch):
    """5% of 200 one-second steps = 10 s; evaluations of 1 s but the third (0.1 s), off the premise (ten times
    cheaper). Twice the cheapest would then count an evaluation at 0.2 s, step 90's would fit (8.1 + 2 x 0.2) and the
    stage would end at 10.1 s; the largest so far (1 s) stays the floor, and it ends at 9.1 s."""
    evaluated, spent, training = run_stage(monkeypatch, share=0.05, max_steps=200, every=10, step_seconds=lambda s: 1.0,
                                           evaluation_seconds=[1.0, 1.0, 0.1, 1.0])
    assert evaluated == [0, 10, 20, 30, 40, 50, 60, 70, 80, 200]
    assert spent == pytest.approx(9.1) and spent <= 0.05 * training


def test_a_cheap_evaluation_keeps_the_schedule(monkeypatch):
    evaluated, spent, training = run_stage(monkeypatch, share=0.05, max_steps=100, every=10, step_seconds=lambda s: 1.0,
                                           evaluation_seconds=0.1)
    assert evaluated == list(range(0, 101, 10)) and spent <= 0.05 * training


@given(share=st.floats(0.01, 0.5), max_steps=st.integers(2, 300), every=st.integers(1, 20),
       step=st.floats(0.01, 10.0), evaluation=st.floats(0.001, 50.0))
def test_the_share_holds_whenever_the_first_and_last_evaluations_fit(share, max_steps, every, step, evaluation):
    with pytest.MonkeyPatch.context() as monkeypatch:
        _, spent, training = run_stage(monkeypatch, share=share, max_steps=max_steps, every=every,
                                       step_seconds=lambda s: step, evaluation_seconds=evaluation)
    if 2 * evaluation <= share * training:
        assert spent <= share * training * (1 + 1e-9)
    else:  # only the two mandatory evaluations
        assert spent == pytest.approx(2 * evaluation)


def test_a_reduced_start_does_not_make_a_full_evaluation_look_cheap(monkeypatch):
    """The benchmark's 20-step GRPO stage (2026-12-06): steps of 50 ms, the start (pi_ref's pass skipped) 16 ms, the
    later evaluations 20 ms. Taking the start's cost as the next one's, step 10's fits (16 + 2 x 16 <= 50 ms) and the
    stage spends 56 ms of its 1000, 5.6% against 5%; twice the start's does not fit, and the stage spends 36 ms."""
    evaluated, spent, training = run_stage(monkeypatch, share=0.05, max_steps=20, every=10, step_seconds=lambda s: 0.05,
                                           evaluation_seconds=[0.016, 0.020], reduced_start=True)
    assert evaluated == [0, 20] and spent == pytest.approx(0.036) and spent <= 0.05 * training


def test_after_a_full_evaluation_its_cost_is_the_estimate(monkeypatch):
    """Twice the reduced start's cost holds only until a full evaluation is measured: the schedule is not thinned for good."""
    evaluated, spent, training = run_stage(monkeypatch, share=0.05, max_steps=100, every=10, step_seconds=lambda s: 1.0,
                                           evaluation_seconds=[0.4, 0.5], reduced_start=True)
    # 0.4 + 2 x 0.8 <= 5 s: step 10 is made; from then on 0.5 s an evaluation, counted at 1 s: 0.4 + 0.5 k + 2 <= 5 up to k = 6
    assert evaluated == [0, 10, 20, 30, 40, 50, 60, 100] and spent == pytest.approx(3.9) and spent <= 0.05 * training


@given(share=st.floats(0.01, 0.5), max_steps=st.integers(2, 300), every=st.integers(1, 20), step=st.floats(0.01, 10.0),
       reduced=st.floats(0.001, 50.0), ratio=st.floats(1.0, 2.0))
def test_the_share_holds_after_a_reduced_start_when_a_full_evaluation_costs_at_most_twice_it(share, max_steps, every, step,
                                                                                               reduced, ratio):
    full = reduced * ratio
    with pytest.MonkeyPatch.context() as monkeypatch:
        _, spent, training = run_stage(monkeypatch, share=share, max_steps=max_steps, every=every, step_seconds=lambda s: step,
                                       evaluation_seconds=[reduced, full], reduced_start=True)
    if reduced + full <= share * training:
        assert spent <= share * training * (1 + 1e-9)
    else:  # only the two mandatory evaluations
        assert spent == pytest.approx(reduced + full)


@given(share=st.floats(0.01, 0.5), max_steps=st.integers(2, 300), every=st.integers(1, 20), step=st.floats(0.01, 10.0),
       cheapest=st.floats(0.001, 50.0), spread=st.lists(st.floats(1.0, 2.0), min_size=1, max_size=40), last=st.floats(1.0, 2.0),
       reduced_start=st.booleans())
def test_the_share_holds_when_full_evaluations_cost_within_twice_one_another(share, max_steps, every, step, cheapest, spread,
                                                                              last, reduced_start):
    """The premise: full evaluations within ``noise`` (2) of one another, each at most twice a reduced start (drawn at the
    cheapest). Then the stage spends at most its share, or only its two mandatory evaluations."""
    costs = [cheapest * ratio for ratio in spread]
    if reduced_start:
        costs = [cheapest, *costs]
    with pytest.MonkeyPatch.context() as monkeypatch:
        evaluated, spent, training = run_stage(monkeypatch, share=share, max_steps=max_steps, every=every, step_seconds=lambda s: step,
                                               evaluation_seconds=costs, reduced_start=reduced_start, last_seconds=cheapest * last)
    if len(evaluated) > 2:
        assert spent <= share * training * (1 + 1e-9)
    else:
        assert spent == pytest.approx(costs[0] + cheapest * last)


@pytest.mark.parametrize(("max_overhead", "expected"), [(None, [0, 2, 4, 6, 8]), (1e-9, [0, 8])])
def test_the_callback_defers_scheduled_evaluations_past_its_budget(tmp_path, max_overhead, expected):
    """A real SFT stage: without a budget every scheduled evaluation is made; with a vanishing one, only the first and last."""
    pytest.importorskip("trl")
    import numpy as np
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from nondecoupling.bridge.models import CouplingCallback, CouplingConfig
    from nondecoupling.bridge.models.tiny import TinyQwen3Size, build_char_tokenizer, build_tiny_qwen3
    from tests.bridge.tasks import ExpertTask

    task = ExpertTask.echo(expert_pass_rate=0.5, num_wrong=2)
    tokenizer = build_char_tokenizer()
    model = build_tiny_qwen3(tokenizer, TinyQwen3Size(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=16,
                                                      intermediate_size=64), seed=0)
    prompts, responses = zip(*[(p, y) for p in task.prompts for y in task.expert_distribution(p)])
    callback = CouplingCallback(CouplingConfig(prompts, responses, every_steps=2, max_overhead=max_overhead))
    trainer = SFTTrainer(model=model, processing_class=tokenizer, train_dataset=Dataset.from_list(task.sample_expert(256, np.random.default_rng(0))),
                         args=SFTConfig(max_steps=8, per_device_train_batch_size=32, output_dir=str(tmp_path), report_to="none",
                                        use_cpu=True, save_strategy="no", disable_tqdm=True, completion_only_loss=True))
    callback.attach(trainer)
    trainer.train()
    assert [r["step"] for r in callback.records] == expected


def test_an_evaluation_made_inside_a_step_is_charged_and_not_training_time(monkeypatch):
    """The start's evaluation runs in the first step's on_pre_optimizer_step: between step_begins and step_ends."""
    clock = FakeClock()
    monkeypatch.setattr(budget_module.time, "perf_counter", clock)
    budget = TimeBudget(0.05)
    budget.reset(enforced=True, max_steps=10)
    budget.step_begins()
    clock.now += 0.25  # forward and backward
    with budget.spending():
        clock.now += 3.0
    clock.now += 0.75  # the optimizer step
    budget.step_ends(due=False)
    assert budget.training == 1.0 and budget.spent == 3.0 and budget.steps == 1

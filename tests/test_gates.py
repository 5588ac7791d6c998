"""The statistical gates of the demo and the experiments, on hand-made results (eval/schema.py objects)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from thinkdial.eval.schema import Dial, DialMean, DialSetting, GroupMetrics, ModelResult, PairedCounts
from thinkdial.pipeline.gates import (
    Check,
    Evidence,
    critical_z,
    decide,
    dial_checks,
    direct_levels,
    do_no_harm,
    half_budget_forcing,
    learned_start_checks,
    miscalibration,
    overthought_levels,
    paired_se,
    shift_checks,
    two_sided_checks,
)

N = 400  # rows per level, as the demo's eval


def level(acc, acc_direct, direct_rate, tokens, oracle, std=0.0, **extra) -> GroupMetrics:
    return GroupMetrics(
        n=N,
        accuracy=acc,
        accuracy_direct=acc_direct,
        direct_rate=direct_rate,
        reasoning_tokens_mean=tokens,
        reasoning_tokens_std=std,
        reasoning_tokens_median=tokens,
        reasoning_tokens_p90=tokens,
        min_reasoning_tokens_mean=oracle,
        chance_accuracy=0.1,
        truncated_rate=0.0,
        budget_curve=extra.pop("budget_curve", {}),
        budget_tokens_mean={},
        budget_curve_area_log2=None,
        overthinking_tokens_mean=None,
        tokens_over_oracle=None,
        pass_at_k={},
        dial=extra.pop("dial", None),
    )


def model(levels: dict[str, GroupMetrics], **extra) -> ModelResult:
    fields = {k: v for k, v in vars(next(iter(levels.values()))).items()}
    return ModelResult(**{**fields, "n": N * len(levels), **extra, "levels": levels})


# a start wrong both ways: verbose (4x) where it solves, gives up on the hardest level
START = model(
    {
        "1": level(1.0, 1.0, 0.0, 4.0, 1, std=0.5),
        "2": level(1.0, 0.1, 0.0, 8.0, 2, std=0.5),
        "3": level(1.0, 0.1, 0.0, 12.0, 3, std=0.5),
        "4": level(0.15, 0.1, 0.0, 2.0, 4, std=0.5),
    }
)
ADAPTIVE = model(
    {
        "1": level(1.0, 1.0, 1.0, 0.0, 1),
        "2": level(1.0, 0.1, 0.0, 2.0, 2),
        "3": level(0.995, 0.1, 0.0, 3.0, 3),
        "4": level(0.99, 0.1, 0.0, 4.0, 4),
    }
)


def failed(items) -> set[str]:
    return {c.name for c in decide(items) if not c.passed}


def close(items) -> set[str]:
    return {c.name for c in decide(items) if c.close}


def test_critical_z_splits_the_false_fail_rate_over_the_gates():
    assert critical_z(1) == pytest.approx(2.3263, abs=1e-4)  # one-sided 1%
    assert critical_z(100) == pytest.approx(3.7190, abs=1e-4)  # 0.01 / 100 each


def test_decide_fails_only_a_margin_significantly_below_zero():
    items = [
        Evidence("holds", 0.02, 0.01, "d"),
        Evidence("short, within noise", -0.02, 0.01, "d"),  # z = -2, critical z over 3 tests = 2.713
        Evidence("short, significant", -0.03, 0.01, "d"),  # z = -3
        Check("a fact", True, "d"),
    ]
    checks = decide(items)
    assert [c.passed for c in checks] == [True, True, False, True]
    assert [c.close for c in checks] == [False, True, False, False]
    assert checks[1].detail == "d; margin -0.02, z -2.00"
    exact = decide([Evidence("exact and short", -0.001, 0.0, "d")])
    assert not exact[0].passed  # no noise: any shortfall is real


def test_paired_se_from_discordant_rows():
    # 30 rows right only under the dial, 10 only under forcing, of 400: d = 0.05
    assert paired_se(30, 10, 400) == pytest.approx(math.sqrt((40 / 400 - 0.05**2) / 400))
    assert paired_se(0, 0, 400) == 0.0


def test_the_adaptive_shift_passes_every_gate():
    items = shift_checks(START, ADAPTIVE)
    assert not failed(items) and not close(items)
    # easy x2, hardest x3, no harm x4, split (4 levels + the start's precondition), oracle x4
    assert len(items) == 2 + 3 + 4 + 5 + 4


def test_a_model_that_stops_thinking_fails_the_hardest_level_the_split_and_no_harm():
    never = model(
        {
            k: level(1.0 if k == "1" else 0.1, 0.1, 1.0, 0.0, v.min_reasoning_tokens_mean)
            for k, v in START.levels.items()
        }
    )
    names = failed(shift_checks(START, never))
    assert (
        "level 4 (hardest): accuracy >= 90%" in names
        and "level 2 (needs reasoning): direct rate <= 5%" in names
    )
    assert "level 2: accuracy >= start - 1 pt" in names


def test_the_start_itself_fails_and_a_start_with_the_split_is_flagged():
    names = failed(shift_checks(START, START))
    assert (
        "level 1 (easy): tokens <= 50% of the start's" in names
        and "level 4 (hardest): accuracy >= 90%" in names
    )
    split = model({**START.levels, "1": level(1.0, 1.0, 0.95, 0.1, 1)})
    assert "the start does not already show the split" in failed(shift_checks(split, ADAPTIVE))


def test_do_no_harm_is_a_paired_test_against_one_point():
    worse = model({**ADAPTIVE.levels, "2": level(0.97, 0.1, 0.0, 2.0, 2)})  # -3 pt at level 2
    noisy = {"2": PairedCounts(n=N, gained=20, lost=32)}  # many discordant rows: SE 1.8 pt, z = -1.1
    exact = {"2": PairedCounts(n=N, gained=0, lost=12)}  # 12 rows lost, none gained: SE 0.85 pt, z = -2.35
    assert "level 2: accuracy >= start - 1 pt" in close(do_no_harm(START, worse, noisy))
    # critical z over the 4 levels' gates: 2.886; a 3-point loss with no row gained is significant at 1 test
    assert not failed(do_no_harm(START, worse, exact))
    assert failed([do_no_harm(START, worse, exact)[1]]) == {"level 2: accuracy >= start - 1 pt"}


def test_miscalibration_needs_a_solved_overthought_easy_end_and_a_hard_end_given_up_although_reasoning_works():
    assert miscalibration(START) == {"easy": True, "hard": True}
    assert [e.name for e in two_sided_checks(START, ADAPTIVE)] == [
        "level 1 (easy): tokens <= 50% of the start's",
        "level 2 (easy): tokens <= 50% of the start's",
        "level 4 (hardest): accuracy >= start + 20 pt",
        "level 4 (hardest): accuracy >= 90%",
        "level 4 (hardest): more tokens than the start",
    ]
    weak = model({k: replace(v, accuracy=0.2) for k, v in START.levels.items()})  # reasoning does not work
    assert miscalibration(weak) == {"easy": False, "hard": False} and two_sided_checks(weak, ADAPTIVE) == []


def setting(budget, accuracy, tokens, control, forcing, dial_only=0, forcing_only=0, std=0.0) -> DialSetting:
    return DialSetting(
        budget_tokens=budget,
        n=N,
        accuracy=accuracy,
        reasoning_tokens_mean=tokens,
        reasoning_tokens_std=std,
        reasoning_tokens_median=tokens,
        reasoning_tokens_p90=tokens,
        mean_error_pct=None,
        rmse_error_pct=None,
        violation_rate=1 - control,
        control=control,
        truncated_rate=0.0,
        forcing_accuracy=forcing,
        forcing_reasoning_tokens_mean=None,
        dial_only_correct=dial_only,
        forcing_only_correct=forcing_only,
    )


def dial(requested: dict, efforts: dict | None = None) -> Dial:
    return Dial(
        requested=requested, efforts=efforts or {}, requested_mean=DialMean(None, None, None, None, None)
    )


def dial_model(requested, efforts, levels) -> ModelResult:
    return replace(ADAPTIVE, dial=dial(requested, efforts), levels=levels)


REQUESTED = {"2": setting(2, 0.3, 0.2, 1.0, 0.3), "8": setting(8, 1.0, 4.0, 0.995, 1.0)}
EFFORTS = {
    "low": setting(2, 0.3, 0.2, 1.0, 0.3, std=0.4),
    "medium": setting(4, 0.55, 1.5, 1.0, 0.5, std=0.5),
    "high": setting(8, 1.0, 4.0, 1.0, 1.0, std=0.5),
}
# level 1 is solved within either budget; level 4 only within 8 (forcing at 2 fails it)
LEVELS = {
    "1": level(
        1.0, 1.0, 1.0, 0.0, 1, budget_curve={"2": 1.0, "8": 1.0}, dial=dial({"2": setting(2, 1, 1.0, 1, 1)})
    ),
    "4": level(
        1.0,
        0.1,
        0.0,
        4.0,
        4,
        budget_curve={"2": 0.1, "8": 1.0},
        dial=dial({"2": setting(2, 0.1, 0.4, 1, 0.1, std=0.5), "8": setting(8, 1, 4.0, 1, 1)}),
    ),
}
GOOD = dial_model(REQUESTED, EFFORTS, LEVELS)
START_FORCED = replace(START, budget_curve={"8": 0.34})


def test_dial_gates_on_hand_values():
    assert not failed(dial_checks(GOOD, START_FORCED)) and not close(dial_checks(GOOD, START_FORCED))
    broken = dial_model({**REQUESTED, "8": setting(8, 1.0, 6.0, 0.9, 1.0)}, EFFORTS, LEVELS)
    assert failed(dial_checks(broken, START_FORCED)) == {"budget 8: Control >= 95%"}
    drifting = dial_model({**REQUESTED, "8": setting(8, 1.0, 4.2, 0.983, 1.0)}, EFFORTS, LEVELS)
    assert close(dial_checks(drifting, START_FORCED)) == {"budget 8: Control >= 95%"}  # below the 99% target
    started = {**LEVELS, "4": replace(LEVELS["4"], dial=dial({"2": setting(2, 0.1, 1.8, 1, 0.1, std=0.5)}))}
    assert failed(dial_checks(dial_model(REQUESTED, EFFORTS, started), START_FORCED)) == {
        "budget 2: levels needing more spend <= half of it"
    }
    flat = dial_model(REQUESTED, {**EFFORTS, "high": setting(8, 0.5, 1.0, 1.0, 1.0, std=0.5)}, LEVELS)
    # fewer tokens at high is significant; 5 pt less accuracy on 400 rows each is not (z = -1.1): a close call
    assert failed(dial_checks(flat, START_FORCED)) == {"effort medium < high: more tokens"}
    assert "effort medium < high: accuracy >= - 1 pt" in close(dial_checks(flat, START_FORCED))


def test_the_dial_accuracy_gate_is_paired_against_forcing_with_the_dial_tolerance():
    # 4 pt below forcing: short of 1 pt (a close call) but within DIAL_TOLERANCE (5 pt)
    near = {**REQUESTED, "2": setting(2, 0.26, 0.2, 1.0, 0.3, dial_only=4, forcing_only=20)}
    assert close(dial_checks(dial_model(near, EFFORTS, LEVELS), START_FORCED)) == {
        "budget 2: accuracy >= budget forcing - 5 pt"
    }
    # 10 pt below with every discordant row against the dial: z = (-0.10 + 0.05) / SE(0, 40) = -3.3
    far = {**REQUESTED, "2": setting(2, 0.2, 0.2, 1.0, 0.3, dial_only=0, forcing_only=40)}
    assert failed(dial_checks(dial_model(far, EFFORTS, LEVELS), START_FORCED)) == {
        "budget 2: accuracy >= budget forcing - 5 pt"
    }


def test_half_budget_forcing_cuts_forcing_at_half_the_budget_where_a_level_needs_more():
    curve1 = {"0": 1.0, "1": 1.0, "2": 1.0, "4": 1.0, "unlimited": 1.0}
    curve6 = {"0": 0.07, "1": 0.11, "2": 0.15, "4": 0.16, "unlimited": 1.0}
    levels = {
        "1": replace(level(1, 1, 1, 0, 1, budget_curve=curve1, dial=dial({})), n=300),
        "6": replace(level(1, 0.1, 0, 6, 6, budget_curve=curve6, dial=dial({})), n=100),
    }
    m = replace(ADAPTIVE, levels=levels)
    # level 6 needs more than 4 tokens: forcing at 2 there (0.15); level 1 at 4 (1.0); weighted 3:1 by rows
    assert half_budget_forcing(m, "4") == pytest.approx((3 * 1.0 + 0.15) / 4)
    # half of 1 token is the even mix of 0 and 1 token
    assert half_budget_forcing(m, "1") == pytest.approx((3 * 1.0 + (0.07 + 0.11) / 2) / 4)
    solved = replace(m, levels={**levels, "6": replace(levels["6"], budget_curve={"4": 0.95, "2": 0.2})})
    assert half_budget_forcing(solved, "4") == pytest.approx((3 * 1.0 + 0.95) / 4)  # nothing cut


# a start that learned the task: level 1 answered directly as well as with its 4x-verbose reasoning, level 2
# verbose (4x), level 3 already within 1.5x the oracle
LEARNED = model(
    {
        "1": level(1.0, 0.99, 0.0, 4.0, 1, std=0.5),
        "2": level(1.0, 0.1, 0.0, 8.0, 2, std=0.5),
        "3": level(0.99, 0.1, 0.0, 6.0, 4, std=0.5),
    }
)
SHIFTED = model(
    {
        "1": level(1.0, 0.99, 0.97, 0.1, 1, std=0.5),
        "2": level(1.0, 0.1, 0.0, 2.0, 2, std=0.5),
        "3": level(0.99, 0.1, 0.0, 4.0, 4, std=0.5),
    }
)


def test_from_a_learned_start_the_default_cuts_overthinking_and_answers_directly_where_that_is_as_good():
    assert overthought_levels(LEARNED) == ["1", "2"] and direct_levels(LEARNED, SHIFTED) == ["1"]
    gates = learned_start_checks(LEARNED, SHIFTED)
    assert [g.name for g in gates[3:]] == [
        "level 1 (start overthinks): tokens <= 70% of the start's",
        "level 2 (start overthinks): tokens <= 70% of the start's",
        "level 1 (direct as accurate as reasoning): direct rate >= 90%",
    ]
    assert failed(gates) == set()


def test_a_learned_start_s_gates_fail_on_kept_tokens_thinking_where_direct_is_as_good_and_lost_accuracy():
    worse = model(
        {
            "1": level(1.0, 0.99, 0.8, 1.0, 1, std=0.5),  # 80% direct where direct answers are as accurate
            "2": level(1.0, 0.1, 0.0, 7.0, 2, std=0.5),  # 12.5% fewer tokens where the start overthinks
            "3": level(0.9, 0.1, 0.0, 4.0, 4, std=0.5),  # 9 points lost
        }
    )
    assert failed(learned_start_checks(LEARNED, worse)) == {
        "level 2 (start overthinks): tokens <= 70% of the start's",
        "level 1 (direct as accurate as reasoning): direct rate >= 90%",
        "level 3: accuracy >= start - 1 pt",
    }


def test_levels_at_chance_ask_for_no_direct_answers_and_a_minimal_start_for_no_cut():
    minimal = model({"1": level(0.12, 0.11, 0.0, 1.0, 1), "2": level(0.95, 0.2, 0.0, 3.0, 2)})
    assert direct_levels(minimal, minimal) == [] and overthought_levels(minimal) == []
    assert [g.name for g in learned_start_checks(minimal, minimal)] == [
        "level 1: accuracy >= start - 1 pt",
        "level 2: accuracy >= start - 1 pt",
    ]

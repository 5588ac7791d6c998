"""The PASS/FAIL gates of the demo and the generality bench, on hand-made results.json entries."""

from __future__ import annotations

import pytest

from thinkdial.pipeline.gates import (
    dial_checks,
    do_no_harm,
    half_budget_forcing,
    miscalibration,
    shift_checks,
    two_sided_checks,
)


def level(acc, acc_direct, direct_rate, tokens, oracle):
    return {
        "accuracy": acc,
        "accuracy_direct": acc_direct,
        "direct_rate": direct_rate,
        "reasoning_tokens_mean": tokens,
        "min_reasoning_tokens_mean": oracle,
        "chance_accuracy": 0.1,
    }


def model(levels: dict, **extra) -> dict:
    return {"levels": levels, **extra}


# a start wrong both ways: verbose (4x) where it solves, gives up on the hardest level
START = model(
    {
        "1": level(1.0, 1.0, 0.0, 4.0, 1),
        "2": level(1.0, 0.1, 0.0, 8.0, 2),
        "3": level(1.0, 0.1, 0.0, 12.0, 3),
        "4": level(0.15, 0.1, 0.0, 2.0, 4),
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


def failed(checks) -> set[str]:
    return {c.name for c in checks if not c.passed}


def test_the_adaptive_shift_passes_every_gate():
    checks = shift_checks(START, ADAPTIVE)
    assert not failed(checks), checks
    assert len(checks) == 1 + 1 + 1 + 4 + 1 + 4  # easy, hardest, no harm, split (3 levels + start), oracle x4


def test_a_model_that_stops_thinking_fails_the_hardest_level_and_the_split():
    never = model(
        {
            k: level(1.0 if k == "1" else 0.1, 0.1, 1.0, 0.0, v["min_reasoning_tokens_mean"])
            for k, v in START["levels"].items()
        }
    )
    names = failed(shift_checks(START, never))
    assert any("hardest" in n for n in names) and any("needs reasoning" in n for n in names)
    assert any("every level" in n for n in names)


def test_the_start_itself_fails_and_a_start_with_the_split_is_flagged():
    names = failed(shift_checks(START, START))
    assert any("easiest two" in n for n in names) and any("hardest" in n for n in names)
    split = model({**START["levels"], "1": level(1.0, 1.0, 0.95, 0.1, 1)})
    assert "the start does not already show the split" in failed(shift_checks(split, ADAPTIVE))


def test_do_no_harm_names_the_worst_level_and_allows_one_point():
    worse = model({**ADAPTIVE["levels"], "2": level(0.985, 0.1, 0.0, 2.0, 2)})
    assert do_no_harm(START, worse).passed is False and "level 2" in do_no_harm(START, worse).detail
    ok = model({**START["levels"], "3": level(0.99, 0.1, 0.0, 12.0, 3)})
    assert do_no_harm(START, ok).passed


def test_miscalibration_needs_a_solved_overthought_easy_end_and_a_hard_end_given_up_although_reasoning_works():
    assert miscalibration(START) == {"easy": True, "hard": True}
    assert [c.name.split(":")[0] for c in two_sided_checks(START, ADAPTIVE)] == [
        "easiest two levels",
        "level 4 (hardest)",
    ]
    weak = model({k: {**v, "accuracy": 0.2} for k, v in START["levels"].items()})  # reasoning does not work
    assert miscalibration(weak) == {"easy": False, "hard": False} and two_sided_checks(weak, ADAPTIVE) == []


def dial_entry(budget: int, accuracy, tokens, control, forcing) -> dict:
    return {
        "accuracy": accuracy,
        "reasoning_tokens_mean": tokens,
        "control": control,
        "forcing_accuracy": forcing,
        "budget_tokens": budget,
    }


def test_dial_gates_on_hand_values():
    requested = {"2": dial_entry(2, 0.3, 0.2, 1.0, 0.3), "8": dial_entry(8, 1.0, 4.0, 0.995, 1.0)}
    efforts = {
        "low": dial_entry(2, 0.3, 0.2, 1.0, 0.3),
        "medium": dial_entry(4, 0.55, 1.5, 1.0, 0.5),
        "high": dial_entry(8, 1.0, 4.0, 1.0, 1.0),
    }
    levels = {
        # level 1 is solved within either budget; level 4 only within 8 (forcing at 2 fails it)
        "1": {
            "budget_curve": {"2": 1.0, "8": 1.0},
            "dial": {"requested": {"2": {"reasoning_tokens_mean": 1.0}}},
        },
        "4": {
            "budget_curve": {"2": 0.1, "8": 1.0},
            "dial": {"requested": {"2": {"reasoning_tokens_mean": 0.4}, "8": {"reasoning_tokens_mean": 4.0}}},
        },
    }
    good = {"dial": {"requested": requested, "efforts": efforts}, "levels": levels}
    start = {"budget_curve": {"8": 0.34}}
    assert not failed(dial_checks(good, start)), dial_checks(good, start)
    over = {
        **good,
        "dial": {**good["dial"], "requested": {**requested, "8": dial_entry(8, 1.0, 6.0, 0.9, 1.0)}},
    }
    assert "budget 8: reasoning tokens <= budget on >= 99% of rows" in failed(dial_checks(over, start))
    started = {
        **good,
        "levels": {
            **levels,
            "4": {
                "budget_curve": {"2": 0.1, "8": 1.0},
                "dial": {"requested": {"2": {"reasoning_tokens_mean": 1.8}}},
            },
        },
    }
    assert "budget 2: levels needing more spend <= half of it" in failed(dial_checks(started, start))
    flat = {
        **good,
        "dial": {**good["dial"], "efforts": {**efforts, "high": dial_entry(8, 0.5, 1.0, 1.0, 1.0)}},
    }
    assert any(n.startswith("effort") for n in failed(dial_checks(flat, start)))


def test_half_budget_forcing_cuts_forcing_at_half_the_budget_where_a_level_needs_more():
    levels = {
        "1": {
            "n": 300,
            "budget_curve": {"0": 1.0, "1": 1.0, "2": 1.0, "4": 1.0, "unlimited": 1.0},
            "dial": {"requested": {}},
        },
        "6": {
            "n": 100,
            "budget_curve": {"0": 0.07, "1": 0.11, "2": 0.15, "4": 0.16, "unlimited": 1.0},
            "dial": {"requested": {}},
        },
    }
    model = {"levels": levels}
    # level 6 needs more than 4 tokens: forcing at 2 there (0.15); level 1 at 4 (1.0); weighted 3:1 by rows
    assert half_budget_forcing(model, "4") == pytest.approx((3 * 1.0 + 0.15) / 4)
    # half of 1 token is the even mix of 0 and 1 token
    assert half_budget_forcing(model, "1") == pytest.approx((3 * 1.0 + (0.07 + 0.11) / 2) / 4)
    solved = {"levels": {**levels, "6": {**levels["6"], "budget_curve": {"4": 0.95, "2": 0.2}}}}
    assert half_budget_forcing(solved, "4") == pytest.approx((3 * 1.0 + 0.95) / 4)  # nothing cut


def test_the_dial_accuracy_gate_names_forcing_within_half_the_budget_where_levels_need_more():
    levels = {
        "1": {
            "n": 1,
            "budget_curve": {"1": 1.0, "2": 1.0},
            "dial": {"requested": {"2": {"reasoning_tokens_mean": 1.0}}},
        },
        "4": {
            "n": 1,
            "budget_curve": {"1": 0.1, "2": 0.2},
            "dial": {"requested": {"2": {"reasoning_tokens_mean": 0.0}}},
        },
    }
    model = {
        "dial": {"requested": {"2": dial_entry(2, 0.55, 0.5, 1.0, 0.6)}, "efforts": {}},
        "levels": levels,
    }
    (accuracy,) = [c for c in dial_checks(model, {"budget_curve": {}}) if "accuracy" in c.name]
    assert not accuracy.passed
    assert (
        accuracy.detail
        == "dial 0.550, forcing 0.600; forcing within half of it where levels need more: 0.550"
    )

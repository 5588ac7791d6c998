"""PASS/FAIL checks read from an eval's results.json: did training shift the model the right way, and harm nothing?

Shared by `thinkdial demo` (its gates) and experiments/generality.py. Every check compares the model `after` with
the start `before` on the same held-out rows; levels are results.json's level keys, easiest first.

- `shift_checks`: the adaptive shift of the demo (think less where it is wasted, more where it pays).
- `do_no_harm`: every level's accuracy at least the start's minus a tolerance.
- `miscalibration`: where a start is wrong about when to think (overthinks the levels it solves, or gives
  up on the hardest level although its reasoning works), and `two_sided_checks` for those ends only.
- `dial_checks`: obedience to a requested budget and to effort levels.
"""

from __future__ import annotations

from typing import NamedTuple

from thinkdial.eval.metrics import interpolate

DIRECT_SOLVABLE = 0.9  # forced-direct accuracy from which a level counts as answerable without thinking
SOLVED = 0.9  # accuracy from which a level counts as solved
HARD_GAIN = 0.20  # accuracy points the hardest level must gain where the start under-thinks it
EASY_TOKEN_SHARE = 0.5  # share of the start's reasoning tokens allowed on the easiest two levels
ORACLE_SLACK = 1.5  # reasoning tokens allowed per oracle-minimum token on a solved level
DIAL_CONTROL = 0.99  # share of rows within a requested budget
TOLERANCE = 0.01  # accuracy points a level may lose (do no harm; dial vs budget forcing)


class Check(NamedTuple):
    """One PASS/FAIL line: what is checked, whether it holds, and the measured numbers."""

    name: str
    passed: bool
    detail: str


def _levels(model: dict) -> list[str]:
    return sorted(model["levels"], key=float)


def do_no_harm(before: dict, after: dict, tolerance: float = TOLERANCE) -> Check:
    """Return the check that every level's accuracy of `after` is >= `before`'s minus `tolerance`."""
    b, a = before["levels"], after["levels"]
    worst = min(_levels(after), key=lambda lv: a[lv]["accuracy"] - b[lv]["accuracy"])
    drop = a[worst]["accuracy"] - b[worst]["accuracy"]
    return Check(
        f"every level's accuracy >= start - {tolerance * 100:g} pt",
        drop >= -tolerance - 1e-9,
        f"worst: level {worst} {b[worst]['accuracy']:.3f} -> {a[worst]['accuracy']:.3f} ({drop * 100:+.1f} pt)",
    )


def easy_levels_check(before: dict, after: dict) -> Check:
    """Return the check that the easiest two levels spend <= EASY_TOKEN_SHARE of the start's reasoning tokens."""
    b, a = before["levels"], after["levels"]
    easy = _levels(after)[:2]
    ok = all(
        a[lv]["reasoning_tokens_mean"] <= EASY_TOKEN_SHARE * b[lv]["reasoning_tokens_mean"] for lv in easy
    )
    shown = ", ".join(
        f"L{lv} {b[lv]['reasoning_tokens_mean']:.2f} -> {a[lv]['reasoning_tokens_mean']:.2f}" for lv in easy
    )
    return Check(f"easiest two levels: tokens <= {EASY_TOKEN_SHARE:.0%} of the start's", ok, shown)


def hardest_level_check(before: dict, after: dict, gain: float = HARD_GAIN, floor: float = SOLVED) -> Check:
    """Return the check that the hardest level gains >= `gain` accuracy points, reaches `floor`, and reasons
    more than the start there."""
    hard = _levels(after)[-1]
    b, a = before["levels"][hard], after["levels"][hard]
    ok = (
        a["accuracy"] >= max(b["accuracy"] + gain, floor) - 1e-9
        and a["reasoning_tokens_mean"] > b["reasoning_tokens_mean"]
    )
    return Check(
        f"level {hard} (hardest): accuracy >= start + {gain * 100:g} pt and >= {floor:.0%}, more tokens",
        ok,
        f"accuracy {b['accuracy']:.3f} -> {a['accuracy']:.3f}, tokens {b['reasoning_tokens_mean']:.2f} -> "
        f"{a['reasoning_tokens_mean']:.2f}",
    )


def split_checks(before: dict, after: dict) -> list[Check]:
    """Return the direct/think split checks: direct answers on the levels the start answers right without
    thinking, thinking on the levels where its direct answers are near chance, and a start without that split."""
    b, a = before["levels"], after["levels"]
    checks, solvable, needs = [], [], []
    for lv in _levels(after):
        chance = b[lv].get("chance_accuracy")
        if b[lv]["accuracy_direct"] >= DIRECT_SOLVABLE:
            solvable.append(lv)
            checks.append(
                Check(
                    f"level {lv} (direct-solvable): direct rate >= 90%",
                    a[lv]["direct_rate"] >= 0.9,
                    f"{a[lv]['direct_rate']:.3f} (start {b[lv]['direct_rate']:.3f})",
                )
            )
        elif chance is not None and b[lv]["accuracy_direct"] <= 2 * chance:
            needs.append(lv)
            checks.append(
                Check(
                    f"level {lv} (needs reasoning): direct rate <= 5%",
                    a[lv]["direct_rate"] <= 0.05,
                    f"{a[lv]['direct_rate']:.3f} (start {b[lv]['direct_rate']:.3f})",
                )
            )
    split = all(b[lv]["direct_rate"] >= 0.9 for lv in solvable) and all(
        b[lv]["direct_rate"] <= 0.05 for lv in needs
    )
    checks.append(
        Check(
            "the start does not already show the split",
            not split,
            "start direct rates " + ", ".join(f"L{lv} {b[lv]['direct_rate']:.2f}" for lv in _levels(after)),
        )
    )
    return checks


def oracle_checks(after: dict) -> list[Check]:
    """Return, per solved level with a known minimum, the check tokens <= ORACLE_SLACK x the oracle minimum."""
    out = []
    for lv in _levels(after):
        s, oracle = after["levels"][lv], after["levels"][lv].get("min_reasoning_tokens_mean")
        if s["accuracy"] >= SOLVED and oracle:
            out.append(
                Check(
                    f"level {lv}: tokens <= {ORACLE_SLACK}x the oracle minimum",
                    s["reasoning_tokens_mean"] <= ORACLE_SLACK * oracle,
                    f"{s['reasoning_tokens_mean']:.2f} tokens, oracle {oracle:.2f}",
                )
            )
    return out


def shift_checks(before: dict, after: dict) -> list[Check]:
    """Return the demo's adaptive-shift checks of results.json model entries `after` against the start
    `before`: easy levels cheaper, the hardest level solved with more reasoning, no level worse, the
    direct/think split, and traces near the oracle minimum where solved."""
    return [
        easy_levels_check(before, after),
        hardest_level_check(before, after),
        do_no_harm(before, after),
        *split_checks(before, after),
        *oracle_checks(after),
    ]


def miscalibration(before: dict) -> dict[str, bool]:
    """Return {'easy': the start overthinks its easiest two levels (solved, >= 2x the oracle minimum),
    'hard': it gives up on its hardest level (fewer tokens than the oracle minimum) although its reasoning
    works (some level >= 2 solved with at least the oracle's tokens)}."""
    levels = before["levels"]
    keys = sorted(levels, key=float)

    def oracle(lv):
        return levels[lv].get("min_reasoning_tokens_mean") or 0.0

    easy = all(
        levels[lv]["accuracy"] >= SOLVED
        and oracle(lv)
        and levels[lv]["reasoning_tokens_mean"] >= 2 * oracle(lv)
        for lv in keys[:2]
    )
    works = any(
        levels[lv]["accuracy"] >= SOLVED and oracle(lv) and levels[lv]["reasoning_tokens_mean"] >= oracle(lv)
        for lv in keys[1:]
    )
    hard = works and levels[keys[-1]]["reasoning_tokens_mean"] < oracle(keys[-1])
    return {"easy": easy, "hard": hard}


def two_sided_checks(before: dict, after: dict) -> list[Check]:
    """Return the shift checks of the ends where `before` is miscalibrated (none when it is calibrated)."""
    wrong = miscalibration(before)
    return ([easy_levels_check(before, after)] if wrong["easy"] else []) + (
        [hardest_level_check(before, after)] if wrong["hard"] else []
    )


def needs_more(model: dict, budget: str) -> list[str]:
    """Return the levels of results.json entry `model` that `budget` cannot finish: cut at the budget, the
    same model's budget forcing does not solve them (< SOLVED accuracy)."""
    return [
        lv
        for lv, lm in model["levels"].items()
        if lm.get("dial") and lm["budget_curve"].get(budget, 1.0) < SOLVED
    ]


def half_budget_forcing(model: dict, budget: str) -> float | None:
    """Return the accuracy of `model`'s own budget forcing when it, too, spends at most half of `budget` where
    a level needs more (`needs_more`) and all of it elsewhere: per level, the forcing curve at half the budget
    there (interpolated between measured budgets) or at the budget, weighted by the level's rows; None when
    such a level has no forcing measured at or below half the budget (an eval always measures budget 0).

    It is what the half-budget gate leaves of forcing's partial chains: where it is below forcing minus the
    tolerance, a dial that obeys that gate passes the accuracy gate only by guessing better than the model's
    own partial chains at those levels. There both answer near chance, so the gap is mostly which guesses
    the held-out rows reward (experiments/dial_gate_noise.py measures it on fresh rows)."""
    over = set(needs_more(model, budget))
    total = weight = 0.0
    for lv, lm in model["levels"].items():
        curve, rows = lm["budget_curve"], lm.get("n", 1)
        if lv in over:
            accuracy = interpolate([(int(k), v) for k, v in curve.items() if k.isdigit()], int(budget) / 2)
            if accuracy is None:
                return None
        else:
            accuracy = curve[budget]
        total += rows * accuracy
        weight += rows
    return total / weight


def dial_checks(model: dict, start: dict) -> list[Check]:
    """Return the dial's checks of results.json entry `model` (evaluated with requested budgets and efforts)
    against the start `start` under budget forcing:

    - at every requested budget, reasoning tokens <= the budget on >= DIAL_CONTROL of the rows;
    - at every budget, accuracy >= the same model's budget-forcing accuracy there - TOLERANCE; its detail also
      gives `half_budget_forcing`, what forcing keeps when it obeys the next check too;
    - where a budget is below what a level needs (cut at the budget, the same model's budget forcing does not
      solve it: < SOLVED accuracy), <= half the budget spent there (don't start what you cannot finish). The
      oracle minimum is not the measure: a level whose chain is one step longer than the budget is often
      solved within it, the last step answered directly (as level 1 is);
    - at a budget of 8, accuracy >= the start's budget-forcing accuracy + 20 points;
    - effort levels: mean tokens low < medium < high, accuracy non-decreasing.
    """
    dial = model["dial"]
    checks = []
    for budget, m in sorted(dial["requested"].items(), key=lambda kv: int(kv[0])):
        checks.append(
            Check(
                f"budget {budget}: reasoning tokens <= budget on >= {DIAL_CONTROL:.0%} of rows",
                m["control"] >= DIAL_CONTROL,
                f"control {m['control']:.3f}, mean {m['reasoning_tokens_mean']:.2f}",
            )
        )
        over = needs_more(model, budget)
        half = half_budget_forcing(model, budget) if over else None
        ceiling = "" if half is None else f"; forcing within half of it where levels need more: {half:.3f}"
        checks.append(
            Check(
                f"budget {budget}: accuracy >= budget forcing - {TOLERANCE * 100:g} pt",
                m["accuracy"] >= m["forcing_accuracy"] - TOLERANCE - 1e-9,
                f"dial {m['accuracy']:.3f}, forcing {m['forcing_accuracy']:.3f}{ceiling}",
            )
        )
        if over:
            spent = max(
                model["levels"][lv]["dial"]["requested"][budget]["reasoning_tokens_mean"] for lv in over
            )
            checks.append(
                Check(
                    f"budget {budget}: levels needing more spend <= half of it",
                    spent <= int(budget) / 2,
                    f"levels {', '.join(over)}: at most {spent:.2f} tokens",
                )
            )
    if "8" in dial["requested"]:
        got, base = dial["requested"]["8"]["accuracy"], start["budget_curve"].get("8")
        if base is not None:
            checks.append(
                Check(
                    "budget 8: accuracy >= the start under forcing + 20 pt",
                    got >= base + 0.2 - 1e-9,
                    f"dial {got:.3f}, start forced at 8: {base:.3f}",
                )
            )
    efforts = [dial["efforts"][e] for e in ("low", "medium", "high") if e in dial.get("efforts", {})]
    if len(efforts) == 3:
        tokens = [e["reasoning_tokens_mean"] for e in efforts]
        accuracy = [e["accuracy"] for e in efforts]
        checks.append(
            Check(
                "effort: tokens low < medium < high, accuracy non-decreasing",
                tokens[0] < tokens[1] < tokens[2] and accuracy[0] <= accuracy[1] <= accuracy[2],
                f"tokens {tokens[0]:.2f} / {tokens[1]:.2f} / {tokens[2]:.2f}, accuracy "
                f"{accuracy[0]:.3f} / {accuracy[1]:.3f} / {accuracy[2]:.3f}",
            )
        )
    return checks

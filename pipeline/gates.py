"""The gates of a training run, read from an eval's results: did it shift the model the right way, and harm
nothing? Each is a one-sided statistical test, so a gate fails on what the data show, not on noise.

Shared by `thinkdial demo` and the experiments. Every gate compares the model `after` with the start
`before` on the same held-out rows (`ModelResult`s of eval/schema.py); levels are results.json's level keys,
easiest first.

Each statistical gate measures a `margin`: how far the property holds, in its own unit (accuracy points,
reasoning tokens), >= 0 when it holds on these rows; and the margin's standard error from the eval's finite
rows. `decide` turns them into PASS / FAIL with a stated false-fail rate: a gate FAILs only when the margin
is significantly below 0 (one-sided z test at `FALSE_FAIL_RATE` split over every gate of the run,
Bonferroni), so a run whose true margins are all >= 0 exits 0 with probability >= 1 - FALSE_FAIL_RATE. A
gate whose measured margin is below 0 but within the noise PASSes as a close call, listed apart. Gates
that are facts, not estimates (the health guard, checkpoint selection), are plain checks.

- `shift_checks`: the adaptive shift of the demo (think less where it is wasted, more where it pays).
- `do_no_harm`: every level's accuracy at least the start's minus `TOLERANCE`.
- `miscalibration` / `two_sided_checks`: where a start is wrong about when to think, and the shift there.
- `learned_start_checks`: what the default must do from any start that learned the task (experiments/
  generality.py, own_data.py): no level worse, fewer tokens where it overthinks, direct answers where they
  are as accurate as reasoning.
- `dial_checks`: obedience to a requested budget and to effort levels.

Why each tolerance is what it is, with the measured spread over seeds and numerics: docs/results/gates.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import NamedTuple

from thinkdial.eval.metrics import interpolate
from thinkdial.eval.schema import GroupMetrics, ModelResult, PairedCounts

FALSE_FAIL_RATE = 0.01  # chance that a run whose gates all hold exits 1 on the eval's noise; 0 of 8 measured
DIRECT_SOLVABLE = 0.9  # forced-direct accuracy from which a level counts as answerable without thinking
SOLVED = 0.9  # accuracy from which a level counts as solved
HARD_GAIN = 0.20  # accuracy the hardest level must gain where the start under-thinks it
EASY_TOKEN_SHARE = 0.5  # share of the start's reasoning tokens allowed on the easiest two levels
ORACLE_SLACK = 1.5  # reasoning tokens allowed per oracle-minimum token on a solved level
DIRECT_RATE_HIGH, DIRECT_RATE_LOW = 0.9, 0.05  # direct answers where they pay, none where they do not
DIAL_CONTROL = 0.95  # share of rows within a requested budget below which the dial is broken
DIAL_CONTROL_TARGET = 0.99  # below it, a close call
TOLERANCE = 0.01  # accuracy a level may lose against the start (do no harm)
DIAL_TOLERANCE = 0.05  # accuracy the dial may lose against forcing at the same budget: seed spread, gates.md
DIAL_GAIN_AT_8 = 0.20  # the dial at a budget of 8 against the start forced there
TOKEN_CUT = 0.3  # share of a learned start's reasoning tokens saved where it overthinks (> ORACLE_SLACK)
RELIABLE_DIRECT = 0.5  # direct answers right less often than this ask for none: the default shapes no length


class Check(NamedTuple):
    """One gate's verdict: what is checked, whether it holds, the measured numbers, and whether it passed
    only as a close call (its measured margin below the target, within the noise or the tolerance)."""

    name: str
    passed: bool
    detail: str
    close: bool = False


class Evidence(NamedTuple):
    """One statistical gate before `decide`: the margin by which it holds (>= 0: holds on these rows), the
    margin's standard error (0: exact), the numbers to show, and whether a holding margin still misses the
    target (a close call)."""

    name: str
    margin: float
    se: float
    detail: str
    short_of_target: bool = False


def critical_z(tests: int, false_fail_rate: float = FALSE_FAIL_RATE) -> float:
    """Return the one-sided z a margin must fall below to fail, when `tests` gates share `false_fail_rate`."""
    return NormalDist().inv_cdf(1 - false_fail_rate / max(tests, 1))


def decide(items: Sequence[Evidence | Check], false_fail_rate: float = FALSE_FAIL_RATE) -> list[Check]:
    """Return the Checks of `items`: plain Checks as they are; each Evidence FAILs when its margin is below 0
    by more than `critical_z` standard errors (Bonferroni over the run's Evidence), else PASSes, as a close
    call when its margin is below 0 or it falls short of its target."""
    z_fail = critical_z(sum(isinstance(i, Evidence) for i in items), false_fail_rate)
    out = []
    for item in items:
        if isinstance(item, Check):
            out.append(item)
            continue
        z = item.margin / item.se if item.se > 0 else (math.inf if item.margin >= 0 else -math.inf)
        failed = z < -z_fail
        shown = f"{item.detail}; margin {item.margin:+.3g}" + (f", z {z:+.2f}" if item.se > 0 else "")
        out.append(
            Check(item.name, not failed, shown, not failed and (item.margin < 0 or item.short_of_target))
        )
    return out


def _proportion_se(p: float, n: int) -> float:
    """Return the standard error of a proportion `p` measured on `n` rows."""
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n else 0.0


def _bound_se(bound: float, n: int) -> float:
    """Return the standard error of a proportion at its bound (the null the gate tests; never 0 inside (0, 1))."""
    return _proportion_se(bound, n)


def _mean_se(std: float | None, n: int) -> float:
    """Return the standard error of a mean of `n` values with population standard deviation `std`."""
    return (std or 0.0) / math.sqrt(n) if n else 0.0


def paired_se(gained: int, lost: int, n: int) -> float:
    """Return the standard error of the difference of two accuracies measured on the same `n` rows, from the
    discordant pairs (`gained`: right only in the first, `lost`: right only in the second)."""
    if not n:
        return 0.0
    d = (gained - lost) / n
    return math.sqrt(max((gained + lost) / n - d * d, 0.0) / n)


def _levels(model: ModelResult) -> list[str]:
    return sorted(model.levels, key=float)


def _accuracy_gap_se(a: GroupMetrics, b: GroupMetrics, paired: PairedCounts | None) -> float:
    if paired is not None:
        return paired_se(paired.gained, paired.lost, paired.n)
    return math.hypot(_proportion_se(a.accuracy, a.n), _proportion_se(b.accuracy, b.n))


def do_no_harm(
    before: ModelResult, after: ModelResult, paired: dict[str, PairedCounts] | None = None
) -> list[Evidence]:
    """Return, per level, the gate that `after`'s accuracy is >= `before`'s - TOLERANCE (paired standard
    error when `paired` gives the discordant rows per level, as results.json's comparisons do)."""
    out = []
    for lv in _levels(after):
        b, a = before.levels[lv], after.levels[lv]
        gap = a.accuracy - b.accuracy
        out.append(
            Evidence(
                f"level {lv}: accuracy >= start - {TOLERANCE * 100:g} pt",
                gap + TOLERANCE,
                _accuracy_gap_se(a, b, (paired or {}).get(lv)),
                f"{b.accuracy:.3f} -> {a.accuracy:.3f} ({gap * 100:+.1f} pt)",
            )
        )
    return out


def easy_levels_check(before: ModelResult, after: ModelResult) -> list[Evidence]:
    """Return, for each of the easiest two levels, the gate that it spends <= EASY_TOKEN_SHARE of the start's
    reasoning tokens."""
    out = []
    for lv in _levels(after)[:2]:
        b, a = before.levels[lv], after.levels[lv]
        se = math.hypot(
            _mean_se(a.reasoning_tokens_std, a.n), EASY_TOKEN_SHARE * _mean_se(b.reasoning_tokens_std, b.n)
        )
        out.append(
            Evidence(
                f"level {lv} (easy): tokens <= {EASY_TOKEN_SHARE:.0%} of the start's",
                EASY_TOKEN_SHARE * b.reasoning_tokens_mean - a.reasoning_tokens_mean,
                se,
                f"{b.reasoning_tokens_mean:.2f} -> {a.reasoning_tokens_mean:.2f} tokens",
            )
        )
    return out


def hardest_level_check(before: ModelResult, after: ModelResult, gain: float = HARD_GAIN) -> list[Evidence]:
    """Return the gates of the hardest level: accuracy >= start + `gain`, accuracy >= SOLVED, and more
    reasoning tokens than the start."""
    hard = _levels(after)[-1]
    b, a = before.levels[hard], after.levels[hard]
    shown = (
        f"accuracy {b.accuracy:.3f} -> {a.accuracy:.3f}, tokens {b.reasoning_tokens_mean:.2f} -> "
        f"{a.reasoning_tokens_mean:.2f}"
    )
    token_se = math.hypot(_mean_se(a.reasoning_tokens_std, a.n), _mean_se(b.reasoning_tokens_std, b.n))
    return [
        Evidence(
            f"level {hard} (hardest): accuracy >= start + {gain * 100:g} pt",
            a.accuracy - b.accuracy - gain,
            _accuracy_gap_se(a, b, None),
            shown,
        ),
        Evidence(
            f"level {hard} (hardest): accuracy >= {SOLVED:.0%}",
            a.accuracy - SOLVED,
            _bound_se(SOLVED, a.n),
            shown,
        ),
        Evidence(
            f"level {hard} (hardest): more tokens than the start",
            a.reasoning_tokens_mean - b.reasoning_tokens_mean,
            token_se,
            shown,
        ),
    ]


def split_checks(before: ModelResult, after: ModelResult) -> list[Evidence | Check]:
    """Return the direct/think split gates: direct answers on the levels the start answers right without
    thinking, thinking on the levels where its direct answers are near chance, and the demo's precondition
    that the start does not already show that split."""
    out: list[Evidence | Check] = []
    solvable, needs = [], []
    for lv in _levels(after):
        b, a = before.levels[lv], after.levels[lv]
        if b.accuracy_direct >= DIRECT_SOLVABLE:
            solvable.append(lv)
            out.append(
                Evidence(
                    f"level {lv} (direct-solvable): direct rate >= {DIRECT_RATE_HIGH:.0%}",
                    a.direct_rate - DIRECT_RATE_HIGH,
                    _bound_se(DIRECT_RATE_HIGH, a.n),
                    f"{a.direct_rate:.3f} (start {b.direct_rate:.3f})",
                )
            )
        elif b.chance_accuracy is not None and b.accuracy_direct <= 2 * b.chance_accuracy:
            needs.append(lv)
            out.append(
                Evidence(
                    f"level {lv} (needs reasoning): direct rate <= {DIRECT_RATE_LOW:.0%}",
                    DIRECT_RATE_LOW - a.direct_rate,
                    _bound_se(DIRECT_RATE_LOW, a.n),
                    f"{a.direct_rate:.3f} (start {b.direct_rate:.3f})",
                )
            )
    split = all(before.levels[lv].direct_rate >= DIRECT_RATE_HIGH for lv in solvable) and all(
        before.levels[lv].direct_rate <= DIRECT_RATE_LOW for lv in needs
    )
    rates = ", ".join(f"L{lv} {before.levels[lv].direct_rate:.2f}" for lv in _levels(after))
    out.append(Check("the start does not already show the split", not split, "start direct rates " + rates))
    return out


def oracle_checks(after: ModelResult) -> list[Evidence]:
    """Return, per solved level with a known minimum, the gate that its tokens are <= ORACLE_SLACK x the
    oracle minimum."""
    out = []
    for lv in _levels(after):
        s, oracle = after.levels[lv], after.levels[lv].min_reasoning_tokens_mean
        if s.accuracy >= SOLVED and oracle:
            out.append(
                Evidence(
                    f"level {lv}: tokens <= {ORACLE_SLACK}x the oracle minimum",
                    ORACLE_SLACK * oracle - s.reasoning_tokens_mean,
                    _mean_se(s.reasoning_tokens_std, s.n),
                    f"{s.reasoning_tokens_mean:.2f} tokens, oracle {oracle:.2f}",
                )
            )
    return out


def shift_checks(
    before: ModelResult, after: ModelResult, paired: dict[str, PairedCounts] | None = None
) -> list[Evidence | Check]:
    """Return the demo's adaptive-shift gates of `after` against the start `before`: easy levels cheaper, the
    hardest level solved with more reasoning, no level worse, the direct/think split, and traces near the
    oracle minimum where solved."""
    return [
        *easy_levels_check(before, after),
        *hardest_level_check(before, after),
        *do_no_harm(before, after, paired),
        *split_checks(before, after),
        *oracle_checks(after),
    ]


def miscalibration(before: ModelResult) -> dict[str, bool]:
    """Return {'easy': the start overthinks its easiest two levels (solved, >= 2x the oracle minimum),
    'hard': it gives up on its hardest level (fewer tokens than the oracle minimum) although its reasoning
    works (some level >= 2 solved with at least the oracle's tokens)}."""
    keys = _levels(before)

    def oracle(lv):
        return before.levels[lv].min_reasoning_tokens_mean or 0.0

    def level(lv):
        return before.levels[lv]

    easy = all(
        level(lv).accuracy >= SOLVED and oracle(lv) and level(lv).reasoning_tokens_mean >= 2 * oracle(lv)
        for lv in keys[:2]
    )
    works = any(
        level(lv).accuracy >= SOLVED and oracle(lv) and level(lv).reasoning_tokens_mean >= oracle(lv)
        for lv in keys[1:]
    )
    return {"easy": easy, "hard": works and level(keys[-1]).reasoning_tokens_mean < oracle(keys[-1])}


def two_sided_checks(before: ModelResult, after: ModelResult) -> list[Evidence]:
    """Return the shift gates of the ends where `before` is miscalibrated (none when it is calibrated)."""
    wrong = miscalibration(before)
    return (easy_levels_check(before, after) if wrong["easy"] else []) + (
        hardest_level_check(before, after) if wrong["hard"] else []
    )


def overthought_levels(before: ModelResult) -> list[str]:
    """Return the levels where `before` spends more than ORACLE_SLACK x the oracle minimum of reasoning tokens."""
    m = before.levels
    return [
        lv
        for lv in _levels(before)
        if m[lv].min_reasoning_tokens_mean
        and m[lv].reasoning_tokens_mean > ORACLE_SLACK * m[lv].min_reasoning_tokens_mean
    ]


def direct_levels(before: ModelResult, after: ModelResult) -> list[str]:
    """Return the levels where `before`'s forced-direct accuracy is as high as reasoning's (>= its own and
    `after`'s free accuracy - TOLERANCE) and right more often than not (>= RELIABLE_DIRECT)."""
    b, a = before.levels, after.levels
    return [
        lv
        for lv in _levels(before)
        if b[lv].accuracy_direct >= max(RELIABLE_DIRECT, max(b[lv].accuracy, a[lv].accuracy) - TOLERANCE)
    ]


def learned_start_checks(
    before: ModelResult, after: ModelResult, paired: dict[str, PairedCounts] | None = None
) -> list[Evidence]:
    """Return what the default must do from a start `before` that learned the task: every level's accuracy >=
    the start's - TOLERANCE (`do_no_harm`); >= TOKEN_CUT fewer reasoning tokens at the levels where the start
    overthinks (`overthought_levels`); a direct rate >= DIRECT_RATE_HIGH where direct answers are as accurate
    as reasoning (`direct_levels`)."""
    gates = do_no_harm(before, after, paired)
    for lv in overthought_levels(before):
        b, a = before.levels[lv], after.levels[lv]
        kept = 1 - TOKEN_CUT
        se = math.hypot(_mean_se(a.reasoning_tokens_std, a.n), kept * _mean_se(b.reasoning_tokens_std, b.n))
        gates.append(
            Evidence(
                f"level {lv} (start overthinks): tokens <= {kept:.0%} of the start's",
                kept * b.reasoning_tokens_mean - a.reasoning_tokens_mean,
                se,
                f"{b.reasoning_tokens_mean:.2f} -> {a.reasoning_tokens_mean:.2f} tokens, oracle "
                f"{b.min_reasoning_tokens_mean:.2f}",
            )
        )
    for lv in direct_levels(before, after):
        b, a = before.levels[lv], after.levels[lv]
        gates.append(
            Evidence(
                f"level {lv} (direct as accurate as reasoning): direct rate >= {DIRECT_RATE_HIGH:.0%}",
                a.direct_rate - DIRECT_RATE_HIGH,
                _bound_se(DIRECT_RATE_HIGH, a.n),
                f"forced direct {b.accuracy_direct:.3f}, accuracy {b.accuracy:.3f} -> {a.accuracy:.3f}; direct "
                f"rate {b.direct_rate:.3f} -> {a.direct_rate:.3f}",
            )
        )
    return gates


def needs_more(model: ModelResult, budget: str) -> list[str]:
    """Return the levels of `model` that `budget` cannot finish: cut at the budget, the same model's budget
    forcing does not solve them (< SOLVED accuracy)."""
    return [lv for lv, m in model.levels.items() if m.dial and m.budget_curve.get(budget, 1.0) < SOLVED]


def half_budget_forcing(model: ModelResult, budget: str) -> float | None:
    """Return the accuracy of `model`'s own budget forcing when it, too, spends at most half of `budget` where
    a level needs more (`needs_more`) and all of it elsewhere: per level, the forcing curve at half the
    budget there (interpolated between measured budgets) or at the budget, weighted by the level's rows;
    None when such a level has no forcing measured at or below half the budget."""
    over = set(needs_more(model, budget))
    total = weight = 0.0
    for lv, m in model.levels.items():
        if lv in over:
            points = [(int(k), v) for k, v in m.budget_curve.items() if k.isdigit()]
            accuracy = interpolate(points, int(budget) / 2)
            if accuracy is None:
                return None
        else:
            accuracy = m.budget_curve[budget]
        total += m.n * accuracy
        weight += m.n
    return total / weight


def dial_checks(model: ModelResult, start: ModelResult) -> list[Evidence]:
    """Return the dial's gates of `model` (evaluated with requested budgets and efforts) against the start
    under budget forcing:

    - at every requested budget, Control (reasoning tokens <= the budget) >= DIAL_CONTROL, a close call
      below DIAL_CONTROL_TARGET;
    - at every budget, accuracy >= the same model's budget forcing there - DIAL_TOLERANCE (paired), a close
      call below forcing - TOLERANCE; its detail gives `half_budget_forcing`;
    - where a budget is below what a level needs, <= half the budget spent there (don't start what you
      cannot finish);
    - at a budget of 8, accuracy >= the start's budget-forcing accuracy + DIAL_GAIN_AT_8;
    - effort levels: mean tokens low < medium < high, accuracy non-decreasing (within TOLERANCE).
    """
    dial = model.dial
    out = []
    for budget, m in sorted(dial.requested.items(), key=lambda kv: int(kv[0])):
        out.append(
            Evidence(
                f"budget {budget}: Control >= {DIAL_CONTROL:.0%}",
                m.control - DIAL_CONTROL,
                _bound_se(DIAL_CONTROL, m.n),
                f"Control {m.control:.3f} (target {DIAL_CONTROL_TARGET:.0%}), mean {m.reasoning_tokens_mean:.2f}",
                m.control < DIAL_CONTROL_TARGET,
            )
        )
        over = needs_more(model, budget)
        half = half_budget_forcing(model, budget) if over else None
        gap = m.accuracy - m.forcing_accuracy
        out.append(
            Evidence(
                f"budget {budget}: accuracy >= budget forcing - {DIAL_TOLERANCE * 100:g} pt",
                gap + DIAL_TOLERANCE,
                paired_se(m.dial_only_correct, m.forcing_only_correct, m.n),
                f"dial {m.accuracy:.3f}, forcing {m.forcing_accuracy:.3f} ({gap * 100:+.1f} pt)"
                + ("" if half is None else f"; forcing within half of it where levels need more: {half:.3f}"),
                gap < -TOLERANCE,
            )
        )
        if over:
            worst = max(over, key=lambda lv: model.levels[lv].dial.requested[budget].reasoning_tokens_mean)
            spent = model.levels[worst].dial.requested[budget]
            out.append(
                Evidence(
                    f"budget {budget}: levels needing more spend <= half of it",
                    int(budget) / 2 - spent.reasoning_tokens_mean,
                    _mean_se(spent.reasoning_tokens_std, spent.n),
                    f"levels {', '.join(over)}: at most {spent.reasoning_tokens_mean:.2f} tokens (level {worst})",
                )
            )
    if "8" in dial.requested and start.budget_curve.get("8") is not None:
        got, base = dial.requested["8"], start.budget_curve["8"]
        out.append(
            Evidence(
                f"budget 8: accuracy >= the start under forcing + {DIAL_GAIN_AT_8 * 100:g} pt",
                got.accuracy - base - DIAL_GAIN_AT_8,
                math.hypot(_proportion_se(got.accuracy, got.n), _proportion_se(base, start.n)),
                f"dial {got.accuracy:.3f}, start forced at 8: {base:.3f}",
            )
        )
    efforts = [(e, dial.efforts[e]) for e in ("low", "medium", "high") if e in dial.efforts]
    for (lo_name, lo), (hi_name, hi) in zip(efforts, efforts[1:], strict=False):
        shown = (
            f"{lo_name} {lo.reasoning_tokens_mean:.2f} tokens / {lo.accuracy:.3f}, "
            f"{hi_name} {hi.reasoning_tokens_mean:.2f} / {hi.accuracy:.3f}"
        )
        out.append(
            Evidence(
                f"effort {lo_name} < {hi_name}: more tokens",
                hi.reasoning_tokens_mean - lo.reasoning_tokens_mean,
                math.hypot(_mean_se(lo.reasoning_tokens_std, lo.n), _mean_se(hi.reasoning_tokens_std, hi.n)),
                shown,
            )
        )
        out.append(
            Evidence(
                f"effort {lo_name} < {hi_name}: accuracy >= - {TOLERANCE * 100:g} pt",
                hi.accuracy - lo.accuracy + TOLERANCE,
                math.hypot(_proportion_se(lo.accuracy, lo.n), _proportion_se(hi.accuracy, hi.n)),
                shown,
            )
        )
    return out

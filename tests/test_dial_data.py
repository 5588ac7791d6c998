"""The dial in the data: control text rendering, budget / effort sampling, and bad budget / effort input."""

import functools
import json
import math
import re
from collections import Counter

import pytest

from thinkdial.data.config import load_data_config
from thinkdial.data.dial import control_prompt, parse_budget, parse_effort
from thinkdial.data.sources import build_rows

SYSTEM = {"role": "system", "content": "Be brief."}
USER = {"role": "user", "content": "What is 2 + 3?"}
TIERS = {"low": 2, "medium": 8, "high": 32}


def dial_cfg(source="permchain", **dial):
    return load_data_config({"source": source, "train_rows": 4000, "test_rows_per_level": 5, "dial": dial})


@pytest.mark.parametrize(
    "budget, effort, expected",
    [
        (None, None, "5:ABCdefgh="),
        (8, None, "[think<=8] 5:ABCdefgh="),
        (0, None, "[think<=0] 5:ABCdefgh="),
        (None, "low", "[effort=low] 5:ABCdefgh="),
        (32, "high", "[effort=high] 5:ABCdefgh="),  # an effort shows the effort only
    ],
)
def test_plain_prompts_get_a_prefix_at_the_start(budget, effort, expected):
    assert control_prompt("5:ABCdefgh=", budget, effort) == expected
    assert control_prompt(expected, budget, effort) == expected  # idempotent


def test_chat_prompts_carry_effort_in_the_system_message_and_budget_after_the_last_user_message():
    history = [SYSTEM, USER, {"role": "assistant", "content": "5"}, {"role": "user", "content": "And 3 + 4?"}]
    assert control_prompt(history) == history
    budgeted = control_prompt(history, budget_tokens=16)
    assert budgeted[:3] == history[:3]
    assert budgeted[3]["content"] == "And 3 + 4?\n\nThink for maximum 16 tokens."
    effort = control_prompt(history, effort="medium")
    assert effort[0]["content"] == "Be brief.\n\nReasoning: medium" and effort[1:] == history[1:]
    assert control_prompt([USER], effort="low") == [{"role": "system", "content": "Reasoning: low"}, USER]
    assert (
        control_prompt(budgeted, budget_tokens=16) == budgeted
        and control_prompt(effort, effort="medium") == effort
    )
    assert history[3]["content"] == "And 3 + 4?"  # the caller's messages are not modified
    with pytest.raises(ValueError, match="no user message"):
        control_prompt([SYSTEM], budget_tokens=4)


def test_budget_and_effort_values_are_parsed_strictly():
    assert [parse_budget(v, "x") for v in (8, 8.0, "8", " 12 ", None, "", math.nan)] == [
        8,
        8,
        8,
        12,
        None,
        None,
        None,
    ]
    assert [parse_effort(v, "x") for v in ("low", " High ", None, "")] == ["low", "high", None, None]
    for bad in (-1, 2.5, "lots", True, math.inf, [8]):
        with pytest.raises(ValueError, match=r"^where: budget must be a whole number"):
            parse_budget(bad, "where")
    for bad in ("extreme", 3):
        with pytest.raises(ValueError, match=r"^where: effort must be one of low, medium, high"):
            parse_effort(bad, "where")


def test_rows_without_a_dial_render_exactly_as_before():
    rows = build_rows(load_data_config({"source": "permchain", "train_rows": 200}), "train")
    assert all("budget" not in r and "effort" not in r and r["prompt"][0].isdigit() for r in rows)


def test_sampled_shares_bounds_and_one_budget_per_row_matching_its_prompt():
    rows = build_rows(
        dial_cfg(
            budget_tokens_min=1,
            budget_tokens_max=32,
            no_budget_share=0.2,
            effort_share=0.3,
            effort_budgets=TIERS,
        ),
        "train",
    )
    none = [r for r in rows if r["budget"] is None]
    effort = [r for r in rows if r["effort"] is not None]
    budget = [r for r in rows if r["budget"] is not None and r["effort"] is None]
    assert 0.17 < len(none) / len(rows) < 0.23 and 0.27 < len(effort) / len(rows) < 0.33
    assert all(r["effort"] is None and r["prompt"][0].isdigit() for r in none)
    assert {r["effort"] for r in effort} == set(TIERS)
    assert all(
        r["budget"] == TIERS[r["effort"]] and r["prompt"].startswith(f"[effort={r['effort']}] ")
        for r in effort
    )
    assert all(1 <= r["budget"] <= 32 and r["prompt"].startswith(f"[think<={r['budget']}] ") for r in budget)
    assert {1, 32} <= {r["budget"] for r in budget}
    # log-uniform over the integers 1..32: P(B <= 5) = ln 6 / ln 33 = 0.51 (a uniform draw would give 0.16)
    assert 0.46 < sum(r["budget"] <= 5 for r in budget) / len(budget) < 0.57


def test_budget_choices_determinism_and_seed():
    cfg = dict(budget_tokens_choices=[4, 16])
    a, b = build_rows(dial_cfg(**cfg), "train"), build_rows(dial_cfg(**cfg), "train")
    assert a == b and {r["budget"] for r in a} == {4, 16}
    assert 0.45 < sum(r["budget"] == 4 for r in a) / len(a) < 0.55
    other = build_rows(
        load_data_config({"source": "permchain", "train_rows": 4000, "seed": 5, "dial": cfg}), "train"
    )
    assert [r["budget"] for r in other] != [r["budget"] for r in a]


def test_the_test_split_draws_no_budgets():
    rows = build_rows(dial_cfg(budget_tokens_choices=[4]), "test")
    assert all(r["budget"] is None and r["effort"] is None and r["prompt"][0].isdigit() for r in rows)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_file_rows_keep_their_own_budget_effort_and_the_same_prompt_draws_the_same_budget(tmp_path):
    own = [
        {"prompt": "a?", "answer": 1, "difficulty": 1, "budget": 7},
        {"prompt": "b?", "answer": 2, "difficulty": 1, "effort": "high"},
    ]
    repeated = [{"prompt": f"q{i % 50}?", "answer": 1, "difficulty": 1} for i in range(400)]
    f = write_jsonl(tmp_path / "d.jsonl", own + repeated)
    cfg = load_data_config(
        {
            "source": "jsonl",
            "path": str(f),
            "dial": {"budget_tokens_min": 1, "budget_tokens_max": 64, "effort_budgets": {"high": 40}},
        }
    )
    rows = build_rows(cfg, "train")
    assert (rows[0]["budget"], rows[0]["effort"], rows[0]["prompt"]) == (7, None, "[think<=7] a?")
    assert (rows[1]["budget"], rows[1]["effort"], rows[1]["prompt"]) == (40, "high", "[effort=high] b?")
    by_prompt = {}
    for r in rows[2:]:
        by_prompt.setdefault(r["prompt"], set()).add(r["budget"])
    assert len(by_prompt) == 50 and all(len(b) == 1 for b in by_prompt.values())
    # rows written by `thinkdial data --out` read back unchanged: no second control text
    again = build_rows(
        load_data_config({"source": "jsonl", "path": str(write_jsonl(tmp_path / "out.jsonl", rows))}), "train"
    )
    assert [r["prompt"] for r in again] == [r["prompt"] for r in rows]


def test_chat_file_rows_render_the_chat_control_text(tmp_path):
    f = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"prompt": "2+3?", "answer": 5, "difficulty": 1, "budget": 8},
            {"prompt": "2+4?", "answer": 6, "difficulty": 1, "effort": "low", "budget": 3},
        ],
    )
    rows = build_rows(
        load_data_config(
            {"source": "jsonl", "path": str(f), "prompt_format": "chat", "system_prompt": "Be brief."}
        ),
        "test",
    )
    assert rows[0]["prompt"] == [SYSTEM, {"role": "user", "content": "2+3?\n\nThink for maximum 8 tokens."}]
    assert rows[1]["prompt"] == [
        {"role": "system", "content": "Be brief.\n\nReasoning: low"},
        {"role": "user", "content": "2+4?"},
    ]
    assert rows[1]["budget"] == 3


@pytest.mark.parametrize(
    "column, value, message",
    [
        (
            "budget",
            -4,
            r"2: column 'tok': budget must be a whole number of reasoning tokens >= 0, got -4",
        ),
        ("budget", "lots", r"2: column 'tok': budget must be a whole number .* got 'lots'"),
        ("budget", 2.5, r"2: column 'tok': budget must be"),
        (
            "effort",
            "extreme",
            r"2: column 'effort': effort must be one of low, medium, high, got 'extreme'",
        ),
        ("effort", "medium", r"2: effort 'medium' has no budget: .*effort_budgets"),
    ],
)
def test_bad_budget_or_effort_in_a_file_row_names_file_row_and_column(tmp_path, column, value, message):
    rows = [{"q": "a", "answer": 1, "difficulty": 1}, {"q": "b", "answer": 2, "difficulty": 1, column: value}]
    if column == "budget":
        rows = [{**r, "tok": r.pop("budget")} if "budget" in r else r for r in rows]
    f = write_jsonl(tmp_path / "bad.jsonl", rows)
    cfg = load_data_config({"source": "jsonl", "path": str(f), "columns": {"prompt": "q", "budget": "tok"}})
    with pytest.raises(ValueError, match=r"bad\.jsonl:" + message) as err:
        build_rows(cfg, "train")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "dial, message",
    [
        (
            {"budget_tokens_min": -2, "budget_tokens_max": 8},
            r"dial\.budget_tokens_min: budget must be a whole number",
        ),
        ({"budget_tokens_min": "few", "budget_tokens_max": 8}, r"dial\.budget_tokens_min: budget must be"),
        ({"budget_tokens_min": 16, "budget_tokens_max": 8}, r"1 <= budget_tokens_min <= budget_tokens_max"),
        ({"budget_tokens_min": 0, "budget_tokens_max": 8}, r"1 <= budget_tokens_min"),
        ({"budget_tokens_min": 4}, r"budget_tokens_min and dial\.budget_tokens_max go together"),
        ({"budget_tokens_choices": [4, -1]}, r"dial\.budget_tokens_choices\[1\]: budget must be"),
        ({"budget_tokens_choices": []}, r"budget_tokens_choices must be a non-empty list"),
        ({"budget_tokens_choices": [4], "budget_tokens_min": 1, "budget_tokens_max": 8}, r"not both"),
        ({"no_budget_share": 0.5}, r"need budget_tokens_min/max .* or budget_tokens_choices"),
        (
            {
                "budget_tokens_choices": [4],
                "no_budget_share": 0.7,
                "effort_share": 0.5,
                "effort_budgets": TIERS,
            },
            r"no_budget_share \+ dial\.effort_share must be <= 1",
        ),
        ({"budget_tokens_choices": [4], "effort_share": 0.3}, r"effort_share > 0 needs dial\.effort_budgets"),
        (
            {"budget_tokens_choices": [4], "effort_budgets": {"extreme": 64}},
            r"effort must be one of low, medium, high",
        ),
        (
            {"budget_tokens_choices": [4], "effort_budgets": {"low": -1}},
            r"dial\.effort_budgets\.low: budget must be",
        ),
        (
            {"budget_tokens_choices": [4], "no_budget_share": 1.5},
            r"dial\.no_budget_share must be a number in \[0, 1\]",
        ),
        ({"budget_tokens_choices": [4], "need_relative_share": -0.1}, r"dial\.need_relative_share must be"),
        (
            {"budget_tokens_choices": [4], "need_factor_min": 2.0, "need_factor_max": 1.0},
            r"0 < need_factor_min <= need_factor_max",
        ),
        ({"budget_tokens_choices": [4], "need_factor_min": 0}, r"0 < need_factor_min <= need_factor_max"),
        ({"budgets": [4]}, r"dial: unknown key\(s\) \['budgets'\]"),
        ([4, 8], r"dial must be a mapping"),
    ],
)
def test_bad_dial_blocks_are_refused_with_the_key_and_the_fix(dial, message):
    with pytest.raises(ValueError, match=r"^data config: .*" + message) as err:
        load_data_config({"source": "permchain", "dial": dial})
    assert "\n" not in str(err.value)


def test_a_dial_with_only_no_budget_and_effort_rows_needs_no_distribution():
    rows = build_rows(dial_cfg(no_budget_share=0.5, effort_share=0.5, effort_budgets={"low": 2}), "train")
    assert {r["effort"] for r in rows} == {None, "low"} and {r["budget"] for r in rows} == {None, 2}


def test_need_relative_budgets_fall_between_the_factors_times_each_rows_minimum_and_the_rest_keep_the_range():
    plain = dict(budget_tokens_choices=[32], no_budget_share=0.2)
    rows = build_rows(
        dial_cfg(**plain, need_relative_share=0.5, need_factor_min=0.5, need_factor_max=1.0), "train"
    )
    budget = [r for r in rows if r["budget"] is not None]
    relative = [r for r in budget if r["budget"] != 32]
    # share 0.5 of the budget rows; a level-k row (k minimal reasoning tokens) gets round(k * f), f in [0.5, 1]
    assert 0.45 < len(relative) / len(budget) < 0.55
    assert all(
        max(1, round(r["min_reasoning_tokens"] * 0.5)) <= r["budget"] <= r["min_reasoning_tokens"]
        for r in relative
    )
    assert all(r["prompt"].startswith(f"[think<={r['budget']}] ") for r in budget)
    # one short of the minimal chain (the last step answered directly) is drawn at every level above 1
    assert {r["difficulty"] for r in relative if r["budget"] == r["min_reasoning_tokens"] - 1} == set(
        range(2, 9)
    )
    # without the share the same config draws exactly the rows it drew before the keys existed
    assert build_rows(dial_cfg(**plain, need_factor_max=1.0), "train") == build_rows(
        dial_cfg(**plain), "train"
    )


def test_need_relative_budgets_need_the_minimum_on_file_rows_and_name_the_row(tmp_path):
    f = write_jsonl(
        tmp_path / "d.jsonl", [{"prompt": f"q{i}?", "answer": 1, "difficulty": 1} for i in range(50)]
    )
    dial = {"budget_tokens_choices": [8], "need_relative_share": 1.0}
    with pytest.raises(
        ValueError, match=rf"^{re.escape(str(f))}:1: dial\.need_relative_share .* min_reasoning_tokens"
    ) as err:
        build_rows(load_data_config({"source": "jsonl", "path": str(f), "dial": dial}), "train")
    assert "\n" not in str(err.value)
    g = write_jsonl(
        tmp_path / "e.jsonl",
        [{"prompt": f"q{i}?", "answer": 1, "difficulty": 1, "min_reasoning_tokens": 40} for i in range(50)],
    )
    rows = build_rows(load_data_config({"source": "jsonl", "path": str(g), "dial": dial}), "train")
    assert all(20 <= r["budget"] <= 80 for r in rows) and len({r["budget"] for r in rows}) > 10


@functools.cache  # the demo's data configs are read, not changed: one build each
def _dial_cells(config: str, need_relative: bool) -> Counter:
    cfg = load_data_config(config)
    if not need_relative:
        cfg.dial.need_relative_share = 0.0
    rows = build_rows(cfg, "train")
    return Counter(
        (r["difficulty"], r["budget"]) for r in rows if r["budget"] is not None and r["effort"] is None
    )


@pytest.mark.parametrize("config", ["configs/tiny/sft_data.yaml", "configs/tiny/grpo_data.yaml"])
def test_the_demos_data_draws_a_budget_one_short_of_each_levels_need_on_half_again_the_rows_or_more(config):
    # level k at B = k - 1: stop one short, the last step answered directly; the cell next to where the
    # earlier, log-uniform-only start wrote past its budget (level 6 at B = 4 copying what B = 5 allows).
    # Level 2 is left out: its B = 1 is the log-uniform draw's most frequent budget already.
    cells = _dial_cells(config, need_relative=True)
    log_uniform = _dial_cells(config, need_relative=False)
    for level in range(3, 9):
        assert cells[level, level - 1] >= 1.5 * log_uniform[level, level - 1], level


def test_the_demos_grpo_budgets_reach_a_third_of_a_rows_need_so_level_3_meets_a_budget_of_1():
    cfg = load_data_config("configs/tiny/grpo_data.yaml")
    assert round(3 * cfg.dial.need_factor_min) == 1  # from half the need level 3 never meets B = 1 (measured)
    # need-relative draws there, on top of the log-uniform ones they replace half of
    assert (
        _dial_cells("configs/tiny/grpo_data.yaml", need_relative=True)[3, 1]
        > _dial_cells("configs/tiny/grpo_data.yaml", need_relative=False)[3, 1]
    )

"""`thinkdial rewards score`: one JSON line per row in input order, weighted totals, level summary."""

from __future__ import annotations

import json

import pytest

from thinkdial.cli import main
from thinkdial.io import write_jsonl

ROWS = [
    {"prompt": "a", "completion": "<think>xx</think>4", "answer": "4", "difficulty": 1},
    {"prompt": "b", "completion": "<think>xxxxxx</think>9", "answer": "7", "difficulty": 2},
    {"prompt": "a", "completion": "<think>xxxx</think>5", "answer": "4", "difficulty": 1},
    {"prompt": "b", "completion": "<think>xxxx", "answer": "7", "difficulty": 2},
]


def test_a_row_a_reward_fails_on_is_named_by_its_file_line(tmp_path, capsys):
    rows = [
        {"prompt": "p", "completion": "<think></think>4", "answer": "4", "ref_accuracy": 0.5},
        {"prompt": "p", "completion": "<think>x</think>4", "answer": "4", "ref_accuracy": 1.5},
    ]
    (tmp_path / "in.jsonl").write_text(json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n")
    config = tmp_path / "rewards.yaml"
    config.write_text("rewards:\n  - {name: constrained_no_think}\n")
    assert main(["rewards", "score", "--config", str(config), "--input", str(tmp_path / "in.jsonl")]) == 2
    assert capsys.readouterr().err == (
        f"thinkdial rewards: error: {tmp_path / 'in.jsonl'}:3: reward 'constrained_no_think' failed (completion "
        "starts '<think>x</think>4'): UsageError: ref_accuracy must be a number in [0, 1], got 1.5\n"
    )


def test_score_kimi(tmp_path, capsys):
    write_jsonl(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "rewards",
            "score",
            "--config",
            "configs/rewards/kimi.yaml",
            "--input",
            str(tmp_path / "in.jsonl"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["reasoning_tokens"] for r in got] == [2, 6, 4, 4]
    assert [r["correct"] for r in got] == [True, False, False, False]
    # group a: lengths 2, 4 -> lam 0.5, -0.5; group b: 6, 4 -> lam -0.5, 0.5 (wrong: min(0, lam))
    assert [r["rewards"]["kimi"] for r in got] == [0.5, -0.5, -0.5, 0.0]
    assert [r["rewards"]["format"] for r in got] == [1.0, 1.0, 1.0, 0.0]
    assert [r["total"] for r in got] == pytest.approx([1.0 + 0.2 + 0.25, 0.2 - 0.25, 0.2 - 0.25, 0.0])
    summary = capsys.readouterr().err
    assert "level" in summary and "all" in summary and "kimi" in summary


def test_score_row_without_answer_is_one_clear_line(tmp_path, capsys):
    write_jsonl(tmp_path / "in.jsonl", [{"prompt": "a", "completion": "x"}])
    code = main(
        ["rewards", "score", "--config", "configs/rewards/kimi.yaml", "--input", str(tmp_path / "in.jsonl")]
    )
    assert code == 2
    assert "in.jsonl:1: missing key 'answer'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "field, value, expected",
    [
        (
            "completion",
            5,
            "field 'completion' must be a string or a list of chat messages with string contents, got 5",
        ),
        (
            "completion",
            [{"role": "assistant"}],
            "field 'completion' must be a string or a list of chat messages",
        ),
        (
            "prompt",
            {"text": "a"},
            "field 'prompt' must be a string or a list of chat messages, got {'text': 'a'}",
        ),
        ("answer", True, "field 'answer' must be a string, a number or null, got True"),
        (
            "difficulty",
            "hard",
            "field 'difficulty' must be a number (the difficulty level) or null, got 'hard'",
        ),
        ("difficulty", float("nan"), "field 'difficulty' must be a number"),
        ("budget", "lots", "field 'budget' must be a number of reasoning tokens >= 0 or null, got 'lots'"),
        ("budget", -1, "field 'budget' must be a number of reasoning tokens >= 0 or null, got -1"),
    ],
)
def test_every_row_is_checked_before_anything_is_scored_or_written(tmp_path, capsys, field, value, expected):
    rows = [{**r, "budget": 8} for r in ROWS]
    rows[2][field] = value
    write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "rewards",
            "score",
            "--config",
            "configs/rewards/target_length.yaml",
            "--input",
            str(tmp_path / "in.jsonl"),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"thinkdial rewards: error: {tmp_path / 'in.jsonl'}:3: {expected}"), err
    assert not out.exists()


def test_a_bad_json_line_names_file_and_line(tmp_path, capsys):
    (tmp_path / "in.jsonl").write_text('{"prompt": "a", "completion": "x", "answer": "1"}\n[1, 2]\n')
    code = main(
        ["rewards", "score", "--config", "configs/rewards/kimi.yaml", "--input", str(tmp_path / "in.jsonl")]
    )
    assert code == 2 and "in.jsonl:2: expected a JSON object, got list" in capsys.readouterr().err


def test_list(capsys):
    assert main(["rewards", "list"]) == 0
    listing = capsys.readouterr().out
    assert "solve_rate:" in listing and "max_tokens (int, required)" in listing

"""`thinkdial rewards score`: one JSON line per row in input order, weighted totals, level summary."""

from __future__ import annotations

import json

import pytest

from thinkdial.cli import main


def write_rows(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


ROWS = [
    {"prompt": "a", "completion": "<think>xx</think>4", "answer": "4", "difficulty": 1},
    {"prompt": "b", "completion": "<think>xxxxxx</think>9", "answer": "7", "difficulty": 2},
    {"prompt": "a", "completion": "<think>xxxx</think>5", "answer": "4", "difficulty": 1},
    {"prompt": "b", "completion": "<think>xxxx", "answer": "7", "difficulty": 2},
]


def test_score_kimi(tmp_path, capsys):
    write_rows(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    code = main(["rewards", "score", "--config", "configs/rewards/kimi.yaml", "--input", str(tmp_path / "in.jsonl"),
                 "--out", str(out)])
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
    write_rows(tmp_path / "in.jsonl", [{"prompt": "a", "completion": "x"}])
    code = main(["rewards", "score", "--config", "configs/rewards/kimi.yaml", "--input", str(tmp_path / "in.jsonl")])
    assert code == 2
    assert "in.jsonl:1: missing key 'answer'" in capsys.readouterr().err


def test_score_bad_budget_names_row(tmp_path, capsys):
    rows = [{**r, "budget": 8} for r in ROWS]
    rows[2]["budget"] = "lots"
    write_rows(tmp_path / "in.jsonl", rows)
    code = main(["rewards", "score", "--config", "configs/rewards/target_length.yaml",
                 "--input", str(tmp_path / "in.jsonl")])
    assert code == 2
    assert "reward 'target_length' failed on row 2 (completion starts '<think>xxxx</think>5')" in capsys.readouterr().err


def test_list(capsys):
    assert main(["rewards", "list"]) == 0
    listing = capsys.readouterr().out
    assert "solve_rate:" in listing and "max_tokens (int, required)" in listing

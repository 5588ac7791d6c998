"""`thinkdial reproduce` (pipeline/reproduce.py): the dry run prints every command and the published rows and
runs nothing; a run (its commands scripted) skips finished stages and writes measured beside published with
the differences, on hand values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, thinkdial

from thinkdial.errors import UsageError
from thinkdial.pipeline.reproduce import compare, run_reproduce

R1 = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"


def in_scratch(tmp_path, monkeypatch) -> Path:
    """Work in `tmp_path` with the repository's configs (runs/ lands there); return it."""
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_dry_run_prints_every_round_and_eval_and_the_published_rows_and_runs_nothing(
    tmp_path, monkeypatch, capsys
):
    in_scratch(tmp_path, monkeypatch)
    monkeypatch.setattr("thinkdial.pipeline.reproduce.run_command", lambda **_: pytest.fail("ran a command"))
    assert run_reproduce("thinkprune", "out", "configs/accelerate/zero2.yaml", 8, dry_run=True) == []
    printed = capsys.readouterr().out.splitlines()
    launch = (
        "accelerate launch --config_file configs/accelerate/zero2.yaml --num_processes 8 -m thinkdial grpo"
    )
    model = "--model thinkprune=runs/methods/thinkprune/round3"
    assert printed[1:7] == [
        f"  {launch} --config configs/methods/thinkprune/grpo.yaml",
        f"  {launch} --config configs/methods/thinkprune/round2.yaml",
        f"  {launch} --config configs/methods/thinkprune/round3.yaml",
        f"  thinkdial eval --config configs/eval/paper_aime24.yaml --model base={R1} {model} --out out/eval/paper_aime24",
        f"  thinkdial eval --config configs/eval/paper_math500.yaml --model base={R1} {model} --out out/eval/paper_math500",
        f"  thinkdial eval --config configs/eval/paper_gsm8k.yaml --model base={R1} {model} --out out/eval/paper_gsm8k",
    ]
    assert printed[-1] == (
        "| AIME 2024 | not measured | - / - | - / - | - / -50 | - / -2 | arXiv 2504.01296, abstract (uncertain) |"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["configs"]  # nothing written


def test_make_reproduce_dry_run_names_the_recipe_and_an_unknown_method_is_refused():
    done = thinkdial("reproduce", "--method", "dler", "--dry-run", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "  thinkdial grpo --config configs/methods/dler/grpo.yaml\n" in done.stdout
    refused = thinkdial("reproduce", "--method", "l2", "--dry-run", timeout=120)
    assert refused.returncode != 0 and "no recipe for method 'l2'" in refused.stderr
    with pytest.raises(UsageError):
        run_reproduce("l2", dry_run=True)


# (base, trained) accuracy and mean reasoning tokens per benchmark, written as the evals' results.json
EVALS = {
    "paper_gsm8k": ((0.80, 1000.0), (0.83, 500.0)),
    "paper_math500": ((0.80, 4000.0), (0.82, 2000.0)),
    "paper_aime24": ((0.30, 10000.0), (0.31, 6000.0)),
}


def test_a_run_trains_evaluates_and_writes_measured_beside_published(tmp_path, monkeypatch):
    root = in_scratch(tmp_path, monkeypatch)
    ran = []

    def run_command(args, **launch):
        ran.append(args[:3])
        out = Path(args[args.index("--out") + 1]) if "--out" in args else root / "runs/methods/adaptthink"
        out.mkdir(parents=True, exist_ok=True)
        if args[0] == "grpo":
            (out / "tokenizer_config.json").write_text("{}")
            return
        (base_acc, base_tokens), (acc, tokens) = EVALS[out.name]
        models = {
            "base": {"accuracy": base_acc, "reasoning_tokens_mean": base_tokens},
            "adaptthink": {"accuracy": acc, "reasoning_tokens_mean": tokens},
        }
        (out / "results.json").write_text(json.dumps({"models": models}))
        (out / "report.md").write_text("")

    monkeypatch.setattr("thinkdial.pipeline.reproduce.run_command", run_command)
    rows = run_reproduce("adaptthink", "out")
    assert [a[0] for a in ran] == ["grpo", "eval", "eval", "eval"]
    mean, gsm8k = rows[0], rows[1]
    # GSM8K: tokens 500 / 480, accuracy 83.0 / 83.1, change +3.0 / +4.1 points (-50% tokens, none published)
    assert gsm8k["match"] == "same"
    assert gsm8k["measured"]["tokens_change_pct"] == pytest.approx(-50.0)
    assert gsm8k["difference"] == pytest.approx(
        {"tokens": 20.0, "accuracy": -0.1, "tokens_change_pct": None, "accuracy_change_pts": -1.1}
    )
    # the mean of the three: tokens changes -50, -50, -40 -> -46.7 against -53; accuracy +3, +2, +1 -> +2 against +2.4
    assert mean["match"] == "same"
    assert mean["difference"]["tokens_change_pct"] == pytest.approx(-140 / 3 + 53)
    assert mean["difference"]["accuracy_change_pts"] == pytest.approx(2.0 - 2.4)
    report = (root / "out/report.md").read_text()
    assert (
        "| GSM8K | same | 500.0 / 480 (+20.0) | 83.0 / 83.1 (-0.1) | -50.0 / - | 3.0 / 4.1 (-1.1) |" in report
    )
    ran.clear()
    run_reproduce("adaptthink", "out")  # everything finished: nothing runs again
    assert ran == []


def test_partial_and_other_benchmarks_and_a_published_range_are_labelled():
    measured = {
        "AIME 2024": {
            "tokens": 100.0,
            "accuracy": 30.0,
            "tokens_change_pct": -40.0,
            "accuracy_change_pts": 1.0,
            "base_tokens": 166.7,
            "base_accuracy": 29.0,
        }
    }
    row = {"base_model": R1, "tokens": None, "accuracy": None, "accuracy_change_pts": None}
    rows = compare(
        [
            {**row, "benchmark": "mean of MATH, AIME 2024", "tokens_change_pct": -50},
            {**row, "benchmark": "in-domain tasks", "tokens_change_pct": [-80, -50], "base_model": "other"},
            {**row, "benchmark": "AIME 2024", "tokens_change_pct": [-45, -30]},
        ],
        measured,
        R1,
    )
    assert [r["match"] for r in rows] == ["1 of 2 benchmarks", "different benchmark, other base", "same"]
    assert [r["difference"]["tokens_change_pct"] for r in rows] == [10.0, 10.0, 0.0]

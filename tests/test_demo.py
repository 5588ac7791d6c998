"""`thinkdial demo`: the pipeline end to end (shortened), and the adaptive-shift checks it prints."""

import json

import pytest
from conftest import ROOT

from thinkdial.train.demo import adaptivity_checks, run_demo


def level(acc, acc_direct, direct_rate, tokens, oracle):
    return {
        "accuracy": acc,
        "accuracy_direct": acc_direct,
        "direct_rate": direct_rate,
        "reasoning_tokens_mean": tokens,
        "min_reasoning_tokens_mean": oracle,
        "chance_accuracy": 0.1,
    }


def results(sft_levels, grpo_levels):
    return {"models": {"sft": {"levels": sft_levels}, "grpo": {"levels": grpo_levels}}}


SFT = {
    "1": level(1.0, 1.0, 0.0, 4.0, 1),
    "2": level(1.0, 0.1, 0.0, 8.0, 2),
    "3": level(1.0, 0.1, 0.0, 12.0, 3),
}


def test_adaptive_model_passes_every_check():
    grpo = {
        "1": level(1.0, 1.0, 1.0, 0.0, 1),
        "2": level(0.99, 0.1, 0.0, 2.0, 2),
        "3": level(0.99, 0.1, 0.0, 3.2, 3),
    }
    checks = adaptivity_checks(results(SFT, grpo))
    assert all(ok for _, ok, _ in checks), checks
    assert len(checks) == 2 + 1 + 3 + 3 + 1


def test_never_thinking_and_overthinking_models_fail():
    never = {
        k: level(1.0 if k == "1" else 0.1, 0, 1.0, 0.0, v["min_reasoning_tokens_mean"])
        for k, v in SFT.items()
    }
    failed = {name for name, ok, _ in adaptivity_checks(results(SFT, never)) if not ok}
    assert any("hardest" in n for n in failed) and any("needs reasoning" in n for n in failed)
    failed = {name for name, ok, _ in adaptivity_checks(results(SFT, SFT)) if not ok}
    assert any("50%" in n for n in failed) and any("1.5x oracle" in n for n in failed)
    assert any("direct-solvable" in n for n in failed)


def test_a_start_that_already_splits_is_flagged():
    split_sft = dict(SFT, **{"1": level(1.0, 1.0, 0.95, 0.1, 1)})
    checks = {name: ok for name, ok, _ in adaptivity_checks(results(split_sft, split_sft))}
    assert checks["sft does not already show the split"] is False


@pytest.mark.slow
def test_demo_end_to_end_shortened(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "demo"
    overrides = {
        "sft": ["--max_steps", "15", "--train_limit", "2000", "--logging_steps", "5"],
        "grpo": ["--max_steps", "3", "--save_strategy", "no", "--train_limit", "200"],
        "eval": ["--limit", "32", "--no-progress"],
    }
    run_demo(out, seed=0, overrides=overrides)
    res = json.loads((out / "eval" / "results.json").read_text())
    assert res["schema"] == "thinkdial.eval/1" and set(res["models"]) == {"sft", "grpo"}
    for model in res["models"].values():
        assert set(model["levels"]) == {str(k) for k in range(1, 9)}
        assert {
            "accuracy",
            "accuracy_direct",
            "direct_rate",
            "reasoning_tokens_mean",
            "min_reasoning_tokens_mean",
            "chance_accuracy",
        } <= set(model["levels"]["1"])
    for png in ("accuracy_vs_budget", "tokens_vs_difficulty", "accuracy_vs_difficulty"):
        assert (out / "eval" / "plots" / f"{png}.png").stat().st_size > 1000
    assert "sft" in (out / "eval" / "report.md").read_text()
    assert (out / "export" / "model.safetensors").exists() and "Evaluation" in (
        out / "export" / "README.md"
    ).read_text()
    printed = capsys.readouterr().out
    assert "did GRPO learn when to think" in printed
    # a second run skips every finished stage
    run_demo(out, seed=0, overrides=overrides)
    assert capsys.readouterr().out.count("skipping") == 4

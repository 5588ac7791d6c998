"""`thinkdial demo`: the pipeline end to end, shortened (the gates themselves: tests/test_gates.py)."""

import json

import pytest
from conftest import ROOT

from thinkdial.pipeline.demo import run_demo


@pytest.mark.slow
def test_demo_end_to_end_shortened(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "demo"
    overrides = {
        "sft": ["--max_steps", "15", "--train_limit", "2000", "--logging_steps", "5"],
        "grpo": [
            "--max_steps",
            "3",
            "--save_strategy",
            "no",
            "--train_limit",
            "300",
            "--validate_every_steps",
            "3",
            "--validation_rows_per_level",
            "2",
        ],
        "eval": ["--limit", "32", "--no-progress"],
    }
    checks = run_demo(out, seeds=[0, 1], overrides=overrides)
    res = json.loads((out / "eval" / "results.json").read_text())
    assert res["schema"] == "thinkdial.eval/2" and set(res["models"]) == {"sft", "seed0", "seed1"}
    for label, model in res["models"].items():
        assert set(model["levels"]) == {str(k) for k in range(1, 9)}
        assert {
            "accuracy",
            "accuracy_direct",
            "direct_rate",
            "reasoning_tokens_mean",
            "min_reasoning_tokens_mean",
            "chance_accuracy",
        } <= set(model["levels"]["1"])
        assert bool(model.get("dial")) == (label != "sft")  # the seeds are evaluated with the dial's axes
    for png in ("accuracy_vs_budget", "tokens_vs_difficulty", "accuracy_vs_difficulty"):
        assert (out / "eval" / "plots" / f"{png}.png").stat().st_size > 1000
    assert (out / "export" / "model.safetensors").exists() and "Evaluation" in (
        out / "export" / "README.md"
    ).read_text()
    for seed in (0, 1):
        assert (out / f"grpo-seed{seed}" / "selection.json").is_file()
    printed = capsys.readouterr().out
    assert printed.count("did GRPO learn when to think") == 2
    assert "[demo] close calls" in printed and "share a 1% false-fail rate" in printed
    assert "[demo] close calls" in (out / "eval" / "gates.md").read_text()
    assert len(checks) > 20 and {"health guard quiet", "checkpoint selection kept a trained step"} <= {
        c.name for c in checks
    }
    assert not all(c.passed for c in checks)  # 3 GRPO steps from a 15-step start learn nothing: gates fail
    # a second run skips every finished stage
    run_demo(out, seeds=[0, 1], overrides=overrides)
    assert capsys.readouterr().out.count("skipping") == 5


@pytest.mark.parametrize("passed, code", [((True, True), 0), ((True, False), 1), ((False, False), 1)])
def test_demo_exits_1_when_a_gate_fails_and_0_when_all_pass(monkeypatch, passed, code):
    from thinkdial.cli import main
    from thinkdial.pipeline.gates import Check

    calls = []

    def fake_run_demo(out, seeds, force):
        calls.append((out, seeds, force))
        return [Check(f"gate {i}", p, "forced by the test") for i, p in enumerate(passed)]

    monkeypatch.setattr("thinkdial.pipeline.demo.run_demo", fake_run_demo)
    assert main(["demo", "--out", "somewhere", "--seeds", "3", "--force"]) == code
    assert calls == [("somewhere", [3], True)]

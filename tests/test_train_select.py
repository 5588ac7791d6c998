"""Checkpoint selection: a GRPO run keeps its start unless training made it better on held-out rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, TINY_ARGS
from safetensors.torch import load_file

from thinkdial.errors import UsageError
from thinkdial.train.select import Decision, Validation, compare, split_validation


def v(solved: str, tokens: int = 10, step: int = 0) -> Validation:
    """A validation whose rows are solved where `solved` has a 1."""
    return Validation(step, [c == "1" for c in solved], [tokens] * len(solved))


def test_a_significant_gain_in_rows_solved_is_acceptable_whatever_rows_it_loses():
    start, candidate = v("1" * 10 + "0" * 90), v("0" * 2 + "1" * 8 + "1" * 20 + "0" * 70)
    decision = compare(candidate, start, lost_rows=0.02)  # gained 20, lost 2: z = 18 / sqrt(22) = 3.84
    assert decision.better and decision.numbers["paired_z"] == pytest.approx(3.838, abs=1e-3)


def test_reshuffled_lucky_guesses_of_a_weak_start_are_not_acceptable():
    start = v("1000000000" * 10)  # 10 % solved
    candidate = v("0100000000" * 10, tokens=5)  # as many solved, other rows, half the tokens
    decision = compare(candidate, start, lost_rows=0.02)
    assert not decision.better and decision.numbers["lost_rows"] == 10


def test_the_start_s_solved_rows_kept_are_acceptable_at_fewer_tokens_but_not_at_more():
    start = v("1" * 98 + "00", tokens=20)
    assert compare(v("0" + "1" * 98 + "0", tokens=5), start, lost_rows=0.02).better  # lost 1, gained 1
    assert compare(v("1" * 98 + "00", tokens=21), start, lost_rows=0.02).better  # within 5% more tokens
    dearer = compare(v("1" * 98 + "00", tokens=25), start, lost_rows=0.02)  # same rows, 25% more tokens
    assert not dearer.better and "spends more tokens for no significant gain" in dearer.reason
    # a start that answers directly: reasoning for the same rows is not acceptable
    assert not compare(
        v("1" * 10 + "0" * 90, tokens=8), v("1" * 10 + "0" * 90, tokens=0), lost_rows=0.02
    ).better
    assert not compare(
        v("0" + "1" * 97 + "00", tokens=5), start, lost_rows=0.02
    ).better  # a net loss of a row
    assert not compare(v("000" + "1" * 95 + "00"), start, lost_rows=0.02).better  # 3 lost of 100: over 2 %


def test_validation_rows_are_held_out_per_level():
    rows = [{"prompt": str(i), "difficulty": 1 + i % 3} for i in range(30)]
    train, validation = split_validation(rows, per_level=4)
    assert len(validation) == 12 and len(train) == 18
    assert sorted(r["difficulty"] for r in validation) == [1] * 4 + [2] * 4 + [3] * 4
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in validation}


def test_sft_convergence_validates_on_rows_without_the_dial_and_still_trains_on_them():
    # a budget below a level's need makes its row unsolvable: SFT's held-out accuracy reads plain rows only
    rows = [
        {"prompt": str(i), "difficulty": 1 + i % 2, **({"budget": 1} if i % 4 < 2 else {})} for i in range(16)
    ] + [{"prompt": "e", "difficulty": 1, "effort": "low"}]
    train, validation = split_validation(rows, per_level=2, plain_only=True)
    assert [r["prompt"] for r in validation] == ["2", "3", "6", "7"]
    assert len(train) == 13 and sum("budget" in r or "effort" in r for r in train) == 9
    assert [r["prompt"] for r in split_validation(rows, per_level=2)[1]] == ["0", "1", "2", "3"]


def test_holding_out_more_rows_than_are_left_to_train_on_is_refused_with_the_fix():
    rows = [{"prompt": str(i), "difficulty": 1 + i % 3} for i in range(30)]
    assert len(split_validation(rows, per_level=5)[0]) == 15
    with pytest.raises(UsageError, match="leaving 12 to train on; lower validation_rows_per_level"):
        split_validation(rows, per_level=6)


@pytest.mark.slow
def test_a_run_keeps_its_latest_acceptable_weights(tmp_path):
    from conftest import thinkdial

    out = tmp_path / "run"
    result = thinkdial(
        "grpo",
        *TINY_ARGS,
        "--output_dir",
        str(out),
        "--max_steps",
        "6",
        "--learning_rate",
        "1e-2",
        "--select_checkpoint",
        "true",
        "--validate_every_steps",
        "3",
        "--validation_rows_per_level",
        "4",
        "--reward_config",
        "configs/rewards/adaptive.yaml",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    selection = json.loads((out / "selection.json").read_text())
    # a random start solves none of the rows, nor do its updates: every step is acceptable, the last is kept
    assert [e["step"] for e in selection["validations"]] == [0, 3, 6] and selection["kept_step"] == 6
    start, saved = load_file(out / "init" / "model.safetensors"), load_file(out / "model.safetensors")
    assert not all(start[k].equal(saved[k]) for k in start)


def forced_run(tmp_path, monkeypatch, keep_step: int | None, save_steps: int) -> tuple[dict, Path]:
    """Train 4 tiny GRPO steps validating every 2, with `compare` patched to accept step `keep_step` only
    (None: no step); return (selection.json, the run folder), checkpoints saved every `save_steps`."""
    from thinkdial.train.grpo import ThinkdialGRPOConfig, train_grpo
    from thinkdial.train.recipe import parse_recipe

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(
        "thinkdial.train.select.compare",
        lambda candidate, start, lost_rows: Decision(candidate.step == keep_step, "forced by the test"),
    )
    out = tmp_path / "run"
    args = ["--output_dir", str(out), "--learning_rate", "1e-2", "--select_checkpoint", "true"]
    args += ["--validate_every_steps", "2", "--validation_rows_per_level", "2"]
    args += ["--save_strategy", "steps", "--save_steps", str(save_steps)]
    train_grpo(parse_recipe(ThinkdialGRPOConfig, [*TINY_ARGS, *args]))
    return json.loads((out / "selection.json").read_text()), out


def same_weights(a: Path, b: Path) -> bool:
    """Return whether the safetensors files `a` and `b` hold the same tensors, bit for bit."""
    x, y = load_file(a), load_file(b)
    return x.keys() == y.keys() and all(x[k].equal(y[k]) for k in x)


@pytest.mark.slow
@pytest.mark.usefixtures("use_varied_reward")
def test_the_saved_model_is_the_kept_steps_weights(tmp_path, monkeypatch):
    selection, out = forced_run(tmp_path, monkeypatch, keep_step=2, save_steps=2)
    assert selection["kept_step"] == 2 and [e["kept"] for e in selection["validations"]] == [
        True,
        True,
        False,
    ]
    assert not same_weights(
        out / "checkpoint-2" / "model.safetensors", out / "checkpoint-4" / "model.safetensors"
    )
    assert same_weights(out / "model.safetensors", out / "checkpoint-2" / "model.safetensors")


@pytest.mark.slow
@pytest.mark.usefixtures("use_varied_reward")
def test_the_saved_model_is_the_start_when_no_step_is_kept(tmp_path, monkeypatch):
    selection, out = forced_run(tmp_path, monkeypatch, keep_step=None, save_steps=4)
    assert selection["kept_step"] == 0 and [e["kept"] for e in selection["validations"]] == [
        True,
        False,
        False,
    ]
    assert not same_weights(out / "init" / "model.safetensors", out / "checkpoint-4" / "model.safetensors")
    assert same_weights(out / "model.safetensors", out / "init" / "model.safetensors")

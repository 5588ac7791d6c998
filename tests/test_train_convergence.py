"""SFT to convergence on held-out rows, and the one line that says a start is at chance (train/select.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from conftest import ROOT

from thinkdial.errors import UsageError
from thinkdial.train import select
from thinkdial.train.select import (
    CheckpointSelector,
    ConvergenceStop,
    Validation,
    chance_warning,
    level_figures,
)

ADVICE = "GRPO has nothing to build on there; train SFT longer (raise max_steps), add train rows, or take a bigger model"


def rows(levels: int, per_level: int, source: str = "permchain") -> list[dict]:
    """Validation rows, `per_level` of each level 1..levels in turn (as split_validation holds them out)."""
    return [
        {"prompt": f"{lv}:{i}", "answer": "1", "difficulty": lv, "source": source}
        for lv in range(1, levels + 1)
        for i in range(per_level)
    ]


def validation(step: int, solved: str, direct: str, tokens: int = 4) -> Validation:
    """A validation with direct answers: rows solved where `solved` / `direct` have a 1."""
    return Validation(step, [c == "1" for c in solved], [tokens] * len(solved), [c == "1" for c in direct])


def test_a_level_within_noise_of_chance_is_named_with_its_figures_and_what_to_do():
    # level 1: 20 of 20 (learned); level 2: 3 of 20 against a chance of 2 (binomial z = 0.75)
    result = validation(0, "1" * 20 + "111" + "0" * 17, "1" * 20 + "11" + "0" * 18)
    figures = level_figures(result, rows(2, 20))
    assert [f["at_chance"] for f in figures.values()] == [False, True]
    assert figures["2"] == {
        "rows": 20,
        "accuracy": 0.15,
        "accuracy_direct": 0.1,
        "reasoning_tokens_mean": 4.0,
        "chance_accuracy": 0.1,
        "at_chance": True,
    }
    assert chance_warning(figures, "the SFT start") == (
        "the SFT start is no better than chance or a forced direct answer at 1 of 2 levels (held-out accuracy: "
        f"level 2 0.150, chance 0.100, direct 0.100, 20 rows): {ADVICE}"
    )


def test_without_a_known_chance_a_level_no_better_than_its_direct_answers_is_named():
    # a user's file: no chance known. Level 1: 10 of 20 with reasoning, 9 directly (8 rows both, 2 vs 1 only
    # one way: paired z = 0.58); level 2: 10 of 20, none directly (z = 3.16); level 3: 19 of 20 and 19 directly
    # (learned: a level solved 90% of the time is not at chance, however well it is answered directly)
    solved = "1" * 10 + "0" * 10 + "1" * 10 + "0" * 10 + "1" * 19 + "0"
    direct = "1" * 8 + "00" + "1" + "0" * 9 + "0" * 20 + "1" * 19 + "0"
    figures = level_figures(validation(0, solved, direct), rows(3, 20, source="jsonl"))
    assert [f["at_chance"] for f in figures.values()] == [True, False, False]
    assert chance_warning(figures, "GRPO's start") == (
        "GRPO's start is no better than chance or a forced direct answer at 1 of 3 levels (held-out accuracy: "
        f"level 1 0.500, direct 0.450, 20 rows): {ADVICE}"
    )


def test_a_start_that_never_reasons_where_it_is_at_chance_is_told_to_train_on_fewer_direct_rows():
    # own_data's pointer task with 30% direct SFT rows: greedy decoding closed the thought at every level
    figures = level_figures(validation(0, "1" * 3 + "0" * 17, "1" * 3 + "0" * 17, tokens=0), rows(1, 20))
    assert chance_warning(figures, "the SFT start") == (
        "the SFT start is no better than chance or a forced direct answer at 1 of 1 levels (held-out accuracy: "
        "level 1 0.150, chance 0.100, direct 0.150, 20 rows): GRPO has nothing to build on there; it answers "
        "without reasoning there (at most 0.0 reasoning tokens a row: greedy decoding closes the thought at once); "
        "give SFT fewer direct rows (the data config's reasoning_styles), then train it again"
    )


def test_a_learned_start_gets_no_line():
    figures = level_figures(validation(0, "1" * 18 + "00" + "1" * 9 + "0", "0" * 30), rows(2, 15))
    assert not any(f["at_chance"] for f in figures.values()) and chance_warning(figures, "the start") is None


class Scripted:
    """Stands in for `validate` and `direct_answers`: hands out the given validations in turn."""

    def __init__(self, monkeypatch, results: list[Validation]):
        self.results = list(results)
        monkeypatch.setattr(select, "validate", self.validate)
        monkeypatch.setattr(select, "direct_answers", self.direct)

    def validate(self, model, tokenizer, rows, max_reasoning_tokens, step, *args):
        result = self.results.pop(0)
        assert result.step == step
        self.current = result
        return Validation(result.step, result.solved, result.reasoning_tokens)

    def direct(self, model, tokenizer, rows):
        return self.current.direct_solved


ARGS = SimpleNamespace(process_index=0)


@pytest.mark.parametrize("learned", [False, True])
def test_grpo_s_start_validation_says_whether_the_start_is_at_chance(monkeypatch, tmp_path, capsys, learned):
    solved = "1" * 20 + ("1" * 19 + "0" if learned else "11" + "0" * 18)
    Scripted(monkeypatch, [validation(0, solved, "1" * 20 + "0" * 20)])
    selector = CheckpointSelector(rows(2, 20), None, 50, 0.02, 16, str(tmp_path))
    selector.on_train_begin(
        ARGS, SimpleNamespace(global_step=0), SimpleNamespace(), model=torch.nn.Linear(2, 2)
    )
    warnings = [
        line for line in capsys.readouterr().err.splitlines() if line.startswith("thinkdial: warning")
    ]
    expected = (
        "thinkdial: warning: GRPO's start is no better than chance or a forced direct answer at 1 of 2 levels "
        f"(held-out accuracy: level 2 0.100, chance 0.100, direct 0.000, 20 rows): {ADVICE}"
    )
    assert warnings == ([] if learned else [expected])


def train(monkeypatch, tmp_path, results: list[Validation], max_steps: int = 3000):
    """Run a ConvergenceStop (validating every 100 steps, patience and decay 200 steps) through `results` on a
    model whose weight is the step; return (the callback, the step training stopped at, the weight left at
    the end, the learning rate of every step)."""
    Scripted(monkeypatch, results)
    stop = ConvergenceStop(rows(2, 20), None, 100, 200, 200, 16, str(tmp_path))
    model = torch.nn.Linear(1, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    control = SimpleNamespace(should_training_stop=False)
    stop.on_train_begin(ARGS, SimpleNamespace(global_step=0, max_steps=max_steps), control, model=model)
    step, rates = 0, []
    while not control.should_training_stop and step < max_steps:
        step += 1  # as the Trainer: update, scheduler step, then the callback
        with torch.no_grad():
            model.weight.fill_(step)
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
        state = SimpleNamespace(global_step=step, max_steps=max_steps)
        stop.on_step_end(ARGS, state, control, model=model, lr_scheduler=scheduler)
    stop.on_train_end(ARGS, SimpleNamespace(global_step=step, max_steps=max_steps), control, model=model)
    return stop, step, model.weight.item(), rates


AT_CHANCE = "0" * 40
LEVEL_1 = "1" * 20 + "0" * 20  # level 1 learned, level 2 at chance (0 of 20)


def test_a_plateau_decays_the_learning_rate_to_zero_then_stops_and_the_best_weights_are_kept(
    monkeypatch, tmp_path, capsys
):
    results = [
        validation(0, AT_CHANCE, AT_CHANCE),
        validation(100, LEVEL_1, AT_CHANCE),  # +20 rows: a significant gain
        validation(200, LEVEL_1[:-1] + "1", AT_CHANCE),  # +1 row: the most so far, not significant
        validation(300, LEVEL_1, AT_CHANCE),  # 200 steps since the last significant gain: the rate decays
        validation(400, LEVEL_1[:-1] + "1", AT_CHANCE),
        validation(500, LEVEL_1, AT_CHANCE),  # the end of the decay
    ]
    stop, stopped_at, weight, rates = train(monkeypatch, tmp_path, results)
    assert stopped_at == 500 and weight == 400.0  # the latest of the weights that solved the most rows
    assert (
        rates[:301] == [1.0] * 301 and rates[350] == pytest.approx(0.75) and rates[-1] == pytest.approx(0.005)
    )
    heldout = json.loads((tmp_path / "heldout.json").read_text())
    assert heldout["kept_step"] == 400 and heldout["stopped"] == (
        "no significant gain since step 100: learning rate decayed to 0 over steps 300-500"
    )
    assert [v["step"] for v in heldout["validations"]] == [0, 100, 200, 300, 400, 500]
    assert [heldout["levels"][lv]["accuracy"] for lv in ("1", "2")] == [1.0, 0.05]
    assert (
        "thinkdial: warning: the SFT start is no better than chance or a forced direct answer at 1 of 2 levels "
        f"(held-out accuracy: level 2 0.050, chance 0.100, direct 0.000, 20 rows): {ADVICE}"
    ) in capsys.readouterr().err.splitlines()


def test_a_plateau_at_chance_is_not_convergence(monkeypatch, tmp_path):
    # six validations at chance at every level: no decay however long; then every row solved at step 600
    results = [validation(100 * i, AT_CHANCE, AT_CHANCE) for i in range(6)] + [
        validation(600, "1" * 40, AT_CHANCE)
    ]
    stop, stopped_at, weight, rates = train(monkeypatch, tmp_path, results)
    assert stopped_at == 600 and weight == 600.0 and set(rates) == {1.0}
    assert stop.stopped == "every held-out row solved at step 600"


def test_the_rate_decays_before_the_cap_and_a_converged_start_prints_no_warning(
    monkeypatch, tmp_path, capsys
):
    # gains every validation up to the cap of 400 steps: the rate decays over its last 200
    results = [validation(0, AT_CHANCE, AT_CHANCE), validation(100, "1" * 10 + "0" * 30, AT_CHANCE)]
    results += [
        validation(200, "1" * 25 + "0" * 15, AT_CHANCE),
        validation(300, "1" * 33 + "0" * 7, AT_CHANCE),
    ]
    results += [validation(400, "1" * 39 + "0", AT_CHANCE)]
    stop, stopped_at, weight, rates = train(monkeypatch, tmp_path, results, max_steps=400)
    assert stopped_at == 400 and weight == 400.0 and rates[200:202] == pytest.approx([1.0, 0.995])
    assert stop.stopped == "max_steps (400): learning rate decayed to 0 over steps 200-400"
    assert "thinkdial: warning" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "values, message",
    [
        (
            ["--patience_steps", "50"],
            "patience_steps >= validate_every_steps and decay_steps >= 1; got 32, 100, 50, 400",
        ),
        (["--decay_steps", "0"], "decay_steps >= 1; got 32, 100, 500, 0"),
        (["--lr_scheduler_type", "polynomial"], "not 'polynomial'"),
    ],
)
def test_bad_convergence_settings_are_refused_with_the_fix(tmp_path, monkeypatch, values, message):
    from thinkdial.train.recipe import parse_recipe
    from thinkdial.train.sft import ThinkdialSFTConfig

    monkeypatch.chdir(ROOT)
    argv = ["--config", "configs/tiny/sft.yaml", "--output_dir", str(tmp_path / "run"), *values]
    with pytest.raises(UsageError, match=message):
        parse_recipe(ThinkdialSFTConfig, argv)


@pytest.mark.slow
def test_sft_holds_rows_out_writes_heldout_json_and_warns_about_a_start_at_chance(tmp_path):
    from conftest import SFT_ARGS, thinkdial

    out = tmp_path / "sft"
    args = [*SFT_ARGS, "--train_limit", "400", "--max_steps", "4", "--output_dir", str(out)]
    args += [
        "--stop_when_converged",
        "true",
        "--validation_rows_per_level",
        "2",
        "--validate_every_steps",
        "2",
    ]
    result = thinkdial("sft", *args, "--patience_steps", "2", "--decay_steps", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    heldout = json.loads((out / "heldout.json").read_text())
    assert [v["step"] for v in heldout["validations"]] == [0, 2, 4] and heldout["validation_rows"] == 16
    assert heldout["stopped"] == "max_steps (4): learning rate decayed to 0 over steps 2-4"
    assert all(f["at_chance"] for f in heldout["levels"].values())
    warnings = [line for line in result.stderr.splitlines() if line.startswith("thinkdial: warning: the SFT")]
    assert len(warnings) == 1 and "at 8 of 8 levels" in warnings[0] and warnings[0].endswith(ADVICE)

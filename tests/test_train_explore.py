"""AdaptThink-style exploration: a share of every GRPO group answers directly, through TRL's own generation."""

from __future__ import annotations

import pytest
from conftest import TINY_ARGS

from thinkdial.models import THINK_CLOSE, THINK_OPEN
from thinkdial.train.explore import DirectExploration


def test_the_first_rows_of_every_group_are_forced_whatever_the_process_offset(tiny_tokenizer):
    explore = DirectExploration(0.25, 8, tiny_tokenizer)  # 2 of every 8
    assert explore.forced(16, 0) == ([True] * 2 + [False] * 6) * 2
    assert explore.forced(8, 16) == [True] * 2 + [False] * 6  # the second process of two, 8 rows each
    assert DirectExploration(0.0, 8, tiny_tokenizer).forced(8, 0) == [False] * 8


def test_a_direct_answer_opens_and_closes_the_think_block_unless_the_prompt_opened_it(tiny_tokenizer):
    explore = DirectExploration(0.25, 8, tiny_tokenizer)
    ids = lambda text: tiny_tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    assert explore.head(ids("5:ABC=")) == ids(THINK_OPEN + THINK_CLOSE)
    assert explore.head(ids("5:ABC=" + THINK_OPEN)) == ids(THINK_CLOSE)


def test_out_of_range_shares_are_refused(tiny_tokenizer):
    with pytest.raises(ValueError):
        DirectExploration(1.0, 8, tiny_tokenizer)


@pytest.mark.slow
def test_grpo_with_exploration_generates_forced_direct_answers_and_trains(tmp_path, monkeypatch):
    from conftest import ROOT

    from thinkdial.train.grpo import ThinkdialGRPOConfig, build_trainer, grpo_dataset
    from thinkdial.train.recipe import load_model, parse_recipe, prepare_policy_files

    monkeypatch.chdir(ROOT)
    config = parse_recipe(
        ThinkdialGRPOConfig,
        [
            *TINY_ARGS,
            "--output_dir",
            str(tmp_path / "run"),
            "--max_steps",
            "1",
            "--direct_exploration",
            "0.5",
            "--select_checkpoint",
            "false",
        ],
    )
    model_path, tokenizer = prepare_policy_files(config)
    trainer = build_trainer(config, grpo_dataset(config), load_model(config, model_path), tokenizer)
    prompts = [p for p in trainer.train_dataset["prompt"][:2] for _ in range(4)]  # two groups of 4
    out = trainer.rollout_func(prompts, trainer)
    head = tokenizer(THINK_OPEN + THINK_CLOSE, add_special_tokens=False)["input_ids"]
    starts = [ids[: len(head)] == head for ids in out["completion_ids"]]
    assert starts[0] and starts[1] and starts[4] and starts[5]  # 2 of every group of 4
    assert all(len(ids) <= config.max_completion_length for ids in out["completion_ids"])
    assert out["prompt_ids"][0] == tokenizer(prompts[0], add_special_tokens=False)["input_ids"]
    trainer.train()  # one step end to end through TRL's loss with the forced rows
    assert trainer.state.global_step == 1

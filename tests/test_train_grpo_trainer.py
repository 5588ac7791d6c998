"""ThinkdialGRPOTrainer (train/grpo_trainer.py): dynamic sampling and the advantage baseline on a real tiny
trainer, the recipe checks of the published methods' fields, and the TRL 1.16 internals they and the
rollout's NaN log-probabilities rely on."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import trl
from conftest import ROOT, TINY_ARGS
from test_train_rollout import tiny_trainer

from thinkdial.errors import UsageError
from thinkdial.models import THINK_CLOSE, THINK_OPEN
from thinkdial.train.grpo import ThinkdialGRPOConfig
from thinkdial.train.recipe import parse_recipe


def test_the_trl_internals_the_trainer_and_rollout_rely_on_are_those_of_trl_1_16():
    """Fails when a TRL upgrade changes what ThinkdialGRPOTrainer replaces or how NaN log-probabilities
    are read: re-check train/grpo_trainer.py and train/rollout.py against the new TRL, then update this."""
    assert trl.__version__.startswith("1.16.")
    generate = inspect.getsource(trl.GRPOTrainer._generate_and_score_completions)
    for line in (
        "rewards_per_func = self._calculate_rewards(inputs, prompts, completions, completion_ids_list)",
        "advantages = advantages[process_slice]",
        '"completion_mask": completion_mask,',
        '"advantages": advantages,',
        '"num_items_in_batch": num_items_in_batch,',
        # the rollout's NaN log-probabilities: None -> NaN, then a NaN difference -> ratio exactly 1
        'torch.tensor([float("nan") if x is None else x for x in logps])',
        "per_token_logps_diff = torch.nan_to_num(per_token_logps_diff, nan=0.0)",
    ):
        assert line in generate, line
    assert "return rewards_per_func" in inspect.getsource(trl.GRPOTrainer._calculate_rewards)
    assert "rewards_per_func = gather(rewards_per_func)" in inspect.getsource(
        trl.GRPOTrainer._calculate_rewards
    )
    loss = inspect.getsource(trl.GRPOTrainer._compute_loss)
    for line in (
        'completion_ids, completion_mask = inputs["completion_ids"], inputs["completion_mask"]',
        'advantages = inputs["advantages"]',
        'normalizer = inputs["num_items_in_batch"].clamp(min=1.0) / self.accelerator.num_processes',
        'per_token_loss = per_token_loss * inputs["importance_sampling_ratio"]',
    ):
        assert line in loss, line


def scripted_rewards(monkeypatch, **columns: list[float]) -> None:
    """Make train_grpo score every batch with fixed rewards, one reward function per keyword (its name), the
    first weighted 1 and the others 0."""

    def reward(name, values):
        def score(prompts, completions, **kwargs):
            return list(values)

        score.__name__ = name
        return score

    funcs = [reward(name, values) for name, values in columns.items()]
    weights = [1.0] + [0.0] * (len(funcs) - 1)
    monkeypatch.setattr("thinkdial.train.grpo.build_reward_funcs", lambda config, tokenizer: (funcs, weights))


def two_groups(trainer) -> list[dict]:
    """Return a generation batch of two prompts x 4 completions, as TRL's sampler repeats them."""
    rows = trainer.train_dataset.to_list()[:2]
    return [rows[0]] * 4 + [rows[1]] * 4


@pytest.mark.slow
def test_dynamic_sampling_masks_the_groups_its_reward_finds_uninformative_and_trains(tmp_path, monkeypatch):
    # the total varies in both groups; correctness (DLER's deciding reward) only in the first
    scripted_rewards(monkeypatch, total=[1, 0, 1, 0, 1, 0, 0, 0], correctness=[1, 0, 1, 0, 1, 1, 1, 1])
    trainer, _ = tiny_trainer(
        tmp_path, monkeypatch, "--dynamic_sampling", "true", "--dynamic_sampling_reward", "correctness"
    )
    trainer.model.train()
    out = trainer._generate_and_score_completions(two_groups(trainer))
    # batch std over the kept rows 1, 0, 1, 0 only: sqrt(1 / 3) (TRL's, over all 8 rows, would be sqrt(1.5 / 7))
    a = 0.5 / (math.sqrt(1 / 3) + 1e-4)
    assert out["advantages"].tolist() == pytest.approx([a, -a, a, -a, 0, 0, 0, 0])
    lengths = out["completion_mask"].sum(dim=1)
    assert (lengths[:4] > 0).all() and (lengths[4:] == 0).all()
    assert out["num_items_in_batch"].item() == lengths.sum().item()
    assert trainer._metrics["train"]["dynamic_sampling/kept_groups"] == [0.5]
    trainer.train()  # one step end to end through TRL's loss with the masked rows
    assert trainer.state.global_step == 1


@pytest.mark.slow
def test_without_a_baseline_the_advantage_is_the_reward_itself(tmp_path, monkeypatch):
    rewards = [
        1.05,
        0.05,
        -0.5,
        0.5,
        0.25,
        0.25,
        0.25,
        0.25,
    ]  # AdaptThink: delta [no-think] + correct - R_ref
    scripted_rewards(monkeypatch, total=rewards)
    trainer, _ = tiny_trainer(
        tmp_path, monkeypatch, "--advantage_baseline", "none", "--scale_rewards", "none"
    )
    trainer.model.train()
    out = trainer._generate_and_score_completions(two_groups(trainer))
    assert out["advantages"].tolist() == pytest.approx(rewards)  # TRL: minus the group mean, 0 in group 2


@pytest.mark.slow
def test_trl_gives_a_forced_token_with_a_nan_sampling_logprob_an_importance_ratio_of_1(tmp_path, monkeypatch):
    """The vLLM path of TRL's importance-sampling correction, with thinkdial's rollout (direct exploration)
    and a scripted sampler: the forced `<think></think>` head gets ratio 1, sampled tokens pi_old / pi_sampler."""
    trainer, tokenizer = tiny_trainer(tmp_path, monkeypatch, "--direct_exploration", "0.5")
    answer = tokenizer("12", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    monkeypatch.setattr(
        trainer,
        "_generate_single_turn",
        lambda prompt_ids, *args: ([answer] * len(prompt_ids), [[-0.5] * len(answer)] * len(prompt_ids)),
    )
    trainer.use_vllm, trainer.vllm_importance_sampling_correction = True, True
    trainer.vllm_importance_sampling_mode = "token_truncate"  # per-token ratios, clamped above at 3
    trainer._last_loaded_step = trainer.state.global_step  # no vLLM weights to sync
    trainer.model.train()
    out = trainer._generate_and_score_completions(two_groups(trainer))
    head = tokenizer(THINK_OPEN + THINK_CLOSE, add_special_tokens=False)["input_ids"]
    forced = [0, 1, 4, 5]  # direct_exploration 0.5 of groups of 4
    assert all(out["completion_ids"][i, :2].tolist() == head for i in forced)
    ratio, old = out["importance_sampling_ratio"], out["old_per_token_logps"]
    assert ratio[forced, :2].tolist() == [[1.0, 1.0]] * 4
    # reported as log-probability 0 instead, the head would weigh pi_old(head) (a random model: ~1 / vocab)
    assert (old[forced, :2] < math.log(0.5)).all()
    sampled = torch.clamp(torch.exp(old[forced, 2:5] + 0.5), max=3.0)
    assert ratio[forced, 2:5] == pytest.approx(sampled)


@pytest.mark.parametrize(
    "args, fix",
    [
        (["--elastic_thinking_tokens", "4"], "set both, or neither"),
        (["--elastic_thinking_tokens", "8", "--elastic_solution_tokens", "4"], "at least 13"),
        (
            [
                *("--elastic_thinking_tokens", "4", "--elastic_solution_tokens", "4"),
                *("--budget_constrained_rollouts", "true"),
            ],
            "budget_constrained_rollouts false",
        ),
        (["--advantage_baseline", "mean"], "one of ('group', 'none')"),
        (["--advantage_baseline", "none"], "scale_rewards: none"),
        (
            ["--dynamic_sampling", "true", "--dynamic_sampling_reward", "truncation"],
            "['correctness', 'format']",
        ),
        (["--dynamic_sampling_reward", "correctness"], "set dynamic_sampling true"),
    ],
)
def test_bad_method_fields_are_refused_with_the_fix(args, fix, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(UsageError) as refused:
        parse_recipe(ThinkdialGRPOConfig, [*TINY_ARGS, *args])
    assert fix in str(refused.value)

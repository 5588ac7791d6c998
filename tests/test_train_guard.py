"""The training health guard: quiet while training helps, one loud line when it destroys the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thinkdial.train.guard import GuardSettings, HealthGuard


def logs(accuracy, level_accuracy=None, level_tokens=None, entropy=0.5, think_rate=1.0):
    """One log event of the reward metrics: overall accuracy, and level 5's accuracy and tokens."""
    out = {"accuracy": accuracy, "think_rate": think_rate, "reasoning_tokens": 10.0, "entropy": entropy}
    if level_accuracy is not None:
        out.update(
            {
                "level_5/accuracy": level_accuracy,
                "level_5/reasoning_tokens": level_tokens,
                "level_5/think_rate": think_rate,
            }
        )
    return out


def feed(events, **settings):
    """Feed (step, logs) events to a fresh guard; return it and the verdicts it gave."""
    guard = HealthGuard(GuardSettings(**settings))
    verdicts = [guard.observe(step, event) for step, event in events]
    return guard, [v for v in verdicts if v is not None]


def test_steady_or_improving_training_stays_quiet():
    events = [(10 * i, logs(0.5 + 0.02 * i, 0.4 + 0.03 * i, 14.0)) for i in range(1, 30)]
    guard, verdicts = feed(events)
    assert verdicts and not any(v.tripped for v in verdicts) and guard.tripped_at is None


def test_fewer_reasoning_tokens_at_unchanged_accuracy_is_healthy():
    # the adaptive shift: verbose traces become minimal ones, accuracy kept
    events = [(10, logs(0.9, 0.9, 32.0)), (20, logs(0.9, 0.9, 32.0))] + [
        (10 * i, logs(0.9, 0.89, 8.0)) for i in range(3, 12)
    ]
    assert not any(v.tripped for v in feed(events)[1])


def test_falling_accuracy_trips_after_a_full_window_with_the_numbers():
    events = [
        (10, logs(0.10)),
        (20, logs(0.10)),
        (30, logs(0.02, entropy=0.1)),
        (40, logs(0.01, entropy=0.1)),
    ]
    guard, verdicts = feed(events)
    assert guard.tripped_at == 40 and len(verdicts) == 1
    line = verdicts[0].line("run/checkpoint-20")
    assert "batch accuracy 0.100 -> 0.015" in line and "entropy 0.500 -> 0.100" in line
    assert "checkpoint-20" in line


def test_reasoning_collapse_on_a_level_whose_accuracy_falls_trips():
    events = [
        (10, logs(0.6, 0.40, 13.9)),
        (20, logs(0.6, 0.40, 13.9)),
        (30, logs(0.58, 0.10, 4.6, think_rate=0.3)),
        (40, logs(0.58, 0.12, 4.6, think_rate=0.3)),
    ]
    guard, verdicts = feed(events)
    assert guard.tripped_at == 40
    assert any(
        "level 5: accuracy 0.400 -> 0.110, reasoning 13.9 -> 4.6 tokens, think rate" in r
        for r in verdicts[-1].reasons
    )


def test_a_single_noisy_log_does_not_trip():
    events = [(10, logs(0.5)), (20, logs(0.5)), (30, logs(0.40)), (40, logs(0.52)), (50, logs(0.5))]
    assert not any(v.tripped for v in feed(events)[1])


def test_logs_without_reward_metrics_are_ignored():
    guard, verdicts = feed([(10, {"loss": 1.0}), (20, {"loss": 0.5})])
    assert verdicts == [] and guard.baseline == []


def test_a_weak_start_that_loses_most_of_its_little_accuracy_trips():
    events = [(10, logs(0.053)), (20, logs(0.053)), (30, logs(0.02)), (40, logs(0.018))]
    assert feed(events)[0].tripped_at == 40
    steady = [(10, logs(0.053)), (20, logs(0.053)), (30, logs(0.045)), (40, logs(0.06))]
    assert feed(steady)[0].tripped_at is None


COLLAPSE_WITHIN_STEPS = 60  # the guard's promise on this run: it trips within 60 optimizer steps


@pytest.mark.slow
def test_a_reward_paying_only_shortness_on_a_start_that_needs_reasoning_trips_the_guard_and_stops(tmp_path):
    from conftest import thinkdial

    data = tmp_path / "data.yaml"  # levels 2-4 of permchain need their chain: direct answers are near chance
    data.write_text(
        "source: permchain\nlevels: [1, 2, 3, 4]\ntrain_rows: 6000\nreasoning_styles: {minimal: 1.0}\n"
    )
    rewards = tmp_path / "short.yaml"  # overlong with a 1-token limit: -1 for any reasoning, 0 for none
    rewards.write_text(
        "rewards:\n  - {name: overlong, weight: 1.0, params: {max_tokens: 1, buffer_tokens: 1}}\n"
    )
    sft, grpo = tmp_path / "sft", tmp_path / "grpo"
    result = thinkdial(
        "sft",
        "--config",
        "configs/demo/sft.yaml",
        "--data_config",
        str(data),
        "--output_dir",
        str(sft),
        "--max_steps",
        "250",
        "--per_device_train_batch_size",
        "64",
        "--warmup_steps",
        "10",
        "--logging_steps",
        "50",
        "--disable_tqdm",
        "true",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    result = thinkdial(
        "grpo",
        "--config",
        "configs/tiny/grpo.yaml",
        "--model_name_or_path",
        str(sft),
        "--data_config",
        str(data),
        "--reward_config",
        str(rewards),
        "--output_dir",
        str(grpo),
        "--max_steps",
        "200",
        "--logging_steps",
        "5",
        "--guard_baseline_steps",
        "10",
        "--stop_on_collapse",
        "true",
        "--save_strategy",
        "steps",
        "--save_steps",
        "10",
        "--disable_tqdm",
        "true",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    health = json.loads((grpo / "health.json").read_text())
    assert health["tripped_at_step"] is not None and health["tripped_at_step"] <= COLLAPSE_WITHIN_STEPS, (
        health
    )
    assert health["numbers"]["accuracy"]["now"] < health["numbers"]["accuracy"]["baseline"]
    assert "HEALTH GUARD at step" in result.stderr
    saved = [int(p.name.split("-")[1]) for p in grpo.glob("checkpoint-*")]
    assert saved and max(saved) <= health["tripped_at_step"]  # stopped there, not trained on to step 200
    assert health["last_healthy_checkpoint"] and Path(health["last_healthy_checkpoint"]).is_dir()
    # checkpoint selection saved weights from before the collapse: later steps lose the start's rows
    selection = json.loads((grpo / "selection.json").read_text())
    assert selection["kept_step"] < health["tripped_at_step"]
    assert not selection["validations"][-1]["kept"], selection["validations"][-1]


def test_a_level_fall_within_sampling_noise_does_not_trip():
    def level_logs(acc, tokens, n):
        return {**logs(0.8, acc, tokens), "completions": 64.0, "level_5/completions": n}

    # 8 completions a step (one prompt, a group of 8), 10 steps a log event: 20 prompts behind each side;
    # 0.74 -> 0.60 is 0.9 standard errors; counted in completions (160 a side) it was 2.6 and tripped, as
    # on both demo seeds before prompts were the unit
    noisy = [
        (10, level_logs(0.74, 5.8, 8.0)),
        (20, level_logs(0.74, 5.8, 8.0)),
        (30, level_logs(0.60, 2.6, 8.0)),
        (40, level_logs(0.60, 2.6, 8.0)),
    ]
    assert feed(noisy, steps_per_log=10, completions_per_prompt=8)[0].tripped_at is None
    assert feed(noisy, steps_per_log=10, completions_per_prompt=1)[0].tripped_at == 40
    # the same fall behind 8 prompts a step is real
    many = [(step, {**event, "level_5/completions": 64.0}) for step, event in noisy]
    assert feed(many, steps_per_log=10, completions_per_prompt=8)[0].tripped_at == 40

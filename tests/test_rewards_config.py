"""Reward configs: shipped configs load; every user mistake is one clear line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from thinkdial.errors import UsageError
from thinkdial.rewards.config import RewardConfigError, load_reward_config, parse_reward_config
from thinkdial.rewards.registry import build_reward_funcs

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs" / "rewards").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs_load_and_build(path, tiny_tokenizer):
    config = load_reward_config(path)
    funcs, weights = build_reward_funcs(config, tiny_tokenizer)
    assert [f.__name__ for f in funcs] == [c.name for c in config.components]
    assert weights == [c.weight for c in config.components]


def test_required_configs_shipped():
    names = {p.stem for p in CONFIGS}
    assert {
        "correct_only",
        "kimi",
        "cosine",
        "efficiency",
        "solve_rate",
        "shortest_correct",
        "target_length",
        "adaptive",
    } <= names


@pytest.mark.parametrize(
    "item, message",
    [
        (
            {"name": "kimmi"},
            r"rewards\[0\] \(kimmi\): unknown reward 'kimmi'; choose one of: constrained_no_think, correctness, cosine",
        ),
        (
            {"name": "solve_rate", "params": {"betta": 1, "max_tokens": 8}},
            r"unknown param 'betta'; accepted: max_tokens, beta",
        ),
        (
            {"name": "solve_rate", "params": {"beta": -1, "max_tokens": 8}},
            r"param 'beta' must be >= 0.0, got -1",
        ),
        ({"name": "solve_rate", "params": {"beta": 0.5}}, r"missing required param 'max_tokens'"),
        ({"name": "solve_rate", "params": {"max_tokens": 0}}, r"param 'max_tokens' must be > 0, got 0"),
        ({"name": "solve_rate", "params": {"max_tokens": 8.5}}, r"param 'max_tokens' must be int, got 8.5"),
        (
            {"name": "solve_rate", "params": {"max_tokens": 8, "ema_decay": 0.5}},
            r"set history: ema or drop ema_decay",
        ),
        ({"name": "efficiency", "params": {"alpha": 2}}, r"param 'alpha' must be >= 0.0 and <= 1.0, got 2"),
        (
            {"name": "cosine", "params": {"max_tokens": 8, "min_value_correct": 2}},
            r"'min_value_correct' \(2.0\) must be <=",
        ),
        (
            {"name": "overlong", "params": {"max_tokens": 8, "buffer_tokens": 9}},
            r"'buffer_tokens' must be > 0 and <= 8",
        ),
        ({"name": "target_length", "params": {"delta": 0.5}}, r"set mode: max or drop delta"),
        ({"name": "target_length", "params": {"mode": "min"}}, r"param 'mode' must be 'exact' or 'max'"),
        (
            {"name": "format", "wieght": 1},
            r"unknown key 'wieght'; accepted: name, weight, params, warmup_steps",
        ),
        ({"name": "format", "weight": "high"}, r"weight must be a finite number"),
        ({"name": "format", "warmup_steps": -1}, r"warmup_steps must be an int >= 0"),
        ({"name": "format", "params": {"x": 1}}, r"unknown param 'x'; accepted: none"),
    ],
)
def test_bad_component_is_one_clear_line(item, message):
    with pytest.raises(RewardConfigError, match=message) as info:
        parse_reward_config({"rewards": [item]}, "r.yaml")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"reward": []}, "expected a mapping with a 'rewards' list"),
        ({"rewards": []}, "needs at least one component"),
        ({"rewards": [{"name": "format"}], "extra": 1}, "unknown top-level key 'extra'"),
        ({"rewards": [{"name": "format"}, {"name": "format"}]}, "reward 'format' is listed twice"),
        ({"rewards": ["format"]}, r"rewards\[0\]: expected a mapping with a 'name'"),
    ],
)
def test_bad_config_shape(data, message):
    with pytest.raises(RewardConfigError, match=message):
        parse_reward_config(data)


def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rewards: [ {name: format\n")
    with pytest.raises(RewardConfigError, match="invalid YAML at line"):
        load_reward_config(bad)
    with pytest.raises(UsageError, match="reward config not found"):
        load_reward_config(tmp_path / "none.yaml")

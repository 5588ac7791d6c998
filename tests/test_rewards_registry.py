"""The reward registry: one-way `@register`, params checked against real type hints, users' rewards by
import path, and thinkdial's rewards in a plain TRL GRPOTrainer script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest
from conftest import ROOT

from thinkdial.rewards import Reward, build_reward_funcs, parse_reward_config
from thinkdial.rewards.config import RewardConfigError
from thinkdial.rewards.registry import REWARDS, make_params, register

# A user's module, written without `from __future__ import annotations` (its dataclass fields hold real types).
USER_MODULE = '''
from dataclasses import dataclass

from thinkdial.rewards import Reward


@dataclass
class ShortParams:
    scale: float = 1.0
    squared: bool = False
    unit: str | None = None


class ShortReward(Reward):
    """`user_short`: minus the reasoning tokens, times `scale` (squared with `squared`)."""

    name = "user_short"
    Params = ShortParams
    needs_answer = False

    def row(self, batch, i):
        n = batch.reasoning_tokens[i]
        return -self.params.scale * (n * n if self.params.squared else n)


def starts_with_think(prompts, completions, **kwargs):
    return [float(c.startswith("<think>")) for c in completions]


NOT_A_REWARD = 3


class NotAReward:
    pass
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Return the import name of USER_MODULE, importable for this test only."""
    name = "thinkdial_test_user_rewards"
    (tmp_path / f"{name}.py").write_text(USER_MODULE)
    (tmp_path / "needs_missing_dep.py").write_text("import thinkdial_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in (name, "needs_missing_dep"):
        sys.modules.pop(module, None)


def config_of(*components: dict):
    return parse_reward_config({"rewards": list(components)}, "r.yaml")


@dataclass
class FlagParams:
    flag: bool = False
    weights: list[float] | None = None


class FlagReward(Reward):
    """`flagged`: 1 when `flag` is set, else 0."""

    name = "flagged"
    Params = FlagParams
    needs_answer = False

    def row(self, batch, i):
        return float(self.params.flag)


def test_params_are_checked_against_real_type_hints(monkeypatch):
    monkeypatch.setitem(REWARDS, "flagged", FlagReward)
    assert make_params("flagged", {"flag": True, "weights": [1, 0.5]}) == FlagParams(
        flag=True, weights=[1, 0.5]
    )
    with pytest.raises(ValueError, match=r"param 'flag' must be bool, got 1"):
        make_params("flagged", {"flag": 1})
    with pytest.raises(ValueError, match=r"param 'weights' must be list\[float\] \| None, got \['a'\]"):
        make_params("flagged", {"weights": ["a"]})
    with pytest.raises(ValueError, match=r"param 'max_tokens' must be int, got True"):
        make_params("solve_rate", {"max_tokens": True})
    assert make_params("solve_rate", {"max_tokens": 8, "beta": 1}).beta == 1.0  # YAML's 1 is the float 1.0
    assert isinstance(make_params("solve_rate", {"max_tokens": 8, "beta": 1}).beta, float)


def test_a_users_reward_class_and_plain_function_by_import_path(user_module, tiny_tokenizer):
    config = config_of(
        {"name": f"{user_module}:starts_with_think", "weight": 0.5},
        {"name": f"{user_module}:ShortReward", "params": {"scale": 2, "squared": True}},
    )
    funcs, weights = build_reward_funcs(config, tiny_tokenizer)
    assert [f.__name__ for f in funcs] == ["starts_with_think", "user_short"] and weights == [0.5, 1.0]
    completions = ["<think>abc</think>1", "x</think>2"]
    assert funcs[0](prompts=["p", "p"], completions=completions) == [1.0, 0.0]
    assert funcs[1](prompts=["p", "p"], completions=completions) == [-18.0, -2.0]


@pytest.mark.parametrize(
    "component, message",
    [
        (
            {"name": "thinkdial_no_such_pkg.rewards:R"},
            "module 'thinkdial_no_such_pkg.rewards' not found; install it",
        ),
        (
            {"name": "needs_missing_dep:R"},
            "importing module 'needs_missing_dep' failed: No module named 'thinkdial_no_such_dependency'",
        ),
        ({"name": "USER:Missing"}, "module 'USER' has no attribute 'Missing'"),
        (
            {"name": "USER:NOT_A_REWARD"},
            "NOT_A_REWARD is not a reward: expected a Reward subclass or a TRL reward "
            "function fn(prompts, completions, **kwargs), got int",
        ),
        ({"name": "USER:NotAReward"}, "NotAReward is not a reward"),
        ({"name": "USER:"}, "expected module:attribute, e.g. my_pkg.rewards:MyReward"),
        (
            {"name": "USER:starts_with_think", "params": {"x": 1}},
            "is a plain function: it takes no params or warmup_steps",
        ),
        ({"name": "USER:starts_with_think", "warmup_steps": 5}, "is a plain function"),
        (
            {"name": "USER:ShortReward", "params": {"squared": "yes"}},
            "param 'squared' must be bool, got 'yes'",
        ),
        ({"name": "USER:ShortReward", "params": {"unit": 3}}, "param 'unit' must be str | None, got 3"),
    ],
)
def test_a_bad_import_path_is_one_clear_line(user_module, component, message):
    component = {**component, "name": component["name"].replace("USER", user_module)}
    with pytest.raises(RewardConfigError) as info:
        config_of(component)
    text = str(info.value)
    assert text.startswith(f"r.yaml: rewards[0] ({component['name']}): ") and "\n" not in text
    assert message.replace("USER", user_module) in text


def test_register_is_one_way_and_refuses_duplicates_and_non_rewards():
    class Again(Reward):
        name = "kimi"

    class Pathlike(Reward):
        name = "a:b"

    with pytest.raises(ValueError, match="reward 'kimi' is already registered"):
        register(Again)
    with pytest.raises(ValueError, match="expected a Reward subclass"):
        register(FlagParams)
    with pytest.raises(ValueError, match="must not contain ':'"):
        register(Pathlike)
    assert REWARDS["kimi"] is not Again and "a:b" not in REWARDS
    assert {
        "correctness",
        "format",
        "kimi",
        "cosine",
        "efficiency",
        "solve_rate",
        "shortest_correct",
        "target_length",
        "overlong",
        "no_think_bonus",
    } <= set(REWARDS)


@pytest.mark.slow
def test_thinkdials_rewards_train_in_a_plain_trl_grpo_script(tmp_path, user_module):
    config = tmp_path / "rewards.yaml"
    config.write_text(
        "rewards:\n  - {name: correctness}\n  - {name: solve_rate, params: {max_tokens: 8}}\n"
        f"  - {{name: '{user_module}:starts_with_think', weight: 0.5}}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "docs/examples/plain_trl_grpo.py",
            "--out",
            str(tmp_path / "run"),
            "--reward-config",
            str(config),
            "--steps",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    logs = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"')]
    steps = [log for log in logs if "loss" in log]
    assert [log["step"] for log in steps] == [1, 2]
    for log in steps:
        assert {
            "rewards/correctness/mean",
            "rewards/solve_rate/mean",
            "rewards/starts_with_think/mean",
        } <= set(log)
        assert any(key.startswith("level_") and key.endswith("/accuracy") for key in log)

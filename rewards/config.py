"""Reward configs: YAML listing weighted components, validated before any model loads.

rewards:
  - {name: correctness, weight: 1.0}
  - {name: solve_rate, weight: 1.0, params: {beta: 0.5, max_tokens: 64}, warmup_steps: 20}
  - {name: my_pkg.rewards:MyReward, weight: 0.5}   # a user's own reward, by import path (rewards/registry.py)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path

from thinkdial.errors import UsageError
from thinkdial.io import read_yaml_mapping
from thinkdial.rewards.registry import make_params


class RewardConfigError(UsageError):
    """A reward config is invalid; the one-line message names the file, the component and the key."""


@dataclass
class RewardComponent:
    """One weighted reward component of a config."""

    name: str = field(
        metadata={
            "help": "Registered reward name (e.g. correctness, solve_rate), or a user's own "
            "reward by import path, module:attribute (a Reward subclass or a plain "
            "TRL reward function)."
        }
    )
    weight: float = field(
        default=1.0, metadata={"help": "Weight in the summed reward (GRPOConfig.reward_weights)."}
    )
    params: dict = field(default_factory=dict, metadata={"help": "The component's parameters."})
    warmup_steps: int = field(
        default=0, metadata={"help": "Optimizer steps over which the output ramps from 0."}
    )

    def __post_init__(self):
        if (
            isinstance(self.weight, bool)
            or not isinstance(self.weight, (int, float))
            or not math.isfinite(self.weight)
        ):
            raise UsageError(f"weight must be a finite number, got {self.weight!r}")
        if (
            isinstance(self.warmup_steps, bool)
            or not isinstance(self.warmup_steps, int)
            or self.warmup_steps < 0
        ):
            raise UsageError(f"warmup_steps must be an int >= 0, got {self.warmup_steps!r}")
        if not isinstance(self.params, dict):
            raise UsageError(f"params must be a mapping, got {self.params!r}")
        make_params(self.name, self.params, self.warmup_steps)


@dataclass
class RewardConfig:
    """The weighted reward components of a GRPO run."""

    components: list[RewardComponent] = field(metadata={"help": "Components, in TRL's reward order."})

    def __post_init__(self):
        if not self.components:
            raise UsageError("a reward config needs at least one component under 'rewards'")
        names = [c.name for c in self.components]
        for name in names:
            if names.count(name) > 1:
                raise UsageError(
                    f"reward '{name}' is listed twice (TRL logs rewards by name); merge the entries"
                )


_COMPONENT_KEYS = [f.name for f in fields(RewardComponent)]


def parse_reward_config(data, source: str = "<reward config>") -> RewardConfig:
    """Return the validated `RewardConfig` of a parsed YAML mapping `{rewards: [...]}`."""
    if not isinstance(data, dict) or "rewards" not in data:
        raise RewardConfigError(f"{source}: expected a mapping with a 'rewards' list")
    unknown = sorted(set(data) - {"rewards"})
    if unknown:
        raise RewardConfigError(f"{source}: unknown top-level key '{unknown[0]}'; accepted: rewards")
    if not isinstance(data["rewards"], list):
        raise RewardConfigError(f"{source}: 'rewards' must be a list of components")
    components = []
    for i, item in enumerate(data["rewards"]):
        where = f"{source}: rewards[{i}]"
        if not isinstance(item, dict) or "name" not in item:
            raise RewardConfigError(f"{where}: expected a mapping with a 'name', got {item!r}")
        where += f" ({item['name']})"
        bad = [k for k in item if k not in _COMPONENT_KEYS]
        if bad:
            raise RewardConfigError(
                f"{where}: unknown key '{bad[0]}'; accepted: {', '.join(_COMPONENT_KEYS)}"
            )
        try:
            components.append(RewardComponent(**{**item, "params": item.get("params") or {}}))
        except ValueError as err:
            raise RewardConfigError(f"{where}: {err}") from err
    try:
        return RewardConfig(components=components)
    except ValueError as err:
        raise RewardConfigError(f"{source}: {err}") from err


def load_reward_config(path: str | Path) -> RewardConfig:
    """Return the validated `RewardConfig` read from the YAML file at `path`."""
    try:
        data = read_yaml_mapping(path, "reward config")
    except ValueError as err:
        raise RewardConfigError(str(err)) from None
    return parse_reward_config(data, str(path))

"""Reward registry (name -> component factory) and `build_reward_funcs` for TRL's GRPOTrainer."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from thinkdial.rewards.base import Reward
from thinkdial.rewards.length import (
    CosineReward,
    EfficiencyReward,
    KimiReward,
    OverlongReward,
    ShortestCorrectReward,
    SolveRateReward,
    TargetLengthReward,
)
from thinkdial.rewards.outcome import CorrectnessReward, FormatReward, NoThinkBonusReward

from thinkdial.errors import UsageError

if TYPE_CHECKING:
    from thinkdial.rewards.config import RewardConfig

REWARDS: dict[str, type[Reward]] = {}


def register_reward(cls: type[Reward]) -> type[Reward]:
    """Register a `Reward` subclass under its `name`; return it. A name can be registered once."""
    if cls.name in REWARDS:
        raise ValueError(f"reward '{cls.name}' is already registered (by {REWARDS[cls.name].__qualname__})")
    REWARDS[cls.name] = cls
    return cls


for _cls in (CorrectnessReward, FormatReward, KimiReward, CosineReward, EfficiencyReward, SolveRateReward,
             ShortestCorrectReward, TargetLengthReward, OverlongReward, NoThinkBonusReward):
    register_reward(_cls)


def reward_class(name: str) -> type[Reward]:
    """Return the registered component class `name`; an unknown name is an error listing the choices."""
    if name not in REWARDS:
        raise UsageError(f"unknown reward '{name}'; choose one of: {', '.join(sorted(REWARDS))}")
    return REWARDS[name]


_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "None": (type(None),)}


def make_params(name: str, params: dict):
    """Return the validated `Params` dataclass of component `name` built from `params`."""
    params_cls = reward_class(name).Params
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    for key, value in params.items():
        if key not in fields:
            accepted = ", ".join(fields) or "none"
            raise UsageError(f"unknown param '{key}'; accepted: {accepted}")
        allowed = tuple(t for part in str(fields[key].type).split("|") for t in _TYPES[part.strip()])
        if isinstance(value, bool) or not isinstance(value, allowed) or (
                isinstance(value, float) and not math.isfinite(value)):
            raise UsageError(f"param '{key}' must be {fields[key].type}, got {value!r}")
    # YAML writes 1 for 1.0: float params are floats, so rewards are floats
    params = {k: float(v) if "float" in str(fields[k].type) and isinstance(v, int) else v for k, v in params.items()}
    for key, f in fields.items():
        if key not in params and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise UsageError(f"missing required param '{key}'")
    return params_cls(**params)


def get_reward(name: str, tokenizer, params: dict | None = None, warmup_steps: int = 0,
               log_levels: bool = False) -> Reward:
    """Return a TRL reward callable for component `name` (its `__name__` is `name`)."""
    return reward_class(name)(tokenizer, make_params(name, params or {}), warmup_steps=warmup_steps,
                              log_levels=log_levels)


def build_reward_funcs(config: RewardConfig, tokenizer) -> tuple[list[Reward], list[float]]:
    """Return the reward callables of `config` and their weights (for `GRPOConfig.reward_weights`).

    The first component also logs per-difficulty-level metrics (`level_<k>/reasoning_tokens`,
    `level_<k>/accuracy`) through TRL's `log_metric`, so no extra component is needed for them.
    """
    funcs = [get_reward(c.name, tokenizer, c.params, warmup_steps=c.warmup_steps, log_levels=(i == 0))
             for i, c in enumerate(config.components)]
    return funcs, [float(c.weight) for c in config.components]

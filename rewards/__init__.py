"""thinkdial rewards: correctness, format and length-aware reward components for TRL's GRPOTrainer.

From any TRL script (no thinkdial trainer needed):

    from thinkdial.rewards import build_reward_funcs, load_reward_config

    funcs, weights = build_reward_funcs(load_reward_config("configs/rewards/adaptive.yaml"), tokenizer)
    funcs, weights = [*funcs, BatchMetrics(tokenizer)], [*weights, 0.0]  # per-level metrics, not a reward
    trainer = GRPOTrainer(model=..., reward_funcs=funcs, args=GRPOConfig(..., reward_weights=weights), ...)

Importing the package registers the built-in components (`outcome`, `length`, `methods`) in `registry.REWARDS`.
"""

from thinkdial.rewards import length, methods, outcome  # noqa: F401  (their @register decorators fill the registry)
from thinkdial.rewards.base import Reward
from thinkdial.rewards.config import RewardConfig, RewardConfigError, load_reward_config, parse_reward_config
from thinkdial.rewards.metrics import BatchMetrics
from thinkdial.rewards.registry import REWARDS, build_reward_funcs, get_reward, register

__all__ = [
    "REWARDS",
    "BatchMetrics",
    "Reward",
    "RewardConfig",
    "RewardConfigError",
    "build_reward_funcs",
    "get_reward",
    "load_reward_config",
    "parse_reward_config",
    "register",
]

"""Dynamic sampling (DAPO, Yu et al. 2025, arXiv 2503.14476; DLER's `filter_groups`): leave out the groups
whose completions all earn the same reward.

Such a group has advantage 0 on every row under GRPO's group baseline, so it teaches nothing, yet its tokens
still count in the loss normaliser (`loss_type: dapo`) and, with `scale_rewards: batch`, its rows shrink the
batch std. DAPO keeps generating prompts until the batch holds enough informative groups (NVlabs/DLER
verl-dler/recipe/dapo/dapo_ray_trainer.py, `filter_groups`); TRL generates a fixed batch, so here the same
groups are left out of the loss instead (train/grpo_trainer.py, docs/methods.md).

Rewards are one per completion, a group's `group_size` completions consecutive (TRL's order); NaN marks a
completion no reward could score (TRL's unscorable rows): it is left out of its group's statistics and gets
advantage 0, as in TRL.
"""

from __future__ import annotations

import math

STD_EPSILON = 1e-4  # TRL adds it to the std before dividing
SCALE_REWARDS = ("group", "batch", "none")


def _groups(rewards: list[float], group_size: int) -> list[list[float]]:
    if group_size < 1 or len(rewards) % group_size:
        raise ValueError(f"{len(rewards)} rewards do not split into groups of {group_size}")
    return [rewards[i : i + group_size] for i in range(0, len(rewards), group_size)]


def _scored(values: list[float]) -> list[float]:
    return [v for v in values if not math.isnan(v)]


def informative_groups(rewards: list[float], group_size: int) -> list[bool]:
    """Return, per group of `group_size` consecutive rewards, whether its scored rewards differ (DAPO keeps a
    group whose reward std is above 0)."""
    return [
        len(scored) > 1 and max(scored) > min(scored) for scored in map(_scored, _groups(rewards, group_size))
    ]


def kept_rows(rewards: list[float], group_size: int) -> list[bool]:
    """Return, per row, whether its group is informative (the loss mask of dynamic sampling)."""
    return [keep for keep in informative_groups(rewards, group_size) for _ in range(group_size)]


def _std(values: list[float]) -> float:
    """Return the Bessel-corrected standard deviation (TRL's), 0 below two values."""
    if len(values) < 2:
        return 0.0
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def filtered_advantages(
    rewards: list[float], group_size: int, scale_rewards: str = "batch", keep: list[bool] | None = None
) -> list[float]:
    """Return GRPO's advantage of every row with the uninformative groups left out: reward minus its group's
    mean, divided by (the group's std for 'group', the std of the kept rows for 'batch', + 1e-4) unless
    'none'; 0 on the rows of a left-out group and on unscored rows. `keep` (one flag per group) says which
    groups stay when another reward decides (DLER's `seq_reward`); by default `informative_groups(rewards)`."""
    if scale_rewards not in SCALE_REWARDS:
        raise ValueError(f"scale_rewards must be one of {SCALE_REWARDS}, got {scale_rewards!r}")
    groups = _groups(rewards, group_size)
    keep = informative_groups(rewards, group_size) if keep is None else keep
    if len(keep) != len(groups):
        raise ValueError(f"keep has {len(keep)} flags for {len(groups)} groups")
    batch_std = _std([r for group, k in zip(groups, keep, strict=True) if k for r in _scored(group)])
    out = []
    for group, k in zip(groups, keep, strict=True):
        scored = _scored(group)
        mean = math.fsum(scored) / len(scored) if scored else 0.0
        std = {"group": _std(scored), "batch": batch_std, "none": None}[scale_rewards]
        for r in group:
            centred = r - mean if k and not math.isnan(r) else 0.0
            out.append(centred if std is None else centred / (std + STD_EPSILON))
    return out

"""Exact group statistics: a group is the completions of one prompt, gathered over all processes.

TRL splits the completions of one prompt over several processes and calls each reward on the local
slice only. Every statistic here is computed on the rows of *all* processes (gathered with
accelerate's `gather_object` when more than one process runs), and with `math.fsum`, so the result
does not depend on how the rows were split or ordered.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class GroupStats:
    """Statistics of one prompt's completions over all processes; lengths are reasoning tokens."""

    size: int
    num_correct: int
    shortest_tokens: int
    longest_tokens: int
    mean_tokens: float
    shortest_correct_tokens: int | None  # None when no completion of the group is correct
    mean_correct_tokens: float | None
    std_correct_tokens: float | None  # population standard deviation

    @property
    def solve_rate(self) -> float:
        """Return the fraction of the group's completions that are correct."""
        return self.num_correct / self.size


def gather_rows(rows: list) -> list:
    """Return the rows of every process concatenated in process order (the local rows on one process)."""
    dist = sys.modules.get("torch.distributed")  # never imported: no process group (and no torch import here)
    if dist is None or not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return rows
    from accelerate.utils import gather_object

    return gather_object(rows)


def _mean_std(values: list[int]) -> tuple[float, float]:
    mean = math.fsum(values) / len(values)
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def group_stats(keys: list[str], tokens: list[int], correct: list[bool | None]) -> dict[str, GroupStats]:
    """Return the `GroupStats` of each key over rows (key, reasoning tokens, correct); None counts as wrong."""
    members: dict[str, tuple[list[int], list[int]]] = {}
    for key, n, ok in zip(keys, tokens, correct, strict=True):
        all_tokens, correct_tokens = members.setdefault(key, ([], []))
        all_tokens.append(n)
        if ok:
            correct_tokens.append(n)
    stats = {}
    for key, (all_tokens, correct_tokens) in members.items():
        mean_c, std_c = _mean_std(correct_tokens) if correct_tokens else (None, None)
        stats[key] = GroupStats(
            size=len(all_tokens),
            num_correct=len(correct_tokens),
            shortest_tokens=min(all_tokens),
            longest_tokens=max(all_tokens),
            mean_tokens=math.fsum(all_tokens) / len(all_tokens),
            shortest_correct_tokens=min(correct_tokens) if correct_tokens else None,
            mean_correct_tokens=mean_c,
            std_correct_tokens=std_c,
        )
    return stats

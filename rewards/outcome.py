"""Outcome rewards: correctness, format and the no-think bonus."""

from __future__ import annotations

from dataclasses import dataclass, field

from thinkdial.rewards.base import Reward, check_range, correct_value
from thinkdial.rewards.batch import Batch
from thinkdial.rewards.registry import register


@register
class CorrectnessReward(Reward):
    """`correctness`: 1 if the answer after the think block matches the gold answer, else 0.

    Exact match, then numeric equality for synthetic rows, then math_verify for math answers
    (`\\boxed{}`, fractions, LaTeX); see `rewards.correctness.is_correct`. Returns None where the gold
    answer cannot be parsed (TRL then skips the row). A completion without a closed think block is wrong.
    """

    name = "correctness"

    def row(self, batch: Batch, i: int) -> float | None:
        return correct_value(batch, i)


@register
class FormatReward(Reward):
    """`format`: 1 for a closed think block followed by a non-empty answer, else 0.

    The format is docs/design.md, "Completion format"; needs no answer.
    """

    name = "format"
    needs_answer = False

    def row(self, batch: Batch, i: int) -> float:
        parsed = batch.parsed[i]
        return float(parsed.closed and bool(parsed.answer))


@dataclass
class NoThinkBonusParams:
    delta: float = field(default=0.1, metadata={"help": "Bonus for a correct answer given without thinking."})

    def __post_init__(self):
        check_range("delta", self.delta, low=0.0)


@register
class NoThinkBonusReward(Reward):
    """`no_think_bonus` (AdaptThink-style, Zhang et al. 2025): r = `delta` when the think block is closed
    with empty (whitespace-only) reasoning and the answer is correct, else 0; None where the gold
    answer cannot be parsed. Pays the policy to skip thinking where it is not needed.
    """

    name = "no_think_bonus"
    Params = NoThinkBonusParams

    def row(self, batch: Batch, i: int) -> float | None:
        correct = correct_value(batch, i)
        if correct is None:
            return None
        empty = batch.parsed[i].closed and not batch.parsed[i].reasoning.strip()
        return self.params.delta if empty and correct else 0.0

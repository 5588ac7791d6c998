"""Reward parts of published length-control methods that `rewards/length.py` lacks (docs/methods.md).

The other methods' rewards are already there: L1-Max is `target_length` (mode max), ALP is `solve_rate`,
ShorterBetter is `shortest_correct`. Lengths here are tokens of the policy's tokenizer: `truncation` counts
the whole completion (the papers' response-length limit), not only its reasoning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from thinkdial.data.completion import count_tokens
from thinkdial.errors import UsageError
from thinkdial.rewards.base import Reward, check_range, correct_value, map_rows
from thinkdial.rewards.batch import Batch
from thinkdial.rewards.registry import register


@dataclass
class TruncationParams:
    max_tokens: int = field(
        metadata={
            "help": "Length limit of the whole completion, in tokens (required); set it to the recipe's "
            "max_completion_length, where generation cuts a completion."
        }
    )
    truncated_share: float = field(
        default=0.0,
        metadata={
            "help": "Share of its correctness a completion that reaches max_tokens keeps: 0 in the DLER and "
            "ThinkPrune papers, 0.1 in NVlabs/DLER's released config (stop_properly_penalty)."
        },
    )

    def __post_init__(self):
        check_range("max_tokens", self.max_tokens, low=0, low_open=True)
        check_range("truncated_share", self.truncated_share, low=0.0, high=1.0)


@register
class TruncationReward(Reward):
    """`truncation` (DLER, ThinkPrune): correctness, kept only by a completion that ends before the length limit.

    DLER (Liu et al. 2025, arXiv 2510.15110: its truncation length penalty; NVlabs/DLER
    verl-dler/verl/workers/reward_manager/dapo.py) and ThinkPrune (Hou et al. 2025, arXiv 2504.01296: the
    reward of each pruning round; UCSB-NLP-Chang/ThinkPrune verl/trainer/main_ppo.py):

        r = correct                        if n < `max_tokens`
        r = `truncated_share` * correct    if n >= `max_tokens`

    with n the tokens of the whole completion text. Generation stops a completion at max_completion_length,
    so one whose text fills `max_tokens` was cut there: its answer is discarded even when a boxed answer was
    written before the cut. None where the gold answer cannot be parsed.
    """

    name = "truncation"
    Params = TruncationParams

    def score(self, batch: Batch) -> list[float | None]:
        """Return the reward of every local row (the completions' tokens are counted once per call)."""
        completion_tokens = count_tokens(self.tokenizer, batch.texts)

        def row(i: int) -> float | None:
            correct = correct_value(batch, i)
            if correct is None or completion_tokens[i] < self.params.max_tokens:
                return correct
            return self.params.truncated_share * correct

        return map_rows(self.name, batch, row)


@dataclass
class ConstrainedNoThinkParams:
    delta: float = field(
        default=0.05,
        metadata={
            "help": "Bonus of a direct answer (empty think block), right or wrong: AdaptThink's delta "
            "(0.05 in its 1.5B and 7B runs; the paper sweeps 0-0.1)."
        },
    )

    def __post_init__(self):
        check_range("delta", self.delta, low=0.0)


@register
class ConstrainedNoThinkReward(Reward):
    """`constrained_no_think` (AdaptThink): a direct-answer bonus plus correctness above the reference model's.

    AdaptThink (Zhang et al. 2025, arXiv 2505.13417: the penalty form of its constrained objective;
    THU-KEG/AdaptThink src/adapt_think_reward_manager.py):

        r = `delta` * [no-think] + correct - R_ref

    where [no-think] is 1 for a closed think block with empty reasoning, and R_ref is the reference model's
    mean accuracy on the prompt, read from the row's `ref_accuracy` column (a number in [0, 1]; AdaptThink
    samples the start 16 times per training prompt before training). None where the gold answer cannot be
    parsed or the row has no reference accuracy.

    AdaptThink uses r itself as the advantage (its 'naive' estimator): R_ref is the baseline. TRL's GRPO
    subtracts the group mean, in which R_ref (the same for all of a prompt's completions) cancels, so under
    TRL this trains on delta * [no-think] + correct against the group (docs/methods.md, AdaptThink).
    """

    name = "constrained_no_think"
    Params = ConstrainedNoThinkParams
    needs_columns = ("ref_accuracy",)

    def row(self, batch: Batch, i: int) -> float | None:
        correct, reference = correct_value(batch, i), batch.columns["ref_accuracy"][i]
        if correct is None or reference is None:
            return None
        reference = float(reference)
        if not (math.isfinite(reference) and 0.0 <= reference <= 1.0):
            raise UsageError(f"ref_accuracy must be a number in [0, 1], got {reference}")
        parsed = batch.parsed[i]
        direct = parsed.closed and not parsed.reasoning.strip()
        return self.params.delta * direct + correct - reference

"""Length-aware rewards. Every length is reasoning tokens of the policy's tokenizer (docs/design.md,
"Completion format"); group statistics (`Batch.group`) cover a prompt's completions on every process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from thinkdial.errors import UsageError
from thinkdial.io import level_label
from thinkdial.rewards.base import Reward, check_range, correct_value, map_rows
from thinkdial.rewards.batch import Batch
from thinkdial.rewards.registry import register


def _sigmoid(z: float) -> float:
    """Return 1 / (1 + exp(-z)) without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass
class MaxTokensParams:
    max_tokens: int = field(metadata={"help": "Length scale, in reasoning tokens (required)."})

    def __post_init__(self):
        check_range("max_tokens", self.max_tokens, low=0, low_open=True)


@dataclass
class LengthScaleParams(MaxTokensParams):
    """Params of a reward whose length charge grows with reasoning tokens / `max_tokens`, up to 1 at
    `max_tokens` (unlike a length limit, which charges a fixed penalty past it)."""


@register
class KimiReward(Reward):
    """`kimi` (Kimi k1.5, Kimi Team 2025, sec. 2.3.3): over the prompt's group,
    lam = 0.5 - (len - min_len) / (max_len - min_len); r = lam if correct, min(0, lam) if wrong;
    0 for the whole group when max_len == min_len. No params.
    """

    name = "kimi"

    def row(self, batch: Batch, i: int) -> float | None:
        correct = correct_value(batch, i)
        group = batch.group(i)
        if correct is None:
            return None
        if group.longest_tokens == group.shortest_tokens:
            return 0.0
        lam = 0.5 - (batch.reasoning_tokens[i] - group.shortest_tokens) / (
            group.longest_tokens - group.shortest_tokens
        )
        return lam if correct else min(0.0, lam)


@dataclass
class CosineParams(MaxTokensParams):
    min_value_correct: float = field(
        default=0.5, metadata={"help": "Reward of a correct answer at max_tokens."}
    )
    max_value_correct: float = field(
        default=1.0, metadata={"help": "Reward of a correct answer at 0 tokens."}
    )
    min_value_wrong: float = field(default=-1.0, metadata={"help": "Reward of a wrong answer at 0 tokens."})
    max_value_wrong: float = field(default=-0.5, metadata={"help": "Reward of a wrong answer at max_tokens."})
    exceed_penalty: float = field(default=-1.0, metadata={"help": "Reward beyond max_tokens."})

    def __post_init__(self):
        super().__post_init__()
        for low, high in (("min_value_correct", "max_value_correct"), ("min_value_wrong", "max_value_wrong")):
            if getattr(self, low) > getattr(self, high):
                raise UsageError(
                    f"param '{low}' ({getattr(self, low)}) must be <= '{high}' ({getattr(self, high)})"
                )


@register
class CosineReward(Reward):
    """`cosine` (Yeo et al. 2025, "Demystifying Long Chain-of-Thought Reasoning in LLMs", eq. 1):
    r = r_min + 0.5 (r_max - r_min)(1 + cos(pi len / max_tokens)) with (r_min, r_max) =
    (`min_value_correct`, `max_value_correct`) if correct, (`max_value_wrong`, `min_value_wrong`) if
    wrong (short correct answers earn most; longer wrong answers lose less); `exceed_penalty` when
    len > `max_tokens`.
    """

    name = "cosine"
    Params = CosineParams

    def row(self, batch: Batch, i: int) -> float | None:
        correct, p, n = correct_value(batch, i), self.params, batch.reasoning_tokens[i]
        if correct is None:
            return None
        if n > p.max_tokens:
            return p.exceed_penalty
        r_min, r_max = (
            (p.min_value_correct, p.max_value_correct) if correct else (p.max_value_wrong, p.min_value_wrong)
        )
        return r_min + 0.5 * (r_max - r_min) * (1.0 + math.cos(math.pi * n / p.max_tokens))


@dataclass
class EfficiencyParams:
    alpha: float = field(default=0.1, metadata={"help": "Largest length discount of a correct answer."})

    def __post_init__(self):
        check_range("alpha", self.alpha, low=0.0, high=1.0)


@register
class EfficiencyReward(Reward):
    """`efficiency` (Arora & Zanette 2025, "Training Language Models to Reason Efficiently", eq. 3):
    correct -> 1 - `alpha` * sigmoid((len - mean_c) / (std_c + 1e-7)), with mean_c and std_c
    (population std) over the correct completions of the group; wrong -> 0.
    """

    name = "efficiency"
    Params = EfficiencyParams

    def row(self, batch: Batch, i: int) -> float | None:
        correct, group = correct_value(batch, i), batch.group(i)
        if correct is None or correct == 0.0:
            return correct
        z = (batch.reasoning_tokens[i] - group.mean_correct_tokens) / (group.std_correct_tokens + 1e-7)
        return 1.0 - self.params.alpha * _sigmoid(z)


@dataclass
class SolveRateParams(LengthScaleParams):
    beta: float = field(
        default=0.5, metadata={"help": "Length penalty at max_tokens for a fully solved prompt."}
    )
    history: str = field(
        default="none",
        metadata={
            "help": "'none': the group's solve rate; 'ema': blended "
            "with an EMA over the prompt's earlier visits."
        },
    )
    ema_decay: float | None = field(
        default=None, metadata={"help": "EMA decay (history: ema only); default 0.9."}
    )

    def __post_init__(self):
        super().__post_init__()
        check_range("beta", self.beta, low=0.0)
        if self.history not in ("none", "ema"):
            raise UsageError(f"param 'history' must be 'none' or 'ema', got {self.history!r}")
        if self.history == "none" and self.ema_decay is not None:
            raise UsageError(
                "param 'ema_decay' only applies with history: ema; set history: ema or drop ema_decay"
            )
        if self.history == "ema":
            self.ema_decay = 0.9 if self.ema_decay is None else self.ema_decay
            check_range("ema_decay", self.ema_decay, low=0.0, high=1.0)
            if self.ema_decay == 1.0:
                raise UsageError(
                    "param 'ema_decay' must be < 1 (1 would freeze the first visit's solve rate)"
                )


@register
class SolveRateReward(Reward):
    """`solve_rate` (ALP, Xiang et al. 2025, "Just Enough Thinking: Adaptive Length Penalty"):
    r = correct - `beta` * max(p, 1/G) * min(len, `max_tokens`) / `max_tokens`, p = the group's fraction
    correct, G = the group size: easy prompts pay more per reasoning token, and the charge stops growing at
    `max_tokens` (the generation cap in the paper's setting). With `history: ema`, p is the prompt's
    exponential moving average p <- `ema_decay` * p_prev + (1 - `ema_decay`) * p_group over its visits
    (the first visit takes p_group): steadier than one group of G. The EMA lives in this object (one per
    process, updated identically from the gathered groups) and restarts with the process.
    """

    name = "solve_rate"
    Params = SolveRateParams

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ema: dict[str, float] = {}  # prompt key -> EMA of its solve rate

    def solve_rates(self, batch: Batch) -> dict[str, float]:
        """Return p per group key of `batch`, updating the EMA once per group with `history: ema`."""
        rates = {key: group.solve_rate for key, group in batch.groups.items()}
        if self.params.history == "ema":
            decay = self.params.ema_decay
            for key, p in rates.items():
                prev = self.ema.get(key)
                rates[key] = self.ema[key] = p if prev is None else decay * prev + (1.0 - decay) * p
        return rates

    def score(self, batch: Batch) -> list[float | None]:
        rates, p = self.solve_rates(batch), self.params

        def row(i: int) -> float | None:
            correct = correct_value(batch, i)
            if correct is None:
                return None
            scale = max(rates[batch.group_keys[i]], 1.0 / batch.group(i).size)
            return correct - p.beta * scale * min(batch.reasoning_tokens[i], p.max_tokens) / p.max_tokens

        return map_rows(self.name, batch, row)


@dataclass
class ShortestCorrectParams(LengthScaleParams):
    alpha: float = field(default=1.0, metadata={"help": "Reward of a correct answer."})
    beta: float = field(default=0.5, metadata={"help": "Penalty per max_tokens of distance to l*."})

    def __post_init__(self):
        super().__post_init__()
        check_range("alpha", self.alpha, low=0.0)
        check_range("beta", self.beta, low=0.0)


@register
class ShortestCorrectReward(Reward):
    """`shortest_correct` (ShorterBetter, Yi et al. 2025, eq. 2): r = `alpha` * correct -
    `beta` * min(|l* - len|, `max_tokens`) / `max_tokens`, l* = the shortest correct length in the group,
    or the group's mean length when none is correct (the charge stops growing at `max_tokens`).
    """

    name = "shortest_correct"
    Params = ShortestCorrectParams

    def row(self, batch: Batch, i: int) -> float | None:
        correct, group, p = correct_value(batch, i), batch.group(i), self.params
        if correct is None:
            return None
        target = group.mean_tokens if group.shortest_correct_tokens is None else group.shortest_correct_tokens
        distance = min(abs(target - batch.reasoning_tokens[i]), p.max_tokens)
        return p.alpha * correct - p.beta * distance / p.max_tokens


@dataclass
class TargetLengthParams:
    mode: str = field(default="exact", metadata={"help": "'exact': hit the budget; 'max': stay under it."})
    alpha: float | None = field(
        default=None,
        metadata={"help": "Slope per reasoning token; default 0.0003 (exact) / 0.01 (max), as in L1."},
    )
    delta: float | None = field(default=None, metadata={"help": "Offset of mode max (default 0.5)."})

    def __post_init__(self):
        if self.mode not in ("exact", "max"):
            raise UsageError(f"param 'mode' must be 'exact' or 'max', got {self.mode!r}")
        if self.mode == "exact" and self.delta is not None:
            raise UsageError("param 'delta' only applies with mode: max; set mode: max or drop delta")
        if self.alpha is None:
            self.alpha = 0.0003 if self.mode == "exact" else 0.01
        if self.mode == "max" and self.delta is None:
            self.delta = 0.5
        check_range("alpha", self.alpha, low=0.0)
        if self.delta is not None:
            check_range("delta", self.delta, low=0.0, high=1.0)


@register
class TargetLengthReward(Reward):
    """`target_length` (L1, Aggarwal & Welleck 2025, "L1: Controlling How Long a Reasoning Model
    Thinks", eqs. 1-2), for budget-conditioned rows: `mode: exact` -> correct - `alpha` * |budget - len|;
    `mode: max` -> correct * clip(`alpha` * (budget - len) + `delta`, 0, 1). The budget (reasoning
    tokens) is the row's `budget` column; None where a row has no budget.
    """

    name = "target_length"
    Params = TargetLengthParams
    needs_columns = ("budget",)

    def row(self, batch: Batch, i: int) -> float | None:
        correct, budget, p = correct_value(batch, i), batch.columns["budget"][i], self.params
        if correct is None or budget is None:
            return None
        budget = float(budget)
        if not math.isfinite(budget) or budget < 0:
            raise UsageError(f"budget must be a finite number of tokens >= 0, got {budget}")
        gap = budget - batch.reasoning_tokens[i]
        if p.mode == "exact":
            return correct - p.alpha * abs(gap)
        return correct * min(1.0, max(0.0, p.alpha * gap + p.delta))


@dataclass
class OverlongParams(MaxTokensParams):
    buffer_tokens: int = field(metadata={"help": "Soft-penalty band below max_tokens, in tokens (required)."})

    def __post_init__(self):
        super().__post_init__()
        check_range("buffer_tokens", self.buffer_tokens, low=0, low_open=True, high=self.max_tokens)


@register
class OverlongReward(Reward):
    """`overlong` (DAPO, Yu et al. 2025, eq. 13, soft overlong punishment): r = 0 if
    len <= `max_tokens` - `buffer_tokens`; ((`max_tokens` - `buffer_tokens`) - len) / `buffer_tokens`
    inside the buffer; -1 beyond `max_tokens`. Needs no answer.
    """

    name = "overlong"
    Params = OverlongParams
    needs_answer = False

    def row(self, batch: Batch, i: int) -> float:
        n, p = batch.reasoning_tokens[i], self.params
        start = p.max_tokens - p.buffer_tokens
        if n <= start:
            return 0.0
        return (start - n) / p.buffer_tokens if n <= p.max_tokens else -1.0


@dataclass
class TwoSidedParams(LengthScaleParams):
    beta: float = field(
        default=0.25,
        metadata={
            "help": "Accuracy a fully solved prompt gives up per max_tokens reasoning tokens (the exchange rate)."
        },
    )
    direct_bonus: float = field(
        default=0.5,
        metadata={
            "help": "Paid on top to a correct direct answer (empty think block) at a level where, over the whole "
            "batch, direct answers are as accurate as thinking ones."
        },
    )
    min_direct_samples: int = field(
        default=4,
        metadata={"help": "Direct answers a level needs in the batch before its direct accuracy is trusted."},
    )
    reliable_solve_rate: float = field(
        default=0.5,
        metadata={
            "help": "Group solve rate from which length shaping applies; below it only correctness pays."
        },
    )
    over_budget_penalty: float = field(
        default=0.5,
        metadata={
            "help": "Rows with a thinking budget: reward of a completion that thinks past it, as a penalty (it is "
            "-penalty, below any answer within the budget, right or wrong)."
        },
    )
    budget_floor: float = field(
        default=0.5,
        metadata={
            "help": "Rows with a thinking budget: share of the reward kept by a correct answer that uses its whole "
            "budget (L1-Max's delta); the share falls linearly from 1 at 0 tokens, and is 0 past the budget."
        },
    )

    wasted_budget_penalty: float = field(
        default=0.0,
        metadata={
            "help": "Rows with a thinking budget: a wrong answer within it is charged this times the share of the "
            "budget it used (don't start what you cannot finish); rows without a budget are never charged."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        check_range("beta", self.beta, low=0.0, high=1.0)
        check_range("wasted_budget_penalty", self.wasted_budget_penalty, low=0.0)
        check_range("budget_floor", self.budget_floor, low=0.0, high=1.0)
        check_range("over_budget_penalty", self.over_budget_penalty, low=0.0)
        check_range("direct_bonus", self.direct_bonus, low=0.0)
        check_range("min_direct_samples", self.min_direct_samples, low=1)
        check_range("reliable_solve_rate", self.reliable_solve_rate, low=0.0, high=1.0, low_open=True)


def direct_reliable_levels(batch: Batch, min_samples: int) -> set:
    """Return the difficulty levels (labels; None for rows without one) at which, over every process's rows
    without a thinking budget, at least `min_samples` completions answered directly (no reasoning tokens)
    and they are as accurate as the completions that reasoned (vacuously so when none reasoned)."""
    counts: dict = {}  # level -> [direct, direct correct, thinking, thinking correct]
    for level, n, ok, budget in zip(
        batch.gathered_difficulty,
        batch.gathered_tokens,
        batch.gathered_correct,
        batch.gathered_budget,
        strict=True,
    ):
        if budget is not None:  # a budget forces the length: it says nothing about the model's own choice
            continue
        c = counts.setdefault(level_label(level), [0, 0, 0, 0])
        k = 0 if n == 0 else 2
        c[k] += 1
        c[k + 1] += bool(ok)
    return {
        level for level, (d, dc, t, tc) in counts.items() if d >= min_samples and (t == 0 or dc * t >= tc * d)
    }


@register
class TwoSidedReward(Reward):
    """`two_sided` (thinkdial's default): correctness, plus length shaping of correct answers only where the
    prompt is reliably solved. With p the group's solve rate, n the reasoning tokens, L = `max_tokens`:

        r = c                                                                 if p < `reliable_solve_rate`
        r = c * (1 - `beta` * p * min(n, L) / L + `direct_bonus` * [n = 0] * D)  otherwise

    where D = 1 when, at the row's difficulty level and over the whole batch, at least `min_direct_samples`
    completions answered directly and were as accurate as those that reasoned (else 0).

    - A group with no correct completion gets r = 0 on every row: no "be shorter" signal at all (nor any
      difference for std scaling to blow up). Where the policy fails (p below the threshold) the reward is
      correctness alone, so longer reasoning pays exactly when it raises the solve rate, and a lucky short
      guess is not also paid for being short.
    - Where solved, shorter correct answers win (ALP-style: the charge grows with p, so easy prompts pay more
      per token), and a correct direct answer wins most where the batch shows that answering directly
      costs no accuracy at that level. Wrong answers are never charged for length here; the charge is at most
      `beta` (< 1), so being right always beats being short.

    The dial: a row with a thinking budget of B reasoning tokens (its `budget` column, also set by an effort
    tier) gets the L1-Max form (Aggarwal & Welleck 2025, multiplicative: L1 measured that an additive budget
    term collapses to very short chains) around the reward above:

        r_budget = r * (1 - (1 - `budget_floor`) * n / B)   if n <= B and correct   (B = 0: r at n = 0)
        r_budget = -`wasted_budget_penalty` * n / B          if n <= B and wrong     (default 0: r = 0)
        r_budget = -over_budget_penalty                      if n > B

    so a chain that fits is paid (less the more of the budget it uses), one that does not fit is charged
    below any answer within it (a right answer past the budget breaks the request), and where the budget is
    below what the problem needs, a direct answer beats starting a chain that cannot finish. Rows
    without a budget (or data without the column) keep r. Why these defaults: docs/results/dial_sweep.md.
    """

    name = "two_sided"
    Params = TwoSidedParams

    def score(self, batch: Batch) -> list[float | None]:
        """Return the reward of every local row (the direct-answer evidence is computed once per batch)."""
        reliable = direct_reliable_levels(batch, self.params.min_direct_samples)
        return map_rows(self.name, batch, lambda i: self.row_value(batch, i, reliable))

    def value(self, batch: Batch, i: int, reliable_levels: set) -> float | None:
        """Return the reward of local row `i` before any budget, given the levels whose direct answers are reliable."""
        correct, p = correct_value(batch, i), self.params
        if correct is None:
            return None
        rate = batch.group(i).solve_rate
        if not correct or rate < p.reliable_solve_rate:
            return correct
        n = batch.reasoning_tokens[i]
        level = level_label((batch.columns.get("difficulty") or [None] * len(batch))[i])
        bonus = p.direct_bonus if n == 0 and level in reliable_levels else 0.0
        return 1.0 - p.beta * rate * min(n, p.max_tokens) / p.max_tokens + bonus

    def row_value(self, batch: Batch, i: int, reliable_levels: set) -> float | None:
        """Return the reward of local row `i`: `value`, times its budget's share when the row has a budget."""
        reward = self.value(batch, i, reliable_levels)
        budget = (batch.columns.get("budget") or [None] * len(batch))[i]
        if reward is None or budget is None:
            return reward
        budget, n = float(budget), batch.reasoning_tokens[i]
        if not math.isfinite(budget) or budget < 0:
            raise UsageError(f"budget must be a finite number of tokens >= 0, got {budget}")
        if n > budget:
            return -self.params.over_budget_penalty
        if not budget:
            return reward
        if not correct_value(batch, i):
            return -self.params.wasted_budget_penalty * n / budget
        return reward * (1.0 - (1.0 - self.params.budget_floor) * n / budget)

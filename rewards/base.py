"""`Reward`: the base of every reward component, a TRL reward callable with a stable `__name__`.

TRL's contract: `fn(prompts, completions, completion_ids, **kwargs) -> list[float | None]`, dataset
columns arriving as kwargs plus `trainer_state`, `log_metric` and `log_extra`. Components are small
callable classes (picklable, unlike closures: TRL's async rollout worker pickles reward functions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from thinkdial.errors import UsageError
from thinkdial.rewards.batch import Batch, RewardRowError, build_batch


@dataclass
class NoParams:
    """A component without parameters."""


class Reward:
    """A reward component. Subclasses set `name` and `Params` and implement `row` (or `score`).

    `warmup_steps` ramps the component's output linearly from 0 at step 0 to full at `warmup_steps`
    (read from TRL's `trainer_state.global_step`; full when no trainer state is given).
    """

    name: ClassVar[str]
    Params: ClassVar[type] = NoParams
    needs_answer: ClassVar[bool] = True  # reads correctness: the dataset must have an `answer` column
    needs_columns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, tokenizer, params=None, warmup_steps: int = 0):
        self.tokenizer = tokenizer
        self.params = self.Params() if params is None else params
        self.warmup_steps = warmup_steps
        self.__name__ = self.name  # TRL logs the reward under this name

    def __call__(
        self,
        prompts,
        completions,
        completion_ids=None,
        trainer_state=None,
        log_metric=None,  # TRL's logging hooks: taken out of the columns; BatchMetrics uses them
        log_extra=None,
        **columns,
    ) -> list[float | None]:
        """Return one reward per completion (None where it cannot be judged), warm-up applied."""
        for column in self.required_columns():
            if column not in columns:
                raise ValueError(
                    f"reward '{self.name}' needs the dataset column '{column}', which is missing"
                )
        batch = build_batch(self.tokenizer, prompts, completions, columns)
        rewards = self.score(batch)
        scale = self.warmup_scale(trainer_state)
        if scale != 1.0:
            rewards = [None if r is None else r * scale for r in rewards]
        return rewards

    @classmethod
    def required_columns(cls) -> tuple[str, ...]:
        """Return the dataset columns the component reads: `answer` when it needs one, then `needs_columns`."""
        return (("answer",) if cls.needs_answer else ()) + cls.needs_columns

    def warmup_scale(self, trainer_state) -> float:
        """Return the warm-up factor in [0, 1]: global_step / warmup_steps, capped at 1."""
        if not self.warmup_steps or trainer_state is None:
            return 1.0
        return min(1.0, trainer_state.global_step / self.warmup_steps)

    def score(self, batch: Batch) -> list[float | None]:
        """Return `row(batch, i)` for every local row of `batch`."""
        return map_rows(self.name, batch, lambda i: self.row(batch, i))

    def row(self, batch: Batch, i: int) -> float | None:
        """Return the reward of local row `i` of `batch`."""
        raise NotImplementedError


def required_columns(reward) -> tuple[str, ...]:
    """Return the dataset columns `reward` reads: `required_columns()` of a Reward subclass or instance; () for
    a plain TRL reward function (a user's, by import path: it takes whatever columns arrive as kwargs)."""
    is_reward = isinstance(reward, Reward) or (isinstance(reward, type) and issubclass(reward, Reward))
    return reward.required_columns() if is_reward else ()


def map_rows(name: str, batch: Batch, fn) -> list[float | None]:
    """Return `fn(i)` for every row; a row that raises fails with the reward name, row index and text."""
    out = []
    for i in range(len(batch)):
        try:
            out.append(fn(i))
        except Exception as err:
            raise RewardRowError(f"reward '{name}'", i, batch.texts[i], err) from err
    return out


def check_range(
    name: str, value: float, low: float | None = None, high: float | None = None, low_open: bool = False
) -> None:
    """Raise UsageError naming `name` unless low <= value <= high (low < value with `low_open`)."""
    if (low is not None and (value < low or (low_open and value == low))) or (
        high is not None and value > high
    ):
        lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
        hi = "" if high is None else f"<= {high}"
        raise UsageError(f"param '{name}' must be {' and '.join(x for x in (lo, hi) if x)}, got {value}")


def correct_value(batch: Batch, i: int) -> float | None:
    """Return 1.0 / 0.0 for a correct / wrong row, None where its gold answer cannot be parsed."""
    ok = batch.correct[i]
    return None if ok is None else float(ok)

"""Per-difficulty-level summaries of a GRPO batch, and `BatchMetrics`, the logger that reports them."""

from __future__ import annotations

import math

from thinkdial.io import level_label
from thinkdial.rewards.batch import build_batch


def _label_order(label: str) -> tuple:
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def means_by_label(labels: list[str | None], columns: dict[str, list]) -> dict[str, dict[str, float]]:
    """Return {label: {"n": rows, column: mean over the label's rows}}, skipping None values and
    None labels; numeric labels first, in increasing order."""
    rows_by_level: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        if label is not None:
            rows_by_level.setdefault(label, []).append(i)
    out = {}
    for label in sorted(rows_by_level, key=_label_order):
        out[label] = {"n": float(len(rows_by_level[label]))}
        for name, values in columns.items():
            present = [float(values[i]) for i in rows_by_level[label] if values[i] is not None]
            if present:
                out[label][name] = math.fsum(present) / len(present)
    return out


def level_metrics(
    difficulty: list, reasoning_tokens: list[int], correct: list[bool | None]
) -> dict[str, float]:
    """Return the batch's `accuracy`, `reasoning_tokens` (mean), `think_rate` (share of completions with a
    non-empty think block) and `completions` (how many), and the same per difficulty level as
    `level_<k>/<metric>`."""
    columns = {
        "reasoning_tokens": reasoning_tokens,
        "accuracy": correct,
        "think_rate": [n > 0 for n in reasoning_tokens],
    }
    overall = means_by_label(["all"] * len(reasoning_tokens), columns).get("all", {})
    means = means_by_label([level_label(d) for d in difficulty], columns)
    rename = {"n": "completions"}
    return {
        **{rename.get(name, name): value for name, value in overall.items()},
        **{
            f"level_{label}/{rename.get(name, name)}": value
            for label, stats in means.items()
            for name, value in stats.items()
        },
    }


class BatchMetrics:
    """Not a reward: TRL calls it like one (weight 0), and it logs each batch's metrics through TRL's
    `log_metric`: `level_metrics` of the rows without a thinking budget (the model's own choice; over every
    process's rows, so identical on all), `budget/within_rate` of the rows with one, and each completion's
    reasoning tokens as a `log_extra` column. It returns None for every row, so it adds nothing to the reward.
    The health guard (train/guard.py) reads these metrics.
    """

    __name__ = "batch_metrics"

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self._level_counts_logged: set[str] = set()  # `level_<k>/completions` keys logged so far

    def __call__(self, prompts, completions, completion_ids=None, log_metric=None, log_extra=None, **columns):
        """Log the batch's metrics; return None for every completion."""
        columns.pop("trainer_state", None)
        batch = build_batch(self.tokenizer, prompts, completions, columns)
        if log_metric is not None:
            free = [b is None for b in batch.gathered_budget]
            metrics = level_metrics(
                *(
                    [v for v, f in zip(col, free, strict=True) if f]
                    for col in (batch.gathered_difficulty, batch.gathered_tokens, batch.gathered_correct)
                )
            )
            # a level seen before but absent now logs 0 completions: the trainer averages each metric over
            # the calls that logged it, so the mean count per call stays true (the guard reads it)
            counts = {k for k in metrics if k.startswith("level_") and k.endswith("/completions")}
            metrics.update(dict.fromkeys(self._level_counts_logged - counts, 0.0))
            self._level_counts_logged |= counts
            for name, value in metrics.items():
                log_metric(name, value)
            within = [
                n <= b
                for n, b in zip(batch.gathered_tokens, batch.gathered_budget, strict=True)
                if b is not None
            ]
            if within:
                log_metric("budget/within_rate", sum(within) / len(within))
        if log_extra is not None:
            log_extra("reasoning_tokens", batch.reasoning_tokens)
        return [None] * len(prompts)

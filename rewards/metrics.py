"""Per-difficulty-level summaries: mean reasoning tokens and accuracy of a batch, by level."""

from __future__ import annotations

import math

from thinkdial.io import level_label


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

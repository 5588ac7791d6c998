"""Score completions offline with a reward config: the engine of `thinkdial rewards score`.

Runs the same TRL reward callables the trainer runs, on JSONL rows `{prompt, completion, answer,
[difficulty], [budget]}`; rows with the same prompt form a group.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from thinkdial.rewards.base import Reward
from thinkdial.rewards.batch import RewardRowError, build_batch
from thinkdial.rewards.metrics import level_name, means_by_label

from thinkdial.errors import UsageError

REQUIRED_KEYS = ("prompt", "completion", "answer")


def read_rows(path: str | Path) -> list[dict]:
    """Return the JSON objects of a JSONL file; a bad line or a missing key is an error naming its line."""
    if not Path(path).is_file():
        raise UsageError(f"input not found: {path}")
    rows = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise UsageError(f"{path}:{line_no}: invalid JSON: {err.msg}") from err
            missing = [k for k in REQUIRED_KEYS if not isinstance(row, dict) or k not in row]
            if missing:
                raise UsageError(f"{path}:{line_no}: missing key '{missing[0]}' (rows need {', '.join(REQUIRED_KEYS)})")
            rows.append(row)
    if not rows:
        raise UsageError(f"{path}: no rows")
    return rows


def score_rows(rows: list[dict], funcs: list[Reward], weights: list[float]) -> list[dict]:
    """Return one result per row, in order: reasoning_tokens, correct, rewards by name and weighted total.

    `total` sums weight * reward over the non-None rewards (TRL's nansum); None when all are None.
    """
    prompts = [r["prompt"] for r in rows]
    completions = [r["completion"] for r in rows]
    names = sorted({k for r in rows for k in r} - {"prompt", "completion"})
    columns = {k: [r.get(k) for r in rows] for k in names}
    missing = [(f.__name__, c) for f in funcs for c in f.required_columns() if c not in columns]
    if missing:
        raise UsageError(f"reward '{missing[0][0]}' reads the key '{missing[0][1]}', which the rows lack")
    try:
        rewards = {f.__name__: f(prompts=prompts, completions=completions, completion_ids=None, **columns)
                   for f in funcs}
    except RewardRowError as err:  # a row's own values (e.g. a budget that is no number): the user's input
        raise UsageError(str(err)) from err
    batch = build_batch(funcs[0].tokenizer, prompts, completions, columns)  # the funcs' cached view
    out = []
    for i in range(len(rows)):
        row_rewards = {name: values[i] for name, values in rewards.items()}
        terms = [w * r for w, r in zip(weights, row_rewards.values(), strict=True) if r is not None]
        out.append({"reasoning_tokens": batch.reasoning_tokens[i], "correct": batch.correct[i],
                    "rewards": row_rewards, "total": math.fsum(terms) if terms else None})
    return out


def level_summary(rows: list[dict], results: list[dict]) -> str:
    """Return a table of per-difficulty-level means (n, accuracy, reasoning tokens, each reward, total)."""
    columns = {"accuracy": [r["correct"] for r in results],
               "reasoning_tokens": [r["reasoning_tokens"] for r in results]}
    for name in results[0]["rewards"]:
        columns[name] = [r["rewards"][name] for r in results]
    columns["total"] = [r["total"] for r in results]
    by_level = means_by_label([level_name(r.get("difficulty")) for r in rows], columns)
    by_level.update(means_by_label(["all"] * len(rows), columns))
    header = ["level", "n", *columns]
    lines = ["  ".join(f"{h:>12}" for h in header)]
    for label, stats in by_level.items():
        cells = [label, f"{int(stats['n'])}"] + [f"{stats[c]:.4f}" if c in stats else "-" for c in columns]
        lines.append("  ".join(f"{c:>12}" for c in cells))
    return "\n".join(lines)

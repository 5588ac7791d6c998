"""Score completions offline with a reward config: the engine of `thinkdial rewards score`.

Runs the same TRL reward callables the trainer runs, on JSONL rows `{prompt, completion, answer,
[difficulty], [budget]}`; rows with the same prompt form a group.
"""

from __future__ import annotations

import math
from pathlib import Path

from thinkdial.errors import UsageError
from thinkdial.io import level_label, read_jsonl
from thinkdial.rewards.base import Reward, required_columns
from thinkdial.rewards.batch import RewardRowError, build_batch
from thinkdial.rewards.metrics import means_by_label

REQUIRED_KEYS = ("prompt", "completion", "answer")
PREVIEW_CHARS = 60


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_messages(value, content_type=object) -> bool:
    return isinstance(value, list) and all(
        isinstance(m, dict) and isinstance(m.get("content"), content_type) for m in value
    )


FIELD_CHECKS = {  # field -> (accepts the value, what it must be); optional fields may be absent or null
    "prompt": (lambda v: isinstance(v, str) or _is_messages(v), "a string or a list of chat messages"),
    "completion": (
        lambda v: isinstance(v, str) or _is_messages(v, str),
        "a string or a list of chat messages with string contents",
    ),
    "answer": (lambda v: v is None or isinstance(v, str) or _is_number(v), "a string, a number or null"),
    "difficulty": (lambda v: v is None or _is_number(v), "a number (the difficulty level) or null"),
    "budget": (
        lambda v: v is None or (_is_number(v) and v >= 0),
        "a number of reasoning tokens >= 0 or null",
    ),
}


def row_problem(row: dict) -> str | None:
    """Return what keeps `row` from being scored, naming the key or field; None when it can be scored."""
    missing = [k for k in REQUIRED_KEYS if k not in row]
    if missing:
        return f"missing key '{missing[0]}' (rows need {', '.join(REQUIRED_KEYS)})"
    for name, (accepts, expected) in FIELD_CHECKS.items():
        if name in row and not accepts(row[name]):
            return f"field '{name}' must be {expected}, got {repr(row[name])[:PREVIEW_CHARS]}"
    return None


def read_rows(path: str | Path) -> tuple[list[dict], list[str]]:
    """Return (the rows of a JSONL file, each row's `path:line`), every row checked before any is scored: a
    missing file, a bad line, a missing key or a field of the wrong type raises one UsageError naming
    `path:line` and the field."""
    if not Path(path).is_file():
        raise UsageError(f"input not found: {path}")
    rows, places = [], []
    for line_no, row in read_jsonl(path):
        problem = row_problem(row)
        if problem:
            raise UsageError(f"{path}:{line_no}: {problem}")
        rows.append(row)
        places.append(f"{path}:{line_no}")
    if not rows:
        raise UsageError(f"{path}: no rows")
    return rows, places


def score_rows(
    rows: list[dict], funcs: list[Reward], weights: list[float], places: list[str] | None = None
) -> list[dict]:
    """Return one result per row, in order: reasoning_tokens, correct, rewards by name and weighted total.

    `total` sums weight * reward over the non-None rewards (TRL's nansum); None when all are None. A reward
    failing on a row's own values raises a UsageError naming the row by `places` (else its index from 0).
    """
    prompts = [r["prompt"] for r in rows]
    completions = [r["completion"] for r in rows]
    names = sorted({k for r in rows for k in r} - {"prompt", "completion"})
    columns = {k: [r.get(k) for r in rows] for k in names}
    missing = [(f.__name__, c) for f in funcs for c in required_columns(f) if c not in columns]
    if missing:
        raise UsageError(f"reward '{missing[0][0]}' reads the key '{missing[0][1]}', which the rows lack")
    try:
        rewards = {
            f.__name__: f(prompts=prompts, completions=completions, completion_ids=None, **columns)
            for f in funcs
        }
    except RewardRowError as err:  # a row's own values (e.g. a budget that is no number): the user's input
        raise UsageError(f"{places[err.row]}: {err.failure}" if places else str(err)) from err
    batch = build_batch(funcs[0].tokenizer, prompts, completions, columns)  # the funcs' cached view
    out = []
    for i in range(len(rows)):
        row_rewards = {name: values[i] for name, values in rewards.items()}
        terms = [w * r for w, r in zip(weights, row_rewards.values(), strict=True) if r is not None]
        out.append(
            {
                "reasoning_tokens": batch.reasoning_tokens[i],
                "correct": batch.correct[i],
                "rewards": row_rewards,
                "total": math.fsum(terms) if terms else None,
            }
        )
    return out


SCALE_REWARDS = ("group", "batch", "none")
STD_EPSILON = 1e-4  # TRL adds it to the std before dividing


def _nanstd(values: list[float]) -> float:
    """Return the Bessel-corrected standard deviation of the non-NaN values (NaN below two), as TRL's nanstd."""
    present = [v for v in values if not math.isnan(v)]
    if len(present) < 2:
        return math.nan
    mean = math.fsum(present) / len(present)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in present) / (len(present) - 1))


def advantages(totals: list[float | None], group_keys: list[str], scale_rewards: str) -> list[float]:
    """Return the advantage GRPO gives each row under TRL's `scale_rewards` ('group', 'batch' or 'none').

    Mirrors TRL's GRPOTrainer (multi_objective_aggregation 'sum_then_normalize'): advantage = total -
    mean of the row's group; divided by (std of the group, or of the whole batch, + 1e-4) unless 'none'.
    Stds are Bessel-corrected. A row whose rewards were all None gets advantage 0 and is left out of
    its group's mean, as in TRL. A group here is the rows sharing a prompt.
    """
    if scale_rewards not in SCALE_REWARDS:
        raise ValueError(f"scale_rewards must be one of {SCALE_REWARDS}, got {scale_rewards!r}")
    values = [math.nan if t is None else float(t) for t in totals]
    members: dict[str, list[int]] = {}
    for i, key in enumerate(group_keys):
        members.setdefault(key, []).append(i)
    batch_std = _nanstd(values)
    out = [0.0] * len(values)
    for rows in members.values():
        group = [values[i] for i in rows]
        present = [v for v in group if not math.isnan(v)]
        mean = math.fsum(present) / len(present) if present else math.nan
        std = {"group": _nanstd(group), "batch": batch_std, "none": 0.0}[scale_rewards]
        for i in rows:
            if math.isnan(values[i]):
                continue
            diff = values[i] - mean
            out[i] = (
                diff if scale_rewards == "none" else (0.0 if math.isnan(std) else diff / (std + STD_EPSILON))
            )
    return out


def level_summary(rows: list[dict], results: list[dict]) -> str:
    """Return a table of per-difficulty-level means (n, accuracy, reasoning tokens, each reward, total)."""
    columns = {
        "accuracy": [r["correct"] for r in results],
        "reasoning_tokens": [r["reasoning_tokens"] for r in results],
    }
    for name in results[0]["rewards"]:
        columns[name] = [r["rewards"][name] for r in results]
    columns["total"] = [r["total"] for r in results]
    by_level = means_by_label([level_label(r.get("difficulty")) for r in rows], columns)
    by_level.update(means_by_label(["all"] * len(rows), columns))
    header = ["level", "n", *columns]
    lines = ["  ".join(f"{h:>12}" for h in header)]
    for label, stats in by_level.items():
        cells = [label, f"{int(stats['n'])}"] + [f"{stats[c]:.4f}" if c in stats else "-" for c in columns]
        lines.append("  ".join(f"{c:>12}" for c in cells))
    return "\n".join(lines)

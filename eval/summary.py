"""Turn budget-forced completions into per-example records and the per-model entry of results.json."""

from __future__ import annotations

from collections import defaultdict

from thinkdial.data.synthetic import chance_accuracy
from thinkdial.eval import metrics
from thinkdial.eval.adherence import cost_metrics, dial_metrics
from thinkdial.eval.budget import Completion
from thinkdial.eval.config import EvalConfig
from thinkdial.io import level_label
from thinkdial.rewards.correctness import is_correct


def example_records(
    rows: list[dict], completions: list[dict[int, Completion]], config: EvalConfig
) -> list[dict]:
    """Return one record per sequence: the row's fields and, per budget label, the completion and `correct`."""
    records = []
    for i, by_budget in enumerate(completions):
        row = rows[i // config.num_samples]
        budgets = {
            config.budget_label(b): {**c.to_dict(), "correct": bool(is_correct(c.answer, row["answer"]))}
            for b, c in sorted(by_budget.items())
        }
        records.append(
            {
                "index": i // config.num_samples,
                "sample": i % config.num_samples,
                "difficulty": row["difficulty"],
                "source": row.get("source"),
                "prompt": row["prompt"],
                "gold": row["answer"],
                "min_reasoning_tokens": row.get("min_reasoning_tokens"),
                "budgets": budgets,
            }
        )
    return records


def _pass_at_k(records: list[dict], config: EvalConfig) -> dict[str, float]:
    if config.num_samples < 2:
        return {}
    correct_by_row: dict[int, list[bool]] = defaultdict(list)
    for r in records:
        correct_by_row[r["index"]].append(r["budgets"]["unlimited"]["correct"])
    return {
        str(k): metrics.mean([metrics.pass_at_k(len(c), sum(c), k) for c in correct_by_row.values()])
        for k in config.pass_k
        if k <= config.num_samples
    }


def group_metrics(records: list[dict], config: EvalConfig) -> dict:
    """Return the metrics of a group of records (all rows, or one level); free = the 'unlimited' budget.

    The keys are `GroupMetrics`'s (eval/schema.py, where each is described).
    """
    free = [r["budgets"]["unlimited"] for r in records]
    tokens = [c["reasoning_tokens"] for c in free]
    labels = list(records[0]["budgets"])
    curve = {b: metrics.mean([r["budgets"][b]["correct"] for r in records]) for b in labels}
    oracle = [r["min_reasoning_tokens"] for r in records]
    has_oracle = all(m is not None for m in oracle)
    over = [
        metrics.overthinking_tokens(
            r["budgets"]["unlimited"]["reasoning_tokens"],
            {config.budget_tokens[k]: r["budgets"][b]["correct"] for k, b in enumerate(labels)},
        )
        for r in records
    ]
    over = [o for o in over if o is not None]
    chances = {chance_accuracy(r["source"]) if r["source"] else None for r in records}
    return {
        "n": len({r["index"] for r in records}),
        "accuracy": curve["unlimited"],
        "accuracy_direct": curve["0"],
        "direct_rate": metrics.mean(
            [c["answer"] is not None and c["reasoning_tokens"] == 0 and not c["forced"] for c in free]
        ),
        "reasoning_tokens_mean": metrics.mean(tokens),
        "reasoning_tokens_std": metrics.std(tokens),
        "reasoning_tokens_median": metrics.percentile(tokens, 50),
        "reasoning_tokens_p90": metrics.percentile(tokens, 90),
        "min_reasoning_tokens_mean": metrics.mean(oracle) if has_oracle else None,
        "chance_accuracy": chances.pop() if len(chances) == 1 else None,
        "truncated_rate": metrics.mean([c["forced"] for c in free]),
        "budget_curve": curve,
        "budget_tokens_mean": {
            b: metrics.mean([r["budgets"][b]["reasoning_tokens"] for r in records]) for b in labels
        },
        "budget_curve_area_log2": metrics.curve_area_log2(
            dict(zip(config.budget_tokens, curve.values(), strict=True))
        ),
        "overthinking_tokens_mean": metrics.mean(over),
        "tokens_over_oracle": metrics.oracle_ratio(tokens, oracle) if has_oracle else None,
        "pass_at_k": _pass_at_k(records, config),
        "dial": dial_metrics(records, config),
    }


def model_summary(records: list[dict], config: EvalConfig, path: str) -> dict:
    """Return the results.json entry of one checkpoint: overall metrics, adaptivity, `levels` and `cost`."""
    by_level: dict[float, list[dict]] = defaultdict(list)
    for r in records:
        by_level[float(r["difficulty"])].append(r)
    levels = {level_label(lv): group_metrics(by_level[lv], config) for lv in sorted(by_level)}
    keys = list(levels)
    return {
        "path": path,
        **group_metrics(records, config),
        "spearman_difficulty_tokens": metrics.spearman(
            [float(r["difficulty"]) for r in records],
            [r["budgets"]["unlimited"]["reasoning_tokens"] for r in records],
        ),
        "tokens_easiest_level": levels[keys[0]]["reasoning_tokens_mean"],
        "tokens_hardest_level": levels[keys[-1]]["reasoning_tokens_mean"],
        "levels": levels,
        "cost": cost_metrics(records, config),
    }


def paired_counts(reference: list[dict], other: list[dict]) -> dict[str, dict[str, int]]:
    """Return, per level label and 'all', the rows `other` answers right and `reference` wrong (`gained`),
    the reverse (`lost`) and the rows compared (`n`): the records of two checkpoints on the same rows, free
    reasoning, first sample of each row."""
    ref = {r["index"]: r for r in reference if r["sample"] == 0}
    out: dict[str, dict[str, int]] = {}
    for r in other:
        if r["sample"] or r["index"] not in ref:
            continue
        a, b = r["budgets"]["unlimited"]["correct"], ref[r["index"]]["budgets"]["unlimited"]["correct"]
        for key in (level_label(float(r["difficulty"])), "all"):
            counts = out.setdefault(key, {"n": 0, "gained": 0, "lost": 0})
            counts["n"] += 1
            counts["gained"] += a and not b
            counts["lost"] += b and not a
    return out


def comparisons(models: dict[str, dict], records: dict[str, list[dict]]) -> dict[str, dict]:
    """Return, for every checkpoint after the first, its deltas against the first (the reference): accuracy,
    accuracy_direct, reasoning tokens, the token-matched accuracy comparison and the paired counts per level
    (`records`: each checkpoint's per-example records)."""
    labels = list(models)
    ref = models[labels[0]]

    def points(m):
        return [(m["budget_tokens_mean"][b], m["budget_curve"][b]) for b in m["budget_curve"]]

    out = {}
    for label in labels[1:]:
        m = models[label]
        out[label] = {
            "reference": labels[0],
            **{
                f"{k}_delta": m[k] - ref[k] if m[k] is not None and ref[k] is not None else None
                for k in (
                    "accuracy",
                    "accuracy_direct",
                    "direct_rate",
                    "reasoning_tokens_mean",
                    "budget_curve_area_log2",
                )
            },
            "token_matched": metrics.token_matched(points(ref), points(m)),
            "paired": paired_counts(records[labels[0]], records[label]),
        }
    return out

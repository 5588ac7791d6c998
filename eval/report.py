"""Write an eval's files: results.json, per_example.jsonl, plots/*.png, report.md; format the stdout table."""

from __future__ import annotations

import json
from pathlib import Path

from thinkdial.eval.config import EvalConfig
from thinkdial.eval.dial_report import dial_lines, dial_sections
from thinkdial.eval.plots import plot_names, write_plots
from thinkdial.eval.schema import ModelResult, Results
from thinkdial.eval.tables import fmt as _fmt
from thinkdial.eval.tables import md_table as _md_table
from thinkdial.io import write_atomic, write_jsonl

TABLE_COLUMNS = ("level", "accuracy", "acc_direct", "direct_rate", "chance", "tokens_mean", "min_tokens_mean")
SUMMARY_METRICS = (
    "accuracy",
    "accuracy_direct",
    "direct_rate",
    "reasoning_tokens_mean",
    "reasoning_tokens_median",
    "reasoning_tokens_p90",
    "spearman_difficulty_tokens",
    "budget_curve_area_log2",
    "overthinking_tokens_mean",
    "tokens_over_oracle",
    "truncated_rate",
)


def _delta(value, ref) -> str:
    return "" if value is None or ref is None else f" ({value - ref:+.3f})"


def _grid(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(x).rjust(w) for x, w in zip(line, widths, strict=True)) for line in [header, *rows]
    ]
    return "\n".join(lines)


def format_table(results: Results) -> str:
    """Return the stdout summary: one per-level block per model, then a comparison when 2+ models.

    Columns: level, accuracy (free reasoning), accuracy_direct (forced B=0), direct_rate, chance
    accuracy, mean reasoning tokens, mean oracle-minimum reasoning tokens. Then the dial's block.
    """
    blocks = []
    for label, m in results.models.items():
        rows = [
            [
                lv,
                _fmt(x.accuracy),
                _fmt(x.accuracy_direct),
                _fmt(x.direct_rate),
                _fmt(x.chance_accuracy, 2),
                _fmt(x.reasoning_tokens_mean, 1),
                _fmt(x.min_reasoning_tokens_mean, 1),
            ]
            for lv, x in [*m.levels.items(), ("all", m)]
        ]
        blocks.append(
            f"== {label} ({m.path})  spearman(difficulty, tokens) = "
            f"{_fmt(m.spearman_difficulty_tokens)}\n" + _grid(list(TABLE_COLUMNS), rows)
        )
    labels = list(results.models)
    if len(labels) > 1:
        ref = results.models[labels[0]]
        header = ["level"] + [f"acc[{lb}]" for lb in labels] + [f"tokens[{lb}]" for lb in labels]
        rows = []
        for lv in [*ref.levels, "all"]:
            ms = [m if lv == "all" else m.levels.get(lv) for m in results.models.values()]
            rows.append(
                [lv]
                + [_cell(ms, i, "accuracy", 3) for i in range(len(ms))]
                + [_cell(ms, i, "reasoning_tokens_mean", 1) for i in range(len(ms))]
            )
        blocks.append(f"== comparison (deltas vs {labels[0]})\n" + _grid(header, rows))
    dial = dial_lines(results.models)
    return "\n\n".join(blocks + ([dial] if dial else []))


def _value(metrics, key: str):
    """Return metric `key` of a GroupMetrics (None for a level the model lacks)."""
    return None if metrics is None else getattr(metrics, key)


def _cell(metrics: list, i: int, key: str, digits: int) -> str:
    """Return the cell of metric `key` of the i-th model, with its delta to the first for i > 0."""
    value = _value(metrics[i], key)
    return _fmt(value, digits) + (_delta(value, _value(metrics[0], key)) if i else "")


def _side_by_side(models: dict[str, ModelResult]) -> str:
    labels = list(models)
    ref = models[labels[0]]
    rows = [
        [k]
        + [
            _fmt(getattr(m, k)) + (_delta(getattr(m, k), getattr(ref, k)) if i else "")
            for i, m in enumerate(models.values())
        ]
        for k in SUMMARY_METRICS
    ]
    return _md_table(["metric", *labels], rows)


def _per_level(models: dict[str, ModelResult]) -> str:
    labels = list(models)
    first = models[labels[0]]
    rows = [
        [lv, _fmt(level.chance_accuracy, 2), _fmt(level.min_reasoning_tokens_mean, 1)]
        + [
            f"{_fmt(m.levels[lv].accuracy)} / {_fmt(m.levels[lv].accuracy_direct)} / "
            f"{_fmt(m.levels[lv].direct_rate)} / {_fmt(m.levels[lv].reasoning_tokens_mean, 1)}"
            for m in models.values()
        ]
        for lv, level in first.levels.items()
    ]
    return _md_table(
        [
            "level",
            "chance",
            "oracle tokens",
            *[f"{lb}: acc / direct / direct_rate / tokens" for lb in labels],
        ],
        rows,
    )


def _budget_table(models: dict[str, ModelResult]) -> str:
    budgets = list(next(iter(models.values())).budget_curve)
    rows = [
        [lb] + [f"{_fmt(m.budget_curve[b])} ({_fmt(m.budget_tokens_mean[b], 1)} tok)" for b in budgets]
        for lb, m in models.items()
    ]
    return _md_table(["model", *[f"B={b}" for b in budgets]], rows)


def _token_matched(results: Results) -> str:
    parts = []
    for label, comp in results.comparisons.items():
        rows = [
            [_fmt(p.tokens, 1), _fmt(p.reference), _fmt(p.other), f"{p.delta:+.3f}"]
            for p in comp.token_matched
        ]
        parts.append(
            f"**{label} vs {comp.reference}** (accuracy interpolated on each budget curve at equal "
            "mean reasoning tokens)\n\n"
            + (
                _md_table(["mean tokens", comp.reference, label, "delta"], rows)
                if rows
                else "_token ranges do not overlap_"
            )
        )
    return "\n\n".join(parts)


def sample_records(records: list[dict], per_level: int) -> list[dict]:
    """Return the first `per_level` records (first sample of each prompt) of every difficulty level."""
    seen: dict = {}
    out = []
    for r in records:
        if r["sample"] == 0 and seen.get(r["difficulty"], 0) < per_level:
            seen[r["difficulty"]] = seen.get(r["difficulty"], 0) + 1
            out.append(r)
    return out


def _samples(records_by_model: dict[str, list[dict]], per_level: int) -> str:
    parts = []
    for label, records in records_by_model.items():
        lines = []
        for r in sorted(sample_records(records, per_level), key=lambda r: float(r["difficulty"])):
            free = r["budgets"]["unlimited"]
            prompt = r["prompt"] if isinstance(r["prompt"], str) else r["prompt"][-1]["content"]
            lines.append(
                f"| {r['difficulty']} | `{prompt[:80]}` | `{r['gold']}` | `{free['text'][:120]}` | "
                f"{free['reasoning_tokens']} | {'yes' if free['correct'] else 'no'} |"
            )
        parts.append(
            f"### {label}\n\n| level | prompt | gold | completion (free) | reasoning tokens | correct |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(lines)
        )
    return "\n\n".join(parts)


def render_report(results: Results, records_by_model: dict[str, list[dict]], config: EvalConfig) -> str:
    """Return report.md: side-by-side table with deltas vs the first model, the dial and cost sections,
    plots, sample completions."""
    data = results.data
    sections = [
        "# thinkdial scaling eval",
        f"Data: `{data.config}` split `{data.split}`, {data.rows} rows; decoding "
        f"{'sampled' if config.do_sample else 'greedy'}, {config.num_samples} sample(s) per prompt; "
        f"max_reasoning_tokens {config.max_reasoning_tokens}, max_answer_tokens {config.max_answer_tokens}"
        f"{f', extend_waits {config.extend_waits}' if config.extend_waits else ''}. Deltas are vs `{next(iter(results.models))}`.",
        "## Summary\n\n" + _side_by_side(results.models),
        "## Per level (free accuracy / forced-direct accuracy / direct-answer rate / mean reasoning tokens)\n\n"
        + _per_level(results.models),
        "## Accuracy vs thinking budget (mean reasoning tokens spent)\n\n" + _budget_table(results.models),
    ]
    if results.comparisons:
        sections.append("## Token-matched comparison\n\n" + _token_matched(results))
    sections += dial_sections(results.models, config)
    sections.append(
        "## Plots\n\n" + "\n\n".join(f"![{name}](plots/{name}.png)" for name in plot_names(results.models))
    )
    if config.samples_per_level:
        sections.append("## Sample completions\n\n" + _samples(records_by_model, config.samples_per_level))
    return "\n\n".join(sections) + "\n"


def write_outputs(
    results: Results, records_by_model: dict[str, list[dict]], config: EvalConfig, out_dir: str | Path
) -> dict[str, Path]:
    """Write results.json, per_example.jsonl, plots/*.png and report.md under out_dir; return name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "results": out / "results.json",
        "per_example": out / "per_example.jsonl",
        "report": out / "report.md",
    }
    write_atomic(paths["results"], json.dumps(results.to_dict(), indent=2) + "\n")
    write_jsonl(
        paths["per_example"],
        ({"model": label, **r} for label, records in records_by_model.items() for r in records),
    )
    paths.update(write_plots(results.models, config.budget_tokens, out / "plots"))
    write_atomic(paths["report"], render_report(results, records_by_model, config))
    return paths

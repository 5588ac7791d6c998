"""`thinkdial reproduce --method NAME`: train a published method's recipe, evaluate it with the papers' protocol
beside its base model, and print the measured row beside the published one (docs/reproduce.md).

    train   every recipe of configs/methods/NAME/ in order (ThinkPrune: its three rounds, each from the
            previous round's output_dir), through `accelerate launch` when an accelerate config is given
    eval    configs/eval/paper_{aime24,math500,gsm8k}.yaml, the base model and the trained one side by side
    report  OUT/report.md and OUT/comparison.json: per published row (configs/methods/published.yaml),
            measured, published and the difference

Each stage runs as the command a user would type, printed first (pipeline/run.py's `run_command`); a stage
whose output is complete is skipped unless `force`, so an interrupted reproduction picks up where it stopped.
With `dry_run` it prints every command and the published rows, and runs nothing.

Measured tokens are thinkdial's reasoning tokens (inside the think block) with the papers' sampling; the papers
count the whole response, which adds the answer (a few hundred tokens on R1-Distill-1.5B).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from thinkdial.errors import UsageError
from thinkdial.io import read_yaml_mapping, write_atomic
from thinkdial.pipeline.run import run_command, shown

METHODS_DIR = Path("configs/methods")
PUBLISHED = METHODS_DIR / "published.yaml"
# the papers' eval protocol: benchmark name as published.yaml spells it -> eval config (docs/methods.md)
PAPER_EVALS = {
    "AIME 2024": "configs/eval/paper_aime24.yaml",
    "MATH-500": "configs/eval/paper_math500.yaml",
    "GSM8K": "configs/eval/paper_gsm8k.yaml",
}
ROUND_RECIPES = ("grpo.yaml", "round2.yaml", "round3.yaml")  # a method's recipes, in training order
BASE = "base"  # the base model's label in the evals' results.json
MEAN_OF = "mean of "  # a published row over several benchmarks: "mean of A, B, C"
FIELDS = ("tokens", "accuracy", "tokens_change_pct", "accuracy_change_pts")


def methods() -> list[str]:
    """Return the methods with a recipe (configs/methods/<name>/grpo.yaml), sorted."""
    return sorted(p.parent.name for p in METHODS_DIR.glob("*/grpo.yaml"))


def method_recipes(method: str) -> list[Path]:
    """Return `method`'s recipes in training order (round 1 first); a UsageError names the methods there are."""
    if method not in methods():
        raise UsageError(f"no recipe for method {method!r}; one of {', '.join(methods())}")
    return [METHODS_DIR / method / name for name in ROUND_RECIPES if (METHODS_DIR / method / name).exists()]


def published_rows(method: str) -> list[dict]:
    """Return `method`'s rows of published.yaml (possibly none)."""
    return [r for r in read_yaml_mapping(PUBLISHED, "published figures")["methods"] if r["method"] == method]


def train_stages(method: str, accelerate_config: str | None, num_processes: int | None) -> list[dict]:
    """Return the training stages of `method`, each {'name', 'how' (run_command's keyword arguments),
    'marker' (the last file the stage writes), 'model' (its output_dir)}."""
    launch = {}
    if accelerate_config is not None:
        launch = {
            "accelerate_config": accelerate_config,
            "launch_args": ["--num_processes", str(num_processes)] if num_processes else [],
        }
    stages = []
    for recipe in method_recipes(method):
        output_dir = read_yaml_mapping(recipe, "recipe")["output_dir"]
        stages.append(
            {
                "name": f"train {recipe.stem}",
                "how": {"args": ["grpo", "--config", str(recipe)], **launch},
                "marker": Path(output_dir) / "tokenizer_config.json",
                "model": output_dir,
            }
        )
    return stages


def eval_stages(method: str, base: str, model: str, out: Path) -> list[dict]:
    """Return the eval stages (one per paper benchmark) of the base model `base` and the trained `model` side
    by side, each {'name', 'benchmark', 'how', 'marker', 'results'}."""
    stages = []
    for benchmark, config in PAPER_EVALS.items():
        folder = out / "eval" / Path(config).stem
        args = ["eval", "--config", config, "--model", f"{BASE}={base}", "--model", f"{method}={model}"]
        stages.append(
            {
                "name": f"eval {benchmark}",
                "benchmark": benchmark,
                "how": {"args": [*args, "--out", str(folder)]},
                "marker": folder / "report.md",
                "results": folder / "results.json",
            }
        )
    return stages


def measured_row(results: dict, method: str) -> dict:
    """Return one benchmark's measured figures from an eval's results.json: the trained model's and the base
    model's mean reasoning tokens and accuracy (percent), and the changes against the base."""
    trained, base = results["models"][method], results["models"][BASE]
    row = {
        "tokens": trained["reasoning_tokens_mean"],
        "accuracy": 100 * trained["accuracy"],
        "base_tokens": base["reasoning_tokens_mean"],
        "base_accuracy": 100 * base["accuracy"],
    }
    row["tokens_change_pct"] = 100 * (row["tokens"] / row["base_tokens"] - 1) if row["base_tokens"] else None
    row["accuracy_change_pts"] = row["accuracy"] - row["base_accuracy"]
    return row


def _mean(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return sum(values) / len(values) if values and len(values) == len(rows) else None


def _difference(measured, published) -> float | None:
    """Return measured - published; against a [low, high] range, the distance outside it (0 within)."""
    if measured is None or published is None:
        return None
    if isinstance(published, list):
        low, high = published
        return measured - low if measured < low else (measured - high if measured > high else 0.0)
    return measured - published


def compare(published: list[dict], measured: dict[str, dict], base_model: str) -> list[dict]:
    """Return, per published row, {'published', 'measured' (or None), 'difference' (per field of FIELDS),
    'match'}: the measured figures on the row's benchmark ('mean of ...' rows: the mean over its benchmarks
    this protocol measures), and how far the two are comparable ('same', 'k of n benchmarks', 'different
    benchmark'; ', other base' when the row's base model is not the recipe's)."""
    out = []
    for row in published:
        benchmark = row["benchmark"]
        listed = (
            [b.strip() for b in benchmark[len(MEAN_OF) :].split(",")]
            if benchmark.startswith(MEAN_OF)
            else [benchmark]
        )
        found = [measured[b] for b in listed if b in measured]
        if not measured:
            match = "not measured"
        elif len(found) == len(listed):
            match = "same"
        elif found:
            match = f"{len(found)} of {len(listed)} benchmarks"
        else:
            found, match = list(measured.values()), "different benchmark"
        if row["base_model"] != base_model:
            match += ", other base"
        got = {key: _mean(found, key) for key in (*FIELDS, "base_tokens", "base_accuracy")} if found else None
        out.append(
            {
                "published": row,
                "measured": got,
                "difference": {k: _difference(got and got[k], row[k]) for k in FIELDS},
                "match": match,
            }
        )
    return out


def _cell(measured, published, difference) -> str:
    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, list):
            return f"[{v[0]:g}, {v[1]:g}]"
        return f"{v:.1f}" if isinstance(v, float) else str(v)

    text = f"{fmt(measured)} / {fmt(published)}"
    return text + (f" ({difference:+.1f})" if difference is not None and math.isfinite(difference) else "")


def report_markdown(method: str, rows: list[dict]) -> str:
    """Return the report: one line per published row, each field as `measured / published (difference)`."""
    lines = [
        f"# {method}: measured (thinkdial, the papers' eval protocol) / published (configs/methods/published.yaml)",
        "",
        "Tokens: measured = mean reasoning tokens; published = mean response tokens as the paper counts them. "
        "'mean of' rows: the mean over the benchmarks measured here (match says how many). Difference = "
        "measured - published (against a range: the distance outside it).",
        "",
        "| benchmark (published) | match | tokens | accuracy (%) | tokens change (%) | accuracy change (pts) "
        "| source |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        p, m, d = r["published"], r["measured"] or {}, r["difference"]
        cells = [_cell(m.get(k), p[k], d[k]) for k in FIELDS]
        flag = " (uncertain)" if p["uncertain"] else ""
        lines.append(
            f"| {p['benchmark']} | {r['match']} | " + " | ".join(cells) + f" | {p['source']}{flag} |"
        )
    return "\n".join(lines) + "\n"


def _run(stage: dict, force: bool) -> None:
    if stage["marker"].exists() and not force:
        print(f"[reproduce] {stage['name']}: already done ({stage['marker']}); skipping", flush=True)
        return
    print(f"\n[reproduce] {stage['name']}", flush=True)
    run_command(**stage["how"])


def run_reproduce(
    method: str,
    out: str | Path | None = None,
    accelerate_config: str | None = None,
    num_processes: int | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> list[dict]:
    """Train, evaluate and compare `method` (module docstring); return the comparison rows (`compare`), or
    with `dry_run` print the commands and the published rows, run nothing and return []."""
    out = Path(out or f"runs/reproduce/{method}")
    base_model = read_yaml_mapping(method_recipes(method)[0], "recipe")["model_name_or_path"]
    trains = train_stages(method, accelerate_config, num_processes)
    evals = eval_stages(method, base_model, trains[-1]["model"], out)
    if dry_run:
        print(f"[reproduce] {method}: the commands (dry run: nothing runs)")
        for stage in trains + evals:
            print(f"  {shown(**stage['how'])}")
        print(f"\n[reproduce] {method}: published rows ({PUBLISHED})")
        print(report_markdown(method, compare(published_rows(method), {}, base_model)), end="")
        return []
    for stage in trains + evals:
        _run(stage, force)
    measured = {s["benchmark"]: measured_row(json.loads(s["results"].read_text()), method) for s in evals}
    rows = compare(published_rows(method), measured, base_model)
    report = report_markdown(method, rows)
    write_atomic(out / "report.md", report)
    write_atomic(out / "comparison.json", json.dumps({"measured": measured, "rows": rows}, indent=2) + "\n")
    print("\n" + report, end="")
    return rows

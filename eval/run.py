"""Run the scaling eval of several checkpoints on the same held-out rows and write its files.

Every input a user can get wrong (config, model paths, an empty eval set) is checked before the
first model loads, so a mistake stops with one clear line and no generation.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch

from thinkdial.data.config import load_data_config
from thinkdial.data.sources import build_rows
from thinkdial.errors import UsageError
from thinkdial.eval.adherence import add_dial_completions, add_token_counts, check_rows
from thinkdial.eval.backends import check_checkpoint, load_backend
from thinkdial.eval.budget import budget_completions
from thinkdial.eval.config import EvalConfig
from thinkdial.eval.report import SCHEMA, format_table, write_outputs
from thinkdial.eval.summary import comparisons, example_records, model_summary
from thinkdial.models import set_cpu_threads


def parse_models(specs: list[str]) -> dict[str, str]:
    """Return label -> path from `LABEL=PATH` specs (a bare PATH is labelled by its folder name)."""
    if not specs:
        raise UsageError("give at least one --model LABEL=PATH")
    models: dict[str, str] = {}
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep:
            label, path = Path(spec).name, spec
        if not label or not path:
            raise UsageError(f"--model {spec!r}: expected LABEL=PATH")
        if label in models:
            raise UsageError(f"--model: label {label!r} given twice; labels must be unique")
        check_checkpoint(path)
        models[label] = path
    return models


def load_eval_rows(config: EvalConfig) -> list[dict]:
    """Return the held-out rows of `config` (raises on an empty set)."""
    rows = build_rows(load_data_config(config.data_config), config.split, config.limit)
    if not rows:
        raise UsageError(f"{config.data_config}: the {config.split} split has no rows to evaluate")
    check_rows(rows, config)
    return rows


def evaluate(backend, rows: list[dict], config: EvalConfig, dial: bool = True) -> list[dict]:
    """Return the per-sequence records of `backend`'s model on `rows` at every budget of `config` and,
    when `dial`, every setting of its dial axes; each completion with its prompt / completion tokens."""
    torch.manual_seed(config.seed)
    records = example_records(rows, budget_completions(backend, [r["prompt"] for r in rows], config), config)
    if dial:
        add_dial_completions(backend, rows, records, config)
    add_token_counts(records, backend.tokenizer)
    return records


def results_header(config: EvalConfig, rows: list[dict]) -> dict:
    """Return the top of results.json: schema, data description and the eval settings."""
    return {
        "schema": SCHEMA,
        "data": {"config": config.data_config, "split": config.split, "rows": len(rows)},
        "eval": {**asdict(config), "budget_tokens": config.budget_tokens},
        "models": {},
    }


def run_eval(
    config: EvalConfig, model_specs: list[str], out_dir: str | Path, log=print, no_dial: tuple[str, ...] = ()
) -> dict:
    """Evaluate every `LABEL=PATH` checkpoint (the labels in `no_dial` without the dial axes), write the
    eval's files under out_dir, print the summary table through `log`; return the results.json dict."""
    models = parse_models(model_specs)
    unknown = sorted(set(no_dial) - set(models))
    if unknown:
        raise UsageError(f"--no-dial: {unknown} name(s) no --model label; labels: {sorted(models)}")
    rows = load_eval_rows(config)
    results = results_header(config, rows)
    records_by_model = {}
    previous_threads = set_cpu_threads(config.cpu_threads)
    try:
        for label, path in models.items():
            start = time.perf_counter()
            backend = load_backend(path, config)
            records_by_model[label] = evaluate(backend, rows, config, dial=label not in no_dial)
            summary = model_summary(records_by_model[label], config, path)
            summary["backend"] = backend.name
            summary["wall_seconds"] = round(time.perf_counter() - start, 2)
            results["models"][label] = summary
            log(
                f"[eval] {label}: {len(rows)} rows x {len(config.budget_tokens)} budgets in {summary['wall_seconds']} s"
            )
    finally:
        if previous_threads is not None:
            torch.set_num_threads(previous_threads)
    if len(models) > 1:
        results["comparisons"] = comparisons(results["models"])
    paths = write_outputs(results, records_by_model, config, out_dir)
    log(format_table(results))
    log(f"[eval] wrote {paths['results']}, {paths['per_example']}, {paths['report']} and plots/")
    return results

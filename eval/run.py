"""Run the scaling eval of several checkpoints on the same held-out rows and write its files.

Every input a user can get wrong (config, model paths, an empty eval set) is checked before the
first model loads, so a mistake stops with one clear line and no generation.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from pathlib import Path

import torch

from thinkdial.data.config import load_data_config
from thinkdial.data.dial import control_prompt
from thinkdial.data.sources import build_rows
from thinkdial.errors import UsageError
from thinkdial.eval.adherence import add_dial_completions, add_token_counts, check_rows
from thinkdial.eval.backends import check_checkpoint, load_backend
from thinkdial.eval.budget import budget_completions, encode_prompts
from thinkdial.eval.config import EvalConfig
from thinkdial.eval.dial import check_context
from thinkdial.eval.report import format_table, write_outputs
from thinkdial.eval.schema import SCHEMA, Results
from thinkdial.eval.summary import comparisons, example_records, model_summary
from thinkdial.models import context_tokens_of, load_tokenizer, set_cpu_threads


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


def check_room(
    models: dict[str, str], rows: list[dict], config: EvalConfig, no_dial: tuple[str, ...]
) -> None:
    """Raise a UsageError naming the model and row, before any weights load, when a model's positions cannot
    hold the eval's longest prompt (with each of the dial's control texts where it is evaluated on the dial)
    and the completion room: max_reasoning_tokens, the think tags and max_answer_tokens. Returns None."""
    from transformers import AutoConfig

    for label, path in models.items():
        context = context_tokens_of(AutoConfig.from_pretrained(path))
        if context is None:
            continue
        tokenizer = load_tokenizer(path)
        lengths = [len(ids) for ids in encode_prompts(tokenizer, [r["prompt"] for r in rows])]
        worst = max(range(len(rows)), key=lengths.__getitem__)
        prompt = rows[worst]["prompt"]
        prompts = [prompt]
        if label not in no_dial:
            prompts += [control_prompt(prompt, b, None) for b in config.requested_budgets]
            prompts += [control_prompt(prompt, None, e) for e in config.efforts]
        places = [f"--model {label}: eval row {worst + 1}"] * len(prompts)
        caps = [config.max_reasoning_tokens]
        advice = "lower the eval config's max_reasoning_tokens or max_answer_tokens, or shorten the prompts"
        check_context(
            encode_prompts(tokenizer, prompts), caps, config.max_answer_tokens, context, places, advice
        )


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
        "comparisons": {},
    }


def evaluate_checkpoint(
    path: str, rows: list[dict], config: EvalConfig, dial: bool
) -> tuple[list[dict], dict]:
    """Return (per-sequence records, results.json summary) of checkpoint `path` on `rows`, evaluated with
    `config.cpu_threads` torch threads on CPU (restored after), with the dial axes when `dial`."""
    start = time.perf_counter()
    previous_threads = set_cpu_threads(config.cpu_threads)
    try:
        backend = load_backend(path, config)
        records = evaluate(backend, rows, config, dial=dial)
    finally:
        if previous_threads is not None:
            torch.set_num_threads(previous_threads)
    summary = model_summary(records, config, path)
    summary["backend"] = backend.name
    summary["wall_seconds"] = round(time.perf_counter() - start, 2)
    return records, summary


def parallel_jobs(config: EvalConfig, checkpoints: int) -> int:
    """Return how many checkpoints to evaluate at once: config.jobs, capped by the checkpoints and the cores;
    1 with an accelerator or the vLLM backend (one model per device)."""
    if config.jobs == 1 or config.backend == "vllm" or torch.accelerator.is_available():
        return 1
    return max(1, min(config.jobs, checkpoints, os.cpu_count() or 1))


def evaluate_all(
    models: dict[str, str], rows: list[dict], config: EvalConfig, no_dial: tuple[str, ...], log
) -> dict[str, tuple[list[dict], dict]]:
    """Return label -> (records, summary) of every checkpoint in `models`, `parallel_jobs` at a time (worker
    processes, progress bars off there), logging each as it finishes."""
    jobs = parallel_jobs(config, len(models))
    done = {}

    def finished(label: str, result: tuple[list[dict], dict]) -> None:
        done[label] = result
        log(
            f"[eval] {label}: {len(rows)} rows x {len(config.budget_tokens)} budgets in {result[1]['wall_seconds']} s"
        )

    if jobs == 1:
        for label, path in models.items():
            finished(label, evaluate_checkpoint(path, rows, config, label not in no_dial))
        return done
    log(f"[eval] {len(models)} checkpoints, {jobs} at a time in worker processes")
    quiet = replace(config, progress=False)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {
            pool.submit(evaluate_checkpoint, path, rows, quiet, label not in no_dial): label
            for label, path in models.items()
        }
        for future in as_completed(futures):
            finished(futures[future], future.result())
    return {label: done[label] for label in models}


def run_eval(
    config: EvalConfig, model_specs: list[str], out_dir: str | Path, log=print, no_dial: tuple[str, ...] = ()
) -> dict:
    """Evaluate every `LABEL=PATH` checkpoint (the labels in `no_dial` without the dial axes), write the
    eval's files under out_dir, print the summary table through `log`; return the `Results` written."""
    models = parse_models(model_specs)
    unknown = sorted(set(no_dial) - set(models))
    if unknown:
        raise UsageError(f"--no-dial: {unknown} name(s) no --model label; labels: {sorted(models)}")
    rows = load_eval_rows(config)
    check_room(models, rows, config, no_dial)
    results = results_header(config, rows)
    records_by_model = {}
    for label, (records, summary) in evaluate_all(models, rows, config, no_dial, log).items():
        records_by_model[label] = records
        results["models"][label] = summary
    results["comparisons"] = comparisons(results["models"], records_by_model)
    typed = Results.from_dict(results)
    paths = write_outputs(typed, records_by_model, config, out_dir)
    log(format_table(typed))
    log(f"[eval] wrote {paths['results']}, {paths['per_example']}, {paths['report']} and plots/")
    return typed

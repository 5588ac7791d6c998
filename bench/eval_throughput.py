"""Batched vs one-prompt-at-a-time generation of the scaling eval; checkpoints one at a time vs in worker
processes. Each measured in one run.

    .venv/bin/python bench/eval_throughput.py [--model PATH] [--prompts 256]
    .venv/bin/python bench/eval_throughput.py --jobs 2 --checkpoints A B C [--prompts 1600]

Default mode: decodes the free-reasoning pass (max_reasoning_tokens + max_answer_tokens + think tags) of
the first `--prompts` held-out rows of the tiny default with the eval's transformers backend, once with
`batch_size` of the eval config and once with batch size 1, and prints both times and their ratio.
Without --model it builds the random tiny default model (which never stops early, so both runs
decode the same number of tokens). Target: ratio >= 5.

`--jobs N`: the whole eval of the eval config (`thinkdial eval`'s run_eval: budget forcing and, for every
checkpoint but the first, the dial axes, as the demo evaluates its start and seeds) over `--prompts` rows,
once with `jobs: 1` and once with `jobs: N`; prints both wall times, their ratio, and whether the two
results agree (wall times aside). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from thinkdial.eval.backends import TransformersBackend
from thinkdial.eval.budget import encode_prompts, free_pass
from thinkdial.eval.config import load_eval_config
from thinkdial.eval.run import load_eval_rows, run_eval
from thinkdial.models import load_tokenizer
from thinkdial.tiny import build_tiny


def time_free_pass(model, tokenizer, prompt_ids: list[list[int]], config) -> tuple[float, int]:
    """Return (seconds, completion tokens) of the eval's free-reasoning pass over `prompt_ids`."""
    start = time.perf_counter()
    traces = free_pass(TransformersBackend(model, tokenizer, config), prompt_ids, config)
    return time.perf_counter() - start, sum(len(t.reasoning_ids) for t in traces)


def time_eval(config, checkpoints: list[str], out: Path) -> tuple[float, dict]:
    """Return (seconds, results.json's data, models and comparisons without wall times) of run_eval on
    `checkpoints` (the first without the dial axes) into `out`."""
    specs = [f"m{i}={path}" for i, path in enumerate(checkpoints)]
    start = time.perf_counter()
    results = run_eval(config, specs, out, log=lambda *_: None, no_dial=("m0",)).to_dict()
    seconds = time.perf_counter() - start
    for summary in results["models"].values():
        summary.pop("wall_seconds")
    return seconds, {k: results[k] for k in ("data", "models", "comparisons")}


def compare_jobs(config, checkpoints: list[str], jobs: int) -> None:
    """Print the eval's wall time with one checkpoint at a time and with `jobs` worker processes."""
    with tempfile.TemporaryDirectory(prefix="thinkdial_bench_") as tmp:
        one_s, one = time_eval(replace(config, jobs=1), checkpoints, Path(tmp) / "one")
        many_s, many = time_eval(replace(config, jobs=jobs), checkpoints, Path(tmp) / "many")
    print(f"checkpoints: {len(checkpoints)}  rows: {one['data']['rows']}  cpu_threads: {config.cpu_threads}")
    print(f"jobs 1: {one_s:.1f} s   jobs {jobs}: {many_s:.1f} s   speed ratio: {one_s / many_s:.2f}x")
    print(f"results identical (wall times aside): {one == many}")


def main() -> None:
    """Run both generation modes and print the speed ratio (or compare eval jobs with --jobs)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="checkpoint (default: build the random tiny default model)")
    parser.add_argument("--config", default="configs/tiny/eval.yaml")
    parser.add_argument("--prompts", type=int, default=256, help="number of held-out prompts")
    parser.add_argument(
        "--jobs", type=int, help="compare the eval with jobs 1 and this many worker processes"
    )
    parser.add_argument("--checkpoints", nargs="+", help="with --jobs: the checkpoints (the first: no dial)")
    args = parser.parse_args()
    if args.jobs:
        if not args.checkpoints:
            parser.error("--jobs needs --checkpoints")
        compare_jobs(
            load_eval_config(args.config, limit=args.prompts, progress=False), args.checkpoints, args.jobs
        )
        return
    config = load_eval_config(args.config, limit=args.prompts, progress=False)
    torch.set_num_threads(config.cpu_threads or torch.get_num_threads())
    path = args.model or str(build_tiny(tempfile.mkdtemp(prefix="thinkdial_bench_")))
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tokenizer = load_tokenizer(path)
    prompt_ids = encode_prompts(tokenizer, [r["prompt"] for r in load_eval_rows(config)])
    batched_s, batched_tokens = time_free_pass(model, tokenizer, prompt_ids, config)
    single_s, single_tokens = time_free_pass(model, tokenizer, prompt_ids, replace(config, batch_size=1))
    print(f"prompts: {len(prompt_ids)}  threads: {torch.get_num_threads()}  model: {path}")
    print(f"batched (batch_size {config.batch_size}): {batched_s:.2f} s, {batched_tokens} reasoning tokens")
    print(f"one prompt at a time:            {single_s:.2f} s, {single_tokens} reasoning tokens")
    print(f"speed ratio (one-at-a-time / batched): {single_s / batched_s:.1f}x  (target >= 5x)")


if __name__ == "__main__":
    main()

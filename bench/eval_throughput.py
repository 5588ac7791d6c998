"""Batched vs one-prompt-at-a-time generation of the scaling eval, measured in one run.

    .venv/bin/python bench/eval_throughput.py [--model PATH] [--prompts 256]

Decodes the free-reasoning pass (max_reasoning_tokens + max_answer_tokens + think tags) of the first
`--prompts` held-out rows of the tiny default with the eval's transformers backend, once with
`batch_size` of the eval config and once with batch size 1, and prints both times and their ratio.
Without --model it builds the random tiny default model (which never stops early, so both runs
decode the same number of tokens). Target: ratio >= 5.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import torch
from transformers import AutoModelForCausalLM

from thinkdial.eval.backends import TransformersBackend
from thinkdial.eval.budget import encode_prompts, free_pass
from thinkdial.eval.config import load_eval_config
from thinkdial.eval.run import load_eval_rows
from thinkdial.models import load_tokenizer
from thinkdial.tiny import build_tiny


def time_free_pass(model, tokenizer, prompt_ids: list[list[int]], config) -> tuple[float, int]:
    """Return (seconds, completion tokens) of the eval's free-reasoning pass over `prompt_ids`."""
    start = time.perf_counter()
    traces = free_pass(TransformersBackend(model, tokenizer, config), prompt_ids, config)
    return time.perf_counter() - start, sum(len(t.reasoning_ids) for t in traces)


def main() -> None:
    """Run both generation modes and print the speed ratio."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="checkpoint (default: build the random tiny default model)")
    parser.add_argument("--config", default="configs/tiny/eval.yaml")
    parser.add_argument("--prompts", type=int, default=256, help="number of held-out prompts")
    args = parser.parse_args()
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

"""GPU smoke check: a real-shape model through `thinkdial grpo`, a plain TRL script and the eval backend.

    python bench/gpu_smoke.py [--shape qwen2.5-1.5b|tiny] [--out gpu_smoke.json]

Builds a model of the Qwen2.5-1.5B architecture (its config values are written below: nothing is
downloaded) with random weights, bf16 on a GPU (fp32 on CPU), with the embedded tiny tokenizer (its
ids are far below the vocab), in a temporary folder. Then, each in its own process
(bench/grpo_sides.py): a few steps of `thinkdial grpo` (configs/tiny/grpo.yaml with
configs/rewards/correct_only.yaml) and of a plain TRL GRPOTrainer script with the same settings; and,
in this process, one batched greedy pass of the eval's transformers backend over held-out prompts.
The random model rarely emits EOS, so each completion runs to its token cap: the work is fixed.

Prints and writes (--out) one JSON object: the shape, device, dtype and parameter count; the median
seconds per GRPO optimizer step of thinkdial and of plain TRL (TRL's `step_time`, first steps left
out) and their ratio; generated tokens per second of the eval backend; the peak GPU memory (GiB) of
each of the three (null without CUDA); versions and wall time. `--shape tiny` (a few layers, small
width) runs the same path on CPU in about a minute: the slow test does that.

On a GPU box with torch, transformers, accelerate and peft but no package registry (about 5 minutes
on one H200), carry the rest as wheels. Here, in the repo root:

    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \\
        trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19

(and any other package `pip show` there lacks: math-verify, wandb and deepspeed are not needed). There:

    pip install -q --no-index --no-deps .whl/*.whl && pip install -q --no-deps --no-build-isolation -e . \\
        && python3 bench/gpu_smoke.py --out gpu_smoke.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import torch
from grpo_sides import ROOT, peak_memory_bytes, step_times, train_side

from thinkdial.eval.backends import load_backend
from thinkdial.eval.budget import encode_prompts
from thinkdial.eval.config import load_eval_config
from thinkdial.eval.run import load_eval_rows
from thinkdial.tiny import build_tokenizer

QWEN2_ARCH = {"rope_theta": 1e6, "rms_norm_eps": 1e-6, "tie_word_embeddings": True}
SHAPES = {  # Qwen2 shapes; widths in hidden units, vocab in tokens
    "qwen2.5-1.5b": {
        "hidden_size": 1536,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "intermediate_size": 8960,
        "vocab_size": 151936,
        "max_position_embeddings": 32768,
        **QWEN2_ARCH,
    },
    "tiny": {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 128,
        "vocab_size": 128,
        "max_position_embeddings": 512,
        **QWEN2_ARCH,
    },
}
RUNS = {  # per shape: GRPO steps (warmup_steps of them left out), completion and eval lengths in tokens
    "qwen2.5-1.5b": {
        "steps": 8,
        "warmup_steps": 2,
        "per_device_train_batch_size": 32,
        "num_generations": 8,
        "max_completion_length": 256,
        "eval_prompts": 128,
        "eval_new_tokens": 256,
    },
    "tiny": {
        "steps": 3,
        "warmup_steps": 1,
        "per_device_train_batch_size": 8,
        "num_generations": 4,
        "max_completion_length": 16,
        "eval_prompts": 16,
        "eval_new_tokens": 16,
    },
}
REWARDS = "configs/rewards/correct_only.yaml"
EVAL_CONFIG = "configs/tiny/eval.yaml"
GIB = 2**30  # bytes


def build_model(shape: str, folder: Path, device: str, dtype: torch.dtype) -> int:
    """Save a randomly initialised Qwen2 model of `shape` (built on `device` in `dtype`) and the embedded tiny
    tokenizer to `folder`; return its parameter count."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    tokenizer = build_tokenizer()
    config = Qwen2Config(
        **SHAPES[shape],
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def gib(n_bytes: int | None) -> float | None:
    """Return `n_bytes` in GiB (3 decimals); None stays None."""
    return None if n_bytes is None else round(n_bytes / GIB, 3)


def eval_throughput(folder: Path, prompts: int, new_tokens: int) -> dict:
    """Return the eval backend's generated tokens, seconds, tokens/s and peak GPU memory for one greedy batch
    of `prompts` held-out prompts, up to `new_tokens` each."""
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    config = load_eval_config(
        ROOT / EVAL_CONFIG, limit=prompts, batch_size=prompts, backend="transformers", progress=False
    )
    backend = load_backend(str(folder), config)
    prompt_ids = encode_prompts(backend.tokenizer, [r["prompt"] for r in load_eval_rows(config)])
    backend.generate(prompt_ids[:1], 2)  # warm-up: the first call loads the kernels
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    completions = backend.generate(prompt_ids, new_tokens)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    tokens = sum(len(c) for c in completions)
    return {
        "eval_prompts": len(prompt_ids),
        "eval_generated_tokens": tokens,
        "eval_seconds": round(seconds, 3),
        "eval_generated_tokens_per_s": round(tokens / seconds, 1),
        "eval_peak_gpu_memory_gib": gib(torch.cuda.max_memory_allocated()) if cuda else None,
    }


def grpo_step_times(folder: Path, tmp: str, run: dict, bf16: bool) -> dict:
    """Return the median seconds per GRPO step of `thinkdial grpo` and of plain TRL on the model in `folder`,
    their ratio and each side's peak GPU memory."""
    settings = {
        "per_device_train_batch_size": run["per_device_train_batch_size"],
        "num_generations": run["num_generations"],
        "max_completion_length": run["max_completion_length"],
        "learning_rate": 1e-6,
        "beta": 0.0,
        "loss_type": "dapo",
        "scale_rewards": "group",
        "temperature": 1.0,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "bf16": bf16,
        "gradient_checkpointing": False,
        "disable_tqdm": True,
        "seed": 0,
    }
    result = {}
    for side, label in (("thinkdial", "thinkdial_grpo"), ("plain", "plain_trl")):
        output = train_side(side, str(folder), f"{tmp}/{side}", run["steps"], REWARDS, settings)
        result[f"{label}_step_time_s"] = round(statistics.median(step_times(output, run["warmup_steps"])), 4)
        result[f"{label}_peak_gpu_memory_gib"] = gib(peak_memory_bytes(output))
    result["step_time_ratio_thinkdial_over_plain"] = round(
        result["thinkdial_grpo_step_time_s"] / result["plain_trl_step_time_s"], 3
    )
    return result


def smoke(shape: str) -> dict:
    """Return the smoke check's measurements for `shape` (see the module docstring)."""
    start = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    run = RUNS[shape]
    report = {
        "shape": shape,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "dtype": str(dtype).removeprefix("torch."),
        "grpo_steps": run["steps"],
        "grpo_warmup_steps": run["warmup_steps"],
        "grpo_completions_per_step": run["per_device_train_batch_size"],
        "grpo_max_completion_tokens": run["max_completion_length"],
        "eval_max_new_tokens": run["eval_new_tokens"],
    }
    with tempfile.TemporaryDirectory(prefix="thinkdial_gpu_smoke_") as tmp:
        folder = Path(tmp) / "model"
        report["parameters"] = build_model(shape, folder, device, dtype)
        report.update(eval_throughput(folder, run["eval_prompts"], run["eval_new_tokens"]))
        report.update(grpo_step_times(folder, tmp, run, bf16=device == "cuda"))
    report["versions"] = {name: version(name) for name in ("torch", "transformers", "trl", "accelerate")}
    report["wall_time_s"] = round(time.perf_counter() - start, 1)
    return report


def main() -> int:
    """Run the smoke check, print its JSON and write it to --out; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shape",
        choices=sorted(SHAPES),
        default="qwen2.5-1.5b",
        help="model shape: the real one (GPU) or a tiny one (CPU, CI)",
    )
    parser.add_argument("--out", default="gpu_smoke.json", help="JSON output file")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    os.chdir(ROOT)  # the configs' relative paths
    os.environ.setdefault(
        "HF_HUB_OFFLINE", "1"
    )  # nothing comes from a hub: fail fast rather than wait on one
    text = json.dumps(smoke(args.shape), indent=2)
    print(text)
    out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The two sides the GRPO benches compare, each trained in its own process.

    python bench/grpo_sides.py {thinkdial,plain} --model PATH --out DIR --steps N --rewards YAML --settings JSON

`thinkdial`: `thinkdial grpo` on the recipe configs/tiny/grpo.yaml, with the model, reward config,
step count, train rows and `--settings` as overrides. `plain`: a bare TRL GRPOTrainer (no thinkdial
config, recipe, callbacks or wrappers) on the same model, rows, reward functions and settings. Each
prints TRL's log dicts (with its `step_time`, seconds per optimizer step; thinkdial's on stderr, plain
TRL's on stdout) and, last, its peak GPU memory on stdout. Used by bench/step_overhead.py and
bench/gpu_smoke.py through `train_side`.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "configs/tiny/grpo.yaml"
DATA_CONFIG = "configs/tiny/grpo_data.yaml"
TRAIN_ROWS = 256
PEAK_MARKER = "peak GPU memory (bytes):"


def plain_trl(
    model_path: str, output_dir: str, steps: int, rewards: str, settings: dict, train_rows: int
) -> int:
    """Train with a bare GRPOTrainer: no thinkdial config, recipe, callbacks or wrappers; return 0."""
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    from thinkdial.data.config import load_data_config
    from thinkdial.data.sources import build_dataset
    from thinkdial.models import load_tokenizer
    from thinkdial.rewards.config import load_reward_config
    from thinkdial.rewards.registry import build_reward_funcs

    dataset = build_dataset(load_data_config(ROOT / DATA_CONFIG), "train", train_rows)
    tokenizer = load_tokenizer(model_path)
    funcs, weights = build_reward_funcs(load_reward_config(ROOT / rewards), tokenizer)
    args = GRPOConfig(output_dir=output_dir, max_steps=steps, reward_weights=weights, **settings)
    model = AutoModelForCausalLM.from_pretrained(model_path)
    GRPOTrainer(
        model=model, reward_funcs=funcs, args=args, train_dataset=dataset, processing_class=tokenizer
    ).train()
    return 0


def thinkdial_grpo(
    model_path: str, output_dir: str, steps: int, rewards: str, settings: dict, train_rows: int
) -> int:
    """Train with `thinkdial grpo` (the entry `python -m thinkdial` runs) on the tiny recipe with these
    overrides; return its exit code."""
    from thinkdial.cli import main

    return main(
        [
            "grpo",
            "--config",
            RECIPE,
            "--model_name_or_path",
            model_path,
            "--reward_config",
            rewards,
            "--output_dir",
            output_dir,
            "--max_steps",
            str(steps),
            "--train_limit",
            str(train_rows),
            "--select_checkpoint=false",  # the plain TRL side validates nothing: compare training steps alone
            *[f"--{k}={v}" for k, v in settings.items()],
        ]
    )


SIDES = {"thinkdial": thinkdial_grpo, "plain": plain_trl}


def train_side(
    side: str,
    model_path: str,
    output_dir: str,
    steps: int,
    rewards: str,
    settings: dict,
    train_rows: int = TRAIN_ROWS,
) -> str:
    """Run one side in its own process in the repo root, with one torch CPU thread; return its stdout + stderr
    (thinkdial logs on stderr; raises with the stderr tail on failure)."""
    cmd = [
        sys.executable,
        __file__,
        side,
        "--model",
        model_path,
        "--out",
        output_dir,
        "--steps",
        str(steps),
        "--rewards",
        rewards,
        "--settings",
        json.dumps(settings),
        "--train-rows",
        str(train_rows),
    ]
    result = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    if result.returncode:
        raise RuntimeError(f"grpo side {side} failed:\n{result.stderr[-3000:]}")
    return result.stdout + result.stderr


def step_times(output: str, warmup_steps: int) -> list[float]:
    """Return the `step_time` values (seconds) of the log dicts printed in `output`, after the first warmup_steps."""
    logs = [
        ast.literal_eval(line)
        for line in output.splitlines()
        if line.startswith("{") and "'step_time'" in line
    ]
    return [float(log["step_time"]) for log in logs][warmup_steps:]


def peak_memory_bytes(output: str) -> int | None:
    """Return the peak GPU memory (bytes) a side printed last in `output`; None without a GPU."""
    value = [line for line in output.splitlines() if line.startswith(PEAK_MARKER)][-1].split(":")[1].strip()
    return None if value == "None" else int(value)


def main() -> int:
    """Train one side, print its peak GPU memory; return its exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("side", choices=sorted(SIDES))
    parser.add_argument("--model", required=True, help="model folder")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--steps", type=int, required=True, help="optimizer steps")
    parser.add_argument("--rewards", required=True, help="reward config, relative to the repo root")
    parser.add_argument("--settings", default="{}", help="GRPOConfig settings (JSON object)")
    parser.add_argument("--train-rows", type=int, default=TRAIN_ROWS, help="train rows")
    args = parser.parse_args()
    code = SIDES[args.side](
        args.model, args.out, args.steps, args.rewards, json.loads(args.settings), args.train_rows
    )
    import torch

    print(
        f"{PEAK_MARKER} {torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None}",
        flush=True,
    )
    return code


if __name__ == "__main__":
    sys.exit(main())

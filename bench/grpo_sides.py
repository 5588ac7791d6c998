"""The two sides the GRPO benches compare, each trained in its own process.

    python bench/grpo_sides.py {thinkdial,plain} --model PATH --out DIR --steps N --rewards YAML --settings JSON
        [--recipe YAML]

`thinkdial`: `thinkdial grpo` on the recipe configs/tiny/grpo.yaml (or `--recipe`), with the model, reward
config, step count, train rows and `--settings` as overrides. `plain`: a bare TRL GRPOTrainer (no thinkdial
config, recipe, callbacks or wrappers) on the same model, rows, reward functions and settings; a `generation`
setting is applied to its trainer's generation config as thinkdial does (train/rollout.py). Each prints TRL's
log dicts (with its `step_time`, seconds per optimizer step; thinkdial's on stderr, plain TRL's on stdout)
and, last, its peak GPU memory, DeepSpeed's ZeRO stage (0 without) and where the time went on stdout: TRL's own `profiling_context` timings
(generation, rewards, `_prepare_inputs`, `compute_loss`), each `training_step`, the callbacks and the
steps' boundaries. Used by bench/step_overhead.py and bench/gpu_smoke.py through `train_side`, which can
launch a side through `accelerate launch` (one process) to run an accelerate config such as ZeRO-2/3.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "configs/tiny/grpo.yaml"
DATA_CONFIG = "configs/tiny/grpo_data.yaml"
TRAIN_ROWS = 256
PEAK_MARKER = "peak GPU memory (bytes):"
PROFILE_MARKER = "profile (name, end, seconds):"
ZERO_MARKER = "DeepSpeed ZeRO stage:"


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
    from thinkdial.train.rollout import set_rollout_generation

    settings = dict(settings)
    generation = settings.pop("generation", "dynamic")
    dataset = build_dataset(load_data_config(ROOT / DATA_CONFIG), "train", train_rows)
    tokenizer = load_tokenizer(model_path)
    funcs, weights = build_reward_funcs(load_reward_config(ROOT / rewards), tokenizer)
    args = GRPOConfig(output_dir=output_dir, max_steps=steps, reward_weights=weights, **settings)
    model = AutoModelForCausalLM.from_pretrained(model_path)
    trainer = GRPOTrainer(
        model=model, reward_funcs=funcs, args=args, train_dataset=dataset, processing_class=tokenizer
    )
    set_rollout_generation(trainer, generation)
    trainer.train()
    return 0


def thinkdial_grpo(
    model_path: str,
    output_dir: str,
    steps: int,
    rewards: str | None,
    settings: dict,
    train_rows: int | None,
    recipe: str = RECIPE,
) -> int:
    """Train with `thinkdial grpo` (the entry `python -m thinkdial` runs) on `recipe` with these overrides (no
    reward config or train limit override where None); return its exit code."""
    from thinkdial.cli import main

    return main(
        [
            "grpo",
            "--config",
            recipe,
            "--model_name_or_path",
            model_path,
            *(["--reward_config", rewards] if rewards else []),
            "--output_dir",
            output_dir,
            "--max_steps",
            str(steps),
            *(["--train_limit", str(train_rows)] if train_rows else []),
            "--select_checkpoint=false",  # the plain TRL side validates nothing: compare training steps alone
            *[f"--{k}={v}" for k, v in settings.items()],  # (a recipe check turns selection back on here)
        ]
    )


SIDES = {"thinkdial": thinkdial_grpo, "plain": plain_trl}


def train_side(
    side: str,
    model_path: str,
    output_dir: str,
    steps: int,
    rewards: str | None,
    settings: dict,
    train_rows: int | None = TRAIN_ROWS,
    recipe: str = RECIPE,
    accelerate_config: str | None = None,
    env: dict | None = None,
) -> str:
    """Run one side in its own process in the repo root, with one torch CPU thread (through `accelerate launch
    --config_file ACCELERATE_CONFIG --num_processes 1` when given; mixed precision off without a GPU); return
    its stdout + stderr (thinkdial logs on stderr; raises with the stderr tail on failure)."""
    launch = [sys.executable]
    if accelerate_config:
        import torch

        launch += [
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            accelerate_config,
            "--num_processes",
            "1",
        ]
        launch += [] if torch.cuda.is_available() else ["--mixed_precision", "no"]
    cmd = [
        *launch,
        __file__,
        side,
        "--model",
        model_path,
        "--out",
        output_dir,
        "--steps",
        str(steps),
        "--rewards",
        rewards or "",
        "--settings",
        json.dumps(settings),
        "--train-rows",
        str(train_rows or 0),
        "--recipe",
        recipe,
    ]
    result = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )
    if result.returncode:
        raise RuntimeError(f"grpo side {side} failed:\n{result.stderr[-3000:]}")
    return result.stdout + result.stderr


def step_logs(output: str) -> list[dict]:
    """Return TRL's per-step log dicts (those with a `step_time`) printed in `output`, in order."""
    return [
        ast.literal_eval(line)
        for line in output.splitlines()
        if line.startswith("{") and "'step_time'" in line
    ]


def step_times(output: str, warmup_steps: int) -> list[float]:
    """Return the `step_time` values (seconds) of the log dicts printed in `output`, after the first warmup_steps."""
    return [float(log["step_time"]) for log in step_logs(output)][warmup_steps:]


def profile_records(output: str) -> list[tuple[str, float, float]]:
    """Return the (name, perf_counter seconds at its end, seconds) timings a side printed in `output`
    (`install_profiler`)."""
    line = [line for line in output.splitlines() if line.startswith(PROFILE_MARKER)][-1]
    return [tuple(record) for record in json.loads(line.split(":", 1)[1])]


def install_profiler() -> list[list]:
    """Record how long each of TRL's `profiling_context` blocks, each `training_step` (generation when due, loss
    forward, backward) and each callback event took, as [name, perf_counter seconds at its end, seconds], and a
    "clock" record once the start's callbacks and each step's `on_step_end` callbacks are done (the steps'
    boundaries); return the list the records go to."""
    from transformers import Trainer
    from transformers.trainer_callback import CallbackHandler
    from trl.extras.profiling import ProfilingContext

    records: list[list] = []
    training_step, call_event = Trainer.training_step, CallbackHandler.call_event

    def log_metrics(self, duration):
        records.append([self.name.split(".", 1)[-1], time.perf_counter(), duration])

    def timed(method, name):
        def wrapper(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                end = time.perf_counter()
                records.append([name, end, end - start])
                if name == "callbacks" and args[0] in ("on_train_begin", "on_step_end"):
                    records.append(["clock", end, 0.0])

        return wrapper

    ProfilingContext._log_metrics = log_metrics
    Trainer.training_step = timed(training_step, "training_step")
    CallbackHandler.call_event = timed(call_event, "callbacks")
    return records


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
    parser.add_argument(
        "--rewards", required=True, help="reward config, relative to the repo root ('': the recipe's)"
    )
    parser.add_argument("--settings", default="{}", help="GRPOConfig settings (JSON object)")
    parser.add_argument("--train-rows", type=int, default=TRAIN_ROWS, help="train rows (0: the recipe's)")
    parser.add_argument(
        "--recipe", default=RECIPE, help="thinkdial side: the recipe, relative to the repo root"
    )
    args = parser.parse_args()
    records = install_profiler()
    settings, rows = json.loads(args.settings), args.train_rows or None
    if args.side == "thinkdial":
        code = thinkdial_grpo(args.model, args.out, args.steps, args.rewards, settings, rows, args.recipe)
    else:
        code = plain_trl(args.model, args.out, args.steps, args.rewards, settings, rows)
    import torch

    print(
        f"{PEAK_MARKER} {torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None}",
        flush=True,
    )
    print(f"{PROFILE_MARKER} {json.dumps(records)}", flush=True)
    from accelerate.state import AcceleratorState  # the Trainer's, set up by now

    plugin = AcceleratorState().deepspeed_plugin
    print(f"{ZERO_MARKER} {plugin.zero_stage if plugin else 0}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())

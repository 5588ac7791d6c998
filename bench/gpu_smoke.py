"""GPU check in one command: the eval backend, `thinkdial grpo` against plain TRL, and every shipped GRPO recipe
at its real shape, with where the time goes; LoRA, DeepSpeed ZeRO-2 and ZeRO-3 and an export included.

    python bench/gpu_smoke.py [--shape real|tiny] [--sections eval,sides,recipes] [--recipes A,B]
                              [--budget-s 400] [--out gpu_smoke.json]

Models: random weights of the real architectures (the config values pipeline/check.py writes down, as the
models' config.json give them: nothing is downloaded), bf16 on a GPU (fp32 on CPU), with the recipe check's
stand-in tokenizer (the embedded character-level one: its ids are far below the vocab), in a temporary folder. The random models rarely emit EOS, so completions
run to their caps: the work is fixed. `--shape tiny` shrinks the widths and lengths (CPU, the slow test).

Sections, in this order (bench/README.md gives the procedure and where the figures go):
- eval: one greedy pass of the eval's transformers backend over 128 held-out prompts, up to 256 new tokens
  each (Qwen2.5-1.5B shape), per generation setting (eval/backends.py: dynamic, static, static_compiled):
  tokens/s of a steady call, the first call's extra seconds (the compile) apart, and the share of greedy
  completions identical to the dynamic cache's.
- sides: `thinkdial grpo` on configs/tiny/grpo.yaml and a plain TRL GRPOTrainer at the same settings (32
  completions of 256 tokens a step, `generation: auto`), and `thinkdial grpo` with `generation: dynamic`
  (the path before this check's change); median seconds per optimizer step after the first, the first
  step's extra seconds (compile) apart, the ratios, where each step's time goes.
- recipes: every shipped GRPO recipe (configs/*-1.5b/grpo_*.yaml) with its own settings (batch, accumulation,
  LoRA, activation checkpointing, budget-constrained rollouts, checkpoint selection, the health guard) on its
  model's architecture, GSM8K rows from tests/fixtures, vLLM off (none in the GPU image), completions capped
  at 128 tokens, 2 steps: full fine-tunes through their accelerate config in one process (ZeRO-2; one
  through ZeRO-3, whose checkpoint `thinkdial export` then merges into safetensors), LoRA on one GPU.
  Step time, generated tokens/s, peak GPU memory, where the time goes.

Each section's results are written to --out as soon as they exist, so a run cut short keeps them; a recipe
not started within --budget-s seconds of the start is listed as skipped (rerun it with --sections recipes
--recipes NAME). Ends with the ratios against the targets on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from itertools import pairwise
from pathlib import Path

import torch
import yaml
from grpo_sides import ROOT, ZERO_MARKER, peak_memory_bytes, profile_records, step_logs, train_side

from thinkdial.eval.budget import encode_prompts
from thinkdial.eval.config import load_eval_config
from thinkdial.eval.run import load_eval_rows
from thinkdial.pipeline.check import ARCHITECTURES, stand_in_config
from thinkdial.train.rollout import ROLLOUT_GENERATION

MODELS = {  # this check's name -> the model id whose architecture pipeline/check.py writes down
    "qwen2.5-1.5b": "Qwen/Qwen2.5-1.5B",
    "qwen2.5-math-1.5b": "Qwen/Qwen2.5-Math-1.5B",
    "r1-distill-qwen-1.5b": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
}
RUNS = {  # per shape: GRPO steps (warmup_steps of them left out of medians), lengths in tokens
    "real": {
        "steps": 4,
        "warmup_steps": 1,
        "dynamic_steps": 2,  # the dynamic cache's baseline: it compiles nothing, one measured step will do
        "per_device_train_batch_size": 32,
        "num_generations": 8,
        "max_completion_length": 256,
        "eval_prompts": 128,
        "eval_new_tokens": 256,
        "recipe_steps": 2,
        "recipe_completion_tokens": 128,
    },
    "tiny": {
        "steps": 3,
        "warmup_steps": 1,
        "dynamic_steps": 2,
        "per_device_train_batch_size": 8,
        "num_generations": 4,
        "max_completion_length": 16,
        "eval_prompts": 16,
        "eval_new_tokens": 16,
        "recipe_steps": 2,
        "recipe_completion_tokens": 8,
    },
}
# Every shipped GRPO recipe -> how this check launches it: its accelerate config (one process) or None (one
# GPU, as the LoRA recipes say). Ordered by what is riskiest to find broken first.
RECIPES = {
    "r1-distill-qwen-1.5b/grpo_dial": "configs/accelerate/zero2.yaml",
    "r1-distill-qwen-1.5b/grpo_dial_lora": None,
    "r1-distill-qwen-1.5b/grpo_adaptive": "configs/accelerate/zero3.yaml",
    "qwen2.5-math-1.5b/grpo_adaptive": "configs/accelerate/zero2.yaml",
    "qwen2.5-math-1.5b/grpo_adaptive_lora": None,
    "r1-distill-qwen-1.5b/grpo_adaptive_lora": None,
}
EXPORTED = "r1-distill-qwen-1.5b/grpo_adaptive"  # its ZeRO-3 checkpoint goes through `thinkdial export`
GENERATIONS_MEASURED = ("dynamic", "static", "static_compiled")
REWARDS = "configs/rewards/correct_only.yaml"
EVAL_CONFIG = "configs/tiny/eval.yaml"
TARGETS = {  # issue 20, at this check's real shape on one H200
    "eval_generated_tokens_per_s": 10000,
    "grpo_step_time_s": 0.4 * 10.5,  # 0.4 x the step before the change (10.5 s measured on main)
    "step_time_ratio_thinkdial_over_plain": 1.05,
}
GIB = 2**30  # bytes
SECTIONS = ("eval", "sides", "recipes")


def build_model(shape: str, arch: str, folder: Path, device: str, dtype: torch.dtype) -> int:
    """Save a randomly initialised model of `arch` at `shape` (built on `device` in `dtype`) with the recipe
    check's stand-in tokenizer to `folder` (pipeline/check.py: the same architectures); return its parameter
    count."""
    from transformers import AutoModelForCausalLM

    config, tokenizer = stand_in_config(ARCHITECTURES[MODELS[arch]], shape)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def gib(n_bytes: int | None) -> float | None:
    """Return `n_bytes` in GiB (3 decimals); None stays None."""
    return None if n_bytes is None else round(n_bytes / GIB, 3)


def synchronized_seconds(start: float) -> float:
    """Return the seconds since `start` (perf_counter) once the GPU, if any, has finished its work."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def eval_throughput(folder: Path, prompts: int, new_tokens: int) -> dict:
    """Return, per generation setting, the eval backend's generated tokens, seconds and tokens/s of one steady
    greedy call over `prompts` held-out prompts (up to `new_tokens` each), the share of its completions identical
    to the dynamic cache's (bf16 kernels may break near-ties differently) and the peak GPU memory; the compiled
    setting's first identical call pays the compile (its extra seconds are `compile_s`), the others are warmed
    up by a 2-token call."""
    from thinkdial.eval.backends import load_backend

    cuda = torch.cuda.is_available()
    config = load_eval_config(
        ROOT / EVAL_CONFIG, limit=prompts, batch_size=prompts, backend="transformers", progress=False
    )
    backend = load_backend(str(folder), config)
    prompt_ids = encode_prompts(backend.tokenizer, [r["prompt"] for r in load_eval_rows(config)])
    results, outputs = {}, {}
    for generation in GENERATIONS_MEASURED:  # dynamic first: the others are compared with it
        backend.config.generation = generation
        compiled = generation == "static_compiled" and cuda  # transformers compiles on CUDA only
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        if compiled:
            backend.generate(prompt_ids, new_tokens)
        else:
            backend.generate(prompt_ids[:1], 2)
        first = synchronized_seconds(start)
        start = time.perf_counter()
        completions = backend.generate(prompt_ids, new_tokens)
        seconds = synchronized_seconds(start)
        tokens = sum(len(c) for c in completions)
        outputs[generation] = completions
        same = sum(a == b for a, b in zip(completions, outputs["dynamic"], strict=True)) / len(completions)
        results[generation] = {
            "compiled": compiled,
            "same_as_dynamic": round(same, 4),  # share of greedy completions identical to the dynamic cache's
            "generated_tokens": tokens,
            "seconds": round(seconds, 3),
            "generated_tokens_per_s": round(tokens / seconds, 1),
            "compile_s": round(first - seconds, 3) if compiled else None,
            "peak_gpu_memory_gib": gib(torch.cuda.max_memory_allocated()) if cuda else None,
        }
    return {"prompts": len(prompt_ids), "max_new_tokens": new_tokens, "settings": results}


def time_shares(output: str, warmup_steps: int, completions_per_step: int) -> dict:
    """Return, from a side's printed logs and profile (bench/grpo_sides.py), the median seconds per optimizer
    step after `warmup_steps` (the wall time between steps), the first step's seconds over that median (mostly
    compilation), generated tokens per second of generation, and the mean seconds per measured step of:
    generation, rewards, the rest of the rollout (old and reference log-probs), the loss forward, the
    backward, callbacks, and the rest (optimizer step and bookkeeping); the rollouts' generation setting and
    DeepSpeed's ZeRO stage (0 without)."""
    records = profile_records(output)
    clock = sorted(end for name, end, _ in records if name == "clock")  # the start, then each step's end
    wall = [b - a for a, b in pairwise(clock)]
    measured = range(warmup_steps, len(wall))  # a step's window: from the previous boundary to its own

    def per_step(*names: str) -> float:
        total = sum(
            t
            for name, end, t in records
            if name in names and any(clock[i] < end <= clock[i + 1] for i in measured)
        )
        return total / len(measured)

    generation = per_step("transformers.generate", "vLLM.generate", "transformers.generate_batch")
    rewards = per_step("_calculate_rewards")
    rollout = per_step("_prepare_inputs")
    loss = per_step("compute_loss")
    training = per_step("training_step")
    callbacks = per_step("callbacks")
    median = statistics.median(wall[i] for i in measured)
    logs = step_logs(output)[warmup_steps:]
    tokens = statistics.mean(float(log["completions/mean_length"]) for log in logs) * completions_per_step
    shares = {
        "generation": generation,
        "rewards": rewards,
        "old_and_reference_logprobs": rollout - generation - rewards,
        "loss_forward": loss,
        "backward": training - rollout - loss,
        "callbacks": callbacks,
        "optimizer_and_other": statistics.mean(wall[i] for i in measured) - training - callbacks,
    }
    in_force = [line for line in output.splitlines() if line.startswith(ROLLOUT_GENERATION)][-1]
    return {
        "generation": in_force.removeprefix(ROLLOUT_GENERATION).strip(),
        "step_time_s": round(median, 3),
        "first_step_extra_s": round(wall[0] - median, 3),
        "generated_tokens_per_s": round(tokens / generation, 1) if generation else None,
        "seconds_per_step": {k: round(v, 3) for k, v in shares.items()},
        "peak_gpu_memory_gib": gib(peak_memory_bytes(output)),
        "zero_stage": int(
            [line for line in output.splitlines() if line.startswith(ZERO_MARKER)][-1].split(":")[1]
        ),
    }


def grpo_sides(folder: Path, tmp: str, run: dict, bf16: bool) -> dict:
    """Return `thinkdial grpo` and plain TRL at the same settings (generation auto), `thinkdial grpo` with the
    dynamic cache, each side's `time_shares`, and the ratios."""
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
    for label, side, generation, steps in (
        ("thinkdial", "thinkdial", "auto", run["steps"]),
        ("plain_trl", "plain", "auto", run["steps"]),
        ("thinkdial_dynamic", "thinkdial", "dynamic", run["dynamic_steps"]),
    ):
        output = train_side(
            side, str(folder), f"{tmp}/{label}", steps, REWARDS, {**settings, "generation": generation}
        )
        result[label] = time_shares(output, run["warmup_steps"], run["per_device_train_batch_size"])
    result["step_time_ratio_thinkdial_over_plain"] = round(
        result["thinkdial"]["step_time_s"] / result["plain_trl"]["step_time_s"], 3
    )
    result["step_time_ratio_auto_over_dynamic"] = round(
        result["thinkdial"]["step_time_s"] / result["thinkdial_dynamic"]["step_time_s"], 3
    )
    return result


def recipe_check(name: str, folder: Path, tmp: str, run: dict, cuda: bool) -> dict:
    """Return one recipe's check (see the module docstring): its launch, `ok`, `time_shares` and the generation
    setting in force, or `ok: false` with the error's tail; for EXPORTED, the export of its checkpoint too."""
    recipe, launch = f"configs/{name}.yaml", RECIPES[name]
    steps, out = run["recipe_steps"], f"{tmp}/{name.replace('/', '_')}"
    settings = {
        "use_vllm": False,
        "max_completion_length": run["recipe_completion_tokens"],
        "select_checkpoint": True,
        "validation_rows_per_level": 1,  # 40 fixture rows: keep most for training
        "validate_every_steps": 1000,  # validated before the first step and after the last
        "logging_steps": 1,
        "log_completions": False,
        "report_to": "none",
        "disable_tqdm": True,
        "save_strategy": "steps" if name == EXPORTED else "no",
        **({"save_steps": steps, "save_only_model": True} if name == EXPORTED else {}),
        **({} if cuda else {"bf16": False}),
    }
    raw = yaml.safe_load((ROOT / recipe).read_text())
    completions = raw["per_device_train_batch_size"] * raw.get("gradient_accumulation_steps", 1)
    result = {"launch": Path(launch).stem if launch else "one process", "lora": bool(raw.get("use_peft"))}
    start = time.perf_counter()
    try:
        output = train_side(
            "thinkdial",
            str(folder),
            out,
            steps,
            None,
            settings,
            train_rows=None,
            recipe=recipe,
            accelerate_config=launch,
            env={"THINKDIAL_DATA_DIR": str(ROOT / "tests/fixtures")},
        )
    except RuntimeError as err:
        return {
            **result,
            "ok": False,
            "error": str(err)[-1500:],
            "wall_s": round(time.perf_counter() - start, 1),
        }
    result.update(ok=True, wall_s=round(time.perf_counter() - start, 1), completions_per_step=completions)
    result.update(time_shares(output, 1, completions))
    if name == EXPORTED:
        result["export"] = export_check(Path(out) / f"checkpoint-{steps}", Path(tmp) / "export")
    return result


def export_check(checkpoint: Path, out: Path) -> dict:
    """Return `thinkdial export` of `checkpoint` into `out`: ok, seconds, and the safetensors files written."""
    start = time.perf_counter()
    done = subprocess.run(  # -P: the installed thinkdial, not the repo root's thinkdial/ folder (a wheel install)
        [
            sys.executable,
            "-P",
            "-m",
            "thinkdial",
            "export",
            "--checkpoint",
            str(checkpoint),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return {
        "ok": done.returncode == 0,
        "seconds": round(time.perf_counter() - start, 1),
        "safetensors": sorted(p.name for p in out.glob("*.safetensors")),
        **({} if done.returncode == 0 else {"error": done.stderr[-1500:]}),
    }


def versions() -> dict:
    """Return the versions of the packages the check runs on (None where one is not installed)."""
    found = {}
    for name in ("torch", "transformers", "trl", "accelerate", "peft", "deepspeed", "vllm"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def summary(report: dict) -> list[str]:
    """Return the lines that compare the report's figures with TARGETS."""
    lines = []
    settings = report.get("eval", {}).get("settings", {})
    for generation, figures in settings.items():
        lines.append(
            f"eval {generation}: {figures['generated_tokens_per_s']:,.0f} tokens/s "
            f"(target >= {TARGETS['eval_generated_tokens_per_s']:,}), {figures['same_as_dynamic']:.1%} of "
            "completions as the dynamic cache's"
            + (f", compile {figures['compile_s']} s" if figures["compiled"] else "")
        )
    sides = report.get("sides")
    if sides:
        step = sides["thinkdial"]["step_time_s"]
        lines.append(
            f"grpo step {step} s (target <= {TARGETS['grpo_step_time_s']:.1f} s), "
            f"{sides['step_time_ratio_auto_over_dynamic']}x the dynamic cache's, first step "
            f"{sides['thinkdial']['first_step_extra_s']:+.1f} s"
        )
        lines.append(
            f"thinkdial / plain TRL: {sides['step_time_ratio_thinkdial_over_plain']} "
            f"(target <= {TARGETS['step_time_ratio_thinkdial_over_plain']})"
        )
    for name, figures in report.get("recipes", {}).items():
        if figures.get("ok"):
            lines.append(
                f"{name} ({figures['launch']}): {figures['step_time_s']} s/step, "
                f"{figures['generated_tokens_per_s']} tokens/s, peak {figures['peak_gpu_memory_gib']} GiB"
            )
        else:
            lines.append(f"{name}: {'skipped' if figures.get('skipped') else 'FAILED'}")
    return lines


def smoke(
    shape: str, sections: tuple[str, ...], recipes: tuple[str, ...], budget_s: float, out: Path
) -> dict:
    """Run the check's `sections` at `shape` (see the module docstring), writing the report to `out` after each
    part; return the report."""
    start = time.perf_counter()
    cuda = torch.cuda.is_available()
    device, dtype = ("cuda", torch.bfloat16) if cuda else ("cpu", torch.float32)
    run = RUNS[shape]
    report = {
        "shape": shape,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "dtype": str(dtype).removeprefix("torch."),
        "versions": versions(),
        "targets": TARGETS,
        "runs": run,
    }

    def save():
        report["wall_time_s"] = round(time.perf_counter() - start, 1)
        out.write_text(json.dumps(report, indent=2) + "\n")

    with tempfile.TemporaryDirectory(prefix="thinkdial_gpu_smoke_") as tmp:
        models = {}
        needed = {"qwen2.5-1.5b"} if {"eval", "sides"} & set(sections) else set()
        needed |= {name.split("/")[0] for name in recipes} if "recipes" in sections else set()
        for arch in sorted(needed):
            models[arch] = Path(tmp) / arch
            report.setdefault("parameters", {})[arch] = build_model(shape, arch, models[arch], device, dtype)
        if "eval" in sections:
            report["eval"] = eval_throughput(
                models["qwen2.5-1.5b"], run["eval_prompts"], run["eval_new_tokens"]
            )
            save()
        if "sides" in sections:
            report["sides"] = grpo_sides(models["qwen2.5-1.5b"], tmp, run, bf16=cuda)
            save()
        for name in recipes if "recipes" in sections else ():
            if time.perf_counter() - start > budget_s:
                report.setdefault("recipes", {})[name] = {
                    "skipped": f"not started within --budget-s {budget_s}"
                }
            else:
                report.setdefault("recipes", {})[name] = recipe_check(
                    name, models[name.split("/")[0]], tmp, run, cuda
                )
            save()
    save()
    return report


def main() -> int:
    """Run the check, print its JSON and the target lines, write it to --out; return 0 when every recipe that
    ran passed (1 otherwise)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(RUNS), default="real", help="real (GPU) or tiny (CPU, CI)")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated, of {SECTIONS} (default: all)"
    )
    parser.add_argument(
        "--recipes", default=",".join(RECIPES), help="comma-separated recipe names (default: all shipped)"
    )
    parser.add_argument(
        "--budget-s", type=float, default=400, help="start no recipe after this many seconds (rerun the rest)"
    )
    parser.add_argument("--out", default="gpu_smoke.json", help="JSON output file")
    args = parser.parse_args()
    sections = tuple(s for s in args.sections.split(",") if s)
    recipes = tuple(r for r in args.recipes.split(",") if r)
    unknown = sorted(set(sections) - set(SECTIONS)) + sorted(set(recipes) - set(RECIPES))
    if unknown:
        parser.error(f"unknown section(s) or recipe(s): {unknown}")
    out = Path(args.out).resolve()
    os.chdir(ROOT)  # the configs' relative paths
    os.environ.setdefault(
        "HF_HUB_OFFLINE", "1"
    )  # nothing comes from a hub: fail fast rather than wait on one
    report = smoke(args.shape, sections, recipes, args.budget_s, out)
    print(json.dumps(report, indent=2))
    print("\n".join(summary(report)), file=sys.stderr)
    failed = [name for name, r in report.get("recipes", {}).items() if r.get("ok") is False]
    return (
        1
        if failed or any(not r["export"]["ok"] for r in report.get("recipes", {}).values() if "export" in r)
        else 0
    )


if __name__ == "__main__":
    sys.exit(main())

"""`thinkdial demo`: the whole pipeline on the embedded default, one stage per command.

tiny model -> SFT warm start -> GRPO, one run per seed (side by side, one CPU thread each) -> one scaling
eval of the start and every seed (budget forcing, requested budgets, effort levels, cost) -> export of the
first seed. Each stage runs as the `thinkdial ...` command a user would type (printed before it runs) in
its own process; a stage whose output is complete is skipped unless --force, so an interrupted demo picks
up where it stopped. The gates (pipeline/gates.py: statistical tests with a stated false-fail rate) are
read from results.json, health.json and selection.json and printed PASS/FAIL per seed, then the close
calls; eval/gates.md keeps them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from thinkdial.eval.schema import Results, load_results
from thinkdial.io import read_yaml_mapping, write_atomic
from thinkdial.pipeline.gates import (
    FALSE_FAIL_RATE,
    Check,
    Evidence,
    critical_z,
    decide,
    dial_checks,
    shift_checks,
)
from thinkdial.pipeline.run import run_command, shown, start_command

SFT_RECIPE = "configs/demo/sft.yaml"  # the designed start's fixed 800 steps (configs/tiny/sft.yaml converges)
SFT_PROCESSES = 2  # on a CPU-only machine with >= 2 cores SFT runs as 2 one-thread processes (gloo DDP):
# 0.37 s/step against 0.70 for one process (bench: 60 steps, 2 idle cores), each a share of the recipe's batch
CPU2_CONFIG = "configs/accelerate/cpu2.yaml"
GRPO_RECIPE = "configs/tiny/grpo.yaml"
EVAL_CONFIG = "configs/tiny/eval.yaml"
START = "sft"  # the start's label in results.json
PROGRESS_SECONDS = 20  # how often concurrent GRPO runs report their step
_STEP = re.compile(r"(\d+)/(\d+) \[")


def seed_label(seed: int) -> str:
    """Return the results.json label (and folder suffix) of the GRPO run with `seed`."""
    return f"seed{seed}"


def sft_stage(out: Path) -> tuple[list[str], Path]:
    """Return (argv, completion marker) of the SFT stage; the marker is the last file the stage writes."""
    sft = out / "sft"
    return ["sft", "--config", SFT_RECIPE, "--output_dir", str(sft)], sft / "tokenizer_config.json"


def sft_launch(argv: list[str]) -> dict:
    """Return how to launch SFT stage `argv`: `accelerate launch` with SFT_PROCESSES CPU processes (each the
    recipe's batch / SFT_PROCESSES rows) on a machine without an accelerator and with enough cores, else one
    process; as `run_command`'s keyword arguments `args`, `accelerate_config` and `launch_args`."""
    import os

    import torch

    if torch.accelerator.is_available() or (os.cpu_count() or 1) < SFT_PROCESSES:
        return {"args": argv}
    per_process = int(read_yaml_mapping(SFT_RECIPE, "recipe")["per_device_train_batch_size"]) // SFT_PROCESSES
    return {
        "args": [*argv, "--per_device_train_batch_size", str(per_process)],
        "accelerate_config": CPU2_CONFIG,
        "launch_args": ["--num_processes", str(SFT_PROCESSES)],
    }


def grpo_stage(out: Path, seed: int) -> tuple[list[str], Path]:
    """Return (argv, completion marker) of the GRPO run with `seed` from the shared SFT start."""
    run = out / f"grpo-{seed_label(seed)}"
    argv = [
        "grpo",
        "--config",
        GRPO_RECIPE,
        "--model_name_or_path",
        str(out / "sft"),
        "--output_dir",
        str(run),
        "--seed",
        str(seed),
        "--cpu_threads",
        "1",
    ]
    return argv, run / "tokenizer_config.json"


def eval_stage(out: Path, seeds: list[int]) -> tuple[list[str], Path]:
    """Return (argv, completion marker) of the eval of the start and every seed (the start without the dial axes)."""
    models = [arg for s in seeds for arg in ("--model", f"{seed_label(s)}={out / f'grpo-{seed_label(s)}'}")]
    argv = [
        "eval",
        "--config",
        EVAL_CONFIG,
        "--model",
        f"{START}={out / 'sft'}",
        *models,
        "--no-dial",
        START,
        "--out",
        str(out / "eval"),
    ]
    return argv, out / "eval" / "report.md"


def export_stage(out: Path, seed: int) -> tuple[list[str], Path]:
    """Return (argv, completion marker) of the export of seed `seed` (the demo owns the folder: --force)."""
    argv = [
        "export",
        "--checkpoint",
        str(out / f"grpo-{seed_label(seed)}"),
        "--out",
        str(out / "export"),
        "--eval-dir",
        str(out / "eval"),
        "--force",
    ]
    return argv, out / "export" / "README.md"


def run_demo(
    out: str | Path = "runs/demo",
    seeds: list[int] | None = None,
    force: bool = False,
    overrides: dict[str, list[str]] | None = None,
) -> list[Check]:
    """Run every stage (skipping complete ones unless `force`), print the gates; return them (all seeds).

    `overrides` maps a stage name ('sft', 'grpo', 'eval', 'export') to extra arguments (e.g. shorter runs in tests).
    """
    out, seeds, extra = Path(out), seeds or [0, 1], overrides or {}
    start = time.time()
    run_stage("sft", *sft_stage(out), extra.get("sft", []), force, launch=sft_launch)
    run_concurrently({seed_label(s): grpo_stage(out, s) for s in seeds}, extra.get("grpo", []), force, out)
    run_stage("eval", *eval_stage(out, seeds), extra.get("eval", []), force)
    run_stage("export", *export_stage(out, seeds[0]), extra.get("export", []), force)
    checks = print_gates(out, seeds)
    passed = sum(c.passed for c in checks)
    print(
        f"\n[demo] {passed}/{len(checks)} gates PASS; finished in {(time.time() - start) / 60:.1f} min; results in "
        f"{out / 'eval'}/ (report.md, plots/), model in {out / 'export'}/",
        flush=True,
    )
    return checks


def run_stage(name: str, argv: list[str], marker: Path, extra: list[str], force: bool, launch=None) -> None:
    """Run one stage in the foreground unless its marker exists (and not `force`), launched as `launch(argv)`
    says (default: one process); return None."""
    if marker.exists() and not force:
        print(f"[demo] {name}: already done ({marker}); skipping (--force reruns it)", flush=True)
        return
    how = launch(argv + extra) if launch else {"args": argv + extra}
    print(f"\n[demo] {name}: {shown(**how)}", flush=True)
    began = time.time()
    run_command(**how, echo=False)
    print(f"[demo] {name}: done in {time.time() - began:.0f} s", flush=True)


def run_concurrently(
    stages: dict[str, tuple[list[str], Path]], extra: list[str], force: bool, out: Path
) -> None:
    """Run the GRPO runs side by side (logs in OUT/<run>.log, progress every PROGRESS_SECONDS); raise
    CalledProcessError naming the log of a run that fails. Returns None."""
    procs = {}
    for name, (argv, marker) in stages.items():
        if marker.exists() and not force:
            print(f"[demo] grpo {name}: already done ({marker}); skipping (--force reruns it)", flush=True)
            continue
        argv, log = argv + extra, out / f"grpo-{name}.log"
        out.mkdir(parents=True, exist_ok=True)
        print(f"\n[demo] grpo {name}: {shown(argv)}   (log: {log})", flush=True)
        procs[name] = (start_command(argv, log), log, time.time())
    while procs:
        time.sleep(1 if all(p.poll() is not None for p, _, _ in procs.values()) else PROGRESS_SECONDS)
        print(
            "[demo] grpo: " + ", ".join(f"{name} {_progress(log)}" for name, (_, log, _) in procs.items()),
            flush=True,
        )
        for name, (proc, log, began) in list(procs.items()):
            if proc.poll() is None:
                continue
            del procs[name]
            if proc.returncode:
                print(log.read_text()[-3000:], file=sys.stderr)
                raise subprocess.CalledProcessError(proc.returncode, proc.args, f"see {log}")
            print(f"[demo] grpo {name}: done in {time.time() - began:.0f} s", flush=True)


def _progress(log: Path) -> str:
    steps = _STEP.findall(log.read_text(errors="replace")[-2000:]) if log.exists() else []
    return f"step {steps[-1][0]}/{steps[-1][1]}" if steps else "starting"


def run_gates(out: Path, seed: int, results: Results) -> list[Evidence | Check]:
    """Return every gate of seed `seed` before `decide`: the adaptive shift and the dial against the start, a
    quiet health guard, and checkpoint selection keeping a trained step."""
    label, run = seed_label(seed), out / f"grpo-{seed_label(seed)}"
    start, model = results.models[START], results.models[label]
    comparison = results.comparisons.get(label)
    paired = comparison.paired if comparison and comparison.reference == START else None
    gates = shift_checks(start, model, paired)
    if model.dial:
        gates += dial_checks(model, start)
    health = json.loads((run / "health.json").read_text()) if (run / "health.json").exists() else {}
    tripped = health.get("tripped_at_step")
    gates.append(
        Check(
            "health guard quiet",
            tripped is None,
            "no collapse seen"
            if tripped is None
            else f"tripped at step {tripped}: {'; '.join(health.get('tripped_reasons', []))}",
        )
    )
    if (run / "selection.json").exists():
        selection = json.loads((run / "selection.json").read_text())
        gates.append(
            Check(
                "checkpoint selection kept a trained step",
                selection["kept_step"] > 0,
                f"kept step {selection['kept_step']} ({selection['kept_because']})",
            )
        )
    return gates


def print_gates(out: Path, seeds: list[int]) -> list[Check]:
    """Print the gates of every seed (from OUT/eval/results.json and the runs' reports) and their close calls,
    write them to OUT/eval/gates.md; return them (all seeds)."""
    results = load_results(out / "eval" / "results.json")
    gates = {seed: run_gates(out, seed, results) for seed in seeds}
    decided = iter(decide([g for seed in seeds for g in gates[seed]]))
    lines, every = [], []
    for seed in seeds:
        checks = [next(decided) for _ in gates[seed]]
        lines.append(
            f"\n[demo] seed {seed}: did GRPO learn when to think, and to obey the dial? ({START} vs "
            f"{seed_label(seed)}, from results.json)"
        )
        lines += [f"  [{'PASS' if c.passed else 'FAIL'}] {c.name}: {c.detail}" for c in checks]
        every += [(seed, c) for c in checks]
    tests = sum(isinstance(g, Evidence) for seed in seeds for g in gates[seed])
    close = [f"  seed {seed}: {c.name}: {c.detail}" for seed, c in every if c.close]
    lines.append(
        f"\n[demo] close calls (passed; measured short of the target, within the noise or the tolerance): "
        f"{len(close) or 'none'}"
    )
    lines += close
    lines.append(
        f"[demo] {tests} statistical gates share a {FALSE_FAIL_RATE:.0%} false-fail rate: one fails when its "
        f"margin is below 0 by more than {critical_z(tests):.2f} standard errors (docs/results/gates.md)"
    )
    print("\n".join(lines), flush=True)
    write_atomic(out / "eval" / "gates.md", "\n".join(lines).lstrip() + "\n")
    return [c for _, c in every]

"""`thinkdial demo`: the whole pipeline on the embedded default, one stage per command.

tiny model -> SFT warm start -> GRPO -> scaling eval (sft vs grpo) -> export. Each stage runs as the
same `thinkdial ...` command a user would type (printed before it runs) in its own process. A stage
whose output is already complete is skipped unless --force, so an interrupted demo picks up where it
stopped.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

SFT_RECIPE = "configs/tiny/sft.yaml"
GRPO_RECIPE = "configs/tiny/grpo.yaml"
EVAL_CONFIG = "configs/tiny/eval.yaml"


def demo_stages(out: Path, seed: int) -> list[tuple[str, list[str], Path]]:
    """Return (name, thinkdial argv, completion marker) for each demo stage, in order.

    The SFT start is shared by every seed; seed N > 0 writes its GRPO run, eval and export under
    `grpo-seedN`, `eval-seedN`, `export-seedN`.
    """
    suffix = "" if seed == 0 else f"-seed{seed}"
    sft, grpo = out / "sft", out / f"grpo{suffix}"
    evaluation, export = out / f"eval{suffix}", out / f"export{suffix}"
    return [
        ("sft", ["sft", "--config", SFT_RECIPE, "--output_dir", str(sft)], sft / "model.safetensors"),
        ("grpo", ["grpo", "--config", GRPO_RECIPE, "--model_name_or_path", str(sft), "--output_dir", str(grpo),
                  "--seed", str(seed)], grpo / "model.safetensors"),
        ("eval", ["eval", "--config", EVAL_CONFIG, "--model", f"sft={sft}", "--model", f"grpo={grpo}",
                  "--out", str(evaluation)], evaluation / "report.md"),
        ("export", ["export", "--checkpoint", str(grpo), "--out", str(export), "--eval-dir", str(evaluation)],
         export / "README.md"),
    ]


def run_demo(out: str | Path = "runs/demo", seed: int = 0, force: bool = False) -> float:
    """Run every demo stage (skipping complete ones unless `force`); return the wall time in seconds."""
    out = Path(out)
    start = time.time()
    for name, argv, marker in demo_stages(out, seed):
        cmd = [sys.executable, "-m", "train.cli", *argv]
        if marker.exists() and not force:
            print(f"[demo] {name}: already done ({marker}); skipping (--force reruns it)", flush=True)
            continue
        print(f"\n[demo] {name}: thinkdial {shlex.join(argv)}", flush=True)
        t = time.time()
        subprocess.run(cmd, check=True)
        print(f"[demo] {name}: done in {time.time() - t:.0f} s", flush=True)
    total = time.time() - start
    print(f"\n[demo] finished in {total / 60:.1f} min; results in {out}/eval{'' if seed == 0 else f'-seed{seed}'}/")
    return total


def register(subparsers) -> None:
    """Add the `demo` subcommand."""
    p = subparsers.add_parser("demo", help="run the whole pipeline on the embedded default")
    p.add_argument("--out", default="runs/demo", help="run folder")
    p.add_argument("--seed", type=int, default=0, help="GRPO seed (the SFT start is shared)")
    p.add_argument("--force", action="store_true", help="rerun stages whose outputs exist")
    p.set_defaults(func=lambda args: run_demo(args.out, args.seed, args.force) and 0)

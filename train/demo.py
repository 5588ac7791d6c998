"""`thinkdial demo`: the whole pipeline on the embedded default, one stage per command.

tiny model -> SFT warm start -> GRPO -> scaling eval (sft vs grpo) -> export. Each stage runs as the
same `thinkdial ...` command a user would type (printed before it runs) in its own process. A stage
whose output is already complete is skipped unless --force, so an interrupted demo picks up where it
stopped.
"""

from __future__ import annotations

import json
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
        # markers are the last file each stage writes (the tokenizer is saved after the weights)
        ("sft", ["sft", "--config", SFT_RECIPE, "--output_dir", str(sft)], sft / "tokenizer_config.json"),
        (
            "grpo",
            [
                "grpo",
                "--config",
                GRPO_RECIPE,
                "--model_name_or_path",
                str(sft),
                "--output_dir",
                str(grpo),
                "--seed",
                str(seed),
            ],
            grpo / "tokenizer_config.json",
        ),
        (
            "eval",
            [
                "eval",
                "--config",
                EVAL_CONFIG,
                "--model",
                f"sft={sft}",
                "--model",
                f"grpo={grpo}",
                "--out",
                str(evaluation),
            ],
            evaluation / "report.md",
        ),
        # the demo owns its export folder: --force replaces an earlier one
        (
            "export",
            [
                "export",
                "--checkpoint",
                str(grpo),
                "--out",
                str(export),
                "--eval-dir",
                str(evaluation),
                "--force",
            ],
            export / "README.md",
        ),
    ]


def run_demo(
    out: str | Path = "runs/demo",
    seed: int = 0,
    force: bool = False,
    overrides: dict[str, list[str]] | None = None,
) -> float:
    """Run every demo stage (skipping complete ones unless `force`); return the wall time in seconds.

    `overrides` maps a stage name to extra command-line arguments (e.g. a shorter run in tests).
    """
    out = Path(out)
    start = time.time()
    for name, argv, marker in demo_stages(out, seed):
        argv = argv + (overrides or {}).get(name, [])
        cmd = [sys.executable, "-m", "thinkdial", *argv]
        if marker.exists() and not force:
            print(f"[demo] {name}: already done ({marker}); skipping (--force reruns it)", flush=True)
            continue
        print(f"\n[demo] {name}: thinkdial {shlex.join(argv)}", flush=True)
        t = time.time()
        subprocess.run(cmd, check=True)
        print(f"[demo] {name}: done in {time.time() - t:.0f} s", flush=True)
    total = time.time() - start
    evaluation = out / f"eval{'' if seed == 0 else f'-seed{seed}'}"
    print("\n[demo] did GRPO learn when to think? (sft vs grpo, from results.json)")
    for name, ok, detail in adaptivity_checks(json.loads((evaluation / "results.json").read_text())):
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    print(f"\n[demo] finished in {total / 60:.1f} min; results in {evaluation}/ (report.md, plots/)")
    return total


def adaptivity_checks(results: dict, before: str = "sft", after: str = "grpo") -> list[tuple[str, bool, str]]:
    """Return (check, passed, measured detail) for the adaptive-shift criteria of `after` vs `before`.

    Easy = the two lowest levels, hard = the highest. A level is "direct-solvable" when `before`'s
    forced-direct accuracy is >= 90%, "needs reasoning" when it is <= 2x chance.
    """
    b, a = results["models"][before]["levels"], results["models"][after]["levels"]
    levels = sorted(a, key=float)
    checks = []
    for lv in levels[:2]:
        checks.append(
            (
                f"level {lv}: tokens <= 50% of {before}, accuracy >= {before} - 2 pts",
                a[lv]["reasoning_tokens_mean"] <= 0.5 * b[lv]["reasoning_tokens_mean"]
                and a[lv]["accuracy"] >= b[lv]["accuracy"] - 0.02,
                f"tokens {a[lv]['reasoning_tokens_mean']:.2f} vs {b[lv]['reasoning_tokens_mean']:.2f}, "
                f"accuracy {a[lv]['accuracy']:.3f} vs {b[lv]['accuracy']:.3f}",
            )
        )
    hard = levels[-1]
    checks.append(
        (
            f"level {hard} (hardest): accuracy >= {before} - 2 pts and >= 90%",
            a[hard]["accuracy"] >= max(b[hard]["accuracy"] - 0.02, 0.9),
            f"accuracy {a[hard]['accuracy']:.3f} vs {b[hard]['accuracy']:.3f}",
        )
    )
    for lv in levels:
        s, oracle = a[lv], a[lv].get("min_reasoning_tokens_mean")
        if s["accuracy"] >= 0.9 and oracle:
            checks.append(
                (
                    f"level {lv}: tokens <= 1.5x oracle",
                    s["reasoning_tokens_mean"] <= 1.5 * oracle,
                    f"{s['reasoning_tokens_mean']:.2f} tokens, oracle {oracle:.2f}",
                )
            )
        chance = b[lv].get("chance_accuracy")
        if b[lv]["accuracy_direct"] >= 0.9:
            checks.append(
                (
                    f"level {lv} (direct-solvable): direct rate >= 90%",
                    s["direct_rate"] >= 0.9,
                    f"{after} {s['direct_rate']:.3f}, {before} {b[lv]['direct_rate']:.3f}",
                )
            )
        elif chance is not None and b[lv]["accuracy_direct"] <= 2 * chance:
            checks.append(
                (
                    f"level {lv} (needs reasoning): direct rate <= 5%",
                    s["direct_rate"] <= 0.05,
                    f"{after} {s['direct_rate']:.3f}, {before} {b[lv]['direct_rate']:.3f}",
                )
            )
    solvable = [lv for lv in levels if b[lv]["accuracy_direct"] >= 0.9]
    needs = [
        lv
        for lv in levels
        if b[lv].get("chance_accuracy") is not None
        and b[lv]["accuracy_direct"] <= 2 * b[lv]["chance_accuracy"]
    ]
    split = all(b[lv]["direct_rate"] >= 0.9 for lv in solvable) and all(
        b[lv]["direct_rate"] <= 0.05 for lv in needs
    )
    checks.append(
        (
            f"{before} does not already show the split",
            not split,
            f"{before} direct rates " + ", ".join(f"L{lv} {b[lv]['direct_rate']:.2f}" for lv in levels),
        )
    )
    return checks

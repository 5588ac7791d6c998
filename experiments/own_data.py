"""Your own task, as the README's "Your own task" section runs it, on tasks the repository has never seen.

Writes a JSONL task in thinkdial's row schema (prompt, answer, difficulty, reasoning, min_reasoning_tokens;
6 levels, 9,000 train rows, 100 test rows a level) from generators that are not thinkdial's synthetic
families, then runs the README's commands verbatim with their defaults (data --stats -> sft -> grpo ->
eval -> export) and prints, per task, the start vs grpo accuracy and reasoning tokens per level and
PASS/FAIL for what a user must be able to count on:

- overall accuracy >= the start's - 2 points, every level's >= the start's - 5 points;
- where the start's reasoning is already minimal (at most 1.25x min_reasoning_tokens), no level's reasoning
  falls below half of it;
- the health guard's verdict and the step checkpoint selection kept are reported.

Tasks: `runsum` (running sums of 2-7 numbers, multi-digit answers: the tiny model's start is weak) and
`pointer` (follow a map of 8 letters written in the prompt k times: in-context lookups, weak too).

    .venv/bin/python experiments/own_data.py [--tasks runsum pointer] [--out runs/own_data]

About 15 minutes per task on 2 CPU cores (SFT 800 steps, GRPO 500). Runs are resumable.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from thinkdial.pipeline.run import run_command

LETTERS = "abcdefgh"
LEVELS = range(1, 7)


def runsum(rng: random.Random, level: int) -> tuple[str, str, str]:
    """Return (prompt, answer, reasoning) of a sum of level + 1 numbers, the reasoning its running sums."""
    numbers = [rng.randrange(1, 60) for _ in range(level + 1)]
    sums, total = [], numbers[0]
    for n in numbers[1:]:
        total += n
        sums.append(str(total))
    return "+".join(map(str, numbers)) + "=", str(total), " ".join(sums)


def pointer(rng: random.Random, level: int) -> tuple[str, str, str]:
    """Return (prompt, answer, reasoning) of following a map of 8 letters `level` times from a start letter."""
    target = list(LETTERS)
    rng.shuffle(target)
    mapping = dict(zip(LETTERS, target, strict=True))
    start = value = rng.choice(LETTERS)
    trace = []
    for _ in range(level):
        value = mapping[value]
        trace.append(value)
    table = " ".join(f"{a}{b}" for a, b in mapping.items())
    return f"{table}|{start}{'>' * level}=", value, "".join(trace)


TASKS = {"runsum": runsum, "pointer": pointer}


def write_task(name: str, folder: Path, seed: int = 0) -> Path:
    """Write train.jsonl (9,000 rows) and test.jsonl (100 a level) of task `name` and its data config (the
    README's `my_task.yaml`); return the config's path."""
    rng, seen = random.Random(f"{name}:{seed}"), set()

    def rows(levels):
        out = []
        for level in levels:
            prompt, answer, reasoning = TASKS[name](rng, level)
            while prompt in seen:
                prompt, answer, reasoning = TASKS[name](rng, level)
            seen.add(prompt)
            out.append(
                {
                    "prompt": prompt,
                    "answer": answer,
                    "difficulty": level,
                    "reasoning": reasoning,
                    "min_reasoning_tokens": len(reasoning),
                }
            )
        return out

    folder.mkdir(parents=True, exist_ok=True)
    test = rows([lv for lv in LEVELS for _ in range(100)])
    train = rows([rng.choice(LEVELS) for _ in range(9000)])
    for split, data in (("train", train), ("test", test)):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    config = folder / "my_task.yaml"
    config.write_text(
        f"source: jsonl\npath: {folder.resolve()}\nsplits: {{train: train.jsonl, test: test.jsonl}}\n"
        "reasoning_styles: {given: 0.7, direct: 0.3}\n"
    )
    return config


def readme_commands(config: Path, run: Path) -> list[tuple[str, list[str], Path]]:
    """Return (stage, thinkdial argv, completion marker) of the README's own-data path for `config`."""
    sft, grpo, evaluation = run / "sft", run / "grpo", run / "eval"
    return [
        ("data", ["data", "--config", str(config), "--stats"], run / "none"),
        (
            "sft",
            [
                "sft",
                "--config",
                "configs/tiny/sft.yaml",
                "--data_config",
                str(config),
                "--output_dir",
                str(sft),
            ],
            sft / "tokenizer_config.json",
        ),
        (
            "grpo",
            [
                "grpo",
                "--config",
                "configs/tiny/grpo.yaml",
                "--model_name_or_path",
                str(sft),
                "--data_config",
                str(config),
                "--output_dir",
                str(grpo),
            ],
            grpo / "tokenizer_config.json",
        ),
        (
            "eval",
            [
                "eval",
                "--config",
                "configs/tiny/eval.yaml",
                "--data-config",
                str(config),
                "--model",
                f"sft={sft}",
                "--model",
                f"grpo={grpo}",
                "--out",
                str(evaluation),
            ],
            evaluation / "report.md",
        ),
        (
            "export",
            [
                "export",
                "--checkpoint",
                str(grpo),
                "--out",
                str(run / "export"),
                "--eval-dir",
                str(evaluation),
                "--force",
            ],
            run / "export" / "README.md",
        ),
    ]


def run_task(name: str, out: Path) -> dict:
    """Write task `name`, run the README path (skipping finished stages); return its results.json dict."""
    run = out / name
    config = (
        write_task(name, run / "data")
        if not (run / "data" / "my_task.yaml").exists()
        else run / "data" / "my_task.yaml"
    )
    for stage, argv, marker in readme_commands(config, run):
        if marker.exists():
            continue
        run_command(argv, run / f"{stage}.log")
    return json.loads((run / "eval" / "results.json").read_text())


def verdicts(results: dict, run: Path) -> list[tuple[str, bool, str]]:
    """Return (check, passed, numbers) of the module docstring for one task's results."""
    s, g = results["models"]["sft"], results["models"]["grpo"]
    levels = sorted(g["levels"], key=float)
    drops = {lv: g["levels"][lv]["accuracy"] - s["levels"][lv]["accuracy"] for lv in levels}
    worst = min(drops, key=drops.get)
    minimal = [
        lv
        for lv in levels
        if s["levels"][lv]["reasoning_tokens_mean"]
        <= 1.25 * (s["levels"][lv].get("min_reasoning_tokens_mean") or 0)
    ]
    halved = [
        lv
        for lv in minimal
        if g["levels"][lv]["reasoning_tokens_mean"] < 0.5 * s["levels"][lv]["reasoning_tokens_mean"]
    ]
    health = (
        json.loads((run / "grpo" / "health.json").read_text())
        if (run / "grpo" / "health.json").exists()
        else {}
    )
    selection = json.loads((run / "grpo" / "selection.json").read_text())
    return [
        (
            "overall accuracy >= start - 2 pt",
            g["accuracy"] >= s["accuracy"] - 0.02 - 1e-9,
            f"{s['accuracy']:.3f} -> {g['accuracy']:.3f}",
        ),
        (
            "every level's accuracy >= start - 5 pt",
            drops[worst] >= -0.05 - 1e-9,
            f"worst level {worst}: {drops[worst] * 100:+.1f} pt",
        ),
        (
            "where the start's reasoning is minimal, none falls below half",
            not halved,
            f"minimal at levels {minimal or 'none'}; halved at {halved or 'none'}",
        ),
        (
            "health guard",
            True,
            f"tripped at step {health.get('tripped_at_step')}" if health.get("tripped_at_step") else "quiet",
        ),
        ("checkpoint selection", True, f"kept step {selection['kept_step']} ({selection['kept_because']})"),
    ]


def main() -> int:
    """Run every task, print its per-level table and verdicts; return 0 when every check passes, else 1."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--out", default="runs/own_data")
    args = ap.parse_args()
    ok = True
    for name in args.tasks:
        results = run_task(name, Path(args.out))
        s, g = results["models"]["sft"], results["models"]["grpo"]
        print(
            f"\n== {name}: accuracy {s['accuracy']:.3f} -> {g['accuracy']:.3f}, reasoning tokens "
            f"{s['reasoning_tokens_mean']:.1f} -> {g['reasoning_tokens_mean']:.1f}"
        )
        print("level  acc start -> grpo   tokens start -> grpo   min tokens")
        for lv in sorted(g["levels"], key=float):
            a, b = s["levels"][lv], g["levels"][lv]
            print(
                f"{lv:>5}  {a['accuracy']:.3f} -> {b['accuracy']:.3f}   {a['reasoning_tokens_mean']:6.1f} -> "
                f"{b['reasoning_tokens_mean']:6.1f}   {a.get('min_reasoning_tokens_mean') or 0:6.1f}"
            )
        for check, passed, numbers in verdicts(results, Path(args.out) / name):
            print(f"  [{'PASS' if passed else 'FAIL'}] {check}: {numbers}")
            ok &= passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

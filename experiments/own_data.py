"""Your own task, as the README's "Your own task" section runs it, on tasks the repository has never seen.

Writes a JSONL task in thinkdial's row schema (prompt, answer, difficulty, reasoning, min_reasoning_tokens;
6 levels, 9,000 train rows, 100 test rows a level) from generators that are not thinkdial's synthetic
families, then runs the README's commands with their defaults (data --stats -> sft -> grpo -> eval ->
export) for two kinds of start, the same rows with other reasoning in train.jsonl:

- `readme`: the README's data config verbatim (`reasoning_styles: {given: 0.7, direct: 0.3}`): the task's
  own reasoning, the oracle minimum, or a direct answer: a start that is already minimal;
- `wrong_both_ways`: levels 1-4 overthink (verbose traces, 2-4x the oracle, in OVERTHINK of the rows),
  levels 5-6 under-think (the first half of the chain, then the answer, in UNDERTHINK): the demo's design.

SFT is configs/tiny/sft.yaml (trained to convergence on held-out rows), GRPO configs/tiny/grpo.yaml with the
default reward for every seed, the eval configs/tiny/eval.yaml at budgets 0 and unlimited on the 100 test rows
a level. Printed per task, kind and seed, as experiments/generality.py prints them: the start's SFT, the
per-level table and the gates of pipeline/gates.py (`learned_start_checks`: every level's accuracy >= the
start's - 1 point, >= 30% fewer tokens where the start overthinks, direct answers where they are as accurate
as reasoning; `two_sided_checks` where the start is miscalibrated), decided together at a 1% false-fail rate,
with the step checkpoint selection kept.

Tasks: `runsum` (running sums of 2-7 numbers, multi-digit answers) and `pointer` (follow a map of 8 letters
written in the prompt k times: in-context lookups).

    flock /tmp/thinkdial-cpu.lock .venv/bin/python experiments/own_data.py [--tasks runsum pointer] \\
        [--kinds readme wrong_both_ways] [--seeds 0 1] [--jobs 2] [--out runs/own_data]

Runs are resumable. CPU time, one thread a run: SFT 0.4-0.7 s a step (docs/results/own_data.md gives each
start's steps), GRPO about 7 minutes a run, the eval of a start and two seeds about a minute.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from generality import print_report

from thinkdial.eval.schema import Results, load_results
from thinkdial.pipeline.run import run_command

ROOT = Path(__file__).resolve().parents[1]
LETTERS = "abcdefgh"
LEVELS = range(1, 7)
KINDS = ("readme", "wrong_both_ways")
# wrong_both_ways: reasoning styles drawn per row, as configs/tiny/sft_data.yaml's (recheck is verbose, "?", then
# the task's own reasoning); levels 5-6 without verbose, whose running sums there pass GRPO's 48 tokens.
OVERTHINK = {"verbose": 0.35, "recheck": 0.10, "given": 0.25, "direct": 0.30}
UNDERTHINK = {"giveup": 0.45, "given": 0.25, "direct": 0.30}
UNDERTHINK_LEVELS = (5, 6)


def runsum(rng: random.Random, level: int) -> tuple[str, str, list[str], list[str]]:
    """Return (prompt, answer, steps, values) of a sum of level + 1 numbers: each step adds a number ("+49"),
    its value is the running sum."""
    numbers = [rng.randrange(1, 60) for _ in range(level + 1)]
    steps, values, total = [], [], numbers[0]
    for n in numbers[1:]:
        total += n
        steps.append(f"+{n}")
        values.append(str(total))
    return "+".join(map(str, numbers)) + "=", str(total), steps, values


def pointer(rng: random.Random, level: int) -> tuple[str, str, list[str], list[str]]:
    """Return (prompt, answer, steps, values) of following a map of 8 letters `level` times from a start letter:
    each step looks a letter up, its value is the letter it maps to."""
    target = list(LETTERS)
    rng.shuffle(target)
    mapping = dict(zip(LETTERS, target, strict=True))
    value = rng.choice(LETTERS)
    table_text = " ".join(f"{a}{b}" for a, b in mapping.items())
    prompt = f"{table_text}|{value}{'>' * level}="
    steps, values = [], []
    for _ in range(level):
        steps.append(f"{value}>")
        value = mapping[value]
        values.append(value)
    return prompt, value, steps, values


# task -> (generator, separator of the values in the task's own reasoning)
TASKS = {"runsum": (runsum, " "), "pointer": (pointer, "")}


def render(task: str, steps: list[str], values: list[str], style: str) -> str:
    """Return the reasoning of one row in `style`: the task's own ('given'), none ('direct'), every step written
    out ('verbose': "+49=85" / "a>c "), verbose then '?' then the task's own ('recheck'), or the first half of
    the task's own ('giveup'; the row's answer stays the gold one)."""
    own = TASKS[task][1].join(values)
    verbose = "".join(
        f"{s}={v}" if task == "runsum" else f"{s}{v} " for s, v in zip(steps, values, strict=True)
    )
    return {
        "given": own,
        "direct": "",
        "verbose": verbose,
        "recheck": f"{verbose}?{own}",
        "giveup": TASKS[task][1].join(values[: len(values) // 2]),
    }[style]


def write_task(task: str, run: Path, seed: int = 0) -> dict[str, Path]:
    """Write task `task`'s rows (9,000 train, 100 test a level) for every kind, each in its own folder under
    `run` with the README's `my_task.yaml`; return {kind: config path}."""
    rng, seen = random.Random(f"{task}:{seed}"), set()

    def rows(levels):
        out = []
        for level in levels:
            prompt, answer, steps, values = TASKS[task][0](rng, level)
            while prompt in seen:
                prompt, answer, steps, values = TASKS[task][0](rng, level)
            seen.add(prompt)
            out.append(
                {"prompt": prompt, "answer": answer, "difficulty": level, "steps": steps, "values": values}
            )
        return out

    test = rows([lv for lv in LEVELS for _ in range(100)])
    train = rows([rng.choice(LEVELS) for _ in range(9000)])
    styles = random.Random(f"{task}:{seed}:styles")
    configs = {}
    for kind in KINDS:
        folder = run / kind / "data"
        folder.mkdir(parents=True, exist_ok=True)
        for split, data in (("train", train), ("test", test)):
            lines = []
            for r in data:
                mixture = UNDERTHINK if r["difficulty"] in UNDERTHINK_LEVELS else OVERTHINK
                style = (
                    "given"
                    if kind == "readme" or split == "test"
                    else styles.choices(list(mixture), weights=list(mixture.values()))[0]
                )
                row = {k: r[k] for k in ("prompt", "answer", "difficulty")}
                row["reasoning"] = render(task, r["steps"], r["values"], style)
                row["min_reasoning_tokens"] = len(render(task, r["steps"], r["values"], "given"))
                lines.append(json.dumps(row) + "\n")
            (folder / f"{split}.jsonl").write_text("".join(lines))
        config = folder / "my_task.yaml"
        config.write_text(
            f"source: jsonl\npath: {folder.resolve()}\nsplits: {{train: train.jsonl, test: test.jsonl}}\n"
            + ("reasoning_styles: {given: 0.7, direct: 0.3}\n" if kind == "readme" else "")
        )
        configs[kind] = config
    return configs


def sft(config: Path, run: Path) -> Path:
    """Run (unless done) the README's data and SFT commands on `config` into `run`; return the SFT folder."""
    folder = run / "sft"
    if not (folder / "tokenizer_config.json").exists():
        run_command(["data", "--config", str(config), "--stats"], run / "data.log", cwd=ROOT)
        argv = ["sft", "--config", "configs/tiny/sft.yaml", "--data_config", str(config)]
        run_command([*argv, "--output_dir", str(folder), "--disable_tqdm", "true"], run / "sft.log", cwd=ROOT)
    return folder


def grpo(config: Path, run: Path, seed: int) -> Path:
    """Run (unless done) the README's GRPO command with `seed` from the start in `run`; return its folder."""
    folder = run / f"grpo-seed{seed}"
    if not (folder / "tokenizer_config.json").exists():
        argv = ["grpo", "--config", "configs/tiny/grpo.yaml", "--data_config", str(config)]
        argv += ["--model_name_or_path", str(run / "sft"), "--output_dir", str(folder), "--seed", str(seed)]
        run_command([*argv, "--disable_tqdm", "true"], run / f"seed{seed}.log", cwd=ROOT)
    return folder


def evaluate(config: Path, run: Path, seeds: list[int]) -> Results:
    """Run (unless done) the README's eval of the start and every seed at budgets 0 and unlimited, and (the
    first seed) its export; return the results."""
    results = run / "eval" / "results.json"
    if not results.exists():
        argv = ["eval", "--config", "configs/tiny/eval.yaml", "--data-config", str(config)]
        argv += ["--budgets", "0,unlimited", "--jobs", "1", "--model", f"start={run / 'sft'}"]
        for seed in seeds:
            argv += ["--model", f"seed{seed}={run / f'grpo-seed{seed}'}"]
        run_command([*argv, "--out", str(run / "eval"), "--no-progress"], run / "eval.log", cwd=ROOT)
    export = ["export", "--checkpoint", str(run / f"grpo-seed{seeds[0]}"), "--out", str(run / "export")]
    if not (run / "export" / "README.md").exists():
        run_command([*export, "--eval-dir", str(run / "eval"), "--force"], run / "export.log", cwd=ROOT)
    return load_results(results)


def main() -> int:
    """Run every task, kind and seed, print the tables and checks; return 0 when every check passes, else 1."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time (one CPU thread each)")
    ap.add_argument("--out", default="runs/own_data")
    args = ap.parse_args()
    out = (ROOT / args.out) if not Path(args.out).is_absolute() else Path(args.out)
    configs = {
        task: {kind: out / task / kind / "data" / "my_task.yaml" for kind in KINDS}
        if (out / task / KINDS[-1] / "data" / "my_task.yaml").exists()
        else write_task(task, out / task)
        for task in args.tasks
    }
    starts = [(t, k, configs[t][k], out / t / k) for t in args.tasks for k in args.kinds]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda s: sft(s[2], s[3]), starts))
        list(
            pool.map(
                lambda job: grpo(job[0][2], job[0][3], job[1]),
                [(s, seed) for s in starts for seed in args.seeds],
            )
        )
        results = list(pool.map(lambda s: evaluate(s[2], s[3], args.seeds), starts))
    named = [(f"{t}, {k} start", r, run) for (t, k, _, run), r in zip(starts, results, strict=True)]
    passed = print_report(named, args.seeds)
    print("every gate PASSes" if passed else "some gates FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

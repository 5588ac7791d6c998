"""Benchmark `thinkdial rewards score` on 10,000 rows (1,250 prompts x 8 completions); prints rows/second.

Target: >= 5,000 rows/s. Times the whole CLI path (read JSONL, validate config, score, write JSONL,
level summary) in one process, for the default adaptive config and for one with every component.

    python bench/rewards_score.py [--rows 10000] [--config configs/rewards/adaptive.yaml]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import tempfile
import time
from pathlib import Path

import yaml

from thinkdial.cli import main

ALL_COMPONENTS = {
    "rewards": [
        {"name": "correctness"},
        {"name": "format"},
        {"name": "kimi"},
        {"name": "cosine", "params": {"max_tokens": 48}},
        {"name": "efficiency"},
        {"name": "solve_rate", "params": {"max_tokens": 48, "history": "ema"}},
        {"name": "shortest_correct", "params": {"max_tokens": 48}},
        {"name": "target_length", "params": {"mode": "max"}},
        {"name": "overlong", "params": {"max_tokens": 48, "buffer_tokens": 8}},
        {"name": "no_think_bonus"},
    ]
}


def make_rows(n_rows: int, group_size: int = 8, seed: int = 0) -> list[dict]:
    """Return synthetic scored rows: groups of `group_size` completions with varied lengths and answers."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_rows):
        gold = str(rng.randint(0, 99))
        level = 1 + (i // group_size) % 5
        n = rng.randint(0, 12 * level)
        answer = gold if rng.random() < 0.6 else str(rng.randint(0, 99))
        closed = rng.random() < 0.95
        completion = f"<think>{'step ' * (n // 5)}</think>{answer}" if closed else f"<think>{'x' * n}"
        rows.append(
            {
                "prompt": f"problem {i // group_size}: compute the chain",
                "completion": completion,
                "answer": gold,
                "difficulty": level,
                "budget": 8 * level,
            }
        )
    return rows


def time_score(config: Path, rows_path: Path, out: Path) -> float:
    """Return the seconds one in-process `thinkdial rewards score` run takes."""
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        code = main(
            ["rewards", "score", "--config", str(config), "--input", str(rows_path), "--out", str(out)]
        )
    elapsed = time.perf_counter() - start
    assert code == 0
    return elapsed


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--config", default="configs/rewards/adaptive.yaml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows_path = tmp / "rows.jsonl"
        rows_path.write_text("".join(json.dumps(r) + "\n" for r in make_rows(args.rows)))
        all_path = tmp / "all.yaml"
        all_path.write_text(yaml.safe_dump(ALL_COMPONENTS))
        time_score(Path(args.config), rows_path, tmp / "warm.jsonl")  # imports, tokenizer build
        for label, config in ((Path(args.config).stem, Path(args.config)), ("all components", all_path)):
            seconds = time_score(config, rows_path, tmp / "out.jsonl")
            print(
                f"rewards score [{label}]: {args.rows} rows in {seconds:.3f}s = {args.rows / seconds:,.0f} rows/s "
                f"(target >= 5,000)"
            )


if __name__ == "__main__":
    run()

"""Group statistics are exact across processes: 2 CPU processes (torchrun, gloo) give the 1-process rewards.

Run directly under torchrun, this file is the worker: each rank scores its contiguous half of the
rows (so one prompt's group straddles the ranks, as in TRL) and rank 0 writes the gathered result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

CONFIG = {
    "rewards": [
        {"name": "correctness"},
        {"name": "format", "weight": 0.2},
        {"name": "kimi"},
        {"name": "cosine", "params": {"max_tokens": 8}},
        {"name": "efficiency"},
        {"name": "solve_rate", "params": {"max_tokens": 8, "history": "ema", "ema_decay": 0.5}},
        {"name": "shortest_correct", "params": {"max_tokens": 8}},
        {"name": "target_length", "params": {"mode": "max", "alpha": 0.1}},
        {"name": "overlong", "params": {"max_tokens": 8, "buffer_tokens": 3}},
        {"name": "no_think_bonus"},
        {"name": "two_sided", "params": {"max_tokens": 8, "min_direct_samples": 2}},
    ]
}
STEPS = 2  # two calls: the solve-rate EMA must evolve identically too


def make_rows(step: int) -> dict[str, list]:
    """Return 3 prompts x 4 completions; with 2 ranks, prompt 'b' is split 2 + 2 over the ranks. Its two middle
    rows (one on each rank) answer directly and right, and only 'c' has a budget: two_sided's direct-answer
    evidence at b's level (rows without a budget) is reliable only when both ranks' rows are counted."""
    prompts, completions, answers, difficulty, budget = [], [], [], [], []
    for g, prompt in enumerate(["a", "b", "c"]):
        for j in range(4):
            direct = prompt == "b" and j in (1, 2)
            n = 0 if direct else (3 * g + 2 * j + step) % 10
            ok = direct or (g + j + step) % 3 != 0
            prompts.append(f"prompt {prompt}")
            completions.append(f"<think>{'x' * n}</think>{'7' if ok else '8'}")
            answers.append("7")
            difficulty.append(g + 1)
            budget.append(5 if prompt == "c" else None)
    return {
        "prompts": prompts,
        "completions": completions,
        "answer": answers,
        "difficulty": difficulty,
        "budget": budget,
    }


def score(rows: dict[str, list], funcs, step: int, metrics: dict) -> list[list]:
    """Return every func's rewards on `rows`, collecting `log_metric` calls into `metrics`."""
    state = SimpleNamespace(global_step=step)
    return [
        f(completion_ids=None, trainer_state=state, log_metric=metrics.__setitem__, **rows) for f in funcs
    ]


def build():
    from thinkdial.rewards.config import parse_reward_config
    from thinkdial.rewards.metrics import BatchMetrics
    from thinkdial.rewards.registry import build_reward_funcs
    from thinkdial.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    return [*build_reward_funcs(parse_reward_config(CONFIG), tokenizer)[0], BatchMetrics(tokenizer)]


def worker(out_path: str) -> None:
    from accelerate import PartialState
    from accelerate.utils import gather_object

    state = PartialState(cpu=True)
    assert state.num_processes == 2, state.num_processes
    funcs, result = build(), []
    for step in range(STEPS):
        rows = make_rows(step)
        half = len(rows["prompts"]) // 2
        local = {k: v[state.process_index * half : (state.process_index + 1) * half] for k, v in rows.items()}
        metrics: dict = {}
        rewards = score(local, funcs, step, metrics)
        gathered = [gather_object(r) for r in rewards]
        result.append({"rewards": gathered, "metrics": gather_object([metrics])})
    if state.is_main_process:
        Path(out_path).write_text(json.dumps(result))
    state.wait_for_everyone()
    state.destroy_process_group()  # a live gloo group at exit can abort ("terminate called ...")


def single_process() -> list[dict]:
    funcs, result = build(), []
    for step in range(STEPS):
        metrics: dict = {}
        result.append(
            {"rewards": score(make_rows(step), funcs, step, metrics), "metrics": [metrics, metrics]}
        )
    return result


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
    out = tmp_path / "two.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        __file__,
        str(out),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads(out.read_text())
    one = json.loads(json.dumps(single_process()))
    # step 0 by hand: level 1 (a) has 2 of 4 right, level 2 (b) answers 2 of 4 directly, c fits 5 on 2 of 4
    metrics = one[0]["metrics"][0]
    assert (
        metrics["level_1/accuracy"] == metrics["level_2/think_rate"] == metrics["budget/within_rate"] == 0.5
    )
    assert two == one  # exact: every reward and every per-level metric on both ranks


if __name__ == "__main__":
    worker(sys.argv[1])

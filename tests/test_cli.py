"""The `thinkdial` command line: one namespace, fast light commands, nothing shadowed by a user's files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, thinkdial

from thinkdial.io import write_jsonl

HEAVY = ("torch", "trl", "transformers")
PROBE = """
import sys, runpy
sys.argv = ["thinkdial", *{argv!r}]
try:
    runpy.run_module("thinkdial", run_name="__main__")
except SystemExit:
    pass
sys.stdout.flush()
print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


def probe(argv: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Return the finished `thinkdial ARGV` run in `cwd`; its stderr ends with the heavy modules it imported."""
    code = PROBE.format(argv=argv, heavy=HEAVY)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ""})


def heavy_imports(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1].removeprefix("HEAVY=")


@pytest.mark.parametrize("argv", [["--help"], ["rewards", "list"], ["data", "--help"], ["eval", "--help"],
                                  ["generate", "--help"],
                                  ["data", "--config", "configs/tiny/data.yaml", "--split", "test", "--limit", "8"]])
def test_light_commands_import_no_torch_trl_or_transformers(argv):
    result = probe(argv)
    assert heavy_imports(result) == "", result.stderr[-2000:]


def test_rewards_score_imports_no_torch_and_prints_only_json_lines(tmp_path):
    rows = [{"prompt": "p", "completion": "<think>12</think>3", "answer": "3", "difficulty": 2},
            {"prompt": "p", "completion": "<think></think>4", "answer": "3", "difficulty": 2}]
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    result = probe(["rewards", "score", "--config", "configs/rewards/adaptive.yaml", "--input", str(data)])
    assert heavy_imports(result) == "", result.stderr[-2000:]
    parsed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["correct"] for r in parsed] == [True, False]


def test_a_users_data_py_and_train_py_in_the_working_folder_break_nothing(tmp_path):
    for name in ("data.py", "train.py", "eval.py", "rewards.py"):
        (tmp_path / name).write_text("raise SystemExit('the user module was imported')\n")
    result = probe(["data", "--config", str(ROOT / "configs/tiny/data.yaml"), "--split", "test", "--limit", "8"],
                   cwd=tmp_path)
    assert "user module" not in result.stdout + result.stderr
    assert "level" in result.stdout, result.stderr[-2000:]


def test_python_dash_m_thinkdial_is_the_console_script():
    result = thinkdial("--help", timeout=60)
    assert result.returncode == 0 and "grpo" in result.stdout and "rewards" in result.stdout


def test_grpo_help_lists_config_and_thinkdials_own_fields_before_trls():
    result = thinkdial("grpo", "--help", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert out.index("--config") < out.index("--reward_config") < out.index("--learning_rate")
    assert out.index("--data_config") < out.index("--per_device_train_batch_size")

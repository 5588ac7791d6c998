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
finally:
    sys.stdout.flush()
    print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


def probe(argv: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Return the finished `thinkdial ARGV` run in `cwd` (its exit code is the command's); its stderr ends with
    the heavy modules it imported."""
    code = PROBE.format(argv=argv, heavy=HEAVY)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ""},
    )


def heavy_imports(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1].removeprefix("HEAVY=")


@pytest.mark.parametrize(
    "argv, printed",
    [
        (["--help"], "usage: thinkdial [-h] COMMAND ..."),
        (["rewards", "list"], "two_sided: `two_sided` (thinkdial's default)"),
        (["data", "--help"], "usage: thinkdial data [-h] --config CONFIG"),
        (["eval", "--help"], "usage: thinkdial eval [-h]"),
        (["generate", "--help"], "usage: thinkdial generate [-h] --model MODEL"),
        (
            ["data", "--config", "configs/tiny/data.yaml", "--split", "test", "--limit", "8"],
            "     8       1                       8.00",
        ),
    ],
)
def test_light_commands_import_no_torch_trl_or_transformers(argv, printed):
    result = probe(argv)
    assert result.returncode == 0 and printed in result.stdout, result.stderr[-2000:]
    assert heavy_imports(result) == "", result.stderr[-2000:]


def test_rewards_score_imports_no_torch_and_prints_only_json_lines(tmp_path):
    rows = [
        {"prompt": "p", "completion": "<think>12</think>3", "answer": "3", "difficulty": 2},
        {"prompt": "p", "completion": "<think></think>4", "answer": "3", "difficulty": 2},
    ]
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    result = probe(["rewards", "score", "--config", "configs/rewards/adaptive.yaml", "--input", str(data)])
    assert result.returncode == 0 and heavy_imports(result) == "", result.stderr[-2000:]
    parsed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["correct"] for r in parsed] == [True, False]


def test_a_users_data_py_and_train_py_in_the_working_folder_break_nothing(tmp_path):
    for name in ("data.py", "train.py", "eval.py", "rewards.py"):
        (tmp_path / name).write_text("raise SystemExit('the user module was imported')\n")
    result = probe(
        ["data", "--config", str(ROOT / "configs/tiny/data.yaml"), "--split", "test", "--limit", "8"],
        cwd=tmp_path,
    )
    assert "user module" not in result.stdout + result.stderr
    assert result.returncode == 0 and " level    rows" in result.stdout, result.stderr[-2000:]


def test_python_dash_m_thinkdial_is_the_console_script():
    result = thinkdial("--help", timeout=60)
    assert result.returncode == 0 and "grpo" in result.stdout and "rewards" in result.stdout


def test_grpo_help_lists_config_and_thinkdials_own_fields_before_trls():
    result = thinkdial("grpo", "--help", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert out.index("--config") < out.index("--reward_config") < out.index("--learning_rate")
    assert out.index("--data_config") < out.index("--per_device_train_batch_size")


def test_a_usage_error_prints_one_line_and_exits_2(capsys):
    from thinkdial.cli import main

    assert main(["data", "--config", "nope.yaml"]) == 2
    assert capsys.readouterr().err == "thinkdial data: error: data config not found: nope.yaml\n"


@pytest.mark.parametrize(
    "error",
    [
        KeyError("base_model_name_or_path"),
        ValueError("deep in training"),
        FileNotFoundError("a file the code expected"),
    ],
)
def test_an_error_that_is_no_usage_error_keeps_its_traceback(monkeypatch, error):
    from thinkdial.cli import main

    def crash(args):
        raise error

    monkeypatch.setattr("thinkdial.data.cli.run", crash)
    with pytest.raises(type(error)):
        main(["data", "--config", "configs/tiny/data.yaml"])


def test_a_crash_exits_1_with_its_traceback_on_stderr(tmp_path):
    # a bug deep inside a command (a key the code expected is missing): the real traceback, not one bare line
    code = (
        "import sys; from thinkdial.cli import main; import thinkdial.data.cli as d\n"
        "d.run = lambda args: {}['base_model_name_or_path']\n"
        "sys.exit(main(['data', '--config', 'configs/tiny/data.yaml']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().endswith("KeyError: 'base_model_name_or_path'")


@pytest.mark.parametrize(
    "argv, expected",
    [
        (
            ["rewards", "score", "--config", "configs/rewards/adaptive.yaml", "--input", "nope.jsonl"],
            "thinkdial rewards: error: input not found: nope.jsonl",
        ),
        (
            [
                "rewards",
                "score",
                "--config",
                "configs/rewards/adaptive.yaml",
                "--input",
                "ROWS",
                "--tokenizer",
                "nope/",
            ],
            "thinkdial rewards: error: tokenizer folder not found: nope/",
        ),
        (
            ["rewards", "score", "--config", "configs/rewards/target_length.yaml", "--input", "ROWS"],
            "thinkdial rewards: error: reward 'target_length' reads the key 'budget', which the rows lack",
        ),
    ],
)
def test_a_missing_user_file_or_key_is_a_usage_error(tmp_path, capsys, argv, expected):
    from thinkdial.cli import main

    rows = write_jsonl(
        tmp_path / "rows.jsonl", [{"prompt": "p", "completion": "<think></think>3", "answer": "3"}]
    )
    assert main([str(rows) if a == "ROWS" else a for a in argv]) == 2
    assert capsys.readouterr().err == expected + "\n"


@pytest.mark.parametrize("case", ["dial block", "row budget", "not a checkpoint"])
def test_the_dial_and_export_refuse_the_users_mistakes_in_one_line(tmp_path, capsys, case):
    config = tmp_path / "data.yaml"
    if case == "dial block":
        config.write_text("source: permchain\ndial: {no_budget_share: 1.5}\n")
        argv, expected = ["data", "--config", str(config)], "dial.no_budget_share must be a number in [0, 1]"
    elif case == "row budget":
        write_jsonl(
            tmp_path / "rows.jsonl", [{"prompt": "1:AB=", "answer": "a", "difficulty": 1, "budget": "lots"}]
        )
        config.write_text("source: jsonl\npath: rows.jsonl\n")
        argv, expected = ["data", "--config", str(config)], "column 'budget': budget must be a whole number"
    else:
        (tmp_path / "run").mkdir()
        argv = ["export", "--checkpoint", str(tmp_path / "run"), "--out", str(tmp_path / "export")]
        expected = "not a checkpoint (no config.json)"
    from thinkdial.cli import main

    assert main(argv) == 2
    # stderr also carries the libraries' banners (export imports transformers): one line is the error
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line.lower()]
    assert len(err) == 1 and err[0].startswith(f"thinkdial {argv[0]}: error: ") and expected in err[0], err

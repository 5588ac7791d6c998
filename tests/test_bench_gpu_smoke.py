"""bench/gpu_smoke.py on CPU with the tiny shape: the same path the GPU check runs, with its JSON report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
POSITIVE = (
    "parameters",
    "eval_generated_tokens",
    "eval_seconds",
    "eval_generated_tokens_per_s",
    "thinkdial_grpo_step_time_s",
    "plain_trl_step_time_s",
    "step_time_ratio_thinkdial_over_plain",
    "wall_time_s",
)
PEAK_MEMORY = (
    "eval_peak_gpu_memory_gib",
    "thinkdial_grpo_peak_gpu_memory_gib",
    "plain_trl_peak_gpu_memory_gib",
)


@pytest.mark.slow
def test_gpu_smoke_tiny_shape_writes_its_measurements(tmp_path):
    out = tmp_path / "smoke.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu_smoke.py"), "--shape", "tiny", "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert json.loads(run.stdout[run.stdout.index("{") :]) == report
    assert report["shape"] == "tiny" and report["versions"]["trl"]
    for key in POSITIVE:
        assert isinstance(report[key], (int, float)) and report[key] > 0, key
    cuda = report["device"] != "cpu"
    for key in PEAK_MEMORY:
        assert (report[key] > 0) if cuda else report[key] is None, key

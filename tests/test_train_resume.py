"""--resume after SIGKILL: continues from the latest complete checkpoint and finishes the planned steps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, TINY_ARGS, thinkdial

from thinkdial.train.rundir import checkpoint_complete, last_checkpoint

PLANNED_STEPS = 8


@pytest.mark.slow
def test_resume_after_sigkill_continues_from_the_checkpoint_and_finishes(tmp_path):
    out = tmp_path / "run"
    args = [
        *TINY_ARGS,
        "--output_dir",
        str(out),
        "--max_steps",
        str(PLANNED_STEPS),
        "--save_strategy",
        "steps",
        "--save_steps",
        "2",
        "--save_total_limit",
        "2",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "thinkdial", "grpo", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 480
        while last_checkpoint(str(out)) is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = int(last_checkpoint(str(out)).rpartition("-")[2])
    assert killed_at < PLANNED_STEPS
    # A save cut short by the kill: weights written, trainer_state.json not yet. Resume must skip and remove it.
    half = out / f"checkpoint-{PLANNED_STEPS - 1}"
    half.mkdir(exist_ok=True)
    (half / "model.safetensors").write_bytes(b"partial")
    assert not checkpoint_complete(str(half))

    result = thinkdial("grpo", *args, "--resume", "true")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming from {out / f'checkpoint-{killed_at}'}" in result.stderr
    assert f"removed half-written checkpoint {half}" in result.stderr
    steps_logged = result.stderr.count("'step_time'")
    assert steps_logged == PLANNED_STEPS - killed_at, result.stderr[-3000:]
    final = json.loads((out / f"checkpoint-{PLANNED_STEPS}" / "trainer_state.json").read_text())
    assert final["global_step"] == PLANNED_STEPS == final["max_steps"]
    assert (out / "model.safetensors").is_file()

"""bench/gpu_smoke.py on CPU with the tiny shape: the same path the GPU check runs, with its JSON report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# One recipe per launch path: ZeRO-2, LoRA on one process, ZeRO-3 with the export of its checkpoint.
RECIPES = {
    "r1-distill-qwen-1.5b/grpo_dial": ("zero2", 2, False),
    "r1-distill-qwen-1.5b/grpo_dial_lora": ("one process", 0, True),
    "r1-distill-qwen-1.5b/grpo_adaptive": ("zero3", 3, False),
}
SHARES = {
    "generation",
    "rewards",
    "old_and_reference_logprobs",
    "loss_forward",
    "backward",
    "callbacks",
    "optimizer_and_other",
}


@pytest.mark.slow
def test_gpu_smoke_tiny_shape_writes_its_measurements(tmp_path):
    out = tmp_path / "smoke.json"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "gpu_smoke.py"),
            "--shape",
            "tiny",
            "--recipes",
            ",".join(RECIPES),
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert json.loads(run.stdout[run.stdout.index("{") :]) == report
    assert report["shape"] == "tiny" and report["device"] == "cpu" and report["versions"]["deepspeed"]
    assert "thinkdial / plain TRL:" in run.stderr
    settings = report["eval"]["settings"]
    assert list(settings) == ["dynamic", "static", "static_compiled"]
    assert not any(s["compiled"] for s in settings.values())  # transformers compiles on CUDA only
    # greedy decoding of the same prompts in fp32 on the CPU: every setting generates the same completions
    assert [s["same_as_dynamic"] for s in settings.values()] == [1.0, 1.0, 1.0]
    assert len({s["generated_tokens"] for s in settings.values()}) == 1
    assert all(
        s["generated_tokens_per_s"] > 0 and s["peak_gpu_memory_gib"] is None for s in settings.values()
    )
    sides = report["sides"]
    for label in ("thinkdial", "plain_trl", "thinkdial_dynamic"):
        side = sides[label]
        assert side["generation"] == "dynamic" and side["zero_stage"] == 0, label  # auto on CPU: dynamic
        assert side["step_time_s"] > 0 and side["generated_tokens_per_s"] > 0, label
        assert set(side["seconds_per_step"]) == SHARES and side["seconds_per_step"]["generation"] > 0, label
    assert (
        sides["step_time_ratio_thinkdial_over_plain"] > 0 and sides["step_time_ratio_auto_over_dynamic"] > 0
    )
    assert list(report["recipes"]) == list(RECIPES)
    for name, (launch, zero_stage, lora) in RECIPES.items():
        recipe = report["recipes"][name]
        assert recipe["ok"], recipe.get("error")
        assert (recipe["launch"], recipe["zero_stage"], recipe["lora"]) == (launch, zero_stage, lora), name
        assert recipe["completions_per_step"] == 64 and recipe["step_time_s"] > 0, name
        assert recipe["seconds_per_step"]["backward"] > 0 and recipe["peak_gpu_memory_gib"] is None, name
    export = report["recipes"]["r1-distill-qwen-1.5b/grpo_adaptive"]["export"]
    assert export["ok"] and export["safetensors"] == ["model.safetensors"]

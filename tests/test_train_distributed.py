"""Multi-process training on CPU: 2 processes through configs/accelerate/cpu2.yaml (gloo), SFT and GRPO, and
GRPO on DeepSpeed ZeRO-2.

The first ZeRO-2 run compiles DeepSpeed's shared-memory communication op (about 60 s, cached after).
"""

from __future__ import annotations

import json

import pytest
from conftest import SFT_ARGS, TINY_ARGS, accelerate_launch

BANNERS = {
    "grpo": "grpo: 2 process(es), 8 completions (2 prompts) per generation step",
    "sft": "sft: 2 process(es), 8 rows per optimizer step",
}


def run_two_processes(tmp_path, accelerate_config: str, *launch_args: str, stage: str = "grpo"):
    """Return (result, output_dir) of 3 tiny `stage` steps on 2 CPU processes, checkpointed at the end."""
    out = tmp_path / "run"
    args = {"grpo": TINY_ARGS, "sft": SFT_ARGS}[stage]
    result = accelerate_launch(
        accelerate_config,
        list(launch_args),
        stage,
        *args,
        "--output_dir",
        str(out),
        "--max_steps",
        "3",
        "--per_device_train_batch_size",
        "4",
        "--save_strategy",
        "steps",
        "--save_steps",
        "3",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert BANNERS[stage] in result.stderr
    # each process prints its final line on stdout, its banner and logs on stderr (the accelerate launcher's
    # own notes, e.g. DeepSpeed's accelerator detection, may precede them: not thinkdial's output)
    assert result.stdout.count(f"saved {stage} model to {out}\n") == 2
    assert "'loss'" in result.stderr and "'loss'" not in result.stdout and BANNERS[stage] not in result.stdout
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    assert (out / "model.safetensors").is_file()
    assert json.loads((out / f"{stage}_config.json").read_text())["output_dir"] == str(out)
    return result, out


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_two_cpu_processes_through_cpu2_config(tmp_path, stage):
    run_two_processes(tmp_path, "configs/accelerate/cpu2.yaml", stage=stage)


@pytest.mark.slow
def test_two_process_deepspeed_zero2_on_cpu(tmp_path):
    _, out = run_two_processes(
        tmp_path, "configs/accelerate/zero2.yaml", "--num_processes", "2", "--mixed_precision", "no"
    )
    # DeepSpeed writes its own sharded optimizer state: proof the ZeRO-2 engine trained, not plain DDP.
    assert list((out / "checkpoint-3").glob("global_step3/*optim_states.pt"))

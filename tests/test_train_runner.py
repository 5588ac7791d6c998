"""The shared SFT/GRPO runner: secrets, output-folder lock, bad input refused before the model loads,
<unk> warnings, full disks, SFT LoRA + resume, stdout carrying only the final line."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections import namedtuple

import pytest
import yaml
from conftest import ROOT, SFT_ARGS, TINY_ARGS, thinkdial

from thinkdial.errors import UsageError
from thinkdial.io import write_jsonl
from thinkdial.train.recipe import parse_recipe, save_run_config
from thinkdial.train.rundir import LOCK_NAME, FreeSpaceCallback, disk_full_explained, run_lock
from thinkdial.train.runner import check_prompts
from thinkdial.train.sft import ThinkdialSFTConfig, train_sft

SECRET = "hf_thinkdialRunnerSecret123"
ENV_SECRET = "hf_thinkdialEnvSecret456"
STAGE_ARGS = {"sft": SFT_ARGS, "grpo": TINY_ARGS}


def refusal(capsys, stage: str, *args: str) -> str:
    """Return the single `thinkdial STAGE: error: ...` line of `thinkdial STAGE ARGS` run in-process, asserting
    exit 2 (with the `no_model_load` fixture, a model load fails the test instead)."""
    from thinkdial.cli import main

    assert main([stage, *args]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith(f"thinkdial {stage}: error: "), err[-3000:]
    return errors[0]


# --- secrets, stdout -------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_a_token_planted_through_every_route_is_in_no_file_and_stdout_is_one_line(tmp_path, stage):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(WANDB_DIR=str(tmp_path), WANDB_API_KEY="", HF_TOKEN=ENV_SECRET)  # wandb offline: the default
    out = tmp_path / "run"
    args = [
        *STAGE_ARGS[stage],
        "--output_dir",
        str(out),
        "--report_to",
        "wandb",
        "--save_strategy",
        "steps",
        "--save_steps",
        "2",
        "--hub_token",
        SECRET,
        "--model_init_kwargs",
        json.dumps({"token": SECRET}),
    ]
    result = subprocess.run(
        [sys.executable, "-m", "thinkdial", stage, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == f"saved {stage} model to {out}\n"
    assert (out / "checkpoint-2" / "training_args.bin").is_file()
    assert list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb")), "wandb did not log an offline run"
    for secret in (SECRET, ENV_SECRET):
        leaked = [str(p) for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
        assert not leaked, f"token written to {leaked}"
    assert json.loads((out / f"{stage}_config.json").read_text())["hub_token"] is None


def test_the_saved_run_config_redacts_secret_values_not_names_holding_token(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HF_TOKEN", ENV_SECRET)
    args = ["--max_prompt_tokens", "30", "--hub_token", SECRET, "--run_name", f"run-{ENV_SECRET}"]
    config = parse_recipe(ThinkdialSFTConfig, [*SFT_ARGS, "--output_dir", str(tmp_path), *args])
    saved = json.loads(save_run_config(config, str(tmp_path), "sft_config").read_text())
    assert saved["max_prompt_tokens"] == 30 and saved["include_num_input_tokens_seen"] == "no"
    assert saved["hub_token"] == "<redacted>" and saved["run_name"] == "run-<redacted>"


def test_different_hub_and_model_tokens_are_refused(tmp_path, capsys, no_model_load):
    from thinkdial.cli import main

    args = [
        "--output_dir",
        str(tmp_path / "run"),
        "--hub_token",
        "hf_a",
        "--model_init_kwargs",
        '{"token": "hf_b"}',
    ]
    assert main(["grpo", *TINY_ARGS, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("thinkdial grpo: error: hub_token and model_init_kwargs.token differ"), err
    assert err.count("\n") == 1 and "hf_a" not in err and "hf_b" not in err


# --- one run per output folder ---------------------------------------------------------------------------------


def test_the_lock_refuses_a_second_holder_naming_its_pid(tmp_path):
    with run_lock(str(tmp_path)):
        with pytest.raises(UsageError, match=f"in use by another thinkdial run \\(pid {os.getpid()} on "):
            with run_lock(str(tmp_path)):
                pass
    with run_lock(str(tmp_path)):  # released at the end of the block
        pass


def test_a_dead_runs_lock_is_taken_over(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (tmp_path / LOCK_NAME).write_text(f"pid {dead.stdout.strip()} on {os.uname().nodename}\n")
    with run_lock(str(tmp_path)) as path:
        assert path.read_text().startswith(f"pid {os.getpid()} on ")


def test_a_second_run_on_a_locked_output_dir_stops_naming_the_holder(tmp_path, capsys, no_model_load):
    out = tmp_path / "run"
    hold = (
        "import sys, time\nfrom thinkdial.train.rundir import run_lock\nwith run_lock(sys.argv[1]):\n"
        "    print('held', flush=True)\n    time.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        line = refusal(capsys, "grpo", *TINY_ARGS, "--output_dir", str(out))
    finally:
        holder.kill()
        holder.wait()
    assert f"output_dir {out} is in use by another thinkdial run (pid {holder.pid} on " in line
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME], "the refused run wrote into the folder"


# --- bad input, refused before the model loads ----------------------------------------------------------------


@pytest.mark.parametrize(
    "stage, args, expected",
    [
        (
            "sft",
            ["--max_steps", "-3"],
            "max_steps must be >= 1 (or -1: train num_train_epochs epochs), got -3",
        ),
        (
            "grpo",
            ["--max_steps", "-3"],
            "max_steps must be >= 1 (or -1: train num_train_epochs epochs), got -3",
        ),
        ("sft", ["--learning_rate", "-1"], "learning_rate must be > 0, got -1.0"),
        ("grpo", ["--per_device_train_batch_size", "0"], "per_device_train_batch_size must be >= 1, got 0"),
        ("grpo", ["--max_prompt_tokens", "0"], "max_prompt_tokens must be >= 1, got 0"),
    ],
    ids=["sft-max_steps", "grpo-max_steps", "sft-learning_rate", "grpo-batch", "grpo-max_prompt_tokens"],
)
def test_values_out_of_range_stop_with_one_line(tmp_path, capsys, no_model_load, stage, args, expected):
    out = tmp_path / "run"
    assert expected in refusal(capsys, stage, *STAGE_ARGS[stage], "--output_dir", str(out), *args)
    assert not out.exists()


@pytest.mark.parametrize(
    "stage, args, expected",
    [
        ("grpo", ["--temperature", "0"], "temperature must be > 0, got 0.0"),
        ("grpo", ["--temperature", "-1"], "temperature must be > 0, got -1.0"),
        ("grpo", ["--top_p", "2"], "top_p must be <= 1, got 2.0"),
        ("grpo", ["--beta", "-1"], "beta must be >= 0, got -1.0"),
        ("grpo", ["--beta", "nan"], "beta must be a finite number, got nan"),
        ("grpo", ["--num_train_epochs", "inf", "--max_steps", "-1"], "num_train_epochs must be a finite"),
        ("grpo", ["--logging_steps", "-1"], "logging_steps must be > 0, got -1.0"),
        ("sft", ["--learning_rate", "inf"], "learning_rate must be a finite number, got inf"),
        ("sft", ["--logging_steps", "0"], "logging_steps must be > 0, got 0.0"),
    ],
)
def test_sampling_and_float_values_out_of_range_stop_before_the_model_loads(
    tmp_path, capsys, no_model_load, stage, args, expected
):
    from thinkdial.cli import main

    out = tmp_path / "run"
    assert main([stage, *STAGE_ARGS[stage], "--output_dir", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"thinkdial {stage}: error: {expected}") and err.count("\n") == 1, err
    assert not out.exists()


def test_reward_weights_in_a_recipe_are_refused(tmp_path, capsys, no_model_load):
    args = ["--output_dir", str(tmp_path / "run"), "--reward_weights", "1.0", "0.2"]
    line = refusal(capsys, "grpo", *TINY_ARGS, *args)
    assert "reward_weights: set each component's `weight` in the reward config" in line


def test_a_reward_column_the_data_lacks_stops_before_the_model_loads(tmp_path, capsys, no_model_load):
    out = tmp_path / "run"
    plain = yaml.safe_load((ROOT / "configs/tiny/grpo_data.yaml").read_text())
    del plain["dial"]  # no thinking budgets on any row
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(plain))
    line = refusal(
        capsys,
        "grpo",
        *TINY_ARGS,
        "--output_dir",
        str(out),
        "--reward_config",
        "configs/rewards/target_length.yaml",
        "--data_config",
        str(tmp_path / "plain.yaml"),
    )
    assert (
        f"reward 'target_length' reads the column 'budget', which the train rows of {tmp_path / 'plain.yaml'} "
        "lack" in line
    )
    assert not (out / "init").exists(), "the model was built before the data was refused"


def write_jsonl_data(folder, rows: list[dict]) -> str:
    """Write `rows` to folder/rows.jsonl with a data config reading them; return the config's path."""
    write_jsonl(folder / "rows.jsonl", rows)
    (folder / "data.yaml").write_text(yaml.safe_dump({"source": "jsonl", "path": "rows.jsonl"}))
    return str(folder / "data.yaml")


@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_a_one_megabyte_prompt_is_refused_before_the_model_loads(tmp_path, capsys, no_model_load, stage):
    rows = [
        {"prompt": f"1:ABCabc{i % 10}=", "answer": "a", "difficulty": 1, "reasoning": "a"} for i in range(15)
    ]
    rows.insert(7, {"prompt": "1:" + "A" * 1_000_000 + "=", "answer": "a", "difficulty": 1, "reasoning": "a"})
    line = refusal(
        capsys,
        stage,
        *STAGE_ARGS[stage],
        "--output_dir",
        str(tmp_path / "run"),
        "--data_config",
        write_jsonl_data(tmp_path, rows),
    )
    # the tiny model's context is 256 tokens; GRPO keeps 12 for max_completion_length, SFT truncates at the
    # recipe's max_length
    sft_max = yaml.safe_load((ROOT / "configs/tiny/sft.yaml").read_text())["max_length"]
    limit = {
        "sft": f"{sft_max - 1} tokens (max_length of {sft_max} tokens less 1 for at least one completion token)",
        "grpo": "244 tokens (the model's context of 256 tokens less 12 for max_completion_length)",
    }[stage]
    place = f"{tmp_path / 'rows.jsonl'}:8"  # the prompt's line in the file
    assert f"1 of 16 prompts are longer than {limit}; the longest, {place}, has 1000003 tokens" in line


def test_max_prompt_tokens_caps_the_prompt_length(tmp_path, capsys, no_model_load):
    rows = [{"prompt": "1:" + "A" * n + "=", "answer": "a", "difficulty": 1} for n in (10, 40, 20)]
    line = refusal(
        capsys,
        "grpo",
        *TINY_ARGS,
        "--output_dir",
        str(tmp_path / "run"),
        "--max_prompt_tokens",
        "30",
        "--data_config",
        write_jsonl_data(tmp_path, rows),
    )
    assert (
        f"1 of 3 prompts are longer than 30 tokens (max_prompt_tokens); the longest, {tmp_path / 'rows.jsonl'}:2, "
        "has 43 tokens" in line
    )


def test_characters_the_tokenizer_cannot_encode_are_counted_in_a_warning(capsys):
    import datasets

    from thinkdial.tiny import build_tokenizer

    rows = datasets.Dataset.from_list(
        [
            {"prompt": "1:ABé=", "answer": "a"},
            {"prompt": "2:AB=", "answer": "a"},
            {"prompt": "3:é→=", "answer": "ü"},
        ]
    )
    check_prompts(rows, build_tokenizer(), (None, "no limit"))
    assert capsys.readouterr().err == (
        "thinkdial: warning: 2 of 3 rows hold 4 character(s) the tokenizer cannot encode ('é', 'ü', '→'); "
        "the model sees <unk> in their place\n"
    )
    check_prompts(rows.select([1]), build_tokenizer(), (None, "no limit"))
    assert capsys.readouterr().err == ""


# --- full disk -------------------------------------------------------------------------------------------------

DiskUsage = namedtuple("DiskUsage", "total used free")


def test_a_checkpoint_the_disk_cannot_hold_stops_with_no_space_left(tmp_path, monkeypatch):
    from transformers import TrainerControl, TrainerState

    monkeypatch.setattr("shutil.disk_usage", lambda path: DiskUsage(10**9, 10**9 - 10**6, 10**6))
    callback, state = FreeSpaceCallback(str(tmp_path), 5 * 10**6), TrainerState(global_step=7)
    callback.on_step_end(None, state, TrainerControl(should_save=False))  # no save this step: no check
    with pytest.raises(
        OSError,
        match=r"No space left on device for checkpoint-7: .* has 1 MB free, the save "
        r"needs about 5 MB",
    ) as err:
        callback.on_step_end(None, state, TrainerControl(should_save=True))
    assert err.value.errno == errno.ENOSPC


def test_a_write_failing_on_a_full_disk_says_no_space_left(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.disk_usage", lambda path: DiskUsage(10**9, 10**9 - 10**5, 10**5))
    torch_error = RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 320 vs 244")
    with pytest.raises(OSError, match="No space left on device: writing to .* failed with 0 MB free") as err:
        with disk_full_explained(str(tmp_path), 10**6):
            raise torch_error
    assert err.value.__cause__ is torch_error
    with pytest.raises(KeyError):  # with room left, other errors pass unchanged
        with disk_full_explained(str(tmp_path), 10**3):
            raise KeyError("x")


@pytest.mark.slow
def test_sft_on_a_full_disk_stops_before_writing_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "run"
    config = parse_recipe(
        ThinkdialSFTConfig,
        SFT_ARGS + ["--output_dir", str(out), "--save_strategy", "steps", "--save_steps", "1"],
    )
    monkeypatch.setattr("shutil.disk_usage", lambda path: DiskUsage(10**9, 10**9 - 10**5, 10**5))
    with pytest.raises(OSError, match="No space left on device for checkpoint-1"):
        train_sft(config)
    assert not list(out.glob("checkpoint-*"))


# --- SFT: LoRA and resume through the shared runner ------------------------------------------------------------


@pytest.mark.slow
def test_sft_trains_a_lora_adapter_and_resumes_it(tmp_path):
    out = tmp_path / "run"
    args = [
        *SFT_ARGS,
        "--output_dir",
        str(out),
        "--use_peft",
        "true",
        "--lora_r",
        "4",
        "--lora_target_modules",
        "all-linear",
        "--save_strategy",
        "steps",
        "--save_steps",
        "2",
    ]
    first = thinkdial("sft", *args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 4
    assert not (out / "model.safetensors").exists(), "a full model was saved instead of the adapter"
    assert json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["global_step"] == 2

    resumed = thinkdial("sft", *args, "--max_steps", "4", "--resume", "true")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {out / 'checkpoint-2'}" in resumed.stderr
    assert resumed.stdout == f"saved sft model to {out}\n"
    final = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert final["global_step"] == 4 and [e["step"] for e in final["log_history"] if "loss" in e] == [
        1,
        2,
        3,
        4,
    ]

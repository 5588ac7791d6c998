"""Helpers shared by the test files: constants and functions (`from conftest import ROOT, thinkdial`; pytest
puts tests/ on sys.path) and fixtures (found by pytest itself)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from thinkdial.pipeline.run import run_command

ROOT = Path(__file__).resolve().parents[1]  # the repository root: recipes and configs are relative to it
# A few tiny GRPO steps on the randomly initialised embedded model (about 1 s per step on 2 CPU cores).
TINY_ARGS = [
    "--config",
    "configs/tiny/grpo.yaml",
    "--model_name_or_path",
    "tiny",
    "--reward_config",
    "configs/rewards/correct_only.yaml",
    "--train_limit",
    "64",
    "--max_steps",
    "4",
    "--per_device_train_batch_size",
    "8",
    "--num_generations",
    "4",
    "--max_completion_length",
    "12",
    "--logging_steps",
    "1",
    "--save_strategy",
    "no",
    "--select_checkpoint",  # the recipe's 32 validation rows per level would take all 64 train rows
    "false",
    "--report_to",
    "none",
    "--disable_tqdm",
    "true",
]
# A few tiny SFT steps on the embedded model.
SFT_ARGS = [
    "--config",
    "configs/tiny/sft.yaml",
    "--model_name_or_path",
    "tiny",
    "--train_limit",
    "64",
    "--max_steps",
    "2",
    "--per_device_train_batch_size",
    "8",
    "--logging_steps",
    "1",
    "--save_strategy",
    "no",
    "--stop_when_converged",  # the recipe's 32 held-out rows per level would take all 64 train rows
    "false",
    "--report_to",
    "none",
    "--disable_tqdm",
    "true",
]


def thinkdial(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Return the finished `python -m thinkdial ARGS` run in the repo root (text output captured)."""
    return run_command(
        list(args), capture=True, check=False, cwd=ROOT, env=env, timeout_s=timeout, echo=False
    )


def accelerate_launch(
    config: str, launch_args: list[str], *args: str, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Return the finished `accelerate launch --config_file CONFIG LAUNCH_ARGS -m thinkdial ARGS` run in the repo root."""
    return run_command(
        list(args),
        accelerate_config=config,
        launch_args=launch_args,
        capture=True,
        check=False,
        cwd=ROOT,
        timeout_s=timeout,
        echo=False,
    )


def varied_reward(prompts, completions, **kwargs):
    """Mean character code of each completion: varies inside every group of a random model's samples."""
    return [sum(map(ord, c)) / max(len(c), 1) / 128 for c in completions]


@pytest.fixture
def use_varied_reward(monkeypatch) -> None:
    """Make train_grpo use `varied_reward` (a random model never answers right: correctness gives 0 advantage)."""
    monkeypatch.setattr(
        "thinkdial.train.grpo.build_reward_funcs", lambda config, tokenizer: ([varied_reward], [1.0])
    )


@pytest.fixture
def no_model_load(monkeypatch):
    """Run in the repo root with the model loader patched to raise: a refusal must come before any load."""

    def loaded(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", loaded)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """The embedded default's character-level tokenizer (reasoning tokens = characters)."""
    from thinkdial.tiny import build_tokenizer

    return build_tokenizer()

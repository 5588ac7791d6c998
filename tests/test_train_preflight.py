"""Errors a GPU user meets (train/preflight.py), each one line with its fix, tested without a GPU: versions,
`torch.cuda` answers, the hub's offline switch and an out-of-memory error are faked."""

from __future__ import annotations

import importlib
import warnings
from importlib.metadata import PackageNotFoundError
from types import SimpleNamespace

import pytest
import torch
from conftest import ROOT, SFT_ARGS, TINY_ARGS

from thinkdial.errors import UsageError
from thinkdial.train.grpo import ThinkdialGRPOConfig, train_grpo
from thinkdial.train.preflight import check_model_reachable, check_precision, check_vllm, memory_knobs
from thinkdial.train.recipe import parse_recipe
from thinkdial.train.sft import ThinkdialSFTConfig


def installed(monkeypatch, vllm: str | None) -> None:
    """Make importlib report vLLM at version `vllm` (None: not installed) and TRL at 1.16.0."""

    def fake(name):
        if name == "vllm" and vllm is None:
            raise PackageNotFoundError(name)
        return {"vllm": vllm, "trl": "1.16.0"}[name]

    monkeypatch.setattr("thinkdial.train.preflight.version", fake)


@pytest.mark.parametrize(
    "found, supported",
    [("0.21.9", False), ("0.22.0", True), ("0.31.0+cu129", True), ("0.31.1", False), ("0.32.0", False)],
)
def test_vllm_outside_trls_supported_range_is_refused_as_trl_judges_it(monkeypatch, found, supported):
    trl_imports = importlib.import_module("trl.import_utils")
    monkeypatch.setattr(
        trl_imports, "_is_package_available", lambda name, return_version=False: (True, found)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trl_imports.is_vllm_available()
    assert (not caught) is supported  # TRL warns outside its range; thinkdial's range is the same
    installed(monkeypatch, found)
    if supported:
        check_vllm(SimpleNamespace(use_vllm=True))
        return
    with pytest.raises(UsageError) as err:
        check_vllm(SimpleNamespace(use_vllm=True))
    assert str(err.value) == (
        f"use_vllm: true, but vLLM {found} is outside the versions TRL 1.16.0 supports (0.22.0 to 0.31.0); "
        "install one (pip install 'vllm>=0.22.0,<=0.31.0') or set use_vllm: false (transformers generates)"
    )


def test_vllm_missing_is_refused_only_when_the_recipe_uses_it(monkeypatch):
    installed(monkeypatch, None)
    check_vllm(SimpleNamespace(use_vllm=False))
    with pytest.raises(UsageError, match="^use_vllm: true, but vLLM is not installed; install one"):
        check_vllm(SimpleNamespace(use_vllm=True))


def test_a_wrong_vllm_stops_train_grpo_before_any_model_loads(monkeypatch, tmp_path):
    installed(monkeypatch, "0.40.0")
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("thinkdial.train.grpo.prepare_policy_files", pytest.fail)
    config = parse_recipe(
        ThinkdialGRPOConfig, [*TINY_ARGS, "--output_dir", str(tmp_path), "--use_vllm", "true"]
    )
    with pytest.raises(UsageError, match="vLLM 0.40.0 is outside the versions TRL 1.16.0 supports"):
        train_grpo(config)


def gpu_without_bf16(monkeypatch) -> None:
    """Make torch see one CUDA GPU of compute capability 7.0 (bf16 only emulated)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100-SXM2-16GB")


@pytest.mark.parametrize(
    "config_cls, args", [(ThinkdialGRPOConfig, TINY_ARGS), (ThinkdialSFTConfig, SFT_ARGS)]
)
def test_bf16_on_a_gpu_without_it_is_refused_with_the_fix(monkeypatch, config_cls, args):
    monkeypatch.chdir(ROOT)
    gpu_without_bf16(monkeypatch)
    with pytest.raises(UsageError) as err:
        parse_recipe(config_cls, [*args, "--bf16", "true"])
    assert str(err.value) == (
        "bf16: true, but Tesla V100-SXM2-16GB (compute capability 7.0) has no bf16; set bf16: false (and "
        "mixed_precision: no in the accelerate config), or train on a GPU of compute capability 8.0 or newer "
        "(A100, H100)"
    )


def test_bf16_passes_on_a_gpu_with_it_and_when_not_asked_for(monkeypatch):
    gpu_without_bf16(monkeypatch)
    check_precision(SimpleNamespace(bf16=False, use_cpu=False))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    check_precision(SimpleNamespace(bf16=True, use_cpu=False))


def test_out_of_memory_at_the_first_step_names_the_recipe_knobs(monkeypatch, tmp_path):
    def out_of_memory(self, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.\nGPU 0 has 79 GiB")

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("trl.GRPOTrainer.train", out_of_memory)
    config = parse_recipe(ThinkdialGRPOConfig, [*TINY_ARGS, "--output_dir", str(tmp_path)])
    with pytest.raises(UsageError) as err:
        train_grpo(config)
    assert str(err.value) == (
        "out of GPU memory at step 1 (CUDA out of memory. Tried to allocate 2.00 GiB.); lower it with "
        "per_device_train_batch_size (8; raise gradient_accumulation_steps, now 1, to keep the batch), "
        "max_completion_length (12), activation_checkpointing: true (now off), a higher ZeRO stage (now none; "
        "accelerate launch --config_file configs/accelerate/zero2.yaml)"
    )


def test_memory_knobs_of_a_real_recipe_and_of_sft(monkeypatch):
    monkeypatch.chdir(ROOT)
    recipe = ["--config", "configs/r1-distill-qwen-1.5b/grpo_dial.yaml", "--bf16", "false"]
    assert memory_knobs(parse_recipe(ThinkdialGRPOConfig, recipe), zero_stage=2) == [
        "per_device_train_batch_size (8; raise gradient_accumulation_steps, now 8, to keep the batch)",
        "max_completion_length (4096)",
        "vllm_gpu_memory_utilization (0.3)",
        "a higher ZeRO stage (now 2; accelerate launch --config_file configs/accelerate/zero3.yaml)",
    ]
    sft = memory_knobs(parse_recipe(ThinkdialSFTConfig, SFT_ARGS), zero_stage=3)
    assert sft == [
        "per_device_train_batch_size (8; raise gradient_accumulation_steps, now 1, to keep the batch)",
        "max_length (96)",
        "activation_checkpointing: true (now off)",
    ]


def test_a_model_id_not_in_the_cache_offline_is_refused_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(UsageError) as err:
        check_model_reachable("thinkdial-tests/no-such-model")
    message = str(err.value)
    assert message.startswith(
        "model 'thinkdial-tests/no-such-model' is not a local folder and cannot be reached offline "
        "(HF_HUB_OFFLINE=1) ("
    )
    assert message.endswith(
        "download it first (`hf download thinkdial-tests/no-such-model` where there is network, into the same "
        "HF_HOME) or set model_name_or_path to a local folder"
    )


def test_no_network_and_weights_missing_offline_are_refused(monkeypatch):
    def unreachable(name, **kwargs):
        raise OSError(
            "We couldn't connect to 'https://huggingface.co' to load the files.\nCheck your connection"
        )

    monkeypatch.setattr("transformers.AutoConfig.from_pretrained", unreachable)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # CI exports HF_HUB_OFFLINE=1
    with pytest.raises(
        UsageError, match=r"cannot be reached on the Hugging Face Hub \(We couldn't connect to"
    ):
        check_model_reachable("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B")
    monkeypatch.setattr("transformers.AutoConfig.from_pretrained", lambda name, **kwargs: object())
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("huggingface_hub.try_to_load_from_cache", lambda repo, name: None)
    with pytest.raises(UsageError, match="its config is in the local cache but not its weights"):
        check_model_reachable("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B")
    check_model_reachable("tiny")  # the embedded model and local folders pass untouched
    check_model_reachable(str(ROOT))


def test_an_unreachable_model_stops_train_sft_before_any_model_loads(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("thinkdial.train.sft.prepare_policy_files", pytest.fail)
    from thinkdial.train.sft import train_sft

    args = [
        *SFT_ARGS,
        "--output_dir",
        str(tmp_path / "run"),
        "--model_name_or_path",
        "thinkdial-tests/absent",
    ]
    with pytest.raises(UsageError, match="^model 'thinkdial-tests/absent' is not a local folder"):
        train_sft(parse_recipe(ThinkdialSFTConfig, args))

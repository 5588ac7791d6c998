"""What a GPU user meets before or at the first step, each said in one line (UsageError) with its fix.

- `check_precision` (a recipe config's `__post_init__`, before transformers' own check, whose message tells
  a GPU user to train on the CPU): `bf16: true` on a CUDA GPU without bf16.
- `check_environment` (a training entry, before the model loads): `use_vllm: true` with vLLM missing or
  outside the versions TRL supports; a recipe's model id that is neither a local folder nor reachable (offline,
  or no network) and not in the local Hugging Face cache.
- `out_of_memory_explained` (around training): CUDA out of memory, with the recipe's knobs that lower memory
  and their values.
"""

from __future__ import annotations

from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from thinkdial.errors import UsageError
from thinkdial.train.recipe import EMBEDDED

VLLM_SUPPORTED = ("0.22.0", "0.31.0")  # TRL 1.16's vLLM range, both ends included (trl/import_utils.py)
WEIGHT_FILES = (  # a hub model's weights, one of these at the top of its repository
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def check_precision(config) -> None:
    """Raise a UsageError when `config` asks for bf16 on a CUDA GPU without native bf16 (torch would emulate
    it, slowly); return None."""
    if (
        config.bf16
        and not config.use_cpu
        and torch.cuda.is_available()
        and not torch.cuda.is_bf16_supported(including_emulation=False)
    ):
        major, minor = torch.cuda.get_device_capability()
        raise UsageError(
            f"bf16: true, but {torch.cuda.get_device_name()} (compute capability {major}.{minor}) has no bf16; "
            "set bf16: false (and mixed_precision: no in the accelerate config), or train on a GPU of compute "
            "capability 8.0 or newer (A100, H100)"
        )


def check_vllm(config) -> None:
    """Raise a UsageError when `config` generates with vLLM (use_vllm) and vLLM is missing or outside the
    versions TRL supports (VLLM_SUPPORTED); return None."""
    if not getattr(config, "use_vllm", False):
        return
    from packaging.version import Version

    low, high = VLLM_SUPPORTED
    fix = f"install one (pip install 'vllm>={low},<={high}') or set use_vllm: false (transformers generates)"
    try:
        found = version("vllm")
    except PackageNotFoundError:
        raise UsageError(f"use_vllm: true, but vLLM is not installed; {fix}") from None
    if not Version(low) <= Version(Version(found).base_version) <= Version(high):
        raise UsageError(
            f"use_vllm: true, but vLLM {found} is outside the versions TRL {version('trl')} supports "
            f"({low} to {high}); {fix}"
        )


def check_model_reachable(name_or_path: str, trust_remote_code: bool = False) -> None:
    """Raise a UsageError when `name_or_path` is a hub model id whose config cannot be had (offline, or no
    network, and not cached) or, offline, whose weights are not cached; return None. Local folders and the
    embedded model pass."""
    if name_or_path == EMBEDDED or Path(name_or_path).exists():
        return
    from huggingface_hub import is_offline_mode, try_to_load_from_cache
    from transformers import AutoConfig

    offline = is_offline_mode()
    where = "offline (HF_HUB_OFFLINE=1)" if offline else "on the Hugging Face Hub"
    fix = (
        f"download it first (`hf download {name_or_path}` where there is network, into the same HF_HOME) "
        "or set model_name_or_path to a local folder"
    )
    try:
        AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    except OSError as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(
            f"model {name_or_path!r} is not a local folder and cannot be reached {where} ({reason}); {fix}"
        ) from err
    if offline and not any(isinstance(try_to_load_from_cache(name_or_path, f), str) for f in WEIGHT_FILES):
        raise UsageError(
            f"model {name_or_path!r}: its config is in the local cache but not its weights, and the hub is "
            f"offline (HF_HUB_OFFLINE=1); {fix}"
        )


def check_environment(config) -> None:
    """Raise a UsageError for what the recipe `config` needs and this machine lacks (vLLM, the model's files)
    before any model loads; return None."""
    check_vllm(config)
    check_model_reachable(config.model_name_or_path, config.trust_remote_code)


def memory_knobs(args, zero_stage: int) -> list[str]:
    """Return the recipe settings that lower the training memory of `args` (a TRL config), each with its
    current value; `zero_stage` is DeepSpeed's ZeRO stage (0 without DeepSpeed)."""
    knobs = [
        f"per_device_train_batch_size ({args.per_device_train_batch_size}; raise gradient_accumulation_steps, "
        f"now {args.gradient_accumulation_steps}, to keep the batch)"
    ]
    length = "max_completion_length" if hasattr(args, "max_completion_length") else "max_length"
    if getattr(args, length, None):
        knobs.append(f"{length} ({getattr(args, length)})")
    if getattr(args, "use_vllm", False) and args.vllm_mode == "colocate":
        knobs.append(f"vllm_gpu_memory_utilization ({args.vllm_gpu_memory_utilization})")
    if not args.activation_checkpointing:
        knobs.append("activation_checkpointing: true (now off)")
    if zero_stage < 3:
        nxt = "configs/accelerate/zero2.yaml" if zero_stage < 2 else "configs/accelerate/zero3.yaml"
        knobs.append(
            f"a higher ZeRO stage (now {zero_stage or 'none'}; accelerate launch --config_file {nxt})"
        )
    return knobs


@contextmanager
def out_of_memory_explained(trainer):
    """Run the body; turn a CUDA out-of-memory error into a UsageError naming the step and the recipe knobs
    that lower memory (`memory_knobs`)."""
    try:
        yield
    except torch.OutOfMemoryError as err:
        plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
        knobs = memory_knobs(trainer.args, plugin.zero_stage if plugin is not None else 0)
        first = str(err).strip().splitlines()[0] if str(err).strip() else "out of memory"
        raise UsageError(
            f"out of GPU memory at step {trainer.state.global_step + 1} ({first}); lower it with "
            + ", ".join(knobs)
        ) from err

"""Shared pieces of the training recipes: parsing, the fields every recipe adds (model, limits, LoRA),
value checks, model + tokenizer loading, secrets and the saved run config."""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field, fields, make_dataclass
from pathlib import Path

from trl import ModelConfig, TrlParser, get_peft_config

from thinkdial.errors import UsageError
from thinkdial.io import read_yaml_mapping, write_atomic
from thinkdial.models import context_tokens_of, load_tokenizer

EMBEDDED = "tiny"  # model_name_or_path value meaning "build the embedded default model"
SECRET_FIELDS = ("hub_token", "token")  # config keys holding a credential (`token`: in model_init_kwargs)
SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "WANDB_API_KEY")  # environment variables holding one
REDACTED = "<redacted>"


class _RecipeParser(TrlParser):
    """TrlParser whose argument errors raise one UsageError line instead of printing usage and exiting."""

    def error(self, message):
        raise UsageError(message)


def _check_recipe_keys(config_cls, path: Path) -> None:
    """Raise a UsageError naming the keys of recipe `path` that `config_cls` does not have."""
    raw = read_yaml_mapping(path, "recipe")
    unknown = sorted(
        set(raw) - {f.name for f in fields(config_cls)} - {"env"}
    )  # `env`: TrlParser's env block
    if unknown:
        raise UsageError(f"recipe {path}: unknown key(s) {unknown}; `--help` lists the valid keys")


def parse_recipe(config_cls, argv: list[str]):
    """Return `config_cls` filled from `--config RECIPE.yaml` plus `--key value` overrides.

    Unknown keys, in the YAML or on the command line, raise a UsageError naming them, before the
    config's own checks run (so the message names the real mistake). TRL's and transformers' own
    checks of the values (ValueErrors of their `__post_init__`) are raised as one-line UsageErrors.
    """
    argv = list(argv)
    if "--config" in argv:
        path = Path(argv[argv.index("--config") + 1])
        if not path.is_file():
            raise UsageError(f"recipe not found: {path}")
        _check_recipe_keys(config_cls, path)
    try:
        (config,) = _RecipeParser(config_cls).parse_args_and_config(argv)
    except UsageError:
        raise
    except ValueError as err:
        raise UsageError(" ".join(str(err).split())) from err
    return config


# TRL ModelConfig's LoRA fields (names, types, defaults and help taken from TRL, read by its get_peft_config).
LORA_KEYS = (
    "use_peft",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_target_modules",
    "lora_target_parameters",
    "lora_modules_to_save",
    "use_rslora",
    "use_dora",
)
LoraFields = make_dataclass(
    "LoraFields",
    [
        (f.name, f.type, field(default=f.default, default_factory=f.default_factory, metadata=f.metadata))
        for f in fields(ModelConfig)
        if f.name in LORA_KEYS
    ],
)


@dataclass
class ActivationCheckpointing:
    """TRL's default, activation checkpointing on, under transformers 5's name. TRL 1.16 sets the deprecated
    `gradient_checkpointing` to True by default, so transformers warned (FutureWarning) on every run whose recipe
    left both keys out. Mixed in before TRL's config class, so these fields and `__post_init__` come first."""

    activation_checkpointing: bool | None = field(
        default=None,
        metadata={
            "help": "Recompute activations in the backward pass instead of keeping them: less memory, more time. "
            "Unset: on (TRL's default), unless the deprecated gradient_checkpointing says otherwise. Off pays on "
            "CPU and for small models."
        },
    )
    gradient_checkpointing: bool | None = field(
        default=None,
        metadata={"help": "Deprecated alias of activation_checkpointing (transformers 5 warns): use that."},
    )

    def __post_init__(self):
        if self.activation_checkpointing is None and self.gradient_checkpointing is None:
            self.activation_checkpointing = True
        super().__post_init__()


@dataclass
class RecipeFields(LoraFields):
    """The fields every thinkdial training recipe adds to its TRL config (mixed into SFT and GRPO configs)."""

    model_name_or_path: str = field(
        default=EMBEDDED,
        metadata={
            "help": f"HF model id or local path (e.g. an SFT output dir); '{EMBEDDED}' builds the embedded tiny "
            "default under output_dir/init."
        },
    )
    train_limit: int | None = field(default=None, metadata={"help": "Use at most this many train rows."})
    max_prompt_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Longest prompt, in tokens of the model's tokenizer; longer prompts are refused before the model "
            "loads. The model's context always caps it, less max_completion_length (GRPO) or one completion "
            "token within max_length (SFT); None: that cap alone."
        },
    )
    cpu_threads: int = field(
        default=0,
        metadata={
            "help": "torch intra-op threads when training on CPU (0: torch's default, one per core). One thread "
            "keeps its speed when another process competes for the cores (bench/cpu_threads.py)."
        },
    )
    resume: bool = field(
        default=False,
        metadata={
            "help": "Continue from the latest complete checkpoint in output_dir (step, optimizer and RNG state); "
            "half-written checkpoints are removed."
        },
    )

    def prompt_limit(
        self, sequence_tokens: int | None, sequence_name: str, reserved_tokens: int, reserved_for: str
    ) -> tuple[int | None, str]:
        """Return (longest prompt allowed, in tokens, or None for no limit; why): max_prompt_tokens, or what
        `sequence_tokens` (the longest sequence, called `sequence_name`) leaves after `reserved_tokens` for
        `reserved_for`, whichever is smaller."""
        room = None if sequence_tokens is None else sequence_tokens - reserved_tokens
        if room is not None and room < 1:
            raise UsageError(
                f"{reserved_for} ({reserved_tokens} tokens) leaves no room for a prompt in "
                f"{sequence_name} of {sequence_tokens} tokens"
            )
        if self.max_prompt_tokens is not None and (room is None or self.max_prompt_tokens <= room):
            return self.max_prompt_tokens, "max_prompt_tokens"
        if room is None:
            return None, "the model's config states no context length"
        return room, f"{sequence_name} of {sequence_tokens} tokens less {reserved_tokens} for {reserved_for}"


# The lowest value each field accepts (None: unset, allowed; a field the stage's config lacks is skipped).
# max_steps is checked apart.
_AT_LEAST = {
    "per_device_train_batch_size": 1,
    "gradient_accumulation_steps": 1,
    "train_limit": 1,
    "max_prompt_tokens": 1,
    "cpu_threads": 0,
    "warmup_steps": 0,
    "weight_decay": 0,
    "max_grad_norm": 0,
    "lora_r": 1,
    "lora_alpha": 1,
    "lora_dropout": 0,
    "save_total_limit": 1,
    "beta": 0,  # GRPO's KL anchor: a negative weight would push the policy away from its start
}
_ABOVE_ZERO = ("learning_rate", "num_train_epochs", "logging_steps", "temperature", "top_p")
_AT_MOST = {"top_p": 1}


def multi_process_cpu() -> bool:
    """Return True under a multi-process launch on a machine without an accelerator.

    accelerate's multi-process launcher there (configs/accelerate/cpu2.yaml) does not tell the Trainer
    to use the CPU, and the Trainer then runs each process alone (world size 1): set `use_cpu` then.
    """
    import torch

    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.accelerator.is_available()


def check_recipe_values(config, at_least: dict[str, int] | None = None) -> None:
    """Raise a UsageError naming the first field of `config` out of its range (any float that is NaN or
    infinite, the shared ranges, the stage's `at_least`): values TRL would silently reinterpret (max_steps
    -3 trains by epochs, beta -1 trains away from the start) or only refuse once the model is loaded.
    Returns None."""
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{f.name} must be a finite number, got {value}")
    for name, low in {**_AT_LEAST, **(at_least or {})}.items():
        value = getattr(config, name, None)
        if value is not None and not isinstance(value, bool) and value < low:
            raise UsageError(f"{name} must be >= {low}, got {value}")
    for name in _ABOVE_ZERO:
        if hasattr(config, name) and not getattr(config, name) > 0:
            raise UsageError(f"{name} must be > 0, got {getattr(config, name)}")
    for name, high in _AT_MOST.items():
        if getattr(config, name, high) > high:
            raise UsageError(f"{name} must be <= {high}, got {getattr(config, name)}")
    if config.max_steps == 0 or config.max_steps < -1:
        raise UsageError(
            f"max_steps must be >= 1 (or -1: train num_train_epochs epochs), got {config.max_steps}"
        )
    if config.resume and config.resume_from_checkpoint:
        raise UsageError(
            "give either resume (latest complete checkpoint of output_dir) or resume_from_checkpoint "
            "(one checkpoint folder), not both"
        )


def peft_config(config):
    """Return the `peft.LoraConfig` TRL's `get_peft_config` builds from the recipe's LoRA fields (None
    without use_peft)."""
    return get_peft_config(ModelConfig(**{key: getattr(config, key) for key in LORA_KEYS}))


def prepare_policy_files(config):
    """Return (model path, tokenizer) for a recipe config without loading the model: builds the embedded
    model once (main process first) and loads the tokenizer (`trust_remote_code` honoured)."""
    with config.main_process_first(desc="building the model files"):  # one writer for the embedded tiny model
        model_path = resolve_model_path(config.model_name_or_path, config.output_dir, config.seed)
    return model_path, load_tokenizer(model_path, config.trust_remote_code)


def load_model(config, model_path: str):
    """Return the causal LM at `model_path` with the recipe's `model_init_kwargs` and `trust_remote_code`."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        model_path, trust_remote_code=config.trust_remote_code, **(config.model_init_kwargs or {})
    )


def context_tokens(config, model_path: str) -> int | None:
    """Return the model's context length in tokens (capped by vllm_max_model_length when vLLM generates),
    or None when its config does not say."""
    from transformers import AutoConfig

    model_config = AutoConfig.from_pretrained(model_path, trust_remote_code=config.trust_remote_code)
    sizes = [context_tokens_of(model_config)]
    if getattr(config, "use_vllm", False) and getattr(config, "vllm_max_model_length", None):
        sizes.append(config.vllm_max_model_length)
    known = [size for size in sizes if size is not None]
    return min(known) if known else None


def resolve_model_path(name_or_path: str, output_dir: str, seed: int) -> str:
    """Return a loadable model path: builds the embedded tiny model under output_dir when asked for `tiny`."""
    if name_or_path != EMBEDDED:
        local = Path(name_or_path)
        if (local.is_absolute() or name_or_path.startswith(".")) and not local.exists():
            raise UsageError(f"model path not found: {name_or_path}")
        return name_or_path
    from thinkdial.tiny import TinyModelConfig, build_tiny

    return str(build_tiny(Path(output_dir).resolve() / "init", TinyModelConfig(seed=seed)))


def hide_secrets(config) -> None:
    """Take every token out of `config` and the command line before anything records them; return None.

    `hub_token` and `model_init_kwargs['token']` move to the environment's HF_TOKEN, where the hub
    client reads them (model, tokenizer and reference-model loads, pushes), so no saved file
    (run config, `training_args.bin`, wandb's run files) can hold them; `sys.argv`, which trackers
    record, gets every credential of the environment (`SECRET_ENV`, HF_TOKEN included) replaced by
    '<redacted>'.
    """
    kwargs = dict(config.model_init_kwargs or {})
    tokens = {t for t in (config.hub_token, kwargs.pop("token", None)) if t}
    if len(tokens) > 1:
        raise UsageError(
            "hub_token and model_init_kwargs.token differ; give one token (thinkdial hands it to the "
            "hub client as HF_TOKEN)"
        )
    if tokens:
        os.environ["HF_TOKEN"] = next(iter(tokens))
    config.hub_token, config.model_init_kwargs = None, kwargs or None
    sys.argv = scrub_secrets(sys.argv)


def scrub_secrets(obj):
    """Return `obj` (nested dicts, lists and strings) with the value of every credential field
    (`SECRET_FIELDS`) replaced by '<redacted>', and every credential of the environment (`SECRET_ENV`)
    replaced by '<redacted>' wherever a string holds it. Other values stay, whatever their key is called
    (`max_prompt_tokens` is a length, not a secret)."""
    secrets = sorted({os.environ.get(name) for name in SECRET_ENV} - {None, ""}, key=len, reverse=True)

    def scrub(value):
        if isinstance(value, dict):
            return {
                k: REDACTED if k in SECRET_FIELDS and value[k] not in (None, "") else scrub(v)
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [scrub(v) for v in value]
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, REDACTED)
        return value

    return scrub(obj)


def save_run_config(config, output_dir: str, name: str) -> Path:
    """Write the resolved config (secrets redacted) to output_dir/NAME.json; return the path."""
    raw = {k: v for k, v in asdict(config).items() if not k.startswith("_")}
    return write_atomic(
        Path(output_dir) / f"{name}.json", json.dumps(scrub_secrets(raw), indent=2, default=str)
    )


def recipe_help(config_cls, stage: str) -> str:
    """Return `thinkdial STAGE --help`: `--config` and thinkdial's own fields first, then TRL's."""
    parser = _RecipeParser(config_cls)
    own = (
        {f.name for f in fields(RecipeFields)} - set(LORA_KEYS) | set(config_cls.__annotations__) | {"config"}
    )
    actions = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    first = [a for a in actions if a.dest in own]
    rest = [a for a in actions if a.dest not in own]
    formatter = parser._get_formatter()
    formatter.add_usage(f"thinkdial {stage} --config RECIPE.yaml [--key value ...]", [], [])
    formatter.add_text(
        "--config RECIPE.yaml sets the fields below from a YAML file; `--key value` on the command "
        "line overrides them. Unknown keys, in the file or on the command line, are refused."
    )
    for title, group in (
        (f"thinkdial {stage} fields", first),
        (f"TRL fields ({config_cls.__mro__[1].__name__}, ModelConfig's LoRA)", rest),
    ):
        formatter.start_section(title)
        formatter.add_arguments(group)
        formatter.end_section()
    return formatter.format_help()

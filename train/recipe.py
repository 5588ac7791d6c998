"""Shared pieces of the training entries: recipe parsing, model + tokenizer loading, run config saving."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from thinkdial.data.config import read_yaml_mapping
from trl import TrlParser

from thinkdial.errors import UsageError
from thinkdial.models import load_tokenizer

EMBEDDED = "tiny"  # model_name_or_path value meaning "build the embedded default model"
_SECRET = re.compile(r"(token|key|secret|password)", re.IGNORECASE)


class _RecipeParser(TrlParser):
    """TrlParser whose argument errors raise one UsageError line instead of printing usage and exiting."""

    def error(self, message):
        raise UsageError(message)


def _check_recipe_keys(config_cls, path: Path) -> None:
    """Raise a UsageError naming the keys of recipe `path` that `config_cls` does not have."""
    raw = read_yaml_mapping(path, "recipe")
    unknown = sorted(set(raw) - {f.name for f in fields(config_cls)} - {"env"})  # `env`: TrlParser's env block
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
    except ValueError as err:  # TRL's and transformers' own checks of the values, in their __post_init__
        raise UsageError(" ".join(str(err).split())) from err
    return config


@dataclass
class RecipeFields:
    """The fields every thinkdial training recipe adds to its TRL config (mixed into SFT and GRPO configs)."""

    model_name_or_path: str = field(default=EMBEDDED, metadata={
        "help": f"HF model id or local path (e.g. an SFT output dir); '{EMBEDDED}' builds the embedded tiny "
                "default under output_dir/init."})
    train_limit: int | None = field(default=None, metadata={"help": "Use at most this many train rows."})
    cpu_threads: int = field(default=0, metadata={
        "help": "torch intra-op threads when training on CPU (0: torch's default). One thread is fastest for "
                "the tiny default's GRPO: two threads on two cores stall whenever anything else runs."})


def load_policy(config):
    """Return (model, tokenizer) for a recipe config: builds the embedded model once (main process first),
    honours `model_init_kwargs` and `trust_remote_code`."""
    from transformers import AutoModelForCausalLM

    with config.main_process_first(desc="building the model files"):  # one writer for the embedded tiny model
        model_path = resolve_model_path(config.model_name_or_path, config.output_dir, config.seed)
    tokenizer = load_tokenizer(model_path, config.trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(model_path, trust_remote_code=config.trust_remote_code,
                                                 **(config.model_init_kwargs or {}))
    return model, tokenizer


def resolve_model_path(name_or_path: str, output_dir: str, seed: int) -> str:
    """Return a loadable model path: builds the embedded tiny model under output_dir when asked for `tiny`."""
    if name_or_path != EMBEDDED:
        local = Path(name_or_path)
        if (local.is_absolute() or name_or_path.startswith(".")) and not local.exists():
            raise UsageError(f"model path not found: {name_or_path}")
        return name_or_path
    from thinkdial.tiny import TinyModelConfig, build_tiny

    return str(build_tiny(Path(output_dir).resolve() / "init", TinyModelConfig(seed=seed)))


def scrub_secrets(obj):
    """Return `obj` with the values of token/key/secret/password-like keys replaced by '<redacted>'."""
    if isinstance(obj, dict):
        return {k: ("<redacted>" if _SECRET.search(str(k)) and v not in (None, "", False) and not isinstance(v, bool)
                    else scrub_secrets(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub_secrets(v) for v in obj]
    return obj


def save_run_config(config, output_dir: str, name: str) -> Path:
    """Write the resolved config (secrets redacted) to output_dir/NAME.json; return the path."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    raw = {k: v for k, v in asdict(config).items() if not k.startswith("_")}
    path = out / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(scrub_secrets(raw), indent=2, default=str))
    os.replace(tmp, path)
    return path


def recipe_help(config_cls, stage: str) -> str:
    """Return `thinkdial STAGE --help`: `--config` and thinkdial's own fields first, then TRL's."""
    parser = _RecipeParser(config_cls)
    own = {f.name for f in fields(RecipeFields)} | set(config_cls.__annotations__) | {"config"}
    actions = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    first = [a for a in actions if a.dest in own]
    rest = [a for a in actions if a.dest not in own]
    formatter = parser._get_formatter()
    formatter.add_usage(f"thinkdial {stage} --config RECIPE.yaml [--key value ...]", [], [])
    formatter.add_text("--config RECIPE.yaml sets the fields below from a YAML file; `--key value` on the command "
                       "line overrides them. Unknown keys, in the file or on the command line, are refused.")
    for title, group in ((f"thinkdial {stage} fields", first), (f"{config_cls.__mro__[1].__name__} fields (TRL)", rest)):
        formatter.start_section(title)
        formatter.add_arguments(group)
        formatter.end_section()
    return formatter.format_help()

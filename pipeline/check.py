"""`thinkdial check`: run recipes for a few steps on random-weight models of their own architecture.

    thinkdial check RECIPE [RECIPE ...] [--all] [--shape tiny|real] [--steps N] [--out DIR]
                    [--accelerate-config FILE|none]

Each recipe's `model_name_or_path` is swapped for a randomly initialised model of the same architecture,
built locally: the config values of the models the shipped recipes name are written below (ARCHITECTURES);
a local folder's `config.json` is read; a path that is another recipe's `output_dir` (an SFT start) takes
that recipe's model. Nothing is downloaded (HF_HUB_OFFLINE is set). The tokenizer is the embedded
character-level one, with a newline token and the model's template behaviour: R1-Distill's generation
prompt opens the think block (`<think>\\n`), so the stand-in's does too. Data comes from the committed
fixtures (THINKDIAL_DATA_DIR=tests/fixtures).

Everything else is the recipe's own, run through the same parser and entry a user's run takes: its reward
config, LoRA, budget-constrained rollouts, loss, temperature, logging and saving, its accelerate config
where the machine allows it. The check shrinks what a few steps cannot hold (the batch, the train rows,
the lengths) and turns on what GRPO recipes must survive: checkpoint selection (validating at the start and
at the last step), the health guard (its baseline the first logged step) and the scaling-eval callback (the
recipe's eval config, or one on its data's test split, at the last step). Thinking budgets (the data's dial,
the eval's budgets) are scaled with the completion cap, so budget-constrained rollouts cut and answer.

`--shape tiny` shrinks the widths and layers too (CPU, CI: `make check-recipes`); `--shape real` keeps the
architecture's widths, vocabulary and context, completions capped so that a step takes seconds on a GPU.
On a machine without a GPU bf16 is off and vLLM too; without vLLM installed the check says so in one line
and the recipes generate with TRL's transformers path.

A recipe that names an accelerate config (`ACCEL=configs/accelerate/X.yaml` in its comments, as in its
`make train` line) is launched through it with `accelerate launch` (pipeline/run.py's `run_command`): on
CPU with 2 processes (gloo) and `--mixed_precision no`, on GPUs with as many processes as the config and the
machine allow (`--accelerate-config` names one config for every recipe, or `none`). Every other recipe runs
in this process, one after the other (a fresh process per recipe would pay the imports each time).

Writes OUT/results.json (one row per recipe: ok, the error line, seconds per step, peak memory, the features
that ran) and each recipe's log and run folder under OUT/<recipe>/. A run that warns of a deprecated setting
its recipe gives (a FutureWarning or DeprecationWarning quoting one of its keys) fails the row.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import json
import math
import os
import re
import shutil
import statistics
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from thinkdial.errors import UsageError
from thinkdial.io import read_yaml_mapping, write_atomic
from thinkdial.models import THINK_OPEN

FIXTURES = Path("tests/fixtures")  # THINKDIAL_DATA_DIR of the checks: the committed GSM8K / MATH-500 slices
RECIPE_GLOB = "configs/**/*.yaml"
ACCEL_COMMENT = re.compile(r"ACCEL=(\S+\.yaml)")  # the accelerate config a recipe's `make train` line names
CPU_PROCESSES = 2  # processes of a launched run on CPU (gloo), as tests/test_train_distributed.py runs them
TRAIN_ROWS = 64

# Qwen2-1.5B shape (Qwen2.5-Math-1.5B and DeepSeek-R1-Distill-Qwen-1.5B share it), from the models' config.json.
QWEN2_1_5B = {
    "model_type": "qwen2",
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "vocab_size": 151936,  # tokens
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
}


@dataclass(frozen=True)
class Architecture:
    """A model's config values (transformers config keys, `model_type` among them) and whether its chat
    template's generation prompt opens the think block; `config` None stands for the embedded tiny model."""

    config: dict | None
    opens_think: bool = False


ARCHITECTURES = {
    "Qwen/Qwen2.5-1.5B": Architecture(  # bench/gpu_smoke.py's eval and GRPO comparison
        {**QWEN2_1_5B, "rope_theta": 1000000.0, "max_position_embeddings": 32768, "tie_word_embeddings": True}
    ),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": Architecture(
        {**QWEN2_1_5B, "max_position_embeddings": 131072, "tie_word_embeddings": False}, opens_think=True
    ),
    "Qwen/Qwen2.5-Math-1.5B": Architecture(
        {**QWEN2_1_5B, "max_position_embeddings": 4096, "tie_word_embeddings": True}
    ),
}
EMBEDDED = Architecture(None)
# --shape tiny: widths and layers of the stand-in (the vocabulary becomes the tokenizer's).
TINY_WIDTHS = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
}


@dataclass(frozen=True)
class Shape:
    """What a check run shrinks, per --shape (lengths in tokens)."""

    completion_tokens: int  # max_completion_length and the eval's max_reasoning_tokens
    batch: int  # per_device_train_batch_size
    generations: int  # num_generations
    accumulation: int  # gradient_accumulation_steps at most
    eval_rows: int
    validation_rows_per_level: int
    launch_timeout_s: int  # a launched run still going after this is stopped and fails its row


SHAPES = {
    "tiny": Shape(32, 4, 4, 2, 8, 2, 600),
    "real": Shape(128, 8, 8, 2, 32, 2, 1800),
}


@dataclass
class Machine:
    """What the check can use here."""

    gpus: int
    vllm: bool  # vLLM importable and a GPU to run it

    @property
    def device(self) -> str:
        """Return 'cuda' or 'cpu'."""
        return "cuda" if self.gpus else "cpu"


@dataclass
class Row:
    """One recipe's result (a row of results.json)."""

    recipe: str
    stage: str | None = None
    ok: bool = False
    error: str | None = None
    seconds_per_step: float | None = None
    train_runtime_s: float | None = None
    wall_s: float | None = None
    peak_memory_bytes: int | None = None
    peak_memory: str | None = None  # what was measured: "CUDA" (allocator peak) or "max RSS"
    features: dict = field(default_factory=dict)
    log: str | None = None


def recipe_files(root: Path = Path(".")) -> list[Path]:
    """Return every training recipe under configs/ (a YAML mapping with `model_name_or_path`), sorted."""
    found = []
    for path in sorted(root.glob(RECIPE_GLOB)):
        with contextlib.suppress(UsageError):
            if "model_name_or_path" in read_yaml_mapping(path, "recipe"):
                found.append(path)
    return found


def recipe_stage(raw: dict) -> str:
    """Return 'sft' when the recipe sets a key only TRL's SFTConfig has, else 'grpo'."""
    from dataclasses import fields

    from thinkdial.train.grpo import ThinkdialGRPOConfig
    from thinkdial.train.sft import ThinkdialSFTConfig

    sft_only = {f.name for f in fields(ThinkdialSFTConfig)} - {f.name for f in fields(ThinkdialGRPOConfig)}
    return "sft" if sft_only & set(raw) else "grpo"


def recipe_name(path: Path) -> str:
    """Return the recipe's folder name under OUT: its path below configs/ without `.yaml` (a recipe outside the
    working folder: its folder's name and its own)."""
    resolved = path.resolve().with_suffix("")
    if not resolved.is_relative_to(Path.cwd()):
        return f"{resolved.parent.name}/{resolved.name}"
    parts = resolved.relative_to(Path.cwd()).parts
    return "/".join(parts[1:] if parts[0] == "configs" else parts)


def architecture(name_or_path: str, recipes: list[Path], seen: tuple[str, ...] = ()) -> Architecture:
    """Return the architecture of the model a recipe names: a known hub id, the embedded default, the model of
    the recipe whose output_dir it is, or a local folder's config.json; else a UsageError."""
    from thinkdial.train.recipe import EMBEDDED as EMBEDDED_NAME

    if name_or_path == EMBEDDED_NAME:
        return EMBEDDED
    if name_or_path in ARCHITECTURES:
        return ARCHITECTURES[name_or_path]
    folder = Path(name_or_path)
    # a recipe's output before the folder itself: the same stand-in whether that run was made here or not
    for recipe in recipes:
        raw = read_yaml_mapping(recipe, "recipe")
        if raw.get("output_dir") and Path(raw["output_dir"]) == folder and str(recipe) not in seen:
            return architecture(str(raw["model_name_or_path"]), recipes, (*seen, str(recipe)))
    if (folder / "config.json").is_file():
        return local_architecture(folder)
    raise UsageError(
        f"no architecture known for {name_or_path}: add its config values to ARCHITECTURES in "
        "pipeline/check.py, or point the recipe at a local folder holding its config.json"
    )


def local_architecture(folder: Path) -> Architecture:
    """Return the architecture in `folder`'s config.json; its generation prompt opens the think block when the
    folder's own tokenizer (if any) renders one at the end."""
    config = json.loads((folder / "config.json").read_text())
    opens = False
    if (folder / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        if tokenizer.chat_template:
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": "1+1?"}], tokenize=False, add_generation_prompt=True
            )
            opens = text.rstrip().endswith(THINK_OPEN)
    return Architecture(config, opens)


def stand_in_tokenizer(opens_think: bool, context_tokens: int):
    """Return the embedded character-level tokenizer with a newline token (chat templates and the data's
    prompts hold newlines) whose chat template renders the messages' contents and, like the model's, opens
    the think block in the generation prompt (`<think>\\n`, R1-Distill's) when `opens_think`."""
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    from thinkdial.tiny import BOS, EOS, PAD, UNK, build_core_tokenizer

    core = build_core_tokenizer()
    core.add_tokens([AddedToken("\n", special=False, normalized=False)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        padding_side="left",
        model_max_length=context_tokens,
    )
    opening = "{% if add_generation_prompt %}" + THINK_OPEN + "\n{% endif %}" if opens_think else ""
    tokenizer.chat_template = "{% for message in messages %}{{ message['content'] }}{% endfor %}" + opening
    return tokenizer


def build_stand_in(arch: Architecture, shape: str, folder: Path, seed: int, machine: Machine) -> Path:
    """Write a randomly initialised model of `arch` (widths shrunk at --shape tiny) and its stand-in
    tokenizer to `folder` (once: later recipes reuse it); return the folder. bf16 at --shape real on a GPU."""
    if (folder / "config.json").is_file():
        return folder
    if arch.config is None:
        from thinkdial.tiny import TinyModelConfig, build_tiny

        return build_tiny(folder, TinyModelConfig(seed=seed))
    import torch
    from transformers import AutoModelForCausalLM

    config, tokenizer = stand_in_config(arch, shape)
    dtype = torch.bfloat16 if shape == "real" and machine.gpus else torch.float32
    torch.manual_seed(seed)
    with torch.device(machine.device if shape == "real" else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    for name in ("bos", "eos", "pad"):
        setattr(model.generation_config, f"{name}_token_id", getattr(tokenizer, f"{name}_token_id"))
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def stand_in_config(arch: Architecture, shape: str):
    """Return (transformers config, stand-in tokenizer) of a model of `arch` at `shape`: its own values, or at
    --shape tiny TINY_WIDTHS and the tokenizer's vocabulary; special token ids from the tokenizer."""
    from transformers import AutoConfig

    values = {k: v for k, v in arch.config.items() if not k.startswith("_") and k != "architectures"}
    tokenizer = stand_in_tokenizer(arch.opens_think, values.get("max_position_embeddings", 4096))
    if shape == "tiny":
        values.update({k: v for k, v in TINY_WIDTHS.items() if k != "head_dim" or k in values})
        values["vocab_size"] = len(tokenizer)
    ids = {f"{name}_token_id": getattr(tokenizer, f"{name}_token_id") for name in ("bos", "eos", "pad")}
    return AutoConfig.for_model(**{**values, **ids}), tokenizer


def accelerate_config(recipe: Path) -> str | None:
    """Return the accelerate config a recipe's comments name (`ACCEL=...` in its `make train` line), or None."""
    found = ACCEL_COMMENT.search(recipe.read_text())
    return found.group(1) if found else None


def launch_args(accel: dict, bf16: bool, machine: Machine) -> list[str] | None:
    """Return the `accelerate launch` arguments that run config `accel` here (2 processes on CPU, on GPUs as many
    as the config and the machine have), or None for a config of several machines."""
    if int(accel.get("num_machines", 1)) > 1:
        return None
    processes = CPU_PROCESSES if not machine.gpus else min(int(accel.get("num_processes", 1)), machine.gpus)
    precision = "bf16" if bf16 and machine.gpus else "no"
    return ["--num_processes", str(processes), "--mixed_precision", precision]


def scaled_budgets(values, factor: float):
    """Return thinking budgets (an int, a list of them, or a {tier: int} mapping; other values, such as
    'unlimited', and 0, as they are) multiplied by `factor`, each at least 1 token."""
    if isinstance(values, bool) or values is None:
        return values
    if isinstance(values, int) and values > 0:  # 0 (no thinking) stays
        return max(1, math.floor(values * factor))  # down: budgets that add up to a cap stay within it
    if isinstance(values, list):
        scaled = [scaled_budgets(v, factor) for v in values]
        return list(dict.fromkeys(scaled))  # scaling can merge neighbours
    if isinstance(values, dict):
        return {k: scaled_budgets(v, factor) for k, v in values.items()}
    return values


def shrunk_data_config(path: str, completion_tokens: int, recipe_tokens: int, folder: Path) -> str:
    """Return a data config for the check: `path` itself, or, when its dial draws budgets above the check's
    completion cap, a copy in `folder` with every budget scaled by completion_tokens / recipe_tokens."""
    from thinkdial.data.config import load_data_config

    raw = read_yaml_mapping(path, "data config")
    dial = raw.get("dial") or {}
    budgets = [
        dial.get("budget_tokens_max"),
        *(dial.get("effort_budgets") or {}).values(),
        *(dial.get("budget_tokens_choices") or []),
    ]
    if not any(isinstance(b, int) and b > completion_tokens for b in budgets):
        return path
    factor = completion_tokens / max(recipe_tokens, completion_tokens)
    for key in ("budget_tokens_min", "budget_tokens_max", "budget_tokens_choices", "effort_budgets"):
        if key in dial:
            dial[key] = scaled_budgets(dial[key], factor)
    raw["path"] = load_data_config(path).path  # resolved here: the copy lives elsewhere
    out = folder / "data.yaml"
    write_atomic(out, json.dumps(raw, indent=2) + "\n")
    return str(out)


def check_eval_config(recipe_eval: str | None, data_config: str, shape: Shape, folder: Path) -> str:
    """Return an eval config for the in-training eval callback, written to `folder`: the recipe's own (its
    rows, lengths and budgets shrunk to the check's), or greedy budgets 0 and unlimited on its data's test
    split."""
    if recipe_eval:
        from thinkdial.eval.config import EvalConfig

        default = EvalConfig.__dataclass_fields__
        raw = read_yaml_mapping(recipe_eval, "eval config")
        data = Path(raw.get("data_config", default["data_config"].default))
        beside = Path(recipe_eval).parent / data  # eval/config.py resolves it so too
        raw["data_config"] = str((beside if beside.is_file() else data).resolve())
        recipe_tokens = int(raw.get("max_reasoning_tokens", default["max_reasoning_tokens"].default))
        factor = shape.completion_tokens / max(recipe_tokens, shape.completion_tokens)
        for key in ("budgets", "requested_budgets", "effort_budgets"):
            if key in raw:
                raw[key] = scaled_budgets(raw[key], factor)
    else:
        raw = {"data_config": str(Path(data_config).resolve()), "split": "test", "budgets": [0, "unlimited"]}
    raw.update(
        limit=shape.eval_rows,
        batch_size=shape.eval_rows,
        max_reasoning_tokens=shape.completion_tokens,
        progress=False,
        jobs=1,
    )
    out = folder / "eval.yaml"
    write_atomic(out, json.dumps(raw, indent=2) + "\n")
    return str(out)


def overrides(
    raw: dict, stage: str, model: Path, folder: Path, shape: Shape, steps: int, machine: Machine
) -> list[str]:
    """Return the `--key value` arguments that make recipe `raw` a check run (module docstring)."""
    recipe = {**stage_defaults(stage), **raw}
    args = {
        "model_name_or_path": str(model),
        "output_dir": str(folder / "run"),
        "max_steps": steps,
        "train_limit": TRAIN_ROWS,
        "per_device_train_batch_size": shape.batch,
        "gradient_accumulation_steps": min(int(recipe["gradient_accumulation_steps"]), shape.accumulation),
        "logging_steps": 1,
        "disable_tqdm": True,
    }
    if recipe["save_strategy"] == "steps":
        args["save_steps"] = steps
    if not machine.gpus:
        args["bf16"] = False
        kwargs = dict(recipe["model_init_kwargs"] or {})
        if kwargs.get("dtype") in ("bfloat16", "float16"):
            args["model_init_kwargs"] = json.dumps({**kwargs, "dtype": "float32"})
    if "steps_per_generation" in raw:  # one generation per optimizer step, as TRL's default
        args["steps_per_generation"] = args["gradient_accumulation_steps"]
    if stage == "grpo":
        recipe_tokens, data_config = int(recipe["max_completion_length"]), recipe["data_config"]
        factor = min(1.0, shape.completion_tokens / recipe_tokens)
        for key, value in raw.items():  # a method's own lengths (thinking and solution budgets) shrink alike
            if key.endswith("_tokens") and key != "max_prompt_tokens" and isinstance(value, int):
                args[key] = scaled_budgets(value, factor)
        args.update(
            num_generations=shape.generations,
            max_completion_length=min(recipe_tokens, shape.completion_tokens),
            data_config=shrunk_data_config(data_config, shape.completion_tokens, recipe_tokens, folder),
            select_checkpoint=True,
            validation_rows_per_level=shape.validation_rows_per_level,
            validate_every_steps=steps,
            health_guard=True,
            guard_baseline_steps=1,
            eval_config=check_eval_config(recipe["eval_config"], data_config, shape, folder),
            eval_every_steps=steps,
        )
        if recipe["use_vllm"] and not machine.vllm:
            args["use_vllm"] = False
    else:  # SFT's convergence stop validates on held-out rows as selection does
        held_out = {
            "validation_rows_per_level": shape.validation_rows_per_level,
            "validate_every_steps": steps,
        }
        args.update({key: value for key, value in held_out.items() if key in raw})
    return [item for key, value in args.items() for item in (f"--{key}", _cli_value(value))]


def stage_defaults(stage: str) -> dict:
    """Return the defaults of the stage's recipe fields (thinkdial's and TRL's), for the keys a recipe leaves out."""
    from dataclasses import fields

    from thinkdial.train.commands import RECIPE_STAGES

    _, module, config_name, _ = RECIPE_STAGES[stage]
    return {f.name: f.default for f in fields(getattr(importlib.import_module(module), config_name))}


def _cli_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def deprecated_keys(log_text: str, keys: list[str]) -> list[str]:
    """Return the log's deprecation warnings (lines naming a deprecation) that quote one of the recipe's
    `keys` (`key`, 'key' or "key"), one line each, first occurrence only."""
    found = []
    for line in log_text.splitlines():
        if "deprecat" not in line.lower():
            continue
        if any(re.search(rf"[`'\"]{re.escape(key)}[`'\"]", line) for key in keys):
            warning = re.search(r"\w+Warning: .*", line)  # from the category on, without the file and line
            message = warning.group(0) if warning else line.strip()
            if message not in found:
                found.append(message)
    return found


def log_dicts(log_text: str) -> list[dict]:
    """Return the Trainer's log dicts printed in a run's log (`{'loss': ..., ...}` lines), values as floats
    where they are numbers."""
    dicts = []
    for line in log_text.splitlines():
        line = line.strip()
        if not (line.startswith("{'") and line.endswith("}")):
            continue
        with contextlib.suppress(ValueError, SyntaxError):
            entry = ast.literal_eval(line)
            dicts.append({k: _number(v) for k, v in entry.items()})
    return dicts


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


PEAK = re.compile(r"peak memory: (\d+) bytes \(([^)]+)\)")


def timings(log_text: str, steps: int) -> tuple[float | None, float | None]:
    """Return (seconds per optimizer step, seconds of the whole train() call) from a run's log: TRL's
    `step_time` (median over the steps after the first) where it logs one, else train_runtime / steps."""
    dicts = log_dicts(log_text)
    runtime = next((d["train_runtime"] for d in dicts if isinstance(d.get("train_runtime"), float)), None)
    step_times = [d["step_time"] for d in dicts if isinstance(d.get("step_time"), float)]
    if len(step_times) > 1:
        return round(statistics.median(step_times[1:]), 4), runtime
    return (round(runtime / steps, 4) if runtime else None), runtime


def error_line(log_text: str, returncode: int, log: Path) -> str:
    """Return the line that says why a launched run failed: thinkdial's one-line error, else the last
    exception line of any process, else its exit code and log."""
    lines = [re.sub(r"^\[rank\d+\]:\s*", "", line).strip() for line in log_text.splitlines()]
    usage = [line for line in lines if re.match(r"thinkdial \w+: error: ", line)]
    if usage:
        return usage[-1]
    raised = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception|Interrupt)\b.*:", line)]
    return raised[0] if raised else f"exit code {returncode}; see {log}"


def features(row_stage: str, run: Path, launched: dict | None) -> dict:
    """Return what ran: read from the run folder (selection.json, health.json, eval/, the saved run config,
    an adapter) and from the launch."""
    config_file = run / f"{row_stage}_config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    found = {
        "lora": (run / "adapter_config.json").is_file(),
        "accelerate_config": launched["config"] if launched else None,
        "processes": launched["processes"] if launched else 1,
        "deepspeed_stage": launched["zero_stage"] if launched else None,
        "bf16": bool(config.get("bf16")),
        "activation_checkpointing": bool(config.get("activation_checkpointing")),
    }
    if row_stage == "grpo":
        selection = run / "selection.json"
        validations = json.loads(selection.read_text())["validations"] if selection.is_file() else []
        found.update(
            checkpoint_selection=len(validations) >= 2,
            health_guard=bool(config.get("health_guard")),
            health_guard_judged=(run / "health.json").is_file(),  # once its baseline and window were logged
            eval_callback=any((run / "eval").glob("step_*/results.json")),
            budget_constrained_rollouts=bool(config.get("budget_constrained_rollouts")),
            vllm=bool(config.get("use_vllm")),
        )
    return found


@contextlib.contextmanager
def _output_to(log: Path):
    """Send this process's stdout and stderr (Python's and the file descriptors') to `log` inside the block."""
    from thinkdial.models import reset_peak_memory

    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("a") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        reset_peak_memory()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def run_in_process(stage: str, argv: list[str], log: Path, env: dict) -> str | None:
    """Train `stage` with `argv` in this process, output to `log`, warnings shown each time they occur;
    return None, or the error line."""
    import torch

    from thinkdial.train.commands import RECIPE_STAGES
    from thinkdial.train.recipe import parse_recipe

    _, module, config_name, train_name = RECIPE_STAGES[stage]
    stage_module = importlib.import_module(module)
    threads = torch.get_num_threads()  # a recipe's cpu_threads must not carry over to the next
    try:
        with _environment(env), _output_to(log), warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _print_warning  # into the log, also where pytest records warnings
            try:
                getattr(stage_module, train_name)(parse_recipe(getattr(stage_module, config_name), argv))
            except Exception as err:  # the row records any failure, the log its traceback
                traceback.print_exc()
                return one_line(err)
        return None
    finally:
        torch.set_num_threads(threads)
        _free_memory()


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """Set the environment variables `values` inside the block, as they were after."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def one_line(err: Exception) -> str:
    """Return the error as one line: a UsageError's message (already one line), else `Type: first line`."""
    text = str(err).strip()
    first = text.splitlines()[0] if text else ""
    return first if isinstance(err, UsageError) else f"{type(err).__name__}: {first}"


def _free_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_launched(
    stage: str, argv: list[str], log: Path, env: dict, accel: str, args: list[str], timeout_s: int
):
    """Train `stage` through `accelerate launch --config_file ACCEL ARGS`, output to `log`; return None, or the
    error line."""
    import subprocess

    from thinkdial.pipeline.run import run_command, shown

    with log.open("a") as out:
        out.write(f"$ {shown([stage, *argv], accel, args)}\n")
    try:
        result = run_command(
            [stage, *argv],
            log,
            accelerate_config=accel,
            launch_args=args,
            check=False,
            env=env,
            timeout_s=timeout_s,
            echo=False,
        )
    except subprocess.TimeoutExpired:
        return f"still running after {timeout_s} s (stopped): a stall? see {log}"
    if result.returncode:
        return error_line(log.read_text(errors="replace"), result.returncode, log)
    return None


def check_recipe(
    recipe: Path,
    shape: str,
    steps: int,
    out: Path,
    machine: Machine,
    recipes: list[Path],
    accelerate: str | None = None,
) -> Row:
    """Run one recipe as the module docstring says, launched through `accelerate` ('none': in this process;
    None: the config the recipe names); return its Row."""
    start = time.perf_counter()
    folder = out / recipe_name(recipe)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log = folder / "train.log"
    row = Row(str(recipe), log=str(log))
    raw, launched = {}, None
    try:
        raw = read_yaml_mapping(recipe, "recipe")
        row.stage = recipe_stage(raw)
        recipe_values = {**stage_defaults(row.stage), **raw}
        arch = architecture(str(raw["model_name_or_path"]), recipes)
        with _output_to(log):  # the stand-in's build messages belong to the recipe's log
            model = build_stand_in(
                arch,
                shape,
                out / "models" / _model_key(raw["model_name_or_path"], shape),
                int(recipe_values["seed"]),
                machine,
            )
        _free_memory()  # the build's weights: a real-shape model on the GPU the runs need
        argv = [
            "--config",
            str(recipe),
            *overrides(raw, row.stage, model, folder, SHAPES[shape], steps, machine),
        ]
        env = {"WANDB_MODE": os.environ.get("WANDB_MODE", "offline"), "WANDB_DIR": str(folder)}
        accel = accelerate_config(recipe) if accelerate is None else accelerate
        accel = None if accel == "none" else accel
        accel_raw = read_yaml_mapping(accel, "accelerate config") if accel else None
        args = launch_args(accel_raw, bool(recipe_values["bf16"]), machine) if accel_raw else None
        if args:
            launched = {
                "config": accel,
                "processes": int(args[1]),
                "zero_stage": (accel_raw.get("deepspeed_config") or {}).get("zero_stage"),
            }
            env["PYTHONWARNINGS"] = "default"  # DeprecationWarnings too, for the deprecated-key check
            row.error = run_launched(row.stage, argv, log, env, accel, args, SHAPES[shape].launch_timeout_s)
        else:
            row.error = run_in_process(row.stage, argv, log, env)
    except Exception as err:  # a recipe the check cannot set up fails its row, not the check
        row.error = one_line(err)
    text = log.read_text(errors="replace") if log.is_file() else ""
    stale = deprecated_keys(text, list(raw))
    if stale and row.error is None:
        row.error = f"deprecated recipe key: {stale[0]}"
    row.ok = row.error is None
    row.seconds_per_step, row.train_runtime_s = timings(text, steps)
    peaks = [(int(n), kind) for n, kind in PEAK.findall(text)]
    if peaks:
        row.peak_memory_bytes, row.peak_memory = max(peaks)
    if row.stage:
        row.features = features(row.stage, folder / "run", launched)
    row.wall_s = round(time.perf_counter() - start, 1)
    if shape == "real":  # optimizer states of a 1.5B model: tens of GB per checkpoint
        for checkpoint in (folder / "run").glob("checkpoint-*"):
            shutil.rmtree(checkpoint, ignore_errors=True)
    return row


def _model_key(name: str, shape: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") + f"-{shape}"


def this_machine() -> Machine:
    """Return the GPUs and whether vLLM can generate here."""
    import importlib.util

    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return Machine(gpus, bool(gpus) and importlib.util.find_spec("vllm") is not None)


def run_check(
    recipes: list[Path], shape: str, steps: int, out: Path, accelerate: str | None = None
) -> list[Row]:
    """Check `recipes` (module docstring), printing one line per recipe and writing OUT/results.json after each;
    with `accelerate`, every recipe launches through that accelerate config ('none': runs in this process);
    return the rows."""
    if not FIXTURES.is_dir():
        raise UsageError(f"{FIXTURES} not found: run thinkdial check from the repository root")
    if steps < 1:
        raise UsageError(f"--steps must be >= 1, got {steps}")
    missing = [str(r) for r in recipes if not r.is_file()]
    if accelerate not in (None, "none") and not Path(accelerate).is_file():
        missing.append(accelerate)
    if missing:
        raise UsageError(f"not found: {', '.join(missing)}")
    machine = this_machine()
    if any(read_yaml_mapping(r, "recipe").get("use_vllm") for r in recipes) and not machine.vllm:
        why = "no GPU here" if not machine.gpus else "vLLM is not importable here"
        print(
            f"check: {why}: the recipes run with use_vllm false (TRL's transformers generation)", flush=True
        )
    everything = recipe_files()
    rows, began = [], time.perf_counter()
    # the fixtures feed the data configs' ${THINKDIAL_DATA_DIR}; nothing comes from a hub: fail fast instead
    offline = {"THINKDIAL_DATA_DIR": str(FIXTURES.resolve()), "HF_HUB_OFFLINE": "1"}
    for recipe in recipes:
        with _environment(offline):
            row = check_recipe(recipe, shape, steps, out, machine, everything, accelerate)
        rows.append(row)
        what = (
            f"ok, {row.seconds_per_step} s/step, peak {_gib(row.peak_memory_bytes)} GiB ({row.peak_memory})"
            if row.ok
            else f"FAILED: {row.error}"
        )
        print(f"check: {recipe}: {what} ({row.wall_s} s)", flush=True)
        summary = {
            "shape": shape,
            "steps": steps,
            "device": machine.device,
            "gpus": machine.gpus,
            "wall_s": round(time.perf_counter() - began, 1),
            "rows": [row.__dict__ for row in rows],
        }
        write_atomic(out / "results.json", json.dumps(summary, indent=2) + "\n")
    return rows


def _gib(n_bytes: int | None) -> float | None:
    return None if n_bytes is None else round(n_bytes / 2**30, 2)

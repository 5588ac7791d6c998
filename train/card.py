"""The export's model card (README.md), to the Hugging Face Hub's conventions.

A YAML metadata header (base_model, library_name, pipeline_tag, license, tags), a title naming the
model, a copy-paste transformers usage snippet that splits the reasoning from the answer, the output
format, the training recipe, the reward config (only a file that parses as one) and, when the run has
one, the scaling eval's results and plots.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml

from thinkdial.eval.schema import Results, load_results
from thinkdial.eval.tables import fmt, md_table
from thinkdial.io import warn
from thinkdial.models import THINK_CLOSE, THINK_OPEN
from thinkdial.rewards.config import load_reward_config
from thinkdial.train.dial_card import dial_card_section
from thinkdial.train.recipe import EMBEDDED

RUN_CONFIG_NAMES = ("grpo_config.json", "sft_config.json")
RECIPE_CARD_KEYS = (
    "model_name_or_path",
    "data_config",
    "reward_config",
    "use_peft",
    "lora_r",
    "lora_alpha",
    "lora_target_modules",
    "learning_rate",
    "lr_scheduler_type",
    "max_steps",
    "num_train_epochs",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "generation_batch_size",
    "num_generations",
    "max_completion_length",
    "max_prompt_length",
    "temperature",
    "loss_type",
    "scale_rewards",
    "beta",
    "epsilon",
    "epsilon_high",
    "bf16",
    "use_vllm",
    "vllm_mode",
    "seed",
)
DEFAULT_LICENSE = "apache-2.0"  # thinkdial's and the embedded default's; a fine-tune should carry its base's
CARD_TAGS = ["thinkdial", "grpo", "reasoning", "trl"]
MAX_BASE_HOPS = 8  # run folders followed from a checkpoint back to the model its chain started from
USAGE_NEW_TOKENS = (
    1024  # max_new_tokens of the usage snippet when the run config gives no max_completion_length
)
USAGE_PROMPT = "What is 17 times 3?"


def run_dir_of(checkpoint: Path) -> Path:
    """Return the run folder of `checkpoint`: itself if it holds a run config, else its parent if that does,
    else `checkpoint`."""
    for folder in (checkpoint, checkpoint.parent):
        if any((folder / name).is_file() for name in RUN_CONFIG_NAMES):
            return folder
    return checkpoint


def run_config(run: Path) -> dict:
    """Return the saved run config (GRPO's, else SFT's) of the run folder `run`; {} when it has none."""
    for name in RUN_CONFIG_NAMES:
        if (run / name).is_file():
            return json.loads((run / name).read_text())
    return {}


def base_model_of(checkpoint: Path) -> str | None:
    """Return the model the chain of runs behind `checkpoint` started from: the LoRA adapter's base, else the
    run config's model_name_or_path, followed through local run folders (a GRPO run started from an SFT
    output leads to that SFT run's base); None when no config names one."""
    adapter = checkpoint / "adapter_config.json"
    name = (
        json.loads(adapter.read_text()).get("base_model_name_or_path")
        if adapter.is_file()
        else run_config(run_dir_of(checkpoint)).get("model_name_or_path")
    )
    for _ in range(MAX_BASE_HOPS):
        parent = (
            run_config(run_dir_of(Path(name))).get("model_name_or_path")
            if name and Path(name).is_dir()
            else None
        )
        if parent is None or parent == name:
            break
        name = parent
    return name


def hub_model_id(name: str | None) -> str | None:
    """Return `name` when it names a model on the Hub (a valid repo id, not a local folder or the embedded
    default), else None: the Hub rejects a card whose base_model is not a model id."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not name or name == EMBEDDED or Path(name).exists():
        return None
    try:
        validate_repo_id(name)
    except HFValidationError:
        return None
    return name


def card_title(name: str | None, base: str | None) -> str:
    """Return the card's title: `name` when given, else the base model's name + "-thinkdial"."""
    return name or f"{Path(base or 'model').name}-thinkdial"


def card_header(base: str | None, license: str) -> str:
    """Return the card's YAML metadata block (between --- lines) with the Hub's keys; base_model only when
    `base` is a Hub model id."""
    meta = {
        "base_model": hub_model_id(base),
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "license": license,
        "tags": CARD_TAGS,
    }
    return "---\n" + yaml.safe_dump({k: v for k, v in meta.items() if v}, sort_keys=False) + "---\n"


def usage_section(model_id: str, max_new_tokens: int) -> str:
    """Return the card's copy-paste transformers usage snippet for `model_id` (load, chat template, generate,
    split the reasoning from the answer at the first think-close tag)."""
    return f"""## Usage

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

model_id = {json.dumps(model_id)}
tokenizer = AutoTokenizer.from_pretrained(model_id)
model = AutoModelForCausalLM.from_pretrained(model_id, dtype="auto", device_map="auto")

messages = [{{"role": "user", "content": {json.dumps(USAGE_PROMPT)}}}]
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                       return_dict=True).to(model.device)
output = model.generate(**inputs, max_new_tokens={max_new_tokens})
text = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
reasoning, _, answer = text.partition("{THINK_CLOSE}")  # no {THINK_CLOSE} yet: it is all reasoning
print("reasoning:", reasoning.replace("{THINK_OPEN}", "").strip())
print("answer:", answer.strip())
```
"""


def reward_section(config: dict, folder: Path) -> str:
    """Return the card's reward config section and copy the file to folder/reward_config.yaml, only when the
    file the run config names parses as a reward config (else the section says it was not included and why,
    without quoting the file); '' when the run names none."""
    if not config.get("reward_config"):
        return ""
    path = Path(config["reward_config"])
    try:
        load_reward_config(path)
        text = path.read_text()
    except FileNotFoundError:
        return f"## Reward config\n\n`{path}` was not included: the file was not found at export time.\n"
    except (OSError, ValueError) as err:
        warn(f"the model card leaves out the run's reward config: {err}")
        return (
            f"## Reward config\n\n`{path}` was not included: it does not parse as a thinkdial reward config "
            f"({type(err).__name__}).\n"
        )
    (folder / "reward_config.yaml").write_text(text)
    return f"## Reward config\n\n`{path}` (copied to reward_config.yaml)\n\n```yaml\n{text.rstrip()}\n```\n"


def recipe_section(config: dict) -> str:
    """Return the card's training recipe section (the run config's recipe keys as YAML); '' without a config."""
    keep = {
        k: v
        for k, v in config.items()
        if k in RECIPE_CARD_KEYS
        and v not in (None, [], {})
        and (config.get("use_peft") or not k.startswith("lora_"))
    }
    if not keep:
        return ""
    return (
        f"## Training recipe\n\nBase: `{config.get('model_name_or_path')}`\n\n"
        f"```yaml\n{yaml.safe_dump(keep, sort_keys=False)}```\n"
    )


def eval_section(evaluation: Path | None, folder: Path) -> str:
    """Return the card's evaluation section and copy the eval's results and plots to folder/eval; '' when
    `evaluation` is None."""
    if evaluation is None:
        return ""
    shutil.copytree(
        evaluation, folder / "eval", dirs_exist_ok=True, ignore=shutil.ignore_patterns("per_example.jsonl")
    )
    report = folder / "eval" / "report.md"
    body = (
        re.sub(r"^(#+) ", r"##\1 ", report.read_text().replace("](plots/", "](eval/plots/"), flags=re.M)
        if report.is_file()
        else results_table(load_results(folder / "eval" / "results.json"))
    )
    return f"## Evaluation\n\nFrom `{evaluation}` (files in eval/).\n\n{body}\n"


def results_table(results: Results) -> str:
    """Return a markdown table of the headline metrics of each model of an eval's results."""
    keys = ("accuracy", "reasoning_tokens_mean", "spearman_difficulty_tokens")
    rows = [[label, *(fmt(getattr(m, k)) for k in keys)] for label, m in results.models.items()]
    return md_table(["model", *keys], rows)


def model_card(
    checkpoint: Path,
    folder: Path,
    model_id: str,
    evaluation: Path | None = None,
    name: str | None = None,
    license: str = DEFAULT_LICENSE,
) -> str:
    """Return README.md for the export of `checkpoint` being written in `folder` (which receives the reward
    config and the eval files it cites); `model_id` is what the usage snippet loads (hub repo or folder)."""
    config, base = run_config(run_dir_of(checkpoint)), base_model_of(checkpoint)
    title, hub_base = card_title(name, base), hub_model_id(base)
    origin = (
        f"[{hub_base}](https://huggingface.co/{hub_base})"
        if hub_base
        else f"the local model `{base}`"
        if base
        else "an unrecorded base model"
    )
    intro = (
        f"# {title}\n\n{title} is {origin} trained with thinkdial (length-aware GRPO on TRL) to spend "
        "reasoning tokens where they pay: few on easy problems, many on hard ones.\n"
    )
    output_format = (
        f"## Output format\n\nCompletions are `{THINK_OPEN}reasoning{THINK_CLOSE}answer`. Reasoning "
        "tokens are the tokens inside the think block; an empty block means the model chose to answer "
        "directly.\n"
    )
    evaluation_text = eval_section(evaluation, folder)  # copies the eval files the dial section reads
    sections = [
        card_header(base, license) + "\n" + intro,
        usage_section(model_id, config.get("max_completion_length") or USAGE_NEW_TOKENS),
        dial_card_section(folder, config, model_id),
        output_format,
        recipe_section(config),
        reward_section(config, folder),
        evaluation_text,
    ]
    return "\n".join(s for s in sections if s)

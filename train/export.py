"""Export a trained checkpoint as a standalone Hugging Face model with a model card.

`thinkdial export --checkpoint DIR --out DIR [--push-to-hub REPO]`. A LoRA checkpoint is merged into
its base model. The export holds safetensors weights, the tokenizer, the generation config, a chat
template documenting the `<think>` format, and README.md: the recipe, the reward config and, when the
run has one, the scaling eval's results and plots. Before it reports success, the export is reloaded
and its greedy outputs on a few prompts must equal those of the checkpoint it came from.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch
import yaml
from thinkdial.data.completion import THINK_CLOSE, THINK_OPEN

from thinkdial.errors import UsageError
from thinkdial.models import load_tokenizer

CHECK_PROMPTS = ("2 + 3 * 4 =", "What is 17 times 3?", "apply a b c to x", "Solve: x + 5 = 12.")
CHECK_NEW_TOKENS = 32  # tokens generated greedily per prompt by the reload check
THINK_NOTE = (f"{{# thinkdial: the model writes {THINK_OPEN}reasoning{THINK_CLOSE}answer; reasoning tokens are "
              f"those inside the think block. An empty block means it chose to answer directly. #}}")
RUN_CONFIG_NAMES = ("grpo_config.json", "sft_config.json")
RECIPE_CARD_KEYS = (
    "model_name_or_path", "data_config", "reward_config", "use_peft", "lora_r", "lora_alpha", "lora_target_modules",
    "learning_rate", "lr_scheduler_type", "max_steps", "num_train_epochs", "per_device_train_batch_size",
    "gradient_accumulation_steps", "generation_batch_size", "num_generations", "max_completion_length",
    "max_prompt_length", "temperature", "loss_type", "scale_rewards", "beta", "epsilon", "epsilon_high", "bf16",
    "use_vllm", "vllm_mode", "seed",
)


def run_dir_of(checkpoint: Path) -> Path:
    """Return the run folder of `checkpoint`: itself if it holds a run config, else its parent."""
    for folder in (checkpoint, checkpoint.parent):
        if any((folder / name).is_file() for name in RUN_CONFIG_NAMES):
            return folder
    return checkpoint


def load_checkpoint_model(checkpoint: Path, dtype="auto"):
    """Return (model, is_lora) for `checkpoint`: a plain causal LM, or base model + LoRA adapter (unmerged)."""
    from transformers import AutoModelForCausalLM

    adapter = checkpoint / "adapter_config.json"
    if not adapter.is_file():
        return AutoModelForCausalLM.from_pretrained(checkpoint, dtype=dtype), False
    from peft import PeftModel

    base = json.loads(adapter.read_text())["base_model_name_or_path"]
    if not Path(base).is_absolute() and (checkpoint / base).exists():
        base = str(checkpoint / base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    return PeftModel.from_pretrained(model, checkpoint), True


def greedy_outputs(model, tokenizer, prompts=CHECK_PROMPTS, max_new_tokens: int = CHECK_NEW_TOKENS) -> list[list[int]]:
    """Return the greedy completion token ids of `model` for each prompt (one at a time, no padding)."""
    outputs = []
    model.eval()
    with torch.no_grad():
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt").input_ids
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                 max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
            outputs.append(out[0, ids.shape[1]:].tolist())
    return outputs


def think_chat_template(template: str | None) -> str | None:
    """Return `template` with a note on the think format prepended as a Jinja comment (renders the same)."""
    if template is None or THINK_OPEN in template:
        return template
    return THINK_NOTE + template


def find_eval(run: Path, eval_dir: Path | None = None) -> Path | None:
    """Return the folder of the eval results for the card: `eval_dir` when given, else run/eval if it has
    results.json, else its latest step_N (the training callback's); None when there is none."""
    if eval_dir is not None:
        if not (eval_dir / "results.json").is_file():
            raise UsageError(f"--eval-dir {eval_dir} has no results.json")
        return eval_dir
    folder = run / "eval"
    if (folder / "results.json").is_file():
        return folder
    steps = sorted((int(p.name[5:]), p) for p in folder.glob("step_*")
                   if p.name[5:].isdigit() and (p / "results.json").is_file())
    return steps[-1][1] if steps else None


def _recipe_yaml(run: Path) -> tuple[str, dict]:
    """Return (YAML text of the run's saved config, that config) or ('', {}) when there is none."""
    for name in RUN_CONFIG_NAMES:
        if (run / name).is_file():
            config = json.loads((run / name).read_text())
            keep = {k: v for k, v in config.items() if k in RECIPE_CARD_KEYS and v not in (None, [], {})
                    and (config.get("use_peft") or not k.startswith("lora_"))}
            return yaml.safe_dump(keep, sort_keys=False), config
    return "", {}


def model_card(run: Path, out: Path, eval_dir: Path | None = None) -> str:
    """Return README.md for the export in `out`: format, recipe, reward config, eval results (copied to out/eval)."""
    recipe, config = _recipe_yaml(run)
    sections = [f"# {out.name}\n\nTrained with thinkdial (length-aware GRPO on TRL) to "
                "spend reasoning tokens where they pay.\n\n## Output format\n\n"
                f"Completions are `{THINK_OPEN}reasoning{THINK_CLOSE}answer`. Reasoning tokens are the tokens "
                "inside the think block; an empty block means the model chose to answer directly.\n"]
    if recipe:
        sections.append(f"## Training recipe\n\nBase: `{config.get('model_name_or_path')}`\n\n```yaml\n{recipe}```\n")
    reward_path = Path(config.get("reward_config") or "")
    if reward_path.is_file():
        shutil.copy(reward_path, out / "reward_config.yaml")
        sections.append(f"## Reward config\n\n`{reward_path}` (copied to reward_config.yaml)\n\n"
                        f"```yaml\n{reward_path.read_text().rstrip()}\n```\n")
    evaluation = find_eval(run, eval_dir)
    if evaluation is not None:
        shutil.copytree(evaluation, out / "eval", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("per_example.jsonl"))
        report = out / "eval" / "report.md"
        body = (re.sub(r"^(#+) ", r"##\1 ", report.read_text().replace("](plots/", "](eval/plots/"), flags=re.M)
                if report.is_file() else _results_table(json.loads((out / "eval" / "results.json").read_text())))
        sections.append(f"## Evaluation\n\nFrom `{evaluation}` (files in eval/).\n\n{body}\n")
    return "\n".join(sections)


def _results_table(results: dict) -> str:
    """Return a markdown table of the headline metrics of each model in a results.json dict."""
    keys = ("accuracy", "reasoning_tokens_mean", "spearman_difficulty_tokens")
    lines = ["| model | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for label, m in results.get("models", {}).items():
        lines.append(f"| {label} | " + " | ".join(
            "-" if m.get(k) is None else f"{m[k]:.3f}" for k in keys) + " |")
    return "\n".join(lines)


def export(checkpoint: str | Path, out: str | Path, push_to_hub: str | None = None, private: bool = True,
           eval_dir: str | Path | None = None) -> Path:
    """Write the standalone export of `checkpoint` to `out`, verify it, optionally push it; return `out`.

    Raises ValueError when the reloaded export's greedy outputs differ from the checkpoint's.
    """
    from transformers import AutoModelForCausalLM

    checkpoint, out = Path(checkpoint), Path(out)
    if not checkpoint.is_dir():
        raise UsageError(f"checkpoint not found: {checkpoint}")
    if out.resolve() == checkpoint.resolve():
        raise UsageError(f"--out must differ from --checkpoint ({out})")
    tokenizer = load_tokenizer(str(checkpoint))
    model, is_lora = load_checkpoint_model(checkpoint)
    expected = greedy_outputs(model, tokenizer)
    merged = model.merge_and_unload() if is_lora else model
    out.mkdir(parents=True, exist_ok=True)
    merged.generation_config.pad_token_id = tokenizer.pad_token_id
    merged.generation_config.eos_token_id = tokenizer.eos_token_id
    merged.save_pretrained(out, safe_serialization=True)
    tokenizer.chat_template = think_chat_template(tokenizer.chat_template)
    tokenizer.save_pretrained(out)
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype="auto")
    got = greedy_outputs(reloaded, load_tokenizer(str(out)))
    bad = [p for p, a, b in zip(CHECK_PROMPTS, expected, got, strict=True) if a != b]
    if bad:
        raise ValueError(f"export check failed: greedy output of the export differs from the checkpoint on {bad[0]!r}")
    print(f"export check: greedy outputs of {len(got)} prompts equal the checkpoint's"
          f"{' (LoRA merged)' if is_lora else ''}")
    # the model card comes last: its presence marks a verified export
    (out / "README.md").write_text(model_card(run_dir_of(checkpoint), out, Path(eval_dir) if eval_dir else None))
    if push_to_hub:
        from huggingface_hub import HfApi

        api = HfApi()
        api.create_repo(push_to_hub, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(out), repo_id=push_to_hub, commit_message="thinkdial export")
        print(f"pushed to https://huggingface.co/{push_to_hub}")
    return out

"""GRPO entry (open-r1 style): recipe -> data + rewards + model -> TRL GRPOTrainer -> checkpoints.

`thinkdial grpo --config configs/tiny/grpo.yaml [--key value ...] [--resume]`. Everything a user can
get wrong (unknown key, missing file, reward config error, num_generations not dividing the batch) is
refused while parsing, before any model loads.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field

import torch
from thinkdial.data.config import load_data_config
from thinkdial.data.sources import build_dataset
from thinkdial.rewards.config import load_reward_config
from thinkdial.train.recipe import (
    RecipeFields,
    load_policy,
    save_run_config,
)
from trl import GRPOConfig, GRPOTrainer

from thinkdial.errors import UsageError
from thinkdial.models import set_cpu_threads

GRPO_COLUMNS = ("prompt", "answer", "difficulty", "source", "min_reasoning_tokens", "budget")


@dataclass
class ThinkdialGRPOConfig(GRPOConfig, RecipeFields):
    """TRL's GRPOConfig plus thinkdial's data, reward, eval and LoRA fields."""

    data_config: str = field(default="configs/tiny/grpo_data.yaml", metadata={
        "help": "Data config YAML; its train split feeds GRPO (columns answer, difficulty, ... reach rewards)."})
    reward_config: str = field(default="configs/rewards/adaptive.yaml", metadata={
        "help": "Reward config YAML (rewards/config.py); validated before the model loads."})
    eval_config: str | None = field(default=None, metadata={
        "help": "Eval config YAML for the in-training scaling eval (eval/callback.py); None disables it."})
    eval_every_steps: int = field(default=0, metadata={"help": "Run the scaling eval every N steps (0: never)."})
    use_peft: bool = field(default=False, metadata={"help": "Train a LoRA adapter instead of all weights."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] = field(default_factory=lambda: ["all-linear"], metadata={
        "help": "Modules that get LoRA adapters ('all-linear' or names such as q_proj v_proj)."})
    resume: bool = field(default=False, metadata={
        "help": "Continue from the latest complete checkpoint in output_dir (step, optimizer and RNG state)."})

    def __post_init__(self):
        # accelerate's multi-process launcher on a machine without an accelerator (configs/accelerate/cpu2.yaml)
        # does not tell the Trainer to use the CPU, and the Trainer then runs each process alone (world size 1).
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.accelerator.is_available():
            self.use_cpu = True
        super().__post_init__()
        for name in ("data_config", "reward_config") + (("eval_config",) if self.eval_config else ()):
            path = getattr(self, name)
            if not os.path.isfile(path):
                raise UsageError(f"{name} not found: {path}")
        load_reward_config(self.reward_config)  # raises a one-line UsageError on any reward config error
        if self.eval_config:
            from thinkdial.eval.config import load_eval_config

            load_eval_config(self.eval_config)  # same for the in-training eval's config
        if self.eval_every_steps and not self.eval_config:
            raise UsageError("eval_every_steps > 0 needs eval_config (e.g. configs/tiny/eval.yaml)")
        if self.use_peft and self.lora_r < 1:
            raise UsageError(f"lora_r must be >= 1, got {self.lora_r}")


def grpo_dataset(config: ThinkdialGRPOConfig):
    """Return the GRPO train `datasets.Dataset` (prompt + the columns rewards read)."""
    ds = build_dataset(load_data_config(config.data_config), "train", config.train_limit)
    return ds.remove_columns([c for c in ds.column_names if c not in GRPO_COLUMNS])


def peft_config(config: ThinkdialGRPOConfig):
    """Return the LoRA `peft.LoraConfig` when config.use_peft, else None."""
    if not config.use_peft:
        return None
    from peft import LoraConfig

    targets = config.lora_target_modules
    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets[0] if targets == ["all-linear"] else targets, task_type="CAUSAL_LM")


def checkpoint_complete(path: str) -> bool:
    """Return True when checkpoint folder `path` was written to the end.

    The Trainer writes `trainer_state.json` last (after weights, optimizer, scheduler and RNG state) and
    before it deletes older checkpoints, so a folder whose state file parses and names its own step is
    complete; a run killed mid-save leaves a folder without it (or with a truncated one).
    """
    step = os.path.basename(os.path.normpath(path)).rpartition("-")[2]
    try:
        with open(os.path.join(path, "trainer_state.json")) as f:
            return str(json.load(f)["global_step"]) == step
    except (OSError, ValueError, KeyError):
        return False


def last_checkpoint(output_dir: str) -> str | None:
    """Return the latest complete `checkpoint-N` folder in output_dir, or None."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    if not os.path.isdir(output_dir):
        return None
    steps = sorted((int(name.rpartition("-")[2]), name) for name in os.listdir(output_dir)
                   if name.startswith(PREFIX_CHECKPOINT_DIR + "-") and name.rpartition("-")[2].isdigit())
    complete = [name for _, name in steps if checkpoint_complete(os.path.join(output_dir, name))]
    return os.path.join(output_dir, complete[-1]) if complete else None


def drop_incomplete_checkpoints(output_dir: str) -> list[str]:
    """Delete the half-written `checkpoint-N` folders of output_dir (a killed save); return their paths."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    if not os.path.isdir(output_dir):
        return []
    dropped = [os.path.join(output_dir, name) for name in sorted(os.listdir(output_dir))
               if name.startswith(PREFIX_CHECKPOINT_DIR + "-") and os.path.isdir(os.path.join(output_dir, name))
               and not checkpoint_complete(os.path.join(output_dir, name))]
    for path in dropped:
        shutil.rmtree(path)
    return dropped


def build_trainer(config: ThinkdialGRPOConfig) -> GRPOTrainer:
    """Return a ready GRPOTrainer for `config` (data, rewards, model, LoRA, eval callback)."""
    from thinkdial.rewards.registry import build_reward_funcs

    dataset = grpo_dataset(config)
    model, tokenizer = load_policy(config)
    reward_funcs, weights = build_reward_funcs(load_reward_config(config.reward_config), tokenizer)
    config.reward_weights = weights
    callbacks = []
    if config.eval_every_steps:
        from thinkdial.eval.callback import ScalingEvalCallback
        from thinkdial.eval.config import load_eval_config

        callbacks.append(ScalingEvalCallback(load_eval_config(config.eval_config), tokenizer, config.eval_every_steps,
                                             os.path.join(config.output_dir, "eval")))
    return GRPOTrainer(model=model, reward_funcs=reward_funcs, args=config, train_dataset=dataset,
                       processing_class=tokenizer, peft_config=peft_config(config), callbacks=callbacks)


def train_grpo(config: ThinkdialGRPOConfig) -> str:
    """Train with GRPO, save the final model + tokenizer to config.output_dir; return that path."""
    if config.hub_token:  # keep the token out of every file: hand it to the hub client by env
        os.environ.setdefault("HF_TOKEN", config.hub_token)
        # trackers record the command line (wandb's run metadata does): redact it there too
        sys.argv = [arg.replace(config.hub_token, "<redacted>") for arg in sys.argv]
        config.hub_token = None
    set_cpu_threads(config.cpu_threads)
    main = config.process_index == 0
    resume_from = None
    if config.resume:
        with config.main_process_first(desc="finding the checkpoint to resume from"):
            for path in drop_incomplete_checkpoints(config.output_dir):
                print(f"removed half-written checkpoint {path}")
            resume_from = last_checkpoint(config.output_dir)
        if main:
            print(f"resuming from {resume_from}" if resume_from else
                  f"--resume: no checkpoint in {config.output_dir}, starting from scratch")
    if main:
        print(f"grpo: {config.world_size} process(es), {config.generation_batch_size} completions "
              f"({config.generation_batch_size // config.num_generations} prompts) per generation step")
    trainer = build_trainer(config)
    if main:
        save_run_config(config, config.output_dir, "grpo_config")
    trainer.train(resume_from_checkpoint=resume_from)
    trainer.save_model(config.output_dir)
    if trainer.accelerator.is_main_process:
        trainer.processing_class.save_pretrained(config.output_dir)
    return config.output_dir

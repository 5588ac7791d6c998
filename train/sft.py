"""SFT warm start on TRL's SFTTrainer: teach the `<think>...</think>answer` format.

`thinkdial sft --config configs/tiny/sft.yaml [--key value ...]`. Works on any data source whose rows
have a `reasoning` column (synthetic families, a user's JSONL, GSM8K / MATH worked solutions): the
target completion is `<think>{reasoning}</think>{answer}`, loss on completion tokens only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from thinkdial.data.completion import format_completion
from thinkdial.data.config import load_data_config
from thinkdial.data.sources import build_rows
from thinkdial.train.recipe import (
    RecipeFields,
    load_policy,
    save_run_config,
)
from trl import SFTConfig, SFTTrainer

from thinkdial.errors import UsageError
from thinkdial.models import set_cpu_threads


@dataclass
class ThinkdialSFTConfig(SFTConfig, RecipeFields):
    """TRL's SFTConfig plus thinkdial's model and data fields."""

    data_config: str = field(default="configs/tiny/sft_data.yaml", metadata={
        "help": "Data config YAML (data/config.py); its train split must have a `reasoning` column."})

    def __post_init__(self):
        super().__post_init__()
        if not os.path.isfile(self.data_config):
            raise UsageError(f"data_config not found: {self.data_config}")


def sft_dataset(config: ThinkdialSFTConfig):
    """Return the prompt/completion `datasets.Dataset` for SFT, built from the data config's train split."""
    import datasets

    rows = build_rows(load_data_config(config.data_config), "train", config.train_limit)
    missing = [i for i, r in enumerate(rows) if r.get("reasoning") is None]
    if missing:
        raise UsageError(f"{config.data_config}: row {missing[0]} has no `reasoning` (SFT target); "
                         "map a column to `reasoning` in the data config")
    return datasets.Dataset.from_list([
        {"prompt": r["prompt"], "completion": format_completion(r["reasoning"], r.get("target_answer", r["answer"]))}
        for r in rows
    ])


def train_sft(config: ThinkdialSFTConfig) -> str:
    """Run SFT and save the final model + tokenizer to config.output_dir; return that path."""
    set_cpu_threads(config.cpu_threads)
    dataset = sft_dataset(config)
    model, tokenizer = load_policy(config)
    save_run_config(config, config.output_dir, "sft_config")
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    trainer.save_model(config.output_dir)
    tokenizer.save_pretrained(config.output_dir)
    return config.output_dir

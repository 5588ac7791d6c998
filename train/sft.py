"""SFT warm start on TRL's SFTTrainer: teach the `<think>...</think>answer` format.

`thinkdial sft --config configs/tiny/sft.yaml [--key value ...] [--resume true]`. Works on any data
source whose rows have a `reasoning` column (synthetic families, a user's JSONL, GSM8K / MATH worked
solutions): the target completion is `<think>{reasoning}</think>{answer}`, loss on completion tokens
only. `train_sft` reads top to bottom: recipe -> data -> TRL SFTTrainer -> train -> save.

With `stop_when_converged` (configs/tiny/sft.yaml) the run holds rows out of the train split; when their
greedy accuracy stops improving, the learning rate decays to 0 and the run stops; it saves the best weights
and writes their per-level figures to heldout.json, warning when the start is at chance somewhere
(train/select.py `ConvergenceStop`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from trl import SFTConfig, SFTTrainer

from thinkdial.data.completion import format_completion, reasoning_token_counts
from thinkdial.data.config import DataConfig, load_data_config
from thinkdial.data.sources import build_rows, row_place
from thinkdial.errors import UsageError
from thinkdial.models import set_cpu_threads
from thinkdial.train.preflight import check_environment, check_precision
from thinkdial.train.recipe import (
    ActivationCheckpointing,
    RecipeFields,
    check_recipe_values,
    context_tokens,
    hide_secrets,
    load_model,
    multi_process_cpu,
    peft_config,
    prepare_policy_files,
    save_run_config,
)
from thinkdial.train.runner import (
    announce,
    check_prompts,
    main_process_lock,
    resume_checkpoint,
    train_and_save,
)
from thinkdial.train.select import ConvergenceStop, split_validation

# schedules the Trainer builds as a LambdaLR, whose factor ConvergenceStop.decay replaces
DECAYABLE_SCHEDULES = ("constant_with_warmup", "constant", "cosine", "linear")


@dataclass
class ThinkdialSFTConfig(ActivationCheckpointing, SFTConfig, RecipeFields):
    """TRL's SFTConfig plus thinkdial's model, data, limit and LoRA fields."""

    data_config: str = field(
        default="configs/tiny/sft_data.yaml",
        metadata={
            "help": "Data config YAML (data/config.py); its train split must have a `reasoning` column."
        },
    )
    stop_when_converged: bool = field(
        default=False,
        metadata={
            "help": "Hold validation_rows_per_level train rows per level out, answer them greedily before training "
            "and every validate_every_steps, save the weights that solve the most of them; once patience_steps "
            "pass without a significant gain (or decay_steps before max_steps, the cap) the learning rate decays "
            "to 0 over decay_steps and the run stops. Writes heldout.json and warns when the start is at chance "
            "somewhere (train/select.py `ConvergenceStop`)."
        },
    )
    validation_rows_per_level: int = field(
        default=32,
        metadata={
            "help": "With stop_when_converged: train rows per difficulty level held out (not trained on)."
        },
    )
    validate_every_steps: int = field(
        default=100, metadata={"help": "With stop_when_converged: optimizer steps between two validations."}
    )
    patience_steps: int = field(
        default=500,
        metadata={
            "help": "With stop_when_converged: optimizer steps without a significant gain in held-out rows solved "
            "after which the learning rate decays (not while it is at chance at every level)."
        },
    )
    decay_steps: int = field(
        default=400,
        metadata={
            "help": "With stop_when_converged: optimizer steps over which the learning rate falls linearly to 0 "
            "before the run stops (fewer when max_steps comes first)."
        },
    )

    def __post_init__(self):
        self.use_cpu = self.use_cpu or multi_process_cpu()
        check_recipe_values(self, {"max_length": 1})
        check_precision(self)
        super().__post_init__()
        if not os.path.isfile(self.data_config):
            raise UsageError(f"data_config not found: {self.data_config}")
        if self.stop_when_converged and (
            self.validation_rows_per_level < 1
            or self.validate_every_steps < 1
            or self.patience_steps < self.validate_every_steps
            or self.decay_steps < 1
        ):
            raise UsageError(
                "stop_when_converged needs validation_rows_per_level >= 1, validate_every_steps >= 1, "
                "patience_steps >= validate_every_steps and decay_steps >= 1; got "
                f"{self.validation_rows_per_level}, {self.validate_every_steps}, {self.patience_steps}, "
                f"{self.decay_steps} (or set stop_when_converged: false)"
            )
        schedule = getattr(self.lr_scheduler_type, "value", self.lr_scheduler_type)
        if self.stop_when_converged and schedule not in DECAYABLE_SCHEDULES:
            raise UsageError(
                f"stop_when_converged decays the learning rate of lr_scheduler_type {DECAYABLE_SCHEDULES}, "
                f"not {schedule!r}"
            )

    def banner(self) -> str:
        """Return the startup line: processes and rows per optimizer step."""
        rows = self.per_device_train_batch_size * self.gradient_accumulation_steps * self.world_size
        return f"{self.world_size} process(es), {rows} rows per optimizer step"

    def prompt_token_limit(self, context_tokens: int | None) -> tuple[int | None, str]:
        """Return (longest prompt in tokens, why): a prompt must leave one completion token within max_length
        (SFT truncates there) and the model's context."""
        if self.max_length is not None and (context_tokens is None or self.max_length < context_tokens):
            return self.prompt_limit(self.max_length, "max_length", 1, "at least one completion token")
        return self.prompt_limit(context_tokens, "the model's context", 1, "at least one completion token")


def sft_dataset(config: ThinkdialSFTConfig, data: DataConfig) -> tuple:
    """Return (the prompt/completion `datasets.Dataset` for SFT, the validation rows held out of it: none
    unless stop_when_converged), built from the data config's train split."""
    import datasets

    rows = build_rows(data, "train", config.train_limit)
    missing = [i for i, r in enumerate(rows) if r.get("reasoning") is None]
    if missing:
        raise UsageError(
            f"{row_place(data, 'train', missing[0])}: no `reasoning` (the SFT target); map a column to "
            f"`reasoning` in {config.data_config}"
        )
    rows, validation = (
        # a row whose budget is below its level's need cannot be solved: convergence is judged without the dial
        split_validation(rows, config.validation_rows_per_level, plain_only=True)
        if config.stop_when_converged
        else (rows, [])
    )
    dataset = datasets.Dataset.from_list(
        [
            {
                "prompt": r["prompt"],
                "completion": format_completion(r["reasoning"], r.get("target_answer", r["answer"])),
                "answer": r["answer"],
                "budget": r.get("budget"),
            }
            for r in rows
        ]
    )
    return dataset, validation


def sft_callbacks(config: ThinkdialSFTConfig, validation: list[dict], dataset, tokenizer) -> list:
    """Return the SFT callbacks: the convergence stop on `validation` when stop_when_converged (its answers
    decoded up to the longest reasoning among the targets of `dataset`), else none."""
    if not config.stop_when_converged:
        return []
    longest = max(reasoning_token_counts(tokenizer, dataset["completion"]))
    return [
        ConvergenceStop(
            validation,
            tokenizer,
            config.validate_every_steps,
            config.patience_steps,
            config.decay_steps,
            max(longest, 1),
            config.output_dir,
        )
    ]


def fit_budgets(dataset, tokenizer):
    """Return `dataset` (prompt, completion, answer, budget) as prompt/completion pairs whose reasoning fits
    each row's thinking budget: a target whose reasoning has more tokens than its row's budget becomes a
    direct answer (`<think></think>answer`), so the start learns not to begin what its budget cannot finish."""
    texts = dataset["completion"]
    tokens = reasoning_token_counts(tokenizer, texts)
    completions = [
        format_completion("", answer) if budget is not None and n > budget else text
        for text, n, budget, answer in zip(texts, tokens, dataset["budget"], dataset["answer"], strict=True)
    ]
    return dataset.remove_columns(["completion", "answer", "budget"]).add_column("completion", completions)


def train_sft(config: ThinkdialSFTConfig) -> str:
    """Run SFT; return config.output_dir, which holds the final model and tokenizer."""
    hide_secrets(config)
    set_cpu_threads(config.cpu_threads)
    data = load_data_config(config.data_config)
    with main_process_lock(config):
        resume_from = resume_checkpoint(config)
        announce(config, "sft")
        check_environment(config)
        dataset, validation = sft_dataset(config, data)
        model_path, tokenizer = prepare_policy_files(config)
        check_prompts(dataset, tokenizer, config.prompt_token_limit(context_tokens(config, model_path)), data)
        trainer = SFTTrainer(
            model=load_model(config, model_path),
            args=config,
            train_dataset=fit_budgets(dataset, tokenizer),
            processing_class=tokenizer,
            peft_config=peft_config(config),
            callbacks=sft_callbacks(config, validation, dataset, tokenizer),
        )
        if config.process_index == 0:
            save_run_config(config, config.output_dir, "sft_config")
        train_and_save(trainer, tokenizer, resume_from)
    return config.output_dir

"""Scaling eval as a TrainerCallback: every N steps, evaluate the live model on a small held-out slice.

    callback = ScalingEvalCallback(load_eval_config("configs/tiny/eval.yaml", limit=64, budgets=[0, 8]),
                                   tokenizer, every_steps=50)
    trainer.add_callback(callback)

Each evaluation writes results.json, per_example.jsonl, plots/ and report.md under
`{output_dir}/eval/step_{N}/`, appends the scalars to `state.log_history`, and, when a wandb run is
active, logs the scalars, the plots as images and a table of sample completions. It runs on the main
process only, in eval mode, with the RNG state saved and restored so training is not perturbed.
Under DeepSpeed ZeRO-3 every process evaluates alongside (each forward pass gathers the sharded weights from
all of them) and the main one writes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import TrainerCallback
from transformers.integrations import is_deepspeed_zero3_enabled

from thinkdial.eval.adherence import AXES
from thinkdial.eval.backends import TransformersBackend
from thinkdial.eval.config import EvalConfig
from thinkdial.eval.report import sample_records, write_outputs
from thinkdial.eval.run import evaluate, load_eval_rows, results_header
from thinkdial.eval.schema import ModelResult, Results
from thinkdial.eval.summary import model_summary

SCALARS = (
    "accuracy",
    "accuracy_direct",
    "direct_rate",
    "reasoning_tokens_mean",
    "spearman_difficulty_tokens",
    "budget_curve_area_log2",
    "overthinking_tokens_mean",
    "tokens_over_oracle",
)


def scalar_logs(summary: ModelResult, prefix: str = "scaling_eval") -> dict[str, float]:
    """Return the flat scalars of a results.json model entry: overall metrics, then per-level accuracy,
    forced-direct accuracy, direct rate and mean reasoning tokens, then per dial setting accuracy, mean
    reasoning tokens, Mean Error (%) and Control (None values dropped)."""
    logs = {f"{prefix}/{k}": getattr(summary, k) for k in SCALARS}
    for level, m in summary.levels.items():
        for k in ("accuracy", "accuracy_direct", "direct_rate", "reasoning_tokens_mean"):
            logs[f"{prefix}/level_{level}/{k}"] = getattr(m, k)
    for axis in AXES if summary.dial else ():
        for key, m in getattr(summary.dial, axis).items():
            for k in ("accuracy", "reasoning_tokens_mean", "mean_error_pct", "control"):
                logs[f"{prefix}/dial_{axis}_{key}/{k}"] = getattr(m, k)
    return {k: v for k, v in logs.items() if v is not None}


class ScalingEvalCallback(TrainerCallback):
    """Evaluate the live model every `every_steps` optimizer steps (see the module docstring)."""

    def __init__(
        self,
        eval_config: EvalConfig,
        tokenizer,
        every_steps: int,
        out_dir: str | Path | None = None,
        label: str = "policy",
    ):
        if every_steps < 1:
            raise ValueError(f"ScalingEvalCallback: every_steps must be >= 1, got {every_steps}")
        self.config, self.tokenizer, self.every_steps = eval_config, tokenizer, every_steps
        self.out_dir, self.label = out_dir, label
        self.rows = load_eval_rows(eval_config)  # built now, so a bad data config fails before training

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every_steps or model is None:
            return control
        if state.is_world_process_zero:
            logs = self.run(model, state.global_step, self.out_dir or Path(args.output_dir) / "eval")
            state.log_history.append({**logs, "step": state.global_step})
        elif is_deepspeed_zero3_enabled():  # the main process's forward passes gather weights from this one
            self.records(model)
        return control

    def records(self, model) -> list[dict]:
        """Return the eval's per-row records of `model` now (in eval mode, the RNG state restored after)."""
        was_training = model.training
        model.eval()
        try:
            with torch.random.fork_rng():
                return evaluate(
                    TransformersBackend(model, self.tokenizer, self.config), self.rows, self.config
                )
        finally:
            model.train(was_training)

    def run(self, model, step: int, out_root: str | Path) -> dict[str, float]:
        """Evaluate `model` now, write the files under out_root/step_{step}, log to wandb; return the scalars."""
        records = self.records(model)
        results = results_header(self.config, self.rows)
        results["models"][self.label] = model_summary(records, self.config, f"step {step}")
        typed = Results.from_dict(results)
        paths = write_outputs(typed, {self.label: records}, self.config, Path(out_root) / f"step_{step}")
        logs = scalar_logs(typed.models[self.label])
        _log_wandb(logs, paths, records, step)
        return logs


def _log_wandb(logs: dict, paths: dict, records: list[dict], step: int) -> None:
    try:
        import wandb
    except ImportError:
        return
    if wandb.run is None:
        return
    table = wandb.Table(
        columns=["step", "level", "prompt", "gold", "completion", "reasoning_tokens", "correct"]
    )
    for r in sample_records(records, per_level=8):
        free = r["budgets"]["unlimited"]
        table.add_data(
            step,
            r["difficulty"],
            str(r["prompt"]),
            r["gold"],
            free["text"],
            free["reasoning_tokens"],
            free["correct"],
        )
    images = {
        f"scaling_eval/{name}": wandb.Image(str(path))
        for name, path in paths.items()
        if path.suffix == ".png"
    }
    wandb.log({**logs, **images, "scaling_eval/samples": table, "train/global_step": step})

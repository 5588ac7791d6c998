"""GRPO entry (open-r1 style): `train_grpo` reads top to bottom, recipe -> data -> rewards -> callbacks ->
TRL GRPOTrainer -> train -> save.

`thinkdial grpo --config configs/tiny/grpo.yaml [--key value ...] [--resume true]`. Everything a user
can get wrong (unknown key, missing file, reward config error, a value out of range, num_generations not
dividing the batch, a reward reading a column the data lacks, prompts too long for the model) is
refused before any model loads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from trl import GRPOConfig

from thinkdial.data.config import DataConfig, load_data_config
from thinkdial.data.sources import build_dataset
from thinkdial.errors import UsageError
from thinkdial.eval.config import GENERATIONS, EvalConfig, load_eval_config
from thinkdial.io import warn
from thinkdial.models import set_cpu_threads
from thinkdial.rewards.config import RewardConfig, load_reward_config
from thinkdial.rewards.length import LengthScaleParams
from thinkdial.rewards.metrics import BatchMetrics
from thinkdial.rewards.registry import build_reward_funcs, make_params
from thinkdial.train.grpo_trainer import ADVANTAGE_BASELINES, ThinkdialGRPOTrainer
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
from thinkdial.train.rollout import set_rollout_generation
from thinkdial.train.runner import (
    announce,
    check_prompts,
    main_process_lock,
    resume_checkpoint,
    train_and_save,
)

GRPO_COLUMNS = ("prompt", "answer", "difficulty", "source", "min_reasoning_tokens", "budget")


@dataclass
class ThinkdialGRPOConfig(ActivationCheckpointing, GRPOConfig, RecipeFields):
    """TRL's GRPOConfig plus thinkdial's data, reward, eval, health guard, limit, LoRA and published-method
    fields."""

    data_config: str = field(
        default="configs/tiny/grpo_data.yaml",
        metadata={
            "help": "Data config YAML; its train split feeds GRPO (columns answer, difficulty, ... reach rewards)."
        },
    )
    reward_config: str = field(
        default="configs/rewards/adaptive.yaml",
        metadata={
            "help": "Reward config YAML (rewards/config.py): components and their weights; validated before the model "
            "loads. (TRL's reward_weights is refused: the weights live here.)"
        },
    )
    eval_config: str | None = field(
        default=None,
        metadata={
            "help": "Eval config YAML for the in-training scaling eval (eval/callback.py); None disables it."
        },
    )
    eval_every_steps: int = field(
        default=0, metadata={"help": "Run the scaling eval every N steps (0: never)."}
    )
    health_guard: bool = field(
        default=True,
        metadata={
            "help": "Watch batch accuracy, think rate, reasoning tokens per level and entropy against the run's first "
            "steps; print one loud line (and write health.json) when training destroys the model (train/guard.py)."
        },
    )
    guard_baseline_steps: int = field(
        default=20, metadata={"help": "Optimizer steps whose logged metrics form the guard's baseline."}
    )
    guard_accuracy_drop: float = field(
        default=0.1,
        metadata={
            "help": "Absolute fall of batch accuracy (or of a level's accuracy, together with its reasoning) that trips "
            "the guard; a fall of more than half the baseline trips it too (weak starts). Below 0.1 the tiny "
            "recipe's sampling noise trips it."
        },
    )
    guard_reasoning_drop: float = field(
        default=0.5,
        metadata={
            "help": "Relative fall of a level's mean reasoning tokens that, with its accuracy falling, trips the guard."
        },
    )
    direct_exploration: float = field(
        default=0.0,
        metadata={
            "help": "Share of every group's completions made to answer directly (think block opened and closed "
            "before the model writes; AdaptThink-style exploration, train/rollout.py). 0 disables it."
        },
    )
    budget_constrained_rollouts: bool = field(
        default=False,
        metadata={
            "help": "Cut a completion still thinking past its prompt's thinking budget there, close the think block "
            "and let the model answer (Elastic Reasoning-style rollouts, train/rollout.py): budget rows stay "
            "informative on long-thinking models."
        },
    )
    budget_cut_share: float = field(
        default=1.0,
        metadata={
            "help": "With budget_constrained_rollouts: share of a group's completions past the budget that are cut "
            "(spread evenly over them, the first kept uncut); the rest keep the reward's over-budget charge, so "
            "a group contrasts stopping at the budget with running past it. 1 cuts all of them."
        },
    )
    elastic_thinking_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Elastic Reasoning's thinking budget t, in reasoning tokens, the same for every row whatever its "
            "prompt asks: a think block still open after t is cut there, closed, and answered in a second pass "
            "(train/rollout.py, E1). Needs elastic_solution_tokens; None disables it."
        },
    )
    elastic_solution_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Elastic Reasoning's solution budget s, in tokens after the closing tag: every answer keeps at "
            "most s. max_completion_length must hold t + 1 + s (+ 1 when completions open their own think block)."
        },
    )
    dynamic_sampling: bool = field(
        default=False,
        metadata={
            "help": "Leave the groups whose rewards are all equal out of the loss and the batch std (DAPO/DLER "
            "dynamic sampling, train/grpo_trainer.py). It masks them instead of generating more prompts: a step "
            "sees fewer prompts than DAPO's refilled batch."
        },
    )
    dynamic_sampling_reward: str | None = field(
        default=None,
        metadata={
            "help": "With dynamic_sampling: the reward component (its name in reward_config) whose equal values mark "
            "a group to leave out; None: the weighted total. DLER decides on correctness (its seq_reward)."
        },
    )
    advantage_baseline: str = field(
        default="group",
        metadata={
            "help": "What the advantage subtracts from a completion's reward: 'group' (GRPO: its group's mean) or "
            "'none' (the reward itself, AdaptThink's naive estimator: a reward with its own baseline, R_ref). "
            "'none' needs scale_rewards: none."
        },
    )
    select_checkpoint: bool = field(
        default=True,
        metadata={
            "help": "Hold out validation rows, validate greedily before training and every validate_every_steps, and "
            "save the latest weights acceptable against the start: significantly more rows solved, or the start's "
            "rows at no more tokens; the start's own when none is (train/select.py)."
        },
    )
    validation_rows_per_level: int = field(
        default=32,
        metadata={
            "help": "Train rows per difficulty level held out for checkpoint selection (not trained on)."
        },
    )
    validate_every_steps: int = field(
        default=50, metadata={"help": "Optimizer steps between two validations of checkpoint selection."}
    )
    selection_lost_rows: float = field(
        default=0.02,
        metadata={
            "help": "Share of validation rows (rows the start solves) a step may lose and still be acceptable when it "
            "gains as many and spends no more tokens; a significant gain in rows solved is acceptable whatever "
            "it loses."
        },
    )
    stop_on_collapse: bool = field(
        default=False,
        metadata={
            "help": "Stop training when the guard trips, naming the last checkpoint saved while healthy."
        },
    )
    generation: str = field(
        default="auto",
        metadata={
            "help": f"How transformers decodes the rollouts (use_vllm false) and checkpoint selection's validation, "
            f"one of {GENERATIONS}: 'static_compiled' preallocates the KV cache and compiles the decode step "
            "(CUDA; the first step pays the compile), 'static' only preallocates it, 'dynamic' keeps TRL's own "
            "settings (cache_implementation). 'auto': static_compiled on CUDA (static under ZeRO-3), dynamic "
            "elsewhere (eval/backends.py: generation_settings)."
        },
    )

    def __post_init__(self):
        self.use_cpu = self.use_cpu or multi_process_cpu()
        check_recipe_values(
            self,
            {
                "max_completion_length": 1,
                "num_generations": 2,
                "eval_every_steps": 0,
                "guard_baseline_steps": 1,
            },
        )
        if self.reward_weights is not None:
            raise UsageError(
                f"reward_weights: set each component's `weight` in the reward config "
                f"({self.reward_config}) instead"
            )
        check_precision(self)
        super().__post_init__()
        if self.generation not in GENERATIONS:
            raise UsageError(f"generation must be one of {GENERATIONS}, got {self.generation!r}")
        if self.cache_implementation is not None and self.generation != "dynamic":
            raise UsageError(
                f"cache_implementation ({self.cache_implementation}) and generation ({self.generation}) both set "
                "the rollouts' KV cache; set generation: dynamic to keep cache_implementation, or drop it"
            )
        for name in ("data_config", "reward_config") + (("eval_config",) if self.eval_config else ()):
            path = getattr(self, name)
            if not os.path.isfile(path):
                raise UsageError(f"{name} not found: {path}")
        if self.eval_every_steps and not self.eval_config:
            raise UsageError("eval_every_steps > 0 needs eval_config (e.g. configs/tiny/eval.yaml)")
        if self.select_checkpoint and (
            self.validation_rows_per_level < 1
            or self.validate_every_steps < 1
            or not 0 <= self.selection_lost_rows < 1
        ):
            raise UsageError(
                "checkpoint selection needs validation_rows_per_level >= 1, validate_every_steps >= 1 and "
                f"0 <= selection_lost_rows < 1; got {self.validation_rows_per_level}, {self.validate_every_steps}, "
                f"{self.selection_lost_rows} (or set select_checkpoint: false)"
            )
        if not 0 <= self.direct_exploration < 1:
            raise UsageError(f"direct_exploration must be in [0, 1), got {self.direct_exploration}")
        if not 0 < self.budget_cut_share <= 1:
            raise UsageError(f"budget_cut_share must be in (0, 1], got {self.budget_cut_share}")
        if self.budget_cut_share < 1 and not self.budget_constrained_rollouts:
            raise UsageError(
                "budget_cut_share < 1 acts on budget-constrained rollouts only: set budget_constrained_rollouts "
                "true, or leave budget_cut_share at 1"
            )
        self.check_method_fields()
        if not 0 < self.guard_accuracy_drop < 1 or not 0 < self.guard_reasoning_drop < 1:
            raise UsageError(
                "guard_accuracy_drop and guard_reasoning_drop must be in (0, 1), got "
                f"{self.guard_accuracy_drop} and {self.guard_reasoning_drop}"
            )

    def check_method_fields(self) -> None:
        """Refuse a bad combination of the published methods' fields (E1's budgets, dynamic sampling, the
        advantage baseline) with a UsageError naming the fix; return None."""
        t, s = self.elastic_thinking_tokens, self.elastic_solution_tokens
        if (t is None) != (s is None):
            raise UsageError(
                "elastic_thinking_tokens and elastic_solution_tokens go together: set both, or neither"
            )
        if t is not None:
            if t < 0 or s < 0:
                raise UsageError(f"elastic budgets must be >= 0 tokens, got thinking {t} and solution {s}")
            if self.budget_constrained_rollouts:
                raise UsageError(
                    "elastic budgets replace budget_constrained_rollouts (one cut per completion): set "
                    "budget_constrained_rollouts false"
                )
            if self.max_completion_length < t + 1 + s:
                raise UsageError(
                    f"max_completion_length ({self.max_completion_length}) must hold the thinking budget, the "
                    f"closing tag and the solution budget: set it to at least {t + 1 + s} (+ 1 when completions "
                    "open their own think block)"
                )
        if self.advantage_baseline not in ADVANTAGE_BASELINES:
            raise UsageError(
                f"advantage_baseline must be one of {ADVANTAGE_BASELINES}, got {self.advantage_baseline!r}"
            )
        if self.advantage_baseline == "none" and (self.scale_rewards != "none" or self.dynamic_sampling):
            raise UsageError(
                "advantage_baseline none uses the reward itself (AdaptThink): set scale_rewards: none and "
                "dynamic_sampling: false (a group of equal rewards still carries its reward there)"
            )
        if self.dynamic_sampling_reward is not None:
            names = [c.name for c in load_reward_config(self.reward_config).components]
            if not self.dynamic_sampling or self.dynamic_sampling_reward not in names:
                raise UsageError(
                    f"dynamic_sampling_reward ({self.dynamic_sampling_reward}) names the reward that decides "
                    f"dynamic sampling: set dynamic_sampling true and name one of {names} ({self.reward_config})"
                )

    def banner(self) -> str:
        """Return the startup line: processes and completions per generation step."""
        return (
            f"{self.world_size} process(es), {self.generation_batch_size} completions "
            f"({self.generation_batch_size // self.num_generations} prompts) per generation step"
        )

    def prompt_token_limit(self, context_tokens: int | None) -> tuple[int | None, str]:
        """Return (longest prompt in tokens, why): room for max_completion_length in the model's context."""
        return self.prompt_limit(
            context_tokens, "the model's context", self.max_completion_length, "max_completion_length"
        )


def reward_columns(reward_config: RewardConfig) -> dict[str, tuple[str, ...]]:
    """Return {reward name: dataset columns it reads} (its class's `required_columns`; none known for a plain
    reward function)."""
    from thinkdial.rewards.base import required_columns
    from thinkdial.rewards.registry import resolve

    return {c.name: required_columns(resolve(c.name)) for c in reward_config.components}


def check_length_scales(config: ThinkdialGRPOConfig, rewards: RewardConfig) -> None:
    """Compare each reward's `max_tokens` with max_completion_length; returns None. A length scale below it
    is a UsageError: the charge stops growing at the scale, so completions past it would all be charged
    alike. Any other difference is a warning: a length limit below the cap is a choice (a penalty past it),
    and a scale or limit above it only never comes into full effect (short test runs reuse a reward)."""
    cap = config.max_completion_length
    for component in rewards.components:
        params = make_params(component.name, component.params, component.warmup_steps)
        tokens = getattr(params, "max_tokens", None)
        if tokens is None or tokens == cap:
            continue
        where = f"reward '{component.name}' of {config.reward_config} has max_tokens {tokens}"
        fix = f"set its max_tokens to {cap}, or max_completion_length to {tokens}"
        if tokens < cap and isinstance(params, LengthScaleParams):
            raise UsageError(
                f"{where}, below max_completion_length {cap}: its length charge stops growing there, so "
                f"completions past {tokens} reasoning tokens would all be charged alike; {fix}"
            )
        effect = (
            f"it charges every completion past {tokens} tokens as too long"
            if tokens < cap
            else "its length term never comes into full effect"
        )
        warn(f"{where}, {'below' if tokens < cap else 'above'} max_completion_length {cap}: {effect}; {fix}")


def grpo_dataset(config: ThinkdialGRPOConfig, data: DataConfig, rewards: RewardConfig):
    """Return the GRPO train `datasets.Dataset` (prompt + the columns rewards read); a column a reward
    reads that the data lacks (absent, or empty in every row) is a UsageError."""
    ds = build_dataset(data, "train", config.train_limit)
    needs = reward_columns(rewards)
    for reward, columns in needs.items():
        for column in columns:
            if column not in ds.column_names or all(v is None for v in ds[column]):
                raise UsageError(
                    f"reward '{reward}' reads the column '{column}', which the train rows of "
                    f"{config.data_config} lack; add it to the data or drop the reward from "
                    f"{config.reward_config}"
                )
    keep = set(GRPO_COLUMNS).union(*needs.values())
    return ds.remove_columns([c for c in ds.column_names if c not in keep])


def grpo_callbacks(config: ThinkdialGRPOConfig, dataset, tokenizer, scaling_eval: EvalConfig | None):
    """Return (train dataset, callbacks): checkpoint selection (which takes its validation rows out of the
    dataset), the health guard and the scaling eval, as the recipe turns them on."""
    callbacks = []
    if config.select_checkpoint:
        import datasets

        from thinkdial.train.select import CheckpointSelector, split_validation

        rows, validation = split_validation(dataset.to_list(), config.validation_rows_per_level)
        dataset = datasets.Dataset.from_list(rows)
        callbacks.append(
            CheckpointSelector(
                validation,
                tokenizer,
                config.validate_every_steps,
                config.selection_lost_rows,
                config.max_completion_length,
                config.output_dir,
                config.generation,
            )
        )
    if config.health_guard:
        from thinkdial.train.guard import GuardSettings, HealthGuardCallback

        settings = GuardSettings(
            baseline_steps=config.guard_baseline_steps,
            accuracy_drop=config.guard_accuracy_drop,
            reasoning_drop=config.guard_reasoning_drop,
            stop_on_collapse=config.stop_on_collapse,
        )
        callbacks.append(HealthGuardCallback(settings, config.output_dir))
    if scaling_eval is not None and config.eval_every_steps:
        from thinkdial.eval.callback import ScalingEvalCallback

        callbacks.append(
            ScalingEvalCallback(
                scaling_eval, tokenizer, config.eval_every_steps, os.path.join(config.output_dir, "eval")
            )
        )
    return dataset, callbacks


def grpo_rollout(config: ThinkdialGRPOConfig, data: DataConfig, tokenizer):
    """Return thinkdial's rollout function when the recipe asks for direct exploration, budget-constrained
    rollouts or elastic budgets, else None (TRL's own generation)."""
    if not (
        config.direct_exploration
        or config.budget_constrained_rollouts
        or config.elastic_thinking_tokens is not None
    ):
        return None
    from thinkdial.train.rollout import ThinkdialRollout

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func: checked against the pinned TRL
    return ThinkdialRollout(
        tokenizer,
        config.num_generations,
        config.direct_exploration,
        config.budget_constrained_rollouts,
        data.dial.effort_budgets if data.dial else None,
        config.budget_cut_share,
        config.elastic_thinking_tokens,
        config.elastic_solution_tokens,
    )


def train_grpo(config: ThinkdialGRPOConfig) -> str:
    """Train with GRPO; return config.output_dir, which holds the final model and tokenizer."""
    hide_secrets(config)
    set_cpu_threads(config.cpu_threads)
    data = load_data_config(config.data_config)
    rewards = load_reward_config(config.reward_config)
    check_length_scales(config, rewards)
    scaling_eval = load_eval_config(config.eval_config) if config.eval_config else None
    with main_process_lock(config):
        resume_from = resume_checkpoint(config)
        announce(config, "grpo")
        check_environment(config)
        dataset = grpo_dataset(config, data, rewards)
        model_path, tokenizer = prepare_policy_files(config)
        check_prompts(dataset, tokenizer, config.prompt_token_limit(context_tokens(config, model_path)), data)
        reward_funcs, weights = build_reward_funcs(rewards, tokenizer)
        reward_funcs, config.reward_weights = [*reward_funcs, BatchMetrics(tokenizer)], [*weights, 0.0]
        dataset, callbacks = grpo_callbacks(config, dataset, tokenizer, scaling_eval)
        trainer = ThinkdialGRPOTrainer(
            model=load_model(config, model_path),
            reward_funcs=reward_funcs,
            rollout_func=grpo_rollout(config, data, tokenizer),
            args=config,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft_config(config),
            callbacks=callbacks,
        )
        set_rollout_generation(trainer, config.generation)
        if config.process_index == 0:
            save_run_config(config, config.output_dir, "grpo_config")
        train_and_save(trainer, tokenizer, resume_from)
    return config.output_dir

"""Checkpoint selection on held-out validation rows: a GRPO run does no harm to its start.

Before the first step and every `validate_every_steps` steps, the live model answers the validation rows
greedily (the eval's backend, decoding as the final eval does). A row counts as solved when the answer
is right and, for a row with a thinking budget, the reasoning fits it. A step's weights are acceptable
when, on those rows against the start,

- they solve significantly more of them: paired z = (b - c) / sqrt(b + c) >= `Z_BETTER`, with b the rows
  only they solve and c the rows only the start solves (McNemar's statistic); or
- they lose (almost) none of the rows the start solves (c <= `lost_rows` x rows), solve at least as many
  (b >= c) and spend no more reasoning tokens (within `TOKEN_SLACK`): the same answers, at most as dear.
  Without the token condition, a run on a weak start that answered directly (0 tokens, 11.7% solved) kept
  weights that reasoned 8 tokens a row (32 on the hardest levels) for exactly the start's rows (measured,
  experiments/generality.py, pointerchain seed 0).

The run saves the latest acceptable weights (the end of training puts them back): normally its final
ones; those of an earlier step when training later made things worse; the start's when no step was
acceptable, as when the updates only re-shuffled a weak start's lucky guesses (same accuracy, other rows:
on the held-out test rows such a model moves every level by several points either way). `selection.json`
lists every validation and says which step was kept and why. The kept weights live in host memory (the
trainable parameters only: for LoRA, the adapter); a resumed run starts selecting afresh.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import TrainerCallback

from thinkdial.data.completion import parse_completion
from thinkdial.errors import UsageError
from thinkdial.eval.backends import TransformersBackend
from thinkdial.eval.budget import encode_prompts
from thinkdial.eval.config import EvalConfig
from thinkdial.io import write_atomic
from thinkdial.rewards.correctness import is_correct

Z_BETTER = 3.0  # paired z of a significant gain (one-sided; several validations are compared)
TOKEN_SLACK = 0.05  # a step that is not significantly better may spend up to 5% more tokens than the start
MAX_ANSWER_TOKENS = 16  # answer tokens decoded after the think block


@dataclass
class Validation:
    """One greedy pass over the validation rows."""

    step: int
    solved: list[bool]
    reasoning_tokens: list[int]

    @property
    def accuracy(self) -> float:
        """Return the share of rows solved."""
        return sum(self.solved) / len(self.solved)

    @property
    def tokens_mean(self) -> float:
        """Return the mean reasoning tokens per row."""
        return sum(self.reasoning_tokens) / len(self.reasoning_tokens)


@dataclass
class Decision:
    """Whether a step's weights are acceptable against the start, and why."""

    better: bool
    reason: str
    numbers: dict = field(default_factory=dict)


def compare(candidate: Validation, start: Validation, lost_rows: float) -> Decision:
    """Return the Decision of the module docstring for `candidate` against `start` (same rows, same order)."""
    gained = sum(a and not b for a, b in zip(candidate.solved, start.solved, strict=True))
    lost = sum(b and not a for a, b in zip(candidate.solved, start.solved, strict=True))
    z = (gained - lost) / math.sqrt(gained + lost) if gained + lost else 0.0
    saving = 1 - candidate.tokens_mean / start.tokens_mean if start.tokens_mean else 0.0
    numbers = {
        "gained_rows": gained,
        "lost_rows": lost,
        "paired_z": round(z, 3),
        "token_saving": round(saving, 4),
    }
    if z >= Z_BETTER:
        return Decision(True, f"solves significantly more rows than the start (z = {z:.2f})", numbers)
    dearer = candidate.tokens_mean > start.tokens_mean * (1 + TOKEN_SLACK)
    if lost <= lost_rows * len(start.solved) and gained >= lost and not dearer:
        return Decision(
            True,
            f"solves the start's rows ({lost} lost, {gained} gained; {saving:+.0%} tokens saved)",
            numbers,
        )
    if dearer and gained >= lost:
        return Decision(
            False,
            f"spends more tokens for no significant gain ({candidate.tokens_mean:.1f} vs the start's "
            f"{start.tokens_mean:.1f}; {lost} lost, {gained} gained)",
            numbers,
        )
    return Decision(
        False, f"re-shuffles or loses the start's rows ({lost} lost, {gained} gained, z = {z:.2f})", numbers
    )


def validate(
    model, tokenizer, rows: list[dict], max_reasoning_tokens: int, step: int, generation: str = "auto"
) -> Validation:
    """Return the greedy Validation of `model` on `rows` (prompt, answer, optional budget) at `step`, decoded
    as `generation` says (eval/config.py's field of that name)."""
    config = EvalConfig(
        budgets=[0],
        max_reasoning_tokens=max_reasoning_tokens,
        max_answer_tokens=MAX_ANSWER_TOKENS,
        generation=generation,
        progress=False,
    )
    backend = TransformersBackend(model, tokenizer, config)
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng():
            gens = backend.generate(
                encode_prompts(tokenizer, [r["prompt"] for r in rows]),
                max_reasoning_tokens + MAX_ANSWER_TOKENS + 2,
                desc="validation",
            )
    finally:
        model.train(was_training)
    texts = tokenizer.batch_decode(gens, skip_special_tokens=True)
    parsed = [parse_completion(t) for t in texts]
    tokens = [
        len(ids) for ids in tokenizer([p.reasoning for p in parsed], add_special_tokens=False)["input_ids"]
    ]
    solved = [
        bool(is_correct(p.answer, str(r["answer"]))) and (r.get("budget") is None or n <= r["budget"])
        for p, r, n in zip(parsed, rows, tokens, strict=True)
    ]
    return Validation(step, solved, tokens)


def split_validation(rows: list[dict], per_level: int) -> tuple[list[dict], list[dict]]:
    """Return (train rows, validation rows): the first `per_level` rows of every difficulty level go to
    validation and out of training. Holding out more than half of the rows is a UsageError: a run would
    train on (almost) nothing."""
    taken: dict = {}
    train, validation = [], []
    for row in rows:
        level = row.get("difficulty")
        if taken.get(level, 0) < per_level:
            taken[level] = taken.get(level, 0) + 1
            validation.append(row)
        else:
            train.append(row)
    if len(validation) > len(train):
        raise UsageError(
            f"checkpoint selection holds out {per_level} rows per level ({len(validation)} of {len(rows)} "
            f"train rows), leaving {len(train)} to train on; lower validation_rows_per_level, use more rows "
            "(train_limit) or set select_checkpoint false"
        )
    return train, validation


def _trainable_state(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().to("cpu", copy=True) for name, p in model.named_parameters() if p.requires_grad}


class CheckpointSelector(TrainerCallback):
    """Keep the latest acceptable weights (see the module docstring); put them back at the end."""

    def __init__(
        self,
        rows: list[dict],
        tokenizer,
        every_steps: int,
        lost_rows: float,
        max_reasoning_tokens: int,
        output_dir: str,
        generation: str = "auto",
    ):
        self.rows, self.tokenizer, self.every_steps, self.lost_rows = rows, tokenizer, every_steps, lost_rows
        self.max_reasoning_tokens, self.output_dir = max_reasoning_tokens, Path(output_dir)
        self.generation = generation
        self.start: Validation | None = None
        self.kept: Validation | None = None
        self.kept_state: dict[str, torch.Tensor] | None = None
        self.history: list[dict] = []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.consider(model, state.global_step, args)
        return control

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every_steps == 0:
            self.consider(model, state.global_step, args)
        return control

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every_steps:
            self.consider(model, state.global_step, args)
        if self.kept is not None and self.kept.step != state.global_step:
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if name in self.kept_state:
                        p.copy_(self.kept_state[name].to(p.device, p.dtype))
        self.report(args)
        return control

    def consider(self, model, step: int, args) -> None:
        """Validate `model` now (main process), and keep its weights when acceptable against the start (every
        process)."""
        result = (
            validate(model, self.tokenizer, self.rows, self.max_reasoning_tokens, step, self.generation)
            if args.process_index == 0
            else None
        )
        decision = Decision(True, "the start") if self.start is None else None
        if decision is None and result is not None:
            decision = compare(result, self.start, self.lost_rows)
        result, decision = _broadcast((result, decision))
        if self.start is None:
            self.start = result
        entry = {
            "step": step,
            "accuracy": result.accuracy,
            "reasoning_tokens_mean": result.tokens_mean,
            "kept": decision.better,
            "reason": decision.reason,
            **decision.numbers,
        }
        self.history.append(entry)
        if decision.better:
            self.kept, self.kept_state = result, _trainable_state(model)
        if args.process_index == 0:
            print(
                f"selection: step {step}: accuracy {result.accuracy:.3f}, {result.tokens_mean:.1f} reasoning "
                f"tokens -> {'kept' if decision.better else 'not kept'} ({decision.reason})",
                file=sys.stderr,
            )
            self.report(args)

    def report(self, args) -> None:
        """Write selection.json (main process): every validation and the step whose weights are kept."""
        if args.process_index != 0 or self.kept is None:
            return
        kept = next(e for e in reversed(self.history) if e["step"] == self.kept.step and e["kept"])
        summary = {
            "kept_step": self.kept.step,
            "kept_because": kept["reason"],
            "validation_rows": len(self.rows),
            "validations": self.history,
        }
        write_atomic(self.output_dir / "selection.json", json.dumps(summary, indent=2) + "\n")


def _broadcast(obj):
    """Return the main process's `obj` on every process (as is with one process)."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]

"""Checkpoint selection on held-out validation rows: a GRPO run does no harm to its start.

Before the first step and every `validate_every_steps` steps, the live model answers the validation rows
greedily (the eval's backend, decoding as the final eval does). A row counts as solved when the answer
is right and, for a row with a thinking budget, the reasoning fits it. A step's weights are acceptable
when, on those rows against the start,

- they solve significantly more of them: paired z = (b - c) / sqrt(b + c) >= `Z_BETTER`, with b the rows
  only they solve and c the rows only the start solves (McNemar's statistic); or
- they lose (almost) none of the rows the start solves (c <= `lost_rows` x rows), solve at least as many
  (b >= c) and spend no more reasoning tokens (within `TOKEN_SLACK`): the same answers, at most as dear
  (without the token condition a weak start's run kept weights that reasoned more for the same rows).

The run saves the latest acceptable weights (the end of training puts them back): normally its final
ones; those of an earlier step when training later made things worse; the start's when no step was
acceptable, as when the updates only re-shuffled a weak start's lucky guesses (same accuracy, other rows:
on the held-out test rows such a model moves every level by several points either way). `selection.json`
lists every validation and says which step was kept and why. The kept weights live in host memory (the
trainable parameters only: for LoRA, the adapter); a resumed run starts selecting afresh.

Before the first step the start also answers the validation rows directly (`direct_answers`, the eval's
budget 0), and one warning line names the levels where its accuracy is within noise of chance or of those
direct answers (`chance_warning`): GRPO cannot improve what the start has not learned. SFT trains to
convergence on the same validation (`ConvergenceStop`).
"""

from __future__ import annotations

import json
import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import TrainerCallback

from thinkdial.data.completion import parse_completion
from thinkdial.data.synthetic import chance_accuracy
from thinkdial.errors import UsageError
from thinkdial.eval.backends import TransformersBackend
from thinkdial.eval.budget import budget_completions, encode_prompts
from thinkdial.eval.config import EvalConfig
from thinkdial.io import warn, write_atomic
from thinkdial.rewards.correctness import is_correct

Z_BETTER = 3.0  # paired z of a significant gain (one-sided; several validations are compared)
Z_IMPROVED = 2.0  # SFT: paired z of a gain over the last significant one that resets the patience
Z_NOISE = 2.0  # a level's accuracy is within noise of a reference when its one-sided z is below this
LEARNED = 0.9  # a level solved this often has been learned, however well it is also answered directly
NO_REASONING_TOKENS = 0.5  # a level whose mean reasoning tokens are below this is answered without reasoning
HELDOUT = "heldout.json"  # SFT's held-out figures, in the run folder
TOKEN_SLACK = 0.05  # a step that is not significantly better may spend up to 5% more tokens than the start
MAX_ANSWER_TOKENS = 16  # answer tokens decoded after the think block


@dataclass
class Validation:
    """One greedy pass over the validation rows."""

    step: int
    solved: list[bool]
    reasoning_tokens: list[int]
    direct_solved: list[bool] | None = None  # the same rows answered directly (budget 0), when asked for

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


def paired_z(solved: list[bool], reference: list[bool]) -> tuple[int, int, float]:
    """Return (rows only `solved` solves, rows only `reference` solves, McNemar's paired z of the first over the
    second: 0 when no row differs) for two passes over the same rows, in the same order."""
    gained = sum(a and not b for a, b in zip(solved, reference, strict=True))
    lost = sum(b and not a for a, b in zip(solved, reference, strict=True))
    return gained, lost, (gained - lost) / math.sqrt(gained + lost) if gained + lost else 0.0


def compare(candidate: Validation, start: Validation, lost_rows: float) -> Decision:
    """Return the Decision of the module docstring for `candidate` against `start` (same rows, same order)."""
    gained, lost, z = paired_z(candidate.solved, start.solved)
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
    with _inference(model):
        gens = backend.generate(
            encode_prompts(tokenizer, [r["prompt"] for r in rows]),
            max_reasoning_tokens + MAX_ANSWER_TOKENS + 2,
            desc="validation",
        )
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


def direct_answers(model, tokenizer, rows: list[dict]) -> list[bool]:
    """Return, per row of `rows` (prompt, answer), whether `model` answers it right when made to answer
    directly: the eval's budget 0 (eval/budget.py: `<think></think>` after the prompt), greedy."""
    config = EvalConfig(
        budgets=[0], max_reasoning_tokens=1, max_answer_tokens=MAX_ANSWER_TOKENS, progress=False
    )
    with _inference(model):
        forced = budget_completions(
            TransformersBackend(model, tokenizer, config), [r["prompt"] for r in rows], config, budgets=[0]
        )
    return [bool(is_correct(c[0].answer, str(r["answer"]))) for c, r in zip(forced, rows, strict=True)]


@contextmanager
def _inference(model):
    """Run the block with `model` in eval mode and the RNG state restored after, so training is not perturbed."""
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng():
            yield
    finally:
        model.train(was_training)


def split_validation(
    rows: list[dict], per_level: int, plain_only: bool = False
) -> tuple[list[dict], list[dict]]:
    """Return (train rows, validation rows): the first `per_level` rows of every difficulty level (with
    `plain_only`, of its rows without a budget or effort level: the eval's free decoding) go to validation
    and out of training. Holding out more than half of the rows is a UsageError: a run would train on
    (almost) nothing."""
    taken: dict = {}
    train, validation = [], []
    for row in rows:
        level = row.get("difficulty")
        dialled = row.get("budget") is not None or row.get("effort") is not None
        if taken.get(level, 0) < per_level and not (plain_only and dialled):
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


def _local(p: torch.Tensor) -> torch.Tensor:
    # DeepSpeed ZeRO-3: this process's shard (the parameter itself is empty between forward passes)
    return getattr(p, "ds_tensor", p)


def _trainable_state(model) -> dict[str, torch.Tensor]:
    return {
        name: _local(p).detach().to("cpu", copy=True)
        for name, p in model.named_parameters()
        if p.requires_grad
    }


def _restore(model, state: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in state:
                _local(p).copy_(state[name].to(_local(p).device, _local(p).dtype))


def validating(args) -> bool:
    """Return whether this process answers the validation rows: the main one; under DeepSpeed ZeRO-3 every one,
    since each forward pass gathers the sharded weights from all of them (they run in step)."""
    from transformers.integrations import is_deepspeed_zero3_enabled

    return args.process_index == 0 or is_deepspeed_zero3_enabled()


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
            _restore(model, self.kept_state)
        self.report(args)
        return control

    def consider(self, model, step: int, args) -> None:
        """Validate `model` now (main process), and keep its weights when acceptable against the start (every
        process)."""
        result = (
            validate(model, self.tokenizer, self.rows, self.max_reasoning_tokens, step, self.generation)
            if validating(args)
            else None
        )
        if self.start is None and result is not None:  # say before training whether the start is at chance
            result.direct_solved = direct_answers(model, self.tokenizer, self.rows)
            if args.process_index == 0:
                warn_at_chance(level_figures(result, self.rows), "GRPO's start")
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


def level_figures(result: Validation, rows: list[dict]) -> dict[str, dict]:
    """Return, per difficulty level of `rows` (easiest first, keyed as results.json keys levels), the figures of
    `result`, a validation with direct answers: rows, accuracy, accuracy_direct, reasoning_tokens_mean,
    chance_accuracy (synthetic families; else None) and at_chance: the accuracy is within noise of chance
    (binomial z < Z_NOISE) or, below LEARNED, of the same rows' direct answers (paired z < Z_NOISE)."""
    by_level: dict = {}
    for i, row in enumerate(rows):
        by_level.setdefault(row["difficulty"], []).append(i)
    figures = {}
    for level in sorted(by_level, key=float):
        index = by_level[level]
        solved = [result.solved[i] for i in index]
        direct = [result.direct_solved[i] for i in index]
        n, accuracy = len(index), sum(solved) / len(index)
        chance = chance_accuracy(rows[index[0]].get("source"))
        near_chance = (
            chance is not None and (sum(solved) - n * chance) / math.sqrt(n * chance * (1 - chance)) < Z_NOISE
        )
        near_direct = accuracy < LEARNED and paired_z(solved, direct)[2] < Z_NOISE
        figures[str(level)] = {
            "rows": n,
            "accuracy": accuracy,
            "accuracy_direct": sum(direct) / n,
            "reasoning_tokens_mean": sum(result.reasoning_tokens[i] for i in index) / n,
            "chance_accuracy": chance,
            "at_chance": near_chance or near_direct,
        }
    return figures


def chance_warning(figures: dict[str, dict], start: str) -> str | None:
    """Return the one line that says at which levels of `figures` (`level_figures`) the start named `start` is
    at chance, with the figures, and what to do; None when it is at chance nowhere."""
    weak = {level: f for level, f in figures.items() if f["at_chance"]}
    if not weak:
        return None
    shown = "; ".join(
        f"level {level} {f['accuracy']:.3f}"
        + (f", chance {f['chance_accuracy']:.3f}" if f["chance_accuracy"] is not None else "")
        + f", direct {f['accuracy_direct']:.3f}, {f['rows']} rows"
        for level, f in weak.items()
    )
    if all(f["reasoning_tokens_mean"] < NO_REASONING_TOKENS for f in weak.values()):
        # greedy decoding picks `</think>` first when the task's reasoning starts with many different tokens
        tokens = max(f["reasoning_tokens_mean"] for f in weak.values())
        advice = (
            f"it answers without reasoning there (at most {tokens:.1f} reasoning tokens a row: greedy decoding "
            "closes the thought at once); give SFT fewer direct rows (the data config's reasoning_styles), then "
            "train it again"
        )
    else:
        advice = "train SFT longer (raise max_steps), add train rows, or take a bigger model"
    return (
        f"{start} is no better than chance or a forced direct answer at {len(weak)} of {len(figures)} levels "
        f"(held-out accuracy: {shown}): GRPO has nothing to build on there; {advice}"
    )


def warn_at_chance(figures: dict[str, dict], start: str) -> None:
    """Print `chance_warning`'s line as a warning when there is one; return None."""
    line = chance_warning(figures, start)
    if line:
        warn(line)


class ConvergenceStop(TrainerCallback):
    """SFT to convergence on held-out rows (train rows the run does not train on).

    Before the first step and every `every_steps` steps the live model answers `rows` greedily and directly
    (`validate`, `direct_answers`); the run keeps the weights that solve the most rows (the latest of equals).
    Once `patience_steps` have passed since the last significant gain (paired z >= Z_IMPROVED over the
    validation of the gain before) while the model is off chance at some level (`level_figures`: a plateau at
    chance is not convergence), or `decay_steps` before max_steps, the learning rate decays linearly to 0 over
    `decay_steps` (up to max_steps) and the run stops there; it stops at once when it solves every row. The end puts the kept
    weights back; HELDOUT (written at every validation) holds their figures per level and every validation,
    and a start at chance is warned about."""

    def __init__(
        self,
        rows: list[dict],
        tokenizer,
        every_steps: int,
        patience_steps: int,
        decay_steps: int,
        max_reasoning_tokens: int,
        output_dir: str,
    ):
        self.rows, self.tokenizer, self.every_steps = rows, tokenizer, every_steps
        self.patience_steps, self.decay_steps = patience_steps, decay_steps
        self.max_reasoning_tokens, self.output_dir = max_reasoning_tokens, Path(output_dir)
        self.best: Validation | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.gain: Validation | None = None  # the validation of the last significant gain
        self.latest: Validation | None = None
        self.decay_end: int | None = None
        self.stopped = "running"
        self.history: list[dict] = []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.consider(model, state.global_step, args, control)
        return control

    def on_step_end(self, args, state, control, model=None, lr_scheduler=None, **kwargs):
        step = state.global_step
        if step % self.every_steps == 0:
            self.consider(model, step, args, control)
        end = min(step + self.decay_steps, state.max_steps)
        if self.decay_end is None and not control.should_training_stop:
            if step >= state.max_steps - self.decay_steps:
                self.decay(lr_scheduler, step, end, f"max_steps ({state.max_steps})")
            elif step % self.every_steps == 0 and self.converged(step):
                self.decay(lr_scheduler, step, end, f"no significant gain since step {self.gain.step}")
        if self.decay_end is not None and step >= self.decay_end:
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self.history[-1]["step"] != state.global_step:
            self.consider(model, state.global_step, args, control)
        if self.best.step != state.global_step:
            _restore(model, self.best_state)
        if args.process_index == 0:
            warn_at_chance(level_figures(self.best, self.rows), "the SFT start")
        return control

    def converged(self, step: int) -> bool:
        """Return whether `patience_steps` have passed since the last significant gain while the model is off
        chance at some level (its latest validation)."""
        off_chance = not all(f["at_chance"] for f in level_figures(self.latest, self.rows).values())
        return step - self.gain.step >= self.patience_steps and off_chance

    def decay(self, lr_scheduler, step: int, end: int, why: str) -> None:
        """Make the learning rate fall linearly from its value at `step` to 0 at step `end` (the Trainer's
        LambdaLR schedule, every process), where the run stops; return None."""
        lr_scheduler.lr_lambdas = [
            _falling(schedule(step), step, end) for schedule in lr_scheduler.lr_lambdas
        ]
        self.decay_end, self.stopped = end, f"{why}: learning rate decayed to 0 over steps {step}-{end}"
        if self.history[-1]["step"] == step:
            self.report()

    def consider(self, model, step: int, args, control) -> None:
        """Validate `model` now (the processes `validating` names), keep its weights when they solve the most
        rows so far, and stop the run when they solve every row (every process)."""
        result = None
        if validating(args):
            result = validate(model, self.tokenizer, self.rows, self.max_reasoning_tokens, step)
            result.direct_solved = direct_answers(model, self.tokenizer, self.rows)
        self.latest = result = _broadcast(result)
        if self.best is None or sum(result.solved) >= sum(self.best.solved):
            self.best, self.best_state = result, _trainable_state(model)
        if self.gain is None or paired_z(result.solved, self.gain.solved)[2] >= Z_IMPROVED:
            self.gain = result
        if all(result.solved):
            control.should_training_stop = True
            self.stopped = f"every held-out row solved at step {step}"
        self.history.append(
            {
                "step": step,
                "accuracy": result.accuracy,
                "accuracy_direct": sum(result.direct_solved) / len(result.direct_solved),
                "reasoning_tokens_mean": result.tokens_mean,
                "best_step": self.best.step,
                "last_gain_step": self.gain.step,
            }
        )
        if args.process_index == 0:
            print(
                f"convergence: step {step}: accuracy {result.accuracy:.3f}, {result.tokens_mean:.1f} reasoning "
                f"tokens; most rows solved at step {self.best.step}, last significant gain at step "
                f"{self.gain.step}",
                file=sys.stderr,
            )
            self.report()

    def report(self) -> None:
        """Write HELDOUT: the kept step, how the run ended, the kept weights' figures per level, every
        validation."""
        summary = {
            "kept_step": self.best.step,
            "stopped": self.stopped,
            "validation_rows": len(self.rows),
            "levels": level_figures(self.best, self.rows),
            "validations": self.history,
        }
        write_atomic(self.output_dir / HELDOUT, json.dumps(summary, indent=2) + "\n")


def _falling(share: float, start: int, end: int):
    """Return the schedule that falls linearly from `share` at step `start` to 0 at step `end`."""
    return lambda step: share * max(0.0, (end - step) / (end - start))

"""Training health guard: watch GRPO's batch accuracy, think rate, reasoning tokens per level and entropy
against the first steps of the run, and say loudly when training is destroying the model.

The GRPO entry's batch-metrics logger (`BatchMetrics`, rewards/metrics.py, not a reward) logs `accuracy`,
`think_rate`, `reasoning_tokens` and `level_<k>/<metric>` for every batch; TRL logs `entropy`. Every
`logging_steps` the guard compares the mean of its last `window_logs` log events with the baseline (the log
events up to `baseline_steps`). It trips when

- the batch accuracy fell by more than `accuracy_drop` (absolute; or by more than half its baseline when
  that is less: a weak start at 5% accuracy that falls to 0 has lost everything), or
- on some level, accuracy fell by that much while reasoning tokens fell by more than `reasoning_drop`
  (relative): the model stopped thinking where thinking was paying;

and in either case the fall is beyond sampling noise: more than `NOISE_Z` standard errors of the difference
of two proportions, counted in prompts (the completions behind the baseline and the window, as the reward
logs them, divided by `completions_per_prompt`: a group's completions share their prompt, and whether a
prompt is solvable at all moves them together; counted in completions, the sampling noise of a level with
one or two prompts a step tripped the guard on healthy demo runs).

It then prints one line on stderr with the numbers and the last checkpoint saved while healthy, logs
`health/*` to wandb when a run is active, writes `health.json` in the output folder, and with
`stop_on_collapse` stops training.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from transformers import TrainerCallback

from thinkdial.io import write_atomic

OVERALL = ("accuracy", "think_rate", "reasoning_tokens", "entropy")
NOISE_Z = 2.5  # standard errors a fall must exceed
LEVEL_METRICS = ("accuracy", "think_rate", "reasoning_tokens")


@dataclass
class GuardSettings:
    """Thresholds of the health guard (the GRPO recipe's `guard_*` fields)."""

    baseline_steps: int = 20
    window_logs: int = 2
    accuracy_drop: float = 0.1
    reasoning_drop: float = 0.5
    stop_on_collapse: bool = False
    steps_per_log: int = 1  # optimizer steps behind one log event (the trainer's logging_steps)
    completions_per_prompt: int = 1  # the group size (num_generations): completions of one prompt


@dataclass
class Verdict:
    """The guard's finding at one log event."""

    step: int
    tripped: bool
    reasons: list[str] = field(default_factory=list)
    numbers: dict[str, tuple[float, float]] = field(default_factory=dict)  # metric -> (baseline, now)

    def line(self, last_healthy: str | None) -> str:
        """Return the one loud line that reports a tripped verdict."""
        entropy = self.numbers.get("entropy")
        shown = "; ".join(self.reasons)
        if entropy:
            shown += f"; entropy {entropy[0]:.3f} -> {entropy[1]:.3f}"
        where = last_healthy or "none saved yet (lower save_steps to keep one)"
        return (
            f"thinkdial grpo: HEALTH GUARD at step {self.step}: {shown} (baseline: the first steps of this run). "
            f"Last healthy checkpoint: {where}."
        )


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return math.fsum(present) / len(present) if present else None


class HealthGuard:
    """The guard's state: the baseline and the recent log events, fed one log dict at a time."""

    def __init__(self, settings: GuardSettings):
        self.settings = settings
        self.baseline: list[dict] = []
        self.recent: list[dict] = []
        self.tripped_at: int | None = None
        self.first_trip: Verdict | None = None
        self.last: Verdict | None = None

    def observe(self, step: int, logs: dict) -> Verdict | None:
        """Take the metrics logged at `step`; return a Verdict once the baseline is complete, else None."""
        if "accuracy" not in logs:
            return None
        if step <= self.settings.baseline_steps or not self.baseline:
            self.baseline.append(logs)
            return None
        self.recent = (self.recent + [logs])[-self.settings.window_logs :]
        if len(self.recent) < self.settings.window_logs:
            return None
        self.last = self.judge(step)
        if self.last.tripped and self.tripped_at is None:
            self.tripped_at, self.first_trip = step, self.last
        return self.last

    def _pair(self, key: str) -> tuple[float, float] | None:
        before, now = _mean([b.get(key) for b in self.baseline]), _mean([r.get(key) for r in self.recent])
        return None if before is None or now is None else (before, now)

    def _count(self, logs: list[dict], key: str) -> float | None:
        counts = [e.get(key) for e in logs]
        if any(c is None for c in counts):
            return None
        return sum(counts) * self.settings.steps_per_log / self.settings.completions_per_prompt

    def fell(self, accuracy: tuple[float, float], prefix: str = "") -> bool:
        """Return whether accuracy (baseline, now) fell by more than `accuracy_drop` (or than half the baseline)
        and by more than NOISE_Z standard errors given the prompts behind it (from `{prefix}completions`)."""
        before, now = accuracy
        if before - now <= min(self.settings.accuracy_drop, 0.5 * before):
            return False
        n_before, n_now = (
            self._count(self.baseline, f"{prefix}completions"),
            self._count(self.recent, f"{prefix}completions"),
        )
        if not n_before or not n_now:
            return True
        pooled = (before * n_before + now * n_now) / (n_before + n_now)
        return before - now > NOISE_Z * math.sqrt(pooled * (1 - pooled) * (1 / n_before + 1 / n_now))

    def judge(self, step: int) -> Verdict:
        """Return the verdict of the recent window against the baseline."""
        s, verdict = self.settings, Verdict(step=step, tripped=False)
        for key in OVERALL:
            pair = self._pair(key)
            if pair:
                verdict.numbers[key] = pair
        accuracy = verdict.numbers.get("accuracy")
        if accuracy and self.fell(accuracy):
            verdict.reasons.append(f"batch accuracy {accuracy[0]:.3f} -> {accuracy[1]:.3f}")
        for level in sorted(
            {k.split("/")[0] for k in self.baseline[0] if k.startswith("level_")}, key=_level_order
        ):
            pairs = {m: self._pair(f"{level}/{m}") for m in LEVEL_METRICS}
            verdict.numbers.update({f"{level}/{m}": p for m, p in pairs.items() if p})
            acc, tokens, think = pairs["accuracy"], pairs["reasoning_tokens"], pairs["think_rate"]
            if (
                acc
                and tokens
                and self.fell(acc, f"{level}/")
                and tokens[1] < (1 - s.reasoning_drop) * tokens[0]
            ):
                think_text = f", think rate {think[0]:.2f} -> {think[1]:.2f}" if think else ""
                verdict.reasons.append(
                    f"{level.replace('_', ' ')}: accuracy {acc[0]:.3f} -> {acc[1]:.3f}, reasoning "
                    f"{tokens[0]:.1f} -> {tokens[1]:.1f} tokens{think_text}"
                )
        verdict.tripped = bool(verdict.reasons)
        return verdict


def _level_order(name: str) -> float:
    try:
        return float(name.removeprefix("level_"))
    except ValueError:
        return math.inf


class HealthGuardCallback(TrainerCallback):
    """Run a HealthGuard on the trainer's logs (main process prints; every process stops together)."""

    def __init__(self, settings: GuardSettings, output_dir: str):
        self.guard = HealthGuard(settings)
        self.output_dir = Path(output_dir)
        self.last_healthy: str | None = None

    def on_save(self, args, state, control, **kwargs):
        if self.guard.tripped_at is None:
            self.last_healthy = str(self.output_dir / f"checkpoint-{state.global_step}")
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.guard.settings.steps_per_log = max(1, int(args.logging_steps))
        self.guard.settings.completions_per_prompt = max(1, int(getattr(args, "num_generations", 1) or 1))
        verdict = self.guard.observe(state.global_step, logs or {})
        if verdict is None:
            return control
        if verdict.tripped and self.guard.tripped_at == state.global_step:
            if state.is_world_process_zero:
                print(verdict.line(self.last_healthy), file=sys.stderr, flush=True)
                _log_wandb(verdict)
            if self.guard.settings.stop_on_collapse:
                control.should_training_stop = True
        if state.is_world_process_zero:
            self.write(verdict)
        return control

    def write(self, verdict: Verdict) -> None:
        """Write health.json (the latest verdict, the first trip and its reasons, the last healthy
        checkpoint)."""
        first = self.guard.first_trip
        report = {
            "step": verdict.step,
            "tripped_at_step": self.guard.tripped_at,
            "tripped_reasons": first.reasons if first else [],
            "healthy_now": not verdict.tripped,
            "reasons": verdict.reasons,
            "last_healthy_checkpoint": self.last_healthy,
            "numbers": {k: {"baseline": v[0], "now": v[1]} for k, v in verdict.numbers.items()},
        }
        write_atomic(self.output_dir / "health.json", json.dumps(report, indent=2) + "\n")


def _log_wandb(verdict: Verdict) -> None:
    wandb = sys.modules.get("wandb")
    if wandb is None or wandb.run is None:
        return
    wandb.log(
        {
            "health/tripped": 1.0,
            "train/global_step": verdict.step,
            **{f"health/{k}/baseline": v[0] for k, v in verdict.numbers.items()},
            **{f"health/{k}/now": v[1] for k, v in verdict.numbers.items()},
        }
    )

"""The training health guard: quiet while training helps, one loud line when it destroys the model."""

from __future__ import annotations

from thinkdial.train.guard import GuardSettings, HealthGuard


def logs(accuracy, level_accuracy=None, level_tokens=None, entropy=0.5, think_rate=1.0):
    """One log event of the reward metrics: overall accuracy, and level 5's accuracy and tokens."""
    out = {"accuracy": accuracy, "think_rate": think_rate, "reasoning_tokens": 10.0, "entropy": entropy}
    if level_accuracy is not None:
        out.update({"level_5/accuracy": level_accuracy, "level_5/reasoning_tokens": level_tokens,
                    "level_5/think_rate": think_rate})
    return out


def feed(events, **settings):
    """Feed (step, logs) events to a fresh guard; return it and the verdicts it gave."""
    guard = HealthGuard(GuardSettings(**settings))
    verdicts = [guard.observe(step, event) for step, event in events]
    return guard, [v for v in verdicts if v is not None]


def test_steady_or_improving_training_stays_quiet():
    events = [(10 * i, logs(0.5 + 0.02 * i, 0.4 + 0.03 * i, 14.0)) for i in range(1, 30)]
    guard, verdicts = feed(events)
    assert verdicts and not any(v.tripped for v in verdicts) and guard.tripped_at is None


def test_fewer_reasoning_tokens_at_unchanged_accuracy_is_healthy():
    # the adaptive shift: verbose traces become minimal ones, accuracy kept
    events = [(10, logs(0.9, 0.9, 32.0)), (20, logs(0.9, 0.9, 32.0))] + [
        (10 * i, logs(0.9, 0.89, 8.0)) for i in range(3, 12)]
    assert not any(v.tripped for v in feed(events)[1])


def test_falling_accuracy_trips_after_a_full_window_with_the_numbers():
    events = [(10, logs(0.10)), (20, logs(0.10)), (30, logs(0.02, entropy=0.1)), (40, logs(0.01, entropy=0.1))]
    guard, verdicts = feed(events)
    assert guard.tripped_at == 40 and len(verdicts) == 1
    line = verdicts[0].line("run/checkpoint-20")
    assert "batch accuracy 0.100 -> 0.015" in line and "entropy 0.500 -> 0.100" in line
    assert "checkpoint-20" in line


def test_reasoning_collapse_on_a_level_whose_accuracy_falls_trips():
    events = [(10, logs(0.6, 0.40, 13.9)), (20, logs(0.6, 0.40, 13.9)),
              (30, logs(0.58, 0.10, 4.6, think_rate=0.3)), (40, logs(0.58, 0.12, 4.6, think_rate=0.3))]
    guard, verdicts = feed(events)
    assert guard.tripped_at == 40
    assert any("level 5: accuracy 0.400 -> 0.110, reasoning 13.9 -> 4.6 tokens, think rate" in r
               for r in verdicts[-1].reasons)


def test_a_single_noisy_log_does_not_trip():
    events = [(10, logs(0.5)), (20, logs(0.5)), (30, logs(0.40)), (40, logs(0.52)), (50, logs(0.5))]
    assert not any(v.tripped for v in feed(events)[1])


def test_logs_without_reward_metrics_are_ignored():
    guard, verdicts = feed([(10, {"loss": 1.0}), (20, {"loss": 0.5})])
    assert verdicts == [] and guard.baseline == []

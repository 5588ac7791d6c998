"""Step-time overhead of `thinkdial grpo` over a plain TRL GRPOTrainer script, measured in one run.

    .venv/bin/python bench/step_overhead.py [--steps 12] [--warmup-steps 2]

Both sides (bench/grpo_sides.py) train the same embedded tiny model (built once), on the same rows,
with the same reward functions and GRPO settings, in separate processes, alternating thinkdial /
plain / thinkdial / plain so a neighbour's load hits both alike. Each gets one torch thread (OMP_NUM_THREADS=1): two threads on
two shared cores stall generation by an order of magnitude (measured 6.3 vs 0.11 s/step), which would
swamp any overhead. Seconds per step are TRL's own `step_time` log (generation, rewards, loss and
backward of one optimizer step); the first `--warmup-steps` of each run are dropped.
Prints both medians and their ratio (target <= 1.10).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile

from grpo_sides import step_times, train_side

from thinkdial.tiny import build_tiny

REWARDS = "configs/rewards/adaptive.yaml"
SETTINGS = {  # shared by both sides; the GRPO settings of a short tiny run
    "per_device_train_batch_size": 16,
    "num_generations": 4,
    "max_completion_length": 16,
    "learning_rate": 2e-4,
    "beta": 0.0,
    "loss_type": "dapo",
    "scale_rewards": "group",
    "temperature": 1.0,
    "logging_steps": 1,
    "save_strategy": "no",
    "report_to": "none",
    "bf16": False,
    "gradient_checkpointing": False,
    "disable_tqdm": True,
    "seed": 0,
}


def main() -> int:
    """Run both sides twice, print the medians and the ratio; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per run")
    parser.add_argument("--warmup-steps", type=int, default=2, help="first steps of each run left out")
    parser.add_argument("--rounds", type=int, default=2, help="thinkdial/plain pairs run alternately")
    args = parser.parse_args()
    times = {"thinkdial": [], "plain": []}
    with tempfile.TemporaryDirectory() as tmp:
        model = str(build_tiny(f"{tmp}/model"))
        for i in range(args.rounds):
            for side in times:
                output = train_side(side, model, f"{tmp}/{side}{i}", args.steps, REWARDS, SETTINGS)
                times[side] += step_times(output, args.warmup_steps)
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"median s/step over {len(times['plain'])} steps each: thinkdial grpo {medians['thinkdial']:.4f}  "
        f"plain TRL {medians['plain']:.4f}"
    )
    print(f"ratio thinkdial / plain: {medians['thinkdial'] / medians['plain']:.3f} (target <= 1.10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

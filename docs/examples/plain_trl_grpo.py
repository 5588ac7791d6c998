"""thinkdial's rewards in a plain TRL script: TRL's own GRPOTrainer, none of thinkdial's training code.

    python docs/examples/plain_trl_grpo.py --out runs/plain [--model PATH] [--reward-config YAML] [--steps 2]

The reward config (configs/rewards/*.yaml, or one naming your own rewards by import path) becomes TRL
reward functions and weights through `thinkdial.rewards`; `BatchMetrics`, added with weight 0, logs the
per-level metrics. The dataset needs a `prompt`, the `answer` column the rewards check against and, for the
per-level metrics, a `difficulty` column. Without
`--model` the script builds thinkdial's embedded tiny model (random weights: expect rewards near 0).
Prints one JSON line per logged step.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig, GRPOTrainer

from thinkdial.rewards import BatchMetrics, build_reward_funcs, load_reward_config
from thinkdial.tiny import build_tiny

ROWS = [  # permchain problems (data/synthetic.py): apply the upper-case ops to the first digit
    {"prompt": "5:Cbcdefgh=", "answer": "5", "difficulty": 1},
    {"prompt": "2:ABcdefgh=", "answer": "3", "difficulty": 2},
    {"prompt": "7:DEFabcde=", "answer": "3", "difficulty": 3},
    {"prompt": "0:FAbcdefg=", "answer": "3", "difficulty": 2},
]


def main() -> None:
    """Train a few GRPO steps with the rewards of --reward-config; print the logged metrics."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--model", default=None, help="causal LM path or hub id (default: build the tiny one)"
    )
    parser.add_argument("--reward-config", default="configs/rewards/adaptive.yaml", help="reward config YAML")
    parser.add_argument("--steps", type=int, default=2, help="GRPO optimizer steps")
    args = parser.parse_args()

    model_path = args.model or str(build_tiny(Path(args.out) / "init"))
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    reward_funcs, reward_weights = build_reward_funcs(load_reward_config(args.reward_config), tokenizer)
    reward_funcs, reward_weights = [*reward_funcs, BatchMetrics(tokenizer)], [*reward_weights, 0.0]
    config = GRPOConfig(
        output_dir=args.out,
        max_steps=args.steps,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        reward_weights=reward_weights,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        bf16=False,
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_path),
        reward_funcs=reward_funcs,
        args=config,
        train_dataset=Dataset.from_list(ROWS),
        processing_class=tokenizer,
    )
    trainer.train()
    for logs in trainer.state.log_history:
        print(json.dumps(logs))


if __name__ == "__main__":
    main()

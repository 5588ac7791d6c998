"""Evidence that the synthetic levels behave as designed (issue 2, properties a-c).

Prints, per level of the embedded default's held-out set: accuracy when forced to answer directly
(budget 0), accuracy with free reasoning, chance, and the mean oracle minimum `min_reasoning_tokens`.
(a) the easiest level is answerable with no reasoning; (b) the hardest is not (direct ~ chance) but is
with reasoning; (c) the needed reasoning grows with the level.

    .venv/bin/python experiments/difficulty.py [--model runs/demo/sft] [--limit-per-level 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from thinkdial.eval.config import UNLIMITED, load_eval_config  # noqa: E402
from thinkdial.eval.run import run_eval  # noqa: E402


def main() -> int:
    """Evaluate `--model` at budgets 0 and unlimited and print the per-level evidence; return 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--model", default="runs/demo/sft", help="an SFT checkpoint (make demo writes runs/demo/sft)"
    )
    ap.add_argument("--config", default="configs/tiny/eval.yaml")
    ap.add_argument("--limit-per-level", type=int, default=200)
    args = ap.parse_args()
    if not Path(args.model).exists():
        print(f"no checkpoint at {args.model}: run `make demo` first (or pass --model)", file=sys.stderr)
        return 2
    config = load_eval_config(args.config, budgets=[0, UNLIMITED], progress=False)
    config.limit = args.limit_per_level * 8
    with tempfile.TemporaryDirectory() as out:
        model = run_eval(config, [f"model={args.model}"], out, log=lambda *_: None)["models"]["model"]
    print(f"model: {args.model}")
    print(f"{'level':>5} {'direct_acc':>10} {'reasoning_acc':>13} {'chance':>6} {'min_reasoning_tokens':>20}")
    for level, s in sorted(model["levels"].items(), key=lambda kv: float(kv[0])):
        print(
            f"{level:>5} {s['accuracy_direct']:>10.3f} {s['accuracy']:>13.3f} {s['chance_accuracy']:>6.2f} "
            f"{s['min_reasoning_tokens_mean']:>20.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

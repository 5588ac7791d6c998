"""`thinkdial build-tiny`: write the embedded default tokenizer and model."""

from __future__ import annotations

from train.tiny import TinyModelConfig, build_tiny


def register(subparsers) -> None:
    """Add the `build-tiny` subcommand."""
    p = subparsers.add_parser("build-tiny", help="write the embedded tiny tokenizer + model (HF format)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed")
    p.add_argument("--hidden-size", type=int, default=TinyModelConfig.hidden_size)
    p.add_argument("--num-layers", type=int, default=TinyModelConfig.num_hidden_layers)
    p.set_defaults(func=run)


def run(args) -> int:
    """Build the tiny model into `args.out`; return 0."""
    cfg = TinyModelConfig(hidden_size=args.hidden_size, num_hidden_layers=args.num_layers, seed=args.seed)
    out = build_tiny(args.out, cfg)
    print(f"wrote tiny tokenizer + model to {out}")
    return 0

"""The training-side subcommands: build-tiny, sft, grpo, export.

Registration imports nothing heavy: each `run` imports its stage (torch, TRL, transformers) when
it is called, so `thinkdial --help` stays fast.
"""

from __future__ import annotations

RECIPE_STAGES = {  # name -> (help, module, config class, train function)
    "sft": (
        "SFT warm start (TRL SFTTrainer) from a YAML recipe",
        "thinkdial.train.sft",
        "ThinkdialSFTConfig",
        "train_sft",
    ),
    "grpo": (
        "GRPO training (TRL GRPOTrainer) from a YAML recipe",
        "thinkdial.train.grpo",
        "ThinkdialGRPOConfig",
        "train_grpo",
    ),
}


def register(subparsers) -> None:
    """Add build-tiny, sft, grpo and export."""
    _register_build_tiny(subparsers)
    for name in RECIPE_STAGES:
        _register_recipe_stage(subparsers, name)
    _register_export(subparsers)


def _register_build_tiny(subparsers) -> None:
    p = subparsers.add_parser("build-tiny", help="write the embedded tiny tokenizer + model (HF format)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed")
    p.add_argument("--hidden-size", type=int, default=128, help="model width")
    p.add_argument("--num-layers", type=int, default=4, help="transformer blocks")
    p.set_defaults(func=_run_build_tiny)


def _run_build_tiny(args) -> int:
    from thinkdial.tiny import TinyModelConfig, build_tiny

    cfg = TinyModelConfig(hidden_size=args.hidden_size, num_hidden_layers=args.num_layers, seed=args.seed)
    print(f"wrote tiny tokenizer + model to {build_tiny(args.out, cfg)}")
    return 0


def _register_recipe_stage(subparsers, name: str) -> None:
    """`thinkdial NAME --config RECIPE.yaml [--key value ...]`: the recipe parser takes every argument."""
    help_text = RECIPE_STAGES[name][0]
    p = subparsers.add_parser(
        name,
        help=help_text,
        add_help=False,
        description=f"thinkdial {name} --config RECIPE.yaml [--key value ...]",
    )
    p.set_defaults(func=lambda args: _run_recipe_stage(name, args.recipe_args), recipe_stage=True)


def _run_recipe_stage(name: str, argv: list[str]) -> int:
    """Print the stage's --help, or train it and print `saved NAME model to PATH`, the only line on stdout
    (imports, banners and training logs go to stderr); return 0."""
    import importlib

    from thinkdial.io import stdout_to_stderr

    _, module, config_name, train_name = RECIPE_STAGES[name]
    with stdout_to_stderr():
        from thinkdial.train.recipe import parse_recipe, recipe_help

        stage = importlib.import_module(module)
        config_cls = getattr(stage, config_name)
        if "-h" in argv or "--help" in argv:
            output = recipe_help(config_cls, name)
        else:
            output = f"saved {name} model to {getattr(stage, train_name)(parse_recipe(config_cls, argv))}"
    print(output)
    return 0


def _register_export(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="merge LoRA, write a standalone HF model + model card, verify it",
        description="Export a trained checkpoint as a standalone Hugging Face model with a "
        "model card; verified (reload + greedy check) before it is put in place.",
    )
    p.add_argument("--checkpoint", required=True, help="trained run folder or checkpoint-N (full or LoRA)")
    p.add_argument(
        "--out", required=True, help="export folder (empty or new, outside the checkpoint's run folder)"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an earlier export at --out (all of that folder), once the new export is verified; a "
        "folder that holds no thinkdial export is never replaced",
    )
    p.add_argument(
        "--name", default=None, help="model name, the card's title (default: <base model>-thinkdial)"
    )
    p.add_argument(
        "--license",
        default="apache-2.0",
        help="Hub license id for the card; a fine-tune carries its base model's license",
    )
    p.add_argument(
        "--push-to-hub", default=None, metavar="REPO", help="also upload to this hub repo (uses HF_TOKEN)"
    )
    p.add_argument("--public", action="store_true", help="create the hub repo public (default: private)")
    p.add_argument(
        "--eval-dir", default=None, help="eval output folder for the model card (default: <run>/eval)"
    )
    p.set_defaults(func=_run_export)


def _run_export(args) -> int:
    """Export, then print `exported to PATH`, the only line on stdout (the export's own progress, library
    banners and warnings go to stderr); return 0."""
    from thinkdial.io import stdout_to_stderr

    with stdout_to_stderr():
        from thinkdial.train.export import export

        out = export(
            args.checkpoint,
            args.out,
            args.push_to_hub,
            private=not args.public,
            eval_dir=args.eval_dir,
            force=args.force,
            name=args.name,
            license=args.license,
        )
    print(f"exported to {out}")
    return 0

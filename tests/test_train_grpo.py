"""GRPO entry: training changes every parameter, secrets stay out of saved files, bad recipes stop early,
every recipe in configs/ parses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, TINY_ARGS
from safetensors.torch import load_file

from thinkdial.rewards.config import load_reward_config
from thinkdial.train.grpo import ThinkdialGRPOConfig, check_length_scales, train_grpo
from thinkdial.train.recipe import parse_recipe
from thinkdial.train.sft import ThinkdialSFTConfig

SECRET = "hf_thinkdialTestSecret123"


@pytest.mark.slow
@pytest.mark.usefixtures("use_varied_reward")
def test_grpo_steps_change_every_trainable_parameter_and_keep_secrets_out(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    out = tmp_path / "run"
    config = parse_recipe(
        ThinkdialGRPOConfig,
        TINY_ARGS
        + [
            "--output_dir",
            str(out),
            "--learning_rate",
            "1e-2",
            "--save_strategy",
            "steps",
            "--save_steps",
            "4",
            "--hub_token",
            SECRET,
        ],
    )
    train_grpo(config)
    before, after = load_file(out / "init" / "model.safetensors"), load_file(out / "model.safetensors")
    assert before.keys() == after.keys()
    unchanged = [name for name in before if before[name].equal(after[name])]
    assert not unchanged, f"parameters not updated by GRPO: {unchanged}"
    leaked = [str(p) for p in out.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert not leaked, f"hub token written to {leaked}"
    assert json.loads((out / "grpo_config.json").read_text())["hub_token"] in (None, "<redacted>")
    assert (out / "checkpoint-4" / "model.safetensors").is_file()


BAD_RECIPES = {
    "unknown_yaml_key": ("recipe.yaml: unknown key(s) ['bogus_key']", {"bogus_key": 1}, []),
    "unknown_cli_key": ("--bogus", {}, ["--bogus", "3"]),
    "missing_data_config": ("data_config not found: nope.yaml", {}, ["--data_config", "nope.yaml"]),
    "reward_config_error": ("unknown reward 'nope'", {}, ["--reward_config", "BAD_REWARDS"]),
    "cut_share_without_budget_rollouts": (
        "budget_cut_share < 1 acts on budget-constrained rollouts only",
        {},
        ["--budget_cut_share", "0.5"],
    ),
    "cut_share_out_of_range": (
        "budget_cut_share must be in (0, 1], got 1.5",
        {},
        ["--budget_constrained_rollouts", "true", "--budget_cut_share", "1.5"],
    ),
    "num_generations_not_dividing": (
        "must be divisible by num_generations (4)",
        {},
        ["--per_device_train_batch_size", "6"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_RECIPES))
def test_bad_recipe_stops_before_the_model_loads_with_one_line(tmp_path, capsys, no_model_load, case):
    from thinkdial.cli import main

    expected, extra_keys, extra_args = BAD_RECIPES[case]
    recipe = yaml.safe_load((ROOT / "configs/tiny/grpo.yaml").read_text()) | extra_keys
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    (tmp_path / "bad_rewards.yaml").write_text("rewards:\n  - {name: nope, weight: 1.0}\n")
    out = tmp_path / "run"
    args = [a.replace("BAD_REWARDS", str(tmp_path / "bad_rewards.yaml")) for a in extra_args]
    recipe_args = ["--config", str(tmp_path / "recipe.yaml"), "--model_name_or_path", "tiny"]
    recipe_args += ["--output_dir", str(out), "--num_generations", "4", "--per_device_train_batch_size", "8"]
    assert main(["grpo", *recipe_args, *args]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("thinkdial grpo: error: "), err[-2000:]
    assert expected in errors[0]
    assert not out.exists(), "the embedded model was built before the recipe was refused"


def test_a_length_reward_scaled_below_the_completion_length_stops_before_the_model_loads(
    tmp_path, capsys, no_model_load
):
    from thinkdial.cli import main

    out = tmp_path / "run"
    args = ["--output_dir", str(out), "--reward_config", "configs/rewards/adaptive.yaml"]
    assert main(["grpo", *TINY_ARGS, *args, "--max_completion_length", "200"]) == 2
    assert capsys.readouterr().err == (
        "thinkdial grpo: error: reward 'two_sided' of configs/rewards/adaptive.yaml has max_tokens 48, below "
        "max_completion_length 200: its length charge stops growing there, so completions past 48 reasoning "
        "tokens would all be charged alike; set its max_tokens to 200, or max_completion_length to 48\n"
    )
    assert not out.exists()


def test_a_length_limit_or_a_scale_above_the_completion_length_is_warned_about(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    limit = tmp_path / "limit.yaml"
    limit.write_text("rewards:\n  - {name: overlong, params: {max_tokens: 8, buffer_tokens: 4}}\n")
    for rewards in ("configs/rewards/cosine.yaml", str(limit)):
        config = parse_recipe(ThinkdialGRPOConfig, [*TINY_ARGS, "--reward_config", rewards])
        check_length_scales(config, load_reward_config(config.reward_config))
    assert capsys.readouterr().err.splitlines() == [
        "thinkdial: warning: reward 'cosine' of configs/rewards/cosine.yaml has max_tokens 64, above "
        "max_completion_length 12: its length term never comes into full effect; set its max_tokens to 12, or "
        "max_completion_length to 64",
        f"thinkdial: warning: reward 'overlong' of {limit} has max_tokens 8, below max_completion_length 12: it "
        "charges every completion past 8 tokens as too long; set its max_tokens to 12, or "
        "max_completion_length to 8",
    ]


def recipe_files() -> list[Path]:
    """Return every recipe YAML under configs/<dir>/ (a YAML with a top-level output_dir)."""
    found = []
    for path in sorted(ROOT.glob("configs/*/*.yaml")):
        raw = yaml.safe_load(path.read_text())
        if isinstance(raw, dict) and "output_dir" in raw:
            found.append(path)
    return found


def test_recipes_include_the_real_model_ones():
    names = {str(p.relative_to(ROOT)) for p in recipe_files()}
    assert {
        "configs/tiny/grpo.yaml",
        "configs/qwen2.5-math-1.5b/grpo_adaptive.yaml",
        "configs/qwen2.5-math-1.5b/grpo_adaptive_lora.yaml",
        "configs/r1-distill-qwen-1.5b/grpo_adaptive.yaml",
        "configs/r1-distill-qwen-1.5b/grpo_adaptive_lora.yaml",
    } <= names


@pytest.mark.parametrize("recipe", recipe_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_recipe_parses_on_cpu_without_loading_a_model(recipe, monkeypatch):
    from thinkdial.data.config import load_data_config

    monkeypatch.chdir(ROOT)
    raw = yaml.safe_load(recipe.read_text())
    config_cls = ThinkdialGRPOConfig if "reward_config" in raw else ThinkdialSFTConfig
    # bf16 needs a GPU; everything else (vLLM settings, LoRA, data and reward configs) is checked on CPU.
    config = parse_recipe(config_cls, ["--config", str(recipe), "--bf16", "false"])
    load_data_config(config.data_config)
    if config_cls is ThinkdialGRPOConfig:  # a length reward's scale never falls short of the recipe's cap
        check_length_scales(config, load_reward_config(config.reward_config))
    if raw.get("report_to") not in (None, "none"):
        assert raw["report_to"] == "wandb"
    if "qwen" in recipe.parent.name:
        assert raw["bf16"] is True and raw["use_vllm"] is True and raw["vllm_mode"] == "colocate"


@pytest.mark.parametrize("config_cls", [ThinkdialGRPOConfig, ThinkdialSFTConfig])
@pytest.mark.parametrize(
    ("argv", "checkpointing", "warns"),
    [
        ([], True, False),  # TRL's default, without transformers' FutureWarning on its deprecated name
        (["--activation_checkpointing", "false"], False, False),
        (["--gradient_checkpointing", "false"], False, True),  # the old key still works, and still warns
    ],
)
def test_activation_checkpointing_defaults_on_and_only_the_old_key_warns(
    config_cls, argv, checkpointing, warns
):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = parse_recipe(config_cls, ["--output_dir", "unused", "--bf16", "false", *argv])
    assert config.activation_checkpointing is config.gradient_checkpointing is checkpointing
    deprecated = [str(w.message) for w in caught if "gradient_checkpointing` is deprecated" in str(w.message)]
    assert bool(deprecated) is warns

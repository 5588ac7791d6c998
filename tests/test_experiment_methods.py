"""experiments/methods.py's scaling of the published methods to the tiny model, on hand values: lengths times
48 / the recipe's cap (rounded down), the learning rate times 2e-4 / 1e-6, the rest as the recipe sets it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(
    0, str(ROOT / "experiments")
)  # methods.py imports its sibling generality.py, as a script does
SPEC = importlib.util.spec_from_file_location("methods_experiment", ROOT / "experiments" / "methods.py")
methods = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = methods  # its dataclasses look their module up there
SPEC.loader.exec_module(methods)


def overrides(argv: list[str]) -> dict[str, str]:
    return dict(zip(argv[::2], argv[1::2], strict=True))


def test_dler_keeps_its_settings_with_the_lengths_and_rate_scaled(tmp_path):
    (dler,) = methods.tiny_settings("dler", "weak", tmp_path, Path("unused"))
    got = overrides(dler)
    assert {k: got[k] for k in ("--max_completion_length", "--learning_rate", "--num_generations")} == {
        "--max_completion_length": "48",
        "--learning_rate": "0.0002",
        "--num_generations": "16",
    }
    assert (got["--beta"], got["--epsilon_high"], got["--weight_decay"]) == ("0.0005", "0.28", "0.01")
    assert (got["--dynamic_sampling"], got["--dynamic_sampling_reward"]) == ("True", "correctness")
    assert (got["--steps_per_generation"], got["--temperature"], got["--direct_exploration"]) == (
        "8",
        "1.0",
        "0.0",
    )
    rewards = yaml.safe_load(Path(got["--reward_config"]).read_text())["rewards"]
    assert rewards[1]["params"] == {"max_tokens": 48, "truncated_share": 0.0}
    data = yaml.safe_load(Path(got["--data_config"]).read_text())
    assert data["source"] == "affinechain" and "dial" not in data


def test_thinkprune_tightens_48_36_24_and_elastic_splits_its_cap(tmp_path):
    rounds = [overrides(r) for r in methods.tiny_settings("thinkprune", "demo", tmp_path, Path("unused"))]
    assert [r["--max_completion_length"] for r in rounds] == ["48", "36", "24"]
    limits = [yaml.safe_load(Path(r["--reward_config"]).read_text())["rewards"][1] for r in rounds]
    assert [c["params"]["max_tokens"] for c in limits] == [48, 36, 24]
    (elastic,) = [overrides(r) for r in methods.tiny_settings("elastic", "demo", tmp_path, Path("unused"))]
    # 1,024 x 48 / 2,049 = 23.99: 23 + </think> + 23 + the completion's own <think> fit 48
    assert (elastic["--elastic_thinking_tokens"], elastic["--elastic_solution_tokens"]) == ("23", "23")
    assert elastic["--max_completion_length"] == "48"


def test_l1_max_budgets_and_slope_scale_with_its_cap(tmp_path):
    (l1,) = [overrides(r) for r in methods.tiny_settings("l1_max", "demo", tmp_path, Path("unused"))]
    assert l1["--learning_rate"] == "0.0008"  # 4e-6 x 200
    dial = yaml.safe_load(Path(l1["--data_config"]).read_text())["dial"]
    # 100-4,000 in steps of 100 times 48 / 4,500, rounded down (15 and 31 fall between two steps)
    budgets = [*range(1, 15), *range(16, 31), *range(32, 43)]
    assert dial == {"budget_tokens_choices": budgets, "no_budget_share": 0.0}
    reward = yaml.safe_load(Path(l1["--reward_config"]).read_text())["rewards"][1]
    assert reward["params"]["alpha"] == 0.005 * 4500 / 48


def test_thinkdial_is_the_demos_recipe_on_the_family_prompts(tmp_path):
    assert methods.tiny_settings("thinkdial", "weak", tmp_path, Path("unused")) == [
        ["--data_config", "configs/families/affinechain/grpo_data.yaml"]
    ]

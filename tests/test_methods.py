"""The published methods' recipes, their published figures and the papers' eval protocol (docs/methods.md):
every file parses, and the AIME 2024 data reads from the committed fixture and, through the aime adapter,
from the hub."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from thinkdial.data.config import load_data_config
from thinkdial.data.sources import build_rows
from thinkdial.eval.config import load_eval_config
from thinkdial.rewards.config import load_reward_config
from thinkdial.train.grpo import ThinkdialGRPOConfig
from thinkdial.train.recipe import parse_recipe

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
METHODS = ("adaptthink", "dler", "l1_max", "thinkprune", "alp", "shorterbetter", "elastic", "thinkdial")
RECIPES = sorted(
    str(p.relative_to(ROOT))
    for p in (ROOT / "configs" / "methods").glob("*/*.yaml")
    if "output_dir" in yaml.safe_load(p.read_text())
)
NUMBER_KEYS = ("tokens", "accuracy", "base_tokens", "base_accuracy", "accuracy_change_pts")


def test_every_method_has_a_recipe_and_thinkprune_its_rounds():
    assert {f"configs/methods/{m}/grpo.yaml" for m in METHODS} <= set(RECIPES)
    assert {"configs/methods/thinkprune/round2.yaml", "configs/methods/thinkprune/round3.yaml"} <= set(
        RECIPES
    )


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_method_recipe_parses_with_its_reward_and_data_configs(recipe, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("THINKDIAL_DATA_DIR", str(FIXTURES))  # AdaptThink's rows are a local file
    # bf16 needs a GPU; the rest (vLLM settings, batch, data and reward configs) is checked on CPU
    config = parse_recipe(ThinkdialGRPOConfig, ["--config", recipe, "--bf16", "false"])
    load_reward_config(config.reward_config)
    load_data_config(config.data_config)
    assert config.model_name_or_path.startswith(
        ("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "runs/methods/")
    )


def test_thinkprune_rounds_tighten_from_the_previous_rounds_output(monkeypatch):
    monkeypatch.chdir(ROOT)
    rounds = [
        parse_recipe(
            ThinkdialGRPOConfig, ["--config", f"configs/methods/thinkprune/{name}.yaml", "--bf16", "false"]
        )
        for name in ("grpo", "round2", "round3")
    ]
    assert [r.max_completion_length for r in rounds] == [4000, 3000, 2000]
    assert [r.model_name_or_path for r in rounds[1:]] == [rounds[0].output_dir, rounds[1].output_dir]
    limits = [load_reward_config(r.reward_config).components[1].params["max_tokens"] for r in rounds]
    assert limits == [4000, 3000, 2000]


def test_published_lists_at_least_seven_methods_with_sources():
    rows = yaml.safe_load((ROOT / "configs" / "methods" / "published.yaml").read_text())["methods"]
    assert len({r["method"] for r in rows}) >= 7
    for row in rows:
        assert row["source"].strip() and row["base_model"].strip() and row["benchmark"].strip()
        assert isinstance(row["uncertain"], bool)
        for key in NUMBER_KEYS:
            assert row[key] is None or isinstance(row[key], (int, float)), (row["method"], key)
        change = row["tokens_change_pct"]
        assert (
            change is None
            or isinstance(change, (int, float))
            or (len(change) == 2 and change[0] <= change[1])
        )
        assert (
            any(row[k] is not None for k in (*NUMBER_KEYS, "tokens_change_pct")) or row["method"] == "l1_max"
        )


@pytest.mark.parametrize(
    "name, samples, data",
    [
        ("paper_aime24", 16, "aime24"),
        ("paper_math500", 1, "paper_math500"),
        ("paper_gsm8k", 1, "paper_gsm8k"),
    ],
)
def test_paper_eval_configs_load(name, samples, data, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = load_eval_config(f"configs/eval/{name}.yaml")
    assert (config.temperature, config.top_p, config.do_sample, config.backend) == (0.6, 0.95, True, "auto")
    assert (config.num_samples, config.max_reasoning_tokens) == (samples, 16384)
    assert config.data_config == f"configs/data/{data}.yaml"
    assert config.budget_tokens == [0, 16384]


def test_the_aime_fixture_builds_rows(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("THINKDIAL_DATA_DIR", "tests/fixtures")
    rows = build_rows(load_data_config("configs/data/aime24.yaml"), "test")
    assert len(rows) == 15
    assert [r["answer"] for r in rows[:3]] == ["204", "25", "809"]
    assert {r["difficulty"] for r in rows} == {1}
    assert (
        rows[0]["prompt"][0]["content"]
        == "Let's think step by step and output the final answer within \\boxed{}."
    )
    assert rows[0]["prompt"][1]["content"].startswith("Every morning Aya goes for a 9-kilometer-long walk")


def test_without_a_local_copy_aime_reads_the_hubs_train_split(monkeypatch):
    import datasets

    calls = []

    def load_dataset(name, config=None, split=None):
        calls.append((name, config, split))
        return datasets.Dataset.from_list([{"id": 60, "problem": "What is 2+2?", "answer": "4", "url": "u"}])

    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("THINKDIAL_DATA_DIR", raising=False)
    monkeypatch.setattr("datasets.load_dataset", load_dataset)
    rows = build_rows(load_data_config("configs/data/aime24.yaml"), "test")
    assert calls == [("HuggingFaceH4/aime_2024", None, "train")]
    assert (rows[0]["answer"], rows[0]["difficulty"], rows[0]["source"]) == ("4", 1, "aime")


def test_the_recipes_use_the_wired_trainer_features_and_keep_vllms_correction(monkeypatch):
    monkeypatch.chdir(ROOT)

    def recipe(name):
        return parse_recipe(
            ThinkdialGRPOConfig, ["--config", f"configs/methods/{name}/grpo.yaml", "--bf16", "false"]
        )

    dler, adaptthink, elastic = recipe("dler"), recipe("adaptthink"), recipe("elastic")
    assert (dler.dynamic_sampling, dler.dynamic_sampling_reward) == (True, "correctness")
    assert (adaptthink.advantage_baseline, adaptthink.importance_sampling_level) == ("none", "sequence")
    assert (elastic.elastic_thinking_tokens, elastic.elastic_solution_tokens) == (1024, 1024)
    assert not elastic.budget_constrained_rollouts
    # forced tokens report NaN sampling log-probabilities (train/rollout.py): no recipe needs the correction off
    assert all(
        parse_recipe(
            ThinkdialGRPOConfig, ["--config", r, "--bf16", "false"]
        ).vllm_importance_sampling_correction
        for r in RECIPES
    )


def test_deepscaler_reads_a_local_copy_or_the_hub(monkeypatch):
    import datasets

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("THINKDIAL_DATA_DIR", "tests/fixtures")
    rows = build_rows(load_data_config("configs/data/deepscaler.yaml"), "train")
    assert len(rows) == 15 and (rows[1]["answer"], rows[1]["difficulty"], rows[1]["source"]) == (
        "25",
        1,
        "deepscaler",
    )
    calls = []

    def load_dataset(name, config=None, split=None):
        calls.append((name, config, split))
        return datasets.Dataset.from_list([{"problem": "What is 2+2?", "answer": "4", "solution": "4"}])

    monkeypatch.delenv("THINKDIAL_DATA_DIR")
    monkeypatch.setattr("datasets.load_dataset", load_dataset)
    rows = build_rows(load_data_config("configs/data/deepscaler.yaml"), "train")
    assert calls == [("agentica-org/DeepScaleR-Preview-Dataset", None, "train")]
    assert rows[0]["prompt"][1]["content"] == "What is 2+2?"

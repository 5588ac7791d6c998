"""`thinkdial check`: recipes found and staged, architectures resolved without a download, the R1 stand-in's
template opening the think block, and check runs that pass, fail on a broken setting, and fail on a deprecated
recipe key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from thinkdial.errors import UsageError
from thinkdial.pipeline.check import (
    ARCHITECTURES,
    EMBEDDED,
    architecture,
    recipe_files,
    recipe_stage,
    run_check,
    stand_in_config,
    stand_in_tokenizer,
)
from thinkdial.train.rollout import ThinkdialRollout

R1 = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
QWEN_MATH = "Qwen/Qwen2.5-Math-1.5B"


def test_every_shipped_recipe_is_found_with_its_stage(monkeypatch):
    monkeypatch.chdir(ROOT)
    found = {str(p): p for p in recipe_files()}
    assert {
        "configs/tiny/grpo.yaml",
        "configs/tiny/sft.yaml",
        "configs/r1-distill-qwen-1.5b/grpo_adaptive.yaml",
        "configs/r1-distill-qwen-1.5b/grpo_adaptive_lora.yaml",
        "configs/r1-distill-qwen-1.5b/grpo_dial.yaml",
        "configs/r1-distill-qwen-1.5b/grpo_dial_lora.yaml",
        "configs/qwen2.5-math-1.5b/grpo_adaptive.yaml",
        "configs/qwen2.5-math-1.5b/grpo_adaptive_lora.yaml",
    } <= set(found)
    assert "configs/rewards/adaptive.yaml" not in found and "configs/data/gsm8k.yaml" not in found
    stages = {name: recipe_stage(yaml.safe_load(Path(name).read_text())) for name in found}
    assert stages["configs/tiny/sft.yaml"] == "sft"
    assert stages["configs/tiny/grpo.yaml"] == stages["configs/r1-distill-qwen-1.5b/grpo_dial.yaml"] == "grpo"


def test_a_model_is_known_by_hub_id_embedded_name_local_config_or_the_recipe_that_writes_it(tmp_path):
    start = tmp_path / "start.yaml"
    start.write_text(yaml.safe_dump({"model_name_or_path": R1, "output_dir": "runs/x/sft"}))
    assert architecture(R1, []).config["hidden_size"] == 1536
    assert architecture(R1, []).opens_think and not architecture(QWEN_MATH, []).opens_think
    assert architecture("tiny", []) == EMBEDDED
    assert architecture("runs/x/sft", [start]) == ARCHITECTURES[R1]  # an SFT start: its recipe's model
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 96}))
    assert architecture(str(tmp_path / "local"), []).config == {"model_type": "llama", "hidden_size": 96}
    with pytest.raises(UsageError, match="no architecture known for someone/unknown-7b"):
        architecture("someone/unknown-7b", [start])


@pytest.mark.parametrize(
    ("name", "parameters"),
    [(R1, 1_777_088_000), (QWEN_MATH, 1_543_714_304)],  # the models' model cards: 1.78B and 1.54B (tied)
)
def test_the_real_shape_stand_in_has_the_models_parameter_count(name, parameters):
    import torch
    from transformers import AutoModelForCausalLM

    config, _ = stand_in_config(ARCHITECTURES[name], "real")
    with torch.device("meta"):  # shapes only, no memory
        model = AutoModelForCausalLM.from_config(config)
    assert sum(p.numel() for p in model.parameters()) == parameters
    assert config.vocab_size == 151936


def test_the_r1_stand_in_opens_the_think_block_and_rollouts_see_it_opened():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1+1?"}]
    r1 = stand_in_tokenizer(True, 4096)
    text = r1.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == "Be brief.1+1?<think>\n"
    ids = r1(text, add_special_tokens=False)["input_ids"]
    assert r1.convert_ids_to_tokens(ids[-2:]) == ["<think>", "\n"]  # the newline is a token of its own
    assert ThinkdialRollout(r1, 4).opened(ids)
    qwen = stand_in_tokenizer(False, 4096)
    plain = qwen.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert plain == "Be brief.1+1?"
    assert not ThinkdialRollout(qwen, 4).opened(qwen(plain, add_special_tokens=False)["input_ids"])


def copied_recipe(folder: Path, source: str, drop: tuple[str, ...] = (), **changes) -> Path:
    """Write recipe `source` without the keys `drop`, with `changes`, to folder/NAME; return the path."""
    raw = {k: v for k, v in yaml.safe_load((ROOT / source).read_text()).items() if k not in drop} | changes
    path = folder / Path(source).name
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow
def test_a_check_runs_r1s_dial_recipe_on_a_random_qwen2_and_downloads_nothing(tmp_path, monkeypatch):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    monkeypatch.chdir(ROOT)
    loaded = []
    for cls in (AutoConfig, AutoModelForCausalLM, AutoTokenizer):
        original = cls.from_pretrained.__func__

        def local_only(klass, name, *args, _original=original, **kwargs):
            if not Path(name).is_dir():
                raise AssertionError(f"hub access: {name}")
            loaded.append(str(name))
            return _original(klass, name, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(local_only))
    recipe = Path("configs/r1-distill-qwen-1.5b/grpo_dial.yaml")
    (row,) = run_check([recipe], "tiny", 4, tmp_path / "out", accelerate="none")  # in this process
    assert row.ok, (row.error, Path(row.log).read_text()[-3000:])
    model = tmp_path / "out" / "models" / "deepseek-ai_DeepSeek-R1-Distill-Qwen-1.5B-tiny"
    assert loaded and all(path.startswith(str(model)) for path in loaded)
    config = json.loads((model / "config.json").read_text())
    assert (config["model_type"], config["hidden_size"], config["num_hidden_layers"]) == ("qwen2", 64, 2)
    assert (config["tie_word_embeddings"], config["max_position_embeddings"]) == (False, 131072)
    # whether the guard judged depends on the rows drawn: it reads the accuracy of rows without a budget only
    assert isinstance(row.features.pop("health_guard_judged"), bool)
    assert row.features == {
        "lora": False,
        "accelerate_config": None,
        "processes": 1,
        "deepspeed_stage": None,
        "bf16": False,
        "activation_checkpointing": True,
        "checkpoint_selection": True,
        "health_guard": True,
        "eval_callback": True,
        "budget_constrained_rollouts": True,
        "vllm": False,
    }
    assert row.seconds_per_step > 0 and row.peak_memory_bytes > 0
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["rows"][0]["recipe"] == str(recipe) and saved["rows"][0]["ok"] is True


@pytest.mark.slow
def test_a_broken_setting_or_a_deprecated_key_fails_its_row_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    broken = copied_recipe(
        tmp_path, "configs/tiny/grpo.yaml", use_peft=True, lora_target_modules=["no_such_module"]
    )
    (tmp_path / "old").mkdir()
    stale = copied_recipe(
        tmp_path / "old",
        "configs/tiny/grpo.yaml",
        ("activation_checkpointing",),
        gradient_checkpointing=False,
    )
    bad, old = run_check([broken, stale], "tiny", 1, tmp_path / "out")
    assert not bad.ok and "no_such_module" in bad.error and "\n" not in bad.error
    assert not old.ok
    assert (
        old.error.startswith("deprecated recipe key: ")
        and "`gradient_checkpointing` is deprecated" in old.error
    )
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    assert [r["ok"] for r in rows] == [False, False]

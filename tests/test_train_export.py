"""LoRA GRPO then export: merged weights reproduce base + adapter, the export is standalone and carded."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import ROOT, TINY_ARGS
from thinkdial.train.export import export, load_checkpoint_model
from thinkdial.train.grpo import ThinkdialGRPOConfig, train_grpo
from thinkdial.train.recipe import parse_recipe

from thinkdial.models import load_tokenizer


@pytest.mark.slow
@pytest.mark.usefixtures("use_varied_reward")
def test_lora_export_logits_equal_base_plus_adapter(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    monkeypatch.chdir(ROOT)
    run, out = tmp_path / "run", tmp_path / "export"
    config = parse_recipe(ThinkdialGRPOConfig, TINY_ARGS + [
        "--output_dir", str(run), "--use_peft", "true", "--lora_r", "4", "--learning_rate", "1e-2"])
    train_grpo(config)
    assert (run / "adapter_config.json").is_file()
    # A finished run's eval, as eval/ writes it: the model card must carry its table and plots.
    (run / "eval" / "plots").mkdir(parents=True)
    (run / "eval" / "results.json").write_text(json.dumps({"schema": "thinkdial.eval/1", "models": {}}))
    (run / "eval" / "report.md").write_text("# Scaling eval\n\n| metric | grpo |\n\n![budget](plots/budget.png)\n")
    (run / "eval" / "plots" / "budget.png").write_bytes(b"\x89PNG")

    export(run, out)

    reference, is_lora = load_checkpoint_model(run)
    assert is_lora
    lora_b = [p for n, p in reference.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().max() > 0 for p in lora_b), "the adapter did not train: the test would be vacuous"
    merged = AutoModelForCausalLM.from_pretrained(out)
    ids = load_tokenizer(str(out))(["3 1 2 | apply 2 1 3 ->", "<think>x</think>"], padding=True,
                                   return_tensors="pt")
    with torch.no_grad():
        diff = (merged(**ids).logits - reference.eval()(**ids).logits).abs().max().item()
    assert diff <= 1e-5, f"merged logits differ from base + adapter by {diff}"

    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    assert (out / "generation_config.json").is_file()
    assert "<think>" in (out / "chat_template.jinja").read_text()
    card = (out / "README.md").read_text()
    assert "## Training recipe" in card and "use_peft: true" in card
    assert "## Reward config" in card and "correctness" in card
    assert "## Evaluation" in card and "](eval/plots/budget.png)" in card
    assert (out / "eval" / "plots" / "budget.png").is_file()


def test_full_model_export_is_standalone_and_checked(tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    from thinkdial.tiny import build_tiny

    checkpoint = build_tiny(tmp_path / "model")
    export(checkpoint, tmp_path / "export")
    assert "greedy outputs of 4 prompts equal the checkpoint's" in capsys.readouterr().out
    original = AutoModelForCausalLM.from_pretrained(checkpoint).state_dict()
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "export").state_dict()
    assert all(original[k].equal(exported[k]) for k in original)
    card = (tmp_path / "export" / "README.md").read_text()
    assert "## Output format" in card and "## Training recipe" not in card and "## Evaluation" not in card

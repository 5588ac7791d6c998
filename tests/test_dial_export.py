"""The dial in an export: the chat template renders the trained control text; the model card's dial section."""

import json

import pytest
from test_dial_eval import run_dial_eval
from test_dial_generate import SMALL
from transformers import AutoTokenizer

from thinkdial.data.config import load_data_config
from thinkdial.data.dial import control_prompt
from thinkdial.data.sources import build_rows
from thinkdial.tiny import build_tiny


@pytest.fixture(scope="module")
def dial_eval(tmp_path_factory):
    root = tmp_path_factory.mktemp("dial_export_eval")
    return run_dial_eval(str(build_tiny(root / "model", SMALL)), root)


def export_with_run(tmp_path, data_yaml: str, eval_dir=None):
    from thinkdial.train.export import export

    checkpoint = build_tiny(tmp_path / "run", SMALL)
    (tmp_path / "data.yaml").write_text(data_yaml)
    (tmp_path / "rows.jsonl").write_text(
        json.dumps({"prompt": "5:CFA=", "answer": 1, "difficulty": 1}) + "\n"
    )
    (checkpoint / "grpo_config.json").write_text(json.dumps({"data_config": str(tmp_path / "data.yaml")}))
    export(checkpoint, tmp_path / "export", eval_dir=eval_dir)
    return AutoTokenizer.from_pretrained(tmp_path / "export"), load_data_config(tmp_path / "data.yaml")


def test_exported_template_renders_the_training_prompt_plain(tmp_path):
    tok, cfg = export_with_run(tmp_path, "source: jsonl\npath: rows.jsonl\n")
    user = [{"role": "user", "content": "5:CFA="}]
    for budget, effort in ((8, None), (None, "low"), (None, None)):
        rows = tmp_path / "b.jsonl"
        rows.write_text(
            json.dumps({"prompt": "5:CFA=", "answer": 1, "difficulty": 1, "budget": budget, "effort": effort})
            + "\n"
        )
        trained = build_rows(
            load_data_config(
                {
                    "source": "jsonl",
                    "path": str(rows),
                    "dial": {"no_budget_share": 1.0, "effort_budgets": {"low": 2}},
                }
            ),
            "train",
        )[0]["prompt"]
        kwargs = {
            k: v for k, v in (("thinking_budget", budget), ("reasoning_effort", effort)) if v is not None
        }
        assert tok.apply_chat_template(user, tokenize=False, **kwargs) == trained
    assert tok.apply_chat_template(user, tokenize=False, thinking_budget=8) == "[think<=8] 5:CFA="
    with pytest.raises(Exception, match="thinking_budget must be a whole number"):
        tok.apply_chat_template(user, tokenize=False, thinking_budget=-8)
    assert (
        not (tmp_path / "export" / "README.md").read_text().count("(the dial)")
    )  # no dial trained or measured


def test_exported_template_renders_the_training_prompt_chat_and_the_card_has_the_dial(tmp_path, dial_eval):
    tok, cfg = export_with_run(
        tmp_path,
        "source: jsonl\npath: rows.jsonl\nprompt_format: chat\n"
        "dial: {budget_tokens_choices: [8], effort_budgets: {low: 2, high: 32}}\n",
        dial_eval,
    )
    row = build_rows(cfg, "train")[0]
    assert row["budget"] == 8 and row["prompt"][-1]["content"].endswith("Think for maximum 8 tokens.")
    bare = build_rows(
        load_data_config({"source": "jsonl", "path": str(tmp_path / "rows.jsonl"), "prompt_format": "chat"}),
        "train",
    )[0]["prompt"]
    render = dict(tokenize=False, add_generation_prompt=True)
    assert tok.apply_chat_template(bare, thinking_budget=8, **render) == tok.apply_chat_template(
        row["prompt"], **render
    )
    assert tok.apply_chat_template(bare, reasoning_effort="high", **render) == tok.apply_chat_template(
        control_prompt(bare, effort="high"), **render
    )
    card = (tmp_path / "export" / "README.md").read_text()
    for text in (
        "## Thinking budget and effort (the dial)",
        "thinking_budget=256",
        'reasoning_effort="low"',
        "low = 2, high = 32",
        "--reasoning-parser",
        "thinking_token_budget",
        "### Measured adherence",
        "| dial | 2 |",
        "Mean Error (%)",
    ):
        assert text in card

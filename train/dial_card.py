"""The dial in an export: the chat template's prompt format and the model card's dial section.

The section says how to ask the exported model for a thinking budget or an effort level (chat template
keyword arguments `thinking_budget` / `reasoning_effort`, rendering the trained control text of
data/dial.py), how well it obeys (the eval's adherence tables, from results.json) and how to cap
thinking when serving it with vLLM.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from thinkdial.data.config import DataConfig, load_data_config
from thinkdial.data.dial import EFFORTS
from thinkdial.eval.dial_report import ADHERENCE_NOTE, requested_table
from thinkdial.eval.schema import load_results

EXAMPLE_BUDGET_TOKENS = 256  # the usage snippet's budget


def run_data_config(run_config: dict) -> DataConfig | None:
    """Return the data config a training run recorded (`data_config` of its saved config), None when it
    has none or the file is gone."""
    path = run_config.get("data_config")
    return load_data_config(path) if path and Path(path).is_file() else None


def run_prompt_format(run_config: dict) -> str:
    """Return the prompt format ('plain' or 'chat') the run trained on; DataConfig's default when unknown."""
    data = run_data_config(run_config)
    return data.prompt_format if data else {f.name: f.default for f in fields(DataConfig)}["prompt_format"]


def _usage(name: str, tiers: dict[str, int] | None) -> str:
    tier_text = (
        (
            "Effort tiers this model was trained with (reasoning tokens): "
            + ", ".join(f"{e} = {tiers[e]}" for e in EFFORTS if e in tiers)
            + ".\n\n"
        )
        if tiers
        else ""
    )
    return (
        "The chat template takes `thinking_budget` (reasoning tokens: the tokens inside the think block) and "
        f"`reasoning_effort` ({' | '.join(EFFORTS)}) and renders the control text the model was trained on "
        "(an effort wins over a budget; without either the prompt is unchanged).\n\n"
        + tier_text
        + "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f'tokenizer = AutoTokenizer.from_pretrained("{name}")\n'
        f'model = AutoModelForCausalLM.from_pretrained("{name}")\n'
        'messages = [{"role": "user", "content": "What is 17 * 3?"}]\n'
        f"ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, thinking_budget={EXAMPLE_BUDGET_TOKENS},\n"
        '                                    return_tensors="pt", return_dict=True)  # or reasoning_effort="low"\n'
        "out = model.generate(**ids, max_new_tokens=512)\n```\n\n"
        "The budget in the prompt is a request; to enforce it with transformers, thinkdial forces `</think>` at "
        "the budget (a logits processor):\n\n"
        f"```python\nfrom thinkdial.eval.dial import generate\n\ngenerate(model, tokenizer, [messages], "
        f"budget_tokens={EXAMPLE_BUDGET_TOKENS})  # [{{'answer': ..., 'reasoning_tokens': <= {EXAMPLE_BUDGET_TOKENS}, ...}}]\n```\n\n"
        f'or `thinkdial generate --model {name} --budget {EXAMPLE_BUDGET_TOKENS} --prompt "..."`.\n'
    )


def _serving(name: str) -> str:
    return (
        "Serving with vLLM: a reasoning parser lets vLLM count the tokens inside the think block, and "
        "`thinking_token_budget` caps them; pass the budget to the chat template too, so the prompt carries the "
        "control text the model was trained on.\n\n"
        f"```bash\nvllm serve {name} --reasoning-parser deepseek_r1   # or qwen3 for Qwen3-style templates\n```\n\n"
        "```python\n# OpenAI-compatible client\nclient.chat.completions.create(\n    model=..., messages=messages,\n"
        f'    extra_body={{"thinking_token_budget": {EXAMPLE_BUDGET_TOKENS}, '
        f'"chat_template_kwargs": {{"thinking_budget": {EXAMPLE_BUDGET_TOKENS}}}}})\n\n'
        f"# offline engine: SamplingParams(max_tokens=..., thinking_token_budget={EXAMPLE_BUDGET_TOKENS}), with the "
        f"prompt from\n# tokenizer.apply_chat_template(messages, thinking_budget={EXAMPLE_BUDGET_TOKENS}, tokenize=False)\n```\n"
    )


def dial_card_section(out: Path, run_config: dict, name: str | None = None) -> str:
    """Return the model card's dial section for the export in `out` (usage with `thinking_budget` /
    `reasoning_effort` loading model `name` (default: the folder's name), the adherence table of
    out/eval/results.json when the eval measured it, the vLLM serving flags); '' when the run trained no
    dial and the eval measured none."""
    name = name or out.name
    data = run_data_config(run_config)
    results_file = out / "eval" / "results.json"
    models = load_results(results_file).models if results_file.is_file() else {}
    measured = {label: m for label, m in models.items() if m.dial and m.dial.requested}
    if (data is None or data.dial is None) and not measured:
        return ""
    tiers = data.dial.effort_budgets if data and data.dial else None
    adherence = (
        f"### Measured adherence\n\n{ADHERENCE_NOTE}\n\n{requested_table(measured)}\n"
        if measured
        else "Adherence not measured: run `thinkdial eval` with `requested_budgets` in the eval config.\n"
    )
    return f"## Thinking budget and effort (the dial)\n\n{_usage(name, tiers)}\n{adherence}\n{_serving(name)}"

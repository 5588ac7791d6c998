"""The dial in the scaling eval: does the model obey a requested budget or effort level, and at what cost.

Axes (eval config): `requested_budgets` (B, reasoning tokens) and `efforts` (with their tier budgets
`effort_budgets`). For each setting every held-out prompt is rendered with the dial's control text
(data/dial.py) and decoded freely: no forcing, the cap stays `max_reasoning_tokens` (like the
'unlimited' budget). The same model's budget-forcing completions at the same budget sit beside them
(`EvalConfig.budget_tokens` holds every dial budget), as L1 compares itself with s1.

Records gain `requested.<B>` and `efforts.<level>` entries shaped like `budgets.<label>`; every entry
gets `prompt_tokens` and `completion_tokens` (the cost view's measured tokens).
"""

from __future__ import annotations

import json

from thinkdial.data.completion import count_tokens
from thinkdial.data.config import load_data_config
from thinkdial.data.dial import control_prompt
from thinkdial.data.sources import row_place
from thinkdial.errors import UsageError
from thinkdial.eval import metrics
from thinkdial.eval.budget import budget_completions, encode_prompts
from thinkdial.eval.config import EvalConfig
from thinkdial.rewards.correctness import is_correct

AXES = ("requested", "efforts")
ADHERENCE_KEYS = ("mean_error_pct", "rmse_error_pct", "violation_rate", "control")


def setting_prompt(prompt, axis: str, key: str):
    """Return `prompt` with the control text of dial setting `key` on `axis` ('requested': a budget in
    reasoning tokens; 'efforts': an effort level)."""
    return (
        control_prompt(prompt, budget_tokens=int(key))
        if axis == "requested"
        else control_prompt(prompt, effort=key)
    )


def check_rows(rows: list[dict], config: EvalConfig) -> None:
    """Raise a UsageError when the dial axes would render over held-out rows' own budget or effort."""
    own = next(
        (i for i, r in enumerate(rows) if r.get("budget") is not None or r.get("effort") is not None), None
    )
    if own is not None and any(config.dial_budgets.values()):
        place = row_place(load_data_config(config.data_config), config.split, own)  # a limit keeps a prefix
        raise UsageError(
            f"{place} carries its own budget/effort; the dial axes "
            "(requested_budgets, efforts) need held-out rows without them (drop those columns, or "
            "the axes)"
        )


def add_dial_completions(backend, rows: list[dict], records: list[dict], config: EvalConfig) -> None:
    """Decode every dial setting of `config` on `rows` (one batched pass) and add its entries to `records`."""
    settings = [(axis, key) for axis, by_key in config.dial_budgets.items() for key in by_key]
    if not settings:
        return
    prompts = [setting_prompt(r["prompt"], axis, key) for axis, key in settings for r in rows]
    cap = config.max_reasoning_tokens
    out = budget_completions(backend, prompts, config, budgets=[cap])
    for s, (axis, key) in enumerate(settings):
        for i, record in enumerate(records):
            c = out[s * len(records) + i][cap]
            record.setdefault(axis, {})[key] = {
                **c.to_dict(),
                "correct": bool(is_correct(c.answer, record["gold"])),
            }


def add_token_counts(records: list[dict], tokenizer) -> None:
    """Set `prompt_tokens` (the rendered prompt) and `completion_tokens` on every entry of `records`."""
    entries = [(e, r["prompt"]) for r in records for e in r["budgets"].values()]
    entries += [
        (e, setting_prompt(r["prompt"], axis, key))
        for r in records
        for axis in AXES
        for key, e in r.get(axis, {}).items()
    ]
    unique = {json.dumps(p, sort_keys=True): p for _, p in entries}
    lengths = dict(zip(unique, map(len, encode_prompts(tokenizer, list(unique.values()))), strict=True))
    for (entry, prompt), n in zip(
        entries, count_tokens(tokenizer, [e["text"] for e, _ in entries]), strict=True
    ):
        entry["prompt_tokens"], entry["completion_tokens"] = lengths[json.dumps(prompt, sort_keys=True)], n


def _setting_metrics(
    records: list[dict], axis: str, key: str, budget_tokens: int, config: EvalConfig
) -> dict:
    entries = [r[axis][key] for r in records]
    forced = [r["budgets"][config.budget_label(budget_tokens)] for r in records]
    tokens = [e["reasoning_tokens"] for e in entries]
    pairs = [(e["correct"], f["correct"]) for e, f in zip(entries, forced, strict=True)]
    return {
        "budget_tokens": budget_tokens,
        "n": len(entries),
        "accuracy": metrics.mean([e["correct"] for e in entries]),
        "reasoning_tokens_mean": metrics.mean(tokens),
        "reasoning_tokens_std": metrics.std(tokens),
        "reasoning_tokens_median": metrics.percentile(tokens, 50),
        "reasoning_tokens_p90": metrics.percentile(tokens, 90),
        **metrics.adherence(tokens, budget_tokens),
        "truncated_rate": metrics.mean([e["forced"] for e in entries]),
        "forcing_accuracy": metrics.mean([e["correct"] for e in forced]),
        "forcing_reasoning_tokens_mean": metrics.mean([e["reasoning_tokens"] for e in forced]),
        "dial_only_correct": sum(d and not f for d, f in pairs),
        "forcing_only_correct": sum(f and not d for d, f in pairs),
    }


def dial_metrics(records: list[dict], config: EvalConfig) -> dict | None:
    """Return the dial metrics of a group of records: `requested` {B: metrics}, `efforts` {level: metrics}
    and `requested_mean` (accuracy and adherence averaged over the requested budgets, each budget
    weighing the same); None when the records have no dial entries (the model was evaluated without)."""
    if not any(axis in records[0] for axis in AXES):
        return None
    out = {
        axis: {key: _setting_metrics(records, axis, key, budget, config) for key, budget in by_key.items()}
        for axis, by_key in config.dial_budgets.items()
    }
    per_budget = list(out["requested"].values())
    out["requested_mean"] = {
        k: metrics.mean([m[k] for m in per_budget if m[k] is not None]) for k in ("accuracy", *ADHERENCE_KEYS)
    }
    return out


def _cost_entry(entries: list[dict], config: EvalConfig) -> dict:
    prompt = metrics.mean([e["prompt_tokens"] for e in entries])
    completion = metrics.mean([e["completion_tokens"] for e in entries])
    priced = config.input_usd_per_1m_tokens is not None
    return {
        "accuracy": metrics.mean([e["correct"] for e in entries]),
        "prompt_tokens_mean": prompt,
        "completion_tokens_mean": completion,
        "total_tokens_mean": prompt + completion,
        "usd_per_1k_requests": metrics.usd_per_1k_requests(
            prompt, completion, config.input_usd_per_1m_tokens, config.output_usd_per_1m_tokens
        )
        if priced
        else None,
        "latency_s": completion / config.decode_tokens_per_s if config.decode_tokens_per_s else None,
    }


def cost_metrics(records: list[dict], config: EvalConfig) -> dict:
    """Return the cost view of a model's records: per setting ('free' = free reasoning; `forcing` per
    budget label; `requested` per B; `efforts` per level) its accuracy, mean prompt and completion
    tokens, their sum, USD per 1,000 requests (None without prices) and latency in seconds (None without a
    speed); a dial axis not evaluated is empty."""
    labels = [b for b in records[0]["budgets"] if b != "unlimited"]
    out = {
        "free": _cost_entry([r["budgets"]["unlimited"] for r in records], config),
        "forcing": {b: _cost_entry([r["budgets"][b] for r in records], config) for b in labels},
    }
    for axis in AXES:
        out[axis] = {
            key: _cost_entry([r[axis][key] for r in records], config) for key in records[0].get(axis, {})
        }
    return out

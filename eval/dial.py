"""Serve the dial from Python: generate with the trained conditioning plus a hard cap on thinking.

    from thinkdial.eval.dial import generate
    out = generate(model, tokenizer, ["5:CFAhbfde="], budget_tokens=8)
    out[0]["answer"], out[0]["reasoning_tokens"]  # reasoning_tokens <= 8

Each prompt (text, or chat messages) gets the dial's control text (data/dial.py `control_prompt`: the
effort when one is given, else the budget), then transformers generates with `ThinkingBudgetProcessor`
(eval/think_cap.py), which forces `</think>` once the think block holds the budget: no completion has
more reasoning tokens than its budget. Without a budget the cap is `max_reasoning_tokens`. The same as
a command: `thinkdial generate --model PATH --budget 8 --prompt TEXT` (eval/cli.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from thinkdial.data.completion import count_tokens, parse_completion
from thinkdial.data.dial import control_prompt, parse_budget, parse_effort
from thinkdial.eval.backends import TransformersBackend, check_checkpoint
from thinkdial.eval.budget import encode_prompts
from thinkdial.eval.config import (
    GENERATE_MAX_ANSWER_TOKENS,
    GENERATE_MAX_REASONING_TOKENS,
    UNLIMITED,
    EvalConfig,
)
from thinkdial.models import load_tokenizer, set_cpu_threads


def _per_prompt(value, n: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"generate: {name} has {len(value)} values for {n} prompts")
        return list(value)
    return [value] * n


def generate(
    model,
    tokenizer,
    prompts: Sequence,
    budget_tokens: int | Sequence[int | None] | None = None,
    effort: str | Sequence[str | None] | None = None,
    max_reasoning_tokens: int = GENERATE_MAX_REASONING_TOKENS,
    max_answer_tokens: int = GENERATE_MAX_ANSWER_TOKENS,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    batch_size: int = 16,
    seed: int = 0,
) -> list[dict]:
    """Return one dict per prompt: `prompt` (as rendered with the control text), `completion`, `reasoning`,
    `answer` (None when the think block never closed), `reasoning_tokens`, `budget_tokens` (the cap
    applied: min(budget, max_reasoning_tokens), or max_reasoning_tokens without a budget) and `effort`.

    `budget_tokens` and `effort` are one value for every prompt or one per prompt (None: not set).
    """
    if not prompts:
        return []
    if any(
        isinstance(v, bool) or not isinstance(v, int) or v < 1
        for v in (max_reasoning_tokens, max_answer_tokens)
    ):
        raise ValueError("generate: max_reasoning_tokens and max_answer_tokens must be integers >= 1")
    budgets = [
        parse_budget(b, f"generate: budget_tokens[{i}]")
        for i, b in enumerate(_per_prompt(budget_tokens, len(prompts), "budget_tokens"))
    ]
    efforts = [
        parse_effort(e, f"generate: effort[{i}]")
        for i, e in enumerate(_per_prompt(effort, len(prompts), "effort"))
    ]
    rendered = [control_prompt(p, b, e) for p, b, e in zip(prompts, budgets, efforts, strict=True)]
    caps = [max_reasoning_tokens if b is None else min(b, max_reasoning_tokens) for b in budgets]
    config = EvalConfig(
        budgets=[UNLIMITED],
        max_reasoning_tokens=max_reasoning_tokens,
        max_answer_tokens=max_answer_tokens,
        batch_size=batch_size,
        do_sample=do_sample,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        progress=False,
    )
    torch.manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        gens = TransformersBackend(model, tokenizer, config).generate(
            encode_prompts(tokenizer, rendered), max(caps) + 2 + max_answer_tokens, think_budgets=caps
        )
    finally:
        model.train(was_training)
    texts = [tokenizer.decode(g, skip_special_tokens=True) for g in gens]
    parsed = [parse_completion(t) for t in texts]
    counts = count_tokens(tokenizer, [p.reasoning for p in parsed])
    return [
        {
            "prompt": r,
            "completion": t,
            "reasoning": p.reasoning,
            "answer": p.answer,
            "reasoning_tokens": n,
            "budget_tokens": cap,
            "effort": e,
        }
        for r, t, p, n, cap, e in zip(rendered, texts, parsed, counts, caps, efforts, strict=True)
    ]


def generate_from_checkpoint(path: str, prompts: Sequence, cpu_threads: int = 1, **kwargs) -> list[dict]:
    """Load the checkpoint at `path` and return `generate(model, tokenizer, prompts, **kwargs)`."""
    from transformers import AutoModelForCausalLM

    check_checkpoint(path)
    set_cpu_threads(cpu_threads)
    model = AutoModelForCausalLM.from_pretrained(path, dtype="auto")
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    return generate(model, load_tokenizer(path), prompts, **kwargs)

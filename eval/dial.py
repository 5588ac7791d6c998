"""Serve the dial from Python: generate with the trained conditioning plus a hard cap on thinking.

    from thinkdial.eval.dial import generate
    out = generate(model, tokenizer, ["5:CFAhbfde="], budget_tokens=8)
    out[0]["answer"], out[0]["reasoning_tokens"]  # reasoning_tokens <= 8

Each prompt (text, or chat messages) gets the dial's control text (data/dial.py `control_prompt`: the
effort when one is given, else the budget), then transformers generates with `ThinkingBudgetProcessor`
(eval/think_cap.py), which forces `</think>` once the think block holds the budget: no completion has
more reasoning tokens than its budget. Without a budget the cap is `max_reasoning_tokens`, by default
GENERATE_MAX_REASONING_TOKENS or what the model's context leaves, whichever is smaller. The same as a
command: `thinkdial generate --model PATH --budget 8 --prompt TEXT` (eval/cli.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from thinkdial.data.completion import count_tokens, parse_completion
from thinkdial.data.dial import control_prompt, parse_budget, parse_effort
from thinkdial.errors import UsageError
from thinkdial.eval.backends import TransformersBackend, check_checkpoint
from thinkdial.eval.budget import encode_prompts
from thinkdial.eval.config import (
    GENERATE_MAX_ANSWER_TOKENS,
    GENERATE_MAX_REASONING_TOKENS,
    UNLIMITED,
    EvalConfig,
)
from thinkdial.models import context_tokens_of, load_tokenizer, set_cpu_threads

THINK_TAG_TOKENS = 2  # room a completion keeps for the think block's two tags
GENERATE_ADVICE = (
    "shorten the prompt, or lower the budget (--budget), the cap without one (--max-reasoning-tokens) or "
    "--max-answer-tokens"
)


def _per_prompt(value, n: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"generate: {name} has {len(value)} values for {n} prompts")
        return list(value)
    return [value] * n


def dial_prompts(prompts: Sequence, budget_tokens, effort) -> tuple[list, list, list]:
    """Return (each prompt with the dial's control text, its budget in reasoning tokens or None, its effort)
    for `generate`'s arguments (a budget or effort given once or per prompt)."""
    budgets = [
        parse_budget(b, f"generate: budget_tokens[{i}]")
        for i, b in enumerate(_per_prompt(budget_tokens, len(prompts), "budget_tokens"))
    ]
    efforts = [
        parse_effort(e, f"generate: effort[{i}]")
        for i, e in enumerate(_per_prompt(effort, len(prompts), "effort"))
    ]
    rendered = [control_prompt(p, b, e) for p, b, e in zip(prompts, budgets, efforts, strict=True)]
    return rendered, budgets, efforts


def reasoning_caps(
    budgets: list[int | None],
    prompt_ids: list[list[int]],
    max_reasoning_tokens: int | None,
    max_answer_tokens: int,
    context_tokens: int | None,
) -> list[int]:
    """Return each prompt's reasoning cap in tokens: its budget, at most `max_reasoning_tokens`; without a
    budget `max_reasoning_tokens`, or when that is None GENERATE_MAX_REASONING_TOKENS or what the model's
    `context_tokens` leave after the longest prompt, the think tags and the answer (at least 1), whichever is
    smaller."""
    limit = max_reasoning_tokens or GENERATE_MAX_REASONING_TOKENS
    free = limit
    if max_reasoning_tokens is None and context_tokens is not None:
        longest = max(len(ids) for ids in prompt_ids)
        free = max(1, min(limit, context_tokens - longest - THINK_TAG_TOKENS - max_answer_tokens))
    return [free if b is None else min(b, limit) for b in budgets]


def completion_room(caps: list[int], max_answer_tokens: int) -> int:
    """Return the new tokens one generate call allows every prompt: the largest reasoning cap, the think
    tags and the answer."""
    return max(caps) + THINK_TAG_TOKENS + max_answer_tokens


def check_context(
    prompt_ids: list[list[int]],
    caps: list[int],
    max_answer_tokens: int,
    context_tokens: int | None,
    places: Sequence[str] | None = None,
    advice: str = GENERATE_ADVICE,
) -> None:
    """Raise a UsageError naming the longest prompt (by `places`, else `prompt N` from 1) and ending in
    `advice` when it and the completion room exceed the model's `context_tokens` positions (None: unknown,
    nothing to check): past them the model writes garbage. Returns None."""
    if context_tokens is None:
        return
    room = completion_room(caps, max_answer_tokens)
    worst = max(range(len(prompt_ids)), key=lambda i: len(prompt_ids[i]))
    if len(prompt_ids[worst]) > context_tokens - room:
        place = places[worst] if places else f"prompt {worst + 1}"
        raise UsageError(
            f"{place}: the prompt has {len(prompt_ids[worst])} tokens; the model's {context_tokens} positions "
            f"less {room} for the completion ({max(caps)} reasoning + {THINK_TAG_TOKENS} think tags + "
            f"{max_answer_tokens} answer tokens) leave {max(context_tokens - room, 0)}: {advice}"
        )


def generate(
    model,
    tokenizer,
    prompts: Sequence,
    budget_tokens: int | Sequence[int | None] | None = None,
    effort: str | Sequence[str | None] | None = None,
    max_reasoning_tokens: int | None = None,
    max_answer_tokens: int = GENERATE_MAX_ANSWER_TOKENS,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    batch_size: int = 16,
    seed: int = 0,
) -> list[dict]:
    """Return one dict per prompt: `prompt` (as rendered with the control text), `completion`, `reasoning`,
    `answer` (None when the think block never closed), `reasoning_tokens`, `budget_tokens` (the cap
    applied, `reasoning_caps`) and `effort`.

    `budget_tokens` and `effort` are one value for every prompt or one per prompt (None: not set). A prompt
    that leaves the completion too few of the model's positions raises a UsageError (`check_context`).
    """
    if not prompts:
        return []
    if any(
        isinstance(v, bool) or not isinstance(v, int) or v < 1
        for v in (max_reasoning_tokens or 1, max_answer_tokens)
    ):
        raise ValueError("generate: max_reasoning_tokens and max_answer_tokens must be integers >= 1")
    rendered, budgets, efforts = dial_prompts(prompts, budget_tokens, effort)
    prompt_ids = encode_prompts(tokenizer, rendered)
    context = context_tokens_of(model.config)
    caps = reasoning_caps(budgets, prompt_ids, max_reasoning_tokens, max_answer_tokens, context)
    check_context(prompt_ids, caps, max_answer_tokens, context)
    config = EvalConfig(
        budgets=[UNLIMITED],
        max_reasoning_tokens=max(1, *caps),  # a budget of 0 caps at 0; the config wants >= 1
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
            prompt_ids, completion_room(caps, max_answer_tokens), think_budgets=caps
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


def generate_from_checkpoint(
    path: str,
    prompts: Sequence,
    budget_tokens=None,
    effort=None,
    max_reasoning_tokens: int | None = None,
    max_answer_tokens: int = GENERATE_MAX_ANSWER_TOKENS,
    places: Sequence[str] | None = None,
    cpu_threads: int = 1,
    **decoding,
) -> list[dict]:
    """Return `generate(model, tokenizer, prompts, ...)` of the checkpoint at `path` (`decoding`: do_sample,
    temperature, top_p, batch_size, seed). A prompt the model's context cannot hold with its completion
    stops with a UsageError naming it by `places` before the model loads (`check_context`)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    check_checkpoint(path)
    if not prompts:
        return []
    tokenizer = load_tokenizer(path)
    rendered, budgets, _ = dial_prompts(prompts, budget_tokens, effort)
    prompt_ids = encode_prompts(tokenizer, rendered)
    context = context_tokens_of(AutoConfig.from_pretrained(path))
    caps = reasoning_caps(budgets, prompt_ids, max_reasoning_tokens, max_answer_tokens, context)
    check_context(prompt_ids, caps, max_answer_tokens, context, places)
    set_cpu_threads(cpu_threads)
    model = AutoModelForCausalLM.from_pretrained(path, dtype="auto")
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    return generate(
        model, tokenizer, prompts, budget_tokens, effort, max_reasoning_tokens, max_answer_tokens, **decoding
    )

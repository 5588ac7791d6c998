"""Property: any completion text gives every component a finite float or None, and never raises."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from thinkdial.rewards.registry import REWARDS, get_reward
from thinkdial.tiny import build_tokenizer

TOKENIZER = build_tokenizer()
PARAMS = {
    "cosine": {"max_tokens": 16},
    "solve_rate": {"max_tokens": 16, "history": "ema"},
    "shortest_correct": {"max_tokens": 16},
    "overlong": {"max_tokens": 16, "buffer_tokens": 4},
    "two_sided": {"max_tokens": 16},
    "target_length": {"mode": "max"},
    "truncation": {"max_tokens": 16},
}
FUNCS = [get_reward(name, TOKENIZER, PARAMS.get(name)) for name in sorted(REWARDS)]

pieces = st.one_of(st.text(max_size=30), st.sampled_from(["<think>", "</think>", "\\boxed{", "}", "4", "\n"]))
texts = st.lists(pieces, max_size=12).map("".join)
golds = st.one_of(st.sampled_from(["4", "\\frac{1}{2}", "-3.5", "x^2", "", " "]), st.text(max_size=10))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    completions=st.lists(texts, min_size=1, max_size=4),
    gold=golds,
    budget=st.one_of(st.none(), st.integers(0, 64)),
)
@example(completions=["x" * 100_000], gold="4", budget=8)
@example(
    completions=["<think>" * 50 + "</think></think>4", "</think>", "", "é☃😀<think>"], gold="4", budget=0
)
def test_any_text_gives_finite_float_or_none(completions, gold, budget):
    n = len(completions)
    kwargs = {
        "prompts": ["p"] * n,
        "completions": completions,
        "answer": [gold] * n,
        "budget": [budget] * n,
        "ref_accuracy": [0.5] * n,  # constrained_no_think's reference accuracy column
    }
    for func in FUNCS:
        out = func(**kwargs)
        assert len(out) == n
        assert all(r is None or (isinstance(r, float) and math.isfinite(r)) for r in out), (
            func.__name__,
            out,
        )


@settings(max_examples=30, deadline=None)
@given(texts=st.lists(texts, min_size=1, max_size=5))
def test_fast_token_count_matches_tokenizer_call(texts):
    from thinkdial.data.completion import count_tokens

    assert count_tokens(TOKENIZER, texts) == [
        len(ids) for ids in TOKENIZER(texts, add_special_tokens=False)["input_ids"]
    ]

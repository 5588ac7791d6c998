"""Parse `<think>reasoning</think>answer` completions and count reasoning tokens.

docs/design.md, "Completion format": reasoning tokens are the tokens strictly inside the think block,
counted with the policy's tokenizer. A completion with no closed think block has no parseable
answer; its reasoning is everything after the opening tag, or all of it when there is none (which
also covers prompts that open the think block themselves, R1-style).
"""

from __future__ import annotations

from dataclasses import dataclass

from thinkdial.models import THINK_CLOSE, THINK_OPEN

__all__ = [
    "THINK_CLOSE",
    "THINK_OPEN",
    "ParsedCompletion",
    "count_tokens",
    "format_completion",
    "parse_completion",
    "reasoning_token_counts",
]


@dataclass(frozen=True)
class ParsedCompletion:
    """One completion split at its think tags."""

    reasoning: str
    answer: str | None  # None when the think block never closes
    closed: bool


def parse_completion(text: str) -> ParsedCompletion:
    """Return the reasoning (inside the think block) and the answer (after it; None if unclosed). A completion
    with no opening tag before its first closing one thinks from its start (the prompt opened the block,
    R1-style): an opening tag in its answer opens nothing."""
    start, first_close = text.find(THINK_OPEN), text.find(THINK_CLOSE)
    start = 0 if start < 0 or 0 <= first_close < start else start + len(THINK_OPEN)
    close = text.find(THINK_CLOSE, start)
    if close < 0:
        return ParsedCompletion(reasoning=text[start:], answer=None, closed=False)
    return ParsedCompletion(
        reasoning=text[start:close], answer=text[close + len(THINK_CLOSE) :].strip(), closed=True
    )


def format_completion(reasoning: str, answer: str) -> str:
    """Return the canonical completion text `<think>{reasoning}</think>{answer}`."""
    return f"{THINK_OPEN}{reasoning}{THINK_CLOSE}{answer}"


def count_tokens(tokenizer, texts: list[str]) -> list[int]:
    """Return the number of tokens of each text under `tokenizer` (no special tokens added)."""
    if not texts:
        return []
    from tokenizers import Tokenizer

    backend = tokenizer if isinstance(tokenizer, Tokenizer) else getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # fast tokenizer: skip transformers' per-row output conversion (2-3x faster)
        encode = getattr(backend, "encode_batch_fast", backend.encode_batch)  # _fast: tokenizers >= 0.21
        return [len(e) for e in encode(list(texts), add_special_tokens=False)]
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [len(ids) for ids in encoded]


def reasoning_token_counts(tokenizer, completions: list[str]) -> list[int]:
    """Return the reasoning-token count of each completion (tokens strictly inside the think block)."""
    return count_tokens(tokenizer, [parse_completion(c).reasoning for c in completions])

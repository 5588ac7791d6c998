"""The per-call view shared by every reward component: parsed completions, reasoning tokens,
correctness and exact group statistics, computed once per TRL reward call.

TRL calls each reward function with the same `prompts` / `completions` list objects within one step,
so the view is cached on the identity of those lists (the cache holds them, so an identity is never
reused); the tokenisation, answer checking and cross-process gather run once per step, not once per
component. Every process takes the same cache decisions, so the gather stays collective.
"""

from __future__ import annotations

from dataclasses import dataclass

from thinkdial.data.completion import ParsedCompletion, parse_completion, reasoning_token_counts
from thinkdial.io import prompt_hash
from thinkdial.rewards.correctness import is_correct
from thinkdial.rewards.group import GroupStats, gather_rows, group_stats

COMPLETION_PREVIEW_CHARS = 60


class RewardRowError(ValueError):
    """A reward failed on one row; the message names the row index (from 0 in the reward call: `row`) and the
    completion's start, `failure` says the same without the index."""

    def __init__(self, what: str, row: int, text: str, err: Exception):
        preview = text[:COMPLETION_PREVIEW_CHARS]
        self.row = row
        self.failure = f"{what} failed (completion starts {preview!r}): {type(err).__name__}: {err}"
        super().__init__(
            f"{what} failed on row {row} (completion starts {preview!r}): {type(err).__name__}: {err}"
        )


def completion_text(completion) -> str:
    """Return the text of a completion: a string, or the joined contents of chat messages."""
    if isinstance(completion, str):
        return completion
    return "".join(m["content"] if isinstance(m.get("content"), str) else "" for m in completion)


@dataclass
class Batch:
    """One reward call's rows (local to this process) with their group statistics over all processes."""

    texts: list[str]
    parsed: list[ParsedCompletion]
    reasoning_tokens: list[int]
    correct: list[bool | None]  # None where the gold answer cannot be parsed (or no `answer` column)
    group_keys: list[str]
    groups: dict[str, GroupStats]  # over the rows of every process
    columns: dict[str, list]  # dataset columns, e.g. answer, difficulty, budget
    gathered_difficulty: list  # difficulty of every process's rows (None where absent)
    gathered_tokens: list[int]
    gathered_correct: list[bool | None]
    gathered_budget: list  # thinking budget of every process's rows (None where a row has none)

    def __len__(self) -> int:
        return len(self.texts)

    def group(self, row: int) -> GroupStats:
        """Return the statistics of the group of local row `row`."""
        return self.groups[self.group_keys[row]]


def check_answers(
    parsed: list[ParsedCompletion], answers: list | None, texts: list[str]
) -> list[bool | None]:
    """Return `is_correct` of each row's answer against its gold (all None without gold answers)."""
    if answers is None:
        return [None] * len(parsed)
    out = []
    for i, (p, gold) in enumerate(zip(parsed, answers, strict=True)):
        try:
            out.append(is_correct(p.answer, None if gold is None else str(gold)))
        except Exception as err:
            raise RewardRowError("correctness", i, texts[i], err) from err
    return out


def _prompt_keys(prompts: list) -> list[str]:
    key_by_text: dict[str, str] = {}  # a group's G rows share one prompt text: hash it once
    keys = []
    for prompt in prompts:
        if not isinstance(prompt, str):
            keys.append(prompt_hash(prompt))
            continue
        key = key_by_text.get(prompt)
        if key is None:
            key = key_by_text[prompt] = prompt_hash(prompt)
        keys.append(key)
    return keys


def _build(tokenizer, prompts: list, completions: list, columns: dict[str, list]) -> Batch:
    if len(prompts) != len(completions):
        raise ValueError(f"got {len(prompts)} prompts but {len(completions)} completions")
    texts = [completion_text(c) for c in completions]
    parsed = [parse_completion(t) for t in texts]
    tokens = reasoning_token_counts(tokenizer, texts) if texts else []
    correct = check_answers(parsed, columns.get("answer"), texts)
    keys = _prompt_keys(prompts)
    difficulty = columns.get("difficulty") or [None] * len(texts)
    budget = columns.get("budget") or [None] * len(texts)
    rows = gather_rows(list(zip(keys, tokens, correct, difficulty, budget, strict=True)))
    all_keys, all_tokens, all_correct, all_difficulty, all_budget = (
        (list(col) for col in zip(*rows, strict=True)) if rows else ([], [], [], [], [])
    )
    return Batch(
        texts=texts,
        parsed=parsed,
        reasoning_tokens=tokens,
        correct=correct,
        group_keys=keys,
        groups=group_stats(all_keys, all_tokens, all_correct),
        columns=columns,
        gathered_difficulty=all_difficulty,
        gathered_tokens=all_tokens,
        gathered_correct=all_correct,
        gathered_budget=all_budget,
    )


_last: tuple | None = None  # (prompts, completions, tokenizer, batch) of the latest call


def build_batch(tokenizer, prompts: list, completions: list, columns: dict[str, list]) -> Batch:
    """Return the `Batch` of one reward call, reusing the previous one for the same list objects."""
    global _last
    if _last is not None and _last[0] is prompts and _last[1] is completions and _last[2] is tokenizer:
        return _last[3]
    batch = _build(tokenizer, prompts, completions, columns)
    _last = (prompts, completions, tokenizer, batch)
    return batch

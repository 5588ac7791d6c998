"""Budget forcing (s1, Muennighoff et al. 2025): accuracy at a cap of B reasoning tokens.

For a budget B the model reasons freely; if its think block is still open after B reasoning tokens,
`</think>` is appended and the answer decoded with at most `max_answer_tokens`. B = 0 is the forced
direct answer (`<think></think>` right after the prompt).

Speed: decoding is causal, so the first B reasoning tokens of a budget-B run are exactly the first B
tokens of an uncapped run (greedy: identical; sampled: identically distributed). The eval therefore
decodes each prompt once up to `max_reasoning_tokens`, reuses that completion at every budget the
model stayed within, and for the rest decodes only the short answer after `prefix[:B] + </think>` —
all budgets of all rows in one batched pass. ('unlimited' is the cap `max_reasoning_tokens`, forced
like any budget.)

Extend mode (`extend_waits = k`): when the model closes its think block with room left under B, the
close is replaced by `extend_text` ("Wait") and reasoning continues, up to k times; those
continuations are batched over rows and budgets, one round per extension.

Reasoning tokens are counted on token ids of the policy's tokenizer (the ids that the cap truncates),
so no budget-B completion has more than B.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from thinkdial.data.completion import THINK_CLOSE, THINK_OPEN, parse_completion
from thinkdial.errors import UsageError
from thinkdial.eval.config import EvalConfig


@dataclass(frozen=True)
class Completion:
    """One completion under one budget."""

    text: str  # the completion after the prompt, special tokens dropped
    answer: str | None  # text after `</think>`; None when the think block never closed
    reasoning_tokens: int  # tokens strictly inside the think block
    forced: bool  # True when budget forcing closed the think block
    waits: int = 0  # extend-mode insertions of `extend_text`

    def to_dict(self) -> dict:
        """Return the completion as a JSON-ready dict."""
        return asdict(self)


@dataclass
class FreeTrace:
    """One uncapped completion, split for budget forcing."""

    prompt_ids: list[int]
    head: str  # completion text up to where reasoning starts (the `<think>` tag, or nothing)
    reasoning_ids: list[int]
    closed: bool
    free: Completion


def encode_prompts(tokenizer, prompts: list) -> list[list[int]]:
    """Return the token ids of each prompt: plain text as is, chat messages through the chat template."""
    texts = [
        p
        if isinstance(p, str)
        else tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False)
        for p in prompts
    ]
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"] if text else []


def _decode(tokenizer, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=True)


def free_pass(backend, prompt_ids: list[list[int]], config: EvalConfig) -> list[FreeTrace]:
    """Return one FreeTrace per sequence (prompt-major, `num_samples` per prompt): the completion
    decoded up to `max_reasoning_tokens` of reasoning plus the answer, split at its think tags."""
    tok = backend.tokenizer
    extra = len(_ids(tok, THINK_OPEN)) + len(_ids(tok, THINK_CLOSE))
    gens = backend.generate(
        prompt_ids,
        config.max_reasoning_tokens + config.max_answer_tokens + extra,
        num_samples=config.num_samples,
        desc="free reasoning",
    )
    prompt_texts = [_decode(tok, p) for p in prompt_ids]
    traces = []
    for i, ids in enumerate(gens):
        row = i // config.num_samples
        text = _decode(tok, ids)
        parsed = parse_completion(text)
        opened = text.find(THINK_OPEN)
        if opened >= 0:
            head = text[: opened + len(THINK_OPEN)]
        else:
            head = "" if prompt_texts[row].rstrip().endswith(THINK_OPEN) else THINK_OPEN
        reasoning_ids = _ids(tok, parsed.reasoning)
        free = Completion(text, parsed.answer, len(reasoning_ids), forced=False)
        traces.append(FreeTrace(prompt_ids[row], head, reasoning_ids, parsed.closed, free))
    return traces


def _extend(backend, jobs: list[dict], config: EvalConfig) -> None:
    """Grow each job's reasoning in place: replace natural closes by `extend_text` while room and waits remain."""
    tok = backend.tokenizer
    close = _ids(tok, THINK_CLOSE)
    if len(close) != 1:
        raise UsageError(
            f"extend mode needs {THINK_CLOSE!r} to be a single token; this tokenizer gives {close}"
        )
    wait = _ids(tok, config.extend_text)
    active = [j for j in jobs if j["natural"] and len(j["reasoning"]) + len(wait) <= j["budget"]]
    while active:
        for j in active:
            j["reasoning"] = j["reasoning"] + wait
            j["waits"] += 1
        prompts = [j["prompt"] + _ids(tok, j["head"]) + j["reasoning"] for j in active]
        room = max(j["budget"] - len(j["reasoning"]) for j in active) + 1
        gens = backend.generate(prompts, room, stop_token_ids=close, desc="extend")
        still = []
        for j, ids in zip(active, gens, strict=True):
            budget_left = j["budget"] - len(j["reasoning"])
            closed_at = ids.index(close[0]) if close[0] in ids else -1
            if 0 <= closed_at <= budget_left:
                j["reasoning"] = j["reasoning"] + ids[:closed_at]
                if j["waits"] < config.extend_waits and len(j["reasoning"]) + len(wait) <= j["budget"]:
                    still.append(j)
            else:
                body = [t for t in ids if t != tok.eos_token_id and t not in close]
                j["reasoning"] = (j["reasoning"] + body)[: j["budget"]]
                j["natural"] = False
        active = still


def _answer_pass(backend, jobs: list[dict], config: EvalConfig) -> list[Completion]:
    """Return the completion of each job: its reasoning, `</think>`, and an answer of <= max_answer_tokens."""
    tok = backend.tokenizer
    close = _ids(tok, THINK_CLOSE)
    prefixes = [j["prompt"] + _ids(tok, j["head"]) + j["reasoning"] + close for j in jobs]
    unique = list(dict.fromkeys(tuple(p) for p in prefixes))
    gens = (
        backend.generate([list(p) for p in unique], config.max_answer_tokens, desc="answers")
        if unique
        else []
    )
    answer_of = dict(zip(unique, gens, strict=True))
    out = []
    for j, prefix in zip(jobs, prefixes, strict=True):
        text = j["head"] + _decode(tok, j["reasoning"]) + THINK_CLOSE + _decode(tok, answer_of[tuple(prefix)])
        out.append(
            Completion(
                text,
                parse_completion(text).answer,
                len(j["reasoning"]),
                forced=not j["natural"],
                waits=j["waits"],
            )
        )
    return out


def budget_completions(
    backend, prompts: list, config: EvalConfig, budgets: list[int] | None = None
) -> list[dict[int, Completion]]:
    """Return, per sequence (prompt-major, `num_samples` per prompt), a map budget_tokens -> Completion.

    Budgets are `budgets` (default `config.budget_tokens`, whose largest is the free-reasoning cap
    `max_reasoning_tokens`); `[config.max_reasoning_tokens]` alone is free reasoning under the cap.
    """
    traces = free_pass(backend, encode_prompts(backend.tokenizer, prompts), config)
    results: list[dict[int, Completion]] = [{} for _ in traces]
    jobs = []
    for i, t in enumerate(traces):
        for b in config.budget_tokens if budgets is None else budgets:
            within = t.closed and len(t.reasoning_ids) <= b
            extendable = within and config.extend_waits > 0 and b > 0
            if within and not extendable:
                results[i][b] = t.free
                continue
            jobs.append(
                {
                    "seq": i,
                    "budget": b,
                    "prompt": t.prompt_ids,
                    "head": t.head,
                    "waits": 0,
                    "reasoning": t.reasoning_ids[:b],
                    "natural": within,
                }
            )
    if config.extend_waits > 0:
        _extend(backend, jobs, config)
    for j, completion in zip(jobs, _answer_pass(backend, jobs, config), strict=True):
        results[j["seq"]][j["budget"]] = completion
    return results
